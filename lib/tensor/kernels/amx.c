/* SPDX-License-Identifier: Apache-2.0 */
/* AMX-INT8 kernels (prefill): the function lib/tensor/quant.h defines, with the int8
 * products on the tile unit (TDPBSSD) and the float part on AVX-512. Compiled with
 * -mamx-tile -mamx-int8 plus the avx512 flags; everything but the table is static.
 * Below G2_AMX_MIN_TOK tokens (decode, short prompts; measured crossover 10-12), or
 * when the input was not prepared (below), the calls go to the avx512vbmi table (the
 * CPU selection requires it with AMX), whose quantize_act this table shares (and whose
 * prepare_act it calls for such inputs).
 *
 * Products: C[rows × tokens] = A[rows × K] · B[K × tokens], one block (K = 32) at a
 * time, so each C tile is exactly one block's int32 sums. A is 16 weight rows of the
 * block, unpacked first into a small buffer (in the row sets' lane order a block's
 * bytes lie 4 here, 4 there; q4 also becomes levels). B holds one digit (hi or lo) of
 * the block for 16 tokens in the VNNI layout (B[k][n] = dword k of token n). B is the
 * same for every matrix and thread reading the input, so prepare_act lays it out once
 * per input (A->tiles: per 16-token tile, per block, hi then lo, 8 × 64 bytes each;
 * A->tiles_d: the tokens' d_x per block). Then per weight row (a zmm over 16 tokens):
 * isum = (C_hi << 8) + C_lo, acc = fma(isum, d_w·d_x, acc) on AVX-512 while the tile
 * unit computes the next block. (AMX has no tile → register move, so the sums go
 * through an L1 buffer.) One-digit inputs (A->digits == 1, lo all zero) skip
 * everything of lo: its layout, products, stores and loads.
 *
 * Order: the canonical order fixes the order within each of the 16 accumulator lanes
 * (blocks b ≡ l mod 16, ascending), so a lane is run alone, its 16 rows × 16 tokens
 * accumulators in 16 zmm. Lanes come in bit-reversed order (0, 8, 4, 12, ...), which
 * lets the final tree (acc[i] + acc[i + 8], then + 4, + 2, + 1) fold each in as it
 * finishes, with at most 4 partial sums waiting.
 *
 * Tokens: tiles of 16; a ragged last tile is moved back to end at n_tok (recomputing
 * some tokens, same bits); under 16 tokens the tiles have n_tok columns. Rows: tiles
 * of 16; a ragged last tile has fewer rows (the tile configuration says so, so no row
 * past r1 is read). Stack use: about 40 KB per call.
 *
 * Tile state is per thread: each call loads its configuration and releases the tiles,
 * so calls from any thread are independent. The process must have been granted AMX
 * (lib/runtime/cpu.c does it once, before this table is offered). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "tensor/quant.h"

#ifndef G2_AMX_MIN_TOK
#    define G2_AMX_MIN_TOK 12 /* fewer tokens: the avx512vbmi table */
#endif
#define TILE 16         /* tokens (columns of B and C) and weight rows (rows of A and C) */
#define GROUP 4         /* token tiles sharing one pass over the weights */
#define CAP 16          /* blocks of a lane per pass (unpack buffer: 16 × 512 bytes) */
#define LANES 16        /* G2_ACC_LANES */
#define TILE_BLOCK 1024 /* bytes of one block of a token tile: hi, then lo */

_Static_assert(G2_ACT_LO_WEIGHT == 256, "the digits combine with a shift by 8");

/* Tile registers (literal numbers: the intrinsics paste them into the mnemonic). A
 * and C come in two sets, for even and odd blocks, so that one block's products run
 * while the other's sums are stored. */
#define T_A0 0
#define T_A1 1
#define T_BH 2
#define T_BL 3
#define T_CH0 4
#define T_CL0 5
#define T_CH1 6
#define T_CL1 7

/* The compiler does not see tile loads read memory: make stores before them happen. */
#define MEMORY_BARRIER() __asm__ volatile("" ::: "memory")

typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* A: rows weight rows × 32 bytes; B: 8 rows (K / 4) × cols tokens; C: rows × cols. */
static void load_config(unsigned rows, unsigned cols) {
    _Alignas(64) tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[T_A0] = c.rows[T_A1] = (uint8_t)rows;
    c.colsb[T_A0] = c.colsb[T_A1] = G2_QK;
    c.rows[T_BH] = c.rows[T_BL] = G2_QK / 4;
    c.colsb[T_BH] = c.colsb[T_BL] = (uint16_t)(4 * cols);
    c.rows[T_CH0] = c.rows[T_CL0] = c.rows[T_CH1] = c.rows[T_CL1] = (uint8_t)rows;
    c.colsb[T_CH0] = c.colsb[T_CL0] = c.colsb[T_CH1] = c.colsb[T_CL1] = (uint16_t)(4 * cols);
    MEMORY_BARRIER();
    _tile_loadconfig(&c);
}

/* First token of tile k of n_tok: a ragged last tile ends at n_tok. */
static uint32_t tile_start(uint32_t k, uint32_t n_tok) {
    return (k + 1) * TILE <= n_tok || n_tok < TILE ? k * TILE : n_tok - TILE;
}

/* ---- the input, once ---------------------------------------------------------------- */

static void prepare_act(g2_qact *A, uint32_t n_tok) {
    if (n_tok < G2_AMX_MIN_TOK) { /* the avx512vbmi table's gemms will run: its layout */
        g2_kernels_avx512vbmi.prepare_act(A, n_tok);
        return;
    }
    A->tiles_tok = 0;
    if (!A->tiles || !A->tiles_d)
        return;
    const uint32_t nb = A->nb, tr = n_tok < TILE ? n_tok : TILE;
    const size_t row = (size_t)nb * G2_QK;
    if (row > INT32_MAX / TILE) /* the gathers' int32 offsets; no such matrix in Gemma 2 */
        return;
    const __mmask16 have = (__mmask16)((1u << tr) - 1);
    /* lane n: token n's offset (its dword k is at + 4k), and its d_x's */
    const __m512i by_token = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)row));
    const __m512i by_token_d = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)nb));
    for (uint32_t k = 0; k < G2_ACT_TILES(n_tok); k++) {
        const uint32_t t0 = tile_start(k, n_tok);
        for (uint32_t b = 0; b < nb; b++) {
            int8_t *o = A->tiles + ((size_t)k * nb + b) * TILE_BLOCK;
            for (unsigned digit = 0; digit < (A->digits == 1 ? 1u : 2u); digit++) {
                const int8_t *src = (digit ? A->ql : A->qs) + (size_t)t0 * row + (size_t)b * G2_QK;
                for (int kk = 0; kk < G2_QK / 4; kk++)
                    _mm512_storeu_si512(
                        o + digit * (TILE_BLOCK / 2) + kk * 64,
                        _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), have, by_token, src + 4 * kk, 1));
            }
            _mm512_storeu_ps(A->tiles_d + ((size_t)k * nb + b) * TILE,
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), have, by_token_d,
                                                      A->d + (size_t)t0 * nb + b, 4));
        }
    }
    A->tiles_tok = n_tok;
}

/* ---- weights ------------------------------------------------------------------------ */

/* Block b's 16 bytes of row r of the q4 matrix W, gathered from the row sets' lane
 * order (lib/tensor/quant.h): four 32-bit lanes of its group, 4m bytes apart. */
static inline __m128i gather_q4_block(const g2_qmatrix *W, uint32_t r, uint32_t b) {
    const uint32_t g = b / 16, m = W->nb - 16 * g < 16 ? W->nb - 16 * g : 16;
    const uint8_t *p = (const uint8_t *)W->qs + g2_q4_byte_at(W->rows, W->nb, r, b, 0);
    int32_t v[4];
    for (int i = 0; i < 4; i++)
        memcpy(&v[i], p + (size_t)4 * m * i, 4);
    return _mm_setr_epi32(v[0], v[1], v[2], v[3]);
}

