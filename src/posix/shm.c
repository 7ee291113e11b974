/*
 * POSIX backend: memory shared with one worker. A memfd (Linux; no name, gone with its
 * last descriptor and mapping), else an O_TMPFILE file in /dev/shm, else a shm_open object
 * unlinked at once: in every case nothing is left behind when both processes are gone,
 * however they end. The parent sends the descriptor to the worker with the first byte of
 * the SHM frame (SCM_RIGHTS over the channel's socketpair, chan.c).
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix.h"

static int anon_fd(void)
{
#if defined(SYS_memfd_create)
    int fd = (int)syscall(SYS_memfd_create, "procpool-worker", 1u /* MFD_CLOEXEC */);
    if (fd >= 0)
        return fd;
#endif
#if defined(O_TMPFILE)
    int t = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t >= 0)
        return t;
#endif
    char name[64];
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof name, "/procpool-%ld-%d-%d", (long)getpid(), i, rand());
        int s = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (s >= 0) {
            shm_unlink(name);
            fcntl(s, F_SETFD, FD_CLOEXEC);
            return s;
        }
        if (errno != EEXIST)
            break;
    }
    return -1;
}

/* Worker: the descriptor that came with the frame being read (the oldest not taken), or
 * -1; the next one, if any, moves up. */
static int take_fd(pp__chan *c)
{
    int fd = c->passed_fd;
    c->passed_fd = -1;
    if (c->n_more > 0) {
        c->passed_fd = c->more_fds[0];
        for (int i = 1; i < c->n_more; i++)
            c->more_fds[i - 1] = c->more_fds[i];
        c->n_more--;
    }
    return fd;
}

/* A segment about to be written whole gets its pages at once, in the kernel, not by one
 * fault per page at the first copy (each allocates a page; in a virtual machine with shadow
 * page tables a trip to the hypervisor: a fresh 64 MiB cost ~250 ms that way). Two steps,
 * so that no other thread of the process waits on the address space's lock while fresh
 * memory is allocated (on a VM where it is dear, ~40 ms per 64 MiB, the manager waited that
 * long to map a 256 KiB result segment while the caller populated a 64 MiB CALL segment
 * with MAP_POPULATE, and the workers ran dry):
 * - back_pages: the pages are allocated and zeroed in the memfd (Linux: fallocate), which
 *   does not touch the address space; where it cannot, map_pages allocates them;
 * - map_pages: the mapping's entries are filled (pp__os_mem_prefault: MADV_POPULATE_WRITE)
 *   POPULATE_STEP at a time, so that the lock is held for one step at most.
 * Without MADV_POPULATE_WRITE, mmap's MAP_POPULATE does both under the lock, as before.
 * Measured (64 MiB x8 echo, first round): 2082 -> 2967 MB/s against one MAP_POPULATE
 * (bench/ab, 7 repetitions); of that, the steps against fallocate alone (the writer then
 * faulting each page in) 2391 -> 2707 (9 runs interleaved). */
#define POPULATE_STEP ((size_t)2 << 20)
#if defined(MADV_POPULATE_WRITE)
#  define HAVE_POPULATE_WRITE 1
#else
#  define HAVE_POPULATE_WRITE 0
#endif

static void back_pages(int fd, size_t off, size_t len)
{
#if defined(__linux__)
    if (len)
        (void)fallocate(fd, 0, (off_t)off, (off_t)len); /* failing, map_pages allocates */
#else
    (void)fd, (void)off, (void)len;
#endif
}

static void map_pages(char *a, size_t len)
{
    for (size_t o = 0; o < len; o += POPULATE_STEP) /* (whole pages: a grown part may
                                                       start inside one) */
        pp__os_mem_prefault(a + o, len - o < POPULATE_STEP ? len - o : POPULATE_STEP);
}

pp_status pp__os_shm_create_max(size_t size, size_t most, bool populate, pp__shm **s,
                                pp__oserr *oe)
{
    (void)most; /* a memfd grows to any size (pp__os_shm_resize) */
    return pp__os_shm_create(size, populate, s, oe);
}

pp_status pp__os_shm_create(size_t size, bool populate, pp__shm **s, pp__oserr *oe)
{
    *s = NULL;
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    m->fd = anon_fd();
    if (m->fd < 0) {
        pp__free(m);
        return pp__posix_err(oe, "memfd_create", errno);
    }
    if (ftruncate(m->fd, (off_t)size) != 0) {
        int e = errno;
        close(m->fd);
        pp__free(m);
        return pp__posix_err(oe, "ftruncate", e);
    }
    if (populate) /* see back_pages */
        back_pages(m->fd, 0, size);
    int how = MAP_SHARED | (populate && !HAVE_POPULATE_WRITE ? MAP_POPULATE : 0);
    m->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, how, m->fd, 0);
    if (m->addr == MAP_FAILED) {
        int e = errno;
        close(m->fd);
        pp__free(m);
        return pp__posix_err(oe, "mmap", e);
    }
    if (populate)
        map_pages(m->addr, size);
