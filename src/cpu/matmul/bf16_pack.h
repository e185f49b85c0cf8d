/* Packing helpers shared by the bf16 and amx rungs: they turn fp32 operands into bf16 (round to
 * nearest even) laid out the way the dot-product instructions read them: K-pairs interleaved.
 * Only included from files compiled with AVX-512-BF16 (bf16.c, amx.c); all functions are static. */
#ifndef CGPT_BF16_PACK_H
#define CGPT_BF16_PACK_H

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/error.h"

/* One GEMM operand seen as a width x depth matrix: element (w, p) is data[w*stride_w + p*stride_p],
 * where p runs along the contraction. Either stride_p == 1 ("pairs contiguous": the two halves of a
 * K-pair sit next to each other) or stride_w == 1 (consecutive w are neighbours in memory). */
typedef struct {
    const float *data;
    long stride_w, stride_p;
    int width, depth;
} Bf16Source;

static inline int bf16_depth_pairs(int depth) { return (depth + 1) / 2; }

static inline __mmask16 bf16_mask16(int n) {
    if (n <= 0) return 0;
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* 32 consecutive floats (count of them real, the rest zero) -> 16 dwords, dword i = the bf16 pair
 * (ptr[2i] low half, ptr[2i+1] high half). cvtne2ps puts its second argument in the low half. */
static inline __m512i bf16_pairs_from_run(const float *ptr, int count) {
    __m512 low = _mm512_maskz_loadu_ps(bf16_mask16(count), ptr);
    __m512 high = count > 16 ? _mm512_maskz_loadu_ps(bf16_mask16(count - 16), ptr + 16) : _mm512_setzero_ps();
    return (__m512i)_mm512_cvtne2ps_pbh(high, low);
}

/* Two rows of 16 floats (first_row may not be NULL; second_row NULL means zeros) -> 16 dwords,
 * dword i = (first_row[i] low half, second_row[i] high half). */
static inline __m512i bf16_pairs_from_rows(const float *first_row, const float *second_row, int count) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __mmask16 mask = bf16_mask16(count);
    __m512 first = _mm512_maskz_loadu_ps(mask, first_row);
    __m512 second = second_row ? _mm512_maskz_loadu_ps(mask, second_row) : _mm512_setzero_ps();
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(second, first));
}

