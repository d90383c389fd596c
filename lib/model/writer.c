/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 model file writer. Layout (docs/format.md):
 *   [0,160) header | config | metadata frame | directory | pad to 4096 | tensors
 * The bytes before data_offset are built in memory (they are small) and written
 * last, once every tensor's offset, size and digest is known. */
#include "model/writer.h"
#include "tensor/quant.h"
#include "runtime/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define ZSTD_LEVEL 3 /* weights barely gain from higher levels; speed matters more */
#define ZBUF_SIZE ((size_t)1 << 20)

struct g2_model_writer {
    int fd;
    char *path, *tmp_path;
    int compress;
    uint8_t *head; /* bytes [0, data_offset) */
    g2_file_header header;
    g2_file_tensor *entries; /* the directory, filled as tensors are written */
    size_t n_tensors;
    size_t next; /* index of the tensor being (or next to be) written */
    int in_tensor;
    uint64_t pos;                   /* end of the data written, relative to data_offset */
    uint64_t raw_written;           /* raw bytes appended to the current tensor */
    crypto_generichash_state *hash; /* 64-byte aligned, as libsodium requires */
    ZSTD_CCtx *cctx;
    uint8_t *zbuf;
};

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int write_at(g2_model_writer *w, const void *buf, size_t n, uint64_t off, char *err, size_t cap) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return g2_fail(err, cap, "%s: write failed: %s", w->tmp_path,
                           k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static void free_writer(g2_model_writer *w) {
    if (w->fd >= 0)
        close(w->fd);
    ZSTD_freeCCtx(w->cctx);
    free(w->zbuf);
    free(w->hash);
    free(w->entries);
    free(w->head);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

void g2_writer_abort(g2_model_writer *w) {
    if (!w)
        return;
    if (w->fd >= 0)
        unlink(w->tmp_path);
    free_writer(w);
}

static size_t meta_value_len(const g2_meta_entry *e) {
    return e->value_len ? e->value_len : strlen(e->value);
}

/* Metadata: records (u32 key_len, u32 value_len, key, value), compressed as one
 * zstd frame whose header carries the raw size. */
static int build_meta(const g2_meta_entry *meta, size_t n, uint8_t **frame, size_t *frame_size,
                      uint64_t *raw_size, char *err, size_t cap) {
    uint64_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(meta[i].key), v = meta_value_len(&meta[i]);
        if (k == 0 || k > UINT32_MAX || v > UINT32_MAX)
            return g2_fail(err, cap, "metadata record %zu has a bad key or value length", i);
        raw += 8 + (uint64_t)k + v;
        if (raw > G2_META_MAX_RAW)
            return g2_fail(err, cap, "metadata exceeds 1 GiB");
    }
    uint8_t *buf = malloc(raw ? (size_t)raw : 1);
    if (!buf)
        return g2_fail(err, cap, "out of memory");
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)strlen(meta[i].key), v = (uint32_t)meta_value_len(&meta[i]);
        memcpy(p, &k, 4);
        memcpy(p + 4, &v, 4);
        memcpy(p + 8, meta[i].key, k);
        memcpy(p + 8 + k, meta[i].value, v);
        p += 8 + (size_t)k + v;
    }
    size_t bound = ZSTD_compressBound((size_t)raw);
    *frame = malloc(bound);
    if (!*frame) {
        free(buf);
        return g2_fail(err, cap, "out of memory");
    }
    size_t z = ZSTD_compress(*frame, bound, buf, (size_t)raw, ZSTD_LEVEL);
    free(buf);
    if (ZSTD_isError(z)) {
        free(*frame);
        *frame = NULL;
        return g2_fail(err, cap, "cannot compress metadata: %s", ZSTD_getErrorName(z));
    }
    *frame_size = z;
    *raw_size = raw;
    return 0;
}

static int plan_entries(g2_model_writer *w, const g2_tensor_spec *specs, size_t n, char *err, size_t cap) {
    for (size_t i = 0; i < n; i++) {
        const g2_tensor_spec *s = &specs[i];
        g2_file_tensor *e = &w->entries[i];
        size_t len = strlen(s->name);
        if (len == 0 || len >= G2_TENSOR_NAME_MAX)
            return g2_fail(err, cap, "tensor name '%s' is empty or longer than %d bytes", s->name,
                           G2_TENSOR_NAME_MAX - 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(w->entries[j].name, s->name) == 0)
                return g2_fail(err, cap, "tensor '%s' is planned twice", s->name);
        const int quantized = g2_type_is_quantized(s->type);
        if (g2_type_size(s->type) == 0 && !quantized)
            return g2_fail(err, cap, "tensor '%s': unknown type %u", s->name, s->type);
        if (s->n_dims < 1 || s->n_dims > G2_MAX_DIMS || (quantized && s->n_dims != 2))
            return g2_fail(err, cap, "tensor '%s': rank %u not allowed for its type", s->name, s->n_dims);
        uint64_t size = quantized ? 1 : g2_type_size(s->type);
        for (uint32_t d = 0; d < s->n_dims; d++) {
            if (s->dims[d] != 0 && size > UINT64_MAX / s->dims[d])
                return g2_fail(err, cap, "tensor '%s': size overflows", s->name);
            size *= s->dims[d];
            e->dims[d] = s->dims[d];
        }
        if (quantized) {
            if (s->dims[1] > UINT32_MAX || s->dims[0] > ((uint64_t)1 << 40))
                return g2_fail(err, cap, "tensor '%s': too large to quantize", s->name);
            size = g2_q_bytes(s->type == G2_TYPE_Q4, s->dims[0], (uint32_t)s->dims[1]);
        }
        memcpy(e->name, s->name, len); /* entries are zeroed: NUL-padded */
        e->type = s->type;
        e->n_dims = s->n_dims;
        e->raw_size = size;
        e->compression = w->compress ? G2_COMPRESS_ZSTD : G2_COMPRESS_NONE;
    }
    return 0;
}

