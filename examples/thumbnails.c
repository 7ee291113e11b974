/*
 * thumbnails: a batch thumbnailer that survives bad input, the program an application
 * would write with procpool's v0.2 features.
 *
 *     thumbnails [-j WORKERS] [-s SIZE] [-t LIMIT_MS] [-m spawn|forkserver] IN_DIR OUT_DIR
 *
 * Every file of IN_DIR (not its subdirectories or dot files) is decoded as a PNG with libpng,
 * scaled down to fit in SIZE x SIZE pixels (default 128; a smaller image keeps its size; the
 * longer side becomes SIZE, the other is scaled in proportion, rounded, at least 1) with a
 * box filter, and written to OUT_DIR (created if missing) under the same name, as an 8-bit
 * RGBA PNG. WORKERS worker processes (default: one per CPU) do the work; each file is one
 * call, which may run LIMIT_MS milliseconds (default 10000; 0: no limit). -m picks how the
 * workers start (default spawn; forkserver on POSIX only).
 *
 * What it shows:
 * - crash_policy PP_CRASH_ISOLATE: a file that crashes the decoder fails only its own call,
 *   with PP_EWORKERDIED; the other workers keep their files and a new worker replaces the
 *   dead one. (With the default, CPython's PP_CRASH_BREAK, one crash would fail every file
 *   not yet done.)
 * - a time limit per call (pp_submit_ex() with pp_call_options.time_limit_ms): a file that
 *   hangs the decoder fails with PP_ETIMELIMIT. The task is first asked to stop
 *   (pp_task_should_stop()), then after stop_grace_ms its worker is killed and replaced.
 * - pp_future_set_userdata(): each future carries its file, so the loop over
 *   pp_as_completed_next() finds it without a search; pp_error.work_id and .pid name the
 *   call and the worker of a crash without parsing its message.
 * - an initializer (the directories and the size, sent once to each worker), and
 *   as_completed driving a progress bar: on a terminal, one line redrawn with '\r' as each
 *   file finishes and every 200 ms in between (pp_as_completed_next_wait()); otherwise one
 *   plain line per file (pp_as_completed_next()).
 *
 * At the end it prints the failures by kind (corrupt: the task failed, PP_ETASK, with
 * libpng's message; crashed: PP_EWORKERDIED; hung: PP_ETIMELIMIT; other: anything else,
 * such as an output file that cannot be written) and a last line
 *
 *     ok N, corrupt N, crashed N, hung N, other N
 *
 * Exit status: 0 if every file got its thumbnail, 1 if some failed, 2 on a usage or setup
 * error (bad option, unreadable IN_DIR, OUT_DIR cannot be made, no executor).
 *
 * TEST HOOK (how its test makes a decoder crash or hang for real): a PNG with a tEXt chunk
 * whose keyword is "procpool-test" makes the task misbehave once libpng has read the
 * chunk, as a buggy decoder would:
 *     "crash"      writes through a NULL pointer (SIGSEGV; an access violation on Windows;
 *                  under ASan/UBSan the sanitizer reports it and the worker exits 1: still
 *                  a worker that died);
 *     "hang"       sleeps until pp_task_should_stop() turns true (a cooperative long task);
 *     "hang-hard"  sleeps for ever, ignoring the ask (its worker is killed after the grace).
 * examples/make_pngs.c makes such files, with valid and corrupt ones; the ctest
 * example_thumbnails (cmake/thumbnails-test.cmake) runs this program on them. A real
 * application would not have this hook.
 */
#if !defined(_WIN32)
#  define _POSIX_C_SOURCE 200809L
#endif
#include <png.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#  include <direct.h>
#  include <io.h>
#else
#  include <dirent.h>
#  include <errno.h>
#  include <sys/stat.h>
#  include <unistd.h>
#endif

#include "procpool.h"

/* ---- small portability helpers --------------------------------------------------------- */

