/* SPDX-License-Identifier: Apache-2.0 */
#include "api/options.h"

#include <stdint.h>
#include <string.h>

#include "runtime/error.h"

/* No struct will ever be this large: a bigger struct_size is garbage, not a newer caller. */
#define MAX_STRUCT_SIZE 4096u

gemma2_status g2_struct_init(void *caller, size_t size, const void *defaults, size_t own_size,
                             const char *type) {
    if (!caller || size < sizeof(uint32_t) || size > UINT32_MAX)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT, "%s init: NULL pointer or bad size %zu", type, size);
    memset(caller, 0, size);
    memcpy(caller, defaults, size < own_size ? size : own_size);
    uint32_t s32 = (uint32_t)size;
    memcpy(caller, &s32, sizeof s32);
    return GEMMA2_OK;
}

static gemma2_status caller_size(const void *caller, const char *type, uint32_t *size) {
    memcpy(size, caller, sizeof *size);
    if (*size < sizeof(uint32_t) || *size > MAX_STRUCT_SIZE)
        return g2_error(GEMMA2_ERR_INVALID_ARGUMENT,
                        "%s has struct_size %u: fill it with its _init function first", type,
                        (unsigned)*size);
    return GEMMA2_OK;
}

gemma2_status g2_struct_read(void *own, size_t own_size, const void *caller, const char *type) {
    if (!caller)
        return GEMMA2_OK;
    uint32_t size;
    gemma2_status st = caller_size(caller, type, &size);
    if (st != GEMMA2_OK)
        return st;
    for (size_t i = own_size; i < size; i++)
        if (((const unsigned char *)caller)[i] != 0)
            return g2_error(GEMMA2_ERR_UNSUPPORTED, "%s sets fields this library (version %s) does not know",
                            type, GEMMA2_VERSION_STRING);
    memcpy(own, caller, size < own_size ? size : own_size);
    uint32_t s32 = (uint32_t)own_size;
    memcpy(own, &s32, sizeof s32);
    return GEMMA2_OK;
}

gemma2_status g2_struct_write(void *caller, const void *own, size_t own_size, const char *type) {
    uint32_t size;
    gemma2_status st = caller_size(caller, type, &size);
    if (st != GEMMA2_OK)
        return st;
    size_t n = size < own_size ? size : own_size;
    memcpy((unsigned char *)caller + sizeof size, (const unsigned char *)own + sizeof size, n - sizeof size);
    return GEMMA2_OK;
}
