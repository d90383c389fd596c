/* SPDX-License-Identifier: Apache-2.0 */
/* Stop strings on streamed text (stops.h). */
#include "infer/stops.h"
#include "runtime/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The length of the longest proper suffix of held that starts some stop string: any
 * match still to come starts inside it. */
static size_t partial_stop(const g2_stops *m) {
    size_t best = 0;
    for (size_t k = 0; k < m->n; k++) {
        const size_t sl = strlen(m->stop[k]);
        for (size_t l = sl - 1 < m->len ? sl - 1 : m->len; l > best; l--)
            if (!memcmp(m->held + m->len - l, m->stop[k], l)) {
                best = l;
                break;
            }
    }
    return best;
}

int g2_stops_push(g2_stops *m, const char *text, size_t len, size_t *release) {
    if (len > SIZE_MAX / 2 - m->len)
        return -1;
    if (m->len + len > m->cap) {
        const size_t cap = (m->len + len) * 2;
        char *grown = g2_realloc(m->held, cap);
        if (!grown)
            return -1;
        m->held = grown;
        m->cap = cap;
    }
    if (len)
        memcpy(m->held + m->len, text, len);
    m->len += len;
    /* the earliest complete stop string wins; text may hold NUL bytes, so no strstr */
    size_t first = SIZE_MAX;
    for (size_t k = 0; k < m->n; k++) {
        const size_t sl = strlen(m->stop[k]);
        for (size_t at = 0; at + sl <= m->len && at < first; at++)
            if (!memcmp(m->held + at, m->stop[k], sl)) {
                first = at;
                break;
            }
    }
    if (first != SIZE_MAX) {
        m->len = first;
        *release = first;
        return 1;
    }
    *release = m->len - partial_stop(m);
    return 0;
}

void g2_stops_consume(g2_stops *m, size_t n) {
    if (n == 0)
        return; /* held may still be NULL */
    memmove(m->held, m->held + n, m->len - n);
    m->len -= n;
}

void g2_stops_free(g2_stops *m) {
    free(m->held);
    m->held = NULL;
    m->len = m->cap = 0;
}
