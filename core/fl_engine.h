/* fixlua — the engine: one event loop, TCP acceptors and initiators, and the sessions on them.
 *
 * The engine owns a libevent event_base, its listeners, its connections and its sessions; it
 * is an ordinary object (no static registry), so several engines can live in one process. It
 * drives each fl_session with real sockets and a clock, opens each session's store, writes the
 * message and event logs, and hands every session event and policy question to the embedder's
 * hooks (the Lua layer, or C tests). Several sessions may share one listening address: an
 * inbound Logon is routed to its session by CompIDs, and a session whose target_comp_id is
 * "*" is a template that creates a session for a Logon from a CompID not configured.
 *
 * Time: by default the engine reads CLOCK_REALTIME; a manual clock (fl_engine_config.manual_clock)
 * makes tests deterministic: time only moves with fl_engine_advance(). */
#ifndef FL_ENGINE_H
#define FL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_session.h"
#include "fl_store.h"
#include "fl_tls.h"

struct fl_engine;
struct fl_engine_session;

enum fl_transport_event {
    FL_TRANSPORT_CONNECTED = 0,    /* TCP (and TLS) up */
    FL_TRANSPORT_DISCONNECTED,     /* connection closed (detail says why) */
    FL_TRANSPORT_CONNECT_FAILED,   /* an initiator's attempt failed */
    FL_TRANSPORT_CONNECT_TIMEOUT,  /* an initiator's attempt did not complete in time */
    FL_TRANSPORT__COUNT
};

/* Policy and notification hooks of one session; every member may be NULL. They are called on
 * the engine's thread, inside fl_engine_run*(). */
struct fl_engine_hooks {
    void *ctx;
    void (*on_transport)(void *ctx, struct fl_engine_session *es, enum fl_transport_event ev,
                         const char *detail);
    void (*on_event)(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev);
    void (*on_message)(void *ctx, struct fl_engine_session *es, const struct fl_msg *m,
                       int is_admin);
    enum fl_logon_decision (*validate_logon)(void *ctx, struct fl_engine_session *es,
                                             const struct fl_msg *logon, char *reason,
                                             size_t reason_cap);
    void (*prepare_logon)(void *ctx, struct fl_engine_session *es, struct fl_builder *b);
    int (*should_replay)(void *ctx, struct fl_engine_session *es, const struct fl_msg *stored);
    enum fl_resend_decision (*resend_request)(void *ctx, struct fl_engine_session *es,
                                              uint64_t begin, uint64_t end);
    /* Raw bytes as received, before framing. */
    void (*on_raw_inbound)(void *ctx, struct fl_engine_session *es, const char *p, size_t n);
    /* Every outbound frame, after it is stored and just before it is written. */
    void (*on_outbound)(void *ctx, struct fl_engine_session *es, const char *p, size_t n);
    /* The output queue went above (1) or back below (0) its high watermark. */
    void (*on_backpressure)(void *ctx, struct fl_engine_session *es, int above);
    /* A template session ("*" target) created `created` for an unknown CompID; the hooks of
     * the new session may be set here with fl_engine_session_set_hooks(). */
    void (*on_session_created)(void *ctx, struct fl_engine_session *template_es,
                               struct fl_engine_session *created);
    /* A schedule window opened (start 1) or closed (start 0). Return 1 for the default (start:
     * an initiator connects; end: log out, then reset both sequence numbers to 1), 0 to skip
     * it. NULL means the default. */
    int (*on_schedule)(void *ctx, struct fl_engine_session *es, int start);
    /* The session is about to be freed (engine freed or dynamic session dropped). */
    void (*on_free)(void *ctx, struct fl_engine_session *es);
};

struct fl_engine_session_config {
    const char *name;                  /* unique in the engine; used for store and log names */
    struct fl_session_config session;  /* protocol settings (strings copied) */
    /* Transport: an acceptor listens on `listen` ("host:port", port 0 picks one); an
     * initiator connects to connect[0..nconnect) in turn (a failover list). */
    const char *listen;
    const char *const *connect;
    size_t nconnect;
    int reconnect_interval;            /* seconds between attempts (default 5) */
    int max_connect_tries;             /* consecutive failed attempts before giving up (0: forever) */
    int connect_timeout;               /* seconds (default 10) */
    /* Store: `store_dir` NULL or "" means memory. */
    const char *store_dir;
    enum fl_store_sync store_sync;
    /* Logs: `log_dir` NULL or "" means none. */
    const char *log_dir;
    int log_messages;                  /* message log (default on when log_dir is set) */
    int log_events;                    /* event log (default on when log_dir is set) */
    size_t max_output_bytes;           /* output queue limit; send fails with FL_EAGAIN above (default 64 MiB) */
    size_t output_high_watermark;      /* backpressure threshold (default 4 MiB) */
    /* TLS (tls.enabled): every acceptor on one listen address must agree on it. */
    struct fl_tls_config tls;
};

struct fl_engine_config {
    int manual_clock;                  /* time moves only with fl_engine_advance() */
    int64_t start_time;                /* manual clock start (ns since epoch; 0: now) */
    int tick_ms;                       /* session timer granularity (default 200 ms) */
    /* An accepted connection must send a Logon naming a session within logon_wait_ms (0:
     * 10 s), and at most max_unrouted (0: 512) may be waiting at once; others are refused. */
    int logon_wait_ms;
    int max_unrouted;
    /* Engine-wide log lines that belong to no session (a refused connection, a failed TLS
     * handshake before routing); NULL: dropped. */
    void (*log)(void *ctx, const char *level, const char *text);
    void *log_ctx;
};

