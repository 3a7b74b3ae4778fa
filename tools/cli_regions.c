/*
 * cli_regions.c -- 'crease regions': the exact linear-region count of a
 * saved model beside the theoretical bounds, a grid count, the pictures;
 * and the picture helpers that 'train', 'eval' and 'demo' share.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------ pictures */

int cli_pictures_need_regions(const cli_pictures *p)
{
    return p->regions || p->layers;
}

void cli_pictures_option(cli_pictures *p, int id, const char *value)
{
    switch (id) {
    case CLI_OPT_PNG_DECISION:
        p->decision = value;
        break;
    case CLI_OPT_PNG_REGIONS:
        p->regions = value;
        break;
    case CLI_OPT_PNG_LAYERS:
        p->layers = value;
        break;
    case CLI_OPT_MAP:
        p->map = value;
        break;
    }
}

void cli_pictures_warn_map(const cli_pictures *p)
{
    if (p->map && !p->decision)
        cli_warn("--map is the background of --png-decision; ignored without it");
}

int cli_pictures_check(const cli_pictures *p)
{
    if (p->decision && cli_check_output_path("picture", p->decision) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    if (p->regions && cli_check_output_path("picture", p->regions) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    if (p->layers && cli_check_output_path("picture", p->layers) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    if (p->decision && p->map && access(p->map, R_OK) != 0)
        return cli_error("cannot read the map '%s': %s", p->map, strerror(errno));
    return CLI_EXIT_OK;
}

static int draw_failed(crease_status s, const char *what, const char *path)
{
    if (cli_error_names(path))
        return cli_lib_error(s, "cannot draw the %s", what);
    return cli_lib_error(s, "cannot draw the %s '%s'", what, path);
}

void cli_pictures_use_data(cli_pictures *p, const char *source, const crease_dataset *data)
{
    p->points = cli_data_kind_of("--data", source) == CLI_DATA_BAARLE ? NULL : data;
}

/* The bounding box of the labelled points, 5 % larger on every side and
 * widened to a square (the panels are square: no distortion). */
static void data_domain(const crease_dataset *d, crease_regions_opts *r)
{
    size_t n = crease_dataset_size(d);
    const float *x = crease_dataset_x(d);
    const int *lab = crease_dataset_labels(d);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    if (crease_dataset_dim(d) != 2)
        return;
    for (size_t i = 0; i < n; i++) {
        if (lab[i] < 0 || !isfinite(x[2 * i]) || !isfinite(x[2 * i + 1]))
            continue;
        x0 = fmin(x0, x[2 * i]);
        x1 = fmax(x1, x[2 * i]);
        y0 = fmin(y0, x[2 * i + 1]);
        y1 = fmax(y1, x[2 * i + 1]);
    }
    if (!(x0 <= x1) || !(y0 <= y1))
        return; /* no labelled point: keep the default domain */
    double cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
    double half = 0.5 * fmax(x1 - x0, y1 - y0) * 1.05;
    if (!(half > 0))
        half = 1.0;
    r->xmin = cx - half;
    r->xmax = cx + half;
    r->ymin = cy - half;
    r->ymax = cy + half;
}

int cli_pictures_draw(crease_net *net, const cli_pictures *p, const crease_regions_opts *ro,
                      int report)
{
    crease_draw_opts o;
    crease_draw_opts_default(&o);
    if (ro)
        o.regions = *ro;
    else if (p->points)
        data_domain(p->points, &o.regions);
    crease_status s;
    if (p->decision) {
        o.background = p->map;
        o.points = p->map ? NULL : p->points;
        s = crease_draw_decision(net, p->decision, &o);
        o.background = NULL;
        if (s)
            return draw_failed(s, "decision picture", p->decision);
        if (report)
            cli_print_row("decision picture", "%s", p->decision);
    }
    if (p->regions) {
        s = crease_draw_regions(net, p->regions, &o);
        if (s)
            return draw_failed(s, "region map", p->regions);
        if (report)
            cli_print_row("region map", "%s", p->regions);
    }
    if (p->layers) {
        /* One panel is narrow: the default title would lose the net's name. */
        char title[512];
        if (crease_net_layers(net) == 2) {
            snprintf(title, sizeof title, "%s, layer by layer", crease_net_spec(net));
            o.title = title;
        }
        s = crease_draw_region_layers(net, p->layers, &o);
        o.title = NULL;
        if (s)
            return draw_failed(s, "layer panels", p->layers);
        if (report)
            cli_print_row("layer panels", "%s", p->layers);
    }
    return CLI_EXIT_OK;
}

int cli_curves_draw(const char *path, int count, const cli_run *const *runs,
                    const char *const *labels, const char *title)
{
    crease_curve c[8];
    if (count < 1 || count > 8)
        return cli_error("cannot draw %d runs in one picture (1 to 8)", count);
    for (int i = 0; i < count; i++) {
        c[i].label = labels ? labels[i] : runs[i]->spec;
        c[i].n = runs[i]->epochs_done;
        c[i].loss = runs[i]->loss;
        c[i].balanced_accuracy = runs[i]->balanced_accuracy;
    }
    crease_draw_opts o;
    crease_draw_opts_default(&o);
    o.title = title;
    crease_status s = crease_draw_curves(path, count, c, &o);
    if (s)
        return draw_failed(s, "training curves", path);
    return CLI_EXIT_OK;
}

int cli_check_regions_act(const char *opt, int act)
{
    if (act == CREASE_ACT_RELU || act == CREASE_ACT_LEAKY_RELU)
        return CLI_EXIT_OK;
    return cli_usage_message("%s: linear regions exist only for relu and leaky_relu, not %s",
                             opt, cli_act_name(act));
}

/* ------------------------------------------------------------ regions */

#define REGIONS_DEFAULT_GRID 512

/* "0.012s" below ten seconds, else as cli_fmt_duration. */
static const char *fmt_seconds(char *buf, size_t len, double s)
{
    if (s < 10)
        snprintf(buf, len, "%.3fs", s < 0 ? 0 : s);
    else
        cli_fmt_duration(buf, len, s);
    return buf;
}

enum {
    ROPT_ACT = 1, ROPT_DEVICE, ROPT_GRID, ROPT_MAX_CELLS, ROPT_TIME_LIMIT, ROPT_OUT, ROPT_DOMAIN,
    ROPT_DATA
};

static const cli_optdef regions_opts[] = {
    {"--act", 1, ROPT_ACT},
    {"--device", 1, ROPT_DEVICE},
    {"--grid", 1, ROPT_GRID},
    {"--max-cells", 1, ROPT_MAX_CELLS},
    {"--time-limit", 1, ROPT_TIME_LIMIT},
    {"--domain", 1, ROPT_DOMAIN},
    {"--data", 1, ROPT_DATA},
    {"--png-regions", 1, CLI_OPT_PNG_REGIONS},
    {"--png-layers", 1, CLI_OPT_PNG_LAYERS},
    {"--png-decision", 1, CLI_OPT_PNG_DECISION},
    {"--map", 1, CLI_OPT_MAP},
    {"--out", 1, ROPT_OUT},
    {NULL, 0, 0}
};

void cli_help_regions(void)
{
    crease_regions_opts ro;
    crease_regions_opts_default(&ro);
    char cells[32];
    printf("usage: crease regions MODEL.safetensors [OPTIONS]\n"
           "\n"
           "Counts the linear regions of a saved model with 2 inputs and relu or\n"
           "leaky_relu hidden layers on the square [-1, 1]^2 (or --domain, or the\n"
           "bounding box of --data), exactly: every neuron's\n"
           "zero line cuts the convex cells of the plane, layer by layer, in double\n"
           "precision.  Prints for each hidden layer the cells and activation patterns\n"
           "so far beside the bounds on the most regions any weights of this\n"
           "architecture can make (lower and upper, with their formulas), then the\n"
           "total, a count sampled on a grid (a lower bound), and the time.\n"
           "\n"
           "  --act NAME           hidden activation, if the file does not record it:\n"
           "                       relu or leaky_relu (default relu)\n"
           "  --device NAME        device that loads the model (default\n"
           "                       $CREASE_DEVICE, else cpu:0)\n"
           "  --grid N             count the activation patterns at the centres of an\n"
           "                       N x N grid too; 0: no grid count (default %d)\n"
           "  --max-cells N        stop once a layer has more than N cells; 0: no\n"
           "                       limit (default %s)\n"
           "  --time-limit SEC     stop counting after SEC seconds (default: no limit)\n"
           "                       A stopped count is a lower bound and says so.\n"
           "  --domain X0,X1,Y0,Y1 the rectangle to count in and to draw (default\n"
           "                       -1,1,-1,1)\n"
           "  --data SOURCE        the data the model was trained on (baarle,\n"
           "                       FILE.csv or FILE.png): without --domain, its\n"
           "                       bounding box (squared, 5%% margin) is the domain;\n"
           "                       the decision picture shows its points\n"
           "\n"
           "Pictures (PNG):\n"
           "  --png-regions FILE   every linear region its own colour, the fold lines\n"
           "                       dark, the decision boundary on top\n"
           "  --png-layers FILE    one panel per hidden layer: how the regions multiply\n"
           "  --png-decision FILE  the decision boundary over the map\n"
           "  --map FILE.png       background of the decision picture (default: the\n"
           "                       built-in Baarle label mask)\n"
           "  --out DIR            write all three into DIR (created if missing) as\n"
           "                       MODEL-regions.png, MODEL-layers.png and\n"
           "                       MODEL-decision.png, MODEL the file's name\n"
           "  -h, --help           show this help\n"
           "\n"
           "Example:\n"
           "  crease regions deep.safetensors --out pictures\n",
           REGIONS_DEFAULT_GRID, cli_fmt_count(cells, sizeof cells, ro.max_cells));
}

/* The formulas of the bounds, as include/crease.h states them. */
static void print_bounds(const crease_regions_result *r, int act)
{
    char up[48], lo[48], text[1024];
    cli_fmt_big(up, sizeof up, r->upper_bound);
    cli_fmt_big(lo, sizeof lo, r->lower_bound);
    if (r->hidden == 1) {
        snprintf(text, sizeof text,
                 "%s = 1 + n + n(n-1)/2 with n = %d: %d lines in general position cut the "
                 "plane into this many pieces (Zaslavsky 1975); no weights do better",
                 up, r->widths[0], r->widths[0]);
        cli_print_wrapped("upper bound", text);
        snprintf(text, sizeof text, "%s, the same: lines in general position reach it", lo);
        cli_print_wrapped("lower bound", text);
        return;
    }
    if (act == CREASE_ACT_LEAKY_RELU) {
        snprintf(text, sizeof text,
                 "%s = prod_l sum_{j<=2} C(n_l, j): leaky ReLU loses no dimension, so every "
                 "layer may cut every cell like one layer of its width", up);
        cli_print_wrapped("upper bound", text);
        snprintf(text, sizeof text,
                 "%s = max_l sum_{j<=2} C(n_l, j): one layer's arrangement, over the layers "
                 "with no narrower-than-2 layer before them", lo);
        cli_print_wrapped("lower bound", text);
        return;
    }
    snprintf(text, sizeof text,
             "%s = sum over (j_1..j_L) in J of prod_l C(n_l, j_l), J: 0 <= j_l <= min(2, "
             "n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l) (Serra, Tjandraatmadja & Ramalingam "
             "2018, Theorem 1)", up);
    cli_print_wrapped("upper bound", text);
    snprintf(text, sizeof text,
             "%s = prod_{l<L} f(n_l) * (1 + n_L + n_L(n_L-1)/2), f(n) = (floor(n/2)+1)^2 "
             "for n >= 6 (Serra et al. 2018), else floor(n/2)^2 (Montufar, Pascanu, Cho & "
             "Bengio 2014); the best over the truncations after each layer", lo);
    cli_print_wrapped("lower bound", text);
}

/* Progress of the walk on a terminal, and Ctrl-C. */
typedef struct walk_state {
    int tty;
    unsigned long calls;
    double t0, next;
    size_t cells;
    int layer;
} walk_state;

static int on_cell(const crease_region_cell *cell, void *user)
{
    walk_state *w = user;
    w->calls++;
    if (cell->layer > w->layer)
        w->layer = cell->layer;
    w->cells++;
    if (w->tty && (w->calls & 0x3fff) == 0) {
        double t = cli_now();
        if (t >= w->next) {
            char n1[32];
            fprintf(stderr, "\rcounting: %s cells walked, %.1fs\033[K",
                    cli_fmt_count(n1, sizeof n1, w->cells), t - w->t0);
            fflush(stderr);
            w->next = t + 0.25;
        }
    }
    return cli_interrupted != 0;
}

/* A count of the walk: "1,234", ">= 1,234" if it stopped early, "-" for a
 * layer it did not reach. */
static void fmt_walked(char *buf, size_t len, int reached, int complete, size_t n)
{
    char c[32];
    if (!reached)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%s%s", complete ? "" : ">= ", cli_fmt_count(c, sizeof c, n));
}

static void format_layer_row(char *buf, size_t len, int layer, int width, const char *cells,
                             const char *patterns, const char *lower, const char *upper,
                             const char *grid)
{
    char l[16], w[16];
    if (layer > 0)
        snprintf(l, sizeof l, "%d", layer);
    else
        snprintf(l, sizeof l, "%s", "");
    if (width > 0)
        snprintf(w, sizeof w, "%d", width);
    else
        snprintf(w, sizeof w, "%s", "");
    snprintf(buf, len, "%5s %6s %12s %11s %11s %11s %11s", l, w, cells, patterns, lower, upper,
             grid);
}

/* "X0,X1,Y0,Y1" into ro's domain; anything else is a usage error. */
static void parse_domain(const char *v, crease_regions_opts *ro)
{
    double d[4];
    const char *p = v;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        d[i] = strtod(p, &end);
        if (end == p || errno || !isfinite(d[i]) || (i < 3 ? *end != ',' : *end != '\0'))
            cli_usage_error("--domain wants four numbers X0,X1,Y0,Y1, not '%s'", v);
        p = end + 1;
    }
    if (!(d[0] < d[1]) || !(d[2] < d[3]))
        cli_usage_error("--domain %s is empty: want X0 < X1 and Y0 < Y1", v);
    ro->xmin = d[0], ro->xmax = d[1], ro->ymin = d[2], ro->ymax = d[3];
}

int cli_cmd_regions(int argc, char **argv)
{
    cli_cmd = "regions";
    if (cli_wants_help(argc, argv)) {
        cli_help_regions();
        return CLI_EXIT_OK;
    }
    const char *model = NULL, *device = NULL, *out = NULL, *data_src = NULL;
    crease_dataset *data = NULL;
    int act = -1, domain_given = 0;
    long grid = REGIONS_DEFAULT_GRID;
    crease_regions_opts ro;
    crease_regions_opts_default(&ro);
    cli_pictures pics;
    memset(&pics, 0, sizeof pics);

    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *v;
    int id;
    static const char *const region_acts[] = {"relu", "leaky_relu", NULL};
    static const int region_act_ids[] = {CREASE_ACT_RELU, CREASE_ACT_LEAKY_RELU};
    while ((id = cli_args_next(&a, regions_opts, &v)) != CLI_ARG_END) {
        switch (id) {
        case CLI_ARG_POSITIONAL:
            if (model)
                cli_usage_error("unexpected argument '%s' (one model file only)", v);
            model = v;
            break;
        case ROPT_ACT:
            for (int i = 0; cli_act_names[i]; i++)
                if (strcmp(v, cli_act_names[i]) == 0 && cli_act_ids[i] != CREASE_ACT_RELU &&
                    cli_act_ids[i] != CREASE_ACT_LEAKY_RELU)
                    cli_usage_error("--act: linear regions exist only for relu and "
                                    "leaky_relu, not %s",
                                    v);
            act = region_act_ids[cli_parse_choice("--act", v, "activation", region_acts)];
            break;
        case ROPT_DEVICE:
            device = v;
            break;
        case ROPT_GRID:
            grid = cli_parse_long("--grid", v, 0, 8192);
            break;
        case ROPT_MAX_CELLS: {
            uint64_t m = cli_parse_u64("--max-cells", v);
            ro.max_cells = m > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)m;
            break;
        }
        case ROPT_TIME_LIMIT:
            ro.time_limit = cli_parse_double("--time-limit", v, 0, 1, INFINITY, 0);
            break;
        case ROPT_OUT:
            out = v;
            break;
        case ROPT_DOMAIN:
            parse_domain(v, &ro);
            domain_given = 1;
            break;
        case ROPT_DATA:
            cli_data_kind_of("--data", v);
            data_src = v;
            break;
        default:
            cli_pictures_option(&pics, id, v);
            break;
        }
    }
    if (!model)
        cli_usage_error("regions needs a model file, as in 'crease regions model.safetensors'");
    if (pics.map && !pics.decision && !out)
        cli_warn("--map is the background of the decision picture; ignored without "
                 "--png-decision or --out");
    const char *given[3] = {pics.regions, pics.layers, pics.decision};
    const char *given_opt[3] = {"--png-regions", "--png-layers", "--png-decision"};
    cli_check_outputs(3, given_opt, given, model);

    char *auto_paths[3] = {NULL, NULL, NULL};
    crease_device *dev = NULL;
    crease_net *net = NULL;
    int rc = CLI_EXIT_FAIL;
    if (out) {
        if (cli_make_dir("--out", out) != CLI_EXIT_OK)
            return CLI_EXIT_FAIL;
        char *stem = cli_path_stem(model, ".safetensors");
        static const char *const suffix[3] = {"-regions.png", "-layers.png", "-decision.png"};
        for (int i = 0; i < 3 && stem; i++) {
            size_t n = strlen(stem) + strlen(suffix[i]) + 1;
            char *name = malloc(n);
            if (name) {
                snprintf(name, n, "%s%s", stem, suffix[i]);
                auto_paths[i] = cli_path_join(out, name);
            }
            free(name);
            if (!auto_paths[i]) {
                rc = cli_error("out of memory");
                free(stem);
                goto done;
            }
        }
        if (!stem) {
            rc = cli_error("out of memory");
            goto done;
        }
        free(stem);
        if (!pics.regions)
            pics.regions = auto_paths[0];
        if (!pics.layers)
            pics.layers = auto_paths[1];
        if (!pics.decision)
            pics.decision = auto_paths[2];
    }
    if (cli_pictures_check(&pics) != CLI_EXIT_OK)
        goto done;

    rc = cli_open_device(device, &dev);
    if (rc != CLI_EXIT_OK)
        goto done;
    rc = cli_load_model(dev, model, act, &net);
    if (rc != CLI_EXIT_OK)
        goto done;
    if (data_src) {
        rc = cli_load_data(data_src, &data);
        if (rc != CLI_EXIT_OK)
            goto done;
        if (crease_dataset_dim(data) != 2) {
            rc = cli_error("%s has %d features per point; the plane needs 2",
                           cli_data_label(data_src), crease_dataset_dim(data));
            goto done;
        }
        cli_pictures_use_data(&pics, data_src, data);
        if (!domain_given && pics.points)
            data_domain(data, &ro);
    }
    rc = CLI_EXIT_FAIL;
    const char *spec = crease_net_spec(net);
    int net_act = crease_net_act(net);
    if (crease_net_inputs(net) != 2) {
        rc = cli_error("%s: the model %s has %d inputs; linear regions are counted in the "
                       "plane, for models with 2 inputs",
                       model, spec, crease_net_inputs(net));
        goto done;
    }
    if (crease_net_layers(net) > 1 && net_act != CREASE_ACT_RELU &&
        net_act != CREASE_ACT_LEAKY_RELU) {
        rc = cli_error("%s: the model %s uses %s; linear regions exist only for relu and "
                       "leaky_relu hidden layers",
                       model, spec, cli_act_name(net_act));
        goto done;
    }
    if (crease_net_layers(net) - 1 > CREASE_REGIONS_MAX_HIDDEN) {
        rc = cli_error("%s: the model %s has %d hidden layers; region counting handles at "
                       "most %d",
                       model, spec, crease_net_layers(net) - 1, CREASE_REGIONS_MAX_HIDDEN);
        goto done;
    }

    /* The exact count. */
    cli_catch_interrupt();
    walk_state w;
    memset(&w, 0, sizeof w);
    w.tty = isatty(STDERR_FILENO);
    w.t0 = cli_now();
    w.next = w.t0 + 0.5;
    crease_regions_result res;
    crease_status s = crease_regions_foreach(net, &ro, on_cell, &w, &res);
    if (w.tty && w.next > w.t0 + 0.5) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (s) {
        rc = cli_lib_error(s, "cannot count the regions of '%s'", model);
        goto done;
    }

    /* The grid count. */
    size_t gridc[CREASE_REGIONS_MAX_HIDDEN + 1];
    double grid_s = 0;
    int have_grid = grid > 0 && !cli_interrupted;
    if (have_grid) {
        double t0 = cli_now();
        s = crease_regions_sample(net, &ro, (int)grid, gridc);
        grid_s = cli_now() - t0;
        if (s) {
            rc = cli_lib_error(s, "cannot sample the regions of '%s'", model);
            goto done;
        }
    }

    char n1[48], n2[48], n3[48], n4[48], n5[48], line[512];
    cli_print_model_row(spec, net_act, crease_net_param_count(net));
    cli_print_row("file", "%s", model);
    cli_print_row("domain", "[%g, %g] x [%g, %g]", ro.xmin, ro.xmax, ro.ymin, ro.ymax);
    putchar('\n');
    if (res.hidden == 0) {
        printf("The model has no hidden layer: it is affine, one region.\n\n");
    } else {
        char gh[64];
        if (have_grid)
            snprintf(gh, sizeof gh, "%ld x %ld", grid, grid);
        else
            snprintf(gh, sizeof gh, "%s", "-");
        printf("                   exact count     bounds on the maximum  grid patterns\n");
        format_layer_row(line, sizeof line, 0, 0, "cells", "patterns", "lower", "upper", gh);
        memcpy(line, "layer  width", 12);
        printf("%s\n", line);
        for (int l = 0; l < res.hidden; l++) {
            int reached = res.complete || res.cells[l] > 0;
            fmt_walked(n1, sizeof n1, reached, res.complete, res.cells[l]);
            fmt_walked(n2, sizeof n2, reached, res.complete, res.patterns[l]);
            cli_fmt_big(n3, sizeof n3, res.lower[l]);
            cli_fmt_big(n4, sizeof n4, res.upper[l]);
            if (have_grid)
                cli_fmt_count(n5, sizeof n5, gridc[l]);
            else
                snprintf(n5, sizeof n5, "-");
            format_layer_row(line, sizeof line, l + 1, res.widths[l], n1, n2, n3, n4, n5);
            printf("%s\n", line);
        }
        putchar('\n');
    }

    char text[512];
    if (res.complete) {
        snprintf(text, sizeof text, "%s linear region%s (exact; %s activation pattern%s)",
                 cli_fmt_count(n1, sizeof n1, res.regions), res.regions == 1 ? "" : "s",
                 cli_fmt_count(n2, sizeof n2, res.activation_patterns),
                 res.activation_patterns == 1 ? "" : "s");
    } else {
        const char *why = res.stopped_by_callback ? "interrupted"
                          : ro.time_limit > 0 && res.seconds >= ro.time_limit
                              ? "stopped by --time-limit"
                              : "stopped by --max-cells";
        snprintf(text, sizeof text,
                 "at least %s linear regions (%s before the end: a lower bound, not the "
                 "count)",
                 cli_fmt_count(n1, sizeof n1, res.regions), why);
    }
    cli_print_wrapped("regions", text);
    if (res.hidden > 0)
        print_bounds(&res, net_act);
    if (have_grid) {
        size_t g = res.hidden ? gridc[res.hidden - 1] : 1;
        snprintf(text, sizeof text,
                 "%s distinct activation pattern%s at the centres of a %ld x %ld grid (a "
                 "lower bound: small regions fall between the points)",
                 cli_fmt_count(n1, sizeof n1, g), g == 1 ? "" : "s", grid, grid);
        cli_print_wrapped("grid count", text);
    }
    if (have_grid)
        cli_print_row("time", "%s exact count, %s grid count",
                      fmt_seconds(n1, sizeof n1, res.seconds),
                      fmt_seconds(n2, sizeof n2, grid_s));
    else
        cli_print_row("time", "%s exact count", fmt_seconds(n1, sizeof n1, res.seconds));
    fflush(stdout);
    if (cli_interrupted) {
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    if (!res.complete && cli_pictures_need_regions(&pics)) {
        rc = cli_error("the count did not finish, so the region pictures were not drawn; "
                       "raise --max-cells or --time-limit");
        goto done;
    }

    rc = cli_pictures_draw(net, &pics, &ro, 1);
    fflush(stdout);

done:
    crease_net_free(net);
    crease_dataset_free(data);
    crease_device_free(dev);
    for (int i = 0; i < 3; i++)
        free(auto_paths[i]);
    return rc;
}
