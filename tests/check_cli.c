/*
 * check_cli.c -- tests of the crease command-line tool (tools/crease).
 *
 * Runs the built binary (path in $CREASE_CLI; under libtool a wrapper
 * script) with fork/exec, captures stdout, stderr and the exit status, and
 * checks help texts, argument errors (status 2, one line), input errors
 * (status 1 with a clear message), 'devices', a tiny train / save / eval
 * round trip on data written to a temporary directory, 'regions' against
 * the library's own counts, the pictures (valid PNG files), and a tiny
 * 'demo' end to end (table, CSV, Markdown, models, pictures).
 */
#define _XOPEN_SOURCE 700 /* posix_openpt */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <crease.h>

#include "check_common.h"

static const char *cli;    /* $CREASE_CLI */
static char tmpdir[256];   /* made by main, removed at the end */

typedef struct result {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            ck_assert_ptr_nonnull(bigger);
            buf = bigger;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *tmp_path(const char *name)
{
    size_t n = strlen(tmpdir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", tmpdir, name);
    return p;
}

/* Runs crease with the given arguments (NULL-terminated array). */
static result run_argv(const char *const *args)
{
    static int serial = 0;
    char out_name[64], err_name[64];
    snprintf(out_name, sizeof out_name, "stdout-%d-%d", (int)getpid(), serial);
    snprintf(err_name, sizeof err_name, "stderr-%d-%d", (int)getpid(), serial);
    serial++;
    char *out_path = tmp_path(out_name), *err_path = tmp_path(err_name);

    const char *argv[64];
    int n = 0;
    argv[n++] = cli;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit(126);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        ck_assert_msg(errno == EINTR, "waitpid: %s", strerror(errno));

    result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    free(out_path);
    free(err_path);
    return r;
}

/* RUN("train", "--epochs", "1") */
#define RUN(...) run_argv((const char *const[]){__VA_ARGS__, NULL})

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Help texts fit an 80-column terminal. */
static void assert_narrow(const char *text, const char *what)
{
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        ck_assert_msg(len < 80, "%s: line %d is %zu characters long: %.*s", what, line, len,
                      (int)len, p);
        p += len + (nl != NULL);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Two blobs separated by x = 0: a task a 2-8-2 net learns in an epoch. */
static void write_tiny_csv(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "x,y,label\n");
    unsigned s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        double x = ((s >> 8) % 1000) / 1000.0;
        s = s * 1103515245u + 12345u;
        double y = ((s >> 8) % 2000) / 1000.0 - 1.0;
        int label = i % 2;
        fprintf(f, "%.4f,%.4f,%d\n", label ? 0.1 + 0.9 * x : -0.1 - 0.9 * x, y, label);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* DIR/NAME, malloc'd. */
static char *cli_path_join_test(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

#define ASSERT_CONTAINS(hay, needle, what)                                                 \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "%s: expected '%s' in:\n%s", (what),  \
                  (needle), (hay))

/* ------------------------------------------------------------ help */

typedef struct help_case {
    const char *cmd;
    const char *options[24];
} help_case;

static const help_case help_cases[] = {
    {"devices", {"--help", NULL}},
    {"train",
     {"--model", "--act", "--data", "--device", "--epochs", "--batch", "--lr", "--optimizer",
      "--momentum", "--weight-decay", "--schedule", "--step-epochs", "--gamma", "--seed",
      "--save", "--log", "--quiet", "--png-curves", "--png-decision", "--png-regions",
      "--png-layers", "--map", "--help", NULL}},
    {"eval", {"--data", "--device", "--act", "--png-decision", "--map", "--help", NULL}},
    {"regions",
     {"--act", "--device", "--grid", "--max-cells", "--time-limit", "--png-regions",
      "--png-layers", "--png-decision", "--map", "--out", "--help", NULL}},
    {"demo",
     {"--device", "--epochs", "--seed", "--out", "--quick", "--widths", "--deep", "--map",
      "--help", NULL}},
    {"bench",
     {"--device", "--reference", "--threads", "--timeout", "--model", "--act", "--data",
      "--subsample", "--epochs", "--batch", "--lr", "--seed", "--target", "--format",
      "--help", NULL}},
};

START_TEST(test_help_command)
{
    const help_case *hc = &help_cases[_i];
    result r = RUN(hc->cmd, "--help");
    ck_assert_msg(r.status == 0, "crease %s --help: status %d, stderr %s", hc->cmd, r.status,
                  r.err);
    ck_assert_str_eq(r.err, "");
    char usage[64];
    snprintf(usage, sizeof usage, "usage: crease %s", hc->cmd);
    ASSERT_CONTAINS(r.out, usage, hc->cmd);
    for (int i = 0; hc->options[i]; i++)
        ASSERT_CONTAINS(r.out, hc->options[i], hc->cmd);
    assert_narrow(r.out, hc->cmd);
    /* Every option with a value states its default. */
    if (strcmp(hc->cmd, "train") == 0) {
        ASSERT_CONTAINS(r.out, "default 2-32-32-32-32-2", "train defaults");
        ASSERT_CONTAINS(r.out, "(default relu)", "train defaults");
        ASSERT_CONTAINS(r.out, "(default baarle)", "train defaults");
        ASSERT_CONTAINS(r.out, "(default adam)", "train defaults");
    }

    /* 'crease help CMD' and '-h' print the same text. */
    result r2 = RUN("help", hc->cmd);
    ck_assert_int_eq(r2.status, 0);
    ck_assert_str_eq(r2.out, r.out);
    result r3 = RUN(hc->cmd, "-h");
    ck_assert_int_eq(r3.status, 0);
    ck_assert_str_eq(r3.out, r.out);
    result_free(&r);
    result_free(&r2);
    result_free(&r3);
}
END_TEST

START_TEST(test_help_main)
{
    const char *forms[][2] = {{"--help", NULL}, {"-h", NULL}, {"help", NULL}};
    for (int f = 0; f < 3; f++) {
        result r = RUN(forms[f][0]);
        ck_assert_msg(r.status == 0, "crease %s: status %d", forms[f][0], r.status);
        ASSERT_CONTAINS(r.out, "usage: crease COMMAND", forms[f][0]);
        for (size_t i = 0; i < sizeof help_cases / sizeof help_cases[0]; i++)
            ASSERT_CONTAINS(r.out, help_cases[i].cmd, forms[f][0]);
        ASSERT_CONTAINS(r.out, "--version", forms[f][0]);
        ASSERT_CONTAINS(r.out, "CREASE_PLUGIN_PATH", forms[f][0]);
        assert_narrow(r.out, forms[f][0]);
        result_free(&r);
    }

    result v = RUN("--version");
    ck_assert_int_eq(v.status, 0);
    ck_assert_msg(strncmp(v.out, "crease ", 7) == 0, "--version printed: %s", v.out);
    ck_assert_int_eq(count_lines(v.out), 1);
    result_free(&v);

    /* No command: the usage on stderr, status 2. */
    result none = run_argv((const char *const[]){NULL});
    ck_assert_int_eq(none.status, 2);
    ASSERT_CONTAINS(none.err, "usage: crease COMMAND", "no command");
    result_free(&none);
}
END_TEST

/* ------------------------------------------------------------ bad arguments */

typedef struct bad_arg_case {
    const char *args[8];
    const char *fragment; /* expected in the one line on stderr */
} bad_arg_case;

static const bad_arg_case bad_args[] = {
    {{"bogus"}, "unknown command 'bogus'"},
    {{"trian"}, "did you mean 'train'"},
    {{"--bogus"}, "unknown option '--bogus'"},
    {{"help", "bogus"}, "unknown command 'bogus'"},
    {{"train", "--bogus"}, "unknown option '--bogus'"},
    {{"train", "--epoch", "3"}, "did you mean '--epochs'"},
    {{"train", "-x"}, "unknown option '-x'"},
    {{"train", "extra"}, "unexpected argument 'extra'"},
    {{"train", "--epochs"}, "--epochs needs a value"},
    {{"train", "--epochs="}, "--epochs needs a value"},
    {{"train", "--epochs", "abc"}, "'abc' is not a whole number"},
    {{"train", "--epochs", "10x"}, "'10x' is not a whole number"},
    {{"train", "--epochs", "1.5"}, "'1.5' is not a whole number"},
    {{"train", "--epochs", "0"}, "--epochs must be between 1 and"},
    {{"train", "--epochs", "-3"}, "--epochs must be between 1 and"},
    {{"train", "--epochs", "99999999999999999999999"}, "--epochs must be between 1 and"},
    {{"train", "--batch", "0"}, "--batch must be between 1 and"},
    {{"train", "--step-epochs", "0"}, "--step-epochs must be between 1 and"},
    {{"train", "--lr", "abc"}, "--lr: 'abc' is not a number"},
    {{"train", "--lr", "1e-3x"}, "--lr: '1e-3x' is not a number"},
    {{"train", "--lr", "0"}, "--lr must be"},
    {{"train", "--lr", "-1"}, "--lr must be"},
    {{"train", "--lr", "nan"}, "not a finite number"},
    {{"train", "--lr", "inf"}, "not a finite number"},
    {{"train", "--momentum", "1"}, "--momentum must be in [0, 1)"},
    {{"train", "--momentum", "-0.1"}, "--momentum must be in [0, 1)"},
    {{"train", "--weight-decay", "-1"}, "--weight-decay must be"},
    {{"train", "--gamma", "0"}, "--gamma must be"},
    {{"train", "--seed", "-1"}, "--seed must not be negative"},
    {{"train", "--seed", "12ab"}, "'12ab' is not a whole number"},
    {{"train", "--seed", "99999999999999999999999"}, "--seed must be between"},
    {{"train", "--act", "swish"}, "unknown activation 'swish'"},
    {{"train", "--optimizer", "rmsprop"}, "unknown optimizer 'rmsprop'"},
    {{"train", "--schedule", "linear"}, "unknown schedule 'linear'"},
    {{"train", "--quiet=1"}, "--quiet takes no value"},
    {{"train", "--data", "points.txt"}, "'points.txt'"},
    {{"train", "--model", "2-0-2"}, "2-0-2"},
    {{"train", "--model", "2-x-2"}, "'x' is not a positive whole number"},
    {{"train", "--model", "2"}, "needs at least an input and an output width"},
    {{"train", "--model", "2--2"}, "empty width"},
    {{"train", "--model", "2-8-"}, "empty width"},
    {{"train", "--model", "-2-8-2"}, "empty width"},
    {{"eval"}, "eval needs a model file"},
    {{"eval", "a.safetensors", "b.safetensors"}, "unexpected argument 'b.safetensors'"},
    {{"eval", "a.safetensors", "--act", "gelu"}, "unknown activation 'gelu'"},
    {{"eval", "a.safetensors", "--epochs", "3"}, "unknown option '--epochs'"},
    {{"demo", "--epochs", "x"}, "'x' is not a whole number"},
    {{"demo", "--quick=yes"}, "--quick takes no value"},
    {{"demo", "--seed"}, "--seed needs a value"},
    {{"demo", "--widths", "0"}, "--widths: 0 is out of 1.."},
    {{"demo", "--widths", "8,,16"}, "empty item"},
    {{"demo", "--widths", "8,x"}, "'x' is not a positive whole number"},
    {{"demo", "--widths", "8,8"}, "2-8-2 is listed twice"},
    {{"demo", "--deep", "1x8"}, "2 to 63 hidden layers"},
    {{"demo", "--deep", "4y8"}, "neither LAYERSxWIDTH"},
    {{"demo", "--deep", "4x"}, "is not LAYERSxWIDTH"},
    {{"demo", "--deep", "16"}, "list it under --widths"},
    {{"demo", "--widths", "none", "--deep", "none"}, "nothing to train"},
    {{"demo", "extra"}, "unexpected argument 'extra'"},
    {{"regions"}, "regions needs a model file"},
    {{"regions", "a.safetensors", "b.safetensors"}, "unexpected argument 'b.safetensors'"},
    {{"regions", "a.safetensors", "--act", "tanh"}, "only for relu and leaky_relu"},
    {{"regions", "a.safetensors", "--act", "swish"}, "unknown activation 'swish'"},
    {{"regions", "a.safetensors", "--grid", "-1"}, "--grid must be between 0 and"},
    {{"regions", "a.safetensors", "--max-cells", "lots"}, "'lots' is not a whole number"},
    {{"regions", "a.safetensors", "--time-limit", "0"}, "--time-limit must be"},
    {{"regions", "a.safetensors", "--domain", "0,1,2"}, "--domain wants four numbers"},
    {{"regions", "a.safetensors", "--domain", "0,1,0,x"}, "--domain wants four numbers"},
    {{"regions", "a.safetensors", "--domain", "1,0,0,1"}, "--domain 1,0,0,1 is empty"},
    {{"regions", "a.safetensors", "--data", "points.txt"}, "--data"},
    {{"regions", "a.safetensors", "--png-regions", "a.png", "--png-layers", "a.png"},
     "name the same file 'a.png'"},
    {{"regions", "a.safetensors", "--png-regions", "a.safetensors"}, "overwrite the model"},
    {{"eval", "a.safetensors", "--png-decision"}, "--png-decision needs a value"},
    {{"train", "--act", "tanh", "--png-regions", "r.png"}, "only for relu and leaky_relu"},
    {{"train", "--model", "2-2", "--png-layers", "r.png"}, "no hidden layer"},
    {{"train", "--model", "3-8-2", "--png-decision", "d.png"}, "must have 2 inputs"},
    {{"train", "--save", "m.png", "--png-curves", "m.png"}, "name the same file 'm.png'"},
    {{"devices", "extra"}, "unexpected argument 'extra'"},
    {{"devices", "--all"}, "unknown option '--all'"},
    {{"bench", "extra"}, "unexpected argument 'extra'"},
    {{"bench", "--format", "xml"}, "unknown format 'xml'"},
    {{"bench", "--epochs", "0"}, "--epochs must be between 1 and"},
    {{"bench", "--subsample", "0"}, "--subsample must be between 1 and"},
    {{"bench", "--threads", "0"}, "--threads must be between 1 and"},
    {{"bench", "--target", "0"}, "--target must be in (0, 1]"},
    {{"bench", "--target", "97"}, "--target must be in (0, 1]"},
    {{"bench", "--timeout", "-1"}, "--timeout must be"},
    {{"bench", "--device", "cpu,,opencl"}, "empty item"},
    {{"bench", "--device"}, "--device needs a value"},
    {{"bench", "--model", "2-x-2"}, "'x' is not a positive whole number"},
    {{"bench", "--model", "3-8-2"}, "the first width must be 2"},
    {{"bench", "--worker", "3"}, "--worker needs a file descriptor and a target"},
    {{"bench", "--optimizer", "rms"}, "unknown optimizer 'rms'"},
    {{"bench", "--schedule", "linear"}, "unknown schedule 'linear'"},
};

START_TEST(test_bad_argument)
{
    const bad_arg_case *c = &bad_args[_i];
    char what[256] = "crease";
    for (int i = 0; c->args[i]; i++) {
        size_t l = strlen(what);
        snprintf(what + l, sizeof what - l, " %s", c->args[i]);
    }
    result r = run_argv(c->args);
    ck_assert_msg(r.status == 2, "%s: status %d (want 2), stderr: %s", what, r.status, r.err);
    ck_assert_msg(count_lines(r.err) == 1, "%s: want one line on stderr, got:\n%s", what,
                  r.err);
    ck_assert_msg(strncmp(r.err, "crease: ", 8) == 0, "%s: stderr: %s", what, r.err);
    ASSERT_CONTAINS(r.err, c->fragment, what);
    ASSERT_CONTAINS(r.err, "--help')", what);
    ck_assert_msg(strcmp(r.out, "") == 0, "%s: stdout not empty: %s", what, r.out);
    result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ bad input */

START_TEST(test_bad_csv)
{
    char *bad = tmp_path("bad.csv");
    write_file(bad, "x,y,label\n0.1,0.2,0\n0.3,abc,1\n0.5,0.5,1\n");
    result r = RUN("train", "--data", bad, "--model", "2-4-2", "--epochs", "1", "--quiet");
    ck_assert_msg(r.status == 1, "bad CSV: status %d, stderr %s", r.status, r.err);
    ASSERT_CONTAINS(r.err, "crease: cannot load the CSV", "bad CSV");
    ASSERT_CONTAINS(r.err, "bad.csv:3", "bad CSV"); /* the library names file:line */
    ck_assert_str_eq(r.out, "");
    result_free(&r);

    /* eval reads data the same way */
    result e = RUN("eval", "whatever.safetensors", "--data", bad);
    ck_assert_int_eq(e.status, 1);
    ASSERT_CONTAINS(e.err, "bad.csv:3", "eval bad CSV");
    result_free(&e);
    free(bad);
}
END_TEST

START_TEST(test_missing_files)
{
    char *missing = tmp_path("no-such-file.csv");
    result r = RUN("train", "--data", missing, "--epochs", "1", "--quiet");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "no-such-file.csv", "missing CSV");
    result_free(&r);
    free(missing);

    missing = tmp_path("no-such-mask.png");
    r = RUN("train", "--data", missing, "--epochs", "1", "--quiet");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "no-such-mask.png", "missing PNG");
    result_free(&r);
    free(missing);

    char *tiny = tmp_path("tiny-missing.csv");
    write_tiny_csv(tiny, 64);
    char *model = tmp_path("no-such-model.safetensors");
    r = RUN("eval", model, "--data", tiny);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot load the model", "missing model");
    ASSERT_CONTAINS(r.err, "no-such-model.safetensors", "missing model");
    result_free(&r);

    char *junk = tmp_path("junk.safetensors");
    write_file(junk, "this is not a safetensors file\n");
    r = RUN("eval", junk, "--data", tiny);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot load the model", "junk model");
    result_free(&r);

    /* --save into a directory that does not exist fails before training. */
    char *nodir = tmp_path("no-such-dir/m.safetensors");
    r = RUN("train", "--data", tiny, "--model", "2-4-2", "--epochs", "1", "--save", nodir,
            "--quiet");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot write the model file", "--save nodir");
    result_free(&r);

    free(nodir);
    free(junk);
    free(model);
    free(tiny);
}
END_TEST

START_TEST(test_bad_device)
{
    char *tiny = tmp_path("tiny-dev.csv");
    write_tiny_csv(tiny, 64);
    const char *devs[] = {"foo:0", "cpu:7"};
    for (int i = 0; i < 2; i++) {
        result r = RUN("train", "--device", devs[i], "--data", tiny, "--model", "2-4-2",
                       "--epochs", "1", "--quiet");
        ck_assert_msg(r.status == 1, "--device %s: status %d", devs[i], r.status);
        ck_assert_msg(strncmp(r.err, "crease: cannot open ", 20) == 0, "--device %s: %s",
                      devs[i], r.err);
        ASSERT_CONTAINS(r.err, devs[i], devs[i]);
        result_free(&r);
    }
    free(tiny);
}
END_TEST

START_TEST(test_model_mismatch)
{
    char *tiny = tmp_path("tiny-mismatch.csv");
    write_tiny_csv(tiny, 64);
    result r = RUN("train", "--data", tiny, "--model", "3-8-2", "--epochs", "1", "--quiet");
    ck_assert_int_eq(r.status, 2);
    ck_assert_int_eq(count_lines(r.err), 1);
    ASSERT_CONTAINS(r.err, "the first width must be 2", "3-8-2");
    result_free(&r);

    r = RUN("train", "--data", tiny, "--model", "2-8-3", "--epochs", "1", "--quiet");
    ck_assert_int_eq(r.status, 2);
    ck_assert_int_eq(count_lines(r.err), 1);
    ASSERT_CONTAINS(r.err, "the last width must be 2", "2-8-3");
    result_free(&r);
    free(tiny);
}
END_TEST

/* The demo checks its options and its output directory before training. */
START_TEST(test_demo_fails_early)
{
    char *file = tmp_path("not-a-dir");
    write_file(file, "x\n");
    result r = RUN("demo", "--out", file);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "is not a directory", "demo --out FILE");
    ck_assert_str_eq(r.out, "");
    result_free(&r);

    r = RUN("demo", "--device", "foo:0", "--quick");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "foo:0", "demo --device foo:0");
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    free(file);
}
END_TEST

