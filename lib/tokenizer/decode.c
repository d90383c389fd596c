/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding: a piece's text with '▁' as ' ', a byte piece as its byte. The streaming
 * decoder holds back the bytes of an unfinished UTF-8 character and replaces bytes
 * that can never form one with U+FFFD, so everything it emits is valid UTF-8. */
#include "tokenizer/decode.h"

#include <string.h>

#include "tokenizer/utf8.h"

static const char SPACE_MARK[] = "\xe2\x96\x81";
static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

size_t g2_piece_bytes(const gemma2_tokenizer *tok, uint32_t id, char *buf) {
    const g2_piece *p = &tok->pieces[id];
    const char *s = tok->text + p->offset;
    if (p->type == G2_PIECE_BYTE) {
        unsigned hi = (unsigned)(s[3] <= '9' ? s[3] - '0' : s[3] - 'A' + 10);
        unsigned lo = (unsigned)(s[4] <= '9' ? s[4] - '0' : s[4] - 'A' + 10);
        buf[0] = (char)(hi * 16 + lo);
        return 1;
    }
    size_t out = 0;
    for (size_t i = 0; i < p->len;) {
        if (i + 3 <= p->len && memcmp(s + i, SPACE_MARK, 3) == 0) {
            buf[out++] = ' ';
            i += 3;
        } else {
            buf[out++] = s[i++];
        }
    }
    return out;
}

int g2_piece_skipped(const gemma2_tokenizer *tok, uint32_t id, uint32_t flags) {
    const g2_piece *p = &tok->pieces[id];
    return (flags & GEMMA2_DETOKENIZE_SKIP_SPECIAL) && ((p->flags & G2_PIECE_SPECIAL) || p->type == G2_PIECE_CONTROL);
}

/* Feeds one byte; appends whatever becomes final to out. */
static size_t stream_byte(g2_utf8_stream *st, unsigned char b, char *out) {
    size_t n = 0;
    if (st->n_pending) {
        if (g2_utf8_continues(st->pending[0], st->n_pending, b)) {
            st->pending[st->n_pending++] = b;
            if (st->n_pending == g2_utf8_lead_len(st->pending[0])) {
                memcpy(out, st->pending, st->n_pending);
                n = st->n_pending;
                st->n_pending = 0;
            }
            return n;
        }
        memcpy(out, REPLACEMENT, 3); /* the unfinished character is broken */
        n = 3;
        st->n_pending = 0;
    }
    size_t want = g2_utf8_lead_len(b);
    if (want == 1) {
        out[n++] = (char)b;
    } else if (want == 0) {
        memcpy(out + n, REPLACEMENT, 3);
        n += 3;
    } else {
        st->pending[st->n_pending++] = b;
    }
    return n;
}

size_t g2_utf8_stream_feed(g2_utf8_stream *st, const char *bytes, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += stream_byte(st, (unsigned char)bytes[i], out + n);
    return n;
}

size_t g2_utf8_stream_flush(g2_utf8_stream *st, char *out) {
    if (!st->n_pending)
        return 0;
    st->n_pending = 0;
    memcpy(out, REPLACEMENT, 3);
    return 3;
}
