/* GPT-2's byte-level BPE tokenizer in C: the same ids as OpenAI's tiktoken "gpt2" encoding for
 * any valid UTF-8 text, and exact bytes back from any valid id sequence. Text is ordinary text:
 * "<|endoftext|>" in the input is encoded as plain characters, never as token 50256. */
#ifndef CGPT_TOKENIZER_H
#define CGPT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum { GPT2_EOT_TOKEN = 50256, GPT2_VOCAB_SIZE = 50257 };

typedef struct Tokenizer Tokenizer;

/* Builds a tokenizer from the contents of encoder.json and vocab.bpe (errors name `source`). */
Tokenizer *tokenizer_from_memory(const char *encoder_json, size_t encoder_len, const char *vocab_bpe,
                                 size_t vocab_len, const char *source, Error *err);
/* Same, reading the two files. */
Tokenizer *tokenizer_load(const char *encoder_json_path, const char *vocab_bpe_path, Error *err);
/* The GPT-2 vocabulary embedded in the binary (data/gpt2). */
Tokenizer *tokenizer_load_embedded(Error *err);
void tokenizer_free(Tokenizer *tok);

int tokenizer_vocab_size(const Tokenizer *tok); /* 50257: 50256 merges-derived tokens + <|endoftext|> */

/* Appends the ids of text[0..len) to *ids (growing *ids and *capacity with realloc; *count updated).
 * Invalid UTF-8 (each byte that does not begin a complete, valid sequence) is treated as one
 * character per byte that is neither letter, number nor space; the bytes still decode back exactly. */
int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *count,
                     size_t *capacity, Error *err);
/* Encodes a corpus the way llm.c's Tiny Shakespeare script does: the text is cut right after each
 * "\n\n" (found left to right without overlap, so "\n\n\n" is cut after its first two newlines), and
 * every section, including an empty last one, is preceded by <|endoftext|> (so ids start with it).
 * Appends like tokenizer_encode. Fails if the vocabulary has no <|endoftext|> token. */
int tokenizer_encode_documents(const Tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *count,
                               size_t *capacity, Error *err);
/* The bytes of one token (not NUL-terminated; *len set). NULL if id is out of range. */
const char *tokenizer_token_bytes(const Tokenizer *tok, int id, size_t *len);

#endif
