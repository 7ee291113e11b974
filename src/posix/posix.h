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
    int  fd;        /* one end of a socketpair(AF_UNIX, SOCK_STREAM) */
    bool blocking;  /* the worker's end; the parent's is O_NONBLOCK */
    int  attach_fd; /* parent: sent with the next byte written (SCM_RIGHTS), or -1 */
    int  passed_fd; /* worker: the descriptor that arrived with a read, or -1 (owned) */
    int  more_fds[4]; /* worker: those that arrived after it, not yet taken (owned) */
    int  n_more;
    signed char local; /* its socket is AF_UNIX (can pass descriptors): 1, no: 0, not
                          asked yet: -1 (fd is set after the channel is made) */
};

struct pp__shm {
    int    fd;
    void  *addr;
    size_t size;
};

struct pp__proc {
    pid_t    pid;
    int      pidfd;  /* Linux pidfd (exact exit sentinel, race-free kill), or -1 */
    bool     reaped;
    bool     lost;   /* waitpid said ECHILD: someone else reaped it (SIGCHLD ignored, or a
                        waitpid(-1) elsewhere); its pid may be reused, so never signal it */
    pp__exit status; /* valid once reaped */
    int      status_fd; /* a forkserver's worker: its exit status arrives here (the raw
                           wait status, 4 bytes, then EOF), or -1 */
    /* a remote worker (pp__os_remote_worker, remote.c): not our child; its death is its
     * connection's end. sock is the channel's descriptor (the channel owns it). */
    bool     remote;
    bool     local;  /* remote, but on this host: signals work (through pidfd, else pid) */
    int      sock;
    char    *desc;
};

/* remote.c, for spawn.c: pp__os_proc_stop / _reap / _free of a remote worker. */
pp_status pp__posix_remote_stop(pp__proc *p, bool kill_it, pp__oserr *oe);
pp_status pp__posix_remote_reap(pp__proc *p, long timeout_ms);
void pp__posix_remote_free(pp__proc *p);
/* spawn.c: SIGTERM / SIGKILL through the pidfd where there is one; 0 or an errno value. */
int pp__posix_send_signal(pp__proc *p, int sig);

/* In a worker, before anything of the application runs: makes sure it leads its own process
 * group, and (Linux) that its parent's death kills it and that group (PR_SET_PDEATHSIG with
 * PP__POSIX_PDEATHSIG, whose handler is kill(0, SIGKILL)). parent > 0: if the parent is
 * already gone, the group is killed at once. Async-signal-safe (a forked child calls it).
 * spawn.c's top comment says why. */
#define PP__POSIX_PDEATHSIG SIGSTKFLT /* unused by Linux and by programs */
void pp__posix_worker_guard(pid_t parent);
/* SIGKILL to the process group led by leader, which must not be reaped yet. */
void pp__posix_kill_group(pid_t leader);

/* The worker's end of its channel in a worker: descriptor 3. */
#define PP__POSIX_CHILD_FD 3

/* Fills *oe with call and errno; returns PP_ESYS. */
pp_status pp__posix_err(pp__oserr *oe, const char *call, int err);

/* spawn.c, for fork.c: checks that path is a program posix_spawn can start; starts args[0]
 * with child_end as descriptor 3 and nothing else above 2 (signals as described in
 * spawn.c); opens a pidfd (-1 if none). */
pp_status pp__posix_check_program(const char *path, pp__oserr *oe);
pp_status pp__posix_spawn_child(char *const *args, int child_end, char *const *envp,
                                const char *cwd, pid_t *pid, pp__oserr *oe);
/* environ with the "NAME=value" entries of add set on top (pointers into both; a later add
 * entry for a name wins), in a pp__calloc'ed NULL-ended array; NULL on ENOMEM. */
char **pp__posix_merge_env(const char *const *add);
/* RLIMIT_DATA of process pid (0: this one) to bytes (0: nothing is done). */
pp_status pp__posix_set_memlimit(pid_t pid, unsigned long long bytes, pp__oserr *oe);
int pp__posix_open_pidfd(pid_t pid);

/* A socketpair (both ends close-on-exec) for a child: sv[0] the parent's end, non-blocking
 * if asked; sv[1] the child's, blocking, and never descriptor 3 (see spawn.c). On error
 * both are closed and set to -1. */
pp_status pp__posix_channel_pair(int sv[2], bool parent_nonblock, pp__oserr *oe);

/* The descriptor a wait set polls for p's exit: its status pipe, its pidfd, or -1. */
int pp__posix_proc_sentinel(const pp__proc *p);

/* A new channel owning fd. NULL on ENOMEM (fd is then left open). */
pp__chan *pp__posix_chan_new(int fd, bool blocking);

#endif /* PP_POSIX_H */
