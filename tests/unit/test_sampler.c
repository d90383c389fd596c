/* SPDX-License-Identifier: Apache-2.0 */
/* Token sampler (lib/infer/sampler.h): the generator against published and
 * independently computed outputs; greedy, logit bias and penalties against hand-worked
 * values; the sets top-k, top-p and min-p keep; the draw's frequencies; parameter
 * checks. The 256k-vocabulary cases are compared token for token with a full-sort
 * reference written here (qsort, no shortcuts), driven by its own copy of the
 * generator, so the sampler's partial sorts must give exactly what a full sort gives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/sampler.h"
#include "tensor/ops.h"
#include "testutil.h"

/* ---- reference generator: splitmix64 seeding xoshiro256**, from the papers ---- */

typedef struct ref_rng {
    uint64_t s[4];
} ref_rng;

static uint64_t ref_splitmix64(uint64_t *state) {
    *state += 0x9e3779b97f4a7c15u;
    uint64_t z = *state;
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9u;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void ref_seed(ref_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = ref_splitmix64(&seed);
}

static uint64_t ref_next(ref_rng *r) {
    uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    uint64_t x = s1 * 5;
    const uint64_t result = ((x << 7) | (x >> 57)) * 9;
    s2 ^= s0;
    s3 ^= s1;
    r->s[1] = s1 ^ s2;
    r->s[0] = s0 ^ s3;
    r->s[2] = s2 ^ (s1 << 17);
    r->s[3] = (s3 << 45) | (s3 >> 19);
    return result;
}

/* ---- helpers ---- */

static uint32_t lcg(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return *x;
}

static float lcg_unit(uint32_t *x) { return (float)(lcg(x) >> 8) * 0x1p-24f; } /* [0, 1) */

static g2_sampler_params params(float temperature, uint64_t seed) {
    return (g2_sampler_params){.temperature = temperature,
                               .top_p = 1.0f,
                               .repeat_penalty = 1.0f,
                               .penalty_last_n = 64,
                               .seed = seed};
}

static int is_zeroed(const g2_sampler *s) {
    static const g2_sampler zero;
    return memcmp(s, &zero, sizeof zero) == 0;
}

static int init(g2_sampler *s, const g2_sampler_params *p, const gemma2_logit_bias *bias, uint32_t n_bias,
                uint32_t vocab) {
    gemma2_status st = g2_sampler_init(s, p, bias, n_bias, vocab, 4096);
    CHECK(st == GEMMA2_OK, "init (vocab %u): %d %s", (unsigned)vocab, (int)st, gemma2_last_error());
    return st == GEMMA2_OK;
}

/* Draws n tokens into counts[vocab]; returns how many were outside [0, vocab). */
static int draw_counts(g2_sampler *s, const float *logits, int n, long *counts) {
    const uint32_t vocab = s->vocab;
    memset(counts, 0, vocab * sizeof *counts);
    int outside = 0;
    for (int i = 0; i < n; i++) {
        const int32_t t = g2_sampler_sample(s, logits, NULL, 0);
        if (t < 0 || (uint32_t)t >= vocab)
            outside++;
        else
            counts[t]++;
    }
    return outside;
}

/* n draws from (p, logits) reach exactly the ids where want[id] is set. */
static void check_reachable(const char *what, const g2_sampler_params *p, const float *logits, uint32_t vocab,
                            const int *want, int n) {
    g2_sampler s;
    if (!init(&s, p, NULL, 0, vocab))
        return;
    long *counts = malloc(vocab * sizeof *counts);
    CHECK(draw_counts(&s, logits, n, counts) == 0, "%s: a draw outside the vocabulary", what);
    for (uint32_t i = 0; i < vocab; i++)
        CHECK((counts[i] > 0) == (want[i] != 0), "%s: token %u drawn %ld times, expected %s", what,
              (unsigned)i, counts[i], want[i] ? "some" : "none");
    free(counts);
    g2_sampler_free(&s);
}

/* ---- generator ---- */

static void test_generator(void) {
    /* splitmix64 from state 0 (the first is the usual published check value; all four
     * were also computed independently, with Python integers) */
    static const uint64_t sm0[4] = {0xe220a8397b1dcdafu, 0x6e789e6aa1b965f4u, 0x06c45d188009454fu,
                                    0xf88bb8a8724c81ecu};
    /* xoshiro256** from that state, computed independently (Python integers) */
    static const uint64_t xo0[4] = {0x99ec5f36cb75f2b4u, 0xbf6e1f784956452au, 0x1a5f849d4933e6e0u,
                                    0x6aa594f1262d2d2cu};
    ref_rng r;
    ref_seed(&r, 0);
    for (int i = 0; i < 4; i++)
        CHECK(r.s[i] == sm0[i], "reference splitmix64 output %d", i);
    for (int i = 0; i < 4; i++)
        CHECK(ref_next(&r) == xo0[i], "reference xoshiro256** output %d", i);

    /* With vocab 2^16 and equal logits every weight is 1, target = u * 2^16 and the
     * walk stops at floor(target): the token is the output's top 16 bits. */
    const uint32_t V = 65536;
    float *zero = calloc(V, sizeof *zero);
    g2_sampler_params p = params(1.0f, 0);
    g2_sampler s;
    CHECK(g2_expf(0.0f) == 1.0f, "g2_expf(0) = %a", (double)g2_expf(0.0f));
    if (init(&s, &p, NULL, 0, V)) {
        for (int i = 0; i < 4; i++)
            CHECK(s.rng[i] == sm0[i], "state word %d seeded by splitmix64", i);
        for (int i = 0; i < 4; i++) {
            const int32_t t = g2_sampler_sample(&s, zero, NULL, 0);
            CHECK(t == (int32_t)(xo0[i] >> 48), "seed 0 draw %d: %d, expected %d", i, (int)t,
                  (int)(xo0[i] >> 48));
        }
        ref_seed(&r, 0);
        for (int i = 0; i < 4; i++)
            ref_next(&r);
        int same = 1;
        for (int i = 0; i < 300; i++)
            same &= g2_sampler_sample(&s, zero, NULL, 0) == (int32_t)(ref_next(&r) >> 48);
        CHECK(same, "300 further draws follow the reference generator, one output each");
        g2_sampler_free(&s);
    }
    free(zero);

    /* same seed, same tokens; another seed, other tokens */
    enum { N = 1000, DRAWS = 200 };
    static float logits[N];
    uint32_t x = 99;
    for (int i = 0; i < N; i++)
        logits[i] = lcg_unit(&x) * 2.0f;
    int32_t seq[3][DRAWS];
    const uint64_t seeds[3] = {42, 42, 43};
    for (int k = 0; k < 3; k++) {
        p = params(1.0f, seeds[k]);
        if (!init(&s, &p, NULL, 0, N))
            return;
        for (int i = 0; i < DRAWS; i++)
            seq[k][i] = g2_sampler_sample(&s, logits, NULL, 0);
        g2_sampler_free(&s);
    }
    CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0, "same seed, same sequence");
    CHECK(memcmp(seq[0], seq[2], sizeof seq[0]) != 0, "different seeds, different sequences");
}

