/* SPDX-License-Identifier: Apache-2.0 */
/* The token sampler (sampler.h, gemma2.h "sampling"). Every step is float or double
 * arithmetic in one fixed order, with g2_expf's bits and no libm call, so a seed gives
 * the same tokens on every platform. Nothing is allocated per token: selections and
 * sorts work in place on the scratch arrays made by init. */
#include "infer/sampler.h"
#include "runtime/alloc.h"

#include <math.h> /* isfinite, isnan, INFINITY: classification macros only, no libm calls */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tensor/ops.h"

/* ---- generator ---------------------------------------------------------------
 * splitmix64 (Steele, Lea, Flood 2014) expands the seed into the state of
 * xoshiro256** (Blackman, Vigna 2018), both written from their published definitions. */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro256ss(uint64_t s[4]) {
    const uint64_t out = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* ---- selection and sorting of token ids, in place ----------------------------
 * The ranking is a strict total order (key descending, then id ascending; by id
 * alone when key is NULL), so a selection or sort has exactly one result whatever
 * the algorithm: the fast paths below give what a full sort would. Quickselect and
 * quicksort with median-of-three pivots, bounded by heap versions after 2 log2 n
 * poor pivots (introsort), so no input is quadratic. */

static int ranks_before(const float *key, int32_t a, int32_t b) {
    if (key && key[a] != key[b])
        return key[a] > key[b];
    return a < b;
}

static void swap_ids(int32_t *a, size_t i, size_t j) {
    const int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static int depth_budget(size_t n) {
    int d = 0;
    while (n >>= 1)
        d++;
    return 2 * d;
}

/* The heaps keep their lowest-ranked element at h[0]. */
static void sift_down(int32_t *h, size_t n, size_t i, const float *key) {
    const int32_t x = h[i];
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && ranks_before(key, h[c], h[c + 1]))
            c++; /* the lower-ranked child */
        if (!ranks_before(key, x, h[c]))
            break;
        h[i] = h[c];
    }
    h[i] = x;
}

/* Moves the m best of a[0..n) into a[0..m) as a heap: O(n log m), and about n
 * comparisons when m << n (few elements beat the root). */
static void heap_select(int32_t *a, size_t n, size_t m, const float *key) {
    for (size_t i = m / 2; i-- > 0;)
        sift_down(a, m, i, key);
    for (size_t i = m; i < n; i++)
        if (ranks_before(key, a[i], a[0])) {
            swap_ids(a, i, 0);
            sift_down(a, m, 0, key);
        }
}

static void heap_sort(int32_t *a, size_t n, const float *key) {
    heap_select(a, n, n, key);
    for (size_t e = n; e-- > 1;) {
        swap_ids(a, 0, e);
        sift_down(a, e, 0, key);
    }
}

