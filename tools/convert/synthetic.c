/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 convert --synthetic: random weights at the real Gemma 2 shapes, streamed
 * through the model writer in chunks of whole rows (a 27B q4 file is ~15 GB: only a
 * few chunks and one tensor's quantization scales are ever in memory).
 *
 * Every chunk's values come from its own PRNG stream, seeded by (seed, tensor index,
 * chunk index), and chunk boundaries depend only on the shape: the file is the same
 * whatever the thread count. Chunks are generated and quantized in parallel, a round
 * of one chunk per thread at a time, and written in order by the calling thread. */
#include "synthetic.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "runtime/errbuf.h"
#include "gemma2.h"
#include "model/layout.h"
#include "model/writer.h"
#include "tensor/quant.h"
#include "tokenizer/blob.h"
#include "tokenizer_import.h"

#define CHUNK_ELEMS ((uint64_t)1 << 18) /* weights generated per chunk: 1 MB of f32 */
#define MAX_THREADS 256
#define MATRIX_STD 0.02f /* the spread of trained Gemma 2 projection weights */
#define NORM_STD 0.02f   /* norms scale by (1 + w): small w keeps activations tame */

const char g2_synthetic_usage[] =
    "usage: gemma2 convert --synthetic 2b|9b|27b|tiny OUT [--dtype f32|bf16|q8|q4]\n"
    "                      [--embed-dtype TYPE] [--tokenizer FILE|DIR] [--seed N]\n"
    "                      [-t N] [--compress]\n"
    "\n"
    "Writes a model file OUT with random weights at the shapes of Gemma 2 2B, 9B or\n"
    "27B (or tiny: hidden 256, 4 layers, 4/2 heads of 64, ffn 1024, vocabulary 2048,\n"
    "context 1024, window 256; for tests), for benchmarks without a download. The\n"
    "weights are normal-like with standard deviation 0.02 (matrices and norms), from\n"
    "a seeded generator: the same options give the same file on any machine and any\n"
    "thread count. The text such a model generates is meaningless.\n"
    "\n"
    "  --dtype TYPE      weight matrices: f32, bf16, q8 (8.5 bits per weight) or q4\n"
    "                    (4.5; the tied embedding stays q8). Default q4. Norm\n"
    "                    weights are always f32.\n"
    "  --embed-dtype TYPE  type of the tied embedding: f32, bf16, q8 or q4 (default:\n"
    "                    as --dtype, but q8 for q4)\n"
    "  --tokenizer PATH  store this tokenizer: a tokenizer.json or tokenizer.model,\n"
    "                    or a folder holding one (and tokenizer_config.json); it must\n"
    "                    not have more pieces than the vocabulary (256000; tiny 2048).\n"
    "                    Its <bos>, <eos> and <pad> ids go into the config.\n"
    "  --seed N          seed of the weights (default 1)\n"
    "  -t, --threads N   threads generating and quantizing (default 0 = all CPUs)\n"
    "  --compress        store each tensor as a zstd frame (random weights barely\n"
    "                    compress)\n"
    "  --help            show this help\n";

typedef struct synth_shape {
    const char *name;
    uint32_t vocab, hidden, layers, heads, kv_heads, head_dim, ffn, context, window;
    float query_pre_attn_scalar;
} synth_shape;

/* Gemma 2's published configs (config.json of google/gemma-2-{2b,9b,27b}). */
static const synth_shape shapes[] = {
    {"2b", 256000, 2304, 26, 8, 4, 256, 9216, 8192, 4096, 256},
    {"9b", 256000, 3584, 42, 16, 8, 256, 14336, 8192, 4096, 256},
    {"27b", 256000, 4608, 46, 32, 16, 128, 36864, 8192, 4096, 144},
    /* tiny: vocabulary 2048 so that tests/data/tokenizer/spm_small.model (2,000
     * pieces) fits; query_pre_attn_scalar = head_dim, as in 2B and 9B */
    {"tiny", 2048, 256, 4, 4, 2, 64, 1024, 1024, 256, 64},
};

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gemma2 convert: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(g2_synthetic_usage, stderr);
    return 2;
}

