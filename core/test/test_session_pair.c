/* fixlua — two sessions back to back over a faulty link: no loss, no duplicate delivery.
 *
 * An initiator "BUY" and an acceptor "SELL" run in one process on a fake clock (1 ms a step).
 * Each io->send is one frame pushed on the link toward the other side; every step the link
 * hands the frames it holds to the receiver's byte buffer, and both sessions are ticked so
 * heartbeats, TestRequests and timeouts fire. The initiator's application sends N
 * NewOrderSingles (11=1..N, at most WINDOW unanswered); the acceptor's deliver callback answers
 * each with an ExecutionReport carrying the same 11. While orders are being sent, a seeded PRNG
 * makes the link drop (1%), duplicate (1%) or swap two adjacent frames (1%), or flip one byte
 * of a frame (0.3%, which the framer then drops as garbled) — whole-frame faults, as a buggy
 * peer or network would make them.
 *
 * What the FIX rules make of those faults, and hence what the test accepts:
 *  - a dropped or garbled frame is a gap: the receiver queues what follows and sends a
 *    ResendRequest; the sender replays application messages with PossDupFlag=Y and gap-fills
 *    admin ones. A dropped Logon ends in a logon timeout and a reconnect.
 *  - a duplicated frame arrives with a MsgSeqNum already processed and without PossDupFlag:
 *    "MsgSeqNum too low", Logout and disconnect (FIX test case 2c). A duplicated PossDup
 *    frame is ignored. A duplicated Logon is a Logon in session: disconnect.
 *  - swapped frames are a gap closed by the late frame; the resend then only brings
 *    duplicates, ignored. A swap around a Logon breaks the logon: timeout or disconnect.
 *  - a lost ResendRequest, or a lost replayed message while later replays arrive, leaves
 *    the receiver waiting for a gap nobody will fill: the session sends one ResendRequest per
 *    gap and never repeats it (as QuickFIX does). The test plays the operator: a session that
 *    has waited STALL_NS for a gap with no progress is disconnected (fl_session_disconnect);
 *    the reconnect's Logon exposes the gap again. These are counted and printed.
 * So sessions may be disconnected; the harness reconnects them after RECONNECT_NS (the
 * closing side's last frames are still delivered, frames toward it are lost, as with TCP).
 * What must hold whatever happens: each application sees every 11 exactly once and in order
 * (orders at the acceptor, execution reports at the initiator); at the end, with faults off
 * and the link quiet, both sessions are ACTIVE with nothing queued and each expects exactly
 * the other's next MsgSeqNum. Runs with the memory store and with the file store (sync none,
 * temporary directory). FL_PAIR_SEED and FL_PAIR_ORDERS override the seed and N. Depends on
 * fl_session, fl_store, fl_msg and fl_test.h. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl_msg.h"
#include "fl_session.h"
#include "fl_store.h"
#include "fl_test.h"
#include "msg_check.h"

#define T0 INT64_C(1795341600000000000) /* 2026-11-22 10:00:00 UTC */
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define STEP_NS (1 * MS)
#define RECONNECT_NS (50 * MS)
#define STALL_NS (5 * SEC)
#define QUIET_NS (3 * SEC)
#define FAKE_TIME_LIMIT (4 * 3600 * SEC)
#define N_ORDERS 100000
#define WINDOW 64
#define ORDERS_PER_STEP 8

enum link_state { LINK_UP = 0, LINK_CLOSING, LINK_DOWN, LINK__COUNT };

struct frame {
    char *p;
    size_t n;
};

/* Frames sent by one side and not yet delivered. */
struct fifo {
    struct frame *v;
    size_t len, cap;
};

struct pair;

struct side {
    struct pair *pr;
    int id; /* 0 initiator, 1 acceptor */
    struct fl_session *s;
    struct fl_store *store;
    char *rx; /* received bytes the session has not consumed yet */
    size_t rx_len, rx_cap;
    uint64_t app_next;        /* next 11 its application expects */
    uint64_t possdup_apps;    /* application messages delivered with PossDupFlag=Y */
    uint64_t watch_target;    /* stall watch: next_target seen at watch_since */
    int64_t watch_since;
};

