/*
 * The shm suite: large arguments and results through payload segments (src/core/seg.h,
 * docs/design.md "Large payloads through shared memory"): what goes in comes out, the
 * result is a view of the segment, segments are reused, nothing is left behind (a worker
 * killed mid-write included), max_message_size holds, and sizes past 4 GiB are counted
 * right. Run as-is (segments from PROCPOOL_SHM_MIN's default), as shm.shm4k (from 4 KiB)
 * and as shm.noshm (PROCPOOL_SHM_MIN=0: everything through the channel): the same answers.
 */
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#  include <dirent.h>
#  include <sys/mman.h>
#  include <unistd.h>
#endif
#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#endif

#include "pp_core.h"
#include "pp_test.h"
#include "seg.h"
#include "wire.h"

#define BOUND_MS 20000L

static bool segs_on(void)
{
    return pp__seg_min() != 0 && pp_t_start != PP_START_MPI;
}

/* Whether p lies in a segment: Linux, in a mapping of one of the library's memfds
 * (/proc/self/maps); Windows, in a view of a file mapping (MEM_MAPPED: a result copied out
 * of the channel lies in private memory, MEM_PRIVATE). -1: cannot tell. */
static int in_segment(const void *p)
{
#if defined(_WIN32)
    MEMORY_BASIC_INFORMATION mi;
    if (VirtualQuery(p, &mi, sizeof mi) != sizeof mi)
        return -1;
    return mi.Type == MEM_MAPPED;
#elif defined(__linux__)
    FILE *m = fopen("/proc/self/maps", "r");
    if (!m)
        return -1;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, m)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo && (uintptr_t)p < hi) {
            found = strstr(line, "memfd:procpool") != NULL;
            break;
        }
    }
    fclose(m);
    return found;
#else
    (void)p;
    return -1;
#endif
}

/* Linux: the library's memfds open in this process, and its mappings of them; and its
 * entries in /dev/shm (where a system without memfd would name them). Windows: the views
 * of file mappings in this process (maps; its segments are unnamed: no entry anywhere
 * else). -1: cannot tell. */
typedef struct shm_census {
    int fds, maps, devshm;
} shm_census;

static shm_census census(void)
{
    shm_census c = {-1, -1, -1};
#ifdef __linux__
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        c.fds = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[300], tgt[128];
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(path, tgt, sizeof tgt - 1);
            if (n > 0 && (tgt[n] = 0, strstr(tgt, "memfd:procpool") != NULL))
                c.fds++;
        }
        closedir(d);
    }
    FILE *m = fopen("/proc/self/maps", "r");
    if (m) {
        c.maps = 0;
        char line[512];
        while (fgets(line, sizeof line, m))
            c.maps += strstr(line, "memfd:procpool") != NULL;
        fclose(m);
    }
    d = opendir("/dev/shm");
    if (d) {
        c.devshm = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            c.devshm += strncmp(e->d_name, "procpool", 8) == 0; /* (others' are theirs) */
        closedir(d);
    }
#endif
#ifdef _WIN32
    c.maps = 0;
    const char *at = NULL;
    const void *last_base = NULL;
    for (;;) {
        MEMORY_BASIC_INFORMATION mi;
        if (VirtualQuery(at, &mi, sizeof mi) != sizeof mi || mi.RegionSize == 0)
            break;
        if (mi.Type == MEM_MAPPED && mi.AllocationBase != last_base) { /* one per view */
            c.maps++;
            last_base = mi.AllocationBase;
        }
        const char *next = (const char *)mi.BaseAddress + mi.RegionSize;
        if (next <= at)
            break;
        at = next;
    }
#endif
    return c;
}

static void echo_check(pp_executor *ex, size_t size, uint32_t seed, bool want_view)
{
    uint8_t *buf = malloc(size ? size : 1);
    CU_ASSERT_FATAL(buf != NULL);
    pp_t_fill(buf, size, seed);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", buf, size, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == size && (size == 0 || memcmp(r.data, buf, size) == 0));
    if (want_view && r.len) {
        int v = in_segment(r.data);
        if (v < 0)
            printf("(cannot tell where a result lies here) ");
        else
            CU_ASSERT_EQUAL(v, 1); /* a view of the segment, not a copy */
    }
    pp_future_release(f);
    free(buf);
}

/* Echoes around the threshold and well above it: the bytes come back; above it, the result
 * is a view of a segment. */
