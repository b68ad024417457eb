/* fixlua — the conformance runner: FIX session-level acceptance scenarios against a live engine.
 *
 * Every scenario file under spec/conformance/<version>/ (format: spec/conformance/README.md) is
 * one case of the FIX session-level test list. For each one the runner builds a fresh engine
 * with a manual clock and one acceptor session (SenderCompID ISLD, TargetCompID TW, full
 * validation against the version's dictionary, memory store, sequence numbers reset whenever
 * the connection drops), gives it a reflector application, and plays the counterparty over real
 * TCP sockets on 127.0.0.1: it sends what the scenario says, compares what arrives field by
 * field, in order and count (lengths, checksums and timestamps by pattern), and moves the
 * engine's clock only on `wait`, so heartbeat and timeout cases take milliseconds. The
 * reflector behaves like the application QuickFIX's acceptance tests run against: it echoes
 * NewOrderSingle (once per ClOrdID when PossResend=Y) and SecurityDefinition, and answers
 * every other application message as an unsupported message type.
 *
 * Usage: conformance [-v] [--shared DIR] [--timeout MS] PATH...   (PATH: a version directory
 * or one scenario file). Prints one line per scenario, then "N passed, N failed"; exits 0 when
 * everything passed, 1 otherwise, 77 (CTest's skip) when the dictionaries are missing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "fl_builder.h"
#include "fl_dict.h"
#include "fl_engine.h"
#include "fl_frame.h"
#include "fl_group.h"
#include "fl_msg.h"

#ifndef FL_SHARED_DIR
#define FL_SHARED_DIR "../shared"
#endif

#define NS_PER_SEC INT64_C(1000000000)
#define MAX_CONNS 8
#define SKIP_STATUS 77
/* The manual clock starts here (2023-11-14 22:13:20 UTC), so runs are reproducible. */
#define START_TIME (INT64_C(1700000000) * NS_PER_SEC)
/* Idle loop iterations (about 1 ms each) after which the engine is taken to be quiet. */
#define SETTLE_ROUNDS 15

/* ---- small growable buffers ---- */

struct buf {
    char *p;
    size_t len;
    size_t cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
        fprintf(stderr, "conformance: out of memory\n");
        exit(2);
    }
    b->p = np;
    b->cap = ncap;
}

static void buf_add(struct buf *b, const char *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_drop_front(struct buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    if (b->p)
        b->p[b->len] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Shows a frame with '|' for SOH. */
static void buf_add_visible(struct buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i] == '\001' ? '|' : p[i];
        buf_add(b, &c, 1);
    }
}

/* ---- the version under test ---- */

struct suite {
    const char *dir;            /* directory name under spec/conformance */
    const char *begin_string;
    const char *dict_file;      /* under <shared>/dictionaries */
    const char *app_dict_file;  /* FIXT.1.1: the application dictionary, else NULL */
    const char *appl_ver_id;    /* FIXT.1.1: DefaultApplVerID of the session */
    int digits;                 /* SendingTime fraction digits on the wire */
    int business_reject;        /* BusinessMessageReject(j) exists (FIX.4.2 and later) */
};

static const struct suite suites[] = {
    {"fix40", "FIX.4.0", "FIX40.xml", NULL, NULL, 0, 0},
    {"fix41", "FIX.4.1", "FIX41.xml", NULL, NULL, 0, 0},
    {"fix42", "FIX.4.2", "FIX42.xml", NULL, NULL, 3, 1},
    {"fix43", "FIX.4.3", "FIX43.xml", NULL, NULL, 3, 1},
    {"fix44", "FIX.4.4", "FIX44.xml", NULL, NULL, 3, 1},
    {"fixt11", "FIXT.1.1", "FIXT11.xml", "FIX50SP2.xml", "9", 3, 1},
};

static const struct suite *suite_for_dir(const char *dir)
{
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (strcmp(suites[i].dir, dir) == 0)
            return &suites[i];
    return NULL;
}

/* ---- runner state ---- */

struct client {
    int fd;        /* -1 when not connected */
    int eof;       /* the engine closed the connection */
    struct buf in; /* bytes received, not yet matched */
};

struct runner {
    const struct suite *suite;
    const char *shared_dir;
    struct fl_dict *dict;      /* the session's dictionary (transport one for FIXT) */
    struct fl_dict *app_dict;  /* FIXT.1.1: application dictionary, else == dict */
    int verbose;
    int timeout_ms;
    /* per scenario */
    struct fl_engine *e;
    struct fl_engine_session *es;
    int port;
    struct client conns[MAX_CONNS + 1];
    struct buf seen_ids;       /* reflector: ClOrdIDs seen, each followed by '\n' */
    struct buf failure;        /* why the scenario failed; empty while it passes */
    const char *file;
    int line;
};

