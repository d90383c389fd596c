/* SPDX-License-Identifier: Apache-2.0 */
/* The tensor directory: entries validated one by one and against each other,
 * zstd-stored tensors unpacked in parallel, and tensors bound to model roles. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zstd.h>

#include "model/layout.h"
#include "runtime/alloc.h"
#include "model/model.h"
#include "tensor/quant.h"
#include "runtime/error.h"
#include "runtime/cpu.h"
#include "runtime/pool.h"

/* More than any Gemma 2 needs (13 per layer + 2), few enough to sort quickly. */
#define MAX_TENSORS (G2_MAX_LAYERS * 16u)

typedef struct stored_span {
    uint64_t offset, size;
    uint32_t index;
} stored_span;

static int cmp_by_offset(const void *a, const void *b) {
    const stored_span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gemma2_status check_entry(const g2_file_tensor *e, uint32_t i, const g2_file_header *h) {
    const char *nul = memchr(e->name, '\0', sizeof e->name);
    if (nul == NULL || e->name[0] == '\0')
        return g2_error(GEMMA2_ERR_FORMAT, "tensor %u has an empty or unterminated name", (unsigned)i);
    for (const char *p = nul; p < e->name + sizeof e->name; p++)
        if (*p)
            return g2_error(GEMMA2_ERR_FORMAT, "tensor %u name has bytes after its terminator", (unsigned)i);
    if (e->reserved0 != 0 || memcmp(e->reserved, (const uint8_t[sizeof e->reserved]){0}, sizeof e->reserved))
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has non-zero reserved bytes", e->name);
    const size_t elem = g2_type_size(e->type);
    const int quantized = g2_type_is_quantized(e->type);
    if (elem == 0 && !quantized)
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has unknown type %u", e->name, (unsigned)e->type);
    if (quantized && e->n_dims != 2)
        return g2_error(GEMMA2_ERR_FORMAT, "quantized tensor '%s' is not a matrix", e->name);
    if (e->n_dims < 1 || e->n_dims > G2_MAX_DIMS)
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has %u dimensions", e->name, (unsigned)e->n_dims);
    uint64_t count = 1;
    for (uint32_t d = 0; d < G2_MAX_DIMS; d++) {
        uint64_t n = e->dims[d];
        if (d >= e->n_dims) {
            if (n != 0)
                return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has a stray dimension", e->name);
            continue;
        }
        if (n == 0 || n > (uint64_t)1 << 40 || count > UINT64_MAX / n)
            return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has an absurd dimension %llu", e->name,
                            (unsigned long long)n);
        count *= n;
    }
    /* dims are at most 2^40 each, so the quantized size cannot overflow */
    uint64_t expected =
        quantized
            ? (e->dims[1] > UINT32_MAX ? 0
                                       : g2_q_bytes(e->type == G2_TYPE_Q4, e->dims[0], (uint32_t)e->dims[1]))
            : (count > UINT64_MAX / elem ? 0 : count * elem);
    if (expected == 0 || expected != e->raw_size)
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' size %llu does not match its shape", e->name,
                        (unsigned long long)e->raw_size);
    if (e->raw_size > (uint64_t)SIZE_MAX / 2)
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' is too large for this system", e->name);
    if (e->offset > h->data_size || e->stored_size > h->data_size - e->offset)
        return g2_error(GEMMA2_ERR_FORMAT,
                        "tensor '%s' (offset %llu, %llu bytes) lies outside the data section", e->name,
                        (unsigned long long)e->offset, (unsigned long long)e->stored_size);
    if (e->compression == G2_COMPRESS_NONE) {
        if (e->stored_size != e->raw_size || e->offset % G2_TENSOR_ALIGN != 0)
            return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' is misaligned or has a bad stored size", e->name);
    } else if (e->compression == G2_COMPRESS_ZSTD) {
        if (e->stored_size == 0)
            return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has an empty zstd frame", e->name);
    } else {
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has unknown compression %u", e->name,
                        (unsigned)e->compression);
    }
    return GEMMA2_OK;
}