static double now_s(void)
{
#ifdef _WIN32
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

static void sleep_ms(long ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
#endif
}

static bool stdout_is_terminal(void)
{
#ifdef _WIN32
    return _isatty(_fileno(stdout)) != 0;
#else
    return isatty(fileno(stdout)) != 0;
#endif
}

/* Creates @p dir if it does not exist. Returns false with a message on failure. */
static bool make_dir(const char *dir)
{
#ifdef _WIN32
    if (_mkdir(dir) == 0)
        return true;
    DWORD a = GetFileAttributesA(dir);
    if (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY))
        return true;
#else
    if (mkdir(dir, 0777) == 0)
        return true;
    struct stat st;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
#endif
    perror(dir);
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of @p dir (no dot files), sorted; NULL with a message on failure. */
static char **list_dir(const char *dir, size_t *n)
{
    size_t cap = 64;
    char **names = malloc(cap * sizeof *names);
    bool ok = true;
    *n = 0;
    if (!names)
        return NULL;
#ifdef _WIN32
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "thumbnails: %s: cannot list it (error %lu)\n", dir,
                (unsigned long)GetLastError());
        free(names);
        return NULL;
    }
    do {
        const char *name = fd.cFileName;
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
            continue;
#else
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        free(names);
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
#endif
        if (name[0] == '.')
            continue;
        char *copy = malloc(strlen(name) + 1);
        if (*n == cap) {
            char **more = copy ? realloc(names, 2 * cap * sizeof *names) : NULL;
            if (more) {
                names = more;
                cap *= 2;
            }
        }
        if (!copy || *n == cap) {
            fprintf(stderr, "thumbnails: out of memory\n");
            free(copy);
            ok = false;
            break;
        }
        strcpy(copy, name);
        names[(*n)++] = copy;
#ifdef _WIN32
    } while (FindNextFileA(h, &fd));
    FindClose(h);
#else
    }
    closedir(d);
#endif
    if (!ok) {
        while (*n)
            free(names[--*n]);
        free(names);
        return NULL;
    }
    qsort(names, *n, sizeof *names, by_name);
    return names;
}

/* ---- the worker's side: the initializer and the task ----------------------------------- */

/* Set once per worker by the initializer. */
static char g_in[2048], g_out[2048];
static uint32_t g_size;

/* initargs: "SIZE\0IN_DIR\0OUT_DIR\0". */
static int thumbnail_init(pp_task_ctx *ctx, const void *arg, size_t len)
{
    const char *a = arg;
    if (len < 6 || a[len - 1] != '\0') {
        pp_task_error(ctx, "thumbnail_init: malformed initargs");
        return 1;
    }
    const char *in = a + strlen(a) + 1;
    const char *out = in + strlen(in) + 1;
    if (out >= a + len || strlen(in) >= sizeof g_in || strlen(out) >= sizeof g_out) {
        pp_task_error(ctx, "thumbnail_init: malformed initargs");
        return 1;
    }
    g_size = (uint32_t)strtoul(a, NULL, 10);
    strcpy(g_in, in);
    strcpy(g_out, out);
    return 0;
}

/* The thumbnail's size: see the header comment (make_pngs.c checks the same rule). */
static void fit(uint32_t w, uint32_t h, uint32_t size, uint32_t *tw, uint32_t *th)
{
    if (w <= size && h <= size) {
        *tw = w;
        *th = h;
    } else if (w >= h) {
        *tw = size;
        *th = (uint32_t)(((uint64_t)h * size + w / 2) / w);
    } else {
        *th = size;
        *tw = (uint32_t)(((uint64_t)w * size + h / 2) / h);
    }
    if (*tw < 1)
        *tw = 1;
    if (*th < 1)
        *th = 1;
}

