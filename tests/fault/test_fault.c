/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection (lib/runtime/alloc.h): every allocation, file operation and thread
 * creation of model open, session new, feed, step, generate, state save and load,
 * sampler and tokenizer calls is made to fail in turn. Each failure must give a clean
 * status with a message, leave existing handles as they were (the next call works and
 * gives the same results as a run with no failure), and leak nothing (ASan's leak
 * checker and valgrind run this too).
 * usage: test_fault MODEL COMPRESSED_MODEL CHAT_MODEL SCRATCH_DIR */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2.h"
#include "runtime/alloc.h"
#include "testutil.h"

#define PROMPT 12
#define STEPS 4
static const int32_t prompt[PROMPT] = {2, 31, 7, 99, 4, 250, 18, 5, 77, 123, 64, 9};
static const char *const kind_names[] = {"allocation", "file operation", "thread creation"};
static char scratch_state[4096];

/* One call under test, with what it needs and what it made. */
typedef struct stage {
    const char *name;
    const char *model_path;
    uint32_t open_flags;
    gemma2_model *model;     /* shared, made before the stage */
    gemma2_session *session; /* made before the stage when the stage needs one */
    int32_t tokens[STEPS];   /* what the stage produced (compared with the reference) */
    gemma2_status (*run)(struct stage *);
    void (*undo)(struct stage *); /* releases what a successful run made */
} stage;

/* ---- the stages ---- */

static gemma2_status run_open(stage *s) {
    gemma2_model_options o;
    gemma2_model_options_init(&o, sizeof o);
    o.flags = s->open_flags;
    o.n_threads = 2;
    gemma2_model *m = NULL;
    gemma2_status st = gemma2_model_open(s->model_path, &o, &m);
    if (st == GEMMA2_OK) {
        gemma2_model_close(s->model);
        s->model = m;
        uint8_t digest[GEMMA2_DIGEST_BYTES]; /* what the stage made: the file's digest */
        st = gemma2_model_digest(m, digest, sizeof digest);
        memcpy(s->tokens, digest, sizeof s->tokens);
    } else if (m) {
        st = GEMMA2_ERR_INTERNAL; /* *out must be NULL on failure */
    }
    return st;
}

static gemma2_status greedy_steps(gemma2_session *session, int32_t *out) {
    for (int i = 0; i < STEPS; i++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        gemma2_status st = gemma2_session_step(session, &r);
        if (st != GEMMA2_OK)
            return st;
        out[i] = r.token;
    }
    return GEMMA2_OK;
}

static gemma2_session *new_session(gemma2_model *model, int threads) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.n_ctx = 64;
    gemma2_session *s = NULL;
    gemma2_status st = gemma2_session_new(model, &o, &s);
    return st == GEMMA2_OK ? s : NULL;
}

static gemma2_status run_session_new(stage *s) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = 2;
    o.n_ctx = 64;
    gemma2_session *made = NULL;
    gemma2_status st = gemma2_session_new(s->model, &o, &made);
    if (st != GEMMA2_OK)
        return made ? GEMMA2_ERR_INTERNAL : st;
    st = gemma2_session_feed(made, prompt, PROMPT);
    if (st == GEMMA2_OK)
        st = greedy_steps(made, s->tokens);
    gemma2_session_free(made);
    return st;
}

/* feed then steps on a fresh session; a failure is retried to show the session is
 * unchanged: the retry must give the reference tokens */
static gemma2_status run_feed_step(stage *s) {
    gemma2_session_reset(s->session);
    gemma2_status st = gemma2_session_feed(s->session, prompt, PROMPT);
    if (st == GEMMA2_OK)
        st = greedy_steps(s->session, s->tokens);
    return st;
}

static gemma2_status run_state(stage *s) {
    gemma2_session_reset(s->session);
    gemma2_status st = gemma2_session_feed(s->session, prompt, PROMPT);
    if (st != GEMMA2_OK)
        return st;
    void *state = NULL;
    size_t size = 0;
    st = gemma2_session_save(s->session, &state, &size);
    if (st != GEMMA2_OK)
        return state ? GEMMA2_ERR_INTERNAL : st;
    st = gemma2_session_save_file(s->session, scratch_state);
    if (st == GEMMA2_OK)
        st = gemma2_session_reset(s->session);
    if (st == GEMMA2_OK)
        st = gemma2_session_load_file(s->session, scratch_state);
    if (st == GEMMA2_OK)
        st = gemma2_session_load(s->session, state, size);
    gemma2_state_free(state);
    if (st == GEMMA2_OK)
        st = greedy_steps(s->session, s->tokens);
    return st;
}

