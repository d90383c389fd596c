/* SPDX-License-Identifier: Apache-2.0 */
/* Public tokenizer, text stream and chat functions: argument checks, then lib/tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "api/check.h"
#include "runtime/alloc.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/decode.h"
#include "tokenizer/tokenizer.h"

struct gemma2_text_stream {
    const gemma2_tokenizer *tok;
    uint32_t flags;
    g2_utf8_stream utf8;
    int at_start; /* strip the dummy prefix's space from the first text */
};

gemma2_status gemma2_model_tokenizer(const gemma2_model *model, const gemma2_tokenizer **out) {
    g2_error_clear();
    CHECK_ARG(out, "gemma2_model_tokenizer: out is NULL");
    *out = NULL;
    CHECK_ARG(model, "gemma2_model_tokenizer: model is NULL");
    if (!model->tokenizer)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "this model file has no tokenizer (convert the checkpoint "
                                                "with its tokenizer.model or tokenizer.json)");
    *out = model->tokenizer;
    return GEMMA2_OK;
}

gemma2_status gemma2_tokenizer_load(const void *data, size_t size, gemma2_tokenizer **out) {
    g2_error_clear();
    CHECK_ARG(out, "gemma2_tokenizer_load: out is NULL");
    *out = NULL;
    CHECK_ARG(data || size == 0, "gemma2_tokenizer_load: data is NULL");
    return g2_tokenizer_load(data, size, out);
}

void gemma2_tokenizer_free(gemma2_tokenizer *tok) {
    if (tok && !tok->owned_by_model)
        g2_tokenizer_free(tok);
}

uint32_t gemma2_tokenizer_vocab_size(const gemma2_tokenizer *tok) { return tok ? tok->n_pieces : 0; }

/* Copies ids out, or reports the size needed. */
static gemma2_status give_ids(const g2_ids *ids, int32_t *out, size_t cap, size_t *n_ids) {
    *n_ids = ids->n;
    if (ids->n > cap)
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "%zu ids do not fit in a buffer of %zu", ids->n, cap);
    if (ids->n)
        memcpy(out, ids->v, ids->n * sizeof *out);
    return GEMMA2_OK;
}

gemma2_status gemma2_tokenize(const gemma2_tokenizer *tok, const char *text, size_t len, uint32_t flags,
                              int32_t *ids, size_t cap, size_t *n_ids) {
    g2_error_clear();
    CHECK_ARG(n_ids, "gemma2_tokenize: n_ids is NULL");
    *n_ids = 0;
    CHECK_ARG(tok && (text || len == 0) && (ids || cap == 0), "gemma2_tokenize: NULL argument");
    if (flags & ~GEMMA2_TOKENIZE_SPECIAL)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "unknown tokenize flags 0x%x", (unsigned)flags);
    g2_ids out = {0};
    gemma2_status st = g2_encode(tok, text ? text : "", len, (flags & GEMMA2_TOKENIZE_SPECIAL) != 0, &out);
    if (st == GEMMA2_OK)
        st = give_ids(&out, ids, cap, n_ids);
    free(out.v);
    return st;
}

static gemma2_status check_id(const gemma2_tokenizer *tok, int32_t id) {
    if (id < 0 || (uint32_t)id >= tok->n_pieces)
        return g2_error(GEMMA2_ERR_TOKEN_OUT_OF_RANGE, "token %d is outside the vocabulary (0..%u)", (int)id,
                        (unsigned)tok->n_pieces - 1);
    return GEMMA2_OK;
}

