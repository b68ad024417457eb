/* fixlua — validating a parsed message against a dictionary.
 *
 * One pass over the field index in wire order, in one loop for header, body and trailer (the
 * loop's index switched when a field starts the next section). Each tag is looked up in the
 * member index of the section it is in (a group entry inside a group) — a multiply and usually
 * one probe — and stamped in the caller's fl_validator scratch array with the current
 * generation, which finds repeated tags without clearing anything between messages: every
 * message and every group entry takes a fresh generation, and each active member list owns its
 * own slice of the array (header, trailer and body side by side, nested entries stacked above).
 * Required members are counted as they are taken; only a section or entry whose count falls
 * short has its required list searched for the one missing. Values are checked by type with the
 * rules of the fl_msg.h parsers (syntax only, inline for the common types, short values and
 * timestamps a word at a time, picked per member at load time), and against the enum list (a
 * 256-bit set for one-character values, a collision-free hash table of values packed in 64 bits
 * otherwise). Each index slot carries, next to the member index, whether the member is
 * required, its value check and whether it opens a group, so a plain string field costs a
 * probe, a stamp and a length test.
 *
 * Reject reasons follow the FIX session test cases (14a-14i, 2q, 2r): tag unknown to the
 * dictionary 0, known but not for this message 2, missing 1, empty 4, not an enum value 5, bad
 * format 6, repeated 13, header field after the body or anything after the trailer began 14,
 * group entry not starting with its delimiter (or, with strict_group_order, members out of order)
 * 15, NumInGroup different from the entries present 16. Parse problems of the message itself
 * (fl_msg.h) are reported first, except order and repetition, which the dictionary re-checks
 * because it knows header fields the parser's fixed list does not. */
#include <stdlib.h>
#include <string.h>

#include "fl_dict_impl.h"
#include "fl_tags.h"

/* The walk is a tight loop; keeping rare paths (rejects, unknown tags) out of line leaves the
 * compiler registers for it. */
#if defined(__GNUC__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))
#define NOINLINE static __attribute__((noinline))
#else
#define UNLIKELY(x) (x)
#define ALWAYS_INLINE static inline
#define COLD static
#define NOINLINE static
#endif

void fl_validate_opts_init(struct fl_validate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->level = FL_VALIDATE_LEVEL_FULL;
}

void fl_validator_init(struct fl_validator *v)
{
    memset(v, 0, sizeof *v);
}

void fl_validator_release(struct fl_validator *v)
{
    if (!v)
        return;
    free(v->stamp);
    fl_validator_init(v);
}

static int validator_reserve(struct fl_validator *v, uint32_t need)
{
    if (v->cap >= need)
        return FL_OK;
    uint32_t nc = v->cap ? v->cap : 256;
    while (nc < need) {
        if (nc > UINT32_MAX / 2)
            return FL_ENOMEM;
        nc *= 2;
    }
    uint32_t *p = realloc(v->stamp, (size_t)nc * sizeof *p);
    if (!p)
        return FL_ENOMEM;
    memset(p + v->cap, 0, (size_t)(nc - v->cap) * sizeof *p);
    v->stamp = p;
    v->cap = nc;
    return FL_OK;
}

const char *fl_validate_reason_text(enum fl_verdict verdict, int reason)
{
    if (verdict == FL_VERDICT_OK)
        return "";
    if (verdict == FL_VERDICT_BUSINESS_REJECT) {
        switch (reason) {
        case 0: return "Other";
        case 1: return "Unknown ID";
        case 2: return "Unknown Security";
        case 3: return "Unsupported Message Type";
        case 4: return "Application not available";
        case 5: return "Conditionally required field missing";
        case 6: return "Not authorized";
        case 7: return "DeliverTo firm not available at this time";
        case 18: return "Invalid price increment";
        default: return "Business message rejected";
        }
    }
    switch (reason) {
    case FL_REJECT_INVALID_TAG_NUMBER: return "Invalid tag number";
    case FL_REJECT_REQUIRED_TAG_MISSING: return "Required tag missing";
    case FL_REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE: return "Tag not defined for this message type";
    case FL_REJECT_UNDEFINED_TAG: return "Undefined Tag";
    case FL_REJECT_TAG_WITHOUT_VALUE: return "Tag specified without a value";
    case FL_REJECT_VALUE_OUT_OF_RANGE: return "Value is incorrect (out of range) for this tag";
    case FL_REJECT_INCORRECT_DATA_FORMAT: return "Incorrect data format for value";
    case FL_REJECT_DECRYPTION_PROBLEM: return "Decryption problem";
    case FL_REJECT_SIGNATURE_PROBLEM: return "Signature problem";
    case FL_REJECT_COMPID_PROBLEM: return "CompID problem";
    case FL_REJECT_SENDING_TIME_ACCURACY: return "SendingTime accuracy problem";
    case FL_REJECT_INVALID_MSG_TYPE: return "Invalid MsgType";
    case FL_REJECT_XML_VALIDATION_ERROR: return "XML Validation error";
    case FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE: return "Tag appears more than once";
    case FL_REJECT_TAG_OUT_OF_ORDER: return "Tag specified out of required order";
    case FL_REJECT_GROUP_FIELDS_OUT_OF_ORDER: return "Repeating group fields out of order";
    case FL_REJECT_INCORRECT_NUM_IN_GROUP: return "Incorrect NumInGroup count for repeating group";
    case FL_REJECT_NON_DATA_VALUE_INCLUDES_DELIMITER:
        return "Non \"data\" value includes field delimiter (SOH character)";
    case FL_REJECT_INVALID_UNSUPPORTED_APPL_VERSION:
        return "Invalid/Unsupported Application Version";
    default: return "Other";
    }
}

