/* FMA peak probe: 12 independent accumulators hide the FMA latency (4 cycles x 2 pipes needs at
 * least 8), using the widest vectors the CPU has. Functions carry their own target attributes so
 * this file builds for baseline x86-64. */
#include "util/fma_peak.h"

#include <stdatomic.h>

#include "util/cpu.h"
#include "util/threadpool.h"
#include "util/timer.h"

enum { ACCUMULATORS = 12 };
static const long ITERATIONS = 20000000;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* Twelve named accumulators (not an array, which the compiler may keep in memory) and explicit
 * FMA instructions: ISO C mode does not contract a*b+c into an FMA by itself. */
#define FMA_BODY(vec, fma, set1, add)                                                         \
    vec a = set1(0.999999f), b = set1(1e-7f);                                                \
    vec c0 = set1(0), c1 = set1(1), c2 = set1(2), c3 = set1(3), c4 = set1(4), c5 = set1(5);   \
    vec c6 = set1(6), c7 = set1(7), c8 = set1(8), c9 = set1(9), c10 = set1(10), c11 = set1(11); \
    for (long i = 0; i < iterations; i++) {                                                   \
        c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b);       \
        c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);       \
        c8 = fma(c8, a, b); c9 = fma(c9, a, b); c10 = fma(c10, a, b); c11 = fma(c11, a, b);   \
    }                                                                                         \
    vec sum = add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7)));              \
    sum = add(sum, add(add(c8, c9), add(c10, c11)));

__attribute__((target("avx512f,fma"), noinline)) static float fma_loop_avx512(long iterations) {
    FMA_BODY(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps)
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"), noinline)) static float fma_loop_avx2(long iterations) {
    FMA_BODY(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps)
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[7];
}
#endif

static int lanes(void) {
    const CpuFeatures *f = cpu_features();
    return f->avx512 ? 16 : (f->avx2 && f->fma) ? 8 : 0;
}

static volatile float sink;

/* For the all-core figure every thread must run one loop at the same time. The pool hands tasks
 * out dynamically, so a quick thread could take two while another sits idle: each task first waits
 * until all tasks have been claimed, which puts them on distinct threads. */
typedef struct { atomic_int started; int tasks; } StartLine;

static void run_loop(void *context, int task) {
    (void)task;
    StartLine *line = context;
    if (line) {
        atomic_fetch_add(&line->started, 1);
        while (atomic_load(&line->started) < line->tasks) {
        }
    }
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
        StartLine line = {0, threads};
        pool_run(threads, run_loop, &line);
        double t = now_seconds() - start;
        if (t < best) best = t;
    }
    peak.all_cores_gflops = flops_per_loop * threads / best / 1e9;
    return peak;
}
