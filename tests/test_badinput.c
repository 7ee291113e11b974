/*
 * The badinput suite: every public function called with NULL and invalid arguments, from a
 * table: each row names the call, the documented status, and a function making the call.
 * A row fails if the status differs; a crash fails the whole run. Functions without a
 * status (no-ops on NULL, false for NULL) have rows that return PP_OK when they behaved.
 */
#include <stdlib.h>

#include "pp_core.h" /* PP__LAST_ERROR_MAX, pp__fail_oserr, pp__fail_apr */
#include "pp_os.h"
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
static pp_status r_strerror(void)
{
    const char *s = pp_strerror((pp_status)9999);
    return OK_IF(s != NULL && *s);
}
static pp_status r_userdata_null(void)
{
    int x;
    pp_future_set_userdata(NULL, &x);
    return OK_IF(pp_future_userdata(NULL) == NULL);
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
static pp_status r_submitx_null(void)
{
    pp_future *f = NULL;
    return pp_submit_ex(NULL, "echo", NULL, 0, NULL, &f);
}
static pp_status r_submit_ex_limit(void)
{
    pp_call_options co;
    pp_call_options_init(&co);
    co.time_limit_ms = -5;
    pp_future *f = NULL;
    return pp_submit_ex(ex, "echo", NULL, 0, &co, &f);
}
static pp_status r_submit_ex_wait(void)
{
    pp_call_options co;
    pp_call_options_init(&co);
    co.submit_wait_ms = -9;
    pp_future *f = NULL;
    return pp_submit_ex(ex, "echo", NULL, 0, &co, &f);
}
static pp_status r_call_options_null(void)
{
    pp_call_options_init(NULL);
    return pp_task_should_stop(NULL) ? PP_ESTATE : PP_OK;
}
static pp_status r_stop_null(void) { return pp_executor_stop(NULL, 0); }
static pp_status r_stop_grace(void) { return pp_executor_stop(ex, -1); }
static pp_status r_abort_null(void) { return pp_future_abort(NULL); }
static pp_status r_abort_done(void) { return pp_future_abort(done); }
static pp_status r_start_workers_null(void) { return pp_executor_start_workers(NULL, 1); }
static pp_status r_start_workers_zero(void) { return pp_executor_start_workers(ex, 0); }
static pp_status r_workers_null(void)
{
    size_t n;
    return pp_executor_workers(NULL, NULL, 0, &n);
}
static pp_status r_workers_n_null(void) { return pp_executor_workers(ex, NULL, 0, NULL); }
static pp_status r_workers_out_null(void)
{
    size_t n;
    return pp_executor_workers(ex, NULL, 3, &n);
}
static pp_status r_create_policy(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.crash_policy = (pp_crash_policy)9;
    pp_executor *e = NULL;
    return pp_executor_create(&o, &e);
}
static pp_status r_create_limits(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.call_time_limit_ms = -1;
    pp_executor *e = NULL;
    return pp_executor_create(&o, &e);
}
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
static pp_status r_ac_next_wait_null(void)
{
    pp_future *f = (pp_future *)1;
    pp_status st = pp_as_completed_next_wait(NULL, 0, &f);
    return f == NULL ? st : PP_ESYS;
}
static pp_status ac_next_wait_row(long timeout_ms, bool null_f)
{
    pp_future *fs[1] = {done};
    pp_as_completed *it = NULL;
    if (pp_as_completed_begin(fs, 1, 0, &it) != PP_OK)
        return PP_ESYS;
    pp_future *f = (pp_future *)1;
    pp_status st = pp_as_completed_next_wait(it, timeout_ms, null_f ? NULL : &f);
    pp_as_completed_end(it);
    return null_f || f == NULL ? st : PP_ESYS;
}
static pp_status r_ac_next_wait_f_null(void) { return ac_next_wait_row(0, true); }
static pp_status r_ac_next_wait_timeout(void) { return ac_next_wait_row(-6, false); }
#ifdef _WIN32
static pp_status r_ac_handle_null(void)
{
    return pp_as_completed_handle(NULL) == NULL ? PP_EINVAL : PP_OK;
}
#else
static pp_status r_ac_fd_null(void)
{
    return pp_as_completed_fd(NULL) == -1 ? PP_EINVAL : PP_OK;
}
#endif
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
    {"pp_strerror(unknown) says so", PP_OK, r_strerror},
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
    {"pp_submit_ex(NULL executor)", PP_EINVAL, r_submitx_null},
    {"pp_submit_ex(time_limit_ms -5)", PP_EINVAL, r_submit_ex_limit},
    {"pp_submit_ex(submit_wait_ms -9)", PP_EINVAL, r_submit_ex_wait},
    {"pp_call_options_init(NULL), pp_task_should_stop(NULL)", PP_OK, r_call_options_null},
    {"pp_executor_stop(NULL)", PP_EINVAL, r_stop_null},
    {"pp_executor_stop(grace -1)", PP_EINVAL, r_stop_grace},
    {"pp_future_abort(NULL)", PP_EINVAL, r_abort_null},
    {"pp_future_abort(a finished future)", PP_ESTATE, r_abort_done},
    {"pp_executor_start_workers(NULL)", PP_EINVAL, r_start_workers_null},
    {"pp_executor_start_workers(n 0)", PP_EINVAL, r_start_workers_zero},
    {"pp_executor_workers(NULL executor)", PP_EINVAL, r_workers_null},
    {"pp_executor_workers(NULL n)", PP_EINVAL, r_workers_n_null},
    {"pp_executor_workers(NULL out, cap 3)", PP_EINVAL, r_workers_out_null},
    {"pp_executor_create(crash_policy 9)", PP_EINVAL, r_create_policy},
    {"pp_executor_create(call_time_limit_ms -1)", PP_EINVAL, r_create_limits},
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
    {"pp_future_set_userdata/userdata(NULL)", PP_OK, r_userdata_null},
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
    {"pp_as_completed_next_wait(NULL iterator)", PP_EINVAL, r_ac_next_wait_null},
    {"pp_as_completed_next_wait(NULL f)", PP_EINVAL, r_ac_next_wait_f_null},
    {"pp_as_completed_next_wait(timeout -6)", PP_EINVAL, r_ac_next_wait_timeout},
#ifdef _WIN32
    {"pp_as_completed_handle(NULL)", PP_EINVAL, r_ac_handle_null},
#else
    {"pp_as_completed_fd(NULL)", PP_EINVAL, r_ac_fd_null},
#endif
    {"pp_as_completed_end(NULL)", PP_OK, r_ac_end_null},
};

