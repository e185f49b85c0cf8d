/* Learning-rate schedules: linear warm-up, then constant or cosine decay to a minimum. */
#ifndef CGPT_SCHEDULE_H
#define CGPT_SCHEDULE_H

typedef enum { SCHEDULE_CONSTANT, SCHEDULE_COSINE } ScheduleKind;

typedef struct {
    ScheduleKind kind;
    float max_lr, min_lr;
    int warmup_steps, total_steps;
} LrSchedule;

/* Learning rate for step (0-based): (step+1)/warmup * max_lr during warm-up; then max_lr, or a
 * cosine from max_lr at the end of warm-up to min_lr at total_steps. */
float lr_at(const LrSchedule *schedule, int step);

#endif
