/*
 * Core-private declarations shared by the files of src/core/ (and usable by the backends):
 * the allocation choke point, argument checks, assertions and error-text helpers.
 * Includes no OS header.
 */
#ifndef PP_CORE_H
#define PP_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

/* Thread-local storage: C11's keyword, or MSVC's own spelling (its C11 mode has no
 * _Thread_local before recent versions). */
#if defined(_MSC_VER) && !defined(__clang__)
#  define PP__THREAD_LOCAL __declspec(thread)
#else
#  define PP__THREAD_LOCAL _Thread_local
#endif

/* Every allocation of the library goes through these (one choke point: tests can make the
 * Nth allocation fail). pp__free(NULL) is a no-op. */
void *pp__malloc(size_t n);
void *pp__calloc(size_t n, size_t size);
void *pp__realloc(void *p, size_t n);
void  pp__free(void *p);
/* Large freed blocks, and medium ones (1 KiB up, 16 MiB in all), are kept for reuse while an
 * executor exists: each executor holds the cache from create to destroy (pp__big_hold(true) /
 * (false)); the last release empties it. */
void  pp__big_hold(bool hold);
size_t pp__big_kept(void); /* how many blocks are kept now (tests) */
size_t pp__mid_kept_bytes(void); /* the bytes of the medium blocks kept now (tests) */
bool  pp__big_held(void);  /* an executor exists: payload segments are kept too (seg.c) */
char *pp__strdup(const char *s);                   /* NULL on ENOMEM */
char *pp__strndup(const char *s, size_t n);        /* copies at most n bytes, NUL-ends */
char *pp__asprintf(const char *fmt, ...)           /* NULL on ENOMEM */
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
char *pp__vasprintf(const char *fmt, va_list ap);

/* Fault injection (tests): the k-th allocation made by the calling thread from now on
 * fails (k >= 1; 0 disarms); pp__alloc_fault_fired() tells whether it has, and disarms.
 * Only the arming thread is affected: the manager thread and other callers allocate as
 * usual. */
void pp__alloc_fail_nth(long k);
bool pp__alloc_fault_fired(void);
/* Tests: a worker's task writes raw bytes into the stream to its manager (ring or
 * channel), as a worker gone wrong would (worker.c). */
void pp__worker_inject(const void *p, size_t len);
/* Tests: the worker's shared block when its frames go through the rings (wshm.h), else
 * NULL; a wake-up for its manager, as after a write into them. */
void *pp__worker_block(void);
void  pp__worker_bell(void);
/* Tests: managers nap whenever they would sleep while a worker holds a call (no poll
 * before, no record of short waits needed: manager.c, "naps"), where the backend can. */
void pp__naps_always(bool on);

/* ---- this thread's last failure text (status.c; pp_last_error) ---- */

/* The size of the buffer, with its NUL: longer texts are cut and end with "...". */
#define PP__LAST_ERROR_MAX 512

/* Sets this thread's failure text, printf-style, and returns st: every failing return of a
 * public function goes through one of these, and nothing else writes the text (a call that
 * succeeds leaves it alone, so an internal helper that fails but whose caller goes on must
 * not set it). pp__fail_in prefixes "func: ". No argument may point into the text itself
 * (pp_last_error()). */
pp_status pp__fail(pp_status st, const char *fmt, ...) PP_PRINTF(2, 3);
pp_status pp__failv(pp_status st, const char *fmt, va_list ap);
pp_status pp__fail_in(const char *func, pp_status st, const char *fmt, ...) PP_PRINTF(3, 4);
/* "func: <oe's text>" (pp__os_strerror: "posix_spawn: (2) No such file or directory"), or
 * "func: <pp_strerror(st)>" when oe is NULL or names no call: the detail of a PP_ESYS. */
struct pp__oserr;
pp_status pp__fail_oserr(pp_status st, const char *func, const struct pp__oserr *oe);
/* "func: call: (rv) <apr_strerror(rv)>", for an APR call that failed with rv
 * (an apr_status_t). */
pp_status pp__fail_apr(pp_status st, const char *func, const char *call, int rv);

/* Returns PP_EINVAL from the enclosing function when cond is false, with the text
 * "<function>: invalid argument: <cond>" (for example "pp_submit: invalid argument: task !=
 * NULL"): one condition per check reads best. In a static helper, __func__ is the helper's
 * name: pass the public one to pp__fail_in instead. */
#define PP__CHECK_ARG(cond)                                                                    \
    do {                                                                                       \
        if (!(cond))                                                                           \
            return pp__fail_in(__func__, PP_EINVAL, "invalid argument: %s", #cond);            \
    } while (0)

/* As PP__CHECK_ARG, with a sentence of its own after "<function>: " (printf-style). */
#define PP__CHECK_ARG_MSG(cond, ...)                                                           \
    do {                                                                                       \
        if (!(cond))                                                                           \
            return pp__fail_in(__func__, PP_EINVAL, __VA_ARGS__);                              \
    } while (0)

/* A timeout argument: PP_EINVAL unless PP_FOREVER or >= 0 (PP__TIMEOUT_OK). */
#define PP__CHECK_TIMEOUT(ms)                                                                  \
    PP__CHECK_ARG_MSG(PP__TIMEOUT_OK(ms),                                                      \
                      "invalid argument: timeout %ld ms (PP_FOREVER or >= 0 is valid)",        \
                      (long)(ms))

/* May a future fail with s (pp_future_set_error)? From PP_STATUS_MAP. */
bool pp__status_can_fail(pp_status s);

/* Broken invariants: abort with file and line (always on: these guard memory safety). */
void pp__assert_fail(const char *expr, const char *file, int line);
#define PP__ASSERT(cond)                                                                       \
    do {                                                                                       \
        if (!(cond))                                                                           \
            pp__assert_fail(#cond, __FILE__, __LINE__);                                        \
    } while (0)

/* A timeout argument is valid if it is PP_FOREVER or >= 0. */
#define PP__TIMEOUT_OK(ms) ((ms) == PP_FOREVER || (ms) >= 0)

/* Process-wide initialisation (APR, the global future lock). Idempotent and thread-safe;
 * every public entry point that needs it calls it. A failure sets the last-error text. */
pp_status pp__global_init(void);
/* future.c's part of it (the global future lock and its pool): run once, by
 * pp__global_init; *st is PP_OK or PP_ESYS. */
void pp__future_global_init(pp_status *st);

/* Names longer than this are rejected (task and initializer names). */
#define PP__NAME_MAX 255

#endif /* PP_CORE_H */
