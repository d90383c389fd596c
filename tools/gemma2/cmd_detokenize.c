/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 detokenize SOURCE --ids 1,2,3 [--skip-special]: the text bytes of the ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"
#include "gemma2/cli_text.h"

static const char usage[] =
    "usage: gemma2 detokenize SOURCE --ids ID,ID,... [--skip-special]\n"
    "  Decodes token ids and writes the text bytes exactly, with no newline added\n"
    "  (byte-fallback pieces become their bytes, so the text of `gemma2 tokenize --plain`\n"
    "  comes back as it was). --ids \"\" is no ids. SOURCE is as for `gemma2 tokenize`:\n"
    "  a gemma2 model file, a tokenizer.json, a tokenizer.model, or a checkpoint folder.\n"
    "  --skip-special  leave out special and control pieces (<bos>, <end_of_turn>, ...)\n";

int cmd_detokenize(int argc, char **argv) {
    const char *source = NULL, *ids_arg = NULL;
    uint32_t flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--ids")) {
            if (i + 1 >= argc)
                return cli_usage_error("detokenize", usage, "--ids needs a value");
            ids_arg = argv[++i];
        } else if (!strcmp(a, "--skip-special")) {
            flags |= GEMMA2_DETOKENIZE_SKIP_SPECIAL;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("detokenize", usage, "unknown option '%s'", a);
        } else if (!source) {
            source = a;
        } else {
            return cli_usage_error("detokenize", usage, "unexpected argument '%s'", a);
        }
    }
    if (!source || !ids_arg)
        return cli_usage_error("detokenize", usage, "SOURCE and --ids are required");
    int32_t *ids = NULL;
    size_t n = 0;
    if (ids_arg[0] && cli_parse_tokens(ids_arg, &ids, &n))
        return cli_usage_error("detokenize", usage, "bad --ids '%s': expected comma-separated ids", ids_arg);

    cli_ignore_sigpipe();
    cli_tokenizer t;
    char *text = NULL;
    int rc = cli_tokenizer_open("detokenize", source, &t);
    if (rc == 0) {
        size_t need = 0, len = 0;
        gemma2_status st = gemma2_detokenize(t.tok, ids, n, flags, NULL, 0, &need);
        if (st == GEMMA2_ERR_BUFFER_TOO_SMALL && (text = malloc(need)) != NULL)
            st = gemma2_detokenize(t.tok, ids, n, flags, text, need, &len);
        if (st == GEMMA2_ERR_BUFFER_TOO_SMALL && !text)
            rc = cli_error("detokenize", "out of memory for %zu bytes of text", need);
        else if (st != GEMMA2_OK)
            rc = cli_fail("detokenize", st);
        else if (len)
            fwrite(text, 1, len, stdout);
        if (rc == 0)
            rc = cli_flush_stdout("detokenize");
    }
    free(text);
    free(ids);
    cli_tokenizer_close(&t);
    return rc;
}
