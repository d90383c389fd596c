/* SPDX-License-Identifier: Apache-2.0 */
/* The tile functions of a SIMD table that tiles 4 or 1 weight rows × 2 or 1 tokens
 * (avx512.c, neon.c): one per weight type, digit count and shape, so that each is
 * compiled with its loops unrolled and without the lo products for one-digit inputs.
 *
 * The including file defines MAX_T (2), the function type tile_fn, and
 * TILE_FN(name, q4, two, R, T), which defines one function. TILE_FNS(q, q4) then
 * defines q's eight and the table q##_tiles[two digits][one row][T - 1]. */
#ifndef G2_TENSOR_KERNELS_TILE_FNS_H
#define G2_TENSOR_KERNELS_TILE_FNS_H

#define TILE_FNS(q, q4)                                                                                   \
    TILE_FN(q##_d2_4x2, q4, 1, 4, 2)                                                                      \
    TILE_FN(q##_d2_4x1, q4, 1, 4, 1)                                                                      \
    TILE_FN(q##_d2_1x2, q4, 1, 1, 2)                                                                      \
    TILE_FN(q##_d2_1x1, q4, 1, 1, 1)                                                                      \
    TILE_FN(q##_d1_4x2, q4, 0, 4, 2)                                                                      \
    TILE_FN(q##_d1_4x1, q4, 0, 4, 1)                                                                      \
    TILE_FN(q##_d1_1x2, q4, 0, 1, 2)                                                                      \
    TILE_FN(q##_d1_1x1, q4, 0, 1, 1)                                                                      \
    static tile_fn *const q##_tiles[2][2][MAX_T] = {{{q##_d1_4x1, q##_d1_4x2}, {q##_d1_1x1, q##_d1_1x2}}, \
                                                    {{q##_d2_4x1, q##_d2_4x2}, {q##_d2_1x1, q##_d2_1x2}}};

#endif
