#!/bin/sh
# Installs procpool into a temporary prefix and builds a small program against the installed
# copy, the ways outside code finds it: the CMake package (procpool::procpool and
# procpool::procpool_static), the same with APR found without pkg-config (FindAPR's
# find_library fallback), and pkg-config (shared, and --static with libprocpool.a). Each
# program runs a real task in a real worker process and checks its result.
# usage: run.sh SOURCE_DIR BUILD_DIR [CMAKE_GENERATOR [C_COMPILER]]
set -eu
src=$1
build=$2
generator=${3:-}
cc=${4:-${CC:-cc}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() {
    echo "install: FAILED: $*" >&2
    exit 1
}

echo "== cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log"
    fail "cmake --install"
}
test -f "$prefix/include/procpool.h" || fail "no include/procpool.h"
libdir=
for d in "$prefix"/lib* "$prefix"/lib*/*; do # lib, lib64, lib/<multiarch triplet> (Debian)
    if [ -f "$d/pkgconfig/procpool.pc" ]; then
        libdir=$d
    fi
done
[ -n "$libdir" ] || fail "no <libdir>/pkgconfig/procpool.pc"
for f in libprocpool.a libprocpool.so pkgconfig/procpool.pc cmake/procpool/procpoolConfig.cmake \
    cmake/procpool/procpoolConfigVersion.cmake cmake/procpool/procpoolTargets.cmake \
    cmake/procpool/FindAPR.cmake; do
    test -e "$libdir/$f" || fail "not installed: $libdir/$f"
done

# The SONAME follows the version (procpool.h, "Version"): libprocpool.so.MAJOR, or before 1.0
# libprocpool.so.0.MINOR; the .pc file and the CMake package carry the same version.
hv() { sed -n "s/^#define PP_VERSION_$1 *\([0-9]*\).*/\1/p" "$prefix/include/procpool.h"; }
version=$(hv MAJOR).$(hv MINOR).$(hv PATCH)
if [ "$(hv MAJOR)" = 0 ]; then soname=libprocpool.so.0.$(hv MINOR); else soname=libprocpool.so.$(hv MAJOR); fi
readelf -d "$libdir/libprocpool.so" | grep -q "SONAME.*\[$soname\]" ||
    fail "SONAME of libprocpool.so is not $soname: $(readelf -d "$libdir/libprocpool.so" | grep SONAME)"
test -e "$libdir/$soname" || fail "no $libdir/$soname"
grep -qx "Version: $version" "$libdir/pkgconfig/procpool.pc" || fail "procpool.pc is not version $version"
echo "== version $version, SONAME $soname"

# Which libraries a program loads: the shared consumers must load libprocpool.so.N, the
# static ones must not.
needs_procpool() {
    readelf -d "$1" | grep -q 'NEEDED.*libprocpool\.so'
}

cmake_consumer() { # name, extra configure arguments...
    name=$1
    shift
    echo "== CMake package ($name)"
    set -- -S "$src/tests/install" -B "$work/$name" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" "$@"
    if [ -n "$generator" ]; then
        set -- -G "$generator" "$@"
    fi
    cmake "$@" >"$work/$name.log" 2>&1 || {
        cat "$work/$name.log"
        fail "configuring the consumer ($name)"
    }
    cmake --build "$work/$name" >>"$work/$name.log" 2>&1 || {
        cat "$work/$name.log"
        fail "building the consumer ($name)"
    }
    needs_procpool "$work/$name/consumer" || fail "$name/consumer does not load libprocpool.so"
    needs_procpool "$work/$name/consumer_static" && fail "$name/consumer_static loads libprocpool.so"
    # The shared one runs through the build-tree rpath CMake gives it; no LD_LIBRARY_PATH.
    env -u LD_LIBRARY_PATH "$work/$name/consumer" || fail "$name/consumer"
    env -u LD_LIBRARY_PATH "$work/$name/consumer_static" || fail "$name/consumer_static"
}
cmake_consumer cm
cmake_consumer cm_nopkgconfig -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON

