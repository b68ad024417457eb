/* fixlua — kill -9 of an acceptor on a file journal: no order lost, no reply sent twice unmarked.
 *
 * Setup. The parent plays the counterparty: an initiator session "BUY" on a memory store that
 * lives for the whole test, so it keeps every order it sent (as a real counterparty's store
 * would). Each round forks a child that opens the acceptor "SELL" on the same file journal
 * (sync none) and talks to the parent over a socketpair, the "wire". The acceptor's deliver
 * callback answers each NewOrderSingle (11=n) with an ExecutionReport carrying 11=n. The
 * parent logs on, streams orders (at most WINDOW unanswered), records every frame the acceptor
 * wrote to the wire, and SIGKILLs the child at a random instant (seeded PRNG, FL_CRASH_SEED
 * overrides): mostly while trading, sometimes during the journal's recovery and the logon; in
 * some rounds the child instead kills itself at a pinned point, inside io->send of its k-th
 * ExecutionReport (case b below) or inside deliver of its k-th order (case c), since a timed
 * kill lands there only now and then. The parent then reads what the child had written before
 * dying, sees the disconnect, checks that the journal reopens without error and that its
 * counters never went back, and starts the next round, where the FIX recovery runs: the
 * counterparty logs on with its next MsgSeqNum, each side asks for what it is missing, and each
 * side serves from its store. A last round is not killed: it runs until every order is
 * answered and logs out.
 *
 * Why the properties hold. The session commits, per inbound message, one batch holding the new
 * expected inbound number and every reply, and only then writes the replies to the wire; the
 * journal makes a batch all or nothing (cut at the last whole record after a kill). For an
 * order with MsgSeqNum s the acceptor answers with an ExecutionReport of MsgSeqNum e:
 *  (a) batch committed and written: the order is consumed for good (the journal expects s+1)
 *      and the reply is on the wire once, unmarked; a later ResendRequest can only bring the
 *      same e again, with PossDupFlag=Y.
 *  (b) batch committed, process killed before the write: the reply is in the journal but not on
 *      the wire. After restart the acceptor's Logon carries a number above e, the counterparty
 *      asks for the gap and gets e replayed with PossDupFlag=Y: the order is answered, marked.
 *  (c) batch not committed (killed before or during the commit, or the bytes were never read):
 *      nothing of it exists, no reply left, and the journal still expects s. The counterparty's
 *      Logon carries a higher number, so the restarted acceptor asks for s onwards; the
 *      counterparty replays the order from its store (PossDupFlag=Y), and the acceptor handles
 *      it now, answering with a new, unmarked reply. This is why the counterparty must keep
 *      what it sent.
 * An order is therefore handled exactly once (one e per 11 for the whole run), answered by at
 * most one unmarked reply, and, once the last round has recovered, answered at least once.
 * Not guaranteed, and not checked: that every order gets an unmarked reply (case b), and that
 * the application's deliver callback runs once per order across a crash: in case (c) it ran in
 * the killed process before the commit and runs again after the restart (with PossDupFlag=Y).
 * Effects outside the journal must therefore be idempotent, or keyed on what the journal kept.
 *
 * Checks: the journal reopens (FL_OK) after every kill, its expected inbound and next outbound
 * numbers never decrease; the counterparty never sees an error, a Reject or a disconnect it did
 * not ask for (a reply sent but not kept would come back as "MsgSeqNum too low" after the
 * restart); on the wire, every ExecutionReport for a given 11 has the same MsgSeqNum and at
 * most one of them lacks PossDupFlag=Y; at the end every order sent has an ExecutionReport on
 * the wire, the counterparty's application received the reports exactly once and in order,
 * the journal holds exactly one ExecutionReport per order, each pinned kill after a commit
 * left one order answered only by a PossDup replay, and each pinned kill before a commit made
 * the counterparty replay orders. Bounded to about 10 s. Depends on fl_session, fl_store,
 * fl_frame, fl_msg, fl_test.h and POSIX (fork, socketpair, poll). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_frame.h"
#include "fl_msg.h"
#include "fl_session.h"
#include "fl_store.h"
#include "fl_test.h"
#include "msg_check.h"

#define ROUNDS 40
#define WINDOW 256
#define MAX_ORDERS 200000
#define KILL_MAX_US 30000          /* early kills: within 30 ms of the child's start */
#define STEADY_KILL_MAX_US 5000    /* steady kills: within 5 ms of the logon */
#define SELF_KILL_MAX_K 2000       /* self kills: at one of the first 2000 orders of a round */
#define SELF_KILL_WAIT_NS INT64_C(3000000000) /* then the parent kills anyway */

