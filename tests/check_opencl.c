/* check_opencl.c -- fault and cache tests of the OpenCL backend plugin.
 *
 * The numerics of every op are covered by the op sweep (check_ops); this
 * suite covers what is particular to the plugin: a broken kernel source,
 * allocations over the device's limits, the on-disk program cache (corrupt
 * and truncated entries, CREASE_NO_CACHE, cold against warm builds).
 *
 * The plugin reads its environment when a device is opened, and OpenCL
 * runtimes do not survive fork(), so every open runs in a child process
 * forked before anything touches OpenCL; the child reports through a pipe
 * and this process only ever looks at files.  Without an OpenCL device the
 * program prints SKIP and exits 77. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#include "check_common.h"

/* ------------------------------------------------------------ children */

enum child_action {
    ACT_OPEN,       /* open opencl:0 and close it */
    ACT_ALLOC_HUGE, /* open, then allocations over the device's limits */
    ACT_LOST,       /* open with an injected asynchronous fault */
    ACT_PROBE       /* is there an OpenCL device at all? */
};

struct child_result {
    int ran;          /* the child got as far as reporting */
    int status;       /* crease status of the open / the action */
    double seconds;   /* time of crease_device_open alone */
    int detail;       /* action-specific */
    struct crease_device_info info; /* of opencl:0, after an open */
    char error[2048]; /* crease_last_error() after a failure */
    char log[8192];   /* the child's stderr (CREASE_LOG=info) */
};

static void copy_error(struct child_result *r)
{
    snprintf(r->error, sizeof r->error, "%s", crease_last_error());
}

/* Allocations over the limits: one buffer over CL_DEVICE_MAX_MEM_ALLOC_SIZE,
 * then, on devices with little memory, buffers that together exceed the
 * global memory.  Both must fail with CREASE_ENOMEM before the driver is
 * asked, and the device must stay usable. */
static void alloc_huge(crease_device *dev, struct child_result *r)
{
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if ((r->status = crease_device_get_info(dev, &info)) != CREASE_OK) {
        copy_error(r);
        return;
    }
    int64_t floats = (int64_t)(info.max_alloc_bytes / sizeof(float)) + 1;
    crease_tensor *t = NULL;
    r->status = crease_tensor_new(dev, 1, &floats, &t);
    copy_error(r);
    crease_tensor_free(t);
    if (r->status != CREASE_ENOMEM)
        return;
    r->detail = 1;

    /* Sum over the global memory: only where that is a few GiB, so the test
     * never really fills a large GPU (drivers may allocate eagerly). */
    if (info.global_mem_bytes <= (8ull << 30) && info.max_alloc_bytes >= (64u << 20)) {
        int64_t each = (int64_t)(info.max_alloc_bytes / sizeof(float));
        crease_tensor *ts[64] = {0};
        int n = 0, st = CREASE_OK;
        while (n < 64 && (st = crease_tensor_new(dev, 1, &each, &ts[n])) == CREASE_OK)
            n++;
        if (st == CREASE_ENOMEM && strstr(crease_last_error(), "global memory"))
            r->detail = 2;
        else
            snprintf(r->error, sizeof r->error, "sum over global memory: %d buffers, status %d: %s",
                     n, st, crease_last_error());
        for (int i = 0; i < n; i++)
            crease_tensor_free(ts[i]);
    } else {
        r->detail = 2; /* not tried on a large device */
    }

    /* Still usable: a small round trip. */
    int64_t four = 4;
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    int st = crease_tensor_new(dev, 1, &four, &t);
    if (st == CREASE_OK)
        st = crease_tensor_write(t, in);
    if (st == CREASE_OK)
        st = crease_tensor_read(t, out);
    crease_tensor_free(t);
    if (st != CREASE_OK || memcmp(in, out, sizeof in) != 0) {
        r->detail = -1;
        snprintf(r->error, sizeof r->error, "round trip after ENOMEM failed: %d: %s", st,
                 crease_last_error());
    }
}

