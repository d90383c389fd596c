/* SPDX-License-Identifier: Apache-2.0 */
/* Quantized weight formats, quantized activations, and the kernel contract
 * (docs/quantization.md).
 *
 * A quantized matrix [rows, cols] is cut into blocks of G2_QK = 32 weights along each
 * row; a row has nb = ceil(cols / 32) blocks (a ragged last block is zero-padded).
 * Storage is "structure of arrays" over the whole tensor, so quants stream through
 * SIMD loads and scales sit apart:
 *
 *   q8: int8  qs[rows * nb * 32]       w = d * q,        q in [-127, 127]
 *       f16   d[rows * nb]             (IEEE half, little-endian)       8.5 bits/weight
 *   q4: uint8 qs[rows * nb * 16]       w = d * K[q],     q in [0, 15], K below; byte j
 *       f16   d[rows * nb]             of a block holds q[j] (low nibble) and q[j+16]
 *                                      (high nibble)                    4.5 bits/weight
 *
 * Both types store their rows the same way (format version 3; q4 since version 2).
 * A row's blocks go in groups of 16 (a row's last group has m = nb % 16 blocks when
 * that is not 0), and within a group the bytes are in lane order: byte j of block
 * 16g + k is at byte 4m·(j / 4) + 4k + j % 4 of the group's B·m bytes (B, the bytes
 * per block: 32 for q8, 16 for q4). So bytes 4i..4i+3 of the group's blocks sit side
 * by side, one 32-bit lane per block: a 64-byte vector holds them for 16 blocks, an
 * int8 dot product over a lane's 4 bytes stays within one block, and lane k is the
 * canonical lane b % 16 below. The rows go in sets of 4 (the last set has the rows
 * left over, n of them), and a set stores its rows group by group: group g of all n
 * rows, then group g + 1, so a kernel reading 4 rows streams one run of memory. The
 * scales are interleaved the same way, m per row and group (g2_q_byte_at,
 * g2_q_scale_at).
 *
 * K is a fixed non-uniform 16-level codebook (int8, ascending, symmetric): the Lloyd-Max
 * levels of weights normalised by their block's largest |w|, which leave about 0.78 of
 * the squared error of a uniform 4-bit grid (docs/quantization.md).
 *
 * Activations are quantized per token, on the fly, to fixed point held as int8 digits
 * (hi, lo), so integer SIMD multiplies int8 by int8: two digits (16 bits) for inputs
 * of q8 matrices, one (8 bits, lo = 0) for inputs read only by q4 matrices, whose
 * own rounding error dwarfs the difference (docs/quantization.md):
 *   amax = max|x| over the block (NaN ignored); if amax < G2_ACT_TINY the block is 0;
 *   e  = x * (127 / amax)                        (float multiply)
 *   hi = clamp(round_half_even(e), -127, 127)
 *   lo = clamp(round_half_even((e - hi) * 256), -127, 127)   two digits; else 0
 *   x ≈ d * (256 * hi + lo),  d = (amax / 127) / 256,   sum = Σ (256 * hi + lo).
 * (e - hi is exact in float. A NaN e converts as the platform's lrintf does: INT_MIN,
 * clamped to -127, on x86-64; 0 on aarch64. Tables agree within a platform.)
 *
 * The kernel function, defined exactly so that every instruction set gives the same
 * bits (the canonical order): for row r and token t,
 *   isum_b = Σ_i w_i * (256 * hi_i + lo_i)            exact int32 (w_i: q8 q or K[q])
 *   s_b    = f16_to_f32(d_w[b]) * d_x[b]              one float multiply
 *   acc[b % 16] = fmaf((float)isum_b, s_b, acc[b % 16])   blocks in ascending order,
 *                                                          16 accumulators from +0
 *   then for w = 8, 4, 2, 1: acc[i] = acc[i] + acc[i + w] for i < w;  y = acc[0].
 * A kernel may add padding blocks (zero quants, zero scales): fmaf(0, 0, acc) = acc. */
#ifndef G2_TENSOR_QUANT_H
#define G2_TENSOR_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define G2_QK 32

/* The q4 levels K[0..15] (see above). */
#define G2_Q4_CODEBOOK \
    { -123, -99, -79, -62, -46, -32, -19, -6, 6, 19, 32, 46, 62, 79, 99, 123 }
/* The weight of the lo digit: x ≈ d * (G2_ACT_LO_WEIGHT * hi + lo). */
#define G2_ACT_LO_WEIGHT 256
/* The canonical number of float accumulators per output (see above). */
#define G2_ACC_LANES 16

