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
 * q8: a step covers 4 blocks: 128-bit lane k of a zmm belongs to block k of the step,
 * two zmm per operand: "part 0" holds elements 0..15 of each block, "part 1" 16..31
 * (rows and activations take two lane shuffles). Per (row, token) pair a step costs 4
 * vpdpbusd (hi and lo digits × two parts) and a shift: lane = 256·Σu·hi + Σu·lo over
 * its 8 elements, exact. With one-digit activations (lo all zero, A->digits == 1) the
 * lo products are skipped, and the shift is done once per group, after the lanes are
 * summed (the same integers). Four steps make a group of 16 blocks. Their 4 lane
 * vectors are summed per block with a transposed integer reduction, leaving lane 4k+s
 * = block 4s+k of the group; one convert and one FMA with the scales d_w·d_x (permuted
 * the same way) add the 16 blocks to the float accumulator, whose lane 4k+s is thus
 * the canonical lane 4s+k (b % 16). At the end the accumulator is permuted back and
 * summed by the canonical tree.
 *
 * q4 rows are stored in lane order (quant.h): a 64-byte run holds the same 4 bytes of
 * 16 blocks, one 32-bit lane per block, and the activations are laid out to match
 * (g2_xgroup), so vpdpbusd sums whole blocks per lane and a group needs no
 * reduction and no permute (below, "q4: one 32-bit lane per block").
 *
 * The per-token work (q8 parts, the −128·sum corrections and d_x in group order; q4
 * groups) is done once per chunk of blocks into a stack buffer shared by every row of
 * the call, or once per input by prepare_act; float accumulators carry across chunks
 * in a small buffer. Register tile: R rows × T tokens, 4×2 at most. Stack use: about
 * 40 KB per call. */
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

#define STEP 4                       /* blocks per step */
#define GROUP 16                     /* blocks per group (= G2_ACC_LANES) */
#define CHUNK_GROUPS 16              /* groups per prepared chunk: 256 blocks */
#define ROW_BATCH 32                 /* rows whose accumulators are kept across chunks */
#define CHUNK (CHUNK_GROUPS * GROUP) /* blocks */

_Static_assert(GROUP == G2_ACC_LANES && GROUP == 4 * STEP, "a group is the canonical lane count");
_Static_assert(G2_ACT_LO_WEIGHT == 256, "the digits combine with a shift by 8");

/* One token's step: the hi and lo digits, parts 0 and 1. */
typedef struct xstep {
    __m512i h0, h1, l0, l1;
} xstep;

/* One token's group: d_x and −128·sum in lane order (lane 4k+s = block 4s+k). */
typedef struct xgroup {
    __m512 dx;
    __m512i corr;
} xgroup;

/* Lane 4k+s ← lane 4s+k: group order ↔ block order (its own inverse). */
INLINE __m512i transpose_idx(void) {
    return _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
}

