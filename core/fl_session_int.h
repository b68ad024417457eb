/* fixlua — the session's private state, shared by fl_session.c (lifecycle, batches, sending,
 * timers), fl_session_inbound.c (the checks and admin message handlers) and
 * fl_session_resend.c (serving ResendRequests). Not part of the API. */
#ifndef FL_SESSION_INT_H
#define FL_SESSION_INT_H

#include "fl_session.h"

#define NS_PER_SEC INT64_C(1000000000)

/* A message staged in the current batch: `is_new` ones get stored, all get sent, in order. */
struct staged_msg {
    uint64_t seq;
    size_t off;
    size_t len;
    int is_new;
};

/* Growable byte buffer. */
struct byte_buf {
    char *p;
    size_t len;
    size_t cap;
};

/* An inbound message that arrived ahead of sequence: its frame bytes, parsed again when due. */
struct queued_in {
    uint64_t seq;
    char *frame;
    size_t len;
};

/* An application message queued before logon: offsets into out_queue_bytes. */
struct queued_out {
    size_t off;
    uint32_t type_len;
    uint32_t extra_len;
    uint32_t body_len;
};

struct fl_session {
    struct fl_session_config cfg;  /* strings point into `strings` */
    char *strings;
    enum fl_fix_version version;
    size_t begin_string_len, sender_len, target_len;
    struct fl_store *store;
    struct fl_session_io io;

    enum fl_session_state state;
    uint64_t next_sender;          /* may run ahead of the store inside a batch */
    uint64_t next_target;
    int heartbeat;                 /* negotiated HeartBtInt, seconds */
    int64_t last_sent;
    int64_t last_received;
    int64_t state_since;           /* when the current state began (logon/logout timeouts) */
    int test_request_pending;
    uint64_t test_request_counter;
    uint32_t garbled_in_row;
    int logon_reset_sent;          /* our Logon carried 141=Y */
    int reset_in_session;          /* ...sent while logged on (fl_session_reset) */
    int logout_from_peer;          /* the Logout exchange was started by the peer */
    int reset_pending;             /* reset the store once the current batch is committed */

    /* The gap we asked the peer to fill. */
    int resend_requested;
    uint64_t resend_begin;
    uint64_t resend_end;           /* as sent: 0 means infinity */
    uint64_t resend_satisfied_at;  /* satisfied once next_target passes this */
    uint64_t highest_seen;         /* highest inbound MsgSeqNum seen this connection */
    int64_t resend_progress_at;    /* when the gap last moved (or was asked for) */
    uint64_t resend_progress_seq;  /* next_target then */

    /* A resend we are serving, paused while the transport is full. */
    int serving;
    uint64_t serve_next;
    uint64_t serve_end;            /* inclusive */

    /* The batch being built. */
    int depth;
    int target_dirty;
    struct byte_buf stage;
    struct staged_msg *staged;
    size_t nstaged, staged_cap;
    /* The committed batch being handed to io.send: hooks run there may stage more (a send from
     * on_outbound, a Logout), which goes to `stage` and leaves after it, so this buffer is
     * never reallocated under the messages being sent. Swapped with `stage` per round. */
    struct byte_buf sending;
    struct staged_msg *sending_msgs;
    size_t sending_cap;
    size_t *send_lens;             /* scratch: the sending batch's lengths for io->send_many */
    size_t send_lens_cap;
    struct fl_store_msg *store_msgs;
    size_t store_msgs_cap;
    int disconnect_requested;
    char disconnect_why[160];
    size_t transport_backlog;      /* last value returned by io->send */

    /* Inbound messages ahead of sequence, sorted by seq. */
    struct queued_in *inq;
    uint32_t ninq, inq_cap;
    size_t inq_bytes;              /* bytes of the frames held in inq */
    unsigned commit_failures;      /* batches whose first commit failed (fl_session_send) */
    int batch_failed;              /* a commit of the current batch failed: nothing more of
                                    * it may leave (cleared when the outermost one ends) */

