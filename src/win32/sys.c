/*
 * Windows backend: process-wide facts (once, CPU count, executable path, clock, errors,
 * exception names, handle count) and the UTF-8 <-> UTF-16 conversions the other files use.
 */
#include "win32.h"

#include <limits.h>
#include <dbghelp.h> /* types only: DbgHelp is loaded at run time, where it is there */
#include <malloc.h>
#include <psapi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pp_status pp__win_err(pp__oserr *oe, const char *call, DWORD code)
{
    if (oe) {
        oe->call = call;
        oe->code = (long long)code;
    }
    return PP_ESYS;
}

wchar_t *pp__win_utf16(const char *s, DWORD *err)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        *err = GetLastError();
        return NULL;
    }
    wchar_t *w = pp__malloc((size_t)n * sizeof *w);
    if (!w) {
        *err = ERROR_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        *err = GetLastError();
        pp__free(w);
        return NULL;
    }
    return w;
}

char *pp__win_utf8(const wchar_t *w, DWORD *err)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    if (n <= 0) {
        *err = GetLastError();
        return NULL;
    }
    char *s = pp__malloc((size_t)n);
    if (!s) {
        *err = ERROR_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    if (WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
        *err = GetLastError();
        pp__free(s);
        return NULL;
    }
    return s;
}

/* ---- once ---- */

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;

/* A function pointer does not convert to void * in ISO C: it travels in a struct. */
typedef struct once_arg {
    void (*fn)(void);
} once_arg;

static BOOL CALLBACK run_once(PINIT_ONCE io, PVOID param, PVOID *ctx)
{
    (void)io;
    (void)ctx;
    ((once_arg *)param)->fn();
    return TRUE;
}

void pp__os_call_once(void (*fn)(void))
{
    once_arg a = {fn};
    InitOnceExecuteOnce(&once, run_once, &a, NULL);
}

/* ---- CPUs, limits ---- */

int pp__os_cpu_count(void)
{
    /* The masks describe one processor group (at most 64 CPUs): a process whose mask is
     * its group's whole mask is not restricted, and may use every group (Windows 11 and
     * Server 2022 spread a process's threads over all of them): count them all. Both masks
     * are 0 when the process has threads in several groups already. A restricted mask
     * (start /affinity, a job) is counted as it is. */
    DWORD_PTR mine = 0, sys = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &mine, &sys) && mine && mine != sys) {
        int n = 0;
        for (; mine; mine &= mine - 1)
            n++;
        return n;
    }
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n > 0 ? (int)n : 1;
}

int pp__os_max_workers(void)
{
    /* The wait set takes any number of channels (waitset.c). Memory is the limit, as on
     * POSIX. */
    return INT_MAX;
}

/* ---- executable path ---- */

pp_status pp__os_exepath(char **utf8, pp__oserr *oe)
{
    *utf8 = NULL;
    for (DWORD cap = MAX_PATH; cap <= 65536; cap *= 2) {
        wchar_t *w = pp__malloc(cap * sizeof *w);
        if (!w)
            return PP_ENOMEM;
        DWORD n = GetModuleFileNameW(NULL, w, cap);
        if (n == 0) {
            DWORD e = GetLastError();
            pp__free(w);
            return pp__win_err(oe, "GetModuleFileNameW", e);
        }
        if (n < cap) { /* n == cap: truncated */
            DWORD e = 0;
            char *s = pp__win_utf8(w, &e);
            pp__free(w);
            if (!s)
                return e == ERROR_NOT_ENOUGH_MEMORY ? PP_ENOMEM
                                                    : pp__win_err(oe, "WideCharToMultiByte", e);
            *utf8 = s;
            return PP_OK;
        }
        pp__free(w);
    }
    return pp__win_err(oe, "GetModuleFileNameW", ERROR_INSUFFICIENT_BUFFER);
}

/* ---- memory ---- */

void pp__os_mem_large(void *p, size_t len)
{
    /* Large pages on Windows need a privilege (SeLockMemoryPrivilege) and VirtualAlloc of
     * their own: nothing to advise on a heap block. */
    (void)p;
    (void)len;
}

void pp__os_mem_prefault(void *p, size_t len)
{
    /* (PrefetchVirtualMemory reads pages in from their backing store; a fresh heap page
     * has none: nothing to do ahead of the first write here) */
    (void)p;
    (void)len;
}

