/* SPDX-License-Identifier: Apache-2.0 */
/* NEON + dotprod kernels (aarch64): the function lib/tensor/quant.h defines, bit for
 * bit, with the int8 dot products on sdot (vdotq_s32, signed × signed bytes, 4
 * products per int32 lane). Compiled with -march=armv8.2-a+dotprod; everything but the
 * table is static (STYLE.md rule 12). A->sum is not needed: the products are signed.
 * Every block sum is exact in int32 (|isum| ≤ 32·127·127·257 < 2^28), and one-digit
 * inputs (A->digits == 1, lo all zero) skip the lo loads and sdot.
 *
 * q8 and q4 weights come in the lane order of quant.h and share one path: in a group
 * of 16 blocks, run v (4m bytes, m the group's blocks) holds bytes 4v..4v+3 of every
 * block, one 32-bit lane per block, so a 16-byte load at 4m·v + 16q holds them for
 * blocks 4q..4q+3 (quarter q). q8 has 8 runs, each load going to sdot as it is
 * (elements 4v..4v+3 of each lane's block); q4 has 4, each load mapped to int8 levels
 * by one table lookup (tbl) per nibble: elements 4v..4v+3 (low) and 16 + 4v.. (high).
 * The activations are laid out to match (g2_xgroups: the same elements of the same
 * blocks in the same lanes), so each sdot stays within one block per lane: after a
 * quarter's runs lane k holds block 4q + k's whole sum, with no pairwise adds. Per
 * pair two sdot chains run: the hi and lo digits, or (one digit) alternate products;
 * isum = (hi << 8) + lo. So a q8 load feeds 2 sdot per token (1 at one digit), a q4
 * load 2 tbl and 4 (2) sdot per token.
 *
 * Float part, in the canonical order: per pair and quarter one convert, one scale
 * multiply (f16→f32 of d_w, exact, times d_x) and one fused multiply-add into
 * accumulator q, whose lane k is the canonical lane b % 16 = 4q + k. The final tree of
 * quant.h is then (acc0 + acc2) + (acc1 + acc3), lanes 0+2 and 1+3, and the last two
 * added. The accumulators live in a stack array indexed at run time: per quarter one
 * load and store a pair, cheap next to its 16 (q8) or 8 (q4) sdot at two digits.
 *
 * prepare_act lays out every token's groups once per input for every matrix and
 * thread that reads it; without it a call lays out each token tile in chunks of 16
 * groups into a stack buffer shared by a batch of 32 rows (about 41 KB of stack with
 * the accumulators, which carry across chunks). Tiles: 4 rows × 2 tokens at most, the
 * token tiles outside the row tiles, so a q8 load feeds 4 sdot in prefill; decode
 * (one token) runs 4×1. The rows go in sets of 4 (quant.h), each set group by group,
 * so a 4-row tile takes exactly one whole set (r % 4 = 0, 4 rows left): a whole group
 * of it is 64·B contiguous bytes (B = 32 or 16 per block), its rows 16·B apart and its
 * runs 64, all loads at constant offsets, and the sets follow one another, a stream
 * the hardware prefetchers follow (no software prefetch). Rows before the first set
 * boundary and those of a partial last set run in 1-row tiles. A ragged last group
 * (m < 16) runs on copies of its weights and scales in a whole group's places,
 * zero-padded, so no load passes a row's group (or the matrix end); only its quarters
 * with blocks run, and in those the absent blocks' weights, activations and scales
 * are zero (fmaf(0, 0, acc) = acc). */
#include <arm_neon.h>
#include <string.h>

#include "tensor/kernels/tile_fns.h"
#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2
#define STEP 4                     /* blocks per quarter of a group */
#define NACC (G2_ACC_LANES / STEP) /* float32x4 accumulators per pair */
#define GROUP 16                   /* blocks per group */
#define CHUNK_GROUPS 16            /* groups per laid-out chunk of activations: 256 blocks */
#define ROW_BATCH 32               /* rows whose accumulators carry across chunks at once */

_Static_assert(MAX_R == G2_Q_ROW_SET && ROW_BATCH % MAX_R == 0, "a 4-row tile is one set of rows");
_Static_assert(G2_ACT_LO_WEIGHT == 256, "the digits combine with a shift by 8");

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

/* ---- q8 and q4: the lane order ------------------------------------------------- */

/* Quarter q (blocks 4q..4q+3) of one whole group (16 blocks) of an R×T tile, into
 * acc[i][j][q]. w: the quarter's bytes of run 0 of row 0 (group start + 16q), runs 64
 * bytes apart and rows 16·B; wd: the quarter's 4 scales of row 0, rows 16 apart; xg:
 * the group's activations of token 0, xg_stride groups to the next token. The strides
 * are constants, so the loads take immediate offsets from one pointer. */
