/* The GPT-2 pre-tokenizer scanner (see pretokenizer.h): each rule of the regex becomes a check on the
 * first one or two characters of the piece followed by a run of one character class, which is what
 * the regex's leftmost-first alternation amounts to for this pattern. */
#include "tokenizer/pretokenizer.h"

size_t utf8_decode(const uint8_t *text, size_t len, size_t pos, uint32_t *code_point) {
    uint8_t lead = text[pos];
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    size_t length;
    uint32_t value, minimum;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, value = lead & 0x1Fu, minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, value = lead & 0x0Fu, minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, value = lead & 0x07u, minimum = 0x10000;
    } else { /* continuation byte, or C0/C1/F5..FF, which never start a valid sequence */
        *code_point = UTF8_INVALID;
        return 1;
    }
    if (len - pos < length) {
        *code_point = UTF8_INVALID;
        return 1;
    }
    for (size_t i = 1; i < length; i++) {
        uint8_t byte = text[pos + i];
        if ((byte & 0xC0) != 0x80) {
            *code_point = UTF8_INVALID;
            return 1;
        }
        value = (value << 6) | (byte & 0x3Fu);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        *code_point = UTF8_INVALID;
        return 1;
    }
    *code_point = value;
    return length;
}

/* ASCII classes, looked up without a search since most text is ASCII. */
static const uint8_t ascii_class[128] = {
    ['\t'] = CHAR_SPACE, ['\n'] = CHAR_SPACE, ['\v'] = CHAR_SPACE, ['\f'] = CHAR_SPACE,
    ['\r'] = CHAR_SPACE, [' '] = CHAR_SPACE,
    ['0'] = CHAR_NUMBER, ['1'] = CHAR_NUMBER, ['2'] = CHAR_NUMBER, ['3'] = CHAR_NUMBER,
    ['4'] = CHAR_NUMBER, ['5'] = CHAR_NUMBER, ['6'] = CHAR_NUMBER, ['7'] = CHAR_NUMBER,
    ['8'] = CHAR_NUMBER, ['9'] = CHAR_NUMBER,
    ['A'] = CHAR_LETTER, ['B'] = CHAR_LETTER, ['C'] = CHAR_LETTER, ['D'] = CHAR_LETTER,
    ['E'] = CHAR_LETTER, ['F'] = CHAR_LETTER, ['G'] = CHAR_LETTER, ['H'] = CHAR_LETTER,
    ['I'] = CHAR_LETTER, ['J'] = CHAR_LETTER, ['K'] = CHAR_LETTER, ['L'] = CHAR_LETTER,
    ['M'] = CHAR_LETTER, ['N'] = CHAR_LETTER, ['O'] = CHAR_LETTER, ['P'] = CHAR_LETTER,
    ['Q'] = CHAR_LETTER, ['R'] = CHAR_LETTER, ['S'] = CHAR_LETTER, ['T'] = CHAR_LETTER,
    ['U'] = CHAR_LETTER, ['V'] = CHAR_LETTER, ['W'] = CHAR_LETTER, ['X'] = CHAR_LETTER,
    ['Y'] = CHAR_LETTER, ['Z'] = CHAR_LETTER,
    ['a'] = CHAR_LETTER, ['b'] = CHAR_LETTER, ['c'] = CHAR_LETTER, ['d'] = CHAR_LETTER,
    ['e'] = CHAR_LETTER, ['f'] = CHAR_LETTER, ['g'] = CHAR_LETTER, ['h'] = CHAR_LETTER,
    ['i'] = CHAR_LETTER, ['j'] = CHAR_LETTER, ['k'] = CHAR_LETTER, ['l'] = CHAR_LETTER,
    ['m'] = CHAR_LETTER, ['n'] = CHAR_LETTER, ['o'] = CHAR_LETTER, ['p'] = CHAR_LETTER,
    ['q'] = CHAR_LETTER, ['r'] = CHAR_LETTER, ['s'] = CHAR_LETTER, ['t'] = CHAR_LETTER,
    ['u'] = CHAR_LETTER, ['v'] = CHAR_LETTER, ['w'] = CHAR_LETTER, ['x'] = CHAR_LETTER,
    ['y'] = CHAR_LETTER, ['z'] = CHAR_LETTER,
};

size_t pretokenizer_char(const uint8_t *text, size_t len, size_t pos, CharClass *char_class) {
    if (text[pos] < 0x80) {
        *char_class = (CharClass)ascii_class[text[pos]];
        return 1;
    }
    uint32_t code_point;
    size_t length = utf8_decode(text, len, pos, &code_point);
    *char_class = code_point == UTF8_INVALID ? CHAR_OTHER : unicode_char_class(code_point);
    return length;
}

/* End of the run of characters of one class that starts at pos. */
static size_t run_end(const uint8_t *text, size_t len, size_t pos, CharClass wanted) {
    while (pos < len) {
        CharClass char_class;
        size_t length = pretokenizer_char(text, len, pos, &char_class);
        if (char_class != wanted) break;
        pos += length;
    }
    return pos;
}

/* Length of a contraction 's 't 're 've 'm 'll 'd at text[pos] (an apostrophe), or 0. The regex
 * is case-sensitive, so "'S" is not one. */
static size_t contraction_length(const uint8_t *text, size_t len, size_t pos) {
    if (pos + 1 >= len) return 0;
    uint8_t next = text[pos + 1];
    if (next == 's' || next == 't' || next == 'm' || next == 'd') return 2;
    if (pos + 2 >= len) return 0;
    uint8_t after = text[pos + 2];
    if ((next == 'r' && after == 'e') || (next == 'v' && after == 'e') || (next == 'l' && after == 'l')) return 3;
    return 0;
}

size_t pretokenize_next(const uint8_t *text, size_t len, size_t start) {
    if (text[start] == '\'') {
        size_t length = contraction_length(text, len, start);
        if (length) return start + length;
    }
    CharClass first_class;
    size_t first_length = pretokenizer_char(text, len, start, &first_class);

    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one optional ASCII space, then a run. */
    if (text[start] == ' ' && start + 1 < len) {
        CharClass next_class;
        pretokenizer_char(text, len, start + 1, &next_class);
        if (next_class != CHAR_SPACE) return run_end(text, len, start + 1, next_class);
    }
    if (first_class != CHAR_SPACE) return run_end(text, len, start + first_length, first_class);

    /* "\s+(?!\S)": the whole run of spaces if it ends the text; otherwise the run without its last
     * character, which stays to start the next piece (so " word" keeps its space). If that leaves
     * nothing, "\s+" takes the single space character. */
    size_t end = start, last_start = start;
    while (end < len) {
        CharClass char_class;
        size_t length = pretokenizer_char(text, len, end, &char_class);
        if (char_class != CHAR_SPACE) break;
        last_start = end;
        end += length;
    }
    if (end == len || last_start == start) return end;
    return last_start;
}
