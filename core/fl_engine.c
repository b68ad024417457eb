/* fixlua — the engine: event loop, clock, timers, sessions and their stores (see fl_engine.h).
 *
 * All time goes through one timer list on the engine's clock (real or manual), so script
 * timers, reconnects, connect timeouts and the session tick behave the same under a test's
 * manual clock as in production; with the real clock one libevent timer is armed for the
 * earliest deadline. Sockets live in fl_engine_conn.c, logs in fl_engine_log.c. */
#include "fl_engine_int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#define NS_PER_SEC INT64_C(1000000000)

static int64_t real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t fl_engine_now(const struct fl_engine *e)
{
    return e->cfg.manual_clock ? e->manual_now : real_now();
}

void fl_engine_log(struct fl_engine *e, const char *level, const char *fmt, ...)
{
    if (!e->cfg.log)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    e->cfg.log(e->cfg.log_ctx, level, text);
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, fmt, a ? a : "", b ? b : "");
}

/* ---- timers ---- */

static void run_due_timers(struct fl_engine *e, int64_t now)
{
    e->in_timers++;
    for (;;) {
        const struct fl_timer *top = fl_timer_heap_top(&e->timers);
        if (!top || top->deadline > now)
            break;
        struct fl_timer t = *top;
        if (t.every > 0) {
            /* Periodic timers keep their cadence without drifting or bursting after a stall. */
            int64_t next = t.deadline + t.every;
            fl_timer_heap_reschedule(&e->timers, t.id, next > now ? next : now + t.every);
        } else {
            fl_timer_heap_remove(&e->timers, t.id, NULL);
        }
        t.fn(t.ctx, t.id);
        if (e->stopped)
            break;
    }
    e->in_timers--;
}

static void on_timer_event(evutil_socket_t fd, short what, void *ctx)
{
    struct fl_engine *e = ctx;
    (void)fd;
    (void)what;
    run_due_timers(e, real_now());
    fl_engine_arm_timers(e);
}

void fl_engine_arm_timers(struct fl_engine *e)
{
    if (e->cfg.manual_clock || e->in_timers || !e->timer_ev)
        return;
    const struct fl_timer *top = fl_timer_heap_top(&e->timers);
    if (!top) {
        evtimer_del(e->timer_ev);
        return;
    }
    int64_t delay = top->deadline - real_now();
    if (delay < 0)
        delay = 0;
    struct timeval tv = {.tv_sec = (time_t)(delay / NS_PER_SEC),
                         .tv_usec = (suseconds_t)(delay % NS_PER_SEC / 1000)};
    evtimer_add(e->timer_ev, &tv);
}

uint64_t fl_engine_timer_add(struct fl_engine *e, int64_t after_ns, int64_t every_ns,
                             fl_timer_fn fn, void *ctx)
{
    if (!fn)
        return 0;
    struct fl_timer t = {.id = e->next_timer_id + 1,
                         .deadline = fl_engine_now(e) + (after_ns > 0 ? after_ns : 0),
                         .every = every_ns > 0 ? every_ns : 0, .fn = fn, .ctx = ctx};
    if (fl_timer_heap_push(&e->timers, &t) != FL_OK)
        return 0;
    e->next_timer_id = t.id;
    fl_engine_arm_timers(e);
    return t.id;
}

void fl_engine_timer_cancel(struct fl_engine *e, uint64_t id)
{
    if (id && fl_timer_heap_remove(&e->timers, id, NULL))
        fl_engine_arm_timers(e);
}

int fl_engine_advance(struct fl_engine *e, int64_t ns)
{
    if (!e->cfg.manual_clock)
        return FL_ESTATE;
    int64_t target = e->manual_now + (ns > 0 ? ns : 0);
    /* Step through deadlines in order so each timer sees its own time. */
    for (;;) {
        int64_t next = target;
        const struct fl_timer *top = fl_timer_heap_top(&e->timers);
        if (top && top->deadline < next)
            next = top->deadline;
        if (next > e->manual_now)
            e->manual_now = next;
        run_due_timers(e, e->manual_now);
        if (e->manual_now >= target || e->stopped)
            break;
    }
    return FL_OK;
}

/* ---- session io: the state machine's callbacks ---- */

static size_t io_write(struct fl_engine_session *es, const char *p, size_t n, int at_once)
{
    if (!es->conn)
        return 0;
    size_t queued = fl_conn_write(es->conn, p, n, at_once);
    if (!es->above_watermark && queued > es->cfg.output_high_watermark) {
        es->above_watermark = 1;
        if (es->hooks.on_backpressure)
            es->hooks.on_backpressure(es->hooks.ctx, es, 1);
    }
    return queued;
}

static size_t io_send(void *ctx, const char *p, size_t n)
{
    struct fl_engine_session *es = ctx;
    if (es->hooks.on_outbound)
        es->hooks.on_outbound(es->hooks.ctx, es, p, n);
    fl_engine_log_message(es, 0, p, n);
    return io_write(es, p, n, 0);
}

