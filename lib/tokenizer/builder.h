/* SPDX-License-Identifier: Apache-2.0 */
/* A builder that collects pieces and merges from any source (the converter's
 * tokenizer.json and tokenizer.model readers, a GGUF file's vocabulary) and
 * serializes them as a tokenizer blob (tokenizer/blob.h). */
#ifndef G2_TOKENIZER_BUILDER_H
#define G2_TOKENIZER_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/blob.h"

typedef struct g2_tok_builder {
    const char *src; /* file name, for messages */
    uint32_t n;      /* pieces; ids 0..n-1 */
    char *text;      /* every piece's bytes, concatenated in the order they were set */
    size_t text_len, text_cap;
    uint32_t *off;   /* per id: offset into text; UINT32_MAX until set */
    uint16_t *len;   /* per id: bytes */
    uint8_t *type;   /* per id: G2_PIECE_* */
    uint8_t *flags;  /* per id: G2_PIECE_SPECIAL */
    uint32_t *slots; /* open-addressing hash of piece text: id + 1, 0 = empty */
    size_t slot_mask;
    g2_tok_merge *merges;
    size_t n_merges, merges_cap;
    uint32_t hflags;                        /* G2_TOK_* */
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1 = not declared by the source */
} g2_tok_builder;

/* Prepares b for n pieces (1..G2_TOK_MAX_PIECES). Every function here returns 0, or
 * -1 with a one-line message in err naming src. */
int g2_tok_builder_init(g2_tok_builder *b, const char *src, size_t n, char *err, size_t cap);

/* Sets piece id once: s (len bytes) must be valid UTF-8 of 1..G2_TOK_MAX_PIECE_LEN
 * bytes, and "<0xHH>" when type is G2_PIECE_BYTE. */
int g2_tok_builder_set(g2_tok_builder *b, size_t id, const char *s, size_t len, uint8_t type, char *err,
                       size_t cap);

/* After every id is set: builds the lookup table, rejecting duplicate texts. */
int g2_tok_builder_index(g2_tok_builder *b, char *err, size_t cap);

/* The id of the piece with text s (len bytes), or -1. Only after _index. */
int32_t g2_tok_builder_find(const g2_tok_builder *b, const char *s, size_t len);

int g2_tok_builder_add_merge(g2_tok_builder *b, uint32_t left, uint32_t right, uint32_t result, uint32_t rank,
                             char *err, size_t cap);

/* Rejects two merges of the same (left, right) pair. */
int g2_tok_builder_check_pairs(const g2_tok_builder *b, char *err, size_t cap);

/* Resolves undeclared special ids by piece name, then serializes: *blob is malloc'd. */
int g2_tok_builder_finish(g2_tok_builder *b, uint8_t **blob, size_t *size, char *err, size_t cap);

void g2_tok_builder_free(g2_tok_builder *b);

/* Piece text for a message: printable ASCII kept, other bytes as \xHH, cut with
 * "..." to fit buf. Returns buf. */
const char *g2_tok_quote(char *buf, size_t cap, const char *s, size_t len);

/* True if s is "<0xHH>" with upper-case hex: the text of a byte piece. */
int g2_tok_is_byte_text(const char *s, size_t len);

/* SentencePiece BPE has no merge list: for every mergeable piece p (normal or
 * user-defined) and split p = a + b at a character boundary with a, b mergeable, adds
 * the merge (a, b) → p ranked by p's score (scores[id]), highest first; equal scores
 * share a rank so the leftmost pair wins, as in SentencePiece. After _index. */
int g2_tok_builder_merges_from_scores(g2_tok_builder *b, const float *scores, char *err, size_t cap);

#endif
