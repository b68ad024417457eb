/* fixlua — unit tests for fl_frame: finding complete FIX frames in a byte stream.
 *
 * Frames are built here with BodyLength and CheckSum computed independently of fl_frame.c
 * ('|' stands for SOH). Covers every BeginString, every garbled reason, prefixes cut at every
 * byte, streams split at every byte, resynchronisation after garbage and after bad frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_frame.h"
#include "fl_test.h"

#define SOH '\001'

/* Builds "8=<bs>|9=<bodylen>|<body>10=<sum>|" into dst (cap bytes), '|' meaning SOH. bodylen
 * and sum are written as given when not NULL, else computed here. Returns the length. */
static size_t frame_ex(char *dst, size_t cap, const char *bs, const char *bodylen,
                       const char *body, const char *sum)
{
    char tmp[64];
    size_t body_n = strlen(body);
    int n = snprintf(dst, cap, "8=%s|9=", bs);
    if (bodylen)
        n += snprintf(dst + n, cap - (size_t)n, "%s|", bodylen);
    else
        n += snprintf(dst + n, cap - (size_t)n, "%zu|", body_n);
    memcpy(dst + n, body, body_n);
    n += (int)body_n;
    for (int i = 0; i < n; i++)
        if (dst[i] == '|')
            dst[i] = SOH;
    unsigned s = 0;
    for (int i = 0; i < n; i++)
        s += (unsigned char)dst[i];
    if (!sum) {
        snprintf(tmp, sizeof tmp, "%03u", s % 256);
        sum = tmp;
    }
    n += snprintf(dst + n, cap - (size_t)n, "10=%s|", sum);
    dst[n - 1] = SOH;
    return (size_t)n;
}

static size_t frame(char *dst, size_t cap, const char *bs, const char *body)
{
    return frame_ex(dst, cap, bs, NULL, body, NULL);
}

static const char heartbeat_body[] = "35=0|49=CLIENT|56=EXEC|34=2|52=20240315-13:45:07.123|";
static const char nos_body[] =
    "35=D|49=CLIENT|56=EXEC|34=8|52=20240315-13:45:07.123|1=ACC1|11=ORD-0001|21=1|38=100|"
    "40=2|44=101.25|54=1|55=IBM|59=0|60=20240315-13:45:07.123|";

struct scan_result {
    size_t ok;           /* frames found */
    size_t garbled;      /* GARBLED steps */
    size_t offs[8];      /* offsets of the first frames found */
    size_t lens[8];
    enum fl_frame_reason reasons[8]; /* first GARBLED reasons */
};

/* The loop a connection runs: scan, consume, repeat until NEED_MORE. Data arrives in chunks
 * of `chunk` bytes (0: all at once). */
static void scan_all(const char *p, size_t n, size_t chunk, size_t max_len,
                     struct scan_result *r)
{
    memset(r, 0, sizeof *r);
    size_t pos = 0, end = chunk && chunk < n ? chunk : n;
    for (;;) {
        struct fl_frame fr;
        enum fl_frame_status st = fl_frame_scan(p + pos, end - pos, max_len, &fr);
        if (st == FL_FRAME_OK) {
            if (r->ok < 8) {
                r->offs[r->ok] = pos;
                r->lens[r->ok] = fr.len;
            }
            r->ok++;
            pos += fr.len;
        } else if (st == FL_FRAME_GARBLED) {
            if (r->garbled < 8)
                r->reasons[r->garbled] = fr.reason;
            r->garbled++;
            if (fr.skip == 0 || fr.skip > end - pos) /* would loop forever or overrun */
                return;
            pos += fr.skip;
        } else if (end == n) {
            return;
        } else {
            end = chunk && end + chunk < n ? end + chunk : n;
        }
    }
}

