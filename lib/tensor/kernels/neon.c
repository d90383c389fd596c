/* SPDX-License-Identifier: Apache-2.0 */
/* NEON + dotprod kernels (aarch64): the function lib/tensor/quant.h defines, with the
 * int8 dot products on sdot (vdotq_s32, signed × signed bytes, 4 products per int32
 * lane). Compiled with -march=armv8.2-a+dotprod; everything but the table is static
 * (STYLE.md rule 12).
 *
 * A step covers 4 blocks. Per (row, token) pair and block, two sdot leave 4 int32
 * lanes; two rounds of pairwise adds (addp) turn the 4 blocks' lanes into one vector
 * of the 4 exact block sums, so one convert, one scale multiply (d_w·d_x of the 4
 * blocks) and one FMA serve 4 blocks. q8 weights go to sdot as they are; q4 nibbles
 * go as unsigned q in [0, 15] (valid signed bytes), and the block sums then lose
 * 8·Σx, taken from A->sum (Σ (q − 8)·x = Σ q·x − 8·Σx, exact in int32).
 *
 * Register tile: R rows × T tokens, 4×2 at most (8 accumulators; a row's 4 blocks take
 * 8 registers and are reused by the T tokens). Decode (one token) runs 4×1, streaming
 * 4 weight rows at once; prefill runs 4×2 tiles with the tokens innermost, so the
 * 4-row weight panel stays in cache while the tokens sweep past it. A ragged last
 * step runs on zero-padded copies. */
#include <arm_neon.h>
#include <string.h>

#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2
#define STEP 4 /* blocks per step */

/* ---- activations ------------------------------------------------------------ */

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (fmaxnm, as fmaxf
 * does), d = amax / 127, q = x * (127 / amax) rounded to nearest even (fcvtns, which
 * is lrintf in the default rounding mode; inf and NaN saturate like the scalar
 * lrintf's fcvtzs), clamped to [-127, 127], tail zero. */
static void quantize_act(const float *x, uint32_t n, int8_t *qs, float *d, int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    for (uint32_t b = 0; b < nb; b++) {
        const uint32_t left = n - b * G2_QK;
        const float *p = x + (size_t)b * G2_QK;
        float tail[G2_QK];
        if (left < G2_QK) {
            memset(tail, 0, sizeof tail);
            memcpy(tail, p, left * sizeof(float));
            p = tail;
        }
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(p + 4 * k);
            m = vmaxnmq_f32(m, vabsq_f32(v[k])); /* a NaN |v| leaves m */
        }
        const float amax = vmaxnmvq_f32(m);
        /* below 2^-100 a block is zero: 127 / amax would overflow to inf (G2_ACT_TINY) */
        const float id = amax >= G2_ACT_TINY ? 127.0f / amax : 0.0f;
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f : 0.0f;
        const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
        int32x4_t s = vdupq_n_s32(0);
        int16x8_t h[4];
        for (int k = 0; k < 8; k += 2) {
            int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[k], id)),
                      q1 = vcvtnq_s32_f32(vmulq_n_f32(v[k + 1], id));
            q0 = vminq_s32(vmaxq_s32(q0, lo), hi);
            q1 = vminq_s32(vmaxq_s32(q1, lo), hi);
            s = vaddq_s32(s, vaddq_s32(q0, q1));
            h[k / 2] = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
        }
        vst1q_s8(qs + (size_t)b * G2_QK, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
        vst1q_s8(qs + (size_t)b * G2_QK + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
        sum[b] = vaddvq_s32(s);
    }
}

/* ---- matrix kernels ------------------------------------------------------------ */

/* Where a tile's operands start (block b of rows r.. and tokens t..), and the strides
 * to the next row / token: the matrices themselves, or zero-padded copies. */
typedef struct operands {
    const uint8_t *wq;
    const uint16_t *wd;
    size_t wq_stride, wd_stride;
    const int8_t *xq;
    const float *xd;
    const int32_t *xs;
    size_t xq_stride, x_stride;
} operands;

/* One step (4 blocks) of an R×T tile. */
INLINE void tile_step(float32x4_t acc[MAX_R][MAX_T], int q4, int R, int T, const operands *o) {
    float32x4_t dx[MAX_T];
    int32x4_t corr[MAX_T];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        dx[j] = vld1q_f32(o->xd + j * o->x_stride);
        corr[j] = q4 ? vshlq_n_s32(vld1q_s32(o->xs + j * o->x_stride), 3) : vdupq_n_s32(0);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const uint8_t *p = o->wq + i * o->wq_stride;
        int8x16_t w[2 * STEP];
#pragma GCC unroll 4
        for (int k = 0; k < STEP; k++) {
            if (q4) {
                const uint8x16_t v = vld1q_u8(p + 16 * k);
                w[2 * k] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
                w[2 * k + 1] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
            } else {
                w[2 * k] = vld1q_s8((const int8_t *)p + 32 * k);
                w[2 * k + 1] = vld1q_s8((const int8_t *)p + 32 * k + 16);
            }
        }
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(o->wd + i * o->wd_stride)));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const int8_t *x = o->xq + j * o->xq_stride;
            int32x4_t s[STEP];
