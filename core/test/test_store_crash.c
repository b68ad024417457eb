/* fixlua — kill -9 test of the file store: a batch survives a crash whole or not at all.
 *
 * A child process opens one journal and commits batches in a tight loop; batch k sets
 * next_target = k + 1 and stores 1 + k % 3 messages with consecutive seqs whose bytes encode
 * (k, seq), every 32nd batch with one message large enough (256 KiB) that a kill can land inside
 * its write(). The parent SIGKILLs the child after a random short delay (seeded PRNG, seed
 * printed; FL_CRASH_SEED overrides it), reopens the journal and checks: it opens, batches 1..K
 * with K = next_target - 1 are all there byte for byte, nothing of batch K + 1 is (atomicity),
 * next_sender follows the last message, and K never goes back. The next child continues on the
 * same recovered file, so recovery of recovered journals is tested too. Mostly sync NONE (what
 * survives a killed process); some rounds use EVERY and BATCH. Most rounds write through the
 * mapping (a kill lands inside a record being stored there, with the preallocated zeros after
 * it); every third round forces the pwrite() path, so each recovers the other's files. Bounded
 * to ~15 s of wall time. Depends on fl_store.h, fl_store_file_int.h, fl_test.h and POSIX. */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_store.h"
#include "fl_store_file_int.h"
#include "fl_test.h"

#define ROUNDS 30
#define BUDGET_NS 15000000000LL
#define BIG_LEN (256 * 1024)
#define T0 1700000000000000000LL

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t prng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static unsigned nmsgs_of(uint64_t k)
{
    return 1 + (unsigned)(k % 3);
}

/* "abc...zabc..." long enough for any message; filled once by main() before any fork. */
static char alphabet[BIG_LEN + 256];

/* Writes the bytes of message i of batch k, seq `seq`, into buf (BIG_LEN + 128 bytes) and
 * returns its length: "k=K seq=S|" then letters from a (k, seq)-dependent start. */
static size_t make_msg(uint64_t k, uint64_t seq, unsigned i, char *buf)
{
    size_t len = (size_t)snprintf(buf, 64, "k=%llu seq=%llu|", (unsigned long long)k,
                                  (unsigned long long)seq);
    size_t total = len + (size_t)((k * 7 + seq) % 90);

    if (i == 0 && k % 32 == 0)
        total = BIG_LEN + (size_t)(k % 64);
    memcpy(buf + len, alphabet + (k + seq + len) % 26, total - len);
    return total;
}

/* The child: commit forever from wherever the journal stands; only SIGKILL ends it. Exit codes
 * other than death by signal are failures the parent reports. */
static void child_loop(const char *dir, enum fl_store_sync sync, unsigned flush_every,
                       bool no_map)
{
    struct fl_store *s = NULL;
    static char bufs[3][BIG_LEN + 128];
    const struct fl_store_file_opts opts = {.no_map = no_map};
    char err[256];
    uint64_t k, seq;

    if (fl_store_file_open_opts(dir, "crash", sync, T0, &opts, &s, err, sizeof(err)) != FL_OK) {
        fprintf(stderr, "child: open: %s\n", err);
        _exit(10);
    }
    k = fl_store_next_target(s);    // batch k sets next_target k + 1
    seq = fl_store_next_sender(s);
    for (;; k++) {
        struct fl_store_msg m[3];
        struct fl_store_batch b = {k + 1, 0, m, nmsgs_of(k)};
        for (unsigned i = 0; i < b.nmsgs; i++)
            m[i] = (struct fl_store_msg){seq + i, bufs[i], make_msg(k, seq + i, i, bufs[i])};
        if (fl_store_commit(s, &b) != FL_OK) {
            fprintf(stderr, "child: commit %llu: %s\n", (unsigned long long)k, s->last_error);
            _exit(11);
        }
        if (flush_every && k % flush_every == 0 && fl_store_flush(s) != FL_OK)
            _exit(12);
        seq += b.nmsgs;
    }
}

