/* Rung "avx512": an AVX-512 FMA micro-kernel (8 x 48 register tile: 24 accumulators hide the FMA
 * latency on two pipes; it also copies the next weight panel's parts in the load/store ports the
 * FMAs leave idle) and a 16 x 16 transposing packer, run on one thread by the GEMM frame
 * (gemm_frame.c), which does the cache blocking. The threaded rung reuses gemm_kernel_avx512.
 * This file is compiled with -mavx512f/bw/vl/dq -mfma; it only runs after cpu_features() agrees. */
#include "cpu/matmul/gemm_frame.h"
#include "cpu/matmul/matmul.h"
#include "util/cpu.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

/* Tile shape. 8 rows x 3 vectors: per k step 3 B loads + 8 broadcasts feed 24 FMAs (12 cycles on
 * two FMA pipes), and 8 divides GPT-2's M = 256 and 48 divides every GPT-2 N and K.
 * KC = 768, all of GPT-2's K = 768 in one block: C is written once, never read back and added to,
 * and each weight panel is packed in one piece (+2-5% on the forwards and input gradients against
 * 384 on Zen 5's two threads, which was itself 5-10% faster than 256; NOTES.md round ten). The
 * 144 KB B micro-panel is served by L2 at one 192-byte row per 12 cycles. MC = 256 rows of A per
 * task: a 768 KB A block in the 1 MB L2. (-D overrides are for experiments.) */
#ifndef AVX512_MR
#define AVX512_MR 8
#endif
#ifndef AVX512_NV
#define AVX512_NV 3
#endif
#ifndef AVX512_KC
#define AVX512_KC 768
#endif
#ifndef AVX512_MC
#define AVX512_MC 256
#endif
#define AVX512_NR (16 * AVX512_NV)

/* Stores a finished tile (see GemmMicroKernel). Unrolled: otherwise GCC keeps `sum` in memory and
 * stores it on every k step (4x slower). With_squares (a constant in each inlined copy): the squares
 * of what is stored, summed from the registers, one accumulator per column vector (reading C back
 * after the stores cost ~8% of a weight gradient on Zen 5). */
static inline __attribute__((always_inline)) void avx512_store_tile(__m512 sum[AVX512_MR][AVX512_NV], float *c, long c_row_stride,
                                                                 int store, const float *bias, double *squares,
                                                                 const int with_squares) {
    __m512 squares_acc[AVX512_NV];
    for (int v = 0; v < AVX512_NV; v++) squares_acc[v] = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < AVX512_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < AVX512_NV; v++) {
            float *out = c + i * c_row_stride + 16 * v;
            __m512 result = sum[i][v];
            if (store == GEMM_ADD)
                result = _mm512_add_ps(_mm512_loadu_ps(out), result);
            else if (bias)
                result = _mm512_add_ps(_mm512_loadu_ps(bias + 16 * v), result);
            if (store == GEMM_STREAM) _mm512_stream_ps(out, result);
            else _mm512_storeu_ps(out, result);
            if (with_squares) squares_acc[v] = _mm512_fmadd_ps(result, result, squares_acc[v]);
        }
    if (with_squares) {
        __m512 total = squares_acc[0];
        for (int v = 1; v < AVX512_NV; v++) total = _mm512_add_ps(total, squares_acc[v]);
        *squares = (double)_mm512_reduce_add_ps(total);
    }
}

/* `steps` k steps of the tile: 3 B loads and 8 broadcasts feed 24 FMAs a step. */
static inline __attribute__((always_inline)) void avx512_steps(__m512 sum[AVX512_MR][AVX512_NV], const float **a_at,
                                                            const float **b_at, long b_step, long steps) {
    const float *a = *a_at, *b = *b_at;
    for (long p = 0; p < steps; p++) {
        __m512 b_vec[AVX512_NV];
        for (int v = 0; v < AVX512_NV; v++) b_vec[v] = _mm512_loadu_ps(b + 16 * v);
        for (int i = 0; i < AVX512_MR; i++) {
            __m512 a_broadcast = _mm512_set1_ps(a[i]);
            for (int v = 0; v < AVX512_NV; v++) sum[i][v] = _mm512_fmadd_ps(a_broadcast, b_vec[v], sum[i][v]);
        }
        a += AVX512_MR;
        b += b_step;
    }
    *a_at = a;
    *b_at = b;
}

/* Where a kernel's side copy (GemmPrefetch.copy_*) has got to. */
typedef struct CopyCursor {
    const float *from;
    float *to;
    int vector;
    long units_left;
} CopyCursor;

