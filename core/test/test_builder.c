/* fixlua — unit tests for fl_builder: building and serialising outbound messages.
 *
 * Every finished frame is checked independently of fl_frame.c: BodyLength is recounted and
 * CheckSum resummed here. Covers the round trip builder -> frame -> parse, the header order,
 * every rejection (SOH, empty value, tag 0, size limit, state), the number, decimal and time
 * formats, and that reusing a builder and a message does not grow them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_frame.h"
#include "fl_msg.h"
#include "fl_test.h"

#define SOH '\001'
#define NS INT64_C(1000000000)

/* Checks a frame without fl_frame: "8=..|9=N|" with N the byte count up to "10=", then
 * "10=SSS|" with SSS the byte sum mod 256, and nothing after. Returns 1 when it holds. */
static int frame_is_valid(const char *p, size_t n)
{
    if (n < 20 || memcmp(p, "8=", 2) != 0 || p[n - 1] != SOH)
        return 0;
    const char *s1 = memchr(p, SOH, n);
    if (!s1 || (size_t)(s1 - p) + 3 > n || memcmp(s1 + 1, "9=", 2) != 0)
        return 0;
    size_t body_len = 0;
    const char *q = s1 + 3;
    while (q < p + n && *q >= '0' && *q <= '9')
        body_len = body_len * 10 + (size_t)(*q++ - '0');
    if (q >= p + n || *q != SOH)
        return 0;
    size_t body_off = (size_t)(q + 1 - p);
    if (body_off + body_len + 7 != n || memcmp(p + body_off + body_len, "10=", 3) != 0)
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < body_off + body_len; i++)
        sum += (unsigned char)p[i];
    char want[4];
    snprintf(want, sizeof want, "%03u", sum % 256);
    return memcmp(p + n - 4, want, 3) == 0;
}

/* The frame as text with '|' for SOH, for comparisons. */
static const char *show(const char *p, size_t n, char *buf, size_t cap)
{
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = p[i] == SOH ? '|' : p[i];
    buf[k] = '\0';
    return buf;
}

