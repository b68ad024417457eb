/* fixlua — the engine over real sockets on 127.0.0.1 with port 0: logon through an acceptor
 * and an initiator in one process, application traffic both ways, routing by CompID with a
 * template for unknown CompIDs, reconnect after the acceptor restarts, messages queued before
 * logon, backpressure limits and a clean shutdown that logs sessions out. Bounded in time. */
#include "fl_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "fl_builder.h"
#include "fl_engine.h"
#include "fl_engine_int.h" /* the reader's buffer */

#define STR_EQ_(a, b) (strcmp((a), (b)) == 0)

struct counters {
    int app_in;
    int logons;
    int transport_up, transport_down, connect_failed;
    int created;
    size_t longest;     /* bytes of the longest application message received */
    size_t raw_bytes;   /* bytes shown to on_raw_inbound */
    size_t msg_bytes;   /* bytes of the messages received, admin ones included */
    char last_clordid[32];
    int burst;          /* messages to send from the callback that receives ClOrdID "burst" */
};

static void on_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m, int admin)
{
    struct counters *c = ctx;
    c->msg_bytes += m->len;
    if (admin)
        return;
    c->app_in++;
    if (m->len > c->longest)
        c->longest = m->len;
    const char *p;
    size_t n;
    if (fl_msg_get_str(m, 11, &p, &n) == FL_OK)
        snprintf(c->last_clordid, sizeof c->last_clordid, "%.*s", (int)n, p);
    if (c->burst && STR_EQ_(c->last_clordid, "burst")) {
        for (int k = 0; k < c->burst; k++) {
            char body[96];
            int bn = snprintf(body, sizeof body,
                              "11=%d\00155=IBM\00154=1\00138=100\00140=2\00144=101.25\001", k);
            if (fl_engine_session_send(es, "D", 1, NULL, 0, body, (size_t)bn) != FL_OK)
                break;
        }
    }
}

static void on_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    struct counters *c = ctx;
    (void)es;
    if (ev->type == FL_EV_LOGON)
        c->logons++;
}

static void on_transport(void *ctx, struct fl_engine_session *es, enum fl_transport_event ev,
                         const char *detail)
{
    struct counters *c = ctx;
    (void)es;
    (void)detail;
    if (ev == FL_TRANSPORT_CONNECTED)
        c->transport_up++;
    else if (ev == FL_TRANSPORT_DISCONNECTED)
        c->transport_down++;
    else
        c->connect_failed++;
}

static void on_raw(void *ctx, struct fl_engine_session *es, const char *p, size_t n)
{
    struct counters *c = ctx;
    (void)es;
    (void)p;
    c->raw_bytes += n;
}

static void on_created(void *ctx, struct fl_engine_session *t, struct fl_engine_session *created)
{
    struct counters *c = ctx;
    (void)t;
    (void)created;
    c->created++;
}

static struct fl_engine_hooks hooks_for(struct counters *c)
{
    struct fl_engine_hooks h = {.ctx = c, .on_message = on_message, .on_event = on_event,
                                .on_transport = on_transport, .on_session_created = on_created,
                                .on_raw_inbound = on_raw};
    return h;
}

static struct fl_engine_session_config session_cfg(const char *name, enum fl_session_role role,
                                                   const char *sender, const char *target)
{
    struct fl_engine_session_config c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.session.role = role;
    c.session.begin_string = "FIX.4.4";
    c.session.sender_comp_id = sender;
    c.session.target_comp_id = target;
    c.session.heartbeat_interval = 30;
    c.reconnect_interval = 1;
    return c;
}

/* Adds initiator `name` (SenderCompID `sender`, TargetCompID EXEC) connecting to loopback
 * port `port`; the engine copies the address. */
static int add_initiator(struct fl_engine *e, const char *name, const char *sender, int port,
                         const struct fl_engine_hooks *h, struct fl_engine_session **out,
                         char *err, size_t errlen)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *list[] = {addr};
    struct fl_engine_session_config i = session_cfg(name, FL_ROLE_INITIATOR, sender, "EXEC");
    i.connect = list;
    i.nconnect = 1;
    return fl_engine_add_session(e, &i, h, out, err, errlen);
}

