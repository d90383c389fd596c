/* SPDX-License-Identifier: Apache-2.0 */
/* Tokenizer golden test: for every line {"text", "ids"} of a golden file, the ids are
 * exact in the given mode, decoding gives the text back, the streaming decoder emits
 * only valid UTF-8 at every token and the same text in the end, and plain mode never
 * yields a special piece. Then invalid UTF-8 and long inputs (which use the word
 * cache and the split before '▁') are checked against slower equivalent paths.
 * usage: test_tokenizer_golden SOURCE GOLDEN.jsonl special|plain
 *   SOURCE: a tokenizer.json, a tokenizer.model, or a checkpoint folder */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/tokenizer_import.h"
#include "gemma2.h"
#include "testutil.h"
#include "tokenizer/utf8.h"

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0, len; i < n; i += len)
        if ((len = g2_utf8_char_len((const unsigned char *)s + i, n - i)) == 0)
            return 0;
    return 1;
}

static int32_t *encode(const gemma2_tokenizer *tok, const char *text, size_t len, uint32_t flags, size_t *n) {
    *n = 0;
    size_t need;
    if (gemma2_tokenize(tok, text, len, flags, NULL, 0, &need) == GEMMA2_OK && need == 0)
        return malloc(1);
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    CHECK_STATUS(gemma2_tokenize(tok, text, len, flags, ids, need, n), GEMMA2_OK);
    return ids;
}

static char *decode(const gemma2_tokenizer *tok, const int32_t *ids, size_t n, size_t *len) {
    size_t need;
    gemma2_detokenize(tok, ids, n, 0, NULL, 0, &need);
    char *text = malloc(need + 1);
    CHECK_STATUS(gemma2_detokenize(tok, ids, n, 0, text, need, len), GEMMA2_OK);
    return text;
}

/* Streams ids one at a time: every chunk is valid UTF-8; returns the whole text. */
static char *stream(const gemma2_tokenizer *tok, const int32_t *ids, size_t n, size_t *len, int line) {
    gemma2_text_stream *st = NULL;
    CHECK_STATUS(gemma2_text_stream_new(tok, 0, &st), GEMMA2_OK);
    size_t max = gemma2_text_stream_max_bytes(st), at = 0;
    char *all = malloc((n + 1) * max + 4), *chunk = malloc(max);
    for (size_t i = 0; i <= n; i++) {
        size_t k = 0;
        if (i < n)
            CHECK_STATUS(gemma2_text_stream_push(st, ids[i], chunk, max, &k), GEMMA2_OK);
        else
            CHECK_STATUS(gemma2_text_stream_flush(st, chunk, max, &k), GEMMA2_OK);
        CHECK(valid_utf8(chunk, k), "line %d: stream chunk after token %zu is not valid UTF-8", line, i);
        memcpy(all + at, chunk, k);
        at += k;
    }
    gemma2_text_stream_free(st);
    free(chunk);
    *len = at;
    return all;
}

static void check_line(const gemma2_tokenizer *tok, const char *text, size_t len, json_t *want, int special,
                       int line) {
    size_t n;
    int32_t *ids = encode(tok, text, len, special ? GEMMA2_TOKENIZE_SPECIAL : 0, &n);
    int same = n == json_array_size(want);
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == json_integer_value(json_array_get(want, i));
    CHECK(same, "line %d: ids differ (%zu ids, golden %zu) for text '%.40s'", line, n, json_array_size(want), text);
    if (!special)
        for (size_t i = 0; i < n; i++) {
            const char *piece;
            size_t plen;
            gemma2_token_piece(tok, ids[i], &piece, &plen);
            CHECK(ids[i] != gemma2_token_special(tok, GEMMA2_TOKEN_BOS) &&
                      ids[i] != gemma2_token_special(tok, GEMMA2_TOKEN_START_OF_TURN) &&
                      ids[i] != gemma2_token_special(tok, GEMMA2_TOKEN_END_OF_TURN),
                  "line %d: plain mode produced special token %d", line, (int)ids[i]);
        }
    /* '▁' in the text decodes as a space: those lines cannot round-trip */
    int has_space_mark = 0;
    for (size_t i = 0; i + 3 <= len; i++)
        has_space_mark |= memcmp(text + i, "\xe2\x96\x81", 3) == 0;
    size_t dlen, slen;
    char *back = decode(tok, ids, n, &dlen);
    char *streamed = stream(tok, ids, n, &slen, line);
    if (!has_space_mark) {
        CHECK(dlen == len && memcmp(back, text, len) == 0, "line %d: decode does not give the text back", line);
        CHECK(slen == len && memcmp(streamed, text, len) == 0, "line %d: streamed text differs", line);
    }
    free(back);
    free(streamed);
    free(ids);
}

