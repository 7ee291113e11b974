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

#if defined(__MINGW32__) && !defined(__clang__)
/* The library formats with a C99 vsnprintf: check against GNU printf, not msvcrt's (clang
 * has no gnu_printf, and checks printf against C99 anyway). */
#  define PP_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#elif defined(__GNUC__) || defined(__clang__)
#  define PP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define PP_PRINTF(fmt, args)
#endif

#define PROCPOOL_VERSION_MAJOR 0
#define PROCPOOL_VERSION_MINOR 1
#define PROCPOOL_VERSION_PATCH 0

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                               */
/* ------------------------------------------------------------------------------------------ */

/**
 * Result of every fallible procpool call.
 *
 * Append-only: a code is never removed or renumbered. The CPython exception each code stands
 * for is given beside it.
 */
typedef enum pp_status {
    PP_OK = 0,      /**< success */
    PP_END,         /**< iterator exhausted (map, as_completed): not an error */
    PP_EINVAL,      /**< invalid argument                     (ValueError / TypeError) */
    PP_ENOMEM,      /**< out of memory                        (MemoryError) */
    PP_ETIMEDOUT,   /**< the timeout expired                  (TimeoutError) */
    PP_ECANCELLED,  /**< the future was cancelled             (CancelledError) */
    PP_ESHUTDOWN,   /**< the executor was shut down           (RuntimeError) */
    PP_EBROKEN,     /**< a worker died abruptly: the pool is broken (BrokenProcessPool) */
    PP_ETASK,       /**< the task failed; details in its pp_error */
    PP_ENOTASK,     /**< no task registered under that name */
    PP_ESTATE,      /**< not allowed in this state            (InvalidStateError) */
    PP_ENOTSUP,     /**< not supported here (fork on Windows, ...) */
    PP_ESYS         /**< an OS call failed; the pp_error names the call and its error */
} pp_status;

/**
 * Returns a short, constant, human-readable name for @p s ("PP_OK", "PP_EBROKEN", ...).
 *
 * Never returns NULL: an unknown value gives "PP_UNKNOWN". Thread-safety: any thread.
 * CPython: the exception class name.
 */
PP_API const char *pp_status_str(pp_status s);

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
                               (work 17)" */
} pp_error;

/** A borrowed byte buffer: @c data may be NULL when @c len is 0. */
typedef struct pp_buf {
    const void *data;
    size_t      len;
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
 * Windows has spawn only: fork and forkserver are PP_ENOTSUP there.
 */
typedef enum pp_start_method {
    PP_START_DEFAULT,    /**< PP_START_SPAWN */
    PP_START_SPAWN,      /**< start a new program (this one, or worker_path) */
    PP_START_FORK,       /**< POSIX: fork without exec, all workers at the first submit */
    PP_START_FORKSERVER  /**< POSIX: fork from a single-threaded server process */
} pp_start_method;

/** Executor settings; initialise with pp_executor_options_init(). */
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
                                              anything is allocated for it, and the pool
                                              breaks, naming both sizes.
                                              0 = PP_DEFAULT_MAX_MESSAGE_SIZE */
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
 * Memory for large payloads: while at least one executor exists, the library keeps up to
 * two freed payload buffers of 4 MiB to 128 MiB (a call's copied argument, a released
 * result) and reuses them for the next large argument or result, which spares the page
 * faults and zeroing of fresh memory; the last pp_executor_destroy() gives them back. On
 * Linux, buffers of 4 MiB and more are advised to use transparent huge pages
 * (madvise(MADV_HUGEPAGE): honoured when the system's setting is "madvise" or "always").
 * A worker keeps its largest argument and result buffers for its next call.
 *
 * Waiting, spin then sleep: the executor's manager thread, waiting for its next message, a
 * worker, waiting for its next call, and a thread waiting in pp_future_result() or
 * pp_map_next() first poll for up to 50 microseconds before they sleep, but only while
 * their recent waits have been shorter than that (each thread keeps its own record),
 * yielding the CPU between two looks to any thread that is ready to run (a busy worker,
 * the caller, another program), and never on a one-CPU machine. Short calls are then
 * answered in a few microseconds instead of paying for threads being woken up (on a
 * virtual machine, tens of microseconds each); a pool of long tasks or an idle pool never
 * polls. The environment variable PROCPOOL_SPIN_US sets the longest poll in microseconds
 * (0: never poll; at most 10000), read once by each process (workers inherit it).
 *
 * Thread-safety: any thread. CPython: ProcessPoolExecutor(max_workers, mp_context,
 * initializer, initargs, max_tasks_per_child=...).
 *
 * @retval PP_OK       created
 * @retval PP_EINVAL   @p out is NULL; max_workers < 0; an unknown
 *                     start method; initargs.data is NULL with initargs.len > 0;
 *                     max_tasks_per_child < 0; max_message_size below 1024 (and not 0);
 *                     fork with max_tasks_per_child > 0 (CPython:
 *                     ValueError) or with a worker_path
 * @retval PP_ENOTASK  the initializer is not a registered task name
 * @retval PP_ENOTSUP  fork or forkserver on Windows
 * @retval PP_ESTATE   spawn or forkserver with no worker_path, and pp_worker_main() was
 *                     never called in this process (the workers would not know they are
 *                     workers)
 * @retval PP_ENOMEM   out of memory
 * @retval PP_ESYS     the OS refused a thread, lock or pipe
 */
PP_API pp_status pp_executor_create(const pp_executor_options *o, pp_executor **out);

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
    size_t pending, handed_out;     /**< items queued; items handed out (running) */
    unsigned long long completed, failed, cancelled, workers_started, workers_died;
} pp_executor_stats;

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
 * Cancels @p f if it has not started running (been handed to a worker).
 *
 * Returns true if the future is now cancelled (also when it already was), false if it is
 * running or finished. A successful cancel completes the future: waiters wake and done
 * callbacks run, on this thread. Thread-safety: any thread. CPython: Future.cancel().
 */
PP_API bool pp_future_cancel(pp_future *f);

/**
 * Returns true if @p f was cancelled (false for NULL).
 * Thread-safety: any thread. CPython: Future.cancelled().
 */
PP_API bool pp_future_cancelled(pp_future *f);

/**
 * Returns true if @p f is running: handed to a worker (or to the executor's call queue of
 * max_workers + 1 items) and not finished; false for NULL.
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
 * Ends the iteration, drops its references and frees @p it. NULL is a no-op.
 * Thread-safety: the iterator's thread. CPython: dropping the iterator.
 */
PP_API void pp_as_completed_end(pp_as_completed *it);

#ifdef __cplusplus
}
#endif

#endif /* PROCPOOL_H */