/* q8: blocks b = l + 16 (i0 + j), j < n, of rows [r, r + R) of W → out[j][i][0..31].
 * A block's 8 dwords lie 4m bytes apart in its group (lib/tensor/quant.h); one gather
 * takes two rows (the second's offset is at most a row set's 4 · 32 · nb bytes, which
 * prepare_act keeps within int32; a missing second row is zeros). */
static void unpack_q8(const g2_qmatrix *W, uint32_t r, uint32_t R, uint32_t l, uint32_t i0, uint32_t n,
                      int8_t (*out)[TILE][G2_QK]) {
    const __m512i dword = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
    const int8_t *qs = (const int8_t *)W->qs;
    for (uint32_t j = 0; j < n; j++) {
        const uint32_t b = l + 16 * (i0 + j), g = b / 16, m = W->nb - 16 * g < 16 ? W->nb - 16 * g : 16;
        const __m512i runs = _mm512_mullo_epi32(dword, _mm512_set1_epi32((int)(4 * m)));
        for (uint32_t i = 0; i < R; i += 2) {
            const size_t at = g2_q8_byte_at(W->rows, W->nb, r + i, b, 0);
            const int two = i + 1 < R;
            const int next = two ? (int)(g2_q8_byte_at(W->rows, W->nb, r + i + 1, b, 0) - at) : 0;
            const __m512i idx = _mm512_mask_add_epi32(runs, 0xFF00, runs, _mm512_set1_epi32(next));
            _mm512_store_si512(
                out[j][i],
                _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), two ? 0xFFFF : 0x00FF, idx, qs + at, 1));
        }
    }
}

/* q4: blocks b = l + 16 (i0 + j), j < n, of rows [r, r + R) of W → levels
 * out[j][i][0..31] (elements 0..15 from the low nibbles, 16..31 the high). */
static void unpack_q4(const g2_qmatrix *W, uint32_t r, uint32_t R, uint32_t l, uint32_t i0, uint32_t n,
                      int8_t (*out)[TILE][G2_QK]) {
    static const int8_t codebook[16] = G2_Q4_CODEBOOK;
    const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)codebook));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (uint32_t j = 0; j < n; j++) {
        const uint32_t b = l + 16 * (i0 + j);
        for (uint32_t i = 0; i < R; i += 2) { /* two rows a ymm (a missing second row reads row i again) */
            const uint32_t i1 = i + 1 < R ? i + 1 : i;
            const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(gather_q4_block(W, r + i, b)),
                                                      gather_q4_block(W, r + i1, b), 1);
            const __m256i lo = _mm256_shuffle_epi8(levels, _mm256_and_si256(v, m4));
            const __m256i hi = _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            _mm256_store_si256((__m256i *)out[j][i], _mm256_permute2x128_si256(lo, hi, 0x20));
            if (i + 1 < R)
                _mm256_store_si256((__m256i *)out[j][i + 1], _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    }
}

/* f16 scales of blocks b = l + 16 (i0 + j) of rows [r, r + R) of W (in its row sets'
 * order) → dw[j][i] as floats, 0 for rows past R. */
static void load_scales(const g2_qmatrix *W, uint32_t r, uint32_t R, uint32_t l, uint32_t i0, uint32_t n,
                        float (*dw)[TILE]) {
    for (uint32_t j = 0; j < n; j++) {
        _Alignas(32) uint16_t h[TILE];
        const uint32_t b = l + 16 * (i0 + j);
        for (uint32_t i = 0; i < TILE; i++)
            h[i] = i < R ? W->d[g2_q_scale_at(W->rows, W->nb, r + i, b)] : 0;
        _mm512_store_ps(dw[j], _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)h)));
    }
}

/* ---- one lane ----------------------------------------------------------------------- */

#define REP16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* Block j: A from w[j], B from bt + j · 16 blocks; its sums to c[j % 2] (hi, and lo
 * if two). */
