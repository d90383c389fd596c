/* SPDX-License-Identifier: Apache-2.0 */
#include "fuzz_text.h"

#include <stdlib.h>

int fuzz_valid_utf8(const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

void fuzz_check_stream(const gemma2_tokenizer *tok, const int32_t *ids, size_t n) {
    gemma2_text_stream *stream = NULL;
    if (gemma2_text_stream_new(tok, 0, &stream) != GEMMA2_OK)
        abort();
    const size_t cap = gemma2_text_stream_max_bytes(stream);
    char *buf = malloc(cap + 1);
    if (!buf)
        abort();
    const uint32_t vocab = gemma2_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        gemma2_status st = gemma2_text_stream_push(stream, ids[i], buf, cap, &len);
        const int in_range = ids[i] >= 0 && (uint32_t)ids[i] < vocab;
        if (in_range ? st != GEMMA2_OK : st != GEMMA2_ERR_TOKEN_OUT_OF_RANGE)
            abort();
        if (len > cap || !fuzz_valid_utf8(buf, len))
            abort();
    }
    size_t len = 0;
    if (gemma2_text_stream_flush(stream, buf, cap, &len) != GEMMA2_OK || len > cap || !fuzz_valid_utf8(buf, len))
        abort();
    free(buf);
    gemma2_text_stream_free(stream);
}
