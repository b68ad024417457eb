/* fixlua — session lifecycle, batches, outbound messages and timers (see fl_session.h).
 *
 * Every public entry point runs inside a batch: outbound messages built while handling one
 * input are staged, committed to the store together with the new expected inbound MsgSeqNum,
 * and only then handed to the transport. Nested entry points (a script sending from inside
 * io->deliver) join the open batch. Inbound checks live in fl_session_inbound.c, resends in
 * fl_session_resend.c. */
#include "fl_session_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "fl_frame.h"
#include "fl_tags.h"

#define SOH '\001'

static const char *const state_names[FL_STATE__COUNT] = {
    [FL_STATE_DISCONNECTED] = "disconnected",
    [FL_STATE_CONNECTED] = "connected",
    [FL_STATE_LOGON_SENT] = "logon_sent",
    [FL_STATE_LOGON_PENDING] = "logon_pending",
    [FL_STATE_ACTIVE] = "active",
    [FL_STATE_RESENDING] = "resending",
    [FL_STATE_LOGOUT_SENT] = "logout_sent",
};

static const char *const event_names[FL_EV__COUNT] = {
    [FL_EV_STATE] = "state",
    [FL_EV_LOGON] = "logon",
    [FL_EV_LOGON_REJECTED] = "logon_rejected",
    [FL_EV_LOGON_TIMEOUT] = "logon_timeout",
    [FL_EV_LOGOUT] = "logout",
    [FL_EV_LOGOUT_TIMEOUT] = "logout_timeout",
    [FL_EV_REJECT_RECEIVED] = "reject_received",
    [FL_EV_REJECT_SENT] = "reject_sent",
    [FL_EV_GARBLED] = "garbled",
    [FL_EV_GAP] = "gap",
    [FL_EV_RESEND_REQUEST] = "resend_request",
    [FL_EV_RESEND_SKIPPED] = "resend_skipped",
    [FL_EV_SEQUENCE_RESET] = "sequence_reset",
    [FL_EV_TRANSMISSION_FAIL] = "transmission_fail",
    [FL_EV_LATENCY] = "latency",
    [FL_EV_QUEUE_THRESHOLD] = "queue_threshold",
    [FL_EV_VALIDATION_FAILED] = "validation_failed",
    [FL_EV_THROTTLE] = "throttle",
    [FL_EV_ERROR] = "error",
    [FL_EV_DISCONNECT] = "disconnect",
};

const char *fl_session_state_name(enum fl_session_state st)
{
    return (unsigned)st < FL_STATE__COUNT ? state_names[st] : "unknown";
}

const char *fl_event_name(enum fl_event_type t)
{
    return (unsigned)t < FL_EV__COUNT ? event_names[t] : "unknown";
}

int fl_fix_version_of(const char *bs, size_t n)
{
    static const char *const names[FL_FIX__COUNT] = {"FIX.4.0", "FIX.4.1", "FIX.4.2",
                                                      "FIX.4.3", "FIX.4.4", "FIXT.1.1"};
    for (int v = 0; v < FL_FIX__COUNT; v++)
        if (strlen(names[v]) == n && memcmp(names[v], bs, n) == 0)
            return v;
    return -1;
}

int fl_msg_type_is_admin(const char *t, size_t n)
{
    if (n != 1)
        return 0;
    switch (t[0]) {
    case '0': case '1': case '2': case '3': case '4': case '5': case 'A':
        return 1;
    default:
        return 0;
    }
}

int fl_session_buf_append(struct byte_buf *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return FL_ENOMEM;
        b->p = np;
        b->cap = ncap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return FL_OK;
}

/* ---- lifecycle ---- */

static int copy_config_strings(struct fl_session *s, const struct fl_session_config *cfg)
{
    const char *parts[4] = {cfg->begin_string, cfg->sender_comp_id, cfg->target_comp_id,
                            cfg->default_appl_ver_id ? cfg->default_appl_ver_id : ""};
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += strlen(parts[i]) + 1;
    s->strings = malloc(total);
    if (!s->strings)
        return FL_ENOMEM;
    char *w = s->strings;
    const char **dst[4] = {&s->cfg.begin_string, &s->cfg.sender_comp_id, &s->cfg.target_comp_id,
                           &s->cfg.default_appl_ver_id};
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]) + 1;
        memcpy(w, parts[i], n);
        *dst[i] = w;
        w += n;
    }
    return FL_OK;
}

static int bad_config(char *errbuf, size_t errlen, const char *what)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", what);
    return FL_EINVAL;
}

static int has_soh_or_empty(const char *v)
{
    return !v || !*v || strchr(v, SOH) != NULL;
}

