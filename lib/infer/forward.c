/* SPDX-License-Identifier: Apache-2.0 */
/* The Gemma 2 forward pass over a chunk of tokens, exactly the formulas of
 * ../shared/DESIGN.md ("Gemma 2 numerics"):
 *   x = E[token] * sqrt(hidden)
 *   per layer: x += rms(attn(rms(x, w_in)) Wo, w_post_attn)
 *              x += rms(geglu(rms(x, w_pre_ffw)) Wd, w_post_ffw)
 *   logits = final_cap * tanh(rms(x, w_final) Eᵀ / final_cap)
 * Prefill and decode run the same code: decode is a chunk of one token. */
#include <math.h>
#include <string.h>

#include "infer/session.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/quant.h"

/* Activation digits for an input read by the matrices W[0..n): two if any is q8, one
 * if all are q4 (lib/tensor/quant.h). */
static unsigned input_digits(const g2_matrix *const *W, int n) {
    for (int i = 0; i < n; i++)
        if (W[i]->type == G2_TYPE_Q8)
            return 2;
    return 1;
}

/* Quantizes the n rows of x ([n][cols]) for the quantized matrices W[0..nw) that read
 * it next (q/k/v share one quantization, as do gate/up). */
static void quantize_input(gemma2_session *s, const float *x, uint32_t n, uint32_t cols, const g2_matrix *const *W,
                           int nw) {
    if (!s->model->quantized)
        return;
    const uint32_t nb = g2_q_blocks(cols);
    const unsigned digits = input_digits(W, nw);
    for (uint32_t t = 0; t < n; t++)
        s->model->kernels->quantize_act(x + (size_t)t * cols, cols, digits, s->act.qs + (size_t)t * nb * G2_QK,
                                        s->act.ql + (size_t)t * nb * G2_QK, s->act.d + (size_t)t * nb,
                                        s->act.sum + (size_t)t * nb);
    s->act.nb = nb;
    s->act.digits = digits;
    s->act.tiles_tok = 0;
    if (s->model->kernels->prepare_act)
        s->model->kernels->prepare_act(&s->act, n);
}

/* The matmul input x [n][cols]; quantized weights read what quantize_input saw last. */
static g2_matmul_input input(gemma2_session *s, const float *x, uint32_t n) {
    return (g2_matmul_input){.x = x,
                             .A = &s->act,
                             .kernels = s->model->kernels,
                             .n_tok = n,
                             .scratch = s->row_scratch,
                             .scratch_stride = s->row_stride};
}

/* y = x · Wᵀ. */
static void matmul(gemma2_session *s, float *y, const g2_matrix *W, const float *x, uint32_t n) {
    const g2_matmul_input in = input(s, x, n);
    const g2_matmul_target target = {.W = W, .y = y};
    g2_matmul_many(s->pool, &in, &target, 1);
}

static void embed(gemma2_session *s, const int32_t *tokens, uint32_t n) {
    const g2_file_config *c = &s->model->cfg;
    const g2_matrix *E = &s->model->embed;
    const float scale = (float)sqrt((double)c->hidden_size); /* sqrt(hidden) rounded to float32 */
    for (uint32_t t = 0; t < n; t++) {
        float *x = s->x + (size_t)t * c->hidden_size;
        size_t row = (size_t)tokens[t] * c->hidden_size;
        if (g2_type_is_quantized(E->type))
            g2_dequantize_row(&E->q, E->type == G2_TYPE_Q4, (uint32_t)tokens[t], x);
        else if (E->type == G2_TYPE_BF16)
            g2_bf16_to_f32(x, (const uint16_t *)E->data + row, c->hidden_size);
        else
            memcpy(x, (const float *)E->data + row, c->hidden_size * sizeof(float));
        for (uint32_t i = 0; i < c->hidden_size; i++)
            x[i] *= scale;
    }
}

/* Attention work items: n_heads query heads of one KV group (all of them when they
 * fit) for n_tok consecutive tokens of the chunk, so that each key and value row read
 * serves every query row of the item. g2_attend gives each query row the same bits
 * whatever the item shape, thread count or SIMD width. */
typedef struct attention_job {
    gemma2_session *s;
    const float *q;                 /* the first query row of the job, [n_tok][n_heads * head_dim] */
    float *att;                     /* its output row, the same shape */
    const float *k_layer, *v_layer; /* this layer's cache, [kv_heads][cap * head_dim] each */
    uint32_t cap;                   /* positions it holds: position p in slot p % cap */
    uint32_t n_tok, first_pos, window;
    uint32_t heads_per_item, toks_per_item, head_blocks, tok_blocks;
    size_t scratch; /* score floats per thread */
    atomic_size_t next;
} attention_job;

