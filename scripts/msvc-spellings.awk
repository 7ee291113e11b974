# scripts/check.sh msvc-lint: prints the uses of compiler-specific spellings that are not
# inside a preprocessor conditional naming a compiler (__GNUC__, __clang__, __MINGW32__,
# _MSC_VER): MSVC has no __attribute__, __builtin_*, __atomic_* / __sync_*, typeof /
# __typeof__, __extension__ or __thread, and only recent versions have _Thread_local
# (src/core uses PP__THREAD_LOCAL). Comment lines are skipped. Exits 1 if there is any.
FNR == 1 { depth = 0 }
/^[ \t]*#[ \t]*if/ { depth++; g[depth] = ($0 ~ /__GNUC__|__clang__|__MINGW32__|_MSC_VER/); next }
/^[ \t]*#[ \t]*(elif|else)/ { if ($0 ~ /__GNUC__|__clang__|__MINGW32__|_MSC_VER/) g[depth] = 1; next }
/^[ \t]*#[ \t]*endif/ { depth--; next }
/^[ \t]*(\*|\/\*|\/\/)/ { next }
/__attribute__|__builtin_|__atomic_[a-z]|__sync_[a-z]|__typeof__|__extension__|__thread([^a-z_]|$)|_Thread_local|[^_a-z]typeof[ \t]*\(/ {
    ok = 0
    for (i = 1; i <= depth; i++) if (g[i]) ok = 1
    if (!ok) { print FILENAME ":" FNR ": " $0; bad = 1 }
}
END { exit bad }
