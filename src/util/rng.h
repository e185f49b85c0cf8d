/* A small, fast, reproducible random number generator (xorshift64*), plus normal samples (whose
 * large fills run their transform on the thread pool, with the same values as one at a time).
 * Its whole state is one 64-bit word, so it is saved with checkpoints to make resumes exact. */
#ifndef CGPT_RNG_H
#define CGPT_RNG_H
#include <stdint.h>

typedef struct { uint64_t state; } Rng;

void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next_u64(Rng *rng);
/* uniform in [0, 1) with 24 random bits (exactly representable as float) */
float rng_uniform(Rng *rng);
/* standard normal via Box-Muller */
float rng_normal(Rng *rng);
/* fills x[n] with uniform values in [lo, hi) */
void rng_fill_uniform(Rng *rng, float *x, long n, float lo, float hi);
void rng_fill_normal(Rng *rng, float *x, long n, float mean, float std);

#endif
