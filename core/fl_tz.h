/* fixlua — time zones for session schedules: UTC, fixed offsets, and the IANA zones of the
 * system's zoneinfo files (TZif, RFC 8536), daylight saving time included.
 *
 * A zone answers one question, the offset of local time from UTC at a UTC instant, and from it
 * the UTC instant of a local time (fl_tz_to_utc), which is what a schedule needs to turn
 * "Sun 17:00 America/New_York" into a timer. Times are seconds since the epoch, POSIX time
 * (leap seconds are not counted). A zone is immutable once loaded; no global state, no TZ
 * environment variable, no localtime(): any number of zones in any number of threads. */
#ifndef FL_TZ_H
#define FL_TZ_H

#include <stddef.h>
#include <stdint.h>

struct fl_tz;

/* Where IANA zone names are looked up unless the caller names another directory. */
#define FL_TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* Loads the zone `name`: "UTC" (also "GMT", "Z"), a fixed offset ("+02:00", "-0530", "UTC-5",
 * "GMT+1": the sign is east of Greenwich, as in ISO 8601, not POSIX's), or an IANA name such as
 * "America/New_York" read from dir/name (dir NULL: FL_TZ_DEFAULT_DIR). FL_OK with *out (free
 * with fl_tz_free), or FL_EINVAL (a name that is neither), FL_ENOENT (no such zone file), FL_EIO,
 * FL_EFORMAT (not a TZif file, or one this reader cannot use), FL_ENOMEM; errbuf says why. */
int fl_tz_load(const char *name, const char *dir, struct fl_tz **out, char *errbuf,
               size_t errlen);

/* The zone in the TZif bytes p[0..n) (a zone file's contents); name is kept for messages. */
int fl_tz_parse(const void *p, size_t n, const char *name, struct fl_tz **out, char *errbuf,
                size_t errlen);

/* Another owner of tz (for sessions made from a template): each owner calls fl_tz_free(). */
struct fl_tz *fl_tz_ref(struct fl_tz *tz);

void fl_tz_free(struct fl_tz *tz);

const char *fl_tz_name(const struct fl_tz *tz);

/* The offset of local time at UTC instant t: local = t + offset, in seconds. */
int32_t fl_tz_offset(const struct fl_tz *tz, int64_t t);

/* The earliest UTC instant whose local time is `local` or later: for a local time that occurs
 * twice (clocks set back) its first occurrence; for one that does not occur (clocks set
 * forward over it) the instant the clocks jump. */
int64_t fl_tz_to_utc(const struct fl_tz *tz, int64_t local);

#endif
