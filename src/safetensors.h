/* safetensors.h -- reading and writing safetensors files of float32 tensors
 * (internal to libcrease; not installed).
 *
 * File layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name":{"dtype":"F32","shape":[d0,..],"data_offsets":[begin,end]}, ...,
 *    "__metadata__":{"key":"value", ...}}
 * padded with spaces, then the data section.  Offsets are relative to the
 * start of the data section, little-endian, C order.
 *
 * Reading is strict: any malformed, inconsistent or hostile input gives
 * CREASE_EFORMAT with the file name and what is wrong (never a crash or an
 * out-of-bounds read).  F32 is read as is; F16, BF16 and F64 are converted
 * to float32; every other dtype is refused ("unsupported dtype I64").
 * Writing emits F32 only. */
#ifndef CREASE_SAFETENSORS_H
#define CREASE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define CREASE_ST_MAX_DIMS 8
/* Header lengths above this are refused as absurd. */
#define CREASE_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

typedef struct crease_st_tensor {
    const char *name;  /* UTF-8, no NUL inside, not "__metadata__" */
    int ndim;          /* 0 (a scalar) .. CREASE_ST_MAX_DIMS */
    int64_t shape[CREASE_ST_MAX_DIMS];
    size_t numel;      /* product of shape (1 for a scalar) */
    const float *data; /* numel floats */
    /* Reading: dtype stored in the file ("F32", "F16", "BF16", "F64"),
     * static.  Ignored by crease__st_write, which always writes "F32". */
    const char *dtype;
} crease_st_tensor;

typedef struct crease_st_file crease_st_file;

/* Reads and validates a whole file.  *out is owned (crease__st_free).
 * Errors: CREASE_EIO (cannot read), CREASE_EFORMAT (bad contents),
 * CREASE_ENOMEM, CREASE_EINVAL (NULL arguments). */
int crease__st_read(const char *path, crease_st_file **out);
/* Same from memory; `name` is used in error messages only.  The buffer is
 * not kept: tensors and strings are copied into *out. */
int crease__st_parse(const char *name, const unsigned char *buf, size_t len,
                     crease_st_file **out);
void crease__st_free(crease_st_file *f);

/* Tensors in the order of the file's header.  Borrowed, valid as long as
 * f.  crease__st_get returns NULL when i is out of range. */
int crease__st_count(const crease_st_file *f);
const crease_st_tensor *crease__st_get(const crease_st_file *f, int i);
/* Tensor by name, or NULL. */
const crease_st_tensor *crease__st_find(const crease_st_file *f,
                                        const char *name);

/* __metadata__ entries in header order; value for key, or NULL.  Borrowed,
 * valid as long as f. */
int crease__st_meta_count(const crease_st_file *f);
int crease__st_meta_get(const crease_st_file *f, int i, const char **key,
                        const char **value);
const char *crease__st_meta(const crease_st_file *f, const char *key);

/* Writes n tensors as F32 plus n_meta metadata pairs (meta_kv holds
 * 2 * n_meta strings: key0, value0, key1, value1, ...; may be NULL when
 * n_meta is 0).  Tensors go to the header and the data section in the
 * order given, metadata last, so equal input gives byte-identical files.
 * Each tensor's numel must equal the product of its shape.  Names and keys
 * must be unique and valid UTF-8.  The file is written atomically (temp
 * file + rename).  Errors: CREASE_EINVAL (bad arguments), CREASE_EIO,
 * CREASE_ENOMEM. */
int crease__st_write(const char *path, const crease_st_tensor *t, int n,
                     const char *const *meta_kv, int n_meta);
/* Same into memory: *out (malloc'd, owned) gets *len bytes. */
int crease__st_serialize(const crease_st_tensor *t, int n,
                         const char *const *meta_kv, int n_meta,
                         unsigned char **out, size_t *len);

#endif
