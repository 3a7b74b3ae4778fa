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

int crease__write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return crease__error(CREASE_ENOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return crease__error(CREASE_EIO, "%s: cannot create a temporary file beside it: %s",
                             path, strerror(e));
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return crease__error(CREASE_EIO, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
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
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return crease__error(CREASE_EIO, "%s: cannot rename the temporary file into place: %s",
                             path, strerror(e));
    }
    free(tmp);
    return CREASE_OK;
}
