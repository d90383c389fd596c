/* SPDX-License-Identifier: Apache-2.0 */
/* Read-only memory mapping of a whole file. */
#ifndef G2_RUNTIME_FILE_H
#define G2_RUNTIME_FILE_H

#include <stdint.h>

#include "gemma2.h"

typedef struct g2_mapped_file {
    const uint8_t *data; /* NULL for an empty file */
    uint64_t size;
} g2_mapped_file;

/* Maps path read-only (MAP_PRIVATE, so later writes to the file by others are not
 * promised to be seen; see docs/security.md), or with copy != 0 reads it into private
 * anonymous memory (MADV_HUGEPAGE, then made read-only). GEMMA2_ERR_IO with errno
 * text, GEMMA2_ERR_OUT_OF_MEMORY. Either way g2_file_unmap releases it. */
gemma2_status g2_file_map(const char *path, int copy, g2_mapped_file *out);
void g2_file_unmap(g2_mapped_file *file);

#endif
