# CMake toolchain file: cross-compile for 64-bit Windows with Debian's mingw-w64, and run the
# target programs (ctest, try_run, build-time generators) under Wine.
#
#   scripts/win-deps.sh                     # once: mingw-w64, Wine, APR + CUnit in PP_WIN_DEPS
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw-w64-x86_64.cmake
#   cmake --build build-win -j2
#   ctest --test-dir build-win              # scripts/win-test.sh does all of this
#
# PP_WIN_DEPS (cache variable, else the environment variable, else /opt/procpool-win-deps)
# is the prefix holding the cross-built APR and CUnit; find_package() looks there.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(PP_MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${PP_MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PP_MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER ${PP_MINGW_TRIPLET}-windres)

if(NOT PP_WIN_DEPS)
  if(DEFINED ENV{PP_WIN_DEPS} AND NOT "$ENV{PP_WIN_DEPS}" STREQUAL "")
    set(PP_WIN_DEPS "$ENV{PP_WIN_DEPS}")
  else()
    set(PP_WIN_DEPS /opt/procpool-win-deps)
  endif()
endif()
set(PP_WIN_DEPS "${PP_WIN_DEPS}" CACHE PATH "Prefix with the cross-built APR and CUnit")
# try_compile projects re-read this file: hand them the same prefix.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES PP_WIN_DEPS)

# libgcc linked statically: otherwise the procpool DLL imports libgcc_s_seh-1.dll, which is
# neither on a Windows machine nor in Wine's search path.
set(CMAKE_EXE_LINKER_FLAGS_INIT -static-libgcc)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -static-libgcc)
set(CMAKE_MODULE_LINKER_FLAGS_INIT -static-libgcc)

# Headers and libraries only from the mingw sysroot and the deps prefix; programs from the host.
# (Without the prefix here, FIND_ROOT_PATH_MODE ONLY would re-root every search under
# /usr/x86_64-w64-mingw32 and find_package(APR) would fail.)
set(CMAKE_FIND_ROOT_PATH /usr/${PP_MINGW_TRIPLET} ${PP_WIN_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Target programs run under Wine: bookworm's wine64 package puts nothing on PATH, the loader is
# /usr/lib/wine/wine64. CMake prepends the emulator to add_test(COMMAND <target>) (not to a
# path or $<TARGET_FILE:>) and to custom commands that name a target. Start
# `wineserver -p` with stdio on /dev/null before running tests (scripts/win-test.sh does).
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)
endif()
