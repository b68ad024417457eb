/* fixlua — TLS sessions over loopback: mutual TLS logon and trading, a server certificate the
 * initiator must not trust, an acceptor that requires a client certificate, clear errors for
 * bad files, and a failed handshake that does not poison the next attempt. Certificates are
 * test-only files in core/test/data/tls. */
#include "fl_test.h"

#include <time.h>

#include "fl_engine.h"

#define TLS_DIR FL_SOURCE_DIR "/core/test/data/tls/"
#define STR_EQ_(a, b) (strcmp((a), (b)) == 0)

struct seen {
    int app_in, logons, failed, down;
    char last_failure[320];
    char engine_log[512];
};

static void on_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m, int admin)
{
    (void)es;
    (void)m;
    if (!admin)
        ((struct seen *)ctx)->app_in++;
}

static void on_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    (void)es;
    if (ev->type == FL_EV_LOGON)
        ((struct seen *)ctx)->logons++;
}

static void on_transport(void *ctx, struct fl_engine_session *es, enum fl_transport_event ev,
                         const char *detail)
{
    struct seen *s = ctx;
    (void)es;
    if (ev == FL_TRANSPORT_CONNECT_FAILED) {
        s->failed++;
        snprintf(s->last_failure, sizeof s->last_failure, "%s", detail);
    } else if (ev == FL_TRANSPORT_DISCONNECTED) {
        s->down++;
        snprintf(s->last_failure, sizeof s->last_failure, "%s", detail);
    }
}

