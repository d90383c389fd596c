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
    for (uint32_t i = 0; i < len; i++) {
        const float a = fabsf(w[i]);
        amax = a > amax ? a : amax; /* fmaxf without the call: NaN is skipped the same way */
    }
    *d = g2_f32_to_f16(amax / 127.0f);
    const float scale = g2_f16_to_f32(*d); /* quantize against the stored scale */
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    const float round = 0x1.8p23f; /* adding and subtracting it rounds |v| < 2^22 to even */
    for (uint32_t i = 0; i < G2_QK; i++) {
        float v = i < len ? w[i] * inv : 0.0f;
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v; /* NaN → 0 below: !(NaN == NaN) */
        q[i] = v == v ? (int8_t)((v + round) - round) : 0;
    }
}

void g2_quantize_q8(const float *w, uint64_t rows, uint32_t cols, int8_t *qs, uint16_t *d) {
    const uint32_t nb = g2_q_blocks(cols);
    for (uint64_t r = 0; r < rows; r++)
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t len = cols - b * G2_QK < G2_QK ? cols - b * G2_QK : G2_QK;
            int8_t q[G2_QK];
            q8_block(w + r * cols + (size_t)b * G2_QK, len, q,
                     d + g2_q_scale_at((uint32_t)rows, nb, (uint32_t)r, b));
            for (uint32_t j = 0; j < G2_QK; j++) /* row sets, lane order */
                qs[g2_q8_byte_at((uint32_t)rows, nb, (uint32_t)r, b, j)] = q[j];
        }
}

void g2_q_place_rows(uint32_t block_bytes, const uint8_t *src_qs, const uint16_t *src_d, uint32_t rows,
                     uint32_t nb, uint32_t row0, uint32_t n, uint8_t *qs, uint16_t *d) {
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t b = 0; b < nb; b++) {
            const size_t at = (size_t)i * nb + b;
            d[g2_q_scale_at(rows, nb, row0 + i, b)] = src_d[at];
            for (uint32_t j = 0; j < block_bytes; j += 4) /* a lane's 4 bytes stay together */
                memcpy(qs + g2_q_byte_at(block_bytes, rows, nb, row0 + i, b, j),
                       src_qs + at * block_bytes + j, 4);
        }
}

const int8_t g2_q4_levels[16] = G2_Q4_CODEBOOK;

/* Nearest level of v (in units of the scale) = the number of midpoints between
 * consecutive levels below v. A table over unit bins of v gives it with one compare:
 * below[n] counts the midpoints under n, and at most one midpoint, mid_in[n], lies in
 * [n, n + 1) (levels are ≥ 12 apart). v is clamped to the table's range first, where
 * the outer levels win anyway. */
#define Q4_BIN_LO (-160)
#define Q4_BINS 320

typedef struct q4_table {
    uint8_t below[Q4_BINS];
    float mid_in[Q4_BINS];
} q4_table;

static void q4_table_init(q4_table *t) {
    for (int n = 0; n < Q4_BINS; n++) {
        const float lo = (float)(n + Q4_BIN_LO);
        t->below[n] = 0;
        t->mid_in[n] = INFINITY;
        for (int k = 0; k < 15; k++) {
            const float mid = 0.5f * (float)(g2_q4_levels[k] + g2_q4_levels[k + 1]);
            if (mid < lo)
                t->below[n]++;
            else if (mid < lo + 1.0f)
                t->mid_in[n] = mid;
        }
    }
}

static inline uint8_t q4_nearest(const q4_table *t, float v) {
    v = fminf(fmaxf(v, (float)Q4_BIN_LO), (float)(Q4_BIN_LO + Q4_BINS - 1));
    /* truncation of a positive value is floor; a bin off by one near an integer only
     * matters for a midpoint exactly at that integer, which both bins count alike */
    const int n = (int)(v - (float)Q4_BIN_LO);
    return (uint8_t)(t->below[n] + (v > t->mid_in[n]));
}

/* Assigns each weight its nearest level at scale s; returns the squared error and
 * the least-squares scale for those levels (err(s) = Σw² − 2sΣwk + s²Σk²). */
