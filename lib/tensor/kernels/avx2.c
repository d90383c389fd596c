/* SPDX-License-Identifier: Apache-2.0 */
/* AVX2 + FMA + F16C kernels: the function lib/tensor/quant.h defines, with the int8
 * dot products on vpmaddubsw (unsigned × signed bytes, pairs summed into int16 with
 * saturation) and vpmaddwd. Compiled with -mavx2 -mfma -mf16c; everything but the
 * table is static (STYLE.md rule 12).
 *
 * A step covers 2 blocks: 128-bit lane k of a ymm belongs to block k of the step, two
 * ymm per step: "part 0" holds elements 0..15 of each block, "part 1" elements 16..31
 * (for q4 the low and the high nibbles of the 32 packed bytes; q8 rows and the
 * activations take one lane permute per part). Products, exact in integers:
 *   q8: maddubs(|x|, w·sign(x)) per part: a pair is ≤ 2·127² = 32258 < 2^15 (the
 *       activations never hold −128, q8 weights are in [−127, 127]); vpmaddwd widens
 *       each part, and the two are added in int32;
 *   q4: maddubs(q, x) with the raw nibble q: a pair is ≤ 2·15·127, so both parts add
 *       in int16 before one vpmaddwd; the lanes then start from −8·(their 8 x).
 * Each int32 lane is the exact sum of its 8 products (Σ w·x, q4: Σ (q − 8)·x), so the
 * lanes are unbiased partial sums; A->sum is not needed. A block's 4 lanes are
 * converted to float and scaled by d_w·d_x into a float accumulator, summed across
 * lanes at the end. The per-token work (parts, |x|, start values, d_x spread to lanes)
 * is done once per chunk of blocks into a stack buffer shared by every row of the call.
 *
 * Register tile: R rows × T tokens, 4×2 at most (8 accumulators of the 16 ymm). Decode
 * (one token) runs 4×1, streaming 4 weight rows at once, and forms the scale products
 * of 8 blocks at once; prefill runs 4×2 tiles with the rows innermost. Stack use: a
 * 30 KB activation buffer per call. */
#include <immintrin.h>
#include <string.h>

#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define MAX_R 4
#define MAX_T 2

/* ---- activations ------------------------------------------------------------ */

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (as fmaxf does),
 * d = amax / 127, q = lrint(x * (127 / amax)) in the current rounding mode (the
 * default, to nearest even, as cvtps2dq), clamped to [-127, 127] after conversion (so
 * inf/NaN products convert to INT_MIN and clamp to -127 as cvtss2si does for the
 * scalar lrintf), tail zero. */
static void quantize_act(const float *x, uint32_t n, int8_t *qs, float *d, int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    const __m256 zero = _mm256_setzero_ps(), abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (uint32_t b = 0; b < nb; b++) {
        const uint32_t left = n - b * G2_QK;
        const float *p = x + (size_t)b * G2_QK;
        float tail[G2_QK];
        if (left < G2_QK) {
            memset(tail, 0, sizeof tail);
            memcpy(tail, p, left * sizeof(float));
            p = tail;
        }
        __m256 v[4], m = zero;
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(p + 8 * k);
            /* max(|v|, 0) is 0 for a NaN |v| (the second operand wins). */
            m = _mm256_max_ps(m, _mm256_max_ps(_mm256_and_ps(v[k], abs_mask), zero));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        /* below 2^-100 a block is zero: 127 / amax would overflow to inf (G2_ACT_TINY) */
        const float id = amax >= G2_ACT_TINY ? 127.0f / amax : 0.0f;
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vid));
            q[k] = _mm256_min_epi32(_mm256_max_epi32(q[k], lo), hi);
        }
        /* The values fit, so the saturating packs are exact; the permute undoes their
         * per-lane interleave. */
        const __m256i q8 = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])), order);
        _mm256_storeu_si256((__m256i *)(qs + (size_t)b * G2_QK), q8);
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        sum[b] = _mm_cvtsi128_si32(s4);
    }
}

