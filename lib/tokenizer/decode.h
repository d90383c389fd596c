/* SPDX-License-Identifier: Apache-2.0 */
/* Piece text and the UTF-8 assembler behind the streaming decoder. */
#ifndef G2_TOKENIZER_DECODE_H
#define G2_TOKENIZER_DECODE_H

#include "tokenizer/tokenizer.h"

/* Whether detokenize flags drop this piece (special or control with SKIP_SPECIAL). */
int g2_piece_skipped(const gemma2_tokenizer *tok, uint32_t id, uint32_t flags);

/* Holds the first bytes of a character until it is complete. */
typedef struct g2_utf8_stream {
    unsigned char pending[4];
    size_t n_pending;
} g2_utf8_stream;

/* Feeds bytes; writes the valid UTF-8 that is now final to out, which needs room for
 * 3 * (len + 1) bytes (every byte may turn into U+FFFD). Returns the bytes written. */
size_t g2_utf8_stream_feed(g2_utf8_stream *st, const char *bytes, size_t len, char *out);
/* Ends the stream: an unfinished character becomes U+FFFD (out: 3 bytes). */
size_t g2_utf8_stream_flush(g2_utf8_stream *st, char *out);

#endif
