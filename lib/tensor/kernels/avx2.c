/* SPDX-License-Identifier: Apache-2.0 */
/* AVX2 + FMA + F16C kernels: the function lib/tensor/quant.h defines, bit for bit.
 * Compiled with -mavx2 -mfma -mf16c; everything but the table is static (STYLE.md
 * rule 12). Compiled a second time with -mavxvnni -DG2_AVX_VNNI, it is the avxvnni
 * table (Alder Lake and later cores without AVX-512, Zen 5): the same code with each
 * vpmaddwd + vpaddd fused into one vpdpwssd, and for q4 with one-digit activations
 * (the forward pass's) vpdpbusd on bytes (LANES8 below).
 *
 * Products run on vpmaddwd (int16 × int16, pairs summed in int32): an activation fits
 * int16 whole, x = 256·hi + lo, |x| ≤ 32639, so one vpmaddwd per 16 values gives
 * Σ w·x = 256·Σ w·hi + Σ w·lo exactly (a block stays below 32·251·32639 < 2^31), about
 * half the work of a vpmaddubsw pass per digit with its sign fix-ups.
 *
 * Both types store a group of 16 blocks (m < 16 in a row's last group) in lane order
 * (quant.h): run v, bytes 4v..4v+3 of every block side by side, one dword per block,
 * at 4m·v (8 runs for q8, 4 for q4), so a 32-byte load at 4m·v + 32h holds run v of
 * blocks 8h..8h+7, dword k = block 8h + k. The rows go in sets of 4 stored group by
 * group, so a row's groups are n·16·B bytes apart (B bytes per block, 32 q8, 16 q4;
 * n·16 scales; n the rows of its set) and the rows of a set B·m bytes (m scales)
 * within a group. Each run widens in place to its even and odd bytes as int16, so
 * every product lands in its block's dword and a half-group's 8 block sums come out
 * in block order with no reduction shuffle:
 *   Q8: vpsllw + vpsraw (even bytes), vpsraw (odd ones): per 32 bytes one load and 3
 *     shifts, then per row and token 2 vpmaddwd + 2 vpaddd (vpdpwssd);
 *   LANES (q4): vpshufb maps the nibbles to the levels plus 128 (unsigned; 128·A->sum
 *     takes the offset back out of each block), widened by vpand, vpsrlw;
 *   LANES8 (q4, AVX-VNNI, one digit): no widening: vpdpbusd multiplies the level
 *     bytes by the hi digits, 4 per dword.
 * The activations are prepared once per call into a stack buffer shared by every row,
 * in the matching order (dword k of vector v: elements 4v..4v+3 of block k, as in
 * g2_xgroup) as int16 even / odd values, with their d_x and sums. One convert, one
 * multiply of the scales d_w·d_x and one FMA add a half-group's 8 sums to the float
 * accumulator of its half, so the two accumulators hold the 16 canonical lanes
 * b % 16. At the end the tree of quant.h runs on them: the two are added (lanes i,
 * i+8), then lanes (i, i+4), (i, i+2), (i, i+1).
 *
 * Blocks are prepared in chunks (multiples of 16 blocks) sized for L1; a row spanning
 * several chunks carries its accumulators across them in a stack buffer, rows going in
 * batches to bound it. A ragged last group adds zero scales and activations
 * (fmaf(0, 0, acc) = acc): copied scales and masked loads of just its blocks' dwords
 * (never past the row's end). Register tiles, their rows in one set: decode q8 4 rows
 * × 1 token (a whole set, one run of memory; each activation load serves 4 rows), q4
 * 2 rows (r even), 2 or 1 at a range's edges, with software prefetch of the set's
 * rows some groups ahead into L2 (1.5 to 2 times as fast from memory as into L1), and
 * of the same lines 2 groups ahead into L1 and twice as far into L2 (q8 1.10–1.16× as
 * fast from memory on Zen 4: docs/performance-results-zen4.md);
 * prefill 1 row × up to 8 tokens (prefetching the half-group of the row two on: over
 * twice as fast from memory). Stack use: about 52 KB. */
#include <immintrin.h>
#include <string.h>

#include "tensor/quant.h"

#define INLINE static inline __attribute__((always_inline))

/* ---- activations ------------------------------------------------------------ */

