/* cgpt decode: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_decode(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: decode is not built yet\n"); return 1; }
