/* SPDX-License-Identifier: Apache-2.0 */
/* AMX-INT8 kernels (prefill): the function lib/tensor/quant.h defines, with the int8
 * products on the tile unit (TDPBSSD) and the float part on AVX-512. Compiled with
 * -mamx-tile -mamx-int8 plus the avx512 flags; everything but the table is static.
 * Below G2_AMX_MIN_TOK tokens (decode, short prompts; measured crossover 10-12) the
 * weights are the cost, not the products, and the calls go to the avx512 table, whose
 * quantize_act this table shares.
 *
 * Products: C[tokens × rows] = A[tokens × K] · B[K × rows] (TDPBSSD, signed × signed).
 * A tile holds 16 tokens × 64 bytes loaded in place: the hi (or lo) digits of two
 * adjacent blocks b, b + 1 (whole cache lines). B0 holds block b of 16 weight rows in
 * the VNNI layout (B[k][n] = dword k of row n) over K = 0..31 and zeros over 32..63; B1
 * zeros, then block b + 1. So C0 = A·B0 and C1 = A·B1 are exactly the per-block int32
 * sums, hi and lo digits apart (4 products, 4 tile stores per 16 × 16 × 2 blocks).
 * Then per token (a zmm over 16 rows): isum = (C_hi << 8) + C_lo, acc = fma(isum,
 * d_w·d_x, acc) on AVX-512, the tile unit meanwhile computing the next step. (AMX has
 * no tile → register move, so the sums go through an L1 buffer; 16 × 16 int32 per
 * product is also why a block, not a whole row, is one product.)
 *
 * Order: the canonical order fixes only the order within each of the 16 accumulator
 * lanes (blocks b ≡ l mod 16, ascending). Blocks b, b + 1 belong to lanes l, l + 1 (l
 * even), so a lane pair is run at once, over its steps b = l + 16 i: lane l's
 * accumulators (16 tokens × 16 rows) in 16 zmm, lane l + 1's in memory. Pairs come in
 * the order l = 0, 8, 4, 12, 2, 10, 6, 14, which lets the final tree (acc[i] +
 * acc[i + 8], then + 4, + 2, + 1) fold them in as they finish, even and odd lanes side
 * by side, with at most 3 partial sums waiting each.
 *
 * The weights are repacked per 16-row tile, lane pair and CAP steps into a stack buffer
 * (q4 unpacked to levels) and serve up to GROUP token tiles. A ragged last token tile
 * is moved back to end at n_tok (recomputing some tokens, same bits); under 16 tokens
 * the tiles have n_tok rows. Missing weight rows and the block past an odd nb are zero
 * weights with zero scales (fma(0, 0, acc) = acc); that last step reads its tokens from
 * a zero-padded copy, as A ends there. Stack use: about 56 KB per call.
 *
 * Tile state is per thread: each call loads its configuration and releases the tiles,
 * so calls from any thread are independent. The process must have been granted AMX
 * (lib/runtime/cpu.c does it once, before this table is offered). */
#include <immintrin.h>
#include <string.h>

#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))

#ifndef G2_AMX_MIN_TOK
#    define G2_AMX_MIN_TOK 12 /* fewer tokens: the avx512 table */
#endif
#define TILE 16 /* tokens (rows of A and C) and weight rows (columns of B and C) */
#define GROUP 4 /* token tiles sharing one repack of the weights */
#define CAP 8   /* steps (block pairs) per repack: 8 × 1.5 KB */

/* Tile registers (literal numbers: the intrinsics paste them into the mnemonic). */
#define T_A0 0
#define T_A1 1
#define T_B0 2
#define T_B1 3
#define T_X0 4
#define T_X1 5
#define T_Y0 6
#define T_Y1 7

/* The compiler does not see tile loads read memory: make stores before them happen. */
#define MEMORY_BARRIER() __asm__ volatile("" ::: "memory")

typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* A and C tiles: tr rows (tokens); B: 16 rows; all 64 bytes wide. */
static void load_config(unsigned tr) {
    _Alignas(64) tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = t == T_B0 || t == T_B1 ? 16 : (uint8_t)tr;
        c.colsb[t] = 64;
    }
    MEMORY_BARRIER();
    _tile_loadconfig(&c);
}

/* ---- weights → B tiles -------------------------------------------------------------
 * Column n of a B tile is weight row perm(n) = 4 (n % 4) + n / 4 of the row tile: the
 * order a 4×4 dword transpose inside 128-bit lanes leaves (rows 4g..4g+3 in the lanes
 * of vector g). The scales follow the same order. */

/* One step: B0 is loaded at w0 (then z), B1 at z (then w1). */
typedef struct bstep {
    _Alignas(64) int8_t w0[G2_QK / 4][64], z[G2_QK / 4][64], w1[G2_QK / 4][64];
} bstep;
INLINE unsigned perm(unsigned n) { return 4 * (n % 4) + n / 4; }

/* v[g]: lane i = dwords 0..3 of row 4g + i → v[k]: lane i, dword g = that dword k. */
INLINE void transpose4(__m512i v[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm512_unpacklo_epi64(t0, t2);
    v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3);
    v[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* q4: 16 bytes of 4 rows per lane → the levels of elements 0..15 (p) and 16..31 (h). */
INLINE void unpack_q4(__m512i v, __m512i *p, __m512i *h) {
    static const int8_t codebook[16] = G2_Q4_CODEBOOK;
    const __m512i levels = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)codebook));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    *p = _mm512_shuffle_epi8(levels, _mm512_and_si512(v, m4));
    *h = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
}

INLINE void store_btile(__m512i p[4], __m512i h[4], int8_t (*out)[64]) {
    transpose4(p);
    transpose4(h);
    for (int k = 0; k < 4; k++) {
        _mm512_store_si512(out[k], p[k]);
        _mm512_store_si512(out[4 + k], h[k]);
    }
}

/* Blocks b and b + 1 of 16 rows (src[i]: row i's block b, b + 1 right after) → w0, w1.
 * Vector g holds rows 4g..4g+3 in its lanes: p dwords 0..3, h dwords 4..7 of a block. */
INLINE void repack_pair(int q4, const uint8_t *const src[TILE], int8_t (*w0)[64], int8_t (*w1)[64]) {
    __m512i p0[4], h0[4], p1[4], h1[4];
    for (int g = 0; g < 4; g++) {
        const uint8_t *const *s = src + 4 * g;
        if (q4) { /* 32 bytes a row, 16 per block: two rows a zmm, lanes regrouped */
            const __m512i a =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)s[0])),
                                   _mm256_loadu_si256((const __m256i *)s[1]), 1);
            const __m512i c =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)s[2])),
                                   _mm256_loadu_si256((const __m256i *)s[3]), 1);
            unpack_q4(_mm512_shuffle_i64x2(a, c, 0x88), &p0[g], &h0[g]); /* lanes a0 a2 c0 c2 */
            unpack_q4(_mm512_shuffle_i64x2(a, c, 0xDD), &p1[g], &h1[g]); /* lanes a1 a3 c1 c3 */
        } else { /* 64 bytes a row: a 4×4 transpose of 128-bit lanes */
            __m512i v[4];
            for (int i = 0; i < 4; i++)
                v[i] = _mm512_loadu_si512(s[i]);
            const __m512i t0 = _mm512_shuffle_i64x2(v[0], v[1], 0x44),
                          t1 = _mm512_shuffle_i64x2(v[0], v[1], 0xEE);
            const __m512i t2 = _mm512_shuffle_i64x2(v[2], v[3], 0x44),
                          t3 = _mm512_shuffle_i64x2(v[2], v[3], 0xEE);
            p0[g] = _mm512_shuffle_i64x2(t0, t2, 0x88);
            h0[g] = _mm512_shuffle_i64x2(t0, t2, 0xDD);
            p1[g] = _mm512_shuffle_i64x2(t1, t3, 0x88);
            h1[g] = _mm512_shuffle_i64x2(t1, t3, 0xDD);
        }
    }
    store_btile(p0, h0, w0);
    store_btile(p1, h1, w1);
}

