/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 logits MODEL --tokens 2,17,5 --out FILE: float32 little-endian logits of
 * every position, row-major [n_tokens, vocab], from one batched prefill. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"

static const char usage[] = "usage: gemma2 logits MODEL --tokens ID,ID,... --out FILE [-t N] [--ctx N]\n"
                            "                    [--no-mmap]\n"
                            "  Writes the final logits of every position as float32 little-endian,\n"
                            "  row-major [n_tokens, vocab_size], to FILE ('-' for standard output).\n";

int cmd_logits(int argc, char **argv) {
    const char *path = NULL, *tokens_arg = NULL, *out_path = NULL;
    cli_common common = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("logits", usage, argc, argv, &i, &common);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--tokens") || !strcmp(a, "--out")) {
            if (i + 1 >= argc)
                return cli_usage_error("logits", usage, "%s needs a value", a);
            *(a[2] == 't' ? &tokens_arg : &out_path) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("logits", usage, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("logits", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path || !tokens_arg || !out_path)
        return cli_usage_error("logits", usage, "MODEL, --tokens and --out are required");
    int32_t *tokens;
    size_t n;
    if (cli_parse_tokens(tokens_arg, &tokens, &n))
        return cli_usage_error("logits", usage, "bad --tokens '%s': expected comma-separated ids",
                               tokens_arg);

    int rc = CLI_EXIT_ERROR;
    gemma2_model *m = NULL;
    gemma2_session *s = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    if (cli_open_model("logits", path, common.threads, common.open_flags, &m) ||
        cli_new_session("logits", m, common.threads, cli_default_ctx(m, &common, n), NULL, &s))
        goto done;
    size_t vocab = gemma2_model_vocab_size(m);
    if (n > SIZE_MAX / sizeof(float) / vocab || !(logits = malloc(n * vocab * sizeof(float)))) {
        cli_error("logits", "out of memory for %zu x %zu logits", n, vocab);
        goto done;
    }
    gemma2_feed_outputs outs;
    gemma2_feed_outputs_init(&outs, sizeof outs);
    outs.logits = logits;
    outs.logits_cap = n * vocab;
    gemma2_status st = gemma2_session_feed_outputs(s, tokens, n, &outs);
    if (st != GEMMA2_OK) {
        cli_fail("logits", st);
        goto done;
    }
    f = strcmp(out_path, "-") ? fopen(out_path, "wb") : stdout;
    if (!f) {
        cli_error("logits", "cannot create '%s'", out_path);
        goto done;
    }
    if (fwrite(logits, sizeof(float), n * vocab, f) != n * vocab || fflush(f) != 0) {
        cli_error("logits", "cannot write '%s'", out_path);
        goto done;
    }
    rc = 0;
done:
    if (f && f != stdout && fclose(f) != 0 && rc == 0)
        rc = cli_error("logits", "cannot write '%s'", out_path);
    free(logits);
    free(tokens);
    gemma2_session_free(s);
    gemma2_model_close(m);
    return rc;
}
