/* fixlua — parsing a framed FIX message into a field index, and the typed value parsers.
 *
 * fl_msg_parse() makes one pass over the frame: it reads each tag as a number, finds the SOH
 * that ends the value eight bytes at a time, honours data-field pairs (95/96, 212/213, ...)
 * whose values may contain SOH, indexes the header slots the session reads on every message,
 * and notes the first protocol problem (bad tag, empty value, repeated or misplaced header
 * field) without stopping, so the session can pick the Reject(3) reason. */
#include "fl_msg.h"

#include <stdlib.h>
#include <string.h>

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

/* Sections: 0 body, 1 header, 2 trailer. Tags below 64 are looked up in a table; the few
 * header tags above it go through the switch. */
static const unsigned char low_tag_section[64] = {
    [8] = 1, [9] = 1, [34] = 1, [35] = 1, [43] = 1, [49] = 1, [50] = 1, [52] = 1, [56] = 1,
    [57] = 1, [10] = 2,
};

int fl_tag_section(uint32_t tag)
{
    if (tag < 64)
        return low_tag_section[tag];
    switch (tag) {
    case 90: case 91: case 97: case 115: case 116: case 122: case 128: case 129: case 142:
    case 143: case 144: case 145: case 212: case 213: case 347: case 369: case 370: case 627:
    case 628: case 629: case 630: case 1128: case 1129: case 1156:
        return 1;
    case 89: case 93:
        return 2;
    default:
        return 0;
    }
}

/* Header slot of a tag, or -1. */
static int hdr_slot(uint32_t tag)
{
    switch (tag) {
    case FL_TAG_BEGIN_STRING: return FL_HDR_BEGIN_STRING;
    case FL_TAG_BODY_LENGTH: return FL_HDR_BODY_LENGTH;
    case FL_TAG_MSG_TYPE: return FL_HDR_MSG_TYPE;
    case FL_TAG_SENDER_COMP_ID: return FL_HDR_SENDER_COMP_ID;
    case FL_TAG_TARGET_COMP_ID: return FL_HDR_TARGET_COMP_ID;
    case FL_TAG_MSG_SEQ_NUM: return FL_HDR_MSG_SEQ_NUM;
    case FL_TAG_SENDING_TIME: return FL_HDR_SENDING_TIME;
    case FL_TAG_POSS_DUP_FLAG: return FL_HDR_POSS_DUP_FLAG;
    case FL_TAG_POSS_RESEND: return FL_HDR_POSS_RESEND;
    case FL_TAG_ORIG_SENDING_TIME: return FL_HDR_ORIG_SENDING_TIME;
    case FL_TAG_APPL_VER_ID: return FL_HDR_APPL_VER_ID;
    case FL_TAG_LAST_MSG_SEQ_NUM_PROCESSED: return FL_HDR_LAST_MSG_SEQ_NUM_PROCESSED;
    case FL_TAG_CHECKSUM: return FL_HDR_CHECKSUM;
    default: return -1;
    }
}

