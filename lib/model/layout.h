/* SPDX-License-Identifier: Apache-2.0 */
/* The tensors a Gemma 2 model file must hold: their names (Hugging Face names) and
 * their shapes derived from the config. Header-only so the loader and the converter
 * agree by construction. */
#ifndef G2_MODEL_LAYOUT_H
#define G2_MODEL_LAYOUT_H

#include <stdio.h>

#include "format.h"

typedef enum g2_role {
    G2_ROLE_EMBED,      /* [vocab, hidden], tied with the output projection */
    G2_ROLE_FINAL_NORM, /* [hidden] */
    /* per layer: */
    G2_ROLE_ATTN_NORM,      /* [hidden] input_layernorm */
    G2_ROLE_Q,              /* [heads * head_dim, hidden] */
    G2_ROLE_K,              /* [kv_heads * head_dim, hidden] */
    G2_ROLE_V,              /* [kv_heads * head_dim, hidden] */
    G2_ROLE_O,              /* [hidden, heads * head_dim] */
    G2_ROLE_POST_ATTN_NORM, /* [hidden] */
    G2_ROLE_PRE_FFW_NORM,   /* [hidden] */
    G2_ROLE_GATE,           /* [ffn, hidden] */
    G2_ROLE_UP,             /* [ffn, hidden] */
    G2_ROLE_DOWN,           /* [hidden, ffn] */
    G2_ROLE_POST_FFW_NORM,  /* [hidden] */
    G2_ROLE_COUNT
} g2_role;

#define G2_FIRST_LAYER_ROLE G2_ROLE_ATTN_NORM
#define G2_LAYER_ROLES (G2_ROLE_COUNT - G2_FIRST_LAYER_ROLE)

static const char *const g2_role_suffix[G2_ROLE_COUNT] = {
    [G2_ROLE_EMBED] = "model.embed_tokens.weight",
    [G2_ROLE_FINAL_NORM] = "model.norm.weight",
    [G2_ROLE_ATTN_NORM] = "input_layernorm.weight",
    [G2_ROLE_Q] = "self_attn.q_proj.weight",
    [G2_ROLE_K] = "self_attn.k_proj.weight",
    [G2_ROLE_V] = "self_attn.v_proj.weight",
    [G2_ROLE_O] = "self_attn.o_proj.weight",
    [G2_ROLE_POST_ATTN_NORM] = "post_attention_layernorm.weight",
    [G2_ROLE_PRE_FFW_NORM] = "pre_feedforward_layernorm.weight",
    [G2_ROLE_GATE] = "mlp.gate_proj.weight",
    [G2_ROLE_UP] = "mlp.up_proj.weight",
    [G2_ROLE_DOWN] = "mlp.down_proj.weight",
    [G2_ROLE_POST_FFW_NORM] = "post_feedforward_layernorm.weight",
};

static inline int g2_role_is_norm(g2_role role) {
    return role == G2_ROLE_FINAL_NORM || role == G2_ROLE_ATTN_NORM || role == G2_ROLE_POST_ATTN_NORM ||
           role == G2_ROLE_PRE_FFW_NORM || role == G2_ROLE_POST_FFW_NORM;
}

/* Writes the tensor name of role (for layer roles, of that layer) into buf.
 * Returns 0, or -1 if it does not fit. */
static inline int g2_role_name(char *buf, size_t cap, g2_role role, uint32_t layer) {
    int n = role < G2_FIRST_LAYER_ROLE
                ? snprintf(buf, cap, "%s", g2_role_suffix[role])
                : snprintf(buf, cap, "model.layers.%u.%s", (unsigned)layer, g2_role_suffix[role]);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Expected shape of role under config c: *n_dims (1 or 2) and dims[0..1]. */
static inline void g2_role_shape(const g2_file_config *c, g2_role role, uint32_t *n_dims, uint64_t dims[2]) {
    uint64_t h = c->hidden_size, qd = (uint64_t)c->n_heads * c->head_dim,
             kvd = (uint64_t)c->n_kv_heads * c->head_dim, f = c->ffn_size;
    *n_dims = 2;
    dims[1] = h;
    switch (role) {
    case G2_ROLE_EMBED: dims[0] = c->vocab_size; break;
    case G2_ROLE_Q: dims[0] = qd; break;
    case G2_ROLE_K:
    case G2_ROLE_V: dims[0] = kvd; break;
    case G2_ROLE_O:
        dims[0] = h;
        dims[1] = qd;
        break;
    case G2_ROLE_GATE:
    case G2_ROLE_UP: dims[0] = f; break;
    case G2_ROLE_DOWN:
        dims[0] = h;
        dims[1] = f;
        break;
    default:
        *n_dims = 1;
        dims[0] = h;
        dims[1] = 0;
        break; /* norms */
    }
}

#endif
