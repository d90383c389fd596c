/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel tables against the scalar reference (lib/tensor/quant.h).
 *
 *   test_kernels ISA        tests table ISA ("scalar", "avx2", "avxvnni", "avx512",
 *                           "avx512vbmi", "amx", "neon"); exit 77 (skip) if this
 *                           build or this CPU lacks it
 *   test_kernels --bench [ISA...]   1-thread microbenchmark of gemm_q8/gemm_q4 on a
 *                           2304×9216 matrix: n_tok = 1 (GB/s of weights streamed)
 *                           and n_tok = 64 (GOPS)
 *
 * Checks: quantize_act is bit-identical to the scalar one (qs, ql, d and sum) on
 * random vectors of every length 1..300 and awkward values (zeros, ties, huge, tiny,
 * subnormal, inf, NaN), with one and two digits, and the scalar one is within its
 * stated error bound; gemm_q8/gemm_q4 are bit-identical to the scalar table (the
 * canonical order of lib/tensor/quant.h), which is itself checked against the exact
 * dot product, for one- and two-digit activations, random matrices with ragged
 * columns, row ranges [r0, r1) starting past 0, any n_tok 1..70, long rows, and a
 * y_stride wider than the rows (nothing outside the range is
 * written); g2_kernels_select honours GEMMA2_ISA only downwards; gemma2_cpu_kernels
 * and gemma2_cpu_describe follow it and the buffer protocol.
 *
 * Self-contained (no test library), so .ci/aarch64.sh can cross-compile it with the
 * kernel files alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemma2.h"
#include "runtime/cpu.h"
#include "tensor/quant.h"

static int g_failures, g_checks;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        g_checks++;                                                                      \
        if (!(cond)) {                                                                   \
            if (++g_failures <= 20) {                                                    \
                fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                            \
                fputc('\n', stderr);                                                     \
            }                                                                            \
        }                                                                                \
    } while (0)

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float frand(void) { return (float)rnd() / 2147483648.0f - 1.0f; } /* [-1, 1) */
static float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- quantize_act ---------------------------------------------------------------- */

#define N_PATTERNS 12

/* Fills x[0..n) with pattern p. */
static void fill_pattern(float *x, uint32_t n, int p) {
    static const float scales[] = {1.0f, 1e-3f, 1e3f, 1e30f, 1e-30f, 3e38f};
    for (uint32_t i = 0; i < n; i++) {
        switch (p) {
        case 0: x[i] = 0.0f; break;
        case 1: x[i] = i == n / 2 ? -1.5f : 0.0f; break; /* one value */
        case 2: /* ties: with 127 present the scale is exactly 1, so k + 0.5 rounds to even */
            x[i] = i % 7 == 0 ? 127.0f : (float)((int)(rnd() % 254) - 127) + 0.5f;
            x[i] = x[i] > 127.0f ? 127.0f : x[i] < -127.0f ? -127.0f : x[i];
            break;
        case 3: x[i] = (i & 1 ? -0.0f : 0.0f); break;
        case 4: x[i] = frand() * 1e-38f; break; /* tiny: 127/amax overflows */
        case 5: x[i] = bits_to_float(rnd() % 0x800000u | (rnd() & 0x80000000u)); break; /* subnormal */
        case 6: /* inf, NaN and finite values mixed */
            x[i] = rnd() % 5 == 0 ? (rnd() & 1 ? INFINITY : -INFINITY) : rnd() % 5 == 1 ? NAN : frand();
            break;
        case 7: x[i] = rnd() % 3 == 0 ? NAN : frand() * 10.0f; break;
        default: x[i] = frand() * scales[(p - 8 + (int)i / 32) % 6] * (rnd() % 4 == 0 ? 1e-2f : 1.0f); break;
        }
    }
}

/* The scalar quantization against its definition, for finite x: with two digits each
 * value is within half a step d of the 16-bit grid d · (256·hi + lo), plus float
 * rounding, except at an exact tie e − hi = ±1/2, where lo clamps from ±128 to ±127
 * (error d); with one digit, lo is 0 and the value within half a step 256·d of
 * d · 256·hi; and sum is Σ (256·hi + lo). */
