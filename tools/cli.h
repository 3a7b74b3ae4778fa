/*
 * cli.h -- shared pieces of the crease command-line tool (tools/cli_*.c).
 *
 * The tool uses only the public API of <crease.h>.  Conventions:
 *   - a bad command line prints ONE line
 *       crease: <what is wrong> (see 'crease CMD --help')
 *     on stderr and exits with CLI_EXIT_USAGE (2); all such checks happen
 *     before anything is allocated, so cli_usage_error() may exit directly;
 *   - a library failure prints
 *       crease: <what failed>: <crease_last_error() or crease_status_str()>
 *     and the command returns CLI_EXIT_FAIL (1) after freeing what it holds.
 */
#ifndef CREASE_CLI_H
#define CREASE_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <crease.h>

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CLI_NORETURN __attribute__((noreturn))
#else
#define CLI_PRINTF(a, b)
#define CLI_NORETURN
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_INTERRUPTED = 130 };

/* ------------------------------------------------------------ messages */

/* The command being run ("train"), or NULL at the top level; used for the
 * "(see 'crease CMD --help')" hint. */
extern const char *cli_cmd;
/* argv[0] of the tool, to run it again when /proc/self/exe is missing
 * ('crease bench' runs every target in a child). */
extern const char *cli_program;

/* Prints "crease: MESSAGE (see 'crease CMD --help')" and exits with 2. */
CLI_NORETURN void cli_usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* The same message, but returns CLI_EXIT_USAGE (for checks made after
 * something was allocated). */
