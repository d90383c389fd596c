/* SPDX-License-Identifier: Apache-2.0 */
/* Element-wise and row operations of the Gemma 2 forward pass, in float32. Each
 * cites its formula in ../shared/DESIGN.md ("Gemma 2 numerics"). */
#ifndef G2_TENSOR_OPS_H
#define G2_TENSOR_OPS_H

#include <stdint.h>

/* out = x / sqrt(mean(x²) + eps) * (1 + w); out may alias x. */
void g2_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);

/* x = cap * tanh(x / cap), in place; cap <= 0 leaves x unchanged. */
void g2_softcap(float *x, uint32_t n, float cap);

/* gate = gelu_tanh(gate) * up (GeGLU), in place on gate. */
void g2_geglu(float *gate, const float *up, uint32_t n);

/* Rotates each head of v ([n_heads, head_dim]) by RoPE on half-split pairs
 * (i, i + head_dim/2), given cos/sin of the position's angles [head_dim/2]. */
void g2_rope(float *v, uint32_t n_heads, uint32_t head_dim, const float *cos_a, const float *sin_a);

/* cos/sin of pos * theta^(-2i/head_dim), i < head_dim/2, computed in double. */
void g2_rope_angles(float *cos_a, float *sin_a, uint32_t head_dim, uint32_t pos, float theta);

/* Dot product of two float vectors (several partial sums, then a pairwise total). */
float g2_dot_f32(const float *a, const float *b, uint32_t n);

/* bfloat16 → float32 (exact: bf16 is the top half of a float32). */
void g2_bf16_to_f32(float *out, const uint16_t *in, uint32_t n);

/* Index of the largest value, the lowest index among equal ones; NaN never wins. */
uint32_t g2_argmax(const float *x, uint32_t n);

#endif
