/* fixlua — building and serialising outbound FIX messages.
 *
 * A builder writes one message at a time into a buffer it owns and reuses, so steady-state
 * building does not allocate. Fields are appended in call order; the caller writes header
 * fields first (fl_builder_begin() writes BeginString, BodyLength and MsgType, which the
 * standard requires first, in that order), then the body. fl_builder_finish() fills in
 * BodyLength and appends CheckSum(10). The BodyLength prefix is written right-aligned in
 * reserved space in front of the body, so nothing is moved. */
#ifndef FL_BUILDER_H
#define FL_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_msg.h"

/* Longest BeginString accepted, as in fl_frame.c ("FIXT.1.1" is 8). */
#define FL_BUILDER_MAX_BEGIN_STRING 16

struct fl_builder {
    char *buf;          /* owned */
    size_t cap;
    size_t start;       /* offset where the finished frame starts (after finish) */
    size_t body;        /* offset of the first byte counted by BodyLength */
    size_t pos;         /* write position */
    size_t max_len;     /* limit on one message (0: FL_BUILDER_DEFAULT_MAX_LEN) */
    char begin_string[FL_BUILDER_MAX_BEGIN_STRING + 1]; /* copied by fl_builder_begin() */
    size_t begin_string_len;
    int failed;         /* sticky FL_E… code from an add that failed, reported by finish */
    size_t fast_end;    /* while a message may take adds: min(cap, RESERVE + limit), else 0 */
    size_t fast_max_len; /* max_len when fast_end was set (a changed max_len is noticed) */
    size_t head_len;    /* length of head */
    char head[2 + FL_BUILDER_MAX_BEGIN_STRING + 1 + 2 + 3]; /* "8=<BeginString><SOH>9=",
                           built when the BeginString changes, copied in front of each frame */
    int64_t time_sec;   /* second (since the epoch) whose "YYYYMMDD-HH:MM:SS" is in time_text:
                           timestamps of one session mostly share it, and it costs most to
                           format */
    char time_text[24];
};

#define FL_BUILDER_DEFAULT_MAX_LEN (1u << 20)
/* Decimal scales the formatter writes exactly: 19 digits with 38 decimals, or 18 zeros
 * appended, both fit its 41-byte buffer. */
#define FL_DECIMAL_MIN_SCALE (-18)
#define FL_DECIMAL_MAX_SCALE 38

void fl_builder_init(struct fl_builder *b);
void fl_builder_release(struct fl_builder *b);

/* Starts a message: BeginString (e.g. "FIX.4.4") and MsgType (e.g. "D"). Both are copied. */
FL_MUST_CHECK int fl_builder_begin(struct fl_builder *b, const char *begin_string,
                                   const char *msg_type, size_t msg_type_len);

/* Appends one field. Values are copied. Add functions never fail immediately: the first error
 * (FL_ENOMEM, FL_ELIMIT for an oversized message, FL_EINVAL for tag 0 or a tag of more than
 * nine digits, a value containing SOH
 * in a non-data field, an empty value, an impossible date or a decimal scale outside
 * [FL_DECIMAL_MIN_SCALE, FL_DECIMAL_MAX_SCALE]) is kept and returned by fl_builder_finish(). */
void fl_builder_add_str(struct fl_builder *b, uint32_t tag, const char *p, size_t n);
void fl_builder_add_cstr(struct fl_builder *b, uint32_t tag, const char *s);
void fl_builder_add_int(struct fl_builder *b, uint32_t tag, int64_t v);
void fl_builder_add_char(struct fl_builder *b, uint32_t tag, char c);
void fl_builder_add_bool(struct fl_builder *b, uint32_t tag, int v);
void fl_builder_add_decimal(struct fl_builder *b, uint32_t tag, struct fl_decimal d);
/* UTCTimestamp from ns since the epoch with 0, 3, 6 or 9 fractional digits. */
void fl_builder_add_utc_timestamp(struct fl_builder *b, uint32_t tag, int64_t ns, int digits);
void fl_builder_add_utc_time_only(struct fl_builder *b, uint32_t tag, int64_t ns, int digits);
void fl_builder_add_date(struct fl_builder *b, uint32_t tag, struct fl_date d);
/* A data pair: the length field then the data field, whose bytes may contain SOH. */
void fl_builder_add_data(struct fl_builder *b, uint32_t len_tag, uint32_t data_tag,
                         const char *p, size_t n);
/* Appends already-encoded "tag=value<SOH>..." bytes verbatim (e.g. a stored body). */
void fl_builder_add_raw(struct fl_builder *b, const char *p, size_t n);

/* Finishes the message: writes BodyLength, appends CheckSum. On FL_OK (out, n) is the frame,
 * valid until the next fl_builder_begin() or release. FL_ELIMIT when the whole frame would
 * exceed max_len. Adding to or finishing a finished message fails with FL_ESTATE until the
 * next fl_builder_begin(). */
FL_MUST_CHECK int fl_builder_finish(struct fl_builder *b, const char **out, size_t *n);

/* Formats helpers shared with other layers; each returns the number of bytes written. */
size_t fl_format_int(char *dst, int64_t v);                 /* needs 20 bytes */
size_t fl_format_decimal(char *dst, struct fl_decimal d);   /* needs 41 bytes; scale clamped
                                                               to the range below */
size_t fl_format_utc_timestamp(char *dst, int64_t ns, int digits); /* needs 27 bytes */
size_t fl_format_utc_time_only(char *dst, int64_t ns, int digits); /* needs 18 bytes */

#endif
