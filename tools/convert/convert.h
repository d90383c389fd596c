/* SPDX-License-Identifier: Apache-2.0 */
/* `gemma2 convert`: Hugging Face Gemma 2 checkpoint folder → gemma2 model file. */
#ifndef G2_CONVERT_CONVERT_H
#define G2_CONVERT_CONVERT_H

/* Runs the convert command; argv[0] is "convert", argv[1..argc-1] its arguments:
 *   gemma2 convert SRC_DIR OUT [--dtype f32|bf16] [--compress] [--help]
 * Returns the process exit status: 0 success (or --help), 1 conversion error (one
 * line "gemma2: error: ..." on stderr), 2 usage error (usage on stderr). */
int g2_cli_convert(int argc, char **argv);

#include <stdint.h>

/* "f32", "bf16", "q8", "q4" → G2_TYPE_*; returns -1 for any other name. */
int g2_convert_type_from_name(const char *name, uint32_t *type);

/* The type of the tied embedding when the other matrices are matrix_type and the user
 * asked for embed_type (-1: not asked): q4 models keep it in q8 unless told otherwise,
 * since it is also the output projection and its error reaches every logit. */
uint32_t g2_convert_embed_type(uint32_t matrix_type, int embed_type);

#endif
