/* Error reporting and checked allocation; see error.h for the convention. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/bigmem.h"

int error_set(Error *err, int status, const char *fmt, ...) {
    if (err && err->status == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return -1;
}

void error_exit(const Error *err) {
    fprintf(stderr, "cgpt: %s\n", err->message[0] ? err->message : "unknown error");
    exit(err->status ? err->status : EXIT_RUNTIME);
}

void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cgpt: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

void *xmalloc(unsigned long long bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %llu bytes for %s", bytes, what);
    return p;
}

void *xcalloc(unsigned long long count, unsigned long long size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %llu bytes for %s", count * size, what);
    return p;
}

void *xaligned(unsigned long long bytes, const char *what) {
    void *p = big_alloc(bytes);
    if (!p)
        die(EXIT_RUNTIME, "out of memory allocating %llu bytes for %s", bytes, what);
    return p;
}
