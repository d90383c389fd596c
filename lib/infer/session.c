/* SPDX-License-Identifier: Apache-2.0 */
/* Session lifetime: every buffer the forward pass needs is allocated here, once. */
#include "infer/session.h"
#include "runtime/alloc.h"

#include <stdlib.h>

#include "runtime/error.h"

/* a * b * c floats, or 0 if that does not fit in size_t bytes. */
static size_t floats(size_t a, size_t b, size_t c) {
    if (b && a > SIZE_MAX / sizeof(float) / b)
        return 0;
    size_t ab = a * b;
    if (c && ab > SIZE_MAX / sizeof(float) / c)
        return 0;
    return ab * c;
}

static float *alloc_floats(size_t n, int *failed) {
    float *p = n ? g2_calloc(n, sizeof(float)) : NULL;
    if (!p)
        *failed = 1;
    return p;
}

static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

/* Floats per token of the chunk's [C][...] buffers: x, h, proj; q, att; k, v; gate,
 * up; rope_cos, rope_sin. */
static size_t chunk_floats_per_token(const g2_file_config *c) {
    const size_t qdim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    return 3 * (size_t)c->hidden_size + 2 * qdim + 2 * kv_dim + 2 * (size_t)c->ffn_size +
           2 * (c->head_dim / 2);
}

/* Bytes per token of the quantized activations (qs, ql, d, sum) of nb blocks. */
static size_t act_bytes_per_token(size_t nb) { return nb * (2 * G2_QK + sizeof(float) + sizeof(int32_t)); }

/* Scratch bytes per token of a prefill chunk (the [C][...] buffers below). */
static size_t scratch_per_token(const g2_file_config *c, int quantized, int prepared) {
    const size_t qdim = (size_t)c->n_heads * c->head_dim;
    const size_t nb = g2_q_blocks((uint32_t)max3(c->hidden_size, qdim, c->ffn_size));
    size_t bytes = chunk_floats_per_token(c) * sizeof(float) + act_bytes_per_token(nb);
    if (quantized && prepared) /* act tiles and their scales (G2_ACT_TILE_BYTES, _FLOATS) */
        bytes += G2_Q_GROUPS(nb) * sizeof(g2_xgroup) + nb * sizeof(float);
    return bytes;
}

/* The prefill chunk: the largest power of two up to G2_PREFILL_CHUNK_MAX whose scratch
 * fits G2_CHUNK_SCRATCH_BYTES, and never under G2_KV_CHUNK. */
static uint32_t prefill_chunk(const gemma2_model *model) {
    const size_t per_token =
        scratch_per_token(&model->cfg, model->quantized, model->quantized && model->kernels->prepare_act);
    uint32_t chunk = G2_PREFILL_CHUNK_MAX;
    while (chunk > G2_KV_CHUNK && per_token > G2_CHUNK_SCRATCH_BYTES / chunk)
        chunk /= 2;
    return chunk;
}