/* Stores the four 128-bit lanes of `quad` to k steps 0, 4, 8, 12 of a transposed copy: lane L
 * holds four lanes' values of step 4L + (the step within the quad). */
static inline __attribute__((always_inline)) void avx512_store_quad(float *to, long to_stride, __m512 quad) {
    _mm_storeu_ps(to, _mm512_castps512_ps128(quad));
    _mm_storeu_ps(to + 4 * to_stride, _mm512_extractf32x4_ps(quad, 1));
    _mm_storeu_ps(to + 8 * to_stride, _mm512_extractf32x4_ps(quad, 2));
    _mm_storeu_ps(to + 12 * to_stride, _mm512_extractf32x4_ps(quad, 3));
}

/* One unit of the side copy: a 16-float vector, or (transposed) 16 steps of 4 source rows, put
 * into place by two rounds of interleaves that leave four lanes of one step in each 128-bit lane
 * (eight shuffles and sixteen 16-byte stores for 64 floats, within the registers the tile leaves
 * free; the whole-panel packer's 16 x 16 transposes need all 32). */
static inline __attribute__((always_inline)) void avx512_copy_unit(CopyCursor *cursor, const GemmPrefetch *side) {
    float *to = cursor->to;
    if (!side->copy_transposed) {
        _mm512_storeu_ps(to + 16 * cursor->vector, _mm512_loadu_ps(cursor->from + 16 * cursor->vector));
        if (++cursor->vector == side->copy_vectors)
            cursor->vector = 0, cursor->from += side->copy_from_stride, cursor->to += side->copy_to_stride;
    } else {
        long stride = side->copy_from_stride, to_stride = side->copy_to_stride;
        const float *from = cursor->from + 16 * cursor->vector;
        __m512 row0 = _mm512_loadu_ps(from), row1 = _mm512_loadu_ps(from + stride);
        __m512 row2 = _mm512_loadu_ps(from + 2 * stride), row3 = _mm512_loadu_ps(from + 3 * stride);
        /* pairs: lane L of low01 = row0[4L], row1[4L], row0[4L+1], row1[4L+1]; high01 the same for 4L+2, 4L+3 */
        __m512d low01 = _mm512_castps_pd(_mm512_unpacklo_ps(row0, row1));
        __m512d high01 = _mm512_castps_pd(_mm512_unpackhi_ps(row0, row1));
        __m512d low23 = _mm512_castps_pd(_mm512_unpacklo_ps(row2, row3));
        __m512d high23 = _mm512_castps_pd(_mm512_unpackhi_ps(row2, row3));
        to += 16L * cursor->vector * to_stride;
        avx512_store_quad(to, to_stride, _mm512_castpd_ps(_mm512_unpacklo_pd(low01, low23)));
        avx512_store_quad(to + to_stride, to_stride, _mm512_castpd_ps(_mm512_unpackhi_pd(low01, low23)));
        avx512_store_quad(to + 2 * to_stride, to_stride, _mm512_castpd_ps(_mm512_unpacklo_pd(high01, high23)));
        avx512_store_quad(to + 3 * to_stride, to_stride, _mm512_castpd_ps(_mm512_unpackhi_pd(high01, high23)));
        if (++cursor->vector == side->copy_vectors) cursor->vector = 0, cursor->from += 4 * stride, cursor->to += 4;
    }
    cursor->units_left--;
}

