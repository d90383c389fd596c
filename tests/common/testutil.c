/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int tu_failures;
int tu_checks;

int tu_finish(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

unsigned char *tu_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *size = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

double tu_max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) /* NaN counts as the worst */
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

double tu_max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

static int32_t *json_ids(json_t *arr, size_t *n) {
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return NULL;
    *n = json_array_size(arr);
    int32_t *ids = malloc(*n * sizeof *ids);
    for (size_t i = 0; ids && i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

static float *read_floats(const char *dir, const char *name, size_t expected) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t size;
    float *data = (float *)tu_read_file(path, &size);
    if (!data || size != expected * sizeof(float)) {
        fprintf(stderr, "%s: missing or %zu bytes, expected %zu\n", path, data ? size : 0,
                expected * sizeof(float));
        free(data);
        return NULL;
    }
    return data;
}

int tu_golden_load(const char *dir, tu_golden *g) {
    memset(g, 0, sizeof *g);
    char path[4096];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        return -1;
    }
    json_t *model = json_object_get(root, "model");
    json_t *tol = json_object_get(json_object_get(root, "tolerances_suggested"), "f32_compute");
    g->vocab = (size_t)json_integer_value(json_object_get(model, "vocab_size"));
    g->hidden = (size_t)json_integer_value(json_object_get(model, "hidden_size"));
    g->logits_atol = json_number_value(json_object_get(tol, "logits_atol"));
    g->hidden_rel = json_number_value(json_object_get(tol, "hidden_rel_to_max"));
    g->input_ids = json_ids(json_object_get(root, "input_ids"), &g->n_input);
    g->greedy_ids = json_ids(json_object_get(root, "greedy_ids"), &g->n_generate);
    json_decref(root);
    if (!g->input_ids || !g->greedy_ids || !g->vocab || !g->hidden || g->logits_atol <= 0 ||
        g->hidden_rel <= 0) {
        fprintf(stderr, "%s: incomplete golden.json\n", path);
        tu_golden_free(g);
        return -1;
    }
    g->logits = read_floats(dir, "logits.f32", g->n_input * g->vocab);
    g->decode_logits = read_floats(dir, "decode_logits.f32", g->n_generate * g->vocab);
    g->hidden_states = read_floats(dir, "hidden.f32", g->n_input * g->hidden);
    if (!g->logits || !g->decode_logits || !g->hidden_states) {
        tu_golden_free(g);
        return -1;
    }
    return 0;
}

void tu_golden_free(tu_golden *g) {
    free(g->input_ids);
    free(g->greedy_ids);
    free(g->logits);
    free(g->decode_logits);
    free(g->hidden_states);
    memset(g, 0, sizeof *g);
}
