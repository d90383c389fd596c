/* SPDX-License-Identifier: Apache-2.0 */
#include "tensor/matmul.h"

#include "tensor/ops.h"

/* Rows of the smallest claim (g2_split_next takes a quarter of what is left of a part
 * when that is more): the kernels tile rows in fours, and a claim should outweigh its
 * atomic; small enough to balance two threads on a 256-row matrix. Each thread claims
 * from its own contiguous part of the rows first (g2_split). */
#define ROWS_PER_CLAIM 32

/* Rows [r0, r1) of y = x · Wᵀ (y row stride W->rows) on thread thread_index. */
static void matmul_rows(const g2_matmul_input *in, const g2_matrix *W, float *y, uint32_t r0, uint32_t r1,
                        int thread_index) {
    if (g2_type_is_quantized(W->type)) {
        const g2_kernels *k = in->kernels;
        (W->type == G2_TYPE_Q4 ? k->gemm_q4 : k->gemm_q8)(&W->q, r0, r1, in->A, in->n_tok, y, W->rows);
        return;
    }
    float *row_f32 = in->scratch + (size_t)thread_index * in->scratch_stride;
    for (size_t r = r0; r < r1; r++) {
        const float *row;
        if (W->type == G2_TYPE_BF16) {
            /* Widen the row once; every token of the batch reuses it. */
            g2_bf16_to_f32(row_f32, (const uint16_t *)W->data + r * W->cols, W->cols);
            row = row_f32;
        } else {
            row = (const float *)W->data + r * W->cols;
        }
        for (uint32_t t = 0; t < in->n_tok; t++)
            y[(size_t)t * W->rows + r] = g2_dot_f32(row, in->x + (size_t)t * W->cols, W->cols);
    }
}

typedef struct many_job {
    const g2_matmul_input *in;
    const g2_matmul_target *targets;
    int n;
    size_t total_rows;
    g2_split split;
} many_job;

/* Claims run over the matrices' rows end to end; a claim crossing from one matrix
 * into the next is split there. */
static void many_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    many_job *job = p;
    g2_split_cursor cursor = g2_split_cursor_for(&job->split, thread_index);
    for (size_t c0, c1; g2_split_next(&job->split, &cursor, ROWS_PER_CLAIM, &c0, &c1);) {
        size_t base = 0;
        for (int i = 0; i < job->n; i++) {
            const g2_matrix *W = job->targets[i].W;
            const size_t lo = c0 > base ? c0 - base : 0, hi = c1 - base < W->rows ? c1 - base : W->rows;
            if (c1 > base && lo < hi) {
                float *y = job->targets[i].y;
                matmul_rows(job->in, W, y, (uint32_t)lo, (uint32_t)hi, thread_index);
                if (job->targets[i].softcap > 0.0f)
                    for (uint32_t t = 0; t < job->in->n_tok; t++)
                        g2_softcap(y + (size_t)t * W->rows + lo, (uint32_t)(hi - lo), job->targets[i].softcap);
            }
            base += W->rows;
        }
    }
}

void g2_matmul_many(g2_pool *pool, const g2_matmul_input *in, const g2_matmul_target *targets, int n) {
    many_job job = {.in = in, .targets = targets, .n = n};
    for (int i = 0; i < n; i++)
        job.total_rows += targets[i].W->rows;
    g2_split_init(&job.split, job.total_rows, ROWS_PER_CLAIM, g2_pool_size(pool));
    g2_pool_run(pool, many_task, &job);
}

typedef struct geglu_job {
    const g2_matmul_input *in;
    const g2_matrix *Wg, *Wu;
    float *gate, *up;
    g2_split split;
} geglu_job;

static void geglu_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    geglu_job *job = p;
    const uint32_t rows = job->Wg->rows;
    g2_split_cursor cursor = g2_split_cursor_for(&job->split, thread_index);
    for (size_t r0, r1; g2_split_next(&job->split, &cursor, ROWS_PER_CLAIM, &r0, &r1);) {
        matmul_rows(job->in, job->Wg, job->gate, (uint32_t)r0, (uint32_t)r1, thread_index);
        matmul_rows(job->in, job->Wu, job->up, (uint32_t)r0, (uint32_t)r1, thread_index);
        for (uint32_t t = 0; t < job->in->n_tok; t++)
            g2_geglu(job->gate + (size_t)t * rows + r0, job->up + (size_t)t * rows + r0, (uint32_t)(r1 - r0));
    }
}

void g2_matmul_geglu(g2_pool *pool, const g2_matmul_input *in, const g2_matrix *Wg, const g2_matrix *Wu,
                     float *gate, float *up) {
    geglu_job job = {.in = in, .Wg = Wg, .Wu = Wu, .gate = gate, .up = up};
    g2_split_init(&job.split, Wg->rows, ROWS_PER_CLAIM, g2_pool_size(pool));
    g2_pool_run(pool, geglu_task, &job);
}
