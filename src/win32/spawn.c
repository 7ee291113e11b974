/*
 * Windows backend: starting, stopping and reaping workers.
 *
 * A worker is started with CreateProcessW (UTF-16 application name and command line), which
 * inherits exactly the worker's end of its pipe plus the standard handles, through
 * PROC_THREAD_ATTRIBUTE_HANDLE_LIST: no other inheritable handle of the program leaks into
 * it, and no global lock is needed. The token on the command line is that handle's value in
 * decimal (an inherited handle keeps its value in the child). The handle list takes only
 * inheritable handles, so the worker's end is inheritable from its creation until it is
 * closed here after CreateProcessW: a CreateProcess elsewhere in the program in that window,
 * with bInheritHandles and no handle list of its own, would inherit it too (and the channel
 * would break only when that process also ends). CPython's subprocess has the same window.
 *
 * The child is created inside one process-wide job object, through
 * PROC_THREAD_ATTRIBUTE_JOB_LIST, with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE (so workers die with
 * the program, however it ends) and JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION (a crash ends
 * the worker with its exception code instead of waiting on an error dialog). Created in the
 * job, not put there afterwards: a program that exits (ExitProcess ends the manager thread
 * wherever it is) between a CreateProcessW and an AssignProcessToJobObject would leave a
 * worker in no job, and, as it used to be created suspended, suspended for ever. Wine
 * applies the job list in the server's new_process request, as Windows does in the kernel.
 * Should the attribute be missing or ignored (IsProcessInJob says so), the worker is put in
 * the job after its creation; it was never suspended, so if the program ends before that,
 * the worker's first read of its channel fails (the parent's end is gone) and it exits by
 * itself: there is no window in which a worker can be left waiting for ever. The worker
 * itself turns off the other dialogs a crash can raise (worker_no_dialogs, below).
 *
 * A worker's descendants die with it: each worker also gets a job object of its own
 * (worker_tree, nested in the process-wide one, Windows 8 and later), which every process it
 * starts joins unless started with CREATE_BREAKAWAY_FROM_JOB (what a task detaches so is its
 * own). Stopping a worker terminates that job (TerminateJobObject), and so does reaping it
 * (a crashed worker's children), and freeing it; the program's death closes the
 * process-wide job, which kills the nested ones. Where nesting fails (older Windows, or
 * Wine without it) the worker has no job of its own and only it is stopped.
 *
 * Exit codes chosen for pp__os_proc_stop (the core reports "exited with code N"): 15 when
 * asked to terminate and 9 when killed, the numbers of SIGTERM and SIGKILL, so that
 * pp_error.code reads the same number on both backends (POSIX gives -15 / -9) and is not
 * mistaken for the common exit(1).
 */
#include "win32.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _MSC_VER
#include <crtdbg.h>
#endif

#define EXIT_TERMINATED 15
#define EXIT_KILLED 9

/* ---- the job object, created once ---- */

static INIT_ONCE job_once = INIT_ONCE_STATIC_INIT;
static HANDLE job;
static DWORD job_err;

