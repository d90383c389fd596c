/* SPDX-License-Identifier: Apache-2.0 */
/* Hugging Face checkpoint folder reader. Defaults follow transformers'
 * Gemma2Config, so a config.json that omits a field means what it means there. */
#include "hf_checkpoint.h"
#include "runtime/errbuf.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- config.json ------------------------------------------------------------ */

typedef struct config_reader {
    const json_t *root;
    const char *path;
    char *err;
    size_t cap;
} config_reader;

/* Missing and null fields take def (or are an error when required). Integral reals
 * such as 8192.0 are accepted: some exporters write every number as a float. */
static int get_uint(const config_reader *r, const char *key, int required, uint64_t def, uint64_t min,
                    uint64_t max, uint32_t *out) {
    const json_t *v = json_object_get(r->root, key);
    uint64_t x = def;
    if (!v || json_is_null(v)) {
        if (required)
            return g2_fail(r->err, r->cap, "%s: missing required field \"%s\"", r->path, key);
    } else if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > max)
            return g2_fail(r->err, r->cap, "%s: \"%s\" = %lld is out of range (%llu..%llu)", r->path, key,
                           (long long)i, (unsigned long long)min, (unsigned long long)max);
        x = (uint64_t)i;
    } else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) <= (double)max &&
               floor(json_real_value(v)) == json_real_value(v)) {
        x = (uint64_t)json_real_value(v);
    } else {
        return g2_fail(r->err, r->cap, "%s: \"%s\" must be an integer in %llu..%llu", r->path, key,
                       (unsigned long long)min, (unsigned long long)max);
    }
    if (x < min || x > max)
        return g2_fail(r->err, r->cap, "%s: \"%s\" = %llu is out of range (%llu..%llu)", r->path, key,
                       (unsigned long long)x, (unsigned long long)min, (unsigned long long)max);
    *out = (uint32_t)x;
    return 0;
}

/* A finite number that fits a float. null_value is used for JSON null (soft-caps:
 * null means disabled), def for a missing field. Range checks are the caller's. */
static int get_float(const config_reader *r, const char *key, double def, double null_value, float *out) {
    const json_t *v = json_object_get(r->root, key);
    double x;
    if (!v)
        x = def;
    else if (json_is_null(v))
        x = null_value;
    else if (json_is_number(v))
        x = json_number_value(v);
    else
        return g2_fail(r->err, r->cap, "%s: \"%s\" must be a number", r->path, key);
    if (!isfinite(x) || fabs(x) > FLT_MAX)
        return g2_fail(r->err, r->cap, "%s: \"%s\" = %g is not finite or does not fit a float", r->path, key,
                       x);
    *out = (float)x;
    return 0;
}

/* Token ids; eos_token_id may be a list of ids, the first being the main one. */
static int get_token(const config_reader *r, const char *key, int32_t def, uint32_t vocab, int32_t *out) {
    const json_t *v = json_object_get(r->root, key);
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return g2_fail(r->err, r->cap, "%s: \"%s\" is an empty list", r->path, key);
        v = json_array_get(v, 0);
    }
    json_int_t id = def;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return g2_fail(r->err, r->cap, "%s: \"%s\" must be an integer token id", r->path, key);
        id = json_integer_value(v);
    }
    if (id < 0 || id >= (json_int_t)vocab)
        return g2_fail(r->err, r->cap, "%s: \"%s\" = %lld is not a token id (vocab_size %u)", r->path, key,
                       (long long)id, vocab);
    *out = (int32_t)id;
    return 0;
}

