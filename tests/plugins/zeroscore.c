/* A plugin variant that cannot run here (score 0): must be skipped, and its
 * init never called. */
#include "fake.h"

static int zero(void) { return 0; }
static int must_not_run(const struct crease_host *h)
{
    return h->set_error(CREASE_EPLUGIN, "init of a score-0 plugin was called");
}

FAKE_PLUGIN(plugin, "zeroscore");

const struct crease_plugin *crease_plugin_entry(void);
const struct crease_plugin *crease_plugin_entry(void)
{
    fake_fill_ops();
    plugin.score = zero;
    plugin.init = must_not_run;
    return &plugin;
}
