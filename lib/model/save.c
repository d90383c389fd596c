/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2_model_save: an open model, as loaded, written as a gemma2 model file by the
 * converter's writer (writer.h), so that a GGUF becomes a file with checksums. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/writer.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

static gemma2_status writer_failed(const char *err) {
    return g2_error(strstr(err, "out of memory") ? GEMMA2_ERR_OUT_OF_MEMORY : GEMMA2_ERR_IO, "%s", err);
}

gemma2_status g2_model_save(const gemma2_model *m, const char *path, uint32_t flags) {
    char err[512];
    uint8_t *blob = NULL;
    size_t blob_size = 0;
    gemma2_status st = GEMMA2_OK;
    if (m->tokenizer && (st = g2_tokenizer_serialize(m->tokenizer, &blob, &blob_size)) != GEMMA2_OK)
        return st;
    g2_tensor_spec *specs = g2_calloc(m->n_tensors, sizeof *specs);
    if (!specs) {
        free(blob);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory saving the model");
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const g2_tensor *t = &m->tensors[i];
        specs[i] = (g2_tensor_spec){.name = t->name, .type = t->type, .n_dims = t->n_dims};
        memcpy(specs[i].dims, t->dims, sizeof specs[i].dims);
    }
    const g2_meta_entry meta[] = {
        {.key = "general.converter", .value = "gemma2 " GEMMA2_VERSION_STRING},
        {.key = "general.source", .value = m->source == GEMMA2_SOURCE_GGUF ? "GGUF" : "gemma2 model file"},
        {.key = G2_TOK_META_KEY, .value = (const char *)blob, .value_len = blob_size},
    };
    const size_t n_meta = sizeof meta / sizeof meta[0] - (blob ? 0 : 1); /* the tokenizer is last */
    g2_model_writer *w = NULL;
    if (g2_writer_open(&w, path, &m->cfg, m->layer_kind, meta, n_meta, specs, m->n_tensors,
                       (flags & GEMMA2_SAVE_COMPRESS) != 0, err, sizeof err) != 0) {
        st = writer_failed(err);
        goto out;
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const g2_tensor *t = &m->tensors[i];
        if (g2_writer_begin_tensor(w, err, sizeof err) != 0 ||
            g2_writer_append(w, t->data, (size_t)t->n_bytes, err, sizeof err) != 0 ||
            g2_writer_end_tensor(w, err, sizeof err) != 0) {
            st = writer_failed(err);
            g2_writer_abort(w);
            goto out;
        }
    }
    if (g2_writer_finish(w, err, sizeof err) != 0)
        st = writer_failed(err);
out:
    free(specs);
    free(blob);
    return st;
}