static void avx512_kernel(long k_len, const float *a_panel, const float *b_panel, long b_step,
                          float *c, long c_row_stride, int store, const float *bias, double *squares,
                          const GemmPrefetch *prefetch) {
    __m512 sum[AVX512_MR][AVX512_NV];
    for (int i = 0; i < AVX512_MR; i++)
        for (int v = 0; v < AVX512_NV; v++) sum[i][v] = _mm512_setzero_ps();
    /* C is read only at the end: ask for its lines now so they arrive while we compute */
    for (int i = 0; i < AVX512_MR; i++)
        for (int v = 0; v < AVX512_NV; v++) _mm_prefetch((const char *)(c + i * c_row_stride + 16 * v), _MM_HINT_T0);

    const float *a = a_panel, *b = b_panel;
    if (!prefetch) {
        avx512_steps(sum, &a, &b, b_step, k_len);
    } else {
        /* The frame's prefetch (the next B panel's next part): one line every `interval` k steps,
         * so that a few lines at a time are in flight rather than a burst that fills the miss
         * buffers. (A separate loop: the blocked one cost ~1% where nothing is prefetched.) */
        long lines_left = prefetch->rows * prefetch->lines;
        CopyCursor copy = {prefetch->copy_from, prefetch->copy_to, 0,
                           (prefetch->copy_transposed ? prefetch->copy_rows / 4 : prefetch->copy_rows) *
                               prefetch->copy_vectors};
        long work = lines_left > copy.units_left ? lines_left : copy.units_left;
        long interval = work && k_len / work > 0 ? k_len / work : 1;
        const char *row = prefetch->base;
        int line = 0;
        for (long p = 0; p < k_len; p += interval) {
            if (lines_left > 0) {
                _mm_prefetch(row + 64 * line, _MM_HINT_T0);
                if (++line == prefetch->lines) line = 0, row += prefetch->row_stride;
                lines_left--;
            }
            /* the copy's loads and stores go to ports the FMAs leave idle */
            if (copy.units_left > 0) avx512_copy_unit(&copy, prefetch);
            avx512_steps(sum, &a, &b, b_step, p + interval < k_len ? interval : k_len - p);
        }
        while (copy.units_left > 0) avx512_copy_unit(&copy, prefetch); /* more units than k steps */
    }

    /* Two copies of the store, so that the usual one (no squares) stays as lean as before: with
     * one copy testing `squares` per vector, the products ran 1-10% slower. */
    if (squares) avx512_store_tile(sum, c, c_row_stride, store, bias, squares, 1);
    else avx512_store_tile(sum, c, c_row_stride, store, bias, NULL, 0);
}

/* Transposes a 16 x 16 block in registers: rows[r] holds row r; afterwards rows[c] holds column c.
 * Three rounds: interleave pairs of rows (32-bit), pairs of pairs (64-bit), then 128-bit lanes. */
static inline __attribute__((always_inline)) void transpose_16x16(__m512 rows[16]) {
    __m512 pairs[16], quads[16];
    for (int j = 0; j < 8; j++) {
        pairs[2 * j] = _mm512_unpacklo_ps(rows[2 * j], rows[2 * j + 1]);
        pairs[2 * j + 1] = _mm512_unpackhi_ps(rows[2 * j], rows[2 * j + 1]);
    }
    /* quads[4g + e]: in each 128-bit lane L, element 4L + e of rows 4g .. 4g+3 */
    for (int g = 0; g < 4; g++) {
        __m512d lo_even = _mm512_castps_pd(pairs[4 * g]), lo_odd = _mm512_castps_pd(pairs[4 * g + 2]);
        __m512d hi_even = _mm512_castps_pd(pairs[4 * g + 1]), hi_odd = _mm512_castps_pd(pairs[4 * g + 3]);
        quads[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo_even, lo_odd));
        quads[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo_even, lo_odd));
        quads[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi_even, hi_odd));
        quads[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi_even, hi_odd));
    }
    /* gather lane L of quads[e], quads[4 + e], quads[8 + e], quads[12 + e] into column 4L + e */
    for (int e = 0; e < 4; e++) {
        __m512 rows01_even = _mm512_shuffle_f32x4(quads[e], quads[4 + e], 0x88);
        __m512 rows01_odd = _mm512_shuffle_f32x4(quads[e], quads[4 + e], 0xDD);
        __m512 rows23_even = _mm512_shuffle_f32x4(quads[8 + e], quads[12 + e], 0x88);
        __m512 rows23_odd = _mm512_shuffle_f32x4(quads[8 + e], quads[12 + e], 0xDD);
        rows[0 + e] = _mm512_shuffle_f32x4(rows01_even, rows23_even, 0x88);
        rows[4 + e] = _mm512_shuffle_f32x4(rows01_odd, rows23_odd, 0x88);
        rows[8 + e] = _mm512_shuffle_f32x4(rows01_even, rows23_even, 0xDD);
        rows[12 + e] = _mm512_shuffle_f32x4(rows01_odd, rows23_odd, 0xDD);
    }
}

/* The frame's packer, with the transposing case (each lane's k values contiguous: forward's two
 * operands and backward_input's dout) done 16 x 16 at a time in registers instead of element by
 * element. */