/* Two engines: in ea the acceptor "exch" (EXEC, for CLIENT) on a loopback port, started; in ei
 * the initiator "client" connecting to it, not started yet (a test may queue sends first). */
static int open_pair(struct fl_engine **ea, struct fl_engine **ei,
                     const struct fl_engine_hooks *ha, const struct fl_engine_hooks *hi,
                     struct fl_engine_session **acc, struct fl_engine_session **ini)
{
    char err[256] = "";
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "CLIENT");
    a.listen = "127.0.0.1:0";
    if (fl_engine_new(NULL, ea, err, sizeof err) != FL_OK ||
        fl_engine_new(NULL, ei, err, sizeof err) != FL_OK ||
        fl_engine_add_session(*ea, &a, ha, acc, err, sizeof err) != FL_OK ||
        fl_engine_start(*ea, err, sizeof err) != FL_OK ||
        add_initiator(*ei, "client", "CLIENT", fl_engine_session_port(*acc), hi, ini, err,
                      sizeof err) != FL_OK) {
        fprintf(stderr, "open_pair: %s\n", err);
        return -1;
    }
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs both engines until cond() holds or the time limit passes. */
#define RUN_UNTIL(cond, ms)                                                                  \
    do {                                                                                     \
        int64_t until_ = mono_ms() + (ms);                                                   \
        while (!(cond) && mono_ms() < until_) {                                              \
            int rc_ = FL_OK;                                                                 \
            if (ea)                                                                          \
                rc_ |= fl_engine_run_once(ea, 0);                                            \
            if (ei)                                                                          \
                rc_ |= fl_engine_run_once(ei, 0);                                            \
            (void)rc_;                                                                       \
        }                                                                                    \
    } while (0)

static int active(struct fl_engine_session *es)
{
    return es && fl_engine_session_fsm(es) &&
           fl_session_state(fl_engine_session_fsm(es)) == FL_STATE_ACTIVE;
}

FL_TEST(logon_and_trade_over_loopback)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256];
    struct fl_engine_session *acc = NULL, *ini = NULL;
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    FL_CHECK(open_pair(&ea, &ei, &ha, &hi, &acc, &ini) == 0);
    FL_CHECK(fl_engine_session_port(acc) > 0);
    /* queued before logon */
    const char q[] = "11=queued\00155=IBM\001";
    FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, q, sizeof q - 1) == FL_OK);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(acc) && active(ini) && ca.app_in == 1, 3000);
    FL_CHECK(active(acc) && active(ini));
    FL_CHECK_INT(ca.app_in, 1);
    FL_CHECK(STR_EQ_(ca.last_clordid, "queued"));
    for (int k = 0; k < 1000; k++) {
        char body[64];
        int n = snprintf(body, sizeof body, "11=%d\00155=IBM\00154=1\00138=100\001", k);
        FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, body, (size_t)n) == FL_OK);
    }
    RUN_UNTIL(ca.app_in == 1001, 5000);
    FL_CHECK_INT(ca.app_in, 1001);
    FL_CHECK(STR_EQ_(ca.last_clordid, "999"));
    FL_CHECK_INT(fl_session_next_target(fl_engine_session_fsm(acc)), 1003);
    /* A message far larger than one read, and a small one right behind it in the same burst:
     * the reader keeps the partial frame, grows its buffer and loses nothing. */
    {
        size_t big = 300 * 1024;
        char *body = malloc(big + 64);
        FL_CHECK(body != NULL);
        int h = snprintf(body, 64, "11=big58=");
        memset(body + h, 'x', big);
        memcpy(body + h + big, "", 1);
        FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, body, (size_t)h + big + 1) == FL_OK);
        free(body);
        const char tail[] = "11=after55=IBM";
        FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, tail, sizeof tail - 1) == FL_OK);
        RUN_UNTIL(ca.app_in == 1003, 5000);
        FL_CHECK_INT(ca.app_in, 1003);
        FL_CHECK(ca.longest > big);
        FL_CHECK(STR_EQ_(ca.last_clordid, "after"));
        /* Every byte was shown to on_raw_inbound once, though the big frame took many reads. */
        FL_CHECK(ca.raw_bytes == ca.msg_bytes);
        /* ... and the reader gave the big buffer back once the frame was consumed. */
        FL_CHECK(acc->conn != NULL && acc->conn->in_cap <= 64 * 1024);
    }
    /* shutdown logs the initiator out; the acceptor answers and both drop */
    fl_engine_shutdown(ei, 2000);
    RUN_UNTIL(fl_engine_stopped(ei) && ca.transport_down == 1, 3000);
    FL_CHECK(fl_engine_stopped(ei));
    FL_CHECK_INT(ca.transport_down, 1);
    FL_CHECK_INT(fl_session_state(fl_engine_session_fsm(acc)), FL_STATE_DISCONNECTED);
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

