# FindCUnit: finds CUnit and defines the imported target CUnit::CUnit.
# pkg-config `cunit` first (Debian), then find_path / find_library (vcpkg, cross builds).
if(TARGET CUnit::CUnit)
  set(CUnit_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND AND NOT CMAKE_CROSSCOMPILING)
  pkg_check_modules(PC_CUNIT QUIET IMPORTED_TARGET cunit)
  if(PC_CUNIT_FOUND)
    add_library(CUnit::CUnit INTERFACE IMPORTED)
    target_link_libraries(CUnit::CUnit INTERFACE PkgConfig::PC_CUNIT)
    set(CUnit_FOUND TRUE)
    return()
  endif()
endif()

find_path(CUNIT_INCLUDE_DIR CUnit/CUnit.h)
find_library(CUNIT_LIBRARY NAMES cunit libcunit)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUnit REQUIRED_VARS CUNIT_LIBRARY CUNIT_INCLUDE_DIR)
if(CUnit_FOUND)
  add_library(CUnit::CUnit UNKNOWN IMPORTED)
  set_target_properties(CUnit::CUnit PROPERTIES IMPORTED_LOCATION "${CUNIT_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUNIT_INCLUDE_DIR}")
endif()
mark_as_advanced(CUNIT_INCLUDE_DIR CUNIT_LIBRARY)
