/*
 * primes: the example of CPython's concurrent.futures documentation, in C.
 *
 *     PRIMES = [112272535095293, 112582705942171, 112272535095293,
 *               115280095190773, 115797848077099, 1099726899285419]
 *     with ProcessPoolExecutor() as executor:
 *         for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
 *             print('%d is prime: %s' % (number, prime))
 *
 * It checks the same numbers serially, then with the pool, and prints both wall times.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "procpool.h"

static const uint64_t PRIMES[] = {112272535095293ULL, 112582705942171ULL, 112272535095293ULL,
                                  115280095190773ULL, 115797848077099ULL, 1099726899285419ULL};
#define N_PRIMES (sizeof PRIMES / sizeof PRIMES[0])

static bool is_prime(uint64_t n)
{
    if (n < 2)
        return false;
    if (n == 2)
        return true;
    if (n % 2 == 0)
        return false;
    uint64_t sqrt_n = (uint64_t)floor(sqrt((double)n));
    for (uint64_t i = 3; i <= sqrt_n; i += 2) {
        if (n % i == 0)
            return false;
    }
    return true;
}

/* The task: a uint64 in, one byte (0 or 1) out. */
static int is_prime_task(pp_task_ctx *ctx, const void *arg, size_t len)
{
    uint64_t n;
    if (len != sizeof n) {
        pp_task_error(ctx, "is_prime: expected %zu bytes, got %zu", sizeof n, len);
        return 1;
    }
    memcpy(&n, arg, sizeof n);
    unsigned char r = is_prime(n);
    return pp_task_return(ctx, &r, 1) == PP_OK ? 0 : 1;
}

static double now_s(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    pp_register_task("is_prime", is_prime_task);
    pp_worker_main(argc, argv); /* in a worker: serves and never returns */

    double t0 = now_s();
    for (size_t i = 0; i < N_PRIMES; i++)
        (void)is_prime(PRIMES[i]);
    double serial = now_s() - t0;

    t0 = now_s();
    pp_executor *ex;
    pp_status st = pp_executor_create(NULL, &ex);
    if (st != PP_OK) {
        fprintf(stderr, "primes: pp_executor_create: %s\n", pp_status_str(st));
        return 1;
    }
    pp_buf args[N_PRIMES];
    for (size_t i = 0; i < N_PRIMES; i++)
        args[i] = (pp_buf){&PRIMES[i], sizeof PRIMES[i]};
    pp_map_iter *it;
    st = pp_map(ex, "is_prime", args, N_PRIMES, 1, PP_FOREVER, &it);
    if (st != PP_OK) {
        fprintf(stderr, "primes: pp_map: %s\n", pp_status_str(st));
        pp_executor_destroy(ex);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < N_PRIMES; i++) {
        pp_buf r;
        const pp_error *err;
        st = pp_map_next(it, &r, &err);
        if (st != PP_OK || r.len != 1) {
            fprintf(stderr, "primes: %llu: %s%s%s\n", (unsigned long long)PRIMES[i],
                    pp_status_str(st), err ? ": " : "", err ? err->message : "");
            rc = 1;
            continue;
        }
        printf("%llu is prime: %s\n", (unsigned long long)PRIMES[i],
               *(const unsigned char *)r.data ? "True" : "False");
    }
    if (pp_map_next(it, NULL, NULL) != PP_END)
        rc = 1;
    pp_map_free(it);
    pp_executor_destroy(ex);
    double pooled = now_s() - t0;
    printf("serial: %.3f s, pool of %d workers: %.3f s\n", serial, pp_cpu_count(), pooled);
    return rc;
}
