/* fake.h -- a complete but inert plugin descriptor for the loader's fault
 * tests.  Each test plugin breaks exactly one thing about it. */
#ifndef CREASE_TEST_FAKE_H
#define CREASE_TEST_FAKE_H

#include <crease/backend.h>

#define FAKE_OP(name) static int name(void) { return CREASE_EUNSUPPORTED; }
FAKE_OP(fake_op)
#undef FAKE_OP

/* Every slot points at one function; the loader only checks presence, and
 * these plugins never get as far as being called. */
#define F (void *)fake_op
static struct crease_ops fake_ops;
static void fake_fill_ops(void)
{
    void **slot = (void **)((char *)&fake_ops + sizeof(size_t));
    size_t n = (sizeof fake_ops - sizeof(size_t)) / sizeof(void *);
    for (size_t i = 0; i < n; i++) slot[i] = F;
    fake_ops.size = sizeof fake_ops;
}
#undef F

static int fake_score(void) { return 1; }
static int fake_init(const struct crease_host *h) { (void)h; return 0; }
static int fake_count(void) { return 0; }
static int fake_info(int i, struct crease_device_info *d) { (void)i; (void)d; return CREASE_ENODEV; }
static int fake_open(int i, crease_ctx **c) { (void)i; (void)c; return CREASE_ENODEV; }
static void fake_close(crease_ctx *c) { (void)c; }

#define FAKE_PLUGIN(var, pname)                                                     \
    static struct crease_plugin var = {sizeof(struct crease_plugin), CREASE_ABI_MAJOR, \
                                       CREASE_ABI_MINOR, pname, "test", "loader fault test", \
                                       fake_score, fake_init, NULL, fake_count,     \
                                       fake_info, fake_open, fake_close, &fake_ops}

#endif
