/* fixlua — parsing a framed FIX message into a field index, and the typed value parsers.
 *
 * fl_msg_parse() makes one pass over the frame: it reads each tag as a number and finds the SOH
 * that ends the value sixteen bytes at a time (see "field scanning"), honours data-field pairs
 * (95/96, 212/213, ...) whose values may contain SOH, indexes the header slots the session
 * reads on every message, and notes the first protocol problem (bad tag, empty value, repeated
 * or misplaced header field) without stopping, so the session can pick the Reject(3) reason.
 * One table lookup per field (tag_info) says whether a tag needs any of that attention. A
 * well-formed message is first tried on a faster path that gives up at anything unusual (see
 * "the clean-message path"); the pass above then decides. */
#include "fl_msg.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "fl_tags.h"

#define SOH '\001'
#define INITIAL_FIELDS 64u
/* Tags have at most this many digits; larger numbers are not FIX tags. */
#define MAX_TAG_DIGITS 9

void fl_msg_init(struct fl_msg *m)
{
    memset(m, 0, sizeof *m);
}

void fl_msg_release(struct fl_msg *m)
{
    if (!m)
        return;
    free(m->fields);
    free(m->owned);
    fl_msg_init(m);
}

/* What the parser needs to know about a tag on every field, in one table lookup instead of
 * three switches: bits 0-1 the section, bit 2 set on the length field of a data pair (the
 * data tag itself comes from fl_data_tag_for_length()), bits 3-6 the header slot + 1. Every
 * tag of interest is below TAG_INFO_SIZE; larger tags are plain body fields. The table covers
 * every tag of up to four digits, so the clean-message path looks those up unchecked. */
enum { SEC_BODY = 0, SEC_HEADER = 1, SEC_TRAILER = 2, SEC_MASK = 3, IS_LENGTH = 4 };
#define SLOT(s) (((s) + 1) << 3)
#define TAG_INFO_SIZE 10000u

static const unsigned char tag_info[TAG_INFO_SIZE] = {
    /* Tag 0 is no tag: marked so that parse_clean() leaves it to parse_fields(), which
     * rejects it before it looks here. */
    [0] = IS_LENGTH,
    [FL_TAG_BEGIN_STRING] = SEC_HEADER | SLOT(FL_HDR_BEGIN_STRING),
    [FL_TAG_BODY_LENGTH] = SEC_HEADER | SLOT(FL_HDR_BODY_LENGTH),
    [FL_TAG_CHECKSUM] = SEC_TRAILER | SLOT(FL_HDR_CHECKSUM),
    [FL_TAG_MSG_SEQ_NUM] = SEC_HEADER | SLOT(FL_HDR_MSG_SEQ_NUM),
    [FL_TAG_MSG_TYPE] = SEC_HEADER | SLOT(FL_HDR_MSG_TYPE),
    [FL_TAG_POSS_DUP_FLAG] = SEC_HEADER | SLOT(FL_HDR_POSS_DUP_FLAG),
    [FL_TAG_SENDER_COMP_ID] = SEC_HEADER | SLOT(FL_HDR_SENDER_COMP_ID),
    [FL_TAG_SENDER_SUB_ID] = SEC_HEADER,
    [FL_TAG_SENDING_TIME] = SEC_HEADER | SLOT(FL_HDR_SENDING_TIME),
    [FL_TAG_TARGET_COMP_ID] = SEC_HEADER | SLOT(FL_HDR_TARGET_COMP_ID),
    [FL_TAG_TARGET_SUB_ID] = SEC_HEADER,
    [FL_TAG_SIGNATURE] = SEC_TRAILER,
    [FL_TAG_SECURE_DATA_LEN] = SEC_HEADER | IS_LENGTH,
    [FL_TAG_SECURE_DATA] = SEC_HEADER,
    [FL_TAG_SIGNATURE_LENGTH] = SEC_TRAILER | IS_LENGTH,
    [FL_TAG_RAW_DATA_LENGTH] = IS_LENGTH,
    [FL_TAG_POSS_RESEND] = SEC_HEADER | SLOT(FL_HDR_POSS_RESEND),
    [FL_TAG_ON_BEHALF_OF_COMP_ID] = SEC_HEADER,
    [FL_TAG_ON_BEHALF_OF_SUB_ID] = SEC_HEADER,
    [FL_TAG_ORIG_SENDING_TIME] = SEC_HEADER | SLOT(FL_HDR_ORIG_SENDING_TIME),
    [FL_TAG_DELIVER_TO_COMP_ID] = SEC_HEADER,
    [FL_TAG_DELIVER_TO_SUB_ID] = SEC_HEADER,
    [FL_TAG_SENDER_LOCATION_ID] = SEC_HEADER,
    [FL_TAG_TARGET_LOCATION_ID] = SEC_HEADER,
    [FL_TAG_ON_BEHALF_OF_LOCATION_ID] = SEC_HEADER,
    [FL_TAG_DELIVER_TO_LOCATION_ID] = SEC_HEADER,
    [FL_TAG_XML_DATA_LEN] = SEC_HEADER | IS_LENGTH,
    [FL_TAG_XML_DATA] = SEC_HEADER,
    [FL_TAG_MESSAGE_ENCODING] = SEC_HEADER,
    [FL_TAG_LAST_MSG_SEQ_NUM_PROCESSED] = SEC_HEADER | SLOT(FL_HDR_LAST_MSG_SEQ_NUM_PROCESSED),
    [FL_TAG_ON_BEHALF_OF_SENDING_TIME] = SEC_HEADER,
    [FL_TAG_NO_HOPS] = SEC_HEADER,
    [FL_TAG_HOP_COMP_ID] = SEC_HEADER,
    [FL_TAG_HOP_SENDING_TIME] = SEC_HEADER,
    [FL_TAG_HOP_REF_ID] = SEC_HEADER,
    [FL_TAG_APPL_VER_ID] = SEC_HEADER | SLOT(FL_HDR_APPL_VER_ID),
    [FL_TAG_CSTM_APPL_VER_ID] = SEC_HEADER,
    [FL_TAG_APPL_EXT_ID] = SEC_HEADER,
    /* The length fields of the body's data pairs (data_pairs below). */
    [348] = IS_LENGTH, [350] = IS_LENGTH, [352] = IS_LENGTH, [354] = IS_LENGTH, [356] = IS_LENGTH,
    [358] = IS_LENGTH, [360] = IS_LENGTH, [362] = IS_LENGTH, [364] = IS_LENGTH, [445] = IS_LENGTH,
    [618] = IS_LENGTH, [621] = IS_LENGTH, [1184] = IS_LENGTH, [1277] = IS_LENGTH, [1280] = IS_LENGTH,
    [1282] = IS_LENGTH, [1397] = IS_LENGTH, [1401] = IS_LENGTH, [1403] = IS_LENGTH, [1468] = IS_LENGTH,
    [1525] = IS_LENGTH, [1578] = IS_LENGTH, [1620] = IS_LENGTH, [1664] = IS_LENGTH, [1678] = IS_LENGTH,
    [1733] = IS_LENGTH, [1871] = IS_LENGTH, [1874] = IS_LENGTH, [2072] = IS_LENGTH, [2074] = IS_LENGTH,
    [2111] = IS_LENGTH, [2179] = IS_LENGTH, [2287] = IS_LENGTH, [2351] = IS_LENGTH, [2372] = IS_LENGTH,
    [2481] = IS_LENGTH, [2494] = IS_LENGTH, [2522] = IS_LENGTH, [2637] = IS_LENGTH, [2651] = IS_LENGTH,
    [2665] = IS_LENGTH, [2715] = IS_LENGTH, [2718] = IS_LENGTH, [2721] = IS_LENGTH, [2797] = IS_LENGTH,
    [2802] = IS_LENGTH, [2809] = IS_LENGTH, [2815] = IS_LENGTH,
};

