/* Flag parsing with strict validation; see args.h. */
#include "util/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void args_init(Args *a, int argc, char **argv, const char *command) {
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->index = 1;
    a->command = command;
}

int args_next(Args *a, const char **flag) {
    if (a->index >= a->argc) return 0;
    const char *arg = a->argv[a->index++];
    a->inline_value = NULL;
    const char *eq = (arg[0] == '-' && arg[1] == '-') ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len >= sizeof a->flag) len = sizeof a->flag - 1;
    memcpy(a->flag, arg, len);
    a->flag[len] = 0;
    if (eq) a->inline_value = eq + 1;
    *flag = a->flag;
    return 1;
}

int args_is(const Args *a, const char *name) { return strcmp(a->flag, name) == 0; }

const char *args_value(Args *a) {
    if (a->inline_value) return a->inline_value;
    if (a->index >= a->argc) die(EXIT_BAD_INPUT, "%s: %s needs a value", a->command, a->flag);
    return a->argv[a->index++];
}

int parse_int(const char *text, long long *value) {
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end) return -1;
    *value = v;
    return 0;
}

int parse_double(const char *text, double *value) {
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *value = v;
    return 0;
}

long long args_int(Args *a, long long min, long long max) {
    const char *text = args_value(a);
    long long v;
    if (parse_int(text, &v) != 0) die(EXIT_BAD_INPUT, "%s: %s: '%s' is not an integer", a->command, a->flag, text);
    if (v < min || v > max)
        die(EXIT_BAD_INPUT, "%s: %s: %lld is out of range [%lld, %lld]", a->command, a->flag, v, min, max);
    return v;
}

double args_double(Args *a, double min, double max) {
    const char *text = args_value(a);
    double v;
    if (parse_double(text, &v) != 0) die(EXIT_BAD_INPUT, "%s: %s: '%s' is not a number", a->command, a->flag, text);
    if (v < min || v > max) die(EXIT_BAD_INPUT, "%s: %s: %g is out of range [%g, %g]", a->command, a->flag, v, min, max);
    return v;
}

void args_unknown(const Args *a) {
    if (a->flag[0] == '-')
        die(EXIT_BAD_INPUT, "%s: unknown option '%s' (see cgpt %s --help)", a->command, a->flag, a->command);
    die(EXIT_BAD_INPUT, "%s: unexpected argument '%s' (see cgpt %s --help)", a->command, a->flag, a->command);
}

int args_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }
