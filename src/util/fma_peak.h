/* Measures this machine's fp32 FMA peak with a loop of independent fused multiply-adds, so that
 * bench can say what fraction of the hardware a rung uses. */
#ifndef CGPT_FMA_PEAK_H
#define CGPT_FMA_PEAK_H

typedef struct {
    double one_core_gflops;  /* one thread */
    double all_cores_gflops; /* every thread of the pool at once */
    const char *isa;         /* "AVX-512", "AVX2", or "scalar" */
} FmaPeak;

FmaPeak measure_fma_peak(void);

#endif