/* How a round ends. Timed kills land wherever the child happens to be; the two self kills pin
 * the cases of the argument above that a timed kill hits only now and then. */
enum kill_mode {
    KILL_STEADY = 0,      /* kill_us after the logon completed, while trading */
    KILL_EARLY,           /* kill_us after the fork: journal recovery, logon, resend */
    KILL_AFTER_COMMIT,    /* the child kills itself in io->send of its k-th ExecutionReport:
                           * case (b), committed and not written */
    KILL_BEFORE_COMMIT,   /* the child kills itself in deliver of its k-th order: case (c),
                           * read and not committed */
    KILL_NONE,            /* final round: finish and log out */
    KILL__COUNT
};

struct round_plan {
    enum kill_mode mode;
    int64_t kill_us;
    uint32_t k;
};
#define FINAL_ROUND_NS INT64_C(10000000000)
#define MS INT64_C(1000000)
#define JOURNAL "sell"

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Writes all of p[0..n) to a blocking socket; 0, or -1 once the peer is gone. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the child: the acceptor on the file journal ---- */

/* Whether a frame's MsgType (the third field, after 8= and 9=) is the one character t. */
static int frame_type_is(const char *p, size_t n, char t)
{
    size_t soh = 0, i;
    for (i = 0; i < n && soh < 2; i++)
        soh += p[i] == '\001';
    return i + 5 <= n && p[i] == '3' && p[i + 1] == '5' && p[i + 2] == '=' && p[i + 3] == t &&
           p[i + 4] == '\001';
}

struct acceptor {
    struct fl_session *s;
    int fd;
    int dead_wire;
    struct round_plan plan;
    uint32_t reports, orders; /* ExecutionReports written, orders delivered, this round */
};

static size_t acc_send(void *ctx, const char *p, size_t n)
{
    struct acceptor *a = ctx;
    /* Called after the batch holding these bytes is in the journal (store-before-send). */
    if (a->plan.mode == KILL_AFTER_COMMIT && frame_type_is(p, n, '8') && ++a->reports == a->plan.k)
        kill(getpid(), SIGKILL);
    if (!a->dead_wire && write_all(a->fd, p, n) != 0)
        a->dead_wire = 1;
    return 0;
}

static void acc_disconnect(void *ctx, const char *why)
{
    struct acceptor *a = ctx;
    (void)why;
    shutdown(a->fd, SHUT_WR);
}

static void acc_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct acceptor *a = ctx;
    if (is_admin || !is_type(m, "D"))
        return;
    /* Inside deliver the batch is still being built: nothing of it is in the journal. */
    if (a->plan.mode == KILL_BEFORE_COMMIT && ++a->orders == a->plan.k)
        kill(getpid(), SIGKILL);
    int64_t id = int_field(m, 11);
    char body[200];
    int len = snprintf(body, sizeof body,
                       "37=O%" PRId64 "\00117=E%" PRId64 "\001150=0\00139=0\00111=%" PRId64
                       "\00155=EURUSD\00154=1\00138=100\00114=0\0016=0\001151=100\001",
                       id, id, id);
    if (fl_session_send(a->s, "8", 1, NULL, 0, body, (size_t)len, wall_ns()) != FL_OK)
        _exit(5);
}

static struct fl_session_config acceptor_config(void)
{
    struct fl_session_config cfg = {
        .role = FL_ROLE_ACCEPTOR,
        .begin_string = "FIX.4.4",
        .sender_comp_id = "SELL",
        .target_comp_id = "BUY",
        .heartbeat_interval = 30,
    };
    return cfg;
}

