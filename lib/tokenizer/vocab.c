/* SPDX-License-Identifier: Apache-2.0 */
/* Loading a tokenizer blob: every length and id is checked, then the pieces and
 * merges are indexed in open-addressing hash tables. */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/alloc.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static const char SPACE_MARK[] = "\xe2\x96\x81"; /* U+2581 '▁' */

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

/* Power of two with load factor at most 2/3: short probe runs, and the 580k-merge
 * Gemma table stays at 16 MB. */
static uint32_t table_size(uint32_t n) {
    uint32_t size = 16;
    while (size < (uint64_t)n * 3 / 2)
        size *= 2;
    return size;
}

int32_t g2_tokenizer_find(const gemma2_tokenizer *tok, const char *s, size_t len) {
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & tok->piece_mask;; i = (i + 1) & tok->piece_mask) {
        uint32_t slot = tok->piece_slots[i];
        if (slot == 0)
            return -1;
        const g2_piece *p = &tok->pieces[slot - 1];
        if (p->len == len && memcmp(tok->text + p->offset, s, len) == 0)
            return (int32_t)(slot - 1);
    }
}

int g2_tokenizer_merge(const gemma2_tokenizer *tok, uint32_t left, uint32_t right, uint32_t *rank,
                       uint32_t *result) {
    uint64_t key = ((uint64_t)left << 32 | right) + 1;
    for (uint32_t i = (uint32_t)hash_pair(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const g2_merge_slot *s = &tok->merge_slots[i];
        if (s->key == 0)
            return 0;
        if (s->key == key) {
            *rank = s->rank;
            *result = s->result;
            return 1;
        }
    }
}

static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0, len; i < n; i += len)
        if ((len = g2_utf8_char_len(s + i, n - i)) == 0)
            return 0;
    return 1;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Reads the piece records; fills pieces, text, byte_piece. */
static gemma2_status read_pieces(gemma2_tokenizer *tok, const uint8_t *p, uint32_t bytes) {
    const uint32_t n = tok->n_pieces;
    tok->pieces = g2_calloc(n, sizeof *tok->pieces);
    tok->text = g2_malloc((size_t)bytes + n); /* texts + a NUL each */
    if (!tok->pieces || !tok->text)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for %u tokenizer pieces", (unsigned)n);
    uint32_t at = 0, out = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (bytes - at < 4)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer piece %u is truncated", (unsigned)i);
        uint16_t len;
        memcpy(&len, p + at + 2, sizeof len);
        g2_piece *pc = &tok->pieces[i];
        pc->type = p[at];
        pc->flags = p[at + 1];
        at += 4;
        if (len == 0 || len > G2_TOK_MAX_PIECE_LEN || len > bytes - at)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer piece %u has a bad length %u", (unsigned)i,
                            (unsigned)len);
        if (pc->type < G2_PIECE_NORMAL || pc->type > G2_PIECE_BYTE || (pc->flags & ~G2_PIECE_SPECIAL))
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer piece %u has unknown type %u or flags 0x%x",
                            (unsigned)i, (unsigned)pc->type, (unsigned)pc->flags);
        const char *s = (const char *)p + at;
        if (pc->type == G2_PIECE_BYTE) {
            int hi = len == 6 ? hex_digit(s[3]) : -1, lo = len == 6 ? hex_digit(s[4]) : -1;
            if (hi < 0 || lo < 0 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
                return g2_error(GEMMA2_ERR_FORMAT, "tokenizer byte piece %u is not <0xHH>", (unsigned)i);
            tok->byte_piece[hi * 16 + lo] = (int32_t)i;
        } else if (!valid_utf8((const unsigned char *)s, len)) {
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer piece %u is not valid UTF-8", (unsigned)i);
        }
        pc->offset = out;
        pc->len = len;
        memcpy(tok->text + out, s, len);
        tok->text[out + len] = '\0';
        out += len + 1u;
        at += len;
        if (len > tok->max_piece_bytes)
            tok->max_piece_bytes = len;
    }
    if (at != bytes)
        return g2_error(GEMMA2_ERR_FORMAT, "tokenizer pieces section has %u stray bytes", (unsigned)(bytes - at));
    return GEMMA2_OK;
}

static gemma2_status index_pieces(gemma2_tokenizer *tok) {
    uint32_t size = table_size(tok->n_pieces);
    tok->piece_mask = size - 1;
    tok->piece_slots = g2_calloc(size, sizeof *tok->piece_slots);
    if (!tok->piece_slots)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory indexing tokenizer pieces");
    for (uint32_t id = 0; id < tok->n_pieces; id++) {
        const g2_piece *p = &tok->pieces[id];
        const char *s = tok->text + p->offset;
        if (g2_tokenizer_find(tok, s, p->len) >= 0)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer piece %u repeats an earlier piece", (unsigned)id);
        uint32_t i = (uint32_t)hash_bytes(s, p->len) & tok->piece_mask;
        while (tok->piece_slots[i])
            i = (i + 1) & tok->piece_mask;
        tok->piece_slots[i] = id + 1;
    }
    return GEMMA2_OK;
}