bool pp__os_on_exit(void (*fn)(int status))
{
    /* atexit handlers do not see the status; a worker that exits is noticed by its pipe
     * breaking and its process handle, as is any other death */
    (void)fn;
    return false;
}

size_t pp__os_alloc_size(void *p)
{
    return _msize(p);
}

/* ---- clock, pid ---- */

int64_t pp__os_monotonic_ns(void)
{
    /* Both always succeed (Windows XP and later); the frequency is a constant the system
     * reads from shared memory, cheap enough to ask each time. */
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (int64_t)(c.QuadPart / f.QuadPart * 1000000000 +
                     c.QuadPart % f.QuadPart * 1000000000 / f.QuadPart);
}

int64_t pp__os_monotonic_ms(void)
{
    return pp__os_monotonic_ns() / 1000000;
}

void pp__os_yield(void)
{
    SwitchToThread();
}

void pp__os_precise_timers(void)
{
    /* (no per-thread slack; the manager does not nap here: pp__os_waitset_nap) */
}

long long pp__os_getpid(void)
{
    return (long long)GetCurrentProcessId();
}

/* ---- error text ---- */

/* Cuts s (NUL-terminated) so that it does not end inside a UTF-8 sequence. */
static void utf8_trim_partial(char *s)
{
    size_t len = strlen(s);
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (len - (i - 1) < need)
        s[i - 1] = 0;
}

char *pp__os_strerror(const pp__oserr *oe, char *buf, size_t cap)
{
    if (!buf || !cap)
        return buf;
    const char *call = oe && oe->call ? oe->call : "?";
    long long code = oe ? oe->code : 0;
    wchar_t w[512];
    char text[1024] = "";
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS |
                                 FORMAT_MESSAGE_MAX_WIDTH_MASK,
                             NULL, (DWORD)code, 0, w, (DWORD)(sizeof w / sizeof w[0]), NULL);
    if (n == 0 ||
        WideCharToMultiByte(CP_UTF8, 0, w, (int)n, text, (int)sizeof text - 1, NULL, NULL) <= 0) {
        snprintf(text, sizeof text, "unknown error");
    } else {
        text[sizeof text - 1] = 0;
        /* "The system cannot find the file specified.\r\n" -> without the trailing
         * line end, blanks and full stop, as strerror() gives it on POSIX. */
        size_t len = strlen(text);
        while (len && (text[len - 1] == '\r' || text[len - 1] == '\n' || text[len - 1] == ' ' ||
                       text[len - 1] == '.'))
            text[--len] = 0;
    }
    int r = snprintf(buf, cap, "%s: (%lld) %s", call, code, text);
    if (r >= 0 && (size_t)r >= cap)
        utf8_trim_partial(buf);
    return buf;
}

/* ---- exit statuses ---- */

const char *pp__os_signal_name(int sig)
{
    (void)sig;
    return NULL;
}

