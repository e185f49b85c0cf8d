/* Rung "amx": Intel AMX-BF16 tiles (Sapphire Rapids and later). Operands are rounded to bf16 and
 * packed the way tile loads read them (A in 1 KiB 16x32 tiles, B in VNNI K-pair panels); each 32x32
 * output block is four 16x16 fp32 tiles fed by tdpbf16ps. In forward and backward_input, B is the
 * weight matrix and each task packs its own slice of it, a depth chunk at a time, right before use
 * (deep products in fixed depth slices, summed afterwards); backward_weight does the same for the
 * layers' 768-row gradients; for the others it packs B first and each task packs its own rows of
 * A. fp32 in/out. */
#include "cpu/matmul/matmul.h"

#include "util/cpu.h"

/* GCC names the AMX macros __AMX_TILE__/__AMX_BF16__, clang __AMXTILE__/__AMXBF16__ */
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) && (defined(__AMX_BF16__) || defined(__AMXBF16__)) && \
    defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/matmul/bf16_pack.h"
#include "util/error.h"
#include "util/threadpool.h"

enum {
    TILE_ROWS = 16,      /* rows of every tile; also the fp32 columns of a C tile (64 bytes) */
    TILE_PAIRS = 16,     /* K-pairs in an A or B tile: 32 bf16 = 64 bytes per A row */
    BLOCK = 32,          /* output block per kernel call: 2 x 2 C tiles */
    MAX_TILE_BLOCKS = 8, /* most row blocks of one tile task (it packs their A: 256 rows) */
    CHUNK_PAIRS = 384,   /* K-pairs of B packed at a time: two 16-column panels = 48 KiB, L1-sized */
    MAX_ROW_BLOCKS = 8,  /* row blocks of one streaming task (their C tiles wait in a 32 KiB scratch) */
    SLICE_PAIRS = 2 * CHUNK_PAIRS, /* streamed products deeper than this are cut into depth slices */
};

/* Tile registers: four accumulators, two A tiles (rows 0-15, 16-31), two B tiles (cols 0-15,
 * 16-31). Macros, not an enum: GCC's tile intrinsics paste the number into the instruction text. */
#define C00 0
#define C01 1
#define C10 2
#define C11 3
#define A0 4
#define A1 5
#define B0 6
#define B1 7

/* The 64-byte operand of ldtilecfg, palette 1. */
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} TileConfig;
_Static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads exactly 64 bytes");

/* Tile configuration is per thread state: every task loads it before touching a tile. */
static void configure_tiles(void) {
    _Alignas(64) TileConfig config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.bytes_per_row[t] = 64;
        config.rows[t] = TILE_ROWS;
    }
    _tile_loadconfig(&config);
}

/* 0 = not asked yet, 1 = tiles usable, -1 = not (CPU lacks AMX or Linux refused tile data). Asked
 * once from the calling thread; the permission covers every thread of the process. */
static int amx_state;

static int amx_usable(void) {
    if (amx_state == 0) amx_state = cpu_features()->amx_bf16 && cpu_request_amx() == 0 ? 1 : -1;
    return amx_state > 0;
}

typedef struct {
    float *out;
    long ldo;
    const float *bias;
    int overwrite;
    int nontemporal;               /* written with streaming stores where it can be (see store_block) */
    int stream_b;                  /* B is a weight matrix: pack it inside the tasks (see stream_task) */
    int rows, cols, depth;
    int pairs;                     /* K-pairs, padded to whole tiles */
    Bf16Source a, b;
    uint32_t *a_packed, *b_packed; /* 16-row panels of A (1 KiB tiles), 16-column panels of B (VNNI):
                                      a_packed when streaming B, b_packed when not */
    Bf16PackPlan a_plan, b_plan;
    int tile_blocks_down;           /* not streaming: row blocks of one tile task (all columns) */
    int row_groups, rows_per_group; /* streaming: task = one column block x one group of row blocks */
    int slices, slice_pairs;        /* streaming: depth slices summed afterwards in order (partials) */
    float *partials;
    double *block_squares;          /* backward_weight's sum of squares (matmul.h): one per output
                                       block, column major over the blocks; NULL if not asked */
} Gemm;

