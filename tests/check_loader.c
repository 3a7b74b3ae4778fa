/* check_loader.c -- plugin search, ABI checks, skip reasons, device names. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#include "check_common.h"

static const char *env_or_skip(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "check_loader: %s is not set (run through make check)\n", name);
        exit(1);
    }
    return v;
}

/* Reason recorded for the skipped file whose name contains `file`. */
static const char *skip_reason(const char *file)
{
    for (int i = 0; i < crease_plugin_skipped_count(); i++) {
        const char *path, *reason;
        ck_assert_int_eq(crease_plugin_skipped_get(i, &path, &reason), CREASE_OK);
        if (strstr(path, file)) return reason;
    }
    return NULL;
}

START_TEST(test_faulty_plugins_are_skipped_with_reasons)
{
    setenv("CREASE_PLUGIN_PATH", env_or_skip("CREASE_TEST_PLUGIN_DIR"), 1);
    crease__plugins_reset(0);
    /* None of the test plugins is usable: loading fails cleanly. */
    ck_assert_int_eq(crease_plugins_load(), CREASE_ENODEV);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "no usable backend plugin"));
    ck_assert_int_eq(crease_plugin_count(), 0);

    const char *r = skip_reason("crease-noentry.so");
    ck_assert_msg(r && strstr(r, "no crease_plugin_entry symbol"), "noentry: %s", r ? r : "(not listed)");
    r = skip_reason("crease-badabi.so");
    ck_assert_msg(r && strstr(r, "plugin ABI 99."), "badabi: %s", r ? r : "(not listed)");
    r = skip_reason("crease-failinit.so");
    ck_assert_msg(r && strstr(r, "init failed") && strstr(r, "no widget found on this machine (test reason)"),
                  "failinit: %s", r ? r : "(not listed)");
    r = skip_reason("crease-zeroscore.so");
    ck_assert_msg(r && strstr(r, "cannot run on this machine (score 0)"), "zeroscore: %s", r ? r : "(not listed)");

    /* Opening a device then fails with a clear error, no crash. */
    crease_device *d = (crease_device *)1;
    ck_assert_int_eq(crease_device_open("cpu:0", &d), CREASE_ENODEV);
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_missing_plugin_directory)
{
    setenv("CREASE_PLUGIN_PATH", "/nonexistent/crease/plugins::", 1);
    crease__plugins_reset(0);
    ck_assert_int_eq(crease_plugins_load(), CREASE_ENODEV);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "crease devices"));
    ck_assert_int_eq(crease_plugin_count(), 0);
    ck_assert_int_eq(crease_plugin_skipped_count(), 0);
    crease_device *d;
    ck_assert_int_eq(crease_device_open(NULL, &d), CREASE_ENODEV);
}
END_TEST

static void load_real(void)
{
    setenv("CREASE_PLUGIN_PATH", env_or_skip("CREASE_PLUGIN_PATH"), 1);
    crease__plugins_reset(1);
    ck_assert_int_eq(crease_plugins_load(), CREASE_OK);
}

START_TEST(test_cpu_plugin_loads)
{
    load_real();
    const struct crease_loaded_plugin *lp = crease__plugin_by_name("cpu");
    ck_assert_ptr_nonnull(lp);
    crease_plugin_desc desc;
    int found = 0;
    for (int i = 0; i < crease_plugin_count(); i++) {
        ck_assert_int_eq(crease_plugin_get(i, &desc), CREASE_OK);
        if (!strcmp(desc.name, "cpu")) {
            found = 1;
            ck_assert_int_gt(desc.score, 0);
            ck_assert_int_eq(desc.abi_major, CREASE_ABI_MAJOR);
            ck_assert_int_ge(desc.device_count, 1);
            ck_assert_ptr_nonnull(strstr(desc.path, "crease-cpu"));
        }
    }
    ck_assert(found);
    ck_assert_int_eq(crease_plugin_get(99, &desc), CREASE_EINVAL);
}
END_TEST

