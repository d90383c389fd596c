/* SPDX-License-Identifier: Apache-2.0 */
/* A host program built outside the tree with `pkg-config --cflags --libs gemma2` only
 * (tests/abi/test_install.py): prints the library's version, then the greedy ids after
 * the prompt ids given, comma-separated, as `gemma2 generate` does.
 * usage: external MODEL N ID... */
#include <gemma2.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, gemma2_status status) {
    fprintf(stderr, "external: %s: %s: %s\n", what, gemma2_status_string(status), gemma2_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: external MODEL N ID...\n");
        return 2;
    }
    int n_generate = atoi(argv[2]);
    int32_t prompt[64];
    size_t n_prompt = 0;
    for (int i = 3; i < argc && n_prompt < 64; i++)
        prompt[n_prompt++] = (int32_t)atoi(argv[i]);

    printf("%s\n", gemma2_version_string());
    gemma2_model *model = NULL;
    gemma2_status status = gemma2_model_open(argv[1], NULL, &model);
    if (status != GEMMA2_OK)
        return fail("open", status);
    gemma2_session *session = NULL;
    status = gemma2_session_new(model, NULL, &session);
    gemma2_model_close(model); /* the session keeps its own reference */
    if (status != GEMMA2_OK)
        return fail("session", status);
    status = gemma2_session_feed(session, prompt, n_prompt);
    for (int i = 0; i < n_generate && status == GEMMA2_OK; i++) {
        gemma2_step_result step;
        gemma2_step_result_init(&step, sizeof step);
        status = gemma2_session_step(session, &step);
        if (status == GEMMA2_OK)
            printf(i ? ",%d" : "%d", (int)step.token);
    }
    printf("\n");
    gemma2_session_free(session);
    return status == GEMMA2_OK ? 0 : fail("generate", status);
}
