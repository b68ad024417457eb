/* fixlua — framing: find one complete FIX message in a byte stream (see fl_frame.h).
 *
 * The scanner trusts nothing it has not checked: BeginString must start "8=FIX", BodyLength
 * must be a plain number within the size limit, MsgType must be the third field, and
 * "10=NNN<SOH>" must sit exactly where BodyLength says, with the right sum. Anything else is
 * garbage that the caller drops up to the next "8=FIX" after the current position, so one bad
 * frame never swallows the good frames behind it. */
#include "fl_frame.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

static inline unsigned checksum(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t sum = 0;
    size_t i = 0;
#if defined(__SSE2__)
    /* Only the sum mod 256 matters, so sixteen byte lanes can each add with wrap-around
     * (PADDB, one instruction per 16 bytes) and PSADBW folds them once at the end. The last
     * partial block is summed by reloading the final 16 bytes and masking off those already
     * counted. */
    __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm_add_epi8(acc0, _mm_loadu_si128((const __m128i *)(const void *)(u + i)));
        acc1 = _mm_add_epi8(acc1, _mm_loadu_si128((const __m128i *)(const void *)(u + i + 16)));
        acc0 = _mm_add_epi8(acc0, _mm_loadu_si128((const __m128i *)(const void *)(u + i + 32)));
        acc1 = _mm_add_epi8(acc1, _mm_loadu_si128((const __m128i *)(const void *)(u + i + 48)));
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm_add_epi8(acc0, _mm_loadu_si128((const __m128i *)(const void *)(u + i)));
    if (i < n && n >= 16) {
        /* keep[16 + k] is 0xff: the last n - i of the final 16 bytes are not yet counted */
        static const unsigned char keep[32] = {
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + n - 16));
        __m128i k = _mm_loadu_si128((const __m128i *)(const void *)(keep + (n - i)));
        acc1 = _mm_add_epi8(acc1, _mm_and_si128(x, k));
        i = n;
    }
    __m128i folded = _mm_sad_epu8(_mm_add_epi8(acc0, acc1), _mm_setzero_si128());
    sum = (uint64_t)_mm_cvtsi128_si32(folded) +
          (uint64_t)_mm_cvtsi128_si32(_mm_srli_si128(folded, 8));
#endif
    for (; i < n; i++)
        sum += u[i];
    return (unsigned)(sum & 0xffu);
}

unsigned fl_checksum(const char *p, size_t n)
{
    return checksum(p, n);
}

/* 1 when the first min(n, len) bytes of p match mark: a prefix that may still complete. */
static inline int prefix_matches(const char *p, size_t n, const char *mark, size_t len)
{
    size_t k = n < len ? n : len;
    for (size_t i = 0; i < k; i++)
        if (p[i] != mark[i])
            return 0;
    return 1;
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
        if (prefix_matches(p + i, n - i, BEGIN_MARK, BEGIN_MARK_LEN))
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

/* The trailer is not "10=NNN<SOH>" where BodyLength says. The garbled message then runs to
 * the first "<SOH>10=...<SOH>" at or after that point, as QuickFIX delimits it: a CheckSum
 * with the wrong number of digits costs only its own message, and an over-stated BodyLength
 * takes the message it runs into along with it (the peer resends both), which is what the
 * FIX acceptance tests for garbled messages and a wrong BodyLength (2d, 2m) expect. */
static enum fl_frame_status bad_trailer(struct fl_frame *out, const char *p, size_t n,
                                        size_t declared_end, size_t max_len)
{
    size_t limit = n < max_len ? n : max_len;
    for (size_t i = declared_end - 1; i + 4 <= limit; i++) {
        const char *q = memchr(p + i, SOH, limit - i);
        if (!q)
            break;
        i = (size_t)(q - p);
        if (i + 4 > limit)
            break;
        if (q[1] != '1' || q[2] != '0' || q[3] != '=')
            continue;
        const char *e = memchr(q + 4, SOH, limit - (i + 4));
        if (!e)
            break;
        out->skip = (size_t)(e - p) + 1;
        out->reason = FL_FRAME_REASON_BAD_CHECKSUM_FIELD;
        return FL_FRAME_GARBLED;
    }
    if (n >= max_len)
        return garbled(out, p, n, FL_FRAME_REASON_TOO_LARGE);
    return FL_FRAME_NEED_MORE;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__GNUC__) || defined(__clang__))
