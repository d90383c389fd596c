/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 convert: checks a Hugging Face checkpoint against the Gemma 2 layout
 * (model/layout.h), then streams its tensors, converted to the output type, into a
 * format v2 file. Only one chunk of weights is in memory at a time. */
#include "convert.h"
#include "runtime/errbuf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gemma2.h"
#include "hf_checkpoint.h"
#include "model/layout.h"
#include "model/writer.h"
#include "synthetic.h"
#include "tensor/quant.h"
#include "tokenizer/blob.h"
#include "tokenizer_import.h"

#define CHUNK_ELEMS ((size_t)1 << 20) /* elements converted per step: 4 MB of f32 */
#define LM_HEAD_NAME "lm_head.weight"

static const char usage_text[] =
    "usage: gemma2 convert SRC_DIR OUT [--dtype f32|bf16|q8|q4] [--embed-dtype TYPE]\n"
    "                      [--compress]\n"
    "       gemma2 convert IN.gguf|IN.g2 OUT [--compress]\n"
    "\n"
    "Converts a Hugging Face Gemma 2 checkpoint folder (config.json and\n"
    "model.safetensors, or shards with model.safetensors.index.json) into a gemma2\n"
    "model file OUT. Given a GGUF file instead, writes OUT with the tensors as gemma2\n"
    "loads them (f32 and bf16 kept, F16 as f32, block types as q8; docs/gguf.md) and\n"
    "adds the checksums GGUF lacks. Given a gemma2 file, writes it again in this\n"
    "version of the format (older versions' quantized tensors in the current order).\n"
    "\n"
    "  --dtype TYPE      type of the weight matrices: f32 or bf16 (lossless; the\n"
    "                    default is f32 if any source matrix is F32 or F16, bf16 if\n"
    "                    all are BF16), q8 (8.5 bits per weight) or q4 (4.5; the\n"
    "                    tied embedding stays q8). Norm weights are always f32.\n"
    "  --embed-dtype TYPE  type of the tied embedding (also the output projection):\n"
    "                    f32, bf16, q8 or q4 (default: as --dtype, but q8 for q4)\n"
    "  --compress        store each tensor as a zstd frame (smaller file, slower open)\n"
    "  --help            show this help\n"
    "\n"
    "Random weights at the real shapes, for benchmarks (see --synthetic --help):\n"
    "       gemma2 convert --synthetic 2b|9b|27b|tiny OUT [--dtype f32|bf16|q8|q4] ...\n";

int g2_convert_type_from_name(const char *name, uint32_t *type) {
    static const struct {
        const char *name;
        uint32_t type;
    } names[] = {{"f32", G2_TYPE_F32}, {"bf16", G2_TYPE_BF16}, {"q8", G2_TYPE_Q8}, {"q4", G2_TYPE_Q4}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *type = names[i].type;
            return 0;
        }
    return -1;
}

uint32_t g2_convert_embed_type(uint32_t matrix_type, int embed_type) {
    if (embed_type >= 0)
        return (uint32_t)embed_type;
    return matrix_type == G2_TYPE_Q4 ? G2_TYPE_Q8 : matrix_type;
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gemma2 convert: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(usage_text, stderr);
    return 2;
}

/* ---- element conversions ------------------------------------------------------ */


/* Round to nearest, ties to even; NaNs stay NaN (quieted, sign kept). */
static uint16_t f32_bits_to_bf16(uint32_t x) {
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* IEEE half → float bits (exact; NaN payloads kept), via lib/tensor/quantize.c. */
static uint32_t f16_bits(uint16_t h) {
    float f = g2_f16_to_f32(h);
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static uint32_t load_f32_bits(const uint8_t *src, uint32_t st_dtype, size_t i) {
    uint16_t h;
    uint32_t f;
    switch (st_dtype) {
    case G2_ST_BF16: memcpy(&h, src + 2 * i, 2); return (uint32_t)h << 16;
    case G2_ST_F16: memcpy(&h, src + 2 * i, 2); return f16_bits(h);
    default: memcpy(&f, src + 4 * i, 4); return f;
    }
}

/* Converts n elements; src may be unaligned (safetensors does not align data). */
static void convert_chunk(void *dst, uint32_t out_type, const uint8_t *src, uint32_t st_dtype, size_t n) {
    if (out_type == G2_TYPE_F32) {
        uint32_t *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = load_f32_bits(src, st_dtype, i);
    } else {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = f32_bits_to_bf16(load_f32_bits(src, st_dtype, i));
    }
}

/* ---- progress ------------------------------------------------------------------ */

typedef struct progress {
    int enabled; /* stderr is a terminal */
    int drawn;   /* a bar is on screen */
    size_t tensor, n_tensors;
    uint64_t raw_done, raw_total;
    double last_draw;
} progress;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_draw(progress *p, const g2_model_writer *w, int force) {
    if (!p->enabled)
        return;
    double t = now_seconds();
    if (!force && t - p->last_draw < 0.1)
        return; /* a terminal need not redraw faster */
    p->last_draw = t;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t fill = p->raw_total ? (size_t)((double)p->raw_done / (double)p->raw_total * WIDTH) : 0;
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] tensor %zu/%zu, %.1f MB written", bar, p->tensor, p->n_tensors,
            (double)g2_writer_bytes_written(w) / 1e6);
    fflush(stderr);
    p->drawn = 1;
}