/* An asynchronous failure (injected: CREASE_OPENCL_FAULT=sync makes the
 * next wait report CL_OUT_OF_RESOURCES, as a crashed kernel would) loses
 * the context: that wait and every later call fail with
 * CREASE_EDEVICE_LOST and the original reason; nothing crashes; a device
 * opened afterwards works.  detail counts the checks passed (6). */
static void lost_device(crease_device *dev, struct child_result *r)
{
    int64_t n = 64;
    crease_tensor *t = NULL, *t2 = NULL;
    float host[64];
    if (crease_tensor_new(dev, 1, &n, &t) != CREASE_OK ||
        crease_tensor_fill(t, 1.0f) != CREASE_OK) {
        copy_error(r);
        return;
    }
    int st = crease_device_sync(dev);
    snprintf(r->error, sizeof r->error, "%s", crease_last_error());
    r->status = st;
    if (st != CREASE_EDEVICE_LOST || !strstr(crease_last_error(), "injected"))
        goto out;
    r->detail = 1;
    /* later calls: lost, with the original reason */
    if (crease_tensor_fill(t, 2.0f) == CREASE_EDEVICE_LOST &&
        strstr(crease_last_error(), "clFinish failed"))
        r->detail++;
    if (crease_tensor_read(t, host) == CREASE_EDEVICE_LOST)
        r->detail++;
    if (crease_tensor_new(dev, 1, &n, &t2) == CREASE_EDEVICE_LOST && t2 == NULL)
        r->detail++;
    if (crease_device_sync(dev) == CREASE_EDEVICE_LOST)
        r->detail++;
out:
    crease_tensor_free(t2);
    crease_tensor_free(t);
    crease_device_free(dev);
    /* a fresh open gets a fresh context */
    unsetenv("CREASE_OPENCL_FAULT");
    crease_device *again = NULL;
    float one = 0.0f;
    int64_t n1 = 1;
    if (r->detail == 5 && crease_device_open("opencl:0", &again) == CREASE_OK) {
        if (crease_tensor_new(again, 1, &n1, &t) == CREASE_OK &&
            crease_tensor_fill(t, 7.0f) == CREASE_OK && crease_tensor_read(t, &one) == CREASE_OK &&
            one == 7.0f)
            r->detail++;
        crease_tensor_free(t);
        crease_device_free(again);
    }
}

static void child_main(enum child_action act, struct child_result *r)
{
    if (act == ACT_PROBE) {
        crease_plugins_load();
        const struct crease_loaded_plugin *lp = crease__plugin_by_name("opencl");
        r->detail = lp ? lp->p->device_count() : 0;
        r->status = lp ? CREASE_OK : CREASE_ENODEV;
        if (!lp) {
            /* why: the loader's skip reason for the opencl plugin */
            for (int i = 0; i < crease_plugin_skipped_count(); i++) {
                const char *path, *reason;
                if (crease_plugin_skipped_get(i, &path, &reason) == CREASE_OK &&
                    strstr(path, "crease-opencl"))
                    snprintf(r->error, sizeof r->error, "%s", reason);
            }
        }
        return;
    }
    if (crease_plugins_load() != CREASE_OK) {
        r->status = CREASE_ENODEV;
        copy_error(r);
        return;
    }
    crease_device *dev = NULL;
    double t0 = crease__now();
    r->status = crease_device_open("opencl:0", &dev);
    r->seconds = crease__now() - t0;
    if (r->status != CREASE_OK) {
        copy_error(r);
        return;
    }
    r->info.size = sizeof r->info;
    crease_device_get_info(dev, &r->info);
    if (act == ACT_LOST) {
        lost_device(dev, r); /* frees dev */
        return;
    }
    if (act == ACT_ALLOC_HUGE)
        alloc_huge(dev, r);
    crease_device_free(dev);
}

