/* A program built against an installed procpool, as outside code would. */
#include <stdio.h>
#include <string.h>

#include <procpool.h>

static int twice(pp_task_ctx *ctx, const void *arg, size_t len)
{
    char buf[64];
    if (len * 2 > sizeof buf)
        return 1;
    memcpy(buf, arg, len);
    memcpy(buf + len, arg, len);
    return pp_task_return(ctx, buf, 2 * len) == PP_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    pp_register_task("twice", twice);
    pp_worker_main(argc, argv);
    pp_executor *ex;
    pp_future *f;
    pp_buf r;
    if (pp_executor_create(NULL, &ex) != PP_OK || pp_submit(ex, "twice", "ab", 2, &f) != PP_OK)
        return 1;
    pp_status st = pp_future_result(f, 30000, &r);
    int ok = st == PP_OK && r.len == 4 && memcmp(r.data, "abab", 4) == 0;
    pp_future_release(f);
    pp_executor_destroy(ex);
    printf("consumer: %s\n", ok ? "ok" : pp_status_str(st));
    return ok ? 0 : 1;
}
