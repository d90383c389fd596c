/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: restoring a session state from bytes, into a session of the micro
 * model. Loaded as it is and with its digest recomputed, so that the checks behind the
 * digest see the mutations. Under libFuzzer a custom mutator also mutates the
 * decompressed payload (tokens, KV cache, logits, sampler) and compresses it again.
 * Checks: a refused state leaves the session as it was; a loaded one can be stepped. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fuzz.h"
#include "gemma2.h"

#define HEADER 96
#define DIGEST 32
#define PAYLOAD_SIZE_AT 80
#define STORED_SIZE_AT 88

static void reseal(uint8_t *data, size_t size) {
    crypto_generichash(data + size - DIGEST, DIGEST, data, size - DIGEST, NULL, 0);
}

static void load(gemma2_session *s, const uint8_t *data, size_t size) {
    const int32_t prompt[3] = {2, 40, 41};
    gemma2_session_reset(s);
    gemma2_session_feed(s, prompt, 3);
    const float *before;
    size_t vocab;
    gemma2_session_logits(s, &before, &vocab);
    const float first = before[0];
    uint32_t pos = 0;
    if (gemma2_session_load(s, data, size) != GEMMA2_OK) {
        const int said_why = gemma2_last_error()[0] != '\0'; /* before the next call clears it */
        const float *after;
        gemma2_session_logits(s, &after, &vocab);
        if (!said_why || gemma2_session_position(s, &pos) != GEMMA2_OK || pos != 3 || after[0] != first)
            abort(); /* a refused state changes nothing */
        return;
    }
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    gemma2_status st = gemma2_session_step(s, &r);
    if (st != GEMMA2_OK && st != GEMMA2_ERR_CONTEXT_FULL && st != GEMMA2_ERR_STATE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gemma2_session *s;
    if (!s) {
        gemma2_session_options so;
        gemma2_session_options_init(&so, sizeof so);
        so.n_threads = 1;
        so.n_ctx = 64;
        if (gemma2_session_new(fuzz_model(), &so, &s) != GEMMA2_OK)
            abort();
    }
    load(s, data, size);
    if (size < HEADER + DIGEST)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    load(s, copy, size);
    free(copy);
    return 0;
}

#ifdef G2_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Decompresses the payload, lets libFuzzer mutate it (its size is part of the header's
 * checks, so it is kept), compresses it again and fixes the header and digest. Inputs
 * that are not whole states get libFuzzer's own mutations. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    uint64_t payload_size, stored;
    if (size < HEADER + DIGEST || (seed & 3) == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    memcpy(&payload_size, data + PAYLOAD_SIZE_AT, 8);
    memcpy(&stored, data + STORED_SIZE_AT, 8);
    if (stored != size - HEADER - DIGEST || payload_size == 0 || payload_size > (64u << 20))
        return LLVMFuzzerMutate(data, size, max_size);
    uint8_t *raw = malloc((size_t)payload_size);
    if (!raw)
        return size;
    size_t got = ZSTD_decompress(raw, (size_t)payload_size, data + HEADER, (size_t)stored);
    size_t out = size;
    if (!ZSTD_isError(got) && got == payload_size) {
        LLVMFuzzerMutate(raw, (size_t)payload_size, (size_t)payload_size);
        size_t bound = ZSTD_compressBound((size_t)payload_size);
        if (HEADER + bound + DIGEST <= max_size) {
            size_t z = ZSTD_compress(data + HEADER, bound, raw, (size_t)payload_size, 1);
            if (!ZSTD_isError(z)) {
                uint64_t z64 = z;
                memcpy(data + STORED_SIZE_AT, &z64, 8);
                out = HEADER + z + DIGEST;
                reseal(data, out);
            }
        }
    }
    free(raw);
    return out;
}
#endif
