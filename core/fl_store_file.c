/* fixlua — the file store: struct fl_store_ops over an append-only journal of checksummed records.
 *
 * One journal per session, `dir`/`name`.journal, written only by appending one record per
 * fl_store_commit(); only the header's synced end is ever rewritten. Opening replays every record
 * to rebuild next_sender/next_target and a compact index from seq to the file offset of each
 * stored message, so reads never scan; iterators pread() through a bounded window they own (the page cache is
 * the one copy of the file, so they see what the mapping wrote). Depends on fl_store.h,
 * fl_crc32c() and POSIX file I/O and mmap() only.
 *
 * The mapping: a commit builds its record directly in a MAP_SHARED mapping of the journal at the
 * end of the last record, so in the steady state it costs no system call. The file is grown ahead
 * of the records in chunks reserved with posix_fallocate() (the mapped size doubles, by 1 MiB at
 * least and 64 MiB at most per step, and always by enough for the record), so every mapped page
 * past the records has a real block and a store through the mapping can never raise SIGBUS on a
 * full disk: the disk fills in posix_fallocate(), which fails the commit cleanly. The chunk is
 * reserved and mapped by open and by reset, so the first commit is syscall-free too; if that
 * fails there, the first commit tries again. On a file system that cannot reserve blocks
 * (posix_fallocate() unsupported) or when mmap() fails, the store falls back for its lifetime to
 * writing each record with one pwrite() from a reusable buffer. Another process that truncated
 * the file under the mapping would make our next store SIGBUS: the write lock keeps fixlua
 * processes away, and nothing else may write a journal.
 *
 * Ownership: the store owns its fd (opened O_CLOEXEC and held under a POSIX write lock so that a
 * second process cannot append to the same journal), its mapping, its paths, its index, its record
 * buffer and its undo list. An iterator owns its read window and must be closed before its store.
 * Within one process, never open the same journal twice: POSIX locks do not guard a process from
 * itself. A forked child does not own its copy of a store (it holds no lock) and may only close
 * it, which then leaves the file alone. No mutable static state: any number of stores may live in
 * one process.
 *
 * Format (version 2; every integer little-endian):
 *   file header, 32 bytes: magic "\x89FLJRNL\n" | u32 version | u32 synced end, low half |
 *     i64 creation time (ns since the epoch) | u32 synced end, high half | u32 CRC-32C of the 28
 *     bytes before it. The synced end is a record boundary: every record below it was made
 *     durable by an fdatasync() (or a clean close, see below) before the header said so.
 *     Version 1 is the same with both halves zero and no synced end; it is read, with every
 *     record treated as synced, and written as version 2 at its first sync.
 *   then records, back to back, each a 16-byte header and a payload:
 *     u32 payload length | u8 type | u8[3] zero | u32 hcrc = CRC-32C of the 8 bytes before it |
 *     u32 crc = CRC-32C of the first 8 header bytes followed by the payload.
 *   type 1 BATCH, one per commit, so a batch is atomic: u64 next_target | u64 next_sender (both
 *     the state after the batch, never 0) | u32 count | count x (u64 seq | u32 len | len bytes).
 *   then, while a writer has the file open or after it crashed, zero bytes to the end of the
 *     file (the preallocated room). A clean close truncates the file after the last record, and
 *     so does reset before it archives a journal; readers accept the zero tail either way.
 * The separate hcrc protects the length: a damaged length is never mistaken for a record that
 * runs past the end of the file, so only a genuinely torn tail is ever cut off. An all-zero
 * record header can never pass its hcrc, so the zero tail is never mistaken for a record.
 *
 * Recovery on open: a file shorter than the header whose bytes are a prefix of the magic is a
 * creation that was interrupted before any commit, and is initialised afresh (with a note). A
 * record boundary followed only by zero bytes to the end of the file is the normal end of the
 * journal (the room a writer preallocated): silent, and it is kept, since appending resumes there
 * and the room need not be reserved again. The last record is torn, cut off with ftruncate()
 * (with the zeros after it) and reported as a note when the file ends inside it, or when its
 * header is not all zero but fails a check and nothing but zero bytes follows it (none: the usual
 * torn write; some: the preallocated room, or a file system that extended the file with zeros
 * when the machine crashed). Past the synced end, the first record that fails a check ends the
 * journal whatever follows it, and is cut off with everything after it and a note: a power loss
 * writes the unsynced pages of a file back in any order, so a zeroed page can sit between records
 * that reached the disk, and none of that tail was promised durable. Anything else that fails a
 * check is FL_ECORRUPT with its file offset: the journal is never reset silently.
 *
 * The synced end is rewritten in place, the one exception to appending, after each successful
 * fdatasync(): per commit with sync EVERY, per flush with BATCH, and at the clean close of a store
 * that committed, which syncs first in every mode (NONE included: once per close). The header page
 * goes to disk with the next sync, so the mark on disk lags at most one sync behind, which only
 * makes recovery cut sooner. The header is 32 bytes inside the first disk sector, which a disk
 * writes whole; the one window left is the kernel writing the page back in the middle of the
 * 32-byte store, followed by a power loss before the next sync rewrites it, and the journal is
 * then refused for its header checksum. A journal that ends before its synced end lost writes its disk had acknowledged
 * (or is a truncated copy): recovery says so in its note and lowers the mark to the end, so that
 * the unsynced writes that follow are judged as such. Past the synced end the cut does not ask
 * what damaged the first bad record: a flipped bit there costs the records after it too.
 *
 * Failure policy: a commit does everything that can fail for lack of memory or disk (index
 * update, posix_fallocate() of more room) before the first byte of its record is written, so a
 * failed one leaves nothing behind and returns FL_ENOMEM or FL_EIO, and a later commit may
 * succeed. On the pwrite() path a failed or short write is cut off again, likewise FL_EIO. A
 * failed fdatasync() cannot be trusted to be retried (the kernel may have dropped the dirty
 * pages), so its record is zeroed in the mapping (or cut off) and the store then refuses every
 * further commit and flush with FL_EIO until it is closed and reopened, and recovery decides what
 * is on disk.
 *
 * Durability: fdatasync() on both paths. On Linux it writes back every dirty page of the file,
 * those dirtied through a MAP_SHARED mapping included, and the size and block metadata the data
 * needs: msync(MS_SYNC) is the same vfs_fsync_range() restricted to a range, and the only dirty
 * pages of a journal are the commits since the last sync, so the range would buy nothing. One
 * call keeps one failure policy for both paths. POSIX
 * itself promises mapped stores only to msync(): a port to a system without a unified page cache
 * must call msync() over [last synced offset, end) first.
 *
 * reset(now) writes a new journal as `name`.journal.new, truncates the current one after its
 * last record, hard-links it to `name`.<creation time UTC YYYYMMDD-HHMMSS>.<n>.journal (link()
 * never overwrites, so n counts up past existing archives) and renames the new one over
 * `name`.journal, which is then reserved and mapped. At every instant the journal name holds
 * either the complete old or the complete new journal. A crash between the link and the rename
 * leaves an extra archive name for the still-current journal, which is harmless: the next reset
 * archives under the next n. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fl_store.h"
#include "fl_store_file_int.h"

#define HEADER_SIZE 32
#define HEADER_MAGIC "\x89" "FLJRNL\n"
#define FORMAT_VERSION 2u
#define FORMAT_VERSION_UNSYNCED 1u /* no synced end in its header */
#define REC_HDR 16              /* record header bytes */
#define REC_BATCH 1u            /* record type */
#define BATCH_FIXED 20          /* next_target, next_sender, count */
#define ENTRY_HDR 12            /* seq, len before each message's bytes */
#define MAX_RECORD (1u << 30)   /* one batch; far above any FIX use, well below u32 */
#define SEG_MAX_GAP 4096        /* a seq jump up to this extends a segment with empty slots */
#define ITER_WINDOW 65536       /* iterators read this much per pread() */
#define SCAN_CHUNK (1u << 20)   /* recovery reads this much per pread() */
#define ARCHIVE_MAX 100000      /* archives per creation second before reset gives up */
#define CHUNK_MIN (1u << 20)    /* preallocation grows the mapping by at least this much... */
#define CHUNK_MAX (64u << 20)   /* ...and at most this much per step, unless a record needs more */