/* NTSTATUS codes a crashed or aborted process exits with, by name. */
static const struct {
    DWORD code;
    const char *name;
} exit_names[] = {
    {0x40000015, "STATUS_FATAL_APP_EXIT"},
    {0x80000002, "EXCEPTION_DATATYPE_MISALIGNMENT"},
    {0x80000003, "EXCEPTION_BREAKPOINT"},
    {0x80000004, "EXCEPTION_SINGLE_STEP"},
    {0xC0000005, "EXCEPTION_ACCESS_VIOLATION"},
    {0xC0000006, "EXCEPTION_IN_PAGE_ERROR"},
    {0xC0000008, "EXCEPTION_INVALID_HANDLE"},
    {0xC0000017, "STATUS_NO_MEMORY"},
    {0xC000001D, "EXCEPTION_ILLEGAL_INSTRUCTION"},
    {0xC0000025, "EXCEPTION_NONCONTINUABLE_EXCEPTION"},
    {0xC0000026, "EXCEPTION_INVALID_DISPOSITION"},
    {0xC000008C, "EXCEPTION_ARRAY_BOUNDS_EXCEEDED"},
    {0xC000008D, "EXCEPTION_FLT_DENORMAL_OPERAND"},
    {0xC000008E, "EXCEPTION_FLT_DIVIDE_BY_ZERO"},
    {0xC000008F, "EXCEPTION_FLT_INEXACT_RESULT"},
    {0xC0000090, "EXCEPTION_FLT_INVALID_OPERATION"},
    {0xC0000091, "EXCEPTION_FLT_OVERFLOW"},
    {0xC0000092, "EXCEPTION_FLT_STACK_CHECK"},
    {0xC0000093, "EXCEPTION_FLT_UNDERFLOW"},
    {0xC0000094, "EXCEPTION_INT_DIVIDE_BY_ZERO"},
    {0xC0000095, "EXCEPTION_INT_OVERFLOW"},
    {0xC0000096, "EXCEPTION_PRIV_INSTRUCTION"},
    {0xC00000FD, "EXCEPTION_STACK_OVERFLOW"},
    {0xC0000135, "STATUS_DLL_NOT_FOUND"},
    {0xC0000139, "STATUS_ENTRYPOINT_NOT_FOUND"},
    {0xC000013A, "STATUS_CONTROL_C_EXIT"},
    {0xC0000142, "STATUS_DLL_INIT_FAILED"},
    {0xC0000374, "STATUS_HEAP_CORRUPTION"},
    {0xC0000409, "STATUS_STACK_BUFFER_OVERRUN"},
    {0xC0000417, "STATUS_INVALID_CRUNTIME_PARAMETER"},
    {0xC0000602, "STATUS_FAIL_FAST_EXCEPTION"},
};

const char *pp__os_exit_name(int code)
{
    for (size_t i = 0; i < sizeof exit_names / sizeof exit_names[0]; i++) {
        if (exit_names[i].code == (DWORD)code)
            return exit_names[i].name;
    }
    return NULL;
}

size_t pp__os_handle_count(void)
{
    DWORD n = 0;
    if (GetProcessHandleCount(GetCurrentProcess(), &n) && n > 0)
        return (size_t)n;
    /* Wine's GetProcessHandleCount is a stub that says 0 (a Windows process always has
     * handles): count the handle values in use instead. Wine hands out the lowest free
     * value, so the values in use are dense: stop after 1024 unused ones in a row. */
    size_t count = 0;
    unsigned gap = 0;
    for (uintptr_t v = 4; gap < 1024; v += 4) {
        DWORD flags;
        if (GetHandleInformation((HANDLE)v, &flags)) {
            count++;
            gap = 0;
        } else {
            gap++;
        }
    }
    return count;
}

unsigned long long pp__os_pid_rss(long long pid)
{
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, FALSE,
                           (DWORD)pid);
    if (!h)
        return 0;
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    BOOL ok = K32GetProcessMemoryInfo(h, &pmc, sizeof pmc);
    CloseHandle(h);
    return ok ? (unsigned long long)pmc.WorkingSetSize : 0;
}

/* ---- exit statuses that could not be collected ---- */

const char *pp__os_proc_lost_why(const pp__proc *p)
{
    (void)p; /* a process handle always gives the exit code; nothing else reaps it */
    return NULL;
}

/* ---- a worker's crash report ---- */

/*
 * An unhandled exception in a worker: the top-level filter (SetUnhandledExceptionFilter,
 * chained to the one it replaces) captures the stack (CaptureStackBackTrace), names each
 * frame with DbgHelp's SymFromAddr where dbghelp.dll loads (else module+offset), hands it to
 * the core, and returns EXCEPTION_CONTINUE_SEARCH: the process dies of the exception as
 * before (its exit code is the exception code). abort() raises SIGABRT through the C
 * runtime, not an exception: a SIGABRT handler reports it (code 22), then exits with code 3
 * as the default action does. SetThreadStackGuarantee leaves the filter room after a stack
 * overflow on the worker's main thread.
 */
#define CRASH_FRAMES 48
#define CRASH_TEXT (12u * 1024u)
typedef BOOL(WINAPI *sym_initialize_fn)(HANDLE, PCSTR, BOOL);
typedef BOOL(WINAPI *sym_from_addr_fn)(HANDLE, DWORD64, PDWORD64, PSYMBOL_INFO);
static pp__crash_fn crash_fn;
static LPTOP_LEVEL_EXCEPTION_FILTER crash_prev;
static volatile LONG crash_entered;
static char crash_text[CRASH_TEXT];
static sym_from_addr_fn sym_from_addr;

