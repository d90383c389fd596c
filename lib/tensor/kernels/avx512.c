/* SPDX-License-Identifier: Apache-2.0 */
/* AVX-512 (F/BW/VL/VNNI) kernels: the function lib/tensor/quant.h defines, with the
 * int8 dot products on vpdpbusd. Compiled with -mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni -mf16c -mfma; everything but the table is static (STYLE.md rule 12).
 *
 * vpdpbusd multiplies unsigned by signed bytes, so both weight types are fed to it as
 * unsigned u = w + off, and the offset is taken out again lane by lane:
 *   q8: u = w + 128 (w XOR 0x80),  q4: u = q = (q − 8) + 8 (the raw nibble);
 *   each int32 lane starts from −off·(the 8 activation bytes it will meet), computed
 *   once per token with vpdpbusd against the constant off, so after its two vpdpbusd
 *   a lane holds the exact Σ w·x (q4: Σ (q − 8)·x) of its 8 products.
 * The lanes are unbiased partial sums (no large offset cancelling across lanes in
 * float), and A->sum is not needed.
 *
 * Register tile: R rows × T tokens, 4×4 at most (16 accumulators). The weights are
 * loaded and unpacked once per row and step for the T tokens; the token side is
 * prepared once per call and chunk of blocks for all rows (see below). Decode (one
 * token) runs 4×1 tiles, streaming 4 weight rows at once; prefill runs 4×4 tiles.
 * Stack use: a 32 KB activation buffer per call. */
#include <immintrin.h>
#include <string.h>

#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 4

/* ---- activations ------------------------------------------------------------ */

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (as fmaxf does),
 * d = amax / 127, q = lrint(x * (127 / amax)) in the current rounding mode (the
 * default, to nearest even, as cvtps2dq), clamped to [-127, 127] after conversion (so
 * inf/NaN products convert to INT_MIN and clamp to -127 as cvtss2si does for the
 * scalar lrintf), tail zero. */
static void quantize_act(const float *x, uint32_t n, int8_t *qs, float *d, int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (uint32_t b = 0; b < nb; b++) {
        const uint32_t left = n - b * G2_QK;
        __m512 v0, v1;
        if (left >= G2_QK) {
            v0 = _mm512_loadu_ps(x + (size_t)b * G2_QK);
            v1 = _mm512_loadu_ps(x + (size_t)b * G2_QK + 16);
        } else {
            const uint32_t k0 = left < 16 ? left : 16, k1 = left - k0;
            v0 = _mm512_maskz_loadu_ps((__mmask16)((1u << k0) - 1), x + (size_t)b * G2_QK);
            v1 = _mm512_maskz_loadu_ps((__mmask16)((1u << k1) - 1), x + (size_t)b * G2_QK + 16);
        }
        /* max(|v|, 0) returns 0 for a NaN |v| (the second operand wins). */
        __m512 m =
            _mm512_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), zero), _mm512_max_ps(_mm512_abs_ps(v1), zero));
        const float amax = _mm512_reduce_max_ps(m);
        /* below 2^-100 a block is zero: 127 / amax would overflow to inf (G2_ACT_TINY) */
        const float id = amax >= G2_ACT_TINY ? 127.0f / amax : 0.0f;
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        q0 = _mm512_min_epi32(_mm512_max_epi32(q0, lo), hi);
        q1 = _mm512_min_epi32(_mm512_max_epi32(q1, lo), hi);
        sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        _mm_storeu_si128((__m128i *)(qs + (size_t)b * G2_QK), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(qs + (size_t)b * G2_QK + 16), _mm512_cvtepi32_epi8(q1));
    }
}

/* ---- matrix kernels ---------------------------------------------------------------
 * A step covers 4 blocks. Weights and activations are both arranged so that 128-bit
 * lane k of a zmm belongs to block k of the step, two zmm per step: "part 0" holds
 * elements 0..15 of each block, "part 1" elements 16..31. For q4 that is just the low
 * and the high nibbles of the 64 packed bytes; q8 rows and the activations take two
 * lane shuffles. Then two vpdpbusd sum a whole step into one zmm with 4 int32 lanes
 * per block, so each pair (row, token) costs per step: 2 vpdpbusd, 1 convert, 1 scale
 * multiply, 1 FMA for 128 multiply-adds. The per-token work (shuffles, the −off·Σx
 * start values, d_x spread to lanes) is done once per chunk of blocks into a stack
 * buffer and shared by every row of the call. */

