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
 * half the work of a vpmaddubsw pass per digit with its sign fix-ups. Weights widen to
 * int16 as they stream; activations are prepared once per call into a stack buffer
 * shared by every row, in the matching order, with their d_x and (q4) sums. The
 * layouts of a step's weights:
 *   LANES (q4): a group of 16 blocks (m < 16 in a row's last group) stores bytes
 *     4i..4i+3 of its blocks side by side, one dword per block, at 4m·i (quant.h), so
 *     a 32-byte load at 4m·i + 32h holds bytes 4i..4i+3 of blocks 8h..8h+7, dword k =
 *     block 8h + k: a half-group is 4 steps. The rows go in sets of 4 stored group by
 *     group (quant.h), so a row's groups are n·256 bytes apart (n·16 scales; n the
 *     rows of its set) and the rows of a set 16m bytes (m scales) within a group.
 *     vpshufb maps the nibbles to the levels plus 128 (unsigned; 128·A->sum takes the
 *     offset back out of each block), and each result widens in place to its even and
 *     odd bytes (vpand, vpsrlw), so every product lands in its block's dword: the
 *     half-group's 8 block sums come out in block order with no reduction shuffle. The
 *     activations are transposed to match (dword k of vector d = dword d of block k)
 *     and joined into int16 even / odd values the same way;
 *   LANES8 (q4, AVX-VNNI, one digit): the same steps without the widening: vpdpbusd
 *     multiplies the level bytes by the transposed hi digits, 4 per dword;
 *   NAT (q8, one token): vpmovsxbw of each 16 bytes, then each block's two halves are
 *     folded into its lane of the pair (blend + lane swap);
 *   QUAD (q8, prefill): the dwords of two pairs [b0 | b1], [b2 | b3] interleaved, so
 *     a vector holds 2 int32 lanes of each of 4 blocks and a group reduces with 1
 *     vphaddd instead of 3 (the extra shuffles are shared by the tile's tokens).
 *   (q8 activations: int16 bytes lo, hi − (lo < 0).)
 * A q8 group of 8 blocks (NAT: 4 steps, 4 lanes per block; QUAD: 2 steps, 2 lanes)
 * reduces with vphaddd to its 8 exact block sums, in lane order 0,2,4,6,1,3,5,7. One
 * convert, one multiply of the scales d_w·d_x (in the lane order too) and one FMA add
 * a group's 8 sums to the float accumulator of its parity (q4: of its half), so the
 * two accumulators hold the 16 canonical lanes b % 16 (q8: permuted). At the end the
 * tree of quant.h runs on them: the two are added (lanes i, i+8), permuted back (q8),
 * then lanes (i, i+4), (i, i+2), (i, i+1).
 *
 * Blocks are prepared in chunks (multiples of 16 blocks) sized for L1; a row spanning
 * several chunks carries its accumulators across them in a stack buffer, rows going in
 * batches to bound it. A ragged last group adds zero scales and activations
 * (fmaf(0, 0, acc) = acc): q8 on zero-padded copies, q4 with copied scales and masked
 * loads of just its blocks' dwords (never past the row's end). Register tiles: decode
 * 2 rows × 1 token (q4: 2 rows of one set, r even; else 1 row), with software
 * prefetch (the wider arithmetic leaves fewer loads in the out-of-order window; q4: of
 * the set's rows, one run of memory); prefill 1 row × up to 8 tokens (q4 prefetching
 * the half-group of the row two on: over twice as fast from memory). Stack use:
 * about 52 KB. */
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

#define GROUP 8                           /* blocks per group (q4: half a group of 16) */
#define DEC_R 2                           /* rows of a decode tile */
#define MAX_T 8                           /* tokens of a prefill tile (one row), at most */
#define XBUF_GROUPS 60                    /* token-groups of activations on the stack: 60 × 576 B */
#define ROW_BATCH 32                      /* rows whose accumulators carry across chunks at once */
#define PREFETCH 1024                     /* decode q8: bytes ahead of a row's quants (scales: an 8th) */
#define PREFETCH_Q4 4                     /* decode q4: groups ahead of a set's quants and scales */
#define LANE_ORDER 0, 2, 4, 6, 1, 3, 5, 7 /* the blocks of a q8 group's reduced lanes */

