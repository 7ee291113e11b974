#!/bin/sh
# The MPI add-on's detection: an MPI runtime without its headers (Debian's openmpi-bin, which
# python3-mpi4py pulls in, without libopenmpi-dev) must leave the add-on out, not stop the
# configure. A fake mpicc plays that runtime: it names an include directory that does not
# exist (what FindMPI then turns into a configure error) and cannot compile anything.
# usage: mpi_probe.sh SOURCE_DIR [CMAKE_GENERATOR [C_COMPILER]]
set -eu
src=$(cd "$1" && pwd)
generator=${2:-}
cc=${3:-${CC:-cc}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "mpi_probe: FAILED: $*" >&2
    exit 1
}
cat >"$work/mpicc" <<'FAKE'
#!/bin/sh
case "$*" in
*-showme:compile* | *-showme:incdirs*) echo "-I/nonexistent/openmpi/include -pthread" ;;
*-showme:link* | *-showme:libdirs*) echo "-pthread -L/nonexistent/openmpi/lib -lmpi" ;;
*-showme:libs*) echo "mpi" ;;
*-showme:version* | *--version*) echo "mpicc: Open MPI 4.1.4 (Language: C)" ;;
*-showme* | *-show*) echo "cc -I/nonexistent/openmpi/include -pthread -L/nonexistent/openmpi/lib -lmpi" ;;
*) echo "fake mpicc: mpi.h: No such file or directory" >&2; exit 1 ;;
esac
FAKE
chmod +x "$work/mpicc"
set -- -S "$src" -B "$work/build" -DCMAKE_C_COMPILER="$cc" -DPP_MPICC="$work/mpicc" \
    -DMPI_C_COMPILER="$work/mpicc" -DPP_BUILD_TESTS=OFF -DPP_BUILD_EXAMPLES=OFF \
    -DPP_BUILD_BENCH=OFF
if [ -n "$generator" ]; then
    set -- -G "$generator" "$@"
fi
cmake "$@" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
grep -q '^PP_HAVE_MPI:INTERNAL=OFF$' "$work/build/CMakeCache.txt" ||
    { cat "$work/configure.log"; fail "the add-on was configured with a broken mpicc"; }
grep -q 'libprocpool_mpi is not built' "$work/configure.log" ||
    { cat "$work/configure.log"; fail "the configure did not say why the add-on is left out"; }
echo "mpi_probe: an mpicc that cannot compile <mpi.h> leaves the add-on out; configure succeeds"