/* The index is a sorted list of dense runs: off[k] is the file offset of the entry header of
 * seq first+k, 0 for "not stored" (offset 0 is the file header, never a message). A normal
 * session has one run, 8 bytes per message; a jump of the sequence (explicit next_sender, a
 * huge gap) starts a new run instead of allocating a slot per skipped number. */
struct seg {
    uint64_t first;
    size_t count;
    size_t cap;
    uint64_t *off;
};

struct seq_index {
    struct seg *segs;   /* sorted by first, disjoint */
    size_t nsegs;
    size_t cap;
};

/* What one index slot held before a commit touched it, to roll the commit back. */
struct undo {
    uint64_t seq;
    uint64_t old;
};

struct file_store {
    struct fl_store base;       /* first: the vtable user sees only this */
    enum fl_store_sync sync;
    int fd;
    pid_t owner;                /* the process that opened it: a forked child leaves the file be */
    bool use_map;               /* false: the pwrite() path, for the store's lifetime */
    unsigned char *map;         /* MAP_SHARED, file bytes [0, map_len), all reserved; or NULL */
    uint64_t map_len;
    uint64_t chunk_min;         /* growth step bounds, page multiples */
    uint64_t chunk_max;
    char *dir;
    char *name;
    char *path;                 /* dir/name.journal */
    uint64_t next_sender;
    uint64_t next_target;
    int64_t creation_time;
    uint64_t end;               /* committed size: every byte below is a checked record */
    uint64_t synced;            /* the header's synced end; UINT64_MAX for a version-1 header */
    bool committed;             /* a commit since open: a clean close then marks the end synced */
    uint64_t epoch;             /* bumped when reset swaps the file, so iterators drop windows */
    bool dirty;                 /* SYNC_BATCH: written since the last fdatasync() */
    bool broken;                /* see the failure policy above */
    bool read_only;             /* opened to be read (tools): no lock, no repair, no writes */
    struct seq_index idx;
    unsigned char *wbuf;        /* pwrite() path: the record being committed, reused */
    size_t wcap;
    struct undo *undo;          /* reused, one per message of the batch */
    size_t undo_cap;
};

struct file_iter {
    struct fl_store_iter base;  /* first */
    struct file_store *s;
    uint64_t pos;               /* next seq to look at */
    uint64_t end;               /* last seq wanted (inclusive) */
    bool done;
    uint64_t epoch;             /* s->epoch the window belongs to */
    unsigned char *buf;         /* window: file bytes [win_off, win_off + win_len) */
    size_t cap;
    uint64_t win_off;
    size_t win_len;
};

static const struct fl_store_ops file_ops;

/* ---- little helpers ---------------------------------------------------------------------- */

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* x rounded up to a multiple of the power of two p. */
static uint64_t round_up(uint64_t x, uint64_t p)
{
    return (x + p - 1) & ~(p - 1);
}

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* printf into an optional caller buffer (errbuf may be NULL). */
PRINTF_LIKE(3, 4)
static void bufmsg(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!buf || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

#define SET_ERR(s, ...) bufmsg((s)->base.last_error, sizeof((s)->base.last_error), __VA_ARGS__)

/* Text of an errno value. The XSI strerror_r (we build with _POSIX_C_SOURCE) is thread-safe, which
 * strerror() is not required to be. */
static const char *errtext(int err, char *buf, size_t len)
{
    if (strerror_r(err, buf, len) != 0)
        snprintf(buf, len, "errno %d", err);
    return buf;
}

/* Writes all of p[0..n) at off, retrying short writes and EINTR. Returns 0 or an errno value. */
static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const unsigned char *b = p;

    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w == -1) {
            int e = errno;
            if (e == EINTR)
                continue;
            return e;
        }
        if (w == 0)
            return EIO;     // no progress and no error: do not spin
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Reads up to n bytes at off into p, stopping early only at end of file (*got says how many).
 * Returns 0 or an errno value. */
static int pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    unsigned char *b = p;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, b + done, n - done, (off_t)(off + done));
        if (r == -1) {
            int e = errno;
            if (e == EINTR)
                continue;
            *got = done;
            return e;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int datasync(int fd)
{
    for (;;) {
        if (fdatasync(fd) == 0)
            return 0;
        int e = errno;
        if (e != EINTR)
            return e;
    }
}

static int truncate_to(int fd, uint64_t size)
{
    for (;;) {
        if (ftruncate(fd, (off_t)size) == 0)
            return 0;
        int e = errno;
        if (e != EINTR)
            return e;
    }
}

/* Makes a directory entry change (create, rename) durable. Returns 0 or an errno value. */
static int sync_dir(const char *dir)
{
    int fd, e = 0;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return errno;
    if (fsync(fd) == -1) {
        e = errno;
        if (e == EINVAL)    // this file system cannot sync directories: nothing more to do
            e = 0;
    }
    close(fd);
    return e;
}

/* Takes the whole-file write lock without waiting. Returns 0 or an errno value (EAGAIN/EACCES:
 * another process holds it). */
static int lock_file(int fd)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    for (;;) {
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        int e = errno;
        if (e != EINTR)
            return e;
    }
}

/* Grows a uint64_t array to at least `need` slots by doubling. */
static bool grow_u64(uint64_t **p, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 64;
    uint64_t *np;

    if (need <= *cap)
        return true;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sizeof(**p))
            return false;
        ncap *= 2;
    }
    np = realloc(*p, ncap * sizeof(**p));
    if (!np)
        return false;
    *p = np;
    *cap = ncap;
    return true;
}

/* ---- the seq index ----------------------------------------------------------------------- */

#define NO_SEG SIZE_MAX

/* The run with the largest first <= seq, or NO_SEG. */
static size_t idx_find(const struct seq_index *x, uint64_t seq)
{
    size_t lo = 0, hi = x->nsegs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->segs[mid].first <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : NO_SEG;
}

/* The slot of seq if one exists (without allocating), else NULL. */
static uint64_t *idx_slot(const struct seq_index *x, uint64_t seq)
{
    size_t i = idx_find(x, seq);

    if (i == NO_SEG || seq - x->segs[i].first >= x->segs[i].count)
        return NULL;
    return &x->segs[i].off[seq - x->segs[i].first];
}

/* Points seq at off, replacing an older copy. Returns false on allocation failure, with the
 * index unchanged apart from capacity. */
static bool idx_set(struct seq_index *x, uint64_t seq, uint64_t off)
{
    size_t i = idx_find(x, seq), at;
    struct seg *g;

    if (i != NO_SEG) {
        g = &x->segs[i];
        uint64_t rel = seq - g->first;
        if (rel < g->count) {
            g->off[rel] = off;
            return true;
        }
        if (rel - g->count <= SEG_MAX_GAP) {
            /* i is the last run starting at or below seq, so growing it up to seq cannot reach
             * into the next run. */
            size_t need = (size_t)rel + 1;
            if (!grow_u64(&g->off, &g->cap, need))
                return false;
            memset(g->off + g->count, 0, (need - 1 - g->count) * sizeof(*g->off));
            g->off[rel] = off;
            g->count = need;
            return true;
        }
    }
    at = i == NO_SEG ? 0 : i + 1;
    if (x->nsegs == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 4;
        struct seg *ns = realloc(x->segs, ncap * sizeof(*ns));
        if (!ns)
            return false;
        x->segs = ns;
        x->cap = ncap;
    }
    uint64_t *arr = malloc(64 * sizeof(*arr));
    if (!arr)
        return false;
    memmove(&x->segs[at + 1], &x->segs[at], (x->nsegs - at) * sizeof(*x->segs));
    x->segs[at] = (struct seg){.first = seq, .count = 1, .cap = 64, .off = arr};
    arr[0] = off;
    x->nsegs++;
    return true;
}

