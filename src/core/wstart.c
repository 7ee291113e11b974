/*
 * How workers start: pp_executor_options.worker_env, worker_cwd and worker_memory_limit,
 * checked and copied into the executor's pp__os_wstart, which the backend applies when it
 * starts each worker (pp__os_spawn_ex, pp__os_fork_ex, pp__os_forkserver_spawn_ex).
 */
#include <string.h>

#include "executor_int.h"

pp_status pp__wstart_check(const pp_executor_options *o)
{
    if (o->worker_env) {
        for (size_t i = 0; o->worker_env[i]; i++) {
            const char *e = o->worker_env[i];
            const char *eq = strchr(e, '=');
            if (!eq || eq == e)
                return pp__fail_in("pp_executor_create", PP_EINVAL,
                                   "worker_env[%zu] \"%.100s\": must be NAME=value with a "
                                   "non-empty NAME",
                                   i, e);
        }
    }
    bool any = o->worker_env || o->worker_cwd || o->worker_memory_limit || o->max_worker_rss;
    if (any && o->start_method == PP_START_MPI)
        return pp__fail_in("pp_executor_create", PP_ENOTSUP,
                           "%s: not with PP_START_MPI (mpiexec starts the ranks: set their "
                           "environment and directory with its options)",
                           o->worker_env            ? "worker_env"
                           : o->worker_cwd          ? "worker_cwd"
                           : o->worker_memory_limit ? "worker_memory_limit"
                                                    : "max_worker_rss");
    if (o->max_worker_rss && o->start_method == PP_START_FORK)
        return pp__fail_in("pp_executor_create", PP_EINVAL,
                           "max_worker_rss %llu: not with PP_START_FORK (a fork pool cannot "
                           "replace a worker)",
                           o->max_worker_rss);
    if (o->worker_cwd) {
        pp__oserr oe = {NULL, 0};
        if (pp__os_check_dir(o->worker_cwd, &oe) != PP_OK) {
            char why[200];
            return pp__fail_in("pp_executor_create", PP_EINVAL,
                               "worker_cwd \"%.300s\": not a directory the workers can enter "
                               "(%s)",
                               o->worker_cwd, pp__os_strerror(&oe, why, sizeof why));
        }
    }
    return PP_OK;
}

void pp__wstart_free(pp__os_wstart *ws)
{
    if (ws->env) {
        for (size_t i = 0; ws->env[i]; i++)
            pp__free((char *)ws->env[i]);
        pp__free((void *)ws->env);
    }
    pp__free((char *)ws->cwd);
    memset(ws, 0, sizeof *ws);
}

pp_status pp__wstart_copy(pp_executor *ex, const pp_executor_options *o)
{
    pp__os_wstart *ws = &ex->wstart;
    memset(ws, 0, sizeof *ws);
    ex->max_worker_rss = o->max_worker_rss;
    ws->mem_limit = o->worker_memory_limit;
    if (o->worker_cwd && !(ws->cwd = pp__strdup(o->worker_cwd)))
        return PP_ENOMEM;
    if (o->worker_env) {
        size_t n = 0;
        while (o->worker_env[n])
            n++;
        char **env = pp__calloc(n + 1, sizeof *env);
        if (!env)
            return PP_ENOMEM;
        ws->env = (const char *const *)env;
        for (size_t i = 0; i < n; i++)
            if (!(env[i] = pp__strdup(o->worker_env[i])))
                return PP_ENOMEM; /* the caller frees what was copied */
    }
    return PP_OK;
}
