/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2_session_generate: steps with a text callback, stop strings and limits. */
#include <string.h>

#include "api/check.h"
#include "api/options.h"
#include "infer/session.h"
#include "infer/stops.h"

static const gemma2_generate_options generate_defaults = {.struct_size = sizeof(gemma2_generate_options)};
static const gemma2_generate_result result_zero = {.struct_size = sizeof(gemma2_generate_result)};

gemma2_status gemma2_generate_options_init(gemma2_generate_options *opts, size_t size) {
    g2_error_clear();
    return g2_struct_init(opts, size, &generate_defaults, sizeof generate_defaults, "gemma2_generate_options");
}

gemma2_status gemma2_generate_result_init(gemma2_generate_result *result, size_t size) {
    g2_error_clear();
    return g2_struct_init(result, size, &result_zero, sizeof result_zero, "gemma2_generate_result");
}

/* Passes text through the stop strings to the callback: 1 to stop (a stop string or
 * the callback), 0 to go on, -1 out of memory. */
static int pass_on(g2_stops *stops, gemma2_text_callback cb, void *user, int32_t token, const char *text,
                   size_t len, uint32_t *reason) {
    size_t release = len;
    const char *out = text;
    int hit = 0;
    if (stops->n) {
        if ((hit = g2_stops_push(stops, text, len, &release)) < 0)
            return -1;
        out = stops->held;
    }
    const int stop = cb && cb(user, token, release ? out : "", release);
    if (stops->n)
        g2_stops_consume(stops, release);
    if (hit)
        *reason = GEMMA2_STOP_STRING;
    else if (stop)
        *reason = GEMMA2_STOP_CALLBACK;
    return hit || stop;
}

gemma2_status gemma2_session_generate(gemma2_session *session, const gemma2_generate_options *opts,
                                      gemma2_text_callback callback, void *user,
                                      gemma2_generate_result *result) {
    g2_error_clear();
    CHECK_ARG(session, "gemma2_session_generate: session is NULL");
    gemma2_generate_options o = generate_defaults;
    gemma2_status st = g2_struct_read(&o, sizeof o, opts, "gemma2_generate_options");
    if (st != GEMMA2_OK)
        return st;
    if (o.reserved != 0)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "gemma2_generate_options.reserved must be 0");
    CHECK_ARG(o.n_stop == 0 || o.stop, "gemma2_session_generate: stop is NULL");
    for (uint32_t i = 0; i < o.n_stop; i++)
        CHECK_ARG(o.stop[i] && o.stop[i][0], "gemma2_session_generate: stop string %u is NULL or empty",
                  (unsigned)i);
    if (o.n_stop && !session->stream)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "stop strings need a model with a tokenizer");
    gemma2_generate_result r = result_zero;
    if (result && (st = g2_struct_write(result, &r, sizeof r, "gemma2_generate_result")) != GEMMA2_OK)
        return st;
    if (!session->has_logits)
        return g2_error(GEMMA2_ERR_STATE, "gemma2_session_generate: feed a prompt first");
    g2_stops stops = {.stop = o.stop, .n = o.n_stop};
    int done = 0;
    while (!done) {
        if (o.max_tokens && r.n_tokens == o.max_tokens) {
            r.stop_reason = GEMMA2_STOP_MAX_TOKENS;
            break;
        }
        gemma2_step_result step;
        gemma2_step_result_init(&step, sizeof step);
        if ((st = gemma2_session_step(session, &step)) != GEMMA2_OK) {
            if (st == GEMMA2_ERR_CONTEXT_FULL)
                st = GEMMA2_OK;
            r.stop_reason = st == GEMMA2_OK ? GEMMA2_STOP_CONTEXT_FULL : GEMMA2_STOP_ERROR;
            break;
        }
        r.n_tokens++;
        const int pass = pass_on(&stops, callback, user, step.token, step.text ? step.text : "",
                                 (size_t)step.text_len, &r.stop_reason);
        if (pass < 0) {
            st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory holding back text for stop strings");
            r.stop_reason = GEMMA2_STOP_ERROR;
            break;
        }
        done = pass;
        if (!done && (step.flags & GEMMA2_STEP_END_OF_TURN)) {
            r.stop_reason = GEMMA2_STOP_END_OF_TURN;
            done = 1;
        }
    }
    /* the end of the text: a character left unfinished (U+FFFD), and what was held back
     * as a possible stop string's start, which is final now */
    if (st == GEMMA2_OK && r.stop_reason != GEMMA2_STOP_STRING && session->stream) {
        size_t len = 0, release;
        gemma2_text_stream_flush(session->stream, session->piece, session->piece_cap, &len);
        const char *tail = session->piece;
        if (stops.n) {
            const int hit = g2_stops_push(&stops, session->piece, len, &release);
            if (hit < 0) {
                st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory holding back text for stop strings");
                r.stop_reason = GEMMA2_STOP_ERROR;
            } else if (hit) {
                r.stop_reason = GEMMA2_STOP_STRING;
            }
            tail = stops.held;
            len = stops.len;
        }
        if (st == GEMMA2_OK && callback && len)
            callback(user, -1, tail, len);
    }
    g2_stops_free(&stops);
    if (result)
        g2_struct_write(result, &r, sizeof r, "gemma2_generate_result");
    return st;
}