struct pair {
    struct side side[2];
    struct fifo link[2]; /* link[i]: frames sent by side i */
    enum link_state state;
    int closer;          /* LINK_CLOSING: the side that closed */
    int64_t now;
    int64_t reconnect_at;
    uint64_t rng;
    int faults;
    uint64_t n_orders;
    uint64_t orders_sent;
    /* statistics */
    uint64_t drops, dups, swaps, corrupts, frames, reconnects, stalls, resend_requests;
    uint64_t too_low, logon_failures;
    char failure[256];
};

static uint64_t next_rand(struct pair *pr)
{
    pr->rng ^= pr->rng << 13;
    pr->rng ^= pr->rng >> 7;
    pr->rng ^= pr->rng << 17;
    return pr->rng;
}

static void fail(struct pair *pr, const char *what, uint64_t a, uint64_t b)
{
    if (!pr->failure[0])
        snprintf(pr->failure, sizeof pr->failure,
                 "%s (%" PRIu64 ", %" PRIu64 ") at +%" PRId64 " ms", what, a, b,
                 (pr->now - T0) / MS);
}

static void fifo_push(struct fifo *q, const char *p, size_t n)
{
    if (q->len == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->v = realloc(q->v, q->cap * sizeof *q->v);
        if (!q->v)
            abort();
    }
    char *copy = malloc(n);
    if (!copy)
        abort();
    memcpy(copy, p, n);
    q->v[q->len++] = (struct frame){copy, n};
}

static void fifo_clear(struct fifo *q)
{
    for (size_t i = 0; i < q->len; i++)
        free(q->v[i].p);
    q->len = 0;
}

static void rx_append(struct side *sd, const char *p, size_t n)
{
    if (sd->rx_len + n > sd->rx_cap) {
        sd->rx_cap = (sd->rx_len + n) * 2;
        sd->rx = realloc(sd->rx, sd->rx_cap);
        if (!sd->rx)
            abort();
    }
    memcpy(sd->rx + sd->rx_len, p, n);
    sd->rx_len += n;
}

/* ---- io callbacks ---- */

static size_t io_send(void *ctx, const char *p, size_t n)
{
    struct side *sd = ctx;
    struct pair *pr = sd->pr;
    if (pr->state == LINK_UP)
        fifo_push(&pr->link[sd->id], p, n);
    else if (pr->state == LINK_DOWN || pr->closer == sd->id)
        fail(pr, "a session sent after its transport closed", (uint64_t)sd->id, 0);
    /* else: the peer has closed; these bytes are lost, as on a reset TCP connection */
    return 0;
}

static void io_disconnect(void *ctx, const char *why)
{
    struct side *sd = ctx;
    struct pair *pr = sd->pr;
    (void)why;
    if (pr->state == LINK_UP) {
        pr->state = LINK_CLOSING;
        pr->closer = sd->id;
        fifo_clear(&pr->link[!sd->id]); /* in flight toward the side that closed: lost */
    } else if (pr->state == LINK_CLOSING && pr->closer != sd->id) {
        pr->state = LINK_DOWN;
    } else {
        fail(pr, "io->disconnect on a closed transport", (uint64_t)sd->id, 0);
    }
    if (pr->state == LINK_DOWN) {
        fifo_clear(&pr->link[0]);
        fifo_clear(&pr->link[1]);
        pr->reconnect_at = pr->now + RECONNECT_NS;
    }
}

static void io_event(void *ctx, const struct fl_session_event *ev)
{
    struct side *sd = ctx;
    struct pair *pr = sd->pr;
    if (ev->type == FL_EV_GAP)
        pr->resend_requests++;
    else if (ev->type == FL_EV_ERROR && strncmp(ev->text, "MsgSeqNum too low", 17) == 0)
        pr->too_low++;
    else if (ev->type == FL_EV_LOGON_TIMEOUT)
        pr->logon_failures++;
}

static void send_execution_report(struct side *sd, uint64_t id)
{
    char body[200];
    int len = snprintf(body, sizeof body,
                       "37=O%" PRIu64 "\00117=E%" PRIu64 "\001150=0\00139=0\00111=%" PRIu64
                       "\00155=EURUSD\00154=1\00138=100\00114=0\0016=0\001151=100\001",
                       id, id, id);
    int rc = fl_session_send(sd->s, "8", 1, NULL, 0, body, (size_t)len, sd->pr->now);
    if (rc != FL_OK)
        fail(sd->pr, "acceptor could not send an ExecutionReport", id, (uint64_t)-rc);
}

