/* SPDX-License-Identifier: Apache-2.0 */
/* The GGUF container (versions 2 and 3, as specified in ggml's docs/gguf.md): header,
 * metadata key/value pairs and tensor infos, parsed from a mapped file that nothing
 * trusts. Every length, count and offset is checked against the file before use; the
 * parse keeps pointers into the mapping and copies nothing. */
#ifndef G2_MODEL_GGUF_H
#define G2_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"

#define G2_GGUF_MAGIC "GGUF"
#define G2_GGUF_MAX_DIMS 4
#define G2_GGUF_NAME_MAX 127 /* longest tensor name accepted, in bytes */

/* Metadata value types */
enum {
    G2_GGUF_U8 = 0,
    G2_GGUF_I8 = 1,
    G2_GGUF_U16 = 2,
    G2_GGUF_I16 = 3,
    G2_GGUF_U32 = 4,
    G2_GGUF_I32 = 5,
    G2_GGUF_F32 = 6,
    G2_GGUF_BOOL = 7,
    G2_GGUF_STRING = 8,
    G2_GGUF_ARRAY = 9,
    G2_GGUF_U64 = 10,
    G2_GGUF_I64 = 11,
    G2_GGUF_F64 = 12,
    G2_GGUF_N_TYPES
};

typedef struct g2_gguf_kv {
    const char *key; /* not NUL-terminated */
    uint64_t key_len;
    uint32_t type;      /* G2_GGUF_* */
    uint32_t elem_type; /* arrays: the element type (never an array) */
    uint64_t count;     /* arrays: elements; else 1 */
    const uint8_t *value; /* scalars: the value; strings: the u64 length; arrays: the first element */
} g2_gguf_kv;

typedef struct g2_gguf_tensor {
    const char *name; /* not NUL-terminated */
    uint64_t name_len;
    uint32_t n_dims;
    uint64_t ne[G2_GGUF_MAX_DIMS]; /* ne[0] is the innermost (contiguous) dimension; unused = 1 */
    uint32_t type;                 /* ggml type id (tensor/ggml_blocks.h) */
    uint64_t offset;               /* from the start of the data section */
} g2_gguf_tensor;

typedef struct g2_gguf {
    const uint8_t *file;
    uint64_t file_size;
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv, n_tensors;
    g2_gguf_kv *kv;          /* [n_kv], malloc'd */
    g2_gguf_tensor *tensors; /* [n_tensors], malloc'd */
    uint64_t data_offset;    /* absolute */
} g2_gguf;

/* 1 if the file starts with the GGUF magic. */
int g2_gguf_is_gguf(const uint8_t *file, uint64_t size);

/* Parses the header, metadata and tensor infos of file[0, size). Tensor data ranges
 * are checked to lie in the file (which needs each type's block size, so unknown
 * tensor types are GEMMA2_ERR_UNSUPPORTED). On failure *g is freed. */
gemma2_status g2_gguf_parse(const uint8_t *file, uint64_t size, g2_gguf *g);
void g2_gguf_free(g2_gguf *g);

/* Bytes of a tensor's data (checked by the parse). */
uint64_t g2_gguf_tensor_bytes(const g2_gguf_tensor *t);

/* Lookups: the pair of that key, or NULL. */
const g2_gguf_kv *g2_gguf_find(const g2_gguf *g, const char *key);

/* Scalar getters: 1 and *out when the key holds a value that fits; 0 if the key is
 * absent; -1 (with the error set, naming the key) if it has the wrong type or an
 * out-of-range value. Integers of any width and sign are accepted; floats from f32
 * or f64. */
int g2_gguf_get_u32(const g2_gguf *g, const char *key, uint32_t *out);
int g2_gguf_get_f32(const g2_gguf *g, const char *key, float *out);
int g2_gguf_get_bool(const g2_gguf *g, const char *key, int *out);
int g2_gguf_get_str(const g2_gguf *g, const char *key, const char **s, uint64_t *len);

/* 1 for the integer value types (any width, either sign). */
int g2_gguf_is_int_type(uint32_t type);

/* Element i of an integer array as u64 (0 if kv is not an integer array or i is out of
 * range; *ok says which). */
uint64_t g2_gguf_array_uint(const g2_gguf_kv *kv, uint64_t i, int *ok);

/* Strings of an array of strings, in order: *at walks the array (start at NULL). Each
 * call gives the next string; the parse checked that they all lie in the file. */
void g2_gguf_next_string(const g2_gguf_kv *kv, const uint8_t **at, const char **s, uint64_t *len);

#endif