uint32_t fl_data_tag_for_length(uint32_t tag)
{
    switch (tag) {
    case 90: return 91;     /* SecureDataLen -> SecureData */
    case 93: return 89;     /* SignatureLength -> Signature */
    case 95: return 96;     /* RawDataLength -> RawData */
    case 212: return 213;   /* XmlDataLen -> XmlData */
    case 348: return 349;   /* EncodedIssuerLen */
    case 350: return 351;   /* EncodedSecurityDescLen */
    case 352: return 353;   /* EncodedListExecInstLen */
    case 354: return 355;   /* EncodedTextLen */
    case 356: return 357;   /* EncodedSubjectLen */
    case 358: return 359;   /* EncodedHeadlineLen */
    case 360: return 361;   /* EncodedAllocTextLen */
    case 362: return 363;   /* EncodedUnderlyingIssuerLen */
    case 364: return 365;   /* EncodedUnderlyingSecurityDescLen */
    case 445: return 446;   /* EncodedListStatusTextLen */
    case 618: return 619;   /* EncodedLegIssuerLen */
    case 621: return 622;   /* EncodedLegSecurityDescLen */
    case 1277: return 1278; /* DerivativeEncodedIssuerLen */
    case 1397: return 1398; /* EncodedMktSegmDescLen */
    case 1468: return 1469; /* EncodedSecurityListDescLen */
    case 1525: return 1526; /* EncodedEventTextLen */
    default: return 0;
    }
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

int fl_msg_parse(struct fl_msg *m, const char *p, size_t n)
{
    m->buf = p;
    m->len = n;
    m->nfields = 0;
    m->problem = FL_PARSE_OK;
    m->problem_tag = 0;
    memset(m->hdr, 0, sizeof m->hdr);
    if (m->owned) {
        free(m->owned);
        m->owned = NULL;
    }
    if (n > UINT32_MAX)
        return FL_ELIMIT;

    uint32_t body_begin = UINT32_MAX, trailer_begin = UINT32_MAX;
    uint32_t expect_data_tag = 0;
    int64_t expect_data_len = -1;
    size_t pos = 0;
    while (pos < n) {
        size_t tag_start = pos;
        uint32_t tag = 0;
        unsigned d;
        while (pos < n && (d = (unsigned)(unsigned char)p[pos] - '0') <= 9 &&
               pos - tag_start < MAX_TAG_DIGITS) {
            tag = tag * 10 + d;
            pos++;
        }
        if (pos == n || p[pos] != '=' || pos == tag_start || tag == 0) {
            /* Not "digits=": find out whether there is an '=' at all in this field. */
            size_t end = find_soh(p, tag_start, n);
            const char *eq = memchr(p + tag_start, '=', end - tag_start);
            note_problem(m, eq ? FL_PARSE_BAD_TAG : FL_PARSE_NO_EQUALS, 0);
            pos = end + 1;
            expect_data_tag = 0;
            continue;
        }
        pos++; /* '=' */
        size_t vstart = pos, vend;
        if (tag == expect_data_tag && expect_data_len >= 0) {
            vend = vstart + (size_t)expect_data_len;
            if (vend >= n || p[vend] != SOH) {
                note_problem(m, FL_PARSE_BAD_DATA_LENGTH, tag);
                vend = find_soh(p, vstart, n);
            }
        } else {
            vend = find_soh(p, vstart, n);
        }
        if (m->nfields == m->cap) {
            int rc = grow_fields(m);
            if (rc != FL_OK) {
                note_problem(m, FL_PARSE_TOO_MANY_FIELDS, tag);
                m->problem = FL_PARSE_TOO_MANY_FIELDS;
                return rc;
            }
        }
        uint32_t idx = m->nfields++;
        struct fl_field *f = &m->fields[idx];
        f->tag = tag;
        f->off = (uint32_t)vstart;
        f->len = (uint32_t)(vend - vstart);
        if (vend == vstart)
            note_problem(m, FL_PARSE_EMPTY_VALUE, tag);

        /* A length field announces the exact size of the data field that must follow it. */
        if (expect_data_tag && tag != expect_data_tag)
            note_problem(m, FL_PARSE_BAD_DATA_LENGTH, expect_data_tag);
        expect_data_tag = fl_data_tag_for_length(tag);
        if (expect_data_tag) {
            expect_data_len = read_length(p + vstart, vend - vstart);
            if (expect_data_len < 0)
                note_problem(m, FL_PARSE_BAD_DATA_LENGTH, tag);
        }

        int section = tag < 64 ? low_tag_section[tag] : fl_tag_section(tag);
        if (section == 0) {
            if (body_begin == UINT32_MAX)
                body_begin = idx;
            if (trailer_begin != UINT32_MAX)
                note_problem(m, FL_PARSE_HEADER_ORDER, tag);
        } else if (section == 1) {
            if (body_begin != UINT32_MAX || trailer_begin != UINT32_MAX)
                note_problem(m, FL_PARSE_HEADER_ORDER, tag);
        } else if (trailer_begin == UINT32_MAX) {
            trailer_begin = idx;
        }
        int slot = hdr_slot(tag);
        if (slot >= 0) {
            if (m->hdr[slot])
                note_problem(m, FL_PARSE_REPEATED_TAG, tag);
            else
                m->hdr[slot] = (uint16_t)(idx + 1 > UINT16_MAX ? 0 : idx + 1);
        }
        pos = vend + 1;
    }
    if (expect_data_tag)
        note_problem(m, FL_PARSE_BAD_DATA_LENGTH, expect_data_tag);

    m->body_begin = body_begin == UINT32_MAX ? (trailer_begin == UINT32_MAX ? m->nfields : trailer_begin)
                                             : body_begin;
    m->trailer_begin = trailer_begin == UINT32_MAX ? m->nfields : trailer_begin;
    /* 8, 9, 35 first and 10 last, each exactly where the standard puts it. */
    if (m->nfields < 4 || m->fields[0].tag != FL_TAG_BEGIN_STRING ||
        m->fields[1].tag != FL_TAG_BODY_LENGTH || m->fields[2].tag != FL_TAG_MSG_TYPE ||
        m->fields[m->nfields - 1].tag != FL_TAG_CHECKSUM || p[n - 1] != SOH)
        note_problem(m, FL_PARSE_NOT_FRAMED, 0);
    return FL_OK;
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

int fl_msg_find_from(const struct fl_msg *m, uint32_t tag, uint32_t from)
{
    for (uint32_t i = from; i < m->nfields; i++)
        if (m->fields[i].tag == tag)
            return (int)i;
    return -1;
}

int fl_msg_find(const struct fl_msg *m, uint32_t tag)
{
    int slot = hdr_slot(tag);
    if (slot >= 0 && m->hdr[slot])
        return (int)m->hdr[slot] - 1;
    if (slot >= 0 && m->nfields <= UINT16_MAX)
        return -1;
    return fl_msg_find_from(m, tag, 0);
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

int fl_parse_int(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n)
        return FL_EFORMAT;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!digit(p[i]))
            return FL_EFORMAT;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_C(9223372036854775808) - d) / 10)
            return FL_ERANGE;
        v = v * 10 + d;
    }
    if (!neg && v > INT64_MAX)
        return FL_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return FL_OK;
}

