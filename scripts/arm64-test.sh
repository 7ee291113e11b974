#!/usr/bin/env bash
# arm64-test.sh: cross-builds the library, the tests, the examples and the benchmarks for
# 64-bit ARM Linux (aarch64-linux-gnu) on Debian 12 x86_64 and runs under qemu-user what can
# run there (scripts/check.sh arm64; TESTING.md, "arm64", says which suites and why).
#
#   1. packages (root, apt-get, the first time): crossbuild-essential-arm64, qemu-user;
#   2. Debian's arm64 packages of APR, CUnit and libuuid, downloaded through a private apt
#      state (APT::Architectures=arm64, lists under $PP_ARM64_DEPS/work: the system's apt
#      configuration and dpkg's architectures are untouched) and unpacked into
#      $PP_ARM64_DEPS/sysroot. Not `apt-get install libapr1-dev:arm64`: libapr1-dev is not
#      Multi-Arch: same, so that would remove the host's libapr1-dev;
#   3. cmake with cmake/toolchain-aarch64-linux-gnu.cmake in build-arm64/, every target;
#   4. the exports (api-check, the Debian symbols file) of the arm64 libprocpool.so;
#   5. under qemu-aarch64: every suite that needs no exec, with the fork start method.
#
# Environment (optional): PP_ARM64_DEPS (default /opt/procpool-arm64-deps), PP_JOBS (2).
# Idempotent: the unpacked packages are reused while this script is unchanged.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PP_ARM64_DEPS=${PP_ARM64_DEPS:-/opt/procpool-arm64-deps}
export DEBIAN_FRONTEND=noninteractive
JOBS=${PP_JOBS:-2}
B=build-arm64
SYSROOT=$PP_ARM64_DEPS/sysroot
LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu
T0=$(date +%s)
lap() { echo "[arm64] $1 ($(( $(date +%s) - T0 )) s)"; }
die() { echo "[arm64] FAILED: $*" >&2; exit 1; }

# ---- 1. host packages ----
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(crossbuild-essential-arm64)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
for c in cmake pkg-config; do command -v $c >/dev/null || need+=($c); done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "needs root to install: ${need[*]}"
    apt-get update -qq || { sleep 10; apt-get update -qq; }
    apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi
lap "packages (${need[*]:-present})"

# ---- 2. arm64 APR, CUnit, libuuid ----
DEBS="libapr1 libapr1-dev libuuid1 uuid-dev libcunit1 libcunit1-dev"
STAMP=$PP_ARM64_DEPS/.stamp
WANT=$(sha256sum "$ROOT/scripts/arm64-test.sh" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || [ ! -f "$LIBDIR/libapr-1.so" ] ||
   [ ! -f "$LIBDIR/libcunit.so" ]; then
    W=$PP_ARM64_DEPS/work
    rm -rf "$W" "$SYSROOT" "$STAMP"
    mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/debs" "$SYSROOT"
    APT=(-o APT::Architecture=arm64 -o "APT::Architectures::=arm64"
         -o Dir::State::Lists="$W/lists" -o Dir::Cache="$W/cache" -o Dir::State::status=/dev/null
         -o APT::Sandbox::User=root)
    apt-get "${APT[@]}" update -qq || { sleep 10; apt-get "${APT[@]}" update -qq; }
    # shellcheck disable=SC2086
    ( cd "$W/debs" && apt-get "${APT[@]}" download -qq $DEBS ) || die "apt-get download $DEBS"
    for d in "$W"/debs/*.deb; do
        dpkg-deb -x "$d" "$SYSROOT"
    done
    rm -rf "$W/lists" "$W/cache"
    echo "$WANT" >"$STAMP"
    lap "arm64 packages unpacked into $SYSROOT: $(cd "$W/debs" && ls | tr '\n' ' ')"
else
    lap "arm64 packages up to date in $SYSROOT"
fi

# ---- 3. cross build ----
rm -rf "$B"
mkdir -p "$B"
LOG=$B/arm64-build.log
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake \
    -DPP_ARM64_DEPS="$PP_ARM64_DEPS" >"$LOG" 2>&1 || { cat "$LOG"; die "configure"; }
cmake --build "$B" -j "$JOBS" >>"$LOG" 2>&1 || { tail -40 "$LOG"; die "build"; }
for f in libprocpool.so libprocpool.a pp_tests primes readme_example pp_bench; do
    [ -e "$B/$f" ] || die "$B/$f was not built"
done
for f in "$B/libprocpool.so" "$B/pp_tests" "$B/primes" "$B/readme_example" "$B/pp_bench"; do
    readelf -h "$f" | grep -q 'Machine:.*AArch64' || die "$f is not an AArch64 ELF"
done
lap "cross build (library, pp_tests, primes, readme_example, pp_bench: AArch64)"

# ---- 4. the arm64 library exports exactly the API ----
sh cmake/api-check.sh include/procpool.h "$B/libprocpool.so"
sh scripts/deb-symbols.sh "$B/libprocpool.so"

# ---- 5. under qemu-user ----
# qemu-user runs one program; without binfmt_misc (not available in containers, and a
# machine-wide setting) the kernel cannot exec an AArch64 program, so whatever starts a
# worker by exec fails: the spawn and forkserver start methods, the examples (spawn), and
# the tests that exec on purpose. Everything else runs: the fork start method.
QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu -E "LD_LIBRARY_PATH=$LIBDIR")
out=$("${QEMU[@]}" "$B/readme_example" 2>&1 || true)
case "$out" in
*"Exec format error"* | *"exec"* | "") echo "[arm64] (as expected, spawn cannot exec under qemu-user: readme_example printed '${out:-nothing}')" ;;
144) echo "[arm64] readme_example printed 144: exec works here (binfmt_misc?)" ;;
esac
SUITES="protocol future callbacks wait as_completed map broken initializer alloc"
# Tests that would exec this program (a helper process) skip, saying why.
export PP_T_NO_EXEC=1
re=$(printf '%s.fork|' $SUITES)
ctest --test-dir "$B" -R "^(${re%|})\$" -j "$JOBS" --output-on-failure ||
    die "suites under qemu-aarch64"
lap "suites with fork under qemu-aarch64: $SUITES"
run_one() { # suite [test]
    "${QEMU[@]}" "$B/pp_tests" --start=fork "$@" >"$B/qemu-$1.log" 2>&1 ||
        { cat "$B/qemu-$1.log"; die "pp_tests --start=fork $*"; }
}
run_one badinput
# The backend suite's tests that exec nothing (the others spawn a worker program).
for t in "process facts: exe path, CPUs, clock, errors, signal names" \
         "spawn failures leave nothing behind" \
         "chan_from_argv: markers, tokens, descriptors" \
         "wakes: coalesced, cross-thread, timeouts" \
         "a storm of racing wakes loses none" \
         "more ready tags than room: none starves"; do
    run_one backend "$t"
done
lap "badinput (fork) and 6 of backend's tests under qemu-aarch64"
echo "[arm64] passed in $(( $(date +%s) - T0 )) s"
