/*
 * Windows has no fork: the fork and forkserver start methods are POSIX-only, and
 * pp_executor_create() answers PP_ENOTSUP for them here.
 */
#include "pp_os.h"

bool pp__os_fork_supported(void)
{
    return false;
}

pp_status pp__os_fork(pp__serve_fn serve, pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    (void)serve;
    (void)oe;
    *p = NULL;
    *c = NULL;
    return PP_ENOTSUP;
}

pp_status pp__os_forkserver_spawn(const char *program, pp__proc **p, pp__chan **c,
                                  pp__oserr *oe)
{
    (void)program;
    (void)oe;
    *p = NULL;
    *c = NULL;
    return PP_ENOTSUP;
}

pp_status pp__os_fork_ex(pp__serve_fn serve, const pp__os_wstart *ws, pp__proc **p,
                         pp__chan **c, pp__oserr *oe)
{
    (void)ws;
    return pp__os_fork(serve, p, c, oe);
}

pp_status pp__os_forkserver_spawn_ex(const char *program, const pp__os_wstart *ws,
                                     pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    (void)ws;
    return pp__os_forkserver_spawn(program, p, c, oe);
}

pp_status pp__os_forkserver_main(int argc, char **argv, void (*prepare)(void),
                                 pp__serve_fn serve, pp__oserr *oe)
{
    (void)argc;
    (void)argv;
    (void)prepare;
    (void)serve;
    (void)oe;
    return PP_END;
}
