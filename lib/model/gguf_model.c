/* SPDX-License-Identifier: Apache-2.0 */
/* A GGUF file (architecture "gemma2") as a model; docs/gguf.md says what is read and
 * how each tensor type is taken in. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model/gguf_model.h"
#include "model/layout.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/pool.h"
#include "tensor/ggml_blocks.h"
#include "tensor/quant.h"
#include "tokenizer/tokenizer.h"

/* GGUF tensor names of the roles (layout.h), "blk.N." before the per-layer ones. */
static const char *const gguf_suffix[G2_ROLE_COUNT] = {
    [G2_ROLE_EMBED] = "token_embd.weight",
    [G2_ROLE_FINAL_NORM] = "output_norm.weight",
    [G2_ROLE_ATTN_NORM] = "attn_norm.weight",
    [G2_ROLE_Q] = "attn_q.weight",
    [G2_ROLE_K] = "attn_k.weight",
    [G2_ROLE_V] = "attn_v.weight",
    [G2_ROLE_O] = "attn_output.weight",
    [G2_ROLE_POST_ATTN_NORM] = "post_attention_norm.weight",
    [G2_ROLE_PRE_FFW_NORM] = "ffn_norm.weight",
    [G2_ROLE_GATE] = "ffn_gate.weight",
    [G2_ROLE_UP] = "ffn_up.weight",
    [G2_ROLE_DOWN] = "ffn_down.weight",
    [G2_ROLE_POST_FFW_NORM] = "post_ffw_norm.weight",
};

/* ---- hyperparameters --------------------------------------------------------- */

/* "gemma2.<suffix>" as u32: a scalar, or an array of one value per layer that must all
 * be equal (llama.cpp allows per-layer arrays; Gemma 2 has uniform layers). */
static int arch_u32(const g2_gguf *g, const char *suffix, uint32_t *out) {
    char key[96];
    snprintf(key, sizeof key, "gemma2.%s", suffix);
    const g2_gguf_kv *kv = g2_gguf_find(g, key);
    if (kv && kv->type == G2_GGUF_ARRAY) {
        /* callers return GEMMA2_ERR_FORMAT on -1, so the message says FORMAT too */
        int ok = kv->count > 0, same = 1;
        uint64_t first = ok ? g2_gguf_array_uint(kv, 0, &ok) : 0;
        for (uint64_t i = 1; ok && same && i < kv->count; i++)
            same = g2_gguf_array_uint(kv, i, &ok) == first;
        if (!ok || first > UINT32_MAX) {
            g2_error(GEMMA2_ERR_FORMAT, "GGUF: '%s' is not a non-empty array of 32-bit unsigned integers",
                     key);
            return -1;
        }
        if (!same) {
            g2_error(GEMMA2_ERR_FORMAT, "GGUF: '%s' differs between layers, which Gemma 2 never does", key);
            return -1;
        }
        *out = (uint32_t)first;
        return 1;
    }
    return g2_gguf_get_u32(g, key, out);
}

static int arch_f32(const g2_gguf *g, const char *suffix, float *out) {
    char key[96];
    snprintf(key, sizeof key, "gemma2.%s", suffix);
    return g2_gguf_get_f32(g, key, out);
}

static gemma2_status missing(const char *suffix) {
    return g2_error(GEMMA2_ERR_FORMAT, "GGUF: required metadata 'gemma2.%s' is missing", suffix);
}

/* Which layers use the sliding window: an array of bools per layer, or a period n
 * (layer l is local unless l % n == n - 1), llama.cpp's default period being 2. */
