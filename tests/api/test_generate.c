/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2_session_generate on a model without a tokenizer: each stop reason (max
 * tokens, the callback, end of turn, a full context), the tokens are those of plain
 * steps, and misuse. (Stop strings and text: tests/cli/test_cli_text.py, through
 * `gemma2 run`.)
 * usage: test_generate MODEL */
#include <string.h>

#include "gemma2.h"
#include "testutil.h"

#define PROMPT 12

typedef struct seen {
    int32_t ids[64];
    int n, stop_at, flushes;
} seen;

static int on_text(void *user, int32_t token, const char *text, size_t len) {
    seen *s = user;
    CHECK(text != NULL && len == 0, "a model without a tokenizer gave text");
    if (token < 0) {
        s->flushes++;
        return 0;
    }
    if (s->n < 64)
        s->ids[s->n] = token;
    return ++s->n == s->stop_at;
}

static gemma2_session *session(gemma2_model *m, uint32_t n_ctx, const gemma2_sampler_options *so) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_ctx = n_ctx;
    o.sampler = so;
    gemma2_session *s = NULL;
    CHECK_STATUS(gemma2_session_new(m, &o, &s), GEMMA2_OK);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &m), GEMMA2_OK);
    if (!m)
        return 1;
    int32_t prompt[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = (int32_t)((i * 17u + 4u) % gemma2_model_vocab_size(m));
    gemma2_generate_options o;
    gemma2_generate_result r;
    gemma2_generate_options_init(&o, sizeof o);
    gemma2_generate_result_init(&r, sizeof r);

    /* the tokens of plain steps */
    int32_t want[20];
    gemma2_session *ref = session(m, 64, NULL);
    CHECK_STATUS(gemma2_session_feed(ref, prompt, PROMPT), GEMMA2_OK);
    for (int i = 0; i < 20; i++) {
        gemma2_step_result sr;
        gemma2_step_result_init(&sr, sizeof sr);
        CHECK_STATUS(gemma2_session_step(ref, &sr), GEMMA2_OK);
        want[i] = sr.token;
    }
    /* max tokens */
    gemma2_session *s = session(m, 64, NULL);
    seen a = {.stop_at = -1};
    CHECK_STATUS(gemma2_session_generate(s, NULL, on_text, &a, &r), GEMMA2_ERR_STATE); /* nothing fed */
    CHECK_STATUS(gemma2_session_feed(s, prompt, PROMPT), GEMMA2_OK);
    o.max_tokens = 20;
    CHECK_STATUS(gemma2_session_generate(s, &o, on_text, &a, &r), GEMMA2_OK);
    CHECK(r.stop_reason == GEMMA2_STOP_MAX_TOKENS && r.n_tokens == 20 && a.n == 20, "max: reason %u, %llu tokens",
          (unsigned)r.stop_reason, (unsigned long long)r.n_tokens);
    CHECK(!memcmp(a.ids, want, sizeof want), "generate's tokens differ from plain steps'");
    /* the callback stops it after its 3rd token, which stays fed */
    CHECK_STATUS(gemma2_session_rewind(s, PROMPT - 1), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_feed(s, prompt + PROMPT - 1, 1), GEMMA2_OK);
    seen b = {.stop_at = 3};
    o.max_tokens = 0;
    CHECK_STATUS(gemma2_session_generate(s, &o, on_text, &b, &r), GEMMA2_OK);
    uint32_t pos = 0;
    gemma2_session_position(s, &pos);
    CHECK(r.stop_reason == GEMMA2_STOP_CALLBACK && r.n_tokens == 3 && pos == PROMPT + 3, "callback: %u %llu %u",
          (unsigned)r.stop_reason, (unsigned long long)r.n_tokens, pos);
    /* a full context ends it normally */
    gemma2_session *small = session(m, PROMPT + 5, NULL);
    CHECK_STATUS(gemma2_session_feed(small, prompt, PROMPT), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_generate(small, NULL, NULL, NULL, &r), GEMMA2_OK);
    CHECK(r.stop_reason == GEMMA2_STOP_CONTEXT_FULL && r.n_tokens == 5, "full: %u %llu", (unsigned)r.stop_reason,
          (unsigned long long)r.n_tokens);
    /* end of turn: <eos> pushed up by a bias is generated first */
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(m, &mi);
    gemma2_logit_bias eos = {mi.eos_id, 1000.0f};
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    so.logit_bias = &eos;
    so.n_logit_bias = 1;
    gemma2_session *e = session(m, 64, &so);
    CHECK_STATUS(gemma2_session_feed(e, prompt, PROMPT), GEMMA2_OK);
    seen c = {.stop_at = -1};
    CHECK_STATUS(gemma2_session_generate(e, NULL, on_text, &c, &r), GEMMA2_OK);
    CHECK(r.stop_reason == GEMMA2_STOP_END_OF_TURN && r.n_tokens == 1 && c.ids[0] == mi.eos_id, "eot: %u %llu",
          (unsigned)r.stop_reason, (unsigned long long)r.n_tokens);
    CHECK(a.flushes + b.flushes + c.flushes == 0, "a flush call without any text");
    /* misuse */
    const char *stops[] = {"x", ""};
    o.stop = stops;
    o.n_stop = 1;
    CHECK_STATUS(gemma2_session_generate(s, &o, NULL, NULL, &r), GEMMA2_ERR_INVALID_ARGUMENT); /* no tokenizer */
    o.n_stop = 2;
    CHECK_STATUS(gemma2_session_generate(s, &o, NULL, NULL, &r), GEMMA2_ERR_INVALID_ARGUMENT); /* empty stop */
    o.stop = NULL;
    CHECK_STATUS(gemma2_session_generate(s, &o, NULL, NULL, &r), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(gemma2_session_generate(NULL, NULL, NULL, NULL, NULL), GEMMA2_ERR_INVALID_ARGUMENT);
    gemma2_session_free(ref);
    gemma2_session_free(s);
    gemma2_session_free(small);
    gemma2_session_free(e);
    gemma2_model_close(m);
    return tu_finish("test_generate");
}