static void fail(struct runner *r, const char *fmt, ...)
{
    if (r->failure.len)
        return; /* the first failure is the one that matters */
    buf_printf(&r->failure, "%s:%d: ", r->file, r->line);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        buf_reserve(&r->failure, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(r->failure.p + r->failure.len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        r->failure.len += (size_t)n;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the reflector application ---- */

static int tag_in(uint32_t tag, const uint32_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == tag)
            return 1;
    return 0;
}

/* A top-level part of a message: one field, or a NumInGroup field with all its entries. */
struct span {
    uint32_t tag;
    uint32_t begin, end;
};

static void sort_spans(struct span *s, size_t n)
{
    /* insertion sort, stable: equal tags keep their order */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && s[b - 1].tag > s[b].tag; b--) {
            struct span t = s[b];
            s[b] = s[b - 1];
            s[b - 1] = t;
        }
}

static void add_fields(struct buf *out, const struct fl_msg *m, uint32_t begin, uint32_t end)
{
    for (uint32_t i = begin; i < end; i++)
        buf_printf(out, "%u=%.*s\001", m->fields[i].tag, (int)m->fields[i].len, fl_msg_value(m, i));
}

/* The echo QuickFIX's test application sends: every header field but the ones the session
 * writes itself (and PossDupFlag/OrigSendingTime, which a new message must not carry), then
 * the body; both in ascending tag order, each repeating group kept behind its NumInGroup. */
static void echo(struct runner *r, struct fl_engine_session *es, const struct fl_msg *m,
                 const char *type, size_t type_len)
{
    static const uint32_t session_owned[] = {8, 9, 35, 34, 43, 49, 52, 56, 122};
    struct buf header = {0}, body = {0};
    size_t n = m->nfields;
    struct span *spans = calloc(n ? n : 1, sizeof *spans);
    if (!spans)
        return;
    size_t ns = 0;
    size_t nowned = sizeof session_owned / sizeof session_owned[0];
    for (uint32_t i = 0; i < m->body_begin && i < m->trailer_begin; i++)
        if (!tag_in(m->fields[i].tag, session_owned, nowned))
            spans[ns++] = (struct span){m->fields[i].tag, i, i + 1};
    sort_spans(spans, ns);
    for (size_t k = 0; k < ns; k++)
        add_fields(&header, m, spans[k].begin, spans[k].end);
    ns = 0;
    for (uint32_t i = m->body_begin; i < m->trailer_begin;) {
        uint32_t tag = m->fields[i].tag, end = i + 1;
        const struct fl_group_def *def = fl_dict_group(r->app_dict, type, type_len, tag);
        struct fl_group g;
        if (def && fl_group_open(&g, m, def, i, m->trailer_begin) == FL_OK && g.end > end)
            end = g.end;
        spans[ns++] = (struct span){tag, i, end};
        i = end;
    }
    sort_spans(spans, ns);
    for (size_t k = 0; k < ns; k++)
        add_fields(&body, m, spans[k].begin, spans[k].end);
    int rc = fl_engine_session_send(es, type, type_len, header.p, header.len, body.p, body.len);
    if (rc != FL_OK)
        fail(r, "reflector could not send its echo: %s", fl_err_name(rc));
    free(spans);
    buf_free(&header);
    buf_free(&body);
}

/* NewOrderSingle with PossResend=Y and a ClOrdID already seen is a duplicate: dropped. */
static int duplicate_order(struct runner *r, const struct fl_msg *m)
{
    const char *id;
    size_t n;
    int poss_resend = 0;
    if (fl_msg_get_str(m, 11, &id, &n) != FL_OK)
        return 0;
    struct buf key = {0};
    buf_add(&key, "\n", 1);
    buf_add(&key, id, n);
    buf_add(&key, "\n", 1);
    int seen = r->seen_ids.len && strstr(r->seen_ids.p, key.p) != NULL;
    if (!seen) {
        if (r->seen_ids.len == 0)
            buf_add(&r->seen_ids, "\n", 1);
        buf_add(&r->seen_ids, key.p + 1, key.len - 1);
    }
    buf_free(&key);
    return seen && fl_msg_get_bool(m, 97, &poss_resend) == FL_OK && poss_resend;
}

static void unsupported(struct runner *r, struct fl_engine_session *es, const struct fl_msg *m,
                        const char *type, size_t type_len)
{
    int64_t seq = 0;
    if (fl_msg_get_int(m, 34, &seq) != FL_OK)
        seq = 0;
    struct buf body = {0};
    int rc;
    if (r->suite->business_reject) {
        buf_printf(&body, "45=%lld\00158=Unsupported Message Type\001372=%.*s\001380=3\001",
                   (long long)seq, (int)type_len, type);
        rc = fl_engine_session_send(es, "j", 1, NULL, 0, body.p, body.len);
    } else {
        buf_printf(&body, "45=%lld\00158=Unsupported message type\001", (long long)seq);
        rc = fl_engine_session_send(es, "3", 1, NULL, 0, body.p, body.len);
    }
    if (rc != FL_OK)
        fail(r, "reflector could not send its reject: %s", fl_err_name(rc));
    buf_free(&body);
}

static void on_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m,
                       int is_admin)
{
    struct runner *r = ctx;
    int ti = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    if (is_admin || ti < 0)
        return;
    const char *type = fl_msg_value(m, (uint32_t)ti);
    size_t tl = m->fields[ti].len;
    if (tl == 1 && type[0] == 'D') {
        if (!duplicate_order(r, m))
            echo(r, es, m, type, tl);
    } else if (tl == 1 && type[0] == 'd') {
        echo(r, es, m, type, tl);
    } else {
        unsupported(r, es, m, type, tl);
    }
}