/* Activation blocks whose largest |x| is below this are quantized as zeros (their
 * scale 127 / max|x| would overflow a float). */
#define G2_ACT_TINY 0x1p-100f

static inline uint32_t g2_q_blocks(uint32_t cols) { return (cols + G2_QK - 1) / G2_QK; }

/* Rows per set (see above). */
#define G2_Q_ROW_SET 4

/* In a quantized matrix [rows, nb blocks] of block_bytes bytes per block (32: q8,
 * 16: q4): the offset of byte j (0..block_bytes − 1) of block b of row r from the
 * start of the quants, and of that block's scale from the start of the scales (in
 * scales). */
static inline size_t g2_q_byte_at(uint32_t block_bytes, uint32_t rows, uint32_t nb, uint32_t r, uint32_t b,
                                  uint32_t j) {
    const uint32_t s0 = r - r % G2_Q_ROW_SET, n = rows - s0 < G2_Q_ROW_SET ? rows - s0 : G2_Q_ROW_SET;
    const uint32_t g = b / 16, k = b % 16, m = nb - 16 * g < 16 ? nb - 16 * g : 16;
    return (size_t)block_bytes * ((size_t)s0 * nb + (size_t)n * 16 * g + (size_t)(r - s0) * m) +
           (size_t)4 * m * (j / 4) + 4 * k + j % 4;
}

static inline size_t g2_q8_byte_at(uint32_t rows, uint32_t nb, uint32_t r, uint32_t b, uint32_t j) {
    return g2_q_byte_at(G2_QK, rows, nb, r, b, j);
}

static inline size_t g2_q4_byte_at(uint32_t rows, uint32_t nb, uint32_t r, uint32_t b, uint32_t j) {
    return g2_q_byte_at(G2_QK / 2, rows, nb, r, b, j);
}

static inline size_t g2_q_scale_at(uint32_t rows, uint32_t nb, uint32_t r, uint32_t b) {
    const uint32_t s0 = r - r % G2_Q_ROW_SET, n = rows - s0 < G2_Q_ROW_SET ? rows - s0 : G2_Q_ROW_SET;
    const uint32_t g = b / 16, k = b % 16, m = nb - 16 * g < 16 ? nb - 16 * g : 16;
    return (size_t)s0 * nb + (size_t)n * 16 * g + (size_t)(r - s0) * m + k;
}

/* Bytes of a quantized [rows, cols] tensor (type G2_TYPE_Q8 or G2_TYPE_Q4). */
static inline uint64_t g2_q_bytes(uint32_t type_q4, uint64_t rows, uint32_t cols) {
    uint64_t blocks = rows * g2_q_blocks(cols);
    return blocks * (type_q4 ? 16u : 32u) + blocks * 2u;
}

/* A quantized weight matrix in the layout above. */
typedef struct g2_qmatrix {
    const void *qs;    /* int8 (q8) or packed nibbles (q4) */
    const uint16_t *d; /* f16 scales, rows * nb */
    uint32_t rows, cols, nb;
} g2_qmatrix;

/* Quantized activations of n tokens: token t's blocks start at qs + t * nb * 32,
 * ql + t * nb * 32, d + t * nb, sum + t * nb. A table with prepare_act may also lay
 * the same values out in its own way (amx: tiles for its matrix unit; avx512: one
 * decode token's SIMD steps), once per input for every matrix and thread that reads
 * it: tiles (G2_ACT_TILE_BYTES) and tiles_d (G2_ACT_TILE_FLOATS), both NULL if the
 * owner has no room; tiles_tok is the n_tok they hold, 0 if none. */
typedef struct g2_qact {
    int8_t *qs;   /* hi digits */
    int8_t *ql;   /* lo digits (all 0 when digits is 1) */
    float *d;     /* the unit of 256 * hi + lo */
    int32_t *sum; /* Σ (256 * hi + lo) per block */
    uint32_t nb;
    uint32_t digits; /* 1 or 2, as quantize_act was given: with 1 a kernel may skip lo */
    int8_t *tiles;
    float *tiles_d;
    uint32_t tiles_tok;
} g2_qact;

/* One token's activations for one group of 16 blocks in the lane order, for kernels
 * that multiply a group's 32-bit lanes (g2_xgroups fills it): hi[v][4k + e] is the hi
 * digit of element 4v + e of block k, lo the same for the lo digits (zero when
 * A->digits is 1); dx[k] and corr[k] = −128 · sum of block k. So hi[v] meets run v of
 * a q8 group (bytes 4v..4v+3 of each block), and for q4, run i's low nibbles meet
 * hi[i] and its high nibbles hi[4 + i] (elements 16 + 4i + e).
 * Blocks past the input's end are zero throughout. 1152 bytes. */