static void test_echo_sizes(void)
{
    pp_executor *ex = pp_t_executor(2);
    size_t min = pp__seg_min() ? pp__seg_min() : PP__SEG_MIN_DEFAULT;
    size_t sizes[] = {0, 1, min / 2, min - 64, min, min + 1, (size_t)1 << 20, 3u << 20,
                      (size_t)16 << 20, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        echo_check(ex, sizes[i], (uint32_t)i + 1, segs_on() && sizes[i] >= min);
    if (!segs_on())
        printf("(segments off: through the channel) ");
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__seg_count(), 0);
}

/* 8 calls of 4 MiB in flight on 2 workers, three rounds: every result right, and the
 * segments of the first round serve the next ones (few made after it; none beyond 2 in
 * the last). */
static void test_in_flight_reuse(void)
{
    enum { N = 8, ROUNDS = 3 };
    const size_t size = (size_t)4 << 20;
    pp_executor *ex = pp_t_executor(2);
    uint8_t *bufs[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = malloc(size);
        CU_ASSERT_FATAL(bufs[i] != NULL);
    }
    size_t after_first = 0, before_last = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pp_future *fs[N];
        for (int i = 0; i < N; i++) {
            pp_t_fill(bufs[i], size, (uint32_t)(round * N + i + 7));
            PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", bufs[i], size, &fs[i]));
        }
        for (int i = 0; i < N; i++) {
            pp_buf r;
            PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r));
            CU_ASSERT(r.len == size && memcmp(r.data, bufs[i], size) == 0);
            pp_future_release(fs[i]);
        }
        if (round == 0)
            after_first = pp__seg_count();
        if (round == ROUNDS - 2)
            before_last = pp__seg_count();
    }
    if (segs_on()) {
        /* live: those kept (at most 16) and the workers' result segments */
        CU_ASSERT(pp__seg_count() <= 16 + 2);
#ifdef _WIN32
        /* Windows has two kinds: only a section reserved for results can be a result
         * segment (win32/shm.c), and the arguments of the second round may take some of
         * those the first round made, so that round may make one per call; not the next */
        CU_ASSERT(pp__seg_count() <= after_first + N);
#else
        CU_ASSERT(pp__seg_count() <= after_first + 2);
#endif
        CU_ASSERT(pp__seg_count() <= before_last + 2);
    } else {
        CU_ASSERT_EQUAL(pp__seg_count(), 0);
    }
    for (int i = 0; i < N; i++)
        free(bufs[i]);
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__seg_count(), 0);
}

/* Kept segments go back to their last use (seg.h): a CALL's segment to a CALL, a result
 * segment to the worker that had it, even where size alone would pick the other. */
static void test_reuse_by_use(void)
{
    if (!segs_on()) {
        printf("(skipped: payload segments are off) ");
        return;
    }
    pp_executor *ex = pp_t_executor(1); /* (segments are kept while an executor exists) */
    /* the result segment grows to 1 MiB, as a worker makes it (smaller than the CALL's);
     * it is made as the manager makes one (Windows: reserved that far, else it cannot grow) */
    const size_t rsize = (size_t)1 << 20;
    pp__seg *call = pp__seg_get((size_t)2 << 20, 0);
    pp__seg *res = pp__seg_get_result(rsize, 4242);
    CU_ASSERT_FATAL(call != NULL && res != NULL);
    CU_ASSERT(!call->result && res->result);
    PP_ASSERT_OK(pp__os_shm_resize(res->shm, rsize, true, NULL));
    PP_ASSERT_OK(pp__seg_grow(res, rsize));
    res->last_pid = 4242;
    pp__seg *call_was = call, *res_was = res;
    pp__seg_put(res);
    pp__seg_put(call);
    /* a CALL of 512 KiB: the CALL's segment, though the result segment is the smallest fit */
    pp__seg *a = pp__seg_get((size_t)512 << 10, 0);
    CU_ASSERT(a == call_was);
    /* worker 4242's result segment: its own, though the largest is asked for */
    pp__seg_put(a);
    pp__seg *b = pp__seg_get_result(rsize, 4242);
    CU_ASSERT(b == res_was);
    pp__seg_put(b);
    pp_executor_destroy(ex);
}

/* pp_map with large items: chunks of several arguments and several results in one
 * segment. */
