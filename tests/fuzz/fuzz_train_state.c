/* libFuzzer target for train_state_parse: any bytes give a consistent state (freed here) or an
 * error naming the file; never a crash, a leak or an allocation larger than the input. Mutated
 * inputs almost always fail the CRC, so each input is also parsed with its CRC recomputed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/files.h"

static void parse_one(const uint8_t *data, size_t size) {
    TrainState state;
    Error err = {0};
    if (train_state_parse(data, size, "fuzz.bin", &state, &err) == 0) {
        if (state.num_params != gpt2_num_params(&state.config) || !state.params || !state.adam_m ||
            !state.adam_v || 128 + 12 * state.num_params + 4 != size)
            abort();
        train_state_free(&state);
    } else if (err.status != EXIT_BAD_INPUT || !strstr(err.message, "fuzz.bin") || state.params) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_one(data, size);
    /* Again with the trailing CRC made to match, so that mutations reach the field checks. */
    if (size >= 4) {
        uint8_t *fixed = malloc(size);
        if (!fixed) return 0;
        memcpy(fixed, data, size);
        uint32_t crc = crc32_update(0, fixed, size - 4);
        memcpy(fixed + size - 4, &crc, 4);
        parse_one(fixed, size);
        free(fixed);
    }
    return 0;
}
