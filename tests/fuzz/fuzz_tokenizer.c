/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: gemma2_tokenizer_load of arbitrary bytes (the tokenizer blob of a model
 * file: pieces with invalid UTF-8, absurd lengths, merges out of range, ...). Checks: a
 * failure says why and gives no handle; a tokenizer that loads encodes and decodes
 * text with ids in range and valid streamed UTF-8. */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_text.h"
#include "gemma2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gemma2_tokenizer *tok = NULL;
    if (gemma2_tokenizer_load(data, size, &tok) != GEMMA2_OK) {
        if (tok || !gemma2_last_error()[0])
            abort();
        return 0;
    }
    static const char text[] = "Hello  world\n\t<start_of_turn>caf\xc3\xa9 \xe6\x97\xa5 \xff\xfe x";
    int32_t ids[256];
    const uint32_t vocab = gemma2_tokenizer_vocab_size(tok);
    for (uint32_t flags = 0; flags < 2; flags++) {
        size_t n = 0;
        if (gemma2_tokenize(tok, text, sizeof text - 1, flags, ids, 256, &n) == GEMMA2_OK) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (uint32_t)ids[i] >= vocab)
                    abort();
            char out[4096];
            size_t len = 0;
            gemma2_detokenize(tok, ids, n, 0, out, sizeof out, &len);
            fuzz_check_stream(tok, ids, n);
        }
    }
    gemma2_tokenizer_free(tok);
    return 0;
}