static void test_map_chunks(void)
{
    enum { N = 7 };
    const size_t size = 300 * 1024;
    pp_executor *ex = pp_t_executor(2);
    uint8_t *bufs[N];
    pp_buf args[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = malloc(size + (size_t)i);
        CU_ASSERT_FATAL(bufs[i] != NULL);
        pp_t_fill(bufs[i], size + (size_t)i, (uint32_t)i + 100);
        args[i] = (pp_buf){bufs[i], size + (size_t)i};
    }
    size_t chunks[] = {1, 2, 3};
    for (size_t c = 0; c < 3; c++) {
        pp_map_iter *it = NULL;
        PP_ASSERT_OK_FATAL(pp_map(ex, "echo", args, N, chunks[c], PP_T_TIMEOUT_MS, &it));
        for (int i = 0; i < N; i++) {
            pp_buf r;
            PP_ASSERT_OK(pp_map_next(it, &r, NULL));
            CU_ASSERT(r.len == args[i].len && memcmp(r.data, args[i].data, r.len) == 0);
        }
        pp_buf r;
        CU_ASSERT_EQUAL(pp_map_next(it, &r, NULL), PP_END);
        pp_map_free(it);
    }
    for (int i = 0; i < N; i++)
        free(bufs[i]);
    pp_executor_destroy(ex);
}

/* A worker killed after writing a large result into its segment, before it could send it:
 * the call fails, the pool goes on (PP_CRASH_ISOLATE; fork: the pool breaks), and once the pool is destroyed, no
 * memfd, mapping or /dev/shm entry of the library is left in this process. */
static void test_killed_mid_write_leaks_nothing(void)
{
    PP_T_SKIP_IF_MPI("kills workers");
    shm_census before = census();
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 2;
    bool fork = pp_t_start == PP_START_FORK; /* no worker is replaced: the pool breaks */
    o.crash_policy = fork ? PP_CRASH_BREAK : PP_CRASH_ISOLATE;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    struct {
        uint64_t n;
        uint32_t seed, pad;
    } arg = {(uint64_t)8 << 20, 5, 0};
    for (int k = 0; k < (fork ? 1 : 3); k++) {
        echo_check(ex, (size_t)2 << 20, (uint32_t)k, false); /* segments in use */
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes_then_die", &arg, sizeof arg, &f));
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(f, BOUND_MS, &e));
        CU_ASSERT_FATAL(e != NULL);
        CU_ASSERT(e->status == PP_EWORKERDIED || e->status == PP_EBROKEN);
        pp_future_release(f);
    }
    if (!fork)
        echo_check(ex, (size_t)2 << 20, 9, false); /* the pool goes on */
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__seg_count(), 0);
    shm_census after = census();
    if (before.fds < 0 && before.maps < 0) {
        printf("SKIP (no /proc/self/fd here: only the library's own count was checked)\n");
        return;
    }
    if (after.fds != before.fds || after.maps != before.maps || after.devshm != before.devshm)
        printf("(memfds %d -> %d, mappings %d -> %d, /dev/shm %d -> %d) ", before.fds,
               after.fds, before.maps, after.maps, before.devshm, after.devshm);
    CU_ASSERT_EQUAL(after.fds, before.fds);
    CU_ASSERT_EQUAL(after.maps, before.maps);
    CU_ASSERT_EQUAL(after.devshm, before.devshm);
}

/* A result above max_message_size, through a segment: refused before the parent maps it
 * (the pool breaks naming the limit); one below passes. */
static void test_max_message_size(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_message_size = (size_t)1 << 20;
    o.max_workers = 1;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    struct {
        uint64_t n;
        uint32_t seed, pad;
    } small = {600 * 1024, 1, 0}, big = {(uint64_t)3 << 20, 2, 0};
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes", &small, sizeof small, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, 600 * 1024);
    pp_future_release(f);
    PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes", &big, sizeof big, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_FATAL(e != NULL);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    if (!strstr(e->message, "above max_message_size"))
        printf("(message: %s) ", e->message);
    CU_ASSERT(strstr(e->message, "above max_message_size") != NULL);
    pp_future_release(f);
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__seg_count(), 0);
}

/* No 4 GiB limit: the frames that carry segments count in 64 bits, a CALL of a 5 GiB
 * argument is sized without wrapping, and the manager refuses a 5 GiB result above
 * max_message_size from its reference alone. Nothing of that size is allocated. */