/* Runs act in a child with the given environment (NULL-terminated pairs;
 * a NULL value unsets).  The child's stderr goes to a file that ends up in
 * r->log.  Returns 0, or -1 with r->error set when the child crashed.  No
 * ck_assert here: main() uses it before the tests run. */
static int spawn_child(enum child_action act, const char *const *env, struct child_result *r)
{
    memset(r, 0, sizeof *r);
    char logpath[] = "/tmp/crease-check-opencl-log-XXXXXX";
    int logfd = mkstemp(logpath);
    int fds[2];
    if (logfd < 0 || pipe(fds) != 0) {
        snprintf(r->error, sizeof r->error, "mkstemp/pipe: %s", strerror(errno));
        return -1;
    }
    unlink(logpath);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->error, sizeof r->error, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(logfd, 2);
        for (int i = 0; env && env[i]; i += 2) {
            if (env[i + 1])
                setenv(env[i], env[i + 1], 1);
            else
                unsetenv(env[i]);
        }
        struct child_result *res = calloc(1, sizeof *res);
        if (res) {
            child_main(act, res);
            res->ran = 1;
            const char *p = (const char *)res;
            size_t left = sizeof *res;
            while (left > 0) {
                ssize_t w = write(fds[1], p, left);
                if (w <= 0)
                    break;
                p += w;
                left -= (size_t)w;
            }
        }
        _exit(0);
    }
    close(fds[1]);
    char *p = (char *)r;
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fds[0], p + got, sizeof *r - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (got != sizeof *r)
        r->ran = 0;
    /* the log, whatever happened to the child */
    ssize_t n = pread(logfd, r->log, sizeof r->log - 1, 0);
    r->log[n > 0 ? n : 0] = '\0';
    close(logfd);
    if (!(WIFEXITED(wst) && WEXITSTATUS(wst) == 0 && r->ran)) {
        snprintf(r->error, sizeof r->error, "child crashed or failed (wait status 0x%x)", wst);
        return -1;
    }
    return 0;
}

static void run_child(enum child_action act, const char *const *env, struct child_result *r)
{
    int rc = spawn_child(act, env, r);
    ck_assert_msg(rc == 0, "%s; its stderr:\n%s", r->error, r->log);
}

/* ------------------------------------------------------------ files */

static char *make_temp_dir(void)
{
    char buf[4096];
    ck_assert_msg(ck_make_tmpdir(buf, sizeof buf, "crease-check-opencl") != NULL,
                  "cannot make a temporary directory: %s", strerror(errno));
    return strdup(buf);
}

/* Regular files under dir (recursively).  Only xdg/crease is ours: PoCL
 * keeps its own compiler cache in $XDG_CACHE_HOME/pocl. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        struct stat st;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (stat(sub, &st) == 0)
            n += S_ISDIR(st.st_mode) ? count_files(sub) : 1;
    }
    closedir(d);
    return n;
}

/* The one program cache entry under xdg/crease (asserts there is one). */
static void cache_entry(const char *xdg, char *out, size_t cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/crease", xdg);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no cache directory %s", dir);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (!strncmp(e->d_name, "opencl-", 7) && l > 4 && !strcmp(e->d_name + l - 4, ".bin")) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    ck_assert_msg(found == 1, "expected one cache entry in %s, found %d", dir, found);
}

/* A kernel directory with copies of the real sources; `broken` gets a line
 * of non-OpenCL appended. */
static char *kernel_dir_copy(const char *broken)
{
    const char *src = getenv("CREASE_SRCDIR");
    ck_assert_msg(src && *src, "CREASE_SRCDIR is not set (run through make check)");
    char *dir = make_temp_dir();
    static const char *files[] = {"elementwise.cl", "reduce.cl", "loss.cl", "optim.cl"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/kernels/%s", src, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        size_t len;
        unsigned char *text = ck_slurp(from, &len);
        FILE *f = fopen(to, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, len, f), len);
        if (broken && !strcmp(broken, files[i]))
            fputs("\n__kernel void crease_broken(__global float *x) { x[0] = undeclared_thing; }\n",
                  f);
        ck_assert_int_eq(fclose(f), 0);
        free(text);
    }
    return dir;
}

