/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the converter's config.json reader (tools/convert/hf_checkpoint.c).
 * Checks: a failure writes a message; an accepted config has the sizes the format
 * needs (non-zero dimensions) and one layer kind per layer. */
#include <stdlib.h>

#include "convert/hf_checkpoint.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (!path)
        return 0;
    g2_file_config config;
    uint8_t *kinds = NULL;
    char err[512] = "";
    if (g2_hf_read_config(path, &config, &kinds, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        free(kinds);
        return 0;
    }
    if (!config.n_layers || !config.hidden_size || !config.vocab_size || !config.head_dim || !kinds)
        abort();
    for (uint32_t i = 0; i < config.n_layers; i++)
        if (kinds[i] > 1)
            abort();
    free(kinds);
    return 0;
}
