/* fixlua — tests of the file store (fl_store_file.c) and of fl_crc32c().
 *
 * Semantics shared with the memory store are checked before and after a reopen, so every one of
 * them is also a test of recovery. Then the journal is damaged on purpose: cut at every byte
 * (a crash mid-write must lose exactly the last batch, never part of it), flipped bytes (must be
 * FL_ECORRUPT with the offset, never a silent reset), zero tails (the preallocated room: the
 * normal end, or a torn record inside it), bad headers. The mapping is checked through the file
 * size (reserved room while open, the last record's end after a clean close), growth across
 * chunks, a writer that dies without closing, and the pwrite() path it falls back to. Write and
 * reservation failures are provoked with RLIMIT_FSIZE. Each test works in its own mkdtemp()
 * directory under /tmp, removed at the end. Depends on fl_store.h, fl_store_file_int.h (test
 * knobs), fl_test.h and POSIX. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_store.h"
#include "fl_store_file_int.h"
#include "fl_test.h"
#include "store_harness.h"

#define T0 1700000000000000000LL    /* 2023-11-14 22:13:20 UTC, in ns */
#define T0_STAMP "20231114-221320"
#define DAY 86400000000000LL
#define MIB (1024LL * 1024)             /* the default smallest preallocation chunk */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/fl_test_store.XXXXXX";
    char *d = mkdtemp(tmpl);

    return d ? strdup(d) : NULL;
}

/* Removes dir and the plain files in it. */
static void remove_tmpdir(char *dir)
{
    DIR *d;
    struct dirent *e;
    char p[512];

    if (!dir)
        return;
    d = opendir(dir);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static char *jpath(const char *dir, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.journal", dir, name);
    return buf;
}

static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Reads a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = malloc((size_t)n + 1);
        if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
            free(b);
            b = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return b;
}

static int spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return 0;
    ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int count_files_with_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* ---- the standard damaged-journal fixture ------------------------------------------------ */

/* Five batches; a message-less one in the middle and an explicit next_sender at the end. */
static const struct want b1[] = {{1, "8=FIX.4.4\0019=5\00135=A\001"}, {2, "second message"}};
static const struct want b2[] = {{3, "third"}};
static const struct want b4[] = {{4, "four"}, {5, "five is longer than four"}, {6, "6"}};
static const struct want b5[] = {{7, "seven, followed by a SequenceReset to 10"}};
static const struct want all5[] = {
    {1, "8=FIX.4.4\0019=5\00135=A\001"}, {2, "second message"}, {3, "third"}, {4, "four"},
    {5, "five is longer than four"}, {6, "6"}, {7, "seven, followed by a SequenceReset to 10"}};
/* After k batches: messages all5[0..nmsgs[k]), next_target nt[k], next_sender ns[k]. */
static const size_t fx_nmsgs[] = {0, 2, 3, 3, 6, 7};
static const uint64_t fx_nt[] = {1, 2, 3, 4, 5, 6};
static const uint64_t fx_ns[] = {1, 3, 4, 4, 7, 10};
#define FX_BATCHES 5

/* Bytes of the record of a batch of messages w[0..n): header, fixed part, entries. */
static long long rec_size(const struct want *w, size_t n)
{
    long long size = 16 + 20;

    for (size_t i = 0; i < n; i++)
        size += 12 + (long long)strlen(w[i].data);
    return size;
}

/* Writes the fixture as dir/src.journal; sizes[k] is the file size after k batches and a clean
 * close (which truncates the room reserved while open). */
static int make_fixture(const char *dir, long long sizes[FX_BATCHES + 1])
{
    struct fl_store *s = NULL;
    char p[512], err[256];
    int ok = 0;

    jpath(dir, "src", p, sizeof(p));
    for (int k = 0; k <= FX_BATCHES; k++) {
        if (fl_store_file_open(dir, "src", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)) != FL_OK)
            return 0;
        switch (k) {
        case 1: ok = commit_msgs(s, 2, 0, b1, 2) == FL_OK; break;
        case 2: ok = commit_msgs(s, 3, 0, b2, 1) == FL_OK; break;
        case 3: ok = commit_msgs(s, 4, 0, NULL, 0) == FL_OK; break;
        case 4: ok = commit_msgs(s, 5, 0, b4, 3) == FL_OK; break;
        case 5: ok = commit_msgs(s, 6, 10, b5, 1) == FL_OK; break;
        default: ok = 1; break;
        }
        fl_store_close(s);
        s = NULL;
        sizes[k] = file_size(p);
        if (!ok)
            return 0;
    }
    ok = sizes[0] == 32 && sizes[1] == 32 + rec_size(b1, 2) &&
         sizes[5] == sizes[4] + rec_size(b5, 1);
    for (int k = 1; k <= FX_BATCHES; k++)
        ok = ok && sizes[k] > sizes[k - 1];
    return ok;
}

/* The version and synced end of a journal header, and a header rewritten with others. */
static uint32_t header_version(const unsigned char *h)
{
    return (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
}

static unsigned long long header_synced(const unsigned char *h)
{
    unsigned long long v = 0;

    for (int i = 3; i >= 0; i--)
        v = v << 8 | h[24 + i];
    for (int i = 3; i >= 0; i--)
        v = v << 8 | h[12 + i];
    return v;
}

static void set_header(unsigned char *h, uint32_t version, unsigned long long synced)
{
    for (int i = 0; i < 4; i++) {
        h[8 + i] = (unsigned char)(version >> (8 * i));
        h[12 + i] = (unsigned char)(synced >> (8 * i));
        h[24 + i] = (unsigned char)(synced >> (32 + 8 * i));
    }
    uint32_t crc = fl_crc32c(0, h, 28);
    for (int i = 0; i < 4; i++)
        h[28 + i] = (unsigned char)(crc >> (8 * i));
}

/* True if s holds exactly the fixture's first k batches. */
static int holds_batches(struct fl_store *s, int k)
{
    if (fl_store_next_target(s) != fx_nt[k] || fl_store_next_sender(s) != fx_ns[k]) {
        fprintf(stderr, "  %d batches: next %llu/%llu, want %llu/%llu\n", k,
                (unsigned long long)fl_store_next_sender(s),
                (unsigned long long)fl_store_next_target(s), (unsigned long long)fx_ns[k],
                (unsigned long long)fx_nt[k]);
        return 0;
    }
    return fl_store_creation_time(s) == T0 && iter_matches(s, 1, 0, all5, fx_nmsgs[k]);
}

/* ---- tests ------------------------------------------------------------------------------- */

FL_TEST(crc32c_matches_known_vector_bitwise_reference_and_chains)
{
    unsigned char buf[1024 + 8];
    uint64_t x = 0x9e3779b97f4a7c15ull;

    FL_CHECK(fl_crc32c(0, "123456789", 9) == 0xE3069283u);     // the CRC-32C check value
    FL_CHECK(fl_crc32c(0, "", 0) == 0);
    FL_CHECK(fl_crc32c_portable(0, "123456789", 9) == 0xE3069283u);
    /* Whichever path fl_crc32c() takes here agrees with the portable one at every length and
     * alignment, continued or not. */
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof data; n += 13) {
            FL_CHECK(fl_crc32c(0, data + off, n) == fl_crc32c_portable(0, data + off, n));
            FL_CHECK(fl_crc32c(0x1234u, data + off, n) ==
                     fl_crc32c_portable(0x1234u, data + off, n));
        }
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    /* Every length and alignment exercises both the 8-byte loop and the tail. */
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 1024; n += (n < 40 ? 1 : 37)) {
            uint32_t whole = fl_crc32c(0, buf + off, n);
            FL_CHECK(whole == crc32c_bitwise(0, buf + off, n));
            FL_CHECK(fl_crc32c(fl_crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3) ==
                     whole);
        }
end:;
}