static float q4_assign(const q4_table *t, const float *w, uint32_t len, float ww, float s, uint8_t *q,
                       float *refit) {
    const float inv = s != 0.0f ? 1.0f / s : 0.0f;
    float wk = 0.0f, kk = 0.0f;
    for (uint32_t i = 0; i < len; i++) {
        q[i] = q4_nearest(t, w[i] * inv);
        const float k = (float)g2_q4_levels[q[i]];
        wk += w[i] * k;
        kk += k * k;
    }
    *refit = kk > 0.0f ? wk / kk : 0.0f;
    return ww - 2.0f * s * wk + s * s * kk;
}

/* q4: 8 scales that put the largest |w| at 0.85 to 1.2 times the outer level are each
 * tried, refitted by least squares and tried again; the scale with the least squared
 * error is rounded to f16 and the weights take their nearest levels at that scale. */
static void q4_block(const q4_table *t, const float *w, uint32_t len, uint8_t out[G2_QK / 2], uint16_t *d) {
    float amax = 0.0f, ww = 0.0f;
    for (uint32_t i = 0; i < len; i++) {
        amax = fmaxf(amax, fabsf(w[i]));
        ww += w[i] * w[i];
    }
    uint8_t q[G2_QK];
    memset(q, 8, sizeof q); /* padding: any level, its activations are zero */
    float best_err = INFINITY, best_scale = 0.0f;
    for (int k = 0; amax > 0.0f && k < 8; k++) {
        float s = amax / ((float)g2_q4_levels[15] * (0.85f + 0.05f * (float)k)), refit;
        for (int pass = 0; pass < 2; pass++) {
            const float err = q4_assign(t, w, len, ww, s, q, &refit);
            if (err < best_err) {
                best_err = err;
                best_scale = s;
            }
            s = refit;
        }
    }
    *d = g2_f32_to_f16(best_scale);
    float unused;
    q4_assign(t, w, len, ww, g2_f16_to_f32(*d), q, &unused);
    for (uint32_t i = 0; i < G2_QK / 2; i++)
        out[i] = (uint8_t)(q[i] | q[i + G2_QK / 2] << 4);
}

void g2_quantize_q4(const float *w, uint64_t rows, uint32_t cols, uint8_t *qs, uint16_t *d) {
    q4_table table;
    q4_table_init(&table);
    const uint32_t nb = g2_q_blocks(cols);
    for (uint64_t r = 0; r < rows; r++)
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t len = cols - b * G2_QK < G2_QK ? cols - b * G2_QK : G2_QK;
            uint8_t bytes[G2_QK / 2];
            q4_block(&table, w + r * cols + (size_t)b * G2_QK, len, bytes,
                     d + g2_q_scale_at((uint32_t)rows, nb, (uint32_t)r, b));
            for (uint32_t j = 0; j < G2_QK / 2; j++) /* row sets, lane order */
                qs[g2_q4_byte_at((uint32_t)rows, nb, (uint32_t)r, b, j)] = bytes[j];
        }
}
void g2_dequantize_row(const g2_qmatrix *W, uint32_t type_q4, uint32_t row, float *out) {
    for (uint32_t b = 0; b < W->nb; b++) {
        const float d = g2_f16_to_f32(W->d[g2_q_scale_at(W->rows, W->nb, row, b)]);
        for (uint32_t i = 0; i < G2_QK; i++) {
            uint32_t col = b * G2_QK + i;
            if (col >= W->cols)
                break;
            float q;
            if (type_q4) {
                const uint8_t byte =
                    ((const uint8_t *)W->qs)[g2_q4_byte_at(W->rows, W->nb, row, b, i % (G2_QK / 2))];
                q = (float)g2_q4_levels[i < G2_QK / 2 ? byte & 0x0F : byte >> 4];
            } else {
                q = (float)((const int8_t *)W->qs)[g2_q8_byte_at(W->rows, W->nb, row, b, i)];
            }
            out[col] = d * q;
        }
    }
}
