/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 bench-tokenizer SOURCE FILE [-r REPS] [--json]: single-thread encode speed
 * and the memory the loaded tokenizer takes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#    include <malloc.h>
#endif

#include "gemma2/cli.h"
#include "gemma2/cli_text.h"

static const char usage[] =
    "usage: gemma2 bench-tokenizer SOURCE FILE [-r REPS] [--json]\n"
    "  Encodes FILE's bytes REPS times (default 3) on one thread in plain mode and\n"
    "  prints the speed (best and mean, MB = 10^6 bytes), the number of ids and bytes,\n"
    "  and the memory taken by loading the tokenizer, measured as the growth of the\n"
    "  process's resident set (VmRSS) across the load, freed heap memory given back\n"
    "  to the system before the second reading. SOURCE is as for `gemma2\n"
    "  tokenize`: a gemma2 model file, a tokenizer.json, a tokenizer.model, or a\n"
    "  checkpoint folder (for a model file the growth includes what opening it maps).\n"
    "  --json  one JSON object: {\"mb_s_best\", \"mb_s_mean\", \"ids\", \"bytes\",\n"
    "          \"tokenizer_rss_mb\" (null when unknown), \"reps\"}\n";

/* Resident set size in bytes from /proc/self/status, or -1. */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char buf[256];
    long long kb = -1;
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "VmRSS:", 6)) {
            kb = strtoll(buf + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("bench-tokenizer", "cannot open %s: %s", path, strerror(errno));
    int bad = cli_read_all(f, data, len);
    int e = errno;
    fclose(f);
    return bad ? cli_error("bench-tokenizer", "cannot read %s: %s", path, strerror(e)) : 0;
}

int cmd_bench_tokenizer(int argc, char **argv) {
    const char *source = NULL, *file = NULL;
    long long reps = 3;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            if (i + 1 >= argc || cli_parse_int(argv[i + 1], 1, 1000000, &reps))
                return cli_usage_error("bench-tokenizer", usage, "%s needs a count of at least 1", a);
            i++;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("bench-tokenizer", usage, "unknown option '%s'", a);
        } else if (!source) {
            source = a;
        } else if (!file) {
            file = a;
        } else {
            return cli_usage_error("bench-tokenizer", usage, "unexpected argument '%s'", a);
        }
    }
    if (!source || !file)
        return cli_usage_error("bench-tokenizer", usage, "SOURCE and FILE are required");

    cli_tokenizer t;
    long long before = rss_bytes();
    int rc = cli_tokenizer_open("bench-tokenizer", source, &t);
#if defined(__GLIBC__)
    malloc_trim(0); /* give back what the import freed: count what the tokenizer keeps */
#endif
    long long after = rss_bytes();
    char *text = NULL;
    int32_t *ids = NULL;
    size_t len = 0, n_ids = 0;
    if (rc || (rc = read_file(file, &text, &len)) != 0)
        goto done;
    if (len == 0) {
        rc = cli_error("bench-tokenizer", "%s is empty: nothing to measure", file);
        goto done;
    }
    double best = 0, total = 0;
    for (long long r = 0; r < reps; r++) {
        free(ids);
        ids = NULL;
        double t0 = now_seconds();
        if ((rc = cli_encode("bench-tokenizer", t.tok, text, len, 0, &ids, &n_ids)) != 0)
            goto done;
        double dt = now_seconds() - t0;
        total += dt;
        if (r == 0 || dt < best)
            best = dt;
    }
    double mb = (double)len / 1e6, mb_best = best > 0 ? mb / best : 0,
           mb_mean = total > 0 ? mb * reps / total : 0;
    int have_rss = before >= 0 && after >= 0;
    double rss_mb = have_rss ? (double)(after - before) / 1e6 : 0;
    if (json) {
        printf(
            "{\"mb_s_best\": %.3f, \"mb_s_mean\": %.3f, \"ids\": %zu, \"bytes\": %zu, \"tokenizer_rss_mb\": ",
            mb_best, mb_mean, n_ids, len);
        if (have_rss)
            printf("%.3f", rss_mb);
        else
            fputs("null", stdout);
        printf(", \"reps\": %lld}\n", reps);
    } else {
        printf("tokenizer: %s (%u pieces)\n", source, (unsigned)gemma2_tokenizer_vocab_size(t.tok));
        printf("text:      %s, %zu bytes -> %zu ids (%.2f bytes per id)\n", file, len, n_ids,
               n_ids ? (double)len / (double)n_ids : 0.0);
        printf("encode:    best %.2f MB/s, mean %.2f MB/s over %lld runs (one thread, plain mode)\n", mb_best,
               mb_mean, reps);
        if (have_rss)
            printf("memory:    %.1f MB RSS growth while loading the tokenizer\n", rss_mb);
        else
            printf("memory:    unknown (no /proc/self/status)\n");
    }
    rc = cli_flush_stdout("bench-tokenizer");
done:
    free(ids);
    free(text);
    cli_tokenizer_close(&t);
    return rc;
}
