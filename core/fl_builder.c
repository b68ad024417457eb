/* fixlua — building outbound FIX messages (see fl_builder.h).
 *
 * The buffer starts with RESERVE bytes of room for "8=<BeginString><SOH>9=<BodyLength><SOH>",
 * whose length is only known at the end; the prefix is then written right-aligned in that room
 * so the body never moves. Number and time formatting are hand-written because snprintf costs
 * more than the rest of a message. */
#include "fl_builder.h"

#include <stdlib.h>
#include <string.h>

#include "fl_frame.h"

#define SOH '\001'
/* "8=" + BeginString + SOH + "9=" + 10 digits + SOH */
#define RESERVE (2 + FL_BUILDER_MAX_BEGIN_STRING + 1 + 2 + 10 + 1)
#define INITIAL_CAP 512u

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void fl_builder_init(struct fl_builder *b)
{
    memset(b, 0, sizeof *b);
    b->failed = FL_ESTATE; /* nothing may be added before fl_builder_begin() */
    b->date_day = INT64_MIN; /* no day cached */
}

void fl_builder_release(struct fl_builder *b)
{
    if (!b)
        return;
    free(b->buf);
    fl_builder_init(b);
}

static void fail(struct fl_builder *b, int rc)
{
    if (!b->failed)
        b->failed = rc;
}

static int grow(struct fl_builder *b, size_t want);

/* Makes room for `need` more bytes (plus the trailer); 0 on success. */
static inline int reserve(struct fl_builder *b, size_t need)
{
    size_t want = b->pos + need + 7;
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    if (want - RESERVE > max_len) {
        fail(b, FL_ELIMIT);
        return -1;
    }
    if (want <= b->cap)
        return 0;
    return grow(b, want);
}

static int grow(struct fl_builder *b, size_t want)
{
    size_t ncap = b->cap ? b->cap : INITIAL_CAP;
    while (ncap < want)
        ncap *= 2;
    char *nb = realloc(b->buf, ncap);
    if (!nb) {
        fail(b, FL_ENOMEM);
        return -1;
    }
    b->buf = nb;
    b->cap = ncap;
    return 0;
}

static inline size_t count_digits(uint64_t u)
{
    size_t n = 1;
    while (u >= 10000) {
        u /= 10000;
        n += 4;
    }
    return n + (u >= 10) + (u >= 100) + (u >= 1000);
}

/* Decimal digits of u, written in place from the right two at a time; needs 20 bytes. */
static inline size_t format_u64(char *dst, uint64_t u)
{
    size_t len = count_digits(u);
    char *q = dst + len;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        q -= 2;
        memcpy(q, digit_pairs + 2 * r, 2);
    }
    if (u >= 10)
        memcpy(q - 2, digit_pairs + 2 * u, 2);
    else
        q[-1] = (char)('0' + u);
    return len;
}

/* memcpy() for the short values that make up most fields, without a call: overlapping
 * fixed-size copies never read or write outside [0, n). */
static inline void copy_value(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst, src, n);
    }
}

/* |v| without overflow for INT64_MIN. */
static inline uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Exported formatters wrap static ones so the builder's own calls inline even when fl_core
 * is compiled position-independent (exported calls may then be interposed). */
static inline size_t format_int(char *dst, int64_t v)
{
    size_t n = 0;
    if (v < 0)
        dst[n++] = '-';
    return n + format_u64(dst + n, magnitude(v));
}

size_t fl_format_int(char *dst, int64_t v)
{
    return format_int(dst, v);
}

