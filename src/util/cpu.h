/* Run-time CPU feature detection, so that one x86-64 binary can offer every rung and use only the
 * ones this CPU (and, for AMX, the operating system) supports. */
#ifndef CGPT_CPU_H
#define CGPT_CPU_H

typedef struct {
    int avx2, fma;        /* AVX2 + FMA3 */
    int avx512;           /* AVX-512 F, BW, VL, DQ, with the OS saving ZMM state */
    int avx512_bf16;      /* vdpbf16ps */
    int amx_bf16;         /* AMX-TILE + AMX-BF16 in the CPU (permission is asked separately) */
    char brand[64];       /* CPU model name */
} CpuFeatures;

const CpuFeatures *cpu_features(void);
/* Asks Linux for permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM); 0 on success. */
int cpu_request_amx(void);

#endif