/* Block b alone (the last of an odd nb): rows' other halves are zero. */
INLINE void repack_last(int q4, const uint8_t *const src[TILE], int8_t (*w0)[64]) {
    __m512i p[4], h[4];
    for (int g = 0; g < 4; g++) {
        const __mmask64 half = q4 ? 0xFFFF : 0xFFFFFFFF; /* the block's bytes, no further */
        __m512i v[4];
        for (int i = 0; i < 4; i++)
            v[i] = _mm512_maskz_loadu_epi8(half, src[4 * g + i]);
        if (q4) {
            const __m512i a = _mm512_shuffle_i64x2(v[0], v[1], 0x00),
                          c = _mm512_shuffle_i64x2(v[2], v[3], 0x00);
            unpack_q4(_mm512_shuffle_i64x2(a, c, 0x88), &p[g], &h[g]);
        } else {
            const __m512i t0 = _mm512_shuffle_i64x2(v[0], v[1], 0x44),
                          t2 = _mm512_shuffle_i64x2(v[2], v[3], 0x44);
            p[g] = _mm512_shuffle_i64x2(t0, t2, 0x88);
            h[g] = _mm512_shuffle_i64x2(t0, t2, 0xDD);
        }
    }
    store_btile(p, h, w0);
}

/* Lane pair l, l + 1 (l even), steps [i0, i0 + n): blocks b = l + 16 i and b + 1 of
 * rows [r, r + R) → B[j].w0 / w1 and dw[j][0 / 1] (scales as floats in perm order, 0
 * for missing rows and for a block past nb). */
static void repack(int q4, const g2_qmatrix *W, uint32_t r, uint32_t R, uint32_t l, uint32_t i0, uint32_t n,
                   bstep *B, float (*dw)[2][TILE]) {
    static const _Alignas(64) uint8_t zeros[64];
    const uint32_t nb = W->nb;
    const size_t qblk = q4 ? G2_QK / 2 : G2_QK, qrow = (size_t)nb * qblk;
    const uint8_t *base = (const uint8_t *)W->qs + (size_t)r * qrow;
    const uint16_t *dbase = W->d + (size_t)r * nb;
    __mmask16 have = 0; /* columns n whose row perm(n) exists */
    for (unsigned i = 0; i < TILE; i++)
        have |= (__mmask16)((i < R) << perm(i));
    /* dword n of a gather at dbase + b: the scales of blocks b, b + 1 of row perm(n) */
    const __m512i didx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), _mm512_set1_epi32((int)nb));
    for (uint32_t j = 0; j < n; j++) {
        const uint32_t b = l + 16 * (i0 + j);
        const uint8_t *src[TILE];
        for (uint32_t i = 0; i < TILE; i++)
            src[i] = i < R ? base + i * qrow + b * qblk : zeros;
        if (b + 1 < nb) {
            repack_pair(q4, src, B[j].w0, B[j].w1);
            const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), have, didx, dbase + b, 2);
            _mm512_store_ps(dw[j][0], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
            _mm512_store_ps(dw[j][1], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(d, 16))));
        } else {
            repack_last(q4, src, B[j].w0);
            memset(B[j].w1, 0, sizeof B[j].w1);
            _Alignas(32) uint16_t d[TILE];
            for (uint32_t i = 0; i < TILE; i++)
                d[perm(i)] = i < R ? dbase[(size_t)i * nb + b] : 0;
            _mm512_store_ps(dw[j][0], _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)d)));
            memset(dw[j][1], 0, sizeof dw[j][1]);
        }
    }
    MEMORY_BARRIER();
}

/* ---- steps -------------------------------------------------------------------------- */

/* 16 accumulators a0..a15 (token m, 16 rows) as named variables, so that they stay in
 * registers across the tile stores (whose memory clobber would force an array to
 * memory). */