static void io_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct side *sd = ctx;
    struct pair *pr = sd->pr;
    if (is_admin)
        return;
    int64_t id = int_field(m, 11);
    const char *want = sd->id == 1 ? "D" : "8";
    if (!is_type(m, want) || id < 1) {
        fail(pr, "unexpected application message", (uint64_t)sd->id, (uint64_t)id);
        return;
    }
    /* Exactly once, in order: anything else is a lost or duplicated delivery. */
    if ((uint64_t)id != sd->app_next) {
        fail(pr, sd->id == 1 ? "acceptor app: order out of sequence (got, expected)"
                             : "initiator app: execution report out of sequence (got, expected)",
             (uint64_t)id, sd->app_next);
        return;
    }
    sd->app_next++;
    if (poss_dup(m))
        sd->possdup_apps++;
    if (sd->id == 1)
        send_execution_report(sd, (uint64_t)id);
}

/* ---- the link ---- */

/* Hands the frames side `from` has sent to the other side, with faults, then lets the
 * receiver read them. */
static void deliver_frames(struct pair *pr, int from)
{
    struct side *to = &pr->side[!from];
    struct fifo *q = &pr->link[from];
    if (pr->state == LINK_DOWN || (pr->state == LINK_CLOSING && pr->closer == to->id) || !q->len)
        return;
    struct frame *v = q->v;
    size_t n = q->len;
    /* Take the frames out first: reading them may make the receiver close and clear links. */
    q->v = NULL;
    q->len = q->cap = 0;
    for (size_t i = 0; i < n; i++) {
        struct frame *f = &v[i];
        uint64_t r = pr->faults ? next_rand(pr) % 1000 : 1000;
        pr->frames++;
        if (r < 10) {
            pr->drops++;
        } else if (r < 20) {
            pr->dups++;
            rx_append(to, f->p, f->n);
            rx_append(to, f->p, f->n);
        } else if (r < 30 && i + 1 < n) {
            pr->swaps++;
            rx_append(to, v[i + 1].p, v[i + 1].n);
            rx_append(to, f->p, f->n);
            free(f->p);
            f = &v[++i];
        } else if (r < 33) {
            pr->corrupts++;
            size_t at = (size_t)(next_rand(pr) % f->n);
            f->p[at] ^= (char)(1 + next_rand(pr) % 255);
            rx_append(to, f->p, f->n);
        } else {
            rx_append(to, f->p, f->n);
        }
        free(f->p);
    }
    free(v);
    if (to->rx_len) {
        size_t used = fl_session_on_bytes(to->s, to->rx, to->rx_len, pr->now);
        memmove(to->rx, to->rx + used, to->rx_len - used);
        to->rx_len -= used;
    }
    if (fl_session_state(to->s) == FL_STATE_DISCONNECTED)
        to->rx_len = 0; /* nothing more is read from a closed connection */
}

/* The closing side's last frames have been delivered: the other side sees the close. */
static void finish_close(struct pair *pr)
{
    if (pr->state != LINK_CLOSING || pr->link[pr->closer].len)
        return;
    struct side *other = &pr->side[!pr->closer];
    pr->state = LINK_DOWN;
    pr->reconnect_at = pr->now + RECONNECT_NS;
    other->rx_len = 0;
    fifo_clear(&pr->link[0]);
    fifo_clear(&pr->link[1]);
    fl_session_on_disconnect(other->s, pr->now);
}

static void reconnect(struct pair *pr)
{
    if (pr->state != LINK_DOWN || pr->now < pr->reconnect_at)
        return;
    if (fl_session_state(pr->side[0].s) != FL_STATE_DISCONNECTED ||
        fl_session_state(pr->side[1].s) != FL_STATE_DISCONNECTED) {
        fail(pr, "link down but a session is not disconnected",
             (uint64_t)fl_session_state(pr->side[0].s), (uint64_t)fl_session_state(pr->side[1].s));
        return;
    }
    pr->state = LINK_UP;
    pr->reconnects++;
    for (int i = 0; i < 2; i++) {
        pr->side[i].rx_len = 0;
        pr->side[i].watch_since = pr->now;
    }
    fl_session_on_connect(pr->side[1].s, pr->now);
    fl_session_on_connect(pr->side[0].s, pr->now);
}

/* The operator's rule: a logged-on session waiting for a gap that does not move for STALL_NS
 * is disconnected, so the reconnect's Logon exposes the gap again. */
