/* SPDX-License-Identifier: Apache-2.0 */
/* `gemma2 convert`: Hugging Face Gemma 2 checkpoint folder → gemma2 model file. */
#ifndef G2_CONVERT_CONVERT_H
#define G2_CONVERT_CONVERT_H

/* Runs the convert command; argv[0] is "convert", argv[1..argc-1] its arguments:
 *   gemma2 convert SRC_DIR OUT [--dtype f32|bf16] [--compress] [--help]
 * Returns the process exit status: 0 success (or --help), 1 conversion error (one
 * line "gemma2: error: ..." on stderr), 2 usage error (usage on stderr). */
int g2_cli_convert(int argc, char **argv);

#endif
