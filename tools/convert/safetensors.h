/* SPDX-License-Identifier: Apache-2.0 */
/* Read-only access to one .safetensors file: an 8-byte little-endian header length,
 * a JSON header describing each tensor, then the raw tensor bytes. The file is
 * mapped, and every offset, size and shape in the header is checked before use. */
#ifndef G2_CONVERT_SAFETENSORS_H
#define G2_CONVERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "model/format.h"

/* Element types the converter understands; anything else is G2_ST_OTHER, recorded
 * so that an unused odd tensor does not stop a conversion. */
#define G2_ST_F32 0
#define G2_ST_F16 1
#define G2_ST_BF16 2
#define G2_ST_OTHER 3

/* Largest JSON header accepted: real headers are well under 1 MB. */
#define G2_ST_MAX_HEADER ((uint64_t)100 << 20)

typedef struct g2_st_tensor {
    char *name;
    const char *file;    /* path of the file holding it (owned by the file) */
    uint32_t dtype;      /* G2_ST_* */
    char dtype_name[16]; /* as written in the header, for messages */
    uint32_t n_dims;
    uint64_t dims[G2_MAX_DIMS]; /* unused dims are 0 */
    const uint8_t *data;        /* inside the mapping; not aligned in general */
    uint64_t size;              /* bytes */
} g2_st_tensor;

typedef struct g2_st_file {
    char *path;
    uint8_t *map;
    size_t map_size;
    g2_st_tensor *tensors;
    size_t n_tensors;
} g2_st_file;

/* Opens and validates path. On success returns 0 and sets *out; on failure returns
 * -1, sets *out to NULL and writes a one-line message naming the file into err. */
int g2_st_open(g2_st_file **out, const char *path, char *err, size_t err_cap);

/* Unmaps and frees f; accepts NULL. Tensor pointers die with it. */
void g2_st_close(g2_st_file *f);

/* Bytes per element of a G2_ST_* type (0 for G2_ST_OTHER). */
size_t g2_st_dtype_size(uint32_t dtype);

#endif