/* Rows whose text check is reported, not counted: none left (executor.c's were, until it
 * set its texts). Kept so that a row can be parked here with a reason. */
static const char *const text_pending[] = {NULL};

static bool is_text_pending(const char *call)
{
    for (size_t i = 0; i < sizeof text_pending / sizeof text_pending[0]; i++) {
        if (text_pending[i] && strcmp(call, text_pending[i]) == 0)
            return true;
    }
    return false;
}

/* A known failure whose text no row produces: set before each row, so that a row that
 * sets no text, or a successful one that changes it, is seen. */
static void set_sentinel(char *copy, size_t cap)
{
    pp_future *fs[8] = {done, done, done, done, done, done, done, NULL};
    CU_ASSERT_EQUAL(pp_wait(fs, 8, 0, PP_ALL_COMPLETED, NULL, NULL), PP_EINVAL);
    snprintf(copy, cap, "%s", pp_last_error());
    CU_ASSERT_STRING_EQUAL(copy, "pp_wait: invalid argument: fs[7] is NULL");
}

/* The text a failing row must leave: not the sentinel, naming the function (the row's call
 * up to its '(' or first space). */
static bool text_ok(const char *call, const char *sentinel)
{
    char fname[64];
    size_t n = strcspn(call, "( ");
    if (n >= sizeof fname)
        n = sizeof fname - 1;
    memcpy(fname, call, n);
    fname[n] = 0;
    const char *t = pp_last_error();
    return t != NULL && t[0] && strcmp(t, sentinel) != 0 && strstr(t, fname) != NULL;
}

