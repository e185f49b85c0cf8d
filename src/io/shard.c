/* llm.c token shards: a 256-int32 header (magic 20240520, version 1, token count) followed by the
 * tokens as little-endian uint16. Also glob_paths, which expands a shard pattern such as
 * "data/train_*.bin" into a sorted file list. */
#include "io/files.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>

enum { SHARD_HEADER_BYTES = HEADER_INTS * 4, MAX_SHARD_TOKENS = 0x7fffffff };

static int32_t header_int(const unsigned char *header, int index) {
    int32_t value;
    memcpy(&value, header + 4 * index, sizeof value);
    return value;
}

/* Validates the header against the file size and gives the token count. */
static int check_header(const unsigned char *header, uint64_t file_size, const char *name,
                        size_t *count, Error *err) {
    char a[32], b[32], c[32];
    if (file_size == 0)
        return error_set(err, EXIT_BAD_INPUT, "%s: file is empty (expected an llm.c token shard)", name);
    if (file_size >= 4) {
        int32_t magic = header_int(header, 0);
        if (magic != SHARD_MAGIC) {
            const char *hint = magic == CHECKPOINT_MAGIC ? "; it looks like an llm.c checkpoint" : "";
            return error_set(err, EXIT_BAD_INPUT,
                             "%s: not an llm.c token shard (magic number %d, expected %d)%s", name,
                             magic, SHARD_MAGIC, hint);
        }
    }
    if (file_size < SHARD_HEADER_BYTES)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: too short for a token shard header: need %s bytes, found %s", name,
                         format_thousands(SHARD_HEADER_BYTES, a), format_thousands(file_size, b));
    int32_t version = header_int(header, 1);
    if (version != SHARD_VERSION)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: unsupported token shard version %d: only version 1 (uint16 tokens) is "
                         "supported",
                         name, version);
    int32_t declared = header_int(header, 2);
    if (declared < 0)
        return error_set(err, EXIT_BAD_INPUT, "%s: invalid token count %d in header", name, declared);
    if (declared == 0) return error_set(err, EXIT_BAD_INPUT, "%s: shard holds no tokens", name);
    uint64_t expected = (uint64_t)declared * sizeof(uint16_t);
    uint64_t found = file_size - SHARD_HEADER_BYTES;
    if (found < expected)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: truncated: header says %s tokens (%s bytes), found %s bytes", name,
                         format_thousands((uint64_t)declared, a), format_thousands(expected, b),
                         format_thousands(found, c));
    if (found > expected)
        return error_set(err, EXIT_BAD_INPUT,
                         "%s: wrong size: header says %s tokens (%s bytes), found %s bytes after the "
                         "header (trailing data)",
                         name, format_thousands((uint64_t)declared, a), format_thousands(expected, b),
                         format_thousands(found, c));
    *count = (size_t)declared;
    return 0;
}

static int check_tokens(const uint16_t *tokens, size_t count, int vocab_limit, const char *name,
                        Error *err) {
    if (vocab_limit <= 0)
        return error_set(err, EXIT_BAD_INPUT, "%s: vocabulary limit %d must be positive", name,
                         vocab_limit);
    if (vocab_limit >= 65536) return 0; /* every uint16 fits */
    /* An OR of "too large" flags keeps the scan branch-free; the position is searched only on failure. */
    unsigned any_bad = 0;
    for (size_t i = 0; i < count; i++) any_bad |= tokens[i] >= vocab_limit;
    if (!any_bad) return 0;
    size_t i = 0;
    while (tokens[i] < vocab_limit) i++;
    char position[32];
    return error_set(err, EXIT_BAD_INPUT,
                     "%s: token %u at position %s is outside the vocabulary (must be below %d)", name,
                     (unsigned)tokens[i], format_thousands(i, position), vocab_limit);
}

