/* fixlua — the engine's sockets: listen, accept, connect, read, write and close.
 *
 * Reads go straight to the session (fl_session_on_bytes) from the bufferevent's input buffer;
 * what the session does not consume (an incomplete frame) stays there for the next read. An
 * accepted connection belongs to no session until its first frame, a Logon, is routed by
 * CompIDs. Closing is deferred until the output drains (bounded by a timer), because the last
 * bytes a session sends before it disconnects (a Logout, a Reject) must reach the peer. */
#include "fl_engine_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "fl_frame.h"
#include "fl_msg.h"

/* How long a closing connection may take to flush its output. */
#define CLOSE_FLUSH_NS (2 * INT64_C(1000000000))
/* How long a closed connection waits for the peer to close its side after ours was shut down. */
#define CLOSE_LINGER_NS (2 * INT64_C(1000000000))
/* Bytes an accepted connection may send before its first frame is complete. */
#define MAX_UNROUTED_BYTES (64u * 1024u)
/* An accepted connection must route (its first Logon names a session) within a time, and only
 * so many may wait at once (fl_engine_config): a peer that connects and says nothing, or a
 * flood of them, would otherwise hold sockets until the process runs out of descriptors and
 * real counterparties are refused. */
#define DEFAULT_LOGON_WAIT_MS 10000
#define DEFAULT_MAX_UNROUTED 512

static int logon_wait_ms(const struct fl_engine *e)
{
    return e->cfg.logon_wait_ms > 0 ? e->cfg.logon_wait_ms : DEFAULT_LOGON_WAIT_MS;
}
/* Direct reads: the first buffer, and the free space below which it doubles first. */
#define DIRECT_READ_INITIAL (16u * 1024u)
#define DIRECT_READ_MIN (4u * 1024u)
/* Above this, the buffer goes back to DIRECT_READ_INITIAL once what it holds fits there: one
 * large message must not pin its memory for the connection's life. */
#define DIRECT_READ_KEEP (64u * 1024u)

int fl_parse_host_port(const char *addr, char *host, size_t hostcap, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return FL_EINVAL;
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') { /* [::1]:9878 */
        addr++;
        hl -= 2;
    }
    if (hl + 1 > hostcap)
        return FL_EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return FL_EINVAL;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *port = (int)p;
    return FL_OK;
}

static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char *errbuf,
                   size_t errlen)
{
    char host[256];
    int port;
    if (fl_parse_host_port(addr, host, sizeof host, &port) != FL_OK) {
        snprintf(errbuf, errlen, "'%s' is not host:port", addr);
        return FL_EINVAL;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errbuf, errlen, "cannot resolve '%s': %s", addr, gai_strerror(rc));
        return FL_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return FL_OK;
}

