/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: encoding arbitrary bytes. The first byte picks the mode (bit 0:
 * GEMMA2_TOKENIZE_SPECIAL), the rest is the text. Checks: the size query and the call
 * agree, every id is in the vocabulary, plain mode never yields a special piece (its
 * ids decode the same with and without GEMMA2_DETOKENIZE_SKIP_SPECIAL), and the
 * streaming decoder gives valid UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_text.h"
#include "gemma2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const gemma2_tokenizer *tok = fuzz_tokenizer();
    const uint32_t flags = data[0] & 1 ? GEMMA2_TOKENIZE_SPECIAL : 0;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    size_t n = 0;
    gemma2_status st = gemma2_tokenize(tok, text, len, flags, NULL, 0, &n);
    if (st != GEMMA2_OK && st != GEMMA2_ERR_BUFFER_TOO_SMALL)
        abort(); /* any bytes are text */
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    size_t n2 = 0;
    if (!ids)
        return 0;
    if (gemma2_tokenize(tok, text, len, flags, ids, n, &n2) != GEMMA2_OK || n2 != n)
        abort();
    const uint32_t vocab = gemma2_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= vocab)
            abort();
    if (!flags) {
        size_t all = 0, text_only = 0;
        gemma2_detokenize(tok, ids, n, 0, NULL, 0, &all);
        gemma2_detokenize(tok, ids, n, GEMMA2_DETOKENIZE_SKIP_SPECIAL, NULL, 0, &text_only);
        if (all != text_only)
            abort(); /* plain text produced a control or special piece */
    }
    fuzz_check_stream(tok, ids, n);
    free(ids);
    return 0;
}
