/*
 * procpool: a pool of worker processes for C programs, with futures, wait, as_completed and
 * map: CPython's concurrent.futures.ProcessPoolExecutor, in C11, for POSIX and Windows.
 *
 * This is the only installed header. It includes no APR or OS header.
 *
 * How a program uses it:
 *
 *     int main(int argc, char **argv) {
 *         pp_register_task("square", square);      // in parent and workers alike
 *         pp_worker_main(argc, argv);              // in a worker: serves, never returns
 *         pp_executor *ex;
 *         pp_executor_create(NULL, &ex);
 *         pp_future *f;
 *         pp_submit(ex, "square", &x, sizeof x, &f);
 *         pp_buf r;
 *         pp_future_result(f, PP_FOREVER, &r);
 *         pp_future_release(f);
 *         pp_executor_destroy(ex);
 *     }
 *
 * Conventions that hold for every function below:
 * - Every function checks its arguments and returns PP_EINVAL (or does nothing, for the
 *   void ones) rather than crashing on NULL or out-of-range input.
 * - On any error, out-parameters are set to NULL / 0 and nothing is left allocated.
 * - Everything passed in is copied (task names, arguments, initargs, results); the caller
 *   keeps its buffers.
 * - Byte buffers handed out (a task's argument, a future's result) have no alignment
 *   guarantee: copy values out with memcpy rather than casting the pointer.
 * - Timeouts are milliseconds. PP_FOREVER waits without limit; 0 polls; any other negative
 *   value is PP_EINVAL.
 * - Every destructor-like function (release, free, end, destroy) accepts NULL as a no-op.
 */
#ifndef PROCPOOL_H
#define PROCPOOL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @def PP_API
 * Marks the functions the library exports. Nothing for a user to do: on Windows it is
 * dllimport when PP_SHARED is defined (the CMake target procpool::procpool defines it for its
 * users; define it yourself when linking the DLL otherwise), nothing for the static library;
 * elsewhere it gives the function default visibility.
 */
#if defined(_WIN32) && defined(PP_SHARED)
#  if defined(PP_BUILDING)
#    define PP_API __declspec(dllexport)
#  else
#    define PP_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define PP_API __attribute__((visibility("default")))
#else
#  define PP_API
#endif

/**
 * @def PP_PRINTF(fmt, args)
 * Lets GCC and Clang check a printf-like function's format (argument @p fmt) against its
 * arguments (from @p args on), as for pp_task_error(); empty for other compilers.
 */
#if defined(__MINGW32__) && !defined(__clang__)
/* The library formats with a C99 vsnprintf: check against GNU printf, not msvcrt's (clang
 * has no gnu_printf, and checks printf against C99 anyway). */
#  define PP_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#elif defined(__GNUC__) || defined(__clang__)
#  define PP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define PP_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------------------------ */
/* Version                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * The version of this header: major.minor.patch. CMakeLists.txt's project(VERSION) must say
 * the same (the configure step fails otherwise), and the test suite checks that pp_version()
 * of the library it links returns exactly these numbers.
 *
 * Compatibility (the rule the shared library's SONAME follows):
 * - From 1.0 on, the major version is the ABI: libprocpool.so.MAJOR. A minor release only
 *   adds (functions, status codes at the end of pp_status, fields at the end of the structs
 *   the library fills in, see pp_executor_options); a major release may break binaries.
 * - Before 1.0 (now), the minor version is the ABI: 0.1 and 0.2 are incompatible, and the
 *   SONAME is libprocpool.so.0.MINOR (libprocpool.so.0.2 here; Debian's package libprocpool0.2).
 *   A patch release never changes the ABI.
 */
#define PP_VERSION_MAJOR 0  /**< major version of this header */
#define PP_VERSION_MINOR 2  /**< minor version of this header */
#define PP_VERSION_PATCH 0  /**< patch version of this header */

/* The v0.1 names of the same three numbers, kept for source compatibility. */
#define PROCPOOL_VERSION_MAJOR PP_VERSION_MAJOR /**< same as PP_VERSION_MAJOR (v0.1 name) */
#define PROCPOOL_VERSION_MINOR PP_VERSION_MINOR /**< same as PP_VERSION_MINOR (v0.1 name) */
#define PROCPOOL_VERSION_PATCH PP_VERSION_PATCH /**< same as PP_VERSION_PATCH (v0.1 name) */

/**
 * Returns the version of the procpool library actually loaded (which, with the shared
 * library, may differ from the header the program was compiled with): a program can compare
 * it with PP_VERSION_MAJOR / PP_VERSION_MINOR at start-up and refuse to run against a
 * library whose ABI differs (a different minor while the major is 0). Any pointer may be
 * NULL: that number is not stored.
 *
 * Thread-safety: any thread, at any time (even before anything else of procpool).
 */
PP_API void pp_version(int *major, int *minor, int *patch);

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                               */
/* ------------------------------------------------------------------------------------------ */

/**
 * The list of status codes, from which pp_status, pp_status_str(), pp_strerror() and the
 * library's other tables of codes are generated (libuv's UV_ERRNO_MAP is the model).
 *
 * One row per code: XX(name, value, fails, text), where
 * - @c name:  the code's name without its PP_ prefix: OK is PP_OK, whose pp_status_str() is
 *             "PP_OK";
 * - @c value: its number, written out so that "append-only" can be checked: a code is never
 *             removed or renumbered, new codes take the next number, at the end;
 * - @c fails: 1 if a future may finish with this code (pp_future_set_error() accepts it),
 *             0 if not (success, end of iteration, and cancellation, which is a state);
 * - @c text:  the sentence pp_strerror() returns.
 *
 * What each code means, and the CPython exception it stands for, is documented at pp_status.
 * An application may expand the list too, for its own table:
 *
 *     #define ROW(name, value, fails, text) case PP_##name: return text;
 *     switch (st) { PP_STATUS_MAP(ROW) }
 */
#define PP_STATUS_MAP(XX)                                                                      \
    XX(OK, 0, 0, "The call succeeded.")                                                        \
    XX(END, 1, 0, "The iteration is over: every result has been returned (not an error).")     \
    XX(EINVAL, 2, 1, "An argument is invalid.")                                                \
    XX(ENOMEM, 3, 1, "Out of memory.")                                                         \
    XX(ETIMEDOUT, 4, 1, "The timeout expired before the operation completed.")                 \
    XX(ECANCELLED, 5, 0, "The future was cancelled before it ran.")                            \
    XX(ESHUTDOWN, 6, 1, "The executor was shut down: it accepts no new work.")                 \
    XX(EBROKEN, 7, 1, "A worker process died abruptly: the pool is broken.")                   \
    XX(ETASK, 8, 1, "The task failed: its error carries its code and text.")                   \
    XX(ENOTASK, 9, 1, "No task is registered under that name.")                                \
    XX(ESTATE, 10, 1, "The operation is not allowed in the current state.")                    \
    XX(ENOTSUP, 11, 1, "The operation is not supported on this platform or with these "        \
                       "options.")                                                             \
    XX(ESYS, 12, 1, "An operating system call failed.")                                        \
    XX(EWORKERDIED, 13, 1, "The worker running this call died: only this call failed.")        \
    XX(ETIMELIMIT, 14, 1, "The call ran past its time limit: its worker was stopped and "      \
                          "replaced.")

/**
 * Result of every fallible procpool call: one constant per row of PP_STATUS_MAP, with the
 * number written there. Append-only: a code is never removed or renumbered.
 *
 * Each code's meaning, with the CPython exception it stands for, is documented just below
 * the enum (one block per code, which Doxygen attaches to the code); pp_strerror() gives its
 * sentence at run time, and pp_last_error() the detail of one failure.
 */
typedef enum pp_status {
#define PP__STATUS_ENUM(name, value, fails, text) PP_##name = value,
    PP_STATUS_MAP(PP__STATUS_ENUM)
#undef PP__STATUS_ENUM
} pp_status;
/** @var PP_OK
 *  0: success. */
