/* fixlua — session schedules: a daily or weekly window of local time in a time zone.
 *
 * A window opens at `start` and closes at `stop`, each a local time of day (daily) or of the week
 * (weekly, Sunday 00:00 is 0), and may wrap midnight or the week's end. Each local occurrence of
 * a boundary happens at the UTC instant fl_tz_to_utc() gives it: on the day clocks go forward
 * over it, when they jump; on the day they go back over it, the first time. Whether an instant is
 * inside is decided by the last boundary at or before it, so a window never opens or closes
 * twice because a local time repeats, and the next boundary after an instant is the one to arm
 * a timer for. */
#ifndef FL_SCHEDULE_H
#define FL_SCHEDULE_H

#include <stdint.h>

#include "fl_tz.h"

struct fl_schedule {
    int weekly;
    int64_t start_s, stop_s;   /* seconds into the local day, or week from Sunday 00:00 */
    const struct fl_tz *tz;    /* borrowed; must outlive the schedule's use */
};

/* 1 when UTC instant t is inside the window, else 0. */
int fl_schedule_inside(const struct fl_schedule *s, int64_t t);

/* The first boundary after t (a UTC instant), with *opens 1 when the window opens there. */
int64_t fl_schedule_next(const struct fl_schedule *s, int64_t t, int *opens);

#endif
