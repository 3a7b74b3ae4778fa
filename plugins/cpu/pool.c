/* pool.c -- a small persistent thread pool for the CPU backend.
 *
 * One job at a time: the caller publishes (fn, arg, ntasks), wakes the
 * workers and works on the tasks itself.  The tasks are cut into one
 * contiguous range per thread; a thread first claims the tasks of its own
 * range, in order, and only then those left in the others' ranges.  So
 * when every thread keeps up, thread t always runs the same part of a job:
 * successive ops of a training step cut their work the same way (rows in
 * order), and the rows one op writes on a core are the rows the next op
 * reads on it, from that core's cache.  Which thread runs a task still
 * depends on timing, so every user cuts its work by shape alone and
 * combines partial results in a fixed order, and results never depend on
 * the claiming order.
 *
 * The caller waits only for tasks that were claimed, never for a worker
 * that has not woken up yet: on a loaded machine (more runnable threads
 * than cores) a descheduled worker then costs nothing, because the caller
 * simply runs the remaining tasks itself.  To make that safe a late worker
 * must never claim a task of a job it did not read correctly, so each
 * range's claim word holds the job generation and the range's next task: a
 * claim is a compare-and-swap on (generation, index), and the job fields
 * are published seqlock-style (odd generation while they are being
 * written).
 *
 * Workers spin briefly after a job (training issues many small ops back to
 * back, and a condition-variable wake-up costs tens of microseconds), then
 * sleep on a condition variable.
 *
 * Compiled with the baseline flags for every variant (see cpu.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 200000L /* how long an idle thread spins before sleeping */
/* Spins before the first pause: the next op of a training step usually
 * comes within a microsecond or two, and a pause costs reaction time; a
 * longer wait pauses so as not to starve a sibling hardware thread. */
#ifndef TIGHT_SPINS
#define TIGHT_SPINS 2000u
#endif
#define MAX_THREADS 256

struct worker {
    struct cpu_pool *pool;
    int tid;
};

/* One range of a job's tasks, on a cache line of its own. */
struct slot {
    /* (generation << 32) | next task of the range; generation odd while
     * the job fields are being written */
    _Atomic uint64_t state;
    atomic_int end; /* the range's end (a job field) */
    char pad[64 - sizeof(uint64_t) - sizeof(atomic_int)];
};

struct cpu_pool {
    int nworkers; /* threads started, the caller not counted */
    pid_t pid;    /* after fork() the workers are gone: run inline */
    pthread_t *threads;
    struct worker *workers;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* idle workers wait here for a job */
    pthread_cond_t done; /* the caller waits here for claimed tasks */
    atomic_int sleepers;
    atomic_int stop;

    struct slot *slots; /* one per thread (nworkers + 1), 64-byte aligned */
    int nslots;
    uint32_t gen; /* caller's copy of the current (even) generation */
    atomic_int finished; /* tasks of this job completed */

    _Atomic(cpu_task_fn) fn;
    _Atomic(void *) arg;
    atomic_int ntasks;
};

/* in spin loops: lets a sibling hardware thread run, and tells a
 * hypervisor that this vCPU is only waiting */
