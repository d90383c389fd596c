/* SPDX-License-Identifier: Apache-2.0 */
/* Public session functions: argument checks, then lib/infer. */
#include <string.h>

#include "api/check.h"
#include "api/options.h"
#include "infer/session.h"
#include "tensor/ops.h"

static const gemma2_session_options session_defaults = {
    .struct_size = sizeof(gemma2_session_options), .n_threads = 0, .n_ctx = 0};

gemma2_status gemma2_session_options_init(gemma2_session_options *opts, size_t size) {
    g2_error_clear();
    return g2_struct_init(opts, size, &session_defaults, sizeof session_defaults, "gemma2_session_options");
}

gemma2_status gemma2_session_new(gemma2_model *model, const gemma2_session_options *opts,
                                 gemma2_session **out) {
    g2_error_clear();
    CHECK_ARG(out, "gemma2_session_new: out is NULL");
    *out = NULL;
    CHECK_ARG(model, "gemma2_session_new: model is NULL");
    gemma2_session_options o = session_defaults;
    gemma2_status st = g2_struct_read(&o, sizeof o, opts, "gemma2_session_options");
    if (st != GEMMA2_OK)
        return st;
    CHECK_ARG(o.n_threads >= 0 && o.n_threads <= G2_MAX_THREADS, "n_threads %d is out of range 0..%d",
              (int)o.n_threads, G2_MAX_THREADS);
    CHECK_ARG(o.n_ctx <= model->cfg.context_length, "n_ctx %u exceeds the model's context length %u",
              (unsigned)o.n_ctx, (unsigned)model->cfg.context_length);
    if (o.reserved != 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "gemma2_session_options.reserved must be 0");
    uint32_t n_ctx = o.n_ctx ? o.n_ctx : model->cfg.context_length;
    return g2_session_create(model, g2_threads_resolve(o.n_threads), n_ctx, out);
}

void gemma2_session_free(gemma2_session *session) { g2_session_destroy(session); }

gemma2_status gemma2_session_reset(gemma2_session *session) {
    g2_error_clear();
    CHECK_ARG(session, "gemma2_session_reset: session is NULL");
    session->n_pos = 0;
    session->has_logits = 0;
    return GEMMA2_OK;
}

gemma2_status gemma2_session_position(const gemma2_session *session, uint32_t *n) {
    g2_error_clear();
    CHECK_ARG(n, "gemma2_session_position: n is NULL");
    *n = 0;
    CHECK_ARG(session, "gemma2_session_position: session is NULL");
    *n = session->n_pos;
    return GEMMA2_OK;
}

gemma2_status gemma2_feed_outputs_init(gemma2_feed_outputs *out, size_t size) {
    g2_error_clear();
    static const gemma2_feed_outputs zero = {.struct_size = sizeof zero};
    return g2_struct_init(out, size, &zero, sizeof zero, "gemma2_feed_outputs");
}

/* Everything a feed needs is checked here, so the forward pass cannot fail midway. */
static gemma2_status check_feed(const gemma2_session *s, const int32_t *tokens, size_t n) {
    CHECK_ARG(s, "gemma2_session_feed: session is NULL");
    CHECK_ARG(tokens, "gemma2_session_feed: tokens is NULL");
    CHECK_ARG(n > 0, "gemma2_session_feed: no tokens");
    const uint32_t vocab = s->model->cfg.vocab_size;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab)
            return g2_error(GEMMA2_ERR_TOKEN_OUT_OF_RANGE,
                            "token %d at index %zu is outside the vocabulary (0..%u)", (int)tokens[i], i,
                            (unsigned)vocab - 1);
    if (n > s->n_ctx - s->n_pos)
        return g2_error(GEMMA2_ERR_CONTEXT_FULL,
                        "%zu tokens do not fit in the session's context: it holds %u of %u positions", n,
                        (unsigned)s->n_pos, (unsigned)s->n_ctx);
    return GEMMA2_OK;
}

gemma2_status gemma2_session_feed(gemma2_session *session, const int32_t *tokens, size_t n) {
    g2_error_clear();
    gemma2_status st = check_feed(session, tokens, n);
    if (st != GEMMA2_OK)
        return st;
    g2_forward(session, tokens, (uint32_t)n, NULL);
    return GEMMA2_OK;
}

gemma2_status gemma2_session_feed_outputs(gemma2_session *session, const int32_t *tokens, size_t n,
                                          const gemma2_feed_outputs *outputs) {
    g2_error_clear();
    gemma2_status st = check_feed(session, tokens, n);
    if (st != GEMMA2_OK)
        return st;
    gemma2_feed_outputs o = {.struct_size = sizeof o};
    if ((st = g2_struct_read(&o, sizeof o, outputs, "gemma2_feed_outputs")) != GEMMA2_OK)
        return st;
    const g2_file_config *c = &session->model->cfg;
    if ((o.logits && o.logits_cap / c->vocab_size < n) || (o.hidden && o.hidden_cap / c->hidden_size < n))
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL,
                        "outputs for %zu tokens need %zu logits and %zu hidden floats", n, n * c->vocab_size,
                        n * c->hidden_size);
    g2_forward_out fo = {.logits = o.logits, .hidden = o.hidden};
    g2_forward(session, tokens, (uint32_t)n, &fo);
    return GEMMA2_OK;
}

gemma2_status gemma2_step_result_init(gemma2_step_result *result, size_t size) {
    g2_error_clear();
    static const gemma2_step_result zero = {.struct_size = sizeof zero, .token = -1};
    return g2_struct_init(result, size, &zero, sizeof zero, "gemma2_step_result");
}

gemma2_status gemma2_session_step(gemma2_session *session, gemma2_step_result *result) {
    g2_error_clear();
    CHECK_ARG(session && result, "gemma2_session_step: NULL argument");
    if (!session->has_logits)
        return g2_error(GEMMA2_ERR_STATE, "gemma2_session_step: feed a prompt first");
    if (session->n_pos >= session->n_ctx)
        return g2_error(GEMMA2_ERR_CONTEXT_FULL, "the session's context of %u positions is full",
                        (unsigned)session->n_ctx);
    const g2_file_config *c = &session->model->cfg;
    int32_t token = (int32_t)g2_argmax(session->logits, c->vocab_size);
    const gemma2_tokenizer *tok = session->model->tokenizer;
    int ends_turn = tok ? gemma2_token_is_end_of_turn(tok, token) : token == c->eos_id;
    gemma2_step_result full = {
        .struct_size = sizeof full, .token = token, .flags = ends_turn ? GEMMA2_STEP_END_OF_TURN : 0};
    gemma2_status st = g2_struct_write(result, &full, sizeof full, "gemma2_step_result");
    if (st != GEMMA2_OK)
        return st;
    g2_forward(session, &token, 1, NULL);
    return GEMMA2_OK;
}

gemma2_status gemma2_session_logits(const gemma2_session *session, const float **logits, size_t *n_vocab) {
    g2_error_clear();
    CHECK_ARG(logits && n_vocab, "gemma2_session_logits: NULL argument");
    *logits = NULL;
    *n_vocab = 0;
    CHECK_ARG(session, "gemma2_session_logits: session is NULL");
    if (!session->has_logits)
        return g2_error(GEMMA2_ERR_STATE, "no logits yet: feed tokens first");
    *logits = session->logits;
    *n_vocab = session->model->cfg.vocab_size;
    return GEMMA2_OK;
}
