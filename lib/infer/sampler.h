/* SPDX-License-Identifier: Apache-2.0 */
/* The token sampler of a session (docs/sampling.md): logit bias, repetition /
 * presence / frequency penalties over the last N tokens, then greedy, or top-k,
 * top-p, min-p and temperature with a seeded generator. No libm: exponentials are our
 * own expf (the same bits at every SIMD width) and sums run in one fixed order, so one
 * seed gives the same tokens on every machine, SIMD path and thread count (the logits
 * it starts from are bit-identical on all of them). */
#ifndef G2_INFER_SAMPLER_H
#define G2_INFER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"

/* The parameters, as in gemma2_sampler_options (gemma2.h). Saved states hold this struct
 * as it is (docs/format.md): changing it needs a new state version. */
typedef struct g2_sampler_params {
    float temperature;       /* 0: greedy (highest logit, lowest id on ties) */
    int32_t top_k;           /* 0: off */
    float top_p;             /* > 0; >= 1: off */
    float min_p;             /* in [0, 1]; 0: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint32_t penalty_last_n; /* tokens of the history the penalties look at (init
                                caps it at max_history: the window's capacity) */
    uint64_t seed;
} g2_sampler_params;

typedef struct g2_sampler {
    g2_sampler_params p;
    uint32_t vocab;
    gemma2_logit_bias *bias; /* owned copy, n_bias entries */
    uint32_t n_bias;
    uint64_t rng[4];         /* xoshiro256** state, seeded from p.seed by splitmix64 */
    /* scratch, allocated once for the vocabulary: nothing is allocated per token */
    float *work;             /* [vocab] logits after bias and penalties (a draw then
                                overwrites the candidates' entries with their weights) */
    int32_t *cand;           /* [vocab] candidate ids */
    int32_t *window;         /* [min(penalty_last_n, max_history)]: the history window,
                                sorted to count repeats */
} g2_sampler;

/* Checks params (all finite; temperature >= 0; top_p > 0; min_p in [0, 1];
 * repeat_penalty > 0; presence and frequency penalties of either sign; top_k >= 0;
 * vocab in [1, 2^31); bias tokens inside the vocabulary, bias values not NaN or +inf,
 * bias not NULL if n_bias > 0) and sets the sampler up: scratch for the vocabulary,
 * a copy of the bias, the generator seeded. max_history: the longest history it will
 * be given (the session's context); a longer one has only its last max_history
 * tokens penalized. On failure the sampler is left zeroed (safe to free) and the
 * status comes with a message (g2_error): GEMMA2_ERR_INVALID_ARGUMENT,
 * GEMMA2_ERR_OUT_OF_MEMORY. */
gemma2_status g2_sampler_init(g2_sampler *s, const g2_sampler_params *params, const gemma2_logit_bias *bias,
                              uint32_t n_bias, uint32_t vocab, uint32_t max_history);
/* Frees and zeroes; a zeroed sampler (or NULL) is fine. */
void g2_sampler_free(g2_sampler *s);

/* The next token from logits [vocab], with history [n_hist] (the session's tokens,
 * oldest first; the penalties look at its last penalty_last_n, ids outside the
 * vocabulary ignored). Advances the generator by exactly one draw unless greedy or
 * -1. Returns -1 only if nothing can be chosen: every value is -inf or NaN after the
 * bias and penalties (when sampling, +inf too: the candidates are the finite values).
 * Allocates nothing. */
int32_t g2_sampler_sample(g2_sampler *s, const float *logits, const int32_t *history, size_t n_hist);

#endif
