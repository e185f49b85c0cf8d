/* llm.c GPT-2 checkpoints: a 256-int32 header (magic 20240326, version 3, shape) followed by every
 * parameter as fp32 in llm.c's tensor order. Loading validates the header against the file size
 * before allocating, then reads the parameters straight into a 64-byte aligned buffer. */
#include "io/files.h"

#include <stdlib.h>
#include <string.h>

enum { HEADER_BYTES = HEADER_INTS * 4, TOKEN_SHARD_MAGIC_HINT = SHARD_MAGIC };

static int32_t header_int(const unsigned char *header, int index) {
    int32_t value;
    memcpy(&value, header + 4 * index, sizeof value); /* memcpy: the bytes may be unaligned */
    return value;
}

/* Positions of NaN/infinity are found chunk by chunk: the common all-finite case stays a fast,
 * vectorizable scan, and only a flagged chunk is searched element by element. */
int check_params_finite(const float *values, const GPT2Config *config, const char *name,
                        const char *what, Error *err) {
    size_t sizes[NUM_PARAM_TENSORS];
    size_t total = gpt2_param_sizes(config, sizes);
    const unsigned char *bytes = (const unsigned char *)values;
    enum { CHUNK = 4096 };
    for (size_t start = 0; start < total; start += CHUNK) {
        size_t end = start + CHUNK < total ? start + CHUNK : total;
        uint32_t any_nonfinite = 0;
        for (size_t i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, bytes + 4 * i, 4);
            any_nonfinite |= (bits & 0x7f800000u) == 0x7f800000u;
        }
        if (!any_nonfinite) continue;
        for (size_t i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, bytes + 4 * i, 4);
            if ((bits & 0x7f800000u) != 0x7f800000u) continue;
            size_t offset = i;
            int tensor = 0;
            while (tensor < NUM_PARAM_TENSORS - 1 && offset >= sizes[tensor]) offset -= sizes[tensor++];
            return error_set(err, EXIT_BAD_INPUT, "%s: %s %s[%zu] is %s", name, what,
                             gpt2_param_name(tensor), offset, (bits & 0x007fffffu) ? "NaN" : "infinite");
        }
    }
    return 0;
}

/* Validates the header (available bytes of it in memory, at least the first HEADER_BYTES when the
 * file is that long) against the whole file's size, and fills config. */
static int check_header(const unsigned char *header, uint64_t file_size, const char *name,
                        GPT2Config *config, Error *err) {
    char a[32], b[32], c[32];
    if (file_size == 0)
        return error_set(err, EXIT_BAD_INPUT, "%s: file is empty (expected an llm.c GPT-2 checkpoint)",
                         name);
    if (file_size >= 4) {
        int32_t magic = header_int(header, 0);
        if (magic != CHECKPOINT_MAGIC) {
            const char *hint = magic == TOKEN_SHARD_MAGIC_HINT ? "; it looks like an llm.c token shard"
                               : memcmp(header, "CGPTSTAT", file_size >= 8 ? 8 : 4) == 0
                                   ? "; it looks like a cgpt training state"
                                   : "";
            return error_set(err, EXIT_BAD_INPUT,
                             "%s: not an llm.c GPT-2 checkpoint (magic number %d, expected %d)%s", name,
                             magic, CHECKPOINT_MAGIC, hint);
        }
    }
    if (file_size < HEADER_BYTES)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: too short for an llm.c checkpoint header: need %s bytes, found %s", name,
                         format_thousands(HEADER_BYTES, a), format_thousands(file_size, b));
    int32_t version = header_int(header, 1);
    if (version == 5)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: checkpoint version 5 (llm.c's bf16 format) is not supported: only fp32 "
                         "version 3 is supported",
                         name);
    if (version != CHECKPOINT_VERSION)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: unsupported checkpoint version %d: only fp32 version 3 is supported", name,
                         version);
    GPT2Config cfg = {
        .max_seq_len = header_int(header, 2),
        .vocab_size = header_int(header, 3),
        .num_layers = header_int(header, 4),
        .num_heads = header_int(header, 5),
        .channels = header_int(header, 6),
        .padded_vocab_size = header_int(header, 7),
    };
    if (cfg.padded_vocab_size == 0)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: header has padded_vocab_size 0 (word 7); llm.c writes it in every "
                         "version 3 checkpoint, so this file is not one",
                         name);
    const char *problem = gpt2_config_problem(&cfg);
    if (problem)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: invalid model config in header: %s (max_seq_len=%d vocab_size=%d "
                         "padded_vocab_size=%d num_layers=%d num_heads=%d channels=%d)",
                         name, problem, cfg.max_seq_len, cfg.vocab_size, cfg.padded_vocab_size,
                         cfg.num_layers, cfg.num_heads, cfg.channels);
    uint64_t expected = (uint64_t)gpt2_num_params(&cfg) * sizeof(float);
    uint64_t found = file_size - HEADER_BYTES;
    if (found < expected)
        return error_set(err, EXIT_BAD_INPUT, "%s: truncated: expected %s bytes of parameters, found %s",
                         name, format_thousands(expected, a), format_thousands(found, b));
    if (found > expected)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: wrong size: expected %s bytes of parameters, found %s (%s bytes too many)",
                         name, format_thousands(expected, a), format_thousands(found, b),
                         format_thousands(found - expected, c));
    *config = cfg;
    return 0;
}

