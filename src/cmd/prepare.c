/* cgpt prepare: text files to llm.c token shards (NAME_val.bin, NAME_train.bin), as llm.c's data
 * scripts make them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "data/prepare.h"
#include "io/files.h"
#include "util/args.h"
#include "util/timer.h"

static const char *usage_text =
    "usage: cgpt prepare FILE... --out DIR [--name NAME] [--val-tokens N]\n"
    "  Encodes the text files with the GPT-2 tokenizer, each \"\\n\\n\"-separated section preceded by\n"
    "  <|endoftext|> (50256), and writes DIR/NAME_val.bin (the first N tokens) and DIR/NAME_train.bin\n"
    "  (the rest) in llm.c's token shard format.\n"
    "  --out DIR        output folder (created if missing)\n"
    "  --name NAME      shard name prefix  [the first file's name without its extension]\n"
    "  --val-tokens N   validation tokens  [32768]\n"
    "example: cgpt prepare data/tinyshakespeare/input.txt --out data/shakespeare\n";

int cmd_prepare(int argc, char **argv) {
    Args args;
    args_init(&args, argc, argv, "prepare");
    const char *flag, *out_dir = NULL, *name = NULL;
    long long val_tokens = 32768;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int file_count = 0;
    while (args_next(&args, &flag)) {
        if (args_is_help(flag)) { fputs(usage_text, stdout); free(files); return 0; }
        else if (args_is(&args, "--out")) out_dir = args_value(&args);
        else if (args_is(&args, "--name")) name = args_value(&args);
        else if (args_is(&args, "--val-tokens")) val_tokens = args_int(&args, 1, 1LL << 40);
        else if (flag[0] == '-' && flag[1]) args_unknown(&args);
        else files[file_count++] = argv[args.index - 1];
    }
    if (file_count == 0) die(EXIT_BAD_INPUT, "prepare: no input files (see cgpt prepare --help)");
    if (!out_dir) die(EXIT_BAD_INPUT, "prepare: --out DIR is required");
    char stem[256];
    if (!name) {
        const char *base = strrchr(files[0], '/');
        base = base ? base + 1 : files[0];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
        name = stem;
    }
    if (!*name || strchr(name, '/')) die(EXIT_BAD_INPUT, "prepare: --name: '%s' is not a plain file name", name);

    Error err = {0};
    if (ensure_writable_dir(out_dir, 1, &err)) error_exit(&err);
    const char **texts = calloc((size_t)file_count, sizeof(char *));
    size_t *lengths = calloc((size_t)file_count, sizeof(size_t));
    for (int i = 0; i < file_count; i++) {
        void *data;
        if (read_whole_file(files[i], &data, &lengths[i], &err)) error_exit(&err);
        texts[i] = data;
    }
    Tokenizer *tok = tokenizer_load_embedded(&err);
    if (!tok) error_exit(&err);
    PrepareOptions options = {.out_dir = out_dir, .name = name, .val_tokens = (size_t)val_tokens, .show_progress = 1};
    size_t val, train;
    double start = now_seconds();
    if (prepare_shards(tok, texts, lengths, file_count, &options, &val, &train, &err)) error_exit(&err);
    printf("wrote %s/%s_val.bin (%zu tokens) and %s/%s_train.bin (%zu tokens) in %.2f s\n", out_dir, name, val,
           out_dir, name, train, now_seconds() - start);
    for (int i = 0; i < file_count; i++) free((void *)texts[i]);
    free(texts);
    free(lengths);
    free(files);
    tokenizer_free(tok);
    return 0;
}