/* Adds a 32x32 block of finished sums (scratch, row stride BLOCK) to out at block (row, col), or
 * writes it over out plus bias when overwriting. Edges are masked, so rows and columns past the
 * matrix are never touched. With block_squares, the block's sum of squares of what it stored
 * (in float, from the registers). With nontemporal, whole 128-byte rows that start on a cache line
 * are written with streaming stores (see wants_streaming_stores); the tasks end with an sfence. */
static void store_block(const Gemm *g, int block_row, int block_col, const float *scratch) {
    int row = block_row * BLOCK, col = block_col * BLOCK;
    int rows = g->rows - row < BLOCK ? g->rows - row : BLOCK, cols = g->cols - col;
    __m512 squares = _mm512_setzero_ps();
    for (int i = 0; i < rows; i++) {
        float *dst = g->out + (row + i) * g->ldo + col;
        int streaming = g->nontemporal && cols >= BLOCK && !((uintptr_t)dst & 63);
        for (int v = 0; v < 2; v++) {
            __mmask16 mask = bf16_mask16(cols - 16 * v);
            if (!mask) continue;
            __m512 base = !g->overwrite ? _mm512_maskz_loadu_ps(mask, dst + 16 * v)
                          : g->bias     ? _mm512_maskz_loadu_ps(mask, g->bias + col + 16 * v)
                                        : _mm512_setzero_ps();
            __m512 result = _mm512_add_ps(base, _mm512_load_ps(scratch + i * BLOCK + 16 * v));
            if (streaming) _mm512_stream_ps(dst + 16 * v, result);
            else _mm512_mask_storeu_ps(dst + 16 * v, mask, result);
            if (g->block_squares) { /* lanes past the matrix do not count */
                result = _mm512_maskz_mov_ps(mask, result);
                squares = _mm512_fmadd_ps(result, result, squares);
            }
        }
    }
    if (g->block_squares)
        g->block_squares[(long)block_col * bf16_div_up(g->rows, BLOCK) + block_row] = _mm512_reduce_add_ps(squares);
}

/* scratch (a 32x32 block) (+)= A panels a0, a0 + a_panel . B panels b0, b0 + b_panel, over K-pairs
 * [q0, q0 + pairs) of A and [0, pairs) of B; `first` starts from zero, else from the sums in
 * scratch. A panels are 16-pair tiles of 1 KiB one after the other (BF16_A_TILES), so the tile at
 * pair q starts 16*q dwords in and its rows are 64 bytes apart; B panels hold 16 dwords a K-pair.
 * prefetch_a: fetch the next step's A tiles into L1 (the streaming tasks, where A comes from L2;
 * +2-8% on the forwards in the lab, mixed on the weight gradients' short blocks, so not there). */
static void block_product(const uint32_t *a0, long a_panel, int q0, const uint32_t *b0, long b_panel, int pairs,
                          float *scratch, int first, int prefetch_a) {
    const uint32_t *a1 = a0 + a_panel, *b1 = b0 + b_panel;
    if (first) {
        _tile_zero(C00);
        _tile_zero(C01);
        _tile_zero(C10);
        _tile_zero(C11);
    } else {
        _tile_loadd(C00, scratch, BLOCK * 4);
        _tile_loadd(C01, scratch + 16, BLOCK * 4);
        _tile_loadd(C10, scratch + 16 * BLOCK, BLOCK * 4);
        _tile_loadd(C11, scratch + 16 * BLOCK + 16, BLOCK * 4);
    }
    for (int q = 0; q < pairs; q += TILE_PAIRS) {
        if (prefetch_a) { /* the next two A tiles into L1: tile loads wait on L2 latency */
            const char *p0 = (const char *)(a0 + 16L * (q0 + q + TILE_PAIRS));
            const char *p1 = (const char *)(a1 + 16L * (q0 + q + TILE_PAIRS));
            for (int l = 0; l < 1024; l += 64) {
                _mm_prefetch(p0 + l, _MM_HINT_T0);
                _mm_prefetch(p1 + l, _MM_HINT_T0);
            }
        }
        _tile_loadd(A0, a0 + 16L * (q0 + q), 64);
        _tile_loadd(A1, a1 + 16L * (q0 + q), 64);
        _tile_loadd(B0, b0 + (long)q * TILE_ROWS, 64);
        _tile_loadd(B1, b1 + (long)q * TILE_ROWS, 64);
        _tile_dpbf16ps(C00, A0, B0);
        _tile_dpbf16ps(C01, A0, B1);
        _tile_dpbf16ps(C10, A1, B0);
        _tile_dpbf16ps(C11, A1, B1);
    }
    _tile_stored(C00, scratch, BLOCK * 4);
    _tile_stored(C01, scratch + 16, BLOCK * 4);
    _tile_stored(C10, scratch + 16 * BLOCK, BLOCK * 4);
    _tile_stored(C11, scratch + 16 * BLOCK + 16, BLOCK * 4);
}

