/*
 * The lifecycle suite: what a long-running program that creates many pools relies on.
 */
#include <stdlib.h>
#include <string.h>


#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"

/* One create, submit, destroy cycle with max_workers workers; value is echoed back. */
static void cycle(int max_workers, int value)
{
    pp_executor *ex = pp_t_executor(max_workers);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &value, sizeof value, &f));
    pp_buf r;
    PP_ASSERT_OK_FATAL(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_FATAL(r.len == sizeof value && memcmp(r.data, &value, sizeof value) == 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* The count sees a child: one started directly by the backend (whatever start method the
 * pools use, whose workers need not be children of this process) counts while it lives. */
static void check_child_counted(int children)
{
    char *exe = NULL;
    PP_ASSERT_OK_FATAL(pp__os_exepath(&exe, NULL));
    const char *argv[] = {exe, NULL};
    pp__proc *p = NULL;
    pp__chan *c = NULL;
    PP_ASSERT_OK_FATAL(pp__os_spawn(argv, &p, &c, NULL));
    CU_ASSERT_EQUAL(pp_t_count_children(), children + 1);
    PP_ASSERT_OK(pp__os_proc_stop(p, true, NULL));
    PP_ASSERT_OK(pp__os_proc_reap(p, PP_T_TIMEOUT_MS, NULL, NULL));
    pp__os_chan_free(c);
    pp__os_proc_free(p);
    pp__free(exe);
}

/* 1000 cycles of create, submit, destroy leave the descriptor and child counts as they were.
 *
 * The counts are taken after a warm-up cycle of each size: the first executor makes what
 * is kept for the life of the process, once, and that is no leak (a forkserver's server,
 * too). Under mingw + Wine that is 3 handles: the job object holding every worker
 * (src/win32/spawn.c: closing it would kill them), the semaphore of the condition variable
 * of the waiter that blocking calls cache (APR's Windows condition variables are
 * semaphores; on POSIX no descriptor), and the semaphore of the mutex of libgcc's emulated
 * thread-local storage (the manager's thread-local pointer). */
static void test_thousand_cycles(void)
{
    cycle(1, -1);
    cycle(2, -2);
    int children = pp_t_count_children();
    if (children >= 0)
        check_child_counted(children);
    size_t fds = pp__os_handle_count(); /* after the first count too (Toolhelp, /proc) */
    for (int i = 0; i < 1000; i++)
        cycle(1 + i % 2, i);
    CU_ASSERT_EQUAL(pp__os_handle_count(), fds);
    if (children >= 0) {
        CU_ASSERT_EQUAL(pp_t_count_children(), children);
    } else {
        printf("SKIP (child count): needs /proc or a Toolhelp snapshot\n");
    }
}

static CU_TestInfo tests[] = {
    {"1000 create/submit/destroy cycles leave fds and children unchanged", test_thousand_cycles},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_lifecycle = {"lifecycle", NULL, NULL, NULL, NULL, tests};
