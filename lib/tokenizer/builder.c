/* SPDX-License-Identifier: Apache-2.0 */
/* The tokenizer builder and blob serializer (tok_blob_writer.h). */
#include "tokenizer/builder.h"
#include "runtime/errbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNSET UINT32_MAX

const char *g2_tok_quote(char *buf, size_t cap, const char *s, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[5];
        size_t k;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            tmp[0] = (char)c;
            k = 1;
        } else {
            k = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c);
        }
        if (o + k + 4 > cap) { /* keep room for "..." and the NUL */
            if (cap >= 4) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(buf + o, tmp, k);
        o += k;
    }
    if (cap)
        buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07u;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

int g2_tok_is_byte_text(const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    return len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && s[3] && strchr(hex, s[3]) && s[4] &&
           strchr(hex, s[4]);
}

int g2_tok_builder_init(g2_tok_builder *b, const char *src, size_t n, char *err, size_t cap) {
    memset(b, 0, sizeof *b);
    b->src = src;
    b->unk_id = b->bos_id = b->eos_id = b->pad_id = -1;
    if (n == 0 || n > G2_TOK_MAX_PIECES)
        return g2_fail(err, cap, "%s: %zu pieces; a tokenizer has 1..%u", src, n, G2_TOK_MAX_PIECES);
    b->n = (uint32_t)n;
    b->off = malloc(n * sizeof *b->off);
    b->len = calloc(n, sizeof *b->len);
    b->type = calloc(n, 1);
    b->flags = calloc(n, 1);
    if (!b->off || !b->len || !b->type || !b->flags)
        return g2_fail(err, cap, "out of memory");
    for (size_t i = 0; i < n; i++)
        b->off[i] = UNSET;
    return 0;
}

int g2_tok_builder_set(g2_tok_builder *b, size_t id, const char *s, size_t len, uint8_t type, char *err,
                       size_t cap) {
    char q[80];
    if (id >= b->n)
        return g2_fail(err, cap, "%s: id %zu of piece \"%s\" is out of range (%u pieces)", b->src, id,
                       g2_tok_quote(q, sizeof q, s, len), b->n);
    if (b->off[id] != UNSET)
        return g2_fail(err, cap, "%s: id %zu is used twice", b->src, id);
    if (len == 0 || len > G2_TOK_MAX_PIECE_LEN)
        return g2_fail(err, cap, "%s: piece %zu has %zu bytes; pieces have 1..%u", b->src, id, len,
                       G2_TOK_MAX_PIECE_LEN);
    if (!valid_utf8((const unsigned char *)s, len))
        return g2_fail(err, cap, "%s: piece %zu \"%s\" is not valid UTF-8", b->src, id,
                       g2_tok_quote(q, sizeof q, s, len));
    if (type == G2_PIECE_BYTE && !g2_tok_is_byte_text(s, len))
        return g2_fail(err, cap, "%s: byte piece %zu is \"%s\", not <0xHH> (upper-case hex)", b->src, id,
                       g2_tok_quote(q, sizeof q, s, len));
    if (type < G2_PIECE_NORMAL || type > G2_PIECE_BYTE)
        return g2_fail(err, cap, "%s: piece %zu has unknown type %u", b->src, id, type);
    /* pieces_bytes in the header is a u32: every record must fit it */
    if (b->text_len + len + 4 * (size_t)b->n > UINT32_MAX)
        return g2_fail(err, cap, "%s: piece texts exceed 4 GiB", b->src);
    if (b->text_len + len > b->text_cap) {
        size_t nc = b->text_cap ? b->text_cap * 2 : (size_t)b->n * 8 + 64;
        while (nc < b->text_len + len)
            nc *= 2;
        char *t = realloc(b->text, nc);
        if (!t)
            return g2_fail(err, cap, "out of memory");
        b->text = t;
        b->text_cap = nc;
    }
    memcpy(b->text + b->text_len, s, len);
    b->off[id] = (uint32_t)b->text_len;
    b->len[id] = (uint16_t)len;
    b->type[id] = type;
    b->text_len += len;
    return 0;
}

/* FNV-1a, then a multiply-shift finalizer so that the low bits mix well. */
static uint64_t hash_text(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    return h ^ (h >> 32);
}

