# FindAPR: finds the Apache Portable Runtime (apr-1) and defines the imported target APR::APR.
#
# Order: an `apr` CONFIG package (vcpkg), then pkg-config `apr-1` (Debian), then a plain
# find_path / find_library search (cross builds: set APR_ROOT or CMAKE_PREFIX_PATH).
# Sets APR_FOUND, APR_INCLUDE_DIRS, APR_LIBRARIES.
if(TARGET APR::APR)
  set(APR_FOUND TRUE)
  return()
endif()

find_package(apr CONFIG QUIET)
if(apr_FOUND)
  foreach(t apr::apr-1 apr::libapr-1)
    if(TARGET ${t})
      add_library(APR::APR INTERFACE IMPORTED)
      target_link_libraries(APR::APR INTERFACE ${t})
      set(APR_FOUND TRUE)
      return()
    endif()
  endforeach()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND AND NOT CMAKE_CROSSCOMPILING)
  pkg_check_modules(PC_APR QUIET IMPORTED_TARGET apr-1)
  if(PC_APR_FOUND)
    add_library(APR::APR INTERFACE IMPORTED)
    target_link_libraries(APR::APR INTERFACE PkgConfig::PC_APR)
    set(APR_INCLUDE_DIRS ${PC_APR_INCLUDE_DIRS})
    set(APR_LIBRARIES ${PC_APR_LINK_LIBRARIES})
    set(APR_FOUND TRUE)
    return()
  endif()
endif()

find_path(APR_INCLUDE_DIR apr.h PATH_SUFFIXES apr-1 apr-1.0 include/apr-1)
find_library(APR_LIBRARY NAMES apr-1 libapr-1 apr)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(APR REQUIRED_VARS APR_LIBRARY APR_INCLUDE_DIR)
if(APR_FOUND)
  add_library(APR::APR UNKNOWN IMPORTED)
  set_target_properties(APR::APR PROPERTIES IMPORTED_LOCATION "${APR_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${APR_INCLUDE_DIR}")
  if(WIN32)
    # A static APR on Windows: its users declare it so, and need its system libraries.
    if(APR_LIBRARY MATCHES "\\.a$" OR APR_LIBRARY MATCHES "apr-1\\.lib$")
      set_property(TARGET APR::APR APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS APR_DECLARE_STATIC)
    endif()
    set_property(TARGET APR::APR APPEND PROPERTY INTERFACE_LINK_LIBRARIES ws2_32 rpcrt4 advapi32 shell32 mswsock)
  endif()
  set(APR_INCLUDE_DIRS ${APR_INCLUDE_DIR})
  set(APR_LIBRARIES ${APR_LIBRARY})
endif()
mark_as_advanced(APR_INCLUDE_DIR APR_LIBRARY)
