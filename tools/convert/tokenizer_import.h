/* SPDX-License-Identifier: Apache-2.0 */
/* Tokenizer import: a Hugging Face tokenizer.json or a SentencePiece tokenizer.model
 * (plus an optional tokenizer_config.json) → a tokenizer blob (tokenizer/blob.h),
 * the value of the "tokenizer" metadata record of a model file. Both sources are
 * validated completely; anything the blob cannot express exactly is an error. */
#ifndef G2_CONVERT_TOKENIZER_IMPORT_H
#define G2_CONVERT_TOKENIZER_IMPORT_H

#include <stddef.h>
#include <stdint.h>

/* Imports the tokenizer of checkpoint folder dir: tokenizer.model if present, else
 * tokenizer.json; then tokenizer_config.json if present. note (note_cap bytes)
 * receives one line worth telling the user, or "" (e.g. tokenizer.model was used
 * although tokenizer.json is there too). Returns 0 and a malloc'd *blob of *size
 * bytes; 1 with *blob NULL when dir has neither file; -1 with a one-line message in
 * err. */
int g2_tok_import_dir(const char *dir, uint8_t **blob, size_t *size, char *note, size_t note_cap, char *err,
                      size_t err_cap);

/* Imports one file, a tokenizer.json or tokenizer.model whatever its name (JSON if its
 * first non-blank byte is '{', else protobuf), with config_path, a
 * tokenizer_config.json, applied when not NULL. Returns 0 and a malloc'd *blob, or
 * -1 with a one-line message in err. */
int g2_tok_import_file(const char *path, const char *config_path, uint8_t **blob, size_t *size, char *err,
                       size_t err_cap);

#endif
