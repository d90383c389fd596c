/* SPDX-License-Identifier: Apache-2.0 */
#include "tensor/matmul.h"

#include "tensor/ops.h"

/* Rows claimed per grab: enough to amortise the atomic, small enough to balance. */
#define ROWS_PER_CLAIM 16

typedef struct matmul_job {
    float *y;
    const g2_matrix *W;
    const float *x;
    uint32_t n_tok;
    float *scratch;
    size_t scratch_stride;
    atomic_size_t next_row;
} matmul_job;

static void matmul_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    matmul_job *job = p;
    const g2_matrix *W = job->W;
    float *row_f32 = job->scratch + (size_t)thread_index * job->scratch_stride;
    for (size_t r0; (r0 = g2_claim(&job->next_row, ROWS_PER_CLAIM)) < W->rows;) {
        size_t r1 = r0 + ROWS_PER_CLAIM < W->rows ? r0 + ROWS_PER_CLAIM : W->rows;
        for (size_t r = r0; r < r1; r++) {
            const float *row;
            if (W->type == G2_TYPE_BF16) {
                /* Widen the row once; every token of the batch reuses it. */
                g2_bf16_to_f32(row_f32, (const uint16_t *)W->data + r * W->cols, W->cols);
                row = row_f32;
            } else {
                row = (const float *)W->data + r * W->cols;
            }
            for (uint32_t t = 0; t < job->n_tok; t++)
                job->y[(size_t)t * W->rows + r] = g2_dot_f32(row, job->x + (size_t)t * W->cols, W->cols);
        }
    }
}

void g2_matmul(g2_pool *pool, float *y, const g2_matrix *W, const float *x, uint32_t n_tok, float *scratch,
               size_t scratch_stride) {
    matmul_job job = {
        .y = y, .W = W, .x = x, .n_tok = n_tok, .scratch = scratch, .scratch_stride = scratch_stride};
    atomic_init(&job.next_row, 0);
    g2_pool_run(pool, matmul_task, &job);
}

typedef struct qmatmul_job {
    const g2_kernels *kernels;
    const g2_matrix *W;
    const g2_qact *A;
    uint32_t n_tok;
    float *y;
    atomic_size_t next_row;
} qmatmul_job;

/* Rows per claim: kernels tile rows in fours, and a claim should outweigh its atomic. */
#define QROWS_PER_CLAIM 32

static void qmatmul_task(void *p, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    qmatmul_job *job = p;
    const g2_matrix *W = job->W;
    void (*gemm)(const g2_qmatrix *, uint32_t, uint32_t, const g2_qact *, uint32_t, float *, size_t) =
        W->type == G2_TYPE_Q4 ? job->kernels->gemm_q4 : job->kernels->gemm_q8;
    for (size_t r0; (r0 = g2_claim(&job->next_row, QROWS_PER_CLAIM)) < W->rows;) {
        size_t r1 = r0 + QROWS_PER_CLAIM < W->rows ? r0 + QROWS_PER_CLAIM : W->rows;
        gemm(&W->q, (uint32_t)r0, (uint32_t)r1, job->A, job->n_tok, job->y, W->rows);
    }
}

void g2_matmul_quantized(g2_pool *pool, const g2_kernels *kernels, float *y, const g2_matrix *W,
                         const g2_qact *A, uint32_t n_tok) {
    qmatmul_job job = {.kernels = kernels, .W = W, .A = A, .n_tok = n_tok, .y = y};
    atomic_init(&job.next_row, 0);
    g2_pool_run(pool, qmatmul_task, &job);
}