static gemma2_status run_sampler(stage *s) {
    gemma2_session_reset(s->session);
    gemma2_logit_bias bias[3] = {{5, 1.5f}, {7, -2.0f}, {99, 0.5f}};
    gemma2_sampler_options o;
    gemma2_sampler_options_init(&o, sizeof o);
    o.temperature = 0.9f;
    o.top_k = 40;
    o.top_p = 0.9f;
    o.repeat_penalty = 1.1f;
    o.seed = 1234;
    o.logit_bias = bias;
    o.n_logit_bias = 3;
    gemma2_status st = gemma2_session_set_sampler(s->session, &o);
    if (st == GEMMA2_OK)
        st = gemma2_session_feed(s->session, prompt, PROMPT);
    if (st == GEMMA2_OK)
        st = greedy_steps(s->session, s->tokens);
    int32_t ids[8];
    float lp[8];
    size_t n_out = 0;
    if (st == GEMMA2_OK)
        st = gemma2_session_top_logprobs(s->session, 8, ids, lp, &n_out);
    return st;
}

typedef struct collected {
    char text[512];
    size_t len;
} collected;

static int collect(void *user, int32_t token, const char *text, size_t len) {
    collected *c = user;
    (void)token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
    }
    return 0;
}

/* tokenizer, chat template and generate with stop strings (the chat model) */
static gemma2_status run_text(stage *s) {
    const gemma2_tokenizer *tok = NULL;
    gemma2_status st = gemma2_model_tokenizer(s->model, &tok);
    if (st != GEMMA2_OK)
        return st;
    const char *roles[] = {"user"}, *texts[] = {"Tell me about the sea and the stars"};
    const size_t lens[] = {strlen(texts[0])};
    int32_t ids[128];
    size_t n = 0;
    st = gemma2_chat_tokenize(tok, roles, texts, lens, 1, GEMMA2_CHAT_ADD_GENERATION_PROMPT, ids, 128, &n);
    if (st != GEMMA2_OK)
        return st;
    char text[512];
    size_t len = 0;
    st = gemma2_detokenize(tok, ids, n, 0, text, sizeof text, &len);
    if (st == GEMMA2_OK)
        st = gemma2_tokenize(tok, text, len, GEMMA2_TOKENIZE_SPECIAL, ids, 128, &n);
    gemma2_text_stream *stream = NULL;
    if (st == GEMMA2_OK)
        st = gemma2_text_stream_new(tok, 0, &stream);
    gemma2_text_stream_free(stream);
    if (st != GEMMA2_OK)
        return st;
    gemma2_session_reset(s->session);
    st = gemma2_session_feed_prompt(s->session, ids, n, NULL);
    if (st != GEMMA2_OK)
        return st;
    const char *stops[] = {"zz", "the end"};
    gemma2_generate_options go;
    gemma2_generate_options_init(&go, sizeof go);
    go.max_tokens = STEPS;
    go.stop = stops;
    go.n_stop = 2;
    collected c = {{0}, 0};
    gemma2_generate_result gr;
    gemma2_generate_result_init(&gr, sizeof gr);
    st = gemma2_session_generate(s->session, &go, collect, &c, &gr);
    if (st == GEMMA2_OK) {
        memset(s->tokens, 0, sizeof s->tokens);
        size_t nt = 0;
        int32_t all[64];
        st = gemma2_session_tokens(s->session, all, 64, &nt);
        for (size_t i = n; st == GEMMA2_OK && i < nt && i - n < STEPS; i++)
            s->tokens[i - n] = all[i];
    }
    return st;
}

/* ---- the walk ---- */

