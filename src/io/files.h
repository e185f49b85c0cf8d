/* cgpt's files: llm.c checkpoints (magic 20240326, version 3, fp32), llm.c token shards (magic
 * 20240520, version 1, uint16), cgpt's training-state file for exact resumes, and atomic writes.
 * Every reader validates everything it reads and reports problems naming the file; every writer
 * writes a temporary file in the same folder, flushes, fsyncs and renames it into place, so a
 * killed process leaves either the old file or the new one, never a half-written one. */
#ifndef CGPT_FILES_H
#define CGPT_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/config.h"
#include "util/error.h"

/* ---- atomic writes ---- */
typedef struct {
    FILE *file;
    char final_path[4096];
    char temp_path[4200];
} AtomicFile;
/* Opens "<path>.tmp.<pid>" for writing. Fails (status 2) if the folder is missing or unwritable. */
int atomic_open(AtomicFile *af, const char *path, Error *err);
/* Writes bytes; on failure removes the temporary file and fails (status 1). */
int atomic_write(AtomicFile *af, const void *data, size_t bytes, Error *err);
/* Flushes, fsyncs, closes and renames into place; on failure removes the temporary file. */
int atomic_commit(AtomicFile *af, Error *err);
/* Closes and removes the temporary file (after an error elsewhere). */
void atomic_abort(AtomicFile *af);
/* Checks that a folder exists (creating it if create is set) and is writable. */
int ensure_writable_dir(const char *dir, int create, Error *err);

/* ---- llm.c checkpoints ---- */
enum { CHECKPOINT_MAGIC = 20240326, CHECKPOINT_VERSION = 3, HEADER_INTS = 256 };
/* Parses a whole checkpoint held in memory (used by the loader and the fuzzer). On success fills
 * config and points *params at the fp32 parameters inside data (aligned copy not made; data must
 * be 4-byte aligned, as malloc'ed data is). Header word [7] (padded_vocab_size) must be set:
 * llm.c has written it in every version 3 file and never derived it from a 0, so 0 is an error.
 * NaN or infinite parameters are rejected naming the tensor. */
int checkpoint_parse(const void *data, size_t size, const char *name, GPT2Config *config,
                     const float **params, Error *err);
/* Reads a checkpoint file; *params is malloc'ed (64-byte aligned), gpt2_num_params(config) floats. */
int checkpoint_load(const char *path, GPT2Config *config, float **params, Error *err);
int checkpoint_save(const char *path, const GPT2Config *config, const float *params, Error *err);

/* ---- llm.c token shards ---- */
enum { SHARD_MAGIC = 20240520, SHARD_VERSION = 1 };
/* Parses a shard in memory (data 2-byte aligned); *tokens points inside data; *count tokens. Tokens >= vocab_limit are
 * an error naming the file and the position (pass vocab_limit = 65536 to skip that check). */
int shard_parse(const void *data, size_t size, const char *name, int vocab_limit,
                const uint16_t **tokens, size_t *count, Error *err);
/* Reads a shard file into a malloc'ed array. */
int shard_load(const char *path, int vocab_limit, uint16_t **tokens, size_t *count, Error *err);
int shard_save(const char *path, const uint16_t *tokens, size_t count, Error *err);
/* Expands a glob pattern into a sorted list of paths (malloc'ed; free with free_paths). No match
 * is an error (status 2) naming the pattern. */
int glob_paths(const char *pattern, char ***paths, int *count, Error *err);
void free_paths(char **paths, int count);

/* ---- training state (cgpt's own format, for exact resumes) ----
 * One file holds everything a resumed run needs: config, parameters, AdamW moments, step, data
 * position, RNG state and batch shape. See docs/FORMATS.md. */
typedef struct {
    GPT2Config config;
    int64_t step;            /* number of completed optimizer steps */
    int32_t batch_size, seq_len;
    int64_t shard_index, shard_position; /* where the training loader reads next */
    uint64_t rng_state;
    size_t num_params;
    float *params, *adam_m, *adam_v; /* num_params each; owned by the caller on save, malloc'ed on load */
} TrainState;
int train_state_save(const char *path, const TrainState *state, Error *err);
int train_state_load(const char *path, TrainState *state, Error *err);
int train_state_parse(const void *data, size_t size, const char *name, TrainState *state, Error *err);
void train_state_free(TrainState *state);

/* Reads a whole file into memory (malloc'ed). Missing or unreadable: status 2 naming the file. */
int read_whole_file(const char *path, void **data, size_t *size, Error *err);

/* ---- helpers shared by the readers and writers (also usable by commands) ---- */
/* Formats n with thousands separators ("497,759,232") into buf and returns buf. */
const char *format_thousands(uint64_t n, char buf[32]);
/* Opens a file for binary reading and gives its size. Missing, unreadable or a folder: status 2
 * naming the file (the message is "PATH: <strerror>" style). */
int open_input_file(const char *path, FILE **file, uint64_t *size, Error *err);
/* Reads exactly bytes. End of file first: status 2 "PATH: truncated ..."; I/O error: status 1. */
int read_exact(FILE *file, void *data, size_t bytes, const char *path, Error *err);
/* 64-byte aligned allocation for an array about to be filled from a file (free with free());
 * NULL when out of memory. Big buffers have their pages faulted in by one call, which makes the
 * read that follows several times faster than faulting page by page. */
void *alloc_aligned_for_reading(size_t bytes);
/* CRC-32 as in zlib and IEEE 802.3 (reflected polynomial 0xEDB88320): crc32_update(0, d, n) is the
 * CRC of d[0..n); to checksum in pieces, pass the previous result as crc. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t bytes);
/* Fails (status 2) with "NAME: WHAT TENSOR[i] is NaN/infinite" at the first non-finite value of a
 * flat parameter-shaped array (what: "parameter", "adam_m", ...); 0 if all are finite. */
int check_params_finite(const float *values, const GPT2Config *config, const char *name,
                        const char *what, Error *err);

/* The formats are little-endian and are read in place (no byte swapping). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cgpt's file formats are little-endian: build on a little-endian host"
#endif

#endif
