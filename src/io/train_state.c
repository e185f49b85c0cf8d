/* cgpt's training-state file: a 128-byte header (magic "CGPTSTAT", version, config, step, batch
 * shape, data position, RNG state, parameter count), the parameters and both AdamW moments as fp32,
 * and a CRC-32 of everything before it. Layout in docs/FORMATS.md. Also the CRC-32 itself. */
#include "io/files.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { STATE_VERSION = 1, STATE_HEADER_BYTES = 128, STATE_TRAILER_BYTES = 4, STATE_ARRAYS = 3 };
static const char STATE_MAGIC[8] = {'C', 'G', 'P', 'T', 'S', 'T', 'A', 'T'};

/* Byte offsets of the header fields (see docs/FORMATS.md); bytes 88..127 are reserved zeros. */
enum {
    OFF_MAGIC = 0, OFF_VERSION = 8, OFF_HEADER_BYTES = 12, OFF_MAX_SEQ_LEN = 16, OFF_VOCAB = 20,
    OFF_PADDED_VOCAB = 24, OFF_LAYERS = 28, OFF_HEADS = 32, OFF_CHANNELS = 36, OFF_BATCH = 40,
    OFF_SEQ_LEN = 44, OFF_STEP = 48, OFF_SHARD_INDEX = 56, OFF_SHARD_POSITION = 64, OFF_RNG = 72,
    OFF_NUM_PARAMS = 80, OFF_RESERVED = 88
};