static inline size_t format_decimal(char *dst, struct fl_decimal d)
{
    /* Clamping keeps the 41-byte contract; fl_builder_add_decimal() rejects such scales
     * instead of writing a different value. */
    int32_t sc = d.scale < FL_DECIMAL_MIN_SCALE   ? FL_DECIMAL_MIN_SCALE
                 : d.scale > FL_DECIMAL_MAX_SCALE ? FL_DECIMAL_MAX_SCALE
                                                  : d.scale;
    if (sc <= 0) {
        size_t n = format_int(dst, d.mantissa);
        /* A negative scale multiplies: append zeros, except to a zero mantissa. */
        for (int32_t i = sc; i < 0 && d.mantissa != 0; i++)
            dst[n++] = '0';
        return n;
    }
    char digits[20];
    size_t nd = format_u64(digits, magnitude(d.mantissa));
    size_t n = 0, scale = (size_t)sc;
    if (d.mantissa < 0)
        dst[n++] = '-';
    if (nd <= scale) {
        dst[n++] = '0';
        dst[n++] = '.';
        for (size_t i = nd; i < scale; i++)
            dst[n++] = '0';
        memcpy(dst + n, digits, nd);
        return n + nd;
    }
    memcpy(dst + n, digits, nd - scale);
    n += nd - scale;
    dst[n++] = '.';
    memcpy(dst + n, digits + nd - scale, scale);
    return n + scale;
}

static inline void put2(char *dst, unsigned v)
{
    memcpy(dst, digit_pairs + 2 * v, 2);
}

static size_t format_fraction(char *dst, int64_t ns_of_second, int digits)
{
    static const uint32_t pow10[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};
    if (digits <= 0)
        return 0;
    if (digits > 9)
        digits = 9;
    if (digits != 3 && digits != 6 && digits != 9)
        digits = digits < 3 ? 3 : digits < 6 ? 6 : 9;
    uint32_t v = (uint32_t)ns_of_second / pow10[9 - digits];
    dst[0] = '.';
    int k = digits;
    while (k >= 2) {
        put2(dst + k - 1, v % 100);
        v /= 100;
        k -= 2;
    }
    if (k)
        dst[1] = (char)('0' + v);
    return (size_t)digits + 1;
}

static inline size_t format_utc_time_only(char *dst, int64_t ns, int digits)
{
    int64_t day_ns = INT64_C(86400000000000);
    ns %= day_ns;
    if (ns < 0)
        ns += day_ns;
    int64_t secs = ns / 1000000000;
    put2(dst, (unsigned)(secs / 3600));
    dst[2] = ':';
    put2(dst + 3, (unsigned)(secs / 60 % 60));
    dst[5] = ':';
    put2(dst + 6, (unsigned)(secs % 60));
    return 8 + format_fraction(dst + 8, ns % 1000000000, digits);
}

/* Days since the epoch of ns, rounding towards minus infinity. */
static inline int64_t day_of(int64_t ns)
{
    const int64_t day_ns = INT64_C(86400000000000);
    int64_t days = ns / day_ns;
    return ns % day_ns < 0 ? days - 1 : days;
}

/* YYYYMMDD of a day since the epoch (years clamped to 0000..9999). */
static void format_day(char *dst, int64_t days)
{
    int y, m, d;
    fl_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    put2(dst, (unsigned)(y / 100));
    put2(dst + 2, (unsigned)(y % 100));
    put2(dst + 4, (unsigned)m);
    put2(dst + 6, (unsigned)d);
}

static inline size_t format_utc_timestamp(char *dst, int64_t ns, int digits)
{
    format_day(dst, day_of(ns));
    dst[8] = '-';
    return 9 + format_utc_time_only(dst + 9, ns, digits);
}

size_t fl_format_decimal(char *dst, struct fl_decimal d)
{
    return format_decimal(dst, d);
}

size_t fl_format_utc_time_only(char *dst, int64_t ns, int digits)
{
    return format_utc_time_only(dst, ns, digits);
}

size_t fl_format_utc_timestamp(char *dst, int64_t ns, int digits)
{
    return format_utc_timestamp(dst, ns, digits);
}

