/* plugin.c -- the CPU backend's entry point, score, device, context and
 * memory.
 *
 * One device (index 0): the host processor.  Buffers are 64-byte aligned
 * host allocations; every op runs to completion before it returns, so
 * finish() has nothing to wait for.
 *
 * Compiled with the baseline flags for every variant (see cpu.h): nothing
 * here may use the variant's instruction set, score() least of all.
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if (defined(__x86_64__) || defined(__i386__)) && \
    (defined(CPU_VARIANT_AVX512) || defined(CPU_VARIANT_AVX2))
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

const struct crease_host *cpu_host;
static uint64_t phys_mem; /* bytes; 0 if unknown */

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

/* ------------------------------------------------------------- errors */

int cpu_error(int status, const char *fmt, ...)
{
    const struct crease_host *h = cpu_host;
    if (!h || h->size < offsetof(struct crease_host, set_error) + sizeof h->set_error ||
        !h->set_error)
        return status;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return h->set_error(status, "%s", msg);
}

void *cpu_alloc(size_t bytes, const char *what)
{
    void *p = NULL;
    size_t n = bytes < CPU_ALIGN ? CPU_ALIGN : bytes;
    /* refuse sizes whose rounding would overflow */
    if (n > SIZE_MAX - CPU_ALIGN || posix_memalign(&p, CPU_ALIGN, n) != 0) {
        cpu_error(CREASE_ENOMEM, "cpu: cannot allocate %zu bytes (%s)", bytes, what);
        return NULL;
    }
    return p;
}

void cpu_free(void *p)
{
    free(p);
}

int cpu_scratch(crease_ctx *c, size_t bytes, void **out)
{
    if (bytes > c->scratch_bytes) {
        /* grow geometrically so a slowly growing size does not reallocate
         * every call */
        size_t want = c->scratch_bytes * 2 > bytes ? c->scratch_bytes * 2 : bytes;
        void *p = cpu_alloc(want, "workspace");
        if (!p && want > bytes)
            p = cpu_alloc(want = bytes, "workspace");
        if (!p)
            return CREASE_ENOMEM;
        cpu_free(c->scratch);
        c->scratch = p;
        c->scratch_bytes = want;
    }
    *out = c->scratch;
    return 0;
}

int cpu_check_buf(const char *op, const char *arg, const crease_buf *b,
                  size_t n_floats)
{
    if (!b)
        return cpu_error(CREASE_EINVAL, "cpu %s: %s is NULL", op, arg);
    if (b->magic != CPU_BUF_MAGIC)
        return cpu_error(CREASE_EINVAL, "cpu %s: %s is not a live cpu buffer", op, arg);
    if (n_floats > b->bytes / sizeof(float))
        return cpu_error(CREASE_EINVAL,
                         "cpu %s: %s holds %zu floats, the op needs %zu", op, arg,
                         b->bytes / sizeof(float), n_floats);
    return 0;
}

int cpu_check_act(const char *op, int act, float alpha)
{
    if (act < CREASE_ACT_IDENTITY || act > CREASE_ACT_SIGMOID)
        return cpu_error(CREASE_EINVAL, "cpu %s: unknown activation %d", op, act);
    if (act == CREASE_ACT_LEAKY_RELU && !(alpha >= 0.0f && alpha < 1.0f))
        return cpu_error(CREASE_EINVAL, "cpu %s: leaky ReLU slope %g is outside [0, 1)", op,
                         (double)alpha);
    return 0;
}

int cpu_check_dim(const char *op, const char *arg, long v)
{
    if (v < 0)
        return cpu_error(CREASE_EINVAL, "cpu %s: %s = %ld is negative", op, arg, v);
    return 0;
}

/* ------------------------------------------------------------- memory */

