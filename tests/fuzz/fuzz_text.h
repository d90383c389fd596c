/* SPDX-License-Identifier: Apache-2.0 */
/* Checks shared by the text fuzz targets. */
#ifndef G2_FUZZ_TEXT_H
#define G2_FUZZ_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "gemma2.h"

/* 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int fuzz_valid_utf8(const char *s, size_t n);

/* Pushes ids through a gemma2_text_stream and flushes it; aborts if any text it gives
 * is not valid UTF-8 or a push fails other than for an id outside the tokenizer. */
void fuzz_check_stream(const gemma2_tokenizer *tok, const int32_t *ids, size_t n);

#endif
