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

/* Quantizes the n rows of x ([n][cols]) for the quantized matrices that read it next
 * (q/k/v share one quantization, as do gate/up). */
static void quantize_input(gemma2_session *s, const float *x, uint32_t n, uint32_t cols) {
    if (!s->model->quantized)
        return;
    const uint32_t nb = g2_q_blocks(cols);
    for (uint32_t t = 0; t < n; t++)
        s->model->kernels->quantize_act(x + (size_t)t * cols, cols, s->act.qs + (size_t)t * nb * G2_QK,
                                        s->act.ql + (size_t)t * nb * G2_QK,
                                        s->act.d + (size_t)t * nb, s->act.sum + (size_t)t * nb);
    s->act.nb = nb;
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

typedef struct attention_job {
    gemma2_session *s;
    const float *k_layer, *v_layer; /* [n_ctx][kv_dim] of this layer */
    uint32_t n_tok, first_pos;
    int local;
    atomic_size_t next;
} attention_job;

/* One (token, head) pair per work item: soft-capped scores against the cached keys
 * the mask allows, softmax, weighted sum of values. */
static void attention_task(void *p, int thread_index, int n_threads) {
    (void)n_threads;
    attention_job *job = p;
    gemma2_session *s = job->s;
    const g2_file_config *c = &s->model->cfg;
    const uint32_t d = c->head_dim, group = c->n_heads / c->n_kv_heads;
    float *scores = s->scores + (size_t)thread_index * s->n_ctx;
    const size_t items = (size_t)job->n_tok * c->n_heads;
    for (size_t item; (item = g2_claim(&job->next, 1)) < items;) {
        uint32_t t = (uint32_t)(item / c->n_heads), head = (uint32_t)(item % c->n_heads);
        uint32_t pos = job->first_pos + t;
        /* causal; local layers also need pos - j < window */
        uint32_t lo = job->local && pos >= c->sliding_window ? pos - c->sliding_window + 1 : 0;
        const float *q = s->q + ((size_t)t * c->n_heads + head) * d;
        const size_t kv_off = (size_t)(head / group) * d;
        float max = -INFINITY;
        for (uint32_t j = lo; j <= pos; j++) {
            float sc = g2_dot_f32(q, job->k_layer + (size_t)j * s->kv_dim + kv_off, d);
            if (c->attn_softcap > 0.0f)
                sc = c->attn_softcap * tanhf(sc / c->attn_softcap);
            scores[j] = sc;
            if (sc > max)
                max = sc;
        }
        double sum = 0.0;
        for (uint32_t j = lo; j <= pos; j++) {
            scores[j] = expf(scores[j] - max);
            sum += scores[j];
        }
        const float inv = (float)(1.0 / sum);
        float *out = s->att + ((size_t)t * c->n_heads + head) * d;
        memset(out, 0, d * sizeof(float));
        for (uint32_t j = lo; j <= pos; j++) {
            const float w = scores[j] * inv;
            const float *v = job->v_layer + (size_t)j * s->kv_dim + kv_off;
            for (uint32_t i = 0; i < d; i++)
                out[i] += w * v[i];
        }
    }
}

static void attention_block(gemma2_session *s, const g2_layer *L, uint32_t layer, uint32_t n) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t H = c->hidden_size, d = c->head_dim, qdim = c->n_heads * d;
    const float q_scale = (float)(1.0 / sqrt((double)c->query_pre_attn_scalar));
    float *k_layer = s->k_cache + (size_t)layer * s->n_ctx * s->kv_dim;
    float *v_layer = s->v_cache + (size_t)layer * s->n_ctx * s->kv_dim;

    for (uint32_t t = 0; t < n; t++)
        g2_rmsnorm(s->h + (size_t)t * H, s->x + (size_t)t * H, L->attn_norm, H, c->rms_norm_eps);
    quantize_input(s, s->h, n, H);
    const g2_matmul_input in = input(s, s->h, n);
    const g2_matmul_target qkv[3] = {{&L->q, s->q}, {&L->k, s->k}, {&L->v, s->v}};
    g2_matmul_many(s->pool, &in, qkv, 3);
    for (uint32_t t = 0; t < n; t++) {
        const float *cs = s->rope_cos + (size_t)t * (d / 2), *sn = s->rope_sin + (size_t)t * (d / 2);
        float *q = s->q + (size_t)t * qdim, *k = s->k + (size_t)t * s->kv_dim;
        g2_rope(q, c->n_heads, d, cs, sn);
        g2_rope(k, c->n_kv_heads, d, cs, sn);
        for (uint32_t i = 0; i < qdim; i++)
            q[i] *= q_scale; /* query_pre_attn_scalar^-0.5, before the soft-cap */
        size_t at = (size_t)(s->n_pos + t) * s->kv_dim;
        memcpy(k_layer + at, k, s->kv_dim * sizeof(float));
        memcpy(v_layer + at, s->v + (size_t)t * s->kv_dim, s->kv_dim * sizeof(float));
    }
    attention_job job = {
        .s = s, .k_layer = k_layer, .v_layer = v_layer, .n_tok = n, .first_pos = s->n_pos, .local = L->local};
    atomic_init(&job.next, 0);
    g2_pool_run(s->pool, attention_task, &job);
    quantize_input(s, s->att, n, qdim);
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
    quantize_input(s, s->h, n, H);
    const g2_matmul_input in = input(s, s->h, n);
    g2_matmul_geglu(s->pool, &in, &L->gate, &L->up, s->gate, s->up);
    quantize_input(s, s->gate, n, F);
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
        quantize_input(s, s->h, n, H);
        matmul(s, logits, &s->model->embed, s->h, n);
        g2_softcap(logits, n * c->vocab_size, c->final_softcap);
    }
}

static void forward_chunk(gemma2_session *s, const int32_t *tokens, uint32_t n, float *logits, float *hidden,
                          int last_chunk) {
    const gemma2_model *m = s->model;
    const g2_file_config *c = &m->cfg;
    const uint32_t half = c->head_dim / 2;
    embed(s, tokens, n);
    for (uint32_t t = 0; t < n; t++)
        g2_rope_angles(s->rope_cos + (size_t)t * half, s->rope_sin + (size_t)t * half, c->head_dim,
                       s->n_pos + t, c->rope_theta);
    for (uint32_t l = 0; l < c->n_layers; l++) {
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
    s->n_pos += n;
}

void g2_forward(gemma2_session *s, const int32_t *tokens, uint32_t n, const g2_forward_out *out) {
    const g2_file_config *c = &s->model->cfg;
    for (uint32_t done = 0; done < n;) {
        uint32_t chunk = n - done < G2_PREFILL_CHUNK ? n - done : G2_PREFILL_CHUNK;
        float *logits = out && out->logits ? out->logits + (size_t)done * c->vocab_size : NULL;
        float *hidden = out && out->hidden ? out->hidden + (size_t)done * c->hidden_size : NULL;
        forward_chunk(s, tokens + done, chunk, logits, hidden, done + chunk == n);
        done += chunk;
    }
    s->has_logits = 1;
}