/* The value of the k (1..8) decimal digits at d (d[0..8) readable), or -1 when one of them is
 * not a digit. After subtracting '0' from every byte, shifting left drops the bytes after the
 * digits; a byte above 9 (or one that borrowed) then has its high bit set once 0x76 is added,
 * and the lowest bad byte is always caught because borrows and carries only move upwards.
 * Pairs, quads and octets of digits are then merged with one multiplication each. */
static inline int64_t swar_digits(const char *d, unsigned k)
{
    if (k <= 4) { /* the same in 32 bits: BodyLength is below 10000 in most messages */
        uint32_t v;
        memcpy(&v, d, 4);
        uint32_t y = (v - 0x30303030u) << ((32 - 8 * k) & 31);
        if (((y + 0x76767676u) | y) & 0x80808080u)
            return -1;
        y = ((y * 0xa01u) >> 8) & 0x00ff00ffu;
        return (int64_t)((y * 0x640001u) >> 16);
    }
    uint64_t w;
    memcpy(&w, d, 8);
    uint64_t x = (w - 0x3030303030303030ull) << ((64 - 8 * k) & 63);
    if (((x + 0x7676767676767676ull) | x) & 0x8080808080808080ull)
        return -1;
    x = ((x * 0xa01u) >> 8) & 0x00ff00ff00ff00ffull;
    x = ((x * 0x640001u) >> 16) & 0x0000ffff0000ffffull;
    return (int64_t)((x * ((10000ull << 32) + 1)) >> 32);
}

/* The common case, a complete and valid frame with at least 40 bytes in hand, checked with
 * few branches and fixed-size reads. Returns 1 with *out filled, or 0 when fl_frame_scan()
 * must look closer (anything else: partial, garbled, mismatched, a BodyLength of nine digits).
 * It accepts exactly what the byte-by-byte path accepts as FL_FRAME_OK, with the same result. */
static inline int frame_clean(const char *p, size_t n, size_t max_len, struct fl_frame *out)
{
    if (n < 40 || memcmp(p, BEGIN_MARK, BEGIN_MARK_LEN) != 0)
        return 0;
    /* The SOHs ending BeginString and BodyLength are among p[5..32): "8=" + at most
     * MAX_BEGIN_STRING bytes + SOH puts the first at 18 at most, "9=" + 8 digits the second
     * at 29 at most. */
#if defined(__SSE2__)
    const __m128i soh_x = _mm_set1_epi8(SOH);
    unsigned soh = (unsigned)_mm_movemask_epi8(
                       _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), soh_x)) |
                   (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                       _mm_loadu_si128((const __m128i *)(const void *)(p + 16)), soh_x))
                       << 16;
#else
    unsigned soh = 0;
    for (unsigned i = 0; i < 32; i++)
        soh |= (unsigned)(p[i] == SOH) << i;
#endif
    unsigned first = soh & ((1u << (2 + MAX_BEGIN_STRING + 1)) - 1);
    if (first == 0)
        return 0;
    size_t pos = (unsigned)__builtin_ctz(first) + 1; /* past the SOH; > BEGIN_MARK_LEN */
    unsigned rest = soh & (soh - 1);                    /* SOHs after the first */
    if (rest == 0 || p[pos] != '9' || p[pos + 1] != '=')
        return 0;
    size_t end = (unsigned)__builtin_ctz(rest); /* the SOH ending BodyLength */
    unsigned k = (unsigned)(end - (pos + 2));   /* its digits; wraps when there are none */
    if (k - 1 >= 8)
        return 0;
    int64_t body_len = swar_digits(p + pos + 2, k); /* p + pos + 2 + 8 <= p + 32 */
    if (body_len < 4)
        return 0;
    size_t body_off = end + 1;
    uint64_t total = (uint64_t)body_off + (uint64_t)body_len + TRAILER_LEN;
    if (total > max_len || n < total || memcmp(p + body_off, "35=", 3) != 0)
        return 0;
    /* "<SOH>10=ddd<SOH>" at p + body_off + body_len - 1, as one eight-byte word. */
    uint64_t tw;
    memcpy(&tw, p + body_off + body_len - 1, 8);
    const uint64_t fixed = 0xff000000ffffffffull,
                   want = 0x010000003d303101ull; /* SOH "10=" ... SOH, SOH being 0x01 */
    uint64_t dg = ((tw >> 32) & 0xffffffu) - 0x303030u; /* the three digits, '0' taken off */
    if ((tw & fixed) != want || (((dg + 0x767676u) | dg) & 0x808080u))
        return 0;
    unsigned declared = (unsigned)((dg & 0xff) * 100 + ((dg >> 8) & 0xff) * 10 + (dg >> 16));
    if (checksum(p, body_off + (size_t)body_len) != declared)
        return 0;
    out->len = (size_t)total;
    out->begin_string_off = 2;
    out->begin_string_len = (uint32_t)(pos - 3);
    out->body_off = (uint32_t)body_off;
    out->body_len = (uint32_t)body_len;
    return 1;
}
#else
static inline int frame_clean(const char *p, size_t n, size_t max_len, struct fl_frame *out)
{
    (void)p, (void)n, (void)max_len, (void)out;
    return 0;
}
#endif