/* Runs until killed, or until the parent closes the wire. Exit codes above 0 are failures. */
static void run_acceptor(const char *dir, int fd, const struct round_plan *plan)
{
    struct fl_store *store = NULL;
    struct fl_session *s = NULL;
    char err[256];
    struct acceptor a = {.fd = fd, .plan = *plan};
    if (fl_store_file_open(dir, JOURNAL, FL_STORE_SYNC_NONE, wall_ns(), &store, err,
                           sizeof err) != FL_OK)
        _exit(3);
    struct fl_session_config cfg = acceptor_config();
    struct fl_session_io io = {.ctx = &a, .send = acc_send, .disconnect = acc_disconnect,
                               .deliver = acc_deliver};
    if (fl_session_new(&cfg, store, &io, &s, err, sizeof err) != FL_OK)
        _exit(4);
    a.s = s;
    fl_session_on_connect(s, wall_ns());
    size_t cap = 1 << 16, len = 0;
    char *rx = malloc(cap);
    if (!rx)
        _exit(6);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 100);
        if (pr == -1 && errno != EINTR)
            _exit(7);
        if (pr > 0) {
            if (len == cap) {
                cap *= 2;
                rx = realloc(rx, cap);
                if (!rx)
                    _exit(6);
            }
            ssize_t r = read(fd, rx + len, cap - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            size_t used = fl_session_on_bytes(s, rx, len, wall_ns());
            memmove(rx, rx + used, len - used);
            len -= used;
        }
        if (fl_session_state(s) == FL_STATE_DISCONNECTED)
            break;
        fl_session_tick(s, wall_ns());
    }
    free(rx);
    fl_session_free(s);
    fl_store_close(store);
    close(fd);
    _exit(0);
}

/* ---- the parent: the counterparty and the checks ---- */

/* What the wire showed for one order's ExecutionReports. */
struct reply {
    uint64_t seq;    /* MsgSeqNum of the first one seen, 0 if none */
    uint32_t fresh;  /* without PossDupFlag=Y */
    uint32_t dup;    /* with PossDupFlag=Y */
};

struct counterparty {
    struct fl_session *s;
    struct fl_store *store;
    int fd;                 /* -1 when no connection */
    uint64_t orders_sent;
    uint64_t app_next;      /* next 11 its application expects in an ExecutionReport */
    uint64_t resend_requests_served;
    uint64_t orders_replayed; /* orders it sent again with PossDupFlag=Y */
    int logging_out;          /* the final Logout is out */
    struct reply *replies;  /* by 11 */
    char *wire;             /* bytes from the acceptor not yet framed */
    size_t wire_len, wire_cap;
    char *rx;               /* bytes from the acceptor the session has not consumed */
    size_t rx_len;
    struct fl_msg m;
    char failure[256];
};

static void fail(struct counterparty *c, const char *what, uint64_t a, uint64_t b)
{
    if (!c->failure[0])
        snprintf(c->failure, sizeof c->failure, "%s (%" PRIu64 ", %" PRIu64 ")", what, a, b);
}

static size_t cp_send(void *ctx, const char *p, size_t n)
{
    struct counterparty *c = ctx;
    if (fl_msg_parse(&c->m, p, n) == FL_OK && is_type(&c->m, "D") && poss_dup(&c->m))
        c->orders_replayed++;
    /* A dead acceptor loses these bytes; the counterparty still has them in its store. */
    if (c->fd >= 0)
        (void)write_all(c->fd, p, n);
    return 0;
}

static void cp_event(void *ctx, const struct fl_session_event *ev)
{
    struct counterparty *c = ctx;
    if (ev->type == FL_EV_RESEND_REQUEST)
        c->resend_requests_served++;
    /* E.g. "MsgSeqNum too low" after a restart: the acceptor sent something its journal lost.
     * The counterparty itself only ever drops the connection after its final Logout. */
    if ((ev->type == FL_EV_ERROR || ev->type == FL_EV_REJECT_RECEIVED ||
         ev->type == FL_EV_REJECT_SENT || ev->type == FL_EV_LOGON_REJECTED ||
         (ev->type == FL_EV_DISCONNECT && !c->logging_out)) && !c->failure[0])
        snprintf(c->failure, sizeof c->failure, "counterparty: %s: %s", fl_event_name(ev->type),
                 ev->text);
}

static void cp_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct counterparty *c = ctx;
    if (is_admin)
        return;
    int64_t id = int_field(m, 11);
    if (!is_type(m, "8") || (uint64_t)id != c->app_next) {
        fail(c, "counterparty app: execution report out of sequence (got, expected)",
             (uint64_t)id, c->app_next);
        return;
    }
    c->app_next++;
}

