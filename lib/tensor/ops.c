/* SPDX-License-Identifier: Apache-2.0 */
#include "tensor/ops.h"

#include <math.h>
#include <string.h>

void g2_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps) {
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] * inv * (1.0f + w[i]);
}

void g2_softcap(float *x, uint32_t n, float cap) {
    if (cap <= 0.0f)
        return;
    for (uint32_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] / cap);
}

void g2_geglu(float *gate, const float *up, uint32_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (uint32_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = 0.5f * g * (1.0f + tanhf(k * (g + 0.044715f * g * g * g))) * up[i];
    }
}

void g2_rope_angles(float *cos_a, float *sin_a, uint32_t head_dim, uint32_t pos, float theta) {
    uint32_t half = head_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        double angle = (double)pos * pow((double)theta, -2.0 * i / head_dim);
        cos_a[i] = (float)cos(angle);
        sin_a[i] = (float)sin(angle);
    }
}

void g2_rope(float *v, uint32_t n_heads, uint32_t head_dim, const float *cos_a, const float *sin_a) {
    uint32_t half = head_dim / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            float x1 = x[i], x2 = x[i + half];
            x[i] = x1 * cos_a[i] - x2 * sin_a[i];
            x[i + half] = x2 * cos_a[i] + x1 * sin_a[i];
        }
    }
}

float g2_dot_f32(const float *a, const float *b, uint32_t n) {
    float acc[16] = {0};
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++)
        acc[i % 16] += a[i] * b[i];
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

void g2_bf16_to_f32(float *out, const uint16_t *in, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)in[i] << 16;
        memcpy(&out[i], &bits, sizeof bits);
    }
}

uint32_t g2_argmax(const float *x, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i])))
            best = i;
    return best;
}
