/* SPDX-License-Identifier: Apache-2.0 */
/* Public model functions: argument checks, then lib/model. */
#include <string.h>

#include "api/check.h"
#include "api/options.h"
#include "model/model.h"
#include "runtime/error.h"
#include "runtime/pool.h"

static const gemma2_model_options model_defaults = {
    .struct_size = sizeof(gemma2_model_options), .n_threads = 0, .flags = 0};

gemma2_status gemma2_model_options_init(gemma2_model_options *opts, size_t size) {
    g2_error_clear();
    return g2_struct_init(opts, size, &model_defaults, sizeof model_defaults, "gemma2_model_options");
}

gemma2_status gemma2_model_open(const char *path, const gemma2_model_options *opts, gemma2_model **out) {
    g2_error_clear();
    CHECK_ARG(out, "gemma2_model_open: out is NULL");
    *out = NULL;
    CHECK_ARG(path, "gemma2_model_open: path is NULL");
    gemma2_model_options o = model_defaults;
    gemma2_status st = g2_struct_read(&o, sizeof o, opts, "gemma2_model_options");
    if (st != GEMMA2_OK)
        return st;
    CHECK_ARG(o.n_threads >= 0 && o.n_threads <= G2_MAX_THREADS, "n_threads %d is out of range 0..%d",
              (int)o.n_threads, G2_MAX_THREADS);
    if (o.flags & ~(uint32_t)(GEMMA2_MODEL_SKIP_VERIFY | GEMMA2_MODEL_NO_MMAP) || o.reserved != 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "unknown model open flags 0x%x", (unsigned)o.flags);
    return g2_model_load(path, o.n_threads, o.flags, o.expected_digest, out);
}

void gemma2_model_close(gemma2_model *model) {
    if (model && atomic_fetch_sub(&model->refs, 1) == 1)
        g2_model_free(model);
}

static gemma2_model_info info_of(const gemma2_model *m) {
    const g2_file_config *c = &m->cfg;
    return (gemma2_model_info){.struct_size = sizeof(gemma2_model_info),
                               .format_version = m->format_version,
                               .vocab_size = c->vocab_size,
                               .hidden_size = c->hidden_size,
                               .n_layers = c->n_layers,
                               .n_heads = c->n_heads,
                               .n_kv_heads = c->n_kv_heads,
                               .head_dim = c->head_dim,
                               .ffn_size = c->ffn_size,
                               .context_length = c->context_length,
                               .sliding_window = c->sliding_window,
                               .weight_type = (int32_t)m->layers[0].q.type,
                               .rms_norm_eps = c->rms_norm_eps,
                               .rope_theta = c->rope_theta,
                               .query_pre_attn_scalar = c->query_pre_attn_scalar,
                               .attn_softcap = c->attn_softcap,
                               .final_softcap = c->final_softcap,
                               .bos_id = c->bos_id,
                               .eos_id = c->eos_id,
                               .pad_id = c->pad_id,
                               .n_tensors = m->n_tensors,
                               .compressed = (m->header_flags & G2_FLAG_COMPRESSED) != 0,
                               .file_size = m->file_size,
                               .weight_bytes = m->weight_bytes,
                               .source = m->source,
                               .has_checksums = m->source == GEMMA2_SOURCE_GEMMA2,
                               .qpas_source = m->qpas_source};
}

gemma2_status gemma2_model_info_init(gemma2_model_info *info, size_t size) {
    g2_error_clear();
    static const gemma2_model_info zero = {.struct_size = sizeof zero};
    return g2_struct_init(info, size, &zero, sizeof zero, "gemma2_model_info");
}

gemma2_status gemma2_model_get_info(const gemma2_model *model, gemma2_model_info *info) {
    g2_error_clear();
    CHECK_ARG(model && info, "gemma2_model_get_info: NULL argument");
    gemma2_model_info full = info_of(model);
    return g2_struct_write(info, &full, sizeof full, "gemma2_model_info");
}

