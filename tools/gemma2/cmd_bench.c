/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 bench MODEL [-t N] [-p 512] [-n 64] [-r 3] [--json]: prefill and decode
 * speed (the llama-bench of gemma2), with the machine's memory read bandwidth
 * measured in the same run and decode shown as a share of the bandwidth roofline. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemma2/cli.h"
#include "gemma2/cli_text.h"
#include "gemma2/membw.h"

static const char usage[] =
    "usage: gemma2 bench MODEL [-t N] [-p N] [-n N] [-r N] [--json] [--seed N] [--no-mmap]\n"
    "                    [--no-warmup] [--bw-mib N]\n"
    "  Measures prefill and decode speed, like llama.cpp's llama-bench. Each\n"
    "  repetition runs two tests, each in a fresh session: prefill (context p) feeds\n"
    "  p random token ids in one call (timed); decode (context n), as llama-bench's\n"
    "  tg test, starts from an empty context and runs n single-token steps: one\n"
    "  random id fed, then n - 1 greedy steps (timed). -p 0 or -n 0 skips a test, as\n"
    "  in llama-bench. Speeds are the mean and sample standard deviation over the\n"
    "  repetitions. In the same run it measures the memory read bandwidth with the\n"
    "  same number of threads and shows decode as a share of the roofline bandwidth /\n"
    "  (weight bytes read per token): every weight, the tied embedding included, is\n"
    "  read once per decoded token. The KV cache read is not counted (its estimate is\n"
    "  printed; it is small next to the weights at these lengths). The read test sums\n"
    "  a buffer much larger than the caches either one word per cache line or every\n"
    "  word, whichever this machine reads faster (it times both). The bandwidth is\n"
    "  measured before the runs (the best of 5 passes) and again after each decode\n"
    "  run (the best of 3): on a shared machine it can drift by a third within\n"
    "  seconds, so the share is also shown against the mean of the latter, the\n"
    "  bandwidth of the same minutes as the decode. Last, it decodes n tokens once\n"
    "  more in bursts of 4 steps, with one pass before and after each burst, and\n"
    "  shows the median over the bursts of each one's share against the mean of its\n"
    "  two passes: drift over seconds cancels there. It also shows how long the model\n"
    "  took to open (digests not checked), the memory resident at the end of a\n"
    "  prefill (of the decode with -p 0), beyond the weights and the KV cache, and\n"
    "  how much of a mapped file Linux mapped with 2 MB pages.\n"
    "  GB = 10^9 bytes.\n"
    "  -t, --threads N  compute threads, and bandwidth threads (default: all CPUs)\n"
    "  --no-mmap        read the model into memory instead of mapping it\n"
    "  -p, --prompt N   prompt tokens fed in one prefill call (default 512;\n"
    "                   0 = decode only)\n"
    "  -n, --gen N      tokens decoded per repetition (default 64; 0 = prefill only)\n"
    "  -r, --reps N     repetitions (default 3)\n"
    "  --json           one JSON object on stdout instead of the table: prefill_tok_s,\n"
    "                   prefill_tok_s_stddev (null with -p 0), decode_tok_s,\n"
    "                   decode_tok_s_stddev (null with -n 0), bandwidth_gb_s,\n"
    "                   bandwidth_method (\"lines\" or \"words\") and\n"
    "                   bandwidth_methods_gb_s (both timed),\n"
    "                   roofline_tok_s, roofline_share,\n"
    "                   roofline_share_kv (counting the KV cache read too),\n"
    "                   bandwidth_between_gb_s and roofline_share_between (measured\n"
    "                   after each decode run; null when not measured),\n"
    "                   roofline_share_paired, roofline_share_paired_kv,\n"
    "                   bandwidth_paired_gb_s, decode_tok_s_paired and paired_bursts\n"
    "                   (the bursts between passes; null and 0 when not measured),\n"
    "                   model_bytes (weight bytes in memory), file_bytes, parameters,\n"
    "                   bits_per_weight, threads, kernels, prompt_tokens, gen_tokens,\n"
    "                   reps, the runs' speeds, open_ms, kv_cache_bytes,\n"
    "                   resident_bytes, resident_other_bytes,\n"
    "                   file_pmd_mapped_bytes, ...\n"
    "  --seed N         seed of the random prompt ids (default 1234)\n"
    "  --no-warmup      skip the untimed warm-up run (a short feed and a decode\n"
    "                   step that bring every weight into memory before the first\n"
    "                   timing)\n"
    "  --bw-mib N       bandwidth buffer in MiB (default: 1024, or 4x the largest\n"
    "                   cache if that is more)\n";