/* Box filter: each thumbnail pixel is the mean of the source pixels it covers (RGBA8). */
static void scale_box(const unsigned char *src, uint32_t w, uint32_t h, unsigned char *dst,
                      uint32_t tw, uint32_t th)
{
    for (uint32_t dy = 0; dy < th; dy++) {
        uint32_t y0 = (uint32_t)((uint64_t)dy * h / th);
        uint32_t y1 = (uint32_t)((uint64_t)(dy + 1) * h / th);
        if (y1 <= y0)
            y1 = y0 + 1;
        for (uint32_t dx = 0; dx < tw; dx++) {
            uint32_t x0 = (uint32_t)((uint64_t)dx * w / tw);
            uint32_t x1 = (uint32_t)((uint64_t)(dx + 1) * w / tw);
            if (x1 <= x0)
                x1 = x0 + 1;
            uint64_t sum[4] = {0, 0, 0, 0};
            for (uint32_t y = y0; y < y1; y++) {
                const unsigned char *p = src + ((size_t)y * w + x0) * 4;
                for (uint32_t x = x0; x < x1; x++, p += 4)
                    for (int c = 0; c < 4; c++)
                        sum[c] += p[c];
            }
            uint64_t n = (uint64_t)(y1 - y0) * (x1 - x0);
            unsigned char *q = dst + ((size_t)dy * tw + dx) * 4;
            for (int c = 0; c < 4; c++)
                q[c] = (unsigned char)((sum[c] + n / 2) / n);
        }
    }
}

/* One decode, in memory rather than in locals, so that libpng's longjmp clobbers nothing. */
typedef struct decoder {
    FILE *fp;
    png_structp png;
    png_infop info;
    unsigned char *pixels; /* RGBA8, w * h * 4 */
    png_bytep *rows;
    uint32_t w, h;
    char msg[256];         /* libpng's error */
} decoder;

static void on_png_error(png_structp png, png_const_charp msg)
{
    decoder *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* a thumbnailer does not care about "known incorrect sRGB profile" */
    (void)msg;
}

/* The test hook (header comment). Returns 0, or a failure code when asked to stop. */
static int test_hook(pp_task_ctx *ctx, const char *what)
{
    if (strcmp(what, "crash") == 0) {
        volatile int *volatile p = NULL; /* volatile: the compiler cannot see it is NULL */
        *p = 42;
        abort(); /* not reached */
    }
    if (strcmp(what, "hang") == 0) {
        while (!pp_task_should_stop(ctx))
            sleep_ms(10);
        pp_task_error(ctx, "stopped on request");
        return 3;
    }
    if (strcmp(what, "hang-hard") == 0) {
        for (;;)
            sleep_ms(1000);
    }
    return 0;
}

/* Decodes d->fp into d->pixels as RGBA8. Returns 0, 1 with d->msg set, or the hook's code. */
static int decode(pp_task_ctx *ctx, decoder *d)
{
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, on_png_error, on_png_warning);
    if (!d->png || !(d->info = png_create_info_struct(d->png))) {
        snprintf(d->msg, sizeof d->msg, "out of memory");
        return 1;
    }
    if (setjmp(png_jmpbuf(d->png)))
        return 1; /* d->msg says why */
    png_init_io(d->png, d->fp);
    png_read_info(d->png, d->info);

    png_textp text;
    int n_text = 0;
    png_get_text(d->png, d->info, &text, &n_text);
    for (int i = 0; i < n_text; i++) {
        if (strcmp(text[i].key, "procpool-test") == 0) {
            int rc = test_hook(ctx, text[i].text);
            if (rc != 0)
                return rc;
        }
    }

    /* Whatever the file holds (palette, gray, 1 to 16 bits, tRNS): 8-bit RGBA. */
    d->w = png_get_image_width(d->png, d->info);
    d->h = png_get_image_height(d->png, d->info);
    png_set_expand(d->png);
    png_set_strip_16(d->png);
    png_set_gray_to_rgb(d->png);
    png_set_add_alpha(d->png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);
    if (png_get_rowbytes(d->png, d->info) != (size_t)d->w * 4)
        png_error(d->png, "unexpected row size after conversion to RGBA");
    if ((uint64_t)d->w * d->h > (uint64_t)1 << 28)
        png_error(d->png, "image too large for a thumbnailer");
    d->pixels = malloc((size_t)d->w * d->h * 4);
    d->rows = malloc((size_t)d->h * sizeof *d->rows);
    if (!d->pixels || !d->rows)
        png_error(d->png, "out of memory");
    for (uint32_t y = 0; y < d->h; y++)
        d->rows[y] = d->pixels + (size_t)y * d->w * 4;
    png_read_image(d->png, d->rows);
    png_read_end(d->png, NULL); /* the chunks after the image: their CRCs too */
    return 0;
}

