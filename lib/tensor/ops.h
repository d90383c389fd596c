/* SPDX-License-Identifier: Apache-2.0 */
/* Element-wise and row operations of the Gemma 2 forward pass, in float32. Each
 * cites its formula in ../shared/DESIGN.md ("Gemma 2 numerics").
 *
 * The float loops (exp, tanh, soft-cap, GeGLU, dot, attention) are compiled for
 * several SIMD widths: on x86-64 baseline SSE2, AVX2 and AVX-512F (the widest the CPU
 * runs is used), elsewhere one. Every width computes the same bits: each result is
 * the same sequence of IEEE float operations (no fused multiply-add: the build uses
 * -ffp-contract=off; reductions have a fixed order over 16 logical lanes whatever the
 * vector width), and exp/tanh are our own (g2_expf, g2_tanhf), not libm's. */
#ifndef G2_TENSOR_OPS_H
#define G2_TENSOR_OPS_H

#include <stddef.h>
#include <stdint.h>

/* out = x / sqrt(mean(x²) + eps) * (1 + w); out may alias x. */
void g2_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);

/* x = cap * g2_tanhf(x / cap), in place; cap <= 0 leaves x unchanged. */
void g2_softcap(float *x, uint32_t n, float cap);

/* gate = gelu_tanh(gate) * up (GeGLU), in place on gate:
 * 0.5 g (1 + g2_tanhf(sqrt(2/pi) (g + 0.044715 g³))) up. */
void g2_geglu(float *gate, const float *up, uint32_t n);

/* Rotates each head of v ([n_heads, head_dim]) by RoPE on half-split pairs
 * (i, i + head_dim/2), given cos/sin of the position's angles [head_dim/2]. */
void g2_rope(float *v, uint32_t n_heads, uint32_t head_dim, const float *cos_a, const float *sin_a);

/* cos/sin of pos * theta^(-2i/head_dim), i < head_dim/2, computed in double. */
void g2_rope_angles(float *cos_a, float *sin_a, uint32_t head_dim, uint32_t pos, float theta);

/* Dot product of two float vectors: 16 partial sums (element i into sum i mod 16,
 * in order), then the pairwise total s[j] += s[j + w] for w = 8, 4, 2, 1. */
float g2_dot_f32(const float *a, const float *b, uint32_t n);

/* e^x and tanh(x) in float32, branch-free and the same bits on every SIMD width.
 * Accuracy, checked over every float (tests/unit/test_ops.c samples densely):
 *   g2_expf  <= 1 ulp (0.99 measured), subnormal results included; overflow
 *            (x > 88.72) gives +inf, x < -103.98 gives +0, NaN gives NaN.
 *   g2_tanhf <= 1.1 ulp (1.07 measured); odd, ±1 for large |x|, tanh(-0) = -0,
 *            NaN gives NaN. */
float g2_expf(float x);
float g2_tanhf(float x);

/* bfloat16 → float32 (exact: bf16 is the top half of a float32). */
void g2_bf16_to_f32(float *out, const uint16_t *in, uint32_t n);

/* Index of the largest value, the lowest index among equal ones; NaN never wins. */
uint32_t g2_argmax(const float *x, uint32_t n);

/* One attention work item: n_heads query heads that share one KV head, for n_tok
 * consecutive tokens (DESIGN.md: s = cap·tanh(q·k / cap), causal and sliding-window
 * mask, o = softmax(s)·v). Each query row's result depends on its own data only, in
 * one fixed order, whatever the item's shape, the thread or the SIMD width:
 *   score_j = g2_dot_f32(q, k_j, d), soft-capped with g2_tanhf;
 *   m = max of the scores (NaN never wins); e_j = g2_expf(score_j - m);
 *   sum = the e_j added in double, e_(lo+i) into partial sum i mod 16 in order, then
 *         the pairwise total as in g2_dot_f32; w_j = e_j * (float)(1 / sum);
 *   out[i] = (((0 + w_lo v_lo[i]) + w_(lo+1) v_(lo+1)[i]) + ...) in position order. */
typedef struct g2_attend_args {
    const float *q;    /* head h of token t at q + t * tok_stride + h * d */
    float *out;        /* [same layout as q] the attention outputs */
    size_t tok_stride; /* floats between tokens of q and out */
    const float *k;    /* this KV head's keys: dimension i of position j at */
    uint32_t k_len;    /* the slots of the cache: position j is in slot j % k_len, its key at
                          k[g2_key_index(k_len, d, j % k_len, i)] (k_len a multiple of 16
                          when positions wrap around: a ring) */
    const float *v;    /* this KV head's value of position j at v + j * v_stride */
    size_t v_stride;
    uint32_t d, n_heads, n_tok;
    uint32_t first_pos; /* token t is at position first_pos + t and sees positions [lo, pos]: */
    uint32_t window;    /* lo = pos - window + 1 if window > 0 and pos >= window, else 0 */
    float softcap;      /* <= 0: none */
    float *scores;      /* scratch, g2_attend_scratch() floats */
} g2_attend_args;

/* Keys are stored transposed in blocks of 16 positions, [n / 16][d][16], then the last
 * n % 16 positions as [d][n % 16] (n: the positions the cache holds), so that one
 * vector load reads a dimension of 16 keys, and a block is contiguous. */
static inline size_t g2_key_index(uint32_t n, uint32_t d, uint32_t j, uint32_t i) {
    const uint32_t b = j / 16 * 16, w = n - b < 16 ? n - b : 16;
    return (size_t)b * d + (size_t)i * w + (j - b);
}

/* Scratch floats g2_attend needs for an item: n_heads * n_tok rows of scores. */
size_t g2_attend_scratch(uint32_t n_heads, uint32_t n_tok, uint32_t first_pos, uint32_t window);
void g2_attend(const g2_attend_args *a);

/* The float loops at one SIMD width. Tables are numbered from 0 (the baseline, always
 * there) upwards; all give the same bits, which tests check. */
typedef struct g2_float_kernels {
    const char *name; /* "baseline", "avx2", "avx512" */
    void (*exp)(float *y, const float *x, uint32_t n);
    void (*tanh)(float *y, const float *x, uint32_t n);
    void (*softcap)(float *x, uint32_t n, float cap);
    void (*geglu)(float *gate, const float *up, uint32_t n);
    float (*dot)(const float *a, const float *b, uint32_t n);
    void (*attend)(const g2_attend_args *a);
} g2_float_kernels;

/* Table i, or NULL when there is none or this CPU (and OS) cannot run it. */
const g2_float_kernels *g2_float_kernels_get(int i);
/* The widest table this CPU runs; the functions above use it. */
const g2_float_kernels *g2_float_kernels_best(void);

#endif
