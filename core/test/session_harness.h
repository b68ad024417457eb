/* fixlua — test harness for driving one fl_session: a fake clock, a memory store, a captured
 * transport and a scripted counterparty that writes messages as "35=D|34=2|..." strings.
 * Header-only so each test file stays one CTest executable. */
#ifndef SESSION_HARNESS_H
#define SESSION_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_frame.h"
#include "fl_msg.h"
#include "fl_session.h"
#include "fl_store.h"

#define H_MAX_FRAMES 4096
#define H_MAX_EVENTS 1024
/* 2026-11-22 10:00:00 UTC, the fake clock's start. */
#define H_T0 INT64_C(1795341600000000000)
#define H_SEC INT64_C(1000000000)

struct h_event {
    enum fl_event_type type;
    uint64_t begin, end;
    int64_t value;
    char text[160];
};

struct harness {
    struct fl_session *s;
    struct fl_store *store;
    struct fl_session_config cfg;
    int64_t now;
    /* what the session sent, frame by frame */
    char *out;
    size_t out_len, out_cap;
    size_t frame_off[H_MAX_FRAMES];
    size_t frame_len[H_MAX_FRAMES];
    int nframes;
    int disconnected;
    struct h_event events[H_MAX_EVENTS];
    int nevents;
    int delivered_app, delivered_admin;
    size_t backlog;        /* what the transport reports still queued after each send */
    /* called once, after the next frame is recorded, as a send hook of the engine would run */
    void (*after_send)(struct harness *h);
    void *user;
    char last_app_type[8];
    /* policies */
    enum fl_logon_decision logon_decision;
    int replay_none;
    enum fl_resend_decision resend_decision;
    /* counterparty numbering */
    uint64_t peer_seq;
    const char *begin_string;
    struct fl_msg parsed;
};

static inline size_t h_send(void *ctx, const char *p, size_t n)
{
    struct harness *h = ctx;
    if (h->out_len + n > h->out_cap) {
        size_t cap = h->out_cap ? h->out_cap * 2 : 65536;
        while (cap < h->out_len + n)
            cap *= 2;
        h->out = realloc(h->out, cap);
        h->out_cap = cap;
    }
    memcpy(h->out + h->out_len, p, n);
    if (h->nframes < H_MAX_FRAMES) {
        h->frame_off[h->nframes] = h->out_len;
        h->frame_len[h->nframes] = n;
        h->nframes++;
    }
    h->out_len += n;
    if (h->after_send) {
        void (*hook)(struct harness *) = h->after_send;
        h->after_send = NULL;
        hook(h);
    }
    return h->backlog;
}

static inline void h_disconnect(void *ctx, const char *why)
{
    struct harness *h = ctx;
    (void)why;
    h->disconnected++;
}

static inline void h_event_cb(void *ctx, const struct fl_session_event *ev)
{
    struct harness *h = ctx;
    if (h->nevents >= H_MAX_EVENTS)
        return;
    struct h_event *e = &h->events[h->nevents++];
    e->type = ev->type;
    e->begin = ev->begin;
    e->end = ev->end;
    e->value = ev->value;
    snprintf(e->text, sizeof e->text, "%s", ev->text);
}

static inline void h_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct harness *h = ctx;
    if (is_admin) {
        h->delivered_admin++;
    } else {
        h->delivered_app++;
        int i = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
        snprintf(h->last_app_type, sizeof h->last_app_type, "%.*s", (int)m->fields[i].len,
                 fl_msg_value(m, (uint32_t)i));
    }
}

static inline enum fl_logon_decision h_validate(void *ctx, const struct fl_msg *logon, char *reason,
                                         size_t cap)
{
    struct harness *h = ctx;
    (void)logon;
    if (h->logon_decision == FL_LOGON_REJECT)
        snprintf(reason, cap, "bad password");
    return h->logon_decision;
}

static inline int h_should_replay(void *ctx, const struct fl_msg *m)
{
    struct harness *h = ctx;
    (void)m;
    return !h->replay_none;
}

static inline enum fl_resend_decision h_resend(void *ctx, uint64_t b, uint64_t e)
{
    struct harness *h = ctx;
    (void)b;
    (void)e;
    return h->resend_decision;
}

/* A config for our side SND talking to TGT. */
static inline struct fl_session_config h_config(enum fl_session_role role, const char *bs)
{
    struct fl_session_config c;
    memset(&c, 0, sizeof c);
    c.role = role;
    c.begin_string = bs;
    c.sender_comp_id = "SND";
    c.target_comp_id = "TGT";
    c.default_appl_ver_id = "9";
    c.heartbeat_interval = 30;
    return c;
}

static inline int h_open_with(struct harness *h, const struct fl_session_config *cfg,
                       struct fl_store *store)
{
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    h->now = H_T0;
    h->begin_string = cfg->begin_string;
    h->peer_seq = 1;
    fl_msg_init(&h->parsed);
    if (!store && fl_store_mem_new(h->now, &store) != FL_OK)
        return -1;
    h->store = store;
    struct fl_session_io io = {.ctx = h, .send = h_send, .disconnect = h_disconnect,
                               .event = h_event_cb, .deliver = h_deliver,
                               .validate_logon = h_validate, .should_replay = h_should_replay,
                               .resend_request = h_resend};
    char err[128];
    if (fl_session_new(&h->cfg, store, &io, &h->s, err, sizeof err) != FL_OK) {
        fprintf(stderr, "session: %s\n", err);
        return -1;
    }
    return 0;
}

