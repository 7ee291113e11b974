/*
 * The backend interface: everything the platform-neutral core needs from the OS.
 *
 * Implemented twice, in src/posix/ and in src/win32/ (same function names); CMake links
 * exactly one. This is the only OS-facing header the core includes, and it includes no OS
 * header itself. Names are pp__os_*.
 *
 * Error reporting: a function that returns PP_ESYS fills *oe (when oe is not NULL) with the
 * name of the failing call and its errno / GetLastError() value; pp__os_strerror() renders
 * it. Channel and wait-set calls are non-blocking unless noted.
 */
#ifndef PP_OS_H
#define PP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

typedef struct pp__oserr {
    const char *call; /* static string naming the failing OS call, e.g. "posix_spawn" */
    long long   code; /* errno or GetLastError() */
} pp__oserr;

typedef struct pp__proc    pp__proc;    /* a started child process */
typedef struct pp__chan    pp__chan;    /* one end of a duplex byte channel to a worker */
typedef struct pp__waitset pp__waitset; /* the manager's wait-for-multiple set */

/* How a child ended. exited: code is its exit code (Windows: the exit code, which may be an
 * exception code such as 0xC0000005); otherwise signal is the number of the signal that
 * killed it. */
typedef struct pp__exit {
    bool exited;
    int  code;
    int  signal;
} pp__exit;
/* exited false and signal 0: a remote worker (pp__os_remote_worker) whose connection ended;
 * how its process ended is not known here. */
#define PP__EXIT_LOST(st) (!(st)->exited && (st)->signal == 0)

/* ---- process-wide -------------------------------------------------------------------- */

/* Runs fn exactly once per process, whichever thread calls first; other callers wait until
 * it has returned (pthread_once / InitOnceExecuteOnce). There is one such once-flag: the
 * core calls this from a single place, its global initialisation. */
void pp__os_call_once(void (*fn)(void));

/* CPUs this process may use (affinity mask), >= 1. */
int pp__os_cpu_count(void);

/* The largest max_workers this backend supports: INT_MAX on both (memory is the limit;
 * the win32 wait set is not bound by WaitForMultipleObjects' 64 handles). */
int pp__os_max_workers(void);

/* The absolute path of this program's executable, UTF-8, in a buffer the caller frees with
 * pp__free(). */
pp_status pp__os_exepath(char **utf8, pp__oserr *oe);

/* A hint that [p, p+len), just allocated, is a large buffer about to be filled front to
 * back (a payload): where the system can, back it with large pages, so that filling it takes
 * a few page faults instead of one per 4 KiB page. Called by the core's allocator for
 * blocks of PP__BIG_ALLOC bytes and more; a no-op where nothing helps. Never fails. */
#define PP__BIG_ALLOC ((size_t)4 << 20)
void pp__os_mem_large(void *p, size_t len);
/* Backs the whole pages within [p, p + len), memory of the caller's (a heap block it owns,
 * a mapping of a shared segment), in one system call, as a first write to each would
 * (Linux: MADV_POPULATE_WRITE; else, or where the kernel lacks it: nothing). The contents
 * do not change. */
void pp__os_mem_prefault(void *p, size_t len);

/* Has fn(status) called when the process exits through exit(status) (not when it is
 * killed, crashes or calls _exit), before it ends. A worker uses it to announce that a task
 * called exit(). false where the system has no such hook that sees the status (nothing is
 * registered then). */
bool pp__os_on_exit(void (*fn)(int status));

