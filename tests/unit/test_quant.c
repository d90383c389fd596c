/* SPDX-License-Identifier: Apache-2.0 */
/* Quantization formats (lib/tensor/quant.h): f16 conversions, q8's error bound, q4
 * never worse than the absmax rule of llama.cpp's Q4_0 (same bits) on any block, and
 * the dequantized row equal to d * q. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quant.h"
#include "testutil.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xFFFF) / 32768.0f) - 1.0f;
}

static void test_f16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = g2_f16_to_f32((uint16_t)h);
        uint16_t back = g2_f32_to_f16(f);
        int nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF);
        bad += nan ? !isnan(f) || !(back & 0x3FF) : back != h;
    }
    CHECK(bad == 0, "%d half values do not survive half → float → half", bad);
    /* rounding to nearest, ties to even, on the midpoints between consecutive halves */
    for (uint32_t h = 0x0001; h < 0x7BFF; h += 37) {
        float lo = g2_f16_to_f32((uint16_t)h), hi = g2_f16_to_f32((uint16_t)(h + 1)), mid = (lo + hi) / 2;
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        CHECK(g2_f32_to_f16(mid) == want, "tie at %g rounds to 0x%04x", (double)mid, g2_f32_to_f16(mid));
    }
    CHECK(g2_f32_to_f16(1e6f) == 0x7C00 && g2_f32_to_f16(-1e6f) == 0xFC00, "overflow to infinity");
}

/* Squared error of Q4_0's absmax rule: d = max / -8 (f16), q = clamp(round(w / d) + 8). */
static double q4_0_error(const float *w) {
    float amax = 0, max = 0;
    for (int i = 0; i < G2_QK; i++)
        if (fabsf(w[i]) > amax)
            amax = fabsf(w[i]), max = w[i];
    float d = g2_f16_to_f32(g2_f32_to_f16(max / -8.0f)), id = d ? 1.0f / d : 0.0f;
    double err = 0;
    for (int i = 0; i < G2_QK; i++) {
        float q = fminf(15.0f, fmaxf(0.0f, roundf(w[i] * id + 8.0f))) - 8.0f;
        err += (w[i] - d * q) * (double)(w[i] - d * q);
    }
    return err;
}

static void test_blocks(void) {
    enum { ROWS = 64, COLS = 80 }; /* 80: a ragged third block */
    float *w = malloc(ROWS * COLS * sizeof *w), row[COLS];
    unsigned seed = 7;
    /* bell-shaped like trained weights (Box-Muller), rows of different scales */
    for (int i = 0; i < ROWS * COLS; i++) {
        float u1 = (frand(&seed) + 1.0f) / 2.0f + 1e-7f, u2 = frand(&seed);
        w[i] = sqrtf(-2.0f * logf(u1)) * cosf(3.14159265f * u2) * 0.02f * (float)(1 + i / COLS % 5);
    }
    const uint32_t nb = g2_q_blocks(COLS);
    int8_t *q8 = malloc(ROWS * nb * G2_QK);
    uint8_t *q4 = malloc(ROWS * nb * G2_QK / 2);
    uint16_t *d8 = malloc(ROWS * nb * 2), *d4 = malloc(ROWS * nb * 2);
    g2_quantize_q8(w, ROWS, COLS, q8, d8);
    g2_quantize_q4(w, ROWS, COLS, q4, d4);
    g2_qmatrix m8 = {.qs = q8, .d = d8, .rows = ROWS, .cols = COLS, .nb = nb};
    g2_qmatrix m4 = {.qs = q4, .d = d4, .rows = ROWS, .cols = COLS, .nb = nb};
    double ours = 0, q4_0 = 0, worst = 0;
    for (uint32_t r = 0; r < ROWS; r++) {
        g2_dequantize_row(&m8, 0, r, row);
        for (uint32_t c = 0; c < COLS; c++) {
            float d = g2_f16_to_f32(d8[r * nb + c / G2_QK]);
            /* round to nearest: half a step, plus the f16 rounding of d times 127 */
            CHECK(fabsf(row[c] - w[r * COLS + c]) <= d / 2 + 127 * d * 0x1p-11f + 1e-7f,
                  "q8 error at %u,%u: %g (d %g)", (unsigned)r, (unsigned)c, (double)(row[c] - w[r * COLS + c]),
                  (double)d);
        }
        g2_dequantize_row(&m4, 1, r, row);
        for (uint32_t b = 0; b + 1 < nb; b++) { /* whole blocks: the Q4_0 comparison */
            double e = 0;
            for (uint32_t i = 0; i < G2_QK; i++) {
                float diff = row[b * G2_QK + i] - w[r * COLS + b * G2_QK + i];
                e += (double)diff * diff;
            }
            double ref = q4_0_error(w + r * COLS + b * G2_QK);
            /* a different grid can lose on a single block, but never by much */
            CHECK(e <= ref * 1.5 + 1e-12, "q4 block %u,%u error %g far above Q4_0's %g", (unsigned)r,
                  (unsigned)b, e, ref);
            worst = fmax(worst, e / (ref + 1e-30));
            ours += e;
            q4_0 += ref;
        }
    }
    fprintf(stderr, "q4 squared error / Q4_0's: %.3f (worst block %.3f)\n", ours / q4_0, worst);
    /* The codebook and the scale search leave about 0.80 of Q4_0's squared error on
     * bell-shaped weights (docs/quantization.md). */
    CHECK(ours < 0.85 * q4_0, "q4 should beat Q4_0: %.3f of its squared error", ours / q4_0);
    free(w), free(q8), free(q4), free(d8), free(d4);
}

/* A block of tiny values (127 / max|x| would overflow) quantizes to zeros, not -127s. */
static void test_tiny_activations(void) {
    float x[40] = {1e-38f, -3e-39f};
    int8_t qs[64], ql[64];
    float d[2];
    int32_t sum[2];
    g2_kernels_scalar.quantize_act(x, 40, 2, qs, ql, d, sum);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero += qs[i] != 0 || ql[i] != 0;
    CHECK(nonzero == 0 && sum[0] == 0 && d[0] == 0.0f, "tiny block: %d nonzero quants, sum %d, d %g", nonzero,
          (int)sum[0], (double)d[0]);
}

int main(void) {
    test_tiny_activations();
    test_f16();
    test_blocks();
    return tu_finish("test_quant");
}