/* ---- random numbers -------------------------------------------------------------- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *state) { return mix64(*state += 0x9e3779b97f4a7c15u); }

/* n values with mean 0 and standard deviation std: each is the sum of four uniform
 * 16-bit integers (Irwin-Hall, close to a normal, bounded at ±3.46 std). */
static void fill_normalish(float *out, uint64_t n, float std, uint64_t seed, uint64_t tensor,
                           uint64_t chunk) {
    uint64_t s = mix64(seed ^ mix64(tensor + 1) ^ mix64(mix64(chunk + 1)));
    /* the sum of four uniform integers in [0, 65535] has mean 131070 and variance
     * 4 * (65536^2 - 1) / 12 */
    const float scale = std / 37837.23f;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t z = splitmix64(&s);
        uint32_t sum = (uint32_t)(z & 0xffff) + (uint32_t)((z >> 16) & 0xffff) +
                       (uint32_t)((z >> 32) & 0xffff) + (uint32_t)(z >> 48);
        out[i] = ((float)sum - 131070.0f) * scale;
    }
}

/* Round to nearest, ties to even (the values are finite). */
static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---- plan ------------------------------------------------------------------------ */

typedef struct synth_tensor {
    char name[G2_TENSOR_NAME_MAX];
    uint32_t type;
    uint64_t rows; /* matrices: dims[0]; vectors: 1 */
    uint32_t cols; /* matrices: dims[1]; vectors: dims[0] */
    float std;
} synth_tensor;

static uint64_t tensor_bytes(const synth_tensor *t) {
    if (g2_type_is_quantized(t->type))
        return g2_q_bytes(t->type == G2_TYPE_Q4, t->rows, t->cols);
    return t->rows * t->cols * g2_type_size(t->type);
}

/* Rows per chunk: whole rows, about CHUNK_ELEMS weights; for the quantized types
 * whole row sets (lib/tensor/quant.h). */
static uint64_t chunk_rows_of(const synth_tensor *t) {
    uint64_t r = CHUNK_ELEMS / t->cols;
    if (g2_type_is_quantized(t->type))
        return r < G2_Q_ROW_SET ? G2_Q_ROW_SET : r - r % G2_Q_ROW_SET;
    return r ? r : 1;
}

/* ---- chunk workers ----------------------------------------------------------------- */

typedef struct synth_slot {
    /* the chunk */
    const synth_tensor *t;
    uint32_t tensor_index;
    uint64_t chunk, row0, rows;
    uint64_t seed;
    uint16_t *scales; /* the tensor's scales (quantized types): rows row0.. written here */
    /* buffers, CHUNK_ELEMS-ish each; out holds the chunk's bytes in file order */
    float *f;
    uint8_t *out;
    size_t out_size;
} synth_slot;

static void *make_chunk(void *p) {
    synth_slot *s = p;
    const synth_tensor *t = s->t;
    uint64_t n = s->rows * t->cols;
    fill_normalish(s->f, n, t->std, s->seed, s->tensor_index, s->chunk);
    const uint32_t nb = g2_q_blocks(t->cols);
    switch (t->type) {
    case G2_TYPE_F32:
        memcpy(s->out, s->f, (size_t)n * sizeof(float));
        s->out_size = (size_t)n * sizeof(float);
        break;
    case G2_TYPE_BF16: {
        uint16_t *o = (uint16_t *)(void *)s->out;
        for (uint64_t i = 0; i < n; i++)
            o[i] = f32_to_bf16(s->f[i]);
        s->out_size = (size_t)n * 2;
        break;
    }
    case G2_TYPE_Q8:
        g2_quantize_q8(s->f, s->rows, t->cols, (int8_t *)s->out, s->scales + s->row0 * nb);
        s->out_size = (size_t)(s->rows * nb * G2_QK);
        break;
    default: /* G2_TYPE_Q4 */
        g2_quantize_q4(s->f, s->rows, t->cols, s->out, s->scales + s->row0 * nb);
        s->out_size = (size_t)(s->rows * nb * (G2_QK / 2));
        break;
    }
    return NULL;
}

