/* SPDX-License-Identifier: Apache-2.0 */
/* Session state save/restore: a restored session continues with exactly the tokens
 * of an uninterrupted one (sampled, with a logit bias, into a session of another
 * context length and thread count, through memory and a file); damaged, truncated,
 * foreign-version and other-model states are refused with the session unchanged.
 * usage: test_state MODEL OTHER_MODEL */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemma2.h"
#include "testutil.h"

#define PROMPT 40
#define BEFORE 10
#define AFTER 15
#define HEADER 96 /* the state header (docs/format.md) */

static gemma2_model *g_model, *g_other;

static gemma2_session *new_session(gemma2_model *m, int threads, uint32_t n_ctx, const gemma2_sampler_options *so) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.n_ctx = n_ctx;
    o.sampler = so;
    gemma2_session *s = NULL;
    CHECK_STATUS(gemma2_session_new(m, &o, &s), GEMMA2_OK);
    return s;
}

static void steps(gemma2_session *s, int32_t *out, int n) {
    for (int i = 0; i < n; i++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
        out[i] = r.token;
    }
}

/* Recomputes the state's trailing digest after an edit of its header. */
static void reseal(uint8_t *state, size_t size) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, state, size - 32);
    crypto_generichash_final(&st, state + size - 32, 32);
}

