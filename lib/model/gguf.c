/* SPDX-License-Identifier: Apache-2.0 */
/* GGUF parsing (gguf.h). A cursor walks the file; every read checks the bytes left
 * first, and every count is bounded by the bytes it would need, so a hostile file can
 * neither read out of bounds nor make us allocate more than the file's size. */
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tensor/ggml_blocks.h"

typedef struct cursor {
    const uint8_t *base;
    uint64_t size, at;
} cursor;

static int take(cursor *c, uint64_t n, const uint8_t **p) {
    if (n > c->size - c->at)
        return -1;
    *p = c->base + c->at;
    c->at += n;
    return 0;
}

static int read_u32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (take(c, 4, &p))
        return -1;
    memcpy(v, p, 4);
    return 0;
}

static int read_u64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (take(c, 8, &p))
        return -1;
    memcpy(v, p, 8);
    return 0;
}

static int read_string(cursor *c, const char **s, uint64_t *len) {
    const uint8_t *p;
    if (read_u64(c, len) || take(c, *len, &p))
        return -1;
    *s = (const char *)p;
    return 0;
}

static const uint8_t scalar_size[G2_GGUF_N_TYPES] = {
    [G2_GGUF_U8] = 1,  [G2_GGUF_I8] = 1,  [G2_GGUF_U16] = 2, [G2_GGUF_I16] = 2,
    [G2_GGUF_U32] = 4, [G2_GGUF_I32] = 4, [G2_GGUF_F32] = 4, [G2_GGUF_BOOL] = 1,
    [G2_GGUF_U64] = 8, [G2_GGUF_I64] = 8, [G2_GGUF_F64] = 8,
};

/* Skips one value of a non-array type; strings are walked one by one. */
static int skip_values(cursor *c, uint32_t type, uint64_t count) {
    if (type == G2_GGUF_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            const char *s;
            uint64_t n;
            if (read_string(c, &s, &n))
                return -1;
        }
        return 0;
    }
    const uint8_t *p;
    uint64_t w = scalar_size[type];
    if (count > (c->size - c->at) / w)
        return -1;
    return take(c, count * w, &p);
}

static gemma2_status bad(const char *what, uint64_t at) {
    return g2_error(GEMMA2_ERR_FORMAT, "GGUF: %s (near byte %llu)", what, (unsigned long long)at);
}

static gemma2_status read_kv(cursor *c, g2_gguf_kv *kv) {
    uint64_t start = c->at;
    if (read_string(c, &kv->key, &kv->key_len) || kv->key_len == 0)
        return bad("metadata key is empty or runs past the end of the file", start);
    if (read_u32(c, &kv->type) || kv->type >= G2_GGUF_N_TYPES)
        return bad("metadata value type is missing or unknown", start);
    kv->count = 1;
    kv->elem_type = kv->type;
    if (kv->type == G2_GGUF_ARRAY) {
        if (read_u32(c, &kv->elem_type) || kv->elem_type >= G2_GGUF_N_TYPES || kv->elem_type == G2_GGUF_ARRAY)
            return bad("metadata array has a bad element type (nested arrays are not supported)", start);
        if (read_u64(c, &kv->count))
            return bad("metadata array is truncated", start);
    }
    kv->value = c->base + c->at;
    if (skip_values(c, kv->elem_type, kv->count))
        return bad("metadata value runs past the end of the file", start);
    return GEMMA2_OK;
}

static gemma2_status read_tensor_info(cursor *c, g2_gguf_tensor *t) {
    uint64_t start = c->at;
    if (read_string(c, &t->name, &t->name_len))
        return bad("tensor info is truncated", start);
    if (t->name_len == 0 || t->name_len > G2_GGUF_NAME_MAX || memchr(t->name, '\0', t->name_len))
        return bad("tensor name is empty, too long or holds a NUL byte", start);
    if (read_u32(c, &t->n_dims) || t->n_dims < 1 || t->n_dims > G2_GGUF_MAX_DIMS)
        return bad("tensor has no dimensions or more than 4", start);
    uint64_t count = 1;
    for (uint32_t d = 0; d < G2_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && read_u64(c, &t->ne[d]))
            return bad("tensor info is truncated", start);
        if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40) || count > (((uint64_t)1 << 62) / t->ne[d]))
            return g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor '%.*s' has an absurd dimension %llu",
                            (int)t->name_len, t->name, (unsigned long long)t->ne[d]);
        count *= t->ne[d];
    }
    if (read_u32(c, &t->type) || read_u64(c, &t->offset))
        return bad("tensor info is truncated", start);
    return GEMMA2_OK;
}

