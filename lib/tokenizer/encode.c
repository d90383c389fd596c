/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding: special pieces (special mode only) → ' ' to '▁' → characters → BPE merges
 * by rank, leftmost first among equal ranks (lib/tokenizer/blob.h). The merge loop
 * keeps candidate pairs in a binary heap, so any input costs O(n log n). When no merge
 * result has a '▁' after another character, no symbol can ever span such a position,
 * so the text is cut there and each word is merged alone: same ids, less work. */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/alloc.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static const char SPACE_MARK[] = "\xe2\x96\x81";

int g2_ids_push(g2_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = g2_realloc(ids->v, cap * sizeof *v);
        if (!v)
            return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

typedef struct symbol {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
} symbol;

typedef struct candidate {
    uint32_t rank, pos; /* pos: index of the left symbol; orders ties left to right */
    int32_t left_id, right_id;
    uint32_t result;
} candidate;

/* Words repeat (" the", " of"): a direct-mapped cache of short words' ids lets repeats
 * skip the merge loop, whose hash lookups miss the CPU caches. Per call, so the
 * tokenizer stays immutable and thread-safe; only for texts long enough to repay it. */
#define CACHE_MIN_TEXT 4096
#define CACHE_WORD_MAX 44
#define CACHE_IDS_MAX 22

typedef struct cached_word {
    uint32_t len;   /* 0 = empty */
    uint32_t n_ids;
    char bytes[CACHE_WORD_MAX];
    int32_t ids[CACHE_IDS_MAX];
} cached_word;

/* Scratch of one encode call, grown to its longest word. */
typedef struct encoder {
    const gemma2_tokenizer *tok;
    int plain;
    symbol *syms;    /* [cap] */
    candidate *heap; /* [3 * cap]: the first pairs, then at most two per merge */
    size_t n_heap, cap;
    g2_ids *out;
    cached_word *cache; /* [cache_mask + 1], or NULL */
    uint32_t cache_mask;
} encoder;

/* Room for a word of len bytes: at most one symbol per byte. */
static int reserve(encoder *e, size_t len) {
    if (len <= e->cap)
        return 0;
    size_t cap = len > 2 * e->cap ? len : 2 * e->cap;
    symbol *syms = g2_realloc(e->syms, cap * sizeof *syms);
    if (syms)
        e->syms = syms;
    candidate *heap = g2_realloc(e->heap, 3 * cap * sizeof *heap);
    if (heap)
        e->heap = heap;
    if (!syms || !heap)
        return -1;
    e->cap = cap;
    return 0;
}

static int cand_less(const candidate *a, const candidate *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(encoder *e, candidate c) {
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = c;
}

static candidate heap_pop(encoder *e) {
    candidate top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= e->n_heap)
            break;
        if (child + 1 < e->n_heap && cand_less(&e->heap[child + 1], &e->heap[child]))
            child++;
        if (!cand_less(&e->heap[child], &last))
            break;
        e->heap[i] = e->heap[child];
        i = child;
    }
    if (e->n_heap)
        e->heap[i] = last;
    return top;
}

static void consider_pair(encoder *e, int32_t left) {
    if (left < 0 || e->syms[left].next < 0)
        return;
    const symbol *l = &e->syms[left], *r = &e->syms[l->next];
    uint32_t rank, result;
    if (l->id < 0 || r->id < 0 || !g2_tokenizer_merge(e->tok, (uint32_t)l->id, (uint32_t)r->id, &rank, &result))
        return;
    if (e->plain && (e->tok->pieces[result].flags & G2_PIECE_SPECIAL))
        return; /* plain text never yields a special piece */
    heap_push(e, (candidate){.rank = rank, .pos = (uint32_t)left, .left_id = l->id, .right_id = r->id,
                             .result = result});
}

/* The piece a character starts as, or -1 (then byte fallback or unk). len comes from
 * char_len: 2 and 3 are valid sequences, 1 may be a stray byte. */
