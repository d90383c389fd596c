/* SPDX-License-Identifier: Apache-2.0 */
#include "tensor/ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* The float loops are written with GCC/clang vector extensions, at the native width of
 * each target (ops_vec.h); elsewhere they would have to be rewritten. */
#if !defined(__GNUC__)
#    error "lib/tensor/ops.c needs the GCC/clang vector extensions"
#endif

/* -Wpsabi notes that passing wide vectors by value depends on the target; every such
 * function here is static, inlined, and compiled for the target of its callers. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float g2_vf2 __attribute__((vector_size(8)));
typedef float g2_vf4 __attribute__((vector_size(16)));
typedef int32_t g2_vi4 __attribute__((vector_size(16)));
typedef double g2_vd2 __attribute__((vector_size(16)));
typedef float g2_vf8 __attribute__((vector_size(32)));
typedef int32_t g2_vi8 __attribute__((vector_size(32)));
typedef double g2_vd4 __attribute__((vector_size(32)));
typedef float g2_vf16 __attribute__((vector_size(64)));
typedef int32_t g2_vi16 __attribute__((vector_size(64)));
typedef double g2_vd8 __attribute__((vector_size(64)));

/* The first position token t of an attention item sees. */
static inline uint32_t g2_attend_lo(const g2_attend_args *a, uint32_t t) {
    const uint32_t pos = a->first_pos + t;
    return a->window && pos >= a->window ? pos - a->window + 1 : 0;
}

/* g2_dot_f32's order on a strided b (a key of transposed K), one element at a time. */
static float g2_dot_strided(const float *a, const float *b, size_t stride, uint32_t n) {
    float acc[16] = {0};
    for (uint32_t i = 0; i < n; i++)
        acc[i % 16] += a[i] * b[i * stride];
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

/* baseline: SSE2 on x86-64, NEON on aarch64, whatever 16-byte vectors lower to elsewhere */
#define VW 4
#define VF g2_vf4
#define VI g2_vi4
#define VFH g2_vf2
#define VD g2_vd2
#define SUF(x) x##_base
#define G2_T
#define G2_NAME "baseline"
#include "tensor/ops_vec.h"

/* x86-64: AVX2 and AVX-512F copies, picked at run time with the CPU's (and OS's)
 * support as the compiler runtime sees it (__builtin_cpu_supports). Function
 * attributes rather than per-file flags (STYLE.md rule 12): the same source is compiled
 * three times, and everything it calls is inside it. */
#if defined(__x86_64__)
#    define G2_OPS_X86 1
#    define VW 8
#    define VF g2_vf8
#    define VI g2_vi8
#    define VFH g2_vf4
#    define VD g2_vd4
#    define SUF(x) x##_avx2
#    define G2_T __attribute__((target("avx2")))
#    define G2_NAME "avx2"
#    include "tensor/ops_vec.h"

#    define VW 16
#    define VF g2_vf16
#    define VI g2_vi16
#    define VFH g2_vf8
#    define VD g2_vd8
#    define SUF(x) x##_avx512
#    define G2_T __attribute__((target("avx512f")))
#    define G2_NAME "avx512"
#    include "tensor/ops_vec.h"
#endif

const g2_float_kernels *g2_float_kernels_get(int i) {
    switch (i) {
    case 0: return &table_base;
#if defined(G2_OPS_X86)
    case 1: __builtin_cpu_init(); return __builtin_cpu_supports("avx2") ? &table_avx2 : NULL;
    case 2: __builtin_cpu_init(); return __builtin_cpu_supports("avx512f") ? &table_avx512 : NULL;
#endif
    default: return NULL;
    }
}

const g2_float_kernels *g2_float_kernels_best(void) {
#if defined(G2_OPS_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return &table_avx512;
    if (__builtin_cpu_supports("avx2"))
        return &table_avx2;
#endif
    return &table_base;
}

float g2_expf(float x) {
    float y;
    exp_n_base(&y, &x, 1);
    return y;
}

float g2_tanhf(float x) {
    float y;
    tanh_n_base(&y, &x, 1);
    return y;
}

void g2_softcap(float *x, uint32_t n, float cap) {
    if (cap > 0.0f)
        g2_float_kernels_best()->softcap(x, n, cap);
}

void g2_geglu(float *gate, const float *up, uint32_t n) { g2_float_kernels_best()->geglu(gate, up, n); }

float g2_dot_f32(const float *a, const float *b, uint32_t n) { return g2_float_kernels_best()->dot(a, b, n); }

size_t g2_attend_scratch(uint32_t n_heads, uint32_t n_tok, uint32_t first_pos, uint32_t window) {
    const g2_attend_args a = {.first_pos = first_pos, .window = window};
    return (size_t)n_heads * n_tok * (first_pos + n_tok - g2_attend_lo(&a, 0) / 16 * 16);
}

void g2_attend(const g2_attend_args *a) { g2_float_kernels_best()->attend(a); }

/* Eight partial sums: one chain of n dependent double adds took 2.9 us at the 2B
 * model's 2304 (1.3 us with eight), on the single-threaded path between two matmuls
 * of a decode step. */
void g2_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps) {
    double part[8] = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            part[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++)
        part[0] += (double)x[i] * x[i];
    const double ss =
        ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    float inv = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] * inv * (1.0f + w[i]);
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