START_TEST(test_device_names)
{
    load_real();
    crease_device *d = NULL;
    ck_assert_int_eq(crease_device_open("cpu:0", &d), CREASE_OK);
    ck_assert_str_eq(crease_device_name(d), "cpu:0");
    struct crease_device_info info = {.size = sizeof info};
    ck_assert_int_eq(crease_device_get_info(d, &info), CREASE_OK);
    ck_assert_str_eq(info.type, "cpu");
    ck_assert_int_ge(info.compute_units, 1);
    crease_device_free(d);

    ck_assert_int_eq(crease_device_open("cpu", &d), CREASE_OK);
    ck_assert_str_eq(crease_device_name(d), "cpu:0");
    crease_device_free(d);
    ck_assert_int_eq(crease_device_open("cpu:cpu", &d), CREASE_OK); /* selector by type */
    crease_device_free(d);

    unsetenv("CREASE_DEVICE");
    ck_assert_int_eq(crease_device_open(NULL, &d), CREASE_OK);
    ck_assert_str_eq(crease_device_name(d), "cpu:0");
    crease_device_free(d);

    ck_assert_int_eq(crease_device_open("cpu:7", &d), CREASE_ENODEV);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "cpu:7"));
    /* an index past the end: the error names the devices there are */
    for (int i = 0; i < crease_plugin_count(); i++) {
        const char *b = crease__plugin(i)->p->name;
        int n = crease__plugin(i)->p->device_count();
        char name[64], have[160] = "";
        snprintf(name, sizeof name, "%s:999", b);
        if (n == 1)
            snprintf(have, sizeof have, "has 1 device (%s:0)", b);
        else if (n > 1)
            snprintf(have, sizeof have, "has %d devices (%s:0 .. %s:%d)", n, b, b, n - 1);
        ck_assert_int_eq(crease_device_open(name, &d), CREASE_ENODEV);
        ck_assert_msg(strstr(crease_last_error(), have) != NULL, "\"%s\" lacks \"%s\"",
                      crease_last_error(), have);
    }
    ck_assert_int_eq(crease_device_open("foo:0", &d), CREASE_ENODEV);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "no backend 'foo'"));
    ck_assert_int_eq(crease_device_open("cpu:", &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_device_open(":0", &d), CREASE_EINVAL);
    ck_assert_int_eq(crease_device_open("cpu:no-such-thing", &d), CREASE_ENODEV);

    /* $CREASE_DEVICE is used when no name is given. */
    setenv("CREASE_DEVICE", "nosuch:3", 1);
    ck_assert_int_eq(crease_device_open(NULL, &d), CREASE_ENODEV);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "nosuch:3"));
    unsetenv("CREASE_DEVICE");
}
END_TEST

START_TEST(test_forced_variant)
{
    setenv("CREASE_CPU_VARIANT", "no-such-variant", 1);
    setenv("CREASE_PLUGIN_PATH", env_or_skip("CREASE_PLUGIN_PATH"), 1);
    crease__plugins_reset(0);
    crease_plugins_load();
    ck_assert_ptr_null(crease__plugin_by_name("cpu"));
    const char *r = skip_reason("crease-cpu");
    ck_assert_msg(r && strstr(r, "CREASE_CPU_VARIANT=no-such-variant"), "%s", r ? r : "(not listed)");
    unsetenv("CREASE_CPU_VARIANT");
}
END_TEST

START_TEST(test_duplicate_directory_loads_once)
{
    /* The same directory twice: one plugin, no spurious skip. */
    const char *p = env_or_skip("CREASE_PLUGIN_PATH");
    char both[8192];
    snprintf(both, sizeof both, "%s:%s", p, p);
    setenv("CREASE_PLUGIN_PATH", both, 1);
    crease__plugins_reset(0);
    ck_assert_int_eq(crease_plugins_load(), CREASE_OK);
    int cpus = 0;
    for (int i = 0; i < crease_plugin_count(); i++) cpus += !strcmp(crease__plugin(i)->p->name, "cpu");
    ck_assert_int_eq(cpus, 1);
}
END_TEST


/* The list of every variant found, loaded or not. */
static int find_variant(const char *name, const char *variant, crease_plugin_variant *out)
{
    for (int i = 0; i < crease_plugin_variant_count(); i++) {
        crease_plugin_variant v = {.size = sizeof v};
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        if (!strcmp(v.name, name) && !strcmp(v.variant, variant)) {
            if (out) *out = v;
            return i;
        }
    }
    return -1;
}

