/* SPDX-License-Identifier: Apache-2.0 */
/* Saving and restoring a session (docs/format.md, "Session state"): the tokens, the
 * KV cache of those positions, the last logits and the sampler with its generator,
 * as one zstd frame behind a header that binds it to the model's digest and a
 * BLAKE2b-256 digest of everything before it. The cache goes out position by
 * position per layer and KV head (sliding-window layers: only the window behind the
 * last position), so a state loads into a session of any context length that holds
 * its tokens. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "api/check.h"
#include "runtime/alloc.h"
#include "infer/session.h"
#include "tensor/ops.h"

#define STATE_VERSION 1u
#define STATE_DIGEST 32u
#define ZSTD_LEVEL 3

static const uint8_t state_magic[8] = {0x89, 'G', '2', 'S', 'T', 'A', 'T', 'E'};

/* Fixed little-endian header (x86-64 and aarch64 are both little-endian; the layout
 * is spelled out in docs/format.md). */
typedef struct state_header {
    uint8_t magic[8];
    uint32_t version;
    uint32_t header_size;
    uint8_t model_digest[32];
    uint32_t n_pos, vocab, n_layers, kv_dim;
    uint32_t has_logits, n_bias;
    uint32_t local_from; /* sliding-window layers: positions [local_from, n_pos) follow */
    uint32_t window;
    uint64_t payload_size; /* uncompressed */
    uint64_t stored_size;  /* the zstd frame after the header */
} state_header;

/* The sampler as the state holds it: its parameters as they are (g2_sampler_params:
 * no padding, the field order is the file's) and the generator's state. */
typedef struct sampler_record {
    g2_sampler_params p;
    uint64_t rng[4];
} sampler_record;

_Static_assert(sizeof(state_header) == 96 && sizeof(sampler_record) == 72,
               "no padding: the layout is the file's");

static int is_local(const gemma2_session *s, uint32_t l) {
    return s->model->layer_kind[l] == G2_LAYER_LOCAL && s->model->cfg.sliding_window > 0;
}

/* The first position of a sliding-window layer's cache that a state holds: the window
 * behind n_pos, or less if the session does not hold that much (it would recompute). */
static uint32_t save_from(const gemma2_session *s) {
    const uint32_t w = s->model->cfg.sliding_window, n = s->n_pos;
    const uint32_t window = w && n >= w ? n - w + 1 : 0;
    return s->local_from > window ? (s->local_from < n ? s->local_from : n) : window;
}

static uint64_t payload_bytes(const gemma2_session *s, uint32_t n_pos, uint32_t local_from,
                              uint32_t has_logits, uint32_t n_bias) {
    const g2_file_config *c = &s->model->cfg;
    uint64_t positions = 0;
    for (uint32_t l = 0; l < c->n_layers; l++)
        positions += is_local(s, l) ? n_pos - local_from : n_pos;
    return (uint64_t)n_pos * sizeof(int32_t) + 2 * positions * s->kv_dim * sizeof(float) +
           (has_logits ? (uint64_t)c->vocab_size * sizeof(float) : 0) + sizeof(sampler_record) +
           (uint64_t)n_bias * sizeof(gemma2_logit_bias);
}

/* Copies between the session and a payload, in the payload's order: tokens, then for
 * each layer and KV head its keys of every position, then its values, then the
 * logits, the sampler and its bias entries. */
static void copy_payload(gemma2_session *s, uint32_t local_from, uint8_t *p, int out) {
    const g2_file_config *c = &s->model->cfg;
    const uint32_t n = s->n_pos, d = c->head_dim;
#define MOVE(mem, bytes)               \
    do {                               \
        if (out)                       \
            memcpy(p, (mem), (bytes)); \
        else                           \
            memcpy((mem), p, (bytes)); \
        p += (bytes);                  \
    } while (0)
    MOVE(s->tokens, (size_t)n * sizeof(int32_t));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const uint32_t cap = s->cap[l], from = is_local(s, l) ? local_from : 0;
        for (uint32_t h = 0; h < c->n_kv_heads; h++) {
            float *k = s->k_cache + s->layer_off[l] + (size_t)h * cap * d;
            float *v = s->v_cache + s->layer_off[l] + (size_t)h * cap * d;
            for (uint32_t j = from; j < n; j++)
                for (uint32_t i = 0; i < d; i++)
                    MOVE(&k[g2_key_index(cap, d, j % cap, i)], sizeof(float));
            for (uint32_t j = from; j < n; j++)
                MOVE(v + (size_t)(j % cap) * d, (size_t)d * sizeof(float));
        }
    }
    if (s->has_logits)
        MOVE(s->logits, (size_t)c->vocab_size * sizeof(float));
#undef MOVE
}

static void digest_of(const void *head, size_t head_size, const void *body, size_t body_size,
                      uint8_t out[STATE_DIGEST]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, STATE_DIGEST);
    crypto_generichash_update(&st, head, head_size);
    crypto_generichash_update(&st, body, body_size);
    crypto_generichash_final(&st, out, STATE_DIGEST);
}