echo "== pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
unset PKG_CONFIG_LIBDIR 2>/dev/null || true
pkg-config --validate procpool || fail "pkg-config --validate procpool"
pkg-config --exists --print-errors procpool || fail "pkg-config cannot use procpool.pc"
cflags=$(pkg-config --cflags procpool)
libs=$(pkg-config --libs procpool)
libs_static=$(pkg-config --static --libs procpool)
warn="-std=c11 -Wall -Wextra -Wpedantic -Werror"

# Shared: cc $(pkg-config --cflags --libs procpool).
# shellcheck disable=SC2086
"$cc" $warn -o "$work/pc_shared" "$src/tests/install/consumer.c" $cflags $libs ||
    fail "cc with pkg-config --cflags --libs"
needs_procpool "$work/pc_shared" || fail "pc_shared does not load libprocpool.so"
LD_LIBRARY_PATH=$libdir "$work/pc_shared" || fail "pc_shared"

# Static: libprocpool.a in place of -lprocpool, then everything --static lists (APR, -pthread).
static_libs=
for l in $libs_static; do
    case "$l" in
    -lprocpool) static_libs="$static_libs $libdir/libprocpool.a" ;;
    *) static_libs="$static_libs $l" ;;
    esac
done
# shellcheck disable=SC2086
"$cc" $warn -o "$work/pc_static" "$src/tests/install/consumer.c" $cflags $static_libs ||
    fail "cc with pkg-config --static --libs and libprocpool.a"
needs_procpool "$work/pc_static" && fail "pc_static loads libprocpool.so"
env -u LD_LIBRARY_PATH "$work/pc_static" || fail "pc_static"

# --cflags is procpool's include directory only: procpool.h includes no APR header, so
# APR's flags (Debian: -DLINUX -D_REENTRANT -D_GNU_SOURCE -I/usr/include/apr-1.0) must not
# reach the user's compile; --static --libs still has APR for a static link.
case " $cflags " in
*apr-1* | *" -DLINUX "* | *" -D_GNU_SOURCE "* | *" -D_REENTRANT "*)
    fail "pkg-config --cflags procpool leaks APR's flags: $cflags" ;;
esac
# shellcheck disable=SC2086
[ "$(echo $cflags)" = "-I$(pkg-config --variable=includedir procpool)" ] ||
    fail "pkg-config --cflags procpool is not just its include directory: $cflags"
case " $libs_static " in
*" -lapr-1 "*) ;;
*) fail "pkg-config --static --libs procpool has no -lapr-1: $libs_static" ;;
esac
case " $libs " in
*apr*) fail "pkg-config --libs procpool (shared) lists APR: $libs" ;;
esac

# The README's commands ("Using it from another project"), exactly as written there, with
# /some/prefix replaced by this prefix: each program is built in a directory of its own,
# as a.out from app.c, and must run with no LD_LIBRARY_PATH (the prefix is not one the
# dynamic loader searches). Each is built a second time with -Wl,--no-as-needed, as a
# compiler without Debian's default --as-needed links (Fedora's, upstream GCC's).
echo "== the README's pkg-config commands, as written"
readme_cmds=$(awk '/^## Using it from another project/ { s = 1 }
    s && /^```sh$/ { b = 1; next }
    b && /^```$/ { exit }
    b' "$src/README.md" |
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    sed -e "s|/some/prefix/lib|$libdir|g" -e "s|/some/prefix|$prefix|g")
echo "$readme_cmds" | grep -q '^cc ' || fail "no cc command in the README's sh block"
n_readme=0
while IFS= read -r line; do
    case "$line" in
    export\ *) eval "$line" ;;
    cc\ *)
        n_readme=$((n_readme + 1))
        d=$work/readme/$n_readme
        mkdir -p "$d"
        cp "$src/tests/install/consumer.c" "$d/app.c"
        echo "   $line"
        (cd "$d" && eval "\"\$cc\" ${line#cc }") || fail "the README's command: $line"
        (cd "$d" && env -u LD_LIBRARY_PATH ./a.out) || fail "a.out of the README's command: $line"
        mkdir -p "$d-no-as-needed"
        cp "$d/app.c" "$d-no-as-needed/"
        (cd "$d-no-as-needed" && eval "\"\$cc\" -Wl,--no-as-needed ${line#cc }") ||
            fail "the README's command with -Wl,--no-as-needed: $line"
        (cd "$d-no-as-needed" && env -u LD_LIBRARY_PATH ./a.out) ||
            fail "a.out of the README's command with -Wl,--no-as-needed: $line"
        ;;
    "") ;;
    *) fail "unexpected line in the README's sh block: $line" ;;
    esac
