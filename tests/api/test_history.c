/* SPDX-License-Identifier: Apache-2.0 */
/* Editing a session's history: gemma2_session_rewind and gemma2_session_feed_prompt
 * give exactly the logits of a fresh session fed the same tokens, also across the
 * sliding window of the local layers (tiny-a's is 16 positions), and report what
 * they reused.
 * usage: test_history MODEL */
#include <stdlib.h>
#include <string.h>

#include "gemma2.h"
#include "testutil.h"

#define N_CTX 256

static gemma2_model *g_model;
static uint32_t g_vocab;

static gemma2_session *new_session(void) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = 2;
    o.n_ctx = N_CTX;
    gemma2_session *s = NULL;
    CHECK_STATUS(gemma2_session_new(g_model, &o, &s), GEMMA2_OK);
    return s;
}

/* 1 if s's last logits are those of a fresh session fed tokens[0..n) in one call. */
static int same_as_fresh(gemma2_session *s, const int32_t *tokens, size_t n) {
    gemma2_session *f = new_session();
    CHECK_STATUS(gemma2_session_feed(f, tokens, n), GEMMA2_OK);
    const float *a, *b;
    size_t na, nb;
    int same = gemma2_session_logits(s, &a, &na) == GEMMA2_OK && gemma2_session_logits(f, &b, &nb) == GEMMA2_OK &&
               na == nb && !memcmp(a, b, na * sizeof *a);
    uint32_t pa = 0, pb = 0;
    gemma2_session_position(s, &pa);
    gemma2_session_position(f, &pb);
    gemma2_session_free(f);
    return same && pa == pb;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_history MODEL\n");
        return 2;
    }
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &g_model), GEMMA2_OK);
    if (!g_model)
        return 1;
    g_vocab = gemma2_model_vocab_size(g_model);
    int32_t a[200], b[200];
    for (int i = 0; i < 200; i++) {
        a[i] = (int32_t)((i * 37u + 11u) % g_vocab);
        b[i] = (int32_t)((i * 53u + 7u) % g_vocab);
    }

    /* rewind: back to n, then the same tokens again give the same logits */
    gemma2_session *s = new_session();
    CHECK_STATUS(gemma2_session_feed(s, a, 150), GEMMA2_OK);
    /* the tokens it holds */
    size_t count = 0;
    int32_t held[200];
    CHECK_STATUS(gemma2_session_tokens(s, NULL, 0, &count), GEMMA2_OK);
    CHECK(count == 150, "%zu tokens held", count);
    CHECK_STATUS(gemma2_session_tokens(s, held, 200, &count), GEMMA2_OK);
    CHECK(count == 150 && !memcmp(held, a, 150 * sizeof *a), "the tokens held differ");
    CHECK_STATUS(gemma2_session_tokens(s, held, 10, &count), GEMMA2_OK);
    CHECK(count == 10, "cap 10 gave %zu", count);
    CHECK_STATUS(gemma2_session_tokens(s, NULL, 5, &count), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_tokens(NULL, held, 5, &count), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_rewind(s, 151), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_rewind(NULL, 0), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_rewind(s, 150), GEMMA2_OK); /* no change: logits kept */
    CHECK(same_as_fresh(s, a, 150), "rewind to the position changed the session");
    CHECK_STATUS(gemma2_session_rewind(s, 70), GEMMA2_OK);
    uint32_t pos = 0;
    gemma2_session_position(s, &pos);
    CHECK(pos == 70, "position %u after rewind(70)", pos);
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_ERR_STATE); /* no logits after a rewind */
    CHECK_STATUS(gemma2_session_feed(s, a + 70, 80), GEMMA2_OK);
    CHECK(same_as_fresh(s, a, 150), "rewind(70) + the same 80 tokens: logits differ");
    /* and other tokens after the rewind: as if only those had been fed */
    CHECK_STATUS(gemma2_session_rewind(s, 40), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(s, b + 40, 60), GEMMA2_OK);
    int32_t mixed[100];
    memcpy(mixed, a, 40 * sizeof *a);
    memcpy(mixed + 40, b + 40, 60 * sizeof *b);
    CHECK(same_as_fresh(s, mixed, 100), "rewind(40) + other tokens: logits differ");

    /* feed_prompt: a longer prompt re-feeds only its new part */
    size_t reused = 99;
    CHECK_STATUS(gemma2_session_reset(s), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed_prompt(s, a, 100, &reused), GEMMA2_OK);
    CHECK(reused == 0 && same_as_fresh(s, a, 100), "feed_prompt on an empty session: reused %zu", reused);
    CHECK_STATUS(gemma2_session_feed_prompt(s, a, 180, &reused), GEMMA2_OK);
    CHECK(reused == 100 && same_as_fresh(s, a, 180), "extended prompt: reused %zu", reused);
    /* the same prompt again: nothing to do */
    CHECK_STATUS(gemma2_session_feed_prompt(s, a, 180, &reused), GEMMA2_OK);
    CHECK(reused == 180 && same_as_fresh(s, a, 180), "same prompt: reused %zu", reused);
    /* a prompt that diverges at 60 (past the window): the prefix is kept */
    memcpy(mixed, a, 60 * sizeof *a);
    memcpy(mixed + 60, b + 60, 40 * sizeof *b);
    CHECK_STATUS(gemma2_session_feed_prompt(s, mixed, 100, &reused), GEMMA2_OK);
    CHECK(reused == 60 && same_as_fresh(s, mixed, 100), "diverging prompt: reused %zu", reused);
    /* a prefix of what it holds: all but the last token kept, which is fed again */
    CHECK_STATUS(gemma2_session_feed_prompt(s, mixed, 75, &reused), GEMMA2_OK);
    CHECK(reused == 74 && same_as_fresh(s, mixed, 75), "shorter prompt: reused %zu", reused);
    /* errors change nothing: an id out of range, a prompt longer than the context */
    int32_t bad[3] = {1, (int32_t)g_vocab, 2};
    CHECK_STATUS(gemma2_session_feed_prompt(s, bad, 3, &reused), GEMMA2_ERR_TOKEN_OUT_OF_RANGE);
    int32_t *long_prompt = calloc(N_CTX + 1, sizeof *long_prompt);
    CHECK_STATUS(gemma2_session_feed_prompt(s, long_prompt, N_CTX + 1, &reused), GEMMA2_ERR_CONTEXT_FULL);
    free(long_prompt);
    CHECK_STATUS(gemma2_session_feed_prompt(s, mixed, 0, &reused), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_feed_prompt(NULL, mixed, 3, &reused), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK(same_as_fresh(s, mixed, 75), "a refused feed_prompt changed the session");
    CHECK_STATUS(gemma2_session_feed_prompt(s, mixed, 75, NULL), GEMMA2_OK);

    /* how a feed is cut does not matter: 200 tokens in one call (one prefill chunk of up
     * to 256, its keys written and attended 64 at a time while the rings of 80 wrap)
     * equal 200 single-token feeds, and feeds of 64, 1 and 135 */
    gemma2_session *one_by_one = new_session(), *pieces = new_session();
    for (int i = 0; i < 200; i++)
        CHECK_STATUS(gemma2_session_feed(one_by_one, b + i, 1), GEMMA2_OK);
    CHECK(same_as_fresh(one_by_one, b, 200), "200 single-token feeds differ from one feed of 200");
    CHECK_STATUS(gemma2_session_feed(pieces, b, 64), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(pieces, b + 64, 1), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(pieces, b + 65, 135), GEMMA2_OK);
    CHECK(same_as_fresh(pieces, b, 200), "feeds of 64, 1 and 135 differ from one feed of 200");
    gemma2_session_free(one_by_one);
    gemma2_session_free(pieces);

    /* its memory: the KV cache, global layers n_ctx positions, sliding-window layers a
     * ring of window + 63 rounded up to 16 (80 here); only the global layers grow with
     * the context */
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(g_model, &mi);
    const uint64_t per_pos = 2ull * mi.n_kv_heads * mi.head_dim * sizeof(float);
    uint64_t kv = 0, kv_global = 0;
    for (uint32_t l = 0; l < mi.n_layers; l++) {
        int32_t kind = 0;
        gemma2_model_layer_kind(g_model, l, &kind);
        const uint64_t ring = (mi.sliding_window + 63 + 15) / 16 * 16;
        const int local = kind == GEMMA2_LAYER_LOCAL && ring < N_CTX;
        kv += per_pos * (local ? ring : N_CTX);
        kv_global += local ? 0 : per_pos * N_CTX;
    }
    CHECK(kv < (uint64_t)mi.n_layers * N_CTX * per_pos, "no ring in this test: pick a longer context");
    const uint64_t bytes = gemma2_session_memory_bytes(s);
    CHECK(bytes > kv && bytes < kv + (64u << 20), "%llu bytes for a KV cache of %llu", (unsigned long long)bytes,
          (unsigned long long)kv);
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_ctx = 2 * N_CTX;
    o.n_threads = 2;
    gemma2_session *big = NULL;
    CHECK_STATUS(gemma2_session_new(g_model, &o, &big), GEMMA2_OK);
    const uint64_t grown = gemma2_session_memory_bytes(big) - bytes;
    CHECK(grown >= kv_global && grown < kv_global + (kv - kv_global) / 2 + (4u << 20),
          "double the context: %llu more bytes, the global layers' cache is %llu", (unsigned long long)grown,
          (unsigned long long)kv_global);
    CHECK(gemma2_session_memory_bytes(NULL) == 0, "NULL session");
    gemma2_session_free(big);
    gemma2_session_free(s);
    gemma2_model_close(g_model);
    return tu_finish("test_history");
}
