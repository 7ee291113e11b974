# FindAPR: finds the Apache Portable Runtime 1.x (apr-1) and defines the imported target
# APR::APR. Installed beside procpoolConfig.cmake, which finds APR through it.
#
# Order:
#   1. an `apr` CONFIG package (vcpkg: apr::libapr-1 in shared, apr::apr-1 in static builds),
#      or older vcpkg's `unofficial-apr` (unofficial::apr::libapr-1 / unofficial::apr::apr-1);
#   2. pkg-config `apr-1` (Debian's libapr1-dev, most Linux and BSD packages);
#   3. find_path(apr.h) + find_library(apr-1): cross builds and plain installs (set APR_ROOT,
#      or CMAKE_PREFIX_PATH, to the prefix).
# Sets APR_FOUND, APR_VERSION (when known), APR_INCLUDE_DIRS and APR_LIBRARIES.
include(FindPackageHandleStandardArgs)
if(TARGET APR::APR)
  set(APR_FOUND TRUE)
  return()
endif()

# 1. CONFIG package (vcpkg): `apr` (APR >= 1.7.3's own export, vcpkg since 2023), else the
#    `unofficial-apr` package of older vcpkg ports (APR 1.7.2: unofficial::apr::libapr-1).
find_package(apr CONFIG QUIET)
set(_apr_pkg apr)
if(NOT apr_FOUND)
  find_package(unofficial-apr CONFIG QUIET)
  set(_apr_pkg unofficial-apr)
endif()
if(${_apr_pkg}_FOUND)
  foreach(t apr::libapr-1 apr::apr-1 unofficial::apr::libapr-1 unofficial::apr::apr-1)
    if(TARGET ${t})
      add_library(APR::APR INTERFACE IMPORTED)
      target_link_libraries(APR::APR INTERFACE ${t})
      set(APR_VERSION "${${_apr_pkg}_VERSION}")
      set(APR_LIBRARIES ${t})
      find_package_handle_standard_args(APR REQUIRED_VARS ${_apr_pkg}_DIR APR_LIBRARIES
        VERSION_VAR APR_VERSION)
      unset(_apr_pkg)
      return()
    endif()
  endforeach()
endif()
unset(_apr_pkg)

# 2. pkg-config. Not when cross-compiling (the host's .pc files describe the host's APR),
#    unless PKG_CONFIG_SYSROOT_DIR says that pkg-config looks at the target's (the aarch64
#    toolchain file sets it): Debian's apr-1.pc carries -D_GNU_SOURCE, which apr.h needs.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND AND (NOT CMAKE_CROSSCOMPILING OR DEFINED ENV{PKG_CONFIG_SYSROOT_DIR}))
  pkg_check_modules(PC_APR QUIET IMPORTED_TARGET apr-1)
  if(PC_APR_FOUND)
    add_library(APR::APR INTERFACE IMPORTED)
    target_link_libraries(APR::APR INTERFACE PkgConfig::PC_APR)
    set(APR_VERSION "${PC_APR_VERSION}")
    set(APR_INCLUDE_DIRS ${PC_APR_INCLUDE_DIRS})
    set(APR_LIBRARIES ${PC_APR_LINK_LIBRARIES})
    find_package_handle_standard_args(APR REQUIRED_VARS APR_LIBRARIES
      VERSION_VAR APR_VERSION)
    return()
  endif()
endif()

# 3. Plain search.
find_path(APR_INCLUDE_DIR apr.h PATH_SUFFIXES apr-1 apr-1.0 include/apr-1)
find_library(APR_LIBRARY NAMES apr-1 libapr-1 apr)
if(APR_INCLUDE_DIR AND EXISTS "${APR_INCLUDE_DIR}/apr_version.h")
  file(STRINGS "${APR_INCLUDE_DIR}/apr_version.h" _apr_ver REGEX
    "^#define[ \t]+APR_(MAJOR|MINOR|PATCH)_VERSION[ \t]+[0-9]+")
  set(APR_VERSION "")
  foreach(part MAJOR MINOR PATCH)
    if(_apr_ver MATCHES "APR_${part}_VERSION[ \t]+([0-9]+)")
      string(APPEND APR_VERSION "${CMAKE_MATCH_1}.")
    endif()
  endforeach()
  string(REGEX REPLACE "\\.$" "" APR_VERSION "${APR_VERSION}")
  unset(_apr_ver)
endif()
find_package_handle_standard_args(APR REQUIRED_VARS APR_LIBRARY APR_INCLUDE_DIR
  VERSION_VAR APR_VERSION)
if(APR_FOUND)
  add_library(APR::APR UNKNOWN IMPORTED)
  set_target_properties(APR::APR PROPERTIES IMPORTED_LOCATION "${APR_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${APR_INCLUDE_DIR}")
  if(WIN32)
    # A static APR (apr-1.lib, libapr-1.a; the DLL's import library is libapr-1.lib or
    # libapr-1.dll.a) must be declared so to its users, who also need its system libraries.
    if(APR_LIBRARY MATCHES "(^|[/\\\\])(lib)?apr-1\\.a$" OR APR_LIBRARY MATCHES "(^|[/\\\\])apr-1\\.lib$")
      set_property(TARGET APR::APR APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS APR_DECLARE_STATIC)
    endif()
    set_property(TARGET APR::APR APPEND PROPERTY INTERFACE_LINK_LIBRARIES
      ws2_32 rpcrt4 advapi32 shell32 mswsock)
  endif()
  set(APR_INCLUDE_DIRS ${APR_INCLUDE_DIR})
  set(APR_LIBRARIES ${APR_LIBRARY})
endif()
mark_as_advanced(APR_INCLUDE_DIR APR_LIBRARY)