#define CMD "bench"
#define BW_PASSES 5
#define BW_PASSES_BETWEEN 3 /* after each decode run */
#define WARMUP_TOKENS 8

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

typedef struct stats {
    double mean, stddev; /* stddev: sample (n - 1), 0 for one value */
} stats;

static stats stats_of(const double *v, long long n) {
    stats s = {0, 0};
    for (long long i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= (double)n;
    if (n > 1) {
        double ss = 0;
        for (long long i = 0; i < n; i++)
            ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.stddev = sqrt(ss / (double)(n - 1));
    }
    return s;
}

/* Σ over tensors of Π dims. */
static uint64_t parameter_count(const gemma2_model *m, uint32_t n_tensors) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_tensors; i++) {
        gemma2_tensor_info ti;
        gemma2_tensor_info_init(&ti, sizeof ti);
        if (gemma2_model_tensor_info(m, i, &ti) != GEMMA2_OK)
            continue;
        uint64_t n = 1;
        for (uint32_t d = 0; d < ti.n_dims; d++)
            n *= ti.dims[d];
        total += n;
    }
    return total;
}

/* Bytes of keys and values one decode step reads, averaged over the decode test's
 * positions 0 .. n-1, for a cache of 4-byte elements: each layer reads a key and a
 * value vector (n_kv_heads * head_dim) per attended position, local layers at most
 * the sliding window. */
static double kv_bytes_per_token(const gemma2_model *m, const gemma2_model_info *mi, uint64_t n) {
    if (n == 0)
        return 0;
    double per_pos = 2.0 * mi->n_kv_heads * mi->head_dim * 4.0, total = 0;
    for (uint32_t l = 0; l < mi->n_layers; l++) {
        int32_t kind = GEMMA2_LAYER_GLOBAL;
        gemma2_model_layer_kind(m, l, &kind);
        uint64_t window = kind == GEMMA2_LAYER_LOCAL && mi->sliding_window ? mi->sliding_window : UINT64_MAX;
        for (uint64_t pos = 0; pos < n; pos++) /* the step at pos attends to pos + 1 keys */
            total += (double)(pos + 1 < window ? pos + 1 : window);
    }
    return total * per_pos / (double)n;
}

/* "1.234 GB" or "12.3 MB" (10^9, 10^6 bytes) into buf. */
static const char *human_bytes(char *buf, size_t cap, double bytes) {
    if (bytes >= 1e9)
        snprintf(buf, cap, "%.3f GB", bytes / 1e9);
    else
        snprintf(buf, cap, "%.1f MB", bytes / 1e6);
    return buf;
}