FL_TEST(new_journal_starts_at_one_one_and_reopen_keeps_its_creation_time)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256] = "x", p[512];

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");    // a fresh journal is no recovery
    FL_CHECK(strcmp(s->ops->name, "file") == 0);
    FL_CHECK_INT(fl_store_next_sender(s), 1);
    FL_CHECK_INT(fl_store_next_target(s), 1);
    FL_CHECK(fl_store_creation_time(s) == T0);
    FL_CHECK_INT(file_size(jpath(dir, "sess", p, sizeof(p))), MIB);   // room reserved by open
    FL_CHECK(iter_matches(s, 1, 0, NULL, 0));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), 32);     // a clean close leaves the header only
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0 + DAY, &s, err,
                                    sizeof(err)), FL_OK);
    FL_CHECK(fl_store_creation_time(s) == T0);  // the file's, not this open's `now`
    FL_CHECK_INT(fl_store_next_sender(s), 1);
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* The semantics of test_store_mem.c, checked live and again after each of two reopens. */
FL_TEST(semantics_hold_live_and_after_reopen)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    const struct want a[] = {{1, "old1"}, {2, "old2"}, {3, "old3"}};
    const struct want b[] = {{2, "new2"}};
    const struct want c[] = {{20, "c20"}, {21, "c21"}};
    const struct want d[] = {{15, "d15"}};
    const struct want all[] = {{1, "old1"}, {2, "new2"}, {3, "old3"}, {15, "d15"}, {20, "c20"},
                               {21, "c21"}};

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 3), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK_INT(commit_msgs(s, 0, 0, b, 1), FL_OK);       // stored again, lower: newest wins
    FL_CHECK_INT(fl_store_next_sender(s), 3);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK_INT(commit_msgs(s, 0, 20, NULL, 0), FL_OK);   // explicit jump, no messages
    FL_CHECK_INT(commit_msgs(s, 9, 0, c, 2), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 30, d, 1), FL_OK);      // explicit wins over derived (16)
    FL_CHECK_INT(commit_msgs(s, 0, 0, NULL, 0), FL_OK);    // all zero: nothing written
    for (int round = 0; round < 3; round++) {
        FL_CHECK_INT(fl_store_next_sender(s), 30);
        FL_CHECK_INT(fl_store_next_target(s), 9);
        FL_CHECK(fl_store_creation_time(s) == T0);
        FL_CHECK(iter_matches(s, 1, 0, all, 6));
        FL_CHECK(iter_matches(s, 0, 0, all, 6));
        FL_CHECK(iter_matches(s, 2, 15, all + 1, 3));
        FL_CHECK(iter_matches(s, 4, 14, NULL, 0));
        FL_CHECK(iter_matches(s, 16, 0, all + 4, 2));
        FL_CHECK(iter_matches(s, 21, 21, all + 5, 1));
        FL_CHECK(iter_matches(s, 22, 0, NULL, 0));
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0 + DAY, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK_STRN(err, strlen(err), "");
    }
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(many_messages_of_every_size_reopen_byte_exact_through_the_read_window)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    struct fl_store_iter *it = NULL;
    static char big[200000];
    char err[256], small[400];
    uint64_t seq;
    const char *d;
    size_t len;
    const uint64_t n = 3000;

    FL_CHECK(dir);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 131 + (i >> 9));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    /* Sizes vary from 0 to 399 bytes, with three messages larger than the 64 KiB window. */
    for (uint64_t q = 1; q <= n; q++) {
        struct fl_store_msg m = {q, small, (size_t)(q * 7 % 400)};
        if (q == 1000 || q == 1001 || q == 2999) {
            m.data = big;
            m.len = sizeof(big) - (size_t)q;
        } else {
            for (size_t i = 0; i < m.len; i++)
                small[i] = (char)(q + i);
        }
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        FL_CHECK_INT(fl_store_commit(s, &b), FL_OK);
        if (q % 64 == 0)
            FL_CHECK_INT(fl_store_flush(s), FL_OK);
    }
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    for (int round = 0; round < 2; round++) {
        FL_CHECK_INT(fl_store_next_target(s), n + 1);
        FL_CHECK_INT(fl_store_next_sender(s), n + 1);
        FL_CHECK_INT(fl_store_iter_open(s, round ? 999 : 0, round ? 2999 : 0, &it), FL_OK);
        for (uint64_t q = round ? 999 : 1; q <= (round ? 2999 : n); q++) {
            FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
            FL_CHECK_INT(seq, q);
            if (q == 1000 || q == 1001 || q == 2999) {
                FL_CHECK(len == sizeof(big) - q && memcmp(d, big, len) == 0);
            } else {
                FL_CHECK_INT(len, q * 7 % 400);
                for (size_t i = 0; i < len; i++)
                    FL_CHECK(d[i] == (char)(q + i));
            }
        }
        FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_ENOENT);
        fl_store_iter_close(it);
        it = NULL;
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err,
                                        sizeof(err)), FL_OK);
    }
