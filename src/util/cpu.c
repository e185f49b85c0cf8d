/* CPUID and XGETBV queries behind cpu_features(); everything reads 0 on non-x86 machines. */
#include "util/cpu.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(CpuFeatures *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = (xcr0 & 0xE6) == 0xE6;
    int os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
    f->avx2 = avx2 && os_avx;
    f->fma = fma && os_avx;
    f->avx512 = avx512f && avx512dq && avx512bw && avx512vl && os_avx512;
    unsigned a1 = 0, b1, c1, d1;
    if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f->avx512_bf16 = f->avx512 && ((a1 >> 5) & 1);
    /* XCR0 bits 17/18 may only be set after the permission request, so check the CPU bits here */
    (void)os_amx;
    f->amx_bf16 = amx_tile && amx_bf16;
    unsigned brand[12];
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2], &brand[4 * i + 3]);
        memcpy(f->brand, brand, 48);
        f->brand[48] = 0;
        /* trim the padding spaces some CPUs put around the name */
        char *s = f->brand;
        while (*s == ' ') s++;
        memmove(f->brand, s, strlen(s) + 1);
        for (size_t n = strlen(f->brand); n > 0 && f->brand[n - 1] == ' '; n--) f->brand[n - 1] = 0;
    }
}

int cpu_request_amx(void) {
    const CpuFeatures *f = cpu_features();
    if (!f->amx_bf16) return -1;
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return -1;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) != 0) return -1;
    return (bitmask & (1ul << XFEATURE_XTILEDATA)) ? 0 : -1;
}
#else
static void detect(CpuFeatures *f) { (void)f; }
int cpu_request_amx(void) { return -1; }
#endif

const CpuFeatures *cpu_features(void) {
    static CpuFeatures features;
    static int detected = 0;
    if (!detected) {
        memset(&features, 0, sizeof features);
        detect(&features);
        if (!features.brand[0]) strcpy(features.brand, "unknown CPU");
        detected = 1;
    }
    return &features;
}
