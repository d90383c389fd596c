/* SPDX-License-Identifier: Apache-2.0 */
/* y = x · Wᵀ for a batch of token vectors, split over the pool by output rows, for
 * every weight type: f32 and bf16 (the float reference path) and the block-quantized
 * q8 and q4 (the kernel table). Matrices that read the same input run in one pool
 * dispatch (q, k and v; gate and up), and GeGLU is applied as gate/up rows finish. */
#ifndef G2_TENSOR_MATMUL_H
#define G2_TENSOR_MATMUL_H

#include "model/model.h"
#include "runtime/pool.h"

/* The input of a batch, in both forms: x [n_tok][cols] floats for f32/bf16 weights;
 * A, quantized from x by kernels->quantize_act, for q8/q4 weights (either may be
 * NULL if no weight of that kind reads it). scratch: per-thread row buffers, thread i
 * uses scratch + i * scratch_stride floats (scratch_stride >= the widest cols). */
typedef struct g2_matmul_input {
    const float *x;
    const g2_qact *A;
    const g2_kernels *kernels;
    uint32_t n_tok;
    float *scratch;
    size_t scratch_stride;
} g2_matmul_input;

/* One matrix and its output y [n_tok][W->rows]; softcap > 0 applies
 * y = softcap · tanh(y / softcap) to each claimed block of rows as it finishes. */
typedef struct g2_matmul_target {
    const g2_matrix *W;
    float *y;
    float softcap;
} g2_matmul_target;

#define G2_MATMUL_MAX_TARGETS 3

/* y_i = x · W_iᵀ for n ≤ G2_MATMUL_MAX_TARGETS matrices of the same cols, in one
 * dispatch: rows of all of them are claimed from one counter. */
void g2_matmul_many(g2_pool *pool, const g2_matmul_input *in, const g2_matmul_target *targets, int n);

/* gate = gelu_tanh(x · Wgᵀ) ⊙ (x · Wuᵀ), with up [n_tok][rows] as the second
 * product's buffer: each claim of rows computes both products and combines them. */
void g2_matmul_geglu(g2_pool *pool, const g2_matmul_input *in, const g2_matrix *Wg, const g2_matrix *Wu,
                     float *gate, float *up);

#endif