static void check_act_bound(const float *x, uint32_t n, unsigned digits, const int8_t *qs, const int8_t *ql,
                            const float *d, const int32_t *sum, int pattern) {
    for (uint32_t b = 0; b < g2_q_blocks(n); b++) {
        int all_finite = 1;
        int32_t s = 0;
        for (uint32_t i = b * G2_QK; i < (b + 1) * G2_QK; i++) {
            s += G2_ACT_LO_WEIGHT * qs[i] + ql[i];
            if (i < n)
                all_finite &= isfinite(x[i]) != 0;
            if (digits == 1)
                CHECK(ql[i] == 0, "scalar quantize_act: one digit but lo %d at %u pattern %d", ql[i], i,
                      pattern);
        }
        CHECK(s == sum[b], "scalar quantize_act sum: block %u pattern %d", b, pattern);
        if (!all_finite)
            continue;
        double amax = 0.0;
        for (uint32_t i = b * G2_QK; i < n && i < (b + 1) * G2_QK; i++)
            amax = fmax(amax, fabs((double)x[i]));
        for (uint32_t i = b * G2_QK; i < (b + 1) * G2_QK; i++) {
            const double xi = i < n ? x[i] : 0.0;
            const double back = (double)d[b] * (G2_ACT_LO_WEIGHT * qs[i] + ql[i]);
            const double step = digits == 1 ? G2_ACT_LO_WEIGHT / 2 * (double)d[b] : (double)d[b];
            const double bound = amax < G2_ACT_TINY ? 0.0 : step + 1e-6 * amax;
            CHECK(fabs(back - xi) <= bound || (amax < G2_ACT_TINY && fabs(xi) < G2_ACT_TINY),
                  "scalar quantize_act error: x=%g back=%g d=%g pattern %d", xi, back, (double)d[b], pattern);
        }
    }
}

static void test_quantize(const g2_kernels *k) {
    enum { MAX_N = 300, MAX_NB = (MAX_N + G2_QK - 1) / G2_QK };
    float x[MAX_N];
    int8_t qs_s[MAX_NB * G2_QK], qs_k[MAX_NB * G2_QK], ql_s[MAX_NB * G2_QK], ql_k[MAX_NB * G2_QK];
    float d_s[MAX_NB], d_k[MAX_NB];
    int32_t sum_s[MAX_NB], sum_k[MAX_NB];
    for (uint32_t n = 1; n <= MAX_N; n++)
        for (int p = 0; p < 2 * N_PATTERNS; p++) {
            const unsigned digits = p < N_PATTERNS ? 2 : 1;
            fill_pattern(x, n, p % N_PATTERNS);
            const uint32_t nb = g2_q_blocks(n);
            memset(qs_s, 0x5A, sizeof qs_s); /* the tail must be written too */
            memset(qs_k, 0xA5, sizeof qs_k);
            memset(ql_s, 0x5A, sizeof ql_s);
            memset(ql_k, 0xA5, sizeof ql_k);
            g2_kernels_scalar.quantize_act(x, n, digits, qs_s, ql_s, d_s, sum_s);
            k->quantize_act(x, n, digits, qs_k, ql_k, d_k, sum_k);
            CHECK(!memcmp(qs_s, qs_k, (size_t)nb * G2_QK), "%s quantize_act qs: n=%u pattern %d", k->name, n,
                  p);
            CHECK(!memcmp(ql_s, ql_k, (size_t)nb * G2_QK), "%s quantize_act ql: n=%u pattern %d", k->name, n,
                  p);
            check_act_bound(x, n, digits, qs_s, ql_s, d_s, sum_s, p);
            CHECK(!memcmp(d_s, d_k, nb * sizeof(float)), "%s quantize_act d: n=%u pattern %d (%g vs %g)",
                  k->name, n, p, (double)d_s[0], (double)d_k[0]);
            CHECK(!memcmp(sum_s, sum_k, nb * sizeof(int32_t)), "%s quantize_act sum: n=%u pattern %d",
                  k->name, n, p);
        }
}

/* ---- gemm ------------------------------------------------------------------------ */

