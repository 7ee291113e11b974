#!/bin/sh
# Ctrl-C in the middle of examples/mainloop, as a terminal delivers it: SIGINT to the
# program's process group (each worker leads a group of its own, so the signal reaches the
# program alone). The program must stop the pool (pp_executor_stop), give back every future,
# print "interrupted: D done, C cancelled" with D > 0 and C > 0, exit with status 130, and
# leave no process behind: none in its group, no worker, nothing in a worker's group.
# usage: mainloop_sigint.sh path/to/mainloop
set -u
exe=$1
work=$(mktemp -d)
fail() {
    echo "mainloop_sigint: FAILED: $*" >&2
    echo "--- stdout" >&2
    cat "$work/out" >&2
    echo "--- stderr" >&2
    tr '\r' '\n' <"$work/err" >&2
    [ -n "${pgid:-}" ] && kill -KILL "-$pgid" 2>/dev/null
    rm -rf "$work"
    exit 1
}
command -v setsid >/dev/null || { echo "SKIP: no setsid (util-linux)"; exit 0; }
[ -r /proc/self/stat ] || { echo "SKIP: no /proc to list a process group with"; exit 0; }
# The process group of a pid, and the pids of a group, from /proc (no procps needed: a
# fresh Debian has none). In /proc/PID/stat, after the command's ") ": state ppid pgrp.
pgrp_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f3; }
group_members() { # (cat goes on past a process that ended meanwhile)
    cat /proc/[0-9]*/stat 2>/dev/null | sed 's/ (.*) / /' | awk -v g="$1" '$4 == g { print $1 }'
}
children_of() {
    cat /proc/[0-9]*/stat 2>/dev/null | sed 's/ (.*) / /' | awk -v p="$1" '$3 == p { print $1 }'
}

# 400 calls of 100 ms on 2 workers: 20 s if nothing stops it. Its own session and process
# group (setsid), so that the group signal reaches it and nothing else.
: >"$work/err"
setsid "$exe" 400 100 >"$work/out" 2>"$work/err" &
pid=$!
# Mid-run: once a few results have come through the loop (its progress line says so).
i=0
until tr "\r" "\n" <"$work/err" 2>/dev/null | grep -Eq '^([3-9]|[1-9][0-9]+)/400 done'; do
    i=$((i + 1))
    [ $i -le 300 ] || fail "no progress after 30 s"
    kill -0 "$pid" 2>/dev/null || fail "exited before it was interrupted"
    sleep 0.1
done
pgid=$(pgrp_of "$pid")
[ "$pgid" = "$pid" ] || fail "not a process group leader (pgid '$pgid', pid $pid)"
workers=$(children_of "$pid" | tr '\n' ' ')
[ -n "$workers" ] || fail "no worker process (child of $pid)"
echo "mainloop pid $pid, workers $workers; sending SIGINT to the group"
kill -INT "-$pgid"

# It exits on its own, in about the grace (2 s) at most; 60 s is the bound of a hang.
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 600 ] || fail "still running 60 s after SIGINT"
    sleep 0.1
done
wait "$pid"
status=$?
[ "$status" = 130 ] || fail "exit status $status, expected 130"
line=$(head -n 1 "$work/out")
echo "$line"
echo "$line" | grep -Eq '^interrupted: [1-9][0-9]* done, [1-9][0-9]* cancelled$' ||
    fail "unexpected output"
# every future given back: done + cancelled = 400
d=$(echo "$line" | sed 's/^interrupted: \([0-9]*\) done, \([0-9]*\) cancelled$/\1/')
c=$(echo "$line" | sed 's/^interrupted: \([0-9]*\) done, \([0-9]*\) cancelled$/\2/')
[ $((d + c)) = 400 ] || fail "$d done + $c cancelled is not 400"
left=$(group_members "$pgid" | tr '\n' ' ')
[ -z "$left" ] || fail "processes left in its group: $left"
for w in $workers; do
    kill -0 "$w" 2>/dev/null && fail "worker $w is still alive"
    left=$(group_members "$w" | tr '\n' ' ')
    [ -z "$left" ] || fail "processes left in worker $w's group: $left"
done
rm -rf "$work"
echo "mainloop_sigint: passed"
