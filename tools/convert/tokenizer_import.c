/* SPDX-License-Identifier: Apache-2.0 */
/* Tokenizer import entry points (tokenizer_import.h): finding and reading the source
 * files, and applying tokenizer_config.json, which only marks pieces special and
 * names the bos/eos/pad/unk tokens. */
#include "tokenizer_import.h"
#include "runtime/errbuf.h"
#include "tok_import.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SOURCE_BYTES ((size_t)1 << 30) /* real ones are ~20 MB; this only bounds memory */

enum { SRC_AUTO, SRC_JSON, SRC_SPM };

static int read_all(const char *path, uint8_t **data, size_t *size, char *err, size_t cap) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return g2_fail(err, cap, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return g2_fail(err, cap, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > MAX_SOURCE_BYTES) {
        fclose(f);
        return g2_fail(err, cap, "%s is larger than %zu bytes", path, MAX_SOURCE_BYTES);
    }
    size_t n = (size_t)st.st_size;
    *data = malloc(n ? n : 1);
    if (!*data) {
        fclose(f);
        return g2_fail(err, cap, "out of memory for %s", path);
    }
    size_t got = fread(*data, 1, n, f);
    int bad = ferror(f) || got != n;
    fclose(f);
    if (bad) {
        free(*data);
        *data = NULL;
        return g2_fail(err, cap, "cannot read %s", path);
    }
    *size = n;
    return 0;
}

/* A token named by a string or by {"content": string}; NULL when absent or null. */
static const json_t *token_content(const json_t *v) {
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_is_string(v) ? v : NULL;
}

static int find_token(const g2_tok_builder *b, const char *path, const char *what, const json_t *v,
                      int32_t *id, char *err, size_t cap) {
    const json_t *s = token_content(v);
    if (!s)
        return g2_fail(err, cap, "%s: %s must be a string or {\"content\": string}", path, what);
    *id = g2_tok_builder_find(b, json_string_value(s), json_string_length(s));
    if (*id < 0) {
        char q[80];
        return g2_fail(err, cap, "%s: %s \"%s\" is not a piece of the tokenizer", path, what,
                       g2_tok_quote(q, sizeof q, json_string_value(s), json_string_length(s)));
    }
    return 0;
}

static int apply_config_root(g2_tok_builder *b, const char *path, const json_t *root, char *err, size_t cap) {
    if (!json_is_object(root))
        return g2_fail(err, cap, "%s: not a JSON object", path);
    int32_t id;
    const json_t *decoder = json_object_get(root, "added_tokens_decoder");
    if (decoder && !json_is_object(decoder))
        return g2_fail(err, cap, "%s: added_tokens_decoder must be an object", path);
    const char *key;
    json_t *t;
    json_object_foreach((json_t *)decoder, key, t) {
        const json_t *special = json_object_get(t, "special");
        if (special && !json_is_boolean(special))
            return g2_fail(err, cap, "%s: added_tokens_decoder[\"%s\"].special must be true or false", path,
                           key);
        if (!json_is_true(special))
            continue;
        if (find_token(b, path, "an added_tokens_decoder entry", t, &id, err, cap) != 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long want = strtoul(key, &end, 10);
        if (*key < '0' || *key > '9' || *end || errno || want != (unsigned long)id)
            return g2_fail(err, cap, "%s: added_tokens_decoder entry \"%s\" is piece %d of the tokenizer",
                           path, key, id);
        b->flags[id] |= G2_PIECE_SPECIAL;
    }
    const json_t *extra = json_object_get(root, "additional_special_tokens");
    if (extra && !json_is_array(extra) && !json_is_null(extra))
        return g2_fail(err, cap, "%s: additional_special_tokens must be a list", path);
    size_t i;
    json_array_foreach(extra, i, t) {
        if (find_token(b, path, "an additional_special_tokens entry", t, &id, err, cap) != 0)
            return -1;
        b->flags[id] |= G2_PIECE_SPECIAL;
    }
    static const char *const names[] = {"unk_token", "bos_token", "eos_token", "pad_token"};
    int32_t *dst[] = {&b->unk_id, &b->bos_id, &b->eos_id, &b->pad_id};
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(root, names[k]);
        if (v && !json_is_null(v) && find_token(b, path, names[k], v, dst[k], err, cap) != 0)
            return -1;
    }
    return 0;
}

static int apply_config(g2_tok_builder *b, const char *path, char *err, size_t cap) {
    uint8_t *data;
    size_t size;
    if (read_all(path, &data, &size, err, cap) != 0)
        return -1;
    json_error_t jerr;
    /* reals for integers: the official files hold model_max_length = 1e30, past int64,
     * and no number in this file is read */
    json_t *root =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    free(data);
    if (!root)
        return g2_fail(err, cap, "%s: line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
    int rc = apply_config_root(b, path, root, err, cap);
    json_decref(root);
    return rc;
}

static int import(const char *path, int kind, const char *config_path, uint8_t **blob, size_t *size,
                  char *err, size_t cap) {
    *blob = NULL;
    *size = 0;
    uint8_t *data;
    size_t n;
    if (read_all(path, &data, &n, err, cap) != 0)
        return -1;
    if (kind == SRC_AUTO) {
        size_t i = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
            i++;
        kind = i < n && data[i] == '{' ? SRC_JSON : SRC_SPM;
    }
    g2_tok_builder b;
    int rc = kind == SRC_JSON ? g2_tok_read_hf_json(&b, path, data, n, err, cap)
                              : g2_tok_read_spm(&b, path, data, n, err, cap);
    free(data);
    if (rc == 0 && config_path)
        rc = apply_config(&b, config_path, err, cap);
    if (rc == 0)
        rc = g2_tok_builder_finish(&b, blob, size, err, cap);
    g2_tok_builder_free(&b);
    return rc;
}

int g2_tok_import_file(const char *path, const char *config_path, uint8_t **blob, size_t *size, char *err,
                       size_t err_cap) {
    return import(path, SRC_AUTO, config_path, blob, size, err, err_cap);
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int g2_tok_import_dir(const char *dir, uint8_t **blob, size_t *size, char *note, size_t note_cap, char *err,
                      size_t err_cap) {
    *blob = NULL;
    *size = 0;
    if (note_cap)
        note[0] = '\0';
    char *spm = join_path(dir, "tokenizer.model"), *hf = join_path(dir, "tokenizer.json");
    char *config = join_path(dir, "tokenizer_config.json");
    int rc;
    if (!spm || !hf || !config) {
        rc = g2_fail(err, err_cap, "out of memory");
    } else if (exists(spm)) {
        if (exists(hf) && note_cap)
            snprintf(note, note_cap, "%s: tokenizer.model was used; tokenizer.json is ignored", dir);
        rc = import(spm, SRC_SPM, exists(config) ? config : NULL, blob, size, err, err_cap);
    } else if (exists(hf)) {
        rc = import(hf, SRC_JSON, exists(config) ? config : NULL, blob, size, err, err_cap);
    } else {
        rc = 1; /* no tokenizer: not an error, the model file simply has none */
    }
    free(spm);
    free(hf);
    free(config);
    return rc;
}