/* DbgHelp, loaded when a crash is reported (not at every worker's start), with deferred
 * symbol loads: only the modules of the frames named are read (SymInitialize reading every
 * module's symbols took over 10 s under Wine). */
static void crash_load_dbghelp(void)
{
    HMODULE dbghelp = LoadLibraryW(L"dbghelp.dll");
    if (!dbghelp)
        return;
    typedef DWORD(WINAPI * sym_set_options_fn)(DWORD);
    sym_set_options_fn set_options =
        (sym_set_options_fn)(void (*)(void))GetProcAddress(dbghelp, "SymSetOptions");
    if (set_options)
        set_options(SYMOPT_DEFERRED_LOADS | SYMOPT_UNDNAME);
    sym_initialize_fn init =
        (sym_initialize_fn)(void (*)(void))GetProcAddress(dbghelp, "SymInitialize");
    sym_from_addr_fn from =
        (sym_from_addr_fn)(void (*)(void))GetProcAddress(dbghelp, "SymFromAddr");
    if (init && from && init(GetCurrentProcess(), NULL, TRUE))
        sym_from_addr = from;
}

static size_t crash_trace(void)
{
    void *frames[CRASH_FRAMES];
    USHORT n = CaptureStackBackTrace(1, CRASH_FRAMES, frames, NULL);
    crash_load_dbghelp();
    size_t len = 0;
    union {
        SYMBOL_INFO info;
        char        room[sizeof(SYMBOL_INFO) + 256];
    } sym;
    for (USHORT i = 0; i < n && len + 1 < sizeof crash_text; i++) {
        char module[MAX_PATH] = "?";
        HMODULE mod = NULL;
        uintptr_t base = 0;
        if (GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                   GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                               (LPCSTR)frames[i], &mod) &&
            GetModuleFileNameA(mod, module, sizeof module)) {
            base = (uintptr_t)mod;
        }
        const char *slash = strrchr(module, '\\');
        const char *name = slash ? slash + 1 : module;
        char what[300] = "";
        DWORD64 disp = 0;
        memset(&sym, 0, sizeof sym);
        sym.info.SizeOfStruct = sizeof(SYMBOL_INFO);
        sym.info.MaxNameLen = 255;
        if (sym_from_addr &&
            sym_from_addr(GetCurrentProcess(), (DWORD64)(uintptr_t)frames[i], &disp, &sym.info))
            snprintf(what, sizeof what, " %s+0x%llx", sym.info.Name, (unsigned long long)disp);
        int k = snprintf(crash_text + len, sizeof crash_text - len, "#%u %s+0x%llx%s [%p]\n",
                         (unsigned)i, name,
                         (unsigned long long)((uintptr_t)frames[i] - base), what, frames[i]);
        if (k < 0)
            break;
        len += (size_t)k < sizeof crash_text - len ? (size_t)k : sizeof crash_text - len - 1;
    }
    return len;
}

static void crash_report(int code)
{
    if (InterlockedExchange(&crash_entered, 1) != 0)
        return; /* a fault inside the report, or a second thread: only the first speaks */
    size_t len = crash_trace();
    if (crash_fn)
        crash_fn(code, crash_text, len);
}

static LONG WINAPI crash_filter(EXCEPTION_POINTERS *ep)
{
    crash_report((int)ep->ExceptionRecord->ExceptionCode);
    return crash_prev ? crash_prev(ep) : EXCEPTION_CONTINUE_SEARCH;
}

static void crash_on_abort(int sig)
{
    crash_report(sig);
    _exit(3); /* what the default action does: a handler that returned would let the UCRT's
                 abort() go on to __fastfail (exit code 0xC0000409) instead */
}

bool pp__os_crash_hook(pp__crash_fn fn)
{
    if (!fn || crash_fn)
        return crash_fn == fn && fn != NULL;
    ULONG guarantee = 64u * 1024u;
    (void)SetThreadStackGuarantee(&guarantee);
    crash_fn = fn;
    crash_prev = SetUnhandledExceptionFilter(crash_filter);
    signal(SIGABRT, crash_on_abort);
    return true;
}
