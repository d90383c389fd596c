/* SPDX-License-Identifier: Apache-2.0 */
/* Quantized tensors of older format versions (q4 before version 2, q8 before 3) were
 * stored with each row's blocks in order; this library's kernels read row sets in lane
 * order (lib/tensor/quant.h). Such a tensor is laid out again into memory at open, so
 * older files keep working (at the cost of a private copy: converting the model again
 * maps it instead). Its digest covers the stored bytes, so it is checked on those, at
 * open whatever the flags (the copy would otherwise hide damage from a later verify),
 * and again by verify. */
#include <sodium.h>
#include <stdlib.h>
#include <zstd.h>

#include "model/model.h"
#include "runtime/alloc.h"
#include "tensor/quant.h"

/* The tensor's stored bytes as raw bytes: in the mapping, or decompressed into a
 * buffer (*owned, to free). NULL with *status set on failure. */
static const uint8_t *raw_bytes(const g2_tensor *t, ZSTD_DCtx *dctx, uint8_t **owned, gemma2_status *status) {
    *owned = NULL;
    if (!t->compressed)
        return t->stored;
    uint8_t *buf = g2_malloc(t->n_bytes ? (size_t)t->n_bytes : 1);
    if (!buf) {
        *status = GEMMA2_ERR_OUT_OF_MEMORY;
        return NULL;
    }
    if (!g2_tensor_decompress(t, dctx, buf)) {
        free(buf);
        *status = GEMMA2_ERR_FORMAT;
        return NULL;
    }
    *owned = buf;
    return buf;
}

static int digest_ok(const g2_tensor *t, const uint8_t *raw) {
    uint8_t got[G2_DIGEST_LEN];
    crypto_generichash(got, sizeof got, raw, (unsigned long long)t->n_bytes, NULL, 0);
    return sodium_memcmp(got, t->digest, G2_DIGEST_LEN) == 0;
}

gemma2_status g2_tensor_relayout(const g2_tensor *t, void *dctx) {
    gemma2_status status = GEMMA2_OK;
    uint8_t *owned;
    const uint8_t *raw = raw_bytes(t, dctx, &owned, &status);
    if (!raw)
        return status;
    if (!digest_ok(t, raw)) {
        free(owned);
        return GEMMA2_ERR_CHECKSUM;
    }
    /* checked by the directory: a matrix [dims[0], dims[1]] of its type's size */
    const uint32_t rows = (uint32_t)t->dims[0], nb = g2_q_blocks((uint32_t)t->dims[1]);
    const uint32_t block_bytes = t->type == G2_TYPE_Q4 ? G2_QK / 2 : G2_QK;
    const size_t quant_bytes = (size_t)rows * nb * block_bytes;
    uint8_t *out = (uint8_t *)t->data;
    g2_q_place_rows(block_bytes, raw, (const uint16_t *)(const void *)(raw + quant_bytes), rows, nb, 0, rows,
                    out, (uint16_t *)(void *)(out + quant_bytes));
    free(owned);
    return GEMMA2_OK;
}

int g2_tensor_stored_digest_ok(const g2_tensor *t) {
    ZSTD_DCtx *dctx = NULL;
    if (t->compressed && !(dctx = ZSTD_createDCtx()))
        return -1;
    gemma2_status status = GEMMA2_OK;
    uint8_t *owned;
    const uint8_t *raw = raw_bytes(t, dctx, &owned, &status);
    ZSTD_freeDCtx(dctx);
    if (!raw)
        return status == GEMMA2_ERR_OUT_OF_MEMORY ? -1 : 0;
    const int ok = digest_ok(t, raw);
    free(owned);
    return ok;
}
