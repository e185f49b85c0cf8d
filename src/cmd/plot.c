/* cgpt plot: PLACEHOLDER until the command lands. */
#include <stdio.h>
#include "cmd/commands.h"
int cmd_plot(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cgpt: plot is not built yet\n"); return 1; }
