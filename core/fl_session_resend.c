/* fixlua — serving the peer's ResendRequests from the store.
 *
 * Stored messages stream from a store iterator one at a time, so a request for a million
 * messages never holds them in memory; the transport's backlog pauses the replay (resumed by
 * fl_session_on_writable). Application messages are replayed with PossDupFlag=Y, a fresh
 * SendingTime and the original one as OrigSendingTime, unless should_replay says no. Admin
 * messages, skipped messages and numbers missing from the store are covered by
 * SequenceReset-GapFill, consecutive ones coalesced into one. */
#include "fl_session_int.h"

#include <string.h>

#include "fl_tags.h"

#define INFINITY_40 999999u

/* Session-level messages (Reject included, as QuickFIX and its peers do) are never replayed. */
static int gap_filled_type(const char *t, size_t n)
{
    return fl_msg_type_is_admin(t, n);
}

int fl_session_send_gap_fill(struct fl_session *s, uint64_t seq, uint64_t new_seq, int64_t now)
{
    char orig[32];
    size_t on = fl_format_utc_timestamp(orig, now, s->cfg.timestamp_digits);
    int rc = fl_session_start_header(s, "4", 1, seq, now, 1, orig, on);
    if (rc != FL_OK)
        return rc;
    fl_builder_add_int(&s->b, FL_TAG_NEW_SEQ_NO, (int64_t)new_seq);
    fl_builder_add_bool(&s->b, FL_TAG_GAP_FILL_FLAG, 1);
    return fl_session_stage_built(s, seq, 0);
}

/* Header fields of a stored message, re-sorted after PossDupFlag, SendingTime and
 * OrigSendingTime are replaced. */
struct hdr_item {
    uint32_t tag;
    uint32_t index; /* field index in the stored message; UINT32_MAX for our replacements */
};

#define MAX_RESEND_HEADER 64

/* Rebuilds a stored message as a possible duplicate: same header and body, PossDupFlag=Y,
 * SendingTime now, OrigSendingTime the stored SendingTime; header fields in ascending order. */
static int resend_stored(struct fl_session *s, const struct fl_msg *m, uint64_t seq, int64_t now)
{
    int ti = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    int si = fl_msg_hdr(m, FL_HDR_SENDING_TIME);
    int rc = fl_builder_begin(&s->b, s->cfg.begin_string, fl_msg_value(m, (uint32_t)ti),
                              m->fields[ti].len);
    if (rc != FL_OK)
        return rc;
    struct hdr_item items[MAX_RESEND_HEADER];
    size_t n = 0;
    items[n++] = (struct hdr_item){FL_TAG_POSS_DUP_FLAG, UINT32_MAX};
    items[n++] = (struct hdr_item){FL_TAG_SENDING_TIME, UINT32_MAX};
    if (si >= 0)
        items[n++] = (struct hdr_item){FL_TAG_ORIG_SENDING_TIME, (uint32_t)si};
    uint32_t i = (uint32_t)ti + 1;
    for (; i < m->body_begin && i < m->trailer_begin; i++) {
        uint32_t tag = m->fields[i].tag;
        if (tag == FL_TAG_POSS_DUP_FLAG || tag == FL_TAG_SENDING_TIME ||
            tag == FL_TAG_ORIG_SENDING_TIME || n == MAX_RESEND_HEADER)
            continue;
        /* NoHops entries keep their order behind their count (sort key 627). */
        items[n++] = (struct hdr_item){tag >= FL_TAG_NO_HOPS && tag <= FL_TAG_HOP_REF_ID
                                           ? (uint32_t)FL_TAG_NO_HOPS
                                           : tag,
                                       i};
    }
    /* insertion sort: a handful of fields; stable for repeated tags (NoHops entries) */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && items[b - 1].tag > items[b].tag; b--) {
            struct hdr_item t = items[b];
            items[b] = items[b - 1];
            items[b - 1] = t;
        }
    for (size_t k = 0; k < n; k++) {
        const struct hdr_item *it = &items[k];
        if (it->tag == FL_TAG_POSS_DUP_FLAG && it->index == UINT32_MAX)
            fl_builder_add_bool(&s->b, FL_TAG_POSS_DUP_FLAG, 1);
        else if (it->tag == FL_TAG_SENDING_TIME && it->index == UINT32_MAX)
            fl_builder_add_utc_timestamp(&s->b, FL_TAG_SENDING_TIME, now, s->cfg.timestamp_digits);
        else if (it->tag == FL_TAG_ORIG_SENDING_TIME)
            fl_builder_add_str(&s->b, FL_TAG_ORIG_SENDING_TIME, fl_msg_value(m, it->index),
                               m->fields[it->index].len);
        else
            fl_builder_add_str(&s->b, m->fields[it->index].tag, fl_msg_value(m, it->index),
                               m->fields[it->index].len);
    }
    /* The body goes out byte for byte (data fields included). */
    if (i < m->trailer_begin) {
        const struct fl_field *prev = &m->fields[i - 1];
        const struct fl_field *last = &m->fields[m->trailer_begin - 1];
        size_t start = prev->off + prev->len + 1;
        fl_builder_add_raw(&s->b, m->buf + start, last->off + last->len + 1 - start);
    }
    return fl_session_stage_built(s, seq, 0);
}