static int32_t char_piece(const gemma2_tokenizer *tok, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    if (len == 1)
        return u[0] < 0x80 ? tok->bmp_piece[u[0]] : -1;
    if (len == 2)
        return tok->bmp_piece[(u[0] & 0x1F) << 6 | (u[1] & 0x3F)];
    if (len == 3)
        return tok->bmp_piece[(u[0] & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F)];
    int32_t id = g2_tokenizer_find(tok, s, len);
    return id >= 0 && g2_piece_starts_word(&tok->pieces[id]) ? id : -1;
}

/* Length of the character at s: a byte that does not start a valid one stands alone
 * (and goes to byte fallback). */
static size_t char_len(const unsigned char *s, size_t avail) {
    size_t len = g2_utf8_char_len(s, avail);
    return len ? len : 1;
}

static int add_symbol(encoder *e, int32_t *n, int32_t id) {
    const gemma2_tokenizer *tok = e->tok;
    if (id == tok->unk_id && (tok->flags & G2_TOK_FUSE_UNK) && *n > 0 && e->syms[*n - 1].id == tok->unk_id)
        return 0;
    e->syms[*n] = (symbol){.id = id, .prev = *n - 1, .next = -1};
    if (*n > 0)
        e->syms[*n - 1].next = *n;
    (*n)++;
    return 0;
}

/* Merges one word (normalized text) and appends its ids. */
static gemma2_status merge_word(encoder *e, const char *s, size_t len) {
    const gemma2_tokenizer *tok = e->tok;
    if (reserve(e, len) != 0)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory encoding a word of %zu bytes", len);
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = char_len((const unsigned char *)s + i, len - i);
        int32_t id = char_piece(tok, s + i, cl);
        if (id >= 0) {
            add_symbol(e, &n, id);
        } else if (tok->flags & G2_TOK_BYTE_FALLBACK) {
            for (size_t k = 0; k < cl; k++) {
                int32_t b = tok->byte_piece[(unsigned char)s[i + k]];
                add_symbol(e, &n, b >= 0 ? b : tok->unk_id);
            }
        } else {
            add_symbol(e, &n, tok->unk_id);
        }
        i += cl;
    }
    e->n_heap = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        consider_pair(e, i);
    while (e->n_heap) {
        candidate c = heap_pop(e);
        symbol *l = &e->syms[c.pos];
        if (l->id != c.left_id || l->next < 0 || e->syms[l->next].id != c.right_id)
            continue; /* stale: one side has merged since */
        symbol *r = &e->syms[l->next];
        l->id = (int32_t)c.result;
        l->next = r->next;
        if (r->next >= 0)
            e->syms[r->next].prev = (int32_t)c.pos;
        r->id = -1;
        consider_pair(e, l->prev);
        consider_pair(e, (int32_t)c.pos);
    }
    for (int32_t i = 0; i >= 0 && n > 0; i = e->syms[i].next)
        if (e->syms[i].id >= 0 && g2_ids_push(e->out, e->syms[i].id) != 0)
            return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory encoding text");
    return GEMMA2_OK;
}

static uint32_t word_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static gemma2_status encode_word(encoder *e, const char *s, size_t len) {
    if (!e->cache || len > CACHE_WORD_MAX)
        return merge_word(e, s, len);
    cached_word *c = &e->cache[word_hash(s, len) & e->cache_mask];
    if (c->len == len && memcmp(c->bytes, s, len) == 0) {
        for (uint32_t i = 0; i < c->n_ids; i++)
            if (g2_ids_push(e->out, c->ids[i]) != 0)
                return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory encoding text");
        return GEMMA2_OK;
    }
    size_t first = e->out->n;
    gemma2_status st = merge_word(e, s, len);
    size_t n = e->out->n - first;
    if (st == GEMMA2_OK && n <= CACHE_IDS_MAX) {
        c->len = (uint32_t)len;
        c->n_ids = (uint32_t)n;
        memcpy(c->bytes, s, len);
        memcpy(c->ids, e->out->v + first, n * sizeof *c->ids);
    }
    return st;
}

