/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the gemma2 CLI: commands, argument parsing, error reporting.
 * Conventions: errors are one line on stderr, exit 1; usage errors exit 2. */
#ifndef G2_CLI_H
#define G2_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"

#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/* Each command gets argv with argv[0] = its name. */
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench_tokenizer(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "gemma2 CMD: error: MESSAGE" (the library's last error, or the status
 * name) and returns CLI_EXIT_ERROR. */
int cli_fail(const char *cmd, gemma2_status st);
/* Prints a formatted error and returns CLI_EXIT_ERROR. */
int cli_error(const char *cmd, const char *fmt, ...);
/* Prints "gemma2 CMD: MESSAGE", then the usage text, and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...);

/* Parses a decimal integer in [min, max]; returns 0 on success. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);
/* Parses "2,17,5" into a malloc'ed array; returns 0 on success. */
int cli_parse_tokens(const char *s, int32_t **tokens, size_t *n);

/* Flags common to computing commands, filled by cli_common_flag. */
typedef struct cli_common {
    int threads;  /* -t/--threads, 0 = all CPUs */
    uint32_t ctx; /* --ctx, 0 = command default */
    uint32_t open_flags; /* --no-mmap: GEMMA2_MODEL_NO_MMAP */
} cli_common;

/* If argv[*i] is a common flag, consumes it (and its value) and returns 1; returns
 * -1 on a bad value (message printed), 0 if it is not a common flag. */
int cli_common_flag(const char *cmd, const char *usage, int argc, char **argv, int *i, cli_common *c);

/* Opens a model with the given threads and flags; prints the error on failure. */
int cli_open_model(const char *cmd, const char *path, int threads, uint32_t flags, gemma2_model **out);

/* Creates a session; prints the error on failure. */
int cli_new_session(const char *cmd, gemma2_model *model, int threads, uint32_t n_ctx,
                    const gemma2_sampler_options *sampler, gemma2_session **out);

/* --ctx if given, else just enough for `needed` tokens (at most the model's context):
 * a small KV cache for short token jobs. */
uint32_t cli_default_ctx(const gemma2_model *model, const cli_common *c, size_t needed);

#endif