/* Byte masks of the first n bytes of a 64-byte (part) load. */
INLINE __mmask64 bytes_lo(uint32_t n) { return n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1; }
INLINE __mmask64 bytes_hi(uint32_t n) { return n <= 64 ? 0 : bytes_lo(n - 64); }
INLINE __mmask16 first16(uint32_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* 128 bytes of two-block vectors [b0 | b1], [b2 | b3] → parts 0 and 1. */
INLINE void split_parts(__m512i a, __m512i b, __m512i *p0, __m512i *p1) {
    *p0 = _mm512_shuffle_i64x2(a, b, 0x88); /* lanes a0 a2 b0 b2 */
    *p1 = _mm512_shuffle_i64x2(a, b, 0xDD); /* lanes a1 a3 b1 b3 */
}

/* Blocks [b, b + n) of one digit array → parts (zero past n). */
INLINE void load_parts(const int8_t *q, uint32_t b, uint32_t n, __m512i *p0, __m512i *p1) {
    __m512i a, c;
    if (n == STEP) {
        a = _mm512_loadu_si512(q + (size_t)b * G2_QK);
        c = _mm512_loadu_si512(q + (size_t)b * G2_QK + 64);
    } else {
        a = _mm512_maskz_loadu_epi8(bytes_lo(n * G2_QK), q + (size_t)b * G2_QK);
        c = _mm512_maskz_loadu_epi8(bytes_hi(n * G2_QK), q + (size_t)b * G2_QK + 64);
    }
    split_parts(a, c, p0, p1);
}

/* Tokens [t, t+T) × blocks [c0, c1) (c0 a multiple of GROUP) → xs[s * T + j] and
 * xg[g * T + j], zero past c1. */
static void prep_x(const g2_qact *A, uint32_t t, uint32_t T, uint32_t c0, uint32_t c1, xstep *xs,
                   xgroup *xg) {
    const __m512i idx = transpose_idx();
    for (uint32_t j = 0; j < T; j++) {
        const size_t at = (size_t)(t + j) * A->nb;
        uint32_t s = 0;
        for (uint32_t b = c0; b < c1; b += STEP, s++) {
            const uint32_t n = c1 - b < STEP ? c1 - b : STEP;
            xstep *o = &xs[s * T + j];
            load_parts(A->qs + at * G2_QK, b, n, &o->h0, &o->h1);
            if (A->digits != 1)
                load_parts(A->ql + at * G2_QK, b, n, &o->l0, &o->l1);
        }
        uint32_t g = 0;
        for (uint32_t b = c0; b < c1; b += GROUP, g++) {
            const __mmask16 m = first16(c1 - b);
            const __m512 dx = _mm512_maskz_loadu_ps(m, A->d + at + b);
            const __m512i sum = _mm512_maskz_loadu_epi32(m, A->sum + at + b);
            xg[g * T + j].dx = _mm512_permutexvar_ps(idx, dx);
            xg[g * T + j].corr = _mm512_permutexvar_epi32(
                idx, _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sum), 7));
        }
    }
}

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

/* One q8 row's step at p → parts 0 and 1 as unsigned bytes u = w + 128; only the
 * first n (1..4) blocks are read, the rest taken as zero bytes (the activations there
 * are zero, so any weight gives 0). */
INLINE void load_w(const uint8_t *p, uint32_t n, __m512i *w0, __m512i *w1) {
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    const __m512i a = n == STEP ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(bytes_lo(n * G2_QK), p);
    const __m512i b =
        n == STEP ? _mm512_loadu_si512(p + 64) : _mm512_maskz_loadu_epi8(bytes_hi(n * G2_QK), p + 64);
    split_parts(_mm512_xor_si512(a, sign), _mm512_xor_si512(b, sign), w0, w1);
}

/* A pair's step: per lane 256·Σu·hi + Σu·lo over its 8 elements; with one digit only
 * Σu·hi (group shifts the group's sums instead). */
INLINE __m512i pair_step(int two, __m512i w0, __m512i w1, const xstep *x) {
    const __m512i h = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, x->h0), w1, x->h1);
    if (!two)
        return h;
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(h, 8), w0, x->l0), w1, x->l1);
}

/* Steps s0..s3 of a group → lane 4k+s = the sum of block k of step s (exact). */
INLINE __m512i group_sums(__m512i s0, __m512i s1, __m512i s2, __m512i s3) {
    const __m512i p = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
    const __m512i q = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(p, q), _mm512_unpackhi_epi64(p, q));
}

