/*
 * Spin, then sleep: the policy of spin.h, and the one poll loop that the manager, the
 * workers and the callers share.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "pp_os.h"
#include "spin.h"

int64_t pp__spin_parse_ns(const char *value)
{
    if (!value || !*value)
        return (int64_t)PP__SPIN_DEFAULT_US * 1000;
    char *end = NULL;
    long v = strtol(value, &end, 10);
    if (end == value || *end != '\0')
        return (int64_t)PP__SPIN_DEFAULT_US * 1000;
    if (v < 0)
        v = 0;
    if (v > PP__SPIN_MAX_US)
        v = PP__SPIN_MAX_US;
    return (int64_t)v * 1000;
}

/* The CPUs this process may use, read once (threads that race here read the same). */
static int cpus(void)
{
    static atomic_int cached; /* 0: not read yet */
    int n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!n) {
        n = pp__os_cpu_count();
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

int64_t pp__spin_max_ns(void)
{
    /* -1: not read yet. Threads that race here compute the same value. */
    static atomic_llong cached = -1;
    long long v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = cpus() > 1 ? (long long)pp__spin_parse_ns(getenv(PP__SPIN_ENV)) : 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return (int64_t)v;
}

void pp__spin_init(pp__spin *s, int64_t max_ns)
{
    s->max_ns = max_ns > 0 ? max_ns : 0;
    s->avg_ns = 8 * s->max_ns;
}

int64_t pp__spin_budget(const pp__spin *s)
{
    return s->max_ns > 0 && s->avg_ns < s->max_ns ? s->max_ns : 0;
}

void pp__spin_record(pp__spin *s, int64_t waited_ns)
{
    if (s->max_ns <= 0)
        return;
    int64_t w = waited_ns < 0 ? 0 : waited_ns > 8 * s->max_ns ? 8 * s->max_ns : waited_ns;
    /* a quarter of the way to the new value: eight short waits undo a long one */
    s->avg_ns += (w - s->avg_ns) / 4;
}

static atomic_int busy_workers;

void pp__spin_busy_add(int delta)
{
    if (delta)
        atomic_fetch_add_explicit(&busy_workers, delta, memory_order_relaxed);
}

void pp__spin_busy_forget(void)
{
    atomic_store_explicit(&busy_workers, 0, memory_order_relaxed);
}

bool pp__spin_cpus_taken(void)
{
    return atomic_load_explicit(&busy_workers, memory_order_relaxed) >= cpus();
}

bool pp__spin_poll(const pp__spin *s, int64_t limit_ns, bool (*ready)(void *arg), void *arg,
                   int64_t *t0)
{
    *t0 = s->max_ns ? pp__os_monotonic_ns() : 0;
    int64_t budget = pp__spin_budget(s);
    if (budget > 0 && pp__spin_cpus_taken())
        budget = 0;
    if (limit_ns >= 0 && limit_ns < budget)
        budget = limit_ns;
    while (budget > 0) {
        if (ready(arg))
            return true;
        if (pp__os_monotonic_ns() - *t0 >= budget)
            break;
        pp__os_yield(); /* a thread ready to run on this CPU goes first */
    }
    return false;
}

void pp__spin_end(pp__spin *s, int64_t t0)
{
    if (s->max_ns)
        pp__spin_record(s, pp__os_monotonic_ns() - t0);
}