/* Random bytes (mostly invalid UTF-8) encode without error and decode back exactly. */
static void check_invalid_utf8(const gemma2_tokenizer *tok) {
    unsigned state = 12345;
    char buf[3000];
    for (int round = 0; round < 50; round++) {
        size_t len = (size_t)(round * 59 % 3000);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            buf[i] = (char)(state >> 16);
        }
        for (int special = 0; special < 2; special++) {
            size_t n, dlen;
            int32_t *ids = encode(tok, buf, len, special ? GEMMA2_TOKENIZE_SPECIAL : 0, &n);
            char *back = decode(tok, ids, n, &dlen);
            CHECK(dlen == len && memcmp(back, buf, len) == 0, "random bytes round %d: no exact round trip", round);
            size_t slen;
            char *streamed = stream(tok, ids, n, &slen, -round);
            free(streamed);
            free(back);
            free(ids);
        }
    }
}

/* A long text (word cache on) gives the ids of its pieces encoded one by one, cut
 * where a space follows another character (cache off, each piece short). */
static void check_long_text(const gemma2_tokenizer *tok, const char *text, size_t len) {
    size_t n_long;
    int32_t *whole = encode(tok, text, len, 0, &n_long);
    size_t n_parts = 0, start = 0;
    int32_t *parts = malloc((len + 1) * sizeof *parts);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && !(text[i] == ' ' && text[i - 1] != ' '))
            continue;
        if (i - start < 1000 && i < len)
            continue; /* pieces of ~1000 bytes: well under the cache threshold */
        size_t n;
        int32_t *ids = encode(tok, text + start, i - start, 0, &n);
        memcpy(parts + n_parts, ids, n * sizeof *ids);
        n_parts += n;
        free(ids);
        start = i;
    }
    CHECK(n_long == n_parts && memcmp(whole, parts, n_long * sizeof *whole) == 0,
          "long text: %zu ids whole, %zu in pieces", n_long, n_parts);
    free(whole);
    free(parts);
}

static gemma2_tokenizer *load_source(const char *source) {
    uint8_t *blob = NULL;
    size_t size = 0;
    char err[512] = "", note[512] = "";
    struct stat st;
    int rc = stat(source, &st) == 0 && S_ISDIR(st.st_mode)
                 ? g2_tok_import_dir(source, &blob, &size, note, sizeof note, err, sizeof err)
                 : g2_tok_import_file(source, NULL, &blob, &size, err, sizeof err);
    if (rc != 0 || !blob) {
        fprintf(stderr, "%s: %s\n", source, rc ? err : "no tokenizer");
        return NULL;
    }
    gemma2_tokenizer *tok = NULL;
    CHECK_STATUS(gemma2_tokenizer_load(blob, size, &tok), GEMMA2_OK);
    free(blob);
    return tok;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOURCE GOLDEN.jsonl special|plain\n", argv[0]);
        return 2;
    }
    int special = strcmp(argv[3], "special") == 0;
    gemma2_tokenizer *tok = load_source(argv[1]);
    FILE *f = fopen(argv[2], "r");
    if (!tok || !f)
        return 1;
    char *line = NULL, *all = NULL;
    size_t cap = 0, all_len = 0;
    int lineno = 0;
    for (ssize_t got; (got = getline(&line, &cap, f)) > 0;) {
        lineno++;
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &e);
        json_t *text = json_object_get(j, "text");
        CHECK(j && json_is_string(text), "line %d: bad JSON: %s", lineno, e.text);
        if (j && json_is_string(text)) {
            size_t len = json_string_length(text);
            check_line(tok, json_string_value(text), len, json_object_get(j, "ids"), special, lineno);
            all = realloc(all, all_len + len + 1);
            memcpy(all + all_len, json_string_value(text), len);
            all_len += len;
            all[all_len++] = ' ';
        }
        json_decref(j);
    }
    CHECK(lineno > 100, "only %d golden lines", lineno);
    fclose(f);
    free(line);
    check_invalid_utf8(tok);
    check_long_text(tok, all, all_len);
    free(all);
    gemma2_tokenizer_free(tok);
    return tu_finish("test_tokenizer_golden");
}