gemma2_status gemma2_session_save(const gemma2_session *session, void **out, size_t *size) {
    g2_error_clear();
    CHECK_ARG(out && size, "gemma2_session_save: NULL argument");
    *out = NULL;
    *size = 0;
    CHECK_ARG(session, "gemma2_session_save: session is NULL");
    gemma2_session *s = (gemma2_session *)session; /* copy_payload only reads it when out = 1 */
    const g2_sampler *sm = &s->sampler;
    const uint32_t local_from = save_from(s);
    const uint64_t raw = payload_bytes(s, s->n_pos, local_from, (uint32_t)s->has_logits, sm->n_bias);
    if (raw > SIZE_MAX / 2)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "a state of %llu bytes is too large here",
                        (unsigned long long)raw);
    uint8_t *payload = g2_malloc((size_t)raw);
    const size_t bound = ZSTD_compressBound((size_t)raw);
    uint8_t *buf = g2_malloc(sizeof(state_header) + bound + STATE_DIGEST);
    if (!payload || !buf) {
        free(payload);
        free(buf);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory saving a session state");
    }
    copy_payload(s, local_from, payload, 1);
    uint8_t *p = payload + raw - sizeof(sampler_record) - (size_t)sm->n_bias * sizeof(gemma2_logit_bias);
    sampler_record rec = {.p = sm->p};
    memcpy(rec.rng, sm->rng, sizeof rec.rng);
    memcpy(p, &rec, sizeof rec);
    if (sm->n_bias)
        memcpy(p + sizeof rec, sm->bias, (size_t)sm->n_bias * sizeof(gemma2_logit_bias));
    const size_t stored = ZSTD_compress(buf + sizeof(state_header), bound, payload, (size_t)raw, ZSTD_LEVEL);
    free(payload);
    if (ZSTD_isError(stored)) {
        free(buf);
        return g2_error(GEMMA2_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(stored));
    }
    const g2_file_config *c = &s->model->cfg;
    state_header h = {.version = STATE_VERSION,
                      .header_size = sizeof h,
                      .n_pos = s->n_pos,
                      .vocab = c->vocab_size,
                      .n_layers = c->n_layers,
                      .kv_dim = (uint32_t)s->kv_dim,
                      .has_logits = (uint32_t)s->has_logits,
                      .n_bias = sm->n_bias,
                      .local_from = local_from,
                      .window = c->sliding_window,
                      .payload_size = raw,
                      .stored_size = stored};
    memcpy(h.magic, state_magic, sizeof h.magic);
    memcpy(h.model_digest, s->model->digest, sizeof h.model_digest);
    memcpy(buf, &h, sizeof h);
    digest_of(buf, sizeof h, buf + sizeof h, stored, buf + sizeof h + stored);
    *out = buf;
    *size = sizeof h + stored + STATE_DIGEST;
    return GEMMA2_OK;
}

