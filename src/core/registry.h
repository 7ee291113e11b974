/*
 * Core-private interface of the task registry (registry.c).
 */
#ifndef PP_REGISTRY_H
#define PP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "procpool.h"

/* Looks up the task called name[0..len); returns its stable, NUL-terminated registered name
 * (valid for the life of the process) and sets *fn (if fn is not NULL), or returns NULL. */
const char *pp__registry_lookup(const char *name, size_t len, pp_task_fn *fn);

/* pp_worker_main() was called: registration is over. */
void pp__registry_close(void);
bool pp__registry_closed(void);

#endif /* PP_REGISTRY_H */