/* ---- progress ---------------------------------------------------------------------- */

typedef struct synth_progress {
    int enabled, drawn;
    double last;
    uint64_t done, total;
    size_t tensor, n_tensors;
} synth_progress;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_draw(synth_progress *p, int force) {
    if (!p->enabled)
        return;
    double t = now_seconds();
    if (!force && t - p->last < 0.1)
        return;
    p->last = t;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t fill = p->total ? (size_t)((double)p->done / (double)p->total * WIDTH) : 0;
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] tensor %zu/%zu, %.1f of %.1f MB", bar, p->tensor, p->n_tensors,
            (double)p->done / 1e6, (double)p->total / 1e6);
    fflush(stderr);
    p->drawn = 1;
}

static void progress_clear(synth_progress *p) {
    if (p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

/* ---- writing ---------------------------------------------------------------------- */

typedef struct synth_run {
    g2_model_writer *w;
    uint64_t seed;
    int threads;
    synth_slot *slots; /* [threads] */
    pthread_t *tids;   /* [threads] */
    synth_progress *progress;
} synth_run;

static int write_tensor(synth_run *run, const synth_tensor *t, uint32_t index, char *err, size_t cap) {
    const int quantized = g2_type_is_quantized(t->type);
    const uint32_t nb = g2_q_blocks(t->cols);
    const uint64_t chunk_rows = chunk_rows_of(t), n_chunks = (t->rows + chunk_rows - 1) / chunk_rows;
    uint16_t *scales = NULL;
    if (quantized && !(scales = malloc((size_t)(t->rows * nb) * sizeof *scales)))
        return g2_fail(err, cap, "out of memory for the scales of '%s'", t->name);
    int rc = -1;
    if (g2_writer_begin_tensor(run->w, err, cap) != 0)
        goto out;
    for (uint64_t c0 = 0; c0 < n_chunks; c0 += (uint64_t)run->threads) {
        int k = 0;
        for (; k < run->threads && c0 + (uint64_t)k < n_chunks; k++) {
            synth_slot *s = &run->slots[k];
            s->t = t;
            s->tensor_index = index;
            s->chunk = c0 + (uint64_t)k;
            s->row0 = s->chunk * chunk_rows;
            s->rows = t->rows - s->row0 < chunk_rows ? t->rows - s->row0 : chunk_rows;
            s->seed = run->seed;
            s->scales = scales;
        }
        /* slot 0 runs here; a thread that cannot start runs here too, after it */
        int started[MAX_THREADS] = {0};
        for (int i = 1; i < k; i++)
            started[i] = pthread_create(&run->tids[i], NULL, make_chunk, &run->slots[i]) == 0;
        make_chunk(&run->slots[0]);
        for (int i = 1; i < k; i++) {
            if (started[i])
                pthread_join(run->tids[i], NULL);
            else
                make_chunk(&run->slots[i]);
        }
        for (int i = 0; i < k; i++) {
            if (g2_writer_append(run->w, run->slots[i].out, run->slots[i].out_size, err, cap) != 0)
                goto out;
            run->progress->done += run->slots[i].out_size;
        }
        progress_draw(run->progress, 0);
    }
    if (quantized) {
        size_t bytes = (size_t)(t->rows * nb) * sizeof *scales;
        if (g2_writer_append(run->w, scales, bytes, err, cap) != 0)
            goto out;
        run->progress->done += bytes;
    }
    rc = g2_writer_end_tensor(run->w, err, cap);
out:
    free(scales);
    return rc;
}

/* ---- the command ------------------------------------------------------------------ */

typedef struct synth_opts {
    const synth_shape *shape;
    const char *out;
    const char *tokenizer;
    uint32_t matrix_type;
    int embed_type; /* -1: the default of g2_convert_embed_type */
    uint64_t seed;
    int threads; /* 0 = all CPUs */
    int compress;
} synth_opts;

static int load_tokenizer(const synth_opts *o, uint8_t **blob, size_t *size, char *err, size_t cap) {
    struct stat st;
    if (stat(o->tokenizer, &st) != 0)
        return g2_fail(err, cap, "cannot open tokenizer %s: %s", o->tokenizer, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char note[512];
        int rc = g2_tok_import_dir(o->tokenizer, blob, size, note, sizeof note, err, cap);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return g2_fail(err, cap, "%s holds neither tokenizer.model nor tokenizer.json", o->tokenizer);
        if (note[0])
            fprintf(stderr, "gemma2 convert: note: %s\n", note);
    } else if (g2_tok_import_file(o->tokenizer, NULL, blob, size, err, cap) != 0) {
        return -1;
    }
    g2_tok_header h;
    memcpy(&h, *blob, sizeof h);
    if (h.n_pieces > o->shape->vocab)
        return g2_fail(err, cap,
                       "the tokenizer %s has %u pieces but the synthetic %s model's vocabulary is %u",
                       o->tokenizer, h.n_pieces, o->shape->name, o->shape->vocab);
    return 0;
}

static int synthesize(const synth_opts *o, synth_progress *p, char *err, size_t cap) {
    const synth_shape *sh = o->shape;
    g2_file_config cfg = {
        .vocab_size = sh->vocab,
        .hidden_size = sh->hidden,
        .n_layers = sh->layers,
        .n_heads = sh->heads,
        .n_kv_heads = sh->kv_heads,
        .head_dim = sh->head_dim,
        .ffn_size = sh->ffn,
        .context_length = sh->context,
        .sliding_window = sh->window,
        .bos_id = 2,
        .eos_id = 1,
        .pad_id = 0,
        .rms_norm_eps = 1e-6f,
        .rope_theta = 10000.0f,
        .query_pre_attn_scalar = sh->query_pre_attn_scalar,
        .attn_softcap = 50.0f,
        .final_softcap = 30.0f,
        .flags = G2_CONFIG_TIED_EMBEDDING,
        .activation = G2_ACT_GELU_TANH,
    };
    const size_t n_tensors = 2 + (size_t)sh->layers * G2_LAYER_ROLES;
    uint8_t *kinds = malloc(sh->layers);
    synth_tensor *tensors = calloc(n_tensors, sizeof *tensors);
    g2_tensor_spec *specs = calloc(n_tensors, sizeof *specs);
    uint8_t *tok = NULL;
    size_t tok_size = 0;
    g2_model_writer *w = NULL;
    synth_run run = {.seed = o->seed, .progress = p};
    char source[128];
    int rc = -1;

    struct stat st;
    if (stat(o->out, &st) == 0 && S_ISDIR(st.st_mode)) {
        g2_fail(err, cap, "%s is a directory; OUT must be a file name", o->out);
        goto out;
    }
    if (!kinds || !tensors || !specs) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    if (o->tokenizer) {
        if (load_tokenizer(o, &tok, &tok_size, err, cap) != 0)
            goto out;
        g2_tok_header h;
        memcpy(&h, tok, sizeof h);
        if (h.bos_id >= 0)
            cfg.bos_id = h.bos_id;
        if (h.eos_id >= 0)
            cfg.eos_id = h.eos_id;
        if (h.pad_id >= 0)
            cfg.pad_id = h.pad_id;
    }
    for (uint32_t l = 0; l < sh->layers; l++) /* Gemma 2: even layers slide, odd are global */
        kinds[l] = l % 2 == 0 ? G2_LAYER_LOCAL : G2_LAYER_GLOBAL;

    /* the converter's order: embedding, layers (roles in enum order), final norm */
    size_t k = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        g2_role role;
        uint32_t layer = 0;
        if (i == 0) {
            role = G2_ROLE_EMBED;
        } else if (i == n_tensors - 1) {
            role = G2_ROLE_FINAL_NORM;
        } else {
            layer = (uint32_t)((i - 1) / G2_LAYER_ROLES);
            role = (g2_role)(G2_FIRST_LAYER_ROLE + (int)((i - 1) % G2_LAYER_ROLES));
        }
        synth_tensor *t = &tensors[k];
        if (g2_role_name(t->name, sizeof t->name, role, layer) != 0) {
            g2_fail(err, cap, "tensor name too long for layer %u", layer);
            goto out;
        }
        uint32_t n_dims;
        uint64_t dims[2];
        g2_role_shape(&cfg, role, &n_dims, dims);
        if (g2_role_is_norm(role)) {
            t->type = G2_TYPE_F32;
            t->rows = 1;
            t->cols = (uint32_t)dims[0];
            t->std = NORM_STD;
        } else {
            t->type = role == G2_ROLE_EMBED ? g2_convert_embed_type(o->matrix_type, o->embed_type)
                                            : o->matrix_type;
            t->rows = dims[0];
            t->cols = (uint32_t)dims[1];
            t->std = MATRIX_STD;
        }
        specs[k] = (g2_tensor_spec){.name = t->name, .type = t->type, .n_dims = n_dims};
        memcpy(specs[k].dims, dims, n_dims * sizeof dims[0]);
        p->total += tensor_bytes(t);
        k++;
    }

    snprintf(source, sizeof source, "synthetic %s, random weights, seed %llu", sh->name,
             (unsigned long long)o->seed);
    const g2_meta_entry meta[] = {
        {.key = "general.converter", .value = "gemma2 " GEMMA2_VERSION_STRING},
        {.key = "general.source", .value = source},
        {.key = G2_TOK_META_KEY, .value = (const char *)tok, .value_len = tok_size},
    };
    size_t n_meta = sizeof meta / sizeof meta[0] - (tok ? 0 : 1); /* the tokenizer is last */
    if (g2_writer_open(&w, o->out, &cfg, kinds, meta, n_meta, specs, n_tensors, o->compress, err, cap) != 0)
        goto out;

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    run.threads = o->threads > 0 ? o->threads : cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    run.w = w;
    run.slots = calloc((size_t)run.threads, sizeof *run.slots);
    run.tids = calloc((size_t)run.threads, sizeof *run.tids);
    if (!run.slots || !run.tids) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    for (int i = 0; i < run.threads; i++) {
        /* a chunk is at most max(CHUNK_ELEMS, one row) weights */
        uint64_t widest = sh->ffn > sh->hidden ? sh->ffn : sh->hidden;
        if ((uint64_t)sh->heads * sh->head_dim > widest)
            widest = (uint64_t)sh->heads * sh->head_dim;
        uint64_t elems = CHUNK_ELEMS > widest ? CHUNK_ELEMS : widest;
        run.slots[i].f = malloc((size_t)elems * sizeof(float));
        run.slots[i].out = malloc((size_t)elems * sizeof(float));
        if (!run.slots[i].f || !run.slots[i].out) {
            g2_fail(err, cap, "out of memory");
            goto out;
        }
    }
    p->n_tensors = n_tensors;
    for (size_t i = 0; i < n_tensors; i++) {
        p->tensor = i + 1;
        if (write_tensor(&run, &tensors[i], (uint32_t)i, err, cap) != 0)
            goto out;
    }
    progress_draw(p, 1);
    g2_model_writer *done = w;
    w = NULL;
    if (g2_writer_finish(done, err, cap) != 0)
        goto out;
    if (p->enabled) {
        const uint32_t embed = g2_convert_embed_type(o->matrix_type, o->embed_type);
        char embed_note[48] = "";
        if (embed != o->matrix_type)
            snprintf(embed_note, sizeof embed_note, " (embedding %s)", gemma2_type_name((int32_t)embed));
        progress_clear(p);
        fprintf(stderr, "gemma2 convert: wrote %s: synthetic %s, %zu tensors, %.1f MB of %s weights%s%s\n",
                o->out, sh->name, n_tensors, (double)p->total / 1e6,
                gemma2_type_name((int32_t)o->matrix_type), embed_note, o->compress ? " (zstd)" : "");
    }
    rc = 0;
out:
    g2_writer_abort(w);
    if (run.slots)
        for (int i = 0; i < run.threads; i++) {
            free(run.slots[i].f);
            free(run.slots[i].out);
        }
    free(run.slots);
    free(run.tids);
    free(tok);
    free(specs);
    free(tensors);
    free(kinds);
    return rc;
}

int g2_synthetic_requested(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--synthetic") == 0 || strncmp(argv[i], "--synthetic=", 12) == 0)
            return 1;
    }
    return 0;
}