#ifdef MADV_DONTFORK
    /* A worker forked later (PP_START_FORK) gets its own segments through its channel; a
     * copy of this mapping would keep the memory alive in it after the parent freed it. */
    (void)madvise(m->addr, size, MADV_DONTFORK);
#endif
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
    munmap(s->addr, s->size);
    if (s->fd >= 0)
        close(s->fd);
    pp__free(s);
}

pp_status pp__os_shm_share(pp__shm *s, pp__proc *p, pp__chan *c, uint64_t *token,
                           pp__oserr *oe)
{
    (void)p;
    *token = 0;
    if (c->local < 0) { /* asked once per channel */
        int dom = 0;
        socklen_t dlen = sizeof dom;
        c->local = getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) == 0 && dom == AF_UNIX;
    }
    if (!c->local) {
        (void)pp__posix_err(oe, "SCM_RIGHTS (not a local socket)", ENOTSUP);
        return PP_ENOTSUP; /* a remote worker's TCP channel cannot carry a descriptor */
    }
    (void)s; /* the descriptor goes with the frame: pp__os_shm_attach */
    return PP_OK;
}

void pp__os_shm_attach(pp__shm *s, pp__chan *c)
{
    c->attach_fd = s->fd;
}

pp_status pp__os_shm_open(pp__chan *c, uint64_t token, size_t size, pp__shm **s,
                          pp__oserr *oe)
{
    (void)token;
    *s = NULL;
    if (c->passed_fd < 0)
        return pp__posix_err(oe, "recvmsg (no descriptor with the SHM frame)", EBADF);
    struct stat st;
    if (fstat(c->passed_fd, &st) != 0 || (size_t)st.st_size < size)
        return pp__posix_err(oe, "fstat (shared block too small)", EINVAL);
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m)
        return PP_ENOMEM;
    m->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, c->passed_fd, 0);
    if (m->addr == MAP_FAILED) {
        int e = errno;
        pp__free(m);
        return pp__posix_err(oe, "mmap", e);
    }
    close(take_fd(c)); /* the mapping stays: the worker holds no descriptor for it */
    m->fd = -1;
    m->size = size;
    *s = m;
    return PP_OK;
}

pp_status pp__os_shm_adopt(pp__chan *c, uint64_t token, size_t size, bool populate,
                           pp__shm **s, pp__oserr *oe)
{
    (void)token;
    *s = NULL;
    if (c->passed_fd < 0)
        return pp__posix_err(oe, "recvmsg (no descriptor with the SEG frame)", EBADF);
    int fd = take_fd(c);
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < (uint64_t)size) {
        close(fd);
        return pp__posix_err(oe, "fstat (segment too small)", EINVAL);
    }
    pp__shm *m = pp__calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return PP_ENOMEM;
    }
    int how = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    m->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, how, fd, 0);
    if (m->addr == MAP_FAILED) {
        int e = errno;
        close(fd);
        pp__free(m);
        return pp__posix_err(oe, "mmap", e);
    }
    m->fd = fd;
    m->size = size;
    *s = m;
    return PP_OK;
}

void pp__os_shm_drop(pp__chan *c, uint64_t token)
{
    (void)token;
    int fd = take_fd(c);
    if (fd >= 0)
        close(fd);
}

pp_status pp__os_shm_resize(pp__shm *s, size_t size, bool grow, pp__oserr *oe)
{
    if (size == s->size)
        return PP_OK;
    if (s->fd < 0)
        return pp__posix_err(oe, "mremap (no descriptor kept)", EBADF);
    if (grow && ftruncate(s->fd, (off_t)size) != 0)
        return pp__posix_err(oe, "ftruncate", errno);
    /* grown here: the new part is about to be written (a result larger than the segment);
     * grown by the other side (the manager, adopting a larger result): its pages exist,
     * and are read once by the caller (a read fault maps several pages at once) */
    bool fill = grow && size > s->size;
    if (fill)
        back_pages(s->fd, s->size, size - s->size);
    if (!grow) {
        struct stat st;
        if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size < (uint64_t)size)
            return pp__posix_err(oe, "fstat (segment smaller than announced)", EINVAL);
    }
    void *a = mremap(s->addr, s->size, size, MREMAP_MAYMOVE);
    if (a == MAP_FAILED)
        return pp__posix_err(oe, "mremap", errno);
#ifdef MADV_DONTFORK
    (void)madvise(a, size, MADV_DONTFORK);
#endif
    if (fill)
        map_pages((char *)a + s->size, size - s->size);
    s->addr = a;
    s->size = size;
    return PP_OK;
}

size_t pp__os_shm_size(const pp__shm *s)
{
    return s->size;
}

size_t pp__os_shm_max(const pp__shm *s)
{
    (void)s;
    return SIZE_MAX;
}