/* True if the text has '▁' right after a character that is not '▁'. */
static int has_inner_space(const char *s, size_t len) {
    for (size_t i = 1; i + 3 <= len; i++)
        if (memcmp(s + i, SPACE_MARK, 3) == 0 && (i < 3 || memcmp(s + i - 3, SPACE_MARK, 3) != 0))
            return 1;
    return 0;
}

static gemma2_status read_merges(gemma2_tokenizer *tok, const uint8_t *p, uint32_t n_merges) {
    uint32_t size = table_size(n_merges);
    tok->merge_mask = size - 1;
    tok->merge_slots = g2_calloc(size, sizeof *tok->merge_slots);
    if (!tok->merge_slots)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory for %u tokenizer merges", (unsigned)n_merges);
    tok->split_before_space = 1;
    for (uint32_t k = 0; k < n_merges; k++) {
        g2_tok_merge m;
        memcpy(&m, p + (size_t)k * sizeof m, sizeof m);
        if (m.left >= tok->n_pieces || m.right >= tok->n_pieces || m.result >= tok->n_pieces)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer merge %u refers to a piece out of range", (unsigned)k);
        const g2_piece *l = &tok->pieces[m.left], *r = &tok->pieces[m.right], *res = &tok->pieces[m.result];
        if (l->len + r->len != res->len ||
            memcmp(tok->text + l->offset, tok->text + res->offset, l->len) != 0 ||
            memcmp(tok->text + r->offset, tok->text + res->offset + l->len, r->len) != 0)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer merge %u: '%s' + '%s' is not '%s'", (unsigned)k,
                            tok->text + l->offset, tok->text + r->offset, tok->text + res->offset);
        uint64_t key = ((uint64_t)m.left << 32 | m.right) + 1;
        uint32_t i = (uint32_t)hash_pair(key) & tok->merge_mask;
        while (tok->merge_slots[i].key && tok->merge_slots[i].key != key)
            i = (i + 1) & tok->merge_mask;
        if (tok->merge_slots[i].key)
            return g2_error(GEMMA2_ERR_FORMAT, "tokenizer merge %u repeats a pair", (unsigned)k);
        tok->merge_slots[i] = (g2_merge_slot){.key = key, .rank = m.rank, .result = m.result};
        if (tok->split_before_space && has_inner_space(tok->text + res->offset, res->len))
            tok->split_before_space = 0;
    }
    return GEMMA2_OK;
}

static gemma2_status index_specials(gemma2_tokenizer *tok) {
    for (uint32_t id = 0; id < tok->n_pieces; id++)
        tok->n_specials += (tok->pieces[id].flags & G2_PIECE_SPECIAL) != 0;
    tok->specials = g2_malloc((tok->n_specials ? tok->n_specials : 1) * sizeof *tok->specials);
    if (!tok->specials)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory indexing special pieces");
    uint32_t k = 0;
    for (uint32_t id = 0; id < tok->n_pieces; id++)
        if (tok->pieces[id].flags & G2_PIECE_SPECIAL) {
            /* insertion by length, longest first: few specials, done once */
            uint32_t j = k++;
            while (j > 0 && tok->pieces[tok->specials[j - 1]].len < tok->pieces[id].len) {
                tok->specials[j] = tok->specials[j - 1];
                j--;
            }
            tok->specials[j] = id;
            tok->special_first_byte[(unsigned char)tok->text[tok->pieces[id].offset]] = 1;
        }
    return GEMMA2_OK;
}

int g2_piece_starts_word(const g2_piece *p) {
    return (p->type == G2_PIECE_NORMAL || p->type == G2_PIECE_USER_DEFINED || p->type == G2_PIECE_UNUSED) &&
           !(p->flags & G2_PIECE_SPECIAL);
}

