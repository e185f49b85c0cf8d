/* Text to llm.c token shards; see prepare.h. Large inputs are encoded in chunks that end right
 * after a "\n\n", which gives exactly the ids of encoding the whole text at once (each section is
 * encoded on its own anyway) and lets a progress bar advance. */
#include "data/prepare.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/embedded.h"
#include "io/files.h"
#include "util/timer.h"

enum { CHUNK_BYTES = 1 << 20 };

/* End of the chunk starting at start: just after the first "\n\n" at or beyond start+CHUNK_BYTES
 * (scanning non-overlapping pairs from start, as the section cutter does), or the end of text. */
static size_t chunk_end(const char *text, size_t len, size_t start) {
    size_t i = start;
    while (i + 1 < len) {
        if (text[i] == '\n' && text[i + 1] == '\n') {
            i += 2;
            if (i - start >= CHUNK_BYTES) return i;
        } else {
            i++;
        }
    }
    return len;
}

static void show_bar(size_t done, size_t total, double started) {
    int width = 40, filled = total ? (int)((double)done / total * width) : width;
    double elapsed = now_seconds() - started;
    fprintf(stderr, "\r  encoding [%.*s%*s] %5.1f%% %6.1f MB %5.1f s", filled, "########################################",
            width - filled, "", total ? 100.0 * done / total : 100.0, done / 1e6, elapsed);
    fflush(stderr);
}

int prepare_shards(const Tokenizer *tok, const char *const *texts, const size_t *lengths, int count,
                   const PrepareOptions *o, size_t *val_count, size_t *train_count, Error *err) {
    int32_t *ids = NULL;
    size_t n = 0, capacity = 0, total_bytes = 0, done_bytes = 0;
    for (int f = 0; f < count; f++) total_bytes += lengths[f];
    int progress = o->show_progress && total_bytes > 4 * CHUNK_BYTES;
    double started = now_seconds();
    for (int f = 0; f < count; f++) {
        for (size_t start = 0; start < lengths[f];) {
            size_t end = chunk_end(texts[f], lengths[f], start);
            if (tokenizer_encode_documents(tok, texts[f] + start, end - start, &ids, &n, &capacity, err)) {
                free(ids);
                return -1;
            }
            /* A chunk that ends in "\n\n" gets a <|endoftext|> for the empty section after it; the
             * next chunk starts with its own, so drop this one to match encoding the whole text. */
            if (end < lengths[f] && n > 0 && ids[n - 1] == GPT2_EOT_TOKEN) n--;
            done_bytes += end - start;
            start = end;
            if (progress) show_bar(done_bytes, total_bytes, started);
        }
    }
    if (progress) fputc('\n', stderr);
    if (n <= o->val_tokens) {
        free(ids);
        return error_set(err, EXIT_BAD_INPUT, "the input gives %zu tokens: not more than --val-tokens %zu, so no training data",
                         n, o->val_tokens);
    }
    uint16_t *tokens = malloc(n * sizeof(uint16_t));
    if (!tokens) {
        free(ids);
        return error_set(err, EXIT_RUNTIME, "out of memory for %zu tokens", n);
    }
    for (size_t i = 0; i < n; i++) tokens[i] = (uint16_t)ids[i];
    free(ids);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_val.bin", o->out_dir, o->name);
    int status = shard_save(path, tokens, o->val_tokens, err);
    if (status == 0) {
        snprintf(path, sizeof path, "%s/%s_train.bin", o->out_dir, o->name);
        status = shard_save(path, tokens + o->val_tokens, n - o->val_tokens, err);
    }
    free(tokens);
    if (status == 0) {
        *val_count = o->val_tokens;
        *train_count = n - o->val_tokens;
    }
    return status;
}

int prepare_embedded_shakespeare(const char *out_dir, Error *err) {
    if (ensure_writable_dir(out_dir, 1, err)) return -1;
    Tokenizer *tok = tokenizer_load_embedded(err);
    if (!tok) return -1;
    EmbeddedFile text = embedded_tiny_shakespeare();
    PrepareOptions options = {.out_dir = out_dir, .name = "tiny_shakespeare", .val_tokens = 32768};
    size_t val, train;
    int status = prepare_shards(tok, &text.data, &text.size, 1, &options, &val, &train, err);
    tokenizer_free(tok);
    return status;
}