static void on_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    struct runner *r = ctx;
    (void)es;
    if (ev->type == FL_EV_LOGOUT || (ev->type == FL_EV_STATE && ev->to == FL_STATE_DISCONNECTED))
        r->seen_ids.len = 0; /* the application forgets orders when the session ends */
    if (!r->verbose)
        return;
    if (ev->type == FL_EV_STATE)
        fprintf(stderr, "    [engine] state %s -> %s\n", fl_session_state_name(ev->from),
                fl_session_state_name(ev->to));
    else
        fprintf(stderr, "    [engine] %s %llu..%llu %lld %s\n", fl_event_name(ev->type),
                (unsigned long long)ev->begin, (unsigned long long)ev->end, (long long)ev->value,
                ev->text);
}

static void on_engine_log(void *ctx, const char *level, const char *text)
{
    struct runner *r = ctx;
    if (r->verbose)
        fprintf(stderr, "    [engine] %s %s\n", level, text);
}

/* ---- the counterparty's sockets ---- */

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->eof = 0;
    c->in.len = 0;
}

static void read_client(struct runner *r, struct client *c)
{
    char tmp[16384];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_add(&c->in, tmp, (size_t)n);
            if (r->verbose) {
                struct buf v = {0};
                buf_add_visible(&v, tmp, (size_t)n);
                fprintf(stderr, "    [recv] %s\n", v.p);
                buf_free(&v);
            }
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->eof = 1;
        return;
    }
}

/* One loop round: the engine's events and due timers, then whatever reached our sockets
 * (waiting up to wait_ms for it). Returns 1 when bytes or an end of stream arrived. */
static int pump(struct runner *r, int wait_ms)
{
    int rc = fl_engine_run_once(r->e, 0);
    if (rc == FL_OK)
        rc = fl_engine_advance(r->e, 0); /* timers due now (closing connections) */
    if (rc != FL_OK)
        fail(r, "engine loop failed: %s", fl_err_name(rc));
    struct pollfd pfd[MAX_CONNS + 1];
    int idx[MAX_CONNS + 1];
    nfds_t n = 0;
    for (int i = 1; i <= MAX_CONNS; i++) {
        if (r->conns[i].fd >= 0 && !r->conns[i].eof) {
            pfd[n] = (struct pollfd){.fd = r->conns[i].fd, .events = POLLIN};
            idx[n++] = i;
        }
    }
    if (n == 0) {
        if (wait_ms > 0)
            poll(NULL, 0, wait_ms);
        return 0;
    }
    if (poll(pfd, n, wait_ms) <= 0)
        return 0;
    int got = 0;
    for (nfds_t k = 0; k < n; k++) {
        if (pfd[k].revents) {
            read_client(r, &r->conns[idx[k]]);
            got = 1;
        }
    }
    return got;
}

/* Lets the engine handle everything sent so far: loop until nothing arrives for a while. */
static void settle(struct runner *r)
{
    for (int idle = 0; idle < SETTLE_ROUNDS;)
        idle = pump(r, 1) ? 0 : idle + 1;
}

/* A complete frame at the front of c->in: 1 (length in *len), 0 (none yet), -1 (garbage). */
static int next_frame(struct client *c, size_t *len)
{
    if (c->in.len == 0)
        return 0;
    struct fl_frame f;
    enum fl_frame_status st = fl_frame_scan(c->in.p, c->in.len, 0, &f);
    if (st == FL_FRAME_OK) {
        *len = f.len;
        return 1;
    }
    if (st == FL_FRAME_NEED_MORE)
        return 0;
    *len = f.skip;
    return -1;
}

static struct client *conn_of(struct runner *r, int id)
{
    if (id < 1 || id > MAX_CONNS) {
        fail(r, "connection number %d out of range 1..%d", id, MAX_CONNS);
        return NULL;
    }
    struct client *c = &r->conns[id];
    if (c->fd < 0) {
        fail(r, "connection %d is not open", id);
        return NULL;
    }
    return c;
}

/* Fails when the engine sent something no step expected. */
static void check_nothing_pending(struct runner *r, struct client *c, int id)
{
    size_t len;
    int st = next_frame(c, &len);
    if (st == 0 && c->in.len == 0)
        return;
    struct buf v = {0};
    buf_add_visible(&v, c->in.p, st == 1 ? len : c->in.len);
    fail(r, "unexpected message on connection %d\n    received: %s", id, v.p);
    buf_free(&v);
}

/* ---- scenario text: fields and placeholders ---- */

struct field {
    long tag;     /* -1000000 when the token has no numeric tag (garbled on purpose) */
    char *text;   /* "tag=value" as it goes on the wire */
    char *value;  /* points into text after '=' (or to its end) */
};

struct fields {
    struct field *v;
    size_t n, cap;
};

#define NO_TAG (-1000000L)

static void fields_free(struct fields *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].text);
    free(f->v);
    memset(f, 0, sizeof *f);
}