static void progress_clear(progress *p) {
    if (p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

/* ---- planning ------------------------------------------------------------------ */

typedef struct tensor_job {
    char name[G2_TENSOR_NAME_MAX];
    g2_role role;
    const g2_st_tensor *src;
    uint32_t out_type;
} tensor_job;

static void format_shape(char *buf, size_t cap, uint32_t n_dims, const uint64_t *dims) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n_dims && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

static int find_source(const g2_hf_checkpoint *ck, tensor_job *job, uint32_t layer, char *err, size_t cap) {
    if (g2_role_name(job->name, sizeof job->name, job->role, layer) != 0)
        return g2_fail(err, cap, "tensor name too long for layer %u", layer);
    const g2_st_tensor *t = g2_hf_find(ck, job->name);
    if (!t)
        return g2_fail(err, cap, "tensor '%s' is missing from %s", job->name, ck->dir);
    if (t->dtype == G2_ST_OTHER)
        return g2_fail(err, cap, "tensor '%s' in %s has dtype %s; only BF16, F16 and F32 are supported",
                       job->name, t->file, t->dtype_name);
    uint32_t n_dims;
    uint64_t dims[2];
    g2_role_shape(&ck->config, job->role, &n_dims, dims);
    if (t->n_dims != n_dims || t->dims[0] != dims[0] || (n_dims == 2 && t->dims[1] != dims[1])) {
        char got[96], want[96];
        format_shape(got, sizeof got, t->n_dims, t->dims);
        format_shape(want, sizeof want, n_dims, dims);
        return g2_fail(err, cap, "tensor '%s' in %s has shape %s, expected %s from config.json", job->name,
                       t->file, got, want);
    }
    job->src = t;
    return 0;
}

/* True if name is one of the tensors layout.h requires for n_layers layers. The
 * layer number is re-formatted, so "model.layers.01..." does not pass for layer 1. */
static int is_required_name(const char *name, uint32_t n_layers) {
    if (strcmp(name, g2_role_suffix[G2_ROLE_EMBED]) == 0 ||
        strcmp(name, g2_role_suffix[G2_ROLE_FINAL_NORM]) == 0)
        return 1;
    static const char prefix[] = "model.layers.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *p = name + sizeof prefix - 1;
    if (!isdigit((unsigned char)*p))
        return 0;
    unsigned long layer = strtoul(p, NULL, 10);
    if (layer >= n_layers)
        return 0;
    char buf[G2_TENSOR_NAME_MAX];
    for (int role = G2_FIRST_LAYER_ROLE; role < G2_ROLE_COUNT; role++)
        if (g2_role_name(buf, sizeof buf, (g2_role)role, (uint32_t)layer) == 0 && strcmp(buf, name) == 0)
            return 1;
    return 0;
}

/* Output order: embed, layers in order (roles in enum order), final norm. */
static int plan_jobs(const g2_hf_checkpoint *ck, tensor_job *jobs, size_t n_jobs, char *err, size_t cap) {
    size_t k = 0;
    jobs[k].role = G2_ROLE_EMBED;
    if (find_source(ck, &jobs[k++], 0, err, cap) != 0)
        return -1;
    for (uint32_t l = 0; l < ck->config.n_layers; l++)
        for (int role = G2_FIRST_LAYER_ROLE; role < G2_ROLE_COUNT; role++) {
            jobs[k].role = (g2_role)role;
            if (find_source(ck, &jobs[k++], l, err, cap) != 0)
                return -1;
        }
    jobs[k].role = G2_ROLE_FINAL_NORM;
    if (find_source(ck, &jobs[k++], 0, err, cap) != 0)
        return -1;
    if (k != n_jobs)
        return g2_fail(err, cap, "internal error: planned %zu of %zu tensors", k, n_jobs);

    for (size_t i = 0; i < ck->n_tensors; i++) {
        const char *name = ck->tensors[i]->name;
        if (strcmp(name, LM_HEAD_NAME) != 0 && !is_required_name(name, ck->config.n_layers))
            return g2_fail(err, cap,
                           "unknown tensor '%s' in %s: not part of the Gemma 2 architecture this "
                           "converter understands",
                           name, ck->tensors[i]->file);
    }
    return 0;
}

/* f32 keeps F32/F16 sources lossless; all-BF16 sources lose nothing in bf16. */
static uint32_t default_matrix_type(const tensor_job *jobs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!g2_role_is_norm(jobs[i].role) && jobs[i].src->dtype != G2_ST_BF16)
            return G2_TYPE_F32;
    return G2_TYPE_BF16;
}

/* Last component of the folder's real path, for the "general.source" record. */
static char *source_name(const char *dir) {
    char *real = realpath(dir, NULL);
    const char *s = real ? real : dir;
    size_t len = strlen(s);
    while (len > 1 && s[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && s[start - 1] != '/')
        start--;
    if (start == len && len > 0)
        start = len - 1; /* the root "/" */
    char *name = malloc(len - start + 1);
    if (name) {
        memcpy(name, s + start, len - start);
        name[len - start] = '\0';
    }
    free(real);
    return name;
}

/* The folder's tokenizer as a blob (NULL if it has none); it must fit the embedding. */
static int import_tokenizer(const g2_hf_checkpoint *ck, uint8_t **tok, size_t *size, char *err, size_t cap) {
    char note[512];
    int rc = g2_tok_import_dir(ck->dir, tok, size, note, sizeof note, err, cap);
    if (rc < 0)
        return -1;
    if (note[0])
        fprintf(stderr, "gemma2 convert: note: %s\n", note);
    if (rc == 1)
        return 0;
    g2_tok_header h;
    memcpy(&h, *tok, sizeof h);
    if (h.n_pieces > ck->config.vocab_size)
        return g2_fail(err, cap, "the tokenizer has %u pieces but config.json has vocab_size %u", h.n_pieces,
                       ck->config.vocab_size);
    return 0;
}

/* ---- conversion ---------------------------------------------------------------- */

/* Quantized tensors are written in whole rows: all block quants first, then the
 * scales (lib/tensor/quant.h), which are kept until the end. */
static int write_quantized(g2_model_writer *w, const tensor_job *job, progress *p, char *err, size_t cap) {
    const g2_st_tensor *t = job->src;
    const size_t in_size = g2_st_dtype_size(t->dtype);
    const uint64_t rows = t->dims[0];
    const uint32_t cols = (uint32_t)t->dims[1], nb = g2_q_blocks(cols);
    const int q4 = job->out_type == G2_TYPE_Q4;
    const size_t block_bytes = q4 ? G2_QK / 2 : G2_QK;
    uint64_t chunk_rows = CHUNK_ELEMS / cols ? CHUNK_ELEMS / cols : 1;
    /* whole row sets (lib/tensor/quant.h) */
    chunk_rows = chunk_rows < G2_Q_ROW_SET ? G2_Q_ROW_SET : chunk_rows - chunk_rows % G2_Q_ROW_SET;
    float *f = malloc(chunk_rows * cols * sizeof *f);
    uint8_t *qs = malloc(chunk_rows * nb * block_bytes);
    uint16_t *d = malloc(rows * nb * sizeof *d);
    int rc = -1;
    if (!f || !qs || !d) {
        g2_fail(err, cap, "out of memory quantizing '%s'", job->name);
        goto out;
    }
    if (g2_writer_begin_tensor(w, err, cap) != 0)
        goto out;
    for (uint64_t r = 0; r < rows; r += chunk_rows) {
        uint64_t n = rows - r < chunk_rows ? rows - r : chunk_rows;
        convert_chunk(f, G2_TYPE_F32, t->data + r * cols * in_size, t->dtype, (size_t)(n * cols));
        if (q4)
            g2_quantize_q4(f, n, cols, qs, d + r * nb);
        else
            g2_quantize_q8(f, n, cols, (int8_t *)qs, d + r * nb);
        if (g2_writer_append(w, qs, (size_t)(n * nb * block_bytes), err, cap) != 0)
            goto out;
        p->raw_done += n * nb * (block_bytes + 2);
        progress_draw(p, w, 0);
    }
    if (g2_writer_append(w, d, (size_t)(rows * nb * sizeof *d), err, cap) != 0)
        goto out;
    rc = g2_writer_end_tensor(w, err, cap);
out:
    free(f);
    free(qs);
    free(d);
    return rc;
}

static int write_tensor(g2_model_writer *w, const tensor_job *job, void *buf, progress *p, char *err,
                        size_t cap) {
    if (g2_type_is_quantized(job->out_type))
        return write_quantized(w, job, p, err, cap);
    const g2_st_tensor *t = job->src;
    size_t in_size = g2_st_dtype_size(t->dtype);
    uint64_t count = t->size / in_size;
    int same = (t->dtype == G2_ST_F32 && job->out_type == G2_TYPE_F32) ||
               (t->dtype == G2_ST_BF16 && job->out_type == G2_TYPE_BF16);
    if (g2_writer_begin_tensor(w, err, cap) != 0)
        return -1;
    for (uint64_t i = 0; i < count; i += CHUNK_ELEMS) {
        size_t n = count - i < CHUNK_ELEMS ? (size_t)(count - i) : CHUNK_ELEMS;
        const uint8_t *src = t->data + i * in_size;
        int rc;
        if (same) {
            rc = g2_writer_append(w, src, n * in_size, err, cap);
        } else {
            convert_chunk(buf, job->out_type, src, t->dtype, n);
            rc = g2_writer_append(w, buf, n * g2_type_size(job->out_type), err, cap);
        }
        if (rc != 0)
            return -1;
        p->raw_done += (uint64_t)n * g2_type_size(job->out_type);
        progress_draw(p, w, 0);
    }
    return g2_writer_end_tensor(w, err, cap);
}

static int convert(const char *src_dir, const char *out, int dtype, int embed_dtype, int compress, progress *p,
                   char *err, size_t cap) {
    g2_hf_checkpoint *ck = NULL;
    tensor_job *jobs = NULL;
    g2_tensor_spec *specs = NULL;
    char *source = NULL;
    void *buf = NULL;
    uint8_t *tok = NULL;
    size_t tok_size = 0;
    g2_model_writer *w = NULL;
    int rc = -1;

    if (g2_hf_open(&ck, src_dir, err, cap) != 0 || import_tokenizer(ck, &tok, &tok_size, err, cap) != 0)
        goto out;
    size_t n_jobs = 2 + (size_t)ck->config.n_layers * G2_LAYER_ROLES;
    jobs = calloc(n_jobs, sizeof *jobs);
    specs = calloc(n_jobs, sizeof *specs);
    buf = malloc(CHUNK_ELEMS * sizeof(float));
    source = source_name(src_dir);
    if (!jobs || !specs || !buf || !source) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    if (plan_jobs(ck, jobs, n_jobs, err, cap) != 0)
        goto out;
    if (g2_hf_find(ck, LM_HEAD_NAME))
        fprintf(stderr,
                "gemma2 convert: note: ignoring %s: the output projection is tied to the "
                "embedding\n",
                LM_HEAD_NAME);

    uint32_t matrix_type = dtype >= 0 ? (uint32_t)dtype : default_matrix_type(jobs, n_jobs);
    for (size_t i = 0; i < n_jobs; i++) {
        jobs[i].out_type = g2_role_is_norm(jobs[i].role) ? G2_TYPE_F32 : matrix_type;
        if (jobs[i].role == G2_ROLE_EMBED)
            jobs[i].out_type = g2_convert_embed_type(matrix_type, embed_dtype);
        specs[i].name = jobs[i].name;
        specs[i].type = jobs[i].out_type;
        specs[i].n_dims = jobs[i].src->n_dims;
        memcpy(specs[i].dims, jobs[i].src->dims, sizeof specs[i].dims);
        p->raw_total += g2_type_is_quantized(jobs[i].out_type)
                            ? g2_q_bytes(jobs[i].out_type == G2_TYPE_Q4, jobs[i].src->dims[0],
                                         (uint32_t)jobs[i].src->dims[1])
                            : jobs[i].src->size / g2_st_dtype_size(jobs[i].src->dtype) *
                                  g2_type_size(jobs[i].out_type);
    }
    const g2_meta_entry meta[] = {
        {.key = "general.converter", .value = "gemma2 " GEMMA2_VERSION_STRING},
        {.key = "general.source", .value = source},
        {.key = G2_TOK_META_KEY, .value = (const char *)tok, .value_len = tok_size},
    };
    size_t n_meta = sizeof meta / sizeof meta[0] - (tok ? 0 : 1); /* the tokenizer is last */
    if (g2_writer_open(&w, out, &ck->config, ck->layer_kinds, meta, n_meta, specs, n_jobs, compress, err,
                       cap) != 0)
        goto out;

    p->n_tensors = n_jobs;
    for (size_t i = 0; i < n_jobs; i++) {
        p->tensor = i + 1;
        if (write_tensor(w, &jobs[i], buf, p, err, cap) != 0)
            goto out;
    }
    progress_draw(p, w, 1);
    uint64_t data_bytes = g2_writer_bytes_written(w);
    g2_model_writer *done = w;
    w = NULL;
    if (g2_writer_finish(done, err, cap) != 0)
        goto out;
    if (p->enabled) {
        progress_clear(p);
        fprintf(stderr, "gemma2 convert: wrote %s: %zu tensors, %.1f MB of %s weights%s\n", out, n_jobs,
                (double)data_bytes / 1e6, gemma2_type_name((int32_t)matrix_type),
                compress ? " (zstd)" : "");
    }
    rc = 0;
out:
    g2_writer_abort(w);
    free(buf);
    free(tok);
    free(source);
    free(specs);
    free(jobs);
    g2_hf_close(ck);
    return rc;
}

/* A GGUF file: opened by the library, which converts its tensors at open, then saved. */
static int convert_gguf(const char *in, const char *out, int compress, char *err, size_t cap) {
    gemma2_model *m = NULL;
    gemma2_status rc = gemma2_model_open(in, NULL, &m);
    if (rc == GEMMA2_OK)
        rc = gemma2_model_save(m, out, compress ? GEMMA2_SAVE_COMPRESS : 0);
    if (rc != GEMMA2_OK) {
        g2_fail(err, cap, "%s: %s", in, gemma2_last_error());
        gemma2_model_close(m);
        return -1;
    }
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(m, &mi);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "gemma2 convert: wrote %s: %u tensors, %.1f MB of %s weights%s\n", out,
                (unsigned)mi.n_tensors, (double)mi.weight_bytes / 1e6, gemma2_type_name(mi.weight_type),
                compress ? " (zstd)" : "");
    gemma2_model_close(m);
    return 0;
}

int g2_cli_convert(int argc, char **argv) {
    if (g2_synthetic_requested(argc, argv))
        return g2_cli_convert_synthetic(argc, argv);
    const char *src = NULL, *out = NULL;
    int dtype = -1, embed_dtype = -1, compress = 0, options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = 1;
        } else if (!options_done && a[0] == '-' && a[1] != '\0') {
            const char *value = NULL;
            int *target = &dtype;
            if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                fputs(usage_text, stdout);
                return 0;
            } else if (strcmp(a, "--compress") == 0) {
                compress = 1;
                continue;
            } else if (strcmp(a, "--dtype") == 0) {
                if (i + 1 >= argc)
                    return usage_error("--dtype needs a value (f32, bf16, q8 or q4)");
                value = argv[++i];
            } else if (strncmp(a, "--dtype=", 8) == 0) {
                value = a + 8;
            } else if (strcmp(a, "--embed-dtype") == 0) {
                if (i + 1 >= argc)
                    return usage_error("--embed-dtype needs a value (f32, bf16, q8 or q4)");
                value = argv[++i];
                target = &embed_dtype;
            } else if (strncmp(a, "--embed-dtype=", 14) == 0) {
                value = a + 14;
                target = &embed_dtype;
            } else {
                return usage_error("unknown option '%s'", a);
            }
            uint32_t type;
            if (g2_convert_type_from_name(value, &type) != 0)
                return usage_error("%s must be f32, bf16, q8 or q4, not '%s'",
                                   target == &dtype ? "--dtype" : "--embed-dtype", value);
            *target = (int)type;
        } else if (!src) {
            src = a;
        } else if (!out) {
            out = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!src || !out)
        return usage_error("convert needs SRC_DIR and OUT");

    char err[1024];
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "gemma2 convert: error: %s is a directory; OUT must be a file name\n", out);
        return 1;
    }
    if (stat(src, &st) == 0 && S_ISREG(st.st_mode)) {
        if (dtype >= 0 || embed_dtype >= 0)
            return usage_error("--dtype and --embed-dtype are for checkpoint folders; a model file keeps "
                               "the types it loads as");
        if (convert_gguf(src, out, compress, err, sizeof err) != 0) {
            fprintf(stderr, "gemma2 convert: error: %s\n", err);
            return 1;
        }
        return 0;
    }
    progress p = {.enabled = isatty(STDERR_FILENO)};
    if (convert(src, out, dtype, embed_dtype, compress, &p, err, sizeof err) != 0) {
        progress_clear(&p);
        fprintf(stderr, "gemma2 convert: error: %s\n", err);
        return 1;
    }
    return 0;
}