/* In a worker: has fn(code, trace, len) called when the process is about to die of a fault
 * (POSIX: SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT, on an alternate stack so that a stack
 * overflow still reports; Windows: an unhandled exception, code its exception code, and
 * abort()'s SIGABRT, code 22), with its backtrace as text: one line per frame, "#0 ..."
 * first (glibc backtrace_symbols_fd; Windows CaptureStackBackTrace, named with DbgHelp where
 * it loads, else module+offset), len 0 where the system gives none. fn runs in the signal
 * handler (or the exception filter): it may only make async-signal-safe calls. When fn
 * returns, the process dies of the same signal / exception as it would have without the
 * hook. Once per process; false where it cannot be installed. Sanitizer builds install it
 * too: it replaces ASan's / TSan's fault handlers in the worker (both let a program install
 * its own), so a crash is reported the same way in every build. */
typedef void (*pp__crash_fn)(int code, const char *trace, size_t len);
bool pp__os_crash_hook(pp__crash_fn fn);

/* The usable size of a block from malloc(), or 0 where the system cannot tell (then the
 * core keeps no freed block for reuse). */
size_t pp__os_alloc_size(void *p);

/* A monotonic clock in milliseconds (never goes back; origin unspecified). */
int64_t pp__os_monotonic_ms(void);
/* The same clock in nanoseconds (its resolution is the system's: POSIX clock_gettime,
 * Windows QueryPerformanceCounter). Cheap: no system call where the system has a vDSO. */
int64_t pp__os_monotonic_ns(void);

/* Lets another thread that is ready to run on this CPU run first (sched_yield /
 * SwitchToThread); returns at once when there is none. A polling thread calls it between
 * two looks, so that it never holds up a thread it is waiting for. */
void pp__os_yield(void);

/* The calling thread's timed waits end when asked, not up to 50 us later (Linux: its timer
 * slack, PR_SET_TIMERSLACK, made 1 ns; the manager's naps are 100 us). Elsewhere nothing. */
void pp__os_precise_timers(void);

/* The current process id. */
long long pp__os_getpid(void);

/* Writes into buf (capacity cap, always NUL-terminated) the text of oe: for example
 * "posix_spawn: (2) No such file or directory". Returns buf. */
char *pp__os_strerror(const pp__oserr *oe, char *buf, size_t cap);

/* The short name of a signal number, e.g. "SIGKILL", or NULL if unknown (Windows: NULL).
 * On Windows, pp__os_exit_name() names an exception exit code ("EXCEPTION_ACCESS_VIOLATION");
 * on POSIX it returns NULL. */
const char *pp__os_signal_name(int sig);
const char *pp__os_exit_name(int code);

/* The resident set size of process pid in bytes (Linux /proc/<pid>/statm, Windows
 * GetProcessMemoryInfo), or 0 if unknown. */
unsigned long long pp__os_pid_rss(long long pid);

/* Open file descriptors / handles of this process (tests: leak checks). */
size_t pp__os_handle_count(void);

/* ---- processes ------------------------------------------------------------------------ */

/* Starts argv[0] with the given arguments and exactly one inherited channel (plus
 * stdin/stdout/stderr); the backend appends two arguments: the worker marker
 * PP__WORKER_MARKER and a token naming the inherited channel. On PP_OK, *p is the child and
 * *c the parent's end of its channel (non-blocking, close-on-exec). On error nothing is left
 * open. argv is NULL-terminated, UTF-8. */
#define PP__WORKER_MARKER "--procpool-worker"
pp_status pp__os_spawn(const char *const *argv, pp__proc **p, pp__chan **c, pp__oserr *oe);

/* How a worker starts, from pp_executor_options (NULL / 0: as the parent). env: "NAME=value"
 * strings, NULL-ended, set on top of the inherited environment (a later entry for the same
 * name wins). cwd: the worker's working directory (NULL: the parent's; forkserver: the
 * parent's at the time of the request, not the server's). mem_limit: bytes
 * of data (POSIX RLIMIT_DATA, set in the child before the worker loop; Windows the per-worker
 * job's JOB_OBJECT_LIMIT_PROCESS_MEMORY), 0: none. The _ex functions take it; the plain
 * ones start a worker as the parent. */
