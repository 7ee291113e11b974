/*
 * Windows backend: readiness notifiers (pp_as_completed_handle). A manual-reset event,
 * unnamed and not inheritable: signalled while the notifier is set, so that
 * WaitForSingleObject / MsgWaitForMultipleObjects return for as long as a future is ready.
 * The core calls set and clear under pp__flock, only when the state changes.
 */
#include "win32.h"

struct pp__notifier {
    HANDLE ev;
};

pp_status pp__os_notifier_create(pp__notifier **out, pp__oserr *oe)
{
    *out = NULL;
    pp__notifier *n = pp__calloc(1, sizeof *n);
    if (!n)
        return PP_ENOMEM;
    n->ev = CreateEventW(NULL, TRUE /* manual reset */, FALSE, NULL);
    if (!n->ev) {
        DWORD e = GetLastError();
        pp__free(n);
        return pp__win_err(oe, "CreateEventW", e);
    }
    *out = n;
    return PP_OK;
}

void pp__os_notifier_set(pp__notifier *n)
{
    SetEvent(n->ev);
}

void pp__os_notifier_clear(pp__notifier *n)
{
    ResetEvent(n->ev);
}

intptr_t pp__os_notifier_handle(const pp__notifier *n)
{
    return (intptr_t)n->ev;
}

void pp__os_notifier_free(pp__notifier *n)
{
    if (!n)
        return;
    CloseHandle(n->ev);
    pp__free(n);
}

void *pp_as_completed_handle(pp_as_completed *it)
{
    intptr_t h = 0;
    if (pp__as_completed_notifier(it, "pp_as_completed_handle", &h) != PP_OK)
        return NULL;
    return (void *)h;
}
