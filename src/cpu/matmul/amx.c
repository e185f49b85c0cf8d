/* Rung "amx": PLACEHOLDER until its implementation lands; reports itself unavailable. */
#include "cpu/matmul/matmul.h"
static int never(void) { return 0; }
const MatmulRung matmul_amx = {
    .name = "amx", .needs = "-", .precision = "fp32", .description = "not yet implemented",
    .auto_rank = 0, .available = never,
};
