/* cgpt encode: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_encode(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: encode is not built yet\n"); return 1; }
