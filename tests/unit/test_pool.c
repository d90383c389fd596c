/* SPDX-License-Identifier: Apache-2.0 */
/* Thread pool: the caller runs every task and workers at most once each, dynamic
 * claims cover a range exactly once (whoever joins), and pools of any size start and
 * stop cleanly. */
#include <stdlib.h>

#include "runtime/pool.h"
#include "testutil.h"

typedef struct job {
    atomic_int ran[16]; /* per thread index */
    atomic_size_t next;
    g2_split split;
    size_t ends[G2_SPLIT_MAX_PARTS]; /* part k is [ends[k-1], ends[k]), as split_init made it */
    size_t chunk;
    atomic_int bad_claims; /* empty, too long, crossing a part's end, or misaligned */
    size_t order[64][2];   /* the first claims, in order, when one thread runs the split */
    atomic_int n_claims;
    size_t total;
    atomic_uchar *seen; /* per item */
    atomic_llong sum;
} job;

static void count_task(void *p, int thread_index, int n_threads) {
    job *j = p;
    if (thread_index >= 0 && thread_index < n_threads && thread_index < 16)
        atomic_fetch_add(&j->ran[thread_index], 1);
}

static void claim_task(void *p, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    job *j = p;
    for (size_t i; (i = g2_claim(&j->next, 7)) < j->total;)
        for (size_t k = i; k < i + 7 && k < j->total; k++) {
            atomic_fetch_add(&j->seen[k], 1);
            atomic_fetch_add(&j->sum, (long long)k);
        }
}

static void split_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    job *j = p;
    g2_split_cursor cursor = g2_split_cursor_for(&j->split, thread_index);
    for (size_t lo, hi; g2_split_next(&j->split, &cursor, j->chunk, &lo, &hi);) {
        int crosses = 0;
        size_t part_len = 0; /* of the part holding lo */
        for (int k = 0; k < j->split.parts; k++) {
            crosses |= lo < j->ends[k] && hi > j->ends[k];
            const size_t begin = k ? j->ends[k - 1] : 0;
            if (lo >= begin && lo < j->ends[k])
                part_len = j->ends[k] - begin;
        }
        const int misaligned = j->chunk % j->split.align == 0 && lo % j->split.align != 0;
        /* at most chunk, or a quarter of what was left of the part (so of the part) */
        const int too_long = hi - lo > j->chunk && hi - lo > part_len / 4;
        if (lo >= hi || too_long || hi > j->total || crosses || misaligned)
            atomic_fetch_add(&j->bad_claims, 1);
        const int n = atomic_fetch_add(&j->n_claims, 1);
        if (n < 64) {
            j->order[n][0] = lo;
            j->order[n][1] = hi;
        }
        for (size_t k = lo; k < hi && k < j->total; k++) {
            atomic_fetch_add(&j->seen[k], 1);
            atomic_fetch_add(&j->sum, (long long)k);
        }
    }
}

/* The parts' ends before any claim: each part's back, the high half of its word
 * (lib/runtime/pool.h). */
static void init_split(job *j, size_t total, size_t align, int parts) {
    g2_split_init(&j->split, total, align, parts);
    for (int k = 0; k < j->split.parts; k++)
        j->ends[k] = (size_t)(atomic_load(&j->split.part[k].left) >> 32);
}

/* The size of the next claim on a part with [front, back) left (lib/runtime/pool.h):
 * a quarter of it rounded down to align, at least chunk, the ragged end first from
 * the back. */
static size_t next_claim(size_t front, size_t back, size_t align, size_t chunk, int from_back) {
    size_t take = (back - front) / 4 / align * align;
    take = take > chunk ? take : chunk;
    if (from_back && back % align != 0 && back % align < take)
        take = back % align;
    return take < back - front ? take : back - front;
}

/* One thread alone takes its own part from the front, then the next part from the
 * back, in claims of the sizes next_claim gives: total items in two parts, chunk
 * `align`. */
static void check_split_order(size_t total, size_t align) {
    job c = {.total = total, .chunk = align};
    c.seen = calloc(total, 1);
    init_split(&c, total, align, 2);
    split_task(&c, 0, 1);
    const int n = atomic_load(&c.n_claims);
    int ok = n <= 64;
    size_t expect = 0; /* own part: consecutive from 0 */
    int k = 0;
    for (; ok && k < n && c.order[k][0] < c.ends[0]; k++) {
        ok = c.order[k][0] == expect &&
             c.order[k][1] - c.order[k][0] == next_claim(expect, c.ends[0], align, align, 0);
        expect = c.order[k][1];
    }
    ok = ok && expect == c.ends[0];
    expect = total; /* the other part: consecutive down from its end */
    for (; ok && k < n; k++) {
        ok = c.order[k][1] == expect &&
             c.order[k][1] - c.order[k][0] == next_claim(c.ends[0], expect, align, align, 1);
        expect = c.order[k][0];
    }
    ok = ok && expect == c.ends[0];
    CHECK(ok, "split of %zu items, align %zu, one thread: own part from the front, the other from the back",
          total, align);
    CHECK(atomic_load(&c.bad_claims) == 0, "split of %zu items, align %zu, one thread: %d bad claims", total,
          align, atomic_load(&c.bad_claims));
    free(c.seen);
}