uint32_t gemma2_model_vocab_size(const gemma2_model *model) { return model ? model->cfg.vocab_size : 0; }

uint32_t gemma2_model_context_length(const gemma2_model *model) {
    return model ? model->cfg.context_length : 0;
}

gemma2_status gemma2_model_layer_kind(const gemma2_model *model, uint32_t layer, int32_t *kind) {
    g2_error_clear();
    CHECK_ARG(kind, "gemma2_model_layer_kind: kind is NULL");
    *kind = 0;
    CHECK_ARG(model, "gemma2_model_layer_kind: model is NULL");
    CHECK_ARG(layer < model->cfg.n_layers, "layer %u is out of range (the model has %u)", (unsigned)layer,
              (unsigned)model->cfg.n_layers);
    *kind = model->layer_kind[layer] == G2_LAYER_LOCAL ? GEMMA2_LAYER_LOCAL : GEMMA2_LAYER_GLOBAL;
    return GEMMA2_OK;
}

gemma2_status gemma2_model_digest(const gemma2_model *model, uint8_t *out, size_t cap) {
    g2_error_clear();
    CHECK_ARG(model && out, "gemma2_model_digest: NULL argument");
    if (cap < GEMMA2_DIGEST_BYTES)
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "the digest needs %d bytes, got %zu",
                        GEMMA2_DIGEST_BYTES, cap);
    memcpy(out, model->digest, GEMMA2_DIGEST_BYTES);
    return GEMMA2_OK;
}

gemma2_status gemma2_tensor_info_init(gemma2_tensor_info *info, size_t size) {
    g2_error_clear();
    static const gemma2_tensor_info zero = {.struct_size = sizeof zero};
    return g2_struct_init(info, size, &zero, sizeof zero, "gemma2_tensor_info");
}

gemma2_status gemma2_model_tensor_info(const gemma2_model *model, uint32_t index, gemma2_tensor_info *info) {
    g2_error_clear();
    CHECK_ARG(model && info, "gemma2_model_tensor_info: NULL argument");
    CHECK_ARG(index < model->n_tensors, "tensor index %u is out of range (the model has %u)", (unsigned)index,
              (unsigned)model->n_tensors);
    const g2_tensor *t = &model->tensors[index];
    gemma2_tensor_info full = {.struct_size = sizeof full,
                               .type = (int32_t)t->type,
                               .n_dims = t->n_dims,
                               .compressed = t->compressed,
                               .n_bytes = t->n_bytes,
                               .stored_bytes = t->stored_bytes,
                               .name = t->name,
                               .file_type = (int32_t)t->file_type};
    memcpy(full.dims, t->dims, sizeof full.dims);
    memcpy(full.digest, t->digest, sizeof full.digest);
    return g2_struct_write(info, &full, sizeof full, "gemma2_tensor_info");
}

gemma2_status gemma2_model_verify_tensor(const gemma2_model *model, uint32_t index) {
    g2_error_clear();
    CHECK_ARG(model, "gemma2_model_verify_tensor: model is NULL");
    CHECK_ARG(index < model->n_tensors, "tensor index %u is out of range (the model has %u)", (unsigned)index,
              (unsigned)model->n_tensors);
    return g2_tensor_verify(&model->tensors[index]);
}

gemma2_status gemma2_model_verify(const gemma2_model *model, int32_t n_threads) {
    g2_error_clear();
    CHECK_ARG(model, "gemma2_model_verify: model is NULL");
    CHECK_ARG(n_threads >= 0 && n_threads <= G2_MAX_THREADS, "n_threads %d is out of range", (int)n_threads);
    return g2_model_verify_all(model, n_threads);
}

gemma2_status gemma2_model_save(const gemma2_model *model, const char *path, uint32_t flags) {
    g2_error_clear();
    CHECK_ARG(model && path, "gemma2_model_save: NULL argument");
    if (flags & ~(uint32_t)GEMMA2_SAVE_COMPRESS)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "gemma2_model_save: unknown flags 0x%x", (unsigned)flags);
    return g2_model_save(model, path, flags);
}
