/* Small helpers shared by the subcommands. */
#ifndef CGPT_CMD_COMMON_H
#define CGPT_CMD_COMMON_H

#include <stddef.h>
#include <stdio.h>

#include "data/prepare.h"
#include "util/error.h"

/* Opens a JSON Lines log for writing (append = continue an existing one); status 2 if it cannot
 * be created, naming the file. */
FILE *open_log_file(const char *path, int append, Error *err);

/* Reads all of stdin (exits with "COMMAND: ..." on a read error or out of memory). */
char *read_stdin(const char *command, size_t *size);

/* The tokenizer from DIR/encoder.json and DIR/vocab.bpe, or the built-in one when vocab_dir is
 * NULL; exits with a message naming --vocab on failure. */
struct Tokenizer *load_tokenizer(const char *command, const char *vocab_dir);

/* The command line of encode and decode, whose only option is --vocab DIR: prints usage and
 * returns NULL for --help (the command then exits 0); otherwise the loaded tokenizer. Exits with
 * status 2 on an unknown option. */
struct Tokenizer *tokenizer_from_args(int argc, char **argv, const char *command, const char *usage);

#endif
