/* Rung "naive": the textbook loops in llm.c's order, one thread, no tricks. The baseline row of the
 * ladder and the reference every other rung is tested against. */
#include "cpu/matmul/matmul.h"
#include "cpu/ops/ops.h" /* sum_of_squares: this rung does not fuse the gradient norm */

static int always(void) { return 1; }

static void naive_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int M, int N, int K) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            float sum = bias ? bias[n] : 0.0f;
            for (int k = 0; k < K; k++) sum += inp[(long)m * K + k] * weight[(long)n * K + k];
            out[(long)m * N + n] = sum;
        }
    }
}

static void naive_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) dinp[(long)m * K + k] = 0.0f;
        for (int n = 0; n < N; n++) {
            float d = dout[(long)m * N + n];
            for (int k = 0; k < K; k++) dinp[(long)m * K + k] += d * weight[(long)n * K + k];
        }
    }
}

static void naive_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                  int accumulate, double *squares) {
    for (int n = 0; n < N; n++) {
        if (!accumulate)
            for (int k = 0; k < K; k++) dweight[(long)n * K + k] = 0.0f;
        for (int m = 0; m < M; m++) {
            float d = dout[(long)m * N + n];
            for (int k = 0; k < K; k++) dweight[(long)n * K + k] += d * inp[(long)m * K + k];
        }
    }
    if (squares) *squares = sum_of_squares(dweight, (long)N * K);
}

static void naive_backward_bias(float *dbias, const float *dout, int M, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) dbias[n] += dout[(long)m * N + n];
}

const MatmulRung matmul_naive = {
    .name = "naive", .needs = "-", .precision = "fp32",
    .description = "textbook loops in llm.c's order, one thread",
    .auto_rank = 1, .available = always,
    .forward = naive_forward, .backward_input = naive_backward_input,
    .backward_weight = naive_backward_weight, .backward_bias = naive_backward_bias,
};