/* ' ' → '▁' (and the optional dummy prefix and whitespace clean-up) into buf. */
static size_t normalize(const gemma2_tokenizer *tok, const char *s, size_t len, int at_start, char *buf) {
    size_t out = 0;
    if (tok->flags & G2_TOK_REMOVE_EXTRA_WS) {
        while (len && *s == ' ')
            s++, len--;
        while (len && s[len - 1] == ' ')
            len--;
    }
    if (at_start && len && (tok->flags & G2_TOK_ADD_DUMMY_PREFIX)) {
        memcpy(buf, SPACE_MARK, 3);
        out = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            if ((tok->flags & G2_TOK_REMOVE_EXTRA_WS) && i > 0 && s[i - 1] == ' ')
                continue;
            memcpy(buf + out, SPACE_MARK, 3);
            out += 3;
        } else {
            buf[out++] = s[i];
        }
    }
    return out;
}

static gemma2_status encode_segment(encoder *e, const char *s, size_t len, int at_start, char *norm) {
    size_t n = normalize(e->tok, s, len, at_start, norm);
    if (!e->tok->split_before_space)
        return encode_word(e, norm, n);
    /* Cut before each '▁' that follows another character. (Its first byte 0xE2 always
     * starts a character, so a match is a character boundary.) */
    size_t start = 0;
    for (size_t i = 1; i + 3 <= n; i++) {
        int space_here = memcmp(norm + i, SPACE_MARK, 3) == 0;
        int space_before = i >= 3 && memcmp(norm + i - 3, SPACE_MARK, 3) == 0;
        if (space_here && !space_before) {
            gemma2_status st = encode_word(e, norm + start, i - start);
            if (st != GEMMA2_OK)
                return st;
            start = i;
        }
    }
    return encode_word(e, norm + start, n - start);
}

/* The special piece starting at s, longest first, or -1. */
static int32_t special_at(const gemma2_tokenizer *tok, const char *s, size_t avail) {
    if (!tok->special_first_byte[(unsigned char)*s])
        return -1;
    for (uint32_t k = 0; k < tok->n_specials; k++) {
        const g2_piece *p = &tok->pieces[tok->specials[k]];
        if (p->len <= avail && memcmp(tok->text + p->offset, s, p->len) == 0)
            return (int32_t)tok->specials[k];
    }
    return -1;
}

gemma2_status g2_encode(const gemma2_tokenizer *tok, const char *text, size_t len, int special, g2_ids *out) {
    if (len > (SIZE_MAX - 3) / 3 / sizeof(candidate) || len > INT32_MAX / 4)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "text of %zu bytes is too long to encode", len);
    encoder e = {.tok = tok, .plain = !special, .out = out};
    if (len >= CACHE_MIN_TEXT && tok->split_before_space) {
        uint32_t entries = 1024;
        while (entries < 16384 && entries < len / 16)
            entries *= 2;
        e.cache = g2_calloc(entries, sizeof *e.cache); /* on failure: no cache, same ids */
        e.cache_mask = entries - 1;
    }
    char *norm = g2_malloc(3 * len + 3); /* every byte may become '▁', plus a dummy prefix */
    gemma2_status st = GEMMA2_OK;
    if (!norm) {
        st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory encoding %zu bytes", len);
        goto done;
    }
    size_t seg = 0;
    for (size_t i = 0; st == GEMMA2_OK && i <= len; i++) {
        int32_t id = special && i < len ? special_at(tok, text + i, len - i) : -1;
        if (id < 0 && i < len)
            continue;
        if (i > seg)
            st = encode_segment(&e, text + seg, i - seg, seg == 0, norm);
        if (st == GEMMA2_OK && id >= 0) {
            if (g2_ids_push(out, id) != 0)
                st = g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory encoding text");
            i += tok->pieces[id].len - 1;
        }
        seg = i + 1;
    }
done:
    free(e.cache);
    free(norm);
    free(e.syms);
    free(e.heap);
    return st;
}
