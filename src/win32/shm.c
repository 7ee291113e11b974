/*
 * Windows backend: memory shared with one worker. An unnamed, pagefile-backed file mapping
 * (CreateFileMappingW(INVALID_HANDLE_VALUE)): it exists while a handle or a view of it
 * does, so nothing outlives both processes. The parent duplicates its handle into the
 * worker (DuplicateHandle) and sends the value in the SHM or SEG frame; the worker maps it.
 *
 * A file mapping cannot change its size. A segment that may grow (a worker's result
 * segment, pp__os_shm_create_max) is therefore a section reserved at the most it may need
 * (SEC_RESERVE: address space and the section's page tables, no commit charge), of which
 * the first `size` bytes are committed (VirtualAlloc MEM_COMMIT on a view). Each process
 * maps the whole reservation at once, so "growing" never moves a view: the worker commits
 * more of the section (its pages are the section's, so they are committed in every view),
 * and the manager commits the same range in its own view before it reads it (a no-op for
 * pages the worker committed; pages the worker did not commit read as zeros, and the frame
 * check refuses them). Committed pages are given back only with the section: a kept
 * segment keeps its committed size, which seg.c counts as its size.
 */
#include "win32.h"

struct pp__shm {
    HANDLE h;
    void  *addr;
    size_t size; /* committed, and usable by the caller */
    size_t most; /* the section's (and the view's) size: size can grow up to it */
};

/* The size of the view that starts at base (the whole section when it was mapped with
 * length 0): its regions, committed or reserved, share one allocation base. */
static size_t view_size(void *base)
{
    size_t total = 0;
    for (;;) {
        MEMORY_BASIC_INFORMATION mi;
        if (VirtualQuery((char *)base + total, &mi, sizeof mi) != sizeof mi ||
            mi.AllocationBase != base || mi.State == MEM_FREE || mi.RegionSize == 0)
            return total;
        total += mi.RegionSize;
    }
}

/* Commits the first size bytes of s's view, a view of a reserved section (pages already
 * committed, by this process or the other, stay as they are). Also where the other process
 * committed them: then it tells this process's view at once (Wine would otherwise learn it
 * page by page, one fault and one server call each). */
static pp_status commit(pp__shm *s, size_t size, pp__oserr *oe)
{
    if (size && !VirtualAlloc(s->addr, size, MEM_COMMIT, PAGE_READWRITE)) {
        DWORD e = GetLastError();
        if (e == ERROR_NOT_ENOUGH_MEMORY || e == ERROR_COMMITMENT_LIMIT) {
            (void)pp__win_err(oe, "VirtualAlloc (MEM_COMMIT of a segment)", e);
            return PP_ENOMEM;
        }
        return pp__win_err(oe, "VirtualAlloc (MEM_COMMIT of a segment)", e);
    }
    return PP_OK;
}

pp_status pp__os_shm_create_max(size_t size, size_t most, bool populate, pp__shm **s,
                                pp__oserr *oe)
{
    (void)populate; /* the pages of a file mapping are backed when first touched */
    *s = NULL;
    bool reserve = most > size;
    unsigned long long sz = reserve ? most : size; /* 64-bit halves: no 4 GiB limit */
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    m->h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL,
                              PAGE_READWRITE | (reserve ? SEC_RESERVE : SEC_COMMIT),
                              (DWORD)(sz >> 32), (DWORD)(sz & 0xFFFFFFFFu), NULL);
    if (!m->h) {
        DWORD e = GetLastError();
        pp__free(m);
        return pp__win_err(oe, "CreateFileMappingW", e);
    }
    m->addr = MapViewOfFile(m->h, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)sz);
    if (!m->addr) {
        DWORD e = GetLastError();
        CloseHandle(m->h);
        pp__free(m);
        return pp__win_err(oe, "MapViewOfFile", e);
    }
    m->most = (size_t)sz;
    if (reserve) {
        pp_status st = commit(m, size, oe);
        if (st != PP_OK) {
            pp__os_shm_free(m);
            return st;
        }
    }
    m->size = size;
    *s = m;
    return PP_OK;
}

