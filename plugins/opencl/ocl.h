/* ocl.h -- internals of the OpenCL backend plugin (not installed).
 *
 * One cl_context and one compiled program per device are shared by every
 * crease_ctx opened on it (so CLBlast's per-context program cache and our
 * program are built once per process); each crease_ctx has its own in-order
 * queue, kernel objects and scratch buffers. */
#ifndef CREASE_OCL_H
#define CREASE_OCL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <crease/backend.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define OCL_HIDDEN __attribute__((visibility("hidden")))
#define OCL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OCL_HIDDEN
#define OCL_PRINTF(a, b)
#endif

/* ---------------------------------------------------------------- kernels */

/* Every kernel of the kernels/ directory, in one table (ops.c holds the
 * names). */
enum ocl_kernel_id {
    K_FILL,
    K_SCALE,
    K_AXPY,
    K_SCALE_MATRIX,
    K_BIAS_ADD,
    K_BIAS_ACT,
    K_ACT_FWD,
    K_ACT_BWD,
    K_GATHER_ROWS,
    K_SUM_STAGE,
    K_REDUCE_COLS,
    K_SOFTMAX_XENT,
    K_BCE_LOGITS,
    K_MSE,
    K_CONFUSION_COUNT,
    K_CONFUSION_ADD,
    K_SGD_UPDATE,
    K_ADAM_UPDATE,
    K_COUNT
};
OCL_HIDDEN extern const char *const ocl_kernel_names[K_COUNT];

/* The kernel source files, in the order they are compiled (later files use
 * helpers of earlier ones), with the copies embedded at build time. */
#define OCL_NSOURCES 4
OCL_HIDDEN extern const char *const ocl_source_files[OCL_NSOURCES];
OCL_HIDDEN extern const unsigned char *const ocl_source_text[OCL_NSOURCES];
OCL_HIDDEN extern const size_t *const ocl_source_len[OCL_NSOURCES];

/* ---------------------------------------------------------------- devices */

struct ocl_device {
    cl_platform_id platform;
    cl_device_id id;
    struct crease_device_info info;
    char platform_version[128];
    char device_version[128];
    /* Shared state, guarded by ocl_lock. */
    cl_context context;      /* created at the first open */
    int context_tainted;     /* an async error happened: make a fresh one */
    cl_program program;      /* built for context, from sources ... */
    uint64_t program_key;    /* ... whose hash this is */
    uint64_t allocated;      /* live bytes of all our buffers on it */
};

OCL_HIDDEN extern const struct crease_host *ocl_host;
OCL_HIDDEN extern pthread_mutex_t ocl_lock;

/* host->set_error, or only the status when there is no host. */
OCL_HIDDEN int ocl_error(int status, const char *fmt, ...) OCL_PRINTF(2, 3);
OCL_HIDDEN void ocl_log(int level, const char *fmt, ...) OCL_PRINTF(2, 3);
/* "CL_OUT_OF_RESOURCES" etc. for an OpenCL or CLBlast status. */
OCL_HIDDEN const char *ocl_strerror(int code);

/* ---------------------------------------------------------------- buffers */

#define OCL_BUF_MAGIC 0x4f434c42u /* "OCLB": catches foreign or freed handles */

struct crease_buf {
    uint32_t magic;
    cl_mem mem;   /* NULL for a zero-byte buffer */
    size_t bytes; /* size asked for */
};

/* ---------------------------------------------------------------- context */

struct crease_ctx {
    int index;
    struct ocl_device *dev;
    cl_context context;  /* retained copy of dev->context */
    cl_command_queue queue;
    cl_program program;  /* retained */
    cl_kernel k[K_COUNT];
    size_t wg[K_COUNT];  /* local size for 1-D launches of each kernel */
    size_t sum_lanes;    /* power of two: local size of crease_sum_stage */
    size_t red_tc, red_tr; /* local size of crease_reduce_cols (powers of two) */

    /* Grow-only device scratch: partial sums, confusion counts (kept at
     * zero between calls), CLBlast's temporary GEMM buffer. */
    cl_mem scratch;
    size_t scratch_bytes;
    cl_mem counts;
    size_t counts_bytes;
    cl_mem gemm_tmp;
    size_t gemm_tmp_bytes;
    int gemm_prefill;    /* CLBlast reads C when beta == 0: zero C first */

    /* Asynchronous error tracking.  An event costs the driver a few
     * microseconds per command (3 us of 7 for a small kernel on an H100),
     * so only every OCL_TRACK_EVERY-th command gets one: `last` is the
     * latest of those and last_op its op; recent_op names the latest
     * command of all.  Waits (clFinish) report the rest.  Once lost, every
     * call fails. */
    cl_event last;
    const char *last_op;
    const char *recent_op;
    unsigned untracked;
    int lost;
    char lost_reason[768];
    /* Fault injection for the tests (CREASE_OPENCL_FAULT=sync): the next
     * wait reports an asynchronous failure, as a crashed kernel would. */
    int inject_sync_fault;
};

/* Checks for the start of every op: a lost context fails at once. */
OCL_HIDDEN int ocl_lost_error(crease_ctx *c);
/* Records a failed cl* call of `op`.  Errors that mean the queue is broken
 * (out of resources, failed earlier commands) mark the context lost. */
OCL_HIDDEN int ocl_call_error(crease_ctx *c, const char *op, const char *call,
                              cl_int err);
/* Marks the context lost with the reason and returns CREASE_EDEVICE_LOST. */
OCL_HIDDEN int ocl_mark_lost(crease_ctx *c, const char *fmt, ...) OCL_PRINTF(2, 3);
#define OCL_TRACK_EVERY 16
/* Where the next command should put its event: ev every OCL_TRACK_EVERY-th
 * command, else NULL (no event).  Pass the result to clEnqueue... */
OCL_HIDDEN cl_event *ocl_want_event(crease_ctx *c, cl_event *ev);
/* After a command of `op` was enqueued with the pointer ocl_want_event
 * gave: keeps ev (when there is one) as the tracked command, after a look
 * at the previous tracked command's status. */
OCL_HIDDEN void ocl_track(crease_ctx *c, cl_event ev, const char *op);
/* Waits for the queue and reports any asynchronous error. */
OCL_HIDDEN int ocl_sync(crease_ctx *c, const char *op);

/* Allocates a device buffer of `bytes` with the limit checks of buf_alloc;
 * `what` names it in errors. */
OCL_HIDDEN int ocl_mem_alloc(crease_ctx *c, size_t bytes, const char *what,
                             cl_mem *out);
OCL_HIDDEN void ocl_mem_free(crease_ctx *c, cl_mem m, size_t bytes);

/* Warm-up at device_open: compiles CLBlast's GEMM kernels and checks how it
 * treats beta == 0 (ops.c). */
OCL_HIDDEN int ocl_gemm_warmup(crease_ctx *c);

OCL_HIDDEN extern const struct crease_ops ocl_ops;

/* ---------------------------------------------------------------- program cache */

/* Builds (or loads from the on-disk cache) the program of the given sources
 * for dev.  On a build failure returns CREASE_EBACKEND with the build log
 * in the error detail. */
OCL_HIDDEN int ocl_program_build(struct ocl_device *dev, cl_context context,
                                 int nsrc, const char *const *src,
                                 const size_t *len, const char *options,
                                 cl_program *out);
/* FNV-1a 64 over a byte range, continuing from h (start: OCL_FNV_BASIS). */
#define OCL_FNV_BASIS 0xcbf29ce484222325ull
OCL_HIDDEN uint64_t ocl_fnv1a(uint64_t h, const void *data, size_t len);

#endif
