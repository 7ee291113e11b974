/*
 * The badinput suite: every public function called with NULL and invalid arguments, from a
 * table: each row names the call, the documented status, and a function making the call.
 * A row fails if the status differs; a crash fails the whole run. Functions without a
 * status (no-ops on NULL, false for NULL) have rows that return PP_OK when they behaved.
 */
#include <stdlib.h>

#include "pp_test.h"

/* Shared fixtures, made by the suite's init: a live executor, a pending future, a done one. */
static pp_executor *ex;
static pp_future *pending, *done;

static int suite_init(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    if (pp_executor_create(&o, &ex) != PP_OK || pp_future_create(&pending) != PP_OK ||
        pp_future_create(&done) != PP_OK || pp_future_set_result(done, "d", 1) != PP_OK)
        return 1;
    return 0;
}

static int suite_cleanup(void)
{
    pp_future_release(pending);
    pp_future_release(done);
    pp_executor_destroy(ex);
    return 0;
}

static void noop_cb(pp_future *f, void *ud)
{
    (void)f, (void)ud;
}

static bool no_more(void *ud, pp_buf *arg)
{
    (void)ud, (void)arg;
    return false;
}

static bool bad_arg_source(void *ud, pp_buf *arg)
{
    int *calls = ud;
    if ((*calls)++)
        return false;
    arg->data = NULL;
    arg->len = 3; /* NULL data with a length */
    return true;
}

#define OK_IF(cond) ((cond) ? PP_OK : PP_ESYS) /* rows for calls without a status */

/* ---- the rows ---- */

static pp_status r_status_str(void)
{
    const char *s = pp_status_str((pp_status)9999);
    return OK_IF(s != NULL && *s);
}
static pp_status r_task_return_null(void) { return pp_task_return(NULL, "x", 1); }
static pp_status r_task_error_null(void) { return pp_task_error(NULL, "%s", "x"); }
static pp_status r_task_error_fmt_null(void) { return pp_task_error(NULL, NULL); }
static pp_status r_register_null(void) { return pp_register_task(NULL, NULL); }
static pp_status r_register_empty(void) { return pp_register_task("", NULL); }
static pp_status r_worker_main_null(void) { return OK_IF(pp_worker_main(0, NULL) == 0); }
static pp_status r_options_init_null(void)
{
    pp_executor_options_init(NULL);
    return PP_OK;
}

static pp_status create_with(void (*tweak)(pp_executor_options *))
{
    pp_executor_options o;
    pp_t_options_init(&o);
    tweak(&o);
    pp_executor *e = (pp_executor *)1;
    pp_status st = pp_executor_create(&o, &e);
    if (st == PP_OK) {
        pp_executor_destroy(e);
        return PP_OK;
    }
    return e == NULL ? st : PP_ESYS; /* *out must be NULL on error */
}
static void t_neg_workers(pp_executor_options *o) { o->max_workers = -1; }
static void t_bad_method(pp_executor_options *o) { o->start_method = (pp_start_method)42; }
static void t_initargs(pp_executor_options *o)
{
    o->initializer = "init_set";
    o->initargs.len = 3;
}
static void t_neg_tasks(pp_executor_options *o) { o->max_tasks_per_child = -1; }
static void t_empty_init(pp_executor_options *o) { o->initializer = ""; }
static void t_unknown_init(pp_executor_options *o) { o->initializer = "no such task"; }
static void t_tiny_message(pp_executor_options *o) { o->max_message_size = 5; }
static void t_many_workers(pp_executor_options *o) { o->max_workers = 62; }
static pp_status r_create_out_null(void) { return pp_executor_create(NULL, NULL); }
static pp_status r_create_neg_workers(void) { return create_with(t_neg_workers); }
static pp_status r_create_bad_method(void) { return create_with(t_bad_method); }
static pp_status r_create_initargs(void) { return create_with(t_initargs); }
static pp_status r_create_neg_tasks(void) { return create_with(t_neg_tasks); }
static pp_status r_create_empty_init(void) { return create_with(t_empty_init); }
static pp_status r_create_unknown_init(void) { return create_with(t_unknown_init); }
static pp_status r_create_tiny_message(void) { return create_with(t_tiny_message); }
static pp_status r_create_many_workers(void) { return create_with(t_many_workers); }