int fl_session_new(const struct fl_session_config *cfg, struct fl_store *store,
                   const struct fl_session_io *io, struct fl_session **out, char *errbuf,
                   size_t errlen)
{
    *out = NULL;
    if (!cfg || !store || !io || !io->send)
        return bad_config(errbuf, errlen, "session needs a config, a store and io->send");
    if ((unsigned)cfg->role >= FL_ROLE__COUNT)
        return bad_config(errbuf, errlen, "role must be initiator or acceptor");
    if (has_soh_or_empty(cfg->begin_string))
        return bad_config(errbuf, errlen, "begin_string missing");
    int version = fl_fix_version_of(cfg->begin_string, strlen(cfg->begin_string));
    if (version < 0)
        return bad_config(errbuf, errlen,
                          "begin_string must be FIX.4.0, FIX.4.1, FIX.4.2, FIX.4.3, FIX.4.4 or FIXT.1.1");
    if (has_soh_or_empty(cfg->sender_comp_id) || has_soh_or_empty(cfg->target_comp_id))
        return bad_config(errbuf, errlen, "sender_comp_id and target_comp_id are required");
    if (version == FL_FIXT_11 && has_soh_or_empty(cfg->default_appl_ver_id))
        return bad_config(errbuf, errlen, "FIXT.1.1 needs default_appl_ver_id (e.g. \"9\" for FIX.5.0SP2)");
    if (cfg->heartbeat_interval < 0 || cfg->heartbeat_interval > 86400)
        return bad_config(errbuf, errlen, "heartbeat must be 0..86400 seconds");
    if (cfg->timestamp_digits && cfg->timestamp_digits != 3 && cfg->timestamp_digits != 6 &&
        cfg->timestamp_digits != 9)
        return bad_config(errbuf, errlen, "timestamp digits must be 0, 3, 6 or 9");

    struct fl_session *s = calloc(1, sizeof *s);
    if (!s)
        return FL_ENOMEM;
    s->cfg = *cfg;
    if (copy_config_strings(s, cfg) != FL_OK) {
        free(s);
        return FL_ENOMEM;
    }
    s->version = (enum fl_fix_version)version;
    s->begin_string_len = strlen(s->cfg.begin_string);
    s->sender_len = strlen(s->cfg.sender_comp_id);
    s->target_len = strlen(s->cfg.target_comp_id);
    if (!s->cfg.heartbeat_min)
        s->cfg.heartbeat_min = 1;
    if (!s->cfg.heartbeat_max)
        s->cfg.heartbeat_max = 3600;
    if (!s->cfg.logon_timeout)
        s->cfg.logon_timeout = 10;
    if (!s->cfg.logout_timeout)
        s->cfg.logout_timeout = 2;
    if (!s->cfg.max_latency_ns)
        s->cfg.max_latency_ns = 120 * NS_PER_SEC;
    if (!s->cfg.check_comp_id)
        s->cfg.check_comp_id = 1;
    if (!s->cfg.require_orig_sending_time)
        s->cfg.require_orig_sending_time = 1;
    if (!s->cfg.timestamp_digits && version >= FL_FIX_42)
        s->cfg.timestamp_digits = 3;
    if (!s->cfg.max_inbound_queue)
        s->cfg.max_inbound_queue = 10000;
    if (!s->cfg.inbound_queue_warn || s->cfg.inbound_queue_warn > s->cfg.max_inbound_queue)
        s->cfg.inbound_queue_warn = s->cfg.max_inbound_queue;
    if (!s->cfg.max_outbound_queue)
        s->cfg.max_outbound_queue = 100000;
    if (!s->cfg.max_garbled)
        s->cfg.max_garbled = 100;
    if (!s->cfg.max_message_size)
        s->cfg.max_message_size = 1u << 20;
    if (!s->cfg.output_high_watermark)
        s->cfg.output_high_watermark = 4u << 20;
    s->store = store;
    s->io = *io;
    s->state = FL_STATE_DISCONNECTED;
    s->heartbeat = cfg->heartbeat_interval;
    s->next_sender = fl_store_next_sender(store);
    s->next_target = fl_store_next_target(store);
    fl_builder_init(&s->b);
    s->b.max_len = s->cfg.max_message_size;
    fl_msg_init(&s->in);
    fl_msg_init(&s->stored);
    fl_msg_init(&s->drained);
    fl_msg_init(&s->pending_logon);
    fl_validator_init(&s->validator);
    *out = s;
    return FL_OK;
}

void fl_session_clear_inbound_queue(struct fl_session *s)
{
    for (uint32_t i = 0; i < s->ninq; i++)
        free(s->inq[i].frame);
    s->ninq = 0;
    s->inq_bytes = 0;
    s->queue_warned = 0;
}

void fl_session_free(struct fl_session *s)
{
    if (!s)
        return;
    fl_session_clear_inbound_queue(s);
    free(s->inq);
    free(s->outq);
    free(s->outq_bytes.p);
    free(s->stage.p);
    free(s->staged);
    free(s->sending.p);
    free(s->sending_msgs);
    free(s->send_lens);
    free(s->store_msgs);
    fl_msg_release(&s->pending_logon);
    fl_msg_release(&s->in);
    fl_msg_release(&s->stored);
    fl_msg_release(&s->drained);
    fl_validator_release(&s->validator);
    fl_builder_release(&s->b);
    free(s->strings);
    free(s);
}

/* ---- events and state ---- */

void fl_session_emit_msg(struct fl_session *s, enum fl_event_type type, const struct fl_msg *m,
                         uint64_t begin, uint64_t end, int64_t value, const char *text)
{
    if (!s->io.event)
        return;
    struct fl_session_event ev = {.type = type, .from = s->state, .to = s->state, .begin = begin,
                                  .end = end, .value = value, .text = text ? text : "", .msg = m};
    s->io.event(s->io.ctx, &ev);
}

void fl_session_emit(struct fl_session *s, enum fl_event_type type, uint64_t begin, uint64_t end,
                     int64_t value, const char *text)
{
    fl_session_emit_msg(s, type, NULL, begin, end, value, text);
}

void fl_session_set_state(struct fl_session *s, enum fl_session_state st, int64_t now)
{
    if (s->state == st)
        return;
    enum fl_session_state from = s->state;
    s->state = st;
    s->state_since = now;
    if (s->io.event) {
        struct fl_session_event ev = {.type = FL_EV_STATE, .from = from, .to = st, .text = ""};
        s->io.event(s->io.ctx, &ev);
    }
}

int fl_session_is_logged_on(const struct fl_session *s)
{
    return s->state == FL_STATE_ACTIVE || s->state == FL_STATE_RESENDING ||
           s->state == FL_STATE_LOGOUT_SENT;
}

void fl_session_request_disconnect(struct fl_session *s, const char *why)
{
    if (!s->disconnect_requested) {
        s->disconnect_requested = 1;
        snprintf(s->disconnect_why, sizeof s->disconnect_why, "%.159s", why ? why : "");
    }
}

/* ---- batches ---- */

void fl_session_batch_begin(struct fl_session *s)
{
    if (s->depth++ == 0)
        s->batch_failed = 0;
}

int fl_session_batching(const struct fl_session *s)
{
    return s->depth > 0;
}

static void drop_stage(struct fl_session *s)
{
    s->stage.len = 0;
    s->nstaged = 0;
    s->target_dirty = 0;
}

static void finish_disconnect(struct fl_session *s, int64_t now)
{
    s->disconnect_requested = 0;
    if (s->state == FL_STATE_DISCONNECTED)
        return;
    fl_session_emit(s, FL_EV_DISCONNECT, 0, 0, 0, s->disconnect_why);
    if (s->io.disconnect)
        s->io.disconnect(s->io.ctx, s->disconnect_why);
    fl_session_on_disconnect(s, now);
}

