/* fixlua — time zones (fl_tz.c) against the C library's own reading of the same zoneinfo files:
 * the offset of every zone below at instants from 1850 to 2200 (table and rule years, both
 * hemispheres, half-hour and 45-minute offsets, a negative "DST", rule times past 24 h and
 * below 0), the local-to-UTC inverse around every change, fixed offsets, and damaged files,
 * which are refused without reading past their end. glibc's localtime_r() is the reference
 * (the test process may set TZ; the engine never does). */
#define _GNU_SOURCE /* tm_gmtoff */
#include "fl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_err.h"
#include "fl_tz.h"

static const char *const zones[] = {
    "America/New_York", "Europe/London",   "Australia/Sydney", "Asia/Kolkata",
    "Pacific/Chatham",  "America/Sao_Paulo", "Africa/Casablanca", "Europe/Dublin",
    "Australia/Lord_Howe", "America/Nuuk", "Asia/Jerusalem", "America/Santiago",
    "Antarctica/Troll", "Asia/Tokyo", "Europe/Moscow", "America/St_Johns", "Etc/UTC",
};

static uint64_t prng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int zone_present(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FL_TZ_DEFAULT_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static long libc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    return localtime_r(&tt, &tm) ? tm.tm_gmtoff : -999999;
}

/* The earliest-instant promise of fl_tz_to_utc(): local time reaches L at t and not before. */
static int inverse_holds(const struct fl_tz *tz, int64_t local, int64_t t)
{
    if (t + fl_tz_offset(tz, t) < local)
        return 0;
    static const int64_t back[] = {1, 60, 1800, 3600, 5400, 7200, 86400};
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++)
        if (t - back[i] + fl_tz_offset(tz, t - back[i]) >= local)
            return 0;
    return 1;
}

FL_TEST(every_zone_agrees_with_the_c_library_from_1850_to_2200)
{
    char err[256];
    int checked = 0, zones_used = 0, inverses = 0;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        if (!zone_present(zones[z]))
            continue;
        struct fl_tz *tz = NULL;
        FL_CHECK_INT(fl_tz_load(zones[z], NULL, &tz, err, sizeof err), FL_OK);
        char env[128];
        snprintf(env, sizeof env, ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        uint64_t x = 0x9e3779b97f4a7c15ull + z;
        const int64_t lo = -3786825600LL, hi = 7258118400LL; /* 1850 .. 2200 */
        /* Instants spread over the whole range, then walks of about a day a step from random
         * starts, which cross the changes; around each change the C library sees, the
         * inverse must land right. */
        int64_t t = lo;
        long prev_off = libc_offset(t);
        for (int i = 0; i < 40000; i++) {
            int walk = i >= 20000 && i % 200 != 0;
            t = walk ? t + (int64_t)(prng(&x) % 200000) : lo + (int64_t)(prng(&x) % (uint64_t)(hi - lo));
            long want = libc_offset(t);
            int32_t got = fl_tz_offset(tz, t);
            if (got != want) {
                fprintf(stderr, "  %s at %lld: %d, the C library says %ld\n", zones[z],
                        (long long)t, got, want);
                FL_CHECK(got == want);
            }
            if (walk && want != prev_off) {
                for (int64_t s = -7200; s <= 7200; s += 900) {
                    int64_t local = t + want + s;
                    int64_t u = fl_tz_to_utc(tz, local);
                    if (!inverse_holds(tz, local, u)) {
                        fprintf(stderr, "  %s: local %lld gave %lld\n", zones[z],
                                (long long)local, (long long)u);
                        FL_CHECK(inverse_holds(tz, local, u));
                    }
                }
                inverses++;
            }
            prev_off = want;
            checked++;
        }
        fl_tz_free(tz);
        zones_used++;
    }
    FL_CHECK(zones_used >= 10 || !zone_present("America/New_York")); /* no zoneinfo: skipped */
    FL_CHECK(checked >= 400000);
    FL_CHECK(inverses >= 500);
end:
    unsetenv("TZ");
    tzset();
}

