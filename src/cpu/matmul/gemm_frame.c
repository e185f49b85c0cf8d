/* The GEMM frame (see gemm_frame.h): problem set-up for the three passes, task planning, panel
 * packing and the blocked loops around a rung's micro-kernel. Compiled for baseline x86-64, so it
 * holds no SIMD code of its own: the speed lives in the micro-kernel and, optionally, its packer. */
#include "cpu/matmul/gemm_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h> /* _mm_sfence: SSE, in every x86-64 baseline */
#endif

#include "util/error.h"

/* An operand up to this size is packed once and shared by all tasks (it then stays in L2/L3). */
#define WHOLE_PACK_LIMIT_BYTES (8L << 20)
/* Tasks per thread when splitting is free: enough for the pool to balance uneven progress. */
#define TASKS_PER_THREAD 8
/* Deepest B the micro-kernel reads in place (see gemm_plan). */
#define DIRECT_B_MAX_K 512
/* Rows a multiple of this apart (4 KiB) all fall into the same few L1 sets, so a B read in place
 * with such a row stride cannot stay in L1: fcproj's weight gradient reads inp rows 12 KiB apart,
 * and packing its B panels measured +5-9% on Zen 5 (NOTES.md, round eight). */
#define L1_ALIASING_FLOATS 1024
/* B read in place by every row task must stay in a core's L2 (1 MiB on Zen 5, 2 MiB on the Xeon). */
#define DIRECT_B_CACHED_BYTES (1L << 20)
/* With A packed whole: panels a column task should get when there are tasks enough (gemm_plan). */
#define MIN_PANELS_PER_TASK 8
/* Fewest rows a task gets when m is cut finely: the attproj weight gradient on 16 threads ran
 * 8-row tasks at 781 GFLOP/s, 32-row ones at 1082 (each B panel then serves 4 row tiles). */
#define MIN_ROWS_PER_TASK 32
/* Steps of a transposed A (backward_weight's dout) that pack_a_block copies together; it prefetches
 * the next block's runs while copying one. */
#define A_STEPS_PER_BLOCK 8
/* Pipelined B packing (gemm_run_task): k steps per part, a multiple of the packers' 16-step blocks.
 * One part of a forward's weight panel is 4 lines of each of its 48 rows. The transposing packer
 * runs 2.5x slower per float in 16-step parts than over a whole panel (each call touches one line
 * of every row); 64-step parts measured +5-7% on one thread's forwards against 16, +1-3% against
 * 32 and 96 (NOTES.md round eleven). */
#define PIPELINE_PART_STEPS 64

static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }
static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }

GemmProblem gemm_forward_problem(float *out, const float *inp, const float *weight, const float *bias,
                                 int M, int N, int K) {
    /* out[M,N] = inp[M,K] . weight[N,K]^T: B[k, n] = weight[n*K + k] */
    return (GemmProblem){.m = M, .n = N, .k = K,
                         .a = inp, .a_row_stride = K, .a_col_stride = 1,
                         .b = weight, .b_row_stride = 1, .b_col_stride = K,
                         .c = out, .c_row_stride = N, .accumulate = 0, .bias = bias};
}

GemmProblem gemm_backward_input_problem(float *dinp, const float *dout, const float *weight, int M,
                                        int N, int K) {
    /* dinp[M,K] = dout[M,N] . weight[N,K]: the inner dimension is N */
    return (GemmProblem){.m = M, .n = K, .k = N,
                         .a = dout, .a_row_stride = N, .a_col_stride = 1,
                         .b = weight, .b_row_stride = K, .b_col_stride = 1,
                         .c = dinp, .c_row_stride = K, .accumulate = 0, .bias = NULL};
}

GemmProblem gemm_backward_weight_problem(float *dweight, const float *dout, const float *inp, int M,
                                         int N, int K, int accumulate, double *squares) {
    /* dweight[N,K] (+)= dout[M,N]^T . inp[M,K]: A[n, m] = dout[m*N + n], the inner dimension is M.
     * Without accumulate it is stored as forward's output is: the first k block stores. */
    return (GemmProblem){.m = N, .n = K, .k = M,
                         .a = dout, .a_row_stride = 1, .a_col_stride = N,
                         .b = inp, .b_row_stride = K, .b_col_stride = 1,
                         .c = dweight, .c_row_stride = K, .accumulate = accumulate, .stream = !accumulate,
                         .bias = NULL, .squares = squares};
}