START_TEST(test_variant_list)
{
    unsetenv("CREASE_CPU_VARIANT");
    load_real();
    int n = crease_plugin_variant_count();
    ck_assert_int_ge(n, 1);
    crease_plugin_variant pv;
    ck_assert_msg(find_variant("cpu", "portable", &pv) >= 0, "cpu portable not listed");
    ck_assert_int_gt(pv.score, 0);
    ck_assert_int_eq(pv.runnable, 1);
    ck_assert_ptr_nonnull(strstr(pv.path, "crease-cpu"));

    int loaded_cpu = 0, best_runnable = 0;
    const char *prev_name = "";
    int prev_score = -1;
    for (int i = 0; i < n; i++) {
        crease_plugin_variant v = {.size = sizeof v};
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        ck_assert_ptr_nonnull(v.name);
        ck_assert_ptr_nonnull(v.variant);
        ck_assert_ptr_nonnull(v.path);
        ck_assert_ptr_nonnull(v.reason);
        /* by name, then score from low to high */
        ck_assert_int_ge(strcmp(v.name, prev_name), 0);
        if (!strcmp(v.name, prev_name)) ck_assert_int_ge(v.score, prev_score);
        prev_name = v.name;
        prev_score = v.score;
        ck_assert_int_eq(v.runnable, v.score > 0 && !strstr(v.reason, "init failed"));
        if (v.loaded) {
            ck_assert_str_eq(v.reason, "");
            ck_assert_int_ge(v.plugin, 0);
            crease_plugin_desc d;
            ck_assert_int_eq(crease_plugin_get(v.plugin, &d), CREASE_OK);
            ck_assert_str_eq(d.name, v.name);
            ck_assert_str_eq(d.variant, v.variant);
            ck_assert_str_eq(d.path, v.path);
        } else {
            ck_assert_msg(*v.reason, "%s/%s: no reason", v.name, v.variant);
        }
        if (!strcmp(v.name, "cpu")) {
            loaded_cpu += v.loaded;
            ck_assert_int_ge(v.plugin, 0); /* a cpu variant is loaded */
            if (v.runnable && v.score > best_runnable) best_runnable = v.score;
        }
    }
    ck_assert_int_eq(loaded_cpu, 1);
    /* the loaded cpu variant is the best runnable one */
    for (int i = 0; i < n; i++) {
        crease_plugin_variant v = {.size = sizeof v};
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        if (!strcmp(v.name, "cpu") && v.loaded) ck_assert_int_eq(v.score, best_runnable);
        if (!strcmp(v.name, "cpu") && !v.loaded && v.runnable)
            ck_assert_msg(strstr(v.reason, "scores higher"), "%s: %s", v.variant, v.reason);
    }

    /* bad calls */
    crease_plugin_variant v = {.size = sizeof v};
    ck_assert_int_eq(crease_plugin_variant_get(-1, &v), CREASE_EINVAL);
    ck_assert_int_eq(crease_plugin_variant_get(n, &v), CREASE_EINVAL);
    ck_assert_int_eq(crease_plugin_variant_get(0, NULL), CREASE_EINVAL);
    v.size = 0;
    ck_assert_int_eq(crease_plugin_variant_get(0, &v), CREASE_EINVAL);

    /* an older, shorter struct gets its part and nothing past it */
    struct {
        crease_plugin_variant v;
        char guard[64];
    } small;
    memset(&small, 0x5a, sizeof small);
    small.v.size = offsetof(crease_plugin_variant, reason);
    ck_assert_int_eq(crease_plugin_variant_get(0, &small.v), CREASE_OK);
    ck_assert_int_eq(small.v.size, offsetof(crease_plugin_variant, reason));
    ck_assert_ptr_nonnull(small.v.name);
    const unsigned char *tail = (const unsigned char *)&small.v + offsetof(crease_plugin_variant, reason);
    for (size_t i = 0; i < sizeof small - offsetof(crease_plugin_variant, reason); i++)
        ck_assert_int_eq(tail[i], 0x5a);
}
END_TEST