/* Code point of a piece that is exactly one character below U+10000, or -1. */
static int32_t single_bmp_char(const unsigned char *s, size_t len) {
    if (len == 1 && s[0] < 0x80)
        return s[0];
    if (len == 2 && (s[0] >> 5) == 6)
        return (s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    if (len == 3 && (s[0] >> 4) == 14)
        return (s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return -1;
}

static gemma2_status index_chars(gemma2_tokenizer *tok) {
    tok->bmp_piece = g2_malloc(0x10000 * sizeof *tok->bmp_piece);
    if (!tok->bmp_piece)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory indexing tokenizer characters");
    for (uint32_t cp = 0; cp < 0x10000; cp++)
        tok->bmp_piece[cp] = -1;
    for (uint32_t id = 0; id < tok->n_pieces; id++) {
        const g2_piece *p = &tok->pieces[id];
        int32_t cp = single_bmp_char((const unsigned char *)tok->text + p->offset, p->len);
        if (cp >= 0 && g2_piece_starts_word(p))
            tok->bmp_piece[cp] = (int32_t)id;
    }
    return GEMMA2_OK;
}

static gemma2_status check_id(int32_t id, uint32_t n, const char *what) {
    if (id < -1 || id >= (int32_t)n)
        return g2_error(GEMMA2_ERR_FORMAT, "tokenizer %s id %d is out of range", what, (int)id);
    return GEMMA2_OK;
}

gemma2_status g2_tokenizer_load(const void *blob, size_t size, gemma2_tokenizer **out) {
    *out = NULL;
    g2_tok_header h;
    if (size < sizeof h)
        return g2_error(GEMMA2_ERR_FORMAT, "tokenizer data is too small (%zu bytes)", size);
    memcpy(&h, blob, sizeof h);
    if (memcmp(h.magic, G2_TOK_MAGIC, 4) != 0)
        return g2_error(GEMMA2_ERR_FORMAT, "not gemma2 tokenizer data (bad magic)");
    if (h.version != G2_TOK_VERSION)
        return g2_error(GEMMA2_ERR_VERSION, "tokenizer data version %u is not supported", (unsigned)h.version);
    const uint64_t pieces_padded = ((uint64_t)h.pieces_bytes + 3) / 4 * 4;
    if (h.n_pieces == 0 || h.n_pieces > G2_TOK_MAX_PIECES || h.n_merges > G2_TOK_MAX_MERGES ||
        (h.flags & ~(uint32_t)(G2_TOK_BYTE_FALLBACK | G2_TOK_ADD_DUMMY_PREFIX | G2_TOK_REMOVE_EXTRA_WS |
                                G2_TOK_FUSE_UNK)) ||
        sizeof h + pieces_padded + (uint64_t)h.n_merges * sizeof(g2_tok_merge) != size)
        return g2_error(GEMMA2_ERR_FORMAT, "tokenizer header is inconsistent (%u pieces, %u merges, %zu bytes)",
                        (unsigned)h.n_pieces, (unsigned)h.n_merges, size);
    gemma2_tokenizer *tok = g2_calloc(1, sizeof *tok);
    if (!tok)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "out of memory loading a tokenizer");
    tok->flags = h.flags;
    tok->n_pieces = h.n_pieces;
    for (int b = 0; b < 256; b++)
        tok->byte_piece[b] = -1;
    const uint8_t *base = blob;
    gemma2_status st;
    if ((st = read_pieces(tok, base + sizeof h, h.pieces_bytes)) != GEMMA2_OK ||
        (st = index_pieces(tok)) != GEMMA2_OK ||
        (st = read_merges(tok, base + sizeof h + pieces_padded, h.n_merges)) != GEMMA2_OK ||
        (st = index_specials(tok)) != GEMMA2_OK || (st = index_chars(tok)) != GEMMA2_OK || (st = check_id(h.unk_id, h.n_pieces, "unk")) != GEMMA2_OK ||
        (st = check_id(h.bos_id, h.n_pieces, "bos")) != GEMMA2_OK ||
        (st = check_id(h.eos_id, h.n_pieces, "eos")) != GEMMA2_OK ||
        (st = check_id(h.pad_id, h.n_pieces, "pad")) != GEMMA2_OK ||
        (st = check_id(h.start_of_turn_id, h.n_pieces, "start_of_turn")) != GEMMA2_OK ||
        (st = check_id(h.end_of_turn_id, h.n_pieces, "end_of_turn")) != GEMMA2_OK) {
        g2_tokenizer_free(tok);
        return st;
    }
    tok->unk_id = h.unk_id;
    tok->bos_id = h.bos_id;
    tok->eos_id = h.eos_id;
    tok->pad_id = h.pad_id;
    tok->start_of_turn_id = h.start_of_turn_id;
    tok->end_of_turn_id = h.end_of_turn_id;
    *out = tok;
    return GEMMA2_OK;
}

void g2_tokenizer_free(gemma2_tokenizer *tok) {
    if (!tok)
        return;
    free(tok->pieces);
    free(tok->text);
    free(tok->piece_slots);
    free(tok->merge_slots);
    free(tok->specials);
    free(tok->bmp_piece);
    free(tok);
}