static BOOL CALLBACK create_job(PINIT_ONCE io, PVOID param, PVOID *ctx)
{
    (void)io;
    (void)param;
    (void)ctx;
    HANDLE j = CreateJobObjectW(NULL, NULL);
    if (!j) {
        job_err = GetLastError();
        return FALSE; /* a later spawn tries again */
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
                                            JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION |
                                            JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (!SetInformationJobObject(j, JobObjectExtendedLimitInformation, &info, sizeof info)) {
        job_err = GetLastError();
        CloseHandle(j);
        return FALSE;
    }
    job = j; /* never closed: its closing at exit is what kills the workers */
    return TRUE;
}

/* ---- a job per worker, for its descendants ---- */

/* Puts the (suspended) process, already in the process-wide job, in a job of its own nested
 * in it. NULL if that cannot be done: the worker then runs without (see the top). */
static HANDLE worker_tree(HANDLE process, unsigned long long mem_limit)
{
    HANDLE t = CreateJobObjectW(NULL, NULL);
    if (!t)
        return NULL;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
                                            JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (mem_limit) { /* worker_memory_limit: each process of the job (its children too) */
        info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_MEMORY;
        info.ProcessMemoryLimit = (SIZE_T)mem_limit;
    }
    if (!SetInformationJobObject(t, JobObjectExtendedLimitInformation, &info, sizeof info) ||
        !AssignProcessToJobObject(t, process)) {
        CloseHandle(t);
        return NULL;
    }
    return t;
}

/* Does entry e ("NAME=value", UTF-16) set the same name as f, ignoring case as Windows
 * does? A name may start with '=' ("=C:=C:\\dir"). */
static bool same_wname(const wchar_t *e, const wchar_t *f)
{
    const wchar_t *eq = wcschr(e + 1, L'=');
    size_t n = eq ? (size_t)(eq - e) : wcslen(e);
    return _wcsnicmp(e, f, n) == 0 && f[n] == L'=';
}

/* The environment block for CreateProcessW: this process's environment with the
 * "NAME=value" entries of add (UTF-8) set on top (a later entry for a name wins). NULL on
 * error (*err says which). */
static wchar_t *env_block(const char *const *add, DWORD *err)
{
    size_t na = 0;
    while (add[na])
        na++;
    wchar_t **w = pp__calloc(na + 1, sizeof *w);
    wchar_t *cur = GetEnvironmentStringsW(), *out = NULL;
    if (!w || !cur) {
        *err = ERROR_NOT_ENOUGH_MEMORY;
        goto done;
    }
    for (size_t j = 0; j < na; j++)
        if (!(w[j] = pp__win_utf16(add[j], err)))
            goto done;
    size_t len = 1;
    for (const wchar_t *e = cur; *e; e += wcslen(e) + 1)
        len += wcslen(e) + 1;
    for (size_t j = 0; j < na; j++)
        len += wcslen(w[j]) + 1;
    if (!(out = pp__malloc(len * sizeof *out))) {
        *err = ERROR_NOT_ENOUGH_MEMORY;
        goto done;
    }
    wchar_t *q = out;
    for (const wchar_t *e = cur; *e; e += wcslen(e) + 1) {
        bool over = false;
        for (size_t j = 0; j < na && !over; j++)
            over = same_wname(w[j], e);
        if (!over) {
            memcpy(q, e, (wcslen(e) + 1) * sizeof *q);
            q += wcslen(e) + 1;
        }
    }
    for (size_t j = 0; j < na; j++) {
        bool later = false;
        for (size_t l = j + 1; l < na && !later; l++)
            later = same_wname(w[j], w[l]);
        if (!later) {
            memcpy(q, w[j], (wcslen(w[j]) + 1) * sizeof *q);
            q += wcslen(w[j]) + 1;
        }
    }
    *q = 0;
done:
    for (size_t j = 0; w && j < na; j++)
        pp__free(w[j]);
    pp__free(w);
    if (cur)
        FreeEnvironmentStringsW(cur);
    return out;
}

pp_status pp__os_check_dir(const char *path, pp__oserr *oe)
{
    DWORD err = 0;
    wchar_t *w = pp__win_utf16(path, &err);
    if (!w)
        return pp__win_err(oe, "MultiByteToWideChar", err);
    DWORD a = GetFileAttributesW(w);
    err = a == INVALID_FILE_ATTRIBUTES ? GetLastError() : 0;
    pp__free(w);
    if (a == INVALID_FILE_ATTRIBUTES)
        return pp__win_err(oe, "GetFileAttributesW", err);
    if (!(a & FILE_ATTRIBUTE_DIRECTORY))
        return pp__win_err(oe, "GetFileAttributesW", ERROR_DIRECTORY);
    return PP_OK;
}

/* Ends every process of the worker's job (the worker and its descendants). */
static void kill_tree(pp__proc *p, UINT code)
{
    if (p->tree)
        TerminateJobObject(p->tree, code);
}

/* ---- the command line ---- */

/* Appends arg to the command line at *p (NULL: only counts), quoted the way the C runtime's
 * argv parser (and CommandLineToArgvW) reads it back: no quotes unless needed; inside
 * quotes, a run of backslashes is doubled before a quote or the closing quote, and a quote
 * is escaped. Returns the number of wchar_t written or needed. */
static size_t quote_arg(const wchar_t *arg, wchar_t *p)
{
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (p)                                                                                     \
            p[n] = (ch);                                                                           \
        n++;                                                                                       \
    } while (0)
    if (arg[0] && !wcspbrk(arg, L" \t\n\v\"")) {
        for (const wchar_t *s = arg; *s; s++)
            PUT(*s);
        return n;
    }
    PUT(L'"');
    for (const wchar_t *s = arg;; s++) {
        size_t bs = 0;
        while (*s == L'\\') {
            s++;
            bs++;
        }
        if (*s == 0) {
            for (size_t i = 0; i < 2 * bs; i++)
                PUT(L'\\');
            break;
        }
        if (*s == L'"') {
            for (size_t i = 0; i < 2 * bs + 1; i++)
                PUT(L'\\');
        } else {
            for (size_t i = 0; i < bs; i++)
                PUT(L'\\');
        }
        PUT(*s);
    }
    PUT(L'"');
#undef PUT
    return n;
}