/* Creates an engine. If SIGPIPE still has its default disposition it is set to ignored, so a
 * peer closing during a write is an EPIPE error rather than the end of the process. */
FL_MUST_CHECK int fl_engine_new(const struct fl_engine_config *cfg, struct fl_engine **out,
                                char *errbuf, size_t errlen);
/* Frees sessions (hooks' on_free first), connections, listeners and the loop; accepts NULL.
 * Sessions are not logged out: call fl_engine_shutdown() and run the loop first for that. */
void fl_engine_free(struct fl_engine *e);

/* Adds a session; copies the configuration. Opens its store now, so a broken journal fails
 * here with its detail in errbuf. Listening and connecting start with fl_engine_start() (or at
 * once if the engine is started). */
FL_MUST_CHECK int fl_engine_add_session(struct fl_engine *e,
                                        const struct fl_engine_session_config *cfg,
                                        const struct fl_engine_hooks *hooks,
                                        struct fl_engine_session **out, char *errbuf,
                                        size_t errlen);
/* Opens the listeners and starts the initiators. FL_EIO with detail when a listen fails. */
FL_MUST_CHECK int fl_engine_start(struct fl_engine *e, char *errbuf, size_t errlen);

/* Runs the loop until fl_engine_stop() or fl_engine_shutdown() completes. */
FL_MUST_CHECK int fl_engine_run(struct fl_engine *e);
/* One loop iteration; `block` waits for at least one event. Returns FL_OK, or FL_ECLOSED once
 * the engine has stopped. */
FL_MUST_CHECK int fl_engine_run_once(struct fl_engine *e, int block);
/* Logs every logged-on session out, then stops the loop when all are disconnected or after
 * `grace_ms`. */
void fl_engine_shutdown(struct fl_engine *e, int grace_ms);
/* Stops the loop at once. */
void fl_engine_stop(struct fl_engine *e);
/* SIGINT/SIGTERM start fl_engine_shutdown() (for the runner). */
FL_MUST_CHECK int fl_engine_handle_signals(struct fl_engine *e, int grace_ms);
int fl_engine_stopped(const struct fl_engine *e);

/* Clock. */
int64_t fl_engine_now(const struct fl_engine *e);
/* Manual clock: moves time forward and runs the timers that come due. FL_ESTATE otherwise. */
FL_MUST_CHECK int fl_engine_advance(struct fl_engine *e, int64_t ns);

/* Timers on the engine's clock. The callback runs on the loop; `every` 0 means once. Returns a
 * positive id or 0 on failure. Cancelling an unknown or finished id is harmless. */
typedef void (*fl_timer_fn)(void *ctx, uint64_t id);
uint64_t fl_engine_timer_add(struct fl_engine *e, int64_t after_ns, int64_t every_ns,
                             fl_timer_fn fn, void *ctx);
void fl_engine_timer_cancel(struct fl_engine *e, uint64_t id);

/* Sessions. */
struct fl_engine_session *fl_engine_find_session(struct fl_engine *e, const char *name);
size_t fl_engine_session_count(const struct fl_engine *e);
struct fl_engine_session *fl_engine_session_at(struct fl_engine *e, size_t i);
struct fl_engine *fl_engine_session_engine(struct fl_engine_session *es);
struct fl_session *fl_engine_session_fsm(struct fl_engine_session *es);
const char *fl_engine_session_name(const struct fl_engine_session *es);
const struct fl_engine_session_config *fl_engine_session_config(const struct fl_engine_session *es);
void fl_engine_session_set_hooks(struct fl_engine_session *es, const struct fl_engine_hooks *hooks);
/* Bound port of an acceptor's listener (useful with port 0), or 0. */
int fl_engine_session_port(const struct fl_engine_session *es);
int fl_engine_session_connected(const struct fl_engine_session *es);
/* Bytes waiting in the session's output queue. */
size_t fl_engine_session_output_queued(const struct fl_engine_session *es);
/* 1 when a send now would call no hook before returning (see fl_session_batching()). */
int fl_engine_session_batching(const struct fl_engine_session *es);

/* Sends through the session now (or queues it before logon). Returns as fl_session_send(), and
 * FL_EAGAIN when the output queue is above max_output_bytes. */
FL_MUST_CHECK int fl_engine_session_send(struct fl_engine_session *es, const char *msg_type,
                                         size_t type_len, const char *extra_header,
                                         size_t extra_len, const char *body, size_t body_len);
void fl_engine_session_logout(struct fl_engine_session *es, const char *text);
void fl_engine_session_disconnect(struct fl_engine_session *es, const char *why);
/* Initiator: connect now (also after max_connect_tries gave up). Acceptors: FL_ESTATE. */
FL_MUST_CHECK int fl_engine_session_connect(struct fl_engine_session *es);
/* A schedule window opens (start 1) or closes (start 0) for the session: asks the hook, then
 * applies the default (see fl_engine_hooks.on_schedule). The schedule itself (fl_schedule)
 * calls this; tests and scripts may too. */
void fl_engine_session_schedule_event(struct fl_engine_session *es, int start);
/* Writes a line to the session's event log (and nowhere else). */
void fl_engine_session_log(struct fl_engine_session *es, const char *level, const char *text);

#endif
