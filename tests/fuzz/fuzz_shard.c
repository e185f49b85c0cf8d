/* libFuzzer target for shard_parse: any bytes give tokens inside the input (all below the
 * vocabulary limit) or an error naming the file; never a crash. The first input byte picks the
 * vocabulary limit so both the checked and unchecked paths are explored. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const int limits[4] = {65536, 50257, 256, 1};
    int vocab_limit = limits[data[0] % 4];
    /* The shard itself starts after the selector byte; copy it so it is 2-byte aligned. */
    size_t shard_size = size - 1;
    uint8_t *shard = malloc(shard_size ? shard_size : 1);
    if (!shard) return 0;
    if (shard_size) memcpy(shard, data + 1, shard_size);
    const uint16_t *tokens = NULL;
    size_t count = 0;
    Error err = {0};
    if (shard_parse(shard, shard_size, "fuzz.bin", vocab_limit, &tokens, &count, &err) == 0) {
        if (count == 0 || 1024 + 2 * count != shard_size) abort();
        for (size_t i = 0; i < count; i++)
            if (tokens[i] >= vocab_limit) abort();
    } else if (err.status != EXIT_BAD_INPUT || !strstr(err.message, "fuzz.bin")) {
        abort();
    }
    free(shard);
    return 0;
}
