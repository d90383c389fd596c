/* SPDX-License-Identifier: Apache-2.0 */
/* Sampling and stop flags shared by run, chat and generate (--temp, --top-k, --top-p,
 * --min-p, --repeat-penalty, --repeat-last-n, --presence-penalty,
 * --frequency-penalty, --seed, --stop); the stop strings themselves are matched by the
 * library (gemma2_session_generate). */
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

#endif