/* The task: the argument is a file name in the input directory. The result is 4 uint32: the
 * image's width and height, the thumbnail's. Failure codes: 1 corrupt input (libpng's
 * message), 2 the thumbnail could not be written, 3 stopped on request. */
static int thumbnail_task(pp_task_ctx *ctx, const void *arg, size_t len)
{
    char name[1024], path[4096];
    if (len == 0 || len >= sizeof name) {
        pp_task_error(ctx, "thumbnail: bad file name argument (%lu bytes)", (unsigned long)len);
        return 2;
    }
    memcpy(name, arg, len);
    name[len] = '\0';
    snprintf(path, sizeof path, "%s/%s", g_in, name);

    decoder *d = calloc(1, sizeof *d);
    unsigned char *thumb = NULL;
    if (!d) {
        pp_task_error(ctx, "out of memory");
        return 2;
    }
    int rc;
    d->fp = fopen(path, "rb");
    if (!d->fp) {
        pp_task_error(ctx, "%s: cannot open it", path);
        rc = 2;
        goto out;
    }
    rc = decode(ctx, d);
    if (rc == 1)
        pp_task_error(ctx, "libpng: %s", d->msg);
    if (rc != 0)
        goto out;

    uint32_t tw, th;
    fit(d->w, d->h, g_size, &tw, &th);
    thumb = malloc((size_t)tw * th * 4);
    if (!thumb) {
        pp_task_error(ctx, "out of memory");
        rc = 2;
        goto out;
    }
    scale_box(d->pixels, d->w, d->h, thumb, tw, th);

    png_image out;
    memset(&out, 0, sizeof out);
    out.version = PNG_IMAGE_VERSION;
    out.width = tw;
    out.height = th;
    out.format = PNG_FORMAT_RGBA;
    snprintf(path, sizeof path, "%s/%s", g_out, name);
    if (!png_image_write_to_file(&out, path, 0, thumb, 0, NULL)) {
        pp_task_error(ctx, "%s: cannot write it: %s", path, out.message);
        rc = 2;
        goto out;
    }
    uint32_t r[4] = {d->w, d->h, tw, th};
    rc = pp_task_return(ctx, r, sizeof r) == PP_OK ? 0 : 2;
out:
    if (d->png)
        png_destroy_read_struct(&d->png, d->info ? &d->info : NULL, NULL);
    if (d->fp)
        fclose(d->fp);
    free(d->pixels);
    free(d->rows);
    free(d);
    free(thumb);
    return rc;
}

/* ---- the application's side ------------------------------------------------------------ */

enum kind { K_OK, K_CORRUPT, K_CRASHED, K_HUNG, K_OTHER, K_COUNT };
static const char *const kind_names[K_COUNT] = {"ok", "corrupt", "crashed", "hung", "other"};

typedef struct item {
    const char *name;
    pp_future *f;
    enum kind kind;
    uint32_t dims[4];       /* K_OK: image and thumbnail sizes */
    pp_status status;       /* else: how it failed */
    long long pid;
    unsigned long long work_id;
    char message[256];      /* the first line of the error's message */
} item;

static enum kind kind_of(pp_status st, int code)
{
    switch (st) {
    case PP_OK: return K_OK;
    case PP_ETASK: return code == 1 ? K_CORRUPT : K_OTHER;
    case PP_EWORKERDIED: return K_CRASHED;
    case PP_ETIMELIMIT: return K_HUNG;
    default: return K_OTHER;
    }
}