/* Environment common to the tests: no CLBlast warm-up (it is not under
 * test here and costs seconds per child on PoCL without its cache), info
 * logs for the cache messages. */
#define BASE_ENV "CREASE_OPENCL_WARMUP", "0", "CREASE_LOG", "info"

/* ------------------------------------------------------------ tests */

START_TEST(test_device_info)
{
    struct child_result r;
    const char *env[] = {BASE_ENV, "CREASE_NO_CACHE", "1", NULL};
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_OK, "opencl:0 did not open: %s", r.error);
    const struct crease_device_info *in = &r.info;
    printf("opencl:0: %s | %s | %s | %s | %s | %s | %d CUs | %llu MiB, max alloc %llu MiB | "
           "fp16 %d fp64 %d\n",
           in->name, in->vendor, in->platform, in->driver_version, in->language_version,
           in->type, in->compute_units, (unsigned long long)(in->global_mem_bytes >> 20),
           (unsigned long long)(in->max_alloc_bytes >> 20), in->fp16, in->fp64);
    ck_assert(in->name[0] && in->vendor[0] && in->platform[0] && in->driver_version[0]);
    ck_assert_msg(!strncmp(in->language_version, "OpenCL C ", 9), "%s", in->language_version);
    ck_assert_msg(!strcmp(in->type, "cpu") || !strcmp(in->type, "gpu") ||
                      !strcmp(in->type, "accelerator") || !strcmp(in->type, "other"),
                  "type %s", in->type);
    ck_assert_int_gt(in->compute_units, 0);
    ck_assert(in->max_alloc_bytes > 0 && in->max_alloc_bytes <= in->global_mem_bytes);
}
END_TEST

START_TEST(test_broken_kernel_source)
{
    char *dir = kernel_dir_copy("loss.cl");
    struct child_result r;
    const char *env[] = {BASE_ENV, "CREASE_NO_CACHE", "1", "CREASE_OPENCL_KERNEL_DIR", dir, NULL};
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_EBACKEND, "open with a broken kernel: status %d (%s)",
                  r.status, r.error);
    ck_assert_msg(strstr(r.error, "build log") != NULL, "no build log in: %s", r.error);
    /* the compiler's complaint names the culprit */
    ck_assert_msg(strstr(r.error, "undeclared_thing") != NULL,
                  "the build log does not name the error: %s", r.error);
    printf("broken kernel: %.200s...\n", r.error);
    ck_remove_tree(dir);
    free(dir);

    /* The same directory with intact copies works: the override reads the
     * files, not the embedded sources. */
    dir = kernel_dir_copy(NULL);
    const char *env2[] = {BASE_ENV, "CREASE_NO_CACHE", "1", "CREASE_OPENCL_KERNEL_DIR", dir, NULL};
    run_child(ACT_OPEN, env2, &r);
    ck_assert_msg(r.status == CREASE_OK, "open with copied kernels: %s", r.error);
    ck_assert_msg(strstr(r.log, "CREASE_OPENCL_KERNEL_DIR") != NULL,
                  "the override was not used:\n%s", r.log);

    /* A missing file is an I/O error naming it. */
    char victim[4096];
    snprintf(victim, sizeof victim, "%s/optim.cl", dir);
    unlink(victim);
    run_child(ACT_OPEN, env2, &r);
    ck_assert_int_eq(r.status, CREASE_EIO);
    ck_assert_msg(strstr(r.error, "optim.cl") != NULL, "error does not name the file: %s",
                  r.error);
    ck_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_oversized_allocation)
{
    struct child_result r;
    const char *env[] = {BASE_ENV, "CREASE_NO_CACHE", "1", NULL};
    run_child(ACT_ALLOC_HUGE, env, &r);
    ck_assert_msg(r.status == CREASE_ENOMEM, "allocation over the max alloc size: status %d (%s)",
                  r.status, r.error);
    ck_assert_msg(strstr(r.error, "CL_DEVICE_MAX_MEM_ALLOC_SIZE") != NULL, "%s", r.error);
    ck_assert_msg(r.detail == 2, "detail %d: %s", r.detail, r.error);
}
END_TEST