static void test_table(void)
{
    int bad = 0, pending_bad = 0;
    char sentinel[PP__LAST_ERROR_MAX];
    bool show = getenv("PP_T_SHOW_TEXTS") != NULL; /* to read every text */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        set_sentinel(sentinel, sizeof sentinel);
        pp_status got = rows[i].fn();
        if (show)
            printf("\n  %-45s %s", rows[i].call, pp_last_error());
        if (got != rows[i].expect) {
            fprintf(stderr, "\n  %s: %s, expected %s", rows[i].call, pp_status_str(got),
                    pp_status_str(rows[i].expect));
            bad++;
        }
        if (rows[i].expect == PP_OK) {
            /* a call that succeeded (or has no status) leaves the text alone */
            if (strcmp(pp_last_error(), sentinel) != 0) {
                fprintf(stderr, "\n  %s changed pp_last_error() to \"%s\"", rows[i].call,
                        pp_last_error());
                bad++;
            }
        } else if (!text_ok(rows[i].call, sentinel)) {
            if (is_text_pending(rows[i].call)) {
                pending_bad++;
            } else {
                fprintf(stderr, "\n  %s: pp_last_error() is \"%s\"", rows[i].call,
                        pp_last_error());
                bad++;
            }
        } else if (is_text_pending(rows[i].call)) {
            fprintf(stderr, "\n  %s sets its text now: remove it from text_pending",
                    rows[i].call);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    if (pending_bad)
        printf("(%d rows of executor.c without a text yet) ", pending_bad);
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

/* ---- the status codes ---- */

/* The codes and their numbers, written out again here: a code renumbered, renamed or removed
 * in PP_STATUS_MAP fails this test (append-only: new codes go at the end of both lists).
 * fails: whether a future may fail with it (pp_future_set_error accepts it). */
static const struct {
    pp_status   st;
    int         value;
    const char *name;
    bool        fails;
} pinned[] = {
    {PP_OK, 0, "PP_OK", false},
    {PP_END, 1, "PP_END", false},
    {PP_EINVAL, 2, "PP_EINVAL", true},
    {PP_ENOMEM, 3, "PP_ENOMEM", true},
    {PP_ETIMEDOUT, 4, "PP_ETIMEDOUT", true},
    {PP_ECANCELLED, 5, "PP_ECANCELLED", false},
    {PP_ESHUTDOWN, 6, "PP_ESHUTDOWN", true},
    {PP_EBROKEN, 7, "PP_EBROKEN", true},
    {PP_ETASK, 8, "PP_ETASK", true},
    {PP_ENOTASK, 9, "PP_ENOTASK", true},
    {PP_ESTATE, 10, "PP_ESTATE", true},
    {PP_ENOTSUP, 11, "PP_ENOTSUP", true},
    {PP_ESYS, 12, "PP_ESYS", true},
    {PP_EWORKERDIED, 13, "PP_EWORKERDIED", true},
    {PP_ETIMELIMIT, 14, "PP_ETIMELIMIT", true},
};
#define N_PINNED (sizeof pinned / sizeof pinned[0])

/* The map as the header has it now: name, number and flag of each row, in order. */
static const struct {
    const char *name;
    int         value;
    bool        fails;
    const char *text;
} map_rows[] = {
#define MAP_ROW(name, value, fails, text) {"PP_" #name, value, fails, text},
    PP_STATUS_MAP(MAP_ROW)
#undef MAP_ROW
};
#define N_MAP (sizeof map_rows / sizeof map_rows[0])

static void test_status_numbers_pinned(void)
{
    /* every pinned code is in the map with its number, in order, and the map has no row
     * out of order: rows are numbered 0, 1, 2, ... (append-only) */
    CU_ASSERT_FATAL(N_MAP >= N_PINNED);
    for (size_t i = 0; i < N_PINNED; i++) {
        CU_ASSERT_EQUAL((int)pinned[i].st, pinned[i].value);
        CU_ASSERT_STRING_EQUAL(map_rows[i].name, pinned[i].name);
        CU_ASSERT_EQUAL(map_rows[i].value, pinned[i].value);
        CU_ASSERT_EQUAL(map_rows[i].fails, pinned[i].fails);
        CU_ASSERT_STRING_EQUAL(pp_status_str(pinned[i].st), pinned[i].name);
    }
    for (size_t i = 0; i < N_MAP; i++)
        CU_ASSERT_EQUAL(map_rows[i].value, (int)i);
    if (N_MAP > N_PINNED)
        fprintf(stderr, "\n  %zu new status code(s): add them to this test's table",
                N_MAP - N_PINNED);
    CU_ASSERT_EQUAL(N_MAP, N_PINNED);
}

static void test_status_texts(void)
{
    for (size_t i = 0; i < N_MAP; i++) {
        pp_status s = (pp_status)map_rows[i].value;
        const char *name = pp_status_str(s), *text = pp_strerror(s);
        CU_ASSERT_FATAL(name != NULL && text != NULL);
        CU_ASSERT_STRING_EQUAL(name, map_rows[i].name);
        CU_ASSERT_STRING_EQUAL(text, map_rows[i].text);
        /* a sentence: a capital first, a full stop last */
        size_t len = strlen(text);
        CU_ASSERT(len > 8 && text[0] >= 'A' && text[0] <= 'Z' && text[len - 1] == '.');
        for (size_t j = 0; j < i; j++) {
            pp_status o = (pp_status)map_rows[j].value;
            CU_ASSERT(strcmp(name, pp_status_str(o)) != 0);
            CU_ASSERT(strcmp(text, pp_strerror(o)) != 0);
        }
    }
    static const int unknown[] = {-1, 15, 1000, 0x7fffffff};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        pp_status s = (pp_status)unknown[i];
        CU_ASSERT_STRING_EQUAL(pp_status_str(s), "PP_UNKNOWN");
        const char *text = pp_strerror(s);
        CU_ASSERT_FATAL(text != NULL);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "nknown"));
        for (size_t j = 0; j < N_MAP; j++)
            CU_ASSERT(strcmp(text, map_rows[j].text) != 0);
    }
}

