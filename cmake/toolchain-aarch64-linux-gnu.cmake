# CMake toolchain file: cross-compile for 64-bit ARM Linux (aarch64-linux-gnu) with Debian's
# cross compiler (crossbuild-essential-arm64), and run the target programs (ctest) under
# qemu-user.
#
#   scripts/arm64-test.sh                   # all of it: packages, libraries, build, ctest
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
#
# PP_ARM64_DEPS (cache variable, else the environment variable, else /opt/procpool-arm64-deps)
# holds sysroot/: Debian's arm64 packages of APR and CUnit (and APR's libuuid), unpacked
# there by scripts/arm64-test.sh. They are not installed with apt (libapr1-dev is not
# Multi-Arch: same, so libapr1-dev:arm64 would replace the host's libapr1-dev).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(PP_CROSS_TRIPLET aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${PP_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PP_CROSS_TRIPLET}-g++)

if(NOT PP_ARM64_DEPS)
  if(DEFINED ENV{PP_ARM64_DEPS} AND NOT "$ENV{PP_ARM64_DEPS}" STREQUAL "")
    set(PP_ARM64_DEPS "$ENV{PP_ARM64_DEPS}")
  else()
    set(PP_ARM64_DEPS /opt/procpool-arm64-deps)
  endif()
endif()
set(PP_ARM64_DEPS "${PP_ARM64_DEPS}" CACHE PATH "Prefix with sysroot/: arm64 APR and CUnit")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES PP_ARM64_DEPS)
set(PP_ARM64_LIBDIR ${PP_ARM64_DEPS}/sysroot/usr/lib/${PP_CROSS_TRIPLET})

# Headers and libraries from the cross libc (/usr/aarch64-linux-gnu) and the unpacked
# packages; programs from the host. FindAPR does not use pkg-config when cross-compiling.
set(CMAKE_FIND_ROOT_PATH /usr/${PP_CROSS_TRIPLET} ${PP_ARM64_DEPS}/sysroot)
set(CMAKE_LIBRARY_ARCHITECTURE ${PP_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_LIBDIR} ${PP_ARM64_LIBDIR}/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${PP_ARM64_DEPS}/sysroot)
# libapr-1.so needs libuuid.so.1: the linker looks for it there.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${PP_ARM64_LIBDIR}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${PP_ARM64_LIBDIR}")

# Target programs run under qemu-user: its -L gives the arm64 loader and libc, and -E sets
# the guest's (not qemu's own) library path to the unpacked packages. Without binfmt_misc
# an arm64 program cannot exec another: the spawn and forkserver start methods fail there
# (TESTING.md, "arm64").
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${PP_CROSS_TRIPLET}
    -E LD_LIBRARY_PATH=${PP_ARM64_LIBDIR})
endif()