START_TEST(test_device_lost)
{
    struct child_result r;
    const char *env[] = {BASE_ENV, "CREASE_NO_CACHE", "1", "CREASE_OPENCL_FAULT", "sync", NULL};
    run_child(ACT_LOST, env, &r);
    ck_assert_msg(r.status == CREASE_EDEVICE_LOST, "sync after the fault: status %d (%s)",
                  r.status, r.error);
    ck_assert_msg(r.detail == 6, "only %d of 6 device-lost checks passed; first error: %s",
                  r.detail, r.error);
    printf("device lost: %.160s\n", r.error);
}
END_TEST

/* Cold open (fills the cache), damage the entry, open again: the open works,
 * the damage is reported, the entry is rewritten and then used. */
static void damaged_entry(int truncate_it)
{
    char *xdg = make_temp_dir();
    const char *env[] = {BASE_ENV, "XDG_CACHE_HOME", xdg, "CREASE_NO_CACHE", NULL, NULL};
    struct child_result r;
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_OK, "cold open: %s", r.error);
    ck_assert_msg(strstr(r.log, "built from source"), "cold open did not build:\n%s", r.log);
    char entry[4200];
    cache_entry(xdg, entry, sizeof entry);
    size_t len;
    unsigned char *good = ck_slurp(entry, &len);
    ck_assert_uint_gt(len, 64);

    if (truncate_it) {
        ck_assert_int_eq(truncate(entry, (off_t)(len / 2)), 0);
    } else {
        unsigned char *bad = malloc(len);
        memcpy(bad, good, len);
        bad[len / 2] ^= 0x5a; /* in the payload: only the checksum can tell */
        ck_write_file(entry, bad, len);
        free(bad);
    }
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_OK, "open with a damaged entry: %s", r.error);
    ck_assert_msg(strstr(r.log, "unusable") && strstr(r.log, "built from source"),
                  "damaged entry not detected and rebuilt:\n%s", r.log);
    ck_assert_msg(strstr(r.log, truncate_it ? "truncated" : "checksum"),
                  "wrong diagnosis:\n%s", r.log);

    /* rewritten: a valid entry again, used by the next open */
    size_t len2;
    unsigned char *again = ck_slurp(entry, &len2);
    ck_assert_uint_eq(len2, len);
    free(again);
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_OK, "open after the rewrite: %s", r.error);
    ck_assert_msg(strstr(r.log, "loaded from cache"), "rewritten entry not used:\n%s", r.log);
    char ours[4200];
    snprintf(ours, sizeof ours, "%s/crease", xdg);
    ck_assert_int_eq(count_files(ours), 1); /* no temporary files left */
    free(good);
    ck_remove_tree(xdg);
    free(xdg);
}

START_TEST(test_cache_corrupt_entry)
{
    damaged_entry(0);
}
END_TEST

START_TEST(test_cache_truncated_entry)
{
    damaged_entry(1);
}
END_TEST

START_TEST(test_no_cache_writes_nothing)
{
    char *xdg = make_temp_dir();
    const char *env[] = {BASE_ENV, "XDG_CACHE_HOME", xdg, "CREASE_NO_CACHE", "1", NULL};
    struct child_result r;
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(r.status == CREASE_OK, "open: %s", r.error);
    char ours[4200];
    snprintf(ours, sizeof ours, "%s/crease", xdg);
    ck_assert_int_eq(count_files(ours), 0);
    /* nothing read either: a second open builds again */
    run_child(ACT_OPEN, env, &r);
    ck_assert_msg(strstr(r.log, "built from source"), "%s", r.log);
    ck_assert_int_eq(count_files(ours), 0);
    ck_remove_tree(xdg);
    free(xdg);
}
END_TEST

