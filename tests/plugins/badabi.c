/* A plugin built for a future ABI major: must be refused. */
#include "fake.h"

FAKE_PLUGIN(plugin, "badabi");

const struct crease_plugin *crease_plugin_entry(void);
const struct crease_plugin *crease_plugin_entry(void)
{
    fake_fill_ops();
    plugin.abi_major = CREASE_ABI_MAJOR + 98;
    return &plugin;
}
