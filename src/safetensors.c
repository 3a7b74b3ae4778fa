/* safetensors.c -- strict reader and deterministic writer of safetensors
 * files (see safetensors.h).
 *
 * The JSON header is parsed by a small schema-driven parser: the layout is
 * fixed (an object of tensor-info objects plus an optional string map), so
 * nesting is at most three levels and nothing recurses.  Everything read is
 * bounded by the header length, which is itself bounded. */
#include "config.h"

#include "safetensors.h"

#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_KEY "__metadata__"

struct st_entry {
    crease_st_tensor pub;
    char *name;
    float *data;
    uint64_t begin, end; /* data_offsets, relative to the data section */
};

struct crease_st_file {
    struct st_entry *t;
    int n, cap;
    char **meta; /* key0, value0, key1, value1, ... */
    int n_meta, meta_cap;
};

/* ------------------------------------------------------------- helpers */

/* Length of the valid UTF-8 sequence at p (at most n bytes available), or
 * 0 if it is malformed (overlong forms, surrogates, > U+10FFFF refused). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        size_t k = utf8_seq(p, n);
        if (k == 0)
            return 0;
        p += k;
        n -= k;
    }
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* IEEE binary16 -> binary32 bits, exact (every half is a float).  Bits,
 * not floats, so that NaN payloads survive on every ABI. */
static uint32_t half_to_bits(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* inf / NaN, payload kept */
        return sign | 0x7f800000u | man << 13;
    if (exp == 0) {
        if (man == 0)
            return sign;
        /* subnormal half: normalise into a float */
        exp = 127 - 15 + 1;
        while (!(man & 0x400)) {
            man <<= 1;
            exp--;
        }
        man &= 0x3ff;
        return sign | exp << 23 | man << 13;
    }
    return sign | (exp + 127 - 15) << 23 | man << 13;
}

/* ---------------------------------------------------------- file object */

void crease__st_free(crease_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    for (int i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->meta);
    free(f);
}

int crease__st_count(const crease_st_file *f)
{
    return f ? f->n : 0;
}

const crease_st_tensor *crease__st_get(const crease_st_file *f, int i)
{
    if (!f || i < 0 || i >= f->n)
        return NULL;
    return &f->t[i].pub;
}

const crease_st_tensor *crease__st_find(const crease_st_file *f,
                                        const char *name)
{
    if (!f || !name)
        return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i].pub;
    return NULL;
}

int crease__st_meta_count(const crease_st_file *f)
{
    return f ? f->n_meta : 0;
}

int crease__st_meta_get(const crease_st_file *f, int i, const char **key,
                        const char **value)
{
    if (!f || i < 0 || i >= f->n_meta)
        return crease__error(CREASE_EINVAL, "safetensors metadata index %d out of range", i);
    if (key)
        *key = f->meta[2 * i];
    if (value)
        *value = f->meta[2 * i + 1];
    return CREASE_OK;
}