/* The program build time the plugin logged: "... built from source in X s"
 * or "... loaded from cache PATH in X s"; -1 when neither is there. */
static double logged_build_time(const char *log)
{
    const char *keys[] = {"built from source in ", "loaded from cache "};
    for (int k = 0; k < 2; k++) {
        const char *p = strstr(log, keys[k]);
        if (!p)
            continue;
        p += strlen(keys[k]);
        if (k == 1) {
            p = strstr(p, " in ");
            if (!p)
                continue;
            p += 4;
        }
        return strtod(p, NULL);
    }
    return -1.0;
}

START_TEST(test_cold_warm_build_time)
{
    /* Drivers keep compiler caches of their own (PoCL in
     * $XDG_CACHE_HOME/pocl, NVIDIA in ~/.nv/ComputeCache); both off, so
     * that the cold open really compiles and the difference is ours. */
    char *xdg = make_temp_dir();
    const char *env[] = {BASE_ENV, "XDG_CACHE_HOME", xdg, "CREASE_NO_CACHE", NULL,
                         "POCL_KERNEL_CACHE", "0", "CUDA_CACHE_DISABLE", "1", NULL};
    struct child_result cold, warm;
    run_child(ACT_OPEN, env, &cold);
    ck_assert_msg(cold.status == CREASE_OK, "cold open: %s", cold.error);
    ck_assert_msg(strstr(cold.log, "built from source"), "cold open did not build:\n%s",
                  cold.log);
    run_child(ACT_OPEN, env, &warm);
    ck_assert_msg(warm.status == CREASE_OK, "warm open: %s", warm.error);
    ck_assert_msg(strstr(warm.log, "loaded from cache"), "warm open missed the cache:\n%s",
                  warm.log);
    double tc = logged_build_time(cold.log), tw = logged_build_time(warm.log);
    printf("program build: cold (from source) %.3f s, warm (cached binary) %.3f s; "
           "whole device open: cold %.3f s, warm %.3f s\n",
           tc, tw, cold.seconds, warm.seconds);
    ck_assert_msg(tc >= 0 && tw >= 0, "no build times in the logs:\n%s\n%s", cold.log, warm.log);
    ck_assert_msg(tw < tc, "warm %.3f s is not faster than cold %.3f s", tw, tc);
    ck_remove_tree(xdg);
    free(xdg);
}
END_TEST

int main(void)
{
    /* Is there an OpenCL device?  Asked in a child, so that this process
     * never initialises OpenCL before forking. */
    struct child_result probe;
    const char *env[] = {"CREASE_LOG", "info", NULL};
    if (spawn_child(ACT_PROBE, env, &probe) != 0) {
        printf("FAIL: probing for OpenCL devices: %s\n%s\n", probe.error, probe.log);
        return EXIT_FAILURE;
    }
    if (probe.status != CREASE_OK) {
        /* skip only for "no device"; a plugin that fails otherwise fails */
        const char *why = probe.error;
        if (strstr(why, "no OpenCL platform") || strstr(why, "but no device") ||
            strstr(why, "no available OpenCL device")) {
            printf("SKIP: no OpenCL device: %s\n", why);
            return CK_EXIT_SKIP;
        }
        printf("FAIL: the opencl plugin is not loaded: %s\n", why[0] ? why : "(not found)");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("opencl");
    /* PoCL compiles in seconds; under load or sanitizers much slower */
    ck_add_tcase(s, "plugin", NULL, NULL, 600,
                 CK_TESTS(test_device_info, test_broken_kernel_source, test_oversized_allocation,
                          test_device_lost, test_cache_corrupt_entry, test_cache_truncated_entry,
                          test_no_cache_writes_nothing, test_cold_warm_build_time));
    return ck_run(s);
}