static int check_config(const config_reader *r, g2_file_config *c) {
    const json_t *mt = json_object_get(r->root, "model_type");
    if (!json_is_string(mt))
        return g2_fail(r->err, r->cap, "%s: model_type is %s, expected \"gemma2\"", r->path,
                       mt ? "not a string" : "missing");
    if (strcmp(json_string_value(mt), "gemma2") != 0)
        return g2_fail(r->err, r->cap,
                       "%s: model_type is \"%s\", expected \"gemma2\" (only Gemma 2 is supported)", r->path,
                       json_string_value(mt));

    if (get_uint(r, "vocab_size", 1, 0, 1, G2_MAX_VOCAB, &c->vocab_size) ||
        get_uint(r, "hidden_size", 1, 0, 1, G2_MAX_HIDDEN, &c->hidden_size) ||
        get_uint(r, "intermediate_size", 1, 0, 1, G2_MAX_FFN, &c->ffn_size) ||
        get_uint(r, "num_hidden_layers", 1, 0, 1, G2_MAX_LAYERS, &c->n_layers) ||
        get_uint(r, "num_attention_heads", 1, 0, 1, G2_MAX_HEADS, &c->n_heads) ||
        /* absent fields take transformers' Gemma2Config defaults, as HF would load them */
        get_uint(r, "num_key_value_heads", 0, 4, 1, G2_MAX_HEADS, &c->n_kv_heads) ||
        get_uint(r, "head_dim", 0, 256, 1, G2_MAX_HEAD_DIM, &c->head_dim) ||
        get_uint(r, "max_position_embeddings", 0, 8192, 1, G2_MAX_CONTEXT, &c->context_length) ||
        get_uint(r, "sliding_window", 0, 4096, 1, G2_MAX_CONTEXT, &c->sliding_window))
        return -1;
    if (c->n_heads % c->n_kv_heads != 0)
        return g2_fail(r->err, r->cap,
                       "%s: num_attention_heads (%u) is not a multiple of num_key_value_heads (%u)", r->path,
                       c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return g2_fail(r->err, r->cap, "%s: head_dim (%u) must be even for rotary embeddings", r->path,
                       c->head_dim);

    if (get_token(r, "bos_token_id", 2, c->vocab_size, &c->bos_id) ||
        get_token(r, "eos_token_id", 1, c->vocab_size, &c->eos_id) ||
        get_token(r, "pad_token_id", 0, c->vocab_size, &c->pad_id))
        return -1;

    if (get_float(r, "rms_norm_eps", 1e-6, 1e-6, &c->rms_norm_eps) ||
        get_float(r, "rope_theta", 10000, 10000, &c->rope_theta) ||
        get_float(r, "query_pre_attn_scalar", 256, 256, &c->query_pre_attn_scalar) ||
        get_float(r, "attn_logit_softcapping", 50, 0, &c->attn_softcap) ||
        get_float(r, "final_logit_softcapping", 30, 0, &c->final_softcap))
        return -1;
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0) || !(c->query_pre_attn_scalar > 0))
        return g2_fail(r->err, r->cap,
                       "%s: rms_norm_eps, rope_theta and query_pre_attn_scalar must be positive", r->path);
    if (c->attn_softcap < 0 || c->final_softcap < 0)
        return g2_fail(r->err, r->cap, "%s: soft-capping values must not be negative", r->path);

    /* transformers' Gemma2MLP reads hidden_activation; hidden_act is the older key. */
    const json_t *act = json_object_get(r->root, "hidden_activation");
    const char *act_key = "hidden_activation";
    if (!act || json_is_null(act)) {
        act = json_object_get(r->root, "hidden_act");
        act_key = "hidden_act";
    }
    if (act && !json_is_null(act)) {
        if (!json_is_string(act))
            return g2_fail(r->err, r->cap, "%s: %s must be a string", r->path, act_key);
        const char *a = json_string_value(act);
        if (strcmp(a, "gelu_pytorch_tanh") != 0 && strcmp(a, "gelu_tanh") != 0)
            return g2_fail(r->err, r->cap, "%s: %s is \"%s\"; only gelu_pytorch_tanh is supported", r->path,
                           act_key, a);
    }
    c->activation = G2_ACT_GELU_TANH;

    const json_t *tie = json_object_get(r->root, "tie_word_embeddings");
    if (tie && !json_is_null(tie) && !json_is_boolean(tie))
        return g2_fail(r->err, r->cap, "%s: tie_word_embeddings must be true or false", r->path);
    if (json_is_false(tie))
        return g2_fail(r->err, r->cap,
                       "%s: tie_word_embeddings is false: an untied output projection is not supported",
                       r->path);
    c->flags = G2_CONFIG_TIED_EMBEDDING;
    return 0;
}