/* Fills @p it from its finished future. */
static void record(item *it)
{
    pp_buf r;
    pp_status st = pp_future_result(it->f, 0, &r);
    it->status = st;
    if (st == PP_OK && r.len == sizeof it->dims) {
        memcpy(it->dims, r.data, sizeof it->dims);
        it->kind = K_OK;
        return;
    }
    const pp_error *err = NULL;
    if (st != PP_OK)
        pp_future_exception(it->f, 0, &err);
    if (err) {
        it->kind = kind_of(err->status, err->code);
        it->pid = err->pid;
        it->work_id = err->work_id;
        size_t n = strcspn(err->message, "\n"); /* a crash's message may add a backtrace */
        if (n >= sizeof it->message)
            n = sizeof it->message - 1;
        memcpy(it->message, err->message, n);
        it->message[n] = '\0';
    } else {
        it->kind = K_OTHER;
        snprintf(it->message, sizeof it->message, "%s",
                 st == PP_OK ? "unexpected result size" : pp_strerror(st));
    }
}

/* Shows that @p done of @p total files are done, @p last the latest (NULL: none new). */
static void progress(bool tty, size_t done, size_t total, const size_t *counts,
                     const item *last, double secs)
{
    size_t failed = done - counts[K_OK];
    if (tty) {
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        size_t fill = total ? done * WIDTH / total : WIDTH;
        for (size_t i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[WIDTH] = '\0';
        printf("\r[%s] %lu/%lu  ok %lu  failed %lu  %.1f s ", bar, (unsigned long)done,
               (unsigned long)total, (unsigned long)counts[K_OK], (unsigned long)failed, secs);
    } else if (!last) {
        return;
    } else if (last->kind == K_OK) {
        printf("[%lu/%lu] ok      %s %ux%u -> %ux%u\n", (unsigned long)done,
               (unsigned long)total, last->name,
               (unsigned)last->dims[0], (unsigned)last->dims[1], (unsigned)last->dims[2],
               (unsigned)last->dims[3]);
    } else {
        printf("[%lu/%lu] %-7s %s: %s\n", (unsigned long)done, (unsigned long)total,
               kind_names[last->kind], last->name, last->message);
    }
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: thumbnails [-j WORKERS] [-s SIZE] [-t LIMIT_MS] "
                    "[-m spawn|forkserver] IN_DIR OUT_DIR\n"
                    "  -j WORKERS   worker processes (default: one per CPU)\n"
                    "  -s SIZE      thumbnails fit in SIZE x SIZE pixels (default 128)\n"
                    "  -t LIMIT_MS  time limit of each file, in ms (default 10000; 0: none)\n"
                    "  -m METHOD    how workers start: spawn (default) or forkserver (POSIX)\n");
    return 2;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    /* The same registrations in this program and in every worker (the same program). */
    if (pp_register_task("thumbnail", thumbnail_task) != PP_OK ||
        pp_register_task("thumbnail_init", thumbnail_init) != PP_OK) {
        fprintf(stderr, "thumbnails: pp_register_task: %s\n", pp_last_error());
        return 2;
    }
    pp_worker_main(argc, argv); /* in a worker: serves and never returns */

    long workers = 0, size = 128, limit_ms = 10000;
    pp_start_method method = PP_START_SPAWN;
    int a = 1;
    for (; a + 1 < argc && argv[a][0] == '-' && argv[a][1] != '\0'; a += 2) {
        if (strcmp(argv[a], "-m") == 0) {
            if (strcmp(argv[a + 1], "spawn") == 0)
                method = PP_START_SPAWN;
            else if (strcmp(argv[a + 1], "forkserver") == 0)
                method = PP_START_FORKSERVER;
            else
                return usage();
            continue;
        }
        long *dst = strcmp(argv[a], "-j") == 0   ? &workers
                    : strcmp(argv[a], "-s") == 0 ? &size
                    : strcmp(argv[a], "-t") == 0 ? &limit_ms
                                                 : NULL;
        long min = dst == &workers ? 1 : dst == &size ? 1 : 0;
        if (!dst || !parse_long(argv[a + 1], min, 1L << 20, dst))
            return usage();
    }
    if (argc - a != 2)
        return usage();
    const char *in = argv[a], *out = argv[a + 1];

    size_t n;
    char **names = list_dir(in, &n);
    if (!names || !make_dir(out))
        return 2;
    item *items = calloc(n ? n : 1, sizeof *items);
    pp_future **fs = calloc(n ? n : 1, sizeof *fs);
    char initargs[8192];
    int ilen = snprintf(initargs, sizeof initargs, "%ld%c%s%c%s", size, 0, in, 0, out);
    if (!items || !fs || ilen < 0 || (size_t)ilen + 1 >= sizeof initargs) {
        fprintf(stderr, "thumbnails: out of memory, or directory names too long\n");
        return 2;
    }

    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = (int)workers;           /* 0: one per CPU */
    o.start_method = method;                /* not fork: it cannot replace a worker */
    o.crash_policy = PP_CRASH_ISOLATE;      /* a crash fails its file only */
    o.stop_grace_ms = 200;                  /* a call past its limit has 200 ms to return */
    o.initializer = "thumbnail_init";
    o.initargs = (pp_buf){initargs, (size_t)ilen + 1};
    pp_executor *ex;
    if (pp_executor_create(&o, &ex) != PP_OK) {
        fprintf(stderr, "thumbnails: %s\n", pp_last_error());
        return 2;
    }

    double t0 = now_s();
    pp_call_options co;
    pp_call_options_init(&co);
    co.time_limit_ms = limit_ms > 0 ? limit_ms : PP_FOREVER;
    size_t submitted = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].name = names[i];
        pp_status st = pp_submit_ex(ex, "thumbnail", names[i], strlen(names[i]), &co,
                                    &items[i].f);
        if (st != PP_OK) {
            fprintf(stderr, "thumbnails: %s\n", pp_last_error());
            break;
        }
        pp_future_set_userdata(items[i].f, &items[i]); /* found again from as_completed */
        fs[submitted++] = items[i].f;
    }

    /* Results as they come, whatever the order: as_completed drives the progress bar. */
    bool tty = stdout_is_terminal();
    size_t counts[K_COUNT] = {0}, done = 0;
    pp_as_completed *it;
    int rc = 2;
    if (submitted == n && pp_as_completed_begin(fs, n, PP_FOREVER, &it) == PP_OK) {
        pp_future *f;
        for (;;) {
            /* A terminal's bar also ticks while nothing finishes (a hung file): it waits
             * 200 ms at a time; a pipe gets one line per file, so it just waits. */
            pp_status st = tty ? pp_as_completed_next_wait(it, 200, &f)
                               : pp_as_completed_next(it, &f);
            if (st == PP_ETIMEDOUT && tty) {
                progress(tty, done, n, counts, NULL, now_s() - t0);
                continue;
            }
            if (st != PP_OK)
                break; /* PP_END: every file is done */
            item *x = pp_future_userdata(f); /* the file this future was submitted for */
            record(x);
            counts[x->kind]++;
            progress(tty, ++done, n, counts, x, now_s() - t0);
        }
        pp_as_completed_end(it);
        if (tty)
            printf("\n");
        rc = done == n ? 0 : 2;
    }
    pp_executor_destroy(ex);
    double secs = now_s() - t0;

    if (rc == 0 && counts[K_OK] != n) {
        rc = 1;
        printf("Failures:\n");
        for (int k = K_CORRUPT; k < K_COUNT; k++) {
            for (size_t i = 0; i < n; i++) {
                const item *x = &items[i];
                if (x->kind != (enum kind)k)
                    continue;
                printf("  %-7s %s: %s", kind_names[k], x->name, pp_status_str(x->status));
                if (x->work_id)
                    printf(" (work %llu, worker %lld)", x->work_id, x->pid);
                printf(": %s\n", x->message);
            }
        }
    }
    printf("%lu files in %.2f s with %d workers\n", (unsigned long)n, secs,
           workers ? (int)workers : pp_cpu_count());
    printf("ok %lu, corrupt %lu, crashed %lu, hung %lu, other %lu\n",
           (unsigned long)counts[K_OK], (unsigned long)counts[K_CORRUPT],
           (unsigned long)counts[K_CRASHED], (unsigned long)counts[K_HUNG],
           (unsigned long)counts[K_OTHER]);

    for (size_t i = 0; i < n; i++) {
        pp_future_release(items[i].f);
        free(names[i]);
    }
    free(names);
    free(items);
    free(fs);
    return rc;
}