typedef struct test_case {
    uint32_t rows, cols, nb, n_tok, r0, r1;
    size_t y_stride;
    g2_qmatrix W;
    g2_qact A;
    void *wq;
    uint16_t *wd;
} test_case;

/* Random weights (q8 in [-127, 127]; q4 nibbles) with zero padding past cols, random
 * f16 scales of either sign, activations quantized by the scalar table to digits (1 or
 * 2); extreme != 0 gives weights and activations all at ±127 (q4: 0/15), the largest
 * products. */
static void make_case(test_case *c, int q4, uint32_t rows, uint32_t cols, uint32_t n_tok, unsigned digits,
                      int extreme) {
    c->rows = rows;
    c->cols = cols;
    c->nb = g2_q_blocks(cols);
    c->n_tok = n_tok;
    const size_t nbl = (size_t)rows * c->nb;
    c->wq = xmalloc(nbl * (q4 ? G2_QK / 2 : G2_QK));
    c->wd = xmalloc(nbl * sizeof(uint16_t));
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t col = 0; col < c->nb * G2_QK; col++) {
            const uint32_t b = col / G2_QK, i = col % G2_QK;
            int v = extreme ? (rnd() & 1 ? 127 : -127) : (int)(rnd() % 255) - 127;
            if (q4) /* a level index */
                v = extreme ? (rnd() & 1 ? 15 : 0) : (int)(rnd() % 16);
            if (col >= cols)
                v = q4 ? (int)(rnd() % 16) : 0; /* q4 has no zero level; x is 0 there */
            if (q4) {
                uint8_t *p = (uint8_t *)c->wq + g2_q4_byte_at(rows, c->nb, r, b, i % (G2_QK / 2));
                if (i < G2_QK / 2)
                    *p = (uint8_t)v;
                else
                    *p = (uint8_t)(*p | v << 4);
            } else {
                ((int8_t *)c->wq)[g2_q8_byte_at(rows, c->nb, r, b, i)] = (int8_t)v;
            }
        }
    for (size_t i = 0; i < nbl; i++)
        c->wd[i] = g2_f32_to_f16(frand() * 0.05f);
    c->W = (g2_qmatrix){.qs = c->wq, .d = c->wd, .rows = rows, .cols = cols, .nb = c->nb};
    c->A.nb = c->nb;
    c->A.digits = digits;
    c->A.qs = xmalloc((size_t)n_tok * c->nb * G2_QK);
    c->A.ql = xmalloc((size_t)n_tok * c->nb * G2_QK);
    c->A.d = xmalloc((size_t)n_tok * c->nb * sizeof(float));
    c->A.sum = xmalloc((size_t)n_tok * c->nb * sizeof(int32_t));
    c->A.tiles = xmalloc(G2_ACT_TILE_BYTES(n_tok, c->nb));
    c->A.tiles_d = xmalloc(G2_ACT_TILE_FLOATS(n_tok, c->nb) * sizeof(float));
    c->A.tiles_tok = 0;
    float *x = xmalloc((size_t)cols * sizeof(float));
    for (uint32_t t = 0; t < n_tok; t++) {
        const float scale = (float)(1 + rnd() % 100);
        for (uint32_t i = 0; i < cols; i++)
            x[i] = extreme ? (rnd() & 1 ? scale : -scale) : frand() * scale;
        g2_kernels_scalar.quantize_act(x, cols, digits, c->A.qs + (size_t)t * c->nb * G2_QK,
                                       c->A.ql + (size_t)t * c->nb * G2_QK, c->A.d + (size_t)t * c->nb,
                                       c->A.sum + (size_t)t * c->nb);
    }
    free(x);
}

static void free_case(test_case *c) {
    free(c->wq);
    free(c->wd);
    free(c->A.qs);
    free(c->A.ql);
    free(c->A.d);
    free(c->A.sum);
    free(c->A.tiles);
    free(c->A.tiles_d);
}

