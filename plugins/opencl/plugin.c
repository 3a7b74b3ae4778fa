/* plugin.c -- the "opencl" backend: plugin entry, device enumeration,
 * contexts, and the error / device-lost machinery every op uses.
 *
 * Any OpenCL 1.2 device reached through the Khronos ICD loader is a crease
 * device; GEMM goes to CLBlast, everything else to the kernels in kernels/
 * (embedded at build time, or read from $CREASE_OPENCL_KERNEL_DIR).
 *
 * Environment, read when a device is opened (the probe mode at init):
 *   CREASE_OPENCL_KERNEL_DIR=DIR  kernel sources from DIR instead of the
 *                                 embedded copies
 *   CREASE_NO_CACHE=1             no on-disk program cache (cache.c)
 *   CREASE_OPENCL_WARMUP=0        no CLBlast warm-up at open (its GEMM
 *                                 kernels then compile at the first GEMM)
 *   CREASE_OPENCL_PROBE=inline    enumerate devices in this process at init
 *                                 instead of a child (see probe_in_child)
 *   CREASE_OPENCL_FAULT=sync      tests: the first wait after the open
 *                                 reports an asynchronous failure */
#include "config.h"

#include "ocl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <clblast_c.h>

const struct crease_host *ocl_host;
pthread_mutex_t ocl_lock = PTHREAD_MUTEX_INITIALIZER;

/* The kernel sources, embedded by crease-embed (kernels_gen.c). */
extern const unsigned char crease_cl_elementwise[], crease_cl_reduce[], crease_cl_loss[],
    crease_cl_optim[];
extern const size_t crease_cl_elementwise_len, crease_cl_reduce_len, crease_cl_loss_len,
    crease_cl_optim_len;

const char *const ocl_source_files[OCL_NSOURCES] = {"elementwise.cl", "reduce.cl", "loss.cl",
                                                    "optim.cl"};
const unsigned char *const ocl_source_text[OCL_NSOURCES] = {
    crease_cl_elementwise, crease_cl_reduce, crease_cl_loss, crease_cl_optim};
const size_t *const ocl_source_len[OCL_NSOURCES] = {
    &crease_cl_elementwise_len, &crease_cl_reduce_len, &crease_cl_loss_len,
    &crease_cl_optim_len};

static struct ocl_device *g_devs;
static int g_ndev;
static int g_open; /* contexts open, under ocl_lock */

/* ------------------------------------------------------------ errors, logs */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ocl_error(int status, const char *fmt, ...)
{
    if (!ocl_host || !ocl_host->set_error)
        return status;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ocl_host->set_error(status, "%s", msg);
}

void ocl_log(int level, const char *fmt, ...)
{
    if (!ocl_host || !ocl_host->log)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ocl_host->log(level, "opencl: %s", msg);
}

const char *ocl_strerror(int code)
{
    switch (code) {
#define E(x) case x: return #x;
    E(CL_SUCCESS)
    E(CL_DEVICE_NOT_FOUND)
    E(CL_DEVICE_NOT_AVAILABLE)
    E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E(CL_OUT_OF_RESOURCES)
    E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE)
    E(CL_MEM_COPY_OVERLAP)
    E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    E(CL_BUILD_PROGRAM_FAILURE)
    E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE)
    E(CL_LINKER_NOT_AVAILABLE)
    E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED)
    E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE_TYPE)
    E(CL_INVALID_PLATFORM)
    E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES)
    E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT)
    E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER)
    E(CL_INVALID_BINARY)
    E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM)
    E(CL_INVALID_PROGRAM_EXECUTABLE)
    E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION)
    E(CL_INVALID_KERNEL)
    E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE)
    E(CL_INVALID_ARG_SIZE)
    E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION)
    E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET)
    E(CL_INVALID_EVENT_WAIT_LIST)
    E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION)
    E(CL_INVALID_GL_OBJECT)
    E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL)
    E(CL_INVALID_GLOBAL_WORK_SIZE)
    E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR)
    E(CL_INVALID_COMPILER_OPTIONS)
    E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
    /* CLBlast's own codes */
    E(CLBlastNotImplemented)
    E(CLBlastInvalidMatrixA)
    E(CLBlastInvalidMatrixB)
    E(CLBlastInvalidMatrixC)
    E(CLBlastInvalidDimension)
    E(CLBlastInvalidLeadDimA)
    E(CLBlastInvalidLeadDimB)
    E(CLBlastInvalidLeadDimC)
    E(CLBlastInsufficientMemoryA)
    E(CLBlastInsufficientMemoryB)
    E(CLBlastInsufficientMemoryC)
    E(CLBlastInsufficientMemoryTemp)
    E(CLBlastInvalidLocalMemUsage)
    E(CLBlastDatabaseError)
    E(CLBlastUnknownError)
    E(CLBlastUnexpectedError)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

