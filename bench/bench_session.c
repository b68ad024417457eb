/* fixlua — benchmark of the session state machine: messages per second through a logged-on pair.
 *
 * An initiator and an acceptor run in one process with no sockets: the initiator's io->send
 * appends to a buffer that is handed to the acceptor's fl_session_on_bytes every BURST
 * messages. Each message is a ~150-byte NewOrderSingle body sent with fl_session_send (build the
 * header and trailer, commit to the store, hand over), then framed, parsed, checked and
 * delivered by the acceptor (whose deliver callback only counts, and whose store commits the
 * new expected inbound number). The clock is fake (1 us per message), so timers never fire
 * mid-run. Runs: (a) memory stores; (b) file stores with sync=batch and fl_store_flush() on both
 * every 1000 messages. Each is repeated REPS times and the median printed, plus the store's own
 * cost for the two commits a message causes (initiator: message + next_sender; acceptor:
 * next_target only). Usage: session [messages] [mem|file|all|once]; "once" is a single
 * memory-store run with nothing else, for callgrind (compare two counts to cancel the setup).
 * The file journals live in a mkdtemp() directory under /tmp, removed at the end. Depends on
 * fl_session.h, fl_store.h and POSIX. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fl_builder.h"
#include "fl_session.h"
#include "fl_store.h"

#define T0 INT64_C(1795341600000000000)
#define BURST 64
#define FLUSH_EVERY 1000
#define REPS 3

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct endpoint {
    struct fl_session *s;
    struct fl_store *store;
    struct endpoint *peer;
    char *in;          /* bytes sent to this endpoint, not yet read */
    size_t in_len, in_cap;
    uint64_t delivered;
};

static size_t ep_send(void *ctx, const char *p, size_t n)
{
    struct endpoint *to = ((struct endpoint *)ctx)->peer;
    if (to->in_len + n > to->in_cap) {
        to->in_cap = (to->in_len + n) * 2;
        to->in = realloc(to->in, to->in_cap);
        if (!to->in)
            abort();
    }
    memcpy(to->in + to->in_len, p, n);
    to->in_len += n;
    return 0;
}

static void ep_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct endpoint *ep = ctx;
    (void)m;
    if (!is_admin)
        ep->delivered++;
}

static void ep_read(struct endpoint *ep, int64_t now)
{
    size_t used = fl_session_on_bytes(ep->s, ep->in, ep->in_len, now);
    memmove(ep->in, ep->in + used, ep->in_len - used);
    ep->in_len -= used;
}

static int ep_open(struct endpoint *ep, struct endpoint *peer, struct fl_store *store,
                   int initiator)
{
    struct fl_session_config cfg = {
        .role = initiator ? FL_ROLE_INITIATOR : FL_ROLE_ACCEPTOR,
        .begin_string = "FIX.4.4",
        .sender_comp_id = initiator ? "BUYSIDE" : "SELLSIDE",
        .target_comp_id = initiator ? "SELLSIDE" : "BUYSIDE",
        .heartbeat_interval = 30,
    };
    struct fl_session_io io = {.ctx = ep, .send = ep_send, .deliver = ep_deliver};
    char err[128];
    memset(ep, 0, sizeof *ep);
    ep->peer = peer;
    ep->store = store;
    if (fl_session_new(&cfg, store, &io, &ep->s, err, sizeof err) != FL_OK) {
        fprintf(stderr, "session: %s\n", err);
        return -1;
    }
    return 0;
}

static void ep_close(struct endpoint *ep)
{
    fl_session_free(ep->s);
    fl_store_close(ep->store);
    free(ep->in);
}

/* "11=ORD<n>|..." with a realistic order body; returns its length. */
static size_t order_body(char *buf, uint64_t n)
{
    char id[24];
    size_t k = fl_format_int(id, (int64_t)n);
    size_t len = 0;
    memcpy(buf, "11=ORD", 6);
    len = 6;
    memcpy(buf + len, id, k);
    len += k;
    static const char rest[] = "\00121=1\00155=EURUSD\001460=4\00154=1\00160=20261122-10:00:00.000"
                               "\00138=1000000\00140=2\00144=1.08765\00159=0\0011=ACCOUNT-0001\001";
    memcpy(buf + len, rest, sizeof rest - 1);
    return len + sizeof rest - 1;
}

static int open_store(const char *dir, const char *name, struct fl_store **out)
{
    char err[256];
    if (!dir)
        return fl_store_mem_new(T0, out);
    if (fl_store_file_open(dir, name, FL_STORE_SYNC_BATCH, T0, out, err, sizeof err) != FL_OK) {
        fprintf(stderr, "journal: %s\n", err);
        return -1;
    }
    return FL_OK;
}

/* One run of n messages; returns ns per message, or a negative value on failure. With `dir`
 * the stores are journals in it (created fresh as <name>-buy / <name>-sell). */
