#!/bin/sh
# Installs procpool into a temporary prefix and builds a small program against the installed
# copy, the ways outside code finds it: the CMake package (shared and static targets) and
# pkg-config (shared and --static). Each program runs a real task in a real worker.
# usage: run.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/procpool.h"
libdir=$(ls -d "$prefix"/lib* | head -n 1)
test -f "$libdir/libprocpool.a"
test -f "$libdir/pkgconfig/procpool.pc"
test -f "$libdir/cmake/procpool/procpoolConfig.cmake"

echo "== CMake package"
cmake -S "$src/tests/install" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cm/consumer"
"$work/cm/consumer_static"

echo "== pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -std=c11 -o "$work/pc_shared" "$src/tests/install/consumer.c" $(pkg-config --cflags --libs procpool)
LD_LIBRARY_PATH=$libdir "$work/pc_shared"
# shellcheck disable=SC2046
$cc -std=c11 -o "$work/pc_static" "$src/tests/install/consumer.c" $(pkg-config --cflags procpool) \
    "$libdir/libprocpool.a" $(pkg-config --static --libs-only-other --libs-only-l procpool | sed 's/-lprocpool//')
"$work/pc_static"
echo "install: all four consumers ran"
