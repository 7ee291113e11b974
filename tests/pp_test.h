/*
 * Shared declarations of the CUnit test program. The test program is its own worker: main()
 * registers the tasks of tasks.c, calls pp_worker_main(), then runs the suites named on its
 * command line (all of them without arguments).
 */
#ifndef PP_TEST_H
#define PP_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "procpool.h"

/* Every wait in a test has a finite timeout; this one is for "should happen promptly". */
#define PP_T_TIMEOUT_MS 30000L

/* Assert a status, printing both names on failure. _FATAL variants stop the test. */
#define PP_ASSERT_ST(expected, expr)                                                           \
    do {                                                                                       \
        pp_status pp_t_st_ = (expr);                                                           \
        if (pp_t_st_ != (expected))                                                            \
            fprintf(stderr, "\n  %s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,    \
                    #expr, pp_status_str(pp_t_st_), pp_status_str(expected));                  \
        CU_ASSERT_EQUAL(pp_t_st_, (expected));                                                 \
    } while (0)
#define PP_ASSERT_ST_FATAL(expected, expr)                                                     \
    do {                                                                                       \
        pp_status pp_t_st_ = (expr);                                                           \
        if (pp_t_st_ != (expected))                                                            \
            fprintf(stderr, "\n  %s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,    \
                    #expr, pp_status_str(pp_t_st_), pp_status_str(expected));                  \
        CU_ASSERT_EQUAL_FATAL(pp_t_st_, (expected));                                           \
    } while (0)
#define PP_ASSERT_OK(expr) PP_ASSERT_ST(PP_OK, expr)
#define PP_ASSERT_OK_FATAL(expr) PP_ASSERT_ST_FATAL(PP_OK, expr)

/* The argument of the task "chunk_step" (tasks.c): a map item that records each of its runs
 * (its index, appended as an int32 to its own file, `path` + "." + index) and then does what
 * `mode` says. */
enum {
    PP_T_STEP_OK,       /* returns pp_t_step_out {index, pid}, padded to `size` bytes */
    PP_T_STEP_SEGV,     /* SIGSEGV (Windows: an access violation) */
    PP_T_STEP_KILL,     /* SIGKILL to itself (Windows: TerminateProcess) */
    PP_T_STEP_HANG,     /* ignores pp_task_should_stop: sleeps 30 s, then returns */
    PP_T_STEP_POLITE,   /* runs until pp_task_should_stop (30 s at most), then returns */
    PP_T_STEP_KILL_ONCE, /* SIGKILL to itself on its first run, returns on later ones */
    PP_T_STEP_SLEEP300  /* sleeps 300 ms, then returns */
};
typedef struct pp_t_step_arg {
    int32_t index;
    int32_t mode;
    uint32_t size;     /* PP_T_STEP_OK: result bytes (at least sizeof(pp_t_step_out)) */
    char    path[256];
} pp_t_step_arg;
typedef struct pp_t_step_out {
    int32_t   index;
    int32_t   runs;    /* its runs so far, this one included */
    long long pid;
} pp_t_step_out;
/* How many times item `index` ran, by its file (0 if none or no file). */
int pp_t_step_runs(const char *path, int32_t index);
/* True when this Windows program runs under Wine (ntdll exports wine_get_version). */
bool pp_t_under_wine(void);
/* Removes the files of items 0 .. n-1. */
void pp_t_step_remove(const char *path, int n);

/* Registers every test task (tasks.c). Called first thing in main(), in parent and worker. */
void pp_t_register_tasks(void);

/* The start method every executor of this run uses: `pp_tests --start=fork ...` (default
 * spawn). Each suite runs once per start method the platform has, as CPython's do. */
extern pp_start_method pp_t_start;
const char *pp_t_start_name(void);
/* pp_executor_options_init() with this run's start method. */
void pp_t_options_init(pp_executor_options *o);
/* With fork, a pool forks all its workers at the first submit (none later), and an MPI pool
 * never replaces a worker: a test that checks on-demand starts or worker replacement says so
 * and returns early. */
#define PP_T_SKIP_IF_FORK(why)                                                                 \
    do {                                                                                       \
        if (pp_t_start == PP_START_FORK || pp_t_start == PP_START_MPI) {                       \
            printf("SKIP (%s): %s\n", pp_t_start_name(), why);                                 \
            return;                                                                            \
        }                                                                                      \
    } while (0)
/* MPI (pp_tests_mpi under mpiexec): the pool is the job's other ranks, a fixed set that a
 * dead worker leaves for good; tests that kill workers, or look at them as local children,
 * say so and return early (tests/mpi_check.c covers crashes under MPI). */
#define PP_T_SKIP_IF_MPI(why)                                                                  \
    do {                                                                                       \
        if (pp_t_start == PP_START_MPI) {                                                      \
            printf("SKIP (mpi): %s\n", why);                                                   \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* PROCPOOL_PIPELINE (docs/design.md, "The pipeline") replaces CPython's window of
 * max_workers + 1 calls handed out, each running from its hand-out: a test that pins that
 * window skips under it (the pipeline suite tests the new rule). MPI: the pipeline is off. */
int pp__pipeline_depth(void); /* (the library's, src/core/manager.c) */
#define PP_T_WINDOW_PIN                                                                        \
    "pins CPython's window of max_workers + 1 calls handed out (running); the pipeline "      \
    "suite tests the rule that replaces it"
#define PP_T_SKIP_IF_PIPELINE(why)                                                             \
    do {                                                                                       \
        if (pp_t_start != PP_START_MPI && pp__pipeline_depth() > 0) {                          \
            printf("SKIP (PROCPOOL_PIPELINE): %s\n", why);                                     \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* PROCPOOL_RING=0 keeps a local worker's frames on its channel (docs/design.md, "Frames
 * through the shared block"): a test of the rings themselves skips under it. */
bool pp__ring_enabled(void); /* (the library's, src/core/ring.c) */
#define PP_T_SKIP_IF_NO_RINGS(why)                                                             \
    do {                                                                                       \
        if (!pp__ring_enabled()) {                                                             \
            printf("SKIP (PROCPOOL_RING=0): %s\n", why);                                       \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* This program's path spelled anew ("dir/./name", one more "./" at each call; free()): a
 * worker_path no executor used before, so that forkserver starts a new server, which sees
 * the environment as it is now. pp_t_executor*() use it when PP_T_HIDE_PARENT_ONLY is set. */
char *pp_t_fresh_worker_path(void);

/* Creates an executor with max_workers workers (0: default) and an optional initializer;
 * fails the test fatally if creation fails. */
pp_executor *pp_t_executor(int max_workers);
pp_executor *pp_t_executor_init(int max_workers, const char *initializer, const void *initargs,
                                size_t initargs_len);

/* Helpers to build task arguments (tasks.c documents each task's argument layout). */
typedef struct pp_t_sleep_arg {
    uint32_t ms;    /* sleep this long first */
    int32_t  value; /* then: "sleep" returns it; "sleep_exit" exits with it */
} pp_t_sleep_arg;

/* Current time in ms on a monotonic clock (for bounds on hangs, not for timing asserts). */
long long pp_t_now_ms(void);
/* Sleep for ms milliseconds in the calling (parent) thread. */
void pp_t_sleep_ms(unsigned ms);
/* What pp_t_wait_stats() polls: an executor's counters and its live workers' pids (read one
 * after the other, as a caller would). */
typedef struct pp_t_snapshot {
    pp_executor_stats s;
    size_t            n_pids;   /* live workers, as pp_executor_worker_pids() counts them */
    long long         pids[16]; /* the first 16 of them */
} pp_t_snapshot;
typedef bool (*pp_t_stats_pred)(const pp_t_snapshot *snap, const void *arg);
/* Polls ex (every 5 ms) until pred(snapshot, arg) holds or bound_ms passes: for states the
 * manager reaches on its own (items handed out, workers gone), where a test has nothing to
 * wait on. Returns whether pred held; *out (if not NULL) gets the last snapshot. A failed
 * stats or pids call fails the test. The predicates every suite needs: */
bool pp_t_wait_stats(pp_executor *ex, pp_t_stats_pred pred, const void *arg, long bound_ms,
                     pp_t_snapshot *out);
/* No live worker: stats.workers and the pid list both 0 (arg unused). */
bool pp_t_no_workers(const pp_t_snapshot *snap, const void *arg);
/* At least *(const size_t *)arg items handed out: pp_t_handed_out_at_least, &(size_t){2}. */
bool pp_t_handed_out_at_least(const pp_t_snapshot *snap, const void *arg);
/* At least *(const size_t *)arg live workers (pid list). */
bool pp_t_workers_at_least(const pp_t_snapshot *snap, const void *arg);

/* The completion-race stress that the wait and as_completed suites share: `rounds` rounds,
 * each with n (at most 64) new futures that two threads complete, half each, with no delay
 * (those whose index i has i % cancel_mod == cancel_mod - 1 are cancelled, the others get an
 * empty result). In each round, on the test thread: the first thread starts, begin(fs, n,
 * round, ctx) runs (NULL: nothing), the second thread starts, then wait(fs, n, round, ctx),
 * which waits on the futures. begin and wait return how many problems they saw; so does the
 * whole, which also counts a round that took 60 s (a lost wakeup that only its timeout
 * ended). Races between registering on futures and their completion must never lose one. */
typedef int (*pp_t_race_fn)(pp_future **fs, size_t n, int round, void *ctx);
int pp_t_completion_races(int rounds, size_t n, size_t cancel_mod, pp_t_race_fn begin,
                          pp_t_race_fn wait, void *ctx);

/* A new pending future (pp_future_create; fatal if it fails). */
pp_future *pp_t_new_future(void);
/* A new future finished with the result "ok" (2 bytes). */
pp_future *pp_t_new_finished(void);
/* Releases fs[0 .. n-1]. */
void pp_t_release_all(pp_future **fs, size_t n);

/* Process id of this process. */
long long pp_t_getpid(void);
/* Is the process with this id still alive (and not a zombie we could reap)? */
int pp_t_pid_alive(long long pid);
/* Polls pids[0 .. n-1] (every poll_ms) while any is alive and pp_t_now_ms() < deadline_ms;
 * returns how many were alive at the last look (n if the deadline had passed already). */
int pp_t_wait_gone(const long long *pids, int n, long long deadline_ms, unsigned poll_ms);
/* Kills the process for good (SIGKILL; Windows: TerminateProcess with code 9): 0 if sent. */
int pp_t_kill_pid(long long pid);
/* Runs the "pid" task once on ex and returns the worker's pid (-1 if it failed: asserted). */
long long pp_t_task_pid(pp_executor *ex);
/* Submits n calls of task with the same argument, their futures in fs[0 .. n-1]; fatal if a
 * submit fails. */
void pp_t_submit_each(pp_executor *ex, const char *task, const void *arg, size_t len,
                      pp_future **fs, int n);
/* Waits for fs[0 .. n-1] in turn (PP_T_TIMEOUT_MS each), asserts PP_OK and releases each. */
void pp_t_finish_each(pp_future **fs, int n);
/* pp_t_submit_each(), then pp_t_finish_each(). */
void pp_t_run_each(pp_executor *ex, const char *task, const void *arg, size_t len,
                   pp_future **fs, int n);
/* Submits "echo" of the int i for i = 0 .. n-1 (fs: room for n futures; fatal if a submit
 * fails), then waits for each in turn (PP_T_TIMEOUT_MS), asserts PP_OK and that it returned
 * i, and releases it. */
void pp_t_echo_each(pp_executor *ex, pp_future **fs, int n);

/* The parent of pid (Linux, from /proc; -1 elsewhere or if unknown). */
long long pp_t_ppid_of(long long pid);
/* The children of pid, zombies included (Linux): their number, the first cap of them in
 * out; -1 where they cannot be listed. */
int pp_t_children_of(long long pid, long long *out, int cap);
/* The children of this process (Linux: /proc; Windows: a Toolhelp snapshot); -1 where they
 * cannot be counted. */
int pp_t_count_children(void);

/* A suite's setup/teardown pair: a test still running after 90 s ends the program, naming
 * itself, instead of stalling the run (a lost wakeup or a deadlock in the library). */
void pp_t_watchdog_setup(void);
void pp_t_watchdog_teardown(void);

/* Threads for tests (APR underneath): start fn(arg) on a new thread; join waits for it. */
typedef struct pp_t_thread pp_t_thread;
pp_t_thread *pp_t_thread_start(void (*fn)(void *), void *arg);
void pp_t_thread_join(pp_t_thread *t);

/* A thread that completes futures by a script: after each step's delay, its future gets a
 * result (the step's index), an error (PP_ETASK, code the index, "scripted") or is
 * cancelled, and, with `release`, loses one reference. pp_t_script_end joins it and fails
 * the test if a completion did not succeed. */
typedef enum { PP_T_DO_RESULT, PP_T_DO_ERROR, PP_T_DO_CANCEL } pp_t_action;
typedef struct {
    unsigned    delay_ms;
    pp_future  *f;
    pp_t_action what;
    bool        release; /* drop one reference to f after completing it */
} pp_t_step;
typedef struct {
    const pp_t_step *steps;
    size_t           n;
    int              failures; /* completions that did not succeed */
    pp_t_thread     *thread;
} pp_t_script;
void pp_t_script_run(pp_t_script *s, const pp_t_step *steps, size_t n);
void pp_t_script_end(pp_t_script *s);

/* 64-bit FNV-1a of a buffer; the "checksum" task returns the same. */
uint64_t pp_t_fnv1a(const void *data, size_t len);
/* Fills buf with n deterministic pseudo-random bytes from seed; the "bytes" task does the same. */
void pp_t_fill(void *buf, size_t n, uint32_t seed);

/* A gate many workers can wait on (the "wait_gate" task), opened once by the test: a named
 * event on Windows, a file in $TMPDIR (or /tmp) that the workers look for every 10 ms on
 * POSIX. The name is unique to the caller (e.g. with its pid). NULL on failure. */
typedef struct pp_t_gate pp_t_gate;
pp_t_gate *pp_t_gate_create(const char *name);
void pp_t_gate_open(pp_t_gate *g);
void pp_t_gate_free(pp_t_gate *g);

/* The body of "pp_tests --orphan-parent" (test_shutdown.c): starts a pool with two busy
 * workers (one of them with a grandchild) and one idle, prints "<own pid> <worker pids...>
 * <grandchild pid>", then sleeps until killed. */
int pp_t_orphan_parent(void);

/* The body of "pp_tests --exit-during-spawn D" (test_shutdown.c): a pool with one worker
 * busy, one more submit, then exit(0) D ms later, while the second worker is starting. */
int pp_t_exit_during_spawn(int delay_ms);
/* Whether a worker that dies of a fault reports its backtrace in this build (the crash hook,
 * pp__os_crash_hook): 1 in every build, sanitized ones included (the hook replaces ASan's
 * and TSan's SIGSEGV handlers in workers); a build that leaves the hook out sets it to 0. */
#ifndef PP_T_CRASH_TRACE
#  define PP_T_CRASH_TRACE 1
#endif
/* msg holds a worker's crash report: "its backtrace:\n#0 ..." and a second frame "#1 ". */
int pp_t_has_backtrace(const char *msg);
/* The helper process of broken's SIGCHLD test (main.c: --crash-child TASK [ignore]). */
int pp_t_crash_child(const char *task, int ignore);

/* 1 in a ThreadSanitizer build. */
#if defined(__SANITIZE_THREAD__)
#  define PP_T_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define PP_T_TSAN 1
#  endif
#endif
#ifndef PP_T_TSAN
#  define PP_T_TSAN 0
#endif

/* 1 in an AddressSanitizer or ThreadSanitizer build. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define PP_T_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define PP_T_SANITIZED 1
#  endif
#endif
#ifndef PP_T_SANITIZED
#  define PP_T_SANITIZED 0
#endif

/* One suite per area; defined in test_<area>.c. */
extern const CU_SuiteInfo pp_suite_future;
extern const CU_SuiteInfo pp_suite_callbacks;
extern const CU_SuiteInfo pp_suite_wait;
extern const CU_SuiteInfo pp_suite_as_completed;
extern const CU_SuiteInfo pp_suite_submit;
extern const CU_SuiteInfo pp_suite_map;
extern const CU_SuiteInfo pp_suite_shutdown;
extern const CU_SuiteInfo pp_suite_broken;
extern const CU_SuiteInfo pp_suite_initializer;
extern const CU_SuiteInfo pp_suite_protocol;
extern const CU_SuiteInfo pp_suite_backend;
extern const CU_SuiteInfo pp_suite_lifecycle;
extern const CU_SuiteInfo pp_suite_start;
extern const CU_SuiteInfo pp_suite_alloc;
extern const CU_SuiteInfo pp_suite_badinput;
extern const CU_SuiteInfo pp_suite_soak;
extern const CU_SuiteInfo pp_suite_isolate;
extern const CU_SuiteInfo pp_suite_chunks;
extern const CU_SuiteInfo pp_suite_limits;
extern const CU_SuiteInfo pp_suite_remote;
extern const CU_SuiteInfo pp_suite_scale;
extern const CU_SuiteInfo pp_suite_procs;
extern const CU_SuiteInfo pp_suite_shm;
extern const CU_SuiteInfo pp_suite_pipeline;

/* The start suite's tasks (test_start.c); main() registers them after the others. */
void pp_t_register_start_tasks(void);
/* The procs suite's tasks (test_procs.c), and the body of "pp_tests --sleep-child" (a
 * grandchild that sleeps 600 s). */
void pp_t_register_procs_tasks(void);
int pp_t_sleep_child(void);
/* Submits a call that starts a `sleep 600` grandchild and then hangs 30 s; returns the
 * grandchild's pid once it runs (-1 if it did not start). */
long long pp_t_submit_grandchild(pp_executor *ex, pp_future **f);

#endif /* PP_TEST_H */
