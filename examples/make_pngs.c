/*
 * make_pngs: the input of examples/thumbnails.c's test (ctest example_thumbnails), made at
 * test time so that no binary is committed, and the checks of its output.
 *
 *     make_pngs gen DIR N          writes into DIR (which must exist):
 *                                  - N valid PNGs "img-NN-WxH-RRGGBB.png" of various sizes
 *                                    (1x1 up to 900 pixels a side) and kinds (gray, gray+alpha,
 *                                    RGB, RGBA, palette, 16-bit), each one solid opaque color
 *                                    (the name says which);
 *                                  - 3 corrupt files: "bad-truncated.png" (a PNG cut in the
 *                                    middle of its image data), "bad-random.png" (random
 *                                    bytes), "bad-crc.png" (a PNG whose IDAT chunk has a
 *                                    wrong CRC);
 *                                  - the test hooks of thumbnails.c: "test-crash.png", a
 *                                    valid PNG with a tEXt chunk "procpool-test: crash";
 *                                    "test-hang.png" ("procpool-test: hang": waits until
 *                                    asked to stop) and "test-hang-hard.png" ("procpool-test:
 *                                    hang-hard": ignores the ask, so its worker is killed).
 *     make_pngs check IN OUT SIZE  for every "img-*.png" of IN: OUT has a thumbnail of the
 *                                  same name whose size is the input's (from its name) scaled
 *                                  to fit in SIZE x SIZE (thumbnails.c's rule, below) and
 *                                  whose every pixel is the input's color; exit status 0 if
 *                                  all are right.
 *     make_pngs procs EXE          Linux: waits up to 5 s for no process to run the program
 *                                  EXE (by /proc/PID/exe; a forkserver sees its program end
 *                                  within moments, not at once), then prints those that
 *                                  still do, exit status 1 if any; elsewhere prints that it
 *                                  cannot tell and exits 0.
 *
 * The size rule: an image that fits in SIZE x SIZE is kept as it is; otherwise its longer
 * side becomes SIZE and the other is scaled in proportion, rounded, at least 1.
 */
#if !defined(_WIN32)
#  define _XOPEN_SOURCE 700 /* realpath */
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
#else
#  include <dirent.h>
#  include <limits.h>
#  include <unistd.h>
#endif

#define NAME_MAX_LEN 1024

/* A small deterministic generator: the same files on every run. */
static uint32_t rng_state = 12345u;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) & 0xffffffu;
}

/* The size rule of thumbnails.c. */
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

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct spec {
    uint32_t w, h;
    int color_type;     /* PNG_COLOR_TYPE_* */
    int depth;          /* 8 or 16 (palette: 8) */
    unsigned char rgb[3];
    const char *text;   /* a tEXt "procpool-test" value, or NULL */
} spec;