int g2_writer_open(g2_model_writer **out, const char *path, const g2_file_config *config,
                   const uint8_t *layer_kinds, const g2_meta_entry *meta, size_t n_meta,
                   const g2_tensor_spec *tensors, size_t n_tensors, int compress, char *err, size_t cap) {
    *out = NULL;
    if (sodium_init() < 0)
        return g2_fail(err, cap, "libsodium failed to initialise");
    if (n_tensors > UINT32_MAX)
        return g2_fail(err, cap, "too many tensors");
    g2_model_writer *w = calloc(1, sizeof *w);
    if (!w)
        return g2_fail(err, cap, "out of memory");
    w->fd = -1;
    w->compress = compress != 0;
    w->n_tensors = n_tensors;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->tmp_path = malloc(plen + 5);
    w->entries = calloc(n_tensors ? n_tensors : 1, sizeof *w->entries);
    size_t hash_size = (sizeof(crypto_generichash_state) + 63) / 64 * 64;
    w->hash = aligned_alloc(64, hash_size);
    if (w->compress) {
        w->cctx = ZSTD_createCCtx();
        w->zbuf = malloc(ZBUF_SIZE);
    }
    uint8_t *meta_frame = NULL;
    if (!w->path || !w->tmp_path || !w->entries || !w->hash || (w->compress && (!w->cctx || !w->zbuf))) {
        g2_fail(err, cap, "out of memory");
        goto error;
    }
    memcpy(w->tmp_path, path, plen);
    memcpy(w->tmp_path + plen, ".tmp", 5);
    if (w->cctx) {
        /* Threads if this libzstd has them; the frame format is the same either way. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, cpus > 1 ? (int)cpus : 1);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0); /* BLAKE2b covers it */
    }
    if (plan_entries(w, tensors, n_tensors, err, cap) != 0)
        goto error;

    size_t meta_size = 0;
    uint64_t meta_raw = 0;
    if (build_meta(meta, n_meta, &meta_frame, &meta_size, &meta_raw, err, cap) != 0)
        goto error;

    g2_file_header *h = &w->header;
    memcpy(h->magic, G2_FILE_MAGIC, G2_FILE_MAGIC_LEN);
    h->version = G2_FORMAT_VERSION;
    h->flags = w->compress && n_tensors > 0 ? G2_FLAG_COMPRESSED : 0;
    h->config_offset = sizeof(g2_file_header);
    h->config_size = sizeof(g2_file_config) + (uint64_t)config->n_layers;
    h->meta_offset = align_up(h->config_offset + h->config_size, 8);
    h->meta_size = meta_size;
    h->meta_raw_size = meta_raw;
    h->dir_offset = align_up(h->meta_offset + h->meta_size, 8);
    h->dir_entry_size = sizeof(g2_file_tensor);
    h->n_tensors = (uint32_t)n_tensors;
    h->dir_size = (uint64_t)n_tensors * sizeof(g2_file_tensor);
    h->data_offset = align_up(h->dir_offset + h->dir_size, G2_DATA_ALIGN);
    if (h->data_offset > SIZE_MAX) {
        g2_fail(err, cap, "header region too large");
        goto error;
    }
    w->head = calloc(1, (size_t)h->data_offset);
    if (!w->head) {
        g2_fail(err, cap, "out of memory");
        goto error;
    }
    memcpy(w->head + h->config_offset, config, sizeof *config);
    memcpy(w->head + h->config_offset + sizeof *config, layer_kinds, config->n_layers);
    memcpy(w->head + h->meta_offset, meta_frame, meta_size);
    free(meta_frame);
    meta_frame = NULL;

    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        g2_fail(err, cap, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        goto error;
    }
    *out = w;
    return 0;
error:
    free(meta_frame);
    g2_writer_abort(w);
    return -1;
}