/* The canonical tree over the 16 lanes of an accumulator in block order. */
INLINE float ordered_sum(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* The same over an accumulator in group order. */
INLINE float canonical_sum(__m512 acc) { return ordered_sum(_mm512_permutexvar_ps(transpose_idx(), acc)); }

/* One group of an R×T tile: its first nblk (1..16) blocks of row data at wq (row i at
 * wq + i·stride; steps past nblk are zero), scales at wd (row i at wd + i·wd_stride);
 * token j's steps at x[s·T + j], its group data at xg[j]. Adds the group to the float
 * accumulators a. Decode (T = 1, 4 rows) also prefetches the rows of a tile ahead:
 * the next one for q8, the one after for q4, whose rows are half as long (so the
 * distance is about 9 KB at the 2B model's 2304 columns either way; measured, q4 decode
 * reads ~10% faster than with the next tile, q8 no faster with two). One prefetch per
 * row and step, one line (q4) or two (q8): a second one for q4 only repeated the next
 * step's, and without it q4 decode read 1-9% faster in alternating runs. The rows'
 * scales (a separate array, 1/8 of q4's bytes) are prefetched the same distance
 * ahead, once per group: 1-9% faster again, q4 and q8. Each row step is prefetched a
 * second time twice as far ahead: alone, a longer distance did not help, but the two
 * together read 4-5% faster in the kernel alone (q4 and q8, 8 alternating runs each)
 * and decode 2-4% nearer the roofline (docs/performance.md). */
INLINE void group(int two, int R, int T, uint32_t nblk, const uint8_t *wq, size_t stride, const uint16_t *wd,
                  size_t wd_stride, const xstep *x, const xgroup *xg, __m512 a[MAX_R][MAX_T]) {
    const size_t qstep = STEP * G2_QK;
    __m512i sums[MAX_R][MAX_T][STEP];
#pragma GCC unroll 4
    for (int s = 0; s < STEP; s++) {
        const uint32_t n = nblk >= (uint32_t)(s + 1) * STEP ? STEP
                           : nblk > (uint32_t)s * STEP      ? nblk % STEP
                                                            : 0;
        /* T = 1 (decode): the token's step is loaded once into registers for the R rows,
         * and each row's weights once (not again as the shift's memory operand). Zen 4
         * issues one 512-bit load per cycle, and with memory operands a row's step took
         * four; q4 tiles on data in L2 ran about 6% faster (median of 7 alternating
         * pairs, 0.99-1.12), q8 2-3% (docs/performance-results.md, section 2). */
        xstep xl;
        if (T == 1 && n) {
            __asm__ volatile("" ::: "memory");
            xl.h0 = x[s].h0, xl.h1 = x[s].h1;
            __asm__("" : "+v"(xl.h0), "+v"(xl.h1));
            if (two) {
                xl.l0 = x[s].l0, xl.l1 = x[s].l1;
                __asm__("" : "+v"(xl.l0), "+v"(xl.l1));
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            if (n == 0) {
#pragma GCC unroll 4
                for (int j = 0; j < T; j++)
                    sums[i][j][s] = _mm512_setzero_si512();
                continue;
            }
            /* T = 2: read the token data from memory (operands of vpdpbusd) rather than
             * let the compiler hoist 4·T vectors into registers and spill them. */
            if (T != 1)
                __asm__ volatile("" ::: "memory");
            const uint8_t *p = wq + i * stride + s * qstep;
            __m512i w0, w1;
            load_w(p, n, &w0, &w1);
            if (T == 1 && R == MAX_R) {
                const size_t ahead = MAX_R * stride, far = 2 * ahead;
                _mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
                _mm_prefetch((const char *)(p + ahead + 64), _MM_HINT_T1);
                _mm_prefetch((const char *)(p + far), _MM_HINT_T2);
                _mm_prefetch((const char *)(p + far + 64), _MM_HINT_T2);
            }
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                sums[i][j][s] = pair_step(two, w0, w1, T == 1 ? &xl : &x[s * T + j]);
        }
    }
    const __m512i idx = transpose_idx();
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const __m256i h = nblk == GROUP ? _mm256_loadu_si256((const __m256i *)(wd + i * wd_stride))
                                        : _mm256_maskz_loadu_epi16(first16(nblk), wd + i * wd_stride);
        const __m512 dw = _mm512_permutexvar_ps(idx, _mm512_cvtph_ps(h));
        if (T == 1 && R == MAX_R) /* the same row's scales, as far ahead as its weights */
            _mm_prefetch((const char *)(wd + (i + MAX_R) * wd_stride), _MM_HINT_T1);
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            __m512i g = group_sums(sums[i][j][0], sums[i][j][1], sums[i][j][2], sums[i][j][3]);
            if (!two)
                g = _mm512_slli_epi32(g, 8);
            const __m512i isum = _mm512_add_epi32(g, xg[j].corr);
            a[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, xg[j].dx), a[i][j]);
        }
    }
}

