/*
 * Core-private interface of the task registry (registry.c).
 */
#ifndef PP_REGISTRY_H
#define PP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

/* Looks up the task called name[0..len); returns its stable, NUL-terminated registered name
 * (valid for the life of the process) and sets *fn (if fn is not NULL), or returns NULL. */
const char *pp__registry_lookup(const char *name, size_t len, pp_task_fn *fn);

/* pp_worker_main() was called: registration is over. */
void pp__registry_close(void);
bool pp__registry_closed(void);

/* A hash of the set of registered names (not of their order, nor of the functions): two
 * processes that registered the same names have the same hash. A worker that connects from
 * elsewhere (the MPI add-on) presents it, so that a different build is refused before it is
 * sent any call. */
uint64_t pp__registry_hash(void);

#endif /* PP_REGISTRY_H */
