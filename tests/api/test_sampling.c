/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions through the public API: the sampler (greedy default, seeds, set between
 * steps, logit bias, penalties, bad options), top log-probabilities, and cancellation
 * from another thread (mid-prefill, stale requests).
 * usage: test_sampling MODEL */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemma2.h"
#include "testutil.h"

#define PROMPT 24
#define STEPS 16

static gemma2_model *g_model;
static uint32_t g_vocab;
static int32_t g_prompt[PROMPT];

static gemma2_session *new_session(int threads, uint32_t n_ctx, const gemma2_sampler_options *so) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.n_ctx = n_ctx;
    o.sampler = so;
    gemma2_session *s = NULL;
    CHECK_STATUS(gemma2_session_new(g_model, &o, &s), GEMMA2_OK);
    return s;
}

/* Feeds the prompt and steps n times into out; returns the status of the first failure. */
static gemma2_status run(gemma2_session *s, int32_t *out, int n) {
    gemma2_status st = gemma2_session_feed(s, g_prompt, PROMPT);
    for (int i = 0; st == GEMMA2_OK && i < n; i++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        st = gemma2_session_step(s, &r);
        out[i] = r.token;
    }
    return st;
}

static uint32_t argmax(const float *x, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static gemma2_sampler_options sampled(uint64_t seed) {
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    so.temperature = 1.5f;
    so.top_k = 40;
    so.top_p = 0.95f;
    so.seed = seed;
    return so;
}

static void test_greedy_default(void) {
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    CHECK(so.temperature == 0 && so.top_k == 0 && so.top_p == 1 && so.min_p == 0 && so.repeat_penalty == 1 &&
              so.penalty_last_n == 64 && so.n_logit_bias == 0 && so.logit_bias == NULL,
          "sampler defaults");
    gemma2_session *s = new_session(1, 128, NULL);
    CHECK_STATUS(gemma2_session_feed(s, g_prompt, PROMPT), GEMMA2_OK);
    for (int i = 0; i < 4; i++) {
        const float *logits;
        size_t nv;
        CHECK_STATUS(gemma2_session_logits(s, &logits, &nv), GEMMA2_OK);
        const int32_t want = (int32_t)argmax(logits, (uint32_t)nv);
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
        CHECK(r.token == want, "greedy step %d: %d, argmax %d", i, (int)r.token, (int)want);
    }
    gemma2_session_free(s);
}

static void test_seeds(void) {
    int32_t a[STEPS], b[STEPS], c[STEPS], d[STEPS], greedy[STEPS];
    gemma2_sampler_options so = sampled(42);
    gemma2_session *s1 = new_session(1, 128, &so), *s2 = new_session(2, 128, &so);
    CHECK_STATUS(run(s1, a, STEPS), GEMMA2_OK);
    CHECK_STATUS(run(s2, b, STEPS), GEMMA2_OK);
    CHECK(!memcmp(a, b, sizeof a), "the same seed with 1 and 2 threads gives different tokens");
    /* reset does not reseed; set_sampler does: the same tokens again */
    CHECK_STATUS(gemma2_session_reset(s1), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_set_sampler(s1, &so), GEMMA2_OK);
    CHECK_STATUS(run(s1, c, STEPS), GEMMA2_OK);
    CHECK(!memcmp(a, c, sizeof a), "set_sampler did not reseed");
    so.seed = 43;
    CHECK_STATUS(gemma2_session_reset(s2), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_set_sampler(s2, &so), GEMMA2_OK);
    CHECK_STATUS(run(s2, d, STEPS), GEMMA2_OK);
    CHECK(memcmp(a, d, sizeof a) != 0, "seeds 42 and 43 gave the same %d tokens", STEPS);
    /* back to greedy between steps */
    CHECK_STATUS(gemma2_session_reset(s2), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_set_sampler(s2, NULL), GEMMA2_OK);
    CHECK_STATUS(run(s2, greedy, STEPS), GEMMA2_OK);
    gemma2_session *g = new_session(1, 128, NULL);
    CHECK_STATUS(run(g, d, STEPS), GEMMA2_OK);
    CHECK(!memcmp(greedy, d, sizeof d), "set_sampler(NULL) is not greedy");
    CHECK(memcmp(a, greedy, sizeof a) != 0, "the sampled tokens equal the greedy ones");
    gemma2_session_free(g);
    gemma2_session_free(s1);
    gemma2_session_free(s2);
}

static void test_bias_and_penalties(void) {
    gemma2_session *s = new_session(1, 128, NULL);
    CHECK_STATUS(gemma2_session_feed(s, g_prompt, PROMPT), GEMMA2_OK);
    const float *logits;
    size_t nv;
    CHECK_STATUS(gemma2_session_logits(s, &logits, &nv), GEMMA2_OK);
    float *copy = malloc(nv * sizeof *copy);
    memcpy(copy, logits, nv * sizeof *copy);
    const int32_t top = (int32_t)argmax(copy, (uint32_t)nv);
    copy[top] = -INFINITY;
    const int32_t second = (int32_t)argmax(copy, (uint32_t)nv);
    free(copy);
    gemma2_logit_bias ban = {top, -INFINITY}, push = {7, 1000.0f};
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    so.logit_bias = &ban;
    so.n_logit_bias = 1;
    CHECK_STATUS(gemma2_session_set_sampler(s, &so), GEMMA2_OK);
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    uint32_t pos0;
    gemma2_session_position(s, &pos0);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    CHECK(r.token == second, "banning %d gave %d, not the runner-up %d", (int)top, (int)r.token, (int)second);
    so.logit_bias = &push;
    CHECK_STATUS(gemma2_session_set_sampler(s, &so), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    CHECK(r.token == 7, "a +1000 bias on 7 gave %d", (int)r.token);
    /* every token banned: a state error, nothing fed */
    gemma2_logit_bias *all = malloc(g_vocab * sizeof *all);
    for (uint32_t i = 0; i < g_vocab; i++)
        all[i] = (gemma2_logit_bias){(int32_t)i, -INFINITY};
    so.logit_bias = all;
    so.n_logit_bias = g_vocab;
    CHECK_STATUS(gemma2_session_set_sampler(s, &so), GEMMA2_OK);
    uint32_t pos1, pos2;
    gemma2_session_position(s, &pos1);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_ERR_STATE);
    gemma2_session_position(s, &pos2);
    CHECK(pos1 == pos0 + 2 && pos2 == pos1, "positions %u %u %u", pos0, pos1, pos2);
    free(all);
    /* strong penalties: greedy never repeats a token of the window (prompt included) */
    gemma2_sampler_options_init(&so, sizeof so);
    so.repeat_penalty = 1e6f;
    so.presence_penalty = 1e6f;
    so.penalty_last_n = 1000;
    CHECK_STATUS(gemma2_session_reset(s), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_set_sampler(s, &so), GEMMA2_OK);
    int32_t out[STEPS];
    CHECK_STATUS(run(s, out, STEPS), GEMMA2_OK);
    for (int i = 0; i < STEPS; i++) {
        for (int j = 0; j < PROMPT; j++)
            CHECK(out[i] != g_prompt[j], "step %d repeats prompt token %d", i, (int)out[i]);
        for (int j = 0; j < i; j++)
            CHECK(out[i] != out[j], "step %d repeats token %d of step %d", i, (int)out[i], j);
    }
    gemma2_session_free(s);
}

static void test_bad_options(void) {
    gemma2_session *s = new_session(1, 64, NULL);
    gemma2_logit_bias outside = {(int32_t)g_vocab, 1.0f}, nan_bias = {3, NAN};
    for (int k = 0; k < 9; k++) {
        gemma2_sampler_options so;
        gemma2_sampler_options_init(&so, sizeof so);
        switch (k) {
        case 0: so.temperature = -1; break;
        case 1: so.temperature = NAN; break;
        case 2: so.top_p = NAN; break;
        case 3: so.top_k = -1; break;
        case 4: so.repeat_penalty = 0; break;
        case 5: so.logit_bias = &outside, so.n_logit_bias = 1; break;
        case 6: so.logit_bias = &nan_bias, so.n_logit_bias = 1; break;
        case 7: so.n_logit_bias = 1; break; /* NULL array */
        case 8: so.min_p = 2; break;
        }
        CHECK_STATUS(gemma2_session_set_sampler(s, &so), GEMMA2_ERR_INVALID_ARGUMENT);
        gemma2_session_options o;
        gemma2_session_options_init(&o, sizeof o);
        o.sampler = &so;
        gemma2_session *t = (gemma2_session *)1;
        CHECK_STATUS(gemma2_session_new(g_model, &o, &t), GEMMA2_ERR_INVALID_ARGUMENT);
        CHECK(t == NULL, "case %d: *out not cleared", k);
    }
    CHECK_STATUS(gemma2_session_set_sampler(NULL, NULL), GEMMA2_ERR_INVALID_ARGUMENT);
    /* the failed calls left the greedy sampler in place */
    CHECK_STATUS(gemma2_session_feed(s, g_prompt, PROMPT), GEMMA2_OK);
    const float *logits;
    size_t nv;
    gemma2_session_logits(s, &logits, &nv);
    const int32_t want = (int32_t)argmax(logits, (uint32_t)nv);
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    CHECK(r.token == want, "after failed set_sampler calls: %d, argmax %d", (int)r.token, (int)want);
    gemma2_session_free(s);
}

static void test_logprobs(void) {
    gemma2_session *s = new_session(1, 64, NULL);
    int32_t ids[8];
    float lp[8];
    size_t n = 99;
    CHECK_STATUS(gemma2_session_top_logprobs(s, 8, ids, lp, &n), GEMMA2_ERR_STATE);
    CHECK(n == 0, "n_out not cleared");
    CHECK_STATUS(gemma2_session_top_logprobs(NULL, 8, ids, lp, &n), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_feed(s, g_prompt, PROMPT), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_top_logprobs(s, 8, ids, lp, &n), GEMMA2_OK);
    const float *logits;
    size_t nv;
    gemma2_session_logits(s, &logits, &nv);
    CHECK(n == 8 && ids[0] == (int32_t)argmax(logits, (uint32_t)nv), "top id %d", (int)ids[0]);
    for (size_t i = 0; i < n; i++) {
        CHECK(lp[i] <= 0 && (i == 0 || lp[i] <= lp[i - 1]), "logprob %zu: %g", i, lp[i]);
        /* differences of log-probabilities are differences of logits */
        CHECK(fabsf((lp[i] - lp[0]) - (logits[ids[i]] - logits[ids[0]])) < 1e-4f, "logprob %zu", i);
    }
    /* the whole distribution sums to 1, and the large path agrees with the small one */
    int32_t *all_ids = malloc(nv * sizeof *all_ids);
    float *all_lp = malloc(nv * sizeof *all_lp);
    CHECK_STATUS(gemma2_session_top_logprobs(s, nv + 5, all_ids, all_lp, &n), GEMMA2_OK);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += exp(all_lp[i]);
    CHECK(n == nv && fabs(sum - 1) < 1e-4, "%zu logprobs sum to %.6f", n, sum);
    CHECK(!memcmp(all_ids, ids, sizeof ids) && !memcmp(all_lp, lp, sizeof lp), "full and top-8 orders differ");
    free(all_ids);
    free(all_lp);
    CHECK_STATUS(gemma2_session_top_logprobs(s, 0, NULL, NULL, &n), GEMMA2_OK);
    CHECK(n == 0, "n = 0 gave %zu", n);
    gemma2_session_free(s);
}

typedef struct canceller {
    gemma2_session *s;
    double delay; /* seconds before the requests start */
    atomic_int stop;
} canceller;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *cancel_loop(void *p) {
    canceller *c = p;
    const double until = now() + c->delay;
    while (!atomic_load(&c->stop) && now() < until)
        ;
    const struct timespec pause = {0, 20000};
    while (!atomic_load(&c->stop)) {
        gemma2_session_cancel(c->s);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_cancel(void) {
    gemma2_session_cancel(NULL);
    const uint32_t n_ctx = gemma2_model_context_length(g_model) < 512 ? gemma2_model_context_length(g_model) : 512;
    int32_t *prompt = malloc(n_ctx * sizeof *prompt);
    for (uint32_t i = 0; i < n_ctx; i++)
        prompt[i] = (int32_t)((i * 7919u + 13u) % g_vocab);
    gemma2_session *ref = new_session(2, n_ctx, NULL), *s = new_session(2, n_ctx, NULL);
    CHECK_STATUS(gemma2_session_feed(ref, prompt, 8), GEMMA2_OK);
    const float *want, *got;
    size_t nv;
    /* a stale request is dropped by the next call */
    gemma2_session_cancel(s);
    CHECK_STATUS(gemma2_session_feed(s, prompt, 8), GEMMA2_OK);
    /* how long the long feed takes uncancelled, so that requests can start at several
     * points of it (several chunks of 64 tokens: a later chunk must roll back too) */
    gemma2_session *timing = new_session(2, n_ctx, NULL);
    double t0 = now();
    CHECK_STATUS(gemma2_session_feed(timing, prompt, n_ctx), GEMMA2_OK);
    const double full = now() - t0;
    gemma2_session_free(timing);
    int cancelled = 0;
    for (int attempt = 0; attempt < 24; attempt++) {
        canceller c = {.s = s, .delay = full * (attempt % 8) / 8};
        pthread_t t;
        pthread_create(&t, NULL, cancel_loop, &c);
        gemma2_status st = gemma2_session_feed(s, prompt + 8, n_ctx - 8);
        atomic_store(&c.stop, 1);
        pthread_join(t, NULL);
        uint32_t pos = 0;
        gemma2_session_position(s, &pos);
        if (st == GEMMA2_ERR_CANCELLED) {
            cancelled++;
            CHECK(pos == 8, "a feed cancelled after %.0f%% of its time moved the position to %u",
                  100.0 * (attempt % 8) / 8, pos);
            gemma2_session_logits(s, &got, &nv);
            gemma2_session_logits(ref, &want, &nv);
            CHECK(!memcmp(got, want, nv * sizeof *got), "logits changed by a cancelled feed");
        } else {
            CHECK_STATUS(st, GEMMA2_OK); /* it finished first: start over */
            CHECK(pos == n_ctx, "position %u", pos);
            CHECK_STATUS(gemma2_session_reset(s), GEMMA2_OK);
            CHECK_STATUS(gemma2_session_feed(s, prompt, 8), GEMMA2_OK);
        }
    }
    CHECK(cancelled >= 3, "only %d of 24 feeds of %u tokens were cancelled", cancelled, n_ctx - 8);
    /* the session is usable and exact: the rest fed now gives the uncancelled logits */
    CHECK_STATUS(gemma2_session_feed(s, prompt + 8, n_ctx - 9), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(ref, prompt + 8, n_ctx - 9), GEMMA2_OK);
    gemma2_session_logits(s, &got, &nv);
    gemma2_session_logits(ref, &want, &nv);
    CHECK(!memcmp(got, want, nv * sizeof *got), "logits after a cancelled feed differ");
    gemma2_session_free(ref);
    gemma2_session_free(s);
    free(prompt);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_sampling MODEL\n");
        return 2;
    }
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &g_model), GEMMA2_OK);
    if (!g_model)
        return 1;
    g_vocab = gemma2_model_vocab_size(g_model);
    for (int i = 0; i < PROMPT; i++)
        g_prompt[i] = (int32_t)((i * 31u + 5u) % g_vocab);
    test_greedy_default();
    test_seeds();
    test_bias_and_penalties();
    test_bad_options();
    test_logprobs();
    test_cancel();
    gemma2_model_close(g_model);
    return tu_finish("test_sampling");
}