FL_TEST(unknown_comp_id_routed_to_template)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256];
    struct fl_engine_session *tmpl = NULL, *ini = NULL, *other = NULL;
    FL_CHECK(fl_engine_new(NULL, &ea, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_new(NULL, &ei, err, sizeof err) == FL_OK);
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "*");
    a.listen = "127.0.0.1:0";
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    FL_CHECK(fl_engine_add_session(ea, &a, &ha, &tmpl, err, sizeof err) == FL_OK);
    struct fl_engine_session_config known = session_cfg("known", FL_ROLE_ACCEPTOR, "EXEC", "KNOWN");
    known.listen = "127.0.0.1:0";
    FL_CHECK(fl_engine_add_session(ea, &known, &ha, &other, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ea, err, sizeof err) == FL_OK);
    FL_CHECK(add_initiator(ei, "newbie", "NEWBIE", fl_engine_session_port(tmpl), &hi, &ini, err,
                           sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    struct fl_engine_session *made = NULL;
    RUN_UNTIL(active(ini) && (made = fl_engine_find_session(ea, "exch.NEWBIE")) && active(made), 3000);
    FL_CHECK(made != NULL);
    FL_CHECK(active(made));
    FL_CHECK_INT(ca.created, 1);
    FL_CHECK(STR_EQ_(fl_engine_session_config(made)->session.target_comp_id, "NEWBIE"));
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

FL_TEST(reconnect_after_acceptor_restart)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256], listen_addr[64];
    struct fl_engine_session *acc = NULL, *ini = NULL;
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    FL_CHECK(open_pair(&ea, &ei, &ha, &hi, &acc, &ini) == 0);
    int port = fl_engine_session_port(acc);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(acc) && active(ini), 3000);
    FL_CHECK(active(ini));
    /* the acceptor goes away */
    fl_engine_free(ea);
    ea = NULL;
    RUN_UNTIL(ci.transport_down >= 1, 3000);
    FL_CHECK_INT(ci.transport_down, 1);
    /* and comes back on the same port: the initiator reconnects and logs on again */
    FL_CHECK(fl_engine_new(NULL, &ea, err, sizeof err) == FL_OK);
    snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", port);
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "CLIENT");
    a.listen = listen_addr;
    FL_CHECK(fl_engine_add_session(ea, &a, &ha, &acc, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ea, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(acc) && active(ini), 5000);
    FL_CHECK(active(ini));
    FL_CHECK(ci.logons >= 2);
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

FL_TEST(connect_failure_gives_up_after_max_tries)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ci = {0};
    char err[256];
    struct fl_engine_session *ini = NULL;
    struct fl_engine_config ec = {.manual_clock = 1};
    FL_CHECK(fl_engine_new(&ec, &ei, err, sizeof err) == FL_OK);
    /* nothing listens on port 1 of loopback */
    const char *list[] = {"127.0.0.1:1", "127.0.0.1:2"};
    struct fl_engine_session_config i = session_cfg("client", FL_ROLE_INITIATOR, "CLIENT", "EXEC");
    i.connect = list;
    i.nconnect = 2;
    i.max_connect_tries = 3;
    struct fl_engine_hooks hi = hooks_for(&ci);
    FL_CHECK(fl_engine_add_session(ei, &i, &hi, &ini, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    for (int k = 0; k < 10; k++) {
        RUN_UNTIL(ci.connect_failed > k, 1000);
        FL_CHECK(fl_engine_advance(ei, 2 * INT64_C(1000000000)) == FL_OK);
    }
    FL_CHECK_INT(ci.connect_failed, 3);
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

FL_TEST(bad_session_configs_are_refused)
{
    struct fl_engine *e = NULL;
    char err[256];
    struct fl_engine_session *es = NULL;
    FL_CHECK(fl_engine_new(NULL, &e, err, sizeof err) == FL_OK);
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "CLIENT");
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_EINVAL);
    FL_CHECK(strstr(err, "listen") != NULL);
    a.listen = "127.0.0.1:0";
    a.name = "../x";
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_EINVAL);
    a.name = "exch";
    a.session.begin_string = "FIX.9.9";
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_EINVAL);
    FL_CHECK(strstr(err, "begin_string") != NULL);
    a.session.begin_string = "FIX.4.4";
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_EINVAL);
    FL_CHECK(strstr(err, "twice") != NULL);
    struct fl_engine_session_config b = session_cfg("other", FL_ROLE_ACCEPTOR, "EXEC", "X");
    b.listen = "not-an-address";
    FL_CHECK(fl_engine_add_session(e, &b, NULL, &es, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(e, err, sizeof err) != FL_OK);
    FL_CHECK(strstr(err, "not-an-address") != NULL);
end:
    fl_engine_free(e);
}

