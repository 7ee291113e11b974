/*
 * primes_mpi: examples/primes.c across machines. The workers are the other ranks of an MPI
 * job (libprocpool_mpi, PP_START_MPI); the program is otherwise the same.
 *
 *     mpiexec --enable-recovery -n 4 ./primes_mpi     # rank 0 and three workers
 *     ./primes_mpi                                     # alone: workers spawned (Open MPI)
 *
 * Every rank runs main(): each registers the task, then pp_mpi_worker_main() keeps ranks
 * 1..N-1 serving (it never returns there) and returns 0 on rank 0, which maps the numbers
 * over the pool, prints each answer in input order, and exits nonzero on any error.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "procpool.h"
#include "procpool_mpi.h"

static const uint64_t PRIMES[] = {112272535095293ULL, 112582705942171ULL, 112272535095293ULL,
                                  115280095190773ULL, 115797848077099ULL, 1099726899285419ULL};
#define N_PRIMES (sizeof PRIMES / sizeof PRIMES[0])

static bool is_prime(uint64_t n)
{
    if (n < 2)
        return false;
    if (n % 2 == 0)
        return n == 2;
    uint64_t sqrt_n = (uint64_t)floor(sqrt((double)n));
    for (uint64_t i = 3; i <= sqrt_n; i += 2) {
        if (n % i == 0)
            return false;
    }
    return true;
}

/* The task, run in a worker rank: a uint64 in, one byte (0 or 1) out. */
static int is_prime_task(pp_task_ctx *ctx, const void *arg, size_t len)
{
    uint64_t n;
    if (len != sizeof n) {
        pp_task_error(ctx, "is_prime: expected 8 argument bytes, got %lu", (unsigned long)len);
        return 1;
    }
    memcpy(&n, arg, sizeof n);
    unsigned char r = is_prime(n);
    return pp_task_return(ctx, &r, 1) == PP_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    pp_register_task("is_prime", is_prime_task); /* in every rank, before the next line */
    if (pp_mpi_worker_main(argc, argv) != 0)     /* worker ranks serve here, never return */
        return 1;

    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI; /* max_workers 0: every worker rank of the job (run
                                      without mpiexec, the workers are spawned) */
    pp_executor *ex = NULL;
    pp_status st = pp_executor_create(&o, &ex);
    if (st != PP_OK) {
        fprintf(stderr, "primes_mpi: pp_executor_create: %s\n", pp_status_str(st));
        return 1;
    }
    pp_buf args[N_PRIMES];
    for (size_t i = 0; i < N_PRIMES; i++)
        args[i] = (pp_buf){&PRIMES[i], sizeof PRIMES[i]};
    pp_map_iter *it = NULL;
    int rc = 0;
    st = pp_map(ex, "is_prime", args, N_PRIMES, 1, PP_FOREVER, &it);
    for (size_t i = 0; st == PP_OK && i < N_PRIMES; i++) {
        pp_buf r;
        const pp_error *err = NULL;
        st = pp_map_next(it, &r, &err);
        if (st != PP_OK) {
            fprintf(stderr, "primes_mpi: %s: %s\n", pp_status_str(st),
                    err && err->message ? err->message : "");
            break;
        }
        printf("%llu is prime: %s\n", (unsigned long long)PRIMES[i],
               ((const unsigned char *)r.data)[0] ? "True" : "False");
    }
    if (st != PP_OK) {
        if (!it)
            fprintf(stderr, "primes_mpi: pp_map: %s\n", pp_status_str(st));
        rc = 1;
    }
    pp_map_free(it);
    pp_executor_destroy(ex);
    return rc;
}
