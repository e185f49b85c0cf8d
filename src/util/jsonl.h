/* A small reader for JSON Lines files made of flat objects, one per line (cgpt's training logs and
 * bench results). Top-level values may be strings, numbers, true/false/null; nested arrays and
 * objects are skipped (their source text is kept). Malformed input is reported, never crashed on. */
#ifndef CGPT_JSONL_H
#define CGPT_JSONL_H

#include <stddef.h>

#include "util/error.h"

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_NESTED } JsonType;

typedef struct {
    const char *key;  /* decoded, NUL-terminated */
    JsonType type;
    double number;    /* JSON_NUMBER only (may be NaN or infinite: see json_parse_object) */
    const char *text; /* JSON_STRING: the decoded string (UTF-8); other types: the value's source text */
} JsonField;

/* One parsed line. Reuse it for every line of a file: parsing resets it and keeps its memory. */
typedef struct {
    JsonField *fields;
    int count, capacity;
    char *storage; /* keys, decoded strings and source copies that the fields point into */
    size_t storage_size;
} JsonObject;

void json_object_init(JsonObject *obj);
void json_object_free(JsonObject *obj);

/* Parses text[0..length) (no NUL needed; a trailing "\r" or whitespace is fine) as one flat object.
 * Besides standard JSON numbers it accepts NaN, Infinity, -Infinity, nan and inf as number
 * values, as some writers print them for diverged values. Fails (status 2) with a message saying
 * what is wrong and at which column; the object is then empty. */
int json_parse_object(JsonObject *obj, const char *text, size_t length, Error *err);

/* The field with this key (the last one if a key repeats), or NULL. */
const JsonField *json_find(const JsonObject *obj, const char *key);
/* 1 and *value if the key holds a number, else 0. */
int json_get_number(const JsonObject *obj, const char *key, double *value);
/* The decoded string if the key holds a string, else NULL. */
const char *json_get_string(const JsonObject *obj, const char *key);

#endif