enum { LANES, LANES8, NAT, QUAD };
/* q4: 1 (LANES), or 2 (LANES8: AVX-VNNI and one-digit activations) */
#define LAYOUT(q4, T) ((q4) == 2 ? LANES8 : (q4) ? LANES : (T) == 1 ? NAT : QUAD)
#define IS_Q4(lay) ((lay) == LANES || (lay) == LANES8)

/* One token's group: x its int16 vectors in step order (LANES8: x[0..8), bytes), dx
 * its 8 d_x and corr 128 · its 8 sums, both in lane order (q4: block order). */
typedef struct xgroup {
    __m256i x[16];
    __m256 dx;
    __m256i corr;
} xgroup;

/* Two 16-byte pieces → [lo | hi]. */
INLINE __m256i load2(const void *lo, const void *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* QUAD: [b0 | b1], [b2 | b3] → their dwords interleaved, [b0 b2 b0 b2 | b1 b3 b1 b3]. */
INLINE void mix(__m256i *v0, __m256i *v1) {
    const __m256i lo = _mm256_unpacklo_epi32(*v0, *v1);
    *v1 = _mm256_unpackhi_epi32(*v0, *v1);
    *v0 = lo;
}

/* The int16 256·hi + lo of bytes 0..7 and 8..15 of each lane: low byte lo, high byte
 * hi − (lo < 0), which cannot wrap (|hi| ≤ 127). */
INLINE void join(__m256i hi, __m256i lo, __m256i *x) {
    const __m256i top = _mm256_add_epi8(hi, _mm256_cmpgt_epi8(_mm256_setzero_si256(), lo));
    x[0] = _mm256_unpacklo_epi8(lo, top);
    x[1] = _mm256_unpackhi_epi8(lo, top);
}

/* LANES: the 8×8 dword transpose, dword d of v[k] → dword k of v[d]. */
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

/* Tokens [t, t+T) × blocks [c0, c1) → xg[g * T + j] for group g of the chunk, in the
 * order of load_w; blocks from c1 to the group's end are zero (with d_x = 0). */
static void prep_x(const g2_qact *A, uint32_t t, uint32_t T, uint32_t c0, uint32_t c1, int lay, xgroup *xg) {
    const __m256i order = _mm256_setr_epi32(LANE_ORDER);
    for (uint32_t j = 0; j < T; j++) {
        const size_t tok = (size_t)(t + j) * A->nb;
        for (uint32_t b = c0, g = 0; b < c1; b += GROUP, g++) {
            xgroup *o = &xg[g * T + j];
            const size_t n = c1 - b < GROUP ? c1 - b : GROUP;
            float d[GROUP] = {0};
            int32_t sum[GROUP] = {0};
            memcpy(d, A->d + tok + b, n * sizeof(float));
            memcpy(sum, A->sum + tok + b, n * sizeof(int32_t));
            if (IS_Q4(lay)) {
                /* Dword k of digit vector 4·u + i: elements 16·u + 4·i .. + 3 of block b + k,
                 * the partners of the nibbles u (0 low, 1 high) of the weights' dword k in
                 * step i. */
                __m256i h[GROUP], l[GROUP];
                for (uint32_t k = 0; k < GROUP; k++) {
                    h[k] = l[k] = _mm256_setzero_si256();
                    if (k < n) {
                        h[k] = _mm256_loadu_si256((const __m256i *)(A->qs + (tok + b + k) * G2_QK));
                        if (lay == LANES)
                            l[k] = _mm256_loadu_si256((const __m256i *)(A->ql + (tok + b + k) * G2_QK));
                    }
                }
                transpose8(h);
                o->dx = _mm256_loadu_ps(d);
                o->corr = _mm256_slli_epi32(_mm256_loadu_si256((__m256i *)sum), 7);
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
                for (int i = 0; i < 4; i++)
                    for (int u = 0; u < 2; u++) {
                        const __m256i hv = h[4 * u + i], lv = l[4 * u + i];
                        o->x[4 * i + 2 * u] = _mm256_add_epi16(
                            _mm256_slli_epi16(hv, 8), _mm256_srai_epi16(_mm256_slli_epi16(lv, 8), 8));
                        o->x[4 * i + 2 * u + 1] =
                            _mm256_add_epi16(_mm256_and_si256(hv, top), _mm256_srai_epi16(lv, 8));
                    }
                continue;
            }
            o->dx = _mm256_permutevar8x32_ps(_mm256_loadu_ps(d), order);
            o->corr =
                _mm256_slli_epi32(_mm256_permutevar8x32_epi32(_mm256_loadu_si256((__m256i *)sum), order), 7);
            __m256i v[4][4]; /* per pair of blocks: hi digits 0..15, 16..31, lo digits */
            for (uint32_t k = 0; k < 4; k++) {
                const uint32_t bk = b + 2 * k;
                int8_t pad[2][2 * G2_QK];
                const int8_t *h = pad[0], *l = pad[1];
                if (bk + 2 <= c1) {
                    h = A->qs + (tok + bk) * G2_QK;
                    l = A->ql + (tok + bk) * G2_QK;
                } else { /* a ragged pair: zero-padded copies */
                    memset(pad, 0, sizeof pad);
                    if (bk < c1) {
                        memcpy(pad[0], A->qs + (tok + bk) * G2_QK, G2_QK);
                        memcpy(pad[1], A->ql + (tok + bk) * G2_QK, G2_QK);
                    }
                }
                if (lay == NAT) { /* block u in element order: qwords 0, 2 | 1, 3, unpacked */
                    for (int u = 0; u < 2; u++) {
                        const __m256i hi = _mm256_loadu_si256((const __m256i *)(h + G2_QK * u));
                        const __m256i lo = _mm256_loadu_si256((const __m256i *)(l + G2_QK * u));
                        join(_mm256_permute4x64_epi64(hi, 0xD8), _mm256_permute4x64_epi64(lo, 0xD8),
                             &o->x[4 * k + 2 * u]);
                    }
                    continue;
                }
                v[k][0] = load2(h, h + G2_QK);
                v[k][1] = load2(h + 16, h + G2_QK + 16);
                v[k][2] = load2(l, l + G2_QK);
                v[k][3] = load2(l + 16, l + G2_QK + 16);
                if (lay == QUAD && k % 2)
                    for (int m = 0; m < 4; m++)
                        mix(&v[k - 1][m], &v[k][m]);
            }
            if (lay != NAT)
                for (int k = 0; k < 4; k++)
                    for (int m = 0; m < 2; m++)
                        join(v[k][m], v[k][m + 2], &o->x[4 * k + 2 * m]);
        }
    }
}

/* The int16 weights of one step at p, in the layouts of the top: 4 vectors, QUAD 8,
 * LANES8 2 of bytes (the levels + 128 of the low, high nibbles). q4: with masked, only
 * the dwords of mask are read (the rest are 0 bytes). */
INLINE void load_w(int lay, const uint8_t *p, __m256i *w, int masked, __m256i mask) {
    if (IS_Q4(lay)) {
        static const int8_t levels[16] = G2_Q4_CODEBOOK;
        const __m256i k = _mm256_xor_si256(
            _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)levels)), _mm256_set1_epi8(-128));
        const __m256i v =
            masked ? _mm256_maskload_epi32((const int *)p, mask) : _mm256_loadu_si256((const __m256i *)p);
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
    } else if (lay == NAT) {
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++)
            w[m] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16 * m)));
    } else {
        __m256i v[4] = {load2(p, p + G2_QK), load2(p + 16, p + G2_QK + 16), load2(p + 64, p + 96),
                        load2(p + 80, p + 112)};
        mix(&v[0], &v[2]);
        mix(&v[1], &v[3]);
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            const __m256i sign = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v[m]);
            w[2 * m] = _mm256_unpacklo_epi8(v[m], sign);
            w[2 * m + 1] = _mm256_unpackhi_epi8(v[m], sign);
        }
    }
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
/* Σ w·x over n vector pairs. */
INLINE __m256i madd_n(const __m256i *w, const __m256i *x, int n) {
    __m256i acc = _mm256_madd_epi16(w[0], x[0]);
#pragma GCC unroll 8
    for (int i = 1; i < n; i++)
        acc = madd_acc(acc, w[i], x[i]);
    return acc;
}
/* Σ w·x of one step for one token. NAT: [block 0: 4 int32 | block 1: 4 int32] (it
 * folds its one-block vectors: lanes i, i+4). QUAD: [b0 b0 b2 b2 | b1 b1 b3 b3]. */