end:
    fl_store_iter_close(it);
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(iterator_keeps_its_place_and_its_bytes_across_commits)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    /* 5000 messages: commits written after the iterator's window was filled. */
    FL_CHECK(iterator_survives_commits(s, 5000));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(huge_seq_jumps_and_lower_seqs_index_without_a_slot_per_skipped_number)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    const struct want a[] = {{1, "a"}, {2, "b"}};
    const struct want far[] = {{(uint64_t)1 << 40, "far"}, {((uint64_t)1 << 40) + 5000, "far2"}};
    const struct want mid[] = {{1 << 20, "mid"}};
    const struct want low[] = {{2, "b2"}};
    const struct want all[] = {{1, "a"}, {2, "b2"}, {1 << 20, "mid"}, {(uint64_t)1 << 40, "far"},
                               {((uint64_t)1 << 40) + 5000, "far2"}};

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, a, 2), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, far, 2), FL_OK);     // would be 8 TiB as one dense array
    FL_CHECK_INT(commit_msgs(s, 0, 0, mid, 1), FL_OK);     // between two runs
    FL_CHECK_INT(commit_msgs(s, 0, 0, low, 1), FL_OK);     // into the first run
    for (int round = 0; round < 2; round++) {
        FL_CHECK_INT(fl_store_next_sender(s), 3);
        FL_CHECK(iter_matches(s, 1, 0, all, 5));
        FL_CHECK(iter_matches(s, 3, ((uint64_t)1 << 40) + 4999, all + 2, 2));
        FL_CHECK(iter_matches(s, ((uint64_t)1 << 40) + 1, 0, all + 4, 1));
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err,
                                        sizeof(err)), FL_OK);
    }
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(bad_batch_is_refused_and_writes_nothing)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256], p[512];
    const struct want ok[] = {{1, "one"}};
    const struct want desc[] = {{3, "three"}, {2, "two"}};
    struct fl_store_msg nodata = {5, NULL, 3};
    struct fl_store_batch b = {9, 0, &nodata, 1};
    long long size;

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, ok, 1), FL_OK);
    size = file_size(p);
    FL_CHECK_INT(commit_msgs(s, 9, 0, desc, 2), FL_EINVAL);
    FL_CHECK(strstr(s->last_error, "non-ascending"));
    FL_CHECK_INT(fl_store_commit(s, &b), FL_EINVAL);
    FL_CHECK_INT(fl_store_commit(s, NULL), FL_EINVAL);
    FL_CHECK_INT(commit_msgs(s, 0, 0, NULL, 0), FL_OK);
    FL_CHECK_INT(file_size(p), size);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK(iter_matches(s, 1, 0, ok, 1));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(open_refuses_bad_arguments)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "a/b", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_EINVAL);
    FL_CHECK(s == NULL && err[0]);
    FL_CHECK_INT(fl_store_file_open(dir, "", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_EINVAL);
    FL_CHECK_INT(fl_store_file_open(dir, "x", FL_STORE_SYNC__COUNT, T0, &s, err, sizeof(err)),
                 FL_EINVAL);
    FL_CHECK_INT(fl_store_file_open(dir, "x", FL_STORE_SYNC_NONE, T0, NULL, err, sizeof(err)),
                 FL_EINVAL);
    FL_CHECK_INT(fl_store_file_open("/nonexistent-fixlua-dir", "x", FL_STORE_SYNC_NONE, T0, &s,
                                    NULL, 0), FL_EIO);
    FL_CHECK_INT(fl_store_file_open("/nonexistent-fixlua-dir", "x", FL_STORE_SYNC_NONE, T0, &s,
                                    err, sizeof(err)), FL_EIO);
    FL_CHECK(strstr(err, "/nonexistent-fixlua-dir/x.journal"));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* A crash may stop the write of the last record after any byte. Cut the journal at every length
 * from the end of the header to one byte short of full: each must open, hold exactly the batches
 * that were complete (all or nothing for the cut one), report the cut, and keep working. */
FL_TEST(cut_at_every_byte_recovers_exactly_the_complete_batches)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL;
    size_t flen = 0;
    char src[512], cut[512], err[256];
    const struct want extra[] = {{100, "after recovery"}};
    int torn_reports = 0;

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full && (long long)flen == sizes[FX_BATCHES]);
    set_header(full, 2, 32);    // as a writer that never synced left it
    jpath(dir, "cut", cut, sizeof(cut));
    for (size_t len = 32; len < flen; len++) {
        int k = 0;
        while (k < FX_BATCHES && sizes[k + 1] <= (long long)len)
            k++;
        FL_CHECK(spit(cut, full, len));
        FL_CHECK_INT(fl_store_file_open(dir, "cut", FL_STORE_SYNC_NONE, T0 + DAY, &s, err,
                                        sizeof(err)), FL_OK);
        if ((long long)len == sizes[k]) {
            FL_CHECK_STRN(err, strlen(err), "");        // a record boundary: nothing to repair
        } else {
            FL_CHECK(strstr(err, "torn"));
            FL_CHECK(strstr(s->last_error, "torn"));
            torn_reports++;
        }
        FL_CHECK(holds_batches(s, k));
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(file_size(cut), sizes[k]);         // the torn bytes are gone from disk
        FL_CHECK_INT(fl_store_file_open(dir, "cut", FL_STORE_SYNC_NONE, T0 + DAY, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK_STRN(err, strlen(err), "");            // and stay gone
        FL_CHECK_INT(commit_msgs(s, 77, 0, extra, 1), FL_OK);
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(fl_store_file_open(dir, "cut", FL_STORE_SYNC_NONE, T0 + DAY, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK_STRN(err, strlen(err), "");
        FL_CHECK_INT(fl_store_next_target(s), 77);
        FL_CHECK_INT(fl_store_next_sender(s), 101);
        FL_CHECK(iter_matches(s, 1, 99, all5, fx_nmsgs[k]));
        FL_CHECK(iter_matches(s, 100, 0, extra, 1));
        fl_store_close(s);
        s = NULL;
    }
    FL_CHECK_INT(torn_reports, (int)(flen - 32) - FX_BATCHES);  // all but the 5 boundaries
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

FL_TEST(header_cut_short_is_a_new_journal_only_if_it_is_a_prefix_of_the_magic)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL;
    size_t flen = 0;
    char src[512], cut[512], err[256];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    jpath(dir, "cut", cut, sizeof(cut));
    /* A creation interrupted before its header was complete never held a commit. */
    for (size_t len = 0; len < 32; len++) {
        FL_CHECK(spit(cut, full, len));
        FL_CHECK_INT(fl_store_file_open(dir, "cut", FL_STORE_SYNC_NONE, T0 + DAY, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK(strstr(err, "header was incomplete"));
        FL_CHECK(fl_store_creation_time(s) == T0 + DAY);
        FL_CHECK_INT(fl_store_next_sender(s), 1);
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(file_size(cut), 32);
    }
    /* Short but not a journal: never overwritten. */
    FL_CHECK(spit(cut, "hello", 5));
    FL_CHECK_INT(fl_store_file_open(dir, "cut", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "not a fixlua journal"));
    FL_CHECK_INT(file_size(cut), 5);
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

/* Damage to any byte of any record but the last is corruption, reported with the record's
 * offset, and the file is left as it was for the operator. */
FL_TEST(flipped_byte_in_any_earlier_record_is_corrupt_with_its_offset)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL;
    size_t flen = 0;
    char src[512], bad[512], err[256], at[64];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    jpath(dir, "bad", bad, sizeof(bad));
    for (int k = 1; k < FX_BATCHES; k++) {
        for (long long pos = sizes[k - 1]; pos < sizes[k]; pos++) {
            full[pos] ^= 0x20;
            FL_CHECK(spit(bad, full, flen));
            full[pos] ^= 0x20;
            err[0] = '\0';
            FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err,
                                            sizeof(err)), FL_ECORRUPT);
            FL_CHECK(s == NULL);
            snprintf(at, sizeof(at), "at offset %lld ", sizes[k - 1]);
            if (!strstr(err, at))
                fprintf(stderr, "  flip at %lld: \"%s\"\n", pos, err);
            FL_CHECK(strstr(err, at));
            FL_CHECK_INT(file_size(bad), (long long)flen);   // nothing cut
        }
    }
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

FL_TEST(flipped_payload_byte_in_the_last_record_is_cut_as_torn)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL;
    size_t flen = 0;
    char src[512], bad[512], err[256], at[128];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    jpath(dir, "bad", bad, sizeof(bad));
    /* As a crash while writing it leaves it: synced up to the record before. */
    set_header(full, 2, (unsigned long long)sizes[FX_BATCHES - 1]);
    for (long long pos = sizes[FX_BATCHES - 1] + 16; pos < sizes[FX_BATCHES]; pos++) {
        full[pos] ^= 0x01;
        FL_CHECK(spit(bad, full, flen));
        full[pos] ^= 0x01;
        FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK(strstr(err, "torn"));
        FL_CHECK(holds_batches(s, FX_BATCHES - 1));
        fl_store_close(s);
        s = NULL;
    }
    /* The same damage to a record the header says was synced: cut all the same (nothing follows
     * it), but the note says what it means, and the mark comes down to the new end. */
    set_header(full, 2, flen);
    full[sizes[FX_BATCHES] - 3] ^= 0x01;
    FL_CHECK(spit(bad, full, flen));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    snprintf(at, sizeof(at), "damaged record at offset %lld, below the synced end %zu",
             sizes[FX_BATCHES - 1], flen);
    FL_CHECK(strstr(err, at) && strstr(err, "acknowledged"));
    FL_CHECK(holds_batches(s, FX_BATCHES - 1));
    free(full);
    full = slurp(bad, &flen);
    FL_CHECK(full && header_synced(full) == (unsigned long long)sizes[FX_BATCHES - 1]);
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

/* Zeros after the last record are the room a writer reserved (or a file system's crash
 * extension): the normal end, silent, kept while open and gone after a clean close. A record
 * that fails its checks before them is torn; zeros followed by anything else are corrupt below
 * the synced end, and the unsynced tail past it. */
FL_TEST(zero_tail_is_the_normal_end_a_bad_record_before_it_is_torn_zeros_then_data_corrupt)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL, *grown = NULL;
    size_t flen = 0;
    char src[512], bad[512], err[256];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    grown = calloc(1, flen + 4096);
    FL_CHECK(grown);
    memcpy(grown, full, flen);
    jpath(dir, "bad", bad, sizeof(bad));
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(holds_batches(s, FX_BATCHES));
    FL_CHECK(file_size(bad) >= (long long)flen + 4096);     // kept, appending resumes there
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(bad), (long long)flen);
    /* Fewer zeros than a record header: the same. */
    FL_CHECK(spit(bad, grown, flen + 5));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(holds_batches(s, FX_BATCHES));
    fl_store_close(s);
    s = NULL;
    /* The last record half written (its end zeroed) and zeros after it, synced up to the record
     * before: still a torn write. */
    memset(grown + flen - 5, 0, 5);
    set_header(grown, 2, (unsigned long long)sizes[FX_BATCHES - 1]);
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(strstr(err, "torn") && strstr(err, "zero"));
    FL_CHECK(holds_batches(s, FX_BATCHES - 1));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(bad), sizes[FX_BATCHES - 1]);
    /* But below the synced end, a non-zero byte anywhere after the damage means real data
     * follows: corrupt. */
    set_header(grown, 2, flen);
    grown[flen + 4095] = 1;
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "record checksum mismatch"));
    FL_CHECK_INT(file_size(bad), (long long)flen + 4096);  // nothing cut
    /* Zeros then data past the synced end (here the end of the fixture's clean close) are what
     * a power loss leaves of unsynced writes: cut off with a note. */
    memcpy(grown, full, flen);
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(strstr(err, "unsynced tail") && strstr(err, "all zero"));
    FL_CHECK(holds_batches(s, FX_BATCHES));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(bad), (long long)flen);
end:
    fl_store_close(s);
    free(full);
    free(grown);
    remove_tmpdir(dir);
}

/* A writer killed while storing its last record through the mapping leaves any prefix of it
 * followed by the zeros of the reserved room: each is cut with a note, except a prefix of zero
 * bytes only, which is no record at all. */
FL_TEST(torn_record_inside_the_zero_tail_is_cut_at_every_byte)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL, *img = NULL;
    size_t flen = 0;
    const size_t room = 64 * 1024;
    char src[512], bad[512], err[256];
    int torn = 0;

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full && flen < room);
    set_header(full, 2, 32);    // as a writer that never synced left it
    img = malloc(room);
    FL_CHECK(img);
    jpath(dir, "bad", bad, sizeof(bad));
    for (size_t len = (size_t)sizes[FX_BATCHES - 1]; len < flen; len++) {
        bool blank = true;
        for (size_t i = (size_t)sizes[FX_BATCHES - 1]; i < len; i++)
            blank = blank && !full[i];
        memset(img, 0, room);
        memcpy(img, full, len);
        FL_CHECK(spit(bad, img, room));
        FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err,
                                        sizeof(err)), FL_OK);
        if (blank) {
            FL_CHECK_STRN(err, strlen(err), "");
        } else {
            FL_CHECK(strstr(err, "torn"));
            torn++;
        }
        FL_CHECK(holds_batches(s, FX_BATCHES - 1));
        FL_CHECK_INT(commit_msgs(s, 6, 10, b5, 1), FL_OK);     // the lost batch, again
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(file_size(bad), (long long)flen);          // the same bytes as the original
        FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err,
                                        sizeof(err)), FL_OK);
        FL_CHECK_STRN(err, strlen(err), "");
        FL_CHECK(holds_batches(s, FX_BATCHES));
        fl_store_close(s);
        s = NULL;
    }
    FL_CHECK_INT(torn, (int)(flen - (size_t)sizes[FX_BATCHES - 1]) - 1);  // all but no bytes
