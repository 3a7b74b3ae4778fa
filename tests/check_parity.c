/* check_parity.c -- the same seeded training run on every device of every
 * loaded backend ends within a stated tolerance of the CPU reference. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "net.h"

#include "check_common.h"

/* Stated tolerance: after 2 epochs of 2-32-32-32-32-2 (Adam, lr 3e-3,
 * batch 256) on a 1-in-16 Baarle subsample, every device's evaluated loss
 * is within 5% (relative) of cpu:0's and its balanced accuracy within 1
 * percentage point.  Devices differ only in float rounding (summation
 * order, fused multiply-adds), which training amplifies slowly. */
#define LOSS_RTOL 0.05
#define BACC_ATOL 0.01

struct run {
    crease_metrics m;
    float first_logits[8];
};

static struct run train_on(const char *device, const crease_dataset *train, const crease_dataset *full)
{
    struct run r;
    crease_device *dev;
    ck_assert_msg(crease_device_open(device, &dev) == CREASE_OK, "%s: %s", device, crease_last_error());
    crease_net *n;
    ck_assert_int_eq(crease_net_new(dev, "2-32-32-32-32-2", NULL, &n), CREASE_OK);
    /* Same bits at the start on every device. */
    float x[8] = {-0.5f, 0.25f, 0.9f, -0.9f, 0.0f, 0.0f, 0.3f, 0.7f};
    ck_assert_int_eq(crease_net_predict(n, 4, x, r.first_logits), CREASE_OK);
    crease_train_opts o;
    crease_train_opts_default(&o);
    o.epochs = 2;
    o.batch = 256;
    o.lr = 3e-3f;
    ck_assert_msg(crease_net_train(n, train, &o, NULL) == CREASE_OK, "%s: %s", device, crease_last_error());
    ck_assert_int_eq(crease_net_eval(n, full, &r.m), CREASE_OK);
    crease_net_free(n);
    crease_device_free(dev);
    return r;
}

START_TEST(test_parity_all_devices)
{
    crease_dataset *full;
    ck_assert_int_eq(crease_dataset_load_baarle(NULL, &full), CREASE_OK);
    crease_dataset *train = ck_dataset_every(full, 16);

    struct run ref = train_on("cpu:0", train, full);
    printf("parity reference cpu:0 (%s): loss %.5f, balanced accuracy %.2f%%\n",
           crease__plugin_by_name("cpu")->p->variant, ref.m.loss, 100 * ref.m.balanced_accuracy);
    int others = 0;
    for (int p = 0; p < crease_plugin_count(); p++) {
        const struct crease_loaded_plugin *lp = crease__plugin(p);
        for (int d = 0; d < lp->p->device_count(); d++) {
            char name[64];
            snprintf(name, sizeof name, "%s:%d", lp->p->name, d);
            if (!strcmp(name, "cpu:0")) continue;
            struct run r = train_on(name, train, full);
            printf("parity %s: loss %.5f (cpu %.5f), balanced accuracy %.2f%% (cpu %.2f%%)\n", name, r.m.loss,
                   ref.m.loss, 100 * r.m.balanced_accuracy, 100 * ref.m.balanced_accuracy);
            for (int k = 0; k < 8; k++)
                ck_assert_msg(fabsf(r.first_logits[k] - ref.first_logits[k]) <= 1e-5f * (1 + fabsf(ref.first_logits[k])),
                              "%s: initial logits differ from cpu:0", name);
            ck_assert_msg(fabs(r.m.loss - ref.m.loss) <= LOSS_RTOL * ref.m.loss, "%s: loss %g vs cpu %g", name,
                          r.m.loss, ref.m.loss);
            ck_assert_msg(fabs(r.m.balanced_accuracy - ref.m.balanced_accuracy) <= BACC_ATOL,
                          "%s: balanced accuracy %g vs cpu %g", name, r.m.balanced_accuracy,
                          ref.m.balanced_accuracy);
            others++;
        }
    }
    if (!others) printf("SKIP parity: cpu:0 is the only device; nothing to compare\n");
    crease_dataset_free(train);
    crease_dataset_free(full);
}
END_TEST

CK_MAIN("parity", NULL, NULL, 900, test_parity_all_devices)
