/* SPDX-License-Identifier: Apache-2.0 */
/* Memory read bandwidth (membw.h). */
#include "gemma2/membw.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
#define SLICE_ALIGN ((size_t)4096) /* each thread starts on a page */

typedef struct membw_run {
    uint64_t *buf;
    size_t words; /* 64-bit words in buf */
    int threads;
    int passes;
    pthread_barrier_t start, done;
    double *seconds;           /* [passes], written by thread 0 */
    pthread_mutex_t gate_lock; /* the gate: workers start once every thread exists */
    pthread_cond_t gate_cond;
    int gate; /* 0 wait, 1 go, -1 give up (a thread could not be created) */
} membw_run;

typedef struct membw_arg {
    membw_run *run;
    int index;
    uint64_t sum; /* kept, so that the reads cannot be optimised away */
} membw_arg;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Thread `index`'s slice [*begin, *end) of the words, page-aligned. */
static void slice(const membw_run *r, int index, size_t *begin, size_t *end) {
    const size_t per_page = SLICE_ALIGN / sizeof(uint64_t);
    size_t pages = r->words / per_page;
    *begin = pages * (size_t)index / (size_t)r->threads * per_page;
    *end = pages * (size_t)(index + 1) / (size_t)r->threads * per_page;
}

/* Sums one 64-bit word of every 64-byte line. DRAM moves whole cache lines, so a
 * pass still transfers every byte of the slice; touching one word per line keeps the
 * core's load count from setting the pace instead of the memory. Measured here
 * (x86-64, gcc -O2): plain C loads of every word read 9 GB/s on one thread, this loop
 * 13-14 GB/s, the same as AVX-512 loads of every byte. Four accumulators: the adds
 * never wait on each other. */
static uint64_t sum_lines(const uint64_t *p, size_t n) {
    enum { LINE = 64 / sizeof(uint64_t) };
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 * LINE <= n; i += 4 * LINE) {
        a0 += p[i];
        a1 += p[i + LINE];
        a2 += p[i + 2 * LINE];
        a3 += p[i + 3 * LINE];
    }
    for (; i < n; i += LINE)
        a0 += p[i];
    return a0 + a1 + a2 + a3;
}

static void *membw_thread(void *p) {
    membw_arg *a = p;
    membw_run *r = a->run;
    pthread_mutex_lock(&r->gate_lock);
    while (r->gate == 0)
        pthread_cond_wait(&r->gate_cond, &r->gate_lock);
    int go = r->gate > 0;
    pthread_mutex_unlock(&r->gate_lock);
    if (!go)
        return NULL;
    size_t begin, end;
    slice(r, a->index, &begin, &end);
    /* first touch: the reading thread owns its pages (NUMA placement), and no page
     * fault is left for the timed passes */
    for (size_t i = begin; i < end; i++)
        r->buf[i] = i * 0x9e3779b97f4a7c15u;
    uint64_t total = 0;
    pthread_barrier_wait(&r->done); /* everything touched */
    for (int pass = 0; pass < r->passes; pass++) {
        pthread_barrier_wait(&r->start);
        double t0 = a->index == 0 ? now_seconds() : 0;
        total += sum_lines(r->buf + begin, end - begin);
        pthread_barrier_wait(&r->done);
        if (a->index == 0)
            r->seconds[pass] = now_seconds() - t0;
    }
    a->sum = total;
    return NULL;
}

size_t cli_membw_default_bytes(size_t min_bytes) {
    size_t largest = 0;
#if defined(_SC_LEVEL4_CACHE_SIZE)
    const int names[] = {_SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL4_CACHE_SIZE};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        long v = sysconf(names[i]);
        if (v > 0 && (size_t)v > largest)
            largest = (size_t)v;
    }
#endif
    size_t bytes = min_bytes;
    if (largest > 0 && largest <= SIZE_MAX / 8 && 4 * largest > bytes)
        bytes = 4 * largest;
    return (bytes + 64 * MIB - 1) / (64 * MIB) * (64 * MIB);
}

int cli_membw_measure(int threads, size_t bytes, int passes, cli_membw *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (threads < 1)
        threads = 1;
    if (passes < 1)
        passes = 1;
    bytes = bytes / SLICE_ALIGN * SLICE_ALIGN;
    if (bytes < SLICE_ALIGN * (size_t)threads) {
        snprintf(err, cap, "bandwidth buffer of %zu bytes is too small for %d threads", bytes, threads);
        return -1;
    }
    membw_run r = {.words = bytes / sizeof(uint64_t),
                   .threads = threads,
                   .passes = passes,
                   .gate_lock = PTHREAD_MUTEX_INITIALIZER,
                   .gate_cond = PTHREAD_COND_INITIALIZER};
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(err, cap, "cannot allocate %zu MiB for the bandwidth measurement: %s", bytes / MIB,
                 strerror(errno));
        return -1;
    }
    r.buf = mem;
#if defined(MADV_HUGEPAGE)
    madvise(mem, bytes, MADV_HUGEPAGE); /* a hint: fewer TLB misses, the best case for the roofline */
#endif
    r.seconds = calloc((size_t)passes, sizeof *r.seconds);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    membw_arg *args = calloc((size_t)threads, sizeof *args);
    int rc = -1, barriers = 0, started = 1;
    if (!r.seconds || !tids || !args) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    if (pthread_barrier_init(&r.start, NULL, (unsigned)threads) != 0) {
        snprintf(err, cap, "cannot create a thread barrier");
        goto out;
    }
    if (pthread_barrier_init(&r.done, NULL, (unsigned)threads) != 0) {
        pthread_barrier_destroy(&r.start);
        snprintf(err, cap, "cannot create a thread barrier");
        goto out;
    }
    barriers = 1;
    for (int i = 0; i < threads; i++)
        args[i] = (membw_arg){.run = &r, .index = i};
    for (; started < threads; started++) {
        int e = pthread_create(&tids[started], NULL, membw_thread, &args[started]);
        if (e != 0) {
            snprintf(err, cap, "cannot start bandwidth thread %d of %d: %s", started + 1, threads,
                     strerror(e));
            break;
        }
    }
    /* open the gate, or send the started threads home if one is missing */
    pthread_mutex_lock(&r.gate_lock);
    r.gate = started == threads ? 1 : -1;
    pthread_cond_broadcast(&r.gate_cond);
    pthread_mutex_unlock(&r.gate_lock);
    if (started < threads) {
        for (int i = 1; i < started; i++)
            pthread_join(tids[i], NULL);
        goto out;
    }
    membw_thread(&args[0]);
    for (int i = 1; i < threads; i++)
        pthread_join(tids[i], NULL);

    double best = 0, total = 0;
    for (int p = 0; p < passes; p++) {
        double s = r.seconds[p];
        double gb = s > 0 ? (double)bytes / s / 1e9 : 0;
        total += gb;
        if (gb > best)
            best = gb;
    }
    *out = (cli_membw){
        .gb_s = best, .mean_gb_s = total / passes, .bytes = bytes, .threads = threads, .passes = passes};
    rc = 0;
out:
    if (barriers) {
        pthread_barrier_destroy(&r.start);
        pthread_barrier_destroy(&r.done);
    }
    free(args);
    free(tids);
    free(r.seconds);
    munmap(mem, bytes);
    return rc;
}
