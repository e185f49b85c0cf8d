/* The flat JSON object reader of jsonl.h: a hand-written recursive-descent parser over one line
 * that never reads past the given length, bounds every write into its storage and limits the depth
 * of the nested values it skips, so any input bytes give either an object or an error. */
#include "util/jsonl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SKIP_DEPTH = 256 };

typedef struct {
    const char *text;
    size_t length, pos;
    JsonObject *obj;
    size_t used; /* bytes of obj->storage in use */
    Error *err;
} Parser;

void json_object_init(JsonObject *obj) { memset(obj, 0, sizeof *obj); }

void json_object_free(JsonObject *obj) {
    free(obj->fields);
    free(obj->storage);
    json_object_init(obj);
}

static int fail(Parser *p, const char *what) {
    return error_set(p->err, EXIT_BAD_INPUT, "%s at column %zu", what, p->pos + 1);
}

static int at_end(const Parser *p) { return p->pos >= p->length; }
static int peek(const Parser *p) { return at_end(p) ? -1 : (unsigned char)p->text[p->pos]; }

static void skip_whitespace(Parser *p) {
    while (!at_end(p)) {
        char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
        p->pos++;
    }
}

/* Storage holds at most the line's bytes plus a terminator per value; the size is chosen from the
 * line length up front, and each write is still checked so a miscount cannot overrun it. */
static int put_byte(Parser *p, char c) {
    if (p->used >= p->obj->storage_size) return fail(p, "internal: storage full");
    p->obj->storage[p->used++] = c;
    return 0;
}

static int put_utf8(Parser *p, uint32_t code) {
    char bytes[4];
    int n;
    if (code < 0x80) {
        bytes[0] = (char)code;
        n = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xC0 | (code >> 6));
        bytes[1] = (char)(0x80 | (code & 0x3F));
        n = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xE0 | (code >> 12));
        bytes[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (code & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | (code >> 18));
        bytes[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[3] = (char)(0x80 | (code & 0x3F));
        n = 4;
    }
    for (int i = 0; i < n; i++)
        if (put_byte(p, bytes[i]) != 0) return -1;
    return 0;
}

static int read_hex4(Parser *p, uint32_t *value) {
    if (p->length - p->pos < 4) return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->text[p->pos + i];
        int digit = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : -1;
        if (digit < 0) return fail(p, "bad hex digit in \\u escape");
        v = v * 16 + (uint32_t)digit;
    }
    p->pos += 4;
    *value = v;
    return 0;
}

/* \uXXXX (after the "\u"): joins surrogate pairs; a lone surrogate or \u0000 (which would cut
 * the C string short) becomes U+FFFD so the decoded text stays valid UTF-8. */
static int decode_unicode_escape(Parser *p) {
    uint32_t code;
    if (read_hex4(p, &code) != 0) return -1;
    if (code >= 0xD800 && code <= 0xDBFF) {
        uint32_t low;
        if (p->length - p->pos >= 6 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u') {
            size_t saved = p->pos;
            p->pos += 2;
            if (read_hex4(p, &low) != 0) return -1;
            if (low >= 0xDC00 && low <= 0xDFFF)
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            else {
                p->pos = saved; /* not a pair: the next escape is decoded on its own */
                code = 0xFFFD;
            }
        } else {
            code = 0xFFFD;
        }
    } else if ((code >= 0xDC00 && code <= 0xDFFF) || code == 0) {
        code = 0xFFFD;
    }
    return put_utf8(p, code);
}

/* A string starting at the opening quote; the decoded, NUL-terminated text goes to storage and
 * its offset to *offset (offsets, not pointers: storage may not move, but offsets are simplest to
 * check). Raw control characters are rejected as JSON requires. */