static int cpu_buf_alloc(crease_ctx *c, size_t n_bytes, crease_buf **out)
{
    (void)c;
    if (!out)
        return cpu_error(CREASE_EINVAL, "cpu buf_alloc: out is NULL");
    *out = NULL;
    /* more than the machine has can never succeed; saying so early also
     * keeps absurd sizes away from malloc (which sanitizers abort on) */
    if (phys_mem && n_bytes > phys_mem)
        return cpu_error(CREASE_ENOMEM,
                         "cpu: cannot allocate %zu bytes (the machine has %llu bytes of memory)",
                         n_bytes, (unsigned long long)phys_mem);
    crease_buf *b = malloc(sizeof *b);
    if (!b)
        return cpu_error(CREASE_ENOMEM, "cpu: cannot allocate %zu bytes (buffer header)",
                         sizeof *b);
    b->data = cpu_alloc(n_bytes, "buffer");
    if (!b->data) {
        free(b);
        return CREASE_ENOMEM;
    }
    b->magic = CPU_BUF_MAGIC;
    b->bytes = n_bytes;
    *out = b;
    return 0;
}

static void cpu_buf_free(crease_ctx *c, crease_buf *b)
{
    (void)c;
    if (!b || b->magic != CPU_BUF_MAGIC)
        return;
    b->magic = 0; /* a later use of the stale handle is caught, usually */
    cpu_free(b->data);
    free(b);
}

/* off + n within the buffer, without overflow */
static int check_range(const char *op, const char *arg, const crease_buf *b,
                       size_t off, size_t n)
{
    if (!b)
        return cpu_error(CREASE_EINVAL, "cpu %s: %s is NULL", op, arg);
    if (b->magic != CPU_BUF_MAGIC)
        return cpu_error(CREASE_EINVAL, "cpu %s: %s is not a live cpu buffer", op, arg);
    if (off > b->bytes || n > b->bytes - off)
        return cpu_error(CREASE_EINVAL,
                         "cpu %s: bytes [%zu, %zu + %zu) lie outside %s of %zu bytes", op,
                         off, off, n, arg, b->bytes);
    return 0;
}

static int cpu_buf_write(crease_ctx *c, crease_buf *dst, size_t off_bytes,
                         size_t n_bytes, const void *src)
{
    (void)c;
    int rc = check_range("buf_write", "dst", dst, off_bytes, n_bytes);
    if (rc)
        return rc;
    if (n_bytes == 0)
        return 0;
    if (!src)
        return cpu_error(CREASE_EINVAL, "cpu buf_write: src is NULL");
    memcpy((char *)dst->data + off_bytes, src, n_bytes);
    return 0;
}

static int cpu_buf_read(crease_ctx *c, const crease_buf *src, size_t off_bytes,
                        size_t n_bytes, void *dst)
{
    (void)c;
    int rc = check_range("buf_read", "src", src, off_bytes, n_bytes);
    if (rc)
        return rc;
    if (n_bytes == 0)
        return 0;
    if (!dst)
        return cpu_error(CREASE_EINVAL, "cpu buf_read: dst is NULL");
    memcpy(dst, (const char *)src->data + off_bytes, n_bytes);
    return 0;
}

static int cpu_buf_copy(crease_ctx *c, crease_buf *dst, size_t dst_off,
                        const crease_buf *src, size_t src_off, size_t n_bytes)
{
    (void)c;
    int rc = check_range("buf_copy", "dst", dst, dst_off, n_bytes);
    if (!rc)
        rc = check_range("buf_copy", "src", src, src_off, n_bytes);
    if (rc)
        return rc;
    if (n_bytes)
        memmove((char *)dst->data + dst_off, (const char *)src->data + src_off, n_bytes);
    return 0;
}

static int cpu_finish(crease_ctx *c)
{
    (void)c; /* every op is complete when it returns */
    return 0;
}

/* ------------------------------------------------------------- the table */

