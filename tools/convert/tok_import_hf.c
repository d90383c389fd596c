/* SPDX-License-Identifier: Apache-2.0 */
/* Hugging Face tokenizer.json (the `tokenizers` library's format) → builder. Only
 * what the blob can express is accepted: a BPE model whose normalizer maps ' ' to
 * '▁' (optionally after prepending '▁'), with no pre-tokenizer. Anything else would
 * tokenize differently, so it is an error rather than an approximation. */
#include "runtime/errbuf.h"
#include "tok_import.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 '▁' */

static int is_type(const json_t *obj, const char *type) {
    const json_t *t = json_object_get(obj, "type");
    return json_is_string(t) && strcmp(json_string_value(t), type) == 0;
}

static int is_str(const json_t *v, const char *s) {
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Replace ' ' → '▁', the only normalization the blob knows. */
static int is_space_replace(const json_t *n) {
    const json_t *pat = json_object_get(n, "pattern");
    return is_type(n, "Replace") && json_is_object(pat) && json_object_size(pat) == 1 &&
           is_str(json_object_get(pat, "String"), " ") && is_str(json_object_get(n, "content"), SPACE_MARK);
}

static int read_normalizer(const char *src, const json_t *n, uint32_t *hflags, char *err, size_t cap) {
    if (json_is_object(n) && is_space_replace(n))
        return 0;
    const json_t *seq = json_object_get(n, "normalizers");
    if (json_is_object(n) && is_type(n, "Sequence") && json_array_size(seq) == 2) {
        const json_t *pre = json_array_get(seq, 0), *rep = json_array_get(seq, 1);
        if (json_is_object(pre) && is_type(pre, "Prepend") &&
            is_str(json_object_get(pre, "prepend"), SPACE_MARK) && json_is_object(rep) &&
            is_space_replace(rep)) {
            *hflags |= G2_TOK_ADD_DUMMY_PREFIX;
            return 0;
        }
    }
    const json_t *t = json_object_get(n, "type");
    char what[64];
    snprintf(what, sizeof what, "%s%s%s", json_is_string(t) ? "\"" : "",
             !n || json_is_null(n) ? "null"
             : json_is_string(t)   ? json_string_value(t)
                                   : "(unknown)",
             json_is_string(t) ? "\"" : "");
    return g2_fail(err, cap,
                   "%s: normalizer %s is not supported (only Replace ' ' -> U+2581, optionally after Prepend "
                   "U+2581)",
                   src, what);
}

/* Split at ' ', which newer transformers versions write for Gemma: a no-op, since the
 * normalizer (applied first) has already turned every ' ' into '▁'. */
static int is_space_split(const json_t *p) {
    const json_t *pat = json_object_get(p, "pattern"), *invert = json_object_get(p, "invert");
    return is_type(p, "Split") && json_is_object(pat) && json_object_size(pat) == 1 &&
           is_str(json_object_get(pat, "String"), " ") && (!invert || json_is_false(invert));
}

/* Model options that change tokenization in ways the blob cannot express. */
static int check_model_options(const g2_tok_builder *b, const json_t *model, char *err, size_t cap) {
    const json_t *v = json_object_get(model, "dropout");
    if (v && !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 0))
        return g2_fail(err, cap, "%s: BPE dropout is not supported", b->src);
    const char *strs[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(model, strs[i]);
        if (v && !json_is_null(v) && !is_str(v, ""))
            return g2_fail(err, cap, "%s: model.%s is not supported", b->src, strs[i]);
    }
    if (json_is_true(json_object_get(model, "ignore_merges")))
        return g2_fail(err, cap, "%s: model.ignore_merges is not supported", b->src);
    const char *flags[] = {"byte_fallback", "fuse_unk"};
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(model, flags[i]);
        if (v && !json_is_boolean(v) && !json_is_null(v))
            return g2_fail(err, cap, "%s: model.%s must be true or false", b->src, flags[i]);
    }
    return 0;
}

static int read_vocab(g2_tok_builder *b, const json_t *vocab, char *err, size_t cap) {
    if (!json_is_object(vocab))
        return g2_fail(err, cap, "%s: model.vocab must be an object mapping pieces to ids", b->src);
    if (g2_tok_builder_init(b, b->src, json_object_size(vocab), err, cap) != 0)
        return -1;
    const char *key;
    json_t *id;
    json_object_foreach((json_t *)vocab, key, id) {
        char q[80];
        size_t len = strlen(key);
        if (!json_is_integer(id) || json_integer_value(id) < 0)
            return g2_fail(err, cap, "%s: vocab entry \"%s\" has no valid id", b->src,
                           g2_tok_quote(q, sizeof q, key, len));
        json_int_t i = json_integer_value(id);
        size_t at = i < (json_int_t)b->n ? (size_t)i : b->n; /* out of range: _set says so */
        /* "<0xhh>" or "<0x1>" are not byte pieces: ordinary text */
        uint8_t type = g2_tok_is_byte_text(key, len) ? G2_PIECE_BYTE : G2_PIECE_NORMAL;
        if (g2_tok_builder_set(b, at, key, len, type, err, cap) != 0)
            return -1;
    }
    return g2_tok_builder_index(b, err, cap);
}

