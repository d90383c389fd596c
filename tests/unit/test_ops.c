/* SPDX-License-Identifier: Apache-2.0 */
/* Forward-pass ops against straightforward double-precision versions of the
 * DESIGN.md formulas; g2_expf/g2_tanhf against libm's double exp/tanh with a stated
 * ulp bound; and every SIMD table (g2_float_kernels_get) against the baseline one, bit
 * for bit. */
#include <math.h>
#include <stdint.h>
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

/* ---- exp / tanh accuracy and special values ---- */

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The error of y against the exact ref, in units in the last place of float at ref
 * (2^-149 in the subnormal range). */
static double ulp_error(float y, double ref) {
    const double a = fabs(ref);
    int e = 0;
    frexp(a, &e);
    const double ulp = a < 0x1p-126 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)y - ref) / ulp;
}

/* The bounds ops.h states (from an exhaustive run over all 2^32 floats: 0.99 and
 * 1.07). */
#define EXP_ULP 1.0
#define TANH_ULP 1.1

/* Every table computes the same bits as the baseline on x[0..n). */
static int same_on_every_table(int which, const float *x, const float *y_base, float *y, uint32_t n) {
    for (int t = 1; t < 3; t++) {
        const g2_float_kernels *k = g2_float_kernels_get(t);
        if (!k)
            continue;
        (which ? k->tanh : k->exp)(y, x, n);
        if (memcmp(y, y_base, n * sizeof *y) != 0)
            return t;
    }
    return 0;
}

static void test_exp_tanh_sweep(void) {
    enum { BATCH = 4096 };
    static float x[BATCH], ye[BATCH], yt[BATCH], y2[BATCH];
    const g2_float_kernels *base = g2_float_kernels_get(0);
    double worst_e = 0, worst_t = 0;
    float at_e = 0, at_t = 0;
    long bad_e = 0, bad_t = 0, diff_tables = 0, count = 0;
    /* every 251st float bit pattern (17 million values over the whole range, all
     * signs and exponents, subnormals, infinities and NaNs included) */
    uint64_t u = 0;
    while (u < (1ull << 32)) {
        uint32_t n = 0;
        for (; n < BATCH && u < (1ull << 32); n++, u += 251)
            x[n] = from_bits((uint32_t)u);
        base->exp(ye, x, n);
        base->tanh(yt, x, n);
        diff_tables += same_on_every_table(0, x, ye, y2, n) != 0;
        diff_tables += same_on_every_table(1, x, yt, y2, n) != 0;
        for (uint32_t i = 0; i < n; i++, count++) {
            const double re = exp((double)x[i]), rt = tanh((double)x[i]);
            if (isnan(x[i])) {
                bad_e += !isnan(ye[i]);
                bad_t += !isnan(yt[i]);
                continue;
            }
            if (re > 0x1.fffffep127) { /* overflows float */
                bad_e += !(isinf(ye[i]) && ye[i] > 0);
            } else {
                const double e = ulp_error(ye[i], re);
                if (e > worst_e) {
                    worst_e = e;
                    at_e = x[i];
                }
            }
            const double t = ulp_error(yt[i], rt);
            if (t > worst_t) {
                worst_t = t;
                at_t = x[i];
            }
        }
    }
    CHECK(worst_e <= EXP_ULP, "g2_expf: %.3f ulp at %a (bound %.2f)", worst_e, at_e, EXP_ULP);
    CHECK(worst_t <= TANH_ULP, "g2_tanhf: %.3f ulp at %a (bound %.2f)", worst_t, at_t, TANH_ULP);
    CHECK(bad_e == 0 && bad_t == 0, "%ld exp and %ld tanh results wrong on NaN or overflow", bad_e, bad_t);
    CHECK(diff_tables == 0, "%ld batches differ between SIMD tables", diff_tables);
    printf("exp/tanh over %ld floats: max %.3f / %.3f ulp\n", count, worst_e, worst_t);
}

