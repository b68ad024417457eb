/* fixlua — the FIX message: parse into a field index, typed getters, repeating groups.
 *
 * A parsed message is an index of (tag, value span) over bytes it does not own by default:
 * fl_msg_parse() borrows the frame until the caller is done with the message (the inbound
 * receive buffer, see fl_session.h). fl_msg_clone() makes an owning copy. The index keeps
 * field order and repeated tags, so resends and repeating groups read exactly what arrived.
 * A struct fl_msg is reusable: parsing into it again reuses its field array, so steady-state
 * parsing does not allocate. Building outbound messages is fl_builder.h's job. */
#ifndef FL_MSG_H
#define FL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

struct fl_field {
    uint32_t tag;
    uint32_t off; /* value offset from msg->buf */
    uint32_t len; /* value length */
};

/* What fl_msg_parse() found wrong with a message it could still index. A message with a
 * problem is still fully tokenised where possible, so the session can answer with the right
 * Reject(3) SessionRejectReason and RefTagID. Only the first problem is kept. */
enum fl_parse_problem {
    FL_PARSE_OK = 0,
    FL_PARSE_BAD_TAG,            /* tag not a positive decimal number (reason 0, invalid tag) */
    FL_PARSE_NO_EQUALS,          /* field without '=' (reason 0) */
    FL_PARSE_EMPTY_VALUE,        /* tag present without value (reason 4) */
    FL_PARSE_REPEATED_TAG,       /* header/trailer tag repeated (reason 13) */
    FL_PARSE_HEADER_ORDER,       /* header field after a body field, or trailer field not last
                                    (reason 14) */
    FL_PARSE_BAD_DATA_LENGTH,    /* length field of a data pair invalid, or data overruns
                                    (reason 6) */
    FL_PARSE_TOO_MANY_FIELDS,    /* more fields than the configured maximum */
    FL_PARSE_NOT_FRAMED,         /* does not start 8=, 9=, 35= or lacks the trailing 10= */
    FL_PARSE__COUNT
};

/* Header fields the session layer reads on every message, indexed while parsing. */
enum fl_hdr_slot {
    FL_HDR_BEGIN_STRING = 0,
    FL_HDR_BODY_LENGTH,
    FL_HDR_MSG_TYPE,
    FL_HDR_SENDER_COMP_ID,
    FL_HDR_TARGET_COMP_ID,
    FL_HDR_MSG_SEQ_NUM,
    FL_HDR_SENDING_TIME,
    FL_HDR_POSS_DUP_FLAG,
    FL_HDR_POSS_RESEND,
    FL_HDR_ORIG_SENDING_TIME,
    FL_HDR_APPL_VER_ID,
    FL_HDR_LAST_MSG_SEQ_NUM_PROCESSED,
    FL_HDR_CHECKSUM,
    FL_HDR__COUNT
};

/* Tags answered by the table that fl_msg_index_low_tags() fills, and its "not here" mark. */
#define FL_MSG_LOW_TAGS 64u
#define FL_MSG_LOW_FAR 0xffu

struct fl_msg {
    const char *buf;           /* the bytes the spans point into (borrowed unless `owned`) */
    size_t len;
    struct fl_field *fields;   /* field index in wire order */
    uint32_t nfields;
    uint32_t cap;              /* capacity of `fields` */
    uint32_t max_fields;       /* parse limit; 0 means FL_MSG_DEFAULT_MAX_FIELDS */
    uint32_t body_begin;       /* index of the first body field (== nfields if none) */
    uint32_t trailer_begin;    /* index of the first trailer field (93, 89 or 10) */
    uint16_t hdr[FL_HDR__COUNT];   /* 1 + field index of each slot, 0 when absent */
    /* 1 + the index of the first field of each tag below FL_MSG_LOW_TAGS, 0 when the tag is
     * absent, FL_MSG_LOW_FAR when fl_msg_find() must scan for it: filled by
     * fl_msg_index_low_tags(), all FL_MSG_LOW_FAR after parsing. */
    uint8_t low_first[FL_MSG_LOW_TAGS];
    enum fl_parse_problem problem; /* first problem found, FL_PARSE_OK if none */
    uint32_t problem_tag;      /* tag involved in `problem` (0 if none could be read) */
    char *owned;               /* non-NULL when the message owns `buf` */
};

#define FL_MSG_DEFAULT_MAX_FIELDS 8192u

/* Initialises an empty message. Does not allocate. */
void fl_msg_init(struct fl_msg *m);
/* Releases the field array and any owned buffer; accepts NULL. The struct may be reused after
 * fl_msg_init(). */
void fl_msg_release(struct fl_msg *m);

/* Tokenises one framed message p[0..n) (as found by fl_frame_scan) into m, replacing what m
 * held. Borrows p: spans stay valid while p does. Returns FL_OK (check m->problem for protocol
 * problems that still let the message be indexed), FL_ENOMEM, or FL_ELIMIT when the message
 * has more than max_fields fields (m->problem is then FL_PARSE_TOO_MANY_FIELDS). */
FL_MUST_CHECK int fl_msg_parse(struct fl_msg *m, const char *p, size_t n);

/* Records the first field of each tag below FL_MSG_LOW_TAGS, so that fl_msg_find() answers
 * those tags without a scan until m is parsed again: worth its cost (a few instructions per
 * field) for a message about to be read field by field, as the session does before handing a
 * message to the application. */
