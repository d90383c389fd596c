/* SPDX-License-Identifier: Apache-2.0 */
/* Stop strings on streamed text: text that may be the start of a stop string is held
 * back until it is not, and a complete stop string ends the text just before it. */
#ifndef G2_INFER_STOPS_H
#define G2_INFER_STOPS_H

#include <stddef.h>

typedef struct g2_stops {
    const char *const *stop; /* n NUL-terminated, non-empty strings (the caller's) */
    size_t n;
    char *held; /* bytes not yet released, [cap] */
    size_t len, cap;
} g2_stops;

/* Appends text; the first *release held bytes may go out now (then g2_stops_consume).
 * Returns 1 when a stop string is complete (held then ends just before it), 0
 * otherwise, -1 out of memory (nothing appended). */
int g2_stops_push(g2_stops *m, const char *text, size_t len, size_t *release);
void g2_stops_consume(g2_stops *m, size_t n);
void g2_stops_free(g2_stops *m);

#endif
