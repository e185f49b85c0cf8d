/* Rung "bf16": AVX-512-BF16 dot products (vdpbf16ps) with fp32 accumulation. Master weights stay
 * fp32: both operands are rounded to bf16 while they are packed into K-pair-interleaved panels, a
 * register-blocked micro-kernel multiplies the panels, and output tiles are spread over the pool. */
#include "cpu/matmul/matmul.h"
#include "cpu/ops/ops.h" /* sum_of_squares: this rung does not fuse the gradient norm */

#include "util/cpu.h"

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <stdlib.h>

#include "cpu/matmul/bf16_pack.h"
#include "util/threadpool.h"

/* Micro-tile: KERNEL_ROWS x KERNEL_COLS accumulators (8 x 3 zmm = 24 of the 32 registers), enough
 * independent chains to cover the dot product's latency on two pipes. */
enum {
    KERNEL_ROWS = 8,
    KERNEL_VECTORS = 3,
    KERNEL_COLS = 16 * KERNEL_VECTORS,
    MAX_TILE_ROWS = 256,
    MAX_TILE_PANELS = 8,
};

static int have_bf16(void) { return cpu_features()->avx512_bf16; }

/* out tile (rows x cols valid, up to KERNEL_ROWS x KERNEL_COLS) (+)= a_panel . b_panel over `pairs`
 * K-pairs. overwrite: store product (+ bias) instead of adding to what is there. */
static void micro_kernel(int pairs, const uint32_t *a_panel, const uint32_t *b_panel, float *out, long ldo,
                         int rows, int cols, int overwrite, const float *bias) {
    /* ask for the output rows now: they are often far apart in memory (a row of a large matrix
     * each), so without this the stores at the end would wait for every line in turn */
    for (int i = 0; i < KERNEL_ROWS && i < rows; i++)
        for (int j = 0; j < cols + 15; j += 16) __builtin_prefetch(out + i * ldo + (j < cols ? j : cols - 1), 1, 3);
    __m512 acc[KERNEL_ROWS][KERNEL_VECTORS];
    for (int i = 0; i < KERNEL_ROWS; i++)
        for (int v = 0; v < KERNEL_VECTORS; v++) acc[i][v] = _mm512_setzero_ps();
    for (int q = 0; q < pairs; q++) {
        __m512bh b[KERNEL_VECTORS];
        for (int v = 0; v < KERNEL_VECTORS; v++)
            b[v] = (__m512bh)_mm512_load_si512(b_panel + (long)q * KERNEL_COLS + 16 * v);
        for (int i = 0; i < KERNEL_ROWS; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)a_panel[(long)q * KERNEL_ROWS + i]);
            for (int v = 0; v < KERNEL_VECTORS; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
        }
    }
    __mmask16 mask[KERNEL_VECTORS];
    for (int v = 0; v < KERNEL_VECTORS; v++) mask[v] = bf16_mask16(cols - 16 * v);
    for (int i = 0; i < KERNEL_ROWS && i < rows; i++) {
        float *row = out + i * ldo;
        for (int v = 0; v < KERNEL_VECTORS; v++) {
            if (!mask[v]) continue;
            __m512 base = overwrite ? (bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps())
                                    : _mm512_maskz_loadu_ps(mask[v], row + 16 * v);
            _mm512_mask_storeu_ps(row + 16 * v, mask[v], _mm512_add_ps(base, acc[i][v]));
        }
    }
}

/* One GEMM in the common form: out[rows, cols] (+)= A[rows, depth] . B[depth, cols], A and B given
 * as Bf16Source (w = row of out for A, column of out for B; p = depth). */
typedef struct {
    float *out;
    long ldo;
    const float *bias;
    int overwrite;
    int rows, cols, pairs;
    Bf16Source a, b;
    uint32_t *a_packed, *b_packed; /* panels of KERNEL_ROWS / KERNEL_COLS, each `pairs` deep */
    Bf16PackPlan a_plan, b_plan;
    int tile_rows, tile_cols, col_tiles; /* output tiles, one per compute task */
} Gemm;

static void pack_task(void *context, int task) {
    const Gemm *g = context;
    if (task < g->a_plan.tasks) bf16_run_pack_plan(&g->a_plan, task);
    else bf16_run_pack_plan(&g->b_plan, task - g->a_plan.tasks);
}

static void tile_task(void *context, int task) {
    const Gemm *g = context;
    int row_begin = (task / g->col_tiles) * g->tile_rows, col_begin = (task % g->col_tiles) * g->tile_cols;
    int row_end = row_begin + g->tile_rows < g->rows ? row_begin + g->tile_rows : g->rows;
    int col_end = col_begin + g->tile_cols < g->cols ? col_begin + g->tile_cols : g->cols;
    /* Each kernel call runs the whole depth (no K blocking): every output element is read and
     * written once, and its sum order is fixed by the packing alone, so it does not depend on the
     * tile shape or thread count. A column panel (up to 300 KB at depth 3072) stays in L2 while
     * the row panels of the tile stream past it. */
    for (int j = col_begin; j < col_end; j += KERNEL_COLS) {
        const uint32_t *b_panel = g->b_packed + (long)(j / KERNEL_COLS) * g->pairs * KERNEL_COLS;
        int cols = col_end - j < KERNEL_COLS ? col_end - j : KERNEL_COLS;
        for (int i = row_begin; i < row_end; i += KERNEL_ROWS) {
            const uint32_t *a_panel = g->a_packed + (long)(i / KERNEL_ROWS) * g->pairs * KERNEL_ROWS;
            int rows = row_end - i < KERNEL_ROWS ? row_end - i : KERNEL_ROWS;
            micro_kernel(g->pairs, a_panel, b_panel, g->out + i * g->ldo + j, g->ldo, rows, cols, g->overwrite,
                         g->bias ? g->bias + j : NULL);
        }
    }
}