static inline void cpu_relax(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause(); /* SSE2: in every x86-64 baseline */
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Claims the next task of range r of the job published as generation gen:
 * 1 and *task when it got one, 0 when the range is used up, -1 when that
 * job is gone. */
static int claim(struct cpu_pool *p, int r, uint32_t gen, int *task, cpu_task_fn *fn,
                 void **arg, int *ntasks)
{
    struct slot *sl = &p->slots[r];
    for (;;) {
        uint64_t s = atomic_load_explicit(&sl->state, memory_order_acquire);
        if ((uint32_t)(s >> 32) != gen)
            return -1;
        *fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        *ntasks = atomic_load_explicit(&p->ntasks, memory_order_relaxed);
        int end = atomic_load_explicit(&sl->end, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        uint32_t t = (uint32_t)s;
        if (t >= (uint32_t)end)
            return 0;
        /* succeeds only if the job is still the one whose fields we read */
        if (!atomic_compare_exchange_weak(&sl->state, &s, s + 1))
            continue;
        *task = (int)t;
        return 1;
    }
}

/* Claims and runs one task of the job published as generation gen, from
 * the thread's own range first.  Returns 1 if it ran one, 0 if that job has
 * none left (or is gone). */
static int run_one(struct cpu_pool *p, uint32_t gen, int tid)
{
    int n = p->nslots, task, ntasks;
    cpu_task_fn fn;
    void *arg;
    for (int i = 0; i < n; i++) {
        int r = (tid + i) % n, got = claim(p, r, gen, &task, &fn, &arg, &ntasks);
        if (got < 0)
            return 0;
        if (got == 0)
            continue;
        fn(arg, task, tid);
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == ntasks &&
            tid != 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
        return 1;
    }
    return 0;
}

/* generation of a job a worker has not finished with yet, or 0 (slot 0 is
 * published last, so when it shows a job every range does) */
static int new_job(struct cpu_pool *p, uint32_t seen, uint32_t *gen)
{
    uint32_t g = (uint32_t)(atomic_load_explicit(&p->slots[0].state, memory_order_acquire) >> 32);
    if (g == seen || (g & 1))
        return 0;
    *gen = g;
    return 1;
}

static void *worker_main(void *v)
{
    struct worker *w = v;
    struct cpu_pool *p = w->pool;
    uint32_t seen = 0, gen = 0;

    for (;;) {
        if (!new_job(p, seen, &gen)) {
            /* spin a while, checking the clock only now and then */
            long t0 = now_ns();
            for (unsigned i = 1; !new_job(p, seen, &gen); i++) {
                if (atomic_load_explicit(&p->stop, memory_order_relaxed))
                    return NULL;
                if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS)
                    break;
                if (i > TIGHT_SPINS)
                    cpu_relax();
            }
        }
        if (!new_job(p, seen, &gen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!new_job(p, seen, &gen) && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            if (atomic_load(&p->stop))
                return NULL;
        }
        while (run_one(p, gen, w->tid))
            ;
        seen = gen;
    }
}

struct cpu_pool *cpu_pool_new(int nthreads)
{
    struct cpu_pool *p = calloc(1, sizeof *p);
    if (!p) {
        cpu_error(CREASE_ENOMEM, "cpu: cannot allocate %zu bytes for the thread pool",
                  sizeof *p);
        return NULL;
    }
    p->pid = getpid();
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if (nthreads < 1)
        nthreads = 1;
    void *sl = NULL;
    if (posix_memalign(&sl, 64, (size_t)nthreads * sizeof(struct slot)) != 0) {
        free(p);
        cpu_error(CREASE_ENOMEM, "cpu: cannot allocate the thread pool's task ranges");
        return NULL;
    }
    p->slots = sl;
    p->nslots = 1; /* grows with every worker started */
    for (int i = 0; i < nthreads; i++) {
        atomic_init(&p->slots[i].state, 0);
        atomic_init(&p->slots[i].end, 0);
    }
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->arg, NULL);
    atomic_init(&p->ntasks, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    int want = nthreads - 1;
    if (want <= 0)
        return p;

    p->threads = calloc((size_t)want, sizeof *p->threads);
    p->workers = calloc((size_t)want, sizeof *p->workers);
    if (!p->threads || !p->workers) {
        /* a pool without workers still works, on the caller alone */
        free(p->threads);
        free(p->workers);
        p->threads = NULL;
        p->workers = NULL;
        return p;
    }

    /* Workers must not take the application's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < want; i++) {
        p->workers[i].pool = p;
        p->workers[i].tid = i + 1;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
        if (rc != 0) {
            if (cpu_host && cpu_host->log)
                cpu_host->log(1, "cpu: started %d of %d worker threads (pthread_create: error %d)",
                              i, want, rc);
            break;
        }
        p->nworkers++;
    }
    p->nslots = p->nworkers + 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return p;
}

void cpu_pool_free(struct cpu_pool *p)
{
    if (!p)
        return;
    /* In a forked child the workers do not exist and the mutex may have
     * been copied in any state: just release the memory. */
    if (getpid() == p->pid) {
        if (p->nworkers > 0) {
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->stop, 1);
            pthread_cond_broadcast(&p->wake);
            pthread_mutex_unlock(&p->mu);
            for (int i = 0; i < p->nworkers; i++)
                pthread_join(p->threads[i], NULL);
        }
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->threads);
    free(p->workers);
    free(p->slots);
    free(p);
}

int cpu_pool_threads(const struct cpu_pool *p)
{
    return p ? p->nworkers + 1 : 1;
}

void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg, int ntasks)
{
    if (ntasks <= 0)
        return;
    if (!p || p->nworkers == 0 || ntasks == 1 || getpid() != p->pid) {
        for (int t = 0; t < ntasks; t++)
            fn(arg, t, 0);
        return;
    }

    /* publish: odd generation in every range, the fields, then the new
     * even generation in every range, slot 0 last */
    int n = p->nslots;
    uint32_t g = p->gen + 2;
    for (int r = 0; r < n; r++)
        atomic_store_explicit(&p->slots[r].state, (uint64_t)(g - 1) << 32, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->ntasks, ntasks, memory_order_relaxed);
    for (int r = 0; r < n; r++)
        atomic_store_explicit(&p->slots[r].end, (int)((long)ntasks * (r + 1) / n),
                              memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    for (int r = n - 1; r >= 0; r--)
        atomic_store(&p->slots[r].state, ((uint64_t)g << 32) | (uint32_t)((long)ntasks * r / n));
    p->gen = g;
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }

    while (run_one(p, g, 0))
        ;

    /* every task is claimed; wait for those still running elsewhere */
    if (atomic_load_explicit(&p->finished, memory_order_acquire) != ntasks) {
        long t0 = now_ns();
        for (unsigned i = 1;
             atomic_load_explicit(&p->finished, memory_order_acquire) != ntasks; i++) {
            if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS)
                break;
            if (i > TIGHT_SPINS)
                cpu_relax();
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->finished, memory_order_acquire) != ntasks)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

