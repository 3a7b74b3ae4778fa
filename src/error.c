/* error.c -- status strings, the per-thread last-error detail, logging. */
#include "config.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static _Thread_local char last_error[2048];

const char *crease_status_str(crease_status s)
{
    switch (s) {
    case CREASE_OK: return "success";
    case CREASE_EINVAL: return "invalid argument";
    case CREASE_ENOMEM: return "out of memory";
    case CREASE_EIO: return "input/output error";
    case CREASE_EFORMAT: return "malformed data";
    case CREASE_ENODEV: return "no such backend or device";
    case CREASE_EPLUGIN: return "plugin could not be loaded";
    case CREASE_EBACKEND: return "backend error";
    case CREASE_EUNSUPPORTED: return "not supported by this backend";
    case CREASE_EDEVICE_LOST: return "device lost after an earlier error";
    default: return "unknown status";
    }
}

const char *crease_last_error(void)
{
    return last_error;
}

const char *crease_version(void)
{
    return PACKAGE_VERSION;
}

int crease__verror(int status, const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return status;
}

int crease__error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    crease__verror(status, fmt, ap);
    va_end(ap);
    return status;
}

void crease__clear_error(void)
{
    last_error[0] = '\0';
}

/* CREASE_LOG: error, warning (default), info, debug -- or 0..3. */
static int log_level(void)
{
    const char *e = getenv("CREASE_LOG");
    if (!e || !*e) return 1;
    static const char *names[] = {"error", "warning", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(e, names[i])) return i;
    if (e[0] >= '0' && e[0] <= '3' && e[1] == '\0') return e[0] - '0';
    return 1;
}

static void crease__vlog(int level, const char *fmt, va_list ap)
{
    static const char *tag[] = {"error", "warning", "info", "debug"};
    if (level > log_level()) return;
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "crease %s: %s\n", tag[level], line);
}

void crease__log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    crease__vlog(level, fmt, ap);
    va_end(ap);
}

/* Plugins report errors and log lines through the core's own functions. */
const struct crease_host crease__host = {
    sizeof(struct crease_host),
    crease__error,
    crease__log,
};
