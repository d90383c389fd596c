/* SPDX-License-Identifier: Apache-2.0 */
/* Argument checking shared by the public entry points. */
#ifndef G2_API_CHECK_H
#define G2_API_CHECK_H

#include "runtime/error.h"

/* Returns GEMMA2_ERR_INVALID_ARGUMENT with a message unless cond holds. */
#define CHECK_ARG(cond, ...)                                           \
    do {                                                               \
        if (!(cond))                                                   \
            return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, __VA_ARGS__); \
    } while (0)

#endif
