/* Temperature/top-k sampling and the cached generation loop. */
#include "train/sampler.h"

#include <math.h>
#include <stdlib.h>

static int compare_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int sample_token(const float *logits, int V, const SamplingOptions *o, Rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (o->temperature <= 0.0f) return best;
    /* top-k: keep logits at or above the k-th largest */
    float threshold = -INFINITY;
    if (o->top_k > 0 && o->top_k < V) {
        float *sorted = malloc((size_t)V * sizeof(float));
        if (sorted) {
            for (int v = 0; v < V; v++) sorted[v] = logits[v];
            qsort(sorted, (size_t)V, sizeof(float), compare_desc);
            threshold = sorted[o->top_k - 1];
            free(sorted);
        }
    }
    double total = 0;
    for (int v = 0; v < V; v++)
        if (logits[v] >= threshold) total += exp((double)(logits[v] - logits[best]) / o->temperature);
    double r = (double)rng_uniform(rng) * total, cumulative = 0;
    for (int v = 0; v < V; v++) {
        if (logits[v] < threshold) continue;
        cumulative += exp((double)(logits[v] - logits[best]) / o->temperature);
        if (r < cumulative) return v;
    }
    return best;
}

int generate_tokens(GPT2 *model, const int32_t *prompt, int prompt_len, int max_new, const SamplingOptions *o,
                    Rng *rng, TokenCallback callback, void *context, Error *err) {
    const GPT2Config *c = &model->config;
    if (prompt_len <= 0) return error_set(err, EXIT_BAD_INPUT, "empty prompt");
    if (prompt_len >= c->max_seq_len)
        return error_set(err, EXIT_BAD_INPUT, "prompt of %d tokens leaves no room in the model's context of %d",
                         prompt_len, c->max_seq_len);
    const float *logits = NULL;
    for (int pos = 0; pos < prompt_len; pos++)
        if (!(logits = gpt2_decode_step(model, prompt[pos], pos, err))) return -1;
    int generated = 0;
    for (int pos = prompt_len; generated < max_new && pos < c->max_seq_len; pos++) {
        int token = sample_token(logits, c->vocab_size, o, rng);
        generated++;
        if (callback && callback(context, token)) break;
        if (generated == max_new) break;
        if (!(logits = gpt2_decode_step(model, token, pos, err))) return -1;
    }
    return generated;
}