static int commit_stage(struct fl_session *s)
{
    size_t nnew = 0;
    for (size_t i = 0; i < s->nstaged; i++)
        nnew += s->staged[i].is_new;
    if (nnew > s->store_msgs_cap) {
        struct fl_store_msg *nm = realloc(s->store_msgs, nnew * sizeof *nm);
        if (!nm)
            return FL_ENOMEM;
        s->store_msgs = nm;
        s->store_msgs_cap = nnew;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nstaged; i++) {
        if (!s->staged[i].is_new)
            continue;
        s->store_msgs[k].seq = s->staged[i].seq;
        s->store_msgs[k].data = s->stage.p + s->staged[i].off;
        s->store_msgs[k].len = s->staged[i].len;
        k++;
    }
    if (k == 0 && !s->target_dirty)
        return FL_OK;
    struct fl_store_batch batch = {.next_target = s->target_dirty ? s->next_target : 0,
                                   .next_sender = s->next_sender,
                                   .msgs = s->store_msgs,
                                   .nmsgs = k};
    return fl_store_commit(s->store, &batch);
}

/* Makes the staged batch the one being sent, and the stage empty. Returns its size. */
static size_t take_stage(struct fl_session *s)
{
    size_t n = s->nstaged;
    struct byte_buf b = s->sending;
    s->sending = s->stage;
    s->stage = b;
    struct staged_msg *m = s->sending_msgs;
    s->sending_msgs = s->staged;
    s->staged = m;
    size_t cap = s->sending_cap;
    s->sending_cap = s->staged_cap;
    s->staged_cap = cap;
    drop_stage(s);
    return n;
}

/* Room for n lengths in send_lens; 0 when memory is short (each message then goes alone). */
static int send_lens_fit(struct fl_session *s, size_t n)
{
    if (n <= s->send_lens_cap)
        return 1;
    size_t cap = s->send_lens_cap ? s->send_lens_cap : 16;
    while (cap < n)
        cap *= 2;
    size_t *p = realloc(s->send_lens, cap * sizeof *p);
    if (!p)
        return 0;
    s->send_lens = p;
    s->send_lens_cap = cap;
    return 1;
}

/* Commits what is staged and hands it to the transport, at any depth: batch_end at the
 * outermost level, and long work inside a batch (a paced replay, a burst of frames) that must
 * not hold everything it stages until the end. */
void fl_session_flush(struct fl_session *s, int64_t now)
{
    if (s->batch_failed) {
        /* An earlier commit of this batch failed and the connection is going: what was staged
         * since (a queued message taken for a logon, a ResendRequest, what on_error sent) is
         * dropped as that commit's was, and its numbers are rolled back with it. */
        s->outq_head = s->outq_committed;
        drop_stage(s);
        s->next_sender = fl_store_next_sender(s->store);
        s->next_target = fl_store_next_target(s->store);
        return;
    }
    /* Round 0 commits what the batch's caller staged; later rounds what the send hooks added. */
    for (int round = 0;; round++) {
        int rc = commit_stage(s);
        if (rc == FL_OK) {
            /* Queued messages this batch staged are stored now: their entries can go. */
            s->outq_committed = s->outq_head;
            if (s->outq_head == s->noutq && s->noutq) {
                s->outq_head = s->noutq = s->outq_committed = 0;
                s->outq_bytes.len = 0;
            }
        }
        if (rc != FL_OK) {
            /* Nothing of this batch may leave: roll the counters back to what is durable and
             * drop the connection; the peer's ResendRequest recovers after reconnecting. Queued
             * messages it took are queued again, for the next logon. */
            s->outq_head = s->outq_committed;
            /* A batch holds the frames of a whole read: say which inbound numbers the peer
             * will resend (with PossDupFlag, after the application has seen them once) and how
             * many of our messages, answers included, were never sent. */
            size_t lost = 0;
            for (size_t i = 0; i < s->nstaged; i++)
                lost += s->staged[i].is_new;
            uint64_t durable_target = fl_store_next_target(s->store);
            uint64_t rolled_back_end = s->next_target > durable_target ? s->next_target - 1 : 0;
            char text[480];
            int tl = snprintf(text, sizeof text, "store commit failed (%s): %.250s",
                              fl_err_name(rc), s->store->last_error);
            if (rolled_back_end && tl > 0 && (size_t)tl < sizeof text)
                snprintf(text + tl, sizeof text - (size_t)tl,
                         "; inbound %" PRIu64 "..%" PRIu64 " rolled back for the peer to resend",
                         durable_target, rolled_back_end);
            tl = (int)strlen(text);
            if (lost && (size_t)tl < sizeof text)
                snprintf(text + tl, sizeof text - (size_t)tl, "; %zu message%s not sent", lost,
                         lost == 1 ? "" : "s");
            drop_stage(s);
            s->batch_failed = 1;
            if (round == 0)
                s->commit_failures++;
            s->next_sender = fl_store_next_sender(s->store);
            s->next_target = durable_target;
            fl_session_emit(s, FL_EV_ERROR, rolled_back_end ? durable_target : 0, rolled_back_end,
                            rc, text);
            fl_session_request_disconnect(s, text);
            break;
        }
        size_t n = take_stage(s);
        if (n == 0)
            break;
        /* What the send hooks stage joins the next round: after these, in sequence order. */
        s->depth++;
        if (s->io.send_many && send_lens_fit(s, n)) {
            for (size_t i = 0; i < n; i++)
                s->send_lens[i] = s->sending_msgs[i].len;
            s->transport_backlog = s->io.send_many(s->io.ctx, s->sending.p, s->sending.len,
                                                   s->send_lens, n);
        } else {
            for (size_t i = 0; i < n; i++)
                s->transport_backlog = s->io.send(s->io.ctx, s->sending.p + s->sending_msgs[i].off,
                                                  s->sending_msgs[i].len);
        }
        s->depth--;
        s->last_sent = now;
    }
}

