/* cgpt train: the training loop. Reads batches in order from token shards, runs forward, backward
 * and AdamW on the chosen matmul rung, evaluates, samples, logs JSON Lines, and saves atomic
 * checkpoints that resume bit-identically. With no arguments it runs the built-in default job. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cmd/commands.h"
#include "cmd/common.h"
#include "io/files.h"
#include "model/gpt2.h"
#include "tokenizer/tokenizer.h"
#include "train/loader.h"
#include "train/sampler.h"
#include "train/schedule.h"
#include "util/args.h"
#include "util/threadpool.h"
#include "util/timer.h"

typedef struct {
    const char *model_name, *init_path, *resume_dir, *out_dir, *log_path;
    const char *train_pattern, *val_pattern, *matmul_name;
    int batch_size, seq_len, steps, warmup, accum, val_every, val_steps, sample_every, sample_tokens;
    int ckpt_every, threads;
    float lr, min_lr, beta1, beta2, eps, weight_decay, grad_clip;
    ScheduleKind schedule;
    unsigned long long seed;
} TrainOptions;

static const char *usage_text =
    "usage: cgpt train [options]\n"
    "  With no options: the built-in job. Prepares Tiny Shakespeare into data/tinyshakespeare/ if\n"
    "  needed, trains GPT-2 124M from scratch at B=4, T=64 for 40 steps (4 of warm-up), evaluates,\n"
    "  prints a sample and saves runs/default/{model.bin,state.bin,log.jsonl}.\n\n"
    "model:\n"
    "  --model NAME        random init: d6, d12 (GPT-2 124M), d24, d36, d48   [d12]\n"
    "  --init FILE         start from an llm.c checkpoint instead\n"
    "  --resume DIR        continue a run from DIR/state.bin (written by --out)\n"
    "data:\n"
    "  --train PATTERN     training shards (glob)  [data/tinyshakespeare/tiny_shakespeare_train.bin]\n"
    "  --val PATTERN       validation shards (glob)  [data/tinyshakespeare/tiny_shakespeare_val.bin]\n"
    "  -b, --batch N       sequences per step  [4]\n"
    "  -t, --seq-len N     tokens per sequence  [64]\n"
    "optimisation:\n"
    "  --steps N           optimizer steps  [40]\n"
    "  --lr X              peak learning rate  [6e-4]\n"
    "  --warmup N          linear warm-up steps  [0]\n"
    "  --schedule S        constant | cosine  [cosine]\n"
    "  --min-lr X          final learning rate of the cosine schedule  [0]\n"
    "  --beta1 X --beta2 X --eps X --wd X   AdamW  [0.9 0.95 1e-8 0]\n"
    "  --grad-clip X       clip the gradient norm to X; 0 = off  [1.0]\n"
    "  --accum N           micro-batches per step (gradient accumulation)  [1]\n"
    "  --seed N            initialisation and sampling seed  [1337]\n"
    "evaluation and output:\n"
    "  --val-every N       validation loss every N steps and at the end; 0 = never  [20]\n"
    "  --val-steps N       validation batches per evaluation  [5]\n"
    "  --sample-every N    print a sample every N steps and at the end; 0 = never  [0]\n"
    "  --sample-tokens N   length of those samples  [64]\n"
    "  --out DIR           write DIR/model.bin (llm.c format) and DIR/state.bin (for --resume)\n"
    "  --ckpt-every N      also save every N steps; 0 = only at the end  [0]\n"
    "  --log FILE          JSON Lines, one object per step (appended to when resuming)\n"
    "performance:\n"
    "  --matmul NAME       matmul rung (see cgpt --version)  [auto]\n"
    "  --threads N         threads; 0 = all cores  [0]\n";

static volatile sig_atomic_t interrupted = 0;
static void on_interrupt(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

static void parse_options(TrainOptions *o, int argc, char **argv) {
    Args args;
    args_init(&args, argc, argv, "train");
    const char *flag;
    while (args_next(&args, &flag)) {
        if (args_is_help(flag)) { fputs(usage_text, stdout); exit(0); }
        else if (args_is(&args, "--model")) o->model_name = args_value(&args);
        else if (args_is(&args, "--init")) o->init_path = args_value(&args);
        else if (args_is(&args, "--resume")) o->resume_dir = args_value(&args);
        else if (args_is(&args, "--train")) o->train_pattern = args_value(&args);
        else if (args_is(&args, "--val")) o->val_pattern = args_value(&args);
        else if (args_is(&args, "-b") || args_is(&args, "--batch")) o->batch_size = (int)args_int(&args, 1, 1 << 16);
        else if (args_is(&args, "-t") || args_is(&args, "--seq-len")) o->seq_len = (int)args_int(&args, 1, 1 << 20);
        else if (args_is(&args, "--steps")) o->steps = (int)args_int(&args, 0, 1 << 30);
        else if (args_is(&args, "--lr")) o->lr = (float)args_double(&args, 0, 10);
        else if (args_is(&args, "--min-lr")) o->min_lr = (float)args_double(&args, 0, 10);
        else if (args_is(&args, "--warmup")) o->warmup = (int)args_int(&args, 0, 1 << 30);
        else if (args_is(&args, "--schedule")) {
            const char *v = args_value(&args);
            if (strcmp(v, "constant") == 0) o->schedule = SCHEDULE_CONSTANT;
            else if (strcmp(v, "cosine") == 0) o->schedule = SCHEDULE_COSINE;
            else die(EXIT_BAD_INPUT, "train: --schedule: '%s' is not one of constant, cosine", v);
        }
        else if (args_is(&args, "--beta1")) o->beta1 = (float)args_double(&args, 0, 0.999999);
        else if (args_is(&args, "--beta2")) o->beta2 = (float)args_double(&args, 0, 0.999999);
        else if (args_is(&args, "--eps")) o->eps = (float)args_double(&args, 0, 1);
        else if (args_is(&args, "--wd")) o->weight_decay = (float)args_double(&args, 0, 10);
        else if (args_is(&args, "--grad-clip")) o->grad_clip = (float)args_double(&args, 0, 1e9);
        else if (args_is(&args, "--accum")) o->accum = (int)args_int(&args, 1, 1 << 16);
        else if (args_is(&args, "--seed")) o->seed = (unsigned long long)args_int(&args, 0, 0x7fffffffffffffffLL);
        else if (args_is(&args, "--val-every")) o->val_every = (int)args_int(&args, 0, 1 << 30);
        else if (args_is(&args, "--val-steps")) o->val_steps = (int)args_int(&args, 1, 1 << 20);
        else if (args_is(&args, "--sample-every")) o->sample_every = (int)args_int(&args, 0, 1 << 30);
        else if (args_is(&args, "--sample-tokens")) o->sample_tokens = (int)args_int(&args, 1, 1 << 20);
        else if (args_is(&args, "--ckpt-every")) o->ckpt_every = (int)args_int(&args, 0, 1 << 30);
        else if (args_is(&args, "--out")) o->out_dir = args_value(&args);
        else if (args_is(&args, "--log")) o->log_path = args_value(&args);
        else if (args_is(&args, "--matmul")) o->matmul_name = args_value(&args);
        else if (args_is(&args, "--threads")) o->threads = (int)args_int(&args, 0, 4096);
        else args_unknown(&args);
    }
    if (o->init_path && o->resume_dir) die(EXIT_BAD_INPUT, "train: --init and --resume cannot be combined");
    if (o->schedule == SCHEDULE_COSINE && o->min_lr > o->lr)
        die(EXIT_BAD_INPUT, "train: --min-lr %g is above --lr %g", o->min_lr, o->lr);
}

/* Writes DIR/state.bin (everything a resume needs) and DIR/model.bin (llm.c format), each atomically. */
static int save_run(const char *dir, GPT2 *model, int64_t step, const DataLoader *loader, const Rng *rng,
                    Error *err) {
    char path[4096];
    TrainState state = {
        .config = model->config, .step = step, .batch_size = loader->batch_size, .seq_len = loader->seq_len,
        .shard_index = loader->shard_index, .shard_position = loader->position, .rng_state = rng->state,
        .num_params = model->num_params, .params = model->params, .adam_m = model->adam_m, .adam_v = model->adam_v,
    };
    snprintf(path, sizeof path, "%s/state.bin", dir);
    if (train_state_save(path, &state, err)) return -1;
    snprintf(path, sizeof path, "%s/model.bin", dir);
    return checkpoint_save(path, &model->config, model->params, err);
}

