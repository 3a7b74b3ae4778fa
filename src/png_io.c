/* png_io.c -- every use of libpng in the library: decoding a PNG (in
 * memory or in a file) to 8-bit grey or RGBA pixels, and encoding an RGB
 * image into memory that is then written atomically.  libpng never prints
 * or aborts here: its errors are kept and returned as crease statuses with
 * the thread's last-error detail. */
#include "config.h"

#include "internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest side accepted, checked before the image is allocated: either
 * way at most 256 MiB of pixels. */
#define MAX_SIDE_GREY 16384
#define MAX_SIDE_RGBA 8192

struct png_err {
    char msg[200];
};

/* libpng must not print or abort: keep the message and jump back. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    crease__log(3, "libpng: %s", msg);
}

/* ------------------------------------------------------------- decoding */

struct png_src {
    const unsigned char *p;
    size_t len, pos;
};

static void src_read(png_structp png, png_bytep out, size_t n)
{
    struct png_src *m = png_get_io_ptr(png);
    if (n > m->len - m->pos)
        png_error(png, "unexpected end of file (truncated PNG)");
    memcpy(out, m->p + m->pos, n);
    m->pos += n;
}

/* The transformations from any colour type and depth to 8-bit grey (a
 * colour pixel that is not grey is an error) or 8-bit RGBA. */
static void set_transforms(png_structp png, png_infop info, int fmt)
{
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (fmt == CREASE__PNG_GREY) {
        if (depth == 16)
            png_set_strip_16(png);
        if ((ctype & PNG_COLOR_MASK_ALPHA) || trns)
            png_set_strip_alpha(png);
        if (ctype & PNG_COLOR_MASK_COLOR)
            png_set_rgb_to_gray(png, PNG_ERROR_ACTION_ERROR, -1, -1);
    } else {
        if (trns)
            png_set_tRNS_to_alpha(png);
        if (depth == 16)
            png_set_strip_16(png);
        if (!(ctype & PNG_COLOR_MASK_COLOR))
            png_set_gray_to_rgb(png);
        if (!(ctype & PNG_COLOR_MASK_ALPHA) && !trns)
            png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    }
    png_set_interlace_handling(png);
}

int crease__png_decode(const char *name, const unsigned char *buf, size_t len, int fmt,
                       unsigned char **img_out, uint32_t *w_out, uint32_t *h_out)
{
    const int channels = fmt == CREASE__PNG_GREY ? 1 : 4;
    const png_uint_32 max_side = fmt == CREASE__PNG_GREY ? MAX_SIDE_GREY : MAX_SIDE_RGBA;
    struct png_src src = {buf, len, 0};
    struct png_err err;
    unsigned char *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    png_structp png;
    png_infop info;

    *img_out = NULL;
    memset(&err, 0, sizeof err);
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return crease__error(CREASE_EFORMAT, "%s: not a PNG file", name);
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
    if (!png)
        return crease__error(CREASE_ENOMEM, "%s: cannot create a libpng reader", name);
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return crease__error(CREASE_ENOMEM, "%s: cannot create a libpng reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(img);
        free(rows);
        /* Grey output is what label masks are read as: say why a colour
         * image is refused. */
        return crease__error(CREASE_EFORMAT, "%s: bad PNG: %s%s", name, err.msg,
                             strstr(err.msg, "nongray")
                                 ? " (a colour image; a label mask must be grey: "
                                   "255 Belgium, 0 Netherlands, other values unlabelled)"
                                 : "");
    }
    png_set_read_fn(png, &src, src_read);
    png_set_user_limits(png, max_side, max_side);
    png_read_info(png, info);
    set_transforms(png, info, fmt);
    png_read_update_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (png_get_channels(png, info) != channels || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * (size_t)channels)
        png_error(png, fmt == CREASE__PNG_GREY ? "cannot convert this PNG to 8-bit grey"
                                               : "cannot convert this PNG to 8-bit RGBA");

    img = malloc((size_t)w * h * (size_t)channels);
    rows = malloc((size_t)h * sizeof *rows);
    if (!img || !rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(img);
        free(rows);
        return crease__error(CREASE_ENOMEM, "%s: no memory for a %ux%u image", name,
                             (unsigned)w, (unsigned)h);
    }
    for (png_uint_32 r = 0; r < h; r++)
        rows[r] = img + (size_t)r * w * (size_t)channels;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *img_out = img;
    *w_out = w;
    *h_out = h;
    return CREASE_OK;
}

int crease__png_read(const char *path, int fmt, unsigned char **img, uint32_t *w, uint32_t *h)
{
    unsigned char *file = NULL;
    size_t len = 0;
    *img = NULL;
    int st = crease__read_file(path, &file, &len);
    if (!st)
        st = crease__png_decode(path, file, len, fmt, img, w, h);
    free(file);
    return st;
}

/* ------------------------------------------------------------- encoding */

struct png_dst {
    unsigned char *p;
    size_t len, cap;
};

static void dst_write(png_structp png, png_bytep data, size_t n)
{
    struct png_dst *b = png_get_io_ptr(png);
    if (n > b->cap - b->len) {
        size_t nc = b->cap ? b->cap : 65536;
        while (nc - b->len < n)
            nc *= 2;
        unsigned char *q = realloc(b->p, nc);
        if (!q)
            png_error(png, "out of memory");
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void dst_flush(png_structp png)
{
    (void)png;
}

int crease__png_write_rgb(const char *path, const unsigned char *px, int w, int h,
                          const char *title)
{
    struct png_err err;
    struct png_dst mb = {NULL, 0, 0};
    memset(&err, 0, sizeof err);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error,
                                              on_png_warning);
    if (!png)
        return crease__error(CREASE_ENOMEM, "%s: cannot create a libpng writer", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return crease__error(CREASE_ENOMEM, "%s: cannot create a libpng writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(mb.p);
        return crease__error(CREASE_ENOMEM, "%s: PNG encoding failed: %s", path, err.msg);
    }
    png_set_write_fn(png, &mb, dst_write, dst_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    char software[64];
    snprintf(software, sizeof software, "crease %s", crease_version());
    png_text txt[2];
    memset(txt, 0, sizeof txt);
    txt[0].compression = PNG_TEXT_COMPRESSION_NONE;
    txt[0].key = (png_charp) "Software";
    txt[0].text = software;
    txt[1].compression = PNG_TEXT_COMPRESSION_NONE;
    txt[1].key = (png_charp) "Title";
    txt[1].text = (png_charp)(title ? title : "");
    png_set_text(png, info, txt, 2);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, px + (size_t)y * (size_t)w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    int st = crease__write_file_atomic(path, mb.p, mb.len);
    free(mb.p);
    return st;
}
