/* cgpt train: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_train(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: train is not built yet\n"); return 1; }
