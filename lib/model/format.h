/* SPDX-License-Identifier: Apache-2.0 */
/* On-disk layout of a gemma2 model file, version 3 (specified in docs/format.md).
 * Shared by the loader (lib/model) and the writer (tools/convert). All integers are
 * little-endian; the build refuses big-endian hosts, so these structs are read with
 * memcpy. Every field is fixed-width and every struct is checked for its size. */
#ifndef G2_MODEL_FORMAT_H
#define G2_MODEL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define G2_FILE_MAGIC "\x89G2M\r\n\x1a\n" /* 8 bytes; catches text-mode mangling */
#define G2_FILE_MAGIC_LEN 8
/* Versions 2 and 3 changed only the byte order of q4 and then q8 tensors (row sets
 * and lane order, lib/tensor/quant.h). A reader takes older files too and lays such
 * tensors out again in memory at open (lib/model/relayout.c). */
#define G2_FORMAT_VERSION 3
#define G2_FORMAT_VERSION_MIN 1
#define G2_FORMAT_VERSION_Q4_LANES 2
#define G2_FORMAT_VERSION_Q8_LANES 3

#define G2_DIGEST_LEN 32       /* BLAKE2b-256 */
#define G2_TENSOR_ALIGN 64     /* uncompressed tensor offsets (AVX-512 lines) */
#define G2_DATA_ALIGN 4096     /* data section start (a page) */
#define G2_TENSOR_NAME_MAX 128 /* including the terminating NUL */
#define G2_MAX_DIMS 4

/* Header flags */
#define G2_FLAG_COMPRESSED 0x1u /* some tensors are zstd frames */

/* Element types (same numbers as GEMMA2_TYPE_*) */
#define G2_TYPE_F32 0
#define G2_TYPE_BF16 1
#define G2_TYPE_Q8 2 /* int8 blocks of 32 + f16 scale, lib/tensor/quant.h: matrices only */
#define G2_TYPE_Q4 3 /* int4 blocks of 32 + f16 scale, lib/tensor/quant.h: matrices only */

/* Tensor compression */
#define G2_COMPRESS_NONE 0
#define G2_COMPRESS_ZSTD 1

/* Layer kinds (same numbers as GEMMA2_LAYER_*) */
#define G2_LAYER_GLOBAL 0
#define G2_LAYER_LOCAL 1

/* Activation of the feed-forward gate */
#define G2_ACT_GELU_TANH 0

/* Config flags */
#define G2_CONFIG_TIED_EMBEDDING 0x1u

/* File header at offset 0. header_digest = BLAKE2b-256 of bytes [0, data_offset)
 * computed with the header_digest field set to zero. */
typedef struct g2_file_header {
    uint8_t magic[G2_FILE_MAGIC_LEN];
    uint32_t version;
    uint32_t flags;
    uint64_t file_size;
    uint64_t config_offset, config_size;
    uint64_t meta_offset, meta_size, meta_raw_size; /* zstd frame → raw records */
    uint64_t dir_offset, dir_size;
    uint32_t n_tensors;
    uint32_t dir_entry_size;
    uint64_t data_offset, data_size;
    uint8_t header_digest[G2_DIGEST_LEN];
    uint8_t reserved[24];
} g2_file_header;
_Static_assert(sizeof(g2_file_header) == 160, "g2_file_header must be 160 bytes");

/* Model configuration: this fixed part, then n_layers bytes of layer kinds. */
typedef struct g2_file_config {
    uint32_t vocab_size;
    uint32_t hidden_size;
    uint32_t n_layers;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t head_dim;
    uint32_t ffn_size;
    uint32_t context_length;
    uint32_t sliding_window;
    int32_t bos_id, eos_id, pad_id;
    float rms_norm_eps;
    float rope_theta;
    float query_pre_attn_scalar;
    float attn_softcap;  /* 0 = none */
    float final_softcap; /* 0 = none */
    uint32_t flags;      /* G2_CONFIG_* */
    uint32_t activation; /* G2_ACT_* */
    uint32_t reserved;
} g2_file_config;
_Static_assert(sizeof(g2_file_config) == 80, "g2_file_config must be 80 bytes");

/* One tensor directory entry. offset is relative to data_offset. */
typedef struct g2_file_tensor {
    char name[G2_TENSOR_NAME_MAX]; /* NUL-terminated, NUL-padded */
    uint32_t type;
    uint32_t n_dims;
    uint64_t dims[G2_MAX_DIMS]; /* unused dims are 0 */
    uint64_t offset;
    uint64_t stored_size; /* bytes in the file */
    uint64_t raw_size;    /* bytes in memory = prod(dims) * element size */
    uint32_t compression; /* G2_COMPRESS_* */
    uint32_t reserved0;
    uint8_t digest[G2_DIGEST_LEN]; /* BLAKE2b-256 of the raw bytes */
    uint8_t reserved[24];
} g2_file_tensor;
_Static_assert(sizeof(g2_file_tensor) == 256, "g2_file_tensor must be 256 bytes");

/* Metadata records (after zstd decompression): repeated
 *   u32 key_len, u32 value_len, key bytes (UTF-8, no NUL), value bytes. */
#define G2_META_MAX_RAW ((uint64_t)1 << 30)

/* Bounds applied to every config read from a file: large enough for any Gemma 2
 * (27B: hidden 4608, ffn 36864, 46 layers, vocab 256000), small enough that sizes
 * computed from them cannot overflow 64 bits. */
#define G2_MAX_VOCAB (1u << 22)
#define G2_MAX_HIDDEN (1u << 16)
#define G2_MAX_FFN (1u << 20)
#define G2_MAX_LAYERS 1024u
#define G2_MAX_HEADS 1024u
#define G2_MAX_HEAD_DIM 4096u
#define G2_MAX_CONTEXT (1u << 22)

/* Bytes per element of a plain type; 0 for block-quantized and unknown types. */
static inline size_t g2_type_size(uint32_t type) {
    return type == G2_TYPE_F32 ? 4 : type == G2_TYPE_BF16 ? 2 : 0;
}

static inline int g2_type_is_quantized(uint32_t type) { return type == G2_TYPE_Q8 || type == G2_TYPE_Q4; }

#endif