/* The first stored seq in [pos, end]: true with *seq and *off, false if none. */
static bool idx_next(const struct seq_index *x, uint64_t pos, uint64_t end, uint64_t *seq,
                     uint64_t *off)
{
    size_t i = idx_find(x, pos);

    if (i == NO_SEG)
        i = 0;
    for (; i < x->nsegs; i++) {
        const struct seg *g = &x->segs[i];
        uint64_t rel = pos > g->first ? pos - g->first : 0;
        for (; rel < g->count; rel++) {
            if (g->first + rel > end)
                return false;
            if (g->off[rel]) {
                *seq = g->first + rel;
                *off = g->off[rel];
                return true;
            }
        }
    }
    return false;
}

static void idx_free(struct seq_index *x)
{
    for (size_t i = 0; i < x->nsegs; i++)
        free(x->segs[i].off);
    free(x->segs);
    memset(x, 0, sizeof(*x));
}

/* ---- header ------------------------------------------------------------------------------ */

static void header_encode(unsigned char *h, int64_t creation_time, uint64_t synced)
{
    memcpy(h, HEADER_MAGIC, 8);
    put_le32(h + 8, FORMAT_VERSION);
    put_le32(h + 12, (uint32_t)synced);
    put_le64(h + 16, (uint64_t)creation_time);
    put_le32(h + 24, (uint32_t)(synced >> 32));
    put_le32(h + 28, fl_crc32c(0, h, 28));
}

/* Writes a fresh header at offset 0 of fd (and makes it durable unless sync is NONE). Returns 0 or
 * an errno value. */
static int header_write(int fd, enum fl_store_sync sync, int64_t creation_time)
{
    unsigned char h[HEADER_SIZE];
    int e;

    header_encode(h, creation_time, HEADER_SIZE);
    e = pwrite_all(fd, h, sizeof(h), 0);
    if (!e)
        e = truncate_to(fd, HEADER_SIZE);  // drop whatever an interrupted creation left
    if (!e && sync != FL_STORE_SYNC_NONE)
        e = datasync(fd);
    return e;
}

/* ---- the mapping ------------------------------------------------------------------------- */

static void unmap(struct file_store *s)
{
    if (s->map)
        munmap(s->map, (size_t)s->map_len);
    s->map = NULL;
    s->map_len = 0;
}

/* For the rest of the store's life, one pwrite() per commit. Pages dirtied through the mapping
 * stay dirty in the page cache after munmap(), and fdatasync() still writes them back. */
static void fall_back(struct file_store *s)
{
    unmap(s);
    s->use_map = false;
}

/* posix_fallocate() errors that mean "this file system cannot reserve blocks", not "no room". */
static bool fallocate_unsupported(int e)
{
    return e == EOPNOTSUPP || e == ENOTSUP || e == EINVAL || e == ENODEV || e == ENOSYS;
}

/* Makes file bytes [0, need) reserved and mapped, growing the mapping by chunks: the mapped size
 * doubles, by chunk_min at least and chunk_max at most per step, with as many steps as need
 * takes. Returns 0, also after falling back to the pwrite() path (use_map is then false), or the
 * errno value of a failed posix_fallocate() with the mapping unchanged (the file may have grown
 * by zero bytes, which is the normal end of a journal). */
static int reserve(struct file_store *s, uint64_t need)
{
    uint64_t target = s->map_len, from = s->map ? s->map_len : s->end;
    unsigned char *p;
    int e;

    if (s->map && need <= s->map_len)
        return 0;
    do {
        uint64_t step = target < s->chunk_min ? s->chunk_min
                        : target > s->chunk_max ? s->chunk_max : target;
        if (target > (uint64_t)INT64_MAX - step)
            return EFBIG;
        target += step;
    } while (target < need);
    if (target > SIZE_MAX) {    // a 32-bit address space cannot map it
        fall_back(s);
        return 0;
    }
    /* From the end of the records, not of the file: room kept from an earlier run may be holes. */
    do
        e = posix_fallocate(s->fd, (off_t)from, (off_t)(target - from));
    while (e == EINTR);
    if (e) {
        if (!fallocate_unsupported(e))
            return e;
        fall_back(s);
        return 0;
    }
    /* A new mapping first, so that a failure leaves the old one usable; growth is rare. */
    p = mmap(NULL, (size_t)target, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED) {
        fall_back(s);
        return 0;
    }
    unmap(s);
    s->map = p;
    s->map_len = target;
    return 0;
}

/* Truncates the file after its last record (unmapping it first: the mapping would reach past the
 * end of the file). Returns 0 or an errno value. */
static int compact(struct file_store *s)
{
    struct stat st;

    unmap(s);
    if (fstat(s->fd, &st) == 0 && (uint64_t)st.st_size == s->end)
        return 0;   // also leaves the time stamps of an archive opened only to be read
    return truncate_to(s->fd, s->end);
}

/* Records in the header that every record below `end` is synced (see the top of this file).
 * Through the mapping when there is one, so that the steady state stays free of system calls.
 * A failed pwrite() leaves the older mark, which only makes a later recovery cut sooner. */
static void mark_synced(struct file_store *s, uint64_t end)
{
    unsigned char h[HEADER_SIZE];

    if (s->synced != UINT64_MAX && end <= s->synced)
        return;
    header_encode(h, s->creation_time, end);
    if (s->map)
        memcpy(s->map, h, sizeof(h));
    else if (pwrite_all(s->fd, h, sizeof(h), 0) != 0)
        return;
    s->synced = end;
}

/* ---- recovery ---------------------------------------------------------------------------- */

/* Sequential reader over the journal for replay: [boff, boff + blen) of the file is in buf. */
struct reader {
    int fd;
    uint64_t fsize;
    unsigned char *buf;
    size_t cap;
    uint64_t boff;
    size_t blen;
};

/* Makes file bytes [off, off + n) available at *p; the caller has checked off + n <= fsize.
 * Returns FL_OK, FL_ENOMEM or FL_EIO (detail in errbuf). */
static int rd_get(struct reader *r, uint64_t off, size_t n, const unsigned char **p, char *errbuf,
                  size_t errlen)
{
    size_t want, got;
    int e;
    char eb[128];

    if (off >= r->boff && off + n <= r->boff + r->blen) {
        *p = r->buf + (off - r->boff);
        return FL_OK;
    }
    want = n > SCAN_CHUNK ? n : SCAN_CHUNK;
    if (want > r->cap) {
        unsigned char *nb = realloc(r->buf, want);
        if (!nb) {
            bufmsg(errbuf, errlen, "out of memory reading a %zu-byte record", n);
            return FL_ENOMEM;
        }
        r->buf = nb;
        r->cap = want;
    }
    want = r->fsize - off < r->cap ? (size_t)(r->fsize - off) : r->cap;
    e = pread_all(r->fd, r->buf, want, off, &got);
    if (e || got < n) {
        bufmsg(errbuf, errlen, "reading the journal at offset %" PRIu64 ": %s", off,
               e ? errtext(e, eb, sizeof(eb)) : "file shrank while being read");
        r->blen = 0;
        return FL_EIO;
    }
    r->boff = off;
    r->blen = got;
    *p = r->buf;
    return FL_OK;
}