void fl_session_batch_end(struct fl_session *s, int64_t now)
{
    if (--s->depth > 0)
        return;
    fl_session_flush(s, now);
    if (s->disconnect_requested) {
        s->depth++; /* callbacks fired while disconnecting must not commit a half batch */
        finish_disconnect(s, now);
        s->depth--;
        drop_stage(s);
    }
    s->batch_failed = 0; /* the batch is over: what follows (a reset on disconnect) is new */
    if (s->reset_pending) {
        /* ResetOnLogout/ResetOnDisconnect: after the batch that ended the session is durable,
         * so the old journal keeps the final Logout. */
        s->reset_pending = 0;
        int reset_rc = fl_session_reset_store(s, now);
        (void)reset_rc; /* a failure is reported as an event by fl_session_reset_store */
    }
}

/* ---- building outbound messages ---- */

/* Header fields after 8, 9 and 35 go in ascending tag order, the order QuickFIX and most
 * engines write (and the FIX acceptance tests compare): 34, [43], 49, 52, 56, [122]. */
int fl_session_start_header(struct fl_session *s, const char *type, size_t type_len, uint64_t seq,
                            int64_t now, int poss_dup, const char *orig_time, size_t orig_len)
{
    struct fl_builder *b = &s->b;
    int rc = fl_builder_begin(b, s->cfg.begin_string, type, type_len);
    if (rc != FL_OK)
        return rc;
    fl_builder_add_int(b, FL_TAG_MSG_SEQ_NUM, (int64_t)seq);
    if (poss_dup)
        fl_builder_add_bool(b, FL_TAG_POSS_DUP_FLAG, 1);
    fl_builder_add_str(b, FL_TAG_SENDER_COMP_ID, s->cfg.sender_comp_id, s->sender_len);
    fl_builder_add_utc_timestamp(b, FL_TAG_SENDING_TIME, now, s->cfg.timestamp_digits);
    fl_builder_add_str(b, FL_TAG_TARGET_COMP_ID, s->cfg.target_comp_id, s->target_len);
    if (orig_time)
        fl_builder_add_str(b, FL_TAG_ORIG_SENDING_TIME, orig_time, orig_len);
    return FL_OK;
}

int fl_session_start_msg(struct fl_session *s, const char *type, size_t type_len, uint64_t seq,
                         int64_t now)
{
    return fl_session_start_header(s, type, type_len, seq, now, 0, NULL, 0);
}

int fl_session_stage_built(struct fl_session *s, uint64_t seq, int is_new)
{
    const char *frame;
    size_t n;
    int rc = fl_builder_finish(&s->b, &frame, &n);
    if (rc != FL_OK)
        return rc;
    if (s->nstaged == s->staged_cap) {
        size_t ncap = s->staged_cap ? s->staged_cap * 2 : 16;
        struct staged_msg *ns = realloc(s->staged, ncap * sizeof *ns);
        if (!ns)
            return FL_ENOMEM;
        s->staged = ns;
        s->staged_cap = ncap;
    }
    size_t off = s->stage.len;
    rc = fl_session_buf_append(&s->stage, frame, n);
    if (rc != FL_OK)
        return rc;
    s->staged[s->nstaged++] = (struct staged_msg){.seq = seq, .off = off, .len = n, .is_new = is_new};
    if (is_new && seq >= s->next_sender)
        s->next_sender = seq + 1;
    return FL_OK;
}

static int stage_error(struct fl_session *s, int rc, const char *what)
{
    char text[160];
    snprintf(text, sizeof text, "could not build %s: %s", what, fl_strerror(rc));
    fl_session_emit(s, FL_EV_ERROR, 0, 0, rc, text);
    return rc;
}

int fl_session_send_logout(struct fl_session *s, const char *text, int64_t now)
{
    int rc = fl_session_start_msg(s, "5", 1, s->next_sender, now);
    if (rc == FL_OK && text && *text)
        fl_builder_add_cstr(&s->b, FL_TAG_TEXT, text);
    if (rc == FL_OK)
        rc = fl_session_stage_built(s, s->next_sender, 1);
    return rc == FL_OK ? rc : stage_error(s, rc, "Logout");
}

int fl_session_send_heartbeat(struct fl_session *s, const char *id, size_t n, int64_t now)
{
    int rc = fl_session_start_msg(s, "0", 1, s->next_sender, now);
    if (rc == FL_OK && id && n)
        fl_builder_add_str(&s->b, FL_TAG_TEST_REQ_ID, id, n);
    if (rc == FL_OK)
        rc = fl_session_stage_built(s, s->next_sender, 1);
    return rc == FL_OK ? rc : stage_error(s, rc, "Heartbeat");
}

int fl_session_send_resend_request(struct fl_session *s, uint64_t begin, uint64_t end, int64_t now)
{
    int rc = fl_session_start_msg(s, "2", 1, s->next_sender, now);
    if (rc == FL_OK) {
        fl_builder_add_int(&s->b, FL_TAG_BEGIN_SEQ_NO, (int64_t)begin);
        fl_builder_add_int(&s->b, FL_TAG_END_SEQ_NO, (int64_t)end);
        rc = fl_session_stage_built(s, s->next_sender, 1);
    }
    return rc == FL_OK ? rc : stage_error(s, rc, "ResendRequest");
}

/* A Reject goes back the way the message came: its OnBehalfOf* routing fields become
 * DeliverTo* and the other way round (LocationIDs from FIX.4.1); empty ones are not copied.
 * QuickFIX does this, and acceptance tests ReverseRoute* expect it. Header order: by tag. */