static void avx512_pack(float *dst, const float *src, long lane_stride, long k_stride, int lanes_used,
                        int width, long k_len) {
    if (k_stride != 1 && lane_stride == 1 && width % 16 == 0) {
        /* each k step's lanes contiguous (backward_input's weight rows): a copy, a vector at a time
         * (the portable packer, built for baseline x86-64, copies 16 bytes at a time) */
        for (long p = 0; p < k_len; p++)
            for (int lane0 = 0; lane0 < width; lane0 += 16) {
                int left = lanes_used - lane0;
                __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
                _mm512_storeu_ps(dst + p * width + lane0, _mm512_maskz_loadu_ps(mask, src + p * k_stride + lane0));
            }
        return;
    }
    if (k_stride != 1) {
        gemm_pack_panel(dst, src, lane_stride, k_stride, lanes_used, width, k_len);
        return;
    }
    long k_done = 0;
    if (width == 8) {
        /* An 8-lane panel (the A operand, MR = 8) would fill only half of each 16 x 16 transpose:
         * put the next 16 k steps of the same 8 rows in the other half instead. Column c then
         * holds k step p0 + c in its low 256 bits and p0 + 16 + c in its high ones. */
        for (; k_done + 32 <= k_len; k_done += 32) {
            __m512 block[16];
            for (int r = 0; r < 8; r++) {
                int used = r < lanes_used;
                block[r] = used ? _mm512_loadu_ps(src + r * lane_stride + k_done) : _mm512_setzero_ps();
                block[8 + r] = used ? _mm512_loadu_ps(src + r * lane_stride + k_done + 16) : _mm512_setzero_ps();
            }
            transpose_16x16(block);
            for (int c = 0; c < 16; c++) {
                _mm256_storeu_ps(dst + (k_done + c) * 8, _mm512_castps512_ps256(block[c]));
                _mm256_storeu_ps(dst + (k_done + 16 + c) * 8, _mm512_extractf32x8_ps(block[c], 1));
            }
        }
    }
    long k_full = k_len / 16 * 16;
    for (int lane0 = 0; lane0 < width; lane0 += 16) {
        int group = width - lane0 < 16 ? width - lane0 : 16;
        __mmask16 store_mask = (__mmask16)((1u << group) - 1);
        for (long p0 = k_done; p0 < k_full; p0 += 16) {
            __m512 block[16];
            for (int r = 0; r < 16; r++)
                block[r] = r < group && lane0 + r < lanes_used
                               ? _mm512_loadu_ps(src + (lane0 + r) * lane_stride + p0)
                               : _mm512_setzero_ps();
            transpose_16x16(block);
            for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(dst + (p0 + c) * width + lane0, store_mask, block[c]);
        }
        for (int lane = lane0; lane < lane0 + group; lane++)
            for (long p = k_full > k_done ? k_full : k_done; p < k_len; p++)
                dst[p * width + lane] = lane < lanes_used ? src[lane * lane_stride + p] : 0.0f;
    }
}

const GemmKernel gemm_kernel_avx512 = {
    .name = "avx512", .mr = AVX512_MR, .nr = AVX512_NR, .kc = AVX512_KC, .mc = AVX512_MC,
    .kernel = avx512_kernel, .pack = avx512_pack, .prefetches = 1, .copies = 1,
};

static int has_avx512(void) { return cpu_features()->avx512; }

#else /* built without AVX-512 flags (non-x86): the rung exists but is never available */
const GemmKernel gemm_kernel_avx512 = {.name = "avx512", .mr = 1, .nr = 1, .kc = 1, .mc = 1};
static int has_avx512(void) { return 0; }
#endif

/* Each rung keeps its packing buffers for reuse: only called from one thread at a time. */
static GemmBuffer whole_buffer, scratch_buffer, squares_buffer;

static void run(const GemmProblem *problem) {
    gemm_serial(&gemm_kernel_avx512, problem, &whole_buffer, &scratch_buffer, &squares_buffer);
}

static void avx512_forward(float *out, const float *inp, const float *weight, const float *bias, int M,
                           int N, int K) {
    GemmProblem problem = gemm_forward_problem(out, inp, weight, bias, M, N, K);
    run(&problem);
}

static void avx512_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    GemmProblem problem = gemm_backward_input_problem(dinp, dout, weight, M, N, K);
    run(&problem);
}

static void avx512_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N,
                                   int K, int accumulate, double *squares) {
    GemmProblem problem = gemm_backward_weight_problem(dweight, dout, inp, M, N, K, accumulate, squares);
    run(&problem);
}

const MatmulRung matmul_avx512 = {
    .name = "avx512", .needs = "AVX-512", .precision = "fp32",
    .description = "AVX-512 FMA 8x48 micro-kernel, packed panels, cache blocking; one thread",
    .auto_rank = 4, .available = has_avx512,
    .forward = avx512_forward, .backward_input = avx512_backward_input,
    .backward_weight = avx512_backward_weight, .backward_bias = NULL,
};