/** @var PP_END
 *  1: an iterator (map, as_completed) is exhausted; not an error. */
/** @var PP_EINVAL
 *  2: an invalid argument; pp_last_error() says which and why (ValueError, TypeError). */
/** @var PP_ENOMEM
 *  3: out of memory (MemoryError). */
/** @var PP_ETIMEDOUT
 *  4: the timeout expired (TimeoutError). */
/** @var PP_ECANCELLED
 *  5: the future was cancelled (CancelledError). */
/** @var PP_ESHUTDOWN
 *  6: the executor was shut down (RuntimeError). */
/** @var PP_EBROKEN
 *  7: a worker died abruptly: the pool is broken (BrokenProcessPool). */
/** @var PP_ETASK
 *  8: the task failed; details in its pp_error (the task's exception). */
/** @var PP_ENOTASK
 *  9: no task is registered under that name. */
/** @var PP_ESTATE
 *  10: not allowed in this state (InvalidStateError). */
/** @var PP_ENOTSUP
 *  11: not supported here (fork on Windows, ...). */
/** @var PP_ESYS
 *  12: an OS call failed; the pp_error or pp_last_error() names the call and its error
 *  (OSError). */
/** @var PP_EWORKERDIED
 *  13: the worker running this call died; only this call failed (crash policy ISOLATE, or
 *  RETRY after its retries); its pp_error names the pid, the exit status or signal, and the
 *  task. */
/** @var PP_ETIMELIMIT
 *  14: the call ran past its time limit; its worker was stopped and replaced. */

/**
 * Returns a short, constant, human-readable name for @p s ("PP_OK", "PP_EBROKEN", ...).
 *
 * Never returns NULL: an unknown value gives "PP_UNKNOWN". Thread-safety: any thread.
 * CPython: the exception class name.
 */
PP_API const char *pp_status_str(pp_status s);

/**
 * Returns a constant sentence that explains @p s ("The timeout expired before the operation
 * completed."): the text of its row in PP_STATUS_MAP.
 *
 * Never returns NULL: an unknown value gives a sentence that says the code is unknown.
 * For the detail of one failure (which argument, which OS call), see pp_last_error() and
 * pp_error.message. Thread-safety: any thread. CPython: str() of the exception class's
 * usual text; C: strerror().
 */
PP_API const char *pp_strerror(pp_status s);

/**
 * Returns the text of the last failure of a procpool call on this thread, or "" if none has
 * failed on this thread yet: which argument was invalid and why, which OS call failed and
 * its error, why the pool is broken.
 *
 * Like errno: each failing call (one that returns a status other than PP_OK, and other
 * than PP_END at the end of an iteration) sets it, and a successful call leaves it as it
 * was, so read it right after the failure. The text names the function that failed, for
 * example "pp_submit: invalid argument: task != NULL"; a call's own failure returned by
 * pp_future_result() or pp_map_next() gives its status and message ("pp_future_result: the
 * call failed (PP_ETASK): ..."). It is at most 511 bytes (a longer one is cut and ends with
 * "..."). Functions without a status (those returning void, bool or a count) never set it.
 * Never NULL: the pointer is to this thread's own buffer, which the thread's next failing
 * call overwrites; copy the text to keep it.
 * Thread-safety: any thread; each thread has its own text. CPython: str() of the exception.
 */
PP_API const char *pp_last_error(void);

/**
 * Why a future failed.
 *
 * Owned by the future it came from: valid while the caller holds a reference to that future
 * (or, from pp_map_next(), until the next pp_map_next() / pp_map_free()).
 */
typedef struct pp_error {
    pp_status   status;   /**< PP_ETASK, PP_EBROKEN, PP_ENOTASK, PP_ESYS, ... */
    int         code;     /**< PP_ETASK: the task's nonzero return value;
                               PP_EBROKEN: the dead worker's exit code, or minus its signal */
    long long   pid;      /**< the worker involved, 0 if none */
    const char *message;  /**< never NULL: the task's text (pp_task_error()), or for example
                               "worker 4242 killed by signal 9 (SIGKILL) running 'decode'
                               (work 17)". A worker that dies of a fault (SIGSEGV, SIGBUS,
                               SIGILL, SIGFPE, SIGABRT; Windows: an unhandled exception or
                               abort()) reports it itself before it dies, and the message
                               goes on with "; its backtrace:" and one line per frame
                               ("#0 ...").
                               An exit status that could not be collected (the application
                               ignores SIGCHLD) is never guessed: the signal the worker
                               reported stands in, else the message says it is unknown and
                               why */
    unsigned long long work_id; /**< the id of the call this error belongs to, as "(work N)"
                               in crash messages (a map item: its chunk's call), so that an
                               application can match a crash to its input without parsing
                               text; 0 if none (a future not from an executor) */
} pp_error;

/** A borrowed byte buffer: @c data may be NULL when @c len is 0. */
typedef struct pp_buf {
    const void *data;  /**< the first byte (no alignment promised); may be NULL if len is 0 */
    size_t      len;   /**< the number of bytes */
} pp_buf;

/** Timeout value meaning "no limit". Timeouts are milliseconds. */
#define PP_FOREVER (-1L)

/* ------------------------------------------------------------------------------------------ */
/* Tasks: registered by name in the parent and in every worker; run inside a worker           */
/* ------------------------------------------------------------------------------------------ */

/** The context of one running call, valid only during that call, inside a worker. */
typedef struct pp_task_ctx pp_task_ctx;

/**
 * A task function. It runs in a worker process with the argument bytes of one call.
 *
 * Return 0 for success (the result is what pp_task_return() set, or no bytes), or nonzero
 * for failure ("raise"): that value becomes pp_error.code of a PP_ETASK error whose message
 * is what pp_task_error() set. A task that calls pp_task_return() and then returns nonzero
 * has failed. A task that calls pp_task_error() and then returns 0 has succeeded.
 *
 * Processes a task starts die with its worker: whenever the worker ends (a crash, a time
 * limit, pp_future_abort(), pp_executor_stop(), terminate / kill_workers, a broken pool,
 * shutdown) and when the parent process dies, even by SIGKILL. POSIX: each worker leads a
 * process group of its own, which is killed (so a worker does not get the terminal's
 * Ctrl-C: the application decides; and a task that reads a terminal it shares with the
 * application is stopped by SIGTTIN, as a background job is); Windows: each worker has a
 * job object of its own. What a
 * task deliberately detaches is its own: a process that leaves the group (setsid() or
 * setpgid(), usually with a double fork) or that is started with
 * CREATE_BREAKAWAY_FROM_JOB. Linux: the parent-death part relies on the worker's handler
 * of SIGSTKFLT (its parent-death signal): a task must not block it in every thread nor take
 * it over.
 */
typedef int (*pp_task_fn)(pp_task_ctx *ctx, const void *arg, size_t len);

/**
 * Sets the result bytes of the running call (copied; a second call replaces the first).
 *
 * Thread-safety: only from the task's own thread, during the call.
 * CPython: the task's return value.
 *
 * @retval PP_OK      stored
 * @retval PP_EINVAL  @p ctx is NULL, or @p data is NULL and @p len > 0
 * @retval PP_ENOMEM  out of memory (the call will fail with PP_ENOMEM in the parent)
 */
PP_API pp_status pp_task_return(pp_task_ctx *ctx, const void *data, size_t len);

/**
 * Sets the failure text of the running call, printf-style (a second call replaces the
 * first). The text is what the parent sees as pp_error.message if the task then returns
 * nonzero. Texts longer than 64 KiB are truncated and end with "...[truncated]".
 *
 * Thread-safety: only from the task's own thread, during the call.
 * CPython: the exception's text and traceback.
 *
 * @retval PP_OK      stored
 * @retval PP_EINVAL  @p ctx or @p fmt is NULL
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_task_error(pp_task_ctx *ctx, const char *fmt, ...) PP_PRINTF(2, 3);

/**
 * True once the parent has asked the running call to stop: its time limit passed
 * (call_time_limit_ms, pp_call_options.time_limit_ms), pp_future_abort(), or
 * pp_executor_stop(). A long task checks it now and then and returns early; if it has not
 * returned when the executor's stop_grace_ms has passed, its worker is killed and replaced.
 * Costs no system call: one load from memory the worker shares with its manager. False in
 * an initializer, for @p ctx NULL, and for a worker that has no such memory (a remote MPI
 * worker: there the time limit only kills).
 *
 * Thread-safety: any thread of the worker, during the call.
 */