/* 1 if s is at pos with the given logits. */
static int unchanged(gemma2_session *s, uint32_t pos, const float *logits, size_t nv) {
    uint32_t p = 0;
    gemma2_session_position(s, &p);
    const float *now;
    size_t n;
    return p == pos && gemma2_session_logits(s, &now, &n) == GEMMA2_OK && n == nv &&
           !memcmp(now, logits, nv * sizeof *now);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_state MODEL OTHER_MODEL\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &g_model), GEMMA2_OK);
    CHECK_STATUS(gemma2_model_open(argv[2], NULL, &g_other), GEMMA2_OK);
    if (!g_model || !g_other)
        return 1;
    const uint32_t vocab = gemma2_model_vocab_size(g_model);
    int32_t prompt[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = (int32_t)((i * 41u + 3u) % vocab);
    gemma2_logit_bias bias = {5, 2.5f};
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    so.temperature = 1.3f;
    so.top_k = 30;
    so.repeat_penalty = 1.2f;
    so.seed = 9;
    so.logit_bias = &bias;
    so.n_logit_bias = 1;

    /* the uninterrupted run, saved in the middle */
    gemma2_session *a = new_session(g_model, 2, 128, &so);
    int32_t before[BEFORE], want[AFTER], got[AFTER];
    CHECK_STATUS(gemma2_session_feed(a, prompt, PROMPT), GEMMA2_OK);
    steps(a, before, BEFORE);
    void *state = NULL;
    size_t size = 0;
    CHECK_STATUS(gemma2_session_save(a, &state, &size), GEMMA2_OK);
    CHECK(state && size > HEADER + 32, "state of %zu bytes", size);
    const float *lg;
    size_t nv;
    gemma2_session_logits(a, &lg, &nv);
    float *saved_logits = malloc(nv * sizeof *saved_logits);
    memcpy(saved_logits, lg, nv * sizeof *lg);
    CHECK_STATUS(gemma2_session_save_file(a, "test_state.g2state"), GEMMA2_OK);
    struct stat st;
    CHECK(stat("test_state.g2state", &st) == 0 && (st.st_mode & 0777) == 0600, "the state file is not private");
    /* a path that is not a regular file is refused, not renamed over */
    unlink("test_state.fifo");
    CHECK(mkfifo("test_state.fifo", 0600) == 0, "mkfifo");
    CHECK_STATUS(gemma2_session_save_file(a, "test_state.fifo"), GEMMA2_ERR_IO);
    CHECK(strstr(gemma2_last_error(), "not a regular file"), "message: %s", gemma2_last_error());
    CHECK(stat("test_state.fifo", &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    CHECK_STATUS(gemma2_session_save_file(a, "."), GEMMA2_ERR_IO);
    unlink("test_state.fifo");
    steps(a, want, AFTER);

    /* restored into a greedy session of another context length and thread count */
    gemma2_session *b = new_session(g_model, 1, 300, NULL);
    CHECK_STATUS(gemma2_session_load(b, state, size), GEMMA2_OK);
    CHECK(unchanged(b, PROMPT + BEFORE, saved_logits, nv), "the restored position or logits differ");
    steps(b, got, AFTER);
    CHECK(!memcmp(got, want, sizeof want), "the restored session continued differently");
    /* the state kept only the window of the sliding-window layers: a rewind behind it
     * recomputes from the tokens, exactly */
    int32_t toks[PROMPT + BEFORE + AFTER];
    size_t nt = 0;
    CHECK_STATUS(gemma2_session_tokens(b, toks, PROMPT + BEFORE + AFTER, &nt), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_rewind(b, 20), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(b, toks + 20, 10), GEMMA2_OK);
    gemma2_session *f = new_session(g_model, 2, 64, NULL);
    CHECK_STATUS(gemma2_session_feed(f, toks, 30), GEMMA2_OK);
    const float *lb, *lf;
    size_t nb;
    gemma2_session_logits(b, &lb, &nb);
    gemma2_session_logits(f, &lf, &nb);
    CHECK(nt == PROMPT + BEFORE + AFTER && !memcmp(lb, lf, nb * sizeof *lb), "a rewind after a load is not exact");
    gemma2_session_free(f);
    /* and from the file, into a session that held other tokens */
    gemma2_session *c = new_session(g_model, 2, 66, NULL);
    CHECK_STATUS(gemma2_session_feed(c, prompt + 3, 20), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_load_file(c, "test_state.g2state"), GEMMA2_OK);
    steps(c, got, AFTER);
    CHECK(!memcmp(got, want, sizeof want), "the session restored from the file continued differently");
    CHECK(memcmp(before, want, sizeof want < sizeof before ? sizeof want : sizeof before) != 0, "no sampling?");

    /* refusals: the session stays as it was */
    gemma2_session *d = new_session(g_model, 1, 45, NULL);
    CHECK_STATUS(gemma2_session_feed(d, prompt, 30), GEMMA2_OK);
    gemma2_session_logits(d, &lg, &nv);
    float *d_logits = malloc(nv * sizeof *d_logits);
    memcpy(d_logits, lg, nv * sizeof *lg);
    uint8_t *bad = malloc(size);
    CHECK_STATUS(gemma2_session_load(d, state, size), GEMMA2_ERR_CONTEXT_FULL); /* 50 tokens, context 45 */
    for (size_t at = 0; at < size; at += size / 97 + 1) { /* any flipped byte */
        memcpy(bad, state, size);
        bad[at] ^= 0x10;
        gemma2_status st = gemma2_session_load(d, bad, size);
        CHECK(st == GEMMA2_ERR_CHECKSUM || st == GEMMA2_ERR_FORMAT || st == GEMMA2_ERR_VERSION,
              "byte %zu flipped: status %d", at, (int)st);
    }
    for (size_t cut = 0; cut < size; cut += size / 13 + 1)
        CHECK_STATUS(gemma2_session_load(d, state, cut), GEMMA2_ERR_FORMAT);
    memcpy(bad, state, size);
    bad[8] = 2; /* version 2, resealed */
    reseal(bad, size);
    CHECK_STATUS(gemma2_session_load(d, bad, size), GEMMA2_ERR_VERSION);
    memcpy(bad, state, size);
    bad[16] ^= 1; /* another model's digest, resealed */
    reseal(bad, size);
    CHECK_STATUS(gemma2_session_load(d, bad, size), GEMMA2_ERR_INVALID_ARGUMENT);
    memcpy(bad, state, size);
    bad[48] ^= 1; /* n_pos, resealed: the sizes no longer add up */
    reseal(bad, size);
    CHECK_STATUS(gemma2_session_load(d, bad, size), GEMMA2_ERR_FORMAT);
    CHECK_STATUS(gemma2_session_load(d, NULL, size), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_load_file(d, "no-such-dir/x.g2state"), GEMMA2_ERR_IO);
    CHECK(unchanged(d, 30, d_logits, nv), "a refused load changed the session");
    /* another model's session refuses it */
    gemma2_session *o = new_session(g_other, 1, 128, NULL);
    CHECK_STATUS(gemma2_session_load(o, state, size), GEMMA2_ERR_INVALID_ARGUMENT);
    /* an empty session round-trips, logits absent */
    gemma2_session *e = new_session(g_model, 1, 16, NULL);
    void *empty;
    size_t empty_size;
    CHECK_STATUS(gemma2_session_save(e, &empty, &empty_size), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_load(d, empty, empty_size), GEMMA2_OK);
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    CHECK_STATUS(gemma2_session_step(d, &r), GEMMA2_ERR_STATE);
    gemma2_state_free(empty);
    gemma2_state_free(NULL);
    CHECK_STATUS(gemma2_session_save(NULL, &empty, &empty_size), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK(empty == NULL && empty_size == 0, "a failed save left an output");

    remove("test_state.g2state");
    free(bad);
    free(d_logits);
    free(saved_logits);
    gemma2_state_free(state);
    gemma2_session_free(a);
    gemma2_session_free(b);
    gemma2_session_free(c);
    gemma2_session_free(d);
    gemma2_session_free(o);
    gemma2_session_free(e);
    gemma2_model_close(g_model);
    gemma2_model_close(g_other);
    return tu_finish("test_state");
}