/* ------------------------------------------------------------ lost contexts */

int ocl_lost_error(crease_ctx *c)
{
    return ocl_error(CREASE_EDEVICE_LOST, "opencl:%d: device lost after an earlier error: %s",
                     c->index, c->lost_reason);
}

int ocl_mark_lost(crease_ctx *c, const char *fmt, ...)
{
    if (!c->lost) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->lost_reason, sizeof c->lost_reason, fmt, ap);
        va_end(ap);
        c->lost = 1;
        /* The shared context may be broken too (a GPU fault kills it):
         * the next device_open makes a fresh one. */
        pthread_mutex_lock(&ocl_lock);
        c->dev->context_tainted = 1;
        pthread_mutex_unlock(&ocl_lock);
        ocl_log(0, "opencl:%d: device lost: %s", c->index, c->lost_reason);
    }
    return ocl_error(CREASE_EDEVICE_LOST, "opencl:%d: device lost: %s", c->index,
                     c->lost_reason);
}

/* Errors after which the queue cannot be trusted to have run what was
 * enqueued before. */
static int queue_broken(cl_int err)
{
    return err == CL_OUT_OF_RESOURCES || err == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST ||
           err == CL_INVALID_COMMAND_QUEUE || err == CL_INVALID_CONTEXT;
}

int ocl_call_error(crease_ctx *c, const char *op, const char *call, cl_int err)
{
    if (queue_broken(err))
        return ocl_mark_lost(c, "%s: %s failed: %s (%d)", op, call, ocl_strerror(err), (int)err);
    int status = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY)
                     ? CREASE_ENOMEM
                     : CREASE_EBACKEND;
    return ocl_error(status, "opencl:%d: %s: %s failed: %s (%d)", c->index, op, call,
                     ocl_strerror(err), (int)err);
}

/* Status of a command: < 0 means it failed on the device. */
static cl_int event_status(cl_event ev)
{
    cl_int st = CL_COMPLETE;
    cl_int err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL);
    return err != CL_SUCCESS ? err : st;
}

cl_event *ocl_want_event(crease_ctx *c, cl_event *ev)
{
    *ev = NULL;
    return ++c->untracked >= OCL_TRACK_EVERY ? ev : NULL;
}

void ocl_track(crease_ctx *c, cl_event ev, const char *op)
{
    c->recent_op = op;
    if (!ev)
        return;
    c->untracked = 0;
    if (c->last) {
        /* Cheap, non-blocking look at the previous tracked command: a
         * failure is caught a few ops later instead of only at a wait. */
        cl_int st = event_status(c->last);
        if (st < 0)
            ocl_mark_lost(c, "%s failed on the device: %s (%d)", c->last_op, ocl_strerror(st),
                          (int)st);
        clReleaseEvent(c->last);
    }
    c->last = ev;
    c->last_op = op;
}

int ocl_sync(crease_ctx *c, const char *op)
{
    cl_int err = clFinish(c->queue);
    const char *note = "";
    if (err == CL_SUCCESS && c->inject_sync_fault) {
        c->inject_sync_fault = 0;
        err = CL_OUT_OF_RESOURCES;
        note = " [injected by CREASE_OPENCL_FAULT=sync]";
    }
    if (err != CL_SUCCESS)
        return ocl_mark_lost(c, "%s: clFinish failed: %s (%d), last command: %s%s", op,
                             ocl_strerror(err), (int)err, c->recent_op ? c->recent_op : "none",
                             note);
    if (c->last) {
        cl_int st = event_status(c->last);
        clReleaseEvent(c->last);
        c->last = NULL;
        if (st < 0)
            return ocl_mark_lost(c, "%s failed on the device: %s (%d)", c->last_op,
                                 ocl_strerror(st), (int)st);
    }
    if (c->lost)
        return ocl_lost_error(c);
    return CREASE_OK;
}