/* ---- matrix kernels --------------------------------------------------------------- */

#define STEP 2         /* blocks per step */
#define XBUF_STEPS 160 /* token-steps in the buffer: 160 × 192 B = 30 KB */

/* One token's step: parts, their |x| (q8), the int32 start values (q4: −8 · each
 * lane's 8 x), and d_x spread to each block's 4 lanes. */
typedef struct xstep {
    __m256i x0, x1, a0, a1, corr;
    __m256 dx;
} xstep;

/* Two one-block vectors [b0], [b1] → parts [b0 0..15 | b1 0..15], [b0 16..31 | b1 16..31]. */
INLINE void split_parts(__m256i a, __m256i b, __m256i *p0, __m256i *p1) {
    *p0 = _mm256_permute2x128_si256(a, b, 0x20);
    *p1 = _mm256_permute2x128_si256(a, b, 0x31);
}

/* [v0 × 4, v1 × 4] from v's first two floats. */
INLINE __m256 spread2(__m128 v) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
}

/* Tokens [t, t+T) × blocks [c0, c1) → xb[s * T + j]. */
static void prep_x(const g2_qact *A, uint32_t t, uint32_t T, uint32_t c0, uint32_t c1, int q4, xstep *xb) {
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (uint32_t j = 0; j < T; j++) {
        const int8_t *xq = A->qs + (size_t)(t + j) * A->nb * G2_QK;
        const float *xd = A->d + (size_t)(t + j) * A->nb;
        uint32_t s = 0;
        for (uint32_t b = c0; b < c1; b += STEP, s++) {
            const int two = c1 - b >= STEP;
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(xq + (size_t)b * G2_QK));
            const __m256i v1 = two ? _mm256_loadu_si256((const __m256i *)(xq + (size_t)b * G2_QK + 32))
                                   : _mm256_setzero_si256();
            xstep *o = &xb[s * T + j];
            split_parts(v0, v1, &o->x0, &o->x1);
            o->a0 = _mm256_abs_epi8(o->x0);
            o->a1 = _mm256_abs_epi8(o->x1);
            const __m256i s16 =
                _mm256_add_epi16(_mm256_maddubs_epi16(eight, o->x0), _mm256_maddubs_epi16(eight, o->x1));
            o->corr = q4 ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(s16, ones))
                         : _mm256_setzero_si256();
            o->dx = spread2(_mm_setr_ps(xd[b], two ? xd[b + 1] : 0.0f, 0.0f, 0.0f));
        }
    }
}

/* Row data of one step at p → parts: q4 unsigned nibbles, q8 signed weights. */
INLINE void load_w(int q4, const uint8_t *p, __m256i *w0, __m256i *w1) {
    if (q4) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)p), m = _mm256_set1_epi8(0x0F);
        *w0 = _mm256_and_si256(v, m);
        *w1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    } else {
        split_parts(_mm256_loadu_si256((const __m256i *)p), _mm256_loadu_si256((const __m256i *)(p + 32)), w0,
                    w1);
    }
}

/* acc += (the pair's integer step sums as floats) · scale. */
INLINE __m256 pair(int q4, __m256 acc, __m256i w0, __m256i w1, const xstep *x, __m256 scale) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i dot;
    if (q4) {
        const __m256i s16 =
            _mm256_add_epi16(_mm256_maddubs_epi16(w0, x->x0), _mm256_maddubs_epi16(w1, x->x1));
        dot = _mm256_add_epi32(_mm256_madd_epi16(s16, ones), x->corr);
    } else {
        dot = _mm256_add_epi32(
            _mm256_madd_epi16(_mm256_maddubs_epi16(x->a0, _mm256_sign_epi8(w0, x->x0)), ones),
            _mm256_madd_epi16(_mm256_maddubs_epi16(x->a1, _mm256_sign_epi8(w1, x->x1)), ones));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
}