static int allowed_failure(gemma2_status st, g2_fault_kind kind) {
    switch (kind) {
    case G2_FAULT_ALLOC: return st == GEMMA2_ERR_OUT_OF_MEMORY;
    case G2_FAULT_IO: return st == GEMMA2_ERR_IO || st == GEMMA2_ERR_OUT_OF_MEMORY;
    case G2_FAULT_THREAD: return st == GEMMA2_ERR_SYSTEM;
    default: return 0;
    }
}

/* Runs s with no fault for the reference, counts its sites of each kind, then fails
 * each site in turn; after each failure the stage is run again with no fault and must
 * give the reference tokens. */
static void walk(stage *s) {
    int32_t want[STEPS];
    CHECK_STATUS(s->run(s), GEMMA2_OK);
    memcpy(want, s->tokens, sizeof want);
    for (int kind = 0; kind < G2_FAULT_KINDS; kind++) {
        g2_fault_inject((g2_fault_kind)kind, LONG_MAX);
        gemma2_status st = s->run(s);
        long sites = g2_fault_inject((g2_fault_kind)kind, 0);
        CHECK(st == GEMMA2_OK, "%s: counting run failed", s->name);
        for (long n = 1; n <= sites; n++) {
            g2_fault_inject((g2_fault_kind)kind, n);
            st = s->run(s);
            g2_fault_inject((g2_fault_kind)kind, 0);
            CHECK(allowed_failure(st, (g2_fault_kind)kind) || st == GEMMA2_OK,
                  "%s: %s %ld of %ld failed: status %d (%s: %s)", s->name, kind_names[kind], n, sites, (int)st,
                  gemma2_status_string(st), gemma2_last_error());
            if (st != GEMMA2_OK)
                CHECK(gemma2_last_error()[0] != '\0', "%s: %s %ld: no message", s->name, kind_names[kind], n);
            memset(s->tokens, 0xff, sizeof s->tokens);
            st = s->run(s); /* the handles still work, with the same results */
            CHECK(st == GEMMA2_OK && !memcmp(s->tokens, want, sizeof want),
                  "%s: after failing %s %ld the next run gave status %d (%s) or other tokens", s->name,
                  kind_names[kind], n, (int)st, gemma2_last_error());
        }
        printf("%s: %ld %s sites\n", s->name, sites, kind_names[kind]);
    }
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: test_fault MODEL COMPRESSED_MODEL CHAT_MODEL SCRATCH_DIR GGUF_MODEL\n");
        return 2;
    }
    snprintf(scratch_state, sizeof scratch_state, "%s/test_fault.g2state", argv[4]);
    const struct {
        const char *path;
        uint32_t flags;
    } opens[] = {{argv[1], 0}, {argv[1], GEMMA2_MODEL_NO_MMAP}, {argv[2], 0}, {argv[3], 0},
                 {argv[5], 0}, {argv[5], GEMMA2_MODEL_NO_MMAP}}; /* a GGUF: parse, vocabulary, conversion */
    for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
        stage s = {.name = "model open", .model_path = opens[i].path, .open_flags = opens[i].flags,
                   .run = run_open};
        printf("open %s flags %u\n", opens[i].path, (unsigned)opens[i].flags);
        walk(&s);
        gemma2_model_close(s.model);
    }

    gemma2_model *model = NULL, *chat = NULL;
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &model), GEMMA2_OK);
    CHECK_STATUS(gemma2_model_open(argv[3], NULL, &chat), GEMMA2_OK);
    if (!model || !chat)
        return tu_finish("fault");
    gemma2_session *session = new_session(model, 2), *chat_session = new_session(chat, 1);
    CHECK(session && chat_session, "session");
    if (session && chat_session) {
        stage stages[] = {
            {.name = "session new", .model = model, .run = run_session_new},
            {.name = "feed and step", .model = model, .session = session, .run = run_feed_step},
            {.name = "state save and load", .model = model, .session = session, .run = run_state},
            {.name = "sampler (last on its session)", .model = model, .session = session, .run = run_sampler},
            {.name = "text and generate", .model = chat, .session = chat_session, .run = run_text},
        };
        for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
            walk(&stages[i]);
    }
    gemma2_session_free(session);
    gemma2_session_free(chat_session);
    gemma2_model_close(model);
    gemma2_model_close(chat);
    remove(scratch_state);
    return tu_finish("fault");
}