/* A committed batch in one write. With an on_outbound hook each message goes alone: the hook
 * may close the connection, and the messages before it must still have been written. */
static size_t io_send_many(void *ctx, const char *p, size_t n, const size_t *lens, size_t count)
{
    struct fl_engine_session *es = ctx;
    if (es->hooks.on_outbound) {
        size_t queued = 0;
        for (size_t i = 0, off = 0; i < count; off += lens[i++])
            queued = io_send(es, p + off, lens[i]);
        return queued;
    }
    if (es->msg_log)
        for (size_t i = 0, off = 0; i < count; off += lens[i++])
            fl_engine_log_message(es, 0, p + off, lens[i]);
    /* A batch of several is a write of its own; a lone message waits for the end of the loop
     * iteration, where the sends a timer or the application makes one by one join it. */
    return io_write(es, p, n, count > 1);
}

static void io_disconnect(void *ctx, const char *why)
{
    struct fl_engine_session *es = ctx;
    if (es->conn)
        fl_conn_close(es->conn, 1, why);
}

static const char *event_level(enum fl_event_type t)
{
    switch (t) {
    case FL_EV_ERROR:
    case FL_EV_TRANSMISSION_FAIL:
        return "ERROR";
    case FL_EV_GARBLED:
    case FL_EV_REJECT_SENT:
    case FL_EV_REJECT_RECEIVED:
    case FL_EV_LOGON_REJECTED:
    case FL_EV_LOGON_TIMEOUT:
    case FL_EV_LOGOUT_TIMEOUT:
    case FL_EV_LATENCY:
    case FL_EV_QUEUE_THRESHOLD:
        return "WARN";
    default:
        return "INFO";
    }
}

static void io_event(void *ctx, const struct fl_session_event *ev)
{
    struct fl_engine_session *es = ctx;
    char text[512];
    if (ev->type == FL_EV_STATE)
        snprintf(text, sizeof text, "state %s -> %s", fl_session_state_name(ev->from),
                 fl_session_state_name(ev->to));
    else
        snprintf(text, sizeof text, "%s: %s (%llu %llu %lld)", fl_event_name(ev->type), ev->text,
                 (unsigned long long)ev->begin, (unsigned long long)ev->end, (long long)ev->value);
    fl_engine_log_event(es, event_level(ev->type), text);
    if (ev->type == FL_EV_LOGON) { /* a successful attempt: the count of failed ones restarts */
        es->logged_on = 1;
        es->ever_logged_on = 1;
        es->failed_tries = 0;
    }
    if (es->hooks.on_event)
        es->hooks.on_event(es->hooks.ctx, es, ev);
}

static void io_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct fl_engine_session *es = ctx;
    fl_engine_log_message(es, 1, m->buf, m->len);
    if (es->hooks.on_message)
        es->hooks.on_message(es->hooks.ctx, es, m, is_admin);
}

static enum fl_logon_decision io_validate_logon(void *ctx, const struct fl_msg *logon, char *reason,
                                                size_t cap)
{
    struct fl_engine_session *es = ctx;
    if (!es->hooks.validate_logon)
        return FL_LOGON_ACCEPT;
    return es->hooks.validate_logon(es->hooks.ctx, es, logon, reason, cap);
}

static void io_prepare_logon(void *ctx, struct fl_builder *b)
{
    struct fl_engine_session *es = ctx;
    if (es->hooks.prepare_logon)
        es->hooks.prepare_logon(es->hooks.ctx, es, b);
}

static int io_should_replay(void *ctx, const struct fl_msg *stored)
{
    struct fl_engine_session *es = ctx;
    return es->hooks.should_replay ? es->hooks.should_replay(es->hooks.ctx, es, stored) : 1;
}

static enum fl_resend_decision io_resend_request(void *ctx, uint64_t begin, uint64_t end)
{
    struct fl_engine_session *es = ctx;
    return es->hooks.resend_request ? es->hooks.resend_request(es->hooks.ctx, es, begin, end)
                                    : FL_RESEND_SERVE;
}

/* ---- sessions ---- */

static char *dup_str(char **w, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*w, s, n);
    char *r = *w;
    *w += n;
    return r;
}