static void test_exp_tanh_special(void) {
    CHECK(g2_expf(0.0f) == 1.0f && g2_expf(-0.0f) == 1.0f, "exp(±0) = 1");
    CHECK(g2_expf(1.0f) == (float)exp(1.0), "exp(1) rounds right: %a", g2_expf(1.0f));
    CHECK(isinf(g2_expf(INFINITY)) && g2_expf(INFINITY) > 0, "exp(inf) = inf");
    CHECK(g2_expf(-INFINITY) == 0.0f && !signbit(g2_expf(-INFINITY)), "exp(-inf) = +0");
    CHECK(isnan(g2_expf(NAN)) && isnan(g2_expf(-NAN)), "exp(NaN) = NaN");
    CHECK(isinf(g2_expf(88.73f)) && !isinf(g2_expf(88.72f)), "exp overflows past ln(FLT_MAX)");
    CHECK(g2_expf(88.72f) > 3.3e38f, "exp(88.72) %g", g2_expf(88.72f));
    CHECK(g2_expf(-103.98f) == 0.0f && g2_expf(-103.9f) == 0x1p-149f,
          "exp underflows to the least subnormal, then 0");
    CHECK(g2_expf(-87.5f) > 0.0f && g2_expf(-87.5f) < 0x1p-126f, "exp gives subnormals");
    CHECK(ulp_error(g2_expf(-100.0f), exp(-100.0)) <= EXP_ULP, "exp(-100) %a", g2_expf(-100.0f));
    CHECK(g2_expf(1000.0f) == INFINITY && g2_expf(-1000.0f) == 0.0f, "exp saturates");

    CHECK(g2_tanhf(0.0f) == 0.0f && !signbit(g2_tanhf(0.0f)), "tanh(+0) = +0");
    CHECK(g2_tanhf(-0.0f) == 0.0f && signbit(g2_tanhf(-0.0f)), "tanh(-0) = -0");
    CHECK(g2_tanhf(INFINITY) == 1.0f && g2_tanhf(-INFINITY) == -1.0f, "tanh(±inf) = ±1");
    CHECK(g2_tanhf(10.0f) == 1.0f && g2_tanhf(-1e30f) == -1.0f, "tanh saturates");
    CHECK(isnan(g2_tanhf(NAN)) && isnan(g2_tanhf(-NAN)), "tanh(NaN) = NaN");
    CHECK(g2_tanhf(0x1p-140f) == 0x1p-140f && g2_tanhf(1e-20f) == 1e-20f, "tanh(x) = x for tiny x");
    /* odd, and monotonic across the switch between the two formulas at |x| = 0.75 */
    for (uint32_t b = to_bits(0.74f); b < to_bits(0.76f); b++) {
        const float v = from_bits(b);
        if (g2_tanhf(-v) != -g2_tanhf(v) || g2_tanhf(from_bits(b + 1)) < g2_tanhf(v)) {
            CHECK(0, "tanh odd and monotonic near 0.75: at %a", v);
            break;
        }
    }
}

/* ---- every SIMD table gives the same bits ---- */

