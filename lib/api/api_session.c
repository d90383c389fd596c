/* SPDX-License-Identifier: Apache-2.0 */
/* Public session functions: argument checks, then lib/infer. */
#include <string.h>

#include "api/check.h"
#include "api/options.h"
#include "infer/session.h"

static const gemma2_session_options session_defaults = {
    .struct_size = sizeof(gemma2_session_options), .n_threads = 0, .n_ctx = 0, .sampler = NULL};

static const gemma2_sampler_options sampler_defaults = {.struct_size = sizeof(gemma2_sampler_options),
                                                        .temperature = 0.0f,
                                                        .top_k = 0,
                                                        .top_p = 1.0f,
                                                        .min_p = 0.0f,
                                                        .repeat_penalty = 1.0f,
                                                        .presence_penalty = 0.0f,
                                                        .frequency_penalty = 0.0f,
                                                        .penalty_last_n = 64,
                                                        .n_logit_bias = 0,
                                                        .seed = 0,
                                                        .logit_bias = NULL};

gemma2_status gemma2_session_options_init(gemma2_session_options *opts, size_t size) {
    g2_error_clear();
    return g2_struct_init(opts, size, &session_defaults, sizeof session_defaults, "gemma2_session_options");
}

gemma2_status gemma2_sampler_options_init(gemma2_sampler_options *opts, size_t size) {
    g2_error_clear();
    return g2_struct_init(opts, size, &sampler_defaults, sizeof sampler_defaults, "gemma2_sampler_options");
}

/* Builds the sampler opts ask for (NULL: greedy) and swaps it in; on failure the
 * session keeps its sampler. */
static gemma2_status install_sampler(gemma2_session *s, const gemma2_sampler_options *opts) {
    gemma2_sampler_options o = sampler_defaults;
    gemma2_status st = g2_struct_read(&o, sizeof o, opts, "gemma2_sampler_options");
    if (st != GEMMA2_OK)
        return st;
    CHECK_ARG(o.n_logit_bias == 0 || o.logit_bias, "gemma2_sampler_options: logit_bias is NULL");
    const g2_sampler_params p = {.temperature = o.temperature,
                                 .top_k = o.top_k,
                                 .top_p = o.top_p,
                                 .min_p = o.min_p,
                                 .repeat_penalty = o.repeat_penalty,
                                 .presence_penalty = o.presence_penalty,
                                 .frequency_penalty = o.frequency_penalty,
                                 .penalty_last_n = o.penalty_last_n,
                                 .seed = o.seed};
    g2_sampler fresh;
    st = g2_sampler_init(&fresh, &p, o.logit_bias, o.n_logit_bias, s->model->cfg.vocab_size, s->n_ctx);
    if (st != GEMMA2_OK)
        return st;
    g2_sampler_free(&s->sampler);
    s->sampler = fresh;
    return GEMMA2_OK;
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
    gemma2_session *s;
    if ((st = g2_session_create(model, g2_threads_resolve(o.n_threads), n_ctx, &s)) != GEMMA2_OK)
        return st;
    if ((st = install_sampler(s, o.sampler)) != GEMMA2_OK) {
        g2_session_destroy(s);
        return st;
    }
    *out = s;
    return GEMMA2_OK;
}

gemma2_status gemma2_session_set_sampler(gemma2_session *session, const gemma2_sampler_options *opts) {
    g2_error_clear();
    CHECK_ARG(session, "gemma2_session_set_sampler: session is NULL");
    return install_sampler(session, opts);
}

void gemma2_session_cancel(gemma2_session *session) {
    if (session)
        atomic_store_explicit(&session->cancel, 1, memory_order_relaxed);
}

void gemma2_session_free(gemma2_session *session) { g2_session_destroy(session); }

gemma2_status gemma2_session_reset(gemma2_session *session) {
    g2_error_clear();
    CHECK_ARG(session, "gemma2_session_reset: session is NULL");
    session->n_pos = 0;
    session->local_from = 0;
    session->has_logits = 0;
    session->stream_restart = 1;
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
    atomic_store_explicit(&session->cancel, 0, memory_order_relaxed); /* a stale request */
    session->stream_restart = 1; /* the next step's text does not follow the last step's */
    return g2_forward(session, tokens, (uint32_t)n, NULL) == GEMMA2_OK
               ? GEMMA2_OK
               : g2_error(GEMMA2_ERR_CANCELLED, "gemma2_session_feed: cancelled; the session is unchanged");
}

uint64_t gemma2_session_memory_bytes(const gemma2_session *session) {
    if (!session)
        return 0;
    const g2_sampler *sm = &session->sampler;
    return session->bytes + (uint64_t)sm->vocab * (sizeof *sm->work + sizeof *sm->cand) +
           (uint64_t)sm->p.penalty_last_n * sizeof *sm->window + (uint64_t)sm->n_bias * sizeof *sm->bias;
}

gemma2_status gemma2_session_tokens(const gemma2_session *session, int32_t *ids, size_t cap, size_t *n) {
    g2_error_clear();
    CHECK_ARG(n, "gemma2_session_tokens: n is NULL");
    *n = 0;
    CHECK_ARG(session && (ids || cap == 0), "gemma2_session_tokens: NULL argument");
    const size_t count = cap < session->n_pos ? cap : session->n_pos;
    if (count)
        memcpy(ids, session->tokens, count * sizeof *ids);
    *n = ids ? count : session->n_pos;
    return GEMMA2_OK;
}

