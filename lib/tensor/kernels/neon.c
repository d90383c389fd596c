/* SPDX-License-Identifier: Apache-2.0 */
/* NEON + dotprod kernels (aarch64): the function lib/tensor/quant.h defines, bit for
 * bit, with the int8 dot products on sdot (vdotq_s32, signed × signed bytes, 4
 * products per int32 lane). Compiled with -march=armv8.2-a+dotprod; everything but the
 * table is static (STYLE.md rule 12). A->sum is not needed: the products are signed.
 * Every block sum is exact in int32 (|isum| ≤ 32·127·127·257 < 2^28), and one-digit
 * inputs (A->digits == 1, lo all zero) skip the lo loads and sdot.
 *
 * Float part, in the canonical order: one convert, one scale multiply (f16→f32 of d_w,
 * exact, times d_x) and one fused multiply-add per 4 blocks 4s..4s+3 (s % 4 = q), i.e.
 * the canonical lanes b % 16 = 4q + k, so each (row, token) pair has 4 float32x4
 * accumulators and blocks 16g + 4q + k add into lane k of accumulator q. The final
 * tree of quant.h is then (acc0 + acc2) + (acc1 + acc3), lanes 0+2 and 1+3, and the
 * last two added. The accumulators live in a small stack array (indexed at run time):
 * each 4 blocks load and store one vector per pair, cheap next to the pair's 8 or 16
 * sdot, and 4 per pair would not fit next to the operands in the 32 registers.
 *
 * q8 weights go to sdot as they are, a block's 32 bytes in two vectors. Per pair and
 * block one chain builds per lane 256·Σ w·hi + Σ w·lo over the lane's 8 elements (2
 * sdot over the hi digits, shift left by 8, 2 over the lo), and two rounds of pairwise
 * adds (addp) turn 4 blocks into one vector of their 4 block sums. Register tile: R
 * rows × T tokens, 4×2 at most; per block the tokens' digits are loaded once for the R
 * rows, and each row's weights once for the T tokens. Decode (one token) runs 4×1,
 * streaming 4 weight rows at once; prefill runs 4×2 tiles with the tokens inside the
 * rows, so the 4-row weight panel stays in cache while the tokens sweep past it. A
 * ragged last step runs on zero-padded copies (zero quants and scales).
 *
 * q4 weights come in the lane order of quant.h: in a group of 16 blocks, run i (4m
 * bytes, m the group's blocks) holds bytes 4i..4i+3 of every block, one 32-bit lane
 * per block. A 16-byte load at 4m·i + 16q holds them for blocks 4q..4q+3 (quarter q),
 * and one table lookup (tbl) per nibble maps them to the int8 levels: elements
 * 4i..4i+3 (low nibbles) and 16 + 4i..16 + 4i + 3 (high) of each lane's block. The
 * activations are laid out to match (g2_xgroups: the same elements of the same
 * blocks in the same lanes), so each sdot stays within one block per lane: after the
 * 4 runs lane k holds block 4q + k's whole sum, with no pairwise adds, and the
 * quarter goes straight to accumulator q. Per pair two sdot chains run: hi and lo
 * digits, or (one digit) the low and the high nibbles; isum = (hi << 8) + lo.
 * The layout is done per call, by token, in chunks of 16 groups into a stack buffer
 * shared by a batch of 32 rows (about 41 KB of stack with the accumulators, which
 * carry across chunks). Tiles: 4 rows × 2 tokens at most (decode 4×1), the token
 * tiles outside the row tiles. The rows go in sets of 4 (quant.h), each set group by
 * group: a set's group g holds its rows' groups one after another (16m bytes and m
 * scales each), so a 4-row tile takes exactly one whole set (r % 4 = 0, 4 rows left)
 * and reads its rows at a stride of 16m bytes and m scales, one run of memory per
 * group; rows before the first set boundary and those of a partial last set run in
 * 1-row tiles. A ragged last group (m < 16) runs on zero-padded copies of its
 * weights and scales, so no load passes a row's group (or the matrix end); only its
 * quarters with blocks run, and in those the absent blocks' activations and scales
 * are zero (fmaf(0, 0, acc) = acc). */
#include <arm_neon.h>
#include <string.h>

#include "tensor/kernels/tile_fns.h"
#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2
#define STEP 4                     /* blocks per step (q8) or quarter (q4) */
#define NACC (G2_ACC_LANES / STEP) /* float32x4 accumulators per pair */
#define GROUP 16                   /* blocks per q4 group */
#define CHUNK_GROUPS 16            /* q4 groups per laid-out chunk of activations: 256 blocks */
#define ROW_BATCH 32               /* rows whose q4 accumulators carry across chunks at once */

_Static_assert(MAX_R == G2_Q_ROW_SET && ROW_BATCH % MAX_R == 0, "a 4-row q4 tile is one set of rows");

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

