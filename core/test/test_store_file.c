/* fixlua — tests of the file store (fl_store_file.c) and of fl_crc32c().
 *
 * Semantics shared with the memory store are checked before and after a reopen, so every one of
 * them is also a test of recovery. Then the journal is damaged on purpose: cut at every byte
 * (a crash mid-write must lose exactly the last batch, never part of it), flipped bytes (must be
 * FL_ECORRUPT with the offset, never a silent reset), zero-filled tails, bad headers. Write
 * failures are provoked with RLIMIT_FSIZE. Each test works in its own mkdtemp() directory under
 * /tmp, removed at the end. Depends on fl_store.h, fl_test.h and POSIX. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_store.h"
#include "fl_test.h"
#include "store_harness.h"

#define T0 1700000000000000000LL    /* 2023-11-14 22:13:20 UTC, in ns */
#define T0_STAMP "20231114-221320"
#define DAY 86400000000000LL

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

/* Writes the fixture as dir/src.journal; sizes[k] is the file size after k batches. */
static int make_fixture(const char *dir, long long sizes[FX_BATCHES + 1])
{
    struct fl_store *s = NULL;
    char p[512], err[256];
    int ok = 0;

    jpath(dir, "src", p, sizeof(p));
    if (fl_store_file_open(dir, "src", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)) != FL_OK)
        return 0;
    sizes[0] = file_size(p);
    if (commit_msgs(s, 2, 0, b1, 2) != FL_OK)
        goto out;
    sizes[1] = file_size(p);
    if (commit_msgs(s, 3, 0, b2, 1) != FL_OK)
        goto out;
    sizes[2] = file_size(p);
    if (commit_msgs(s, 4, 0, NULL, 0) != FL_OK)
        goto out;
    sizes[3] = file_size(p);
    if (commit_msgs(s, 5, 0, b4, 3) != FL_OK)
        goto out;
    sizes[4] = file_size(p);
    if (commit_msgs(s, 6, 10, b5, 1) != FL_OK)
        goto out;
    sizes[5] = file_size(p);
    ok = sizes[0] == 32;
    for (int k = 1; k <= FX_BATCHES; k++)
        ok = ok && sizes[k] > sizes[k - 1];
out:
    fl_store_close(s);
    return ok;
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
    FL_CHECK_INT(file_size(jpath(dir, "sess", p, sizeof(p))), 32);
    FL_CHECK(iter_matches(s, 1, 0, NULL, 0));
    fl_store_close(s);
    s = NULL;
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
        FL_CHECK_INT(file_size(cut), sizes[k]);         // the torn bytes are gone from disk
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
        FL_CHECK_INT(file_size(cut), 32);
        fl_store_close(s);
        s = NULL;
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
    char src[512], bad[512], err[256];

    FL_CHECK(dir);
    FL_CHECK(make_fixture(dir, sizes));
    full = slurp(jpath(dir, "src", src, sizeof(src)), &flen);
    FL_CHECK(full);
    jpath(dir, "bad", bad, sizeof(bad));
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
end:
    fl_store_close(s);
    free(full);
    remove_tmpdir(dir);
}

FL_TEST(zero_filled_tail_is_cut_but_zeros_followed_by_data_are_corrupt)
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
    FL_CHECK(spit(bad, grown, flen + 4096));    // a machine crash extended the file with zeros
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(strstr(err, "torn") && strstr(err, "zero"));
    FL_CHECK(holds_batches(s, FX_BATCHES));
    FL_CHECK_INT(file_size(bad), (long long)flen);
    fl_store_close(s);
    s = NULL;
    /* The last record half written (its end zeroed) and zeros after it: still a torn write. */
    memset(grown + flen - 5, 0, 5);
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK(strstr(err, "torn") && strstr(err, "zero"));
    FL_CHECK(holds_batches(s, FX_BATCHES - 1));
    FL_CHECK_INT(file_size(bad), sizes[FX_BATCHES - 1]);
    fl_store_close(s);
    s = NULL;
    /* But a non-zero byte anywhere after the damage means real data follows: corrupt. */
    grown[flen + 4095] = 1;
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "record checksum mismatch"));
    memcpy(grown, full, flen);
    FL_CHECK(spit(bad, grown, flen + 4096));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_ECORRUPT);
    FL_CHECK(strstr(err, "header checksum mismatch"));
end:
    fl_store_close(s);
    free(full);
    free(grown);
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
    full[8] = 2;
    uint32_t crc = fl_crc32c(0, full, 28);
    for (int i = 0; i < 4; i++)
        full[28 + i] = (unsigned char)(crc >> (8 * i));
    FL_CHECK(spit(bad, full, flen));
    FL_CHECK_INT(fl_store_file_open(dir, "bad", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_EFORMAT);
    FL_CHECK(strstr(err, "unsupported journal format version 2"));
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
    FL_CHECK_INT(file_size(jpath(dir, "sess", p, sizeof(p))), 32);
    FL_CHECK_INT(commit_msgs(s, 2, 0, c, 1), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, c, 1));
    fl_store_close(s);
    s = NULL;
    /* The archive is named after the old creation time and is itself a readable journal. */
    FL_CHECK_INT(count_files_with_prefix(dir, "sess." T0_STAMP ".1.journal"), 1);
    FL_CHECK_INT(count_files_with_prefix(dir, "sess.journal.new"), 0);
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

/* RLIMIT_FSIZE makes the kernel refuse the write after a partial one (EFBIG), which is the
 * short-write-then-error path of a full disk. */
FL_TEST(failed_write_is_not_committed_and_the_store_keeps_working)
{
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
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, a, 1), FL_OK);
    size = file_size(p);
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

FL_TEST(journal_open_in_one_process_is_refused_to_another)
{
    char *dir = make_tmpdir();
    struct fl_store *s = NULL;
    char err[256];
    int status = -1;
    pid_t pid;

    FL_CHECK(dir);
    FL_CHECK_INT(fl_store_file_open(dir, "sess", FL_STORE_SYNC_NONE, T0, &s, err, sizeof(err)),
                 FL_OK);
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
end:
    fl_store_close(s);
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
    FL_RUN(zero_filled_tail_is_cut_but_zeros_followed_by_data_are_corrupt);
    FL_RUN(bad_magic_bad_header_crc_and_unknown_version_are_refused);
    FL_RUN(reset_archives_the_journal_and_starts_a_new_one_at_one_one);
    FL_RUN(two_resets_in_the_same_second_keep_both_archives);
    FL_RUN(failed_write_is_not_committed_and_the_store_keeps_working);
    FL_RUN(sync_every_and_batch_with_flush_commit_durably_and_reopen);
    FL_RUN(journal_open_in_one_process_is_refused_to_another);
    return FL_TEST_SUMMARY();
}