end:
    fl_store_close(s);
    free(full);
    free(img);
    remove_tmpdir(dir);
}

FL_TEST(bad_magic_bad_header_crc_and_unknown_version_are_refused)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL;
    size_t flen = 0;
    char src[512], bad[512], err[256];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    jpath(dir, "bad", bad, sizeof(bad));
    /* Any damaged header byte is refused, whatever it is. */
    for (int pos = 0; pos < 32; pos++) {
        full[pos] ^= 0x10;
        FL_CHECK(spit(bad, full, flen));
        full[pos] ^= 0x10;
        FL_CHECK(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err,
                                    sizeof(err)) != FL_OK);
        FL_CHECK(s == NULL && err[0]);
    }
    full[1] = 'X';
    FL_CHECK(spit(bad, full, flen));
    full[1] = 'F';
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "not a fixlua journal"));
    full[20] ^= 1;  // creation time, under the header CRC
    FL_CHECK(spit(bad, full, flen));
    full[20] ^= 1;
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "header checksum"));
    /* A well-formed header of a future version: a clear message, not "corrupt". */
    full[8] = 3;
    uint32_t crc = fl_crc32c(0, full, 28);
    for (int i = 0; i < 4; i++)
        full[28 + i] = (unsigned char)(crc >> (8 * i));
    FL_CHECK(spit(bad, full, flen));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_EFORMAT);
    FL_CHECK(strstr(err, "unsupported journal format version 3"));
    FL_CHECK_INT(file_size(bad), (long long)flen);
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

FL_TEST(reset_archives_the_journal_and_starts_a_new_one_at_one_one)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL, *arch = NULL;
    struct fl_store_iter *it = NULL;
    char err[256], p[512];
    const struct want a[] = {{1, "day one"}, {2, "day one again"}};
    const struct want c[] = {{1, "day two"}};
    uint64_t seq;
    const char *d;
    size_t len;

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 5, 0, a, 2), FL_OK);
    FL_CHECK_INT(fl_store_iter_open(s, 1, 0, &it), FL_OK);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK_INT(fl_store_reset(s, T0 + DAY), FL_OK);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_ENOENT);  // the old journal is gone
    fl_store_iter_close(it);
    it = NULL;
    FL_CHECK_INT(fl_store_next_sender(s), 1);
    FL_CHECK_INT(fl_store_next_target(s), 1);
    FL_CHECK(fl_store_creation_time(s) == T0 + DAY);
    FL_CHECK(iter_matches(s, 1, 0, NULL, 0));
    FL_CHECK_INT(file_size(jpath(dir, "sess", p, sizeof(p))), MIB);   // reserved and mapped
    FL_CHECK_INT(commit_msgs(s, 2, 0, c, 1), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, c, 1));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), 32 + rec_size(c, 1));
    /* The archive is named after the old creation time, ends at its last record and is itself a
     * readable journal. */
    FL_CHECK_INT(count_files_with_prefix(dir, "sess." T0_STAMP ".1.journal"), 1);
    FL_CHECK_INT(count_files_with_prefix(dir, "sess.journal.new"), 0);
    snprintf(p, sizeof(p), "%s/sess." T0_STAMP ".1.journal", dir);
    FL_CHECK_INT(file_size(p), 32 + rec_size(a, 2));
    FL_CHECK_INT(fl_store_file_open(dir, "sess." T0_STAMP ".1", FL_STORE_SYNC_NONE, 0, &arch,
                                    err, sizeof(err)), FL_OK);
    FL_CHECK(fl_store_creation_time(arch) == T0);
    FL_CHECK_INT(fl_store_next_target(arch), 5);
    FL_CHECK_INT(fl_store_next_sender(arch), 3);
    FL_CHECK(iter_matches(arch, 1, 0, a, 2));
    /* The new journal survives a reopen with its own creation time. */
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0 + 2 * DAY, &s, err,
                                    sizeof(err)), FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(fl_store_creation_time(s) == T0 + DAY);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK(iter_matches(s, 1, 0, c, 1));
end:
    fl_store_iter_close(it);
    fl_store_close(s);
    fl_store_close(arch);
    remove_tmpdir(dir);
}

FL_TEST(two_resets_in_the_same_second_keep_both_archives)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL, *arch = NULL;
    char err[256];
    const struct want a[] = {{1, "first"}};
    const struct want b[] = {{1, "second"}};

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, a, 1), FL_OK);
    FL_CHECK_INT(fl_store_reset(s, T0 + 1000), FL_OK);     // same second as the creation
    FL_CHECK_INT(commit_msgs(s, 0, 0, b, 1), FL_OK);
    FL_CHECK_INT(fl_store_reset(s, T0 + 2000), FL_OK);
    FL_CHECK_INT(fl_store_reset(s, T0 + 3000), FL_OK);
    FL_CHECK_INT(count_files_with_prefix(dir, "sess." T0_STAMP "."), 3);
    FL_CHECK_INT(fl_store_file_open(dir, "sess." T0_STAMP ".1", FL_STORE_SYNC_NONE, 0, &arch,
                                    err, sizeof(err)), FL_OK);
    FL_CHECK(iter_matches(arch, 1, 0, a, 1));
    fl_store_close(arch);
    arch = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess." T0_STAMP ".2", FL_STORE_SYNC_NONE, 0, &arch,
                                    err, sizeof(err)), FL_OK);
    FL_CHECK(iter_matches(arch, 1, 0, b, 1));
    FL_CHECK(fl_store_creation_time(arch) == T0 + 1000);
    fl_store_close(arch);
    arch = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess." T0_STAMP ".3", FL_STORE_SYNC_NONE, 0, &arch,
                                    err, sizeof(err)), FL_OK);
    FL_CHECK(iter_matches(arch, 1, 0, NULL, 0));
end:
    fl_store_close(s);
    fl_store_close(arch);
    remove_tmpdir(dir);
}

/* On the pwrite() path (a file system without posix_fallocate()), RLIMIT_FSIZE makes the kernel
 * refuse the write after a partial one (EFBIG), which is the short-write-then-error path of a
 * full disk. */
FL_TEST(failed_pwrite_is_not_committed_and_the_store_keeps_working)
{
    const struct fl_store_file_opts no_map = {.no_map = true};
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    struct rlimit old, lim;
    struct sigaction ign, oldsa;
    bool limited = false, sa_set = false;
    char err[256], p[512], big[2000];
    const struct want a[] = {{1, "fits"}};
    const struct want c[] = {{2, "fits again"}};
    struct fl_store_msg m = {2, big, sizeof(big)};
    struct fl_store_batch b = {9, 0, &m, 1};
    long long size;

    FL_CHECK(dir);
    memset(big, 'x', sizeof(big));
    jpath(dir, "sess", p, sizeof(p));
    FL_CHECK_INT(fl_store_file_open_opts(dir, "sess", FL_STORE_SYNC_NONE, T0, &no_map, &s, err,
                                         sizeof(err)), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 1), FL_OK);
    size = file_size(p);
    FL_CHECK_INT(size, 32 + rec_size(a, 1));        // no room reserved on this path
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    FL_CHECK(sigaction(SIGXFSZ, &ign, &oldsa) == 0);
    sa_set = true;
    FL_CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 100;
    FL_CHECK(old.rlim_cur == RLIM_INFINITY || old.rlim_cur > lim.rlim_cur);
    FL_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    limited = true;
    FL_CHECK_INT(fl_store_commit(s, &b), FL_EIO);
    FL_CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    limited = false;
    FL_CHECK(strstr(s->last_error, "not committed"));
    FL_CHECK_INT(file_size(p), size);               // the partial record was cut off again
    FL_CHECK_INT(fl_store_next_sender(s), 2);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK(iter_matches(s, 1, 0, a, 1));          // seq 2 is not visible
    FL_CHECK_INT(commit_msgs(s, 3, 0, c, 1), FL_OK);
    FL_CHECK_INT(file_size(p), size + rec_size(c, 1));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(fl_store_next_target(s), 3);
    FL_CHECK(iter_matches(s, 2, 0, c, 1));