/* pp_future_set_error takes exactly the codes flagged in the map. */
static void test_status_future_codes(void)
{
    for (size_t i = 0; i < N_PINNED; i++) {
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_future_create(&f));
        pp_status st = pp_future_set_error(f, pinned[i].st, 7, "x");
        if (st != (pinned[i].fails ? PP_OK : PP_EINVAL))
            fprintf(stderr, "\n  pp_future_set_error(%s): %s", pinned[i].name, pp_status_str(st));
        CU_ASSERT_EQUAL(st, pinned[i].fails ? PP_OK : PP_EINVAL);
        if (pinned[i].fails)
            CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), pinned[i].st);
        pp_future_release(f);
    }
}

/* The header documents every code after pp_status, with its number ("@var PP_X" then
 * "N: ..." on the next line): a code added to the map without its description fails
 * (Doxygen shows the generated constants with these blocks; the map itself carries no
 * per-value comments). */
static void test_status_documented(void)
{
#ifdef PP_T_HEADER
    FILE *fp = fopen(PP_T_HEADER, "rb");
    if (!fp) {
        printf("SKIP: cannot read %s here ", PP_T_HEADER);
        return;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    const char *from = strstr(buf, "} pp_status;");
    CU_ASSERT_PTR_NOT_NULL_FATAL(from);
    for (size_t i = 0; i < N_MAP; i++) {
        char var[64], num[16];
        snprintf(var, sizeof var, "@var %s", map_rows[i].name);
        snprintf(num, sizeof num, "%d: ", map_rows[i].value);
        const char *at = strstr(from, var);
        bool ok = false;
        if (at) {
            at += strlen(var);
            ok = *at == '\r' || *at == '\n'; /* the name alone on its line */
            while (*at == '\r' || *at == '\n' || *at == ' ' || *at == '*')
                at++;
            ok = ok && strncmp(at, num, strlen(num)) == 0 && at[strlen(num)] != 0;
        }
        if (!ok)
            fprintf(stderr, "\n  the header lacks \"%s\" with \"%s...\" after pp_status", var,
                    num);
        CU_ASSERT(ok);
    }
#else
    printf("SKIP: built without PP_T_HEADER ");
#endif
}

/* ---- pp_last_error ---- */

static bool contains(const char *text, const char *part)
{
    bool ok = strstr(text, part) != NULL;
    if (!ok)
        fprintf(stderr, "\n  \"%s\" does not contain \"%s\"", text, part);
    return ok;
}

static int late_task(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    return 0;
}

/* Each kind of failure says what happened, naming the function. */
static void test_last_error_texts(void)
{
    /* a timeout */
    CU_ASSERT_EQUAL(pp_future_result(pending, 0, NULL), PP_ETIMEDOUT);
    CU_ASSERT(contains(pp_last_error(), "pp_future_result: "));
    CU_ASSERT(contains(pp_last_error(), "not done after the timeout of 0 ms"));
    const pp_error *e = NULL;
    CU_ASSERT_EQUAL(pp_future_exception(pending, 0, &e), PP_ETIMEDOUT);
    CU_ASSERT(contains(pp_last_error(), "pp_future_exception: "));

    /* a cancelled future */
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    CU_ASSERT(pp_future_cancel(f));
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ECANCELLED);
    CU_ASSERT(contains(pp_last_error(), "pp_future_result: the future was cancelled"));
    CU_ASSERT_EQUAL(pp_future_set_result(f, "x", 1), PP_ESTATE);
    CU_ASSERT(contains(pp_last_error(), "pp_future_set_result: the future is already "
                                        "cancelled"));
    pp_future_release(f);

    /* a failed call: its status and message */
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 3, "disk full"));
    CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, NULL), PP_ETASK);
    CU_ASSERT(contains(pp_last_error(), "pp_future_result: the call failed (PP_ETASK): disk "
                                        "full"));
    pp_future_release(f);

    /* as_completed's deadline */
    pp_as_completed *it = NULL;
    pp_future *fs[2] = {pending, done};
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(fs, 2, 0, &it));
    PP_ASSERT_OK(pp_as_completed_next(it, &f));
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT(contains(pp_last_error(),
                       "pp_as_completed_next: the iterator's deadline passed with 1 of 2 "
                       "futures not done"));
    pp_as_completed_end(it);

    /* registration after pp_worker_main() */
    CU_ASSERT_EQUAL(pp_register_task("late", late_task), PP_ESTATE);
    CU_ASSERT(contains(pp_last_error(), "pp_register_task: 'late': registration is over"));
    CU_ASSERT(contains(pp_last_error(), "pp_worker_main()"));

    /* a map: an unknown task is named; an item's failure carries the task's message */
    pp_map_iter *m = NULL;
    pp_buf arg = {"x", 1};
    CU_ASSERT_EQUAL(pp_map(ex, "no_such_task_here", &arg, 1, 1, PP_T_TIMEOUT_MS, &m),
                    PP_ENOTASK);
    CU_ASSERT(contains(pp_last_error(), "pp_map: no task 'no_such_task_here' is registered"));
    unsigned char failarg[4 + 9];
    int32_t code = 5;
    memcpy(failarg, &code, sizeof code);
    memcpy(failarg + 4, "bad input", 9);
    arg = (pp_buf){failarg, sizeof failarg};
    PP_ASSERT_OK_FATAL(pp_map(ex, "fail", &arg, 1, 1, PP_T_TIMEOUT_MS, &m));
    CU_ASSERT_EQUAL(pp_map_next(m, NULL, &e), PP_ETASK);
    CU_ASSERT(contains(pp_last_error(), "pp_map_next: the item failed (PP_ETASK): bad input"));
    pp_map_free(m);
}

