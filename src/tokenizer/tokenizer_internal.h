/* Internals of the tokenizer shared with its tests and fuzzer: encoding a single pre-tokenizer piece
 * with a chosen merge strategy, so the two strategies (a plain scan for short pieces, a priority
 * queue for long ones) can be checked against each other. Not for use by the rest of cgpt. */
#ifndef CGPT_TOKENIZER_INTERNAL_H
#define CGPT_TOKENIZER_INTERNAL_H

#include "tokenizer/tokenizer.h"

typedef enum {
    BPE_AUTO, /* what tokenizer_encode uses: scan for short pieces, priority queue for long ones */
    BPE_SCAN, /* rescans all adjacent pairs after every merge: O(n^2), fast for short pieces */
    BPE_HEAP  /* keeps candidate pairs in a min-heap: O(n log n) */
} BpeStrategy;

/* Appends the ids of one piece (bytes as produced by the pre-tokenizer) like tokenizer_encode. */
int tokenizer_encode_piece(const Tokenizer *tok, const uint8_t *piece, size_t len, BpeStrategy strategy,
                           int32_t **ids, size_t *count, size_t *capacity, Error *err);

#endif