PP_API bool pp_task_should_stop(pp_task_ctx *ctx);

/**
 * Registers @p fn under @p name, in this process.
 *
 * Every process of the pool must register the same names: register all tasks before
 * pp_worker_main() (the same code runs in the parent and in a spawned worker). The name is
 * copied. Registering a name again replaces its function.
 *
 * Thread-safety: any thread, but registration must be finished before executors are
 * created. CPython: none (Python pickles functions by qualified name).
 *
 * @retval PP_OK      registered
 * @retval PP_EINVAL  @p name is NULL or empty, or longer than 255 bytes, or @p fn is NULL
 * @retval PP_ESTATE  pp_worker_main() was already called in this process
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_register_task(const char *name, pp_task_fn fn);

/**
 * Serves as a worker if this process was started as one, else returns 0 at once.
 *
 * Call it at the start of main(), after registering tasks and before anything else: in a
 * worker process (recognised by a marker argument the pool adds) it runs the worker loop
 * (read a call, run the task, send the result) and exits the process when the pool tells it
 * to or when its channel to the parent closes; it never returns there. In any other process
 * it returns 0 and closes registration (pp_register_task() then returns PP_ESTATE).
 *
 * A program that starts executors with the spawn or forkserver start method and no
 * pp_executor_options.worker_path must call it: the workers (spawn) or the server that
 * forks them (forkserver, which also runs its loop in here, recognised by its own marker)
 * are this same program. With fork it is not needed.
 *
 * Thread-safety: main thread, once. CPython: multiprocessing's spawn main
 * (--multiprocessing-fork).
 *
 * @return 0 in a process that is not a worker.
 */
PP_API int pp_worker_main(int argc, char **argv);

/* ------------------------------------------------------------------------------------------ */
/* Executor                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** A pool of worker processes and the manager thread that drives them. */
typedef struct pp_executor pp_executor;
/** A reference-counted handle to the result of one call. */
typedef struct pp_future pp_future;
/** The result iterator of pp_map() / pp_map_lazy(). */
typedef struct pp_map_iter pp_map_iter;
/** The iterator of pp_as_completed_begin(). */
typedef struct pp_as_completed pp_as_completed;

/**
 * How workers are started.
 *
 * PP_START_DEFAULT is PP_START_SPAWN on every platform: spawn is the only method that is safe
 * in a program that has threads (forking a threaded process can leave locks held in the
 * child) and the only one Windows has, so the default behaves the same everywhere.
 *
 * - **spawn**: each worker is a new run of a program, this one (found by the library) or
 *   options.worker_path, whose main() calls pp_worker_main() after registering its tasks.
 *   Workers start on demand (a few milliseconds each).
 * - **fork** (POSIX): no program is run. At the first pp_submit() / pp_map(), after queueing
 *   its work, the executor's manager thread forks all max_workers workers, while the
 *   submitting thread waits, before it does anything else; no worker is added later (a pool
 *   with a dead worker is broken anyway). Each worker is a copy of this process: tasks are
 *   still looked up by name, in the copy's registry, and a worker ends with _Exit (no atexit
 *   handler of the application runs in it). Other threads of the application are not copied:
 *   fork only where the locks they hold cannot matter to the tasks (CPython's warning).
 *   max_tasks_per_child and worker_path are PP_EINVAL with fork.
 * - **forkserver** (POSIX): a server process, started once per program (per worker program:
 *   this one, or worker_path) by the first executor that needs a worker, with spawn, so
 *   single-threaded: it has run only the program's task registrations and pp_worker_main().
 *   It forks each worker on request, in well under a millisecond, and hands it its channel.
 *   It lives as long as this process: it exits when its socket to this process closes, that
 *   is when the process ends (even by SIGKILL; a check of its parent every 200 ms is a second
 *   guard),
 *   and a server that died is replaced at the next request. Its workers are its children;
 *   they end with _Exit.
 *
 * - **mpi** (POSIX, the add-on library libprocpool_mpi, include/procpool_mpi.h): the workers
 *   are the other ranks of an MPI job (or of a Slurm-style launch), each connected to this
 *   process by TCP. Only when the program links libprocpool_mpi and has called
 *   pp_mpi_worker_main(); otherwise PP_ENOTSUP. See procpool_mpi.h for what differs
 *   (a static pool: no worker is ever added or replaced).
 *
 * Windows has spawn only: fork, forkserver and mpi are PP_ENOTSUP there.
 */
typedef enum pp_start_method {
    PP_START_DEFAULT,    /**< PP_START_SPAWN */
    PP_START_SPAWN,      /**< start a new program (this one, or worker_path) */
    PP_START_FORK,       /**< POSIX: fork without exec, all workers at the first submit */
    PP_START_FORKSERVER, /**< POSIX: fork from a single-threaded server process */
    PP_START_MPI         /**< the ranks of an MPI job (libprocpool_mpi; else PP_ENOTSUP) */
} pp_start_method;

/**
 * What happens when a worker dies abruptly (it crashes, is killed, calls exit() in a task,
 * or sends a malformed message) while the pool is running.
 *
 * - PP_CRASH_BREAK (the default, CPython's semantics, unchanged): the pool breaks; every
 *   pending and running call fails PP_EBROKEN, later submits get PP_EBROKEN.
 * - PP_CRASH_ISOLATE: only the call that worker was running fails, with PP_EWORKERDIED (its
 *   pp_error as a broken pool's: the pid, the exit code or minus the signal in @c code, the
 *   message naming the task and the work id); the other workers keep their calls, and a new
 *   worker is started when work needs one. A worker that dies while idle is replaced
 *   silently, on demand. A map chunk (pp_map(), pp_map_lazy()) whose worker dies blames
 *   precisely: the items that worker finished keep their results, the item it was running
 *   fails PP_EWORKERDIED (its message names the item: "(work 17, item 3 of its chunk of
 *   10, from 0)"; pp_error.work_id is the chunk's), and the items it had not started run on
 *   another worker. Not for a remote MPI worker (no memory shared with it): there the whole
 *   chunk fails as one call.
 * - PP_CRASH_RETRY: as ISOLATE, but the call runs again on another worker, up to
 *   max_retries more times (at most 1 + max_retries runs, never two at once); then it fails
 *   PP_EWORKERDIED, its message ending "after N retries". Retried tasks must be idempotent:
 *   a call that died half-way may have done part of its work. In a map chunk it is the item
 *   that was running that runs again (with its own count of retries); the items before it
 *   are not run again.
 *
 * Under ISOLATE and RETRY, a failing initializer still breaks the pool, and so do workers
 * that keep dying before they are ready (3 in a row, none ready in between): the cause says
 * so, instead of starting workers for ever. A call whose worker died before it was ready
 * (before its initializer finished) never started: it is given to the next worker, and
 * that is not a retry. Workers signalled by pp_executor_terminate_workers() /
 * pp_executor_kill_workers() fail what they held PP_EBROKEN whatever the policy. Not with
 * PP_START_FORK (a fork pool cannot start a worker later): PP_EINVAL.
 */
typedef enum pp_crash_policy {
    PP_CRASH_BREAK,   /**< default, CPython: a worker that dies breaks the pool */
    PP_CRASH_ISOLATE, /**< the call it held fails PP_EWORKERDIED; the worker is replaced */
    PP_CRASH_RETRY    /**< the call runs again on a new worker, up to max_retries times */
} pp_crash_policy;

