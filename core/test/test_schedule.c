/* fixlua — schedule windows (fl_schedule.c): the arithmetic of fixed offsets, a weekly FX window
 * in New York that follows daylight saving time, boundaries on the days clocks go forward over
 * them or back over them, and inside/next agreeing with each other at random instants. */
#include "fl_test.h"

#include <stdio.h>

#include "fl_err.h"
#include "fl_schedule.h"
#include "fl_tz.h"

#define DAY 86400
#define HOUR 3600
/* 2026-01-04, a Sunday, 00:00 UTC */
#define SUN_2026 1767484800LL

static uint64_t prng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Position of local time in the period, as the window is written. */
static int64_t pos_in(int weekly, int64_t local)
{
    int64_t p = weekly ? 7 * DAY : DAY, r = (weekly ? local + 4 * DAY : local) % p;
    return r < 0 ? r + p : r;
}

static int naive_inside(int weekly, int64_t start, int64_t stop, int64_t local)
{
    int64_t x = pos_in(weekly, local);
    return start <= stop ? x >= start && x < stop : x >= start || x < stop;
}

FL_TEST(fixed_offsets_keep_the_plain_arithmetic)
{
    struct fl_tz *tz = NULL;
    char err[256];
    uint64_t x = 12345;
    static const char *const zones[] = {"UTC", "-05:00", "+05:30", "+14"};
    static const int64_t offs[] = {0, -5 * HOUR, 5 * HOUR + 30 * 60, 14 * HOUR};
    for (int z = 0; z < 4; z++) {
        FL_CHECK_INT(fl_tz_load(zones[z], NULL, &tz, err, sizeof err), FL_OK);
        for (int i = 0; i < 20000; i++) {
            struct fl_schedule s = {.weekly = (int)(prng(&x) % 2), .tz = tz};
            int64_t p = s.weekly ? 7 * DAY : DAY;
            s.start_s = (int64_t)(prng(&x) % (uint64_t)p);
            s.stop_s = (int64_t)(prng(&x) % (uint64_t)p);
            if (s.start_s == s.stop_s)
                continue;
            int64_t t = SUN_2026 + (int64_t)(prng(&x) % (400ull * DAY)) - 200 * DAY;
            FL_CHECK_INT(fl_schedule_inside(&s, t),
                         naive_inside(s.weekly, s.start_s, s.stop_s, t + offs[z]));
            int opens;
            int64_t u = fl_schedule_next(&s, t, &opens);
            FL_CHECK(u > t && u - t <= p);
            int64_t at = pos_in(s.weekly, u + offs[z]);
            FL_CHECK_INT(at, opens ? s.start_s : s.stop_s);
            FL_CHECK_INT(fl_schedule_inside(&s, u), opens);
            FL_CHECK_INT(fl_schedule_inside(&s, u - 1), !opens);
        }
        fl_tz_free(tz);
        tz = NULL;
    }
end:
    fl_tz_free(tz);
}

/* The FX week, Sunday 17:00 to Friday 17:00 New York time: 22:00 UTC in winter, 21:00 UTC in
 * summer, every week of 2026. */
FL_TEST(new_york_fx_week_follows_daylight_saving_time)
{
    struct fl_tz *tz = NULL;
    char err[256];
    if (fl_tz_load("America/New_York", NULL, &tz, err, sizeof err) != FL_OK)
        return; /* no zoneinfo on this machine */
    struct fl_schedule s = {.weekly = 1, .start_s = 17 * HOUR, .stop_s = 5 * DAY + 17 * HOUR,
                            .tz = tz};
    int64_t t = SUN_2026;
    int opens_seen = 0, summer = 0, winter = 0;
    for (int i = 0; i < 104; i++) {
        int opens;
        int64_t u = fl_schedule_next(&s, t, &opens);
        int64_t local = u + fl_tz_offset(tz, u);
        FL_CHECK_INT(local % DAY, 17 * HOUR);
        FL_CHECK_INT(pos_in(1, local) / DAY, opens ? 0 : 5);
        FL_CHECK_INT(opens, i % 2 == 0); /* it starts the year closed: Sunday 00:00 UTC */
        if (opens) {
            opens_seen++;
            if (u % DAY == 21 * HOUR)
                summer++;
            else if (u % DAY == 22 * HOUR)
                winter++;
        }
        FL_CHECK_INT(fl_schedule_inside(&s, u), opens);
        FL_CHECK_INT(fl_schedule_inside(&s, u - 1), !opens);
        t = u;
    }
    FL_CHECK_INT(opens_seen, 52);
    FL_CHECK(summer == 34 && winter == 18);
end:
    fl_tz_free(tz);
}