/* ---- greedy and logit bias ---- */

static int32_t greedy_with(const float *logits, uint32_t vocab, const gemma2_logit_bias *bias,
                           uint32_t n_bias) {
    g2_sampler s;
    g2_sampler_params p = params(0.0f, 1);
    if (!init(&s, &p, bias, n_bias, vocab))
        return -2;
    const int32_t t = g2_sampler_sample(&s, logits, NULL, 0);
    g2_sampler_free(&s);
    return t;
}

static void test_greedy(void) {
    const float l[8] = {1, 5, NAN, 5, -2, 3, NAN, 0};
    CHECK(greedy_with(l, 8, NULL, 0) == 1, "argmax, lowest id on ties: %d", (int)greedy_with(l, 8, NULL, 0));
    const float nan_first[3] = {NAN, 1, 2};
    CHECK(greedy_with(nan_first, 3, NULL, 0) == 2, "NaN never wins");
    const float inf[4] = {1, -INFINITY, INFINITY, 2};
    CHECK(greedy_with(inf, 4, NULL, 0) == 2, "+inf is the highest value");
    const float none[3] = {-INFINITY, NAN, -INFINITY};
    CHECK(greedy_with(none, 3, NULL, 0) == -1, "all -inf or NaN: -1");
    const float neg[3] = {-INFINITY, -1e30f, -INFINITY};
    CHECK(greedy_with(neg, 3, NULL, 0) == 1, "a finite value beats -inf");

    const gemma2_logit_bias up = {4, 10.0f}, ban = {1, -INFINITY}, ban3 = {3, -INFINITY};
    CHECK(greedy_with(l, 8, &up, 1) == 4, "a bias shifts the choice");
    CHECK(greedy_with(l, 8, &ban, 1) == 3, "-inf bans the top token; its tie partner wins");
    const gemma2_logit_bias both[2] = {ban, ban3};
    CHECK(greedy_with(l, 8, both, 2) == 5, "two bans");
    const gemma2_logit_bias once[1] = {{7, 3.0f}}, twice[2] = {{7, 3.0f}, {7, 3.0f}};
    CHECK(greedy_with(l, 8, once, 1) == 1 && greedy_with(l, 8, twice, 2) == 7, "repeated entries add up");
    const gemma2_logit_bias ban_then_up[2] = {{1, -INFINITY}, {1, 100.0f}};
    CHECK(greedy_with(l, 8, ban_then_up, 2) == 3, "a ban stays a ban");
    const float two[2] = {0, 1};
    const gemma2_logit_bias ban_all[2] = {{0, -INFINITY}, {1, -INFINITY}};
    CHECK(greedy_with(two, 2, ban_all, 2) == -1, "everything banned: -1");

    /* the bias array is copied */
    gemma2_logit_bias mine = {0, 5.0f};
    g2_sampler s;
    g2_sampler_params p = params(0.0f, 1);
    if (init(&s, &p, &mine, 1, 2)) {
        mine.token = 1;
        mine.bias = -100.0f;
        CHECK(g2_sampler_sample(&s, two, NULL, 0) == 0, "the sampler keeps its own copy of the bias");
        g2_sampler_free(&s);
    }
}

