/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 generate MODEL --tokens 2,17,5 -n 24 --greedy --ids: the generated ids,
 * comma-separated, on one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"
#include "gemma2/cli_sampling.h"

static char usage[4096]; /* usage_head + cli_sampling_usage, built at the start */
static const char usage_head[] =
    "usage: gemma2 generate MODEL --tokens ID,ID,... [-n N] [--greedy] [--ids | --text]\n"
    "                       [--stop-at-eos] [sampling flags] [-t N] [--ctx N] [--no-mmap]\n"
    "  Feeds the tokens, then decodes N tokens (default 16) and prints their ids,\n"
    "  comma-separated, on one line (`gemma2 run` prints text).\n"
    "  --text         print the text of each step as the library gives it\n"
    "                 (gemma2_step_result.text), then a newline, instead of the ids\n"
    "  --stop-at-eos  stop early after the model's end-of-turn token\n"
    "  --greedy       temperature 0 (the default; overrides --temp)\n";

int cmd_generate(int argc, char **argv) {
    const char *path = NULL, *tokens_arg = NULL;
    long long n_gen = 16;
    int stop_at_eos = 0, greedy = 0, text = 0;
    cli_common common = {0};
    cli_sampling samp;
    cli_sampling_init(&samp);
    snprintf(usage, sizeof usage, "%s%s", usage_head, cli_sampling_usage);
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("generate", usage, argc, argv, &i, &common);
        if (r == 0)
            r = cli_sampling_flag("generate", usage, argc, argv, &i, &samp);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--tokens")) {
            if (i + 1 >= argc)
                return cli_usage_error("generate", usage, "--tokens needs a value");
            tokens_arg = argv[++i];
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (i + 1 >= argc || cli_parse_int(argv[i + 1], 0, 1 << 24, &n_gen))
                return cli_usage_error("generate", usage, "%s needs a count", a);
            i++;
        } else if (!strcmp(a, "--greedy")) {
            greedy = 1;
        } else if (!strcmp(a, "--ids")) {
            text = 0;
        } else if (!strcmp(a, "--text")) {
            text = 1;
        } else if (!strcmp(a, "--stop-at-eos")) {
            stop_at_eos = 1;
        } else if (a[0] == '-') {
            return cli_usage_error("generate", usage, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("generate", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path || !tokens_arg)
        return cli_usage_error("generate", usage, "MODEL and --tokens are required");
    if (samp.n_stops)
        return cli_usage_error("generate", usage, "--stop needs text: use gemma2 run");
    if (greedy)
        samp.opts.temperature = 0;
    cli_sampling_finish(&samp);
    int32_t *tokens;
    size_t n;
    if (cli_parse_tokens(tokens_arg, &tokens, &n))
        return cli_usage_error("generate", usage, "bad --tokens '%s': expected comma-separated ids",
                               tokens_arg);

    int rc = CLI_EXIT_ERROR;
    gemma2_model *m = NULL;
    gemma2_session *s = NULL;
    const gemma2_tokenizer *tok;
    if (cli_open_model("generate", path, common.threads, common.open_flags, &m))
        goto done;
    if (text && gemma2_model_tokenizer(m, &tok) != GEMMA2_OK) {
        cli_fail("generate", GEMMA2_ERR_STATE);
        goto done;
    }
    if (
        cli_new_session("generate", m, common.threads, cli_default_ctx(m, &common, n + (size_t)n_gen), &samp.opts,
                        &s))
        goto done;
    long long printed = 0;
    gemma2_status st = gemma2_session_feed(s, tokens, n);
    for (long long k = 0; st == GEMMA2_OK && k < n_gen; k++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        if ((st = gemma2_session_step(s, &r)) != GEMMA2_OK)
            break;
        if (!text)
            printf("%s%d", printed ? "," : "", (int)r.token);
        else if (r.text)
            fwrite(r.text, 1, (size_t)r.text_len, stdout);
        printed++;
        if (stop_at_eos && (r.flags & GEMMA2_STEP_END_OF_TURN))
            break;
    }
    if (st != GEMMA2_OK) {
        if (printed)
            putchar('\n'); /* keep what was generated before the failure */
        fflush(stdout);
        cli_fail("generate", st);
        goto done;
    }
    putchar('\n');
    rc = fflush(stdout) == 0 ? 0 : cli_error("generate", "cannot write to standard output");
done:
    free(tokens);
    gemma2_session_free(s);
    gemma2_model_close(m);
    return rc;
}