static int weight(const test_case *c, int q4, uint32_t r, uint32_t col) {
    const uint32_t i = col % G2_QK;
    if (!q4)
        return ((const int8_t *)c->wq)[g2_q8_byte_at(c->rows, c->nb, r, col / G2_QK, i)];
    const uint8_t byte =
        ((const uint8_t *)c->wq)[g2_q4_byte_at(c->rows, c->nb, r, col / G2_QK, i % (G2_QK / 2))];
    return g2_q4_levels[i < G2_QK / 2 ? byte & 0x0F : byte >> 4];
}

/* Row r · token t in double from the definition, and the tolerance's Σ|terms|:
 * Σ_b |d_w d_x| Σ_i |q_w,i q_x,i|. */
static double exact_dot(const test_case *c, int q4, uint32_t r, uint32_t t, double *abs_terms) {
    double dot = 0.0, mag = 0.0;
    for (uint32_t b = 0; b < c->nb; b++) {
        int64_t idot = 0, iabs = 0;
        for (uint32_t i = 0; i < G2_QK; i++) {
            const size_t at = ((size_t)t * c->nb + b) * G2_QK + i;
            const int64_t p =
                (int64_t)weight(c, q4, r, b * G2_QK + i) * (G2_ACT_LO_WEIGHT * c->A.qs[at] + c->A.ql[at]);
            idot += p;
            iabs += p < 0 ? -p : p;
        }
        const double s =
            (double)g2_f16_to_f32(c->wd[g2_q_scale_at(c->rows, c->nb, r, b)]) * c->A.d[(size_t)t * c->nb + b];
        dot += s * (double)idot;
        mag += fabs(s) * (double)iabs;
    }
    *abs_terms = mag;
    return dot;
}

/* The scalar table against the exact value. It sums each block exactly in int32,
 * converts it to float (one rounding), multiplies d_w·d_x (one) and adds with an FMA
 * into one of 16 lanes (one), then sums the lanes in a tree of 4 additions: at most
 * m = nb/16 + 7 roundings on any path, so it is within γ_m·Σ|terms| of the exact value,
 * γ_m = m·u/(1 − m·u), u = 2^-24, Σ|terms| = Σ_b |d_w d_x| Σ_i |q_w,i q_x,i|. The 1e-6
 * floor only matters for tiny nb. */
static double tolerance(uint32_t nb) {
    const double m = nb / 16.0 + 8.0, u = 1.0 / 16777216.0, gamma = m * u / (1.0 - m * u);
    return gamma > 1e-6 ? gamma : 1e-6;
}