/**
 * Executor settings; initialise with pp_executor_options_init().
 *
 * How this struct may grow: new fields are only ever appended at its end, and each new
 * field's zero (as pp_executor_options_init() sets it) keeps the previous behaviour. A
 * program must therefore always call pp_executor_options_init() first, then set the fields it
 * knows: source code written for an older version keeps compiling and behaving the same.
 * Binaries are another matter: the program allocates the struct at the size its header gave,
 * and the library writes and reads it at the size it was built with, so a library whose struct
 * is larger cannot be used by a program compiled against a smaller one. Growing this struct is
 * therefore an ABI break and changes the SONAME (see "Version" above: v0.2 grows it, so
 * v0.2's libprocpool.so.0.2 is not libprocpool.so.0 of v0.1); the dynamic loader refuses the
 * mismatch instead of letting it corrupt memory.
 */
typedef struct pp_executor_options {
    int             max_workers;         /**< 0: pp_cpu_count(); no upper limit but memory */
    pp_start_method start_method;        /**< PP_START_DEFAULT: spawn */
    const char     *worker_path;         /**< spawn, forkserver: the worker program; NULL =
                                              this program (fork: must be NULL) */
    const char     *initializer;         /**< task run once in each new worker, or NULL */
    pp_buf          initargs;            /**< argument bytes of the initializer (copied) */
    int             max_tasks_per_child; /**< a worker exits after this many work items (a map
                                              chunk is one) and is replaced on demand;
                                              0 = unlimited */
    unsigned long long max_message_size; /**< the largest message accepted from a worker (a
                                              result, with its framing), in bytes; a worker
                                              that announces a larger one is killed, before
                                              anything is allocated or mapped for it, and the
                                              pool breaks, naming both sizes.
                                              0 = PP_DEFAULT_MAX_MESSAGE_SIZE */
    pp_crash_policy crash_policy;        /**< a worker that dies: PP_CRASH_BREAK (default)
                                              breaks the pool; see pp_crash_policy */
    int             max_retries;         /**< PP_CRASH_RETRY: how many more runs a call whose
                                              worker died gets (>= 0); must be 0 with the
                                              other policies */
    long            idle_timeout_ms;     /**< a worker idle this long exits (it is not a
                                              death); workers start again on demand, so an
                                              idle pool holds no process. 0 = never.
                                              Not with PP_START_FORK */
    long            call_time_limit_ms;  /**< each call's limit, from when a worker is given
                                              it (map items: each item's, from when it
                                              starts, also within a chunk): past it,
                                              the call is asked to stop
                                              (pp_task_should_stop()), then after
                                              stop_grace_ms its worker is killed and
                                              replaced; the call ends PP_ETIMELIMIT. In a
                                              map chunk, the item running then ends
                                              PP_ETIMELIMIT, the items before it keep their
                                              results, and those after it run again as a
                                              new chunk with a limit of its own. 0 = no
                                              limit. Not with PP_START_FORK */
    long            stop_grace_ms;       /**< how long a call asked to stop (time limit,
                                              pp_future_abort()) has to return before its
                                              worker is killed; 0 = killed at once */
    size_t          max_pending;         /**< flow control: a submit waits while this many
                                              calls are queued and not yet handed out (a map
                                              chunk is one call), up to its submit_wait_ms
                                              (pp_submit(), pp_map(), pp_map_lazy(): without
                                              limit); shutdown or a broken pool wakes it. A
                                              submit from a done callback run by the
                                              executor's own manager thread never waits (it
                                              would wait for itself). 0 = unlimited
                                              (CPython) */
    const char *const *worker_env;       /**< "NAME=value" strings, NULL-ended, set in
                                              every worker on top of the environment it
                                              inherits (a later entry for a name wins), under
                                              every start method (fork and forkserver: set
                                              in the child before anything runs), e.g.
                                              OMP_NUM_THREADS=1. Copied at create. An entry
                                              without '=' or with an empty name:
                                              PP_EINVAL. NULL = the inherited environment */
    const char     *worker_cwd;          /**< the workers' working directory, under every
                                              start method; checked at create (not a
                                              directory this process can enter:
                                              PP_EINVAL); a directory that goes away later
                                              breaks the pool when a worker cannot start
                                              there. NULL = the parent's (forkserver: the
                                              parent's at the time each worker is started,
                                              not the server's, as CPython's spawn
                                              preparation does) */
    unsigned long long worker_memory_limit; /**< hard limit, bytes: each worker's data
                                              (POSIX RLIMIT_DATA: heap and private mappings,
                                              set before the worker loop; Windows: its job's
                                              per-process memory limit). A task that asks for
                                              more gets NULL from malloc; a worker that dies
                                              of it is a crash under crash_policy, and the
                                              message names the limit. Too small a limit
                                              (below what the program needs to start) makes
                                              workers die before they are ready: the pool
                                              breaks. 0 = none */
    unsigned long long max_worker_rss;   /**< soft limit, bytes: after a call, a worker
                                              whose resident set is above it is stopped and
                                              replaced (it fails nothing; workers_started
                                              counts the replacement). Not with
                                              PP_START_FORK. 0 = none */
} pp_executor_options;

/** The default pp_executor_options.max_message_size: 4 GiB. */
#define PP_DEFAULT_MAX_MESSAGE_SIZE (4ull << 30)

/**
 * Fills @p o with the defaults: max_workers 0 (one per CPU), PP_START_DEFAULT, this program
 * as the worker, no initializer, no limit on tasks per child. NULL is a no-op.
 *
 * Thread-safety: any thread.
 */
PP_API void pp_executor_options_init(pp_executor_options *o);

/**
 * Creates an executor. No worker is started yet: workers start on demand, when work is
 * submitted, up to max_workers; an idle worker is always reused before a new one starts
 * (fork: all max_workers at the first submit, see pp_start_method).
 *
 * The options are copied (worker_path, initializer, initargs). On PP_OK, *out holds the
 * executor: destroy it with pp_executor_destroy(). On error, *out is NULL.
 *
 * Large payload buffers are reused while an executor exists, and the pool's threads poll
 * briefly before they sleep, unless every CPU has a worker running a call (docs/design.md
 * says how); the environment variable PROCPOOL_SPIN_US sets the longest poll in
 * microseconds (0: never poll; at most 10000). While workers finish calls every few tens of
 * microseconds, the executor's thread reads their results in batches, at most 16 x that
 * poll (800 us by default) after each arrives, instead of being woken for each (not on
 * Windows; never with PROCPOOL_SPIN_US=0).
 * Calls and results of 256 KiB or more travel through shared memory, not through the
 * worker's channel: written once, read in place by the task, and a result is a view of that
 * memory until its future is released (not for PP_START_MPI or remote workers); the
 * environment variable PROCPOOL_SHM_MIN sets that threshold in bytes (0: never), read once
 * per process. Such memory is reused while an executor exists (up to 1.5 GiB is kept) and
 * none of it outlives the process, however it or a worker ends.
 * Frames between the manager and a local worker travel through rings in memory the two
 * share, with no system call while both are awake; the environment variable PROCPOOL_RING=0
 * keeps them on the worker's channel instead (read once per process).
 *
 * Thread-safety: any thread. CPython: ProcessPoolExecutor(max_workers, mp_context,
 * initializer, initargs, max_tasks_per_child=...).
 *
 * @retval PP_OK       created
 * @retval PP_EINVAL   @p out is NULL; max_workers < 0; an unknown start method or crash
 *                     policy; initargs.data is NULL with initargs.len > 0;
 *                     max_tasks_per_child < 0; max_message_size below 1024 (and not 0);
 *                     max_retries < 0, or > 0 without PP_CRASH_RETRY; fork with
 *                     max_tasks_per_child > 0 (CPython: ValueError), with a worker_path,
 *                     with PP_CRASH_ISOLATE / PP_CRASH_RETRY, or with idle_timeout_ms;
 *                     idle_timeout_ms < 0; a worker_env entry
 *                     without '=' (or with an empty name); a worker_cwd that is not a
 *                     directory; fork with max_worker_rss. pp_last_error() names
 *                     the field and says why
 * @retval PP_ENOTASK  the initializer is not a registered task name
 * @retval PP_ENOTSUP  fork or forkserver on Windows; PP_START_MPI with worker_env,
 *                     worker_cwd, worker_memory_limit or max_worker_rss (mpiexec starts the
 *                     ranks: its own options set their environment and directory)
 * @retval PP_ESTATE   spawn or forkserver with no worker_path, and pp_worker_main() was
 *                     never called in this process (the workers would not know they are
 *                     workers)
 * @retval PP_ENOMEM   out of memory
 * @retval PP_ESYS     the OS refused a thread, lock or pipe
 */
