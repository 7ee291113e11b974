/*
 * Core-private executor interface used by map.c.
 */
#ifndef PP_EXECUTOR_H
#define PP_EXECUTOR_H

#include "pp_core.h"
#include "pp_os.h"

/* Submits one work item that calls task (a stable registered name, see registry.h) once per
 * argument of args[0..n), n >= 1. With raw, the future's result is the whole RESULT body
 * (decode it with pp__wire_decode_result); otherwise n must be 1 and the future gets the
 * item's result or error. On PP_OK, *out has one reference for the caller. */
pp_status pp__submit_batch(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                           bool raw, pp_future **out);


/* Once the pool is broken: a copy of why (caller frees; NULL if not broken or ENOMEM), with
 * the dead worker's exit code (or -signal) and pid. */
char *pp__executor_broken_cause(pp_executor *ex, int *code, long long *pid);

/* worker.c: the worker loop of a worker forked without exec (fork, forkserver). Never
 * returns. */
void pp__worker_serve_forked(pp__chan *c);

#endif /* PP_EXECUTOR_H */
