#!/usr/bin/env bash
# check.sh: the test jobs beyond the plain suite, one per argument, each in its own build
# tree under build-<job>/ (TESTING.md says what each proves):
#
#   scripts/check.sh asan       full ctest, ASan + UBSan (workers too: the test program is
#                               its own worker), soak shortened to PP_SOAK_SECONDS (20)
#   scripts/check.sh tsan       full ctest, ThreadSanitizer, same
#   scripts/check.sh valgrind   memcheck on the core suites (spawn): no error, nothing
#                               definitely or indirectly lost
#   scripts/check.sh fuzz       libFuzzer on the wire decoders for FUZZ_SECONDS (60)
#   scripts/check.sh wine       the Windows build's suites under Wine (scripts/win-test.sh)
#   scripts/check.sh mpi        installs Open MPI (openmpi-bin libopenmpi-dev) if missing,
#                               builds libprocpool_mpi and runs its tests (ctest -L mpi):
#                               the core suites under mpiexec, crashes, token, registry,
#                               the srun-style start, the example
#   scripts/check.sh arm64      cross-build for aarch64-linux-gnu, the suites that need no
#                               exec under qemu-user (scripts/arm64-test.sh)
#   scripts/check.sh deb        the Debian packages: dpkg-buildpackage, lintian, dpkg -i,
#                               outside code built against /usr (scripts/deb-test.sh)
#   scripts/check.sh msvc-lint  what MSVC would reject, as far as it can be seen here: the
#                               library, tests, examples and pp_bench cross-built for Windows
#                               by clang (--target=x86_64-w64-windows-gnu) with -std=c11 (no
#                               GNU extensions), -pedantic-errors, -Wvla, -Wshorten-64-to-32
#                               (MSVC's C4267 / C4244 on 64-bit) and warnings as errors; then
#                               scripts/msvc-spellings.awk: no __attribute__, __builtin_*,
#                               typeof, __thread, _Thread_local outside a compiler #if
#                               (appveyor.yml lists what is checked and what is not)
#
# Needs: gcc, cmake, libapr1-dev, libcunit1-dev; valgrind; clang and libclang-rt-14-dev
# (fuzz, msvc-lint); the wine, msvc-lint and mpi jobs install their own (mingw-w64, wine64,
# the cross-built APR and CUnit: scripts/win-deps.sh; openmpi-bin, libopenmpi-dev). The
# sanitizer and fuzz builds leave the MPI add-on out (-DPP_MPI=OFF: Open MPI's own
# allocations are not the library's to check). Exits non-zero on the first
# failing job.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${PP_JOBS:-2}
export PP_SOAK_SECONDS=${PP_SOAK_SECONDS:-20}

# The suites valgrind runs: the core's, with the spawn start method (forked workers would
# run under valgrind's copy; spawned ones are not traced). --fair-sched: valgrind runs one
# thread at a time, and without it a test thread spinning on a start flag can keep the
# others from running for minutes.
VALGRIND_SUITES="future callbacks wait as_completed submit map shutdown broken initializer
  protocol alloc badinput remote isolate chunks limits"

sanitized() { # job, PP_SANITIZE
    local b="build-$1"
    cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Debug -DPP_SANITIZE="$2" -DPP_MPI=OFF >/dev/null
    cmake --build "$b" -j "$JOBS"
    ctest --test-dir "$b" --output-on-failure -j "$JOBS"
}

for job in "$@"; do
    start=$(date +%s)
    echo "=== check: $job"
    case "$job" in
    asan)
        # halt_on_error: the first report fails its test; detect_leaks in every process.
        ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            sanitized asan address,undefined
        ;;
    tsan)
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 sanitized tsan thread
        ;;
    valgrind)
        b=build-valgrind
        cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Debug >/dev/null
        cmake --build "$b" -j "$JOBS" --target pp_tests
        for s in $VALGRIND_SUITES; do
            echo "--- valgrind: $s"
            valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect \
                --show-leak-kinds=definite,indirect --child-silent-after-fork=yes \
                "$b/pp_tests" --start=spawn "$s" >"$b/valgrind-$s.log" 2>&1 ||
                { cat "$b/valgrind-$s.log"; echo "valgrind: suite $s failed" >&2; exit 1; }
            grep -E "^\s+tests " "$b/valgrind-$s.log" || true
        done
        ;;
    fuzz)
        b=build-fuzz
        cmake -S . -B "$b" -DCMAKE_C_COMPILER=clang -DPP_FUZZ=ON -DPP_BUILD_TESTS=OFF \
            -DPP_MPI=OFF -DPP_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build "$b" -j "$JOBS" --target fuzz_wire
        work=$(mktemp -d)
        "$b/fuzz_wire" -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 \
            "$work" fuzz/corpus 2>&1 | tail -15
        rm -rf "$work"
        ;;
    wine)
        bash scripts/win-test.sh
        ;;
    mpi)
        if ! command -v mpiexec >/dev/null || ! command -v mpicc >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev \
                </dev/null >/dev/null
        fi
        b=build-mpi
        cmake -S . -B "$b" >/dev/null
        grep -q "^PP_HAVE_MPI:INTERNAL=ON" "$b/CMakeCache.txt" ||
            { echo "mpi: CMake did not find MPI" >&2; exit 1; }
        cmake --build "$b" -j "$JOBS" --target pp_tests_mpi mpi_check primes_mpi
        ctest --test-dir "$b" -L mpi --output-on-failure -j "$JOBS"
        ;;
    deb)
        bash scripts/deb-test.sh
        ;;
    arm64)
        bash scripts/arm64-test.sh
        ;;
    msvc-lint)
        awk -f scripts/msvc-spellings.awk src/core/*.[ch] src/win32/*.[ch] include/*.h \
            tests/*.[ch] examples/*.c bench/pp_bench.c ||
            { echo "msvc-lint: compiler-specific spellings outside a compiler #if" >&2; exit 1; }
        bash scripts/win-deps.sh
        b=build-msvc-lint
        cmake -S . -B "$b" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-clang-mingw-w64-x86_64.cmake \
            -DCMAKE_BUILD_TYPE=Debug -DPP_WERROR=ON \
            "-DCMAKE_C_FLAGS=-pedantic-errors -Wvla -Wshorten-64-to-32" >/dev/null
        cmake --build "$b" -j "$JOBS"
        ;;
    *)
        echo "check.sh: unknown job '$job'" >&2
        exit 2
        ;;
    esac
    echo "=== check: $job passed in $(( $(date +%s) - start )) s"
done
