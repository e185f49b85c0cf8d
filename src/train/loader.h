/* Reads batches from llm.c token shards in order, as llm.c's unshuffled loader does: batch k of a
 * shard is tokens [k*B*T, (k+1)*B*T] (B*T+1 tokens: inputs and next-token targets); when the next
 * batch would run past the end of a shard the loader moves to the next shard, and after the last
 * one back to the first. Only the current shard is held in memory. */
#ifndef CGPT_LOADER_H
#define CGPT_LOADER_H

#include <stdint.h>
#include <stddef.h>

#include "util/error.h"

typedef struct {
    char **paths;
    int num_shards;
    int batch_size, seq_len;
    int vocab_limit;          /* tokens must be below this (the model's vocabulary) */
    int64_t shard_index;      /* shard the next batch comes from */
    int64_t position;         /* token offset of the next batch in that shard */
    int loaded_shard;         /* which shard is in tokens (-1: none) */
    uint16_t *tokens;
    size_t token_count;
    int32_t *inputs, *targets;/* [B*T] the current batch */
} DataLoader;

/* Opens the shards matching pattern; checks the first one (and that it holds at least one batch). */
int loader_open(DataLoader *loader, const char *pattern, int B, int T, int vocab_limit, Error *err);
/* Fills inputs/targets with the next batch and advances. */
int loader_next(DataLoader *loader, Error *err);
/* Back to the first batch of the first shard (validation restarts here each time). */
void loader_reset(DataLoader *loader);
/* Moves to a saved position (for resuming); checked against the shards. */
int loader_seek(DataLoader *loader, int64_t shard_index, int64_t position, Error *err);
void loader_close(DataLoader *loader);

#endif