/* The program name (argv[0]) is read up to the next quote, with no escapes: quote it whole.
 * A file name cannot contain a quote. */
static size_t quote_program(const wchar_t *prog, wchar_t *p)
{
    size_t len = wcslen(prog);
    if (p) {
        p[0] = L'"';
        memcpy(p + 1, prog, len * sizeof *p);
        p[len + 1] = L'"';
    }
    return len + 2;
}

/* Builds the UTF-16 command line: argv (UTF-8), then the marker and the token. */
static pp_status build_cmdline(const char *const *argv, const char *token, wchar_t **out,
                               wchar_t **app, pp__oserr *oe)
{
    *out = NULL;
    *app = NULL;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    wchar_t **w = pp__calloc(argc + 2, sizeof *w);
    if (!w)
        return PP_ENOMEM;
    pp_status st = PP_OK;
    const char *extra[2] = {PP__WORKER_MARKER, token};
    size_t total = 1;
    for (size_t i = 0; i < argc + 2; i++) {
        DWORD err = 0;
        w[i] = pp__win_utf16(i < argc ? argv[i] : extra[i - argc], &err);
        if (!w[i]) {
            st = err == ERROR_NOT_ENOUGH_MEMORY ? PP_ENOMEM
                                                : pp__win_err(oe, "MultiByteToWideChar", err);
            goto out;
        }
        if (i == 0 && wcspbrk(w[0], L"\"")) {
            st = pp__win_err(oe, "CreateProcessW", ERROR_INVALID_NAME);
            goto out;
        }
        total += (i == 0 ? quote_program(w[i], NULL) : quote_arg(w[i], NULL)) + 1;
    }
    wchar_t *cmd = pp__malloc(total * sizeof *cmd);
    if (!cmd) {
        st = PP_ENOMEM;
        goto out;
    }
    size_t at = 0;
    for (size_t i = 0; i < argc + 2; i++) {
        if (i)
            cmd[at++] = L' ';
        at += i == 0 ? quote_program(w[i], cmd + at) : quote_arg(w[i], cmd + at);
    }
    cmd[at] = 0;
    *out = cmd;
    *app = w[0];
    w[0] = NULL;
out:
    for (size_t i = 0; i < argc + 2; i++)
        pp__free(w[i]);
    pp__free(w);
    return st;
}

/* ---- the standard handles the child inherits ---- */

typedef struct stdio3 {
    HANDLE h[3];   /* for STARTUPINFO: the handle, or NULL */
    HANDLE dup[3]; /* inheritable duplicates made for this spawn, closed after it */
} stdio3;

/* A valid inheritable standard handle is passed as it is; a valid one that is not
 * inheritable gets an inheritable duplicate for the child; an absent one stays NULL. */
static void stdio_prepare(stdio3 *s)
{
    static const DWORD ids[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
    for (int i = 0; i < 3; i++) {
        s->h[i] = NULL;
        s->dup[i] = NULL;
        HANDLE h = GetStdHandle(ids[i]);
        DWORD flags = 0;
        if (h == NULL || h == INVALID_HANDLE_VALUE || !GetHandleInformation(h, &flags))
            continue;
        if (flags & HANDLE_FLAG_INHERIT) {
            s->h[i] = h;
            continue;
        }
        HANDLE d = NULL;
        if (DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &d, 0, TRUE,
                            DUPLICATE_SAME_ACCESS))
            s->h[i] = s->dup[i] = d;
    }
}