/* Bit-identical to the scalar table: amax = max|x| ignoring NaN (as fmaxf does),
 * e = x * (127 / amax), hi = lrint(e), lo = lrint((e − hi) · 256), both in the current
 * rounding mode (the default, to nearest even, as cvtps2dq) and clamped to [-127, 127]
 * after conversion (so inf/NaN convert to INT_MIN and clamp to -127 as cvtss2si does
 * for the scalar lrintf), tail zero. */
static void quantize_act(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    const __m256 zero = _mm256_setzero_ps(), abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 lo_weight = _mm256_set1_ps((float)G2_ACT_LO_WEIGHT);
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
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f * (1.0f / G2_ACT_LO_WEIGHT) : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4], r[4];
        for (int k = 0; k < 4; k++) {
            const __m256 e = _mm256_mul_ps(v[k], vid);
            q[k] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(e), lo), hi);
            r[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(e, _mm256_cvtepi32_ps(q[k])), lo_weight));
            r[k] = digits == 1 ? _mm256_setzero_si256() : _mm256_min_epi32(_mm256_max_epi32(r[k], lo), hi);
        }
        /* The values fit, so the saturating packs are exact; the permute undoes their
         * per-lane interleave. */
        const __m256i q8 = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])), order);
        _mm256_storeu_si256((__m256i *)(qs + (size_t)b * G2_QK), q8);
        const __m256i r8 = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3])), order);
        _mm256_storeu_si256((__m256i *)(ql + (size_t)b * G2_QK), r8);
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_add_epi32(_mm256_slli_epi32(q[k], 8), r[k]);
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        sum[b] = _mm_cvtsi128_si32(s4);
    }
}

/* ---- matrix kernels --------------------------------------------------------------- */

#define GROUP 8        /* blocks of a half-group: one 32-byte vector per run */
#define MAX_R 4        /* rows of a tile, at most (decode q8: a whole set) */
#define MAX_T 8        /* tokens of a prefill tile (one row), at most */
#define XBUF_GROUPS 60 /* token half-groups of activations on the stack: 60 × 576 B */
#define ROW_BATCH 32   /* rows whose accumulators carry across chunks at once */
#define PREFETCH 16    /* decode: groups ahead of a set's quants and scales */
#define PREFETCH_NEAR 2 /* decode: groups ahead of a set's quants, into L1 */

/* Q8: int16 weights; LANES: q4, int16 levels; LANES8: q4, level bytes (AVX-VNNI, one
 * digit). */
enum { Q8, LANES, LANES8 };

/* One token's half-group: x its int16 vectors, x[2v] / x[2v + 1] the even / odd bytes
 * of run v's partners (LANES8: x[v], bytes), dx its 8 d_x and corr 128 · its 8 sums,
 * in block order. */
typedef struct xgroup {
    __m256i x[16];
    __m256 dx;
    __m256i corr;
} xgroup;