static inline unsigned tag_info_of(uint32_t tag)
{
    return tag < TAG_INFO_SIZE ? tag_info[tag] : 0;
}

int fl_tag_section(uint32_t tag)
{
    return (int)(tag_info_of(tag) & SEC_MASK);
}


/* Every length field of a data pair in FIX 4.0 to 5.0 SP2 and FIXT 1.1 (the data field follows
 * its length field; its value may hold any byte, SOH included), by length tag. */
static const struct {
    uint32_t length, data;
} data_pairs[] = {
    {90, 91}, {93, 89}, {95, 96}, {212, 213}, {348, 349}, {350, 351},
    {352, 353}, {354, 355}, {356, 357}, {358, 359}, {360, 361}, {362, 363},
    {364, 365}, {445, 446}, {618, 619}, {621, 622}, {1184, 1185}, {1277, 1278},
    {1280, 1281}, {1282, 1283}, {1397, 1398}, {1401, 1402}, {1403, 1404}, {1468, 1469},
    {1525, 1527}, {1578, 1579}, {1620, 1621}, {1664, 1665}, {1678, 1697}, {1733, 1734},
    {1871, 1872}, {1874, 1875}, {2072, 2073}, {2074, 2075}, {2111, 2112}, {2179, 2180},
    {2287, 2288}, {2351, 2352}, {2372, 2371}, {2481, 2482}, {2494, 2493}, {2522, 2521},
    {2637, 2638}, {2651, 2652}, {2665, 2666}, {2715, 2716}, {2718, 2719}, {2721, 2722},
    {2797, 2798}, {2802, 2801}, {2809, 2808}, {2815, 2814}, {40004, 40005}, {40008, 40009},
    {40978, 40979}, {40980, 40981}, {40982, 40983}, {40984, 40985}, {40986, 40987}, {40988, 40989},
    {41083, 41084}, {41101, 41102}, {41107, 41108}, {41256, 41257}, {41320, 41321}, {41324, 41325},
    {41458, 41459}, {41476, 41477}, {41482, 41483}, {41653, 41654}, {41710, 41711}, {41806, 41807},
    {41811, 41812}, {41873, 41874}, {41969, 41970}, {42025, 42026}, {42171, 42172}, {42451, 42452},
    {42652, 42653}, {42947, 42948}, {43109, 42684}, {43110, 42486}, {43111, 42982},
};

uint32_t fl_data_tag_for_length(uint32_t tag)
{
    size_t lo = 0, hi = sizeof data_pairs / sizeof data_pairs[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (data_pairs[mid].length < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sizeof data_pairs / sizeof data_pairs[0] && data_pairs[lo].length == tag
               ? data_pairs[lo].data
               : 0;
}

static const char *const problem_texts[FL_PARSE__COUNT] = {
    [FL_PARSE_OK] = "no problem",
    [FL_PARSE_BAD_TAG] = "invalid tag number",
    [FL_PARSE_NO_EQUALS] = "field without '='",
    [FL_PARSE_EMPTY_VALUE] = "tag specified without a value",
    [FL_PARSE_REPEATED_TAG] = "tag appears more than once",
    [FL_PARSE_HEADER_ORDER] = "tag specified out of required order",
    [FL_PARSE_BAD_DATA_LENGTH] = "data length field incorrect",
    [FL_PARSE_TOO_MANY_FIELDS] = "too many fields",
    [FL_PARSE_NOT_FRAMED] = "not a complete FIX frame",
};

const char *fl_parse_problem_text(enum fl_parse_problem p)
{
    return (unsigned)p < FL_PARSE__COUNT ? problem_texts[p] : "unknown";
}

int fl_parse_problem_reject_reason(enum fl_parse_problem p)
{
    switch (p) {
    case FL_PARSE_BAD_TAG:
    case FL_PARSE_NO_EQUALS: return FL_REJECT_INVALID_TAG_NUMBER;
    case FL_PARSE_EMPTY_VALUE: return FL_REJECT_TAG_WITHOUT_VALUE;
    case FL_PARSE_REPEATED_TAG: return FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE;
    case FL_PARSE_HEADER_ORDER: return FL_REJECT_TAG_OUT_OF_ORDER;
    case FL_PARSE_BAD_DATA_LENGTH: return FL_REJECT_INCORRECT_DATA_FORMAT;
    default: return FL_REJECT_OTHER;
    }
}

static inline void note_problem(struct fl_msg *m, enum fl_parse_problem p, uint32_t tag)
{
    if (m->problem == FL_PARSE_OK) {
        m->problem = p;
        m->problem_tag = tag;
    }
}

/* Offset of the first SOH in p[pos..n), or n. Eight bytes per step on little-endian hosts:
 * a byte equal to SOH becomes zero after the XOR, and the classic has-zero-byte test finds
 * the lowest one exactly (false positives only occur above a true zero). */
static inline size_t find_soh(const char *p, size_t pos, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (pos + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + pos, 8);
        uint64_t x = w ^ ones;
        uint64_t t = (x - ones) & ~x & highs;
        if (t)
            return pos + ((size_t)__builtin_ctzll(t) >> 3);
        pos += 8;
    }
#endif
    while (pos < n && p[pos] != SOH)
        pos++;
    return pos;
}

/* find_soh() for long values: 16 bytes per step where SSE2 is available. */
static inline size_t find_soh_wide(const char *p, size_t pos, size_t n)
{
#if defined(__SSE2__)
    const __m128i soh = _mm_set1_epi8(SOH);
    while (pos + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + pos));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, soh));
        if (m)
            return pos + (unsigned)__builtin_ctz(m);
        pos += 16;
    }
#endif
    return find_soh(p, pos, n);
}

/* ---- field scanning ----
 * Most fields are "tag=value<SOH>" with a tag of one to four digits and a value of a few bytes,
 * so the parser looks at 16 bytes at a time: one pass gives the positions of '=' and SOH in the
 * window as bit masks, the tag digits are checked and converted together without a branch per
 * digit, and the value ends at the first SOH after the '='. Anything unusual (a long or
 * malformed tag, a data field, the last 15 bytes of the message) takes the byte-by-byte path,
 * which has the final word on problems. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__GNUC__) || defined(__clang__))
#define FAST_SCAN 1

static inline unsigned ctz32(unsigned x)
{
    return (unsigned)__builtin_ctz(x);
}

#if defined(__SSE2__)
/* Bit i of *eq / *soh set when p[i] is '=' / SOH, for i < 16. Reads p[0..16). */
static inline void window_masks(const char *p, unsigned *eq, unsigned *soh)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    *eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
    *soh = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(SOH)));
}
#else
/* Bit i set for each byte of w equal to c (exact: no carries cross bytes), for i < 8. */
static inline unsigned byte_mask(uint64_t w, unsigned char c)
{
    const uint64_t lows = 0x7f7f7f7f7f7f7f7full;
    uint64_t x = w ^ (0x0101010101010101ull * c);
    uint64_t z = ~(((x & lows) + lows) | x | lows); /* 0x80 where the byte is zero */
    return (unsigned)(((z >> 7) * 0x0102040810204080ull) >> 56);
}

static inline void window_masks(const char *p, unsigned *eq, unsigned *soh)
{
    uint64_t w0, w1;
    memcpy(&w0, p, 8);
    memcpy(&w1, p + 8, 8);
    *eq = byte_mask(w0, '=') | byte_mask(w1, '=') << 8;
    *soh = byte_mask(w0, SOH) | byte_mask(w1, SOH) << 8;
}
#endif