/* The canonical tree over a pair's 16 lanes (a[g] lane k = lane 4g + k). */
INLINE float canonical_sum(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3) {
    const float32x4_t v = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)); /* w = 8, then 4 */
    const float32x2_t h = vadd_f32(vget_low_f32(v), vget_high_f32(v));     /* w = 2 */
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);                      /* w = 1 */
}

/* ---- q8 ------------------------------------------------------------------------- */

/* Where a tile's operands start (block b of rows r.. and tokens t..), and the strides
 * to the next row / token: the matrices themselves, or zero-padded copies. */
typedef struct operands {
    const int8_t *wq;
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

/* One step (4 blocks) of an R×T tile into acc (the step's accumulators, s % 4). */
INLINE void tile_step(float32x4_t acc[MAX_R][MAX_T], int two, int R, int T, const operands *o) {
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
            const int8_t *w = o->wq + i * o->wq_stride + 32 * k;
            const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
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

/* Rows [r, r+R) × tokens [t, t+T) over all blocks. */
INLINE void tile(int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t,
                 float *y, size_t y_stride) {
    const size_t nb = W->nb;
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
        .wq = (const int8_t *)W->qs + (size_t)r * nb * G2_QK,
        .wd = W->d + (size_t)r * nb,
        .wq_stride = nb * G2_QK,
        .wd_stride = nb,
        .xh = A->qs + xq,
        .xl = A->ql + xq,
        .xd = A->d + (size_t)t * A->nb,
        .xq_stride = (size_t)A->nb * G2_QK,
        .xd_stride = A->nb,
    };
    size_t b = 0, s = 0;
    for (; b + STEP <= nb; b += STEP, s++) {
        tile_step(acc[s % NACC], two, R, T, &o);
        o.wq += STEP * G2_QK;
        o.wd += STEP;
        o.xh += STEP * G2_QK;
        o.xl += STEP * G2_QK;
        o.xd += STEP;
    }
    if (b < nb) {
        int8_t pq[MAX_R][STEP * G2_QK];
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
            memcpy(pq[i], o.wq + i * o.wq_stride, n * G2_QK);
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
        tile_step(acc[s % NACC], two, R, T, &pad);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            y[(size_t)(t + j) * y_stride + r + i] =
                canonical_sum(acc[0][i][j], acc[1][i][j], acc[2][i][j], acc[3][i][j]);
}

/* The tile functions and their tables (tile_fns.h): only q8's, q4 has its own below. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y,
                     size_t y_stride);
#define TILE_FN(name, q4, two, R, T)                                                                       \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_qact *A, uint32_t t, float *y, size_t ys) { \
        tile(two, R, T, W, r, A, t, y, ys);                                                                \
    }
TILE_FNS(q8, 0)

/* Rows in tiles of 4 (1 at a ragged end), tokens in tiles of up to 2 inside.
 * q8_tiles[A->digits != 1][0][T - 1]: 4-row tiles, [1][T - 1]: 1-row tiles. */
static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    tile_fn *const(*tiles)[MAX_T] = q8_tiles[A->digits != 1];
    for (uint32_t r = r0; r < r1;) {
        const int one = r1 - r < MAX_R;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t nt = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            tiles[one][nt - 1](W, r, A, t, y, y_stride);
        }
        r += one ? 1 : MAX_R;
    }
}

/* ---- q4 ------------------------------------------------------------------------- */

/* Quarter q (blocks 4q..4q+3) of one group of an R×T tile, into acc[i][j][q]. w: the
 * quarter's bytes of run 0 of row 0 (group start + 16q), run bytes to the next run,
 * w_stride to the next row; wd: the quarter's 4 scales of row 0; xg: the group's
 * activations of token 0, xg_stride groups to the next token. */