#define TILE_STEP(TA, TH, TL, j)                                              \
    do {                                                                      \
        _tile_loadd(TA, w[j], G2_QK);                                         \
        _tile_loadd(T_BH, bt + (size_t)(j)*LANES * TILE_BLOCK, 64);           \
        if (two)                                                              \
            _tile_loadd(T_BL, bt + (size_t)(j)*LANES * TILE_BLOCK + 512, 64); \
        _tile_zero(TH);                                                       \
        _tile_dpbssd(TH, TA, T_BH);                                           \
        if (two) {                                                            \
            _tile_zero(TL);                                                   \
            _tile_dpbssd(TL, TA, T_BL);                                       \
        }                                                                     \
        _tile_stored(TH, c[(j)&1][0], 64);                                    \
        if (two)                                                              \
            _tile_stored(TL, c[(j)&1][1], 64);                                \
    } while (0)

/* Row i: isum = 256·hi + lo as a float (exact int32, one rounding), times d_w·d_x. */
#define ROW(i)                                                                                             \
    do {                                                                                                   \
        __m512i isum = _mm512_slli_epi32(_mm512_load_si512(cs[0][i]), 8);                                  \
        if (two)                                                                                           \
            isum = _mm512_add_epi32(isum, _mm512_load_si512(cs[1][i]));                                    \
        a##i = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(_mm512_set1_ps(dwj[i]), dx), a##i); \
    } while (0);

/* n blocks of one lane for one token tile: weights of block j in w[j], its B tiles at
 * bt + j · 16 blocks, its d_x at dx0 + j · 16 blocks, scales dw[j]; accumulators
 * acc[16] (row i: 16 tokens), zero first if zero; the lo digit's products only if
 * two. The tile unit runs one block ahead of the vector unit. */
static inline __attribute__((always_inline)) void run(int two, const int8_t (*w)[TILE][G2_QK],
                                                      const int8_t *bt, const float *dx0, uint32_t n,
                                                      const float (*dw)[TILE], int32_t (*c)[2][TILE][TILE],
                                                      __m512 *acc, int zero) {
#define LOAD_ACC(i) __m512 a##i = zero ? _mm512_setzero_ps() : acc[i];
    REP16(LOAD_ACC)
    for (uint32_t j = 0; j <= n; j++) {
        if (j < n) {
            if (j & 1)
                TILE_STEP(T_A1, T_CH1, T_CL1, j);
            else
                TILE_STEP(T_A0, T_CH0, T_CL0, j);
        }
        if (j > 0) {
            int32_t(*cs)[TILE][TILE] = c[(j - 1) & 1];
            const float *dwj = dw[j - 1];
            const __m512 dx = _mm512_loadu_ps(dx0 + (size_t)(j - 1) * LANES * TILE);
            REP16(ROW)
        }
    }
#define STORE_ACC(i) acc[i] = a##i;
    REP16(STORE_ACC)
}

static void run_one_digit(const int8_t (*w)[TILE][G2_QK], const int8_t *bt, const float *dx0, uint32_t n,
                          const float (*dw)[TILE], int32_t (*c)[2][TILE][TILE], __m512 *acc, int zero) {
    run(0, w, bt, dx0, n, dw, c, acc, zero);
}

static void run_two_digits(const int8_t (*w)[TILE][G2_QK], const int8_t *bt, const float *dx0, uint32_t n,
                           const float (*dw)[TILE], int32_t (*c)[2][TILE][TILE], __m512 *acc, int zero) {
    run(1, w, bt, dx0, n, dw, c, acc, zero);
}

/* Lane q (in bit-reversed order) is done (v): fold it into the partial sums, each
 * addition one of the canonical tree's, the lower lanes' partial sum first. After
 * q = 15, v is the result. */
static void fold(__m512 (*tree)[TILE], unsigned q, __m512 *v) {
    unsigned level = 0;
    for (; level < 4 && ((q >> level) & 1); level++)
        for (int i = 0; i < TILE; i++)
            v[i] = _mm512_add_ps(tree[level][i], v[i]);
    if (level < 4)
        memcpy(tree[level], v, sizeof tree[level]);
}

/* ---- the product -------------------------------------------------------------------- */

