/* SPDX-License-Identifier: Apache-2.0 */
/* Weight quantization (used by the converter) and the f16 and dequantization helpers
 * shared by loader and kernels. Formats: lib/tensor/quant.h, docs/quantization.md. */
#include <math.h>
#include <string.h>

#include "tensor/quant.h"

float g2_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant) { /* subnormal: renormalise */
        int shift = 0;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mant & 0x3FFu) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even; overflow → inf; NaN stays NaN. */
uint16_t g2_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u)
        return sign | 0x7E00u;
    if (ax >= 0x477FF000u) /* rounds to 65520 or more: infinity */
        return sign | 0x7C00u;
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float a;
        memcpy(&a, &ax, sizeof a);
        return sign | (uint16_t)lrintf(a * 16777216.0f); /* units of 2^-24, ties to even */
    }
    uint32_t mant = ax & 0x7FFFFFu, exp = (ax >> 23) - 112;
    uint32_t half = (exp << 10) | (mant >> 13), rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent, which is right */
    return sign | (uint16_t)half;
}

/* One block (len ≤ 32 values, zero-padded) of q8. */
static void q8_block(const float *w, uint32_t len, int8_t *q, uint16_t *d) {
    float amax = 0.0f;
    for (uint32_t i = 0; i < len; i++)
        amax = fmaxf(amax, fabsf(w[i]));
    *d = g2_f32_to_f16(amax / 127.0f);
    const float scale = g2_f16_to_f32(*d); /* quantize against the stored scale */
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    for (uint32_t i = 0; i < G2_QK; i++) {
        long v = i < len ? lrintf(w[i] * inv) : 0;
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

void g2_quantize_q8(const float *w, uint64_t rows, uint32_t cols, int8_t *qs, uint16_t *d) {
    const uint32_t nb = g2_q_blocks(cols);
    for (uint64_t r = 0; r < rows; r++)
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t len = cols - b * G2_QK < G2_QK ? cols - b * G2_QK : G2_QK;
            q8_block(w + r * cols + (size_t)b * G2_QK, len, qs + (r * nb + b) * G2_QK, d + r * nb + b);
        }
}

/* Quantizes block w with scale s (q = clamp(round(w / s), -8, 7)), then refits the
 * scale to the least-squares value for those q; returns that scale (f16-rounded). */
static float q4_quantize_fit(const float *w, uint32_t len, float s, int8_t *q) {
    const float inv = 1.0f / s;
    float wq = 0.0f, qq = 0.0f;
    for (uint32_t i = 0; i < len; i++) {
        long v = lrintf(w[i] * inv);
        q[i] = (int8_t)(v > 7 ? 7 : v < -8 ? -8 : v);
        wq += w[i] * q[i];
        qq += (float)(q[i] * q[i]);
    }
    return g2_f16_to_f32(g2_f32_to_f16(qq > 0.0f ? wq / qq : 0.0f));
}

static float q4_error(const float *w, uint32_t len, float d, const int8_t *q) {
    float err = 0.0f;
    for (uint32_t i = 0; i < len; i++) {
        float e = w[i] - d * q[i];
        err += e * e;
    }
    return err;
}

/* q4: try scales that put the largest |w| at levels from ±4 to ±9 (steps of 1/4; the
 * sign decides whether the long side -8 is used for it), refit each by least squares,
 * requantize with the refitted scale and refit once more; keep the least squared
 * error. Q4_0's absmax rule (level -8) is a candidate, so a block is never worse. */
static void q4_block(const float *w, uint32_t len, uint8_t *out, uint16_t *d) {
    float amax = 0.0f, max = 0.0f;
    for (uint32_t i = 0; i < len; i++)
        if (fabsf(w[i]) > amax) {
            amax = fabsf(w[i]);
            max = w[i];
        }
    int8_t q[G2_QK] = {0}, best_q[G2_QK] = {0};
    float best_err = INFINITY, best_scale = 0.0f;
    for (int k = 0; amax > 0.0f && k < 42; k++) {
        float level = k < 21 ? -9.0f + 0.25f * (float)k : 4.0f + 0.25f * (float)(k - 21);
        float scale = q4_quantize_fit(w, len, max / level, q);
        for (int pass = 0; pass < 2; pass++) {
            float err = q4_error(w, len, scale, q);
            if (err < best_err) {
                best_err = err;
                best_scale = scale;
                memcpy(best_q, q, sizeof q);
            }
            if (pass == 0 && scale != 0.0f)
                scale = q4_quantize_fit(w, len, scale, q);
        }
    }
    *d = g2_f32_to_f16(best_scale);
    for (uint32_t i = 0; i < G2_QK / 2; i++)
        out[i] = (uint8_t)((best_q[i] + 8) | ((best_q[i + G2_QK / 2] + 8) << 4));
}

void g2_quantize_q4(const float *w, uint64_t rows, uint32_t cols, uint8_t *qs, uint16_t *d) {
    const uint32_t nb = g2_q_blocks(cols);
    for (uint64_t r = 0; r < rows; r++)
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t len = cols - b * G2_QK < G2_QK ? cols - b * G2_QK : G2_QK;
            q4_block(w + r * cols + (size_t)b * G2_QK, len, qs + (r * nb + b) * (G2_QK / 2), d + r * nb + b);
        }
}

void g2_dequantize_row(const g2_qmatrix *W, uint32_t type_q4, uint32_t row, float *out) {
    for (uint32_t b = 0; b < W->nb; b++) {
        const float d = g2_f16_to_f32(W->d[(size_t)row * W->nb + b]);
        for (uint32_t i = 0; i < G2_QK; i++) {
            uint32_t col = b * G2_QK + i;
            if (col >= W->cols)
                break;
            float q;
            if (type_q4) {
                const uint8_t *p = (const uint8_t *)W->qs + ((size_t)row * W->nb + b) * (G2_QK / 2);
                q = (float)((i < G2_QK / 2 ? p[i] & 0x0F : p[i - G2_QK / 2] >> 4) - 8);
            } else {
                q = (float)((const int8_t *)W->qs)[((size_t)row * W->nb + b) * G2_QK + i];
            }
            out[col] = d * q;
        }
    }
}