/* The value of the e (1..8) decimal digits at p, or -1 when one of them is not a digit.
 * Reads p[0..8). The digits are checked and combined together (SWAR, little-endian): after
 * subtracting '0' from every byte, shifting left drops the bytes after the tag and leaves
 * leading zeros below it; a byte above 9 (or one that borrowed) then has its high bit set once
 * 0x76 is added, and the lowest bad byte is always caught because borrows and carries only
 * move upwards. Pairs, then quads, then octets of digits are merged by multiply-add. */
static inline int64_t digits_value(const char *p, unsigned e)
{
    if (e <= 4) { /* tags below 10000: the common case, in 32-bit arithmetic */
        uint32_t w;
        memcpy(&w, p, 4);
        uint32_t d = (w - 0x30303030u) << (32 - 8 * e);
        if (((d + 0x76767676u) | d) & 0x80808080u)
            return -1;
        d = (d * 10 + (d >> 8)) & 0x00ff00ffu;
        return (int64_t)((d * 100 + (d >> 16)) & 0xffffu);
    }
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t d = (w - 0x3030303030303030ull) << (64 - 8 * e);
    if (((d + 0x7676767676767676ull) | d) & 0x8080808080808080ull)
        return -1;
    d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ffull;
    d = (d * 100 + (d >> 16)) & 0x0000ffff0000ffffull;
    return (int64_t)((d * 10000 + (d >> 32)) & 0xffffffffull);
}

/* Reads the field at p[pos..) through a 16-byte window (pos + 16 <= n). Returns the offset of
 * its '=' and sets *tag and *vend, or returns 0 when the byte-by-byte path must decide (a tag
 * that is empty, longer than 8 digits, zero or not all digits). */
static inline size_t fast_field(const char *p, size_t pos, size_t n, uint32_t *tag,
                                size_t *vend)
{
    unsigned eq, soh;
    window_masks(p + pos, &eq, &soh);
    unsigned e = eq ? ctz32(eq) : 16;
    if (e - 1 >= 8)
        return 0;
    int64_t v = digits_value(p + pos, e); /* a SOH before the '=' is not a digit either */
    if (v <= 0)
        return 0;
    *tag = (uint32_t)v;
    /* Since no SOH precedes the '=', the value ends at the window's first SOH. Taking it
     * straight from the mask, not from the bits after the '=', keeps the '=' search off the
     * chain from one field's position to the next, which bounds the parser's speed. */
    *vend = soh ? pos + ctz32(soh) : find_soh_wide(p, pos + 16, n);
    return pos + e;
}

#else
#define FAST_SCAN 0
#endif

static int grow_fields(struct fl_msg *m)
{
    uint32_t limit = m->max_fields ? m->max_fields : FL_MSG_DEFAULT_MAX_FIELDS;
    if (m->cap >= limit)
        return FL_ELIMIT;
    uint32_t ncap = m->cap ? m->cap * 2 : INITIAL_FIELDS;
    if (ncap > limit)
        ncap = limit;
    struct fl_field *nf = realloc(m->fields, (size_t)ncap * sizeof *nf);
    if (!nf)
        return FL_ENOMEM;
    m->fields = nf;
    m->cap = ncap;
    return FL_OK;
}

/* Reads a non-negative length value; -1 when it is not one. */
static int64_t read_length(const char *p, size_t n)
{
    if (n == 0 || n > 9)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The rare fields: header and trailer tags, data-pair length fields. Updates the section
 * bounds, header slots and data-pair expectation, and notes problems. */
static void classify_special(struct fl_msg *m, unsigned info, uint32_t tag, uint32_t idx,
                             const char *v, size_t vlen, uint32_t *body_begin,
                             uint32_t *trailer_begin, uint32_t *expect_data_tag,
                             int64_t *expect_data_len)
{
    if (info & IS_LENGTH) {
        /* A length field announces the exact size of the data field that must follow it. */
        *expect_data_tag = fl_data_tag_for_length(tag);
        *expect_data_len = read_length(v, vlen);
        if (*expect_data_len < 0)
            note_problem(m, FL_PARSE_BAD_DATA_LENGTH, tag);
    }
    unsigned section = info & SEC_MASK;
    if (section == SEC_BODY) {
        if (*body_begin == UINT32_MAX)
            *body_begin = idx;
        if (*trailer_begin != UINT32_MAX)
            note_problem(m, FL_PARSE_HEADER_ORDER, tag);
    } else if (section == SEC_HEADER) {
        if (*body_begin != UINT32_MAX || *trailer_begin != UINT32_MAX)
            note_problem(m, FL_PARSE_HEADER_ORDER, tag);
    } else if (*trailer_begin == UINT32_MAX) {
        *trailer_begin = idx;
    }
    int slot = (int)(info >> 3) - 1;
    if (slot >= 0) {
        if (m->hdr[slot])
            note_problem(m, FL_PARSE_REPEATED_TAG, tag);
        else
            m->hdr[slot] = (uint16_t)(idx + 1 > UINT16_MAX ? 0 : idx + 1);
    }
}


/* The tokeniser behind fl_msg_parse(), on a reset m: field by field, honouring data pairs,
 * noting the first problem and carrying on. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int parse_fields(struct fl_msg *m, const char *p, size_t n)
{
    /* The limit is checked against nfields, not only at growth: cap may already exceed a
     * max_fields lowered after earlier, larger messages. */
    uint32_t max_fields = m->max_fields ? m->max_fields : FL_MSG_DEFAULT_MAX_FIELDS;
    uint32_t room = m->cap < max_fields ? m->cap : max_fields;
    /* The index lives in locals while parsing: stores into fields[] could otherwise alias m
     * and force a reload of every member on every field. */
    struct fl_field *fields = m->fields;
    uint32_t nf = 0;
    uint32_t body_begin = UINT32_MAX, trailer_begin = UINT32_MAX;
    uint32_t expect_data_tag = 0;
    int64_t expect_data_len = -1;
    size_t pos = 0;
    while (pos < n) {
        size_t tag_start = pos;
        uint32_t tag = 0;
        size_t vstart, vend;
#if FAST_SCAN
        if (n - pos >= 16 && !expect_data_tag) { /* the common case, see fast_field() */
            size_t eq = fast_field(p, pos, n, &tag, &vend);
            if (eq) {
                vstart = eq + 1;
                goto have_field;
            }
        }
#endif
        unsigned d;
        /* Overlong tags wrap here and are rejected by their length below. */
        while (pos < n && (d = (unsigned)(unsigned char)p[pos] - '0') <= 9) {
            tag = tag * 10 + d;
            pos++;
        }
        if (pos == n || p[pos] != '=' || pos == tag_start || pos - tag_start > MAX_TAG_DIGITS ||
            tag == 0) {
            /* Not "digits=": find out whether there is an '=' at all in this field. */
            size_t end = find_soh(p, tag_start, n);
            const char *eq = memchr(p + tag_start, '=', end - tag_start);
            note_problem(m, eq ? FL_PARSE_BAD_TAG : FL_PARSE_NO_EQUALS, 0);
            pos = end + 1;
            expect_data_tag = 0;
            continue;
        }
        pos++; /* '=' */
        vstart = pos;
        if (expect_data_tag) {
            if (tag == expect_data_tag && expect_data_len >= 0) {
                vend = vstart + (size_t)expect_data_len;
                if (vend >= n || p[vend] != SOH) {
                    note_problem(m, FL_PARSE_BAD_DATA_LENGTH, tag);
                    vend = find_soh(p, vstart, n);
                }
            } else {
                /* The standard puts the data field right behind its length field. */
                if (tag != expect_data_tag)
                    note_problem(m, FL_PARSE_BAD_DATA_LENGTH, expect_data_tag);
                vend = find_soh(p, vstart, n);
            }
            expect_data_tag = 0;
        } else {
            vend = find_soh(p, vstart, n);
        }
#if FAST_SCAN
    have_field:
#endif
        if (nf == room) {
            m->nfields = nf;
            int rc = room == max_fields ? FL_ELIMIT : grow_fields(m);
            if (rc != FL_OK) {
                m->problem = FL_PARSE_TOO_MANY_FIELDS;
                m->problem_tag = tag;
                /* Leave the index self-consistent: callers may still walk what was read. */
                m->body_begin = body_begin < nf ? body_begin : nf;
                m->trailer_begin = nf;
                return rc;
            }
            fields = m->fields;
            room = m->cap < max_fields ? m->cap : max_fields;
        }
        uint32_t idx = nf++;
        struct fl_field *f = &fields[idx];
        f->tag = tag;
        f->off = (uint32_t)vstart;
        f->len = (uint32_t)(vend - vstart);
        if (vend == vstart)
            note_problem(m, FL_PARSE_EMPTY_VALUE, tag);

        unsigned info = tag_info_of(tag);
        if (info == 0) {
            /* A plain body field: the common case. (Or the length of a data pair with a tag
             * above tag_info's: FIX 5.0 SP2 has some.) */
            body_begin = body_begin < idx ? body_begin : idx;
            if (trailer_begin != UINT32_MAX)
                note_problem(m, FL_PARSE_HEADER_ORDER, tag);
            if (tag >= TAG_INFO_SIZE && (expect_data_tag = fl_data_tag_for_length(tag)) != 0 &&
                (expect_data_len = read_length(p + vstart, vend - vstart)) < 0)
                note_problem(m, FL_PARSE_BAD_DATA_LENGTH, tag);
        } else {
            classify_special(m, info, tag, idx, p + vstart, vend - vstart, &body_begin,
                             &trailer_begin, &expect_data_tag, &expect_data_len);
        }
        pos = vend + 1;
    }
    if (expect_data_tag)
        note_problem(m, FL_PARSE_BAD_DATA_LENGTH, expect_data_tag);
    m->nfields = nf;
    m->trailer_begin = trailer_begin == UINT32_MAX ? nf : trailer_begin;
    m->body_begin = body_begin == UINT32_MAX ? m->trailer_begin : body_begin;
    /* 8, 9, 35 first and 10 last, each exactly where the standard puts it. */
    if (m->nfields < 4 || m->fields[0].tag != FL_TAG_BEGIN_STRING ||
        m->fields[1].tag != FL_TAG_BODY_LENGTH || m->fields[2].tag != FL_TAG_MSG_TYPE ||
        m->fields[m->nfields - 1].tag != FL_TAG_CHECKSUM || p[n - 1] != SOH)
        note_problem(m, FL_PARSE_NOT_FRAMED, 0);
    return FL_OK;
}

