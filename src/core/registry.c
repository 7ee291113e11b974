/*
 * The task registry: name -> function, in every process of a pool.
 *
 * Readers (submit, the worker loop) never lock: entries are only ever prepended, published
 * with an atomic compare-and-swap, and never freed; re-registering a name stores its
 * function pointer atomically.
 */
#include <string.h>

#include <stdatomic.h>

#include "pp_core.h"
#include "registry.h"

typedef struct entry {
    char                *name;
    _Atomic(pp_task_fn)  fn;
    struct entry        *next;
} entry;

static _Atomic(entry *) head;
static atomic_bool      closed;

static entry *find(const char *name)
{
    for (entry *e = atomic_load_explicit(&head, memory_order_acquire); e; e = e->next) {
        if (strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

pp_status pp_register_task(const char *name, pp_task_fn fn)
{
    PP__CHECK_ARG(name != NULL);
    size_t len = strlen(name);
    PP__CHECK_ARG_MSG(len > 0, "invalid argument: the task name is empty");
    PP__CHECK_ARG_MSG(len <= PP__NAME_MAX,
                      "invalid argument: the task name is %zu bytes long (at most %d)", len,
                      PP__NAME_MAX);
    PP__CHECK_ARG(fn != NULL);
    if (atomic_load(&closed))
        return pp__fail(PP_ESTATE, "pp_register_task: '%s': registration is over in this "
                                   "process (pp_worker_main() was called: register every task "
                                   "before it)", name);
    entry *e = find(name);
    if (e) {
        atomic_store(&e->fn, fn);
        return PP_OK;
    }
    e = pp__calloc(1, sizeof *e);
    if (!e || !(e->name = pp__strdup(name))) {
        pp__free(e);
        return pp__fail(PP_ENOMEM, "pp_register_task: out of memory");
    }
    atomic_store(&e->fn, fn);
    for (;;) {
        entry *old = atomic_load_explicit(&head, memory_order_acquire);
        e->next = old;
        if (atomic_compare_exchange_strong(&head, &old, e))
            break;
        entry *dup = find(name); /* another thread registered the same name meanwhile */
        if (dup) {
            atomic_store(&dup->fn, fn);
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
    for (entry *e = atomic_load_explicit(&head, memory_order_acquire); e; e = e->next) {
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0) {
            if (fn)
                *fn = atomic_load(&e->fn);
            return e->name;
        }
    }
    return NULL;
}

void pp__registry_close(void)
{
    atomic_store(&closed, true);
}

bool pp__registry_closed(void)
{
    return atomic_load(&closed) != 0;
}

/* FNV-1a of the name, then a finaliser (splitmix64), so that the sum below mixes well. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

uint64_t pp__registry_hash(void)
{
    uint64_t sum = 0, n = 0;
    for (entry *e = atomic_load_explicit(&head, memory_order_acquire); e; e = e->next) {
        sum += name_hash(e->name);
        n++;
    }
    return sum ^ (n * 0x9e3779b97f4a7c15ull);
}
