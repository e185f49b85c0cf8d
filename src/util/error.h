/* Errors that carry a message and an exit status up to the command that reports them.
 * Library code never prints or exits: it fills an Error and returns -1 (or NULL). Commands print
 * "cgpt: <message>" once and exit with the status: 2 for bad usage or input, 1 for runtime failures. */
#ifndef CGPT_ERROR_H
#define CGPT_ERROR_H

enum { EXIT_BAD_INPUT = 2, EXIT_RUNTIME = 1 };

typedef struct {
    int status;          /* 0 = no error; else EXIT_BAD_INPUT or EXIT_RUNTIME */
    char message[512];
} Error;

/* Sets the error (first one wins, so the deepest, most specific message survives) and returns -1. */
int error_set(Error *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "cgpt: message" to stderr and exits with the error's status. */
_Noreturn void error_exit(const Error *err);

/* Prints "cgpt: message" and exits with the given status: for command-line code only. */
_Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/calloc that exit with a runtime error naming what could not be allocated. */
void *xmalloc(unsigned long long bytes, const char *what);
void *xcalloc(unsigned long long count, unsigned long long size, const char *what);
/* 64-byte aligned allocation (for SIMD and cache lines); free with free(). */
void *xaligned(unsigned long long bytes, const char *what);

#endif