static void on_png_error(png_structp png, png_const_charp msg)
{
    fprintf(stderr, "make_pngs: libpng: %s\n", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int channels_of(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1; /* palette: one index */
    }
}

/* The state of one write, in memory (not locals) so that longjmp clobbers nothing. */
typedef struct writer {
    FILE *fp;
    png_structp png;
    png_infop info;
    unsigned char *row;
} writer;

/* The libpng part of write_png(): after setjmp, so that no local lives across a longjmp. */
static int write_body(writer *wr, const spec *s)
{
    if (setjmp(png_jmpbuf(wr->png)))
        return 1;
    int ch = channels_of(s->color_type);
    size_t bpc = (size_t)s->depth / 8;
    wr->row = malloc((size_t)s->w * (size_t)ch * bpc);
    if (!wr->row)
        return 1;
    png_init_io(wr->png, wr->fp);
    png_set_IHDR(wr->png, wr->info, s->w, s->h, s->depth, s->color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[2] = {{0, 0, 0}, {s->rgb[0], s->rgb[1], s->rgb[2]}};
    if (s->color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(wr->png, wr->info, palette, 2);
    if (s->text) {
        png_text t;
        memset(&t, 0, sizeof t);
        t.compression = PNG_TEXT_COMPRESSION_NONE;
        t.key = (png_charp) "procpool-test";
        t.text = (png_charp)s->text;
        png_set_text(wr->png, wr->info, &t, 1);
    }
    png_write_info(wr->png, wr->info);
    /* One solid color: gray images use rgb[0], alpha is opaque. */
    for (uint32_t x = 0; x < s->w; x++) {
        unsigned char px[4];
        switch (s->color_type) {
        case PNG_COLOR_TYPE_GRAY: px[0] = s->rgb[0]; break;
        case PNG_COLOR_TYPE_GRAY_ALPHA: px[0] = s->rgb[0]; px[1] = 255; break;
        case PNG_COLOR_TYPE_RGB: memcpy(px, s->rgb, 3); break;
        case PNG_COLOR_TYPE_RGB_ALPHA: memcpy(px, s->rgb, 3); px[3] = 255; break;
        default: px[0] = 1; break; /* palette index 1 */
        }
        for (int c = 0; c < ch; c++) {
            unsigned char *p = wr->row + ((size_t)x * (size_t)ch + (size_t)c) * bpc;
            p[0] = px[c];
            if (bpc == 2)
                p[1] = px[c]; /* 16-bit: v * 257, big-endian */
        }
    }
    for (uint32_t y = 0; y < s->h; y++)
        png_write_row(wr->png, wr->row);
    png_write_end(wr->png, NULL);
    return 0;
}

static int write_png(const char *path, const spec *s)
{
    writer *wr = calloc(1, sizeof *wr);
    if (!wr)
        return 1;
    int rc = 1;
    wr->fp = fopen(path, "wb");
    if (!wr->fp)
        perror(path);
    else if ((wr->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, on_png_error,
                                                on_png_warning)) != NULL &&
             (wr->info = png_create_info_struct(wr->png)) != NULL)
        rc = write_body(wr, s);
    if (wr->png)
        png_destroy_write_struct(&wr->png, wr->info ? &wr->info : NULL);
    if (wr->fp && fclose(wr->fp) != 0)
        rc = 1;
    free(wr->row);
    free(wr);
    return rc;
}

static int read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *data = n > 0 ? malloc((size_t)n) : NULL;
    if (!*data || fread(*data, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(*data);
        return 1;
    }
    fclose(fp);
    *len = (size_t)n;
    return 0;
}

static int write_bytes(const char *path, const unsigned char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, len, fp) != len) {
        if (fp)
            fclose(fp);
        return 1;
    }
    return fclose(fp) != 0;
}

/* The offset of the first IDAT chunk's CRC (after its data), 0 if none. */
static size_t idat_crc_offset(const unsigned char *d, size_t len)
{
    size_t off = 8;
    while (off + 12 <= len) {
        uint32_t n = (uint32_t)d[off] << 24 | (uint32_t)d[off + 1] << 16 |
                     (uint32_t)d[off + 2] << 8 | d[off + 3];
        if (memcmp(d + off + 4, "IDAT", 4) == 0)
            return off + 8 + n <= len - 4 ? off + 8 + n : 0;
        off += 12 + (size_t)n;
    }
    return 0;
}

