/*
 * The as_completed suite: done futures first, then completion order; duplicates once;
 * the deadline counts from begin; references; argument checks.
 */
#include <string.h>

#include "pp_test.h"

static pp_future *pending(void)
{
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    return f;
}

typedef struct order {
    pp_future *fs[3];
    unsigned   gap_ms;
} order;

/* Completes fs[2], fs[0], fs[1] in that order, gap_ms apart. */
static void complete_in_order(void *arg)
{
    order *o = arg;
    int seq[3] = {2, 0, 1};
    for (int i = 0; i < 3; i++) {
        pp_t_sleep_ms(o->gap_ms);
        pp_future_set_result(o->fs[seq[i]], NULL, 0);
    }
}

static void test_completion_order(void)
{
    pp_future *done_already = pending();
    PP_ASSERT_OK(pp_future_set_result(done_already, NULL, 0));
    order o = {{pending(), pending(), pending()}, 60};
    pp_future *in[4] = {o.fs[0], o.fs[1], done_already, o.fs[2]};
    pp_as_completed *it;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(in, 4, PP_T_TIMEOUT_MS, &it));
    pp_t_thread *t = pp_t_thread_start(complete_in_order, &o);
    pp_future *expect[4] = {done_already, o.fs[2], o.fs[0], o.fs[1]};
    for (int i = 0; i < 4; i++) {
        pp_future *f = NULL;
        PP_ASSERT_OK(pp_as_completed_next(it, &f));
        CU_ASSERT_PTR_EQUAL(f, expect[i]);
        CU_ASSERT(pp_future_done(f));
    }
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_END);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_END);
    pp_as_completed_end(it);
    pp_t_thread_join(t);
    for (int i = 0; i < 3; i++)
        pp_future_release(o.fs[i]);
    pp_future_release(done_already);
}

static void test_duplicates_once(void)
{
    pp_future *a = pending(), *b = pending();
    PP_ASSERT_OK(pp_future_set_result(a, NULL, 0));
    PP_ASSERT_OK(pp_future_set_result(b, NULL, 0));
    pp_future *in[5] = {a, b, a, b, a};
    pp_as_completed *it;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(in, 5, 0, &it));
    pp_future *f1, *f2, *f3;
    PP_ASSERT_OK(pp_as_completed_next(it, &f1));
    PP_ASSERT_OK(pp_as_completed_next(it, &f2));
    CU_ASSERT(f1 != f2);
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f3), PP_END);
    pp_as_completed_end(it);
    pp_future_release(a);
    pp_future_release(b);
}

static void test_timeout(void)
{
    pp_future *a = pending(), *b = pending();
    PP_ASSERT_OK(pp_future_set_result(a, NULL, 0));
    pp_future *in[2] = {a, b};
    pp_as_completed *it;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(in, 2, 150, &it));
    pp_future *f;
    PP_ASSERT_OK(pp_as_completed_next(it, &f));
    CU_ASSERT_PTR_EQUAL(f, a);
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(pp_t_now_ms() - t0 >= 140);
    pp_as_completed_end(it);
    /* the unfinished one can still be waited for by other means */
    PP_ASSERT_OK(pp_future_set_result(b, NULL, 0));
    PP_ASSERT_OK(pp_future_result(b, 0, NULL));
    pp_future_release(a);
    pp_future_release(b);
}

static void test_own_references(void)
{
    pp_future *a = pending(), *b = pending();
    pp_future *in[2] = {a, b};
    pp_as_completed *it;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(in, 2, PP_T_TIMEOUT_MS, &it));
    PP_ASSERT_OK(pp_future_set_result(a, "a", 1));
    CU_ASSERT(pp_future_cancel(b)); /* a cancelled future is yielded too */
    pp_future_release(a);           /* the iterator keeps its own references */
    pp_future_release(b);
    pp_future *f;
    PP_ASSERT_OK(pp_as_completed_next(it, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT(r.len == 1 && memcmp(r.data, "a", 1) == 0);
    PP_ASSERT_OK(pp_as_completed_next(it, &f));
    CU_ASSERT(pp_future_cancelled(f));
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_END);
    pp_as_completed_end(it);
}

static void test_empty_and_bad_arguments(void)
{
    pp_as_completed *it = (pp_as_completed *)1;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(NULL, 0, 0, &it));
    pp_future *f;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_END);
    CU_ASSERT_EQUAL(pp_as_completed_next(it, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_as_completed_next(NULL, &f), PP_EINVAL);
    pp_as_completed_end(it);
    pp_as_completed_end(NULL);
    pp_future *a = pending();
    pp_future *in[2] = {a, NULL};
    it = (pp_as_completed *)1;
    CU_ASSERT_EQUAL(pp_as_completed_begin(in, 2, 0, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    CU_ASSERT_EQUAL(pp_as_completed_begin(in, 1, -3, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_as_completed_begin(NULL, 1, 0, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_as_completed_begin(in, 1, 0, NULL), PP_EINVAL);
    pp_future_release(a);
}

static void test_executor_order(void)
{
    pp_executor *ex = pp_t_executor(3);
    pp_t_sleep_arg d[3] = {{900, 0}, {0, 1}, {300, 2}};
    pp_future *fs[3];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &d[i], sizeof d[i], &fs[i]));
    pp_as_completed *it;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(fs, 3, PP_T_TIMEOUT_MS, &it));
    int expect[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        pp_future *f;
        PP_ASSERT_OK(pp_as_completed_next(it, &f));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f, 0, &r));
        CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == expect[i]);
    }
    pp_as_completed_end(it);
    for (int i = 0; i < 3; i++)
        pp_future_release(fs[i]);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"done first, then completion order", test_completion_order},
    {"duplicates yielded once", test_duplicates_once},
    {"PP_ETIMEDOUT when the deadline passes", test_timeout},
    {"own references; cancelled futures are yielded", test_own_references},
    {"empty input and bad arguments", test_empty_and_bad_arguments},
    {"executor futures in completion order", test_executor_order},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_as_completed = {"as_completed", NULL, NULL, NULL, NULL, tests};
