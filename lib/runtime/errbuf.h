/* SPDX-License-Identifier: Apache-2.0 */
/* Converter modules report failures as one line in a caller buffer; only convert.c prints. */
#ifndef G2_CONVERT_ERRBUF_H
#define G2_CONVERT_ERRBUF_H

#include <stddef.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
/* Formats the message into err (cap bytes) and returns -1. */
int g2_fail(char *err, size_t cap, const char *fmt, ...);

#endif