/* True if every byte in [off, fsize) is zero; *rc set on read failure. */
static bool tail_is_zero(struct reader *r, uint64_t off, int *rc, char *errbuf, size_t errlen)
{
    while (off < r->fsize) {
        size_t n = r->fsize - off < SCAN_CHUNK ? (size_t)(r->fsize - off) : SCAN_CHUNK;
        const unsigned char *p;
        *rc = rd_get(r, off, n, &p, errbuf, errlen);
        if (*rc != FL_OK)
            return false;
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return false;
        off += n;
    }
    return true;
}

/* Applies one BATCH payload (which starts at file offset base) to the store's state. */
static int replay_batch(struct file_store *s, const unsigned char *p, size_t len, uint64_t base,
                        char *errbuf, size_t errlen)
{
    uint64_t nt, ns;
    uint32_t count;
    size_t pos = BATCH_FIXED;

    if (len < BATCH_FIXED)
        goto bad;
    nt = get_le64(p);
    ns = get_le64(p + 8);
    count = get_le32(p + 16);
    if (nt == 0 || ns == 0)
        goto bad;
    for (uint32_t i = 0; i < count; i++) {
        if (len - pos < ENTRY_HDR)
            goto bad;
        uint64_t seq = get_le64(p + pos);
        uint32_t mlen = get_le32(p + pos + 8);
        if (seq == 0 || seq == UINT64_MAX || mlen > len - pos - ENTRY_HDR)
            goto bad;
        if (!idx_set(&s->idx, seq, base + pos)) {
            bufmsg(errbuf, errlen, "out of memory indexing seq %" PRIu64, seq);
            return FL_ENOMEM;
        }
        pos += ENTRY_HDR + mlen;
    }
    if (pos != len)
        goto bad;
    s->next_target = nt;
    s->next_sender = ns;
    return FL_OK;
bad:
    /* The CRC matched, so this is not a torn write: the writer or the file was tampered with. */
    bufmsg(errbuf, errlen, "%s: malformed batch record at offset %" PRIu64 " (checksum is valid)",
           s->path, base - REC_HDR);
    return FL_ECORRUPT;
}

/* Replays every record after the header, cuts a torn last record off and reports it in note,
 * and keeps a zero tail after the last record. Sets s->end. Returns FL_OK, FL_ECORRUPT, FL_EIO or
 * FL_ENOMEM with detail in errbuf. */
static int replay(struct file_store *s, uint64_t fsize, char *errbuf, size_t errlen, char *note,
                  size_t notelen)
{
    struct reader r = {.fd = s->fd, .fsize = fsize};
    uint64_t off = HEADER_SIZE;
    const char *torn = NULL;
    bool scrambled = false;     /* cut with data after the bad record: the unsynced tail */
    int rc = FL_OK;

    while (off < fsize) {
        uint64_t left = fsize - off;
        const unsigned char *h;
        uint32_t len, crc;
        bool zero;
        /* Past the synced end a failed check is the unsynced tail a power loss scrambled. */
        bool unsynced = off >= s->synced;

        /* Only zero bytes from a record boundary on is the normal end: the room a writer
         * preallocated. (A torn header whose written bytes are all zero is the same thing.) */
        if (left < REC_HDR) {
            zero = tail_is_zero(&r, off, &rc, errbuf, errlen);
            if (rc != FL_OK)
                goto out;
            if (!zero)
                torn = "the file ends inside its header";
            break;
        }
        rc = rd_get(&r, off, REC_HDR, &h, errbuf, errlen);
        if (rc != FL_OK)
            goto out;
        if (fl_crc32c(0, h, 8) != get_le32(h + 8)) {
            bool blank = true;
            for (int i = 0; i < REC_HDR; i++)
                blank = blank && !h[i];
            zero = tail_is_zero(&r, off + REC_HDR, &rc, errbuf, errlen);
            if (rc != FL_OK)
                goto out;
            if (zero && blank)
                break;
            /* A writer killed inside the header it was storing through the mapping. */
            if (zero) {
                torn = "its header fails its checksum and only zero bytes follow it";
                break;
            }
            if (unsynced) {
                torn = blank ? "its header is all zero bytes" : "its header fails its checksum";
                scrambled = true;
                break;
            }
            bufmsg(errbuf, errlen, "%s: record header checksum mismatch at offset %" PRIu64
                   " (%" PRIu64 " bytes follow)", s->path, off, left);
            rc = FL_ECORRUPT;
            goto out;
        }
        len = get_le32(h);
        if (h[4] != REC_BATCH || h[5] || h[6] || h[7] || len > MAX_RECORD) {
            if (unsynced) {
                torn = "its header is not a record's";
                scrambled = true;
                break;
            }
            bufmsg(errbuf, errlen, "%s: unknown record type %u or bad length %" PRIu32
                   " at offset %" PRIu64, s->path, h[4], len, off);
            rc = FL_ECORRUPT;
            goto out;
        }
        if (len > left - REC_HDR) {
            torn = "the file ends inside it";
            break;
        }
        rc = rd_get(&r, off, REC_HDR + (size_t)len, &h, errbuf, errlen);
        if (rc != FL_OK)
            goto out;
        crc = fl_crc32c(fl_crc32c(0, h, 8), h + REC_HDR, len);
        if (crc != get_le32(h + 12)) {
            if (off + REC_HDR + len == fsize) {
                torn = "its checksum fails and it is the last record";
                break;
            }
            zero = tail_is_zero(&r, off + REC_HDR + len, &rc, errbuf, errlen);
            if (rc != FL_OK)
                goto out;
            if (zero) {
                torn = "its checksum fails and only zero bytes follow it";
                break;
            }
            if (unsynced) {
                torn = "its checksum fails";
                scrambled = true;
                break;
            }
            bufmsg(errbuf, errlen, "%s: record checksum mismatch at offset %" PRIu64
                   " (%" PRIu32 "-byte record, %" PRIu64 " more bytes follow)", s->path, off,
                   len, left - REC_HDR - len);
            rc = FL_ECORRUPT;
            goto out;
        }
        rc = replay_batch(s, h + REC_HDR, len, off + REC_HDR, errbuf, errlen);
        if (rc != FL_OK)
            goto out;
        off += REC_HDR + len;
    }
    if (torn && s->read_only) {
        bufmsg(note, notelen, "%s: the records end at offset %" PRIu64 ": what follows (%" PRIu64
               " bytes; %s) is %s, left as it is (opened to be read)", s->path, off,
               fsize - off, torn,
               scrambled ? "an unsynced tail a crash scrambled"
               : s->synced != UINT64_MAX && off < s->synced ? "damage below the synced end"
                                                            : "a torn last record");
    } else if (torn) {
        char eb[128];
        /* Synced in every mode: records cut after a scrambled one must not come back behind
         * the ones appended next, after another crash. */
        int e = truncate_to(s->fd, off);
        if (!e)
            e = datasync(s->fd);
        if (e) {
            bufmsg(errbuf, errlen, "%s: cutting the torn record at offset %" PRIu64 ": %s",
                   s->path, off, errtext(e, eb, sizeof(eb)));
            rc = FL_EIO;
            goto out;
        }
        if (scrambled)
            bufmsg(note, notelen, "%s: cut off the unsynced tail from offset %" PRIu64 " (%" PRIu64
                   " bytes; the record there: %s), a crash lost writes not yet synced; no batch "
                   "from there on was durable", s->path, off, fsize - off, torn);
        else if (s->synced != UINT64_MAX && off < s->synced)
            /* The old rules cut it, but the header says it was synced: not a crash's doing. */
            bufmsg(note, notelen, "%s: cut off a damaged record at offset %" PRIu64 ", below the "
                   "synced end %" PRIu64 " (%s): the disk lost writes it had acknowledged, or this "
                   "is a damaged copy", s->path, off, s->synced, torn);
        else
            bufmsg(note, notelen, "%s: cut off a torn last record at offset %" PRIu64 " (%" PRIu64
                   " bytes; %s), a crash interrupted its write; that batch was not committed",
                   s->path, off, fsize - off, torn);
    }
    s->end = off;
out:
    free(r.buf);
    return rc;
}

