/* A minimal test harness: each tests/test_*.c is its own program made of TEST functions run by
 * RUN_TESTS. CHECK records a failure and goes on; the program exits non-zero if any check failed.
 * tests/run_tests.sh runs every program and prints "N passed, M failed". */
#ifndef CGPT_TEST_H
#define CGPT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_checks_failed = 0, test_checks_run = 0, tests_failed = 0, tests_run = 0;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        test_checks_run++;                                                            \
        if (!(cond)) {                                                                \
            test_checks_failed++;                                                     \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* ||a-b|| / ||b|| over n floats (0 when both are zero; infinity if any NaN). */
static inline double relative_error(const float *a, const float *b, long n) {
    double diff = 0, ref = 0;
    for (long i = 0; i < n; i++) {
        if (a[i] != a[i] || b[i] != b[i]) return INFINITY;
        double d = (double)a[i] - (double)b[i];
        diff += d * d;
        ref += (double)b[i] * (double)b[i];
    }
    if (ref == 0) return diff == 0 ? 0 : INFINITY;
    return sqrt(diff / ref);
}

/* Fills with NaN so that an element a kernel forgot to write is caught. */
static inline void poison(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = NAN;
}

/* Running under AddressSanitizer (make test-asan): tests may shrink their sizes. */
static inline int test_sanitized(void) { return getenv("CGPT_SANITIZE") != NULL; }

#define TEST(name) static void name(void)

#define RUN_TEST(name)                                                   \
    do {                                                                 \
        int before = test_checks_failed;                                 \
        tests_run++;                                                     \
        name();                                                          \
        if (test_checks_failed != before) {                              \
            tests_failed++;                                              \
            printf("FAIL %s\n", #name);                                  \
        } else {                                                         \
            printf("ok   %s\n", #name);                                  \
        }                                                                \
        fflush(stdout);                                                  \
    } while (0)

#define TEST_SUMMARY()                                                                     \
    (printf("# %d tests, %d failed (%d checks)\n", tests_run, tests_failed, test_checks_run), \
     tests_failed ? 1 : 0)

#endif
