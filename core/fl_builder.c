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

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((cold, noinline))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define COLD
#endif

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void fl_builder_init(struct fl_builder *b)
{
    memset(b, 0, sizeof *b);
    b->failed = FL_ESTATE; /* nothing may be added before fl_builder_begin() */
    b->time_sec = INT64_MIN; /* no second cached */
}

void fl_builder_release(struct fl_builder *b)
{
    if (!b)
        return;
    free(b->buf);
    fl_builder_init(b);
}

COLD static void fail(struct fl_builder *b, int rc)
{
    if (!b->failed)
        b->failed = rc;
    b->fast_end = 0;
}

/* Sets the fast path's bound (see fast_open()) after begin or growth: 0 when adds must fail,
 * else the largest `want` that reserve() accepts without growing. */
static inline void arm_fast(struct fl_builder *b)
{
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    size_t lim = max_len <= SIZE_MAX - RESERVE ? max_len + RESERVE : SIZE_MAX;
    b->fast_end = b->failed ? 0 : lim < b->cap ? lim : b->cap;
    b->fast_max_len = b->max_len;
}

COLD static int grow(struct fl_builder *b, size_t want);

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

COLD static int grow(struct fl_builder *b, size_t want)
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
    arm_fast(b);
    return 0;
}

static inline size_t count_digits(uint64_t u)
{
#if defined(__GNUC__)
    /* log10 from the bit length (1233/4096 ~ log10(2)), corrected by one comparison. */
    static const uint64_t p10[20] = {0u,
                                     10u,
                                     100u,
                                     1000u,
                                     10000u,
                                     100000u,
                                     1000000u,
                                     10000000u,
                                     100000000u,
                                     1000000000u,
                                     10000000000u,
                                     100000000000u,
                                     1000000000000u,
                                     10000000000000u,
                                     100000000000000u,
                                     1000000000000000u,
                                     10000000000000000u,
                                     100000000000000000u,
                                     1000000000000000000u,
                                     10000000000000000000u};
    unsigned t = (unsigned)((64 - __builtin_clzll(u | 1)) * 1233) >> 12;
    return (size_t)t + (u >= p10[t]);
#else
    size_t n = 1;
    while (u >= 10000) {
        u /= 10000;
        n += 4;
    }
    return n + (u >= 10) + (u >= 100) + (u >= 1000);
#endif
}

/* Decimal digits of u, written in place from the right two at a time; needs 20 bytes. */
static inline size_t format_u64(char *dst, uint64_t u)
{
    size_t len = count_digits(u);
    char *q = dst + len;
    if (u <= UINT32_MAX) { /* 32-bit arithmetic is cheaper for the usual values */
        uint32_t v = (uint32_t)u;
        while (v >= 100) {
            uint32_t r = v % 100;
            v /= 100;
            q -= 2;
            memcpy(q, digit_pairs + 2 * r, 2);
        }
        if (v >= 10)
            memcpy(q - 2, digit_pairs + 2 * v, 2);
        else
            q[-1] = (char)('0' + v);
        return len;
    }
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
    } else if (n > 16 && n <= 32) {
        memcpy(dst, src, 16);
        memcpy(dst + n - 16, src + n - 16, 16);
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

static const uint64_t pow10_u64[20] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u,
                                       10000000000000000u,
                                       100000000000000000u,
                                       1000000000000000000u,
                                       10000000000000000000u};

/* u / 10^s for 1 <= s <= 19, by constants so that no division instruction is needed. */
static inline uint64_t div_pow10(uint64_t u, unsigned s)
{
    switch (s) {
#define FL_DIV_CASE(k)                                                                             \
    case k:                                                                                        \
        return u / pow10_u64_c##k;
#define pow10_u64_c1 10u
#define pow10_u64_c2 100u
#define pow10_u64_c3 1000u
#define pow10_u64_c4 10000u
#define pow10_u64_c5 100000u
#define pow10_u64_c6 1000000u
#define pow10_u64_c7 10000000u
#define pow10_u64_c8 100000000u
#define pow10_u64_c9 1000000000u
        FL_DIV_CASE(1)
        FL_DIV_CASE(2)
        FL_DIV_CASE(3)
        FL_DIV_CASE(4)
        FL_DIV_CASE(5)
        FL_DIV_CASE(6)
        FL_DIV_CASE(7)
        FL_DIV_CASE(8)
        FL_DIV_CASE(9)
#undef FL_DIV_CASE
    default:
        return u / pow10_u64[s];
    }
}

