/* Rung "blocked": plain C that the compiler vectorises, one thread. Every pass is reshaped into
 * "rows of the output += coefficient x a contiguous row", four output rows at a time (one load of
 * the shared row feeds four multiply-adds), with restrict pointers so no aliasing checks are needed,
 * and tiles sized so the reused operand stays in L1/L2. Forward transposes a tile of the weight. */
#include "cpu/matmul/matmul.h"
#include "cpu/ops/ops.h" /* sum_of_squares: this rung does not fuse the gradient norm */

#include <string.h>

#include "cpu/matmul/gemm_frame.h" /* GemmBuffer, for the reusable transpose buffer */

enum {
    FORWARD_TILE_N = 64,   /* weight rows transposed at a time: K x 64 floats stay in L2 */
    TILE_K = 256,          /* output row segment: 4 rows x 256 floats stay in L1 */
    INPUT_GRAD_TILE_N = 128 /* weight rows per tile in backward_input: 128 x 256 floats in L2 */
};

static int always(void) { return 1; }
static int min_int(int a, int b) { return a < b ? a : b; }

/* out_r[j] += coef[r] * x[j] for rows r < 4 and j < len. */
static void axpy_rows4(float *restrict out0, float *restrict out1, float *restrict out2,
                       float *restrict out3, const float coef[4], const float *restrict x, int len) {
    float c0 = coef[0], c1 = coef[1], c2 = coef[2], c3 = coef[3];
    for (int j = 0; j < len; j++) {
        float xj = x[j];
        out0[j] += c0 * xj;
        out1[j] += c1 * xj;
        out2[j] += c2 * xj;
        out3[j] += c3 * xj;
    }
}

static void axpy_row(float *restrict out, float coef, const float *restrict x, int len) {
    for (int j = 0; j < len; j++) out[j] += coef * x[j];
}

/* rows[r] += coef[r] * x for `count` (1..4) rows */
static void axpy_rows(float *rows[4], const float coef[4], int count, const float *x, int len) {
    if (count == 4) {
        axpy_rows4(rows[0], rows[1], rows[2], rows[3], coef, x, len);
        return;
    }
    for (int r = 0; r < count; r++) axpy_row(rows[r], coef[r], x, len);
}

static GemmBuffer transposed_tile;

static void blocked_forward(float *out, const float *inp, const float *weight, const float *bias, int M,
                            int N, int K) {
    /* out[m, n0:n1] = bias + sum over k of inp[m,k] * weightT[k, n0:n1] */
    float *wt = gemm_buffer_reserve(&transposed_tile, (size_t)K * FORWARD_TILE_N);
    for (int n0 = 0; n0 < N; n0 += FORWARD_TILE_N) {
        int tile_n = min_int(FORWARD_TILE_N, N - n0);
        for (int j = 0; j < tile_n; j++)
            for (int k = 0; k < K; k++) wt[(long)k * tile_n + j] = weight[(long)(n0 + j) * K + k];
        for (int m = 0; m < M; m += 4) {
            int rows = min_int(4, M - m);
            float *out_rows[4];
            for (int r = 0; r < rows; r++) {
                out_rows[r] = out + (long)(m + r) * N + n0;
                for (int j = 0; j < tile_n; j++) out_rows[r][j] = bias ? bias[n0 + j] : 0.0f;
            }
            for (int k = 0; k < K; k++) {
                float coef[4] = {0};
                for (int r = 0; r < rows; r++) coef[r] = inp[(long)(m + r) * K + k];
                axpy_rows(out_rows, coef, rows, wt + (long)k * tile_n, tile_n);
            }
        }
    }
}

static void blocked_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    /* dinp[m, k0:k1] = sum over n of dout[m,n] * weight[n, k0:k1]; a weight tile serves every m */
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        int tile_k = min_int(TILE_K, K - k0);
        for (int n0 = 0; n0 < N; n0 += INPUT_GRAD_TILE_N) {
            int n1 = min_int(N, n0 + INPUT_GRAD_TILE_N);
            for (int m = 0; m < M; m += 4) {
                int rows = min_int(4, M - m);
                float *dinp_rows[4];
                for (int r = 0; r < rows; r++) {
                    dinp_rows[r] = dinp + (long)(m + r) * K + k0;
                    /* the first weight tile starts the row segment from zero */
                    if (n0 == 0) memset(dinp_rows[r], 0, sizeof(float) * (size_t)tile_k);
                }
                for (int n = n0; n < n1; n++) {
                    float coef[4] = {0};
                    for (int r = 0; r < rows; r++) coef[r] = dout[(long)(m + r) * N + n];
                    axpy_rows(dinp_rows, coef, rows, weight + (long)n * K + k0, tile_k);
                }
            }
        }
    }
}

static void blocked_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                    int accumulate, double *squares) {
    /* dweight[n, k0:k1] += sum over m of dout[m,n] * inp[m, k0:k1]; the inp tile serves every n */
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        int tile_k = min_int(TILE_K, K - k0);
        for (int n = 0; n < N; n += 4) {
            int rows = min_int(4, N - n);
            float *dweight_rows[4];
            for (int r = 0; r < rows; r++) {
                dweight_rows[r] = dweight + (long)(n + r) * K + k0;
                /* overwriting: start the row segment from zero here, where it is about to be used */
                if (!accumulate)
                    for (int j = 0; j < tile_k; j++) dweight_rows[r][j] = 0.0f;
            }
            for (int m = 0; m < M; m++) {
                float coef[4] = {0};
                for (int r = 0; r < rows; r++) coef[r] = dout[(long)m * N + n + r];
                axpy_rows(dweight_rows, coef, rows, inp + (long)m * K + k0, tile_k);
            }
        }
    }
    if (squares) *squares = sum_of_squares(dweight, (long)N * K);
}

const MatmulRung matmul_blocked = {
    .name = "blocked", .needs = "-", .precision = "fp32",
    .description = "cache-tiled loops in vectorisable order, 4 output rows at a time; one thread",
    .auto_rank = 2, .available = always,
    .forward = blocked_forward, .backward_input = blocked_backward_input,
    .backward_weight = blocked_backward_weight, .backward_bias = NULL,
};
