/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 info MODEL: config, tensors with types and sizes, digest. */
#include <stdio.h>
#include <string.h>

#include "gemma2/cli.h"

static const char usage[] =
    "usage: gemma2 info MODEL [-t N] [--no-mmap]\n"
    "       gemma2 info --cpu\n"
    "  --cpu  the CPU features seen and the kernel table chosen (GEMMA2_ISA may lower it)\n"
    "  Prints the model's config, every tensor (type, shape, bytes) and the file digest.\n"
    "  Digests are not checked here: use `gemma2 verify MODEL`. MODEL may be a GGUF\n"
    "  file: then the tensors' GGUF types are shown, and where query_pre_attn_scalar\n"
    "  came from (GGUF does not store it).\n";

static void print_hex(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    cli_common common = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("info", usage, argc, argv, &i, &common);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--cpu")) {
            char text[1024];
            size_t len;
            if (gemma2_cpu_describe(text, sizeof text, &len) != GEMMA2_OK)
                return cli_fail("info", GEMMA2_ERR_BUFFER_TOO_SMALL);
            fputs(text, stdout); /* already ends with a newline */
            return 0;
        }
        if (argv[i][0] == '-' || path)
            return cli_usage_error("info", usage, "unexpected argument '%s'", argv[i]);
        path = argv[i];
    }
    if (!path)
        return cli_usage_error("info", usage, "missing MODEL");
    gemma2_model *m;
    if (cli_open_model("info", path, common.threads, GEMMA2_MODEL_SKIP_VERIFY | common.open_flags, &m))
        return CLI_EXIT_ERROR;
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(m, &mi);
    const int gguf = mi.source == GEMMA2_SOURCE_GGUF;
    printf("file:                  %s (%llu bytes, %s v%u%s)\n", path, (unsigned long long)mi.file_size,
           gguf ? "GGUF" : "format", (unsigned)mi.format_version, mi.compressed ? ", zstd-compressed tensors" : "");
    printf("checksums:             %s\n", mi.has_checksums
                                              ? "BLAKE2b-256 per tensor, in the file"
                                              : "none in the file (GGUF); digests below were computed at open");
    printf("vocab_size:            %u\nhidden_size:           %u\nlayers:                %u\n",
           (unsigned)mi.vocab_size, (unsigned)mi.hidden_size, (unsigned)mi.n_layers);
    printf("heads / kv heads:      %u / %u\nhead_dim:              %u\nffn_size:              %u\n",
           (unsigned)mi.n_heads, (unsigned)mi.n_kv_heads, (unsigned)mi.head_dim, (unsigned)mi.ffn_size);
    printf("context_length:        %u\nsliding_window:        %u\n", (unsigned)mi.context_length,
           (unsigned)mi.sliding_window);
    printf("layer kinds:           ");
    for (uint32_t l = 0; l < mi.n_layers; l++) {
        int32_t kind;
        gemma2_model_layer_kind(m, l, &kind);
        putchar(kind == GEMMA2_LAYER_LOCAL ? 'L' : 'G');
    }
    printf("  (L = local sliding window, G = global)\n");
    static const char *const qpas_from[] = {
        [GEMMA2_QPAS_CONFIG] = "",
        [GEMMA2_QPAS_HEAD_DIM] = "  (not in GGUF: head_dim, as llama.cpp takes it)",
        [GEMMA2_QPAS_HIDDEN_PER_HEAD] = "  (not in GGUF: hidden / heads for 46 layers (27B), as llama.cpp takes it)",
    };
    printf("rms_norm_eps:          %g\nrope_theta:            %g\nquery_pre_attn_scalar: %g%s\n",
           (double)mi.rms_norm_eps, (double)mi.rope_theta, (double)mi.query_pre_attn_scalar,
           mi.qpas_source <= GEMMA2_QPAS_HIDDEN_PER_HEAD ? qpas_from[mi.qpas_source] : "");
    printf("attn_softcap:          %g\nfinal_softcap:         %g\n", (double)mi.attn_softcap,
           (double)mi.final_softcap);
    printf("bos / eos / pad:       %d / %d / %d\n", (int)mi.bos_id, (int)mi.eos_id, (int)mi.pad_id);
    printf("weight type:           %s\nweight bytes:          %llu\n", gemma2_type_name(mi.weight_type),
           (unsigned long long)mi.weight_bytes);
    const gemma2_tokenizer *tok;
    if (gemma2_model_tokenizer(m, &tok) == GEMMA2_OK)
        printf("tokenizer:             %u pieces; bos %d, eos %d, start/end of turn %d/%d\n",
               (unsigned)gemma2_tokenizer_vocab_size(tok), (int)gemma2_token_special(tok, GEMMA2_TOKEN_BOS),
               (int)gemma2_token_special(tok, GEMMA2_TOKEN_EOS),
               (int)gemma2_token_special(tok, GEMMA2_TOKEN_START_OF_TURN),
               (int)gemma2_token_special(tok, GEMMA2_TOKEN_END_OF_TURN));
    else
        printf("tokenizer:             none (token ids only)\n");
    uint8_t digest[GEMMA2_DIGEST_BYTES];
    gemma2_model_digest(m, digest, sizeof digest);
    printf("digest:                ");
    print_hex(digest, sizeof digest);
    printf(" (BLAKE2b-256)\ntensors:               %u\n", (unsigned)mi.n_tensors);
    for (uint32_t i = 0; i < mi.n_tensors; i++) {
        gemma2_tensor_info ti;
        gemma2_tensor_info_init(&ti, sizeof ti);
        gemma2_model_tensor_info(m, i, &ti);
        char shape[96];
        int at = 0;
        for (uint32_t d = 0; d < ti.n_dims; d++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%llu", d ? " x " : "",
                           (unsigned long long)ti.dims[d]);
        printf("  %-48s %-5s %-14s %12llu bytes", ti.name, gemma2_type_name(ti.type), shape,
               (unsigned long long)ti.n_bytes);
        if (ti.compressed)
            printf(" (%llu stored)", (unsigned long long)ti.stored_bytes);
        if (ti.file_type != ti.type)
            printf(" (%s in the file)", gemma2_type_name(ti.file_type));
        putchar('\n');
    }
    gemma2_model_close(m);
    return 0;
}