pp_status pp__os_shm_create(size_t size, bool populate, pp__shm **s, pp__oserr *oe)
{
    return pp__os_shm_create_max(size, 0, populate, s, oe);
}

void *pp__os_shm_addr(const pp__shm *s)
{
    return s->addr;
}

void pp__os_shm_free(pp__shm *s)
{
    if (!s)
        return;
    if (s->addr)
        UnmapViewOfFile(s->addr);
    if (s->h)
        CloseHandle(s->h);
    pp__free(s);
}

pp_status pp__os_shm_share(pp__shm *s, pp__proc *p, pp__chan *c, uint64_t *token,
                           pp__oserr *oe)
{
    (void)c;
    *token = 0;
    HANDLE theirs = NULL;
    if (!DuplicateHandle(GetCurrentProcess(), s->h, p->h, &theirs, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        return pp__win_err(oe, "DuplicateHandle", GetLastError());
    *token = (uint64_t)(uintptr_t)theirs;
    return PP_OK;
}

/* Maps the section whose handle (in this process) is token: whole, so that a reserved
 * section can grow in place; at least size bytes. keep: s keeps the handle, else it is
 * closed (the view keeps the section). */
static pp_status map_token(uint64_t token, size_t size, bool keep, pp__shm **s,
                           pp__oserr *oe)
{
    *s = NULL;
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    m->h = (HANDLE)(uintptr_t)token;
    m->addr = MapViewOfFile(m->h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (!m->addr) {
        DWORD e = GetLastError();
        pp__free(m);
        return pp__win_err(oe, "MapViewOfFile", e);
    }
    m->most = view_size(m->addr);
    if (m->most < size) {
        UnmapViewOfFile(m->addr);
        pp__free(m);
        return pp__win_err(oe, "MapViewOfFile (section smaller than announced)",
                           ERROR_INVALID_PARAMETER);
    }
    if (m->most > size)
        (void)commit(m, size, NULL); /* a reserved section: see commit() (the parent
                                        committed these pages: a failure changes nothing) */
    if (!keep) {
        CloseHandle(m->h);
        m->h = NULL;
    }
    m->size = size;
    *s = m;
    return PP_OK;
}

pp_status pp__os_shm_open(pp__chan *c, uint64_t token, size_t size, pp__shm **s,
                          pp__oserr *oe)
{
    (void)c;
    return map_token(token, size, true, s, oe);
}

void pp__os_shm_attach(pp__shm *s, pp__chan *c)
{
    (void)s, (void)c; /* the handle was duplicated into the worker: its value is the token */
}

pp_status pp__os_shm_adopt(pp__chan *c, uint64_t token, size_t size, bool populate,
                           pp__shm **s, pp__oserr *oe)
{
    (void)c, (void)populate; /* the pages of a file mapping are backed when first touched */
    /* the view holds the section: the handle is not needed to grow it (VirtualAlloc) */
    return map_token(token, size, false, s, oe);
}

void pp__os_shm_drop(pp__chan *c, uint64_t token)
{
    (void)c;
    if (token)
        CloseHandle((HANDLE)(uintptr_t)token);
}

pp_status pp__os_shm_resize(pp__shm *s, size_t size, bool grow, pp__oserr *oe)
{
    (void)grow; /* both sides commit: the worker to write, the manager to read */
    if (size <= s->size)
        return PP_OK; /* (a view of the whole section is kept) */
    if (size > s->most) {
        /* the section was reserved smaller (pp__os_shm_create_max): the result goes
         * through the channel instead */
        (void)pp__win_err(oe, "CreateFileMappingW (a section cannot grow past its size)",
                          ERROR_NOT_SUPPORTED);
        return PP_ENOTSUP;
    }
    pp_status st = commit(s, size, oe);
    if (st == PP_OK)
        s->size = size;
    return st;
}

size_t pp__os_shm_size(const pp__shm *s)
{
    return s->size;
}

size_t pp__os_shm_max(const pp__shm *s)
{
    return s->most;
}
