/* fixlua — the FIX session state machine: everything a FIX session guarantees, with no I/O.
 *
 * A session takes inbound bytes plus `now`, timer ticks plus `now`, and application sends, and
 * answers through the callbacks in struct fl_session_io: bytes to send, disconnect, events for
 * the script layer, and policy questions (validate a Logon, replay a stored message, serve a
 * ResendRequest). It never reads a clock and never touches a socket, so it is deterministic,
 * unit-testable and fuzzable; fl_conn/fl_engine drive it over real sockets.
 *
 * Ownership: the session owns its builder, parse scratch, inbound queue and staging buffer; it
 * borrows its store (the caller opens and closes it) and the io callbacks' context. An inbound
 * message passed to io->deliver is valid only during that call. Callbacks may call back into
 * the session (send, logout, disconnect, accept_logon...): such calls join the batch that is
 * being built and take effect when the outer call returns.
 *
 * Every change of persistent state goes to the store as one atomic batch per input (the frames
 * of one fl_session_on_bytes call, up to 64 of them; a tick; a send): the expected inbound
 * MsgSeqNum together with every new message sent while handling it, committed before any of
 * those bytes is handed to io->send (store-before-send). A batch the store refuses is dropped
 * whole and the connection ends: the peer resends the inbound messages it held (the application
 * has seen them once, and sees them again with PossDupFlag), and the FL_EV_ERROR event gives
 * their numbers as begin..end and counts the messages of ours that never left. */
#ifndef FL_SESSION_H
#define FL_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "fl_builder.h"
#include "fl_dict.h"
#include "fl_err.h"
#include "fl_msg.h"
#include "fl_store.h"

struct fl_session;

enum fl_session_role { FL_ROLE_INITIATOR = 0, FL_ROLE_ACCEPTOR, FL_ROLE__COUNT };

enum fl_session_state {
    FL_STATE_DISCONNECTED = 0, /* no transport */
    FL_STATE_CONNECTED,        /* transport up, no Logon exchanged yet (acceptor waits for one) */
    FL_STATE_LOGON_SENT,       /* initiator: our Logon is out, waiting for the answer */
    FL_STATE_LOGON_PENDING,    /* acceptor: a Logon arrived, the script deferred its decision */
    FL_STATE_ACTIVE,           /* logged on, in sequence */
    FL_STATE_RESENDING,        /* logged on, waiting for a gap we asked to be resent */
    FL_STATE_LOGOUT_SENT,      /* our Logout is out, waiting for the answer or the timeout */
    FL_STATE__COUNT
};

enum fl_fix_version {
    FL_FIX_40 = 0, FL_FIX_41, FL_FIX_42, FL_FIX_43, FL_FIX_44, FL_FIXT_11, FL_FIX__COUNT
};

enum fl_logon_decision {
    FL_LOGON_ACCEPT = 0,
    FL_LOGON_REJECT,  /* answered with Logout carrying the reason, then disconnect */
    FL_LOGON_DEFER,   /* decided later with fl_session_accept_logon()/fl_session_reject_logon() */
    FL_LOGON__COUNT
};

enum fl_resend_decision {
    FL_RESEND_SERVE = 0,  /* replay from the store (should_replay decides per message) */
    FL_RESEND_GAP_FILL,   /* one SequenceReset-GapFill over the whole range, nothing replayed */
    FL_RESEND_IGNORE,     /* do nothing (logged as an event) */
    FL_RESEND_LOGOUT,     /* refuse: Logout with a reason */
    FL_RESEND__COUNT
};

enum fl_event_type {
    FL_EV_STATE = 0,          /* state changed: from, to */
    FL_EV_LOGON,              /* logon complete */
    FL_EV_LOGON_REJECTED,     /* our Logon was answered with a Logout (text) */
    FL_EV_LOGON_TIMEOUT,
    FL_EV_LOGOUT,             /* Logout received (text) */
    FL_EV_LOGOUT_TIMEOUT,
    FL_EV_REJECT_RECEIVED,    /* Reject(3) received: ref_seq, reason, text */
    FL_EV_REJECT_SENT,        /* we sent Reject(3): ref_seq, reason, tag, text */
    FL_EV_GARBLED,            /* a frame was dropped: text is the reason */
    FL_EV_GAP,                /* MsgSeqNum too high: begin..end requested */
    FL_EV_RESEND_REQUEST,     /* peer asked for begin..end */
    FL_EV_RESEND_SKIPPED,     /* a stored application message was gap-filled instead (seq) */
    FL_EV_SEQUENCE_RESET,     /* SequenceReset received: new_seq; gap_fill flag */
    FL_EV_TRANSMISSION_FAIL,  /* no answer to TestRequest: disconnecting */
    FL_EV_LATENCY,            /* SendingTime further from now than max_latency (value in ns) */
    FL_EV_QUEUE_THRESHOLD,    /* inbound out-of-order queue reached the warning level (value: depth) */
    FL_EV_VALIDATION_FAILED,  /* dictionary validation refused a message: begin seq, end RefTagID,
                                 value reason (a BusinessRejectReason when text starts "business") */
    FL_EV_THROTTLE,           /* more inbound messages in one second than max_inbound_rate (value) */
    FL_EV_ERROR,              /* internal failure (store write...), text explains */
    FL_EV_DISCONNECT,         /* transport dropped or session asked to disconnect (text) */
    FL_EV__COUNT
};