int g2_tok_builder_index(g2_tok_builder *b, char *err, size_t cap) {
    size_t n_slots = 1024;
    while (n_slots < 2 * (size_t)b->n)
        n_slots *= 2;
    free(b->slots);
    b->slots = calloc(n_slots, sizeof *b->slots);
    if (!b->slots)
        return g2_fail(err, cap, "out of memory");
    b->slot_mask = n_slots - 1;
    for (uint32_t id = 0; id < b->n; id++) {
        if (b->off[id] == UNSET)
            return g2_fail(err, cap, "%s: no piece has id %u (ids must be 0..%u)", b->src, id, b->n - 1);
        const char *s = b->text + b->off[id];
        int32_t other = g2_tok_builder_find(b, s, b->len[id]);
        if (other >= 0) {
            char q[80];
            return g2_fail(err, cap, "%s: pieces %d and %u are both \"%s\"", b->src, other, id,
                           g2_tok_quote(q, sizeof q, s, b->len[id]));
        }
        size_t i = (size_t)hash_text(s, b->len[id]) & b->slot_mask;
        while (b->slots[i])
            i = (i + 1) & b->slot_mask;
        b->slots[i] = id + 1;
    }
    return 0;
}

int32_t g2_tok_builder_find(const g2_tok_builder *b, const char *s, size_t len) {
    if (!b->slots || len == 0 || len > G2_TOK_MAX_PIECE_LEN)
        return -1;
    for (size_t i = (size_t)hash_text(s, len) & b->slot_mask; b->slots[i]; i = (i + 1) & b->slot_mask) {
        uint32_t id = b->slots[i] - 1;
        if (b->len[id] == len && memcmp(b->text + b->off[id], s, len) == 0)
            return (int32_t)id;
    }
    return -1;
}

