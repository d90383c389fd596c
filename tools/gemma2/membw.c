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

/* A reader: the buffer and its threads, kept between passes. Thread 0 is the
 * caller's, inside cli_membw_pass; the others wait at `start`. */
struct cli_membw_reader {
    uint64_t *buf;
    size_t bytes, words; /* words: 64-bit words in buf */
    int threads;
    int method;             /* CLI_MEMBW_*: set between passes, read after `start` */
    double method_gb_s[2];  /* each method's best of its timing passes at open */
    pthread_t *tids;        /* [threads]; tids[0] unused */
    struct membw_arg *args; /* [threads] */
    pthread_barrier_t start, done;
    int quit;                  /* read by the workers after `start` */
    pthread_mutex_t gate_lock; /* the gate: workers start once every thread exists */
    pthread_cond_t gate_cond;
    int gate; /* 0 wait, 1 go, -1 give up (a thread could not be created) */
};

typedef struct membw_arg {
    cli_membw_reader *r;
    int index;
    uint64_t sum; /* kept, so that the reads cannot be optimised away */
} membw_arg;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Thread `index`'s slice [*begin, *end) of the words, page-aligned. */
static void slice(const cli_membw_reader *r, int index, size_t *begin, size_t *end) {
    const size_t per_page = SLICE_ALIGN / sizeof(uint64_t);
    size_t pages = r->words / per_page;
    *begin = pages * (size_t)index / (size_t)r->threads * per_page;
    *end = pages * (size_t)(index + 1) / (size_t)r->threads * per_page;
}

/* Two ways to read, because which one the memory system rewards depends on the CPU.
 * Measured on an Intel Xeon VM, one thread: one word per line 13-14 GB/s, every word
 * 9. On an AMD EPYC (Zen 4) VM, 2 threads: one word per line 39-47 GB/s, every word
 * 62-63. The reader times both at open and keeps the faster, so the roofline stays an
 * upper bound on either.
 *
 * sum_lines sums one 64-bit word of every 64-byte line. DRAM moves whole cache lines,
 * so a pass still transfers every byte of the slice, while the core issues one load
 * per line. Four accumulators: the adds never wait on each other. */
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

/* sum_words sums every word, eight independent accumulators: the hardware prefetchers
 * of some cores ramp up only for dense loads. */
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += p[i + (size_t)k];
    for (; i < n; i++)
        a[0] += p[i];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static void read_slice(membw_arg *a) {
    size_t begin, end;
    slice(a->r, a->index, &begin, &end);
    const uint64_t *p = a->r->buf + begin;
    a->sum += a->r->method == CLI_MEMBW_WORDS ? sum_words(p, end - begin) : sum_lines(p, end - begin);
}

/* first touch: the reading thread owns its pages (NUMA placement), and no page fault
 * is left for the timed passes */
static void touch_slice(membw_arg *a) {
    size_t begin, end;
    slice(a->r, a->index, &begin, &end);
    for (size_t i = begin; i < end; i++)
        a->r->buf[i] = i * 0x9e3779b97f4a7c15u;
}