PP_API pp_status pp_executor_create(const pp_executor_options *o, pp_executor **out);

/** Per-call settings of pp_submit_ex(); initialise with pp_call_options_init(). */
typedef struct pp_call_options {
    long time_limit_ms;  /**< 0: the executor's call_time_limit_ms; PP_FOREVER: no limit;
                              else this call's limit in milliseconds (see
                              pp_executor_options.call_time_limit_ms) */
    long submit_wait_ms; /**< with max_pending: how long the submit may wait for room:
                              PP_FOREVER (the default), or milliseconds (0: fail at once);
                              PP_ETIMEDOUT after */
} pp_call_options;

/** Fills @p o with the defaults (time_limit_ms 0, submit_wait_ms PP_FOREVER). NULL: no-op. */
PP_API void pp_call_options_init(pp_call_options *o);

/**
 * pp_submit() with per-call settings (@p co NULL: the defaults). A call's time limit:
 * past it the call is asked to stop, then after the executor's stop_grace_ms its worker is
 * killed and replaced, and the future fails PP_ETIMELIMIT (also when the call returned
 * within the grace: its outcome is dropped); the pool goes on and workers_died does not
 * count it, whatever the crash policy.
 *
 * Thread-safety: any thread.
 *
 * @retval PP_OK, PP_ENOTASK, PP_ESHUTDOWN, PP_EBROKEN, PP_ENOMEM  as pp_submit()
 * @retval PP_ETIMEDOUT  max_pending calls were queued for all of submit_wait_ms
 * @retval PP_EINVAL  as pp_submit(); or a negative time_limit_ms / submit_wait_ms other than
 *                    PP_FOREVER; or a time limit on a PP_START_FORK executor (its workers
 *                    cannot be replaced)
 */
PP_API pp_status pp_submit_ex(pp_executor *ex, const char *task, const void *arg, size_t len,
                              const pp_call_options *co, pp_future **out);

/**
 * Submits one call of the task registered as @p task, with argument bytes @p arg.
 *
 * The bytes are copied; the caller keeps @p arg. On PP_OK, *out holds a new future with one
 * reference for the caller: release it with pp_future_release(). On error, *out is NULL and
 * no done callback will ever run. Never blocks on the manager or on a worker (except the
 * first submit to a fork executor, which waits while its workers are forked).
 *
 * Thread-safety: any thread, including a done callback. CPython: Executor.submit.
 *
 * @retval PP_OK         submitted
 * @retval PP_EINVAL     @p ex, @p task or @p out is NULL, or @p arg is NULL and @p len > 0
 * @retval PP_ENOTASK    @p task is not registered in this process
 * @retval PP_ESHUTDOWN  pp_executor_shutdown() was called
 * @retval PP_EBROKEN    a worker died earlier; the pool is broken
 * @retval PP_ENOMEM     out of memory
 */
PP_API pp_status pp_submit(pp_executor *ex, const char *task, const void *arg, size_t len,
                           pp_future **out);

/**
 * Maps @p task over @p n argument buffers; results come back in input order.
 *
 * All calls are submitted at once, in chunks of @p chunksize arguments (one work item, one
 * round trip to a worker per chunk). The arguments are copied. The timeout covers the whole
 * iteration: it is measured from this call. On PP_OK, *out holds the iterator: free it with
 * pp_map_free(), which cancels what has not started.
 *
 * Thread-safety: any thread; one iterator is used by one thread at a time.
 * CPython: ProcessPoolExecutor.map(fn, iterable, timeout=, chunksize=).
 *
 * @retval PP_OK         submitted (n may be 0: the iterator is then empty)
 * @retval PP_EINVAL     @p ex, @p task or @p out is NULL; @p args is NULL with @p n > 0; an
 *                       argument has NULL data and nonzero len; @p chunksize is 0; a
 *                       negative timeout other than PP_FOREVER
 * @retval PP_ENOTASK    @p task is not registered in this process
 * @retval PP_ESHUTDOWN  the executor was shut down
 * @retval PP_EBROKEN    the pool is broken (or broke while submitting: what had been
 *                       submitted is cancelled or fails broken, nothing leaks)
 * @retval PP_ENOMEM     out of memory
 */
PP_API pp_status pp_map(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                        size_t chunksize, long timeout_ms, pp_map_iter **out);

/**
 * Returns the next result of a map, in input order, waiting for it if needed.
 *
 * On PP_OK, *result holds the item's result bytes and *err is NULL. If that item failed,
 * returns its status (PP_ETASK, PP_ENOTASK, PP_EBROKEN, PP_ECANCELLED, ...), *result is
 * empty and *err describes it; iteration continues with the next item. Both stay valid until
 * the next pp_map_next() or pp_map_free(). @p result and @p err may each be NULL.
 *
 * When the map's deadline passes before the next result, returns PP_ETIMEDOUT and cancels
 * every call that has not started; later calls return PP_END.
 *
 * Thread-safety: one thread at a time per iterator. CPython: next() on map's iterator.
 *
 * @retval PP_OK         the next result
 * @retval PP_END        no more results
 * @retval PP_ETIMEDOUT  the map's timeout expired
 * @retval PP_EINVAL     @p it is NULL
 * @return the item's failure status, with *err set
 */
PP_API pp_status pp_map_next(pp_map_iter *it, pp_buf *result, const pp_error **err);

/**
 * Frees a map iterator, cancelling every call that has not started (calls already running
 * finish in the background and their results are dropped). Results and errors it returned
 * are freed with it. NULL is a no-op. A lazy map's executor must outlive its iterator.
 *
 * Thread-safety: the iterator's thread. CPython: closing the map generator.
 */
PP_API void pp_map_free(pp_map_iter *it);

/**
 * Produces the next input argument of a lazy map. Return true and set *arg (the bytes must
 * stay valid until the next call of this function or until pp_map_lazy()/pp_map_next()
 * returns), or false when there is no more input. Called on the thread that calls
 * pp_map_lazy() and pp_map_next().
 */
typedef bool (*pp_next_arg_fn)(void *userdata, pp_buf *arg);

/**
 * Like pp_map(), with arguments pulled from @p next as needed: at most @p buffersize chunks
 * are submitted and not yet consumed by pp_map_next() at any time.
 *
 * Thread-safety: as pp_map(). CPython 3.14: Executor.map(..., buffersize=).
 *
 * @retval PP_OK         started
 * @retval PP_EINVAL     as pp_map(); @p next is NULL; @p buffersize is 0; an argument with
 *                       NULL data and nonzero len
 * @retval PP_ENOTASK, PP_ESHUTDOWN, PP_EBROKEN, PP_ENOMEM  as pp_map()
 */
PP_API pp_status pp_map_lazy(pp_executor *ex, const char *task, pp_next_arg_fn next,
                             void *userdata, size_t chunksize, size_t buffersize,
                             long timeout_ms, pp_map_iter **out);

/**
 * Shuts the executor down: no new submits (they return PP_ESHUTDOWN).
 *
 * With @p cancel_futures, every item that has not been handed to a worker is cancelled. With
 * @p wait, returns once every remaining item has finished and every worker has exited and
 * been reaped; without it, that happens in the background. Calling it again is fine (a later
 * call may add wait or cancel_futures).
 *
 * Thread-safety: any thread; wait=true is not allowed from a done callback run by this
 * executor's manager thread (it would wait for itself).
 * CPython: Executor.shutdown(wait=True, *, cancel_futures=False).
 *
 * @retval PP_OK      shut down (or shutting down, without wait)
 * @retval PP_EINVAL  @p ex is NULL
 * @retval PP_ESTATE  wait=true from this executor's manager thread (shutdown was started,
 *                    without waiting)
 */