static int gen(const char *dir, int n)
{
    static const int kinds[][2] = {
        {PNG_COLOR_TYPE_RGB, 8},        {PNG_COLOR_TYPE_RGB_ALPHA, 8},
        {PNG_COLOR_TYPE_GRAY, 8},       {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
        {PNG_COLOR_TYPE_PALETTE, 8},    {PNG_COLOR_TYPE_RGB, 16},
        {PNG_COLOR_TYPE_GRAY, 16},      {PNG_COLOR_TYPE_RGB_ALPHA, 16},
    };
    char path[NAME_MAX_LEN];
    for (int i = 0; i < n; i++) {
        spec s;
        memset(&s, 0, sizeof s);
        /* A few edge sizes first, then random ones up to 900 a side. */
        static const uint32_t edges[][2] = {{1, 1}, {1, 300}, {900, 1}, {64, 64}, {65, 64}};
        if (i < 5) {
            s.w = edges[i][0];
            s.h = edges[i][1];
        } else {
            s.w = 1 + rng() % 900;
            s.h = 1 + rng() % 900;
        }
        s.color_type = kinds[i % 8][0];
        s.depth = kinds[i % 8][1];
        s.rgb[0] = (unsigned char)rng();
        s.rgb[1] = (unsigned char)rng();
        s.rgb[2] = (unsigned char)rng();
        bool gray = !(s.color_type & PNG_COLOR_MASK_COLOR);
        if (gray)
            s.rgb[1] = s.rgb[2] = s.rgb[0];
        char name[64];
        snprintf(name, sizeof name, "img-%02d-%ux%u-%02x%02x%02x.png", i, (unsigned)s.w,
                 (unsigned)s.h, s.rgb[0], s.rgb[1], s.rgb[2]);
        join(path, sizeof path, dir, name);
        if (write_png(path, &s) != 0)
            return 1;
    }

    /* The test hooks: valid PNGs whose tEXt chunk tells thumbnails.c's task to misbehave. */
    static const char *const hooks[][2] = {{"test-crash.png", "crash"},
                                           {"test-hang.png", "hang"},
                                           {"test-hang-hard.png", "hang-hard"}};
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
        spec s = {200, 100, PNG_COLOR_TYPE_RGB, 8, {10, 20, 30}, hooks[i][1]};
        join(path, sizeof path, dir, hooks[i][0]);
        if (write_png(path, &s) != 0)
            return 1;
    }

    /* The corrupt files, from a valid PNG made in memory (well, on disk, then read back). */
    spec s = {300, 200, PNG_COLOR_TYPE_RGB, 8, {200, 100, 50}, NULL};
    join(path, sizeof path, dir, "bad-crc.png");
    unsigned char *d;
    size_t len;
    if (write_png(path, &s) != 0 || read_file(path, &d, &len) != 0)
        return 1;
    size_t crc = idat_crc_offset(d, len);
    if (crc < 40) {
        fprintf(stderr, "make_pngs: no IDAT in %s\n", path);
        free(d);
        return 1;
    }
    d[crc] ^= 0x55; /* the data is intact, its CRC is wrong: libpng says "IDAT: CRC error" */
    int rc = write_bytes(path, d, len);
    d[crc] ^= 0x55;
    join(path, sizeof path, dir, "bad-truncated.png");
    rc |= write_bytes(path, d, crc - 10); /* cut inside the image data */
    free(d);
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)rng();
    join(path, sizeof path, dir, "bad-random.png");
    rc |= write_bytes(path, noise, sizeof noise);
    if (rc == 0)
        printf("make_pngs: %d valid PNGs, 3 corrupt files, 3 test hooks in %s\n", n, dir);
    return rc;
}

/* ---- checking --------------------------------------------------------------------------- */

/* Reads @p path as 8-bit RGBA (libpng's simplified API). Returns NULL on failure. */
static unsigned char *load_rgba(const char *path, uint32_t *w, uint32_t *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "make_pngs: %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGBA;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        fprintf(stderr, "make_pngs: %s: %s\n", path, px ? img.message : "out of memory");
        free(px);
        png_image_free(&img);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return px;
}

static bool close_to(unsigned a, unsigned b)
{
    return a + 1 >= b && b + 1 >= a;
}

