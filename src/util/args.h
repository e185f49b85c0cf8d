/* Command-line parsing helpers: every flag value is checked, and a bad one ends the program with
 * one line naming the flag and the reason, exit status 2. Flags take their value as the next
 * argument or after '=' (--steps 10 or --steps=10). */
#ifndef CGPT_ARGS_H
#define CGPT_ARGS_H

typedef struct {
    int argc;
    char **argv;
    int index;          /* next argument to read */
    const char *command; /* for messages: "train" */
    char flag[64];      /* the flag being parsed, without any "=value" */
    const char *inline_value; /* value given as --flag=value, or NULL */
} Args;

void args_init(Args *args, int argc, char **argv, const char *command);
/* Next argument: returns 1 and sets *flag ("--steps", "-b", or a positional argument), 0 at end. */
int args_next(Args *args, const char **flag);
/* Is the current argument this flag? (matches "--name" and "--name=value") */
int args_is(const Args *args, const char *name);
/* The current flag's value; a missing value exits with "train: --steps needs a value". */
const char *args_value(Args *args);
long long args_int(Args *args, long long min, long long max);
double args_double(Args *args, double min, double max);
/* Exits with "train: unknown option '--x' (see cgpt train --help)". */
_Noreturn void args_unknown(const Args *args);
/* Is this argument a request for help (-h, --help)? */
int args_is_help(const char *arg);

/* Parses a whole string as a number; 0 on success. */
int parse_int(const char *text, long long *value);
int parse_double(const char *text, double *value);

#endif