/* Packed panels of the latest call, kept between calls (the model calls with the same shapes every
 * step). One buffer, so the rung is not reentrant: calls must not overlap (cgpt calls from one thread). */
static PackBuffer packed;

static void gemm(Gemm *g) {
    if (g->rows <= 0 || g->cols <= 0) return;
    int a_panels = bf16_div_up(g->rows, KERNEL_ROWS), b_panels = bf16_div_up(g->cols, KERNEL_COLS);
    /* B's panels follow A's at a 64-byte boundary: the kernel loads them aligned */
    size_t a_dwords = ((size_t)a_panels * KERNEL_ROWS * g->pairs + 15) / 16 * 16;
    size_t b_dwords = (size_t)b_panels * KERNEL_COLS * g->pairs;
    g->a_packed = pack_buffer_reserve(&packed, a_dwords + b_dwords);
    g->b_packed = g->a_packed + a_dwords;
    bf16_plan_pack(&g->a_plan, &g->a, g->a_packed, KERNEL_ROWS, a_panels, g->pairs, BF16_PAIR_MAJOR);
    bf16_plan_pack(&g->b_plan, &g->b, g->b_packed, KERNEL_COLS, b_panels, g->pairs, BF16_PAIR_MAJOR);
    pool_run(g->a_plan.tasks + g->b_plan.tasks, pack_task, g);
    int threads = pool_size();

    /* tiles: as large as keeps several per thread (so uneven finishes balance out). The tile shape
     * only changes which task computes an element, never its sum order. */
    int tile_panels = b_panels < MAX_TILE_PANELS ? b_panels : MAX_TILE_PANELS;
    int tile_rows = a_panels * KERNEL_ROWS < MAX_TILE_ROWS ? a_panels * KERNEL_ROWS : MAX_TILE_ROWS;
    for (;;) {
        int tiles = bf16_div_up(g->rows, tile_rows) * bf16_div_up(b_panels, tile_panels);
        if (tiles >= 4 * threads) break;
        if (tile_panels > 2) tile_panels = bf16_div_up(tile_panels, 2);
        else if (tile_rows > 4 * KERNEL_ROWS) tile_rows = bf16_div_up(tile_rows / KERNEL_ROWS, 2) * KERNEL_ROWS;
        else if (tile_panels > 1) tile_panels = 1;
        else break;
    }
    g->tile_rows = tile_rows;
    g->tile_cols = tile_panels * KERNEL_COLS;
    g->col_tiles = bf16_div_up(g->cols, g->tile_cols);
    pool_run(bf16_div_up(g->rows, g->tile_rows) * g->col_tiles, tile_task, g);
}

static void bf16_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N,
                         int K) {
    Gemm g = {.out = out, .ldo = N, .bias = bias, .overwrite = 1, .rows = M, .cols = N,
              .pairs = bf16_depth_pairs(K),
              .a = {.data = inp, .stride_w = K, .stride_p = 1, .width = M, .depth = K},
              .b = {.data = weight, .stride_w = K, .stride_p = 1, .width = N, .depth = K}};
    gemm(&g);
}

static void bf16_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    Gemm g = {.out = dinp, .ldo = K, .overwrite = 1, .rows = M, .cols = K, .pairs = bf16_depth_pairs(N),
              .a = {.data = dout, .stride_w = N, .stride_p = 1, .width = M, .depth = N},
              .b = {.data = weight, .stride_w = 1, .stride_p = K, .width = K, .depth = N}};
    gemm(&g);
}

static void bf16_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                 int accumulate, double *squares) {
    Gemm g = {.out = dweight, .ldo = K, .overwrite = !accumulate, .rows = N, .cols = K, .pairs = bf16_depth_pairs(M),
              .a = {.data = dout, .stride_w = 1, .stride_p = N, .width = N, .depth = M},
              .b = {.data = inp, .stride_w = 1, .stride_p = K, .width = K, .depth = M}};
    gemm(&g);
    if (squares) *squares = sum_of_squares(dweight, (long)N * K);
}

const MatmulRung matmul_bf16 = {
    .name = "bf16", .needs = "AVX-512-BF16", .precision = "bf16",
    .description = "AVX-512-BF16 dot products on bf16-packed panels, fp32 accumulation, all cores",
    .auto_rank = 0, .available = have_bf16,
    .forward = bf16_forward, .backward_input = bf16_backward_input,
    .backward_weight = bf16_backward_weight, .backward_bias = NULL,
};

#else /* built without AVX-512-BF16 (not x86-64): listed, never available */
static int never(void) { return 0; }
const MatmulRung matmul_bf16 = {
    .name = "bf16", .needs = "AVX-512-BF16", .precision = "bf16",
    .description = "AVX-512-BF16 dot products (not in this build)",
    .auto_rank = 0, .available = never,
};
#endif