/* Each worker's buffer for the rows of A its tile tasks pack (kept between calls, like `packed`). */
static PackBuffer tile_a[POOL_MAX_THREADS];

/* Rows of output blocks [first_row, first_row + tile_blocks_down) over every column, B packed up
 * front. The task packs those rows of A itself, so that its tiles read them from this core's
 * caches: packed by a pool run before, as B is, every A tile came from whichever core had packed
 * it, and the qkv, fc and head weight gradients ran 12-35% slower in `bench --gemm` on the Xeon
 * (NOTES.md round thirteen). Across all columns, each row of A is packed once, as before. */
static void tile_task(void *context, int task) {
    const Gemm *g = context;
    _Alignas(64) float scratch[BLOCK * BLOCK];
    configure_tiles();
    int row_blocks = bf16_div_up(g->rows, BLOCK), col_blocks = bf16_div_up(g->cols, BLOCK);
    int first_row = task * g->tile_blocks_down;
    int last_row = first_row + g->tile_blocks_down < row_blocks ? first_row + g->tile_blocks_down : row_blocks;
    const long panel = (long)TILE_ROWS * g->pairs; /* dwords per 16-row or 16-column panel */
    uint32_t *a_rows = pack_buffer_reserve(&tile_a[pool_worker_index()], (size_t)2 * g->tile_blocks_down * panel);
    for (int a_panel = 2 * first_row; a_panel < 2 * last_row; a_panel++) /* as BF16_A_TILES lays them out */
        for (int q = 0; q < g->pairs; q += TILE_PAIRS)
            bf16_pack_row_major((uint16_t *)(a_rows + (a_panel - 2 * first_row) * panel + (long)q * TILE_ROWS), 32,
                                &g->a, a_panel * TILE_ROWS, TILE_ROWS, q, q + TILE_PAIRS);
    /* a B block (two panels, the whole depth) stays in L1/L2 while the task's A blocks pass */
    for (int bc = 0; bc < col_blocks; bc++)
        for (int br = first_row; br < last_row; br++) {
            block_product(a_rows + 2L * (br - first_row) * panel, panel, 0, g->b_packed + 2L * bc * panel, panel,
                          g->pairs, scratch, 1, 0);
            store_block(g, br, bc, scratch);
        }
    if (g->nontemporal) _mm_sfence(); /* streaming stores visible before the pool reports the task done */
    _tile_release(); /* tile data back to its initial state: no 8 KiB to save on context switches */
}

/* The input gradient's B (weight rows interleaved in pairs): both 16-column panels of a K-pair at
 * once, so each source row's 128 bytes are read together, prefetching rows PREFETCH_PAIRS ahead:
 * the rows are a whole weight row apart (3-12 KB), too far for the hardware prefetchers. */
enum { PREFETCH_PAIRS = 8 };
static void pack_interleaved_block(uint32_t *dst, long panel_size, const Bf16Source *src, int w0, int pair_begin,
                                   int pair_end) {
    for (int q = pair_begin; q < pair_end; q++) {
        int p = 2 * q;
        int ahead = p + 2 * PREFETCH_PAIRS;
        if (ahead + 1 < src->depth) {
            const char *r0 = (const char *)(src->data + ahead * src->stride_p + w0);
            const char *r1 = (const char *)(src->data + (ahead + 1) * src->stride_p + w0);
            _mm_prefetch(r0, _MM_HINT_T0);
            _mm_prefetch(r0 + 64, _MM_HINT_T0);
            _mm_prefetch(r1, _MM_HINT_T0);
            _mm_prefetch(r1 + 64, _MM_HINT_T0);
        }
        const float *first = p < src->depth ? src->data + p * src->stride_p : NULL;
        const float *second = p + 1 < src->depth ? src->data + (p + 1) * src->stride_p : NULL;
        for (int panel = 0; panel < 2; panel++) {
            int j = w0 + 16 * panel, real = src->width - j;
            if (real > 16) real = 16;
            __m512i pairs = first && real > 0 ? bf16_pairs_from_rows(first + j, second ? second + j : NULL, real)
                                              : _mm512_setzero_si512();
            _mm512_store_si512(dst + panel * panel_size + (long)(q - pair_begin) * TILE_ROWS, pairs);
        }
    }
}

