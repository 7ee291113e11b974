#!/bin/sh
# A host that vanishes (no FIN, no RST: power loss, a cut cable) is found by TCP keepalive.
# Two "hosts" on one machine: two network namespaces joined by a veth pair. Rank 0 runs in
# one, a worker rank in the other, started the srun-style way (no MPI); in the middle of a
# call rank 0 takes the worker's end of the link down (PP_VANISH_CMD), so the worker
# process lives on but nothing it sends or answers arrives, and the call must fail within
# about dead_host_ms (3 s here). Judged by rank 0's last line, as run.sh does; every
# process is bounded by PP_MPI_TIMEOUT.
# Needs root and ip (iproute2, in every Debian install): exits 77 (ctest: skipped) saying
# why when either is missing or the kernel cannot make namespaces or veth pairs.
# usage: vanish.sh PROGRAM ARGS...
set -u
skip() {
    echo "SKIP (vanish): $1"
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "needs ip (iproute2)"
unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK PROCPOOL_RANK PROCPOOL_NRANKS
a=ppva$$
b=ppvb$$
out=$(mktemp)
cleanup() {
    ip netns del "$a" 2>/dev/null
    ip netns del "$b" 2>/dev/null
    rm -f "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$a" 2>/dev/null && ip netns add "$b" 2>/dev/null ||
    skip "cannot create network namespaces (ip netns add)"
ip link add "va$$" netns "$a" type veth peer name "vb$$" netns "$b" 2>/dev/null ||
    skip "cannot create a veth pair (ip link add type veth)"
ip -n "$a" addr add 10.77.0.1/30 dev "va$$" && ip -n "$a" link set "va$$" up &&
    ip -n "$a" link set lo up && ip -n "$b" addr add 10.77.0.2/30 dev "vb$$" &&
    ip -n "$b" link set "vb$$" up && ip -n "$b" link set lo up ||
    { echo "vanish.sh: FAILED: cannot set up the link"; exit 1; }
PROCPOOL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
PROCPOOL_CONNECT=10.77.0.1:47011
SLURM_NTASKS=2
PROCPOOL_MPI_DEAD_HOST_MS=3000 # the worker's side
PP_VANISH_CMD="ip -n $b link set vb$$ down"
export PROCPOOL_TOKEN PROCPOOL_CONNECT SLURM_NTASKS PROCPOOL_MPI_DEAD_HOST_MS PP_VANISH_CMD
t=${PP_MPI_TIMEOUT:-60}
SLURM_PROCID=1 timeout -k 5 "$t" ip netns exec "$b" "$@" &
wpid=$!
SLURM_PROCID=0 timeout -k 5 "$t" ip netns exec "$a" "$@" >"$out" 2>&1
rc=$?
kill "$wpid" 2>/dev/null # still in its task, cut off: it would end on its own later
wait "$wpid" 2>/dev/null
cat "$out"
if ! grep -Eq "^[a-z_]+: exit 0$" "$out" || [ $rc -ne 0 ]; then
    echo "vanish.sh: FAILED: rank 0 exited with $rc"
    exit 1
fi
exit 0
