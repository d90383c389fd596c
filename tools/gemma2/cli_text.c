/* SPDX-License-Identifier: Apache-2.0 */
/* Text helpers of the gemma2 CLI (cli_text.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/tokenizer_import.h"
#include "gemma2/cli.h"
#include "gemma2/cli_text.h"

static const unsigned char model_magic[4] = {0x89, 'G', '2', 'M'};

/* 1 if path starts with the magic of a gemma2 model file or a GGUF file. */
static int is_model_file(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char head[sizeof model_magic];
    int yes = f && fread(head, 1, sizeof head, f) == sizeof head &&
              (!memcmp(head, model_magic, sizeof head) || !memcmp(head, "GGUF", 4));
    if (f)
        fclose(f);
    return yes;
}

int cli_tokenizer_open(const char *cmd, const char *source, cli_tokenizer *t) {
    memset(t, 0, sizeof *t);
    struct stat st;
    if (stat(source, &st) != 0)
        return cli_error(cmd, "cannot open %s: %s", source, strerror(errno));
    if (!S_ISDIR(st.st_mode) && is_model_file(source)) {
        if (cli_open_model(cmd, source, 0, GEMMA2_MODEL_SKIP_VERIFY, &t->model))
            return CLI_EXIT_ERROR;
        gemma2_status s = gemma2_model_tokenizer(t->model, &t->tok);
        return s == GEMMA2_OK ? 0 : cli_fail(cmd, s);
    }
    uint8_t *blob = NULL;
    size_t size = 0;
    char err[512] = "", note[512] = "";
    int rc = S_ISDIR(st.st_mode) ? g2_tok_import_dir(source, &blob, &size, note, sizeof note, err, sizeof err)
                                 : g2_tok_import_file(source, NULL, &blob, &size, err, sizeof err);
    if (note[0])
        fprintf(stderr, "gemma2 %s: note: %s\n", cmd, note);
    if (rc < 0)
        return cli_error(cmd, "%s", err);
    if (rc > 0 || !blob)
        return cli_error(cmd, "%s has neither a tokenizer.model nor a tokenizer.json", source);
    gemma2_status s = gemma2_tokenizer_load(blob, size, &t->owned);
    free(blob);
    if (s != GEMMA2_OK)
        return cli_fail(cmd, s);
    t->tok = t->owned;
    return 0;
}

void cli_tokenizer_close(cli_tokenizer *t) {
    gemma2_tokenizer_free(t->owned);
    gemma2_model_close(t->model);
    memset(t, 0, sizeof *t);
}