gemma2_status gemma2_detokenize(const gemma2_tokenizer *tok, const int32_t *ids, size_t n, uint32_t flags,
                                char *text, size_t cap, size_t *len) {
    g2_error_clear();
    CHECK_ARG(len, "gemma2_detokenize: len is NULL");
    *len = 0;
    CHECK_ARG(tok && (ids || n == 0) && (text || cap == 0), "gemma2_detokenize: NULL argument");
    if (flags & ~GEMMA2_DETOKENIZE_SKIP_SPECIAL)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "unknown detokenize flags 0x%x", (unsigned)flags);
    char *piece = g2_malloc(tok->max_piece_bytes + 1);
    if (!piece)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory decoding");
    size_t total = 0, skip_space = (tok->flags & G2_TOK_ADD_DUMMY_PREFIX) != 0;
    gemma2_status st = GEMMA2_OK;
    for (int pass = 0; pass < 2 && st == GEMMA2_OK; pass++) { /* 0: measure, 1: write */
        size_t at = 0;
        int first = 1;
        for (size_t i = 0; i < n && st == GEMMA2_OK; i++) {
            if ((st = check_id(tok, ids[i])) != GEMMA2_OK || g2_piece_skipped(tok, (uint32_t)ids[i], flags))
                continue;
            size_t k = g2_piece_bytes(tok, (uint32_t)ids[i], piece), from = 0;
            if (first && skip_space && k && piece[0] == ' ')
                from = 1;
            first = 0;
            if (pass == 1)
                memcpy(text + at, piece + from, k - from);
            at += k - from;
        }
        total = at;
        if (pass == 0 && st == GEMMA2_OK && total > cap)
            st = g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "the text needs %zu bytes, the buffer has %zu", total, cap);
    }
    free(piece);
    *len = total;
    return st;
}

gemma2_status gemma2_token_piece(const gemma2_tokenizer *tok, int32_t id, const char **piece, size_t *len) {
    g2_error_clear();
    CHECK_ARG(piece && len, "gemma2_token_piece: NULL argument");
    *piece = NULL;
    *len = 0;
    CHECK_ARG(tok, "gemma2_token_piece: tok is NULL");
    gemma2_status st = check_id(tok, id);
    if (st != GEMMA2_OK)
        return st;
    *piece = tok->text + tok->pieces[id].offset;
    *len = tok->pieces[id].len;
    return GEMMA2_OK;
}

gemma2_status gemma2_token_find(const gemma2_tokenizer *tok, const char *piece, size_t len, int32_t *id) {
    g2_error_clear();
    CHECK_ARG(id, "gemma2_token_find: id is NULL");
    *id = -1;
    CHECK_ARG(tok && piece, "gemma2_token_find: NULL argument");
    *id = g2_tokenizer_find(tok, piece, len);
    CHECK_ARG(*id >= 0, "no vocabulary piece is '%.*s'", (int)(len > 64 ? 64 : len), piece);
    return GEMMA2_OK;
}

int32_t gemma2_token_special(const gemma2_tokenizer *tok, int32_t which) {
    if (!tok)
        return -1;
    switch (which) {
    case GEMMA2_TOKEN_BOS: return tok->bos_id;
    case GEMMA2_TOKEN_EOS: return tok->eos_id;
    case GEMMA2_TOKEN_PAD: return tok->pad_id;
    case GEMMA2_TOKEN_UNK: return tok->unk_id;
    case GEMMA2_TOKEN_START_OF_TURN: return tok->start_of_turn_id;
    case GEMMA2_TOKEN_END_OF_TURN: return tok->end_of_turn_id;
    default: return -1;
    }
}

int32_t gemma2_token_is_end_of_turn(const gemma2_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && (id == tok->eos_id || id == tok->end_of_turn_id);
}

gemma2_status gemma2_text_stream_new(const gemma2_tokenizer *tok, uint32_t flags, gemma2_text_stream **out) {
    g2_error_clear();
    CHECK_ARG(out, "gemma2_text_stream_new: out is NULL");
    *out = NULL;
    CHECK_ARG(tok, "gemma2_text_stream_new: tok is NULL");
    if (flags & ~GEMMA2_DETOKENIZE_SKIP_SPECIAL)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "unknown text stream flags 0x%x", (unsigned)flags);
    gemma2_text_stream *s = g2_calloc(1, sizeof *s);
    if (!s)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for a text stream");
    s->tok = tok;
    s->flags = flags;
    s->at_start = 1;
    *out = s;
    return GEMMA2_OK;
}