static void gemm(int q4, const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok,
                 float *y, size_t y_stride) {
    static const uint8_t lane_order[LANES] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    _Alignas(64) int32_t c[2][2][TILE][TILE];
    _Alignas(64) int8_t wbuf[CAP][TILE][G2_QK]; /* A: weights, q4 as levels */
    _Alignas(64) float dw[CAP][TILE];
    _Alignas(64) float out[TILE][TILE]; /* [row][token] */
    __m512 acc[GROUP][TILE], tree[GROUP][4][TILE];
    const uint32_t nb = W->nb;
    if (r0 >= r1 || n_tok == 0)
        return;
    const unsigned tr = n_tok < TILE ? n_tok : TILE;
    memset(c, 0, sizeof c); /* rows and columns past the tiles' stay defined */
    unsigned config_rows = 0;
    const uint32_t n_tiles = (uint32_t)G2_ACT_TILES(n_tok);
    for (uint32_t r = r0; r < r1; r += TILE) {
        const uint32_t R = r1 - r < TILE ? r1 - r : TILE;
        if (R != config_rows)
            load_config(config_rows = R, tr);
        for (uint32_t g0 = 0; g0 < n_tiles; g0 += GROUP) {
            const uint32_t ng = n_tiles - g0 < GROUP ? n_tiles - g0 : GROUP;
            for (unsigned q = 0; q < LANES; q++) {
                const uint32_t l = lane_order[q], steps = l < nb ? (nb - 1 - l) / LANES + 1 : 0;
                if (steps == 0)
                    memset(acc, 0, sizeof acc);
                for (uint32_t i0 = 0; i0 < steps; i0 += CAP) {
                    const uint32_t n = steps - i0 < CAP ? steps - i0 : CAP, b0 = l + LANES * i0;
                    load_scales(W, r, R, l, i0, n, dw);
                    if (q4)
                        unpack_q4(W, r, R, l, i0, n, wbuf);
                    else
                        unpack_q8(W, r, R, l, i0, n, wbuf);
                    MEMORY_BARRIER();
                    for (uint32_t k = 0; k < ng; k++) {
                        const size_t at = (size_t)(g0 + k) * nb + b0;
                        if (A->digits == 1)
                            run_one_digit((const int8_t(*)[TILE][G2_QK])wbuf, A->tiles + at * TILE_BLOCK,
                                          A->tiles_d + at * TILE, n, (const float(*)[TILE])dw, c, acc[k],
                                          i0 == 0);
                        else
                            run_two_digits((const int8_t(*)[TILE][G2_QK])wbuf, A->tiles + at * TILE_BLOCK,
                                           A->tiles_d + at * TILE, n, (const float(*)[TILE])dw, c, acc[k],
                                           i0 == 0);
                    }
                }
                for (uint32_t k = 0; k < ng; k++)
                    fold(tree[k], q, acc[k]);
            }
            for (uint32_t k = 0; k < ng; k++) {
                const uint32_t t0 = tile_start(g0 + k, n_tok);
                for (int i = 0; i < TILE; i++)
                    _mm512_store_ps(out[i], acc[k][i]);
                for (unsigned m = 0; m < tr; m++)
                    for (uint32_t i = 0; i < R; i++)
                        y[(size_t)(t0 + m) * y_stride + r + i] = out[i][m];
            }
        }
    }
    _tile_release();
}

/* ---- the table ---------------------------------------------------------------------- */

static void quantize_act(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum) {
    g2_kernels_avx512vbmi.quantize_act(x, n, digits, qs, ql, d, sum);
}

/* Prepared in this table's layout (fewer tokens: the avx512vbmi table's, or none). */
static int prepared(const g2_qact *A, uint32_t n_tok) {
    return n_tok >= G2_AMX_MIN_TOK && A->tiles_tok == n_tok && A->tiles && A->tiles_d;
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    if (prepared(A, n_tok))
        gemm(0, W, r0, r1, A, n_tok, y, y_stride);
    else
        g2_kernels_avx512vbmi.gemm_q8(W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    if (prepared(A, n_tok))
        gemm(1, W, r0, r1, A, n_tok, y, y_stride);
    else
        g2_kernels_avx512vbmi.gemm_q4(W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_amx = {.name = "amx",
                                   .quantize_act = quantize_act,
                                   .gemm_q8 = gemm_q8,
                                   .gemm_q4 = gemm_q4,
                                   .prepare_act = prepare_act};
