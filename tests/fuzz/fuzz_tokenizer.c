/* libFuzzer target for the GPT-2 tokenizer: any bytes (valid UTF-8 or not) encode to ids that
 * decode back to exactly those bytes, never include <|endoftext|>, and are the same whichever BPE
 * merge strategy runs; tokenizer_encode_documents adds one <|endoftext|> per section and otherwise
 * round-trips too. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

static const Tokenizer *fuzz_tokenizer(void) {
    static Tokenizer *tok; /* loaded once; reachable until exit, so not a leak */
    if (!tok) {
        Error err = {0};
        tok = tokenizer_load_embedded(&err);
        if (!tok) abort();
    }
    return tok;
}

/* Checks that ids (skipping <|endoftext|> when skip_end_of_text) decode to data; returns the
 * number of <|endoftext|> ids seen. */
static size_t check_decodes_to(const Tokenizer *tok, const int32_t *ids, size_t count, const uint8_t *data,
                               size_t size, int skip_end_of_text) {
    size_t pos = 0, end_of_texts = 0;
    for (size_t i = 0; i < count; i++) {
        if (ids[i] == GPT2_EOT_TOKEN) {
            if (!skip_end_of_text) abort();
            end_of_texts++;
            continue;
        }
        size_t len = 0;
        const char *bytes = tokenizer_token_bytes(tok, ids[i], &len);
        if (!bytes || len == 0 || len > size - pos || memcmp(bytes, data + pos, len) != 0) abort();
        pos += len;
    }
    if (pos != size) abort();
    return end_of_texts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const Tokenizer *tok = fuzz_tokenizer();
    const char *text = size ? (const char *)data : "";
    int32_t *ids = NULL, *scan = NULL, *heap = NULL;
    size_t count = 0, capacity = 0, scan_count, scan_capacity = 0, heap_count, heap_capacity = 0;
    Error err = {0};

    if (tokenizer_encode(tok, text, size, &ids, &count, &capacity, &err) != 0) abort();
    check_decodes_to(tok, ids, count, data, size, 0);

    /* Each piece of up to 128 bytes: the scan and the heap merge agree. */
    for (size_t pos = 0; pos < size;) {
        size_t end = pretokenize_next(data, size, pos);
        if (end <= pos || end > size) abort();
        if (end - pos <= 128) {
            scan_count = heap_count = 0;
            if (tokenizer_encode_piece(tok, data + pos, end - pos, BPE_SCAN, &scan, &scan_count, &scan_capacity, &err) != 0 ||
                tokenizer_encode_piece(tok, data + pos, end - pos, BPE_HEAP, &heap, &heap_count, &heap_capacity, &err) != 0)
                abort();
            if (scan_count != heap_count || memcmp(scan, heap, scan_count * sizeof *scan) != 0) abort();
        }
        pos = end;
    }

    /* Documents: one <|endoftext|> per "\n\n"-cut section, first id included. */
    count = 0;
    if (tokenizer_encode_documents(tok, text, size, &ids, &count, &capacity, &err) != 0) abort();
    size_t sections = 1;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '\n' && data[i + 1] == '\n') sections++, i++;
    if (count == 0 || ids[0] != GPT2_EOT_TOKEN) abort();
    if (check_decodes_to(tok, ids, count, data, size, 1) != sections) abort();

    free(ids);
    free(scan);
    free(heap);
    return 0;
}
