/* SPDX-License-Identifier: Apache-2.0 */
/* NEON + dotprod kernels (aarch64): the function lib/tensor/quant.h defines, bit for
 * bit, with the int8 dot products on sdot (vdotq_s32, signed × signed bytes, 4
 * products per int32 lane). Compiled with -march=armv8.2-a+dotprod; everything but the
 * table is static (STYLE.md rule 12).
 *
 * Integer part. q8 weights go to sdot as they are; q4 nibbles are mapped to their int8
 * codebook levels with one table lookup (tbl) per 16 weights, then go the same way.
 * Per (row, token) pair and block, one chain of sdot builds per lane
 *   256·Σ w·hi + Σ w·lo   (2 sdot over the hi digits, shift left by 8, 2 over the lo)
 * over the lane's 8 elements, exact in int32 (|isum| ≤ 32·127·127·257 < 2^28). Two
 * rounds of pairwise adds (addp) turn the 4 blocks of a step into one vector of their
 * 4 exact block sums isum_b; A->sum is not needed. One-digit inputs (A->digits == 1,
 * lo all zero) skip the lo loads and sdot.
 *
 * Float part, in the canonical order: one convert, one scale multiply
 * (f16→f32 of d_w, exact, times d_x) and one fused multiply-add per step of 4 blocks.
 * Step s holds blocks 4s..4s+3, i.e. the canonical lanes b % 16 = 4·(s % 4) + k, so
 * each pair has 4 float32x4 accumulators and step s adds into accumulator s % 4. The
 * final tree of quant.h is then (acc0 + acc2) + (acc1 + acc3), lanes 0+2 and 1+3,
 * and the last two added.
 *
 * Register tile: R rows × T tokens, 4×2 at most. 4 accumulators per pair would not
 * fit next to the operands (32 of the 32 registers for 4×2), so they live in a small
 * stack array: each step loads and stores one vector per pair, which is cheap next to
 * the pair's 16 sdot. Per block the tokens' digits are loaded once for the R rows,
 * and each row's weights once for the T tokens. Decode (one token) runs 4×1, streaming
 * 4 weight rows at once; prefill runs 4×2 tiles with the tokens inside the rows, so the
 * 4-row weight panel stays in cache while the tokens sweep past it. A ragged last step
 * runs on zero-padded copies (zero quants and scales: fma(0, 0, acc) = acc). */
#include <arm_neon.h>
#include <string.h>

#include "tensor/kernels/tile_fns.h"
#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2
#define STEP 4                     /* blocks per step */
#define NACC (G2_ACC_LANES / STEP) /* float32x4 accumulators per pair */

/* ---- activations ------------------------------------------------------------ */

/* Clamps converted values to [-127, 127]. */
INLINE int32x4_t clamp127(int32x4_t q) {
    return vminq_s32(vmaxq_s32(q, vdupq_n_s32(-127)), vdupq_n_s32(127));
}

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (fmaxnm, which is
 * what the scalar fmaxf compiles to), e = x * (127 / amax), hi = round(e),
 * lo = round((e − hi) · 256) to nearest even (fcvtns; the scalar lrintf is frintx +
 * fcvtzs in the default mode, the same for every finite e, and both give 0 for a NaN
 * e), clamped to [-127, 127] after conversion, tail zero. */
static void quantize_act(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum) {
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
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f * (1.0f / G2_ACT_LO_WEIGHT) : 0.0f;
        int32x4_t s = vdupq_n_s32(0);
        int16x8_t h16[4], l16[4];
        for (int k = 0; k < 8; k += 2) {
            int32x4_t hi[2], lo[2];
            for (int u = 0; u < 2; u++) {
                const float32x4_t e = vmulq_n_f32(v[k + u], id);
                hi[u] = clamp127(vcvtnq_s32_f32(e));
                /* e − hi is exact; the × 256 too (a power of two) */
                const float32x4_t r =
                    vmulq_n_f32(vsubq_f32(e, vcvtq_f32_s32(hi[u])), (float)G2_ACT_LO_WEIGHT);
                lo[u] = digits == 1 ? vdupq_n_s32(0) : clamp127(vcvtnq_s32_f32(r));
                s = vaddq_s32(s, vaddq_s32(vshlq_n_s32(hi[u], 8), lo[u])); /* 256·hi + lo */
            }
            h16[k / 2] = vcombine_s16(vmovn_s32(hi[0]), vmovn_s32(hi[1]));
            l16[k / 2] = vcombine_s16(vmovn_s32(lo[0]), vmovn_s32(lo[1]));
        }
        int8_t *qh = qs + (size_t)b * G2_QK, *qlo = ql + (size_t)b * G2_QK;
        vst1q_s8(qh, vcombine_s8(vmovn_s16(h16[0]), vmovn_s16(h16[1])));
        vst1q_s8(qh + 16, vcombine_s8(vmovn_s16(h16[2]), vmovn_s16(h16[3])));
        vst1q_s8(qlo, vcombine_s8(vmovn_s16(l16[0]), vmovn_s16(l16[1])));
        vst1q_s8(qlo + 16, vcombine_s8(vmovn_s16(l16[2]), vmovn_s16(l16[3])));
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
    const int8_t *xh, *xl; /* hi and lo digits */
    const float *xd;
    size_t xq_stride, xd_stride;
} operands;