void gemm_plan(GemmPlan *plan, const GemmKernel *kernel, const GemmProblem *problem, int n_threads) {
    const GemmProblem *p = problem;
    int mr = kernel->mr, nr = kernel->nr;
    memset(plan, 0, sizeof *plan);
    plan->kernel = kernel;
    plan->problem = *problem;
    plan->m_padded = round_up(p->m, mr);
    plan->n_padded = round_up(p->n, nr);
    if (n_threads < 1) n_threads = 1;

    /* Rows per task: the A block a task keeps in L2 while it sweeps its columns. */
    plan->task_rows = min_int(plan->m_padded, round_up(kernel->mc, mr));
    plan->tasks_m = ceil_div(p->m, plan->task_rows);
    int tasks_wanted = n_threads > 1 ? TASKS_PER_THREAD * n_threads : 1;

    /* Several column tasks would each pack the same A block, several row tasks the same B panels:
     * pack whole the small operand that would otherwise be packed again, the smaller if both are.
     * At GPT-2's M = 256 that is A (the activations or dout) in forward and backward_input. */
    long a_bytes = (long)plan->m_padded * p->k * 4, b_bytes = (long)plan->n_padded * p->k * 4;
    int a_small = p->k > 0 && a_bytes <= WHOLE_PACK_LIMIT_BYTES;
    /* A big A in one row task (GPT-2's head backward_input: 256 x 50304) would be packed again by
     * every column task, i.e. once per thread: pack it whole even so when there are many threads
     * (+14% for that product on 16 threads; on 2 threads packing it twice measured the same). */
    if (p->k > 0 && n_threads > 2 && plan->tasks_m == 1) a_small = 1;
    int b_small = p->k > 0 && b_bytes <= WHOLE_PACK_LIMIT_BYTES;
    /* B whose rows hold n contiguously (backward_input's weight, backward_weight's inp) needs no
     * packing at all: the micro-kernel reads its NR-wide row pieces in place. Only when B is
     * shallow, though: a deep B read in place (backward_input, k = N >= 768) walks kc rows that
     * are a whole weight row apart, and the packed copy measured faster (docs/NOTES.md). */
    plan->direct_b = p->b_col_stride == 1 && p->k <= DIRECT_B_MAX_K && p->b_row_stride % L1_ALIASING_FLOATS != 0;
    /* A B packed panel by panel is packed a part at a time between the previous panel's tiles
     * when the kernel can prefetch its source (gemm_run_task). */
    plan->pipeline_b = kernel->prefetches;
    plan->copy_b = kernel->copies && kernel->nr % 16 == 0;
    /* On two threads a packed B (forward, backward_input) leaves A to be packed by each of two
     * tasks into its own L2, once per thread: no second pool run, no A block read back from L3,
     * for twice the packing of a small operand. Measured +6-8% on the n = 768 forwards and the
     * layers' input gradients, the same on the others (NOTES.md, round eight). The two tasks
     * share the B panels out through a panel queue (below), which also balances the head's
     * forward (1,048 panels): with it, +1.5-2% there against the shared pack and 16 tasks. */
    int per_thread_a = n_threads == 2 && !plan->direct_b && plan->tasks_m == 1 && p->k > 0 &&
                       plan->n_padded / nr <= GEMM_QUEUE_MAX_PANELS && ceil_div(p->k, kernel->kc) <= GEMM_QUEUE_MAX_BLOCKS;
    if (!plan->direct_b && b_small && plan->tasks_m > 1 && !(a_small && a_bytes < b_bytes && n_threads > 1))
        plan->whole_b = 1;
    else if (a_small && n_threads > 1 && !per_thread_a &&
             !(plan->direct_b && plan->tasks_m > 1 && b_bytes <= DIRECT_B_CACHED_BYTES))
        plan->whole_a = 1;

    /* With a small B (packed whole, or read in place from L2), cutting m into more row tasks
     * costs little: cut finely for balance, though not below MIN_ROWS_PER_TASK, so that each B
     * micro-panel brought into L1 serves a few row tiles. (A B read in place that does not stay in
     * L2 would be streamed from L3 or memory once per row task instead: then A is packed whole
     * above, and the tasks cut n, each reading its own slice of B.) */
    if (b_small && (plan->whole_b || plan->direct_b) && !plan->whole_a && plan->tasks_m < tasks_wanted) {
        plan->task_rows = max_int(round_up(ceil_div(p->m, tasks_wanted), mr), round_up(MIN_ROWS_PER_TASK, mr));
        plan->task_rows = min_int(plan->task_rows, plan->m_padded);
        plan->tasks_m = ceil_div(p->m, plan->task_rows);
    }

    /* Columns per task. With A packed whole, cutting n costs nothing, so cut finely for balance;
     * otherwise every column task packs its A block again, so make just enough tasks. */
    int column_tasks;
    if (plan->whole_a) {
        /* ... but only as finely as balance needs: a task reads its A block (task rows x kc,
         * ~400 KB) from L3 for its first panel and from L2 for the others. With many threads
         * (cores slowed by neighbours, a 16-core Xeon) 4 tasks a thread balance best; with two,
         * one task a thread with up to 8 panels measured 2-5% faster for n = 768 (NOTES.md). */
        int balanced = ceil_div(tasks_wanted, plan->tasks_m);
        int roomy = plan->n_padded / nr / MIN_PANELS_PER_TASK;
        int enough = (n_threads <= 2 ? 1 : 4) * n_threads;
        column_tasks = min_int(balanced, max_int(roomy, enough));
    }
    else if (plan->tasks_m >= n_threads)
        column_tasks = 1;
    else
        column_tasks = ceil_div(n_threads, plan->tasks_m);
    column_tasks = min_int(column_tasks, plan->n_padded / nr);
    plan->task_cols = round_up(ceil_div(p->n, column_tasks), nr);
    plan->tasks_n = ceil_div(p->n, plan->task_cols);
    plan->tasks = plan->tasks_m * plan->tasks_n;
    /* Two fixed column tasks, one a thread, leave the faster core idle at the end whenever the
     * other is slowed (on the Zen 5 VM either core has run 5-12% slower than the other for an
     * hour, each alone). Cutting n into more tasks would pack A again for each; instead each
     * thread packs A once per k block, works through its half of the B panels and then takes
     * what is left of the other's (queue_claim). */
    if (per_thread_a) {
        plan->panel_queue = 1;
        plan->task_cols = plan->n_padded;
        plan->tasks_n = 1;
        plan->tasks = 2;
    }

    int panels = plan->whole_a ? plan->m_padded / mr : plan->n_padded / nr;
    int units = ceil_div(p->k, kernel->kc) * panels;
    plan->pack_parts = n_threads > 1 ? min_int(units, TASKS_PER_THREAD * n_threads) : 1;
}