struct fl_session_event {
    enum fl_event_type type;
    enum fl_session_state from, to; /* FL_EV_STATE */
    uint64_t begin, end;            /* ranges; begin carries a single seq too */
    int64_t value;                  /* reason codes, latency, new seq */
    const char *text;               /* NUL-terminated, valid during the call */
    const struct fl_msg *msg;       /* the inbound message concerned (rejects, validation), or
                                       NULL; valid during the call only */
};

/* Callbacks. Only `send` is required; every other one may be NULL (the FIX default applies). */
struct fl_session_io {
    void *ctx;
    /* Hands bytes to the transport; returns the bytes now waiting in the transport's output
     * (0 if unknown), which paces resends (see output_high_watermark). */
    size_t (*send)(void *ctx, const char *p, size_t n);
    /* Optional: the same for `count` messages that lie back to back in p[0..n), lens[i] bytes
     * each, in one call. The session uses it for every committed batch when it is set. */
    size_t (*send_many)(void *ctx, const char *p, size_t n, const size_t *lens, size_t count);
    /* The transport must close once the bytes handed over so far are written. */
    void (*disconnect)(void *ctx, const char *why);
    void (*event)(void *ctx, const struct fl_session_event *ev);
    /* Every inbound message that passed the session checks, in sequence order. */
    void (*deliver)(void *ctx, const struct fl_msg *m, int is_admin);
    /* Acceptor: decide an inbound Logon (also the one that asks for a reset). `reason` receives
     * the Logout text for FL_LOGON_REJECT. */
    enum fl_logon_decision (*validate_logon)(void *ctx, const struct fl_msg *logon, char *reason,
                                             size_t reason_cap);
    /* Adds fields (Username, Password, ...) to the Logon we are about to send. */
    void (*prepare_logon)(void *ctx, struct fl_builder *b);
    /* 1: replay this stored application message; 0: gap-fill it. */
    int (*should_replay)(void *ctx, const struct fl_msg *stored);
    enum fl_resend_decision (*resend_request)(void *ctx, uint64_t begin, uint64_t end);
};

struct fl_session_config {
    enum fl_session_role role;
    const char *begin_string;      /* "FIX.4.0" ... "FIX.4.4", "FIXT.1.1" */
    const char *sender_comp_id;
    const char *target_comp_id;
    const char *default_appl_ver_id; /* FIXT.1.1: DefaultApplVerID(1137) we send, e.g. "9" */
    int heartbeat_interval;        /* seconds we propose (initiator) */
    int heartbeat_min;             /* acceptor: smallest HeartBtInt accepted (default 1) */
    int heartbeat_max;             /* acceptor: largest HeartBtInt accepted (default 3600) */
    int logon_timeout;             /* seconds (default 10) */
    int logout_timeout;            /* seconds (default 2) */
    int64_t max_latency_ns;        /* SendingTime accuracy; 0: default 120 s; <0: not checked */
    int check_comp_id;             /* default on (set -1 to turn off) */
    int reset_on_logon;            /* send 141=Y on every Logon we initiate */
    int reset_on_logout;
    int reset_on_disconnect;
    int send_next_expected;        /* NextExpectedMsgSeqNum(789) in Logon (FIX.4.4, FIXT) */
    int send_redundant_resend_requests;
    int require_orig_sending_time; /* PossDup without 122 rejected (default on; -1 off) */
    int timestamp_digits;          /* SendingTime precision: 0, 3, 6, 9 (default 0 for 4.0/4.1, else 3) */
    uint32_t resend_request_chunk; /* ask for at most this many messages per ResendRequest (0: all) */
    uint32_t max_inbound_queue;    /* out-of-order messages kept while a gap is filled (default 10000) */
    size_t max_inbound_queue_bytes; /* ...and their bytes (default 64 MiB, at least two messages
                                       of max_message_size) */
    uint32_t inbound_queue_warn;   /* FL_EV_QUEUE_THRESHOLD at this depth (default: max_inbound_queue) */
    uint32_t max_inbound_rate;     /* FL_EV_THROTTLE above this many messages a second (0: off) */
    int64_t latency_warn_ns;       /* FL_EV_LATENCY when SendingTime is further than this (0: off) */
    /* Validation against a dictionary (borrowed; must outlive the session). NULL: only the
     * session layer's own checks. */
    const struct fl_dict *dict;
    struct fl_validate_opts validate;
    uint32_t max_outbound_queue;   /* application messages queued before logon (default 100000) */
    uint32_t max_garbled;          /* garbled frames in a row that end the session (default 100; 0 = default) */
    size_t max_message_size;       /* default 1 MiB */
    size_t output_high_watermark;  /* pause a resend while the transport holds more (default 4 MiB) */
};