end:
    if (limited)
        (void)setrlimit(RLIMIT_FSIZE, &old);
    if (sa_set)
        (void)sigaction(SIGXFSZ, &oldsa, NULL);
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(sync_every_and_batch_with_flush_commit_durably_and_reopen)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    const struct want a[] = {{1, "every"}};
    const struct want b[] = {{2, "batch"}, {3, "batch3"}};
    const struct want all[] = {{1, "every"}, {2, "batch"}, {3, "batch3"}};

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 1), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 3, 0, b, 2), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);     // nothing new: no-op
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 3);
    FL_CHECK(iter_matches(s, 1, 0, all, 3));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* A power loss writes a journal's unsynced pages back in any order, so past the last sync a
 * zeroed or stale stretch can sit before records that did reach the disk. Recovery keeps every
 * synced batch, cuts the tail from the first bad record past the synced end (later records
 * with it: none of them was durable) and says so; damage below the synced end stays corrupt. */
static void power_loss_case(bool no_map)
{
    const struct fl_store_file_opts opts = {.no_map = no_map};
    char *dir = make_tmpdir();
    struct fl_store *s = NULL, *r = NULL;
    unsigned char *img = NULL;
    size_t ilen = 0;
    char live[512], lost[512], err[256], at[64];
    long long sizes[FX_BATCHES + 1];

    FL_CHECK(dir);
    sizes[0] = 32;
    sizes[1] = sizes[0] + rec_size(b1, 2);
    sizes[2] = sizes[1] + rec_size(b2, 1);
    sizes[3] = sizes[2] + rec_size(NULL, 0);
    sizes[4] = sizes[3] + rec_size(b4, 3);
    sizes[5] = sizes[4] + rec_size(b5, 1);
    FL_CHECK_INT(fl_store_file_open_opts(dir, "live", FL_STORE_SYNC_BATCH, T0, &opts, &s, err,
                                         sizeof(err)), FL_OK);
    jpath(dir, "live", live, sizeof(live));
    jpath(dir, "lost", lost, sizeof(lost));
    FL_CHECK_INT(commit_msgs(s, 2, 0, b1, 2), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 3, 0, b2, 1), FL_OK);
    img = slurp(live, &ilen);
    FL_CHECK(img && header_version(img) == 2 && header_synced(img) == 32);
    free(img);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 4, 0, NULL, 0), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 5, 0, b4, 3), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 6, 10, b5, 1), FL_OK);
    /* What the disk may hold after a power loss now: the file as the page cache has it (the
     * reserved room after the records), then stretches of it lost. */
    img = slurp(live, &ilen);
    FL_CHECK(img && ilen >= (size_t)sizes[5] && header_synced(img) == (unsigned long long)sizes[2]);
    if (no_map) {   // the pwrite() path has no reserved room: the file system's zeros, then
        unsigned char *more = realloc(img, ilen + 8192);
        FL_CHECK(more);
        img = more;
        memset(img + ilen, 0, 8192);
        ilen += 8192;
    }

    /* The first unsynced record never written, the two after it written. */
    memset(img + sizes[2], 0, (size_t)(sizes[3] - sizes[2]));
    FL_CHECK(spit(lost, img, ilen));
    FL_CHECK_INT(fl_store_file_open(dir, "lost", FL_STORE_SYNC_BATCH, T0, &r, err, sizeof(err)),
                 FL_OK);
    snprintf(at, sizeof(at), "unsynced tail from offset %lld ", sizes[2]);
    FL_CHECK(strstr(err, at) && strstr(err, "all zero"));
    FL_CHECK(holds_batches(r, 2));
    /* The session goes on from there, and its next sync moves the mark. */
    FL_CHECK_INT(commit_msgs(r, 4, 0, NULL, 0), FL_OK);
    FL_CHECK_INT(fl_store_flush(r), FL_OK);
    fl_store_close(r);
    r = NULL;
    free(img);
    img = slurp(lost, &ilen);
    FL_CHECK(img && ilen == (size_t)sizes[3] && header_synced(img) == (unsigned long long)sizes[3]);
    free(img);

    /* A later record half written (its middle lost) with the next one whole after it. */
    img = slurp(live, &ilen);
    FL_CHECK(img);
    memset(img + sizes[3] + 20, 0, 8);
    FL_CHECK(spit(lost, img, ilen));
    FL_CHECK_INT(fl_store_file_open(dir, "lost", FL_STORE_SYNC_NONE, T0, &r, err, sizeof(err)),
                 FL_OK);
    snprintf(at, sizeof(at), "unsynced tail from offset %lld ", sizes[3]);
    FL_CHECK(strstr(err, at) && strstr(err, "checksum fails"));
    FL_CHECK(holds_batches(r, 3));
    fl_store_close(r);
    r = NULL;

    /* Damage below the synced end is no crash's doing: refused, nothing cut. */
    img[sizes[1] + 30] ^= 0x40;
    FL_CHECK(spit(lost, img, ilen));
    FL_CHECK_INT(fl_store_file_open(dir, "lost", FL_STORE_SYNC_NONE, T0, &r, err, sizeof(err)),
                 FL_ECORRUPT);
    snprintf(at, sizeof(at), "at offset %lld ", sizes[1]);
    FL_CHECK(strstr(err, at));
    FL_CHECK_INT(file_size(lost), (long long)ilen);

    /* A BATCH store closed with unsynced commits syncs them, and marks its end. */
    fl_store_close(s);
    s = NULL;
    free(img);
    img = slurp(live, &ilen);
    FL_CHECK(img && ilen == (size_t)sizes[5] && header_synced(img) == (unsigned long long)ilen);

    /* A header whose checksum holds but which is no record's (type 9) past the synced end: cut
     * the same way. */
    set_header(img, 2, (unsigned long long)sizes[2]);
    {
        unsigned char *h = img + sizes[3];
        memset(h, 0, 16);
        h[0] = 4;
        h[4] = 9;
        uint32_t hcrc = fl_crc32c(0, h, 8);
        for (int i = 0; i < 4; i++)
            h[8 + i] = (unsigned char)(hcrc >> (8 * i));
    }
    FL_CHECK(spit(lost, img, ilen));
    FL_CHECK_INT(fl_store_file_open(dir, "lost", FL_STORE_SYNC_NONE, T0, &r, err, sizeof(err)),
                 FL_OK);
    snprintf(at, sizeof(at), "unsynced tail from offset %lld ", sizes[3]);
    FL_CHECK(strstr(err, at) && strstr(err, "not a record's"));
    FL_CHECK(holds_batches(r, 3));
end:
    fl_store_close(s);
    fl_store_close(r);
    free(img);
    remove_tmpdir(dir);
}

FL_TEST(power_loss_keeps_the_synced_batches_and_cuts_the_scrambled_unsynced_tail)
{
    power_loss_case(false);
}

FL_TEST(power_loss_on_the_pwrite_path_keeps_the_synced_batches_and_cuts_the_rest)
{
    power_loss_case(true);
}

/* A journal that ends before its synced end lost writes its disk had acknowledged (or was cut
 * by a copy): opened with a note, and its mark lowered, so that what is written next is judged
 * as unsynced again. A mark inside the header is refused; reset starts the new journal's mark at
 * its header. */