int checkpoint_parse(const void *data, size_t size, const char *name, GPT2Config *config,
                     const float **params, Error *err) {
    *params = NULL;
    if (size > 0 && (uintptr_t)data % sizeof(float) != 0)
        return error_set(err, EXIT_RUNTIME, "%s: checkpoint buffer is not 4-byte aligned", name);
    GPT2Config cfg = {0};
    if (check_header(data, size, name, &cfg, err)) return -1;
    const float *values = (const float *)((const unsigned char *)data + HEADER_BYTES);
    if (check_params_finite(values, &cfg, name, "parameter", err)) return -1;
    *config = cfg;
    *params = values;
    return 0;
}

int checkpoint_load(const char *path, GPT2Config *config, float **params, Error *err) {
    *params = NULL;
    FILE *f;
    uint64_t size;
    if (open_input_file(path, &f, &size, err)) return -1;
    unsigned char header[HEADER_BYTES] = {0};
    size_t header_bytes = size < HEADER_BYTES ? (size_t)size : HEADER_BYTES;
    GPT2Config cfg = {0};
    if (read_exact(f, header, header_bytes, path, err) || check_header(header, size, path, &cfg, err)) {
        fclose(f);
        return -1;
    }
    /* Sizes were checked against the file, so this allocation is no larger than the file. */
    size_t bytes = gpt2_num_params(&cfg) * sizeof(float);
    void *buffer = alloc_aligned_for_reading(bytes);
    if (!buffer) {
        fclose(f);
        char count[32];
        return error_set(err, EXIT_RUNTIME, "%s: out of memory allocating %s bytes for the parameters",
                         path, format_thousands(bytes, count));
    }
    if (read_exact(f, buffer, bytes, path, err) ||
        check_params_finite(buffer, &cfg, path, "parameter", err)) {
        free(buffer);
        fclose(f);
        return -1;
    }
    fclose(f);
    *config = cfg;
    *params = buffer;
    return 0;
}

int checkpoint_save(const char *path, const GPT2Config *config, const float *params, Error *err) {
    const char *problem = gpt2_config_problem(config);
    if (problem)
        return error_set(err, EXIT_BAD_INPUT, "cannot save %s: invalid model config: %s", path, problem);
    /* Refuse what the loader would refuse, so a saved checkpoint can always be loaded again. */
    if (check_params_finite(params, config, path, "parameter", err)) return -1;
    int32_t header[HEADER_INTS] = {0};
    header[0] = CHECKPOINT_MAGIC;
    header[1] = CHECKPOINT_VERSION;
    header[2] = config->max_seq_len;
    header[3] = config->vocab_size;
    header[4] = config->num_layers;
    header[5] = config->num_heads;
    header[6] = config->channels;
    header[7] = config->padded_vocab_size;
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    if (atomic_write(&af, header, sizeof header, err) ||
        atomic_write(&af, params, gpt2_num_params(config) * sizeof(float), err) || atomic_commit(&af, err)) {
        atomic_abort(&af);
        return -1;
    }
    return 0;
}
