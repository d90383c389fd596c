/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 chat MODEL: an interactive chat. The whole conversation lives in one session:
 * each turn feeds only its new tokens, never the history again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemma2/cli.h"
#include "gemma2/cli_sampling.h"
#include "gemma2/cli_text.h"

#define CHAT_DEFAULT_CTX 4096u

static char usage[4096]; /* usage_head + cli_sampling_usage, built at the start */
static const char usage_head[] =
    "usage: gemma2 chat MODEL [-n N] [--system TEXT] [--show-ids] [sampling flags]\n"
    "                  [-t N] [--ctx N] [--no-mmap]\n"
    "  An interactive chat with Gemma's chat template. Reads one user turn per line of\n"
    "  standard input (a \"> \" prompt on standard error when it is a terminal) and streams\n"
    "  each reply, followed by a newline, to standard output. The conversation is kept in\n"
    "  one session: every turn adds only its own tokens. A reply ends at the end of\n"
    "  the model's turn, after N tokens, or at a --stop text.\n"
    "  Lines: /reset forgets the conversation; /save FILE writes it (the session's\n"
    "  state: tokens, cache, sampler) and /load FILE goes back to one saved from the\n"
    "  same model; /exit (or end of input) ends the chat; empty lines are ignored.\n"
    "  When the context is full the chat says so and goes on: /reset starts over.\n"
    "  -n N, --max-tokens N   at most N tokens per reply (default 512)\n"
    "  --system TEXT  instructions given before the first user turn (Gemma 2 has no\n"
    "                 system turn: the text goes before the user's, then a blank line)\n"
    "  --show-ids     print the ids fed and generated in each turn on standard error\n"
    "  -t N           compute threads (default: all CPUs)\n"
    "  --no-mmap      read the model into memory instead of mapping it\n"
    "  --ctx N        context length in tokens (default: the model's, at most 4096)\n";

typedef struct chat {
    gemma2_session *s;
    const gemma2_tokenizer *tok;
    const char *system; /* NULL: none */
    long long n_gen;
    int fresh;    /* nothing fed since the start or /reset */
    int32_t last; /* the last token of the model's previous reply, -1 if none */
    int tty;      /* standard input is a terminal */
    int show_ids; /* --show-ids */
    const cli_sampling *samp;
    uint32_t n_ctx;
} chat;

/* The tokens of a user turn: the first of a conversation (with <bos> and the system
 * text), or the end of the model's previous turn followed by the user's. */
static int turn_ids(chat *c, const char *text, size_t len, int32_t **ids, size_t *n) {
    const char *roles[2] = {"system", "user"}, *texts[2] = {c->system, text};
    size_t lens[2] = {c->system ? strlen(c->system) : 0, len};
    if (c->fresh) {
        size_t skip = c->system ? 0 : 1;
        return cli_chat_encode("chat", c->tok, roles + skip, texts + skip, lens + skip, 2 - skip,
                               GEMMA2_CHAT_ADD_GENERATION_PROMPT, ids, n);
    }
    int32_t eot = gemma2_token_special(c->tok, GEMMA2_TOKEN_END_OF_TURN), *nl = NULL, *user = NULL;
    size_t n_nl = 0, n_user = 0, cap = 0;
    *ids = NULL;
    *n = 0;
    if (cli_encode("chat", c->tok, "\n", 1, 0, &nl, &n_nl) ||
        cli_chat_encode("chat", c->tok, roles + 1, texts + 1, lens + 1, 1,
                        GEMMA2_CHAT_NO_BOS | GEMMA2_CHAT_ADD_GENERATION_PROMPT, &user, &n_user)) {
        free(nl);
        return CLI_EXIT_ERROR;
    }
    /* a reply cut short (by -n or a full context) never got its <end_of_turn> */
    int fail = (c->last != eot && cli_ids_append(ids, n, &cap, &eot, 1)) ||
               cli_ids_append(ids, n, &cap, nl, n_nl) || cli_ids_append(ids, n, &cap, user, n_user);
    free(nl);
    free(user);
    if (fail) {
        free(*ids);
        *ids = NULL;
        return cli_error("chat", "out of memory for %zu token ids", *n + n_user + 1);
    }
    return 0;
}

/* The context cannot take a turn (n > 0: its tokens) or took the reply only in part. */
static void note_full(const chat *c, size_t n) {
    uint32_t pos = 0;
    gemma2_session_position(c->s, &pos);
    if (n && pos == 0)
        fprintf(stderr, "gemma2 chat: this turn (%zu tokens) is longer than the whole context (%u tokens)\n",
                n, (unsigned)c->n_ctx);
    else if (n)
        fprintf(stderr,
                "gemma2 chat: the context is full (%u of %u tokens used; this turn needs %zu): type /reset "
                "to start a new conversation\n",
                (unsigned)pos, (unsigned)c->n_ctx, n);
    else
        fprintf(stderr,
                "gemma2 chat: the context is full (%u tokens): the reply was cut short; type /reset to "
                "start a new conversation\n",
                (unsigned)pos);
}