/* Lowers the synced end of a journal that ends before it (see the top of this file) to its end,
 * durably, and says so in note unless recovery already did (a record cut below the mark). */
static int lower_mark(struct file_store *s, char *errbuf, size_t errlen, char *note,
                      size_t notelen)
{
    unsigned char h[HEADER_SIZE];
    uint64_t was = s->synced;
    size_t used = strlen(note);
    char eb[128];
    int e;

    header_encode(h, s->creation_time, s->end);
    e = pwrite_all(s->fd, h, sizeof(h), 0);
    if (!e)
        e = datasync(s->fd);
    if (e) {
        bufmsg(errbuf, errlen, "%s: lowering its synced end to offset %" PRIu64 ": %s%s%s", s->path,
               s->end, errtext(e, eb, sizeof(eb)), used ? "; recovery had already: " : "", note);
        return FL_EIO;
    }
    s->synced = s->end;
    if (!used)
        bufmsg(note, notelen, "%s: the journal ends at offset %" PRIu64 ", before its synced end %"
               PRIu64 ": the disk lost writes it had acknowledged, or this is a truncated copy; "
               "synced end lowered to match", s->path, s->end, was);
    return FL_OK;
}

/* Reads and checks the file header of a journal of size fsize, or initialises it when it holds
 * only a prefix of one (a creation that was interrupted before its first commit). */
static int load_header(struct file_store *s, bool created, int64_t now,
                       char *errbuf, size_t errlen, char *note, size_t notelen)
{
    unsigned char h[HEADER_SIZE];
    size_t got;
    uint32_t version;
    int e;
    char eb[128];

    e = pread_all(s->fd, h, sizeof(h), 0, &got);
    if (e) {
        bufmsg(errbuf, errlen, "reading %s: %s", s->path, errtext(e, eb, sizeof(eb)));
        return FL_EIO;
    }
    if (got < HEADER_SIZE) {
        if (s->read_only) {
            bufmsg(errbuf, errlen, "%s: %zu bytes, no complete journal header", s->path, got);
            return FL_ECORRUPT;
        }
        if (memcmp(h, HEADER_MAGIC, got < 8 ? got : 8) != 0) {
            bufmsg(errbuf, errlen, "%s is not a fixlua journal (%zu bytes, bad magic)", s->path,
                   got);
            return FL_ECORRUPT;
        }
        e = header_write(s->fd, s->sync, now);
        if (!e && s->sync != FL_STORE_SYNC_NONE)
            e = sync_dir(s->dir);
        if (e) {
            bufmsg(errbuf, errlen, "writing the header of %s: %s", s->path,
                   errtext(e, eb, sizeof(eb)));
            return FL_EIO;
        }
        if (!created)
            bufmsg(note, notelen, "%s: header was incomplete (%zu bytes; its creation was "
                   "interrupted before any commit), initialised as a new journal", s->path, got);
        s->creation_time = now;
        s->synced = HEADER_SIZE;
        return FL_OK;
    }
    if (memcmp(h, HEADER_MAGIC, 8) != 0) {
        bufmsg(errbuf, errlen, "%s is not a fixlua journal (bad magic)", s->path);
        return FL_ECORRUPT;
    }
    version = get_le32(h + 8);
    if (version != FORMAT_VERSION && version != FORMAT_VERSION_UNSYNCED) {
        bufmsg(errbuf, errlen, "%s: unsupported journal format version %" PRIu32
               " (this build reads versions %u and %u)", s->path, version,
               FORMAT_VERSION_UNSYNCED, FORMAT_VERSION);
        return FL_EFORMAT;
    }
    if (fl_crc32c(0, h, 28) != get_le32(h + 28)) {
        bufmsg(errbuf, errlen, "%s: file header checksum mismatch at offset 0", s->path);
        return FL_ECORRUPT;
    }
    s->creation_time = (int64_t)get_le64(h + 16);
    if (version == FORMAT_VERSION_UNSYNCED) {
        if (get_le32(h + 12) || get_le32(h + 24)) {
            bufmsg(errbuf, errlen, "%s: file header has unknown flags set (a newer writer?)",
                   s->path);
            return FL_EFORMAT;
        }
        s->synced = UINT64_MAX;
        return FL_OK;
    }
    s->synced = (uint64_t)get_le32(h + 12) | (uint64_t)get_le32(h + 24) << 32;
    if (s->synced < HEADER_SIZE) {
        bufmsg(errbuf, errlen, "%s: file header gives a synced end of %" PRIu64 ", inside the "
               "header", s->path, s->synced);
        return FL_ECORRUPT;
    }
    return FL_OK;
}

/* ---- the vtable -------------------------------------------------------------------------- */

static uint64_t file_next_sender(const struct fl_store *base)
{
    return ((const struct file_store *)base)->next_sender;
}

static uint64_t file_next_target(const struct fl_store *base)
{
    return ((const struct file_store *)base)->next_target;
}

static int64_t file_creation_time(const struct fl_store *base)
{
    return ((const struct file_store *)base)->creation_time;
}

/* Checks the batch against the fl_store_batch contract and sizes its record. */
static int check_batch(struct file_store *s, const struct fl_store_batch *b, size_t *recsize)
{
    uint64_t size = REC_HDR + BATCH_FIXED;

    if (!b) {
        SET_ERR(s, "commit: NULL batch");
        return FL_EINVAL;
    }
    if (b->nmsgs && !b->msgs) {
        SET_ERR(s, "commit: %zu messages, NULL msgs", b->nmsgs);
        return FL_EINVAL;
    }
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct fl_store_msg *m = &b->msgs[i];
        /* UINT64_MAX is refused so that the derived next_sender (seq + 1) never wraps to 0. */
        if (m->seq == 0 || m->seq == UINT64_MAX || (i > 0 && m->seq <= b->msgs[i - 1].seq) ||
            (m->len && !m->data)) {
            SET_ERR(s, "commit: message %zu (seq %" PRIu64 ") has a zero, non-ascending or "
                    "unusable seq, or NULL data", i, m->seq);
            return FL_EINVAL;
        }
        if (m->len > MAX_RECORD) {
            SET_ERR(s, "commit: batch over the %u-byte record limit", MAX_RECORD);
            return FL_ELIMIT;
        }
        size += ENTRY_HDR + m->len;
        if (size > REC_HDR + (uint64_t)MAX_RECORD) {
            SET_ERR(s, "commit: batch over the %u-byte record limit", MAX_RECORD);
            return FL_ELIMIT;
        }
    }
    *recsize = (size_t)size;
    return FL_OK;
}

static void rollback(struct file_store *s, size_t n)
{
    while (n--) {
        uint64_t *slot = idx_slot(&s->idx, s->undo[n].seq);
        if (slot)   // always: idx_set created it
            *slot = s->undo[n].old;
    }
}

/* Removes whatever a failed commit left past s->end; a store that cannot do it is broken. */
static void cut_back(struct file_store *s, char *detail, size_t len)
{
    int e = truncate_to(s->fd, s->end);

    if (e) {
        char eb[128];
        size_t used = strlen(detail);
        s->broken = true;
        snprintf(detail + used, len - used, "; cutting it off failed too (%s), reopen the store",
                 errtext(e, eb, sizeof(eb)));
    }
}

/* Points the index at the messages of b as they will lie in a record at file offset `at`, with
 * an undo entry per message. Returns false, with the index as it was, when out of memory. */