FL_TEST(test_ok_every_begin_string)
{
    static const char *const versions[] = {"FIX.4.0", "FIX.4.1", "FIX.4.2",
                                           "FIX.4.3", "FIX.4.4", "FIXT.1.1"};
    char buf[512];
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
        size_t n = frame(buf, sizeof buf, versions[v], nos_body);
        struct fl_frame fr;
        FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_OK);
        FL_CHECK_INT(fr.len, n);
        FL_CHECK_INT(fr.begin_string_off, 2);
        FL_CHECK_STRN(buf + fr.begin_string_off, fr.begin_string_len, versions[v]);
        FL_CHECK_INT(fr.body_off, 2 + strlen(versions[v]) + 1 + 2 + 3 + 1);
        FL_CHECK_INT(fr.body_len, strlen(nos_body));
        FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NONE);
        FL_CHECK(memcmp(buf + fr.body_off, "35=D", 4) == 0);
        /* Trailing bytes after the frame do not change the answer. */
        memcpy(buf + n, "8=FIX.4.4", 9);
        FL_CHECK_INT(fl_frame_scan(buf, n + 9, 0, &fr), FL_FRAME_OK);
        FL_CHECK_INT(fr.len, n);
    }
end:;
}

FL_TEST(test_need_more_at_every_prefix)
{
    char buf[512];
    size_t n = frame(buf, sizeof buf, "FIX.4.4", nos_body);
    for (size_t k = 0; k < n; k++) {
        /* An exact-size copy so a read past k bytes would be caught by ASan/valgrind. */
        char *part = malloc(k ? k : 1);
        FL_CHECK(part != NULL);
        memcpy(part, buf, k);
        struct fl_frame fr;
        enum fl_frame_status st = fl_frame_scan(part, k, 0, &fr);
        free(part);
        if (st != FL_FRAME_NEED_MORE)
            fprintf(stderr, "  prefix %zu of %zu: status %d\n", k, n, (int)st);
        FL_CHECK_INT(st, FL_FRAME_NEED_MORE);
    }
    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fr.len, n);
end:;
}

FL_TEST(test_two_messages_split_at_every_boundary)
{
    char buf[1024];
    size_t n1 = frame(buf, sizeof buf, "FIX.4.4", nos_body);
    size_t n2 = frame(buf + n1, sizeof buf - n1, "FIXT.1.1", heartbeat_body);
    size_t n = n1 + n2;
    for (size_t k = 0; k <= n; k++) {
        /* First read k bytes, then the rest. */
        size_t pos = 0, end = k, ok = 0, garbled = 0, offs[2] = {0, 0};
        for (;;) {
            struct fl_frame fr;
            enum fl_frame_status st = fl_frame_scan(buf + pos, end - pos, 0, &fr);
            if (st == FL_FRAME_OK) {
                if (ok < 2)
                    offs[ok] = pos;
                ok++;
                pos += fr.len;
            } else if (st == FL_FRAME_GARBLED) {
                garbled++;
                pos += fr.skip;
            } else if (end < n) {
                end = n;
            } else {
                break;
            }
        }
        if (ok != 2 || garbled != 0)
            fprintf(stderr, "  split at %zu: %zu frames, %zu garbled\n", k, ok, garbled);
        FL_CHECK_INT(ok, 2);
        FL_CHECK_INT(garbled, 0);
        FL_CHECK_INT(offs[1], n1);
        FL_CHECK_INT(pos, n);
    }
    /* And fed one byte at a time. */
    struct scan_result r;
    scan_all(buf, n, 1, 0, &r);
    FL_CHECK_INT(r.ok, 2);
    FL_CHECK_INT(r.garbled, 0);
end:;
}

