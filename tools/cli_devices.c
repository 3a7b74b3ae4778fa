/*
 * cli_devices.c -- 'crease devices': the backend plugins found, their
 * devices, and the plugin files that were skipped (with the reason).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_optdef devices_opts[] = {{NULL, 0, 0}};

void cli_help_devices(void)
{
    printf("usage: crease devices\n"
           "\n"
           "Lists every backend plugin that was loaded (name, variant, score, ABI\n"
           "version, file, description) with each of its devices (name to pass to\n"
           "--device, type, model, vendor, compute units, memory, fp16/fp64 support,\n"
           "and for OpenCL the platform, driver and OpenCL C version), then the plugin\n"
           "files that were found but not used, each with the reason.\n"
           "\n"
           "  -h, --help           show this help\n"
           "\n"
           "Plugins are searched in $CREASE_PLUGIN_PATH (directories separated by ':'),\n"
           "then in the installed plugin directory, then in the build tree.\n"
           "Set CREASE_LOG=debug to see what the loader tries.\n");
}

static void print_skipped(FILE *f)
{
    int n = crease_plugin_skipped_count();
    for (int i = 0; i < n; i++) {
        const char *path = NULL, *reason = NULL;
        if (crease_plugin_skipped_get(i, &path, &reason) != CREASE_OK)
            continue;
        fprintf(f, "skipped: %s: %s\n", path ? path : "?",
                reason && *reason ? reason : "no reason given");
    }
}

/* Prints a fixed-size char array field of the info struct if non-empty. */
static void print_field(const char *label, const char *value, size_t cap)
{
    size_t n = strnlen(value, cap);
    if (n)
        printf("    %-16s %.*s\n", label, (int)n, value);
}

static int print_device(const crease_plugin_desc *pd, int plugin, int index)
{
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    crease_status s = crease_plugin_device_info(plugin, index, &info);
    if (s) {
        cli_lib_error(s, "cannot describe device %s:%d", pd->name, index);
        return 1;
    }
    char b1[32], b2[32];
    printf("  %s:%d  %.*s\n", pd->name, index, (int)strnlen(info.name, sizeof info.name),
           info.name);
    print_field("type", info.type, sizeof info.type);
    print_field("vendor", info.vendor, sizeof info.vendor);
    printf("    %-16s %d\n", "compute units", info.compute_units);
    printf("    %-16s %s\n", "memory",
           info.global_mem_bytes ? cli_fmt_bytes(b1, sizeof b1, info.global_mem_bytes)
                                 : "unknown");
    printf("    %-16s %s\n", "max allocation",
           info.max_alloc_bytes ? cli_fmt_bytes(b2, sizeof b2, info.max_alloc_bytes)
                                : "unknown");
    printf("    %-16s %s / %s\n", "fp16 / fp64", info.fp16 ? "yes" : "no",
           info.fp64 ? "yes" : "no");
    print_field("platform", info.platform, sizeof info.platform);
    print_field("driver", info.driver_version, sizeof info.driver_version);
    print_field("OpenCL C", info.language_version, sizeof info.language_version);
    return 0;
}

int cli_cmd_devices(int argc, char **argv)
{
    cli_cmd = "devices";
    if (cli_wants_help(argc, argv)) {
        cli_help_devices();
        return CLI_EXIT_OK;
    }
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *v;
    if (cli_args_next(&a, devices_opts, &v) == CLI_ARG_POSITIONAL)
        cli_usage_error("unexpected argument '%s'", v);

    crease_status s = crease_plugins_load();
    if (s || crease_plugin_count() == 0) {
        cli_lib_error(s ? s : CREASE_EPLUGIN, "no backend plugin could be loaded");
        print_skipped(stderr);
        fprintf(stderr,
                "crease: set CREASE_PLUGIN_PATH to the directory that holds the crease-*.so "
                "plugins (in a build tree: plugins/cpu/.libs)\n");
        return CLI_EXIT_FAIL;
    }

    int failed = 0;
    int n = crease_plugin_count();
    for (int i = 0; i < n; i++) {
        crease_plugin_desc pd;
        memset(&pd, 0, sizeof pd);
        s = crease_plugin_get(i, &pd);
        if (s) {
            cli_lib_error(s, "cannot describe plugin %d", i);
            failed = 1;
            continue;
        }
        if (i > 0)
            putchar('\n');
        printf("plugin %s: variant %s, score %d, ABI %d.%d, %d device%s\n", pd.name,
               pd.variant && *pd.variant ? pd.variant : "-", pd.score, pd.abi_major,
               pd.abi_minor, pd.device_count, pd.device_count == 1 ? "" : "s");
        printf("  %-18s %s\n", "file", pd.path ? pd.path : "?");
        if (pd.description && *pd.description)
            printf("  %-18s %s\n", "description", pd.description);
        for (int d = 0; d < pd.device_count; d++)
            failed |= print_device(&pd, i, d);
    }
    if (crease_plugin_skipped_count() > 0)
        putchar('\n');
    fflush(stdout);
    print_skipped(stdout);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
