/* check_loader.c -- plugin search, ABI checks, skip reasons, device names. */
#include <check.h>
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

CK_MAIN("loader", NULL, NULL, 0, test_faulty_plugins_are_skipped_with_reasons,
        test_missing_plugin_directory, test_cpu_plugin_loads, test_device_names,
        test_forced_variant, test_duplicate_directory_loads_once)
