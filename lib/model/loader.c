/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a model file: header, header digest, config and metadata. Nothing read
 * from the file is used before it is checked against the file length and for
 * overflow (docs/format.md, "Validation"). */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zstd.h>

#include "model/gguf_model.h"
#include "model/model.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;
static void sodium_setup(void) { sodium_ok = sodium_init() >= 0; }

/* [off, off+size) lies within [lo, hi), without overflow. */
static int range_ok(uint64_t off, uint64_t size, uint64_t lo, uint64_t hi) {
    return off >= lo && off <= hi && size <= hi - off;
}

static int ranges_overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) {
    return an && bn && a < b + bn && b < a + an;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static gemma2_status check_header(const g2_file_header *h, uint64_t actual_size) {
    if (memcmp(h->magic, G2_FILE_MAGIC, G2_FILE_MAGIC_LEN) != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "not a gemma2 model file (bad magic)");
    if (h->version < G2_FORMAT_VERSION_MIN || h->version > G2_FORMAT_VERSION)
        return g2_error(GEMMA2_ERR_VERSION,
                        "model file format version %u is not supported (this library reads %u to %u)",
                        (unsigned)h->version, (unsigned)G2_FORMAT_VERSION_MIN, (unsigned)G2_FORMAT_VERSION);
    if (h->file_size != actual_size)
        return g2_error(GEMMA2_ERR_FORMAT,
                        "file size is %llu bytes but the header says %llu: truncated or appended to",
                        (unsigned long long)actual_size, (unsigned long long)h->file_size);
    if (h->flags & ~(uint32_t)G2_FLAG_COMPRESSED)
        return g2_error(GEMMA2_ERR_FORMAT, "unknown header flags 0x%x", (unsigned)h->flags);
    if (!all_zero(h->reserved, sizeof h->reserved))
        return g2_error(GEMMA2_ERR_FORMAT, "reserved header bytes are not zero");
    if (h->data_offset % G2_DATA_ALIGN != 0 || !range_ok(h->data_offset, h->data_size, 0, actual_size) ||
        h->data_offset + h->data_size != actual_size || h->data_offset < sizeof *h)
        return g2_error(GEMMA2_ERR_FORMAT, "bad data section (offset %llu, size %llu, file %llu bytes)",
                        (unsigned long long)h->data_offset, (unsigned long long)h->data_size,
                        (unsigned long long)actual_size);
    const struct {
        const char *what;
        uint64_t off, size;
    } sect[] = {
        {"config", h->config_offset, h->config_size},
        {"metadata", h->meta_offset, h->meta_size},
        {"tensor directory", h->dir_offset, h->dir_size},
    };
    for (int i = 0; i < 3; i++) {
        if (!range_ok(sect[i].off, sect[i].size, sizeof *h, h->data_offset) || sect[i].off % 8 != 0)
            return g2_error(GEMMA2_ERR_FORMAT, "%s section (offset %llu, size %llu) is out of bounds",
                            sect[i].what, (unsigned long long)sect[i].off, (unsigned long long)sect[i].size);
        for (int j = 0; j < i; j++)
            if (ranges_overlap(sect[i].off, sect[i].size, sect[j].off, sect[j].size))
                return g2_error(GEMMA2_ERR_FORMAT, "%s and %s sections overlap", sect[j].what, sect[i].what);
    }
    return GEMMA2_OK;
}

static void header_digest(const uint8_t *file, uint64_t data_offset, uint8_t out[G2_DIGEST_LEN]) {
    const size_t at = offsetof(g2_file_header, header_digest);
    static const uint8_t zeros[G2_DIGEST_LEN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, G2_DIGEST_LEN);
    crypto_generichash_update(&st, file, at);
    crypto_generichash_update(&st, zeros, G2_DIGEST_LEN);
    crypto_generichash_update(&st, file + at + G2_DIGEST_LEN, data_offset - at - G2_DIGEST_LEN);
    crypto_generichash_final(&st, out, G2_DIGEST_LEN);
}

static gemma2_status bad_config(const char *field, uint64_t value) {
    return g2_error(GEMMA2_ERR_FORMAT, "config %s = %llu is out of range", field, (unsigned long long)value);
}

static int finite_positive(float x) { return x > 0.0f && x < 1e30f; }

gemma2_status g2_config_validate(const g2_file_config *c) {
    const struct {
        const char *name;
        uint32_t v, max;
    } dims[] = {
        {"vocab_size", c->vocab_size, G2_MAX_VOCAB},
        {"hidden_size", c->hidden_size, G2_MAX_HIDDEN},
        {"n_layers", c->n_layers, G2_MAX_LAYERS},
        {"n_heads", c->n_heads, G2_MAX_HEADS},
        {"n_kv_heads", c->n_kv_heads, G2_MAX_HEADS},
        {"head_dim", c->head_dim, G2_MAX_HEAD_DIM},
        {"ffn_size", c->ffn_size, G2_MAX_FFN},
        {"context_length", c->context_length, G2_MAX_CONTEXT},
        {"sliding_window", c->sliding_window, G2_MAX_CONTEXT},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v == 0 || dims[i].v > dims[i].max)
            return bad_config(dims[i].name, dims[i].v);
    if (c->n_heads % c->n_kv_heads != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "config n_heads %u is not a multiple of n_kv_heads %u",
                        (unsigned)c->n_heads, (unsigned)c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return bad_config("head_dim (must be even for RoPE)", c->head_dim);
    if ((uint64_t)c->n_heads * c->head_dim > G2_MAX_HIDDEN * 4u)
        return bad_config("n_heads * head_dim", (uint64_t)c->n_heads * c->head_dim);
    const int32_t ids[] = {c->bos_id, c->eos_id, c->pad_id};
    for (int i = 0; i < 3; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= c->vocab_size)
            return g2_error(GEMMA2_ERR_FORMAT, "config special token id %d is outside the vocabulary",
                            (int)ids[i]);
    if (!finite_positive(c->rms_norm_eps) || !finite_positive(c->rope_theta) ||
        !finite_positive(c->query_pre_attn_scalar) || !(c->attn_softcap >= 0.0f && c->attn_softcap < 1e30f) ||
        !(c->final_softcap >= 0.0f && c->final_softcap < 1e30f))
        return g2_error(GEMMA2_ERR_FORMAT, "config has a non-finite or non-positive float constant");
    if (c->reserved != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "config reserved field is not zero");
    if (c->flags != G2_CONFIG_TIED_EMBEDDING)
        return g2_error(GEMMA2_ERR_FORMAT, "config flags 0x%x are not supported (need a tied embedding)",
                        (unsigned)c->flags);
    if (c->activation != G2_ACT_GELU_TANH)
        return g2_error(GEMMA2_ERR_FORMAT, "config activation %u is not supported", (unsigned)c->activation);
    return GEMMA2_OK;
}

static gemma2_status read_config(gemma2_model *m, const g2_file_header *h) {
    if (h->config_size < sizeof(g2_file_config))
        return g2_error(GEMMA2_ERR_FORMAT, "config section is too small (%llu bytes)",
                        (unsigned long long)h->config_size);
    g2_file_config *c = &m->cfg;
    memcpy(c, m->file.data + h->config_offset, sizeof *c);
    gemma2_status st = g2_config_validate(c);
    if (st != GEMMA2_OK)
        return st;
    if (h->config_size != sizeof *c + c->n_layers)
        return g2_error(GEMMA2_ERR_FORMAT, "config section is %llu bytes, expected %llu for %u layers",
                        (unsigned long long)h->config_size, (unsigned long long)(sizeof *c + c->n_layers),
                        (unsigned)c->n_layers);
    m->layer_kind = g2_malloc(c->n_layers);
    if (!m->layer_kind)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading the config");
    memcpy(m->layer_kind, m->file.data + h->config_offset + sizeof *c, c->n_layers);
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (m->layer_kind[l] != G2_LAYER_LOCAL && m->layer_kind[l] != G2_LAYER_GLOBAL)
            return g2_error(GEMMA2_ERR_FORMAT, "layer %u has unknown attention kind %u", (unsigned)l,
                            (unsigned)m->layer_kind[l]);
    return GEMMA2_OK;
}

gemma2_status g2_model_set_tokenizer(gemma2_model *m, const uint8_t *blob, size_t size) {
    gemma2_status st = g2_tokenizer_load(blob, size, &m->tokenizer);
    if (st != GEMMA2_OK)
        return st;
    m->tokenizer->owned_by_model = 1;
    if (m->tokenizer->n_pieces > m->cfg.vocab_size)
        return g2_error(GEMMA2_ERR_FORMAT, "the tokenizer has %u pieces, more than the %u rows of the embedding",
                        (unsigned)m->tokenizer->n_pieces, (unsigned)m->cfg.vocab_size);
    return GEMMA2_OK;
}

/* The tokenizer record, if the metadata has one (records were checked by read_metadata). */
static gemma2_status read_tokenizer(gemma2_model *m) {
    for (uint64_t at = 0; at < m->meta_size;) {
        uint32_t kv[2];
        memcpy(kv, m->meta + at, sizeof kv);
        const char *key = (const char *)m->meta + at + sizeof kv;
        const uint8_t *value = m->meta + at + sizeof kv + kv[0];
        at += sizeof kv + (uint64_t)kv[0] + kv[1];
        if (kv[0] != strlen(G2_TOK_META_KEY) || memcmp(key, G2_TOK_META_KEY, kv[0]) != 0)
            continue;
        gemma2_status st = g2_model_set_tokenizer(m, value, kv[1]);
        if (st != GEMMA2_OK)
            return st;
        break;
    }
    /* nothing else reads the records: do not keep a second copy of the vocabulary */
    free(m->meta);
    m->meta = NULL;
    m->meta_size = 0;
    return GEMMA2_OK;
}

/* Decompresses the metadata and checks that its records tile it exactly. */
static gemma2_status read_metadata(gemma2_model *m, const g2_file_header *h) {
    const uint8_t *src = m->file.data + h->meta_offset;
    if (h->meta_raw_size > G2_META_MAX_RAW)
        return g2_error(GEMMA2_ERR_FORMAT, "metadata claims %llu bytes (limit %llu)",
                        (unsigned long long)h->meta_raw_size, (unsigned long long)G2_META_MAX_RAW);
    unsigned long long declared = ZSTD_getFrameContentSize(src, (size_t)h->meta_size);
    size_t frame = ZSTD_findFrameCompressedSize(src, (size_t)h->meta_size);
    if (declared != h->meta_raw_size || ZSTD_isError(frame) || frame != h->meta_size)
        return g2_error(GEMMA2_ERR_FORMAT, "metadata section is not one zstd frame of %llu bytes",
                        (unsigned long long)h->meta_raw_size);
    m->meta = g2_malloc(h->meta_raw_size ? (size_t)h->meta_raw_size : 1);
    if (!m->meta)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for %llu bytes of metadata",
                        (unsigned long long)h->meta_raw_size);
    size_t got = ZSTD_decompress(m->meta, (size_t)h->meta_raw_size, src, (size_t)h->meta_size);
    if (ZSTD_isError(got) || got != h->meta_raw_size)
        return g2_error(GEMMA2_ERR_FORMAT, "metadata does not decompress: %s",
                        ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    m->meta_size = h->meta_raw_size;
    for (uint64_t at = 0; at < m->meta_size;) {
        uint32_t kv[2];
        if (m->meta_size - at < sizeof kv)
            return g2_error(GEMMA2_ERR_FORMAT, "metadata record at byte %llu is truncated",
                            (unsigned long long)at);
        memcpy(kv, m->meta + at, sizeof kv);
        at += sizeof kv;
        if ((uint64_t)kv[0] + kv[1] > m->meta_size - at || kv[0] == 0)
            return g2_error(GEMMA2_ERR_FORMAT, "metadata record at byte %llu has bad lengths",
                            (unsigned long long)(at - sizeof kv));
        at += (uint64_t)kv[0] + kv[1];
    }
    return GEMMA2_OK;
}

gemma2_status g2_model_load(const char *path, int n_threads, uint32_t flags, const uint8_t *expected_digest,
                            gemma2_model **out) {
    *out = NULL;
    pthread_once(&sodium_once, sodium_setup);
    if (!sodium_ok)
        return g2_error(GEMMA2_ERR_SYSTEM, "libsodium failed to initialise");
    gemma2_model *m = g2_calloc(1, sizeof *m);
    if (!m)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory opening '%s'", path);
    atomic_init(&m->refs, 1);
    gemma2_status st = g2_file_map(path, (flags & GEMMA2_MODEL_NO_MMAP) != 0, &m->file);
    if (st != GEMMA2_OK)
        goto fail;
    m->file_size = m->file.size;
    if (g2_gguf_is_gguf(m->file.data, m->file.size)) {
        if ((st = g2_model_load_gguf(m, n_threads)) != GEMMA2_OK)
            goto fail;
        if (expected_digest && sodium_memcmp(m->digest, expected_digest, G2_DIGEST_LEN) != 0) {
            st = g2_error(GEMMA2_ERR_CHECKSUM, "'%s' is not the expected model (its digest differs)", path);
            goto fail;
        }
        g2_file_unmap(&m->file); /* every tensor was converted into memory of its own */
        goto bind;
    }
    m->source = GEMMA2_SOURCE_GEMMA2;
    m->qpas_source = GEMMA2_QPAS_CONFIG;
    g2_file_header h;
    if (m->file.size < sizeof h) {
        st = g2_error(GEMMA2_ERR_FORMAT, "'%s' is too small (%llu bytes) to be a gemma2 model file", path,
                      (unsigned long long)m->file.size);
        goto fail;
    }
    memcpy(&h, m->file.data, sizeof h);
    if ((st = check_header(&h, m->file.size)) != GEMMA2_OK)
        goto fail;
    header_digest(m->file.data, h.data_offset, m->digest);
    if (sodium_memcmp(m->digest, h.header_digest, G2_DIGEST_LEN) != 0) {
        st = g2_error(GEMMA2_ERR_CHECKSUM,
                      "header digest mismatch: the header, config, metadata or "
                      "tensor directory of '%s' is corrupt",
                      path);
        goto fail;
    }
    if (expected_digest && sodium_memcmp(m->digest, expected_digest, G2_DIGEST_LEN) != 0) {
        st = g2_error(GEMMA2_ERR_CHECKSUM, "'%s' is not the expected model (its digest differs)", path);
        goto fail;
    }
    m->format_version = h.version;
    m->header_flags = h.flags;
    if ((st = read_config(m, &h)) != GEMMA2_OK || (st = read_metadata(m, &h)) != GEMMA2_OK ||
        (st = read_tokenizer(m)) != GEMMA2_OK ||
        (st = g2_model_read_directory(m, &h)) != GEMMA2_OK ||
        (st = g2_model_unpack(m, n_threads)) != GEMMA2_OK)
        goto fail;
    if (!(flags & GEMMA2_MODEL_SKIP_VERIFY) && (st = g2_model_verify_all(m, n_threads)) != GEMMA2_OK)
        goto fail;
bind:
    if ((st = g2_model_bind(m)) != GEMMA2_OK)
        goto fail;
    *out = m;
    return GEMMA2_OK;
fail:
    g2_model_free(m);
    return st;
}

void g2_model_free(gemma2_model *m) {
    if (!m)
        return;
    g2_tokenizer_free(m->tokenizer);
    free(m->layers);
    free(m->by_name);
    free(m->names);
    free(m->tensors);
    free(m->meta);
    free(m->layer_kind);
    if (m->unpacked)
        munmap(m->unpacked, m->unpacked_size);
    g2_file_unmap(&m->file);
    free(m);
}
