/* util.c -- file helpers and a monotonic clock. */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double crease__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int crease__read_file(const char *path, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return crease__error(CREASE_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return crease__error(CREASE_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return crease__error(CREASE_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err || got != n) {
        free(buf);
        return crease__error(CREASE_EIO, "%s: read error: %s", path,
                             err ? strerror(err) : "the file changed size while being read");
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return CREASE_OK;
}

/* Writes all of data to fd; 0 or an errno. */
static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_replace(const char *path, const char *real, const void *data, size_t len);
/* N if name is /dev/fd/N or /proc/self/fd/N, else -1. */
static int fd_of_name(const char *name)
{
    const char *num = !strncmp(name, "/dev/fd/", 8)         ? name + 8
                      : !strncmp(name, "/proc/self/fd/", 14) ? name + 14
                                                              : NULL;
    if (!num || *num < '0' || *num > '9')
        return -1;
    char *end;
    long fd = strtol(num, &end, 10);
    return *end || fd > 1 << 20 ? -1 : (int)fd;
}

/* The descriptor a path names, or -1: /dev/fd/N, /proc/self/fd/N, or a
 * link to one of those (/dev/stdout -> /proc/self/fd/1). */
static int fd_of_path(const char *path)
{
    int fd = fd_of_name(path);
    if (fd >= 0)
        return fd;
    char link[64];
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return -1;
    link[n] = '\0';
    return fd_of_name(link);
}

/* In place: one of the process's descriptors (written through a duplicate,
 * so that it shares the descriptor's position: a log on /dev/stdout lands
 * where stdout is, not over it), or an existing path that is neither a
 * regular file nor a directory (a device, a FIFO), opened for writing. */
static int write_in_place(const char *path, int fdn, const void *data, size_t len)
{
    int fd = fdn >= 0 ? fcntl(fdn, F_DUPFD_CLOEXEC, 0) : open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return crease__error(CREASE_EIO, "%s: cannot open: %s", path, strerror(errno));
    int e = write_all(fd, data, len);
    if (close(fd) != 0 && !e)
        e = errno;
    if (e)
        return crease__error(CREASE_EIO, "%s: write failed: %s", path, strerror(e));
    return CREASE_OK;
}

int crease__write_file_atomic(const char *path, const void *data, size_t len)
{
    if (!path || !*path)
        return crease__error(CREASE_EINVAL, "no output path");
    if (!data && len)
        return crease__error(CREASE_EINVAL, "%s: no data", path);
    struct stat sb;
    int fdn = fd_of_path(path);
    if (fdn >= 0 || (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)))
        return write_in_place(path, fdn, data, len);
    /* a link to a file: replace the file, keep the link (a dangling link
     * is replaced itself) */
    char *real = NULL;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        real = realpath(path, NULL);
    int rc = write_replace(path, real ? real : path, data, len);
    free(real);
    return rc;
}

crease_status crease_write_file(const char *path, const void *data, size_t len)
{
    return crease__write_file_atomic(path, data, len);
}

/* Writes data to `real` through a temporary file beside it and a rename;
 * errors name `path`, the name the caller gave. */
static int write_replace(const char *path, const char *real, const void *data, size_t len)
{
    size_t plen = strlen(real);
    char *tmp = malloc(plen + 16);
    if (!tmp) return crease__error(CREASE_ENOMEM, "out of memory");
    memcpy(tmp, real, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return crease__error(CREASE_EIO, "%s: cannot create a temporary file beside it: %s",
                             path, strerror(e));
    }
    int we = write_all(fd, data, len);
    if (we) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return crease__error(CREASE_EIO, "%s: write failed: %s", path, strerror(we));
    }
    /* mkstemp makes 0600 files; a saved model should be as readable as any
     * file the user creates. */
    mode_t um = umask(0);
    umask(um);
    int e = 0;
    if (fchmod(fd, 0666 & ~um) != 0 || fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e) /* closed in any case: no descriptor leaks */
        e = errno;
    if (e) {
        unlink(tmp);
        free(tmp);
        return crease__error(CREASE_EIO, "%s: cannot finish writing: %s", path, strerror(e));
    }
    if (rename(tmp, real) != 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return crease__error(CREASE_EIO, "%s: cannot rename the temporary file into place: %s",
                             path, strerror(e));
    }
    free(tmp);
    return CREASE_OK;
}