FL_TEST(test_body_length_wrong)
{
    char buf[512];
    struct fl_frame fr;
    size_t good = strlen(heartbeat_body);
    char bl[32];

    /* Too short: "10=" is not where BodyLength says. */
    snprintf(bl, sizeof bl, "%zu", good - 3);
    size_t n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
    FL_CHECK_INT(fr.skip, n); /* no other "8=FIX" in the buffer */

    /* Too short to even hold "35=x|". */
    n = frame_ex(buf, sizeof buf, "FIX.4.4", "3", heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NO_MSG_TYPE);

    /* Too long: a valid prefix until a "<SOH>10=...<SOH>" at or after the declared end
     * delimits the garbled message... */
    snprintf(bl, sizeof bl, "%zu", good + 2);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    memset(buf + n, 'x', 16);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan(buf, n + 16, 0, &fr), FL_FRAME_NEED_MORE);
    /* ...which the next frame's trailer does: both go. */
    size_t next = frame(buf + n + 16, sizeof buf - n - 16, "FIX.4.4", heartbeat_body);
    FL_CHECK_INT(fl_frame_scan(buf, n + 16 + next, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
    FL_CHECK_INT(fr.skip, n + 16 + next);
    /* ...or nothing does before the size limit: garbled, resumed at the next "8=FIX". */
    FL_CHECK_INT(fl_frame_scan(buf, n + 16, n + 8, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_TOO_LARGE);

    /* Non-numeric, zero, leading junk, trailing junk, too many digits, negative. */
    static const char *const bad[] = {"abc", "0", "00", " 56", "+56", "-56", "56x", "5 6", "",
                                      "1234567890", "0x38"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = frame_ex(buf, sizeof buf, "FIX.4.4", bad[i], heartbeat_body, NULL);
        FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
        if (fr.reason != FL_FRAME_REASON_BAD_BODY_LENGTH)
            fprintf(stderr, "  BodyLength \"%s\": reason %d\n", bad[i], (int)fr.reason);
        FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_BODY_LENGTH);
        FL_CHECK(fr.skip >= 1 && fr.skip <= n);
    }

    /* Leading zeros are a valid int ("00023" = 23) and are accepted. */
    snprintf(bl, sizeof bl, "000%zu", good);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fr.body_len, good);
end:;
}

FL_TEST(test_body_length_missing)
{
    char buf[512];
    struct fl_frame fr;
    /* No 9= at all: the second field is 35. */
    int n = snprintf(buf, sizeof buf, "8=FIX.4.4|%s10=000|", heartbeat_body);
    fl_test_soh(buf);
    FL_CHECK_INT(fl_frame_scan(buf, (size_t)n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NO_BODY_LENGTH);
    FL_CHECK_INT(fr.skip, (size_t)n);
    /* "9" alone is still a valid prefix; "3" is not. */
    FL_CHECK_INT(fl_frame_scan(buf, 11, 0, &fr), FL_FRAME_GARBLED);
    memcpy(buf, "8=FIX.4.4\0019", 11);
    FL_CHECK_INT(fl_frame_scan(buf, 11, 0, &fr), FL_FRAME_NEED_MORE);
    /* 9= in the wrong place: third field. */
    n = snprintf(buf, sizeof buf, "8=FIX.4.4|35=0|9=5|10=000|");
    fl_test_soh(buf);
    FL_CHECK_INT(fl_frame_scan(buf, (size_t)n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NO_BODY_LENGTH);
end:;
}

FL_TEST(test_msg_type_not_third)
{
    char buf[512];
    struct fl_frame fr;
    size_t n = frame(buf, sizeof buf, "FIX.4.4", "49=CLIENT|35=0|56=EXEC|34=2|");
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NO_MSG_TYPE);
    /* Caught as soon as the first byte of the body disagrees. */
    size_t body_off = strlen("8=FIX.4.4|9=29|");
    FL_CHECK_INT(fl_frame_scan(buf, body_off + 1, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fl_frame_scan(buf, body_off, 0, &fr), FL_FRAME_NEED_MORE);
end:;
}

FL_TEST(test_checksum_wrong)
{
    char buf[512];
    struct fl_frame fr;
    size_t n = frame(buf, sizeof buf, "FIX.4.4", heartbeat_body);
    unsigned right = (unsigned)((buf[n - 4] - '0') * 100 + (buf[n - 3] - '0') * 10 +
                                (buf[n - 2] - '0'));
    char sum[8];
    snprintf(sum, sizeof sum, "%03u", (right + 1) % 256);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, sum);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_CHECKSUM_MISMATCH);
    FL_CHECK_INT(fr.skip, n);

    /* Two digits, four digits, letters, sign, a value over 255: all malformed. */
    static const char *const bad[] = {"12", "1234", "AB1", "1A2", "-12", " 12", "12 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, bad[i]);
        memset(buf + n, 'z', 8); /* so a short field is not just a prefix */
        FL_CHECK_INT(fl_frame_scan(buf, n + 8, 0, &fr), FL_FRAME_GARBLED);
        if (fr.reason != FL_FRAME_REASON_BAD_CHECKSUM_FIELD)
            fprintf(stderr, "  CheckSum \"%s\": reason %d\n", bad[i], (int)fr.reason);
        FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
    }
    /* Three digits that cannot be a sum mod 256 still just mismatch. */
    n = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, "999");
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_CHECKSUM_MISMATCH);
end:;
}