static void describe_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static void set_nodelay(struct bufferevent *bev)
{
    int one = 1;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void fl_conn_free(struct conn *c)
{
    struct fl_engine *e = c->e;
    for (struct conn **pp = &e->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    fl_engine_timer_cancel(e, c->close_timer);
    fl_engine_timer_cancel(e, c->connect_timer);
    fl_engine_timer_cancel(e, c->route_timer);
    if (c->unrouted)
        e->unrouted--;
    if (c->es && c->es->conn == c)
        c->es->conn = NULL;
    if (c->flush_ev)
        event_free(c->flush_ev);
    if (c->read_ev)
        event_free(c->read_ev);
    free(c->in);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

/* The connection is gone for the session: tell it and its hooks, and plan a reconnect. */
static void detach_session(struct conn *c, const char *why)
{
    struct fl_engine_session *es = c->es;
    if (!es)
        return;
    c->es = NULL;
    es->conn = NULL;
    /* An initiator's connection that ended before its logon completed is a failed attempt:
     * it counts towards max_connect_tries, and the next attempt goes to the next host. */
    if (es->cfg.session.role == FL_ROLE_INITIATOR && !es->logged_on) {
        es->failed_tries++;
        if (es->cfg.nconnect)
            es->connect_index = (es->connect_index + 1) % es->cfg.nconnect;
    }
    es->logged_on = 0;
    fl_session_on_disconnect(es->fsm, fl_engine_now(es->e));
    /* The queue went with the connection: a script paused on backpressure hears it is over. */
    if (es->above_watermark) {
        es->above_watermark = 0;
        if (es->hooks.on_backpressure)
            es->hooks.on_backpressure(es->hooks.ctx, es, 0);
    }
    if (es->reset_when_disconnected) {
        /* Not from here: the session may still be inside its own callback stack. */
        es->reset_when_disconnected = 0;
        fl_engine_timer_cancel(es->e, es->reset_timer);
        es->reset_timer = fl_engine_timer_add(es->e, 0, 0, fl_engine_session_reset_timer, es);
    }
    char text[256];
    snprintf(text, sizeof text, "disconnected from %s: %s", c->peer, why);
    fl_engine_log_event(es, "INFO", text);
    if (es->hooks.on_transport)
        es->hooks.on_transport(es->hooks.ctx, es, FL_TRANSPORT_DISCONNECTED, why);
    fl_engine_session_schedule_reconnect(es);
    fl_engine_session_forget_if_refused(es);
    fl_engine_check_shutdown_done(c->e);
}

static void close_now_timer(void *ctx, uint64_t id)
{
    struct conn *c = ctx;
    struct fl_engine *e = c->e;
    (void)id;
    c->close_timer = 0;
    fl_conn_free(c);
    fl_engine_check_shutdown_done(e); /* a shutdown may have waited for this one */
}

static void close_soon(struct conn *c, int64_t delay)
{
    fl_engine_timer_cancel(c->e, c->close_timer);
    c->close_timer = fl_engine_timer_add(c->e, delay, 0, close_now_timer, c);
}

/* Everything queued is written: the connection may end. Closing a socket whose peer's bytes
 * are still unread makes the kernel answer with a reset, which can overtake and destroy what we
 * wrote last (a Logout and its reason, while the peer was still sending). So a plain socket is
 * shut down for writing, which sends our end of stream after the data, and what the peer still
 * sends is read and dropped until it closes too, or CLOSE_LINGER_NS pass. */
static void close_when_written(struct conn *c)
{
    evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
    if (c->direct && c->read_ev && fd >= 0 && !c->lingering && shutdown(fd, SHUT_WR) == 0 &&
        event_add(c->read_ev, NULL) == 0) {
        c->lingering = 1;
        close_soon(c, CLOSE_LINGER_NS);
        return;
    }
    close_soon(c, 0);
}

void fl_conn_close(struct conn *c, int flush_first, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->read_ev)
        event_del(c->read_ev);
    if (c->bev) {
        bufferevent_disable(c->bev, EV_READ);
        if (flush_first && evbuffer_get_length(bufferevent_get_output(c->bev)))
            bufferevent_enable(c->bev, EV_WRITE); /* the write callback frees it once drained */
    }
    detach_session(c, why ? why : "closed");
    /* Freed from a timer, never from inside this call: callers may still be on its stack. */
    if (!flush_first || !c->bev)
        close_soon(c, 0);
    else if (evbuffer_get_length(bufferevent_get_output(c->bev)))
        close_soon(c, CLOSE_FLUSH_NS); /* on_write() goes on once it is written */
    else
        close_when_written(c);
}

/* Some of the output was written: the application hears when the queue is down to half its
 * high watermark after being above it (on_backpressure with 0), and a resend paced by the
 * transport goes on. */
static void note_written(struct conn *c)
{
    struct fl_engine_session *es = c->es;
    if (!es)
        return;
    if (es->above_watermark && fl_conn_output_len(c) <= es->cfg.output_high_watermark / 2) {
        es->above_watermark = 0;
        if (es->hooks.on_backpressure)
            es->hooks.on_backpressure(es->hooks.ctx, es, 0);
    }
    es = c->es; /* the hook may have closed the connection */
    if (es)
        fl_session_on_writable(es->fsm, fl_engine_now(c->e));
}

/* Writes what is queued, at the end of the loop iteration that queued it: every message a
 * batch produced leaves in one writev, and the socket's write interest is armed (an epoll_ctl
 * each way) only when the kernel does not take everything. TLS keeps libevent's own path. */
static void conn_flush(struct conn *c)
{
    if (!c->bev || !c->direct)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0) {
        /* A bufferevent keeps its output's front frozen so only it drains it; do what its
         * own write callback does. */
        evbuffer_unfreeze(out, 1);
        (void)evbuffer_write(out, fd);
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out))
        bufferevent_enable(c->bev, EV_WRITE);
    else
        note_written(c); /* written whole: no write callback will come to say so */
}