static double evaluate(GPT2 *model, DataLoader *val, int batches, Error *err) {
    loader_reset(val);
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        if (loader_next(val, err)) return NAN;
        if (gpt2_forward(model, val->inputs, val->targets, val->batch_size, val->seq_len, err)) return NAN;
        sum += model->mean_loss;
    }
    return sum / batches;
}

static int print_token(void *context, int token) {
    const Tokenizer *tok = context;
    size_t len;
    const char *bytes = tokenizer_token_bytes(tok, token, &len);
    if (bytes) fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void print_sample(GPT2 *model, const Tokenizer *tok, int tokens, Rng *rng) {
    if (!tok) return;
    int32_t prompt = GPT2_EOT_TOKEN;
    SamplingOptions sampling = {.temperature = 1.0f, .top_k = 40};
    Error err = {0};
    printf("---- sample ----\n");
    if (generate_tokens(model, &prompt, 1, tokens, &sampling, rng, print_token, (void *)tok, &err) < 0)
        printf("(sampling failed: %s)", err.message);
    printf("\n----------------\n");
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *default_train = "data/tinyshakespeare/tiny_shakespeare_train.bin";

int cmd_train(int argc, char **argv) {
    TrainOptions o = {
        .model_name = "d12", .train_pattern = "data/tinyshakespeare/tiny_shakespeare_train.bin",
        .val_pattern = "data/tinyshakespeare/tiny_shakespeare_val.bin", .matmul_name = "auto",
        .batch_size = 4, .seq_len = 64, .steps = 40, .warmup = 0, .accum = 1, .val_every = 20, .val_steps = 5,
        .sample_every = 0, .sample_tokens = 64, .ckpt_every = 0, .threads = 0, .lr = 6e-4f, .min_lr = 0.0f,
        .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_clip = 1.0f,
        .schedule = SCHEDULE_COSINE, .seed = 1337,
    };
    int default_job = argc == 1;
    if (default_job) {
        o.out_dir = "runs/default";
        o.log_path = "runs/default/log.jsonl";
        o.sample_every = o.steps;
        o.warmup = 4; /* from scratch at lr 6e-4, a few warm-up steps avoid an early loss spike */
    }
    parse_options(&o, argc, argv);
    Error err = {0};

    /* Check every output location before spending time on anything else. */
    if (o.out_dir && ensure_writable_dir(o.out_dir, 1, &err)) error_exit(&err);
    FILE *log = NULL;
    if (o.log_path) {
        log = open_log_file(o.log_path, o.resume_dir != NULL, &err);
        if (!log) error_exit(&err);
    }
    pool_init(o.threads);
    const MatmulRung *rung = matmul_find(o.matmul_name);
    if (!rung) die(EXIT_BAD_INPUT, "train: --matmul: unknown rung '%s' (one of: %s)", o.matmul_name, matmul_names());
    if (!rung->available())
        die(EXIT_BAD_INPUT, "train: --matmul: rung '%s' is not available on this machine (needs %s)", rung->name,
            rung->needs);

    /* The default data is prepared on first use from the text built into the binary. */
    if (strcmp(o.train_pattern, default_train) == 0 && !file_exists(default_train)) {
        printf("preparing Tiny Shakespeare into data/tinyshakespeare/ ...\n");
        if (prepare_embedded_shakespeare("data/tinyshakespeare", &err)) error_exit(&err);
    }

    /* The model: resumed, loaded or random. */
    GPT2 model;
    Rng rng;
    rng_seed(&rng, o.seed);
    int64_t first_step = 0;
    TrainState resumed = {0};
    const char *origin;
    char origin_text[4400];
    if (o.resume_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/state.bin", o.resume_dir);
        if (train_state_load(path, &resumed, &err)) error_exit(&err);
        if (resumed.batch_size != o.batch_size || resumed.seq_len != o.seq_len)
            die(EXIT_BAD_INPUT, "train: %s was written with -b %d -t %d; resume with the same", path,
                resumed.batch_size, resumed.seq_len);
        if (gpt2_init_take_params(&model, &resumed.config, resumed.params, &err)) error_exit(&err);
        resumed.params = NULL;
        first_step = resumed.step;
        rng.state = resumed.rng_state;
        snprintf(origin_text, sizeof origin_text, "resumed from %s at step %lld", path, (long long)first_step);
        origin = origin_text;
    } else if (o.init_path) {
        GPT2Config config;
        float *params;
        if (checkpoint_load(o.init_path, &config, &params, &err)) error_exit(&err);
        if (gpt2_init_take_params(&model, &config, params, &err)) error_exit(&err);
        snprintf(origin_text, sizeof origin_text, "loaded from %s", o.init_path);
        origin = origin_text;
    } else {
        GPT2Config config;
        if (gpt2_config_by_name(o.model_name, &config))
            die(EXIT_BAD_INPUT, "train: --model: unknown model '%s' (one of d6, d12, d24, d36, d48)", o.model_name);
        if (gpt2_init_random(&model, &config, o.seed, &err)) error_exit(&err);
        snprintf(origin_text, sizeof origin_text, "%s, random init (seed %llu)", o.model_name, o.seed);
        origin = origin_text;
    }
    model.matmul = rung;
    const GPT2Config *config = &model.config;
    if (o.seq_len > config->max_seq_len)
        die(EXIT_BAD_INPUT, "train: -t %d exceeds the model's maximum sequence length %d", o.seq_len,
            config->max_seq_len);
    if (gpt2_enable_training(&model, &err)) error_exit(&err);
    if (o.resume_dir) {
        memcpy(model.adam_m, resumed.adam_m, model.num_params * sizeof(float));
        memcpy(model.adam_v, resumed.adam_v, model.num_params * sizeof(float));
    }

    DataLoader train_loader, val_loader;
    int have_val = 0;
    if (loader_open(&train_loader, o.train_pattern, o.batch_size, o.seq_len, config->vocab_size, &err))
        error_exit(&err);
    if (o.resume_dir && loader_seek(&train_loader, resumed.shard_index, resumed.shard_position, &err))
        error_exit(&err);
    if (o.val_every > 0) {
        if (loader_open(&val_loader, o.val_pattern, o.batch_size, o.seq_len, config->vocab_size, &err))
            error_exit(&err);
        have_val = 1;
    }
    train_state_free(&resumed);
    /* The GPT-2 tokenizer decodes samples; a model with another vocabulary gets no samples. */
    Tokenizer *tok = NULL;
    if (o.sample_every > 0 && config->vocab_size == GPT2_VOCAB_SIZE) tok = tokenizer_load_embedded(&err);

    printf("cgpt train: %s | %.1fM parameters | L=%d C=%d H=%d\n", origin, model.num_params / 1e6,
           config->num_layers, config->channels, config->num_heads);
    printf("  B=%d T=%d accum=%d (%d tokens/step) | steps %lld..%d | matmul %s (%s) | %d threads\n", o.batch_size,
           o.seq_len, o.accum, o.batch_size * o.seq_len * o.accum, (long long)first_step, o.steps, rung->name,
           rung->precision, pool_size());
    fflush(stdout);

    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    LrSchedule schedule = {o.schedule, o.lr, o.min_lr, o.warmup, o.steps};
    const int tokens_per_step = o.batch_size * o.seq_len * o.accum;
    double total_ms = 0;
    int timed_steps = 0, status = 0;
    for (int64_t step = first_step; step < o.steps && !interrupted; step++) {
        int last = step == o.steps - 1;
        double val_loss = NAN;
        if (have_val && (step % o.val_every == 0 || last)) {
            val_loss = evaluate(&model, &val_loader, o.val_steps, &err);
            if (isnan(val_loss)) error_exit(&err);
            printf("step %5lld | val loss %.4f\n", (long long)step, val_loss);
        }
        double start = now_seconds();
        double loss = 0;
        for (int micro = 0; micro < o.accum; micro++) {
            if (loader_next(&train_loader, &err)) error_exit(&err);
            int last_micro_step = micro == o.accum - 1; /* it also sums the squares for the norm */
            if (gpt2_forward_backward(&model, train_loader.inputs, train_loader.targets, o.batch_size, o.seq_len,
                                      1.0f / o.accum, last_micro_step, &err))
                error_exit(&err);
            loss += model.mean_loss / o.accum;
        }
        float grad_norm = gpt2_grad_norm(&model);
        float lr = lr_at(&schedule, (int)step);
        gpt2_update(&model, lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_clip, grad_norm, (int)step + 1);
        double ms = 1000.0 * (now_seconds() - start);
        if (step > first_step) { total_ms += ms; timed_steps++; } /* the first step warms caches */
        printf("step %5lld/%d | loss %.4f | lr %.3e | norm %7.4f | %8.1f ms | %7.0f tok/s\n", (long long)step, o.steps,
               loss, lr, grad_norm, ms, tokens_per_step / (ms / 1000.0));
        fflush(stdout);
        if (log) {
            fprintf(log, "{\"step\":%lld,\"loss\":%.7g,\"lr\":%.7g,\"grad_norm\":%.7g,\"ms\":%.3f,\"tokens_per_s\":%.1f",
                    (long long)step, loss, lr, grad_norm, ms, tokens_per_step / (ms / 1000.0));
            if (!isnan(val_loss)) fprintf(log, ",\"val_loss\":%.7g", val_loss);
            fprintf(log, "}\n");
            fflush(log);
        }
        if (!isfinite(loss)) {
            fprintf(stderr, "cgpt: train: loss is %g at step %lld; stopping (try a lower --lr)\n", loss, (long long)step);
            status = EXIT_RUNTIME;
            break;
        }
        if (o.sample_every > 0 && ((step + 1) % o.sample_every == 0 || last)) print_sample(&model, tok, o.sample_tokens, &rng);
        if (o.out_dir && ((o.ckpt_every > 0 && (step + 1) % o.ckpt_every == 0) || last || interrupted)) {
            if (save_run(o.out_dir, &model, step + 1, &train_loader, &rng, &err)) error_exit(&err);
            printf("saved %s/model.bin and %s/state.bin at step %lld\n", o.out_dir, o.out_dir, (long long)step + 1);
        }
    }
    if (interrupted) {
        fprintf(stderr, "cgpt: train: interrupted%s\n", o.out_dir ? "; the last step is saved" : "");
        status = 130;
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    if (timed_steps > 0)
        printf("mean %.1f ms/step (%.2f it/s, %.0f tok/s) over %d steps after the first | peak memory %.0f MB\n",
               total_ms / timed_steps, 1000.0 * timed_steps / total_ms, tokens_per_step * 1000.0 * timed_steps / total_ms,
               timed_steps, usage.ru_maxrss / 1024.0);
    if (log) fclose(log);
    if (tok) tokenizer_free(tok);
    loader_close(&train_loader);
    if (have_val) loader_close(&val_loader);
    gpt2_free(&model);
    return status;
}
