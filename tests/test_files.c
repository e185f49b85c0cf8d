/* Tests for src/io: checkpoint, shard and training-state round trips; every bad-input case gives
 * status 2 and a message naming the file; atomic writes leave the old file intact and no temporary
 * files on failure; folder checks; glob ordering; CRC-32 and the small helpers. */
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/files.h"
#include "test.h"
#include "util/rng.h"

static char temp_dir[256];

/* "<temp_dir>/<name>" in a rotating set of buffers, so a few can be live at once. */
static const char *in_temp(const char *name) {
    static char buffers[4][512];
    static int next = 0;
    char *out = buffers[next++ % 4];
    snprintf(out, sizeof buffers[0], "%s/%s", temp_dir, name);
    return out;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(1);
    }
    if (n && fwrite(data, 1, n, f) != n) exit(1);
    fclose(f);
}

static int file_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

/* Number of entries in a folder whose name contains ".tmp." (leftover atomic-write files). */
static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw) {
    (void)info, (void)flag, (void)ftw;
    return remove(path);
}

static GPT2Config small_config(void) {
    return (GPT2Config){.max_seq_len = 6, .vocab_size = 10, .padded_vocab_size = 16,
                        .num_layers = 2, .num_heads = 2, .channels = 8};
}

static float *random_floats(size_t n, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    float *x = malloc(n * sizeof(float));
    rng_fill_normal(&rng, x, (long)n, 0.0f, 1.0f);
    return x;
}

