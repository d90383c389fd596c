/* SPDX-License-Identifier: Apache-2.0 */
/* Many sessions of one model stepping at once from their own host threads give the
 * same tokens as the same sessions run one after another (meant for TSan as well:
 * the model is shared read-only, everything else is per session).
 * usage: test_concurrency MODEL */
#include <pthread.h>
#include <string.h>

#include "gemma2.h"
#include "testutil.h"

#define SESSIONS 4
#define PROMPT 40
#define STEPS 24

typedef struct job {
    gemma2_model *model;
    int index;
    int32_t out[STEPS];
    gemma2_status status;
} job;

static void *run_job(void *p) {
    job *j = p;
    gemma2_sampler_options so;
    gemma2_sampler_options_init(&so, sizeof so);
    so.temperature = 1.2f; /* odd sessions sample, even ones are greedy */
    so.top_k = 30;
    so.seed = (uint64_t)j->index * 1000003u;
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = 1 + j->index % 2; /* each session has its own pool of 1 or 2 */
    o.n_ctx = PROMPT + STEPS;
    o.sampler = j->index % 2 ? &so : NULL;
    gemma2_session *s = NULL;
    j->status = gemma2_session_new(j->model, &o, &s);
    const uint32_t vocab = gemma2_model_vocab_size(j->model);
    int32_t prompt[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = (int32_t)(((unsigned)i * 29u + (unsigned)j->index * 101u + 3u) % vocab);
    if (j->status == GEMMA2_OK)
        j->status = gemma2_session_feed(s, prompt, PROMPT);
    for (int i = 0; j->status == GEMMA2_OK && i < STEPS; i++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        j->status = gemma2_session_step(s, &r);
        j->out[i] = r.token;
    }
    gemma2_session_free(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_concurrency MODEL\n");
        return 2;
    }
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(argv[1], NULL, &m), GEMMA2_OK);
    if (!m)
        return 1;
    job alone[SESSIONS], together[SESSIONS];
    for (int k = 0; k < SESSIONS; k++) {
        alone[k] = (job){.model = m, .index = k};
        together[k] = (job){.model = m, .index = k};
        run_job(&alone[k]);
        CHECK_STATUS(alone[k].status, GEMMA2_OK);
    }
    pthread_t t[SESSIONS];
    for (int k = 0; k < SESSIONS; k++)
        CHECK(pthread_create(&t[k], NULL, run_job, &together[k]) == 0, "pthread_create %d", k);
    for (int k = 0; k < SESSIONS; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < SESSIONS; k++) {
        CHECK_STATUS(together[k].status, GEMMA2_OK);
        CHECK(!memcmp(alone[k].out, together[k].out, sizeof alone[k].out),
              "session %d: tokens differ when run concurrently", k);
    }
    /* the sessions really differ from each other (prompts, seeds, samplers) */
    CHECK(memcmp(alone[0].out, alone[1].out, sizeof alone[0].out) != 0, "sessions 0 and 1 gave the same tokens");
    gemma2_model_close(m);
    return tu_finish("test_concurrency");
}