static pp_status submit_row(pp_executor *e, const char *task, const void *arg, size_t len)
{
    pp_future *f = (pp_future *)1;
    pp_status st = pp_submit(e, task, arg, len, &f);
    if (st == PP_OK) {
        pp_future_result(f, PP_T_TIMEOUT_MS, NULL);
        pp_future_release(f);
        return PP_OK;
    }
    return f == NULL ? st : PP_ESYS;
}
static pp_status r_submit_ex_null(void) { return submit_row(NULL, "noop", NULL, 0); }
static pp_status r_submit_task_null(void) { return submit_row(ex, NULL, NULL, 0); }
static pp_status r_submit_arg_null(void) { return submit_row(ex, "echo", NULL, 3); }
static pp_status r_submit_unknown(void) { return submit_row(ex, "no such task", "x", 1); }
static pp_status r_submit_out_null(void) { return pp_submit(ex, "noop", NULL, 0, NULL); }

static pp_status map_row(pp_executor *e, const char *task, const pp_buf *args, size_t n,
                         size_t chunk, long timeout)
{
    pp_map_iter *it = (pp_map_iter *)1;
    pp_status st = pp_map(e, task, args, n, chunk, timeout, &it);
    if (st == PP_OK) {
        pp_map_free(it);
        return PP_OK;
    }
    return it == NULL ? st : PP_ESYS;
}
static const pp_buf two_args[2] = {{"a", 1}, {"b", 1}};
static const pp_buf null_arg[2] = {{"a", 1}, {NULL, 4}};
static pp_status r_map_ex_null(void) { return map_row(NULL, "echo", two_args, 2, 1, 1000); }
static pp_status r_map_task_null(void) { return map_row(ex, NULL, two_args, 2, 1, 1000); }
static pp_status r_map_chunk0(void) { return map_row(ex, "echo", two_args, 2, 0, 1000); }
static pp_status r_map_timeout(void) { return map_row(ex, "echo", two_args, 2, 1, -5); }
static pp_status r_map_args_null(void) { return map_row(ex, "echo", NULL, 2, 1, 1000); }
static pp_status r_map_arg_null(void) { return map_row(ex, "echo", null_arg, 2, 1, 1000); }
static pp_status r_map_unknown(void) { return map_row(ex, "no such task", two_args, 2, 1, 1000); }
static pp_status r_map_out_null(void)
{
    return pp_map(ex, "echo", two_args, 2, 1, 1000, NULL);
}
static pp_status r_map_next_null(void) { return pp_map_next(NULL, NULL, NULL); }
static pp_status r_map_free_null(void)
{
    pp_map_free(NULL);
    return PP_OK;
}

static pp_status lazy_row(pp_next_arg_fn next, void *ud, size_t chunk, size_t buf,
                          long timeout)
{
    pp_map_iter *it = (pp_map_iter *)1;
    pp_status st = pp_map_lazy(ex, "echo", next, ud, chunk, buf, timeout, &it);
    if (st == PP_OK) {
        pp_map_free(it);
        return PP_OK;
    }
    return it == NULL ? st : PP_ESYS;
}
static pp_status r_lazy_next_null(void) { return lazy_row(NULL, NULL, 1, 1, 1000); }
static pp_status r_lazy_chunk0(void) { return lazy_row(no_more, NULL, 0, 1, 1000); }
static pp_status r_lazy_buf0(void) { return lazy_row(no_more, NULL, 1, 0, 1000); }
static pp_status r_lazy_timeout(void) { return lazy_row(no_more, NULL, 1, 1, -2); }
static pp_status r_lazy_bad_arg(void)
{
    int calls = 0;
    return lazy_row(bad_arg_source, &calls, 1, 1, 1000);
}
static pp_status r_lazy_ex_null(void)
{
    pp_map_iter *it = (pp_map_iter *)1;
    pp_status st = pp_map_lazy(NULL, "echo", no_more, NULL, 1, 1, 1000, &it);
    return it == NULL ? st : PP_ESYS;
}

static pp_status r_shutdown_null(void) { return pp_executor_shutdown(NULL, true, false); }
static pp_status r_terminate_null(void) { return pp_executor_terminate_workers(NULL); }
static pp_status r_kill_null(void) { return pp_executor_kill_workers(NULL); }
static pp_status r_destroy_null(void)
{
    pp_executor_destroy(NULL);
    return PP_OK;
}
static pp_status r_cpu_count(void) { return OK_IF(pp_cpu_count() >= 1); }
static pp_status r_stats_ex_null(void)
{
    pp_executor_stats s;
    return pp_executor_stats_get(NULL, &s);
}
static pp_status r_stats_out_null(void) { return pp_executor_stats_get(ex, NULL); }
static pp_status r_pids_ex_null(void)
{
    long long p[2];
    size_t n = 9;
    pp_status st = pp_executor_worker_pids(NULL, p, 2, &n);
    return n == 0 ? st : PP_ESYS;
}
static pp_status r_pids_buf_null(void)
{
    size_t n;
    return pp_executor_worker_pids(ex, NULL, 2, &n);
}
static pp_status r_pids_n_null(void)
{
    long long p[2];
    return pp_executor_worker_pids(ex, p, 2, NULL);
}