gemma2_status gemma2_session_rewind(gemma2_session *session, uint32_t n) {
    g2_error_clear();
    CHECK_ARG(session, "gemma2_session_rewind: session is NULL");
    CHECK_ARG(n <= session->n_pos, "gemma2_session_rewind: %u is past the session's %u tokens", (unsigned)n,
              (unsigned)session->n_pos);
    if (n < session->n_pos) {
        session->has_logits = 0; /* those of position n - 1 are not kept */
        session->stream_restart = 1;
    }
    session->n_pos = n;
    return GEMMA2_OK;
}

gemma2_status gemma2_session_feed_prompt(gemma2_session *session, const int32_t *tokens, size_t n,
                                         size_t *reused) {
    g2_error_clear();
    if (reused)
        *reused = 0;
    CHECK_ARG(session, "gemma2_session_feed_prompt: session is NULL");
    /* the checks of a feed from position 0: the whole prompt must fit */
    const uint32_t held = session->n_pos;
    session->n_pos = 0;
    gemma2_status st = check_feed(session, tokens, n);
    session->n_pos = held;
    if (st != GEMMA2_OK)
        return st;
    size_t common = 0;
    while (common < held && common < n && session->tokens[common] == tokens[common])
        common++;
    if (common == n && held == n && session->has_logits) {
        if (reused) /* it holds exactly these, logits included: nothing to compute */
            *reused = n;
        return GEMMA2_OK;
    }
    const size_t keep = common < n ? common : n - 1; /* the last token is fed for its logits */
    gemma2_session_rewind(session, (uint32_t)keep);
    session->stream_restart = 1;
    atomic_store_explicit(&session->cancel, 0, memory_order_relaxed); /* a stale request */
    if (g2_forward(session, tokens + keep, (uint32_t)(n - keep), NULL) != GEMMA2_OK)
        return g2_error(GEMMA2_ERR_CANCELLED, "gemma2_session_feed_prompt: cancelled after the common prefix");
    if (reused)
        *reused = keep;
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
    atomic_store_explicit(&session->cancel, 0, memory_order_relaxed); /* a stale request */
    session->stream_restart = 1; /* the next step's text does not follow the last step's */
    return g2_forward(session, tokens, (uint32_t)n, &fo) == GEMMA2_OK
               ? GEMMA2_OK
               : g2_error(GEMMA2_ERR_CANCELLED, "gemma2_session_feed_outputs: cancelled; the session is unchanged");
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
    atomic_store_explicit(&session->cancel, 0, memory_order_relaxed); /* a stale request */
    const g2_file_config *c = &session->model->cfg;
    uint64_t rng[4]; /* put back if the step is cancelled, so a retry draws the same */
    memcpy(rng, session->sampler.rng, sizeof rng);
    int32_t token = g2_sampler_sample(&session->sampler, session->logits, session->tokens, session->n_pos);
    if (token < 0) {
        /* no candidate: every logit NaN (weights that overflow float) or banned by the bias */
        uint32_t nan = 0;
        for (uint32_t i = 0; i < c->vocab_size; i++)
            nan += session->logits[i] != session->logits[i];
        return g2_error(GEMMA2_ERR_STATE, nan == c->vocab_size
                                              ? "gemma2_session_step: every logit is NaN (the model's "
                                                "weights or activations overflow)"
                                              : "gemma2_session_step: the logit bias bans every token");
    }
    const gemma2_tokenizer *tok = session->model->tokenizer;
    int ends_turn = tok ? gemma2_token_is_end_of_turn(tok, token) : token == c->eos_id;
    gemma2_step_result full = {
        .struct_size = sizeof full, .token = token, .flags = ends_turn ? GEMMA2_STEP_END_OF_TURN : 0};
    /* the caller's struct is checked before anything changes */
    gemma2_status st = g2_struct_write(result, &full, sizeof full, "gemma2_step_result");
    if (st != GEMMA2_OK) {
        memcpy(session->sampler.rng, rng, sizeof rng);
        return st;
    }
    st = g2_forward(session, &token, 1, NULL);
    if (st != GEMMA2_OK) {
        memcpy(session->sampler.rng, rng, sizeof rng);
        return st != GEMMA2_ERR_CANCELLED ? st
                                          : g2_error(st, "gemma2_session_step: cancelled; the session is unchanged");
    }
    if (session->stream) {
        size_t len = 0;
        if (session->stream_restart) { /* drop a character left unfinished before */
            gemma2_text_stream_flush(session->stream, session->piece, session->piece_cap, &len);
            session->stream_restart = 0;
            len = 0;
        }
        /* ids past the tokenizer's pieces (a larger model vocabulary) have no text */
        if (gemma2_text_stream_push(session->stream, token, session->piece, session->piece_cap, &len) != GEMMA2_OK)
            len = 0;
        g2_error_clear();
        session->piece[len] = '\0';
        full.text = session->piece;
        full.text_len = len;
    }
    return g2_struct_write(result, &full, sizeof full, "gemma2_step_result");
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