INLINE void q4_quarter(int two, int R, int T, const uint8_t *w, size_t w_stride, size_t run,
                       const uint16_t *wd, size_t wd_stride, const g2_xgroup *xg, size_t xg_stride,
                       uint32_t q, int8x16_t levels, float32x4_t acc[][MAX_T][NACC]) {
    /* per pair two chains for more parallel sdot: hi and lo digits (two), or the low
     * and the high nibbles' hi digits (one digit) */
    int32x4_t c[MAX_R][MAX_T][2];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            c[i][j][0] = c[i][j][1] = vdupq_n_s32(0);
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) { /* run v: elements 4v..4v+3 (low) and 16 + 4v.. (high) */
        /* Load each run's operands where they are used rather than let the compiler
         * hoist a whole quarter's into registers and spill them. */
        __asm__ volatile("" ::: "memory");
        int8x16_t x[MAX_T][4]; /* hi low-partner, hi high-partner, lo low, lo high */
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const g2_xgroup *g = xg + j * xg_stride;
            x[j][0] = vld1q_s8(&g->hi[v][16 * q]);
            x[j][1] = vld1q_s8(&g->hi[4 + v][16 * q]);
            if (two) {
                x[j][2] = vld1q_s8(&g->lo[v][16 * q]);
                x[j][3] = vld1q_s8(&g->lo[4 + v][16 * q]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8x16_t b = vld1q_u8(w + i * w_stride + v * run);
            const int8x16_t w0 = vqtbl1q_s8(levels, vandq_u8(b, vdupq_n_u8(0x0F)));
            const int8x16_t w1 = vqtbl1q_s8(levels, vshrq_n_u8(b, 4));
#pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                if (two) {
                    c[i][j][0] = vdotq_s32(vdotq_s32(c[i][j][0], w0, x[j][0]), w1, x[j][1]);
                    c[i][j][1] = vdotq_s32(vdotq_s32(c[i][j][1], w0, x[j][2]), w1, x[j][3]);
                } else {
                    c[i][j][0] = vdotq_s32(c[i][j][0], w0, x[j][0]);
                    c[i][j][1] = vdotq_s32(c[i][j][1], w1, x[j][1]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wd + i * wd_stride)));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            /* lane k: block 4q + k's 256·Σ w·hi + Σ w·lo */
            const int32x4_t isum = two ? vaddq_s32(vshlq_n_s32(c[i][j][0], 8), c[i][j][1])
                                       : vshlq_n_s32(vaddq_s32(c[i][j][0], c[i][j][1]), 8);
            const float32x4_t scale = vmulq_f32(dw, vld1q_f32(&xg[j * xg_stride].dx[4 * q]));
            acc[i][j][q] = vfmaq_f32(acc[i][j][q], vcvtq_f32_s32(isum), scale);
        }
    }
}

/* Rows [r, r+R) × the T tokens laid out in xg (token j's groups at xg + j ·
 * xstride) over groups [c0, c1): acc[i][j] holds the pair's accumulators, carried
 * across chunks. R = 4 only for a whole set of rows (r % 4 = 0, r + 4 ≤ rows). */
INLINE void q4_tile(int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg,
                    size_t xstride, uint32_t c0, uint32_t c1, float32x4_t acc[][MAX_T][NACC]) {
    static const int8_t codebook[16] = G2_Q4_CODEBOOK;
    const int8x16_t levels = vld1q_s8(codebook);
    const uint32_t nb = W->nb;
    /* row r is row i0 of the set of n rows from s0; a 4-row tile is a whole set (i0 = 0, n = 4) */
    const uint32_t s0 = r - r % G2_Q_ROW_SET, i0 = r - s0;
    const uint32_t n = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const uint8_t *set = (const uint8_t *)W->qs + (size_t)s0 * nb * (G2_QK / 2);
    const uint16_t *set_d = W->d + (size_t)s0 * nb;
    for (uint32_t g = c0; g < c1; g++, xg++) {
        const uint32_t m = nb - GROUP * g < GROUP ? nb - GROUP * g : GROUP;
        /* the set's group g: its n rows' groups one after another, 16m bytes and m scales each */
        const uint8_t *w = set + (size_t)n * GROUP * (G2_QK / 2) * g + (size_t)i0 * m * (G2_QK / 2);
        const uint16_t *wd = set_d + (size_t)n * GROUP * g + i0 * m;
        size_t w_stride = (size_t)m * (G2_QK / 2), wd_stride = m;
        uint8_t pq[MAX_R][GROUP * G2_QK / 2];
        uint16_t pd[MAX_R][GROUP];
        if (m < GROUP) { /* the last set's last group ends the allocation: read copies */
            memset(pq, 0, sizeof pq);
            memset(pd, 0, sizeof pd);
            for (int i = 0; i < R; i++) {
                memcpy(pq[i], w + i * w_stride, w_stride);
                memcpy(pd[i], wd + i * wd_stride, m * sizeof(uint16_t));
            }
            w = &pq[0][0];
            w_stride = sizeof pq[0];
            wd = &pd[0][0];
            wd_stride = GROUP;
        }
        for (uint32_t q = 0; STEP * q < m; q++)
            q4_quarter(two, R, T, w + 16 * q, w_stride, 4 * m, wd + STEP * q, wd_stride, xg, xstride, q,
                       levels, acc);
    }
}

/* The q4 tile functions: one per digit count and shape, like tile_fns.h's.
 * q4_tiles[two digits][one row][T - 1]. */
typedef void q4_tile_fn(const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg, size_t xstride, uint32_t c0,
                        uint32_t c1, float32x4_t acc[][MAX_T][NACC]);
