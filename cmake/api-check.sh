#!/bin/sh
# api-check: the shared library exports exactly the public API.
#
# 1. Every dynamic symbol the library defines starts with pp_ (and not pp__, the internal
#    prefix): hidden visibility keeps the core, the backend and anything linked in private.
# 2. Every function declared with PP_API in the header is exported.
# 3. Every exported pp_ symbol is declared with PP_API in the header (no stray public name).
#
# usage: api-check.sh include/procpool.h path/to/libprocpool.so
# Needs nm (binutils) and perl (Debian: perl-base, always installed).
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 HEADER SHARED_LIBRARY" >&2
    exit 2
fi
header=$1
lib=$2
[ -f "$header" ] || { echo "api-check: no header $header" >&2; exit 2; }
[ -f "$lib" ] || { echo "api-check: no library $lib" >&2; exit 2; }

# Defined dynamic symbols: "ADDRESS TYPE NAME[@VERSION]".
nm_out=$(nm -D --defined-only "$lib") || { echo "api-check: nm -D failed on $lib" >&2; exit 2; }
exported=$(printf '%s\n' "$nm_out" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | sort -u)

# PP_API declarations: drop comments, the Windows side of each "#ifdef _WIN32 / #else"
# (this checks an ELF library: pp_as_completed_handle is Windows', pp_as_completed_fd
# POSIX's), and preprocessor lines, then take the name before the first '(' after each
# PP_API.
declared=$(perl -0777 -ne '
    s{/\*.*?\*/}{ }gs;
    s{//[^\n]*}{}g;
    s{^[ \t]*#[ \t]*ifdef[ \t]+_WIN32\b[^\n]*\n(.*?)^[ \t]*#[ \t]*else\b[^\n]*\n(.*?)^[ \t]*#[ \t]*endif\b[^\n]*}{$2}gms;
    s{^[ \t]*#[^\n]*}{}mg;
    while (/\bPP_API\b[^;{]*?\b([A-Za-z_]\w*)\s*\(/g) { print "$1\n"; }
' "$header" | sort -u)

if [ -z "$declared" ]; then
    echo "api-check: found no PP_API declaration in $header" >&2
    exit 2
fi

problems=0
for s in $exported; do
    case "$s" in
    pp__*)
        echo "internal symbol exported: $s"
        problems=$((problems + 1))
        ;;
    pp_*)
        if ! printf '%s\n' "$declared" | grep -qx "$s"; then
            echo "exported but not declared PP_API in $header: $s"
            problems=$((problems + 1))
        fi
        ;;
    _init | _fini | _edata | _end | __bss_start) ;;
    *)
        echo "exported but not pp_: $s"
        problems=$((problems + 1))
        ;;
    esac
done
for f in $declared; do
    if ! printf '%s\n' "$exported" | grep -qx "$f"; then
        echo "declared PP_API but not exported: $f"
        problems=$((problems + 1))
    fi
done
n_decl=$(printf '%s\n' "$declared" | wc -l)
n_exp=$(printf '%s\n' "$exported" | grep -c '^pp_' || true)
echo "api-check: $n_decl PP_API functions declared, $n_exp pp_ symbols exported, $problems problems"
[ "$problems" -eq 0 ]
