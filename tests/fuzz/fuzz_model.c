/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a model file from bytes. Opened as it is (almost every mutation then
 * fails the header digest), and again with the header digest recomputed and tensor
 * digests skipped, so the checks behind the digest (config, directory, ranges, zstd
 * frames, tokenizer blob) see the mutations. A file that opens is used: facts, tensor
 * digests, the tokenizer and a short generation. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gemma2.h"

#define HEADER_SIZE 160
#define DIGEST_AT 104
#define DATA_OFFSET_AT 88

static void use(gemma2_model *m) {
    gemma2_model_info info;
    gemma2_model_info_init(&info, sizeof info);
    if (gemma2_model_get_info(m, &info) != GEMMA2_OK)
        abort();
    for (uint32_t i = 0; i < info.n_tensors; i++) {
        gemma2_tensor_info t;
        gemma2_tensor_info_init(&t, sizeof t);
        if (gemma2_model_tensor_info(m, i, &t) != GEMMA2_OK || !t.name)
            abort();
        gemma2_model_verify_tensor(m, i);
    }
    const gemma2_tokenizer *tok = NULL;
    int32_t ids[64] = {0};
    size_t n = 0;
    if (gemma2_model_tokenizer(m, &tok) == GEMMA2_OK) {
        static const char text[] = "Hello, <start_of_turn>world \xf0\x9f\x98\x80";
        gemma2_tokenize(tok, text, sizeof text - 1, GEMMA2_TOKENIZE_SPECIAL, ids, 64, &n);
        char out[512];
        size_t len;
        gemma2_detokenize(tok, ids, n, 0, out, sizeof out, &len);
    }
    if (info.file_size > (4u << 20))
        return; /* keep each run short */
    gemma2_session_options so;
    gemma2_session_options_init(&so, sizeof so);
    so.n_threads = 1;
    so.n_ctx = 8;
    gemma2_session *s = NULL;
    if (gemma2_session_new(m, &so, &s) != GEMMA2_OK)
        return;
    int32_t prompt[3] = {info.bos_id, 1, 2};
    for (int i = 0; i < 3; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= info.vocab_size)
            prompt[i] = 0;
    if (gemma2_session_feed(s, prompt, 3) == GEMMA2_OK) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        if (gemma2_session_step(s, &r) == GEMMA2_OK && (r.token < 0 || (uint32_t)r.token >= info.vocab_size))
            abort();
    }
    gemma2_session_free(s);
}

static void open_bytes(const uint8_t *data, size_t size, uint32_t flags) {
    gemma2_model *m = fuzz_open(data, size, flags);
    if (!m)
        return;
    use(m);
    gemma2_model_close(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    open_bytes(data, size, 0);
    if (size < HEADER_SIZE)
        return 0;
    uint64_t data_offset;
    memcpy(&data_offset, data + DATA_OFFSET_AT, sizeof data_offset);
    if (data_offset < HEADER_SIZE || data_offset > size)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    memset(copy + DIGEST_AT, 0, 32);
    uint8_t digest[32];
    crypto_generichash(digest, sizeof digest, copy, (size_t)data_offset, NULL, 0);
    memcpy(copy + DIGEST_AT, digest, sizeof digest);
    open_bytes(copy, size, GEMMA2_MODEL_SKIP_VERIFY);
    open_bytes(copy, size, GEMMA2_MODEL_SKIP_VERIFY | GEMMA2_MODEL_NO_MMAP);
    free(copy);
    return 0;
}
