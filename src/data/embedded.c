/* Embeds data/ files with the assembler's .incbin (paths are relative to the repository root,
 * where make runs the compiler). */
#include "data/embedded.h"

#define EMBED(symbol, path)                                   \
    __asm__(".section .rodata\n"                              \
            ".balign 64\n"                                    \
            ".global " #symbol "_start\n" #symbol "_start:\n" \
            ".incbin \"" path "\"\n"                          \
            ".global " #symbol "_end\n" #symbol "_end:\n"     \
            ".byte 0\n"                                       \
            ".previous\n");                                   \
    extern const char symbol##_start[], symbol##_end[];

EMBED(cgpt_encoder_json, "data/gpt2/encoder.json")
EMBED(cgpt_vocab_bpe, "data/gpt2/vocab.bpe")
EMBED(cgpt_tiny_shakespeare, "data/tinyshakespeare/input.txt")

EmbeddedFile embedded_encoder_json(void) {
    return (EmbeddedFile){cgpt_encoder_json_start, (size_t)(cgpt_encoder_json_end - cgpt_encoder_json_start)};
}
EmbeddedFile embedded_vocab_bpe(void) {
    return (EmbeddedFile){cgpt_vocab_bpe_start, (size_t)(cgpt_vocab_bpe_end - cgpt_vocab_bpe_start)};
}
EmbeddedFile embedded_tiny_shakespeare(void) {
    return (EmbeddedFile){cgpt_tiny_shakespeare_start,
                          (size_t)(cgpt_tiny_shakespeare_end - cgpt_tiny_shakespeare_start)};
}