int cli_usage_message(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints "crease: WHAT: DETAIL" where DETAIL is crease_last_error() or,
 * if that is empty, crease_status_str(s).  Returns CLI_EXIT_FAIL. */
int cli_lib_error(crease_status s, const char *fmt, ...) CLI_PRINTF(2, 3);
/* 1 if crease_last_error() already mentions s (a path, a device name), so
 * that a message need not repeat it. */
int cli_error_names(const char *s);
/* Prints "crease: MESSAGE".  Returns CLI_EXIT_FAIL. */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints "crease: warning: MESSAGE". */
void cli_warn(const char *fmt, ...) CLI_PRINTF(1, 2);

/* ------------------------------------------------------ argument parsing */

typedef struct cli_optdef {
    const char *name; /* "--epochs" */
    int takes_value;
    int id;           /* > 0 */
} cli_optdef;

typedef struct cli_args {
    int argc;
    char **argv;
    int i;
    int only_positional; /* after "--" */
} cli_args;

enum { CLI_ARG_END = 0, CLI_ARG_POSITIONAL = -1 };

void cli_args_init(cli_args *a, int argc, char **argv);
/* Next option: returns its id with *val set to its value (NULL for a
 * flag), CLI_ARG_POSITIONAL with *val the argument, or CLI_ARG_END.
 * Accepts "--name value" and "--name=value"; "--" ends the options.
 * Unknown options, missing or unexpected values are usage errors. */
int cli_args_next(cli_args *a, const cli_optdef *defs, const char **val);
/* 1 if "-h" or "--help" appears before any "--". */
int cli_wants_help(int argc, char **argv);

/* Full validation; out-of-range or malformed values are usage errors
 * naming `opt`. */
long cli_parse_long(const char *opt, const char *s, long lo, long hi);
uint64_t cli_parse_u64(const char *opt, const char *s);
/* min_open/max_open: whether the bound itself is excluded. */
double cli_parse_double(const char *opt, const char *s, double lo,
                        int lo_open, double hi, int hi_open);

/* Enumerations: a NULL-terminated name table; returns the index or exits
 * with a usage error listing the choices. */
int cli_parse_choice(const char *opt, const char *s, const char *what,
                     const char *const *names);

/* Validates a model spec "IN-H1-...-OUT"; a malformed one is a usage
 * error.  Returns the first and last widths and the number of widths. */
void cli_parse_spec(const char *opt, const char *spec, int *first, int *last,
                    int *count);

/* Edit distance based suggestion: the closest of names[] to s (NULL if
 * none is close).  names is NULL-terminated. */
const char *cli_suggest(const char *s, const char *const *names);

/* --------------------------------------------------------- formatting */

/* "858,619" */
const char *cli_fmt_count(char *buf, size_t len, uint64_t n);
/* "12.3s", "4m 05.1s", "1h 02m 03s" */
const char *cli_fmt_duration(char *buf, size_t len, double seconds);
/* "1:23", "1:02:03" */
const char *cli_fmt_clock(char *buf, size_t len, double seconds);
/* "23.4 GiB" */
const char *cli_fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* "312k", "1.23M" */
const char *cli_fmt_rate(char *buf, size_t len, double per_s);
/* A bound that may be huge: "525,825" below 1e9, else "1.23e+21"; an
 * infinite value (past the double range) is "> 1e308". */
const char *cli_fmt_big(char *buf, size_t len, double v);

double cli_now(void); /* monotonic seconds */

/* ------------------------------------------------ data, devices, models */

/* Data sources given with --data. */
typedef enum cli_data_kind { CLI_DATA_BAARLE, CLI_DATA_CSV, CLI_DATA_PNG } cli_data_kind;
/* Classifies a --data value; a value that is none of the three is a
 * usage error. */
cli_data_kind cli_data_kind_of(const char *opt, const char *s);
/* Loads the data set; prints the error and returns CLI_EXIT_FAIL on
 * failure. */
int cli_load_data(const char *source, crease_dataset **out);
/* "baarle (built-in)" or the path. */
const char *cli_data_label(const char *source);

/* Loads the plugins (with a hint at $CREASE_PLUGIN_PATH if none loads)
 * and opens the device (NULL = $CREASE_DEVICE, else cpu:0). */
int cli_open_device(const char *name, crease_device **out);
/* "cpu:0, AMD EPYC 9R14 (avx2)" */
const char *cli_device_label(char *buf, size_t len, crease_device *dev);

/* Checks that a model with `inputs` inputs and `outputs` outputs fits the
 * data; prints the problem as a usage message and returns CLI_EXIT_USAGE
 * if not. */
int cli_check_fit(const char *spec, int inputs, int outputs,
                  const crease_dataset *data);

/* Loads a saved model onto dev; act >= 0 is the hidden activation to
 * assume if the file does not record one (a file that records another is
 * warned about).  Prints the error and returns CLI_EXIT_FAIL on failure. */
int cli_load_model(crease_device *dev, const char *path, int act, crease_net **out);

/* Usage error if one of the n output files paths[i] (given with option
 * opts[i]; NULL: not given) is the model file `model` (NULL: none) or the
 * same as another. */
void cli_check_outputs(int n, const char *const *opts, const char *const *paths,
                       const char *model);

/* Fails early, before minutes of work, if an output file cannot be
 * written: it must not be a directory and its directory must exist and be
 * writable.  Prints "cannot write the WHAT 'PATH': ..." and returns
 * CLI_EXIT_FAIL. */
int cli_check_output_path(const char *what, const char *path);
/* Creates DIR (one level) if missing; an existing non-directory is an
 * error naming `opt`.  Returns CLI_EXIT_OK or CLI_EXIT_FAIL (printed). */
int cli_make_dir(const char *opt, const char *dir);
/* DIR/NAME, malloc'd (NULL when out of memory). */
char *cli_path_join(const char *dir, const char *name);
/* The file name of path without its directory and without `suffix` (if it
 * ends so), malloc'd: "a/b/m.safetensors" -> "m". */
char *cli_path_stem(const char *path, const char *suffix);

/* Activation names accepted by --act, and their crease_act ids. */
extern const char *const cli_act_names[];
extern const int cli_act_ids[];

/* ------------------------------------------------------------ training */

/* Set by SIGINT (see cli_catch_interrupt); the progress callback asks the
 * trainer to stop when it is set. */
extern volatile sig_atomic_t cli_interrupted;
/* First Ctrl-C: finish gracefully; a second one kills. */
void cli_catch_interrupt(void);

/* One training run: net from spec on dev, trained on data. */
typedef struct cli_run {
    /* in */
    const char *spec;
    crease_net_opts net_opts;
    crease_train_opts train_opts;
    const char *save;  /* safetensors path or NULL */
    const char *log;   /* CSV path or NULL */
    int quiet;
    int standardize;   /* train on inputs scaled to mean 0, deviation 1,
                          folded back into the first layer afterwards */
    int keep_net;      /* hand the trained net back in `net` */
    /* out */
    crease_net *net;   /* with keep_net: the trained net (cli_run_release) */
    double *loss;      /* per completed epoch: the running loss ... */
    double *balanced_accuracy; /* ... and balanced accuracy (cli_run_release) */
    size_t params;
    int epochs_done;
    int interrupted;
    double seconds;          /* wall time of the epochs */
    double samples_per_s;    /* training throughput */
    double mean[2], std[2];  /* with standardize, 2-feature data: the scaling */
    crease_metrics final;    /* crease_net_eval over all labelled points */
} cli_run;

/* Runs it; prints progress on stderr unless quiet.  Returns CLI_EXIT_OK
 * or CLI_EXIT_FAIL (the error printed). */
int cli_train_run(crease_device *dev, const crease_dataset *data, cli_run *r);
/* Frees what a run handed back (net, curves); the run may be run again. */
void cli_run_release(cli_run *r);
/* Ends a live progress line (a newline) before other output goes to
 * stderr. */
void cli_progress_break(void);
/* On a terminal: shows a one-line status that the next message or
 * cli_progress_clear() replaces. */
void cli_progress_status(const char *text);
/* Erases the live line, if any. */
void cli_progress_clear(void);

/* ------------------------------------------------------------ pictures */

/* The pictures one command writes of one net; NULL paths are skipped. */
typedef struct cli_pictures {
    const char *decision; /* crease_draw_decision */
    const char *regions;  /* crease_draw_regions */
    const char *layers;   /* crease_draw_region_layers */
    const char *map;      /* background of the decision picture (NULL: the
                             built-in Baarle label mask) */
    const crease_dataset *points; /* data other than the built-in Baarle
                             set: without a map, the decision picture shows
                             these points on a plain ground, and every
                             picture's domain is their bounding box */
} cli_pictures;

/* Sets p->points to data when the data source is not the built-in Baarle
 * set (a CSV or PNG file), so that pictures fit the user's data. */
void cli_pictures_use_data(cli_pictures *p, const char *source, const crease_dataset *data);
/* Option ids of the picture options, the same in every command that
 * takes them (above the commands' own ids). */
enum { CLI_OPT_PNG_DECISION = 100, CLI_OPT_PNG_REGIONS, CLI_OPT_PNG_LAYERS, CLI_OPT_MAP };
/* Stores the value of the picture option `id` in p. */
void cli_pictures_option(cli_pictures *p, int id, const char *value);
/* The warning of 'train' and 'eval': --map without --png-decision. */
void cli_pictures_warn_map(const cli_pictures *p);
/* Checks the output paths (and that the map is readable) before any work;
 * prints the problem and returns CLI_EXIT_FAIL. */
int cli_pictures_check(const cli_pictures *p);
/* 1 if region pictures are asked for. */
int cli_pictures_need_regions(const cli_pictures *p);
/* Draws them; `ro` limits the region walk (NULL: defaults).  With `report`
 * each written file is printed on stdout as a summary row "picture".
 * Returns CLI_EXIT_OK or CLI_EXIT_FAIL (printed). */
int cli_pictures_draw(crease_net *net, const cli_pictures *p, const crease_regions_opts *ro,
                      int report);
/* Training curves of `count` runs (1..8) into path. */
int cli_curves_draw(const char *path, int count, const cli_run *const *runs,
                    const char *const *labels, const char *title);
/* Usage check shared by the commands that draw regions: the hidden
 * activation must be relu or leaky_relu.  Returns CLI_EXIT_OK or prints
 * a usage message and returns CLI_EXIT_USAGE. */
int cli_check_regions_act(const char *opt, int act);
/* A summary row: the label padded to 18 columns, then the text. */
void cli_print_row(const char *label, const char *fmt, ...) CLI_PRINTF(2, 3);
/* The summary rows "model" (spec, activation, parameters), "data" (the
 * source and its points and classes), and "loss", "accuracy", "balanced
 * accuracy". */
void cli_print_model_row(const char *spec, int act, size_t params);
void cli_print_data_row(const char *source, const crease_dataset *data);
void cli_print_metrics(const crease_metrics *m);
/* Prints "LABEL  TEXT" (label padded to 18 columns) with TEXT wrapped at 79
 * columns under itself; an empty label indents only. */
void cli_print_wrapped(const char *label, const char *text);
/* Writes len bytes to path through a temporary file and a rename.
 * Returns CLI_EXIT_OK or CLI_EXIT_FAIL (printed, naming `what`). */
int cli_write_file(const char *what, const char *path, const char *data, size_t len);
/* The name of an activation as --act spells it. */
const char *cli_act_name(int act);

/* ------------------------------------------------------------ commands */

int cli_cmd_devices(int argc, char **argv);
int cli_cmd_train(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_regions(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);

void cli_help_devices(void);
void cli_help_train(void);
void cli_help_eval(void);
void cli_help_demo(void);
void cli_help_regions(void);
void cli_help_bench(void);

/* The settings shared by 'train' and 'demo' defaults (the Baarle task). */
void cli_baarle_train_defaults(crease_train_opts *o);
#define CLI_DEFAULT_SPEC "2-32-32-32-32-2"
#define CLI_SHALLOW_SPEC "2-512-2"

#endif /* CREASE_CLI_H */
