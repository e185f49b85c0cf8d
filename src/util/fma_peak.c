/* FMA peak probe: 12 independent accumulators hide the FMA latency (4 cycles x 2 pipes needs at
 * least 8), using the widest vectors the CPU has. Functions carry their own target attributes so
 * this file builds for baseline x86-64. */
#include "util/fma_peak.h"

#include "util/cpu.h"
#include "util/threadpool.h"
#include "util/timer.h"

enum { ACCUMULATORS = 12 };
static const long ITERATIONS = 20000000;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
typedef float vector16 __attribute__((vector_size(64)));
typedef float vector8 __attribute__((vector_size(32)));

__attribute__((target("avx512f,fma"), noinline)) static float fma_loop_avx512(long iterations) {
    vector16 acc[ACCUMULATORS], a, b;
    for (int i = 0; i < 16; i++) { a[i] = 0.999999f; b[i] = 1e-7f; }
    for (int j = 0; j < ACCUMULATORS; j++) acc[j] = b * (float)j;
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < ACCUMULATORS; j++) {
            acc[j] = acc[j] * a + b;
            __asm__ volatile("" : "+v"(acc[j])); /* keeps the loop as written */
        }
    float sum = 0;
    for (int j = 0; j < ACCUMULATORS; j++) sum += acc[j][0];
    return sum;
}

__attribute__((target("avx2,fma"), noinline)) static float fma_loop_avx2(long iterations) {
    vector8 acc[ACCUMULATORS], a, b;
    for (int i = 0; i < 8; i++) { a[i] = 0.999999f; b[i] = 1e-7f; }
    for (int j = 0; j < ACCUMULATORS; j++) acc[j] = b * (float)j;
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < ACCUMULATORS; j++) {
            acc[j] = acc[j] * a + b;
            __asm__ volatile("" : "+x"(acc[j]));
        }
    float sum = 0;
    for (int j = 0; j < ACCUMULATORS; j++) sum += acc[j][0];
    return sum;
}
#endif

static int lanes(void) {
    const CpuFeatures *f = cpu_features();
    return f->avx512 ? 16 : (f->avx2 && f->fma) ? 8 : 0;
}

static volatile float sink;
static void run_loop(void *context, int task) {
    (void)context; (void)task;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lanes() == 16) sink = fma_loop_avx512(ITERATIONS);
    else if (lanes() == 8) sink = fma_loop_avx2(ITERATIONS);
#endif
}

FmaPeak measure_fma_peak(void) {
    FmaPeak peak = {0, 0, lanes() == 16 ? "AVX-512" : lanes() == 8 ? "AVX2" : "scalar"};
    if (!lanes()) return peak;
    double flops_per_loop = (double)ITERATIONS * ACCUMULATORS * lanes() * 2.0;
    run_loop(NULL, 0); /* warm up clocks */
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double start = now_seconds();
        run_loop(NULL, 0);
        double t = now_seconds() - start;
        if (t < best) best = t;
    }
    peak.one_core_gflops = flops_per_loop / best / 1e9;
    int threads = pool_size();
    best = 1e30;
    for (int r = 0; r < 3; r++) {
        double start = now_seconds();
        pool_run(threads, run_loop, NULL);
        double t = now_seconds() - start;
        if (t < best) best = t;
    }
    peak.all_cores_gflops = flops_per_loop * threads / best / 1e9;
    return peak;
}