FL_TEST(journal_shorter_than_its_synced_end_lowers_the_mark_and_says_so)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *full = NULL, *img = NULL;
    size_t flen = 0, ilen = 0;
    char path[512], err[256], at[96];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", path, sizeof(path)), &flen);
    FL_CHECK(full && header_synced(full) == (unsigned long long)flen);
    jpath(dir, "short", path, sizeof(path));
    FL_CHECK(spit(path, full, (size_t)sizes[3]));
    FL_CHECK_INT(fl_store_file_open(dir, "short", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    snprintf(at, sizeof(at), "ends at offset %lld, before its synced end %zu", sizes[3], flen);
    FL_CHECK(strstr(err, at));
    FL_CHECK(holds_batches(s, 3));
    img = slurp(path, &ilen);
    FL_CHECK(img && header_synced(img) == (unsigned long long)sizes[3]);
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(path), sizes[3]);
    /* Then unsynced writes past the new mark, scrambled: cut, not refused. */
    free(img);
    img = calloc(1, (size_t)sizes[3] + 4096);
    FL_CHECK(img);
    memcpy(img, full, (size_t)sizes[3]);
    set_header(img, 2, (unsigned long long)sizes[3]);
    img[sizes[3] + 4095] = 7;
    FL_CHECK(spit(path, img, (size_t)sizes[3] + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "short", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(strstr(err, "unsynced tail"));
    FL_CHECK(holds_batches(s, 3));
    /* reset: the new journal's mark is its header; the first flush moves it. */
    FL_CHECK_INT(fl_store_reset(s, T0 + DAY), FL_OK);
    free(img);
    img = slurp(path, &ilen);
    FL_CHECK(img && header_synced(img) == 32);
    FL_CHECK_INT(commit_msgs(s, 2, 0, b1, 2), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    free(img);
    img = slurp(path, &ilen);
    FL_CHECK(img && header_synced(img) == 32 + (unsigned long long)rec_size(b1, 2));
    fl_store_close(s);
    s = NULL;
    /* A mark inside the header is no journal's. */
    set_header(full, 2, 31);
    FL_CHECK(spit(path, full, flen));
    FL_CHECK_INT(fl_store_file_open(dir, "short", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "inside the header"));
end:
    fl_store_close(s);
    free(full);
    free(img);
    remove_tmpdir(dir);
}

/* A reader (tools) takes no lock and changes nothing: not the journal a writer has open, not a
 * torn one, which it describes instead; and it refuses to write. */
FL_TEST(read_only_open_changes_nothing_and_refuses_writes)
{
    char *dir = make_tmpdir();
    struct fl_store *w = NULL, *r = NULL;
    char path[512], err[256];
    unsigned char *img = NULL;
    size_t ilen = 0;
    long long sizes[FX_BATCHES + 1];

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "live", FL_STORE_SYNC_NONE, T0, &w, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(w, 2, 0, b1, 2), FL_OK);
    jpath(dir, "live", path, sizeof(path));
    FL_CHECK_INT(fl_store_file_open_read(path, &r, err, sizeof(err)), FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(iter_matches(r, 1, 0, b1, 2));
    FL_CHECK_INT(fl_store_next_target(r), 2);
    FL_CHECK_INT(commit_msgs(r, 3, 0, b2, 1), FL_ESTATE);
    FL_CHECK_INT(fl_store_flush(r), FL_ESTATE);
    FL_CHECK_INT(fl_store_reset(r, T0), FL_ESTATE);
    fl_store_close(r);
    r = NULL;
    FL_CHECK_INT(file_size(path), MIB);     // the writer's room: not cut under its mapping
    FL_CHECK_INT(commit_msgs(w, 3, 0, b2, 1), FL_OK);
    fl_store_close(w);
    w = NULL;

    FL_CHECK(make_fixture(dir, sizes));
    img = slurp(jpath(dir, "src", path, sizeof(path)), &ilen);
    FL_CHECK(img);
    jpath(dir, "torn", path, sizeof(path));
    FL_CHECK(spit(path, img, ilen - 3));
    FL_CHECK_INT(fl_store_file_open_read(path, &r, err, sizeof(err)), FL_OK);
    FL_CHECK(strstr(err, "left as it is") && strstr(err, "below the synced end"));
    FL_CHECK(holds_batches(r, FX_BATCHES - 1));
    fl_store_close(r);
    r = NULL;
    FL_CHECK_INT(file_size(path), (long long)ilen - 3);
    free(img);
    img = slurp(path, &ilen);
    FL_CHECK(img && header_synced(img) == (unsigned long long)sizes[FX_BATCHES]);
    FL_CHECK_INT(fl_store_file_open_read("nojournal.txt", &r, err, sizeof(err)), FL_EINVAL);
    FL_CHECK_INT(fl_store_file_open_read("/nonexistent/x.journal", &r, err, sizeof(err)), FL_EIO);
    FL_CHECK(r == NULL);
end:
    fl_store_close(w);
    fl_store_close(r);
    free(img);
    remove_tmpdir(dir);
}

/* EVERY marks each commit synced as it returns; a version-1 journal (no synced end) is read with
 * every record taken as synced, and written as version 2 at its first sync. */
FL_TEST(sync_every_marks_each_commit_and_version_one_journals_upgrade_at_their_first_sync)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    long long sizes[FX_BATCHES + 1];
    unsigned char *img = NULL, *grown = NULL;
    size_t ilen = 0;
    char path[512], err[256];

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "every", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, b1, 2), FL_OK);
    img = slurp(jpath(dir, "every", path, sizeof(path)), &ilen);
    FL_CHECK(img && header_synced(img) == 32 + (unsigned long long)rec_size(b1, 2));
    fl_store_close(s);
    s = NULL;
    free(img);

    FL_CHECK(make_fixture(dir, sizes));
    img = slurp(jpath(dir, "src", path, sizeof(path)), &ilen);
    FL_CHECK(img && header_synced(img) == (unsigned long long)ilen);
    set_header(img, 1, 0);
    grown = calloc(1, ilen + 4096);
    FL_CHECK(grown);
    memcpy(grown, img, ilen);
    grown[ilen + 4095] = 1;
    jpath(dir, "old", path, sizeof(path));
    /* Zeros then data after the last record of a version-1 journal: corrupt, as it always was. */
    FL_CHECK(spit(path, grown, ilen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "old", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "header checksum mismatch"));
    FL_CHECK(spit(path, img, ilen));
    FL_CHECK_INT(fl_store_file_open(dir, "old", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(holds_batches(s, FX_BATCHES));
    fl_store_close(s);      // nothing committed: the file is left as it was
    s = NULL;
    free(img);
    img = slurp(path, &ilen);
    FL_CHECK(img && header_version(img) == 1 && header_synced(img) == 0);
    FL_CHECK_INT(fl_store_file_open(dir, "old", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 7, 0, NULL, 0), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    free(img);
    img = slurp(path, &ilen);
    FL_CHECK(img && header_version(img) == 2 &&
             header_synced(img) == (unsigned long long)sizes[FX_BATCHES] + rec_size(NULL, 0));
end:
    fl_store_close(s);
    free(img);
    free(grown);
    remove_tmpdir(dir);
}

/* The size the mapping has once a journal's records end at `end`: steps double the size, by
 * min at least and max at most (the rule of fl_store_file.c, restated). */
static long long room_for(long long end, long long min, long long max)
{
    long long t = 0;

    while (t < end)
        t += t < min ? min : t > max ? max : t;
    return t;
}

/* While open, the file is the reserved room; a clean close cuts it after the last record, and
 * a reopen of that finds nothing to repair and appends where it ended. */
FL_TEST(clean_close_truncates_after_the_last_record_and_reopen_appends_there)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256], p[512];
    const struct want a[] = {{1, "one"}, {2, "two"}};
    const struct want b[] = {{3, "three"}};
    const struct want all[] = {{1, "one"}, {2, "two"}, {3, "three"}};

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 2), FL_OK);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    FL_CHECK_INT(file_size(p), MIB);
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), 32 + rec_size(a, 2));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(file_size(p), MIB);                // reserved again at open
    FL_CHECK_INT(commit_msgs(s, 3, 0, b, 1), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, all, 3));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), 32 + rec_size(a, 2) + rec_size(b, 1));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 3);
    FL_CHECK(iter_matches(s, 1, 0, all, 3));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* A writer that dies without closing (here: _exit) leaves its records followed by the zeros of
 * the reserved room. That is no damage: the reopen is silent, holds every batch, and appends. */
FL_TEST(writer_that_dies_without_closing_leaves_a_zero_tail_that_reopens_silently)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256], p[512], m[64];
    const uint64_t n = 500;
    long long end = 32;
    int status = -1;
    pid_t pid;

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    fflush(NULL);
    pid = fork();
    FL_CHECK(pid != -1);
    if (pid == 0) {
        if (fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)))
            _exit(1);
        for (uint64_t q = 1; q <= n; q++) {
            const struct want w[] = {{q, m}};
            snprintf(m, sizeof(m), "message %llu", (unsigned long long)q);
            if (commit_msgs(s, q + 1, 0, w, 1) != FL_OK)
                _exit(2);
        }
        free(dir);
        _exit(0);   // no close: as if killed
    }
    FL_CHECK(waitpid(pid, &status, 0) == pid);
    FL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FL_CHECK_INT(file_size(p), MIB);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(fl_store_next_target(s), n + 1);
    FL_CHECK_INT(fl_store_next_sender(s), n + 1);
    for (uint64_t q = 1; q <= n; q++) {
        const struct want w[] = {{q, m}};
        snprintf(m, sizeof(m), "message %llu", (unsigned long long)q);
        FL_CHECK(iter_matches(s, q, q, w, 1));
        end += rec_size(w, 1);
    }
    FL_CHECK_INT(file_size(p), MIB);                // the room was kept, not reserved again
    {
        const struct want w[] = {{n + 1, "after the crash"}};
        FL_CHECK_INT(commit_msgs(s, n + 2, 0, w, 1), FL_OK);
        end += rec_size(w, 1);
    }
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), end);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(fl_store_next_target(s), n + 2);
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* Small chunks (one to four pages) make the mapping grow many times: doubling first, then by
 * the largest step, and by as much as one record larger than any chunk needs. Every record
 * committed through each mapping reads back, live and after a reopen. */