static gemma2_status read_layer_kinds(const g2_gguf *g, gemma2_model *m) {
    const uint32_t n = m->cfg.n_layers;
    m->layer_kind = g2_malloc(n);
    if (!m->layer_kind)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading the config");
    const g2_gguf_kv *kv = g2_gguf_find(g, "gemma2.attention.sliding_window_pattern");
    if (kv && kv->type == G2_GGUF_ARRAY) {
        if (kv->elem_type != G2_GGUF_BOOL || kv->count != n)
            return g2_error(GEMMA2_ERR_FORMAT, "GGUF: sliding_window_pattern is not one bool per layer");
        for (uint32_t l = 0; l < n; l++)
            m->layer_kind[l] = kv->value[l] ? G2_LAYER_LOCAL : G2_LAYER_GLOBAL;
        return GEMMA2_OK;
    }
    uint32_t period = 2;
    if (arch_u32(g, "attention.sliding_window_pattern", &period) < 0)
        return GEMMA2_ERR_FORMAT;
    if (period == 0)
        return g2_error(GEMMA2_ERR_FORMAT, "GGUF: sliding_window_pattern is 0");
    for (uint32_t l = 0; l < n; l++)
        m->layer_kind[l] = l % period < period - 1 ? G2_LAYER_LOCAL : G2_LAYER_GLOBAL;
    return GEMMA2_OK;
}

static gemma2_status read_config(const g2_gguf *g, gemma2_model *m, const g2_gguf_tensor *embed) {
    const char *arch;
    uint64_t len;
    int r = g2_gguf_get_str(g, "general.architecture", &arch, &len);
    if (r < 0)
        return GEMMA2_ERR_FORMAT;
    if (r == 0)
        return g2_error(GEMMA2_ERR_FORMAT, "GGUF: general.architecture is missing");
    if (len != 6 || memcmp(arch, "gemma2", 6) != 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "GGUF: architecture '%.*s' is not Gemma 2 ('gemma2')",
                        (int)(len > 64 ? 64 : len), arch);
    g2_file_config *c = &m->cfg;
    memset(c, 0, sizeof *c);
    const struct {
        const char *key;
        uint32_t *dst;
    } required[] = {
        {"embedding_length", &c->hidden_size},  {"block_count", &c->n_layers},
        {"feed_forward_length", &c->ffn_size},  {"attention.head_count", &c->n_heads},
        {"context_length", &c->context_length},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        r = arch_u32(g, required[i].key, required[i].dst);
        if (r <= 0)
            return r < 0 ? GEMMA2_ERR_FORMAT : missing(required[i].key);
    }
    if (c->n_heads == 0)
        return g2_error(GEMMA2_ERR_FORMAT, "GGUF: attention.head_count is 0");
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden_size / c->n_heads;
    c->sliding_window = 4096; /* llama.cpp's default for Gemma 2 */
    uint32_t value_len = 0;
    if (arch_u32(g, "attention.head_count_kv", &c->n_kv_heads) < 0 ||
        arch_u32(g, "attention.key_length", &c->head_dim) < 0 ||
        (r = arch_u32(g, "attention.value_length", &value_len)) < 0 ||
        arch_u32(g, "attention.sliding_window", &c->sliding_window) < 0)
        return GEMMA2_ERR_FORMAT;
    if (r == 1 && value_len != c->head_dim)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "GGUF: value_length %u differs from key_length %u",
                        (unsigned)value_len, (unsigned)c->head_dim);
    if ((r = arch_f32(g, "attention.layer_norm_rms_epsilon", &c->rms_norm_eps)) <= 0)
        return r < 0 ? GEMMA2_ERR_FORMAT : missing("attention.layer_norm_rms_epsilon");
    c->rope_theta = 10000.0f;
    c->attn_softcap = 50.0f; /* llama.cpp's defaults when the keys are absent */
    c->final_softcap = 30.0f;
    float swa_theta = 0.0f, rope_scale = 1.0f;
    if (arch_f32(g, "rope.freq_base", &c->rope_theta) < 0 ||
        arch_f32(g, "attn_logit_softcapping", &c->attn_softcap) < 0 ||
        arch_f32(g, "final_logit_softcapping", &c->final_softcap) < 0 ||
        (r = arch_f32(g, "rope.freq_base_swa", &swa_theta)) < 0 ||
        arch_f32(g, "rope.scaling.factor", &rope_scale) < 0)
        return GEMMA2_ERR_FORMAT;
    if ((r == 1 && swa_theta != c->rope_theta) || !(rope_scale == 1.0f || rope_scale == 0.0f))
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "GGUF: RoPE scaling or a separate sliding-window RoPE base "
                                                "is not Gemma 2 and is not supported");
    /* GGUF has no query_pre_attn_scalar: llama.cpp takes hidden / heads for the 27B
     * (its only 46-layer Gemma 2) and head_dim otherwise, as Google's configs do. */
    if (c->n_layers == 46) {
        c->query_pre_attn_scalar = (float)(c->hidden_size / c->n_heads);
        m->qpas_source = GEMMA2_QPAS_HIDDEN_PER_HEAD;
    } else {
        c->query_pre_attn_scalar = (float)c->head_dim;
        m->qpas_source = GEMMA2_QPAS_HEAD_DIM;
    }
    c->vocab_size = embed->ne[1] > UINT32_MAX ? 0 : (uint32_t)embed->ne[1];
    uint32_t ids[3] = {2, 1, 0}; /* Gemma's <bos>, <eos>, <pad> when the file does not say */
    static const char *const id_keys[3] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.padding_token_id"};
    for (int i = 0; i < 3; i++)
        if (g2_gguf_get_u32(g, id_keys[i], &ids[i]) < 0)
            return GEMMA2_ERR_FORMAT;
    c->bos_id = ids[0] > INT32_MAX ? -1 : (int32_t)ids[0];
    c->eos_id = ids[1] > INT32_MAX ? -1 : (int32_t)ids[1];
    c->pad_id = ids[2] > INT32_MAX ? -1 : (int32_t)ids[2];
    c->flags = G2_CONFIG_TIED_EMBEDDING;
    c->activation = G2_ACT_GELU_TANH;
    gemma2_status st = g2_config_validate(c);
    if (st != GEMMA2_OK)
        return st;
    return read_layer_kinds(g, m);
}

