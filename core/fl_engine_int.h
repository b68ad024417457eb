/* fixlua — the engine's private structures, shared by fl_engine.c (loop, clock, timers,
 * sessions), fl_engine_conn.c (sockets: accept, connect, read, write, close) and
 * fl_engine_log.c (message and event logs). Not part of the API. */
#ifndef FL_ENGINE_INT_H
#define FL_ENGINE_INT_H

#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fl_engine.h"
#include "fl_timer_heap.h"

/* One listening address, shared by every acceptor session configured on it. */
struct listener {
    struct fl_engine *e;
    char *addr;
    struct evconnlistener *evl;
    int port;
    int tls;                  /* -1 plain, 1 TLS, 0 not decided yet */
    SSL_CTX *tls_ctx;
    const struct fl_tls_config *tls_cfg;
};

/* A TCP connection. Accepted ones have no session until their first Logon is routed. */
struct conn {
    struct fl_engine *e;
    struct bufferevent *bev;
    struct fl_engine_session *es;
    struct listener *l;
    int closing;         /* close once the output is written */
    int connecting;      /* initiator: connect() in progress */
    uint64_t close_timer;
    uint64_t connect_timer;
    uint64_t route_timer;  /* accepted: the first Logon must come before it fires */
    int unrouted;          /* accepted, no session yet: counted in the engine's unrouted */
    int direct;          /* plain socket: we write ourselves, write interest only on backlog */
    int lingering;       /* closing: our side is shut down, the peer's bytes are read and dropped */
    int flush_pending;
    struct event *flush_ev;
    struct event *read_ev;  /* direct: reads with recv() into `in`, not the bufferevent's */
    char *in;
    size_t in_len, in_cap;
    size_t raw_seen;        /* leading bytes of the unconsumed input shown to on_raw_inbound */
    char peer[64];
    struct conn *next;   /* engine's list of connections */
};

struct fl_engine_session {
    struct fl_engine *e;
    struct fl_engine_session_config cfg;  /* strings point into `strings` */
    char *strings;
    const char **connect_list;
    struct fl_engine_hooks hooks;
    struct fl_store *store;
    struct fl_session *fsm;
    struct conn *conn;
    struct listener *listener;
    int is_template;                      /* target_comp_id "*" */
    int dynamic;                          /* created from a template */
    size_t connect_index;
    int failed_tries;                     /* initiator: attempts in a row that did not log on */
    int logged_on;                        /* the current connection completed a logon */
    int ever_logged_on;                   /* any connection did */
    uint64_t remove_timer;                /* dynamic, refused: removal planned */
    /* Files this session created (they did not exist before it): removed with a dynamic
     * session whose Logon was refused, so that refused CompIDs leave nothing behind. */
    int journal_new, msg_log_new, event_log_new;
    uint64_t reconnect_timer;
    int gave_up;
    int above_watermark;
    int store_failed;                     /* a flush failed: reported once */
    SSL_CTX *tls_ctx;                     /* initiator with TLS */
    int reset_when_disconnected;          /* schedule end: reset once the Logout exchange ends */
    int out_of_window;
    uint64_t reset_timer;                    /* schedule closed: no reconnect, no logon accepted */
    FILE *msg_log;
    FILE *event_log;
};

struct fl_engine {
    struct event_base *base;
    struct fl_engine_config cfg;
    int64_t manual_now;
    struct event *timer_ev;               /* armed for the earliest timer (real clock) */
    struct fl_timer_heap timers;
    uint64_t next_timer_id;
    uint64_t tick_timer;
    struct fl_engine_session **sessions;
    size_t nsessions, sessions_cap;
    struct listener **listeners;
    size_t nlisteners, listeners_cap;
    struct conn *conns;
    size_t unrouted;                      /* accepted connections with no session yet */
    uint64_t unrouted_refused;            /* turned away at the limit (logged now and then) */
    int started;
    int stopped;
    int shutting_down;
    uint64_t shutdown_timer;
    struct event *sig_int, *sig_term;
    int sig_grace_ms;
    int in_timers;                        /* running timers: defer re-arming */
};

/* fl_engine.c */
/* A session made from a template whose connection ended before any logon: planned for removal
 * (from a timer, out of every callback), with the files it created. */
void fl_engine_session_forget_if_refused(struct fl_engine_session *es);
void fl_engine_log(struct fl_engine *e, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fl_engine_arm_timers(struct fl_engine *e);
void fl_engine_check_shutdown_done(struct fl_engine *e);
struct fl_engine_session *fl_engine_route_logon(struct fl_engine *e, struct listener *l,
                                                const char *sender, size_t sn, const char *target,
                                                size_t tn);
void fl_engine_session_schedule_reconnect(struct fl_engine_session *es);
void fl_engine_session_reset_timer(void *ctx, uint64_t id);

/* fl_engine_conn.c */
int fl_conn_listen(struct fl_engine *e, struct listener *l, char *errbuf, size_t errlen);
int fl_conn_connect(struct fl_engine_session *es);
void fl_conn_close(struct conn *c, int flush_first, const char *why);
void fl_conn_free(struct conn *c);
/* Queues p[0..n) for the end of this loop iteration, so that the sends of one iteration leave
 * in one writev; at_once (a committed batch, which is one write anyway) writes at once when
 * nothing is queued before it. Returns the bytes still queued. */
size_t fl_conn_write(struct conn *c, const char *p, size_t n, int at_once);
size_t fl_conn_output_len(const struct conn *c);
int fl_parse_host_port(const char *addr, char *host, size_t hostcap, int *port);

/* fl_engine_log.c */
/* Creates dir and its parents (mkdir -p); FL_OK, FL_EINVAL or FL_EIO with detail. */
int fl_make_dirs(const char *dir, char *errbuf, size_t errlen);
int fl_engine_log_open(struct fl_engine_session *es, char *errbuf, size_t errlen);
void fl_engine_log_close(struct fl_engine_session *es);
/* Removes the log files the session created (closed first). */
void fl_engine_log_remove_new(struct fl_engine_session *es);
void fl_engine_log_message(struct fl_engine_session *es, int inbound, const char *p, size_t n);
void fl_engine_log_event(struct fl_engine_session *es, const char *level, const char *text);
void fl_engine_log_flush(struct fl_engine_session *es);

#endif
