/* cgpt: the single binary. Dispatches to one subcommand per file in src/cmd/, and answers
 * --help and --version (which lists the backends and matmul rungs compiled in). */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "cpu/matmul/matmul.h"
#include "util/cpu.h"

#ifndef CGPT_VERSION
#define CGPT_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"prepare", cmd_prepare, "encode text files into llm.c token shards (train/val)"},
    {"encode", cmd_encode, "text on stdin to GPT-2 token ids on stdout"},
    {"decode", cmd_decode, "token ids on stdin to text on stdout"},
    {"train", cmd_train, "train GPT-2 (no arguments: the built-in Tiny Shakespeare run)"},
    {"generate", cmd_generate, "sample text from a checkpoint"},
    {"bench", cmd_bench, "measure every matmul rung on whole training steps and GEMMs"},
    {"plot", cmd_plot, "draw loss curves or the rung ladder as SVG"},
};

static void usage(FILE *out) {
    fprintf(out,
            "cgpt %s: GPT-2 training and generation in plain C\n\n"
            "usage: cgpt COMMAND [options]     (cgpt COMMAND --help for each)\n\n",
            CGPT_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n  --version  list the backends and matmul rungs compiled in\n");
}

static void version(void) {
    printf("cgpt %s\n", CGPT_VERSION);
    printf("backends: cpu\n");
    printf("cpu: %s\n", cpu_features()->brand);
    printf("matmul rungs (auto = %s):\n", matmul_auto()->name);
    int count;
    const MatmulRung *const *rungs = matmul_rungs(&count);
    for (int i = 0; i < count; i++)
        printf("  %-9s %-5s %-13s %-11s %s\n", rungs[i]->name, rungs[i]->precision, rungs[i]->needs,
               rungs[i]->available() ? "available" : "unavailable", rungs[i]->description);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cgpt: unknown command '%s' (see cgpt --help)\n", argv[1]);
    return 2;
}
