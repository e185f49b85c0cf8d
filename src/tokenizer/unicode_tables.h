/* Unicode character classes for GPT-2's pre-tokenizer: letters (L), numbers (N) and White_Space, as
 * sorted range tables generated from the Unicode data in data/unicode/ by tools/gen_unicode_tables.py
 * (unicode_tables.c), plus a lookup that classifies one code point. */
#ifndef CGPT_UNICODE_TABLES_H
#define CGPT_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t first, last; /* inclusive */
} UnicodeRange;

extern const char unicode_tables_version[]; /* "15.0.0" */
extern const UnicodeRange unicode_letter_ranges[];
extern const size_t unicode_letter_range_count;
extern const UnicodeRange unicode_number_ranges[];
extern const size_t unicode_number_range_count;
extern const UnicodeRange unicode_whitespace_ranges[];
extern const size_t unicode_whitespace_range_count;

/* The classes the pre-tokenizer tells apart; every code point is exactly one of them. */
typedef enum { CHAR_OTHER = 0, CHAR_LETTER, CHAR_NUMBER, CHAR_SPACE } CharClass;

/* Binary search of one sorted range table. */
static inline int unicode_in_ranges(const UnicodeRange *ranges, size_t count, uint32_t code_point) {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (code_point < ranges[middle].first) high = middle;
        else if (code_point > ranges[middle].last) low = middle + 1;
        else return 1;
    }
    return 0;
}

static inline CharClass unicode_char_class(uint32_t code_point) {
    if (unicode_in_ranges(unicode_letter_ranges, unicode_letter_range_count, code_point)) return CHAR_LETTER;
    if (unicode_in_ranges(unicode_number_ranges, unicode_number_range_count, code_point)) return CHAR_NUMBER;
    if (unicode_in_ranges(unicode_whitespace_ranges, unicode_whitespace_range_count, code_point)) return CHAR_SPACE;
    return CHAR_OTHER;
}

#endif