/* ------------------------------------------------------------ devices */

START_TEST(test_devices)
{
    result r = RUN("devices");
    ck_assert_msg(r.status == 0, "devices: status %d, stderr %s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "plugin cpu", "devices");
    ASSERT_CONTAINS(r.out, "cpu:0", "devices");
    ASSERT_CONTAINS(r.out, "compute units", "devices");
    ASSERT_CONTAINS(r.out, "ABI 1.", "devices");
    result_free(&r);
}
END_TEST

/* Broken plugins on the path are listed as skipped, with the reason. */
START_TEST(test_devices_skipped)
{
    const char *dir = getenv("CREASE_TEST_PLUGIN_DIR");
    if (!dir || access(dir, R_OK) != 0)
        return;
    const char *old = getenv("CREASE_PLUGIN_PATH");
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", dir, old ? ":" : "", old ? old : "");
    setenv("CREASE_PLUGIN_PATH", path, 1); /* this test runs in its own process */
    result r = RUN("devices");
    ck_assert_msg(r.status == 0, "devices: status %d, stderr %s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "cpu:0", "devices with broken plugins");
    ASSERT_CONTAINS(r.out, "skipped: ", "devices with broken plugins");
    ASSERT_CONTAINS(r.out, "crease-badabi", "devices with broken plugins");
    ASSERT_CONTAINS(r.out, "crease-noentry", "devices with broken plugins");
    result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ train, eval */

START_TEST(test_train_save_eval)
{
    char *tiny = tmp_path("tiny.csv");
    char *model = tmp_path("tiny.safetensors");
    char *curve = tmp_path("curve.csv");
    write_tiny_csv(tiny, 400);

    result r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "3", "--batch", "32",
                   "--lr", "0.01", "--seed", "7", "--save", model, "--log", curve);
    ck_assert_msg(r.status == 0, "train: status %d, stderr:\n%s", r.status, r.err);
    /* stderr is not a terminal: one plain line per epoch */
    ASSERT_CONTAINS(r.err, "epoch 1/3", "progress");
    ASSERT_CONTAINS(r.err, "epoch 3/3", "progress");
    ck_assert_msg(strchr(r.err, '\r') == NULL, "no carriage returns when not a TTY");
    ASSERT_CONTAINS(r.out, "2-8-2", "summary");
    ASSERT_CONTAINS(r.out, "parameters", "summary");
    ASSERT_CONTAINS(r.out, "balanced accuracy", "summary");
    ASSERT_CONTAINS(r.out, "all 400 labelled points", "summary");
    ASSERT_CONTAINS(r.out, model, "summary");
    result_free(&r);

    ck_assert_msg(file_size(model) > 0, "model file %s not written", model);
    char *log = slurp(curve);
    ck_assert_msg(strncmp(log, "epoch,lr,loss,accuracy,balanced_accuracy,seconds\n", 49) == 0,
                  "log header: %s", log);
    ck_assert_int_eq(count_lines(log), 4);
    ASSERT_CONTAINS(log, "\n3,", "log rows");
    free(log);

    /* No temporary files left beside the outputs. */
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        ck_assert_msg(strstr(de->d_name, ".tmp") == NULL, "left over: %s", de->d_name);
    closedir(d);

    result e = RUN("eval", model, "--data", tiny);
    ck_assert_msg(e.status == 0, "eval: status %d, stderr:\n%s", e.status, e.err);
    ASSERT_CONTAINS(e.out, "2-8-2", "eval");
    ASSERT_CONTAINS(e.out, "loss", "eval");
    ASSERT_CONTAINS(e.out, "balanced accuracy", "eval");
    ASSERT_CONTAINS(e.out, "400 labelled points", "eval");
    ck_assert_str_eq(e.err, "");
    result_free(&e);

    free(curve);
    free(model);
    free(tiny);
}
END_TEST

START_TEST(test_train_binary_quiet)
{
    char *tiny = tmp_path("tiny-binary.csv");
    write_tiny_csv(tiny, 200);
    result r = RUN("train", "--data", tiny, "--model", "2-8-1", "--epochs", "2", "--batch", "50",
                   "--optimizer", "sgd", "--momentum", "0.5", "--schedule", "step",
                   "--step-epochs", "1", "--gamma", "0.5", "--act", "tanh", "--quiet");
    ck_assert_msg(r.status == 0, "train 2-8-1: status %d, stderr:\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, ""); /* --quiet: nothing on stderr */
    ASSERT_CONTAINS(r.out, "2-8-1 (tanh)", "summary");
    ASSERT_CONTAINS(r.out, "accuracy", "summary");
    result_free(&r);
    free(tiny);
}
END_TEST

/* The line of `out` that starts with `label`, copied into buf. */
static const char *summary_line(const char *out, const char *label, char *buf, size_t len)
{
    const char *p = out;
    size_t n = strlen(label);
    while (p && *p) {
        if (!strncmp(p, label, n) && p[n] == ' ') {
            const char *e = strchr(p, '\n');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            snprintf(buf, len, "%.*s", (int)k, p);
            return buf;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    ck_abort_msg("no line '%s' in:\n%s", label, out);
    return NULL;
}

/* --standardize: data far from the unit square trains on scaled inputs;
 * the scaling is folded into the first layer, so the saved model
 * evaluates the raw data exactly as the training summary said.  Without
 * it, a hint. */
START_TEST(test_train_standardize)
{
    char *tiny = tmp_path("tiny-std.csv"), *far = tmp_path("far-std.csv");
    char *model = tmp_path("far-std.safetensors");
    write_tiny_csv(tiny, 400);
    /* the same points, shifted and stretched: x * 40 + 300, y * 0.01 - 7 */
    char *text = slurp(tiny);
    FILE *f = fopen(far, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "x,y,label\n");
    for (char *line = strchr(text, '\n') + 1; line && *line;) {
        double x, y;
        int l;
        ck_assert_int_eq(sscanf(line, "%lf,%lf,%d", &x, &y, &l), 3);
        fprintf(f, "%.6f,%.8f,%d\n", x * 40 + 300, y * 0.01 - 7, l);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    ck_assert_int_eq(fclose(f), 0);
    free(text);

    result r = RUN("train", "--data", far, "--model", "2-8-2", "--epochs", "4", "--batch", "50");
    ck_assert_msg(r.status == 0, "train far: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.err, "--standardize trains on scaled inputs", "the hint");
    result_free(&r);
    r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "1", "--batch", "50");
    ck_assert_msg(strstr(r.err, "--standardize") == NULL, "a hint for unit-scale data:\n%s",
                  r.err);
    result_free(&r);

    r = RUN("train", "--data", far, "--model", "2-8-2", "--epochs", "10", "--batch", "50",
            "--lr", "0.05", "--standardize", "--save", model);
    ck_assert_msg(r.status == 0, "train --standardize: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "standardized       x: mean 299.", "the summary");
    ASSERT_CONTAINS(r.out, "(folded into the", "the summary");
    char trained[128], evaluated[128];
    summary_line(r.out, "balanced accuracy", trained, sizeof trained);
    double bacc = 0;
    ck_assert_int_eq(sscanf(trained, "balanced accuracy %lf", &bacc), 1);
    ck_assert_msg(bacc > 95.0, "standardized training reached only %s", trained);
    result_free(&r);
    r = RUN("eval", model, "--data", far);
    ck_assert_msg(r.status == 0, "eval: status %d, stderr:\n%s", r.status, r.err);
    summary_line(r.out, "balanced accuracy", evaluated, sizeof evaluated);
    ck_assert_str_eq(evaluated, trained);
    result_free(&r);
    free(tiny);
    free(far);
    free(model);
}
END_TEST

/* Outputs that are not regular files (/dev/stdout, /dev/full) are written
 * in place: a rename must never replace a device node. */
START_TEST(test_train_special_outputs)
{
    char *tiny = tmp_path("tiny-special.csv");
    write_tiny_csv(tiny, 200);
    result r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "2", "--batch", "50",
                   "--quiet", "--log", "/dev/stdout");
    ck_assert_msg(r.status == 0, "train --log /dev/stdout: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "epoch,lr,loss,accuracy,balanced_accuracy,seconds\n1,", "the log");
    result_free(&r);
    /* /dev/fd/1 too, and the log does not overwrite the summary (the same
     * file, written at its own position) */
    r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "2", "--batch", "50",
            "--log", "/dev/fd/1");
    ck_assert_msg(r.status == 0, "train --log /dev/fd/1: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "epoch,lr,loss,accuracy,balanced_accuracy,seconds\n1,", "the log");
    ASSERT_CONTAINS(r.out, "balanced accuracy", "the summary beside the log");
    result_free(&r);
    /* a link to a file stays a link; the file it names gets the log */
    char *target = tmp_path("target-log.csv"), *link = tmp_path("link-log.csv");
    write_file(target, "old\n");
    ck_assert_int_eq(symlink(target, link), 0);
    r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "2", "--batch", "50",
            "--quiet", "--log", link);
    ck_assert_msg(r.status == 0, "train --log LINK: status %d, stderr:\n%s", r.status, r.err);
    result_free(&r);
    struct stat sb;
    ck_assert_int_eq(lstat(link, &sb), 0);
    ck_assert_msg(S_ISLNK(sb.st_mode), "the link was replaced by a file");
    char *text = slurp(target);
    ASSERT_CONTAINS(text, "epoch,lr,loss", "the linked file");
    free(text);
    unlink(link);
    unlink(target);
    free(link);
    free(target);
    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        static const char *const opts[] = {"--log", "--save", "--png-decision"};
        for (int i = 0; i < 3; i++) {
            r = RUN("train", "--data", tiny, "--model", "2-8-2", "--epochs", "1", "--batch", "50",
                    "--quiet", opts[i], "/dev/full");
            ck_assert_msg(r.status == 1, "%s /dev/full: status %d", opts[i], r.status);
            ASSERT_CONTAINS(r.err, "No space left on device", "the error");
            result_free(&r);
            ck_assert_msg(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode),
                          "%s replaced /dev/full", opts[i]);
        }
    } else {
        printf("SKIP test_train_special_outputs: no /dev/full character device\n");
    }
    free(tiny);
}
END_TEST

/* With stderr on a terminal, progress is one line redrawn with '\r'. */
START_TEST(test_train_tty_progress)
{
    char *tiny = tmp_path("tiny-tty.csv");
    write_tiny_csv(tiny, 200);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        if (master >= 0)
            close(master);
        free(tiny);
        return; /* no pseudo-terminals here */
    }
    const char *slave = ptsname(master);
    ck_assert_ptr_nonnull(slave);
    char *out_path = tmp_path("tty-stdout");

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int s = open(slave, O_RDWR | O_NOCTTY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (s < 0 || o < 0)
            _exit(126);
        close(master);
        dup2(o, 1);
        dup2(s, 2);
        close(s);
        setenv("TERM", "xterm", 1);
        execl(cli, cli, "train", "--data", tiny, "--model", "2-8-2", "--epochs", "2", "--batch",
              "20", (char *)NULL);
        _exit(127);
    }
    /* Read the terminal until the child has closed it (read fails with EIO). */
    char buf[8192];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(master, buf + n, sizeof buf - 1 - n);
        if (got <= 0) {
            if (got < 0 && errno == EINTR)
                continue;
            break;
        }
        n += (size_t)got;
        if (n == sizeof buf - 1)
            n = 0; /* keep reading; only the tail matters */
    }
    buf[n] = '\0';
    close(master);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "train on a tty failed: %s", buf);
    ck_assert_msg(strchr(buf, '\r') != NULL, "no live progress line on the terminal: %s", buf);
    ASSERT_CONTAINS(buf, "epoch 2/2 [", "tty progress");
    ASSERT_CONTAINS(buf, "100%", "tty progress");
    char *out = slurp(out_path);
    ASSERT_CONTAINS(out, "balanced accuracy", "tty summary");
    free(out);
    free(out_path);
    free(tiny);
}
END_TEST

/* A model trained by PyTorch, read from the shared data (if present), on
 * the Baarle mask given as a .png path. */
START_TEST(test_eval_reference)
{
    const char *shared = getenv("CREASE_SHARED_DATA");
    const char *src = getenv("CREASE_SRCDIR");
    if (!shared || !src)
        return;
    char model[1024], mask[1024];
    snprintf(model, sizeof model, "%s/baarle/reference-models/baarle-32_32_32_1.safetensors",
             shared);
    snprintf(mask, sizeof mask, "%s/data/baarle-labels.png", src);
    if (file_size(model) <= 0 || file_size(mask) <= 0)
        return;
    result r = RUN("eval", model, "--data", mask);
    ck_assert_msg(r.status == 0, "eval reference: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "2-32-32-32-2", "reference");
    ASSERT_CONTAINS(r.out, "858,619 labelled points", "reference");
    result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ pictures */

/* A PNG file: the signature, an IHDR chunk with a sensible size, and more
 * than a blank picture's worth of data. */
static void assert_png(const char *path, unsigned min_w, unsigned min_h)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s not written: %s", path, strerror(errno));
    unsigned char h[24];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    ck_assert_msg(n == sizeof h && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0,
                  "%s: no PNG signature", path);
    ck_assert_msg(memcmp(h + 12, "IHDR", 4) == 0, "%s: no IHDR chunk first", path);
    unsigned w = (unsigned)h[16] << 24 | (unsigned)h[17] << 16 | (unsigned)h[18] << 8 | h[19];
    unsigned ht = (unsigned)h[20] << 24 | (unsigned)h[21] << 16 | (unsigned)h[22] << 8 | h[23];
    ck_assert_msg(w >= min_w && ht >= min_h && w <= 8192 && ht <= 8192,
                  "%s: %ux%u pixels, want at least %ux%u", path, w, ht, min_w, min_h);
    ck_assert_msg(file_size(path) > 3000, "%s: only %ld bytes", path, file_size(path));
}

static void assert_no_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        ck_assert_msg(strstr(de->d_name, ".tmp") == NULL, "left over: %s/%s", dir, de->d_name);
    closedir(d);
}

/* Trains a tiny model on a tiny CSV into the temporary directory. */
static char *tiny_model(const char *name, const char *spec)
{
    char csv[128];
    snprintf(csv, sizeof csv, "%s.csv", name);
    char *data = tmp_path(csv);
    write_tiny_csv(data, 200);
    char file[128];
    snprintf(file, sizeof file, "%s.safetensors", name);
    char *model = tmp_path(file);
    result r = RUN("train", "--data", data, "--model", spec, "--epochs", "2", "--batch", "20",
                   "--lr", "0.01", "--save", model, "--quiet");
    ck_assert_msg(r.status == 0, "train %s: status %d, stderr:\n%s", spec, r.status, r.err);
    result_free(&r);
    free(data);
    return model;
}

START_TEST(test_train_eval_pictures)
{
    char *data = tmp_path("tiny-pics.csv");
    write_tiny_csv(data, 200);
    char *model = tmp_path("pics.safetensors");
    char *curves = tmp_path("pics-curves.png");
    char *decision = tmp_path("pics-decision.png");
    char *regions = tmp_path("pics-regions.png");
    char *layers = tmp_path("pics-layers.png");
    result r = RUN("train", "--data", data, "--model", "2-8-8-2", "--epochs", "3", "--batch",
                   "20", "--lr", "0.01", "--save", model, "--png-curves", curves,
                   "--png-decision", decision, "--png-regions", regions, "--png-layers", layers,
                   "--quiet");
    ck_assert_msg(r.status == 0, "train with pictures: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, curves, "train summary");
    ASSERT_CONTAINS(r.out, decision, "train summary");
    ASSERT_CONTAINS(r.out, regions, "train summary");
    ASSERT_CONTAINS(r.out, layers, "train summary");
    result_free(&r);
    assert_png(curves, 320, 200);
    assert_png(decision, 200, 200);
    assert_png(regions, 200, 200);
    assert_png(layers, 400, 200);

    /* eval draws the decision of the saved model */
    char *again = tmp_path("eval-decision.png");
    r = RUN("eval", model, "--data", data, "--png-decision", again);
    ck_assert_msg(r.status == 0, "eval --png-decision: status %d, stderr:\n%s", r.status,
                  r.err);
    ASSERT_CONTAINS(r.out, again, "eval summary");
    result_free(&r);
    assert_png(again, 200, 200);

    /* a picture into a missing directory fails before any work */
    char *nodir = tmp_path("no-such-dir/d.png");
    r = RUN("eval", model, "--data", data, "--png-decision", nodir);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot write the picture", "--png-decision nodir");
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    assert_no_tmp_files(tmpdir);

    free(nodir);
    free(again);
    free(layers);
    free(regions);
    free(decision);
    free(curves);
    free(model);
    free(data);
}
END_TEST

/* ------------------------------------------------------------ regions */

/* Finds the table row of hidden layer `layer` in 'crease regions' output:
 * layer, width, cells, patterns, lower, upper, grid ("-" gives -1). */
typedef struct layer_row {
    int layer, width;
    long cells, patterns;
    double lower, upper;
    long grid;
} layer_row;

static int find_layer_row(const char *out, int layer, layer_row *row)
{
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[256];
        size_t o = 0;
        for (size_t i = 0; i < len && o + 1 < sizeof line; i++)
            if (p[i] != ',')
                line[o++] = p[i];
        line[o] = '\0';
        memset(row, 0, sizeof *row);
        row->grid = -1;
        int n = sscanf(line, "%d %d %ld %ld %lf %lf %ld", &row->layer, &row->width, &row->cells,
                       &row->patterns, &row->lower, &row->upper, &row->grid);
        if (n >= 6 && row->layer == layer && line[0] == ' ')
            return 1;
        p += len + (nl != NULL);
    }
    return 0;
}

/* The printed bound against the library's: exact below 1e9, else to the
 * 3 digits printed. */
static void assert_bound(double printed, double lib, const char *what)
{
    ck_assert_msg(fabs(printed - lib) <= (lib < 1e9 ? 0.5 : 0.006 * lib),
                  "%s: printed %g, the library says %g", what, printed, lib);
}

/* Runs 'crease regions' on model and compares every row with the library. */
static void check_regions_output(const char *model, const char *out)
{
    crease_device *dev = NULL;
    crease_net *net = NULL;
    ck_assert_int_eq(crease_device_open("cpu:0", &dev), CREASE_OK);
    ck_assert_msg(crease_net_load(dev, model, NULL, &net) == CREASE_OK, "load %s: %s", model,
                  crease_last_error());
    crease_regions_result res;
    ck_assert_int_eq(crease_regions_count(net, NULL, &res), CREASE_OK);
    ck_assert_int_eq(res.complete, 1);
    for (int l = 0; l < res.hidden; l++) {
        layer_row row;
        ck_assert_msg(find_layer_row(out, l + 1, &row), "%s: no row for layer %d in:\n%s",
                      model, l + 1, out);
        ck_assert_int_eq(row.width, res.widths[l]);
        ck_assert_int_eq(row.cells, (long)res.cells[l]);
        ck_assert_int_eq(row.patterns, (long)res.patterns[l]);
        assert_bound(row.lower, res.lower[l], "lower bound");
        assert_bound(row.upper, res.upper[l], "upper bound");
        ck_assert_msg(row.grid >= 1 && row.grid <= row.patterns,
                      "%s layer %d: grid count %ld is no lower bound of %ld", model, l + 1,
                      row.grid, row.patterns);
    }
    layer_row none;
    ck_assert_msg(!find_layer_row(out, res.hidden + 1, &none), "a row too many:\n%s", out);
    char total[64];
    snprintf(total, sizeof total, "%zu linear regions (exact", res.regions);
    if (res.regions < 1000) /* no thousands separator */
        ASSERT_CONTAINS(out, total, model);
    crease_net_free(net);
    crease_device_free(dev);
}

START_TEST(test_regions_reference)
{
    const char *shared = getenv("CREASE_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/baarle/reference-models", shared ? shared : "(unset)");
    if (!shared || access(dir, R_OK) != 0) {
        fprintf(stderr, "check_cli: SKIPPED test_regions_reference: %s is missing "
                        "($CREASE_SHARED_DATA)\n",
                dir);
        return;
    }
    char model[1200];
    /* One hidden layer of 8: 19 regions, Zaslavsky's 1 + 8 + 28 = 37. */
    snprintf(model, sizeof model, "%s/baarle-8_1.safetensors", dir);
    result r = RUN("regions", model);
    ck_assert_msg(r.status == 0, "regions 8_1: status %d, stderr:\n%s", r.status, r.err);
    layer_row row;
    ck_assert_msg(find_layer_row(r.out, 1, &row), "no layer row in:\n%s", r.out);
    ck_assert_int_eq(row.width, 8);
    ck_assert_int_eq(row.cells, 19);
    ck_assert_int_eq(row.patterns, 19);
    ck_assert(row.upper == 37 && row.lower == 37);
    ASSERT_CONTAINS(r.out, "19 linear regions (exact; 19 activation patterns)", "8_1");
    ASSERT_CONTAINS(r.out, "1 + n + n(n-1)/2", "8_1");
    ASSERT_CONTAINS(r.out, "Zaslavsky", "8_1");
    ASSERT_CONTAINS(r.out, "grid count", "8_1");
    ASSERT_CONTAINS(r.out, "exact count", "8_1");
    ck_assert_str_eq(r.err, "");
    check_regions_output(model, r.out);
    result_free(&r);

    /* Two layers of 2: 4 regions, then 11 (the upper bound 11). */
    snprintf(model, sizeof model, "%s/baarle-2_2_1.safetensors", dir);
    r = RUN("regions", model, "--grid", "0");
    ck_assert_msg(r.status == 0, "regions 2_2_1: status %d, stderr:\n%s", r.status, r.err);
    ck_assert(find_layer_row(r.out, 1, &row));
    ck_assert_int_eq(row.cells, 4);
    ck_assert(find_layer_row(r.out, 2, &row));
    ck_assert_int_eq(row.cells, 11);
    ck_assert(row.upper == 11);
    ck_assert_int_eq(row.grid, -1);
    ASSERT_CONTAINS(r.out, "Serra, Tjandraatmadja & Ramalingam", "2_2_1");
    ASSERT_CONTAINS(r.out, "11 linear regions (exact", "2_2_1");
    result_free(&r);

    /* A deep one, every row against the library. */
    snprintf(model, sizeof model, "%s/baarle-16_16_16_1.safetensors", dir);
    r = RUN("regions", model, "--grid", "128");
    ck_assert_msg(r.status == 0, "regions 16_16_16_1: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "2-16-16-16-2", "16_16_16_1");
    check_regions_output(model, r.out);
    result_free(&r);
}
END_TEST

START_TEST(test_regions_out)
{
    char *model = tiny_model("reg", "2-8-8-2");
    char *dir = tmp_path("reg-pictures");
    result r = RUN("regions", model, "--out", dir);
    ck_assert_msg(r.status == 0, "regions --out: status %d, stderr:\n%s", r.status, r.err);
    check_regions_output(model, r.out);
    const char *names[3] = {"reg-regions.png", "reg-layers.png", "reg-decision.png"};
    for (int i = 0; i < 3; i++) {
        char *p = cli_path_join_test(dir, names[i]);
        ASSERT_CONTAINS(r.out, p, "regions --out");
        assert_png(p, 200, 200);
        free(p);
    }
    result_free(&r);
    assert_no_tmp_files(dir);

    /* Another domain: given, or the bounding box of the data. */
    r = RUN("regions", model, "--domain", "0,2,-3,1", "--grid", "0");
    ck_assert_msg(r.status == 0, "regions --domain: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "[0, 2] x [-3, 1]", "regions --domain");
    result_free(&r);
    char *pts = tmp_path("reg-points.csv");
    write_file(pts, "x,y,label\n2,3,0\n4,5,1\n3,4,1\n");
    char *dec = tmp_path("reg-points.png");
    r = RUN("regions", model, "--data", pts, "--grid", "0", "--png-decision", dec);
    ck_assert_msg(r.status == 0, "regions --data: status %d, stderr:\n%s", r.status, r.err);
    /* box [2, 4] x [3, 5], 5 % larger: half-width 1.05 around (3, 4) */
    ASSERT_CONTAINS(r.out, "[1.95, 4.05] x [2.95, 5.05]", "regions --data");
    assert_png(dec, 200, 200);
    result_free(&r);
    free(pts);
    free(dec);

    /* One picture by name, no grid. */
    char *one = tmp_path("reg-only.png");
    r = RUN("regions", model, "--png-layers", one, "--grid", "0");
    ck_assert_msg(r.status == 0, "regions --png-layers: status %d, stderr:\n%s", r.status,
                  r.err);
    assert_png(one, 400, 200);
    ck_assert_msg(strstr(r.out, "grid count") == NULL, "--grid 0 still counts:\n%s", r.out);
    result_free(&r);

    /* A limit stops the count: a lower bound, said so; no region picture. */
    r = RUN("regions", model, "--max-cells", "2");
    ck_assert_msg(r.status == 0, "regions --max-cells 2: status %d, stderr:\n%s", r.status,
                  r.err);
    ASSERT_CONTAINS(r.out, "at least", "--max-cells 2");
    ASSERT_CONTAINS(r.out, "lower bound", "--max-cells 2");
    result_free(&r);
    r = RUN("regions", model, "--max-cells", "2", "--png-regions", one);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "did not finish", "--max-cells 2 --png-regions");
    result_free(&r);

    /* --out onto a file */
    r = RUN("regions", model, "--out", model);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "is not a directory", "regions --out FILE");
    result_free(&r);

    free(one);
    free(dir);
    free(model);
}
END_TEST

/* Models 'regions' cannot count: each a clear one-line error, status 1. */
START_TEST(test_regions_bad_models)
{
    crease_device *dev = NULL;
    ck_assert_int_eq(crease_device_open("cpu:0", &dev), CREASE_OK);
    crease_net_opts o;
    crease_net_opts_default(&o);
    crease_net *net = NULL;
    char *three = tmp_path("three-inputs.safetensors");
    ck_assert_int_eq(crease_net_new(dev, "3-4-2", &o, &net), CREASE_OK);
    ck_assert_int_eq(crease_net_save(net, three), CREASE_OK);
    crease_net_free(net);
    char *tanh_model = tmp_path("tanh.safetensors");
    o.act = CREASE_ACT_TANH;
    ck_assert_int_eq(crease_net_new(dev, "2-4-4-2", &o, &net), CREASE_OK);
    ck_assert_int_eq(crease_net_save(net, tanh_model), CREASE_OK);
    crease_net_free(net);
    crease_device_free(dev);

    result r = RUN("regions", three);
    ck_assert_msg(r.status == 1, "3 inputs: status %d, stderr %s", r.status, r.err);
    ck_assert_int_eq(count_lines(r.err), 1);
    ASSERT_CONTAINS(r.err, "has 3 inputs", "3 inputs");
    ASSERT_CONTAINS(r.err, "2 inputs", "3 inputs");
    ck_assert_str_eq(r.out, "");
    result_free(&r);

    r = RUN("regions", tanh_model);
    ck_assert_msg(r.status == 1, "tanh: status %d, stderr %s", r.status, r.err);
    ck_assert_int_eq(count_lines(r.err), 1);
    ASSERT_CONTAINS(r.err, "uses tanh", "tanh");
    ASSERT_CONTAINS(r.err, "only for relu and leaky_relu", "tanh");
    result_free(&r);

    char *missing = tmp_path("no-such-model.safetensors");
    r = RUN("regions", missing);
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot load the model", "regions missing");
    ASSERT_CONTAINS(r.err, "no-such-model.safetensors", "regions missing");
    result_free(&r);

    free(missing);
    free(tanh_model);
    free(three);
}
END_TEST

/* ------------------------------------------------------------ demo */

static int count_files_with(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    size_t ls = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l > ls && strcmp(de->d_name + l - ls, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* The whole experiment in a tiny configuration: two widths and one deep
 * net, one epoch each, on the built-in Baarle data. */
START_TEST(test_demo_tiny)
{
    char *dir = tmp_path("demo-out");
    result r = RUN("demo", "--widths", "4,32", "--deep", "2x4", "--epochs", "1", "--out", dir);
    ck_assert_msg(r.status == 0, "demo: status %d, stderr:\n%s", r.status, r.err);
    /* progress on stderr, one header per net */
    ASSERT_CONTAINS(r.err, "[1/3] 2-4-2", "demo progress");
    ASSERT_CONTAINS(r.err, "[3/3] 2-4-4-2", "demo progress");
    ASSERT_CONTAINS(r.err, "epoch 1/1", "demo progress");
    /* the budget, the table, the verdict */
    ASSERT_CONTAINS(r.out, "1 epoch, batch 512, Adam", "demo budget");
    ASSERT_CONTAINS(r.out, "balanced", "demo table");
    ASSERT_CONTAINS(r.out, "upper", "demo table");
    ASSERT_CONTAINS(r.out, "\n2-4-2 ", "demo table");
    ASSERT_CONTAINS(r.out, "\n2-32-2 ", "demo table");
    ASSERT_CONTAINS(r.out, "\n2-4-4-2 ", "demo table");
    ASSERT_CONTAINS(r.out, "verdict", "demo verdict");
    ASSERT_CONTAINS(r.out, "what it shows", "demo verdict");
    /* 2-4-4-2 has 42 parameters, 2-32-2 has 162: a real comparison */
    ck_assert_msg(strstr(r.out, "Yes: the best deep") || strstr(r.out, "No: the best deep"),
                  "no yes/no verdict:\n%s", r.out);
    ASSERT_CONTAINS(r.out, "2-32-2 (162 parameters", "demo verdict");
    /* the table is in table order and fits 80 columns */
    const char *a = strstr(r.out, "\n2-4-2 "), *b = strstr(r.out, "\n2-32-2 "),
               *c = strstr(r.out, "\n2-4-4-2 ");
    ck_assert(a < b && b < c);
    const char *from = strstr(r.out, "Balanced accuracy"), *to = strstr(r.out, "\nwritten");
    ck_assert(from && to && from < to);
    char *table = strndup(from, (size_t)(to - from));
    assert_narrow(table, "demo table and verdict");
    free(table);
    result_free(&r);

    /* the files */
    const char *specs[3] = {"2-4-2", "2-32-2", "2-4-4-2"};
    for (int i = 0; i < 3; i++) {
        char name[64], *p;
        snprintf(name, sizeof name, "%s.safetensors", specs[i]);
        p = cli_path_join_test(dir, name);
        ck_assert_msg(file_size(p) > 0, "%s not written", p);
        free(p);
        const char *kinds[3] = {"-decision.png", "-regions.png", "-layers.png"};
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "%s%s", specs[i], kinds[k]);
            p = cli_path_join_test(dir, name);
            assert_png(p, 200, 200);
            free(p);
        }
    }
    char *p = cli_path_join_test(dir, "curves-shallow.png");
    assert_png(p, 320, 200);
    free(p);
    p = cli_path_join_test(dir, "curves-deep.png");
    assert_png(p, 320, 200);
    free(p);
    ck_assert_int_eq(count_files_with(dir, ".png"), 11);
    assert_no_tmp_files(dir);

    /* results.csv: a header and one row per net, the region counts agree
     * with 'crease regions' on the saved model */
    p = cli_path_join_test(dir, "results.csv");
    char *csv = slurp(p);
    free(p);
    ck_assert_msg(strncmp(csv, "model,hidden_layers,neurons,parameters,", 39) == 0, "csv: %s",
                  csv);
    ck_assert_int_eq(count_lines(csv), 4);
    ASSERT_CONTAINS(csv, "\n2-4-2,1,4,22,1,", "results.csv");
    ASSERT_CONTAINS(csv, "\n2-32-2,1,32,162,1,", "results.csv");
    ASSERT_CONTAINS(csv, "\n2-4-4-2,2,8,42,1,", "results.csv");
    const char *row = strstr(csv, "\n2-4-4-2,");
    long regions = -1;
    {
        /* the 12th field */
        const char *q = row + 1;
        for (int f = 0; f < 11 && q; f++) {
            q = strchr(q, ',');
            if (q)
                q++;
        }
        ck_assert_ptr_nonnull(q);
        regions = strtol(q, NULL, 10);
    }
    p = cli_path_join_test(dir, "2-4-4-2.safetensors");
    result rr = RUN("regions", p, "--grid", "0");
    ck_assert_int_eq(rr.status, 0);
    layer_row lr;
    ck_assert(find_layer_row(rr.out, 2, &lr));
    ck_assert_int_eq(lr.cells, regions);
    result_free(&rr);
    free(p);
    free(csv);

    p = cli_path_join_test(dir, "results.md");
    char *md = slurp(p);
    free(p);
    ASSERT_CONTAINS(md, "| model | parameters | neurons | balanced accuracy |", "results.md");
    ASSERT_CONTAINS(md, "| 2-4-4-2 | 42 | 8 |", "results.md");
    free(md);
    free(dir);
}
END_TEST


/* ------------------------------------------------------------ bench */

/* Splits one CSV line (RFC 4180 quoting) in place; returns the fields. */
static int csv_fields(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        ck_assert_int_lt(n, max);
        if (*p == '"') {
            char *out = ++p;
            f[n++] = out;
            for (;;) {
                ck_assert_msg(*p != '\0', "unterminated quoted CSV field");
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            *out = '\0';
            ck_assert_msg(*p == ',' || *p == '\0', "junk after a quoted CSV field");
        } else {
            f[n++] = p;
            p += strcspn(p, ",");
        }
        if (*p == '\0')
            return n;
        *p++ = '\0';
    }
}

typedef struct csv_table {
    char *text;
    char *head[40];
    int ncol;
    char *row[32][40];
    int nrow;
} csv_table;

static void csv_parse(csv_table *t, const char *out)
{
    memset(t, 0, sizeof *t);
    t->text = strdup(out);
    ck_assert_ptr_nonnull(t->text);
    char *save = NULL;
    char *line = strtok_r(t->text, "\n", &save);
    ck_assert_msg(line != NULL, "no CSV header");
    t->ncol = csv_fields(line, t->head, 40);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        ck_assert_int_lt(t->nrow, 32);
        int n = csv_fields(line, t->row[t->nrow], 40);
        ck_assert_msg(n == t->ncol, "CSV row %d has %d fields, the header %d", t->nrow + 1, n,
                      t->ncol);
        t->nrow++;
    }
}