/* ---- value checks ---- */

static inline int digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

static int two_digits(const char *p, int lo, int hi)
{
    if (!digit(p[0]) || !digit(p[1]))
        return 0;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    return v >= lo && v <= hi;
}

/* MONTHYEAR: YYYYMM, YYYYMMDD or YYYYMMwN (week 1-5). */
static int check_month_year(const char *p, size_t n)
{
    if (n != 6 && n != 8)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!digit(p[i]))
            return 0;
    if (!two_digits(p + 4, 1, 12))
        return 0;
    if (n == 6)
        return 1;
    if (p[6] == 'w')
        return p[7] >= '1' && p[7] <= '5';
    return two_digits(p + 6, 1, 31);
}

/* Time zone suffix: "Z", or +hh, -hh, +hh:mm, -hh:mm; empty is allowed (local time). */
static int check_zone(const char *p, size_t n)
{
    if (n == 0)
        return 1;
    if (n == 1)
        return p[0] == 'Z';
    if (p[0] != '+' && p[0] != '-')
        return 0;
    if (n == 3)
        return two_digits(p + 1, 0, 14);
    return n == 6 && two_digits(p + 1, 0, 14) && p[3] == ':' && two_digits(p + 4, 0, 59);
}

/* TZTIMEONLY: HH:MM[:SS[.s...]] followed by a zone. */
static int check_tz_time(const char *p, size_t n)
{
    if (n < 5 || !two_digits(p, 0, 23) || p[2] != ':' || !two_digits(p + 3, 0, 59))
        return 0;
    size_t i = 5;
    if (i < n && p[i] == ':') {
        if (i + 3 > n || !two_digits(p + i + 1, 0, 60))
            return 0;
        i += 3;
        if (i < n && p[i] == '.') {
            size_t k = ++i;
            while (i < n && digit(p[i]))
                i++;
            if (i == k)
                return 0;
        }
    }
    return check_zone(p + i, n - i);
}

/* Syntax checks with the same rules as the fl_msg.h parsers, without converting anything:
 * validation runs on every inbound message, the conversions only when a value is read. Longer
 * integers go to fl_parse_int() for its overflow check. */
static inline int all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!digit(p[i]))
            return 0;
    return 1;
}

static inline int is_int(const char *p, size_t n)
{
    int64_t v;
    size_t i = n > 1 && p[0] == '-';
    if (n - i > 18)
        return fl_parse_int(p, n, &v) == FL_OK;
    return i < n && all_digits(p + i, n - i);
}

static inline int is_uint(const char *p, size_t n)
{
    int64_t v;
    if (n > 18)
        return p[0] != '-' && fl_parse_int(p, n, &v) == FL_OK;
    return all_digits(p, n);
}

static inline int is_decimal(const char *p, size_t n)
{
    size_t i = n > 0 && p[0] == '-';
    int dot = 0, dig = 0;
    for (; i < n; i++) {
        if (digit(p[i]))
            dig = 1;
        else if (p[i] == '.' && !dot)
            dot = 1;
        else
            return 0;
    }
    return dig;
}

/* Eight ASCII digits at p, tested a word at a time: a byte is a digit when its high nibble is
 * 3 and adding 6 keeps it so. */
static inline int digits8(const char *p)
{
    const uint64_t high = 0xF0F0F0F0F0F0F0F0u, threes = 0x3030303030303030u;
    uint64_t x;
    memcpy(&x, p, 8);
    return (x & high) == threes && ((x + 0x0606060606060606u) & high) == threes;
}