/* In-register transpose of a 16x16 matrix of dwords (rows[i] is row i). */
static inline void bf16_transpose16(__m512i rows[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(rows[i], rows[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(rows[i], rows[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        rows[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        rows[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        rows[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        rows[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* now each 128-bit lane L of rows[4g + c] holds rows 4g..4g+3 of column 4L + c: a 4x4 transpose
     * of 128-bit lanes finishes the job */
    for (int c = 0; c < 4; c++) {
        __m512i s0 = _mm512_shuffle_i32x4(rows[c], rows[4 + c], 0x88);
        __m512i s1 = _mm512_shuffle_i32x4(rows[c], rows[4 + c], 0xDD);
        __m512i s2 = _mm512_shuffle_i32x4(rows[8 + c], rows[12 + c], 0x88);
        __m512i s3 = _mm512_shuffle_i32x4(rows[8 + c], rows[12 + c], 0xDD);
        t[c] = _mm512_shuffle_i32x4(s0, s2, 0x88);
        t[4 + c] = _mm512_shuffle_i32x4(s1, s3, 0x88);
        t[8 + c] = _mm512_shuffle_i32x4(s0, s2, 0xDD);
        t[12 + c] = _mm512_shuffle_i32x4(s1, s3, 0xDD);
    }
    for (int i = 0; i < 16; i++) rows[i] = t[i];
}

/* Pair-major panels: panel_count panels of panel_width rows each, side by side in the source
 * (rows w_begin ..), every panel panel_size dwords after the previous one; in a panel,
 * dst[(q - pair_begin) * panel_width + row] = dword of K-pair q of that row, for pairs
 * [pair_begin, pair_end). Rows past the width and halves past the depth are zeros, so padded
 * panels multiply to nothing. This is the layout of vdpbf16ps's vector operand and of an AMX B tile. */
static inline void bf16_pack_pair_major(uint32_t *dst, int panel_width, int panel_count, long panel_size,
                                        const Bf16Source *src, int w_begin, int pair_begin, int pair_end) {
    if (src->stride_p != 1) { /* consecutive w contiguous: interleave two rows of the source */
        for (int panel = 0; panel < panel_count; panel++) {
            int w0 = w_begin + panel * panel_width;
            for (int q = pair_begin; q < pair_end; q++) {
                int p = 2 * q;
                const float *first = p < src->depth ? src->data + p * src->stride_p : NULL;
                const float *second = p + 1 < src->depth ? src->data + (p + 1) * src->stride_p : NULL;
                uint32_t *out = dst + panel * panel_size + (long)(q - pair_begin) * panel_width;
                for (int j = 0; j < panel_width; j += 16) {
                    int real = src->width - (w0 + j), room = panel_width - j;
                    if (real > room) real = room;
                    __m512i pairs = first && real > 0
                                        ? bf16_pairs_from_rows(first + w0 + j, second ? second + w0 + j : NULL, real)
                                        : _mm512_setzero_si512();
                    _mm512_mask_storeu_epi32(out + j, bf16_mask16(room), pairs);
                }
            }
        }
        return;
    }
    /* pairs contiguous: convert 16 rows x 16 pairs, then transpose so that pairs become rows. The
     * 16 rows may straddle narrow panels (8 wide): each transposed vector is then stored in pieces,
     * so that no transpose is spent on a half-empty group. */
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int span = panel_count * panel_width;
    for (int g = 0; g < span; g += 16) {
        int rows = span - g < 16 ? span - g : 16;
        for (int q = pair_begin; q < pair_end; q += 16) {
            int pairs = pair_end - q < 16 ? pair_end - q : 16;
            int floats = src->depth - 2 * q;
            if (floats > 32) floats = 32;
            __m512i block[16];
            for (int r = 0; r < 16; r++) {
                int w = w_begin + g + r;
                block[r] = r < rows && w < src->width && floats > 0
                               ? bf16_pairs_from_run(src->data + w * src->stride_w + 2 * q, floats)
                               : _mm512_setzero_si512();
            }
            bf16_transpose16(block);
            for (int start = 0; start < rows;) { /* one piece per panel the group touches */
                int panel = (g + start) / panel_width, offset = (g + start) % panel_width;
                int count = panel_width - offset < rows - start ? panel_width - offset : rows - start;
                uint32_t *out = dst + panel * panel_size + (long)(q - pair_begin) * panel_width + offset;
                __m512i shift = _mm512_add_epi32(lanes, _mm512_set1_epi32(start));
                for (int t = 0; t < pairs; t++) {
                    __m512i piece = start ? _mm512_permutexvar_epi32(shift, block[t]) : block[t];
                    _mm512_mask_storeu_epi32(out + (long)t * panel_width, bf16_mask16(count), piece);
                }
                start += count;
            }
        }
    }
}

/* Row-major bf16 block: dst[(w - w_begin) * dst_stride + 2*(q - pair_begin) + {0,1}] for rows
 * [w_begin, w_begin + rows) and pairs [pair_begin, pair_end), zeros past width and depth; rows is
 * at most 16. This is the layout of an AMX A tile (16 rows of 32 bf16). */
static inline void bf16_pack_row_major(uint16_t *dst, long dst_stride, const Bf16Source *src, int w_begin,
                                       int rows, int pair_begin, int pair_end) {
    for (int q = pair_begin; q < pair_end; q += 16) {
        int pairs = pair_end - q < 16 ? pair_end - q : 16;
        if (src->stride_p == 1) { /* a row's pairs are contiguous already */
            int floats = src->depth - 2 * q;
            if (floats > 32) floats = 32;
            if (floats > 2 * pairs) floats = 2 * pairs;
            for (int r = 0; r < rows; r++) {
                int w = w_begin + r;
                __m512i row = w < src->width && floats > 0
                                  ? bf16_pairs_from_run(src->data + w * src->stride_w + 2 * q, floats)
                                  : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(dst + r * dst_stride + 2 * (q - pair_begin), bf16_mask16(pairs), row);
            }
        } else { /* build pair-major vectors across 16 rows, then transpose them into rows */
            __m512i block[16];
            int real = src->width - w_begin;
            if (real > rows) real = rows;
            for (int t = 0; t < 16; t++) {
                int p = 2 * (q + t);
                block[t] = t < pairs && p < src->depth && real > 0
                               ? bf16_pairs_from_rows(src->data + p * src->stride_p + w_begin,
                                                      p + 1 < src->depth ? src->data + (p + 1) * src->stride_p + w_begin
                                                                         : NULL,
                                                      real)
                               : _mm512_setzero_si512();
            }
            bf16_transpose16(block);
            for (int r = 0; r < rows; r++)
                _mm512_mask_storeu_epi32(dst + r * dst_stride + 2 * (q - pair_begin), bf16_mask16(pairs), block[r]);
        }
    }
}

enum {
    BF16_PAIR_MAJOR = 0, /* bf16_pack_pair_major's panels: the vdpbf16ps vector operand, an AMX B tile */
    BF16_A_TILES = 1,    /* 16-row panels cut into 16-pair tiles of 1 KiB (16 rows x 64 bytes), one
                            after the other: an AMX A tile is one contiguous load */
};

/* How one operand is packed in parallel: tasks cover a group of panels times a range of K-pairs. */
typedef struct {
    const Bf16Source *src;
    uint32_t *packed; /* panels of panel_width rows, each `pairs` deep (panel_width * pairs dwords) */
    int panel_width, panels, pairs;
    int layout;       /* BF16_PAIR_MAJOR or BF16_A_TILES */
    int panels_per_task, pairs_per_task, pair_groups, tasks;
} Bf16PackPlan;

static inline int bf16_div_up(int a, int b) { return (a + b - 1) / b; }

/* panels: how many to fill, at least bf16_div_up(src->width, panel_width); extra ones are zeros. */
static inline void bf16_plan_pack(Bf16PackPlan *plan, const Bf16Source *src, uint32_t *packed, int panel_width,
                                  int panels, int pairs, int layout) {
    *plan = (Bf16PackPlan){.src = src, .packed = packed, .panel_width = panel_width, .panels = panels,
                           .pairs = pairs, .layout = layout};
    if (src->stride_p != 1) {
        /* source rows run along the panels: read whole rows (many panels) for a few pairs at a time,
         * since reading one panel's slice of every row would stride through memory */
        plan->panels_per_task = 4096 / panel_width;
        plan->pairs_per_task = 16;
    } else {
        /* source rows run along the pairs: a task takes whole panels, each read row by row, and at
         * least 16 rows of them (a full transpose) */
        plan->panels_per_task = 1 + 32768 / (2 * panel_width * (pairs + 1));
        if (plan->panels_per_task * panel_width < 16) plan->panels_per_task = bf16_div_up(16, panel_width);
        plan->pairs_per_task = pairs;
        if (layout == BF16_A_TILES) {
            /* tiles are independent 1 KiB pieces: one panel and 128 pairs a task, so that the
             * 16 panels of M = 256 tokens spread over all threads instead of a handful */
            plan->panels_per_task = 1;
            plan->pairs_per_task = 128;
        }
    }
    if (plan->pairs_per_task < 1) plan->pairs_per_task = 1;
    plan->pair_groups = bf16_div_up(pairs, plan->pairs_per_task);
    plan->tasks = pairs > 0 ? bf16_div_up(plan->panels, plan->panels_per_task) * plan->pair_groups : 0;
}

/* Packs the part of the operand that task `task` of plan->tasks covers. */
static inline void bf16_run_pack_plan(const Bf16PackPlan *plan, int task) {
    int panel_begin = task / plan->pair_groups * plan->panels_per_task;
    int panel_end = panel_begin + plan->panels_per_task < plan->panels ? panel_begin + plan->panels_per_task
                                                                       : plan->panels;
    int pair_begin = task % plan->pair_groups * plan->pairs_per_task;
    int pair_end = pair_begin + plan->pairs_per_task < plan->pairs ? pair_begin + plan->pairs_per_task : plan->pairs;
    long panel_size = (long)plan->pairs * plan->panel_width;
    if (plan->layout == BF16_PAIR_MAJOR) {
        bf16_pack_pair_major(plan->packed + panel_begin * panel_size + (long)pair_begin * plan->panel_width,
                             plan->panel_width, panel_end - panel_begin, panel_size, plan->src,
                             panel_begin * plan->panel_width, pair_begin, pair_end);
        return;
    }
    for (int panel = panel_begin; panel < panel_end; panel++) {
        uint32_t *base = plan->packed + panel * panel_size;
        for (int q = pair_begin; q < pair_end; q += 16) /* pair_begin is a multiple of 16 here */
            bf16_pack_row_major((uint16_t *)(base + (long)q * plan->panel_width), 32, plan->src,
                                panel * plan->panel_width, plan->panel_width, q, q + 16 < pair_end ? q + 16 : pair_end);
    }
}

/* A packing buffer kept between calls: grows to the largest call, never shrinks. */
typedef struct {
    uint32_t *data;
    size_t capacity; /* in dwords */
} PackBuffer;

static inline uint32_t *pack_buffer_reserve(PackBuffer *buffer, size_t dwords) {
    if (dwords < 16) dwords = 16;
    if (dwords > buffer->capacity) {
        free(buffer->data);
        size_t bytes = (dwords * sizeof(uint32_t) + 63) / 64 * 64;
        buffer->data = xaligned(bytes, "bf16 packed panels"); /* exits with a message on failure */
        buffer->capacity = bytes / sizeof(uint32_t);
    }
    return buffer->data;
}

#endif
