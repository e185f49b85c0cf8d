/* Allocation for the large, long-lived buffers (parameters, gradients, AdamW moments, activations,
 * packing panels): 2 MiB aligned and marked for transparent huge pages, so that streaming through
 * gigabytes costs fewer TLB misses and first-touch page faults. Free with free(). */
#ifndef CGPT_BIGMEM_H
#define CGPT_BIGMEM_H

#include <stddef.h>

/* NULL when out of memory. Small requests get 64-byte alignment and no advice. */
void *big_alloc(size_t bytes);

#endif
