/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory model: validated config, tensors bound to their roles. Immutable
 * after g2_model_load returns; shared by sessions through a reference count. */
#ifndef G2_MODEL_MODEL_H
#define G2_MODEL_MODEL_H

#include <stdatomic.h>
#include <stdint.h>

#include "gemma2.h"
#include "model/format.h"
#include "runtime/file.h"
#include "tensor/quant.h"

typedef struct g2_tensor {
    const char *name; /* NUL-terminated copy owned by the model */
    uint32_t type;    /* G2_TYPE_* */
    uint32_t n_dims;
    uint64_t dims[G2_MAX_DIMS];
    uint64_t n_bytes; /* raw bytes in memory */
    uint64_t stored_bytes;
    uint64_t file_offset; /* absolute offset of the stored bytes */
    uint32_t compressed;
    uint32_t relayout;  /* quantized in an older byte order: laid out again in memory at open */
    const void *stored; /* the stored bytes, in the mapping */
    const void *data;   /* raw bytes: in the mapping, or in the unpacked buffer */
    uint32_t file_type; /* type in the file: G2_TYPE_*, or G2_FILE_TYPE_GGUF(ggml type) */
    uint8_t digest[G2_DIGEST_LEN];
} g2_tensor;

/* A weight matrix [rows, cols], row-major; y = W x takes dot products of rows. */
typedef struct g2_matrix {
    const void *data;
    uint32_t type; /* G2_TYPE_* */
    uint32_t rows, cols;
    g2_qmatrix q; /* the block view, for G2_TYPE_Q8 and G2_TYPE_Q4 */
} g2_matrix;

typedef struct g2_layer {
    int local;                                                              /* sliding-window attention */
    const float *attn_norm, *post_attn_norm, *pre_ffw_norm, *post_ffw_norm; /* [hidden] */
    g2_matrix q, k, v, o, gate, up, down;
} g2_layer;

/* gemma2_tensor_info.file_type of a GGUF tensor */
#define G2_FILE_TYPE_GGUF(ggml_type) ((uint32_t)GEMMA2_TYPE_GGUF_BASE + (ggml_type))

struct gemma2_model {
    atomic_int refs;      /* the opener's reference + one per session */
    uint32_t source;      /* GEMMA2_SOURCE_* */
    uint32_t qpas_source; /* GEMMA2_QPAS_*: where query_pre_attn_scalar came from */
    uint64_t file_size;
    uint32_t format_version; /* of the gemma2 format, or of GGUF */
    uint32_t header_flags;
    g2_file_config cfg;
    uint8_t *layer_kind; /* [n_layers] G2_LAYER_* */
    g2_mapped_file file;
    void *unpacked; /* decompressed tensors (anonymous mapping), or NULL */
    size_t unpacked_size;
    uint8_t *meta; /* raw metadata records, during open only (released once read) */
    uint64_t meta_size;
    g2_tensor *tensors;
    uint32_t n_tensors;
    char *names;       /* n_tensors * G2_TENSOR_NAME_MAX */
    uint32_t *by_name; /* tensor indices sorted by name */
    uint8_t digest[G2_DIGEST_LEN];
    uint64_t weight_bytes;
    g2_matrix embed; /* [vocab, hidden], also the output projection */
    const float *final_norm;
    g2_layer *layers;            /* [n_layers] */
    gemma2_tokenizer *tokenizer; /* from the "tokenizer" metadata record, or NULL */
    const g2_kernels *kernels;   /* chosen once at open for this CPU */
    int quantized;               /* some matrix is G2_TYPE_Q8 or G2_TYPE_Q4 */
};

/* Opens and validates path. n_threads: for decompression and digests. */
gemma2_status g2_model_load(const char *path, int n_threads, uint32_t flags, const uint8_t *expected_digest,
                            gemma2_model **out);
void g2_model_free(gemma2_model *model);

/* Loads the tokenizer blob as the model's own, which must fit its vocabulary (loader.c). */
gemma2_status g2_model_set_tokenizer(gemma2_model *m, const uint8_t *blob, size_t size);
/* Range checks of a config however it was read (loader.c). */
gemma2_status g2_config_validate(const g2_file_config *c);

/* Directory: parse and validate entries (directory.c). */
gemma2_status g2_model_read_directory(gemma2_model *m, const g2_file_header *h);
/* One anonymous mapping for the tensors held in memory (the compressed ones, or all),
 * each 64-byte aligned; sets their data pointers (directory.c). */
gemma2_status g2_model_alloc_tensors(gemma2_model *m, int only_compressed);
/* Decompresses zstd-stored tensors in parallel (directory.c). */
gemma2_status g2_model_unpack(gemma2_model *m, int n_threads);
/* A compressed tensor's zstd frame → its n_bytes raw bytes at dst; 0 if the frame is
 * bad or declares another size (directory.c). */
int g2_tensor_decompress(const g2_tensor *t, void *dctx, void *dst);
/* A relayout tensor (lib/model/relayout.c): its stored bytes, decompressed with dctx
 * when compressed, checked against its digest and laid out into t->data. */
gemma2_status g2_tensor_relayout(const g2_tensor *t, void *dctx);
/* Whether a relayout tensor's stored bytes match its digest (1), not (0), or could
 * not be read for lack of memory (-1). */
int g2_tensor_stored_digest_ok(const g2_tensor *t);
/* Fills by_name from the tensors' names, rejecting duplicates (directory.c). */
gemma2_status g2_model_index_names(gemma2_model *m);
/* Points layers and matrices at their tensors, checking shapes and types. */
gemma2_status g2_model_bind(gemma2_model *m);

/* Writes m as a gemma2 model file (save.c). */
gemma2_status g2_model_save(const gemma2_model *m, const char *path, uint32_t flags);

/* Digests (verify.c). */
gemma2_status g2_tensor_verify(const g2_tensor *t);
gemma2_status g2_model_verify_all(const gemma2_model *m, int n_threads);

#endif
