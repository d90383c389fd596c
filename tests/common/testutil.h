/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal test support: checks that count failures, file helpers, golden data. */
#ifndef G2_TESTUTIL_H
#define G2_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int tu_failures;
extern int tu_checks;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        tu_checks++;                                                                 \
        if (!(cond)) {                                                               \
            tu_failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

/* Checks a gemma2 call's status, printing the library's message on mismatch. */
#define CHECK_STATUS(call, expected)                                                      \
    do {                                                                                  \
        int32_t st_ = (call);                                                             \
        CHECK(st_ == (expected), "%s returned %d (%s: %s), expected %d", #call, (int)st_, \
              gemma2_status_string(st_), gemma2_last_error(), (int)(expected));           \
    } while (0)

/* Prints a summary; returns the process exit status. */
int tu_finish(const char *name);

/* Reads a whole file (malloc'ed); NULL on failure. */
unsigned char *tu_read_file(const char *path, size_t *size);
int tu_write_file(const char *path, const void *data, size_t size);

/* Largest |a[i] - b[i]|. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);
double tu_max_abs(const float *a, size_t n);

/* The parts of a golden folder's golden.json the tests use, plus its arrays. */
typedef struct tu_golden {
    int32_t *input_ids;
    size_t n_input;
    int32_t *greedy_ids;
    size_t n_generate;
    size_t vocab, hidden;
    double logits_atol;   /* tolerances_suggested.f32_compute.logits_atol */
    double hidden_rel;    /* tolerances_suggested.f32_compute.hidden_rel_to_max */
    float *logits;        /* [n_input][vocab] */
    float *decode_logits; /* [n_generate][vocab] */
    float *hidden_states; /* [n_input][hidden] */
} tu_golden;

int tu_golden_load(const char *dir, tu_golden *g);
void tu_golden_free(tu_golden *g);

#endif