static const struct crease_ops cpu_ops = {
    .size = sizeof(struct crease_ops),
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .buf_write = cpu_buf_write,
    .buf_read = cpu_buf_read,
    .buf_copy = cpu_buf_copy,
    .fill = cpu_op_fill,
    .finish = cpu_finish,
    .gemm = cpu_op_gemm,
    .bias_add = cpu_op_bias_add,
    .reduce_rows = cpu_op_reduce_rows,
    .sum = cpu_op_sum,
    .scale = cpu_op_scale,
    .axpy = cpu_op_axpy,
    .act_fwd = cpu_op_act_fwd,
    .act_bwd = cpu_op_act_bwd,
    .softmax_xent = cpu_op_softmax_xent,
    .bce_logits = cpu_op_bce_logits,
    .mse = cpu_op_mse,
    .confusion = cpu_op_confusion,
    .gather_rows = cpu_op_gather_rows,
    .sgd_update = cpu_op_sgd_update,
    .adam_update = cpu_op_adam_update,
    .dense_fwd = cpu_op_dense_fwd,
};

/* ------------------------------------------------------------- device */

/* ------------------------------------------------------------- score */

#if (defined(__x86_64__) || defined(__i386__)) && \
    (defined(CPU_VARIANT_AVX512) || defined(CPU_VARIANT_AVX2))
/* XCR0: the register state the operating system saves on a context switch.
 * An instruction set is usable only if the processor has it (CPUID) and
 * the OS saves its registers (XCR0), else its registers would be corrupted
 * on a context switch or its instructions fault.  xgetbv itself may only
 * run when CPUID says the OS enabled XSAVE (OSXSAVE). */
static uint64_t os_xcr0(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return 0;
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" /* xgetbv, for old assemblers */
                     : "=a"(lo), "=d"(hi)
                     : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#define XCR0_SSE_AVX 0x06u /* XMM and YMM state */
#define XCR0_AVX512 0xe6u  /* and opmask, ZMM0-15 upper halves, ZMM16-31 */
#endif

/* 0 when this variant cannot run here; higher is better.  Uses CPUID and
 * XGETBV only: safe on any x86 processor. */
static int cpu_score(void)
{
#if defined(CPU_VARIANT_AVX512) || defined(CPU_VARIANT_AVX2)
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc's CPUID table also checks XCR0; we check it again ourselves,
     * so the answer does not depend on the compiler runtime */
    __builtin_cpu_init();
    uint64_t xcr0 = os_xcr0();
#if defined(CPU_VARIANT_AVX512)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("fma") && (xcr0 & XCR0_AVX512) == XCR0_AVX512)
        return 30;
#else
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        (xcr0 & XCR0_SSE_AVX) == XCR0_SSE_AVX)
        return 20;
#endif
#endif
    return 0;
#elif defined(CPU_VARIANT_NEON)
#if defined(__aarch64__)
#if defined(__linux__) && defined(HWCAP_ASIMD)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? 10 : 0;
#else
    return 10; /* Advanced SIMD is part of every AArch64 processor */
#endif
#else
    return 0;
#endif
#else
    return 1; /* runs anywhere; SIMD variants score higher */
#endif
}

static int cpu_init(const struct crease_host *host)
{
    cpu_host = host;
    phys_mem = physical_memory();
    return 0;
}

static void cpu_fini(void)
{
    cpu_host = NULL;
}

static int cpu_device_count(void)
{
    return 1;
}

/* The value of "key : value" for the first line starting with key in
 * /proc/cpuinfo, trimmed; 0 if there is none. */
static int cpuinfo_field(const char *key, char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[512];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        char *p = line + klen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        size_t n = strlen(p);
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            p[--n] = '\0';
        if (n == 0)
            continue;
        snprintf(out, cap, "%s", p);
        found = 1;
    }
    fclose(f);
    return found;
}

