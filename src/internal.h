/* internal.h -- shared by the files of libcrease; not installed. */
#ifndef CREASE_INTERNAL_H
#define CREASE_INTERNAL_H

#include "crease.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define CREASE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CREASE_HIDDEN __attribute__((visibility("hidden")))
#else
#define CREASE_PRINTF(a, b)
#define CREASE_HIDDEN
#endif

/* ---- errors (error.c) ---- */
/* Sets the thread's last-error detail and returns status. */
int crease__error(int status, const char *fmt, ...) CREASE_PRINTF(2, 3);
int crease__verror(int status, const char *fmt, va_list ap);
void crease__clear_error(void);
/* Log line on stderr if $CREASE_LOG allows level (0 error .. 3 debug). */
void crease__log(int level, const char *fmt, ...) CREASE_PRINTF(2, 3);
extern const struct crease_host crease__host;

/* ---- plugins (loader.c) ---- */
struct crease_loaded_plugin {
    const struct crease_plugin *p;
    void *handle;
    char *path;
};
/* Loaded plugin i (after crease_plugins_load), or NULL. */
const struct crease_loaded_plugin *crease__plugin(int i);
/* Unloads every plugin so a test can load again under another environment;
 * default_dirs 0 leaves out the installed and build-tree directories.
 * Every device must have been freed. Tests only. */
void crease__plugins_reset(int default_dirs);
/* Loaded plugin by backend name, or NULL. */
const struct crease_loaded_plugin *crease__plugin_by_name(const char *name);

/* Ops slot present in a table that may be older (shorter) than ours. */
#define CREASE_HAS_OP(ops, slot)                                              \
    ((ops)->size >= offsetof(struct crease_ops, slot) + sizeof((ops)->slot) && \
     (ops)->slot != NULL)

/* ---- devices (device.c) ---- */
struct crease_device {
    const struct crease_loaded_plugin *lp;
    const struct crease_ops *ops;
    crease_ctx *ctx;
    int index;
    char name[64]; /* "cpu:0" */
};

/* ---- tensors (tensor.c) ---- */
struct crease_tensor {
    crease_device *dev;
    crease_buf *buf;
    int ndim;
    int64_t shape[CREASE_MAX_DIMS];
    size_t numel;
};

/* ---- datasets (data.c) ---- */
struct crease_dataset {
    size_t n;
    int dim;
    int classes;
    float *x;    /* n * dim */
    int *labels; /* n */
};

/* ---- RNG (rng.c): splitmix64-seeded xoshiro256**, reproducible on every
 * platform. ---- */
typedef struct crease_rng {
    uint64_t s[4];
} crease_rng;
void crease__rng_seed(crease_rng *r, uint64_t seed);
uint64_t crease__rng_u64(crease_rng *r);
double crease__rng_uniform(crease_rng *r);             /* [0, 1) */
double crease__rng_normal(crease_rng *r);              /* N(0, 1) */
uint64_t crease__rng_below(crease_rng *r, uint64_t n); /* [0, n), unbiased */

/* ---- misc (util.c) ---- */
/* Writes len bytes to path via path.tmp.XXXXXX + fsync + rename. */
int crease__write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file; *out malloc'd (NUL-terminated, not counted). */
int crease__read_file(const char *path, unsigned char **out, size_t *len);
double crease__now(void); /* monotonic seconds */

/* ---- PNG (png_io.c) ---- */
/* The build embeds data/baarle-labels.png (src/baarle_png.c). */
extern const unsigned char crease__baarle_png[];
extern const size_t crease__baarle_png_len;
enum { CREASE__PNG_GREY = 1, CREASE__PNG_RGBA = 4 };
/* Decodes the PNG in buf[0..len) (called `name` in errors) to 8-bit
 * pixels, row-major, *img malloc'd: CREASE__PNG_GREY gives w * h grey
 * bytes (16 bits keep the high byte, alpha is dropped, a colour image is
 * refused unless every pixel is grey, so a colour map cannot pass for a
 * label mask); CREASE__PNG_RGBA gives w * h * 4 bytes of any PNG. */
int crease__png_decode(const char *name, const unsigned char *buf, size_t len, int fmt,
                       unsigned char **img, uint32_t *w, uint32_t *h);
/* The same for the file at path. */
int crease__png_read(const char *path, int fmt, unsigned char **img, uint32_t *w, uint32_t *h);
/* Encodes w x h RGB pixels (3 bytes each, row-major) as a PNG with a Title
 * text chunk and writes it to path with crease__write_file_atomic. */
int crease__png_write_rgb(const char *path, const unsigned char *px, int w, int h,
                          const char *title);

#endif
