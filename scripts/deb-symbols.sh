#!/bin/sh
# deb-symbols.sh: keeps debian/<package>.symbols, Debian's record of the shared library's ABI
# (every exported symbol, with the upstream version that introduced it), equal to what a
# built libprocpool.so exports.
#
#   scripts/deb-symbols.sh [LIBRARY]           check (default LIBRARY: build/libprocpool.so);
#                                              exit 1, naming each difference, if out of date
#   scripts/deb-symbols.sh --update [LIBRARY]  rewrite the file: listed symbols keep their
#                                              version, new ones get the header's version
#                                              (PP_VERSION_MAJOR.MINOR.PATCH)
#
# The package is named after the SONAME, as Debian policy 8.1 wants (libprocpool.so.0.2 ->
# libprocpool0.2; the MPI add-on's libprocpool_mpi.so.0.2 -> libprocpool-mpi0.2). A symbol that disappears is an ABI break: --update refuses it; bump the
# SONAME (procpool.h, "Version") and start a new symbols file instead. The check also runs
# as the ctest entry deb_symbols, and dpkg-gensymbols -c4 (debian/rules) fails the package
# build on the same differences.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
update=false
if [ "${1:-}" = --update ]; then
    update=true
    shift
fi
lib=${1:-$ROOT/build/libprocpool.so}
[ -f "$lib" ] || { echo "deb-symbols: no library $lib (build it first)" >&2; exit 2; }

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] || { echo "deb-symbols: $lib has no SONAME" >&2; exit 2; }
# libNAME.so.X -> libNAMEX; libNAME2.so.X -> libNAME2-X (a digit before .so needs a dash)
base=${soname%%.so.*}
abi=${soname#*.so.}
case "$base" in
*[0-9]) pkg=$base-$abi ;;
*) pkg=$base$abi ;;
esac
pkg=$(printf '%s' "$pkg" | tr '_' '-')
devpkg=$(printf '%s' "$base" | tr '_' '-')-dev # libprocpool-dev, libprocpool-mpi-dev
file=$ROOT/debian/$pkg.symbols

hv() { sed -n "s/^#define PP_VERSION_$1 *\([0-9]*\).*/\1/p" "$ROOT/include/procpool.h"; }
version=$(hv MAJOR).$(hv MINOR).$(hv PATCH)

exported=$(nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' |
    grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start | sort -u)
listed=
if [ -f "$file" ]; then
    listed=$(sed -n 's/^ \([A-Za-z_][A-Za-z0-9_]*\)@Base .*/\1/p' "$file" | sort -u)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "$exported" | sed '/^$/d' >"$tmp/exported"
printf '%s\n' "$listed" | sed '/^$/d' >"$tmp/listed"
added=$(comm -23 "$tmp/exported" "$tmp/listed")
removed=$(comm -13 "$tmp/exported" "$tmp/listed")
header_ok=true
if [ -f "$file" ] && ! head -n 1 "$file" | grep -qx "$soname $pkg #MINVER#"; then
    header_ok=false
fi

if ! $update; then
    problems=0
    if [ ! -f "$file" ]; then
        echo "deb-symbols: $file does not exist (the SONAME is $soname)"
        problems=1
    fi
    $header_ok || { echo "deb-symbols: $file does not start with '$soname $pkg #MINVER#'"; problems=1; }
    for s in $added; do
        echo "deb-symbols: exported but not in $(basename "$file"): $s"
        problems=$((problems + 1))
    done
    for s in $removed; do
        echo "deb-symbols: in $(basename "$file") but no longer exported (an ABI break): $s"
        problems=$((problems + 1))
    done
    n=$(wc -l <"$tmp/exported")
    if [ "$problems" -ne 0 ]; then
        echo "deb-symbols: debian/$(basename "$file") is out of date ($problems problems)." \
            "New symbols: run scripts/deb-symbols.sh --update $lib and commit the file." >&2
        exit 1
    fi
    echo "deb-symbols: $(basename "$file") lists exactly the $n symbols $soname exports"
    exit 0
fi

# --update
if [ -n "$removed" ]; then
    echo "deb-symbols: no longer exported: $removed" >&2
    echo "deb-symbols: removing a symbol breaks the ABI: bump the SONAME instead" >&2
    exit 1
fi
$header_ok || { echo "deb-symbols: $file is for another SONAME than $soname" >&2; exit 1; }
{
    echo "$soname $pkg #MINVER#"
    echo "* Build-Depends-Package: $devpkg"
    for s in $(cat "$tmp/exported"); do
        v=
        [ -f "$file" ] && v=$(sed -n "s/^ $s@Base \(.*\)/\1/p" "$file")
        echo " $s@Base ${v:-$version}"
    done
} >"$tmp/new"
mv "$tmp/new" "$file"
for s in $added; do
    echo "deb-symbols: added $s at $version"
done
echo "deb-symbols: wrote $file ($(wc -l <"$tmp/exported") symbols)"
