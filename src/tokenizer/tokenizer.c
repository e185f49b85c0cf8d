/* GPT-2 byte-level BPE: loads encoder.json (token string -> id) and vocab.bpe (merge rules in rank
 * order), cuts text into pre-tokenizer pieces and merges the bytes of each piece the way tiktoken
 * does: a piece that is itself a token is that token; otherwise the adjacent pair whose
 * concatenation is the lowest-ranked token merges first (leftmost on ties), until none can. */
#include "tokenizer/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/embedded.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_internal.h"

/* GPT-2 writes token bytes as printable characters: byte b is character byte_to_code_point[b].
 * The 68 bytes that are not printable Latin-1 take code points 256..323, so all are below
 * BYTE_CODE_POINT_LIMIT. */
enum { BYTE_CODE_POINT_LIMIT = 256 + 68 };
static const int32_t NO_TOKEN = -1;

struct Tokenizer {
    int vocab_size;
    int end_of_text;        /* id of "<|endoftext|>", or -1 if the vocabulary has none */
    uint32_t *token_start;  /* token id's bytes are token_bytes[token_start[id] .. token_start[id + 1]) */
    uint8_t *token_bytes;
    uint8_t *mergeable;     /* per id: 1 for single bytes and merge results (what BPE can produce) */
    int32_t byte_token[256];
    /* Open-addressing hash of every token's bytes -> id. A slot holds the high 32 bits of the
     * hash (checked before the bytes are compared) above the id; SLOT_EMPTY marks an empty one. */
    uint64_t *token_slots;
    size_t token_slot_mask;
    /* Open-addressing hash of (left id, right id) -> id of their concatenation, for every way of
     * splitting each mergeable token into two mergeable tokens. Since token ids equal merge ranks
     * (checked on load), the value is also the rank of that merge. */
    uint64_t *pair_keys;    /* PAIR_EMPTY marks an empty slot */
    int32_t *pair_tokens;
    size_t pair_slot_mask;
};

static const uint64_t PAIR_EMPTY = UINT64_MAX, SLOT_EMPTY = UINT64_MAX;

/* ---- small helpers ---- */

static void byte_unicode_tables(uint32_t byte_to_code_point[256], int16_t code_point_to_byte[BYTE_CODE_POINT_LIMIT]) {
    /* Printable Latin-1 bytes stand for themselves; the others (controls, space, DEL, NBSP, soft
     * hyphen...) take code points 256, 257, ... in byte order. */
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_to_code_point[b] = printable ? (uint32_t)b : next++;
    }
    for (int c = 0; c < BYTE_CODE_POINT_LIMIT; c++) code_point_to_byte[c] = -1;
    for (int b = 0; b < 256; b++) code_point_to_byte[byte_to_code_point[b]] = (int16_t)b;
}

static uint64_t hash_bytes(const uint8_t *bytes, size_t len) {
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
    return hash ^ (hash >> 29);
}