static void count_timer(void *ctx, uint64_t id)
{
    (void)id;
    (*(int *)ctx)++;
}

FL_TEST(manual_clock_timers)
{
    struct fl_engine *e = NULL;
    char err[64];
    int once = 0, every = 0;
    struct fl_engine_config ec = {.manual_clock = 1, .start_time = INT64_C(1000000000000)};
    FL_CHECK(fl_engine_new(&ec, &e, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_now(e) == INT64_C(1000000000000));
    FL_CHECK(fl_engine_timer_add(e, 1500000000, 0, count_timer, &once) > 0);
    uint64_t id = fl_engine_timer_add(e, 1000000000, 1000000000, count_timer, &every);
    FL_CHECK(fl_engine_advance(e, 999999999) == FL_OK);
    FL_CHECK_INT(once + every, 0);
    FL_CHECK(fl_engine_advance(e, 1) == FL_OK);
    FL_CHECK_INT(every, 1);
    FL_CHECK(fl_engine_advance(e, 5000000000) == FL_OK);
    FL_CHECK_INT(once, 1);
    FL_CHECK_INT(every, 6);
    fl_engine_timer_cancel(e, id);
    FL_CHECK(fl_engine_advance(e, 5000000000) == FL_OK);
    FL_CHECK_INT(every, 6);
end:
    fl_engine_free(e);
}


/* Timers due at one instant run oldest first, and a callback may cancel a timer of the same
 * burst (it then does not run) or add one that is due already (it runs in the same advance). */
struct burst {
    struct fl_engine *e;
    uint64_t ran[64];
    int nran;
    uint64_t trigger, victim;
};

static void burst_timer(void *ctx, uint64_t id)
{
    struct burst *b = ctx;
    if (b->nran < 64)
        b->ran[b->nran++] = id;
    if (id == b->trigger) {
        fl_engine_timer_cancel(b->e, b->victim);
        fl_engine_timer_add(b->e, 0, 0, burst_timer, b);
    }
}

FL_TEST(timers_due_together_run_oldest_first)
{
    struct fl_engine *e = NULL;
    char err[64];
    struct burst b = {.nran = 0};
    struct fl_engine_config ec = {.manual_clock = 1, .start_time = INT64_C(1000000000000)};
    FL_CHECK(fl_engine_new(&ec, &e, err, sizeof err) == FL_OK);
    b.e = e;
    uint64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = fl_engine_timer_add(e, 1000, 0, burst_timer, &b);
    b.trigger = ids[1];
    b.victim = ids[3];
    FL_CHECK(fl_engine_advance(e, 1000) == FL_OK);
    /* 1st, 2nd (cancels the 4th, adds a 6th), 3rd, 5th, then the 6th: due at the same instant,
     * made last */
    FL_CHECK_INT(b.nran, 5);
    uint64_t want[5] = {ids[0], ids[1], ids[2], ids[4], ids[4] + 1};
    for (int i = 0; i < 5; i++)
        FL_CHECK(b.ran[i] == want[i]);
end:
    fl_engine_free(e);
}

/* A TCP connection to 127.0.0.1:port that sends nothing; -1 on failure. */
static int silent_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* 1 once the peer has closed fd (recv gives 0 or an error other than "nothing yet"). */
static int closed_by_peer(int fd)
{
    char b[16];
    ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void count_log(void *ctx, const char *level, const char *text)
{
    (void)level;
    if (strstr(text, "no Logon within") || strstr(text, "already waiting for their Logon"))
        ++*(int *)ctx;
}

/* Connections that never send a Logon are dropped after logon_wait_ms, and no more than
 * max_unrouted wait at once, so they cannot keep a counterparty out for longer than that. */
FL_TEST(silent_connections_are_dropped_and_bounded)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256];
    struct fl_engine_session *acc = NULL, *ini = NULL;
    int logged = 0, fds[4] = {-1, -1, -1, -1};
    struct fl_engine_config cfg = {.logon_wait_ms = 3000, .max_unrouted = 3, .log = count_log,
                                   .log_ctx = &logged};
    FL_CHECK(fl_engine_new(&cfg, &ea, err, sizeof err) == FL_OK);
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "CLIENT");
    a.listen = "127.0.0.1:0";
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    FL_CHECK(fl_engine_add_session(ea, &a, &ha, &acc, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ea, err, sizeof err) == FL_OK);
    int port = fl_engine_session_port(acc);
    for (int k = 0; k < 4; k++)
        FL_CHECK((fds[k] = silent_connect(port)) >= 0);
    /* The fourth is refused at once: three already wait. */
    RUN_UNTIL(closed_by_peer(fds[3]), 2000);
    FL_CHECK(closed_by_peer(fds[3]));
    FL_CHECK_INT(logged, 1);
    FL_CHECK(!closed_by_peer(fds[0]) && !closed_by_peer(fds[2]));
    /* Past the wait the three are dropped; a real counterparty, turned away while they held
     * every place, gets in on its next try. */
    FL_CHECK(fl_engine_new(NULL, &ei, err, sizeof err) == FL_OK);
    FL_CHECK(add_initiator(ei, "client", "CLIENT", port, &hi, &ini, err,
                           sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(closed_by_peer(fds[0]) && closed_by_peer(fds[1]) && closed_by_peer(fds[2]) &&
                  active(acc),
              8000);
    for (int k = 0; k < 3; k++)
        FL_CHECK(closed_by_peer(fds[k]));
    FL_CHECK_INT(logged, 4);
    FL_CHECK(active(acc) && active(ini));
    FL_CHECK(ea->unrouted == 0);
end:
    for (int k = 0; k < 4; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    fl_engine_free(ei);
    fl_engine_free(ea);
}

static int skip_default;
static int schedule_calls;
static int on_schedule(void *ctx, struct fl_engine_session *es, int start)
{
    (void)ctx;
    (void)es;
    (void)start;
    schedule_calls++;
    return !skip_default;
}

/* Schedule end logs out and resets both sequence numbers; the initiator stays away until the
 * window opens again; a hook may skip the default. */
FL_TEST(schedule_end_logs_out_and_resets)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256];
    struct fl_engine_session *acc = NULL, *ini = NULL;
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    hi.on_schedule = on_schedule;
    FL_CHECK(open_pair(&ea, &ei, &ha, &hi, &acc, &ini) == 0);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(acc) && active(ini), 3000);
    FL_CHECK(active(ini));
    const char q[] = "11=x\00155=IBM\001";
    FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, q, sizeof q - 1) == FL_OK);
    RUN_UNTIL(ca.app_in == 1, 3000);
    FL_CHECK(fl_session_next_sender(fl_engine_session_fsm(ini)) > 2);
    fl_engine_session_schedule_event(ini, 0);
    RUN_UNTIL(ci.transport_down == 1 && ca.transport_down == 1, 3000);
    FL_CHECK_INT(schedule_calls, 1);
    /* the acceptor shares the schedule: disconnected already, it resets at once */
    fl_engine_session_schedule_event(acc, 0);
    FL_CHECK_INT(fl_session_next_target(fl_engine_session_fsm(acc)), 1);
    FL_CHECK_INT(fl_session_next_sender(fl_engine_session_fsm(ini)), 1);
    FL_CHECK_INT(fl_session_next_target(fl_engine_session_fsm(ini)), 1);
    /* out of window: no reconnect even after the interval */
    int64_t until = mono_ms() + 1500;
    while (mono_ms() < until) {
        if (fl_engine_run_once(ea, 0) != FL_OK || fl_engine_run_once(ei, 0) != FL_OK)
            break;
    }
    FL_CHECK(!fl_engine_session_connected(ini));
    /* skipping the default leaves everything as it is */
    skip_default = 1;
    fl_engine_session_schedule_event(ini, 1);
    FL_CHECK(!fl_engine_session_connected(ini));
    skip_default = 0;
    fl_engine_session_schedule_event(acc, 1);
    fl_engine_session_schedule_event(ini, 1);
    RUN_UNTIL(ci.logons == 2, 3000);
    FL_CHECK_INT(ci.logons, 2);
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

