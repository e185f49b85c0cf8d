/* Huge-page friendly allocation; see bigmem.h. */
#include "util/bigmem.h"

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { HUGE_PAGE = 2 << 20 };

void *big_alloc(size_t bytes) {
    void *p = NULL;
    /* below a few huge pages the rounding would waste more than the TLB saves */
    size_t align = bytes >= 4 * (size_t)HUGE_PAGE ? HUGE_PAGE : 64;
    size_t rounded = (bytes + align - 1) / align * align;
    if (posix_memalign(&p, align, rounded ? rounded : align) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* advice only: where THP is off or "never", this fails harmlessly and we keep 4 KiB pages */
    if (align == HUGE_PAGE) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}