int cli_read_all(FILE *f, char **data, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    *data = NULL;
    *len = 0;
    if (!buf)
        return -1;
    for (;;) {
        if (cap - n < 2) {
            char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                errno = e ? e : EIO;
                return -1;
            }
            break;
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int cli_encode(const char *cmd, const gemma2_tokenizer *tok, const char *text, size_t len, uint32_t flags,
               int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = len + 16; /* enough for most texts: one call, not two */
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *buf = cap <= SIZE_MAX / sizeof *buf ? malloc(cap * sizeof *buf) : NULL;
        if (!buf)
            return cli_error(cmd, "out of memory for %zu token ids", cap);
        size_t got = 0;
        gemma2_status st = gemma2_tokenize(tok, text, len, flags, buf, cap, &got);
        if (st == GEMMA2_OK) {
            *ids = buf;
            *n = got;
            return 0;
        }
        free(buf);
        if (st != GEMMA2_ERR_BUFFER_TOO_SMALL || attempt)
            return cli_fail(cmd, st);
        cap = got; /* the size the library asked for */
    }
    return CLI_EXIT_ERROR;
}

int cli_chat_encode(const char *cmd, const gemma2_tokenizer *tok, const char *const *roles,
                    const char *const *texts, const size_t *lens, size_t n_turns, uint32_t flags,
                    int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t need = 0;
    gemma2_status st = gemma2_chat_tokenize(tok, roles, texts, lens, n_turns, flags, NULL, 0, &need);
    if (st != GEMMA2_OK && st != GEMMA2_ERR_BUFFER_TOO_SMALL)
        return cli_fail(cmd, st);
    int32_t *buf = need <= SIZE_MAX / sizeof *buf ? malloc((need ? need : 1) * sizeof *buf) : NULL;
    if (!buf)
        return cli_error(cmd, "out of memory for %zu token ids", need);
    if ((st = gemma2_chat_tokenize(tok, roles, texts, lens, n_turns, flags, buf, need, n)) != GEMMA2_OK) {
        free(buf);
        return cli_fail(cmd, st);
    }
    *ids = buf;
    return 0;
}

int cli_ids_append(int32_t **ids, size_t *len, size_t *cap, const int32_t *more, size_t n) {
    if (*len + n > *cap) {
        size_t want = *cap ? *cap : 64;
        while (want < *len + n)
            want *= 2;
        int32_t *grown = realloc(*ids, want * sizeof *grown);
        if (!grown)
            return -1;
        *ids = grown;
        *cap = want;
    }
    if (n)
        memcpy(*ids + *len, more, n * sizeof *more);
    *len += n;
    return 0;
}

void cli_print_ids(FILE *f, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        fprintf(f, i ? ",%d" : "%d", (int)ids[i]);
}

void cli_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int cli_flush_stdout(const char *cmd) {
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    return cli_error(cmd, "cannot write to standard output: %s", strerror(errno));
}

/* Writes and flushes; 0, or -1 with g->write_errno set. */
static int write_text(FILE *out, const char *text, size_t len, cli_gen *g) {
    errno = 0;
    if ((len && fwrite(text, 1, len, out) != len) || fflush(out) != 0) {
        g->write_errno = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

/* The callback of cli_generate_text: writes the text, keeps the ids. */
typedef struct gen_sink {
    FILE *out;
    cli_gen *g;
    int keep_ids;
    size_t n_kept;
    uint32_t vocab; /* the tokenizer's pieces */
} gen_sink;

static int on_text(void *user, int32_t token, const char *text, size_t len) {
    gen_sink *k = user;
    cli_gen *g = k->g;
    if (token >= 0) {
        g->n_tokens++;
        g->last = token;
        if ((uint32_t)token >= k->vocab)
            g->n_unknown++; /* the model's vocabulary is larger than the tokenizer's */
        if (k->keep_ids && cli_ids_append(&g->ids, &k->n_kept, &g->ids_cap, &token, 1)) {
            free(g->ids);
            g->ids = NULL;
            k->keep_ids = 0;
        }
    }
    return write_text(k->out, text, len, g) != 0; /* a failed write stops generation */
}

gemma2_status cli_generate_text(gemma2_session *s, const gemma2_tokenizer *tok, long long n_max,
                                const cli_sampling *stops, FILE *out, int keep_ids, cli_gen *g) {
    memset(g, 0, sizeof *g);
    g->last = -1;
    if (n_max <= 0)
        return GEMMA2_OK;
    gen_sink k = {.out = out, .g = g, .keep_ids = keep_ids, .vocab = gemma2_tokenizer_vocab_size(tok)};
    if (keep_ids && !(g->ids = malloc(sizeof *g->ids)))
        k.keep_ids = 0;
    gemma2_generate_options o;
    gemma2_generate_options_init(&o, sizeof o);
    o.max_tokens = n_max > UINT32_MAX ? UINT32_MAX : (uint32_t)n_max;
    if (stops) {
        o.stop = stops->stops;
        o.n_stop = (uint32_t)stops->n_stops;
    }
    gemma2_generate_result r;
    gemma2_generate_result_init(&r, sizeof r);
    gemma2_status st = gemma2_session_generate(s, &o, on_text, &k, &r);
    g->ended_turn = r.stop_reason == GEMMA2_STOP_END_OF_TURN;
    g->context_full = r.stop_reason == GEMMA2_STOP_CONTEXT_FULL;
    g->stopped = r.stop_reason == GEMMA2_STOP_STRING;
    if (st == GEMMA2_OK && g->write_errno)
        st = GEMMA2_ERR_IO;
    return st;
}

int cli_generate_fail(const char *cmd, gemma2_status st, const cli_gen *g) {
    if (g->write_errno)
        return cli_error(cmd, "cannot write to standard output: %s", strerror(g->write_errno));
    return cli_fail(cmd, st);
}

void cli_show_fed(const char *cmd, const gemma2_session *s, const int32_t *ids, size_t n) {
    uint32_t pos = 0;
    gemma2_session_position(s, &pos);
    fprintf(stderr, "gemma2 %s: fed %zu ids at position %u: ", cmd, n, (unsigned)pos);
    cli_print_ids(stderr, ids, n);
    fputc('\n', stderr);
}

void cli_show_generated(const char *cmd, const cli_gen *g) {
    fprintf(stderr, "gemma2 %s: generated %zu ids: ", cmd, g->n_tokens);
    if (g->ids)
        cli_print_ids(stderr, g->ids, g->n_tokens);
    else
        fputs("(not kept: out of memory)", stderr);
    fputc('\n', stderr);
}

void cli_note_unknown(const char *cmd, const cli_gen *g, const gemma2_tokenizer *tok) {
    if (g->n_unknown)
        fprintf(stderr,
                "gemma2 %s: note: %zu generated ids are outside the tokenizer's %u pieces and have no text\n",
                cmd, g->n_unknown, (unsigned)gemma2_tokenizer_vocab_size(tok));
}