/* ---- tensors ----------------------------------------------------------------- */

/* The role and layer of a GGUF tensor name; -1 if it is not one of Gemma 2's. */
static int role_of(const g2_gguf_tensor *t, uint32_t n_layers, g2_role *role, uint32_t *layer) {
    const char *s = t->name, *end = t->name + t->name_len;
    *layer = 0;
    int per_layer = t->name_len > 4 && memcmp(s, "blk.", 4) == 0;
    if (per_layer) {
        s += 4;
        uint64_t l = 0;
        const char *digits = s;
        while (s < end && *s >= '0' && *s <= '9' && s - digits < 8)
            l = l * 10 + (uint64_t)(*s++ - '0');
        if (s == digits || (s - digits > 1 && *digits == '0') || s >= end || *s != '.' || l >= n_layers)
            return -1;
        s++;
        *layer = (uint32_t)l;
    }
    for (int r = per_layer ? G2_FIRST_LAYER_ROLE : 0; r < (per_layer ? G2_ROLE_COUNT : G2_FIRST_LAYER_ROLE);
         r++)
        if ((size_t)(end - s) == strlen(gguf_suffix[r]) &&
            memcmp(s, gguf_suffix[r], (size_t)(end - s)) == 0) {
            *role = (g2_role)r;
            return 0;
        }
    return -1;
}

/* The in-memory type of a tensor: norms in f32 (the +1 taken back off); matrices keep
 * f32 and bf16, f16 widens to f32 (exact), and block types become q8, exactly where
 * their values are d * int8 in blocks of 32 (Q8_0, Q4_0, Q5_0, IQ4_NL), re-quantized
 * from their float values otherwise. */
static uint32_t memory_type(g2_role role, uint32_t ggml) {
    if (g2_role_is_norm(role) || ggml == G2_GGML_F32 || ggml == G2_GGML_F16)
        return G2_TYPE_F32;
    return ggml == G2_GGML_BF16 ? G2_TYPE_BF16 : G2_TYPE_Q8;
}