int g2_gguf_is_gguf(const uint8_t *file, uint64_t size) {
    return size >= 4 && memcmp(file, G2_GGUF_MAGIC, 4) == 0;
}

uint64_t g2_gguf_tensor_bytes(const g2_gguf_tensor *t) {
    return g2_ggml_row_bytes(t->type, t->ne[0]) * (t->ne[1] * t->ne[2] * t->ne[3]);
}

static int key_is(const g2_gguf_kv *kv, const char *key) {
    return kv->key_len == strlen(key) && memcmp(kv->key, key, kv->key_len) == 0;
}

static gemma2_status check_tensors(g2_gguf *g) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const g2_gguf_tensor *t = &g->tensors[i];
        const int nl = (int)t->name_len;
        const char *type_name = g2_ggml_type_name(t->type); /* "Q4_K", or "type 99" for unknown ids */
        if (!g2_ggml_type(t->type))
            return g2_error(GEMMA2_ERR_UNSUPPORTED, "GGUF: tensor '%.*s' has %s%s, which gemma2 cannot read",
                            nl, t->name, strncmp(type_name, "type ", 5) ? "type " : "unknown ", type_name);
        uint64_t row = g2_ggml_row_bytes(t->type, t->ne[0]);
        uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        if (row == 0)
            return g2_error(GEMMA2_ERR_FORMAT,
                            "GGUF: tensor '%.*s' has rows of %llu values, not a whole number of %s blocks",
                            nl, t->name, (unsigned long long)t->ne[0], type_name);
        uint64_t avail = g->file_size - g->data_offset;
        if (t->offset % g->alignment != 0)
            return g2_error(GEMMA2_ERR_FORMAT,
                            "GGUF: tensor '%.*s' data (offset %llu) is misaligned (alignment %u)", nl,
                            t->name, (unsigned long long)t->offset, (unsigned)g->alignment);
        if (t->offset > avail || rows > (avail - t->offset) / row)
            return g2_error(GEMMA2_ERR_FORMAT, "GGUF: tensor '%.*s' data (offset %llu) lies outside the file",
                            nl, t->name, (unsigned long long)t->offset);
    }
    return GEMMA2_OK;
}