/* The helpers that keep an OS or APR failure's detail (for the executor's PP_ESYS). */
static void test_last_error_os_detail(void)
{
    pp__oserr oe = {"posix_spawn", 2};
    char want[PP__LAST_ERROR_MAX], os[256];
    snprintf(want, sizeof want, "pp_executor_create: %s",
             pp__os_strerror(&oe, os, sizeof os));
    CU_ASSERT_EQUAL(pp__fail_oserr(PP_ESYS, "pp_executor_create", &oe), PP_ESYS);
    CU_ASSERT_STRING_EQUAL(pp_last_error(), want);
    CU_ASSERT(contains(pp_last_error(), "pp_executor_create: posix_spawn: (2) "));
    CU_ASSERT_EQUAL(pp__fail_oserr(PP_ESYS, "pp_submit", NULL), PP_ESYS);
    snprintf(want, sizeof want, "pp_submit: %s", pp_strerror(PP_ESYS));
    CU_ASSERT_STRING_EQUAL(pp_last_error(), want);
    CU_ASSERT_EQUAL(pp__fail_apr(PP_ESYS, "pp_executor_create", "apr_thread_create", 12),
                    PP_ESYS);
    CU_ASSERT(contains(pp_last_error(), "pp_executor_create: apr_thread_create: (12) "));
    CU_ASSERT(strlen(pp_last_error()) > strlen("pp_executor_create: apr_thread_create: (12) "));
}