/* The 8×8 dword transpose, dword d of v[k] → dword k of v[d]. */
INLINE void transpose8(__m256i v[8]) {
    __m256i t[8], u[8];
    for (int k = 0; k < 8; k += 2) { /* [k.0 k+1.0 k.1 k+1.1 | .4 .5], [.2 .3 | .6 .7] */
        t[k] = _mm256_unpacklo_epi32(v[k], v[k + 1]);
        t[k + 1] = _mm256_unpackhi_epi32(v[k], v[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) { /* dwords d and d + 4 of v[k..k+3] */
        u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
        u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
        u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
        u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
    }
    for (int d = 0; d < 4; d++) {
        v[d] = _mm256_permute2x128_si256(u[d], u[d + 4], 0x20);
        v[d + 4] = _mm256_permute2x128_si256(u[d], u[d + 4], 0x31);
    }
}

/* Tokens [t, t+T) × blocks [c0, c1) → xg[g * T + j] for half-group g of the chunk;
 * blocks from c1 to the half's end are zero (with d_x = 0). */
static void prep_x(const g2_qact *A, uint32_t t, uint32_t T, uint32_t c0, uint32_t c1, int lay, xgroup *xg) {
    for (uint32_t j = 0; j < T; j++) {
        const size_t tok = (size_t)(t + j) * A->nb;
        for (uint32_t b = c0, g = 0; b < c1; b += GROUP, g++) {
            xgroup *o = &xg[g * T + j];
            const size_t n = c1 - b < GROUP ? c1 - b : GROUP;
            float d[GROUP] = {0};
            int32_t sum[GROUP] = {0};
            memcpy(d, A->d + tok + b, n * sizeof(float));
            memcpy(sum, A->sum + tok + b, n * sizeof(int32_t));
            o->dx = _mm256_loadu_ps(d);
            o->corr = _mm256_slli_epi32(_mm256_loadu_si256((__m256i *)sum), 7);
            /* dword k of h[v]: elements 4v .. 4v+3 of block b + k, as in run v */
            __m256i h[GROUP], l[GROUP];
            for (uint32_t k = 0; k < GROUP; k++) {
                h[k] = l[k] = _mm256_setzero_si256();
                if (k < n) {
                    h[k] = _mm256_loadu_si256((const __m256i *)(A->qs + (tok + b + k) * G2_QK));
                    if (lay != LANES8 && A->digits != 1) /* else zero */
                        l[k] = _mm256_loadu_si256((const __m256i *)(A->ql + (tok + b + k) * G2_QK));
                }
            }
            transpose8(h);
            if (lay == LANES8) { /* the hi digits as they are (the lo ones are 0) */
                for (int v = 0; v < GROUP; v++)
                    o->x[v] = h[v];
                continue;
            }
            transpose8(l);
            /* int16 lanes: the even bytes (256·hi from the low byte shifted up, lo
             * sign-extended), the odd ones (hi already in the high byte, lo shifted
             * down); |256·hi + lo| ≤ 32639, so the adds cannot wrap. */
            const __m256i top = _mm256_set1_epi16((short)0xFF00);
            for (int v = 0; v < GROUP; v++) {
                o->x[2 * v] = _mm256_add_epi16(_mm256_slli_epi16(h[v], 8),
                                               _mm256_srai_epi16(_mm256_slli_epi16(l[v], 8), 8));
                o->x[2 * v + 1] = _mm256_add_epi16(_mm256_and_si256(h[v], top), _mm256_srai_epi16(l[v], 8));
            }
        }
    }
}

/* The weights of one run at p (32 bytes: 8 blocks' dwords): Q8 2 int16 vectors (even,
 * odd bytes sign-extended in place), LANES 4 (the levels + 128 of the low nibbles'
 * even, odd bytes, then the high nibbles'), LANES8 2 of bytes (low, high nibbles).
 * With masked, only the dwords of mask are read (the rest are 0 bytes). */
INLINE void load_w(int lay, const uint8_t *p, __m256i *w, int masked, __m256i mask) {
    const __m256i v =
        masked ? _mm256_maskload_epi32((const int *)p, mask) : _mm256_loadu_si256((const __m256i *)p);
    if (lay == Q8) {
        w[0] = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8);
        w[1] = _mm256_srai_epi16(v, 8);
        return;
    }
    static const int8_t levels[16] = G2_Q4_CODEBOOK;
    const __m256i k = _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)levels)),
                                       _mm256_set1_epi8(-128));
    const __m256i m = _mm256_set1_epi8(0x0F), even = _mm256_set1_epi16(0xFF);
    const __m256i a = _mm256_shuffle_epi8(k, _mm256_and_si256(v, m));
    const __m256i c = _mm256_shuffle_epi8(k, _mm256_and_si256(_mm256_srli_epi16(v, 4), m));
    if (lay == LANES8) {
        w[0] = a, w[1] = c;
        return;
    }
    w[0] = _mm256_and_si256(a, even);
    w[1] = _mm256_srli_epi16(a, 8);
    w[2] = _mm256_and_si256(c, even);
    w[3] = _mm256_srli_epi16(c, 8);
}

/* acc + the pair sums of w·x: one vpdpwssd on AVX-VNNI, else vpmaddwd and vpaddd (the
 * same wrapping int32 arithmetic, and every sum here is exact, so the same bits). */
INLINE __m256i madd_acc(__m256i acc, __m256i w, __m256i x) {
#ifdef G2_AVX_VNNI
    return _mm256_dpwssd_avx_epi32(acc, w, x);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(w, x));
#endif
}

/* u8 × s8 quads summed into acc: LANES8 only, so only on AVX-VNNI. */
INLINE __m256i dot_u8(__m256i acc, __m256i u, __m256i s) {
#ifdef G2_AVX_VNNI
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    (void)u, (void)s;
    __builtin_unreachable();
    return acc;
#endif
}

/* Into L2, which keeps more misses in flight than L1 (measured 1.5 to 2 times as
 * fast from memory), but for q4 prefill (measured faster into L1). */