static bool index_batch(struct file_store *s, const struct fl_store_batch *b, uint64_t at)
{
    uint64_t off = at + REC_HDR + BATCH_FIXED;

    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct fl_store_msg *m = &b->msgs[i];
        uint64_t *slot = idx_slot(&s->idx, m->seq);

        s->undo[i] = (struct undo){m->seq, slot ? *slot : 0};
        if (!idx_set(&s->idx, m->seq, off)) {
            rollback(s, i);
            SET_ERR(s, "commit: out of memory indexing seq %" PRIu64, m->seq);
            return false;
        }
        off += ENTRY_HDR + m->len;
    }
    return true;
}

/* Writes the record of batch b (size bytes; nt/ns the state after it) at w. Checksums last,
 * although the order does not matter: recovery takes a record only when both check out. */
static void encode_record(unsigned char *w, size_t size, uint64_t nt, uint64_t ns,
                          const struct fl_store_batch *b)
{
    size_t pos = REC_HDR + BATCH_FIXED;

    put_le32(w, (uint32_t)(size - REC_HDR));
    w[4] = REC_BATCH;
    w[5] = w[6] = w[7] = 0;
    put_le32(w + 8, fl_crc32c(0, w, 8));
    put_le64(w + REC_HDR, nt);
    put_le64(w + REC_HDR + 8, ns);
    put_le32(w + REC_HDR + 16, (uint32_t)b->nmsgs);
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct fl_store_msg *m = &b->msgs[i];

        put_le64(w + pos, m->seq);
        put_le32(w + pos + 8, (uint32_t)m->len);
        if (m->len)
            memcpy(w + pos + ENTRY_HDR, m->data, m->len);
        pos += ENTRY_HDR + m->len;
    }
    put_le32(w + 12, fl_crc32c(fl_crc32c(0, w, 8), w + REC_HDR, size - REC_HDR));
}

static int file_commit(struct fl_store *base, const struct fl_store_batch *b)
{
    struct file_store *s = (struct file_store *)base;
    size_t size;
    uint64_t ns, nt;
    unsigned char *w;
    int rc, e;
    char eb[128];

    if (s->read_only) {
        SET_ERR(s, "commit: %s was opened to be read only", s->path);
        return FL_ESTATE;
    }
    if (s->broken) {
        SET_ERR(s, "commit: %s is unusable after an earlier I/O failure; reopen it", s->path);
        return FL_EIO;
    }
    rc = check_batch(s, b, &size);
    if (rc != FL_OK)
        return rc;
    if (!b->nmsgs && !b->next_sender && !b->next_target)
        return FL_OK;
    ns = b->next_sender ? b->next_sender
                        : b->nmsgs ? b->msgs[b->nmsgs - 1].seq + 1 : s->next_sender;
    nt = b->next_target ? b->next_target : s->next_target;

    /* Everything that can fail for lack of memory or room comes before the first byte of the
     * record is written, so a failed commit has nothing to take back (the buffers only grow). */
    if (b->nmsgs > s->undo_cap) {
        struct undo *nu = realloc(s->undo, b->nmsgs * sizeof(*nu));
        if (!nu) {
            SET_ERR(s, "commit: out of memory");
            return FL_ENOMEM;
        }
        s->undo = nu;
        s->undo_cap = b->nmsgs;
    }
    if (s->use_map && (!s->map || size > s->map_len - s->end)) {
        e = reserve(s, s->end + size);     // may fall back to the pwrite() path
        if (e) {
            SET_ERR(s, "commit: reserving room for a %zu-byte record in %s: %s; not committed",
                    size, s->path, errtext(e, eb, sizeof(eb)));
            return FL_EIO;
        }
    }
    if (!s->map && size > s->wcap) {
        size_t ncap = s->wcap ? s->wcap : 4096;
        while (ncap < size)
            ncap *= 2;
        unsigned char *nb = realloc(s->wbuf, ncap);
        if (!nb) {
            SET_ERR(s, "commit: out of memory for a %zu-byte record", size);
            return FL_ENOMEM;
        }
        s->wbuf = nb;
        s->wcap = ncap;
    }
    if (!index_batch(s, b, s->end))
        return FL_ENOMEM;

    /* The commit point: the last store of the record into the mapping (recovery takes it only
     * whole), or the pwrite() returning. */
    w = s->map ? s->map + s->end : s->wbuf;
    encode_record(w, size, nt, ns, b);
    if (!s->map) {
        e = pwrite_all(s->fd, w, size, s->end);
        if (e) {
            rollback(s, b->nmsgs);
            SET_ERR(s, "commit: writing %zu bytes to %s at offset %" PRIu64 ": %s; not committed",
                    size, s->path, s->end, errtext(e, eb, sizeof(eb)));
            cut_back(s, s->base.last_error, sizeof(s->base.last_error));
            return FL_EIO;
        }
    }
    if (s->sync == FL_STORE_SYNC_EVERY) {
        e = datasync(s->fd);
        if (e) {
            rollback(s, b->nmsgs);
            SET_ERR(s, "commit: fdatasync %s: %s; not committed, store unusable until reopened",
                    s->path, errtext(e, eb, sizeof(eb)));
            s->broken = true;
            if (s->map)
                memset(w, 0, size);     // a reopen must not find what we reported as lost
            else
                cut_back(s, s->base.last_error, sizeof(s->base.last_error));
            return FL_EIO;
        }
    } else if (s->sync == FL_STORE_SYNC_BATCH) {
        s->dirty = true;
    }
    s->end += size;
    s->next_sender = ns;
    s->next_target = nt;
    s->committed = true;
    if (s->sync == FL_STORE_SYNC_EVERY)
        mark_synced(s, s->end);
    return FL_OK;
}

static int file_flush(struct fl_store *base)
{
    struct file_store *s = (struct file_store *)base;
    char eb[128];
    int e;

    if (s->read_only) {
        SET_ERR(s, "flush: %s was opened to be read only", s->path);
        return FL_ESTATE;
    }
    if (s->broken) {
        SET_ERR(s, "flush: %s is unusable after an earlier I/O failure; reopen it", s->path);
        return FL_EIO;
    }
    if (s->sync != FL_STORE_SYNC_BATCH || !s->dirty)
        return FL_OK;
    e = datasync(s->fd);
    if (e) {
        s->broken = true;
        SET_ERR(s, "flush: fdatasync %s: %s; store unusable until reopened", s->path,
                errtext(e, eb, sizeof(eb)));
        return FL_EIO;
    }
    s->dirty = false;
    mark_synced(s, s->end);
    return FL_OK;
}

/* Formats dir/name.<YYYYMMDD-HHMMSS of t (UTC)>.<n>.journal into buf. */
static void archive_name(const struct file_store *s, int64_t t, unsigned n, char *buf, size_t len)
{
    int64_t secs = t / 1000000000;
    struct tm tm;
    char stamp[32] = "00000000-000000";
    time_t tt;

    if (t % 1000000000 < 0)
        secs--;     // floor, for times before 1970
    tt = (time_t)secs;
    if (gmtime_r(&tt, &tm))
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, len, "%s/%s.%s.%u.journal", s->dir, s->name, stamp, n);
}