static void stdio_release(stdio3 *s)
{
    for (int i = 0; i < 3; i++) {
        if (s->dup[i])
            CloseHandle(s->dup[i]);
    }
}

/* ---- spawn ---- */

pp_status pp__os_spawn(const char *const *argv, pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    return pp__os_spawn_ex(argv, NULL, p, c, oe);
}

pp_status pp__os_spawn_ex(const char *const *argv, const pp__os_wstart *ws, pp__proc **p,
                          pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    if (!argv || !argv[0])
        return PP_EINVAL;
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    if (!proc)
        return PP_ENOMEM;
    pp__chan *chan = NULL;
    HANDLE child = INVALID_HANDLE_VALUE;
    wchar_t *cmd = NULL, *app = NULL;
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    bool attrs_ready = false;
    stdio3 std3 = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    PROCESS_INFORMATION pi = {NULL, NULL, 0, 0};

    wchar_t *envw = NULL, *cwdw = NULL; /* worker_env, worker_cwd */
    pp_status st = pp__win_chan_pair(&chan, &child, oe);
    if (st != PP_OK)
        goto out;
    DWORD werr = 0;
    if (ws && ws->env && !(envw = env_block(ws->env, &werr))) {
        st = pp__win_err(oe, "worker_env", werr);
        goto out;
    }
    if (ws && ws->cwd && !(cwdw = pp__win_utf16(ws->cwd, &werr))) {
        st = pp__win_err(oe, "worker_cwd", werr);
        goto out;
    }
    char token[32];
    snprintf(token, sizeof token, "%llu", (unsigned long long)(uintptr_t)child);
    if ((st = build_cmdline(argv, token, &cmd, &app, oe)) != PP_OK)
        goto out;

    /* Exactly the channel and the standard handles, each once (stdout and stderr are often
     * the same handle, and a repeated handle makes the attribute invalid). */
    stdio_prepare(&std3);
    HANDLE list[4];
    size_t n_list = 0;
    list[n_list++] = child;
    for (int i = 0; i < 3; i++) {
        bool seen = std3.h[i] == NULL;
        for (size_t k = 0; k < n_list && !seen; k++)
            seen = list[k] == std3.h[i];
        if (!seen)
            list[n_list++] = std3.h[i];
    }
    if (!InitOnceExecuteOnce(&job_once, create_job, NULL, NULL)) {
        st = pp__win_err(oe, "CreateJobObjectW", job_err);
        goto out;
    }
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(NULL, 2, 0, &size);
    if ((attrs = pp__malloc(size)) == NULL) {
        st = PP_ENOMEM;
        goto out;
    }
    if (!InitializeProcThreadAttributeList(attrs, 2, 0, &size)) {
        st = pp__win_err(oe, "InitializeProcThreadAttributeList", GetLastError());
        goto out;
    }
    attrs_ready = true;
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                   n_list * sizeof list[0], NULL, NULL)) {
        st = pp__win_err(oe, "UpdateProcThreadAttribute", GetLastError());
        goto out;
    }
    /* The job: refused only by a system without job lists; then the fallback below. */
    HANDLE jobs[1] = {job};
    (void)UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_JOB_LIST, jobs, sizeof jobs,
                                    NULL, NULL);

    STARTUPINFOEXW si;
    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = std3.h[0];
    si.StartupInfo.hStdOutput = std3.h[1];
    si.StartupInfo.hStdError = std3.h[2];
    si.lpAttributeList = attrs;
    DWORD flags = CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
    /* A program with a console window shares it with its workers, as CPython does (Ctrl+C
     * reaches them too). One without (a GUI application, or Wine without a terminal) starts
     * them detached: no console window per worker, and no console host process. Not
     * CREATE_NO_WINDOW: under Wine that makes the child start a conhost.exe that inherits
     * every inheritable handle of the child, the channel included (it is inheritable until
     * pp_worker_main runs), so the channel would not break when the worker dies. The
     * standard handles are passed explicitly, so a detached worker's output still goes
     * where the program's goes. */
    if (!GetConsoleWindow())
        flags |= DETACHED_PROCESS;
    /* Wine 8 fails about one CreateProcessW in a thousand with ERROR_INTERNAL_ERROR, more
     * under load, having started nothing: try again, a few times. Windows does not report
     * it for a call that could succeed, so this costs nothing there. */
    for (int attempt = 0;; attempt++) {
        if (CreateProcessW(app, cmd, NULL, NULL, TRUE, flags, envw, cwdw, &si.StartupInfo, &pi))
            break;
        DWORD e = GetLastError();
        if (e != ERROR_INTERNAL_ERROR || attempt == 4) {
            st = pp__win_err(oe, "CreateProcessW", e);
            goto out;
        }
        Sleep((DWORD)(1 + 10 * attempt));
    }
    BOOL in_job = FALSE;
    if (!IsProcessInJob(pi.hProcess, job, &in_job)) {
        st = pp__win_err(oe, "IsProcessInJob", GetLastError());
    } else if (!in_job && !AssignProcessToJobObject(job, pi.hProcess)) {
        st = pp__win_err(oe, "AssignProcessToJobObject", GetLastError());
    } else if (!(proc->tree = worker_tree(pi.hProcess, ws ? ws->mem_limit : 0)) && ws &&
               ws->mem_limit) {
        /* (the worker runs already, but starts no task before INIT and a CALL arrive: no
         * descendant of it can be outside its own job) */
        st = pp__win_err(oe, "a job object per worker (worker_memory_limit)", GetLastError());
    }
    if (st != PP_OK) {
        if (proc->tree)
            CloseHandle(proc->tree); /* kills on close */
        proc->tree = NULL;
        TerminateProcess(pi.hProcess, EXIT_KILLED);
        WaitForSingleObject(pi.hProcess, INFINITE);
        CloseHandle(pi.hProcess);
        goto out;
    }
    proc->h = pi.hProcess;
    proc->pid = pi.dwProcessId;
    *p = proc;
    *c = chan;
    proc = NULL;
    chan = NULL;
