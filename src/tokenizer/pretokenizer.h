/* GPT-2's pre-tokenizer as a hand-written scanner: it cuts text into the same pieces as the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (\s = Unicode White_Space) finds scanning left to right. Text is UTF-8; each byte that does not
 * start a valid UTF-8 sequence counts as one character that is neither letter, number nor space. */
#ifndef CGPT_PRETOKENIZER_H
#define CGPT_PRETOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/unicode_tables.h"

/* Decodes the character at text[pos] (pos < len): sets *code_point and returns its length in bytes.
 * Overlong forms, surrogates, values above U+10FFFF and cut-off sequences are invalid: then only the
 * first byte is consumed (length 1) and *code_point is set to UTF8_INVALID. */
enum { UTF8_INVALID = 0x7FFFFFFF };
size_t utf8_decode(const uint8_t *text, size_t len, size_t pos, uint32_t *code_point);

/* The class and length of the character at text[pos] (invalid bytes are CHAR_OTHER, length 1). */
size_t pretokenizer_char(const uint8_t *text, size_t len, size_t pos, CharClass *char_class);

/* Returns the end of the piece that starts at text[start] (start < len); the result is > start. */
size_t pretokenize_next(const uint8_t *text, size_t len, size_t start);

#endif