typedef struct pp__os_wstart {
    const char *const *env;
    const char        *cwd;
    unsigned long long mem_limit;
} pp__os_wstart;
pp_status pp__os_spawn_ex(const char *const *argv, const pp__os_wstart *ws, pp__proc **p,
                          pp__chan **c, pp__oserr *oe);

/* PP_OK if path names a directory this process can enter (pp_executor_create checks
 * worker_cwd with it), else PP_ESYS naming why. */
pp_status pp__os_check_dir(const char *path, pp__oserr *oe);

/* In a worker: finds the marker and token in argv and returns the worker's end of its
 * channel, blocking, and no longer inheritable. PP_END if argv has no marker (not a
 * worker); PP_EINVAL if the token is malformed. */
pp_status pp__os_chan_from_argv(int argc, char **argv, pp__chan **c, pp__oserr *oe);

long long pp__os_proc_pid(const pp__proc *p);

/* Asks (kill=false: SIGTERM / TerminateProcess) or forces (kill=true: SIGKILL /
 * TerminateProcess) the child to stop. A child that has already exited is not an error. */
pp_status pp__os_proc_stop(pp__proc *p, bool kill, pp__oserr *oe);

/* Collects the child's exit status, waiting up to timeout_ms (0: poll; PP_FOREVER).
 * PP_OK: *st is filled, and later calls return the same status. PP_ETIMEDOUT: still alive.
 * Reaps exactly this child (waitpid(pid), never -1). */
pp_status pp__os_proc_reap(pp__proc *p, long timeout_ms, pp__exit *st, pp__oserr *oe);

/* Why the exit status of p could not be collected, after pp__os_proc_reap failed: a static
 * sentence such as "SIGCHLD is ignored in this process, so the system discarded it", or
 * NULL when the backend cannot tell. */
const char *pp__os_proc_lost_why(const pp__proc *p);

/* Frees p. If the child has not been reaped, it is killed and reaped first. NULL: no-op. */
void pp__os_proc_free(pp__proc *p);

/* ---- remote workers (POSIX only; the MPI add-on) ------------------------------------------ */

/* A worker process that this process did not start (an MPI rank, possibly on another host),
 * connected by the stream socket sock (a file descriptor; it becomes the channel's, which
 * closes it). On PP_OK, *c is the parent's end of the channel (non-blocking, close-on-exec)
 * and *p stands for the process pid: its death is seen as the channel's EOF (no exit
 * sentinel, no exit status: a reaped remote worker's pp__exit is PP__EXIT_LOST);
 * pp__os_proc_stop shuts the connection down (the worker exits at its next read), and with
 * kill, when local is true (same host), also sends SIGKILL to pid; pp__os_proc_reap
 * returns PP_OK once the connection has ended (or was shut down here), and never signals.
 * desc ("rank 2 on host node7", copied) names it in error messages (pp__os_proc_desc).
 * On error sock is closed. Windows: PP_ENOTSUP (sock untouched). */
pp_status pp__os_remote_worker(intptr_t sock, long long pid, bool local, const char *desc,
                               pp__proc **p, pp__chan **c, pp__oserr *oe);

/* In a worker that reached its parent through a socket (MPI rank): the worker's end of the
 * channel, blocking, owning sock. Windows: PP_ENOTSUP. */
pp_status pp__os_chan_from_socket(intptr_t sock, pp__chan **c, pp__oserr *oe);

/* The description given to pp__os_remote_worker, or NULL for a local child. */
const char *pp__os_proc_desc(const pp__proc *p);

/* ---- fork and forkserver (POSIX only) --------------------------------------------------- */

/* What a forked worker runs: the worker loop on its channel. Never returns. */
typedef void (*pp__serve_fn)(pp__chan *c);

/* Whether this backend has the fork and forkserver start methods (POSIX: true, Windows:
 * false, and the three functions below return PP_ENOTSUP / PP_END). */
bool pp__os_fork_supported(void);

