/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a GGUF file as a model (docs/gguf.md): hyperparameters and vocabulary from
 * its metadata, tensors renamed to this library's names and converted once, at open,
 * into the types the kernels take. */
#ifndef G2_MODEL_GGUF_MODEL_H
#define G2_MODEL_GGUF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/model.h"

/* Fills m (whose file is mapped and starts with the GGUF magic) up to, not including,
 * g2_model_bind: config, layer kinds, tensors in an anonymous buffer, their digests,
 * the model digest, the tokenizer. */
gemma2_status g2_model_load_gguf(gemma2_model *m, int n_threads);

/* The tokenizer blob of the file's vocabulary; *blob NULL (and GEMMA2_OK) when the
 * file has none. *blob is malloc'd. */
gemma2_status g2_gguf_tokenizer_blob(const g2_gguf *g, uint8_t **blob, size_t *size);

#endif