INLINE void prefetch(int lay, int T, const void *p) {
    if (lay == Q8 || T == 1)
        _mm_prefetch((const char *)p, _MM_HINT_T1);
    else
        _mm_prefetch((const char *)p, _MM_HINT_T0);
}

/* One half-group (blocks 8h .. 8h+7 of a group of m blocks) of an R×T tile into
 * accumulator h: run k of row i at wq + bb·m·i + 4m·k (bb bytes per block; the rows
 * of a tile are in one set), its scales at wd + i·wd_stride; prefetches pf (quants)
 * and pd (scales): decode for 4 rows (+ bb·m·i, + m·i), prefill once (another row's);
 * with masked, only the blocks of mask are read. Every product lands in its block's
 * dword: two int32 sums per row and token while the tile is small, so that the
 * vpdpwssd / vpdpbusd chains are short, one when it already gives enough chains.
 * LANES8 sums Σ (K + 128)·hi, at most 32·251·127 per block, so 256 times it is still
 * exact; q8 needs no correction (signed weights), q4 takes 128·sum back out. */
INLINE void group(__m256 acc[MAX_R][MAX_T][2], int h, int lay, int R, int T, const uint8_t *wq, size_t m,
                  const uint8_t *pf, size_t set_group, const uint16_t *wd, size_t wd_stride,
                  const uint16_t *pd, const xgroup *xg, int masked, __m256i mask) {
    const int steps = lay == Q8 ? 8 : 4, np = lay == LANES ? 4 : 2; /* runs, products per run */
    const int ns = T <= 2 && R <= 2 ? 2 : 1;
    const size_t bb = lay == Q8 ? G2_QK : G2_QK / 2, wq_stride = bb * m, qstep = 4 * m;
    __m256i s[MAX_R][MAX_T][2];
    const int lines = (int)bb * GROUP / 64, pr = T == 1 ? G2_Q_ROW_SET : 1;
#pragma GCC unroll 4
    for (int i = 0; i < pr; i++) {
#pragma GCC unroll 4
        for (int l = 0; l < lines; l++)
            prefetch(lay, T, pf + i * wq_stride + 64 * l);
        prefetch(lay, T, pd + i * m);
    }
    if (T == 1) /* the same lines into L1 near, and into L2 twice as far (after: faster) */
#pragma GCC unroll 4
        for (int i = 0; i < pr; i++)
#pragma GCC unroll 4
            for (int l = 0; l < lines; l++) {
                const uint8_t *q = pf + i * wq_stride + 64 * l;
                _mm_prefetch((const char *)(q - (PREFETCH - PREFETCH_NEAR) * set_group), _MM_HINT_T0);
                _mm_prefetch((const char *)(q + PREFETCH * set_group), _MM_HINT_T2);
            }
#pragma GCC unroll 8
    for (int k = 0; k < steps; k++)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256i w[4];
            load_w(lay, wq + i * wq_stride + k * qstep, w, masked, mask);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) {
#pragma GCC unroll 4
                for (int u = 0; u < np; u++) {
                    __m256i *a = &s[i][j][u % ns];
                    const int first = k == 0 && u < ns;
                    /* the partners: Q8 run k; q4 run k's low nibbles (u < 2) elements
                     * 4k.., high ones 16 + 4k.. */
                    const int xi = lay == Q8      ? 2 * k + u
                                   : lay == LANES ? 8 * (u / 2) + 2 * k + u % 2
                                                  : 4 * u + k;
                    if (lay == LANES8)
                        *a = dot_u8(first ? _mm256_setzero_si256() : *a, w[u], xg[j].x[xi]);
                    else
                        *a = first ? _mm256_madd_epi16(w[u], xg[j].x[xi]) : madd_acc(*a, w[u], xg[j].x[xi]);
                    /* Pin the running sum: GCC would reassociate the adds into a tree
                     * at the end, spilling the products. */
                    __asm__ volatile("" : "+x"(*a));
                }
            }
        }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + i * wd_stride)));
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) {
            __m256i isum = ns == 2 ? _mm256_add_epi32(s[i][j][0], s[i][j][1]) : s[i][j][0];
            if (lay == LANES8) /* x = 256·hi */
                isum = _mm256_slli_epi32(isum, 8);
            if (lay != Q8)
                isum = _mm256_sub_epi32(isum, xg[j].corr);
            acc[i][j][h] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, xg[j].dx), acc[i][j][h]);
        }
    }
}

