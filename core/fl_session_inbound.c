/* fixlua — inbound messages: the FIX session checks and the admin message handlers.
 *
 * Each check is one named function, applied in the order of the FIX session test cases (and
 * QuickFIX's verify()): BeginString, MsgSeqNum present, logon state, message syntax, SendingTime
 * accuracy, CompIDs, sequence too high / too low, PossDup and OrigSendingTime; then the handler
 * of the message type. Before logon every failed check just drops the connection (nothing can
 * be rejected on a session that does not exist yet); once logged on, a failed check answers
 * with the Reject(3) or Logout(5) the rules prescribe. A message that passes at the expected
 * number advances the expected inbound number inside the current batch, so the advance and the
 * replies commit together. */
#include "fl_session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_tags.h"

/* Largest EndSeqNo meaning "infinity" in FIX.4.0/4.1; later versions use 0. */
#define INFINITY_40 999999u

struct inbound {
    struct fl_msg *m;
    const char *type;
    size_t type_len;
    uint64_t seq;
    int poss_dup;
};

static int is_type(const struct inbound *in, char c)
{
    return in->type_len == 1 && in->type[0] == c;
}

/* a[0..n) == b[0..n), without a call: BeginStrings and CompIDs are short. Eight or four bytes
 * at a time, the last load overlapping the one before, so nothing outside either span is
 * read. */