int shard_parse(const void *data, size_t size, const char *name, int vocab_limit,
                const uint16_t **tokens, size_t *count, Error *err) {
    *tokens = NULL;
    *count = 0;
    if (size > 0 && (uintptr_t)data % sizeof(uint16_t) != 0)
        return error_set(err, EXIT_RUNTIME, "%s: shard buffer is not 2-byte aligned", name);
    size_t n = 0;
    if (check_header(data, size, name, &n, err)) return -1;
    const uint16_t *values = (const uint16_t *)((const unsigned char *)data + SHARD_HEADER_BYTES);
    if (check_tokens(values, n, vocab_limit, name, err)) return -1;
    *tokens = values;
    *count = n;
    return 0;
}

int shard_load(const char *path, int vocab_limit, uint16_t **tokens, size_t *count, Error *err) {
    *tokens = NULL;
    *count = 0;
    FILE *f;
    uint64_t size;
    if (open_input_file(path, &f, &size, err)) return -1;
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    size_t header_bytes = size < SHARD_HEADER_BYTES ? (size_t)size : SHARD_HEADER_BYTES;
    size_t n = 0;
    if (read_exact(f, header, header_bytes, path, err) || check_header(header, size, path, &n, err)) {
        fclose(f);
        return -1;
    }
    uint16_t *values = malloc(n * sizeof(uint16_t));
    if (!values) {
        fclose(f);
        char bytes[32];
        return error_set(err, EXIT_RUNTIME, "%s: out of memory allocating %s bytes for the tokens", path,
                         format_thousands(n * sizeof(uint16_t), bytes));
    }
    if (read_exact(f, values, n * sizeof(uint16_t), path, err) ||
        check_tokens(values, n, vocab_limit, path, err)) {
        free(values);
        fclose(f);
        return -1;
    }
    fclose(f);
    *tokens = values;
    *count = n;
    return 0;
}

int shard_save(const char *path, const uint16_t *tokens, size_t count, Error *err) {
    char limit[32];
    if (count == 0) return error_set(err, EXIT_BAD_INPUT, "cannot save %s: no tokens", path);
    if (count > MAX_SHARD_TOKENS)
        return error_set(err, EXIT_BAD_INPUT, "cannot save %s: more than %s tokens in one shard", path,
                         format_thousands(MAX_SHARD_TOKENS, limit));
    int32_t header[HEADER_INTS] = {0};
    header[0] = SHARD_MAGIC;
    header[1] = SHARD_VERSION;
    header[2] = (int32_t)count;
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    if (atomic_write(&af, header, sizeof header, err) ||
        atomic_write(&af, tokens, count * sizeof(uint16_t), err) || atomic_commit(&af, err)) {
        atomic_abort(&af);
        return -1;
    }
    return 0;
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int glob_paths(const char *pattern, char ***paths, int *count, Error *err) {
    *paths = NULL;
    *count = 0;
    glob_t found;
    int result = glob(pattern, 0, NULL, &found);
    if (result == GLOB_NOMATCH) {
        globfree(&found);
        return error_set(err, EXIT_BAD_INPUT, "no files match '%s'", pattern);
    }
    if (result != 0) {
        globfree(&found);
        return error_set(err, result == GLOB_NOSPACE ? EXIT_RUNTIME : EXIT_BAD_INPUT,
                         "cannot list files matching '%s': %s", pattern,
                         result == GLOB_NOSPACE ? "out of memory" : "read error");
    }
    if (found.gl_pathc > 0x7fffffff) {
        globfree(&found);
        return error_set(err, EXIT_BAD_INPUT, "too many files match '%s'", pattern);
    }
    int n = (int)found.gl_pathc;
    char **list = calloc((size_t)n, sizeof *list);
    for (int i = 0; list && i < n; i++) {
        list[i] = strdup(found.gl_pathv[i]);
        if (!list[i]) {
            free_paths(list, i);
            list = NULL;
        }
    }
    globfree(&found);
    if (!list) return error_set(err, EXIT_RUNTIME, "out of memory listing files matching '%s'", pattern);
    /* glob sorts by the locale's collation; byte order makes the shard order the same everywhere. */
    qsort(list, (size_t)n, sizeof *list, compare_paths);
    *paths = list;
    *count = n;
    return 0;
}

void free_paths(char **paths, int count) {
    if (!paths) return;
    for (int i = 0; i < count; i++) free(paths[i]);
    free(paths);
}