int fl_parse_decimal(const char *p, size_t n, struct fl_decimal *out)
{
    size_t i = 0;
    int neg = 0, seen_digit = 0, seen_point = 0;
    int32_t scale = 0;
    uint64_t v = 0;
    if (n && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.') {
            if (seen_point)
                return FL_EFORMAT;
            seen_point = 1;
            continue;
        }
        if (!digit(c))
            return FL_EFORMAT;
        seen_digit = 1;
        if (v > (UINT64_C(999999999999999999) - (unsigned)(c - '0')) / 10)
            return FL_ERANGE;
        v = v * 10 + (unsigned)(c - '0');
        scale += seen_point;
    }
    if (!seen_digit)
        return FL_EFORMAT;
    out->mantissa = neg ? -(int64_t)v : (int64_t)v;
    out->scale = scale;
    return FL_OK;
}

int fl_parse_bool(const char *p, size_t n, int *out)
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

int64_t fl_days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil algorithm. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
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

int fl_parse_date(const char *p, size_t n, struct fl_date *out)
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

int fl_parse_utc_time_only(const char *p, size_t n, int64_t *ns, int *digits)
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

int fl_parse_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits)
{
    struct fl_date d;
    int64_t tod;
    if (n < 17 || p[8] != '-' || fl_parse_date(p, 8, &d) != FL_OK ||
        fl_parse_utc_time_only(p + 9, n - 9, &tod, digits) != FL_OK)
        return FL_EFORMAT;
    *ns = fl_days_from_civil(d.year, d.month, d.day) * INT64_C(86400000000000) + tod;
    return FL_OK;
}

/* ---- typed getters ---- */

int fl_msg_get_str(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n)
{
    int i = fl_msg_find(m, tag);
    if (i < 0)
        return FL_ENOENT;
    *p = m->buf + m->fields[i].off;
    *n = m->fields[i].len;
    return FL_OK;
}

int fl_msg_get_data(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n)
{
    return fl_msg_get_str(m, tag, p, n);
}

#define GET_VIA(parse_call)                                                             \
    const char *p;                                                                      \
    size_t n;                                                                           \
    int rc = fl_msg_get_str(m, tag, &p, &n);                                            \
    if (rc != FL_OK)                                                                    \
        return rc;                                                                      \
    return parse_call

int fl_msg_get_int(const struct fl_msg *m, uint32_t tag, int64_t *out)
{
    GET_VIA(fl_parse_int(p, n, out));
}

int fl_msg_get_decimal(const struct fl_msg *m, uint32_t tag, struct fl_decimal *out)
{
    GET_VIA(fl_parse_decimal(p, n, out));
}

int fl_msg_get_bool(const struct fl_msg *m, uint32_t tag, int *out)
{
    GET_VIA(fl_parse_bool(p, n, out));
}

int fl_msg_get_char(const struct fl_msg *m, uint32_t tag, char *out)
{
    GET_VIA((n == 1 ? (*out = p[0], FL_OK) : FL_EFORMAT));
}

int fl_msg_get_utc_timestamp(const struct fl_msg *m, uint32_t tag, int64_t *ns, int *digits)
{
    GET_VIA(fl_parse_utc_timestamp(p, n, ns, digits));
}

int fl_msg_get_utc_time_only(const struct fl_msg *m, uint32_t tag, int64_t *ns, int *digits)
{
    GET_VIA(fl_parse_utc_time_only(p, n, ns, digits));
}

int fl_msg_get_date(const struct fl_msg *m, uint32_t tag, struct fl_date *out)
{
    GET_VIA(fl_parse_date(p, n, out));
}
