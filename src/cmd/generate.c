/* cgpt generate: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_generate(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: generate is not built yet\n"); return 1; }