/* Greedy calls and empty candidate sets draw nothing: the tokens sampled afterwards
 * are those of a fresh sampler. */
static void test_no_draw(void) {
    enum { N = 50, DRAWS = 100 };
    float logits[N], dead[N];
    uint32_t x = 5;
    for (int i = 0; i < N; i++) {
        logits[i] = lcg_unit(&x) * 3.0f;
        dead[i] = i % 2 ? -INFINITY : NAN;
    }
    g2_sampler_params pg = params(0.0f, 7), ps = params(1.0f, 7);
    g2_sampler greedy, sampled, fresh;
    if (!init(&greedy, &pg, NULL, 0, N) || !init(&sampled, &ps, NULL, 0, N) || !init(&fresh, &ps, NULL, 0, N))
        return;
    uint64_t before[4];
    memcpy(before, greedy.rng, sizeof before);
    for (int i = 0; i < 10; i++)
        g2_sampler_sample(&greedy, logits, NULL, 0);
    CHECK(memcmp(before, greedy.rng, sizeof before) == 0, "greedy leaves the generator alone");
    greedy.p.temperature = 1.0f; /* as if the session switched to sampling */
    for (int i = 0; i < 3; i++)
        CHECK(g2_sampler_sample(&sampled, dead, NULL, 0) == -1, "no candidate: -1");
    int same_g = 1, same_s = 1;
    for (int i = 0; i < DRAWS; i++) {
        const int32_t t = g2_sampler_sample(&fresh, logits, NULL, 0);
        same_g &= g2_sampler_sample(&greedy, logits, NULL, 0) == t;
        same_s &= g2_sampler_sample(&sampled, logits, NULL, 0) == t;
    }
    CHECK(same_g, "after greedy calls the draws are a fresh sampler's");
    CHECK(same_s, "after -1 results the draws are a fresh sampler's");
    g2_sampler_free(&greedy);
    g2_sampler_free(&sampled);
    g2_sampler_free(&fresh);
}

static int32_t argmax(const float *l, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (l[i] > l[best])
            best = i;
    return (int32_t)best;
}

/* ---- penalties: s.work after a greedy call holds the adjusted logits ---- */

static const float pen_logits[8] = {2, 3, -1, 4, 0, 1.5f, -3, 6};

static void check_penalty(const char *what, g2_sampler_params p, uint32_t max_history, const int32_t *hist,
                          size_t n_hist, const float *want, int32_t want_token) {
    g2_sampler s;
    p.temperature = 0.0f;
    gemma2_status st = g2_sampler_init(&s, &p, NULL, 0, 8, max_history);
    CHECK(st == GEMMA2_OK, "%s: init %d", what, (int)st);
    if (st != GEMMA2_OK)
        return;
    const int32_t t = g2_sampler_sample(&s, pen_logits, hist, n_hist);
    for (int i = 0; i < 8; i++)
        CHECK(s.work[i] == want[i], "%s: token %d: %g, expected %g", what, i, (double)s.work[i],
              (double)want[i]);
    CHECK(t == want_token, "%s: chose %d, expected %d", what, (int)t, (int)want_token);
    g2_sampler_free(&s);
}

