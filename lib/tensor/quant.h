/* SPDX-License-Identifier: Apache-2.0 */
/* Quantized weight formats and the kernel table (docs/quantization.md).
 *
 * A quantized matrix [rows, cols] is cut into blocks of G2_QK = 32 weights along each
 * row; a row has nb = ceil(cols / 32) blocks (a ragged last block is zero-padded).
 * Storage is "structure of arrays" over the whole tensor, so quants stream through
 * SIMD loads and scales sit apart:
 *
 *   q8: int8  qs[rows * nb * 32]       w = d * q,        q in [-127, 127]
 *       f16   d[rows * nb]             (IEEE half, little-endian)       8.5 bits/weight
 *   q4: uint8 qs[rows * nb * 16]       w = d * (q - 8),  q in [0, 15]; byte j of a
 *       f16   d[rows * nb]             block holds q[j] (low nibble) and q[j+16]
 *                                      (high nibble)                    4.5 bits/weight
 *
 * Activations are quantized per token, on the fly, to int8 blocks of 32 with a float
 * scale (x ≈ d * q, d = max|x| / 127) plus each block's sum of q, which lets a q4 dot
 * product take the -8 offset out of the inner loop:
 *   dot(w, x) = Σ_blocks d_w * d_x * (Σ q_w * q_x - 8 * Σ q_x). */
#ifndef G2_TENSOR_QUANT_H
#define G2_TENSOR_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define G2_QK 32

/* Activation blocks whose largest |x| is below this are quantized as zeros (their
 * scale 127 / max|x| would overflow a float). */
#define G2_ACT_TINY 0x1p-100f

static inline uint32_t g2_q_blocks(uint32_t cols) { return (cols + G2_QK - 1) / G2_QK; }

/* Bytes of a quantized [rows, cols] tensor (type G2_TYPE_Q8 or G2_TYPE_Q4). */
static inline uint64_t g2_q_bytes(uint32_t type_q4, uint64_t rows, uint32_t cols) {
    uint64_t blocks = rows * g2_q_blocks(cols);
    return blocks * (type_q4 ? 16u : 32u) + blocks * 2u;
}

/* A quantized weight matrix in the layout above. */
typedef struct g2_qmatrix {
    const void *qs;     /* int8 (q8) or packed nibbles (q4) */
    const uint16_t *d;  /* f16 scales, rows * nb */
    uint32_t rows, cols, nb;
} g2_qmatrix;

/* Quantized activations of n tokens: token t's blocks start at qs + t * nb * 32,
 * d + t * nb, sum + t * nb. */
typedef struct g2_qact {
    int8_t *qs;
    float *d;
    int32_t *sum;
    uint32_t nb;
} g2_qact;

/* One instruction set's kernels. Every table computes the same function; integer
 * accumulation is exact, so results differ from the scalar table only by the order of
 * float additions across blocks (tests/kernels states the tolerance). */
typedef struct g2_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */
    /* x[0..n) → one token's blocks (nb = g2_q_blocks(n)); the tail is zero. */
    void (*quantize_act)(const float *x, uint32_t n, int8_t *qs, float *d, int32_t *sum);
    /* y[t * y_stride + r] = dot(row r of W, token t of A) for r in [r0, r1),
     * t in [0, n_tok). One function per weight type. */
    void (*gemm_q8)(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride);
    void (*gemm_q4)(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride);
} g2_kernels;

/* The tables; an ISA's table exists only in builds for its CPU family. */
extern const g2_kernels g2_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const g2_kernels g2_kernels_avx2;
extern const g2_kernels g2_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const g2_kernels g2_kernels_neon;
#endif

/* IEEE half ↔ float, in portable C (kernels may use hardware conversions). */
float g2_f16_to_f32(uint16_t h);
uint16_t g2_f32_to_f16(float f);

/* Weight quantization (converter side, scalar): row-major float weights [rows, cols]
 * → the layout above. q4 picks each block's scale to minimise the squared error. */
void g2_quantize_q8(const float *w, uint64_t rows, uint32_t cols, int8_t *qs, uint16_t *d);
void g2_quantize_q4(const float *w, uint64_t rows, uint32_t cols, uint8_t *qs, uint16_t *d);
/* Dequantizes one row (cols floats) of a quantized matrix. */
void g2_dequantize_row(const g2_qmatrix *W, uint32_t type_q4, uint32_t row, float *out);

#endif