FL_TEST(new_york_changes_at_two_in_the_morning_and_to_utc_skips_and_picks_the_first)
{
    struct fl_tz *tz = NULL;
    char err[256];
    if (!zone_present("America/New_York"))
        return;
    FL_CHECK_INT(fl_tz_load("America/New_York", NULL, &tz, err, sizeof err), FL_OK);
    /* 2026-03-08 07:00 UTC is 02:00 EST, when clocks go to 03:00 EDT. */
    const int64_t spring = 1772953200LL, fall = 1793512800LL; /* 2026-11-01 06:00 UTC */
    FL_CHECK_INT(fl_tz_offset(tz, spring - 1), -5 * 3600);
    FL_CHECK_INT(fl_tz_offset(tz, spring), -4 * 3600);
    FL_CHECK_INT(fl_tz_offset(tz, fall - 1), -4 * 3600);
    FL_CHECK_INT(fl_tz_offset(tz, fall), -5 * 3600);
    /* 02:30 on the spring day does not exist: the instant the clocks jump. */
    int64_t local_0230 = spring - 5 * 3600 + 1800;
    FL_CHECK_INT(fl_tz_to_utc(tz, local_0230), spring);
    /* 01:30 on the fall day happens twice: the first time, still on EDT. */
    int64_t local_0130 = fall - 4 * 3600 - 1800;
    FL_CHECK_INT(fl_tz_to_utc(tz, local_0130), fall - 1800);
    /* A date long after the file's table: the footer's rule. 2150-07-01 is on EDT. */
    FL_CHECK_INT(fl_tz_offset(tz, 5694969600LL), -4 * 3600);
    FL_CHECK(strcmp(fl_tz_name(tz), "America/New_York") == 0);
end:
    fl_tz_free(tz);
}

FL_TEST(fixed_offsets_and_bad_names)
{
    struct fl_tz *tz = NULL;
    char err[256];
    static const struct {
        const char *name;
        int32_t off;
    } ok[] = {{"UTC", 0},         {"GMT", 0},         {"Z", 0},           {"+02:00", 7200},
              {"-0530", -19800},  {"UTC-5", -18000},  {"GMT+1", 3600},    {"+14", 50400},
              {"utc", 0},         {"z", 0},           {"Utc+02:00", 7200}, {"UT+1", 3600}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        FL_CHECK_INT(fl_tz_load(ok[i].name, "/nonexistent", &tz, err, sizeof err), FL_OK);
        FL_CHECK_INT(fl_tz_offset(tz, 1700000000), ok[i].off);
        FL_CHECK_INT(fl_tz_to_utc(tz, 1700000000), 1700000000 - ok[i].off);
        fl_tz_free(tz);
        tz = NULL;
    }
    static const char *const bad[] = {"+15:00", "+02:60", "", "../etc/passwd", "/etc/passwd",
                                      "America/../../x", "New York", "UTC+1:5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FL_CHECK_INT(fl_tz_load(bad[i], NULL, &tz, err, sizeof err), FL_EINVAL);
        FL_CHECK(tz == NULL && strstr(err, "not a time zone"));
    }
    if (zone_present("right/America/New_York")) { /* leap seconds: not POSIX time */
        FL_CHECK_INT(fl_tz_load("right/America/New_York", NULL, &tz, err, sizeof err),
                     FL_EFORMAT);
        FL_CHECK(tz == NULL && strstr(err, "leap seconds"));
    }
    FL_CHECK_INT(fl_tz_load("America/New_Yrok", NULL, &tz, err, sizeof err), FL_ENOENT);
    FL_CHECK(strstr(err, "America/New_Yrok") && strstr(err, "no such zone"));
end:
    fl_tz_free(tz);
}

/* A version-2 file with no transitions and only a footer rule, as a zone of today is built. */
static size_t footer_only(unsigned char *buf, const char *rule)
{
    unsigned char hdr[44] = {'T', 'Z', 'i', 'f', '2'};
    size_t n = 0;
    /* version-1 block: no transitions, one type (offset 0), one abbreviation byte */
    hdr[39] = 1; /* typecnt */
    hdr[43] = 4; /* charcnt */
    memcpy(buf + n, hdr, 44);
    n += 44;
    memset(buf + n, 0, 6 + 4);
    n += 10;
    memcpy(buf + n, hdr, 44);
    n += 44;
    memset(buf + n, 0, 6 + 4);
    n += 10;
    n += (size_t)sprintf((char *)buf + n, "\n%s\n", rule);
    return n;
}