out:
    pp__free(envw);
    pp__free(cwdw);
    if (pi.hThread)
        CloseHandle(pi.hThread);
    if (attrs_ready)
        DeleteProcThreadAttributeList(attrs);
    pp__free(attrs);
    stdio_release(&std3);
    if (child != INVALID_HANDLE_VALUE)
        CloseHandle(child); /* the worker has its own copy now */
    pp__os_chan_free(chan);
    pp__free(cmd);
    pp__free(app);
    pp__free(proc);
    return st;
}

/* ---- the worker's side ---- */

/* A worker that crashes must end, so that its parent sees the exit code and breaks the pool:
 * a dialog box waiting for a click would hang the pool instead. The job's
 * DIE_ON_UNHANDLED_EXCEPTION covers unhandled exceptions; this covers the rest, in the
 * worker process only (which pp_worker_main() owns: it never returns there): no Windows
 * error boxes (a fault the job does not see, a missing DLL, a drive not ready), and with
 * Microsoft's C runtime no abort() message box or Windows Error Reporting (abort() then
 * exits with code 3, as with mingw's msvcrt), and Debug-runtime assertion and error
 * reports go to stderr instead of a box. */
static void worker_no_dialogs(void)
{
    SetErrorMode(GetErrorMode() | SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX |
                 SEM_NOOPENFILEERRORBOX);
#ifdef _MSC_VER
    (void)_set_abort_behavior(0, _WRITE_ABORT_MSG | _CALL_REPORTFAULT);
#ifdef _DEBUG /* (the release runtime's macros are constants: "no effect" warnings) */
    (void)_CrtSetReportMode(_CRT_ASSERT, _CRTDBG_MODE_FILE);
    (void)_CrtSetReportFile(_CRT_ASSERT, _CRTDBG_FILE_STDERR);
    (void)_CrtSetReportMode(_CRT_ERROR, _CRTDBG_MODE_FILE);
    (void)_CrtSetReportFile(_CRT_ERROR, _CRTDBG_FILE_STDERR);
#endif
#endif
}