/* The queue's word (GemmQueue.unclaimed) at the start of k block `block`: each task's range of
 * panels [first, end) is its half, task 0's the left one. Fields: [63:48] k block; task 0's first
 * and end in [47:36] and [35:24], task 1's in [23:12] and [11:0]. */
static unsigned long long queue_word(unsigned long long block, int panels) {
    unsigned long long half = (unsigned long long)(panels + 1) / 2;
    return block << 48 | half << 24 | half << 12 | (unsigned long long)panels;
}

void gemm_queue_start(GemmPlan *plan, GemmQueue *queue) {
    plan->queue = plan->panel_queue ? queue : NULL;
    if (!plan->panel_queue) return;
    atomic_init(&queue->unclaimed, queue_word(0, plan->n_padded / plan->kernel->nr));
    for (int panel = 0; panel < plan->n_padded / plan->kernel->nr; panel++) atomic_init(&queue->blocks_done[panel], 0);
}

size_t gemm_whole_floats(const GemmPlan *plan) {
    if (plan->whole_a) return (size_t)plan->m_padded * plan->problem.k;
    if (plan->whole_b) return (size_t)plan->n_padded * plan->problem.k;
    return 0;
}

size_t gemm_scratch_floats(const GemmPlan *plan) {
    /* an A block (task rows x kc) and two B micro-panels (kc x NR): the one in use, the next one */
    const GemmKernel *kernel = plan->kernel;
    return (size_t)kernel->kc * (plan->task_rows + 2 * kernel->nr);
}

void gemm_pack_panel(float *restrict dst, const float *restrict src, long lane_stride, long k_stride,
                     int lanes_used, int width, long k_len) {
    if (lane_stride == 1) {
        /* lanes contiguous in memory: copy one row of lanes per k step */
        for (long p = 0; p < k_len; p++) {
            const float *from = src + p * k_stride;
            float *to = dst + p * width;
            for (int lane = 0; lane < lanes_used; lane++) to[lane] = from[lane];
            for (int lane = lanes_used; lane < width; lane++) to[lane] = 0.0f;
        }
        return;
    }
    /* a transpose: read each lane's run of k values in order, write them with stride `width` */
    for (int lane = 0; lane < width; lane++) {
        const float *from = src + lane * lane_stride;
        if (lane < lanes_used)
            for (long p = 0; p < k_len; p++) dst[p * width + lane] = from[p * k_stride];
        else
            for (long p = 0; p < k_len; p++) dst[p * width + lane] = 0.0f;
    }
}

/* Packs whole-operand unit `unit` = (k block, panel) at its place in plan->whole:
 * k block b holds all panels of that block, panel q at offset q * width * k_len. */
static void pack_whole_unit(const GemmPlan *plan, int unit) {
    const GemmProblem *p = &plan->problem;
    const GemmKernel *kernel = plan->kernel;
    GemmPackPanel pack = kernel->pack ? kernel->pack : gemm_pack_panel;
    int width = plan->whole_a ? kernel->mr : kernel->nr;
    int extent = plan->whole_a ? p->m : p->n, padded = plan->whole_a ? plan->m_padded : plan->n_padded;
    int panels = padded / width;
    int block = unit / panels, panel = unit % panels;
    long k0 = (long)block * kernel->kc, k_len = min_int(kernel->kc, p->k - (int)k0);
    long lane0 = (long)panel * width;
    float *dst = plan->whole + k0 * padded + lane0 * k_len;
    if (plan->whole_a)
        pack(dst, p->a + lane0 * p->a_row_stride + k0 * p->a_col_stride, p->a_row_stride,
             p->a_col_stride, min_int(width, extent - (int)lane0), width, k_len);
    else
        pack(dst, p->b + lane0 * p->b_col_stride + k0 * p->b_row_stride, p->b_col_stride,
             p->b_row_stride, min_int(width, extent - (int)lane0), width, k_len);
}

void gemm_pack_whole(const GemmPlan *plan, int part) {
    int padded = plan->whole_a ? plan->m_padded : plan->n_padded;
    int width = plan->whole_a ? plan->kernel->mr : plan->kernel->nr;
    int units = ceil_div(plan->problem.k, plan->kernel->kc) * (padded / width);
    long first = (long)units * part / plan->pack_parts, last = (long)units * (part + 1) / plan->pack_parts;
    for (long unit = first; unit < last; unit++) pack_whole_unit(plan, (int)unit);
}

