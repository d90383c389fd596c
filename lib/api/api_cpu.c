/* SPDX-License-Identifier: Apache-2.0 */
/* CPU features and the kernel table (lib/runtime/cpu.c). */
#include "api/check.h"
#include "gemma2.h"
#include "runtime/cpu.h"

const char *gemma2_cpu_kernels(void) { return g2_kernels_select()->name; }

gemma2_status gemma2_cpu_describe(char *buf, size_t cap, size_t *len) {
    g2_error_clear();
    CHECK_ARG(len, "gemma2_cpu_describe: len is NULL");
    *len = 0;
    CHECK_ARG(buf || cap == 0, "gemma2_cpu_describe: buf is NULL");
    const size_t need = g2_cpu_describe(NULL, 0);
    *len = need;
    if (need >= cap)
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL,
                        "the description needs %zu bytes with its NUL, the buffer has %zu", need + 1, cap);
    /* GEMMA2_ISA could change in between: report a longer text as too small too. */
    if ((*len = g2_cpu_describe(buf, cap)) >= cap)
        return g2_error(GEMMA2_ERR_BUFFER_TOO_SMALL, "the description changed while being written");
    return GEMMA2_OK;
}