static void fields_insert(struct fields *f, size_t at, const char *text, size_t n)
{
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 32;
        struct field *nv = realloc(f->v, ncap * sizeof *nv);
        if (!nv) {
            fprintf(stderr, "conformance: out of memory\n");
            exit(2);
        }
        f->v = nv;
        f->cap = ncap;
    }
    char *t = malloc(n + 1);
    if (!t) {
        fprintf(stderr, "conformance: out of memory\n");
        exit(2);
    }
    memcpy(t, text, n);
    t[n] = '\0';
    struct field fd = {.tag = NO_TAG, .text = t, .value = t + n};
    char *eq = strchr(t, '=');
    if (eq) {
        fd.value = eq + 1;
        char *end;
        long tag = strtol(t, &end, 10);
        if (end == eq && end != t)
            fd.tag = tag;
    }
    memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof *f->v);
    f->v[at] = fd;
    f->n++;
}

static void fields_remove(struct fields *f, size_t at)
{
    free(f->v[at].text);
    memmove(&f->v[at], &f->v[at + 1], (f->n - at - 1) * sizeof *f->v);
    f->n--;
}

static long find_tag(const struct fields *f, long tag)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].tag == tag)
            return (long)i;
    return -1;
}

/* Formats the engine's clock plus `offset` seconds as a UTCTimestamp of the version. */
static void format_now(struct runner *r, int64_t offset, char *out)
{
    int64_t t = fl_engine_now(r->e) + offset * NS_PER_SEC;
    size_t n = fl_format_utc_timestamp(out, t, r->suite->digits);
    out[n] = '\0';
}

/* Replaces <now>, <now+N> and <now-N> (N seconds). */
static int expand_time(struct runner *r, const char *in, struct buf *out)
{
    while (*in) {
        const char *lt = strstr(in, "<now");
        if (!lt) {
            buf_adds(out, in);
            return 1;
        }
        buf_add(out, in, (size_t)(lt - in));
        const char *p = lt + 4;
        long off = 0;
        if (*p == '+' || *p == '-') {
            char *end;
            off = strtol(p, &end, 10);
            p = end;
        }
        if (*p != '>') {
            fail(r, "bad time placeholder near '%.12s'", lt);
            return 0;
        }
        char ts[40];
        format_now(r, off, ts);
        buf_adds(out, ts);
        in = p + 1;
    }
    return 1;
}

static int parse_fields(struct runner *r, const char *text, struct fields *f)
{
    struct buf ex = {0};
    if (!expand_time(r, text, &ex)) {
        buf_free(&ex);
        return 0;
    }
    const char *p = ex.p ? ex.p : "";
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n)
            fields_insert(f, f->n, p, n);
        p += n + (bar ? 1 : 0);
    }
    buf_free(&ex);
    return 1;
}

/* Header defaults: each one missing is merged, in ascending tag order, into the run of
 * standard-header fields that follows MsgType (35), or BodyLength/BeginString without one.
 * A field written with the value <omit> keeps its default out and is itself dropped. */
static void add_header_defaults(struct fields *f, const long *tags, const char *const *texts,
                                size_t ndefaults)
{
    long anchor = find_tag(f, 35);
    if (anchor < 0)
        anchor = find_tag(f, 9);
    if (anchor < 0)
        anchor = find_tag(f, 8);
    size_t run = (size_t)(anchor + 1);
    for (size_t d = 0; d < ndefaults; d++) {
        if (find_tag(f, tags[d]) >= 0)
            continue;
        size_t at = run;
        while (at < f->n && f->v[at].tag != NO_TAG && fl_tag_section((uint32_t)f->v[at].tag) == 1 &&
               f->v[at].tag < tags[d])
            at++;
        fields_insert(f, at, texts[d], strlen(texts[d]));
    }
    for (size_t i = f->n; i-- > 0;)
        if (strcmp(f->v[i].value, "<omit>") == 0)
            fields_remove(f, i);
}

/* Joins fields into wire bytes, then fills <len> (BodyLength) and <sum> (CheckSum). */
static void serialise(const struct fields *f, struct buf *out)
{
    for (size_t i = 0; i < f->n; i++) {
        buf_adds(out, f->v[i].text);
        buf_add(out, "\001", 1);
    }
    char *len_ph = strstr(out->p, "9=<len>\001");
    if (len_ph && (len_ph == out->p || len_ph[-1] == '\001')) {
        char *body = len_ph + 8;
        char *ten = NULL;
        for (char *q = body; (q = strstr(q, "\00110=")) != NULL; q++)
            ten = q + 1;
        size_t blen = ten ? (size_t)(ten - body) : (size_t)(out->p + out->len - body);
        char num[24];
        int nn = snprintf(num, sizeof num, "%zu", blen);
        size_t at = (size_t)(len_ph + 2 - out->p);
        struct buf nb = {0};
        buf_add(&nb, out->p, at);
        buf_add(&nb, num, (size_t)nn);
        buf_add(&nb, out->p + at + 5, out->len - at - 5);
        buf_free(out);
        *out = nb;
    }
    char *sum_ph = strstr(out->p, "10=<sum>\001");
    if (sum_ph && (sum_ph == out->p || sum_ph[-1] == '\001')) {
        char num[8];
        snprintf(num, sizeof num, "%03u", fl_checksum(out->p, (size_t)(sum_ph - out->p)) % 256u);
        size_t at = (size_t)(sum_ph + 3 - out->p);
        struct buf nb = {0};
        buf_add(&nb, out->p, at);
        buf_add(&nb, num, 3);
        buf_add(&nb, out->p + at + 5, out->len - at - 5);
        buf_free(out);
        *out = nb;
    }
}