/* Forks a worker from the calling thread, without exec. In the child: its channel becomes
 * its only descriptor besides 0, 1 and 2, signals are as a spawned worker's, and serve runs
 * (it never returns). In the parent: PP_OK with *p, *c as pp__os_spawn gives them. */
pp_status pp__os_fork(pp__serve_fn serve, pp__proc **p, pp__chan **c, pp__oserr *oe);
pp_status pp__os_fork_ex(pp__serve_fn serve, const pp__os_wstart *ws, pp__proc **p,
                         pp__chan **c, pp__oserr *oe);

/* Asks the forkserver of `program` for a new worker, starting that server first if this
 * process has none for it yet (one server per worker program, for the life of the process;
 * it exits when its channel to this process closes, that is when the process ends). The
 * worker is the server's child: *p's exit status comes from the server, and *p can be
 * stopped but is reaped by the server. Same results as pp__os_spawn. */
pp_status pp__os_forkserver_spawn(const char *program, pp__proc **p, pp__chan **c,
                                  pp__oserr *oe);
pp_status pp__os_forkserver_spawn_ex(const char *program, const pp__os_wstart *ws,
                                     pp__proc **p, pp__chan **c, pp__oserr *oe);

/* In pp_worker_main: if argv says that this process is a forkserver, runs prepare once (what
 * every child would otherwise do for itself and inherits by fork instead: its exit and crash
 * hooks), then serves fork requests (each child runs serve) until its parent goes, then
 * exits: it never returns. PP_END if this process is not a forkserver. */
#define PP__FORKSERVER_MARKER "--procpool-forkserver"
pp_status pp__os_forkserver_main(int argc, char **argv, void (*prepare)(void),
                                 pp__serve_fn serve, pp__oserr *oe);

/* ---- channels ------------------------------------------------------------------------- */

/* Read / write up to cap / len bytes. PP_OK with *n > 0: bytes moved. PP_OK with *n == 0:
 * would block (non-blocking channels only): retry after the wait set reports the channel.
 * PP_END: the peer is gone (EOF, broken pipe): never raises SIGPIPE. PP_ESYS otherwise.
 * A blocking channel (a worker's) blocks until at least one byte moves. */
pp_status pp__os_chan_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe);
pp_status pp__os_chan_write(pp__chan *c, const void *buf, size_t len, size_t *n,
                            pp__oserr *oe);

/* On a blocking channel (a worker's): reads what is there without waiting. PP_OK with
 * *n == 0: nothing yet; otherwise as pp__os_chan_read. A worker polls with it for a while
 * before it blocks (spin.h). */
pp_status pp__os_chan_try_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe);

/* Waits until the channel has bytes or EOF to read, or timeout_ms pass; reads nothing.
 * Only where pp__os_on_exit() works (a worker waits there for the manager's answer to its
 * exit announcement); elsewhere it returns at once. */
void pp__os_chan_wait_readable(pp__chan *c, int timeout_ms);

/* Worker, when its frames come through the shared block's rings (ring.h: the channel then
 * carries only wake-up bytes and descriptors): waits until the descriptor sent for the
 * frame being read has arrived, taking the wake-up bytes there (POSIX; Windows: nothing
 * travels that way, PP_OK at once). PP_END if the channel ends first. */
pp_status pp__os_chan_await_fd(pp__chan *c);

/* Closes and frees the channel. NULL: no-op. */
void pp__os_chan_free(pp__chan *c);

/* ---- shared memory with a worker ------------------------------------------------------- */

/* A block of memory shared by the manager and one worker (the worker's "should stop"
 * flag lives there). The parent creates it zero-filled and mapped; pp__os_shm_share makes
 * it reachable by the worker through its channel; the worker maps it with pp__os_shm_open
 * when it reads the SHM frame that carries the token. Nothing of it outlives both
 * processes: POSIX memfd (no name), Windows an unnamed file mapping. */