#define Q4_TILE_FN(name, two, R, T)                                                                        \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg, size_t xstride, uint32_t c0, \
                     uint32_t c1, float32x4_t acc[][MAX_T][NACC]) {                                        \
        q4_tile(two, R, T, W, r, xg, xstride, c0, c1, acc);                                                \
    }
Q4_TILE_FN(q4_d2_4x2, 1, 4, 2)
Q4_TILE_FN(q4_d2_4x1, 1, 4, 1)
Q4_TILE_FN(q4_d2_1x2, 1, 1, 2)
Q4_TILE_FN(q4_d2_1x1, 1, 1, 1)
Q4_TILE_FN(q4_d1_4x2, 0, 4, 2)
Q4_TILE_FN(q4_d1_4x1, 0, 4, 1)
Q4_TILE_FN(q4_d1_1x2, 0, 1, 2)
Q4_TILE_FN(q4_d1_1x1, 0, 1, 1)
static q4_tile_fn *const q4_tiles[2][2][MAX_T] = {{{q4_d1_4x1, q4_d1_4x2}, {q4_d1_1x1, q4_d1_1x2}},
                                                  {{q4_d2_4x1, q4_d2_4x2}, {q4_d2_1x1, q4_d2_1x2}}};

/* A one-digit input (read only by q4 matrices) laid out once for every matrix and
 * thread that reads it, into A->tiles (64-byte aligned there): every token's groups,
 * token-major. Else the calls lay out chunks themselves. */
static g2_xgroup *prepared_groups(const g2_qact *A) {
    return (g2_xgroup *)(((uintptr_t)A->tiles + 63) & ~(uintptr_t)63);
}

static void prepare_act(g2_qact *A, uint32_t n_tok) {
    A->tiles_tok = 0;
    if (!A->tiles || A->digits != 1 || n_tok == 0)
        return;
    const uint32_t ng = (uint32_t)G2_Q_GROUPS(A->nb);
    for (uint32_t t = 0; t < n_tok; t++)
        g2_xgroups(A, t, 0, ng, prepared_groups(A) + (size_t)t * ng);
    A->tiles_tok = n_tok;
}

/* Rows in batches of ROW_BATCH; per batch, tokens in tiles of up to MAX_T; per token
 * tile, groups in chunks laid out once (g2_xgroups) and shared by the batch's rows
 * (tiles of 4 for whole sets, 1 before the first set boundary and in a partial set),
 * or all groups as prepare_act left them. */
static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    q4_tile_fn *const(*tiles)[MAX_T] = q4_tiles[A->digits != 1];
    g2_xgroup xg[CHUNK_GROUPS * MAX_T];
    float32x4_t acc[ROW_BATCH][MAX_T][NACC];
    const uint32_t ng = G2_Q_GROUPS(W->nb);
    const int prepared = A->tiles_tok == n_tok && A->tiles && A->digits == 1;
    const uint32_t chunk = prepared ? ng : CHUNK_GROUPS;
    for (uint32_t rb = r0, re; rb < r1; rb = re) {
        /* batches end on set boundaries: ROW_BATCH rows but for an unaligned first and the last */
        const uint32_t end = rb - rb % MAX_R + ROW_BATCH;
        re = r1 < end ? r1 : end;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t T = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            for (uint32_t i = 0; i < re - rb; i++)
                for (uint32_t j = 0; j < MAX_T; j++)
                    for (uint32_t q = 0; q < NACC; q++)
                        acc[i][j][q] = vdupq_n_f32(0.0f);
            for (uint32_t c0 = 0; c0 < ng; c0 += chunk) {
                const uint32_t c1 = ng - c0 < chunk ? ng : c0 + chunk;
                const g2_xgroup *x = xg;
                size_t xstride = CHUNK_GROUPS;
                if (prepared) {
                    x = prepared_groups(A) + (size_t)t * ng + c0;
                    xstride = ng;
                } else {
                    for (uint32_t j = 0; j < T; j++)
                        g2_xgroups(A, t + j, c0, c1, xg + j * CHUNK_GROUPS);
                }
                for (uint32_t r = rb; r < re;) {
                    /* 4 rows only as one whole set: a set starts at r and re ≤ r1 ≤ rows */
                    const int one = r % MAX_R != 0 || re - r < MAX_R;
                    tiles[one][T - 1](W, r, x, xstride, c0, c1, &acc[r - rb]);
                    r += one ? 1 : MAX_R;
                }
            }
            for (uint32_t i = 0; i < re - rb; i++)
                for (uint32_t j = 0; j < T; j++)
                    y[(size_t)(t + j) * y_stride + rb + i] =
                        canonical_sum(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3]);
        }
    }
}

const g2_kernels g2_kernels_neon = {.name = "neon",
                                    .quantize_act = quantize_act,
                                    .gemm_q8 = gemm_q8,
                                    .gemm_q4 = gemm_q4,
                                    .prepare_act = prepare_act};
