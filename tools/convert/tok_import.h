/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the converter: the two tokenizer source readers, which fill a builder
 * (tokenizer/builder.h). Public entry points: tokenizer_import.h. */
#ifndef G2_CONVERT_TOK_IMPORT_H
#define G2_CONVERT_TOK_IMPORT_H

#include "tokenizer/builder.h"

/* data/size is the whole file; b is uninitialized on entry and must be freed by the
 * caller whatever the result. */
int g2_tok_read_hf_json(g2_tok_builder *b, const char *src, const uint8_t *data, size_t size, char *err,
                        size_t cap);
int g2_tok_read_spm(g2_tok_builder *b, const char *src, const uint8_t *data, size_t size, char *err,
                    size_t cap);

#endif