gemma2_status g2_model_read_directory(gemma2_model *m, const g2_file_header *h) {
    if (h->dir_entry_size != sizeof(g2_file_tensor) || h->n_tensors == 0 || h->n_tensors > MAX_TENSORS ||
        h->dir_size != (uint64_t)h->n_tensors * sizeof(g2_file_tensor))
        return g2_error(GEMMA2_ERR_FORMAT, "bad tensor directory (%u entries of %u bytes in %llu bytes)",
                        (unsigned)h->n_tensors, (unsigned)h->dir_entry_size, (unsigned long long)h->dir_size);
    uint32_t n = h->n_tensors;
    m->tensors = g2_calloc(n, sizeof *m->tensors);
    m->names = g2_calloc(n, G2_TENSOR_NAME_MAX);
    m->by_name = g2_calloc(n, sizeof *m->by_name);
    stored_span *by_offset = g2_calloc(n, sizeof *by_offset);
    gemma2_status st = GEMMA2_OK;
    if (!m->tensors || !m->names || !m->by_name || !by_offset) {
        st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading %u tensor entries", (unsigned)n);
        goto done;
    }
    m->n_tensors = n;
    for (uint32_t i = 0; i < n; i++) {
        g2_file_tensor e;
        memcpy(&e, m->file.data + h->dir_offset + (uint64_t)i * sizeof e, sizeof e);
        if ((st = check_entry(&e, i, h)) != GEMMA2_OK)
            goto done;
        g2_tensor *t = &m->tensors[i];
        char *name = m->names + (size_t)i * G2_TENSOR_NAME_MAX;
        memcpy(name, e.name, G2_TENSOR_NAME_MAX);
        t->name = name;
        t->type = e.type;
        t->n_dims = e.n_dims;
        memcpy(t->dims, e.dims, sizeof t->dims);
        t->n_bytes = e.raw_size;
        t->stored_bytes = e.stored_size;
        t->file_offset = h->data_offset + e.offset;
        t->compressed = e.compression == G2_COMPRESS_ZSTD;
        t->stored = m->file.data + t->file_offset;
        t->relayout = (t->type == G2_TYPE_Q4 && h->version < G2_FORMAT_VERSION_Q4_LANES) ||
                      (t->type == G2_TYPE_Q8 && h->version < G2_FORMAT_VERSION_Q8_LANES);
        t->data = t->compressed || t->relayout ? NULL : t->stored;
        memcpy(t->digest, e.digest, G2_DIGEST_LEN);
        t->file_type = t->type;
        m->weight_bytes += t->n_bytes;
        by_offset[i] = (stored_span){t->file_offset, t->stored_bytes, i};
    }
    int any_compressed = 0;
    for (uint32_t i = 0; i < n; i++)
        any_compressed |= m->tensors[i].compressed;
    if (any_compressed != ((h->flags & G2_FLAG_COMPRESSED) != 0)) {
        st = g2_error(GEMMA2_ERR_FORMAT, "the header's compressed flag disagrees with the tensors");
        goto done;
    }
    /* Names are unique; stored ranges do not overlap. */
    if ((st = g2_model_index_names(m)) != GEMMA2_OK)
        goto done;
    qsort(by_offset, n, sizeof *by_offset, cmp_by_offset);
    for (uint32_t i = 1; i < n; i++) {
        const stored_span *a = &by_offset[i - 1], *b = &by_offset[i];
        if (a->offset + a->size > b->offset) {
            st = g2_error(GEMMA2_ERR_FORMAT, "tensors '%s' and '%s' overlap in the file",
                          m->tensors[a->index].name, m->tensors[b->index].name);
            goto done;
        }
    }
done:
    free(by_offset);
    return st;
}

gemma2_status g2_model_index_names(gemma2_model *m) {
    const uint32_t n = m->n_tensors;
    const char **sorted = g2_calloc(n, sizeof *sorted);
    if (!sorted)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory indexing %u tensors", (unsigned)n);
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = m->tensors[i].name;
    qsort(sorted, n, sizeof *sorted, cmp_names);
    gemma2_status st = GEMMA2_OK;
    for (uint32_t i = 0; i < n && st == GEMMA2_OK; i++) {
        m->by_name[i] = (uint32_t)((sorted[i] - m->names) / G2_TENSOR_NAME_MAX);
        if (i > 0 && strcmp(sorted[i - 1], sorted[i]) == 0)
            st = g2_error(GEMMA2_ERR_FORMAT, "tensor name '%s' appears twice", sorted[i]);
    }
    free(sorted);
    return st;
}