static void on_flush_event(evutil_socket_t fd, short what, void *ctx)
{
    struct conn *c = ctx;
    (void)fd;
    (void)what;
    c->flush_pending = 0;
    conn_flush(c);
}

size_t fl_conn_write(struct conn *c, const char *p, size_t n, int at_once)
{
    if (!c->bev || c->closing)
        return 0;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (at_once && c->direct && !c->flush_pending && evbuffer_get_length(out) == 0) {
        /* Nothing is queued before it, so the bytes may go now, straight from the caller's
         * buffer: no copy into the evbuffer. Whatever the kernel does not take (or a failure,
         * which the flush below meets again and reports as it always does) is queued. */
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        ssize_t w = fd >= 0 ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
        if (w > 0) {
            if ((size_t)w == n)
                return 0;
            p += w;
            n -= (size_t)w;
        }
    }
    evbuffer_add(out, p, n);
    if (c->direct && !c->flush_pending) {
        /* Written at the end of this loop iteration (or the next one, when sent from outside
         * the loop), so a burst of sends leaves in one writev. */
        c->flush_pending = 1;
        event_active(c->flush_ev, 0, 0);
    }
    return evbuffer_get_length(out);
}

static void on_direct_read(evutil_socket_t fd, short what, void *ctx);

/* Plain sockets switch to direct writes and reads once connected. */
static void make_direct(struct conn *c)
{
    if (bufferevent_openssl_get_ssl(c->bev))
        return;
    c->flush_ev = event_new(c->e->base, -1, 0, on_flush_event, c);
    if (!c->flush_ev)
        return;
    c->direct = 1;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        bufferevent_disable(c->bev, EV_WRITE);
    /* Reading switches only while the bufferevent holds no input (it has read nothing yet);
     * otherwise it keeps reading, which is merely slower. */
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd < 0 || evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
        return;
    c->read_ev = event_new(c->e->base, fd, EV_READ | EV_PERSIST, on_direct_read, c);
    if (!c->read_ev)
        return;
    if (event_add(c->read_ev, NULL) != 0) {
        event_free(c->read_ev);
        c->read_ev = NULL;
        return;
    }
    bufferevent_disable(c->bev, EV_READ);
}

size_t fl_conn_output_len(const struct conn *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

/* First frame of an accepted connection: find its session by the Logon's CompIDs. */
static int route(struct conn *c, const char *p, size_t n)
{
    struct fl_frame f;
    enum fl_frame_status st = fl_frame_scan(p, n, MAX_UNROUTED_BYTES, &f);
    if (st == FL_FRAME_NEED_MORE)
        return n > MAX_UNROUTED_BYTES ? -1 : 0;
    if (st != FL_FRAME_OK)
        return -1;
    struct fl_msg m;
    fl_msg_init(&m);
    int found = -1;
    const char *sender, *target;
    size_t sn, tn;
    if (fl_msg_parse(&m, p, f.len) == FL_OK && fl_msg_get_str(&m, 49, &sender, &sn) == FL_OK &&
        fl_msg_get_str(&m, 56, &target, &tn) == FL_OK) {
        /* Their SenderCompID is our TargetCompID and the other way round. */
        struct fl_engine_session *es = fl_engine_route_logon(c->e, c->l, target, tn, sender, sn);
        if (es && !es->conn) {
            c->es = es;
            es->conn = c;
            found = 1;
        }
    }
    fl_msg_release(&m);
    return found;
}

/* Hands p[0..n) to the connection's session (routing an acceptor's first Logon first).
 * Returns the bytes consumed; the caller keeps the rest for the next read. Nothing more is
 * read from p once the connection closes. */
static size_t feed(struct conn *c, const char *p, size_t n)
{
    if (c->closing)
        return 0;
    if (!c->es) {
        int r = route(c, p, n);
        if (r < 0) {
            fl_engine_log(c->e, "WARN", "connection from %s refused: first message is not a Logon "
                          "for a configured session", c->peer);
            fl_conn_close(c, 0, "first message is not a Logon for a configured session");
            return 0;
        }
        if (r == 0)
            return 0;
        fl_engine_timer_cancel(c->e, c->route_timer);
        c->route_timer = 0;
        c->unrouted = 0;
        c->e->unrouted--;
        char text[160];
        snprintf(text, sizeof text, "accepted connection from %s", c->peer);
        fl_engine_log_event(c->es, "INFO", text);
        fl_session_on_connect(c->es->fsm, fl_engine_now(c->e));
        if (c->es->hooks.on_transport)
            c->es->hooks.on_transport(c->es->hooks.ctx, c->es, FL_TRANSPORT_CONNECTED, c->peer);
        if (c->closing || !c->es)
            return 0; /* the script closed it from on_connect: the input went with it */
    }
    /* Each byte reaches on_raw_inbound once, when it arrives (or when its connection is
     * routed), however frames are split across reads: p[0, raw_seen) were shown already. */
    struct fl_engine_session *es = c->es;
    if (es->hooks.on_raw_inbound && n > c->raw_seen) {
        es->hooks.on_raw_inbound(es->hooks.ctx, es, p + c->raw_seen, n - c->raw_seen);
        if (c->closing)
            return n;
    }
    c->raw_seen = n;
    size_t done = 0;
    while (!c->closing && c->es && done < n) {
        size_t used = fl_session_on_bytes(c->es->fsm, p + done, n - done, fl_engine_now(c->e));
        if (c->closing)
            return n; /* the input went with the connection */
        if (used == 0)
            break;
        done += used;
    }
    c->raw_seen -= done;
    return done;
}

static void on_read(struct bufferevent *bev, void *ctx)
{
    struct conn *c = ctx;
    (void)bev;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);
    if (c->closing || n == 0)
        return;
    const char *p = (const char *)evbuffer_pullup(in, -1);
    size_t used = feed(c, p, n);
    if (!c->closing)
        evbuffer_drain(in, used);
}

