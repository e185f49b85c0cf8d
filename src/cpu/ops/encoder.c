/* Token + position embedding (GPT-2's input layer) and its backward pass.
 * The backward pass is split over channel blocks, not positions: two positions with the same token
 * add into the same dwte row, and with channel blocks each element is summed by one task in
 * position order, so there are no races and the result does not depend on the thread count. */
#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"

typedef struct {
    float *out;
    const int32_t *tokens;
    const float *wte, *wpe;
    int B, T, C;
    int n_tasks;
} EncoderForward;

CGPT_HOT static void encoder_forward_task(void *context, int task) {
    const EncoderForward *job = context;
    long N = (long)job->B * job->T;
    long first = range_start(N, job->n_tasks, task), last = range_start(N, job->n_tasks, task + 1);
    int C = job->C;
    for (long row = first; row < last; row++) {
        int t = (int)(row % job->T);
        const float *token_row = job->wte + (long)job->tokens[row] * C;
        const float *position_row = job->wpe + (long)t * C;
        float *out_row = job->out + row * C;
        for (int c = 0; c < C; c++) out_row[c] = token_row[c] + position_row[c];
    }
}

void encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                     int B, int T, int C) {
    EncoderForward job = {out, tokens, wte, wpe, B, T, C, 0};
    /* range_start rounds inner boundaries to 16 rows: at least 16 rows a task. */
    job.n_tasks = task_count((long)B * T * C, 8192, 2);
    pool_run(job.n_tasks, encoder_forward_task, &job);
}

typedef struct {
    float *dwte, *dwpe;
    const float *dout;
    const int32_t *tokens;
    int B, T, C;
    int channels_per_task;
} EncoderBackward;

CGPT_HOT static void encoder_backward_task(void *context, int task) {
    const EncoderBackward *job = context;
    int C = job->C;
    int c0 = task * job->channels_per_task;
    int c1 = c0 + job->channels_per_task < C ? c0 + job->channels_per_task : C;
    /* Positions in order b = 0.., t = 0..: the fixed order in which every element is summed. */
    for (int b = 0; b < job->B; b++) {
        for (int t = 0; t < job->T; t++) {
            long row = (long)b * job->T + t;
            const float *dout_row = job->dout + row * C;
            float *dwte_row = job->dwte + (long)job->tokens[row] * C;
            float *dwpe_row = job->dwpe + (long)t * C;
            for (int c = c0; c < c1; c++) {
                dwte_row[c] += dout_row[c];
                dwpe_row[c] += dout_row[c];
            }
        }
    }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                      int B, int T, int C) {
    EncoderBackward job = {dwte, dwpe, dout, tokens, B, T, C, C};
    /* Blocks of at least 64 channels (256 bytes of each row), a few per thread. */
    long total = (long)B * T * C;
    int n_tasks = task_count(total, 32768, 4);
    int max_tasks = (C + 63) / 64;
    if (n_tasks > max_tasks) n_tasks = max_tasks;
    job.channels_per_task = ((C + n_tasks - 1) / n_tasks + 15) / 16 * 16;
    n_tasks = (C + job.channels_per_task - 1) / job.channels_per_task;
    pool_run(n_tasks, encoder_backward_task, &job);
}