int g2_tensor_decompress(const g2_tensor *t, void *dctx, void *dst) {
    const unsigned long long declared = ZSTD_getFrameContentSize(t->stored, (size_t)t->stored_bytes);
    const size_t got = declared == t->n_bytes
                           ? ZSTD_decompressDCtx(dctx, dst, (size_t)t->n_bytes, t->stored, (size_t)t->stored_bytes)
                           : 0;
    return declared == t->n_bytes && !ZSTD_isError(got) && got == t->n_bytes;
}

typedef struct unpack_job {
    gemma2_model *m;
    atomic_size_t next;
    gemma2_status *status; /* per tensor */
} unpack_job;

static void unpack_task(void *p, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    unpack_job *job = p;
    ZSTD_DCtx *dctx = NULL;
    for (size_t i; (i = g2_claim(&job->next, 1)) < job->m->n_tensors;) {
        g2_tensor *t = &job->m->tensors[i];
        if (!t->compressed && !t->relayout)
            continue;
        if (t->compressed && !dctx && !(dctx = g2_fault(G2_FAULT_ALLOC) ? NULL : ZSTD_createDCtx())) {
            job->status[i] = GEMMA2_ERR_OUT_OF_MEMORY;
            continue;
        }
        if (t->relayout) {
            job->status[i] = g2_tensor_relayout(t, dctx);
            continue;
        }
        if (!g2_tensor_decompress(t, dctx, (void *)t->data))
            job->status[i] = GEMMA2_ERR_FORMAT;
    }
    ZSTD_freeDCtx(dctx);
}

gemma2_status g2_model_alloc_tensors(gemma2_model *m, int only_compressed) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const g2_tensor *t = &m->tensors[i];
        if (t->compressed || t->relayout || !only_compressed) {
            uint64_t padded = (t->n_bytes + G2_TENSOR_ALIGN - 1) / G2_TENSOR_ALIGN * G2_TENSOR_ALIGN;
            if (padded > (uint64_t)SIZE_MAX / 2 - total)
                return g2_error(GEMMA2_ERR_FORMAT, "tensors are too large in total");
            total += padded;
        }
    }
    if (total == 0)
        return GEMMA2_OK;
    void *buf = g2_fault(G2_FAULT_ALLOC)
                    ? MAP_FAILED
                    : mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for %llu bytes of tensors in memory",
                        (unsigned long long)total);
    m->unpacked = buf;
    m->unpacked_size = (size_t)total;
    uint64_t at = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        g2_tensor *t = &m->tensors[i];
        if (t->compressed || t->relayout || !only_compressed) {
            t->data = (uint8_t *)buf + at;
            at += (t->n_bytes + G2_TENSOR_ALIGN - 1) / G2_TENSOR_ALIGN * G2_TENSOR_ALIGN;
        }
    }
    return GEMMA2_OK;
}

gemma2_status g2_model_unpack(gemma2_model *m, int n_threads) {
    gemma2_status st = g2_model_alloc_tensors(m, 1);
    if (st != GEMMA2_OK || !m->unpacked)
        return st;
    unpack_job job = {.m = m, .status = g2_calloc(m->n_tensors, sizeof(gemma2_status))};
    if (!job.status)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory decompressing tensors");
    atomic_init(&job.next, 0);
    g2_pool *pool;
    st = g2_pool_create(g2_threads_resolve(n_threads), &pool);
    if (st == GEMMA2_OK) {
        g2_pool_run(pool, unpack_task, &job);
        g2_pool_destroy(pool);
        for (uint32_t i = 0; i < m->n_tensors && st == GEMMA2_OK; i++)
            if (job.status[i] != GEMMA2_OK)
                st =
                    g2_error(job.status[i],
                             job.status[i] == GEMMA2_ERR_OUT_OF_MEMORY ? "out of memory unpacking tensor '%s'"
                             : job.status[i] == GEMMA2_ERR_CHECKSUM
                                 ? "tensor '%s' is corrupt: its BLAKE2b digest does not match"
                                 : "tensor '%s' does not decompress to its declared size",
                             m->tensors[i].name);
    }
    free(job.status);
    return st;
}