/* Plain sockets (direct): one recv() into the connection's own buffer per readiness, no
 * FIONREAD probe and no copy out of an evbuffer. The buffer doubles while a message does not
 * fit; the session's maximum message size bounds what it keeps unconsumed. */
static void on_direct_read(evutil_socket_t fd, short what, void *ctx)
{
    struct conn *c = ctx;
    (void)what;
    if (c->lingering) {
        char sink[4096];
        ssize_t r = recv(fd, sink, sizeof sink, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            /* The peer closed too (or the connection failed): nothing more to wait for. */
            event_del(c->read_ev);
            close_soon(c, 0);
        }
        return;
    }
    if (c->closing)
        return;
    if (c->in_cap - c->in_len < DIRECT_READ_MIN) {
        size_t cap = c->in_cap ? c->in_cap * 2 : DIRECT_READ_INITIAL;
        char *p = realloc(c->in, cap);
        if (!p) {
            fl_conn_close(c, 0, "out of memory for the input buffer");
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (r <= 0) {
        int err = r < 0 ? errno : 0;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
            return;
        /* The reasons on_event() gives on the bufferevent path. */
        const char *why = err ? evutil_socket_error_to_string(err) : "connection closed by peer";
        if (!c->es)
            fl_engine_log(c->e, "WARN", "connection from %s dropped before logon: %s", c->peer,
                          why);
        fl_conn_close(c, 0, why);
        return;
    }
    c->in_len += (size_t)r;
    size_t used = feed(c, c->in, c->in_len);
    if (c->closing)
        return;
    if (used) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (c->in_cap > DIRECT_READ_KEEP && c->in_len <= DIRECT_READ_INITIAL / 2) {
        char *p = realloc(c->in, DIRECT_READ_INITIAL);
        if (p) { /* (a failed shrink keeps the larger buffer, which is still valid) */
            c->in = p;
            c->in_cap = DIRECT_READ_INITIAL;
        }
    }
}

static void on_write(struct bufferevent *bev, void *ctx)
{
    struct conn *c = ctx;
    (void)bev;
    if (c->closing) {
        if (fl_conn_output_len(c) == 0 && !c->lingering)
            close_when_written(c);
        return;
    }
    if (c->direct && fl_conn_output_len(c) == 0)
        bufferevent_disable(c->bev, EV_WRITE);
    note_written(c);
}

static void on_connected(struct conn *c)
{
    struct fl_engine_session *es = c->es;
    c->connecting = 0;
    fl_engine_timer_cancel(c->e, c->connect_timer);
    c->connect_timer = 0;
    if (c->closing || !es)
        return; /* given up while connecting (disconnect, schedule end, shutdown) */
    set_nodelay(c->bev);
    make_direct(c);
    char text[160];
    snprintf(text, sizeof text, "connected to %s", c->peer);
    fl_engine_log_event(es, "INFO", text);
    if (es->hooks.on_transport)
        es->hooks.on_transport(es->hooks.ctx, es, FL_TRANSPORT_CONNECTED, c->peer);
    if (c->closing || c->es != es)
        return; /* the script (or the schedule) closed it from on_connect: no Logon */
    fl_session_on_connect(es->fsm, fl_engine_now(c->e));
}

/* A failed or timed-out connect: try the next address after the reconnect interval. */
static void connect_failed(struct conn *c, enum fl_transport_event ev, const char *why)
{
    struct fl_engine_session *es = c->es;
    c->es = NULL;
    if (es) {
        es->conn = NULL;
        es->failed_tries++;
        if (es->cfg.nconnect)
            es->connect_index = (es->connect_index + 1) % es->cfg.nconnect;
        char text[256];
        snprintf(text, sizeof text, "connect to %s failed: %s", c->peer, why);
        fl_engine_log_event(es, "WARN", text);
        if (es->hooks.on_transport)
            es->hooks.on_transport(es->hooks.ctx, es, ev, why);
    }
    c->closing = 1;
    if (c->read_ev)
        event_del(c->read_ev);
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    c->close_timer = fl_engine_timer_add(c->e, 0, 0, close_now_timer, c);
    if (es)
        fl_engine_session_schedule_reconnect(es);
}

/* Why a connection failed: the TLS layer's reason when there is one, else the socket's. */
static const char *failure_reason(struct bufferevent *bev, short what, char *buf, size_t n)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long tls_err = ssl ? bufferevent_get_openssl_error(bev) : 0;
    /* An error of no OpenSSL library is libevent's SSL_ERROR_SYSCALL: the socket's. */
    if (tls_err && ERR_GET_LIB(tls_err) == 0)
        tls_err = 0;
    if (ssl && (tls_err || SSL_get_verify_result(ssl) != X509_V_OK)) {
        char detail[256];
        fl_tls_describe_error(ssl, tls_err, detail, sizeof detail);
        snprintf(buf, n, "TLS: %s", detail);
        return buf;
    }
    if (what & BEV_EVENT_EOF)
        return "connection closed by peer";
    int err = EVUTIL_SOCKET_ERROR();
    snprintf(buf, n, "%s", err ? evutil_socket_error_to_string(err) : "connection failed");
    return buf;
}

static void on_event(struct bufferevent *bev, short what, void *ctx)
{
    struct conn *c = ctx;
    char why[320];
    if (what & BEV_EVENT_CONNECTED) {
        /* An accepted TLS connection reports its finished handshake too: nothing to do. */
        if (c->connecting)
            on_connected(c);
        return;
    }
    if (c->connecting && !c->closing) {
        connect_failed(c, FL_TRANSPORT_CONNECT_FAILED, failure_reason(bev, what, why, sizeof why));
        return;
    }
    if (c->closing) {
        fl_engine_timer_cancel(c->e, c->close_timer);
        c->close_timer = fl_engine_timer_add(c->e, 0, 0, close_now_timer, c);
        return;
    }
    /* The reason may be a constant string rather than `why` (a peer's EOF). */
    const char *reason = failure_reason(bev, what, why, sizeof why);
    if (!c->es)
        fl_engine_log(c->e, "WARN", "connection from %s dropped before logon: %s", c->peer, reason);
    fl_conn_close(c, 0, reason);
}

static struct conn *conn_new(struct fl_engine *e, struct bufferevent *bev)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = e;
    c->bev = bev;
    c->next = e->conns;
    e->conns = c;
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    return c;
}

