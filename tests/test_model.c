/* GPT-2 against PyTorch: the fixture from tools/make_fixture.py (transformers' GPT2LMHeadModel in
 * float64) gives logits, loss and every parameter gradient of one step, and the losses and
 * parameters of three AdamW steps; the C model must match with every available fp32 rung. */
#include <stdint.h>

#include "cpu/matmul/matmul.h"
#include "cpu/ops/ops.h"
#include "io/files.h"
#include "model/gpt2.h"
#include "test.h"
#include "util/rng.h"
#include "util/threadpool.h"

#define FIXTURE_DIR "tests/fixtures/"

typedef struct {
    int B, T, steps, V;
    size_t num_params;
    float lr, beta1, beta2, eps, weight_decay;
    const float *logits, *grads, *losses, *params_after;
    float loss;
    void *data;
} Expected;

static int load_expected(Expected *e) {
    size_t size;
    Error err = {0};
    if (read_whole_file(FIXTURE_DIR "parity_expected.bin", &e->data, &size, &err)) {
        fprintf(stderr, "  %s\n", err.message);
        return -1;
    }
    const int32_t *h = e->data;
    if (size < 1024 + 20 || h[0] != 20261124 || h[1] != 1) return -1;
    e->B = h[2]; e->T = h[3]; e->steps = h[4]; e->V = h[5]; e->num_params = (size_t)h[6];
    const float *f = (const float *)((const char *)e->data + 1024);
    e->lr = f[0]; e->beta1 = f[1]; e->beta2 = f[2]; e->eps = f[3]; e->weight_decay = f[4];
    f += 5;
    size_t BT = (size_t)e->B * e->T;
    e->logits = f; f += BT * e->V;
    e->loss = *f++;
    e->grads = f; f += e->num_params;
    e->losses = f; f += e->steps;
    e->params_after = f; f += e->num_params;
    return (size_t)((const char *)f - (const char *)e->data) == size ? 0 : -1;
}

/* The norm a last micro-step summed during its backward pass, against a pass over all gradients. */
static void check_fused_norm(const GPT2 *model, const char *what) {
    CHECK(model->grad_squares_ready, "%s: no fused gradient norm", what);
    double full = sqrt(sum_of_squares(model->grads, (long)model->num_params));
    double fused = gpt2_grad_norm(model);
    CHECK(fabs(fused - full) <= 1e-6 * full, "%s: fused gradient norm %.9g vs %.9g", what, fused, full);
}

static void check_rung(const MatmulRung *rung, const Expected *e, const GPT2Config *config, const float *params,
                       const uint16_t *tokens) {
    Error err = {0};
    GPT2 model;
    CHECK(gpt2_init_from_params(&model, config, params, &err) == 0, "%s", err.message);
    CHECK(gpt2_enable_training(&model, &err) == 0, "%s", err.message);
    model.matmul = rung;
    const int B = e->B, T = e->T, BT = B * T;
    int32_t *inputs = malloc(BT * sizeof(int32_t)), *targets = malloc(BT * sizeof(int32_t));
    for (int step = 0; step < e->steps; step++) {
        for (int i = 0; i < BT; i++) {
            inputs[i] = tokens[step * BT + i];
            targets[i] = tokens[step * BT + i + 1];
        }
        if (step == 0) {
            /* logits from a forward pass without targets (the training pass overwrites them) */
            CHECK(gpt2_forward(&model, inputs, NULL, B, T, &err) == 0, "%s", err.message);
            float *logits = malloc((size_t)BT * e->V * sizeof(float));
            for (int n = 0; n < BT; n++)
                memcpy(logits + (size_t)n * e->V, model.acts.logits + (size_t)n * config->padded_vocab_size,
                       e->V * sizeof(float));
            double logit_error = relative_error(logits, e->logits, (long)BT * e->V);
            CHECK(logit_error < 1e-5, "%s: logits relative error %.3g", rung->name, logit_error);
            free(logits);
        }
        CHECK(gpt2_forward_backward(&model, inputs, targets, B, T, 1.0f, 1, &err) == 0, "%s", err.message);
        double loss_error = fabs(model.mean_loss - e->losses[step]) / fabs(e->losses[step]);
        CHECK(loss_error < (step == 0 ? 1e-5 : 1e-4), "%s: step %d loss %.7f vs PyTorch %.7f", rung->name, step,
              model.mean_loss, e->losses[step]);
        if (step == 0) {
            CHECK(fabs(model.mean_loss - e->loss) / e->loss < 1e-5, "%s: loss", rung->name);
            size_t offset = 0;
            for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
                double grad_error = relative_error(model.grads + offset, e->grads + offset, (long)model.param_sizes[t]);
                CHECK(grad_error < 1e-4, "%s: gradient of %s: relative error %.3g", rung->name, gpt2_param_name(t),
                      grad_error);
                offset += model.param_sizes[t];
            }
        }
        check_fused_norm(&model, rung->name);
        float norm = gpt2_grad_norm(&model);
        gpt2_update(&model, e->lr, e->beta1, e->beta2, e->eps, e->weight_decay, 0.0f, norm, step + 1);
    }
    size_t offset = 0;
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        double param_error =
            relative_error(model.params + offset, e->params_after + offset, (long)model.param_sizes[t]);
        CHECK(param_error < 1e-4, "%s: %s after %d AdamW steps: relative error %.3g", rung->name, gpt2_param_name(t),
              e->steps, param_error);
        offset += model.param_sizes[t];
    }
    free(inputs);
    free(targets);
    gpt2_free(&model);
}

