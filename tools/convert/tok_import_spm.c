/* SPDX-License-Identifier: Apache-2.0 */
/* SentencePiece tokenizer.model (a serialized ModelProto) → builder. The protobuf
 * reader is written for untrusted input: every length is checked against the bytes
 * left, unknown fields of every wire type (groups included) are skipped, and a
 * known field with the wrong wire type is an error. Only BPE models without
 * normalization rules are accepted; their merges are derived from the pieces
 * (every piece p = a + b of two pieces gives a merge ranked by p's score). */
#include "runtime/errbuf.h"
#include "tok_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb_reader {
    const uint8_t *base, *p, *end; /* base: start of the file, for offsets in messages */
    const char *src;
    char *err;
    size_t cap;
} pb_reader;

static int pb_error(const pb_reader *r, const char *what) {
    return g2_fail(r->err, r->cap, "%s: malformed protobuf near byte %zu: %s", r->src,
                   (size_t)(r->p - r->base), what);
}

static int pb_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p == r->end)
            return pb_error(r, "truncated varint");
        uint8_t c = *r->p++;
        if (i == 9 && c > 1)
            return pb_error(r, "varint longer than 64 bits");
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return pb_error(r, "varint longer than 64 bits");
}

/* 1 and the next field's number and wire type, 0 at the end of the message, or -1. */
static int pb_tag(pb_reader *r, uint32_t *field, uint32_t *wire) {
    if (r->p == r->end)
        return 0;
    uint64_t t;
    if (pb_varint(r, &t) != 0)
        return -1;
    if (t >> 32 || t >> 3 == 0)
        return pb_error(r, "invalid field number");
    *field = (uint32_t)(t >> 3);
    *wire = (uint32_t)(t & 7);
    return 1;
}

