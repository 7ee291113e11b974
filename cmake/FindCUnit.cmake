# FindCUnit: finds CUnit 2.x and defines the imported target CUnit::CUnit.
#
# Order: pkg-config `cunit` (Debian's libcunit1-dev), then find_path(CUnit/CUnit.h) +
# find_library(cunit) (vcpkg, cross builds: set CUnit_ROOT or CMAKE_PREFIX_PATH).
# Sets CUnit_FOUND, CUnit_VERSION (when known), CUnit_INCLUDE_DIRS and CUnit_LIBRARIES.
include(FindPackageHandleStandardArgs)
if(TARGET CUnit::CUnit)
  set(CUnit_FOUND TRUE)
  return()
endif()

# pkg-config. Not when cross-compiling: the host's .pc files describe the host's CUnit.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND AND NOT CMAKE_CROSSCOMPILING)
  pkg_check_modules(PC_CUNIT QUIET IMPORTED_TARGET cunit)
  if(PC_CUNIT_FOUND)
    add_library(CUnit::CUnit INTERFACE IMPORTED)
    target_link_libraries(CUnit::CUnit INTERFACE PkgConfig::PC_CUNIT)
    set(CUnit_VERSION "${PC_CUNIT_VERSION}")
    set(CUnit_INCLUDE_DIRS ${PC_CUNIT_INCLUDE_DIRS})
    set(CUnit_LIBRARIES ${PC_CUNIT_LINK_LIBRARIES})
    find_package_handle_standard_args(CUnit REQUIRED_VARS CUnit_LIBRARIES
      VERSION_VAR CUnit_VERSION)
    return()
  endif()
endif()

# vcpkg installs include/cunit/*.h and libcunit.lib (+ libcunit.dll): <CUnit/CUnit.h> finds
# them on Windows' case-insensitive file systems.
find_path(CUNIT_INCLUDE_DIR CUnit/CUnit.h)
find_library(CUNIT_LIBRARY NAMES cunit libcunit)
find_package_handle_standard_args(CUnit REQUIRED_VARS CUNIT_LIBRARY CUNIT_INCLUDE_DIR)
if(CUnit_FOUND)
  add_library(CUnit::CUnit UNKNOWN IMPORTED)
  set_target_properties(CUnit::CUnit PROPERTIES IMPORTED_LOCATION "${CUNIT_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUNIT_INCLUDE_DIR}")
  set(CUnit_INCLUDE_DIRS ${CUNIT_INCLUDE_DIR})
  set(CUnit_LIBRARIES ${CUNIT_LIBRARY})
endif()
mark_as_advanced(CUNIT_INCLUDE_DIR CUNIT_LIBRARY)