static void add_reverse_route(struct fl_session *s, const struct fl_msg *m)
{
    static const uint32_t route[][2] = {
        {FL_TAG_ON_BEHALF_OF_COMP_ID, FL_TAG_DELIVER_TO_COMP_ID},
        {FL_TAG_ON_BEHALF_OF_SUB_ID, FL_TAG_DELIVER_TO_SUB_ID},
        {FL_TAG_DELIVER_TO_COMP_ID, FL_TAG_ON_BEHALF_OF_COMP_ID},
        {FL_TAG_DELIVER_TO_SUB_ID, FL_TAG_ON_BEHALF_OF_SUB_ID},
        {FL_TAG_ON_BEHALF_OF_LOCATION_ID, FL_TAG_DELIVER_TO_LOCATION_ID},
        {FL_TAG_DELIVER_TO_LOCATION_ID, FL_TAG_ON_BEHALF_OF_LOCATION_ID},
    }; /* {tag written, tag it comes from}, by the tag written */
    for (size_t k = 0; k < sizeof route / sizeof route[0]; k++) {
        if (route[k][0] >= FL_TAG_ON_BEHALF_OF_LOCATION_ID && s->version < FL_FIX_41)
            break;
        int i = fl_msg_find(m, route[k][1]);
        if (i >= 0 && m->fields[i].len)
            fl_builder_add_str(&s->b, route[k][0], fl_msg_value(m, (uint32_t)i), m->fields[i].len);
    }
}

int fl_session_send_reject(struct fl_session *s, const struct fl_msg *m, uint64_t ref_seq,
                           int reason, uint32_t ref_tag, const char *text, int64_t now)
{
    int rc = fl_session_start_msg(s, "3", 1, s->next_sender, now);
    if (rc != FL_OK)
        return stage_error(s, rc, "Reject");
    if (m)
        add_reverse_route(s, m);
    fl_builder_add_int(&s->b, FL_TAG_REF_SEQ_NUM, (int64_t)ref_seq);
    char versioned[200];
    if (s->version <= FL_FIX_41 && ref_tag && text && *text) {
        /* FIX.4.0/4.1 have only Text to say which field. */
        snprintf(versioned, sizeof versioned, "%s (%u)", text, ref_tag);
        text = versioned;
    }
    /* Body fields in ascending tag order: 45, 58, 371, 372, 373. */
    if (text && *text)
        fl_builder_add_cstr(&s->b, FL_TAG_TEXT, text);
    if (s->version >= FL_FIX_42) {
        /* RefTagID, RefMsgType and SessionRejectReason exist from FIX.4.2 on; 4.2 defines
         * reasons 0..11 only. */
        if (ref_tag)
            fl_builder_add_int(&s->b, FL_TAG_REF_TAG_ID, ref_tag);
        int ti = m ? fl_msg_hdr(m, FL_HDR_MSG_TYPE) : -1;
        if (ti >= 0 && m->fields[ti].len)
            fl_builder_add_str(&s->b, FL_TAG_REF_MSG_TYPE, fl_msg_value(m, (uint32_t)ti),
                               m->fields[ti].len);
        if (reason >= 0 && (s->version > FL_FIX_42 || reason <= 11))
            fl_builder_add_int(&s->b, FL_TAG_SESSION_REJECT_REASON, reason);
    }
    rc = fl_session_stage_built(s, s->next_sender, 1);
    if (rc != FL_OK)
        return stage_error(s, rc, "Reject");
    fl_session_emit_msg(s, FL_EV_REJECT_SENT, m, ref_seq, ref_tag, reason, text);
    return FL_OK;
}

int fl_session_send_logon(struct fl_session *s, int reset, int64_t now)
{
    uint64_t seq = reset ? 1 : s->next_sender;
    int rc = fl_session_start_msg(s, "A", 1, seq, now);
    if (rc != FL_OK)
        return stage_error(s, rc, "Logon");
    fl_builder_add_int(&s->b, FL_TAG_ENCRYPT_METHOD, 0);
    fl_builder_add_int(&s->b, FL_TAG_HEART_BT_INT, s->heartbeat);
    if (reset)
        fl_builder_add_bool(&s->b, FL_TAG_RESET_SEQ_NUM_FLAG, 1);
    if (s->cfg.send_next_expected && s->version >= FL_FIX_44)
        fl_builder_add_int(&s->b, FL_TAG_NEXT_EXPECTED_MSG_SEQ_NUM, (int64_t)s->next_target);
    if (s->version == FL_FIXT_11)
        fl_builder_add_cstr(&s->b, FL_TAG_DEFAULT_APPL_VER_ID, s->cfg.default_appl_ver_id);
    if (s->io.prepare_logon)
        s->io.prepare_logon(s->io.ctx, &s->b);
    rc = fl_session_stage_built(s, seq, 1);
    return rc == FL_OK ? rc : stage_error(s, rc, "Logon");
}

int fl_session_reset_store(struct fl_session *s, int64_t now)
{
    /* What the batch staged so far carries the old numbers: it belongs to the old journal, and
     * goes out before whatever the reset leads to. */
    if (s->nstaged || s->target_dirty)
        fl_session_flush(s, now);
    if (s->batch_failed)
        return FL_EIO; /* reported, and the connection is going */
    int rc = fl_store_reset(s->store, now);
    if (rc != FL_OK) {
        char text[320];
        snprintf(text, sizeof text, "sequence reset failed in the store: %.250s", s->store->last_error);
        fl_session_emit(s, FL_EV_ERROR, 0, 0, rc, text);
        return rc;
    }
    s->next_sender = 1;
    s->next_target = 1;
    s->target_dirty = 0;
    /* Held messages, the gap we asked for and a paused resend all use the old numbers. */
    fl_session_clear_inbound_queue(s);
    s->resend_requested = 0;
    s->highest_seen = 0;
    s->serving = 0;
    return FL_OK;
}

/* ---- transport events ---- */

void fl_session_on_connect(struct fl_session *s, int64_t now)
{
    if (s->state != FL_STATE_DISCONNECTED)
        return;
    fl_session_batch_begin(s);
    s->last_received = now;
    s->last_sent = now;
    s->garbled_in_row = 0;
    s->test_request_pending = 0;
    s->highest_seen = 0;
    s->logout_from_peer = 0;
    s->reset_in_session = 0;
    s->heartbeat = s->cfg.heartbeat_interval;
    fl_session_set_state(s, FL_STATE_CONNECTED, now);
    if (s->cfg.role == FL_ROLE_INITIATOR) {
        int reset = s->cfg.reset_on_logon != 0;
        /* ResetOnLogon: we ask for the reset, so both of our sequences restart before the
         * Logon leaves (the old journal is archived by the store). */
        if (reset && fl_session_reset_store(s, now) != FL_OK) {
            fl_session_request_disconnect(s, "sequence reset failed");
        } else if (fl_session_send_logon(s, reset, now) == FL_OK) {
            s->logon_reset_sent = reset;
            fl_session_set_state(s, FL_STATE_LOGON_SENT, now);
        } else {
            fl_session_request_disconnect(s, "could not build Logon");
        }
    }
    fl_session_batch_end(s, now);
}

