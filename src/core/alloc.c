/*
 * The allocation choke point, assertions, and process-wide initialisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "pp_core.h"
#include "pp_os.h"

/* Fault injection: allocations left before the one that fails (0: disarmed), per thread. */
static PP__THREAD_LOCAL long fault_countdown;
static PP__THREAD_LOCAL bool fault_fired;

static bool fault_now(void)
{
    if (fault_countdown <= 0 || --fault_countdown > 0)
        return false;
    fault_fired = true;
    return true;
}

void pp__alloc_fail_nth(long k)
{
    fault_countdown = k > 0 ? k : 0;
    fault_fired = false;
}

bool pp__alloc_fault_fired(void)
{
    bool fired = fault_fired;
    fault_countdown = 0;
    fault_fired = false;
    return fired;
}

static void *large(void *p, size_t n)
{
    if (p && n >= PP__BIG_ALLOC)
        pp__os_mem_large(p, n);
    return p;
}

void *pp__malloc(size_t n)
{
    return fault_now() ? NULL : large(malloc(n ? n : 1), n);
}

void *pp__calloc(size_t n, size_t size)
{
    return fault_now() ? NULL : calloc(n ? n : 1, size ? size : 1); /* zeroed already */
}

void *pp__realloc(void *p, size_t n)
{
    return fault_now() ? NULL : large(realloc(p, n ? n : 1), n);
}

void pp__free(void *p)
{
    free(p);
}

char *pp__strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *d = pp__malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

char *pp__strdup(const char *s)
{
    return pp__strndup(s, strlen(s));
}

char *pp__vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = pp__malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *pp__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pp__vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void pp__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "procpool: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

/* ---- process-wide initialisation ---- */

static pp_status global_status = PP_ESYS;

void pp__future_global_init(pp_status *st); /* future.c */

static void global_init_once(void)
{
    if (apr_initialize() != APR_SUCCESS) {
        global_status = PP_ESYS;
        return;
    }
    pp__future_global_init(&global_status);
}

pp_status pp__global_init(void)
{
    pp__os_call_once(global_init_once);
    return global_status;
}