static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_runs(const double *v, long long n) {
    putchar('[');
    for (long long i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", v[i]);
    putchar(']');
}

typedef struct bench_args {
    const char *path;
    int threads; /* resolved: >= 1 */
    long long prompt, gen, reps, bw_mib;
    unsigned long long seed;
    int json, warmup;
    uint32_t open_flags;
} bench_args;

/* Progress on a terminal only, erased before the results; fmt NULL erases it. */
static void progress(const char *fmt, ...) {
    static int shown;
    if (!isatty(STDERR_FILENO))
        return;
    if (shown)
        fputs("\r\033[K", stderr);
    shown = 0;
    if (!fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    shown = 1;
}

/* The "NAME: N kB" line of a /proc/self file, in bytes; 0 if /proc cannot tell.
 * format is "NAME: %llu kB". */
static uint64_t proc_self_kb(const char *file, const char *format) {
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, format, &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* This process's resident set now (VmRSS). */
static uint64_t resident_bytes(void) { return proc_self_kb("/proc/self/status", "VmRSS: %llu kB"); }

/* Bytes of this process's file mappings mapped with 2 MB entries (FilePmdMapped).
 * While a model is open, bench maps no other large file. */
static uint64_t file_pmd_mapped_bytes(void) {
    return proc_self_kb("/proc/self/smaps_rollup", "FilePmdMapped: %llu kB");
}

/* Bytes of a session's float32 KV cache of n_ctx positions (keys and values): n_ctx
 * positions per global layer, a ring of window + 63 rounded up to 16 per sliding-window
 * layer when that is less (include/gemma2.h, gemma2_session_memory_bytes). */
static uint64_t kv_cache_bytes(const gemma2_model *m, const gemma2_model_info *mi, uint64_t n_ctx) {
    const uint64_t ring = ((uint64_t)mi->sliding_window + 63 + 15) / 16 * 16;
    uint64_t positions = 0;
    for (uint32_t l = 0; l < mi->n_layers; l++) {
        int32_t kind = GEMMA2_LAYER_GLOBAL;
        gemma2_model_layer_kind(m, l, &kind);
        positions += kind == GEMMA2_LAYER_LOCAL && mi->sliding_window && ring < n_ctx ? ring : n_ctx;
    }
    return 2 * positions * mi->n_kv_heads * mi->head_dim * sizeof(float);
}

/* A fresh session of bench's threads and a context of n_ctx tokens. */
static gemma2_status new_session(gemma2_model *m, const bench_args *a, size_t n_ctx, gemma2_session **s) {
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    o.n_threads = a->threads;
    o.n_ctx = (uint32_t)n_ctx;
    return gemma2_session_new(m, &o, s);
}

/* n greedy decode steps; stops at the first error. */
static gemma2_status decode_steps(gemma2_session *s, long long n) {
    gemma2_status st = GEMMA2_OK;
    for (long long i = 0; st == GEMMA2_OK && i < n; i++) {
        gemma2_step_result r;
        gemma2_step_result_init(&r, sizeof r);
        st = gemma2_session_step(s, &r);
    }
    return st;
}

/* One repetition: (n_prompt > 0) the prefill test, n_prompt ids fed in one call, then
 * (n_gen > 0) the decode test in a second session: n_gen single-token steps from an
 * empty context, the first id fed, then n_gen - 1 greedy steps, as llama-bench's tg
 * test (so the KV cache read grows from 1 to n_gen positions, not from n_prompt on).
 * Each session's context is its test's tokens. *rss (if not NULL): the resident set at
 * the end of the first test, its session alive: every buffer and KV position it
 * allocated has been written then. */
static int run_once(gemma2_model *m, const bench_args *a, const int32_t *prompt, size_t n_prompt,
                    long long n_gen, double *prefill_s, double *decode_s, uint64_t *rss) {
    double elapsed[2] = {0, 0};
    gemma2_status st = GEMMA2_OK;
    const int first = n_prompt > 0 ? 0 : 1;
    for (int test = first; st == GEMMA2_OK && test < (n_gen > 0 ? 2 : 1); test++) {
        gemma2_session *s;
        st = new_session(m, a, test == 0 ? n_prompt : (size_t)n_gen, &s);
        if (st != GEMMA2_OK)
            break;
        const double t0 = now_seconds();
        st = gemma2_session_feed(s, prompt, test == 0 ? n_prompt : 1);
        if (st == GEMMA2_OK && test == 1)
            st = decode_steps(s, n_gen - 1);
        elapsed[test] = now_seconds() - t0;
        if (rss && test == first)
            *rss = resident_bytes();
        gemma2_session_free(s);
    }
    if (st != GEMMA2_OK) {
        progress(NULL); /* the error gets a line of its own */
        return cli_fail(CMD, st);
    }
    if (prefill_s)
        *prefill_s = elapsed[0];
    if (decode_s)
        *decode_s = elapsed[1];
    return 0;
}

/* Decode once more, in bursts of PAIR_BURST steps with a bandwidth pass before the
 * first burst and after each one. A burst and the passes on either side of it lie
 * within about a second, so the bandwidth's drift over seconds (on a shared machine)
 * cancels in their ratio; a single pass is set against the burst, not the best of
 * several, so both sides are the same kind of sample. */
#define PAIR_BURST 4

/* Below this share of a file of PMD_HINT_MIN_BYTES or more in 2 MB pages, bench
 * suggests evicting the file: at 81% the 2B q8 decoded 5-8% slower than from a private
 * copy in the Zen 4 VM's fast minutes, at 99% as fast (docs/performance.md section 5).
 * A small file has few pages to miss in the TLB, and less than 2 MB has no such page. */
#define PMD_SHARE_HINT 0.9
#define PMD_HINT_MIN_BYTES ((uint64_t)256 << 20)

typedef struct paired {
    double share;   /* median over the bursts of burst speed / roofline of its two passes */
    double bw_gb_s; /* mean of the passes */
    double tok_s;   /* the bursts' tokens / their time */
    long long bursts;
} paired;

static int cmp_double(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int run_paired(gemma2_model *m, const bench_args *a, const int32_t *prompt, uint64_t weight_bytes,
                      size_t bw_bytes, paired *out) {
    const long long bursts = (a->gen + PAIR_BURST - 1) / PAIR_BURST;
    double *shares = calloc((size_t)bursts, sizeof *shares);
    if (!shares)
        return cli_error(CMD, "out of memory");
    char err[256];
    cli_membw_reader *reader;
    if (cli_membw_open(a->threads, bw_bytes, &reader, err, sizeof err) != 0) {
        free(shares);
        progress(NULL);
        return cli_error(CMD, "%s", err);
    }
    gemma2_session *s = NULL;
    gemma2_status st = new_session(m, a, (size_t)a->gen, &s);
    double before = cli_membw_pass(reader), bw_sum = before, decode_s = 0;
    long long done = 0, b = 0;
    for (; st == GEMMA2_OK && done < a->gen; b++) {
        const long long n = a->gen - done < PAIR_BURST ? a->gen - done : PAIR_BURST;
        const double t0 = now_seconds();
        /* the positions of run_once's decode test: the first step feeds an id */
        st = done == 0 ? gemma2_session_feed(s, prompt, 1) : GEMMA2_OK;
        if (st == GEMMA2_OK)
            st = decode_steps(s, done == 0 ? n - 1 : n);
        const double dt = now_seconds() - t0, after = cli_membw_pass(reader);
        const double bw = (before + after) / 2; /* GB/s */
        shares[b] = dt > 0 && bw > 0 ? (double)n * (double)weight_bytes / dt / (bw * 1e9) : 0;
        decode_s += dt;
        done += n;
        bw_sum += after;
        before = after;
    }
    gemma2_session_free(s);
    cli_membw_close(reader);
    int rc = 0;
    if (st != GEMMA2_OK) {
        progress(NULL);
        rc = cli_fail(CMD, st);
    } else {
        qsort(shares, (size_t)b, sizeof *shares, cmp_double);
        *out = (paired){.share = b % 2 ? shares[b / 2] : (shares[b / 2 - 1] + shares[b / 2]) / 2,
                        .bw_gb_s = bw_sum / (double)(b + 1),
                        .tok_s = decode_s > 0 ? (double)done / decode_s : 0,
                        .bursts = b};
    }
    free(shares);
    return rc;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    cli_common common = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag(CMD, usage, argc, argv, &i, &common);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0) {
            if (common.ctx)
                return cli_usage_error(CMD, usage, "--ctx is not an option of bench: the context is -p + -n");
            continue;
        }
        const char *o = argv[i];
        long long *count = NULL, min = 0, max = 0;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            count = &a->prompt, min = 0, max = 1 << 22;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--gen")) {
            count = &a->gen, min = 0, max = 1 << 22;
        } else if (!strcmp(o, "-r") || !strcmp(o, "--reps")) {
            count = &a->reps, min = 1, max = 100000;
        } else if (!strcmp(o, "--bw-mib")) {
            count = &a->bw_mib, min = 1, max = 1 << 20;
        } else if (!strcmp(o, "--seed")) {
            long long v;
            if (i + 1 >= argc || cli_parse_int(argv[i + 1], 0, INT64_MAX, &v))
                return cli_usage_error(CMD, usage, "%s needs a non-negative integer", o);
            a->seed = (unsigned long long)v;
            i++;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (!strcmp(o, "--no-warmup")) {
            a->warmup = 0;
        } else if (o[0] == '-' && o[1] != '\0') {
            return cli_usage_error(CMD, usage, "unknown option '%s'", o);
        } else if (!a->path) {
            a->path = o;
        } else {
            return cli_usage_error(CMD, usage, "unexpected argument '%s'", o);
        }
        if (count) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, usage, "%s needs a value", o);
            if (cli_parse_int(argv[i + 1], min, max, count))
                return cli_usage_error(CMD, usage, "bad value for %s: '%s' (an integer from %lld to %lld)", o,
                                       argv[i + 1], min, max);
            i++;
        }
    }
    if (!a->path)
        return cli_usage_error(CMD, usage, "missing MODEL");
    if (a->prompt == 0 && a->gen == 0)
        return cli_usage_error(CMD, usage, "-p 0 and -n 0 leave nothing to measure");
    a->open_flags = common.open_flags;
    if (common.threads > 0) {
        a->threads = common.threads;
    } else {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        a->threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.prompt = 512, .gen = 64, .reps = 3, .seed = 1234, .warmup = 1};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;

    gemma2_model *m;
    /* digests are not checked: bench measures inference, and a 15 GB model would
     * spend a minute on them; the warm-up run pages the weights in instead */
    const double open_t0 = now_seconds();
    if (cli_open_model(CMD, a.path, a.threads, GEMMA2_MODEL_SKIP_VERIFY | a.open_flags, &m))
        return CLI_EXIT_ERROR;
    const double open_ms = (now_seconds() - open_t0) * 1e3;
    uint64_t rss = 0;
    int32_t *prompt = NULL;
    double *pp = NULL, *tg = NULL, *bw_between = NULL;
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(m, &mi);
    if ((uint64_t)a.prompt + (uint64_t)a.gen > mi.context_length) {
        rc = cli_error(CMD, "-p %lld + -n %lld = %lld tokens do not fit the model's context length %u",
                       a.prompt, a.gen, a.prompt + a.gen, (unsigned)mi.context_length);
        goto done;
    }
    uint64_t params = parameter_count(m, mi.n_tensors);
    double bpw = params ? (double)mi.weight_bytes * 8.0 / (double)params : 0;

    const long long n_ids = a.prompt > 0 ? a.prompt : 1; /* the decode test feeds the first */
    prompt = malloc((size_t)n_ids * sizeof *prompt);
    pp = calloc((size_t)a.reps, sizeof *pp);
    tg = calloc((size_t)a.reps, sizeof *tg);
    bw_between = calloc((size_t)a.reps, sizeof *bw_between);
    if (!prompt || !pp || !tg || !bw_between) {
        rc = cli_error(CMD, "out of memory");
        goto done;
    }
    uint64_t rng = a.seed;
    for (long long i = 0; i < n_ids; i++) /* any id of the vocabulary, specials included */
        prompt[i] = (int32_t)(splitmix64(&rng) % mi.vocab_size);

    /* Bandwidth first, while the weights are not yet paged in: the buffer and the
     * model are then never both resident. */
    cli_membw bw;
    char err[256];
    size_t bw_bytes = a.bw_mib ? (size_t)a.bw_mib << 20 : cli_membw_default_bytes((size_t)1 << 30);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bw_bytes / 2 > (size_t)pages / 4 * (size_t)page) {
        rc = cli_error(CMD, "a bandwidth buffer of %zu MiB is more than half of this machine's memory",
                       bw_bytes >> 20);
        goto done;
    }
    if (bw_bytes < cli_membw_default_bytes(0))
        fprintf(stderr,
                "gemma2 bench: note: a bandwidth buffer of %lld MiB is not much larger than the caches: "
                "the bandwidth may come out too high\n",
                a.bw_mib);
    progress("gemma2 bench: measuring the memory bandwidth with %d thread%s", a.threads,
             a.threads == 1 ? "" : "s");
    if (cli_membw_measure(a.threads, bw_bytes, BW_PASSES, &bw, err, sizeof err) != 0) {
        progress(NULL);
        rc = cli_error(CMD, "%s", err);
        goto done;
    }

    /* Measured again after each decode run, with the weights resident: only if both
     * fit well in memory (else the buffer would push weights out of the page cache). */
    const int measure_between = a.gen > 0 && pages > 0 && page > 0 &&
                                mi.weight_bytes + bw_bytes < (uint64_t)pages / 4 * 3 * (uint64_t)page;
    if (a.warmup) {
        progress("gemma2 bench: warm-up");
        size_t n = a.prompt < WARMUP_TOKENS ? (size_t)a.prompt : WARMUP_TOKENS;
        if ((rc = run_once(m, &a, prompt, n, a.gen > 0 ? 1 : 0, NULL, NULL, NULL)) != 0)
            goto done;
    }
    for (long long r = 0; r < a.reps; r++) {
        progress("gemma2 bench: repetition %lld of %lld", r + 1, a.reps);
        double ps, ds;
        if ((rc = run_once(m, &a, prompt, (size_t)a.prompt, a.gen, &ps, &ds, &rss)) != 0)
            goto done;
        pp[r] = ps > 0 ? (double)a.prompt / ps : 0; /* ps is 0 with -p 0 */
        tg[r] = ds > 0 ? (double)a.gen / ds : 0;
        if (measure_between) {
            cli_membw b;
            if (cli_membw_measure(a.threads, bw_bytes, BW_PASSES_BETWEEN, &b, err, sizeof err) != 0) {
                progress(NULL);
                rc = cli_error(CMD, "%s", err);
                goto done;
            }
            bw_between[r] = b.gb_s;
        }
    }
    paired pair = {0};
    if (measure_between) {
        progress("gemma2 bench: decoding in bursts between bandwidth passes");
        if ((rc = run_paired(m, &a, prompt, mi.weight_bytes, bw_bytes, &pair)) != 0)
            goto done;
    }
    progress(NULL);

    stats pps = stats_of(pp, a.reps), tgs = stats_of(tg, a.reps);
    double roof = mi.weight_bytes ? bw.gb_s * 1e9 / (double)mi.weight_bytes : 0;
    double share = roof > 0 ? tgs.mean / roof : 0;
    double kv = kv_bytes_per_token(m, &mi, (uint64_t)a.gen);
    /* the same share over every byte a decode step reads: weights and KV cache */
    double share_kv = bw.gb_s > 0 ? tgs.mean * ((double)mi.weight_bytes + kv) / (bw.gb_s * 1e9) : 0;
    const double bw_mid = measure_between ? stats_of(bw_between, a.reps).mean : 0;
    const double share_mid = bw_mid > 0 ? tgs.mean * (double)mi.weight_bytes / (bw_mid * 1e9) : 0;
    /* the bursts decode the positions of the timed decode test, so read the same KV bytes */
    const double share_pair_kv =
        mi.weight_bytes ? pair.share * ((double)mi.weight_bytes + kv) / (double)mi.weight_bytes : 0;
    const char *type = gemma2_type_name(mi.weight_type);
    const char *kernels = gemma2_cpu_kernels(); /* the table chosen when the model was opened */
    /* the KV cache of the session rss was read in: the prefill's, or the decode's (-p 0) */
    const long long rss_positions = a.prompt > 0 ? a.prompt : a.gen;
    const uint64_t kv_total = kv_cache_bytes(m, &mi, (uint64_t)rss_positions);
    /* what is resident beyond the weights and the KV cache (0 if /proc is missing) */
    const double other = rss ? (double)rss - (double)mi.weight_bytes - (double)kv_total : 0;
    const uint64_t pmd = file_pmd_mapped_bytes(); /* 0 with --no-mmap: nothing mapped */
    if (a.json) {
        printf("{\"model\": ");
        json_string(a.path);
        printf(
            ", \"weight_type\": \"%s\", \"parameters\": %llu, \"model_bytes\": %llu, \"file_bytes\": %llu, "
            "\"bits_per_weight\": %.4f, \"threads\": %d, \"prompt_tokens\": %lld, \"gen_tokens\": %lld, "
            "\"reps\": %lld, \"warmup\": %s, \"seed\": %llu, \"kernels\": \"%s\", ",
            type, (unsigned long long)params, (unsigned long long)mi.weight_bytes,
            (unsigned long long)mi.file_size, bpw, a.threads, a.prompt, a.gen, a.reps,
            a.warmup ? "true" : "false", a.seed, kernels);
        if (a.prompt > 0) {
            printf("\"prefill_tok_s\": %.4f, \"prefill_tok_s_stddev\": %.4f, \"prefill_tok_s_runs\": ",
                   pps.mean, pps.stddev);
            json_runs(pp, a.reps);
        } else {
            printf("\"prefill_tok_s\": null, \"prefill_tok_s_stddev\": null, \"prefill_tok_s_runs\": []");
        }
        if (a.gen > 0) {
            printf(", \"decode_tok_s\": %.4f, \"decode_tok_s_stddev\": %.4f, \"decode_tok_s_runs\": ",
                   tgs.mean, tgs.stddev);
            json_runs(tg, a.reps);
        } else {
            printf(", \"decode_tok_s\": null, \"decode_tok_s_stddev\": null, \"decode_tok_s_runs\": []");
        }
        printf(", \"bandwidth_gb_s\": %.3f, \"bandwidth_mean_gb_s\": %.3f, \"bandwidth_bytes\": %zu, "
               "\"bandwidth_passes\": %d, \"bandwidth_method\": \"%s\", "
               "\"bandwidth_methods_gb_s\": {\"lines\": %.3f, \"words\": %.3f}, \"roofline_tok_s\": %.4f, ",
               bw.gb_s, bw.mean_gb_s, bw.bytes, bw.passes, bw.method == CLI_MEMBW_WORDS ? "words" : "lines",
               bw.method_gb_s[CLI_MEMBW_LINES], bw.method_gb_s[CLI_MEMBW_WORDS], roof);
        if (a.gen > 0)
            printf(
                "\"roofline_share\": %.6f, \"roofline_share_kv\": %.6f, \"kv_bytes_per_token_f32\": %.0f, ",
                share, share_kv, kv);
        else
            printf(
                "\"roofline_share\": null, \"roofline_share_kv\": null, \"kv_bytes_per_token_f32\": null, ");
        if (measure_between) {
            printf("\"bandwidth_between_gb_s\": %.3f, \"roofline_share_between\": %.6f, "
                   "\"bandwidth_between_runs\": ",
                   bw_mid, share_mid);
            json_runs(bw_between, a.reps);
            printf(", ");
        } else {
            printf("\"bandwidth_between_gb_s\": null, \"roofline_share_between\": null, "
                   "\"bandwidth_between_runs\": [], ");
        }
        if (measure_between)
            printf(
                "\"roofline_share_paired\": %.6f, \"roofline_share_paired_kv\": %.6f, "
                "\"bandwidth_paired_gb_s\": %.3f, \"decode_tok_s_paired\": %.4f, \"paired_bursts\": %lld, ",
                pair.share, share_pair_kv, pair.bw_gb_s, pair.tok_s, pair.bursts);
        else
            printf("\"roofline_share_paired\": null, \"roofline_share_paired_kv\": null, "
                   "\"bandwidth_paired_gb_s\": null, \"decode_tok_s_paired\": null, \"paired_bursts\": 0, ");
        printf("\"open_ms\": %.3f, \"kv_cache_bytes\": %llu, \"resident_bytes\": %llu, "
               "\"resident_other_bytes\": %.0f, \"file_pmd_mapped_bytes\": %llu}\n",
               open_ms, (unsigned long long)kv_total, (unsigned long long)rss, other,
               (unsigned long long)pmd);
    } else {
        char wb[32], fb[32], bb[32], kb[32];
        printf("model:      %s\n", a.path);
        printf("weights:    %s, %.3f %s parameters, %.2f bits per weight\n", type,
               params >= 1000000000u ? (double)params / 1e9 : (double)params / 1e6,
               params >= 1000000000u ? "B" : "M", bpw);
        printf("bytes:      %s of weights in memory, file %s (GB = 10^9 bytes)\n",
               human_bytes(wb, sizeof wb, (double)mi.weight_bytes),
               human_bytes(fb, sizeof fb, (double)mi.file_size));
        printf("threads:    %d (kernels: %s)\n", a.threads, kernels);
        printf("open:       %.1f ms (digests not checked)\n", open_ms);
        printf("bandwidth:  %.1f GB/s memory read (best of %d passes over %s, %d thread%s; mean %.1f)\n",
               bw.gb_s, bw.passes, human_bytes(bb, sizeof bb, (double)bw.bytes), bw.threads,
               bw.threads == 1 ? "" : "s", bw.mean_gb_s);
        const int other = bw.method == CLI_MEMBW_WORDS ? CLI_MEMBW_LINES : CLI_MEMBW_WORDS;
        printf("            reading %s, faster here than %s (%.1f against %.1f GB/s)\n",
               cli_membw_method_name(bw.method), cli_membw_method_name(other), bw.method_gb_s[bw.method],
               bw.method_gb_s[other]);
        printf("\n%-10s %12s %12s %6s\n", "test", "tok/s", "stddev", "reps");
        char name[32];
        if (a.prompt > 0) {
            snprintf(name, sizeof name, "pp%lld", a.prompt);
            printf("%-10s %12.2f %12.2f %6lld\n", name, pps.mean, pps.stddev, a.reps);
        }
        if (a.gen > 0) {
            snprintf(name, sizeof name, "tg%lld", a.gen);
            printf("%-10s %12.2f %12.2f %6lld\n", name, tgs.mean, tgs.stddev, a.reps);
            printf("\nroofline:   decode %.2f tok/s = %.1f%% of %.2f tok/s (%.1f GB/s / %s of weights read "
                   "per token)\n",
                   tgs.mean, share * 100, roof, bw.gb_s, wb);
            double kv_share = mi.weight_bytes ? kv / (double)mi.weight_bytes : 0;
            printf("            the KV cache read is left out, %s at this length: about %s per token\n"
                   "            (%.1f%% of the weights, for a 4-byte cache); counting it, %.1f%%\n",
                   kv_share < 0.1 ? "small" : "NOT small", human_bytes(kb, sizeof kb, kv), kv_share * 100,
                   share_kv * 100);
            if (measure_between)
                printf("            against the bandwidth after each decode run (mean %.1f GB/s of each\n"
                       "            run's best of %d passes), decode is %.1f%% of the roofline\n"
                       "            in %lld burst%s of %d steps, each against the passes just before and\n"
                       "            after it (mean %.1f GB/s; %.2f tok/s), decode is %.1f%% of the roofline\n"
                       "            (the median over the bursts; counting the KV cache read, %.1f%%)\n",
                       bw_mid, BW_PASSES_BETWEEN, share_mid * 100, pair.bursts, pair.bursts == 1 ? "" : "s",
                       PAIR_BURST, pair.bw_gb_s, pair.tok_s, pair.share * 100, share_pair_kv * 100);
            else
                printf("            (the bandwidth was not measured again after the decode runs: the\n"
                       "            weights and the buffer would not both fit well in memory)\n");
        } else {
            printf("\nroofline:   %.2f tok/s (%.1f GB/s / %s of weights); no decode measured (-n 0)\n", roof,
                   bw.gb_s, wb);
        }
    }
    if (!a.json && rss) {
        char rb[32], kb2[32], ob[32];
        printf("memory:     %s resident at the end of a %s = the weights + a KV cache of %s "
               "(f32, %lld positions) + %s%s\n",
               human_bytes(rb, sizeof rb, (double)rss), a.prompt > 0 ? "prefill" : "decode",
               human_bytes(kb2, sizeof kb2, (double)kv_total), rss_positions, other < 0 ? "-" : "",
               human_bytes(ob, sizeof ob, other < 0 ? -other : other));
    }
    /* a GGUF model's weights are converted into memory at open: no file to speak of */
    if (!a.json && !(a.open_flags & GEMMA2_MODEL_NO_MMAP) && mi.source != GEMMA2_SOURCE_GGUF &&
        mi.file_size > 0) {
        const double pmd_share = (double)pmd / (double)mi.file_size;
        printf("pages:      %.1f%% of the file mapped with 2 MB pages (docs/performance.md section 5)\n",
               100.0 * pmd_share);
        /* the page cache holds the rest in small pages, which it keeps until evicted */
        if (pmd_share < PMD_SHARE_HINT && mi.file_size >= PMD_HINT_MIN_BYTES)
            printf("            decode can be several %% faster with all of it: evict the file from\n"
                   "            the page cache (dd if=MODEL iflag=nocache count=0) and run again\n");
    }
    rc = cli_flush_stdout(CMD);
done:
    progress(NULL);
    free(bw_between);
    free(tg);
    free(pp);
    free(prompt);
    gemma2_model_close(m);
    return rc;
}
