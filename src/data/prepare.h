/* Text to token shards: encodes text as llm.c's data scripts do (each "\n\n"-separated section
 * preceded by <|endoftext|>) and writes NAME_val.bin (the first val_tokens tokens) and
 * NAME_train.bin (the rest) in llm.c's shard format. */
#ifndef CGPT_PREPARE_H
#define CGPT_PREPARE_H

#include <stddef.h>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

typedef struct {
    const char *out_dir;
    const char *name;     /* shard name prefix */
    size_t val_tokens;    /* 32768 as llm.c */
    int show_progress;    /* a progress bar on stderr for large inputs */
} PrepareOptions;

/* Encodes texts[0..count) one after another and writes the two shards. Reports token counts in
 * *val_count and *train_count. */
int prepare_shards(const Tokenizer *tok, const char *const *texts, const size_t *lengths, int count,
                   const PrepareOptions *options, size_t *val_count, size_t *train_count, Error *err);
/* The built-in Tiny Shakespeare into DIR/tiny_shakespeare_{val,train}.bin. */
int prepare_embedded_shakespeare(const char *out_dir, Error *err);

#endif
