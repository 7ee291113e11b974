/*
 * Starters from outside the core: the one hook through which an add-on library (the MPI
 * add-on, src/mpi/) gives the executor its workers. The executor calls the registered
 * starter where it would otherwise spawn or fork; the workers it returns are ordinary
 * pp__proc / pp__chan pairs (the POSIX backend's remote workers, pp__os_remote_worker),
 * so the manager's state machine, wire protocol and crash handling are unchanged.
 * Includes no OS header.
 */
#ifndef PP_STARTER_H
#define PP_STARTER_H

#include "pp_core.h"
#include "pp_os.h"

typedef struct pp__starter {
    /* pp_executor_create: checks the options (already checked by the core otherwise) and
     * reserves the workers for one executor; *max_workers is the pool's size (o's, or the
     * starter's default for 0). PP_ESTATE (err says why) when the
     * starter's workers are taken by another live executor. *ctx is the executor's. */
    pp_status (*open)(const pp_executor_options *o, const void *ext, int *max_workers, void **ctx,
                      char *err, size_t cap);
    /* The manager thread: one more worker. PP_END: no more workers, ever (a static pool):
     * the pool goes on with those it has, or breaks if it has none. On another error, err
     * says why (the pool breaks). */
    pp_status (*start)(void *ctx, pp__proc **p, pp__chan **c, char *err, size_t cap);
    /* The executor is freed: its workers are all freed already. lost: they were cut off or
     * killed (the pool broke, or terminate_workers / kill_workers), not stopped. */
    void (*close)(void *ctx, bool lost);
} pp__starter;

/* Registers (or, with NULL, removes) the starter of a start method (PP_START_MPI). */
void pp__starter_set(pp_start_method m, const pp__starter *s);

/* executor.c: creates an executor started by the starter of o->start_method, with the
 * starter's own options (ext, passed to open). */
pp_status pp__executor_create_ext(const pp_executor_options *o, const void *ext, pp_executor **out);

/* worker.c: in a remote worker, serves one executor on c (INIT ... STOP) as a spawned
 * worker does, but returns at STOP instead of exiting: 0 after a session, 1 when the first
 * frame is STOP (no session: the parent is done with this worker). Exits the process as a
 * worker does on EOF (0), on a protocol error, when the initializer fails, or when a task
 * calls exit(). c stays the caller's. Closes task registration. */
int pp__worker_serve_session(pp__chan *c);

#endif /* PP_STARTER_H */
