/* cgpt bench: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_bench(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: bench is not built yet\n"); return 1; }
