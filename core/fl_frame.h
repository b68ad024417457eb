/* fixlua — framing: find one complete FIX message in a byte stream.
 *
 * A frame is 8=BeginString SOH 9=BodyLength SOH 35=... SOH ... 10=NNN SOH, where BodyLength
 * counts the bytes from the one after the SOH that ends field 9 up to and including the SOH
 * before "10=". The scanner works on a borrowed span and never allocates; it verifies
 * BodyLength, the position and syntax of CheckSum(10), the checksum value, and that MsgType(35)
 * is the third field. Garbage is reported with the number of bytes to drop, so the caller
 * resynchronises on the next "8=FIX". Depends on nothing but libc. */
#ifndef FL_FRAME_H
#define FL_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum fl_frame_status {
    FL_FRAME_OK = 0,     /* a complete, valid frame starts at offset 0 */
    FL_FRAME_NEED_MORE,  /* the bytes so far are a valid prefix; read more */
    FL_FRAME_GARBLED,    /* drop `skip` bytes and scan again; `reason` says why */
    FL_FRAME__COUNT
};

enum fl_frame_reason {
    FL_FRAME_REASON_NONE = 0,
    FL_FRAME_REASON_NO_BEGIN_STRING,   /* bytes before the next "8=FIX" */
    FL_FRAME_REASON_BAD_BEGIN_STRING,  /* 8= value not terminated / too long */
    FL_FRAME_REASON_NO_BODY_LENGTH,    /* second field is not 9= */
    FL_FRAME_REASON_BAD_BODY_LENGTH,   /* 9= value not a plain positive integer */
    FL_FRAME_REASON_TOO_LARGE,         /* the frame would exceed the configured maximum */
    FL_FRAME_REASON_NO_MSG_TYPE,       /* third field is not 35= */
    FL_FRAME_REASON_BAD_CHECKSUM_FIELD,/* "10=NNN<SOH>" not where BodyLength says */
    FL_FRAME_REASON_CHECKSUM_MISMATCH, /* CheckSum value differs from the computed sum */
    FL_FRAME_REASON__COUNT
};

struct fl_frame {
    size_t len;                      /* FL_FRAME_OK: total length, "8=" to the final SOH */
    size_t skip;                     /* FL_FRAME_GARBLED: bytes to discard before scanning again */
    enum fl_frame_reason reason;     /* FL_FRAME_GARBLED: why */
    uint32_t begin_string_off;       /* FL_FRAME_OK: offset of the BeginString value */
    uint32_t begin_string_len;
    uint32_t body_off;               /* FL_FRAME_OK: offset of the first BodyLength byte */
    uint32_t body_len;               /* BodyLength value */
};

/* The largest frame accepted when the caller passes max_len 0. */
#define FL_FRAME_DEFAULT_MAX_LEN (1u << 20)

/* Scans p[0..n) for one frame starting at offset 0. Returns FL_FRAME_OK with out->len set,
 * FL_FRAME_NEED_MORE, or FL_FRAME_GARBLED with out->skip > 0 and out->reason. When the data
 * does not start with "8=FIX", the garbage up to the next "8=FIX" (or all but a possible
 * partial "8=FIX" at the end) is reported as GARBLED so the caller can count and drop it.
 * Frames longer than max_len bytes (0: FL_FRAME_DEFAULT_MAX_LEN) are GARBLED/TOO_LARGE.
 * Borrows p until return. */
enum fl_frame_status fl_frame_scan(const char *p, size_t n, size_t max_len, struct fl_frame *out);

/* Short text for a reason, e.g. "CheckSum mismatch". */
const char *fl_frame_reason_text(enum fl_frame_reason r);

/* Sum of bytes mod 256, the FIX CheckSum(10) of p[0..n). */
unsigned fl_checksum(const char *p, size_t n);

#endif