/* An edge tile: the kernel writes a full tile to a buffer and only the valid part is stored,
 * with the same arithmetic (one add of C or bias) as the kernel's own store; with squares, the
 * sum of the squares of what was stored. */
static void edge_tile(const GemmKernel *kernel, long k_len, const float *a_panel, const float *b_panel,
                      long b_step, float *c, long c_row_stride, int rows, int cols, int store, const float *bias,
                      double *squares, const GemmPrefetch *prefetch) {
    _Alignas(64) float tile[GEMM_MAX_TILE];
    kernel->kernel(k_len, a_panel, b_panel, b_step, tile, kernel->nr, 0, NULL, NULL, prefetch);
    double sum_of_squares = 0.0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float sum = tile[i * kernel->nr + j];
            float *out = c + i * c_row_stride + j;
            *out = store == GEMM_ADD ? *out + sum : bias ? bias[j] + sum : sum;
            if (squares) sum_of_squares += (double)*out * *out;
        }
    if (squares) *squares = sum_of_squares;
}

/* k = 0: the product is empty, so C = bias (or 0) unless accumulating. With tile_squares, each
 * tile's sum of squares as the kernels would give it. */
static void empty_product(const GemmPlan *plan, int m0, int m1, int n0, int n1) {
    const GemmProblem *p = &plan->problem;
    int mr = plan->kernel->mr, nr = plan->kernel->nr;
    for (int i0 = m0; i0 < m1; i0 += mr)
        for (int j0 = n0; j0 < n1; j0 += nr) {
            double squares = 0.0;
            for (int i = i0; i < min_int(m1, i0 + mr); i++)
                for (int j = j0; j < min_int(n1, j0 + nr); j++) {
                    float *out = p->c + (long)i * p->c_row_stride + j;
                    if (!p->accumulate) *out = p->bias ? p->bias[j] : 0.0f;
                    squares += (double)*out * *out;
                }
            if (plan->tile_squares) plan->tile_squares[(long)(j0 / nr) * (plan->m_padded / mr) + i0 / mr] = squares;
        }
}

/* Packs rows [m0, m1) of A over k block [k0, k0 + k_len) into consecutive MR panels. When A's rows
 * are its contiguous dimension (backward_weight reads dout transposed), one k step of the whole
 * block is a single run of memory: walk a few such runs at a time (A_STEPS_PER_BLOCK), rather than
 * panel by panel, which would touch every one of the k_len far-apart rows once per panel; each
 * panel then gets a few whole cache lines at once instead of 32 bytes per step (+4-6% for the
 * weight gradients on one Zen 5 thread). */
static void pack_a_block(GemmPackPanel pack, float *dst, const GemmProblem *p, int m0, int m1, int k0,
                         long k_len, int mr) {
    if (p->a_row_stride == 1) {
        int panels = (m1 - m0 + mr - 1) / mr;
        long run_bytes = (long)(m1 - m0) * 4;
        for (long step0 = 0; step0 < k_len; step0 += A_STEPS_PER_BLOCK) {
            int steps = (int)(k_len - step0 < A_STEPS_PER_BLOCK ? k_len - step0 : A_STEPS_PER_BLOCK);
            const float *from = p->a + (k0 + step0) * p->a_col_stride + m0;
            /* the runs are a whole row of A apart: ask for the next block's while copying this one */
            for (int s = 0; s < steps && step0 + steps + s < k_len; s++)
                for (long offset = 0; offset < run_bytes; offset += 64)
                    __builtin_prefetch((const char *)(from + (steps + s) * p->a_col_stride) + offset, 0, 3);
            for (int panel = 0; panel < panels; panel++) {
                float *to = dst + (long)panel * mr * k_len + step0 * mr;
                int lanes = min_int(mr, m1 - m0 - panel * mr);
                for (int s = 0; s < steps; s++, to += mr) {
                    const float *run = from + s * p->a_col_stride + panel * mr;
                    for (int lane = 0; lane < lanes; lane++) to[lane] = run[lane];
                    for (int lane = lanes; lane < mr; lane++) to[lane] = 0.0f;
                }
            }
        }
        return;
    }
    for (int i = m0; i < m1; i += mr)
        pack(dst + (long)(i - m0) * k_len, p->a + (long)i * p->a_row_stride + k0 * p->a_col_stride,
             p->a_row_stride, p->a_col_stride, min_int(mr, m1 - i), mr, k_len);
}

/* The source lines of B micro-panel columns [j, j + lanes) over k steps [p0, p1) of the k block at
 * k0, for a kernel to prefetch (B's lanes or its k steps contiguous: every GPT-2 pass). */
static GemmPrefetch b_part_lines(const GemmProblem *p, int j, int lanes, long k0, long p0, long p1) {
    if (p->b_row_stride == 1) /* each lane's k steps contiguous: forward's weight rows */
        return (GemmPrefetch){.base = (const char *)(p->b + (long)j * p->b_col_stride + k0 + p0), .rows = lanes,
                              .row_stride = p->b_col_stride * 4, .lines = (int)(((p1 - p0) * 4 + 63) / 64)};
    if (p->b_col_stride == 1) /* each k step's lanes contiguous: backward_input's weight */
        return (GemmPrefetch){.base = (const char *)(p->b + (k0 + p0) * p->b_row_stride + j), .rows = p1 - p0,
                              .row_stride = p->b_row_stride * 4, .lines = (lanes * 4 + 63) / 64};
    return (GemmPrefetch){0};
}

