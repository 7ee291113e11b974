/*
 * Spin, then sleep: how long a thread that waits for its next message (the manager in its
 * wait set, a worker on its channel, a caller on a future: future.c, one policy per
 * thread) keeps polling before it goes to sleep.
 *
 * Why: waking a sleeping thread costs a hand-off between CPUs, and on a virtual machine an
 * idle CPU has to be woken through the hypervisor: 10-20 us a hand-off on the 2-vCPU VM of
 * bench/, four hand-offs a call. A thread that polls for a few tens of microseconds instead
 * sees the message at once. Polling costs a CPU, so it is done only where it pays, and it
 * gives way to any thread that wants the CPU:
 *
 * - only while recent waits were short (a moving average of the waited times below the
 *   longest spin): a pool that runs long tasks, or waits long between calls, never polls;
 * - between two looks the poller yields (pp__os_yield), so a thread ready to run on its
 *   CPU (a busy worker, the caller, another program) goes first. Measured with CPU-bound
 *   tasks of 20 us to 1 ms on two and four workers (pp_bench cpu): polling cost them
 *   nothing measurable. (A first version also kept the manager from polling while every
 *   CPU had a busy worker; with the yield that rule only cost speed: submit +60 % without
 *   it.)
 * - never on a one-CPU machine, where the poller would only hold up the thread it waits
 *   for, nor while every CPU has a worker running a call (pp__spin_cpus_taken: measured
 *   with 100 us tasks on two workers and two CPUs, callers that polled took 13-18 us of
 *   CPU a call from the workers).
 *
 * The longest spin is PP__SPIN_DEFAULT_US microseconds, or what the environment variable
 * PROCPOOL_SPIN_US says (0: never poll; at most PP__SPIN_MAX_US), read once per process;
 * a worker reads the same environment (inherited) and decides for itself.
 */
#ifndef PP_SPIN_H
#define PP_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#define PP__SPIN_DEFAULT_US 50
#define PP__SPIN_MAX_US 10000
#define PP__SPIN_ENV "PROCPOOL_SPIN_US"

typedef struct pp__spin {
    int64_t max_ns; /* the longest spin; 0: never */
    int64_t avg_ns; /* moving average of the recent waits, each counted at most 8 * max_ns */
} pp__spin;

/* The longest spin of this process in nanoseconds (PROCPOOL_SPIN_US, or the default; 0
 * when the process may use only one CPU), worked out at the first call. */
int64_t pp__spin_max_ns(void);
/* Parses a PROCPOOL_SPIN_US value: NULL or malformed gives the default; clamped to
 * 0..PP__SPIN_MAX_US. In nanoseconds. */
int64_t pp__spin_parse_ns(const char *value);

/* A new policy with the given longest spin; it starts as if the last waits had been long
 * (so a new pool polls only once its waits have shown to be short). */
void pp__spin_init(pp__spin *s, int64_t max_ns);
/* How long to poll before sleeping in the next wait: max_ns or 0. */
int64_t pp__spin_budget(const pp__spin *s);
/* Records how long a wait took (polling and sleeping, until its event). */
void pp__spin_record(pp__spin *s, int64_t waited_ns);

/* The poll of one wait: looks at ready(arg) until it says true, for as long as the policy
 * allows and at most limit_ns (-1: no limit of its own), yielding the CPU (pp__os_yield)
 * between two looks. True if ready said so; false: the caller sleeps. *t0 gets the time
 * the wait began: give it to pp__spin_end() once the wait is over, however it ended. */
bool pp__spin_poll(const pp__spin *s, int64_t limit_ns, bool (*ready)(void *arg), void *arg,
                   int64_t *t0);
/* Records the wait that began at t0 (pp__spin_poll) and ends now. */
void pp__spin_end(pp__spin *s, int64_t t0);

/* Workers of this process's pools that run a call now, as their managers last looked
 * (each adds the change it saw). While they are as many as the CPUs, no thread of this
 * process polls (pp__spin_poll): a poller would take a CPU from a worker. */
void pp__spin_busy_add(int delta);
bool pp__spin_cpus_taken(void);
/* A worker process starts with none (a forked one inherits its parent's count). */
void pp__spin_busy_forget(void);

#endif /* PP_SPIN_H */
