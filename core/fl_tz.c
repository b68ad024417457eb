/* fixlua — time zones: TZif files (RFC 8536, versions 1 to 4) and their POSIX TZ footers.
 *
 * A loaded zone is a table of transitions (the UTC instant each offset starts) and, for instants
 * after the last one, the rule of the file's footer ("EST5EDT,M3.2.0,M11.1.0"), which gives
 * each year's two changes. Before the first transition the zone keeps its first local time type
 * (RFC 8536 §3.2). Files with leap-second records ("right/" zones) are refused: their times count
 * leap seconds, and schedules run on POSIX time. Every count and
 * index of the file is checked against its size before use, so a damaged file is refused, never
 * read past. */
#include "fl_tz.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl_err.h"

#define MAX_FILE (1u << 20)            /* far above any zone file */
#define MAX_NAME 255
#define DAY 86400
#define HOUR 3600
#define RULE_DEFAULT_TIME (2 * HOUR)   /* a POSIX rule's change time when none is given */

/* One day of a POSIX rule: Jn (1..365, February 29 never counted), n (0..365, counted), or
 * Mm.w.d (day d of week w of month m, week 5 the last), and the local time of the change. */
struct rule_day {
    char kind;          /* 'J', 'n' or 'M' */
    int n, m, w, d;
    int32_t time;       /* seconds after local midnight, -167 h .. 167 h */
};

struct posix_rule {
    int32_t std_off, dst_off;  /* offsets east of UTC (local = UTC + offset) */
    int has_dst;
    struct rule_day start, end;
};

struct fl_tz {
    atomic_uint refs;   /* fl_tz_ref() */
    char *name;
    size_t ntrans;
    int64_t *trans;     /* ascending UTC instants */
    int32_t *trans_off; /* the offset from each transition on */
    int32_t first_off;  /* before the first transition */
    int has_rule;       /* after the last transition: the rule, else the last offset */
    struct posix_rule rule;
};

static void say(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
    if (buf && len)
        snprintf(buf, len, fmt, a ? a : "", b ? b : "");
}

/* ---- calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365, from March */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

/* The year of day `days` since 1970-01-01. */
static int64_t year_of_days(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10); /* months from March: Jan and Feb are the next year */
}

static int month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Local seconds since the epoch at which the rule day r of year y starts its change. */
static int64_t rule_local(const struct rule_day *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J') {
        day = days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
    } else if (r->kind == 'n') {
        day = days_from_civil(y, 1, 1) + r->n;
    } else {
        int64_t first = days_from_civil(y, r->m, 1);
        int dow = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (r->d - dow + 7) % 7 + (r->w - 1) * 7;
        while (mday > month_days(y, r->m))
            mday -= 7;
        day = first + mday - 1;
    }
    return day * DAY + r->time;
}

/* ---- the POSIX TZ string of a footer ---- */

static int parse_abbr(const char **s)
{
    const char *p = *s;
    size_t n = 0;
    if (*p == '<') {
        for (p++; *p && *p != '>'; p++, n++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
                return 0;
        if (*p != '>' || n < 3)
            return 0;
        *s = p + 1;
        return 1;
    }
    for (; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++)
        n++;
    if (n < 3)
        return 0;
    *s = p;
    return 1;
}

/* [+-]hh[:mm[:ss]] with hh at most max_h, into *out (seconds, sign applied). */
static int parse_hms(const char **s, int max_h, int32_t *out)
{
    const char *p = *s;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*p != ':')
                break;
            p++;
        }
        if (*p < '0' || *p > '9')
            return 0;
        int n = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            n = n * 10 + (*p++ - '0');
            digits++;
        }
        if ((i == 0 && n > max_h) || (i > 0 && (digits != 2 || n > 59)))
            return 0;
        v[i] = n;
    }
    *out = sign * (v[0] * HOUR + v[1] * 60 + v[2]);
    *s = p;
    return 1;
}

static int parse_num(const char **s, int lo, int hi, int *out)
{
    const char *p = *s;
    int n = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) {
        n = n * 10 + (*p++ - '0');
        digits++;
    }
    if (!digits || n < lo || n > hi)
        return 0;
    *out = n;
    *s = p;
    return 1;
}

static int parse_rule_day(const char **s, struct rule_day *r)
{
    const char *p = *s;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (!parse_num(&p, 1, 365, &r->n))
            return 0;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (!parse_num(&p, 1, 12, &r->m) || *p++ != '.' || !parse_num(&p, 1, 5, &r->w) ||
            *p++ != '.' || !parse_num(&p, 0, 6, &r->d))
            return 0;
    } else {
        r->kind = 'n';
        if (!parse_num(&p, 0, 365, &r->n))
            return 0;
    }
    r->time = RULE_DEFAULT_TIME;
    if (*p == '/') {
        p++;
        if (!parse_hms(&p, 167, &r->time))
            return 0;
    }
    *s = p;
    return 1;
}