/* Whether k steps [p0, p1) of a full B micro-panel can be copied by a kernel (plan->copy_b), and
 * if so the copy's fields in `into`: B's lanes contiguous (backward_input's weight) is a plain
 * copy of each k step's lanes; each lane's k steps contiguous (forward's weight) a transposed one,
 * 16 steps at a time. */
static int b_part_copy(const GemmProblem *p, int j, int nr, long k0, long p0, long p1, float *panel,
                       GemmPrefetch *into) {
    if (p->b_col_stride == 1) {
        into->copy_from = p->b + (k0 + p0) * p->b_row_stride + j;
        into->copy_rows = p1 - p0, into->copy_vectors = nr / 16, into->copy_transposed = 0;
        into->copy_from_stride = p->b_row_stride;
    } else if (p->b_row_stride == 1 && (p1 - p0) % 16 == 0 && nr % 4 == 0) {
        into->copy_from = p->b + (long)j * p->b_col_stride + k0 + p0;
        into->copy_rows = nr, into->copy_vectors = (int)((p1 - p0) / 16), into->copy_transposed = 1;
        into->copy_from_stride = p->b_col_stride;
    } else {
        return 0;
    }
    into->copy_to = panel + p0 * nr;
    into->copy_to_stride = nr;
    return 1;
}

/* Packs k steps [p0, p1) of the B micro-panel at columns [j, n1) of k block k0 into panel. */
static void pack_b_part(GemmPackPanel pack, float *panel, const GemmProblem *p, int j, int n1, int nr, long k0,
                        long p0, long p1) {
    pack(panel + p0 * nr, p->b + (long)j * p->b_col_stride + (k0 + p0) * p->b_row_stride, p->b_col_stride,
         p->b_row_stride, min_int(nr, n1 - j), nr, p1 - p0);
}

/* What the tiles of one k block share. */
typedef struct BlockPass {
    long k0, k_len;
    int store;             /* GEMM_WRITE, GEMM_ADD or GEMM_STREAM */
    const float *bias;     /* only where the block stores */
    double *squares;       /* plan->tile_squares on the last k block, else NULL */
    const float *a_base;   /* the packed A rows [m0, m1) of this block */
    int m0, m1;
} BlockPass;

static BlockPass block_pass(const GemmPlan *plan, long k0, int streaming, int m0, int m1) {
    const GemmProblem *p = &plan->problem;
    int kc = plan->kernel->kc;
    BlockPass block = {.k0 = k0, .k_len = min_int(kc, p->k - (int)k0), .m0 = m0, .m1 = m1};
    /* the first k block stores (plus bias) unless the problem accumulates; later ones add. A
     * result written in one k block may stream past the caches (p->stream) where its rows and
     * tiles start on cache lines. */
    block.store = k0 > 0 || p->accumulate ? GEMM_ADD : streaming ? GEMM_STREAM : GEMM_WRITE;
    block.bias = block.store == GEMM_ADD ? NULL : p->bias;
    /* the last k block finishes C: the kernels sum its tiles' squares from their registers */
    block.squares = plan->tile_squares && k0 + kc >= p->k ? plan->tile_squares : NULL;
    return block;
}

/* The B micro-panel to pack while another one's tiles run: columns j of the k block at k0. */
typedef struct NextPanel {
    int j;       /* < 0: none */
    long k0, k_len;
    float *panel;
} NextPanel;

/* Runs the tiles of one k block's rows against the B micro-panel at columns j (columns < n1 are
 * C's). It also packs the `next` micro-panel (in this k block or the next one), a share of its
 * parts after each tile, the kernel prefetching each share's source while it computes. */