typedef struct g2_xgroup {
    _Alignas(64) int8_t hi[8][64];
    int8_t lo[8][64];
    float dx[16];
    int32_t corr[16];
} g2_xgroup;

#define G2_Q_GROUPS(nb) (((size_t)(nb) + 15) / 16)

/* Room for the tile layouts of n_tok tokens of nb blocks, with 64 bytes to align:
 * amx's tiles of 16 tokens, each block 2 digits × 512 bytes and 16 scales; or n_tok
 * tokens' g2_xgroup. */
#define G2_ACT_TILES(n_tok) (((size_t)(n_tok) + 15) / 16)
#define G2_ACT_TILE_BYTES(n_tok, nb) (G2_ACT_TILES(n_tok) * 16u * G2_Q_GROUPS(nb) * sizeof(g2_xgroup) + 64u)
#define G2_ACT_TILE_FLOATS(n_tok, nb) (G2_ACT_TILES(n_tok) * (nb)*16u)

/* Token t's groups [g0, g1) of A in the lane order → out[0 .. g1 − g0). */
void g2_xgroups(const g2_qact *A, uint32_t t, uint32_t g0, uint32_t g1, g2_xgroup *out);

/* One instruction set's kernels. Every table computes the function above bit for bit
 * (tests/kernels compares each with the scalar table). */
typedef struct g2_kernels {
    const char *name; /* "scalar", "avx2", "avxvnni", "avx512", "avx512vbmi", "amx", "neon" */
    /* x[0..n) → one token's blocks (nb = g2_q_blocks(n)) of 1 or 2 digits (any other
     * value is 2); the tail is zero. */
    void (*quantize_act)(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum);
    /* y[t * y_stride + r] = dot(row r of W, token t of A) for r in [r0, r1),
     * t in [0, n_tok). One function per weight type. */
    void (*gemm_q8)(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride);
    void (*gemm_q4)(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride);
    /* NULL, or: after all n_tok tokens of A are quantized, fills A->tiles / tiles_d
     * and sets tiles_tok (or leaves it 0 when the gemms would not read them). The
     * gemms give the same bits either way, faster when prepared. */
    void (*prepare_act)(g2_qact *A, uint32_t n_tok);
} g2_kernels;

/* The tables; an ISA's table exists only in builds for its CPU family. */
extern const g2_kernels g2_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const g2_kernels g2_kernels_avx2;
extern const g2_kernels g2_kernels_avxvnni;
extern const g2_kernels g2_kernels_avx512;
extern const g2_kernels g2_kernels_avx512vbmi;
extern const g2_kernels g2_kernels_amx;
#endif
#if defined(__aarch64__)
extern const g2_kernels g2_kernels_neon;
#endif

/* The q4 codebook as an array (the same values as G2_Q4_CODEBOOK). */
extern const int8_t g2_q4_levels[16];

/* IEEE half ↔ float, in portable C (kernels may use hardware conversions). */
float g2_f16_to_f32(uint16_t h);
uint16_t g2_f32_to_f16(float f);

/* Weight quantization (converter side, scalar): row-major float weights [rows, cols]
 * → the layout above. q4 picks each block's scale and levels to minimise the squared
 * error. A matrix may be quantized in parts of whole rows, each written at its rows'
 * offsets; each part but the last must have a multiple of G2_Q_ROW_SET rows. */
void g2_quantize_q8(const float *w, uint64_t rows, uint32_t cols, int8_t *qs, uint16_t *d);
void g2_quantize_q4(const float *w, uint64_t rows, uint32_t cols, uint8_t *qs, uint16_t *d);
/* Rows [row0, row0 + n) of a quantized matrix [rows, nb blocks] of block_bytes (32:
 * q8, 16: q4) per block, given row-major (src_qs: n · nb blocks, src_d: n · nb
 * scales, as format versions before 3 and 2 stored them) → their places in the layout
 * at qs, d. */
void g2_q_place_rows(uint32_t block_bytes, const uint8_t *src_qs, const uint16_t *src_d, uint32_t rows,
                     uint32_t nb, uint32_t row0, uint32_t n, uint8_t *qs, uint16_t *d);
/* Dequantizes one row (cols floats) of a quantized matrix. */
void g2_dequantize_row(const g2_qmatrix *W, uint32_t type_q4, uint32_t row, float *out);

#endif