/* g2_dot_f32's order, written out plainly. */
static float dot_reference(const float *a, const float *b, uint32_t n) {
    float acc[16] = {0};
    for (uint32_t i = 0; i < n; i++)
        acc[i % 16] += a[i] * b[i];
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

static void test_tables_same_bits(void) {
    enum { N = 1000 };
    static float x[N], up[N], base[N], other[N];
    unsigned seed = 11;
    int tables = 0;
    for (int t = 0; t < 3; t++)
        tables += g2_float_kernels_get(t) != NULL;
    printf("SIMD tables on this CPU: %d (best: %s)\n", tables, g2_float_kernels_best()->name);
    const g2_float_kernels *b = g2_float_kernels_get(0);
    for (uint32_t n = 0; n <= N; n += n < 40 ? 1 : 97) {
        for (uint32_t i = 0; i < n; i++) {
            x[i] = frand(&seed) * (i % 3 ? 8.0f : 80.0f);
            up[i] = frand(&seed);
        }
        if (n > 5) { /* special values in the middle of a vector */
            x[1] = INFINITY;
            x[2] = -INFINITY;
            x[3] = NAN;
            x[4] = -0.0f;
        }
        const float ref_dot = dot_reference(x + 5 * (n > 5), up + 5 * (n > 5), n - 5 * (n > 5));
        for (int t = 0; t < 3; t++) {
            const g2_float_kernels *k = g2_float_kernels_get(t);
            if (!k)
                continue;
            memcpy(base, x, n * sizeof *x);
            memcpy(other, x, n * sizeof *x);
            b->softcap(base, n, 30.0f);
            k->softcap(other, n, 30.0f);
            CHECK(!memcmp(base, other, n * sizeof *x), "%s softcap n=%u", k->name, (unsigned)n);
            memcpy(base, x, n * sizeof *x);
            memcpy(other, x, n * sizeof *x);
            b->geglu(base, up, n);
            k->geglu(other, up, n);
            CHECK(!memcmp(base, other, n * sizeof *x), "%s geglu n=%u", k->name, (unsigned)n);
            const float dk = k->dot(x + 5 * (n > 5), up + 5 * (n > 5), n - 5 * (n > 5));
            CHECK(to_bits(dk) == to_bits(ref_dot), "%s dot n=%u: %a vs %a", k->name, (unsigned)n, dk,
                  ref_dot);
        }
    }
    /* soft-cap and GeGLU against double-precision formulas */
    for (uint32_t i = 0; i < N; i++)
        x[i] = frand(&seed) * 100.0f;
    memcpy(base, x, sizeof x);
    g2_softcap(base, N, 30.0f);
    for (uint32_t i = 0; i < N; i++) {
        const double ref = 30.0 * tanh(x[i] / 30.0);
        CHECK(fabs(base[i] - ref) <= 4e-6 * 30.0, "softcap(%g) %g vs %g", x[i], base[i], ref);
    }
    memcpy(base, x, sizeof x);
    g2_geglu(base, up, N);
    for (uint32_t i = 0; i < N; i++) {
        const double g = x[i],
                     ref = 0.5 * g * (1 + tanh(sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i];
        CHECK(fabs(base[i] - ref) <= 1e-6 * (1 + fabs(ref)), "geglu(%g) %g vs %g", x[i], base[i], ref);
    }
}

/* ---- attention ---- */

/* The outputs of one (token, head) row in double precision. */
static void attend_reference(const g2_attend_args *a, uint32_t t, uint32_t h, double *out) {
    const uint32_t d = a->d, pos = a->first_pos + t;
    const uint32_t lo = a->window && pos >= a->window ? pos - a->window + 1 : 0;
    const float *q = a->q + t * a->tok_stride + h * d;
    double s[600], max = -INFINITY, sum = 0;
    for (uint32_t j = lo; j <= pos; j++) {
        double dot = 0;
        for (uint32_t i = 0; i < d; i++)
            dot += (double)q[i] * a->k[g2_key_index(a->k_len, d, j, i)];
        s[j] = a->softcap > 0 ? a->softcap * tanh(dot / a->softcap) : dot;
        max = s[j] > max ? s[j] : max;
    }
    for (uint32_t j = lo; j <= pos; j++)
        sum += s[j] = exp(s[j] - max);
    for (uint32_t i = 0; i < d; i++) {
        out[i] = 0;
        for (uint32_t j = lo; j <= pos; j++)
            out[i] += s[j] / sum * a->v[j * a->v_stride + i];
    }
}

static void test_attend(void) {
    unsigned seed = 5;
    const uint32_t dims[] = {1, 16, 40, 64, 256};
    const uint32_t windows[] = {1, 2, 3, 5, 17, 64, 200};
    for (int c = 0; c < 56; c++) {
        const uint32_t d = dims[c % 5], H = 1 + c % 3, T = 1 + (c * 7) % 8, first = (c * 37) % 300;
        const uint32_t window = c % 4 == 1 ? windows[c / 4 % 7] : 0, kv_heads = 2;
        const float cap = c % 2 ? 50.0f : 0.0f, scale = c % 5 == 3 ? 20.0f : 1.0f;
        const uint32_t n_pos = first + T;
        /* keys in the cache layout (g2_key_index), a cache exactly as long as the positions
         * in one case in three (nothing may be read past its end: ASan builds check) */
        const size_t tok_stride = (size_t)H * kv_heads * d + 3, v_stride = (size_t)kv_heads * d + 1;
        const uint32_t k_len = c % 3 == 0 ? n_pos : n_pos + 5 + c;
        float *q = malloc(T * tok_stride * sizeof *q), *k = malloc((size_t)d * k_len * sizeof *k);
        float *v = malloc(n_pos * v_stride * sizeof *v);
        float *out = calloc(T * tok_stride, sizeof *out), *out1 = calloc(T * tok_stride, sizeof *out1);
        for (size_t i = 0; i < T * tok_stride; i++)
            q[i] = frand(&seed) * scale;
        for (size_t i = 0; i < (size_t)d * k_len; i++)
            k[i] = frand(&seed);
        for (size_t i = 0; i < n_pos * v_stride; i++)
            v[i] = frand(&seed);
        g2_attend_args a = {.q = q,
                            .out = out,
                            .tok_stride = tok_stride,
                            .k = k,
                            .k_len = k_len,
                            .v = v + d,
                            .v_stride = v_stride,
                            .d = d,
                            .n_heads = H,
                            .n_tok = T,
                            .first_pos = first,
                            .window = window,
                            .softcap = cap};
        float *scores = malloc((g2_attend_scratch(H, T, first, window) + 1) * sizeof *scores);
        a.scores = scores;
        g2_float_kernels_get(0)->attend(&a);
        /* against double precision */
        double ref[256], worst = 0;
        for (uint32_t t = 0; t < T; t++)
            for (uint32_t h = 0; h < H; h++) {
                attend_reference(&a, t, h, ref);
                for (uint32_t i = 0; i < d; i++) {
                    const double e = fabs(out[t * tok_stride + h * d + i] - ref[i]);
                    worst = e > worst ? e : worst;
                }
            }
        CHECK(worst < 2e-5 * scale,
              "attend case %d (d %u, %u heads, %u tokens from %u, window %u): off by %g", c, (unsigned)d,
              (unsigned)H, (unsigned)T, (unsigned)first, (unsigned)window, worst);
        /* the same bits on every table, and row by row (one head of one token per item) */
        for (int tb = 0; tb < 3; tb++) {
            const g2_float_kernels *kt = g2_float_kernels_get(tb);
            if (!kt)
                continue;
            memset(out1, 0, T * tok_stride * sizeof *out1);
            for (uint32_t t = 0; t < T; t++)
                for (uint32_t h = 0; h < H; h++) {
                    g2_attend_args one = a;
                    one.q = q + t * tok_stride + h * d;
                    one.out = out1 + t * tok_stride + h * d;
                    one.n_heads = 1;
                    one.n_tok = 1;
                    one.first_pos = first + t;
                    kt->attend(&one);
                }
            CHECK(!memcmp(out, out1, T * tok_stride * sizeof *out), "attend case %d: %s, row by row, differs",
                  c, kt->name);
            memset(out1, 0, T * tok_stride * sizeof *out1);
            a.out = out1;
            kt->attend(&a);
            a.out = out;
            CHECK(!memcmp(out, out1, T * tok_stride * sizeof *out), "attend case %d: %s differs", c,
                  kt->name);
        }
        free(scores);
        free(q);
        free(k);
        free(v);
        free(out);
        free(out1);
    }
}

/* Softmax weights below FLT_MIN are zero on every table: they could not change a sum
 * of values that includes the largest weight, and as subnormal multiplicands they cost
 * a slow assist per product (a quarter of a 2B prefill, measured). One token, d = 1,
 * soft-cap 50: keys of ±200 give scores ±49.97, so the smallest weights are about
 * e^-99.9 (subnormal) and the middle ones e^-80 (normal). */
static void test_attend_tiny_weights(void) {
    enum { P = 48 };
    float q[1] = {1.0f}, k[P], v[P], out[1], scores[P + 16];
    for (int j = 0; j < P; j++) {
        k[g2_key_index(P, 1, (uint32_t)j, 0)] = j % 3 == 0 ? 200.0f : j % 3 == 1 ? -200.0f : -25.0f;
        v[j] = 1.0f + (float)j;
    }
    float first_out = 0.0f;
    for (int tb = 0; tb < 3; tb++) {
        const g2_float_kernels *kt = g2_float_kernels_get(tb);
        if (!kt)
            continue;
        memset(scores, 0xFF, sizeof scores);
        g2_attend_args a = {.q = q,
                            .out = out,
                            .tok_stride = 1,
                            .k = k,
                            .k_len = P,
                            .v = v,
                            .v_stride = 1,
                            .d = 1,
                            .n_heads = 1,
                            .n_tok = 1,
                            .first_pos = P - 1,
                            .softcap = 50.0f,
                            .scores = scores};
        kt->attend(&a);
        int zeros = 0, kept = 0;
        for (int j = 0; j < P; j++) {
            CHECK(fpclassify(scores[j]) != FP_SUBNORMAL, "%s: weight %d is subnormal (%g)", kt->name, j,
                  (double)scores[j]);
            if (j % 3 == 1) {
                CHECK(scores[j] == 0.0f, "%s: weight %d (about e^-99.9) is %g, not 0", kt->name, j,
                      (double)scores[j]);
                zeros += scores[j] == 0.0f;
            } else if (j % 3 == 2) {
                CHECK(scores[j] > 0.0f && scores[j] < 1e-30f, "%s: weight %d (about e^-80) is %g", kt->name,
                      j, (double)scores[j]);
                kept += scores[j] > 0.0f;
            }
        }
        CHECK(zeros == P / 3 && kept == P / 3, "%s: %d weights flushed, %d small ones kept", kt->name, zeros,
              kept);
        /* the 16 largest weights are equal: the output is the mean of their values */
        double mean = 0;
        for (int j = 0; j < P; j += 3)
            mean += v[j] / (P / 3);
        CHECK(fabs(out[0] - mean) <= 1e-5 * mean, "%s: output %g, expected %g", kt->name, (double)out[0],
              mean);
        if (tb == 0)
            first_out = out[0];
        CHECK(!memcmp(&first_out, out, sizeof *out), "%s: output differs from the baseline table", kt->name);
    }
}

int main(void) {
    test_rmsnorm();
    test_softcap_geglu();
    test_rope();
    test_dot_bf16_argmax();
    test_exp_tanh_special();
    test_exp_tanh_sweep();
    test_tables_same_bits();
    test_attend();
    test_attend_tiny_weights();
    return tu_finish("test_ops");
}