TEST(test_parity_with_pytorch) {
    Expected e;
    CHECK(load_expected(&e) == 0, "fixture %sparity_expected.bin unreadable or malformed", FIXTURE_DIR);
    if (test_checks_failed) return;
    Error err = {0};
    GPT2Config config;
    float *params;
    CHECK(checkpoint_load(FIXTURE_DIR "parity_model.bin", &config, &params, &err) == 0, "%s", err.message);
    uint16_t *tokens;
    size_t count;
    CHECK(shard_load(FIXTURE_DIR "parity_train.bin", config.vocab_size, &tokens, &count, &err) == 0, "%s", err.message);
    if (test_checks_failed) return;
    CHECK(gpt2_num_params(&config) == e.num_params, "parameter count");
    CHECK(count >= (size_t)e.steps * e.B * e.T + 1, "token count");
    int n;
    const MatmulRung *const *rungs = matmul_rungs(&n);
    int tested = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(rungs[i]->precision, "fp32") != 0 || !rungs[i]->available()) continue;
        check_rung(rungs[i], &e, &config, params, tokens);
        tested++;
    }
    CHECK(tested >= 1, "no fp32 rung available");
    free(params);
    free(tokens);
    free(e.data);
}

/* Gradient accumulation: two half-weighted passes over the same batch give the same gradient
 * as one full pass (to rounding), and the norm fused into the last pass is right either way. */
TEST(test_accumulation_matches_single_pass) {
    Error err = {0};
    GPT2Config config = {.max_seq_len = 16, .vocab_size = 50, .padded_vocab_size = 64, .num_layers = 2,
                         .num_heads = 2, .channels = 16};
    GPT2 a, b;
    CHECK(gpt2_init_random(&a, &config, 7, &err) == 0, "%s", err.message);
    CHECK(gpt2_init_random(&b, &config, 7, &err) == 0, "%s", err.message);
    gpt2_enable_training(&a, &err);
    gpt2_enable_training(&b, &err);
    int32_t inputs[2 * 9], targets[2 * 9];
    /* repeated tokens: the fused norm re-sums each embedding row the encoder touched once */
    for (int i = 0; i < 18; i++) { inputs[i] = (i * 7) % 13; targets[i] = (i * 11 + 3) % 50; }
    gpt2_forward_backward(&a, inputs, targets, 2, 9, 1.0f, 1, &err);
    check_fused_norm(&a, "single pass");
    gpt2_forward_backward(&b, inputs, targets, 2, 9, 0.5f, 0, &err);
    CHECK(!b.grad_squares_ready, "a pass that is not the last one summed the norm");
    double half_norm = sqrt(sum_of_squares(b.grads, (long)b.num_params));
    CHECK(gpt2_grad_norm(&b) == (float)half_norm, "the norm's fallback pass differs");
    gpt2_forward_backward(&b, inputs, targets, 2, 9, 0.5f, 1, &err);
    check_fused_norm(&b, "accumulated");
    double e = relative_error(b.grads, a.grads, (long)a.num_params);
    CHECK(e < 1e-6, "accumulated gradient differs: %.3g", e);
    /* a bad token id is an error, not a crash */
    inputs[3] = 50;
    Error bad = {0};
    CHECK(gpt2_forward(&a, inputs, targets, 2, 9, &bad) == -1 && bad.status == 2, "token >= vocab accepted");
    Error too_long = {0};
    CHECK(gpt2_forward(&a, inputs, NULL, 1, 17, &too_long) == -1 && too_long.status == 2, "T > max accepted");
    gpt2_free(&a);
    gpt2_free(&b);
}

/* After an update the next backward pass starts the gradients afresh without reading the old ones
 * (poisoned with NaN here): the same bits as a fresh model with the updated parameters, shorter
 * sequences included (wpe rows the pass does not reach must be zero, not stale). */
