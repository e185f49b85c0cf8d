/* Files built into the binary so that `cgpt train` works from any folder without the repo:
 * the GPT-2 vocabulary and Tiny Shakespeare (see data/README.md for provenance). */
#ifndef CGPT_EMBEDDED_H
#define CGPT_EMBEDDED_H
#include <stddef.h>

typedef struct { const char *data; size_t size; } EmbeddedFile;

EmbeddedFile embedded_encoder_json(void);
EmbeddedFile embedded_vocab_bpe(void);
EmbeddedFile embedded_tiny_shakespeare(void);

#endif
