# CMake toolchain file for scripts/check.sh msvc-lint: the mingw-w64 cross build of
# toolchain-mingw-w64-x86_64.cmake, compiled by clang (--target=x86_64-w64-windows-gnu) and
# linked by mingw-w64's GNU ld. The check adds the strict flags (-std=c11 without GNU
# extensions, -pedantic-errors, -Wvla, -Wshorten-64-to-32, warnings as errors): it is the
# nearest thing to MSVC that runs here (appveyor.yml lists what it catches and what not).
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-mingw-w64-x86_64.cmake)
set(CMAKE_C_COMPILER clang)
set(CMAKE_C_COMPILER_TARGET x86_64-w64-windows-gnu)
# clang's MinGW driver finds the mingw headers itself, but not libgcc: ask mingw-w64's gcc.
execute_process(COMMAND ${PP_MINGW_TRIPLET}-gcc -print-libgcc-file-name
  OUTPUT_VARIABLE PP_MINGW_LIBGCC OUTPUT_STRIP_TRAILING_WHITESPACE)
get_filename_component(PP_MINGW_GCC_DIR "${PP_MINGW_LIBGCC}" DIRECTORY)
set(PP_CLANG_LINK "--ld-path=/usr/bin/${PP_MINGW_TRIPLET}-ld -L${PP_MINGW_GCC_DIR}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${PP_CLANG_LINK} -static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${PP_CLANG_LINK} -static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${PP_CLANG_LINK} -static-libgcc")
# Every target C11 without extensions unless it says otherwise.
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_EXTENSIONS OFF)
