/* SPDX-License-Identifier: Apache-2.0 */
/* Dequantizers for the tensor block formats of ggml, as stored in GGUF files.
 *
 * Data is read as packed little-endian bytes (GGUF gives no alignment for a block),
 * so any pointer will do. Results equal the reference dequantizers of ggml and gguf-py
 * bit for bit, under any compiler flags but -ffast-math: each value is the same float
 * expression, e.g. Q4_K: (d * sc) * q - (dmin * m), whose products are all exact (an
 * f16 significand times small integers stays within 24 bits), so the one rounding is
 * the final add or subtract of a min and FMA contraction cannot change it. */
#ifndef G2_TENSOR_GGML_BLOCKS_H
#define G2_TENSOR_GGML_BLOCKS_H

#include <stdint.h>

/* ggml tensor type ids as stored in GGUF files (ggml.h's enum ggml_type). */
#define G2_GGML_F32 0
#define G2_GGML_F16 1
#define G2_GGML_Q4_0 2
#define G2_GGML_Q4_1 3
#define G2_GGML_Q5_0 6
#define G2_GGML_Q5_1 7
#define G2_GGML_Q8_0 8
#define G2_GGML_Q8_1 9
#define G2_GGML_Q2_K 10
#define G2_GGML_Q3_K 11
#define G2_GGML_Q4_K 12
#define G2_GGML_Q5_K 13
#define G2_GGML_Q6_K 14
#define G2_GGML_Q8_K 15
#define G2_GGML_IQ4_NL 20
#define G2_GGML_IQ4_XS 23
#define G2_GGML_I8 24
#define G2_GGML_I16 25
#define G2_GGML_I32 26
#define G2_GGML_I64 27
#define G2_GGML_F64 28
#define G2_GGML_BF16 30

/* Elements of a "K" super-block. */
#define G2_GGML_QK_K 256

typedef struct g2_ggml_type_info {
    const char *name;     /* "Q4_K" */
    uint32_t block_elems; /* elements per block (1 for F32, F16, BF16) */
    uint32_t block_bytes; /* bytes per block */
} g2_ggml_type_info;

/* Info for a type this library can dequantize, or NULL (unknown or unsupported type). */
const g2_ggml_type_info *g2_ggml_type(uint32_t type);

/* Name for messages of any type id, e.g. "Q4_K", "IQ2_XXS" (known but unsupported), or
 * "type 99". The string is static, except for unknown ids: those share a thread-local
 * buffer valid until the thread's next call with an unknown id. */
const char *g2_ggml_type_name(uint32_t type);

/* Bytes of n elements of a supported type; 0 if the type is unsupported, n is not a
 * multiple of the block size, or the size overflows. */
uint64_t g2_ggml_row_bytes(uint32_t type, uint64_t n);

/* Dequantizes n elements (a multiple of the block; src holds g2_ggml_row_bytes(type, n)
 * bytes) to float. Returns 0, or -1 if some value is NaN or infinite (hostile files: the
 * caller rejects the tensor; dst content is then unspecified). Also -1, writing nothing,
 * for an unsupported type or a ragged n. */
int g2_ggml_dequantize(uint32_t type, const void *src, uint64_t n, float *dst);

/* Exact repack to the library's q8 layout (lib/tensor/quant.h) for types whose values
 * are d * int with |int| <= 127 in blocks of 32: Q8_0, Q4_0 (int = q - 8), Q5_0
 * (q - 16) and IQ4_NL (the codebook's int8 levels). Writes qs[n] and d[n / 32], d being
 * the block's own f16 scale bit for bit, so g2_f16_to_f32(d) * qs equals
 * g2_ggml_dequantize's value bit for bit; returns 1. Returns 0 (qs and d then
 * unspecified) if the type is not exact this way, n is not a multiple of 32, a value
 * falls outside [-127, 127] (a Q8_0 -128), or a scale is not finite. */
int g2_ggml_to_q8(uint32_t type, const void *src, uint64_t n, int8_t *qs, uint16_t *d);

#endif