done <<EOF
$readme_cmds
EOF
[ "$n_readme" = 2 ] || fail "$n_readme cc commands in the README's sh block, expected 2"
needs_procpool "$work/readme/1/a.out" || fail "the README's shared program does not load libprocpool.so"
needs_procpool "$work/readme/2/a.out" && fail "the README's static program loads libprocpool.so"
needs_procpool "$work/readme/2-no-as-needed/a.out" &&
    fail "the README's static program, linked with --no-as-needed, loads libprocpool.so"
export PKG_CONFIG_PATH="$libdir/pkgconfig"

echo "install: 10 consumers built against the installed copy and ran"

# The MPI add-on, when this build has it: the example across ranks, built with
# pkg-config procpool-mpi and with the CMake component mpi, run on 2 ranks.
if [ -f "$libdir/pkgconfig/procpool-mpi.pc" ] && command -v mpiexec >/dev/null; then
    for f in libprocpool_mpi.so cmake/procpool/procpoolMpiTargets.cmake; do
        test -e "$libdir/$f" || fail "not installed: $libdir/$f"
    done
    test -f "$prefix/include/procpool_mpi.h" || fail "no include/procpool_mpi.h"
    # It carries the core's ABI as well: the same ABI version in its SONAME.
    mpi_soname=libprocpool_mpi${soname#libprocpool} # libprocpool_mpi.so.0.2
    readelf -d "$libdir/libprocpool_mpi.so" | grep -q "SONAME.*\[$mpi_soname\]" ||
        fail "SONAME of libprocpool_mpi.so is not $mpi_soname: $(readelf -d "$libdir/libprocpool_mpi.so" | grep SONAME)"
    test -e "$libdir/$mpi_soname" || fail "no $libdir/$mpi_soname"
    pkg-config --validate procpool-mpi || fail "pkg-config --validate procpool-mpi"
    # shellcheck disable=SC2046
    "$cc" $warn -o "$work/pc_mpi" "$src/examples/primes_mpi.c" \
        $(pkg-config --cflags --libs procpool-mpi) -lm ||
        fail "cc with pkg-config --cflags --libs procpool-mpi"
    set -- -S "$src/tests/install" -B "$work/cm_mpi" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DPP_CONSUMER_MPI=ON
    if [ -n "$generator" ]; then
        set -- -G "$generator" "$@"
    fi
    { cmake "$@" && cmake --build "$work/cm_mpi"; } >"$work/cm_mpi.log" 2>&1 || {
        cat "$work/cm_mpi.log"
        fail "the CMake consumer with COMPONENTS mpi"
    }
    for exe in "$work/pc_mpi" "$work/cm_mpi/consumer_mpi"; do
        out=$(LD_LIBRARY_PATH=$libdir OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            OMPI_MCA_btl_tcp_if_include=lo timeout 120 mpiexec --oversubscribe -n 2 "$exe" 2>&1)
        echo "$out" | grep -q "^1099726899285419 is prime: False$" || {
            echo "$out"
            fail "$exe under mpiexec"
        }
    done
    echo "install: the MPI add-on: 2 consumers built and ran under mpiexec"
fi