#if FAST_SCAN
/* ---- the clean-message path ----
 * Nearly every message on a session is well-formed: no problem to note, no data field, tags
 * of one to seven digits, header then body, and "10=NNN<SOH>" as the last field. parse_clean()
 * indexes exactly that case with as little work per field as possible and gives up (returns 0)
 * at the first thing that is not; parse_fields() then indexes the message again from the start
 * and decides every problem, so malformed input takes the same path and gets the same verdict
 * as ever. In a clean message every SOH ends a field, so the fields are read off a bit map of
 * the SOH positions, made up front for up to CLEAN_CHUNK bytes at a time: finding the next
 * field does not wait for the one before to be read. The header and the body have a loop each,
 * so neither keeps a section state, and the body loop asks one question of tag_info per field. */

#define CLEAN_WORDS 32u                /* bit map words per chunk */
#define CLEAN_CHUNK (64u * CLEAN_WORDS) /* bytes per chunk */

/* The SOH bit map of p[from..stop) into bits[0..): returns the number of words (at most
 * CLEAN_WORDS); from < stop < n, stop - from <= CLEAN_CHUNK, n >= 64. */
static inline size_t clean_map(const char *p, size_t from, size_t stop, size_t n, uint64_t *bits)
{
    size_t nw = (stop - from + 63) / 64, i = 0;
    for (; i < nw && from + 64 * i + 64 <= n; i++) {
        const char *q = p + from + 64 * i;
        uint64_t m = 0;
        for (unsigned k = 0; k < 4; k++) {
            unsigned eq, soh;
            window_masks(q + 16 * k, &eq, &soh);
            m |= (uint64_t)soh << (16 * k);
        }
        bits[i] = m;
    }
    if (i < nw) {
        /* The last word of the message: from its final 64 bytes, shifted into place. */
        const char *q = p + n - 64;
        uint64_t m = 0;
        for (unsigned k = 0; k < 4; k++) {
            unsigned eq, soh;
            window_masks(q + 16 * k, &eq, &soh);
            m |= (uint64_t)soh << (16 * k);
        }
        bits[i] = m >> (from + 64 * i - (n - 64));
    }
    size_t used = stop - from - 64 * (nw - 1); /* bits of the last word below stop: 1..64 */
    if (used < 64)
        bits[nw - 1] &= (UINT64_C(1) << used) - 1;
    return nw;
}

/* Reads the tag of a field from its first eight bytes w (little-endian): sets *e to the offset
 * of the field's '=', *info to the tag's tag_info, and returns the tag. When the tag is not one
 * to seven digits followed by '=' (a SOH before the '=' is not a digit either), *info is set to
 * CLEAN_NO, which no loop of parse_clean() accepts. The digits are checked together as in
 * digits_value() and then merged with one multiplication per step (byte k + 10 * byte k-1 is at
 * most 99, and so on, so no lane carries into the next). Tags of up to four digits are below
 * TAG_INFO_SIZE, so their lookup needs no bounds check. */
#define CLEAN_NO IS_LENGTH
static inline uint32_t clean_tag(uint64_t w, size_t *e, unsigned *info)
{
    unsigned eq;
#if defined(__SSE2__)
    eq = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_set_epi64x(0, (long long)w), _mm_set1_epi8('=')));
#else
    eq = byte_mask(w, '=');
#endif
    unsigned k = ctz32(eq | 0x80u); /* 7 also when there is no '=' in the first seven bytes */
    *e = k;
    if (k <= 4) { /* k == 0, an empty tag, fails the digit check: byte 0 is the '=' */
        uint32_t d = ((uint32_t)w - 0x30303030u) << ((0u - 8 * k) & 31); /* k == 4: by 0 */
        if (((d + 0x76767676u) | d) & 0x80808080u) {
            *info = CLEAN_NO;
            return 0;
        }
        d = ((d * 0xa01u) >> 8) & 0x00ff00ffu;
        uint32_t tag = (d * 0x640001u) >> 16;
        *info = tag_info[tag]; /* tag_info[0] is CLEAN_NO */
        return tag;
    }
    /* Five to seven digits, or no '=' in the first eight bytes. */
    uint64_t d = (w - 0x3030303030303030ull) << ((0u - 8 * k) & 63);
    if (((eq >> k) & 1) == 0 ||
        (((d + 0x7676767676767676ull) | d) & 0x8080808080808080ull)) {
        *info = CLEAN_NO;
        return 0;
    }
    d = ((d * 0xa01u) >> 8) & 0x00ff00ff00ff00ffull;
    d = ((d * 0x640001u) >> 16) & 0x0000ffff0000ffffull;
    uint32_t tag = (uint32_t)((d * ((10000ull << 32) + 1)) >> 32);
    *info = tag < TAG_INFO_SIZE ? tag_info[tag] : 0; /* leading zeros make small tags */
    return tag;
}