gemma2_status gemma2_session_load(gemma2_session *session, const void *data, size_t size) {
    g2_error_clear();
    CHECK_ARG(session && data, "gemma2_session_load: NULL argument");
    gemma2_session *s = session;
    const g2_file_config *c = &s->model->cfg;
    state_header h;
    if (size < sizeof h + STATE_DIGEST)
        return g2_error(GEMMA2_ERR_FORMAT, "a session state of %zu bytes is truncated", size);
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, state_magic, sizeof h.magic))
        return g2_error(GEMMA2_ERR_FORMAT, "not a gemma2 session state");
    if (h.version != STATE_VERSION || h.header_size != sizeof h)
        return g2_error(GEMMA2_ERR_VERSION, "session state version %u is not supported (this library: %u)",
                        (unsigned)h.version, STATE_VERSION);
    if (h.stored_size != size - sizeof h - STATE_DIGEST)
        return g2_error(GEMMA2_ERR_FORMAT, "the session state is truncated or has extra bytes");
    const uint8_t *bytes = data;
    uint8_t want[STATE_DIGEST];
    digest_of(bytes, sizeof h, bytes + sizeof h, (size_t)h.stored_size, want);
    if (sodium_memcmp(want, bytes + sizeof h + h.stored_size, STATE_DIGEST) != 0)
        return g2_error(GEMMA2_ERR_CHECKSUM, "the session state's digest does not match: it is damaged");
    if (memcmp(h.model_digest, s->model->digest, sizeof h.model_digest))
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "the session state was saved from another model");
    if (h.vocab != c->vocab_size || h.n_layers != c->n_layers || h.kv_dim != s->kv_dim || h.has_logits > 1 ||
        h.window != c->sliding_window || h.local_from > h.n_pos || h.n_bias > c->vocab_size * 16u ||
        h.payload_size != payload_bytes(s, h.n_pos, h.local_from, h.has_logits, h.n_bias))
        return g2_error(GEMMA2_ERR_FORMAT, "the session state's sizes do not match its model");
    if (h.n_pos > s->n_ctx)
        return g2_error(GEMMA2_ERR_CONTEXT_FULL, "the state holds %u tokens; this session's context is %u",
                        (unsigned)h.n_pos, (unsigned)s->n_ctx);
    uint8_t *payload = g2_malloc(h.payload_size ? (size_t)h.payload_size : 1);
    if (!payload)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory loading a session state");
    const size_t got =
        ZSTD_decompress(payload, (size_t)h.payload_size, bytes + sizeof h, (size_t)h.stored_size);
    if (ZSTD_isError(got) || got != h.payload_size) {
        free(payload);
        return g2_error(GEMMA2_ERR_FORMAT, "the session state does not decompress to its declared size");
    }
    /* the sampler first: it is the only part that can be refused */
    const uint8_t *p =
        payload + h.payload_size - sizeof(sampler_record) - (size_t)h.n_bias * sizeof(gemma2_logit_bias);
    sampler_record rec;
    memcpy(&rec, p, sizeof rec);
    gemma2_logit_bias *bias = NULL;
    if (h.n_bias && !(bias = g2_malloc((size_t)h.n_bias * sizeof *bias))) {
        free(payload);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory loading a session state");
    }
    if (h.n_bias)
        memcpy(bias, p + sizeof rec, (size_t)h.n_bias * sizeof *bias);
    g2_sampler fresh;
    gemma2_status st = g2_sampler_init(&fresh, &rec.p, bias, h.n_bias, c->vocab_size, s->n_ctx);
    free(bias);
    if (st != GEMMA2_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", gemma2_last_error());
        free(payload);
        return g2_error(st == GEMMA2_ERR_OUT_OF_MEMORY ? st : GEMMA2_ERR_FORMAT,
                        "the session state's sampler is invalid: %s", why);
    }
    for (uint32_t i = 0; i < h.n_pos; i++) {
        int32_t t;
        memcpy(&t, payload + (size_t)i * sizeof t, sizeof t);
        if (t < 0 || (uint32_t)t >= c->vocab_size) {
            g2_sampler_free(&fresh);
            free(payload);
            return g2_error(GEMMA2_ERR_FORMAT, "the session state holds token %d, outside the vocabulary",
                            (int)t);
        }
    }
    memcpy(fresh.rng, rec.rng, sizeof fresh.rng);
    g2_sampler_free(&s->sampler);
    s->sampler = fresh;
    s->n_pos = h.n_pos;
    s->local_from = h.local_from; /* the rings hold just that; g2_forward recomputes if it needs more */
    s->has_logits = (int)h.has_logits;
    copy_payload(s, h.local_from, payload, 0);
    s->stream_restart = 1;
    free(payload);
    return GEMMA2_OK;
}

void gemma2_state_free(void *state) { free(state); }

gemma2_status gemma2_session_save_file(const gemma2_session *session, const char *path) {
    g2_error_clear();
    CHECK_ARG(path, "gemma2_session_save_file: path is NULL");
    /* renaming over a device or a directory would replace it (as root, /dev/null) */
    struct stat target;
    if (stat(path, &target) == 0 && !S_ISREG(target.st_mode))
        return g2_error(GEMMA2_ERR_IO, "cannot write the session state to %s: not a regular file", path);
    void *data;
    size_t size;
    gemma2_status st = gemma2_session_save(session, &data, &size);
    if (st != GEMMA2_OK)
        return st;
    /* Written to a new file beside the target (mkstemp: never someone else's file, mode
     * 0600, as a conversation is private) and renamed over it: a failure never leaves
     * half a file. */
    const size_t n = strlen(path) + 8;
    char *tmp = g2_malloc(n);
    if (!tmp) {
        gemma2_state_free(data);
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory saving the session state");
    }
    int fd = tmp && !g2_fault(G2_FAULT_IO) ? (snprintf(tmp, n, "%s.XXXXXX", path), mkstemp(tmp)) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    int ok = f && fwrite(data, 1, size, f) == size;
    ok = f && fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok && fd >= 0)
        remove(tmp);
    free(tmp);
    gemma2_state_free(data);
    return ok ? GEMMA2_OK : g2_error(GEMMA2_ERR_IO, "cannot write the session state to %s", path);
}

gemma2_status gemma2_session_load_file(gemma2_session *session, const char *path) {
    g2_error_clear();
    CHECK_ARG(session && path, "gemma2_session_load_file: NULL argument");
    FILE *f = g2_fault(G2_FAULT_IO) ? NULL : fopen(path, "rb");
    if (!f)
        return g2_error(GEMMA2_ERR_IO, "cannot open %s", path);
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    void *data = end >= 0 && fseek(f, 0, SEEK_SET) == 0 ? g2_malloc(end ? (size_t)end : 1) : NULL;
    int ok = data && fread(data, 1, (size_t)end, f) == (size_t)end;
    fclose(f);
    if (!ok) {
        free(data);
        return g2_error(end < 0 ? GEMMA2_ERR_IO : GEMMA2_ERR_OUT_OF_MEMORY, "cannot read %s", path);
    }
    gemma2_status st = gemma2_session_load(session, data, (size_t)end);
    free(data);
    return st;
}