static void *membw_worker(void *p) {
    membw_arg *a = p;
    cli_membw_reader *r = a->r;
    pthread_mutex_lock(&r->gate_lock);
    while (r->gate == 0)
        pthread_cond_wait(&r->gate_cond, &r->gate_lock);
    int go = r->gate > 0;
    pthread_mutex_unlock(&r->gate_lock);
    if (!go)
        return NULL;
    touch_slice(a);
    pthread_barrier_wait(&r->done); /* everything touched */
    for (;;) {
        pthread_barrier_wait(&r->start);
        if (r->quit)
            return NULL;
        read_slice(a);
        pthread_barrier_wait(&r->done);
    }
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

/* Frees what open made; the workers must have returned (or never started). */
static void reader_free(cli_membw_reader *r, int barriers) {
    if (barriers) {
        pthread_barrier_destroy(&r->start);
        pthread_barrier_destroy(&r->done);
    }
    pthread_mutex_destroy(&r->gate_lock);
    pthread_cond_destroy(&r->gate_cond);
    if (r->buf)
        munmap(r->buf, r->bytes);
    free(r->args);
    free(r->tids);
    free(r);
}

int cli_membw_open(int threads, size_t bytes, cli_membw_reader **out, char *err, size_t cap) {
    *out = NULL;
    if (threads < 1)
        threads = 1;
    bytes = bytes / SLICE_ALIGN * SLICE_ALIGN;
    if (bytes < SLICE_ALIGN * (size_t)threads) {
        snprintf(err, cap, "bandwidth buffer of %zu bytes is too small for %d threads", bytes, threads);
        return -1;
    }
    cli_membw_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    r->bytes = bytes;
    r->words = bytes / sizeof(uint64_t);
    r->threads = threads;
    pthread_mutex_init(&r->gate_lock, NULL);
    pthread_cond_init(&r->gate_cond, NULL);
    r->tids = calloc((size_t)threads, sizeof *r->tids);
    r->args = calloc((size_t)threads, sizeof *r->args);
    if (!r->tids || !r->args) {
        snprintf(err, cap, "out of memory");
        reader_free(r, 0);
        return -1;
    }
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(err, cap, "cannot allocate %zu MiB for the bandwidth measurement: %s", bytes / MIB,
                 strerror(errno));
        reader_free(r, 0);
        return -1;
    }
    r->buf = mem;
#if defined(MADV_HUGEPAGE)
    madvise(mem, bytes, MADV_HUGEPAGE); /* a hint: fewer TLB misses, the best case for the roofline */
#endif
    if (pthread_barrier_init(&r->start, NULL, (unsigned)threads) != 0) {
        snprintf(err, cap, "cannot create a thread barrier");
        reader_free(r, 0);
        return -1;
    }
    if (pthread_barrier_init(&r->done, NULL, (unsigned)threads) != 0) {
        pthread_barrier_destroy(&r->start);
        snprintf(err, cap, "cannot create a thread barrier");
        reader_free(r, 0);
        return -1;
    }
    for (int i = 0; i < threads; i++)
        r->args[i] = (membw_arg){.r = r, .index = i};
    int started = 1;
    for (; started < threads; started++) {
        int e = pthread_create(&r->tids[started], NULL, membw_worker, &r->args[started]);
        if (e != 0) {
            snprintf(err, cap, "cannot start bandwidth thread %d of %d: %s", started + 1, threads,
                     strerror(e));
            break;
        }
    }
    /* open the gate, or send the started threads home if one is missing */
    pthread_mutex_lock(&r->gate_lock);
    r->gate = started == threads ? 1 : -1;
    pthread_cond_broadcast(&r->gate_cond);
    pthread_mutex_unlock(&r->gate_lock);
    if (started < threads) {
        for (int i = 1; i < started; i++)
            pthread_join(r->tids[i], NULL);
        reader_free(r, 1);
        return -1;
    }
    touch_slice(&r->args[0]);
    pthread_barrier_wait(&r->done); /* everything touched */
    /* choose the faster method: two passes each, alternating, best against best */
    double *best = r->method_gb_s;
    for (int round = 0; round < 2; round++)
        for (int m = 0; m < 2; m++) {
            r->method = m;
            const double gb = cli_membw_pass(r);
            if (gb > best[m])
                best[m] = gb;
        }
    r->method = best[CLI_MEMBW_WORDS] > best[CLI_MEMBW_LINES] ? CLI_MEMBW_WORDS : CLI_MEMBW_LINES;
    *out = r;
    return 0;
}

const char *cli_membw_method_name(int method) {
    return method == CLI_MEMBW_WORDS ? "every word" : "one word per line";
}

double cli_membw_pass(cli_membw_reader *r) {
    pthread_barrier_wait(&r->start);
    const double t0 = now_seconds();
    read_slice(&r->args[0]);
    pthread_barrier_wait(&r->done);
    const double s = now_seconds() - t0;
    return s > 0 ? (double)r->bytes / s / 1e9 : 0;
}

void cli_membw_close(cli_membw_reader *r) {
    if (!r)
        return;
    r->quit = 1; /* seen after the barrier, which orders it */
    pthread_barrier_wait(&r->start);
    for (int i = 1; i < r->threads; i++)
        pthread_join(r->tids[i], NULL);
    reader_free(r, 1);
}

int cli_membw_measure(int threads, size_t bytes, int passes, cli_membw *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (passes < 1)
        passes = 1;
    cli_membw_reader *r;
    if (cli_membw_open(threads, bytes, &r, err, cap) != 0)
        return -1;
    double best = 0, total = 0;
    for (int p = 0; p < passes; p++) {
        const double gb = cli_membw_pass(r);
        total += gb;
        if (gb > best)
            best = gb;
    }
    *out = (cli_membw){.gb_s = best,
                       .method = r->method,
                       .method_gb_s = {r->method_gb_s[0], r->method_gb_s[1]},
                       .mean_gb_s = total / passes,
                       .bytes = r->bytes,
                       .threads = r->threads,
                       .passes = passes};
    cli_membw_close(r);
    return 0;
}