FL_TEST(footer_rules_of_every_form)
{
    unsigned char buf[512];
    struct fl_tz *tz = NULL;
    char err[256];
    /* Southern hemisphere, Jn and n days, rule times past 24 h and negative, names in <>. */
    static const struct {
        const char *rule;
        int64_t t;
        int32_t off;
    } cases[] = {
        {"EST5EDT,M3.2.0,M11.1.0", 1783000000LL, -4 * 3600},        /* 2026-07 */
        {"EST5EDT,M3.2.0,M11.1.0", 1767225600LL, -5 * 3600},        /* 2026-01-01 */
        {"EST5EDT", 1783000000LL, -4 * 3600},                       /* the POSIX default rule */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1767225600LL, 11 * 3600},  /* January: summer */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1783000000LL, 10 * 3600},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 1783000000LL, -2 * 3600},
        {"IST-2IDT,M3.4.4/26,M10.5.0", 1783000000LL, 3 * 3600},
        /* Daylight all year: the end of one year and the start of the next at one instant. */
        {"EST5EDT,0/0,J365/25", 1767243600LL - 1, -4 * 3600},       /* 2026-01-01 05:00 UTC */
        {"EST5EDT,0/0,J365/25", 1767243600LL, -4 * 3600},
        {"EST5EDT,0/0,J365/25", 1767243600LL + 1, -4 * 3600},
        {"EST5EDT,0/0,J365/25", 1783000000LL, -4 * 3600},
        /* J60 is 1 March in a leap year too (February 29 is never counted). */
        {"XXX3YYY,J60/0,300/0", 1709262000LL - 1, -3 * 3600},       /* 2024-03-01 03:00 UTC */
        {"XXX3YYY,J60/0,300/0", 1709262000LL, -2 * 3600},
        /* A change that spills into the next year, past that year's first change: the
         * offset between them is the spilled change's. */
        {"<+00>0<+02>-2,J2/0,J365/125", 1767268800LL, 0},           /* 2026-01-01 12:00 */
        {"<+00>0<+02>-2,J2/0,J365/125", 1767441600LL, 2 * 3600},    /* 2026-01-03 12:00 */
        {"<+00>0<+02>-2,J2/0,J365/125", 1767700800LL, 0},           /* 2026-01-06 12:00 */
        {"XXX3YYY,J60/0,300/0", 1772323200LL + 3 * 3600 - 1, -3 * 3600}, /* 2026-03-01 */
        {"XXX3YYY,J60/0,300/0", 1772323200LL + 3 * 3600, -2 * 3600},
        {"<+0545>-5:45", 1783000000LL, 5 * 3600 + 45 * 60},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = footer_only(buf, cases[i].rule);
        FL_CHECK_INT(fl_tz_parse(buf, n, cases[i].rule, &tz, err, sizeof err), FL_OK);
        int32_t got = fl_tz_offset(tz, cases[i].t);
        if (got != cases[i].off)
            fprintf(stderr, "  %s at %lld: %d\n", cases[i].rule, (long long)cases[i].t, got);
        FL_CHECK_INT(got, cases[i].off);
        fl_tz_free(tz);
        tz = NULL;
    }
    static const char *const bad[] = {"EST", "EST5EDT,M3.2.0", "EST5EDT,M13.1.0,M11.1.0",
                                      "E5", "EST5EDT,J0,J10", "EST25", "<E>5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = footer_only(buf, bad[i]);
        FL_CHECK_INT(fl_tz_parse(buf, n, bad[i], &tz, err, sizeof err), FL_EFORMAT);
        FL_CHECK(tz == NULL);
    }
end:
    fl_tz_free(tz);
}

/* Every prefix and every single flipped byte of a real zone file: refused or read, never read
 * past its end (ASan and valgrind runs of this test watch that). */
FL_TEST(damaged_zone_files_are_refused_not_overread)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/America/New_York", FL_TZ_DEFAULT_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    unsigned char *full = malloc(1 << 20);
    size_t n = full ? fread(full, 1, 1 << 20, f) : 0;
    fclose(f);
    FL_CHECK(n > 100);
    int refused = 0;
    for (size_t len = 0; len < n; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, full, len);
        struct fl_tz *tz = NULL;
        if (fl_tz_parse(copy, len, "cut", &tz, err, sizeof err) != FL_OK)
            refused++;
        else
            (void)fl_tz_offset(tz, 1700000000);
        fl_tz_free(tz);
        free(copy);
    }
    FL_CHECK(refused >= (int)n - 1);
    for (size_t pos = 0; pos < n; pos++) {
        full[pos] ^= 0x5a;
        struct fl_tz *tz = NULL;
        if (fl_tz_parse(full, n, "flipped", &tz, err, sizeof err) == FL_OK) {
            (void)fl_tz_offset(tz, 1700000000);
            (void)fl_tz_to_utc(tz, 1700000000);
        }
        fl_tz_free(tz);
        full[pos] ^= 0x5a;
    }
end:
    free(full);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(every_zone_agrees_with_the_c_library_from_1850_to_2200);
    FL_RUN(new_york_changes_at_two_in_the_morning_and_to_utc_skips_and_picks_the_first);
    FL_RUN(fixed_offsets_and_bad_names);
    FL_RUN(footer_rules_of_every_form);
    FL_RUN(damaged_zone_files_are_refused_not_overread);
    return FL_TEST_SUMMARY();
}