static int parse_string(Parser *p, size_t *offset) {
    p->pos++; /* opening quote */
    *offset = p->used;
    for (;;) {
        if (at_end(p)) return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            return put_byte(p, 0);
        }
        if (c < 0x20) return fail(p, "control character in string");
        if (c != '\\') {
            if (put_byte(p, (char)c) != 0) return -1;
            p->pos++;
            continue;
        }
        p->pos++;
        if (at_end(p)) return fail(p, "unterminated escape");
        char e = p->text[p->pos++];
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u':
            if (decode_unicode_escape(p) != 0) return -1;
            continue;
        default: p->pos--; return fail(p, "bad escape in string");
        }
        if (put_byte(p, out) != 0) return -1;
    }
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int matches_word(const Parser *p, const char *word) {
    size_t n = strlen(word);
    return p->length - p->pos >= n && memcmp(p->text + p->pos, word, n) == 0;
}

/* Copies text[start..pos) to storage as a NUL-terminated string; returns its offset via *offset. */
static int copy_source(Parser *p, size_t start, size_t *offset) {
    *offset = p->used;
    for (size_t i = start; i < p->pos; i++)
        if (put_byte(p, p->text[i]) != 0) return -1;
    return put_byte(p, 0);
}

/* A number per the JSON grammar (checked here, so strtod only sees valid text), or one of the
 * non-finite spellings some writers produce. */
static int parse_number(Parser *p, double *value, size_t *offset) {
    size_t start = p->pos;
    static const struct {
        const char *word;
        double value;
    } special[] = {{"-Infinity", -INFINITY}, {"Infinity", INFINITY}, {"NaN", NAN}, {"-inf", -INFINITY},
                   {"inf", INFINITY},        {"-nan", NAN},           {"nan", NAN}};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        if (matches_word(p, special[i].word)) {
            p->pos += strlen(special[i].word);
            *value = special[i].value;
            return copy_source(p, start, offset);
        }
    }
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p))) p->pos++;
    } else {
        return fail(p, "bad number");
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number: no digits after '.'");
        while (is_digit(peek(p))) p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number: no digits in exponent");
        while (is_digit(peek(p))) p->pos++;
    }
    if (copy_source(p, start, offset) != 0) return -1;
    /* Out-of-range values become +-HUGE_VAL or 0, which is what a reader of the number wants. */
    *value = strtod(p->obj->storage + *offset, NULL);
    return 0;
}

/* Skips a nested array or object starting at its opening bracket, matching brackets (with a
 * bounded stack) and stepping over strings so brackets inside them do not count. */
static int skip_nested(Parser *p) {
    char expected[MAX_SKIP_DEPTH];
    int depth = 0;
    while (!at_end(p)) {
        char c = p->text[p->pos];
        if (c == '"') {
            size_t ignored_offset, saved_used = p->used;
            if (parse_string(p, &ignored_offset) != 0) return -1;
            p->used = saved_used; /* nested strings are not kept */
            continue;
        }
        p->pos++;
        if (c == '[' || c == '{') {
            if (depth == MAX_SKIP_DEPTH) return fail(p, "nested too deeply");
            expected[depth++] = c == '[' ? ']' : '}';
        } else if (c == ']' || c == '}') {
            if (depth == 0 || expected[depth - 1] != c) {
                p->pos--;
                return fail(p, "mismatched bracket");
            }
            if (--depth == 0) return 0;
        }
    }
    return fail(p, "unterminated nested value");
}

static int add_field(Parser *p, size_t key_offset, JsonType type, double number, size_t text_offset) {
    JsonObject *obj = p->obj;
    if (obj->count == obj->capacity) {
        int capacity = obj->capacity ? obj->capacity * 2 : 16;
        JsonField *grown = realloc(obj->fields, (size_t)capacity * sizeof *grown);
        if (!grown) return error_set(p->err, EXIT_RUNTIME, "out of memory reading a JSON line");
        obj->fields = grown;
        obj->capacity = capacity;
    }
    /* Offsets for now; turned into pointers once the storage stops changing (end of parse). */
    JsonField *f = &obj->fields[obj->count++];
    f->key = (const char *)(uintptr_t)key_offset;
    f->type = type;
    f->number = number;
    f->text = (const char *)(uintptr_t)text_offset;
    return 0;
}