FL_TEST(test_round_trip)
{
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    const int64_t t = INT64_C(1710510307) * NS + 123456789; /* 2024-03-15 13:45:07.123456789 */

    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_cstr(&b, 49, "CLIENT");
    fl_builder_add_cstr(&b, 56, "EXEC");
    fl_builder_add_int(&b, 34, 8);
    fl_builder_add_utc_timestamp(&b, 52, t, 3);
    fl_builder_add_data(&b, 212, 213, "<x>\001</x>", 8);
    fl_builder_add_str(&b, 11, "ORD-0001xyz", 8);
    fl_builder_add_char(&b, 21, '1');
    fl_builder_add_decimal(&b, 38, (struct fl_decimal){100, 0});
    fl_builder_add_decimal(&b, 44, (struct fl_decimal){10125, 2});
    fl_builder_add_char(&b, 54, '1');
    fl_builder_add_cstr(&b, 55, "IBM");
    fl_builder_add_utc_timestamp(&b, 60, t, 9);
    fl_builder_add_bool(&b, 114, 1);
    fl_builder_add_date(&b, 75, (struct fl_date){2024, 3, 15});
    fl_builder_add_utc_time_only(&b, 273, t, 6);
    fl_builder_add_data(&b, 95, 96, "a\001b=c\00110=000\001", 13);
    fl_builder_add_int(&b, 9999, -42);
    const char *out;
    size_t n;
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));

    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(out, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fr.len, n);
    FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);

    static const struct {
        uint32_t tag;
        const char *value;
    } want[] = {
        {8, "FIX.4.4"}, {9, NULL}, {35, "D"}, {49, "CLIENT"}, {56, "EXEC"}, {34, "8"},
        {52, "20240315-13:45:07.123"}, {212, "8"}, {213, "<x>\001</x>"}, {11, "ORD-0001"},
        {21, "1"}, {38, "100"}, {44, "101.25"}, {54, "1"}, {55, "IBM"},
        {60, "20240315-13:45:07.123456789"}, {114, "Y"}, {75, "20240315"},
        {273, "13:45:07.123456"}, {95, "13"}, {96, "a\001b=c\00110=000\001"}, {9999, "-42"},
        {10, NULL},
    };
    FL_CHECK_INT(m.nfields, sizeof want / sizeof want[0]);
    for (uint32_t i = 0; i < m.nfields; i++) {
        FL_CHECK_INT(m.fields[i].tag, want[i].tag);
        if (want[i].value)
            FL_CHECK_STRN(fl_msg_value(&m, i), m.fields[i].len, want[i].value);
    }
    int64_t v;
    FL_CHECK_INT(fl_msg_get_int(&m, 9, &v), FL_OK);
    FL_CHECK_INT(v, fr.body_len);
    int64_t ns;
    int digits;
    FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 60, &ns, &digits), FL_OK);
    FL_CHECK(ns == t);
    FL_CHECK_INT(digits, 9);
    struct fl_decimal d;
    FL_CHECK_INT(fl_msg_get_decimal(&m, 44, &d), FL_OK);
    FL_CHECK(d.mantissa == 10125 && d.scale == 2);
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_exact_bytes_and_header_order)
{
    struct fl_builder b;
    char text[256];
    fl_builder_init(&b);
    const char *out;
    size_t n;
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.2", "0", 1), FL_OK);
    fl_builder_add_int(&b, 34, 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    /* "35=0|34=1|" is 10 bytes; "8=FIX.4.2|9=10|35=0|34=1|" sums to 163 mod 256. */
    FL_CHECK(strcmp(show(out, n, text, sizeof text), "8=FIX.4.2|9=10|35=0|34=1|10=163|") == 0);
    FL_CHECK(frame_is_valid(out, n));

    /* Each BeginString; 8, 9, 35 always first whatever the call order of the rest. */
    static const char *const versions[] = {"FIX.4.0", "FIX.4.1", "FIX.4.2",
                                           "FIX.4.3", "FIX.4.4", "FIXT.1.1"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        FL_CHECK_INT(fl_builder_begin(&b, versions[i], "AE", 2), FL_OK);
        fl_builder_add_cstr(&b, 55, "X");
        fl_builder_add_cstr(&b, 49, "S");
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK(frame_is_valid(out, n));
        char head[64];
        int hl = snprintf(head, sizeof head, "8=%s|9=16|35=AE|55=X|49=S|10=", versions[i]);
        FL_CHECK(strncmp(show(out, n, text, sizeof text), head, (size_t)hl) == 0);
    }
    /* A three-digit and a four-digit BodyLength. */
    char big[2000];
    memset(big, 'v', sizeof big);
    for (size_t len = 90; len < 1100; len += 101) {
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
        fl_builder_add_str(&b, 58, big, len);
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK(frame_is_valid(out, n));
    }
end:
    fl_builder_release(&b);
}

FL_TEST(test_rejections)
{
    struct fl_builder b;
    const char *out;
    size_t n;
    fl_builder_init(&b);

    /* SOH in a plain value; the same bytes through add_data are fine. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_str(&b, 58, "a\001b", 3);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_data(&b, 95, 96, "a\001b", 3);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));

    /* Empty values, through every entry point that takes one. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_str(&b, 58, "x", 0);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_cstr(&b, 58, "");
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_data(&b, 95, 96, "", 0);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_char(&b, 54, '\001');
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);

    /* Tag 0 is not a tag, and the parser reads at most nine digits. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_int(&b, 0, 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    fl_builder_add_int(&b, 1000000000, 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);

    /* The first error is the one reported; later adds do nothing. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A", 1), FL_OK);
    b.max_len = 64;
    fl_builder_add_str(&b, 58, "", 0);
    fl_builder_add_str(&b, 58, "0123456789012345678901234567890123456789012345678901234567", 58);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    b.max_len = 0;

    /* begin() validates its arguments and leaves a usable builder after a failure. */
    FL_CHECK_INT(fl_builder_begin(&b, "", "A", 1), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4.0123456789", "A", 1), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4\001.4", "A", 1), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "", 0), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "A\001", 2), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.5.0SP2.CUST1", "A", 1), FL_OK);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));

    /* Impossible dates and unrepresentable decimal scales. */
    static const struct fl_date bad_dates[] = {{2023, 2, 29}, {2024, 2, 30}, {2024, 4, 31},
                                               {2024, 13, 1}, {2024, 0, 1},  {2024, 1, 0},
                                               {10000, 1, 1}, {-1, 1, 1},    {2024, 1, 32},
                                               {2024, 1, -5}, {2024, -1, 1}};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
        fl_builder_add_date(&b, 75, bad_dates[i]);
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    }
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_decimal(&b, 44, (struct fl_decimal){1, FL_DECIMAL_MAX_SCALE + 1});
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_decimal(&b, 44, (struct fl_decimal){1, FL_DECIMAL_MIN_SCALE - 1});
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);

    /* add_raw wants whole fields. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_raw(&b, "55=IBM", 6);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_EINVAL);
end:
    fl_builder_release(&b);
}

FL_TEST(test_size_limit)
{
    struct fl_builder b;
    const char *out;
    size_t n;
    char value[512];
    memset(value, 'x', sizeof value);
    fl_builder_init(&b);

    /* Find the frame size for a 200-byte value, then allow exactly that and one byte less. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_str(&b, 58, value, 200);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    size_t exact = n;
    b.max_len = exact;
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_str(&b, 58, value, 200);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK_INT(n, exact);
    /* The receiver with the same limit accepts it. */
    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(out, n, exact, &fr), FL_FRAME_OK);
    b.max_len = exact - 1;
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_str(&b, 58, value, 200);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ELIMIT);
    /* Far over: caught while adding, before the buffer grows. */
    b.max_len = 100;
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    size_t cap = b.cap;
    fl_builder_add_str(&b, 58, value, sizeof value);
    FL_CHECK_INT(b.cap, cap);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ELIMIT);

    /* The default limit (1 MB). */
    b.max_len = 0;
    size_t huge = FL_BUILDER_DEFAULT_MAX_LEN + 1;
    char *big = malloc(huge);
    FL_CHECK(big != NULL);
    memset(big, 'y', huge);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_str(&b, 58, big, huge);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ELIMIT);
    /* The whole frame counts: "8=FIX.4.4|9=NNNNNNN|" (20) + "35=B|95=NNNNNNN|96=" (19) + data
     * + SOH + "10=SSS|" (7) is data + 47 bytes, so this is the largest that fits. */
    size_t max_data = FL_BUILDER_DEFAULT_MAX_LEN - 47;
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_data(&b, 95, 96, big, max_data);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK_INT(n, FL_BUILDER_DEFAULT_MAX_LEN);
    FL_CHECK(frame_is_valid(out, n));
    FL_CHECK_INT(fl_frame_scan(out, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "B", 1), FL_OK);
    fl_builder_add_data(&b, 95, 96, big, max_data + 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ELIMIT);
    free(big);