const char *crease__st_meta(const crease_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

/* ---------------------------------------------------------- JSON parser */

typedef struct jp {
    const unsigned char *s;
    size_t len, pos;
    const char *ctx; /* tensor being parsed, for messages */
    int oom;
    char msg[320];
} jp;

static int jfail(jp *j, const char *fmt, ...) CREASE_PRINTF(2, 3);
static int jfail(jp *j, const char *fmt, ...)
{
    if (j->msg[0] == '\0') {
        char tmp[240];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        if (j->ctx)
            snprintf(j->msg, sizeof j->msg, "tensor \"%.64s\": %s", j->ctx, tmp);
        else
            snprintf(j->msg, sizeof j->msg, "%s", tmp);
    }
    return -1;
}

static int joom(jp *j)
{
    j->oom = 1;
    return jfail(j, "out of memory");
}

static void jws(jp *j)
{
    while (j->pos < j->len) {
        unsigned char c = j->s[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

/* Describes what is at the cursor, for "expected X, found Y" messages. */
static const char *jfound(const jp *j, char *buf, size_t n)
{
    if (j->pos >= j->len)
        return "end of header";
    unsigned char c = j->s[j->pos];
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static int jexpect(jp *j, char c, const char *what)
{
    jws(j);
    if (j->pos < j->len && j->s[j->pos] == (unsigned char)c) {
        j->pos++;
        return 0;
    }
    char b[16];
    return jfail(j, "expected %s at byte %zu, found %s", what, j->pos,
                 jfound(j, b, sizeof b));
}

/* Peeks at the next non-blank byte (-1 at the end). */
static int jpeek(jp *j)
{
    jws(j);
    return j->pos < j->len ? j->s[j->pos] : -1;
}

/* After an item of an array or object: 1 past a ',' (another item
 * follows), 0 past `close`, -1 (failed, `what` expected) otherwise. */
static int jnext(jp *j, char close, const char *what)
{
    if (jpeek(j) == ',') {
        j->pos++;
        return 1;
    }
    return jexpect(j, close, what) < 0 ? -1 : 0;
}

static int jhex4(jp *j, size_t at, uint32_t *out)
{
    uint32_t v = 0;
    if (j->len - at < 4)
        return jfail(j, "truncated \\u escape at byte %zu", at);
    for (int i = 0; i < 4; i++) {
        unsigned c = j->s[at + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return jfail(j, "bad hex digit in \\u escape at byte %zu", at);
    }
    *out = v;
    return 0;
}

/* A JSON string into a malloc'd NUL-terminated UTF-8 string. */
static int jstring(jp *j, char **out)
{
    *out = NULL;
    if (jexpect(j, '"', "a string") < 0)
        return -1;
    size_t start = j->pos, end = start;
    /* find the closing quote first: it bounds the decoded length */
    while (end < j->len && j->s[end] != '"') {
        if (j->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= j->len)
        return jfail(j, "unterminated string starting at byte %zu", start - 1);
    char *o = malloc(end - start + 1);
    if (!o)
        return joom(j);
    size_t k = 0, p = start;
    while (p < end) {
        unsigned char c = j->s[p];
        if (c < 0x20) {
            free(o);
            return jfail(j, "unescaped control character 0x%02x in string at byte %zu", c, p);
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(j->s + p, end - p);
            if (n == 0) {
                free(o);
                return jfail(j, "invalid UTF-8 in string at byte %zu", p);
            }
            memcpy(o + k, j->s + p, n);
            k += n;
            p += n;
            continue;
        }
        if (c != '\\') {
            o[k++] = (char)c;
            p++;
            continue;
        }
        unsigned char e = j->s[p + 1]; /* p + 1 < end: the scan skipped it */
        uint32_t cp;
        switch (e) {
        case '"': o[k++] = '"'; p += 2; continue;
        case '\\': o[k++] = '\\'; p += 2; continue;
        case '/': o[k++] = '/'; p += 2; continue;
        case 'b': o[k++] = '\b'; p += 2; continue;
        case 'f': o[k++] = '\f'; p += 2; continue;
        case 'n': o[k++] = '\n'; p += 2; continue;
        case 'r': o[k++] = '\r'; p += 2; continue;
        case 't': o[k++] = '\t'; p += 2; continue;
        case 'u':
            if (p + 6 > end || jhex4(j, p + 2, &cp) < 0) {
                free(o);
                return jfail(j, "truncated \\u escape at byte %zu", p);
            }
            p += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(o);
                return jfail(j, "unpaired surrogate \\u%04X at byte %zu", (unsigned)cp, p - 6);
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (p + 6 > end || j->s[p] != '\\' || j->s[p + 1] != 'u' ||
                    jhex4(j, p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                    free(o);
                    return jfail(j, "unpaired surrogate \\u%04X at byte %zu", (unsigned)cp, p - 6);
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            if (cp == 0) {
                free(o);
                return jfail(j, "\\u0000 in string at byte %zu is not allowed", p - 6);
            }
            k += put_utf8(o + k, cp);
            continue;
        default:
            free(o);
            return jfail(j, "invalid escape '\\%c' at byte %zu",
                         e >= 0x20 && e < 0x7f ? e : '?', p);
        }
    }
    o[k] = '\0';
    j->pos = end + 1;
    *out = o;
    return 0;
}

/* A non-negative JSON integer below 2^63 (what: for messages). */
static int juint(jp *j, uint64_t *out, const char *what)
{
    jws(j);
    size_t at = j->pos;
    int neg = 0;
    if (at < j->len && j->s[at] == '-') {
        neg = 1;
        j->pos++;
    }
    if (j->pos >= j->len || j->s[j->pos] < '0' || j->s[j->pos] > '9') {
        char b[16];
        j->pos = at;
        return jfail(j, "expected an integer in %s at byte %zu, found %s", what, at,
                     jfound(j, b, sizeof b));
    }
    if (j->s[j->pos] == '0' && j->pos + 1 < j->len && j->s[j->pos + 1] >= '0' &&
        j->s[j->pos + 1] <= '9')
        return jfail(j, "number with a leading zero in %s at byte %zu", what, at);
    uint64_t v = 0;
    int big = 0;
    while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        unsigned d = j->s[j->pos] - '0';
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            big = 1;
        else
            v = v * 10 + d;
        j->pos++;
    }
    if (j->pos < j->len &&
        (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
        return jfail(j, "non-integer number in %s at byte %zu", what, at);
    if (neg)
        return jfail(j, "negative value in %s at byte %zu", what, at);
    if (big)
        return jfail(j, "integer too large in %s at byte %zu", what, at);
    *out = v;
    return 0;
}

/* [d0, d1, ...] with at most CREASE_ST_MAX_DIMS entries. */
static int jshape(jp *j, int64_t *shape, int *ndim)
{
    *ndim = 0;
    if (jexpect(j, '[', "'[' (shape)") < 0)
        return -1;
    if (jpeek(j) == ']') {
        j->pos++;
        return 0;
    }
    for (;;) {
        uint64_t v;
        if (*ndim == CREASE_ST_MAX_DIMS)
            return jfail(j, "too many dimensions in shape (at most %d)", CREASE_ST_MAX_DIMS);
        if (juint(j, &v, "shape") < 0)
            return -1;
        shape[(*ndim)++] = (int64_t)v;
        int more = jnext(j, ']', "',' or ']' in shape");
        if (more <= 0)
            return more;
    }
}

static int joffsets(jp *j, uint64_t *begin, uint64_t *end)
{
    if (jexpect(j, '[', "'[' (data_offsets)") < 0 || juint(j, begin, "data_offsets") < 0)
        return -1;
    if (jpeek(j) != ',')
        return jfail(j, "data_offsets must have exactly 2 entries");
    j->pos++;
    if (juint(j, end, "data_offsets") < 0)
        return -1;
    if (jpeek(j) != ']')
        return jfail(j, "data_offsets must have exactly 2 entries");
    j->pos++;
    return 0;
}

/* Element size of a dtype we convert, 0 if known but unsupported, -1 if
 * unknown. */
static int dtype_size(const char *d, const char **canon)
{
    static const char *const ok[] = {"F32", "F16", "BF16", "F64"};
    static const int sz[] = {4, 2, 2, 8};
    static const char *const other[] = {
        "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
        "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(d, ok[i]) == 0) {
            *canon = ok[i];
            return sz[i];
        }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (strcmp(d, other[i]) == 0)
            return 0;
    return -1;
}

/* {"dtype":..., "shape":[...], "data_offsets":[b,e]} into e. */
static int jtensor(jp *j, struct st_entry *e)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (jexpect(j, '{', "'{' (tensor info)") < 0)
        return -1;
    if (jpeek(j) == '}')
        return jfail(j, "empty tensor info (needs dtype, shape, data_offsets)");
    for (;;) {
        char *key;
        if (jstring(j, &key) < 0 || jexpect(j, ':', "':'") < 0) {
            free(key);
            return -1;
        }
        if (strcmp(key, "dtype") == 0) {
            char *d = NULL;
            free(key);
            if (have_dtype++)
                return jfail(j, "duplicate key \"dtype\"");
            if (jstring(j, &d) < 0)
                return -1;
            int sz = dtype_size(d, &e->pub.dtype);
            if (sz <= 0) {
                if (sz == 0)
                    jfail(j, "unsupported dtype %.32s (crease reads F32, F16, BF16, F64)", d);
                else
                    jfail(j, "unknown dtype \"%.32s\"", d);
                free(d);
                return -1;
            }
            free(d);
        } else if (strcmp(key, "shape") == 0) {
            free(key);
            if (have_shape++)
                return jfail(j, "duplicate key \"shape\"");
            if (jshape(j, e->pub.shape, &e->pub.ndim) < 0)
                return -1;
        } else if (strcmp(key, "data_offsets") == 0) {
            free(key);
            if (have_off++)
                return jfail(j, "duplicate key \"data_offsets\"");
            if (joffsets(j, &e->begin, &e->end) < 0)
                return -1;
        } else {
            jfail(j, "unknown key \"%.32s\" in tensor info", key);
            free(key);
            return -1;
        }
        int more = jnext(j, '}', "',' or '}' in tensor info");
        if (more < 0)
            return -1;
        if (!more)
            break;
    }
    if (!have_dtype)
        return jfail(j, "missing \"dtype\"");
    if (!have_shape)
        return jfail(j, "missing \"shape\"");
    if (!have_off)
        return jfail(j, "missing \"data_offsets\"");
    return 0;
}

static int meta_push(jp *j, crease_st_file *f, char *k, char *v)
{
    if (f->n_meta == f->meta_cap) {
        int cap = f->meta_cap ? 2 * f->meta_cap : 8;
        if (cap > INT_MAX / 4) {
            free(k);
            free(v);
            return jfail(j, "too many metadata entries");
        }
        char **m = realloc(f->meta, (size_t)cap * 2 * sizeof *m);
        if (!m) {
            free(k);
            free(v);
            return joom(j);
        }
        f->meta = m;
        f->meta_cap = cap;
    }
    f->meta[2 * f->n_meta] = k;
    f->meta[2 * f->n_meta + 1] = v;
    f->n_meta++;
    return 0;
}

/* "__metadata__": {"k":"v", ...} or null */
static int jmeta(jp *j, crease_st_file *f)
{
    if (jpeek(j) == 'n') {
        if (j->len - j->pos >= 4 && memcmp(j->s + j->pos, "null", 4) == 0) {
            j->pos += 4;
            return 0;
        }
    }
    if (jexpect(j, '{', "'{' (__metadata__)") < 0)
        return -1;
    if (jpeek(j) == '}') {
        j->pos++;
        return 0;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if (jstring(j, &k) < 0 || jexpect(j, ':', "':'") < 0) {
            free(k);
            return -1;
        }
        if (jpeek(j) != '"') {
            jfail(j, "__metadata__ value of \"%.64s\" must be a string", k);
            free(k);
            return -1;
        }
        if (jstring(j, &v) < 0) {
            free(k);
            return -1;
        }
        for (int i = 0; i < f->n_meta; i++)
            if (strcmp(f->meta[2 * i], k) == 0) {
                jfail(j, "duplicate __metadata__ key \"%.64s\"", k);
                free(k);
                free(v);
                return -1;
            }
        if (meta_push(j, f, k, v) < 0)
            return -1;
        int more = jnext(j, '}', "',' or '}' in __metadata__");
        if (more <= 0)
            return more;
    }
}

/* The whole header into f (tensors without data yet). */
static int jheader(jp *j, crease_st_file *f)
{
    int have_meta = 0;
    if (j->len == 0 || j->s[0] != '{')
        return jfail(j, "header does not start with '{'");
    j->pos = 1;
    if (jpeek(j) == '}') {
        j->pos++;
    } else {
        for (;;) {
            char *name = NULL;
            if (jstring(j, &name) < 0 || jexpect(j, ':', "':'") < 0) {
                free(name);
                return -1;
            }
            if (strcmp(name, META_KEY) == 0) {
                free(name);
                if (have_meta++)
                    return jfail(j, "duplicate \"" META_KEY "\"");
                if (jmeta(j, f) < 0)
                    return -1;
            } else {
                if (f->n == f->cap) {
                    int cap = f->cap ? 2 * f->cap : 16;
                    struct st_entry *t;
                    if (cap > INT_MAX / 4) {
                        free(name);
                        return jfail(j, "too many tensors");
                    }
                    t = realloc(f->t, (size_t)cap * sizeof *t);
                    if (!t) {
                        free(name);
                        return joom(j);
                    }
                    f->t = t;
                    f->cap = cap;
                }
                struct st_entry *e = &f->t[f->n++];
                memset(e, 0, sizeof *e);
                e->name = name;
                e->pub.name = name;
                j->ctx = name;
                if (jtensor(j, e) < 0)
                    return -1;
                j->ctx = NULL;
            }
            int more = jnext(j, '}', "',' or '}'");
            if (more < 0)
                return -1;
            if (!more)
                break;
        }
    }
    jws(j);
    if (j->pos != j->len) {
        char b[16];
        return jfail(j, "trailing garbage after the JSON object at byte %zu (%s)", j->pos,
                     jfound(j, b, sizeof b));
    }
    return 0;
}

/* ------------------------------------------------------------- reading */

static int cmp_name(const void *a, const void *b)
{
    const struct st_entry *x = *(const struct st_entry *const *)a;
    const struct st_entry *y = *(const struct st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const struct st_entry *x = *(const struct st_entry *const *)a;
    const struct st_entry *y = *(const struct st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks one tensor's offsets and shape against the data section. */
static int check_tensor(const char *name, struct st_entry *e, uint64_t data_len)
{
    const char *tn = e->name;
    if (e->begin > e->end)
        return crease__error(CREASE_EFORMAT,
                             "%s: tensor \"%.64s\": data_offsets [%llu, %llu] have begin > end",
                             name, tn, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_len)
        return crease__error(CREASE_EFORMAT,
                             "%s: tensor \"%.64s\": data_offsets [%llu, %llu] run past the end "
                             "of the data section (%llu bytes)",
                             name, tn, (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)data_len);
    uint64_t numel = 1;
    int zero = 0;
    for (int d = 0; d < e->pub.ndim; d++)
        if (e->pub.shape[d] == 0)
            zero = 1;
    if (zero) {
        numel = 0;
    } else {
        for (int d = 0; d < e->pub.ndim; d++) {
            uint64_t s = (uint64_t)e->pub.shape[d];
            if (numel > UINT64_MAX / s)
                return crease__error(CREASE_EFORMAT,
                                     "%s: tensor \"%.64s\": shape product overflows", name, tn);
            numel *= s;
        }
    }
    const char *canon;
    uint64_t esz = (uint64_t)dtype_size(e->pub.dtype, &canon);
    if (numel > UINT64_MAX / esz || numel * esz != e->end - e->begin)
        return crease__error(CREASE_EFORMAT,
                             "%s: tensor \"%.64s\": shape needs %llu elements of %s but "
                             "data_offsets [%llu, %llu] hold %llu bytes",
                             name, tn, (unsigned long long)numel, e->pub.dtype,
                             (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)(e->end - e->begin));
    if (numel > SIZE_MAX / sizeof(float))
        return crease__error(CREASE_ENOMEM, "%s: tensor \"%.64s\" is too large", name, tn);
    e->pub.numel = (size_t)numel;
    return 0;
}

/* Converts the tensor's bytes to float32. */
static int load_tensor(const char *name, struct st_entry *e, const unsigned char *data)
{
    size_t n = e->pub.numel;
    e->data = malloc(n ? n * sizeof(float) : 1);
    if (!e->data)
        return crease__error(CREASE_ENOMEM, "%s: no memory for tensor \"%.64s\" (%zu floats)",
                             name, e->name, n);
    const unsigned char *p = data + e->begin;
    const char *d = e->pub.dtype;
    if (strcmp(d, "F32") == 0) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = load_le32(p + 4 * i);
            memcpy(&e->data[i], &u, sizeof u);
        }
    } else if (strcmp(d, "F16") == 0) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = half_to_bits((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            memcpy(&e->data[i], &u, sizeof u);
        }
    } else if (strcmp(d, "BF16") == 0) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&e->data[i], &u, sizeof u);
        }
    } else { /* F64, rounded to nearest */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = load_le64(p + 8 * i);
            double v;
            memcpy(&v, &u, sizeof v);
            e->data[i] = (float)v;
        }
    }
    e->pub.data = e->data;
    return 0;
}

static int validate(const char *name, crease_st_file *f, uint64_t data_len)
{
    struct st_entry **idx = NULL;
    int rc = 0;
    for (int i = 0; i < f->n; i++)
        if ((rc = check_tensor(name, &f->t[i], data_len)) < 0)
            return rc;
    if (f->n > 0) {
        idx = malloc((size_t)f->n * sizeof *idx);
        if (!idx)
            return crease__error(CREASE_ENOMEM, "%s: out of memory", name);
    }
    for (int i = 0; i < f->n; i++)
        idx[i] = &f->t[i];
    if (f->n > 1)
        qsort(idx, (size_t)f->n, sizeof *idx, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0) {
            rc = crease__error(CREASE_EFORMAT, "%s: duplicate tensor name \"%.64s\"", name,
                               idx[i]->name);
            goto out;
        }
    /* Sorted by offset, the tensors must tile the data section exactly:
     * no overlap, no hole, nothing left over. */
    if (f->n > 1)
        qsort(idx, (size_t)f->n, sizeof *idx, cmp_offset);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const struct st_entry *e = idx[i];
        if (e->begin < at) {
            rc = crease__error(CREASE_EFORMAT,
                               "%s: tensor \"%.64s\": data_offsets [%llu, %llu] overlap "
                               "the tensor before it in the data section (which ends at %llu)",
                               name, e->name, (unsigned long long)e->begin,
                               (unsigned long long)e->end, (unsigned long long)at);
            goto out;
        }
        if (e->begin > at) {
            rc = crease__error(CREASE_EFORMAT,
                               "%s: hole in the data section: bytes [%llu, %llu) belong to "
                               "no tensor (next is \"%.64s\")",
                               name, (unsigned long long)at, (unsigned long long)e->begin,
                               e->name);
            goto out;
        }
        at = e->end;
    }
    if (at != data_len)
        rc = crease__error(CREASE_EFORMAT,
                           "%s: data section has %llu bytes but the tensors cover only %llu",
                           name, (unsigned long long)data_len, (unsigned long long)at);
out:
    free(idx);
    return rc;
}

int crease__st_parse(const char *name, const unsigned char *buf, size_t len,
                     crease_st_file **out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease__st_parse: out is NULL");
    *out = NULL;
    if (!name)
        name = "(memory)";
    if (!buf && len > 0)
        return crease__error(CREASE_EINVAL, "crease__st_parse: buffer is NULL");
    if (len < 8)
        return crease__error(CREASE_EFORMAT,
                             "%s: file too short for a safetensors header (%zu bytes)", name, len);
    uint64_t hlen = load_le64(buf);
    if (hlen > CREASE_ST_MAX_HEADER)
        return crease__error(CREASE_EFORMAT,
                             "%s: safetensors header length %llu is absurd (limit %llu bytes)",
                             name, (unsigned long long)hlen,
                             (unsigned long long)CREASE_ST_MAX_HEADER);
    if (hlen > len - 8)
        return crease__error(CREASE_EFORMAT,
                             "%s: safetensors header length %llu runs past the end of the "
                             "file (%zu bytes)",
                             name, (unsigned long long)hlen, len);
    if (hlen < 2)
        return crease__error(CREASE_EFORMAT,
                             "%s: safetensors header is empty or too short (%llu bytes)", name,
                             (unsigned long long)hlen);

    crease_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return crease__error(CREASE_ENOMEM, "%s: out of memory", name);
    jp j;
    memset(&j, 0, sizeof j);
    j.s = buf + 8;
    j.len = (size_t)hlen;
    int rc;
    if (jheader(&j, f) < 0) {
        rc = crease__error(j.oom ? CREASE_ENOMEM : CREASE_EFORMAT,
                           "%s: invalid safetensors header: %s", name, j.msg);
        goto fail;
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = (uint64_t)(len - 8 - (size_t)hlen);
    if ((rc = validate(name, f, data_len)) < 0)
        goto fail;
    for (int i = 0; i < f->n; i++)
        if ((rc = load_tensor(name, &f->t[i], data)) < 0)
            goto fail;
    *out = f;
    return CREASE_OK;
fail:
    crease__st_free(f);
    return rc;
}

int crease__st_read(const char *path, crease_st_file **out)
{
    if (!out)
        return crease__error(CREASE_EINVAL, "crease__st_read: out is NULL");
    *out = NULL;
    if (!path)
        return crease__error(CREASE_EINVAL, "crease__st_read: path is NULL");
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = crease__read_file(path, &buf, &len);
    if (rc < 0)
        return rc;
    rc = crease__st_parse(path, buf, len, out);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------- writing */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(sbuf *b, const char *fmt, ...) CREASE_PRINTF(2, 3);
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof tmp)
        sb_add(b, tmp, (size_t)n);
    else
        b->oom = 1; /* never happens for the integers we print */
}

/* A JSON string literal; s is valid UTF-8 (checked by the caller). */
static void sb_json(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_add(b, "\\\"", 2); break;
        case '\\': sb_add(b, "\\\\", 2); break;
        case '\n': sb_add(b, "\\n", 2); break;
        case '\r': sb_add(b, "\\r", 2); break;
        case '\t': sb_add(b, "\\t", 2); break;
        case '\b': sb_add(b, "\\b", 2); break;
        case '\f': sb_add(b, "\\f", 2); break;
        default:
            if (*p < 0x20)
                sb_fmt(b, "\\u%04x", *p);
            else
                sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Unique, non-NULL, valid UTF-8 names (what: "tensor name" ...). */
static int check_names(const char **names, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (!names[i])
            return crease__error(CREASE_EINVAL, "safetensors write: %s %d is NULL", what, i);
        if (!utf8_valid(names[i]))
            return crease__error(CREASE_EINVAL,
                                 "safetensors write: %s \"%.64s\" is not valid UTF-8", what,
                                 names[i]);
    }
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return crease__error(CREASE_EINVAL, "safetensors write: duplicate %s \"%.64s\"", what,
                                 names[i]);
    return 0;
}

static int check_write_args(const crease_st_tensor *t, int n, const char *const *meta_kv,
                            int n_meta)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !t) || (n_meta > 0 && !meta_kv) ||
        n_meta > INT_MAX / 2)
        return crease__error(CREASE_EINVAL, "safetensors write: bad tensor or metadata list");
    int nn = n > n_meta ? n : n_meta;
    const char **names = malloc((size_t)(nn ? nn : 1) * sizeof *names);
    if (!names)
        return crease__error(CREASE_ENOMEM, "safetensors write: out of memory");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const crease_st_tensor *x = &t[i];
        names[i] = x->name;
        if (x->name && strcmp(x->name, META_KEY) == 0) {
            rc = crease__error(CREASE_EINVAL, "safetensors write: \"" META_KEY
                               "\" cannot name a tensor");
            break;
        }
        if (x->ndim < 0 || x->ndim > CREASE_ST_MAX_DIMS) {
            rc = crease__error(CREASE_EINVAL, "safetensors write: tensor %d has %d dimensions "
                               "(0..%d allowed)", i, x->ndim, CREASE_ST_MAX_DIMS);
            break;
        }
        uint64_t numel = 1;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] < 0) {
                rc = crease__error(CREASE_EINVAL, "safetensors write: tensor %d has a negative "
                                   "dimension", i);
                break;
            }
            uint64_t s = (uint64_t)x->shape[d];
            if (s != 0 && numel > UINT64_MAX / s) {
                rc = crease__error(CREASE_EINVAL, "safetensors write: tensor %d: shape product "
                                   "overflows", i);
                break;
            }
            numel *= s;
        }
        if (rc == 0 && numel != (uint64_t)x->numel)
            rc = crease__error(CREASE_EINVAL, "safetensors write: tensor %d: numel %zu does not "
                               "match its shape (%llu)", i, x->numel, (unsigned long long)numel);
        if (rc == 0 && x->numel > 0 && !x->data)
            rc = crease__error(CREASE_EINVAL, "safetensors write: tensor %d has no data", i);
    }
    if (rc == 0)
        rc = check_names(names, n, "tensor name");
    if (rc == 0) {
        for (int i = 0; i < n_meta && rc == 0; i++) {
            names[i] = meta_kv[2 * i];
            if (!meta_kv[2 * i + 1])
                rc = crease__error(CREASE_EINVAL, "safetensors write: metadata value %d is NULL",
                                   i);
            else if (!utf8_valid(meta_kv[2 * i + 1]))
                rc = crease__error(CREASE_EINVAL, "safetensors write: metadata value %d is not "
                                   "valid UTF-8", i);
        }
        if (rc == 0)
            rc = check_names(names, n_meta, "metadata key");
    }
    free(names);
    return rc;
}

