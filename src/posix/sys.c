/*
 * POSIX backend: process-wide facts (CPU count, executable path, clock, errors, signals).
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#if defined(__GLIBC__) || defined(__linux__)
#  include <malloc.h>
#elif defined(__APPLE__)
#  include <malloc/malloc.h>
#endif
#include <pthread.h>
#include <sched.h>
#ifdef __linux__
#  include <sys/prctl.h>
#endif
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
#  include <execinfo.h>
#  include <unwind.h>
#  define PP_HAVE_BACKTRACE 1
#else
#  define PP_HAVE_BACKTRACE 0
#endif

#include "posix.h"

pp_status pp__posix_err(pp__oserr *oe, const char *call, int err)
{
    if (oe) {
        oe->call = call;
        oe->code = err;
    }
    return PP_ESYS;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void pp__os_call_once(void (*fn)(void))
{
    pthread_once(&once, fn);
}

int pp__os_cpu_count(void)
{
#ifdef CPU_ALLOC
    /* The affinity mask, grown until the kernel's fits (EINVAL: more than n CPUs). */
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set)
            break;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        int r = sched_getaffinity(0, size, set);
        int count = r == 0 ? CPU_COUNT_S(size, set) : 0;
        int err = errno;
        CPU_FREE(set);
        if (count > 0)
            return count;
        if (r == 0 || err != EINVAL)
            break;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (n > INT_MAX ? INT_MAX : (int)n) : 1;
}

int pp__os_max_workers(void)
{
    return INT_MAX;
}

pp_status pp__os_exepath(char **utf8, pp__oserr *oe)
{
    *utf8 = NULL;
    for (size_t cap = 256; cap <= 65536; cap *= 2) {
        char *buf = pp__malloc(cap);
        if (!buf)
            return PP_ENOMEM;
        ssize_t n = readlink("/proc/self/exe", buf, cap);
        if (n < 0) {
            int err = errno;
            pp__free(buf);
            return pp__posix_err(oe, "readlink(/proc/self/exe)", err);
        }
        if ((size_t)n < cap) {
            buf[n] = 0;
            *utf8 = buf;
            return PP_OK;
        }
        pp__free(buf);
    }
    return pp__posix_err(oe, "readlink(/proc/self/exe)", ENAMETOOLONG);
}

void pp__os_mem_large(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    /* Transparent huge pages, where the system leaves them to madvise (the default on
     * Debian): a 64 MiB payload is then filled with 32 page faults instead of 16384, which
     * in a virtual machine costs more than the copy itself (measured in bench/). Only the
     * 2 MiB-aligned middle of the block can be backed so; malloc serves such sizes from a
     * mapping of their own, so the advice never spills onto other data. */
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(huge - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice: failure changes nothing */
#else
    (void)p;
    (void)len;
#endif
}

#ifdef __GLIBC__
static void (*on_exit_fn)(int status);

static void on_exit_trampoline(int status, void *arg)
{
    (void)arg;
    on_exit_fn(status);
}
#endif

bool pp__os_on_exit(void (*fn)(int status))
{
#ifdef __GLIBC__
    /* on_exit (glibc; also SunOS) is atexit with the exit status */
    on_exit_fn = fn;
    return on_exit(on_exit_trampoline, NULL) == 0;
#else
    (void)fn;
    return false;
#endif
}

void pp__os_mem_prefault(void *p, size_t len)
{
#if defined(MADV_POPULATE_WRITE)
    long v = sysconf(_SC_PAGESIZE); /* (arm64 kernels may use 16 or 64 KiB; once per call
                                       is cheap: a call backs 96 KiB or more) */
    uintptr_t page = v > 0 ? (uintptr_t)v : 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* failure changes nothing */
#else
    (void)p, (void)len;
#endif
}

size_t pp__os_alloc_size(void *p)
{
#if defined(__GLIBC__) || defined(__linux__)
    return malloc_usable_size(p);
#elif defined(__APPLE__)
    return malloc_size(p);
#else
    (void)p;
    return 0;
#endif
}

int64_t pp__os_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pp__os_monotonic_ms(void)
{
    return pp__os_monotonic_ns() / 1000000;
}

void pp__os_yield(void)
{
    sched_yield();
}

void pp__os_precise_timers(void)
{
#ifdef __linux__
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
}

long long pp__os_getpid(void)
{
    return (long long)getpid();
}

/* strerror_r is the GNU one (returns the text) with glibc and _GNU_SOURCE, the XSI one
 * (returns 0 or an error, fills buf) elsewhere, e.g. musl: pick by the type it returns. */
static const char *xsi_text(int r, const char *buf)
{
    return r == 0 ? buf : "Unknown error";
}

static const char *gnu_text(const char *r, const char *buf)
{
    (void)buf;
    return r ? r : "Unknown error";
}

#define STRERROR_TEXT(code, tmp)                                                               \
    _Generic(strerror_r((code), (tmp), sizeof(tmp)), int: xsi_text, default: gnu_text)(       \
        strerror_r((code), (tmp), sizeof(tmp)), (tmp))

char *pp__os_strerror(const pp__oserr *oe, char *buf, size_t cap)
{
    if (!buf || !cap)
        return buf;
    if (!oe) {
        snprintf(buf, cap, "?");
        return buf;
    }
    char tmp[256];
    tmp[0] = 0;
    int code = oe->code >= INT_MIN && oe->code <= INT_MAX ? (int)oe->code : -1;
    const char *text = STRERROR_TEXT(code, tmp);
    snprintf(buf, cap, "%s: (%lld) %s", oe->call ? oe->call : "?", oe->code, text);
    return buf;
}

const char *pp__os_signal_name(int sig)
{
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGCHLD: return "SIGCHLD";
    case SIGCONT: return "SIGCONT";
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGPROF: return "SIGPROF";
    case SIGSYS: return "SIGSYS";
#ifdef SIGWINCH
    case SIGWINCH: return "SIGWINCH";
#endif
#ifdef SIGIO
    case SIGIO: return "SIGIO";
#endif
#ifdef SIGPWR
    case SIGPWR: return "SIGPWR";
#endif
#ifdef SIGSTKFLT
    case SIGSTKFLT: return "SIGSTKFLT";
#endif
    default: return NULL;
    }
}