gemma2_status g2_gguf_parse(const uint8_t *file, uint64_t size, g2_gguf *g) {
    memset(g, 0, sizeof *g);
    g->file = file;
    g->file_size = size;
    cursor c = {file, size, 0};
    const uint8_t *magic;
    if (take(&c, 4, &magic) || memcmp(magic, G2_GGUF_MAGIC, 4) != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "not a GGUF file (bad magic)");
    if (read_u32(&c, &g->version) || read_u64(&c, &g->n_tensors) || read_u64(&c, &g->n_kv))
        return bad("header is truncated", c.at);
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return g2_error(GEMMA2_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return g2_error(GEMMA2_ERR_VERSION, "GGUF version %u is not supported (this library reads 2 and 3)",
                        (unsigned)g->version);
    /* every pair takes at least 13 bytes and every tensor info 29: bounds before allocating */
    if (g->n_kv > (size - c.at) / 13 || g->n_tensors > (size - c.at) / 29)
        return bad("header counts more pairs or tensors than the file can hold", c.at);
    gemma2_status st = GEMMA2_ERR_OUT_OF_MEMORY;
    g->kv = g2_calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = g2_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory reading a GGUF header");
        goto fail;
    }
    for (uint64_t i = 0; i < g->n_kv; i++)
        if ((st = read_kv(&c, &g->kv[i])) != GEMMA2_OK)
            goto fail;
    g->alignment = 32;
    const g2_gguf_kv *align = g2_gguf_find(g, "general.alignment");
    if (align) {
        uint32_t a = 0;
        if (align->type == G2_GGUF_U32)
            memcpy(&a, align->value, 4);
        if (a == 0 || (a & (a - 1)) != 0 || a > 1u << 20) {
            st = g2_error(GEMMA2_ERR_FORMAT, "GGUF: general.alignment must be a power of two as a u32");
            goto fail;
        }
        g->alignment = a;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((st = read_tensor_info(&c, &g->tensors[i])) != GEMMA2_OK)
            goto fail;
    uint64_t pad = (g->alignment - c.at % g->alignment) % g->alignment;
    if (pad > size - c.at) {
        st = bad("file ends before its data section", c.at);
        goto fail;
    }
    g->data_offset = c.at + pad;
    if ((st = check_tensors(g)) != GEMMA2_OK)
        goto fail;
    return GEMMA2_OK;
fail:
    g2_gguf_free(g);
    return st;
}

void g2_gguf_free(g2_gguf *g) {
    free(g->kv);
    free(g->tensors);
    g->kv = NULL;
    g->tensors = NULL;
}

const g2_gguf_kv *g2_gguf_find(const g2_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (key_is(&g->kv[i], key))
            return &g->kv[i];
    return NULL;
}

int g2_gguf_is_int_type(uint32_t t) {
    return t == G2_GGUF_U8 || t == G2_GGUF_I8 || t == G2_GGUF_U16 || t == G2_GGUF_I16 || t == G2_GGUF_U32 ||
           t == G2_GGUF_I32 || t == G2_GGUF_U64 || t == G2_GGUF_I64;
}

/* The integer scalar at p of type t: 1 and *out if it is >= 0, -1 if negative, 0 if t
 * is not an integer type. Values are little-endian, so the low bytes come first. */
static int uint_value(uint32_t t, const uint8_t *p, uint64_t *out) {
    if (!g2_gguf_is_int_type(t))
        return 0;
    const int is_signed = t == G2_GGUF_I8 || t == G2_GGUF_I16 || t == G2_GGUF_I32 || t == G2_GGUF_I64;
    const size_t width = scalar_size[t];
    if (is_signed && (p[width - 1] & 0x80u))
        return -1;
    *out = 0;
    memcpy(out, p, width);
    return 1;
}

static int wrong(const char *key, const char *what) {
    g2_error(GEMMA2_ERR_FORMAT, "GGUF: metadata '%s' %s", key, what);
    return -1;
}

int g2_gguf_get_u32(const g2_gguf *g, const char *key, uint32_t *out) {
    const g2_gguf_kv *kv = g2_gguf_find(g, key);
    if (!kv)
        return 0;
    uint64_t v = 0;
    const int r = kv->type == G2_GGUF_ARRAY ? 0 : uint_value(kv->type, kv->value, &v);
    if (r == 0)
        return wrong(key, "is not an integer");
    if (r < 0 || v > UINT32_MAX)
        return wrong(key, "is out of range");
    *out = (uint32_t)v;
    return 1;
}

int g2_gguf_get_f32(const g2_gguf *g, const char *key, float *out) {
    const g2_gguf_kv *kv = g2_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type == G2_GGUF_F32) {
        memcpy(out, kv->value, 4);
    } else if (kv->type == G2_GGUF_F64) {
        double d;
        memcpy(&d, kv->value, 8);
        if (!(d > -3.0e38 && d < 3.0e38)) /* also NaN: the conversion below must be defined */
            return wrong(key, "is out of range");
        *out = (float)d;
    } else {
        return wrong(key, "is not a float");
    }
    return 1;
}

int g2_gguf_get_bool(const g2_gguf *g, const char *key, int *out) {
    const g2_gguf_kv *kv = g2_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != G2_GGUF_BOOL || kv->value[0] > 1)
        return wrong(key, "is not a bool");
    *out = kv->value[0];
    return 1;
}

int g2_gguf_get_str(const g2_gguf *g, const char *key, const char **s, uint64_t *len) {
    const g2_gguf_kv *kv = g2_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != G2_GGUF_STRING)
        return wrong(key, "is not a string");
    memcpy(len, kv->value, 8);
    *s = (const char *)kv->value + 8;
    return 1;
}

uint64_t g2_gguf_array_uint(const g2_gguf_kv *kv, uint64_t i, int *ok) {
    uint64_t v = 0; /* strings and floats are not integers: uint_value gives 0 before using the size */
    *ok = kv->type == G2_GGUF_ARRAY && i < kv->count &&
          uint_value(kv->elem_type, kv->value + i * scalar_size[kv->elem_type], &v) == 1;
    return *ok ? v : 0;
}

void g2_gguf_next_string(const g2_gguf_kv *kv, const uint8_t **at, const char **s, uint64_t *len) {
    const uint8_t *p = *at ? *at : kv->value;
    memcpy(len, p, 8);
    *s = (const char *)p + 8;
    *at = p + 8 + *len;
}
