/* cache.c -- program builds and the on-disk cache of compiled programs.
 *
 * An entry is $XDG_CACHE_HOME/crease/opencl-<key>.bin (else
 * ~/.cache/crease/...), where the 128-bit key hashes everything the binary
 * depends on: platform name and version, device name and version, driver
 * version, the kernel sources, the build options and the crease version.
 * The file is a fixed header followed by the driver's program binary:
 *
 *   magic "CRSOCLB1" | u32 format | u32 0 | u64 key[2] | u64 payload length
 *   | u64 FNV-1a checksum of the payload | payload
 *
 * (native byte order; the key already ties an entry to one machine's
 * driver).  A short, corrupt or foreign file is ignored, the program is
 * built from source and the entry rewritten.  Entries are written to a
 * temporary file and renamed, so readers never see half a file.
 * CREASE_NO_CACHE=1 turns the cache off (nothing read, nothing written). */
#include "config.h"

#include "ocl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "CRSOCLB1"
#define CACHE_FORMAT 1u
#define DIR_CAP 4096
#define PATH_CAP (DIR_CAP + 64)

struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t reserved;
    uint64_t key[2];
    uint64_t length;
    uint64_t checksum;
};

uint64_t ocl_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Hashes a field with its length, so "ab"+"c" and "a"+"bc" differ. */
static uint64_t hash_field(uint64_t h, const void *data, size_t len)
{
    uint64_t n = len;
    h = ocl_fnv1a(h, &n, sizeof n);
    return ocl_fnv1a(h, data, len);
}

static void cache_key(const struct ocl_device *d, int nsrc, const char *const *src,
                      const size_t *len, const char *options, uint64_t key[2])
{
    /* Two FNV-1a streams from different bases: a 128-bit name makes an
     * accidental collision between two entries out of the question. */
    static const uint64_t basis[2] = {OCL_FNV_BASIS, 0x84222325cbf29ce4ull};
    const char *fields[] = {"crease-opencl-program-cache",
                            PACKAGE_VERSION,
                            d->info.platform,
                            d->platform_version,
                            d->info.name,
                            d->device_version,
                            d->info.driver_version,
                            options};
    for (int k = 0; k < 2; k++) {
        uint64_t h = basis[k];
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            h = hash_field(h, fields[f], strlen(fields[f]));
        for (int i = 0; i < nsrc; i++)
            h = hash_field(h, src[i], len[i]);
        key[k] = h;
    }
}

static int cache_disabled(void)
{
    const char *e = getenv("CREASE_NO_CACHE");
    return e && *e && strcmp(e, "0") != 0;
}

/* mkdir -p with private permissions; 0 or -1. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0700);
        *p = '/';
        if (r != 0 && errno != EEXIST)
            return -1;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* The cache directory (created), or 0 when there is none to use. */
static int cache_dir(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    /* The XDG spec says a relative XDG_CACHE_HOME is to be ignored. */
    if (xdg && xdg[0] == '/')
        n = snprintf(out, cap, "%s/crease", xdg);
    else if (home && home[0] == '/')
        n = snprintf(out, cap, "%s/.cache/crease", home);
    else
        return 0;
    if (n < 0 || (size_t)n >= cap)
        return 0;
    if (make_dirs(out) != 0) {
        ocl_log(1, "program cache disabled: cannot create %s: %s", out, strerror(errno));
        return 0;
    }
    return 1;
}

/* Reads and checks an entry.  Returns the payload (malloc'd) or NULL with
 * why set ("" when the file simply does not exist). */
static unsigned char *cache_read(const char *path, const uint64_t key[2], size_t *len,
                                 const char **why)
{
    *why = "";
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT)
            *why = "cannot be opened";
        return NULL;
    }
    struct cache_header h;
    unsigned char *payload = NULL;
    if (fread(&h, sizeof h, 1, f) != 1) {
        *why = "shorter than its header";
        goto fail;
    }
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.format != CACHE_FORMAT) {
        *why = "bad magic or format";
        goto fail;
    }
    if (h.key[0] != key[0] || h.key[1] != key[1]) {
        *why = "key mismatch";
        goto fail;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
        (uint64_t)st.st_size != sizeof h + h.length || h.length == 0) {
        *why = "truncated or over-long";
        goto fail;
    }
    payload = malloc((size_t)h.length);
    if (!payload) {
        *why = "out of memory";
        goto fail;
    }
    if (fread(payload, 1, (size_t)h.length, f) != (size_t)h.length) {
        *why = "read error";
        goto fail;
    }
    if (ocl_fnv1a(OCL_FNV_BASIS, payload, (size_t)h.length) != h.checksum) {
        *why = "checksum mismatch";
        goto fail;
    }
    fclose(f);
    *len = (size_t)h.length;
    return payload;
fail:
    free(payload);
    fclose(f);
    return NULL;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes an entry via a temporary file and rename.  Failures only log: the
 * program is built, the cache is an optimisation. */
