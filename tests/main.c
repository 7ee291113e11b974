/*
 * The CUnit test program. Usage: pp_tests [--start=spawn|fork|forkserver|mpi] [suite [test]]
 * (no suite: every suite; the start method is the one every executor of the run uses).
 * It is its own worker: pp_worker_main() comes before anything else.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "pp_test.h"
#ifdef PP_T_MPI
#  include "procpool_mpi.h"
#endif

static const CU_SuiteInfo *const suites[] = {
    &pp_suite_future,   &pp_suite_callbacks,   &pp_suite_wait,   &pp_suite_as_completed,
    &pp_suite_submit,   &pp_suite_map,         &pp_suite_shutdown, &pp_suite_broken,
    &pp_suite_initializer, &pp_suite_protocol, &pp_suite_backend, &pp_suite_lifecycle,
    &pp_suite_start,    &pp_suite_alloc,       &pp_suite_badinput, &pp_suite_scale,
    &pp_suite_soak,     &pp_suite_isolate,     &pp_suite_chunks,    &pp_suite_limits,
    &pp_suite_remote,   &pp_suite_procs,       &pp_suite_shm,
    &pp_suite_pipeline,
};
#define N_SUITES (sizeof suites / sizeof suites[0])

int main(int argc, char **argv)
{
    pp_t_register_tasks();
    pp_t_register_start_tasks();
    pp_t_register_procs_tasks();
#ifdef PP_T_MPI
    /* pp_tests_mpi (under mpiexec): ranks >= 1 serve PP_START_MPI executors here; spawned
     * local workers are recognised as by pp_worker_main */
    if (pp_mpi_worker_main(argc, argv) != 0)
        return 2;
#else
    pp_worker_main(argc, argv); /* never returns in a worker */
#endif
    if (argc > 1 && strncmp(argv[1], "--start=", 8) == 0) {
        const char *m = argv[1] + 8;
        if (strcmp(m, "spawn") == 0) {
            pp_t_start = PP_START_SPAWN;
        } else if (strcmp(m, "fork") == 0) {
            pp_t_start = PP_START_FORK;
        } else if (strcmp(m, "forkserver") == 0) {
            pp_t_start = PP_START_FORKSERVER;
        } else if (strcmp(m, "mpi") == 0) {
            pp_t_start = PP_START_MPI;
        } else {
            fprintf(stderr, "pp_tests: unknown start method '%s'\n", m);
            return 2;
        }
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc > 1 && strcmp(argv[1], "--sleep-child") == 0)
        return pp_t_sleep_child(); /* a grandchild for the procs suite */
    if (argc > 1 && strcmp(argv[1], "--orphan-parent") == 0)
        return pp_t_orphan_parent(); /* a helper process for the no-orphans test */
    if (argc > 2 && strcmp(argv[1], "--exit-during-spawn") == 0)
        return pp_t_exit_during_spawn(atoi(argv[2])); /* for test_exit_during_spawn */
    if (argc > 2 && strcmp(argv[1], "--crash-child") == 0) /* broken's SIGCHLD test */
        return pp_t_crash_child(argv[2], argc > 3 && strcmp(argv[3], "ignore") == 0);

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    const char *want_suite = argc > 1 ? argv[1] : NULL;
    const char *want_test = argc > 2 ? argv[2] : NULL;
    size_t added = 0;
    for (size_t i = 0; i < N_SUITES; i++) {
        const CU_SuiteInfo *si = suites[i];
        if (want_suite && strcmp(want_suite, "all") != 0 && strcmp(want_suite, si->pName) != 0)
            continue;
        CU_pSuite s = CU_add_suite_with_setup_and_teardown(si->pName, si->pInitFunc,
                                                           si->pCleanupFunc, si->pSetUpFunc,
                                                           si->pTearDownFunc);
        if (!s)
            return 2;
        for (CU_TestInfo *t = si->pTests; t && t->pName; t++) {
            if (want_test && strcmp(want_test, t->pName) != 0)
                continue;
            if (!CU_add_test(s, t->pName, t->pTestFunc))
                return 2;
            added++;
        }
    }
    if (added == 0) {
        fprintf(stderr, "pp_tests: no test matches '%s%s%s'\n", want_suite ? want_suite : "",
                want_test ? " " : "", want_test ? want_test : "");
        CU_cleanup_registry();
        return 2;
    }
    printf("start method: %s\n", pp_t_start_name());
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    /* Under mpiexec --enable-recovery, mpiexec's own status is 0 whatever rank 0 returns:
     * tests/mpi/run.sh reads this line. */
    if (pp_t_start == PP_START_MPI)
        printf("pp_tests: exit %d\n", failed ? 1 : 0);
    return failed ? 1 : 0;
}
