/* SPDX-License-Identifier: Apache-2.0 */
/* Memory read bandwidth of this machine, as `gemma2 bench` uses it for the decode
 * roofline: n threads sum disjoint slices of one buffer much larger than the caches,
 * read-only, either one 64-bit word per 64-byte cache line or every word, whichever
 * this machine reads faster (timed when the reader opens: see membw.c); the best of
 * several passes is kept. */
#ifndef G2_CLI_MEMBW_H
#define G2_CLI_MEMBW_H

#include <stddef.h>

/* how a pass reads its slice */
enum { CLI_MEMBW_LINES = 0, CLI_MEMBW_WORDS = 1 };

typedef struct cli_membw {
    double gb_s;      /* best pass: bytes read / seconds / 1e9 */
    double mean_gb_s; /* mean over the passes */
    size_t bytes;     /* buffer size read per pass */
    int threads;      /* threads that read */
    int passes;       /* timed passes */
    int method;       /* CLI_MEMBW_LINES or CLI_MEMBW_WORDS: the faster here */
    double method_gb_s[2]; /* [CLI_MEMBW_*]: each method's best pass when it was chosen */
} cli_membw;

/* Buffer size for a measurement: at least min_bytes, and at least four times the
 * largest cache the C library reports (sysconf), rounded up to 64 MiB. */
size_t cli_membw_default_bytes(size_t min_bytes);

/* Allocates `bytes` once, writes every page from the threads that will read it (so
 * that first-touch placement and page faults stay out of the timing), then runs
 * `passes` timed read passes with `threads` threads (the caller's thread is one of
 * them) and frees the buffer. Returns 0, or -1 with a one-line message in err
 * (allocation or thread creation failed). */
int cli_membw_measure(int threads, size_t bytes, int passes, cli_membw *out, char *err, size_t err_cap);

/* The same buffer and threads kept for passes on demand (bench pairs each burst of
 * decode steps with the passes on either side of it). The threads sleep between
 * passes. */
typedef struct cli_membw_reader cli_membw_reader;

/* Allocates and touches the buffer as cli_membw_measure does, then times two passes
 * of each read method and keeps the faster for every later pass. Returns 0, or -1 with
 * a message in err. */
int cli_membw_open(int threads, size_t bytes, cli_membw_reader **out, char *err, size_t err_cap);
/* A short name of a CLI_MEMBW_* method ("every word", ...). */
const char *cli_membw_method_name(int method);
/* One timed pass: GB/s. */
double cli_membw_pass(cli_membw_reader *r);
/* Stops the threads and frees the buffer; NULL is a no-op. */
void cli_membw_close(cli_membw_reader *r);

#endif
