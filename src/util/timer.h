/* Wall-clock time in seconds from a monotonic clock, for step timings and benchmarks. */
#ifndef CGPT_TIMER_H
#define CGPT_TIMER_H
#include <time.h>
static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