static void attention_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    attention_job *job = p;
    gemma2_session *s = job->s;
    const g2_file_config *c = &s->model->cfg;
    const uint32_t d = c->head_dim, group = c->n_heads / c->n_kv_heads;
    const g2_float_kernels *fk = g2_float_kernels_best();
    g2_attend_args a = {.tok_stride = (size_t)c->n_heads * d,
                        .k_len = job->cap,
                        .v_stride = d,
                        .d = d,
                        .window = job->window,
                        .softcap = c->attn_softcap,
                        .scores = s->scores + (size_t)thread_index * job->scratch};
    const size_t per_kv = (size_t)job->head_blocks * job->tok_blocks, items = c->n_kv_heads * per_kv;
    for (size_t item; (item = g2_claim(&job->next, 1)) < items;) {
        const uint32_t kvh = (uint32_t)(item / per_kv), hb = (uint32_t)(item % per_kv / job->tok_blocks),
                       tb = (uint32_t)(item % job->tok_blocks);
        const uint32_t h0 = hb * job->heads_per_item, t0 = tb * job->toks_per_item;
        a.n_heads = group - h0 < job->heads_per_item ? group - h0 : job->heads_per_item;
        a.n_tok = job->n_tok - t0 < job->toks_per_item ? job->n_tok - t0 : job->toks_per_item;
        a.first_pos = job->first_pos + t0;
        a.q = job->q + (size_t)t0 * a.tok_stride + (size_t)(kvh * group + h0) * d;
        a.out = job->att + (size_t)t0 * a.tok_stride + (size_t)(kvh * group + h0) * d;
        a.k = job->k_layer + (size_t)kvh * job->cap * d;
        a.v = job->v_layer + (size_t)kvh * job->cap * d;
        fk->attend(&a);
    }
}

/* The most score scratch an item needs when items are `heads` heads and `toks` tokens. */
static size_t attention_need(uint32_t first_pos, uint32_t n, uint32_t window, uint32_t heads, uint32_t toks) {
    size_t most = 0;
    for (uint32_t t0 = 0; t0 < n; t0 += toks) {
        const size_t need = g2_attend_scratch(heads, n - t0 < toks ? n - t0 : toks, first_pos + t0, window);
        most = need > most ? need : most;
    }
    return most;
}

/* Attention of the chunk's tokens [t0, t0 + n) (at positions n_pos + t0 on), split
 * into items of up to G2_ATTENTION_ROWS query rows, enough to reuse each key and value
 * read, whose scores fit the per-thread scratch (G2_ATTENTION_ROWS * n_ctx floats, so
 * 16 rows always fit, and one row of n_ctx at the least), and smaller ones when there
 * would be fewer items than threads. */
static void attention(gemma2_session *s, const float *k_layer, const float *v_layer, uint32_t cap,
                      uint32_t t0, uint32_t n, int local) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t group = c->n_heads / c->n_kv_heads, window = local ? c->sliding_window : 0;
    const size_t row = (size_t)c->n_heads * c->head_dim;
    attention_job job = {.s = s,
                         .q = s->q + (size_t)t0 * row,
                         .att = s->att + (size_t)t0 * row,
                         .k_layer = k_layer,
                         .v_layer = v_layer,
                         .cap = cap,
                         .n_tok = n,
                         .first_pos = s->n_pos + t0,
                         .window = window,
                         .scratch = (size_t)G2_ATTENTION_ROWS * s->n_ctx};
    uint32_t heads = group, toks = G2_ATTENTION_ROWS / group ? G2_ATTENTION_ROWS / group : 1;
    if (toks > n)
        toks = n;
    while (toks > 1 && attention_need(job.first_pos, n, window, heads, toks) > job.scratch)
        toks--;
    while (heads > 1 && attention_need(job.first_pos, n, window, heads, 1) > job.scratch)
        heads--;
    /* smaller items when there would be fewer than threads (decode: one token) */
    const size_t threads = (size_t)g2_pool_size(s->pool);
#define ITEMS ((size_t)c->n_kv_heads * ((group + heads - 1) / heads) * ((n + toks - 1) / toks))
    while (ITEMS < threads && toks > 1)
        toks = (toks + 1) / 2;
    while (ITEMS < threads && heads > 1)
        heads = (heads + 1) / 2;
#undef ITEMS
    job.heads_per_item = heads;
    job.toks_per_item = toks;
    job.head_blocks = (group + heads - 1) / heads;
    job.tok_blocks = (n + toks - 1) / toks;
    atomic_init(&job.next, 0);
    g2_pool_run(s->pool, attention_task, &job);
}

