/* SPDX-License-Identifier: Apache-2.0 */
/* AVX-512 (F/BW/VL/VNNI) kernels: the function lib/tensor/quant.h defines, bit for bit,
 * with the int8 dot products on vpdpbusd. Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni -mf16c -mfma; everything but the table is static (STYLE.md
 * rule 12). Compiled a second time with -mavx512vbmi -DG2_AVX512_VBMI, it is the
 * avx512vbmi table: the same but for the q4 codebook lookup on vpermb.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so weights go in as u = w + 128 (q8:
 * w XOR 0x80; q4: the codebook level + 128 looked up with vpshufb, or vpermb) and the
 * activation digits as they are. Per block that adds 128 · (256·Σhi + Σlo) = 128 ·
 * A->sum, taken out once per block after the lanes are summed.
 *
 * Both weight types are stored in row sets and lane order (quant.h): a 64-byte run of
 * a group holds the same 4 bytes of 16 blocks, one 32-bit lane per block (q8: 8 runs
 * per group, q4: 4, each byte two levels), and the activations are laid out to match
 * (g2_xgroup), so vpdpbusd sums whole blocks per lane, already in the canonical lane
 * order: a group needs no reduction and no permute, only the −128·sum correction, one
 * convert and one FMA per row and token (lane_group below). With one-digit
 * activations (A->digits == 1, lo all zero) the lo products are skipped.
 *
 * The per-token layout (g2_xgroup: digits, d_x, corrections) is made once per chunk of
 * groups into a stack buffer shared by every row of the call, or once per input by
 * prepare_act; float accumulators carry across chunks in a small buffer. Register
 * tile: R rows × T tokens, 4×2 at most, 4 rows only on a whole row set. Stack use:
 * about 40 KB per call. */
#include <immintrin.h>
#include <string.h>

#include "tensor/kernels/tile_fns.h"
#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2

/* ---- activations ------------------------------------------------------------ */

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (as fmaxf does),
 * e = x * (127 / amax), hi = lrint(e), lo = lrint((e − hi) · 256), both in the current
 * rounding mode (the default, to nearest even, as cvtps2dq) and clamped to [-127, 127]
 * after conversion (so inf/NaN convert to INT_MIN and clamp to -127 as cvtss2si does
 * for the scalar lrintf), tail zero. */
INLINE __m512i clamp127(__m512i q) {
    return _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
}

static void quantize_act(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    const __m512 zero = _mm512_setzero_ps(), lo_weight = _mm512_set1_ps((float)G2_ACT_LO_WEIGHT);
    for (uint32_t b = 0; b < nb; b++) {
        const uint32_t left = n - b * G2_QK;
        __m512 v[2];
        if (left >= G2_QK) {
            v[0] = _mm512_loadu_ps(x + (size_t)b * G2_QK);
            v[1] = _mm512_loadu_ps(x + (size_t)b * G2_QK + 16);
        } else {
            const uint32_t k0 = left < 16 ? left : 16, k1 = left - k0;
            v[0] = _mm512_maskz_loadu_ps((__mmask16)((1u << k0) - 1), x + (size_t)b * G2_QK);
            v[1] = _mm512_maskz_loadu_ps((__mmask16)((1u << k1) - 1), x + (size_t)b * G2_QK + 16);
        }
        /* max(|v|, 0) returns 0 for a NaN |v| (the second operand wins). */
        __m512 m =
            _mm512_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), zero), _mm512_max_ps(_mm512_abs_ps(v[1]), zero));
        const float amax = _mm512_reduce_max_ps(m);
        /* below 2^-100 a block is zero: 127 / amax would overflow to inf (G2_ACT_TINY) */
        const float id = amax >= G2_ACT_TINY ? 127.0f / amax : 0.0f;
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f * (1.0f / G2_ACT_LO_WEIGHT) : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i total = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512 e = _mm512_mul_ps(v[h], vid);
            const __m512i hi = clamp127(_mm512_cvtps_epi32(e));
            const __m512i lo = digits == 1 ? _mm512_setzero_si512()
                                           : clamp127(_mm512_cvtps_epi32(_mm512_mul_ps(
                                                 _mm512_sub_ps(e, _mm512_cvtepi32_ps(hi)), lo_weight)));
            total = _mm512_add_epi32(total, _mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo));
            _mm_storeu_si128((__m128i *)(qs + (size_t)b * G2_QK + 16 * h), _mm512_cvtepi32_epi8(hi));
            _mm_storeu_si128((__m128i *)(ql + (size_t)b * G2_QK + 16 * h), _mm512_cvtepi32_epi8(lo));
        }
        sum[b] = _mm512_reduce_add_epi32(total);
    }
}