static void cache_write(const char *path, const uint64_t key[2], const unsigned char *payload,
                        size_t len)
{
    struct cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.format = CACHE_FORMAT;
    h.key[0] = key[0];
    h.key[1] = key[1];
    h.length = len;
    h.checksum = ocl_fnv1a(OCL_FNV_BASIS, payload, len);

    char tmp[PATH_CAP + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ocl_log(1, "cannot write program cache entry %s: %s", path, strerror(errno));
        return;
    }
    if (write_all(fd, &h, sizeof h) != 0 || write_all(fd, payload, len) != 0 ||
        fsync(fd) != 0) {
        ocl_log(1, "cannot write program cache entry %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        ocl_log(1, "cannot write program cache entry %s: %s", path, strerror(errno));
        unlink(tmp);
        return;
    }
    ocl_log(2, "program cache: wrote %s (%zu bytes)", path, len);
}

/* The build log of a failed build, trimmed so the error detail keeps the
 * first (usually the decisive) lines. */
static void build_log(cl_program p, cl_device_id dev, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return;
    char *s = malloc(n + 1);
    if (!s)
        return;
    if (clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, n, s, NULL) == CL_SUCCESS) {
        s[n] = '\0';
        snprintf(out, cap, "%s%s", s, strlen(s) >= cap ? " [...]" : "");
    }
    free(s);
}

static int program_binary(cl_program p, unsigned char **out, size_t *len)
{
    size_t sz = 0;
    *out = NULL;
    /* one device per program */
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS ||
        sz == 0)
        return -1;
    unsigned char *bin = malloc(sz);
    if (!bin)
        return -1;
    unsigned char *ptrs[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) != CL_SUCCESS) {
        free(bin);
        return -1;
    }
    *out = bin;
    *len = sz;
    return 0;
}

static cl_program from_binary(struct ocl_device *d, cl_context ctx, const unsigned char *bin,
                              size_t len, const char *options)
{
    cl_int err = CL_SUCCESS, st = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx, 1, &d->id, &len, &bin, &st, &err);
    if (!p || err != CL_SUCCESS || st != CL_SUCCESS) {
        if (p)
            clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &d->id, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

int ocl_program_build(struct ocl_device *d, cl_context ctx, int nsrc, const char *const *src,
                      const size_t *len, const char *options, cl_program *out)
{
    *out = NULL;
    uint64_t key[2];
    cache_key(d, nsrc, src, len, options, key);

    char dir[DIR_CAP], path[PATH_CAP];
    int use_cache = !cache_disabled() && cache_dir(dir, sizeof dir);
    if (use_cache) {
        snprintf(path, sizeof path, "%s/opencl-%016llx%016llx.bin", dir,
                 (unsigned long long)key[0], (unsigned long long)key[1]);
        double t0 = now_s();
        const char *why = "";
        size_t blen = 0;
        unsigned char *bin = cache_read(path, key, &blen, &why);
        if (bin) {
            cl_program p = from_binary(d, ctx, bin, blen, options);
            free(bin);
            if (p) {
                ocl_log(2, "program for %s loaded from cache %s in %.3f s", d->info.name, path,
                        now_s() - t0);
                *out = p;
                return CREASE_OK;
            }
            why = "the driver rejected the binary";
        }
        if (*why)
            ocl_log(1, "program cache entry %s is unusable (%s): rebuilding it", path, why);
    }

    double t0 = now_s();
    cl_int err = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(ctx, (cl_uint)nsrc, (const char **)src, len, &err);
    if (!p || err != CL_SUCCESS)
        return ocl_error(CREASE_EBACKEND, "OpenCL clCreateProgramWithSource failed on %s: %s (%d)",
                         d->info.name, ocl_strerror(err), (int)err);
    err = clBuildProgram(p, 1, &d->id, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[1600];
        build_log(p, d->id, log, sizeof log);
        clReleaseProgram(p);
        ocl_log(3, "build log: %s", log);
        return ocl_error(CREASE_EBACKEND,
                         "OpenCL kernel build failed on %s (%s, %s): clBuildProgram: %s (%d); "
                         "build log:\n%s",
                         d->info.name, d->info.platform, d->info.driver_version,
                         ocl_strerror(err), (int)err, log[0] ? log : "(empty)");
    }
    ocl_log(2, "program for %s built from source in %.3f s", d->info.name, now_s() - t0);

    if (use_cache) {
        unsigned char *bin = NULL;
        size_t blen = 0;
        double t1 = now_s();
        if (program_binary(p, &bin, &blen) == 0) {
            ocl_log(3, "program binary of %zu bytes fetched in %.3f s", blen, now_s() - t1);
            cache_write(path, key, bin, blen);
        }
        else {
            ocl_log(1, "program cache: the driver gave no program binary for %s", d->info.name);
        }
        free(bin);
    }
    *out = p;
    return CREASE_OK;
}