int crease__st_serialize(const crease_st_tensor *t, int n, const char *const *meta_kv,
                         int n_meta, unsigned char **out, size_t *len)
{
    if (!out || !len)
        return crease__error(CREASE_EINVAL, "safetensors write: out is NULL");
    *out = NULL;
    *len = 0;
    int rc = check_write_args(t, n, meta_kv, n_meta);
    if (rc < 0)
        return rc;

    sbuf h = {0};
    uint64_t off = 0;
    sb_add(&h, "{", 1);
    for (int i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)t[i].numel * 4;
        if (t[i].numel > UINT64_MAX / 4 || off > UINT64_MAX - bytes) {
            free(h.p);
            return crease__error(CREASE_ENOMEM, "safetensors write: tensors too large");
        }
        if (i > 0)
            sb_add(&h, ",", 1);
        sb_json(&h, t[i].name);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++)
            sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
        sb_fmt(&h, "],\"data_offsets\":[%llu,", (unsigned long long)off);
        off += bytes;
        sb_fmt(&h, "%llu]}", (unsigned long long)off);
    }
    if (n_meta > 0) {
        sb_str(&h, n > 0 ? ",\"" META_KEY "\":{" : "\"" META_KEY "\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i > 0)
                sb_add(&h, ",", 1);
            sb_json(&h, meta_kv[2 * i]);
            sb_add(&h, ":", 1);
            sb_json(&h, meta_kv[2 * i + 1]);
        }
        sb_add(&h, "}", 1);
    }
    sb_add(&h, "}", 1);
    /* spaces up to 8-byte alignment, so the data starts aligned */
    while (!h.oom && h.len % 8 != 0)
        sb_add(&h, " ", 1);
    if (h.oom || h.len > CREASE_ST_MAX_HEADER) {
        free(h.p);
        return crease__error(CREASE_ENOMEM, "safetensors write: header too large");
    }
    if (off > (uint64_t)(SIZE_MAX - 8 - h.len)) {
        free(h.p);
        return crease__error(CREASE_ENOMEM, "safetensors write: tensors too large");
    }
    size_t total = 8 + h.len + (size_t)off;
    unsigned char *b = malloc(total);
    if (!b) {
        free(h.p);
        return crease__error(CREASE_ENOMEM, "safetensors write: no memory for %zu bytes", total);
    }
    uint64_t hl = h.len;
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(hl >> (8 * k));
    memcpy(b + 8, h.p, h.len);
    free(h.p);
    unsigned char *p = b + 8 + hl;
    for (int i = 0; i < n; i++)
        for (size_t e = 0; e < t[i].numel; e++) {
            uint32_t u;
            memcpy(&u, &t[i].data[e], sizeof u); /* bits, so NaN payloads survive */
            p[0] = (unsigned char)u;
            p[1] = (unsigned char)(u >> 8);
            p[2] = (unsigned char)(u >> 16);
            p[3] = (unsigned char)(u >> 24);
            p += 4;
        }
    *out = b;
    *len = total;
    return CREASE_OK;
}

int crease__st_write(const char *path, const crease_st_tensor *t, int n,
                     const char *const *meta_kv, int n_meta)
{
    if (!path)
        return crease__error(CREASE_EINVAL, "safetensors write: path is NULL");
    unsigned char *b;
    size_t len;
    int rc = crease__st_serialize(t, n, meta_kv, n_meta, &b, &len);
    if (rc < 0)
        return rc;
    rc = crease__write_file_atomic(path, b, len);
    free(b);
    return rc;
}