static void insertion_sort(int32_t *a, size_t n, const float *key) {
    for (size_t i = 1; i < n; i++) {
        const int32_t x = a[i];
        size_t j = i;
        for (; j > 0 && ranks_before(key, x, a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* Hoare partition of a[lo..hi) (hi - lo >= 3) around the median of three: returns p
 * with a[lo..p) ranked before a[p] and a[p+1..hi) not before it. */
static size_t partition(int32_t *a, size_t lo, size_t hi, const float *key) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ranks_before(key, a[mid], a[lo]))
        swap_ids(a, mid, lo);
    if (ranks_before(key, a[hi - 1], a[mid])) {
        swap_ids(a, hi - 1, mid);
        if (ranks_before(key, a[mid], a[lo]))
            swap_ids(a, mid, lo);
    }
    swap_ids(a, lo, mid); /* the median is the pivot, at a[lo] */
    const int32_t pivot = a[lo];
    size_t i = lo, j = hi;
    for (;;) {
        do
            i++;
        while (i < hi && ranks_before(key, a[i], pivot));
        do
            j--;
        while (ranks_before(key, pivot, a[j]));
        if (i >= j)
            break;
        swap_ids(a, i, j);
    }
    swap_ids(a, lo, j);
    return j;
}

/* Moves the m best of a[0..n) (0 < m <= n) into a[0..m), unordered; a stays a
 * permutation. Small m: the bounded heap (one comparison per id); else quickselect,
 * finished by the heap on short ranges or after too many poor pivots. */
static void select_best(int32_t *a, size_t n, size_t m, const float *key) {
    size_t lo = 0, hi = n;
    for (int budget = m <= 1024 || m <= n / 64 ? 0 : depth_budget(n); lo < m && m < hi; budget--) {
        if (hi - lo <= 16 || budget == 0) {
            heap_select(a + lo, hi - lo, m - lo, key);
            return;
        }
        const size_t p = partition(a, lo, hi, key);
        if (p < m)
            lo = p + 1; /* a[0..p] are all among the best m */
        else
            hi = p;
    }
}

/* Sorts a[0..n) best first (introsort; recursion only on the smaller side). */
static void sort_ranked(int32_t *a, size_t n, const float *key, int budget) {
    while (n > 16) {
        if (budget-- == 0) {
            heap_sort(a, n, key);
            return;
        }
        const size_t p = partition(a, 0, n, key);
        if (p < n - p) {
            sort_ranked(a, p, key, budget);
            a += p + 1;
            n -= p + 1;
        } else {
            sort_ranked(a + p + 1, n - p - 1, key, budget);
            n = p;
        }
    }
    insertion_sort(a, n, key);
}

static void sort_best(int32_t *a, size_t n, const float *key) { sort_ranked(a, n, key, depth_budget(n)); }

/* ---- setup ----------------------------------------------------------------------- */

#define BAD(...) return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "sampler: " __VA_ARGS__)
static gemma2_status check(const g2_sampler_params *p, const gemma2_logit_bias *bias, uint32_t n_bias,
                           uint32_t vocab) {
    if (!p)
        BAD("parameters are NULL");
    if (vocab < 1 || vocab > INT32_MAX)
        BAD("vocabulary size %u (must be 1 to 2^31 - 1)", (unsigned)vocab);
    if (!isfinite(p->temperature) || p->temperature < 0)
        BAD("temperature %g (must be finite and >= 0)", (double)p->temperature);
    if (!isfinite(p->top_p) || !(p->top_p > 0))
        BAD("top_p %g (must be finite and > 0)", (double)p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        BAD("min_p %g (must be in [0, 1])", (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || !(p->repeat_penalty > 0))
        BAD("repeat_penalty %g (must be finite and > 0)", (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        BAD("presence_penalty %g, frequency_penalty %g (must be finite)", (double)p->presence_penalty,
            (double)p->frequency_penalty);
    if (p->top_k < 0)
        BAD("top_k %d (must be >= 0)", (int)p->top_k);
    if (n_bias && !bias)
        BAD("%u logit biases at NULL", (unsigned)n_bias);
    for (uint32_t i = 0; i < n_bias; i++) {
        if (bias[i].token < 0 || (uint32_t)bias[i].token >= vocab)
            BAD("logit bias %u: token %d outside the vocabulary (%u)", (unsigned)i, (int)bias[i].token,
                (unsigned)vocab);
        if (isnan(bias[i].bias) || bias[i].bias == INFINITY)
            BAD("logit bias %u: value %g (must not be NaN or +inf)", (unsigned)i, (double)bias[i].bias);
    }
    return GEMMA2_OK;
}
#undef BAD

gemma2_status g2_sampler_init(g2_sampler *s, const g2_sampler_params *params, const gemma2_logit_bias *bias,
                              uint32_t n_bias, uint32_t vocab, uint32_t max_history) {
    if (!s)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "sampler: NULL sampler");
    memset(s, 0, sizeof *s);
    const gemma2_status st = check(params, bias, n_bias, vocab);
    if (st != GEMMA2_OK)
        return st;
    s->p = *params;
    /* The window's capacity: a longer history than promised is then cut, not overrun. */
    if (s->p.penalty_last_n > max_history)
        s->p.penalty_last_n = max_history;
    s->vocab = vocab;
    s->n_bias = n_bias;
    s->work = g2_calloc(vocab, sizeof *s->work);
    s->cand = g2_calloc(vocab, sizeof *s->cand);
    s->window = s->p.penalty_last_n ? g2_calloc(s->p.penalty_last_n, sizeof *s->window) : NULL;
    s->bias = n_bias ? g2_malloc((size_t)n_bias * sizeof *s->bias) : NULL;
    if (!s->work || !s->cand || (s->p.penalty_last_n && !s->window) || (n_bias && !s->bias)) {
        g2_sampler_free(s);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "sampler: out of memory for a vocabulary of %u",
                        (unsigned)vocab);
    }
    if (n_bias)
        memcpy(s->bias, bias, (size_t)n_bias * sizeof *s->bias);
    uint64_t x = params->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    return GEMMA2_OK;
}

void g2_sampler_free(g2_sampler *s) {
    if (!s)
        return;
    free(s->bias);
    free(s->work);
    free(s->cand);
    free(s->window);
    memset(s, 0, sizeof *s);
}

/* ---- the steps ------------------------------------------------------------------- */

/* Repetition, frequency and presence penalties on work, over the last penalty_last_n
 * tokens of history: sorting a copy of the window counts each token's repeats in
 * O(n log n) without a per-call [vocab] counter to clear. */
static void penalize(g2_sampler *s, const int32_t *hist, size_t n_hist) {
    const g2_sampler_params *p = &s->p;
    const int scale = p->repeat_penalty != 1.0f;
    const int lower = p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f;
    if (!hist || !(scale || lower))
        return;
    const size_t n = n_hist < p->penalty_last_n ? n_hist : p->penalty_last_n;
    size_t m = 0;
    for (size_t i = n_hist - n; i < n_hist; i++)
        if (hist[i] >= 0 && (uint32_t)hist[i] < s->vocab)
            s->window[m++] = hist[i];
    heap_sort(s->window, m, NULL); /* ascending ids; short, and heap_sort gets tested */
    for (size_t i = 0, j; i < m; i = j) {
        const int32_t t = s->window[i];
        for (j = i + 1; j < m && s->window[j] == t; j++) {
        }
        float *x = &s->work[t];
        if (scale)
            *x = *x > 0 ? *x / p->repeat_penalty : *x * p->repeat_penalty;
        if (lower)
            *x -= (float)(j - i) * p->frequency_penalty + p->presence_penalty;
    }
}

/* The highest value, the lowest id on ties; NaN and -inf never win; -1 if nothing. */
static int32_t greedy(const float *w, uint32_t n) {
    int32_t best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (w[i] > -INFINITY && (best < 0 || w[i] > w[best]))
            best = (int32_t)i;
    return best;
}

/* Exponentials go a chunk at a time through the widest exp kernel, which computes
 * g2_expf's bits (ops.h) at about 1 ns a value instead of 50: 0.3 rather than 13 ms
 * per pass over a 256k vocabulary. */
enum { CHUNK = 256 };

/* e[j] = g2_expf((w[c[i + j]] - lmax) / t) for j < the returned min(n - i, CHUNK).
 * t = 1 gives g2_expf(w - lmax) exactly. */
static size_t exp_chunk(const g2_float_kernels *k, float *e, const float *w, const int32_t *c, size_t i,
                        size_t n, float lmax, float t) {
    const size_t len = n - i < CHUNK ? n - i : CHUNK;
    float x[CHUNK];
    for (size_t j = 0; j < len; j++)
        x[j] = (w[c[i + j]] - lmax) / t;
    k->exp(e, x, (uint32_t)len);
    return len;
}

/* top-p over cand[0..n) (ascending ids): the shortest best-first prefix whose
 * probability at temperature 1 reaches top_p. Only the best m are sorted, m = 1024
 * then x4 (each round selects and sorts just the next 3m), until their prefix holds
 * the mass: the same prefix, summed in the same order, as after a full sort (whose
 * first m are the best m, sorted), without sorting 256k ids per token. */
static size_t top_p(g2_sampler *s, const g2_float_kernels *k, size_t n, float lmax) {
    const float *w = s->work;
    int32_t *c = s->cand;
    float e[CHUNK];
    double z = 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = exp_chunk(k, e, w, c, i, n, lmax, 1.0f);
        for (size_t j = 0; j < len; j++)
            z += e[j];
    }
    const double mass = z * s->p.top_p;
    double acc = 0;
    for (size_t done = 0, m = n < 1024 ? n : 1024;; done = m, m = m > n / 4 ? n : m * 4) {
        /* c[0..done) are the best done, sorted, their mass in acc: extend to m */
        select_best(c + done, n - done, m - done, w);
        sort_best(c + done, m - done, w);
        for (size_t i = done, len; i < m; i += len) {
            len = exp_chunk(k, e, w, c, i, m, lmax, 1.0f);
            for (size_t j = 0; j < len; j++)
                if ((acc += e[j]) >= mass)
                    return i + j + 1;
        }
        if (m == n)
            return n; /* rounding kept the sum below the mass: everything */
    }
}

int32_t g2_sampler_sample(g2_sampler *s, const float *logits, const int32_t *history, size_t n_hist) {
    if (!s || !s->work || !logits)
        return -1;
    const g2_sampler_params *p = &s->p;
    float *w = s->work;
    int32_t *c = s->cand;
    memcpy(w, logits, (size_t)s->vocab * sizeof *w);
    for (uint32_t i = 0; i < s->n_bias; i++)
        w[s->bias[i].token] += s->bias[i].bias;
    penalize(s, history, n_hist);
    if (!(p->temperature > 0))
        return greedy(w, s->vocab);

    /* Candidates: the finite values, in id order. Every filter below keeps the best
     * candidate, so lmax stays the maximum over the current ones. */
    size_t n = 0;
    float lmax = -INFINITY;
    for (uint32_t i = 0; i < s->vocab; i++)
        if (isfinite(w[i])) {
            c[n++] = (int32_t)i;
            if (w[i] > lmax)
                lmax = w[i];
        }
    if (n == 0)
        return -1; /* no draw: the generator is not advanced */
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_best(c, n, (size_t)p->top_k, w);
        n = (size_t)p->top_k;
        sort_best(c, n, NULL); /* back to id order, as the steps after expect */
    }
    const g2_float_kernels *k = g2_float_kernels_best();
    float e[CHUNK];
    if (p->top_p < 1.0f)
        n = top_p(s, k, n, lmax);
    if (p->min_p > 0.0f) {
        size_t kept = 0;
        for (size_t i = 0, len; i < n; i += len) {
            len = exp_chunk(k, e, w, c, i, n, lmax, 1.0f);
            for (size_t j = 0; j < len; j++)
                if (e[j] >= p->min_p)
                    c[kept++] = c[i + j]; /* kept <= i + j: nothing unread is overwritten */
        }
        n = kept;
    }

    /* Draw: weights replace the candidates' values in work; one generator output. */
    double sum = 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = exp_chunk(k, e, w, c, i, n, lmax, p->temperature);
        for (size_t j = 0; j < len; j++) {
            w[c[i + j]] = e[j];
            sum += e[j];
        }
    }
    const double u = (double)(xoshiro256ss(s->rng) >> 11) * 0x1p-53, target = u * sum;
    double acc = 0;
    int32_t last = -1;
    for (size_t i = 0; i < n; i++)
        if (w[c[i]] > 0) {
            acc += w[c[i]];
            last = c[i];
            if (acc > target)
                return last;
        }
    return last; /* rounding left the walk short: the last candidate with weight */
}