/* Where parse_clean() is: the SOH map it reads and the field index it writes. */
struct clean_state {
    uint64_t word;          /* bits of the current map word not yet consumed */
    size_t base;            /* offset of the current map word */
    const uint64_t *next;   /* the map word after it */
    const uint64_t *end;    /* the end of the map */
    size_t pos;             /* start of the next field */
    struct fl_field *f;     /* where the next field goes */
    struct fl_field *fend;  /* end of the room in m->fields */
    uint32_t body;          /* index of the first body field, UINT32_MAX in the header */
};

/* Moves to the next SOH in the map (without consuming it): 1, or 0 at the end of the map. */
static inline int clean_more(uint64_t *word, size_t *base, const uint64_t **next,
                             const uint64_t *end)
{
    while (*word == 0) {
        if (*next == end)
            return 0;
        *word = *(*next)++;
        *base += 64;
    }
    return 1;
}

/* Indexes the fields of the map: header fields (each header slot at most once) while in the
 * header, then plain body fields (tag_info 0). Returns 1 at the end of the map, or 0 at a field
 * that needs more than that, or more room (with cs at that field). With `roomy` the caller has
 * made sure that every field in the map fits, so the loops need not check. The header and the
 * body have a loop each, so neither keeps a section state. Inlined only into the two
 * functions below: a function of its own, the compiler keeps all of cs in registers. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int clean_run(struct fl_msg *m, const char *p, struct clean_state *cs, int roomy)
{
    uint64_t word = cs->word;
    size_t base = cs->base, pos = cs->pos;
    const uint64_t *next = cs->next, *const end = cs->end;
    struct fl_field *f = cs->f, *const fend = cs->fend;
    int reached = 0;
    if (cs->body != UINT32_MAX)
        goto body;
    for (;;) {
        if (!clean_more(&word, &base, &next, end)) {
            reached = 1;
            goto out;
        }
        size_t vend = base + (unsigned)__builtin_ctzll(word);
        uint64_t w;
        memcpy(&w, p + pos, 8);
        size_t e;
        unsigned info;
        uint32_t tag = clean_tag(w, &e, &info);
        size_t vstart = pos + e + 1;
        unsigned slot = info >> 3;
        if (vstart == vend || (!roomy && f == fend) ||
            ((info & (SEC_MASK | IS_LENGTH)) == SEC_HEADER ? slot && m->hdr[slot - 1]
                                                          : info != 0))
            goto out;
        f->tag = tag;
        f->off = (uint32_t)vstart;
        f->len = (uint32_t)(vend - vstart);
        f++;
        word &= word - 1;
        pos = vend + 1;
        if (info == 0) {
            cs->body = (uint32_t)(f - 1 - m->fields);
            break;
        }
        if (slot) {
            uint32_t idx = (uint32_t)(f - m->fields); /* 1 + the field's index */
            m->hdr[slot - 1] = (uint16_t)(idx > UINT16_MAX ? 0 : idx);
        }
    }
body:
    for (;;) {
        if (!clean_more(&word, &base, &next, end)) {
            reached = 1;
            break;
        }
        size_t vend = base + (unsigned)__builtin_ctzll(word);
        uint64_t w;
        memcpy(&w, p + pos, 8);
        size_t e;
        unsigned info;
        uint32_t tag = clean_tag(w, &e, &info);
        size_t vstart = pos + e + 1;
        if (info != 0 || vstart == vend || (!roomy && f == fend))
            break;
        f->tag = tag;
        f->off = (uint32_t)vstart;
        f->len = (uint32_t)(vend - vstart);
        f++;
        word &= word - 1;
        pos = vend + 1;
    }