/* Rows [r, r+R) × the T tokens prepared in xs/xg over blocks [c0, c1): acc[i][j] holds
 * the pair's float accumulator, carried across chunks. A ragged last group reads its
 * rows with masked loads. */
INLINE void tile(int two, int R, int T, const g2_qmatrix *W, uint32_t r, const xstep *xs, const xgroup *xg,
                 uint32_t c0, uint32_t c1, __m512 acc[][MAX_T]) {
    const size_t qblk = G2_QK, stride = (size_t)W->nb * qblk;
    const uint8_t *wq = (const uint8_t *)W->qs + ((size_t)r * W->nb + c0) * qblk;
    const uint16_t *wd = W->d + (size_t)r * W->nb + c0;
    __m512 a[MAX_R][MAX_T];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            a[i][j] = acc[i][j];
    uint32_t g0 = c0;
    for (; g0 + GROUP <= c1; g0 += GROUP, wq += GROUP * qblk, wd += GROUP, xs += GROUP / STEP * T, xg += T)
        group(two, R, T, GROUP, wq, stride, wd, W->nb, xs, xg, a);
    if (g0 < c1)
        group(two, R, T, c1 - g0, wq, stride, wd, W->nb, xs, xg, a);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = a[i][j];
}

/* The tile functions and their tables (tile_fns.h). */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const xstep *xs, const xgroup *xg, uint32_t c0,
                     uint32_t c1, __m512 acc[][MAX_T]);
#define TILE_FN(name, q4, two, R, T)                                                                  \
    static void name(const g2_qmatrix *W, uint32_t r, const xstep *xs, const xgroup *xg, uint32_t c0, \
                     uint32_t c1, __m512 acc[][MAX_T]) {                                              \
        tile(two, R, T, W, r, xs, xg, c0, c1, acc);                                                   \
    }
TILE_FNS(q8, 0)

/* ---- q4: one 32-bit lane per block ------------------------------------------------ */

/* A q4 group's 4 runs of bytes (lib/tensor/quant.h: run i holds bytes 4i..4i+3 of
 * each block, lane k = block k) meet the activations in the same order
 * (g2_xgroup): per run, vpdpbusd of the low nibbles' levels with hi[i] and of the
 * high ones' with hi[4 + i] (lo[...] for two digits) adds whole blocks per lane. After
 * the 4 runs lane k is block k's 256·Σu·hi + Σu·lo exactly, so the −128·sum
 * correction, one convert and one FMA add the group in the canonical lane order: no
 * transposing reduction and no permutes (about 26 vector instructions per row and
 * group of 16 blocks against 36 in block order). Decode keeps two integer
 * accumulators per row (low and high nibbles), shortening the vpdpbusd chains. */

/* One group of m (1..16) blocks of an R×T tile, its R rows in one row set: row i's
 * runs at wq + 16m·i + 4m·run (a short group's runs are 4m bytes: masked loads read
 * only those), its scales at wd + m·i; token j's group at x + j·xstride. Adds the
 * group to a. Decode prefetches each row's group (one line per run) 8 rows ahead,
 * i.e. row_bytes · 8 further on in the sets' one stream, and again twice as far
 * (docs/performance.md), and the scales as far ahead as the weights. */