static void test_penalties(void) {
    g2_sampler_params p = params(0.0f, 1);
    const int32_t h1[] = {1, 2, 4, 1, 6};
    p.repeat_penalty = 2.0f;
    check_penalty("repeat: divide positive, multiply the rest, once per token", p, 64, h1, 5,
                  (const float[8]){2, 1.5f, -2, 4, 0, 1.5f, -6, 6}, 7);

    p = params(0.0f, 1);
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    const int32_t h2[] = {3, 3, 3, 5, 0};
    check_penalty("presence + count * frequency", p, 64, h2, 5,
                  (const float[8]){1.25f, 3, -1, 2.75f, 0, 0.75f, -3, 6}, 7);

    p = params(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 1.0f;
    p.frequency_penalty = 0.5f;
    const int32_t h3[] = {7, 7, 2};
    check_penalty("repeat, then presence and frequency", p, 64, h3, 3,
                  (const float[8]){2, 3, -3.5f, 4, 0, 1.5f, -3, 1}, 3);

    p = params(0.0f, 1);
    p.repeat_penalty = 3.0f;
    const int32_t h4[] = {7};
    check_penalty("a penalty changes the greedy choice", p, 64, h4, 1,
                  (const float[8]){2, 3, -1, 4, 0, 1.5f, -3, 2}, 3);

    /* the window: only the last penalty_last_n tokens count */
    p = params(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 3;
    const int32_t h5[] = {7, 7, 7, 1, 2, 3};
    const float last3[8] = {2, 1.5f, -2, 2, 0, 1.5f, -3, 6};
    check_penalty("penalty_last_n = 3", p, 64, h5, 6, last3, 7);
    p.penalty_last_n = 10;
    check_penalty("history shorter than the window", p, 64, h5 + 5, 1,
                  (const float[8]){2, 3, -1, 2, 0, 1.5f, -3, 6}, 7);
    p.penalty_last_n = 64;
    check_penalty("window capped by max_history (3)", p, 3, h5, 6, last3, 7);
    p.penalty_last_n = 0;
    check_penalty("penalty_last_n = 0", p, 64, h5, 6, pen_logits, 7);
    p.penalty_last_n = 64;
    check_penalty("max_history = 0", p, 0, h5, 6, pen_logits, 7);
    check_penalty("no history", p, 64, NULL, 0, pen_logits, 7);

    /* ids outside the vocabulary are skipped (ASan would see a stray access) */
    p = params(0.0f, 1);
    p.presence_penalty = 1.0f;
    const int32_t h6[] = {-1, 8, INT32_MAX, INT32_MIN, 3, 1000, -8};
    check_penalty("out-of-range ids ignored", p, 64, h6, 7, (const float[8]){2, 3, -1, 3, 0, 1.5f, -3, 6}, 7);

    /* long histories full of repeats, against plain counting */
    enum { V = 16, H = 200 };
    float l16[V], want[V];
    int32_t hist[H];
    uint32_t x = 3;
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        const int n_hist = 1 + (int)(lcg(&x) % H), last = 1 + (int)(lcg(&x) % H);
        for (int i = 0; i < V; i++)
            l16[i] = (lcg_unit(&x) - 0.5f) * 8.0f;
        for (int i = 0; i < n_hist; i++)
            hist[i] = i % 13 == 0 ? (i % 2 ? 99 : -5) : (int32_t)(lcg(&x) >> (trial % 2 ? 28 : 29));
        p = params(0.0f, 1);
        p.repeat_penalty = 1.25f;
        p.presence_penalty = 0.375f;
        p.frequency_penalty = 0.125f;
        p.penalty_last_n = (uint32_t)last;
        memcpy(want, l16, sizeof want);
        for (int t = 0; t < V; t++) {
            int count = 0;
            for (int i = n_hist > last ? n_hist - last : 0; i < n_hist; i++)
                count += hist[i] == t;
            if (count) {
                want[t] = want[t] > 0 ? want[t] / 1.25f : want[t] * 1.25f;
                want[t] -= (float)count * 0.125f + 0.375f;
            }
        }
        g2_sampler s;
        if (!init(&s, &p, NULL, 0, V))
            break;
        bad += g2_sampler_sample(&s, l16, hist, (size_t)n_hist) != argmax(want, V);
        bad += memcmp(s.work, want, sizeof want) != 0;
        g2_sampler_free(&s);
    }
    CHECK(bad == 0, "long histories: %d mismatches with plain counting", bad);

    p = params(0.0f, 1);
    check_penalty("penalties off", p, 64, h1, 5, pen_logits, 7);
    p.presence_penalty = -1.0f; /* negative penalties encourage */
    check_penalty("negative presence penalty", p, 64, h1, 5, (const float[8]){2, 4, 0, 4, 1, 1.5f, -2, 6}, 7);
}

/* ---- top-k, top-p, min-p ---- */

static void test_top_k(void) {
    enum { N = 1000 };
    static float l[N];
    uint32_t x = 11;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++)
            l[i] = lcg_unit(&x) * 4.0f;
        if (round % 2) { /* a tie at the top: the lower id */
            const int32_t a = argmax(l, N), b = (int32_t)(lcg(&x) % N);
            l[b] = l[a];
        }
        g2_sampler s;
        g2_sampler_params p = params(round % 3 ? 1.0f : 0.3f, (uint64_t)round);
        p.top_k = 1;
        if (!init(&s, &p, NULL, 0, N))
            return;
        for (int i = 0; i < 5; i++) {
            const int32_t t = g2_sampler_sample(&s, l, NULL, 0);
            CHECK(t == argmax(l, N), "top_k 1 is greedy: round %d: %d vs %d", round, (int)t,
                  (int)argmax(l, N));
        }
        g2_sampler_free(&s);
    }

    /* exactly the k highest: distinct values, then many ties (lower ids first) */
    enum { V = 100 };
    float lv[V];
    int want[V];
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < V; i++)
            lv[i] = kind ? (float)(lcg(&x) % 8) * 0.125f : lcg_unit(&x);
        memset(want, 0, sizeof want);
        for (int kept = 0; kept < 5; kept++) { /* the best not yet taken, lowest id on ties */
            int best = -1;
            for (int i = 0; i < V; i++)
                if (!want[i] && (best < 0 || lv[i] > lv[best]))
                    best = i;
            want[best] = 1;
        }
        g2_sampler_params p = params(1.0f, 3);
        p.top_k = 5;
        check_reachable(kind ? "top_k 5 with ties" : "top_k 5", &p, lv, V, want, 3000);
    }

    /* top_k >= the candidates is off: the same draws as without */
    g2_sampler a, b;
    g2_sampler_params pa = params(1.0f, 9), pb = params(1.0f, 9);
    pb.top_k = V;
    if (init(&a, &pa, NULL, 0, V) && init(&b, &pb, NULL, 0, V)) {
        int same = 1;
        for (int i = 0; i < 200; i++)
            same &= g2_sampler_sample(&a, lv, NULL, 0) == g2_sampler_sample(&b, lv, NULL, 0);
        CHECK(same, "top_k = vocab changes nothing");
    }
    g2_sampler_free(&a);
    g2_sampler_free(&b);
}