/* Month and day of eight digits YYYYMMDD in range (the 29th of February in leap years). */
static inline int date_in_range(const char *p)
{
    static const unsigned char mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int m = (p[4] - '0') * 10 + (p[5] - '0');
    int d = (p[6] - '0') * 10 + (p[7] - '0');
    if (m < 1 || m > 12 || d < 1 || d > mdays[m])
        return 0;
    if (m != 2 || d < 29)
        return 1;
    int y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static inline int is_date(const char *p)
{
    return digits8(p) && date_in_range(p);
}

/* HH:MM:SS with an optional fraction of 1 to 12 digits; 60 seconds allowed (leap second). */
static inline int is_time(const char *p, size_t n)
{
    if (n < 8 || p[2] != ':' || p[5] != ':' || !digit(p[0]) || !digit(p[1]) || !digit(p[3]) ||
        !digit(p[4]) || !digit(p[6]) || !digit(p[7]))
        return 0;
    if (p[0] > '2' || (p[0] == '2' && p[1] > '3') || p[3] > '5' ||
        (p[6] > '5' && (p[6] != '6' || p[7] != '0')))
        return 0;
    if (n == 8)
        return 1;
    return p[8] == '.' && n > 9 && n <= 21 && all_digits(p + 9, n - 9);
}

static inline int is_timestamp(const char *p, size_t n)
{
    return n >= 17 && p[8] == '-' && is_date(p) && is_time(p + 9, n - 9);
}

/* Word-at-a-time checks of values of at most 8 bytes: the value read as one little-endian
 * word, the bytes after it zeroed (never a digit, '.' or '-'), so that each test is a few
 * operations instead of a loop. Used when the message holds 8 bytes from the value on (the
 * SOH and the fields after it), which is all but the last few bytes of a message. Each byte
 * test is exact: no carry crosses a byte. */
#define BYTES_LOW UINT64_C(0x7F7F7F7F7F7F7F7F)
#define BYTES_HIGH UINT64_C(0x8080808080808080)

/* The low n bytes of a word set, for n = 0..8. */
static const uint64_t word_keep[9] = {
    0,
    UINT64_C(0xFF),
    UINT64_C(0xFFFF),
    UINT64_C(0xFFFFFF),
    UINT64_C(0xFFFFFFFF),
    UINT64_C(0xFFFFFFFFFF),
    UINT64_C(0xFFFFFFFFFFFF),
    UINT64_C(0xFFFFFFFFFFFFFF),
    UINT64_C(0xFFFFFFFFFFFFFFFF),
};

ALWAYS_INLINE int value_word(const char *p, uint32_t n, const char *end, uint64_t *x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n > 8 || end - p < 8)
        return 0;
    memcpy(x, p, 8);
    *x &= word_keep[n];
    return 1;
#else
    (void)p, (void)n, (void)end, (void)x;
    return 0;
#endif
}

/* High bit set in each byte that is not an ASCII digit. */
static inline uint64_t word_nondigits(uint64_t x)
{
    uint64_t t = x ^ UINT64_C(0x3030303030303030);
    return (((t & BYTES_LOW) + UINT64_C(0x7676767676767676)) | t) & BYTES_HIGH;
}

/* High bit set in each byte equal to '.'. */
static inline uint64_t word_dots(uint64_t x)
{
    uint64_t u = x ^ UINT64_C(0x2E2E2E2E2E2E2E2E);
    return ~(((u & BYTES_LOW) + BYTES_LOW) | u) & BYTES_HIGH;
}

/* High bits of the first n (1..8) bytes. */
static inline uint64_t word_first(uint32_t n)
{
    return BYTES_HIGH & word_keep[n];
}

/* is_int() of a value word. */
static inline int word_is_int(uint64_t x, uint32_t n)
{
    uint64_t minus = n > 1 && (x & 0xFFu) == '-' ? 0x80u : 0u;
    return (word_nondigits(x) & word_first(n) & ~minus) == 0;
}

/* is_decimal() of a value word. */
static inline int word_is_decimal(uint64_t x, uint32_t n)
{
    uint64_t first = word_first(n), nd = word_nondigits(x) & first;
    if (nd == 0) /* all digits: the common quantity */
        return 1;
    uint64_t dots = word_dots(x) & first, minus = (x & 0xFFu) == '-' ? 0x80u : 0u;
    return (nd & ~dots & ~minus) == 0 && (dots & (dots - 1)) == 0 && nd != first;
}

/* is_timestamp() of a value of 17 or 19-24 bytes with 24 bytes readable at p: the date, the
 * "-HH:MM:S" and the "S.fff" parts as three words, each xor its pattern so that digits read 0-9
 * and separators 0 (the bytes after the value are cleared), then the ranges. A byte above 9
 * shows in its high nibble, itself or after adding 6 (no carry crosses a byte once every high
 * nibble is clear). */
static inline int word_is_timestamp(const char *p, uint32_t n)
{
    const uint64_t high = UINT64_C(0xF0F0F0F0F0F0F0F0);
    uint64_t a, b, c;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&c, p + 16, 8);
    a ^= UINT64_C(0x3030303030303030);                  /* YYYYMMDD */
    b ^= UINT64_C(0x303a30303a30302d);                  /* -HH:MM:S */
    c = (c ^ UINT64_C(0x3030303030302e30)) & word_keep[n - 16]; /* S.fff... */
    uint64_t bad = (b & UINT64_C(0x00ff0000ff0000ff)) | (c & UINT64_C(0xff00)) |
                   ((a | b | c) & high) |
                   (((a + UINT64_C(0x0606060606060606)) | (b + UINT64_C(0x0600060600060600)) |
                     (c + UINT64_C(0x0606060606060006))) &
                    high);
    if (bad)
        return 0;
    int hh = (p[9] - '0') * 10 + (p[10] - '0');
    return hh <= 23 && p[12] <= '5' && (p[15] <= '5' || (p[15] == '6' && p[16] == '0')) &&
           date_in_range(p);
}