static void check_case(const g2_kernels *k, int q4, test_case *c) {
    const size_t ny = (size_t)c->n_tok * c->y_stride;
    float *ys = xmalloc(ny * sizeof(float)), *yk = xmalloc(ny * sizeof(float));
    const float sentinel = bits_to_float(0x7FC0DEADu);
    for (size_t i = 0; i < ny; i++)
        ys[i] = yk[i] = sentinel;
    void (*ref)(const g2_qmatrix *, uint32_t, uint32_t, const g2_qact *, uint32_t, float *, size_t) =
        q4 ? g2_kernels_scalar.gemm_q4 : g2_kernels_scalar.gemm_q8;
    void (*fn)(const g2_qmatrix *, uint32_t, uint32_t, const g2_qact *, uint32_t, float *, size_t) =
        q4 ? k->gemm_q4 : k->gemm_q8;
    ref(&c->W, c->r0, c->r1, &c->A, c->n_tok, ys, c->y_stride);
    /* A table with a prepared-input path is checked on both paths; "prepared" must
     * then actually be taken for the sizes it claims (the avx512 and amx tables: every
     * input; amx as avx512vbmi below 12 tokens). */
    for (int prep = k->prepare_act ? 1 : 0; prep >= 0; prep--) {
        c->A.tiles_tok = 0;
        if (prep) {
            k->prepare_act(&c->A, c->n_tok);
            CHECK(c->A.tiles_tok == 0 || c->A.tiles_tok == c->n_tok,
                  "%s prepare_act: tiles_tok %u for %u tokens", k->name, c->A.tiles_tok, c->n_tok);
            const int expect =
                !strcmp(k->name, "amx") || !strncmp(k->name, "avx512", 6) ? 1 : c->A.tiles_tok != 0;
            CHECK((c->A.tiles_tok != 0) == expect, "%s prepare_act: %u tokens prepared: %u", k->name,
                  c->n_tok, c->A.tiles_tok);
        }
        for (size_t i = 0; i < ny; i++)
            yk[i] = sentinel;
        fn(&c->W, c->r0, c->r1, &c->A, c->n_tok, yk, c->y_stride);
        int bad = 0;
        for (uint32_t t = 0; t < c->n_tok && bad < 3; t++)
            for (size_t r = 0; r < c->y_stride && bad < 3; r++) {
                const size_t at = (size_t)t * c->y_stride + r;
                if (r < c->r0 || r >= c->r1) {
                    uint32_t u;
                    memcpy(&u, &yk[at], sizeof u);
                    CHECK(u == 0x7FC0DEADu, "%s gemm_q%d wrote outside its range: t=%u r=%zu", k->name,
                          q4 ? 4 : 8, t, r);
                    bad += u != 0x7FC0DEADu;
                    continue;
                }
                double mag;
                const double exact = exact_dot(c, q4, (uint32_t)r, t, &mag), tol = tolerance(c->nb) * mag;
                const int ok =
                    !memcmp(&yk[at], &ys[at], sizeof(float)) && fabs((double)ys[at] - exact) <= tol;
                CHECK(ok,
                      "%s gemm_q%d rows %u cols %u [%u, %u) n_tok %u digits %u: t=%u r=%zu: %.9g vs scalar "
                      "%.9g (exact %.9g, tol %.3g)",
                      k->name, q4 ? 4 : 8, c->rows, c->cols, c->r0, c->r1, c->n_tok, c->A.digits, t, r,
                      (double)yk[at], (double)ys[at], exact, tol);
                bad += !ok;
            }
    }
    c->A.tiles_tok = 0;
    free(ys);
    free(yk);
}

static void run_case(const g2_kernels *k, int q4, uint32_t rows, uint32_t cols, uint32_t n_tok, int extreme,
                     int full_range) {
    for (unsigned digits = 1; digits <= 2; digits++) {
        test_case c;
        make_case(&c, q4, rows, cols, n_tok, digits, extreme);
        c.r0 = full_range ? 0 : rnd() % rows;
        c.r1 = full_range ? rows : c.r0 + 1 + rnd() % (rows - c.r0);
        c.y_stride = rows + rnd() % 5;
        check_case(k, q4, &c);
        if (!full_range && c.r1 - c.r0 > 1 && rnd() % 4 == 0) { /* an empty range writes nothing */
            c.r1 = c.r0;
            check_case(k, q4, &c);
        }
        free_case(&c);
    }
}

static void test_gemm(const g2_kernels *k, int q4) {
    static const uint32_t cols_list[] = {1,   5,   31,  32,  33,  63,  64,  65,  96,   100,
                                         127, 128, 129, 200, 255, 256, 300, 513, 1000, 1024};
    static const uint32_t tok_list[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 31, 33, 64, 65, 70};
    const size_t n_tok_list = sizeof tok_list / sizeof tok_list[0];
    for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++)
        for (int it = 0; it < 8; it++) {
            const uint32_t n_tok = it < 2 ? (uint32_t)it + 1 : tok_list[rnd() % n_tok_list];
            run_case(k, q4, 1 + rnd() % 37, cols_list[ci], n_tok, it == 7, it == 0);
        }
    /* Long rows: the SIMD tables prepare activations in chunks of 128..512 blocks. */
    static const uint32_t long_cols[] = {2000, 4096 + 3 * 32 + 7, 8192 + 100, 16384 + 200};
    static const uint32_t long_toks[] = {1, 2, 3, 4, 5, 9, 17};
    for (size_t ci = 0; ci < sizeof long_cols / sizeof long_cols[0]; ci++)
        for (size_t ti = 0; ti < sizeof long_toks / sizeof long_toks[0]; ti++)
            run_case(k, q4, 1 + rnd() % 9, long_cols[ci], long_toks[ti], 0, ti == 0);
    /* More rows than the SIMD tables keep accumulators for at once (32). */
    run_case(k, q4, 70, 3000, 3, 0, 1);
}

