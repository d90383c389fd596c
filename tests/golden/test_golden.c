/* SPDX-License-Identifier: Apache-2.0 */
/* Golden test: a converted model reproduces the PyTorch reference (golden.json and
 * the .f32 files of ../shared/golden, copied to tests/data) within the tolerance
 * golden.json states, in three ways of feeding:
 *   1. one batched prefill of the prompt with logits + final hidden of every position;
 *   2. the prompt fed one token at a time (logits of each position);
 *   3. the prompt in uneven pieces crossing the prefill chunk size;
 * each followed by greedy decode steps that must give exactly the golden ids, with
 * the logits of every step matching decode_logits.f32.
 * usage: test_golden MODEL GOLDEN_DIR THREADS */
#include <stdlib.h>
#include <string.h>

#include "gemma2.h"
#include "testutil.h"

static tu_golden g;

static gemma2_session *new_session(gemma2_model *m, int threads) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.n_ctx = (uint32_t)(g.n_input + g.n_generate);
    gemma2_session *s = NULL;
    CHECK_STATUS(gemma2_session_new(m, &o, &s), GEMMA2_OK);
    return s;
}

/* After the prompt: decode rows and greedy ids. */
static void check_decode(gemma2_session *s, const char *how) {
    for (size_t k = 0; k < g.n_generate; k++) {
        const float *logits;
        size_t n_vocab;
        CHECK_STATUS(gemma2_session_logits(s, &logits, &n_vocab), GEMMA2_OK);
        if (!logits)
            return;
        double diff = tu_max_abs_diff(logits, g.decode_logits + k * g.vocab, g.vocab);
        CHECK(diff <= g.logits_atol, "%s: decode row %zu differs by %g (atol %g)", how, k, diff,
              g.logits_atol);
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
        CHECK(r.token == g.greedy_ids[k], "%s: step %zu gave token %d, golden %d", how, k, (int)r.token,
              (int)g.greedy_ids[k]);
    }
}

static void prefill_once(gemma2_model *m, int threads) {
    gemma2_session *s = new_session(m, threads);
    if (!s)
        return;
    float *logits = malloc(g.n_input * g.vocab * sizeof(float));
    float *hidden = malloc(g.n_input * g.hidden * sizeof(float));
    gemma2_feed_outputs out;
    gemma2_feed_outputs_init(&out, sizeof out);
    out.logits = logits;
    out.logits_cap = g.n_input * g.vocab;
    out.hidden = hidden;
    out.hidden_cap = g.n_input * g.hidden;
    CHECK_STATUS(gemma2_session_feed_outputs(s, g.input_ids, g.n_input, &out), GEMMA2_OK);
    for (size_t i = 0; i < g.n_input; i++) {
        double d = tu_max_abs_diff(logits + i * g.vocab, g.logits + i * g.vocab, g.vocab);
        CHECK(d <= g.logits_atol, "prefill: logits of position %zu differ by %g (atol %g)", i, d,
              g.logits_atol);
    }
    double hmax = tu_max_abs(g.hidden_states, g.n_input * g.hidden);
    double hd = tu_max_abs_diff(hidden, g.hidden_states, g.n_input * g.hidden);
    CHECK(hd <= g.hidden_rel * hmax, "prefill: final hidden differs by %g (allowed %g)", hd,
          g.hidden_rel * hmax);
    uint32_t pos;
    CHECK_STATUS(gemma2_session_position(s, &pos), GEMMA2_OK);
    CHECK(pos == g.n_input, "position %u after the prompt", (unsigned)pos);
    check_decode(s, "prefill");
    free(logits);
    free(hidden);
    gemma2_session_free(s);
}

static void token_by_token(gemma2_model *m, int threads) {
    gemma2_session *s = new_session(m, threads);
    if (!s)
        return;
    float *logits = malloc(g.vocab * sizeof(float));
    gemma2_feed_outputs out;
    gemma2_feed_outputs_init(&out, sizeof out);
    out.logits = logits;
    out.logits_cap = g.vocab;
    for (size_t i = 0; i < g.n_input; i++) {
        CHECK_STATUS(gemma2_session_feed_outputs(s, g.input_ids + i, 1, &out), GEMMA2_OK);
        double d = tu_max_abs_diff(logits, g.logits + i * g.vocab, g.vocab);
        CHECK(d <= g.logits_atol, "token by token: position %zu differs by %g", i, d);
    }
    check_decode(s, "token by token");
    free(logits);
    gemma2_session_free(s);
}

static void uneven_pieces(gemma2_model *m, int threads) {
    gemma2_session *s = new_session(m, threads);
    if (!s)
        return;
    const size_t pieces[] = {5, 70, 3, 1}; /* 70 crosses the 64-token prefill chunk */
    size_t done = 0;
    for (size_t i = 0; done < g.n_input; i = (i + 1) % 4) {
        size_t n = pieces[i] < g.n_input - done ? pieces[i] : g.n_input - done;
        CHECK_STATUS(gemma2_session_feed(s, g.input_ids + done, n), GEMMA2_OK);
        done += n;
    }
    check_decode(s, "uneven pieces");
    /* reset, then the whole prompt again: same numbers as a fresh session */
    CHECK_STATUS(gemma2_session_reset(s), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(s, g.input_ids, g.n_input), GEMMA2_OK);
    check_decode(s, "after reset");
    gemma2_session_free(s);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL GOLDEN_DIR THREADS\n", argv[0]);
        return 2;
    }
    if (tu_golden_load(argv[2], &g) != 0)
        return 1;
    int threads = atoi(argv[3]);
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &m), GEMMA2_OK);
    if (m) {
        CHECK(gemma2_model_vocab_size(m) == g.vocab, "vocab %u", (unsigned)gemma2_model_vocab_size(m));
        prefill_once(m, threads);
        token_by_token(m, threads);
        uneven_pieces(m, threads);
        gemma2_model_close(m);
    }
    tu_golden_free(&g);
    return tu_finish("test_golden");
}