/* "std offset [dst [offset] [,start[/time],end[/time]]]": 1 and *r, or 0 when malformed. */
static int parse_posix(const char *s, struct posix_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
        return 0;
    r->std_off = -off; /* POSIX offsets count west of Greenwich */
    if (!*s)
        return 1;
    if (!parse_abbr(&s))
        return 0;
    r->has_dst = 1;
    r->dst_off = r->std_off + HOUR;
    if (*s && *s != ',') {
        if (!parse_hms(&s, 24, &off))
            return 0;
        r->dst_off = -off;
    }
    if (!*s) { /* no rule: the POSIX default, the United States' since 2007 */
        r->start = (struct rule_day){.kind = 'M', .m = 3, .w = 2, .d = 0, .time = RULE_DEFAULT_TIME};
        r->end = (struct rule_day){.kind = 'M', .m = 11, .w = 1, .d = 0, .time = RULE_DEFAULT_TIME};
        return 1;
    }
    if (*s++ != ',' || !parse_rule_day(&s, &r->start) || *s++ != ',' ||
        !parse_rule_day(&s, &r->end))
        return 0;
    return *s == '\0';
}

/* The rule's offset at t and the instant of its next change (INT64_MAX: none). */
static void rule_lookup(const struct posix_rule *r, int64_t t, int32_t *off, int64_t *until)
{
    if (!r->has_dst) {
        *off = r->std_off;
        *until = INT64_MAX;
        return;
    }
    /* The changes of the years around t, in order: each sets the offset from then on. A
     * change to standard time sorts before a change to daylight time at the same instant
     * (the rules of zones on daylight time all year end one year as the next begins). A rule's
     * time may carry its change up to a week into the next year, past that year's first
     * change: so the list starts two years back, the last change before t is always in it, and
     * it ends a year on, so is the first change after t. */
    int64_t y = year_of_days(floor_div(t + r->std_off, DAY));
    int64_t when[8];
    int32_t to[8];
    int n = 0;
    for (int64_t k = y - 2; k <= y + 1; k++) {
        int64_t a = rule_local(&r->start, k) - r->std_off, b = rule_local(&r->end, k) - r->dst_off;
        int64_t ins_w[2] = {b, a};
        int32_t ins_o[2] = {r->std_off, r->dst_off};
        for (int j = 0; j < 2; j++) { /* insertion keeps the order, std first on ties */
            int i = n++;
            while (i > 0 && when[i - 1] > ins_w[j]) {
                when[i] = when[i - 1];
                to[i] = to[i - 1];
                i--;
            }
            when[i] = ins_w[j];
            to[i] = ins_o[j];
        }
    }
    int i = 0;
    while (i < n && when[i] <= t)
        i++;
    /* Before the first change listed (t is never that early), what the last change of a year
     * sets, as the last one listed does. */
    *off = i > 0 ? to[i - 1] : to[n - 1];
    *until = i < n ? when[i] : INT64_MAX;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int read_header(const unsigned char *p, size_t n, struct tzif_header *h, int *version)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return 0;
    *version = p[4] == 0 ? 1 : p[4] - '0';
    h->isut = be32(p + 20);
    h->isstd = be32(p + 24);
    h->leap = be32(p + 28);
    h->time = be32(p + 32);
    h->type = be32(p + 36);
    h->chars = be32(p + 40);
    return 1;
}

/* Bytes of the data block after a header, with tsize-byte times; 0 if it cannot fit in n. */
static size_t block_size(const struct tzif_header *h, size_t tsize, size_t n)
{
    if (h->time > n || h->type > n || h->chars > n || h->leap > n || h->isstd > n ||
        h->isut > n)
        return 0;
    size_t need = (size_t)h->time * (tsize + 1) + (size_t)h->type * 6 + h->chars +
                  (size_t)h->leap * (tsize + 4) + h->isstd + h->isut;
    return need <= n ? need : 0;
}