INLINE void lane_group(int two, int R, int T, uint32_t m, const uint8_t *wq, const uint16_t *wd,
                       size_t row_bytes, uint32_t nb, const g2_xgroup *x, size_t xstride,
                       __m512 a[MAX_R][MAX_T]) {
    enum { NACC = 2 }; /* integer accumulators per pair and digit: [nibble] for T = 1, [0] else */
    const __mmask16 lanes = first16(m);
    __m512i h[MAX_R][MAX_T][NACC], l[MAX_R][MAX_T][NACC];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
#pragma GCC unroll 2
            for (int n = 0; n < NACC; n++)
                h[i][j][n] = l[i][j][n] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int run = 0; run < 4; run++) {
        /* T = 1: the token's run in registers for the R rows, as group() does */
        __m512i x0, x1, y0, y1;
        if (T == 1) {
            __asm__ volatile("" ::: "memory");
            x0 = _mm512_load_si512(x->hi[run]), x1 = _mm512_load_si512(x->hi[4 + run]);
            __asm__("" : "+v"(x0), "+v"(x1));
            if (two) {
                y0 = _mm512_load_si512(x->lo[run]), y1 = _mm512_load_si512(x->lo[4 + run]);
                __asm__("" : "+v"(y0), "+v"(y1));
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            if (T != 1)
                __asm__ volatile("" ::: "memory");
            const uint8_t *p = wq + (size_t)16 * m * i + (size_t)4 * m * run;
            __m512i v = m == 16 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(lanes, p);
            __asm__("" : "+v"(v)); /* one load, not a second one folded into the shift */
            if (T == 1 && R == MAX_R) {
                const size_t ahead = 2 * MAX_R * row_bytes;
                _mm_prefetch((const char *)(p + ahead), _MM_HINT_T1);
                _mm_prefetch((const char *)(p + 2 * ahead), _MM_HINT_T2);
            }
            __m512i w0, w1;
            q4_levels(v, &w0, &w1);
#pragma GCC unroll 2
            for (int j = 0; j < T; j++) {
                const g2_xgroup *xj = x + j * xstride;
                const int n = T == 1 ? 1 : 0;
                if (T == 1) {
                    h[i][j][0] = _mm512_dpbusd_epi32(h[i][j][0], w0, x0);
                    h[i][j][n] = _mm512_dpbusd_epi32(h[i][j][n], w1, x1);
                    if (two) {
                        l[i][j][0] = _mm512_dpbusd_epi32(l[i][j][0], w0, y0);
                        l[i][j][n] = _mm512_dpbusd_epi32(l[i][j][n], w1, y1);
                    }
                } else {
                    h[i][j][0] = _mm512_dpbusd_epi32(h[i][j][0], w0, _mm512_load_si512(xj->hi[run]));
                    h[i][j][0] = _mm512_dpbusd_epi32(h[i][j][0], w1, _mm512_load_si512(xj->hi[4 + run]));
                    if (two) {
                        l[i][j][0] = _mm512_dpbusd_epi32(l[i][j][0], w0, _mm512_load_si512(xj->lo[run]));
                        l[i][j][0] = _mm512_dpbusd_epi32(l[i][j][0], w1, _mm512_load_si512(xj->lo[4 + run]));
                    }
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
            isum = _mm512_add_epi32(isum, _mm512_load_si512(xj->corr));
            a[i][j] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_load_ps(xj->dx)), a[i][j]);
        }
    }
}

/* Rows [r, r+R) × T tokens over groups [g0, g1) (token j's at x + j·xstride): acc[i][j]
 * holds the pair's float accumulator (lane k = canonical lane k), carried across
 * chunks. */