/* Slice `slice`'s partial sums of output block `block` (row-major over the 32x32 output blocks). */
static float *partial_block(const Gemm *g, int slice, int block) {
    long blocks = (long)bf16_div_up(g->rows, BLOCK) * bf16_div_up(g->cols, BLOCK);
    return g->partials + ((long)slice * blocks + block) * BLOCK * BLOCK;
}

/* One column block (32 columns of B) times one group of row blocks over one depth slice, streaming
 * B: each depth chunk of the two B panels is packed into this thread's buffer and used at once by
 * every row block of the group, whose partial sums wait in scratch between chunks. B is read from
 * its fp32 source exactly once per row group, and never goes through memory in packed form. With
 * more than one slice, the sums go to `partials` for reduce_task; else straight to out. */
static void stream_task(void *context, int task) {
    const Gemm *g = context;
    _Alignas(64) uint32_t b_chunk[2 * TILE_ROWS * CHUNK_PAIRS];
    _Alignas(64) float scratch[MAX_ROW_BLOCKS][BLOCK * BLOCK];
    configure_tiles();
    int col_blocks = bf16_div_up(g->cols, BLOCK);
    int group = task % g->row_groups;
    task /= g->row_groups;
    int block_col = task % col_blocks, slice = task / col_blocks;
    int row_blocks = bf16_div_up(g->rows, BLOCK);
    int first_row = group * g->rows_per_group;
    int last_row = first_row + g->rows_per_group < row_blocks ? first_row + g->rows_per_group : row_blocks;
    const long a_panel = (long)TILE_ROWS * g->pairs;
    int q_begin = slice * g->slice_pairs;
    int q_end = q_begin + g->slice_pairs < g->pairs ? q_begin + g->slice_pairs : g->pairs;
    for (int q = q_begin; q < q_end; q += CHUNK_PAIRS) {
        int pairs = q_end - q < CHUNK_PAIRS ? q_end - q : CHUNK_PAIRS; /* a multiple of TILE_PAIRS */
        if (g->b.stride_p != 1)
            pack_interleaved_block(b_chunk, (long)TILE_ROWS * pairs, &g->b, block_col * BLOCK, q, q + pairs);
        else
            bf16_pack_pair_major(b_chunk, TILE_ROWS, 2, (long)TILE_ROWS * pairs, &g->b, block_col * BLOCK, q, q + pairs);
        for (int br = first_row; br < last_row; br++)
            block_product(g->a_packed + 2L * br * a_panel, a_panel, q, b_chunk, (long)TILE_ROWS * pairs,
                          pairs, scratch[br - first_row], q == q_begin, 1);
    }
    for (int br = first_row; br < last_row; br++) {
        if (g->slices == 1) store_block(g, br, block_col, scratch[br - first_row]);
        else memcpy(partial_block(g, slice, br * col_blocks + block_col), scratch[br - first_row], sizeof scratch[0]);
    }
    if (g->nontemporal) _mm_sfence();
    _tile_release();
}

/* Sums one output block's slices in slice order (fixed by the shape, not the threads) and stores it;
 * `task` is the block's index, row-major over the output blocks. */
static void reduce_task(void *context, int task) {
    const Gemm *g = context;
    _Alignas(64) float sum[BLOCK * BLOCK];
    memcpy(sum, partial_block(g, 0, task), sizeof sum);
    for (int s = 1; s < g->slices; s++) {
        const float *part = partial_block(g, s, task);
        for (int i = 0; i < BLOCK * BLOCK; i += 16)
            _mm512_store_ps(sum + i, _mm512_add_ps(_mm512_load_ps(sum + i), _mm512_load_ps(part + i)));
    }
    int col_blocks = bf16_div_up(g->cols, BLOCK);
    store_block(g, task / col_blocks, task % col_blocks, sum);
    if (g->nontemporal) _mm_sfence();
}