/* A split covers its items exactly once whoever runs it: the pool, or one thread
 * alone (which must then take every other thread's part too). */
static void check_split(g2_pool *pool, int parts, size_t total, size_t align, size_t chunk) {
    job c = {.total = total, .chunk = chunk};
    c.seen = calloc(total ? total : 1, 1);
    init_split(&c, total, align, parts);
    if (pool)
        g2_pool_run(pool, split_task, &c);
    else
        split_task(&c, 0, 1);
    size_t once = 0;
    for (size_t k = 0; k < total; k++)
        once += c.seen[k] == 1;
    CHECK(once == total, "split %d parts, %zu items, align %zu, chunk %zu: %zu claimed exactly once", parts,
          total, align, chunk, once);
    CHECK(atomic_load(&c.sum) == (long long)(total * (total ? total - 1 : 0) / 2), "split sum");
    CHECK(atomic_load(&c.bad_claims) == 0, "split: %d bad claims", atomic_load(&c.bad_claims));
    for (int k = 0; k + 1 < c.split.parts; k++)
        CHECK(c.ends[k] % align == 0 && c.ends[k] <= c.ends[k + 1], "part ends aligned, ordered");
    free(c.seen);
}

int main(void) {
    const int sizes[] = {1, 2, 3, 8};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        g2_pool *pool = NULL;
        CHECK(g2_pool_create(n, &pool) == GEMMA2_OK && pool, "create %d", n);
        if (!pool)
            continue;
        CHECK(g2_pool_size(pool) == n, "size %d", g2_pool_size(pool));
        job j = {0};
        const int runs = 2000;
        for (int r = 0; r < runs; r++)
            g2_pool_run(pool, count_task, &j);
        /* the caller runs every task; a worker at most once per task */
        CHECK(atomic_load(&j.ran[0]) == runs, "pool %d: caller ran %d of %d", n, atomic_load(&j.ran[0]),
              runs);
        for (int t = 1; t < n; t++)
            CHECK(atomic_load(&j.ran[t]) <= runs, "pool %d: thread %d ran %d times in %d tasks", n, t,
                  atomic_load(&j.ran[t]), runs);
        for (int r = 0; r < 50; r++) {
            job c = {.total = 1000 + (size_t)r * 13};
            c.seen = calloc(c.total, 1);
            g2_pool_run(pool, claim_task, &c);
            size_t once = 0;
            for (size_t k = 0; k < c.total; k++)
                once += c.seen[k] == 1;
            CHECK(once == c.total, "pool %d: %zu of %zu items claimed exactly once", n, once, c.total);
            CHECK(atomic_load(&c.sum) == (long long)(c.total * (c.total - 1) / 2), "pool %d: sum", n);
            free(c.seen);
        }
        for (int r = 0; r < 50; r++)
            check_split(pool, n, 1000 + (size_t)r * 13, 32, 32);
        check_split(pool, n, 5, 32, 32);
        check_split(pool, n, 1000, 32, 7); /* claims smaller than the alignment */
        check_split(pool, n, 1000, 4, 32);
        g2_pool_destroy(pool);
    }
    check_split(NULL, 2, 1000, 32, 32); /* a worker that never joins */
    check_split(NULL, 3, 1001, 4, 7);
    check_split(NULL, 40, 100, 1, 3); /* parts clamped to G2_SPLIT_MAX_PARTS */
    check_split(NULL, 2, 0, 32, 32);
    check_split_order(1000, 32); /* ragged end: the helper takes [992, 1000) first */
    check_split_order(1024, 32);
    check_split_order(100, 4);
    { /* a large split takes few claims: a quarter of what is left each time */
        job c = {.total = (size_t)1 << 20, .chunk = 32};
        c.seen = calloc(c.total, 1);
        init_split(&c, c.total, 32, 2);
        split_task(&c, 0, 1);
        const int n = atomic_load(&c.n_claims);
        CHECK(n > 0 && n < 100 && atomic_load(&c.bad_claims) == 0,
              "split of 2^20 items in 2 parts, one thread: %d claims (32-item claims would be 32768)", n);
        free(c.seen);
    }
    g2_pool *pool = NULL;
    CHECK(g2_pool_create(0, &pool) == GEMMA2_ERR_INVALID_ARGUMENT && !pool, "0 threads refused");
    CHECK(g2_pool_create(G2_MAX_THREADS + 1, &pool) == GEMMA2_ERR_INVALID_ARGUMENT, "too many refused");
    CHECK(g2_threads_resolve(0) >= 1 && g2_threads_resolve(0) == g2_cpu_count(), "resolve 0");
    CHECK(g2_threads_resolve(5) == 5, "resolve 5");
    g2_pool_destroy(NULL);
    return tu_finish("test_pool");
}