pp_status pp__os_chan_from_argv(int argc, char **argv, pp__chan **c, pp__oserr *oe)
{
    *c = NULL;
    int i = 1;
    while (i < argc && (!argv[i] || strcmp(argv[i], PP__WORKER_MARKER) != 0))
        i++;
    if (i >= argc)
        return PP_END;
    if (i + 1 >= argc || !argv[i + 1])
        return PP_EINVAL;
    /* Strictly a decimal number: digits only, no sign, no leading zero, at most 32 bits
     * (handle values are small; a 64-bit process's handles fit in 32 bits). */
    const char *tok = argv[i + 1];
    size_t len = strlen(tok);
    if (len == 0 || len > 10 || tok[0] == '0')
        return PP_EINVAL;
    unsigned long long v = 0;
    for (size_t k = 0; k < len; k++) {
        if (tok[k] < '0' || tok[k] > '9')
            return PP_EINVAL;
        v = v * 10 + (unsigned)(tok[k] - '0');
    }
    if (v > 0xFFFFFFFFull)
        return PP_EINVAL;
    HANDLE h = (HANDLE)(uintptr_t)v;
    SetLastError(NO_ERROR);
    DWORD type = GetFileType(h);
    if (type != FILE_TYPE_PIPE) {
        DWORD e = GetLastError();
        if (type == FILE_TYPE_UNKNOWN && e != NO_ERROR)
            return pp__win_err(oe, "GetFileType(channel)", e);
        return PP_EINVAL;
    }
    /* No grandchild may inherit the channel: its breaking is the parent's death sentinel. */
    if (!SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0))
        return pp__win_err(oe, "SetHandleInformation(channel)", GetLastError());
    worker_no_dialogs();
    *c = pp__win_chan_worker(h);
    return *c ? PP_OK : PP_ENOMEM;
}

/* ---- processes ---- */

long long pp__os_proc_pid(const pp__proc *p)
{
    return (long long)p->pid;
}

pp_status pp__os_proc_stop(pp__proc *p, bool kill_it, pp__oserr *oe)
{
    if (p->reaped)
        return PP_OK;
    if (TerminateProcess(p->h, kill_it ? EXIT_KILLED : EXIT_TERMINATED)) {
        kill_tree(p, kill_it ? EXIT_KILLED : EXIT_TERMINATED); /* its descendants */
        return PP_OK;
    }
    DWORD e = GetLastError();
    /* Terminating a process that has exited fails with ERROR_ACCESS_DENIED: not an error. */
    if (WaitForSingleObject(p->h, 0) == WAIT_OBJECT_0)
        return PP_OK;
    return pp__win_err(oe, "TerminateProcess", e);
}

pp_status pp__os_proc_reap(pp__proc *p, long timeout_ms, pp__exit *st, pp__oserr *oe)
{
    if (!p->reaped) {
        /* long is 32 bits on Windows: any timeout but PP_FOREVER is below INFINITE. */
        DWORD t = timeout_ms == PP_FOREVER ? INFINITE : (DWORD)timeout_ms;
        DWORD r = WaitForSingleObject(p->h, t);
        if (r == WAIT_TIMEOUT)
            return PP_ETIMEDOUT;
        if (r != WAIT_OBJECT_0)
            return pp__win_err(oe, "WaitForSingleObject(process)", GetLastError());
        DWORD code = 0;
        if (!GetExitCodeProcess(p->h, &code))
            return pp__win_err(oe, "GetExitCodeProcess", GetLastError());
        /* The handle stays open until pp__os_proc_free: it keeps the pid from being reused
         * while the core still shows it. */
        p->reaped = true;
        p->status = (pp__exit){true, (int)code, 0};
        kill_tree(p, EXIT_KILLED); /* what it left running */
    }
    if (st)
        *st = p->status;
    return PP_OK;
}

void pp__os_proc_free(pp__proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        TerminateProcess(p->h, EXIT_KILLED);
        WaitForSingleObject(p->h, INFINITE);
    }
    if (p->tree)
        CloseHandle(p->tree); /* kills what is left in it */
    CloseHandle(p->h);
    pp__free(p);
}