/* Rows [r, r+R) (in one set) × the T tokens prepared in xg over blocks [c0, c1) (c0 a
 * multiple of 16, so halves are global). The accumulators start at zero (first) or
 * from carry, and end in y (last: token 0's row 0 at y[r]) or in carry. */
INLINE void tile(int lay, int R, int T, const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0,
                 uint32_t c1, __m256 (*carry)[MAX_T][2], int first, int last, float *y, size_t y_stride) {
    const size_t bb = lay == Q8 ? G2_QK : G2_QK / 2;
    const uint8_t *qs = (const uint8_t *)W->qs;
    /* row r's group of blocks g0 .. g0+m-1 has its scales at o = s0·nb + n·g0 +
     * (r − s0)·m, its quants at bb·o (quant.h); the same for row r1, two rows on (the
     * next row's bytes follow this one's, too near to prefetch: measured), or the last */
    const uint32_t s0 = r - r % G2_Q_ROW_SET, n0 = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const uint32_t r1 = r + 2 < W->rows ? r + 2 : W->rows - 1, s1 = r1 - r1 % G2_Q_ROW_SET;
    const uint32_t n1 = W->rows - s1 < G2_Q_ROW_SET ? W->rows - s1 : G2_Q_ROW_SET;
    const size_t set_group = (size_t)n0 * 16 * bb; /* bytes from a set's group to its next */
    __m256 acc[MAX_R][MAX_T][2];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            for (int h = 0; h < 2; h++)
                acc[i][j][h] = first ? _mm256_setzero_ps() : carry[i][j][h];
    for (uint32_t b = c0, h = 0; b < c1; b += GROUP, h ^= 1, xg += T) {
        /* Run k of the half-group is at 4m·k + 32h in its group's bb·m bytes (row
         * r + i: bb·m·i further); a ragged half (only at the row's end) reads just its
         * blocks' dwords, never past the row, and its scales are copied with zeros
         * after them, so its zero scales and activations add nothing. Prefetches:
         * decode, the half-group PREFETCH groups ahead (n·16·bb bytes and n·16
         * scales a group) of 4 rows from the tile's first, one run of memory
         * (q8: the tile's own set; q4: a 2-row tile that starts a set fetches the
         * next tile's rows too, the next runs on into the following group's first
         * rows: already read, but the stream stays one run for the hardware
         * prefetcher: measured faster); prefill, row r1's (rows of a chunk are short
         * runs the hardware prefetchers miss). */
        const uint32_t g0 = b - GROUP * h, m = W->nb - g0 < 16 ? W->nb - g0 : 16;
        const size_t o = (size_t)s0 * W->nb + (size_t)n0 * g0 + (size_t)(r - s0) * m;
        const uint8_t *p = qs + bb * o + 32 * h, *fq;
        const uint16_t *d = W->d + o + GROUP * h, *fd;
        if (T == 1) {
            const size_t ahead = (size_t)n0 * 16 * PREFETCH;
            fq = qs + bb * o + bb * GROUP * h + bb * ahead;
            fd = d + ahead;
        } else {
            const size_t o1 = (size_t)s1 * W->nb + (size_t)n1 * g0 + (size_t)(r1 - s1) * m;
            fq = qs + bb * o1 + bb * GROUP * h;
            fd = W->d + o1 + GROUP * h;
        }
        if (c1 - b < GROUP) {
            uint16_t pd[MAX_R][GROUP];
            for (int i = 0; i < R; i++) {
                memset(pd[i], 0, sizeof pd[i]);
                memcpy(pd[i], d + i * m, (c1 - b) * sizeof(uint16_t));
            }
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(c1 - b)),
                                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            group(acc, (int)h, lay, R, T, p, m, fq, set_group, pd[0], GROUP, fd, xg, 1, mask);
        } else if (m == 16) { /* a constant m: every offset an immediate */
            group(acc, (int)h, lay, R, T, p, 16, fq, set_group, d, 16, fd, xg, 0, _mm256_setzero_si256());
        } else {
            group(acc, (int)h, lay, R, T, p, m, fq, set_group, d, m, fd, xg, 0, _mm256_setzero_si256());
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) {
            if (!last) {
                carry[i][j][0] = acc[i][j][0];
                carry[i][j][1] = acc[i][j][1];
                continue;
            }
            /* the tree of quant.h: lanes (i, i+8), then (i, i+4), (i, i+2), (i, i+1) */
            const __m256 v = _mm256_add_ps(acc[i][j][0], acc[i][j][1]);
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            y[(size_t)j * y_stride + r + i] = _mm_cvtss_f32(s);
        }
}

