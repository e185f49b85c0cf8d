/* xorshift64* and Box-Muller: simple, deterministic across platforms, and easy to checkpoint. */
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>

#include "util/threadpool.h"

void rng_seed(Rng *rng, uint64_t seed) {
    /* splitmix64 scrambles the seed so that nearby seeds give unrelated streams; never zero */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    rng->state = z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t rng_next_u64(Rng *rng) {
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float rng_uniform(Rng *rng) { return (float)(rng_next_u64(rng) >> 40) / 16777216.0f; }

/* A standard normal from two draws, the first for the radius and the second for the angle. */
static float box_muller(uint64_t first, uint64_t second) {
    /* 1 - u keeps the log argument in (0, 1] */
    double u1 = 1.0 - (double)(first >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(second >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float rng_normal(Rng *rng) {
    uint64_t first = rng_next_u64(rng);
    return box_muller(first, rng_next_u64(rng));
}

void rng_fill_uniform(Rng *rng, float *x, long n, float lo, float hi) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(rng);
}

/* Normal fills are a model's initialisation (124M values: ~3 s on one Zen 5 core, 90% of it in
 * log and cos). The stream of draws is serial but cheap; the transform is spread over the pool.
 * Chunk by chunk: while the pool transforms one chunk's draws, its task 0 makes the next chunk's
 * draws, in order, into the other buffer. Every value is computed as rng_normal would, so the
 * result and the final state equal the one-at-a-time loop's. */
enum { NORMAL_CHUNK = 1 << 17, NORMAL_MIN_PER_TASK = 4096 };

typedef struct {
    Rng *rng;
    const uint64_t *draws; /* this chunk's, two per value */
    uint64_t *next_draws;  /* task 0 fills it with the next chunk's (next_count values) */
    long next_count;
    float *x;
    long count;
    int transform_tasks;
    float mean, std;
} NormalJob;

static void fill_draws(Rng *rng, uint64_t *draws, long values) {
    for (long i = 0; i < 2 * values; i++) draws[i] = rng_next_u64(rng);
}

static void normal_task(void *context, int task) {
    const NormalJob *job = context;
    if (task == 0) {
        fill_draws(job->rng, job->next_draws, job->next_count);
        return;
    }
    task -= 1;
    long first = job->count * task / job->transform_tasks, last = job->count * (task + 1) / job->transform_tasks;
    for (long i = first; i < last; i++)
        job->x[i] = job->mean + job->std * box_muller(job->draws[2 * i], job->draws[2 * i + 1]);
}

void rng_fill_normal(Rng *rng, float *x, long n, float mean, float std) {
    long chunk = n < NORMAL_CHUNK ? n : NORMAL_CHUNK;
    uint64_t *buffers = n > NORMAL_MIN_PER_TASK ? malloc(4 * sizeof(uint64_t) * chunk) : NULL;
    if (!buffers) { /* small, or no memory for the draws: one at a time */
        for (long i = 0; i < n; i++) x[i] = mean + std * rng_normal(rng);
        return;
    }
    uint64_t *draws = buffers, *next_draws = buffers + 2 * chunk;
    fill_draws(rng, draws, chunk);
    for (long start = 0; start < n; start += chunk) {
        long count = n - start < chunk ? n - start : chunk, after = n - start - count;
        long pieces = count / NORMAL_MIN_PER_TASK;
        int tasks = 4 * pool_size(); /* several a thread: the one making the draws takes fewer */
        NormalJob job = {rng, draws, next_draws, after < chunk ? after : chunk, x + start, count,
                         (int)(pieces < 1 ? 1 : pieces < tasks ? pieces : tasks), mean, std};
        pool_run(1 + job.transform_tasks, normal_task, &job);
        uint64_t *swap = draws;
        draws = next_draws;
        next_draws = swap;
    }
    free(buffers);
}
