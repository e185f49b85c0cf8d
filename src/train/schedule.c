/* Learning-rate schedule; see schedule.h. */
#include "train/schedule.h"

#include <math.h>

float lr_at(const LrSchedule *s, int step) {
    if (step < s->warmup_steps) return s->max_lr * (float)(step + 1) / (float)s->warmup_steps;
    if (s->kind == SCHEDULE_CONSTANT || s->total_steps <= s->warmup_steps) return s->max_lr;
    float progress = (float)(step - s->warmup_steps) / (float)(s->total_steps - s->warmup_steps);
    if (progress > 1.0f) progress = 1.0f;
    float cosine = 0.5f * (1.0f + cosf(3.14159265358979f * progress));
    return s->min_lr + cosine * (s->max_lr - s->min_lr);
}
