/*
 * crease.h -- public API of libcrease, a deep-learning compute library with
 * run-time loaded backends (cpu, opencl).
 *
 * Conventions
 *   - Every call that can fail returns crease_status: 0 (CREASE_OK) or a
 *     negative code; crease_status_str() names the code and
 *     crease_last_error() gives the calling thread's detail message.
 *   - Objects are opaque handles made by crease_<object>_new/_open/_load and
 *     released by crease_<object>_free (which accepts NULL).
 *   - Ownership: "borrowed" pointers stay owned by the library and remain
 *     valid as stated; "owned" results must be freed by the caller.
 *   - The library never exits or aborts on bad input, missing devices or
 *     allocation failure.
 */
#ifndef CREASE_H
#define CREASE_H

#include <stddef.h>
#include <stdint.h>

#include <crease/backend.h> /* status codes, activation ids, device info */

#ifdef __cplusplus
extern "C" {
#endif

typedef int crease_status;

/* ------------------------------------------------------------------ status */

/* Short English description of a status code.  Borrowed, static. */
const char *crease_status_str(crease_status s);
/* Detail of the calling thread's last error ("" if none).  Borrowed; valid
 * until the next crease call on this thread. */
const char *crease_last_error(void);
/* Library version string, e.g. "0.1.0".  Borrowed, static. */
const char *crease_version(void);

/* Writes len bytes to path as every crease output is written (models,
 * pictures): through a temporary file beside it and a rename, so that the
 * file is there whole or not at all, never half-written; a symbolic link
 * to a file stays a link (the file it names is replaced).  A path that is
 * not a regular file (a device such as /dev/null, a pipe) or that names
 * one of the process's descriptors (/dev/stdout, /dev/fd/N,
 * /proc/self/fd/N) is written in place.  CREASE_EIO with the reason on
 * failure. */
crease_status crease_write_file(const char *path, const void *data, size_t len);

/* ------------------------------------------------------- plugins, devices */

/* Loads the backend plugins if not yet done (every other call does this
 * implicitly).  Search order: $CREASE_PLUGIN_PATH (colon-separated), the
 * installed plugin directory, the build tree.  Plugins that cannot be used
 * are skipped, each with a reason (crease_plugin_skipped).  Fails only if no
 * plugin at all could be loaded. Thread-safe. */
crease_status crease_plugins_load(void);

typedef struct crease_plugin_desc {
    const char *name;        /* "cpu" */
    const char *variant;     /* "portable", "avx2", ... */
    const char *description;
    const char *path;        /* file it was loaded from */
    int score;
    int abi_major, abi_minor;
    int device_count;
} crease_plugin_desc;

/* Number of loaded plugins (one per backend name). */
int crease_plugin_count(void);
/* Fills *out with borrowed strings valid until the process ends. */
crease_status crease_plugin_get(int i, crease_plugin_desc *out);
/* Plugin files found but not used (other variants with a lower score
 * included), with the reason.  Borrowed strings. */
int crease_plugin_skipped_count(void);
crease_status crease_plugin_skipped_get(int i, const char **path,
                                        const char **reason);

/* Every variant of every backend found on the search path, loaded or not:
 * the file of each name+variant that speaks this ABI (the first one on the
 * path where a variant is found twice).  A process uses one variant per
 * backend (CREASE_<NAME>_VARIANT forces one, see crease_plugins_load); this
 * list is how a tool learns which others it could run, each in a process
 * of its own with that variable set ('crease bench' does).  Ordered by
 * backend name, then score from low to high, then path. */
typedef struct crease_plugin_variant {
    size_t size;          /* set by the caller to sizeof(crease_plugin_variant) */
    const char *name;     /* backend: "cpu" */
    const char *variant;  /* "portable", "avx2", ...; "" if the plugin names none */
    const char *path;     /* its file */
    const char *reason;   /* why this process does not use it ("" if it does):
                             "cannot run on this machine (score 0)", "variant
                             'avx512' scores higher", "not used:
                             CREASE_CPU_VARIANT=avx2", "init failed: ..." */
    int score;            /* 0: cannot run on this machine; higher is better */
    int loaded;           /* 1: the variant this process uses */
    int runnable;         /* 1: score > 0 and its init did not fail here (the
                             variants that lost on score were not initialised) */
    int plugin;           /* index for crease_plugin_get of the loaded variant
                             of the same backend, or -1 if none is loaded */
} crease_plugin_variant;

int crease_plugin_variant_count(void);
/* Fills *out (out->size set by the caller; a shorter, older struct gets its
 * part) with borrowed strings valid until the process ends. */
crease_status crease_plugin_variant_get(int i, crease_plugin_variant *out);

typedef struct crease_device crease_device;

/* Opens a device by name:
 *   "cpu", "cpu:0", "opencl:1"      backend and index (default 0)
 *   "opencl:gpu", "opencl:pocl"     backend and a selector matched against
 *                                   the device type, vendor, platform, name
 * NULL or "" means $CREASE_DEVICE, else "cpu:0".  *out is owned. */
crease_status crease_device_open(const char *name, crease_device **out);
/* Resolves a device name as crease_device_open does (NULL or "" means
 * $CREASE_DEVICE, else "cpu:0") to the index of its loaded plugin (for
 * crease_plugin_get, crease_plugin_device_info) and the device's index,
 * without opening it.  Either pointer may be NULL. */
crease_status crease_device_find(const char *name, int *plugin, int *index);
void crease_device_free(crease_device *dev);
/* Canonical name "backend:index".  Borrowed, lives as long as dev. */
const char *crease_device_name(const crease_device *dev);
/* Backend variant ("avx2", ...).  Borrowed, static. */
const char *crease_device_variant(const crease_device *dev);
/* Copies the device's properties (info->size must be set by the caller). */
crease_status crease_device_get_info(const crease_device *dev,
                                     struct crease_device_info *info);
/* Describe device `index` of plugin `plugin` without opening it. */
crease_status crease_plugin_device_info(int plugin, int index,
                                        struct crease_device_info *info);
/* Wait for all work issued on dev (reports asynchronous errors). */
crease_status crease_device_sync(crease_device *dev);

/* ----------------------------------------------------------------- tensors */

typedef struct crease_tensor crease_tensor;

#define CREASE_MAX_DIMS 4

/* A float32 tensor of 1..4 dimensions on dev.  Contents are undefined
 * until written.  *out is owned; dev must outlive it. */
crease_status crease_tensor_new(crease_device *dev, int ndim,
                                const int64_t *shape, crease_tensor **out);
void crease_tensor_free(crease_tensor *t);
int crease_tensor_ndim(const crease_tensor *t);
int64_t crease_tensor_dim(const crease_tensor *t, int axis);
size_t crease_tensor_numel(const crease_tensor *t);
/* Copy numel floats from/to host memory. */
crease_status crease_tensor_write(crease_tensor *t, const float *src);
crease_status crease_tensor_read(const crease_tensor *t, float *dst);
crease_status crease_tensor_fill(crease_tensor *t, float value);

/* ---------------------------------------------------------------- datasets */

/* A host-side labelled data set: n points of `dim` floats, integer labels in
 * [0, classes) (or -1 for "no label", skipped by training and metrics). */
typedef struct crease_dataset crease_dataset;

/* Copies x (n * dim floats) and labels (n ints). *out is owned. */
crease_status crease_dataset_new(size_t n, int dim, int classes,
                                 const float *x, const int *labels,
                                 crease_dataset **out);
/* The Baarle border task (see data/README.md): the labelled pixels of a
 * label mask PNG (255 Belgium = class 1, 0 Netherlands = class 0, other
 * values unlabelled and left out).  path NULL = the built-in copy. */
crease_status crease_dataset_load_baarle(const char *path,
                                         crease_dataset **out);
/* A CSV file of "x,y,label" lines (label a non-negative integer).  A first
 * line that is not numeric is taken as a header.  Blank lines and lines
 * starting with '#' are ignored.  Errors name the file and line. */
crease_status crease_dataset_load_csv(const char *path, crease_dataset **out);
void crease_dataset_free(crease_dataset *d);
size_t crease_dataset_size(const crease_dataset *d);
int crease_dataset_dim(const crease_dataset *d);
int crease_dataset_classes(const crease_dataset *d);
/* Borrowed views, valid as long as d. */
const float *crease_dataset_x(const crease_dataset *d);
const int *crease_dataset_labels(const crease_dataset *d);

/* --------------------------------------------------------------- networks */

typedef struct crease_net crease_net;

typedef enum crease_loss {
    CREASE_LOSS_AUTO = 0, /* softmax cross-entropy, or BCE if 1 output */
    CREASE_LOSS_XENT = 1, /* softmax cross-entropy over classes */
    CREASE_LOSS_BCE = 2,  /* one logit, binary cross-entropy */
    CREASE_LOSS_MSE = 3   /* regression on one-hot targets */
} crease_loss;

typedef enum crease_init {
    CREASE_INIT_AUTO = 0, /* He for relu/leaky, Glorot otherwise */
    CREASE_INIT_HE = 1,
    CREASE_INIT_GLOROT = 2
} crease_init;

typedef struct crease_net_opts {
    int act;            /* enum crease_act for hidden layers (default relu) */
    float leaky_alpha;  /* slope for CREASE_ACT_LEAKY_RELU (default 0.01) */
    crease_loss loss;
    crease_init init;
    uint64_t seed;      /* initialisation seed (default 1) */
} crease_net_opts;

void crease_net_opts_default(crease_net_opts *o);

/* A dense network from a spec "IN-H1-H2-...-OUT" such as "2-32-32-2":
 * every width a positive integer, at least two of them.  opts NULL means
 * defaults.  Parameters are initialised on the host from the seeded RNG
 * and uploaded, so every device starts from the same bits.  *out owned. */
crease_status crease_net_new(crease_device *dev, const char *spec,
                             const crease_net_opts *opts, crease_net **out);
void crease_net_free(crease_net *net);
/* Canonical spec ("2-32-32-2").  Borrowed, lives as long as net. */
const char *crease_net_spec(const crease_net *net);
int crease_net_inputs(const crease_net *net);
int crease_net_outputs(const crease_net *net);
int crease_net_layers(const crease_net *net); /* dense layers */
size_t crease_net_param_count(const crease_net *net);
int crease_net_act(const crease_net *net);
float crease_net_leaky_alpha(const crease_net *net);
crease_loss crease_net_loss(const crease_net *net);
crease_device *crease_net_device(const crease_net *net);
/* Layer l (0-based) maps in_l -> out_l: w is out_l x in_l (PyTorch
 * layout), b has out_l values.  Copies to/from host memory. */
crease_status crease_net_layer_shape(const crease_net *net, int l,
                                     int *in, int *out);
crease_status crease_net_get_layer(const crease_net *net, int l, float *w,
                                   float *b);
crease_status crease_net_set_layer(crease_net *net, int l, const float *w,
                                   const float *b);

/* Save/load weights as safetensors (PyTorch names "model.<2l>.weight" and
 * "model.<2l>.bias", crease's spec in the metadata).  Saving writes a
 * temporary file and renames it.  Loading accepts PyTorch-exported files of
 * the same layout; opts gives what the file does not say (NULL: defaults,
 * ReLU). */
crease_status crease_net_save(const crease_net *net, const char *path);
crease_status crease_net_load(crease_device *dev, const char *path,
                              const crease_net_opts *opts, crease_net **out);

/* ---------------------------------------------------- training, metrics */

typedef struct crease_metrics {
    double loss;              /* mean loss over labelled points */
    double accuracy;          /* fraction correct */
    double balanced_accuracy; /* mean of per-class recalls (classes present) */
    size_t count;             /* labelled points evaluated */
} crease_metrics;

typedef struct crease_progress {
    int epoch;            /* 1-based */
    int epochs;
    size_t step;          /* steps done in this epoch */
    size_t steps;         /* steps per epoch */
    size_t samples;       /* samples done in this epoch */
    double lr;            /* current learning rate */
    crease_metrics running; /* over this epoch so far */
    double elapsed;       /* seconds since training started */
    double samples_per_s; /* this epoch so far */
    int epoch_done;       /* 1 on the last report of an epoch */
} crease_progress;

/* Return non-zero to stop training (crease_trainer_epoch then returns
 * CREASE_OK with the epoch incomplete; crease_trainer_stopped() says so). */
typedef int (*crease_progress_fn)(const crease_progress *p, void *user);

typedef enum crease_optimizer {
    CREASE_OPT_SGD = 0,
    CREASE_OPT_ADAM = 1,
    CREASE_OPT_ADAMW = 2
} crease_optimizer;

typedef enum crease_schedule {
    CREASE_SCHED_CONSTANT = 0,
    CREASE_SCHED_STEP = 1,   /* lr * gamma^(floor(epoch / step_epochs)) */
    CREASE_SCHED_COSINE = 2  /* lr_min + (lr - lr_min)(1 + cos(pi t/T))/2 per step */
} crease_schedule;

typedef struct crease_train_opts {
    int epochs;            /* default 10 */
    int batch;             /* default 256 */
    float lr;              /* default 1e-3 */
    crease_optimizer optimizer; /* default Adam */
    float momentum;        /* SGD, default 0.9 */
    int nesterov;          /* SGD, default 0 */
    float weight_decay;    /* default 0 (AdamW: 0.01) */
    float beta1, beta2, eps; /* Adam, default 0.9, 0.999, 1e-8 */
    crease_schedule schedule; /* default constant */
    int step_epochs;       /* step schedule period, default 10 */
    float gamma;           /* step schedule factor, default 0.1 */
    float lr_min;          /* cosine floor, default 0 */
    uint64_t seed;         /* shuffling seed, default 1 */
    int shuffle;           /* default 1 */
    crease_progress_fn progress; /* may be NULL */
    void *user;
    double report_interval; /* seconds between progress reports, default 0.25 */
} crease_train_opts;

void crease_train_opts_default(crease_train_opts *o);
const char *crease_optimizer_name(crease_optimizer o);
const char *crease_schedule_name(crease_schedule s);
/* Parse "sgd"/"adam"/"adamw", "constant"/"step"/"cosine", activation
 * names "relu"/"leaky_relu"/"tanh"/"sigmoid"/"identity". */
crease_status crease_optimizer_parse(const char *s, crease_optimizer *out);
crease_status crease_schedule_parse(const char *s, crease_schedule *out);
crease_status crease_act_parse(const char *s, int *out);
const char *crease_act_name(int act);

typedef struct crease_trainer crease_trainer;

/* Prepares training of net on data: uploads the data to the net's device
 * and allocates every buffer a step needs (nothing is allocated inside a
 * step).  net and data must outlive the trainer.  *out owned. */
crease_status crease_trainer_new(crease_net *net, const crease_dataset *data,
                                 const crease_train_opts *opts,
                                 crease_trainer **out);
void crease_trainer_free(crease_trainer *tr);
/* Runs one epoch; *m (may be NULL) gets the epoch's running metrics
 * (measured while the weights changed). */
crease_status crease_trainer_epoch(crease_trainer *tr, crease_metrics *m);
int crease_trainer_epochs_done(const crease_trainer *tr);
int crease_trainer_stopped(const crease_trainer *tr);
/* Convenience: trainer_new, opts->epochs epochs, trainer_free. */
crease_status crease_net_train(crease_net *net, const crease_dataset *data,
                               const crease_train_opts *opts,
                               crease_metrics *last_epoch);

/* Evaluates net on every labelled point of data. */
crease_status crease_net_eval(crease_net *net, const crease_dataset *data,
                              crease_metrics *m);
/* Logits for n points x (n * inputs floats) into out (n * outputs). */
crease_status crease_net_predict(crease_net *net, size_t n, const float *x,
                                 float *out);

/* ---------------------------------------------------------- linear regions
 *
 * A network with 2 inputs whose hidden layers are ReLU or leaky ReLU is
 * affine on each of finitely many convex cells of the plane (its output
 * layer is affine and adds none).  crease_regions_count finds them exactly
 * on a rectangle, by default the square [-1, 1]^2 of the Baarle task.
 *
 * Method.  The domain starts as one convex cell.  For hidden layer l every
 * cell carries the layer's input as an affine function of (x, y), so each
 * neuron's pre-activation is affine on the cell and its zero set is a line.
 * The cell is cut by the lines of the layer's neurons one after another, in
 * double precision (weights converted exactly from float), and each piece
 * passes the next layer's input D (W h + b), D = 1 or alpha per neuron, on.
 * Cells are walked depth first: memory follows the largest single cell, not
 * the total count.  A neuron is active where its pre-activation is > 0.
 *
 * Tolerances (opts): a vertex within dist_eps (default 1e-10, a Euclidean
 * distance in the plane) of a line counts as on it, so a line through a
 * vertex or along an edge makes no cut; a cut that would leave a piece of
 * area below area_eps (default 1e-12) is not made, and the cell takes the
 * side of its larger part.
 *
 * What is counted, for each hidden layer l (0-based, after the cuts of
 * layers 0..l):
 *   cells[l]     convex cells: the linear regions of the network truncated
 *                after layer l; cells[L-1] is the net's count (`regions`).
 *   patterns[l]  distinct activation patterns (of layers 0..l) among those
 *                cells, counted through a 64-bit hash (probability of a
 *                collision below n^2 / 2^65, 3e-6 at ten million cells).
 * The points of one activation pattern form a convex set, so every cell has
 * its own pattern and the two numbers agree in exact arithmetic; where they
 * differ, the tolerances merged a degenerate cut (a net with coincident
 * lines, say).  Two neighbouring cells may still compute the same affine
 * function (a neuron feeding only dead neurons); they are counted apart.
 *
 * Bounds, on the maximum over all weights of the architecture (not on this
 * net), for n0 inputs and hidden widths n_1..n_L, each also given for every
 * truncation after layer l:
 *   upper, ReLU      Serra, Tjandraatmadja & Ramalingam 2018, Theorem 1:
 *                    sum over (j_1..j_L) in J of prod_l C(n_l, j_l), J the
 *                    integer vectors with 0 <= j_l <= min(n0, n_1 - j_1, ...,
 *                    n_{l-1} - j_{l-1}, n_l); for one hidden layer of n this
 *                    is Zaslavsky's sum_{j<=n0} C(n, j) = 1 + n + n(n-1)/2.
 *   upper, leaky     prod_l sum_{j<=n0} C(n_l, j): leaky ReLU loses no
 *                    dimension, so each layer cuts each cell like one layer.
 *   lower, ReLU      max over l of prod_{k<l} f(n_k) * sum_{j<=n0} C(n_l, j)
 *                    over the truncations whose earlier layers are all at
 *                    least n0 wide, with f(n) = (floor(n/n0) + 1)^n0 for
 *                    n >= 3 n0 (Serra et al. 2018) and floor(n/n0)^n0
 *                    otherwise (Montufar, Pascanu, Cho & Bengio 2014).
 *   lower, leaky     the same with f = 1 (one layer's arrangement).
 * Values past the double range are HUGE_VAL.
 */
#define CREASE_REGIONS_MAX_HIDDEN 63

typedef struct crease_regions_opts {
    double xmin, xmax, ymin, ymax; /* domain (default -1, 1, -1, 1) */
    double dist_eps;   /* default 1e-10 */
    double area_eps;   /* default 1e-12 */
    size_t max_cells;  /* stop once a layer passes this many cells
                          (default 10,000,000; 0 = no limit) */
    double time_limit; /* stop after this many seconds (default 0 = none) */
} crease_regions_opts;

void crease_regions_opts_default(crease_regions_opts *o);

typedef struct crease_regions_result {
    int inputs;       /* 2 */
    int hidden;       /* hidden layers L (0 for a purely affine net) */
    int widths[CREASE_REGIONS_MAX_HIDDEN];    /* n_1 .. n_L */
    size_t cells[CREASE_REGIONS_MAX_HIDDEN];  /* convex cells after layer l */
    size_t patterns[CREASE_REGIONS_MAX_HIDDEN]; /* distinct patterns, layers 0..l */
    double upper[CREASE_REGIONS_MAX_HIDDEN];  /* bounds for layers 0..l */
    double lower[CREASE_REGIONS_MAX_HIDDEN];
    size_t regions;             /* cells[L-1] (1 without hidden layers) */
    size_t activation_patterns; /* patterns[L-1] (1 without hidden layers) */
    double upper_bound, lower_bound;          /* upper[L-1], lower[L-1] */
    const char *upper_formula, *lower_formula; /* borrowed, static */
    double seconds;   /* wall time of the count */
    int complete;     /* 0: stopped by max_cells, time_limit or the
                         callback; the counts are then lower bounds */
    int stopped_by_callback;
} crease_regions_result;

/* Counts the linear regions of net (2 inputs; relu or leaky_relu hidden
 * layers, else CREASE_EUNSUPPORTED) on opts' domain (NULL: defaults).
 * Hitting a limit is not an error: *out says complete = 0. */
crease_status crease_regions_count(crease_net *net, const crease_regions_opts *opts,
                                   crease_regions_result *out);

/* One convex cell as the walk meets it.  Everything is borrowed and valid
 * only during the callback. */
typedef struct crease_region_cell {
    int layer;              /* hidden layer (0-based) the cell belongs to;
                               -1 for a net without hidden layers */
    int nverts;
    const double *xy;       /* nverts (x, y) pairs, counter-clockwise */
    const int *edge_layer;  /* per edge i (vertex i to i+1): the hidden layer
                               whose fold made it, -1 = domain border */
    uint64_t pattern_hash;  /* hash of the pattern of layers 0..layer, != 0 */
    const uint64_t *bits;   /* layer's own pattern: neuron j active if bit
                               j % 64 of bits[j / 64] is set (NULL at -1) */
    int outputs;            /* cells of the last hidden layer: the logits */
    const double *out_affine; /* outputs x (a, b, c): logit = a x + b y + c
                                 on this cell; NULL on earlier layers */
} crease_region_cell;

/* Return non-zero to stop the walk. */
typedef int (*crease_region_fn)(const crease_region_cell *cell, void *user);

/* Walks every cell of every hidden layer: all cells of layer l+1 inside a
 * cell of layer l come right after it (depth first).  out may be NULL. */
crease_status crease_regions_foreach(crease_net *net, const crease_regions_opts *opts,
                                     crease_region_fn fn, void *user,
                                     crease_regions_result *out);

/* The bounds above for an architecture: inputs n0, `hidden` widths, act
 * CREASE_ACT_RELU or CREASE_ACT_LEAKY_RELU.  upper/lower may be NULL. */
crease_status crease_regions_bounds(int inputs, int hidden, const int *widths, int act,
                                    double *upper, double *lower);

/* Sampled count, a lower bound and never a replacement: the distinct
 * activation patterns (same convention and hash) at the n x n cell centres
 * of a grid over opts' domain, per hidden layer into patterns[0..L-1]
 * (room for at least 1; a net without hidden layers gives 1). */
crease_status crease_regions_sample(crease_net *net, const crease_regions_opts *opts,
                                    int n, size_t *patterns);

/* ----------------------------------------------------------------- pictures
 *
 * PNG pictures (8-bit RGB), each written to a temporary file beside `path`
 * and renamed, so a reader never sees half a file.  Every picture has a
 * band of CREASE_DRAW_HEADER pixels on top with a title line and a legend
 * line.  The plane is drawn with x to the right and y up, over opts->regions'
 * domain (default [-1, 1]^2).  Sizes:
 *   crease_draw_decision, crease_draw_regions:  size x (size + HEADER)
 *   crease_draw_region_layers: one panel of size x size per hidden layer,
 *     cols = min(L, 4) per row, rows = ceil(L / cols) (L = 0 counts as 1):
 *     (cols * size + (cols + 1) * GAP) x (HEADER + rows * (CAPTION + size + GAP))
 *   crease_draw_curves: width x height
 */
#define CREASE_DRAW_HEADER 64
#define CREASE_DRAW_GAP 20
#define CREASE_DRAW_CAPTION 28

typedef struct crease_draw_opts {
    int size;          /* panel side, 64..4096 (0: 800, and 480 for the
                          layer panels) */
    int width, height; /* crease_draw_curves, 320..8192 (0: 1200 x 520) */
    const char *title; /* title line (NULL: a default naming the net) */
    const char *background; /* crease_draw_decision: a colour map PNG
                          stretched over the domain, e.g. baarle-map.png
                          (NULL: the built-in Baarle label mask, or a
                          plain ground when points is set) */
    const crease_dataset *points; /* crease_draw_decision without a
                          background: draw up to 4,000 of these 2-feature
                          points (evenly spread over the set) as dots in
                          their class colour over a plain ground, each
                          predicted class lightly washed in its colour;
                          for data other than the Baarle map (NULL: none) */
    int boundary;      /* region pictures: also draw the decision boundary
                          (default 1) */
    crease_regions_opts regions; /* domain, tolerances, limits of the walk */
} crease_draw_opts;

void crease_draw_opts_default(crease_draw_opts *o);

/* The net's decision over the domain: the background with the predicted
 * class 1 (Belgium) tinted and the decision boundary drawn as a line.
 * Works for any activation; nets of 2 inputs. opts NULL = defaults. */
crease_status crease_draw_decision(crease_net *net, const char *path,
                                   const crease_draw_opts *opts);
/* The region map: every linear region its own colour (from its activation
 * pattern), the fold lines dark, the decision boundary on top.  Fails
 * (CREASE_ENOMEM) rather than draw half a map when the walk hits a limit. */
crease_status crease_draw_regions(crease_net *net, const char *path,
                                  const crease_draw_opts *opts);
/* The regions after each hidden layer, one panel per layer with its count;
 * the folds added by that layer drawn in colour, older ones dark. */
crease_status crease_draw_region_layers(crease_net *net, const char *path,
                                        const crease_draw_opts *opts);

/* One training run for crease_draw_curves.  Arrays are borrowed. */
typedef struct crease_curve {
    const char *label;       /* legend text (NULL: "run N") */
    int n;                   /* points: epochs 1..n */
    const double *loss;      /* n values, or NULL */
    const double *balanced_accuracy; /* n values in [0, 1], or NULL */
} crease_curve;

/* Loss (left) and balanced accuracy (right) per epoch for `count` runs
 * (1..8), with axes, ticks and a legend. Non-finite values are skipped. */
crease_status crease_draw_curves(const char *path, int count, const crease_curve *curves,
                                 const crease_draw_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* CREASE_H */