static void engine_log(void *ctx, const char *level, const char *text)
{
    struct seen *s = ctx;
    snprintf(s->engine_log, sizeof s->engine_log, "%s %s", level, text);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define RUN_UNTIL(cond, ms)                                                                  \
    do {                                                                                     \
        int64_t until_ = mono_ms() + (ms);                                                   \
        while (!(cond) && mono_ms() < until_) {                                              \
            int rc_ = fl_engine_run_once(ea, 0) | fl_engine_run_once(ei, 0);                 \
            (void)rc_;                                                                       \
        }                                                                                    \
    } while (0)

static int active(struct fl_engine_session *es)
{
    return es && fl_session_state(fl_engine_session_fsm(es)) == FL_STATE_ACTIVE;
}

struct pair {
    struct fl_engine *ea, *ei;
    struct fl_engine_session *acc, *ini;
    struct seen sa, si;
    char addr[64];
};

static int make_pair(struct pair *p, struct fl_tls_config acc_tls, struct fl_tls_config ini_tls,
                     char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    struct fl_engine_config ca = {.log = engine_log, .log_ctx = &p->sa};
    struct fl_engine_config ci = {.log = engine_log, .log_ctx = &p->si};
    if (fl_engine_new(&ca, &p->ea, err, errlen) != FL_OK ||
        fl_engine_new(&ci, &p->ei, err, errlen) != FL_OK)
        return -1;
    struct fl_engine_hooks ha = {.ctx = &p->sa, .on_message = on_message, .on_event = on_event,
                                 .on_transport = on_transport};
    struct fl_engine_hooks hi = ha;
    hi.ctx = &p->si;
    struct fl_engine_session_config a;
    memset(&a, 0, sizeof a);
    a.name = "exch";
    a.session.role = FL_ROLE_ACCEPTOR;
    a.session.begin_string = "FIX.4.4";
    a.session.sender_comp_id = "EXEC";
    a.session.target_comp_id = "CLIENT";
    a.session.heartbeat_interval = 30;
    a.listen = "127.0.0.1:0";
    a.tls = acc_tls;
    if (fl_engine_add_session(p->ea, &a, &ha, &p->acc, err, errlen) != FL_OK ||
        fl_engine_start(p->ea, err, errlen) != FL_OK)
        return -1;
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", fl_engine_session_port(p->acc));
    const char *list[] = {p->addr};
    struct fl_engine_session_config i = a;
    i.name = "client";
    i.session.role = FL_ROLE_INITIATOR;
    i.session.sender_comp_id = "CLIENT";
    i.session.target_comp_id = "EXEC";
    i.listen = NULL;
    i.connect = list;
    i.nconnect = 1;
    i.reconnect_interval = 1;
    i.tls = ini_tls;
    if (fl_engine_add_session(p->ei, &i, &hi, &p->ini, err, errlen) != FL_OK ||
        fl_engine_start(p->ei, err, errlen) != FL_OK)
        return -1;
    return 0;
}

static void free_pair(struct pair *p)
{
    fl_engine_free(p->ei);
    fl_engine_free(p->ea);
}

static struct fl_tls_config server_tls(int require_client)
{
    struct fl_tls_config t = {.enabled = 1, .cert = TLS_DIR "server.pem",
                              .key = TLS_DIR "server.key", .ca = TLS_DIR "ca.pem",
                              .verify_peer = require_client};
    return t;
}

static struct fl_tls_config client_tls(const char *ca, int with_cert)
{
    struct fl_tls_config t = {.enabled = 1, .ca = ca};
    if (with_cert) {
        t.cert = TLS_DIR "client.pem";
        t.key = TLS_DIR "client.key";
    }
    return t;
}

FL_TEST(mutual_tls_logon_and_trade)
{
    struct pair p;
    char err[256];
    FL_CHECK(make_pair(&p, server_tls(1), client_tls(TLS_DIR "ca.pem", 1), err, sizeof err) == 0);
    struct fl_engine *ea = p.ea, *ei = p.ei;
    RUN_UNTIL(active(p.acc) && active(p.ini), 5000);
    FL_CHECK(active(p.acc) && active(p.ini));
    for (int k = 0; k < 200; k++) {
        char body[32];
        int n = snprintf(body, sizeof body, "11=%d\00155=X\001", k);
        FL_CHECK(fl_engine_session_send(p.ini, "D", 1, NULL, 0, body, (size_t)n) == FL_OK);
    }
    RUN_UNTIL(p.sa.app_in == 200, 5000);
    FL_CHECK_INT(p.sa.app_in, 200);
end:
    free_pair(&p);
}

FL_TEST(untrusted_server_certificate_is_refused)
{
    struct pair p;
    char err[256];
    FL_CHECK(make_pair(&p, server_tls(0), client_tls(TLS_DIR "other.pem", 0), err, sizeof err) == 0);
    struct fl_engine *ea = p.ea, *ei = p.ei;
    RUN_UNTIL(p.si.failed >= 1, 5000);
    FL_CHECK(p.si.failed >= 1);
    FL_CHECK(strstr(p.si.last_failure, "certificate verify failed") != NULL);
    FL_CHECK_INT(p.sa.logons, 0);
end:
    free_pair(&p);
}

FL_TEST(acceptor_requires_client_certificate)
{
    struct pair p;
    char err[256];
    FL_CHECK(make_pair(&p, server_tls(1), client_tls(TLS_DIR "ca.pem", 0), err, sizeof err) == 0);
    struct fl_engine *ea = p.ea, *ei = p.ei;
    RUN_UNTIL(p.sa.engine_log[0] && (p.si.failed || p.si.down), 5000);
    FL_CHECK(strstr(p.sa.engine_log, "TLS") != NULL);
    FL_CHECK_INT(p.sa.logons, 0);
    FL_CHECK_INT(p.si.logons, 0);
end:
    free_pair(&p);
}

FL_TEST(failed_handshake_does_not_poison_reconnect)
{
    struct pair p;
    char err[256];
    /* the client first lacks its certificate (refused), then the acceptor relaxes... no: a
     * second initiator with the right certificate must still get in on the same listener. */
    FL_CHECK(make_pair(&p, server_tls(1), client_tls(TLS_DIR "ca.pem", 0), err, sizeof err) == 0);
    struct fl_engine *ea = p.ea, *ei = p.ei;
    RUN_UNTIL(p.sa.engine_log[0], 5000);
    FL_CHECK(p.sa.engine_log[0] != '\0');
    fl_engine_free(p.ei);
    p.ei = NULL;
    ei = NULL;
    struct fl_engine_config ci = {.log = engine_log, .log_ctx = &p.si};
    FL_CHECK(fl_engine_new(&ci, &p.ei, err, sizeof err) == FL_OK);
    ei = p.ei;
    struct fl_engine_hooks hi = {.ctx = &p.si, .on_event = on_event, .on_transport = on_transport};
    struct fl_engine_session_config i;
    memset(&i, 0, sizeof i);
    const char *list[] = {p.addr};
    i.name = "client2";
    i.session.role = FL_ROLE_INITIATOR;
    i.session.begin_string = "FIX.4.4";
    i.session.sender_comp_id = "CLIENT";
    i.session.target_comp_id = "EXEC";
    i.session.heartbeat_interval = 30;
    i.connect = list;
    i.nconnect = 1;
    i.tls = client_tls(TLS_DIR "ca.pem", 1);
    struct fl_engine_session *ini = NULL;
    FL_CHECK(fl_engine_add_session(p.ei, &i, &hi, &ini, err, sizeof err) == FL_OK);
    FL_CHECK(fl_engine_start(p.ei, err, sizeof err) == FL_OK);
    RUN_UNTIL(active(p.acc) && active(ini), 5000);
    FL_CHECK(active(ini));
end:
    free_pair(&p);
}

FL_TEST(bad_tls_files_give_clear_errors)
{
    struct fl_engine *e = NULL;
    char err[512];
    struct fl_engine_session *es = NULL;
    FL_CHECK(fl_engine_new(NULL, &e, err, sizeof err) == FL_OK);
    struct fl_engine_session_config a;
    memset(&a, 0, sizeof a);
    a.name = "exch";
    a.session.role = FL_ROLE_ACCEPTOR;
    a.session.begin_string = "FIX.4.4";
    a.session.sender_comp_id = "EXEC";
    a.session.target_comp_id = "CLIENT";
    a.listen = "127.0.0.1:0";
    a.tls = server_tls(0);
    a.tls.key = TLS_DIR "missing.key";
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_ETLS);
    FL_CHECK(strstr(err, "missing.key") != NULL);
    a.tls.key = TLS_DIR "other.key"; /* does not match server.pem */
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_ETLS);
    FL_CHECK(strstr(err, "does not match") != NULL);
    a.tls = server_tls(1);
    a.tls.ca = NULL;
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_EINVAL);
    FL_CHECK(strstr(err, "ca") != NULL);
    /* plain and TLS acceptors cannot share one address */
    a.tls = server_tls(0);
    FL_CHECK(fl_engine_add_session(e, &a, NULL, &es, err, sizeof err) == FL_OK);
    struct fl_engine_session_config b = a;
    b.name = "plain";
    b.session.target_comp_id = "OTHER";
    memset(&b.tls, 0, sizeof b.tls);
    FL_CHECK(fl_engine_add_session(e, &b, NULL, &es, err, sizeof err) == FL_EINVAL);
    FL_CHECK(strstr(err, "agree on TLS") != NULL);
end:
    fl_engine_free(e);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(mutual_tls_logon_and_trade);
    FL_RUN(untrusted_server_certificate_is_refused);
    FL_RUN(acceptor_requires_client_certificate);
    FL_RUN(failed_handshake_does_not_poison_reconnect);
    FL_RUN(bad_tls_files_give_clear_errors);
    return FL_TEST_SUMMARY();
}