TEST(test_gradients_restart_after_update) {
    Error err = {0};
    GPT2Config config = {.max_seq_len = 16, .vocab_size = 50, .padded_vocab_size = 64, .num_layers = 2,
                         .num_heads = 2, .channels = 16};
    GPT2 trained, fresh;
    CHECK(gpt2_init_random(&trained, &config, 11, &err) == 0, "%s", err.message);
    CHECK(gpt2_enable_training(&trained, &err) == 0, "%s", err.message);
    int32_t inputs[2 * 12], targets[2 * 12];
    for (int i = 0; i < 24; i++) { inputs[i] = (i * 5 + 1) % 50; targets[i] = (i * 13 + 2) % 50; }
    for (int micro = 0; micro < 2; micro++)
        CHECK(gpt2_forward_backward(&trained, inputs, targets, 2, 12, 0.5f, micro == 1, &err) == 0, "%s", err.message);
    gpt2_update(&trained, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, gpt2_grad_norm(&trained), 1);
    poison(trained.grads, (long)trained.num_params);
    CHECK(gpt2_init_from_params(&fresh, &config, trained.params, &err) == 0, "%s", err.message);
    CHECK(gpt2_enable_training(&fresh, &err) == 0, "%s", err.message);
    for (int micro = 0; micro < 2; micro++) {
        CHECK(gpt2_forward_backward(&trained, inputs, targets, 3, 5, 0.5f, micro == 1, &err) == 0, "%s", err.message);
        CHECK(gpt2_forward_backward(&fresh, inputs, targets, 3, 5, 0.5f, micro == 1, &err) == 0, "%s", err.message);
    }
    CHECK(memcmp(trained.grads, fresh.grads, trained.num_params * sizeof(float)) == 0,
          "gradients after an update differ from a fresh model's");
    check_fused_norm(&trained, "after an update");
    CHECK(gpt2_grad_norm(&trained) == gpt2_grad_norm(&fresh), "fused norms differ");
    gpt2_free(&trained);
    gpt2_free(&fresh);
}

/* The key/value-cached decoder gives the same logits as full forward passes. */
TEST(test_cached_decoding_matches_forward) {
    Error err = {0};
    GPT2Config config = {.max_seq_len = 12, .vocab_size = 40, .padded_vocab_size = 48, .num_layers = 2,
                         .num_heads = 3, .channels = 24};
    GPT2 model;
    CHECK(gpt2_init_random(&model, &config, 3, &err) == 0, "%s", err.message);
    int32_t tokens[10] = {1, 5, 9, 39, 0, 7, 7, 2, 30, 11};
    CHECK(gpt2_forward(&model, tokens, NULL, 1, 10, &err) == 0, "%s", err.message);
    float *full = malloc(sizeof(float) * 10 * 48);
    memcpy(full, model.acts.logits, sizeof(float) * 10 * 48);
    for (int pos = 0; pos < 10; pos++) {
        const float *logits = gpt2_decode_step(&model, tokens[pos], pos, &err);
        CHECK(logits != NULL, "%s", err.message);
        if (!logits) break;
        double e = relative_error(logits, full + pos * 48, 40);
        CHECK(e < 1e-5, "position %d: cached logits differ by %.3g", pos, e);
    }
    free(full);
    gpt2_free(&model);
}

/* The random initialisation's normal fill runs its transform on the pool: the values and the
 * generator's state afterwards must equal drawing them one at a time, for any thread count, across
 * chunk boundaries (2^17 values) and for fills too small to split. */
TEST(test_parallel_normal_fill_matches_the_serial_stream) {
    static const long sizes[] = {1, 4095, 4097, 131072, 300001};
    for (int threads = 1; threads <= 3; threads++) {
        pool_init(threads);
        for (int s = 0; s < 5; s++) {
            long n = sizes[s];
            float *filled = malloc(n * sizeof(float)), *serial = malloc(n * sizeof(float));
            Rng parallel_rng, serial_rng;
            rng_seed(&parallel_rng, 1337 + s);
            rng_seed(&serial_rng, 1337 + s);
            for (long i = 0; i < n; i++) filled[i] = -7.0f; /* poison */
            rng_fill_normal(&parallel_rng, filled, n, 0.5f, 0.02f);
            for (long i = 0; i < n; i++) serial[i] = 0.5f + 0.02f * rng_normal(&serial_rng);
            CHECK(memcmp(filled, serial, n * sizeof(float)) == 0, "%d threads, n=%ld: values differ", threads, n);
            CHECK(parallel_rng.state == serial_rng.state, "%d threads, n=%ld: generator states differ", threads, n);
            free(filled);
            free(serial);
        }
    }
    pool_init(2);
}

int main(void) {
    pool_init(2);
    RUN_TEST(test_parity_with_pytorch);
    RUN_TEST(test_accumulation_matches_single_pass);
    RUN_TEST(test_gradients_restart_after_update);
    RUN_TEST(test_cached_decoding_matches_forward);
    RUN_TEST(test_parallel_normal_fill_matches_the_serial_stream);
    return TEST_SUMMARY();
}