/* Records every complete ExecutionReport frame the acceptor wrote, before the session sees it. */
static void record_wire(struct counterparty *c, const char *p, size_t n)
{
    if (c->wire_len + n > c->wire_cap) {
        c->wire_cap = (c->wire_len + n) * 2;
        c->wire = realloc(c->wire, c->wire_cap);
        if (!c->wire)
            abort();
    }
    memcpy(c->wire + c->wire_len, p, n);
    c->wire_len += n;
    size_t pos = 0;
    for (;;) {
        struct fl_frame f;
        enum fl_frame_status st = fl_frame_scan(c->wire + pos, c->wire_len - pos, 0, &f);
        if (st == FL_FRAME_NEED_MORE)
            break;
        if (st == FL_FRAME_GARBLED) {
            fail(c, "garbled frame on the wire", pos, f.skip);
            pos += f.skip;
            continue;
        }
        if (fl_msg_parse(&c->m, c->wire + pos, f.len) != FL_OK || c->m.problem != FL_PARSE_OK)
            fail(c, "unparsable frame on the wire", pos, 0);
        else if (is_type(&c->m, "8")) {
            int64_t id = int_field(&c->m, 11), seq = int_field(&c->m, 34);
            if (id < 1 || (uint64_t)id > c->orders_sent || seq < 1) {
                fail(c, "ExecutionReport for an order never sent", (uint64_t)id, (uint64_t)seq);
            } else {
                struct reply *r = &c->replies[id];
                /* One handling per order: every copy repeats the same MsgSeqNum. */
                if (r->seq && r->seq != (uint64_t)seq)
                    fail(c, "order answered twice under different MsgSeqNums", (uint64_t)id,
                         (uint64_t)seq);
                r->seq = (uint64_t)seq;
                if (poss_dup(&c->m))
                    r->dup++;
                else if (++r->fresh > 1)
                    fail(c, "ExecutionReport sent twice without PossDupFlag=Y", (uint64_t)id,
                         (uint64_t)seq);
            }
        }
        pos += f.len;
    }
    memmove(c->wire, c->wire + pos, c->wire_len - pos);
    c->wire_len -= pos;
}

static void cp_read(struct counterparty *c, const char *p, size_t n)
{
    record_wire(c, p, n);
    c->rx = realloc(c->rx, c->rx_len + n);
    if (!c->rx)
        abort();
    memcpy(c->rx + c->rx_len, p, n);
    c->rx_len += n;
    size_t used = fl_session_on_bytes(c->s, c->rx, c->rx_len, wall_ns());
    memmove(c->rx, c->rx + used, c->rx_len - used);
    c->rx_len -= used;
}

static void send_orders(struct counterparty *c, uint64_t limit)
{
    while (c->orders_sent < limit && c->orders_sent - (c->app_next - 1) < WINDOW) {
        uint64_t id = c->orders_sent + 1;
        char body[128];
        int len = snprintf(body, sizeof body,
                           "11=%" PRIu64 "\00121=1\00155=EURUSD\00154=1\00138=100\00140=1\001", id);
        if (fl_session_send(c->s, "D", 1, NULL, 0, body, (size_t)len, wall_ns()) != FL_OK) {
            fail(c, "counterparty could not send an order", id, 0);
            return;
        }
        c->orders_sent++;
    }
}

/* Reads what is available (waiting up to `wait_ms`); 0 at end of stream. */
static int pump(struct counterparty *c, int wait_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char buf[65536];
    if (poll(&pfd, 1, wait_ms) <= 0)
        return 1;
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r <= 0)
        return 0;
    cp_read(c, buf, (size_t)r);
    return 1;
}

/* One round: connect to a fresh child, trade, and end it as `plan` says. Returns the child's
 * wait status; *parent_killed tells whether the parent had to kill it. */
