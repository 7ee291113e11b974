#!/bin/sh
# Embedding: tests/embed's project pulls procpool in with add_subdirectory, or with
# FetchContent from a tarball of this source tree (file:// URL, as from a release), builds
# the README's example and tests/install's consumer (shared and static) and runs them.
# usage: run.sh subdirectory|fetchcontent SOURCE_DIR [CMAKE_GENERATOR [C_COMPILER]]
set -eu
mode=$1
src=$(cd "$2" && pwd)
generator=${3:-}
cc=${4:-${CC:-cc}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "embed ($mode): FAILED: $*" >&2
    exit 1
}

set -- -S "$src/tests/embed" -B "$work/build" -DPP_EMBED="$mode" -DPP_SOURCE="$src" \
    -DCMAKE_C_COMPILER="$cc"
if [ "$mode" = fetchcontent ]; then
    # The source tree as a release tarball would hold it: no VCS data, no build trees.
    tar -C "$src" -czf "$work/procpool.tar.gz" --exclude=./.git --exclude='./build*' \
        --exclude='./obj-*' --exclude=./debian/tmp --transform 's,^\.,procpool,' . ||
        fail "tar of $src"
    set -- "$@" -DPP_EMBED_URL="file://$work/procpool.tar.gz"
fi
if [ -n "$generator" ]; then
    set -- -G "$generator" "$@"
fi
echo "== configure ($mode)"
cmake "$@" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
echo "== build"
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
echo "== run"
out=$(env -u LD_LIBRARY_PATH "$work/build/readme_example") || fail "readme_example exited $?"
[ "$out" = 144 ] || fail "readme_example printed '$out', not 144"
env -u LD_LIBRARY_PATH "$work/build/consumer" || fail "consumer"
env -u LD_LIBRARY_PATH "$work/build/consumer_static" || fail "consumer_static"
echo "embed ($mode): the README example and both consumers built and ran"