/* A callback's burst leaves as one batch written at once; with small socket buffers the kernel
 * takes only part of it and the rest waits in the output queue. The peer gets every message
 * once and in order: its session would see a gap or a repeat in the sequence numbers. */
FL_TEST(burst_larger_than_socket_buffers_arrives_whole)
{
    struct fl_engine *ea = NULL, *ei = NULL;
    struct counters ca = {0}, ci = {0};
    char err[256];
    struct fl_engine_session *acc = NULL, *ini = NULL;
    enum { BURST = 20000 };
    ca.burst = BURST;
    struct fl_engine_hooks ha = hooks_for(&ca), hi = hooks_for(&ci);
    FL_CHECK(open_pair(&ea, &ei, &ha, &hi, &acc, &ini) == 0);
    FL_CHECK(fl_engine_start(ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(acc) && active(ini), 3000);
    FL_CHECK(active(acc) && active(ini));
    int small = 64 * 1024;
    FL_CHECK(setsockopt(bufferevent_getfd(acc->conn->bev), SOL_SOCKET, SO_SNDBUF, &small,
                        sizeof small) == 0);
    FL_CHECK(setsockopt(bufferevent_getfd(ini->conn->bev), SOL_SOCKET, SO_RCVBUF, &small,
                        sizeof small) == 0);
    const char go[] = "11=burst\00155=IBM\001";
    FL_CHECK(fl_engine_session_send(ini, "D", 1, NULL, 0, go, sizeof go - 1) == FL_OK);
    /* The acceptor alone until it has answered: the whole burst is then written or queued. */
    int64_t until = mono_ms() + 3000;
    while (ca.app_in == 0 && mono_ms() < until) {
        int rc = fl_engine_run_once(ei, 0) | fl_engine_run_once(ea, 0);
        (void)rc;
    }
    FL_CHECK_INT(ca.app_in, 1);
    FL_CHECK(fl_engine_session_output_queued(acc) > 0); /* the kernel did not take it all */
    RUN_UNTIL(ci.app_in == BURST, 20000);
    FL_CHECK_INT(ci.app_in, BURST);
    FL_CHECK(STR_EQ_(ci.last_clordid, "19999"));
    FL_CHECK(active(acc) && active(ini));
    FL_CHECK_INT(fl_session_next_target(fl_engine_session_fsm(ini)), BURST + 2);
    FL_CHECK_INT(fl_engine_session_output_queued(acc), 0);
end:
    fl_engine_free(ei);
    fl_engine_free(ea);
}

/* A FIX.4.4 frame from CLIENT to EXEC with SendingTime now, into dst (at least 512 bytes). */
static size_t client_frame(char *dst, const char *type, int seq, const char *body)
{
    struct fl_builder b;
    fl_builder_init(&b);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *out = NULL;
    size_t n = 0;
    if (fl_builder_begin(&b, "FIX.4.4", type, strlen(type)) == FL_OK) {
        fl_builder_add_int(&b, 34, seq);
        fl_builder_add_cstr(&b, 49, "CLIENT");
        fl_builder_add_utc_timestamp(&b, 52, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, 3);
        fl_builder_add_cstr(&b, 56, "EXEC");
        fl_builder_add_raw(&b, body, strlen(body));
        if (fl_builder_finish(&b, &out, &n) != FL_OK || n > 512)
            n = 0;
        else
            memcpy(dst, out, n);
    }
    fl_builder_release(&b);
    return n;
}

/* An engine with the acceptor "exch" and a raw client socket logged on to it (the client's
 * next MsgSeqNum is 2): 0, or -1. */
static int open_raw_client_session(struct fl_engine **ea, struct counters *ca,
                                   struct fl_engine_session **acc, int *fd)
{
    char err[256] = "", frame[512];
    struct fl_engine_session_config a = session_cfg("exch", FL_ROLE_ACCEPTOR, "EXEC", "CLIENT");
    a.listen = "127.0.0.1:0";
    struct fl_engine_hooks ha = hooks_for(ca);
    if (fl_engine_new(NULL, ea, err, sizeof err) != FL_OK ||
        fl_engine_add_session(*ea, &a, &ha, acc, err, sizeof err) != FL_OK ||
        fl_engine_start(*ea, err, sizeof err) != FL_OK) {
        fprintf(stderr, "open_raw_client_session: %s\n", err);
        return -1;
    }
    *fd = silent_connect(fl_engine_session_port(*acc));
    size_t n = client_frame(frame, "A", 1, "98=0\001108=30\001");
    if (*fd < 0 || n == 0 || send(*fd, frame, n, 0) != (ssize_t)n)
        return -1;
    int64_t until = mono_ms() + 3000;
    while (!active(*acc) && mono_ms() < until) {
        int rc = fl_engine_run_once(*ea, 0);
        (void)rc;
    }
    return active(*acc) ? 0 : -1;
}

/* Runs ea while reading fd into buf (up to cap): returns what the last recv() said once the
 * peer ended the stream (0: a clean end, -1: an error, errno set), or -2 after `ms`. */
static ssize_t read_until_end(struct fl_engine *ea, int fd, char *buf, size_t cap, size_t *len,
                              int ms)
{
    int64_t until = mono_ms() + ms;
    while (mono_ms() < until) {
        int rc = fl_engine_run_once(ea, 0);
        (void)rc;
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);
        if (r > 0) {
            *len += (size_t)r;
            buf[*len] = 0;
        } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return r;
        }
    }
    return -2;
}