#define STEP 4         /* blocks per step */
#define XBUF_STEPS 128 /* token-steps in the buffer: 128 × 256 B = 32 KB */

/* Int32 → float without vcvtdq2ps (which shares its port with vpdpbusd): the lanes
 * start from the bits of 1.5·2^23, so for |sum| < 2^22 (here ≤ 8·128·127) the lane
 * read as a float is exactly 1.5·2^23 + sum, and one subtraction leaves the sum. */
#define MAGIC 12582912.0f
#define MAGIC_BITS 0x4B400000

/* One token's step, ready for the pairs: x parts, vpdpbusd start (per lane,
 * MAGIC_BITS − off · its 8 x bytes), and d_x spread to each block's 4 lanes. */
typedef struct xstep {
    __m512i x0, x1, corr;
    __m512 dx;
} xstep;

/* Byte masks of the first n bytes of a 64-byte (part) load. */
INLINE __mmask64 bytes_lo(uint32_t n) { return n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1; }
INLINE __mmask64 bytes_hi(uint32_t n) { return n <= 64 ? 0 : bytes_lo(n - 64); }

/* Lanes 4k..4k+3 of the result ← v[k]: a step's per-block values to its lanes. */
INLINE __m512 spread4(__m128 v) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v));
}

/* 128 bytes of two-block vectors [b0 | b1], [b2 | b3] → parts 0 and 1. */
INLINE void split_parts(__m512i a, __m512i b, __m512i *p0, __m512i *p1) {
    *p0 = _mm512_shuffle_i64x2(a, b, 0x88); /* lanes a0 a2 b0 b2 */
    *p1 = _mm512_shuffle_i64x2(a, b, 0xDD); /* lanes a1 a3 b1 b3 */
}

/* Tokens [t, t+T) × blocks [c0, c1) → xb[s * T + j]. */
static void prep_x(const g2_qact *A, uint32_t t, uint32_t T, uint32_t c0, uint32_t c1, int q4, xstep *xb) {
    const __m512i off = _mm512_set1_epi8(q4 ? 8 : (char)0x80), zero = _mm512_setzero_si512();
    const __m512i magic = _mm512_set1_epi32(MAGIC_BITS);
    for (uint32_t j = 0; j < T; j++) {
        const int8_t *xq = A->qs + (size_t)(t + j) * A->nb * G2_QK;
        const float *xd = A->d + (size_t)(t + j) * A->nb;
        uint32_t s = 0;
        for (uint32_t b = c0; b < c1; b += STEP, s++) {
            const uint32_t n = c1 - b < STEP ? c1 - b : STEP;
            __m512i a, bb;
            __m128 d;
            if (n == STEP) {
                a = _mm512_loadu_si512(xq + (size_t)b * G2_QK);
                bb = _mm512_loadu_si512(xq + (size_t)b * G2_QK + 64);
                d = _mm_loadu_ps(xd + b);
            } else {
                a = _mm512_maskz_loadu_epi8(bytes_lo(n * G2_QK), xq + (size_t)b * G2_QK);
                bb = _mm512_maskz_loadu_epi8(bytes_hi(n * G2_QK), xq + (size_t)b * G2_QK + 64);
                d = _mm_maskz_loadu_ps((__mmask8)((1u << n) - 1), xd + b);
            }
            xstep *o = &xb[s * T + j];
            split_parts(a, bb, &o->x0, &o->x1);
            o->corr = _mm512_sub_epi32(
                magic, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, off, o->x0), off, o->x1));
            o->dx = spread4(d);
        }
    }
}

/* Row data of one step at p → parts 0 and 1 as unsigned bytes. */
INLINE void load_w(int q4, const uint8_t *p, __m512i *w0, __m512i *w1) {
    if (q4) {
        const __m512i v = _mm512_loadu_si512(p), m = _mm512_set1_epi8(0x0F);
        *w0 = _mm512_and_si512(v, m);
        *w1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    } else {
        const __m512i sign = _mm512_set1_epi8((char)0x80);
        split_parts(_mm512_xor_si512(_mm512_loadu_si512(p), sign),
                    _mm512_xor_si512(_mm512_loadu_si512(p + 64), sign), w0, w1);
    }
}