void fl_msg_index_low_tags(struct fl_msg *m);

/* Makes `dst` an owning deep copy of `src` (buffer and index). dst must be initialised.
 * Returns FL_OK or FL_ENOMEM. */
FL_MUST_CHECK int fl_msg_clone(struct fl_msg *dst, const struct fl_msg *src);

/* Short description of a parse problem. */
const char *fl_parse_problem_text(enum fl_parse_problem p);
/* The SessionRejectReason(373) a parse problem calls for. */
int fl_parse_problem_reject_reason(enum fl_parse_problem p);

/* Index of the first field with `tag` at or after index `from`, or -1. */
int fl_msg_find_from(const struct fl_msg *m, uint32_t tag, uint32_t from);
/* fl_msg_find() for tags the low-tag table does not answer: header slots are answered from
 * m->hdr, anything else by a scan. */
int fl_msg_find_scan(const struct fl_msg *m, uint32_t tag);
/* Index of the first field with `tag`, or -1. */
static inline int fl_msg_find(const struct fl_msg *m, uint32_t tag)
{
    if (tag < FL_MSG_LOW_TAGS && m->low_first[tag] != FL_MSG_LOW_FAR)
        return (int)m->low_first[tag] - 1;
    return fl_msg_find_scan(m, tag);
}
/* Number of fields carrying `tag`. */
uint32_t fl_msg_count(const struct fl_msg *m, uint32_t tag);
/* Pointer to the value of field index i. */
static inline const char *fl_msg_value(const struct fl_msg *m, uint32_t i)
{
    return m->buf + m->fields[i].off;
}
/* Field index of a header slot, or -1. */
static inline int fl_msg_hdr(const struct fl_msg *m, enum fl_hdr_slot s)
{
    return (int)m->hdr[s] - 1;
}

/* Typed getters. Each looks up the first occurrence of `tag` and returns FL_OK, FL_ENOENT
 * when absent, or FL_EFORMAT when the value does not have the type's syntax (FL_ERANGE when it
 * does but overflows). Strings are spans into the message; they are not NUL-terminated. The
 * fl_field_* variants take a field index instead of a tag, for repeated tags and groups. */
FL_MUST_CHECK int fl_msg_get_str(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n);
FL_MUST_CHECK int fl_msg_get_int(const struct fl_msg *m, uint32_t tag, int64_t *out);
FL_MUST_CHECK int fl_msg_get_char(const struct fl_msg *m, uint32_t tag, char *out);
FL_MUST_CHECK int fl_msg_get_bool(const struct fl_msg *m, uint32_t tag, int *out);

/* A decimal without float loss: value = mantissa * 10^-scale. "-12.50" is {-1250, 2}. */
struct fl_decimal {
    int64_t mantissa;
    int32_t scale;
};
FL_MUST_CHECK int fl_msg_get_decimal(const struct fl_msg *m, uint32_t tag, struct fl_decimal *out);

/* UTCTimestamp: nanoseconds since the Unix epoch; *digits receives the number of fractional
 * second digits present (normally 0, 3, 6 or 9; any count up to 12 is accepted, digits after
 * the ninth are dropped). digits may be NULL. A leap second (:60) reads as the next second.
 * FL_ERANGE for dates outside what int64 nanoseconds hold (before 1677-09-22, after
 * 2262-04-11). */
FL_MUST_CHECK int fl_msg_get_utc_timestamp(const struct fl_msg *m, uint32_t tag, int64_t *ns,
                                           int *digits);
/* UTCTimeOnly: nanoseconds since midnight. */
FL_MUST_CHECK int fl_msg_get_utc_time_only(const struct fl_msg *m, uint32_t tag, int64_t *ns,
                                           int *digits);
/* LocalMktDate / UTCDateOnly (YYYYMMDD). */
struct fl_date {
    int year, month, day;
};
FL_MUST_CHECK int fl_msg_get_date(const struct fl_msg *m, uint32_t tag, struct fl_date *out);
/* A data field (RawData 96, XmlData 213, ...): its bytes, which may contain SOH; the length
 * was checked against its length field (95, 212, ...) while parsing. */
FL_MUST_CHECK int fl_msg_get_data(const struct fl_msg *m, uint32_t tag, const char **p, size_t *n);

/* The same value parsers on a bare span, for field indexes, groups and other layers. */
FL_MUST_CHECK int fl_parse_int(const char *p, size_t n, int64_t *out);
FL_MUST_CHECK int fl_parse_decimal(const char *p, size_t n, struct fl_decimal *out);
FL_MUST_CHECK int fl_parse_bool(const char *p, size_t n, int *out);
FL_MUST_CHECK int fl_parse_utc_timestamp(const char *p, size_t n, int64_t *ns, int *digits);
FL_MUST_CHECK int fl_parse_utc_time_only(const char *p, size_t n, int64_t *ns, int *digits);
FL_MUST_CHECK int fl_parse_date(const char *p, size_t n, struct fl_date *out);

/* Data-field pairs: the data tag that a length tag announces (96 for 95, 213 for 212, ...),
 * or 0 when `tag` is not a length tag. */
uint32_t fl_data_tag_for_length(uint32_t tag);
/* 1 when `tag` belongs to the standard header (any FIX version), 2 when to the trailer, else 0. */
int fl_tag_section(uint32_t tag);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t fl_days_from_civil(int y, int m, int d);
void fl_civil_from_days(int64_t z, int *y, int *m, int *d);

#endif
