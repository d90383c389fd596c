/* SPDX-License-Identifier: Apache-2.0 */
/* The reference kernels: plain C, the definition every SIMD table is tested against
 * (lib/tensor/quant.h). */
#include <math.h>
#include <string.h>

#include "tensor/quant.h"

/* d = max|x| / 127; q = x * (127 / max|x|) rounded half to even (lrintf in the default
 * rounding mode, which is what SIMD float→int conversions do too). */
static void quantize_act(const float *x, uint32_t n, int8_t *qs, float *d, int32_t *sum) {
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
        d[b] = amax >= G2_ACT_TINY ? amax / 127.0f : 0.0f;
        int32_t s = 0;
        for (int i = 0; i < G2_QK; i++) {
            long q = lrintf(block[i] * id);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            qs[b * G2_QK + i] = (int8_t)q;
            s += (int32_t)q;
        }
        sum[b] = s;
    }
}

static void gemm_q8(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    const int8_t *wq = W->qs;
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t t = 0; t < n_tok; t++) {
            const int8_t *aq = A->qs + (size_t)t * A->nb * G2_QK;
            float acc = 0.0f;
            for (uint32_t b = 0; b < W->nb; b++) {
                const int8_t *w = wq + ((size_t)r * W->nb + b) * G2_QK, *a = aq + (size_t)b * G2_QK;
                int32_t dot = 0;
                for (int i = 0; i < G2_QK; i++)
                    dot += (int32_t)w[i] * a[i];
                acc += (float)dot * (g2_f16_to_f32(W->d[(size_t)r * W->nb + b]) * A->d[(size_t)t * A->nb + b]);
            }
            y[(size_t)t * y_stride + r] = acc;
        }
}

static void gemm_q4(const g2_qmatrix *W, uint32_t r0, uint32_t r1, const g2_qact *A, uint32_t n_tok, float *y,
                    size_t y_stride) {
    const uint8_t *wq = W->qs;
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t t = 0; t < n_tok; t++) {
            const int8_t *aq = A->qs + (size_t)t * A->nb * G2_QK;
            float acc = 0.0f;
            for (uint32_t b = 0; b < W->nb; b++) {
                const uint8_t *w = wq + ((size_t)r * W->nb + b) * (G2_QK / 2);
                const int8_t *a = aq + (size_t)b * G2_QK;
                int32_t dot = 0;
                for (int i = 0; i < G2_QK / 2; i++)
                    dot += (int32_t)(w[i] & 0x0F) * a[i] + (int32_t)(w[i] >> 4) * a[i + G2_QK / 2];
                dot -= 8 * A->sum[(size_t)t * A->nb + b];
                acc += (float)dot * (g2_f16_to_f32(W->d[(size_t)r * W->nb + b]) * A->d[(size_t)t * A->nb + b]);
            }
            y[(size_t)t * y_stride + r] = acc;
        }
}

const g2_kernels g2_kernels_scalar = {
    .name = "scalar", .quantize_act = quantize_act, .gemm_q8 = gemm_q8, .gemm_q4 = gemm_q4};