/* Layer kinds: explicit "layer_types" when present, else Gemma 2's alternation
 * (layer 0 sliding). */
static int read_layer_kinds(const config_reader *r, uint32_t n_layers, uint8_t *kinds) {
    const json_t *types = json_object_get(r->root, "layer_types");
    if (!types || json_is_null(types)) {
        for (uint32_t l = 0; l < n_layers; l++)
            kinds[l] = l % 2 == 0 ? G2_LAYER_LOCAL : G2_LAYER_GLOBAL;
        return 0;
    }
    if (!json_is_array(types) || json_array_size(types) != n_layers)
        return g2_fail(r->err, r->cap, "%s: layer_types must be a list of %u strings", r->path, n_layers);
    for (uint32_t l = 0; l < n_layers; l++) {
        const char *s = json_string_value(json_array_get(types, l)); /* NULL if not a string */
        if (s && strcmp(s, "sliding_attention") == 0)
            kinds[l] = G2_LAYER_LOCAL;
        else if (s && strcmp(s, "full_attention") == 0)
            kinds[l] = G2_LAYER_GLOBAL;
        else
            return g2_fail(r->err, r->cap,
                           "%s: layer_types[%u] must be \"sliding_attention\" or \"full_attention\"", r->path,
                           l);
    }
    return 0;
}

int g2_hf_read_config(const char *path, g2_file_config *config, uint8_t **layer_kinds, char *err,
                      size_t cap) {
    *layer_kinds = NULL;
    memset(config, 0, sizeof *config);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 1)
            return g2_fail(err, cap, "%s", jerr.text); /* I/O; names the file */
        return g2_fail(err, cap, "%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
    }
    config_reader r = {root, path, err, cap};
    int rc = -1;
    if (!json_is_object(root)) {
        g2_fail(err, cap, "%s: not a JSON object", path);
        goto out;
    }
    if (check_config(&r, config) != 0)
        goto out;
    uint8_t *kinds = malloc(config->n_layers);
    if (!kinds) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    if (read_layer_kinds(&r, config->n_layers, kinds) != 0) {
        free(kinds);
        goto out;
    }
    *layer_kinds = kinds;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- safetensors files ------------------------------------------------------- */

static int add_file(g2_hf_checkpoint *ck, const char *name, char *err, size_t cap) {
    char *path = join_path(ck->dir, name);
    g2_st_file **files = realloc(ck->files, (ck->n_files + 1) * sizeof *files);
    if (!path || !files) {
        free(path);
        if (files)
            ck->files = files;
        return g2_fail(err, cap, "out of memory");
    }
    ck->files = files;
    int rc = g2_st_open(&ck->files[ck->n_files], path, err, cap);
    free(path);
    if (rc == 0)
        ck->n_files++;
    return rc;
}

/* The index maps tensor name → shard file; shards are opened once each, in order of
 * first mention. File names are plain names inside dir: no paths, no dot files. */
static int open_shards(g2_hf_checkpoint *ck, const char *index_path, json_t **index_out, char *err,
                       size_t cap) {
    json_error_t jerr;
    json_t *index = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!index)
        return g2_fail(err, cap, "%s: invalid JSON: %s", index_path, jerr.text);
    *index_out = index;
    const json_t *map = json_object_get(index, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0)
        return g2_fail(err, cap, "%s: missing or empty \"weight_map\" object", index_path);
    const char *name;
    const json_t *file;
    json_object_foreach((json_t *)map, name, file) {
        const char *fname = json_string_value(file);
        if (!fname || !fname[0] || fname[0] == '.' || strchr(fname, '/'))
            return g2_fail(err, cap, "%s: tensor '%s' maps to an invalid file name", index_path, name);
        int seen = 0;
        for (size_t i = 0; i < ck->n_files && !seen; i++) {
            const char *p = ck->files[i]->path + strlen(ck->dir) + 1;
            seen = strcmp(p, fname) == 0;
        }
        if (!seen && add_file(ck, fname, err, cap) != 0)
            return -1;
    }
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp((*(const g2_st_tensor *const *)a)->name, (*(const g2_st_tensor *const *)b)->name);
}

