/* SPDX-License-Identifier: Apache-2.0 */
/* gemma2: one binary, one command per file (cmd_*.c; convert lives in tools/convert). */
#include <stdio.h>
#include <string.h>

#include "convert/convert.h"
#include "gemma2/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"convert", g2_cli_convert, "convert a Hugging Face checkpoint folder into a gemma2 model file"},
    {"info", cmd_info, "show a model's config, tensors and digest"},
    {"verify", cmd_verify, "check every digest of a model file"},
    {"logits", cmd_logits, "write the logits of every position of a token sequence"},
    {"generate", cmd_generate, "generate token ids greedily after a token sequence"},
    {"run", cmd_run, "generate a reply to a prompt, streamed as text"},
    {"chat", cmd_chat, "chat interactively, the conversation kept in one session"},
    {"tokenize", cmd_tokenize, "encode standard input into token ids"},
    {"detokenize", cmd_detokenize, "decode token ids into text"},
    {"bench", cmd_bench, "measure prefill and decode speed against the memory-bandwidth roofline"},
    {"bench-tokenizer", cmd_bench_tokenizer, "measure the tokenizer's encode speed and memory"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: gemma2 <command> [options]\n       gemma2 <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\ngemma2 %s (library %s)\n", GEMMA2_VERSION_STRING, gemma2_version_string());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gemma2 %s\n", gemma2_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gemma2: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