static inline int bytes_equal(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t x, y;
        for (size_t i = 0; i < n - 8; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b0, b, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

static int field_equals(const struct fl_msg *m, enum fl_hdr_slot slot, const char *v, size_t n)
{
    int i = fl_msg_hdr(m, slot);
    return i >= 0 && m->fields[i].len == n && bytes_equal(fl_msg_value(m, (uint32_t)i), v, n);
}

static void consume(struct fl_session *s, const struct inbound *in)
{
    if (in->seq == s->next_target) {
        s->next_target = in->seq + 1;
        s->target_dirty = 1;
    }
}

static void logout_and_disconnect(struct fl_session *s, const char *text, int64_t now)
{
    fl_session_send_logout(s, text, now);
    fl_session_request_disconnect(s, text);
}

/* Logout and wait for the peer's Logout (or logout_timeout) before dropping the connection. */
static void start_logout(struct fl_session *s, const char *text, int64_t now)
{
    if (s->state == FL_STATE_LOGOUT_SENT)
        return;
    if (fl_session_send_logout(s, text, now) == FL_OK)
        fl_session_set_state(s, FL_STATE_LOGOUT_SENT, now);
    else
        fl_session_request_disconnect(s, "could not send Logout");
}

/* Before logon nothing may be answered: note why and drop the connection. */
static void drop_connection(struct fl_session *s, const struct inbound *in, const char *why)
{
    fl_session_emit(s, FL_EV_ERROR, in ? in->seq : 0, 0, FL_EPROTO, why);
    fl_session_request_disconnect(s, why);
}

/* Reject(3) for the message, consuming its number, as the FIX rules require for a message
 * that is rejected at the expected sequence number. */
static void reject(struct fl_session *s, const struct inbound *in, int reason, uint32_t tag,
                   const char *text, int64_t now)
{
    fl_session_send_reject(s, in->m, in->seq, reason, tag, text, now);
    /* A rejected Logon or SequenceReset never moves the expected number. */
    if (!is_type(in, 'A') && !is_type(in, '4'))
        consume(s, in);
}

static const char *reject_text(int reason)
{
    switch (reason) {
    case FL_REJECT_INVALID_TAG_NUMBER: return "Invalid tag number";
    case FL_REJECT_REQUIRED_TAG_MISSING: return "Required tag missing";
    case FL_REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE: return "Tag not defined for this message type";
    case FL_REJECT_UNDEFINED_TAG: return "Undefined tag";
    case FL_REJECT_TAG_WITHOUT_VALUE: return "Tag specified without a value";
    case FL_REJECT_VALUE_OUT_OF_RANGE: return "Value is incorrect (out of range) for this tag";
    case FL_REJECT_INCORRECT_DATA_FORMAT: return "Incorrect data format for value";
    case FL_REJECT_COMPID_PROBLEM: return "CompID problem";
    case FL_REJECT_SENDING_TIME_ACCURACY: return "SendingTime accuracy problem";
    case FL_REJECT_INVALID_MSG_TYPE: return "Invalid MsgType";
    case FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE: return "Tag appears more than once";
    case FL_REJECT_TAG_OUT_OF_ORDER: return "Tag specified out of required order";
    case FL_REJECT_GROUP_FIELDS_OUT_OF_ORDER: return "Out of order repeating group members";
    case FL_REJECT_INCORRECT_NUM_IN_GROUP: return "Incorrect NumInGroup count for repeating group";
    default: return "Other";
    }
}

/* ---- checks ---- */

static int check_begin_string(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (field_equals(in->m, FL_HDR_BEGIN_STRING, s->cfg.begin_string, s->begin_string_len))
        return 1;
    if (fl_session_is_logged_on(s)) {
        consume(s, in);
        start_logout(s, "Incorrect BeginString", now);
    } else {
        drop_connection(s, in, "Incorrect BeginString");
    }
    return 0;
}

/* SendingTime within max_latency of now; a message outside it is rejected and the session
 * logged out, since the clocks (or the peer) cannot be trusted. */
static int check_sending_time(struct fl_session *s, const struct inbound *in, int64_t now)
{
    int64_t t;
    int rc = fl_msg_get_utc_timestamp(in->m, FL_TAG_SENDING_TIME, &t, NULL);
    int logged_on = fl_session_is_logged_on(s);
    if (rc != FL_OK && !logged_on) {
        drop_connection(s, in, "Logon SendingTime(52) missing or malformed");
        return 0;
    }
    if (rc == FL_ENOENT) {
        reject(s, in, FL_REJECT_REQUIRED_TAG_MISSING, FL_TAG_SENDING_TIME,
               reject_text(FL_REJECT_REQUIRED_TAG_MISSING), now);
        return 0;
    }
    if (rc != FL_OK) {
        reject(s, in, FL_REJECT_INCORRECT_DATA_FORMAT, FL_TAG_SENDING_TIME,
               reject_text(FL_REJECT_INCORRECT_DATA_FORMAT), now);
        return 0;
    }
    /* |now - t| without signed overflow: timestamps span 1677..2262, so the difference can pass
     * INT64_MAX (it wrapped negative and let a SendingTime in 1724 through); saturate it. */
    uint64_t diff = now > t ? (uint64_t)now - (uint64_t)t : (uint64_t)t - (uint64_t)now;
    int64_t delta = diff > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)diff;
    if (s->cfg.latency_warn_ns > 0 && delta > s->cfg.latency_warn_ns &&
        (s->cfg.max_latency_ns < 0 || delta <= s->cfg.max_latency_ns))
        fl_session_emit(s, FL_EV_LATENCY, in->seq, 0, delta, "SendingTime further from now than latency_warn");
    if (s->cfg.max_latency_ns < 0 || delta <= s->cfg.max_latency_ns)
        return 1;
    fl_session_emit(s, FL_EV_LATENCY, in->seq, 0, delta, "SendingTime accuracy problem");
    if (!logged_on) {
        drop_connection(s, in, "Logon SendingTime accuracy problem");
        return 0;
    }
    /* No RefTagID: QuickFIX and the FIX acceptance tests leave it out for this reason. */
    reject(s, in, FL_REJECT_SENDING_TIME_ACCURACY, 0, reject_text(FL_REJECT_SENDING_TIME_ACCURACY),
           now);
    start_logout(s, NULL, now);
    return 0;
}

/* The answer to a wrong SenderCompID or TargetCompID; out of line, so that the check itself
 * does not pay for its registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int comp_id_problem(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (!fl_session_is_logged_on(s)) {
        drop_connection(s, in, "Logon with unexpected SenderCompID/TargetCompID");
        return 0;
    }
    reject(s, in, FL_REJECT_COMPID_PROBLEM, 0, reject_text(FL_REJECT_COMPID_PROBLEM), now);
    start_logout(s, NULL, now);
    return 0;
}

static int check_comp_ids(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (s->cfg.check_comp_id < 0 ||
        (field_equals(in->m, FL_HDR_SENDER_COMP_ID, s->cfg.target_comp_id, s->target_len) &&
         field_equals(in->m, FL_HDR_TARGET_COMP_ID, s->cfg.sender_comp_id, s->sender_len)))
        return 1;
    return comp_id_problem(s, in, now);
}

/* PossDupFlag=Y must carry OrigSendingTime no later than SendingTime, whatever the number
 * (the Reject consumes the number only when it is the expected one). SequenceReset is exempt:
 * gap fills from many engines omit OrigSendingTime. */
static int check_poss_dup(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (!in->poss_dup || is_type(in, '4') || s->cfg.require_orig_sending_time < 0)
        return 1;
    int64_t orig, sent;
    int rc = fl_msg_get_utc_timestamp(in->m, FL_TAG_ORIG_SENDING_TIME, &orig, NULL);
    if (rc == FL_ENOENT) {
        reject(s, in, FL_REJECT_REQUIRED_TAG_MISSING, FL_TAG_ORIG_SENDING_TIME,
               reject_text(FL_REJECT_REQUIRED_TAG_MISSING), now);
        return 0;
    }
    if (rc != FL_OK) {
        reject(s, in, FL_REJECT_INCORRECT_DATA_FORMAT, FL_TAG_ORIG_SENDING_TIME,
               reject_text(FL_REJECT_INCORRECT_DATA_FORMAT), now);
        return 0;
    }
    if (fl_msg_get_utc_timestamp(in->m, FL_TAG_SENDING_TIME, &sent, NULL) == FL_OK && orig > sent) {
        reject(s, in, FL_REJECT_SENDING_TIME_ACCURACY, 0,
               reject_text(FL_REJECT_SENDING_TIME_ACCURACY), now);
        start_logout(s, NULL, now);
        return 0;
    }
    return 1;
}

/* The first field of m whose tag is not a positive number, when that tag is still a number
 * ("0", "-1"): the parser drops such fields, so the frame is read again. Returns its length. */
static size_t find_bad_tag(const struct fl_msg *m, const char **tag)
{
    const char *p = m->buf, *end = m->buf + m->len;
    while (p < end) {
        const char *soh = memchr(p, '\001', (size_t)(end - p));
        const char *fe = soh ? soh : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        size_t n = eq ? (size_t)(eq - p) : 0;
        size_t digits = n && p[0] == '-' ? 1 : 0;
        int zero = 1;
        for (size_t i = digits; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++)
            zero &= p[i] == '0';
        if (eq && (digits != n || zero || p[0] == '-')) {
            *tag = p;
            return n > 0 && n <= 10 && digits == n && (n > 1 || p[0] != '-') ? n : 0;
        }
        p = fe + 1;
    }
    return 0;
}

/* Reject(3) for an invalid tag quoted as written (371=-1), as QuickFIX answers test 14a. */
static void reject_bad_tag(struct fl_session *s, const struct inbound *in, const char *tag,
                           size_t n, int64_t now)
{
    const char *text = reject_text(FL_REJECT_INVALID_TAG_NUMBER);
    char quoted[64];
    int rc = fl_session_start_msg(s, "3", 1, s->next_sender, now);
    if (rc == FL_OK) {
        fl_builder_add_int(&s->b, FL_TAG_REF_SEQ_NUM, (int64_t)in->seq);
        if (s->version <= FL_FIX_41) {
            snprintf(quoted, sizeof quoted, "%s (%.*s)", text, (int)n, tag);
            fl_builder_add_cstr(&s->b, FL_TAG_TEXT, quoted);
        } else {
            fl_builder_add_cstr(&s->b, FL_TAG_TEXT, text);
            fl_builder_add_str(&s->b, FL_TAG_REF_TAG_ID, tag, n);
            fl_builder_add_str(&s->b, FL_TAG_REF_MSG_TYPE, in->type, in->type_len);
            fl_builder_add_int(&s->b, FL_TAG_SESSION_REJECT_REASON, FL_REJECT_INVALID_TAG_NUMBER);
        }
        rc = fl_session_stage_built(s, s->next_sender, 1);
    }
    if (rc == FL_OK)
        fl_session_emit(s, FL_EV_REJECT_SENT, in->seq, 0, FL_REJECT_INVALID_TAG_NUMBER, text);
    else
        fl_session_emit(s, FL_EV_ERROR, in->seq, 0, rc, "could not build Reject");
    consume(s, in);
}

/* Message syntax problems found by the parser become the matching Reject(3). */
static int check_syntax(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (in->m->problem == FL_PARSE_OK)
        return 1;
    const char *bad;
    size_t bad_len;
    if (in->m->problem == FL_PARSE_BAD_TAG && (bad_len = find_bad_tag(in->m, &bad)) > 0) {
        reject_bad_tag(s, in, bad, bad_len, now);
        return 0;
    }
    int reason = fl_parse_problem_reject_reason(in->m->problem);
    reject(s, in, reason, in->m->problem_tag, reject_text(reason), now);
    return 0;
}

/* Dictionary validation (when configured): Reject(3) or BusinessMessageReject(j) with the
 * reason the FIX rules give; either consumes the number when it is the expected one. */
static int check_dictionary(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (!s->cfg.dict || s->cfg.validate.level == FL_VALIDATE_LEVEL_OFF)
        return 1;
    struct fl_validate_result r;
    int rc = fl_dict_validate(s->cfg.dict, in->m, &s->cfg.validate, &s->validator, &r);
    if (rc != FL_EPROTO) {
        if (rc != FL_OK)
            fl_session_emit(s, FL_EV_ERROR, in->seq, 0, rc, "validation could not run");
        return 1;
    }
    if (!fl_session_is_logged_on(s)) {
        char why[200];
        snprintf(why, sizeof why, "invalid Logon: %s (tag %u)", r.text, r.ref_tag);
        drop_connection(s, in, why);
        return 0;
    }
    char text[200];
    snprintf(text, sizeof text, "%s%s", r.verdict == FL_VERDICT_BUSINESS_REJECT ? "business: " : "",
             r.text);
    fl_session_emit_msg(s, FL_EV_VALIDATION_FAILED, in->m, in->seq, r.ref_tag, r.reason, text);
    if (r.verdict == FL_VERDICT_BUSINESS_REJECT) {
        int rc2 = fl_session_start_msg(s, "j", 1, s->next_sender, now);
        if (rc2 == FL_OK) {
            fl_builder_add_int(&s->b, FL_TAG_REF_SEQ_NUM, (int64_t)in->seq);
            fl_builder_add_cstr(&s->b, FL_TAG_TEXT, r.text);
            fl_builder_add_str(&s->b, FL_TAG_REF_MSG_TYPE, in->type, in->type_len);
            fl_builder_add_int(&s->b, FL_TAG_BUSINESS_REJECT_REASON, r.reason);
            rc2 = fl_session_stage_built(s, s->next_sender, 1);
        }
        if (rc2 != FL_OK)
            fl_session_emit(s, FL_EV_ERROR, in->seq, 0, rc2, "could not build BusinessMessageReject");
        consume(s, in);
    } else {
        /* An invalid MsgType names no tag: QuickFIX and the acceptance tests send no RefTagID. */
        reject(s, in, r.reason, r.reason == FL_REJECT_INVALID_MSG_TYPE ? 0 : r.ref_tag, r.text,
               now);
    }
    return 0;
}

/* ---- the gap we ask for ---- */

static uint64_t infinity_end(const struct fl_session *s)
{
    return s->version <= FL_FIX_41 ? INFINITY_40 : 0;
}

static void request_resend(struct fl_session *s, uint64_t upto, int64_t now)
{
    uint64_t begin = s->next_target;
    uint64_t end = infinity_end(s);
    if (s->cfg.resend_request_chunk && upto - begin + 1 > s->cfg.resend_request_chunk)
        end = begin + s->cfg.resend_request_chunk - 1;
    if (fl_session_send_resend_request(s, begin, end, now) != FL_OK)
        return;
    s->resend_requested = 1;
    s->resend_begin = begin;
    s->resend_end = end;
    s->resend_satisfied_at = end && end < upto ? end : upto;
    s->resend_progress_at = now;
    s->resend_progress_seq = s->next_target;
    fl_session_emit(s, FL_EV_GAP, begin, upto, (int64_t)end, "MsgSeqNum too high: ResendRequest sent");
    if (s->state == FL_STATE_ACTIVE)
        fl_session_set_state(s, FL_STATE_RESENDING, now);
}

/* After the expected number moved: is the gap we asked for filled, or is another chunk due? */
static void check_resend_progress(struct fl_session *s, int64_t now)
{
    if (s->resend_requested && s->next_target != s->resend_progress_seq) {
        s->resend_progress_at = now;
        s->resend_progress_seq = s->next_target;
    }
    if (!s->resend_requested || s->next_target <= s->resend_satisfied_at)
        return;
    s->resend_requested = 0;
    if (s->state == FL_STATE_RESENDING)
        fl_session_set_state(s, FL_STATE_ACTIVE, now);
    /* Still a hole below messages we hold or have seen: ask for the rest. */
    if (s->highest_seen > s->next_target && !s->disconnect_requested &&
        (s->ninq == 0 || s->inq[0].seq > s->next_target))
        request_resend(s, s->highest_seen - 1, now);
}

static void queue_inbound(struct fl_session *s, const struct inbound *in)
{
    uint32_t pos = s->ninq;
    while (pos > 0 && s->inq[pos - 1].seq > in->seq)
        pos--;
    if (pos > 0 && s->inq[pos - 1].seq == in->seq)
        return; /* already held */
    /* Held frames are copies: bounded in bytes too (at least two messages of the largest
     * size), or a peer sending large messages past a gap could exhaust memory. */
    size_t byte_limit = s->cfg.max_inbound_queue_bytes;
    if (!byte_limit) {
        byte_limit = (size_t)64 << 20;
        if (byte_limit < 2 * s->cfg.max_message_size)
            byte_limit = 2 * s->cfg.max_message_size;
    }
    if (s->ninq >= s->cfg.max_inbound_queue || s->inq_bytes + in->m->len > byte_limit) {
        /* Dropping is safe: the ResendRequest covers it and it will come again. */
        fl_session_emit(s, FL_EV_QUEUE_THRESHOLD, in->seq, 0, s->ninq,
                        "inbound queue full: message dropped, it will be resent");
        return;
    }
    if (s->ninq + 1 >= s->cfg.inbound_queue_warn && !s->queue_warned) {
        s->queue_warned = 1;
        fl_session_emit(s, FL_EV_QUEUE_THRESHOLD, in->seq, 0, s->ninq + 1,
                        "inbound queue reached its warning level");
    }
    if (s->ninq == s->inq_cap) {
        uint32_t ncap = s->inq_cap ? s->inq_cap * 2 : 16;
        struct queued_in *nq = realloc(s->inq, ncap * sizeof *nq);
        if (!nq)
            return;
        s->inq = nq;
        s->inq_cap = ncap;
    }
    char *copy = malloc(in->m->len);
    if (!copy)
        return;
    memcpy(copy, in->m->buf, in->m->len);
    memmove(&s->inq[pos + 1], &s->inq[pos], (s->ninq - pos) * sizeof *s->inq);
    s->inq[pos] = (struct queued_in){.seq = in->seq, .frame = copy, .len = in->m->len};
    s->ninq++;
    s->inq_bytes += in->m->len;
}

static void on_seq_too_high(struct fl_session *s, const struct inbound *in, int64_t now)
{
    queue_inbound(s, in);
    if (s->resend_requested && !s->cfg.send_redundant_resend_requests) {
        /* Already asked. A request to the end covers this message's gap too; a chunk is
         * followed by the next one once it is filled (check_resend_progress). */
        if (in->seq - 1 > s->resend_satisfied_at && (s->resend_end == 0 || s->resend_end == INFINITY_40))
            s->resend_satisfied_at = in->seq - 1;
        return;
    }
    request_resend(s, in->seq - 1, now);
}

static void on_seq_too_low(struct fl_session *s, const struct inbound *in, int64_t now)
{
    if (in->poss_dup) {
        check_poss_dup(s, in, now); /* a malformed duplicate is still rejected */
        return;                     /* a duplicate we already processed: ignore it */
    }
    char text[128];
    snprintf(text, sizeof text, "MsgSeqNum too low, expecting %llu but received %llu",
             (unsigned long long)s->next_target, (unsigned long long)in->seq);
    fl_session_emit(s, FL_EV_ERROR, in->seq, s->next_target, FL_EPROTO, text);
    logout_and_disconnect(s, text, now);
}

/* ---- admin handlers ---- */

static void deliver(struct fl_session *s, const struct inbound *in, int is_admin)
{
    if (s->io.deliver) {
        /* The application reads fields by tag, most of them below FL_MSG_LOW_TAGS. */
        fl_msg_index_low_tags(in->m);
        s->io.deliver(s->io.ctx, in->m, is_admin);
    }
}

static void on_test_request(struct fl_session *s, const struct inbound *in, int64_t now)
{
    const char *id;
    size_t n;
    if (fl_msg_get_str(in->m, FL_TAG_TEST_REQ_ID, &id, &n) != FL_OK) {
        reject(s, in, FL_REJECT_REQUIRED_TAG_MISSING, FL_TAG_TEST_REQ_ID,
               reject_text(FL_REJECT_REQUIRED_TAG_MISSING), now);
        return;
    }
    consume(s, in);
    deliver(s, in, 1);
    fl_session_send_heartbeat(s, id, n, now);
}

/* A ResendRequest that begins past the last number sent asks for messages never sent: the peer
 * expects numbers we have not used. No SequenceReset can answer that (a GapFill may not lower a
 * number, a Reset is for disaster recovery), so it is rejected, saying what is wrong, and the
 * session stays up: our next message, numbered below what the peer expects, is the peer's to
 * judge. 1 when it was rejected. */
static int reject_resend_beyond_last(struct fl_session *s, const struct inbound *in,
                                     int64_t begin, int64_t end, int64_t now)
{
    if ((uint64_t)begin < s->next_sender)
        return 0;
    char text[128];
    snprintf(text, sizeof text, "BeginSeqNo(7) %lld is beyond the last MsgSeqNum sent (%llu)",
             (long long)begin, (unsigned long long)(s->next_sender - 1));
    fl_session_emit(s, FL_EV_RESEND_REQUEST, (uint64_t)begin, (uint64_t)end, 0, text);
    reject(s, in, FL_REJECT_VALUE_OUT_OF_RANGE, FL_TAG_BEGIN_SEQ_NO, text, now);
    return 1;
}

static void on_resend_request(struct fl_session *s, const struct inbound *in, int64_t now)
{
    int64_t begin, end;
    if (fl_msg_get_int(in->m, FL_TAG_BEGIN_SEQ_NO, &begin) != FL_OK ||
        fl_msg_get_int(in->m, FL_TAG_END_SEQ_NO, &end) != FL_OK) {
        int missing = fl_msg_find(in->m, FL_TAG_BEGIN_SEQ_NO) < 0 ? FL_TAG_BEGIN_SEQ_NO
                      : fl_msg_find(in->m, FL_TAG_END_SEQ_NO) < 0 ? FL_TAG_END_SEQ_NO : 0;
        int reason = missing ? FL_REJECT_REQUIRED_TAG_MISSING : FL_REJECT_INCORRECT_DATA_FORMAT;
        reject(s, in, reason, missing ? (uint32_t)missing : FL_TAG_BEGIN_SEQ_NO,
               reject_text(reason), now);
        return;
    }
    if (begin < 1 || end < 0 || (end != 0 && end < begin)) {
        reject(s, in, FL_REJECT_VALUE_OUT_OF_RANGE, begin < 1 ? FL_TAG_BEGIN_SEQ_NO : FL_TAG_END_SEQ_NO,
               reject_text(FL_REJECT_VALUE_OUT_OF_RANGE), now);
        return;
    }
    if (reject_resend_beyond_last(s, in, begin, end, now))
        return;
    consume(s, in);
    deliver(s, in, 1);
    fl_session_serve_resend(s, (uint64_t)begin, (uint64_t)end, now);
}

static void on_reject(struct fl_session *s, const struct inbound *in, int64_t now)
{
    int64_t ref = 0, reason = -1;
    const char *text = NULL;
    size_t tn = 0;
    if (fl_msg_get_int(in->m, FL_TAG_REF_SEQ_NUM, &ref) != FL_OK)
        ref = 0;
    if (fl_msg_get_int(in->m, FL_TAG_SESSION_REJECT_REASON, &reason) != FL_OK)
        reason = -1;
    char buf[256] = "";
    if (fl_msg_get_str(in->m, FL_TAG_TEXT, &text, &tn) == FL_OK)
        snprintf(buf, sizeof buf, "%.*s", (int)tn, text);
    consume(s, in);
    deliver(s, in, 1);
    fl_session_emit(s, FL_EV_REJECT_RECEIVED, (uint64_t)(ref > 0 ? ref : 0), 0, reason, buf);
}

/* SequenceReset: GapFill mode obeys the sequence checks like any message; Reset mode (123
 * absent or N) sets the expected number whatever MsgSeqNum says. Moving backwards is refused. */
static void on_sequence_reset(struct fl_session *s, const struct inbound *in, int gap_fill,
                              int64_t now)
{
    int64_t new_seq;
    int rc = fl_msg_get_int(in->m, FL_TAG_NEW_SEQ_NO, &new_seq);
    if (rc != FL_OK) {
        int reason = rc == FL_ENOENT ? FL_REJECT_REQUIRED_TAG_MISSING : FL_REJECT_INCORRECT_DATA_FORMAT;
        reject(s, in, reason, FL_TAG_NEW_SEQ_NO, reject_text(reason), now);
        return;
    }
    if (new_seq < (int64_t)s->next_target || new_seq < 1) {
        /* Sequence numbers never move backwards; the expected number stays. */
        reject(s, in, FL_REJECT_VALUE_OUT_OF_RANGE, 0, reject_text(FL_REJECT_VALUE_OUT_OF_RANGE),
               now);
        return;
    }
    deliver(s, in, 1);
    fl_session_emit(s, FL_EV_SEQUENCE_RESET, in->seq, 0, new_seq, gap_fill ? "gap fill" : "reset");
    /* NewSeqNo equal to the expected number changes nothing (not even for a gap fill). */
    if ((uint64_t)new_seq > s->next_target) {
        s->next_target = (uint64_t)new_seq;
        s->target_dirty = 1;
    }
    /* Held messages below the new number will never be needed. */
    while (s->ninq && s->inq[0].seq < s->next_target) {
        s->inq_bytes -= s->inq[0].len;
        free(s->inq[0].frame);
        memmove(&s->inq[0], &s->inq[1], (s->ninq - 1) * sizeof *s->inq);
        s->ninq--;
    }
}

static void on_logout(struct fl_session *s, const struct inbound *in, int64_t now)
{
    const char *text = NULL;
    size_t tn = 0;
    char buf[256] = "";
    if (fl_msg_get_str(in->m, FL_TAG_TEXT, &text, &tn) == FL_OK)
        snprintf(buf, sizeof buf, "%.*s", (int)tn, text);
    consume(s, in);
    deliver(s, in, 1);
    fl_session_emit(s, FL_EV_LOGOUT, in->seq, 0, 0, buf);
    if (s->state != FL_STATE_LOGOUT_SENT) {
        s->logout_from_peer = 1;
        fl_session_send_logout(s, NULL, now);
    }
    fl_session_request_disconnect(s, "logout");
    if (s->cfg.reset_on_logout)
        s->reset_pending = 1;
}

/* ---- logon ---- */

/* Common checks of an inbound Logon. Returns 0 after arranging the disconnect. */
static int check_logon_fields(struct fl_session *s, const struct inbound *in, int64_t *hb_out,
                              int64_t now)
{
    int64_t hb, enc;
    char text[128];
    if (fl_msg_get_int(in->m, FL_TAG_ENCRYPT_METHOD, &enc) != FL_OK || enc != 0) {
        logout_and_disconnect(s, "EncryptMethod(98) must be 0 (none)", now);
        return 0;
    }
    if (fl_msg_get_int(in->m, FL_TAG_HEART_BT_INT, &hb) != FL_OK || hb < 0) {
        logout_and_disconnect(s, "HeartBtInt(108) missing or invalid", now);
        return 0;
    }
    if ((s->cfg.role == FL_ROLE_ACCEPTOR && hb != 0 &&
         (hb < s->cfg.heartbeat_min || hb > s->cfg.heartbeat_max)) ||
        hb > 86400) {
        snprintf(text, sizeof text, "HeartBtInt(108) %lld outside the accepted %d..%d", (long long)hb,
                 s->cfg.heartbeat_min, s->cfg.heartbeat_max);
        logout_and_disconnect(s, text, now);
        return 0;
    }
    if (s->version == FL_FIXT_11 && fl_msg_find(in->m, FL_TAG_DEFAULT_APPL_VER_ID) < 0) {
        logout_and_disconnect(s, "DefaultApplVerID(1137) missing", now);
        return 0;
    }
    *hb_out = hb;
    return 1;
}

static int logon_asks_reset(const struct fl_msg *m)
{
    int v = 0;
    return fl_msg_get_bool(m, FL_TAG_RESET_SEQ_NUM_FLAG, &v) == FL_OK && v;
}

/* The peer's NextExpectedMsgSeqNum(789): resend what it missed (no ResendRequest round trip),
 * refuse a number beyond what we sent. An acceptor reads it before answering, so its own Logon
 * (our_logon_seq) is the most the peer can expect; an initiator's Logon was already counted. */
static void apply_next_expected(struct fl_session *s, const struct fl_msg *m, uint64_t our_logon_seq,
                                int64_t now)
{
    int64_t v;
    if (s->version < FL_FIX_44 || fl_msg_get_int(m, FL_TAG_NEXT_EXPECTED_MSG_SEQ_NUM, &v) != FL_OK)
        return;
    uint64_t most = s->cfg.role == FL_ROLE_ACCEPTOR ? our_logon_seq : our_logon_seq + 1;
    if (v < 1 || (uint64_t)v > most) {
        char text[160];
        snprintf(text, sizeof text,
                 "Tag 789 (NextExpectedMsgSeqNum) is higher than expected. Expected %llu, Received %lld",
                 (unsigned long long)most, (long long)v);
        logout_and_disconnect(s, text, now);
        return;
    }
    /* Up to and including our Logon, which the peer did not count either (its Logon asked
     * for less); a Logon is gap-filled, never replayed. An acceptor's Logon is only staged
     * yet: the resend commits what is staged before it reads the store. */
    if ((uint64_t)v < our_logon_seq)
        fl_session_serve_resend(s, (uint64_t)v, our_logon_seq, now);
}

/* Both sides agree: logged on. The Logon was consumed already when it was in sequence;
 * `too_high` says it was ahead, so the gap before it must be asked for. */
static void logon_established(struct fl_session *s, const struct inbound *in, int too_high,
                              uint64_t our_logon_seq, int64_t now)
{
    fl_session_set_state(s, FL_STATE_ACTIVE, now);
    deliver(s, in, 1);
    fl_session_emit(s, FL_EV_LOGON, in->seq, 0, s->heartbeat, "logged on");
    if (s->disconnect_requested)
        return;
    if (s->cfg.send_next_expected)
        apply_next_expected(s, in->m, our_logon_seq, now);
    if (too_high && !s->disconnect_requested) {
        /* Held like any early message: it is counted when the gap before it is filled. */
        queue_inbound(s, in);
        if (s->cfg.send_next_expected && s->version >= FL_FIX_44 &&
            fl_msg_find(in->m, FL_TAG_NEXT_EXPECTED_MSG_SEQ_NUM) >= 0) {
            /* Our Logon's 789 already asked for everything from next_target on. Only a peer
             * whose Logon carries 789 too acts on ours: one without (QuickFIX C++) gets the
             * ResendRequest below, or the gap would never be filled. */
            s->resend_requested = 1;
            s->resend_begin = s->next_target;
            s->resend_end = 0;
            s->resend_satisfied_at = in->seq - 1;
            s->resend_progress_at = now; /* the wait for the peer's resend starts now */
            s->resend_progress_seq = s->next_target;
            fl_session_set_state(s, FL_STATE_RESENDING, now);
        } else {
            request_resend(s, in->seq - 1, now);
        }
    }
    fl_session_flush_out_queue(s, now);
}

void fl_session_complete_logon(struct fl_session *s, const struct fl_msg *logon, int64_t now)
{
    struct inbound in = {.m = (struct fl_msg *)logon, .type = "A", .type_len = 1};
    int64_t seq = 0, hb = s->heartbeat;
    if (fl_msg_get_int(logon, FL_TAG_MSG_SEQ_NUM, &seq) != FL_OK || seq < 1)
        return;
    in.seq = (uint64_t)seq;
    if (fl_msg_get_int(logon, FL_TAG_HEART_BT_INT, &hb) == FL_OK)
        s->heartbeat = (int)hb;
    int reset = logon_asks_reset(logon);
    if (reset && fl_session_reset_store(s, now) != FL_OK) {
        fl_session_request_disconnect(s, "sequence reset failed");
        return;
    }
    /* Consumed before answering, so our NextExpectedMsgSeqNum(789) counts it. */
    int too_high = in.seq > s->next_target;
    consume(s, &in);
    uint64_t our_seq = s->next_sender;
    if (fl_session_send_logon(s, reset, now) != FL_OK) {
        fl_session_request_disconnect(s, "could not send Logon");
        return;
    }
    logon_established(s, &in, too_high, our_seq, now);
}

/* Acceptor: a Logon arrives on a fresh connection (or in session, asking for a reset). */
static void on_logon_request(struct fl_session *s, const struct inbound *in, int64_t now)
{
    int64_t hb;
    if (!check_logon_fields(s, in, &hb, now))
        return;
    int reset = logon_asks_reset(in->m);
    if (reset && in->seq != 1) {
        logout_and_disconnect(s, "ResetSeqNumFlag(141)=Y requires MsgSeqNum(34)=1", now);
        return;
    }
    if (!reset && in->seq < s->next_target) {
        char text[128];
        snprintf(text, sizeof text, "MsgSeqNum too low, expecting %llu but received %llu",
                 (unsigned long long)s->next_target, (unsigned long long)in->seq);
        logout_and_disconnect(s, text, now);
        return;
    }
    enum fl_logon_decision d = FL_LOGON_ACCEPT;
    char reason[256] = "";
    if (s->io.validate_logon)
        d = s->io.validate_logon(s->io.ctx, in->m, reason, sizeof reason);
    if (d == FL_LOGON_REJECT || (unsigned)d >= FL_LOGON__COUNT) {
        fl_session_send_logout(s, reason[0] ? reason : "Logon rejected", now);
        fl_session_emit(s, FL_EV_LOGON_REJECTED, in->seq, 0, 0, reason[0] ? reason : "Logon rejected");
        fl_session_request_disconnect(s, "logon rejected");
        return;
    }
    if (d == FL_LOGON_DEFER) {
        if (fl_msg_clone(&s->pending_logon, in->m) != FL_OK) {
            fl_session_request_disconnect(s, "out of memory");
            return;
        }
        s->has_pending_logon = 1;
        fl_session_set_state(s, FL_STATE_LOGON_PENDING, now);
        return;
    }
    fl_session_complete_logon(s, in->m, now);
}

/* Initiator: the answer to our Logon. */
static void on_logon_response(struct fl_session *s, const struct inbound *in, int64_t now)
{
    int64_t hb;
    if (!check_logon_fields(s, in, &hb, now))
        return;
    int reset = logon_asks_reset(in->m);
    if (s->logon_reset_sent && !reset) {
        logout_and_disconnect(s, "Logon answer lacks ResetSeqNumFlag(141)=Y", now);
        return;
    }
    if (reset && !s->logon_reset_sent) {
        /* The peer reset the session in its answer (ResetOnLogon on its side): both sides
         * start again, its Logon and ours being the first of the new numbers, as it counted
         * ours. The old journal is archived, so a later resend never reaches into it. */
        if (in->seq != 1) {
            logout_and_disconnect(s, "ResetSeqNumFlag(141)=Y requires MsgSeqNum(34)=1", now);
            return;
        }
        if (fl_session_reset_store(s, now) != FL_OK) {
            fl_session_request_disconnect(s, "sequence reset failed");
            return;
        }
        s->next_sender = 2;
        s->target_dirty = 1;
        fl_session_emit(s, FL_EV_SEQUENCE_RESET, 1, 1, 1,
                        "the peer's Logon reset the sequence numbers: both restart at 1");
    }
    if (s->reset_in_session)
        s->highest_seen = in->seq; /* not what the old sequence's ignored messages said */
    s->logon_reset_sent = 0;
    s->reset_in_session = 0;
    if (in->seq < s->next_target) {
        char text[128];
        snprintf(text, sizeof text, "MsgSeqNum too low, expecting %llu but received %llu",
                 (unsigned long long)s->next_target, (unsigned long long)in->seq);
        logout_and_disconnect(s, text, now);
        return;
    }
    if (hb > 0)
        s->heartbeat = (int)hb;
    int too_high = in->seq > s->next_target;
    consume(s, in);
    logon_established(s, in, too_high, s->next_sender - 1, now);
}

/* ---- dispatch ---- */

static void process(struct fl_session *s, struct fl_msg *m, int from_queue, int64_t now)
{
    struct inbound in = {.m = m};
    int ti = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    if (m->problem == FL_PARSE_NOT_FRAMED || ti < 0) {
        fl_session_emit(s, FL_EV_GARBLED, 0, 0, (int64_t)m->len, fl_parse_problem_text(m->problem));
        return;
    }
    in.type = fl_msg_value(m, (uint32_t)ti);
    in.type_len = m->fields[ti].len;
    int64_t seq;
    int gap_fill_flag = 0;
    /* A SequenceReset in Reset mode ignores MsgSeqNum: peers send 0 there. */
    int reset_mode = is_type(&in, '4') &&
                     !(fl_msg_get_bool(m, FL_TAG_GAP_FILL_FLAG, &gap_fill_flag) == FL_OK &&
                       gap_fill_flag);
    if (fl_msg_get_int(m, FL_TAG_MSG_SEQ_NUM, &seq) != FL_OK || seq < (reset_mode ? 0 : 1)) {
        const char *text = "MsgSeqNum(34) missing or invalid";
        if (fl_session_is_logged_on(s))
            logout_and_disconnect(s, text, now);
        else
            drop_connection(s, &in, text);
        return;
    }
    in.seq = (uint64_t)seq;
    if (!check_begin_string(s, &in, now))
        return;
    int poss_dup = 0;
    in.poss_dup = fl_msg_get_bool(m, FL_TAG_POSS_DUP_FLAG, &poss_dup) == FL_OK && poss_dup;
    if (in.seq > s->highest_seen)
        s->highest_seen = in.seq;

    switch (s->state) {
    case FL_STATE_CONNECTED:
        if (s->cfg.role != FL_ROLE_ACCEPTOR || !is_type(&in, 'A')) {
            drop_connection(s, &in, "first message is not a Logon");
            return;
        }
        if (m->problem != FL_PARSE_OK) {
            drop_connection(s, &in, "malformed Logon");
            return;
        }
        if (check_dictionary(s, &in, now) && check_sending_time(s, &in, now) &&
            check_comp_ids(s, &in, now))
            on_logon_request(s, &in, now);
        return;
    case FL_STATE_LOGON_SENT:
        if (is_type(&in, '5')) {
            char buf[256] = "";
            const char *t;
            size_t tn;
            if (fl_msg_get_str(m, FL_TAG_TEXT, &t, &tn) == FL_OK)
                snprintf(buf, sizeof buf, "%.*s", (int)tn, t);
            fl_session_emit(s, FL_EV_LOGON_REJECTED, in.seq, 0, 0, buf);
            fl_session_request_disconnect(s, "logon refused by peer");
            return;
        }
        if (s->reset_in_session && !is_type(&in, 'A')) {
            /* Sent before the peer saw our reset: numbered in the sequence both sides just
             * left behind, so neither processed nor a reason to drop the session. */
            fl_session_emit(s, FL_EV_GARBLED, in.seq, 0, (int64_t)m->len,
                            "message of the old sequence while our reset Logon is answered: ignored");
            return;
        }
        if (!is_type(&in, 'A') || m->problem != FL_PARSE_OK) {
            drop_connection(s, &in, "answer to our Logon is not a valid Logon");
            return;
        }
        if (check_sending_time(s, &in, now) && check_comp_ids(s, &in, now))
            on_logon_response(s, &in, now);
        return;
    case FL_STATE_LOGON_PENDING:
        if (is_type(&in, '5'))
            fl_session_request_disconnect(s, "Logout while the logon decision was pending");
        else
            queue_inbound(s, &in); /* processed once the logon is accepted */
        return;
    case FL_STATE_DISCONNECTED:
        return;
    default:
        break;
    }

    /* Logged on: syntax first (a malformed message is rejected whatever its number), then the
     * header checks, then the sequence. */
    if (!check_syntax(s, &in, now) || !check_dictionary(s, &in, now) ||
        !check_sending_time(s, &in, now) || !check_comp_ids(s, &in, now))
        return;
    if (is_type(&in, '5')) {
        /* A Logout ends the session whatever its number; it is consumed when in sequence. */
        on_logout(s, &in, now);
        return;
    }
    if (is_type(&in, '4')) {
        int v = 0;
        if (!(fl_msg_get_bool(m, FL_TAG_GAP_FILL_FLAG, &v) == FL_OK && v)) {
            on_sequence_reset(s, &in, 0, now); /* Reset mode ignores MsgSeqNum */
            check_resend_progress(s, now);
            return;
        }
    }
    if (is_type(&in, 'A') && from_queue) {
        consume(s, &in); /* a Logon ahead of sequence, answered when it arrived */
        check_resend_progress(s, now);
        return;
    }
    if (is_type(&in, 'A')) {
        if (!logon_asks_reset(m)) {
            /* A second Logon without a reset request has no meaning in session. */
            drop_connection(s, &in, "Logon received while logged on");
            return;
        }
        if (in.seq != 1) {
            logout_and_disconnect(s, "ResetSeqNumFlag(141)=Y requires MsgSeqNum(34)=1", now);
            return;
        }
        /* The peer resets both sequences in session; authenticate it like any Logon. The
         * numbers change only once it is accepted (fl_session_complete_logon resets the store):
         * a refused or deferred reset must leave them, and the store, as they are. */
        on_logon_request(s, &in, now);
        return;
    }
    if (is_type(&in, '2') && from_queue) {
        /* Served when it arrived ahead of sequence; one that asked for numbers never sent is
         * rejected now, in sequence, as it would have been had it come in order. */
        int64_t b, e;
        if (fl_msg_get_int(m, FL_TAG_BEGIN_SEQ_NO, &b) != FL_OK ||
            fl_msg_get_int(m, FL_TAG_END_SEQ_NO, &e) != FL_OK || b < 1 ||
            !reject_resend_beyond_last(s, &in, b, e, now))
            consume(s, &in);
        check_resend_progress(s, now);
        return;
    }
    /* A ResendRequest out of sequence is served at once, as QuickFIX serves it whatever its
     * number: ahead, its number is consumed when the gap closes; behind without PossDupFlag
     * (acceptance test 8 sends one) it is not refused. */
    if (is_type(&in, '2') && in.seq != s->next_target &&
        !(in.seq < s->next_target && in.poss_dup)) {
        int64_t b, e;
        if (fl_msg_get_int(m, FL_TAG_BEGIN_SEQ_NO, &b) == FL_OK &&
            fl_msg_get_int(m, FL_TAG_END_SEQ_NO, &e) == FL_OK && b >= 1 && e >= 0 &&
            (e == 0 || e >= b))
            fl_session_serve_resend(s, (uint64_t)b, (uint64_t)e, now);
        if (in.seq < s->next_target)
            return;
    }
    if (in.seq > s->next_target) {
        on_seq_too_high(s, &in, now);
        return;
    }
    if (in.seq < s->next_target) {
        on_seq_too_low(s, &in, now);
        return;
    }
    if (!check_poss_dup(s, &in, now)) {
        check_resend_progress(s, now);
        return;
    }
    switch (in.type_len == 1 ? in.type[0] : 0) {
    case '0':
        consume(s, &in);
        deliver(s, &in, 1);
        break;
    case '1':
        on_test_request(s, &in, now);
        break;
    case '2':
        on_resend_request(s, &in, now);
        break;
    case '3':
        on_reject(s, &in, now);
        break;
    case '4':
        on_sequence_reset(s, &in, 1, now);
        break;
    default:
        consume(s, &in);
        deliver(s, &in, 0);
        break;
    }
    check_resend_progress(s, now);
}

void fl_session_retry_resend(struct fl_session *s, int64_t now)
{
    /* The ResendRequest, or a message it brought, was lost: without asking again the session
     * would wait forever (and QuickFIX does). Not a redundant request: nothing is moving. */
    uint64_t upto = s->highest_seen > s->resend_satisfied_at ? s->highest_seen - 1
                                                              : s->resend_satisfied_at;
    if (upto < s->next_target)
        upto = s->next_target;
    fl_session_emit(s, FL_EV_GAP, s->next_target, upto, 0,
                    "no progress on the gap: ResendRequest sent again");
    request_resend(s, upto, now);
}

void fl_session_drain_queue(struct fl_session *s, int64_t now)
{
    while (s->ninq && !s->disconnect_requested &&
           (s->state == FL_STATE_ACTIVE || s->state == FL_STATE_RESENDING ||
            s->state == FL_STATE_LOGOUT_SENT) &&
           s->inq[0].seq <= s->next_target) {
        struct queued_in q = s->inq[0];
        memmove(&s->inq[0], &s->inq[1], (s->ninq - 1) * sizeof *s->inq);
        s->ninq--;
        s->inq_bytes -= q.len;
        if (q.seq == s->next_target && fl_msg_parse(&s->drained, q.frame, q.len) == FL_OK) {
            process(s, &s->drained, 1, now);
        }
        free(q.frame);
        s->drained.buf = NULL;
    }
    if (s->ninq == 0)
        s->queue_warned = 0;
}

void fl_session_on_frame(struct fl_session *s, const char *p, size_t n, int64_t now)
{
    fl_session_batch_begin(s);
    s->last_received = now;
    s->test_request_pending = 0;
    if (s->cfg.max_inbound_rate) {
        if (now - s->rate_window >= NS_PER_SEC) {
            s->rate_window = now;
            s->rate_count = 0;
        }
        if (++s->rate_count == s->cfg.max_inbound_rate + 1)
            fl_session_emit(s, FL_EV_THROTTLE, 0, 0, s->cfg.max_inbound_rate,
                            "inbound rate above max_inbound_rate");
    }
    int rc = fl_msg_parse(&s->in, p, n);
    if (rc != FL_OK) {
        fl_session_emit(s, FL_EV_GARBLED, 0, 0, (int64_t)n, "message has too many fields");
    } else {
        process(s, &s->in, 0, now);
        fl_session_drain_queue(s, now);
    }
    fl_session_batch_end(s, now);
}
