/*
 * crease.c -- the crease command-line tool: command dispatch, top-level
 * help and version.  The commands live in tools/cli_*.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(void);
} command;

static void help_main(FILE *f);

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"devices", cli_cmd_devices, cli_help_devices},
    {"train", cli_cmd_train, cli_help_train},
    {"eval", cli_cmd_eval, cli_help_eval},
    {"regions", cli_cmd_regions, cli_help_regions},
    {"demo", cli_cmd_demo, cli_help_demo},
    {"bench", cli_cmd_bench, cli_help_bench},
    {"help", cmd_help, NULL},
    {NULL, NULL, NULL}
};

static const char *const command_names[] = {"devices", "train", "eval", "regions", "demo",
                                              "bench", "help", NULL};

static void help_main(FILE *f)
{
    fprintf(f,
            "usage: crease COMMAND [OPTIONS]\n"
            "\n"
            "Trains and evaluates dense neural networks with libcrease, on any\n"
            "backend plugin (cpu, opencl) found at run time, counts their linear\n"
            "regions and draws them.\n"
            "\n"
            "Commands:\n"
            "  devices   list the backend plugins and their devices\n"
            "  train     train a network on the Baarle border or a data set of yours\n"
            "  eval      evaluate a saved model on a data set\n"
            "  regions   count a model's linear regions exactly, beside the bounds,\n"
            "            and draw them\n"
            "  demo      the Baarle experiment: deep narrow networks against shallow\n"
            "            wide ones, equal training budgets, one table and pictures\n"
            "  bench     the same seeded training on every device and cpu variant:\n"
            "            time per step, GFLOP/s, time to a target accuracy, and the\n"
            "            deviation of each loss curve from the reference\n"
            "  help      this text; 'crease help COMMAND' shows a command's options\n"
            "\n"
            "Options:\n"
            "  -h, --help     show this help\n"
            "  --version      show the version of crease and of libcrease\n"
            "\n"
            "Environment:\n"
            "  CREASE_DEVICE        the default device (else cpu:0)\n"
            "  CREASE_PLUGIN_PATH   directories, separated by ':', searched first for\n"
            "                       the backend plugins (crease-*.so)\n"
            "  CREASE_CPU_VARIANT   use this variant of the cpu plugin (portable,\n"
            "                       avx2, ...) instead of the best one\n"
            "  CREASE_LOG=debug     log what the library does, the plugin loader\n"
            "                       included\n"
            "\n"
            "Run 'crease COMMAND --help' for the options of a command.\n");
}

static const command *find_command(const char *name)
{
    for (int i = 0; commands[i].name; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

CLI_NORETURN static void unknown_command(const char *name)
{
    const char *guess = cli_suggest(name, command_names);
    cli_cmd = NULL;
    if (guess)
        cli_usage_error("unknown command '%s'; did you mean '%s'?", name, guess);
    cli_usage_error("unknown command '%s'", name);
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0) {
        help_main(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        help_main(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        cli_usage_error("help takes one command name, not %d arguments", argc);
    const command *c = find_command(argv[0]);
    if (!c)
        unknown_command(argv[0]);
    if (c->help)
        c->help();
    else
        help_main(stdout);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_program = argc > 0 ? argv[0] : NULL;
    if (argc < 2) {
        help_main(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
        help_main(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(first, "--version") == 0) {
        printf("crease %s (libcrease %s)\n", PACKAGE_VERSION, crease_version());
        return CLI_EXIT_OK;
    }
    if (first[0] == '-')
        cli_usage_error("unknown option '%s'; a command comes first, as in 'crease train "
                        "--epochs 5'",
                        first);
    const command *c = find_command(first);
    if (!c)
        unknown_command(first);
    int rc = c->run(argc - 2, argv + 2);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
        rc = cli_error("cannot write the output");
    return rc;
}
