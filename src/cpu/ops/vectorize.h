/* Shared helpers of the op kernels (src/cpu/ops/): CGPT_HOT compiles a hot function for AVX-512,
 * AVX2 and baseline x86-64 and picks one at load time; 16-float vectors (GCC/clang vector
 * extensions) with exp and sqrt written out, plus scalar twins that give the same bits; sums with a
 * fixed order; and how to cut work into pool tasks. Internal to src/cpu/ops. */
#ifndef CGPT_OPS_VECTORIZE_H
#define CGPT_OPS_VECTORIZE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "util/threadpool.h"

/* Function multi-versioning: the build targets baseline x86-64 so that one binary runs anywhere;
 * target_clones adds AVX-512 and AVX2 copies of a function chosen by the CPU at load time (an
 * ifunc). Loops in these functions are written so that every copy computes bit-identical results:
 * the same operations in the same order, only more lanes at a time. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(CGPT_NO_CLONES)
#define CGPT_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CGPT_HOT
#endif

/* gcc in ISO C mode (-std=c11) never fuses a*b+c into an FMA; clang does by default, which would
 * make the AVX-512 copy (FMA available) round differently from the baseline one. Keep them equal. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* 16 floats: one AVX-512 register, two AVX2 ones, four SSE ones, depending on the clone. The
 * compilers' auto-vectorisers split 16-lane accumulator arrays badly, so hot loops use these
 * explicitly. Every operation is lane-wise, so the result is the same in each clone. Vectors are
 * only passed by pointer: clang refuses 64-byte vector arguments in the non-AVX-512 clones. */
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef double f64x16 __attribute__((vector_size(128)));
/* Half-width types for sums in double: one f64x8 is one AVX-512 register, so several can serve as
 * independent accumulators (a 128-byte f64x16 accumulator is kept on the stack by gcc, which
 * chains every addition through a store and a load). */
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

ALWAYS_INLINE void vec_load(f32x16 *v, const float *p) { memcpy(v, p, sizeof *v); }
ALWAYS_INLINE void vec_store(float *p, const f32x16 *v) { memcpy(p, v, sizeof *v); }
ALWAYS_INLINE void vec_set(f32x16 *v, float x) {
    for (int j = 0; j < 16; j++) (*v)[j] = x;
}
/* mask ? a : b, lane by lane (mask lanes all ones or zero, as comparisons give). A macro: clang
 * does not allow a 64-byte vector as a function argument in the non-AVX-512 clones. */
#define VEC_SELECT(mask, a, b) ((f32x16)(((mask) & (i32x16)(a)) | (~(mask) & (i32x16)(b))))

/* Lanes of the partial sums: 16 floats is one AVX-512 register, two AVX2 ones, four SSE ones. */
#define LANES 16