out:
    cs->word = word;
    cs->base = base;
    cs->next = next;
    cs->pos = pos;
    cs->f = f;
    return reached;
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int clean_run_roomy(struct fl_msg *m, const char *p, struct clean_state *cs)
{
    return clean_run(m, p, cs, 1);
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int clean_run_checked(struct fl_msg *m, const char *p, struct clean_state *cs)
{
    return clean_run(m, p, cs, 0);
}

/* Makes room for more fields once cs->f has reached cs->fend: 1, or 0 when there is none to
 * be had. */
static int clean_grow(struct fl_msg *m, struct clean_state *cs, uint32_t max_fields)
{
    uint32_t nf = (uint32_t)(cs->f - m->fields);
    if (nf >= max_fields || grow_fields(m) != FL_OK)
        return 0;
    cs->f = m->fields + nf;
    cs->fend = m->fields + (m->cap < max_fields ? m->cap : max_fields);
    return 1;
}

/* Indexes a clean message into a reset m; 0 when parse_fields() must decide. */
static int parse_clean(struct fl_msg *m, const char *p, size_t n)
{
    /* A message without a field array yet (the first parse) lets parse_fields() allocate it. */
    if (n < 64 || !m->fields)
        return 0;
    /* The message must end "<SOH>10=" + three non-SOH bytes + SOH: the field loops then stop
     * at limit, the start of "10=", and every field they read has eight bytes in p. */
    const char *t = p + n - 8;
    if (t[0] != SOH || t[1] != '1' || t[2] != '0' || t[3] != '=' || t[4] == SOH ||
        t[5] == SOH || t[6] == SOH || t[7] != SOH)
        return 0;
    const size_t limit = n - 7;
    const uint32_t max_fields = m->max_fields ? m->max_fields : FL_MSG_DEFAULT_MAX_FIELDS;
    uint64_t bits[CLEAN_WORDS];
    /* The map covers [chunk, stop): the whole header and body when it fits in CLEAN_CHUNK. */
    size_t chunk = 0, stop = limit < CLEAN_CHUNK ? limit : CLEAN_CHUNK;
    struct clean_state cs = {0, 0, bits + 1, bits, 0, m->fields,
                             m->fields + (m->cap < max_fields ? m->cap : max_fields), UINT32_MAX};
    cs.end = bits + clean_map(p, 0, stop, n, bits);
    cs.word = bits[0];

    /* BeginString, BodyLength and MsgType open the message: when their SOHs are in the first
     * map word, they are checked and indexed straight from it. */
    int framed = 0; /* 8, 9 and 35 known to open the index */
    uint64_t w0 = bits[0], w1 = w0 & (w0 - 1), w2 = w1 & (w1 - 1);
    if (w2 != 0 && cs.fend - cs.f >= 3) {
        size_t s0 = (unsigned)__builtin_ctzll(w0), s1 = (unsigned)__builtin_ctzll(w1),
               s2 = (unsigned)__builtin_ctzll(w2);
        if (p[0] == '8' && p[1] == '=' && s0 > 2 && p[s0 + 1] == '9' && p[s0 + 2] == '=' &&
            s1 > s0 + 3 && p[s1 + 1] == '3' && p[s1 + 2] == '5' && p[s1 + 3] == '=' &&
            s2 > s1 + 4) {
            struct fl_field *f = cs.f;
            f[0] = (struct fl_field){FL_TAG_BEGIN_STRING, 2, (uint32_t)(s0 - 2)};
            f[1] = (struct fl_field){FL_TAG_BODY_LENGTH, (uint32_t)(s0 + 3),
                                     (uint32_t)(s1 - (s0 + 3))};
            f[2] = (struct fl_field){FL_TAG_MSG_TYPE, (uint32_t)(s1 + 4),
                                     (uint32_t)(s2 - (s1 + 4))};
            m->hdr[FL_HDR_BEGIN_STRING] = 1;
            m->hdr[FL_HDR_BODY_LENGTH] = 2;
            m->hdr[FL_HDR_MSG_TYPE] = 3;
            cs.f += 3;
            cs.word = w2 & (w2 - 1);
            cs.pos = s2 + 1;
            framed = 1;
        }
    }

    /* The rest of the header, each slot at most once; then the body, plain fields only.
     * Anything else is left to parse_fields(). */
    for (;;) {
        /* A field takes at least four bytes ("1=x" and its SOH). */
        int r = (size_t)(cs.fend - cs.f) > (stop - cs.pos) / 4 ? clean_run_roomy(m, p, &cs)
                                                                : clean_run_checked(m, p, &cs);
        if (r == 1) {
            /* The end of the map: of the header and body, or of a chunk of them. */
            if (stop == limit)
                break;
            chunk = stop;
            stop = limit - chunk < CLEAN_CHUNK ? limit : chunk + CLEAN_CHUNK;
            cs.end = bits + clean_map(p, chunk, stop, n, bits);
            cs.word = bits[0];
            cs.base = chunk;
            cs.next = bits + 1;
        } else if (cs.f != cs.fend || !clean_grow(m, &cs, max_fields)) {
            return 0;
        }
    }
    /* CheckSum(10), known to close the message. */
    if (cs.f == cs.fend && !clean_grow(m, &cs, max_fields))
        return 0;
    uint32_t nf = (uint32_t)(cs.f - m->fields);
    struct fl_field *f = cs.f;
    f->tag = FL_TAG_CHECKSUM;
    f->off = (uint32_t)(n - 4);
    f->len = 3;
    m->hdr[FL_HDR_CHECKSUM] = (uint16_t)(nf + 1 > UINT16_MAX ? 0 : nf + 1);
    m->trailer_begin = nf++;
    m->nfields = nf;
    m->body_begin = cs.body == UINT32_MAX ? m->trailer_begin : cs.body;
    const struct fl_field *fields = m->fields;
    if (!framed && (nf < 4 || fields[0].tag != FL_TAG_BEGIN_STRING ||
                    fields[1].tag != FL_TAG_BODY_LENGTH || fields[2].tag != FL_TAG_MSG_TYPE))
        note_problem(m, FL_PARSE_NOT_FRAMED, 0);
    return 1;
}
#endif

/* Walking the index backwards, the first field of each tag is the last one written, so no
 * field needs a test of its own. */
void fl_msg_index_low_tags(struct fl_msg *m)
{
    uint8_t *first = m->low_first;
    memset(first, 0, sizeof m->low_first);
    uint32_t i = m->nfields; /* fields[i - 1] is the next field to look at */
    if (i == 0)
        return;
    const struct fl_field *f = m->fields + i; /* just past it */
    for (; i >= FL_MSG_LOW_FAR; i--)
        if ((--f)->tag < FL_MSG_LOW_TAGS)
            first[f->tag] = FL_MSG_LOW_FAR;
    for (; i >= 2; i -= 2) { /* two at a time: one loop test per two fields */
        f -= 2;
        uint32_t tag = f[1].tag, before = f[0].tag;
        if (tag < FL_MSG_LOW_TAGS)
            first[tag] = (uint8_t)i;
        if (before < FL_MSG_LOW_TAGS)
            first[before] = (uint8_t)(i - 1);
    }
    if (i == 1 && f[-1].tag < FL_MSG_LOW_TAGS)
        first[f[-1].tag] = 1;
}

int fl_msg_parse(struct fl_msg *m, const char *p, size_t n)
{
    m->buf = p;
    m->len = n;
    m->nfields = 0;
    m->problem = FL_PARSE_OK;
    m->problem_tag = 0;
    memset(m->hdr, 0, sizeof m->hdr);
    memset(m->low_first, FL_MSG_LOW_FAR, sizeof m->low_first);
    if (m->owned) {
        free(m->owned);
        m->owned = NULL;
    }
    m->body_begin = 0;
    m->trailer_begin = 0;
    if (n > UINT32_MAX)
        return FL_ELIMIT;
#if FAST_SCAN
    if (parse_clean(m, p, n))
        return FL_OK;
    memset(m->hdr, 0, sizeof m->hdr);
#endif
    return parse_fields(m, p, n);
}

int fl_msg_clone(struct fl_msg *dst, const struct fl_msg *src)
{
    char *buf = malloc(src->len ? src->len : 1);
    struct fl_field *fields = malloc((src->nfields ? src->nfields : 1) * sizeof *fields);
    if (!buf || !fields) {
        free(buf);
        free(fields);
        return FL_ENOMEM;
    }
    if (src->len)
        memcpy(buf, src->buf, src->len);
    if (src->nfields)
        memcpy(fields, src->fields, src->nfields * sizeof *fields);
    free(dst->fields);
    free(dst->owned);
    *dst = *src;
    dst->buf = buf;
    dst->owned = buf;
    dst->fields = fields;
    dst->cap = src->nfields ? src->nfields : 1;
    return FL_OK;
}

/* The exported functions of this file are thin wrappers over static ones: when fl_core is
 * built position-independent (for the Lua module), calls to exported functions may be
 * interposed and the compiler will not inline them into the getters. */
/* The first field with `tag` at or after index `from`, or NULL. */
static inline const struct fl_field *find_field_from(const struct fl_msg *m, uint32_t tag,
                                                     uint32_t from)
{
    if (from >= m->nfields)
        return NULL;
    const struct fl_field *f = m->fields + from, *const end = m->fields + m->nfields;
    /* Four fields a step: one loop test per four compares. */
    for (; end - f >= 4; f += 4) {
        if (f[0].tag == tag)
            return f;
        if (f[1].tag == tag)
            return f + 1;
        if (f[2].tag == tag)
            return f + 2;
        if (f[3].tag == tag)
            return f + 3;
    }
    for (; f < end; f++)
        if (f->tag == tag)
            return f;
    return NULL;
}

/* The first field with `tag`, or NULL; header slots are answered from m->hdr, other tags below
 * FL_MSG_LOW_TAGS from m->low_first when it has them. */
static inline const struct fl_field *find_field(const struct fl_msg *m, uint32_t tag)
{
    unsigned info = tag_info_of(tag);
    unsigned slot = info >> 3;
    if (slot) {
        if (m->hdr[slot - 1])
            return &m->fields[m->hdr[slot - 1] - 1];
        if (m->nfields <= UINT16_MAX)
            return NULL;
    }
    if (tag < FL_MSG_LOW_TAGS && m->low_first[tag] != FL_MSG_LOW_FAR)
        return m->low_first[tag] ? &m->fields[m->low_first[tag] - 1] : NULL;
    /* body_begin is the first field of the body section, so no body tag occurs before it. */
    uint32_t from = (info & SEC_MASK) == SEC_BODY && m->body_begin <= m->nfields ? m->body_begin
                                                                                 : 0;
    return find_field_from(m, tag, from);
}

static inline int find_from(const struct fl_msg *m, uint32_t tag, uint32_t from)
{
    const struct fl_field *f = find_field_from(m, tag, from);
    return f ? (int)(f - m->fields) : -1;
}

static inline int find(const struct fl_msg *m, uint32_t tag)
{
    const struct fl_field *f = find_field(m, tag);
    return f ? (int)(f - m->fields) : -1;
}

int fl_msg_find_from(const struct fl_msg *m, uint32_t tag, uint32_t from)
{
    return find_from(m, tag, from);
}

int fl_msg_find_scan(const struct fl_msg *m, uint32_t tag)
{
    return find(m, tag);
}

uint32_t fl_msg_count(const struct fl_msg *m, uint32_t tag)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < m->nfields; i++)
        c += m->fields[i].tag == tag;
    return c;
}