void fl_session_on_disconnect(struct fl_session *s, int64_t now)
{
    if (s->state == FL_STATE_DISCONNECTED)
        return;
    fl_session_clear_inbound_queue(s);
    s->resend_requested = 0;
    s->serving = 0;
    s->test_request_pending = 0;
    if (s->has_pending_logon) {
        fl_msg_release(&s->pending_logon);
        s->has_pending_logon = 0;
    }
    fl_session_set_state(s, FL_STATE_DISCONNECTED, now);
    if (s->cfg.reset_on_disconnect)
        s->reset_pending = 1;
    if (s->depth == 0) {
        fl_session_batch_begin(s);
        fl_session_batch_end(s, now);
    }
}

/* The frames of one read form one batch: what they stage is committed together (one
 * fdatasync for all of them with sync=every) and leaves in one write, and the fixed cost of a
 * commit is paid once per read instead of once per message. The bytes reach the socket no later
 * than before, since the transport writes at the end of the event loop's iteration anyway. A long
 * burst is cut every FRAMES_PER_BATCH frames so that what waits to be committed stays small. */
#define FRAMES_PER_BATCH 64

size_t fl_session_on_bytes(struct fl_session *s, const char *p, size_t n, int64_t now)
{
    size_t used = 0;
    unsigned frames = 0;
    fl_session_batch_begin(s);
    while (used < n && s->state != FL_STATE_DISCONNECTED && !s->disconnect_requested) {
        struct fl_frame f;
        enum fl_frame_status st = fl_frame_scan(p + used, n - used, s->cfg.max_message_size, &f);
        if (st == FL_FRAME_NEED_MORE)
            break;
        if (st == FL_FRAME_GARBLED) {
            used += f.skip;
            s->garbled_in_row++;
            fl_session_batch_begin(s);
            fl_session_emit(s, FL_EV_GARBLED, 0, 0, (int64_t)f.skip, fl_frame_reason_text(f.reason));
            if (s->garbled_in_row >= s->cfg.max_garbled) {
                fl_session_emit(s, FL_EV_ERROR, 0, 0, FL_EPROTO, "too many garbled messages in a row");
                fl_session_request_disconnect(s, "too many garbled messages");
            }
            fl_session_batch_end(s, now);
            continue;
        }
        s->garbled_in_row = 0;
        fl_session_on_frame(s, p + used, f.len, now);
        used += f.len;
        if (++frames == FRAMES_PER_BATCH) {
            fl_session_flush(s, now);
            frames = 0;
        }
    }
    fl_session_batch_end(s, now);
    if (s->state == FL_STATE_DISCONNECTED)
        return n; /* nothing more is read from a dropped connection */
    return used;
}

/* ---- timers ---- */

static int64_t hb_ns(const struct fl_session *s)
{
    return (int64_t)s->heartbeat * NS_PER_SEC;
}

/* The peer is silent for too long once HeartBtInt plus 20% has passed (the "reasonable
 * transmission time" of the standard); a TestRequest then gets the same again to be answered. */
static int64_t silence_limit(const struct fl_session *s)
{
    return hb_ns(s) + hb_ns(s) / 5;
}

int64_t fl_session_next_deadline(const struct fl_session *s)
{
    switch (s->state) {
    case FL_STATE_CONNECTED:
    case FL_STATE_LOGON_SENT:
    case FL_STATE_LOGON_PENDING:
        return s->state_since + (int64_t)s->cfg.logon_timeout * NS_PER_SEC;
    case FL_STATE_LOGOUT_SENT:
        return s->state_since + (int64_t)s->cfg.logout_timeout * NS_PER_SEC;
    case FL_STATE_ACTIVE:
    case FL_STATE_RESENDING: {
        if (s->heartbeat <= 0)
            return INT64_MAX;
        int64_t send_due = s->test_request_pending ? INT64_MAX : s->last_sent + hb_ns(s);
        int64_t recv_due = s->last_received + silence_limit(s) * (s->test_request_pending ? 2 : 1);
        return send_due < recv_due ? send_due : recv_due;
    }
    default:
        return INT64_MAX;
    }
}

void fl_session_tick(struct fl_session *s, int64_t now)
{
    fl_session_batch_begin(s);
    switch (s->state) {
    case FL_STATE_CONNECTED:
    case FL_STATE_LOGON_SENT:
    case FL_STATE_LOGON_PENDING:
        if (now - s->state_since >= (int64_t)s->cfg.logon_timeout * NS_PER_SEC) {
            fl_session_emit(s, FL_EV_LOGON_TIMEOUT, 0, 0, 0, "logon timed out");
            fl_session_request_disconnect(s, "logon timeout");
        }
        break;
    case FL_STATE_LOGOUT_SENT:
        if (now - s->state_since >= (int64_t)s->cfg.logout_timeout * NS_PER_SEC) {
            fl_session_emit(s, FL_EV_LOGOUT_TIMEOUT, 0, 0, 0, "logout timed out");
            fl_session_request_disconnect(s, "logout timeout");
        }
        break;
    case FL_STATE_ACTIVE:
    case FL_STATE_RESENDING:
        if (s->heartbeat <= 0)
            break;
        if (s->test_request_pending && now - s->last_received >= 2 * silence_limit(s)) {
            fl_session_emit(s, FL_EV_TRANSMISSION_FAIL, 0, 0, 0,
                            "no answer to TestRequest: peer presumed dead");
            fl_session_request_disconnect(s, "heartbeat timeout");
            break;
        }
        if (!s->test_request_pending && now - s->last_received >= silence_limit(s)) {
            /* TestReqID "TEST": what QuickFIX sends and acceptance test 6 expects. */
            s->test_request_counter++;
            fl_session_send_test_request(s, "TEST", now);
        }
        /* A gap that has not moved for two heartbeat intervals is asked for again. */
        if (s->resend_requested && now - s->resend_progress_at >= 2 * hb_ns(s))
            fl_session_retry_resend(s, now);
        /* No Heartbeat while a TestRequest waits for its answer (QuickFIX; acceptance test 6
         * expects the disconnect right after the unanswered TestRequest). */
        if (now - s->last_sent >= hb_ns(s) && s->nstaged == 0 && !s->test_request_pending)
            fl_session_send_heartbeat(s, NULL, 0, now);
        break;
    default:
        break;
    }
    fl_session_batch_end(s, now);
}