static void attention_block(gemma2_session *s, const g2_layer *L, uint32_t layer, uint32_t n) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t H = c->hidden_size, d = c->head_dim, qdim = c->n_heads * d;
    const float q_scale = (float)(1.0 / sqrt((double)c->query_pre_attn_scalar));
    /* the cache of each KV head is contiguous: keys transposed in blocks of 16 slots
     * (g2_key_index), values [cap][head_dim]; position p is in slot p % cap */
    const uint32_t cap = s->cap[layer];
    float *k_layer = s->k_cache + s->layer_off[layer];
    float *v_layer = s->v_cache + s->layer_off[layer];

    for (uint32_t t = 0; t < n; t++)
        g2_rmsnorm(s->h + (size_t)t * H, s->x + (size_t)t * H, L->attn_norm, H, c->rms_norm_eps);
    quantize_input(s, s->h, n, H, (const g2_matrix *[]){&L->q, &L->k, &L->v}, 3);
    const g2_matmul_input in = input(s, s->h, n);
    const g2_matmul_target qkv[3] = {{&L->q, s->q, 0.0f}, {&L->k, s->k, 0.0f}, {&L->v, s->v, 0.0f}};
    g2_matmul_many(s->pool, &in, qkv, 3);
    /* keys and values into the cache, then their attention, G2_KV_CHUNK tokens at a
     * time: a ring holds the window behind the first of them and all of them */
    for (uint32_t t0 = 0; t0 < n; t0 += G2_KV_CHUNK) {
        const uint32_t t1 = n - t0 < G2_KV_CHUNK ? n : t0 + G2_KV_CHUNK;
        for (uint32_t t = t0; t < t1; t++) {
            const float *cs = s->rope_cos + (size_t)t * (d / 2), *sn = s->rope_sin + (size_t)t * (d / 2);
            float *q = s->q + (size_t)t * qdim, *k = s->k + (size_t)t * s->kv_dim;
            g2_rope(q, c->n_heads, d, cs, sn);
            g2_rope(k, c->n_kv_heads, d, cs, sn);
            for (uint32_t i = 0; i < qdim; i++)
                q[i] *= q_scale; /* query_pre_attn_scalar^-0.5, before the soft-cap */
            const uint32_t slot = (s->n_pos + t) % cap;
            for (uint32_t h = 0; h < c->n_kv_heads; h++) {
                float *kh = k_layer + (size_t)h * cap * d;
                for (uint32_t i = 0; i < d; i++)
                    kh[g2_key_index(cap, d, slot, i)] = k[h * d + i];
                memcpy(v_layer + ((size_t)h * cap + slot) * d, s->v + (size_t)t * s->kv_dim + h * d,
                       d * sizeof(float));
            }
        }
        attention(s, k_layer, v_layer, cap, t0, t1 - t0, L->local);
    }
    quantize_input(s, s->att, n, qdim, (const g2_matrix *[]){&L->o}, 1);
    matmul(s, s->proj, &L->o, s->att, n);
    for (uint32_t t = 0; t < n; t++) {
        float *o = s->proj + (size_t)t * H, *x = s->x + (size_t)t * H;
        g2_rmsnorm(o, o, L->post_attn_norm, H, c->rms_norm_eps);
        for (uint32_t i = 0; i < H; i++)
            x[i] += o[i];
    }
}

static void ffw_block(gemma2_session *s, const g2_layer *L, uint32_t n) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t H = c->hidden_size, F = c->ffn_size;
    for (uint32_t t = 0; t < n; t++)
        g2_rmsnorm(s->h + (size_t)t * H, s->x + (size_t)t * H, L->pre_ffw_norm, H, c->rms_norm_eps);
    quantize_input(s, s->h, n, H, (const g2_matrix *[]){&L->gate, &L->up}, 2);
    const g2_matmul_input in = input(s, s->h, n);
    g2_matmul_geglu(s->pool, &in, &L->gate, &L->up, s->gate, s->up);
    quantize_input(s, s->gate, n, F, (const g2_matrix *[]){&L->down}, 1);
    matmul(s, s->proj, &L->down, s->gate, n);
    for (uint32_t t = 0; t < n; t++) {
        float *o = s->proj + (size_t)t * H, *x = s->x + (size_t)t * H;
        g2_rmsnorm(o, o, L->post_ffw_norm, H, c->rms_norm_eps);
        for (uint32_t i = 0; i < H; i++)
            x[i] += o[i];
    }
}