static const char *csv_get(const csv_table *t, int r, const char *col)
{
    for (int j = 0; j < t->ncol; j++)
        if (strcmp(t->head[j], col) == 0)
            return t->row[r][j];
    ck_abort_msg("no CSV column '%s'", col);
    return NULL;
}

static double csv_num(const csv_table *t, int r, const char *col)
{
    const char *v = csv_get(t, r, col);
    ck_assert_msg(*v, "row %s: column %s is empty", t->row[r][0], col);
    char *end;
    double d = strtod(v, &end);
    ck_assert_msg(*end == '\0', "row %s: column %s: '%s' is not a number", t->row[r][0], col, v);
    return d;
}

static int csv_row(const csv_table *t, const char *target)
{
    for (int r = 0; r < t->nrow; r++)
        if (strcmp(csv_get(t, r, "target"), target) == 0)
            return r;
    return -1;
}

/* The cpu variants the loader found: runnable ones into run[], the others
 * into skip[] (names only). */
static void cpu_variants(char run[][64], int *nrun, char skip[][64], int *nskip)
{
    *nrun = *nskip = 0;
    ck_assert_int_eq(crease_plugins_load(), CREASE_OK);
    for (int i = 0; i < crease_plugin_variant_count(); i++) {
        crease_plugin_variant v;
        memset(&v, 0, sizeof v);
        v.size = sizeof v;
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        if (strcmp(v.name, "cpu") != 0)
            continue;
        if (v.runnable)
            snprintf(run[(*nrun)++], 64, "%s", v.variant);
        else
            snprintf(skip[(*nskip)++], 64, "%s", v.variant);
    }
    ck_assert_int_ge(*nrun, 1);
}