void fl_session_on_writable(struct fl_session *s, int64_t now)
{
    s->transport_backlog = 0;
    if (!s->serving)
        return;
    fl_session_batch_begin(s);
    fl_session_continue_resend(s, now);
    fl_session_batch_end(s, now);
}

/* ---- application API ---- */

static int queue_outbound(struct fl_session *s, const char *type, size_t tl, const char *extra,
                          size_t el, const char *body, size_t bl)
{
    if (s->noutq - s->outq_head >= s->cfg.max_outbound_queue)
        return FL_EAGAIN;
    if (s->noutq == s->outq_cap) {
        uint32_t ncap = s->outq_cap ? s->outq_cap * 2 : 64;
        struct queued_out *nq = realloc(s->outq, ncap * sizeof *nq);
        if (!nq)
            return FL_ENOMEM;
        s->outq = nq;
        s->outq_cap = ncap;
    }
    size_t off = s->outq_bytes.len;
    if (fl_session_buf_append(&s->outq_bytes, type, tl) != FL_OK ||
        fl_session_buf_append(&s->outq_bytes, extra, el) != FL_OK ||
        fl_session_buf_append(&s->outq_bytes, body, bl) != FL_OK) {
        s->outq_bytes.len = off;
        return FL_ENOMEM;
    }
    s->outq[s->noutq++] = (struct queued_out){.off = off, .type_len = (uint32_t)tl,
                                              .extra_len = (uint32_t)el, .body_len = (uint32_t)bl};
    return FL_OK;
}

/* p[soh] is an SOH right after an '=': an empty value when that '=' ends the field's tag, i.e.
 * the field holds only digits before it. A value may itself end in '=' (base64 IDs do). */
static int empty_value_at(const char *p, size_t soh)
{
    size_t j = soh - 1; /* the '=' */
    while (j > 0 && p[j - 1] != SOH) {
        if ((unsigned)(p[j - 1] - '0') > 9)
            return 0;
        j--;
    }
    return 1;
}

/* Encoded "tag=value<SOH>" fields: ends with SOH and holds no empty value ("tag=<SOH>"), which
 * the peer would have to reject. Data fields may contain SOH, so that is all that is checked. */
static int check_encoded_fields(const char *p, size_t n)
{
    if (n == 0)
        return FL_OK;
    if (p[n - 1] != SOH || p[0] == SOH)
        return FL_EINVAL;
    size_t i = 1;
#ifdef __SSE2__
    /* 16 bytes a step find SOHs right after an '=' (carried across steps); each such rare
     * candidate is then looked at. Every message sent passes here, and a byte loop was a third
     * of fl_session_send(). */
    const __m128i eq = _mm_set1_epi8('='), soh = _mm_set1_epi8(SOH);
    uint32_t carry = 0;
    for (i = 0; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        uint32_t me = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, eq));
        uint32_t ms = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, soh));
        for (uint32_t hit = ((me << 1) | carry) & ms; hit; hit &= hit - 1)
            if (empty_value_at(p, i + (unsigned)__builtin_ctz(hit)))
                return FL_EINVAL;
        carry = (me >> 15) & 1;
    }
    if (i == 0)
        i = 1;
#endif
    for (; i < n; i++)
        if (p[i] == SOH && p[i - 1] == '=' && empty_value_at(p, i))
            return FL_EINVAL;
    return FL_OK;
}

static int stage_app(struct fl_session *s, const char *type, size_t tl, const char *extra,
                     size_t el, const char *body, size_t bl, int64_t now)
{
    int rc = fl_session_start_msg(s, type, tl, s->next_sender, now);
    if (rc != FL_OK)
        return rc;
    if (el)
        fl_builder_add_raw(&s->b, extra, el);
    if (bl)
        fl_builder_add_raw(&s->b, body, bl);
    return fl_session_stage_built(s, s->next_sender, 1);
}

int fl_session_send(struct fl_session *s, const char *type, size_t tl, const char *extra,
                    size_t el, const char *body, size_t bl, int64_t now)
{
    if (!type || tl == 0 || memchr(type, SOH, tl) || check_encoded_fields(extra, el) != FL_OK ||
        check_encoded_fields(body, bl) != FL_OK)
        return FL_EINVAL;
    /* After a failed commit the batch, and the connection, are going: what the application
     * sends now (from on_error, say) waits for the next logon like a send while disconnected. */
    int ready = (s->state == FL_STATE_ACTIVE || s->state == FL_STATE_RESENDING) && !s->serving &&
                s->noutq == s->outq_head && !s->batch_failed;
    /* Admin messages are never queued: they belong to the current connection. */
    if (!ready && !fl_msg_type_is_admin(type, tl)) {
        /* What could never be built at logon is refused now, as it would be when logged on. */
        if (tl + el + bl > s->cfg.max_message_size)
            return FL_ELIMIT;
        return queue_outbound(s, type, tl, extra, el, body, bl);
    }
    if (!fl_session_is_logged_on(s) && s->state != FL_STATE_CONNECTED)
        return FL_ESTATE;
    if (s->batch_failed)
        return FL_EIO; /* an admin message belongs to this connection, which is going */
    /* A send that commits its own batch learns whether the commit held: a message that was
     * never stored never leaves, and the caller hears FL_EIO rather than FL_OK. (Inside a
     * callback's batch the commit comes later: a failure there ends the connection.) */
    unsigned failures = s->commit_failures;
    int own_batch = s->depth == 0;
    fl_session_batch_begin(s);
    int rc = stage_app(s, type, tl, extra, el, body, bl, now);
    fl_session_batch_end(s, now);
    if (rc == FL_OK && own_batch && s->commit_failures != failures)
        rc = FL_EIO;
    return rc;
}

