/* The GEMM frame shared by the SIMD rungs, split as in BLIS: this frame does the packing into
 * register-tile panels and the cache blocking; a rung supplies only a micro-kernel (one MR x NR tile
 * of C over kc steps) and its block sizes. One general operation covers the three matmul passes:
 *   C[m, n] (+)= sum over p of A[m, p] * B[p, n]   (+ bias[n]), A and B with arbitrary strides. */
#ifndef CGPT_GEMM_FRAME_H
#define CGPT_GEMM_FRAME_H

#include <stdatomic.h>
#include <stddef.h>

/* Largest register tile (MR * NR floats) a kernel may use: edge tiles go through a stack buffer. */
#define GEMM_MAX_TILE 2048

/* How a micro-kernel stores its tile: added to C, or written over it (plus bias). GEMM_STREAM
 * writes (never with a bias) with streaming stores that skip the caches, for a result nothing will
 * read soon; the frame asks for it only where the tile's rows start on 64-byte boundaries, and a
 * kernel may treat it as GEMM_WRITE. */
enum { GEMM_WRITE = 0, GEMM_ADD = 1, GEMM_STREAM = 2 };

/* Side work for a micro-kernel, spread evenly over its k loop. Lines to prefetch: `rows` runs of
 * `lines` consecutive 64-byte lines, row_stride bytes apart; the frame names the source of the next
 * B panel's next part. A copy: the part the tile before prefetched, which the frame would otherwise
 * pack after the kernel returns (run_panel in gemm_frame.c). */
typedef struct GemmPrefetch {
    const char *base;
    long rows, row_stride;
    int lines;
    /* Optionally, vectors of 16 floats to copy as well, spread over the k loop like the lines:
     * `copy_rows` rows of `copy_vectors` vectors, from copy_from (rows copy_from_stride floats
     * apart) to copy_to (rows copy_to_stride apart). copy_rows 0: none. With copy_transposed, a
     * source row is a destination column instead: element (row r, float f) of the source goes to
     * copy_to[f * copy_to_stride + r] (copy_rows a multiple of 4). A kernel that sets
     * GemmKernel.copies must finish the copy before it returns. */
    const float *copy_from;
    float *copy_to;
    long copy_rows, copy_from_stride, copy_to_stride;
    int copy_vectors, copy_transposed;
} GemmPrefetch;

/* Computes one MR x NR tile: sum over p < k_len of a_panel[p*MR + i] * b_panel[p*b_step + j].
 * b_step is NR for a packed B panel, or B's row stride when B is read in place (its rows already
 * hold NR contiguous floats: no copy needed). store (GEMM_ADD, ...): c[i, j] += sum, or c[i, j] =
 * sum (+ bias[j] when bias is not NULL). c is row-major with c_row_stride floats between rows.
 * If squares is not NULL, *squares = the sum of the squares of the MR x NR values stored, taken
 * from the registers (summed in float, in an order fixed by the kernel): the gradient norm's share
 * of this tile, without reading C back. prefetch: NULL, or lines to ask for while computing (kernels
 * whose GemmKernel sets `prefetches`; others ignore it). */
typedef void (*GemmMicroKernel)(long k_len, const float *a_panel, const float *b_panel, long b_step,
                                float *c, long c_row_stride, int store, const float *bias, double *squares,
                                const GemmPrefetch *prefetch);

/* Copies a panel of `width` (MR or NR) lanes over k_len steps into dst[p*width + lane], reading
 * src[lane*lane_stride + p*k_stride]; lanes >= lanes_used are zero. A rung may supply a faster one
 * (the transposing case, k_stride == 1, is the expensive one); NULL means gemm_pack_panel. */
typedef void (*GemmPackPanel)(float *dst, const float *src, long lane_stride, long k_stride,
                              int lanes_used, int width, long k_len);


typedef struct GemmKernel {
    const char *name;
    int mr, nr;   /* register tile of C */
    int kc;       /* k steps per packed block: an A block (mc x kc) stays in L2 with a B panel */
    int mc;       /* rows of C per task: the A block one task keeps in L2 */
    GemmMicroKernel kernel;
    GemmPackPanel pack; /* NULL: gemm_pack_panel */
    int prefetches;     /* the kernel honours GemmPrefetch: B panels packed per panel are then packed
                         * a part at a time between the previous panel's tiles */
    int copies;         /* the kernel honours GemmPrefetch's copy: a B part is then copied inside the
                         * next tile's kernel, after the tile before prefetched it */
} GemmKernel;

/* C[m, n] (+)= A[m, k] . B[k, n] (+ bias[n]).
 * A[i, p] = a[i*a_row_stride + p*a_col_stride]; B[p, j] = b[p*b_row_stride + j*b_col_stride]. */
typedef struct GemmProblem {
    int m, n, k;
    const float *a;
    long a_row_stride, a_col_stride;
    const float *b;
    long b_row_stride, b_col_stride;
    float *c;
    long c_row_stride;
    int accumulate;     /* 1: C += product; 0: C = product (+ bias) */
    int stream;         /* with accumulate 0 and no bias: C is not read soon (a weight gradient before
                         * AdamW), so its tiles may bypass the caches (GEMM_STREAM) */
    const float *bias;  /* [n] or NULL; only used when not accumulating */
    double *squares;    /* NULL, or where the sum of squares of the finished C goes: each tile's from
                         * the kernel, then the tiles in a fixed order (never the threads') */
} GemmProblem;