/* ---- comparing what arrived ---- */

static int all_digits(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* YYYYMMDD-HH:MM:SS with `digits` fraction digits; digits < 0 accepts none, 3, 6 or 9. */
static int is_timestamp(const char *p, size_t n, int digits)
{
    if (n < 17 || !all_digits(p, 8) || p[8] != '-' || !all_digits(p + 9, 2) || p[11] != ':' ||
        !all_digits(p + 12, 2) || p[14] != ':' || !all_digits(p + 15, 2))
        return 0;
    size_t frac = n == 17 ? 0 : n - 18;
    if (n > 17 && (p[17] != '.' || !all_digits(p + 18, frac)))
        return 0;
    if (digits >= 0)
        return (int)frac == digits;
    return frac == 0 || frac == 3 || frac == 6 || frac == 9;
}

/* Tags whose value changes from run to run are matched by form, as QuickFIX's comparator does. */
static int value_matches(const struct runner *r, long tag, const char *want, const char *got,
                         size_t gn)
{
    if (strcmp(want, "<any>") == 0)
        return 1;
    switch (tag) {
    case 9:
        return all_digits(got, gn);
    case 10:
        return gn == 3 && all_digits(got, gn);
    case 52:
    case 122:
        return is_timestamp(got, gn, r->suite->digits);
    case 60:
        return is_timestamp(got, gn, -1);
    case 17:
    case 37:
        return gn > 0;
    default:
        return strlen(want) == gn && memcmp(want, got, gn) == 0;
    }
}

static void report_mismatch(struct runner *r, const char *why, const struct buf *want,
                            const char *got, size_t gn)
{
    struct buf g = {0};
    buf_add_visible(&g, got, gn);
    fail(r, "%s\n    expected: %s\n    received: %s", why, want->p ? want->p : "", g.p ? g.p : "");
    buf_free(&g);
}

static void compare(struct runner *r, const struct fields *want, const char *got, size_t gn)
{
    struct buf wv = {0}, why = {0};
    for (size_t i = 0; i < want->n; i++) {
        buf_adds(&wv, want->v[i].text);
        buf_adds(&wv, "|");
    }
    size_t i = 0;
    const char *p = got, *end = got + gn;
    while (p < end && i < want->n) {
        const char *soh = memchr(p, '\001', (size_t)(end - p));
        if (!soh)
            soh = end;
        const char *eq = memchr(p, '=', (size_t)(soh - p));
        size_t tn = eq ? (size_t)(eq - p) : (size_t)(soh - p);
        const struct field *w = &want->v[i];
        char tagtext[24];
        snprintf(tagtext, sizeof tagtext, "%ld", w->tag);
        if (!eq || strlen(tagtext) != tn || memcmp(tagtext, p, tn) != 0) {
            buf_printf(&why, "field %zu: expected tag %ld, found '%.*s'", i + 1, w->tag,
                       (int)(soh - p), p);
            break;
        }
        if (!value_matches(r, w->tag, w->value, eq + 1, (size_t)(soh - eq - 1))) {
            buf_printf(&why, "field %zu: expected %s, found %.*s", i + 1, w->text,
                       (int)(soh - p), p);
            break;
        }
        p = soh + 1;
        i++;
    }
    if (!why.len && (i < want->n || p < end)) {
        size_t got_fields = 0;
        for (const char *q = got; q < end; q++)
            got_fields += *q == '\001';
        buf_printf(&why, "number of fields differs: expected %zu, received %zu", want->n,
                   got_fields);
    }
    if (why.len)
        report_mismatch(r, why.p, &wv, got, gn);
    buf_free(&wv);
    buf_free(&why);
}

/* ---- steps ---- */

static void step_connect(struct runner *r, int id)
{
    if (id < 1 || id > MAX_CONNS) {
        fail(r, "connection number %d out of range 1..%d", id, MAX_CONNS);
        return;
    }
    struct client *c = &r->conns[id];
    if (c->fd >= 0) {
        fail(r, "connection %d is already open", id);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        fail(r, "socket: %s", strerror(errno));
        return;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)r->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fail(r, "connect to 127.0.0.1:%d: %s", r->port, strerror(errno));
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
        fail(r, "fcntl: %s", strerror(errno));
        close(fd);
        return;
    }
    c->fd = fd;
    c->eof = 0;
    c->in.len = 0;
    pump(r, 0); /* let the engine accept it */
}

static void step_disconnect(struct runner *r, int id)
{
    struct client *c = conn_of(r, id);
    if (!c)
        return;
    settle(r);
    check_nothing_pending(r, c, id);
    client_close(c);
    settle(r);
}