/* ---- table choice ------------------------------------------------------------------ */

static const char *const g_family[] = {
    "scalar",
#if defined(__x86_64__)
    "avx2",   "avxvnni", "avx512", "avx512vbmi", "amx",
#elif defined(__aarch64__)
    "neon",
#endif
};
#define N_FAMILY (sizeof g_family / sizeof g_family[0])

static int family_rank(const char *name) {
    for (size_t i = 0; i < N_FAMILY; i++)
        if (!strcmp(name, g_family[i]))
            return (int)i;
    return -1;
}

static void test_select(const char *isa) {
    const g2_kernels *best = g2_kernels_select_isa(NULL);
    CHECK(best && g2_kernels_find(best->name) == best, "the best table is supported");
    CHECK(g2_kernels_find("scalar") == &g2_kernels_scalar, "scalar is always there");
    for (size_t i = 0; i < N_FAMILY; i++)
        if (g2_kernels_find(g_family[i]))
            CHECK(family_rank(best->name) >= (int)i, "%s is supported but the best is %s", g_family[i],
                  best->name);
    static const char *const names[] = {"scalar", "avx2", "avxvnni", "avx512", "avx512vbmi",
                                        "amx",    "neon", "",        "bogus",  "AVX2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const int rank = family_rank(names[i]);
        const g2_kernels *expect = best;
        if (rank >= 0) /* the best supported table at or below the request */
            for (int j = rank; j >= 0; j--)
                if (g2_kernels_find(g_family[j])) {
                    expect = g2_kernels_find(g_family[j]);
                    break;
                }
        CHECK(g2_kernels_select_isa(names[i]) == expect, "request '%s' gives %s, expected %s", names[i],
              g2_kernels_select_isa(names[i])->name, expect->name);
        setenv("GEMMA2_ISA", names[i], 1);
        CHECK(g2_kernels_select() == expect, "GEMMA2_ISA=%s gives %s, expected %s", names[i],
              g2_kernels_select()->name, expect->name);
        CHECK(family_rank(g2_kernels_select()->name) <= family_rank(best->name),
              "GEMMA2_ISA=%s raised the choice", names[i]);
    }
    setenv("GEMMA2_ISA", isa, 1);
    CHECK(g2_kernels_select() == g2_kernels_find(isa), "GEMMA2_ISA=%s is honoured", isa);
    char buf[1024];
    const size_t len = g2_cpu_describe(buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "kernels: %s", isa);
    CHECK(len < sizeof buf && strlen(buf) == len && strstr(buf, want), "describe: %s", buf);
    char small[8];
    CHECK(g2_cpu_describe(small, sizeof small) == len && strlen(small) == sizeof small - 1,
          "describe truncates");
    unsetenv("GEMMA2_ISA");
    CHECK(g2_kernels_select() == best, "without GEMMA2_ISA the best table");
    printf("%s", buf);
}

static void test_public_api(void) {
    CHECK(!strcmp(gemma2_cpu_kernels(), g2_kernels_select()->name), "gemma2_cpu_kernels: %s",
          gemma2_cpu_kernels());
    size_t len = 0, len2 = 0;
    CHECK(gemma2_cpu_describe(NULL, 0, &len) == GEMMA2_ERR_BUFFER_TOO_SMALL && len > 0,
          "describe size query");
    char *buf = malloc(len + 1);
    memset(buf, 'x', len + 1);
    CHECK(gemma2_cpu_describe(buf, len, &len2) == GEMMA2_ERR_BUFFER_TOO_SMALL && len2 == len && buf[0] == 'x',
          "describe needs room for the NUL and writes nothing otherwise");
    CHECK(gemma2_cpu_describe(buf, len + 1, &len2) == GEMMA2_OK && len2 == len && strlen(buf) == len,
          "describe into an exact buffer");
    CHECK(strstr(buf, gemma2_cpu_kernels()) != NULL, "describe names the table: %s", buf);
    free(buf);
    CHECK(gemma2_cpu_describe(NULL, 4, &len) == GEMMA2_ERR_INVALID_ARGUMENT && len == 0,
          "describe: NULL buffer");
    char small[4];
    CHECK(gemma2_cpu_describe(small, sizeof small, NULL) == GEMMA2_ERR_INVALID_ARGUMENT,
          "describe: NULL len");
}