/* ------------------------------------------------------------ memory */

int ocl_mem_alloc(crease_ctx *c, size_t bytes, const char *what, cl_mem *out)
{
    struct ocl_device *d = c->dev;
    *out = NULL;
    /* Refuse before the driver sees it: many drivers accept any size and
     * fail later, asynchronously, which would cost the whole context. */
    if ((uint64_t)bytes > d->info.max_alloc_bytes)
        return ocl_error(CREASE_ENOMEM,
                         "opencl:%d (%s): cannot allocate %s of %zu bytes: larger than the "
                         "device's largest single allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE = "
                         "%llu bytes)",
                         c->index, d->info.name, what, bytes,
                         (unsigned long long)d->info.max_alloc_bytes);
    pthread_mutex_lock(&ocl_lock);
    if (d->allocated + bytes > d->info.global_mem_bytes) {
        unsigned long long used = (unsigned long long)d->allocated;
        pthread_mutex_unlock(&ocl_lock);
        return ocl_error(CREASE_ENOMEM,
                         "opencl:%d (%s): cannot allocate %s of %zu bytes: with the %llu bytes "
                         "already allocated it would exceed the device's global memory "
                         "(CL_DEVICE_GLOBAL_MEM_SIZE = %llu bytes)",
                         c->index, d->info.name, what, bytes, used,
                         (unsigned long long)d->info.global_mem_bytes);
    }
    d->allocated += bytes;
    pthread_mutex_unlock(&ocl_lock);

    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!m || err != CL_SUCCESS) {
        pthread_mutex_lock(&ocl_lock);
        d->allocated -= bytes;
        pthread_mutex_unlock(&ocl_lock);
        int status = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                      err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
                         ? CREASE_ENOMEM
                         : CREASE_EBACKEND;
        return ocl_error(status, "opencl:%d (%s): clCreateBuffer(%zu bytes) for %s failed: %s (%d)",
                         c->index, d->info.name, bytes, what, ocl_strerror(err), (int)err);
    }
    *out = m;
    return CREASE_OK;
}

void ocl_mem_free(crease_ctx *c, cl_mem m, size_t bytes)
{
    if (!m)
        return;
    /* The driver keeps the object alive until queued commands using it are
     * done, so this needs no wait. */
    clReleaseMemObject(m);
    pthread_mutex_lock(&ocl_lock);
    c->dev->allocated -= bytes;
    pthread_mutex_unlock(&ocl_lock);
}

/* ------------------------------------------------------------ devices */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
    /* drivers pad some strings with trailing blanks */
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\n'))
        dst[--n] = '\0';
}

static void dev_str(cl_device_id d, cl_device_info what, char *dst, size_t cap)
{
    char tmp[1024];
    if (clGetDeviceInfo(d, what, sizeof tmp, tmp, NULL) != CL_SUCCESS)
        tmp[0] = '\0';
    tmp[sizeof tmp - 1] = '\0';
    copy_str(dst, cap, tmp);
}

static void plat_str(cl_platform_id p, cl_platform_info what, char *dst, size_t cap)
{
    char tmp[1024];
    if (clGetPlatformInfo(p, what, sizeof tmp, tmp, NULL) != CL_SUCCESS)
        tmp[0] = '\0';
    tmp[sizeof tmp - 1] = '\0';
    copy_str(dst, cap, tmp);
}

static int has_extension(cl_device_id d, const char *ext)
{
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return 0;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = '\0';
        size_t el = strlen(ext);
        for (const char *p = s; (p = strstr(p, ext)) != NULL; p += el)
            if ((p == s || p[-1] == ' ') && (p[el] == ' ' || p[el] == '\0')) {
                found = 1;
                break;
            }
    }
    free(s);
    return found;
}

