/* cgpt generate: sample text from a checkpoint with the key/value-cached decoder, so each new
 * token costs one position; prints the text as it comes and the tokens/s at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "io/files.h"
#include "model/gpt2.h"
#include "tokenizer/tokenizer.h"
#include "train/sampler.h"
#include "util/args.h"
#include "util/threadpool.h"
#include "util/timer.h"

static const char *usage_text =
    "usage: cgpt generate [CHECKPOINT] [options]\n"
    "  Samples text from an llm.c checkpoint  [runs/default/model.bin]\n"
    "  --prompt TEXT       text to continue  [starts from <|endoftext|>]\n"
    "  --tokens N          tokens to generate  [128]\n"
    "  --temperature X     0 = greedy  [1.0]\n"
    "  --top-k N           sample among the N most likely tokens; 0 = all  [40]\n"
    "  --seed N            [1337]\n"
    "  --matmul NAME       matmul rung  [auto]\n"
    "  --threads N         0 = all cores  [0]\n"
    "example: cgpt generate runs/default/model.bin --prompt \"ROMEO:\" --tokens 100\n";

typedef struct {
    const Tokenizer *tok;
    int count;
} Printer;

static int print_token(void *context, int token) {
    Printer *p = context;
    size_t len;
    const char *bytes = tokenizer_token_bytes(p->tok, token, &len);
    if (bytes) fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    p->count++;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    Args args;
    args_init(&args, argc, argv, "generate");
    const char *flag, *checkpoint = NULL, *prompt = NULL, *matmul_name = "auto";
    int tokens = 128, top_k = 40, threads = 0;
    double temperature = 1.0;
    unsigned long long seed = 1337;
    while (args_next(&args, &flag)) {
        if (args_is_help(flag)) { fputs(usage_text, stdout); return 0; }
        else if (args_is(&args, "--prompt")) prompt = args_value(&args);
        else if (args_is(&args, "--tokens")) tokens = (int)args_int(&args, 1, 1 << 20);
        else if (args_is(&args, "--temperature")) temperature = args_double(&args, 0, 100);
        else if (args_is(&args, "--top-k")) top_k = (int)args_int(&args, 0, 1 << 24);
        else if (args_is(&args, "--seed")) seed = (unsigned long long)args_int(&args, 0, 0x7fffffffffffffffLL);
        else if (args_is(&args, "--matmul")) matmul_name = args_value(&args);
        else if (args_is(&args, "--threads")) threads = (int)args_int(&args, 0, 4096);
        else if (flag[0] == '-' && flag[1]) args_unknown(&args);
        else if (!checkpoint) checkpoint = argv[args.index - 1];
        else args_unknown(&args);
    }
    if (!checkpoint) checkpoint = "runs/default/model.bin";
    pool_init(threads);
    const MatmulRung *rung = matmul_find(matmul_name);
    if (!rung) die(EXIT_BAD_INPUT, "generate: --matmul: unknown rung '%s' (one of: %s)", matmul_name, matmul_names());
    if (!rung->available())
        die(EXIT_BAD_INPUT, "generate: --matmul: rung '%s' is not available on this machine (needs %s)", rung->name,
            rung->needs);

    Error err = {0};
    GPT2Config config;
    float *params;
    if (checkpoint_load(checkpoint, &config, &params, &err)) error_exit(&err);
    if (config.vocab_size != GPT2_VOCAB_SIZE)
        die(EXIT_BAD_INPUT, "generate: %s has a vocabulary of %d tokens, not GPT-2's %d", checkpoint, config.vocab_size,
            GPT2_VOCAB_SIZE);
    GPT2 model;
    if (gpt2_init_take_params(&model, &config, params, &err)) error_exit(&err);
    model.matmul = rung;
    Tokenizer *tok = tokenizer_load_embedded(&err);
    if (!tok) error_exit(&err);

    int32_t *ids = NULL;
    size_t count = 0, capacity = 0;
    if (prompt && *prompt) {
        if (tokenizer_encode(tok, prompt, strlen(prompt), &ids, &count, &capacity, &err)) error_exit(&err);
    } else {
        ids = malloc(sizeof(int32_t));
        ids[0] = GPT2_EOT_TOKEN;
        count = 1;
    }
    if ((int)count >= config.max_seq_len)
        die(EXIT_BAD_INPUT, "generate: --prompt: %zu tokens leave no room in the model's context of %d", count,
            config.max_seq_len);
    if (prompt) fputs(prompt, stdout);
    Rng rng;
    rng_seed(&rng, seed);
    SamplingOptions sampling = {.temperature = (float)temperature, .top_k = top_k};
    Printer printer = {tok, 0};
    double start = now_seconds();
    int generated = generate_tokens(&model, ids, (int)count, tokens, &sampling, &rng, print_token, &printer, &err);
    double seconds = now_seconds() - start;
    if (generated < 0) error_exit(&err);
    fprintf(stderr, "\n(%d tokens in %.2f s: %.1f tokens/s, prompt of %zu tokens included in the time; matmul %s)\n",
            generated, seconds, (generated + count) / seconds, count, rung->name);
    free(ids);
    tokenizer_free(tok);
    gpt2_free(&model);
    return 0;
}