static pp_status r_result_null(void) { return pp_future_result(NULL, 0, NULL); }
static pp_status r_result_timeout(void) { return pp_future_result(done, -7, NULL); }
static pp_status r_exception_null(void)
{
    const pp_error *e;
    return pp_future_exception(NULL, 0, &e);
}
static pp_status r_exception_err_null(void) { return pp_future_exception(done, 0, NULL); }
static pp_status r_exception_timeout(void)
{
    const pp_error *e;
    return pp_future_exception(done, -3, &e);
}
static pp_status r_future_bools_null(void)
{
    return OK_IF(!pp_future_cancel(NULL) && !pp_future_cancelled(NULL) &&
                 !pp_future_running(NULL) && !pp_future_done(NULL) &&
                 !pp_future_set_running_or_notify_cancel(NULL));
}
static pp_status r_callback_f_null(void) { return pp_future_add_done_callback(NULL, noop_cb, NULL); }
static pp_status r_callback_fn_null(void) { return pp_future_add_done_callback(pending, NULL, NULL); }
static pp_status r_retain_release_null(void)
{
    pp_future_retain(NULL);
    pp_future_release(NULL);
    return PP_OK;
}
static pp_status r_create_future_null(void) { return pp_future_create(NULL); }
static pp_status r_set_result_null(void) { return pp_future_set_result(NULL, "x", 1); }
static pp_status r_set_result_data_null(void) { return pp_future_set_result(pending, NULL, 2); }
static pp_status r_set_result_done(void) { return pp_future_set_result(done, "x", 1); }
static pp_status r_set_error_null(void) { return pp_future_set_error(NULL, PP_ETASK, 1, "x"); }
static pp_status r_set_error_ok(void) { return pp_future_set_error(pending, PP_OK, 0, "x"); }
static pp_status r_set_error_cancelled(void)
{
    return pp_future_set_error(pending, PP_ECANCELLED, 0, NULL);
}
static pp_status r_set_error_unknown(void)
{
    return pp_future_set_error(pending, (pp_status)777, 0, NULL);
}
static pp_status r_set_error_done(void) { return pp_future_set_error(done, PP_ETASK, 1, "x"); }

static pp_status r_wait_fs_null(void) { return pp_wait(NULL, 2, 0, PP_ALL_COMPLETED, NULL, NULL); }
static pp_status r_wait_entry_null(void)
{
    pp_future *fs[2] = {done, NULL};
    return pp_wait(fs, 2, 0, PP_ALL_COMPLETED, NULL, NULL);
}
static pp_status r_wait_when(void)
{
    pp_future *fs[1] = {done};
    return pp_wait(fs, 1, 0, (pp_return_when)42, NULL, NULL);
}
static pp_status r_wait_timeout(void)
{
    pp_future *fs[1] = {done};
    return pp_wait(fs, 1, -3, PP_ALL_COMPLETED, NULL, NULL);
}
static pp_status ac_row(pp_future *const *fs, size_t n, long timeout)
{
    pp_as_completed *it = (pp_as_completed *)1;
    pp_status st = pp_as_completed_begin(fs, n, timeout, &it);
    if (st == PP_OK) {
        pp_as_completed_end(it);
        return PP_OK;
    }
    return it == NULL ? st : PP_ESYS;
}
static pp_status r_ac_fs_null(void) { return ac_row(NULL, 2, 0); }
static pp_status r_ac_entry_null(void)
{
    pp_future *fs[2] = {NULL, done};
    return ac_row(fs, 2, 0);
}
static pp_status r_ac_timeout(void)
{
    pp_future *fs[1] = {done};
    return ac_row(fs, 1, -4);
}
static pp_status r_ac_out_null(void)
{
    pp_future *fs[1] = {done};
    return pp_as_completed_begin(fs, 1, 0, NULL);
}
static pp_status r_ac_next_null(void)
{
    pp_future *f;
    return pp_as_completed_next(NULL, &f);
}
static pp_status r_ac_next_f_null(void)
{
    pp_future *fs[1] = {done};
    pp_as_completed *it = NULL;
    pp_status st = pp_as_completed_begin(fs, 1, 0, &it);
    if (st != PP_OK)
        return PP_ESYS;
    st = pp_as_completed_next(it, NULL);
    pp_as_completed_end(it);
    return st;
}
static pp_status r_ac_end_null(void)
{
    pp_as_completed_end(NULL);
    return PP_OK;
}