static void write_all(struct runner *r, struct client *c, const char *p, size_t n)
{
    if (r->verbose) {
        struct buf v = {0};
        buf_add_visible(&v, p, n);
        fprintf(stderr, "    [send] %s\n", v.p);
        buf_free(&v);
    }
    int64_t until = mono_ms() + r->timeout_ms;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
            mono_ms() < until) {
            pump(r, 1);
            continue;
        }
        fail(r, "send failed (connection dropped by the engine?): %s",
             w < 0 ? strerror(errno) : "short write");
        return;
    }
}

static void step_send(struct runner *r, int id, const char *text, int raw)
{
    struct client *c = conn_of(r, id);
    if (!c)
        return;
    struct fields f = {0};
    struct buf wire = {0};
    if (parse_fields(r, text, &f)) {
        if (!raw) {
            char bs[32], sender[64], target[64], now[40];
            snprintf(bs, sizeof bs, "8=%s", r->suite->begin_string);
            if (f.n == 0 || f.v[0].tag != 8)
                fields_insert(&f, 0, bs, strlen(bs));
            if (find_tag(&f, 9) < 0)
                fields_insert(&f, 1, "9=<len>", 7);
            format_now(r, 0, now);
            snprintf(sender, sizeof sender, "49=TW");
            snprintf(target, sizeof target, "56=ISLD");
            char sending_time[48];
            snprintf(sending_time, sizeof sending_time, "52=%s", now);
            static const long tags[] = {49, 52, 56};
            const char *texts[] = {sender, sending_time, target};
            add_header_defaults(&f, tags, texts, 3);
            if (find_tag(&f, 10) < 0)
                fields_insert(&f, f.n, "10=<sum>", 8);
        }
        serialise(&f, &wire);
        write_all(r, c, wire.p, wire.len);
    }
    fields_free(&f);
    buf_free(&wire);
}

static void step_expect(struct runner *r, int id, const char *text)
{
    struct client *c = conn_of(r, id);
    if (!c)
        return;
    struct fields want = {0};
    if (!parse_fields(r, text, &want)) {
        fields_free(&want);
        return;
    }
    char bs[32];
    snprintf(bs, sizeof bs, "8=%s", r->suite->begin_string);
    if (want.n == 0 || want.v[0].tag != 8)
        fields_insert(&want, 0, bs, strlen(bs));
    if (find_tag(&want, 9) < 0)
        fields_insert(&want, 1, "9=<any>", 7);
    static const long tags[] = {49, 52, 56};
    static const char *const texts[] = {"49=ISLD", "52=<time>", "56=TW"};
    add_header_defaults(&want, tags, texts, 3);
    if (find_tag(&want, 10) < 0)
        fields_insert(&want, want.n, "10=<any>", 8);
    struct buf wv = {0};
    for (size_t i = 0; i < want.n; i++) {
        buf_adds(&wv, want.v[i].text);
        buf_adds(&wv, "|");
    }
    int64_t until = mono_ms() + r->timeout_ms;
    size_t len = 0;
    int st;
    while ((st = next_frame(c, &len)) == 0 && !c->eof && mono_ms() < until && !r->failure.len)
        pump(r, 1);
    if (st == 0 && !r->failure.len)
        st = next_frame(c, &len);
    if (r->failure.len) {
        /* already failed inside the loop */
    } else if (st == 1) {
        compare(r, &want, c->in.p, len);
        buf_drop_front(&c->in, len);
    } else if (st < 0) {
        report_mismatch(r, "received bytes that are not a valid FIX frame", &wv, c->in.p,
                        c->in.len);
    } else if (c->eof) {
        report_mismatch(r, "the engine closed the connection instead", &wv, c->in.p, c->in.len);
    } else {
        report_mismatch(r, "nothing arrived in time", &wv, c->in.p, c->in.len);
    }
    buf_free(&wv);
    fields_free(&want);
}

static void step_expect_disconnect(struct runner *r, int id)
{
    struct client *c = conn_of(r, id);
    if (!c)
        return;
    int64_t until = mono_ms() + r->timeout_ms;
    while (!c->eof && c->in.len == 0 && mono_ms() < until && !r->failure.len)
        pump(r, 1);
    if (r->failure.len)
        return;
    if (c->in.len) {
        size_t len;
        int st = next_frame(c, &len);
        struct buf v = {0};
        buf_add_visible(&v, c->in.p, st == 1 ? len : c->in.len);
        fail(r, "expected a disconnect, received a message\n    received: %s", v.p);
        buf_free(&v);
        return;
    }
    if (!c->eof) {
        fail(r, "expected a disconnect, the connection is still open");
        return;
    }
    client_close(c);
}

static void step_expect_nothing(struct runner *r)
{
    settle(r);
    for (int i = 1; i <= MAX_CONNS; i++)
        if (r->conns[i].fd >= 0)
            check_nothing_pending(r, &r->conns[i], i);
}