/* Creates a session. Copies the strings of `cfg`, borrows `store` (which must outlive it) and
 * io->ctx. Returns FL_OK, FL_EINVAL (detail in errbuf) or FL_ENOMEM. */
FL_MUST_CHECK int fl_session_new(const struct fl_session_config *cfg, struct fl_store *store,
                                 const struct fl_session_io *io, struct fl_session **out,
                                 char *errbuf, size_t errlen);
/* Frees the session; accepts NULL. Does not close the store. */
void fl_session_free(struct fl_session *s);

/* Transport events. An initiator sends its Logon on connect. */
void fl_session_on_connect(struct fl_session *s, int64_t now);
void fl_session_on_disconnect(struct fl_session *s, int64_t now);
/* Feeds received bytes; returns how many were consumed (the rest is an incomplete frame the
 * caller keeps and passes again with more bytes). Garbled input is dropped and reported. */
size_t fl_session_on_bytes(struct fl_session *s, const char *p, size_t n, int64_t now);
/* Timers: heartbeats, TestRequests, logon/logout timeouts. Call at least once a second. */
void fl_session_tick(struct fl_session *s, int64_t now);
/* When the next tick has something to do (ns since epoch), or INT64_MAX. */
int64_t fl_session_next_deadline(const struct fl_session *s);
/* The transport's output drained below the watermark: continue a paused resend. */
void fl_session_on_writable(struct fl_session *s, int64_t now);

/* Sends an application (or admin) message. `body` holds encoded "tag=value<SOH>" fields after
 * the header; `extra_header` optional header fields (OnBehalfOfCompID...), may be NULL. The
 * session adds BeginString, BodyLength, MsgType, CompIDs, MsgSeqNum, SendingTime and CheckSum.
 * Before logon (or during a resend, or after a failed commit while the connection ends) an
 * application message is queued and sent after the next logon. Returns FL_OK, FL_EAGAIN (queue
 * full), FL_EINVAL (bad fields), FL_EIO (store failure). */
FL_MUST_CHECK int fl_session_send(struct fl_session *s, const char *msg_type, size_t type_len,
                                  const char *extra_header, size_t extra_len, const char *body,
                                  size_t body_len, int64_t now);
/* Starts a Logout with `text` (may be NULL); disconnects after the answer or logout_timeout. */
void fl_session_logout(struct fl_session *s, const char *text, int64_t now);
/* Drops the transport now (after flushing what was sent). */
void fl_session_disconnect(struct fl_session *s, const char *why, int64_t now);
void fl_session_send_test_request(struct fl_session *s, const char *id, int64_t now);
/* Completes a deferred logon decision. FL_ESTATE when no logon is pending. */
FL_MUST_CHECK int fl_session_accept_logon(struct fl_session *s, int64_t now);
FL_MUST_CHECK int fl_session_reject_logon(struct fl_session *s, const char *reason, int64_t now);
/* Sequence numbers: reset both to 1 (logged on: through a Logon with 141=Y), or set one. */
FL_MUST_CHECK int fl_session_reset(struct fl_session *s, int64_t now);
FL_MUST_CHECK int fl_session_set_next_sender(struct fl_session *s, uint64_t seq);
FL_MUST_CHECK int fl_session_set_next_target(struct fl_session *s, uint64_t seq);

enum fl_session_state fl_session_state(const struct fl_session *s);
uint64_t fl_session_next_sender(const struct fl_session *s);
/* Bytes staged by the batch in progress (the sends of a callback), not yet handed to io.send. */
size_t fl_session_staged_bytes(const struct fl_session *s);
uint64_t fl_session_next_target(const struct fl_session *s);
int fl_session_heartbeat_interval(const struct fl_session *s);
enum fl_fix_version fl_session_version(const struct fl_session *s);
/* Inside a batch (processing input, or a send hook): a send now is only staged, and leaves
 * with the batch, so nothing of the session's calls back into the application during it. */
int fl_session_batching(const struct fl_session *s);
/* Messages waiting: out-of-order inbound, and outbound queued before logon. */
uint32_t fl_session_inbound_queued(const struct fl_session *s);
uint32_t fl_session_outbound_queued(const struct fl_session *s);
const char *fl_session_state_name(enum fl_session_state st);
const char *fl_event_name(enum fl_event_type t);
/* Version of a BeginString, or -1. */
int fl_fix_version_of(const char *begin_string, size_t n);

#endif