FL_TEST(mapping_grows_across_chunks_and_for_a_record_larger_than_a_chunk)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    struct fl_store_iter *it = NULL;
    const struct fl_store_file_opts small = {.chunk_min = 4096, .chunk_max = 16384};
    static char big[100000], msg[400];
    char err[256], p[512];
    const uint64_t n = 300;
    long long end = 32;
    uint64_t seq;
    const char *d;
    size_t len;

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + (i >> 11));
    FL_CHECK_INT(fl_store_file_open_opts(dir, "sess", FL_STORE_SYNC_NONE, T0, &small, &s, err,
                                         sizeof(err)), FL_OK);
    FL_CHECK_INT(file_size(p), 4096);
    for (uint64_t q = 1; q <= n + 1; q++) {
        struct fl_store_msg m = {q, msg, 100 + (size_t)(q * 13 % 300)};
        if (q == n + 1) {
            m.data = big;       // more than 6 of the largest steps
            m.len = sizeof(big);
        } else {
            memset(msg, (int)('a' + q % 26), m.len);
        }
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        FL_CHECK_INT(fl_store_commit(s, &b), FL_OK);
        end += 16 + 20 + 12 + (long long)m.len;
        FL_CHECK_INT(file_size(p), room_for(end, 4096, 16384));
    }
    for (int round = 0; round < 2; round++) {
        FL_CHECK_INT(fl_store_iter_open(s, 1, 0, &it), FL_OK);
        for (uint64_t q = 1; q <= n + 1; q++) {
            FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
            FL_CHECK_INT(seq, q);
            if (q == n + 1) {
                FL_CHECK(len == sizeof(big) && memcmp(d, big, len) == 0);
            } else {
                FL_CHECK_INT(len, 100 + q * 13 % 300);
                for (size_t i = 0; i < len; i++)
                    FL_CHECK(d[i] == (char)('a' + q % 26));
            }
        }
        FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_ENOENT);
        fl_store_iter_close(it);
        it = NULL;
        fl_store_close(s);
        s = NULL;
        FL_CHECK_INT(file_size(p), end);
        FL_CHECK_INT(fl_store_file_open_opts(dir, "sess", FL_STORE_SYNC_NONE, T0, &small, &s,
                                             err, sizeof(err)), FL_OK);
        FL_CHECK_STRN(err, strlen(err), "");
        FL_CHECK_INT(file_size(p), room_for(end + 1, 4096, 16384));
    }
end:
    fl_store_iter_close(it);
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* The same with the default chunks: crossing 1 MiB doubles the room to 2 MiB, and a 3 MiB
 * record then takes it to 8 MiB in one reservation. */
FL_TEST(default_chunks_double_past_one_mib_and_fit_a_multi_mib_record)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char *huge = NULL, msg[250], err[256], p[512];
    const size_t huge_len = 3 * 1024 * 1024;
    long long end = 32;
    uint64_t q;
    struct fl_store_iter *it = NULL;
    uint64_t seq;
    const char *d;
    size_t len;

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    huge = malloc(huge_len);
    FL_CHECK(huge);
    for (size_t i = 0; i < huge_len; i++)
        huge[i] = (char)(i ^ (i >> 13));
    memset(msg, 'm', sizeof(msg));
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    for (q = 1; end <= MIB; q++) {
        struct fl_store_msg m = {q, msg, sizeof(msg)};
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        FL_CHECK_INT(fl_store_commit(s, &b), FL_OK);
        end += 16 + 20 + 12 + (long long)sizeof(msg);
    }
    FL_CHECK_INT(file_size(p), 2 * MIB);
    {
        struct fl_store_msg m = {q, huge, huge_len};
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        FL_CHECK_INT(fl_store_commit(s, &b), FL_OK);
        end += 16 + 20 + 12 + (long long)huge_len;
    }
    FL_CHECK_INT(file_size(p), 8 * MIB);
    FL_CHECK_INT(fl_store_iter_open(s, q - 1, 0, &it), FL_OK);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK(seq == q - 1 && len == sizeof(msg) && memcmp(d, msg, len) == 0);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK(seq == q && len == huge_len && memcmp(d, huge, len) == 0);
    fl_store_iter_close(it);
    it = NULL;
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(file_size(p), end);
end:
    fl_store_iter_close(it);
    fl_store_close(s);
    free(huge);
    remove_tmpdir(dir);
}

/* The checks of the child of failed_reservation_...; returns 0 or the number of the failed one. */
static int reservation_child(const char *dir)
{
    struct fl_store *s = NULL;
    struct sigaction ign;
    struct rlimit lim;
    char err[256], p[512];
    const struct want a[] = {{1, "fits"}};
    const struct want c[] = {{2, "fits in the room that is left"}};
    const size_t big_len = 3 * MIB / 2;
    char *big = malloc(big_len);
    struct fl_store_msg m = {2, big, big_len};
    struct fl_store_batch b = {9, 0, &m, 1};

    jpath(dir, "sess", p, sizeof(p));
    if (!big)
        return 1;
    memset(big, 'x', big_len);
    if (fl_store_file_open(dir, "sess", FL_STORE_SYNC_EVERY, T0, &s, err, sizeof(err)) != FL_OK)
        return 2;
    if (commit_msgs(s, 2, 0, a, 1) != FL_OK || file_size(p) != MIB)
        return 3;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    lim.rlim_cur = lim.rlim_max = (rlim_t)MIB;  // the room reserved so far, not a byte more
    if (sigaction(SIGXFSZ, &ign, NULL) != 0 || setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 4;
    if (fl_store_commit(s, &b) != FL_EIO)
        return 5;
    if (!strstr(s->last_error, "reserving") || !strstr(s->last_error, "not committed")) {
        fprintf(stderr, "  last_error: %s\n", s->last_error);
        return 6;
    }
    if (fl_store_next_sender(s) != 2 || fl_store_next_target(s) != 2 ||
        !iter_matches(s, 1, 0, a, 1))
        return 7;
    if (commit_msgs(s, 3, 0, c, 1) != FL_OK)    // still usable: it fits in the mapped room
        return 8;
    if (file_size(p) != MIB)
        return 9;
    fl_store_close(s);
    free(big);
    return file_size(p) == 32 + rec_size(a, 1) + rec_size(c, 1) ? 0 : 10;
}

/* RLIMIT_FSIZE (in a child, with SIGXFSZ ignored) makes posix_fallocate() fail with EFBIG, as a
 * full disk would with ENOSPC: the commit that needs more room fails cleanly with FL_EIO and
 * writes nothing, and a smaller one that fits in the room already reserved still succeeds. */
FL_TEST(failed_reservation_is_not_committed_and_smaller_commits_still_fit)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    const struct want ac[] = {{1, "fits"}, {2, "fits in the room that is left"}};
    int status = -1;
    pid_t pid;

    FL_CHECK(dir);
    fflush(NULL);
    pid = fork();
    FL_CHECK(pid != -1);
    if (pid == 0) {
        int code = reservation_child(dir);
        free(dir);      // the parent's copy, so that a leak checker in the child has nothing to say
        _exit(code);
    }
    FL_CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  child status 0x%x\n", status);
    FL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(fl_store_next_target(s), 3);
    FL_CHECK(iter_matches(s, 1, 0, ac, 2));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* The checks of the child of mmap_failure_...; returns 0 or the number of the failed one. */
static int remap_child(const char *dir, long long *end)
{
    struct fl_store *s = NULL;
    struct rlimit lim;
    char err[256], p[512], msg[200];
    unsigned long vm_pages = 0;
    FILE *f;
    uint64_t q;

    jpath(dir, "sess", p, sizeof(p));
    memset(msg, 'r', sizeof(msg));
    if (fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)) != FL_OK)
        return 1;
    /* Fill the first chunk until the next record does not fit. */
    for (q = 1; *end + 48 + (long long)sizeof(msg) <= MIB; q++) {
        struct fl_store_msg m = {q, msg, sizeof(msg)};
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        if (fl_store_commit(s, &b) != FL_OK)
            return 2;
        *end += 48 + (long long)sizeof(msg);
    }
    /* Address space for what is mapped now and a little heap, not for a 2 MiB mapping. */
    f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu", &vm_pages) != 1)
        return 3;
    fclose(f);
    lim.rlim_cur = lim.rlim_max = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + 512 * 1024;
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        return 4;
    /* The store cannot map its next 2 MiB either, so a commit that succeeds used pwrite(). */
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || mmap(NULL, 2 * MIB, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED)
        return 9;
    close(fd);
    for (int i = 0; i < 3; i++, q++) {      // the first one does not fit any more
        struct fl_store_msg m = {q, msg, sizeof(msg)};
        struct fl_store_batch b = {q + 1, 0, &m, 1};
        if (fl_store_commit(s, &b) != FL_OK) {
            fprintf(stderr, "  commit after the limit: %s\n", s->last_error);
            return 5;
        }
        *end += 48 + (long long)sizeof(msg);
        if (file_size(p) != 2 * MIB)        // reserved, then written with pwrite()
            return 6;
    }
    if (fl_store_flush(s) != FL_OK)
        return 7;
    fl_store_close(s);
    return file_size(p) == *end ? 0 : 8;
}