int fl_tz_parse(const void *data, size_t n, const char *name, struct fl_tz **out, char *errbuf,
                size_t errlen)
{
    const unsigned char *p = data;
    struct tzif_header h;
    int version;
    *out = NULL;
    if (!name)
        name = "(zone)";
    if (!p || !read_header(p, n, &h, &version) || version > 9) {
        say(errbuf, errlen, "%s: not a TZif zone file%s", name, "");
        return FL_EFORMAT;
    }
    size_t tsize = 4, at = 44, size = block_size(&h, 4, n - 44);
    if (!size && (h.time || h.type || h.chars || h.leap || h.isstd || h.isut))
        goto bad;
    if (version >= 2) {
        /* Skip the version-1 block to the 64-bit one, which is the one to read. */
        at += size;
        if (!read_header(p + at, n - at, &h, &version))
            goto bad;
        at += 44;
        tsize = 8;
        size = block_size(&h, 8, n - at);
        if (!size)
            goto bad;
    }
    if (h.type == 0 || h.type > 256 || h.chars == 0 || (h.isstd && h.isstd != h.type) ||
        (h.isut && h.isut != h.type))
        goto bad;
    if (h.leap) {
        say(errbuf, errlen, "%s: a zone that counts leap seconds (a \"right/\" zone) cannot "
            "time schedules, which run on POSIX time%s", name, "");
        return FL_EFORMAT;
    }
    const unsigned char *times = p + at, *idx = times + (size_t)h.time * tsize,
                        *types = idx + h.time;
    struct fl_tz *tz = calloc(1, sizeof *tz);
    if (!tz)
        goto nomem;
    atomic_init(&tz->refs, 1u);
    *out = tz;
    tz->name = strdup(name);
    tz->trans = malloc((h.time ? h.time : 1) * sizeof *tz->trans);
    tz->trans_off = malloc((h.time ? h.time : 1) * sizeof *tz->trans_off);
    if (!tz->name || !tz->trans || !tz->trans_off)
        goto nomem;
    for (uint32_t i = 0; i < h.time; i++) {
        int64_t t = tsize == 8 ? be64(times + 8 * (size_t)i) : (int32_t)be32(times + 4 * (size_t)i);
        if (idx[i] >= h.type || (i > 0 && t <= tz->trans[i - 1]))
            goto bad_free;
        int32_t off = (int32_t)be32(types + 6 * (size_t)idx[i]);
        if (off < -25 * HOUR || off > 26 * HOUR)
            goto bad_free;
        tz->trans[i] = t;
        tz->trans_off[i] = off;
    }
    tz->ntrans = h.time;
    tz->first_off = (int32_t)be32(types);
    if (tz->first_off < -25 * HOUR || tz->first_off > 26 * HOUR)
        goto bad_free;
    if (version >= 2) {
        /* The footer: "\n" TZ string "\n", the rule after the last transition (may be empty). */
        const unsigned char *f = p + at + size, *end = p + n;
        if (f >= end || *f != '\n')
            goto bad_free;
        const unsigned char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
        if (!nl || nl - f - 1 > 200)
            goto bad_free;
        char rule[201];
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = '\0';
        if (rule[0]) {
            if (!parse_posix(rule, &tz->rule)) {
                say(errbuf, errlen, "%s: its rule for later years, '%s', is not one this reader "
                    "understands", name, rule);
                fl_tz_free(tz);
                *out = NULL;
                return FL_EFORMAT;
            }
            tz->has_rule = 1;
        }
    }
    return FL_OK;
bad_free:
    fl_tz_free(tz);
    *out = NULL;
bad:
    say(errbuf, errlen, "%s: damaged TZif zone file%s", name, "");
    return FL_EFORMAT;
nomem:
    fl_tz_free(*out);
    *out = NULL;
    say(errbuf, errlen, "%s: out of memory%s", name, "");
    return FL_ENOMEM;
}

/* ---- fixed offsets ---- */

/* s starts with word w, in any case: the length of w, else 0. */
static size_t prefix_nocase(const char *s, const char *w)
{
    size_t n = 0;
    for (; w[n]; n++)
        if ((s[n] | 0x20) != w[n])
            return 0;
    return n;
}

/* "UTC", "GMT", "UT", "Z" (any case), alone or followed by (+|-)hh[[:]mm], or the offset alone:
 * 1 and the offset east of UTC, else 0. */
static int fixed_offset(const char *s, int32_t *off)
{
    size_t p = prefix_nocase(s, "utc");
    if (!p)
        p = prefix_nocase(s, "gmt");
    if (!p)
        p = prefix_nocase(s, "ut");
    if (!p && (s[0] | 0x20) == 'z' && !s[1])
        p = 1;
    s += p;
    if (p && !*s) {
        *off = 0;
        return 1;
    }
    if (*s != '+' && *s != '-')
        return 0;
    int sign = *s++ == '-' ? -1 : 1, h = 0, m = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 2) {
        h = h * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || h > 14)
        return 0;
    if (*s == ':')
        s++;
    if (*s) {
        if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2])
            return 0;
        m = (s[0] - '0') * 10 + (s[1] - '0');
    }
    *off = sign * (h * HOUR + m * 60);
    return 1;
}