INLINE void quarter(int q4, int two, int R, int T, const uint8_t *w, const uint16_t *wd, const g2_xgroup *xg,
                    size_t xg_stride, uint32_t q, float32x4_t acc[][MAX_T][NACC]) {
    const size_t w_stride = GROUP * (q4 ? G2_QK / 2 : G2_QK), run = 4 * GROUP;
    static const int8_t codebook[16] = G2_Q4_CODEBOOK;
    const int8x16_t levels = vld1q_s8(codebook);
    const int runs = q4 ? 4 : 8, nw = q4 ? 2 : 1; /* weight vectors per run: q4's two nibbles */
    /* per pair two chains for more parallel sdot: hi and lo digits (two), or
     * alternating products (one digit) */
    int32x4_t c[MAX_R][MAX_T][2];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            c[i][j][0] = c[i][j][1] = vdupq_n_s32(0);
#pragma GCC unroll 8
    for (int v = 0; v < runs; v++) {
        /* Load each run's operands where they are used rather than let the compiler
         * hoist a whole quarter's into registers and spill them. */
        __asm__ volatile("" ::: "memory");
        /* weight vector k meets elements 4e..4e+3, e = v + 4k: q8's run v, or q4's
         * low (k = 0) and high (k = 1) nibbles of run v; [hi, lo] digits */
        int8x16_t x[MAX_T][2][2];
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            for (int k = 0; k < nw; k++) {
                const g2_xgroup *g = xg + j * xg_stride;
                x[j][k][0] = vld1q_s8(&g->hi[v + 4 * k][16 * q]);
                if (two)
                    x[j][k][1] = vld1q_s8(&g->lo[v + 4 * k][16 * q]);
            }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            int8x16_t wv[2];
            if (q4) {
                const uint8x16_t b = vld1q_u8(w + i * w_stride + v * run);
                wv[0] = vqtbl1q_s8(levels, vandq_u8(b, vdupq_n_u8(0x0F)));
                wv[1] = vqtbl1q_s8(levels, vshrq_n_u8(b, 4));
            } else {
                wv[0] = vld1q_s8((const int8_t *)w + i * w_stride + v * run);
            }
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                for (int k = 0; k < nw; k++) {
                    if (two) {
                        c[i][j][0] = vdotq_s32(c[i][j][0], wv[k], x[j][k][0]);
                        c[i][j][1] = vdotq_s32(c[i][j][1], wv[k], x[j][k][1]);
                    } else {
                        c[i][j][(v + k) % 2] = vdotq_s32(c[i][j][(v + k) % 2], wv[k], x[j][k][0]);
                    }
                }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wd + i * GROUP)));
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
INLINE void lane_tile(int q4, int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg,
                      size_t xstride, uint32_t c0, uint32_t c1, float32x4_t acc[][MAX_T][NACC]) {
    const size_t bb = q4 ? G2_QK / 2 : G2_QK; /* bytes per block */
    const uint32_t nb = W->nb;
    /* row r is row i0 of the set of n rows from s0; a 4-row tile is a whole set (i0 = 0, n = 4) */
    const uint32_t s0 = r - r % G2_Q_ROW_SET, i0 = r - s0;
    const uint32_t n = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const uint8_t *set = (const uint8_t *)W->qs + (size_t)s0 * nb * bb;
    const uint16_t *set_d = W->d + (size_t)s0 * nb;
    for (uint32_t g = c0; g < c1; g++, xg++) {
        const uint32_t m = nb - GROUP * g < GROUP ? nb - GROUP * g : GROUP;
        /* the set's group g: its n rows' groups one after another, bb·m bytes and m scales each */
        const uint8_t *w = set + (size_t)n * GROUP * bb * g + (size_t)i0 * m * bb;
        const uint16_t *wd = set_d + (size_t)n * GROUP * g + i0 * m;
        uint8_t pq[MAX_R * GROUP * G2_QK];
        uint16_t pd[MAX_R * GROUP];
        if (m < GROUP) { /* a ragged group: copied into a whole group's places, zero-padded */
            memset(pq, 0, (size_t)R * GROUP * bb);
            memset(pd, 0, (size_t)R * GROUP * sizeof(uint16_t));
            for (int i = 0; i < R; i++) {
                for (size_t v = 0; v < bb / 4; v++)
                    memcpy(pq + i * GROUP * bb + 4 * GROUP * v, w + i * m * bb + 4 * m * v, 4 * m);
                memcpy(pd + i * GROUP, wd + i * m, m * sizeof(uint16_t));
            }
            w = pq;
            wd = pd;
        }
        for (uint32_t q = 0; STEP * q < m; q++)
            quarter(q4, two, R, T, w + 16 * q, wd + STEP * q, xg, xstride, q, acc);
    }
}

/* The tile functions and their tables (tile_fns.h): q8_tiles and q4_tiles
 * [two digits][one row][T - 1]. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg, size_t xstride, uint32_t c0,
                     uint32_t c1, float32x4_t acc[][MAX_T][NACC]);
#define TILE_FN(name, q4, two, R, T)                                                                    \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_xgroup *xg, size_t xstride, uint32_t c0, \
                     uint32_t c1, float32x4_t acc[][MAX_T][NACC]) {                                     \
        lane_tile(q4, two, R, T, W, r, xg, xstride, c0, c1, acc);                                       \
    }
TILE_FNS(q8, 0)
TILE_FNS(q4, 1)

/* An input laid out once for every matrix and thread that reads it, into A->tiles
 * (64-byte aligned there): every token's groups, token-major. Else the calls lay out
 * chunks themselves. */
static g2_xgroup *prepared_groups(const g2_qact *A) {
    return (g2_xgroup *)(((uintptr_t)A->tiles + 63) & ~(uintptr_t)63);
}

static void prepare_act(g2_qact *A, uint32_t n_tok) {
    A->tiles_tok = 0;
    if (!A->tiles || n_tok == 0)
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
INLINE void gemm(tile_fn *const (*tiles)[MAX_T], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                 const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    g2_xgroup xg[CHUNK_GROUPS * MAX_T];
    float32x4_t acc[ROW_BATCH][MAX_T][NACC];
    const uint32_t ng = G2_Q_GROUPS(W->nb);
    const int prepared = A->tiles_tok == n_tok && A->tiles;
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

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm(q8_tiles[A->digits != 1], W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm(q4_tiles[A->digits != 1], W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_neon = {.name = "neon",
                                    .quantize_act = quantize_act,
                                    .gemm_q8 = gemm_q8,
                                    .gemm_q4 = gemm_q4,
                                    .prepare_act = prepare_act};