INLINE __m256i step_dot(int lay, const __m256i *w, const __m256i *x) {
    if (lay == QUAD)
        return madd_n(w, x, 8);
    const __m256i m0 = madd_n(w, x, 2), m1 = madd_n(w + 2, x + 2, 2);
    return _mm256_add_epi32(_mm256_blend_epi32(m0, m1, 0xF0), _mm256_permute2x128_si256(m0, m1, 0x21));
}

/* One q8 group of an R×T tile into accumulator h: row i's 8 blocks at wq + i·wq_stride
 * (quants) and wd + i·wd_stride (scales), token j's prepared group at xg[j]. */
INLINE void group(__m256 acc[DEC_R][MAX_T][2], int h, int lay, int R, int T, const uint8_t *wq,
                  size_t wq_stride, const uint16_t *wd, size_t wd_stride, const xgroup *xg) {
    const int steps = lay == QUAD ? 2 : 4;
    const size_t qstep = GROUP / steps * G2_QK;
    const __m256i order = _mm256_setr_epi32(LANE_ORDER), none = _mm256_setzero_si256();
    __m256i s[DEC_R][MAX_T][4];
    if (T == 1)
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            for (int l = 0; l < 4; l++)
                _mm_prefetch((const char *)(wq + i * wq_stride + PREFETCH + 64 * l), _MM_HINT_T0);
            _mm_prefetch((const char *)(wd + i * wd_stride) + PREFETCH / 8, _MM_HINT_T0);
        }