static void watch_stall(struct pair *pr, struct side *sd)
{
    enum fl_session_state st = fl_session_state(sd->s);
    int waiting = (st == FL_STATE_ACTIVE || st == FL_STATE_RESENDING) &&
                  (st == FL_STATE_RESENDING || fl_session_inbound_queued(sd->s) > 0);
    uint64_t target = fl_session_next_target(sd->s);
    if (!waiting || target != sd->watch_target) {
        sd->watch_target = target;
        sd->watch_since = pr->now;
        return;
    }
    if (pr->now - sd->watch_since >= STALL_NS) {
        pr->stalls++;
        sd->watch_since = pr->now;
        fl_session_disconnect(sd->s, "test: gap not filled", pr->now);
    }
}

static void send_orders(struct pair *pr)
{
    struct side *ini = &pr->side[0];
    for (int k = 0; k < ORDERS_PER_STEP && pr->orders_sent < pr->n_orders &&
                    pr->orders_sent - (ini->app_next - 1) < WINDOW;
         k++) {
        uint64_t id = pr->orders_sent + 1;
        char body[128];
        int len = snprintf(body, sizeof body,
                           "11=%" PRIu64 "\00121=1\00155=EURUSD\00154=1\00138=100\00140=1\001", id);
        /* Before logon (or while reconnecting) the session queues it. */
        int rc = fl_session_send(ini->s, "D", 1, NULL, 0, body, (size_t)len, pr->now);
        if (rc != FL_OK) {
            fail(pr, "initiator could not send an order", id, (uint64_t)-rc);
            return;
        }
        pr->orders_sent++;
    }
}

static void step(struct pair *pr)
{
    pr->now += STEP_NS;
    reconnect(pr);
    send_orders(pr);
    deliver_frames(pr, 0);
    deliver_frames(pr, 1);
    finish_close(pr);
    for (int i = 0; i < 2; i++) {
        fl_session_tick(pr->side[i].s, pr->now);
        watch_stall(pr, &pr->side[i]);
    }
    finish_close(pr);
}

/* ---- setup ---- */