/* ---- CRC-32, slicing by 8: eight tables let one step consume 8 bytes with independent lookups ---- */
static uint32_t crc_tables[8][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

static void build_crc_tables(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        crc_tables[0][byte] = crc;
    }
    for (int k = 1; k < 8; k++)
        for (int byte = 0; byte < 256; byte++)
            crc_tables[k][byte] = (crc_tables[k - 1][byte] >> 8) ^ crc_tables[0][crc_tables[k - 1][byte] & 0xff];
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t bytes) {
    pthread_once(&crc_tables_once, build_crc_tables);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (bytes >= 8) {
        uint32_t low, high;
        memcpy(&low, p, 4);
        memcpy(&high, p + 4, 4);
        low ^= c;
        c = crc_tables[7][low & 0xff] ^ crc_tables[6][(low >> 8) & 0xff] ^
            crc_tables[5][(low >> 16) & 0xff] ^ crc_tables[4][low >> 24] ^ crc_tables[3][high & 0xff] ^
            crc_tables[2][(high >> 8) & 0xff] ^ crc_tables[1][(high >> 16) & 0xff] ^
            crc_tables[0][high >> 24];
        p += 8;
        bytes -= 8;
    }
    while (bytes--) c = crc_tables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- header encoding ---- */
static int32_t get_i32(const unsigned char *h, int offset) {
    int32_t v;
    memcpy(&v, h + offset, sizeof v);
    return v;
}
static int64_t get_i64(const unsigned char *h, int offset) {
    int64_t v;
    memcpy(&v, h + offset, sizeof v);
    return v;
}
static uint64_t get_u64(const unsigned char *h, int offset) {
    uint64_t v;
    memcpy(&v, h + offset, sizeof v);
    return v;
}
static void put_i32(unsigned char *h, int offset, int32_t v) { memcpy(h + offset, &v, sizeof v); }
static void put_i64(unsigned char *h, int offset, int64_t v) { memcpy(h + offset, &v, sizeof v); }
static void put_u64(unsigned char *h, int offset, uint64_t v) { memcpy(h + offset, &v, sizeof v); }

/* Checks everything about a state that does not depend on how it is stored; used on save and
 * after a load (name: the file; for a save the message says so). */
static int check_fields(const TrainState *s, const char *name, const char *prefix, Error *err) {
    const GPT2Config *c = &s->config;
    const char *problem = gpt2_config_problem(c);
    if (problem)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s%s: invalid model config: %s (max_seq_len=%d vocab_size=%d "
                         "padded_vocab_size=%d num_layers=%d num_heads=%d channels=%d)",
                         prefix, name, problem, c->max_seq_len, c->vocab_size, c->padded_vocab_size,
                         c->num_layers, c->num_heads, c->channels);
    if (s->batch_size <= 0)
        return error_set(err, EXIT_BAD_INPUT, "%s%s: batch_size %d must be positive", prefix, name,
                         (int)s->batch_size);
    if (s->seq_len <= 0 || s->seq_len > c->max_seq_len)
        return error_set(err, EXIT_BAD_INPUT, "%s%s: seq_len %d must be in 1..max_seq_len (%d)", prefix,
                         name, (int)s->seq_len, c->max_seq_len);
    if (s->step < 0)
        return error_set(err, EXIT_BAD_INPUT, "%s%s: step %lld is negative", prefix, name,
                         (long long)s->step);
    if (s->shard_index < 0 || s->shard_position < 0)
        return error_set(err, EXIT_BAD_INPUT, "%s%s: negative data position (shard %lld, token %lld)",
                         prefix, name, (long long)s->shard_index, (long long)s->shard_position);
    size_t expected = gpt2_num_params(c);
    if (s->num_params != expected) {
        char a[32], b[32];
        return error_set(err, EXIT_BAD_INPUT, "%s%s: num_params is %s but the config has %s parameters",
                         prefix, name, format_thousands(s->num_params, a), format_thousands(expected, b));
    }
    return 0;
}

static int check_arrays_finite(const TrainState *s, const char *name, Error *err) {
    return check_params_finite(s->params, &s->config, name, "parameter", err) ||
                   check_params_finite(s->adam_m, &s->config, name, "adam_m", err) ||
                   check_params_finite(s->adam_v, &s->config, name, "adam_v", err)
               ? -1
               : 0;
}

/* Validates what can be validated before the checksum (magic, version, header size, and the
 * file size implied by num_params), and gives num_params. Field values are checked after the
 * checksum so that a corrupted header is reported as corruption. */
static int check_layout(const unsigned char *header, uint64_t file_size, const char *name,
                        uint64_t *num_params, Error *err) {
    char a[32], b[32], c[32];
    if (file_size == 0)
        return error_set(err, EXIT_BAD_INPUT, "%s: file is empty (expected a cgpt training state)", name);
    size_t compared = file_size < sizeof STATE_MAGIC ? (size_t)file_size : sizeof STATE_MAGIC;
    if (memcmp(header, STATE_MAGIC, compared) != 0) {
        int32_t first = file_size >= 4 ? get_i32(header, 0) : 0;
        const char *hint = first == CHECKPOINT_MAGIC ? "; it looks like an llm.c checkpoint"
                           : first == SHARD_MAGIC    ? "; it looks like an llm.c token shard"
                                                     : "";
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: not a cgpt training state (does not start with \"CGPTSTAT\")%s", name, hint);
    }
    if (file_size < STATE_HEADER_BYTES)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: too short for a training-state header: need %s bytes, found %s", name,
                         format_thousands(STATE_HEADER_BYTES, a), format_thousands(file_size, b));
    int32_t version = get_i32(header, OFF_VERSION);
    if (version != STATE_VERSION)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: unsupported training-state version %d: only version %d is supported", name,
                         version, STATE_VERSION);
    int32_t header_bytes = get_i32(header, OFF_HEADER_BYTES);
    if (header_bytes != STATE_HEADER_BYTES)
        return error_set(err, EXIT_BAD_INPUT, "%s: corrupt header: header size %d, expected %d", name,
                         header_bytes, STATE_HEADER_BYTES);
    uint64_t n = get_u64(header, OFF_NUM_PARAMS);
    uint64_t found = file_size - STATE_HEADER_BYTES;
    /* Compare by division so that a huge num_params cannot overflow the expected size. */
    uint64_t per_param = STATE_ARRAYS * sizeof(float);
    if (found < STATE_TRAILER_BYTES || (found - STATE_TRAILER_BYTES) / per_param < n)
        return n > (UINT64_MAX - STATE_HEADER_BYTES - STATE_TRAILER_BYTES) / per_param
                   ? error_set(err, EXIT_BAD_INPUT,
                               "%s: truncated or corrupt: header claims %s parameters, far more "
                               "than the file holds (%s bytes)",
                               name, format_thousands(n, a), format_thousands(file_size, b))
                   : error_set(err, EXIT_BAD_INPUT, "%s: truncated: expected %s bytes, found %s", name,
                               format_thousands(STATE_HEADER_BYTES + n * per_param + STATE_TRAILER_BYTES, a),
                               format_thousands(file_size, b));
    uint64_t expected = n * per_param + STATE_TRAILER_BYTES;
    if (found > expected)
        return error_set(err, EXIT_BAD_INPUT, "%s: wrong size: expected %s bytes, found %s (%s too many)",
                         name, format_thousands(STATE_HEADER_BYTES + expected, a),
                         format_thousands(file_size, b), format_thousands(found - expected, c));
    *num_params = n;
    return 0;
}

