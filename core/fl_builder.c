/* fixlua — building outbound FIX messages (see fl_builder.h).
 *
 * The buffer starts with RESERVE bytes of room for "8=<BeginString><SOH>9=<BodyLength><SOH>",
 * whose length is only known at the end; the prefix is then written right-aligned in that room
 * so the body never moves. Number and time formatting are hand-written because snprintf costs
 * more than the rest of a message. */
#include "fl_builder.h"

#include <stdlib.h>
#include <string.h>

#define SOH '\001'
#define MAX_BEGIN_STRING 16
/* "8=" + BeginString + SOH + "9=" + 10 digits + SOH */
#define RESERVE (2 + MAX_BEGIN_STRING + 1 + 2 + 10 + 1)
#define INITIAL_CAP 512u

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void fl_builder_init(struct fl_builder *b)
{
    memset(b, 0, sizeof *b);
    b->failed = FL_ESTATE; /* nothing may be added before fl_builder_begin() */
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

/* Makes room for `need` more bytes (plus the trailer); 0 on success. */
static int reserve(struct fl_builder *b, size_t need)
{
    size_t want = b->pos + need + 7;
    size_t max_len = b->max_len ? b->max_len : FL_BUILDER_DEFAULT_MAX_LEN;
    if (want - RESERVE > max_len) {
        fail(b, FL_ELIMIT);
        return -1;
    }
    if (want <= b->cap)
        return 0;
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

size_t fl_format_int(char *dst, int64_t v)
{
    char tmp[20];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *end = tmp + sizeof tmp, *q = end;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        q -= 2;
        memcpy(q, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        q -= 2;
        memcpy(q, digit_pairs + 2 * u, 2);
    } else {
        *--q = (char)('0' + u);
    }
    if (v < 0)
        dst[n++] = '-';
    memcpy(dst + n, q, (size_t)(end - q));
    return n + (size_t)(end - q);
}

size_t fl_format_decimal(char *dst, struct fl_decimal d)
{
    if (d.scale <= 0) {
        size_t n = fl_format_int(dst, d.mantissa);
        /* A negative scale multiplies: append zeros (bounded; such values are rare). */
        for (int32_t i = d.scale; i < 0 && n < 40; i++)
            dst[n++] = '0';
        return n;
    }
    char digits[20];
    uint64_t u = d.mantissa < 0 ? (uint64_t)0 - (uint64_t)d.mantissa : (uint64_t)d.mantissa;
    size_t nd = fl_format_int(digits, (int64_t)(u & INT64_MAX));
    if (u > INT64_MAX) { /* INT64_MIN: its magnitude does not fit int64 */
        memcpy(digits, "9223372036854775808", 19);
        nd = 19;
    }
    size_t n = 0, scale = (size_t)d.scale;
    if (scale > 18)
        scale = 18;
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
    if (digits <= 0)
        return 0;
    if (digits > 9)
        digits = 9;
    if (digits != 3 && digits != 6 && digits != 9)
        digits = digits < 3 ? 3 : digits < 6 ? 6 : 9;
    uint32_t v = (uint32_t)ns_of_second;
    for (int i = digits; i < 9; i++)
        v /= 10;
    dst[0] = '.';
    for (int i = digits; i > 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return (size_t)digits + 1;
}

size_t fl_format_utc_time_only(char *dst, int64_t ns, int digits)
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

size_t fl_format_utc_timestamp(char *dst, int64_t ns, int digits)
{
    int64_t day_ns = INT64_C(86400000000000);
    int64_t days = ns / day_ns;
    if (ns % day_ns < 0)
        days--;
    int y, m, d;
    fl_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    put2(dst, (unsigned)(y / 100));
    put2(dst + 2, (unsigned)(y % 100));
    put2(dst + 4, (unsigned)m);
    put2(dst + 6, (unsigned)d);
    dst[8] = '-';
    return 9 + fl_format_utc_time_only(dst + 9, ns, digits);
}

/* Writes "tag=" and returns where the value goes, or NULL after a failure. */
static char *open_field(struct fl_builder *b, uint32_t tag, size_t value_max)
{
    if (b->failed || reserve(b, 11 + value_max + 1) != 0)
        return NULL;
    char *w = b->buf + b->pos;
    w += fl_format_int(w, tag);
    *w++ = '=';
    return w;
}

static void close_field(struct fl_builder *b, char *end)
{
    *end++ = SOH;
    b->pos = (size_t)(end - b->buf);
}

int fl_builder_begin(struct fl_builder *b, const char *begin_string, const char *msg_type,
                     size_t msg_type_len)
{
    size_t bl = strlen(begin_string);
    if (bl == 0 || bl > MAX_BEGIN_STRING || msg_type_len == 0 ||
        memchr(msg_type, SOH, msg_type_len) || memchr(begin_string, SOH, bl))
        return FL_EINVAL;
    b->failed = 0;
    b->pos = RESERVE;
    b->body = RESERVE;
    b->start = 0;
    b->begin_string = begin_string;
    b->begin_string_len = bl;
    fl_builder_add_str(b, 35, msg_type, msg_type_len);
    return b->failed;
}

void fl_builder_add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n)
{
    if (n == 0 || memchr(p, SOH, n)) {
        fail(b, FL_EINVAL);
        return;
    }
    char *w = open_field(b, tag, n);
    if (!w)
        return;
    memcpy(w, p, n);
    close_field(b, w + n);
}

void fl_builder_add_cstr(struct fl_builder *b, uint32_t tag, const char *s)
{
    fl_builder_add_str(b, tag, s, strlen(s));
}

void fl_builder_add_int(struct fl_builder *b, uint32_t tag, int64_t v)
{
    char *w = open_field(b, tag, 20);
    if (w)
        close_field(b, w + fl_format_int(w, v));
}

void fl_builder_add_char(struct fl_builder *b, uint32_t tag, char c)
{
    fl_builder_add_str(b, tag, &c, 1);
}

void fl_builder_add_bool(struct fl_builder *b, uint32_t tag, int v)
{
    fl_builder_add_char(b, tag, v ? 'Y' : 'N');
}

void fl_builder_add_decimal(struct fl_builder *b, uint32_t tag, struct fl_decimal d)
{
    char *w = open_field(b, tag, 41);
    if (w)
        close_field(b, w + fl_format_decimal(w, d));
}

void fl_builder_add_utc_timestamp(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    char *w = open_field(b, tag, 27);
    if (w)
        close_field(b, w + fl_format_utc_timestamp(w, ns, digits));
}

void fl_builder_add_utc_time_only(struct fl_builder *b, uint32_t tag, int64_t ns, int digits)
{
    char *w = open_field(b, tag, 18);
    if (w)
        close_field(b, w + fl_format_utc_time_only(w, ns, digits));
}

void fl_builder_add_date(struct fl_builder *b, uint32_t tag, struct fl_date d)
{
    if (d.year < 0 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31) {
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
    fl_builder_add_int(b, len_tag, (int64_t)n);
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
    if (!b->buf || b->pos <= RESERVE || !b->begin_string)
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
    k += fl_format_int(prefix + k, (int64_t)(b->pos - b->body));
    prefix[k++] = SOH;
    b->start = b->body - k;
    memcpy(b->buf + b->start, prefix, k);
    /* reserve() always leaves 7 bytes for the trailer. */
    unsigned sum = 0;
    const unsigned char *u = (const unsigned char *)b->buf + b->start;
    size_t len = b->pos - b->start;
    for (size_t i = 0; i < len; i++)
        sum += u[i];
    sum &= 0xff;
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