size_t gemma2_text_stream_max_bytes(const gemma2_text_stream *stream) {
    /* every byte of the piece and of a held-back character may become U+FFFD */
    return stream ? 3 * ((size_t)stream->tok->max_piece_bytes + 4) : 0;
}

gemma2_status gemma2_text_stream_push(gemma2_text_stream *stream, int32_t id, char *text, size_t cap,
                                      size_t *len) {
    g2_error_clear();
    CHECK_ARG(len, "gemma2_text_stream_push: len is NULL");
    *len = 0;
    CHECK_ARG(stream && (text || cap == 0), "gemma2_text_stream_push: NULL argument");
    const gemma2_tokenizer *tok = stream->tok;
    gemma2_status st = check_id(tok, id);
    if (st != GEMMA2_OK || g2_piece_skipped(tok, (uint32_t)id, stream->flags))
        return st;
    char piece[G2_TOK_MAX_PIECE_LEN], out[3 * (G2_TOK_MAX_PIECE_LEN + 4)];
    size_t k = g2_piece_bytes(tok, (uint32_t)id, piece), from = 0;
    if (stream->at_start && (tok->flags & G2_TOK_ADD_DUMMY_PREFIX) && k && piece[0] == ' ')
        from = 1;
    g2_utf8_stream next = stream->utf8; /* commit only if the output fits */
    size_t n = g2_utf8_stream_feed(&next, piece + from, k - from, out);
    if (n > cap) {
        *len = n;
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "the text needs %zu bytes, the buffer has %zu", n, cap);
    }
    memcpy(text, out, n);
    stream->utf8 = next;
    stream->at_start = 0;
    *len = n;
    return GEMMA2_OK;
}

gemma2_status gemma2_text_stream_flush(gemma2_text_stream *stream, char *text, size_t cap, size_t *len) {
    g2_error_clear();
    CHECK_ARG(len, "gemma2_text_stream_flush: len is NULL");
    *len = 0;
    CHECK_ARG(stream && (text || cap == 0), "gemma2_text_stream_flush: NULL argument");
    char out[3];
    g2_utf8_stream next = stream->utf8;
    size_t n = g2_utf8_stream_flush(&next, out);
    if (n > cap) {
        *len = n;
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "the text needs %zu bytes, the buffer has %zu", n, cap);
    }
    memcpy(text, out, n);
    stream->utf8 = next;
    stream->at_start = 1;
    *len = n;
    return GEMMA2_OK;
}

void gemma2_text_stream_free(gemma2_text_stream *stream) { free(stream); }

gemma2_status gemma2_chat_tokenize(const gemma2_tokenizer *tok, const char *const *roles, const char *const *texts,
                                   const size_t *text_lens, size_t n, uint32_t flags, int32_t *ids, size_t cap,
                                   size_t *n_ids) {
    g2_error_clear();
    CHECK_ARG(n_ids, "gemma2_chat_tokenize: n_ids is NULL");
    *n_ids = 0;
    CHECK_ARG(tok && (n == 0 || (roles && texts && text_lens)) && (ids || cap == 0),
              "gemma2_chat_tokenize: NULL argument");
    for (size_t i = 0; i < n; i++)
        CHECK_ARG(roles[i] && (texts[i] || text_lens[i] == 0), "gemma2_chat_tokenize: turn %zu is NULL", i);
    if (flags & ~(GEMMA2_CHAT_ADD_GENERATION_PROMPT | GEMMA2_CHAT_NO_BOS))
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "unknown chat flags 0x%x", (unsigned)flags);
    g2_ids out = {0};
    gemma2_status st = g2_chat_encode(tok, roles, texts, text_lens, n, flags, &out);
    if (st == GEMMA2_OK)
        st = give_ids(&out, ids, cap, n_ids);
    free(out.v);
    return st;
}
