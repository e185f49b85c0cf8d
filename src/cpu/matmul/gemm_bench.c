/* Times a matmul rung (see gemm_bench.h). The accumulating passes keep adding into the same output,
 * which is harmless for timing; inputs are uniform random so no zero shortcut is ever taken. */
#include "cpu/matmul/gemm_bench.h"

#include <stdlib.h>

#include "util/rng.h"
#include "util/timer.h"

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void call_pass(const MatmulRung *rung, int pass, float *out, const float *left, const float *right,
                      const float *bias, int M, int N, int K) {
    switch (pass) {
    case GEMM_PASS_FORWARD: rung->forward(out, left, right, bias, M, N, K); break;
    case GEMM_PASS_BACKWARD_INPUT: rung->backward_input(out, left, right, M, N, K); break;
    default: rung->backward_weight(out, left, right, M, N, K, 1, NULL); break;
    }
}

double gemm_bench_gflops(const MatmulRung *rung, int pass, int M, int N, int K, double min_seconds) {
    return gemm_bench_run(rung, pass, M, N, K, min_seconds).median_gflops;
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
    float *left = malloc(left_n * sizeof(float)), *right = malloc(right_n * sizeof(float));
    float *out = malloc(out_n * sizeof(float)), *bias = malloc((long)N * sizeof(float));
    double *seconds = NULL;
    if (!left || !right || !out || !bias) goto done;
    Rng rng;
    rng_seed(&rng, 1234);
    rng_fill_uniform(&rng, left, left_n, -1.0f, 1.0f);
    rng_fill_uniform(&rng, right, right_n, -1.0f, 1.0f);
    rng_fill_uniform(&rng, out, out_n, -1.0f, 1.0f);
    rng_fill_uniform(&rng, bias, N, -1.0f, 1.0f);

    /* warm-up: page in the buffers, grow the rung's packing buffers, wake the thread pool */
    double warm_start = now_seconds();
    do call_pass(rung, pass, out, left, right, bias, M, N, K);
    while (now_seconds() - warm_start < 0.1 * min_seconds);

    int capacity = 64, count = 0;
    seconds = malloc(capacity * sizeof(double));
    if (!seconds) goto done;
    double start = now_seconds();
    while (count < 5 || now_seconds() - start < min_seconds) {
        double t0 = now_seconds();
        call_pass(rung, pass, out, left, right, bias, M, N, K);
        double t1 = now_seconds();
        if (count == capacity) {
            double *grown = realloc(seconds, 2 * capacity * sizeof(double));
            if (!grown) break;
            seconds = grown;
            capacity *= 2;
        }
        seconds[count++] = t1 - t0;
    }
    qsort(seconds, count, sizeof(double), compare_doubles);
    double median = count % 2 ? seconds[count / 2] : 0.5 * (seconds[count / 2 - 1] + seconds[count / 2]);
    double flops = 2.0 * M * N * K;
    result = (GemmBenchResult){flops / median * 1e-9, flops / seconds[0] * 1e-9, count};
done:
    free(left); free(right); free(out); free(bias); free(seconds);
    return result;
}
