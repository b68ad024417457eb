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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* 10^k for k = 0 .. 19. */
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

static inline size_t count_digits(uint64_t u)
{
#if defined(__GNUC__)
    /* log10 from the bit length (1233/4096 ~ log10(2)), corrected by one comparison; u | 1
     * makes 0 count as one digit (10^t is even for t > 0, so nothing else changes). */
    unsigned t = (unsigned)((64 - __builtin_clzll(u | 1)) * 1233) >> 12;
    return (size_t)t + ((u | 1) >= pow10_u64[t]);
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
    while (u > UINT32_MAX) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        q -= 2;
        memcpy(q, digit_pairs + 2 * r, 2);
    }
    uint32_t v = (uint32_t)u; /* 32-bit arithmetic is cheaper, and enough for usual values */
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

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FL_SWAR_DIGITS 1
/* The eight decimal digits of v < 10^8 (leading zeros included) as ASCII bytes, the most
 * significant first in memory: both 4-digit halves are split into pairs and then into digits
 * in parallel lanes of one word, with multiplications by reciprocals exact in these ranges
 * (x * 10486 >> 20 is x / 100 for x < 10^4, x * 103 >> 10 is x / 10 for x < 100). */
static inline uint64_t digits8(uint32_t v)
{
    /* Each step puts the remainder r of each lane above its quotient q, (r << s) | q, computed
     * as (x << s) + q * (1 - (d << s)) for the lane x = q * d + r: no lane carries into the
     * next, so the sum is exact modulo 2^64. */
    uint64_t hi = v / 10000u;
    uint64_t x = ((uint64_t)v << 32) + hi * (1u - (10000ull << 32)); /* v / 10^4 | v % 10^4 */
    uint64_t y = ((x * 10486u) >> 20) & 0x0000007f0000007full;
    x = (x << 16) + y * (1u - (100ull << 16));
    y = ((x * 103u) >> 10) & 0x000f000f000f000full;
    x = (x << 8) + y * (1u - (10ull << 8));
    return x + 0x3030303030303030ull;
}
#endif

