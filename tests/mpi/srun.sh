#!/bin/sh
# The srun-style start without MPI, on one host: starts NRANKS copies of PROGRAM with the
# variables Slurm gives its tasks (SLURM_PROCID, SLURM_NTASKS) and procpool's rendezvous
# (PROCPOOL_CONNECT, PROCPOOL_TOKEN), as `srun -n NRANKS PROGRAM ARGS` would, and judges
# the run by rank 0's last line, as run.sh does. Every rank is bounded by PP_MPI_TIMEOUT.
# usage: srun.sh NRANKS PROGRAM ARGS...
set -u
n=$1
shift
# Unset whatever an outer mpiexec left: this is not an MPI job.
unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK
SLURM_NTASKS=$n
export SLURM_NTASKS
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# A port picked at random; another one if it is taken (rank 0 cannot listen: the workers,
# which find nobody, give up after 60 s; they are killed here at once).
for attempt in 1 2 3; do
    PROCPOOL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    port=$(( 20000 + ($$ * 7 + attempt * 7919) % 30000 ))
    PROCPOOL_CONNECT=127.0.0.1:$port
    export PROCPOOL_TOKEN PROCPOOL_CONNECT
    pids=
    i=1
    while [ $i -lt "$n" ]; do
        SLURM_PROCID=$i timeout -k 5 "${PP_MPI_TIMEOUT:-120}" "$@" &
        pids="$pids $!"
        i=$((i + 1))
    done
    SLURM_PROCID=0 timeout -k 5 "${PP_MPI_TIMEOUT:-120}" "$@" >"$out" 2>&1
    rc=$?
    if grep -q "procpool: cannot listen" "$out"; then
        for p in $pids; do
            kill "$p" 2>/dev/null
        done
    fi
    for p in $pids; do
        wait "$p"
    done
    grep -q "procpool: cannot listen" "$out" || break
done
cat "$out"
if ! grep -Eq "^[a-z_]+: exit 0$" "$out" || [ $rc -ne 0 ]; then
    echo "srun.sh: FAILED: rank 0 exited with $rc"
    exit 1
fi
exit 0