#pragma GCC unroll 4
    for (int k = 0; k < steps; k++)
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            __m256i w[8];
            load_w(lay, wq + i * wq_stride + k * qstep, w, 0, none);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) {
                s[i][j][k] = step_dot(lay, w, &xg[j].x[16 / steps * k]);
                /* Pin the sum here: GCC would sink it to its use, spilling the products. */
                __asm__ volatile("" : "+x"(s[i][j][k]));
            }
        }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) {
        const __m256 dw = _mm256_permutevar8x32_ps(
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + i * wd_stride))), order);
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) {
            __m256i isum = _mm256_hadd_epi32(s[i][j][0], s[i][j][1]);
            if (steps == 4)
                isum = _mm256_hadd_epi32(isum, _mm256_hadd_epi32(s[i][j][2], s[i][j][3]));
            acc[i][j][h] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, xg[j].dx), acc[i][j][h]);
        }
    }
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

/* One q4 half-group (blocks 8h .. 8h+7 of a group of m blocks) of an R×T tile into
 * accumulator h: step k of row i at wq + 16m·i + 4m·k (the rows of a tile are in one
 * set), its scales at wd + i·wd_stride; prefetches pf (quants) and pd (scales):
 * decode for 4 rows (+ 16m·i, + m·i), prefill once (another row's); with masked,
 * only the blocks of mask are read. Every product lands in its block's dword: two
 * int32 sums per token while the tile is narrow, so that the vpdpwssd / vpdpbusd
 * chains are short, one when its tokens already give enough chains. LANES8 sums
 * Σ (K + 128)·hi, at most 32·251·127 per block, so 256 times it is still exact. */