FL_TEST(test_missing_final_soh)
{
    char buf[512];
    struct fl_frame fr;
    size_t n = frame(buf, sizeof buf, "FIX.4.4", heartbeat_body);
    /* Without its SOH the frame is still a prefix... */
    FL_CHECK_INT(fl_frame_scan(buf, n - 1, 0, &fr), FL_FRAME_NEED_MORE);
    /* ...and whatever arrives in its place makes it garbled. */
    size_t n2 = frame(buf + n - 1, sizeof buf - n + 1, "FIX.4.4", heartbeat_body);
    FL_CHECK_INT(fl_frame_scan(buf, n - 1 + n2, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
    /* The garbled message runs to the first "<SOH>10=...<SOH>": its CheckSum value only ends
     * at the next frame's first SOH, so that frame is lost with it (the peer resends it), as
     * in QuickFIX. */
    FL_CHECK_INT(fr.skip, n - 1 + strlen("8=FIX.4.4") + 1);
    /* The body's last SOH missing (BodyLength off by one the other way). */
    char bl[16];
    snprintf(bl, sizeof bl, "%zu", strlen(heartbeat_body) - 1);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
end:;
}

FL_TEST(test_begin_string)
{
    struct fl_frame fr;
    char buf[512];
    /* Partial "8=FIX" is a prefix; anything else is garbage. */
    FL_CHECK_INT(fl_frame_scan("", 0, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan("8", 1, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan("8=FI", 4, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan("8=FIX.4", 7, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan("8=FIZ", 5, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_NO_BEGIN_STRING);
    FL_CHECK_INT(fr.skip, 5);
    FL_CHECK_INT(fl_frame_scan("9=FIX", 5, 0, &fr), FL_FRAME_GARBLED);
    /* A BeginString that never ends. */
    memset(buf, 'X', sizeof buf);
    memcpy(buf, "8=FIX", 5);
    FL_CHECK_INT(fl_frame_scan(buf, 18, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan(buf, 64, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_BEGIN_STRING);
    FL_CHECK_INT(fr.skip, 64);
    /* The longest accepted BeginString is 16 bytes. */
    size_t n = frame(buf, sizeof buf, "FIX.5.0SP2.CUST1", heartbeat_body);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fr.begin_string_len, 16);
    n = frame(buf, sizeof buf, "FIX.5.0SP2.CUST12", heartbeat_body);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_BAD_BEGIN_STRING);
end:;
}

FL_TEST(test_too_large)
{
    char buf[512];
    struct fl_frame fr;
    size_t n = frame(buf, sizeof buf, "FIX.4.4", nos_body);
    FL_CHECK_INT(fl_frame_scan(buf, n, n, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fl_frame_scan(buf, n, n - 1, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_TOO_LARGE);
    /* Known from the header alone: no need to wait for the body. */
    FL_CHECK_INT(fl_frame_scan(buf, 20, n - 1, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_TOO_LARGE);
    /* The default limit (max_len 0) is FL_FRAME_DEFAULT_MAX_LEN. */
    char bl[16];
    snprintf(bl, sizeof bl, "%u", FL_FRAME_DEFAULT_MAX_LEN);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_TOO_LARGE);
    snprintf(bl, sizeof bl, "%u", FL_FRAME_DEFAULT_MAX_LEN - 100);
    n = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_NEED_MORE);
end:;
}

/* Deterministic bytes with no "8=FIX" anywhere (xorshift, then scrubbed). */
static void fill_garbage(char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = (char)(seed >> 24);
    }
    for (size_t i = 0; i + 5 <= n; i++)
        if (memcmp(p + i, "8=FIX", 5) == 0)
            p[i] = '7';
}

FL_TEST(test_garbage_before_message)
{
    const size_t garbage = 1u << 20;
    char *buf = malloc(garbage + 1024);
    FL_CHECK(buf != NULL);
    size_t n;
    struct scan_result r;

    /* 1 MB of random bytes, then a message: dropped in one step, not byte by byte. */
    fill_garbage(buf, garbage, 0x9e3779b97f4a7c15ull);
    n = garbage + frame(buf + garbage, 1024, "FIX.4.4", nos_body);
    scan_all(buf, n, 0, 0, &r);
    FL_CHECK_INT(r.ok, 1);
    FL_CHECK_INT(r.offs[0], garbage);
    FL_CHECK(r.garbled >= 1 && r.garbled <= 2);
    FL_CHECK_INT(r.reasons[0], FL_FRAME_REASON_NO_BEGIN_STRING);
    /* Arriving in 64 KB reads: about one step per read. */
    scan_all(buf, n, 65536, 0, &r);
    FL_CHECK_INT(r.ok, 1);
    FL_CHECK(r.garbled <= 2 * (garbage / 65536) + 2);

    /* Garbage full of partial marks ("8", "8=", "8=F", "8=FI", "8=FIx"). */
    static const char *const marks[] = {"8", "8=", "8=F", "8=FI", "8=FIx", "8=FI8=F"};
    size_t pos = 0, k = 0;
    while (pos + 16 < garbage) {
        const char *mk = marks[k++ % (sizeof marks / sizeof marks[0])];
        size_t ml = strlen(mk);
        memcpy(buf + pos, mk, ml);
        memset(buf + pos + ml, 'g', 9 - ml);
        pos += 9;
    }
    memset(buf + pos, 'g', garbage - pos);
    memcpy(buf + garbage - 4, "8=FI", 4); /* a partial mark right before the real one */
    n = garbage + frame(buf + garbage, 1024, "FIX.4.4", nos_body);
    scan_all(buf, n, 0, 0, &r);
    FL_CHECK_INT(r.ok, 1);
    FL_CHECK_INT(r.offs[0], garbage);
    FL_CHECK(r.garbled >= 1 && r.garbled <= 3);
    scan_all(buf, n, 65536, 0, &r);
    FL_CHECK_INT(r.ok, 1);
    FL_CHECK(r.garbled <= 2 * (garbage / 65536) + 3);

    /* Garbage ending in a partial mark that a later read completes as a real frame. */
    n = frame(buf + 3, 1024, "FIX.4.4", heartbeat_body);
    memcpy(buf, "abc", 3);
    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(buf, 6, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.skip, 3); /* keeps "8=F" */
    FL_CHECK_INT(fl_frame_scan(buf + 3, 3, 0, &fr), FL_FRAME_NEED_MORE);
    FL_CHECK_INT(fl_frame_scan(buf + 3, n, 0, &fr), FL_FRAME_OK);
end:
    free(buf);
}

FL_TEST(test_garbled_frame_does_not_lose_next)
{
    char buf[2048];
    char bl[16];
    struct scan_result r;
    size_t hb = strlen(heartbeat_body);

    /* Each case: a bad frame, then two good ones. Both good frames must be found, except when
     * the bad frame's BodyLength covers the start of the next one (cases 0 and 5): BodyLength
     * delimits the garbled message, so that frame goes with it (as in QuickFIX and FIX
     * acceptance test 2m) and the peer resends it; the frame after it is found. */
    for (int c = 0; c < 7; c++) {
        size_t n1;
        switch (c) {
        case 0: /* BodyLength too long: ends inside the next frame */
            snprintf(bl, sizeof bl, "%zu", hb + 20);
            n1 = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
            break;
        case 1: /* BodyLength too short */
            snprintf(bl, sizeof bl, "%zu", hb - 10);
            n1 = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
            break;
        case 2: /* bad checksum */
            n1 = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, "000");
            if (fl_checksum(buf, n1 - 7) == 0)
                n1 = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, "001");
            break;
        case 3: /* bad BodyLength syntax */
            n1 = frame_ex(buf, sizeof buf, "FIX.4.4", "x9", heartbeat_body, NULL);
            break;
        case 4: /* MsgType missing */
            n1 = frame(buf, sizeof buf, "FIX.4.4", "49=A|56=B|34=1|");
            break;
        case 5: /* truncated frame: the next one starts mid-field */
            n1 = frame(buf, sizeof buf, "FIX.4.4", nos_body) / 2;
            break;
        default: /* checksum field malformed */
            n1 = frame_ex(buf, sizeof buf, "FIX.4.4", NULL, heartbeat_body, "1x3");
            break;
        }
        size_t n2 = frame(buf + n1, sizeof buf - n1, "FIX.4.4", nos_body);
        size_t n3 = frame(buf + n1 + n2, sizeof buf - n1 - n2, "FIX.4.2", heartbeat_body);
        int swallows = c == 0 || c == 5;
        scan_all(buf, n1 + n2 + n3, 0, 0, &r);
        if (r.ok != (swallows ? 1u : 2u))
            fprintf(stderr, "  case %d: %zu frames, %zu garbled\n", c, r.ok, r.garbled);
        FL_CHECK_INT(r.ok, swallows ? 1 : 2);
        FL_CHECK(r.garbled >= 1);
        FL_CHECK_INT(r.offs[0], swallows ? n1 + n2 : n1);
        if (!swallows)
            FL_CHECK_INT(r.offs[1], n1 + n2);
        /* Same when the bytes arrive one at a time. */
        scan_all(buf, n1 + n2 + n3, 1, 0, &r);
        FL_CHECK_INT(r.ok, swallows ? 1 : 2);
        FL_CHECK_INT(r.offs[0], swallows ? n1 + n2 : n1);
    }

    /* BodyLength over-stated so that it ends exactly on the next frame's CheckSum: the
     * bad frame looks delimited, its sum fails, and the next frame must survive. */
    size_t n2 = frame(buf + 512, 512, "FIX.4.4", nos_body);
    snprintf(bl, sizeof bl, "%zu", hb + n2 - 7);
    size_t n1 = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    n1 -= 7; /* drop its own trailer: the next frame follows the body directly */
    n2 = frame(buf + n1, sizeof buf - n1, "FIX.4.4", nos_body);
    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(buf, n1 + n2, 0, &fr), FL_FRAME_GARBLED);
    FL_CHECK_INT(fr.reason, FL_FRAME_REASON_CHECKSUM_MISMATCH);
    FL_CHECK_INT(fr.skip, n1);
    scan_all(buf, n1 + n2, 0, 0, &r);
    FL_CHECK_INT(r.ok, 1);
    FL_CHECK_INT(r.offs[0], n1);

    /* Over-stated past everything received: a valid prefix until enough bytes arrive, then
     * garbled, and the frames that were waiting behind it are all found. */
    snprintf(bl, sizeof bl, "%zu", hb + 400);
    n1 = frame_ex(buf, sizeof buf, "FIX.4.4", bl, heartbeat_body, NULL);
    n2 = frame(buf + n1, sizeof buf - n1, "FIX.4.4", heartbeat_body);
    FL_CHECK_INT(fl_frame_scan(buf, n1 + n2, 0, &fr), FL_FRAME_NEED_MORE);
    size_t n = n1 + n2;
    while (n < n1 + 400 + 64)
        n += frame(buf + n, sizeof buf - n, "FIX.4.4", heartbeat_body);
    scan_all(buf, n, 0, 0, &r);
    FL_CHECK_INT(r.garbled, 1);
    /* The garbled message ends with the first trailer at or after its declared end: the
     * frames it covers go with it, every frame after it is found. */
    size_t declared_end = n1 - 7 + 400; /* n1 - 7 is where its own trailer starts */
    size_t k = 0;
    while (n1 + (k + 1) * n2 - 8 < declared_end - 1)
        k++;
    FL_CHECK_INT(r.offs[0], n1 + (k + 1) * n2);
    FL_CHECK_INT(r.ok, (n - n1) / n2 - (k + 1));
end:;
}

FL_TEST(test_checksum_function)
{
    FL_CHECK_INT(fl_checksum("", 0), 0);
    FL_CHECK_INT(fl_checksum("A", 1), 65);
    FL_CHECK_INT(fl_checksum("\xff\xff", 2), (255 + 255) % 256);
    /* Long inputs (the vectorised path) against a plain sum. */
    static char big[100003];
    unsigned want = 0;
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (char)(i * 7 + 3);
        want += (unsigned char)big[i];
    }
    for (size_t len = 0; len < 300; len++) {
        unsigned s = 0;
        for (size_t i = 0; i < len; i++)
            s += (unsigned char)big[i + 1];
        FL_CHECK_INT(fl_checksum(big + 1, len), s % 256);
    }
    FL_CHECK_INT(fl_checksum(big, sizeof big), want % 256);
    /* The FIX standard's example: "8=FIX.4.2|9=...|...|" sums to its 10= value. */
    char buf[256];
    size_t n = frame(buf, sizeof buf, "FIX.4.2", "35=0|49=A|56=B|34=1|52=20000101-00:00:00|");
    unsigned declared = (unsigned)atoi(buf + n - 4);
    FL_CHECK_INT(fl_checksum(buf, n - 7), declared);
end:;
}

FL_TEST(test_reason_text)
{
    for (int r = 0; r < FL_FRAME_REASON__COUNT; r++) {
        const char *t = fl_frame_reason_text((enum fl_frame_reason)r);
        FL_CHECK(t != NULL && t[0] != '\0');
        for (int q = 0; q < r; q++)
            FL_CHECK(strcmp(t, fl_frame_reason_text((enum fl_frame_reason)q)) != 0);
    }
    FL_CHECK(strcmp(fl_frame_reason_text(FL_FRAME_REASON__COUNT), "unknown") == 0);
    FL_CHECK(strcmp(fl_frame_reason_text((enum fl_frame_reason)-1), "unknown") == 0);
end:;
}

FL_TEST(test_data_field_with_frame_inside)
{
    /* A RawData value holding "10=000|8=FIX..." does not confuse the scanner: BodyLength
     * delimits the frame. */
    char inner[256], body[512], buf[1024];
    size_t in = frame(inner, sizeof inner, "FIX.4.4", heartbeat_body);
    for (size_t i = 0; i < in; i++)
        if (inner[i] == SOH)
            inner[i] = '|';
    inner[in] = '\0';
    snprintf(body, sizeof body, "35=A|49=A|56=B|34=1|98=0|108=30|95=%zu|96=%s|", in, inner);
    size_t n = frame(buf, sizeof buf, "FIX.4.4", body);
    struct fl_frame fr;
    FL_CHECK_INT(fl_frame_scan(buf, n, 0, &fr), FL_FRAME_OK);
    FL_CHECK_INT(fr.len, n);
end:;
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(test_ok_every_begin_string);
    FL_RUN(test_need_more_at_every_prefix);
    FL_RUN(test_two_messages_split_at_every_boundary);
    FL_RUN(test_body_length_wrong);
    FL_RUN(test_body_length_missing);
    FL_RUN(test_msg_type_not_third);
    FL_RUN(test_checksum_wrong);
    FL_RUN(test_missing_final_soh);
    FL_RUN(test_begin_string);
    FL_RUN(test_too_large);
    FL_RUN(test_garbage_before_message);
    FL_RUN(test_garbled_frame_does_not_lose_next);
    FL_RUN(test_checksum_function);
    FL_RUN(test_reason_text);
    FL_RUN(test_data_field_with_frame_inside);
    return FL_TEST_SUMMARY();
}