static uint64_t hash_pair(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static size_t power_of_two_at_least(size_t n) {
    size_t size = 16;
    while (size < n) size *= 2;
    return size;
}

static size_t token_length(const Tokenizer *tok, int32_t id) {
    return tok->token_start[id + 1] - tok->token_start[id];
}

/* Id of the token with these bytes (any token, special ones included), or NO_TOKEN. */
static int32_t find_token(const Tokenizer *tok, const uint8_t *bytes, size_t len) {
    uint64_t hash = hash_bytes(bytes, len);
    uint32_t tag = (uint32_t)(hash >> 32);
    size_t slot = hash & tok->token_slot_mask;
    for (;;) {
        uint64_t entry = tok->token_slots[slot];
        if (entry == SLOT_EMPTY) return NO_TOKEN;
        int32_t id = (int32_t)(uint32_t)entry;
        if ((uint32_t)(entry >> 32) == tag && token_length(tok, id) == len &&
            memcmp(tok->token_bytes + tok->token_start[id], bytes, len) == 0)
            return id;
        slot = (slot + 1) & tok->token_slot_mask;
    }
}

/* Like find_token, but only tokens that BPE can produce: "<|endoftext|>" in text stays text. */
static int32_t find_mergeable(const Tokenizer *tok, const uint8_t *bytes, size_t len) {
    int32_t id = find_token(tok, bytes, len);
    return id != NO_TOKEN && tok->mergeable[id] ? id : NO_TOKEN;
}

/* Id of the concatenation of tokens left and right, or NO_TOKEN if that is not a token. */
static inline int32_t find_pair(const Tokenizer *tok, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t slot = hash_pair(key) & tok->pair_slot_mask;
    for (;;) {
        uint64_t found = tok->pair_keys[slot];
        if (found == key) return tok->pair_tokens[slot];
        if (found == PAIR_EMPTY) return NO_TOKEN;
        slot = (slot + 1) & tok->pair_slot_mask;
    }
}

static int grow_ids(int32_t **ids, size_t *capacity, size_t needed, Error *err) {
    if (needed <= *capacity) return 0;
    size_t new_capacity = *capacity ? *capacity : 256;
    while (new_capacity < needed) {
        if (new_capacity > SIZE_MAX / 2 / sizeof **ids) return error_set(err, EXIT_RUNTIME, "too many tokens");
        new_capacity *= 2;
    }
    int32_t *grown = realloc(*ids, new_capacity * sizeof **ids);
    if (!grown) return error_set(err, EXIT_RUNTIME, "out of memory for %zu token ids", new_capacity);
    *ids = grown;
    *capacity = new_capacity;
    return 0;
}

static int append_ids(int32_t **ids, size_t *count, size_t *capacity, const int32_t *source, size_t n, Error *err) {
    if (grow_ids(ids, capacity, *count + n, err) != 0) return -1;
    memcpy(*ids + *count, source, n * sizeof *source);
    *count += n;
    return 0;
}

/* A growable byte array. */
typedef struct {
    uint8_t *data;
    size_t size, capacity;
} ByteBuffer;

static int buffer_push(ByteBuffer *buffer, uint8_t byte) {
    if (buffer->size == buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity * 2 : 4096;
        uint8_t *grown = realloc(buffer->data, capacity);
        if (!grown) return -1;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    buffer->data[buffer->size++] = byte;
    return 0;
}

/* ---- loading ---- */

/* One encoder.json entry while parsing: its bytes are pool[offset .. offset + length). */
typedef struct {
    uint32_t offset, length;
    int32_t id;
} ParsedToken;

typedef struct {
    const char *text;
    size_t len, pos;
    const char *source;
    Error *err;
    int16_t code_point_to_byte[BYTE_CODE_POINT_LIMIT];
} JsonReader;

static int json_error(JsonReader *reader, const char *what) {
    return error_set(reader->err, EXIT_BAD_INPUT, "%s: encoder.json: byte %zu: %s", reader->source, reader->pos, what);
}

static void json_skip_space(JsonReader *reader) {
    while (reader->pos < reader->len) {
        char c = reader->text[reader->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        reader->pos++;
    }
}

static int json_peek(JsonReader *reader) {
    json_skip_space(reader);
    return reader->pos < reader->len ? (unsigned char)reader->text[reader->pos] : -1;
}

static int json_hex4(JsonReader *reader, uint32_t *value) {
    if (reader->len - reader->pos < 4) return json_error(reader, "cut-off \\u escape");
    *value = 0;
    for (int i = 0; i < 4; i++) {
        char c = reader->text[reader->pos++];
        uint32_t digit;
        if (c >= '0' && c <= '9') digit = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') digit = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') digit = (uint32_t)(c - 'A' + 10);
        else return json_error(reader, "bad \\u escape");
        *value = *value * 16 + digit;
    }
    return 0;
}

/* Reads one JSON string (reader at its opening quote), turning each character back into the byte
 * it stands for in GPT-2's byte-to-unicode table. */
static int json_token_string(JsonReader *reader, ByteBuffer *out) {
    if (json_peek(reader) != '"') return json_error(reader, "expected a string");
    reader->pos++;
    for (;;) {
        if (reader->pos >= reader->len) return json_error(reader, "unterminated string");
        unsigned char c = (unsigned char)reader->text[reader->pos];
        uint32_t code_point;
        if (c == '"') {
            reader->pos++;
            return 0;
        } else if (c == '\\') {
            if (reader->pos + 1 >= reader->len) return json_error(reader, "unterminated string");
            char escape = reader->text[reader->pos + 1];
            reader->pos += 2;
            switch (escape) {
            case '"': code_point = '"'; break;
            case '\\': code_point = '\\'; break;
            case '/': code_point = '/'; break;
            case 'b': code_point = '\b'; break;
            case 'f': code_point = '\f'; break;
            case 'n': code_point = '\n'; break;
            case 'r': code_point = '\r'; break;
            case 't': code_point = '\t'; break;
            case 'u':
                if (json_hex4(reader, &code_point) != 0) return -1;
                if (code_point >= 0xD800 && code_point <= 0xDBFF) { /* a surrogate pair */
                    uint32_t low;
                    if (reader->len - reader->pos < 6 || reader->text[reader->pos] != '\\' ||
                        reader->text[reader->pos + 1] != 'u')
                        return json_error(reader, "unpaired surrogate escape");
                    reader->pos += 2;
                    if (json_hex4(reader, &low) != 0) return -1;
                    if (low < 0xDC00 || low > 0xDFFF) return json_error(reader, "unpaired surrogate escape");
                    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
                }
                break;
            default: reader->pos -= 2; return json_error(reader, "unknown escape");
            }
        } else {
            size_t length = utf8_decode((const uint8_t *)reader->text, reader->len, reader->pos, &code_point);
            if (code_point == UTF8_INVALID) return json_error(reader, "invalid UTF-8");
            reader->pos += length;
        }
        if (code_point >= BYTE_CODE_POINT_LIMIT || reader->code_point_to_byte[code_point] < 0)
            return json_error(reader, "token has a character outside GPT-2's byte-to-unicode table");
        if (buffer_push(out, (uint8_t)reader->code_point_to_byte[code_point]) != 0)
            return error_set(reader->err, EXIT_RUNTIME, "out of memory reading encoder.json");
    }
}

static int json_token_id(JsonReader *reader, int32_t *id) {
    json_skip_space(reader);
    size_t start = reader->pos;
    long long value = 0;
    while (reader->pos < reader->len && reader->text[reader->pos] >= '0' && reader->text[reader->pos] <= '9') {
        value = value * 10 + (reader->text[reader->pos++] - '0');
        if (value > INT32_MAX - 1) return json_error(reader, "token id too large");
    }
    if (reader->pos == start) return json_error(reader, "expected a token id (a non-negative integer)");
    *id = (int32_t)value;
    return 0;
}

/* Parses encoder.json into tok->token_start/token_bytes (ids must be 0..n-1, each once). */
static int parse_encoder(Tokenizer *tok, const char *json, size_t len, const char *source, Error *err) {
    JsonReader reader = {.text = json, .len = len, .source = source, .err = err};
    uint32_t byte_to_code_point[256];
    byte_unicode_tables(byte_to_code_point, reader.code_point_to_byte);
    ByteBuffer pool = {0};
    ParsedToken *parsed = NULL;
    size_t count = 0, capacity = 0;
    int status = -1;

    if (json_peek(&reader) != '{') {
        json_error(&reader, "expected '{'");
        goto done;
    }
    reader.pos++;
    if (json_peek(&reader) == '}') {
        reader.pos++;
    } else {
        for (;;) {
            if (count == capacity) {
                capacity = capacity ? capacity * 2 : 65536;
                ParsedToken *grown = realloc(parsed, capacity * sizeof *parsed);
                if (!grown) {
                    error_set(err, EXIT_RUNTIME, "out of memory reading encoder.json");
                    goto done;
                }
                parsed = grown;
            }
            size_t offset = pool.size;
            if (json_token_string(&reader, &pool) != 0) goto done;
            if (pool.size - offset == 0) {
                json_error(&reader, "empty token");
                goto done;
            }
            if (json_peek(&reader) != ':') {
                json_error(&reader, "expected ':'");
                goto done;
            }
            reader.pos++;
            int32_t id = 0;
            if (json_token_id(&reader, &id) != 0) goto done;
            parsed[count++] = (ParsedToken){(uint32_t)offset, (uint32_t)(pool.size - offset), id};
            int next = json_peek(&reader);
            reader.pos++;
            if (next == '}') break;
            if (next != ',') {
                reader.pos--;
                json_error(&reader, "expected ',' or '}'");
                goto done;
            }
        }
    }
    if (json_peek(&reader) != -1) {
        json_error(&reader, "unexpected data after the object");
        goto done;
    }
    if (count == 0 || count > INT32_MAX / 2 || pool.size > UINT32_MAX) {
        error_set(err, EXIT_BAD_INPUT, "%s: encoder.json: has %zu tokens", source, count);
        goto done;
    }

    tok->vocab_size = (int)count;
    tok->token_start = calloc(count + 1, sizeof *tok->token_start);
    uint32_t *length_of_id = calloc(count, sizeof *length_of_id);
    tok->token_bytes = malloc(pool.size ? pool.size : 1);
    if (!tok->token_start || !length_of_id || !tok->token_bytes) {
        free(length_of_id);
        error_set(err, EXIT_RUNTIME, "out of memory reading encoder.json");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        int32_t id = parsed[i].id;
        if ((size_t)id >= count || length_of_id[id] != 0) {
            free(length_of_id);
            error_set(err, EXIT_BAD_INPUT, "%s: encoder.json: token id %d is %s (ids must be 0..%zu, each once)",
                      source, id, (size_t)id >= count ? "out of range" : "used twice", count - 1);
            goto done;
        }
        length_of_id[id] = parsed[i].length;
    }
    for (size_t id = 0; id < count; id++) tok->token_start[id + 1] = tok->token_start[id] + length_of_id[id];
    for (size_t i = 0; i < count; i++)
        memcpy(tok->token_bytes + tok->token_start[parsed[i].id], pool.data + parsed[i].offset, parsed[i].length);
    free(length_of_id);
    status = 0;
done:
    free(pool.data);
    free(parsed);
    return status;
}

static int build_token_index(Tokenizer *tok, const char *source, Error *err) {
    size_t slots = power_of_two_at_least((size_t)tok->vocab_size * 2);
    tok->token_slots = malloc(slots * sizeof *tok->token_slots);
    if (!tok->token_slots) return error_set(err, EXIT_RUNTIME, "out of memory building the token index");
    for (size_t i = 0; i < slots; i++) tok->token_slots[i] = SLOT_EMPTY;
    tok->token_slot_mask = slots - 1;
    for (int32_t id = 0; id < tok->vocab_size; id++) {
        const uint8_t *bytes = tok->token_bytes + tok->token_start[id];
        size_t len = token_length(tok, id);
        int32_t existing = find_token(tok, bytes, len);
        if (existing != NO_TOKEN)
            return error_set(err, EXIT_BAD_INPUT, "%s: encoder.json: tokens %d and %d have the same bytes", source,
                             existing, id);
        uint64_t hash = hash_bytes(bytes, len);
        size_t slot = hash & tok->token_slot_mask;
        while (tok->token_slots[slot] != SLOT_EMPTY) slot = (slot + 1) & tok->token_slot_mask;
        tok->token_slots[slot] = (hash >> 32) << 32 | (uint32_t)id;
    }
    return 0;
}

/* Decodes one side of a merge rule (UTF-8 text of byte-standing characters) into bytes. */
static int merge_side_bytes(const uint8_t *text, size_t len, const int16_t *code_point_to_byte, ByteBuffer *out) {
    for (size_t pos = 0; pos < len;) {
        uint32_t code_point;
        pos += utf8_decode(text, len, pos, &code_point);
        if (code_point >= BYTE_CODE_POINT_LIMIT || code_point_to_byte[code_point] < 0) return -1;
        if (buffer_push(out, (uint8_t)code_point_to_byte[code_point]) != 0) return -1;
    }
    return 0;
}

/* Reads vocab.bpe and checks it against encoder.json: merge rule k (counting from 0, after the
 * "#version" line) must join two tokens BPE can already produce into token 256 + k, so that ids are
 * merge ranks. Marks single bytes and merge results as mergeable. */
static int parse_merges(Tokenizer *tok, const char *text, size_t len, const char *source, Error *err) {
    uint32_t byte_to_code_point[256];
    int16_t code_point_to_byte[BYTE_CODE_POINT_LIMIT];
    byte_unicode_tables(byte_to_code_point, code_point_to_byte);
    tok->mergeable = calloc((size_t)tok->vocab_size, 1);
    if (!tok->mergeable) return error_set(err, EXIT_RUNTIME, "out of memory reading vocab.bpe");
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        int32_t id = find_token(tok, &byte, 1);
        if (id == NO_TOKEN)
            return error_set(err, EXIT_BAD_INPUT, "%s: encoder.json: no token for byte 0x%02X", source, (unsigned)b);
        tok->byte_token[b] = id;
        tok->mergeable[id] = 1;
    }

    ByteBuffer merged = {0};
    size_t pos = 0, line_number = 0, merge_index = 0;
    int status = 0;
    while (pos < len && status == 0) {
        const char *line = text + pos;
        const char *newline = memchr(line, '\n', len - pos);
        size_t line_len = newline ? (size_t)(newline - line) : len - pos;
        pos += line_len + (newline ? 1 : 0);
        line_number++;
        if (line_len > 0 && line[line_len - 1] == '\r') line_len--;
        if (line_len == 0 || (line_number == 1 && line[0] == '#')) continue;

        const char *space = memchr(line, ' ', line_len);
        if (!space || space == line || space == line + line_len - 1 ||
            memchr(space + 1, ' ', line_len - (size_t)(space - line) - 1)) {
            status = error_set(err, EXIT_BAD_INPUT, "%s: vocab.bpe line %zu: expected two tokens separated by one space",
                               source, line_number);
            break;
        }
        merged.size = 0;
        size_t left_len = (size_t)(space - line);
        if (merge_side_bytes((const uint8_t *)line, left_len, code_point_to_byte, &merged) != 0) {
            status = error_set(err, EXIT_BAD_INPUT, "%s: vocab.bpe line %zu: a character outside GPT-2's byte-to-unicode table",
                               source, line_number);
            break;
        }
        size_t left_bytes = merged.size;
        if (merge_side_bytes((const uint8_t *)space + 1, line_len - left_len - 1, code_point_to_byte, &merged) != 0) {
            status = error_set(err, EXIT_BAD_INPUT, "%s: vocab.bpe line %zu: a character outside GPT-2's byte-to-unicode table",
                               source, line_number);
            break;
        }
        int32_t left = find_mergeable(tok, merged.data, left_bytes);
        int32_t right = find_mergeable(tok, merged.data + left_bytes, merged.size - left_bytes);
        int32_t result = find_token(tok, merged.data, merged.size);
        size_t expected = 256 + merge_index;
        if (left == NO_TOKEN || right == NO_TOKEN) {
            status = error_set(err, EXIT_BAD_INPUT, "%s: vocab.bpe line %zu: merges a token that no earlier rule makes",
                               source, line_number);
        } else if (result == NO_TOKEN || (size_t)result != expected) {
            status = error_set(err, EXIT_BAD_INPUT,
                               "%s: vocab.bpe line %zu: merge result is token %d in encoder.json, expected %zu "
                               "(encoder.json and vocab.bpe do not match)",
                               source, line_number, (int)result, expected);
        } else {
            tok->mergeable[result] = 1;
            merge_index++;
        }
    }
    free(merged.data);
    return status;
}

/* Fills the pair table: every split of every mergeable token into two mergeable tokens. The pairs
 * are gathered first so that the table can be sized once. */
static int build_pair_index(Tokenizer *tok, Error *err) {
    typedef struct {
        int32_t left, right, merged;
    } Pair;
    Pair *pairs = NULL;
    size_t count = 0, capacity = 0;
    for (int32_t id = 0; id < tok->vocab_size; id++) {
        if (!tok->mergeable[id]) continue;
        const uint8_t *bytes = tok->token_bytes + tok->token_start[id];
        size_t len = token_length(tok, id);
        for (size_t split = 1; split < len; split++) {
            int32_t left = find_mergeable(tok, bytes, split);
            if (left == NO_TOKEN) continue;
            int32_t right = find_mergeable(tok, bytes + split, len - split);
            if (right == NO_TOKEN) continue;
            if (count == capacity) {
                capacity = capacity ? capacity * 2 : 65536;
                Pair *grown = realloc(pairs, capacity * sizeof *pairs);
                if (!grown) {
                    free(pairs);
                    return error_set(err, EXIT_RUNTIME, "out of memory building the merge table");
                }
                pairs = grown;
            }
            pairs[count++] = (Pair){left, right, id};
        }
    }
    size_t slots = power_of_two_at_least(count * 2 + 1);
    tok->pair_keys = malloc(slots * sizeof *tok->pair_keys);
    tok->pair_tokens = malloc(slots * sizeof *tok->pair_tokens);
    if (!tok->pair_keys || !tok->pair_tokens) {
        free(pairs);
        return error_set(err, EXIT_RUNTIME, "out of memory building the merge table");
    }
    for (size_t i = 0; i < slots; i++) tok->pair_keys[i] = PAIR_EMPTY;
    tok->pair_slot_mask = slots - 1;
    for (size_t i = 0; i < count; i++) {
        uint64_t key = (uint64_t)(uint32_t)pairs[i].left << 32 | (uint32_t)pairs[i].right;
        size_t slot = hash_pair(key) & tok->pair_slot_mask;
        while (tok->pair_keys[slot] != PAIR_EMPTY) slot = (slot + 1) & tok->pair_slot_mask;
        tok->pair_keys[slot] = key;
        tok->pair_tokens[slot] = pairs[i].merged;
    }
    free(pairs);
    return 0;
}

Tokenizer *tokenizer_from_memory(const char *encoder_json, size_t encoder_len, const char *vocab_bpe,
                                 size_t vocab_len, const char *source, Error *err) {
    if (!source) source = "tokenizer";
    Tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        error_set(err, EXIT_RUNTIME, "out of memory loading the tokenizer");
        return NULL;
    }
    if ((!encoder_json && encoder_len) || (!vocab_bpe && vocab_len)) {
        error_set(err, EXIT_BAD_INPUT, "%s: missing vocabulary data", source);
        goto fail;
    }
    if (parse_encoder(tok, encoder_json, encoder_len, source, err) != 0) goto fail;
    if (build_token_index(tok, source, err) != 0) goto fail;
    if (parse_merges(tok, vocab_bpe, vocab_len, source, err) != 0) goto fail;
    if (build_pair_index(tok, err) != 0) goto fail;
    static const char end_of_text[] = "<|endoftext|>";
    tok->end_of_text = find_token(tok, (const uint8_t *)end_of_text, sizeof end_of_text - 1);
    if (tok->end_of_text != NO_TOKEN && tok->mergeable[tok->end_of_text]) tok->end_of_text = NO_TOKEN;
    return tok;
fail:
    tokenizer_free(tok);
    return NULL;
}