/* One full step of an R×T tile: row i's 2 blocks at wq + i·wq_stride (quants) and wd + i·wd_stride
 * (scales),
 * token j's prepared step at xs[j]. */
INLINE void tile_step(__m256 acc[MAX_R][MAX_T], int q4, int R, int T, const uint8_t *wq, size_t wq_stride,
                      const uint16_t *wd, size_t wd_stride, const xstep *xs) {
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        /* Read the token data from memory rather than let the compiler hoist it into
         * registers and spill them. */
        __asm__ volatile("" ::: "memory");
        __m256i w0, w1;
        load_w(q4, wq + i * wq_stride, &w0, &w1);
        uint32_t h;
        memcpy(&h, wd + i * wd_stride, sizeof h);
        const __m256 dw = spread2(_mm_cvtph_ps(_mm_cvtsi32_si128((int)h)));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = pair(q4, acc[i][j], w0, w1, &xs[j], _mm256_mul_ps(dw, xs[j].dx));
    }
}

/* Four steps (8 blocks) of an R×1 tile, for decode: the 8 scale products d_w·d_x of a
 * row are formed at once (xd: the token's d at the first block), then each step picks
 * its 2 with one permute. */
INLINE void tile_quad_t1(__m256 acc[MAX_R][MAX_T], int q4, int R, const uint8_t *wq, size_t wq_stride,
                         const uint16_t *wd, size_t wd_stride, const xstep *xs, const float *xd) {
    const size_t qstep = STEP * (q4 ? G2_QK / 2 : G2_QK);
    const __m256 dx = _mm256_loadu_ps(xd);
    __m256 p[MAX_R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        p[i] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + i * wd_stride))), dx);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m256i idx =
            _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256i w0, w1;
            load_w(q4, wq + i * wq_stride + k * qstep, &w0, &w1);
            acc[i][0] = pair(q4, acc[i][0], w0, w1, &xs[k], _mm256_permutevar8x32_ps(p[i], idx));
        }
    }
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Rows [r, r+R) × the T tokens prepared in xb over blocks [c0, c1); y (token 0's row
 * 0 at y[r]) is set (first chunk) or added to; xd: the first token's d at block 0. A
 * ragged last step runs on zero-padded copies of the rows' last blocks. */
INLINE void tile(int q4, int R, int T, const g2_qmatrix *W, uint32_t r, const xstep *xb, const float *xd,
                 uint32_t c0, uint32_t c1, float *y, size_t y_stride, int first) {
    const size_t qblk = q4 ? G2_QK / 2 : G2_QK;
    __m256 acc[MAX_R][MAX_T];
    size_t wq_stride = (size_t)W->nb * qblk, wd_stride = W->nb;
    const uint8_t *wq = (const uint8_t *)W->qs + ((size_t)r * W->nb + c0) * qblk;
    const uint16_t *wd = W->d + (size_t)r * W->nb + c0;
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm256_setzero_ps();
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
            const float v = hsum(acc[i][j]);
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
TILE_FN(q8_4x2, 0, 4, 2)
TILE_FN(q8_4x1, 0, 4, 1)
TILE_FN(q8_1x2, 0, 1, 2)
TILE_FN(q8_1x1, 0, 1, 1)
TILE_FN(q4_4x2, 1, 4, 2)
TILE_FN(q4_4x1, 1, 4, 1)
TILE_FN(q4_1x2, 1, 1, 2)
TILE_FN(q4_1x1, 1, 1, 1)

/* Tokens in tiles of up to 2; blocks in chunks whose prepared activations fill the
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
        const uint32_t chunk = XBUF_STEPS / T / 4 * 4 * STEP; /* blocks, a multiple of the quad */
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
    static tile_fn *const tiles[2][MAX_T] = {{q8_4x1, q8_4x2}, {q8_1x1, q8_1x2}};
    gemm(0, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[2][MAX_T] = {{q4_4x1, q4_4x2}, {q4_1x1, q4_1x2}};
    gemm(1, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

const g2_kernels g2_kernels_avx2 = {
    .name = "avx2", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
