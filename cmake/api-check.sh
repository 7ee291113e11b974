#!/bin/sh
# api-check: the shared library exports exactly the public API.
# Every dynamic symbol it defines starts with pp_, and every PP_API function declared in
# the header is among them. usage: api-check.sh include/procpool.h path/to/libprocpool.so
set -u
header=$1
lib=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRWVi]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -E '^PP_API' -A3 "$header" | tr '\n' ' ' | grep -oE '\bpp_[a-z_0-9]+\(' | tr -d '(' | sort -u)
problems=0
for s in $exported; do
  case "$s" in
    pp_*) ;;
    _init|_fini|_edata|_end|__bss_start) ;;
    *) echo "exported but not public: $s"; problems=$((problems + 1)) ;;
  esac
done
for f in $declared; do
  echo "$exported" | grep -qx "$f" || { echo "declared but not exported: $f"; problems=$((problems + 1)); }
done
n=$(echo "$declared" | wc -w)
echo "api-check: $n public functions, $problems problems"
[ "$problems" -eq 0 ]