INLINE void group_q4(__m256 acc[DEC_R][MAX_T][2], int h, int lay, int R, int T, const uint8_t *wq, size_t m,
                     const uint8_t *pf, const uint16_t *wd, size_t wd_stride, const uint16_t *pd,
                     const xgroup *xg, int masked, __m256i mask) {
    const int ns = T <= 2 ? 2 : 1, np = lay == LANES8 ? 2 : 4; /* sums, products per step */
    const size_t wq_stride = 16 * m, qstep = 4 * m;
    __m256i s[DEC_R][MAX_T][2];
    if (T == 1) {
#pragma GCC unroll 4
        for (int i = 0; i < G2_Q_ROW_SET; i++) {
            for (int l = 0; l < 2; l++)
                _mm_prefetch((const char *)(pf + i * wq_stride + 64 * l), _MM_HINT_T0);
            _mm_prefetch((const char *)(pd + i * m), _MM_HINT_T0);
        }
    } else {
        for (int l = 0; l < 2; l++)
            _mm_prefetch((const char *)(pf + 64 * l), _MM_HINT_T0);
        _mm_prefetch((const char *)pd, _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            __m256i w[4];
            load_w(lay, wq + i * wq_stride + k * qstep, w, masked, mask);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) {
#pragma GCC unroll 4
                for (int u = 0; u < np; u++) {
                    __m256i *a = &s[i][j][u % ns];
                    const int first = k == 0 && u < ns;
                    if (lay == LANES8) /* x[4u + k]: the partners of nibbles u in step k */
                        *a = dot_u8(first ? _mm256_setzero_si256() : *a, w[u], xg[j].x[4 * u + k]);
                    else
                        *a = first ? _mm256_madd_epi16(w[u], xg[j].x[4 * k + u])
                                   : madd_acc(*a, w[u], xg[j].x[4 * k + u]);
                    /* Pin the running sum: GCC would reassociate the adds into a tree
                     * at the end, spilling the products. */
                    __asm__ volatile("" : "+x"(*a));
                }
            }
        }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + i * wd_stride)));
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) {
            __m256i isum = ns == 2 ? _mm256_add_epi32(s[i][j][0], s[i][j][1]) : s[i][j][0];
            if (lay == LANES8) /* x = 256·hi */
                isum = _mm256_slli_epi32(isum, 8);
            isum = _mm256_sub_epi32(isum, xg[j].corr);
            acc[i][j][h] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, xg[j].dx), acc[i][j][h]);
        }
    }
}

/* Rows [r, r+R) × the T tokens prepared in xg over blocks [c0, c1) (c0 a multiple of
 * 16, so group parity is global; q4: the rows in one set). The accumulators start at
 * zero (first) or from carry, and end in y (last: token 0's row 0 at y[r]) or in carry. */