/* A tiny, separable data set that a small net learns in a few epochs. */
static char *bench_csv_data(void)
{
    char *p = tmp_path("bench-blobs.csv");
    if (access(p, R_OK) != 0)
        write_tiny_csv(p, 2048);
    return p;
}

/* CSV: a row per cpu variant, in the loader's order; numbers that fit
 * together; the reference row; progress on stderr only. */
START_TEST(test_bench_csv)
{
    char *data = bench_csv_data();
    result r = RUN("bench", "--device", "cpu", "--data", data, "--model", "2-16-16-2", "--batch",
                   "64", "--epochs", "3", "--lr", "0.01", "--target", "0.9", "--format", "csv");
    ck_assert_msg(r.status == 0, "bench csv: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.err, "[1/", "bench progress");
    ASSERT_CONTAINS(r.err, "epoch 3/3", "bench progress");
    csv_table t;
    csv_parse(&t, r.out);
    ck_assert_str_eq(t.head[0], "target");
    char run[8][64], skip[8][64];
    int nrun, nskip;
    cpu_variants(run, &nrun, skip, &nskip);
    ck_assert_msg(t.nrow == nrun + nskip, "%d rows for %d + %d cpu variants:\n%s", t.nrow, nrun,
                  nskip, r.out);
    int steps_per_epoch = (2048 + 63) / 64;
    for (int i = 0; i < nrun; i++) {
        char name[96];
        snprintf(name, sizeof name, "cpu:0/%.63s", run[i]);
        int row = csv_row(&t, name);
        ck_assert_msg(row == i, "%s: row %d, want %d (loader order):\n%s", name, row, i, r.out);
        ck_assert_str_eq(csv_get(&t, row, "status"), "ok");
        ck_assert_str_eq(csv_get(&t, row, "backend"), "cpu");
        ck_assert_str_eq(csv_get(&t, row, "variant"), run[i]);
        ck_assert(csv_num(&t, row, "units") >= 1);
        ck_assert(csv_num(&t, row, "setup_s") >= 0);
        ck_assert(csv_num(&t, row, "epochs") == 3);
        ck_assert(csv_num(&t, row, "steps") == 3 * steps_per_epoch);
        ck_assert(csv_num(&t, row, "samples") == 3 * 2048);
        double train = csv_num(&t, row, "train_s"), ms = csv_num(&t, row, "ms_per_step");
        double sps = csv_num(&t, row, "samples_per_s"), gf = csv_num(&t, row, "gflops");
        ck_assert(train > 0 && ms > 0 && sps > 0 && gf > 0);
        ck_assert_msg(fabs(ms - 1e3 * train / (3 * steps_per_epoch)) <= 1e-6 * ms, "ms/step");
        ck_assert_msg(fabs(sps - 3 * 2048 / train) <= 1e-6 * sps, "samples/s");
        /* 2-16-16-2: 4*2*16 + 6*16*16 + 6*16*2 = 1856 FLOP per sample */
        ck_assert_msg(fabs(gf - 1856.0 * 3 * 2048 / train / 1e9) <= 1e-6 * gf, "GFLOP/s %g", gf);
        double bal = csv_num(&t, row, "final_balanced_accuracy");
        ck_assert(bal > 0.5 && bal <= 1);
        ck_assert(csv_num(&t, row, "best_balanced_accuracy") >= bal);
        ck_assert(csv_num(&t, row, "target_accuracy") == 0.9);
        /* the blobs are learnt at once */
        ck_assert_msg(*csv_get(&t, row, "time_to_target_s"), "%s: 90%% not reached:\n%s", name,
                      r.out);
        ck_assert(csv_num(&t, row, "time_to_target_s") <= train);
        ck_assert(csv_num(&t, row, "epochs_to_target") >= 1);
        ck_assert(csv_num(&t, row, "max_loss_deviation") >= 0);
        ck_assert(csv_num(&t, row, "speedup") > 0);
        ck_assert(csv_num(&t, row, "reference") == (strcmp(run[i], "portable") == 0));
    }
    int ref = csv_row(&t, "cpu:0/portable");
    ck_assert_int_ge(ref, 0);
    ck_assert(csv_num(&t, ref, "max_loss_deviation") == 0);
    ck_assert(csv_num(&t, ref, "speedup") == 1);
    for (int i = 0; i < nskip; i++) {
        char name[96];
        snprintf(name, sizeof name, "cpu/%.63s", skip[i]);
        int row = csv_row(&t, name);
        ck_assert_msg(row >= 0, "no skipped row %s:\n%s", name, r.out);
        ck_assert_str_eq(csv_get(&t, row, "status"), "skipped");
        ck_assert_msg(*csv_get(&t, row, "reason"), "%s: no reason", name);
        ck_assert_str_eq(csv_get(&t, row, "ms_per_step"), "");
    }
    free(t.text);
    result_free(&r);
    free(data);
}
END_TEST

/* A minimal JSON parser that only checks the syntax (RFC 8259). */
static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = json_string(json_ws(p));
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return json_number(p);
}

static int json_valid(const char *text)
{
    const char *end = json_value(text, 0);
    return end && *json_ws(end) == '\0';
}

static int count_substr(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The value after "key": in the object text of one target (a number). */
static double json_field(const char *obj, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(obj, k);
    ck_assert_msg(p != NULL, "no %s in %.300s", key, obj);
    return strtod(p + strlen(k), NULL);
}

START_TEST(test_json_checker)
{
    ck_assert(json_valid("{\"a\": [1, -2.5e+3, true, null, \"x\\n\\u00e9\"], \"b\": {}}"));
    ck_assert(json_valid(" [] "));
    ck_assert(!json_valid("{\"a\": 1,}"));
    ck_assert(!json_valid("{\"a\": nan}"));
    ck_assert(!json_valid("[1] x"));
    ck_assert(!json_valid("\"tab\there\""));
    ck_assert(!json_valid("{\"a\" 1}"));
}
END_TEST

/* JSON on the built-in data, every device (OpenCL included where the
 * plugin loads): valid, a target per device and variant, the curves. */
START_TEST(test_bench_json)
{
    result r = RUN("bench", "--subsample", "32", "--epochs", "2", "--format", "json");
    ck_assert_msg(r.status == 0, "bench json: status %d, stderr:\n%s", r.status, r.err);
    ck_assert_msg(json_valid(r.out), "not valid JSON:\n%s", r.out);
    ASSERT_CONTAINS(r.out, "\"settings\": {", "json");
    ASSERT_CONTAINS(r.out, "\"machine\": {", "json");
    ASSERT_CONTAINS(r.out, "\"model\": \"2-32-32-32-32-2\"", "json");
    ASSERT_CONTAINS(r.out, "\"flop_per_sample\": 19072", "json");
    ASSERT_CONTAINS(r.out, "\"optimizer\": \"adam\"", "json");
    ASSERT_CONTAINS(r.out, "\"schedule\": \"cosine\"", "json");
    ASSERT_CONTAINS(r.out, "\"reference\": \"cpu:0/portable\"", "json");

    /* the rows expected from the loader's list of variants and devices */
    ck_assert_int_eq(crease_plugins_load(), CREASE_OK);
    int expect = 0, runnable = 0;
    for (int i = 0; i < crease_plugin_variant_count(); i++) {
        crease_plugin_variant v;
        memset(&v, 0, sizeof v);
        v.size = sizeof v;
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        crease_plugin_desc d;
        int devices = 0;
        if (v.runnable && v.plugin >= 0 && crease_plugin_get(v.plugin, &d) == CREASE_OK)
            devices = d.device_count;
        expect += devices > 0 ? devices : 1;
        runnable += devices;
        for (int k = 0; k < devices; k++) {
            char name[160], key[200];
            snprintf(name, sizeof name, "%s:%d%s%s", v.name, k, *v.variant ? "/" : "",
                     v.variant);
            snprintf(key, sizeof key, "{\"target\": \"%s\"", name);
            const char *obj = strstr(r.out, key);
            ck_assert_msg(obj != NULL, "no target %s in:\n%s", name, r.out);
            const char *end = strstr(obj, "}");
            ck_assert_ptr_nonnull(end);
            char *o = strndup(obj, (size_t)(end - obj));
            ASSERT_CONTAINS(o, "\"status\": \"ok\"", name);
            ck_assert(json_field(o, "epochs") == 2);
            ck_assert(json_field(o, "ms_per_step") > 0);
            ck_assert(json_field(o, "gflops") > 0);
            ck_assert(json_field(o, "setup_s") >= 0);
            ASSERT_CONTAINS(o, "\"loss\": [", name);
            ASSERT_CONTAINS(o, "\"balanced_accuracy\": [", name);
            /* Every device trains within check_parity's stated tolerance
             * of the reference: rounding differences only. */
            double dev = json_field(o, "max_loss_deviation");
            ck_assert_msg(dev >= 0 && dev <= 0.05, "%s: loss deviation %g", name, dev);
            if (strcmp(name, "cpu:0/portable") == 0) {
                ck_assert(dev == 0);
                ASSERT_CONTAINS(o, "\"reference\": true", name);
            }
            free(o);
        }
    }
    ck_assert_int_eq(count_substr(r.out, "{\"target\": "), expect);
    ck_assert_int_ge(runnable, 1);
    result_free(&r);
}
END_TEST

/* The human table: a row per target, the reference added, the notes. */
START_TEST(test_bench_table)
{
    char *data = bench_csv_data();
    char run[8][64], skip[8][64];
    int nrun, nskip;
    cpu_variants(run, &nrun, skip, &nskip);
    char dev[96];
    snprintf(dev, sizeof dev, "cpu:0/%.63s", run[nrun - 1]); /* the best one */
    result r = RUN("bench", "--device", dev, "--data", data, "--model", "2-8-2", "--batch",
                   "128", "--epochs", "2", "--target", "0.85", "--optimizer", "sgd",
                   "--schedule", "constant", "--lr", "0.05");
    ck_assert_msg(r.status == 0, "bench table: status %d, stderr:\n%s", r.status, r.err);
    ASSERT_CONTAINS(r.out, "batch 128, sgd, lr 0.05, constant schedule", "bench table settings");
    const char *cols[] = {"target", "units", "set-up", "ms/step", "samples/s", "GFLOP/s",
                          "to 85%", "bal.acc", "loss dev.", "speed", "device"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        ASSERT_CONTAINS(r.out, cols[i], "bench table header");
    ASSERT_CONTAINS(r.out, "\ncpu:0/portable ", "bench table: the reference runs");
    ASSERT_CONTAINS(r.out, "reference", "bench table");
    ASSERT_CONTAINS(r.out, "1.00x", "bench table");
    char row[128];
    snprintf(row, sizeof row, "\n%s ", dev);
    ASSERT_CONTAINS(r.out, row, "bench table");
    ASSERT_CONTAINS(r.out, "2-8-2", "bench table");
    ASSERT_CONTAINS(r.out, "FLOP per sample", "bench table");
    ck_assert_msg(strstr(r.out, "opencl") == NULL, "--device %s ran more:\n%s", dev, r.out);
    result_free(&r);
    free(data);
}
END_TEST

/* Failures, skipped variants and bad device names. */
START_TEST(test_bench_failures)
{
    char *data = bench_csv_data();

    /* A target that runs too long fails its row; the bench goes on and
     * exits 1. */
    result r = RUN("bench", "--device", "cpu:0/portable", "--data", data, "--model", "2-8-2",
                   "--epochs", "1000", "--timeout", "0.2", "--format", "csv");
    ck_assert_msg(r.status == 1, "timeout: status %d, stderr:\n%s", r.status, r.err);
    csv_table t;
    csv_parse(&t, r.out);
    ck_assert_int_eq(t.nrow, 1);
    ck_assert_str_eq(csv_get(&t, 0, "status"), "failed");
    ASSERT_CONTAINS(csv_get(&t, 0, "reason"), "timed out", "timeout");
    free(t.text);
    result_free(&r);

    /* Unknown devices and variants: status 1, one clear message. */
    r = RUN("bench", "--device", "nosuch");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "'nosuch'", "--device nosuch");
    ASSERT_CONTAINS(r.err, "no backend", "--device nosuch");
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    r = RUN("bench", "--device", "cpu/sse9");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "no variant 'sse9'", "--device cpu/sse9");
    ASSERT_CONTAINS(r.err, "'portable'", "--device cpu/sse9");
    result_free(&r);
    r = RUN("bench", "--device", "cpu:7");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "cpu:7", "--device cpu:7");
    result_free(&r);
    r = RUN("bench", "--reference", "cpu/sse9");
    ck_assert_int_eq(r.status, 1);
    ASSERT_CONTAINS(r.err, "--reference", "--reference cpu/sse9");
    result_free(&r);

    /* Plugins that cannot run are rows "skipped", not failures; naming
     * only those leaves nothing to run. */
    const char *dir = getenv("CREASE_TEST_PLUGIN_DIR");
    if (dir && access(dir, R_OK) == 0) {
        const char *old = getenv("CREASE_PLUGIN_PATH");
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", dir, old ? ":" : "", old ? old : "");
        setenv("CREASE_PLUGIN_PATH", path, 1); /* this test runs in its own process */
        r = RUN("bench", "--device", "zeroscore,failinit,cpu:0/portable", "--data", data,
                "--model", "2-8-2", "--epochs", "1", "--format", "csv");
        ck_assert_msg(r.status == 0, "skipped: status %d, stderr:\n%s", r.status, r.err);
        csv_parse(&t, r.out);
        ck_assert_int_eq(t.nrow, 3);
        int z = csv_row(&t, "zeroscore/test"), f = csv_row(&t, "failinit/test");
        ck_assert_msg(z >= 0 && f >= 0, "skipped rows missing:\n%s", r.out);
        ck_assert_str_eq(csv_get(&t, z, "status"), "skipped");
        ASSERT_CONTAINS(csv_get(&t, z, "reason"), "cannot run on this machine", "zeroscore");
        ck_assert_str_eq(csv_get(&t, f, "status"), "skipped");
        ASSERT_CONTAINS(csv_get(&t, f, "reason"), "init failed", "failinit");
        ck_assert_str_eq(csv_get(&t, csv_row(&t, "cpu:0/portable"), "status"), "ok");
        free(t.text);
        result_free(&r);

        r = RUN("bench", "--device", "zeroscore", "--data", data);
        ck_assert_int_eq(r.status, 1);
        ASSERT_CONTAINS(r.err, "no device to benchmark", "--device zeroscore");
        ASSERT_CONTAINS(r.err, "zeroscore/test: skipped", "--device zeroscore");
        ck_assert_str_eq(r.out, "");
        result_free(&r);
        if (old)
            setenv("CREASE_PLUGIN_PATH", old, 1);
    }
    free(data);
}
END_TEST

