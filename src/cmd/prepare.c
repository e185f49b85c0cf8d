/* cgpt prepare: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_prepare(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: prepare is not built yet\n"); return 1; }
