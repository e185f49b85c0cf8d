/* Rung "threads": the best SIMD micro-kernel this CPU has (AVX-512, else AVX2, else the portable
 * one) on every thread of the pool. The GEMM frame cuts C into tasks; a small operand is packed
 * once, in parallel, and shared; each task packs the rest into its thread's scratch buffer.
 * Each C tile is computed by one task with a fixed k order, so results are bit-identical for any
 * number of threads and any task-to-thread assignment. */
#include "cpu/matmul/gemm_frame.h"
#include "cpu/matmul/matmul.h"
#include "util/cpu.h"
#include "util/error.h"
#include "util/threadpool.h"

#include <stdlib.h>

static const GemmKernel *best_kernel(void) {
    const CpuFeatures *cpu = cpu_features();
    if (cpu->avx512) return &gemm_kernel_avx512;
    if (cpu->avx2 && cpu->fma) return &gemm_kernel_avx2;
    return &gemm_kernel_portable;
}

static int always(void) { return 1; }

/* Buffers kept across calls: the shared whole-packed operand and one scratch per pool thread,
 * all sized by the calling thread before the tasks start, so workers never allocate. */
static GemmBuffer whole_buffer, squares_buffer;
static GemmBuffer *thread_scratch;
static int thread_scratch_count;
/* The panel queue's state (16 KB: kept here rather than on the caller's stack). */
static GemmQueue panel_queue;

static void reserve_thread_scratch(int threads, size_t floats) {
    if (threads > thread_scratch_count) {
        GemmBuffer *grown = xcalloc((unsigned long long)threads, sizeof *grown, "matmul thread buffers");
        for (int t = 0; t < thread_scratch_count; t++) grown[t] = thread_scratch[t];
        free(thread_scratch);
        thread_scratch = grown;
        thread_scratch_count = threads;
    }
    for (int t = 0; t < threads; t++) gemm_buffer_reserve(&thread_scratch[t], floats);
}

static void pack_task(void *context, int part) { gemm_pack_whole(context, part); }

static void compute_task(void *context, int task) {
    gemm_run_task(context, task, thread_scratch[pool_worker_index()].data);
}

static void run(const GemmProblem *problem) {
    if (problem->squares) *problem->squares = 0.0;
    if (problem->m <= 0 || problem->n <= 0) return;
    int threads = pool_size();
    GemmPlan plan;
    gemm_plan(&plan, best_kernel(), problem, threads);
    plan.whole = gemm_buffer_reserve(&whole_buffer, gemm_whole_floats(&plan));
    if (problem->squares)
        plan.tile_squares = (double *)gemm_buffer_reserve(&squares_buffer, 2 * gemm_tile_squares_count(&plan));
    reserve_thread_scratch(threads, gemm_scratch_floats(&plan));
    gemm_queue_start(&plan, &panel_queue);
    if (plan.whole_a || plan.whole_b) pool_run(plan.pack_parts, pack_task, &plan);
    pool_run(plan.tasks, compute_task, &plan);
    if (problem->squares) gemm_finish_squares(&plan);
}

static void threads_forward(float *out, const float *inp, const float *weight, const float *bias, int M,
                            int N, int K) {
    GemmProblem problem = gemm_forward_problem(out, inp, weight, bias, M, N, K);
    run(&problem);
}

static void threads_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    GemmProblem problem = gemm_backward_input_problem(dinp, dout, weight, M, N, K);
    run(&problem);
}

static void threads_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N,
                                    int K, int accumulate, double *squares) {
    GemmProblem problem = gemm_backward_weight_problem(dweight, dout, inp, M, N, K, accumulate, squares);
    run(&problem);
}

const MatmulRung matmul_threads = {
    .name = "threads", .needs = "-", .precision = "fp32",
    .description = "best SIMD micro-kernel (AVX-512, AVX2 or portable) on all cores of the pool",
    .auto_rank = 10, .available = always,
    .forward = threads_forward, .backward_input = threads_backward_input,
    .backward_weight = threads_backward_weight, .backward_bias = NULL,
};
