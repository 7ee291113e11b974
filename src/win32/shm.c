/*
 * Windows backend: memory shared with one worker. An unnamed, pagefile-backed file mapping
 * (CreateFileMappingW(INVALID_HANDLE_VALUE)): it exists while a handle or a view of it
 * does, so nothing outlives both processes. The parent duplicates its handle into the
 * worker (DuplicateHandle) and sends the value in the SHM frame; the worker maps it.
 */
#include "win32.h"

struct pp__shm {
    HANDLE h;
    void  *addr;
    size_t size;
};

pp_status pp__os_shm_create(size_t size, bool populate, pp__shm **s, pp__oserr *oe)
{
    (void)populate; /* the pages of a file mapping are committed when first touched */
    *s = NULL;
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    unsigned long long sz = size;
    m->h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD)(sz >> 32),
                              (DWORD)(sz & 0xFFFFFFFFu), NULL);
    if (!m->h) {
        DWORD e = GetLastError();
        pp__free(m);
        return pp__win_err(oe, "CreateFileMappingW", e);
    }
    m->addr = MapViewOfFile(m->h, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (!m->addr) {
        DWORD e = GetLastError();
        CloseHandle(m->h);
        pp__free(m);
        return pp__win_err(oe, "MapViewOfFile", e);
    }
    m->size = size;
    *s = m;
    return PP_OK;
}

void *pp__os_shm_addr(const pp__shm *s)
{
    return s->addr;
}

void pp__os_shm_free(pp__shm *s)
{
    if (!s)
        return;
    UnmapViewOfFile(s->addr);
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

pp_status pp__os_shm_open(pp__chan *c, uint64_t token, size_t size, pp__shm **s,
                          pp__oserr *oe)
{
    (void)c;
    *s = NULL;
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    m->h = (HANDLE)(uintptr_t)token;
    m->addr = MapViewOfFile(m->h, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (!m->addr) {
        DWORD e = GetLastError();
        pp__free(m);
        return pp__win_err(oe, "MapViewOfFile", e);
    }
    m->size = size;
    *s = m;
    return PP_OK;
}

void pp__os_shm_attach(pp__shm *s, pp__chan *c)
{
    (void)s, (void)c; /* the handle was duplicated into the worker: its value is the token */
}

pp_status pp__os_shm_adopt(pp__chan *c, uint64_t token, size_t size, bool populate,
                           pp__shm **s, pp__oserr *oe)
{
    (void)populate; /* the pages of a file mapping are committed when first touched */
    return pp__os_shm_open(c, token, size, s, oe); /* keeps the handle */
}

void pp__os_shm_drop(pp__chan *c, uint64_t token)
{
    (void)c;
    if (token)
        CloseHandle((HANDLE)(uintptr_t)token);
}

pp_status pp__os_shm_resize(pp__shm *s, size_t size, bool grow, pp__oserr *oe)
{
    (void)grow;
    if (size <= s->size)
        return PP_OK; /* (a view of the whole mapping is kept) */
    /* A pagefile-backed file mapping has the size it was created with: a result larger than
     * the worker's segment goes through the channel instead. */
    (void)pp__win_err(oe, "CreateFileMappingW (a mapping cannot grow)", ERROR_NOT_SUPPORTED);
    return PP_ENOTSUP;
}

size_t pp__os_shm_size(const pp__shm *s)
{
    return s->size;
}
