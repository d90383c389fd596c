/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"

int cli_fail(const char *cmd, gemma2_status st) {
    const char *msg = gemma2_last_error();
    fprintf(stderr, "gemma2 %s: error: %s\n", cmd, msg[0] ? msg : gemma2_status_string(st));
    return CLI_EXIT_ERROR;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gemma2 %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gemma2 %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_tokens(const char *s, int32_t **tokens, size_t *n) {
    *tokens = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return -1;
    size_t count = 0;
    for (const char *p = s;; p++) {
        /* every field is an integer: no empty fields, no spaces (strtoll would skip them) */
        int starts_number = (*p >= '0' && *p <= '9') || *p == '-';
        char *end = (char *)p;
        errno = 0;
        long long v = starts_number ? strtoll(p, &end, 10) : 0;
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end != ',' && *end != '\0')) {
            free(ids);
            return -1;
        }
        ids[count++] = (int32_t)v;
        if (*end == '\0')
            break;
        p = end;
    }
    *tokens = ids;
    *n = count;
    return 0;
}

int cli_common_flag(const char *cmd, const char *usage, int argc, char **argv, int *i, cli_common *c) {
    const char *a = argv[*i];
    if (!strcmp(a, "--no-mmap")) {
        c->open_flags |= GEMMA2_MODEL_NO_MMAP;
        return 1;
    }
    int is_threads = !strcmp(a, "-t") || !strcmp(a, "--threads");
    int is_ctx = !strcmp(a, "--ctx");
    if (!is_threads && !is_ctx)
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, usage, "%s needs a value", a);
        return -1;
    }
    long long v;
    const char *val = argv[++*i];
    if (is_threads ? cli_parse_int(val, 0, 256, &v) : cli_parse_int(val, 1, UINT32_MAX, &v)) {
        cli_usage_error(cmd, usage, "bad value for %s: '%s'", a, val);
        return -1;
    }
    if (is_threads)
        c->threads = (int)v;
    else
        c->ctx = (uint32_t)v;
    return 1;
}

int cli_open_model(const char *cmd, const char *path, int threads, uint32_t flags, gemma2_model **out) {
    gemma2_model_options o;
    gemma2_model_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.flags = flags;
    gemma2_status st = gemma2_model_open(path, &o, out);
    return st == GEMMA2_OK ? 0 : cli_fail(cmd, st);
}

int cli_new_session(const char *cmd, gemma2_model *model, int threads, uint32_t n_ctx,
                    const gemma2_sampler_options *sampler, gemma2_session **out) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = threads;
    o.n_ctx = n_ctx;
    o.sampler = sampler;
    gemma2_status st = gemma2_session_new(model, &o, out);
    return st == GEMMA2_OK ? 0 : cli_fail(cmd, st);
}

uint32_t cli_default_ctx(const gemma2_model *model, const cli_common *c, size_t needed) {
    uint32_t max = gemma2_model_context_length(model);
    if (c->ctx)
        return c->ctx; /* explicit: the library checks it */
    return needed < max ? (uint32_t)needed : max;
}
