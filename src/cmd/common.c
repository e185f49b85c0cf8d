/* Helpers shared by the subcommands; see common.h. */
#include "cmd/common.h"

#include <errno.h>
#include <string.h>

FILE *open_log_file(const char *path, int append, Error *err) {
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) error_set(err, EXIT_BAD_INPUT, "%s: cannot write the log: %s", path, strerror(errno));
    return f;
}