/* ---- matrix kernels --------------------------------------------------------------- */

#define GROUP 16     /* blocks per group (= G2_ACC_LANES) */
#define ROW_BATCH 32 /* rows whose accumulators are kept across chunks */

_Static_assert(GROUP == G2_ACC_LANES, "a group is the canonical lane count");
_Static_assert(G2_ACT_LO_WEIGHT == 256, "the digits combine with a shift by 8");

INLINE __mmask16 first16(uint32_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* 64 packed q4 bytes → the levels + 128 (unsigned bytes u = w + 128) of their low
 * (w0) and high (w1) nibbles. */
INLINE void q4_levels(__m512i v, __m512i *w0, __m512i *w1) {
    /* the codebook + 128, repeated in each 128-bit lane for vpshufb (and so in all four
     * quarters for vpermb) */
    const __m512i levels = _mm512_broadcast_i32x4(
        _mm_setr_epi8(-123 + 128, -99 + 128, -79 + 128, -62 + 128, -46 + 128, -32 + 128, -19 + 128, -6 + 128,
                      (char)(6 + 128), (char)(19 + 128), (char)(32 + 128), (char)(46 + 128), (char)(62 + 128),
                      (char)(79 + 128), (char)(99 + 128), (char)(123 + 128)));
#ifdef G2_AVX512_VBMI
    /* vpermb indexes 64 bytes by the low 6 bits; the table repeats the 16 levels, so
     * the bits above the nibble need no masking: two fewer instructions per 64 bytes
     * (measured with the block-order q4 tiles: decode tiles 12-20% faster on data in
     * L2) */
    *w0 = _mm512_permutexvar_epi8(v, levels);
    *w1 = _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), levels);
#else
    const __m512i m = _mm512_set1_epi8(0x0F);
    *w0 = _mm512_shuffle_epi8(levels, _mm512_and_si512(v, m));
    *w1 = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(v, 4), m));
#endif
}