/* malloc'ed copy of a file (aligned, as the parsers require). */
static unsigned char *file_bytes(const char *path, size_t *size) {
    void *data;
    Error err = {0};
    if (read_whole_file(path, &data, size, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    return data;
}

static void put_int(unsigned char *bytes, size_t offset, int32_t value) {
    memcpy(bytes + offset, &value, sizeof value);
}

/* ---- helpers ---- */

TEST(test_format_thousands) {
    char buf[32];
    CHECK(strcmp(format_thousands(0, buf), "0") == 0, "%s", buf);
    CHECK(strcmp(format_thousands(999, buf), "999") == 0, "%s", buf);
    CHECK(strcmp(format_thousands(1000, buf), "1,000") == 0, "%s", buf);
    CHECK(strcmp(format_thousands(497759232, buf), "497,759,232") == 0, "%s", buf);
    CHECK(strcmp(format_thousands(UINT64_MAX, buf), "18,446,744,073,709,551,615") == 0, "%s", buf);
}

TEST(test_crc32) {
    const char *check = "123456789";
    CHECK(crc32_update(0, check, 9) == 0xCBF43926u, "0x%08x", crc32_update(0, check, 9));
    CHECK(crc32_update(0, "", 0) == 0, "empty");
    unsigned char data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (unsigned char)(i * 7 + 3);
    uint32_t whole = crc32_update(0, data, sizeof data);
    uint32_t pieces = crc32_update(crc32_update(crc32_update(0, data, 3), data + 3, 500), data + 503, 497);
    CHECK(whole == pieces, "chunked 0x%08x vs whole 0x%08x", pieces, whole);
}

TEST(test_read_whole_file) {
    const char *path = in_temp("whole.txt");
    write_bytes(path, "hello", 5);
    void *data;
    size_t size;
    Error err = {0};
    CHECK(read_whole_file(path, &data, &size, &err) == 0, "%s", err.message);
    CHECK(size == 5 && memcmp(data, "hello", 5) == 0, "content");
    free(data);

    const char *empty = in_temp("empty.txt");
    write_bytes(empty, "", 0);
    CHECK(read_whole_file(empty, &data, &size, &err) == 0 && size == 0, "%s", err.message);
    free(data);

    const char *missing = in_temp("missing.txt");
    err = (Error){0};
    CHECK(read_whole_file(missing, &data, &size, &err) == -1, "missing file read");
    CHECK(err.status == EXIT_BAD_INPUT, "status %d", err.status);
    CHECK(strstr(err.message, missing) && strstr(err.message, "No such file or directory"), "%s",
          err.message);
    CHECK(data == NULL, "no data on failure");

    err = (Error){0};
    CHECK(read_whole_file(temp_dir, &data, &size, &err) == -1 && err.status == EXIT_BAD_INPUT, "folder");
}

/* ---- checkpoints ---- */

TEST(test_checkpoint_round_trip) {
    GPT2Config config = small_config();
    size_t n = gpt2_num_params(&config);
    float *params = random_floats(n, 1);
    const char *path = in_temp("model.bin");
    Error err = {0};
    CHECK(checkpoint_save(path, &config, params, &err) == 0, "%s", err.message);

    size_t size;
    unsigned char *bytes = file_bytes(path, &size);
    CHECK(size == HEADER_INTS * 4 + n * 4, "file size %zu", size);
    int32_t header[HEADER_INTS];
    memcpy(header, bytes, sizeof header);
    CHECK(header[0] == 20240326 && header[1] == 3, "magic/version %d %d", header[0], header[1]);
    CHECK(header[2] == 6 && header[3] == 10 && header[4] == 2 && header[5] == 2 && header[6] == 8 &&
              header[7] == 16,
          "llm.c header order");
    int rest_zero = 1;
    for (int i = 8; i < HEADER_INTS; i++) rest_zero &= header[i] == 0;
    CHECK(rest_zero, "unused header words are zero");
    CHECK(memcmp(bytes + HEADER_INTS * 4, params, n * 4) == 0, "parameters stored as raw fp32");

    GPT2Config parsed_config;
    const float *parsed;
    CHECK(checkpoint_parse(bytes, size, "model.bin", &parsed_config, &parsed, &err) == 0, "%s",
          err.message);
    CHECK(memcmp(&parsed_config, &config, sizeof config) == 0, "parsed config");
    CHECK(parsed == (const float *)(bytes + 1024), "parse points inside the data");

    GPT2Config loaded_config;
    float *loaded = NULL;
    CHECK(checkpoint_load(path, &loaded_config, &loaded, &err) == 0, "%s", err.message);
    CHECK(memcmp(&loaded_config, &config, sizeof config) == 0, "loaded config");
    CHECK(loaded && (uintptr_t)loaded % 64 == 0, "64-byte aligned");
    CHECK(loaded && memcmp(loaded, params, n * 4) == 0, "loaded parameters");
    CHECK(count_temp_files(temp_dir) == 0, "no temporary files left");
    free(loaded);
    free(bytes);
    free(params);
}

/* Writes bytes as a file, then checks both the loader and the parser fail with status 2 and a
 * message naming the file and containing keyword. */
static void expect_checkpoint_error(const char *file, const unsigned char *bytes, size_t n,
                                    const char *keyword) {
    const char *path = in_temp(file);
    write_bytes(path, bytes, n);
    GPT2Config config;
    float *params = (float *)1;
    Error err = {0};
    CHECK(checkpoint_load(path, &config, &params, &err) == -1, "%s: load should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT, "%s: status %d (%s)", file, err.status, err.message);
    CHECK(strstr(err.message, path) != NULL, "%s: message names the file: %s", file, err.message);
    CHECK(strstr(err.message, keyword) != NULL, "%s: expected '%s' in: %s", file, keyword, err.message);
    CHECK(params == NULL, "%s: no parameters on failure", file);
    free(params);

    /* the parser sees the same bytes in an aligned buffer */
    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, bytes, n);
    const float *parsed;
    err = (Error){0};
    CHECK(checkpoint_parse(copy, n, file, &config, &parsed, &err) == -1, "%s: parse should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT && strstr(err.message, file) && strstr(err.message, keyword),
          "%s: parse: status %d: %s", file, err.status, err.message);
    free(copy);
}

TEST(test_checkpoint_bad_inputs) {
    GPT2Config config = small_config();
    size_t n = gpt2_num_params(&config);
    float *params = random_floats(n, 2);
    const char *good_path = in_temp("good.bin");
    Error err = {0};
    CHECK(checkpoint_save(good_path, &config, params, &err) == 0, "%s", err.message);
    size_t size;
    unsigned char *good = file_bytes(good_path, &size);
    unsigned char *bad = malloc(size + 64);

    GPT2Config out_config;
    float *out = NULL;
    const char *missing = in_temp("missing.bin");
    err = (Error){0};
    CHECK(checkpoint_load(missing, &out_config, &out, &err) == -1 && err.status == EXIT_BAD_INPUT, "missing");
    CHECK(strstr(err.message, missing) && strstr(err.message, "No such file or directory"), "%s", err.message);
    err = (Error){0};
    CHECK(checkpoint_load(temp_dir, &out_config, &out, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "folder"),
          "a folder: %s", err.message);

    expect_checkpoint_error("empty.bin", good, 0, "empty");
    expect_checkpoint_error("short.bin", good, 100, "too short");
    expect_checkpoint_error("tiny.bin", good, 3, "too short");

    memcpy(bad, good, size);
    put_int(bad, 0, 12345);
    expect_checkpoint_error("magic.bin", bad, size, "not an llm.c GPT-2 checkpoint");
    put_int(bad, 0, SHARD_MAGIC);
    expect_checkpoint_error("shardmagic.bin", bad, size, "token shard");

    memcpy(bad, good, size);
    put_int(bad, 4, 5);
    expect_checkpoint_error("bf16.bin", bad, size, "only fp32 version 3 is supported");
    expect_checkpoint_error("bf16b.bin", bad, size, "bf16");
    put_int(bad, 4, 2);
    expect_checkpoint_error("v2.bin", bad, size, "unsupported checkpoint version 2");

    memcpy(bad, good, size);
    put_int(bad, 5 * 4, 3); /* 3 heads do not divide 8 channels */
    expect_checkpoint_error("heads.bin", bad, size, "invalid model config");
    memcpy(bad, good, size);
    put_int(bad, 4 * 4, -1);
    expect_checkpoint_error("layers.bin", bad, size, "num_layers");
    memcpy(bad, good, size);
    put_int(bad, 7 * 4, 0);
    expect_checkpoint_error("padded0.bin", bad, size, "padded_vocab_size 0");
    memcpy(bad, good, size);
    put_int(bad, 7 * 4, 8); /* padded below the real vocabulary */
    expect_checkpoint_error("padded8.bin", bad, size, "invalid model config");

    expect_checkpoint_error("truncated.bin", good, size - 4, "truncated: expected");
    expect_checkpoint_error("headeronly.bin", good, 1024, "found 0");
    memcpy(bad, good, size);
    memset(bad + size, 0, 64);
    expect_checkpoint_error("long.bin", bad, size + 8, "wrong size");

    /* NaN at the first qkv weight; infinity at the last final-layernorm bias */
    size_t sizes[NUM_PARAM_TENSORS];
    gpt2_param_sizes(&config, sizes);
    size_t qkv_start = 0;
    for (int t = 0; t < PARAM_QKV_W; t++) qkv_start += sizes[t];
    memcpy(bad, good, size);
    float nan_value = NAN, inf_value = -INFINITY;
    memcpy(bad + 1024 + 4 * qkv_start, &nan_value, 4);
    expect_checkpoint_error("nan.bin", bad, size, "qkv.weight[0] is NaN");
    memcpy(bad, good, size);
    memcpy(bad + 1024 + 4 * (n - 1), &inf_value, 4);
    expect_checkpoint_error("inf.bin", bad, size, "lnf.bias[7] is infinite");

    free(bad);
    free(good);
    free(params);
}

TEST(test_checkpoint_save_rejects) {
    GPT2Config config = small_config();
    float *params = random_floats(gpt2_num_params(&config), 3);
    Error err = {0};
    GPT2Config broken = config;
    broken.num_heads = 3;
    const char *path = in_temp("rejected.bin");
    CHECK(checkpoint_save(path, &broken, params, &err) == -1 && err.status == EXIT_BAD_INPUT,
          "invalid config: %s", err.message);
    CHECK(!file_exists(path), "nothing written");
    params[5] = NAN;
    err = (Error){0};
    CHECK(checkpoint_save(path, &config, params, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "wte[5] is NaN"),
          "NaN: %s", err.message);
    CHECK(!file_exists(path), "nothing written");
    free(params);
}

/* ---- shards ---- */

TEST(test_shard_round_trip) {
    enum { N = 1000 };
    uint16_t tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = (uint16_t)((i * 7919) % 50257);
    const char *path = in_temp("shard.bin");
    Error err = {0};
    CHECK(shard_save(path, tokens, N, &err) == 0, "%s", err.message);
    size_t size;
    unsigned char *bytes = file_bytes(path, &size);
    CHECK(size == 1024 + 2 * N, "size %zu", size);
    int32_t header[3];
    memcpy(header, bytes, sizeof header);
    CHECK(header[0] == 20240520 && header[1] == 1 && header[2] == N, "header %d %d %d", header[0],
          header[1], header[2]);

    const uint16_t *parsed;
    size_t count;
    CHECK(shard_parse(bytes, size, "shard.bin", 50257, &parsed, &count, &err) == 0, "%s", err.message);
    CHECK(count == N && memcmp(parsed, tokens, sizeof tokens) == 0, "parsed tokens");

    uint16_t *loaded = NULL;
    CHECK(shard_load(path, 50257, &loaded, &count, &err) == 0, "%s", err.message);
    CHECK(count == N && loaded && memcmp(loaded, tokens, sizeof tokens) == 0, "loaded tokens");
    free(loaded);
    /* 65536 skips the vocabulary check */
    tokens[10] = 65535;
    CHECK(shard_save(path, tokens, N, &err) == 0, "%s", err.message);
    CHECK(shard_load(path, 65536, &loaded, &count, &err) == 0 && loaded[10] == 65535, "%s", err.message);
    free(loaded);
    free(bytes);
}

static void expect_shard_error(const char *file, const unsigned char *bytes, size_t n, int vocab_limit,
                               const char *keyword) {
    const char *path = in_temp(file);
    write_bytes(path, bytes, n);
    uint16_t *tokens = (uint16_t *)1;
    size_t count = 99;
    Error err = {0};
    CHECK(shard_load(path, vocab_limit, &tokens, &count, &err) == -1, "%s: load should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT, "%s: status %d (%s)", file, err.status, err.message);
    CHECK(strstr(err.message, path) != NULL, "%s: message names the file: %s", file, err.message);
    CHECK(strstr(err.message, keyword) != NULL, "%s: expected '%s' in: %s", file, keyword, err.message);
    CHECK(tokens == NULL && count == 0, "%s: nothing returned on failure", file);

    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, bytes, n);
    const uint16_t *parsed;
    err = (Error){0};
    CHECK(shard_parse(copy, n, file, vocab_limit, &parsed, &count, &err) == -1, "%s: parse should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT && strstr(err.message, file) && strstr(err.message, keyword),
          "%s: parse: status %d: %s", file, err.status, err.message);
    free(copy);
}

TEST(test_shard_bad_inputs) {
    enum { N = 50 };
    uint16_t tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = (uint16_t)i;
    const char *good_path = in_temp("good_shard.bin");
    Error err = {0};
    CHECK(shard_save(good_path, tokens, N, &err) == 0, "%s", err.message);
    size_t size;
    unsigned char *good = file_bytes(good_path, &size);
    unsigned char *bad = malloc(size + 16);

    uint16_t *out;
    size_t count;
    const char *missing = in_temp("missing_shard.bin");
    CHECK(shard_load(missing, 100, &out, &count, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, missing) && strstr(err.message, "No such file"),
          "missing: %s", err.message);

    expect_shard_error("s_empty.bin", good, 0, 100, "empty");
    expect_shard_error("s_short.bin", good, 512, 100, "too short");
    memcpy(bad, good, size);
    put_int(bad, 0, 7);
    expect_shard_error("s_magic.bin", bad, size, 100, "not an llm.c token shard");
    put_int(bad, 0, CHECKPOINT_MAGIC);
    expect_shard_error("s_ckpt.bin", bad, size, 100, "looks like an llm.c checkpoint");
    memcpy(bad, good, size);
    put_int(bad, 4, 2);
    expect_shard_error("s_version.bin", bad, size, 100, "version 2");
    memcpy(bad, good, size);
    put_int(bad, 8, -3);
    expect_shard_error("s_negative.bin", bad, size, 100, "invalid token count -3");
    memcpy(bad, good, size);
    put_int(bad, 8, 0);
    expect_shard_error("s_zero.bin", bad, 1024, 100, "no tokens");
    expect_shard_error("s_truncated.bin", good, size - 2, 100, "truncated");
    expect_shard_error("s_odd.bin", good, size - 1, 100, "truncated");
    memcpy(bad, good, size);
    memset(bad + size, 0, 16);
    expect_shard_error("s_trailing.bin", bad, size + 2, 100, "trailing");
    memcpy(bad, good, size);
    uint16_t big = 60000;
    memcpy(bad + 1024 + 2 * 3, &big, 2);
    expect_shard_error("s_vocab.bin", bad, size, 50257, "token 60000 at position 3");
    expect_shard_error("s_vocab2.bin", good, size, 40, "token 40 at position 40");

    err = (Error){0};
    CHECK(shard_save(in_temp("s_none.bin"), tokens, 0, &err) == -1 && err.status == EXIT_BAD_INPUT,
          "saving no tokens: %s", err.message);
    CHECK(!file_exists(in_temp("s_none.bin")), "nothing written");
    free(bad);
    free(good);
}

TEST(test_glob_paths) {
    const char *names[] = {"g_b.bin", "g_a10.bin", "g_B.bin", "g_a.bin", "g_a2.bin", "other.txt"};
    for (int i = 0; i < 6; i++) write_bytes(in_temp(names[i]), "x", 1);
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/g_*.bin", temp_dir);
    char **paths = NULL;
    int count = 0;
    Error err = {0};
    CHECK(glob_paths(pattern, &paths, &count, &err) == 0, "%s", err.message);
    const char *expected[] = {"g_B.bin", "g_a.bin", "g_a10.bin", "g_a2.bin", "g_b.bin"};
    CHECK(count == 5, "count %d", count);
    for (int i = 0; i < count && i < 5; i++)
        CHECK(strcmp(paths[i], in_temp(expected[i])) == 0, "position %d: %s", i, paths[i]);
    free_paths(paths, count);

    snprintf(pattern, sizeof pattern, "%s/nothing_*.bin", temp_dir);
    err = (Error){0};
    CHECK(glob_paths(pattern, &paths, &count, &err) == -1 && err.status == EXIT_BAD_INPUT, "no match");
    char expected_message[700];
    snprintf(expected_message, sizeof expected_message, "no files match '%s'", pattern);
    CHECK(strcmp(err.message, expected_message) == 0, "%s", err.message);
    CHECK(paths == NULL && count == 0, "nothing returned");
}

/* ---- training state ---- */

static TrainState sample_state(uint64_t seed) {
    TrainState s = {.config = small_config(), .step = 1234, .batch_size = 4, .seq_len = 6,
                    .shard_index = 3, .shard_position = 987654321012LL,
                    .rng_state = 0xfedcba9876543210ull};
    s.num_params = gpt2_num_params(&s.config);
    s.params = random_floats(s.num_params, seed);
    s.adam_m = random_floats(s.num_params, seed + 1);
    s.adam_v = random_floats(s.num_params, seed + 2);
    for (size_t i = 0; i < s.num_params; i++) s.adam_v[i] = fabsf(s.adam_v[i]);
    return s;
}

static int same_state(const TrainState *a, const TrainState *b) {
    size_t bytes = a->num_params * sizeof(float);
    return memcmp(&a->config, &b->config, sizeof a->config) == 0 && a->step == b->step &&
           a->batch_size == b->batch_size && a->seq_len == b->seq_len &&
           a->shard_index == b->shard_index && a->shard_position == b->shard_position &&
           a->rng_state == b->rng_state && a->num_params == b->num_params &&
           memcmp(a->params, b->params, bytes) == 0 && memcmp(a->adam_m, b->adam_m, bytes) == 0 &&
           memcmp(a->adam_v, b->adam_v, bytes) == 0;
}

TEST(test_train_state_round_trip) {
    TrainState state = sample_state(10);
    const char *path = in_temp("state.bin");
    Error err = {0};
    CHECK(train_state_save(path, &state, &err) == 0, "%s", err.message);
    size_t size;
    unsigned char *bytes = file_bytes(path, &size);
    CHECK(size == 128 + 12 * state.num_params + 4, "size %zu", size);
    CHECK(memcmp(bytes, "CGPTSTAT", 8) == 0, "magic");
    uint32_t stored;
    memcpy(&stored, bytes + size - 4, 4);
    CHECK(stored == crc32_update(0, bytes, size - 4), "trailer is the CRC-32 of the rest");

    TrainState parsed;
    CHECK(train_state_parse(bytes, size, "state.bin", &parsed, &err) == 0, "%s", err.message);
    CHECK(same_state(&parsed, &state), "parsed state equals saved");
    train_state_free(&parsed);

    TrainState loaded;
    CHECK(train_state_load(path, &loaded, &err) == 0, "%s", err.message);
    CHECK(same_state(&loaded, &state), "loaded state equals saved");
    CHECK((uintptr_t)loaded.params % 64 == 0 && (uintptr_t)loaded.adam_m % 64 == 0, "aligned");
    train_state_free(&loaded);
    CHECK(loaded.params == NULL, "free clears the pointers");
    free(bytes);
    train_state_free(&state);
}

static void expect_state_error(const char *file, const unsigned char *bytes, size_t n, const char *keyword) {
    const char *path = in_temp(file);
    write_bytes(path, bytes, n);
    TrainState state;
    Error err = {0};
    CHECK(train_state_load(path, &state, &err) == -1, "%s: load should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT, "%s: status %d (%s)", file, err.status, err.message);
    CHECK(strstr(err.message, path) != NULL, "%s: message names the file: %s", file, err.message);
    CHECK(strstr(err.message, keyword) != NULL, "%s: expected '%s' in: %s", file, keyword, err.message);
    CHECK(state.params == NULL && state.adam_m == NULL && state.adam_v == NULL, "%s: nothing kept", file);

    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, bytes, n);
    err = (Error){0};
    CHECK(train_state_parse(copy, n, file, &state, &err) == -1, "%s: parse should fail", file);
    CHECK(err.status == EXIT_BAD_INPUT && strstr(err.message, file) && strstr(err.message, keyword),
          "%s: parse: status %d: %s", file, err.status, err.message);
    CHECK(state.params == NULL, "%s: parse keeps nothing", file);
    free(copy);
}

/* Rewrites the trailing CRC so a deliberate change reaches the field checks behind it. */
static void fix_crc(unsigned char *bytes, size_t n) {
    uint32_t crc = crc32_update(0, bytes, n - 4);
    memcpy(bytes + n - 4, &crc, 4);
}

TEST(test_train_state_bad_inputs) {
    TrainState state = sample_state(20);
    const char *good_path = in_temp("good_state.bin");
    Error err = {0};
    CHECK(train_state_save(good_path, &state, &err) == 0, "%s", err.message);
    size_t size;
    unsigned char *good = file_bytes(good_path, &size);
    unsigned char *bad = malloc(size + 16);
    TrainState out;
    const char *missing = in_temp("missing_state.bin");
    CHECK(train_state_load(missing, &out, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, missing) && strstr(err.message, "No such file"),
          "missing: %s", err.message);

    expect_state_error("t_empty.bin", good, 0, "empty");
    expect_state_error("t_tiny.bin", good, 4, "too short");
    expect_state_error("t_short.bin", good, 100, "too short");
    memcpy(bad, good, size);
    bad[3] = 'X';
    expect_state_error("t_magic.bin", bad, size, "not a cgpt training state");
    put_int(bad, 0, CHECKPOINT_MAGIC);
    expect_state_error("t_ckpt.bin", bad, size, "looks like an llm.c checkpoint");
    memcpy(bad, good, size);
    put_int(bad, 8, 2);
    expect_state_error("t_version.bin", bad, size, "version 2");
    memcpy(bad, good, size);
    put_int(bad, 12, 64);
    expect_state_error("t_headersize.bin", bad, size, "header size");
    expect_state_error("t_truncated.bin", good, size - 1, "truncated");
    expect_state_error("t_noarrays.bin", good, 128, "truncated");
    memcpy(bad, good, size);
    memset(bad + size, 0, 16);
    expect_state_error("t_long.bin", bad, size + 4, "wrong size");
    memcpy(bad, good, size);
    uint64_t huge = UINT64_MAX / 2;
    memcpy(bad + 80, &huge, 8);
    expect_state_error("t_hugecount.bin", bad, size, "header claims");

    /* corruption anywhere is caught by the checksum */
    memcpy(bad, good, size);
    bad[128 + 5] ^= 0x10;
    expect_state_error("t_flip_params.bin", bad, size, "checksum mismatch");
    memcpy(bad, good, size);
    bad[48] ^= 1; /* step */
    expect_state_error("t_flip_step.bin", bad, size, "checksum mismatch");
    memcpy(bad, good, size);
    bad[size - 1] ^= 0x80;
    expect_state_error("t_flip_crc.bin", bad, size, "checksum mismatch");

    /* values that pass the checksum but not validation */
    memcpy(bad, good, size);
    put_int(bad, 40, 0);
    fix_crc(bad, size);
    expect_state_error("t_batch.bin", bad, size, "batch_size 0");
    memcpy(bad, good, size);
    put_int(bad, 44, 7); /* seq_len above max_seq_len 6 */
    fix_crc(bad, size);
    expect_state_error("t_seqlen.bin", bad, size, "seq_len 7");
    memcpy(bad, good, size);
    put_int(bad, 32, 3); /* heads */
    fix_crc(bad, size);
    expect_state_error("t_config.bin", bad, size, "invalid model config");
    memcpy(bad, good, size);
    put_int(bad, 24, 32); /* padded vocab: the config now has more parameters than num_params */
    fix_crc(bad, size);
    expect_state_error("t_numparams.bin", bad, size, "num_params");
    memcpy(bad, good, size);
    int64_t negative = -1;
    memcpy(bad + 48, &negative, 8);
    fix_crc(bad, size);
    expect_state_error("t_step.bin", bad, size, "step -1");
    memcpy(bad, good, size);
    bad[100] = 1;
    fix_crc(bad, size);
    expect_state_error("t_reserved.bin", bad, size, "reserved");
    memcpy(bad, good, size);
    float nan_value = NAN;
    memcpy(bad + 128 + 8 * state.num_params + 4 * 2, &nan_value, 4);
    fix_crc(bad, size);
    expect_state_error("t_nan.bin", bad, size, "adam_v wte[2] is NaN");

    /* save refuses inconsistent states and writes nothing */
    const char *rejected = in_temp("t_rejected.bin");
    state.num_params--;
    err = (Error){0};
    CHECK(train_state_save(rejected, &state, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "num_params"),
          "%s", err.message);
    state.num_params++;
    state.seq_len = 0;
    err = (Error){0};
    CHECK(train_state_save(rejected, &state, &err) == -1 && err.status == EXIT_BAD_INPUT, "%s", err.message);
    CHECK(!file_exists(rejected), "nothing written");
    free(bad);
    free(good);
    train_state_free(&state);
}

/* ---- atomic writes and folders ---- */

TEST(test_save_into_missing_folder) {
    GPT2Config config = small_config();
    float *params = random_floats(gpt2_num_params(&config), 4);
    const char *path = in_temp("no_such_folder/model.bin");
    Error err = {0};
    CHECK(checkpoint_save(path, &config, params, &err) == -1, "should fail");
    CHECK(err.status == EXIT_BAD_INPUT, "status %d", err.status);
    CHECK(strstr(err.message, path) && strstr(err.message, "does not exist"), "%s", err.message);
    CHECK(!file_exists(path) && !file_exists(in_temp("no_such_folder")), "nothing created");

    uint16_t tokens[3] = {1, 2, 3};
    err = (Error){0};
    CHECK(shard_save(path, tokens, 3, &err) == -1 && err.status == EXIT_BAD_INPUT, "%s", err.message);
    TrainState state = sample_state(30);
    err = (Error){0};
    CHECK(train_state_save(path, &state, &err) == -1 && err.status == EXIT_BAD_INPUT, "%s", err.message);
    CHECK(!file_exists(path), "nothing created");

    /* a path through a regular file, and a path that is a folder */
    write_bytes(in_temp("plain_file"), "x", 1);
    err = (Error){0};
    CHECK(checkpoint_save(in_temp("plain_file/model.bin"), &config, params, &err) == -1 &&
              err.status == EXIT_BAD_INPUT && strstr(err.message, "not a folder"),
          "%s", err.message);
    err = (Error){0};
    CHECK(checkpoint_save(temp_dir, &config, params, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "is a folder"),
          "%s", err.message);
    train_state_free(&state);
    free(params);
}

TEST(test_atomic_abort_keeps_old_file) {
    const char *path = in_temp("precious.bin");
    write_bytes(path, "old contents", 12);
    AtomicFile af;
    Error err = {0};
    CHECK(atomic_open(&af, path, &err) == 0, "%s", err.message);
    CHECK(atomic_write(&af, "new data that is not committed", 30, &err) == 0, "%s", err.message);
    CHECK(count_temp_files(temp_dir) == 1, "temporary file exists while writing");
    atomic_abort(&af);
    atomic_abort(&af); /* harmless twice */
    size_t size;
    unsigned char *bytes = file_bytes(path, &size);
    CHECK(size == 12 && memcmp(bytes, "old contents", 12) == 0, "old file intact");
    free(bytes);
    CHECK(count_temp_files(temp_dir) == 0, "no temporary files left");

    CHECK(atomic_open(&af, path, &err) == 0, "%s", err.message);
    CHECK(atomic_write(&af, "new", 3, &err) == 0 && atomic_commit(&af, &err) == 0, "%s", err.message);
    bytes = file_bytes(path, &size);
    CHECK(size == 3 && memcmp(bytes, "new", 3) == 0, "committed file replaced the old one");
    free(bytes);
    CHECK(count_temp_files(temp_dir) == 0, "no temporary files left");
}

/* A real write failure: a file-size limit makes write() fail with EFBIG part way through. */
TEST(test_failed_write_keeps_old_file) {
    GPT2Config config = small_config();
    float *params = random_floats(gpt2_num_params(&config), 5);
    const char *path = in_temp("limited.bin");
    write_bytes(path, "previous checkpoint", 19);

    struct rlimit saved_limit, small_limit;
    getrlimit(RLIMIT_FSIZE, &saved_limit);
    small_limit = saved_limit;
    small_limit.rlim_cur = 2000;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small_limit);
    Error err = {0};
    int result = checkpoint_save(path, &config, params, &err);
    TrainState state = sample_state(40);
    Error state_err = {0};
    int state_result = train_state_save(path, &state, &state_err);
    setrlimit(RLIMIT_FSIZE, &saved_limit);
    signal(SIGXFSZ, saved_handler);

    CHECK(result == -1 && err.status == EXIT_RUNTIME, "status %d: %s", err.status, err.message);
    CHECK(strstr(err.message, path) != NULL, "%s", err.message);
    CHECK(state_result == -1 && state_err.status == EXIT_RUNTIME, "%s", state_err.message);
    size_t size;
    unsigned char *bytes = file_bytes(path, &size);
    CHECK(size == 19 && memcmp(bytes, "previous checkpoint", 19) == 0, "old file intact");
    free(bytes);
    CHECK(count_temp_files(temp_dir) == 0, "no temporary files left");
    train_state_free(&state);
    free(params);
}

TEST(test_ensure_writable_dir) {
    Error err = {0};
    CHECK(ensure_writable_dir(temp_dir, 0, &err) == 0, "%s", err.message);
    const char *nested = in_temp("a/b/c");
    CHECK(ensure_writable_dir(nested, 1, &err) == 0, "%s", err.message);
    struct stat info;
    CHECK(stat(nested, &info) == 0 && S_ISDIR(info.st_mode), "created");
    CHECK(ensure_writable_dir(in_temp("a/b/c/"), 1, &err) == 0, "trailing slash: %s", err.message);

    const char *missing = in_temp("not_there");
    err = (Error){0};
    CHECK(ensure_writable_dir(missing, 0, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, missing),
          "%s", err.message);
    CHECK(!file_exists(missing), "not created without create");

    const char *plain = in_temp("plain_file2");
    write_bytes(plain, "x", 1);
    err = (Error){0};
    CHECK(ensure_writable_dir(plain, 1, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "not a folder") && strstr(err.message, plain),
          "%s", err.message);
    err = (Error){0};
    CHECK(ensure_writable_dir(in_temp("plain_file2/sub"), 1, &err) == -1 && err.status == EXIT_BAD_INPUT,
          "%s", err.message);

    /* An unwritable folder: permission bits do not stop root, so root uses /proc instead. */
    const char *locked = "/proc";
    if (geteuid() != 0) {
        locked = in_temp("locked");
        mkdir(locked, 0555);
    }
    err = (Error){0};
    CHECK(ensure_writable_dir(locked, 0, &err) == -1 && err.status == EXIT_BAD_INPUT &&
              strstr(err.message, "not writable") && strstr(err.message, locked),
          "%s", err.message);
    if (geteuid() != 0) chmod(locked, 0755);

    int count = 0;
    DIR *d = opendir(temp_dir);
    for (struct dirent *e; d && (e = readdir(d));) count += strstr(e->d_name, "write-probe") != NULL;
    if (d) closedir(d);
    CHECK(count == 0, "probe files removed");
}

int main(void) {
    snprintf(temp_dir, sizeof temp_dir, "/tmp/cgpt_test_files_XXXXXX");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_format_thousands);
    RUN_TEST(test_crc32);
    RUN_TEST(test_read_whole_file);
    RUN_TEST(test_checkpoint_round_trip);
    RUN_TEST(test_checkpoint_bad_inputs);
    RUN_TEST(test_checkpoint_save_rejects);
    RUN_TEST(test_shard_round_trip);
    RUN_TEST(test_shard_bad_inputs);
    RUN_TEST(test_glob_paths);
    RUN_TEST(test_train_state_round_trip);
    RUN_TEST(test_train_state_bad_inputs);
    RUN_TEST(test_save_into_missing_folder);
    RUN_TEST(test_atomic_abort_keeps_old_file);
    RUN_TEST(test_failed_write_keeps_old_file);
    RUN_TEST(test_ensure_writable_dir);
    nftw(temp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TEST_SUMMARY();
}