gemma2_status g2_session_create(gemma2_model *model, int n_threads, uint32_t n_ctx, gemma2_session **out) {
    *out = NULL;
    const g2_file_config *c = &model->cfg;
    gemma2_session *s = g2_calloc(1, sizeof *s);
    if (!s)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory creating a session");
    gemma2_status st = g2_pool_create(n_threads, &s->pool);
    if (st != GEMMA2_OK) {
        free(s);
        return st;
    }
    s->n_ctx = n_ctx;
    s->kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    s->chunk = prefill_chunk(model);
    const size_t C = s->chunk, T = (size_t)g2_pool_size(s->pool);
    const size_t qdim = (size_t)c->n_heads * c->head_dim;
    s->row_stride = max3(c->hidden_size, qdim, c->ffn_size);
    s->cap = g2_calloc(c->n_layers, sizeof *s->cap);
    s->layer_off = g2_calloc(c->n_layers, sizeof *s->layer_off);
    int failed = !s->cap || !s->layer_off;
    size_t kv = 0;
    for (uint32_t l = 0; !failed && l < c->n_layers; l++) {
        /* a ring must hold the window behind the first of G2_KV_CHUNK tokens and them all */
        const uint64_t ring = ((uint64_t)c->sliding_window + G2_KV_CHUNK - 1 + 15) / 16 * 16;
        const int local = model->layer_kind[l] == G2_LAYER_LOCAL && c->sliding_window;
        s->cap[l] = local && ring < n_ctx ? (uint32_t)ring : n_ctx;
        if (local && (!s->ring_min || s->cap[l] < s->ring_min))
            s->ring_min = s->cap[l];
        s->layer_off[l] = kv;
        const size_t layer = floats(s->cap[l], s->kv_dim, 1);
        failed |= layer == 0 || kv > SIZE_MAX / sizeof(float) - layer;
        kv += layer;
    }
    if (!s->ring_min)
        s->ring_min = n_ctx;
    if (!failed) {
        s->k_cache = alloc_floats(kv, &failed);
        s->v_cache = alloc_floats(kv, &failed);
    }
    s->x = alloc_floats(C * c->hidden_size, &failed);
    s->h = alloc_floats(C * c->hidden_size, &failed);
    s->q = alloc_floats(C * qdim, &failed);
    s->k = alloc_floats(C * s->kv_dim, &failed);
    s->v = alloc_floats(C * s->kv_dim, &failed);
    s->att = alloc_floats(C * qdim, &failed);
    s->proj = alloc_floats(C * c->hidden_size, &failed);
    s->gate = alloc_floats(C * c->ffn_size, &failed);
    s->up = alloc_floats(C * c->ffn_size, &failed);
    s->rope_cos = alloc_floats(C * (c->head_dim / 2), &failed);
    s->rope_sin = alloc_floats(C * (c->head_dim / 2), &failed);
    const size_t scores = floats(T, G2_ATTENTION_ROWS, n_ctx);
    failed |= scores == 0;
    s->scores = alloc_floats(scores, &failed);
    s->row_scratch = alloc_floats(T * s->row_stride, &failed);
    s->logits = alloc_floats(c->vocab_size, &failed);
    s->tokens = g2_calloc(n_ctx, sizeof *s->tokens);
    failed |= !s->tokens;
    if (model->tokenizer) {
        failed |= gemma2_text_stream_new(model->tokenizer, GEMMA2_DETOKENIZE_SKIP_SPECIAL, &s->stream) != GEMMA2_OK;
        s->piece_cap = s->stream ? gemma2_text_stream_max_bytes(s->stream) + 4 : 0;
        s->piece = s->stream ? g2_malloc(s->piece_cap) : NULL;
        failed |= !s->piece;
    }
    s->act_nb_max = g2_q_blocks((uint32_t)s->row_stride);
    const size_t act_blocks = C * s->act_nb_max;
    s->act.qs = g2_malloc(act_blocks * G2_QK);
    s->act.ql = g2_malloc(act_blocks * G2_QK);
    s->act.d = g2_malloc(act_blocks * sizeof *s->act.d);
    s->act.sum = g2_malloc(act_blocks * sizeof *s->act.sum);
    failed |= !s->act.qs || !s->act.ql || !s->act.d || !s->act.sum;
    size_t tile_bytes = 0; /* the matrix unit's layout of the same input, if the kernels use one */
    if (model->quantized && model->kernels->prepare_act) {
        const size_t tiles = G2_ACT_TILE_BYTES(C, s->act_nb_max),
                     scales = G2_ACT_TILE_FLOATS(C, s->act_nb_max) * sizeof(float);
        s->act.tiles = g2_malloc(tiles);
        s->act.tiles_d = g2_malloc(scales);
        failed |= !s->act.tiles || !s->act.tiles_d;
        tile_bytes = tiles + scales;
    }
    if (failed) {
        g2_session_destroy(s);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for a session of %u positions",
                        (unsigned)n_ctx);
    }
    s->bytes = sizeof *s + 2 * kv * sizeof(float) +
               (C * chunk_floats_per_token(c) + scores + T * s->row_stride + c->vocab_size) * sizeof(float) +
               C * act_bytes_per_token(s->act_nb_max) + tile_bytes + (size_t)n_ctx * sizeof(int32_t) +
               s->piece_cap;
    atomic_fetch_add(&model->refs, 1);
    s->model = model;
    *out = s;
    return GEMMA2_OK;
}

int g2_session_take_cancel(gemma2_session *s) {
    return atomic_load_explicit(&s->cancel, memory_order_relaxed) &&
           atomic_exchange_explicit(&s->cancel, 0, memory_order_relaxed);
}

void g2_session_destroy(gemma2_session *s) {
    if (!s)
        return;
    g2_pool_destroy(s->pool);
    float *bufs[] = {s->k_cache,  s->v_cache, s->x,           s->h,     s->q,  s->k,
                     s->v,        s->att,     s->proj,        s->gate,  s->up, s->rope_cos,
                     s->rope_sin, s->scores,  s->row_scratch, s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->tokens);
    free(s->cap);
    free(s->layer_off);
    g2_sampler_free(&s->sampler);
    gemma2_text_stream_free(s->stream);
    free(s->piece);
    free(s->act.qs);
    free(s->act.ql);
    free(s->act.d);
    free(s->act.sum);
    free(s->act.tiles);
    free(s->act.tiles_d);
    if (s->model && atomic_fetch_sub(&s->model->refs, 1) == 1)
        g2_model_free(s->model);
    free(s);
}