static void run_panel(const GemmPlan *plan, const BlockPass *block, const float *b_micro, long b_step, int j,
                      int n1, const NextPanel *next) {
    const GemmProblem *p = &plan->problem;
    const GemmKernel *kernel = plan->kernel;
    GemmPackPanel pack = kernel->pack ? kernel->pack : gemm_pack_panel;
    int mr = kernel->mr, nr = kernel->nr;
    long k_len = block->k_len;
    long parts = (next->k_len + PIPELINE_PART_STEPS - 1) / PIPELINE_PART_STEPS;
    int tiles = ceil_div(block->m1 - block->m0, mr);
    long tiles_down = plan->m_padded / mr; /* tile_squares is column major over the tiles */
    int cols = min_int(nr, n1 - j);
    const float *bias_j = block->bias ? block->bias + j : NULL;
    /* A part of a full panel is copied by the kernel of the tile after the one that prefetched it
     * (plan->copy_b); otherwise it is packed right after that tile. */
    int copy = plan->copy_b && next->j >= 0 && n1 - next->j >= nr;
    GemmPrefetch pending = {0}; /* the copy the tile before prefetched, for this tile's kernel */
    long pending_p0 = 0, pending_p1 = 0;
    /* each tile streams the B micro-panel (144 KB at KC 768) and its A micro-panel from L2 */
    for (int i = block->m0; i < block->m1; i += mr) {
        /* this tile's share of the next panel: parts [tile * parts / tiles, ...) */
        int tile = (i - block->m0) / mr;
        long part_p0 = 0, part_p1 = 0;
        GemmPrefetch side = pending;
        if (next->j >= 0) {
            part_p0 = min_int((int)(parts * tile / tiles * PIPELINE_PART_STEPS), (int)next->k_len);
            part_p1 = min_int((int)(parts * (tile + 1) / tiles * PIPELINE_PART_STEPS), (int)next->k_len);
            GemmPrefetch lines = b_part_lines(p, next->j, min_int(nr, n1 - next->j), next->k0, part_p0, part_p1);
            side.base = lines.base, side.rows = lines.rows, side.row_stride = lines.row_stride, side.lines = lines.lines;
        }
        const GemmPrefetch *prefetch = side.rows * side.lines > 0 || side.copy_rows > 0 ? &side : NULL;
        int rows = min_int(mr, block->m1 - i);
        const float *a_micro = block->a_base + (long)(i - block->m0) * k_len;
        float *c = p->c + (long)i * p->c_row_stride + j;
        double *tile_squares = block->squares ? block->squares + (j / nr) * tiles_down + i / mr : NULL;
        if (rows == mr && cols == nr)
            kernel->kernel(k_len, a_micro, b_micro, b_step, c, p->c_row_stride, block->store, bias_j, tile_squares,
                           prefetch);
        else
            edge_tile(kernel, k_len, a_micro, b_micro, b_step, c, p->c_row_stride, rows, cols, block->store, bias_j,
                      tile_squares, prefetch);
        pending = (GemmPrefetch){0};
        pending_p0 = part_p0, pending_p1 = part_p1;
        if (part_p1 > part_p0 && !(copy && b_part_copy(p, next->j, nr, next->k0, part_p0, part_p1, next->panel, &pending)))
            pack_b_part(pack, next->panel, p, next->j, n1, nr, next->k0, part_p0, part_p1);
    }
    if (pending.copy_rows > 0) /* the last tile's part */
        pack_b_part(pack, next->panel, p, next->j, n1, nr, next->k0, pending_p0, pending_p1);
}

/* Whether the tiles of columns from n0 may be streamed past the caches (see block_pass). */
static int may_stream(const GemmPlan *plan, int n0) {
    const GemmProblem *p = &plan->problem;
    const GemmKernel *kernel = plan->kernel;
    return p->stream && !p->accumulate && !p->bias && p->k <= kernel->kc && (p->c_row_stride * 4) % 64 == 0 &&
           ((uintptr_t)p->c + (uintptr_t)n0 * 4) % 64 == 0 && (kernel->nr * 4) % 64 == 0;
}

