/* libFuzzer target for checkpoint_parse: any bytes must give either a valid config and parameters
 * inside the input, or an error with a message, never a crash, a hang or an oversized allocation.
 * Seeds: tests/fuzz/seeds/fuzz_checkpoint (tiny valid checkpoints and corruptions of them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* libFuzzer's buffer is exactly size bytes, so ASan catches any read past the end. */
    GPT2Config config;
    const float *params = NULL;
    Error err = {0};
    if (checkpoint_parse(data, size, "fuzz.bin", &config, &params, &err) == 0) {
        /* a success must describe exactly the bytes it was given */
        size_t expected = HEADER_INTS * 4 + gpt2_num_params(&config) * sizeof(float);
        if (expected != size || params != (const float *)(data + HEADER_INTS * 4)) abort();
    } else if (err.status != EXIT_BAD_INPUT || err.message[0] == '\0' || !strstr(err.message, "fuzz.bin")) {
        abort();
    }
    return 0;
}