/* added_tokens: the vocabulary's special and user-defined tokens, matched whole. */
static int read_added(g2_tok_builder *b, const json_t *added, char *err, size_t cap) {
    if (added && !json_is_array(added) && !json_is_null(added))
        return g2_fail(err, cap, "%s: added_tokens must be a list", b->src);
    size_t i;
    const json_t *t;
    json_array_foreach(added, i, t) {
        const json_t *id = json_object_get(t, "id"), *content = json_object_get(t, "content");
        const json_t *special = json_object_get(t, "special");
        if (!json_is_integer(id) || !json_is_string(content) || (special && !json_is_boolean(special)))
            return g2_fail(
                err, cap, "%s: added_tokens[%zu] needs an integer id, a content string and a boolean special",
                b->src, i);
        const char *s = json_string_value(content);
        int32_t found = g2_tok_builder_find(b, s, json_string_length(content));
        char q[80];
        if (found < 0 || found != json_integer_value(id))
            return g2_fail(err, cap, "%s: added token \"%s\" (id %lld) is not that piece of model.vocab",
                           b->src, g2_tok_quote(q, sizeof q, s, json_string_length(content)),
                           (long long)json_integer_value(id));
        b->type[found] = json_is_true(special) ? G2_PIECE_CONTROL : G2_PIECE_USER_DEFINED;
        if (json_is_true(special))
            b->flags[found] |= G2_PIECE_SPECIAL;
    }
    return 0;
}

/* Splits "a b" at the one space where both halves are pieces. */
static int split_merge_string(const g2_tok_builder *b, size_t i, const char *s, size_t len, int32_t *l,
                              int32_t *r, char *err, size_t cap) {
    char q[80];
    int found = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] != ' ')
            continue;
        int32_t a = g2_tok_builder_find(b, s, k), c = g2_tok_builder_find(b, s + k + 1, len - k - 1);
        if (a < 0 || c < 0)
            continue;
        if (found++)
            return g2_fail(err, cap, "%s: merge %zu \"%s\" can be split into two pieces in more than one way",
                           b->src, i, g2_tok_quote(q, sizeof q, s, len));
        *l = a, *r = c;
    }
    if (!found)
        return g2_fail(err, cap, "%s: merge %zu \"%s\" is not two pieces separated by a space", b->src, i,
                       g2_tok_quote(q, sizeof q, s, len));
    return 0;
}