/* ------------------------------------------------------------ main */

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");

    TCase *tc = tcase_create("help");
    tcase_add_loop_test(tc, test_help_command, 0,
                        (int)(sizeof help_cases / sizeof help_cases[0]));
    tcase_add_test(tc, test_help_main);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_arguments");
    tcase_add_loop_test(tc, test_bad_argument, 0, (int)(sizeof bad_args / sizeof bad_args[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_csv);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_bad_device);
    tcase_add_test(tc, test_model_mismatch);
    tcase_add_test(tc, test_demo_fails_early);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_devices);
    tcase_add_test(tc, test_devices_skipped);
    tcase_add_test(tc, test_train_save_eval);
    tcase_add_test(tc, test_train_binary_quiet);
    tcase_add_test(tc, test_train_special_outputs);
    tcase_add_test(tc, test_train_standardize);
    tcase_add_test(tc, test_train_tty_progress);
    tcase_add_test(tc, test_eval_reference);
    suite_add_tcase(s, tc);

    tc = tcase_create("pictures_regions_demo");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_train_eval_pictures);
    tcase_add_test(tc, test_regions_reference);
    tcase_add_test(tc, test_regions_out);
    tcase_add_test(tc, test_regions_bad_models);
    tcase_add_test(tc, test_demo_tiny);
    suite_add_tcase(s, tc);

    tc = tcase_create("bench");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_json_checker);
    tcase_add_test(tc, test_bench_csv);
    tcase_add_test(tc, test_bench_json);
    tcase_add_test(tc, test_bench_table);
    tcase_add_test(tc, test_bench_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cli = getenv("CREASE_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "check_cli: set CREASE_CLI to the crease binary (make check does)\n");
        return CK_EXIT_SKIP;
    }
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "check_cli: %s is not executable: %s\n", cli, strerror(errno));
        return 1;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/check_cli-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "check_cli: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }

    int status = ck_run(cli_suite());
    ck_remove_tree(tmpdir);
    return status;
}