static int file_reset(struct fl_store *base, int64_t now)
{
    struct file_store *s = (struct file_store *)base;
    size_t plen = strlen(s->path), alen = strlen(s->dir) + strlen(s->name) + 64;
    char *tmp = malloc(plen + 5), *arch = malloc(alen);
    char eb[128];
    int nfd = -1, e, rc = FL_EIO;
    bool linked = false;

    if (s->read_only) {
        SET_ERR(s, "reset: %s was opened to be read only", s->path);
        free(tmp);
        free(arch);
        return FL_ESTATE;
    }
    if (!tmp || !arch) {
        SET_ERR(s, "reset: out of memory");
        rc = FL_ENOMEM;
        goto out;
    }
    memcpy(tmp, s->path, plen);
    memcpy(tmp + plen, ".new", 5);
    nfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (nfd == -1) {
        e = errno;
        SET_ERR(s, "reset: creating %s: %s", tmp, errtext(e, eb, sizeof(eb)));
        goto out;
    }
    e = lock_file(nfd);
    if (!e)
        e = header_write(nfd, s->sync, now);
    if (e) {
        SET_ERR(s, "reset: writing %s: %s", tmp, errtext(e, eb, sizeof(eb)));
        goto out;
    }
    /* The archive ends at its last record like a cleanly closed journal, synced and marked so.
     * If the reset fails after this, the next commit maps the current journal again. */
    if (s->committed && !s->broken && (s->synced == UINT64_MAX || s->end > s->synced) &&
        datasync(s->fd) == 0)
        mark_synced(s, s->end);
    e = compact(s);
    if (e) {
        SET_ERR(s, "reset: truncating %s after its last record: %s", s->path,
                errtext(e, eb, sizeof(eb)));
        goto out;
    }
    for (unsigned n = 1;; n++) {
        if (n > ARCHIVE_MAX) {
            SET_ERR(s, "reset: %u archives already exist for one creation time", ARCHIVE_MAX);
            goto out;
        }
        archive_name(s, s->creation_time, n, arch, alen);
        if (link(s->path, arch) == 0)
            break;
        e = errno;
        if (e != EEXIST) {
            SET_ERR(s, "reset: archiving %s as %s: %s", s->path, arch, errtext(e, eb, sizeof(eb)));
            goto out;
        }
    }
    linked = true;
    if (rename(tmp, s->path) == -1) {
        e = errno;
        SET_ERR(s, "reset: renaming %s to %s: %s", tmp, s->path, errtext(e, eb, sizeof(eb)));
        goto out;
    }
    linked = false;     // the archive is now the only name of the old journal: keep it
    free(tmp);
    tmp = NULL;         // renamed: nothing to remove
    /* The new file is in place: switch to it whatever happens next. */
    close(s->fd);
    s->fd = nfd;
    nfd = -1;
    idx_free(&s->idx);
    s->end = HEADER_SIZE;
    s->next_sender = s->next_target = 1;
    s->creation_time = now;
    s->synced = HEADER_SIZE;
    s->epoch++;
    s->dirty = false;
    s->broken = false;
    rc = FL_OK;
    /* Reserve and map the new journal now, so that its first commit is syscall-free too; if that
     * fails, the first commit tries again and reports it. */
    if (s->use_map)
        (void)reserve(s, s->end + 1);
    if (s->sync != FL_STORE_SYNC_NONE) {
        e = sync_dir(s->dir);
        if (e) {
            /* The directory may still show the old journal after a power loss; unsafe to go on. */
            s->broken = true;
            SET_ERR(s, "reset: syncing directory %s: %s; store unusable until reopened", s->dir,
                    errtext(e, eb, sizeof(eb)));
            rc = FL_EIO;
        }
    }
out:
    if (linked)
        unlink(arch);
    if (nfd != -1)
        close(nfd);
    if (tmp && rc != FL_OK)
        unlink(tmp);
    free(tmp);
    free(arch);
    return rc;
}

static int file_iter_open(struct fl_store *base, uint64_t begin, uint64_t end,
                          struct fl_store_iter **out)
{
    struct file_store *s = (struct file_store *)base;
    struct file_iter *it;

    if (!out)
        return FL_EINVAL;
    *out = NULL;
    it = calloc(1, sizeof(*it));
    if (!it) {
        SET_ERR(s, "iter_open: out of memory");
        return FL_ENOMEM;
    }
    it->base.ops = &file_ops;
    it->s = s;
    it->pos = begin ? begin : 1;
    it->end = end ? end : UINT64_MAX;
    it->epoch = s->epoch;
    *out = &it->base;
    return FL_OK;
}

/* Makes committed file bytes [off, off + n) available at *p through the iterator's window. */
static int win_get(struct file_iter *it, uint64_t off, size_t n, const unsigned char **p)
{
    struct file_store *s = it->s;
    size_t want, got;
    char eb[128];
    int e;

    if (off >= it->win_off && off + n <= it->win_off + it->win_len) {
        *p = it->buf + (off - it->win_off);
        return FL_OK;
    }
    if (off + n > s->end || off + n < off) {
        SET_ERR(s, "iterator: entry at offset %" PRIu64 " runs past the journal end %" PRIu64,
                off, s->end);
        return FL_ECORRUPT;
    }
    want = n > ITER_WINDOW ? n : ITER_WINDOW;
    if (want > it->cap) {
        unsigned char *nb = realloc(it->buf, want);
        if (!nb) {
            SET_ERR(s, "iterator: out of memory for a %zu-byte message", n);
            return FL_ENOMEM;
        }
        it->buf = nb;
        it->cap = want;
    }
    /* Only committed bytes are read: they never change until a reset bumps the epoch. */
    want = s->end - off < it->cap ? (size_t)(s->end - off) : it->cap;
    e = pread_all(s->fd, it->buf, want, off, &got);
    if (e || got < n) {
        it->win_len = 0;
        SET_ERR(s, "iterator: reading %s at offset %" PRIu64 ": %s", s->path, off,
                e ? errtext(e, eb, sizeof(eb)) : "file is shorter than committed");
        return FL_EIO;
    }
    it->win_off = off;
    it->win_len = got;
    *p = it->buf;
    return FL_OK;
}

static int file_iter_next(struct fl_store_iter *base, uint64_t *seq, const char **data,
                          size_t *len)
{
    struct file_iter *it = (struct file_iter *)base;
    struct file_store *s = it->s;
    const unsigned char *p;
    uint64_t q, off, stored;
    uint32_t mlen;
    int rc;

    if (it->done)
        return FL_ENOENT;
    if (it->epoch != s->epoch) {
        it->win_len = 0;
        it->epoch = s->epoch;
    }
    if (!idx_next(&s->idx, it->pos, it->end, &q, &off)) {
        it->done = true;
        return FL_ENOENT;
    }
    rc = win_get(it, off, ENTRY_HDR, &p);
    if (rc != FL_OK)
        return rc;
    stored = get_le64(p);
    mlen = get_le32(p + 8);
    if (stored != q) {
        SET_ERR(s, "iterator: %s offset %" PRIu64 " holds seq %" PRIu64 ", expected %" PRIu64,
                s->path, off, stored, q);
        return FL_ECORRUPT;
    }
    rc = win_get(it, off, ENTRY_HDR + (size_t)mlen, &p);
    if (rc != FL_OK)
        return rc;
    *seq = q;
    *data = (const char *)p + ENTRY_HDR;
    *len = mlen;
    it->pos = q + 1;    // q < UINT64_MAX: commit refuses that seq
    return FL_OK;
}

static void file_iter_close(struct fl_store_iter *base)
{
    struct file_iter *it = (struct file_iter *)base;

    free(it->buf);
    free(it);
}

static void free_store(struct file_store *s)
{
    unmap(s);
    if (s->fd != -1)
        close(s->fd);
    idx_free(&s->idx);
    free(s->wbuf);
    free(s->undo);
    free(s->path);
    free(s->dir);
    free(s->name);
    free(s);
}