INLINE void lane_tile(int two, int R, int T, const g2_qmatrix *W, uint32_t r, const g2_xgroup *x,
                      size_t xstride, uint32_t g0, uint32_t g1, __m512 acc[][MAX_T]) {
    const uint32_t nb = W->nb, s0 = r - r % G2_Q_ROW_SET;
    const uint32_t n = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const size_t row_bytes = (size_t)nb * (G2_QK / 2);
    /* row r's group g0 in its set (lib/tensor/quant.h); the set's full groups are
     * n · 256 bytes and n · 16 scales apart */
    const uint8_t *wq = (const uint8_t *)W->qs + g2_q4_byte_at(W->rows, nb, r, g0 * GROUP, 0);
    const uint16_t *wd = W->d + g2_q_scale_at(W->rows, nb, r, g0 * GROUP);
    __m512 a[MAX_R][MAX_T];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            a[i][j] = acc[i][j];
    const uint32_t full = nb / GROUP < g1 ? nb / GROUP : g1;
    uint32_t g = g0;
    for (; g < full; g++, wq += (size_t)n * GROUP * (G2_QK / 2), wd += (size_t)n * GROUP, x++)
        lane_group(two, R, T, GROUP, wq, wd, row_bytes, nb, x, xstride, a);
    if (g < g1) { /* the short last group (its rows before r are short too) */
        wq = (const uint8_t *)W->qs + g2_q4_byte_at(W->rows, nb, r, g * GROUP, 0);
        wd = W->d + g2_q_scale_at(W->rows, nb, r, g * GROUP);
        lane_group(two, R, T, nb - g * GROUP, wq, wd, row_bytes, nb, x, xstride, a);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = a[i][j];
}

/* The q4 tile functions and their table: tile_fns.h's eight, with the lane signature. */
typedef void lane_fn(const g2_qmatrix *W, uint32_t r, const g2_xgroup *x, size_t xstride, uint32_t g0,
                     uint32_t g1, __m512 acc[][MAX_T]);
#undef TILE_FN
#define TILE_FN(name, q4, two, R, T)                                                                      \
    static void name(const g2_qmatrix *W, uint32_t r, const g2_xgroup *x, size_t xstride, uint32_t g0, \
                     uint32_t g1, __m512 acc[][MAX_T]) {                                                  \
        lane_tile(two, R, T, W, r, x, xstride, g0, g1, acc);                                              \
    }
#define tile_fn lane_fn
TILE_FNS(q4, 1)
#undef tile_fn

/* ---- inputs prepared once ------------------------------------------------------------ */

/* A call gets 32 rows (lib/tensor/matmul.c), so preparing the tokens in each call
 * repeats the work for every 32 rows of every matrix. prepare_act does it once per
 * input instead, into A->tiles (64-byte aligned there; G2_ACT_TILE_BYTES leaves room):
 * for an input of one digit (read only by q4 matrices) every token's g2_xgroup,
 * token-major; else, for one token (decode), its q8 steps and then its groups. */
static void *prepared_base(const g2_qact *A) { return (void *)(((uintptr_t)A->tiles + 63) & ~(uintptr_t)63); }

static xstep *prepared_steps(const g2_qact *A) { return prepared_base(A); }

static xgroup *prepared_groups(const g2_qact *A) {
    return (xgroup *)(prepared_steps(A) + (A->nb + STEP - 1) / STEP);
}

static int steps_prepared(const g2_qact *A, uint32_t n_tok) {
    return n_tok == 1 && A->tiles_tok == 1 && A->tiles && A->digits != 1;
}

static int lanes_prepared(const g2_qact *A, uint32_t n_tok) {
    return A->tiles_tok == n_tok && A->tiles && A->digits == 1;
}

static void prepare_act(g2_qact *A, uint32_t n_tok) {
    A->tiles_tok = 0;
    if (!A->tiles || n_tok == 0)
        return;
    if (A->digits == 1) {
        const uint32_t ng = (uint32_t)G2_Q_GROUPS(A->nb);
        g2_xgroup *x = prepared_base(A);
        for (uint32_t t = 0; t < n_tok; t++)
            g2_xgroups(A, t, 0, ng, x + (size_t)t * ng);
    } else if (n_tok == 1) {
        prep_x(A, 0, 1, 0, A->nb, prepared_steps(A), prepared_groups(A));
    } else {
        return;
    }
    A->tiles_tok = n_tok;
}

/* ---- the calls ------------------------------------------------------------------------ */

INLINE void zero_acc(__m512 acc[][MAX_T], uint32_t rows) {
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t j = 0; j < MAX_T; j++)
            acc[i][j] = _mm512_setzero_ps();
}

