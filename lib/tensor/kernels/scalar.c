/* SPDX-License-Identifier: Apache-2.0 */
/* The reference kernels: plain C, the definition every SIMD table is tested against
 * bit for bit (lib/tensor/quant.h). */
#include <math.h>
#include <string.h>

#include "tensor/quant.h"

/* Clamps a converted value to [-127, 127]. */
static int8_t clamp127(long q) { return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q); }

/* Rounding is lrintf in the default mode (to nearest even), which is what SIMD
 * float→int conversions do too. */
static void quantize_act(const float *x, uint32_t n, unsigned digits, int8_t *qs, int8_t *ql, float *d,
                         int32_t *sum) {
    const uint32_t nb = g2_q_blocks(n);
    for (uint32_t b = 0; b < nb; b++) {
        float block[G2_QK] = {0};
        uint32_t len = n - b * G2_QK < G2_QK ? n - b * G2_QK : G2_QK;
        memcpy(block, x + (size_t)b * G2_QK, len * sizeof(float));
        float amax = 0.0f;
        for (int i = 0; i < G2_QK; i++)
            amax = fmaxf(amax, fabsf(block[i]));
        /* below 2^-100 a block is zero: 127 / amax would overflow to inf (G2_ACT_TINY) */
        const float id = amax >= G2_ACT_TINY ? 127.0f / amax : 0.0f;
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f * (1.0f / G2_ACT_LO_WEIGHT) : 0.0f;
        int32_t s = 0;
        for (int i = 0; i < G2_QK; i++) {
            const float e = block[i] * id;
            const int8_t hi = clamp127(lrintf(e));
            const int8_t lo = digits == 1 ? 0 : clamp127(lrintf((e - (float)hi) * (float)G2_ACT_LO_WEIGHT));
            qs[b * G2_QK + i] = hi;
            ql[b * G2_QK + i] = lo;
            s += G2_ACT_LO_WEIGHT * hi + lo;
        }
        sum[b] = s;
    }
}

/* The canonical float accumulation of lib/tensor/quant.h for one (row, token). */
typedef struct accumulator {
    float lane[G2_ACC_LANES];
} accumulator;

static void accumulate(accumulator *a, uint32_t b, int32_t isum, uint16_t dw, float dx) {
    float *lane = &a->lane[b % G2_ACC_LANES];
    *lane = fmaf((float)isum, g2_f16_to_f32(dw) * dx, *lane);
}

static float reduce(accumulator *a) {
    for (int w = G2_ACC_LANES / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++)
            a->lane[i] = a->lane[i] + a->lane[i + w];
    return a->lane[0];
}

static int32_t block_dot_q8(const int8_t *w, const int8_t *hi, const int8_t *lo) {
    int32_t h = 0, l = 0;
    for (int i = 0; i < G2_QK; i++) {
        h += (int32_t)w[i] * hi[i];
        l += (int32_t)w[i] * lo[i];
    }
    return G2_ACT_LO_WEIGHT * h + l;
}

static int32_t block_dot_q4(const uint8_t *w, const int8_t *hi, const int8_t *lo) {
    int32_t h = 0, l = 0;
    for (int i = 0; i < G2_QK / 2; i++) {
        const int32_t w0 = g2_q4_levels[w[i] & 0x0F], w1 = g2_q4_levels[w[i] >> 4];
        h += w0 * hi[i] + w1 * hi[i + G2_QK / 2];
        l += w0 * lo[i] + w1 * lo[i + G2_QK / 2];
    }
    return G2_ACT_LO_WEIGHT * h + l;
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t t = 0; t < n_tok; t++) {
            const int8_t *w = (const int8_t *)W->qs;
            const int8_t *hi = A->qs + (size_t)t * A->nb * G2_QK, *lo = A->ql + (size_t)t * A->nb * G2_QK;
            accumulator acc = {{0}};
            for (uint32_t b = 0; b < W->nb; b++) {
                const size_t at = (size_t)b * G2_QK;
                int8_t block[G2_QK]; /* gathered from the row sets' lane order */
                for (uint32_t j = 0; j < G2_QK; j++)
                    block[j] = w[g2_q8_byte_at(W->rows, W->nb, r, b, j)];
                accumulate(&acc, b, block_dot_q8(block, hi + at, lo + at),
                           W->d[g2_q_scale_at(W->rows, W->nb, r, b)], A->d[(size_t)t * A->nb + b]);
            }
            y[(size_t)t * y_stride + r] = reduce(&acc);
        }
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t t = 0; t < n_tok; t++) {
            const uint8_t *w = (const uint8_t *)W->qs;
            const int8_t *hi = A->qs + (size_t)t * A->nb * G2_QK, *lo = A->ql + (size_t)t * A->nb * G2_QK;
            accumulator acc = {{0}};
            for (uint32_t b = 0; b < W->nb; b++) {
                const size_t at = (size_t)b * G2_QK;
                uint8_t block[G2_QK / 2]; /* gathered from the row sets' lane order */
                for (uint32_t j = 0; j < G2_QK / 2; j++)
                    block[j] = w[g2_q4_byte_at(W->rows, W->nb, r, b, j)];
                accumulate(&acc, b, block_dot_q4(block, hi + at, lo + at),
                           W->d[g2_q_scale_at(W->rows, W->nb, r, b)], A->d[(size_t)t * A->nb + b]);
            }
            y[(size_t)t * y_stride + r] = reduce(&acc);
        }
}

const g2_kernels g2_kernels_scalar = {
    .name = "scalar", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
