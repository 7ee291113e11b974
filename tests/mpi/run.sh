#!/bin/sh
# Runs one MPI test program as a job and judges it by its last line (under mpiexec
# --enable-recovery, mpiexec's exit status is 0 whatever the ranks return: Open MPI 4.1).
# usage: run.sh NRANKS PROGRAM ARGS...   (NRANKS 0: PROGRAM alone, an MPI singleton)
# Passes when the output has "<name>: exit 0" (or a line matching the extended regular
# expression in PP_MPI_EXPECT); PP_MPI_RECOVERY=0 leaves --enable-recovery out; a job still running after PP_MPI_TIMEOUT
# seconds (default 120) is killed: a hang fails the test instead of stalling the run.
set -u
n=$1
shift
# Open MPI as root (CI containers), more ranks than CPUs, loopback only (containers have
# odd interfaces; MPI carries only the rendezvous here).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_tcp_if_include=lo
export OMPI_MCA_btl=self,vader,tcp
out=$(mktemp)
trap 'rm -f "$out"' EXIT
recovery=--enable-recovery
if [ "${PP_MPI_RECOVERY:-1}" = 0 ]; then
    recovery= # a plain mpiexec: Open MPI's default of ending the job when a rank dies
fi
if [ "$n" = 0 ]; then
    timeout -k 5 "${PP_MPI_TIMEOUT:-120}" "$@" >"$out" 2>&1
else
    timeout -k 5 "${PP_MPI_TIMEOUT:-120}" mpiexec --oversubscribe $recovery -n "$n" "$@" >"$out" 2>&1
fi
rc=$?
grep -v "PMIX ERROR: BAD-PARAM" "$out" # --enable-recovery's noise (Open MPI 4.1)
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "run.sh: FAILED: the job was still running after ${PP_MPI_TIMEOUT:-120} s (hang)"
    exit 1
fi
if ! grep -Eq "${PP_MPI_EXPECT:-^[a-z_]+: exit 0$}" "$out"; then
    echo "run.sh: FAILED: rank 0 did not report success (mpiexec status $rc)"
    exit 1
fi
exit 0