/* The canonical tree over the 16 lanes of an accumulator in block order. */
INLINE float ordered_sum(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* ordered_sum of acc[i][j] for i = 0..15 into out[0..16): the same tree, each level
 * for all 16 at once on 512-bit vectors, and one store (prefill q4 pp512 1.006-1.045x,
 * q8 and decode unchanged; docs/performance-results-zen4.md). */
INLINE void ordered_sums16(__m512 acc[][MAX_T], uint32_t j, float *out) {
    __m512 w[8], x[4], y[2];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) { /* lanes 0-7: a_k = v_k + v_k+8 of sum 2r; 8-15: of 2r + 1 */
        const __m512 u = acc[2 * r][j], v = acc[2 * r + 1][j];
        w[r] = _mm512_add_ps(_mm512_shuffle_f32x4(u, v, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(u, v, _MM_SHUFFLE(3, 2, 3, 2)));
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) /* 128-bit block m: b_k = a_k + a_k+4 of sum 4q + m */
        x[q] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * q], w[2 * q + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(w[2 * q], w[2 * q + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int p = 0; p < 2; p++) /* block m: c_k = b_k + b_k+2 of sum 8p + m, then of 8p + 4 + m */
        y[p] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * p], x[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(x[2 * p], x[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 4m + e: c_0 + c_1 of sum m + 4e */
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, z));
}

/* One group of m (1..16) blocks of an R×T tile, its R rows in one row set: row i's
 * runs at wq + B·m·i + 4m·run, B the bytes per block (a short group's runs are 4m
 * bytes: masked loads read only those), its scales at wd + m·i; token j's group at
 * x + j·xstride. Adds the group to a. q8's 8 runs go to vpdpbusd as they are
 * (u = w XOR 0x80 = w + 128) with hi[run]: per row and run one load and one XOR, then
 * one vpdpbusd per digit. q4's 4 runs go as the levels of their low and high nibbles
 * with hi[run] and hi[4 + run]. Decode prefetches each row's group (one line per run)
 * into L1 two groups ahead in the row set's stream, and 8 rows ahead, i.e. row_bytes · 8
 * further on in the sets' one stream, and again 16 and 32 rows ahead (q8 also 24), and
 * the scales 8 rows ahead (docs/performance-results-zen4.md). */
INLINE void lane_group(int q8, int two, int R, int T, uint32_t m, const uint8_t *wq, const uint16_t *wd,
                       size_t row_bytes, uint32_t nb, const g2_xgroup *x, size_t xstride,
                       __m512 a[MAX_R][MAX_T]) {
    /* integer accumulators per pair and digit: for T = 1 two (q4: by nibble, q8: by
     * run parity), shortening the vpdpbusd chains; [0] else */
    enum { NACC = 2 };
    const int runs = q8 ? 8 : 4, block_bytes = q8 ? G2_QK : G2_QK / 2;
    const __mmask16 lanes = first16(m);
    __m512i h[MAX_R][MAX_T][NACC], l[MAX_R][MAX_T][NACC];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
#pragma GCC unroll 2
            for (int n = 0; n < NACC; n++)
                h[i][j][n] = l[i][j][n] = _mm512_setzero_si512();
#pragma GCC unroll 2
    /* the correction starts the sum: two digits in l (added unshifted), one digit in h
     * as corr / 256 (exact: with lo = 0 the block sums are multiples of 256) */
    for (int j = 0; j < T; j++) {
        const __m512i c = _mm512_load_si512(x[j * xstride].corr);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            if (two)
                l[i][j][0] = c;
            else
                h[i][j][0] = _mm512_srai_epi32(c, 8);
        }
    }
#pragma GCC unroll 8
    for (int run = 0; run < runs; run++) {
        /* the tokens' run in registers for the R rows: Zen 4 issues one 512-bit load per
         * cycle, and as memory operands of vpdpbusd each row loaded them again */
        __m512i x0[MAX_T], x1[MAX_T], y0[MAX_T], y1[MAX_T];
        __asm__ volatile("" ::: "memory");
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            const g2_xgroup *xj = x + j * xstride;
            x0[j] = _mm512_load_si512(xj->hi[run]);
            __asm__("" : "+v"(x0[j]));
            x1[j] = y0[j] = y1[j] = _mm512_setzero_si512(); /* unused: q8 has no x1, y1; one digit no y */
            if (!q8) {
                x1[j] = _mm512_load_si512(xj->hi[4 + run]);
                __asm__("" : "+v"(x1[j]));
            }
            if (two) {
                y0[j] = _mm512_load_si512(xj->lo[run]);
                __asm__("" : "+v"(y0[j]));
                if (!q8) {
                    y1[j] = _mm512_load_si512(xj->lo[4 + run]);
                    __asm__("" : "+v"(y1[j]));
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *p = wq + (size_t)block_bytes * m * i + (size_t)4 * m * run;
            __m512i v = m == 16 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(lanes, p);
            __asm__("" : "+v"(v)); /* one load, not a second one folded into the shift */
            if (T == 1 && R == MAX_R) {
                const size_t ahead = 2 * MAX_R * row_bytes;
                _mm_prefetch((const char *)(p + (size_t)2 * MAX_R * GROUP * block_bytes), _MM_HINT_T0);
                _mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
                _mm_prefetch((const char *)(p + 2 * ahead), _MM_HINT_T2);
                if (q8) /* q4 measured 2% slower with it */
                    _mm_prefetch((const char *)(p + 3 * ahead), _MM_HINT_T2);
                _mm_prefetch((const char *)(p + 4 * ahead), _MM_HINT_T2);
            }
            __m512i w0, w1;
            if (q8) {
                w0 = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
#pragma GCC unroll 2
                for (int j = 0; j < T; j++) {
                    const int n = T == 1 ? run & 1 : 0;
                    h[i][j][n] = _mm512_dpbusd_epi32(h[i][j][n], w0, x0[j]);
                    if (two)
                        l[i][j][n] = _mm512_dpbusd_epi32(l[i][j][n], w0, y0[j]);
                }
                continue;
            }
            q4_levels(v, &w0, &w1);
#pragma GCC unroll 2
            for (int j = 0; j < T; j++) {
                const int n = T == 1 ? 1 : 0;
                h[i][j][0] = _mm512_dpbusd_epi32(h[i][j][0], w0, x0[j]);
                h[i][j][n] = _mm512_dpbusd_epi32(h[i][j][n], w1, x1[j]);
                if (two) {
                    l[i][j][0] = _mm512_dpbusd_epi32(l[i][j][0], w0, y0[j]);
                    l[i][j][n] = _mm512_dpbusd_epi32(l[i][j][n], w1, y1[j]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const __m256i hd = m == 16 ? _mm256_loadu_si256((const __m256i *)(wd + m * i))
                                   : _mm256_maskz_loadu_epi16(lanes, wd + m * i);
        const __m512 dw = _mm512_cvtph_ps(hd);
        if (T == 1 && R == MAX_R && i % 2 == 0) /* two rows' scales a line */
            _mm_prefetch((const char *)(wd + m * i + (size_t)2 * MAX_R * nb), _MM_HINT_T1);
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            const g2_xgroup *xj = x + j * xstride;
            __m512i hs = T == 1 ? _mm512_add_epi32(h[i][j][0], h[i][j][1]) : h[i][j][0];
            __m512i isum = _mm512_slli_epi32(hs, 8);
            if (two)
                isum = _mm512_add_epi32(isum, T == 1 ? _mm512_add_epi32(l[i][j][0], l[i][j][1]) : l[i][j][0]);
            a[i][j] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_load_ps(xj->dx)), a[i][j]);
        }
    }
}

/* Rows [r, r+R) × T tokens over groups [g0, g1) (token j's at x + j·xstride): acc[i][j]
 * holds the pair's float accumulator (lane k = canonical lane k), carried across
 * chunks; the chunk at group 0 starts it from zero. */
INLINE void lane_tile(int q8, int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_xgroup *x,
                      size_t xstride, uint32_t g0, uint32_t g1, __m512 acc[][MAX_T]) {
    const uint32_t nb = W->nb, s0 = r - r % G2_Q_ROW_SET, block_bytes = q8 ? G2_QK : G2_QK / 2;
    const uint32_t n = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const size_t row_bytes = (size_t)nb * block_bytes;
    /* row r's group g0 in its set (lib/tensor/quant.h); the set's full groups are
     * n · 16 · B bytes and n · 16 scales apart */
    const uint8_t *wq = (const uint8_t *)W->qs + g2_q_byte_at(block_bytes, W->rows, nb, r, g0 * GROUP, 0);
    const uint16_t *wd = W->d + g2_q_scale_at(W->rows, nb, r, g0 * GROUP);
    __m512 a[MAX_R][MAX_T];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            a[i][j] = g0 == 0 ? _mm512_setzero_ps() : acc[i][j];
    const uint32_t full = nb / GROUP < g1 ? nb / GROUP : g1;
    uint32_t g = g0;
    for (; g < full; g++, wq += (size_t)n * GROUP * block_bytes, wd += (size_t)n * GROUP, x++)
        lane_group(q8, two, R, T, GROUP, wq, wd, row_bytes, nb, x, xstride, a);
    if (g < g1) { /* the short last group (its rows before r are short too) */
        wq = (const uint8_t *)W->qs + g2_q_byte_at(block_bytes, W->rows, nb, r, g * GROUP, 0);
        wd = W->d + g2_q_scale_at(W->rows, nb, r, g * GROUP);
        lane_group(q8, two, R, T, nb - g * GROUP, wq, wd, row_bytes, nb, x, xstride, a);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = a[i][j];
}

/* The tile functions and their tables: tile_fns.h's eight per weight type. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const g2_xgroup *x, size_t xstride, uint32_t g0,
                     uint32_t g1, __m512 acc[][MAX_T]);
#define TILE_FN(name, q4, two, R, T)                                                                   \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_xgroup *x, size_t xstride, uint32_t g0, \
                     uint32_t g1, __m512 acc[][MAX_T]) {                                               \
        lane_tile(!(q4), two, R, T, W, r, x, xstride, g0, g1, acc);                                    \
    }
TILE_FNS(q8, 0)
TILE_FNS(q4, 1)

/* ---- inputs prepared once ------------------------------------------------------------ */

/* A call gets one claim of rows (32 or more, lib/tensor/matmul.c), so laying out the
 * tokens in each call repeats the work for every claim of every matrix. prepare_act
 * does it once per input instead: every token's g2_xgroup, token-major, into A->tiles
 * (64-byte aligned there; G2_ACT_TILE_BYTES leaves room). */
static void *prepared_base(const g2_qact *A) { return (void *)(((uintptr_t)A->tiles + 63) & ~(uintptr_t)63); }

static int lanes_prepared(const g2_qact *A, uint32_t n_tok) { return A->tiles_tok == n_tok && A->tiles; }

static void prepare_act(g2_qact *A, uint32_t n_tok) {
    A->tiles_tok = 0;
    if (!A->tiles || n_tok == 0)
        return;
    const uint32_t ng = (uint32_t)G2_Q_GROUPS(A->nb);
    g2_xgroup *x = prepared_base(A);
    for (uint32_t t = 0; t < n_tok; t++)
        g2_xgroups(A, t, 0, ng, x + (size_t)t * ng);
    A->tiles_tok = n_tok;
}

/* ---- the calls ------------------------------------------------------------------------ */

/* Rows in batches of ROW_BATCH; per batch, tokens in tiles of up to MAX_T; per token
 * tile, groups in chunks laid out once and shared by the batch's rows, or all groups
 * as prepare_act left them; 4-row tiles on whole row sets, 1-row tiles elsewhere.
 * tiles[A->digits != 1][one row][T - 1] (tile_fns.h). */
INLINE void gemm_lanes(tile_fn *const (*tiles)[2][MAX_T], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                       const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    enum { LANE_CHUNK = 16 }; /* groups per chunk when the input is not prepared */
    tile_fn *const(*by_rows)[MAX_T] = tiles[A->digits != 1];
    g2_xgroup xq[LANE_CHUNK * MAX_T];
    __m512 acc[ROW_BATCH][MAX_T];
    const uint32_t ng = (uint32_t)G2_Q_GROUPS(W->nb);
    const int prepared = lanes_prepared(A, n_tok);
    const uint32_t chunk = prepared ? ng : LANE_CHUNK;
    for (uint32_t rb = r0; rb < r1; rb += ROW_BATCH) {
        const uint32_t re = r1 - rb < ROW_BATCH ? r1 : rb + ROW_BATCH;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t T = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            for (uint32_t g0 = 0; g0 < ng; g0 += chunk) {
                const uint32_t g1 = ng - g0 < chunk ? ng : g0 + chunk;
                const g2_xgroup *x = xq;
                size_t xstride = chunk;
                if (prepared) {
                    x = (const g2_xgroup *)prepared_base(A) + (size_t)t * ng + g0;
                    xstride = ng;
                } else {
                    for (uint32_t j = 0; j < T; j++)
                        g2_xgroups(A, t + j, g0, g1, xq + j * chunk);
                }
                for (uint32_t r = rb; r < re;) {
                    const int one = r % G2_Q_ROW_SET != 0 || re - r < MAX_R;
                    by_rows[one][T - 1](W, r, x, xstride, g0, g1, &acc[r - rb]);
                    r += one ? 1 : MAX_R;
                }
            }
            for (uint32_t j = 0; j < T; j++) {
                float *yj = y + (size_t)(t + j) * y_stride + rb;
                uint32_t i = 0;
                for (; i + 16 <= re - rb; i += 16)
                    ordered_sums16(&acc[i], j, yj + i);
                for (; i < re - rb; i++)
                    yj[i] = ordered_sum(acc[i][j]);
            }
        }
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm_lanes(q8_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm_lanes(q4_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

/* This build's table: the same functions under either name. */
#ifdef G2_AVX512_VBMI
#    define TABLE g2_kernels_avx512vbmi
#    define TABLE_NAME "avx512vbmi"
#else
#    define TABLE g2_kernels_avx512
#    define TABLE_NAME "avx512"
#endif
const g2_kernels TABLE = {.name = TABLE_NAME,
                          .quantize_act = quantize_act,
                          .gemm_q8 = gemm_q8,
                          .gemm_q4 = gemm_q4,
                          .prepare_act = prepare_act};