static int valid_zone_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME || s[0] == '/' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return 0;
        if (c == '.' && (i == 0 || s[i - 1] == '/' || s[i + 1] == '.'))
            return 0;
    }
    return 1;
}

int fl_tz_load(const char *name, const char *dir, struct fl_tz **out, char *errbuf,
               size_t errlen)
{
    int32_t off;
    *out = NULL;
    if (!name) {
        say(errbuf, errlen, "no time zone name%s%s", "", "");
        return FL_EINVAL;
    }
    if (fixed_offset(name, &off)) {
        struct fl_tz *tz = calloc(1, sizeof *tz);
        if (!tz || !(tz->name = strdup(name))) {
            free(tz);
            say(errbuf, errlen, "%s: out of memory%s", name, "");
            return FL_ENOMEM;
        }
        atomic_init(&tz->refs, 1u);
        tz->first_off = off;
        *out = tz;
        return FL_OK;
    }
    if (!valid_zone_name(name)) {
        say(errbuf, errlen, "'%s' is not a time zone: use \"UTC\", an offset such as \"-05:00\", "
            "or a zone name such as \"America/New_York\"%s", name, "");
        return FL_EINVAL;
    }
    if (!dir)
        dir = FL_TZ_DEFAULT_DIR;
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        say(errbuf, errlen, "time zone '%s': path too long%s", name, "");
        return FL_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        say(errbuf, errlen, "time zone '%s': %s", name,
            e == ENOENT ? "no such zone (not in the zoneinfo directory)" : strerror(e));
        return e == ENOENT ? FL_ENOENT : FL_EIO;
    }
    unsigned char *buf = malloc(MAX_FILE);
    if (!buf) {
        close(fd);
        say(errbuf, errlen, "%s: out of memory%s", name, "");
        return FL_ENOMEM;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, MAX_FILE - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            say(errbuf, errlen, "time zone '%s': %s", name, strerror(e));
            return FL_EIO;
        }
        if (r == 0 || (n += (size_t)r) == MAX_FILE)
            break;
    }
    close(fd);
    int rc = fl_tz_parse(buf, n, name, out, errbuf, errlen);
    free(buf);
    return rc;
}

struct fl_tz *fl_tz_ref(struct fl_tz *tz)
{
    if (tz)
        atomic_fetch_add_explicit(&tz->refs, 1u, memory_order_relaxed);
    return tz;
}

void fl_tz_free(struct fl_tz *tz)
{
    if (!tz || atomic_fetch_sub_explicit(&tz->refs, 1u, memory_order_acq_rel) != 1u)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_off);
    free(tz);
}

const char *fl_tz_name(const struct fl_tz *tz)
{
    return tz->name;
}

/* The offset at t and the instant it next changes (INT64_MAX: never). */
static void lookup(const struct fl_tz *tz, int64_t t, int32_t *off, int64_t *until)
{
    size_t n = tz->ntrans;
    if (n == 0 || t < tz->trans[0]) {
        if (n > 0) {
            *off = tz->first_off;
            *until = tz->trans[0];
        } else if (tz->has_rule) {
            rule_lookup(&tz->rule, t, off, until);
        } else {
            *off = tz->first_off;
            *until = INT64_MAX;
        }
        return;
    }
    size_t lo = 0, hi = n; /* the last transition at or before t is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    if (lo + 1 < n) {
        *off = tz->trans_off[lo];
        *until = tz->trans[lo + 1];
    } else if (tz->has_rule) {
        rule_lookup(&tz->rule, t, off, until);
    } else {
        *off = tz->trans_off[lo];
        *until = INT64_MAX;
    }
}

int32_t fl_tz_offset(const struct fl_tz *tz, int64_t t)
{
    int32_t off;
    int64_t until;
    lookup(tz, t, &off, &until);
    return off;
}

int64_t fl_tz_to_utc(const struct fl_tz *tz, int64_t local)
{
    /* Local time t + off(t) only moves by the zone's jumps, each less than a day, and offsets
     * stay within ±26 h: the answer is in [local - 27 h, local + 27 h]. Walk the stretches of
     * one offset from the start of that range; the first that reaches `local` has it. */
    int64_t t = local - 27 * HOUR;
    for (;;) { /* ends: once t is past local + 26 h, c is t itself, before its stretch's end */
        int32_t off;
        int64_t until;
        lookup(tz, t, &off, &until);
        int64_t c = local - off > t ? local - off : t;
        if (c < until)
            return c;
        t = until;
    }
}