static inline int h_open(struct harness *h, enum fl_session_role role, const char *bs)
{
    struct fl_session_config c = h_config(role, bs);
    return h_open_with(h, &c, NULL);
}

static inline void h_close(struct harness *h)
{
    fl_session_free(h->s);
    fl_store_close(h->store);
    fl_msg_release(&h->parsed);
    free(h->out);
}

/* Builds a frame from "35=D|34=2|..." ('|' for SOH, no 8/9/10). "52=NOW" becomes the fake
 * clock's time, "52=NOW-125" that minus 125 s; 49/56 default to TGT/SND when absent. */
static inline size_t h_frame(struct harness *h, const char *spec, char *dst, size_t cap)
{
    struct fl_builder b;
    fl_builder_init(&b);
    char body[4096];
    size_t bl = 0;
    const char *p = spec;
    char type[16] = "";
    int has49 = strstr(spec, "49=") == spec || strstr(spec, "|49=") != NULL;
    int has56 = strstr(spec, "|56=") != NULL;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 3 && memcmp(p, "35=", 3) == 0) {
            snprintf(type, sizeof type, "%.*s", (int)(n - 3), p + 3);
        } else if (n >= 6 && memcmp(p, "52=NOW", 6) == 0) {
            int64_t t = h->now;
            if (n > 6)
                t += (int64_t)strtol(p + 6, NULL, 10) * H_SEC;
            memcpy(body + bl, "52=", 3);
            bl += 3;
            bl += fl_format_utc_timestamp(body + bl, t, 3);
            body[bl++] = '\001';
        } else if (n >= 7 && memcmp(p, "122=NOW", 7) == 0) {
            int64_t t = h->now;
            if (n > 7)
                t += (int64_t)strtol(p + 7, NULL, 10) * H_SEC;
            memcpy(body + bl, "122=", 4);
            bl += 4;
            bl += fl_format_utc_timestamp(body + bl, t, 3);
            body[bl++] = '\001';
        } else if (n) {
            memcpy(body + bl, p, n);
            bl += n;
            body[bl++] = '\001';
        }
        p = e ? e + 1 : p + n;
    }
    if (fl_builder_begin(&b, h->begin_string, type, strlen(type)) != FL_OK)
        return 0;
    if (!has49)
        fl_builder_add_cstr(&b, 49, "TGT");
    if (!has56)
        fl_builder_add_cstr(&b, 56, "SND");
    fl_builder_add_raw(&b, body, bl);
    const char *out;
    size_t n;
    size_t r = 0;
    if (fl_builder_finish(&b, &out, &n) == FL_OK && n <= cap) {
        memcpy(dst, out, n);
        r = n;
    }
    fl_builder_release(&b);
    return r;
}

/* Feeds one message from the counterparty. */
static inline void h_in(struct harness *h, const char *spec)
{
    char frame[8192];
    size_t n = h_frame(h, spec, frame, sizeof frame);
    if (!n) {
        fprintf(stderr, "bad test frame: %s\n", spec);
        abort();
    }
    size_t used = fl_session_on_bytes(h->s, frame, n, h->now);
    (void)used;
}

static inline void h_raw(struct harness *h, const char *bytes_with_bars)
{
    char buf[8192];
    size_t n = strlen(bytes_with_bars);
    memcpy(buf, bytes_with_bars, n);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '|')
            buf[i] = '\001';
    fl_session_on_bytes(h->s, buf, n, h->now);
}

/* Parses sent frame i (negative: from the end) into h->parsed. */
static inline struct fl_msg *h_sent(struct harness *h, int i)
{
    if (i < 0)
        i += h->nframes;
    if (i < 0 || i >= h->nframes)
        return NULL;
    if (fl_msg_parse(&h->parsed, h->out + h->frame_off[i], h->frame_len[i]) != FL_OK)
        return NULL;
    return &h->parsed;
}

/* Value of `tag` in sent frame i as a string (static buffer), "" when absent, "?" when no frame. */
static inline const char *h_get(struct harness *h, int i, uint32_t tag)
{
    static char v[256];
    struct fl_msg *m = h_sent(h, i);
    if (!m)
        return "?";
    const char *p;
    size_t n;
    if (fl_msg_get_str(m, tag, &p, &n) != FL_OK)
        return "";
    snprintf(v, sizeof v, "%.*s", (int)n, p);
    return v;
}

static inline int h_has_event(const struct harness *h, enum fl_event_type t)
{
    for (int i = 0; i < h->nevents; i++)
        if (h->events[i].type == t)
            return 1;
    return 0;
}

static inline void h_advance(struct harness *h, int64_t seconds)
{
    h->now += seconds * H_SEC;
    fl_session_tick(h->s, h->now);
}

/* Acceptor logged on with the counterparty's Logon at seq 1 and HeartBtInt 30. */
static inline int h_logged_on_acceptor(struct harness *h, const char *bs)
{
    if (h_open(h, FL_ROLE_ACCEPTOR, bs) != 0)
        return -1;
    fl_session_on_connect(h->s, h->now);
    if (strcmp(bs, "FIXT.1.1") == 0)
        h_in(h, "35=A|34=1|52=NOW|98=0|108=30|1137=9");
    else
        h_in(h, "35=A|34=1|52=NOW|98=0|108=30");
    return fl_session_state(h->s) == FL_STATE_ACTIVE ? 0 : -1;
}

#define STR_EQ(a, b) (strcmp((a), (b)) == 0)

#endif
