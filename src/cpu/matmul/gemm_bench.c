/* Times a matmul rung (see gemm_bench.h) on each product as a training step runs it: operands in
 * huge pages, the weight and the output out of cache, the weight gradient overwritten. Inputs are
 * uniform random so no zero shortcut is ever taken. */
#include "cpu/matmul/gemm_bench.h"

#include <stdlib.h>
#include <string.h>

#include "util/bigmem.h"
#include "util/rng.h"
#include "util/timer.h"

/* A training step touches each weight and weight gradient once, among ~1.5 GB of others, so every
 * product finds its weight (or gradient) and its output out of cache. Calls therefore rotate through
 * copies of those two operands that together exceed any cache. Timing one buffer over and over would
 * measure a state a step never has: the weight in L3, and the gradient's lines dirty in whichever
 * core's cache ran that tile last call (docs/NOTES.md round ten). */
#define ROTATION_BYTES (256L << 20)

/* The rotation buffers, kept across measurements (bench --gemm runs ~15 per rung) and filled once:
 * a random first copy, then copies of it. */
typedef struct {
    float *data;
    long floats;
} BenchArena;
static BenchArena weights_arena, outputs_arena;

static float *arena_reserve(BenchArena *arena, long floats, long copy_floats, Rng *rng) {
    if (floats <= arena->floats) return arena->data;
    free(arena->data);
    arena->data = big_alloc((size_t)floats * sizeof(float));
    arena->floats = arena->data ? floats : 0;
    if (!arena->data) return NULL;
    rng_fill_uniform(rng, arena->data, copy_floats, -1.0f, 1.0f);
    for (long at = copy_floats; at < floats; at += copy_floats)
        memcpy(arena->data + at, arena->data, (size_t)(floats - at < copy_floats ? floats - at : copy_floats) * sizeof(float));
    return arena->data;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void call_pass(const MatmulRung *rung, int pass, float *out, const float *left, const float *right,
                      const float *bias, int M, int N, int K) {
    switch (pass) {
    case GEMM_PASS_FORWARD: rung->forward(out, left, right, bias, M, N, K); break;
    case GEMM_PASS_BACKWARD_INPUT: rung->backward_input(out, left, right, M, N, K); break;
    /* overwritten, as a step with one micro-step (the default) writes it; without the gradient
     * norm's sum of squares, which the reference rungs (openblas) would add as a separate pass */
    default: rung->backward_weight(out, left, right, M, N, K, 0, NULL); break;
    }
}

GemmBenchResult gemm_bench_run(const MatmulRung *rung, int pass, int M, int N, int K, double min_seconds) {
    GemmBenchResult result = {0, 0, 0};
    if (!rung->available() || M <= 0 || N <= 0 || K <= 0) return result;
    if ((pass == GEMM_PASS_FORWARD && !rung->forward) || (pass == GEMM_PASS_BACKWARD_INPUT && !rung->backward_input) ||
        (pass == GEMM_PASS_BACKWARD_WEIGHT && !rung->backward_weight))
        return result;
    /* Operand shapes per pass: forward inp[M,K] x weight[N,K] -> out[M,N];
     * backward_input dout[M,N] x weight[N,K] -> dinp[M,K]; backward_weight dout[M,N] x inp[M,K] -> dweight[N,K]. */
    long left_n = pass == GEMM_PASS_FORWARD ? (long)M * K : (long)M * N;
    long right_n = pass == GEMM_PASS_BACKWARD_WEIGHT ? (long)M * K : (long)N * K;
    long out_n = pass == GEMM_PASS_FORWARD ? (long)M * N : pass == GEMM_PASS_BACKWARD_INPUT ? (long)M * K : (long)N * K;
    /* The weight (forward, backward_input) and the output rotate; backward_weight's right operand
     * is an activation, which a step has just written, so it stays put like the left one. */
    int weight_rotates = pass != GEMM_PASS_BACKWARD_WEIGHT;
    long weight_n = weight_rotates ? right_n : 0;
    long copy_n = weight_n > out_n ? weight_n : out_n; /* both arenas step by the larger operand */
    long copies = ROTATION_BYTES / (copy_n * (long)sizeof(float)) + 1;
    Rng rng;
    rng_seed(&rng, 1234);
    float *left = big_alloc(left_n * sizeof(float)), *bias = malloc((long)N * sizeof(float));
    float *fixed_right = weight_rotates ? NULL : big_alloc(right_n * sizeof(float));
    float *weights = weight_rotates ? arena_reserve(&weights_arena, copies * copy_n, copy_n, &rng) : NULL;
    float *outs = arena_reserve(&outputs_arena, copies * copy_n, copy_n, &rng);
    double *seconds = NULL;
    if (!left || !bias || (weight_rotates ? !weights : !fixed_right) || !outs) goto done;
    rng_fill_uniform(&rng, left, left_n, -1.0f, 1.0f);
    rng_fill_uniform(&rng, bias, N, -1.0f, 1.0f);
    if (fixed_right) rng_fill_uniform(&rng, fixed_right, right_n, -1.0f, 1.0f);
    long turn = 0;
#define NEXT_CALL()                                                                                          \
    do {                                                                                                     \
        long at_ = turn++ % copies * copy_n;                                                                 \
        call_pass(rung, pass, outs + at_, left, weight_rotates ? weights + at_ : fixed_right, bias, M, N, K); \
    } while (0)

    /* warm-up: page in the buffers, grow the rung's packing buffers, wake the thread pool */
    double warm_start = now_seconds();
    do NEXT_CALL();
    while (now_seconds() - warm_start < 0.1 * min_seconds);

    int capacity = 64, count = 0;
    seconds = malloc(capacity * sizeof(double));
    if (!seconds) goto done;
    double start = now_seconds();
    while (count < 5 || now_seconds() - start < min_seconds) {
        double t0 = now_seconds();
        NEXT_CALL();
        double t1 = now_seconds();
        if (count == capacity) {
            double *grown = realloc(seconds, 2 * capacity * sizeof(double));
            if (!grown) break;
            seconds = grown;
            capacity *= 2;
        }
        seconds[count++] = t1 - t0;
    }
#undef NEXT_CALL
    qsort(seconds, count, sizeof(double), compare_doubles);
    double median = count % 2 ? seconds[count / 2] : 0.5 * (seconds[count / 2 - 1] + seconds[count / 2]);
    double flops = 2.0 * M * N * K;
    result = (GemmBenchResult){flops / median * 1e-9, flops / seconds[0] * 1e-9, count};
done:
    free(left); free(fixed_right); free(bias); free(seconds);
    return result;
}