/* Sorts every tensor by name for lookups and rejects a name held by two files. */
static int index_tensors(g2_hf_checkpoint *ck, char *err, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < ck->n_files; i++)
        n += ck->files[i]->n_tensors;
    ck->tensors = malloc((n ? n : 1) * sizeof *ck->tensors);
    if (!ck->tensors)
        return g2_fail(err, cap, "out of memory");
    for (size_t i = 0; i < ck->n_files; i++)
        for (size_t j = 0; j < ck->files[i]->n_tensors; j++)
            ck->tensors[ck->n_tensors++] = &ck->files[i]->tensors[j];
    qsort(ck->tensors, ck->n_tensors, sizeof *ck->tensors, compare_names);
    for (size_t i = 1; i < ck->n_tensors; i++)
        if (strcmp(ck->tensors[i - 1]->name, ck->tensors[i]->name) == 0)
            return g2_fail(err, cap, "tensor '%s' appears in both %s and %s", ck->tensors[i]->name,
                           ck->tensors[i - 1]->file, ck->tensors[i]->file);
    return 0;
}

/* Each weight_map entry must name the file that really holds the tensor. */
static int check_index(const g2_hf_checkpoint *ck, const json_t *index, const char *index_path, char *err,
                       size_t cap) {
    const char *name;
    const json_t *file;
    json_object_foreach((json_t *)json_object_get(index, "weight_map"), name, file) {
        const g2_st_tensor *t = g2_hf_find(ck, name);
        if (!t || strcmp(t->file + strlen(ck->dir) + 1, json_string_value(file)) != 0)
            return g2_fail(err, cap, "%s: weight_map puts '%s' in %s, but that file does not hold it",
                           index_path, name, json_string_value(file));
    }
    return 0;
}

static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 || errno != ENOENT;
}

int g2_hf_open(g2_hf_checkpoint **out, const char *dir, char *err, size_t cap) {
    *out = NULL;
    g2_hf_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->dir = strdup(dir))) {
        free(ck);
        return g2_fail(err, cap, "out of memory");
    }
    json_t *index = NULL;
    char *config_path = join_path(dir, "config.json");
    char *single_path = join_path(dir, "model.safetensors");
    char *index_path = join_path(dir, "model.safetensors.index.json");
    int rc = -1;
    if (!config_path || !single_path || !index_path) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        g2_fail(err, cap, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        g2_fail(err, cap, "%s: not a directory (expected a Hugging Face checkpoint folder)", dir);
        goto out;
    }
    if (g2_hf_read_config(config_path, &ck->config, &ck->layer_kinds, err, cap) != 0)
        goto out;
    /* transformers prefers the single file when both exist; so do we. */
    if (path_exists(single_path)) {
        if (add_file(ck, "model.safetensors", err, cap) != 0)
            goto out;
    } else if (path_exists(index_path)) {
        if (open_shards(ck, index_path, &index, err, cap) != 0)
            goto out;
    } else {
        g2_fail(err, cap, "%s: no model.safetensors or model.safetensors.index.json", dir);
        goto out;
    }
    if (index_tensors(ck, err, cap) != 0)
        goto out;
    if (index && check_index(ck, index, index_path, err, cap) != 0)
        goto out;
    rc = 0;
out:
    json_decref(index);
    free(config_path);
    free(single_path);
    free(index_path);
    if (rc != 0)
        g2_hf_close(ck);
    else
        *out = ck;
    return rc;
}

void g2_hf_close(g2_hf_checkpoint *ck) {
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n_files; i++)
        g2_st_close(ck->files[i]);
    free(ck->files);
    free(ck->tensors);
    free(ck->layer_kinds);
    free(ck->dir);
    free(ck);
}

const g2_st_tensor *g2_hf_find(const g2_hf_checkpoint *ck, const char *name) {
    g2_st_tensor key = {.name = (char *)name};
    const g2_st_tensor *pkey = &key;
    const g2_st_tensor *const *hit =
        bsearch(&pkey, ck->tensors, ck->n_tensors, sizeof *ck->tensors, compare_names);
    return hit ? *hit : NULL;
}
