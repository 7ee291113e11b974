/*
 * The task registry: name -> function, in every process of a pool.
 *
 * Readers (submit, the worker loop) never lock: entries are only ever prepended, published
 * with an atomic pointer swap, and never freed; re-registering a name swaps its function
 * pointer atomically. Writers serialise on a compare-and-swap loop.
 */
#include <string.h>

#include <apr_atomic.h>

#include "pp_core.h"
#include "registry.h"

typedef struct entry {
    char               *name;
    volatile void      *fn; /* pp_task_fn, stored as a data pointer for apr_atomic */
    struct entry       *next;
} entry;

static volatile void *head;    /* entry * */
static volatile apr_uint32_t closed;

static entry *find(const char *name)
{
    for (entry *e = apr_atomic_casptr(&head, NULL, NULL); e; e = e->next) {
        if (strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

/* Function pointers and data pointers have the same representation on every platform
 * procpool supports (POSIX requires it for dlsym); memcpy keeps ISO C quiet. */
static void *fn_to_ptr(pp_task_fn fn)
{
    void *p;
    memcpy(&p, &fn, sizeof p);
    return p;
}

static pp_task_fn ptr_to_fn(void *p)
{
    pp_task_fn fn;
    memcpy(&fn, &p, sizeof fn);
    return fn;
}

pp_status pp_register_task(const char *name, pp_task_fn fn)
{
    PP__CHECK_ARG(name != NULL && fn != NULL);
    size_t len = strlen(name);
    PP__CHECK_ARG(len > 0 && len <= PP__NAME_MAX);
    pp_status st = pp__global_init(); /* APR's atomics may need it */
    if (st != PP_OK)
        return st;
    if (apr_atomic_read32(&closed))
        return PP_ESTATE;
    entry *e = find(name);
    if (e) {
        apr_atomic_xchgptr(&e->fn, fn_to_ptr(fn));
        return PP_OK;
    }
    e = pp__calloc(1, sizeof *e);
    if (!e || !(e->name = pp__strdup(name))) {
        pp__free(e);
        return PP_ENOMEM;
    }
    apr_atomic_xchgptr(&e->fn, fn_to_ptr(fn));
    for (;;) {
        entry *old = apr_atomic_casptr(&head, NULL, NULL);
        e->next = old;
        if (apr_atomic_casptr(&head, e, old) == old)
            break;
        entry *dup = find(name); /* another thread registered the same name meanwhile */
        if (dup) {
            apr_atomic_xchgptr(&dup->fn, fn_to_ptr(fn));
            pp__free(e->name);
            pp__free(e);
            break;
        }
    }
    return PP_OK;
}

const char *pp__registry_lookup(const char *name, size_t len, pp_task_fn *fn)
{
    if (len == 0 || len > PP__NAME_MAX)
        return NULL;
    for (entry *e = apr_atomic_casptr(&head, NULL, NULL); e; e = e->next) {
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0) {
            if (fn)
                *fn = ptr_to_fn(apr_atomic_casptr(&e->fn, NULL, NULL));
            return e->name;
        }
    }
    return NULL;
}

void pp__registry_close(void)
{
    apr_atomic_set32(&closed, 1);
}

bool pp__registry_closed(void)
{
    return apr_atomic_read32(&closed) != 0;
}