end:
    fl_builder_release(&b);
}

FL_TEST(test_state)
{
    struct fl_builder b;
    const char *out;
    size_t n;
    fl_builder_init(&b);
    /* Nothing before begin(). */
    fl_builder_add_int(&b, 34, 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ESTATE);
    FL_CHECK(b.buf == NULL);
    /* After finish(): adds and finish fail until the next begin(). */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "0", 1), FL_OK);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    char copy[64];
    FL_CHECK(n < sizeof copy);
    memcpy(copy, out, n);
    fl_builder_add_int(&b, 34, 2);
    fl_builder_add_str(&b, 58, "", 0);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ESTATE);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ESTATE);
    FL_CHECK(memcmp(b.buf + b.start, copy, 10) == 0); /* the frame was not touched */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "0", 1), FL_OK);
    fl_builder_add_int(&b, 34, 2);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));
    /* A release()d builder is back to its initial state. */
    fl_builder_release(&b);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_ESTATE);
    fl_builder_release(NULL);
end:
    fl_builder_release(&b);
}

FL_TEST(test_begin_string_is_copied)
{
    struct fl_builder b;
    char text[128];
    const char *out;
    size_t n;
    fl_builder_init(&b);
    char bs[16];
    strcpy(bs, "FIX.4.4");
    FL_CHECK_INT(fl_builder_begin(&b, bs, "0", 1), FL_OK);
    strcpy(bs, "XXXXXXXXXXX");
    fl_builder_add_int(&b, 34, 1);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(strncmp(show(out, n, text, sizeof text), "8=FIX.4.4|9=", 12) == 0);
end:
    fl_builder_release(&b);
}