typedef struct plan {
    g2_gguf_tensor *src; /* [n_tensors], in model tensor order */
    g2_role *roles;
} plan;

/* Slot (model order: embed, final norm, then layer by layer) of a role and layer. */
static uint32_t slot_of(g2_role role, uint32_t layer) {
    return role < G2_FIRST_LAYER_ROLE ? (uint32_t)role
                                      : 2 + layer * G2_LAYER_ROLES + (uint32_t)(role - G2_FIRST_LAYER_ROLE);
}

/* The tensors are not the config's set: the error naming the first unknown, repeated or
 * missing one. */
static gemma2_status wrong_tensor_set(const g2_gguf *g, const gemma2_model *m, uint32_t n) {
    uint8_t *seen = g2_calloc(n, 1);
    if (!seen)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading %u tensors", (unsigned)n);
    gemma2_status st = GEMMA2_OK;
    for (uint64_t i = 0; i < g->n_tensors && st == GEMMA2_OK; i++) {
        g2_role role;
        uint32_t layer;
        const g2_gguf_tensor *t = &g->tensors[i];
        if (role_of(t, m->cfg.n_layers, &role, &layer) != 0)
            st = g2_error(t->name_len == 13 && memcmp(t->name, "output.weight", 13) == 0
                              ? GEMMA2_ERR_UNSUPPORTED
                              : GEMMA2_ERR_FORMAT,
                          "GGUF: tensor '%.*s' is not part of a Gemma 2 model of %u layers "
                          "(an untied output.weight is not supported)",
                          (int)t->name_len, t->name, (unsigned)m->cfg.n_layers);
        else if (seen[slot_of(role, layer)]++)
            st = g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor '%.*s' appears twice", (int)t->name_len, t->name);
    }
    for (uint32_t s = 0; s < n && st == GEMMA2_OK; s++)
        if (!seen[s]) {
            if (s < G2_FIRST_LAYER_ROLE)
                st = g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor '%s' is missing", gguf_suffix[s]);
            else
                st = g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor 'blk.%u.%s' is missing",
                              (unsigned)((s - 2) / G2_LAYER_ROLES),
                              gguf_suffix[G2_FIRST_LAYER_ROLE + (s - 2) % G2_LAYER_ROLES]);
        }
    free(seen);
    return st != GEMMA2_OK
               ? st
               : g2_error(GEMMA2_ERR_FORMAT, "GGUF: %llu tensors, but a Gemma 2 model of %u layers has %u",
                          (unsigned long long)g->n_tensors, (unsigned)m->cfg.n_layers, (unsigned)n);
}

