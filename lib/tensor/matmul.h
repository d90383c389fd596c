/* SPDX-License-Identifier: Apache-2.0 */
/* y = x · Wᵀ for a batch of token vectors, split over the pool by output rows.
 * This is the float reference path (f32 and bf16 weights). */
#ifndef G2_TENSOR_MATMUL_H
#define G2_TENSOR_MATMUL_H

#include "model/model.h"
#include "runtime/pool.h"

/* y: [n_tok, W->rows]; x: [n_tok, W->cols]. scratch: per-thread row buffers,
 * thread i uses scratch + i * scratch_stride floats (scratch_stride >= W->cols). */
void g2_matmul(g2_pool *pool, float *y, const g2_matrix *W, const float *x, uint32_t n_tok, float *scratch,
               size_t scratch_stride);

/* y: [n_tok, W->rows] = A · Wᵀ for a block-quantized W (G2_TYPE_Q8 or G2_TYPE_Q4)
 * and activations A already quantized by kernels->quantize_act. */
void g2_matmul_quantized(g2_pool *pool, const g2_kernels *kernels, float *y, const g2_matrix *W,
                         const g2_qact *A, uint32_t n_tok);

#endif