static int run_round(struct counterparty *c, const char *dir, const struct round_plan *plan,
                     uint64_t order_limit, int *parent_killed)
{
    int steady = plan->mode == KILL_STEADY;
    int64_t kill_us = plan->mode == KILL_NONE ? -1
                      : plan->mode == KILL_STEADY || plan->mode == KILL_EARLY
                          ? plan->kill_us
                          : SELF_KILL_WAIT_NS / 1000;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        fail(c, "socketpair failed", (uint64_t)errno, 0);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        run_acceptor(dir, sv[1], plan);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        fail(c, "fork failed", (uint64_t)errno, 0);
        return -1;
    }
    c->fd = sv[0];
    c->rx_len = 0;
    c->wire_len = 0;
    fl_session_on_connect(c->s, wall_ns());
    int64_t start = mono_ns(), status = 0;
    int64_t deadline = steady ? INT64_MAX : start + kill_us * 1000;
    int killed = 0, open = 1, logout_sent = 0;
    while (open) {
        int64_t t = mono_ns();
        if (kill_us >= 0 && t >= deadline) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        if (kill_us < 0 && t - start > FINAL_ROUND_NS) {
            fail(c, "final round did not finish", c->app_next, c->orders_sent);
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        if (steady && deadline == INT64_MAX && fl_session_state(c->s) == FL_STATE_ACTIVE)
            deadline = t + kill_us * 1000;
        send_orders(c, order_limit);
        /* Spin in the last millisecond so the kill lands at a precise, random instant. */
        open = pump(c, kill_us >= 0 && deadline - t < MS ? 0 : 1);
        fl_session_tick(c->s, wall_ns());
        if (kill_us < 0 && !logout_sent && c->orders_sent == order_limit &&
            c->app_next == order_limit + 1 && fl_session_state(c->s) == FL_STATE_ACTIVE) {
            c->logging_out = 1;
            fl_session_logout(c->s, "done", wall_ns());
            logout_sent = 1;
        }
        if (c->failure[0])
            break;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    status = st;
    /* Whatever the acceptor wrote before it died is still in the socket: read it all. */
    if (killed)
        while (pump(c, 0))
            ;
    fl_session_on_disconnect(c->s, wall_ns());
    close(c->fd);
    c->fd = -1;
    *parent_killed = killed;
    return (int)status;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[512];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The journal after the last round: exactly one ExecutionReport per order. */
static int check_journal(struct fl_store *store, uint64_t orders, struct fl_msg *m)
{
    struct fl_store_iter *it = NULL;
    uint8_t *seen = calloc(orders + 1, 1);
    uint64_t seq, count = 0;
    const char *data;
    size_t len;
    int ok = seen && fl_store_iter_open(store, 1, 0, &it) == FL_OK;
    while (ok && fl_store_iter_next(it, &seq, &data, &len) == FL_OK) {
        if (fl_msg_parse(m, data, len) != FL_OK || !is_type(m, "8"))
            continue;
        int64_t id = int_field(m, 11);
        if (id < 1 || (uint64_t)id > orders || seen[id]++) {
            fprintf(stderr, "  journal: ExecutionReport 11=%" PRId64 " at seq %" PRIu64
                    " is unknown or repeated\n", id, seq);
            ok = 0;
        }
        count++;
    }
    fl_store_iter_close(it);
    if (ok && count != orders) {
        fprintf(stderr, "  journal: %" PRIu64 " ExecutionReports for %" PRIu64 " orders\n", count,
                orders);
        ok = 0;
    }
    free(seen);
    return ok;
}

FL_TEST(acceptor_killed_and_recovered)
{
    char dir[] = "/tmp/fl_sess_crash_XXXXXX";
    int made = mkdtemp(dir) != NULL;
    struct counterparty *c = calloc(1, sizeof *c);
    struct fl_store *journal = NULL;
    char err[256];
    const char *env = getenv("FL_CRASH_SEED");
    uint64_t rng = env && *env ? strtoull(env, NULL, 0) : (uint64_t)mono_ns();
    rng = rng ? rng : 1;
    uint64_t prev_target = 0, prev_sender = 0, fresh = 0, marked = 0;
    int rounds = 0, kills = 0, after_commit_kills = 0, before_commit_kills = 0;
    int64_t t_start = mono_ns();
    FL_CHECK(made && c != NULL);
    printf("session crash test: seed %" PRIu64 ", journal in %s\n", rng, dir);
    c->fd = -1;
    c->app_next = 1;
    c->replies = calloc(MAX_ORDERS + 1, sizeof *c->replies);
    fl_msg_init(&c->m);
    FL_CHECK(c->replies != NULL);
    FL_CHECK(fl_store_mem_new(wall_ns(), &c->store) == FL_OK);
    struct fl_session_config cfg = {
        .role = FL_ROLE_INITIATOR,
        .begin_string = "FIX.4.4",
        .sender_comp_id = "BUY",
        .target_comp_id = "SELL",
        .heartbeat_interval = 30,
    };
    struct fl_session_io io = {.ctx = c, .send = cp_send, .event = cp_event,
                               .deliver = cp_deliver};
    FL_CHECK(fl_session_new(&cfg, c->store, &io, &c->s, err, sizeof err) == FL_OK);

    for (rounds = 0; rounds < ROUNDS; rounds++) {
        /* Half the kills land in steady trading, the rest during recovery and logon or at the
         * two pinned points. */
        static const enum kill_mode modes[8] = {KILL_STEADY, KILL_STEADY, KILL_STEADY,
                                                KILL_STEADY, KILL_EARLY, KILL_AFTER_COMMIT,
                                                KILL_AFTER_COMMIT, KILL_BEFORE_COMMIT};
        struct round_plan plan = {.mode = modes[next_rand(&rng) % 8]};
        plan.kill_us = plan.mode == KILL_STEADY ? (int64_t)(next_rand(&rng) % STEADY_KILL_MAX_US)
                                                : 200 + (int64_t)(next_rand(&rng) % KILL_MAX_US);
        plan.k = 1 + (uint32_t)(next_rand(&rng) % SELF_KILL_MAX_K);
        int parent_killed = 0;
        int st = run_round(c, dir, &plan, MAX_ORDERS - 1000, &parent_killed);
        if (!parent_killed && plan.mode == KILL_AFTER_COMMIT)
            after_commit_kills++;
        if (!parent_killed && plan.mode == KILL_BEFORE_COMMIT)
            before_commit_kills++;
        if (c->failure[0])
            fprintf(stderr, "  round %d: %s\n", rounds, c->failure);
        FL_CHECK(!c->failure[0]);
        /* Killed by us, or exited on its own only if the failure is ours to report. */
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            fprintf(stderr, "  round %d: child status %d\n", rounds, st);
        FL_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        kills++;
        /* The journal reopens whatever the instant of the kill, and never goes back. */
        int rc = fl_store_file_open(dir, JOURNAL, FL_STORE_SYNC_NONE, wall_ns(), &journal, err,
                                    sizeof err);
        if (rc != FL_OK)
            fprintf(stderr, "  round %d: reopen: %s: %s\n", rounds, fl_err_name(rc), err);
        FL_CHECK(rc == FL_OK);
        FL_CHECK(fl_store_next_target(journal) >= prev_target);
        FL_CHECK(fl_store_next_sender(journal) >= prev_sender);
        prev_target = fl_store_next_target(journal);
        prev_sender = fl_store_next_sender(journal);
        fl_store_close(journal);
        journal = NULL;
        if (mono_ns() - t_start > INT64_C(8000000000))
            break; /* keep the test bounded on a slow machine */
    }
    /* Last round: recover, answer everything, log out. */
    struct round_plan last = {.mode = KILL_NONE};
    int parent_killed = 0;
    int st = run_round(c, dir, &last, c->orders_sent + 200, &parent_killed);
    if (c->failure[0])
        fprintf(stderr, "  final round: %s\n", c->failure);
    FL_CHECK(!c->failure[0]);
    FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* Every order answered, at most once unmarked; the application saw each report once. */
    for (uint64_t id = 1; id <= c->orders_sent; id++) {
        struct reply *r = &c->replies[id];
        if (!r->seq)
            fprintf(stderr, "  order %" PRIu64 " never answered\n", id);
        FL_CHECK(r->seq != 0);
        FL_CHECK(r->fresh <= 1);
        fresh += r->fresh;
        marked += r->fresh == 0;
    }
    FL_CHECK_INT(c->app_next, c->orders_sent + 1);
    /* Each pinned kill after a commit left one reply that only a PossDup replay delivered;
     * each pinned kill before a commit made the counterparty replay at least that order. */
    FL_CHECK(marked >= (uint64_t)after_commit_kills);
    FL_CHECK(c->orders_replayed >= (uint64_t)before_commit_kills);
    FL_CHECK(fl_store_file_open(dir, JOURNAL, FL_STORE_SYNC_NONE, wall_ns(), &journal, err,
                                sizeof err) == FL_OK);
    FL_CHECK(check_journal(journal, c->orders_sent, &c->m));
    printf("session crash test: %d kills (%d pinned after a commit, %d before), %" PRIu64
           " orders, %" PRIu64 " answered unmarked, %"
           PRIu64 " answered only by a PossDup replay, %" PRIu64 " ResendRequests served by the "
           "counterparty, %" PRIu64 " orders replayed by it, %.1f s\n", kills,
           after_commit_kills, before_commit_kills, c->orders_sent,
           fresh, marked, c->resend_requests_served, c->orders_replayed,
           (double)(mono_ns() - t_start) / 1e9);
end:
    fl_store_close(journal);
    if (c) {
        fl_session_free(c->s);
        fl_store_close(c->store);
        fl_msg_release(&c->m);
        free(c->replies);
        free(c->wire);
        free(c->rx);
        free(c);
    }
    if (made)
        remove_dir(dir);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(acceptor_killed_and_recovered);
    return FL_TEST_SUMMARY();
}
