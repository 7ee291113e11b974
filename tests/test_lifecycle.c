/*
 * The lifecycle suite: what a long-running program that creates many pools relies on.
 */
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#  include <dirent.h>
#endif

#include "pp_os.h"
#include "pp_test.h"

/* Children of this process (Linux: scans /proc); -1 where that cannot be counted. */
static int count_children(void)
{
#ifdef __linux__
    long long self = pp_t_getpid();
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *rp = strrchr(buf, ')');
        long long ppid = 0;
        char state = 0;
        if (rp && sscanf(rp + 1, " %c %lld", &state, &ppid) == 2 && ppid == self)
            n++; /* zombies count too: they are children not reaped */
    }
    closedir(d);
    return n;
#else
    return -1;
#endif
}

/* 1000 cycles of create, submit, destroy leave the descriptor and child counts as they were. */
static void test_thousand_cycles(void)
{
    /* One cycle first: the forkserver start method starts its server (a child of this
     * process, with one descriptor here) once per program, at the first need. */
    pp_executor *warm = pp_t_executor(1);
    pp_future *wf;
    PP_ASSERT_OK_FATAL(pp_submit(warm, "noop", NULL, 0, &wf));
    PP_ASSERT_OK_FATAL(pp_future_result(wf, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(wf);
    pp_executor_destroy(warm);
    size_t fds = pp__os_handle_count();
    int children = count_children();
    for (int i = 0; i < 1000; i++) {
        pp_executor *ex = pp_t_executor(1 + i % 2);
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &i, sizeof i, &f));
        pp_buf r;
        PP_ASSERT_OK_FATAL(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
        CU_ASSERT_FATAL(r.len == sizeof i && memcmp(r.data, &i, sizeof i) == 0);
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), fds);
    if (children >= 0) {
        CU_ASSERT_EQUAL(count_children(), children);
    } else {
        printf("SKIP (child count): needs /proc\n");
    }
}

static CU_TestInfo tests[] = {
    {"1000 create/submit/destroy cycles leave fds and children unchanged", test_thousand_cycles},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_lifecycle = {"lifecycle", NULL, NULL, NULL, NULL, tests};
