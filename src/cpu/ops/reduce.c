/* Sum of squares over a large array (the global gradient norm for clipping), in double.
 * The array is cut into chunks of fixed size; each chunk is summed in 16 double lanes and the
 * chunk sums are added in chunk order, so the result does not depend on the thread count. */
#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"
#include "util/error.h"

#include <stdlib.h>

#define SQUARES_CHUNK (1L << 18) /* 1 MB of floats: a few chunks per thread even at 16 threads */

typedef struct {
    const float *x;
    long n;
    double *chunk_sums;
} SquaresJob;

CGPT_HOT static void sum_of_squares_task(void *context, int chunk) {
    const SquaresJob *job = context;
    long first = chunk * SQUARES_CHUNK;
    long last = first + SQUARES_CHUNK < job->n ? first + SQUARES_CHUNK : job->n;
    const float *x = job->x;
    f64x16 lanes = {0};
    f32x16 values;
    long i = first;
    for (; i + LANES <= last; i += LANES) {
        vec_load(&values, x + i);
        f64x16 wide = __builtin_convertvector(values, f64x16);
        lanes += wide * wide;
    }
    double total = 0.0;
    for (int j = 0; j < LANES; j++) total += lanes[j];
    for (; i < last; i++) total += (double)x[i] * x[i];
    job->chunk_sums[chunk] = total;
}

double sum_of_squares(const float *x, long n) {
    if (n <= 0) return 0.0;
    long n_chunks = (n + SQUARES_CHUNK - 1) / SQUARES_CHUNK;
    double one_chunk;
    SquaresJob job = {x, n, n_chunks == 1 ? &one_chunk : NULL};
    if (n_chunks > 1) job.chunk_sums = xmalloc(sizeof(double) * n_chunks, "sum_of_squares chunk sums");
    pool_run((int)n_chunks, sum_of_squares_task, &job);
    double total = 0.0;
    for (long c = 0; c < n_chunks; c++) total += job.chunk_sums[c];
    if (n_chunks > 1) free(job.chunk_sums);
    return total;
}