#define REP16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* Step j's products run in two halves on separate tiles: the hi digits (A0 → X0, X1)
 * and the lo digits (A1 → Y0, Y1), so that one half's stores overlap the other's
 * products. C buffer c[j % 2][d][h]: digit d (0 hi, 1 lo) of block b + h. */
#define AMX_HI(j)                                                \
    do {                                                         \
        _tile_loadd(T_B0, B[j].w0, 64);                          \
        _tile_loadd(T_B1, B[j].z, 64);                           \
        _tile_loadd(T_A0, hi + (size_t)(j)*16 * G2_QK, astride); \
        _tile_zero(T_X0);                                        \
        _tile_zero(T_X1);                                        \
        _tile_dpbssd(T_X0, T_A0, T_B0);                          \
        _tile_dpbssd(T_X1, T_A0, T_B1);                          \
    } while (0)
#define AMX_LO(j)                                                \
    do {                                                         \
        _tile_loadd(T_A1, lo + (size_t)(j)*16 * G2_QK, astride); \
        _tile_zero(T_Y0);                                        \
        _tile_zero(T_Y1);                                        \
        _tile_dpbssd(T_Y0, T_A1, T_B0);                          \
        _tile_dpbssd(T_Y1, T_A1, T_B1);                          \
    } while (0)
#define STORE_HI(j)                               \
    do {                                          \
        _tile_stored(T_X0, c[(j) % 2][0][0], 64); \
        _tile_stored(T_X1, c[(j) % 2][0][1], 64); \
    } while (0)
#define STORE_LO(j)                               \
    do {                                          \
        _tile_stored(T_Y0, c[(j) % 2][1][0], 64); \
        _tile_stored(T_Y1, c[(j) % 2][1][1], 64); \
    } while (0)

/* isum = 256·hi + lo of token m, as a float (exact int32, one rounding). */
#define ISUM(hi, lo, m) \
    _mm512_cvtepi32_ps( \
        _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((hi)[m]), 8), _mm512_load_si512((lo)[m])))
/* d_x of token m (past tr: token tr − 1's, whose products here are 0). */
#define DX(m, h) dxj[(size_t)((m) < tr ? (m) : tr - 1) * dstride + (h)]
/* Token m, lane l in a_m (register), lane l + 1 in acc1[m] (memory). */
#define AVX_TOKEN(m)                                                                                         \
    a##m = _mm512_fmadd_ps(ISUM(cs[0][0], cs[1][0], m), _mm512_mul_ps(dw0, _mm512_set1_ps(DX(m, 0))), a##m); \
    acc1[m] =                                                                                                \
        _mm512_fmadd_ps(ISUM(cs[0][1], cs[1][1], m), _mm512_mul_ps(dw1, _mm512_set1_ps(DX(m, 1))), acc1[m]);

/* n steps of one token tile: token m's A rows at hi / lo + m · astride, its d_x at
 * dx + m · dstride (then + 16 blocks per step); lane l's accumulators acc0 (or zero),
 * lane l + 1's acc1. tr: the A / C tile rows (16, or n_tok below 16). c: two C buffer
 * sets, rows past tr zero. The tile unit runs one step ahead of the vector unit. */
INLINE void run(unsigned tr, const int8_t *hi, const int8_t *lo, size_t astride, const float *dx,
                size_t dstride, uint32_t n, const bstep *B, const float (*dw)[2][TILE],
                int32_t (*c)[2][2][TILE][TILE], __m512 *acc0, __m512 *acc1, int zero) {
#define LOAD_ACC(m) __m512 a##m = zero ? _mm512_setzero_ps() : acc0[m];
    REP16(LOAD_ACC)
    AMX_HI(0);
    for (uint32_t j = 0; j <= n; j++) {
        /* the tile unit: lo(j) and hi(j + 1), each half's stores beside the other's
         * products; the vector unit meanwhile: step j − 1 */
        if (j < n) {
            AMX_LO(j);
            STORE_HI(j);
        }
        if (j > 0) {
            int32_t(*cs)[2][TILE][TILE] = c[(j - 1) % 2];
            const __m512 dw0 = _mm512_load_ps(dw[j - 1][0]), dw1 = _mm512_load_ps(dw[j - 1][1]);
            const float *dxj = dx + (size_t)(j - 1) * 16;
            REP16(AVX_TOKEN)
        }
        if (j + 1 < n)
            AMX_HI(j + 1);
        if (j < n)
            STORE_LO(j);
    }
#define STORE_ACC(m) acc0[m] = a##m;
    REP16(STORE_ACC)
}

