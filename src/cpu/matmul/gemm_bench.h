/* GEMM throughput measurement for `cgpt bench --gemm`: times one rung on one pass and shape with
 * random inputs and reports the median GFLOP/s (2*M*N*K flops per call). */
#ifndef CGPT_GEMM_BENCH_H
#define CGPT_GEMM_BENCH_H

#include "cpu/matmul/matmul.h"

enum { GEMM_PASS_FORWARD = 0, GEMM_PASS_BACKWARD_INPUT = 1, GEMM_PASS_BACKWARD_WEIGHT = 2 };

/* Times `rung` on one pass and shape: the median GFLOP/s of repeated calls after a warm-up (timing
 * for at least min_seconds and at least 5 calls), each call with its weight and output out of cache,
 * as in a training step. pass: 0 forward (with a bias), 1 backward_input, 2 backward_weight
 * (overwritten, as a step's first micro-step writes it). The best call comes too: on a shared,
 * noisy machine it is the steadier figure for comparing two kernels, the median the honest one for
 * reporting. All zero if the rung is unavailable, lacks that pass, or memory runs out. */
typedef struct GemmBenchResult {
    double median_gflops, best_gflops;
    int calls;
} GemmBenchResult;
GemmBenchResult gemm_bench_run(const MatmulRung *rung, int pass, int M, int N, int K, double min_seconds);

#endif