static void describe(struct ocl_device *d)
{
    struct crease_device_info *in = &d->info;
    memset(in, 0, sizeof *in);
    in->size = sizeof *in;
    dev_str(d->id, CL_DEVICE_NAME, in->name, sizeof in->name);
    dev_str(d->id, CL_DEVICE_VENDOR, in->vendor, sizeof in->vendor);
    plat_str(d->platform, CL_PLATFORM_NAME, in->platform, sizeof in->platform);
    plat_str(d->platform, CL_PLATFORM_VERSION, d->platform_version, sizeof d->platform_version);
    dev_str(d->id, CL_DRIVER_VERSION, in->driver_version, sizeof in->driver_version);
    dev_str(d->id, CL_DEVICE_OPENCL_C_VERSION, in->language_version, sizeof in->language_version);
    dev_str(d->id, CL_DEVICE_VERSION, d->device_version, sizeof d->device_version);

    cl_device_type t = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    const char *ts = (t & CL_DEVICE_TYPE_GPU)           ? "gpu"
                     : (t & CL_DEVICE_TYPE_CPU)         ? "cpu"
                     : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                                                        : "other";
    copy_str(in->type, sizeof in->type, ts);

    cl_uint cu = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    in->compute_units = (int)cu;
    cl_ulong gm = 0, ma = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gm, &gm, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ma, &ma, NULL);
    in->global_mem_bytes = gm;
    in->max_alloc_bytes = ma;
    in->fp16 = has_extension(d->id, "cl_khr_fp16");
    cl_device_fp_config dfp = 0;
    if (clGetDeviceInfo(d->id, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dfp, &dfp, NULL) != CL_SUCCESS)
        dfp = 0;
    in->fp64 = has_extension(d->id, "cl_khr_fp64") || dfp != 0;
}

static int plugin_score(void)
{
    return 1; /* one variant; whether a device exists is init's business */
}

static void plugin_fini(void);

/* Enumerates the available devices of every platform in this process:
 * *out gets a calloc'd array (platform and id set, described).  On failure
 * writes a reason to why and returns a status. */
static int enumerate(struct ocl_device **out, int *count, char *why, size_t cap)
{
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0)) {
        snprintf(why, cap, "no OpenCL platform: the ICD loader found no usable driver (no .icd "
                           "file in /etc/OpenCL/vendors or $OCL_ICD_VENDORS, or the driver "
                           "failed to load)");
        return CREASE_ENODEV;
    }
    if (err != CL_SUCCESS) {
        snprintf(why, cap, "clGetPlatformIDs failed: %s (%d)", ocl_strerror(err), (int)err);
        return CREASE_ENODEV;
    }
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats || clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        free(plats);
        snprintf(why, cap, "clGetPlatformIDs failed");
        return CREASE_ENODEV;
    }
    int total = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) == CL_SUCCESS)
            total += (int)nd;
    }
    struct ocl_device *devs = total ? calloc((size_t)total, sizeof *devs) : NULL;
    int n = 0;
    for (cl_uint p = 0; p < np && devs; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        if (ids && clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, &nd) == CL_SUCCESS) {
            for (cl_uint i = 0; i < nd && n < total; i++) {
                cl_bool avail = CL_TRUE;
                clGetDeviceInfo(ids[i], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
                if (!avail)
                    continue;
                struct ocl_device *d = &devs[n++];
                d->platform = plats[p];
                d->id = ids[i];
                describe(d);
            }
        }
        free(ids);
    }
    free(plats);
    if (n == 0) {
        free(devs);
        if (total == 0)
            snprintf(why, cap, "%u OpenCL platform(s) but no device on any of them", (unsigned)np);
        else
            snprintf(why, cap, "no available OpenCL device (%d found, none available)", total);
        return CREASE_ENODEV;
    }
    *out = devs;
    *count = n;
    return CREASE_OK;
}

/* What the probe child sends: a status, then either a reason or the count
 * and the descriptions (the handles mean nothing in another process). */
struct probe_dev {
    struct crease_device_info info;
    char platform_version[128];
    char device_version[128];
};

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes, giving up after a deadline (a hung driver must
 * not hang the process that loads plugins). */