static int copy_session_config(struct fl_engine_session *es, const struct fl_engine_session_config *cfg)
{
    const char *strs[] = {cfg->name, cfg->listen, cfg->store_dir, cfg->log_dir,
                          cfg->session.begin_string, cfg->session.sender_comp_id,
                          cfg->session.target_comp_id, cfg->session.default_appl_ver_id,
                          cfg->tls.cert, cfg->tls.key, cfg->tls.ca, cfg->tls.server_name,
                          cfg->tls.ciphers};
    size_t total = 0;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        total += strs[i] ? strlen(strs[i]) + 1 : 0;
    for (size_t i = 0; i < cfg->nconnect; i++)
        total += strlen(cfg->connect[i]) + 1;
    es->strings = malloc(total ? total : 1);
    es->connect_list = calloc(cfg->nconnect ? cfg->nconnect : 1, sizeof *es->connect_list);
    if (!es->strings || !es->connect_list)
        return FL_ENOMEM;
    es->cfg = *cfg;
    char *w = es->strings;
    es->cfg.name = dup_str(&w, cfg->name);
    es->cfg.listen = cfg->listen ? dup_str(&w, cfg->listen) : NULL;
    es->cfg.store_dir = cfg->store_dir ? dup_str(&w, cfg->store_dir) : NULL;
    es->cfg.log_dir = cfg->log_dir ? dup_str(&w, cfg->log_dir) : NULL;
    es->cfg.session.begin_string = dup_str(&w, cfg->session.begin_string);
    es->cfg.session.sender_comp_id = dup_str(&w, cfg->session.sender_comp_id);
    es->cfg.session.target_comp_id = dup_str(&w, cfg->session.target_comp_id);
    es->cfg.session.default_appl_ver_id =
        cfg->session.default_appl_ver_id ? dup_str(&w, cfg->session.default_appl_ver_id) : NULL;
    const char **tls_strs[] = {&es->cfg.tls.cert, &es->cfg.tls.key, &es->cfg.tls.ca,
                               &es->cfg.tls.server_name, &es->cfg.tls.ciphers};
    for (size_t i = 0; i < sizeof tls_strs / sizeof tls_strs[0]; i++)
        if (*tls_strs[i])
            *tls_strs[i] = dup_str(&w, *tls_strs[i]);
    for (size_t i = 0; i < cfg->nconnect; i++)
        es->connect_list[i] = dup_str(&w, cfg->connect[i]);
    es->cfg.connect = es->connect_list;
    if (!es->cfg.reconnect_interval)
        es->cfg.reconnect_interval = 5;
    if (!es->cfg.connect_timeout)
        es->cfg.connect_timeout = 10;
    if (!es->cfg.max_output_bytes)
        es->cfg.max_output_bytes = 64u << 20;
    if (!es->cfg.output_high_watermark)
        es->cfg.output_high_watermark = 4u << 20;
    es->cfg.session.output_high_watermark = es->cfg.output_high_watermark;
    if (es->cfg.log_dir && *es->cfg.log_dir) {
        if (!cfg->log_messages)
            es->cfg.log_messages = 1;
        if (!cfg->log_events)
            es->cfg.log_events = 1;
    }
    if (es->cfg.log_messages < 0)
        es->cfg.log_messages = 0;
    if (es->cfg.log_events < 0)
        es->cfg.log_events = 0;
    return FL_OK;
}

static void session_free(struct fl_engine_session *es)
{
    if (!es)
        return;
    if (es->hooks.on_free)
        es->hooks.on_free(es->hooks.ctx, es);
    if (es->conn) {
        es->conn->es = NULL;
        fl_conn_free(es->conn);
    }
    fl_engine_timer_cancel(es->e, es->reconnect_timer);
    fl_engine_timer_cancel(es->e, es->reset_timer);
    fl_engine_timer_cancel(es->e, es->remove_timer);
    fl_session_free(es->fsm);
    fl_store_close(es->store);
    fl_tls_ctx_free(es->tls_ctx);
    fl_engine_log_close(es);
    free(es->connect_list);
    free(es->strings);
    free(es);
}

static struct listener *listener_for(struct fl_engine *e, const char *addr)
{
    for (size_t i = 0; i < e->nlisteners; i++)
        if (strcmp(e->listeners[i]->addr, addr) == 0)
            return e->listeners[i];
    if (e->nlisteners == e->listeners_cap) {
        size_t ncap = e->listeners_cap ? e->listeners_cap * 2 : 4;
        struct listener **nl = realloc(e->listeners, ncap * sizeof *nl);
        if (!nl)
            return NULL;
        e->listeners = nl;
        e->listeners_cap = ncap;
    }
    struct listener *l = calloc(1, sizeof *l);
    if (!l || !(l->addr = strdup(addr))) {
        free(l);
        return NULL;
    }
    l->e = e;
    e->listeners[e->nlisteners++] = l;
    return l;
}

