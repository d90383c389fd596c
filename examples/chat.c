/* SPDX-License-Identifier: Apache-2.0 */
/* chat: an interactive chat with Gemma's chat template, each reply streamed.
 *
 *   usage: chat MODEL [-n N] [-c CTX]
 *
 * Reads one user turn per line of standard input until end of input (empty lines are
 * skipped) and writes each reply, then a newline, to standard output, as `gemma2 chat`
 * does. The conversation lives in one session: each turn feeds only its own tokens.
 *   -n N    at most N tokens per reply (default 512)
 *   -c CTX  context length in tokens (default: the model's, at most 4096)
 * When the context is full, chat says so on standard error: a reply that fills it is
 * cut short, and a turn that does not fit starts a new conversation. */
#ifndef _POSIX_C_SOURCE
#    define _POSIX_C_SOURCE 200809L /* getline, isatty */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gemma2.h>

/* Reports a failed call with the library's message for it; returns 1. */
static int fail(gemma2_status st) {
    const char *msg = gemma2_last_error(); /* read it before any other gemma2 call */
    fprintf(stderr, "chat: error: %s\n", msg[0] ? msg : gemma2_status_string(st));
    return 1;
}

/* The tokens of one user turn, in a malloc'd *ids; 0, or 1 with the error reported.
 * A conversation's first turn starts with <bos>. A later one first closes the model's
 * last turn: <end_of_turn> if the reply was cut short (else the session holds it
 * already), then the "\n" that follows it in the template. */
static int turn_ids(const gemma2_tokenizer *tok, const char *text, size_t len, int first, int32_t last,
                    int32_t **ids, size_t *n) {
    const char *role = "user";
    const uint32_t flags = GEMMA2_CHAT_ADD_GENERATION_PROMPT | (first ? 0 : GEMMA2_CHAT_NO_BOS);
    int32_t head[8];
    size_t n_head = 0, n_nl = 0, n_turn = 0;
    gemma2_status st;
    if (!first) {
        const int32_t eot = gemma2_token_special(tok, GEMMA2_TOKEN_END_OF_TURN);
        if (last != eot)
            head[n_head++] = eot;
        if ((st = gemma2_tokenize(tok, "\n", 1, 0, head + n_head, 7, &n_nl)) != GEMMA2_OK)
            return fail(st);
        n_head += n_nl;
    }
    /* ask for the size, then make room for the head and the turn */
    st = gemma2_chat_tokenize(tok, &role, &text, &len, 1, flags, NULL, 0, &n_turn);
    if (st != GEMMA2_ERR_BUFFER_TOO_SMALL) /* an error: a turn is never empty */
        return fail(st);
    if (!(*ids = malloc((n_head + n_turn) * sizeof **ids))) {
        fputs("chat: out of memory\n", stderr);
        return 1;
    }
    memcpy(*ids, head, n_head * sizeof *head);
    st = gemma2_chat_tokenize(tok, &role, &text, &len, 1, flags, *ids + n_head, n_turn, &n_turn);
    *n = n_head + n_turn;
    return st == GEMMA2_OK ? 0 : fail(st);
}

/* Called by gemma2_session_generate with the text that became final with each token
 * (and once more with token -1 if some was held back). Returns nonzero to stop. */
static int on_text(void *user, int32_t token, const char *text, size_t len) {
    if (token >= 0)
        *(int32_t *)user = token; /* the reply's last token */
    fwrite(text, 1, len, stdout);
    return fflush(stdout) != 0; /* standard output is gone: stop */
}

int main(int argc, char **argv) {
    const char *path = NULL;
    long n_max = 512, n_ctx = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "-c")) && i + 1 < argc) {
            long *value = argv[i][1] == 'n' ? &n_max : &n_ctx;
            *value = strtol(argv[++i], NULL, 10);
        } else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            bad = 1;
    }
    if (bad || !path || n_max < 1 || n_max > UINT32_MAX || n_ctx < 0 || n_ctx > UINT32_MAX) {
        fprintf(stderr, "usage: %s MODEL [-n N] [-c CTX]\n", argv[0]);
        return 2;
    }
    int rc = 1;
    int32_t last = -1, *ids = NULL;
    char *line = NULL;
    size_t cap = 0, n;
    gemma2_model *model = NULL;
    gemma2_session *session = NULL;
    const gemma2_tokenizer *tok;
    gemma2_status st;
    if ((st = gemma2_model_open(path, NULL, &model)) != GEMMA2_OK ||
        (st = gemma2_model_tokenizer(model, &tok)) != GEMMA2_OK) {
        rc = fail(st);
        goto done;
    }
    gemma2_session_options so;
    gemma2_session_options_init(&so, sizeof so);
    const uint32_t model_ctx = gemma2_model_context_length(model);
    so.n_ctx = n_ctx ? (uint32_t)n_ctx : model_ctx < 4096 ? model_ctx : 4096;
    gemma2_generate_options gen; /* the reply ends at <end_of_turn>, or after n_max tokens */
    gemma2_generate_options_init(&gen, sizeof gen);
    gen.max_tokens = (uint32_t)n_max;
    if ((st = gemma2_session_new(model, &so, &session)) != GEMMA2_OK) {
        rc = fail(st);
        goto done;
    }

    const int tty = isatty(STDIN_FILENO);
    for (;;) {
        if (tty)
            fputs("> ", stderr);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0)
            break;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        uint32_t pos = 0;                       /* 0: a new conversation */
        gemma2_session_position(session, &pos); /* cannot fail on a session */
        if (turn_ids(tok, line, len, pos == 0, last, &ids, &n))
            goto done;
        st = gemma2_session_feed(session, ids, n);
        if (st == GEMMA2_ERR_CONTEXT_FULL && pos > 0) { /* the session is unchanged */
            fputs("chat: the context is full: starting a new conversation\n", stderr);
            free(ids);
            ids = NULL;
            if ((st = gemma2_session_reset(session)) != GEMMA2_OK ||
                turn_ids(tok, line, len, 1, -1, &ids, &n)) {
                rc = st == GEMMA2_OK ? 1 : fail(st);
                goto done;
            }
            st = gemma2_session_feed(session, ids, n);
        }
        free(ids);
        ids = NULL;
        if (st == GEMMA2_ERR_CONTEXT_FULL) {
            fprintf(stderr, "chat: this line (%zu tokens) does not fit in the context\n", n);
            continue;
        }
        if (st != GEMMA2_OK) {
            rc = fail(st);
            goto done;
        }
        gemma2_generate_result res;
        gemma2_generate_result_init(&res, sizeof res);
        st = gemma2_session_generate(session, &gen, on_text, &last, &res);
        putchar('\n');
        if (st != GEMMA2_OK) {
            rc = fail(st);
            goto done;
        }
        if (res.stop_reason == GEMMA2_STOP_CONTEXT_FULL)
            fputs("chat: the context is full: the reply was cut short\n", stderr);
    }
    if (ferror(stdin)) {
        fputs("chat: cannot read standard input\n", stderr);
        goto done;
    }
    rc = fflush(stdout) != 0;
done:
    free(ids);
    free(line);
    gemma2_session_free(session);
    gemma2_model_close(model);
    return rc;
}
