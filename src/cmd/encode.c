/* cgpt encode: reads all of stdin as UTF-8 text and writes its GPT-2 token ids to stdout, on one
 * line separated by spaces. "<|endoftext|>" in the text stays text; invalid UTF-8 bytes are kept so
 * that `cgpt decode` gives back the exact input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/common.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

static const char *usage_text =
    "usage: cgpt encode [--vocab DIR] < text > ids\n"
    "  Reads text (UTF-8) from stdin and writes its GPT-2 token ids to stdout: one line, separated by\n"
    "  spaces. \"<|endoftext|>\" in the text is encoded as ordinary characters, never as id 50256.\n"
    "  Bytes that are not valid UTF-8 are encoded one by one, so decoding gives back the exact input.\n"
    "  --vocab DIR   use DIR/encoder.json and DIR/vocab.bpe instead of the built-in GPT-2 vocabulary\n"
    "example: echo 'Hello world' | cgpt encode      (prints 15496 995 198)\n";


int cmd_encode(int argc, char **argv) {
    Tokenizer *tok = tokenizer_from_args(argc, argv, "encode", usage_text);
    if (!tok) return 0; /* --help */
    size_t text_len;
    char *text = read_stdin("encode", &text_len);
    int32_t *ids = NULL;
    size_t count = 0, capacity = 0;
    Error err = {0};
    int status = tokenizer_encode(tok, text, text_len, &ids, &count, &capacity, &err);
    free(text);
    tokenizer_free(tok);
    if (status != 0) {
        free(ids);
        die(err.status ? err.status : EXIT_RUNTIME, "encode: %s", err.message);
    }

    /* Ids have at most 10 digits plus a separator each. */
    char *out = xmalloc(count * 12 + 2, "the output");
    size_t used = 0;
    for (size_t i = 0; i < count; i++) used += (size_t)sprintf(out + used, i ? " %d" : "%d", ids[i]);
    out[used++] = '\n';
    free(ids);
    int failed = fwrite(out, 1, used, stdout) != used || fflush(stdout) != 0;
    int error = errno;
    free(out);
    if (failed) die(EXIT_RUNTIME, "encode: cannot write to stdout: %s", strerror(error));
    return 0;
}