/* y[j·y_stride + i] = the canonical sum of acc[i][j], its lanes in block order (q4) or
 * in group order (q8). */
INLINE void store_sums(int block_order, __m512 acc[][MAX_T], uint32_t rows, uint32_t T, float *y, size_t y_stride) {
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t j = 0; j < T; j++)
            y[(size_t)j * y_stride + i] = block_order ? ordered_sum(acc[i][j]) : canonical_sum(acc[i][j]);
}

/* Rows in batches of ROW_BATCH; per batch, tokens in tiles of up to MAX_T; per token
 * tile, blocks in chunks prepared once and shared by the batch's rows (tiles of 4, 1
 * at a ragged end), or all blocks as prepare_act left them. by_digits[A->digits !=
 * 1][0][T - 1]: 4-row tiles, [1][T - 1]: 1-row tiles. */
static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    tile_fn *const(*tiles)[MAX_T] = q8_tiles[A->digits != 1];
    xstep xs[CHUNK / STEP * MAX_T];
    xgroup xg[CHUNK_GROUPS * MAX_T];
    __m512 acc[ROW_BATCH][MAX_T];
    const uint32_t nb = W->nb;
    const int prepared = steps_prepared(A, n_tok);
    const uint32_t chunk = prepared ? nb : CHUNK;
    for (uint32_t rb = r0; rb < r1; rb += ROW_BATCH) {
        const uint32_t re = r1 - rb < ROW_BATCH ? r1 : rb + ROW_BATCH;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t T = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            zero_acc(acc, re - rb);
            for (uint32_t c0 = 0; c0 < nb; c0 += chunk) {
                const uint32_t c1 = nb - c0 < chunk ? nb : c0 + chunk;
                const xstep *cs = prepared ? prepared_steps(A) : xs;
                const xgroup *cg = prepared ? prepared_groups(A) : xg;
                if (!prepared)
                    prep_x(A, t, T, c0, c1, xs, xg);
                for (uint32_t r = rb; r < re;) {
                    const int one = re - r < MAX_R;
                    tiles[one][T - 1](W, r, cs, cg, c0, c1, &acc[r - rb]);
                    r += one ? 1 : MAX_R;
                }
            }
            store_sums(0, acc, re - rb, T, y + (size_t)t * y_stride + rb, y_stride);
        }
    }
}

/* The same loops over groups of 16 blocks in the lane order (LANE_CHUNK groups per
 * chunk when the input is not prepared). */
static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    enum { LANE_CHUNK = 16 };
    lane_fn *const(*tiles)[MAX_T] = q4_tiles[A->digits != 1];
    g2_xgroup xq[LANE_CHUNK * MAX_T];
    __m512 acc[ROW_BATCH][MAX_T];
    const uint32_t ng = (uint32_t)G2_Q_GROUPS(W->nb);
    const int prepared = lanes_prepared(A, n_tok);
    const uint32_t chunk = prepared ? ng : LANE_CHUNK;
    for (uint32_t rb = r0; rb < r1; rb += ROW_BATCH) {
        const uint32_t re = r1 - rb < ROW_BATCH ? r1 : rb + ROW_BATCH;
        for (uint32_t t = 0; t < n_tok; t += MAX_T) {
            const uint32_t T = n_tok - t < MAX_T ? n_tok - t : MAX_T;
            zero_acc(acc, re - rb);
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
                for (uint32_t r = rb; r < re;) { /* 4-row tiles on whole row sets */
                    const int one = r % G2_Q_ROW_SET != 0 || re - r < MAX_R;
                    tiles[one][T - 1](W, r, x, xstride, g0, g1, &acc[r - rb]);
                    r += one ? 1 : MAX_R;
                }
            }
            store_sums(1, acc, re - rb, T, y + (size_t)t * y_stride + rb, y_stride);
        }
    }
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
