/* fixlua — error codes shared by every C unit.
 *
 * fl_err is the one status vocabulary of the C core: FL_OK (0) or a negative code. Protocol
 * problems (a bad checksum, a low sequence number) are not C errors; they are session events
 * (see fl_session.h). fl_err_name() gives the short name used in logs and in Lua fail tuples. */
#ifndef FL_ERR_H
#define FL_ERR_H

#if defined(__GNUC__)
#define FL_MUST_CHECK __attribute__((warn_unused_result))
#else
#define FL_MUST_CHECK
#endif

enum fl_err {
    FL_OK = 0,
    FL_ENOMEM = -1,     /* allocation failed */
    FL_EINVAL = -2,     /* invalid argument */
    FL_EAGAIN = -3,     /* try again later (queue full) */
    FL_EPROTO = -4,     /* malformed FIX message */
    FL_ECHECKSUM = -5,  /* CheckSum(10) mismatch */
    FL_EBODYLEN = -6,   /* BodyLength(9) wrong */
    FL_ECLOSED = -7,    /* object closed */
    FL_EIO = -8,        /* I/O error */
    FL_ETLS = -9,       /* TLS error */
    FL_ENOENT = -10,    /* field / record not found */
    FL_EFORMAT = -11,   /* value has the wrong data format */
    FL_ERANGE = -12,    /* value out of range */
    FL_ELIMIT = -13,    /* a configured limit was exceeded */
    FL_ECORRUPT = -14,  /* persistent data is corrupt */
    FL_ESTATE = -15,    /* operation not allowed in the current state */
};

/* Short name of a status code, e.g. "EPROTO"; "UNKNOWN" for codes not listed above. */
const char *fl_err_name(int rc);
/* Human-readable description of a status code. */
const char *fl_strerror(int rc);

#endif