FL_TEST(test_format_int)
{
    static const struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0"}, {1, "1"}, {-1, "-1"}, {9, "9"}, {10, "10"}, {99, "99"}, {100, "100"},
        {12345, "12345"}, {-1000000, "-1000000"}, {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"}, {INT64_MIN + 1, "-9223372036854775807"},
    };
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[24];
        size_t k = fl_format_int(buf, cases[i].v);
        FL_CHECK_STRN(buf, k, cases[i].s);
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "8", 1), FL_OK);
        fl_builder_add_int(&b, 14, cases[i].v);
        const char *out;
        size_t n;
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK(frame_is_valid(out, n));
        FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
        int64_t back;
        FL_CHECK_INT(fl_msg_get_int(&m, 14, &back), FL_OK);
        FL_CHECK(back == cases[i].v);
    }
    /* Every power of ten and 2^32, one below and one above, both signs (the digit loop changes
     * width at 2^32), as printf writes them. */
    int64_t p10 = 1;
    for (int d = 0; d < 19; d++) {
        const int64_t base[] = {p10, INT64_C(4294967296)};
        for (size_t bi = 0; bi < 2; bi++)
            for (int64_t e = -1; e <= 1; e++)
                for (int sign = -1; sign <= 1; sign += 2) {
                    int64_t v = sign * (base[bi] + e);
                    char buf[24], want[24];
                    size_t k = fl_format_int(buf, v);
                    snprintf(want, sizeof want, "%" PRId64, v);
                    FL_CHECK_STRN(buf, k, want);
                }
        if (d < 18)
            p10 *= 10;
    }
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_format_decimal)
{
    static const struct {
        struct fl_decimal d;
        const char *s;
    } cases[] = {
        {{0, 0}, "0"},
        {{5, 0}, "5"},
        {{-5, 0}, "-5"},
        {{10125, 2}, "101.25"},
        {{-1250, 2}, "-12.50"},
        {{5, 1}, "0.5"},
        {{-5, 1}, "-0.5"},
        {{10, 1}, "1.0"},
        {{1, 3}, "0.001"},
        {{-1, 6}, "-0.000001"},
        {{0, 2}, "0.00"},
        {{123, -2}, "12300"},
        {{-123, -3}, "-123000"},
        {{0, -2}, "0"},
        {{INT64_C(123456789012345678), 4}, "12345678901234.5678"},
        {{INT64_MAX, 18}, "9.223372036854775807"},
        {{INT64_MAX, 19}, "0.9223372036854775807"},
        {{INT64_MIN, 2}, "-92233720368547758.08"},
        {{INT64_MIN, 0}, "-9223372036854775808"},
        {{1, 20}, "0.00000000000000000001"},
        {{INT64_MIN, FL_DECIMAL_MAX_SCALE},
         "-0.00000000000000000009223372036854775808"},
        {{INT64_MIN, FL_DECIMAL_MIN_SCALE}, "-9223372036854775808000000000000000000"},
    };
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[48];
        memset(buf, '#', sizeof buf);
        size_t k = fl_format_decimal(buf, cases[i].d);
        FL_CHECK(k <= 41);
        FL_CHECK_INT(buf[k], '#'); /* nothing written past the result */
        FL_CHECK_STRN(buf, k, cases[i].s);
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
        fl_builder_add_decimal(&b, 44, cases[i].d);
        const char *out;
        size_t n;
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
        const char *p;
        size_t vn;
        FL_CHECK_INT(fl_msg_get_str(&m, 44, &p, &vn), FL_OK);
        FL_CHECK_STRN(p, vn, cases[i].s);
        /* What fits the parser's 18 digits reads back as the same decimal. */
        struct fl_decimal back;
        if (fl_parse_decimal(p, vn, &back) == FL_OK && cases[i].d.scale >= 0)
            FL_CHECK(back.mantissa == cases[i].d.mantissa && back.scale == cases[i].d.scale);
    }
    /* Out-of-range scales are clamped by the formatter, never overflow its buffer. */
    char buf[48];
    memset(buf, '#', sizeof buf);
    size_t k = fl_format_decimal(buf, (struct fl_decimal){INT64_MIN, INT32_MAX});
    FL_CHECK(k <= 41 && buf[k] == '#');
    k = fl_format_decimal(buf, (struct fl_decimal){INT64_MIN, INT32_MIN});
    FL_CHECK(k <= 41);
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_format_times)
{
    static const struct {
        int64_t ns;
        int digits;
        const char *s;
    } stamps[] = {
        {0, 0, "19700101-00:00:00"},
        {0, 3, "19700101-00:00:00.000"},
        {0, 6, "19700101-00:00:00.000000"},
        {0, 9, "19700101-00:00:00.000000000"},
        {INT64_C(2147483648) * NS + 123456789, 9, "20380119-03:14:08.123456789"},
        {INT64_C(2147483648) * NS + 123456789, 6, "20380119-03:14:08.123456"},
        {INT64_C(2147483648) * NS + 123456789, 3, "20380119-03:14:08.123"},
        {INT64_C(2147483648) * NS + 123456789, 0, "20380119-03:14:08"},
        {INT64_C(4102444800) * NS, 3, "21000101-00:00:00.000"},
        {INT64_C(951782400) * NS, 0, "20000229-00:00:00"},
        {-1, 9, "19691231-23:59:59.999999999"},
        {-NS, 0, "19691231-23:59:59"},
        {INT64_MAX, 9, "22620411-23:47:16.854775807"},
        {INT64_C(-9223286400) * NS, 0, "16770922-00:00:00"},
        /* unusual precisions round up to the next of 3/6/9 digits; more than 9 is 9 */
        {123456789, 1, "19700101-00:00:00.123"},
        {123456789, 4, "19700101-00:00:00.123456"},
        {123456789, 12, "19700101-00:00:00.123456789"},
        {123456789, -1, "19700101-00:00:00"},
    };
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
        char buf[32];
        size_t k = fl_format_utc_timestamp(buf, stamps[i].ns, stamps[i].digits);
        FL_CHECK(k <= 27);
        FL_CHECK_STRN(buf, k, stamps[i].s);
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "0", 1), FL_OK);
        fl_builder_add_utc_timestamp(&b, 52, stamps[i].ns, stamps[i].digits);
        const char *out;
        size_t n;
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
        const char *p;
        size_t vn;
        FL_CHECK_INT(fl_msg_get_str(&m, 52, &p, &vn), FL_OK);
        FL_CHECK_STRN(p, vn, stamps[i].s);
        /* At 9 digits the value reads back exactly. */
        int64_t back;
        if (stamps[i].digits == 9) {
            FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 52, &back, NULL), FL_OK);
            FL_CHECK(back == stamps[i].ns);
        }
    }
    static const struct {
        int64_t ns;
        int digits;
        const char *s;
    } times[] = {
        {0, 0, "00:00:00"},
        {(13 * 3600 + 45 * 60 + 7) * NS + 500000000, 3, "13:45:07.500"},
        {(13 * 3600 + 45 * 60 + 7) * NS + 500000000, 0, "13:45:07"},
        {86399 * NS + 999999999, 9, "23:59:59.999999999"},
        {-1, 6, "23:59:59.999999"},             /* taken modulo one day */
        {INT64_C(1710510307) * NS, 0, "13:45:07"}, /* a full timestamp: its time of day */
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char buf[24];
        size_t k = fl_format_utc_time_only(buf, times[i].ns, times[i].digits);
        FL_CHECK(k <= 18);
        FL_CHECK_STRN(buf, k, times[i].s);
    }
    /* The builder keeps the last day's YYYYMMDD: crossing midnight either way, across the
     * epoch, and back must still write the right date. */
    static const int64_t across[] = {
        INT64_C(1710460799) * NS + 999000000, /* 2024-03-14 23:59:59.999 */
        INT64_C(1710460800) * NS,             /* 2024-03-15 00:00:00.000 */
        INT64_C(1710460799) * NS,             /* back to the 14th */
        -1,                                   /* 1969-12-31 23:59:59.999999999 */
        0,
        INT64_C(1710460800) * NS + 1,
    };
    for (size_t i = 0; i < sizeof across / sizeof across[0]; i++) {
        char want[32];
        size_t k = fl_format_utc_timestamp(want, across[i], 9);
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "0", 1), FL_OK);
        fl_builder_add_utc_timestamp(&b, 52, across[i], 9);
        const char *o;
        size_t on;
        FL_CHECK_INT(fl_builder_finish(&b, &o, &on), FL_OK);
        FL_CHECK_INT(fl_msg_parse(&m, o, on), FL_OK);
        const char *p;
        size_t vn;
        FL_CHECK_INT(fl_msg_get_str(&m, 52, &p, &vn), FL_OK);
        FL_CHECK(vn == k && memcmp(p, want, k) == 0);
        int64_t back;
        FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 52, &back, NULL), FL_OK);
        FL_CHECK(back == across[i]);
    }
    /* Dates, bools, chars through the builder. */
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_date(&b, 75, (struct fl_date){2024, 2, 29});
    fl_builder_add_date(&b, 64, (struct fl_date){0, 1, 1});
    fl_builder_add_date(&b, 432, (struct fl_date){9999, 12, 31});
    fl_builder_add_bool(&b, 43, 0);
    fl_builder_add_bool(&b, 97, 7);
    fl_builder_add_utc_time_only(&b, 273, 0, 0);
    const char *out;
    size_t n;
    char text[256];
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    show(out, n, text, sizeof text);
    FL_CHECK(strstr(text, "|75=20240229|64=00000101|432=99991231|43=N|97=Y|273=00:00:00|") !=
             NULL);
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_tag_widths)
{
    static const uint32_t tags[] = {1,    9,     10,     99,      100,      999,      1000,
                                    9999, 10000, 99999, 100000, 1234567, 12345678, 999999999};
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "U1", 2), FL_OK);
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        fl_builder_add_int(&b, tags[i], (int64_t)i);
    const char *out;
    size_t n;
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));
    FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
    FL_CHECK_INT(m.nfields, 3 + sizeof tags / sizeof tags[0] + 1);
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        FL_CHECK_INT(m.fields[3 + i].tag, tags[i]);
        int64_t v;
        FL_CHECK_INT(fl_parse_int(fl_msg_value(&m, 3 + (uint32_t)i), m.fields[3 + i].len, &v),
                     FL_OK);
        FL_CHECK_INT(v, i);
    }
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_add_raw)
{
    struct fl_builder b;
    struct fl_msg m;
    const char *out;
    size_t n;
    char text[256];
    fl_builder_init(&b);
    fl_msg_init(&m);
    FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
    fl_builder_add_int(&b, 34, 5);
    fl_builder_add_raw(&b, "55=IBM\00154=1\001", 12);
    fl_builder_add_raw(&b, "", 0);
    fl_builder_add_int(&b, 38, 100);
    FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
    FL_CHECK(frame_is_valid(out, n));
    show(out, n, text, sizeof text);
    FL_CHECK(strncmp(text, "8=FIX.4.4|9=29|35=D|34=5|55=IBM|54=1|38=100|10=", 47) == 0);
    FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

FL_TEST(test_reuse_does_not_grow)
{
    struct fl_builder b;
    struct fl_msg m;
    fl_builder_init(&b);
    fl_msg_init(&m);
    size_t bcap = 0;
    uint32_t mcap = 0;
    char *bbuf = NULL;
    struct fl_field *mfields = NULL;
    for (int i = 0; i < 10000; i++) {
        FL_CHECK_INT(fl_builder_begin(&b, "FIX.4.4", "D", 1), FL_OK);
        fl_builder_add_cstr(&b, 49, "CLIENT");
        fl_builder_add_cstr(&b, 56, "EXEC");
        fl_builder_add_int(&b, 34, i + 1);
        fl_builder_add_utc_timestamp(&b, 52, INT64_C(1710510307) * NS + i * INT64_C(1000000), 3);
        fl_builder_add_int(&b, 11, INT64_C(1000000000) + i);
        fl_builder_add_char(&b, 54, i % 2 ? '1' : '2');
        fl_builder_add_cstr(&b, 55, "IBM");
        fl_builder_add_decimal(&b, 44, (struct fl_decimal){10000 + i, 2});
        fl_builder_add_int(&b, 38, (i % 100 + 1) * 100);
        const char *out;
        size_t n;
        FL_CHECK_INT(fl_builder_finish(&b, &out, &n), FL_OK);
        FL_CHECK_INT(fl_msg_parse(&m, out, n), FL_OK);
        FL_CHECK_INT(m.problem, FL_PARSE_OK);
        int64_t seq;
        FL_CHECK_INT(fl_msg_get_int(&m, 34, &seq), FL_OK);
        FL_CHECK_INT(seq, i + 1);
        if (i == 0) {
            FL_CHECK(frame_is_valid(out, n));
            bcap = b.cap;
            mcap = m.cap;
            bbuf = b.buf;
            mfields = m.fields;
        }
    }
    FL_CHECK_INT(b.cap, bcap);
    FL_CHECK_INT(m.cap, mcap);
    FL_CHECK(b.buf == bbuf && m.fields == mfields);
end:
    fl_builder_release(&b);
    fl_msg_release(&m);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(test_round_trip);
    FL_RUN(test_exact_bytes_and_header_order);
    FL_RUN(test_rejections);
    FL_RUN(test_size_limit);
    FL_RUN(test_state);
    FL_RUN(test_begin_string_is_copied);
    FL_RUN(test_format_int);
    FL_RUN(test_format_decimal);
    FL_RUN(test_format_times);
    FL_RUN(test_tag_widths);
    FL_RUN(test_add_raw);
    FL_RUN(test_reuse_does_not_grow);
    return FL_TEST_SUMMARY();
}
