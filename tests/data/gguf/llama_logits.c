/*
 * llama_logits.c -- DEV-ONLY helper, NOT built by the project.
 *
 * Loads a GGUF with llama.cpp's libllama on the CPU, decodes the given token ids
 * in ONE batch (positions 0..n-1, sequence 0, no BOS added, logits requested
 * for every position) and writes the logits as float32 little-endian [n, n_vocab].
 *
 * Settings chosen to keep llama.cpp as close to float32 as it allows:
 *   flash attention off, K/V cache type F32, 1 thread, CPU only,
 *   no extra (repacked) weight buffer types, n_batch = n_ubatch = n.
 *   (Matrix products still follow ggml's CPU rules: for F16/BF16/quantized weights
 *   the activations are converted to the weight's vec_dot type, e.g. F16, BF16, Q8_0, Q8_K.)
 *
 * Build (against a llama.cpp build tree LC):
 *   cc -O2 -std=c11 -I$LC/include -I$LC/ggml/include llama_logits.c \
 *      -L$LC/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LC/build/bin -o llama_logits
 * Use:
 *   llama_logits MODEL.gguf IDS.txt OUT.f32      (IDS.txt: whitespace-separated token ids)
 *   (env LLAMA_LOGITS_REPACK=1: allow llama.cpp's default CPU weight repacking; not used for the fixtures)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf IDS.txt OUT.f32\n", argv[0]);
        return 2;
    }
    FILE *fi = fopen(argv[2], "r");
    if (!fi) { perror(argv[2]); return 1; }
    int cap = 256, n = 0;
    llama_token *ids = malloc(sizeof(*ids) * cap);
    long v;
    while (fscanf(fi, "%ld", &v) == 1) {
        if (n == cap) { cap *= 2; ids = realloc(ids, sizeof(*ids) * cap); }
        ids[n++] = (llama_token)v;
    }
    fclose(fi);
    if (n == 0) { fprintf(stderr, "no ids\n"); return 1; }

    llama_log_set(quiet_log, NULL);
    llama_backend_init();

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = false;  /* plain CPU tensor layout, no weight repacking */
    if (getenv("LLAMA_LOGITS_REPACK")) mp.use_extra_bufts = true; /* diagnostic: llama.cpp's default */
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "load failed: %s\n", argv[1]); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n < 256 ? 256 : n);
    cp.n_batch = (uint32_t)n;
    cp.n_ubatch = (uint32_t)n;
    cp.n_seq_max = 1;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.offload_kqv = false;
    cp.op_offload = false;
    cp.no_perf = true;
    cp.swa_full = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context init failed\n"); return 1; }

    struct llama_batch b = llama_batch_init(n, 0, 1);
    b.n_tokens = n;
    for (int i = 0; i < n; i++) {
        b.token[i] = ids[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    int rc = llama_decode(ctx, b);
    if (rc != 0) { fprintf(stderr, "llama_decode rc=%d\n", rc); return 1; }

    FILE *fo = fopen(argv[3], "wb");
    if (!fo) { perror(argv[3]); return 1; }
    for (int i = 0; i < n; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        if (!row) { fprintf(stderr, "no logits for %d\n", i); return 1; }
        if (fwrite(row, sizeof(float), (size_t)n_vocab, fo) != (size_t)n_vocab) { perror("write"); return 1; }
    }
    fclose(fo);
    fprintf(stderr, "%s: n=%d n_vocab=%d -> %s\n", argv[1], n, n_vocab, argv[3]);

    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(ids);
    return 0;
}