static int make_session(struct pair *pr, int id, struct fl_store *store)
{
    struct side *sd = &pr->side[id];
    struct fl_session_config cfg = {
        .role = id == 0 ? FL_ROLE_INITIATOR : FL_ROLE_ACCEPTOR,
        .begin_string = "FIX.4.4",
        .sender_comp_id = id == 0 ? "BUY" : "SELL",
        .target_comp_id = id == 0 ? "SELL" : "BUY",
        .heartbeat_interval = 1,
        .logon_timeout = 2,
        .logout_timeout = 1,
    };
    struct fl_session_io io = {
        .ctx = sd,
        .send = io_send,
        .disconnect = io_disconnect,
        .event = io_event,
        .deliver = io_deliver,
    };
    char err[128];
    sd->pr = pr;
    sd->id = id;
    sd->store = store;
    sd->app_next = 1;
    int rc = fl_session_new(&cfg, store, &io, &sd->s, err, sizeof err);
    if (rc != FL_OK)
        fprintf(stderr, "  fl_session_new: %s\n", err);
    return rc;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* Runs the whole exchange over the two stores; returns 0 when every property held. */
static int run_pair(struct fl_store *ini_store, struct fl_store *acc_store, const char *label)
{
    struct pair *pr = calloc(1, sizeof *pr);
    int ok = 0;
    if (!pr)
        return -1;
    pr->now = T0;
    pr->rng = env_u64("FL_PAIR_SEED", 0x5eed5eedULL);
    pr->rng = pr->rng ? pr->rng : 1;
    pr->n_orders = env_u64("FL_PAIR_ORDERS", N_ORDERS);
    pr->faults = 1;
    pr->state = LINK_DOWN;
    pr->reconnect_at = T0;
    printf("%s: seed %" PRIu64 ", %" PRIu64 " orders\n", label, pr->rng, pr->n_orders);
    FL_CHECK(make_session(pr, 0, ini_store) == FL_OK);
    FL_CHECK(make_session(pr, 1, acc_store) == FL_OK);

    struct side *ini = &pr->side[0], *acc = &pr->side[1];
    int64_t quiet_since = 0;
    for (;;) {
        step(pr);
        if (pr->failure[0] || pr->now - T0 > FAKE_TIME_LIMIT)
            break;
        if (pr->orders_sent == pr->n_orders)
            pr->faults = 0;
        if (ini->app_next <= pr->n_orders) {
            quiet_since = pr->now;
            continue;
        }
        /* Everything answered: let the link go quiet, heartbeats included. */
        if (pr->now - quiet_since >= QUIET_NS && !pr->link[0].len && !pr->link[1].len &&
            pr->state == LINK_UP)
            break;
    }
    printf("%s: %" PRIu64 " frames, %" PRIu64 " dropped, %" PRIu64 " duplicated, %" PRIu64
           " swapped, %" PRIu64 " corrupted; %" PRIu64 " ResendRequests, %" PRIu64
           " too-low logouts, %" PRIu64 " logon timeouts, %" PRIu64 " reconnects, %" PRIu64
           " stalls broken; PossDup deliveries %" PRIu64 "/%" PRIu64 "; fake time %" PRId64 " s\n",
           label, pr->frames, pr->drops, pr->dups, pr->swaps, pr->corrupts, pr->resend_requests,
           pr->too_low, pr->logon_failures, pr->reconnects, pr->stalls, acc->possdup_apps,
           ini->possdup_apps, (pr->now - T0) / SEC);
    if (pr->failure[0])
        fprintf(stderr, "  %s: %s\n", label, pr->failure);
    FL_CHECK(!pr->failure[0]);
    FL_CHECK(pr->now - T0 <= FAKE_TIME_LIMIT);
    /* Every order reached the acceptor's application once and in order, and every execution
     * report the initiator's. */
    FL_CHECK_INT(pr->orders_sent, pr->n_orders);
    FL_CHECK_INT(acc->app_next, pr->n_orders + 1);
    FL_CHECK_INT(ini->app_next, pr->n_orders + 1);
    /* Quiet and in step: logged on, nothing held, each expects what the other sends next. */
    FL_CHECK_INT(fl_session_state(ini->s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_state(acc->s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_inbound_queued(ini->s), 0);
    FL_CHECK_INT(fl_session_inbound_queued(acc->s), 0);
    FL_CHECK_INT(fl_session_outbound_queued(ini->s), 0);
    FL_CHECK_INT(fl_session_outbound_queued(acc->s), 0);
    FL_CHECK_INT(fl_session_next_target(ini->s), fl_session_next_sender(acc->s));
    FL_CHECK_INT(fl_session_next_target(acc->s), fl_session_next_sender(ini->s));
    FL_CHECK_INT(fl_store_next_target(ini_store), fl_session_next_target(ini->s));
    FL_CHECK_INT(fl_store_next_sender(acc_store), fl_session_next_sender(acc->s));
    ok = 1;
end:
    for (int i = 0; i < 2; i++) {
        fl_session_free(pr->side[i].s);
        free(pr->side[i].rx);
        fifo_clear(&pr->link[i]);
        free(pr->link[i].v);
    }
    free(pr);
    return ok ? 0 : -1;
}

FL_TEST(pair_memory_store)
{
    struct fl_store *a = NULL, *b = NULL;
    FL_CHECK(fl_store_mem_new(T0, &a) == FL_OK);
    FL_CHECK(fl_store_mem_new(T0, &b) == FL_OK);
    FL_CHECK(run_pair(a, b, "memory store") == 0);
end:
    fl_store_close(a);
    fl_store_close(b);
}

/* Removes the regular files of `dir` (journals and archived journals), then `dir`. */
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

FL_TEST(pair_file_store)
{
    char dir[] = "/tmp/fl_pair_XXXXXX";
    struct fl_store *a = NULL, *b = NULL;
    char err[256];
    int made = mkdtemp(dir) != NULL;
    FL_CHECK(made);
    FL_CHECK(fl_store_file_open(dir, "buy", FL_STORE_SYNC_NONE, T0, &a, err, sizeof err) == FL_OK);
    FL_CHECK(fl_store_file_open(dir, "sell", FL_STORE_SYNC_NONE, T0, &b, err, sizeof err) == FL_OK);
    FL_CHECK(run_pair(a, b, "file store") == 0);
end:
    fl_store_close(a);
    fl_store_close(b);
    if (made)
        remove_dir(dir);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(pair_memory_store);
    FL_RUN(pair_file_store);
    return FL_TEST_SUMMARY();
}