/* A length-delimited field: sub reads its bytes, r continues after them. */
static int pb_bytes(pb_reader *r, pb_reader *sub) {
    uint64_t n;
    if (pb_varint(r, &n) != 0)
        return -1;
    if (n > (uint64_t)(r->end - r->p))
        return pb_error(r, "length-delimited field runs past the end of its message");
    *sub = *r;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

static int pb_fixed32(pb_reader *r, uint32_t *out) {
    if (r->end - r->p < 4)
        return pb_error(r, "truncated fixed32");
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

static int pb_skip(pb_reader *r, uint32_t field, uint32_t wire, int depth) {
    uint64_t v = 0;
    uint32_t f = 0, w = 0;
    pb_reader sub = {0};
    switch (wire) {
    case 0: return pb_varint(r, &v);
    case 1:
        if (r->end - r->p < 8)
            return pb_error(r, "truncated fixed64");
        r->p += 8;
        return 0;
    case 2: return pb_bytes(r, &sub);
    case 5: return pb_fixed32(r, &w);
    case 3: /* a (deprecated) group: skip fields up to its matching end tag */
        if (depth >= 32)
            return pb_error(r, "groups nested too deeply");
        for (;;) {
            int rc = pb_tag(r, &f, &w);
            if (rc <= 0)
                return rc < 0 ? -1 : pb_error(r, "unterminated group");
            if (w == 4)
                return f == field ? 0 : pb_error(r, "mismatched end of group");
            if (pb_skip(r, f, w, depth + 1) != 0)
                return -1;
        }
    case 4: return pb_error(r, "end of group without a start");
    default: return pb_error(r, "invalid wire type");
    }
}

/* A known field must have its declared wire type. */
static int pb_want(const pb_reader *r, uint32_t field, uint32_t wire, uint32_t want, const char *msg) {
    if (wire == want)
        return 0;
    char what[96];
    snprintf(what, sizeof what, "%s field %u has wire type %u, expected %u", msg, field, wire, want);
    return pb_error(r, what);
}

/* int32 fields: negative values are sign-extended 64-bit varints; keep the low 32 bits. */
static int32_t as_int32(uint64_t v) {
    uint32_t u = (uint32_t)v;
    return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

typedef struct spm_spec {
    uint64_t model_type;
    int byte_fallback, ws_suffix;
    int32_t ids[4]; /* unk, bos, eos, pad */
    int has_name, name_identity;
    size_t charsmap_len;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
} spm_spec;

/* Fields of TrainerSpec (wire type 0 for all we read) and NormalizerSpec. */
static int read_trainer(pb_reader r, spm_spec *s) {
    uint32_t f = 0, w = 0;
    int rc;
    while ((rc = pb_tag(&r, &f, &w)) > 0) {
        int known = f == 3 || f == 24 || f == 35 || (f >= 40 && f <= 43);
        uint64_t v = 0;
        if (!known) {
            if (pb_skip(&r, f, w, 0) != 0)
                return -1;
            continue;
        }
        if (pb_want(&r, f, w, 0, "TrainerSpec") != 0 || pb_varint(&r, &v) != 0)
            return -1;
        if (f == 3)
            s->model_type = v;
        else if (f == 24)
            s->ws_suffix = v != 0;
        else if (f == 35)
            s->byte_fallback = v != 0;
        else
            s->ids[f - 40] = as_int32(v);
    }
    return rc;
}

static int read_normalizer(pb_reader r, spm_spec *s) {
    uint32_t f = 0, w = 0;
    int rc;
    while ((rc = pb_tag(&r, &f, &w)) > 0) {
        pb_reader sub = {0};
        uint64_t v = 0;
        if (f == 1 || f == 2) {
            if (pb_want(&r, f, w, 2, "NormalizerSpec") != 0 || pb_bytes(&r, &sub) != 0)
                return -1;
            size_t n = (size_t)(sub.end - sub.p);
            if (f == 1) {
                s->has_name = 1;
                s->name_identity = n == 8 && memcmp(sub.p, "identity", 8) == 0;
            } else {
                s->charsmap_len = n;
            }
        } else if (f >= 3 && f <= 5) {
            if (pb_want(&r, f, w, 0, "NormalizerSpec") != 0 || pb_varint(&r, &v) != 0)
                return -1;
            *(f == 3 ? &s->add_dummy_prefix : f == 4 ? &s->remove_extra_ws : &s->escape_ws) = v != 0;
        } else if (pb_skip(&r, f, w, 0) != 0) {
            return -1;
        }
    }
    return rc;
}

/* One SentencePiece message: text, score, type (default NORMAL). */
static int read_piece(pb_reader r, pb_reader *text, float *score, uint32_t *type) {
    uint32_t f = 0, w = 0;
    int rc;
    text->p = text->end = r.p; /* absent text = empty, rejected by the builder */
    *score = 0;
    *type = G2_PIECE_NORMAL;
    while ((rc = pb_tag(&r, &f, &w)) > 0) {
        uint64_t v = 0;
        uint32_t bits = 0;
        if (f == 1) {
            if (pb_want(&r, f, w, 2, "SentencePiece") != 0 || pb_bytes(&r, text) != 0)
                return -1;
        } else if (f == 2) {
            if (pb_want(&r, f, w, 5, "SentencePiece") != 0 || pb_fixed32(&r, &bits) != 0)
                return -1;
            memcpy(score, &bits, 4);
        } else if (f == 3) {
            if (pb_want(&r, f, w, 0, "SentencePiece") != 0 || pb_varint(&r, &v) != 0)
                return -1;
            if (v < G2_PIECE_NORMAL || v > G2_PIECE_BYTE)
                return pb_error(&r, "unknown piece type");
            *type = (uint32_t)v;
        } else if (pb_skip(&r, f, w, 0) != 0) {
            return -1;
        }
    }
    return rc;
}

/* Walks ModelProto. Pass 0 reads the specs and counts pieces; pass 1 sets them. */
static int read_model(pb_reader r, int pass, spm_spec *spec, size_t *n, g2_tok_builder *b, float *scores) {
    uint32_t f = 0, w = 0;
    int rc;
    size_t count = 0;
    while ((rc = pb_tag(&r, &f, &w)) > 0) {
        pb_reader sub = {0};
        if (f > 3) {
            if (pb_skip(&r, f, w, 0) != 0)
                return -1;
            continue;
        }
        if (pb_want(&r, f, w, 2, "ModelProto") != 0 || pb_bytes(&r, &sub) != 0)
            return -1;
        if (pass == 0 && f == 2 && read_trainer(sub, spec) != 0)
            return -1;
        if (pass == 0 && f == 3 && read_normalizer(sub, spec) != 0)
            return -1;
        if (f == 1 && pass == 1) {
            pb_reader text;
            uint32_t type;
            if (read_piece(sub, &text, &scores[count], &type) != 0)
                return -1;
            if (isnan(scores[count]))
                return g2_fail(r.err, r.cap, "%s: piece %zu has a NaN score", r.src, count);
            if (g2_tok_builder_set(b, count, (const char *)text.p, (size_t)(text.end - text.p), (uint8_t)type,
                                   r.err, r.cap) != 0)
                return -1;
        }
        count += f == 1;
    }
    *n = count;
    return rc;
}

static int check_spec(const g2_tok_builder *b, const spm_spec *s, char *err, size_t cap) {
    static const char *const types[] = {"0", "UNIGRAM", "BPE", "WORD", "CHAR"};
    if (s->model_type != 2)
        return g2_fail(err, cap, "%s: model_type is %s; only BPE models are supported", b->src,
                       s->model_type < 5 ? types[s->model_type] : "unknown");
    if ((s->has_name && !s->name_identity) || s->charsmap_len)
        return g2_fail(
            err, cap,
            "%s: the normalizer is not \"identity\" (Unicode normalization rules are not supported)", b->src);
    if (!s->escape_ws)
        return g2_fail(err, cap, "%s: normalizer_spec.escape_whitespaces = false is not supported", b->src);
    if (s->ws_suffix)
        return g2_fail(err, cap, "%s: trainer_spec.treat_whitespace_as_suffix is not supported", b->src);
    return 0;
}

/* A declared id must be a piece or -1 (none); -1 lets the builder look up the name. */
static int set_ids(g2_tok_builder *b, const spm_spec *s, char *err, size_t cap) {
    static const char *const names[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
    int32_t *dst[] = {&b->unk_id, &b->bos_id, &b->eos_id, &b->pad_id};
    for (int i = 0; i < 4; i++) {
        if (s->ids[i] < -1 || s->ids[i] >= (int32_t)b->n)
            return g2_fail(err, cap, "%s: trainer_spec.%s = %d is not a piece id (%u pieces)", b->src,
                           names[i], s->ids[i], b->n);
        *dst[i] = s->ids[i];
    }
    return 0;
}

int g2_tok_read_spm(g2_tok_builder *b, const char *src, const uint8_t *data, size_t size, char *err,
                    size_t cap) {
    memset(b, 0, sizeof *b);
    b->src = src;
    /* proto2 defaults of the fields we read */
    spm_spec spec = {
        .model_type = 1, .ids = {0, 1, 2, -1}, .add_dummy_prefix = 1, .remove_extra_ws = 1, .escape_ws = 1};
    pb_reader r = {data, data, data + size, src, err, cap};
    size_t n = 0;
    if (read_model(r, 0, &spec, &n, NULL, NULL) != 0)
        return -1;
    if (n == 0)
        return g2_fail(err, cap, "%s: no pieces; not a SentencePiece model", src);
    if (check_spec(b, &spec, err, cap) != 0 || g2_tok_builder_init(b, src, n, err, cap) != 0)
        return -1;
    float *scores = malloc(n * sizeof *scores);
    if (!scores)
        return g2_fail(err, cap, "out of memory");
    int rc = -1;
    if (read_model(r, 1, &spec, &n, b, scores) != 0 || g2_tok_builder_index(b, err, cap) != 0 ||
        set_ids(b, &spec, err, cap) != 0 || g2_tok_builder_merges_from_scores(b, scores, err, cap) != 0)
        goto out;
    /* SentencePiece matches user-defined pieces in text as units; it never parses a
     * control piece (<bos>, <eos>) out of text, so those stay ordinary characters. */
    for (uint32_t id = 0; id < b->n; id++)
        if (b->type[id] == G2_PIECE_USER_DEFINED)
            b->flags[id] |= G2_PIECE_SPECIAL;
    b->hflags = (spec.byte_fallback ? G2_TOK_BYTE_FALLBACK : 0) |
                (spec.add_dummy_prefix ? G2_TOK_ADD_DUMMY_PREFIX : 0) |
                (spec.remove_extra_ws ? G2_TOK_REMOVE_EXTRA_WS : 0);
    rc = 0;
out:
    free(scores);
    return rc;
}
