/* The matmul contract every rung implements, and the registry that lists the rungs.
 * Row-major, as llm.c: M = tokens (B*T), N = output channels, K = input channels.
 *   forward:          out[M,N]      = inp[M,K] . weight[N,K]^T + bias[N]   (bias may be NULL)
 *   backward_input:   dinp[M,K]     = dout[M,N] . weight[N,K]     never reading dinp's old contents
 *   backward_weight:  dweight[N,K] += dout[M,N]^T . inp[M,K]   if accumulate, else
 *                     dweight[N,K]  = dout[M,N]^T . inp[M,K]   never reading dweight's old contents
 *                     (garbage or NaN is fine): the model's first backward after an optimizer step
 *                     writes its weight gradients instead of zeroing them and adding. Each
 *                     activation gradient has one producer, so backward_input always writes.
 *                     If squares is not NULL, also *squares = the sum of the finished dweight's
 *                     squares, in an order fixed by the shape, never by the thread count (partial
 *                     sums may be float: relative error up to ~1e-5): the gradient norm's share,
 *                     taken as the rung stores dweight instead of in a second pass over it
 *   backward_bias:    dbias[N]     += sum over m of dout[m,:]
 * Rungs may use the thread pool (util/threadpool.h); results must not depend on scheduling. */
#ifndef CGPT_MATMUL_H
#define CGPT_MATMUL_H

typedef struct MatmulRung {
    const char *name;        /* what --matmul takes */
    const char *needs;       /* what it needs to run, e.g. "AVX-512", "-" for nothing */
    const char *precision;   /* "fp32", or "bf16" (bf16 operands, fp32 accumulation) */
    const char *description; /* one line for --help, --version and bench */
    int auto_rank;           /* --matmul auto takes the available fp32 rung of highest rank; 0 = never */
    int (*available)(void);  /* 1 if this CPU/OS/build can run it; rungs the CPU lacks are never run */
    void (*forward)(float *out, const float *inp, const float *weight, const float *bias,
                    int M, int N, int K);
    void (*backward_input)(float *dinp, const float *dout, const float *weight, int M, int N, int K);
    void (*backward_weight)(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                            int accumulate, double *squares);
    /* NULL means the shared matmul_backward_bias below */
    void (*backward_bias)(float *dbias, const float *dout, int M, int N);
} MatmulRung;

/* All rungs compiled in, in ladder order (naive first). */
const MatmulRung *const *matmul_rungs(int *count);
/* "auto" or a rung name; NULL if unknown. Does not check availability. */
const MatmulRung *matmul_find(const char *name);
/* The fastest available fp32 rung on this machine. */
const MatmulRung *matmul_auto(void);
/* Comma-separated list of rung names, for messages. */
const char *matmul_names(void);

/* dbias[N] += column sums of dout[M,N]; threaded over N, deterministic. */
void matmul_backward_bias(float *dbias, const float *dout, int M, int N);

/* The rungs, each defined in its own file. */
extern const MatmulRung matmul_naive, matmul_blocked, matmul_avx2, matmul_avx512, matmul_threads,
    matmul_bf16, matmul_amx, matmul_openblas;

#endif