static gemma2_status map_tensors(const g2_gguf *g, gemma2_model *m, plan *p) {
    const uint32_t n = 2 + G2_LAYER_ROLES * m->cfg.n_layers;
    if (g->n_tensors != n)
        return wrong_tensor_set(g, m, n);
    m->tensors = g2_calloc(n, sizeof *m->tensors);
    m->names = g2_calloc(n, G2_TENSOR_NAME_MAX);
    m->by_name = g2_calloc(n, sizeof *m->by_name);
    p->src = g2_calloc(n, sizeof *p->src);
    p->roles = g2_calloc(n, sizeof *p->roles);
    if (!m->tensors || !m->names || !m->by_name || !p->src || !p->roles)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading %u tensors", (unsigned)n);
    m->n_tensors = n;
    for (uint64_t i = 0; i < n; i++) {
        const g2_gguf_tensor *t = &g->tensors[i];
        g2_role role;
        uint32_t layer;
        if (role_of(t, m->cfg.n_layers, &role, &layer) != 0 || m->tensors[slot_of(role, layer)].name)
            return wrong_tensor_set(g, m, n); /* an unknown or repeated tensor: name the first */
        /* model order: embed, final norm, then layer by layer (so each slot is filled once) */
        uint32_t slot = slot_of(role, layer);
        g2_tensor *dst = &m->tensors[slot];
        char *name = m->names + (size_t)slot * G2_TENSOR_NAME_MAX;
        g2_role_name(name, G2_TENSOR_NAME_MAX, role, layer);
        uint32_t n_dims;
        uint64_t dims[2];
        g2_role_shape(&m->cfg, role, &n_dims, dims);
        uint64_t want[G2_GGUF_MAX_DIMS] = {n_dims == 2 ? dims[1] : dims[0], n_dims == 2 ? dims[0] : 1, 1, 1};
        if (memcmp(t->ne, want, sizeof want) != 0)
            return g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor '%.*s' has the wrong shape for the config",
                            (int)t->name_len, t->name);
        dst->name = name;
        dst->type = memory_type(role, t->type);
        dst->file_type = G2_FILE_TYPE_GGUF(t->type);
        dst->n_dims = n_dims;
        dst->dims[0] = dims[0];
        dst->dims[1] = n_dims == 2 ? dims[1] : 0;
        dst->n_bytes = g2_type_is_quantized(dst->type)
                           ? g2_q_bytes(0, dims[0], (uint32_t)dims[1])
                           : dims[0] * (n_dims == 2 ? dims[1] : 1) * g2_type_size(dst->type);
        dst->stored_bytes = g2_gguf_tensor_bytes(t);
        dst->file_offset = g->data_offset + t->offset;
        p->src[slot] = *t;
        p->roles[slot] = role;
        m->weight_bytes += dst->n_bytes;
    }
    return g2_model_index_names(m);
}

/* ---- conversion, in parallel over row ranges ----------------------------------- */

/* Values per work item: about this many, in whole row sets (G2_Q_ROW_SET rows), as
 * the q8 layout wants; wider rows make items of one set. */
#define CHUNK_VALUES ((uint64_t)1 << 20)

typedef struct chunk {
    uint32_t tensor;
    uint32_t row0, rows;
} chunk;

typedef struct convert_job {
    gemma2_model *m;
    const plan *p;
    const uint8_t *data; /* the GGUF data section */
    chunk *chunks;
    size_t n_chunks;
    uint64_t max_values; /* the largest item's values */
    atomic_size_t next;
    atomic_size_t next_digest;
    gemma2_status *status; /* per tensor */
} convert_job;

static gemma2_status convert_rows(const convert_job *job, const chunk *c, float *scratch) {
    const g2_tensor *t = &job->m->tensors[c->tensor];
    const g2_gguf_tensor *s = &job->p->src[c->tensor];
    const uint64_t cols = s->ne[0], n = (uint64_t)c->rows * cols;
    const uint8_t *src = job->data + s->offset + c->row0 * g2_ggml_row_bytes(s->type, cols);
    uint8_t *dst = (uint8_t *)t->data;
    if (t->type == G2_TYPE_BF16) { /* the same bits, NaN and infinities refused as for every type */
        memcpy(dst + c->row0 * cols * 2, src, n * 2);
        const uint8_t *b = dst + c->row0 * cols * 2;
        unsigned bad = 0;
        for (uint64_t i = 0; i < n; i++)
            bad |= (b[2 * i + 1] & 0x7Fu) == 0x7Fu && (b[2 * i] & 0x80u); /* exponent all ones */
        return bad ? GEMMA2_ERR_FORMAT : GEMMA2_OK;
    }
    if (t->type == G2_TYPE_Q8) { /* c->row0 starts a row set: make_chunks */
        const uint32_t nb = (uint32_t)(cols / G2_QK), rows = (uint32_t)t->dims[0];
        int8_t *qs = (int8_t *)dst, *staged_qs = (int8_t *)(scratch + job->max_values);
        uint16_t *d = (uint16_t *)(dst + (uint64_t)rows * cols);
        uint16_t *staged_d = (uint16_t *)(void *)(staged_qs + job->max_values);
        if (g2_ggml_to_q8(s->type, src, n, staged_qs, staged_d)) { /* row-major → the layout */
            g2_q_place_rows(G2_QK, (const uint8_t *)staged_qs, staged_d, rows, nb, c->row0, c->rows,
                            (uint8_t *)qs, d);
            return GEMMA2_OK;
        }
        if (g2_ggml_dequantize(s->type, src, n, scratch) != 0)
            return GEMMA2_ERR_FORMAT;
        g2_quantize_q8(scratch, c->rows, (uint32_t)cols, qs + g2_q8_byte_at(rows, nb, c->row0, 0, 0),
                       d + g2_q_scale_at(rows, nb, c->row0, 0));
        return GEMMA2_OK;
    }
    float *out = (float *)dst + c->row0 * cols;
    if (g2_ggml_dequantize(s->type, src, n, out) != 0)
        return GEMMA2_ERR_FORMAT;
    if (g2_role_is_norm(job->p->roles[c->tensor]))
        for (uint64_t i = 0; i < n; i++)
            out[i] -= 1.0f; /* GGUF stores 1 + w; exact, so (1 + w') equals the stored value */
    return GEMMA2_OK;
}