static void run16(const int8_t *hi, const int8_t *lo, size_t astride, const float *dx, size_t dstride,
                  uint32_t n, const bstep *B, const float (*dw)[2][TILE], int32_t (*c)[2][2][TILE][TILE],
                  __m512 *acc0, __m512 *acc1, int zero) {
    run(TILE, hi, lo, astride, dx, dstride, n, B, dw, c, acc0, acc1, zero);
}

static void run_short(unsigned tr, const int8_t *hi, const int8_t *lo, size_t astride, const float *dx,
                      size_t dstride, uint32_t n, const bstep *B, const float (*dw)[2][TILE],
                      int32_t (*c)[2][2][TILE][TILE], __m512 *acc0, __m512 *acc1, int zero) {
    run(tr, hi, lo, astride, dx, dstride, n, B, dw, c, acc0, acc1, zero);
}

/* Lane pair q (lanes 2·rev3(q) and + 1) is done (v): fold it into the partial sums of
 * the tree over the 8 even lanes (tree[0]) and over the 8 odd lanes (tree[1]), taken in
 * bit-reversed order so that each addition is one of the canonical tree's, with the
 * lower lanes' partial sum first. After q = 7, v[0] + v[1] is the result (u0 + u1). */
static void fold(__m512 (*tree)[3][TILE], unsigned q, __m512 (*v)[TILE]) {
    for (int h = 0; h < 2; h++) {
        unsigned level = 0;
        for (; level < 3 && ((q >> level) & 1); level++)
            for (int m = 0; m < TILE; m++)
                v[h][m] = _mm512_add_ps(tree[h][level][m], v[h][m]);
        if (level < 3)
            memcpy(tree[h][level], v[h], sizeof tree[h][level]);
    }
}

/* ---- the product -------------------------------------------------------------------- */

