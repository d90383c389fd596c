/* SPDX-License-Identifier: Apache-2.0 */
/* Text helpers of the gemma2 CLI (tokenize, detokenize, run, chat, bench-tokenizer):
 * loading a tokenizer from any source, reading raw bytes, encoding into malloc'd ids,
 * and streaming generated text. Functions taking `cmd` print their own one-line error. */
#ifndef G2_CLI_TEXT_H
#define G2_CLI_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gemma2.h"
#include "gemma2/cli_sampling.h"

/* A tokenizer and what owns it. */
typedef struct cli_tokenizer {
    gemma2_model *model;     /* SOURCE was a model file: the model owns tok */
    gemma2_tokenizer *owned; /* SOURCE was a tokenizer file or folder */
    const gemma2_tokenizer *tok;
} cli_tokenizer;

/* Loads the tokenizer of SOURCE: a gemma2 model file (recognised by its magic, opened
 * without digest checks), a checkpoint folder (read as the converter reads it), or a
 * tokenizer.json / tokenizer.model. Returns 0, or CLI_EXIT_ERROR with the message
 * printed. Release with cli_tokenizer_close (also after a failure). */
int cli_tokenizer_open(const char *cmd, const char *source, cli_tokenizer *t);
void cli_tokenizer_close(cli_tokenizer *t);

/* Reads all of f as raw bytes into a malloc'd buffer (NUL-terminated after *len
 * bytes, for convenience). Returns 0, or -1 (errno set, nothing allocated). */
int cli_read_all(FILE *f, char **data, size_t *len);

/* Encodes text into malloc'd ids (never NULL on success, even for 0 ids). Returns 0,
 * or CLI_EXIT_ERROR with the message printed. */
int cli_encode(const char *cmd, const gemma2_tokenizer *tok, const char *text, size_t len, uint32_t flags,
               int32_t **ids, size_t *n);

/* gemma2_chat_tokenize into malloc'd ids. Returns 0, or CLI_EXIT_ERROR with the
 * message printed. */
int cli_chat_encode(const char *cmd, const gemma2_tokenizer *tok, const char *const *roles,
                    const char *const *texts, const size_t *lens, size_t n_turns, uint32_t flags,
                    int32_t **ids, size_t *n);

/* Appends n ids to a malloc'd array of *len ids with room for *cap; 0 or -1 (OOM). */
int cli_ids_append(int32_t **ids, size_t *len, size_t *cap, const int32_t *more, size_t n);

/* Prints ids comma-separated, without a newline. */
void cli_print_ids(FILE *f, const int32_t *ids, size_t n);

/* Ignores SIGPIPE so that a closed output is a write error (exit 1), not a signal. */
void cli_ignore_sigpipe(void);

/* Flushes stdout; 0, or CLI_EXIT_ERROR with the message printed. */
int cli_flush_stdout(const char *cmd);

/* What a generation did. */
typedef struct cli_gen {
    size_t n_tokens;  /* tokens generated (each also fed to the session) */
    int32_t last;     /* last generated token, -1 if none */
    int ended_turn;   /* stopped at a GEMMA2_STEP_END_OF_TURN token */
    int stopped;      /* stopped at a --stop string (not written) */
    int context_full; /* stopped because the session's context is full */
    size_t n_unknown; /* generated ids outside the tokenizer (no text) */
    int write_errno;  /* errno of a failed write to out, else 0 */
    int32_t *ids;     /* with keep_ids: the generated ids (malloc'd, free it), or NULL
                         if they could not be kept (out of memory) */
    size_t ids_cap;
} cli_gen;

/* Decodes up to n_max tokens from the session's current logits with its sampler,
 * streaming their text (special pieces left out) to out, flushed per token. Stops
 * after an end-of-turn token, after n_max tokens, when the context is full (not an
 * error), or when the text contains one of stops->stops (stops may be NULL): the stop
 * string and anything after it are not written; text that may be the start of one is
 * held back until it is not. The unfinished UTF-8 of the end becomes U+FFFD. Returns
 * GEMMA2_OK or a library status; a failed write to out sets g->write_errno and
 * returns GEMMA2_ERR_IO. */
gemma2_status cli_generate_text(gemma2_session *s, const gemma2_tokenizer *tok, long long n_max,
                                const cli_sampling *stops, FILE *out, int keep_ids, cli_gen *g);

/* Reports a failure of cli_generate_text; returns CLI_EXIT_ERROR. */
int cli_generate_fail(const char *cmd, gemma2_status st, const cli_gen *g);

/* --show-ids: "gemma2 CMD: fed N ids at position P: IDS" on stderr before a feed. */
void cli_show_fed(const char *cmd, const gemma2_session *s, const int32_t *ids, size_t n);
/* --show-ids: "gemma2 CMD: generated N ids: IDS" on stderr. */
void cli_show_generated(const char *cmd, const cli_gen *g);

/* Prints the note about ids without text, if there were any. */
void cli_note_unknown(const char *cmd, const cli_gen *g, const gemma2_tokenizer *tok);

#endif