/* A Logout sent while the peer is still sending ends the connection cleanly: our side is shut
 * down after the Logout and the peer's bytes are read and dropped, where closing with them
 * unread would make the kernel reset the connection (and a reset can destroy the Logout). */
FL_TEST(logout_to_a_peer_still_sending_ends_without_a_reset)
{
    struct fl_engine *ea = NULL;
    struct counters ca = {0};
    char frame[512], got[8192] = "";
    struct fl_engine_session *acc = NULL;
    int fd = -1;
    char *junk = NULL;
    FL_CHECK(open_raw_client_session(&ea, &ca, &acc, &fd) == 0);
    /* MsgSeqNum 1 again, without PossDupFlag: Logout and disconnect; 256 KB behind it that
     * the engine never reads as FIX. */
    size_t n = client_frame(frame, "0", 1, "");
    FL_CHECK(n > 0 && send(fd, frame, n, 0) == (ssize_t)n);
    size_t junk_len = 256 * 1024;
    junk = malloc(junk_len);
    FL_CHECK(junk != NULL);
    memset(junk, 'x', junk_len);
    FL_CHECK(send(fd, junk, junk_len, MSG_DONTWAIT) > 0);
    size_t len = 0;
    ssize_t last = read_until_end(ea, fd, got, sizeof got, &len, 5000);
    FL_CHECK(strstr(got, "\00135=5\001") != NULL);
    FL_CHECK(strstr(got, "MsgSeqNum too low") != NULL);
    FL_CHECK_INT(last, 0); /* our end of stream, not ECONNRESET */
end:
    free(junk);
    if (fd >= 0)
        close(fd);
    fl_engine_free(ea);
}