/* After the checksum matched: reserved bytes, field values and finiteness. Fills the scalar fields. */
static int check_header_fields(const unsigned char *header, const char *name, TrainState *s, Error *err) {
    for (int i = OFF_RESERVED; i < STATE_HEADER_BYTES; i++)
        if (header[i] != 0)
            return error_set(err, EXIT_BAD_INPUT, "%s: corrupt header: reserved byte %d is not zero", name, i);
    s->config.max_seq_len = get_i32(header, OFF_MAX_SEQ_LEN);
    s->config.vocab_size = get_i32(header, OFF_VOCAB);
    s->config.padded_vocab_size = get_i32(header, OFF_PADDED_VOCAB);
    s->config.num_layers = get_i32(header, OFF_LAYERS);
    s->config.num_heads = get_i32(header, OFF_HEADS);
    s->config.channels = get_i32(header, OFF_CHANNELS);
    s->batch_size = get_i32(header, OFF_BATCH);
    s->seq_len = get_i32(header, OFF_SEQ_LEN);
    s->step = get_i64(header, OFF_STEP);
    s->shard_index = get_i64(header, OFF_SHARD_INDEX);
    s->shard_position = get_i64(header, OFF_SHARD_POSITION);
    s->rng_state = get_u64(header, OFF_RNG);
    s->num_params = (size_t)get_u64(header, OFF_NUM_PARAMS);
    return check_fields(s, name, "", err);
}

static int checksum_mismatch(const char *name, uint32_t stored, uint32_t computed, Error *err) {
    return error_set(err, EXIT_BAD_INPUT,
                     "%s: checksum mismatch: the file is corrupt (stored CRC-32 0x%08x, computed 0x%08x)",
                     name, (unsigned)stored, (unsigned)computed);
}

/* Allocates the three arrays (64-byte aligned); sizes were validated against the file first. */
static int allocate_arrays(TrainState *s, size_t n, const char *name, Error *err) {
    size_t bytes = n * sizeof(float);
    float **arrays[STATE_ARRAYS] = {&s->params, &s->adam_m, &s->adam_v};
    for (int i = 0; i < STATE_ARRAYS; i++) {
        void *p = alloc_aligned_for_reading(bytes);
        if (!p) {
            train_state_free(s);
            char count[32];
            return error_set(err, EXIT_RUNTIME, "%s: out of memory allocating %s bytes", name,
                             format_thousands(bytes, count));
        }
        *arrays[i] = p;
    }
    return 0;
}

int train_state_parse(const void *data, size_t size, const char *name, TrainState *state, Error *err) {
    memset(state, 0, sizeof *state);
    const unsigned char *bytes = data;
    uint64_t n = 0;
    if (check_layout(bytes, size, name, &n, err)) return -1;
    uint32_t stored;
    memcpy(&stored, bytes + size - STATE_TRAILER_BYTES, sizeof stored);
    uint32_t computed = crc32_update(0, bytes, size - STATE_TRAILER_BYTES);
    if (stored != computed) return checksum_mismatch(name, stored, computed, err);
    TrainState s = {0};
    if (check_header_fields(bytes, name, &s, err)) return -1;
    if (allocate_arrays(&s, n, name, err)) return -1;
    size_t array_bytes = n * sizeof(float);
    memcpy(s.params, bytes + STATE_HEADER_BYTES, array_bytes);
    memcpy(s.adam_m, bytes + STATE_HEADER_BYTES + array_bytes, array_bytes);
    memcpy(s.adam_v, bytes + STATE_HEADER_BYTES + 2 * array_bytes, array_bytes);
    if (check_arrays_finite(&s, name, err)) {
        train_state_free(&s);
        return -1;
    }
    *state = s;
    return 0;
}

