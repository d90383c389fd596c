/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the converter's safetensors reader (tools/convert/safetensors.c) on a
 * file of arbitrary bytes. Checks: a failure writes a message and no handle; an opened
 * file's tensors lie inside it and their sizes agree with their shapes and types. */
#include <stdlib.h>

#include "convert/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (!path)
        return 0;
    g2_st_file *f = NULL;
    char err[512] = "";
    if (g2_st_open(&f, path, err, sizeof err) != 0) {
        if (f || !err[0])
            abort();
        return 0;
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        const g2_st_tensor *t = &f->tensors[i];
        if (!t->name || t->data < f->map || t->size > f->map_size ||
            (size_t)(t->data - f->map) > f->map_size - (size_t)t->size)
            abort();
        const size_t elem = g2_st_dtype_size(t->dtype);
        if (elem) {
            uint64_t n = 1;
            for (uint32_t d = 0; d < t->n_dims; d++)
                n *= t->dims[d];
            if (n * elem != t->size)
                abort();
        }
    }
    g2_st_close(f);
    return 0;
}
