/* SPDX-License-Identifier: Apache-2.0 */
#ifndef G2_TOKENIZER_CHAT_H
#define G2_TOKENIZER_CHAT_H

#include "tokenizer/tokenizer.h"

/* Appends the Gemma 2 chat prompt of n turns to out (see gemma2_chat_tokenize). */
gemma2_status g2_chat_encode(const gemma2_tokenizer *tok, const char *const *roles, const char *const *texts,
                             const size_t *lens, size_t n, uint32_t flags, g2_ids *out);

#endif
