/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2 tokenize SOURCE [--ids] [--plain] [--jsonl]: standard input (raw bytes) →
 * comma-separated ids; or JSON lines {"text": ...} → {"ids": [...]}. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2/cli.h"
#include "gemma2/cli_text.h"

static const char usage[] =
    "usage: gemma2 tokenize SOURCE [--ids] [--plain] [--jsonl]\n"
    "  Encodes standard input, read as raw bytes (any size, NULs and invalid UTF-8\n"
    "  included), and prints its token ids comma-separated on one line, without <bos>.\n"
    "  SOURCE: a gemma2 model file, a GGUF file, a tokenizer.json, a tokenizer.model, or a\n"
    "  checkpoint folder (its tokenizer.model or tokenizer.json, and its\n"
    "  tokenizer_config.json).\n"
    "  By default the strings of the tokenizer's special tokens in the text (such as\n"
    "  \"<start_of_turn>\" when the checkpoint marks it special) become their ids.\n"
    "  --ids    print ids (the default)\n"
    "  --plain  every character is text: no special token is parsed (for untrusted text)\n"
    "  --jsonl  read JSON lines {\"text\": \"...\"} and print one line {\"ids\": [...]} for\n"
    "           each, in order\n";

static int print_line(const int32_t *ids, size_t n) {
    cli_print_ids(stdout, ids, n);
    putchar('\n');
    return cli_flush_stdout("tokenize");
}

static int tokenize_all(const gemma2_tokenizer *tok, uint32_t flags) {
    char *text;
    size_t len;
    if (cli_read_all(stdin, &text, &len))
        return cli_error("tokenize", "cannot read standard input: %s", strerror(errno));
    int32_t *ids;
    size_t n;
    int rc = cli_encode("tokenize", tok, text, len, flags, &ids, &n);
    free(text);
    if (rc)
        return rc;
    rc = print_line(ids, n);
    free(ids);
    return rc;
}

static int tokenize_jsonl(const gemma2_tokenizer *tok, uint32_t flags) {
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    long long lineno = 0;
    for (ssize_t got; rc == 0 && (got = getline(&line, &cap, stdin)) > 0;) {
        lineno++;
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &e);
        json_t *text = json_object_get(j, "text");
        if (!j) {
            rc = cli_error("tokenize", "standard input line %lld: bad JSON: %s", lineno, e.text);
        } else if (!json_is_string(text)) {
            rc = cli_error("tokenize", "standard input line %lld: expected an object with a string \"text\"",
                           lineno);
        } else {
            int32_t *ids;
            size_t n;
            rc = cli_encode("tokenize", tok, json_string_value(text), json_string_length(text), flags, &ids,
                            &n);
            if (rc == 0) {
                fputs("{\"ids\": [", stdout);
                for (size_t i = 0; i < n; i++)
                    printf(i ? ", %d" : "%d", (int)ids[i]);
                fputs("]}\n", stdout);
                rc = ferror(stdout) ? cli_flush_stdout("tokenize") : 0;
                free(ids);
            }
        }
        json_decref(j);
    }
    if (rc == 0 && ferror(stdin))
        rc = cli_error("tokenize", "cannot read standard input: %s", strerror(errno));
    free(line);
    return rc ? rc : cli_flush_stdout("tokenize");
}

int cmd_tokenize(int argc, char **argv) {
    const char *source = NULL;
    int plain = 0, jsonl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--ids")) {
            /* the default output */
        } else if (!strcmp(a, "--plain")) {
            plain = 1;
        } else if (!strcmp(a, "--jsonl")) {
            jsonl = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("tokenize", usage, "unknown option '%s'", a);
        } else if (!source) {
            source = a;
        } else {
            return cli_usage_error("tokenize", usage, "unexpected argument '%s'", a);
        }
    }
    if (!source)
        return cli_usage_error("tokenize", usage, "missing SOURCE");
    cli_ignore_sigpipe();
    cli_tokenizer t;
    int rc = cli_tokenizer_open("tokenize", source, &t);
    if (rc == 0) {
        uint32_t flags = plain ? 0 : GEMMA2_TOKENIZE_SPECIAL;
        rc = jsonl ? tokenize_jsonl(t.tok, flags) : tokenize_all(t.tok, flags);
    }
    cli_tokenizer_close(&t);
    return rc;
}