PP_API pp_status pp_executor_shutdown(pp_executor *ex, bool wait, bool cancel_futures);

/**
 * Stops the pool gently, then by force: shuts down without waiting and cancels every
 * pending item (pp_executor_shutdown(ex, false, true)); every call a worker is running is
 * asked to stop (pp_task_should_stop()) and gets @p grace_ms to return; a call that returns
 * in time keeps its outcome; the worker of one that does not is killed, and the call ends
 * PP_ECANCELLED (so do calls handed out but not yet started). In a map chunk, the item
 * running is that call: the items before it keep their results, those after it end
 * PP_ECANCELLED without running. Never breaks the pool; later
 * submits get PP_ESHUTDOWN. Returns at once: pp_executor_shutdown(ex, true, false) or
 * pp_executor_destroy() then waits, for about @p grace_ms at most. Safe to call from a
 * thread woken by a signal handler (not from the handler itself: see the README). Works
 * with every start method.
 *
 * Thread-safety: any thread.
 *
 * @retval PP_OK      stopping
 * @retval PP_EINVAL  @p ex is NULL, or @p grace_ms < 0
 */
PP_API pp_status pp_executor_stop(pp_executor *ex, long grace_ms);

/**
 * Stops the pool by force: shuts down without waiting and cancels every pending item
 * (pp_executor_shutdown(ex, false, true)), then has every live worker sent SIGTERM
 * (TerminateProcess on Windows). Items the workers held end PP_EBROKEN, naming the signal;
 * later submits return PP_ESHUTDOWN. On a broken pool, or before any worker exists, it
 * only shuts down. Returns at once: the signals are sent by the manager thread, the only
 * one that knows which workers are not yet reaped. Destroy the executor as usual.
 *
 * Thread-safety: any thread. CPython 3.14: ProcessPoolExecutor.terminate_workers().
 *
 * @retval PP_OK      done (or nothing to do)
 * @retval PP_EINVAL  @p ex is NULL
 */
PP_API pp_status pp_executor_terminate_workers(pp_executor *ex);

/**
 * As pp_executor_terminate_workers(), with SIGKILL (TerminateProcess on Windows).
 *
 * Thread-safety: any thread. CPython 3.14: ProcessPoolExecutor.kill_workers().
 *
 * @retval PP_OK      done (or nothing to do)
 * @retval PP_EINVAL  @p ex is NULL
 */
PP_API pp_status pp_executor_kill_workers(pp_executor *ex);

/**
 * Shuts down with wait=true (pending work still runs to completion), then frees the
 * executor. Futures obtained from it stay valid until released. NULL is a no-op.
 *
 * Thread-safety: any thread except this executor's manager thread (a done callback);
 * @p ex must not be used afterwards. CPython: leaving the executor's `with` block.
 */
PP_API void pp_executor_destroy(pp_executor *ex);

/**
 * Returns how many CPUs this process may use (its affinity mask), at least 1. On Windows, a
 * process whose affinity is not restricted counts the CPUs of every processor group
 * (machines with more than 64 logical CPUs).
 *
 * Thread-safety: any thread. CPython: os.process_cpu_count().
 */
PP_API int pp_cpu_count(void);

/** A snapshot of an executor's counters (pp_executor_stats_get()). */
typedef struct pp_executor_stats {
    int    workers, idle_workers;   /**< live worker processes; those holding no item */
    size_t pending, handed_out;     /**< items queued; items handed out (to workers, or queued
                                         for them by the manager) */
    unsigned long long completed, failed, cancelled, workers_started, workers_died;
} pp_executor_stats;
/** @var pp_executor_stats::workers
 *  live worker processes */
/** @var pp_executor_stats::pending
 *  items queued, not yet handed to a worker */
/** @var pp_executor_stats::completed
 *  items finished with a result */
/** @var pp_executor_stats::failed
 *  items finished with an error (task failure or broken pool) */
/** @var pp_executor_stats::cancelled
 *  items cancelled before they ran */
/** @var pp_executor_stats::workers_started
 *  worker processes started since the executor was created */
/** @var pp_executor_stats::workers_died
 *  workers that exited without being asked to */

/**
 * Copies a consistent snapshot of the executor's counters into @p out.
 *
 * completed counts items finished with a result, failed those finished with an error (task
 * failure or broken pool), cancelled those cancelled before running; workers_died counts
 * workers that exited without being asked to. Thread-safety: any thread.
 *
 * @retval PP_OK      filled
 * @retval PP_EINVAL  @p ex or @p out is NULL
 */
PP_API pp_status pp_executor_stats_get(pp_executor *ex, pp_executor_stats *out);

/**
 * Copies the process ids of the live workers into @p pids (at most @p cap of them); *n
 * receives how many workers are live (which may exceed @p cap). @p pids may be NULL when
 * @p cap is 0. Thread-safety: any thread. CPython: the keys of executor._processes.
 *
 * @retval PP_OK      filled
 * @retval PP_EINVAL  @p ex or @p n is NULL, or @p pids is NULL with @p cap > 0
 */
PP_API pp_status pp_executor_worker_pids(pp_executor *ex, long long *pids, size_t cap,
                                         size_t *n);

/**
 * Starts workers now, so that at least @p n exist, and returns once @p n workers are ready
 * (their initializer has run): an application pays start-up at launch instead of at its
 * first call (mpi4py's bootup()). Workers already started count; with PP_START_FORK every
 * worker is forked now (as at the first submit). The workers stay until shutdown (or
 * idle_timeout_ms).
 *
 * Thread-safety: any thread; blocks until the workers are ready or the pool fails.
 *
 * @retval PP_OK        @p n workers are ready
 * @retval PP_EINVAL    @p ex is NULL, or @p n is not 1..max_workers
 * @retval PP_EBROKEN   a worker could not start or its initializer failed: the pool is
 *                      broken (pp_last_error() gives the cause)
 * @retval PP_ESHUTDOWN the executor is shut down (or was, while waiting)
 * @retval PP_ESYS      the manager thread could not be started
 */
PP_API pp_status pp_executor_start_workers(pp_executor *ex, int n);

/** What a worker is doing (pp_worker_info.state). */
typedef enum pp_worker_state {
    PP_WORKER_STARTING, /**< started; its initializer has not finished */
    PP_WORKER_IDLE,     /**< ready, waiting for a call */
    PP_WORKER_BUSY,     /**< running a call */
    PP_WORKER_STOPPING  /**< told to stop, or ending: its exit is awaited */
} pp_worker_state;

/** One worker, as pp_executor_workers() sees it. */
typedef struct pp_worker_info {
    long long          pid;     /**< the worker's process id */
    pp_worker_state    state;   /**< what it is doing */
    const char        *task;    /**< BUSY: the call's task name (static: the registered
                                     name), else NULL */
    unsigned long long work_id; /**< BUSY: the call's id (as in crash messages), else 0 */
    long long          busy_ms; /**< BUSY: how long the call has run, in milliseconds */
    unsigned long long calls;   /**< calls this worker has finished */
    unsigned long long rss;     /**< its resident set, in bytes (Linux /proc, Windows
                                     GetProcessMemoryInfo); 0 if unknown */
} pp_worker_info;

/**
 * A view of each live worker: fills @p out with at most @p cap of them and sets *n to how
 * many there are (which may exceed @p cap). The workers listed are exactly those of
 * pp_executor_worker_pids() and pp_executor_stats_get()'s @c workers at the same instant
 * (all three change together); state, task, work id and calls are as the manager thread
 * last published them (after each of its passes), busy_ms and rss as of this call.
 *
 * Thread-safety: any thread.
 *
 * @retval PP_OK      filled
 * @retval PP_EINVAL  @p ex or @p n is NULL, or @p out is NULL with @p cap > 0
 */
PP_API pp_status pp_executor_workers(pp_executor *ex, pp_worker_info *out, size_t cap,
                                     size_t *n);

