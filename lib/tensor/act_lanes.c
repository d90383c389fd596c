/* SPDX-License-Identifier: Apache-2.0 */
/* Quantized activations in the lane order of the weights (lib/tensor/quant.h): a
 * portable byte shuffle, done once per input (prepare_act) or per chunk of a call, so
 * that the SIMD kernels multiply a group's 32-bit lanes with plain vector loads. */
#include <string.h>

#include "tensor/quant.h"

void g2_xgroups(const g2_qact *A, uint32_t t, uint32_t g0, uint32_t g1, g2_xgroup *out) {
    const size_t base = (size_t)t * A->nb;
    for (uint32_t g = g0; g < g1; g++, out++) {
        const uint32_t b0 = 16 * g, m = A->nb - b0 < 16 ? A->nb - b0 : 16;
        memset(out, 0, sizeof *out);
        for (uint32_t k = 0; k < m; k++) {
            const int8_t *hi = A->qs + (base + b0 + k) * G2_QK, *lo = A->ql + (base + b0 + k) * G2_QK;
            for (uint32_t v = 0; v < 8; v++) { /* elements 4v..4v+3 */
                memcpy(&out->hi[v][4 * k], hi + 4 * v, 4);
                if (A->digits != 1)
                    memcpy(&out->lo[v][4 * k], lo + 4 * v, 4);
            }
            out->dx[k] = A->d[base + b0 + k];
            out->corr[k] = -128 * A->sum[base + b0 + k];
        }
    }
}
