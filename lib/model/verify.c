/* SPDX-License-Identifier: Apache-2.0 */
/* Tensor digests: BLAKE2b-256 of each tensor's raw bytes, checked in parallel
 * (one tensor per work item, claimed from a shared counter). */
#include <sodium.h>
#include <stdlib.h>

#include "model/model.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/pool.h"

/* 1 if the tensor's bytes match its digest, 0 if not, -1 if out of memory. A relayout
 * tensor's digest covers its stored bytes, not its copy in memory (relayout.c). */
static int digest_matches(const g2_tensor *t) {
    if (t->relayout)
        return g2_tensor_stored_digest_ok(t);
    uint8_t got[G2_DIGEST_LEN];
    crypto_generichash(got, sizeof got, t->data, (unsigned long long)t->n_bytes, NULL, 0);
    return sodium_memcmp(got, t->digest, G2_DIGEST_LEN) == 0;
}

static gemma2_status corrupt(const g2_tensor *t) {
    return g2_error(GEMMA2_ERR_CHECKSUM, "tensor '%s' is corrupt: its BLAKE2b digest does not match",
                    t->name);
}

static gemma2_status no_memory(const g2_tensor *t) {
    return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory verifying tensor '%s'", t->name);
}

gemma2_status g2_tensor_verify(const g2_tensor *t) {
    const int ok = digest_matches(t);
    return ok > 0 ? GEMMA2_OK : ok < 0 ? no_memory(t) : corrupt(t);
}

typedef struct verify_job {
    const gemma2_model *m;
    atomic_size_t next;
    signed char *ok; /* per tensor: digest_matches */
} verify_job;

static void verify_task(void *p, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    verify_job *job = p;
    for (size_t i; (i = g2_claim(&job->next, 1)) < job->m->n_tensors;)
        job->ok[i] = (signed char)digest_matches(&job->m->tensors[i]);
}

gemma2_status g2_model_verify_all(const gemma2_model *m, int n_threads) {
    verify_job job = {.m = m, .ok = g2_calloc(m->n_tensors, 1)};
    if (!job.ok)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory verifying tensors");
    atomic_init(&job.next, 0);
    g2_pool *pool;
    gemma2_status st = g2_pool_create(g2_threads_resolve(n_threads), &pool);
    if (st == GEMMA2_OK) {
        g2_pool_run(pool, verify_task, &job);
        g2_pool_destroy(pool);
        for (uint32_t i = 0; i < m->n_tensors; i++)
            if (job.ok[i] != 1) {
                st = job.ok[i] < 0 ? no_memory(&m->tensors[i]) : corrupt(&m->tensors[i]);
                break;
            }
    }
    free(job.ok);
    return st;
}