/* ---- value parsers ---- */

static inline int digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

static inline int parse_int(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n)
        return FL_EFORMAT;
    /* v * 10 + d stays <= 2^63 (the magnitude of INT64_MIN) while v < 2^63 / 10, or
     * v == 2^63 / 10 and d <= 8: compares instead of a division per digit. */
    const uint64_t cut = UINT64_C(922337203685477580);
    uint64_t v = 0;
    if (n - i <= 18) { /* at most 18 digits cannot overflow: no range check per digit */
        for (; i < n; i++) {
            unsigned d = (unsigned)(unsigned char)p[i] - '0';
            if (d > 9)
                return FL_EFORMAT;
            v = v * 10 + d;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return FL_OK;
    }
    for (; i < n; i++) {
        if (!digit(p[i]))
            return FL_EFORMAT;
        unsigned d = (unsigned)(p[i] - '0');
        if (v >= cut && (v > cut || d > 8))
            return FL_ERANGE;
        v = v * 10 + d;
    }
    if (!neg && v > INT64_MAX)
        return FL_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return FL_OK;
}

static inline int parse_decimal(const char *p, size_t n, struct fl_decimal *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    /* At most 18 significant digits: v * 10 + 9 <= 10^18 - 1 while v < 10^17. */
    const uint64_t cut = UINT64_C(100000000000000000);
    uint64_t v = 0;
    size_t int_start = i;
    if (n - i <= 18) {
        /* At most 18 digits cannot overflow: the same syntax without a range check per digit. */
        unsigned d;
        for (; i < n && (d = (unsigned)(unsigned char)p[i] - '0') <= 9; i++)
            v = v * 10 + d;
        size_t int_digits = i - int_start, fd = 0;
        if (i < n && p[i] == '.') {
            size_t frac_start = ++i;
            for (; i < n && (d = (unsigned)(unsigned char)p[i] - '0') <= 9; i++)
                v = v * 10 + d;
            fd = i - frac_start;
        }
        if (i != n || int_digits + fd == 0)
            return FL_EFORMAT;
        out->mantissa = neg ? -(int64_t)v : (int64_t)v;
        out->scale = (int32_t)fd;
        return FL_OK;
    }
    /* Trailing zeros of a fraction are no significant digits: "0.10000000000000000000" is 0.1
     * (scale 1). What remains must fit the int64 mantissa, 19 digits where they fit. */
    const char *dot = memchr(p + i, '.', n - i);
    if (dot)
        while (n > (size_t)(dot - p) + 1 && p[n - 1] == '0')
            n--;
    const uint64_t most = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    for (; i < n && digit(p[i]); i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v >= cut && v > (most - d) / 10)
            return FL_ERANGE;
        v = v * 10 + d;
    }
    size_t digits = i - int_start, frac = 0;
    if (i < n && p[i] == '.') {
        size_t frac_start = ++i;
        for (; i < n && digit(p[i]); i++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (v >= cut && v > (most - d) / 10)
                return FL_ERANGE;
            v = v * 10 + d;
        }
        frac = i - frac_start;
        digits += frac;
    }
    if (i != n || digits == 0) /* something after the number, or no digit at all */
        return FL_EFORMAT;
    if (frac > INT32_MAX)
        return FL_ERANGE;
    out->mantissa = neg ? (int64_t)(0 - v) : (int64_t)v; /* 0 - 2^63 wraps to INT64_MIN */
    out->scale = (int32_t)frac;
    return FL_OK;
}

static inline int parse_bool(const char *p, size_t n, int *out)
{
    if (n != 1 || (p[0] != 'Y' && p[0] != 'N'))
        return FL_EFORMAT;
    *out = p[0] == 'Y';
    return FL_OK;
}

static int read_digits(const char *p, size_t k, int *out)
{
    int v = 0;
    for (size_t i = 0; i < k; i++) {
        if (!digit(p[i]))
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return mdays[m - 1];
}

static inline int64_t days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil algorithm. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t fl_days_from_civil(int y, int m, int d)
{
    return days_from_civil(y, m, d);
}

void fl_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = mm;
    *d = dd;
}

static inline int parse_date(const char *p, size_t n, struct fl_date *out)
{
    int y, m, d;
    if (n != 8 || !read_digits(p, 4, &y) || !read_digits(p + 4, 2, &m) ||
        !read_digits(p + 6, 2, &d))
        return FL_EFORMAT;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return FL_EFORMAT;
    out->year = y;
    out->month = m;
    out->day = d;
    return FL_OK;
}

static inline int parse_utc_time_only(const char *p, size_t n, int64_t *ns, int *digits)
{
    int hh, mm, ss;
    if (n < 8 || p[2] != ':' || p[5] != ':' || !read_digits(p, 2, &hh) ||
        !read_digits(p + 3, 2, &mm) || !read_digits(p + 6, 2, &ss))
        return FL_EFORMAT;
    if (hh > 23 || mm > 59 || ss > 60) /* 60: a leap second */
        return FL_EFORMAT;
    int64_t frac = 0;
    int nd = 0;
    if (n > 8) {
        size_t k = n - 9;
        if (p[8] != '.' || k == 0 || k > 12)
            return FL_EFORMAT;
        for (size_t i = 0; i < k; i++) {
            if (!digit(p[9 + i]))
                return FL_EFORMAT;
            if (i < 9)
                frac = frac * 10 + (p[9 + i] - '0');
        }
        nd = (int)k;
        for (size_t i = k; i < 9; i++)
            frac *= 10;
    }
    *ns = ((int64_t)hh * 3600 + mm * 60 + ss) * INT64_C(1000000000) + frac;
    if (digits)
        *digits = nd;
    return FL_OK;
}

#if FAST_SCAN
/* Eight checked digit lanes (byte i the digit of weight 10^(7-i), leading zeros allowed)
 * merged into their value, as in digits_value(). */
static inline uint32_t merge_digits8(uint64_t d)
{
    d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ffull;
    d = (d * 100 + (d >> 16)) & 0x0000ffff0000ffffull;
    return (uint32_t)(d * 10000 + (d >> 32));
}

/* parse_utc_timestamp() for the form nearly every SendingTime has: "YYYYMMDD-HH:MM:SS" with
 * a year from 1901 to 2099 and up to eight fraction digits. The date, the time and the
 * fraction are each checked and converted a word at a time (as in digits_value()), and the
 * days are counted from tables: every fourth year of 1901..2099 is a leap year. Returns 1 with
 * the result, or 0 (valid or not) for parse_utc_timestamp() to decide. */