/* Writes "tag=" and returns where the value goes, or NULL after a failure. */
/* Writes "tag=" at w and returns the end; tags below 10000 (nearly all) without a loop. */
static inline char *put_tag(char *w, uint32_t tag)
{
    if (tag >= 10000)
        w += format_u64(w, tag);
    else if (tag >= 1000) {
        put2(w, tag / 100);
        put2(w + 2, tag % 100);
        w += 4;
    } else if (tag >= 100) {
        w[0] = (char)('0' + tag / 100);
        put2(w + 1, tag % 100);
        w += 3;
    } else if (tag >= 10) {
        put2(w, tag);
        w += 2;
    } else {
        *w++ = (char)('0' + tag);
    }
    *w++ = '=';
    return w;
}

static inline char *open_field(struct fl_builder *b, uint32_t tag, size_t value_max)
{
    if (tag == 0 || tag > 999999999) /* fl_msg_parse() reads tags of 1 to 9 digits */
        fail(b, FL_EINVAL);
    if (b->failed || reserve(b, 11 + value_max + 1) != 0)
        return NULL;
    return put_tag(b->buf + b->pos, tag);
}

static inline void close_field(struct fl_builder *b, char *end)
{
    *end++ = SOH;
    b->pos = (size_t)(end - b->buf);
}

/* Appends "tag=value<SOH>" without looking at the value. */
static inline void add_bytes(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    char *w = open_field(b, tag, n);
    if (!w)
        return;
    copy_value(w, p, n);
    close_field(b, w + n);
}

/* Nonzero when one of the bytes of w is SOH (the exact has-zero-byte test after the XOR). */
static inline uint64_t soh_in_word(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x = w ^ ones;
    return (x - ones) & ~x & highs;
}

/* 1 when p[0..n) holds a SOH. Short values are checked a word at a time in line (the last
 * word overlapping the previous one), long ones with memchr(). */
static inline int has_soh(const char *p, size_t n)
{
    if (n > 64)
        return memchr(p, SOH, n) != NULL;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (p[i] == SOH)
                return 1;
        return 0;
    }
    uint64_t w, found = 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&w, p + i, 8);
        found |= soh_in_word(w);
    }
    memcpy(&w, p + n - 8, 8);
    return (found | soh_in_word(w)) != 0;
}

static inline void add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    if (n == 0 || has_soh(p, n)) {
        fail(b, FL_EINVAL);
        return;
    }
    add_bytes(b, tag, p, n);
}

int fl_builder_begin(struct fl_builder *b, const char *begin_string, const char *msg_type,
                     size_t msg_type_len)
{
    size_t bl = strlen(begin_string);
    if (bl == 0 || bl > FL_BUILDER_MAX_BEGIN_STRING || msg_type_len == 0 ||
        memchr(msg_type, SOH, msg_type_len) || memchr(begin_string, SOH, bl))
        return FL_EINVAL;
    b->failed = 0;
    b->pos = RESERVE;
    b->body = RESERVE;
    b->start = 0;
    memcpy(b->begin_string, begin_string, bl + 1);
    b->begin_string_len = bl;
    add_bytes(b, 35, msg_type, msg_type_len); /* validated above */
    return b->failed;
}

void fl_builder_add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    add_str(b, tag, p, n);
}

void fl_builder_add_cstr(struct fl_builder *b, uint32_t tag, const char *s)
{
    add_str(b, tag, s, strlen(s));
}

static inline void add_int(struct fl_builder *b, uint32_t tag, int64_t v)
{
    char *w = open_field(b, tag, 20);
    if (w)
        close_field(b, w + format_int(w, v));
}

void fl_builder_add_int(struct fl_builder *b, uint32_t tag, int64_t v)
{
    add_int(b, tag, v);
}

void fl_builder_add_char(struct fl_builder *b, uint32_t tag, char c)
{
    if (c == SOH)
        fail(b, FL_EINVAL);
    else
        add_bytes(b, tag, &c, 1);
}

void fl_builder_add_bool(struct fl_builder *b, uint32_t tag, int v)
{
    add_bytes(b, tag, v ? "Y" : "N", 1);
}