static void file_close(struct fl_store *base)
{
    struct file_store *s = (struct file_store *)base;

    /* Not from a forked child: it holds no lock, and the owner's mapping would reach past the
     * end of the file. */
    if (s->owner == getpid() && !s->read_only) {
        /* A clean close of a store that committed syncs what is not yet synced and marks its
         * end (see the top of this file): a courtesy, since close cannot report failure;
         * callers who need to know flush first. */
        if (s->committed && !s->broken && (s->synced == UINT64_MAX || s->end > s->synced) &&
            datasync(s->fd) == 0)
            mark_synced(s, s->end);
        /* Leave the file ending at its last record, readable by any tool. A failure only leaves
         * the zero tail, which is a normal end. */
        (void)compact(s);
    }
    free_store(s);
}

static const struct fl_store_ops file_ops = {
    .name = "file",
    .next_sender = file_next_sender,
    .next_target = file_next_target,
    .creation_time = file_creation_time,
    .commit = file_commit,
    .reset = file_reset,
    .flush = file_flush,
    .iter_open = file_iter_open,
    .iter_next = file_iter_next,
    .iter_close = file_iter_close,
    .close = file_close,
};

static char *dupstr(const char *p)
{
    size_t n = strlen(p) + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, p, n);
    return d;
}

/* Opens `dir`/`name`.journal, creating it (creation time `now`, 1/1) if absent, and recovers it
 * as described at the top of this file. On FL_OK the caller owns *out (fl_store_close() frees
 * it) and errbuf holds the recovery note, or "" when nothing was repaired; the note is also left
 * in last_error. Otherwise *out is NULL and errbuf says why: FL_EINVAL (bad argument), FL_EIO
 * (system call failed, or the journal is locked by another process), FL_ECORRUPT (damaged
 * journal, with the file offset), FL_EFORMAT (unsupported format version), FL_ENOMEM. */
int fl_store_file_open(const char *dir, const char *name, enum fl_store_sync sync, int64_t now,
                       struct fl_store **out, char *errbuf, size_t errlen)
{
    return fl_store_file_open_opts(dir, name, sync, now, NULL, out, errbuf, errlen);
}

/* fl_store_file_open() with the knobs of fl_store_file_int.h (opts NULL: the defaults). */
int fl_store_file_open_opts(const char *dir, const char *name, enum fl_store_sync sync,
                            int64_t now, const struct fl_store_file_opts *opts,
                            struct fl_store **out, char *errbuf, size_t errlen)
{
    struct file_store *s = NULL;
    long page = sysconf(_SC_PAGESIZE);
    struct stat st;
    char note[sizeof(s->base.last_error)] = "";
    char eb[128];
    bool created = false;
    size_t plen;
    int rc, e;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (out)
        *out = NULL;
    if (!out || !dir || !*dir || !name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
        !strcmp(name, "..") || (unsigned)sync >= FL_STORE_SYNC__COUNT) {
        bufmsg(errbuf, errlen, "fl_store_file_open: invalid argument");
        return FL_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->fd = -1;
    s->owner = getpid();
    s->base.ops = &file_ops;
    s->sync = sync;
    s->read_only = opts && opts->read_only;
    s->use_map = !(opts && opts->no_map) && !s->read_only;
    if (page <= 0 || (page & (page - 1)))
        page = 4096;
    s->chunk_min = opts && opts->chunk_min ? opts->chunk_min : CHUNK_MIN;
    s->chunk_max = opts && opts->chunk_max ? opts->chunk_max : CHUNK_MAX;
    s->chunk_min = round_up(s->chunk_min, (uint64_t)page);
    s->chunk_max = round_up(s->chunk_max, (uint64_t)page);
    if (s->chunk_max < s->chunk_min)
        s->chunk_max = s->chunk_min;
    s->next_sender = s->next_target = 1;
    s->end = HEADER_SIZE;
    plen = strlen(dir) + strlen(name) + sizeof("/.journal");
    s->dir = dupstr(dir);
    s->name = dupstr(name);
    s->path = malloc(plen);
    if (!s->dir || !s->name || !s->path)
        goto nomem;
    snprintf(s->path, plen, "%s/%s.journal", dir, name);

    for (int tries = 0; s->fd == -1; tries++) {
        s->fd = open(s->path, (s->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (s->fd != -1)
            break;
        e = errno;
        if (e == ENOENT && tries < 3 && !s->read_only) {
            /* O_EXCL: if another process creates it first we open theirs on the next turn. */
            s->fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (s->fd != -1) {
                created = true;
                break;
            }
            e = errno;
            if (e == EEXIST)
                continue;
        }
        bufmsg(errbuf, errlen, "opening %s: %s", s->path, errtext(e, eb, sizeof(eb)));
        rc = FL_EIO;
        goto fail;
    }
    /* A reader takes no lock: it may look at the journal of a running engine, and the records
     * it finds are whole ones (a record being written reads as a torn tail, left alone). */
    e = s->read_only ? 0 : lock_file(s->fd);
    if (e) {
        if (e == EAGAIN || e == EACCES)
            bufmsg(errbuf, errlen, "%s is in use by another process (locked)", s->path);
        else
            bufmsg(errbuf, errlen, "locking %s: %s", s->path, errtext(e, eb, sizeof(eb)));
        rc = FL_EIO;
        goto fail;
    }
    if (fstat(s->fd, &st) == -1) {
        e = errno;
        bufmsg(errbuf, errlen, "fstat %s: %s", s->path, errtext(e, eb, sizeof(eb)));
        rc = FL_EIO;
        goto fail;
    }
    rc = load_header(s, created, now, errbuf, errlen, note, sizeof(note));
    if (rc != FL_OK)
        goto fail;
    if ((uint64_t)st.st_size > HEADER_SIZE) {
        rc = replay(s, (uint64_t)st.st_size, errbuf, errlen, note, sizeof(note));
        if (rc != FL_OK)
            goto fail;
    }
    if (s->synced != UINT64_MAX && s->end < s->synced && s->read_only && !note[0])
        bufmsg(note, sizeof(note), "%s: the records end at offset %" PRIu64 ", before the synced "
               "end %" PRIu64 ": the disk lost writes it had acknowledged", s->path, s->end,
               s->synced);
    if (s->synced != UINT64_MAX && s->end < s->synced && !s->read_only) {
        rc = lower_mark(s, errbuf, errlen, note, sizeof(note));
        if (rc != FL_OK)
            goto fail;
    }
    /* Reserve and map room now, so that the first commit is syscall-free too; if that fails
     * (a full disk), the first commit tries again and reports it. */
    if (s->use_map)
        (void)reserve(s, s->end + 1);
    bufmsg(errbuf, errlen, "%s", note);
    memcpy(s->base.last_error, note, sizeof(note));
    *out = &s->base;
    return FL_OK;
nomem:
    bufmsg(errbuf, errlen, "fl_store_file_open: out of memory");
    rc = FL_ENOMEM;
fail:
    if (s)
        free_store(s);
    return rc;
}

int fl_store_file_open_read(const char *path, struct fl_store **out, char *errbuf, size_t errlen)
{
    static const char suffix[] = ".journal";
    const struct fl_store_file_opts opts = {.read_only = true};
    size_t n = path ? strlen(path) : 0, ns = sizeof(suffix) - 1;
    if (out)
        *out = NULL;
    if (n <= ns || strcmp(path + n - ns, suffix) != 0 || path[n - ns - 1] == '/') {
        bufmsg(errbuf, errlen, "%s: not a journal file name (NAME.journal)", path ? path : "");
        return FL_EINVAL;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
                      : strdup(".");
    const char *base = slash ? slash + 1 : path;
    char *name = strndup(base, strlen(base) - ns);
    int rc = FL_ENOMEM;
    if (dir && name)
        rc = fl_store_file_open_opts(dir, name, FL_STORE_SYNC_NONE, 0, &opts, out, errbuf, errlen);
    else
        bufmsg(errbuf, errlen, "fl_store_file_open_read: out of memory");
    free(dir);
    free(name);
    return rc;
}