static void stop_serving(struct fl_session *s, int64_t now)
{
    s->serving = 0;
    fl_session_flush_out_queue(s, now);
}

void fl_session_continue_resend(struct fl_session *s, int64_t now)
{
    struct fl_store_iter *it = NULL;
    uint64_t expected = s->serve_next, gap_start = 0;
    int rc = fl_store_iter_open(s->store, s->serve_next, s->serve_end, &it);
    if (rc != FL_OK) {
        fl_session_emit(s, FL_EV_ERROR, s->serve_next, s->serve_end, rc,
                        "cannot read the store to serve a ResendRequest: gap-filled instead");
        fl_session_send_gap_fill(s, s->serve_next, s->serve_end + 1, now);
        stop_serving(s, now);
        return;
    }
    uint64_t seq;
    const char *data;
    size_t len;
    while (fl_store_iter_next(it, &seq, &data, &len) == FL_OK && seq <= s->serve_end) {
        if (seq < expected)
            continue;
        if (seq > expected && !gap_start)
            gap_start = expected; /* numbers the store does not hold */
        int replay = 0;
        if (fl_msg_parse(&s->stored, data, len) == FL_OK && s->stored.problem == FL_PARSE_OK) {
            int ti = fl_msg_hdr(&s->stored, FL_HDR_MSG_TYPE);
            replay = !gap_filled_type(fl_msg_value(&s->stored, (uint32_t)ti), s->stored.fields[ti].len);
            if (replay && s->io.should_replay && !s->io.should_replay(s->io.ctx, &s->stored)) {
                replay = 0;
                fl_session_emit(s, FL_EV_RESEND_SKIPPED, seq, 0, 0, "not replayed: gap-filled");
            }
        } else {
            fl_session_emit(s, FL_EV_ERROR, seq, 0, FL_ECORRUPT,
                            "stored message unreadable: gap-filled instead");
        }
        if (replay) {
            if (gap_start) {
                fl_session_send_gap_fill(s, gap_start, seq, now);
                gap_start = 0;
            }
            if (resend_stored(s, &s->stored, seq, now) != FL_OK)
                fl_session_emit(s, FL_EV_ERROR, seq, 0, FL_EPROTO, "could not rebuild a stored message");
        } else if (!gap_start) {
            gap_start = seq;
        }
        expected = seq + 1;
        /* Pace a long replay by the transport: flush this chunk and continue when it drains. */
        if (s->nstaged >= 256 || s->stage.len >= s->cfg.output_high_watermark / 4) {
            if (gap_start) {
                fl_session_send_gap_fill(s, gap_start, expected, now);
                gap_start = 0;
            }
            fl_store_iter_close(it);
            s->serve_next = expected;
            size_t backlog = s->transport_backlog;
            fl_session_flush(s, now); /* commit and send what is staged */
            if (s->disconnect_requested || !s->serving)
                return;
            if (backlog >= s->cfg.output_high_watermark ||
                s->transport_backlog >= s->cfg.output_high_watermark)
                return; /* fl_session_on_writable() continues */
            rc = fl_store_iter_open(s->store, s->serve_next, s->serve_end, &it);
            if (rc != FL_OK) {
                fl_session_send_gap_fill(s, s->serve_next, s->serve_end + 1, now);
                stop_serving(s, now);
                return;
            }
        }
    }
    fl_store_iter_close(it);
    if (gap_start || expected <= s->serve_end)
        fl_session_send_gap_fill(s, gap_start ? gap_start : expected, s->serve_end + 1, now);
    stop_serving(s, now);
}

void fl_session_serve_resend(struct fl_session *s, uint64_t begin, uint64_t end, int64_t now)
{
    /* The replay reads the store, and "up to the last" means every number sent so far: what this
     * batch staged is committed (and sent, ahead of the replay) first. */
    if (s->nstaged || s->target_dirty)
        fl_session_flush(s, now);
    if (s->batch_failed)
        return; /* reported, and the connection is going */
    uint64_t last = fl_store_next_sender(s->store) - 1;
    if (end == 0 || (s->version <= FL_FIX_41 && end >= INFINITY_40) || end > last)
        end = last;
    fl_session_emit(s, FL_EV_RESEND_REQUEST, begin, end, 0, "");
    if (begin > end)
        return; /* nothing we sent lies in that range */
    enum fl_resend_decision d = FL_RESEND_SERVE;
    if (s->io.resend_request)
        d = s->io.resend_request(s->io.ctx, begin, end);
    switch (d) {
    case FL_RESEND_GAP_FILL:
        fl_session_send_gap_fill(s, begin, end + 1, now);
        return;
    case FL_RESEND_IGNORE:
        return;
    case FL_RESEND_LOGOUT:
        fl_session_send_logout(s, "ResendRequest refused", now);
        fl_session_request_disconnect(s, "ResendRequest refused");
        return;
    default:
        break;
    }
    if (s->serving) {
        /* A resend paused by the transport is still owed: serve both requests, from the lower
         * begin to the higher end (a number sent twice is a PossDup the peer drops). */
        if (s->serve_next < begin)
            begin = s->serve_next;
        if (s->serve_end > end)
            end = s->serve_end;
    }
    s->serving = 1;
    s->serve_next = begin;
    s->serve_end = end;
    fl_session_continue_resend(s, now);
}