static int check_format(const struct fl_dict_field *fd, const char *p, size_t n)
{
    int64_t iv;
    switch (fd->type) {
    case FL_DICT_TYPE_INT:
        return is_int(p, n);
    case FL_DICT_TYPE_LENGTH:
    case FL_DICT_TYPE_NUMINGROUP:
    case FL_DICT_TYPE_SEQNUM:
        return is_uint(p, n);
    case FL_DICT_TYPE_TAGNUM:
        return is_uint(p, n) && fl_parse_int(p, n, &iv) == FL_OK && iv > 0;
    case FL_DICT_TYPE_DAYOFMONTH:
        return n <= 2 && is_uint(p, n) && fl_parse_int(p, n, &iv) == FL_OK && iv >= 1 &&
               iv <= 31;
    case FL_DICT_TYPE_FLOAT:
    case FL_DICT_TYPE_PRICE:
    case FL_DICT_TYPE_QTY:
    case FL_DICT_TYPE_AMT:
    case FL_DICT_TYPE_PERCENTAGE:
    case FL_DICT_TYPE_PRICEOFFSET:
        return is_decimal(p, n);
    case FL_DICT_TYPE_CHAR:
        return n == 1;
    case FL_DICT_TYPE_BOOLEAN:
        return n == 1 && (p[0] == 'Y' || p[0] == 'N');
    case FL_DICT_TYPE_UTCTIMESTAMP:
        return is_timestamp(p, n);
    case FL_DICT_TYPE_UTCTIMEONLY:
    case FL_DICT_TYPE_LOCALMKTTIME:
        return is_time(p, n);
    case FL_DICT_TYPE_UTCDATEONLY:
    case FL_DICT_TYPE_LOCALMKTDATE:
        return n == 8 && is_date(p);
    case FL_DICT_TYPE_MONTHYEAR:
        return check_month_year(p, n);
    case FL_DICT_TYPE_TZTIMEONLY:
        return check_tz_time(p, n);
    case FL_DICT_TYPE_TZTIMESTAMP:
        return n > 9 && p[8] == '-' && n >= 9 + 5 && is_date(p) && check_tz_time(p + 9, n - 9);
    default:
        return 1;
    }
}

static int enum_has(const struct fl_dict_field *fd, const char *p, size_t n)
{
    if (fd->char_enums) {
        unsigned char c = (unsigned char)p[0];
        return n == 1 && (fd->char_enums[c >> 5] >> (c & 31) & 1u);
    }
    if (fd->enum_keys)
        return dict_enum_keys_have(fd, p, n);
    return fl_dict_enum_name(fd, p, n) != NULL;
}

static int check_enum(const struct fl_dict_field *fd, const char *p, size_t n)
{
    switch (fd->type) {
    case FL_DICT_TYPE_MULTIPLEVALUESTRING:
    case FL_DICT_TYPE_MULTIPLESTRINGVALUE:
    case FL_DICT_TYPE_MULTIPLECHARVALUE: {
        /* Space-separated items, each an enum value. */
        size_t i = 0;
        for (;;) {
            size_t j = i;
            while (j < n && p[j] != ' ')
                j++;
            if (j == i || !enum_has(fd, p + i, j - i))
                return 0;
            if (j == n)
                return 1;
            i = j + 1;
        }
    }
    default:
        return enum_has(fd, p, n);
    }
}

/* Format and enum rules of a non-empty value: 0 when it suits the field, else the reason. */
static int check_rules(const struct fl_dict_field *fd, const char *p, size_t n)
{
    if (!check_format(fd, p, n))
        return FL_REJECT_INCORRECT_DATA_FORMAT;
    if (fd->nenums && !fd->open_enums && fd->tag != FL_TAG_MSG_TYPE && !check_enum(fd, p, n))
        return FL_REJECT_VALUE_OUT_OF_RANGE;
    return 0;
}

/* ---- the walk ---- */

struct vctx {
    const struct fl_msg *m;
    const char *buf;
    const char *end;               /* buf + the message length */
    const struct fl_field *f;
    const struct fl_field *fend;   /* f + the field count */
    const struct fl_validate_opts *o;
    const struct fl_dict *td;      /* header, trailer, admin messages */
    const struct fl_dict *ad;      /* the dictionary of the body */
    struct fl_validator *v;
    uint32_t *stamp;
    struct fl_validate_result *res;
};

/* A member list being walked: its stamp slice and generation, and the list around it. */
struct level {
    const struct fl_dict_layout *l;
    uint32_t base;
    uint32_t gen;
    const struct level *up;
};

COLD int verdict(struct vctx *c, enum fl_verdict vd, int reason, uint32_t tag, int64_t idx)
{
    c->res->verdict = vd;
    c->res->reason = reason;
    c->res->ref_tag = tag;
    c->res->field_index = (int32_t)idx;
    c->res->text = fl_validate_reason_text(vd, reason);
    return FL_EPROTO;
}

static int reject(struct vctx *c, int reason, uint32_t tag, int64_t idx)
{
    return verdict(c, FL_VERDICT_REJECT, reason, tag, idx);
}

static inline const char *value_of(const struct vctx *c, uint32_t i)
{
    return c->buf + c->f[i].off;
}

/* 0 when the non-empty value of a member suits it, else the reject reason. The common types
 * are checked inline, short values a word at a time; the others go through check_rules(). */