static int cpu_device_info(int index, struct crease_device_info *info)
{
    if (!info)
        return cpu_error(CREASE_EINVAL, "cpu device_info: info is NULL");
    if (index != 0)
        return cpu_error(CREASE_ENODEV, "cpu: no device %d (there is only cpu:0)", index);
    if (info->size < sizeof info->size)
        return cpu_error(CREASE_EINVAL, "cpu device_info: info->size %zu is too small",
                         info->size);

    struct crease_device_info d;
    memset(&d, 0, sizeof d);
    if (!cpuinfo_field("model name", d.name, sizeof d.name))
        snprintf(d.name, sizeof d.name, "CPU");
    char vendor[64] = "";
    if (cpuinfo_field("vendor_id", vendor, sizeof vendor)) {
        if (strcmp(vendor, "GenuineIntel") == 0)
            snprintf(vendor, sizeof vendor, "Intel");
        else if (strcmp(vendor, "AuthenticAMD") == 0)
            snprintf(vendor, sizeof vendor, "AMD");
    } else {
        snprintf(vendor, sizeof vendor, "unknown");
    }
    memcpy(d.vendor, vendor, sizeof d.vendor);
    snprintf(d.driver_version, sizeof d.driver_version, "crease-cpu %s", CPU_VARIANT);
    snprintf(d.type, sizeof d.type, "cpu");
    d.compute_units = cpu_default_threads();
    d.global_mem_bytes = physical_memory();
    d.max_alloc_bytes = d.global_mem_bytes;
    d.fp16 = 0;
    d.fp64 = 1;

    /* fill what the caller's (possibly older or newer) struct has room for */
    size_t caller = info->size;
    size_t n = caller < sizeof d ? caller : sizeof d;
    memcpy((char *)info + sizeof info->size, (char *)&d + sizeof d.size,
           n - sizeof d.size);
    info->size = caller;
    return 0;
}

static void cpu_device_close(crease_ctx *c)
{
    if (!c)
        return;
    cpu_pool_free(c->pool);
    if (c->tws) {
        for (int i = 0; i < c->nthreads; i++) {
            cpu_free(c->tws[i].apack);
            cpu_free(c->tws[i].bedge);
            cpu_free(c->tws[i].bpanel);
        }
        free(c->tws);
    }
    cpu_free(c->scratch);
    free(c);
}

static int cpu_device_open(int index, crease_ctx **out)
{
    if (!out)
        return cpu_error(CREASE_EINVAL, "cpu device_open: out is NULL");
    *out = NULL;
    if (index != 0)
        return cpu_error(CREASE_ENODEV, "cpu: no device %d (there is only cpu:0)", index);
    crease_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return cpu_error(CREASE_ENOMEM, "cpu: cannot allocate %zu bytes (context)", sizeof *c);
    c->index = index;
    c->pool = cpu_pool_new(cpu_default_threads());
    if (!c->pool) {
        free(c);
        return CREASE_ENOMEM;
    }
    c->nthreads = cpu_pool_threads(c->pool);
    c->tws = calloc((size_t)c->nthreads, sizeof *c->tws);
    if (!c->tws) {
        cpu_device_close(c);
        return cpu_error(CREASE_ENOMEM, "cpu: cannot allocate %zu bytes (thread workspaces)",
                         (size_t)c->nthreads * sizeof *c->tws);
    }
    if (cpu_host && cpu_host->log)
        cpu_host->log(3, "cpu: opened cpu:%d (%s) with %d threads", index, CPU_VARIANT,
                      c->nthreads);
    *out = c;
    return 0;
}

#if defined(CPU_VARIANT_AVX512)
#define CPU_DESCRIPTION "CPU backend, AVX-512 kernels (packed GEMM, thread pool)"
#elif defined(CPU_VARIANT_AVX2)
#define CPU_DESCRIPTION "CPU backend, AVX2+FMA kernels (packed GEMM, thread pool)"
#elif defined(CPU_VARIANT_NEON)
#define CPU_DESCRIPTION "CPU backend, NEON kernels (packed GEMM, thread pool)"
#else
#define CPU_DESCRIPTION "CPU backend, portable C (packed GEMM, thread pool)"
#endif

static const struct crease_plugin cpu_plugin = {
    .size = sizeof(struct crease_plugin),
    .abi_major = CREASE_ABI_MAJOR,
    .abi_minor = CREASE_ABI_MINOR,
    .name = "cpu",
    .variant = CPU_VARIANT,
    .description = CPU_DESCRIPTION,
    .score = cpu_score,
    .init = cpu_init,
    .fini = cpu_fini,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .ops = &cpu_ops,
};

/* the one exported symbol */
const struct crease_plugin *crease_plugin_entry(void);

const struct crease_plugin *crease_plugin_entry(void)
{
    return &cpu_plugin;
}
