/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a GGUF file from bytes (docs/gguf.md). Opened from a memory file, mapped
 * or, for inputs whose byte sum is odd, read (GEMMA2_MODEL_NO_MMAP). A failed open
 * leaves no handle and says why. A file that opens is used: a short tokenization if it
 * has a vocabulary, a 2-token feed and a step, and a save as a gemma2 file, which must
 * open again (digests checked) with the same facts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "gemma2.h"

/* A fresh directory per save (gemma2_model_save writes a temporary name beside the
 * path, then renames it), removed right after. */
typedef struct save_place {
    char dir[40], path[56];
} save_place;

static int save_place_make(save_place *p) {
    memcpy(p->dir, "/tmp/gemma2-fuzz-gguf-XXXXXX", sizeof "/tmp/gemma2-fuzz-gguf-XXXXXX");
    if (!mkdtemp(p->dir))
        return -1;
    snprintf(p->path, sizeof p->path, "%s/model.g2", p->dir);
    return 0;
}

static void save_place_remove(const save_place *p) {
    unlink(p->path);
    rmdir(p->dir);
}

static int failed_ok(gemma2_status st) { /* what a used model may still fail with */
    return st == GEMMA2_ERR_OUT_OF_MEMORY || st == GEMMA2_ERR_SYSTEM || st == GEMMA2_ERR_IO;
}

static void tokenize(const gemma2_model *m, uint32_t vocab) {
    const gemma2_tokenizer *tok = NULL;
    if (gemma2_model_tokenizer(m, &tok) != GEMMA2_OK)
        return;
    if (gemma2_tokenizer_vocab_size(tok) > vocab)
        abort(); /* the open checks that the vocabulary fits token_embd */
    static const char text[] = "Hello, world! caf\xc3\xa9 <start_of_turn>\t\n\xff";
    int32_t ids[256];
    size_t n = 0;
    gemma2_status st = gemma2_tokenize(tok, text, sizeof text - 1, GEMMA2_TOKENIZE_SPECIAL, ids, 256, &n);
    if (st != GEMMA2_OK) {
        if (!failed_ok(st))
            abort(); /* any text tokenizes, into at most one id per byte */
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= gemma2_tokenizer_vocab_size(tok))
            abort();
    char out[1024];
    size_t len;
    gemma2_detokenize(tok, ids, n, 0, out, sizeof out, &len);
}

static void run(gemma2_model *m, const gemma2_model_info *info) {
    if (info->context_length < 3)
        return; /* no room for 2 tokens and a step */
    gemma2_session_options so;
    gemma2_session_options_init(&so, sizeof so);
    so.n_threads = 1;
    so.n_ctx = info->context_length < 8 ? info->context_length : 8;
    gemma2_session *s = NULL;
    gemma2_status st = gemma2_session_new(m, &so, &s);
    if (st != GEMMA2_OK) {
        if (!failed_ok(st))
            abort();
        return;
    }
    int32_t prompt[2] = {info->bos_id, (int32_t)(info->vocab_size - 1)};
    st = gemma2_session_feed(s, prompt, 2);
    if (st != GEMMA2_OK && !failed_ok(st))
        abort(); /* ids in range, room in the context: the forward pass cannot refuse */
    if (st == GEMMA2_OK) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        st = gemma2_session_step(s, &r);
        if (st == GEMMA2_OK && (r.token < 0 || (uint32_t)r.token >= info->vocab_size))
            abort();
        /* finite but huge weights can overflow to NaN logits, which no token beats: the
         * step then fails with GEMMA2_ERR_STATE, as for a gemma2 file with such weights */
        if (st != GEMMA2_OK && st != GEMMA2_ERR_STATE && !failed_ok(st))
            abort();
    }
    gemma2_session_free(s);
}

static void save(const gemma2_model *m, const gemma2_model_info *info) {
    save_place place;
    if (save_place_make(&place) != 0)
        return;
    gemma2_status st = gemma2_model_save(m, place.path, 0);
    gemma2_model *again = NULL;
    if (st == GEMMA2_OK)
        st = gemma2_model_open(place.path, NULL, &again); /* a gemma2 file, every digest checked */
    save_place_remove(&place);
    if (st != GEMMA2_OK) {
        if (!failed_ok(st))
            abort(); /* a model that opened saves, to a file that opens */
        return;
    }
    gemma2_model_info saved;
    gemma2_model_info_init(&saved, sizeof saved);
    if (gemma2_model_get_info(again, &saved) != GEMMA2_OK || saved.vocab_size != info->vocab_size ||
        saved.n_layers != info->n_layers || saved.hidden_size != info->hidden_size ||
        saved.n_tensors != info->n_tensors || saved.weight_bytes != info->weight_bytes ||
        saved.query_pre_attn_scalar != info->query_pre_attn_scalar)
        abort();
    gemma2_model_close(again);
}

static void open_bytes(const uint8_t *data, size_t size, uint32_t flags) {
    gemma2_model *m = fuzz_open(data, size, flags);
    if (!m)
        return;
    gemma2_model_info info;
    gemma2_model_info_init(&info, sizeof info);
    if (gemma2_model_get_info(m, &info) != GEMMA2_OK || info.vocab_size == 0)
        abort();
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0 &&
        (info.source != GEMMA2_SOURCE_GGUF || info.has_checksums))
        abort();
    tokenize(m, info.vocab_size);
    if (info.weight_bytes <= (16u << 20)) { /* keep each run short */
        run(m, &info);
        save(m, &info);
    }
    gemma2_model_close(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++)
        sum += data[i];
    open_bytes(data, size, sum & 1 ? GEMMA2_MODEL_NO_MMAP : 0);
    return 0;
}