/* A shutdown waits for its connections to end cleanly: after the logout, the engine stops only
 * once the peer has closed too (or the grace period is over), so the socket is never closed
 * with the peer's bytes unread (a reset). */
FL_TEST(shutdown_waits_for_the_peer_to_close)
{
    struct fl_engine *ea = NULL;
    struct counters ca = {0};
    char frame[512], got[8192] = "";
    struct fl_engine_session *acc = NULL;
    int fd = -1;
    FL_CHECK(open_raw_client_session(&ea, &ca, &acc, &fd) == 0);
    fl_engine_shutdown(ea, 10000);
    size_t len = 0;
    int64_t until = mono_ms() + 3000;
    while (!strstr(got, "\00135=5\001") && mono_ms() < until) {
        int rc = fl_engine_run_once(ea, 0);
        (void)rc;
        ssize_t r = recv(fd, got + len, sizeof got - 1 - len, MSG_DONTWAIT);
        if (r > 0)
            got[len += (size_t)r] = 0;
    }
    FL_CHECK(strstr(got, "\00135=5\001") != NULL);
    /* our answer to their Logout, and the peer keeps its side open a while */
    size_t n = client_frame(frame, "5", 2, "");
    FL_CHECK(n > 0 && send(fd, frame, n, 0) == (ssize_t)n);
    until = mono_ms() + 300;
    while (mono_ms() < until) {
        int rc = fl_engine_run_once(ea, 0);
        (void)rc;
    }
    FL_CHECK(!fl_engine_stopped(ea));
    FL_CHECK(fl_engine_session_fsm(acc) &&
             fl_session_state(fl_engine_session_fsm(acc)) == FL_STATE_DISCONNECTED);
    close(fd);
    fd = -1;
    until = mono_ms() + 3000;
    while (!fl_engine_stopped(ea) && mono_ms() < until) {
        int rc = fl_engine_run_once(ea, 0);
        (void)rc;
    }
    FL_CHECK(fl_engine_stopped(ea));
end:
    if (fd >= 0)
        close(fd);
    fl_engine_free(ea);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(logon_and_trade_over_loopback);
    FL_RUN(unknown_comp_id_routed_to_template);
    FL_RUN(reconnect_after_acceptor_restart);
    FL_RUN(connect_failure_gives_up_after_max_tries);
    FL_RUN(bad_session_configs_are_refused);
    FL_RUN(manual_clock_timers);
    FL_RUN(timers_due_together_run_oldest_first);
    FL_RUN(silent_connections_are_dropped_and_bounded);
    FL_RUN(schedule_end_logs_out_and_resets);
    FL_RUN(burst_larger_than_socket_buffers_arrives_whole);
    FL_RUN(logout_to_a_peer_still_sending_ends_without_a_reset);
    FL_RUN(shutdown_waits_for_the_peer_to_close);
    return FL_TEST_SUMMARY();
}