/* One function per tile shape, so each is compiled with its loops unrolled. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0, uint32_t c1,
                     __m256 (*carry)[MAX_T][2], int first, int last, float *y, size_t y_stride);
#define TILE_FN(name, lay, R, T)                                                                  \
    static void name(const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0, uint32_t c1, \
                     __m256(*carry)[MAX_T][2], int first, int last, float *y, size_t ys) {        \
        tile(lay, R, T, W, r, xg, c0, c1, carry, first, last, y, ys);                             \
    }
/* the shapes of a layout: decode 4, 2, 1 rows (NULL: none), prefill 1 row × 2, 4, 8 */
#define TILES(p, lay, R4)       \
    TILE_FN(p##_2x1, lay, 2, 1) \
    TILE_FN(p##_1x1, lay, 1, 1) \
    TILE_FN(p##_1x2, lay, 1, 2) \
    TILE_FN(p##_1x4, lay, 1, 4) \
    TILE_FN(p##_1x8, lay, 1, 8) \
    static tile_fn *const p##_tiles[6] = {R4, p##_2x1, p##_1x1, p##_1x2, p##_1x4, p##_1x8};
TILE_FN(q8_4x1, Q8, 4, 1)
TILES(q8, Q8, q8_4x1)
TILES(q4, LANES, NULL)
#ifdef G2_AVX_VNNI
TILES(q4b, LANES8, NULL)
#endif

/* Tokens in tiles of 8, 4, 2 or 1 (the largest that fits); blocks in chunks whose
 * prepared activations fill the buffer; rows innermost, so one preparation serves all
 * the rows of a batch (all rows when one chunk covers the row). tiles: decode 4, 2,
 * 1 rows (a tile's rows in one set: 4 from a set's first row, 2 from an even one),
 * then prefill 1 row × 2, 4, 8 tokens. */
static void gemm(int lay, tile_fn *const tiles[6], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
                 const g2_qact *A, uint32_t n_tok, float *y, size_t y_stride) {
    xgroup xg[XBUF_GROUPS];
    __m256 carry[ROW_BATCH][MAX_T][2];
    const uint32_t nb = W->nb;
    if (r0 >= r1)
        return;
    for (uint32_t t = 0, T; t < n_tok; t += T) {
        int lg = 0;
        while ((2u << lg) <= MAX_T && (2u << lg) <= n_tok - t)
            lg++;
        T = 1u << lg;
        const uint32_t chunk = XBUF_GROUPS / T / 2 * 2 * GROUP; /* blocks, a multiple of 16 */
        const uint32_t batch = nb <= chunk ? r1 - r0 : ROW_BATCH;
        for (uint32_t rb = r0; rb < r1; rb += batch) {
            const uint32_t re = r1 - rb < batch ? r1 : rb + batch;
            /* at least once: with no blocks (nb = 0) the tiles still write y = 0 */
            for (uint32_t c0 = 0; c0 == 0 || c0 < nb; c0 += chunk) {
                const uint32_t c1 = nb - c0 < chunk ? nb : c0 + chunk;
                prep_x(A, t, T, c0, c1, lay, xg);
                for (uint32_t r = rb, R; r < re; r += R) {
                    int k = 2 + lg; /* prefill, or decode of 1 row */
                    R = 1;
                    if (T == 1 && tiles[0] && r % 4 == 0 && re - r >= 4)
                        k = 0, R = 4;
                    else if (T == 1 && r % 2 == 0 && re - r >= 2)
                        k = 1, R = 2;
                    tiles[k](W, r, xg, c0, c1, &carry[(r - rb) % ROW_BATCH], c0 == 0, c1 == nb,
                             y + (size_t)t * y_stride, y_stride);
                }
            }
        }
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    gemm(Q8, q8_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
#ifdef G2_AVX_VNNI
    /* one-digit activations (the forward pass's for q4): vpdpbusd on their bytes */
    if (A->digits == 1) {
        gemm(LANES8, q4b_tiles, W, r0, r1, A, n_tok, y, y_stride);
        return;
    }
#endif
    gemm(LANES, q4_tiles, W, r0, r1, A, n_tok, y, y_stride);
}

#ifdef G2_AVX_VNNI
const g2_kernels g2_kernels_avxvnni = {
    .name = "avxvnni", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
#else
const g2_kernels g2_kernels_avx2 = {
    .name = "avx2", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
#endif