/* acc += (the pair's integer step sums, exactly as floats) · scales. */
INLINE __m512 pair(__m512 acc, __m512i w0, __m512i w1, const xstep *x, __m512 scale) {
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(x->corr, w0, x->x0), w1, x->x1);
    return _mm512_fmadd_ps(_mm512_sub_ps(_mm512_castsi512_ps(dot), _mm512_set1_ps(MAGIC)), scale, acc);
}

/* One full step of an R×T tile: row i's 4 blocks at wq + i·wq_stride (quants) and wd + i·wd_stride
 * (scales),
 * token j's prepared step at xs[j]. */
INLINE void tile_step(__m512 acc[MAX_R][MAX_T], int q4, int R, int T, const uint8_t *wq, size_t wq_stride,
                      const uint16_t *wd, size_t wd_stride, const xstep *xs) {
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        /* Read the token data from memory (operands of vpdpbusd and vmulps) rather
         * than let the compiler hoist 4·T vectors into registers and spill them. */
        __asm__ volatile("" ::: "memory");
        __m512i w0, w1;
        load_w(q4, wq + i * wq_stride, &w0, &w1);
        const __m512 dw = spread4(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(wd + i * wd_stride))));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = pair(acc[i][j], w0, w1, &xs[j], _mm512_mul_ps(dw, xs[j].dx));
    }
}

/* Four steps (16 blocks) of an R×1 tile, for decode: the 16 scale products d_w·d_x of
 * a row are formed at once (xd: the token's d at the first block), then each step
 * picks its 4 with one permute. */
INLINE void tile_quad_t1(__m512 acc[MAX_R][MAX_T], int q4, int R, const uint8_t *wq, size_t wq_stride,
                         const uint16_t *wd, size_t wd_stride, const xstep *xs, const float *xd) {
    const size_t qstep = STEP * (q4 ? G2_QK / 2 : G2_QK);
    const __m512 dx = _mm512_loadu_ps(xd);
    __m512 p[MAX_R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        p[i] = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wd + i * wd_stride))), dx);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512i idx = _mm512_set_epi32(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 2, 4 * k + 2,
                                             4 * k + 2, 4 * k + 2, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                                             4 * k, 4 * k, 4 * k, 4 * k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512i w0, w1;
            load_w(q4, wq + i * wq_stride + k * qstep, &w0, &w1);
            acc[i][0] = pair(acc[i][0], w0, w1, &xs[k], _mm512_permutexvar_ps(idx, p[i]));
        }
    }
}

/* Rows [r, r+R) × the T tokens prepared in xb over blocks [c0, c1); y (token 0's row
 * 0 at y[r]) is set (first chunk) or added to; xd: the first token's d at block 0. A
 * ragged last step runs on zero-padded copies of the rows' last blocks, so the loops
 * have no masks. */
INLINE void tile(int q4, int R, int T, const g2_qmatrix *W, uint32_t r, const xstep *xb, const float *xd,
                 uint32_t c0, uint32_t c1, float *y, size_t y_stride, int first) {
    const size_t qblk = q4 ? G2_QK / 2 : G2_QK;
    __m512 acc[MAX_R][MAX_T];
    size_t wq_stride = (size_t)W->nb * qblk, wd_stride = W->nb;
    const uint8_t *wq = (const uint8_t *)W->qs + ((size_t)r * W->nb + c0) * qblk;
    const uint16_t *wd = W->d + (size_t)r * W->nb + c0;
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_ps();
    uint32_t b = c0;
    if (T == 1)
        for (; b + 4 * STEP <= c1; b += 4 * STEP, xb += 4, wq += 4 * STEP * qblk, wd += 4 * STEP)
            tile_quad_t1(acc, q4, R, wq, wq_stride, wd, wd_stride, xb, xd + b);
    for (; b + STEP <= c1; b += STEP, xb += T, wq += STEP * qblk, wd += STEP)
        tile_step(acc, q4, R, T, wq, wq_stride, wd, wd_stride, xb);
    if (b < c1) {
        _Alignas(64) uint8_t pq[MAX_R][STEP * G2_QK];
        uint16_t pd[MAX_R][STEP];
        const uint32_t n = c1 - b;
        for (int i = 0; i < R; i++) {
            memset(pq[i], q4 ? 0x88 : 0, sizeof pq[i]); /* weight 0 */
            memset(pd[i], 0, sizeof pd[i]);
            memcpy(pq[i], wq + i * wq_stride, n * qblk);
            memcpy(pd[i], wd + i * wd_stride, n * sizeof(uint16_t));
        }
        tile_step(acc, q4, R, T, &pq[0][0], sizeof pq[0], &pd[0][0], STEP, xb);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            float *out = &y[(size_t)j * y_stride + r + i];
            const float v = _mm512_reduce_add_ps(acc[i][j]);
            *out = first ? v : *out + v;
        }
}

