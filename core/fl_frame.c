/* fixlua — framing: find one complete FIX message in a byte stream (see fl_frame.h).
 *
 * The scanner trusts nothing it has not checked: BeginString must start "8=FIX", BodyLength
 * must be a plain number within the size limit, MsgType must be the third field, and
 * "10=NNN<SOH>" must sit exactly where BodyLength says, with the right sum. Anything else is
 * garbage that the caller drops up to the next "8=FIX" after the current position, so one bad
 * frame never swallows the good frames behind it. */
#include "fl_frame.h"

#include <string.h>

#define SOH '\001'
#define BEGIN_MARK "8=FIX"
#define BEGIN_MARK_LEN 5
/* Longest BeginString value accepted ("FIXT.1.1" is 8; leave room for custom ones). */
#define MAX_BEGIN_STRING 16
/* BodyLength digits accepted: 9 digits is well beyond any sane maximum. */
#define MAX_BODY_LENGTH_DIGITS 9
/* "10=" + 3 digits + SOH */
#define TRAILER_LEN 7

static const char *const reason_texts[FL_FRAME_REASON__COUNT] = {
    [FL_FRAME_REASON_NONE] = "no problem",
    [FL_FRAME_REASON_NO_BEGIN_STRING] = "bytes before BeginString(8)",
    [FL_FRAME_REASON_BAD_BEGIN_STRING] = "BeginString(8) malformed",
    [FL_FRAME_REASON_NO_BODY_LENGTH] = "BodyLength(9) is not the second field",
    [FL_FRAME_REASON_BAD_BODY_LENGTH] = "BodyLength(9) malformed",
    [FL_FRAME_REASON_TOO_LARGE] = "message exceeds the maximum size",
    [FL_FRAME_REASON_NO_MSG_TYPE] = "MsgType(35) is not the third field",
    [FL_FRAME_REASON_BAD_CHECKSUM_FIELD] = "CheckSum(10) not where BodyLength(9) ends",
    [FL_FRAME_REASON_CHECKSUM_MISMATCH] = "CheckSum(10) mismatch",
};

const char *fl_frame_reason_text(enum fl_frame_reason r)
{
    if ((unsigned)r >= FL_FRAME_REASON__COUNT)
        return "unknown";
    return reason_texts[r];
}

unsigned fl_checksum(const char *p, size_t n)
{
    /* Plain byte sum; with -O3 the compiler vectorises it into wide adds. */
    const unsigned char *u = (const unsigned char *)p;
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += u[i];
    return sum & 0xffu;
}

/* Offset of the first "8=FIX" at or after `from`; when there is none, the offset of the
 * longest tail of p that could still become one (so a mark split across reads survives). */
static size_t next_begin(const char *p, size_t n, size_t from)
{
    size_t i = from;
    while (i < n) {
        const char *q = memchr(p + i, '8', n - i);
        if (!q)
            return n;
        i = (size_t)(q - p);
        size_t avail = n - i < BEGIN_MARK_LEN ? n - i : BEGIN_MARK_LEN;
        if (memcmp(p + i, BEGIN_MARK, avail) == 0)
            return i;
        i++;
    }
    return n;
}

static enum fl_frame_status garbled(struct fl_frame *out, const char *p, size_t n,
                                    enum fl_frame_reason reason)
{
    /* Resynchronise on the next mark after the start of the bad frame. */
    out->skip = next_begin(p, n, 1);
    out->reason = reason;
    return FL_FRAME_GARBLED;
}

enum fl_frame_status fl_frame_scan(const char *p, size_t n, size_t max_len, struct fl_frame *out)
{
    out->len = 0;
    out->skip = 0;
    out->reason = FL_FRAME_REASON_NONE;
    if (max_len == 0)
        max_len = FL_FRAME_DEFAULT_MAX_LEN;
    if (n == 0)
        return FL_FRAME_NEED_MORE;

    size_t head = n < BEGIN_MARK_LEN ? n : BEGIN_MARK_LEN;
    if (memcmp(p, BEGIN_MARK, head) != 0) {
        out->skip = next_begin(p, n, 1);
        out->reason = FL_FRAME_REASON_NO_BEGIN_STRING;
        return FL_FRAME_GARBLED;
    }
    if (n < BEGIN_MARK_LEN)
        return FL_FRAME_NEED_MORE;

    /* BeginString value: "8=" then up to MAX_BEGIN_STRING bytes then SOH. */
    size_t limit = 2 + MAX_BEGIN_STRING + 1;
    size_t scan_end = n < limit ? n : limit;
    const char *soh = memchr(p + 2, SOH, scan_end - 2);
    if (!soh) {
        if (n < limit)
            return FL_FRAME_NEED_MORE;
        return garbled(out, p, n, FL_FRAME_REASON_BAD_BEGIN_STRING);
    }
    size_t pos = (size_t)(soh - p) + 1;
    out->begin_string_off = 2;
    out->begin_string_len = (uint32_t)(pos - 3);

    /* "9=" digits SOH */
    if (n < pos + 2)
        return memcmp(p + pos, "9=", n - pos) == 0 ? FL_FRAME_NEED_MORE
                                                  : garbled(out, p, n, FL_FRAME_REASON_NO_BODY_LENGTH);
    if (p[pos] != '9' || p[pos + 1] != '=')
        return garbled(out, p, n, FL_FRAME_REASON_NO_BODY_LENGTH);
    pos += 2;
    size_t digits_start = pos;
    uint64_t body_len = 0;
    while (pos < n && p[pos] >= '0' && p[pos] <= '9') {
        if (pos - digits_start >= MAX_BODY_LENGTH_DIGITS)
            return garbled(out, p, n, FL_FRAME_REASON_BAD_BODY_LENGTH);
        body_len = body_len * 10 + (uint64_t)(p[pos] - '0');
        pos++;
    }
    if (pos == n)
        return FL_FRAME_NEED_MORE;
    if (pos == digits_start || p[pos] != SOH || body_len == 0)
        return garbled(out, p, n, FL_FRAME_REASON_BAD_BODY_LENGTH);
    pos++;
    size_t body_off = pos;
    uint64_t total = (uint64_t)body_off + body_len + TRAILER_LEN;
    if (total > max_len)
        return garbled(out, p, n, FL_FRAME_REASON_TOO_LARGE);

    /* "35=" must open the body. */
    size_t have = n - body_off < 3 ? n - body_off : 3;
    if (memcmp(p + body_off, "35=", have) != 0 || body_len < 4)
        return garbled(out, p, n, FL_FRAME_REASON_NO_MSG_TYPE);
    if (n < total)
        return FL_FRAME_NEED_MORE;

    const char *t = p + body_off + body_len;
    if (t[-1] != SOH || t[0] != '1' || t[1] != '0' || t[2] != '=' || t[3] < '0' || t[3] > '9' ||
        t[4] < '0' || t[4] > '9' || t[5] < '0' || t[5] > '9' || t[6] != SOH)
        return garbled(out, p, n, FL_FRAME_REASON_BAD_CHECKSUM_FIELD);
    unsigned declared = (unsigned)((t[3] - '0') * 100 + (t[4] - '0') * 10 + (t[5] - '0'));
    if (fl_checksum(p, body_off + body_len) != declared) {
        /* The frame is well delimited (BodyLength and 10= agree), so drop exactly it. */
        out->skip = (size_t)total;
        out->reason = FL_FRAME_REASON_CHECKSUM_MISMATCH;
        return FL_FRAME_GARBLED;
    }
    out->len = (size_t)total;
    out->body_off = (uint32_t)body_off;
    out->body_len = (uint32_t)body_len;
    return FL_FRAME_OK;
}