static void route_timeout(void *ctx, uint64_t id)
{
    struct conn *c = ctx;
    (void)id;
    c->route_timer = 0;
    if (c->closing || !c->unrouted)
        return;
    fl_engine_log(c->e, "WARN", "connection from %s dropped: no Logon within %d ms", c->peer,
                  logon_wait_ms(c->e));
    fl_conn_close(c, 0, "no Logon in time");
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *ctx)
{
    struct listener *l = ctx;
    (void)evl;
    (void)salen;
    if (l->e->shutting_down) {
        evutil_closesocket(fd);
        return;
    }
    size_t max_unrouted = l->e->cfg.max_unrouted > 0 ? (size_t)l->e->cfg.max_unrouted
                                                     : DEFAULT_MAX_UNROUTED;
    if (l->e->unrouted >= max_unrouted) {
        /* The first refusal and every 1000th after it: a flood must not flood the log too. */
        if (l->e->unrouted_refused++ % 1000 == 0) {
            char peer[64];
            describe_peer(sa, peer, sizeof peer);
            fl_engine_log(l->e, "WARN", "connection from %s refused: %zu connections are already "
                          "waiting for their Logon (%llu refused so far)", peer, max_unrouted,
                          (unsigned long long)l->e->unrouted_refused);
        }
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev = NULL;
    if (l->tls_ctx) {
        char err[256];
        SSL *ssl = fl_tls_new_ssl(l->tls_ctx, l->tls_cfg, 1, NULL, err, sizeof err);
        if (ssl)
            bev = bufferevent_openssl_socket_new(l->e->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        else
            fl_engine_log(l->e, "ERROR", "TLS on %s: %s", l->addr, err);
        if (ssl && !bev)
            SSL_free(ssl);
        if (bev)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(l->e->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    struct conn *c = conn_new(l->e, bev);
    if (!c) {
        bufferevent_free(bev);
        return;
    }
    c->l = l;
    c->unrouted = 1;
    l->e->unrouted++;
    c->route_timer = fl_engine_timer_add(l->e, (int64_t)logon_wait_ms(l->e) * 1000000, 0,
                                         route_timeout, c);
    describe_peer(sa, c->peer, sizeof c->peer);
    set_nodelay(bev);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    make_direct(c);
}

int fl_conn_listen(struct fl_engine *e, struct listener *l, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = resolve(l->addr, &ss, &len, errbuf, errlen);
    if (rc != FL_OK)
        return rc;
    l->evl = evconnlistener_new_bind(e->base, on_accept, l,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                         LEV_OPT_CLOSE_ON_EXEC,
                                     128, (struct sockaddr *)&ss, (int)len);
    if (!l->evl) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", l->addr,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return FL_EIO;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(l->evl), (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET)
            l->port = ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port);
        else if (bound.ss_family == AF_INET6)
            l->port = ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    }
    return FL_OK;
}

static void connect_timeout(void *ctx, uint64_t id)
{
    struct conn *c = ctx;
    (void)id;
    c->connect_timer = 0;
    if (c->connecting)
        connect_failed(c, FL_TRANSPORT_CONNECT_TIMEOUT, "connect timed out");
}

int fl_conn_connect(struct fl_engine_session *es)
{
    struct fl_engine *e = es->e;
    if (es->conn || es->cfg.nconnect == 0)
        return FL_ESTATE;
    const char *addr = es->connect_list[es->connect_index % es->cfg.nconnect];
    struct sockaddr_storage ss;
    socklen_t len;
    char err[256];
    struct bufferevent *bev = NULL;
    if (es->tls_ctx) {
        char host[256];
        int port;
        if (fl_parse_host_port(addr, host, sizeof host, &port) != FL_OK)
            host[0] = '\0';
        SSL *ssl = fl_tls_new_ssl(es->tls_ctx, &es->cfg.tls, 0, host, err, sizeof err);
        if (!ssl) {
            fl_engine_log_event(es, "ERROR", err);
            return FL_ETLS;
        }
        bev = bufferevent_openssl_socket_new(e->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
            SSL_free(ssl);
        else
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(e->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    struct conn *c = bev ? conn_new(e, bev) : NULL;
    if (!c) {
        if (bev)
            bufferevent_free(bev);
        return FL_ENOMEM;
    }
    c->es = es;
    es->conn = c;
    c->connecting = 1;
    snprintf(c->peer, sizeof c->peer, "%s", addr);
    if (resolve(addr, &ss, &len, err, sizeof err) != FL_OK) {
        connect_failed(c, FL_TRANSPORT_CONNECT_FAILED, err);
        return FL_OK;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    c->connect_timer = fl_engine_timer_add(e, (int64_t)es->cfg.connect_timeout * 1000000000, 0,
                                           connect_timeout, c);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)len) != 0) {
        /* An immediate failure was already reported through on_event when the bufferevent
         * runs callbacks synchronously; guard against reporting it twice. */
        if (c->connecting)
            connect_failed(c, FL_TRANSPORT_CONNECT_FAILED, "connect() failed");
    }
    return FL_OK;
}