/* One function per tile shape, so each is compiled with its loops unrolled. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const xstep *xb, const float *xd, uint32_t c0,
                     uint32_t c1, float *y, size_t y_stride, int first);
#define TILE_FN(name, q4, R, T)                                                                      \
    static void name(const g2_qmatrix *W, uint32_t r, const xstep *xb, const float *xd, uint32_t c0, \
                     uint32_t c1, float *y, size_t ys, int first) {                                  \
        tile(q4, R, T, W, r, xb, xd, c0, c1, y, ys, first);                                          \
    }
TILE_FN(q8_4x4, 0, 4, 4)
TILE_FN(q8_4x3, 0, 4, 3)
TILE_FN(q8_4x2, 0, 4, 2)
TILE_FN(q8_4x1, 0, 4, 1)
TILE_FN(q8_1x4, 0, 1, 4)
TILE_FN(q8_1x3, 0, 1, 3)
TILE_FN(q8_1x2, 0, 1, 2)
TILE_FN(q8_1x1, 0, 1, 1)
TILE_FN(q4_4x4, 1, 4, 4)
TILE_FN(q4_4x3, 1, 4, 3)
TILE_FN(q4_4x2, 1, 4, 2)
TILE_FN(q4_4x1, 1, 4, 1)
TILE_FN(q4_1x4, 1, 1, 4)
TILE_FN(q4_1x3, 1, 1, 3)
TILE_FN(q4_1x2, 1, 1, 2)
TILE_FN(q4_1x1, 1, 1, 1)

/* Tokens in tiles of up to 4; blocks in chunks whose prepared activations fill the
 * buffer; rows in tiles of 4 (1 at a ragged end) innermost, so one preparation serves
 * the whole row range. tiles[0][T - 1]: 4-row tiles, tiles[1][T - 1]: 1-row tiles. */
static void gemm(int q4, tile_fn *const tiles[2][MAX_T], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                 const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    xstep xb[XBUF_STEPS];
    const uint32_t nb = W->nb;
    if (r0 >= r1)
        return;
    for (uint32_t t = 0; t < n_tok; t += MAX_T) {
        const uint32_t T = n_tok - t < MAX_T ? n_tok - t : MAX_T;
        const uint32_t chunk = XBUF_STEPS / T * STEP; /* blocks */
        for (uint32_t c0 = 0; c0 < nb; c0 += chunk) {
            const uint32_t c1 = nb - c0 < chunk ? nb : c0 + chunk;
            prep_x(A, t, T, c0, c1, q4, xb);
            for (uint32_t r = r0; r < r1;) {
                const int one = r1 - r < MAX_R;
                tiles[one][T - 1](W, r, xb, A->d + (size_t)t * A->nb, c0, c1, y + (size_t)t * y_stride,
                                  y_stride, c0 == 0);
                r += one ? 1 : MAX_R;
            }
        }
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[2][MAX_T] = {{q8_4x1, q8_4x2, q8_4x3, q8_4x4},
                                             {q8_1x1, q8_1x2, q8_1x3, q8_1x4}};
    gemm(0, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[2][MAX_T] = {{q4_4x1, q4_4x2, q4_4x3, q4_4x4},
                                             {q4_1x1, q4_1x2, q4_1x3, q4_1x4}};
    gemm(1, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_avx512 = {
    .name = "avx512", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
