/* xorshift64* and Box-Muller: simple, deterministic across platforms, and easy to checkpoint. */
#include "util/rng.h"

#include <math.h>

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

float rng_normal(Rng *rng) {
    /* 1 - u keeps the log argument in (0, 1] */
    double u1 = 1.0 - (double)(rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void rng_fill_uniform(Rng *rng, float *x, long n, float lo, float hi) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(rng);
}

void rng_fill_normal(Rng *rng, float *x, long n, float mean, float std) {
    for (long i = 0; i < n; i++) x[i] = mean + std * rng_normal(rng);
}
