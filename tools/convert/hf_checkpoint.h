/* SPDX-License-Identifier: Apache-2.0 */
/* A Hugging Face Gemma 2 checkpoint folder: config.json plus either one
 * model.safetensors or the shards named by model.safetensors.index.json. */
#ifndef G2_CONVERT_HF_CHECKPOINT_H
#define G2_CONVERT_HF_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/format.h"
#include "safetensors.h"

typedef struct g2_hf_checkpoint {
    char *dir;
    g2_file_config config;
    uint8_t *layer_kinds; /* config.n_layers entries, G2_LAYER_* */
    g2_st_file **files;   /* each file once */
    size_t n_files;
    const g2_st_tensor **tensors; /* every tensor of every file, sorted by name */
    size_t n_tensors;
} g2_hf_checkpoint;

/* Reads and validates a config.json: fills *config and sets *layer_kinds to a
 * malloc'd array of config->n_layers bytes. Returns 0, or -1 with a message in err. */
int g2_hf_read_config(const char *path, g2_file_config *config, uint8_t **layer_kinds, char *err,
                      size_t err_cap);

/* Opens the checkpoint in folder dir: the config and every safetensors file; tensor
 * names must be unique across files and agree with the index. Returns 0 and sets
 * *out, or returns -1, sets *out to NULL and writes a one-line message into err. */
int g2_hf_open(g2_hf_checkpoint **out, const char *dir, char *err, size_t err_cap);

/* Frees ck and unmaps its files; accepts NULL. */
void g2_hf_close(g2_hf_checkpoint *ck);

/* The tensor called name in any file of ck, or NULL. */
const g2_st_tensor *g2_hf_find(const g2_hf_checkpoint *ck, const char *name);

#endif
