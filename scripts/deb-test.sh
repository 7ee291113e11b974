#!/usr/bin/env bash
# deb-test.sh: builds the Debian packages of debian/ (libprocpool0.2, libprocpool-dev) with
# dpkg-buildpackage -us -uc -b in a copy of the tree, checks them with lintian (no error
# allowed), installs them with dpkg -i, builds tests/install's consumer against /usr with the
# CMake package (shared and static) and with pkg-config, runs each, and removes the packages
# again (also on failure). Debian 12, as root; installs what it needs with apt-get.
#
# Environment: PP_DEB_CHECK=1 also runs the test suites inside the package build (ctest
# without the soak, a few minutes; by default DEB_BUILD_OPTIONS=nocheck, as CI runs them
# elsewhere). PP_JOBS: parallel jobs (2).
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
need=()
for p in debhelper dpkg-dev fakeroot lintian cmake pkg-config gcc libapr1-dev libcunit1-dev \
         binutils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq || { sleep 10; apt-get update -qq; }
    apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi
lap "packages (${need[*]:-present})"

for p in libprocpool0.2 libprocpool-dev; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        die "$p is already installed: remove it first (dpkg -r $p)"
    fi
done

work=$(mktemp -d /tmp/pp-deb.XXXXXX)
installed=false
cleanup() {
    if $installed; then
        dpkg -r libprocpool-dev libprocpool0.2 >/dev/null || echo "[deb-test] dpkg -r failed" >&2
    fi
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
        echo "[deb-test] debian/libprocpool0.2.symbols is out of date:" \
             "run scripts/deb-symbols.sh --update after a build, and commit it" >&2
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
deb_lib=$(ls "$work"/libprocpool0.2_*.deb)
deb_dev=$(ls "$work"/libprocpool-dev_*.deb)
list_lib=$(dpkg-deb -c "$deb_lib")
list_dev=$(dpkg-deb -c "$deb_dev")
grep -q "usr/lib/$arch/libprocpool.so.0.2 -> " <<<"$list_lib" ||
    die "libprocpool0.2 lacks usr/lib/$arch/libprocpool.so.0.2"
for f in usr/include/procpool.h "usr/lib/$arch/libprocpool.a" "usr/lib/$arch/libprocpool.so" \
         "usr/lib/$arch/pkgconfig/procpool.pc" "usr/lib/$arch/cmake/procpool/procpoolConfig.cmake"; do
    grep -q " \./$f" <<<"$list_dev" || die "libprocpool-dev lacks $f"
done

# ---- install, and build outside code against /usr ----
dpkg -i "$deb_lib" "$deb_dev" >/dev/null || die "dpkg -i"
installed=true
lap "dpkg -i"
src=$ROOT/tests/install
cmake -S "$src" -B "$work/cm" >"$work/cm.log" 2>&1 && cmake --build "$work/cm" >>"$work/cm.log" 2>&1 ||
    { cat "$work/cm.log"; die "CMake consumer against /usr"; }
grep -q "procpool_DIR:PATH=/usr/lib/$arch/cmake/procpool" "$work/cm/CMakeCache.txt" ||
    die "the consumer did not find the packaged CMake package: $(grep procpool_DIR "$work/cm/CMakeCache.txt")"
dyn=$(readelf -d "$work/cm/consumer")
grep -q 'NEEDED.*\[libprocpool.so.0.2\]' <<<"$dyn" ||
    die "consumer does not load libprocpool.so.0.2"
grep -q 'RUNPATH\|RPATH' <<<"$dyn" &&
    die "consumer has an rpath: it must load /usr's copy"
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
echo "[deb-test] passed: $(basename "$deb_lib") $(basename "$deb_dev")"
