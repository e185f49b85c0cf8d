/* cgpt decode: reads GPT-2 token ids (decimal, separated by whitespace) from stdin and writes the
 * bytes they stand for to stdout. Everything is checked before anything is written: a bad id gives
 * one error line naming it and its position, exit status 2, and no output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/common.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

static const char *usage_text =
    "usage: cgpt decode [--vocab DIR] < ids > text\n"
    "  Reads GPT-2 token ids (decimal numbers separated by spaces or newlines) from stdin and writes\n"
    "  the bytes they stand for to stdout; id 50256 is written as \"<|endoftext|>\". A bad id (not a\n"
    "  number, or outside 0..50256) is reported with its position and nothing is written.\n"
    "  --vocab DIR   use DIR/encoder.json and DIR/vocab.bpe instead of the built-in GPT-2 vocabulary\n"
    "example: echo 15496 995 | cgpt decode      (prints Hello world)\n";


static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* The item as it can be shown on one line: at most 40 bytes, unprintable bytes as \xNN. */
static void printable_item(const char *item, size_t len, char *out, size_t out_size) {
    size_t used = 0;
    for (size_t i = 0; i < len && used + 8 < out_size; i++) {
        unsigned char c = (unsigned char)item[i];
        if (i == 40) {
            used += (size_t)snprintf(out + used, out_size - used, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7F && c != '\'' && c != '\\') out[used++] = (char)c;
        else used += (size_t)snprintf(out + used, out_size - used, "\\x%02X", c);
    }
    out[used] = 0;
}

int cmd_decode(int argc, char **argv) {
    Tokenizer *tok = tokenizer_from_args(argc, argv, "decode", usage_text);
    if (!tok) return 0; /* --help */
    int vocab_size = tokenizer_vocab_size(tok);
    size_t input_len;
    char *input = read_stdin("decode", &input_len);

    size_t out_capacity = 1 << 16, out_len = 0, item_number = 0;
    char *out = xmalloc(out_capacity, "the output");
    for (size_t pos = 0; pos < input_len;) {
        if (is_space(input[pos])) {
            pos++;
            continue;
        }
        size_t start = pos;
        while (pos < input_len && !is_space(input[pos])) pos++;
        const char *item = input + start;
        size_t len = pos - start;
        item_number++;

        /* Digits only, with an optional '-' so that negative numbers are reported as out of range. */
        size_t digits_from = item[0] == '-' ? 1 : 0;
        int is_number = len > digits_from;
        long long value = 0;
        for (size_t i = digits_from; i < len && is_number; i++) {
            if (item[i] < '0' || item[i] > '9') is_number = 0;
            else if (value <= vocab_size) value = value * 10 + (item[i] - '0'); /* stops growing once too big */
        }
        if (!is_number || digits_from || value >= vocab_size) {
            char shown[200];
            printable_item(item, len, shown, sizeof shown);
            /* Free everything first: the sanitizer build checks for leaks at exit. */
            free(input);
            free(out);
            tokenizer_free(tok);
            if (!is_number)
                die(EXIT_BAD_INPUT, "decode: '%s' (id number %zu, byte offset %zu) is not a token id: expected a decimal number",
                    shown, item_number, start);
            die(EXIT_BAD_INPUT, "decode: '%s' (id number %zu, byte offset %zu) is out of range: token ids are 0..%d",
                shown, item_number, start, vocab_size - 1);
        }
        size_t token_len;
        const char *bytes = tokenizer_token_bytes(tok, (int)value, &token_len);
        if (out_len + token_len > out_capacity) {
            while (out_len + token_len > out_capacity) out_capacity *= 2;
            char *grown = realloc(out, out_capacity);
            if (!grown) {
                free(input);
                free(out);
                tokenizer_free(tok);
                die(EXIT_RUNTIME, "decode: out of memory for %zu bytes of output", out_capacity);
            }
            out = grown;
        }
        memcpy(out + out_len, bytes, token_len);
        out_len += token_len;
    }
    free(input);
    tokenizer_free(tok);
    int failed = fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0;
    int error = errno;
    free(out);
    if (failed) die(EXIT_RUNTIME, "decode: cannot write to stdout: %s", strerror(error));
    return 0;
}