static int read_all(int fd, void *p, size_t n, double deadline)
{
    char *c = p;
    while (n > 0) {
        double left = deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read(fd, c, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        c += got;
        n -= (size_t)got;
    }
    return 0;
}

#define PROBE_TIMEOUT_S 120.0

/* Enumerates the devices in a child process.  Drivers start worker threads
 * when they are first asked for their platforms, and threads do not
 * survive fork(): a process that only loaded the plugin (to list devices)
 * and then forks its workers, as Check does with its tests, would leave
 * every child waiting for threads that do not exist.  So the process that
 * loads the plugin does not initialise any driver until it opens a device.
 * Returns 1 when the probe could not run at all (then enumerate here). */
static int probe_in_child(int *status, char *why, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    if (pid == 0) {
        close(fds[0]);
        struct ocl_device *devs = NULL;
        int n = 0;
        char reason[1024] = "";
        int32_t st = enumerate(&devs, &n, reason, sizeof reason);
        int ok = write_all(fds[1], &st, sizeof st) == 0;
        if (ok && st != CREASE_OK) {
            ok = write_all(fds[1], reason, sizeof reason) == 0;
        } else if (ok) {
            int32_t n32 = n;
            ok = write_all(fds[1], &n32, sizeof n32) == 0;
            for (int i = 0; ok && i < n; i++) {
                struct probe_dev pd;
                memset(&pd, 0, sizeof pd);
                pd.info = devs[i].info;
                memcpy(pd.platform_version, devs[i].platform_version, sizeof pd.platform_version);
                memcpy(pd.device_version, devs[i].device_version, sizeof pd.device_version);
                ok = write_all(fds[1], &pd, sizeof pd) == 0;
            }
        }
        /* _exit: none of the parent's exit handlers may run here */
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    double deadline = now_s() + PROBE_TIMEOUT_S;
    int32_t st = 0, n32 = 0;
    if (read_all(fds[0], &st, sizeof st, deadline) != 0) {
        snprintf(why, cap, "the OpenCL device probe (a child process) died or hung");
        *status = CREASE_ENODEV;
    } else if (st != CREASE_OK) {
        char reason[1024];
        if (read_all(fds[0], reason, sizeof reason, deadline) == 0) {
            reason[sizeof reason - 1] = '\0';
            snprintf(why, cap, "%s", reason);
        } else {
            snprintf(why, cap, "the OpenCL device probe failed");
        }
        *status = st;
    } else if (read_all(fds[0], &n32, sizeof n32, deadline) != 0 || n32 <= 0 || n32 > 4096) {
        snprintf(why, cap, "the OpenCL device probe sent a bad reply");
        *status = CREASE_ENODEV;
    } else {
        g_devs = calloc((size_t)n32, sizeof *g_devs);
        *status = g_devs ? CREASE_OK : CREASE_ENOMEM;
        for (int i = 0; g_devs && i < n32; i++) {
            struct probe_dev pd;
            if (read_all(fds[0], &pd, sizeof pd, deadline) != 0) {
                free(g_devs);
                g_devs = NULL;
                snprintf(why, cap, "the OpenCL device probe sent a short reply");
                *status = CREASE_ENODEV;
                break;
            }
            g_devs[i].info = pd.info;
            memcpy(g_devs[i].platform_version, pd.platform_version, sizeof pd.platform_version);
            memcpy(g_devs[i].device_version, pd.device_version, sizeof pd.device_version);
        }
        if (g_devs)
            g_ndev = n32;
    }
    close(fds[0]);
    if (*status != CREASE_OK || g_ndev == 0)
        kill(pid, SIGKILL); /* a hung child must not linger */
    int wst;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Whether this process has initialised the drivers (enumerated here). */
static int g_attached;

/* Binds the probed list to this process's platform and device handles.
 * Under ocl_lock. */
static int attach(void)
{
    if (g_attached)
        return CREASE_OK;
    struct ocl_device *devs = NULL;
    int n = 0;
    char why[1024] = "";
    int st = enumerate(&devs, &n, why, sizeof why);
    if (st != CREASE_OK)
        return ocl_error(st, "opencl: %s", why);
    int same = n == g_ndev;
    for (int i = 0; same && i < n; i++)
        same = !strcmp(devs[i].info.name, g_devs[i].info.name) &&
               !strcmp(devs[i].info.platform, g_devs[i].info.platform);
    if (!same) {
        free(devs);
        return ocl_error(CREASE_ENODEV, "opencl: the OpenCL devices changed since the plugin "
                                        "was loaded (%d then, %d now)",
                         g_ndev, n);
    }
    for (int i = 0; i < n; i++) {
        g_devs[i].platform = devs[i].platform;
        g_devs[i].id = devs[i].id;
    }
    free(devs);
    g_attached = 1;
    return CREASE_OK;
}

static int plugin_init(const struct crease_host *host)
{
    ocl_host = host;
    char why[1024] = "";
    int st = CREASE_OK;
    /* Probe in a child unless the drivers already run in this process
     * (a second init after fini), or CREASE_OPENCL_PROBE=inline asks not to
     * fork. */
    const char *mode = getenv("CREASE_OPENCL_PROBE");
    int inline_probe = g_attached || (mode && !strcmp(mode, "inline"));
    if (inline_probe || probe_in_child(&st, why, sizeof why) != 0) {
        struct ocl_device *devs = NULL;
        int n = 0;
        st = enumerate(&devs, &n, why, sizeof why);
        if (st == CREASE_OK) {
            g_devs = devs;
            g_ndev = n;
            g_attached = 1;
        }
    }
    if (st != CREASE_OK)
        return ocl_error(st, "%s", why);
    for (int i = 0; i < g_ndev; i++)
        ocl_log(2, "device %d: %s (%s, %s, %s)", i, g_devs[i].info.name, g_devs[i].info.type,
                g_devs[i].info.platform, g_devs[i].info.driver_version);
    return CREASE_OK;
}

static void plugin_fini(void)
{
    /* CLBlast holds programs (and so our contexts) in its caches. */
    CLBlastClearCache();
    for (int i = 0; i < g_ndev; i++) {
        if (g_devs[i].program)
            clReleaseProgram(g_devs[i].program);
        if (g_devs[i].context)
            clReleaseContext(g_devs[i].context);
    }
    free(g_devs);
    g_devs = NULL;
    g_ndev = 0;
    /* g_attached stays: the driver keeps running in this process, and a
     * next init enumerates here (a probe child would inherit a driver
     * without its threads). */
}

static int plugin_device_count(void)
{
    return g_ndev;
}

static int plugin_device_info(int index, struct crease_device_info *info)
{
    if (index < 0 || index >= g_ndev)
        return ocl_error(CREASE_ENODEV, "opencl:%d: no such device (%d present)", index, g_ndev);
    if (!info || info->size < sizeof info->size)
        return ocl_error(CREASE_EINVAL, "device_info: info->size not set");
    size_t n = info->size < sizeof g_devs[index].info ? info->size : sizeof g_devs[index].info;
    size_t keep = info->size;
    memcpy(info, &g_devs[index].info, n);
    info->size = keep;
    return CREASE_OK;
}

/* ------------------------------------------------------------ kernel sources */

/* The sources: embedded, or read from $CREASE_OPENCL_KERNEL_DIR (kernel
 * development, fault tests).  *owned gets the malloc'd texts to free. */
static int load_sources(const char **src, size_t *len, char **owned)
{
    const char *dir = getenv("CREASE_OPENCL_KERNEL_DIR");
    for (int i = 0; i < OCL_NSOURCES; i++)
        owned[i] = NULL;
    if (!dir || !*dir) {
        for (int i = 0; i < OCL_NSOURCES; i++) {
            src[i] = (const char *)ocl_source_text[i];
            len[i] = *ocl_source_len[i];
        }
        return CREASE_OK;
    }
    for (int i = 0; i < OCL_NSOURCES; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ocl_source_files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            int e = errno;
            for (int j = 0; j < i; j++)
                free(owned[j]);
            return ocl_error(CREASE_EIO, "CREASE_OPENCL_KERNEL_DIR: cannot open %s: %s", path,
                             strerror(e));
        }
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap);
        size_t got;
        while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    free(buf);
                    buf = NULL;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
        }
        int bad = !buf || ferror(f);
        fclose(f);
        if (bad) {
            free(buf);
            for (int j = 0; j < i; j++)
                free(owned[j]);
            return ocl_error(CREASE_EIO, "CREASE_OPENCL_KERNEL_DIR: cannot read %s", path);
        }
        owned[i] = buf;
        src[i] = buf;
        len[i] = n;
    }
    ocl_log(2, "kernel sources from CREASE_OPENCL_KERNEL_DIR=%s", dir);
    return CREASE_OK;
}