/* One block of one pair: per lane 256·Σ w·hi + Σ w·lo over its 8 elements (exact; lo
 * is all zero and skipped unless two). */
INLINE int32x4_t block_dot(int two, int8x16_t w0, int8x16_t w1, const int8x16_t x[4]) {
    int32x4_t h = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x[0]), w1, x[1]);
    h = vshlq_n_s32(h, 8);
    return two ? vdotq_s32(vdotq_s32(h, w0, x[2]), w1, x[3]) : h;
}

/* Block k of row p → its 32 int8 weights, elements 0..15 and 16..31. */
INLINE void load_w(int q4, const uint8_t *p, int k, int8x16_t levels, int8x16_t *w0, int8x16_t *w1) {
    if (q4) { /* byte j: element j in the low nibble, element j + 16 in the high one */
        const uint8x16_t v = vld1q_u8(p + 16 * k);
        *w0 = vqtbl1q_s8(levels, vandq_u8(v, vdupq_n_u8(0x0F)));
        *w1 = vqtbl1q_s8(levels, vshrq_n_u8(v, 4));
    } else {
        *w0 = vld1q_s8((const int8_t *)p + 32 * k);
        *w1 = vld1q_s8((const int8_t *)p + 32 * k + 16);
    }
}

/* One step (4 blocks) of an R×T tile into acc (the step's accumulators, s % 4). */
INLINE void tile_step(float32x4_t acc[MAX_R][MAX_T], int q4, int two, int R, int T, const operands *o,
                      int8x16_t levels) {
    /* per pair: pairwise sums of blocks 0, 1 and of blocks 2, 3, formed as they come */
    int32x4_t p[MAX_R][MAX_T][2];
#pragma GCC unroll 4
    for (int k = 0; k < STEP; k++) {
        /* Load each block's operands where they are used rather than let the compiler
         * hoist a whole step's into registers and spill them. */
        __asm__ volatile("" ::: "memory");
        int8x16_t x[MAX_T][4]; /* hi 0..15, hi 16..31, lo 0..15, lo 16..31 */
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const int8_t *h = o->xh + j * o->xq_stride + 32 * k, *l = o->xl + j * o->xq_stride + 32 * k;
            x[j][0] = vld1q_s8(h);
            x[j][1] = vld1q_s8(h + 16);
            if (two) {
                x[j][2] = vld1q_s8(l);
                x[j][3] = vld1q_s8(l + 16);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            int8x16_t w0, w1;
            load_w(q4, o->wq + i * o->wq_stride, k, levels, &w0, &w1);
#pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                const int32x4_t s = block_dot(two, w0, w1, x[j]);
                p[i][j][k / 2] = k % 2 ? vpaddq_s32(p[i][j][k / 2], s) : s;
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(o->wd + i * o->wd_stride)));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const int32x4_t isum = vpaddq_s32(p[i][j][0], p[i][j][1]); /* lane k: block k */
            const float32x4_t scale = vmulq_f32(dw, vld1q_f32(o->xd + j * o->xd_stride));
            acc[i][j] = vfmaq_f32(acc[i][j], vcvtq_f32_s32(isum), scale);
        }
    }
}