static const g2_tensor *find_tensor(const gemma2_model *m, const char *name) {
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const g2_tensor *t = &m->tensors[m->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Finds the tensor of role (in layer) and checks its shape and type. */
static gemma2_status bind_one(const gemma2_model *m, g2_role role, uint32_t layer, const g2_tensor **out) {
    char name[G2_TENSOR_NAME_MAX];
    if (g2_role_name(name, sizeof name, role, layer) != 0)
        return g2_error(GEMMA2_ERR_INTERNAL, "tensor name too long");
    const g2_tensor *t = find_tensor(m, name);
    if (!t)
        return g2_error(GEMMA2_ERR_FORMAT, "required tensor '%s' is missing", name);
    uint32_t n_dims;
    uint64_t dims[2];
    g2_role_shape(&m->cfg, role, &n_dims, dims);
    if (t->n_dims != n_dims || t->dims[0] != dims[0] || (n_dims == 2 && t->dims[1] != dims[1]))
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has the wrong shape for the config", name);
    int type_ok = g2_role_is_norm(role)
                      ? t->type == G2_TYPE_F32
                      : (t->type == G2_TYPE_F32 || t->type == G2_TYPE_BF16 || g2_type_is_quantized(t->type));
    if (!type_ok)
        return g2_error(GEMMA2_ERR_FORMAT, "tensor '%s' has type %u, not allowed for its role", name,
                        (unsigned)t->type);
    *out = t;
    return GEMMA2_OK;
}

static g2_matrix as_matrix(const g2_tensor *t) {
    g2_matrix m = {
        .data = t->data, .type = t->type, .rows = (uint32_t)t->dims[0], .cols = (uint32_t)t->dims[1]};
    if (g2_type_is_quantized(t->type)) {
        const uint32_t nb = g2_q_blocks(m.cols);
        const uint64_t qbytes = (uint64_t)m.rows * nb * (t->type == G2_TYPE_Q4 ? G2_QK / 2 : G2_QK);
        m.q = (g2_qmatrix){.qs = t->data,
                           .d = (const uint16_t *)((const uint8_t *)t->data + qbytes),
                           .rows = m.rows,
                           .cols = m.cols,
                           .nb = nb};
    }
    return m;
}

gemma2_status g2_model_bind(gemma2_model *m) {
    const g2_tensor *t;
    gemma2_status st;
    if ((st = bind_one(m, G2_ROLE_EMBED, 0, &t)) != GEMMA2_OK)
        return st;
    m->embed = as_matrix(t);
    m->kernels = g2_kernels_select(); /* once, at open: STYLE.md rule 12 */
    m->quantized = g2_type_is_quantized(t->type);
    if ((st = bind_one(m, G2_ROLE_FINAL_NORM, 0, &t)) != GEMMA2_OK)
        return st;
    m->final_norm = t->data;
    const uint64_t required = 2 + (uint64_t)G2_LAYER_ROLES * m->cfg.n_layers;
    if (m->n_tensors != required) /* all names are unique, so this means extra tensors */
        return g2_error(GEMMA2_ERR_FORMAT, "the file has %u tensors; a model of %u layers has %llu",
                        (unsigned)m->n_tensors, (unsigned)m->cfg.n_layers, (unsigned long long)required);
    m->layers = g2_calloc(m->cfg.n_layers, sizeof *m->layers);
    if (!m->layers)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory binding layers");
    for (uint32_t l = 0; l < m->cfg.n_layers; l++) {
        g2_layer *L = &m->layers[l];
        L->local = m->layer_kind[l] == G2_LAYER_LOCAL;
        const g2_tensor *r[G2_ROLE_COUNT];
        for (int role = G2_FIRST_LAYER_ROLE; role < G2_ROLE_COUNT; role++)
            if ((st = bind_one(m, (g2_role)role, l, &r[role])) != GEMMA2_OK)
                return st;
        L->attn_norm = r[G2_ROLE_ATTN_NORM]->data;
        L->post_attn_norm = r[G2_ROLE_POST_ATTN_NORM]->data;
        L->pre_ffw_norm = r[G2_ROLE_PRE_FFW_NORM]->data;
        L->post_ffw_norm = r[G2_ROLE_POST_FFW_NORM]->data;
        L->q = as_matrix(r[G2_ROLE_Q]);
        L->k = as_matrix(r[G2_ROLE_K]);
        L->v = as_matrix(r[G2_ROLE_V]);
        L->o = as_matrix(r[G2_ROLE_O]);
        L->gate = as_matrix(r[G2_ROLE_GATE]);
        L->up = as_matrix(r[G2_ROLE_UP]);
        L->down = as_matrix(r[G2_ROLE_DOWN]);
        for (int role = G2_FIRST_LAYER_ROLE; role < G2_ROLE_COUNT; role++)
            m->quantized |= g2_type_is_quantized(r[role]->type);
    }
    return GEMMA2_OK;
}
