/* SPDX-License-Identifier: Apache-2.0 */
/* The tokenizer of a GGUF file: llama.cpp's "llama" (SentencePiece) vocabulary in
 * tokenizer.ggml.{tokens,scores,token_type}, turned into a tokenizer blob by the same
 * builder the converter uses for tokenizer.model, so a GGUF gives the ids its
 * SentencePiece model gives (docs/gguf.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_model.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tokenizer/builder.h"

/* GGUF token types are SentencePiece's numbers, as are G2_PIECE_*; 0 ("undefined")
 * is what some writers put for ordinary pieces. */
static int piece_type(uint64_t t, uint8_t *out) {
    if (t == 0)
        t = G2_PIECE_NORMAL;
    if (t < G2_PIECE_NORMAL || t > G2_PIECE_BYTE)
        return -1;
    *out = (uint8_t)t;
    return 0;
}

/* The end-of-generation texts of Gemma vocabularies in llama.cpp's list. */
static int is_end_of_generation(const char *s, uint64_t len) {
    return (len == 13 && memcmp(s, "<end_of_turn>", 13) == 0) || (len == 5 && memcmp(s, "<eos>", 5) == 0);
}

/* The optional per-token array `key`: *out NULL if absent; an error if it is not n
 * elements of an accepted type. */
static gemma2_status array_of(const g2_gguf *g, const char *key, uint64_t n, int elem_ok(uint32_t),
                              const g2_gguf_kv **out) {
    const g2_gguf_kv *kv = *out = g2_gguf_find(g, key);
    if (kv && (kv->type != G2_GGUF_ARRAY || kv->count != n || !elem_ok(kv->elem_type)))
        return g2_error(GEMMA2_ERR_FORMAT, "GGUF: metadata '%s' is not an array of %llu suitable values", key,
                        (unsigned long long)n);
    return GEMMA2_OK;
}

static int is_f32(uint32_t t) { return t == G2_GGUF_F32; }

/* A declared special id: -1 when absent (the builder then finds the piece by name). */
static int special_id(const g2_gguf *g, const char *key, uint32_t n, int32_t *out) {
    uint32_t v;
    int r = g2_gguf_get_u32(g, key, &v);
    *out = -1;
    if (r < 0)
        return -1;
    if (r == 1 && v >= n) {
        g2_error(GEMMA2_ERR_FORMAT, "GGUF: %s = %u is not a token id (%u tokens)", key, (unsigned)v,
                 (unsigned)n);
        return -1;
    }
    if (r == 1)
        *out = (int32_t)v;
    return 0;
}