/* format_u64() for a destination with 20 bytes of room it may overwrite past the digits. */
static inline size_t format_u64_wide(char *dst, uint64_t u)
{
#if defined(FL_SWAR_DIGITS)
    if (u < 100000000u) {
        size_t len = count_digits(u);
        uint64_t x = digits8((uint32_t)u) >> (8 * (8 - len));
        memcpy(dst, &x, 8);
        return len;
    }
#endif
    return format_u64(dst, u);
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

/* format_int() for a destination with 20 bytes of room it may overwrite past the digits. */
static inline size_t format_int_wide(char *dst, int64_t v)
{
    size_t n = 0;
    if (v < 0)
        dst[n++] = '-';
    return n + format_u64_wide(dst + n, magnitude(v));
}

size_t fl_format_int(char *dst, int64_t v)
{
    return format_int(dst, v);
}


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
    if (UNLIKELY(tag >= 10000)) {
        w += format_u64(w, tag);
        *w++ = '=';
        return w;
    }
    if (tag < 100) {
        if (tag >= 10) {
            put2(w, tag);
            w += 2;
        } else {
            *w++ = (char)('0' + tag);
        }
    } else if (tag >= 1000) {
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

/* The fast path of open_field(): writes "tag=" when nothing can go wrong (a tag of 1 to 4
 * digits, no earlier failure, within the limit and the capacity) and returns where the field
 * starts, its "tag=" being *tl bytes long, else NULL having changed nothing. The field is then
 * closed by fast_close() from the position read here, so that the next position is the last
 * one plus lengths known without it (the tag's is constant on each branch): the position,
 * stored and reloaded by the next add, is the only chain from one add to the next. The public
 * adds try it first and otherwise tail-call their general version, so their common case saves
 * no registers. */
static inline char *fast_open(struct fl_builder *b, uint32_t tag, size_t value_max, size_t *pos,
                              size_t *tl)
{
    /* fast_end is 0 after a failure or finish, else at most cap and RESERVE + the limit as
     * max_len was when it was set; pos >= RESERVE whenever it is not 0. */
    size_t p = b->pos;
    size_t want = p + 11 + value_max + 1 + 7; /* as reserve() */
#if defined(FL_SWAR_DIGITS)
    /* The tag's range (1 to 9999) is checked by the branches choosing its length. */
    if (UNLIKELY(want > b->fast_end) || UNLIKELY(b->max_len != b->fast_max_len))
        return NULL;
    /* "tag=" in one little-endian word, stored whole (the room asked for covers 8 bytes). */
    uint64_t t;
    if (LIKELY(tag - 1u < 99u)) {
        if (tag >= 10) {
            uint16_t d;
            memcpy(&d, digit_pairs + 2 * tag, 2);
            t = d | ((uint64_t)'=' << 16);
            *tl = 3;
        } else {
            t = ('0' + tag) | ((uint64_t)'=' << 8);
            *tl = 2;
        }
    } else if (UNLIKELY(tag - 100u >= 9900u)) {
        return NULL; /* 0 or more than 4 digits */
    } else if (tag >= 1000) {
        uint16_t d0, d1;
        memcpy(&d0, digit_pairs + 2 * (tag / 100), 2);
        memcpy(&d1, digit_pairs + 2 * (tag % 100), 2);
        t = d0 | ((uint64_t)d1 << 16) | ((uint64_t)'=' << 32);
        *tl = 5;
    } else {
        uint16_t d;
        memcpy(&d, digit_pairs + 2 * (tag % 100), 2);
        t = ('0' + tag / 100) | ((uint64_t)d << 8) | ((uint64_t)'=' << 24);
        *tl = 4;
    }
    char *w = b->buf + p;
    *pos = p;
    memcpy(w, &t, 8);
#else
    if (UNLIKELY(tag - 1u > 9998u) || UNLIKELY(want > b->fast_end) ||
        UNLIKELY(b->max_len != b->fast_max_len))
        return NULL;
    char *w = b->buf + p;
    *pos = p;
    *tl = (size_t)(put_tag(w, tag) - w);
#endif
    return w;
}

/* Ends a field opened by fast_open() at pos, whose "tag=" took tl bytes, after a value of n
 * bytes at w + tl. */
static inline void fast_close(struct fl_builder *b, char *w, size_t pos, size_t tl, size_t n)
{
    size_t len = tl + n; /* apart from pos, so that the new position is one addition away */
    w[len] = SOH;
    b->pos = pos + (len + 1);
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

/* 1 when the C string s equals the cached BeginString c of length len (1 to the maximum, no
 * NUL in it). The bytes are compared in order and the first difference ends the comparison, so
 * s is read no further than its terminator (a shorter s differs at its NUL). Inlined, it is
 * unrolled where the call gives the length as a constant. */
static inline int same_begin_string(const char *s, const char *c, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != c[i])
            return 0;
    return s[len] == '\0';
}

int fl_builder_begin(struct fl_builder *b, const char *begin_string, const char *msg_type,
                     size_t msg_type_len)
{
    /* The common case: the BeginString of the previous message (already validated, its head
     * built) and a short MsgType, into a buffer with room. begin_string_len is 0 until a
     * BeginString is cached, else the length of begin_string (which has no NUL before it). */
    const char *c = b->begin_string;
    size_t len = b->begin_string_len;
    int same = len == 7   ? same_begin_string(begin_string, c, 7) /* "FIX.4.x" */
               : len == 8 ? same_begin_string(begin_string, c, 8) /* "FIXT.1.1" */
               : len != 0 && same_begin_string(begin_string, c, len);
    if (LIKELY(same) && LIKELY(msg_type_len - 1 < 3)) {
        char m0 = msg_type[0], m1 = msg_type[msg_type_len >> 1], m2 = msg_type[msg_type_len - 1];
        if (LIKELY(m0 != SOH && m1 != SOH && m2 != SOH)) {
            b->failed = 0;
            b->pos = RESERVE;
            b->body = RESERVE;
            b->start = 0;
            arm_fast(b);
            size_t pos, tl;
            char *f = fast_open(b, 35, msg_type_len, &pos, &tl);
            if (LIKELY(f != NULL)) {
                char *w = f + tl;
                w[0] = m0;
                w[msg_type_len >> 1] = m1;
                w[msg_type_len - 1] = m2;
                fast_close(b, f, pos, tl, msg_type_len);
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

/* A cheaper filter than soh_in_word() for text: its high bits are all clear only when no byte
 * of w is SOH and, with the high bits of w clear, a byte minus one never borrows; bytes of 0x80
 * and above (and SOH) set some, and the caller then takes the exact path. */
static inline uint64_t ascii_soh_filter(uint64_t w)
{
    return (w ^ 0x0101010101010101ull) - 0x0101010101010101ull;
}

void fl_builder_add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    /* Values of 4 to 16 bytes (most) are loaded once, checked for SOH and stored. */
    char *f;
    size_t pos, tl;
    if (n >= 8 && n <= 16) {
        uint64_t lo, hi;
        memcpy(&lo, p, 8);
        memcpy(&hi, p + n - 8, 8);
        if (LIKELY(((ascii_soh_filter(lo) | ascii_soh_filter(hi)) & 0x8080808080808080ull) == 0) &&
            LIKELY((f = fast_open(b, tag, n, &pos, &tl)) != NULL)) {
            memcpy(f + tl, &lo, 8);
            memcpy(f + tl + n - 8, &hi, 8);
            fast_close(b, f, pos, tl, n);
            return;
        }
    } else if (n >= 4 && n < 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        /* ascii_soh_filter() in 32 bits: its low half does not depend on the high one. */
        uint32_t flo = (lo ^ 0x01010101u) - 0x01010101u, fhi = (hi ^ 0x01010101u) - 0x01010101u;
        if (LIKELY(((flo | fhi) & 0x80808080u) == 0) &&
            LIKELY((f = fast_open(b, tag, n, &pos, &tl)) != NULL)) {
            memcpy(f + tl, &lo, 4);
            memcpy(f + tl + n - 4, &hi, 4);
            fast_close(b, f, pos, tl, n);
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
        close_field(b, w + format_int_wide(w, v));
}

COLD static void add_int_slow(struct fl_builder *b, uint32_t tag, int64_t v)
{
    add_int(b, tag, v);
}

void fl_builder_add_int(struct fl_builder *b, uint32_t tag, int64_t v)
{
#if defined(FL_SWAR_DIGITS)
    /* The usual: up to 8 digits, formatted without a loop; anything else takes the general
     * path, which writes the same. */
    uint64_t mag = magnitude(v);
    char *f;
    size_t pos, tl;
    if (LIKELY(mag < 100000000u) && LIKELY((f = fast_open(b, tag, 20, &pos, &tl)) != NULL)) {
        size_t neg = v < 0;
        char *w = f + tl;
        *w = '-'; /* overwritten by the first digit when not negative */
        size_t len = count_digits(mag);
        if (mag < 10000u) { /* up to 4 digits: two pairs from the table */
            uint32_t m = (uint32_t)mag, hi = m / 100u;
            uint16_t d0, d1;
            memcpy(&d0, digit_pairs + 2 * hi, 2);
            memcpy(&d1, digit_pairs + 2 * (m - 100u * hi), 2);
            uint32_t x = ((uint32_t)d0 | ((uint32_t)d1 << 16)) >> (8 * (4 - len));
            memcpy(w + neg, &x, 4);
        } else {
            uint64_t x = digits8((uint32_t)mag) >> (8 * (8 - len));
            memcpy(w + neg, &x, 8);
        }
        fast_close(b, f, pos, tl, neg + len);
        return;
    }
#endif
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
    char *f;
    size_t pos, tl;
    if (LIKELY(c != SOH) && LIKELY((f = fast_open(b, tag, 1, &pos, &tl)) != NULL)) {
        f[tl] = c;
        fast_close(b, f, pos, tl, 1);
        return;
    }
    add_char_slow(b, tag, c);
}

void fl_builder_add_bool(struct fl_builder *b, uint32_t tag, int v)
{
    char c = v ? 'Y' : 'N';
    size_t pos, tl;
    char *f = fast_open(b, tag, 1, &pos, &tl);
    if (LIKELY(f != NULL)) {
        f[tl] = c;
        fast_close(b, f, pos, tl, 1);
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
    /* After the text, the rest of a millisecond timestamp's tail for the fast path of
     * fl_builder_add_utc_timestamp(): ".", three digits (added there) and SOH. */
    t[17] = '.';
    t[18] = t[19] = t[20] = 0;
    t[21] = SOH;
    t[22] = t[23] = 0;
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
#if defined(FL_SWAR_DIGITS)
    /* The usual price: 1 to 15 decimals, an integer part that is not 0 and at most 8 digits.
     * Its digits are those of the mantissa with the point put in front of the last `scale` of
     * them (which move up one byte); the field has room for 41 bytes. Anything else takes the
     * general path, which writes the same. */
    uint64_t mag = magnitude(d.mantissa);
    char *f;
    size_t pos, tl;
    if (LIKELY(d.scale >= 1 && d.scale <= 15) && LIKELY(mag < 100000000u) &&
        LIKELY(mag >= pow10_u64[d.scale]) &&
        LIKELY((f = fast_open(b, tag, 41, &pos, &tl)) != NULL)) {
        size_t neg = d.mantissa < 0;
        char *w = f + tl, *q = w + neg;
        *w = '-'; /* overwritten by the first digit when not negative */
        size_t len = count_digits(mag);
        uint64_t x = digits8((uint32_t)mag) >> (8 * (8 - len));
        memcpy(q, &x, 8);
        char frac[16];
        char *dot = q + len - (size_t)d.scale;
        memcpy(frac, dot, 16);
        memcpy(dot + 1, frac, 16);
        *dot = '.';
        fast_close(b, f, pos, tl, neg + len + 1);
        return;
    }
#endif
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
    /* The usual: milliseconds within the cached second. With ns and time_sec (a second of
     * some earlier ns, so time_sec * 10^9 <= ns's maximum) both not negative, the difference
     * below is exact and in [0, 10^9) exactly when ns falls in that second; it is then the
     * nanoseconds within it. */
    int64_t ts = b->time_sec;
    uint64_t frac = (uint64_t)ns - (uint64_t)ts * 1000000000u;
    char *f;
    size_t pos, tl;
    if (UNLIKELY((ns | ts) < 0) || UNLIKELY(frac >= 1000000000u) || UNLIKELY(digits != 3) ||
        UNLIKELY((f = fast_open(b, tag, 27, &pos, &tl)) == NULL)) {
        add_utc_timestamp_slow(b, tag, ns, digits);
    } else {
        char *w = f + tl;
        unsigned v = (unsigned)frac / 1000000u, h = v / 100u;
        uint16_t d;
        memcpy(&d, digit_pairs + 2 * (v - 100u * h), 2);
        uint64_t tail; /* last digit of the seconds, ".", three digits, SOH */
        memcpy(&tail, b->time_text + 16, 8);
        tail |= ((uint64_t)('0' + h) << 16) | ((uint64_t)d << 24);
        memcpy(w, b->time_text, 16);
        memcpy(w + 16, &tail, 8);
        b->pos = pos + (tl + 22);
    }
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

#if defined(__SSE2__)
/* fl_checksum() of n >= 16 bytes, in line: sixteen byte lanes add with wrap-around (only the
 * sum mod 256 matters), the last partial block is the final 16 bytes with those already
 * counted masked off, and PSADBW folds the lanes once (as in fl_frame.c). */
static inline unsigned frame_sum(const char *p, size_t n)
{
    static const unsigned char keep[32] = {0,    0,    0,    0,    0,    0,    0,    0,
                                           0,    0,    0,    0,    0,    0,    0,    0,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const char *end = p + n;
    __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
    for (size_t blocks = n >> 6; blocks != 0; blocks--, p += 64) {
        __m128i a = _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)p),
                                 _mm_loadu_si128((const __m128i *)(const void *)(p + 16)));
        __m128i c = _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)),
                                 _mm_loadu_si128((const __m128i *)(const void *)(p + 48)));
        acc0 = _mm_add_epi8(acc0, a);
        acc1 = _mm_add_epi8(acc1, c);
    }
    for (size_t blocks = (n >> 4) & 3; blocks != 0; blocks--, p += 16)
        acc0 = _mm_add_epi8(acc0, _mm_loadu_si128((const __m128i *)(const void *)p));
    /* keep[16 + k] is 0xff: the last end - p bytes of the final 16 are not yet counted. */
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(end - 16));
    __m128i k = _mm_loadu_si128((const __m128i *)(const void *)(keep + (end - p)));
    __m128i acc = _mm_add_epi8(_mm_add_epi8(acc0, acc1), _mm_and_si128(x, k));
    __m128i folded = _mm_sad_epu8(acc, _mm_setzero_si128());
    return (unsigned)(_mm_cvtsi128_si32(folded) + _mm_cvtsi128_si32(_mm_srli_si128(folded, 8))) &
           0xffu;
}
#endif

/* Appends "10=NNN<SOH>" for the checksum `sum` at w (reserve() left 7 bytes for it). */
static inline void put_trailer(char *w, unsigned sum)
{
    unsigned h = (sum * 41u) >> 12; /* sum / 100 for sum < 256 */
    w[0] = '1';
    w[1] = '0';
    w[2] = '=';
    w[3] = (char)('0' + h);
    put2(w + 4, sum - 100u * h);
    w[6] = SOH;
}

/* fl_builder_finish() in general: any state, any BodyLength. */
COLD static int finish_slow(struct fl_builder *b, const char **out, size_t *n)
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
    put_trailer(b->buf + b->pos, fl_checksum(b->buf + b->start, b->pos - b->start));
    b->pos += 7;
    *out = b->buf + b->start;
    *n = b->pos - b->start;
    b->failed = FL_ESTATE;
    b->fast_end = 0;
    return FL_OK;
}

int fl_builder_finish(struct fl_builder *b, const char **out, size_t *n)
{
#if defined(FL_SWAR_DIGITS) && defined(__SSE2__)
    /* The usual case: a message being built (failed is 0 only after a successful begin, which
     * leaves a buffer, a BeginString and MsgType behind) with a BodyLength of up to 7 digits
     * and a BeginString of 3 to 11 bytes (a head of 8 to 16). Fields are read once: the
     * stores into the buffer below may alias them. */
    size_t pos = b->pos, body = b->body, head_len = b->head_len;
    size_t body_len = pos - body;
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    char *buf = b->buf;
    if (LIKELY(b->failed == 0) && LIKELY(body_len - 16u < 10000000u - 16u) &&
        LIKELY(head_len - 8u <= 8u) && LIKELY(buf != NULL) && LIKELY(pos > RESERVE)) {
        size_t nd = count_digits(body_len);
        size_t k = head_len + nd + 1; /* "8=<BeginString><SOH>9=<BodyLength><SOH>" */
        if (LIKELY(k + body_len + 7 <= max_len)) {
            size_t start = body - k;
            char *h = buf + start;
            /* The digits and SOH end at the body: three of them (the usual) exactly, else seven
             * with leading zeros, which the head copied next covers (k >= 8, so they stay in
             * the prefix). */
            if (LIKELY(nd == 3)) { /* the usual */
                unsigned hd = (unsigned)body_len / 100u;
                uint16_t d;
                memcpy(&d, digit_pairs + 2 * (body_len - 100u * hd), 2);
                uint32_t y = ('0' + hd) | ((uint32_t)d << 8) | ((uint32_t)SOH << 24);
                memcpy(buf + body - 4, &y, 4);
            } else {
                uint64_t x = (digits8((uint32_t)body_len) >> 8) | ((uint64_t)SOH << 56);
                memcpy(buf + body - 8, &x, 8);
            }
            uint64_t h0, h1;
            memcpy(&h0, b->head, 8);
            memcpy(&h1, b->head + head_len - 8, 8);
            memcpy(h, &h0, 8);
            memcpy(h + head_len - 8, &h1, 8);
            put_trailer(buf + pos, frame_sum(h, pos - start));
            b->pos = pos + 7;
            b->start = start;
            b->failed = FL_ESTATE;
            b->fast_end = 0;
            *out = h;
            *n = pos + 7 - start;
            return FL_OK;
        }
    }
#endif
    return finish_slow(b, out, n);
}
