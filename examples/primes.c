/*
 * primes: the example of CPython's concurrent.futures documentation, in C.
 *
 *     PRIMES = [112272535095293, 112582705942171, 112272535095293,
 *               115280095190773, 115797848077099, 1099726899285419]
 *     with ProcessPoolExecutor() as executor:
 *         for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
 *             print('%d is prime: %s' % (number, prime))
 *
 * It checks the same numbers serially, then with a pool (one worker per CPU), prints each
 * answer in input order and both wall times, and exits nonzero on any error or if the two
 * runs disagree. The argument of a call is the number's 8 bytes, the result one byte.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#endif

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

/* The task, run in a worker: a uint64 in, one byte (0 or 1) out. */
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

/* Wall-clock seconds. C11's timespec_get, except on Windows, where msvcrt lacks it. */
static double now_s(void)
{
#ifdef _WIN32
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

static int fail(const char *what, pp_status st)
{
    fprintf(stderr, "primes: %s: %s\n", what, pp_status_str(st));
    return 1;
}

int main(int argc, char **argv)
{
    /* The same registration runs in this program and in every worker (the same program). */
    pp_status st = pp_register_task("is_prime", is_prime_task);
    if (st != PP_OK)
        return fail("pp_register_task", st);
    pp_worker_main(argc, argv); /* in a worker: serves and never returns */

    bool serial[N_PRIMES];
    double t0 = now_s();
    for (size_t i = 0; i < N_PRIMES; i++)
        serial[i] = is_prime(PRIMES[i]);
    double serial_s = now_s() - t0;

    /* The pool run: creating the executor, map, and destroying it ("with ... as executor"). */
    t0 = now_s();
    pp_executor *ex;
    st = pp_executor_create(NULL, &ex); /* max_workers 0: one per CPU */
    if (st != PP_OK)
        return fail("pp_executor_create", st);
    pp_buf args[N_PRIMES];
    for (size_t i = 0; i < N_PRIMES; i++)
        args[i] = (pp_buf){&PRIMES[i], sizeof PRIMES[i]};
    pp_map_iter *it;
    st = pp_map(ex, "is_prime", args, N_PRIMES, 1, PP_FOREVER, &it);
    if (st != PP_OK) {
        pp_executor_destroy(ex);
        return fail("pp_map", st);
    }
    int rc = 0;
    for (size_t i = 0; i < N_PRIMES; i++) {
        pp_buf r;
        const pp_error *err;
        st = pp_map_next(it, &r, &err);
        if (st != PP_OK) {
            fprintf(stderr, "primes: %llu: %s: %s\n", (unsigned long long)PRIMES[i],
                    pp_status_str(st), err ? err->message : "(no details)");
            rc = 1;
            continue;
        }
        if (r.len != 1) {
            fprintf(stderr, "primes: %llu: %lu result bytes, expected 1\n",
                    (unsigned long long)PRIMES[i], (unsigned long)r.len);
            rc = 1;
            continue;
        }
        bool prime = *(const unsigned char *)r.data != 0;
        printf("%llu is prime: %s\n", (unsigned long long)PRIMES[i], prime ? "True" : "False");
        if (prime != serial[i]) {
            fprintf(stderr, "primes: %llu: the pool and the serial loop disagree\n",
                    (unsigned long long)PRIMES[i]);
            rc = 1;
        }
    }
    st = pp_map_next(it, NULL, NULL);
    if (st != PP_END)
        rc = fail("pp_map_next after the last item (expected PP_END)", st);
    pp_map_free(it);
    pp_executor_destroy(ex);
    double pool_s = now_s() - t0;

    printf("serial: %.3f s\n", serial_s);
    printf("pool of %d workers: %.3f s\n", pp_cpu_count(), pool_s);
    return rc;
}