static void test_top_p(void) {
    /* probabilities by id: 0.1, 0.4, 0.2, 0.3; sorted: 1 (0.4), 3 (0.7), 2 (0.9), 0 (1) */
    const float l[4] = {logf(0.1f), logf(0.4f), logf(0.2f), logf(0.3f)};
    const struct {
        float top_p;
        int want[4];
    } cases[] = {{0.3f, {0, 1, 0, 0}},  {0.65f, {0, 1, 0, 1}}, {0.75f, {0, 1, 1, 1}},
                 {0.95f, {1, 1, 1, 1}}, {1.0f, {1, 1, 1, 1}},  {7.0f, {1, 1, 1, 1}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        g2_sampler_params p = params(1.0f, 100 + i);
        p.top_p = cases[i].top_p;
        char what[64];
        snprintf(what, sizeof what, "top_p %g", (double)cases[i].top_p);
        check_reachable(what, &p, l, 4, cases[i].want, 3000);
    }
    /* equal logits: lower ids first; the mass is reached at exactly 0.5 */
    const float flat[4] = {0, 0, 0, 0};
    g2_sampler_params p = params(1.0f, 1);
    p.top_p = 0.5f;
    check_reachable("top_p 0.5, ties", &p, flat, 4, (const int[4]){1, 1, 0, 0}, 2000);
    p.top_p = 0.51f;
    check_reachable("top_p 0.51, ties", &p, flat, 4, (const int[4]){1, 1, 1, 0}, 2000);
    p.top_p = 1e-30f;
    check_reachable("top_p tiny keeps one", &p, flat, 4, (const int[4]){1, 0, 0, 0}, 500);
    /* after top-k */
    p = params(1.0f, 2);
    p.top_k = 3;
    p.top_p = 0.8f; /* of 1, 3, 2 (0.4, 0.3, 0.2 of 0.9): 0.44, 0.78, 1 */
    check_reachable("top_k 3 then top_p 0.8", &p, l, 4, (const int[4]){0, 1, 1, 1}, 3000);
}

static void test_min_p(void) {
    /* relative to the best (id 1): e^-1 0.37, 1, e^-2 0.14, e^-3 0.05, e^-0.5 0.61 */
    const float l[5] = {-1, 0, -2, -3, -0.5f};
    const struct {
        float min_p;
        int want[5];
    } cases[] = {
        {0.04f, {1, 1, 1, 1, 1}}, {0.1f, {1, 1, 1, 0, 1}}, {0.5f, {0, 1, 0, 0, 1}}, {1.0f, {0, 1, 0, 0, 0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        g2_sampler_params p = params(1.0f, 200 + i);
        p.min_p = cases[i].min_p;
        char what[64];
        snprintf(what, sizeof what, "min_p %g", (double)cases[i].min_p);
        check_reachable(what, &p, l, 5, cases[i].want, 4000);
    }
    /* +inf is no sampling candidate (only finite values are; greedy would take it) */
    const float inf[3] = {0, INFINITY, 0.5f};
    g2_sampler_params pi = params(1.0f, 4);
    check_reachable("+inf not drawn", &pi, inf, 3, (const int[3]){1, 0, 1}, 1000);
    const float tie[3] = {1, 0, 1};
    g2_sampler_params p = params(1.0f, 3);
    p.min_p = 1.0f;
    check_reachable("min_p 1 keeps every maximum", &p, tie, 3, (const int[3]){1, 0, 1}, 1000);
}

/* ---- frequencies ---- */

static void test_statistics(void) {
    const double prob[4] = {0.1, 0.2, 0.3, 0.4};
    float l[4];
    for (int i = 0; i < 4; i++)
        l[i] = (float)log(prob[i]) + 3.0f;
    const float temps[3] = {1.0f, 0.5f, 2.0f};
    enum { DRAWS = 20000 };
    for (int k = 0; k < 3; k++) {
        double q[4], z = 0;
        for (int i = 0; i < 4; i++)
            z += q[i] = exp((double)l[i] / temps[k]);
        g2_sampler s;
        g2_sampler_params p = params(temps[k], 1234 + (uint64_t)k);
        if (!init(&s, &p, NULL, 0, 4))
            return;
        long counts[4];
        CHECK(draw_counts(&s, l, DRAWS, counts) == 0, "draws inside the vocabulary");
        for (int i = 0; i < 4; i++) {
            const double want = q[i] / z, f = (double)counts[i] / DRAWS, se = sqrt(want * (1 - want) / DRAWS);
            CHECK(fabs(f - want) <= 5 * se,
                  "temperature %g, token %d: frequency %.4f, probability %.4f (se %.4f)", (double)temps[k], i,
                  f, want, se);
        }
        g2_sampler_free(&s);
    }
}

/* ---- 256k vocabulary against a full-sort reference ---- */

static const float *rank_key;

static int by_rank(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (rank_key[a] != rank_key[b])
        return rank_key[a] > rank_key[b] ? -1 : 1;
    return (a > b) - (a < b);
}

static int by_id(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

/* The sampler's steps the plain way: a [vocab] counter for the penalties, qsort for
 * top-k and top-p. Fills cand (walk order) and weights; returns their count. */
static size_t ref_prepare(const float *logits, uint32_t vocab, const g2_sampler_params *p,
                          const gemma2_logit_bias *bias, uint32_t n_bias, const int32_t *hist, size_t n_hist,
                          float *w, int32_t *cand, float *weights) {
    memcpy(w, logits, vocab * sizeof *w);
    for (uint32_t i = 0; i < n_bias; i++)
        w[bias[i].token] += bias[i].bias;
    uint32_t *count = calloc(vocab, sizeof *count);
    const size_t window = n_hist < p->penalty_last_n ? n_hist : p->penalty_last_n;
    for (size_t i = n_hist - window; i < n_hist; i++)
        if (hist[i] >= 0 && (uint32_t)hist[i] < vocab)
            count[hist[i]]++;
    for (uint32_t t = 0; t < vocab; t++)
        if (count[t]) {
            if (p->repeat_penalty != 1.0f)
                w[t] = w[t] > 0 ? w[t] / p->repeat_penalty : w[t] * p->repeat_penalty;
            if (p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f)
                w[t] -= (float)count[t] * p->frequency_penalty + p->presence_penalty;
        }
    free(count);
    size_t n = 0;
    float lmax = -INFINITY;
    for (uint32_t i = 0; i < vocab; i++)
        if (isfinite(w[i])) {
            cand[n++] = (int32_t)i;
            lmax = w[i] > lmax ? w[i] : lmax;
        }
    rank_key = w;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        qsort(cand, n, sizeof *cand, by_rank);
        n = (size_t)p->top_k;
        qsort(cand, n, sizeof *cand, by_id);
    }
    if (p->top_p < 1.0f) {
        double z = 0, acc = 0;
        for (size_t i = 0; i < n; i++)
            z += g2_expf(w[cand[i]] - lmax);
        qsort(cand, n, sizeof *cand, by_rank);
        size_t keep = n;
        for (size_t i = 0; i < n && keep == n; i++)
            if ((acc += g2_expf(w[cand[i]] - lmax)) >= z * p->top_p)
                keep = i + 1;
        n = keep;
    }
    if (p->min_p > 0.0f) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (g2_expf(w[cand[i]] - lmax) >= p->min_p)
                cand[k++] = cand[i];
        n = k;
    }
    for (size_t i = 0; i < n; i++)
        weights[i] = g2_expf((w[cand[i]] - lmax) / p->temperature);
    return n;
}

static int32_t ref_draw(const int32_t *cand, const float *weights, size_t n, ref_rng *r) {
    double sum = 0, acc = 0;
    for (size_t i = 0; i < n; i++)
        sum += weights[i];
    const double target = (double)(ref_next(r) >> 11) * 0x1p-53 * sum;
    int32_t last = -1;
    for (size_t i = 0; i < n; i++)
        if (weights[i] > 0) {
            last = cand[i];
            if ((acc += weights[i]) > target)
                return last;
        }
    return last;
}

typedef struct big_case {
    const char *name;
    float scale;   /* logits uniform in [0, scale) */
    int quantized; /* rounded to multiples of scale / 64: many ties */
    int special;   /* NaN, -inf, bias and penalties too */
    float temperature, top_p, min_p;
    int32_t top_k;
    size_t min_kept, max_kept; /* the nucleus size this case is meant to reach */
    int draws;
} big_case;

static void test_large_vocab(void) {
    enum { V = 256000 };
    const big_case cases[] = {
        {"top_k 40, top_p 0.95", 8, 0, 0, 0.8f, 0.95f, 0, 40, 30, 40, 60},
        {"top_p 0.95, nucleus within 1024", 2000, 0, 0, 1.0f, 0.95f, 0, 0, 2, 1024, 60},
        {"top_p 0.5, grows to 16384", 16, 0, 0, 1.0f, 0.5f, 0, 0, 4097, 16384, 20},
        {"top_p 0.95, falls back to a full sort", 8, 0, 0, 1.0f, 0.95f, 0, 0, 65537, V, 8},
        {"ties, top_p 0.7, min_p 0.05", 16, 1, 0, 1.3f, 0.7f, 0.05f, 0, 1025, V, 20},
        {"top_k 3000, top_p 0.9, min_p 0.01", 12, 0, 0, 0.7f, 0.9f, 0.01f, 3000, 1025, 3000, 25},
        {"NaN, -inf, bias, penalties, top_p 0.8", 12, 1, 1, 1.0f, 0.8f, 0, 0, 1025, V, 20},
        {"min_p 0.2 only", 10, 0, 1, 1.0f, 1.0f, 0.2f, 0, 1025, V, 30},
        {"temperature only", 10, 0, 0, 1.0f, 1.0f, 0, 0, V, V, 30},
        {"top_k 200 only: drawn in id order", 10, 0, 0, 1.0f, 1.0f, 0, 200, 200, 200, 60},
        {"top_k 5000 (quickselect), min_p 0.9", 12, 1, 1, 0.9f, 1.0f, 0.9f, 5000, 1025, 4999, 40},
    };
    float *logits = malloc(V * sizeof *logits), *w = malloc(V * sizeof *w),
          *weights = malloc(V * sizeof *weights);
    int32_t *cand = malloc(V * sizeof *cand);
    int32_t hist[300] = {0};
    gemma2_logit_bias bias[4] = {{0, 0.0f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const big_case *bc = &cases[c];
        uint32_t x = 1000 + (uint32_t)c;
        for (uint32_t i = 0; i < V; i++)
            logits[i] = bc->quantized ? (float)(lcg(&x) >> 26) * (bc->scale / 64) : lcg_unit(&x) * bc->scale;
        g2_sampler_params p = params(bc->temperature, 77 + c);
        p.top_k = bc->top_k;
        p.top_p = bc->top_p;
        p.min_p = bc->min_p;
        uint32_t n_bias = 0;
        size_t n_hist = 0;
        if (bc->special) {
            bias[n_bias++] = (gemma2_logit_bias){argmax(logits, V), -INFINITY};
            for (uint32_t i = 0; i < V; i += 97)
                logits[i] = NAN;
            for (uint32_t i = 5; i < V; i += 89)
                logits[i] = -INFINITY;
            bias[n_bias++] = (gemma2_logit_bias){12345, 3.0f};
            bias[n_bias++] = (gemma2_logit_bias){12345, 1.5f};
            bias[n_bias++] = (gemma2_logit_bias){200000, -0.5f};
            for (n_hist = 0; n_hist < 300; n_hist++) /* repeats, and some ids outside */
                hist[n_hist] = n_hist % 50 == 0 ? -3 : (int32_t)(lcg(&x) % 400) * 640;
            p.repeat_penalty = 1.3f;
            p.frequency_penalty = 0.2f;
            p.presence_penalty = 0.4f;
            p.penalty_last_n = 256;
        }
        const size_t n = ref_prepare(logits, V, &p, bias, n_bias, hist, n_hist, w, cand, weights);
        printf("%s: %zu candidates left\n", bc->name, n);
        CHECK(n >= bc->min_kept && n <= bc->max_kept, "%s: %zu candidates, meant %zu..%zu", bc->name, n,
              bc->min_kept, bc->max_kept);
        g2_sampler s;
        if (!init(&s, &p, bias, n_bias, V))
            break;
        ref_rng r;
        ref_seed(&r, p.seed);
        int same = 0;
        for (int d = 0; d < bc->draws; d++) {
            const int32_t want = ref_draw(cand, weights, n, &r);
            const int32_t got = g2_sampler_sample(&s, logits, hist, n_hist);
            if (got != want && same == d) /* the first difference */
                fprintf(stderr, "%s: draw %d: %d, reference %d\n", bc->name, d, (int)got, (int)want);
            same += got == want;
        }
        CHECK(same == bc->draws, "%s: %d of %d draws equal the reference's", bc->name, same, bc->draws);
        g2_sampler_free(&s);
    }
    free(logits);
    free(w);
    free(weights);
    free(cand);
}

/* ---- parameter checks ---- */

static void expect_invalid(const char *what, const g2_sampler_params *p, const gemma2_logit_bias *bias,
                           uint32_t n_bias, uint32_t vocab) {
    g2_sampler s;
    memset(&s, 0xA5, sizeof s);
    const gemma2_status st = g2_sampler_init(&s, p, bias, n_bias, vocab, 16);
    CHECK(st == GEMMA2_ERR_INVALID_ARGUMENT, "%s: status %d", what, (int)st);
    CHECK(is_zeroed(&s), "%s: the sampler is not left zeroed", what);
    CHECK(strstr(gemma2_last_error(), "sampler") != NULL, "%s: message '%s'", what, gemma2_last_error());
    g2_sampler_free(&s);
}

static void test_init(void) {
    const g2_sampler_params good = params(1.0f, 1);
#define BAD(field, value)                                     \
    do {                                                      \
        g2_sampler_params p_ = good;                          \
        p_.field = value;                                     \
        expect_invalid(#field " = " #value, &p_, NULL, 0, 8); \
    } while (0)
    BAD(temperature, NAN);
    BAD(temperature, INFINITY);
    BAD(temperature, -1.0f);
    BAD(temperature, -INFINITY);
    BAD(top_p, 0.0f);
    BAD(top_p, -0.5f);
    BAD(top_p, NAN);
    BAD(top_p, INFINITY);
    BAD(min_p, -0.1f);
    BAD(min_p, 1.5f);
    BAD(min_p, NAN);
    BAD(min_p, INFINITY);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, NAN);
    BAD(repeat_penalty, INFINITY);
    BAD(presence_penalty, NAN);
    BAD(presence_penalty, INFINITY);
    BAD(presence_penalty, -INFINITY);
    BAD(frequency_penalty, NAN);
    BAD(frequency_penalty, -INFINITY);
    BAD(top_k, -1);
    BAD(top_k, INT32_MIN);
#undef BAD
    const gemma2_logit_bias bad_bias[][1] = {
        {{-1, 1.0f}}, {{8, 1.0f}}, {{INT32_MIN, 0.0f}}, {{2, NAN}}, {{2, INFINITY}}};
    for (size_t i = 0; i < sizeof bad_bias / sizeof bad_bias[0]; i++) {
        const gemma2_logit_bias two[2] = {{0, 1.0f}, bad_bias[i][0]};
        expect_invalid("bad bias entry", &good, two, 2, 8);
    }
    expect_invalid("n_bias > 0 with NULL", &good, NULL, 2, 8);
    expect_invalid("vocab 0", &good, NULL, 0, 0);
    expect_invalid("vocab 2^31", &good, NULL, 0, 0x80000000u);
    expect_invalid("NULL parameters", NULL, NULL, 0, 8);
    CHECK(g2_sampler_init(NULL, &good, NULL, 0, 8, 16) == GEMMA2_ERR_INVALID_ARGUMENT, "NULL sampler");

    /* accepted edges */
    const struct {
        const char *what;
        g2_sampler_params p;
    } ok[] = {
        {"temperature 0", {.temperature = 0, .top_p = 1, .repeat_penalty = 1}},
        {"top_p 5 (off)", {.temperature = 1, .top_p = 5, .repeat_penalty = 1}},
        {"top_p tiny", {.temperature = 1, .top_p = 1e-30f, .repeat_penalty = 1}},
        {"min_p 1", {.temperature = 1, .top_p = 1, .min_p = 1, .repeat_penalty = 1}},
        {"negative presence/frequency",
         {.temperature = 1,
          .top_p = 1,
          .repeat_penalty = 0.5f,
          .presence_penalty = -2,
          .frequency_penalty = -2}},
        {"top_k huge", {.temperature = 1, .top_k = INT32_MAX, .top_p = 1, .repeat_penalty = 1}},
        {"penalty_last_n huge",
         {.temperature = 1, .top_p = 1, .repeat_penalty = 2, .penalty_last_n = UINT32_MAX}},
    };
    const gemma2_logit_bias ban = {7, -INFINITY};
    const float l[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const int32_t hist[3] = {6, 6, 99};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        g2_sampler s;
        const gemma2_status st = g2_sampler_init(&s, &ok[i].p, &ban, 1, 8, 16);
        CHECK(st == GEMMA2_OK, "%s: %d %s", ok[i].what, (int)st, gemma2_last_error());
        if (st != GEMMA2_OK)
            continue;
        const int32_t t = g2_sampler_sample(&s, l, hist, 3);
        CHECK(t >= 0 && t < 7, "%s: token %d", ok[i].what, (int)t);
        g2_sampler_free(&s);
        CHECK(is_zeroed(&s), "%s: zeroed after free", ok[i].what);
    }

    g2_sampler z = {0};
    g2_sampler_free(&z);
    g2_sampler_free(&z);
    CHECK(is_zeroed(&z), "freeing a zeroed sampler leaves it zeroed");
    CHECK(g2_sampler_sample(&z, l, NULL, 0) == -1, "a zeroed sampler gives -1");
    g2_sampler_free(NULL);
}

int main(void) {
    test_generator();
    test_greedy();
    test_no_draw();
    test_penalties();
    test_top_k();
    test_top_p();
    test_min_p();
    test_statistics();
    test_large_vocab();
    test_init();
    return tu_finish("test_sampler");
}
