/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: decoding arbitrary id sequences (little-endian int32 after a flags
 * byte; bit 0: GEMMA2_DETOKENIZE_SKIP_SPECIAL), ids outside the vocabulary included.
 * Checks: out-of-range ids are refused with TOKEN_OUT_OF_RANGE, the size query and the
 * call agree, and the streaming decoder gives valid UTF-8 and refuses only bad ids. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_text.h"
#include "gemma2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const gemma2_tokenizer *tok = fuzz_tokenizer();
    const uint32_t flags = data[0] & 1 ? GEMMA2_DETOKENIZE_SKIP_SPECIAL : 0;
    const size_t n = (size - 1) / sizeof(int32_t);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return 0;
    memcpy(ids, data + 1, n * sizeof *ids);
    const uint32_t vocab = gemma2_tokenizer_vocab_size(tok);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= ids[i] < 0 || (uint32_t)ids[i] >= vocab;
    size_t len = 0;
    gemma2_status st = gemma2_detokenize(tok, ids, n, flags, NULL, 0, &len);
    if (bad ? st != GEMMA2_ERR_TOKEN_OUT_OF_RANGE : st != GEMMA2_OK && st != GEMMA2_ERR_BUFFER_TOO_SMALL)
        abort();
    if (!bad) {
        char *text = malloc(len + 1);
        size_t len2 = 0;
        if (!text || gemma2_detokenize(tok, ids, n, flags, text, len, &len2) != GEMMA2_OK || len2 != len)
            abort();
        free(text);
    }
    fuzz_check_stream(tok, ids, n);
    free(ids);
    return 0;
}