const char *pp__os_exit_name(int code)
{
    (void)code;
    return NULL;
}

size_t pp__os_handle_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.')
                n++;
        }
        closedir(d);
        return n ? n - 1 : 0; /* not the directory's own descriptor */
    }
    size_t n = 0;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 0; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        n += fcntl((int)fd, F_GETFD) != -1;
    return n;
}

unsigned long long pp__os_pid_rss(long long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/statm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* no /proc, or the process is gone */
    unsigned long long size = 0, resident = 0;
    int got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return got == 2 && page > 0 ? resident * (unsigned long long)page : 0;
}

/* ---- a worker's crash report ---- */

/* The signals of a crash: the hook reports them, then the process dies of them as before. */
static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define CRASH_FRAMES 48
#define CRASH_ALTSTACK (64u * 1024u)
#define CRASH_TEXT (12u * 1024u)
static pp__crash_fn crash_fn;
static int crash_pipe[2] = {-1, -1}; /* backtrace_symbols_fd writes here; read back below
                                        (made in the handler: a worker holds no descriptor
                                        but its channel and 0, 1, 2) */
static volatile sig_atomic_t crash_entered;
static char crash_raw[CRASH_TEXT];  /* the symbolised lines, as read back */
static char crash_text[CRASH_TEXT]; /* the same, numbered "#N " */
static unsigned char crash_stack[CRASH_ALTSTACK];

/* Appends the decimal n to out at *pos (bounded by cap). */
static void crash_put_num(char *out, size_t cap, size_t *pos, unsigned n)
{
    char d[12];
    int k = 0;
    do {
        d[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n && k < (int)sizeof d);
    while (k && *pos < cap)
        out[(*pos)++] = d[--k];
}

#if PP_HAVE_BACKTRACE
/* The return addresses of the crashed thread's frames, as _Unwind_Backtrace walks them. */
typedef struct crash_walk {
    void *ip[CRASH_FRAMES];
    int   n;
} crash_walk;

static _Unwind_Reason_Code crash_frame(struct _Unwind_Context *ctx, void *arg)
{
    crash_walk *w = arg;
    if (w->n >= CRASH_FRAMES)
        return _URC_END_OF_STACK;
    uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    w->ip[w->n++] = (void *)ip;
    return _URC_NO_REASON;
}
#endif

/* The backtrace of the crash, one "#N <line>" per frame (the handler's own frame left out),
 * into crash_text; returns its length. Only async-signal-safe calls: the unwinder is
 * libgcc's _Unwind_Backtrace, called directly (glibc's backtrace() would dlopen libgcc_s
 * on its first call, which is not async-signal-safe; linking it costs a worker's start-up
 * far less than loading it there: docs/design.md); backtrace_symbols_fd() does not
 * allocate; pipe() and fcntl() are async-signal-safe; the pipe's ends are non-blocking, so
 * a full pipe cuts the text. */
static size_t crash_trace(void)
{
#if PP_HAVE_BACKTRACE
    if (pipe(crash_pipe) != 0)
        return 0;
    for (int i = 0; i < 2; i++)
        fcntl(crash_pipe[i], F_SETFL, O_NONBLOCK);
    crash_walk walk = {{0}, 0};
    _Unwind_Backtrace(crash_frame, &walk);
    void **frames = walk.ip;
    int n = walk.n;
    if (n <= 1)
        return 0;
    backtrace_symbols_fd(frames + 1, n - 1, crash_pipe[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(crash_pipe[0], crash_raw + got, sizeof crash_raw - got);
        if (r > 0 && (got += (size_t)r) < sizeof crash_raw)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    size_t len = 0;
    unsigned line = 0;
    bool at_start = true;
    for (size_t i = 0; i < got && len < sizeof crash_text; i++) {
        if (at_start) {
            if (len < sizeof crash_text)
                crash_text[len++] = '#';
            crash_put_num(crash_text, sizeof crash_text, &len, line++);
            if (len < sizeof crash_text)
                crash_text[len++] = ' ';
            at_start = false;
        }
        if (len < sizeof crash_text)
            crash_text[len++] = crash_raw[i];
        at_start = crash_raw[i] == '\n';
    }
    return len;
#else
    return 0;
#endif
}

static void on_crash(int sig)
{
    int saved = errno;
    if (!crash_entered) { /* a fault inside the report: just die */
        crash_entered = 1;
        size_t len = crash_trace();
        if (crash_fn)
            crash_fn(sig, crash_text, len);
    }
    /* Die of the same signal: the default action back (SA_RESETHAND did it already; set it
     * again for a sanitizer that intercepts sigaction), the signal unblocked, raised. A
     * hardware fault whose raise did not end the process faults again on return. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
    errno = saved;
}

bool pp__os_crash_hook(pp__crash_fn fn)
{
    if (!fn || crash_fn)
        return crash_fn == fn && fn != NULL;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = crash_stack;
    ss.ss_size = sizeof crash_stack;
    bool alt = sigaltstack(&ss, NULL) == 0;
    crash_fn = fn;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | (alt ? SA_ONSTACK : 0);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++)
        sigaction(crash_sigs[i], &sa, NULL);
    return true;
}
