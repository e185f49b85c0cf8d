/* Rung "openblas": OpenBLAS's cblas_sgemm, the bar the handwritten rungs are measured against.
 * Loaded with dlopen at first use, so cgpt has no link-time dependency and simply reports the rung
 * unavailable where libopenblas.so.0 is missing. Not deterministic across thread counts. */
#include "cpu/matmul/matmul.h"
#include "cpu/ops/ops.h" /* sum_of_squares: this rung does not fuse the gradient norm */

#include <dlfcn.h>
#include <stdlib.h>

#include "util/cpu.h"
#include "util/threadpool.h"

/* CBLAS constants (cblas.h), spelled out here since we do not include OpenBLAS's headers. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*SgemmFn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*SetThreadsFn)(int threads);

static struct {
    int tried;
    SgemmFn sgemm;
    SetThreadsFn set_threads;
    int threads_set;
} openblas;

static int load_openblas(void) {
    if (!openblas.tried) {
        openblas.tried = 1;
        /* Debian's OpenBLAS 0.3.21 does not know Zen 5 and falls back to its Haswell (AVX2) kernels;
         * its SkylakeX kernels are the AVX-512 ones (nearly 2x faster here). The choice is made
         * when the library loads, so set it first. The rung is the bar the handwritten rungs are
         * held against, so it overrides a core type preset in the environment (some machines set
         * Haswell for reproducibility); CGPT_OPENBLAS_CORETYPE picks another on purpose. */
        const char *chosen = getenv("CGPT_OPENBLAS_CORETYPE");
        if (chosen) setenv("OPENBLAS_CORETYPE", chosen, 1);
        else if (cpu_features()->avx512) setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
        void *library = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!library) library = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
        if (library) {
            openblas.sgemm = (SgemmFn)dlsym(library, "cblas_sgemm");
            openblas.set_threads = (SetThreadsFn)dlsym(library, "openblas_set_num_threads");
        }
    }
    return openblas.sgemm != NULL;
}

static int openblas_available(void) { return load_openblas(); }

/* BLAS rejects leading dimensions below 1 even when a size is 0. */
static int lead(int x) { return x > 0 ? x : 1; }

/* Gives OpenBLAS as many threads as cgpt's pool has, so the comparison is like for like. */
static void match_thread_count(void) {
    int threads = pool_size();
    if (openblas.set_threads && openblas.threads_set != threads) {
        openblas.set_threads(threads);
        openblas.threads_set = threads;
    }
}

static void openblas_forward(float *out, const float *inp, const float *weight, const float *bias, int M,
                             int N, int K) {
    load_openblas();
    match_thread_count();
    float beta = 0.0f;
    if (bias) { /* start from the bias in every row and let sgemm add the product */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) out[(long)m * N + n] = bias[n];
        beta = 1.0f;
    }
    /* out[M,N] = inp[M,K] . weight[N,K]^T */
    openblas.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, M, N, K, 1.0f, inp, lead(K), weight, lead(K), beta,
                   out, lead(N));
}

static void openblas_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    load_openblas();
    match_thread_count();
    /* dinp[M,K] = dout[M,N] . weight[N,K] (beta 0: BLAS never reads C then) */
    openblas.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, M, K, N, 1.0f, dout, lead(N), weight, lead(K),
                   0.0f, dinp, lead(K));
}

static void openblas_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                     int accumulate, double *squares) {
    load_openblas();
    match_thread_count();
    /* dweight[N,K] (+)= dout[M,N]^T . inp[M,K]; with beta 0, BLAS never reads C (NaN stays out) */
    openblas.sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, N, K, M, 1.0f, dout, lead(N), inp, lead(K),
                   accumulate ? 1.0f : 0.0f, dweight, lead(K));
    if (squares) *squares = sum_of_squares(dweight, (long)N * K);
}

const MatmulRung matmul_openblas = {
    .name = "openblas", .needs = "libopenblas", .precision = "fp32",
    .description = "OpenBLAS cblas_sgemm (dlopen; AVX-512 SkylakeX kernels where the CPU has them)",
    .auto_rank = 0, .available = openblas_available,
    .forward = openblas_forward, .backward_input = openblas_backward_input,
    .backward_weight = openblas_backward_weight, .backward_bias = NULL,
};