/* A long text is cut to the buffer, ending with "...", and never inside a UTF-8 character. */
static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        int more = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2
                 : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (more < 0)
            return false;
        s++;
        for (int i = 0; i < more; i++, s++) {
            if ((*s & 0xC0) != 0x80)
                return false;
        }
    }
    return true;
}

static void test_last_error_cut(void)
{
    static char msg[3001];
    for (int variant = 0; variant < 3; variant++) {
        /* ASCII, then two-byte characters at both alignments */
        size_t n = 0;
        if (variant == 2)
            msg[n++] = 'a';
        while (n + 2 < sizeof msg) {
            if (variant == 0) {
                msg[n++] = 'x';
            } else {
                msg[n++] = (char)0xC3; /* U+00E9 */
                msg[n++] = (char)0xA9;
            }
        }
        msg[n] = 0;
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_future_create(&f));
        PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 1, msg));
        CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETASK);
        const char *t = pp_last_error();
        size_t len = strlen(t);
        CU_ASSERT(len > 400 && len <= 511);
        CU_ASSERT(len >= 3 && strcmp(t + len - 3, "...") == 0);
        CU_ASSERT(valid_utf8((const unsigned char *)t));
        CU_ASSERT(strncmp(t, "pp_future_result: ", 18) == 0);
        pp_future_release(f);
    }
}

/* Calls that succeed leave the text as it was (errno's rule), PP_END included. */
static void test_last_error_untouched_by_success(void)
{
    CU_ASSERT_EQUAL(pp_future_result(NULL, 0, NULL), PP_EINVAL);
    char before[PP__LAST_ERROR_MAX];
    snprintf(before, sizeof before, "%s", pp_last_error());
    CU_ASSERT_STRING_EQUAL(before, "pp_future_result: invalid argument: f != NULL");

    pp_future *f = NULL;
    pp_buf r;
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    PP_ASSERT_OK(pp_future_add_done_callback(f, noop_cb, NULL));
    PP_ASSERT_OK(pp_future_set_result(f, "ok", 2));
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    pp_future *fs[2] = {f, done};
    size_t n_done = 0;
    PP_ASSERT_OK(pp_wait(fs, 2, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, NULL, &n_done));
    PP_ASSERT_OK(pp_wait(fs, 2, 0, PP_ALL_COMPLETED, NULL, &n_done));
    pp_as_completed *it = NULL;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(fs, 2, PP_T_TIMEOUT_MS, &it));
    pp_future *g;
    PP_ASSERT_OK(pp_as_completed_next(it, &g));
    PP_ASSERT_OK(pp_as_completed_next(it, &g));
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &g), PP_END);
    pp_as_completed_end(it);
    pp_future_release(f);

    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "y", 1, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    pp_future_release(f);
    pp_map_iter *m = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "echo", two_args, 2, 1, PP_T_TIMEOUT_MS, &m));
    PP_ASSERT_OK(pp_map_next(m, &r, &e));
    PP_ASSERT_OK(pp_map_next(m, &r, &e));
    CU_ASSERT_EQUAL(pp_map_next(m, &r, &e), PP_END);
    CU_ASSERT_EQUAL(pp_map_next(m, &r, &e), PP_END);
    pp_map_free(m);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));

    CU_ASSERT_STRING_EQUAL(pp_last_error(), before);
}