static void test_past_4gib_arithmetic(void)
{
    const uint64_t five = (uint64_t)5 << 30;
    uint8_t f[PP__WIRE_SEG_LEN];
    pp__wire_hdr h;
    pp__wire_seg s;
    pp__wire_encode_seg(f, 77, five + 4096, 3, five + 40);
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_SEG);
    PP_ASSERT_OK(pp__wire_decode_seg(f + PP__WIRE_HDR, (size_t)h.body_len, &s));
    CU_ASSERT(s.token == 77 && s.size == five + 4096 && s.seg_id == 3 && s.frame_len == five + 40);
    uint8_t g[PP__WIRE_SEGREF_LEN];
    pp__wire_encode_segref(g, PP__MSGF_LAST, 9, five + 65536, five + 44);
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(g, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT(h.type == PP__MSG_RESULT && h.flags == (PP__MSGF_LAST | PP__MSGF_SEG));
    PP_ASSERT_OK(pp__wire_decode_segref(g + PP__WIRE_HDR, (size_t)h.body_len, &s));
    CU_ASSERT(s.seg_id == 9 && s.size == five + 65536 && s.frame_len == five + 44);
    /* a frame longer than its segment is malformed */
    pp__wire_encode_seg(f, 1, five, 3, five + 1);
    CU_ASSERT_EQUAL(pp__wire_decode_seg(f + PP__WIRE_HDR, 32, &s), PP_EINVAL);
    /* the header inside a 5 GiB result segment */
    uint8_t hdr[PP__WIRE_HDR];
    pp__wire_put_hdr(hdr, PP__MSG_RESULT, 0, five + 28);
    PP_ASSERT_OK(pp__wire_get_hdr(hdr, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.body_len, five + 28);
    CU_ASSERT_EQUAL(pp__wire_get_hdr(hdr, five, &h), PP_EINVAL); /* above the limit */
#if SIZE_MAX > 0xFFFFFFFFu
    pp_buf arg = {NULL, (size_t)five};
    size_t n = pp__wire_call_size(4, &arg, 1);
    CU_ASSERT_EQUAL(n, (size_t)five + PP__WIRE_HDR + 8 + 4 + 4 + 4 + 8);
#else
    printf("(32-bit: a 5 GiB argument cannot exist here) ");
#endif
}

/* Optional (PP_T_BIG=1, where memory allows: about 5 GiB of shared memory): a 5 GiB
 * argument, read in place by the worker, whose checksum comes back right. */
static void test_5gib_argument(void)
{
#if defined(__linux__) && SIZE_MAX > 0xFFFFFFFFu
    const char *big = getenv("PP_T_BIG");
    if (!big || strcmp(big, "1") != 0) {
        printf("SKIP (set PP_T_BIG=1 to run: it needs about 5 GiB of free memory)\n");
        return;
    }
    if (!segs_on()) {
        printf("SKIP (segments are off in this run)\n");
        return;
    }
    const size_t five = (size_t)5 << 30;
    /* never written: every page reads as zero and costs nothing here */
    void *p = mmap(NULL, five, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CU_ASSERT_FATAL(p != MAP_FAILED);
    uint64_t want = pp_t_fnv1a(p, five);
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "checksum", p, five, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, 600000L, &r));
    CU_ASSERT(r.len == sizeof want && memcmp(r.data, &want, sizeof want) == 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
    munmap(p, five);
#else
    printf("SKIP (Linux, 64-bit only)\n");
#endif
}

static CU_TestInfo tests[] = {
    {"echoes around the threshold come back whole; large results are views", test_echo_sizes},
    {"8 calls of 4 MiB in flight: right, and the segments are reused", test_in_flight_reuse},
    {"pp_map chunks of large items", test_map_chunks},
    {"kept segments go back to their last use (CALL, the same worker's result)",
     test_reuse_by_use},
    {"a worker killed mid-write leaves no memfd, mapping or /dev/shm entry",
     test_killed_mid_write_leaks_nothing},
    {"max_message_size holds for a result in a segment", test_max_message_size},
    {"sizes past 4 GiB, counted without allocating", test_past_4gib_arithmetic},
    {"a 5 GiB argument (PP_T_BIG=1)", test_5gib_argument},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_shm = {"shm", NULL, NULL, NULL, NULL, tests};