/* An option's value: "--opt VALUE" (advancing *i) or "--opt=VALUE"; NULL if a and
 * opt differ, or "" with *missing set if the value is absent. */
static const char *option_value(const char *a, const char *opt, int argc, char **argv, int *i, int *missing) {
    size_t n = strlen(opt);
    if (strncmp(a, opt, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return "";
    }
    return argv[++*i];
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int g2_cli_convert_synthetic(int argc, char **argv) {
    synth_opts o = {.matrix_type = G2_TYPE_Q4, .embed_type = -1, .seed = 1};
    int options_done = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(g2_synthetic_usage, stdout);
            return 0;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = 1;
        } else if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--compress") == 0) {
                o.compress = 1;
            } else if ((v = option_value(a, "--synthetic", argc, argv, &i, &missing))) {
                if (missing)
                    return usage_error("--synthetic needs a size (2b, 9b, 27b or tiny)");
                o.shape = NULL;
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                    if (strcmp(v, shapes[s].name) == 0)
                        o.shape = &shapes[s];
                if (!o.shape)
                    return usage_error("--synthetic must be 2b, 9b, 27b or tiny, not '%s'", v);
            } else if ((v = option_value(a, "--dtype", argc, argv, &i, &missing))) {
                if (missing)
                    return usage_error("--dtype needs a value (f32, bf16, q8 or q4)");
                if (g2_convert_type_from_name(v, &o.matrix_type) != 0)
                    return usage_error("--dtype must be f32, bf16, q8 or q4, not '%s'", v);
            } else if ((v = option_value(a, "--embed-dtype", argc, argv, &i, &missing))) {
                uint32_t type;
                if (missing)
                    return usage_error("--embed-dtype needs a value (f32, bf16, q8 or q4)");
                if (g2_convert_type_from_name(v, &type) != 0)
                    return usage_error("--embed-dtype must be f32, bf16, q8 or q4, not '%s'", v);
                o.embed_type = (int)type;
            } else if ((v = option_value(a, "--tokenizer", argc, argv, &i, &missing))) {
                if (missing || !*v)
                    return usage_error("--tokenizer needs a file or folder");
                o.tokenizer = v;
            } else if ((v = option_value(a, "--seed", argc, argv, &i, &missing))) {
                if (missing || parse_u64(v, UINT64_MAX, &o.seed) != 0)
                    return usage_error("--seed needs a non-negative integer, not '%s'", v);
            } else if ((v = option_value(a, "--threads", argc, argv, &i, &missing)) ||
                       (v = option_value(a, "-t", argc, argv, &i, &missing))) {
                uint64_t t;
                if (missing || parse_u64(v, MAX_THREADS, &t) != 0)
                    return usage_error("%s needs a thread count from 0 (all CPUs) to %d, not '%s'", a,
                                       MAX_THREADS, v);
                o.threads = (int)t;
            } else {
                return usage_error("unknown option '%s'", a);
            }
        } else if (!o.out) {
            o.out = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o.shape)
        return usage_error("--synthetic needs a size (2b, 9b, 27b or tiny)");
    if (!o.out)
        return usage_error("convert --synthetic needs OUT");

    char err[1024];
    synth_progress p = {.enabled = isatty(STDERR_FILENO)};
    if (synthesize(&o, &p, err, sizeof err) != 0) {
        progress_clear(&p);
        fprintf(stderr, "gemma2 convert: error: %s\n", err);
        return 1;
    }
    return 0;
}
