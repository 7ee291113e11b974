#!/usr/bin/env bash
# deb-test.sh: builds the Debian packages of debian/ (libprocpool0.2, libprocpool-dev, and the
# MPI add-on's libprocpool-mpi0.2, libprocpool-mpi-dev) with dpkg-buildpackage -us -uc -b in a
# copy of the tree, checks them with lintian (no error allowed), installs the core packages
# with dpkg -i and builds tests/install's consumer against /usr with the CMake package (shared
# and static) and with pkg-config, then installs the MPI packages too and builds the add-on's
# example against /usr with the CMake component mpi and with pkg-config procpool-mpi, runs
# each (the MPI ones under mpiexec, 2 ranks), and removes the four packages again (also on
# failure). Debian 12, as root; installs what it needs with apt-get, the build dependencies
# of debian/control included (apt-get build-dep: Open MPI through mpi-default-dev), and leaves
# those installed.
#
# Environment: PP_DEB_CHECK=1 also runs the test suites inside the package build (ctest
# without the soak and the MPI suites, a few minutes; by default DEB_BUILD_OPTIONS=nocheck,
# as CI runs them elsewhere). PP_JOBS: parallel jobs (2).
# scripts/check.sh deb runs this.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${PP_JOBS:-2}
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)
lap() { echo "[deb-test] $1 ($(( $(date +%s) - T0 )) s)"; }
die() { echo "[deb-test] FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get, dpkg -i)"

# ---- packages the build and the check need ----
# The tools, then debian/control's Build-Depends (dpkg-checkbuilddeps says whether any is
# missing; apt-get build-dep on the tree installs them). mpi-default-bin: mpiexec, to run the
# add-on's consumers (libprocpool-mpi0.2 only recommends it, and dpkg -i installs no
# recommends).
updated=false
apt_update() {
    $updated && return 0
    apt-get update -qq || { sleep 10; apt-get update -qq; }
    updated=true
}
need=()
for p in debhelper dpkg-dev fakeroot lintian cmake pkg-config gcc binutils mpi-default-bin; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi
builddeps=present
if ! missing=$(cd "$ROOT" && dpkg-checkbuilddeps 2>&1); then
    builddeps=$(sed -n 's/.*Unmet build dependencies: //p' <<<"$missing")
    apt_update
    apt-get build-dep -y -qq --no-install-recommends "$ROOT" </dev/null >/dev/null ||
        die "apt-get build-dep $ROOT (missing: $builddeps)"
    (cd "$ROOT" && dpkg-checkbuilddeps) || die "build dependencies still missing"
fi
lap "packages (tools: ${need[*]:-present}; build dependencies: $builddeps)"

pkgs=(libprocpool0.2 libprocpool-dev libprocpool-mpi0.2 libprocpool-mpi-dev)
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        die "$p is already installed: remove it first (dpkg -r $p)"
    fi
done

work=$(mktemp -d /tmp/pp-deb.XXXXXX)
installed=() # in the order of dpkg -i; removed together
remove_installed() {
    [ ${#installed[@]} -gt 0 ] || return 0
    dpkg -r "${installed[@]}" >/dev/null || { echo "[deb-test] dpkg -r ${installed[*]} failed" >&2; return 1; }
    installed=()
}
cleanup() {
    remove_installed || true
    rm -rf "$work"
}
trap cleanup EXIT
# ---- build, in a copy (dpkg-buildpackage writes beside the tree and into it) ----
mkdir "$work/procpool"
tar -C "$ROOT" -c --exclude=./.git --exclude='./build*' --exclude='./obj-*' \
    --exclude=./debian/tmp --exclude='./debian/.debhelper' . | tar -C "$work/procpool" -x
opts="parallel=$JOBS"
[ "${PP_DEB_CHECK:-0}" = 1 ] || opts="$opts nocheck"
( cd "$work/procpool" &&
  DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 ) || {
    # dpkg-gensymbols prints the diff of the symbols file here when it is out of date
    tail -60 "$work/build.log"
    grep -q "dpkg-gensymbols: error" "$work/build.log" &&
        echo "[deb-test] a debian/*.symbols file is out of date (diff above):" \
             "run scripts/deb-symbols.sh --update build/<the library> after a build, and commit it" >&2
    die "dpkg-buildpackage (log above)"
}
ls "$work"/*.deb
lap "dpkg-buildpackage"

# ---- lintian: no error (warnings and infos are printed) ----
changes=$(ls "$work"/procpool_*.changes)
lintian --fail-on error --info "$changes" || die "lintian found errors"
lap "lintian"

# ---- contents ----
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb() { ls "$work/$1"_*.deb; }
deb_lib=$(deb libprocpool0.2)
deb_dev=$(deb libprocpool-dev)
deb_mlib=$(deb libprocpool-mpi0.2)
deb_mdev=$(deb libprocpool-mpi-dev)
has() { # deb, path...: each path is in the package
    local list d=$1
    list=$(dpkg-deb -c "$d")
    shift
    for f in "$@"; do
        grep -q " \./$f\( -> \|$\)" <<<"$list" || die "$(basename "$d") lacks $f"
    done
}
L=usr/lib/$arch
has "$deb_lib" "$L/libprocpool.so.0.2" "$L/libprocpool.so.0.2.0"
has "$deb_dev" usr/include/procpool.h "$L/libprocpool.a" "$L/libprocpool.so" \
    "$L/pkgconfig/procpool.pc" "$L/cmake/procpool/procpoolConfig.cmake" \
    "$L/cmake/procpool/procpoolConfigVersion.cmake" "$L/cmake/procpool/procpoolTargets.cmake" \
    "$L/cmake/procpool/FindAPR.cmake"
has "$deb_mlib" "$L/libprocpool_mpi.so.0.2" "$L/libprocpool_mpi.so.0.2.0"
has "$deb_mdev" usr/include/procpool_mpi.h "$L/libprocpool_mpi.so" "$L/pkgconfig/procpool-mpi.pc" \
    "$L/cmake/procpool/procpoolMpiTargets.cmake"
# Nothing of the add-on in the core packages (they must work without Open MPI).
for d in "$deb_lib" "$deb_dev"; do
    ! dpkg-deb -c "$d" | grep -E '_mpi|-mpi|Mpi' || die "$(basename "$d") has MPI files (above)"
    ! dpkg-deb -f "$d" Depends | grep -i mpi || die "$(basename "$d") depends on MPI"
done
# The package name follows the SONAME (Debian policy 8.1).
mkdir "$work/x"
dpkg-deb -x "$deb_mlib" "$work/x"
soname=$(objdump -p "$work/x/$L/libprocpool_mpi.so.0.2.0" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = libprocpool_mpi.so.0.2 ] || die "libprocpool-mpi0.2 ships SONAME $soname"
lap "contents"

# ---- the core packages alone: build outside code against /usr ----
dpkg -i "$deb_lib" "$deb_dev" >/dev/null || die "dpkg -i"
installed=(libprocpool-dev libprocpool0.2)
lap "dpkg -i libprocpool0.2 libprocpool-dev"
src=$ROOT/tests/install
cmake -S "$src" -B "$work/cm" >"$work/cm.log" 2>&1 && cmake --build "$work/cm" >>"$work/cm.log" 2>&1 ||
    { cat "$work/cm.log"; die "CMake consumer against /usr"; }
grep -q "procpool_DIR:PATH=/usr/lib/$arch/cmake/procpool" "$work/cm/CMakeCache.txt" ||
    die "the consumer did not find the packaged CMake package: $(grep procpool_DIR "$work/cm/CMakeCache.txt")"
no_rpath() { # executable, library it must load from /usr
    local dyn
    dyn=$(readelf -d "$1")
    grep -q "NEEDED.*\[$2\]" <<<"$dyn" || die "$(basename "$1") does not load $2"
    ! grep -q 'RUNPATH\|RPATH' <<<"$dyn" || die "$(basename "$1") has an rpath: it must load /usr's copy"
}
no_rpath "$work/cm/consumer" libprocpool.so.0.2
"$work/cm/consumer" || die "CMake consumer (shared)"
"$work/cm/consumer_static" || die "CMake consumer (static)"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$work/pc" "$src/consumer.c" \
    $(pkg-config --cflags --libs procpool) || die "cc \$(pkg-config --cflags --libs procpool)"
"$work/pc" || die "pkg-config consumer"
# What a package built against it would depend on (the symbols file at work).
deps=$(cd "$work/procpool" && dpkg-shlibdeps -O "$work/pc" 2>/dev/null) || true
grep -o 'libprocpool0.2[^,]*' <<<"$deps" || die "dpkg-shlibdeps found no libprocpool0.2 dependency: $deps"
lap "consumers built against /usr (CMake shared + static, pkg-config) and ran"

# ---- the MPI add-on: its example (examples/primes_mpi.c) against /usr, run on 2 ranks ----
dpkg -i "$deb_mlib" "$deb_mdev" >/dev/null || die "dpkg -i (MPI add-on)"
installed=(libprocpool-mpi-dev libprocpool-mpi0.2 "${installed[@]}")
lap "dpkg -i libprocpool-mpi0.2 libprocpool-mpi-dev"
cmake -S "$src" -B "$work/cm_mpi" -DPP_CONSUMER_MPI=ON >"$work/cm_mpi.log" 2>&1 &&
    cmake --build "$work/cm_mpi" >>"$work/cm_mpi.log" 2>&1 ||
    { cat "$work/cm_mpi.log"; die "CMake consumer with COMPONENTS mpi against /usr"; }
grep -q "procpool_DIR:PATH=/usr/lib/$arch/cmake/procpool" "$work/cm_mpi/CMakeCache.txt" ||
    die "the MPI consumer did not find the packaged CMake package"
pkg-config --validate procpool-mpi || die "pkg-config --validate procpool-mpi"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$work/pc_mpi" "$ROOT/examples/primes_mpi.c" \
    $(pkg-config --cflags --libs procpool-mpi) -lm ||
    die "cc \$(pkg-config --cflags --libs procpool-mpi)"
for exe in "$work/cm_mpi/consumer_mpi" "$work/pc_mpi"; do
    no_rpath "$exe" libprocpool_mpi.so.0.2
    # As root (CI), Open MPI wants these; only the loopback interface, bounded in time.
    out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo \
        timeout 120 mpiexec --oversubscribe -n 2 "$exe" 2>&1) || { echo "$out"; die "$(basename "$exe") under mpiexec"; }
    grep -q "^1099726899285419 is prime: False$" <<<"$out" || { echo "$out"; die "$(basename "$exe"): wrong output"; }
done
deps=$(cd "$work/procpool" && dpkg-shlibdeps -O "$work/pc_mpi" 2>/dev/null) || true
grep -o 'libprocpool-mpi0.2[^,]*' <<<"$deps" ||
    die "dpkg-shlibdeps found no libprocpool-mpi0.2 dependency: $deps"
lap "MPI consumers built against /usr (CMake component mpi, pkg-config procpool-mpi) and ran under mpiexec"

# ---- remove the four packages, and check that nothing of them is left ----
remove_installed || die "dpkg -r"
for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in "" | *not-installed*) ;; *) die "$p is still there after dpkg -r: $st" ;; esac
done
left=$(ls -d /usr/include/procpool*.h "/$L"/libprocpool* "/$L"/pkgconfig/procpool* \
    "/$L/cmake/procpool" 2>/dev/null || true)
[ -z "$left" ] || die "left after dpkg -r: $left"
lap "removed"
echo "[deb-test] passed: $(basename "$deb_lib") $(basename "$deb_dev") $(basename "$deb_mlib") $(basename "$deb_mdev")"
