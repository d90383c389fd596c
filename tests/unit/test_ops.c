/* SPDX-License-Identifier: Apache-2.0 */
/* Forward-pass ops against straightforward double-precision versions of the
 * DESIGN.md formulas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"
#include "testutil.h"

static float frand(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return ((float)((*state >> 8) & 0xFFFF) / 32768.0f) - 1.0f;
}

static void test_rmsnorm(void) {
    unsigned seed = 1;
    float x[300], w[300], out[300];
    for (int i = 0; i < 300; i++) {
        x[i] = frand(&seed) * 30.0f;
        w[i] = frand(&seed);
    }
    g2_rmsnorm(out, x, w, 300, 1e-6f);
    double ss = 0;
    for (int i = 0; i < 300; i++)
        ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / 300 + 1e-6);
    for (int i = 0; i < 300; i++) {
        double ref = x[i] * inv * (1.0 + w[i]);
        CHECK(fabs(out[i] - ref) <= 1e-5 * (1 + fabs(ref)), "rmsnorm[%d] %g vs %g", i, out[i], ref);
    }
    memcpy(out, x, sizeof x); /* in place */
    g2_rmsnorm(out, out, w, 300, 1e-6f);
    CHECK(fabs(out[7] - x[7] * inv * (1.0 + w[7])) <= 1e-5 * (1 + fabs(out[7])), "rmsnorm in place");
}

static void test_softcap_geglu(void) {
    float v[4] = {0.0f, 10.0f, -100.0f, 1000.0f};
    g2_softcap(v, 4, 30.0f);
    CHECK(v[0] == 0.0f, "softcap(0)");
    CHECK(fabs(v[1] - 30.0 * tanh(10.0 / 30.0)) < 1e-5, "softcap(10) %g", v[1]);
    CHECK(v[2] > -30.0f && v[2] < -29.0f && v[3] <= 30.0f && v[3] > 29.99f, "softcap saturates");
    float keep[2] = {123.0f, -5.0f};
    g2_softcap(keep, 2, 0.0f);
    CHECK(keep[0] == 123.0f && keep[1] == -5.0f, "cap 0 disables");
    float gate[5] = {-3.0f, -0.5f, 0.0f, 0.7f, 4.0f}, up[5] = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f};
    float g0[5];
    memcpy(g0, gate, sizeof gate);
    g2_geglu(gate, up, 5);
    for (int i = 0; i < 5; i++) {
        double x = g0[i];
        double ref = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * up[i];
        CHECK(fabs(gate[i] - ref) < 1e-6, "geglu[%d] %g vs %g", i, gate[i], ref);
    }
}

static void test_rope(void) {
    const uint32_t d = 64, pos = 5000;
    float cs[32], sn[32], v[2 * 64];
    unsigned seed = 7;
    for (uint32_t i = 0; i < 2 * d; i++)
        v[i] = frand(&seed);
    float orig[2 * 64];
    memcpy(orig, v, sizeof v);
    g2_rope_angles(cs, sn, d, pos, 10000.0f);
    g2_rope(v, 2, d, cs, sn);
    for (uint32_t h = 0; h < 2; h++)
        for (uint32_t i = 0; i < d / 2; i++) {
            double a = pos * pow(10000.0, -2.0 * i / d);
            double x1 = orig[h * d + i], x2 = orig[h * d + i + d / 2];
            double r1 = x1 * cos(a) - x2 * sin(a), r2 = x2 * cos(a) + x1 * sin(a);
            CHECK(fabs(v[h * d + i] - r1) < 1e-5 && fabs(v[h * d + i + d / 2] - r2) < 1e-5,
                  "rope head %u pair %u", (unsigned)h, (unsigned)i);
        }
    g2_rope_angles(cs, sn, d, 0, 10000.0f);
    memcpy(v, orig, sizeof v);
    g2_rope(v, 2, d, cs, sn);
    CHECK(memcmp(v, orig, sizeof v) == 0, "position 0 is the identity");
}

static void test_dot_bf16_argmax(void) {
    unsigned seed = 3;
    for (uint32_t n = 0; n < 70; n++) {
        float a[70], b[70];
        double ref = 0;
        for (uint32_t i = 0; i < n; i++) {
            a[i] = frand(&seed);
            b[i] = frand(&seed);
            ref += (double)a[i] * b[i];
        }
        CHECK(fabs(g2_dot_f32(a, b, n) - ref) < 1e-5, "dot n=%u", (unsigned)n);
    }
    const uint16_t bf[4] = {0x3F80, 0xC000, 0x0000, 0x7F80}; /* 1, -2, 0, inf */
    float f[4];
    g2_bf16_to_f32(f, bf, 4);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.0f && isinf(f[3]), "bf16 widening");
    const float x[6] = {1.0f, 5.0f, 5.0f, -2.0f, 4.0f, 5.0f};
    CHECK(g2_argmax(x, 6) == 1, "argmax takes the lowest index on ties");
    const float y[3] = {NAN, -1.0f, -3.0f};
    CHECK(g2_argmax(y, 3) == 1, "NaN never wins");
}

int main(void) {
    test_rmsnorm();
    test_softcap_geglu();
    test_rope();
    test_dot_bf16_argmax();
    return tu_finish("test_ops");
}