/* One user turn: feed it, stream the reply. Returns 0 to go on, or the exit status. */
static int turn(chat *c, const char *text, size_t len) {
    int32_t *ids;
    size_t n;
    if (turn_ids(c, text, len, &ids, &n))
        return CLI_EXIT_ERROR;
    if (c->show_ids)
        cli_show_fed("chat", c->s, ids, n);
    gemma2_status st = gemma2_session_feed(c->s, ids, n);
    free(ids);
    if (st == GEMMA2_ERR_CONTEXT_FULL) { /* the session is unchanged */
        note_full(c, n);
        return 0;
    }
    if (st != GEMMA2_OK)
        return cli_fail("chat", st);
    c->fresh = 0;
    cli_gen g;
    st = cli_generate_text(c->s, c->tok, c->n_gen, c->samp, stdout, c->show_ids, &g);
    c->last = g.last;
    putchar('\n');
    if (c->show_ids)
        cli_show_generated("chat", &g);
    free(g.ids);
    if (st != GEMMA2_OK) {
        fflush(stdout);
        return cli_generate_fail("chat", st, &g);
    }
    int rc = cli_flush_stdout("chat");
    if (rc)
        return rc;
    cli_note_unknown("chat", &g, c->tok);
    if (g.context_full)
        note_full(c, 0);
    return 0;
}

/* /save FILE, /load FILE: 1 if line was one (done, or its error reported and the
 * chat going on), 0 if not. */
static int state_command(chat *c, const char *line) {
    const int save = !strncmp(line, "/save ", 6), load = !strncmp(line, "/load ", 6);
    if (!save && !load)
        return 0;
    const char *path = line + 6;
    gemma2_status st = save ? gemma2_session_save_file(c->s, path) : gemma2_session_load_file(c->s, path);
    if (st != GEMMA2_OK) {
        fprintf(stderr, "gemma2 chat: %s failed: %s\n", save ? "/save" : "/load", gemma2_last_error());
        return 1;
    }
    if (load) { /* go on from the loaded conversation: its last token decides the next turn's start */
        size_t n = 0;
        gemma2_session_tokens(c->s, NULL, 0, &n);
        int32_t last = -1;
        if (n) {
            int32_t *all = malloc(n * sizeof *all);
            if (all && gemma2_session_tokens(c->s, all, n, &n) == GEMMA2_OK)
                last = all[n - 1];
            free(all);
        }
        c->fresh = n == 0;
        c->last = last;
    }
    if (c->tty)
        fprintf(stderr, "(%s %s)\n", save ? "saved to" : "loaded", path);
    return 1;
}

int cmd_chat(int argc, char **argv) {
    const char *path = NULL;
    chat c = {.n_gen = 512, .fresh = 1, .last = -1};
    cli_common common = {0};
    cli_sampling samp;
    cli_sampling_init(&samp);
    c.samp = &samp;
    snprintf(usage, sizeof usage, "%s%s", usage_head, cli_sampling_usage);
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("chat", usage, argc, argv, &i, &common);
        if (r == 0)
            r = cli_sampling_flag("chat", usage, argc, argv, &i, &samp);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--system")) {
            if (i + 1 >= argc)
                return cli_usage_error("chat", usage, "--system needs a value");
            c.system = argv[++i][0] ? argv[i] : NULL;
        } else if (!strcmp(a, "--show-ids")) {
            c.show_ids = 1;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--max-tokens")) {
            if (i + 1 >= argc || cli_parse_int(argv[i + 1], 0, 1 << 24, &c.n_gen))
                return cli_usage_error("chat", usage, "%s needs a count", a);
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("chat", usage, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("chat", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error("chat", usage, "missing MODEL");
    cli_sampling_finish(&samp);

    cli_ignore_sigpipe();
    c.tty = isatty(STDIN_FILENO);
    int rc = CLI_EXIT_ERROR;
    gemma2_model *m = NULL;
    char *line = NULL;
    size_t cap = 0;
    if (cli_open_model("chat", path, common.threads, common.open_flags, &m))
        goto done;
    gemma2_status st = gemma2_model_tokenizer(m, &c.tok);
    if (st != GEMMA2_OK) {
        cli_fail("chat", st);
        goto done;
    }
    uint32_t model_ctx = gemma2_model_context_length(m);
    c.n_ctx = common.ctx ? common.ctx : model_ctx < CHAT_DEFAULT_CTX ? model_ctx : CHAT_DEFAULT_CTX;
    if (cli_new_session("chat", m, common.threads, c.n_ctx, &samp.opts, &c.s))
        goto done;
    rc = 0;
    for (;;) {
        if (c.tty)
            fputs("> ", stderr);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0) {
            if (c.tty)
                fputc('\n', stderr); /* end of input typed at the prompt */
            break;
        }
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        line[len] = '\0';
        if (len == strlen(line) && !strcmp(line, "/exit"))
            break;
        if (len == strlen(line) && !strcmp(line, "/reset")) {
            if ((st = gemma2_session_reset(c.s)) != GEMMA2_OK) {
                rc = cli_fail("chat", st);
                break;
            }
            c.fresh = 1;
            c.last = -1;
            if (c.tty)
                fputs("(the conversation was reset)\n", stderr);
            continue;
        }
        if (len == strlen(line) && state_command(&c, line))
            continue;
        if (len && (rc = turn(&c, line, len)) != 0)
            break;
    }
    if (rc == 0 && ferror(stdin))
        rc = cli_error("chat", "cannot read standard input");
done:
    free(line);
    gemma2_session_free(c.s);
    gemma2_model_close(m);
    return rc;
}