INLINE void tile(int lay, int R, int T, const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0,
                 uint32_t c1, __m256 (*carry)[MAX_T][2], int first, int last, float *y, size_t y_stride) {
    const size_t qrow = (size_t)W->nb * G2_QK;
    const uint8_t *wq = (const uint8_t *)W->qs + (size_t)r * qrow;
    const uint16_t *wd = W->d + (size_t)r * W->nb;
    /* q4: row r's group of blocks g0 .. g0+m-1 has its scales at o = s0·nb + n·g0 +
     * (r − s0)·m, its quants at 16·o (quant.h); the same for row r1, two rows on (the
     * next row's bytes follow this one's, too near to prefetch: measured), or the last */
    const uint32_t s0 = r - r % G2_Q_ROW_SET,
                   n0 = W->rows - s0 < G2_Q_ROW_SET ? W->rows - s0 : G2_Q_ROW_SET;
    const uint32_t r1 = r + 2 < W->rows ? r + 2 : W->rows - 1, s1 = r1 - r1 % G2_Q_ROW_SET;
    const uint32_t n1 = W->rows - s1 < G2_Q_ROW_SET ? W->rows - s1 : G2_Q_ROW_SET;
    __m256 acc[DEC_R][MAX_T][2];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            for (int h = 0; h < 2; h++)
                acc[i][j][h] = first ? _mm256_setzero_ps() : carry[i][j][h];
    for (uint32_t b = c0, h = 0; b < c1; b += GROUP, h ^= 1, xg += T) {
        _Alignas(32) uint8_t pq[DEC_R][GROUP * G2_QK];
        uint16_t pd[DEC_R][GROUP];
        if (IS_Q4(lay)) {
            /* Step i of the half-group is at 4m·i + 32h in its group's 16m bytes (row
             * r + i: 16m·i further); a ragged half (only at the row's end) reads just
             * its blocks' dwords, never past the row, and its scales are copied with
             * zeros after them, so its zero scales and activations add nothing.
             * Prefetches: decode, the half-group PREFETCH_Q4 groups ahead (n·256 bytes
             * and n·16 scales a group) of 4 rows from the tile's first, one run of
             * memory: the set's first tile fetches the second's rows too, the second
             * runs on into the next group's first rows (already read, but the stream
             * stays one run for the hardware prefetcher: measured faster than its own
             * rows only, and about 1.5 times as fast as each tile fetching just its
             * own); prefill, row r1's (rows of a chunk are short runs the hardware
             * prefetchers miss). */
            const uint32_t g0 = b - GROUP * h, m = W->nb - g0 < 16 ? W->nb - g0 : 16;
            const size_t o = (size_t)s0 * W->nb + (size_t)n0 * g0 + (size_t)(r - s0) * m;
            const uint8_t *p = (const uint8_t *)W->qs + 16 * o + 32 * h, *fq;
            const uint16_t *d = W->d + o + GROUP * h, *fd;
            size_t ds = m;
            if (T == 1) {
                fq = (const uint8_t *)W->qs + 16 * o + 128 * h + (size_t)n0 * 256 * PREFETCH_Q4;
                fd = d + (size_t)n0 * 16 * PREFETCH_Q4;
            } else {
                const size_t o1 = (size_t)s1 * W->nb + (size_t)n1 * g0 + (size_t)(r1 - s1) * m;
                fq = (const uint8_t *)W->qs + 16 * o1 + 128 * h;
                fd = W->d + o1 + GROUP * h;
            }
            if (c1 - b < GROUP) {
                for (int i = 0; i < R; i++) {
                    memset(pd[i], 0, sizeof pd[i]);
                    memcpy(pd[i], d + i * m, (c1 - b) * sizeof(uint16_t));
                }
                d = pd[0], ds = GROUP;
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(c1 - b)),
                                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                group_q4(acc, (int)h, lay, R, T, p, m, fq, d, ds, fd, xg, 1, mask);
            } else {
                group_q4(acc, (int)h, lay, R, T, p, m, fq, d, ds, fd, xg, 0, _mm256_setzero_si256());
            }
            continue;
        }
        const uint8_t *q = wq + b * G2_QK;
        const uint16_t *d = wd + b;
        size_t qs = qrow, ds = W->nb;
        if (c1 - b < GROUP) { /* a ragged group: zero-padded copies */
            for (int i = 0; i < R; i++) {
                memset(pd[i], 0, sizeof pd[i]);
                memcpy(pd[i], d + i * ds, (c1 - b) * sizeof(uint16_t));
                memset(pq[i], 0, sizeof pq[i]);
                memcpy(pq[i], q + i * qrow, (c1 - b) * G2_QK);
            }
            d = pd[0], ds = GROUP, q = pq[0], qs = sizeof pq[0];
        }
        group(acc, (int)h, lay, R, T, q, qs, d, ds, xg);
    }
    const __m256i back = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* LANE_ORDER inverted */
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) {
            if (!last) {
                carry[i][j][0] = acc[i][j][0];
                carry[i][j][1] = acc[i][j][1];
                continue;
            }
            /* the tree of quant.h: lanes (i, i+8), then in order (q8: permuted back)
             * (i, i+4), (i, i+2), (i, i+1) */
            __m256 v = _mm256_add_ps(acc[i][j][0], acc[i][j][1]);
            if (!IS_Q4(lay))
                v = _mm256_permutevar8x32_ps(v, back);
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            y[(size_t)j * y_stride + r + i] = _mm_cvtss_f32(s);
        }
}

/* One function per tile shape, so each is compiled with its loops unrolled. */
typedef void tile_fn(const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0, uint32_t c1,
                     __m256 (*carry)[MAX_T][2], int first, int last, float *y, size_t y_stride);