/* ------------------------------------------------------------------------------------------ */
/* Futures                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Waits for @p f to finish and returns its result.
 *
 * On PP_OK, *result holds the result bytes, valid while the caller holds its reference to
 * @p f. If the call failed, returns its status (PP_ETASK, PP_EBROKEN, PP_ENOTASK, ...) and
 * *result is empty: pp_future_exception() gives the details. @p result may be NULL.
 *
 * Thread-safety: any thread (not a done callback of the same executor with PP_FOREVER: the
 * manager would wait for itself). CPython: Future.result(timeout).
 *
 * @retval PP_OK          finished with a result
 * @retval PP_ETIMEDOUT   not finished within @p timeout_ms
 * @retval PP_ECANCELLED  the future was cancelled
 * @retval PP_EINVAL      @p f is NULL or the timeout is invalid
 * @return the failure status of the call otherwise
 */
PP_API pp_status pp_future_result(pp_future *f, long timeout_ms, pp_buf *result);

/**
 * Waits for @p f to finish and returns how it failed: *err is NULL if it succeeded, else it
 * points at the error, valid while the caller holds its reference to @p f.
 *
 * Thread-safety: as pp_future_result(). CPython: Future.exception(timeout).
 *
 * @retval PP_OK          finished; *err says how
 * @retval PP_ETIMEDOUT   not finished within @p timeout_ms (*err is NULL)
 * @retval PP_ECANCELLED  the future was cancelled (*err is NULL)
 * @retval PP_EINVAL      @p f or @p err is NULL, or the timeout is invalid
 */
PP_API pp_status pp_future_exception(pp_future *f, long timeout_ms, const pp_error **err);

/**
 * Cancels @p f if its call has not started: its worker has not begun it. Calls may be
 * queued ahead to a worker (up to 64 per worker; the environment variable PROCPOOL_PIPELINE
 * sets how many, 1..64, read at pp_executor_create()); such a call can still be cancelled,
 * and is then never run; a worker left idle takes calls another has not started.
 * PROCPOOL_PIPELINE=0 gives CPython's rule instead: a call counts as started once it is
 * handed to a worker or to the executor's call queue (max_workers + 1 calls at most). A
 * future not made by an executor can be cancelled until
 * pp_future_set_running_or_notify_cancel().
 *
 * Returns true if the future is now cancelled (also when it already was), false if it is
 * running or finished. A successful cancel completes the future: waiters wake and done
 * callbacks run, on this thread. Thread-safety: any thread. CPython: Future.cancel().
 */
PP_API bool pp_future_cancel(pp_future *f);

/**
 * Cancels @p f if it is pending (as pp_future_cancel()); if its call is running, asks it to
 * stop (pp_task_should_stop() turns true in the task), and if it has not returned after
 * the executor's stop_grace_ms, kills its worker and starts another on demand. The future
 * then ends PP_ECANCELLED (also if the call returned within the grace: its outcome is
 * dropped); pp_future_cancelled() stays false for a call that had started. Never breaks
 * the pool, whatever the crash policy. Returns at once; wait on the future to see the end.
 *
 * Thread-safety: any thread.
 *
 * @retval PP_OK       cancelled, or asked to stop
 * @retval PP_EINVAL   @p f is NULL
 * @retval PP_ESTATE   @p f has finished already (nothing to abort)
 * @retval PP_ENOTSUP  @p f is running and cannot be stopped: it is not an executor's, or its
 *                     executor uses PP_START_FORK (a fork pool cannot replace a worker)
 */
PP_API pp_status pp_future_abort(pp_future *f);

/**
 * Returns true if @p f was cancelled (false for NULL).
 * Thread-safety: any thread. CPython: Future.cancelled().
 */
PP_API bool pp_future_cancelled(pp_future *f);

/**
 * Returns true if @p f is running: its worker has begun the call, and it has not finished
 * (a call queued ahead to a worker is not running yet, and can be cancelled); false for
 * NULL. With PROCPOOL_PIPELINE=0 (see pp_future_cancel()), CPython's rule: running once
 * handed to a worker or to the executor's call queue of max_workers + 1 items.
 * Thread-safety: any thread. CPython: Future.running().
 */
PP_API bool pp_future_running(pp_future *f);

/**
 * Returns true if @p f is finished (result or error) or cancelled; false for NULL.
 * Thread-safety: any thread. CPython: Future.done().
 */
PP_API bool pp_future_done(pp_future *f);

/** A done callback: @p f is borrowed for the duration of the call. */
typedef void (*pp_done_fn)(pp_future *f, void *userdata);

/**
 * Adds a callback run once when @p f finishes or is cancelled.
 *
 * Callbacks run in the order added, on the thread that completes the future (the executor's
 * manager thread, or the thread that cancels it), never under a library lock. If @p f is
 * already done, @p fn runs at once, on this thread, before this function returns. A callback
 * may use any procpool function except waiting on its own executor's futures without a
 * timeout, or destroying its own executor. When this function returns an error, @p fn will
 * never be called.
 *
 * Thread-safety: any thread. CPython: Future.add_done_callback(fn).
 *
 * @retval PP_OK      added (or already run)
 * @retval PP_EINVAL  @p f or @p fn is NULL
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_future_add_done_callback(pp_future *f, pp_done_fn fn, void *userdata);

/**
 * Adds a reference to @p f; each reference is dropped with pp_future_release(). NULL is a
 * no-op. Thread-safety: any thread. CPython: none (reference counting is implicit).
 */
PP_API void pp_future_retain(pp_future *f);

/**
 * Drops a reference to @p f, freeing it (its result bytes and error included) with the last
 * one. Releasing a pending future does not cancel it: its call still runs. NULL is a no-op.
 * Thread-safety: any thread. CPython: none.
 */
PP_API void pp_future_release(pp_future *f);

/**
 * Attaches the application's own pointer to @p f: a tag, such as the item a call works on,
 * found again from the future that pp_wait() or pp_as_completed_next() gives back, with no
 * search (libuv's @c data field). A new future's tag is NULL; setting it again replaces it.
 * The library never reads, copies or frees what it points to. NULL @p f is a no-op.
 *
 * Thread-safety: any thread; a thread that receives the future after the tag was set (from
 * as_completed, a done callback, a wait) sees it. CPython: none (an attribute set on the
 * Future object, or a dict keyed by futures).
 */
PP_API void pp_future_set_userdata(pp_future *f, void *userdata);

/**
 * Returns the tag set with pp_future_set_userdata(), NULL if none was set or @p f is NULL.
 * Thread-safety: any thread. CPython: none.
 */
PP_API void *pp_future_userdata(pp_future *f);

/**
 * Creates a pending future not tied to any executor, with one reference for the caller
 * (release it with pp_future_release()): for executor implementers and tests, as in
 * CPython. Thread-safety: any thread. CPython: Future().
 *
 * @retval PP_OK      created
 * @retval PP_EINVAL  @p out is NULL
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_future_create(pp_future **out);

/**
 * Marks a pending future running and returns true, or, if it was cancelled, marks the
 * cancellation as notified and returns false. Returns false (and changes nothing) if @p f
 * is NULL, already running or finished. Thread-safety: any thread.
 * CPython: Future.set_running_or_notify_cancel().
 */
PP_API bool pp_future_set_running_or_notify_cancel(pp_future *f);

/**
 * Finishes @p f with a copy of the result bytes; wakes waiters and runs done callbacks on
 * this thread. Thread-safety: any thread. CPython: Future.set_result().
 *
 * @retval PP_OK      finished
 * @retval PP_EINVAL  @p f is NULL, or @p data is NULL with @p len > 0
 * @retval PP_ESTATE  @p f is already finished or cancelled
 * @retval PP_ENOMEM  out of memory (@p f is unchanged)
 */
PP_API pp_status pp_future_set_result(pp_future *f, const void *data, size_t len);

