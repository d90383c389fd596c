/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 verify MODEL: every digest; exit 0 only if all match. */
#include <stdio.h>
#include <string.h>

#include "gemma2/cli.h"

static const char usage[] = "usage: gemma2 verify MODEL [-t N] [--no-mmap]\n"
                            "  Checks the header digest and the BLAKE2b digest of every tensor.\n"
                            "  Exit status 0 if all match, 1 otherwise (each failing tensor is named).\n"
                            "  A GGUF file has no checksums: it is only opened and read (every size and\n"
                            "  value checked, every tensor converted), and the output says so.\n";

int cmd_verify(int argc, char **argv) {
    const char *path = NULL;
    cli_common common = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag("verify", usage, argc, argv, &i, &common);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || path)
            return cli_usage_error("verify", usage, "unexpected argument '%s'", argv[i]);
        path = argv[i];
    }
    if (!path)
        return cli_usage_error("verify", usage, "missing MODEL");
    /* The header digest is checked by open; tensors are checked below, all of them. */
    gemma2_model *m;
    if (cli_open_model("verify", path, common.threads, GEMMA2_MODEL_SKIP_VERIFY | common.open_flags, &m))
        return CLI_EXIT_ERROR;
    uint32_t n = 0;
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    gemma2_model_get_info(m, &mi);
    n = mi.n_tensors;
    if (!mi.has_checksums) {
        gemma2_model_close(m);
        printf("%s: no checksums in the file (GGUF); it opened, and its %u tensors were read and converted\n",
               path, (unsigned)n);
        return 0;
    }
    int failed = 0;
    if (gemma2_model_verify(m, common.threads) != GEMMA2_OK) {
        /* Name every bad tensor, not just the first. */
        for (uint32_t i = 0; i < n; i++)
            if (gemma2_model_verify_tensor(m, i) != GEMMA2_OK) {
                fprintf(stderr, "gemma2 verify: error: %s\n", gemma2_last_error());
                failed++;
            }
    }
    gemma2_model_close(m);
    if (failed) {
        fprintf(stderr, "gemma2 verify: %d of %u tensors FAILED\n", failed, (unsigned)n);
        return CLI_EXIT_ERROR;
    }
    printf("%s: OK (header and %u tensors)\n", path, (unsigned)n);
    return 0;
}
