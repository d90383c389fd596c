/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[512];

gemma2_status g2_error(gemma2_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return status;
}

void g2_error_clear(void) { last_message[0] = '\0'; }

const char *g2_error_message(void) { return last_message; }