/* Exactly `width` digits of u (u < 10^width, leading zeros kept), two at a time. */
static inline void format_fixed(char *dst, uint64_t u, size_t width)
{
    char *q = dst + width;
    if (width <= 9) { /* u < 10^9 */
        uint32_t v = (uint32_t)u;
        while (q - dst >= 2) {
            q -= 2;
            memcpy(q, digit_pairs + 2 * (v % 100), 2);
            v /= 100;
        }
        if (q > dst)
            dst[0] = (char)('0' + v);
        return;
    }
    while (q - dst >= 2) {
        q -= 2;
        memcpy(q, digit_pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (q > dst)
        dst[0] = (char)('0' + u);
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
    if (sc <= 19) {
        /* Integer part, then the fraction with exactly `sc` digits. */
        uint64_t mag = magnitude(d.mantissa);
        uint64_t ip = div_pow10(mag, (unsigned)sc);
        uint64_t fp = mag - ip * pow10_u64[sc];
        size_t n = 0;
        if (d.mantissa < 0)
            dst[n++] = '-';
        if (ip == 0)
            dst[n++] = '0';
        else
            n += format_u64(dst + n, ip);
        dst[n++] = '.';
        format_fixed(dst + n, fp, (size_t)sc);
        return n + (size_t)sc;
    }
    char digits[20];
    size_t nd = format_u64(digits, magnitude(d.mantissa));
    size_t n = 0, scale = (size_t)sc;
    if (d.mantissa < 0)
        dst[n++] = '-';
    /* More than 19 decimals: a 64-bit mantissa has at most 19 digits, all after the point. */
    dst[n++] = '0';
    dst[n++] = '.';
    for (size_t i = nd; i < scale; i++)
        dst[n++] = '0';
    memcpy(dst + n, digits, nd);
    return n + nd;
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
    if (tag < 100) {
        if (tag >= 10) {
            put2(w, tag);
            w += 2;
        } else {
            *w++ = (char)('0' + tag);
        }
    } else if (tag >= 10000)
        w += format_u64(w, tag);
    else if (tag >= 1000) {
        put2(w, tag / 100);
        put2(w + 2, tag % 100);
        w += 4;
    } else {
        w[0] = (char)('0' + tag / 100);
        put2(w + 1, tag % 100);
        w += 3;
    }
    *w++ = '=';
    return w;
}

/* open_field() off its fast path: a bad tag, an earlier failure, the limit or growth. */
COLD static int open_field_slow(struct fl_builder *b, uint32_t tag, size_t value_max)
{
    if (tag == 0 || tag > 999999999) /* fl_msg_parse() reads tags of 1 to 9 digits */
        fail(b, FL_EINVAL);
    if (b->failed || reserve(b, 11 + value_max + 1) != 0)
        return -1;
    return 0;
}

/* The fast path of open_field(): "tag=" and where the value goes when nothing can go wrong
 * (valid tag, no earlier failure, within the limit and the capacity), else NULL having changed
 * nothing. The public adds try it first and otherwise tail-call their general version, so
 * their common case saves no registers. */
static inline char *fast_open(struct fl_builder *b, uint32_t tag, size_t value_max)
{
    /* fast_end is 0 after a failure or finish, else at most cap and RESERVE + the limit as
     * max_len was when it was set; pos >= RESERVE whenever it is not 0. */
    size_t want = b->pos + 11 + value_max + 1 + 7; /* as reserve() */
    if (UNLIKELY(tag - 1u > 999999998u) || UNLIKELY(want > b->fast_end) ||
        UNLIKELY(b->max_len != b->fast_max_len))
        return NULL;
    return put_tag(b->buf + b->pos, tag);
}

/* Writes "tag=" and returns where the value goes (room for value_max bytes, SOH and the
 * trailer), or NULL after a failure. */
static inline char *open_field(struct fl_builder *b, uint32_t tag, size_t value_max)
{
    size_t want = b->pos + 11 + value_max + 1 + 7; /* as reserve() */
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    if (UNLIKELY((tag - 1u > 999999998u) | (b->failed != 0) | (want > b->cap) |
                 (want - RESERVE > max_len)) &&
        open_field_slow(b, tag, value_max) != 0)
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

static inline uint32_t soh_in_word32(uint32_t w)
{
    const uint32_t ones = 0x01010101u, highs = 0x80808080u;
    uint32_t x = w ^ ones;
    return (x - ones) & ~x & highs;
}

static inline void add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    if (n == 0 || has_soh(p, n)) {
        fail(b, FL_EINVAL);
        return;
    }
    add_bytes(b, tag, p, n);
}

COLD static int begin_slow(struct fl_builder *b, const char *begin_string, const char *msg_type,
                           size_t msg_type_len)
{
    /* One pass measures begin_string (reading at most one byte past the longest accepted),
     * looks for SOH and compares it with the copy from the previous message. */
    size_t bl = 0;
    unsigned soh = 0, diff = 0;
    for (; bl <= FL_BUILDER_MAX_BEGIN_STRING && begin_string[bl] != '\0'; bl++) {
        soh |= begin_string[bl] == SOH;
        diff |= (unsigned char)(begin_string[bl] ^ b->begin_string[bl]);
    }
    if (bl == 0 || bl > FL_BUILDER_MAX_BEGIN_STRING || soh || msg_type_len == 0 ||
        has_soh(msg_type, msg_type_len))
        return FL_EINVAL;
    if (diff || bl != b->begin_string_len) {
        memcpy(b->begin_string, begin_string, bl);
        b->begin_string[bl] = '\0';
        b->begin_string_len = bl;
        size_t k = 0;
        b->head[k++] = '8';
        b->head[k++] = '=';
        memcpy(b->head + k, begin_string, bl);
        k += bl;
        b->head[k++] = SOH;
        b->head[k++] = '9';
        b->head[k++] = '=';
        b->head_len = k;
    }
    b->failed = 0;
    b->pos = RESERVE;
    b->body = RESERVE;
    b->start = 0;
    arm_fast(b);
    add_bytes(b, 35, msg_type, msg_type_len); /* validated above */
    return b->failed;
}

int fl_builder_begin(struct fl_builder *b, const char *begin_string, const char *msg_type,
                     size_t msg_type_len)
{
    /* The common case: the BeginString of the previous message (already validated, its head
     * built) and a short MsgType, into a buffer with room. The comparison stops at the first
     * difference, so it reads no further into begin_string than its terminator. */
    const char *c = b->begin_string;
    size_t i = 0;
    while (c[i] != '\0' && begin_string[i] == c[i])
        i++;
    if (LIKELY(i != 0) && LIKELY(c[i] == '\0') && LIKELY(begin_string[i] == '\0') &&
        LIKELY(msg_type_len - 1 < 3)) {
        char m0 = msg_type[0], m1 = msg_type[msg_type_len >> 1], m2 = msg_type[msg_type_len - 1];
        if (LIKELY(m0 != SOH && m1 != SOH && m2 != SOH)) {
            b->failed = 0;
            b->pos = RESERVE;
            b->body = RESERVE;
            b->start = 0;
            arm_fast(b);
            char *w = fast_open(b, 35, msg_type_len);
            if (LIKELY(w != NULL)) {
                w[0] = m0;
                w[msg_type_len >> 1] = m1;
                w[msg_type_len - 1] = m2;
                close_field(b, w + msg_type_len);
                return FL_OK;
            }
        }
    }
    return begin_slow(b, begin_string, msg_type, msg_type_len);
}

COLD static void add_str_slow(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    add_str(b, tag, p, n);
}

void fl_builder_add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    /* Values of 4 to 16 bytes (most) are loaded once, checked for SOH and stored. */
    char *w;
    if (n >= 8 && n <= 16) {
        uint64_t lo, hi;
        memcpy(&lo, p, 8);
        memcpy(&hi, p + n - 8, 8);
        if (LIKELY((soh_in_word(lo) | soh_in_word(hi)) == 0) &&
            LIKELY((w = fast_open(b, tag, n)) != NULL)) {
            memcpy(w, &lo, 8);
            memcpy(w + n - 8, &hi, 8);
            close_field(b, w + n);
            return;
        }
    } else if (n >= 4 && n < 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        if (LIKELY((soh_in_word32(lo) | soh_in_word32(hi)) == 0) &&
            LIKELY((w = fast_open(b, tag, n)) != NULL)) {
            memcpy(w, &lo, 4);
            memcpy(w + n - 4, &hi, 4);
            close_field(b, w + n);
            return;
        }
    }
    add_str_slow(b, tag, p, n);
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

COLD static void add_int_slow(struct fl_builder *b, uint32_t tag, int64_t v)
{
    add_int(b, tag, v);
}

void fl_builder_add_int(struct fl_builder *b, uint32_t tag, int64_t v)
{
    char *w = fast_open(b, tag, 20);
    if (LIKELY(w != NULL)) {
        close_field(b, w + format_int(w, v));
        return;
    }
    add_int_slow(b, tag, v);
}

static inline void add_one(struct fl_builder *b, uint32_t tag, char c)
{
    char *w = open_field(b, tag, 1);
    if (!w)
        return;
    w[0] = c;
    close_field(b, w + 1);
}

COLD static void add_char_slow(struct fl_builder *b, uint32_t tag, char c)
{
    if (c == SOH)
        fail(b, FL_EINVAL);
    else
        add_one(b, tag, c);
}

void fl_builder_add_char(struct fl_builder *b, uint32_t tag, char c)
{
    char *w;
    if (LIKELY(c != SOH) && LIKELY((w = fast_open(b, tag, 1)) != NULL)) {
        w[0] = c;
        close_field(b, w + 1);
        return;
    }
    add_char_slow(b, tag, c);
}

void fl_builder_add_bool(struct fl_builder *b, uint32_t tag, int v)
{
    char c = v ? 'Y' : 'N';
    char *w = fast_open(b, tag, 1);
    if (LIKELY(w != NULL)) {
        w[0] = c;
        close_field(b, w + 1);
        return;
    }
    add_char_slow(b, tag, c); /* never SOH: add_one() as before */
}

COLD static void add_decimal_slow(struct fl_builder *b, uint32_t tag, struct fl_decimal d)
{
    if (d.scale < FL_DECIMAL_MIN_SCALE || d.scale > FL_DECIMAL_MAX_SCALE) {
        fail(b, FL_EINVAL);
        return;
    }
    char *w = open_field(b, tag, 41);
    if (w)
        close_field(b, w + format_decimal(w, d));
}

/* Refreshes time_text ("YYYYMMDD-HH:MM:SS", as format_utc_timestamp() writes it) for the
 * second `sec` since the epoch. */
COLD static void format_second(struct fl_builder *b, int64_t sec)
{
    int64_t day = sec / 86400, sod = sec % 86400;
    if (sod < 0) {
        sod += 86400;
        day--;
    }
    char *t = b->time_text;
    format_day(t, day);
    t[8] = '-';
    put2(t + 9, (unsigned)(sod / 3600));
    t[11] = ':';
    put2(t + 12, (unsigned)(sod / 60 % 60));
    t[14] = ':';
    put2(t + 15, (unsigned)(sod % 60));
    b->time_sec = sec;
}

/* Splits ns into the second (rounded towards minus infinity), refreshing the cached text when
 * it changed, and returns the nanoseconds within it. */
static inline int64_t cache_second(struct fl_builder *b, int64_t ns)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    if (UNLIKELY(sec != b->time_sec))
        format_second(b, sec);
    return frac;
}

static inline size_t put_fraction(char *dst, int64_t frac, int digits)
{
    if (LIKELY(digits == 3)) {
        unsigned v = (unsigned)frac / 1000000u;
        dst[0] = '.';
        dst[1] = (char)('0' + v / 100);
        put2(dst + 2, v % 100);
        return 4;
    }
    return format_fraction(dst, frac, digits);
}

void fl_builder_add_decimal(struct fl_builder *b, uint32_t tag, struct fl_decimal d)
{
    char *w;
    if (LIKELY(d.scale >= FL_DECIMAL_MIN_SCALE && d.scale <= FL_DECIMAL_MAX_SCALE) &&
        LIKELY((w = fast_open(b, tag, 41)) != NULL)) {
        close_field(b, w + format_decimal(w, d));
        return;
    }
    add_decimal_slow(b, tag, d);
}

COLD static void add_utc_timestamp_slow(struct fl_builder *b, uint32_t tag, int64_t ns,
                                        int digits)
{
    char *w = open_field(b, tag, 27);
    if (!w)
        return;
    int64_t frac = cache_second(b, ns);
    memcpy(w, b->time_text, 16);
    w[16] = b->time_text[16];
    close_field(b, w + 17 + put_fraction(w + 17, frac, digits));
}

void fl_builder_add_utc_timestamp(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    char *w;
    if (LIKELY(sec == b->time_sec) && LIKELY(digits == 3) &&
        LIKELY((w = fast_open(b, tag, 27)) != NULL)) {
        memcpy(w, b->time_text, 16);
        w[16] = b->time_text[16];
        unsigned v = (unsigned)frac / 1000000u;
        w[17] = '.';
        w[18] = (char)('0' + v / 100);
        put2(w + 19, v % 100);
        close_field(b, w + 21);
        return;
    }
    add_utc_timestamp_slow(b, tag, ns, digits);
}

void fl_builder_add_utc_time_only(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    char *w = open_field(b, tag, 18);
    if (!w)
        return;
    int64_t frac = cache_second(b, ns);
    memcpy(w, b->time_text + 9, 8);
    close_field(b, w + 8 + put_fraction(w + 8, frac, digits));
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
    size_t body_len = b->pos - b->body;
    size_t nd = count_digits(body_len);
    size_t k = b->head_len + nd + 1; /* "8=<BeginString><SOH>9=<BodyLength><SOH>" */
    /* reserve() bounded the body; this bounds the frame exactly as fl_frame_scan() will. */
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    if (k + body_len + 7 > max_len) {
        fail(b, FL_ELIMIT);
        return FL_ELIMIT;
    }
    b->start = b->body - k;
    char *h = b->buf + b->start;
    copy_value(h, b->head, b->head_len);
    format_u64(h + b->head_len, body_len);
    h[k - 1] = SOH;
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
    b->fast_end = 0;
    return FL_OK;
}