static void convert_task(void *arg, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    convert_job *job = arg;
    float *scratch = NULL;
    for (size_t i; (i = g2_claim(&job->next, 1)) < job->n_chunks;) {
        const chunk *c = &job->chunks[i];
        /* max_values floats, then room to stage an item's q8 quants and scales */
        if (!scratch && !(scratch = g2_malloc(job->max_values * (sizeof(float) + 1) +
                                              job->max_values / G2_QK * sizeof(uint16_t)))) {
            job->status[c->tensor] = GEMMA2_ERR_OUT_OF_MEMORY;
            continue;
        }
        gemma2_status st = convert_rows(job, c, scratch);
        if (st != GEMMA2_OK)
            job->status[c->tensor] = st; /* benign race: any failing chunk's status will do */
    }
    free(scratch);
}

static void digest_task(void *arg, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    convert_job *job = arg;
    for (size_t i; (i = g2_claim(&job->next_digest, 1)) < job->m->n_tensors;) {
        g2_tensor *t = &job->m->tensors[i];
        crypto_generichash(t->digest, G2_DIGEST_LEN, t->data, (unsigned long long)t->n_bytes, NULL, 0);
    }
}

static gemma2_status make_chunks(convert_job *job) {
    const gemma2_model *m = job->m;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        n = 0;
        for (uint32_t i = 0; i < m->n_tensors; i++) {
            const uint64_t cols = job->p->src[i].ne[0], rows = job->p->src[i].ne[1];
            uint64_t per = CHUNK_VALUES / cols - CHUNK_VALUES / cols % G2_Q_ROW_SET;
            per = per ? per : G2_Q_ROW_SET;
            job->max_values = per * cols > job->max_values ? per * cols : job->max_values;
            for (uint64_t r = 0; r < rows; r += per, n++)
                if (pass)
                    job->chunks[n] = (chunk){i, (uint32_t)r, (uint32_t)(rows - r < per ? rows - r : per)};
        }
        if (!pass && !(job->chunks = g2_calloc(n, sizeof *job->chunks)))
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory planning the GGUF conversion");
    }
    job->n_chunks = n;
    job->max_values = (job->max_values + 63) & ~(uint64_t)63; /* the staged scales stay aligned */
    return GEMMA2_OK;
}

