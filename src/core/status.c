/*
 * The status codes' tables (pp_status_str, pp_strerror, which codes a future may fail
 * with), all generated from PP_STATUS_MAP, and this thread's last failure text
 * (pp_last_error, set through pp__fail).
 */
#include <stdio.h>
#include <string.h>

#include <apr_errno.h>

#include "pp_core.h"
#include "pp_os.h"

const char *pp_status_str(pp_status s)
{
#define ST_NAME(name, value, fails, text)                                                          \
    case PP_##name:                                                                            \
        return "PP_" #name;
    switch (s) {
        PP_STATUS_MAP(ST_NAME)
    }
#undef ST_NAME
    return "PP_UNKNOWN";
}

const char *pp_strerror(pp_status s)
{
#define ST_TEXT(name, value, fails, text)                                                          \
    case PP_##name:                                                                            \
        return text;
    switch (s) {
        PP_STATUS_MAP(ST_TEXT)
    }
#undef ST_TEXT
    return "Unknown status code: not one that this version of procpool returns.";
}

bool pp__status_can_fail(pp_status s)
{
#define ST_FAILS(name, value, fails, text)                                                         \
    case PP_##name:                                                                            \
        return fails;
    switch (s) {
        PP_STATUS_MAP(ST_FAILS)
    }
#undef ST_FAILS
    return false;
}

/* ---- this thread's last failure ---- */

/* A fixed array (no allocation, nothing to free at thread exit; MSVC's __declspec(thread)
 * takes it as well); zero-initialised, so "" until the first failure. */
static PP__THREAD_LOCAL char tl_last[PP__LAST_ERROR_MAX];

const char *pp_last_error(void)
{
    return tl_last;
}

#define CUT_MARK "..."

/* Appends fmt to tl_last at off; a text that does not fit is cut at a UTF-8 character
 * boundary and ends with CUT_MARK. */
static void put(size_t off, const char *fmt, va_list ap)
{
    size_t cap = sizeof tl_last - off;
    int n = vsnprintf(tl_last + off, cap, fmt, ap);
    if (n < 0) {
        tl_last[off] = 0;
        return;
    }
    if ((size_t)n < cap)
        return;
    size_t end = sizeof tl_last - sizeof CUT_MARK; /* where the mark goes */
    while (end > off && ((unsigned char)tl_last[end] & 0xC0) == 0x80)
        end--; /* not inside a multi-byte character */
    memcpy(tl_last + end, CUT_MARK, sizeof CUT_MARK);
}

pp_status pp__failv(pp_status st, const char *fmt, va_list ap)
{
    put(0, fmt, ap);
    return st;
}

pp_status pp__fail(pp_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put(0, fmt, ap);
    va_end(ap);
    return st;
}

pp_status pp__fail_oserr(pp_status st, const char *func, const pp__oserr *oe)
{
    if (oe && oe->call) {
        char buf[PP__LAST_ERROR_MAX];
        return pp__fail(st, "%s: %s", func, pp__os_strerror(oe, buf, sizeof buf));
    }
    return pp__fail(st, "%s: %s", func, pp_strerror(st));
}

pp_status pp__fail_apr(pp_status st, const char *func, const char *call, int rv)
{
    char buf[256];
    apr_strerror((apr_status_t)rv, buf, sizeof buf);
    return pp__fail(st, "%s: %s: (%d) %s", func, call, rv, buf);
}

pp_status pp__fail_in(const char *func, pp_status st, const char *fmt, ...)
{
    size_t len = strlen(func);
    if (len > sizeof tl_last / 2)
        len = sizeof tl_last / 2;
    memcpy(tl_last, func, len);
    tl_last[len++] = ':';
    tl_last[len++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    put(len, fmt, ap);
    va_end(ap);
    return st;
}