static void pack_a_task(void *context, int task) { bf16_run_pack_plan(&((const Gemm *)context)->a_plan, task); }
static void pack_b_task(void *context, int task) { bf16_run_pack_plan(&((const Gemm *)context)->b_plan, task); }

/* Packed panels of the latest call, kept between calls (the model calls with the same shapes every
 * step). One buffer, so the rung is not reentrant: calls must not overlap (cgpt calls from one thread).
 * Two ways through a call: streaming (forward and backward_input: A packed here, B inside the
 * tasks; the partial sums of depth slices share the buffer), or B packed here and A inside the
 * tasks, by rows (backward_weight's larger gradients, whose operands are both activations). */
static PackBuffer packed;

static void gemm(Gemm *g) {
    if (g->rows <= 0 || g->cols <= 0) return;
    if (!amx_usable()) { /* the registry never runs an unavailable rung; a direct call is a bug */
        fprintf(stderr, "cgpt: matmul rung amx called without AMX tile permission\n");
        abort();
    }
    /* depth padded to whole tiles (zeros multiply to nothing); panels in pairs, one per C tile */
    g->pairs = bf16_div_up(bf16_div_up(g->depth, 2), TILE_PAIRS) * TILE_PAIRS;
    if (g->pairs == 0) g->pairs = TILE_PAIRS;
    int row_blocks = bf16_div_up(g->rows, BLOCK), col_blocks = bf16_div_up(g->cols, BLOCK);
    int threads = pool_size();
    if (g->stream_b) {
        /* depth slices: a fixed size (the sums must not depend on the thread count). Each slice's
         * tasks read their own rows of the weights, where row groups would convert them again,
         * and their A stays in L2 however deep the product (the head's input gradient) */
        g->slice_pairs = g->pairs > SLICE_PAIRS ? SLICE_PAIRS : g->pairs;
        g->slices = bf16_div_up(g->pairs, g->slice_pairs);
        /* row groups: as few as keep the threads busy (each group packs its B blocks again), and
         * small enough for the scratch */
        int groups = bf16_div_up(row_blocks, MAX_ROW_BLOCKS);
        while (col_blocks * groups * g->slices < 3 * threads && groups < row_blocks) groups *= 2;
        if (groups > row_blocks) groups = row_blocks;
        g->rows_per_group = bf16_div_up(row_blocks, groups);
        g->row_groups = bf16_div_up(row_blocks, g->rows_per_group);
        size_t a_dwords = (size_t)row_blocks * BLOCK * g->pairs;
        size_t part_floats = g->slices > 1 ? (size_t)g->slices * row_blocks * col_blocks * BLOCK * BLOCK : 0;
        g->a_packed = pack_buffer_reserve(&packed, a_dwords + part_floats);
        g->partials = (float *)(g->a_packed + a_dwords);
        bf16_plan_pack(&g->a_plan, &g->a, g->a_packed, TILE_ROWS, 2 * row_blocks, g->pairs, BF16_A_TILES);
        pool_run(g->a_plan.tasks, pack_a_task, g);
        pool_run(g->slices * col_blocks * g->row_groups, stream_task, g);
        if (g->slices > 1) pool_run(row_blocks * col_blocks, reduce_task, g);
        return;
    }
    size_t b_dwords = (size_t)col_blocks * BLOCK * g->pairs;
    g->b_packed = pack_buffer_reserve(&packed, b_dwords);
    bf16_plan_pack(&g->b_plan, &g->b, g->b_packed, TILE_ROWS, 2 * col_blocks, g->pairs, BF16_PAIR_MAJOR);
    pool_run(g->b_plan.tasks, pack_b_task, g);
    /* row tiles: as many rows as keep several tasks per thread; only which thread computes an
     * element depends on this, never its sum order */
    int down = row_blocks < MAX_TILE_BLOCKS ? row_blocks : MAX_TILE_BLOCKS;
    while (down > 1 && bf16_div_up(row_blocks, down) < 4 * threads) down = bf16_div_up(down, 2);
    g->tile_blocks_down = down;
    pool_run(bf16_div_up(row_blocks, down), tile_task, g);
}

static int amx_available(void) { return amx_usable(); }