static gemma2_status convert_all(gemma2_model *m, const g2_gguf *g, const plan *p, int n_threads) {
    gemma2_status st = g2_model_alloc_tensors(m, 0);
    if (st != GEMMA2_OK)
        return st;
    convert_job job = {.m = m, .p = p, .data = g->file + g->data_offset};
    atomic_init(&job.next, 0);
    atomic_init(&job.next_digest, 0);
    st = make_chunks(&job);
    if (st == GEMMA2_OK && !(job.status = g2_calloc(m->n_tensors, sizeof *job.status)))
        st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory converting tensors");
    g2_pool *pool = NULL;
    if (st == GEMMA2_OK && (st = g2_pool_create(g2_threads_resolve(n_threads), &pool)) == GEMMA2_OK) {
        g2_pool_run(pool, convert_task, &job);
        for (uint32_t i = 0; i < m->n_tensors && st == GEMMA2_OK; i++)
            if (job.status[i] != GEMMA2_OK)
                st = g2_error(job.status[i],
                              job.status[i] == GEMMA2_ERR_OUT_OF_MEMORY
                                  ? "out of memory converting tensor '%s'"
                                  : "GGUF: tensor '%s' holds NaN or infinite values",
                              m->tensors[i].name);
        if (st == GEMMA2_OK)
            g2_pool_run(pool, digest_task, &job);
        g2_pool_destroy(pool);
    }
    free(job.chunks);
    free(job.status);
    if (st == GEMMA2_OK) /* immutable from here, as a mapped file is */
        (void)mprotect(m->unpacked, m->unpacked_size, PROT_READ);
    return st;
}

/* ---- the model digest ---------------------------------------------------------- */

/* GGUF carries no checksums: the digest is computed over what was loaded (config,
 * layer kinds, each tensor's name, type, shape and digest, the tokenizer), so the
 * same file always gives the same digest. */
static void model_digest(gemma2_model *m, const uint8_t *blob, size_t blob_size) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, G2_DIGEST_LEN);
    crypto_generichash_update(&st, (const uint8_t *)"gemma2 gguf model v1", 20);
    crypto_generichash_update(&st, (const uint8_t *)&m->cfg, sizeof m->cfg);
    crypto_generichash_update(&st, m->layer_kind, m->cfg.n_layers);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const g2_tensor *t = &m->tensors[i];
        crypto_generichash_update(&st, (const uint8_t *)t->name, G2_TENSOR_NAME_MAX);
        crypto_generichash_update(&st, (const uint8_t *)&t->type, sizeof t->type);
        crypto_generichash_update(&st, (const uint8_t *)t->dims, sizeof t->dims);
        crypto_generichash_update(&st, t->digest, G2_DIGEST_LEN);
    }
    if (blob)
        crypto_generichash_update(&st, blob, blob_size);
    crypto_generichash_final(&st, m->digest, G2_DIGEST_LEN);
}

gemma2_status g2_model_load_gguf(gemma2_model *m, int n_threads) {
    g2_gguf g;
    gemma2_status st = g2_gguf_parse(m->file.data, m->file.size, &g);
    if (st != GEMMA2_OK)
        return st;
    m->source = GEMMA2_SOURCE_GGUF;
    m->format_version = g.version;
    plan p = {0};
    uint8_t *blob = NULL;
    size_t blob_size = 0;
    const g2_gguf_tensor *embed = NULL;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if (g.tensors[i].name_len == 17 && memcmp(g.tensors[i].name, "token_embd.weight", 17) == 0)
            embed = &g.tensors[i];
    if (!embed) {
        st = g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor 'token_embd.weight' is missing");
        goto out;
    }
    if ((st = read_config(&g, m, embed)) != GEMMA2_OK || (st = map_tensors(&g, m, &p)) != GEMMA2_OK ||
        (st = g2_gguf_tokenizer_blob(&g, &blob, &blob_size)) != GEMMA2_OK)
        goto out;
    if ((blob && (st = g2_model_set_tokenizer(m, blob, blob_size)) != GEMMA2_OK) ||
        (st = convert_all(m, &g, &p, n_threads)) != GEMMA2_OK)
        goto out;
    model_digest(m, blob, blob_size);
out:
    free(blob);
    free(p.src);
    free(p.roles);
    g2_gguf_free(&g);
    return st;
}
