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

#endif