void fl_builder_add_decimal(struct fl_builder *b, uint32_t tag, struct fl_decimal d)
{
    if (d.scale < FL_DECIMAL_MIN_SCALE || d.scale > FL_DECIMAL_MAX_SCALE) {
        fail(b, FL_EINVAL);
        return;
    }
    char *w = open_field(b, tag, 41);
    if (w)
        close_field(b, w + format_decimal(w, d));
}

void fl_builder_add_utc_timestamp(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    char *w = open_field(b, tag, 27);
    if (!w)
        return;
    int64_t day = day_of(ns);
    if (day != b->date_day) {
        format_day(b->date_text, day);
        b->date_day = day;
    }
    memcpy(w, b->date_text, 8);
    w[8] = '-';
    close_field(b, w + 9 + format_utc_time_only(w + 9, ns, digits));
}

void fl_builder_add_utc_time_only(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    char *w = open_field(b, tag, 18);
    if (w)
        close_field(b, w + format_utc_time_only(w, ns, digits));
}

void fl_builder_add_date(struct fl_builder *b, uint32_t tag, struct fl_date d)
{
    int y = -1, mo = 0, da = 0;
    if (d.year >= 0 && d.year <= 9999 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
        d.day <= 31) /* in range for the conversion; the round trip catches Feb 30 and such */
        fl_civil_from_days(fl_days_from_civil(d.year, d.month, d.day), &y, &mo, &da);
    if (y != d.year || mo != d.month || da != d.day) {
        fail(b, FL_EINVAL);
        return;
    }
    char *w = open_field(b, tag, 8);
    if (!w)
        return;
    put2(w, (unsigned)(d.year / 100));
    put2(w + 2, (unsigned)(d.year % 100));
    put2(w + 4, (unsigned)d.month);
    put2(w + 6, (unsigned)d.day);
    close_field(b, w + 8);
}

void fl_builder_add_data(struct fl_builder *b, uint32_t len_tag, uint32_t data_tag, const char *p,
                         size_t n)
{
    if (n == 0) {
        fail(b, FL_EINVAL);
        return;
    }
    add_int(b, len_tag, (int64_t)n);
    char *w = open_field(b, data_tag, n);
    if (!w)
        return;
    memcpy(w, p, n);
    close_field(b, w + n);
}

void fl_builder_add_raw(struct fl_builder *b, const char *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (p[n - 1] != SOH) {
        fail(b, FL_EINVAL);
        return;
    }
    if (reserve(b, n) != 0)
        return;
    memcpy(b->buf + b->pos, p, n);
    b->pos += n;
}

int fl_builder_finish(struct fl_builder *b, const char **out, size_t *n)
{
    if (b->failed)
        return b->failed;
    if (!b->buf || b->pos <= RESERVE || b->begin_string_len == 0)
        return FL_ESTATE;
    char prefix[RESERVE];
    size_t k = 0;
    prefix[k++] = '8';
    prefix[k++] = '=';
    memcpy(prefix + k, b->begin_string, b->begin_string_len);
    k += b->begin_string_len;
    prefix[k++] = SOH;
    prefix[k++] = '9';
    prefix[k++] = '=';
    k += format_u64(prefix + k, b->pos - b->body);
    prefix[k++] = SOH;
    /* reserve() bounded the body; this bounds the frame exactly as fl_frame_scan() will. */
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    if (k + (b->pos - b->body) + 7 > max_len) {
        fail(b, FL_ELIMIT);
        return FL_ELIMIT;
    }
    b->start = b->body - k;
    memcpy(b->buf + b->start, prefix, k);
    /* reserve() always leaves 7 bytes for the trailer. */
    unsigned sum = fl_checksum(b->buf + b->start, b->pos - b->start);
    char *w = b->buf + b->pos;
    w[0] = '1';
    w[1] = '0';
    w[2] = '=';
    w[3] = (char)('0' + sum / 100);
    w[4] = (char)('0' + sum / 10 % 10);
    w[5] = (char)('0' + sum % 10);
    w[6] = SOH;
    b->pos += 7;
    *out = b->buf + b->start;
    *n = b->pos - b->start;
    b->failed = FL_ESTATE;
    return FL_OK;
}