FL_TEST(boundaries_on_the_days_clocks_change)
{
    struct fl_tz *tz = NULL;
    char err[256];
    if (fl_tz_load("America/New_York", NULL, &tz, err, sizeof err) != FL_OK)
        return;
    const int64_t spring = 1772953200LL; /* 2026-03-08 07:00 UTC: 02:00 EST becomes 03:00 EDT */
    const int64_t fall = 1793512800LL;   /* 2026-11-01 06:00 UTC: 02:00 EDT becomes 01:00 EST */
    /* 02:30 to 03:30 daily: on the spring day 02:30 never comes, so it opens at the jump. */
    struct fl_schedule s = {.weekly = 0, .start_s = 2 * HOUR + 1800, .stop_s = 3 * HOUR + 1800,
                            .tz = tz};
    int opens;
    FL_CHECK_INT(fl_schedule_next(&s, spring - 3 * HOUR, &opens), spring);
    FL_CHECK_INT(opens, 1);
    FL_CHECK_INT(fl_schedule_next(&s, spring, &opens), spring + 1800);
    FL_CHECK_INT(opens, 0);
    /* 01:30 to 05:00: on the fall day it opens at the first 01:30 and stays open through the
     * hour that repeats, and closes once. */
    s.start_s = HOUR + 1800;
    s.stop_s = 5 * HOUR;
    int64_t first_0130 = fall - 1800;
    FL_CHECK_INT(fl_schedule_next(&s, fall - 3 * HOUR, &opens), first_0130);
    FL_CHECK_INT(opens, 1);
    for (int64_t t = first_0130; t < fall + 4 * HOUR; t += 300)
        FL_CHECK_INT(fl_schedule_inside(&s, t), 1);
    FL_CHECK_INT(fl_schedule_next(&s, first_0130, &opens), fall + 4 * HOUR); /* 05:00 EST */
    FL_CHECK_INT(opens, 0);
end:
    fl_tz_free(tz);
}

/* Whatever the zone: the next boundary flips inside(), nothing flips it before, and inside()
 * just before the boundary is what it was at the start. */
FL_TEST(inside_and_next_agree_everywhere)
{
    static const char *const zones[] = {"America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
                                        "Asia/Kolkata", "America/Santiago"};
    uint64_t x = 777;
    char err[256];
    int used = 0;
    for (int z = 0; z < 5; z++) {
        struct fl_tz *tz = NULL;
        if (fl_tz_load(zones[z], NULL, &tz, err, sizeof err) != FL_OK)
            continue;
        used++;
        for (int i = 0; i < 20000; i++) {
            struct fl_schedule s = {.weekly = (int)(prng(&x) % 2), .tz = tz};
            int64_t p = s.weekly ? 7 * DAY : DAY;
            s.start_s = (int64_t)(prng(&x) % 96) * 900 % p;
            s.stop_s = (int64_t)(prng(&x) % (uint64_t)(p / 900)) * 900;
            if (s.start_s == s.stop_s)
                continue;
            int64_t t = SUN_2026 + (int64_t)(prng(&x) % (3650ull * DAY));
            int in = fl_schedule_inside(&s, t), opens;
            int64_t u = fl_schedule_next(&s, t, &opens);
            if (!(u > t && u - t <= p + 2 * HOUR && fl_schedule_inside(&s, u - 1) == in)) {
                fprintf(stderr, "  %s %d %lld-%lld at %lld: next %lld\n", zones[z], s.weekly,
                        (long long)s.start_s, (long long)s.stop_s, (long long)t, (long long)u);
                FL_CHECK(0);
            }
            FL_CHECK_INT(fl_schedule_inside(&s, u), opens);
        }
        fl_tz_free(tz);
    }
    FL_CHECK(used >= 3);
end:;
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(fixed_offsets_keep_the_plain_arithmetic);
    FL_RUN(new_york_fx_week_follows_daylight_saving_time);
    FL_RUN(boundaries_on_the_days_clocks_change);
    FL_RUN(inside_and_next_agree_everywhere);
    return FL_TEST_SUMMARY();
}