static void step_wait(struct runner *r, const char *arg)
{
    char *end;
    double secs = strtod(arg, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == arg || *end || secs < 0) {
        fail(r, "wait needs a number of seconds, got '%s'", arg);
        return;
    }
    settle(r);
    int rc = fl_engine_advance(r->e, (int64_t)(secs * (double)NS_PER_SEC + 0.5));
    if (rc != FL_OK)
        fail(r, "advancing the clock failed: %s", fl_err_name(rc));
    pump(r, 0);
}

/* ---- one scenario ---- */

static int start_engine(struct runner *r)
{
    char err[512];
    struct fl_engine_config ec = {.manual_clock = 1, .start_time = START_TIME,
                                  .log = on_engine_log, .log_ctx = r};
    int rc = fl_engine_new(&ec, &r->e, err, sizeof err);
    if (rc != FL_OK) {
        fail(r, "engine: %s", err);
        return 0;
    }
    struct fl_engine_session_config sc;
    memset(&sc, 0, sizeof sc);
    sc.name = "conformance";
    sc.listen = "127.0.0.1:0";
    sc.session.role = FL_ROLE_ACCEPTOR;
    sc.session.begin_string = r->suite->begin_string;
    sc.session.sender_comp_id = "ISLD";
    sc.session.target_comp_id = "TW";
    sc.session.default_appl_ver_id = r->suite->appl_ver_id;
    sc.session.heartbeat_interval = 30;
    sc.session.reset_on_logout = 1;
    sc.session.reset_on_disconnect = 1;
    sc.session.dict = r->dict;
    fl_validate_opts_init(&sc.session.validate);
    sc.session.validate.level = FL_VALIDATE_LEVEL_FULL;
    sc.session.validate.default_appl_ver_id = r->suite->appl_ver_id;
    struct fl_engine_hooks hooks = {.ctx = r, .on_message = on_message, .on_event = on_event};
    rc = fl_engine_add_session(r->e, &sc, &hooks, &r->es, err, sizeof err);
    if (rc == FL_OK)
        rc = fl_engine_start(r->e, err, sizeof err);
    if (rc != FL_OK) {
        fail(r, "engine session: %s", err);
        return 0;
    }
    r->port = fl_engine_session_port(r->es);
    return 1;
}

/* Splits "verb[@N] rest"; returns the connection number (1 by default). */
static int split_verb(char *line, char **verb, char **rest)
{
    char *p = line;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    char *after = p;
    while (*after == ' ' || *after == '\t')
        after++;
    *p = '\0';
    *verb = line;
    *rest = after;
    int id = 1;
    char *at = strchr(line, '@');
    if (at) {
        *at = '\0';
        id = atoi(at + 1);
    }
    return id;
}

static void run_step(struct runner *r, char *line)
{
    char *verb, *rest;
    int id = split_verb(line, &verb, &rest);
    if (strcmp(verb, "connect") == 0)
        step_connect(r, id);
    else if (strcmp(verb, "disconnect") == 0)
        step_disconnect(r, id);
    else if (strcmp(verb, "send") == 0)
        step_send(r, id, rest, 0);
    else if (strcmp(verb, "send-raw") == 0)
        step_send(r, id, rest, 1);
    else if (strcmp(verb, "expect") == 0)
        step_expect(r, id, rest);
    else if (strcmp(verb, "expect-disconnect") == 0)
        step_expect_disconnect(r, id);
    else if (strcmp(verb, "expect-nothing") == 0)
        step_expect_nothing(r);
    else if (strcmp(verb, "wait") == 0)
        step_wait(r, rest);
    else
        fail(r, "unknown step '%s'", verb);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    struct buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
        buf_add(&b, tmp, n);
    fclose(fp);
    if (!b.p)
        buf_add(&b, "", 0);
    return b.p;
}

/* Runs one scenario file; returns 1 when it passed. */
static int run_scenario(struct runner *r, const char *path, const char *shown)
{
    r->file = shown;
    r->line = 0;
    r->failure.len = 0;
    r->seen_ids.len = 0;
    for (int i = 0; i <= MAX_CONNS; i++) {
        r->conns[i].fd = -1;
        r->conns[i].eof = 0;
        r->conns[i].in.len = 0;
    }
    char *text = read_file(path);
    if (!text) {
        fail(r, "cannot read: %s", strerror(errno));
    } else if (start_engine(r)) {
        if (r->verbose)
            fprintf(stderr, "  %s (port %d)\n", shown, r->port);
        char *save = NULL;
        int lineno = 0;
        char *p = text;
        while (p && *p && !r->failure.len) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            save = nl ? nl + 1 : NULL;
            lineno++;
            size_t n = strlen(p);
            while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                p[--n] = '\0';
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p && *p != '#') {
                r->line = lineno;
                if (r->verbose)
                    fprintf(stderr, "   %d: %s\n", lineno, p);
                run_step(r, p);
            }
            p = save;
        }
        if (!r->failure.len) {
            r->line = lineno;
            step_expect_nothing(r);
        }
    }
    free(text);
    for (int i = 0; i <= MAX_CONNS; i++)
        client_close(&r->conns[i]);
    fl_engine_free(r->e);
    r->e = NULL;
    r->es = NULL;
    if (r->failure.len) {
        printf("FAIL %s\n", r->failure.p);
        return 0;
    }
    printf("ok   %s\n", shown);
    return 1;
}

