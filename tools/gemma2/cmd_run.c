/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 run MODEL -p PROMPT: the prompt as one user turn (or raw text), then the
 * model's reply streamed as text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"
#include "gemma2/cli_text.h"

static char usage[4096]; /* usage_head + cli_sampling_usage, built at the start */
static const char usage_head[] =
    "usage: gemma2 run MODEL -p PROMPT [-n N] [--raw] [--show-ids] [sampling flags]\n"
    "                 [-t N] [--ctx N] [--no-mmap]\n"
    "  Generates a reply to PROMPT and streams its text to standard output as it comes,\n"
    "  ending with a newline. The prompt is one user turn of Gemma's chat template\n"
    "  (<bos><start_of_turn>user\\nPROMPT<end_of_turn>\\n<start_of_turn>model\\n, markers\n"
    "  inserted as tokens, PROMPT encoded as plain text). It stops at the end of the\n"
    "  model's turn (<end_of_turn> or <eos>), after N tokens, at a --stop text, or when\n"
    "  the context is full (a note on standard error).\n"
    "  -p PROMPT  the prompt; '-' reads it from standard input (raw bytes)\n"
    "  -n N, --max-tokens N   generate at most N tokens (default 256)\n"
    "  --raw      no chat template: continue <bos> + PROMPT (encoded as plain text)\n"
    "  --show-ids print the ids fed and generated on standard error\n"
    "  -t N       compute threads (default: all CPUs)\n"
    "  --no-mmap  read the model into memory instead of mapping it\n"
    "  --ctx N    context length (default: the prompt's length + N, at most the model's)\n";

/* The prompt's ids: a chat turn, or <bos> + plain text. */
static int prompt_ids(const gemma2_model *m, const gemma2_tokenizer *tok, const char *text, size_t len,
                      int raw, int32_t **ids, size_t *n) {
    if (!raw) {
        const char *role = "user";
        return cli_chat_encode("run", tok, &role, &text, &len, 1, GEMMA2_CHAT_ADD_GENERATION_PROMPT, ids, n);
    }
    int32_t *body;
    size_t n_body;
    if (cli_encode("run", tok, text, len, 0, &body, &n_body))
        return CLI_EXIT_ERROR;
    int32_t bos = gemma2_token_special(tok, GEMMA2_TOKEN_BOS);
    if (bos < 0) { /* a vocabulary without <bos>: the config's */
        gemma2_model_info mi;
        gemma2_model_info_init(&mi, sizeof mi);
        gemma2_model_get_info(m, &mi);
        bos = mi.bos_id;
    }
    size_t cap = 0;
    *n = 0;
    if (cli_ids_append(ids, n, &cap, &bos, 1) || cli_ids_append(ids, n, &cap, body, n_body)) {
        free(body);
        return cli_error("run", "out of memory for %zu token ids", n_body + 1);
    }
    free(body);
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *prompt = NULL;
    long long n_gen = 256;
    int raw = 0, show_ids = 0;
    cli_common common = {0};
    cli_sampling samp;
    cli_sampling_init(&samp);
    snprintf(usage, sizeof usage, "%s%s", usage_head, cli_sampling_usage);
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("run", usage, argc, argv, &i, &common);
        if (r == 0)
            r = cli_sampling_flag("run", usage, argc, argv, &i, &samp);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (i + 1 >= argc)
                return cli_usage_error("run", usage, "%s needs a value", a);
            prompt = argv[++i];
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--max-tokens")) {
            if (i + 1 >= argc || cli_parse_int(argv[i + 1], 0, 1 << 24, &n_gen))
                return cli_usage_error("run", usage, "%s needs a count", a);
            i++;
        } else if (!strcmp(a, "--raw")) {
            raw = 1;
        } else if (!strcmp(a, "--show-ids")) {
            show_ids = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("run", usage, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("run", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path || !prompt)
        return cli_usage_error("run", usage, "MODEL and -p PROMPT are required");
    cli_sampling_finish(&samp);

    cli_ignore_sigpipe();
    int rc = CLI_EXIT_ERROR;
    char *text = NULL;
    size_t len = strlen(prompt);
    int32_t *ids = NULL;
    size_t n = 0;
    gemma2_model *m = NULL;
    gemma2_session *s = NULL;
    const gemma2_tokenizer *tok = NULL;
    gemma2_status st;
    if (!strcmp(prompt, "-")) {
        if (cli_read_all(stdin, &text, &len)) {
            cli_error("run", "cannot read standard input: %s", strerror(errno));
            goto done;
        }
        prompt = text;
    }
    if (cli_open_model("run", path, common.threads, common.open_flags, &m))
        goto done;
    if ((st = gemma2_model_tokenizer(m, &tok)) != GEMMA2_OK) {
        cli_fail("run", st);
        goto done;
    }
    if (prompt_ids(m, tok, prompt, len, raw, &ids, &n) ||
        cli_new_session("run", m, common.threads, cli_default_ctx(m, &common, n + (size_t)n_gen), &samp.opts,
                        &s))
        goto done;
    if (show_ids)
        cli_show_fed("run", s, ids, n);
    if ((st = gemma2_session_feed(s, ids, n)) != GEMMA2_OK) {
        cli_fail("run", st);
        goto done;
    }
    cli_gen g;
    st = cli_generate_text(s, tok, n_gen, &samp, stdout, show_ids, &g);
    putchar('\n');
    if (show_ids)
        cli_show_generated("run", &g);
    free(g.ids);
    if (st != GEMMA2_OK) {
        fflush(stdout);
        cli_generate_fail("run", st, &g);
        goto done;
    }
    if ((rc = cli_flush_stdout("run")) != 0)
        goto done;
    cli_note_unknown("run", &g, tok);
    if (g.context_full) {
        uint32_t pos = 0;
        gemma2_session_position(s, &pos);
        fprintf(stderr, "gemma2 run: note: the context is full (%u tokens, %s): stopped after %zu tokens\n",
                (unsigned)pos, common.ctx ? "--ctx" : "the model's context length", g.n_tokens);
    }
done:
    free(text);
    free(ids);
    gemma2_session_free(s);
    gemma2_model_close(m);
    return rc;
}