/* Each thread has its own text: "" before its first failure, and another thread's failure
 * does not change it. */
typedef struct thread_texts {
    char first[PP__LAST_ERROR_MAX]; /* what the new thread saw at its start */
    char own[PP__LAST_ERROR_MAX];   /* its text after its own failure */
    bool was_null;
} thread_texts;

static void other_thread(void *arg)
{
    thread_texts *t = arg;
    const char *s = pp_last_error();
    t->was_null = s == NULL;
    snprintf(t->first, sizeof t->first, "%s", s ? s : "(null)");
    pp_as_completed *it;
    (void)pp_as_completed_begin(NULL, 3, 0, &it); /* fails: PP_EINVAL */
    snprintf(t->own, sizeof t->own, "%s", pp_last_error());
}

static void test_last_error_per_thread(void)
{
    CU_ASSERT_EQUAL(pp_map_next(NULL, NULL, NULL), PP_EINVAL);
    char mine[PP__LAST_ERROR_MAX];
    snprintf(mine, sizeof mine, "%s", pp_last_error());
    CU_ASSERT_STRING_EQUAL(mine, "pp_map_next: invalid argument: it != NULL");

    thread_texts t;
    memset(&t, 0, sizeof t);
    pp_t_thread *th = pp_t_thread_start(other_thread, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(th);
    pp_t_thread_join(th);
    CU_ASSERT_FALSE(t.was_null);
    CU_ASSERT_STRING_EQUAL(t.first, "");
    CU_ASSERT_STRING_EQUAL(t.own, "pp_as_completed_begin: invalid argument: fs is NULL with n 3");
    CU_ASSERT_STRING_EQUAL(pp_last_error(), mine);
}

/* pp_version: the library linked is the version of the header compiled against; NULL
 * pointers are skipped one by one. */
static void test_version(void)
{
    int major = -1, minor = -1, patch = -1;
    pp_version(&major, &minor, &patch);
    CU_ASSERT_EQUAL(major, PP_VERSION_MAJOR);
    CU_ASSERT_EQUAL(minor, PP_VERSION_MINOR);
    CU_ASSERT_EQUAL(patch, PP_VERSION_PATCH);
    CU_ASSERT_EQUAL(PROCPOOL_VERSION_MAJOR * 10000 + PROCPOOL_VERSION_MINOR * 100 +
                        PROCPOOL_VERSION_PATCH,
                    PP_VERSION_MAJOR * 10000 + PP_VERSION_MINOR * 100 + PP_VERSION_PATCH);
    int m2 = -1;
    pp_version(NULL, &m2, NULL);
    CU_ASSERT_EQUAL(m2, PP_VERSION_MINOR);
    pp_version(NULL, NULL, NULL);
    printf("(%d.%d.%d) ", major, minor, patch);
}

static CU_TestInfo tests[] = {
    {"every public function with NULL and invalid arguments", test_table},
    {"status codes keep their numbers", test_status_numbers_pinned},
    {"status names and sentences are distinct", test_status_texts},
    {"futures fail with the codes the map flags", test_status_future_codes},
    {"every status code is documented in the header", test_status_documented},
    {"pp_last_error says what failed", test_last_error_texts},
    {"pp_last_error is cut safely", test_last_error_cut},
    {"pp_last_error keeps an OS error's detail", test_last_error_os_detail},
    {"pp_last_error is untouched by successful calls", test_last_error_untouched_by_success},
    {"pp_last_error is per thread", test_last_error_per_thread},
    {"pp_version returns the header's PP_VERSION_MAJOR/MINOR/PATCH", test_version},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_badinput = {"badinput", suite_init, suite_cleanup, NULL, NULL,
                                        tests};
