/* SPDX-License-Identifier: Apache-2.0 */
/* A fixed pthreads pool. g2_pool_run runs a task on the caller (thread 0) and on
 * every worker that joins it before the caller has finished its own call; it returns
 * when all who joined are done. So a task must split its work dynamically (g2_claim)
 * and never count on a particular thread taking part: a descheduled worker then
 * costs nothing, instead of stalling every matmul until it runs again. Workers spin
 * briefly after a task, then sleep on a condition variable; running a task allocates
 * nothing, and its only lock is one uncontended lock/unlock to publish it (so that a
 * worker about to sleep cannot miss the wake-up). */
#ifndef G2_RUNTIME_POOL_H
#define G2_RUNTIME_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"

typedef struct g2_pool g2_pool;
typedef void (*g2_task_fn)(void *ctx, int thread_index, int n_threads);

/* n_threads counts the caller; 1 creates no worker. */
gemma2_status g2_pool_create(int n_threads, g2_pool **out);
void g2_pool_destroy(g2_pool *pool);
int g2_pool_size(const g2_pool *pool);
void g2_pool_run(g2_pool *pool, g2_task_fn fn, void *ctx);

/* Online CPUs, at least 1. */
int g2_cpu_count(void);
/* 0 → g2_cpu_count(); clamps to [1, G2_MAX_THREADS]. */
int g2_threads_resolve(int requested);
#define G2_MAX_THREADS 256

/* Dynamic work split: each thread claims `chunk` items at a time from a shared
 * counter until `total` are taken. Returns the first claimed item, or >= total. */
static inline size_t g2_claim(atomic_size_t *next, size_t chunk) {
    return atomic_fetch_add_explicit(next, chunk, memory_order_relaxed);
}

/* Dynamic work split that keeps each thread on one contiguous region: the items are
 * cut into one range per thread (part), each thread claims chunks from its own part
 * first and then from the others', so a late or descheduled thread's part is still
 * finished by the rest. For matrix rows this keeps each core streaming one region of
 * the weights instead of interleaving claims with the other cores; measured on the
 * 2B decode: +10-15% memory throughput with 2 threads (docs/performance.md). A part's
 * owner claims from its front and the others from its back, so a thread that helps
 * never takes the rows the owner reads next and has already prefetched (2B decode
 * on Zen 4: +3% in the faster-memory minutes, docs/performance-results-zen4.md). */
#define G2_SPLIT_MAX_PARTS 16

typedef struct g2_split {
    int parts;
    size_t align;
    struct {
        /* what is left of the part: front in the low 32 bits, back in the high 32; one
         * cache line per part, no false sharing */
        _Alignas(64) _Atomic uint64_t left;
    } part[G2_SPLIT_MAX_PARTS];
} g2_split;

/* One thread's position in a split: its current part and how many it has emptied. */
typedef struct g2_split_cursor {
    int part, emptied;
} g2_split_cursor;

/* Items [0, total) in `parts` ranges (clamped to [1, G2_SPLIT_MAX_PARTS]) whose
 * boundaries are multiples of `align`; total < 2^32. */
void g2_split_init(g2_split *split, size_t total, size_t align, int parts);
g2_split_cursor g2_split_cursor_for(const g2_split *split, int thread_index);
/* Claims items into [*lo, *hi), never crossing a part's end; returns 0 when every part
 * is empty. A claim is a quarter of what is left of its part, rounded down to a
 * multiple of align, or `chunk` (>= 1) items when that is more; less only at a part's
 * end. When chunk is a multiple of align, every claim starts at a multiple of align. */
int g2_split_next(g2_split *split, g2_split_cursor *cursor, size_t chunk, size_t *lo, size_t *hi);

#endif