START_TEST(test_variant_list_forced)
{
    /* A forced variant changes which one is loaded, not what is listed. */
    unsetenv("CREASE_CPU_VARIANT");
    load_real();
    int all = crease_plugin_variant_count();
    setenv("CREASE_CPU_VARIANT", "portable", 1);
    load_real();
    ck_assert_int_eq(crease_plugin_variant_count(), all);
    crease_plugin_variant pv;
    ck_assert(find_variant("cpu", "portable", &pv) >= 0);
    ck_assert_int_eq(pv.loaded, 1);
    for (int i = 0; i < all; i++) {
        crease_plugin_variant v = {.size = sizeof v};
        ck_assert_int_eq(crease_plugin_variant_get(i, &v), CREASE_OK);
        if (!strcmp(v.name, "cpu") && strcmp(v.variant, "portable") && v.score > 0) {
            ck_assert_int_eq(v.loaded, 0);
            ck_assert_int_eq(v.runnable, 1);
            ck_assert_msg(strstr(v.reason, "CREASE_CPU_VARIANT=portable"), "%s", v.reason);
        }
    }
    unsetenv("CREASE_CPU_VARIANT");
}
END_TEST

START_TEST(test_variant_list_faulty)
{
    /* Files that are no plugin of this ABI are not variants; a score-0 one
     * and one whose init fails are, and cannot run. */
    setenv("CREASE_PLUGIN_PATH", env_or_skip("CREASE_TEST_PLUGIN_DIR"), 1);
    crease__plugins_reset(0);
    crease_plugins_load();
    crease_plugin_variant v;
    ck_assert_msg(find_variant("zeroscore", "test", &v) >= 0, "zeroscore not listed");
    ck_assert_int_eq(v.score, 0);
    ck_assert_int_eq(v.runnable, 0);
    ck_assert_int_eq(v.loaded, 0);
    ck_assert_int_eq(v.plugin, -1);
    ck_assert_msg(strstr(v.reason, "cannot run on this machine"), "%s", v.reason);
    ck_assert_msg(find_variant("failinit", "test", &v) >= 0, "failinit not listed");
    ck_assert_int_eq(v.runnable, 0);
    ck_assert_msg(strstr(v.reason, "init failed"), "%s", v.reason);
    for (int i = 0; i < crease_plugin_variant_count(); i++) {
        crease_plugin_variant w = {.size = sizeof w};
        ck_assert_int_eq(crease_plugin_variant_get(i, &w), CREASE_OK);
        ck_assert_msg(!strstr(w.path, "noentry") && !strstr(w.path, "badabi"), "%s listed", w.path);
    }
}
END_TEST

START_TEST(test_device_find)
{
    load_real();
    int plugin = -2, index = -2;
    ck_assert_int_eq(crease_device_find("cpu:0", &plugin, &index), CREASE_OK);
    ck_assert_int_eq(index, 0);
    crease_plugin_desc d;
    ck_assert_int_eq(crease_plugin_get(plugin, &d), CREASE_OK);
    ck_assert_str_eq(d.name, "cpu");
    ck_assert_int_eq(crease_device_find("cpu:cpu", NULL, &index), CREASE_OK);
    ck_assert_int_eq(index, 0);
    unsetenv("CREASE_DEVICE");
    plugin = -2;
    ck_assert_int_eq(crease_device_find(NULL, &plugin, NULL), CREASE_OK);
    ck_assert_int_eq(crease_plugin_get(plugin, &d), CREASE_OK);
    ck_assert_str_eq(d.name, "cpu");
    ck_assert_int_eq(crease_device_find("foo:0", &plugin, &index), CREASE_ENODEV);
    ck_assert_ptr_nonnull(strstr(crease_last_error(), "no backend 'foo'"));
    ck_assert_int_eq(crease_device_find("cpu:7", NULL, NULL), CREASE_ENODEV);
    ck_assert_int_eq(crease_device_find("cpu:", NULL, NULL), CREASE_EINVAL);
}
END_TEST

CK_MAIN("loader", NULL, NULL, 0, test_faulty_plugins_are_skipped_with_reasons,
        test_missing_plugin_directory, test_cpu_plugin_loads, test_device_names,
        test_forced_variant, test_duplicate_directory_loads_once, test_variant_list,
        test_variant_list_forced, test_variant_list_faulty, test_device_find)