/* ---- suites ---- */

static int load_dicts(struct runner *r)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/dictionaries/%s", r->shared_dir, r->suite->dict_file);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("skipped: dictionary %s not found\n", path);
        return SKIP_STATUS;
    }
    if (fl_dict_load_file(path, &r->dict, err, sizeof err) != FL_OK) {
        printf("FAIL cannot load %s: %s\n", path, err);
        return 1;
    }
    r->app_dict = r->dict;
    if (r->suite->app_dict_file) {
        struct fl_dict *app = NULL;
        snprintf(path, sizeof path, "%s/dictionaries/%s", r->shared_dir, r->suite->app_dict_file);
        if (fl_dict_load_file(path, &app, err, sizeof err) != FL_OK) {
            printf("FAIL cannot load %s: %s\n", path, err);
            return 1;
        }
        int rc = fl_dict_add_app(r->dict, r->suite->appl_ver_id, app);
        r->app_dict = app;
        fl_dict_free(app); /* the transport dictionary holds its own reference */
        if (rc != FL_OK) {
            printf("FAIL cannot attach %s: %s\n", path, fl_err_name(rc));
            return 1;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The suite of a path: its directory's name for a file, its own name for a directory. */
static const struct suite *suite_of_path(const char *path, int is_dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    if (!is_dir) {
        char *slash = strrchr(tmp, '/');
        if (!slash)
            return NULL;
        *slash = '\0';
    }
    char *base = strrchr(tmp, '/');
    return suite_for_dir(base ? base + 1 : tmp);
}

static void run_path(struct runner *r, const char *path, int *passed, int *failed, int *skipped)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("FAIL %s: %s\n", path, strerror(errno));
        (*failed)++;
        return;
    }
    int is_dir = S_ISDIR(st.st_mode);
    const struct suite *s = suite_of_path(path, is_dir);
    if (!s) {
        printf("FAIL %s: the directory name must be one of fix40 fix41 fix42 fix43 fix44 fixt11\n",
               path);
        (*failed)++;
        return;
    }
    r->suite = s;
    int rc = load_dicts(r);
    if (rc != 0) {
        if (rc == SKIP_STATUS)
            (*skipped)++;
        else
            (*failed)++;
        fl_dict_free(r->dict);
        r->dict = r->app_dict = NULL;
        return;
    }
    char **names = NULL;
    size_t nnames = 0;
    if (is_dir) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (n < 5 || strcmp(de->d_name + n - 4, ".scn") != 0)
                continue;
            char **nn = realloc(names, (nnames + 1) * sizeof *names);
            if (!nn)
                break;
            names = nn;
            names[nnames++] = strdup(de->d_name);
        }
        if (d)
            closedir(d);
        qsort(names, nnames, sizeof *names, by_name);
    }
    if (!is_dir) {
        char shown[1024];
        const char *slash = strrchr(path, '/');
        snprintf(shown, sizeof shown, "%s/%s", s->dir, slash ? slash + 1 : path);
        if (run_scenario(r, path, shown))
            (*passed)++;
        else
            (*failed)++;
    }
    for (size_t i = 0; i < nnames; i++) {
        char full[2048], shown[1024];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        snprintf(shown, sizeof shown, "%s/%s", s->dir, names[i]);
        if (run_scenario(r, full, shown))
            (*passed)++;
        else
            (*failed)++;
        free(names[i]);
    }
    free(names);
    fl_dict_free(r->dict);
    r->dict = r->app_dict = NULL;
}

int main(int argc, char **argv)
{
    struct runner r;
    memset(&r, 0, sizeof r);
    r.shared_dir = FL_SHARED_DIR;
    r.timeout_ms = 3000;
    const char *env = getenv("FL_CONFORMANCE_TIMEOUT_MS");
    if (env && atoi(env) > 0)
        r.timeout_ms = atoi(env);
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "-v") == 0) {
            r.verbose = 1;
        } else if (strcmp(argv[first], "--shared") == 0 && first + 1 < argc) {
            r.shared_dir = argv[++first];
        } else if (strcmp(argv[first], "--timeout") == 0 && first + 1 < argc) {
            r.timeout_ms = atoi(argv[++first]);
        } else {
            fprintf(stderr, "usage: %s [-v] [--shared DIR] [--timeout MS] PATH...\n", argv[0]);
            return 2;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-v] [--shared DIR] [--timeout MS] PATH...\n", argv[0]);
        return 2;
    }
    for (int i = 0; i <= MAX_CONNS; i++)
        r.conns[i].fd = -1;
    int passed = 0, failed = 0, skipped = 0;
    for (int i = first; i < argc; i++)
        run_path(&r, argv[i], &passed, &failed, &skipped);
    for (int i = 0; i <= MAX_CONNS; i++)
        buf_free(&r.conns[i].in);
    buf_free(&r.seen_ids);
    buf_free(&r.failure);
    printf("%d passed, %d failed\n", passed, failed);
    if (failed)
        return 1;
    return skipped && !passed ? SKIP_STATUS : 0;
}