ALWAYS_INLINE float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
ALWAYS_INLINE uint32_t float_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* exp(x) within about 1 ulp (libm's expf is a call that does not vectorise); vec_exp below is the
 * same computation on 16 lanes, with the same bits.
 * exp(x) = 2^n exp(r) with n = round(x / ln 2) and |r| <= ln2/2; exp(r) from its Taylor series to
 * r^7 (truncation below 1e-8 relative), 2^n put straight into the exponent bits.
 * Below -87.33 (exp under FLT_MIN) gives 0, above 88.37 gives +inf, NaN stays NaN. */
ALWAYS_INLINE float exp_float(float x) {
    const float max_input = 88.37f, min_input = -87.33f;
    float clamped = x > max_input ? max_input : x;
    clamped = clamped < min_input ? min_input : clamped;
    /* Adding 1.5 * 2^23 rounds to the nearest integer, which then sits in the low mantissa bits. */
    const float round_shift = 12582912.0f;
    float shifted = clamped * 1.44269504088896341f + round_shift;
    float n = shifted - round_shift;
    /* ln 2 in two parts: n * ln2_high is exact (few mantissa bits), so r keeps full precision. */
    float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
    float tail = 1.0f / 5040 * r + 1.0f / 720;
    tail = tail * r + 1.0f / 120;
    tail = tail * r + 1.0f / 24;
    tail = tail * r + 1.0f / 6;
    tail = tail * r + 0.5f;
    float exp_r = 1.0f + (r + (r * r) * tail);
    int32_t n_int = (int32_t)(float_to_bits(shifted) - float_to_bits(round_shift));
    float two_to_n = bits_to_float((uint32_t)(n_int + 127) << 23);
    float result = exp_r * two_to_n;
    result = x > max_input ? INFINITY : result;
    return x < min_input ? 0.0f : result;
}

/* sqrtf(x) for x >= 0, correctly rounded (checked against sqrtf over the float range); vec_sqrt
 * is its 16-lane twin. The build keeps errno semantics (no -fno-math-errno), under which a sqrtf
 * call in a loop is never vectorised. 1/sqrt from the exponent-halving bit trick and three Newton
 * steps, then one correction of sqrt(x) = x / sqrt(x) done in double, where s*s is exact.
 * Subnormal x is scaled by 2^24 first (the bit trick needs a normal number). */
ALWAYS_INLINE float sqrt_float(float x) {
    int tiny = x < 1.17549435e-38f;
    float scaled = tiny ? x * 16777216.0f : x;
    float half = 0.5f * scaled;
    float inverse_root = bits_to_float(0x5f375a86u - (float_to_bits(scaled) >> 1));
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    double root = (float)(scaled * inverse_root); /* rounded to float, then s*s is exact in double */
    double residual = (double)scaled - root * root;
    float result = (float)(root + residual * (0.5 * (double)inverse_root));
    return tiny ? result * (1.0f / 4096) : result;
}

ALWAYS_INLINE void vec_exp(f32x16 *value) {
    const float max_input = 88.37f, min_input = -87.33f, round_shift = 12582912.0f;
    f32x16 x = *value, limit, clamped, infinity, zero = {0};
    vec_set(&limit, max_input);
    clamped = VEC_SELECT(x > max_input, limit, x);
    vec_set(&limit, min_input);
    clamped = VEC_SELECT(clamped < min_input, limit, clamped);
    f32x16 shifted = clamped * 1.44269504088896341f + round_shift;
    f32x16 n = shifted - round_shift;
    f32x16 r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
    f32x16 tail = r * (1.0f / 5040) + 1.0f / 720;
    tail = tail * r + 1.0f / 120;
    tail = tail * r + 1.0f / 24;
    tail = tail * r + 1.0f / 6;
    tail = tail * r + 0.5f;
    f32x16 exp_r = 1.0f + (r + (r * r) * tail);
    f32x16 shift_vector;
    vec_set(&shift_vector, round_shift);
    i32x16 n_int = (i32x16)shifted - (i32x16)shift_vector;
    f32x16 two_to_n = (f32x16)((n_int + 127) << 23);
    f32x16 result = exp_r * two_to_n;
    vec_set(&infinity, INFINITY);
    result = VEC_SELECT(x > max_input, infinity, result);
    *value = VEC_SELECT(x < min_input, zero, result);
}

ALWAYS_INLINE void vec_sqrt(f32x16 *value) {
    f32x16 x = *value, scaled_up = x * 16777216.0f, scaled;
    i32x16 tiny = x < 1.17549435e-38f;
    scaled = VEC_SELECT(tiny, scaled_up, x);
    f32x16 half = 0.5f * scaled;
    i32x16 magic = {0};
    magic += 0x5f375a86;
    f32x16 inverse_root = (f32x16)(magic - ((i32x16)scaled >> 1)); /* scaled >= 0: sign bit clear */
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    inverse_root = inverse_root * (1.5f - half * inverse_root * inverse_root);
    f64x16 scaled_d = __builtin_convertvector(scaled, f64x16);
    f64x16 root = __builtin_convertvector(scaled * inverse_root, f64x16); /* rounded to float first */
    f64x16 residual = scaled_d - root * root;
    f32x16 result = __builtin_convertvector(root + residual * (0.5 * __builtin_convertvector(inverse_root, f64x16)), f32x16);
    f32x16 result_tiny = result * (1.0f / 4096);
    *value = VEC_SELECT(tiny, result_tiny, result);
}

/* Adds up 16 lane sums in a fixed tree order. */
ALWAYS_INLINE float lanes_total(const float lanes[LANES]) {
    float fold8[8], fold4[4];
    for (int j = 0; j < 8; j++) fold8[j] = lanes[j] + lanes[j + 8];
    for (int j = 0; j < 4; j++) fold4[j] = fold8[j] + fold8[j + 4];
    return (fold4[0] + fold4[2]) + (fold4[1] + fold4[3]);
}

/* Adds up the 16 lanes in the same tree order as lanes_total. */
ALWAYS_INLINE float vec_total(const f32x16 *v) {
    float lanes[LANES];
    memcpy(lanes, v, sizeof lanes);
    return lanes_total(lanes);
}

/* How many pool tasks to cut `items` units of work into: at least min_items per task (pool_run
 * costs microseconds), at most tasks_per_thread per thread. Only for work whose results do not
 * depend on the split (element-wise or row-wise); reductions use splits fixed by their size. */
static inline int task_count(long items, long min_items, int tasks_per_thread) {
    long by_size = items / (min_items > 0 ? min_items : 1);
    long by_threads = (long)pool_size() * tasks_per_thread;
    long tasks = by_size < by_threads ? by_size : by_threads;
    return tasks < 1 ? 1 : (int)tasks;
}

/* Start of part `index` of [0, n) cut into `parts` nearly equal parts: part i is
 * [range_start(n, parts, i), range_start(n, parts, i + 1)). Inner boundaries are multiples of 16
 * elements, so threads never share a 64-byte line of an aligned array. */
static inline long range_start(long n, int parts, int index) {
    if (index >= parts) return n;
    return (n * index / parts) & ~15L;
}

#endif