int g2_writer_begin_tensor(g2_model_writer *w, char *err, size_t cap) {
    if (w->in_tensor || w->next >= w->n_tensors)
        return g2_fail(err, cap, "internal error: no tensor left to begin");
    g2_file_tensor *e = &w->entries[w->next];
    w->pos = align_up(w->pos, G2_TENSOR_ALIGN); /* the gap stays a hole: reads as zeros */
    e->offset = w->pos;
    w->raw_written = 0;
    w->in_tensor = 1;
    crypto_generichash_init(w->hash, NULL, 0, G2_DIGEST_LEN);
    if (w->cctx) {
        size_t r = ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
        if (!ZSTD_isError(r))
            r = ZSTD_CCtx_setPledgedSrcSize(w->cctx, e->raw_size);
        if (ZSTD_isError(r))
            return g2_fail(err, cap, "tensor '%s': zstd: %s", e->name, ZSTD_getErrorName(r));
    }
    return 0;
}

/* Runs the compressor over in (mode continue or end) and writes what it emits. */
static int compress_out(g2_model_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective mode, char *err,
                        size_t cap) {
    for (;;) {
        ZSTD_outBuffer o = {w->zbuf, ZBUF_SIZE, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &o, in, mode);
        if (ZSTD_isError(left))
            return g2_fail(err, cap, "tensor '%s': zstd: %s", w->entries[w->next].name,
                           ZSTD_getErrorName(left));
        if (o.pos && write_at(w, w->zbuf, o.pos, w->header.data_offset + w->pos, err, cap) != 0)
            return -1;
        w->pos += o.pos;
        if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
            return 0;
    }
}

int g2_writer_append(g2_model_writer *w, const void *data, size_t size, char *err, size_t cap) {
    if (!w->in_tensor)
        return g2_fail(err, cap, "internal error: append outside a tensor");
    g2_file_tensor *e = &w->entries[w->next];
    if (size > e->raw_size - w->raw_written)
        return g2_fail(err, cap, "internal error: tensor '%s' given more than %llu bytes", e->name,
                       (unsigned long long)e->raw_size);
    crypto_generichash_update(w->hash, data, size);
    w->raw_written += size;
    if (!w->cctx) {
        if (write_at(w, data, size, w->header.data_offset + w->pos, err, cap) != 0)
            return -1;
        w->pos += size;
        return 0;
    }
    ZSTD_inBuffer in = {data, size, 0};
    return compress_out(w, &in, ZSTD_e_continue, err, cap);
}

int g2_writer_end_tensor(g2_model_writer *w, char *err, size_t cap) {
    if (!w->in_tensor)
        return g2_fail(err, cap, "internal error: end outside a tensor");
    g2_file_tensor *e = &w->entries[w->next];
    if (w->raw_written != e->raw_size)
        return g2_fail(err, cap, "internal error: tensor '%s' got %llu of %llu bytes", e->name,
                       (unsigned long long)w->raw_written, (unsigned long long)e->raw_size);
    if (w->cctx) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        if (compress_out(w, &in, ZSTD_e_end, err, cap) != 0)
            return -1;
    }
    e->stored_size = w->pos - e->offset;
    crypto_generichash_final(w->hash, e->digest, G2_DIGEST_LEN);
    w->in_tensor = 0;
    w->next++;
    return 0;
}

uint64_t g2_writer_bytes_written(const g2_model_writer *w) { return w->pos; }

int g2_writer_finish(g2_model_writer *w, char *err, size_t cap) {
    g2_file_header *h = &w->header;
    if (w->in_tensor || w->next != w->n_tensors) {
        g2_fail(err, cap, "internal error: %zu of %zu tensors written", w->next, w->n_tensors);
        goto error;
    }
    h->data_size = w->pos;
    h->file_size = h->data_offset + w->pos;
    memcpy(w->head + h->dir_offset, w->entries, (size_t)h->dir_size);
    /* The digest covers [0, data_offset) with its own field zero, as written below. */
    memset(h->header_digest, 0, sizeof h->header_digest);
    memcpy(w->head, h, sizeof *h);
    crypto_generichash(h->header_digest, G2_DIGEST_LEN, w->head, (size_t)h->data_offset, NULL, 0);
    memcpy(w->head, h, sizeof *h);
    /* ftruncate also sets the size when the file ends in padding or has no tensors */
    if (ftruncate(w->fd, (off_t)h->file_size) != 0) {
        g2_fail(err, cap, "%s: cannot set size: %s", w->tmp_path, strerror(errno));
        goto error;
    }
    if (write_at(w, w->head, (size_t)h->data_offset, 0, err, cap) != 0)
        goto error;
    if (fsync(w->fd) != 0) {
        g2_fail(err, cap, "%s: fsync failed: %s", w->tmp_path, strerror(errno));
        goto error;
    }
    /* Written pages stay in the page cache as 4 KB pages until evicted; dropped now,
     * the first open reads the file back as 2 MB folios (g2_file_map). A hint. */
    (void)posix_fadvise(w->fd, 0, 0, POSIX_FADV_DONTNEED);
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) {
        g2_fail(err, cap, "%s: close failed: %s", w->tmp_path, strerror(errno));
        unlink(w->tmp_path);
        free_writer(w);
        return -1;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        g2_fail(err, cap, "cannot rename %s to %s: %s", w->tmp_path, w->path, strerror(errno));
        unlink(w->tmp_path);
        free_writer(w);
        return -1;
    }
    free_writer(w);
    return 0;
error:
    g2_writer_abort(w);
    return -1;
}