typedef struct pp__shm pp__shm;

/* populate: its pages are backed at once (payload segments, about to be filled; POSIX:
 * fallocate, then the mapping filled a piece at a time, so that no other thread of the
 * process waits on its address-space lock meanwhile: src/posix/shm.c), else when first
 * touched (the per-worker block: mostly never). */
pp_status pp__os_shm_create(size_t size, bool populate, pp__shm **s, pp__oserr *oe);
void     *pp__os_shm_addr(const pp__shm *s);
void      pp__os_shm_free(pp__shm *s); /* unmaps and closes; NULL: no-op */

/* Parent: makes s reachable by the worker p whose channel (parent's end) is c, and gives
 * the token to put in the SHM frame. POSIX: the descriptor travels with the first byte
 * written next on c (SCM_RIGHTS), so the SHM frame must be the next thing written; token 0.
 * Windows: the handle is duplicated into p; the token is its value there. PP_ENOTSUP for
 * a channel that cannot carry it (a remote worker's). */
pp_status pp__os_shm_share(pp__shm *s, pp__proc *p, pp__chan *c, uint64_t *token,
                           pp__oserr *oe);

/* Worker: maps the block announced by a SHM frame with this token (POSIX: the descriptor
 * that arrived on c with the frame). At least size bytes; pages backed when touched. */
pp_status pp__os_shm_open(pp__chan *c, uint64_t token, size_t size, pp__shm **s,
                          pp__oserr *oe);

/* Payload segments (seg.c, docs/design.md "Large payloads through shared memory") are the
 * same objects: created with pp__os_shm_create (POSIX: not inherited by a fork), shared
 * with pp__os_shm_share, announced by a SEG frame. */

/* Parent: s travels with the next byte written on c. Called when the frame that announces
 * it starts to be written (POSIX: its descriptor, by SCM_RIGHTS; Windows: nothing, the
 * token pp__os_shm_share gave carries it). */
void pp__os_shm_attach(pp__shm *s, pp__chan *c);

/* Worker: maps a segment announced by a SEG frame, as pp__os_shm_open, but keeps what a
 * later pp__os_shm_resize needs (POSIX: the descriptor). populate: as pp__os_shm_create's
 * (the worker populates every segment: a CALL in it is read whole at once, a result segment
 * handed out again is written about as far as before). */
pp_status pp__os_shm_adopt(pp__chan *c, uint64_t token, size_t size, bool populate,
                           pp__shm **s, pp__oserr *oe);

/* Worker: the segment a SEG frame announces is mapped here already: closes what came with
 * the frame (POSIX: the descriptor; Windows: the duplicated handle). */
void pp__os_shm_drop(pp__chan *c, uint64_t token);

/* As pp__os_shm_create, for a segment that may later grow (pp__os_shm_resize) up to most
 * bytes (a result segment). Windows: the section is reserved at max(size, most) and size
 * bytes of it committed (a file mapping cannot change its size). POSIX: the same as
 * pp__os_shm_create (a memfd grows to any size). */
pp_status pp__os_shm_create_max(size_t size, size_t most, bool populate, pp__shm **s,
                                pp__oserr *oe);

/* Maps s at size bytes (the address may change). grow: the memory is first made that long
 * (a worker whose result is larger than its segment), its new part backed as
 * pp__os_shm_create's populate does; else it is already (the other side grew it, and its
 * pages exist: they are left to fault in as read). Windows: commits within the section's
 * reservation; PP_ENOTSUP above it (pp__os_shm_max). */
pp_status pp__os_shm_resize(pp__shm *s, size_t size, bool grow, pp__oserr *oe);
size_t    pp__os_shm_size(const pp__shm *s);

/* The most s can be resized to: POSIX SIZE_MAX; Windows the section's reserved size. */
size_t    pp__os_shm_max(const pp__shm *s);

/* ---- the wait set --------------------------------------------------------------------- */