/* The canonical tree over a pair's 16 lanes (a[g] lane k = lane 4g + k). */
INLINE float canonical_sum(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3) {
    const float32x4_t v = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)); /* w = 8, then 4 */
    const float32x2_t h = vadd_f32(vget_low_f32(v), vget_high_f32(v));     /* w = 2 */
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);                      /* w = 1 */
}

/* Rows [r, r+R) × tokens [t, t+T) over all blocks. */
INLINE void tile(int q4, int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t,
                 float *y, size_t y_stride) {
    static const int8_t codebook[16] = G2_Q4_CODEBOOK;
    const int8x16_t levels = vld1q_s8(codebook);
    const size_t qblk = q4 ? G2_QK / 2 : G2_QK, nb = W->nb;
    /* acc[s % 4]: indexed at run time, so it stays in memory (see the top comment) */
    float32x4_t acc[NACC][MAX_R][MAX_T];
    for (int g = 0; g < NACC; g++)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                acc[g][i][j] = vdupq_n_f32(0.0f);
    const size_t xq = (size_t)t * A->nb * G2_QK;
    operands o = {
        .wq = (const uint8_t *)W->qs + (size_t)r * nb * qblk,
        .wd = W->d + (size_t)r * nb,
        .wq_stride = nb * qblk,
        .wd_stride = nb,
        .xh = A->qs + xq,
        .xl = A->ql + xq,
        .xd = A->d + (size_t)t * A->nb,
        .xq_stride = (size_t)A->nb * G2_QK,
        .xd_stride = A->nb,
    };
    size_t b = 0, s = 0;
    for (; b + STEP <= nb; b += STEP, s++) {
        tile_step(acc[s % NACC], q4, two, R, T, &o, levels);
        o.wq += STEP * qblk;
        o.wd += STEP;
        o.xh += STEP * G2_QK;
        o.xl += STEP * G2_QK;
        o.xd += STEP;
    }
    if (b < nb) {
        uint8_t pq[MAX_R][STEP * G2_QK];
        uint16_t pd[MAX_R][STEP];
        int8_t ph[MAX_T][STEP * G2_QK], pl[MAX_T][STEP * G2_QK];
        float pxd[MAX_T][STEP];
        memset(pq, 0, sizeof pq);
        memset(pd, 0, sizeof pd);
        memset(ph, 0, sizeof ph);
        memset(pl, 0, sizeof pl);
        memset(pxd, 0, sizeof pxd);
        const size_t n = nb - b;
        for (int i = 0; i < R; i++) {
            memcpy(pq[i], o.wq + i * o.wq_stride, n * qblk);
            memcpy(pd[i], o.wd + i * o.wd_stride, n * sizeof(uint16_t));
        }
        for (int j = 0; j < T; j++) {
            memcpy(ph[j], o.xh + j * o.xq_stride, n * G2_QK);
            memcpy(pl[j], o.xl + j * o.xq_stride, n * G2_QK);
            memcpy(pxd[j], o.xd + j * o.xd_stride, n * sizeof(float));
        }
        const operands pad = {.wq = &pq[0][0],
                              .wd = &pd[0][0],
                              .wq_stride = sizeof pq[0],
                              .wd_stride = STEP,
                              .xh = &ph[0][0],
                              .xl = &pl[0][0],
                              .xd = &pxd[0][0],
                              .xq_stride = sizeof ph[0],
                              .xd_stride = STEP};
        tile_step(acc[s % NACC], q4, two, R, T, &pad, levels);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            y[(size_t)(t + j) * y_stride + r + i] =
                canonical_sum(acc[0][i][j], acc[1][i][j], acc[2][i][j], acc[3][i][j]);
}

/* The tile functions and their tables (tile_fns.h). */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y,
                     size_t y_stride);
#define TILE_FN(name, q4, two, R, T)                                                                       \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y, size_t ys) { \
        tile(q4, two, R, T, W, r, A, t, y, ys);                                                            \
    }
TILE_FNS(q8, 0)
TILE_FNS(q4, 1)

/* Rows in tiles of 4 (1 at a ragged end), tokens in tiles of up to 2 inside.
 * by_digits[A->digits != 1][0][T - 1]: 4-row tiles, [1][T - 1]: 1-row tiles. */
static void gemm(tile_fn *const by_digits[2][2][MAX_T], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                 const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    tile_fn *const(*tiles)[MAX_T] = by_digits[A->digits != 1];
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
    gemm(q8_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm(q4_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_neon = {
    .name = "neon", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
