/* SPDX-License-Identifier: Apache-2.0 */
/* The thread-local "last error" message behind gemma2_last_error(). Per thread, not
 * per handle, because a model is shared by threads and a failed open has no handle. */
#ifndef G2_RUNTIME_ERROR_H
#define G2_RUNTIME_ERROR_H

#include "gemma2.h"

#if defined(__GNUC__)
#    define G2_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#    define G2_PRINTF(a, b)
#endif

/* Records a formatted message for status and returns status, so callers can write
 * `return g2_error(GEMMA2_ERR_FORMAT, "...", ...);`. */
gemma2_status g2_error(gemma2_status status, const char *fmt, ...) G2_PRINTF(2, 3);

/* Called on entry of every public function: the message describes the last call. */
void g2_error_clear(void);

const char *g2_error_message(void);

#endif