/* When mmap() fails on growth (here: RLIMIT_AS in a child), the store falls back to the
 * pwrite() path for good and the commit that needed the room succeeds all the same. */
FL_TEST(mmap_failure_on_growth_falls_back_to_pwrite_and_commits)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    long long end = 32;
    int status = -1;
    pid_t pid;

    FL_CHECK(dir);
#if defined(__SANITIZE_ADDRESS__)
    goto end;       // the shadow memory makes an address-space limit meaningless
#endif
    fflush(NULL);
    pid = fork();
    FL_CHECK(pid != -1);
    if (pid == 0) {
        int code = remap_child(dir, &end);
        free(dir);
        _exit(code);
    }
    FL_CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  child status 0x%x\n", status);
    FL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(fl_store_next_sender(s) > 4000);
    FL_CHECK_INT(fl_store_next_sender(s), fl_store_next_target(s));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

/* The pwrite() path, which a file system without posix_fallocate() gets: no room is reserved
 * (the file always ends at its last record), reset makes a plain new journal, and what it
 * wrote reads back through a mapped store and the other way round. */
FL_TEST(pwrite_path_keeps_the_file_at_its_last_record_and_shares_the_format)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    const struct fl_store_file_opts no_map = {.no_map = true};
    char err[256], p[512];
    const struct want a[] = {{1, "written"}, {2, "by pwrite"}};
    const struct want b[] = {{3, "through the mapping"}};
    const struct want c[] = {{4, "by pwrite again"}};
    const struct want all[] = {{1, "written"}, {2, "by pwrite"}, {3, "through the mapping"},
                               {4, "by pwrite again"}};
    long long end = 32;

    FL_CHECK(dir);
    jpath(dir, "sess", p, sizeof(p));
    FL_CHECK_INT(fl_store_file_open_opts(dir, "sess", FL_STORE_SYNC_EVERY, T0, &no_map, &s, err,
                                         sizeof(err)), FL_OK);
    FL_CHECK_INT(file_size(p), end);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 2), FL_OK);
    end += rec_size(a, 2);
    FL_CHECK_INT(file_size(p), end);
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_BATCH, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 3, 0, b, 1), FL_OK);
    end += rec_size(b, 1);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    FL_CHECK_INT(file_size(p), MIB);
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open_opts(dir, "sess", FL_STORE_SYNC_BATCH, T0, &no_map, &s, err,
                                         sizeof(err)), FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK_INT(commit_msgs(s, 4, 0, c, 1), FL_OK);
    end += rec_size(c, 1);
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
    FL_CHECK_INT(file_size(p), end);
    FL_CHECK(iter_matches(s, 1, 0, all, 4));
    FL_CHECK_INT(fl_store_reset(s, T0 + DAY), FL_OK);
    FL_CHECK_INT(file_size(p), 32);                 // the new journal is not mapped either
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 1), FL_OK);
    FL_CHECK_INT(file_size(p), 32 + rec_size(a, 1));
    fl_store_close(s);
    s = NULL;
    FL_CHECK_INT(fl_store_file_open(dir, "sess." T0_STAMP ".1", FL_STORE_SYNC_NONE, T0, &s, err,
                                    sizeof(err)), FL_OK);
    FL_CHECK_STRN(err, strlen(err), "");
    FL_CHECK(iter_matches(s, 1, 0, all, 4));
end:
    fl_store_close(s);
    remove_tmpdir(dir);
}

FL_TEST(journal_open_in_one_process_is_refused_to_another_and_its_close_there_changes_nothing)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256], p[512];
    const struct want a[] = {{1, "before the child"}, {2, "after the child"}};
    unsigned char *img = NULL;
    size_t ilen = 0;
    int status = -1;
    pid_t pid;

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    /* Committed before the fork: a close that counted as the owner's would sync and mark. */
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 1), FL_OK);
    pid = fork();
    FL_CHECK(pid != -1);
    if (pid == 0) {
        struct fl_store *other = NULL;
        int rc = fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &other, err,
                                    sizeof(err));
        int code = rc == FL_EIO && strstr(err, "in use by another process") ? 0 : 1;
        /* Free the parent's copies too, so a leak checker in the child has nothing to say.
         * Closing the store here does not drop the parent's lock: POSIX locks are not
         * inherited, so the child holds none. */
        fl_store_close(other);
        fl_store_close(s);
        free(dir);
        _exit(code);
    }
    FL_CHECK(waitpid(pid, &status, 0) == pid);
    FL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The child's close left the file alone: truncated under our mapping, this would SIGBUS. */
    FL_CHECK_INT(file_size(jpath(dir, "sess", p, sizeof(p))), MIB);
    img = slurp(p, &ilen);
    FL_CHECK(img && header_synced(img) == 32);  // and did not mark what it did not sync
    FL_CHECK_INT(commit_msgs(s, 3, 0, a + 1, 1), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, a, 2));
end:
    fl_store_close(s);
    free(img);
    remove_tmpdir(dir);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(crc32c_matches_known_vector_bitwise_reference_and_chains);
    FL_RUN(new_journal_starts_at_one_one_and_reopen_keeps_its_creation_time);
    FL_RUN(semantics_hold_live_and_after_reopen);
    FL_RUN(many_messages_of_every_size_reopen_byte_exact_through_the_read_window);
    FL_RUN(iterator_keeps_its_place_and_its_bytes_across_commits);
    FL_RUN(huge_seq_jumps_and_lower_seqs_index_without_a_slot_per_skipped_number);
    FL_RUN(bad_batch_is_refused_and_writes_nothing);
    FL_RUN(open_refuses_bad_arguments);
    FL_RUN(cut_at_every_byte_recovers_exactly_the_complete_batches);
    FL_RUN(header_cut_short_is_a_new_journal_only_if_it_is_a_prefix_of_the_magic);
    FL_RUN(flipped_byte_in_any_earlier_record_is_corrupt_with_its_offset);
    FL_RUN(flipped_payload_byte_in_the_last_record_is_cut_as_torn);
    FL_RUN(zero_tail_is_the_normal_end_a_bad_record_before_it_is_torn_zeros_then_data_corrupt);
    FL_RUN(torn_record_inside_the_zero_tail_is_cut_at_every_byte);
    FL_RUN(bad_magic_bad_header_crc_and_unknown_version_are_refused);
    FL_RUN(reset_archives_the_journal_and_starts_a_new_one_at_one_one);
    FL_RUN(two_resets_in_the_same_second_keep_both_archives);
    FL_RUN(failed_pwrite_is_not_committed_and_the_store_keeps_working);
    FL_RUN(sync_every_and_batch_with_flush_commit_durably_and_reopen);
    FL_RUN(power_loss_keeps_the_synced_batches_and_cuts_the_scrambled_unsynced_tail);
    FL_RUN(power_loss_on_the_pwrite_path_keeps_the_synced_batches_and_cuts_the_rest);
    FL_RUN(journal_shorter_than_its_synced_end_lowers_the_mark_and_says_so);
    FL_RUN(read_only_open_changes_nothing_and_refuses_writes);
    FL_RUN(sync_every_marks_each_commit_and_version_one_journals_upgrade_at_their_first_sync);
    FL_RUN(journal_open_in_one_process_is_refused_to_another_and_its_close_there_changes_nothing);
    FL_RUN(clean_close_truncates_after_the_last_record_and_reopen_appends_there);
    FL_RUN(writer_that_dies_without_closing_leaves_a_zero_tail_that_reopens_silently);
    FL_RUN(mapping_grows_across_chunks_and_for_a_record_larger_than_a_chunk);
    FL_RUN(default_chunks_double_past_one_mib_and_fit_a_multi_mib_record);
    FL_RUN(failed_reservation_is_not_committed_and_smaller_commits_still_fit);
    FL_RUN(mmap_failure_on_growth_falls_back_to_pwrite_and_commits);
    FL_RUN(pwrite_path_keeps_the_file_at_its_last_record_and_shares_the_format);
    return FL_TEST_SUMMARY();
}
