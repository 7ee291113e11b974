/*
 * A program built against an installed procpool, as outside code would: it registers a
 * task, serves as a worker when started as one, and runs one call in a worker process.
 * Exit status 0 only if the result came back right.
 */
#include <stdio.h>
#include <string.h>

#include <procpool.h>

/* procpool::procpool (the shared library) must hand PP_SHARED to its users, so that PP_API
 * becomes dllimport on Windows; procpool::procpool_static must not. */
#if defined(PP_EXPECT_SHARED) && !defined(PP_SHARED)
#error "procpool::procpool did not define PP_SHARED for its users"
#endif
#if !defined(PP_EXPECT_SHARED) && defined(PP_SHARED)
#error "PP_SHARED is defined for a program linking the static library"
#endif

/* The task: returns its argument bytes twice. */
static int twice(pp_task_ctx *ctx, const void *arg, size_t len)
{
    char buf[64];
    if (len * 2 > sizeof buf) {
        pp_task_error(ctx, "twice: %zu bytes is too long", len);
        return 1;
    }
    memcpy(buf, arg, len);
    memcpy(buf + len, arg, len);
    return pp_task_return(ctx, buf, 2 * len) == PP_OK ? 0 : 1;
}

static int fail(const char *what, pp_status st)
{
    fprintf(stderr, "consumer: %s: %s\n", what, pp_status_str(st));
    return 1;
}

int main(int argc, char **argv)
{
    /* The library loaded has the ABI of the header compiled against: same major, and before
     * 1.0 the same minor (procpool.h, "Version"); here the installed pair must match exactly. */
    int major = -1, minor = -1, patch = -1;
    pp_version(&major, &minor, &patch);
    if (major != PP_VERSION_MAJOR || minor != PP_VERSION_MINOR || patch != PP_VERSION_PATCH) {
        fprintf(stderr, "consumer: header %d.%d.%d, library %d.%d.%d\n", PP_VERSION_MAJOR,
                PP_VERSION_MINOR, PP_VERSION_PATCH, major, minor, patch);
        return 1;
    }
    pp_status st = pp_register_task("twice", twice);
    if (st != PP_OK)
        return fail("pp_register_task", st);
    pp_worker_main(argc, argv); /* in a worker: serves, never returns */

    pp_executor_options opts;
    pp_executor_options_init(&opts);
    opts.max_workers = 1;
    pp_executor *ex;
    st = pp_executor_create(&opts, &ex);
    if (st != PP_OK)
        return fail("pp_executor_create", st);
    pp_future *f;
    st = pp_submit(ex, "twice", "ab", 2, &f);
    if (st != PP_OK) {
        pp_executor_destroy(ex);
        return fail("pp_submit", st);
    }
    pp_buf r;
    st = pp_future_result(f, 60000, &r);
    int ok = st == PP_OK && r.len == 4 && memcmp(r.data, "abab", 4) == 0;
    if (st != PP_OK) {
        const pp_error *err = NULL;
        if (pp_future_exception(f, 0, &err) == PP_OK && err)
            fprintf(stderr, "consumer: task failed: %s\n", err->message);
    }
    pp_future_release(f);
    pp_executor_destroy(ex);
    if (st != PP_OK)
        return fail("pp_future_result", st);
    printf("consumer: %s (procpool %d.%d.%d)\n", ok ? "ok" : "wrong result", major, minor, patch);
    return ok ? 0 : 1;
}
