/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the fuzz targets (tests/fuzz/README.md). Each target defines
 * LLVMFuzzerTestOneInput; with libFuzzer (-fsanitize=fuzzer) it is fuzzed, and in every
 * other build driver.c runs it once per corpus file, so the corpora are regression
 * tests everywhere. */
#ifndef G2_FUZZ_H
#define G2_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path whose file holds exactly data[0..size): a memory file (memfd) reused by every
 * call, for the interfaces that take paths (model open, the converter's readers). NULL
 * if the memory file cannot be made. */
const char *fuzz_file(const void *data, size_t size);

/* Opens data[0..size) as a model file with one thread and these open flags: the model,
 * or NULL if it did not open (aborting if the failure left a handle or no message). */
struct gemma2_model *fuzz_open(const uint8_t *data, size_t size, uint32_t flags);

/* The micro model with a tokenizer that the text and state targets use (the
 * G2_FUZZ_MODEL path given at build time), opened once and kept. */
struct gemma2_model;
struct gemma2_model *fuzz_model(void);

/* Its tokenizer. */
struct gemma2_tokenizer;
const struct gemma2_tokenizer *fuzz_tokenizer(void);

#endif