/* The three passes of the matmul contract (matmul.h) as GEMM problems. */
GemmProblem gemm_forward_problem(float *out, const float *inp, const float *weight, const float *bias,
                                 int M, int N, int K);
GemmProblem gemm_backward_input_problem(float *dinp, const float *dout, const float *weight, int M,
                                        int N, int K);
GemmProblem gemm_backward_weight_problem(float *dweight, const float *dout, const float *inp, int M,
                                         int N, int K, int accumulate, double *squares);

/* Most B panels and k blocks a panel queue serves (the largest its claim word holds; gemm_plan
 * shares a whole-packed A out to column tasks beyond). */
#define GEMM_QUEUE_MAX_PANELS 4095
#define GEMM_QUEUE_MAX_BLOCKS 65536

/* The shared state of a panel queue (GemmPlan.panel_queue): in one word, the k block being handed
 * out and each task's range of its panels not yet claimed (gemm_frame.c, queue_word); and for
 * each panel the k blocks finished. */
typedef struct GemmQueue {
    _Atomic unsigned long long unclaimed;
    atomic_int blocks_done[GEMM_QUEUE_MAX_PANELS];
} GemmQueue;

/* How one problem is cut into tasks. Each task owns a rectangle of C and runs the whole k loop
 * for it in a fixed order, so results never depend on which thread ran which task. When A (or B)
 * is small, it is packed once, up front, and shared by all tasks ("whole" packing), instead of
 * being packed again by every task. */
typedef struct GemmPlan {
    const GemmKernel *kernel;
    GemmProblem problem;
    int m_padded, n_padded;      /* m and n rounded up to MR and NR */
    int whole_a, whole_b;        /* which operand is packed once for all tasks (at most one) */
    int direct_b;                /* B's rows are contiguous along n: kernels read B in place */
    int pipeline_b;              /* B packed per panel: the next panel packed between this one's tiles
                                  * (kernels that prefetch; tools/gemm_lab's `nopipe` clears it) */
    int copy_b;                  /* with pipeline_b: each part of a full B panel copied by the kernel of
                                  * the tile after the one that prefetched it (tools/gemm_lab's
                                  * `nocopy` clears it) */
    int task_rows, task_cols;    /* C rectangle per task (multiples of MR and NR) */
    int tasks_m, tasks_n, tasks; /* task grid, row-major: task = tm * tasks_n + tn */
    int pack_parts;              /* the whole packing is split into this many parallel parts */
    int panel_queue;             /* two tasks, one a thread: each packs A itself and claims B panels
                                  * one at a time from `queue`, its own half first, then what is left
                                  * of the other's, so a slower core does fewer */
    GemmQueue *queue;            /* with panel_queue, set by the caller (gemm_queue_start) */
    float *whole;                /* the whole-packed operand, set by the caller (gemm_whole_floats) */
    double *tile_squares;        /* with problem.squares: one sum per MR x NR tile, set by the caller
                                  * (gemm_tile_squares_count), added up by gemm_finish_squares */
} GemmPlan;

/* Chooses the blocking for n_threads threads (1 for a single-threaded rung). */
void gemm_plan(GemmPlan *plan, const GemmKernel *kernel, const GemmProblem *problem, int n_threads);
/* Attaches and resets queue (the caller's, alive until the tasks finish) when the plan uses one. */
void gemm_queue_start(GemmPlan *plan, GemmQueue *queue);
/* Floats needed for plan->whole (0 if nothing is packed whole). */
size_t gemm_whole_floats(const GemmPlan *plan);
/* Floats of per-thread scratch gemm_run_task needs. */
size_t gemm_scratch_floats(const GemmPlan *plan);
/* Packs part `part` of pack_parts of the whole operand into plan->whole (parts are independent). */
void gemm_pack_whole(const GemmPlan *plan, int part);
/* Computes task `task` of plan->tasks, using scratch of gemm_scratch_floats (64-byte aligned). */
void gemm_run_task(const GemmPlan *plan, int task, float *scratch);
/* Doubles needed for plan->tile_squares (0 without problem.squares). */
size_t gemm_tile_squares_count(const GemmPlan *plan);
/* After every task: *problem.squares = the tiles' sums added in tile order. */
void gemm_finish_squares(const GemmPlan *plan);

/* A growable 64-byte aligned buffer: kernels keep these across calls so the hot path never mallocs. */
typedef struct GemmBuffer {
    float *data;
    size_t floats;
} GemmBuffer;
float *gemm_buffer_reserve(GemmBuffer *buffer, size_t floats);

/* Runs a whole problem on the calling thread only, with the buffers given (kept by the caller). */
void gemm_serial(const GemmKernel *kernel, const GemmProblem *problem, GemmBuffer *whole,
                 GemmBuffer *scratch, GemmBuffer *squares);

/* The portable packing routine (plain C; gcc/clang vectorise its copying case). */
void gemm_pack_panel(float *dst, const float *src, long lane_stride, long k_stride, int lanes_used,
                     int width, long k_len);

/* Micro-kernels of the rungs, for the threaded rung to reuse. Each is only usable when its rung's
 * available() says so; gemm_kernel_portable always is. */
extern const GemmKernel gemm_kernel_avx512, gemm_kernel_avx2, gemm_kernel_portable;

#endif