static int read_merges(g2_tok_builder *b, const json_t *merges, char *err, size_t cap) {
    if (!json_is_array(merges))
        return g2_fail(err, cap, "%s: model.merges must be a list", b->src);
    char q[80], buf[2 * G2_TOK_MAX_PIECE_LEN];
    size_t i;
    const json_t *m;
    json_array_foreach(merges, i, m) {
        int32_t l = -1, r = -1;
        if (json_is_string(m)) {
            if (split_merge_string(b, i, json_string_value(m), json_string_length(m), &l, &r, err, cap) != 0)
                return -1;
        } else if (json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            for (int k = 0; k < 2; k++) {
                const json_t *s = json_array_get(m, (size_t)k);
                int32_t id = g2_tok_builder_find(b, json_string_value(s), json_string_length(s));
                if (id < 0)
                    return g2_fail(err, cap, "%s: merge %zu: \"%s\" is not a piece", b->src, i,
                                   g2_tok_quote(q, sizeof q, json_string_value(s), json_string_length(s)));
                *(k ? &r : &l) = id;
            }
        } else {
            return g2_fail(err, cap, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", b->src, i);
        }
        size_t ll = b->len[l], rl = b->len[r];
        memcpy(buf, b->text + b->off[l], ll);
        memcpy(buf + ll, b->text + b->off[r], rl);
        int32_t res = g2_tok_builder_find(b, buf, ll + rl);
        if (res < 0)
            return g2_fail(err, cap, "%s: merge %zu gives \"%s\", which is not a piece", b->src, i,
                           g2_tok_quote(q, sizeof q, buf, ll + rl));
        if (g2_tok_builder_add_merge(b, (uint32_t)l, (uint32_t)r, (uint32_t)res, (uint32_t)i, err, cap) != 0)
            return -1;
    }
    return g2_tok_builder_check_pairs(b, err, cap);
}

/* Sets *out to the id behind a TemplateProcessing item {"SpecialToken": {"id": NAME}}; other items
 * leave it unchanged. */
static int template_token(const g2_tok_builder *b, const json_t *item, const json_t *specials, int32_t *out,
                          char *err, size_t cap) {
    const json_t *st = json_object_get(item, "SpecialToken");
    if (!st)
        return 0;
    const json_t *name = json_object_get(st, "id");
    const json_t *ids = json_is_string(name)
                            ? json_object_get(json_object_get(specials, json_string_value(name)), "ids")
                            : NULL;
    const json_t *id = json_array_get(ids, 0);
    if (!json_is_string(name) || json_array_size(ids) != 1 || !json_is_integer(id) ||
        json_integer_value(id) < 0 || json_integer_value(id) >= b->n)
        return g2_fail(err, cap, "%s: post_processor names a special token without one valid id", b->src);
    *out = (int32_t)json_integer_value(id);
    return 0;
}

/* bos / eos from the template for single sequences: a special token first / last. */
static int read_post_processor(g2_tok_builder *b, const json_t *pp, char *err, size_t cap) {
    if (is_type(pp, "Sequence")) {
        size_t i;
        const json_t *p;
        json_array_foreach(json_object_get(pp, "processors"), i, p) {
            if (read_post_processor(b, p, err, cap) != 0)
                return -1;
        }
        return 0;
    }
    if (!is_type(pp, "TemplateProcessing"))
        return 0; /* other processors declare no bos/eos this blob could use */
    const json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
    size_t n = json_array_size(single);
    if (n == 0)
        return 0;
    if (template_token(b, json_array_get(single, 0), specials, &b->bos_id, err, cap) != 0)
        return -1;
    return n > 1 ? template_token(b, json_array_get(single, n - 1), specials, &b->eos_id, err, cap) : 0;
}

static int read_root(g2_tok_builder *b, const json_t *root, char *err, size_t cap) {
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(root) || !json_is_object(model))
        return g2_fail(err, cap, "%s: no \"model\" object; not a tokenizer.json", b->src);
    const json_t *type = json_object_get(model, "type");
    if (!is_str(type, "BPE"))
        return g2_fail(err, cap, "%s: model type is %s%s%s; only BPE is supported", b->src,
                       json_is_string(type) ? "\"" : "",
                       json_is_string(type) ? json_string_value(type) : "missing",
                       json_is_string(type) ? "\"" : "");
    if (check_model_options(b, model, err, cap) != 0)
        return -1;
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    if (pre && !json_is_null(pre) && !is_space_split(pre))
        return g2_fail(err, cap, "%s: pre_tokenizer %s is not supported (only null or Split ' ')", b->src,
                       json_is_string(json_object_get(pre, "type"))
                           ? json_string_value(json_object_get(pre, "type"))
                           : "(unknown)");
    uint32_t hflags = 0;
    if (read_normalizer(b->src, json_object_get(root, "normalizer"), &hflags, err, cap) != 0)
        return -1;
    if (read_vocab(b, json_object_get(model, "vocab"), err, cap) != 0)
        return -1;
    b->hflags = hflags;
    if (json_is_true(json_object_get(model, "byte_fallback")))
        b->hflags |= G2_TOK_BYTE_FALLBACK;
    if (json_is_true(json_object_get(model, "fuse_unk")))
        b->hflags |= G2_TOK_FUSE_UNK;
    if (read_added(b, json_object_get(root, "added_tokens"), err, cap) != 0)
        return -1;
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        char q[80];
        int32_t id = json_is_string(unk)
                         ? g2_tok_builder_find(b, json_string_value(unk), json_string_length(unk))
                         : -1;
        if (id < 0)
            return g2_fail(err, cap, "%s: model.unk_token %s%s%s is not a piece", b->src,
                           json_is_string(unk) ? "\"" : "",
                           json_is_string(unk)
                               ? g2_tok_quote(q, sizeof q, json_string_value(unk), json_string_length(unk))
                               : "(not a string)",
                           json_is_string(unk) ? "\"" : "");
        b->unk_id = id;
        b->type[id] = G2_PIECE_UNKNOWN;
    }
    if (read_post_processor(b, json_object_get(root, "post_processor"), err, cap) != 0)
        return -1;
    return read_merges(b, json_object_get(model, "merges"), err, cap);
}

int g2_tok_read_hf_json(g2_tok_builder *b, const char *src, const uint8_t *data, size_t size, char *err,
                        size_t cap) {
    memset(b, 0, sizeof *b);
    b->src = src;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return g2_fail(err, cap, "%s: line %d, column %d: %s", src, jerr.line, jerr.column, jerr.text);
    int rc = read_root(b, root, err, cap);
    json_decref(root);
    return rc;
}
