/* SPDX-License-Identifier: Apache-2.0 */
/* The tokenizer: a vocabulary of pieces and a merge table (lib/tokenizer/blob.h),
 * indexed for encoding. Immutable once loaded, so any number of threads may use it. */
#ifndef G2_TOKENIZER_TOKENIZER_H
#define G2_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"
#include "tokenizer/blob.h"

typedef struct g2_piece {
    uint32_t offset; /* into text */
    uint16_t len;
    uint8_t type;  /* G2_PIECE_* */
    uint8_t flags; /* G2_PIECE_SPECIAL */
} g2_piece;

typedef struct g2_merge_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    uint32_t rank, result;
} g2_merge_slot;

struct gemma2_tokenizer {
    int owned_by_model; /* gemma2_tokenizer_free leaves it to the model */
    uint32_t flags;     /* G2_TOK_* */
    uint32_t n_pieces;
    g2_piece *pieces;
    char *text;               /* all piece texts, each NUL-terminated */
    uint32_t *piece_slots;    /* open addressing: piece id + 1, 0 = empty */
    uint32_t piece_mask;
    g2_merge_slot *merge_slots;
    uint32_t merge_mask;
    int32_t byte_piece[256];  /* id of <0xHH>, or -1 */
    int32_t unk_id, bos_id, eos_id, pad_id, start_of_turn_id, end_of_turn_id;
    uint32_t *specials;       /* SPECIAL piece ids, longest text first */
    uint32_t n_specials;
    uint8_t special_first_byte[256]; /* 1 if some special piece starts with that byte */
    int32_t *bmp_piece;       /* [0x10000]: piece that may start a word for each code point
                                 below U+10000, or -1 (a lookup per character is the cost) */
    int split_before_space;   /* no merge result has '▁' after another character */
    uint32_t max_piece_bytes; /* longest decoded piece, in bytes */
};

/* Parses and indexes a blob (copied; the caller keeps its buffer). */
gemma2_status g2_tokenizer_load(const void *blob, size_t size, gemma2_tokenizer **out);
void g2_tokenizer_free(gemma2_tokenizer *tok);
/* The blob that loads back to tok (serialize.c); *blob is malloc'd. */
gemma2_status g2_tokenizer_serialize(const gemma2_tokenizer *tok, uint8_t **blob, size_t *size);

/* Whether a piece may be an initial symbol: not special, not a reserved kind. */
int g2_piece_starts_word(const g2_piece *p);

/* Piece id of exactly these bytes, or -1. */
int32_t g2_tokenizer_find(const gemma2_tokenizer *tok, const char *s, size_t len);
/* Merge of (left, right): 1 and *rank, *result if the table has it. */
int g2_tokenizer_merge(const gemma2_tokenizer *tok, uint32_t left, uint32_t right, uint32_t *rank,
                       uint32_t *result);

/* A growable id list for encoders. */
typedef struct g2_ids {
    int32_t *v;
    size_t n, cap;
} g2_ids;
int g2_ids_push(g2_ids *ids, int32_t id); /* 0, or -1 out of memory */

/* Appends the ids of text to out. special: parse special-piece strings. */
gemma2_status g2_encode(const gemma2_tokenizer *tok, const char *text, size_t len, int special, g2_ids *out);

/* Bytes a piece decodes to (▁ → ' ', <0xHH> → one byte) into buf (>= max_piece_bytes). */
size_t g2_piece_bytes(const gemma2_tokenizer *tok, uint32_t id, char *buf);

#endif
