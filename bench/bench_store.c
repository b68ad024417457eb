/* fixlua — benchmark of the message stores: ns per commit and ns per message streamed.
 *
 * A commit is what a session does per inbound message that triggers one reply: one ~200-byte
 * outbound message plus the next_target advance, in one batch. Measured for the memory store,
 * the file journal with each sync policy (BATCH flushes every 64 commits, i.e. group commit),
 * and iteration (a resend) over 100k stored messages. For context: QuickFIX's FileStore takes
 * about 9.6 us per message set. Figures depend on the disk and its fdatasync latency; EVERY is
 * dominated by it. Uses a mkdtemp() directory under /tmp, removed at the end. Depends on
 * fl_store.h and POSIX. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fl_store.h"

#define MSG_LEN 200
#define ITER_MSGS 100000

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A plausible 200-byte ExecutionReport-ish frame; the bytes themselves do not matter. */
static void fill_msg(char *m)
{
    static const char body[] = "8=FIX.4.4\0019=178\00135=8\00134=1\00149=EXEC\00156=CLIENT\001"
                               "52=20240102-03:04:05.678\00137=O1\00111=C1\00117=E1\001150=0\001"
                               "39=0\00155=EURUSD\00154=1\00138=1000000\00144=1.08765\001";
    size_t n = sizeof(body) - 1 < MSG_LEN ? sizeof(body) - 1 : MSG_LEN;

    memset(m, 'x', MSG_LEN);
    memcpy(m, body, n);
    memcpy(m + MSG_LEN - 7, "10=123\001", 7);
}

/* Commits n batches of one message each; flush_every 0 means never flush. Returns ns/commit or
 * a negative value on failure. */
static double run_commits(struct fl_store *s, uint64_t n, unsigned flush_every)
{
    char m[MSG_LEN];
    uint64_t seq0 = fl_store_next_sender(s), t0 = fl_store_next_target(s);
    int64_t start;

    fill_msg(m);
    start = mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct fl_store_msg msg = {seq0 + i, m, MSG_LEN};
        struct fl_store_batch b = {t0 + i + 1, 0, &msg, 1};
        if (fl_store_commit(s, &b) != FL_OK) {
            fprintf(stderr, "commit: %s\n", s->last_error);
            return -1;
        }
        if (flush_every && (i + 1) % flush_every == 0 && fl_store_flush(s) != FL_OK) {
            fprintf(stderr, "flush: %s\n", s->last_error);
            return -1;
        }
    }
    if (fl_store_flush(s) != FL_OK)
        return -1;
    return (double)(mono_ns() - start) / (double)n;
}

/* Streams [1, ITER_MSGS] and returns ns per message, or a negative value on failure. */
static double run_iterate(struct fl_store *s)
{
    struct fl_store_iter *it = NULL;
    uint64_t seq, count = 0, sum = 0;
    const char *d;
    size_t len;
    int64_t start = mono_ns();
    int rc;

    if (fl_store_iter_open(s, 1, ITER_MSGS, &it) != FL_OK)
        return -1;
    while ((rc = fl_store_iter_next(it, &seq, &d, &len)) == FL_OK) {
        sum += (unsigned char)d[len - 1];   // touch the bytes, as a sender would
        count++;
    }
    fl_store_iter_close(it);
    if (rc != FL_ENOENT || count != ITER_MSGS || sum == 0)
        return -1;
    return (double)(mono_ns() - start) / (double)count;
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

/* Opens a fresh journal `name` in dir, runs n commits, reports, and keeps the store if keep. */
static int bench_file(const char *dir, const char *name, enum fl_store_sync sync, uint64_t n,
                      unsigned flush_every, const char *label, struct fl_store **keep)
{
    struct fl_store *s = NULL;
    char err[256];
    double ns;

    if (fl_store_file_open(dir, name, sync, 0, &s, err, sizeof(err)) != FL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    ns = run_commits(s, n, flush_every);
    if (ns < 0) {
        fl_store_close(s);
        return 1;
    }
    printf("file journal append (%s): %.0f ns/commit (%llu commits)\n", label, ns,
           (unsigned long long)n);
    if (keep)
        *keep = s;
    else
        fl_store_close(s);
    return 0;
}

int main(void)
{
    char tmpl[] = "/tmp/fl_bench_store.XXXXXX";
    char *dir = mkdtemp(tmpl);
    struct fl_store *mem = NULL, *file = NULL, *again = NULL;
    char err[256];
    int bad = 0;
    double ns;
    int64_t t;

    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    printf("store bench: one %d-byte message + next_target per commit, journal in %s\n", MSG_LEN,
           dir);
    if (fl_store_mem_new(0, &mem) != FL_OK)
        return 1;
    ns = run_commits(mem, 500000, 0);
    bad |= ns < 0;
    printf("memory store commit: %.0f ns/commit (500000 commits)\n", ns);

    bad |= bench_file(dir, "none", FL_STORE_SYNC_NONE, 300000, 0, "sync=none", &file);
    bad |= bench_file(dir, "batch", FL_STORE_SYNC_BATCH, 50000, 64, "sync=batch/64", NULL);
    bad |= bench_file(dir, "every", FL_STORE_SYNC_EVERY, 2000, 0, "sync=every", NULL);

    ns = run_iterate(mem);
    bad |= ns < 0;
    printf("memory store iterate: %.0f ns/message (%d messages)\n", ns, ITER_MSGS);
    if (file) {
        ns = run_iterate(file);
        bad |= ns < 0;
        printf("file journal iterate: %.0f ns/message (%d messages, page cache warm)\n", ns,
               ITER_MSGS);
        fl_store_close(file);
    }
    /* Recovery: replaying the 300k-commit journal (~75 MB) on open. */
    t = mono_ns();
    if (fl_store_file_open(dir, "none", FL_STORE_SYNC_NONE, 0, &again, err, sizeof(err)) !=
        FL_OK) {
        fprintf(stderr, "reopen: %s\n", err);
        bad = 1;
    } else {
        printf("file journal open+replay: %.1f ms for %llu messages\n",
               (double)(mono_ns() - t) / 1e6,
               (unsigned long long)fl_store_next_sender(again) - 1);
    }
    printf("reference: QuickFIX FileStore ~9600 ns per message set\n");
    fl_store_close(again);
    fl_store_close(mem);
    remove_tmpdir(dir);
    return bad ? 1 : 0;
}