/* fl_frame_scan() byte by byte, for everything frame_clean() leaves to it. A function of its
 * own so that the common case does not pay for its registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static enum fl_frame_status scan_slow(const char *p, size_t n, size_t max_len,
                                      struct fl_frame *out)
{
    if (n == 0)
        return FL_FRAME_NEED_MORE;

    if (!prefix_matches(p, n, BEGIN_MARK, BEGIN_MARK_LEN)) {
        out->skip = next_begin(p, n, 1);
        out->reason = FL_FRAME_REASON_NO_BEGIN_STRING;
        return FL_FRAME_GARBLED;
    }
    if (n < BEGIN_MARK_LEN)
        return FL_FRAME_NEED_MORE;

    /* BeginString value: "8=" then up to MAX_BEGIN_STRING bytes then SOH. */
    size_t limit = 2 + MAX_BEGIN_STRING + 1;
    size_t scan_end = n < limit ? n : limit;
    size_t pos = BEGIN_MARK_LEN; /* a short loop: cheaper than a memchr() call here */
    while (pos < scan_end && p[pos] != SOH)
        pos++;
    if (pos == scan_end) {
        if (n < limit)
            return FL_FRAME_NEED_MORE;
        return garbled(out, p, n, FL_FRAME_REASON_BAD_BEGIN_STRING);
    }
    pos++;
    out->begin_string_off = 2;
    out->begin_string_len = (uint32_t)(pos - 3);

    /* "9=" digits SOH */
    if (n < pos + 2)
        return prefix_matches(p + pos, n - pos, "9=", 2)
                   ? FL_FRAME_NEED_MORE
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
    if (!prefix_matches(p + body_off, n - body_off, "35=", 3) || body_len < 4)
        return garbled(out, p, n, FL_FRAME_REASON_NO_MSG_TYPE);
    if (n < total)
        return FL_FRAME_NEED_MORE;

    const char *t = p + body_off + body_len;
    if (t[-1] != SOH || t[0] != '1' || t[1] != '0' || t[2] != '=' || t[3] < '0' || t[3] > '9' ||
        t[4] < '0' || t[4] > '9' || t[5] < '0' || t[5] > '9' || t[6] != SOH)
        return bad_trailer(out, p, n, body_off + body_len, max_len);
    unsigned declared = (unsigned)((t[3] - '0') * 100 + (t[4] - '0') * 10 + (t[5] - '0'));
    if (fl_checksum(p, body_off + body_len) != declared) {
        /* BodyLength and "10=" agree, but an over-stated BodyLength can land exactly on the
         * trailer of the next frame: then the sum fails and dropping `total` bytes would lose
         * that frame too. Resynchronise on the next "8=FIX" inside the frame, if any. */
        out->skip = next_begin(p, (size_t)total, 1);
        out->reason = FL_FRAME_REASON_CHECKSUM_MISMATCH;
        return FL_FRAME_GARBLED;
    }
    out->len = (size_t)total;
    out->body_off = (uint32_t)body_off;
    out->body_len = (uint32_t)body_len;
    return FL_FRAME_OK;
}

enum fl_frame_status fl_frame_scan(const char *p, size_t n, size_t max_len, struct fl_frame *out)
{
    out->len = 0;
    out->skip = 0;
    out->reason = FL_FRAME_REASON_NONE;
    if (max_len == 0)
        max_len = FL_FRAME_DEFAULT_MAX_LEN;
    if (frame_clean(p, n, max_len, out))
        return FL_FRAME_OK;
    return scan_slow(p, n, max_len, out);
}
