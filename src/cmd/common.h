/* Small helpers shared by the subcommands. */
#ifndef CGPT_CMD_COMMON_H
#define CGPT_CMD_COMMON_H

#include <stdio.h>

#include "data/prepare.h"
#include "util/error.h"

/* Opens a JSON Lines log for writing (append = continue an existing one); status 2 if it cannot
 * be created, naming the file. */
FILE *open_log_file(const char *path, int append, Error *err);

#endif