static int read_file(const char *path, char **data, size_t *size, Error *err) {
    FILE *file = fopen(path, "rb");
    if (!file) return error_set(err, EXIT_BAD_INPUT, "cannot open '%s': %s", path, strerror(errno));
    size_t capacity = 1 << 20, used = 0;
    char *buffer = malloc(capacity);
    while (buffer) {
        used += fread(buffer + used, 1, capacity - used, file);
        if (used < capacity) break;
        char *grown = realloc(buffer, capacity * 2);
        if (!grown) {
            free(buffer);
            buffer = NULL;
            break;
        }
        buffer = grown;
        capacity *= 2;
    }
    int failed = ferror(file);
    fclose(file);
    if (!buffer) return error_set(err, EXIT_RUNTIME, "out of memory reading '%s'", path);
    if (failed) {
        free(buffer);
        return error_set(err, EXIT_BAD_INPUT, "cannot read '%s'", path);
    }
    *data = buffer;
    *size = used;
    return 0;
}

Tokenizer *tokenizer_load(const char *encoder_json_path, const char *vocab_bpe_path, Error *err) {
    char *encoder = NULL, *vocab = NULL;
    size_t encoder_len = 0, vocab_len = 0;
    Tokenizer *tok = NULL;
    if (read_file(encoder_json_path, &encoder, &encoder_len, err) == 0 &&
        read_file(vocab_bpe_path, &vocab, &vocab_len, err) == 0) {
        char source[512];
        snprintf(source, sizeof source, "'%s' + '%s'", encoder_json_path, vocab_bpe_path);
        tok = tokenizer_from_memory(encoder, encoder_len, vocab, vocab_len, source, err);
    }
    free(encoder);
    free(vocab);
    return tok;
}