static int parse_value(Parser *p, size_t key_offset) {
    int c = peek(p);
    size_t start = p->pos, text_offset;
    double number = 0;
    JsonType type;
    if (c == '"') {
        type = JSON_STRING;
        if (parse_string(p, &text_offset) != 0) return -1;
    } else if (c == '[' || c == '{') {
        type = JSON_NESTED;
        if (skip_nested(p) != 0 || copy_source(p, start, &text_offset) != 0) return -1;
    } else if (matches_word(p, "true") || matches_word(p, "false") || matches_word(p, "null")) {
        type = c == 't' ? JSON_TRUE : c == 'f' ? JSON_FALSE : JSON_NULL;
        p->pos += c == 'f' ? 5 : 4;
        if (copy_source(p, start, &text_offset) != 0) return -1;
    } else if (c == '-' || is_digit(c) || c == 'N' || c == 'I' || c == 'n' || c == 'i') {
        type = JSON_NUMBER;
        if (parse_number(p, &number, &text_offset) != 0) return -1;
    } else {
        return fail(p, at_end(p) ? "missing value" : "unexpected character where a value should be");
    }
    return add_field(p, key_offset, type, number, text_offset);
}

static int parse_members(Parser *p) {
    skip_whitespace(p);
    /* A UTF-8 byte order mark is tolerated before the object (editors add one to the first line). */
    if (p->length - p->pos >= 3 && memcmp(p->text + p->pos, "\xEF\xBB\xBF", 3) == 0) p->pos += 3;
    if (peek(p) != '{') return fail(p, at_end(p) ? "empty line" : "not a JSON object");
    p->pos++;
    skip_whitespace(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_whitespace(p);
            if (peek(p) != '"') return fail(p, "expected a quoted key");
            size_t key_offset;
            if (parse_string(p, &key_offset) != 0) return -1;
            skip_whitespace(p);
            if (peek(p) != ':') return fail(p, "expected ':'");
            p->pos++;
            skip_whitespace(p);
            if (parse_value(p, key_offset) != 0) return -1;
            skip_whitespace(p);
            if (peek(p) == ',') {
                p->pos++;
                continue;
            }
            if (peek(p) == '}') {
                p->pos++;
                break;
            }
            return fail(p, "expected ',' or '}'");
        }
    }
    skip_whitespace(p);
    if (!at_end(p)) return fail(p, "unexpected text after the object");
    return 0;
}

int json_parse_object(JsonObject *obj, const char *text, size_t length, Error *err) {
    obj->count = 0;
    /* Every stored byte comes from a distinct source byte, and every terminator follows a value
     * that is followed by ',' or '}' or a closing quote, so length + 1 bytes always suffice. */
    size_t needed = length + 1;
    if (obj->storage_size < needed) {
        char *grown = realloc(obj->storage, needed);
        if (!grown) return error_set(err, EXIT_RUNTIME, "out of memory reading a JSON line");
        obj->storage = grown;
        obj->storage_size = needed;
    }
    Parser p = {.text = text, .length = length, .obj = obj, .err = err};
    if (parse_members(&p) != 0) {
        obj->count = 0;
        return -1;
    }
    for (int i = 0; i < obj->count; i++) {
        JsonField *f = &obj->fields[i];
        f->key = obj->storage + (uintptr_t)f->key;
        f->text = obj->storage + (uintptr_t)f->text;
    }
    return 0;
}

const JsonField *json_find(const JsonObject *obj, const char *key) {
    for (int i = obj->count - 1; i >= 0; i--)
        if (strcmp(obj->fields[i].key, key) == 0) return &obj->fields[i];
    return NULL;
}

int json_get_number(const JsonObject *obj, const char *key, double *value) {
    const JsonField *f = json_find(obj, key);
    if (!f || f->type != JSON_NUMBER) return 0;
    *value = f->number;
    return 1;
}

const char *json_get_string(const JsonObject *obj, const char *key) {
    const JsonField *f = json_find(obj, key);
    return f && f->type == JSON_STRING ? f->text : NULL;
}