int g2_tok_builder_add_merge(g2_tok_builder *b, uint32_t left, uint32_t right, uint32_t result, uint32_t rank,
                             char *err, size_t cap) {
    if (left >= b->n || right >= b->n || result >= b->n)
        return g2_fail(err, cap, "%s: internal error: merge with a piece id out of range", b->src);
    if (b->n_merges == b->merges_cap) {
        if (b->n_merges >= G2_TOK_MAX_MERGES)
            return g2_fail(err, cap, "%s: more than %u merges", b->src, G2_TOK_MAX_MERGES);
        size_t nc = b->merges_cap ? b->merges_cap * 2 : 4096;
        if (nc > G2_TOK_MAX_MERGES)
            nc = G2_TOK_MAX_MERGES;
        g2_tok_merge *m = realloc(b->merges, nc * sizeof *m);
        if (!m)
            return g2_fail(err, cap, "out of memory");
        b->merges = m;
        b->merges_cap = nc;
    }
    b->merges[b->n_merges++] = (g2_tok_merge){left, right, result, rank};
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int g2_tok_builder_check_pairs(const g2_tok_builder *b, char *err, size_t cap) {
    if (b->n_merges < 2)
        return 0;
    uint64_t *keys = malloc(b->n_merges * sizeof *keys);
    if (!keys)
        return g2_fail(err, cap, "out of memory");
    for (size_t i = 0; i < b->n_merges; i++)
        keys[i] = (uint64_t)b->merges[i].left << 32 | b->merges[i].right;
    qsort(keys, b->n_merges, sizeof *keys, cmp_u64);
    uint64_t dup = 0;
    int found = 0;
    for (size_t i = 1; i < b->n_merges && !found; i++)
        if (keys[i] == keys[i - 1])
            dup = keys[i], found = 1;
    free(keys);
    if (!found)
        return 0;
    uint32_t l = (uint32_t)(dup >> 32), r = (uint32_t)dup;
    char ql[60], qr[60];
    return g2_fail(err, cap, "%s: the merge \"%s\" + \"%s\" is listed twice", b->src,
                   g2_tok_quote(ql, sizeof ql, b->text + b->off[l], b->len[l]),
                   g2_tok_quote(qr, sizeof qr, b->text + b->off[r], b->len[r]));
}

/* A declared id must name a piece; an undeclared one falls back to the piece name. */
static int resolve_id(const g2_tok_builder *b, int32_t *id, const char *what, const char *piece, char *err,
                      size_t cap) {
    if (*id >= (int32_t)b->n)
        return g2_fail(err, cap, "%s: %s id %d is out of range (%u pieces)", b->src, what, *id, b->n);
    if (*id < 0)
        *id = g2_tok_builder_find(b, piece, strlen(piece));
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int g2_tok_builder_finish(g2_tok_builder *b, uint8_t **blob, size_t *size, char *err, size_t cap) {
    *blob = NULL;
    *size = 0;
    if (resolve_id(b, &b->unk_id, "unk", "<unk>", err, cap) ||
        resolve_id(b, &b->bos_id, "bos", "<bos>", err, cap) ||
        resolve_id(b, &b->eos_id, "eos", "<eos>", err, cap) ||
        resolve_id(b, &b->pad_id, "pad", "<pad>", err, cap))
        return -1;
    int32_t sot = g2_tok_builder_find(b, "<start_of_turn>", 15);
    int32_t eot = g2_tok_builder_find(b, "<end_of_turn>", 13);

    size_t pieces_bytes = 4 * (size_t)b->n + b->text_len; /* ≤ UINT32_MAX, checked by _set */
    size_t padded = (pieces_bytes + 3) & ~(size_t)3;
    size_t total = sizeof(g2_tok_header) + padded + b->n_merges * sizeof(g2_tok_merge);
    uint8_t *out = calloc(1, total);
    if (!out)
        return g2_fail(err, cap, "out of memory for a %zu-byte tokenizer", total);
    uint8_t *h = out;
    memcpy(h, G2_TOK_MAGIC, 4);
    const uint32_t fields[] = {G2_TOK_VERSION,        b->n,
                               (uint32_t)b->n_merges, b->hflags,
                               (uint32_t)b->unk_id,   (uint32_t)b->bos_id,
                               (uint32_t)b->eos_id,   (uint32_t)b->pad_id,
                               (uint32_t)sot,         (uint32_t)eot,
                               (uint32_t)pieces_bytes};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        put_u32(h + 4 + 4 * i, fields[i]);

    uint8_t *p = out + sizeof(g2_tok_header);
    for (uint32_t id = 0; id < b->n; id++) {
        p[0] = b->type[id];
        p[1] = b->flags[id];
        p[2] = (uint8_t)(b->len[id] & 0xff);
        p[3] = (uint8_t)(b->len[id] >> 8);
        memcpy(p + 4, b->text + b->off[id], b->len[id]);
        p += 4 + b->len[id];
    }
    p = out + sizeof(g2_tok_header) + padded;
    for (size_t i = 0; i < b->n_merges; i++, p += sizeof(g2_tok_merge)) {
        put_u32(p, b->merges[i].left);
        put_u32(p + 4, b->merges[i].right);
        put_u32(p + 8, b->merges[i].result);
        put_u32(p + 12, b->merges[i].rank);
    }
    *blob = out;
    *size = total;
    return 0;
}

void g2_tok_builder_free(g2_tok_builder *b) {
    free(b->text);
    free(b->off);
    free(b->len);
    free(b->type);
    free(b->flags);
    free(b->slots);
    free(b->merges);
    memset(b, 0, sizeof *b);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static int mergeable(const g2_tok_builder *b, int32_t id) {
    return id >= 0 && (b->type[id] == G2_PIECE_NORMAL || b->type[id] == G2_PIECE_USER_DEFINED);
}

/* rank = dense rank of p's score among the merge results, so ties stay ties. */
int g2_tok_builder_merges_from_scores(g2_tok_builder *b, const float *scores, char *err, size_t cap) {
    for (uint32_t id = 0; id < b->n; id++)
        if (isnan(scores[id])) /* would break the ordering below */
            return g2_fail(err, cap, "%s: piece %u has a NaN score", b->src, (unsigned)id);
    for (uint32_t id = 0; id < b->n; id++) {
        if (!mergeable(b, (int32_t)id))
            continue;
        const char *s = b->text + b->off[id];
        for (size_t at = 1; at < b->len[id]; at++) {
            if (((unsigned char)s[at] & 0xc0) == 0x80)
                continue; /* inside a UTF-8 sequence */
            int32_t l = g2_tok_builder_find(b, s, at), r = g2_tok_builder_find(b, s + at, b->len[id] - at);
            if (mergeable(b, l) && mergeable(b, r) &&
                g2_tok_builder_add_merge(b, (uint32_t)l, (uint32_t)r, id, 0, err, cap) != 0)
                return -1;
        }
    }
    float *distinct = malloc((b->n_merges ? b->n_merges : 1) * sizeof *distinct);
    if (!distinct)
        return g2_fail(err, cap, "out of memory");
    for (size_t i = 0; i < b->n_merges; i++)
        distinct[i] = scores[b->merges[i].result];
    qsort(distinct, b->n_merges, sizeof *distinct, cmp_desc);
    size_t u = 0;
    for (size_t i = 0; i < b->n_merges; i++)
        if (u == 0 || distinct[i] != distinct[u - 1])
            distinct[u++] = distinct[i];
    for (size_t i = 0; i < b->n_merges; i++) {
        const float *hit = bsearch(&scores[b->merges[i].result], distinct, u, sizeof *distinct, cmp_desc);
        b->merges[i].rank = (uint32_t)(hit - distinct); /* always found: every score was collected */
    }
    free(distinct);
    return 0;
}