Tokenizer *tokenizer_load_embedded(Error *err) {
    EmbeddedFile encoder = embedded_encoder_json(), vocab = embedded_vocab_bpe();
    return tokenizer_from_memory(encoder.data, encoder.size, vocab.data, vocab.size, "embedded data/gpt2", err);
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->token_start);
    free(tok->token_bytes);
    free(tok->mergeable);
    free(tok->token_slots);
    free(tok->pair_keys);
    free(tok->pair_tokens);
    free(tok);
}

int tokenizer_vocab_size(const Tokenizer *tok) { return tok->vocab_size; }

const char *tokenizer_token_bytes(const Tokenizer *tok, int id, size_t *len) {
    if (id < 0 || id >= tok->vocab_size) return NULL;
    *len = token_length(tok, id);
    return (const char *)tok->token_bytes + tok->token_start[id];
}

/* ---- BPE on one piece ---- */

/* Pieces up to this many bytes use the scan; it works in arrays on the stack. */
enum { SCAN_MAX_BYTES = 128 };

/* Merges by rescanning: parts[] holds the current tokens, pair_rank[i] the token that parts i and
 * i+1 would merge into (its id is its rank) or INT32_MAX if they cannot merge. */
static int bpe_scan(const Tokenizer *tok, const uint8_t *piece, size_t len, int32_t **ids, size_t *count,
                    size_t *capacity, Error *err) {
    int32_t parts[SCAN_MAX_BYTES], pair_rank[SCAN_MAX_BYTES];
    size_t n = len;
    for (size_t i = 0; i < n; i++) parts[i] = tok->byte_token[piece[i]];
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t merged = find_pair(tok, parts[i], parts[i + 1]);
        pair_rank[i] = merged == NO_TOKEN ? INT32_MAX : merged;
    }
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (pair_rank[i] < pair_rank[best]) best = i; /* strict: the leftmost of equal ranks */
        if (pair_rank[best] == INT32_MAX) break;
        parts[best] = pair_rank[best];
        /* Drop part best+1 and the pair (best+1, best+2). */
        memmove(parts + best + 1, parts + best + 2, (n - best - 2) * sizeof *parts);
        if (n >= best + 3) memmove(pair_rank + best + 1, pair_rank + best + 2, (n - best - 3) * sizeof *pair_rank);
        n--;
        if (best + 1 < n) {
            int32_t merged = find_pair(tok, parts[best], parts[best + 1]);
            pair_rank[best] = merged == NO_TOKEN ? INT32_MAX : merged;
        }
        if (best > 0) {
            int32_t merged = find_pair(tok, parts[best - 1], parts[best]);
            pair_rank[best - 1] = merged == NO_TOKEN ? INT32_MAX : merged;
        }
    }
    return append_ids(ids, count, capacity, parts, n, err);
}