#define OCL_BUILD_OPTIONS "-cl-std=CL1.2"

/* Under ocl_lock: makes sure d has a live context and a program built from
 * these sources; returns retained references. */
static int device_shared(struct ocl_device *d, int index, cl_context *ctx_out,
                         cl_program *prog_out)
{
    if (d->context && d->context_tainted) {
        if (d->program)
            clReleaseProgram(d->program);
        clReleaseContext(d->context);
        d->program = NULL;
        d->context = NULL;
        d->context_tainted = 0;
    }
    if (!d->context) {
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform,
                                         0};
        cl_int err = CL_SUCCESS;
        d->context = clCreateContext(props, 1, &d->id, NULL, NULL, &err);
        if (!d->context || err != CL_SUCCESS) {
            d->context = NULL;
            return ocl_error(err == CL_OUT_OF_HOST_MEMORY ? CREASE_ENOMEM : CREASE_EBACKEND,
                             "opencl:%d (%s): clCreateContext failed: %s (%d)", index,
                             d->info.name, ocl_strerror(err), (int)err);
        }
    }

    const char *src[OCL_NSOURCES];
    size_t len[OCL_NSOURCES];
    char *owned[OCL_NSOURCES];
    int rc = load_sources(src, len, owned);
    if (rc)
        return rc;
    uint64_t key = OCL_FNV_BASIS;
    for (int i = 0; i < OCL_NSOURCES; i++) {
        key = ocl_fnv1a(key, &len[i], sizeof len[i]);
        key = ocl_fnv1a(key, src[i], len[i]);
    }
    if (!d->program || d->program_key != key) {
        cl_program p = NULL;
        rc = ocl_program_build(d, d->context, OCL_NSOURCES, src, len, OCL_BUILD_OPTIONS, &p);
        if (rc == CREASE_OK) {
            if (d->program)
                clReleaseProgram(d->program);
            d->program = p;
            d->program_key = key;
        }
    }
    for (int i = 0; i < OCL_NSOURCES; i++)
        free(owned[i]);
    if (rc)
        return rc;
    clRetainContext(d->context);
    clRetainProgram(d->program);
    *ctx_out = d->context;
    *prog_out = d->program;
    return CREASE_OK;
}