/* ---- benchmark ----------------------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(const g2_kernels *k, int q4) {
    /* The down projection of Gemma 2 2B; decode cycles through copies worth ≥ 256 MB so
     * the weights stream from memory, not from the last-level cache. */
    const uint32_t rows = 2304, cols = 9216, nb = g2_q_blocks(cols);
    const size_t bytes = g2_q_bytes(q4, rows, cols);
    const size_t copies = (256u << 20) / bytes + 1;
    test_case c;
    make_case(&c, q4, rows, cols, 64, q4 ? 1 : 2, 0); /* the forward pass's digits for the type */
    const size_t qbytes = (size_t)rows * nb * (q4 ? G2_QK / 2 : G2_QK), dbytes = (size_t)rows * nb * 2;
    uint8_t *big = xmalloc(copies * (qbytes + dbytes));
    g2_qmatrix *Ws = xmalloc(copies * sizeof *Ws);
    for (size_t i = 0; i < copies; i++) {
        uint8_t *q = big + i * (qbytes + dbytes);
        memcpy(q, c.wq, qbytes);
        memcpy(q + qbytes, c.wd, dbytes);
        Ws[i] = c.W;
        Ws[i].qs = q;
        Ws[i].d = (const uint16_t *)(q + qbytes);
    }
    float *y = xmalloc((size_t)64 * rows * sizeof(float));
    void (*fn)(const g2_qmatrix *, uint32_t, uint32_t, const g2_qact *, uint32_t, float *, size_t) =
        q4 ? k->gemm_q4 : k->gemm_q8;
    /* n_tok = 1, the input prepared as the forward pass does */
    if (k->prepare_act)
        k->prepare_act(&c.A, 1);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t i = 0; i < copies; i++)
            fn(&Ws[i], 0, rows, &c.A, 1, y, rows);
        best = fmin(best, now() - t0);
    }
    const double gbs = (double)copies * bytes / best / 1e9;
    /* n_tok = 64 */
    if (k->prepare_act)
        k->prepare_act(&c.A, 64);
    double best64 = 1e30;
    for (int rep = 0; rep < 12; rep++) { /* short runs: the best of many */
        double t0 = now();
        fn(&c.W, 0, rows, &c.A, 64, y, rows);
        best64 = fmin(best64, now() - t0);
    }
    const double gops = 2.0 * rows * cols * 64 / best64 / 1e9;
    printf("%-7s q%d  n_tok=1: %7.2f GB/s (%.3f ms/matrix)   n_tok=64: %7.1f GOPS (%.2f ms)\n", k->name,
           q4 ? 4 : 8, gbs, best / copies * 1e3, gops, best64 * 1e3);
    free(y);
    free(Ws);
    free(big);
    free_case(&c);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--bench")) {
        for (size_t i = 0; i < N_FAMILY; i++) {
            int wanted = argc == 2;
            for (int a = 2; a < argc; a++)
                wanted |= !strcmp(argv[a], g_family[i]);
            const g2_kernels *k = g2_kernels_find(g_family[i]);
            if (wanted && k) {
                bench(k, 0);
                bench(k, 1);
            }
        }
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s ISA | --bench [ISA...]\n", argv[0]);
        return 2;
    }
    const char *isa = argv[1];
    if (family_rank(isa) < 0) {
        printf("SKIP: this build has no '%s' table\n", isa);
        return 77;
    }
    const g2_kernels *k = g2_kernels_find(isa);
    if (!k) {
        printf("SKIP: this CPU cannot run the '%s' kernels\n", isa);
        return 77;
    }
    test_select(isa);
    test_public_api();
    test_quantize(k);
    test_gemm(k, 0);
    test_gemm(k, 1);
    printf("%s: %d checks, %d failed\n", isa, g_checks, g_failures);
    return g_failures ? 1 : 0;
}