static int valid_name(const char *n)
{
    if (!n || !*n)
        return 0;
    for (const char *c = n; *c; c++)
        if (*c == '/' || *c == '\\' || (unsigned char)*c < 32)
            return 0;
    return strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The server side of two TLS settings is the same (the initiator's server_name aside). */
static int same_tls(const struct fl_tls_config *a, const struct fl_tls_config *b)
{
    return same_str(a->cert, b->cert) && same_str(a->key, b->key) && same_str(a->ca, b->ca) &&
           same_str(a->ciphers, b->ciphers) && (a->verify_peer > 0) == (b->verify_peer > 0);
}

static int add_session(struct fl_engine *e, const struct fl_engine_session_config *cfg,
                       const struct fl_engine_hooks *hooks, int dynamic,
                       struct fl_engine_session **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (!valid_name(cfg->name)) {
        set_err(errbuf, errlen, "session name '%s' is empty or contains '/'", cfg->name, NULL);
        return FL_EINVAL;
    }
    if (fl_engine_find_session(e, cfg->name)) {
        set_err(errbuf, errlen, "session name '%s' is used twice", cfg->name, NULL);
        return FL_EINVAL;
    }
    if (cfg->session.role == FL_ROLE_ACCEPTOR && (!cfg->listen || !*cfg->listen) && !dynamic) {
        set_err(errbuf, errlen, "session '%s': an acceptor needs 'listen'", cfg->name, NULL);
        return FL_EINVAL;
    }
    if (cfg->session.role == FL_ROLE_INITIATOR && cfg->nconnect == 0) {
        set_err(errbuf, errlen, "session '%s': an initiator needs 'connect'", cfg->name, NULL);
        return FL_EINVAL;
    }
    struct fl_engine_session *es = calloc(1, sizeof *es);
    if (!es)
        return FL_ENOMEM;
    es->e = e;
    es->dynamic = dynamic;
    if (hooks)
        es->hooks = *hooks;
    int rc = copy_session_config(es, cfg);
    if (rc != FL_OK)
        goto fail;
    es->is_template = strcmp(es->cfg.session.target_comp_id, "*") == 0;
    char detail[512] = "";
    if (es->cfg.store_dir && *es->cfg.store_dir &&
        (rc = fl_make_dirs(es->cfg.store_dir, detail, sizeof detail)) != FL_OK) {
        set_err(errbuf, errlen, "session '%s': store: %s", es->cfg.name, detail);
        goto fail;
    }
    if (es->cfg.store_dir && *es->cfg.store_dir) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.journal", es->cfg.store_dir, es->cfg.name);
        es->journal_new = stat(path, &st) != 0;
        rc = fl_store_file_open(es->cfg.store_dir, es->cfg.name, es->cfg.store_sync,
                                fl_engine_now(e), &es->store, detail, sizeof detail);
    } else {
        rc = fl_store_mem_new(fl_engine_now(e), &es->store);
    }
    if (rc != FL_OK) {
        set_err(errbuf, errlen, "session '%s': store: %s", es->cfg.name, detail);
        goto fail;
    }
    /* What recovery repaired (a cut tail...) goes to the event log, once it is open, and to
     * the engine's log: the operator must hear of it. */
    char repaired[sizeof detail];
    memcpy(repaired, detail, sizeof repaired);
    rc = fl_engine_log_open(es, detail, sizeof detail);
    if (rc != FL_OK) {
        set_err(errbuf, errlen, "session '%s': %s", es->cfg.name, detail);
        goto fail;
    }
    if (repaired[0]) {
        fl_engine_log_event(es, "WARN", repaired);
        fl_engine_log(e, "WARN", "session '%s': store: %s", es->cfg.name, repaired);
    }
    if (!es->is_template) {
        struct fl_session_io io = {.ctx = es, .send = io_send, .send_many = io_send_many,
                                   .disconnect = io_disconnect, .event = io_event,
                                   .deliver = io_deliver,
                                   .validate_logon = io_validate_logon,
                                   .prepare_logon = io_prepare_logon,
                                   .should_replay = io_should_replay,
                                   .resend_request = io_resend_request};
        rc = fl_session_new(&es->cfg.session, es->store, &io, &es->fsm, detail, sizeof detail);
        if (rc != FL_OK) {
            set_err(errbuf, errlen, "session '%s': %s", es->cfg.name, detail);
            goto fail;
        }
    }
    if (es->cfg.session.role == FL_ROLE_ACCEPTOR && es->cfg.listen && *es->cfg.listen) {
        es->listener = listener_for(e, es->cfg.listen);
        if (!es->listener) {
            rc = FL_ENOMEM;
            goto fail;
        }
        struct listener *l = es->listener;
        int want = es->cfg.tls.enabled ? 1 : -1;
        if (l->tls && l->tls != want) {
            set_err(errbuf, errlen, "session '%s': every acceptor on %s must agree on TLS",
                    es->cfg.name, es->cfg.listen);
            es->listener = NULL;
            rc = FL_EINVAL;
            goto fail;
        }
        if (want > 0 && l->tls_ctx && !same_tls(l->tls_cfg, &es->cfg.tls)) {
            /* One listener has one TLS context: a second set of settings would be ignored
             * (a session wanting client certificates would take clients without). */
            set_err(errbuf, errlen, "session '%s': every acceptor on %s must have the same "
                    "tls settings", es->cfg.name, es->cfg.listen);
            es->listener = NULL;
            rc = FL_EINVAL;
            goto fail;
        }
        if (want > 0 && !l->tls_ctx) {
            rc = fl_tls_ctx_new(&es->cfg.tls, 1, &l->tls_ctx, detail, sizeof detail);
            if (rc != FL_OK) {
                set_err(errbuf, errlen, "session '%s': tls: %s", es->cfg.name, detail);
                es->listener = NULL;
                goto fail;
            }
            l->tls_cfg = &es->cfg.tls;
        }
        l->tls = want;
    }
    if (es->cfg.session.role == FL_ROLE_INITIATOR && es->cfg.tls.enabled) {
        rc = fl_tls_ctx_new(&es->cfg.tls, 0, &es->tls_ctx, detail, sizeof detail);
        if (rc != FL_OK) {
            set_err(errbuf, errlen, "session '%s': tls: %s", es->cfg.name, detail);
            goto fail;
        }
    }
    if (e->nsessions == e->sessions_cap) {
        size_t ncap = e->sessions_cap ? e->sessions_cap * 2 : 8;
        struct fl_engine_session **ns = realloc(e->sessions, ncap * sizeof *ns);
        if (!ns) {
            rc = FL_ENOMEM;
            goto fail;
        }
        e->sessions = ns;
        e->sessions_cap = ncap;
    }
    e->sessions[e->nsessions++] = es;
    *out = es;
    return FL_OK;
fail:
    /* A listener whose TLS context this session set up must not keep pointing into it. */
    if (es->listener && es->listener->tls_cfg == &es->cfg.tls) {
        fl_tls_ctx_free(es->listener->tls_ctx);
        es->listener->tls_ctx = NULL;
        es->listener->tls_cfg = NULL;
        es->listener->tls = 0;
    }
    es->hooks.on_free = NULL;
    session_free(es);
    return rc;
}

int fl_engine_add_session(struct fl_engine *e, const struct fl_engine_session_config *cfg,
                          const struct fl_engine_hooks *hooks, struct fl_engine_session **out,
                          char *errbuf, size_t errlen)
{
    int rc = add_session(e, cfg, hooks, 0, out, errbuf, errlen);
    if (rc == FL_OK && e->started) {
        struct fl_engine_session *es = *out;
        if (es->listener && !es->listener->evl)
            rc = fl_conn_listen(e, es->listener, errbuf, errlen);
        if (rc == FL_OK && es->cfg.session.role == FL_ROLE_INITIATOR)
            rc = fl_conn_connect(es);
    }
    return rc;
}

struct fl_engine_session *fl_engine_route_logon(struct fl_engine *e, struct listener *l,
                                                const char *sender, size_t sn, const char *target,
                                                size_t tn)
{
    struct fl_engine_session *tmpl = NULL;
    for (size_t i = 0; i < e->nsessions; i++) {
        struct fl_engine_session *es = e->sessions[i];
        if (es->listener != l || es->cfg.session.role != FL_ROLE_ACCEPTOR)
            continue;
        const char *s = es->cfg.session.sender_comp_id, *t = es->cfg.session.target_comp_id;
        if (strlen(s) != sn || memcmp(s, sender, sn) != 0)
            continue;
        if (es->out_of_window)
            continue; /* outside its schedule a session takes no logon */
        if (es->is_template)
            tmpl = es;
        else if (strlen(t) == tn && memcmp(t, target, tn) == 0)
            return es;
    }
    if (!tmpl || tn == 0 || tn > 64 || memchr(target, '/', tn))
        return NULL;
    /* A Logon from a CompID not configured: a session made from the template decides it. */
    char name[256], tcomp[65];
    snprintf(tcomp, sizeof tcomp, "%.*s", (int)tn, target);
    snprintf(name, sizeof name, "%s.%s", tmpl->cfg.name, tcomp);
    struct fl_engine_session_config cfg = tmpl->cfg;
    cfg.name = name;
    cfg.session.target_comp_id = tcomp;
    cfg.listen = tmpl->cfg.listen;
    struct fl_engine_session *created = NULL;
    char err[256];
    if (add_session(e, &cfg, &tmpl->hooks, 1, &created, err, sizeof err) != FL_OK) {
        fl_engine_log_event(tmpl, "ERROR", err);
        return NULL;
    }
    created->listener = l;
    if (tmpl->hooks.on_session_created)
        tmpl->hooks.on_session_created(tmpl->hooks.ctx, tmpl, created);
    return created;
}

/* ---- sessions made from a template, refused ---- */

static void remove_refused(void *ctx, uint64_t id)
{
    struct fl_engine_session *es = ctx;
    struct fl_engine *e = es->e;
    (void)id;
    es->remove_timer = 0;
    if (es->conn || es->ever_logged_on || e->shutting_down)
        return; /* a new connection came for it meanwhile */
    for (size_t i = 0; i < e->nsessions; i++)
        if (e->sessions[i] == es) {
            memmove(&e->sessions[i], &e->sessions[i + 1],
                    (e->nsessions - i - 1) * sizeof *e->sessions);
            e->nsessions--;
            break;
        }
    fl_engine_log(e, "INFO", "session %s removed: no logon was accepted on it", es->cfg.name);
    char journal[1024] = "";
    if (es->journal_new && es->cfg.store_dir && *es->cfg.store_dir)
        snprintf(journal, sizeof journal, "%s/%s.journal", es->cfg.store_dir, es->cfg.name);
    fl_engine_log_close(es);
    fl_engine_log_remove_new(es);
    session_free(es);
    if (journal[0])
        unlink(journal);
}

void fl_engine_session_forget_if_refused(struct fl_engine_session *es)
{
    if (es->dynamic && !es->ever_logged_on && !es->remove_timer && !es->e->shutting_down)
        es->remove_timer = fl_engine_timer_add(es->e, 0, 0, remove_refused, es);
}

/* ---- reconnect ---- */

static void reconnect_timer(void *ctx, uint64_t id)
{
    struct fl_engine_session *es = ctx;
    (void)id;
    es->reconnect_timer = 0;
    if (!es->e->shutting_down && !es->conn)
        (void)fl_conn_connect(es);
}

void fl_engine_session_schedule_reconnect(struct fl_engine_session *es)
{
    if (es->cfg.session.role != FL_ROLE_INITIATOR || es->e->shutting_down || es->conn ||
        es->reconnect_timer || es->out_of_window)
        return;
    if (es->cfg.max_connect_tries > 0 && es->failed_tries >= es->cfg.max_connect_tries) {
        if (!es->gave_up) {
            es->gave_up = 1;
            fl_engine_log_event(es, "ERROR", "giving up: max_connect_tries reached");
        }
        return;
    }
    es->reconnect_timer = fl_engine_timer_add(es->e, (int64_t)es->cfg.reconnect_interval * NS_PER_SEC,
                                              0, reconnect_timer, es);
}

int fl_engine_session_connect(struct fl_engine_session *es)
{
    if (es->cfg.session.role != FL_ROLE_INITIATOR)
        return FL_ESTATE;
    es->gave_up = 0;
    es->failed_tries = 0;
    fl_engine_timer_cancel(es->e, es->reconnect_timer);
    es->reconnect_timer = 0;
    return fl_conn_connect(es);
}

/* ---- engine lifecycle ---- */

static void tick(void *ctx, uint64_t id)
{
    struct fl_engine *e = ctx;
    (void)id;
    int64_t now = fl_engine_now(e);
    for (size_t i = 0; i < e->nsessions; i++) {
        struct fl_engine_session *es = e->sessions[i];
        if (es->fsm && es->conn)
            fl_session_tick(es->fsm, now);
        /* Group commit for sync = batch: what was written since the last tick becomes durable. */
        if (fl_store_flush(es->store) != FL_OK && !es->store_failed) {
            es->store_failed = 1;
            fl_engine_log_event(es, "ERROR", es->store->last_error);
        }
        fl_engine_log_flush(es);
    }
}

int fl_engine_new(const struct fl_engine_config *cfg, struct fl_engine **out, char *errbuf,
                  size_t errlen)
{
    *out = NULL;
    /* A peer that closes while we write must not kill the process with SIGPIPE, nor a file
     * size limit (RLIMIT_FSIZE) with SIGXFSZ: writes report EPIPE and EFBIG instead, and the
     * journal's commit fails cleanly. Only a default disposition is changed; an embedder's own
     * handler stays. */
    static const int quiet_signals[] = {SIGPIPE, SIGXFSZ};
    for (size_t i = 0; i < sizeof quiet_signals / sizeof quiet_signals[0]; i++) {
        struct sigaction sa;
        if (sigaction(quiet_signals[i], NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
            sa.sa_handler = SIG_IGN;
            sigemptyset(&sa.sa_mask);
            sa.sa_flags = 0;
            sigaction(quiet_signals[i], &sa, NULL);
        }
    }
    struct fl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return FL_ENOMEM;
    if (cfg)
        e->cfg = *cfg;
    if (e->cfg.tick_ms <= 0)
        e->cfg.tick_ms = 200;
    e->manual_now = e->cfg.start_time ? e->cfg.start_time : real_now();
    struct event_config *ec = event_config_new();
    if (ec) {
        /* One thread owns the loop: no locks (memcached, tmux). */
        event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
        e->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (!e->base) {
        set_err(errbuf, errlen, "cannot create the event loop%s%s", NULL, NULL);
        free(e);
        return FL_ENOMEM;
    }
    e->timer_ev = evtimer_new(e->base, on_timer_event, e);
    e->tick_timer = fl_engine_timer_add(e, (int64_t)e->cfg.tick_ms * 1000000,
                                        (int64_t)e->cfg.tick_ms * 1000000, tick, e);
    if (!e->timer_ev || !e->tick_timer) {
        fl_engine_free(e);
        return FL_ENOMEM;
    }
    *out = e;
    return FL_OK;
}

void fl_engine_free(struct fl_engine *e)
{
    if (!e)
        return;
    for (size_t i = e->nsessions; i-- > 0;)
        session_free(e->sessions[i]);
    while (e->conns)
        fl_conn_free(e->conns);
    for (size_t i = 0; i < e->nlisteners; i++) {
        if (e->listeners[i]->evl)
            evconnlistener_free(e->listeners[i]->evl);
        fl_tls_ctx_free(e->listeners[i]->tls_ctx);
        free(e->listeners[i]->addr);
        free(e->listeners[i]);
    }
    if (e->sig_int)
        event_free(e->sig_int);
    if (e->sig_term)
        event_free(e->sig_term);
    if (e->timer_ev)
        event_free(e->timer_ev);
    if (e->base)
        event_base_free(e->base);
    free(e->listeners);
    free(e->sessions);
    fl_timer_heap_release(&e->timers);
    free(e);
}

int fl_engine_start(struct fl_engine *e, char *errbuf, size_t errlen)
{
    if (e->started)
        return FL_OK;
    for (size_t i = 0; i < e->nlisteners; i++) {
        if (e->listeners[i]->evl)
            continue;
        int rc = fl_conn_listen(e, e->listeners[i], errbuf, errlen);
        if (rc != FL_OK)
            return rc;
    }
    e->started = 1;
    for (size_t i = 0; i < e->nsessions; i++)
        if (e->sessions[i]->cfg.session.role == FL_ROLE_INITIATOR)
            (void)fl_conn_connect(e->sessions[i]);
    return FL_OK;
}

int fl_engine_run(struct fl_engine *e)
{
    while (!e->stopped) {
        if (event_base_loop(e->base, EVLOOP_ONCE) < 0)
            return FL_EIO;
    }
    return FL_OK;
}

int fl_engine_run_once(struct fl_engine *e, int block)
{
    if (e->stopped)
        return FL_ECLOSED;
    if (event_base_loop(e->base, block ? EVLOOP_ONCE : EVLOOP_NONBLOCK) < 0)
        return FL_EIO;
    /* Under a manual clock, timers already due (a zero delay) run as they would for real. */
    if (e->cfg.manual_clock)
        run_due_timers(e, e->manual_now);
    return e->stopped ? FL_ECLOSED : FL_OK;
}

void fl_engine_stop(struct fl_engine *e)
{
    e->stopped = 1;
    event_base_loopbreak(e->base);
}

int fl_engine_stopped(const struct fl_engine *e)
{
    return e->stopped;
}

static void shutdown_grace_over(void *ctx, uint64_t id)
{
    struct fl_engine *e = ctx;
    (void)id;
    e->shutdown_timer = 0;
    fl_engine_stop(e);
}

void fl_engine_check_shutdown_done(struct fl_engine *e)
{
    if (!e->shutting_down || e->stopped)
        return;
    for (size_t i = 0; i < e->nsessions; i++)
        if (e->sessions[i]->conn)
            return;
    /* ... nor a connection still writing its last bytes or waiting for the peer to close
     * (the grace period bounds both). */
    for (struct conn *c = e->conns; c; c = c->next)
        if (c->closing)
            return;
    fl_engine_stop(e);
}

void fl_engine_shutdown(struct fl_engine *e, int grace_ms)
{
    if (e->shutting_down)
        return;
    e->shutting_down = 1;
    for (size_t i = 0; i < e->nlisteners; i++)
        if (e->listeners[i]->evl)
            evconnlistener_disable(e->listeners[i]->evl);
    for (size_t i = 0; i < e->nsessions; i++) {
        struct fl_engine_session *es = e->sessions[i];
        fl_engine_timer_cancel(e, es->reconnect_timer);
        es->reconnect_timer = 0;
        if (!es->conn)
            continue;
        enum fl_session_state st = es->fsm ? fl_session_state(es->fsm) : FL_STATE_DISCONNECTED;
        if (st == FL_STATE_ACTIVE || st == FL_STATE_RESENDING)
            fl_session_logout(es->fsm, "shutting down", fl_engine_now(e));
        else if (st != FL_STATE_LOGOUT_SENT)
            fl_conn_close(es->conn, 1, "shutting down");
    }
    /* Unrouted connections have nobody to log out. */
    for (struct conn *c = e->conns; c; c = c->next)
        if (!c->es && !c->closing)
            fl_conn_close(c, 0, "shutting down");
    e->shutdown_timer = fl_engine_timer_add(e, (int64_t)(grace_ms > 0 ? grace_ms : 0) * 1000000, 0,
                                            shutdown_grace_over, e);
    fl_engine_check_shutdown_done(e);
}

static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
    struct fl_engine *e = ctx;
    (void)what;
    (void)sig;
    if (e->shutting_down)
        fl_engine_stop(e); /* a second signal: stop now */
    else
        fl_engine_shutdown(e, e->sig_grace_ms);
}

int fl_engine_handle_signals(struct fl_engine *e, int grace_ms)
{
    e->sig_grace_ms = grace_ms;
    if (!e->sig_int)
        e->sig_int = evsignal_new(e->base, SIGINT, on_signal, e);
    if (!e->sig_term)
        e->sig_term = evsignal_new(e->base, SIGTERM, on_signal, e);
    if (!e->sig_int || !e->sig_term || evsignal_add(e->sig_int, NULL) != 0 ||
        evsignal_add(e->sig_term, NULL) != 0)
        return FL_EIO;
    return FL_OK;
}

/* ---- session accessors and actions ---- */

struct fl_engine_session *fl_engine_find_session(struct fl_engine *e, const char *name)
{
    for (size_t i = 0; i < e->nsessions; i++)
        if (strcmp(e->sessions[i]->cfg.name, name) == 0)
            return e->sessions[i];
    return NULL;
}

size_t fl_engine_session_count(const struct fl_engine *e) { return e->nsessions; }
struct fl_engine_session *fl_engine_session_at(struct fl_engine *e, size_t i)
{
    return i < e->nsessions ? e->sessions[i] : NULL;
}
struct fl_engine *fl_engine_session_engine(struct fl_engine_session *es) { return es->e; }
struct fl_session *fl_engine_session_fsm(struct fl_engine_session *es) { return es->fsm; }
const char *fl_engine_session_name(const struct fl_engine_session *es) { return es->cfg.name; }
const struct fl_engine_session_config *fl_engine_session_config(const struct fl_engine_session *es)
{
    return &es->cfg;
}
void fl_engine_session_set_hooks(struct fl_engine_session *es, const struct fl_engine_hooks *hooks)
{
    if (hooks)
        es->hooks = *hooks;
    else
        memset(&es->hooks, 0, sizeof es->hooks);
}
int fl_engine_session_port(const struct fl_engine_session *es)
{
    return es->listener ? es->listener->port : 0;
}
int fl_engine_session_connected(const struct fl_engine_session *es)
{
    return es->conn && !es->conn->connecting && !es->conn->closing;
}
size_t fl_engine_session_output_queued(const struct fl_engine_session *es)
{
    return es->conn ? fl_conn_output_len(es->conn) : 0;
}

int fl_engine_session_batching(const struct fl_engine_session *es)
{
    return es->fsm && fl_session_batching(es->fsm);
}

int fl_engine_session_send(struct fl_engine_session *es, const char *msg_type, size_t type_len,
                           const char *extra_header, size_t extra_len, const char *body,
                           size_t body_len)
{
    if (!es->fsm)
        return FL_ESTATE;
    /* What is written but not sent, and what this batch (a callback's sends) staged so far:
     * a callback sending in a loop meets the limit too. */
    if (es->conn &&
        fl_conn_output_len(es->conn) + fl_session_staged_bytes(es->fsm) > es->cfg.max_output_bytes)
        return FL_EAGAIN;
    return fl_session_send(es->fsm, msg_type, type_len, extra_header, extra_len, body, body_len,
                           fl_engine_now(es->e));
}

void fl_engine_session_logout(struct fl_engine_session *es, const char *text)
{
    if (es->fsm)
        fl_session_logout(es->fsm, text, fl_engine_now(es->e));
}

void fl_engine_session_disconnect(struct fl_engine_session *es, const char *why)
{
    if (es->fsm && fl_session_state(es->fsm) != FL_STATE_DISCONNECTED)
        fl_session_disconnect(es->fsm, why, fl_engine_now(es->e));
    else if (es->conn)
        fl_conn_close(es->conn, 1, why);
}

void fl_engine_session_reset_timer(void *ctx, uint64_t id)
{
    struct fl_engine_session *es = ctx;
    (void)id;
    es->reset_timer = 0;
    if (fl_session_reset(es->fsm, fl_engine_now(es->e)) != FL_OK)
        fl_engine_log_event(es, "ERROR", "schedule end: sequence reset failed");
}

void fl_engine_session_schedule_event(struct fl_engine_session *es, int start)
{
    fl_engine_log_event(es, "INFO", start ? "schedule: session window opens"
                                          : "schedule: session window closes");
    if (es->hooks.on_schedule && !es->hooks.on_schedule(es->hooks.ctx, es, start))
        return;
    es->out_of_window = !start;
    if (!es->fsm)
        return;
    if (start) {
        if (es->cfg.session.role == FL_ROLE_INITIATOR && !es->conn &&
            fl_engine_session_connect(es) != FL_OK)
            fl_engine_log_event(es, "ERROR", "schedule start: cannot connect");
        return;
    }
    /* End of the window: log out, and start the next window from sequence number 1. */
    fl_engine_timer_cancel(es->e, es->reconnect_timer);
    es->reconnect_timer = 0;
    if (es->conn) {
        es->reset_when_disconnected = 1;
        enum fl_session_state st = fl_session_state(es->fsm);
        if (st == FL_STATE_ACTIVE || st == FL_STATE_RESENDING)
            fl_session_logout(es->fsm, "end of session window", fl_engine_now(es->e));
        else if (st != FL_STATE_LOGOUT_SENT)
            fl_conn_close(es->conn, 1, "end of session window");
    } else if (fl_session_reset(es->fsm, fl_engine_now(es->e)) != FL_OK) {
        fl_engine_log_event(es, "ERROR", "schedule end: sequence reset failed");
    }
}

void fl_engine_session_log(struct fl_engine_session *es, const char *level, const char *text)
{
    fl_engine_log_event(es, level ? level : "INFO", text ? text : "");
}
