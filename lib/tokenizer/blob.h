/* SPDX-License-Identifier: Apache-2.0 */
/* The serialized tokenizer ("tokenizer blob", version 1), stored as the value of the
 * metadata key "tokenizer" of a model file and accepted by gemma2_tokenizer_load.
 * Written by tools/convert from tokenizer.json or tokenizer.model, read by
 * lib/tokenizer. All integers little-endian. Layout:
 *
 *   g2_tok_header                       64 bytes
 *   n_pieces records:                   u8 type, u8 flags, u16 len, len bytes (UTF-8)
 *   padding to a multiple of 4 (zeros)
 *   n_merges × g2_tok_merge             16 bytes each, in any order
 *
 * Encoding (docs/tokenizer.md): text → (special mode: special pieces matched atomically,
 * leftmost-longest) → ' ' replaced by U+2581 '▁' → one symbol per character (its piece,
 * or with byte fallback its UTF-8 bytes as <0xHH> pieces, else unk) → repeatedly apply
 * the merge of lowest rank among adjacent symbol pairs, leftmost first among equal
 * ranks. Hugging Face BPE merges get rank = index in the merges list; SentencePiece
 * BPE gets, for every piece p = a + b, a merge (a, b) → p ranked by p's score (higher
 * score = lower rank, equal scores = equal rank). */
#ifndef G2_TOKENIZER_BLOB_H
#define G2_TOKENIZER_BLOB_H

#include <stdint.h>

#define G2_TOK_MAGIC "G2TK"
#define G2_TOK_VERSION 1
#define G2_TOK_META_KEY "tokenizer"

/* Piece types: the SentencePiece numbers. */
#define G2_PIECE_NORMAL 1
#define G2_PIECE_UNKNOWN 2
#define G2_PIECE_CONTROL 3
#define G2_PIECE_USER_DEFINED 4
#define G2_PIECE_UNUSED 5
#define G2_PIECE_BYTE 6 /* text is "<0xHH>", HH upper-case hex */

/* Piece flags */
#define G2_PIECE_SPECIAL 0x1u /* matched atomically in special mode; never from plain text */

/* Header flags */
#define G2_TOK_BYTE_FALLBACK 0x1u    /* characters not in the vocabulary → <0xHH> pieces */
#define G2_TOK_ADD_DUMMY_PREFIX 0x2u /* a '▁' is put before the text (stripped on decode) */
#define G2_TOK_REMOVE_EXTRA_WS 0x4u  /* strip leading/trailing spaces, collapse runs to one */
#define G2_TOK_FUSE_UNK 0x8u         /* consecutive unknown characters give one unk */

#define G2_TOK_MAX_PIECES (1u << 22)
#define G2_TOK_MAX_PIECE_LEN 1024u
#define G2_TOK_MAX_MERGES (1u << 24)

typedef struct g2_tok_header {
    char magic[4];
    uint32_t version;
    uint32_t n_pieces;
    uint32_t n_merges;
    uint32_t flags; /* G2_TOK_* */
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1 if absent */
    int32_t start_of_turn_id, end_of_turn_id; /* -1 if absent */
    uint32_t pieces_bytes; /* bytes of the piece records (without the padding) */
    uint8_t reserved[16];
} g2_tok_header;
_Static_assert(sizeof(g2_tok_header) == 64, "g2_tok_header must be 64 bytes");

typedef struct g2_tok_merge {
    uint32_t left, right; /* adjacent symbols (piece ids) */
    uint32_t result;      /* the piece they merge into */
    uint32_t rank;        /* lower merges first */
} g2_tok_merge;
_Static_assert(sizeof(g2_tok_merge) == 16, "g2_tok_merge must be 16 bytes");

#endif
