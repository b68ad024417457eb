/* fixlua — session schedule windows (see fl_schedule.h). The boundaries near an instant are the
 * window's start and stop in the local periods (days or weeks) around it, each turned into UTC.
 * A boundary at local time L falls within 27 h of L (offsets stay within ±26 h), and
 * fl_tz_to_utc() never goes back as L goes forward, so the last boundary at or before t and the
 * first after it stand for local times within a period and 27 h of t: three periods before t's
 * and four after cover them in any zone, however odd. */
#include "fl_schedule.h"

#define DAY 86400

struct boundary {
    int64_t at;     /* UTC */
    int64_t local;  /* the local time it stands for: orders boundaries that share an instant */
    int opens;
};

static int64_t floor_mod(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* The boundaries of the periods from three before t's to four after, in no particular order. */
static int boundaries_near(const struct fl_schedule *s, int64_t t, struct boundary *b)
{
    int64_t period = s->weekly ? 7 * DAY : DAY;
    int64_t local = t + fl_tz_offset(s->tz, t);
    /* 1970-01-01 was a Thursday: a week's Sunday 00:00 is 4 days before that. */
    int64_t base = local - floor_mod(s->weekly ? local + 4 * DAY : local, period);
    int n = 0;
    for (int k = -3; k <= 4; k++) {
        int64_t p = base + k * period;
        b[n++] = (struct boundary){fl_tz_to_utc(s->tz, p + s->start_s), p + s->start_s, 1};
        b[n++] = (struct boundary){fl_tz_to_utc(s->tz, p + s->stop_s), p + s->stop_s, 0};
    }
    return n;
}

/* a comes after b: later, or at the same instant for a later local time. */
static int after(const struct boundary *a, const struct boundary *b)
{
    return a->at != b->at ? a->at > b->at : a->local > b->local;
}

int fl_schedule_inside(const struct fl_schedule *s, int64_t t)
{
    struct boundary b[16];
    int n = boundaries_near(s, t, b);
    const struct boundary *last = NULL;
    for (int i = 0; i < n; i++)
        if (b[i].at <= t && (!last || after(&b[i], last)))
            last = &b[i];
    return last ? last->opens : 0; /* (there always is one, see above) */
}

int64_t fl_schedule_next(const struct fl_schedule *s, int64_t t, int *opens)
{
    struct boundary b[16];
    int n = boundaries_near(s, t, b);
    const struct boundary *first = NULL;
    for (int i = 0; i < n; i++)
        if (b[i].at > t && (!first || b[i].at < first->at ||
                            (b[i].at == first->at && after(&b[i], first))))
            first = &b[i]; /* of those at one instant, the later local time decides */
    if (!first) { /* (there always is one, see above) */
        *opens = 0;
        return INT64_MAX;
    }
    *opens = first->opens;
    return first->at;
}