void fl_session_flush_out_queue(struct fl_session *s, int64_t now)
{
    while (s->outq_head < s->noutq && !s->serving &&
           (s->state == FL_STATE_ACTIVE || s->state == FL_STATE_RESENDING)) {
        struct queued_out *q = &s->outq[s->outq_head];
        const char *base = s->outq_bytes.p + q->off;
        int rc = stage_app(s, base, q->type_len, base + q->type_len, q->extra_len,
                           base + q->type_len + q->extra_len, q->body_len, now);
        if (rc != FL_OK) {
            stage_error(s, rc, "a queued message");
        }
        s->outq_head++;
    }
    /* The entries are released once the batch that staged them is committed (batch_end). */
}

void fl_session_logout(struct fl_session *s, const char *text, int64_t now)
{
    fl_session_batch_begin(s);
    if (fl_session_is_logged_on(s) && s->state != FL_STATE_LOGOUT_SENT) {
        if (fl_session_send_logout(s, text, now) == FL_OK)
            fl_session_set_state(s, FL_STATE_LOGOUT_SENT, now);
        else
            fl_session_request_disconnect(s, "could not send Logout");
    } else if (s->state != FL_STATE_DISCONNECTED && s->state != FL_STATE_LOGOUT_SENT) {
        fl_session_request_disconnect(s, text ? text : "logout before logon");
    }
    fl_session_batch_end(s, now);
}

void fl_session_disconnect(struct fl_session *s, const char *why, int64_t now)
{
    fl_session_batch_begin(s);
    fl_session_request_disconnect(s, why ? why : "disconnect requested");
    fl_session_batch_end(s, now);
}

void fl_session_send_test_request(struct fl_session *s, const char *id, int64_t now)
{
    if (!fl_session_is_logged_on(s))
        return;
    fl_session_batch_begin(s);
    int rc = fl_session_start_msg(s, "1", 1, s->next_sender, now);
    if (rc == FL_OK) {
        fl_builder_add_cstr(&s->b, FL_TAG_TEST_REQ_ID, id && *id ? id : "TEST");
        rc = fl_session_stage_built(s, s->next_sender, 1);
    }
    if (rc == FL_OK)
        s->test_request_pending = 1;
    else
        stage_error(s, rc, "TestRequest");
    fl_session_batch_end(s, now);
}

int fl_session_accept_logon(struct fl_session *s, int64_t now)
{
    if (s->state != FL_STATE_LOGON_PENDING || !s->has_pending_logon)
        return FL_ESTATE;
    fl_session_batch_begin(s);
    fl_session_complete_logon(s, &s->pending_logon, now);
    fl_msg_release(&s->pending_logon);
    s->has_pending_logon = 0;
    fl_session_drain_queue(s, now);
    fl_session_batch_end(s, now);
    return FL_OK;
}

int fl_session_reject_logon(struct fl_session *s, const char *reason, int64_t now)
{
    if (s->state != FL_STATE_LOGON_PENDING || !s->has_pending_logon)
        return FL_ESTATE;
    fl_session_batch_begin(s);
    fl_msg_release(&s->pending_logon);
    s->has_pending_logon = 0;
    /* The refused Logon is not consumed: the Logout goes out with our next number. */
    fl_session_send_logout(s, reason && *reason ? reason : "Logon rejected", now);
    fl_session_emit(s, FL_EV_LOGON_REJECTED, 0, 0, 0, reason);
    fl_session_request_disconnect(s, "logon rejected");
    fl_session_batch_end(s, now);
    return FL_OK;
}

int fl_session_reset(struct fl_session *s, int64_t now)
{
    if (s->depth > 0)
        return FL_ESTATE; /* not from inside a callback of this session */
    if (s->state == FL_STATE_ACTIVE || s->state == FL_STATE_RESENDING) {
        /* In session: a Logon with 141=Y and MsgSeqNum 1; the peer answers in kind. */
        fl_session_batch_begin(s);
        int rc = fl_session_reset_store(s, now);
        if (rc == FL_OK && fl_session_send_logon(s, 1, now) == FL_OK) {
            s->logon_reset_sent = 1;
            s->reset_in_session = 1;
            fl_session_set_state(s, FL_STATE_LOGON_SENT, now);
        } else {
            fl_session_request_disconnect(s, "sequence reset failed");
        }
        fl_session_batch_end(s, now);
        return rc;
    }
    if (s->state != FL_STATE_DISCONNECTED)
        return FL_ESTATE;
    return fl_session_reset_store(s, now);
}

static int set_seq(struct fl_session *s, uint64_t sender, uint64_t target)
{
    if (s->depth > 0)
        return FL_ESTATE;
    struct fl_store_batch b = {.next_sender = sender, .next_target = target};
    int rc = fl_store_commit(s->store, &b);
    if (rc != FL_OK)
        return rc;
    if (sender)
        s->next_sender = sender;
    if (target)
        s->next_target = target;
    return FL_OK;
}

int fl_session_set_next_sender(struct fl_session *s, uint64_t seq)
{
    return seq ? set_seq(s, seq, 0) : FL_EINVAL;
}

int fl_session_set_next_target(struct fl_session *s, uint64_t seq)
{
    return seq ? set_seq(s, 0, seq) : FL_EINVAL;
}

enum fl_session_state fl_session_state(const struct fl_session *s) { return s->state; }
uint64_t fl_session_next_sender(const struct fl_session *s) { return s->next_sender; }
size_t fl_session_staged_bytes(const struct fl_session *s) { return s->stage.len; }
uint64_t fl_session_next_target(const struct fl_session *s) { return s->next_target; }
int fl_session_heartbeat_interval(const struct fl_session *s) { return s->heartbeat; }
enum fl_fix_version fl_session_version(const struct fl_session *s) { return s->version; }
uint32_t fl_session_inbound_queued(const struct fl_session *s) { return s->ninq; }
uint32_t fl_session_outbound_queued(const struct fl_session *s) { return s->noutq - s->outq_head; }