/* Final norm of rows [first, first+n) of the chunk into s->h, then logits. */
static void output_rows(gemma2_session *s, uint32_t first, uint32_t n, float *logits, float *hidden) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t H = c->hidden_size;
    for (uint32_t t = 0; t < n; t++)
        g2_rmsnorm(s->h + (size_t)t * H, s->x + (size_t)(first + t) * H, s->model->final_norm, H,
                   c->rms_norm_eps);
    if (hidden)
        memcpy(hidden, s->h, (size_t)n * H * sizeof(float));
    if (logits) {
        quantize_input(s, s->h, n, H, (const g2_matrix *[]){&s->model->embed}, 1);
        const g2_matmul_input in = input(s, s->h, n);
        const g2_matmul_target target = {.W = &s->model->embed, .y = logits, .softcap = c->final_softcap};
        g2_matmul_many(s->pool, &in, &target, 1); /* soft-capped as rows finish */
    }
}

/* Returns 0, or 1 if cancelled (before a layer; n_pos, the logits and the history
 * are then untouched, so the caller can roll the whole call back). */
static int forward_chunk(gemma2_session *s, const int32_t *tokens, uint32_t n, float *logits, float *hidden,
                         int last_chunk) {
    const gemma2_model *m = s->model;
    const g2_file_config *c = &m->cfg;
    const uint32_t half = c->head_dim / 2;
    embed(s, tokens, n);
    for (uint32_t t = 0; t < n; t++)
        g2_rope_angles(s->rope_cos + (size_t)t * half, s->rope_sin + (size_t)t * half, c->head_dim,
                       s->n_pos + t, c->rope_theta);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        if (g2_session_take_cancel(s))
            return 1;
        attention_block(s, &m->layers[l], l, n);
        ffw_block(s, &m->layers[l], n);
    }
    if (logits || hidden)
        output_rows(s, 0, n, logits, hidden);
    if (last_chunk) {
        if (logits) /* already computed: keep a copy of the last row */
            memcpy(s->logits, logits + (size_t)(n - 1) * c->vocab_size, c->vocab_size * sizeof(float));
        else
            output_rows(s, n - 1, 1, s->logits, NULL);
    }
    memmove(s->tokens + s->n_pos, tokens, (size_t)n * sizeof *tokens); /* a repair passes s->tokens */
    s->n_pos += n;
    return 0;
}

/* What the sliding-window layers need to go on from n_pos: the window behind it. */
static int needs_repair(const gemma2_session *s) {
    const uint32_t w = s->model->cfg.sliding_window;
    const uint32_t need = w && s->n_pos >= w ? s->n_pos - w + 1 : 0;
    return s->local_from > need;
}

/* After positions up to end (exclusive) were written: what the rings overwrote. */
static void note_written(gemma2_session *s, uint32_t end) {
    if (end > s->ring_min && end - s->ring_min > s->local_from)
        s->local_from = end - s->ring_min;
}

/* Runs n tokens in chunks from n_pos (the last chunk's logits into s->logits if
 * want_logits); 1 if cancelled, n_pos then back at its start. */
static int forward_range(gemma2_session *s, const int32_t *tokens, uint32_t n, const g2_forward_out *out,
                         int want_logits) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t start = s->n_pos;
    for (uint32_t done = 0; done < n;) {
        uint32_t chunk = n - done < s->chunk ? n - done : s->chunk;
        float *logits = out && out->logits ? out->logits + (size_t)done * c->vocab_size : NULL;
        float *hidden = out && out->hidden ? out->hidden + (size_t)done * c->hidden_size : NULL;
        const uint32_t at = s->n_pos;
        const int cancelled = forward_chunk(s, tokens + done, chunk, logits, hidden, want_logits && done + chunk == n);
        note_written(s, at + chunk); /* even a cancelled chunk may have written its keys */
        if (cancelled) {
            /* all or nothing: the cache past start is ignored once n_pos is back */
            s->n_pos = start;
            return 1;
        }
        done += chunk;
    }
    return 0;
}

gemma2_status g2_forward(gemma2_session *s, const int32_t *tokens, uint32_t n, const g2_forward_out *out) {
    if (needs_repair(s)) {
        /* the window behind n_pos was overwritten (a rewind past a ring) or not kept (a
         * loaded state): recompute every position from the tokens, which gives the same
         * bits, without touching the logits */
        const uint32_t held = s->n_pos;
        s->n_pos = 0;
        s->local_from = 0;
        if (forward_range(s, s->tokens, held, NULL, 0)) {
            s->n_pos = held;
            s->local_from = held; /* still to repair */
            return GEMMA2_ERR_CANCELLED;
        }
    }
    if (forward_range(s, tokens, n, out, 1))
        return GEMMA2_ERR_CANCELLED;
    s->has_logits = 1;
    return GEMMA2_OK;
}