/* Checks the recovered journal against the model; returns K (batches present) or -1. */
static long long verify(struct fl_store *s, long long prev_k)
{
    static char want[BIG_LEN + 128];
    struct fl_store_iter *it = NULL;
    uint64_t k_max = fl_store_next_target(s) - 1, seq = 1, got_seq;
    const char *d;
    size_t len;
    long long result = -1;

    if ((long long)k_max < prev_k) {
        fprintf(stderr, "  lost batches: K went from %lld to %llu\n", prev_k,
                (unsigned long long)k_max);
        return -1;
    }
    if (fl_store_iter_open(s, 1, 0, &it) != FL_OK)
        return -1;
    for (uint64_t k = 1; k <= k_max; k++) {
        for (unsigned i = 0; i < nmsgs_of(k); i++, seq++) {
            size_t wlen = make_msg(k, seq, i, want);
            int rc = fl_store_iter_next(it, &got_seq, &d, &len);
            if (rc != FL_OK || got_seq != seq || len != wlen || memcmp(d, want, wlen) != 0) {
                fprintf(stderr, "  batch %llu seq %llu: rc %d, got seq %llu len %zu (want %zu)\n",
                        (unsigned long long)k, (unsigned long long)seq, rc,
                        (unsigned long long)got_seq, len, wlen);
                goto out;
            }
        }
    }
    /* Atomicity: no message of a batch whose next_target was not recovered. */
    if (fl_store_iter_next(it, &got_seq, &d, &len) != FL_ENOENT) {
        fprintf(stderr, "  message seq %llu past batch %llu: a batch was recovered in part\n",
                (unsigned long long)got_seq, (unsigned long long)k_max);
        goto out;
    }
    if (fl_store_next_sender(s) != seq) {
        fprintf(stderr, "  next_sender %llu, want %llu\n",
                (unsigned long long)fl_store_next_sender(s), (unsigned long long)seq);
        goto out;
    }
    result = (long long)k_max;
out:
    fl_store_iter_close(it);
    return result;
}

static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

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
}

FL_TEST(kill_9_at_random_instants_loses_no_committed_batch_and_splits_none)
{
    char tmpl[] = "/tmp/fl_test_crash.XXXXXX";
    char *dir = mkdtemp(tmpl);
    const char *env = getenv("FL_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eedf1c5u, x = seed ? seed : 1;
    int64_t start = mono_ns();
    long long k = 0;
    int rounds = 0, torn = 0;
    struct fl_store *s = NULL;
    char err[256];

    FL_CHECK(dir);
    for (; rounds < ROUNDS && mono_ns() - start < BUDGET_NS; rounds++) {
        enum fl_store_sync sync = rounds % 7 == 6 ? FL_STORE_SYNC_EVERY
                                  : rounds % 5 == 4 ? FL_STORE_SYNC_BATCH : FL_STORE_SYNC_NONE;
        long delay_us = 1000 + (long)(prng(&x) % 20000);
        struct timespec ts = {0, delay_us * 1000};
        int status = 0;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        FL_CHECK(pid != -1);
        if (pid == 0)
            child_loop(dir, sync, sync == FL_STORE_SYNC_BATCH ? 16 : 0, rounds % 3 == 2);
        nanosleep(&ts, NULL);
        FL_CHECK(kill(pid, SIGKILL) == 0);
        FL_CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fprintf(stderr, "  round %d: child ended by itself, status 0x%x (seed %llu)\n",
                    rounds, status, (unsigned long long)seed);
            FL_CHECK(0);
        }
        FL_CHECK_INT(fl_store_file_open(dir, "crash", FL_STORE_SYNC_NONE, T0, &s, err,
                                        sizeof(err)), FL_OK);
        if (err[0])
            torn++;
        long long nk = verify(s, k);
        if (nk < 0)
            fprintf(stderr, "  round %d failed (seed %llu; note: \"%s\")\n", rounds,
                    (unsigned long long)seed, err);
        FL_CHECK(nk >= 0);
        k = nk;
        fl_store_close(s);
        s = NULL;
    }
    printf("crash: %d rounds, %lld batches recovered, %d torn tails cut, seed %llu, %.1f s\n",
           rounds, k, torn, (unsigned long long)seed, (double)(mono_ns() - start) / 1e9);
    FL_CHECK(rounds >= 5);
    FL_CHECK(k > 0);
end:
    fl_store_close(s);
    if (dir)
        remove_tmpdir(dir);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    for (size_t j = 0; j < sizeof(alphabet); j++)
        alphabet[j] = (char)('a' + j % 26);
    FL_RUN(kill_9_at_random_instants_loses_no_committed_batch_and_splits_none);
    return FL_TEST_SUMMARY();
}