int cpu_default_threads(void)
{
    const char *s = getenv("CREASE_NUM_THREADS");
    if (s && *s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 1)
            return v > MAX_THREADS ? MAX_THREADS : (int)v;
        if (cpu_host && cpu_host->log)
            cpu_host->log(1, "cpu: ignoring CREASE_NUM_THREADS=\"%s\" (want a positive integer)",
                          s);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* ------------------------------------------------------- parallel for */

struct pfor {
    cpu_range_fn body;
    void *arg;
    size_t n, chunk;
};

static void pfor_task(void *v, int task, int tid)
{
    const struct pfor *f = v;
    (void)tid;
    size_t b = (size_t)task * f->chunk;
    size_t e = b + f->chunk < f->n ? b + f->chunk : f->n;
    if (b < e)
        f->body(f->arg, b, e);
}

void cpu_parallel_for(crease_ctx *c, size_t n, size_t grain,
                      size_t min_parallel, cpu_range_fn body, void *arg)
{
    if (n == 0)
        return;
    int nt = c ? cpu_pool_threads(c->pool) : 1;
    if (nt <= 1 || n < min_parallel || n <= grain) {
        body(arg, 0, n);
        return;
    }
    if (grain == 0)
        grain = 1;
    /* a few tasks per thread balance uneven thread speeds */
    size_t ntasks = (n + grain - 1) / grain;
    size_t cap = (size_t)nt * 4;
    if (ntasks > cap)
        ntasks = cap;
    struct pfor f = {body, arg, n, (n + ntasks - 1) / ntasks};
    ntasks = (n + f.chunk - 1) / f.chunk;
    cpu_pool_run(c->pool, pfor_task, &f, (int)ntasks);
}
