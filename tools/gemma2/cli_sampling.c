/* SPDX-License-Identifier: Apache-2.0 */
/* Sampling and stop flags of the CLI (cli_sampling.h). */
#include "gemma2/cli_sampling.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemma2/cli.h"

const char cli_sampling_usage[] =
    "  sampling (docs/sampling.md; the default is greedy):\n"
    "  --temp T             temperature; 0 (default) = greedy\n"
    "  --top-k N            keep the N most likely tokens (0 = off)\n"
    "  --top-p P            keep the most likely tokens up to probability P (1 = off)\n"
    "  --min-p P            drop tokens below P times the top probability (0 = off)\n"
    "  --repeat-penalty R   penalise tokens of the last --repeat-last-n (1 = off)\n"
    "  --repeat-last-n N    tokens the penalties look back over (default 64)\n"
    "  --presence-penalty P, --frequency-penalty F   subtracted from repeated tokens\n"
    "  --seed N             the sampler's seed (default: a random one)\n"
    "  --stop TEXT          stop when the output contains TEXT, which is not printed\n"
    "                       (repeatable, up to 16)\n";

void cli_sampling_init(cli_sampling *s) {
    memset(s, 0, sizeof *s);
    gemma2_sampler_options_init(&s->opts, sizeof s->opts);
}

static int parse_float(const char *v, double min, double max, float *out) {
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d) || d < min || d > max)
        return -1;
    *out = (float)d;
    return 0;
}

int cli_sampling_flag(const char *cmd, const char *usage, int argc, char **argv, int *i, cli_sampling *s) {
    static const struct {
        const char *name;
        double min, max;
        size_t offset;
    } floats[] = {
        {"--temp", 0, 1e6, offsetof(gemma2_sampler_options, temperature)},
        {"--top-p", 1e-6, 1, offsetof(gemma2_sampler_options, top_p)},
        {"--min-p", 0, 1, offsetof(gemma2_sampler_options, min_p)},
        {"--repeat-penalty", 1e-6, 1e6, offsetof(gemma2_sampler_options, repeat_penalty)},
        {"--presence-penalty", -1e6, 1e6, offsetof(gemma2_sampler_options, presence_penalty)},
        {"--frequency-penalty", -1e6, 1e6, offsetof(gemma2_sampler_options, frequency_penalty)},
    };
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++)
        if (!strcmp(a, floats[k].name)) {
            if (parse_float(v, floats[k].min, floats[k].max, (float *)((char *)&s->opts + floats[k].offset)))
                return cli_usage_error(cmd, usage, "%s needs a number from %g to %g", a, floats[k].min,
                                       floats[k].max),
                       -1;
            (*i)++;
            return 1;
        }
    long long n;
    if (!strcmp(a, "--top-k") || !strcmp(a, "--repeat-last-n")) {
        if (cli_parse_int(v, 0, INT32_MAX, &n))
            return cli_usage_error(cmd, usage, "%s needs a count", a), -1;
        if (a[2] == 't')
            s->opts.top_k = (int32_t)n;
        else
            s->opts.penalty_last_n = (uint32_t)n;
        (*i)++;
        return 1;
    }
    if (!strcmp(a, "--seed")) {
        char *end;
        errno = 0;
        unsigned long long seed = v && *v && *v != '-' ? strtoull(v, &end, 10) : 0;
        if (!v || !*v || *v == '-' || errno || *end)
            return cli_usage_error(cmd, usage, "--seed needs a non-negative integer"), -1;
        s->opts.seed = seed;
        s->seed_given = 1;
        (*i)++;
        return 1;
    }
    if (!strcmp(a, "--stop")) {
        if (!v || !*v)
            return cli_usage_error(cmd, usage, "--stop needs a non-empty text"), -1;
        if (s->n_stops == CLI_MAX_STOPS)
            return cli_usage_error(cmd, usage, "at most %d --stop strings", CLI_MAX_STOPS), -1;
        s->stops[s->n_stops++] = v;
        (*i)++;
        return 1;
    }
    return 0;
}

void cli_sampling_finish(cli_sampling *s) {
    if (s->seed_given)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->opts.seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
}
