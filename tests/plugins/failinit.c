/* A plugin whose init fails with a reason: must be skipped with it. */
#include "fake.h"

static int failing_init(const struct crease_host *h)
{
    return h->set_error(CREASE_ENODEV, "no widget found on this machine (test reason)");
}

FAKE_PLUGIN(plugin, "failinit");

const struct crease_plugin *crease_plugin_entry(void);
const struct crease_plugin *crease_plugin_entry(void)
{
    fake_fill_ops();
    plugin.init = failing_init;
    return &plugin;
}