#define TILE_FN(name, q4, R, T)                                                                   \
    static void name(const g2_qmatrix *W, uint32_t r, const xgroup *xg, uint32_t c0, uint32_t c1, \
                     __m256(*carry)[MAX_T][2], int first, int last, float *y, size_t ys) {        \
        tile(LAYOUT(q4, T), R, T, W, r, xg, c0, c1, carry, first, last, y, ys);                   \
    }
TILE_FN(q8_2x1, 0, DEC_R, 1)
TILE_FN(q8_1x1, 0, 1, 1)
TILE_FN(q8_1x2, 0, 1, 2)
TILE_FN(q8_1x4, 0, 1, 4)
TILE_FN(q8_1x8, 0, 1, 8)
TILE_FN(q4_2x1, 1, DEC_R, 1)
TILE_FN(q4_1x1, 1, 1, 1)
TILE_FN(q4_1x2, 1, 1, 2)
TILE_FN(q4_1x4, 1, 1, 4)
TILE_FN(q4_1x8, 1, 1, 8)
#ifdef G2_AVX_VNNI
TILE_FN(q4b_2x1, 2, DEC_R, 1)
TILE_FN(q4b_1x1, 2, 1, 1)
TILE_FN(q4b_1x2, 2, 1, 2)
TILE_FN(q4b_1x4, 2, 1, 4)
TILE_FN(q4b_1x8, 2, 1, 8)
#endif

/* Tokens in tiles of 8, 4, 2 or 1 (the largest that fits); blocks in chunks whose
 * prepared activations fill the buffer; rows innermost, so one preparation serves all
 * the rows of a batch (all rows when one chunk covers the row). tiles[log2 T]: [0]
 * the tile (decode: 2 rows), [1] its 1-row form. */
static void gemm(int q4, tile_fn *const tiles[4][2], const g2_qmatrix *W, uint32_t r0, uint32_t r1,
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
        const uint32_t R = T == 1 ? DEC_R : 1;
        const uint32_t chunk = XBUF_GROUPS / T / 2 * 2 * GROUP; /* blocks, a multiple of 16 */
        const uint32_t batch = nb <= chunk ? r1 - r0 : ROW_BATCH;
        for (uint32_t rb = r0; rb < r1; rb += batch) {
            const uint32_t re = r1 - rb < batch ? r1 : rb + batch;
            /* at least once: with no blocks (nb = 0) the tiles still write y = 0 */
            for (uint32_t c0 = 0; c0 == 0 || c0 < nb; c0 += chunk) {
                const uint32_t c1 = nb - c0 < chunk ? nb : c0 + chunk;
                prep_x(A, t, T, c0, c1, LAYOUT(q4, T), xg);
                for (uint32_t r = rb; r < re;) {
                    /* q4: 2 rows only in one set (r even) */
                    const int one = re - r < R || (q4 && R > 1 && r % 2);
                    tiles[lg][one](W, r, xg, c0, c1, &carry[(r - rb) % ROW_BATCH], c0 == 0, c1 == nb,
                                   y + (size_t)t * y_stride, y_stride);
                    r += one ? 1 : R;
                }
            }
        }
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[4][2] = {{q8_2x1, q8_1x1}, {q8_1x2}, {q8_1x4}, {q8_1x8}};
    gemm(0, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    static tile_fn *const tiles[4][2] = {{q4_2x1, q4_1x1}, {q4_1x2}, {q4_1x4}, {q4_1x8}};
#ifdef G2_AVX_VNNI
    /* one-digit activations (the forward pass's for q4): vpdpbusd on their bytes */
    static tile_fn *const tiles8[4][2] = {{q4b_2x1, q4b_1x1}, {q4b_1x2}, {q4b_1x4}, {q4b_1x8}};
    if (A->digits == 1) {
        gemm(2, tiles8, W, r0, r1, A, n_tok, y, y_stride);
        return;
    }
#endif
    gemm(1, tiles, W, r0, r1, A, n_tok, y, y_stride);
}

#ifdef G2_AVX_VNNI
const g2_kernels g2_kernels_avxvnni = {
    .name = "avxvnni", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
#else
const g2_kernels g2_kernels_avx2 = {
    .name = "avx2", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
#endif