static size_t floor_pow2(size_t v)
{
    size_t p = 1;
    while (p * 2 <= v)
        p *= 2;
    return p;
}

static void plugin_device_close(crease_ctx *c);

static int plugin_device_open(int index, crease_ctx **out)
{
    if (!out)
        return ocl_error(CREASE_EINVAL, "device_open: out is NULL");
    *out = NULL;
    if (index < 0 || index >= g_ndev)
        return ocl_error(CREASE_ENODEV, "opencl:%d: no such device (%d present)", index, g_ndev);
    struct ocl_device *d = &g_devs[index];
    crease_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ocl_error(CREASE_ENOMEM, "out of memory");
    c->index = index;
    c->dev = d;

    double t0 = now_s();
    pthread_mutex_lock(&ocl_lock);
    int rc = attach();
    if (rc == CREASE_OK)
        rc = device_shared(d, index, &c->context, &c->program);
    if (rc == CREASE_OK)
        g_open++;
    pthread_mutex_unlock(&ocl_lock);
    if (rc) {
        free(c);
        return rc;
    }
    double t1 = now_s();

    cl_int err = CL_SUCCESS;
    c->queue = clCreateCommandQueue(c->context, d->id, 0, &err);
    if (!c->queue || err != CL_SUCCESS) {
        c->queue = NULL;
        rc = ocl_error(CREASE_EBACKEND, "opencl:%d (%s): clCreateCommandQueue failed: %s (%d)",
                       index, d->info.name, ocl_strerror(err), (int)err);
        plugin_device_close(c);
        return rc;
    }

    /* Work-group sizes: 256 where the kernel allows it (a good size on GPUs
     * and for PoCL's loop vectorisation), a power of two for the
     * reductions' trees; each kernel is always launched with the same local
     * size, so drivers that specialise per size compile it once. */
    size_t max_items[3] = {1, 1, 1};
    if (clGetDeviceInfo(d->id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof max_items, max_items,
                        NULL) != CL_SUCCESS)
        max_items[0] = max_items[1] = max_items[2] = 1; /* then wg 1: slow, but right */
    for (int i = 0; i < K_COUNT; i++) {
        c->k[i] = clCreateKernel(c->program, ocl_kernel_names[i], &err);
        if (!c->k[i] || err != CL_SUCCESS) {
            c->k[i] = NULL;
            rc = ocl_error(CREASE_EBACKEND, "opencl:%d (%s): clCreateKernel(%s) failed: %s (%d)",
                           index, d->info.name, ocl_kernel_names[i], ocl_strerror(err),
                           (int)err);
            plugin_device_close(c);
            return rc;
        }
        size_t wg = 1, mult = 1;
        err = clGetKernelWorkGroupInfo(c->k[i], d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                       NULL);
        if (err == CL_SUCCESS)
            err = clGetKernelWorkGroupInfo(c->k[i], d->id,
                                           CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                           sizeof mult, &mult, NULL);
        if (err != CL_SUCCESS) {
            rc = ocl_error(CREASE_EBACKEND,
                           "opencl:%d (%s): clGetKernelWorkGroupInfo(%s) failed: %s (%d)", index,
                           d->info.name, ocl_kernel_names[i], ocl_strerror(err), (int)err);
            plugin_device_close(c);
            return rc;
        }
        size_t want = 256;
        if (want > wg)
            want = wg;
        if (want > max_items[0])
            want = max_items[0];
        if (mult > 1 && want >= mult)
            want -= want % mult;
        c->wg[i] = want ? want : 1;
    }
    c->sum_lanes = floor_pow2(c->wg[K_SUM_STAGE]);
    size_t lanes = floor_pow2(c->wg[K_REDUCE_COLS]);
    c->red_tc = lanes < 16 ? lanes : 16;
    c->red_tr = lanes / c->red_tc;
    if (c->red_tr > max_items[1])
        c->red_tr = floor_pow2(max_items[1]);
    double t2 = now_s();
    ocl_log(2, "opencl:%d: context and program ready in %.3f s, kernels in %.3f s", index,
            t1 - t0, t2 - t1);

    /* CLBlast compiles its GEMM kernels at their first use; doing it here
     * keeps that cost (seconds on PoCL without a warm driver cache) out of
     * the first training step and reports a broken CLBlast at open. */
    const char *warm = getenv("CREASE_OPENCL_WARMUP");
    if (!warm || strcmp(warm, "0") != 0) {
        rc = ocl_gemm_warmup(c);
        if (rc) {
            plugin_device_close(c);
            return rc;
        }
        ocl_log(2, "opencl:%d: CLBlast GEMM warm-up in %.3f s%s", index, now_s() - t2,
                c->gemm_prefill ? " (CLBlast reads C when beta == 0: C is zeroed first)" : "");
    }
    const char *fault = getenv("CREASE_OPENCL_FAULT");
    c->inject_sync_fault = fault && !strcmp(fault, "sync");
    *out = c;
    return CREASE_OK;
}

