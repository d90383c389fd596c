/* SPDX-License-Identifier: Apache-2.0 */
/* A session: KV cache, scratch buffers sized once at creation (nothing is
 * allocated while feeding or stepping), its thread pool and the last logits. */
#ifndef G2_INFER_SESSION_H
#define G2_INFER_SESSION_H

#include <stdatomic.h>

#include "infer/sampler.h"
#include "model/model.h"
#include "runtime/pool.h"

/* Tokens whose keys and values are written before they attend: a sliding-window
 * layer's ring holds the window behind the first of them and all of them. */
#define G2_KV_CHUNK 64u
/* Tokens a prefill chunk takes through the matmuls together, each weight row loaded
 * once serving them all: the most, a power of two from G2_KV_CHUNK up to this, whose
 * scratch fits G2_CHUNK_SCRATCH_BYTES (g2_session_create; a larger chunk measured
 * faster, docs/performance-results-zen4.md). */
#define G2_PREFILL_CHUNK_MAX 256u
#define G2_CHUNK_SCRATCH_BYTES ((size_t)40 << 20)
/* Query rows (heads x tokens) an attention work item may hold scores for. */
#define G2_ATTENTION_ROWS 16u

struct gemma2_session {
    gemma2_model *model; /* holds a reference */
    g2_pool *pool;
    uint64_t bytes; /* allocated for the session: cache, scratch, sampler */
    uint32_t n_ctx; /* KV cache capacity in positions */
    uint32_t n_pos; /* tokens in the cache */
    int has_logits;
    int32_t *tokens;    /* [n_ctx] the ids in the cache, in order (the penalties' history) */
    g2_sampler sampler; /* chooses the token of a step */
    atomic_int cancel;  /* set by gemma2_session_cancel; the next check consumes it */
    /* the text of the steps (NULL without a tokenizer): restarted by anything but a
     * step, since the tokens then no longer follow on from the last step's */
    gemma2_text_stream *stream;
    char *piece; /* [piece_cap] the last step's text */
    size_t piece_cap;
    int stream_restart;
    size_t kv_dim;            /* n_kv_heads * head_dim */
    float *k_cache, *v_cache; /* per layer l at layer_off[l]: [kv_heads][cap[l] * head_dim],
                                 keys rotated and transposed in blocks of 16 positions
                                 (g2_key_index), position p in slot p % cap[l] */
    uint32_t *cap;            /* [n_layers] positions a layer's cache holds: n_ctx, or
                                 for a sliding-window layer a ring of window + 63 rounded
                                 up to 16 (all G2_KV_CHUNK tokens need), if that is less */
    size_t *layer_off;        /* [n_layers] floats before layer l in each cache */
    uint32_t ring_min;        /* the smallest cap of a sliding-window layer (n_ctx: none) */
    uint32_t local_from;      /* sliding-window layers hold valid keys and values for
                                 positions [local_from, n_pos) only (rings overwrite, a
                                 loaded state keeps the last window); g2_forward
                                 recomputes from the tokens when it needs more */
    uint32_t chunk;           /* tokens per prefill chunk (G2_PREFILL_CHUNK_MAX) */
    /* chunk scratch, C = chunk rows each */
    float *x;                   /* [C][hidden] residual stream */
    float *h;                   /* [C][hidden] normed input of a block */
    float *q;                   /* [C][n_heads*head_dim] */
    float *k, *v;               /* [C][kv_dim] */
    float *att;                 /* [C][n_heads*head_dim] attention output */
    float *proj;                /* [C][hidden] output of o / down projections */
    float *gate, *up;           /* [C][ffn] */
    float *rope_cos, *rope_sin; /* [C][head_dim/2] */
    float *scores;              /* [threads][G2_ATTENTION_ROWS * n_ctx] */
    float *row_scratch;         /* [threads][row_stride] */
    size_t row_stride;
    float *logits; /* [vocab] of the last fed position */
    g2_qact act;   /* the current matmul input, quantized: [C][act_nb_max] blocks */
    uint32_t act_nb_max;
};

/* Outputs requested from a forward pass; NULL = not wanted. */
typedef struct g2_forward_out {
    float *logits; /* [n][vocab] */
    float *hidden; /* [n][hidden] */
} g2_forward_out;

gemma2_status g2_session_create(gemma2_model *model, int n_threads, uint32_t n_ctx, gemma2_session **out);
void g2_session_destroy(gemma2_session *s);

/* Runs tokens (already validated, n_pos + n <= n_ctx) through the model, appends
 * them to the KV cache, and leaves the last position's logits in s->logits.
 * Returns GEMMA2_ERR_CANCELLED if a cancel request was seen (checked before each
 * layer): the session is then as before the call (position, logits, history). */
gemma2_status g2_forward(gemma2_session *s, const int32_t *tokens, uint32_t n, const g2_forward_out *out);

/* Consumes a pending cancel request: 1 if there was one. */
int g2_session_take_cancel(gemma2_session *s);

#endif
