/* The in-order batch loader; see loader.h for the order it reads batches in. */
#include "train/loader.h"

#include <stdlib.h>
#include <string.h>

#include "io/files.h"

static int load_shard(DataLoader *l, int index, Error *err) {
    if (l->loaded_shard == index) return 0;
    free(l->tokens);
    l->tokens = NULL;
    l->loaded_shard = -1;
    if (shard_load(l->paths[index], l->vocab_limit, &l->tokens, &l->token_count, err)) return -1;
    size_t needed = (size_t)l->batch_size * l->seq_len + 1;
    if (l->token_count < needed)
        return error_set(err, EXIT_BAD_INPUT, "%s: holds %zu tokens, fewer than one batch of B*T+1 = %zu",
                         l->paths[index], l->token_count, needed);
    l->loaded_shard = index;
    return 0;
}

int loader_open(DataLoader *l, const char *pattern, int B, int T, int vocab_limit, Error *err) {
    memset(l, 0, sizeof *l);
    l->batch_size = B;
    l->seq_len = T;
    l->vocab_limit = vocab_limit;
    l->loaded_shard = -1;
    if (glob_paths(pattern, &l->paths, &l->num_shards, err)) return -1;
    l->inputs = malloc((size_t)B * T * sizeof(int32_t));
    l->targets = malloc((size_t)B * T * sizeof(int32_t));
    if (!l->inputs || !l->targets) {
        loader_close(l);
        return error_set(err, EXIT_RUNTIME, "out of memory for a batch of B=%d, T=%d", B, T);
    }
    if (load_shard(l, 0, err)) {
        loader_close(l);
        return -1;
    }
    return 0;
}

int loader_next(DataLoader *l, Error *err) {
    size_t batch = (size_t)l->batch_size * l->seq_len;
    /* move on when the batch (plus its last target) does not fit in this shard */
    for (int tries = 0; tries <= l->num_shards; tries++) {
        if (load_shard(l, (int)l->shard_index, err)) return -1;
        if ((size_t)l->position + batch + 1 <= l->token_count) break;
        l->shard_index = (l->shard_index + 1) % l->num_shards;
        l->position = 0;
    }
    const uint16_t *tokens = l->tokens + l->position;
    for (size_t i = 0; i < batch; i++) {
        l->inputs[i] = tokens[i];
        l->targets[i] = tokens[i + 1];
    }
    l->position += (int64_t)batch;
    return 0;
}

void loader_reset(DataLoader *l) {
    l->shard_index = 0;
    l->position = 0;
}

int loader_seek(DataLoader *l, int64_t shard_index, int64_t position, Error *err) {
    if (shard_index < 0 || shard_index >= l->num_shards || position < 0)
        return error_set(err, EXIT_BAD_INPUT, "saved data position (shard %lld, token %lld) does not fit the %d shard(s)",
                         (long long)shard_index, (long long)position, l->num_shards);
    l->shard_index = shard_index;
    l->position = position;
    return 0;
}

void loader_close(DataLoader *l) {
    if (l->paths) free_paths(l->paths, l->num_shards);
    free(l->tokens);
    free(l->inputs);
    free(l->targets);
    memset(l, 0, sizeof *l);
}
