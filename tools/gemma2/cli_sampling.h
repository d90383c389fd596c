/* SPDX-License-Identifier: Apache-2.0 */
/* Sampling and stop flags shared by run, chat and generate (--temp, --top-k, --top-p,
 * --min-p, --repeat-penalty, --repeat-last-n, --presence-penalty,
 * --frequency-penalty, --seed, --stop), and the stop-string matcher of streamed text. */
#ifndef G2_CLI_SAMPLING_H
#define G2_CLI_SAMPLING_H

#include <stddef.h>

#include "gemma2.h"

#define CLI_MAX_STOPS 16

typedef struct cli_sampling {
    gemma2_sampler_options opts;
    int seed_given;
    const char *stops[CLI_MAX_STOPS]; /* --stop strings (argv's), non-empty */
    size_t n_stops;
} cli_sampling;

/* The flag lines for a command's usage text. */
extern const char cli_sampling_usage[];

/* Greedy, penalties off, no stops. */
void cli_sampling_init(cli_sampling *s);

/* Parses argv[*i] if it is a sampling flag (advancing *i past its value): 1 if it
 * was, 0 if not, -1 after printing a usage error. */
int cli_sampling_flag(const char *cmd, const char *usage, int argc, char **argv, int *i, cli_sampling *s);

/* Without --seed, a seed from the clock and the process id (as llama.cpp picks a
 * random one); call once before the session is made. */
void cli_sampling_finish(cli_sampling *s);

/* Holds back streamed text that may be the start of a stop string. */
typedef struct cli_stop_matcher {
    const cli_sampling *s;
    char *held; /* bytes not yet released */
    size_t len, cap;
} cli_stop_matcher;

/* Appends text; *release bytes at the start of held may be written out now. Returns 1
 * when a stop string is complete (held then ends just before it, all releasable),
 * 0 otherwise, -1 out of memory. */
int cli_stop_push(cli_stop_matcher *m, const char *text, size_t len, size_t *release);
/* Drops the first n held bytes (after writing them). */
void cli_stop_consume(cli_stop_matcher *m, size_t n);
void cli_stop_free(cli_stop_matcher *m);

#endif
