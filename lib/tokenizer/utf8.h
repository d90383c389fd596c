/* SPDX-License-Identifier: Apache-2.0 */
/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
#ifndef G2_TOKENIZER_UTF8_H
#define G2_TOKENIZER_UTF8_H

#include <stddef.h>

/* Length of the sequence a lead byte announces (0 if it can never start one). */
static inline size_t g2_utf8_lead_len(unsigned char c) {
    return c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : (c >> 4) == 0xE ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/* Whether b may be byte number `index` (1..3) of a sequence that starts with lead. */
static inline int g2_utf8_continues(unsigned char lead, size_t index, unsigned char b) {
    if ((b & 0xC0) != 0x80)
        return 0;
    if (index == 1) /* the second byte narrows the range after E0, ED, F0, F4 */
        return !((lead == 0xE0 && b < 0xA0) || (lead == 0xED && b >= 0xA0) || (lead == 0xF0 && b < 0x90) ||
                 (lead == 0xF4 && b >= 0x90));
    return 1;
}

/* Length of the valid character at s (avail >= 1 bytes), or 0 if the bytes there
 * do not form one. */
static inline size_t g2_utf8_char_len(const unsigned char *s, size_t avail) {
    size_t len = g2_utf8_lead_len(s[0]);
    if (len == 0 || len > avail)
        return 0;
    for (size_t k = 1; k < len; k++)
        if (!g2_utf8_continues(s[0], k, s[k]))
            return 0;
    return len;
}

#endif
