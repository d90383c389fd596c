/* SPDX-License-Identifier: Apache-2.0 */
/* `gemma2 convert --synthetic SIZE OUT`: a model file with random weights at the real
 * Gemma 2 shapes (2b, 9b, 27b) or a small test shape (tiny), for benchmarks that need
 * no download. */
#ifndef G2_CONVERT_SYNTHETIC_H
#define G2_CONVERT_SYNTHETIC_H

/* The usage text of the synthetic form (ends with a newline). */
extern const char g2_synthetic_usage[];

/* 1 if the convert arguments argv[1..argc-1] ask for the synthetic form (a
 * --synthetic option before any "--"), else 0. */
int g2_synthetic_requested(int argc, char **argv);

/* Runs `gemma2 convert --synthetic ...`; argv[0] is "convert":
 *   gemma2 convert --synthetic 2b|9b|27b|tiny OUT [--dtype f32|bf16|q8|q4]
 *                  [--tokenizer FILE|DIR] [--seed N] [-t N] [--compress]
 * Returns the exit status: 0 success (or --help), 1 error (one line on stderr),
 * 2 usage error (message and usage on stderr). */
int g2_cli_convert_synthetic(int argc, char **argv);

#endif
