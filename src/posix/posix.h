/*
 * Private declarations shared by the POSIX backend's files.
 */
#ifndef PP_POSIX_H
#define PP_POSIX_H

#include <stdbool.h>
#include <sys/types.h>

#include "pp_core.h"
#include "pp_os.h"

struct pp__chan {
    int  fd;       /* one end of a socketpair(AF_UNIX, SOCK_STREAM) */
    bool blocking; /* the worker's end; the parent's is O_NONBLOCK */
};

struct pp__proc {
    pid_t    pid;
    int      pidfd;  /* Linux pidfd (exact exit sentinel, race-free kill), or -1 */
    bool     reaped;
    bool     lost;   /* waitpid said ECHILD: someone else reaped it (SIGCHLD ignored, or a
                        waitpid(-1) elsewhere); its pid may be reused, so never signal it */
    pp__exit status; /* valid once reaped */
};

/* Fills *oe with call and errno; returns PP_ESYS. */
pp_status pp__posix_err(pp__oserr *oe, const char *call, int err);

/* A new channel owning fd. NULL on ENOMEM (fd is then left open). */
pp__chan *pp__posix_chan_new(int fd, bool blocking);

#endif /* PP_POSIX_H */