/* Streaming stores for outputs written over, from 256 KiB up. A normal store that misses first
 * reads its line from memory, and the core waits on those reads in store order: that, not
 * bandwidth, made the stores of the outputs ~17 ms of a 124M step on the Xeon (skipping them in a
 * lab build). Written around the caches, an output costs its consumer one streamed read from
 * DRAM instead, which the prefetchers keep fast: whole steps +3% to +18% for the weight
 * gradients (nothing reads them before AdamW), and a further +1% to +8% for the forward outputs
 * and input gradients. Small outputs (generation's single rows) stay in cache for their reader. */
enum { STREAM_MIN_FLOATS = 64 * 1024 };
/* backward_weight takes the streaming way up to this many gradient rows (see amx_backward_weight) */
enum { STREAM_WEIGHT_GRADIENT_MAX_ROWS = 768 };
static int wants_streaming_stores(int rows, int cols) { return (long)rows * cols >= STREAM_MIN_FLOATS; }

static void amx_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K) {
    Gemm g = {.out = out, .ldo = N, .bias = bias, .overwrite = 1, .nontemporal = wants_streaming_stores(M, N),
              .stream_b = 1, .rows = M, .cols = N, .depth = K,
              .a = {.data = inp, .stride_w = K, .stride_p = 1, .width = M, .depth = K},
              .b = {.data = weight, .stride_w = K, .stride_p = 1, .width = N, .depth = K}};
    gemm(&g);
}

static void amx_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    Gemm g = {.out = dinp, .ldo = K, .overwrite = 1, .nontemporal = wants_streaming_stores(M, K),
              .stream_b = 1, .rows = M, .cols = K, .depth = N,
              .a = {.data = dout, .stride_w = N, .stride_p = 1, .width = M, .depth = N},
              .b = {.data = weight, .stride_w = 1, .stride_p = K, .width = K, .depth = N}};
    gemm(&g);
}

static double *squares_buffer;
static size_t squares_capacity;

static void amx_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                int accumulate, double *squares) {
    double *block_squares = NULL;
    size_t blocks = (size_t)bf16_div_up(N, BLOCK) * bf16_div_up(K, BLOCK);
    if (squares) {
        *squares = 0.0;
        if (N <= 0 || K <= 0) squares = NULL; /* nothing stored, nothing to sum */
    }
    if (squares) {
        if (blocks > squares_capacity) {
            free(squares_buffer);
            squares_buffer = xmalloc(blocks * sizeof(double), "amx block squares");
            squares_capacity = blocks;
        }
        block_squares = squares_buffer;
    }
    /* overwritten gradients bypass the caches at any size: nothing reads them before AdamW, and
     * their sums of squares come from the registers. Gradients of few rows (GPT-2's attproj and
     * fcproj, 768) go the streaming way, each task packing its own 32 columns of inp: their
     * products took 8-30% less time in five step breakdowns on the Xeon. With more rows (qkv, fc,
     * the head) tasks of whole rows, each packing its own rows of dout^T, measured as fast or
     * faster (NOTES.md, rounds ten and thirteen). */
    Gemm g = {.out = dweight, .ldo = K, .overwrite = !accumulate, .nontemporal = !accumulate,
              .stream_b = N <= STREAM_WEIGHT_GRADIENT_MAX_ROWS, .rows = N, .cols = K, .depth = M,
              .block_squares = block_squares,
              .a = {.data = dout, .stride_w = 1, .stride_p = N, .width = N, .depth = M},
              .b = {.data = inp, .stride_w = 1, .stride_p = K, .width = K, .depth = M}};
    gemm(&g);
    if (squares) { /* the blocks' sums in block order: the same for any thread count */
        double total = 0.0;
        for (size_t b = 0; b < blocks; b++) total += block_squares[b];
        *squares = total;
    }
}

const MatmulRung matmul_amx = {
    .name = "amx", .needs = "AMX-BF16", .precision = "bf16",
    .description = "AMX-BF16 tiles (2x2 16x16 fp32 accumulators) on bf16-packed panels, all cores",
    .auto_rank = 0, .available = amx_available,
    .forward = amx_forward, .backward_input = amx_backward_input,
    .backward_weight = amx_backward_weight, .backward_bias = NULL,
};

#else /* built without AMX support: listed, never available */
static int never(void) { return 0; }
const MatmulRung matmul_amx = {
    .name = "amx", .needs = "AMX-BF16", .precision = "bf16",
    .description = "AMX-BF16 tiles (not in this build)",
    .auto_rank = 0, .available = never,
};
#endif