enum {
    PP__EV_READ = 1,  /* the channel has bytes, EOF or an error: read it */
    PP__EV_WRITE = 2, /* the channel can take bytes (or is broken): write it */
    PP__EV_EXIT = 4,  /* the process has exited (or may have: reap it to know) */
    PP__EV_WAKE = 8   /* pp__os_waitset_wake() was called (tag is NULL) */
};
typedef struct pp__event {
    void    *tag;
    unsigned events;
} pp__event;

/* A wait set holds a wakeup plus any number of channels and processes, each with a tag
 * (not NULL) given back in its events. Used by one thread (the manager), except
 * pp__os_waitset_wake(), which any thread may call at any time until the set is freed. */
pp_status pp__os_waitset_create(pp__waitset **ws, pp__oserr *oe);

/* Adds the channel, or changes its interest (PP__EV_READ | PP__EV_WRITE). A channel whose
 * peer has gone is reported readable (and writable, if asked) so that the read / write
 * returns PP_END. */
pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag);

/* Adds the process as an exit sentinel. A backend without an exact sentinel (the channel
 * breaking is the sentinel) may do nothing and return PP_OK. */
pp_status pp__os_waitset_proc(pp__waitset *ws, pp__proc *p, void *tag);

/* Removes every channel and process registered with this tag. */
void pp__os_waitset_remove(pp__waitset *ws, void *tag);

/* Wakes the waiting thread; wakes coalesce. Any thread; async-safe enough for callbacks. */
void pp__os_waitset_wake(pp__waitset *ws);

/* Waits up to timeout_ms (PP_FOREVER: no limit) for events, writes at most cap of them to
 * out (one pp__event per tag, events or-ed), and sets *n (0: timeout). A wakeup is
 * consumed when reported. */
pp_status pp__os_waitset_wait(pp__waitset *ws, long timeout_ms, pp__event *out, size_t cap,
                              size_t *n, pp__oserr *oe);

/* pp__os_waitset_wait for at most timeout_us microseconds (the manager's nap: docs/
 * design.md, "Naps"). PP_ENOTSUP where the backend's waits are not that fine (Windows: its
 * waits end on the system timer's tick, 1-16 ms; POSIX without ppoll: whole milliseconds):
 * the manager then never naps. */
pp_status pp__os_waitset_nap(pp__waitset *ws, long timeout_us, pp__event *out, size_t cap,
                             size_t *n, pp__oserr *oe);

/* Frees the set (not the channels and processes in it). NULL: no-op. */
void pp__os_waitset_free(pp__waitset *ws);

/* ---- readiness notifiers (pp_as_completed_fd / pp_as_completed_handle) --------------- */

/* Something an application's event loop can wait on, set while an as_completed iterator has
 * a future ready: POSIX a descriptor that polls readable (eventfd, else a pipe's read end),
 * Windows a manual-reset event. Created unset. set and clear are idempotent, never block,
 * and may be called by any thread (the core calls them under pp__flock). */
typedef struct pp__notifier pp__notifier;
pp_status pp__os_notifier_create(pp__notifier **n, pp__oserr *oe);
void      pp__os_notifier_set(pp__notifier *n);
void      pp__os_notifier_clear(pp__notifier *n);
/* The descriptor (POSIX) or HANDLE (Windows), owned by n. */
intptr_t  pp__os_notifier_handle(const pp__notifier *n);
void      pp__os_notifier_free(pp__notifier *n); /* NULL: no-op */

/* The core's side (wait.c), called by the backend's public pp_as_completed_fd (POSIX) or
 * pp_as_completed_handle (Windows), which is all each backend adds: its notifier, created
 * at the first call and set according to the iterator's state; *h gets its handle. On
 * failure, pp_last_error() is set, naming func. */
pp_status pp__as_completed_notifier(pp_as_completed *it, const char *func, intptr_t *h);

#endif /* PP_OS_H */