    /* Application messages waiting for logon. */
    struct queued_out *outq;
    uint32_t noutq, outq_head, outq_cap;
    uint32_t outq_committed;       /* outq_head as of the last commit that held */
    struct byte_buf outq_bytes;

    /* A Logon whose decision the script deferred (owned copy). */
    struct fl_msg pending_logon;
    int has_pending_logon;

    struct fl_validator validator;
    int64_t rate_window;           /* start of the current one-second throttle window */
    uint32_t rate_count;
    int queue_warned;

    struct fl_builder b;
    struct fl_msg in;              /* scratch for inbound frames */
    struct fl_msg stored;          /* scratch for stored messages during resends */
    struct fl_msg drained;         /* scratch for queued inbound messages coming due */
};

/* fl_session.c */
void fl_session_set_state(struct fl_session *s, enum fl_session_state st, int64_t now);
void fl_session_emit(struct fl_session *s, enum fl_event_type type, uint64_t begin, uint64_t end,
                     int64_t value, const char *text);
/* The same for an event about the inbound message m. */
void fl_session_emit_msg(struct fl_session *s, enum fl_event_type type, const struct fl_msg *m,
                         uint64_t begin, uint64_t end, int64_t value, const char *text);
void fl_session_batch_begin(struct fl_session *s);
void fl_session_batch_end(struct fl_session *s, int64_t now);
void fl_session_flush(struct fl_session *s, int64_t now);
/* Starts a new outbound message in s->b with the standard header; a possible duplicate gets
 * PossDupFlag=Y and, when orig_time is given, OrigSendingTime. */
int fl_session_start_header(struct fl_session *s, const char *type, size_t type_len, uint64_t seq,
                            int64_t now, int poss_dup, const char *orig_time, size_t orig_len);
int fl_session_start_msg(struct fl_session *s, const char *type, size_t type_len, uint64_t seq,
                         int64_t now);
/* Finishes s->b and stages it; `is_new` advances next_sender and stores it. */
int fl_session_stage_built(struct fl_session *s, uint64_t seq, int is_new);
/* Builds and stages a new admin message of `type` with body fields added by the caller via
 * the helpers below. */
int fl_session_send_logout(struct fl_session *s, const char *text, int64_t now);
int fl_session_send_heartbeat(struct fl_session *s, const char *test_req_id, size_t n, int64_t now);
int fl_session_send_resend_request(struct fl_session *s, uint64_t begin, uint64_t end, int64_t now);
int fl_session_send_reject(struct fl_session *s, const struct fl_msg *m, uint64_t ref_seq, int reason,
                           uint32_t ref_tag, const char *text, int64_t now);
int fl_session_send_logon(struct fl_session *s, int reset, int64_t now);
void fl_session_request_disconnect(struct fl_session *s, const char *why);
void fl_session_flush_out_queue(struct fl_session *s, int64_t now);
void fl_session_clear_inbound_queue(struct fl_session *s);
int fl_session_reset_store(struct fl_session *s, int64_t now);
int fl_session_is_logged_on(const struct fl_session *s);

/* fl_session_inbound.c */
void fl_session_on_frame(struct fl_session *s, const char *p, size_t n, int64_t now);
void fl_session_complete_logon(struct fl_session *s, const struct fl_msg *logon, int64_t now);
void fl_session_drain_queue(struct fl_session *s, int64_t now);
/* Asks again for a gap that has not moved for a while (a lost ResendRequest or replay). */
void fl_session_retry_resend(struct fl_session *s, int64_t now);

/* fl_session_resend.c */
void fl_session_serve_resend(struct fl_session *s, uint64_t begin, uint64_t end, int64_t now);
void fl_session_continue_resend(struct fl_session *s, int64_t now);
int fl_session_send_gap_fill(struct fl_session *s, uint64_t seq, uint64_t new_seq, int64_t now);

/* Small helpers. */
int fl_session_buf_append(struct byte_buf *b, const char *p, size_t n);
int fl_msg_type_is_admin(const char *t, size_t n);

#endif