/**
 * Finishes @p f with an error: @p status (not PP_OK, PP_END or PP_ECANCELLED), @p code and
 * a copy of @p message (NULL: the status name); wakes waiters and runs done callbacks on
 * this thread. Thread-safety: any thread. CPython: Future.set_exception().
 *
 * @retval PP_OK      finished
 * @retval PP_EINVAL  @p f is NULL, or @p status is PP_OK, PP_END, PP_ECANCELLED or unknown
 *                    (a code whose @c fails flag in PP_STATUS_MAP is 0)
 * @retval PP_ESTATE  @p f is already finished or cancelled
 * @retval PP_ENOMEM  out of memory (@p f is unchanged)
 */
PP_API pp_status pp_future_set_error(pp_future *f, pp_status status, int code,
                                     const char *message);

/* ------------------------------------------------------------------------------------------ */
/* Waiting on several futures                                                                 */
/* ------------------------------------------------------------------------------------------ */

/** When pp_wait() returns. */
typedef enum pp_return_when {
    PP_FIRST_COMPLETED,  /**< as soon as any future finishes or is cancelled */
    PP_FIRST_EXCEPTION,  /**< as soon as any future fails; else like PP_ALL_COMPLETED */
    PP_ALL_COMPLETED     /**< when every future is done */
} pp_return_when;

/**
 * Waits until the condition @p when holds for the futures @p fs, or the timeout expires.
 *
 * A future listed twice counts once. Cancelled futures count as done (not as failed). On
 * return, done[i] (if @p done is not NULL) says whether fs[i] is done, and *n_done (if not
 * NULL) counts the distinct done futures. A timeout is not an error: the call returns PP_OK
 * with what is done. The futures are borrowed for the duration of the call.
 *
 * Thread-safety: any thread. CPython: concurrent.futures.wait(fs, timeout, return_when).
 *
 * @retval PP_OK      returned (condition met or timeout)
 * @retval PP_EINVAL  @p fs is NULL with @p n > 0, an entry is NULL, an unknown @p when, or an
 *                    invalid timeout
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_wait(pp_future *const *fs, size_t n, long timeout_ms, pp_return_when when,
                         bool *done, size_t *n_done);

/**
 * Starts iterating over @p fs in completion order: futures already done first, then each as
 * it finishes. A future listed twice is yielded once. The iterator takes its own reference
 * to each future; the deadline (@p timeout_ms) is measured from this call.
 * Free it with pp_as_completed_end().
 *
 * Thread-safety: any thread; one iterator is used by one thread at a time.
 * CPython: concurrent.futures.as_completed(fs, timeout).
 *
 * @retval PP_OK      started
 * @retval PP_EINVAL  @p out is NULL, @p fs is NULL with @p n > 0, an entry is NULL, or an
 *                    invalid timeout
 * @retval PP_ENOMEM  out of memory
 */
PP_API pp_status pp_as_completed_begin(pp_future *const *fs, size_t n, long timeout_ms,
                                       pp_as_completed **out);

/**
 * Yields the next done future into *f (borrowed: valid until the next call on @p it or
 * pp_as_completed_end(); retain it to keep it longer), waiting until one is done or the
 * deadline set at pp_as_completed_begin() passes.
 * Thread-safety: the iterator's thread. CPython: next() on as_completed's iterator.
 *
 * @retval PP_OK         *f is the next done future
 * @retval PP_END        every future has been yielded
 * @retval PP_ETIMEDOUT  the deadline passed with some futures not done (*f is NULL)
 * @retval PP_EINVAL     @p it or @p f is NULL
 */
PP_API pp_status pp_as_completed_next(pp_as_completed *it, pp_future **f);

/**
 * As pp_as_completed_next(), waiting at most @p timeout_ms in this call (0: only looks),
 * for a loop that must not block long: a GUI or event loop's tick. When the wait expires,
 * nothing is lost: the iterator goes on, and the next call yields the next done future.
 * The deadline set at pp_as_completed_begin() still applies: this call never waits beyond
 * it, and once it has passed, a call returns PP_ETIMEDOUT at once unless a future is done.
 * pp_last_error() says which of the two ended the wait. Calls of pp_as_completed_next() and
 * of this function may be mixed on one iterator.
 *
 * Thread-safety: the iterator's thread. CPython: none (as_completed has one timeout, for
 * the whole iteration).
 *
 * @retval PP_OK         *f is the next done future (borrowed, as from pp_as_completed_next())
 * @retval PP_END        every future has been yielded
 * @retval PP_ETIMEDOUT  no future was done within @p timeout_ms, or the iterator's deadline
 *                       has passed (*f is NULL); the iterator can be used again
 * @retval PP_EINVAL     @p it or @p f is NULL, or the timeout is invalid
 */
PP_API pp_status pp_as_completed_next_wait(pp_as_completed *it, long timeout_ms,
                                           pp_future **f);

#ifdef _WIN32
/**
 * A Windows event HANDLE that is signalled while @p it has a future ready to be yielded,
 * for a loop that waits on handles and window messages at once (MsgWaitForMultipleObjects,
 * WaitForMultipleObjects): the Windows twin of pp_as_completed_fd(), with the same rules.
 * It is a manual-reset event: signalled while pp_as_completed_next() or
 * pp_as_completed_next_wait() would yield a future at once, or would return PP_END (every
 * future has been yielded); reset once they have taken every ready future and some are
 * still to come; signalled again when another completes. Waiting on it consumes nothing:
 * after it is signalled, call pp_as_completed_next_wait(it, 0, &f) until it returns
 * PP_ETIMEDOUT (or PP_END).
 *
 * The iterator owns the handle: it is valid until pp_as_completed_end(); never close,
 * set or reset it, nor duplicate it into another process. It is created at the first call
 * (an iterator that never asks pays nothing); later calls return the same handle. It does
 * not report the iterator's own deadline (pp_as_completed_begin()'s timeout): a loop that
 * gave one keeps its own timer.
 *
 * Thread-safety: the iterator's thread (as every call on it); the handle itself may be
 * waited on by any thread. CPython: none.
 *
 * @return the HANDLE (a `void *`), or NULL if @p it is NULL or the event could not be
 *         created (pp_last_error() says why)
 */
PP_API void *pp_as_completed_handle(pp_as_completed *it);
#else
/**
 * A file descriptor that polls readable while @p it has a future ready to be yielded, for
 * a loop that waits on descriptors: poll(), select(), epoll, GLib's g_unix_fd_add(), Qt's
 * QSocketNotifier, libuv's uv_poll_t. Level-triggered: readable while
 * pp_as_completed_next() or pp_as_completed_next_wait() would yield a future at once, or
 * would return PP_END (every future has been yielded: the loop calls next once more and
 * learns that it is over); not readable once they have taken every ready future and some
 * are still to come; readable again when another completes. Polling it consumes nothing:
 * when it is readable, call pp_as_completed_next_wait(it, 0, &f) until it returns
 * PP_ETIMEDOUT (or PP_END). Never read or write it yourself.
 *
 * The iterator owns the descriptor (an eventfd on Linux, elsewhere the read end of a
 * pipe; non-blocking, close-on-exec): it is valid until pp_as_completed_end(), which
 * closes it; never close it yourself (remove it from your loop before ending the
 * iterator). It is created at the first call (an iterator that never asks pays nothing);
 * later calls return the same descriptor. It does not report the iterator's own deadline
 * (pp_as_completed_begin()'s timeout): a loop that gave one keeps its own timer.
 *
 * Thread-safety: the iterator's thread (as every call on it); the descriptor itself may be
 * polled by any thread. CPython: none (asyncio's wrap_future is the nearest).
 *
 * @return the descriptor (>= 0), or -1 if @p it is NULL or the descriptor could not be
 *         created (pp_last_error() says why: too many open files, for example)
 */
PP_API int pp_as_completed_fd(pp_as_completed *it);
#endif

/**
 * Ends the iteration, drops its references and frees @p it. NULL is a no-op.
 * Thread-safety: the iterator's thread. CPython: dropping the iterator.
 */
PP_API void pp_as_completed_end(pp_as_completed *it);

#ifdef __cplusplus
}
#endif

#endif /* PROCPOOL_H */
