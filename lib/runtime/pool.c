/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/pool.h"
#include "runtime/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/error.h"

#if defined(__x86_64__) || defined(__i386__)
#    include <immintrin.h>
#    define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#    define cpu_relax() __asm__ __volatile__("yield")
#else
#    define cpu_relax() ((void)0)
#endif

/* Spin this many rounds waiting for the next task before sleeping: long enough to
 * bridge the gap between two matmuls of one token, short enough not to burn a core
 * between tokens. */
#define SPIN_ROUNDS 20000

struct g2_pool {
    int n_threads;
    pthread_t *workers; /* n_threads - 1 */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped (under lock) to publish a task */
    atomic_uint closed;     /* the newest generation late workers must skip */
    atomic_int active;      /* workers inside a task */
    atomic_int stopping;
    g2_task_fn fn; /* published by the release store of generation */
    void *ctx;
};

typedef struct worker_arg {
    g2_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    g2_pool *pool = arg.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        for (int i = 0; gen == seen && i < SPIN_ROUNDS; i++) {
            cpu_relax();
            gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool->lock);
            while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool->wake, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        seen = gen;
        if (atomic_load_explicit(&pool->stopping, memory_order_acquire))
            return NULL;
        /* Join, then check the caller has not closed this task meanwhile. Both sides
         * use seq_cst (join then read closed; close then read active), so either the
         * caller waits for us or we see the task closed and never touch it. */
        atomic_fetch_add(&pool->active, 1);
        if ((int)(atomic_load(&pool->closed) - gen) < 0)
            pool->fn(pool->ctx, arg.index, pool->n_threads);
        atomic_fetch_sub(&pool->active, 1);
    }
}

int g2_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > G2_MAX_THREADS ? G2_MAX_THREADS : (int)n;
}

int g2_threads_resolve(int requested) {
    if (requested <= 0)
        return g2_cpu_count();
    return requested > G2_MAX_THREADS ? G2_MAX_THREADS : requested;
}

static void publish(g2_pool *pool, g2_task_fn fn, void *ctx) {
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

/* Closes the current task to late workers and waits for those inside it. */
static void close_task(g2_pool *pool) {
    atomic_store(&pool->closed, atomic_load_explicit(&pool->generation, memory_order_relaxed));
    for (unsigned spins = 0; atomic_load(&pool->active) != 0; spins++) {
        if (spins < SPIN_ROUNDS)
            cpu_relax();
        else
            sched_yield();
    }
}

gemma2_status g2_pool_create(int n_threads, g2_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > G2_MAX_THREADS)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "thread count %d is out of range 1..%d", n_threads,
                        G2_MAX_THREADS);
    g2_pool *pool = g2_calloc(1, sizeof *pool);
    if (!pool)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
    pool->n_threads = 1;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool);
        return g2_error(GEMMA2_ERR_SYSTEM, "pthread_mutex_init failed");
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        return g2_error(GEMMA2_ERR_SYSTEM, "pthread_cond_init failed");
    }
    if (n_threads > 1) {
        pool->workers = g2_calloc((size_t)n_threads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            g2_pool_destroy(pool);
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = g2_malloc(sizeof *arg);
        if (!arg) {
            g2_pool_destroy(pool);
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
        }
        arg->pool = pool;
        arg->index = i;
        if (g2_fault(G2_FAULT_THREAD) || pthread_create(&pool->workers[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            g2_pool_destroy(pool);
            return g2_error(GEMMA2_ERR_SYSTEM, "could not create thread %d of %d", i + 1, n_threads);
        }
        pool->n_threads = i + 1; /* workers [0, i) exist: destroy joins exactly those */
    }
    *out = pool;
    return GEMMA2_OK;
}

int g2_pool_size(const g2_pool *pool) { return pool->n_threads; }

void g2_pool_run(g2_pool *pool, g2_task_fn fn, void *ctx) {
    if (pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    publish(pool, fn, ctx);
    fn(ctx, 0, pool->n_threads);
    close_task(pool);
}

static uint64_t pack_left(size_t front, size_t back) { return (uint64_t)front | (uint64_t)back << 32; }

void g2_split_init(g2_split *split, size_t total, size_t align, int parts) {
    parts = parts < 1 ? 1 : parts > G2_SPLIT_MAX_PARTS ? G2_SPLIT_MAX_PARTS : parts;
    split->parts = parts;
    split->align = align ? align : 1;
    const size_t unit = split->align, units = (total + unit - 1) / unit;
    size_t begin = 0;
    for (int i = 0; i < parts; i++) {
        size_t end = units * (size_t)(i + 1) / (size_t)parts * unit;
        end = end > total ? total : end;
        atomic_init(&split->part[i].left, pack_left(begin, end));
        begin = end;
    }
}

g2_split_cursor g2_split_cursor_for(const g2_split *split, int thread_index) {
    return (g2_split_cursor){.part = thread_index % split->parts, .emptied = 0};
}

/* Claims from the front of part k (own) or from its back; 0 if it is empty. A claim
 * takes a quarter of what is left of the part, rounded down to align, or chunk when
 * that is more: a few large claims, then chunk-sized ones near the end to balance the
 * threads. Each claim is a locked compare-and-swap, a full barrier in the middle of
 * the weight stream: with claims of 32 rows the 2B decode made some 30 000 per token
 * (a quarter: 1.03-1.06x in the Zen 4 VM's faster-memory minutes). A back claim first
 * takes the ragged end (total, when not a multiple of align), so the claims after it
 * end on multiples of align. */
static int claim_part(g2_split *split, int k, int own, size_t chunk, size_t *lo, size_t *hi) {
    uint64_t left = atomic_load_explicit(&split->part[k].left, memory_order_relaxed);
    for (;;) {
        const size_t front = (size_t)(left & 0xFFFFFFFFu), back = (size_t)(left >> 32);
        if (front >= back)
            return 0;
        const size_t quarter = (back - front) / 4 / split->align * split->align;
        size_t take = quarter > chunk ? quarter : chunk;
        if (!own && back % split->align != 0 && back % split->align < take)
            take = back % split->align;
        take = take < back - front ? take : back - front;
        const uint64_t now = own ? pack_left(front + take, back) : pack_left(front, back - take);
        if (atomic_compare_exchange_weak_explicit(&split->part[k].left, &left, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *lo = own ? front : back - take;
            *hi = *lo + take;
            return 1;
        }
    }
}

int g2_split_next(g2_split *split, g2_split_cursor *cursor, size_t chunk, size_t *lo, size_t *hi) {
    while (cursor->emptied < split->parts) {
        /* the first part a thread visits is its own */
        if (claim_part(split, cursor->part, cursor->emptied == 0, chunk, lo, hi))
            return 1;
        cursor->emptied++;
        cursor->part = cursor->part + 1 == split->parts ? 0 : cursor->part + 1;
    }
    return 0;
}

static void no_task(void *ctx, int thread_index, int n_threads) {
    (void)ctx, (void)thread_index, (void)n_threads;
}

void g2_pool_destroy(g2_pool *pool) {
    if (!pool)
        return;
    if (pool->n_threads > 1) {
        atomic_store_explicit(&pool->stopping, 1, memory_order_release);
        publish(pool, no_task, NULL);
        for (int i = 1; i < pool->n_threads; i++)
            pthread_join(pool->workers[i - 1], NULL);
    }
    free(pool->workers);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
