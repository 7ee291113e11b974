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

pp_status pp__os_shm_create(size_t size, pp__shm **s, pp__oserr *oe)
{
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