static gemma2_status build(const g2_gguf *g, const g2_gguf_kv *tokens, g2_tok_builder *b, uint8_t **blob,
                           size_t *size) {
    char err[256];
    const uint64_t n = tokens->count;
    const g2_gguf_kv *scores, *types;
    gemma2_status st = array_of(g, "tokenizer.ggml.scores", n, is_f32, &scores);
    if (st != GEMMA2_OK || (st = array_of(g, "tokenizer.ggml.token_type", n, g2_gguf_is_int_type, &types)) != GEMMA2_OK)
        return st;
    if (g2_tok_builder_init(b, "GGUF vocabulary", (size_t)n, err, sizeof err) != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "%s", err);
    float *score = g2_calloc((size_t)n, sizeof *score);
    if (!score)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading the GGUF vocabulary");
    st = GEMMA2_ERR_FORMAT;
    const uint8_t *at = NULL;
    int any_byte = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        g2_gguf_next_string(tokens, &at, &s, &len);
        uint8_t type = G2_PIECE_NORMAL;
        int ok = 1;
        if (types && (piece_type(g2_gguf_array_uint(types, i, &ok), &type) != 0 || !ok)) { /* !ok: negative */
            g2_error(GEMMA2_ERR_FORMAT, "GGUF: token %llu has an unknown token type", (unsigned long long)i);
            goto out;
        }
        if (scores)
            memcpy(&score[i], scores->value + i * 4, 4);
        if (len > G2_TOK_MAX_PIECE_LEN ||
            g2_tok_builder_set(b, (size_t)i, s, (size_t)len, type, err, sizeof err) != 0) {
            g2_error(GEMMA2_ERR_FORMAT, "GGUF: token %llu: %s", (unsigned long long)i,
                     len > G2_TOK_MAX_PIECE_LEN ? "too long" : err);
            goto out;
        }
        any_byte |= type == G2_PIECE_BYTE;
        /* what llama.cpp matches as a unit when parsing special tokens: these types, and
         * the end-of-generation pieces it makes control tokens whatever their stored type
         * (a converter without tokenizer_config.json stores <end_of_turn> as normal) */
        if (type == G2_PIECE_CONTROL || type == G2_PIECE_USER_DEFINED || type == G2_PIECE_UNKNOWN ||
            is_end_of_generation(s, len))
            b->flags[i] |= G2_PIECE_SPECIAL;
    }
    int space_prefix = 1; /* llama.cpp's default for this tokenizer model */
    if (g2_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &space_prefix) < 0 ||
        special_id(g, "tokenizer.ggml.unknown_token_id", (uint32_t)n, &b->unk_id) != 0 ||
        special_id(g, "tokenizer.ggml.bos_token_id", (uint32_t)n, &b->bos_id) != 0 ||
        special_id(g, "tokenizer.ggml.eos_token_id", (uint32_t)n, &b->eos_id) != 0 ||
        special_id(g, "tokenizer.ggml.padding_token_id", (uint32_t)n, &b->pad_id) != 0)
        goto out;
    b->hflags = (any_byte ? G2_TOK_BYTE_FALLBACK : 0) | (space_prefix ? G2_TOK_ADD_DUMMY_PREFIX : 0);
    if (g2_tok_builder_index(b, err, sizeof err) != 0 ||
        g2_tok_builder_merges_from_scores(b, score, err, sizeof err) != 0 ||
        g2_tok_builder_finish(b, blob, size, err, sizeof err) != 0) {
        g2_error(strstr(err, "out of memory") ? GEMMA2_ERR_OUT_OF_MEMORY : GEMMA2_ERR_FORMAT, "GGUF: %s",
                 err);
        goto out;
    }
    st = GEMMA2_OK;
out:
    free(score);
    return st;
}

gemma2_status g2_gguf_tokenizer_blob(const g2_gguf *g, uint8_t **blob, size_t *size) {
    *blob = NULL;
    *size = 0;
    const char *model;
    uint64_t len;
    int r = g2_gguf_get_str(g, "tokenizer.ggml.model", &model, &len);
    if (r < 0)
        return GEMMA2_ERR_FORMAT;
    const g2_gguf_kv *tokens = g2_gguf_find(g, "tokenizer.ggml.tokens");
    if (r == 0 || (len == 4 && memcmp(model, "none", 4) == 0))
        return GEMMA2_OK; /* no tokenizer: ids only, as for a gemma2 file without one */
    if (len != 5 || memcmp(model, "llama", 5) != 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED,
                        "GGUF: tokenizer model '%.*s' is not supported (Gemma's is 'llama', SentencePiece)",
                        (int)(len > 64 ? 64 : len), model);
    if (!tokens || tokens->type != G2_GGUF_ARRAY || tokens->elem_type != G2_GGUF_STRING ||
        tokens->count == 0 || tokens->count > G2_TOK_MAX_PIECES)
        return g2_error(GEMMA2_ERR_FORMAT,
                        "GGUF: tokenizer.ggml.tokens is missing or not a list of 1 to %u strings",
                        (unsigned)G2_TOK_MAX_PIECES);
    g2_tok_builder b;
    memset(&b, 0, sizeof b);
    gemma2_status st = build(g, tokens, &b, blob, size);
    g2_tok_builder_free(&b);
    return st;
}