/* A candidate merge of the parts starting at bytes left and right; stale once either has changed. */
typedef struct {
    int32_t rank;
    uint32_t left, right;
    int32_t right_token;
} HeapEntry;

static int heap_less(const HeapEntry *a, const HeapEntry *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(HeapEntry *heap, size_t *size, HeapEntry entry) {
    size_t i = (*size)++;
    while (i > 0 && heap_less(&entry, &heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = entry;
}

static HeapEntry heap_pop(HeapEntry *heap, size_t *size) {
    HeapEntry top = heap[0], last = heap[--*size];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *size) break;
        if (child + 1 < *size && heap_less(&heap[child + 1], &heap[child])) child++;
        if (!heap_less(&heap[child], &last)) break;
        heap[i] = heap[child];
        i = child;
    }
    if (*size > 0) heap[i] = last;
    return top;
}

/* Merges with a min-heap of candidate pairs ordered by (rank, position), which picks the same merge
 * as the scan at every step. Parts form a linked list indexed by their first byte; part_token is
 * NO_TOKEN for bytes that are no longer the start of a part. */
static int bpe_heap(const Tokenizer *tok, const uint8_t *piece, size_t len, int32_t **ids, size_t *count,
                    size_t *capacity, Error *err) {
    if (len >= UINT32_MAX / 4) return error_set(err, EXIT_BAD_INPUT, "text has a single piece of %zu bytes (too long)", len);
    int32_t *part_token = malloc(len * sizeof *part_token);
    uint32_t *next = malloc(len * sizeof *next), *prev = malloc(len * sizeof *prev);
    size_t heap_capacity = 3 * len, heap_size = 0; /* n-1 initial pairs + at most 2 per merge */
    HeapEntry *heap = malloc(heap_capacity * sizeof *heap);
    int status = 0;
    if (!part_token || !next || !prev || !heap) {
        status = error_set(err, EXIT_RUNTIME, "out of memory encoding a %zu-byte piece", len);
        goto done;
    }
    const uint32_t end = (uint32_t)len;
    for (uint32_t i = 0; i < end; i++) {
        part_token[i] = tok->byte_token[piece[i]];
        next[i] = i + 1;
        prev[i] = i == 0 ? end : i - 1; /* end = no neighbour */
    }
    for (uint32_t i = 0; i + 1 < end; i++) {
        int32_t merged = find_pair(tok, part_token[i], part_token[i + 1]);
        if (merged != NO_TOKEN) heap_push(heap, &heap_size, (HeapEntry){merged, i, i + 1, part_token[i + 1]});
    }
    while (heap_size > 0) {
        HeapEntry entry = heap_pop(heap, &heap_size);
        /* A part only grows by absorbing its right neighbour, so the entry is current iff the left
         * part still exists with the same neighbour and that neighbour still has the same token. */
        if (part_token[entry.left] == NO_TOKEN || next[entry.left] != entry.right ||
            part_token[entry.right] != entry.right_token)
            continue;
        uint32_t left = entry.left, right = entry.right;
        part_token[left] = entry.rank;
        part_token[right] = NO_TOKEN;
        next[left] = next[right];
        if (next[left] != end) prev[next[left]] = left;
        if (prev[left] != end) {
            uint32_t before = prev[left];
            int32_t merged = find_pair(tok, part_token[before], part_token[left]);
            if (merged != NO_TOKEN) heap_push(heap, &heap_size, (HeapEntry){merged, before, left, part_token[left]});
        }
        if (next[left] != end) {
            uint32_t after = next[left];
            int32_t merged = find_pair(tok, part_token[left], part_token[after]);
            if (merged != NO_TOKEN) heap_push(heap, &heap_size, (HeapEntry){merged, left, after, part_token[after]});
        }
    }
    size_t parts = 0;
    for (uint32_t i = 0; i != end; i = next[i]) part_token[parts++] = part_token[i]; /* compact in place */
    status = append_ids(ids, count, capacity, part_token, parts, err);
done:
    free(part_token);
    free(next);
    free(prev);
    free(heap);
    return status;
}

int tokenizer_encode_piece(const Tokenizer *tok, const uint8_t *piece, size_t len, BpeStrategy strategy,
                           int32_t **ids, size_t *count, size_t *capacity, Error *err) {
    if (len == 0) return 0;
    int32_t whole = find_mergeable(tok, piece, len);
    if (whole != NO_TOKEN) return append_ids(ids, count, capacity, &whole, 1, err);
    if (strategy == BPE_SCAN && len > SCAN_MAX_BYTES)
        return error_set(err, EXIT_BAD_INPUT, "BPE_SCAN handles pieces up to %d bytes", SCAN_MAX_BYTES);
    if (strategy == BPE_HEAP || len > SCAN_MAX_BYTES) return bpe_heap(tok, piece, len, ids, count, capacity, err);
    return bpe_scan(tok, piece, len, ids, count, capacity, err);
}

/* ---- encoding text ---- */

/* A direct-mapped cache of encoded short pieces, one per encode call (so the shared Tokenizer stays
 * read-only and thread-safe). Text repeats its words, so most pieces are found here. */
enum { CACHE_SLOTS = 1 << 15, CACHE_PIECE_MAX = 22, CACHE_IDS_MAX = 8, CACHE_MIN_TEXT = 4096 };
typedef struct {
    uint8_t length; /* 0 = empty */
    uint8_t id_count;
    uint8_t bytes[CACHE_PIECE_MAX];
    int32_t ids[CACHE_IDS_MAX];
} CacheEntry;

typedef struct {
    CacheEntry *cache; /* NULL: no cache (short text, or it could not be allocated) */
} EncodeSession;

static void session_begin(EncodeSession *session, size_t text_len) {
    session->cache = text_len >= CACHE_MIN_TEXT ? calloc(CACHE_SLOTS, sizeof *session->cache) : NULL;
}

static void session_end(EncodeSession *session) { free(session->cache); }

static int encode_text(const Tokenizer *tok, EncodeSession *session, const uint8_t *text, size_t len, int32_t **ids,
                       size_t *count, size_t *capacity, Error *err) {
    size_t pos = 0;
    while (pos < len) {
        size_t end = pretokenize_next(text, len, pos);
        const uint8_t *piece = text + pos;
        size_t piece_len = end - pos;
        pos = end;
        if (!session->cache || piece_len > CACHE_PIECE_MAX) {
            if (tokenizer_encode_piece(tok, piece, piece_len, BPE_AUTO, ids, count, capacity, err) != 0) return -1;
            continue;
        }
        CacheEntry *entry = &session->cache[hash_bytes(piece, piece_len) & (CACHE_SLOTS - 1)];
        if (entry->length == piece_len && memcmp(entry->bytes, piece, piece_len) == 0) {
            if (append_ids(ids, count, capacity, entry->ids, entry->id_count, err) != 0) return -1;
            continue;
        }
        size_t first = *count;
        if (tokenizer_encode_piece(tok, piece, piece_len, BPE_AUTO, ids, count, capacity, err) != 0) return -1;
        size_t produced = *count - first;
        if (produced <= CACHE_IDS_MAX) {
            entry->length = (uint8_t)piece_len;
            entry->id_count = (uint8_t)produced;
            memcpy(entry->bytes, piece, piece_len);
            memcpy(entry->ids, *ids + first, produced * sizeof **ids);
        }
    }
    return 0;
}

int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *count,
                     size_t *capacity, Error *err) {
    EncodeSession session;
    session_begin(&session, len);
    int status = encode_text(tok, &session, (const uint8_t *)text, len, ids, count, capacity, err);
    session_end(&session);
    return status;
}

int tokenizer_encode_documents(const Tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *count,
                               size_t *capacity, Error *err) {
    if (tok->end_of_text == NO_TOKEN) return error_set(err, EXIT_BAD_INPUT, "the vocabulary has no <|endoftext|> token");
    EncodeSession session;
    session_begin(&session, len);
    int status = 0;
    size_t pos = 0;
    for (;;) {
        const char *cut = len - pos >= 2 ? memmem(text + pos, len - pos, "\n\n", 2) : NULL;
        size_t section_end = cut ? (size_t)(cut - text) + 2 : len;
        int32_t end_of_text = tok->end_of_text;
        if (append_ids(ids, count, capacity, &end_of_text, 1, err) != 0 ||
            encode_text(tok, &session, (const uint8_t *)text + pos, section_end - pos, ids, count, capacity, err) != 0) {
            status = -1;
            break;
        }
        if (!cut) break;
        pos = section_end;
    }
    session_end(&session);
    return status;
}
