/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/errbuf.h"

#include <stdarg.h>
#include <stdio.h>

int g2_fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}
