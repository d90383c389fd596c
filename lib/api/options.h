/* SPDX-License-Identifier: Apache-2.0 */
/* The struct_size protocol of option and result structs (STYLE.md rule 4). */
#ifndef G2_API_OPTIONS_H
#define G2_API_OPTIONS_H

#include <stddef.h>

#include "gemma2.h"

/* _init: zero-fills size bytes at caller, copies the defaults that fit, and sets the
 * leading uint32_t struct_size to size. */
gemma2_status g2_struct_init(void *caller, size_t size, const void *defaults, size_t own_size,
                             const char *type);

/* Reads a caller's input struct (NULL = defaults) into own (own_size bytes, holding
 * the defaults on entry). Bytes past own_size must be zero. */
gemma2_status g2_struct_read(void *own, size_t own_size, const void *caller, const char *type);

/* Writes own (a full result) into a caller's output struct, as many bytes as the
 * caller's struct_size says, leaving its struct_size unchanged. */
gemma2_status g2_struct_write(void *caller, const void *own, size_t own_size, const char *type);

#endif
