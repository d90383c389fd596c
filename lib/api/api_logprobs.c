/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2_session_top_logprobs: the most likely next tokens by the model's own
 * distribution. Informational, so libm's exp/log are fine here (the sampler, which
 * decides tokens, uses our own expf instead). */
#include <math.h>
#include <stdlib.h>

#include "api/check.h"
#include "runtime/alloc.h"
#include "infer/session.h"

/* a ranks before b: higher logit, then lower id; NaN last. */
static int ranks_before(const float *x, int32_t a, int32_t b) {
    if (isnan(x[a]) || isnan(x[b]))
        return !isnan(x[a]) || (isnan(x[b]) && a < b);
    return x[a] > x[b] || (x[a] == x[b] && a < b);
}

/* Insertion into a sorted array of at most k: fine for the few (k <= 64) wanted
 * per step; more fall back to a full sort. */
#define INSERTION_MAX 64

typedef struct ranked {
    float logit;
    int32_t id;
} ranked;

static int compare_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    const int an = isnan(a->logit), bn = isnan(b->logit);
    if (an != bn)
        return an ? 1 : -1;
    if (!an && a->logit != b->logit)
        return a->logit > b->logit ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

gemma2_status gemma2_session_top_logprobs(const gemma2_session *session, size_t n, int32_t *ids,
                                          float *logprobs, size_t *n_out) {
    g2_error_clear();
    CHECK_ARG(n_out, "gemma2_session_top_logprobs: n_out is NULL");
    *n_out = 0;
    CHECK_ARG(session, "gemma2_session_top_logprobs: session is NULL");
    if (!session->has_logits)
        return g2_error(GEMMA2_ERR_STATE, "no logits yet: feed tokens first");
    const float *x = session->logits;
    const uint32_t vocab = session->model->cfg.vocab_size;
    const size_t k = n < vocab ? n : vocab;
    if (k == 0)
        return GEMMA2_OK;
    int32_t top[INSERTION_MAX];
    ranked *all = NULL;
    if (k > INSERTION_MAX) {
        all = g2_malloc((size_t)vocab * sizeof *all);
        if (!all)
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory ranking %u logits", (unsigned)vocab);
        for (uint32_t i = 0; i < vocab; i++)
            all[i] = (ranked){x[i], (int32_t)i};
        qsort(all, vocab, sizeof *all, compare_ranked);
    } else {
        size_t have = 0;
        for (uint32_t i = 0; i < vocab; i++) {
            if (have == k && !ranks_before(x, (int32_t)i, top[k - 1]))
                continue;
            size_t at = have < k ? have++ : k - 1;
            while (at > 0 && ranks_before(x, (int32_t)i, top[at - 1])) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = (int32_t)i;
        }
    }
    /* log-softmax: l - max - log Σ exp(l - max), in double */
    double max = -INFINITY, sum = 0;
    for (uint32_t i = 0; i < vocab; i++)
        if (x[i] > max)
            max = x[i];
    for (uint32_t i = 0; i < vocab; i++)
        if (!isnan(x[i]))
            sum += exp((double)x[i] - max);
    const double log_sum = log(sum);
    for (size_t i = 0; i < k; i++) {
        const int32_t id = all ? all[i].id : top[i];
        if (ids)
            ids[i] = id;
        if (logprobs)
            logprobs[i] = (float)((double)x[id] - max - log_sum);
    }
    free(all);
    *n_out = k;
    return GEMMA2_OK;
}
