/* fixlua — the message journal interface: sequence numbers and sent messages, crash-safe.
 *
 * A store keeps, per session: the next outbound MsgSeqNum, the next expected inbound MsgSeqNum,
 * the session's creation time, and every outbound message by MsgSeqNum so ResendRequests can
 * be served. All changes go through fl_store_commit() with one batch: the new expected inbound
 * number together with the messages sent while handling that inbound message. A batch is
 * atomic: after a crash at any instant, either all of it is recovered or none of it, so an
 * inbound message is never lost nor handled twice with unmarked duplicate replies.
 * Store-before-send: the session commits a batch before any of its bytes may leave.
 *
 * Two implementations: fl_store_mem_new() (memory, for tests and users who ask for it) and
 * fl_store_file_open() (append-only journal of checksummed records, see fl_store_file.c).
 * Reads stream: an iterator returns one message at a time into a reusable buffer, so a resend
 * of a million messages never holds them all in memory. The vtable follows libevent's eventop. */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

struct fl_store;
struct fl_store_iter;

/* One outbound message of a batch. */
struct fl_store_msg {
    uint64_t seq;       /* its MsgSeqNum */
    const char *data;   /* the complete frame as sent */
    size_t len;
};

/* Everything that changes together. Zero fields mean "unchanged". After a commit with
 * messages, next_sender becomes (last message seq + 1) unless next_sender is set explicitly. */
struct fl_store_batch {
    uint64_t next_target;           /* new next expected inbound MsgSeqNum, 0: unchanged */
    uint64_t next_sender;           /* new next outbound MsgSeqNum, 0: derived/unchanged */
    const struct fl_store_msg *msgs; /* messages, ascending seq */
    size_t nmsgs;
};

enum fl_store_sync {
    FL_STORE_SYNC_NONE = 0,   /* no fdatasync(): survives a killed process, not a power loss */
    FL_STORE_SYNC_EVERY,      /* fdatasync() before every commit returns */
    FL_STORE_SYNC_BATCH,      /* fdatasync() on fl_store_flush() only (group commit) */
    FL_STORE_SYNC__COUNT
};

struct fl_store_ops {
    const char *name;
    uint64_t (*next_sender)(const struct fl_store *s);
    uint64_t (*next_target)(const struct fl_store *s);
    int64_t (*creation_time)(const struct fl_store *s);   /* ns since epoch */
    int (*commit)(struct fl_store *s, const struct fl_store_batch *b);
    /* Starts a new sequence (1/1) with creation time `now`; the file store keeps the old journal
     * under an archive name for audit. */
    int (*reset)(struct fl_store *s, int64_t now);
    /* Makes committed data durable according to the sync policy (group commit point). */
    int (*flush)(struct fl_store *s);
    /* Streams stored messages with begin <= seq <= end (end 0: to the last). */
    int (*iter_open)(struct fl_store *s, uint64_t begin, uint64_t end, struct fl_store_iter **it);
    /* Next message: FL_OK with *seq, *data, *len (valid until the next call), FL_ENOENT at the end. */
    int (*iter_next)(struct fl_store_iter *it, uint64_t *seq, const char **data, size_t *len);
    void (*iter_close)(struct fl_store_iter *it);
    void (*close)(struct fl_store *s);
};

/* Implementations embed these as their first member. */
struct fl_store {
    const struct fl_store_ops *ops;
    char last_error[256];    /* detail of the last failure, for logs */
};
struct fl_store_iter {
    const struct fl_store_ops *ops;
};

/* Memory store starting at 1/1 with creation time `now`. Returns FL_OK or FL_ENOMEM. */
FL_MUST_CHECK int fl_store_mem_new(int64_t now, struct fl_store **out);

/* Opens (creating if absent) the journal `dir`/`name`.journal and recovers it: a torn last
 * record (a crash mid-write), or the unsynced tail a power loss scrambled past the synced end
 * its header records, is cut off and reported as a note: on FL_OK, errbuf (may be NULL) holds
 * that note, or "" when nothing was repaired, and last_error holds it too. Any other damage
 * fails with FL_ECORRUPT and a detail with the file offset in errbuf, never a silent reset
 * (fl_store_file.c tells the cases apart). `now` is the creation time of a new journal. Returns FL_OK, FL_ECORRUPT, FL_EFORMAT
 * (unsupported format version), FL_EIO (also: locked by another process), FL_ENOMEM,
 * FL_EINVAL. */
FL_MUST_CHECK int fl_store_file_open(const char *dir, const char *name, enum fl_store_sync sync,
                                     int64_t now, struct fl_store **out, char *errbuf,
                                     size_t errlen);

/* Opens the journal file `path` (NAME.journal) to be read, as tools do: no lock is taken and
 * nothing is repaired or written, so it may be the journal of a running engine or an archive.
 * What opening for writing would cut off is left in place and described in the note (errbuf);
 * commit, flush and reset refuse with FL_ESTATE. Otherwise the contract of fl_store_file_open(). */
FL_MUST_CHECK int fl_store_file_open_read(const char *path, struct fl_store **out, char *errbuf,
                                          size_t errlen);

static inline uint64_t fl_store_next_sender(const struct fl_store *s) { return s->ops->next_sender(s); }
static inline uint64_t fl_store_next_target(const struct fl_store *s) { return s->ops->next_target(s); }
static inline int64_t fl_store_creation_time(const struct fl_store *s) { return s->ops->creation_time(s); }
FL_MUST_CHECK static inline int fl_store_commit(struct fl_store *s, const struct fl_store_batch *b)
{
    return s->ops->commit(s, b);
}
FL_MUST_CHECK static inline int fl_store_reset(struct fl_store *s, int64_t now) { return s->ops->reset(s, now); }
FL_MUST_CHECK static inline int fl_store_flush(struct fl_store *s) { return s->ops->flush(s); }
FL_MUST_CHECK static inline int fl_store_iter_open(struct fl_store *s, uint64_t begin, uint64_t end,
                                                   struct fl_store_iter **it)
{
    return s->ops->iter_open(s, begin, end, it);
}
FL_MUST_CHECK static inline int fl_store_iter_next(struct fl_store_iter *it, uint64_t *seq,
                                                   const char **data, size_t *len)
{
    return it->ops->iter_next(it, seq, data, len);
}
/* Accepts NULL. */
static inline void fl_store_iter_close(struct fl_store_iter *it)
{
    if (it)
        it->ops->iter_close(it);
}
/* Closes and frees; accepts NULL. */
static inline void fl_store_close(struct fl_store *s)
{
    if (s)
        s->ops->close(s);
}

/* CRC-32C of p[0..n) continuing from crc (start with 0). */
uint32_t fl_crc32c(uint32_t crc, const void *p, size_t n);
/* The same without the SSE4.2 instruction (what other CPUs run; tests compare the two). */
uint32_t fl_crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
