/* Rung "avx2": an AVX2 FMA micro-kernel (6 x 16 register tile: 12 accumulators, the most that fit
 * in 16 YMM registers beside two B vectors and a broadcast), run on one thread by the GEMM frame
 * (gemm_frame.c), which does the packing and cache blocking. The threaded rung reuses it on CPUs
 * without AVX-512. Compiled with -mavx2 -mfma; only runs after cpu_features() agrees. */
#include "cpu/matmul/gemm_frame.h"
#include "cpu/matmul/matmul.h"
#include "util/cpu.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

enum { AVX2_MR = 6, AVX2_NV = 2, AVX2_NR = 8 * AVX2_NV, AVX2_KC = 256, AVX2_MC = 144 };

/* The 8 lanes of x added in a fixed order, in double. */
static double horizontal_sum_256(__m256 x) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    return (double)_mm_cvtss_f32(half);
}

/* Stores a finished tile (see GemmMicroKernel). Unrolled: otherwise GCC keeps `sum` in memory and
 * stores it on every k step (4x slower). With_squares (a constant in each inlined copy): the squares
 * of what is stored, summed from the registers, one accumulator per column vector (reading C back
 * after the stores cost ~8% of a weight gradient on Zen 5). */
static inline __attribute__((always_inline)) void avx2_store_tile(__m256 sum[AVX2_MR][AVX2_NV], float *c, long c_row_stride,
                                                                 int store, const float *bias, double *squares,
                                                                 const int with_squares) {
    __m256 squares_acc[AVX2_NV];
    for (int v = 0; v < AVX2_NV; v++) squares_acc[v] = _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < AVX2_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < AVX2_NV; v++) {
            float *out = c + i * c_row_stride + 8 * v;
            __m256 result = sum[i][v];
            if (store == GEMM_ADD) /* GEMM_STREAM is written as GEMM_WRITE here */
                result = _mm256_add_ps(_mm256_loadu_ps(out), result);
            else if (bias)
                result = _mm256_add_ps(_mm256_loadu_ps(bias + 8 * v), result);
            _mm256_storeu_ps(out, result);
            if (with_squares) squares_acc[v] = _mm256_fmadd_ps(result, result, squares_acc[v]);
        }
    if (with_squares) {
        __m256 total = squares_acc[0];
        for (int v = 1; v < AVX2_NV; v++) total = _mm256_add_ps(total, squares_acc[v]);
        *squares = horizontal_sum_256(total);
    }
}

static void avx2_kernel(long k_len, const float *a_panel, const float *b_panel, long b_step,
                        float *c, long c_row_stride, int store, const float *bias, double *squares,
                        const GemmPrefetch *prefetch) {
    __m256 sum[AVX2_MR][AVX2_NV];
    for (int i = 0; i < AVX2_MR; i++)
        for (int v = 0; v < AVX2_NV; v++) sum[i][v] = _mm256_setzero_ps();
    for (int i = 0; i < AVX2_MR; i++) _mm_prefetch((const char *)(c + i * c_row_stride), _MM_HINT_T0);

    const float *a = a_panel, *b = b_panel;
    for (long p = 0; p < k_len; p++) {
        __m256 b_vec[AVX2_NV];
        for (int v = 0; v < AVX2_NV; v++) b_vec[v] = _mm256_loadu_ps(b + 8 * v);
        for (int i = 0; i < AVX2_MR; i++) {
            __m256 a_broadcast = _mm256_broadcast_ss(a + i);
            for (int v = 0; v < AVX2_NV; v++) sum[i][v] = _mm256_fmadd_ps(a_broadcast, b_vec[v], sum[i][v]);
        }
        a += AVX2_MR;
        b += b_step;
    }

    /* Two copies of the store, so that the usual one (no squares) stays as lean as before: with
     * one copy testing `squares` per vector, the products ran 1-10% slower. */
    if (squares) avx2_store_tile(sum, c, c_row_stride, store, bias, squares, 1);
    else avx2_store_tile(sum, c, c_row_stride, store, bias, NULL, 0);
}

const GemmKernel gemm_kernel_avx2 = {
    .name = "avx2", .mr = AVX2_MR, .nr = AVX2_NR, .kc = AVX2_KC, .mc = AVX2_MC,
    .kernel = avx2_kernel, .pack = NULL,
};

static int has_avx2(void) { return cpu_features()->avx2 && cpu_features()->fma; }

#else /* built without AVX2 flags (non-x86): the rung exists but is never available */
const GemmKernel gemm_kernel_avx2 = {.name = "avx2", .mr = 1, .nr = 1, .kc = 1, .mc = 1};
static int has_avx2(void) { return 0; }
#endif

/* Packing buffers kept across calls; the rung runs on the calling thread only. */
static GemmBuffer whole_buffer, scratch_buffer, squares_buffer;

static void run(const GemmProblem *problem) {
    gemm_serial(&gemm_kernel_avx2, problem, &whole_buffer, &scratch_buffer, &squares_buffer);
}

static void avx2_forward(float *out, const float *inp, const float *weight, const float *bias, int M,
                         int N, int K) {
    GemmProblem problem = gemm_forward_problem(out, inp, weight, bias, M, N, K);
    run(&problem);
}

static void avx2_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    GemmProblem problem = gemm_backward_input_problem(dinp, dout, weight, M, N, K);
    run(&problem);
}

static void avx2_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                 int accumulate, double *squares) {
    GemmProblem problem = gemm_backward_weight_problem(dweight, dout, inp, M, N, K, accumulate, squares);
    run(&problem);
}

const MatmulRung matmul_avx2 = {
    .name = "avx2", .needs = "AVX2+FMA", .precision = "fp32",
    .description = "AVX2 FMA 6x16 micro-kernel, packed panels, cache blocking; one thread",
    .auto_rank = 3, .available = has_avx2,
    .forward = avx2_forward, .backward_input = avx2_backward_input,
    .backward_weight = avx2_backward_weight, .backward_bias = NULL,
};
