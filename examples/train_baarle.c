/* train_baarle.c -- the smallest complete crease program: train a deep
 * narrow ReLU net on the Baarle border and report its balanced accuracy.
 *
 *   cc train_baarle.c $(pkg-config --cflags --libs crease) -o train_baarle
 *   ./train_baarle            # CREASE_DEVICE=opencl:0 ./train_baarle
 */
#include <crease.h>
#include <stdio.h>

#define TRY(call) do { crease_status s_ = (call); if (s_) { \
    fprintf(stderr, "%s: %s\n", #call, *crease_last_error() ? crease_last_error() : crease_status_str(s_)); \
    return 1; } } while (0)

int main(void)
{
    crease_device *dev;
    crease_dataset *data;
    crease_net *net;
    crease_train_opts opts;
    crease_metrics m;

    TRY(crease_device_open(NULL, &dev));           /* $CREASE_DEVICE or cpu:0 */
    TRY(crease_dataset_load_baarle(NULL, &data));  /* the built-in map */
    TRY(crease_net_new(dev, "2-32-32-32-32-2", NULL, &net));
    crease_train_opts_default(&opts);
    opts.epochs = 5;
    opts.lr = 3e-3f;
    TRY(crease_net_train(net, data, &opts, NULL));
    TRY(crease_net_eval(net, data, &m));
    printf("%s on %s: balanced accuracy %.2f%%\n", crease_net_spec(net), crease_device_name(dev),
           100 * m.balanced_accuracy);
    crease_net_free(net);
    crease_dataset_free(data);
    crease_device_free(dev);
    return 0;
}