typedef struct row {
    const char *call;
    pp_status   expect;
    pp_status (*fn)(void);
} row;

static const row rows[] = {
    {"pp_status_str(unknown) names it", PP_OK, r_status_str},
    {"pp_task_return(NULL ctx)", PP_EINVAL, r_task_return_null},
    {"pp_task_error(NULL ctx)", PP_EINVAL, r_task_error_null},
    {"pp_task_error(NULL ctx, NULL fmt)", PP_EINVAL, r_task_error_fmt_null},
    {"pp_register_task(NULL)", PP_EINVAL, r_register_null},
    {"pp_register_task(\"\")", PP_EINVAL, r_register_empty},
    {"pp_worker_main(0, NULL) returns 0", PP_OK, r_worker_main_null},
    {"pp_executor_options_init(NULL)", PP_OK, r_options_init_null},
    {"pp_executor_create(NULL, NULL)", PP_EINVAL, r_create_out_null},
    {"pp_executor_create(max_workers -1)", PP_EINVAL, r_create_neg_workers},
    {"pp_executor_create(start method 42)", PP_EINVAL, r_create_bad_method},
    {"pp_executor_create(initargs NULL, len 3)", PP_EINVAL, r_create_initargs},
    {"pp_executor_create(max_tasks_per_child -1)", PP_EINVAL, r_create_neg_tasks},
    {"pp_executor_create(initializer \"\")", PP_EINVAL, r_create_empty_init},
    {"pp_executor_create(unknown initializer)", PP_ENOTASK, r_create_unknown_init},
    {"pp_executor_create(max_message_size 5)", PP_EINVAL, r_create_tiny_message},
    /* no cap at 61 on Windows any more (issue 15) */
    {"pp_executor_create(max_workers 62)", PP_OK, r_create_many_workers},
    {"pp_submit(NULL executor)", PP_EINVAL, r_submit_ex_null},
    {"pp_submit(NULL task)", PP_EINVAL, r_submit_task_null},
    {"pp_submit(NULL arg, len 3)", PP_EINVAL, r_submit_arg_null},
    {"pp_submit(unknown task)", PP_ENOTASK, r_submit_unknown},
    {"pp_submit(NULL out)", PP_EINVAL, r_submit_out_null},
    {"pp_map(NULL executor)", PP_EINVAL, r_map_ex_null},
    {"pp_map(NULL task)", PP_EINVAL, r_map_task_null},
    {"pp_map(chunksize 0)", PP_EINVAL, r_map_chunk0},
    {"pp_map(timeout -5)", PP_EINVAL, r_map_timeout},
    {"pp_map(NULL args, n 2)", PP_EINVAL, r_map_args_null},
    {"pp_map(an arg with NULL data)", PP_EINVAL, r_map_arg_null},
    {"pp_map(unknown task)", PP_ENOTASK, r_map_unknown},
    {"pp_map(NULL out)", PP_EINVAL, r_map_out_null},
    {"pp_map_next(NULL)", PP_EINVAL, r_map_next_null},
    {"pp_map_free(NULL)", PP_OK, r_map_free_null},
    {"pp_map_lazy(NULL executor)", PP_EINVAL, r_lazy_ex_null},
    {"pp_map_lazy(NULL next)", PP_EINVAL, r_lazy_next_null},
    {"pp_map_lazy(chunksize 0)", PP_EINVAL, r_lazy_chunk0},
    {"pp_map_lazy(buffersize 0)", PP_EINVAL, r_lazy_buf0},
    {"pp_map_lazy(timeout -2)", PP_EINVAL, r_lazy_timeout},
    {"pp_map_lazy(an arg with NULL data)", PP_EINVAL, r_lazy_bad_arg},
    {"pp_executor_shutdown(NULL)", PP_EINVAL, r_shutdown_null},
    {"pp_executor_terminate_workers(NULL)", PP_EINVAL, r_terminate_null},
    {"pp_executor_kill_workers(NULL)", PP_EINVAL, r_kill_null},
    {"pp_executor_destroy(NULL)", PP_OK, r_destroy_null},
    {"pp_cpu_count() >= 1", PP_OK, r_cpu_count},
    {"pp_executor_stats_get(NULL executor)", PP_EINVAL, r_stats_ex_null},
    {"pp_executor_stats_get(NULL out)", PP_EINVAL, r_stats_out_null},
    {"pp_executor_worker_pids(NULL executor)", PP_EINVAL, r_pids_ex_null},
    {"pp_executor_worker_pids(NULL pids, cap 2)", PP_EINVAL, r_pids_buf_null},
    {"pp_executor_worker_pids(NULL n)", PP_EINVAL, r_pids_n_null},
    {"pp_future_result(NULL)", PP_EINVAL, r_result_null},
    {"pp_future_result(timeout -7)", PP_EINVAL, r_result_timeout},
    {"pp_future_exception(NULL)", PP_EINVAL, r_exception_null},
    {"pp_future_exception(NULL err)", PP_EINVAL, r_exception_err_null},
    {"pp_future_exception(timeout -3)", PP_EINVAL, r_exception_timeout},
    {"cancel/cancelled/running/done/set_running(NULL) are false", PP_OK, r_future_bools_null},
    {"pp_future_add_done_callback(NULL future)", PP_EINVAL, r_callback_f_null},
    {"pp_future_add_done_callback(NULL fn)", PP_EINVAL, r_callback_fn_null},
    {"pp_future_retain/release(NULL)", PP_OK, r_retain_release_null},
    {"pp_future_create(NULL)", PP_EINVAL, r_create_future_null},
    {"pp_future_set_result(NULL)", PP_EINVAL, r_set_result_null},
    {"pp_future_set_result(NULL data, len 2)", PP_EINVAL, r_set_result_data_null},
    {"pp_future_set_result(finished)", PP_ESTATE, r_set_result_done},
    {"pp_future_set_error(NULL)", PP_EINVAL, r_set_error_null},
    {"pp_future_set_error(PP_OK)", PP_EINVAL, r_set_error_ok},
    {"pp_future_set_error(PP_ECANCELLED)", PP_EINVAL, r_set_error_cancelled},
    {"pp_future_set_error(unknown status)", PP_EINVAL, r_set_error_unknown},
    {"pp_future_set_error(finished)", PP_ESTATE, r_set_error_done},
    {"pp_wait(NULL futures, n 2)", PP_EINVAL, r_wait_fs_null},
    {"pp_wait(a NULL entry)", PP_EINVAL, r_wait_entry_null},
    {"pp_wait(return_when 42)", PP_EINVAL, r_wait_when},
    {"pp_wait(timeout -3)", PP_EINVAL, r_wait_timeout},
    {"pp_as_completed_begin(NULL futures, n 2)", PP_EINVAL, r_ac_fs_null},
    {"pp_as_completed_begin(a NULL entry)", PP_EINVAL, r_ac_entry_null},
    {"pp_as_completed_begin(timeout -4)", PP_EINVAL, r_ac_timeout},
    {"pp_as_completed_begin(NULL out)", PP_EINVAL, r_ac_out_null},
    {"pp_as_completed_next(NULL iterator)", PP_EINVAL, r_ac_next_null},
    {"pp_as_completed_next(NULL f)", PP_EINVAL, r_ac_next_f_null},
    {"pp_as_completed_end(NULL)", PP_OK, r_ac_end_null},
};

static void test_table(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pp_status got = rows[i].fn();
        if (got != rows[i].expect) {
            fprintf(stderr, "\n  %s: %s, expected %s", rows[i].call, pp_status_str(got),
                    pp_status_str(rows[i].expect));
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* the fixtures are intact: the executor works, the futures are as they were */
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "z", 1, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 1 && memcmp(r.data, "z", 1) == 0);
    pp_future_release(f);
    CU_ASSERT(!pp_future_done(pending));
    PP_ASSERT_OK(pp_future_result(done, 0, &r));
    CU_ASSERT(r.len == 1 && memcmp(r.data, "d", 1) == 0);
    printf("(%zu calls) ", sizeof rows / sizeof rows[0]);
}

static CU_TestInfo tests[] = {
    {"every public function with NULL and invalid arguments", test_table},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_badinput = {"badinput", suite_init, suite_cleanup, NULL, NULL,
                                        tests};
