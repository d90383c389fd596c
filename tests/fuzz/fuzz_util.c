/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gemma2.h"

const char *fuzz_file(const void *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("gemma2-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return NULL;
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fd, (const char *)data + done, size - done, (off_t)done);
        if (n <= 0)
            return NULL;
        done += (size_t)n;
    }
    return path;
}

gemma2_model *fuzz_model(void) {
    static gemma2_model *model;
    if (!model && gemma2_model_open(G2_FUZZ_MODEL, NULL, &model) != GEMMA2_OK) {
        fprintf(stderr, "fuzz: cannot open %s: %s\n", G2_FUZZ_MODEL, gemma2_last_error());
        abort(); /* a setup error, not a finding */
    }
    return model;
}

const gemma2_tokenizer *fuzz_tokenizer(void) {
    const gemma2_tokenizer *tok = NULL;
    if (gemma2_model_tokenizer(fuzz_model(), &tok) != GEMMA2_OK)
        abort(); /* the micro model has one */
    return tok;
}

struct gemma2_model *fuzz_open(const uint8_t *data, size_t size, uint32_t flags) {
    const char *path = fuzz_file(data, size);
    if (!path)
        return NULL;
    gemma2_model_options o;
    gemma2_model_options_init(&o, sizeof o);
    o.n_threads = 1;
    o.flags = flags;
    gemma2_model *m = NULL;
    if (gemma2_model_open(path, &o, &m) != GEMMA2_OK) {
        if (m || !gemma2_last_error()[0])
            abort(); /* a failure leaves no handle and says why */
        return NULL;
    }
    return m;
}
