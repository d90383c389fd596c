/* SPDX-License-Identifier: Apache-2.0 */
/* simple: the shortest complete generation loop with libgemma2.
 *
 *   usage: simple MODEL [PROMPT] [N]
 *
 * Sends PROMPT as one user turn of Gemma's chat template, as `gemma2 run` does by
 * default, and prints the model's reply (greedy, at most N tokens, default 256) as it
 * comes, then a newline: `simple MODEL PROMPT N` prints what `gemma2 run MODEL -p PROMPT
 * -n N` prints. For raw text, tokenize PROMPT with gemma2_tokenize and feed <bos>
 * (gemma2_token_special) before it instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gemma2.h>

/* Reports a failed call with the library's message for it. */
static int fail(gemma2_status st) {
    const char *msg = gemma2_last_error(); /* read it before any other gemma2 call */
    fprintf(stderr, "simple: error: %s\n", msg[0] ? msg : gemma2_status_string(st));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL [PROMPT] [N]\n", argv[0]);
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "Why is the sky blue?";
    const long n_gen = argc > 3 ? strtol(argv[3], NULL, 10) : 256;
    int rc = 1;
    gemma2_model *model = NULL;
    gemma2_session *session = NULL;
    int32_t *ids = NULL;
    gemma2_status st;

    /* The model (NULL options: defaults, every tensor digest checked), its tokenizer
     * (owned by the model) and a session (NULL options: all CPUs, the model's context,
     * greedy sampling). */
    const gemma2_tokenizer *tok;
    if ((st = gemma2_model_open(argv[1], NULL, &model)) != GEMMA2_OK ||
        (st = gemma2_model_tokenizer(model, &tok)) != GEMMA2_OK ||
        (st = gemma2_session_new(model, NULL, &session)) != GEMMA2_OK) {
        rc = fail(st);
        goto done;
    }

    /* The prompt: <bos><start_of_turn>user\nPROMPT<end_of_turn>\n<start_of_turn>model\n.
     * A first call without a buffer asks for the size (GEMMA2_ERR_BUFFER_TOO_SMALL). */
    const char *role = "user";
    const size_t len = strlen(prompt);
    const uint32_t flags = GEMMA2_CHAT_ADD_GENERATION_PROMPT;
    size_t n = 0;
    st = gemma2_chat_tokenize(tok, &role, &prompt, &len, 1, flags, NULL, 0, &n);
    if (st == GEMMA2_ERR_BUFFER_TOO_SMALL) {
        if (!(ids = malloc(n * sizeof *ids))) {
            fputs("simple: out of memory\n", stderr);
            goto done;
        }
        st = gemma2_chat_tokenize(tok, &role, &prompt, &len, 1, flags, ids, n, &n);
    }
    if (st == GEMMA2_OK)
        st = gemma2_session_feed(session, ids, n);
    if (st != GEMMA2_OK) {
        rc = fail(st);
        goto done;
    }

    /* Each step chooses a token, feeds it back and gives the text it completes. */
    gemma2_step_result step;
    gemma2_step_result_init(&step, sizeof step);
    for (long i = 0; i < n_gen; i++) {
        if ((st = gemma2_session_step(session, &step)) == GEMMA2_ERR_CONTEXT_FULL) {
            fputs("simple: the context is full\n", stderr); /* the reply so far stands */
            break;
        }
        if (st != GEMMA2_OK) {
            rc = fail(st);
            goto done;
        }
        fwrite(step.text, 1, (size_t)step.text_len, stdout);
        fflush(stdout);
        if (step.flags & GEMMA2_STEP_END_OF_TURN)
            break;
    }
    putchar('\n');
    rc = 0;
done:
    free(ids);
    gemma2_session_free(session);
    gemma2_model_close(model);
    return rc;
}
