/* Helpers shared by the subcommands; see common.h. */
#include "cmd/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "util/args.h"

FILE *open_log_file(const char *path, int append, Error *err) {
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) error_set(err, EXIT_BAD_INPUT, "%s: cannot write the log: %s", path, strerror(errno));
    return f;
}

char *read_stdin(const char *command, size_t *size) {
    size_t capacity = 1 << 16, used = 0;
    char *data = xmalloc(capacity, "the input");
    for (;;) {
        used += fread(data + used, 1, capacity - used, stdin);
        if (ferror(stdin)) {
            int error = errno;
            free(data);
            die(EXIT_RUNTIME, "%s: cannot read stdin: %s", command, strerror(error));
        }
        if (used < capacity) break;
        capacity *= 2;
        char *grown = realloc(data, capacity);
        if (!grown) {
            free(data);
            die(EXIT_RUNTIME, "%s: out of memory reading stdin (%zu bytes so far)", command, used);
        }
        data = grown;
    }
    *size = used;
    return data;
}

Tokenizer *load_tokenizer(const char *command, const char *vocab_dir) {
    Error err = {0};
    Tokenizer *tok;
    if (vocab_dir) {
        char encoder_path[4096], vocab_path[4096];
        snprintf(encoder_path, sizeof encoder_path, "%s/encoder.json", vocab_dir);
        snprintf(vocab_path, sizeof vocab_path, "%s/vocab.bpe", vocab_dir);
        tok = tokenizer_load(encoder_path, vocab_path, &err);
    } else {
        tok = tokenizer_load_embedded(&err);
    }
    if (!tok) die(err.status ? err.status : EXIT_RUNTIME, "%s: %s%s", command, vocab_dir ? "--vocab: " : "", err.message);
    return tok;
}

Tokenizer *tokenizer_from_args(int argc, char **argv, const char *command, const char *usage) {
    Args args;
    args_init(&args, argc, argv, command);
    const char *flag, *vocab_dir = NULL;
    while (args_next(&args, &flag)) {
        if (args_is_help(flag)) {
            fputs(usage, stdout);
            return NULL;
        } else if (args_is(&args, "--vocab")) {
            vocab_dir = args_value(&args);
        } else {
            args_unknown(&args);
        }
    }
    return load_tokenizer(command, vocab_dir);
}