static void plugin_device_close(crease_ctx *c)
{
    if (!c)
        return;
    if (c->queue)
        clFinish(c->queue);
    if (c->last)
        clReleaseEvent(c->last);
    ocl_mem_free(c, c->scratch, c->scratch_bytes);
    ocl_mem_free(c, c->counts, c->counts_bytes);
    ocl_mem_free(c, c->gemm_tmp, c->gemm_tmp_bytes);
    for (int i = 0; i < K_COUNT; i++)
        if (c->k[i])
            clReleaseKernel(c->k[i]);
    if (c->queue)
        clReleaseCommandQueue(c->queue);
    if (c->program)
        clReleaseProgram(c->program);
    if (c->context) {
        clReleaseContext(c->context);
        /* The last one closed: empty CLBlast's caches now.  Left to the
         * C++ static destructors at exit, they release OpenCL objects after
         * parts of the runtime are gone (Oclgrind's thread-local state is
         * destroyed before any exit handler, and its heap gets corrupted).
         * The price: a later open in this process builds CLBlast's
         * program again (fast when the driver caches binaries). */
        pthread_mutex_lock(&ocl_lock);
        int last = --g_open == 0;
        pthread_mutex_unlock(&ocl_lock);
        if (last)
            CLBlastClearCache();
    }
    free(c);
}

static const struct crease_plugin ocl_plugin = {
    .size = sizeof(struct crease_plugin),
    .abi_major = CREASE_ABI_MAJOR,
    .abi_minor = CREASE_ABI_MINOR,
    .name = "opencl",
    .variant = "",
    .description = "OpenCL 1.2 devices through the ICD loader (GEMM by CLBlast)",
    .score = plugin_score,
    .init = plugin_init,
    .fini = plugin_fini,
    .device_count = plugin_device_count,
    .device_info = plugin_device_info,
    .device_open = plugin_device_open,
    .device_close = plugin_device_close,
    .ops = &ocl_ops,
};

const struct crease_plugin *crease_plugin_entry(void);

const struct crease_plugin *crease_plugin_entry(void)
{
    return &ocl_plugin;
}