int train_state_load(const char *path, TrainState *state, Error *err) {
    memset(state, 0, sizeof *state);
    FILE *f;
    uint64_t size;
    if (open_input_file(path, &f, &size, err)) return -1;
    unsigned char header[STATE_HEADER_BYTES] = {0};
    size_t header_bytes = size < STATE_HEADER_BYTES ? (size_t)size : STATE_HEADER_BYTES;
    uint64_t n = 0;
    TrainState s = {0};
    if (read_exact(f, header, header_bytes, path, err) || check_layout(header, size, path, &n, err) ||
        allocate_arrays(&s, n, path, err)) {
        fclose(f);
        return -1;
    }
    /* Read straight into the final arrays, checksumming as we go (one pass over 1.5 GB for 124M). */
    uint32_t computed = crc32_update(0, header, STATE_HEADER_BYTES);
    float *arrays[STATE_ARRAYS] = {s.params, s.adam_m, s.adam_v};
    uint32_t stored = 0;
    int failed = 0;
    for (int i = 0; i < STATE_ARRAYS && !failed; i++) {
        failed = read_exact(f, arrays[i], n * sizeof(float), path, err);
        if (!failed) computed = crc32_update(computed, arrays[i], n * sizeof(float));
    }
    if (!failed) failed = read_exact(f, &stored, sizeof stored, path, err);
    fclose(f);
    if (!failed && stored != computed) failed = checksum_mismatch(path, stored, computed, err);
    if (!failed) failed = check_header_fields(header, path, &s, err) || check_arrays_finite(&s, path, err);
    if (failed) {
        train_state_free(&s);
        return -1;
    }
    *state = s;
    return 0;
}

int train_state_save(const char *path, const TrainState *state, Error *err) {
    if (check_fields(state, path, "cannot save ", err)) return -1;
    if (!state->params || !state->adam_m || !state->adam_v)
        return error_set(err, EXIT_BAD_INPUT, "cannot save %s: missing parameter or moment arrays", path);
    if (check_arrays_finite(state, path, err)) return -1;
    unsigned char header[STATE_HEADER_BYTES] = {0};
    memcpy(header + OFF_MAGIC, STATE_MAGIC, sizeof STATE_MAGIC);
    put_i32(header, OFF_VERSION, STATE_VERSION);
    put_i32(header, OFF_HEADER_BYTES, STATE_HEADER_BYTES);
    put_i32(header, OFF_MAX_SEQ_LEN, state->config.max_seq_len);
    put_i32(header, OFF_VOCAB, state->config.vocab_size);
    put_i32(header, OFF_PADDED_VOCAB, state->config.padded_vocab_size);
    put_i32(header, OFF_LAYERS, state->config.num_layers);
    put_i32(header, OFF_HEADS, state->config.num_heads);
    put_i32(header, OFF_CHANNELS, state->config.channels);
    put_i32(header, OFF_BATCH, state->batch_size);
    put_i32(header, OFF_SEQ_LEN, state->seq_len);
    put_i64(header, OFF_STEP, state->step);
    put_i64(header, OFF_SHARD_INDEX, state->shard_index);
    put_i64(header, OFF_SHARD_POSITION, state->shard_position);
    put_u64(header, OFF_RNG, state->rng_state);
    put_u64(header, OFF_NUM_PARAMS, state->num_params);

    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    size_t array_bytes = state->num_params * sizeof(float);
    const float *arrays[STATE_ARRAYS] = {state->params, state->adam_m, state->adam_v};
    uint32_t crc = crc32_update(0, header, sizeof header);
    int failed = atomic_write(&af, header, sizeof header, err);
    for (int i = 0; i < STATE_ARRAYS && !failed; i++) {
        failed = atomic_write(&af, arrays[i], array_bytes, err);
        crc = crc32_update(crc, arrays[i], array_bytes);
    }
    if (!failed) failed = atomic_write(&af, &crc, sizeof crc, err) || atomic_commit(&af, err);
    if (failed) {
        atomic_abort(&af);
        return -1;
    }
    return 0;
}

void train_state_free(TrainState *state) {
    free(state->params);
    free(state->adam_m);
    free(state->adam_v);
    state->params = state->adam_m = state->adam_v = NULL;
}