#pragma GCC unroll 4
            for (int k = 0; k < STEP; k++)
                s[k] = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w[2 * k], vld1q_s8(x + 32 * k)), w[2 * k + 1],
                                 vld1q_s8(x + 32 * k + 16));
            int32x4_t blocks = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
            if (q4)
                blocks = vsubq_s32(blocks, corr[j]);
            acc[i][j] = vfmaq_f32(acc[i][j], vcvtq_f32_s32(blocks), vmulq_f32(dw, dx[j]));
        }
    }
}

/* Rows [r, r+R) × tokens [t, t+T) over all blocks. */
INLINE void tile(int q4, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t,
                 float *y, size_t y_stride) {
    const size_t qblk = q4 ? G2_QK / 2 : G2_QK, nb = W->nb;
    float32x4_t acc[MAX_R][MAX_T];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    operands o = {
        .wq = (const uint8_t *)W->qs + (size_t)r * nb * qblk,
        .wd = W->d + (size_t)r * nb,
        .wq_stride = nb * qblk,
        .wd_stride = nb,
        .xq = A->qs + (size_t)t * A->nb * G2_QK,
        .xd = A->d + (size_t)t * A->nb,
        .xs = A->sum + (size_t)t * A->nb,
        .xq_stride = (size_t)A->nb * G2_QK,
        .x_stride = A->nb,
    };
    size_t b = 0;
    for (; b + STEP <= nb; b += STEP) {
        tile_step(acc, q4, R, T, &o);
        o.wq += STEP * qblk;
        o.wd += STEP;
        o.xq += STEP * G2_QK;
        o.xd += STEP;
        o.xs += STEP;
    }
    if (b < nb) {
        uint8_t pq[MAX_R][STEP * G2_QK];
        uint16_t pd[MAX_R][STEP];
        int8_t px[MAX_T][STEP * G2_QK];
        float pxd[MAX_T][STEP];
        int32_t pxs[MAX_T][STEP];
        memset(pq, 0, sizeof pq);
        memset(pd, 0, sizeof pd);
        memset(px, 0, sizeof px);
        memset(pxd, 0, sizeof pxd);
        memset(pxs, 0, sizeof pxs);
        const size_t n = nb - b;
        for (int i = 0; i < R; i++) {
            memcpy(pq[i], o.wq + i * o.wq_stride, n * qblk);
            memcpy(pd[i], o.wd + i * o.wd_stride, n * sizeof(uint16_t));
        }
        for (int j = 0; j < T; j++) {
            memcpy(px[j], o.xq + j * o.xq_stride, n * G2_QK);
            memcpy(pxd[j], o.xd + j * o.x_stride, n * sizeof(float));
            memcpy(pxs[j], o.xs + j * o.x_stride, n * sizeof(int32_t));
        }
        const operands pad = {.wq = &pq[0][0],
                              .wd = &pd[0][0],
                              .wq_stride = sizeof pq[0],
                              .wd_stride = STEP,
                              .xq = &px[0][0],
                              .xd = &pxd[0][0],
                              .xs = &pxs[0][0],
                              .xq_stride = sizeof px[0],
                              .x_stride = STEP};
        tile_step(acc, q4, R, T, &pad);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            y[(size_t)(t + j) * y_stride + r + i] = vaddvq_f32(acc[i][j]);
}

/* One function per tile shape, so each is compiled with its loops unrolled. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y,
                     size_t y_stride);
#define TILE_FN(name, q4, R, T)                                                                            \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y, size_t ys) { \
        tile(q4, R, T, W, r, A, t, y, ys);                                                                 \
    }
TILE_FN(q8_4x2, 0, 4, 2)
TILE_FN(q8_4x1, 0, 4, 1)
TILE_FN(q8_1x2, 0, 1, 2)
TILE_FN(q8_1x1, 0, 1, 1)
TILE_FN(q4_4x2, 1, 4, 2)
TILE_FN(q4_4x1, 1, 4, 1)
TILE_FN(q4_1x2, 1, 1, 2)
TILE_FN(q4_1x1, 1, 1, 1)

/* Rows in tiles of 4 (1 at a ragged end), tokens in tiles of up to 2 inside.
 * tiles[0][T - 1]: 4-row tiles, tiles[1][T - 1]: 1-row tiles. */
static void gemm(tile_fn *const tiles[2][MAX_T], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                 const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    for (uint32_t r = r0; r < r1;) {
        const int one = r1 - r < MAX_R;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t nt = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            tiles[one][nt - 1](W, r, A, t, y, y_stride);
        }
        r += one ? 1 : MAX_R;
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[2][MAX_T] = {{q8_4x1, q8_4x2}, {q8_1x1, q8_1x2}};
    gemm(tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[2][MAX_T] = {{q4_4x1, q4_4x2}, {q4_1x1, q4_1x2}};
    gemm(tiles, W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_neon = {
    .name = "neon", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