static int check_one(const char *out, const char *name, uint32_t size)
{
    /* The input's size and color are in its name: nothing here depends on a PNG decoder's
     * conversions (16-bit, gray, palette), only the thumbnail (8-bit RGBA) is read. */
    unsigned w, h, r, g, b;
    if (sscanf(name, "img-%*d-%ux%u-%2x%2x%2x.png", &w, &h, &r, &g, &b) != 5) {
        fprintf(stderr, "make_pngs: %s: not a name made by make_pngs gen\n", name);
        return 1;
    }
    const unsigned want[4] = {r, g, b, 255};
    char op[NAME_MAX_LEN];
    join(op, sizeof op, out, name);
    uint32_t tw, th, ow, oh;
    unsigned char *dst = load_rgba(op, &ow, &oh);
    if (!dst) {
        fprintf(stderr, "make_pngs: %s: no thumbnail\n", name);
        return 1;
    }
    int rc = 1;
    fit(w, h, size, &tw, &th);
    if (ow != tw || oh != th) {
        fprintf(stderr, "make_pngs: %s: %ux%u: thumbnail %ux%u, expected %ux%u\n", name, w, h,
                (unsigned)ow, (unsigned)oh, (unsigned)tw, (unsigned)th);
        goto out;
    }
    for (size_t i = 0; i < (size_t)ow * oh; i++) {
        for (int c = 0; c < 4; c++) {
            if (!close_to(dst[i * 4 + (size_t)c], want[c])) {
                fprintf(stderr, "make_pngs: %s: thumbnail pixel %lu channel %d is %u, the "
                        "image's color %u\n", name, (unsigned long)i, c,
                        dst[i * 4 + (size_t)c], want[c]);
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(dst);
    return rc;
}

#if defined(_WIN32)
static int check(const char *in, const char *out, uint32_t size)
{
    char pat[NAME_MAX_LEN];
    join(pat, sizeof pat, in, "img-*.png");
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    int n = 0, bad = 0;
    if (h != INVALID_HANDLE_VALUE) {
        do {
            n++;
            bad += check_one(out, fd.cFileName, size);
        } while (FindNextFileA(h, &fd));
        FindClose(h);
    }
#else
static int check(const char *in, const char *out, uint32_t size)
{
    DIR *d = opendir(in);
    if (!d) {
        perror(in);
        return 1;
    }
    int n = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "img-", 4) != 0 || len < 8 ||
            strcmp(e->d_name + len - 4, ".png") != 0)
            continue;
        n++;
        bad += check_one(out, e->d_name, size);
    }
    closedir(d);
#endif
    printf("make_pngs: %d thumbnails checked, %d wrong\n", n, bad);
    return n == 0 || bad != 0;
}

#if defined(__linux__)
/* The processes that run @p want (a real path), printed if @p print; -1 on error. */
static int count_procs(const char *want, bool print)
{
    DIR *d = opendir("/proc");
    if (!d) {
        perror("/proc");
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char link[300], got[PATH_MAX];
        snprintf(link, sizeof link, "/proc/%s/exe", e->d_name);
        ssize_t len = readlink(link, got, sizeof got - 1);
        if (len <= 0)
            continue; /* gone, a kernel thread, or not ours to see */
        got[len] = '\0';
        if (strcmp(got, want) == 0) {
            if (print)
                printf("make_pngs: process %s runs %s\n", e->d_name, want);
            n++;
        }
    }
    closedir(d);
    return n;
}
#endif

static int procs(const char *exe)
{
#if defined(__linux__)
    char want[PATH_MAX];
    if (!realpath(exe, want)) {
        perror(exe);
        return 1;
    }
    int n = count_procs(want, false);
    for (int i = 0; i < 100 && n > 0; i++) { /* 100 x 50 ms */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        n = count_procs(want, false);
    }
    if (n != 0)
        n = count_procs(want, true);
    printf("make_pngs: %d processes run %s\n", n, want);
    return n != 0;
#else
    printf("make_pngs: cannot list the processes that run %s here: not checked\n", exe);
    return 0;
#endif
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], atoi(argv[3]));
    if (argc == 5 && strcmp(argv[1], "check") == 0)
        return check(argv[2], argv[3], (uint32_t)atoi(argv[4]));
    if (argc == 3 && strcmp(argv[1], "procs") == 0)
        return procs(argv[2]);
    fprintf(stderr, "usage: make_pngs gen DIR N | check IN OUT SIZE | procs EXE\n");
    return 2;
}