static void finish_streaming(int streaming) {
#if defined(__x86_64__) || defined(__i386__)
    if (streaming) _mm_sfence(); /* the streamed tiles visible before the pool reports the task done */
#else
    (void)streaming;
#endif
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims a B panel for task `task` (0 or 1) of a panel queue: the first panel left in its own
 * range, else the last one left in the other task's range, else the next k block's. Returns 0
 * when none are left. Each task thus walks its half of the weight upwards, as two fixed column
 * tasks do, and only a faster core takes panels from the other's end. Claims handed out in
 * turn instead (panel 0, 1, 2, ... to whichever task asked) ran the forwards 3-6% slower on
 * Zen 5, and the two tasks walking towards each other from both ends 1-3% slower: each core's
 * L2 prefetcher streams on past a panel, into the next one up (NOTES.md, round twelve). */
static int queue_claim(GemmQueue *queue, int task, int panels, int blocks, int *block, int *panel) {
    unsigned long long word = atomic_load_explicit(&queue->unclaimed, memory_order_relaxed);
    for (;;) {
        unsigned long long state = word;
        if ((state >> 36 & 0xFFF) >= (state >> 24 & 0xFFF) && (state >> 12 & 0xFFF) >= (state & 0xFFF)) {
            /* this k block's panels are all claimed */
            if ((long long)(state >> 48) + 1 >= blocks) return 0;
            state = queue_word((state >> 48) + 1, panels);
        }
        unsigned long long block_index = state >> 48, first[2], end[2];
        first[0] = state >> 36 & 0xFFF, end[0] = state >> 24 & 0xFFF, first[1] = state >> 12 & 0xFFF, end[1] = state & 0xFFF;
        int other = 1 - task;
        unsigned long long taken = first[task] < end[task] ? first[task]++ : --end[other];
        unsigned long long updated = block_index << 48 | first[0] << 36 | end[0] << 24 | first[1] << 12 | end[1];
        if (atomic_compare_exchange_weak_explicit(&queue->unclaimed, &word, updated, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *block = (int)block_index;
            *panel = (int)taken;
            return 1;
        }
    }
}

/* A panel queue's task (plan->panel_queue): claims (k block, panel) pairs (queue_claim), packing
 * A itself once per k block, and the next claim's panel (in this k block or the next) between
 * this one's tiles. Every tile gets the same kernel calls in the same k order whichever task
 * claims it, so results do not depend on the threads. A k block after the first adds to C: it
 * waits until the panel's previous block is done. That block was claimed earlier (all of a
 * block's claims come before the next block's) by a task that only ever waits on claims earlier
 * still, and works through its own claims in order, so the wait always ends; it only happens
 * near the end of a k block. */
static void run_queue_task(const GemmPlan *plan, int task, float *scratch) {
    const GemmProblem *p = &plan->problem;
    const GemmKernel *kernel = plan->kernel;
    GemmPackPanel pack = kernel->pack ? kernel->pack : gemm_pack_panel;
    GemmQueue *queue = plan->queue;
    int nr = kernel->nr, panels = plan->n_padded / nr, blocks = ceil_div(p->k, kernel->kc);
    int streaming = may_stream(plan, 0);
    float *a_block = scratch, *b_panels[2];
    b_panels[0] = scratch + (size_t)kernel->kc * plan->task_rows;
    b_panels[1] = b_panels[0] + (size_t)kernel->kc * nr;
    int a_packed = -1; /* the k block whose A is in a_block */
    int current = 0, current_packed = 0;
    int block_index, panel, next_block, next_panel;
    int claimed = queue_claim(queue, task, panels, blocks, &block_index, &panel);
    while (claimed) {
        int j = panel * nr;
        BlockPass block = block_pass(plan, (long)block_index * kernel->kc, streaming, 0, p->m);
        if (a_packed != block_index) {
            pack_a_block(pack, a_block, p, 0, p->m, (int)block.k0, block.k_len, kernel->mr);
            a_packed = block_index;
        }
        block.a_base = a_block;
        if (!current_packed) pack_b_part(pack, b_panels[current], p, j, p->n, nr, block.k0, 0, block.k_len);
        int next_claimed = queue_claim(queue, task, panels, blocks, &next_block, &next_panel);
        NextPanel next = {-1, 0, 0, b_panels[current ^ 1]};
        if (plan->pipeline_b && next_claimed) { /* in this k block or the next: B does not depend on A */
            next.j = next_panel * nr;
            next.k0 = (long)next_block * kernel->kc;
            next.k_len = min_int(kernel->kc, p->k - (int)next.k0);
        }
        if (block_index > 0)
            while (atomic_load_explicit(&queue->blocks_done[panel], memory_order_acquire) < block_index) cpu_relax();
        run_panel(plan, &block, b_panels[current], nr, j, p->n, &next);
        atomic_store_explicit(&queue->blocks_done[panel], block_index + 1, memory_order_release);
        current_packed = next.j >= 0;
        if (current_packed) current ^= 1;
        claimed = next_claimed, block_index = next_block, panel = next_panel;
    }
    finish_streaming(streaming);
}

void gemm_run_task(const GemmPlan *plan, int task, float *scratch) {
    const GemmProblem *p = &plan->problem;
    const GemmKernel *kernel = plan->kernel;
    GemmPackPanel pack = kernel->pack ? kernel->pack : gemm_pack_panel;
    int mr = kernel->mr, nr = kernel->nr;
    if (plan->panel_queue) { run_queue_task(plan, task, scratch); return; }
    int m0 = task / plan->tasks_n * plan->task_rows, m1 = min_int(p->m, m0 + plan->task_rows);
    int n0 = task % plan->tasks_n * plan->task_cols, n1 = min_int(p->n, n0 + plan->task_cols);
    if (p->k == 0) { empty_product(plan, m0, m1, n0, n1); return; }
    float *a_block = scratch, *b_panels[2];
    b_panels[0] = scratch + (size_t)kernel->kc * plan->task_rows;
    b_panels[1] = b_panels[0] + (size_t)kernel->kc * nr;
    /* B packed panel by panel, pipelined: while the kernel computes the tiles of one panel it
     * prefetches the next panel's source a part at a time, and each part is packed right after
     * its tile. Packing a whole panel between panels waited on its 144 KB of weight coming in
     * from memory (5-13% of a forward on one Zen 5 core, NOTES.md round ten); prefetched in one
     * burst per part, the parts measured 14% slower than that (the burst fills the miss buffers
     * the kernel needs); spread over the kernel's k loop, one thread's forwards and input
     * gradients gained 1-5%, and 5-7% more with 64-step parts (round eleven). Copied inside the
     * next tile's kernel instead of between tiles (plan->copy_b): +1-3% on two Zen 5 threads,
     * neutral on the Xeon (round fourteen). */
    int pipelined = !plan->direct_b && !plan->whole_b && plan->pipeline_b;
    int streaming = may_stream(plan, n0);
    int current = 0;      /* b_panels[current]: this panel when pipelined */
    int first_packed = 0; /* the k block's first panel already packed during the previous block */

    for (int k0 = 0; k0 < p->k; k0 += kernel->kc) {
        BlockPass block = block_pass(plan, k0, streaming, m0, m1);
        if (plan->whole_a) {
            block.a_base = plan->whole + (long)k0 * plan->m_padded + (long)m0 * block.k_len;
        } else {
            pack_a_block(pack, a_block, p, m0, m1, k0, block.k_len, mr);
            block.a_base = a_block;
        }
        if (pipelined && !first_packed) pack_b_part(pack, b_panels[current], p, n0, n1, nr, k0, 0, block.k_len);
        for (int j = n0; j < n1; j += nr) {
            const float *b_micro;
            long b_step = nr;
            if (plan->direct_b && n1 - j >= nr) {
                b_micro = p->b + (long)k0 * p->b_row_stride + j;
                b_step = p->b_row_stride;
            } else if (plan->whole_b) {
                b_micro = plan->whole + (long)k0 * plan->n_padded + (long)j * block.k_len;
            } else if (pipelined) {
                b_micro = b_panels[current];
            } else {
                pack_b_part(pack, b_panels[0], p, j, n1, nr, k0, 0, block.k_len);
                b_micro = b_panels[0];
            }
            /* the next panel: this block's next one, or after its last the next block's first */
            NextPanel next = {-1, k0, block.k_len, b_panels[current ^ 1]};
            if (pipelined && j + nr < n1) {
                next.j = j + nr;
            } else if (pipelined && k0 + kernel->kc < p->k) {
                next.j = n0;
                next.k0 = k0 + kernel->kc;
                next.k_len = min_int(kernel->kc, p->k - (int)next.k0);
            }
            run_panel(plan, &block, b_micro, b_step, j, n1, &next);
            first_packed = next.j >= 0;
            if (pipelined) current ^= 1;
        }
    }
    finish_streaming(streaming);
}

size_t gemm_tile_squares_count(const GemmPlan *plan) {
    if (!plan->problem.squares) return 0;
    return (size_t)(plan->m_padded / plan->kernel->mr) * (size_t)(plan->n_padded / plan->kernel->nr);
}

void gemm_finish_squares(const GemmPlan *plan) {
    size_t tiles = gemm_tile_squares_count(plan);
    double total = 0.0;
    for (size_t t = 0; t < tiles; t++) total += plan->tile_squares[t];
    *plan->problem.squares = total;
}

float *gemm_buffer_reserve(GemmBuffer *buffer, size_t floats) {
    if (floats == 0) floats = 16; /* never hand out NULL */
    if (floats > buffer->floats) {
        free(buffer->data);
        /* grow with headroom so that a sequence of slightly larger shapes does not reallocate */
        size_t grown = floats + floats / 4;
        buffer->data = xaligned(grown * sizeof(float), "matmul packing buffer");
        buffer->floats = grown;
    }
    return buffer->data;
}

void gemm_serial(const GemmKernel *kernel, const GemmProblem *problem, GemmBuffer *whole,
                 GemmBuffer *scratch, GemmBuffer *squares) {
    if (problem->squares) *problem->squares = 0.0;
    if (problem->m <= 0 || problem->n <= 0) return;
    GemmPlan plan;
    gemm_plan(&plan, kernel, problem, 1);
    plan.whole = gemm_buffer_reserve(whole, gemm_whole_floats(&plan));
    if (problem->squares)
        plan.tile_squares = (double *)gemm_buffer_reserve(squares, 2 * gemm_tile_squares_count(&plan));
    float *scratch_floats = gemm_buffer_reserve(scratch, gemm_scratch_floats(&plan));
    if (plan.whole_a || plan.whole_b)
        for (int part = 0; part < plan.pack_parts; part++) gemm_pack_whole(&plan, part);
    for (int task = 0; task < plan.tasks; task++) gemm_run_task(&plan, task, scratch_floats);
    if (problem->squares) gemm_finish_squares(&plan);
}

/* The portable micro-kernel: plain C the compiler vectorises with whatever the baseline offers
 * (SSE2 on x86-64). 4 x 8 keeps its accumulators within the 16 XMM registers. */
enum { PORTABLE_MR = 4, PORTABLE_NR = 8 };

static void portable_kernel(long k_len, const float *a_panel, const float *b_panel, long b_step, float *c,
                            long c_row_stride, int store, const float *bias, double *squares,
                            const GemmPrefetch *prefetch) {
    float sum[PORTABLE_MR][PORTABLE_NR] = {{0}};
    for (long p = 0; p < k_len; p++) {
        const float *a = a_panel + p * PORTABLE_MR, *b = b_panel + p * b_step;
        for (int i = 0; i < PORTABLE_MR; i++)
            for (int j = 0; j < PORTABLE_NR; j++) sum[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < PORTABLE_MR; i++)
        for (int j = 0; j < PORTABLE_NR; j++) {
            float *out = c + i * c_row_stride + j;
            *out = store == GEMM_ADD ? *out + sum[i][j] : bias ? bias[j] + sum[i][j] : sum[i][j];
            sum[i][j] = *out;
        }
    if (squares) {
        float total = 0.0f;
        for (int i = 0; i < PORTABLE_MR; i++)
            for (int j = 0; j < PORTABLE_NR; j++) total += sum[i][j] * sum[i][j];
        *squares = total;
    }
}

const GemmKernel gemm_kernel_portable = {
    .name = "portable", .mr = PORTABLE_MR, .nr = PORTABLE_NR, .kc = 256, .mc = 128,
    .kernel = portable_kernel, .pack = NULL,
};
