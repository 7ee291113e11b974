/*
 * Windows backend: remote workers (pp_os.h). They serve the MPI add-on, which is POSIX only:
 * PP_ENOTSUP.
 */
#include "win32.h"

pp_status pp__os_remote_worker(intptr_t sock, long long pid, bool local, const char *desc,
                               pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    (void)sock, (void)pid, (void)local, (void)desc, (void)oe;
    *p = NULL;
    *c = NULL;
    return PP_ENOTSUP;
}

pp_status pp__os_chan_from_socket(intptr_t sock, pp__chan **c, pp__oserr *oe)
{
    (void)sock, (void)oe;
    *c = NULL;
    return PP_ENOTSUP;
}

const char *pp__os_proc_desc(const pp__proc *p)
{
    (void)p;
    return NULL;
}