ALWAYS_INLINE int member_value(uint32_t w, const struct fl_dict_member *mem, const char *p,
                               uint32_t n, const char *end)
{
    uint64_t x;
    switch ((enum dict_check)DICT_SLOT_CHECK(w)) {
    case DICT_CHECK_NONE:
        return 0;
    case DICT_CHECK_UINT:
        if (value_word(p, n, end, &x))
            return (word_nondigits(x) & word_first(n)) == 0 ? 0 : check_rules(mem->field, p, n);
        return n <= 18 && all_digits(p, n) ? 0 : check_rules(mem->field, p, n);
    case DICT_CHECK_INT:
        if (value_word(p, n, end, &x))
            return word_is_int(x, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
        return is_int(p, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
    case DICT_CHECK_DECIMAL:
        if (value_word(p, n, end, &x))
            return word_is_decimal(x, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
        return is_decimal(p, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
    case DICT_CHECK_CHAR:
        return n == 1 ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
    case DICT_CHECK_CHAR_ENUM: {
        if (n != 1)
            return FL_REJECT_INCORRECT_DATA_FORMAT;
        unsigned char ch = (unsigned char)p[0];
        return mem->field->char_enums[ch >> 5] >> (ch & 31) & 1u ? 0
                                                                  : FL_REJECT_VALUE_OUT_OF_RANGE;
    }
    case DICT_CHECK_BOOLEAN:
        return n == 1 && (p[0] == 'Y' || p[0] == 'N') ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
    case DICT_CHECK_TIMESTAMP:
        if ((n == 17 || (n >= 19 && n <= 24)) && end - p >= 24)
            return word_is_timestamp(p, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
        return is_timestamp(p, n) ? 0 : FL_REJECT_INCORRECT_DATA_FORMAT;
    case DICT_CHECK_ENUM:
        if (value_word(p, n, end, &x))
            return dict_enum_keys_have_key(mem->field, x) ? 0 : FL_REJECT_VALUE_OUT_OF_RANGE;
        return dict_enum_keys_have(mem->field, p, n) ? 0 : FL_REJECT_VALUE_OUT_OF_RANGE;
    case DICT_CHECK_INT_ENUM:
        /* A listed value is an INT when all of them are: the format check is then needed only
         * to tell a bad format (6) from a value out of range (5). */
        if (value_word(p, n, end, &x)) {
            if (mem->field->enum_ints && dict_enum_keys_have_key(mem->field, x))
                return 0;
            if (!word_is_int(x, n))
                return FL_REJECT_INCORRECT_DATA_FORMAT;
            return dict_enum_keys_have_key(mem->field, x) ? 0 : FL_REJECT_VALUE_OUT_OF_RANGE;
        }
        if (!is_int(p, n))
            return FL_REJECT_INCORRECT_DATA_FORMAT;
        return dict_enum_keys_have(mem->field, p, n) ? 0 : FL_REJECT_VALUE_OUT_OF_RANGE;
    case DICT_CHECK_FULL:
        return check_rules(mem->field, p, n);
    default: /* never: dict_field_check() picks one of the above */
#if defined(__GNUC__)
        __builtin_unreachable();
#else
        return check_rules(mem->field, p, n);
#endif
    }
}

static const struct fl_dict_field *any_field(const struct vctx *c, uint32_t tag)
{
    const struct fl_dict_field *fd = dict_own_field(c->ad, tag);
    return fd || c->ad == c->td ? fd : dict_own_field(c->td, tag);
}

static int range_allowed(const struct fl_validate_opts *o, uint32_t tag)
{
    if (tag < 5000)
        return o->allow_unknown_fields;
    return tag < 10000 ? o->allow_user_fields : o->allow_internal_fields;
}

/* A tag the current member list does not hold: accepted (value checked when the dictionary
 * knows the field) when the list is open or the options allow its range, else rejected. */
NOINLINE int unlisted(struct vctx *c, uint32_t i, int open)
{
    uint32_t tag = c->f[i].tag, len = c->f[i].len;
    const struct fl_dict_field *fd = any_field(c, tag);
    if (!open && !range_allowed(c->o, tag))
        return reject(c, fd ? FL_REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE : FL_REJECT_INVALID_TAG_NUMBER,
                      tag, i);
    int r = len == 0 ? FL_REJECT_TAG_WITHOUT_VALUE : fd ? check_rules(fd, value_of(c, i), len) : 0;
    return r ? reject(c, r, tag, i) : FL_OK;
}

static inline uint32_t next_gen(struct vctx *c)
{
    return ++c->v->gen;
}

COLD int missing(struct vctx *c, const struct fl_dict_layout *l, uint32_t r, int64_t idx)
{
    return reject(c, FL_REJECT_REQUIRED_TAG_MISSING, l->members[r].tag, idx);
}

/* Rejects the first required member of the list lv that is not stamped with its generation.
 * Called only when the count of required members taken falls short, so it always finds one. */
NOINLINE int check_required(struct vctx *c, const struct level *lv, int64_t idx)
{
    const struct fl_dict_layout *l = lv->l;
    const uint32_t *stamp = c->stamp + lv->base, *req = l->required, *end = req + l->nrequired;
    for (; req < end; req++)
        if (stamp[*req] != lv->gen)
            return missing(c, l, *req, idx);
    return FL_OK;
}

static inline int32_t find(const struct fl_dict_layout *l, uint32_t tag)
{
    return dict_layout_index(l->index, l->index_mask, tag);
}

/* The parent list still takes `tag` (lists it, not yet seen): a member repeated in a group entry
 * then means the group has ended. */
static int parent_takes(const struct vctx *c, const struct level *parent, uint32_t tag)
{
    int32_t k = find(parent->l, tag);
    return k >= 0 && c->stamp[parent->base + (uint32_t)k] != parent->gen;
}

/* Some enclosing list, the header or the trailer lists `tag`: it ends a group. */
static int listed_outside(const struct vctx *c, const struct level *lv, uint32_t tag)
{
    for (; lv; lv = lv->up)
        if (find(lv->l, tag) >= 0)
            return 1;
    return find(&c->td->trailer.body, tag) >= 0 || find(&c->td->header.body, tag) >= 0;
}

static const struct fl_field *walk_group(struct vctx *c, const struct fl_dict_group *g,
                                         const struct fl_field *cf, const struct level *parent,
                                         uint32_t base);

/* Rejects field f with `reason`, its tag as RefTagID; returns NULL. A walk step that succeeds
 * returns the next field, never NULL. */
COLD const struct fl_field *fail(struct vctx *c, int reason, const struct fl_field *f)
{
    reject(c, reason, f->tag, f - c->f);
    return NULL;
}

/* Finds `tag` in an open-addressed member index: sets w to its slot word, or jumps to `miss`.
 * A macro so the hit path stays straight-line code in every loop. */
#define PROBE(index, mask, tag, w, miss)                                                        \
    do {                                                                                        \
        size_t h_ = (size_t)(((tag) * 0x9E3779B1u) >> 16) & (size_t)(mask);                    \
        while (UNLIKELY((index)[h_].tag != (tag))) {                                            \
            if ((index)[h_].tag == 0)                                                           \
                goto miss;                                                                      \
            h_ = (h_ + 1) & (size_t)(mask);                                                     \
        }                                                                                       \
        (w) = (index)[h_].member;                                                               \
    } while (0)

/* Takes field f as the member whose slot word is w in the list lv, whose stamps start at
 * `stamp`: rejects a repeat or an empty value, checks the value when the slot says so, walks
 * the group a NumInGroup opens (seen_checked: the caller has already found the member not seen
 * in this list). Returns the next field, or NULL. Forced inline: it runs once per
 * field, and the plain-string case must stay a handful of instructions. */
ALWAYS_INLINE const struct fl_field *take(struct vctx *c, const struct fl_field *f,
                                          uint32_t *stamp, uint32_t gen, uint32_t w,
                                          const struct fl_dict_member *members,
                                          const struct level *lv, uint32_t top, int seen_checked)
{
    uint32_t k = DICT_SLOT_MEMBER(w);
    if (!seen_checked && UNLIKELY(stamp[k] == gen))
        return fail(c, FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE, f);
    stamp[k] = gen;
    uint32_t len = f->len;
    if (UNLIKELY(len == 0))
        return fail(c, FL_REJECT_TAG_WITHOUT_VALUE, f);
    if ((w & DICT_SLOT_CHECKED) == 0)
        return f + 1;
    int r = member_value(w, &members[k], c->buf + f->off, len, c->end);
    if (UNLIKELY(r))
        return fail(c, r, f);
    return w & DICT_SLOT_GROUP ? walk_group(c, members[k].group, f, lv, top) : f + 1;
}

/* A NumInGroup value the fast paths did not take: its count, or -1 when it is no count. */
NOINLINE int64_t parse_count(const char *p, uint32_t n)
{
    int64_t v;
    return fl_parse_int(p, n, &v) == FL_OK && v >= 0 ? v : -1;
}

/* Walks the group whose NumInGroup field is cf (its value already checked); its entries' stamps
 * start at `base`. Returns the first field after the group, or NULL. */
static const struct fl_field *walk_group(struct vctx *c, const struct fl_dict_group *g,
                                         const struct fl_field *cf, const struct level *parent,
                                         uint32_t base)
{
    const char *cp = c->buf + cf->off;
    uint32_t cn = cf->len;
    int64_t declared = 0;
    if (cn == 1 && digit(cp[0])) { /* the usual cases, without a call */
        declared = cp[0] - '0';
    } else if (cn <= 9 && all_digits(cp, cn)) {
        for (uint32_t k = 0; k < cn; k++)
            declared = declared * 10 + (cp[k] - '0');
    } else if ((declared = parse_count(cp, cn)) < 0) {
        return fail(c, FL_REJECT_INCORRECT_DATA_FORMAT, cf);
    }
    struct level lv = {&g->entry, base, 0, parent};
    const struct fl_dict_slot *index = g->entry.index;
    const struct fl_dict_member *members = g->entry.members;
    uint32_t mask = g->entry.index_mask, top = base + g->entry.nmembers;
    uint32_t nreq = g->entry.nrequired, req = 0;
    uint32_t *stamp = c->stamp + base;
    const struct fl_field *f = cf + 1, *fend = c->fend, *entry_start = f;
    uint32_t entries = 0, last = 0;
    while (f < fend) {
        uint32_t tag = f->tag, w;
        PROBE(index, mask, tag, w, not_member);
        uint32_t pos = DICT_SLOT_MEMBER(w);
        if (pos == 0) {
            if (entries && UNLIKELY(req != nreq) &&
                check_required(c, &lv, entry_start - c->f) != FL_OK)
                return NULL;
            entries++;
            lv.gen = next_gen(c);
            entry_start = f;
            last = 0;
            req = 0;
        } else if (UNLIKELY(entries == 0 || stamp[pos] == lv.gen ||
                            (pos < last && c->o->strict_group_order))) {
            if (parent_takes(c, parent, tag))
                break;
            return fail(c, entries && stamp[pos] == lv.gen ? FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE
                                                           : FL_REJECT_GROUP_FIELDS_OUT_OF_ORDER,
                        f);
        } else {
            last = pos;
        }
        req += w & DICT_SLOT_REQUIRED;
        /* The checks above leave the member unseen in this entry. */
        if ((f = take(c, f, stamp, lv.gen, w, members, &lv, top, 1)) == NULL)
            return NULL;
        continue;
    not_member:
        /* Not a member: the group ends, unless an open group or an allowed unknown tag keeps it
         * inside the entry (tags an enclosing list knows always end it). */
        if (entries == 0 || (!g->open && (!range_allowed(c->o, tag) || any_field(c, tag))) ||
            listed_outside(c, parent, tag))
            break;
        if (unlisted(c, (uint32_t)(f - c->f), 1) != FL_OK)
            return NULL;
        f++;
    }
    if (entries && UNLIKELY(req != nreq) && check_required(c, &lv, entry_start - c->f) != FL_OK)
        return NULL;
    if (UNLIKELY((int64_t)entries != declared)) {
        reject(c, FL_REJECT_INCORRECT_NUM_IN_GROUP, g->def.count_tag, cf - c->f);
        return NULL;
    }
    return f;
}

/* Where a field the current section's index does not hold goes (walk_message). */
enum { MISS_NEXT_SECTION = -1, MISS_SKIP = -2, MISS_REJECTED = -3 };

/* Field f is not a member of section `sec` (0 header, 1 body, 2 trailer): it starts a later
 * section (re-probed there), is an accepted unlisted field (skipped), or is rejected. */
NOINLINE int section_miss(struct vctx *c, const struct fl_field *f, int sec,
                          const struct fl_dict_message *msg, const struct fl_dict_layout *bl)
{
    const struct fl_dict_layout *hl = &c->td->header.body, *tl = &c->td->trailer.body;
    uint32_t tag = f->tag, i = (uint32_t)(f - c->f);
    if (sec == 0) {
        /* An allowed unknown tag among the header fields keeps the header open. */
        if (find(bl, tag) >= 0 || find(tl, tag) >= 0 || !range_allowed(c->o, tag) ||
            any_field(c, tag))
            return MISS_NEXT_SECTION;
        return unlisted(c, i, 1) != FL_OK ? MISS_REJECTED : MISS_SKIP;
    }
    if (sec == 1) {
        if (find(tl, tag) >= 0)
            return MISS_NEXT_SECTION;
        if (find(hl, tag) >= 0) {
            reject(c, FL_REJECT_TAG_OUT_OF_ORDER, tag, i);
            return MISS_REJECTED;
        }
        if (msg && unlisted(c, i, msg->open) != FL_OK)
            return MISS_REJECTED;
        return MISS_SKIP;
    }
    reject(c, FL_REJECT_TAG_OUT_OF_ORDER, tag, i);
    return MISS_REJECTED;
}

/* Walks the whole message in one loop: header fields, then body fields, then trailer fields,
 * the loop's index, stamps and members switched when a field starts the next section. msg
 * NULL: the body is not checked (session level, application message or unknown MsgType).
 * Required members are counted as they are taken; only when the count falls short are the
 * lists searched for the one to name. */
ALWAYS_INLINE int walk_message(struct vctx *c, const struct fl_dict_message *msg)
{
    static const struct fl_dict_slot empty_slot[1];
    static const struct fl_dict_layout none = {NULL, NULL, empty_slot, 0, 0, 0, 0};
    const struct fl_dict_layout *hl = &c->td->header.body, *tl = &c->td->trailer.body;
    const struct fl_dict_layout *bl = msg ? &msg->body : &none;
    uint32_t g = next_gen(c);
    struct level lvs[3] = {{hl, tl->nmembers, g, NULL},
                           {bl, tl->nmembers + hl->nmembers, g, NULL},
                           {tl, 0, g, NULL}};
    uint32_t top = lvs[1].base + bl->nmembers;
    const struct fl_field *f = c->f, *fend = c->fend;
    int sec = 0;
    const struct level *lv = &lvs[0];
    const struct fl_dict_slot *index = hl->index;
    uint32_t mask = hl->index_mask, req = 0;
    uint32_t *stamp = c->stamp + lv->base;
    const struct fl_dict_member *members = hl->members;
    while (f < fend) {
        uint32_t tag = f->tag, w;
        PROBE(index, mask, tag, w, miss);
    hit:
        req += w & DICT_SLOT_REQUIRED;
        if ((f = take(c, f, stamp, g, w, members, lv, top, 0)) == NULL)
            return FL_EPROTO;
        continue;
    miss:
        /* The usual way a section ends: the field is a member of the next one. */
        if (sec < 2) {
            const struct fl_dict_layout *nl = lvs[sec + 1].l;
            PROBE(nl->index, nl->index_mask, tag, w, slow_miss);
            lv = &lvs[++sec];
            index = nl->index;
            mask = nl->index_mask;
            stamp = c->stamp + lv->base;
            members = nl->members;
            goto hit;
        }
    slow_miss:;
        int r = section_miss(c, f, sec, msg, bl);
        if (r == MISS_SKIP) {
            f++;
        } else if (r == MISS_NEXT_SECTION) {
            lv = &lvs[++sec];
            index = lv->l->index;
            mask = lv->l->index_mask;
            stamp = c->stamp + lv->base;
            members = lv->l->members;
        } else {
            return FL_EPROTO;
        }
    }
    if (UNLIKELY(req != hl->nrequired + bl->nrequired + tl->nrequired)) {
        int rc;
        if ((rc = check_required(c, &lvs[0], -1)) != FL_OK ||
            (rc = check_required(c, &lvs[1], -1)) != FL_OK ||
            (rc = check_required(c, &lvs[2], -1)) != FL_OK)
            return rc;
    }
    return FL_OK;
}

/* One or two letters or digits (every standard MsgType), or "U..." (user-defined). */
static int msg_type_well_formed(const char *p, size_t n)
{
    size_t max = n && p[0] == 'U' ? 16 : 2;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!digit((char)ch) && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
            return 0;
    }
    return 1;
}

/* Picks the application dictionary of a FIXT message; NULL with a reject when its ApplVerID
 * names none. */
static const struct fl_dict *pick_app(struct vctx *c)
{
    const struct fl_dict *td = c->td;
    int ai = fl_msg_hdr(c->m, FL_HDR_APPL_VER_ID);
    if (ai >= 0) {
        const struct fl_dict *app = fl_dict_app(td, value_of(c, (uint32_t)ai), c->f[ai].len);
        if (!app)
            reject(c, FL_REJECT_INVALID_UNSUPPORTED_APPL_VERSION, FL_TAG_APPL_VER_ID, ai);
        return app;
    }
    const char *def = c->o->default_appl_ver_id;
    const struct fl_dict *app = def ? fl_dict_app(td, def, strlen(def)) : NULL;
    return app ? app : td->apps[0].dict;
}

int fl_dict_validate(const struct fl_dict *d, const struct fl_msg *m,
                     const struct fl_validate_opts *opts, struct fl_validator *v,
                     struct fl_validate_result *res)
{
    static const struct fl_validate_opts defaults = {FL_VALIDATE_LEVEL_FULL, 0, 0, 0, 0, NULL};
    if (!d || !m || !v || !res)
        return FL_EINVAL;
    if (!opts)
        opts = &defaults;
    res->verdict = FL_VERDICT_OK;
    res->reason = 0;
    res->ref_tag = 0;
    res->field_index = -1;
    res->text = "";
    if (opts->level == FL_VALIDATE_LEVEL_OFF)
        return FL_OK;
    if (d->header.body.nmembers == 0)
        return FL_EINVAL;

    struct vctx c = {m,    m->buf, m->buf + m->len, m->fields, m->fields + m->nfields,
                     opts, d,      d,               v,         NULL,
                     res};
    if (m->problem != FL_PARSE_OK && m->problem != FL_PARSE_HEADER_ORDER &&
        m->problem != FL_PARSE_REPEATED_TAG) {
        int idx = -1;
        for (uint32_t i = 0; m->problem_tag && i < m->nfields; i++)
            if (m->fields[i].tag == m->problem_tag) {
                idx = (int)i;
                break;
            }
        return reject(&c, fl_parse_problem_reject_reason(m->problem), m->problem_tag, idx);
    }

    int mi = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    if (mi < 0)
        return reject(&c, FL_REJECT_REQUIRED_TAG_MISSING, FL_TAG_MSG_TYPE, -1);
    const char *mt = value_of(&c, (uint32_t)mi);
    size_t mtn = m->fields[mi].len;

    const struct fl_dict_message *msg = dict_own_message(d, mt, mtn);
    if (d->napps && (!msg || !msg->admin)) {
        const struct fl_dict *app = pick_app(&c);
        if (!app)
            return FL_EPROTO;
        const struct fl_dict_message *am = dict_own_message(app, mt, mtn);
        if (am || !msg) {
            msg = am;
            c.ad = app;
        }
    }

    uint32_t need = d->trailer.body.scratch + d->header.body.scratch +
                    (msg ? msg->body.scratch : 0);
    if (validator_reserve(v, need) != FL_OK)
        return FL_ENOMEM;
    /* Why here: a message takes at most one generation per field plus one, so restarting
     * before the counter could wrap keeps every stamp of this message comparable. */
    if (v->gen > UINT32_MAX - m->nfields - 2) {
        memset(v->stamp, 0, (size_t)v->cap * sizeof *v->stamp);
        v->gen = 0;
    }
    c.stamp = v->stamp;

    int well_formed = msg || msg_type_well_formed(mt, mtn);
    if (!well_formed)
        return reject(&c, FL_REJECT_INVALID_MSG_TYPE, FL_TAG_MSG_TYPE, mi);
    int check_body = msg && (opts->level == FL_VALIDATE_LEVEL_FULL || msg->admin);
    int rc = walk_message(&c, check_body ? msg : NULL);
    if (rc != FL_OK || msg || opts->level != FL_VALIDATE_LEVEL_FULL)
        return rc;
    /* A well-formed MsgType the dictionary does not define: valid FIX this application does
     * not support. FIX.4.0 and 4.1 have no BusinessMessageReject, so they get Reject 11. */
    if (d->info.transport || d->has_business_reject || c.ad->has_business_reject)
        return verdict(&c, FL_VERDICT_BUSINESS_REJECT, 3, FL_TAG_MSG_TYPE, mi);
    return reject(&c, FL_REJECT_INVALID_MSG_TYPE, FL_TAG_MSG_TYPE, mi);
}
