/* SPDX-License-Identifier: Apache-2.0 */
/* Writes a gemma2 model file, format v1 (lib/model/format.h, docs/format.md).
 * The header region is planned from the full tensor list up front; tensor bytes are
 * then streamed one tensor at a time, in plan order, in chunks of any size, so the
 * writer never holds more than a chunk of weights. The file is written to PATH.tmp
 * and renamed to PATH only when complete. */
#ifndef G2_CONVERT_MODEL_WRITER_H
#define G2_CONVERT_MODEL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "model/format.h"

typedef struct g2_tensor_spec {
    const char *name; /* shorter than G2_TENSOR_NAME_MAX */
    uint32_t type;    /* G2_TYPE_* */
    uint32_t n_dims;  /* 1..G2_MAX_DIMS */
    uint64_t dims[G2_MAX_DIMS];
} g2_tensor_spec;

typedef struct g2_meta_entry {
    const char *key;   /* UTF-8 */
    const char *value; /* UTF-8 text, or value_len bytes of binary data */
    size_t value_len;  /* 0: value is a NUL-terminated string (the tokenizer blob is binary) */
} g2_meta_entry;

typedef struct g2_model_writer g2_model_writer;

/* Plans the file and creates path.tmp. compress != 0 stores every tensor as one zstd
 * frame. The arrays are copied. Returns 0 and sets *out, or -1 with a one-line
 * message in err (and nothing left on disk). */
int g2_writer_open(g2_model_writer **out, const char *path, const g2_file_config *config,
                   const uint8_t *layer_kinds, const g2_meta_entry *meta, size_t n_meta,
                   const g2_tensor_spec *tensors, size_t n_tensors, int compress, char *err, size_t err_cap);

/* Streams the next tensor of the plan: begin, append its raw bytes (exactly
 * prod(dims) * element size in total, in chunks of any size), end. Each returns 0
 * or -1 with a message in err; after a failure only g2_writer_abort is valid. */
int g2_writer_begin_tensor(g2_model_writer *w, char *err, size_t err_cap);
int g2_writer_append(g2_model_writer *w, const void *data, size_t size, char *err, size_t err_cap);
int g2_writer_end_tensor(g2_model_writer *w, char *err, size_t err_cap);

/* Bytes of tensor data written to the file so far (for progress display). */
uint64_t g2_writer_bytes_written(const g2_model_writer *w);

/* Writes the directory and header, syncs, and renames path.tmp to path. Always frees
 * w. Returns 0, or -1 with a message in err and the temporary file removed. */
int g2_writer_finish(g2_model_writer *w, char *err, size_t err_cap);

/* Removes the temporary file and frees w; accepts NULL. */
void g2_writer_abort(g2_model_writer *w);

#endif