static inline int fast_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits)
{
    /* [leap][month - 1]: days before the month, and in it */
    static const uint16_t days_before[2][12] = {
        {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334},
        {0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335}};
    static const unsigned char month_days[2][12] = {
        {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
        {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};
    static const uint32_t frac_scale[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                           100000000};
    const uint64_t zeros = 0x3030303030303030ull, sevens = 0x7676767676767676ull,
                   highs = 0x8080808080808080ull;
    /* 17 bytes, or a '.' and one to eight digits after them */
    if (n - 17 > 9 || n == 18 || p[8] != '-' || (n > 17 && p[17] != '.'))
        return 0;
    uint64_t w;
    memcpy(&w, p, 8); /* YYYYMMDD */
    uint64_t d = w - zeros;
    if (((d + sevens) | d) & highs)
        return 0;
    d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ffull; /* century, year, month, day */
    unsigned year = (unsigned)(d & 0xff) * 100 + (unsigned)(d >> 16 & 0xff) - 1901;
    unsigned month = (unsigned)(d >> 32 & 0xff) - 1, day = (unsigned)(d >> 48) - 1;
    unsigned leap = (d >> 16 & 3) == 0; /* 100 is a multiple of 4 */
    if (year > 2099 - 1901 || month > 11 || day >= month_days[leap][month])
        return 0;
    /* 1901-01-01 is day -25202. */
    int64_t secs = ((int64_t)(365 * year + year / 4 + days_before[leap][month] + day) - 25202) *
                   86400;
    memcpy(&w, p + 9, 8); /* HH:MM:SS */
    uint64_t t = w - zeros;
    if ((w & 0x0000ff0000ff0000ull) != 0x00003a00003a0000ull ||
        (((t + sevens) | t) & 0x8080008080008080ull))
        return 0;
    t = t * 10 + (t >> 8); /* no lane passes 109: the ':' lanes hold 10 */
    unsigned hh = (unsigned)(t & 0xff), mm = (unsigned)(t >> 24 & 0xff),
             ss = (unsigned)(t >> 48 & 0xff);
    if (hh > 23 || mm > 59 || ss > 60) /* 60: a leap second */
        return 0;
    secs += hh * 3600 + mm * 60 + ss;
    unsigned k = n > 17 ? (unsigned)n - 18 : 0; /* fraction digits */
    uint32_t frac = 0;
    if (k) {
        /* The last eight bytes hold the k digits on top: the bytes below become '0'. */
        memcpy(&w, p + n - 8, 8);
        uint64_t keep = ~0ull << (8 * (8 - k));
        uint64_t f = ((w & keep) | (zeros & ~keep)) - zeros;
        if (((f + sevens) | f) & highs)
            return 0;
        frac = merge_digits8(f) * frac_scale[9 - k];
    }
    *ns = secs * INT64_C(1000000000) + frac;
    if (digits)
        *digits = (int)k;
    return 1;
}
#endif

/* The general UTCTimestamp syntax: any year, a fraction of up to twelve digits. Out of line,
 * so that the fast path above does not pay for its registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int slow_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits)
{
    struct fl_date d;
    int64_t tod;
    if (n < 17 || p[8] != '-' || parse_date(p, 8, &d) != FL_OK ||
        parse_utc_time_only(p + 9, n - 9, &tod, digits) != FL_OK)
        return FL_EFORMAT;
    /* int64 nanoseconds span 1677..2262; years 0000..9999 are valid syntax, so check the
     * range instead of letting the multiplication overflow. */
    const int64_t day_ns = INT64_C(86400000000000);
    int64_t days = days_from_civil(d.year, d.month, d.day);
    if (days > (INT64_MAX - tod) / day_ns || days < INT64_MIN / day_ns)
        return FL_ERANGE;
    *ns = days * day_ns + tod;
    return FL_OK;
}

static inline int parse_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits)
{
#if FAST_SCAN
    if (fast_utc_timestamp(p, n, ns, digits))
        return FL_OK;
#endif
    return slow_utc_timestamp(p, n, ns, digits);
}

int fl_parse_int(const char *p, size_t n, int64_t *out)
{
    return parse_int(p, n, out);
}

int fl_parse_decimal(const char *p, size_t n, struct fl_decimal *out)
{
    return parse_decimal(p, n, out);
}

int fl_parse_bool(const char *p, size_t n, int *out)
{
    return parse_bool(p, n, out);
}

int fl_parse_date(const char *p, size_t n, struct fl_date *out)
{
    return parse_date(p, n, out);
}

int fl_parse_utc_time_only(const char *p, size_t n, int64_t *ns, int *digits)
{
    return parse_utc_time_only(p, n, ns, digits);
}

int fl_parse_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits)
{
    return parse_utc_timestamp(p, n, ns, digits);
}

/* ---- typed getters ---- */

static inline int get_str(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n)
{
    const struct fl_field *f = find_field(m, tag);
    if (!f)
        return FL_ENOENT;
    *p = m->buf + f->off;
    *n = f->len;
    return FL_OK;
}

int fl_msg_get_str(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n)
{
    return get_str(m, tag, p, n);
}

int fl_msg_get_data(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n)
{
    return get_str(m, tag, p, n);
}

#define GET_VIA(parse_call)                                                             \
    const char *p;                                                                      \
    size_t n;                                                                           \
    int rc = get_str(m, tag, &p, &n);                                                   \
    if (rc != FL_OK)                                                                    \
        return rc;                                                                      \
    return parse_call

int fl_msg_get_int(const struct fl_msg *m, uint32_t tag, int64_t *out)
{
    const struct fl_field *f = find_field(m, tag);
    if (!f)
        return FL_ENOENT;
    const char *p = m->buf + f->off;
#if FAST_SCAN
    /* One to eight plain digits with eight bytes in the message: checked and converted at
     * once. Anything else (a sign, a bad byte, more digits) is parse_int()'s to decide. */
    if (f->len - 1u < 8u && (size_t)f->off + 8 <= m->len) {
        int64_t v = digits_value(p, f->len);
        if (v >= 0) {
            *out = v;
            return FL_OK;
        }
    }
#endif
    return parse_int(p, f->len, out);
}

int fl_msg_get_decimal(const struct fl_msg *m, uint32_t tag, struct fl_decimal *out)
{
    const struct fl_field *f = find_field(m, tag);
    if (!f)
        return FL_ENOENT;
    const char *p = m->buf + f->off;
    size_t n = f->len;
#if FAST_SCAN
    /* Up to eight bytes of digits with at most one '.', and eight bytes in the message: the
     * '.' is found in the word at once, the digits after it are moved down over it, and all
     * of them are checked and converted together. Anything else (a sign, a bad byte, a second
     * '.', no digit at all, a longer value) is parse_decimal()'s to decide. */
    if (n - 1 < 8 && (size_t)f->off + 8 <= m->len) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        uint64_t x = w ^ (ones * '.');
        uint64_t dot = (x - ones) & ~x & highs & (~0ull >> (64 - 8 * n));
        size_t d = dot ? (size_t)__builtin_ctzll(dot) >> 3 : n; /* digits before the '.' */
        if (dot) {
            uint64_t low = w & ((1ull << (8 * d)) - 1); /* d <= 7 */
            w = low | (w >> 8 >> (8 * d)) << (8 * d);
        }
        size_t k = dot ? n - 1 : n; /* digits in all */
        if (k != 0) {
            int64_t v = digits_value((const char *)&w, (unsigned)k);
            if (v >= 0) {
                out->mantissa = v;
                out->scale = (int32_t)(dot ? n - d - 1 : 0);
                return FL_OK;
            }
        }
    }
#endif
    return parse_decimal(p, n, out);
}

int fl_msg_get_bool(const struct fl_msg *m, uint32_t tag, int *out)
{
    GET_VIA(parse_bool(p, n, out));
}

int fl_msg_get_char(const struct fl_msg *m, uint32_t tag, char *out)
{
    GET_VIA((n == 1 ? (*out = p[0], FL_OK) : FL_EFORMAT));
}

int fl_msg_get_utc_timestamp(const struct fl_msg *m, uint32_t tag, int64_t *ns, int *digits)
{
    GET_VIA(parse_utc_timestamp(p, n, ns, digits));
}

int fl_msg_get_utc_time_only(const struct fl_msg *m, uint32_t tag, int64_t *ns, int *digits)
{
    GET_VIA(parse_utc_time_only(p, n, ns, digits));
}

int fl_msg_get_date(const struct fl_msg *m, uint32_t tag, struct fl_date *out)
{
    GET_VIA(parse_date(p, n, out));
}