static void gemm(int q4, const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok,
                 float *y, size_t y_stride) {
    static const uint8_t even_lane[8] = {0, 8, 4, 12, 2, 10, 6, 14}; /* 2 · rev3(q) */
    bstep B[CAP];
    _Alignas(64) float dw[CAP][2][TILE];
    _Alignas(64) int32_t c[2][2][2][TILE][TILE];
    _Alignas(64) int8_t tail[2][TILE][64]; /* the last step of an odd nb: hi, lo */
    _Alignas(64) float tail_dx[TILE][2];
    __m512 acc[GROUP][2][TILE], tree[GROUP][2][3][TILE];
    _Alignas(64) float out[TILE][TILE];
    const uint32_t nb = W->nb;
    const size_t stride = (size_t)nb * G2_QK;
    if (r0 >= r1 || n_tok == 0)
        return;
    const unsigned tr = n_tok < TILE ? n_tok : TILE;
    memset(c, 0, sizeof c); /* rows past tr stay zero */
    memset(tail, 0, sizeof tail);
    memset(tail_dx, 0, sizeof tail_dx);
    for (int j = 0; j < CAP; j++)
        memset(B[j].z, 0, sizeof B[j].z);
    load_config(tr);
    const uint32_t n_tiles = (n_tok + TILE - 1) / TILE;
    for (uint32_t g0 = 0; g0 < n_tiles; g0 += GROUP) {
        const uint32_t ng = n_tiles - g0 < GROUP ? n_tiles - g0 : GROUP;
        uint32_t t0[GROUP];
        for (uint32_t k = 0; k < ng; k++) /* a ragged last tile ends at n_tok */
            t0[k] = (g0 + k + 1) * TILE <= n_tok || n_tok < TILE ? (g0 + k) * TILE : n_tok - TILE;
        for (uint32_t r = r0; r < r1; r += TILE) {
            const uint32_t R = r1 - r < TILE ? r1 - r : TILE;
            for (unsigned q = 0; q < 8; q++) {
                const uint32_t l = even_lane[q], steps = l < nb ? (nb - 1 - l) / 16 + 1 : 0;
                memset(acc, 0, sizeof acc); /* lane l + 1 accumulates in memory; empty lanes stay 0 */
                for (uint32_t i0 = 0; i0 < steps; i0 += CAP) {
                    const uint32_t n = steps - i0 < CAP ? steps - i0 : CAP;
                    const uint32_t b0 = l + 16 * i0, last = b0 + 16 * (n - 1);
                    const uint32_t full = last + 1 < nb ? n : n - 1; /* steps with both blocks in A */
                    repack(q4, W, r, R, l, i0, n, B, dw);
                    for (uint32_t k = 0; k < ng; k++) {
                        const size_t at = t0[k] * stride + (size_t)b0 * G2_QK;
                        const float *dx = A->d + (size_t)t0[k] * nb + b0;
                        if (full && tr == TILE)
                            run16(A->qs + at, A->ql + at, stride, dx, nb, full, B,
                                  (const float(*)[2][TILE])dw, c, acc[k][0], acc[k][1], i0 == 0);
                        else if (full)
                            run_short(tr, A->qs + at, A->ql + at, stride, dx, nb, full, B,
                                      (const float(*)[2][TILE])dw, c, acc[k][0], acc[k][1], i0 == 0);
                        if (full == n)
                            continue;
                        for (unsigned m = 0; m < tr; m++) { /* block nb − 1, then zeros */
                            const size_t t = t0[k] + m;
                            memcpy(tail[0][m], A->qs + t * stride + (size_t)last * G2_QK, G2_QK);
                            memcpy(tail[1][m], A->ql + t * stride + (size_t)last * G2_QK, G2_QK);
                            tail_dx[m][0] = A->d[t * nb + last];
                        }
                        MEMORY_BARRIER();
                        run_short(tr, tail[0][0], tail[1][0], 64, tail_dx[0], 2, 1, B + full,
                                  (const float(*)[2][TILE])dw + full, c, acc[k][0], acc[k][1],
                                  i0 == 0 && !full);
                    }
                }
                for (uint32_t k = 0; k < ng; k++)
                    fold(tree[k], q, acc[k]);
            }
            for (uint32_t k = 0; k < ng; k++) { /* rows in perm order */
                for (int m = 0; m < TILE; m++)
                    _mm512_store_ps(out[m], _mm512_add_ps(acc[k][0][m], acc[k][1][m]));
                for (unsigned m = 0; m < tr; m++)
                    for (unsigned i = 0; i < TILE; i++)
                        if (perm(i) < R)
                            y[(size_t)(t0[k] + m) * y_stride + r + perm(i)] = out[m][i];
            }
        }
    }
    _tile_release();
}

/* ---- the table ---------------------------------------------------------------------- */

static void quantize_act(const float *x, uint32_t n, int8_t *qs, int8_t *ql, float *d, int32_t *sum) {
    g2_kernels_avx512.quantize_act(x, n, qs, ql, d, sum);
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    if (n_tok < G2_AMX_MIN_TOK)
        g2_kernels_avx512.gemm_q8(W, r0, r1, A, n_tok, y, y_stride);
    else
        gemm(0, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    if (n_tok < G2_AMX_MIN_TOK)
        g2_kernels_avx512.gemm_q4(W, r0, r1, A, n_tok, y, y_stride);
    else
        gemm(1, W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_amx = {
    .name = "amx", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