static double run(uint64_t n, const char *dir, const char *name)
{
    struct endpoint ini, acc;
    struct fl_store *si = NULL, *sa = NULL;
    char ni[64], na[64], body[256];
    snprintf(ni, sizeof ni, "%s-buy", name);
    snprintf(na, sizeof na, "%s-sell", name);
    if (open_store(dir, ni, &si) != FL_OK || open_store(dir, na, &sa) != FL_OK)
        return -1;
    if (ep_open(&ini, &acc, si, 1) != 0 || ep_open(&acc, &ini, sa, 0) != 0)
        return -1;
    int64_t now = T0;
    fl_session_on_connect(acc.s, now);
    fl_session_on_connect(ini.s, now);
    ep_read(&acc, now);
    ep_read(&ini, now);
    if (fl_session_state(ini.s) != FL_STATE_ACTIVE || fl_session_state(acc.s) != FL_STATE_ACTIVE) {
        fprintf(stderr, "logon failed\n");
        return -1;
    }
    int64_t start = mono_ns();
    for (uint64_t i = 1; i <= n; i++) {
        now += 1000;
        size_t len = order_body(body, i);
        if (fl_session_send(ini.s, "D", 1, NULL, 0, body, len, now) != FL_OK) {
            fprintf(stderr, "send failed at %llu\n", (unsigned long long)i);
            return -1;
        }
        if (i % BURST == 0)
            ep_read(&acc, now);
        if (dir && i % FLUSH_EVERY == 0 &&
            (fl_store_flush(si) != FL_OK || fl_store_flush(sa) != FL_OK)) {
            fprintf(stderr, "flush failed\n");
            return -1;
        }
    }
    ep_read(&acc, now);
    if (dir && (fl_store_flush(si) != FL_OK || fl_store_flush(sa) != FL_OK))
        return -1;
    double ns = (double)(mono_ns() - start) / (double)n;
    if (acc.delivered != n) {
        fprintf(stderr, "delivered %llu of %llu\n", (unsigned long long)acc.delivered,
                (unsigned long long)n);
        ns = -1;
    }
    ep_close(&ini);
    ep_close(&acc);
    return ns;
}

/* The store alone: the two commits one message costs. Returns ns per message (both commits). */
static double store_only(uint64_t n, const char *dir, const char *name)
{
    struct fl_store *si = NULL, *sa = NULL;
    char ni[64], na[64], frame[256];
    snprintf(ni, sizeof ni, "%s-buy", name);
    snprintf(na, sizeof na, "%s-sell", name);
    if (open_store(dir, ni, &si) != FL_OK || open_store(dir, na, &sa) != FL_OK)
        return -1;
    size_t len = order_body(frame, 1) + 60; /* about the size of the framed message */
    memset(frame + len - 60, 'x', 60);
    int64_t start = mono_ns();
    for (uint64_t i = 1; i <= n; i++) {
        struct fl_store_msg m = {i, frame, len};
        struct fl_store_batch bi = {0, i + 1, &m, 1};
        struct fl_store_batch ba = {i + 1, 0, NULL, 0};
        if (fl_store_commit(si, &bi) != FL_OK || fl_store_commit(sa, &ba) != FL_OK)
            return -1;
        if (dir && i % FLUSH_EVERY == 0 &&
            (fl_store_flush(si) != FL_OK || fl_store_flush(sa) != FL_OK))
            return -1;
    }
    double ns = (double)(mono_ns() - start) / (double)n;
    fl_store_close(si);
    fl_store_close(sa);
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int report(const char *label, uint64_t n, const char *dir)
{
    double v[REPS];
    for (int r = 0; r < REPS; r++) {
        char name[32];
        snprintf(name, sizeof name, "run%d", r);
        v[r] = run(n, dir, name);
        if (v[r] < 0)
            return 1;
    }
    qsort(v, REPS, sizeof v[0], cmp_double);
    printf("%-34s %9.0f msgs/s  %6.0f ns/msg  (median of %d x %llu; min %.0f, max %.0f ns)\n",
           label, 1e9 / v[REPS / 2], v[REPS / 2], REPS, (unsigned long long)n, v[0], v[REPS - 1]);
    double st = store_only(n, dir, "store");
    if (st < 0)
        return 1;
    printf("%-34s %9s         %6.0f ns/msg  (initiator message commit + acceptor target commit)\n",
           "  of which the store alone:", "", st);
    return 0;
}

static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[512];
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
    const char *which = argc > 2 ? argv[2] : "all";
    int bad = 0;
    if (n == 0)
        n = 1;
    if (!strcmp(which, "once")) {
        double ns = run(n, NULL, "once");
        printf("%llu messages: %.0f ns/msg\n", (unsigned long long)n, ns);
        return ns < 0;
    }
    printf("session bench: NewOrderSingle initiator -> acceptor, one process, no sockets\n");
    if (!strcmp(which, "mem") || !strcmp(which, "all"))
        bad |= report("(a) memory store:", n, NULL);
    if (!strcmp(which, "file") || !strcmp(which, "all")) {
        char tmpl[] = "/tmp/fl_bench_session.XXXXXX";
        char *dir = mkdtemp(tmpl);
        if (!dir) {
            perror("mkdtemp");
            return 1;
        }
        bad |= report("(b) file store, sync=batch/1000:", n / 2 ? n / 2 : 1, dir);
        remove_tmpdir(dir);
    }
    return bad;
}
