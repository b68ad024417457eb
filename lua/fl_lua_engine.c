/* fixlua — "fixlua.engine" and the glue from the engine's hooks (fl_engine.h) to callbacks.
 *
 * An engine object owns a struct fl_engine. Each session it adds gets a binding (struct
 * fl_lua_sess, fl_lua_int.h): its dictionary, its script vm (fl_lua.h: a lua_State of its own
 * for a script file, or the host's state for a table of functions, as busted specs use), and the
 * hooks below, installed only for the callbacks the script defines so a missing callback costs
 * nothing. Each hook turns one engine event into one or more protected callbacks and applies the
 * fail-closed policy when a callback raises (SCRIPTING.md "Failure policy"). The configuration
 * arrives already checked and normalised by lua/fixlua/config.lua.
 *
 * The binding struct is reference-counted: the owning engine object holds one reference, and so
 * does every handle (engine or session handle) another state keeps, so a handle never points at
 * freed memory; once the engine is closed, handles raise "engine is closed". */
#include "fl_lua_int.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fl_tags.h"

#define NS_PER_SEC INT64_C(1000000000)

/* ---- engine objects ---- */

struct engine_box {
    struct fl_lua_engine *eng;
    int owner;  /* the object fixlua.engine{} returned: may run, add sessions, close */
};

void fl_lua_engine_unref(struct fl_lua_engine *eng)
{
    if (eng && --eng->refs == 0)
        free(eng);
}

static struct engine_box *check_engine_box(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, FL_LUA_MT_ENGINE);
}

static struct fl_lua_engine *check_engine(lua_State *L, int idx)
{
    struct engine_box *b = check_engine_box(L, idx);
    if (!b->eng || !b->eng->e)
        luaL_error(L, "fixlua: engine is closed");
    return b->eng;
}

static struct fl_lua_engine *check_owner(lua_State *L, int idx, const char *what)
{
    struct engine_box *b = check_engine_box(L, idx);
    if (!b->owner)
        luaL_error(L, "fixlua: engine:%s() is only available on the engine object that "
                      "fixlua.engine{} returned, not from a session script", what);
    return check_engine(L, idx);
}

void fl_lua_engine_push_handle(lua_State *L, struct fl_lua_engine *eng)
{
    struct engine_box *b = lua_newuserdata(L, sizeof *b);
    b->eng = NULL;
    b->owner = 0;
    luaL_getmetatable(L, FL_LUA_MT_ENGINE);
    lua_setmetatable(L, -2);
    b->eng = eng;
    eng->refs++;
}

/* The caller's thread, when it is the host (not a session's own state), becomes the thread
 * shared-mode callbacks run on. */
void fl_lua_engine_note_caller(struct fl_lua_engine *eng, lua_State *L)
{
    if (!fl_lua_ctx_get(L)->vm)
        eng->host_L = L;
}

struct fl_lua_sess *fl_lua_engine_find(struct fl_lua_engine *eng, const char *name)
{
    for (struct fl_lua_sess *s = eng->sessions; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* ---- logging ---- */

static void stamp(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
}

static void say(struct fl_lua_sess *s, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A readable line for the runner's stderr and the session's event log. */
static void say(struct fl_lua_sess *s, const char *level, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (s->eng->log_stderr > 0) {
        char ts[32];
        stamp(ts, sizeof ts);
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level, s->name, text);
    }
}

static const char *upper_level(const char *level)
{
    if (strcmp(level, "error") == 0)
        return "ERROR";
    if (strcmp(level, "warn") == 0)
        return "WARN";
    if (strcmp(level, "debug") == 0)
        return "DEBUG";
    return "INFO";
}

void fl_lua_sess_log(void *ctx, const char *level, const char *text)
{
    struct fl_lua_sess *s = ctx;
    if (s->es)
        fl_engine_session_log(s->es, upper_level(level), text);
    /* Script errors and warnings always reach stderr; the runner shows every line. */
    if (s->eng->log_stderr > 0 ||
        (s->eng->log_stderr == 0 && (strcmp(level, "error") == 0 || strcmp(level, "warn") == 0))) {
        char ts[32];
        stamp(ts, sizeof ts);
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level, s->name, text);
    }
}

/* ---- callback plumbing ---- */

static int push_string(lua_State *L, void *arg)
{
    lua_pushstring(L, arg ? arg : "");
    return 1;
}

/* Notification with no argument beyond the session (and maybe a message). */
static void notify(struct fl_lua_sess *s, int cb, const struct fl_msg *m)
{
    if (!fl_lua_vm_has(s->vm, cb))
        return;
    struct fl_lua_call c = {.cb = cb, .msg = m};
    fl_lua_invoke(s->vm, &c);
}

static void notify_text(struct fl_lua_sess *s, int cb, const char *text)
{
    if (!fl_lua_vm_has(s->vm, cb))
        return;
    struct fl_lua_call c = {.cb = cb, .push = push_string, .arg = (void *)text};
    fl_lua_invoke(s->vm, &c);
}

struct event_args {
    const struct fl_session_event *ev;
    struct fl_lua_sess *s;
};

static int push_state_change(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushstring(L, fl_session_state_name(ev->from));
    lua_pushstring(L, fl_session_state_name(ev->to));
    return 2;
}

static int push_range(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushnumber(L, (lua_Number)ev->begin);
    lua_pushnumber(L, (lua_Number)ev->end);
    return 2;
}

static int push_seq(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushnumber(L, (lua_Number)ev->begin);
    return 1;
}

static int push_garbled(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushstring(L, ev->text ? ev->text : "");
    lua_pushnumber(L, (lua_Number)ev->value);
    return 2;
}

static int push_sequence_reset(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushnumber(L, (lua_Number)ev->value);
    lua_pushboolean(L, ev->text && strcmp(ev->text, "gap fill") == 0);
    return 2;
}

static int push_latency(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushnumber(L, (lua_Number)ev->value / 1e9);
    lua_pushnumber(L, (lua_Number)ev->begin);
    lua_pushstring(L, ev->text ? ev->text : "");
    return 3;
}

static int push_value_text(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushnumber(L, (lua_Number)ev->value);
    lua_pushstring(L, ev->text ? ev->text : "");
    return 2;
}

static int push_error(lua_State *L, void *arg)
{
    const struct fl_session_event *ev = arg;
    lua_pushstring(L, ev->text ? ev->text : "");
    lua_pushstring(L, ev->value < 0 ? fl_err_name((int)ev->value) : "ERROR");
    return 2;
}

/* on_validation_failed(session, info): info = {seq=, ref_tag=, reason=, text=, kind=, message=}
 * where message is an owned copy of the refused message (it outlives the callback). */
struct validation_args {
    const struct fl_session_event *ev;
    struct fl_dict *dict; /* the session's: in a host's state, the state's is another */
};

static int push_validation(lua_State *L, void *arg)
{
    const struct validation_args *a = arg;
    const struct fl_session_event *ev = a->ev;
    lua_createtable(L, 0, 7);
    if (ev->msg) {
        fl_lua_msg_push_copy(L, ev->msg, a->dict);
        lua_setfield(L, -2, "message");
    }
    lua_pushnumber(L, (lua_Number)ev->begin);
    lua_setfield(L, -2, "seq");
    lua_pushnumber(L, (lua_Number)ev->end);
    lua_setfield(L, -2, "ref_tag");
    lua_pushnumber(L, (lua_Number)ev->value);
    lua_setfield(L, -2, "reason");
    const char *text = ev->text ? ev->text : "";
    int business = strncmp(text, "business: ", 10) == 0;
    lua_pushstring(L, business ? text + 10 : text);
    lua_setfield(L, -2, "text");
    lua_pushstring(L, ev->type == FL_EV_REJECT_SENT ? "session"
                      : business                    ? "business"
                                                    : "dictionary");
    lua_setfield(L, -2, "kind");
    return 1;
}

static void notify_event(struct fl_lua_sess *s, int cb, const struct fl_session_event *ev,
                         int (*push)(lua_State *, void *))
{
    if (!fl_lua_vm_has(s->vm, cb))
        return;
    struct fl_lua_call c = {.cb = cb, .push = push, .arg = (void *)ev};
    fl_lua_invoke(s->vm, &c);
}

static void notify_validation(struct fl_lua_sess *s, const struct fl_session_event *ev)
{
    if (!fl_lua_vm_has(s->vm, FL_CB_ON_VALIDATION_FAILED))
        return;
    struct validation_args a = {ev, s->dict};
    struct fl_lua_call c = {.cb = FL_CB_ON_VALIDATION_FAILED, .push = push_validation, .arg = &a};
    fl_lua_invoke(s->vm, &c);
}

/* ---- hooks ---- */

static void hook_transport(void *ctx, struct fl_engine_session *es, enum fl_transport_event ev,
                           const char *detail)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    switch (ev) {
    case FL_TRANSPORT_CONNECTED:
        say(s, "info", "connected %s", detail ? detail : "");
        /* Outside its schedule window an initiator does not stay connected. */
        if (s->sched.active && !s->sched.in_window &&
            fl_engine_session_config(s->es)->session.role == FL_ROLE_INITIATOR) {
            say(s, "info", "outside the session schedule: disconnecting");
            fl_engine_session_disconnect(s->es, "outside the session schedule");
            return;
        }
        notify_text(s, FL_CB_ON_CONNECT, detail);
        break;
    case FL_TRANSPORT_DISCONNECTED:
        say(s, "info", "disconnected%s%s", detail && *detail ? ": " : "", detail ? detail : "");
        notify_text(s, FL_CB_ON_DISCONNECT, detail);
        break;
    case FL_TRANSPORT_CONNECT_FAILED:
        say(s, "warn", "connect failed: %s", detail ? detail : "");
        notify_text(s, FL_CB_ON_CONNECT_FAILED, detail);
        break;
    case FL_TRANSPORT_CONNECT_TIMEOUT:
        say(s, "warn", "connect timed out: %s", detail ? detail : "");
        notify_text(s, FL_CB_ON_CONNECT_TIMEOUT, detail);
        break;
    default:
        break;
    }
}

static void hook_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    const char *text = ev->text ? ev->text : "";
    switch (ev->type) {
    case FL_EV_STATE:
        say(s, "info", "state %s -> %s", fl_session_state_name(ev->from),
            fl_session_state_name(ev->to));
        notify_event(s, FL_CB_ON_STATE_CHANGE, ev, push_state_change);
        break;
    case FL_EV_LOGON:
        say(s, "info", "logged on (heartbeat %llds)", (long long)ev->value);
        notify(s, FL_CB_ON_LOGON, NULL);
        break;
    case FL_EV_LOGON_REJECTED:
        say(s, "warn", "logon rejected: %s", text);
        notify_text(s, FL_CB_ON_LOGON_REJECTED, text);
        break;
    case FL_EV_LOGON_TIMEOUT:
        say(s, "warn", "logon timed out");
        notify(s, FL_CB_ON_LOGON_TIMEOUT, NULL);
        break;
    case FL_EV_LOGOUT:
        say(s, "info", "logout received%s%s", *text ? ": " : "", text);
        notify_text(s, FL_CB_ON_LOGOUT, text);
        break;
    case FL_EV_LOGOUT_TIMEOUT:
        say(s, "warn", "logout timed out");
        notify(s, FL_CB_ON_LOGOUT_TIMEOUT, NULL);
        break;
    case FL_EV_REJECT_RECEIVED:
        say(s, "warn", "Reject received for seq %llu: %s", (unsigned long long)ev->begin, text);
        break; /* on_reject gets the Reject message itself (hook_message) */
    case FL_EV_REJECT_SENT:
        say(s, "warn", "sent Reject for seq %llu: %s", (unsigned long long)ev->begin, text);
        /* A dictionary refusal was already reported as VALIDATION_FAILED. */
        if (ev->begin != s->last_validation_seq)
            notify_validation(s, ev);
        break;
    case FL_EV_VALIDATION_FAILED:
        say(s, "warn", "validation failed for seq %llu: %s", (unsigned long long)ev->begin, text);
        s->last_validation_seq = ev->begin;
        notify_validation(s, ev);
        break;
    case FL_EV_GARBLED:
        say(s, "warn", "garbled input dropped: %s", text);
        notify_event(s, FL_CB_ON_GARBLED, ev, push_garbled);
        break;
    case FL_EV_GAP:
        say(s, "info", "gap: asked for %llu..%llu", (unsigned long long)ev->begin,
            (unsigned long long)ev->end);
        notify_event(s, FL_CB_ON_GAP, ev, push_range);
        break;
    case FL_EV_RESEND_REQUEST:
        say(s, "info", "ResendRequest %llu..%llu", (unsigned long long)ev->begin,
            (unsigned long long)ev->end);
        break;
    case FL_EV_RESEND_SKIPPED:
        notify_event(s, FL_CB_ON_REPLAY_SKIPPED, ev, push_seq);
        break;
    case FL_EV_SEQUENCE_RESET:
        say(s, "info", "SequenceReset (%s) to %lld", text, (long long)ev->value);
        notify_event(s, FL_CB_ON_SEQUENCE_RESET, ev, push_sequence_reset);
        break;
    case FL_EV_TRANSMISSION_FAIL:
        say(s, "error", "no answer to TestRequest: %s", text);
        notify(s, FL_CB_ON_TRANSMISSION_FAIL, NULL);
        break;
    case FL_EV_LATENCY:
        say(s, "warn", "latency %.3fs: %s", (double)ev->value / 1e9, text);
        notify_event(s, FL_CB_ON_LATENCY, ev, push_latency);
        break;
    case FL_EV_QUEUE_THRESHOLD:
        say(s, "warn", "inbound queue at %lld: %s", (long long)ev->value, text);
        notify_event(s, FL_CB_ON_QUEUE_THRESHOLD, ev, push_value_text);
        break;
    case FL_EV_THROTTLE:
        say(s, "warn", "inbound rate above %lld/s: %s", (long long)ev->value, text);
        notify_event(s, FL_CB_ON_THROTTLE, ev, push_value_text);
        break;
    case FL_EV_ERROR:
        say(s, "error", "%s", text);
        notify_event(s, FL_CB_ON_ERROR, ev, push_error);
        break;
    default:
        break;
    }
}

static void business_reject(struct fl_lua_sess *s, const struct fl_msg *m)
{
    const char *t;
    size_t tn;
    int64_t seq = 0;
    if (fl_msg_get_str(m, FL_TAG_MSG_TYPE, &t, &tn) != FL_OK)
        return;
    if (fl_msg_get_int(m, FL_TAG_MSG_SEQ_NUM, &seq) != FL_OK)
        seq = 0;
    char body[256];
    int n = snprintf(body, sizeof body, "45=%lld\001372=%.*s\001380=0\00158=application error\001",
                     (long long)seq, (int)tn, t);
    if (n > 0 && (size_t)n < sizeof body &&
        fl_engine_session_send(s->es, "j", 1, NULL, 0, body, (size_t)n) != FL_OK)
        fl_lua_vm_log(s->vm, "error", "%s could not send BusinessMessageReject", s->vm->ident);
}

static void hook_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m,
                         int is_admin)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    notify(s, FL_CB_ON_INBOUND, m);
    if (is_admin) {
        const char *t;
        size_t tn;
        if (fl_lua_vm_has(s->vm, FL_CB_ON_REJECT) &&
            fl_msg_get_str(m, FL_TAG_MSG_TYPE, &t, &tn) == FL_OK && tn == 1 && t[0] == '3')
            notify(s, FL_CB_ON_REJECT, m);
        notify(s, FL_CB_ON_ADMIN, m);
        return;
    }
    if (!fl_lua_vm_has(s->vm, FL_CB_ON_MESSAGE))
        return;
    struct fl_lua_call c = {.cb = FL_CB_ON_MESSAGE, .msg = m};
    if (fl_lua_invoke(s->vm, &c) == FL_EINVAL && s->business_reject_on_error)
        business_reject(s, m);
}

struct logon_result {
    enum fl_logon_decision decision;
    char reason[256];
};

static void read_logon_result(lua_State *L, void *arg)
{
    struct logon_result *r = arg;
    /* stack: v1, v2 */
    if (lua_type(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -2)) {
        r->decision = FL_LOGON_ACCEPT;
        return;
    }
    if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "defer") == 0) {
        r->decision = FL_LOGON_DEFER;
        return;
    }
    if ((lua_type(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -2)) ||
        (lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING)) {
        r->decision = FL_LOGON_REJECT;
        if (lua_type(L, -1) == LUA_TSTRING)
            snprintf(r->reason, sizeof r->reason, "%s", lua_tostring(L, -1));
        return;
    }
    luaL_error(L, "validate_logon must return true, false [, reason] or \"defer\", got %s",
               luaL_typename(L, -2));
}

static enum fl_logon_decision hook_validate_logon(void *ctx, struct fl_engine_session *es,
                                                  const struct fl_msg *logon, char *reason,
                                                  size_t cap)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    if (s->sched.active && !s->sched.in_window) {
        snprintf(reason, cap, "outside the session schedule");
        return FL_LOGON_REJECT;
    }
    if (!fl_lua_vm_has(s->vm, FL_CB_VALIDATE_LOGON)) {
        /* A session made from a "*" template exists for the script to decide; without a
         * decision it is refused. */
        if (s->dynamic) {
            snprintf(reason, cap, "unknown CompID");
            return FL_LOGON_REJECT;
        }
        return FL_LOGON_ACCEPT;
    }
    struct logon_result r = {FL_LOGON_REJECT, ""};
    struct fl_lua_call c = {.cb = FL_CB_VALIDATE_LOGON, .msg = logon, .nret = 2,
                            .result = read_logon_result, .arg = &r};
    if (fl_lua_invoke(s->vm, &c) != FL_OK) {
        /* Fail closed: a script error refuses the logon (details stay in our log). */
        snprintf(reason, cap, "Logon rejected");
        return FL_LOGON_REJECT;
    }
    if (r.decision == FL_LOGON_REJECT)
        snprintf(reason, cap, "%s", r.reason[0] ? r.reason : "Logon rejected");
    return r.decision;
}

struct prepare_args {
    struct fl_lua_sess *s;
    struct fl_builder *b;
};

/* The first field of body[0..n) ("tag=value<SOH>"...) with a tag the engine writes in every
 * Logon itself, or 0. Data fields are stepped over by their length. */
static uint32_t engine_logon_tag(const char *body, size_t n)
{
    size_t pos = 0;
    int64_t data_len = -1;
    while (pos < n) {
        uint32_t tag = 0;
        size_t i = pos;
        while (i < n && body[i] >= '0' && body[i] <= '9' && tag < 100000000u)
            tag = tag * 10 + (uint32_t)(body[i++] - '0');
        if (i >= n || body[i] != '=')
            return 0; /* (the encoder wrote it: not reached) */
        if (tag == FL_TAG_ENCRYPT_METHOD || tag == FL_TAG_HEART_BT_INT ||
            tag == FL_TAG_RESET_SEQ_NUM_FLAG || tag == FL_TAG_NEXT_EXPECTED_MSG_SEQ_NUM ||
            tag == FL_TAG_DEFAULT_APPL_VER_ID)
            return tag;
        size_t v = i + 1, end = v;
        if (data_len >= 0 && (size_t)data_len <= n - v)
            end = v + (size_t)data_len;
        else
            while (end < n && body[end] != '\001')
                end++;
        data_len = -1;
        if (fl_data_tag_for_length(tag) && end - v >= 1 && end - v <= 9) {
            data_len = 0;
            for (size_t k = v; k < end && data_len >= 0; k++)
                data_len = body[k] >= '0' && body[k] <= '9' ? data_len * 10 + (body[k] - '0') : -1;
        }
        pos = end + 1;
    }
    return 0;
}

static void read_prepare_result(lua_State *L, void *arg)
{
    struct prepare_args *a = arg;
    if (lua_isnil(L, -1))
        return;
    if (!lua_istable(L, -1))
        luaL_error(L, "prepare_logon must return nil or a table of fields, got %s",
                   luaL_typename(L, -1));
    struct fl_lua_encoded enc;
    fl_lua_encode_fields(L, lua_gettop(L), a->s->dict, "A", &enc);
    if (enc.hdr_len)
        luaL_error(L, "prepare_logon: header fields cannot be added to the Logon");
    uint32_t own = engine_logon_tag(enc.body, enc.body_len);
    if (own)
        luaL_error(L, "prepare_logon: field %d is the engine's to write in the Logon (set it "
                      "in the session's configuration)", (int)own);
    fl_builder_add_raw(a->b, enc.body, enc.body_len);
}

static void hook_prepare_logon(void *ctx, struct fl_engine_session *es, struct fl_builder *b)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    struct prepare_args a = {s, b};
    struct fl_lua_call c = {.cb = FL_CB_PREPARE_LOGON, .nret = 1, .result = read_prepare_result,
                            .arg = &a};
    /* On error the Logon goes out without the script's fields (nothing was added). */
    fl_lua_invoke(s->vm, &c);
}

static void read_truthy(lua_State *L, void *arg)
{
    *(int *)arg = lua_toboolean(L, -1);
}

static int hook_should_replay(void *ctx, struct fl_engine_session *es, const struct fl_msg *stored)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    int replay = 0;
    struct fl_lua_call c = {.cb = FL_CB_SHOULD_REPLAY, .msg = stored, .nret = 1,
                            .result = read_truthy, .arg = &replay};
    if (fl_lua_invoke(s->vm, &c) != FL_OK)
        return 0; /* fail closed: gap fill instead of the message */
    return replay;
}

static void read_resend_result(lua_State *L, void *arg)
{
    enum fl_resend_decision *d = arg;
    if (lua_isnil(L, -1)) {
        *d = FL_RESEND_SERVE;
        return;
    }
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(v, "serve") == 0)
        *d = FL_RESEND_SERVE;
    else if (strcmp(v, "gap_fill") == 0)
        *d = FL_RESEND_GAP_FILL;
    else if (strcmp(v, "ignore") == 0)
        *d = FL_RESEND_IGNORE;
    else if (strcmp(v, "logout") == 0)
        *d = FL_RESEND_LOGOUT;
    else
        luaL_error(L, "on_resend_request must return \"serve\", \"gap_fill\", \"ignore\", "
                      "\"logout\" or nil, got %s",
                   lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
}

struct resend_args {
    uint64_t begin, end;
    enum fl_resend_decision decision;
};

static int push_resend_range(lua_State *L, void *arg)
{
    struct resend_args *r = arg;
    lua_pushnumber(L, (lua_Number)r->begin);
    lua_pushnumber(L, (lua_Number)r->end);
    return 2;
}

static void read_resend_args(lua_State *L, void *arg)
{
    read_resend_result(L, &((struct resend_args *)arg)->decision);
}

static enum fl_resend_decision hook_resend_request(void *ctx, struct fl_engine_session *es,
                                                   uint64_t begin, uint64_t end)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    struct resend_args r = {begin, end, FL_RESEND_SERVE};
    struct fl_lua_call c = {.cb = FL_CB_ON_RESEND_REQUEST, .push = push_resend_range,
                            .result = read_resend_args, .arg = &r, .nret = 1};
    if (fl_lua_invoke(s->vm, &c) != FL_OK)
        return FL_RESEND_GAP_FILL; /* fail closed: nothing replayed, the peer is in sequence */
    return r.decision;
}

struct bytes {
    const char *p;
    size_t n;
};

static int push_bytes(lua_State *L, void *arg)
{
    struct bytes *b = arg;
    lua_pushlstring(L, b->p, b->n);
    return 1;
}

static void hook_raw_inbound(void *ctx, struct fl_engine_session *es, const char *p, size_t n)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    struct bytes b = {p, n};
    struct fl_lua_call c = {.cb = FL_CB_ON_RAW_INBOUND, .push = push_bytes, .arg = &b};
    fl_lua_invoke(s->vm, &c);
}

static void hook_outbound(void *ctx, struct fl_engine_session *es, const char *p, size_t n)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    int d = s->vm->depth;
    if (d >= FL_LUA_MAX_DEPTH)
        return;
    struct fl_msg *m = &s->parse[d];
    if (fl_msg_parse(m, p, n) != FL_OK)
        return;
    struct fl_lua_call c = {.cb = FL_CB_ON_OUTBOUND, .msg = m};
    fl_lua_invoke(s->vm, &c);
}

struct backpressure_args {
    struct fl_lua_sess *s;
    int above;
};

static int push_backpressure(lua_State *L, void *arg)
{
    struct backpressure_args *a = arg;
    lua_pushboolean(L, a->above);
    lua_pushnumber(L, (lua_Number)fl_engine_session_output_queued(a->s->es));
    return 2;
}

static void hook_backpressure(void *ctx, struct fl_engine_session *es, int above)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    say(s, above ? "warn" : "info", "output queue %s its high watermark",
        above ? "above" : "back below");
    struct backpressure_args a = {s, above};
    struct fl_lua_call c = {.cb = FL_CB_ON_BACKPRESSURE, .push = push_backpressure, .arg = &a};
    fl_lua_invoke(s->vm, &c);
}

static void read_schedule_result(lua_State *L, void *arg)
{
    /* false skips the default; anything else keeps it */
    *(int *)arg = !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
}

static int hook_schedule(void *ctx, struct fl_engine_session *es, int start)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    say(s, "info", "schedule window %s", start ? "opens" : "closes");
    int cb = start ? FL_CB_ON_SCHEDULE_START : FL_CB_ON_SCHEDULE_END;
    if (!fl_lua_vm_has(s->vm, cb))
        return 1;
    int keep_default = 1;
    struct fl_lua_call c = {.cb = cb, .nret = 1, .result = read_schedule_result,
                            .arg = &keep_default};
    if (fl_lua_invoke(s->vm, &c) != FL_OK)
        return 1; /* on error the default applies */
    return keep_default;
}

static void hook_free(void *ctx, struct fl_engine_session *es);
static enum fl_logon_decision hook_refuse_logon(void *ctx, struct fl_engine_session *es,
                                                const struct fl_msg *logon, char *reason,
                                                size_t cap)
{
    (void)ctx;
    (void)es;
    (void)logon;
    snprintf(reason, cap, "session could not be set up");
    return FL_LOGON_REJECT;
}
static void hook_session_created(void *ctx, struct fl_engine_session *tmpl,
                                 struct fl_engine_session *created);

/* Hooks for the callbacks the script defines (a missing callback costs nothing). */
static void build_hooks(struct fl_lua_sess *s, struct fl_engine_hooks *h)
{
    struct fl_lua_vm *vm = s->vm;
    memset(h, 0, sizeof *h);
    h->ctx = s;
    h->on_transport = hook_transport;
    h->on_event = hook_event;
    if (fl_lua_vm_has(vm, FL_CB_ON_MESSAGE) || fl_lua_vm_has(vm, FL_CB_ON_ADMIN) ||
        fl_lua_vm_has(vm, FL_CB_ON_INBOUND) || fl_lua_vm_has(vm, FL_CB_ON_REJECT))
        h->on_message = hook_message;
    if (fl_lua_vm_has(vm, FL_CB_VALIDATE_LOGON) || s->dynamic || s->sched.active)
        h->validate_logon = hook_validate_logon;
    if (fl_lua_vm_has(vm, FL_CB_PREPARE_LOGON))
        h->prepare_logon = hook_prepare_logon;
    if (fl_lua_vm_has(vm, FL_CB_SHOULD_REPLAY))
        h->should_replay = hook_should_replay;
    if (fl_lua_vm_has(vm, FL_CB_ON_RESEND_REQUEST))
        h->resend_request = hook_resend_request;
    if (fl_lua_vm_has(vm, FL_CB_ON_RAW_INBOUND))
        h->on_raw_inbound = hook_raw_inbound;
    if (fl_lua_vm_has(vm, FL_CB_ON_OUTBOUND))
        h->on_outbound = hook_outbound;
    h->on_backpressure = hook_backpressure;
    h->on_session_created = hook_session_created;
    if (fl_lua_vm_has(vm, FL_CB_ON_SCHEDULE_START) || fl_lua_vm_has(vm, FL_CB_ON_SCHEDULE_END) ||
        s->eng->log_stderr > 0)
        h->on_schedule = hook_schedule;
    h->on_free = hook_free;
}

/* ---- schedule (a daily or weekly window in a time zone: core/fl_schedule.c) ---- */

static void sched_timer(void *ctx, uint64_t id);

static void sched_arm(struct fl_lua_sess *s)
{
    struct fl_engine *e = fl_engine_session_engine(s->es);
    int64_t now_ns = fl_engine_now(e);
    int64_t now = now_ns / NS_PER_SEC;
    int64_t sub = now_ns % NS_PER_SEC;
    int opens;
    int64_t next = fl_schedule_next(&s->sched.window, now, &opens) - now;
    s->sched.timer = fl_engine_timer_add(e, next * NS_PER_SEC - sub, 0, sched_timer, s);
}

static void sched_timer(void *ctx, uint64_t id)
{
    struct fl_lua_sess *s = ctx;
    (void)id;
    s->sched.timer = 0;
    int64_t now = fl_engine_now(fl_engine_session_engine(s->es)) / NS_PER_SEC;
    int inside = fl_schedule_inside(&s->sched.window, now);
    if (inside != s->sched.in_window) {
        s->sched.in_window = inside;
        fl_engine_session_schedule_event(s->es, inside);
    }
    sched_arm(s);
}

static void sched_start(struct fl_lua_sess *s)
{
    if (!s->sched.active)
        return;
    int64_t now = fl_engine_now(fl_engine_session_engine(s->es)) / NS_PER_SEC;
    s->sched.in_window = fl_schedule_inside(&s->sched.window, now);
    sched_arm(s);
}

/* ---- session setup ---- */

/* A session's settings read from its normalised config table (strings borrowed from it). */
struct sess_cfg {
    struct fl_engine_session_config ec;
    const char *connect[16];
    const char *script_path;       /* or NULL */
    int script_table;              /* stack index of a script table, or 0 */
    const char *dictionary;        /* XML path or NULL (built-in) */
    int validation;                /* -1: default */
    struct fl_validate_opts vopts;
    struct fl_lua_sched sched;
    const char *sched_tz;          /* the schedule's time zone name, or NULL (UTC) */
    int business_reject_on_error;
    double script_warn_ms;
};

static const char *opt_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the table keeps the string alive */
    return v;
}

static lua_Number opt_num(lua_State *L, int t, const char *k, lua_Number dflt)
{
    lua_getfield(L, t, k);
    lua_Number v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* Booleans: true 1, false -1 (the C configs' "explicitly off"), absent dflt. */
static int opt_bool(lua_State *L, int t, const char *k, int dflt)
{
    lua_getfield(L, t, k);
    int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1) ? 1 : -1;
    lua_pop(L, 1);
    return v;
}

static int on_off(int v)
{
    return v > 0;
}

/* Reads the normalised session table at t. May raise (bad types: config.lua checked them). */
static void read_sess_cfg(lua_State *L, int t, struct sess_cfg *c)
{
    memset(c, 0, sizeof *c);
    struct fl_engine_session_config *ec = &c->ec;
    struct fl_session_config *sc = &ec->session;
    ec->name = opt_str(L, t, "name");
    const char *role = opt_str(L, t, "role");
    if (!ec->name || !role)
        luaL_error(L, "fixlua: session config needs name and role");
    sc->role = strcmp(role, "acceptor") == 0 ? FL_ROLE_ACCEPTOR : FL_ROLE_INITIATOR;
    sc->begin_string = opt_str(L, t, "begin_string");
    sc->sender_comp_id = opt_str(L, t, "sender_comp_id");
    sc->target_comp_id = opt_str(L, t, "target_comp_id");
    if (!sc->begin_string || !sc->sender_comp_id || !sc->target_comp_id)
        luaL_error(L, "fixlua: session '%s' needs begin_string, sender_comp_id, target_comp_id",
                   ec->name);
    sc->default_appl_ver_id = opt_str(L, t, "default_appl_ver_id");
    sc->heartbeat_interval = (int)opt_num(L, t, "heartbeat", 30);
    sc->heartbeat_min = (int)opt_num(L, t, "heartbeat_min", 0);
    sc->heartbeat_max = (int)opt_num(L, t, "heartbeat_max", 0);
    sc->logon_timeout = (int)opt_num(L, t, "logon_timeout", 0);
    sc->logout_timeout = (int)opt_num(L, t, "logout_timeout", 0);
    lua_Number lat = opt_num(L, t, "max_latency", 0);
    sc->max_latency_ns = lat < 0 ? -1 : (int64_t)(lat * 1e9);
    sc->latency_warn_ns = (int64_t)(opt_num(L, t, "latency_warn", 0) * 1e9);
    sc->check_comp_id = opt_bool(L, t, "check_comp_id", 0);
    sc->reset_on_logon = on_off(opt_bool(L, t, "reset_on_logon", 0));
    sc->reset_on_logout = on_off(opt_bool(L, t, "reset_on_logout", 0));
    sc->reset_on_disconnect = on_off(opt_bool(L, t, "reset_on_disconnect", 0));
    sc->send_next_expected = on_off(opt_bool(L, t, "send_next_expected", 0));
    sc->send_redundant_resend_requests = on_off(opt_bool(L, t, "send_redundant_resend_requests", 0));
    sc->require_orig_sending_time = opt_bool(L, t, "require_orig_sending_time", 0);
    sc->timestamp_digits = (int)opt_num(L, t, "timestamp_digits", 0);
    sc->resend_request_chunk = (uint32_t)opt_num(L, t, "resend_request_chunk", 0);
    sc->max_inbound_queue = (uint32_t)opt_num(L, t, "max_inbound_queue", 0);
    sc->max_inbound_queue_bytes = (size_t)opt_num(L, t, "max_inbound_queue_bytes", 0);
    sc->inbound_queue_warn = (uint32_t)opt_num(L, t, "inbound_queue_warn", 0);
    sc->max_inbound_rate = (uint32_t)opt_num(L, t, "max_inbound_rate", 0);
    sc->max_outbound_queue = (uint32_t)opt_num(L, t, "max_outbound_queue", 0);
    sc->max_garbled = (uint32_t)opt_num(L, t, "max_garbled", 0);
    sc->max_message_size = (size_t)opt_num(L, t, "max_message_size", 0);

    ec->listen = opt_str(L, t, "listen");
    lua_getfield(L, t, "connect");
    if (lua_istable(L, -1)) {
        size_t n = lua_objlen(L, -1);
        if (n > sizeof c->connect / sizeof c->connect[0])
            luaL_error(L, "fixlua: session '%s': at most 16 connect addresses", ec->name);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (int)i + 1);
            c->connect[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        ec->connect = c->connect;
        ec->nconnect = n;
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "tls");
    if (lua_istable(L, -1)) {
        /* The strings stay alive in the config table while the session is added. */
        int tt = lua_gettop(L);
        ec->tls.enabled = 1;
        ec->tls.cert = opt_str(L, tt, "cert");
        ec->tls.key = opt_str(L, tt, "key");
        ec->tls.ca = opt_str(L, tt, "ca");
        ec->tls.server_name = opt_str(L, tt, "server_name");
        ec->tls.ciphers = opt_str(L, tt, "ciphers");
        lua_getfield(L, tt, "verify_peer");
        if (lua_isboolean(L, -1))
            ec->tls.verify_peer = lua_toboolean(L, -1) ? 1 : -1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    ec->reconnect_interval = (int)opt_num(L, t, "reconnect_interval", 0);
    ec->max_connect_tries = (int)opt_num(L, t, "max_connect_tries", 0);
    ec->connect_timeout = (int)opt_num(L, t, "connect_timeout", 0);
    ec->store_dir = opt_str(L, t, "store_dir");
    const char *sync = opt_str(L, t, "store_sync");
    ec->store_sync = !sync                        ? FL_STORE_SYNC_BATCH
                     : strcmp(sync, "none") == 0  ? FL_STORE_SYNC_NONE
                     : strcmp(sync, "every") == 0 ? FL_STORE_SYNC_EVERY
                                                  : FL_STORE_SYNC_BATCH;
    ec->log_dir = opt_str(L, t, "log_dir");
    ec->log_messages = opt_bool(L, t, "log_messages", 0);
    ec->log_events = opt_bool(L, t, "log_events", 0);
    ec->max_output_bytes = (size_t)opt_num(L, t, "max_output_bytes", 0);
    ec->output_high_watermark = (size_t)opt_num(L, t, "output_high_watermark", 0);

    lua_getfield(L, t, "script");
    if (lua_type(L, -1) == LUA_TSTRING) {
        c->script_path = lua_tostring(L, -1);
        lua_pop(L, 1);
    } else if (lua_istable(L, -1)) {
        c->script_table = lua_gettop(L); /* stays on the stack for the caller */
    } else {
        lua_pop(L, 1);
    }
    c->dictionary = opt_str(L, t, "dictionary");
    fl_validate_opts_init(&c->vopts);
    c->validation = -1;
    lua_getfield(L, t, "validation");
    if (lua_istable(L, -1)) {
        int v = lua_gettop(L);
        const char *level = opt_str(L, v, "level");
        if (level)
            c->validation = strcmp(level, "off") == 0       ? FL_VALIDATE_LEVEL_OFF
                            : strcmp(level, "session") == 0 ? FL_VALIDATE_LEVEL_SESSION
                                                            : FL_VALIDATE_LEVEL_FULL;
        c->vopts.allow_unknown_fields = on_off(opt_bool(L, v, "allow_unknown_fields", 0));
        c->vopts.allow_user_fields = on_off(opt_bool(L, v, "allow_user_fields", 0));
        c->vopts.allow_internal_fields = on_off(opt_bool(L, v, "allow_internal_fields", 0));
        c->vopts.strict_group_order = on_off(opt_bool(L, v, "strict_group_order", 0));
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "schedule");
    if (lua_istable(L, -1)) {
        int v = lua_gettop(L);
        c->sched.active = 1;
        c->sched.window.weekly = on_off(opt_bool(L, v, "weekly", 0));
        c->sched.window.start_s = (int64_t)opt_num(L, v, "start_s", 0);
        c->sched.window.stop_s = (int64_t)opt_num(L, v, "stop_s", 0);
        c->sched_tz = opt_str(L, v, "tz");
    }
    lua_pop(L, 1);
    c->business_reject_on_error = on_off(opt_bool(L, t, "business_reject_on_error", 0));
    c->script_warn_ms = opt_num(L, t, "script_warn_ms", -1);
}

static void sess_free(struct fl_lua_sess *s)
{
    if (!s)
        return;
    fl_lua_session_unbind(s);
    fl_lua_vm_free(s->vm);
    if (s->host && s->script_table_ref != LUA_NOREF && s->eng->host_L)
        luaL_unref(s->eng->host_L, LUA_REGISTRYINDEX, s->script_table_ref);
    for (int i = 0; i < FL_LUA_MAX_DEPTH; i++)
        fl_msg_release(&s->parse[i]);
    fl_dict_free(s->dict);
    fl_tz_free(s->sched.tz);
    free(s->name);
    free(s->script_path);
    free(s);
}

static void unlink_sess(struct fl_lua_sess *s)
{
    for (struct fl_lua_sess **p = &s->eng->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

static void hook_free(void *ctx, struct fl_engine_session *es)
{
    struct fl_lua_sess *s = ctx;
    (void)es;
    if (s->vm && s->vm->depth > 0) {
        /* Freed from inside its own callback: the state is in use; leave it (and say so), but
         * stop its timers, which would fire for a session that is gone. */
        fl_lua_vm_log(s->vm, "error", "%s session freed inside its own callback", s->vm->ident);
        if (s->sched.timer && s->eng->e)
            fl_engine_timer_cancel(s->eng->e, s->sched.timer);
        s->sched.timer = 0;
        fl_lua_session_stop_timers(s);
        unlink_sess(s);
        s->es = NULL;
        return;
    }
    if (s->sched.timer && s->eng->e)
        fl_engine_timer_cancel(s->eng->e, s->sched.timer);
    unlink_sess(s);
    sess_free(s);
}

/* Makes the vm of s: its own state for a script file; the host's for a table (H at idx); an
 * empty table in the host when there is no script and a host exists. */
static int make_vm(struct fl_lua_sess *s, lua_State *H, int table_idx, char *err, size_t errlen)
{
    struct fl_lua_engine *eng = s->eng;
    int rc = FL_OK;
    if (s->script_path) {
        rc = fl_lua_vm_new_file(s->script_path, s->dict, fl_lua_sess_log, s, &s->vm, err, errlen);
    } else if (H && table_idx) {
        rc = fl_lua_vm_new_table(H, table_idx, &eng->host_L, s->dict, fl_lua_sess_log, s, &s->vm,
                                 err, errlen);
    }
    if (rc != FL_OK || !s->vm)
        return rc;
    if (eng->script_warn_ms >= 0)
        s->vm->warn_ms = eng->script_warn_ms;
    return FL_OK;
}

static void set_ident(struct fl_lua_sess *s, const struct fl_session_config *sc)
{
    if (s->vm)
        snprintf(s->vm->ident, sizeof s->vm->ident, "[%s:%s->%s]", sc->begin_string,
                 sc->sender_comp_id, sc->target_comp_id);
}

static int load_dict(const char *path, const char *begin_string, struct fl_dict **out, char *err,
                     size_t errlen)
{
    if (path)
        return fl_dict_load_file(path, out, err, errlen);
    int rc = fl_dict_builtin(begin_string, out);
    if (rc != FL_OK)
        snprintf(err, errlen, "no built-in dictionary for begin_string '%s'", begin_string);
    return rc;
}

/* Adds the session described by the normalised table at t. Returns s or NULL with err. */
static struct fl_lua_sess *add_session(lua_State *L, struct fl_lua_engine *eng, int t, char *err,
                                       size_t errlen)
{
    struct sess_cfg c;
    int top = lua_gettop(L);
    read_sess_cfg(L, t, &c);
    int in_host = !fl_lua_ctx_get(L)->vm;
    if (in_host && !c.script_path && !c.script_table) {
        /* No script in a host: an empty table, so the host can still use timers and boxes. */
        lua_createtable(L, 0, 0);
        c.script_table = lua_gettop(L);
    }
    /* Nothing below raises (allocation failures are returned). */
    if (!lua_checkstack(L, 16)) {
        snprintf(err, errlen, "Lua stack exhausted");
        lua_settop(L, top);
        return NULL;
    }
    struct fl_lua_sess *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        lua_settop(L, top);
        return NULL;
    }
    s->eng = eng;
    s->script_table_ref = LUA_NOREF;
    s->business_reject_on_error = c.business_reject_on_error;
    s->sched = c.sched;
    s->name = strdup(c.ec.name);
    s->script_path = c.script_path ? strdup(c.script_path) : NULL;
    s->dynamic = 0;
    for (int i = 0; i < FL_LUA_MAX_DEPTH; i++)
        fl_msg_init(&s->parse[i]);
    int rc = FL_ENOMEM;
    if (!s->name || (c.script_path && !s->script_path))
        goto fail;
    rc = load_dict(c.dictionary, c.ec.session.begin_string, &s->dict, err, errlen);
    if (rc != FL_OK)
        goto fail_detail;
    if (s->sched.active) {
        char why[512];
        rc = fl_tz_load(c.sched_tz ? c.sched_tz : "UTC", NULL, &s->sched.tz, why, sizeof why);
        if (rc != FL_OK) {
            snprintf(err, errlen, "schedule: %s", why);
            goto fail_detail;
        }
        s->sched.window.tz = s->sched.tz;
    }
    /* Validation: "full" by default with a dictionary file, "off" with the built-in one. */
    int level = c.validation >= 0 ? c.validation
                                  : (c.dictionary ? FL_VALIDATE_LEVEL_FULL : FL_VALIDATE_LEVEL_OFF);
    if (level != FL_VALIDATE_LEVEL_OFF) {
        c.ec.session.dict = s->dict;
        c.vopts.level = (enum fl_validate_level)level;
        c.ec.session.validate = c.vopts;
    }
    double saved_warn = eng->script_warn_ms;
    if (c.script_warn_ms >= 0)
        eng->script_warn_ms = c.script_warn_ms;
    if (in_host)
        eng->host_L = L;
    rc = make_vm(s, L, c.script_table, err, errlen);
    eng->script_warn_ms = saved_warn;
    if (rc != FL_OK)
        goto fail_detail;
    if (c.script_table && s->vm) {
        lua_pushvalue(L, c.script_table);
        s->script_table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        s->host = L;
    }
    set_ident(s, &c.ec.session);
    struct fl_engine_hooks hooks;
    build_hooks(s, &hooks);
    rc = fl_engine_add_session(eng->e, &c.ec, &hooks, &s->es, err, errlen);
    if (rc != FL_OK)
        goto fail_detail;
    s->next = eng->sessions;
    eng->sessions = s;
    lua_settop(L, top);
    if (fl_lua_session_bind(s) != FL_OK) {
        snprintf(err, errlen, "out of memory");
        return NULL; /* the engine owns s now; it is freed with the session */
    }
    sched_start(s);
    notify(s, FL_CB_ON_CREATE, NULL);
    return s;
fail:
    snprintf(err, errlen, "%s", fl_strerror(rc));
fail_detail:
    lua_settop(L, top);
    sess_free(s);
    return NULL;
}

static void hook_session_created(void *ctx, struct fl_engine_session *tmpl,
                                 struct fl_engine_session *created)
{
    struct fl_lua_sess *t = ctx;
    struct fl_lua_engine *eng = t->eng;
    (void)tmpl;
    const struct fl_engine_session_config *ec = fl_engine_session_config(created);
    struct fl_lua_sess *s = calloc(1, sizeof *s);
    char err[1024] = "";
    if (!s)
        goto refuse;
    s->eng = eng;
    s->es = created;
    s->dynamic = 1;
    s->script_table_ref = LUA_NOREF;
    s->business_reject_on_error = t->business_reject_on_error;
    s->sched = t->sched;
    s->sched.tz = fl_tz_ref(t->sched.tz);
    s->sched.timer = 0;
    s->name = strdup(ec->name);
    s->script_path = t->script_path ? strdup(t->script_path) : NULL;
    s->dict = fl_dict_ref(t->dict);
    for (int i = 0; i < FL_LUA_MAX_DEPTH; i++)
        fl_msg_init(&s->parse[i]);
    if (!s->name || (t->script_path && !s->script_path))
        goto refuse;
    if (t->script_path) {
        if (make_vm(s, NULL, 0, err, sizeof err) != FL_OK)
            goto refuse;
    } else if (t->host && t->script_table_ref != LUA_NOREF && eng->host_L) {
        lua_State *H = eng->host_L;
        if (!lua_checkstack(H, 4))
            goto refuse;
        lua_rawgeti(H, LUA_REGISTRYINDEX, t->script_table_ref);
        int rc = make_vm(s, H, lua_gettop(H), err, sizeof err);
        lua_pop(H, 1);
        if (rc != FL_OK)
            goto refuse;
    }
    set_ident(s, &ec->session);
    struct fl_engine_hooks hooks;
    build_hooks(s, &hooks);
    fl_engine_session_set_hooks(created, &hooks);
    s->next = eng->sessions;
    eng->sessions = s;
    if (fl_lua_session_bind(s) != FL_OK)
        return;
    sched_start(s);
    say(s, "info", "created from template '%s' for a Logon from %s", t->name,
        ec->session.target_comp_id);
    notify(s, FL_CB_ON_CREATE, NULL);
    return;
refuse:
    if (err[0])
        say(t, "error", "cannot create a session for %s: %s", ec->session.target_comp_id, err);
    if (s) {
        s->es = NULL;
        sess_free(s);
    }
    /* Nobody to decide for it: the created session refuses its Logon. */
    struct fl_engine_hooks none;
    memset(&none, 0, sizeof none);
    none.validate_logon = hook_refuse_logon;
    fl_engine_session_set_hooks(created, &none);
    fl_engine_session_disconnect(created, "session could not be set up");
}

/* ---- engine methods ---- */

/* Engine lines that belong to no session (a refused or silent connection, a failed TLS
 * handshake before routing, a journal repaired): on stderr as the sessions' lines are. */
static void engine_log(void *ctx, const char *level, const char *text)
{
    struct fl_lua_engine *eng = ctx;
    int important = strcmp(level, "ERROR") == 0 || strcmp(level, "WARN") == 0;
    if (eng->log_stderr > 0 || (eng->log_stderr == 0 && important)) {
        char ts[32];
        stamp(ts, sizeof ts);
        fprintf(stderr, "%s %-5s [engine] %s\n", ts,
                strcmp(level, "ERROR") == 0 ? "error" : strcmp(level, "WARN") == 0 ? "warn" : "info",
                text);
    }
}

/* fixlua._engine(normalised_config) -> engine; fixlua.engine{} (init.lua) checks the config. */
static int engine_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct fl_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.manual_clock = opt_bool(L, 1, "manual_clock", 0) > 0;
    cfg.start_time = (int64_t)(opt_num(L, 1, "start_time", 0) * 1e9);
    cfg.tick_ms = (int)opt_num(L, 1, "tick_ms", 0);
    /* log_stderr: true every line (the runner), false nothing, absent errors and warnings */
    int log_stderr = opt_bool(L, 1, "log_stderr", 0);
    double warn_ms = opt_num(L, 1, "script_warn_ms", -1);

    struct engine_box *b = lua_newuserdata(L, sizeof *b); /* stack: cfg, box */
    b->eng = NULL;
    b->owner = 1;
    luaL_getmetatable(L, FL_LUA_MT_ENGINE);
    lua_setmetatable(L, -2);
    struct fl_lua_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return luaL_error(L, "fixlua: out of memory");
    b->eng = eng; /* the box's __gc frees it from here on */
    eng->refs = 1;
    eng->log_stderr = log_stderr;
    eng->script_warn_ms = warn_ms;
    eng->host_L = L;
    cfg.log = engine_log;
    cfg.log_ctx = eng;
    char err[1024] = "";
    int rc = fl_engine_new(&cfg, &eng->e, err, sizeof err);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, err[0] ? err : "cannot create the engine");
    lua_getfield(L, 1, "sessions");
    if (lua_istable(L, -1)) {
        int st = lua_gettop(L);
        size_t n = lua_objlen(L, st);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, st, (int)i);
            if (!add_session(L, eng, lua_gettop(L), err, sizeof err)) {
                char msg[1400];
                lua_getfield(L, -1, "name");
                const char *nm = lua_isstring(L, -1) ? lua_tostring(L, -1) : "?";
                char prefix[300];
                snprintf(prefix, sizeof prefix, "session '%.250s'", nm);
                if (strncmp(err, prefix, strlen(prefix)) == 0)
                    snprintf(msg, sizeof msg, "%s", err);
                else
                    snprintf(msg, sizeof msg, "%s: %s", prefix, err);
                return fl_lua_push_fail(L, FL_EINVAL, msg);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return 1; /* the box */
}

static void engine_close(struct fl_lua_engine *eng)
{
    if (!eng->e)
        return;
    struct fl_engine *e = eng->e;
    fl_engine_free(e); /* on_free hooks free every binding */
    eng->e = NULL;
}

static int in_callback(const struct fl_lua_engine *eng);

void fl_lua_engine_close_if_idle(struct fl_lua_engine *eng, lua_State *L)
{
    if (eng && eng->close_when_idle && !in_callback(eng)) {
        eng->close_when_idle = 0;
        eng->host_L = L;
        engine_close(eng);
        fl_lua_engine_unref(eng); /* the collected object's reference, kept for this */
    }
}

#define FL_LUA_MT_CLOSER "fixlua.engine_closer"

/* A garbage userdata whose finalizer closes an engine put off by close_when_idle: nothing
 * holds it, so the next collection cycle runs it, and a cycle that comes inside a callback
 * again leaves another (lua_close runs the last at the latest). */
static void defer_close(lua_State *L, struct fl_lua_engine *eng)
{
    struct fl_lua_engine **c = lua_newuserdata(L, sizeof *c);
    *c = eng;
    eng->refs++; /* its own: a session method call may close and release the engine first */
    luaL_getmetatable(L, FL_LUA_MT_CLOSER);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

static int closer_gc(lua_State *L)
{
    struct fl_lua_engine **c = lua_touserdata(L, 1);
    struct fl_lua_engine *eng = *c;
    if (!eng)
        return 0;
    *c = NULL;
    if (eng->close_when_idle) {
        if (in_callback(eng))
            defer_close(L, eng);
        else
            fl_lua_engine_close_if_idle(eng, L);
    }
    fl_lua_engine_unref(eng);
    return 0;
}

static int engine_gc(lua_State *L)
{
    struct engine_box *b = lua_touserdata(L, 1);
    if (!b->eng)
        return 0;
    if (b->owner) {
        /* Collected while a callback runs (a host call through a session object, with the
         * engine object already dropped): freeing now would pull the engine from under the
         * C frames of that call. It closes at the next call of a session method, or at the
         * next collection outside a callback (defer_close). */
        if (in_callback(b->eng)) {
            b->eng->close_when_idle = 1;
            defer_close(L, b->eng);
            b->eng = NULL; /* its reference goes with the deferred close */
            return 0;
        }
        b->eng->host_L = L;
        engine_close(b->eng);
    }
    fl_lua_engine_unref(b->eng);
    b->eng = NULL;
    return 0;
}

/* 1 while a script of eng's sessions is inside a callback: from the loop, or from a host
 * call that runs one (send -> on_outbound, disconnect -> on_disconnect...). */
static int in_callback(const struct fl_lua_engine *eng)
{
    if (eng->running)
        return 1;
    for (const struct fl_lua_sess *s = eng->sessions; s; s = s->next)
        if (s->vm && s->vm->depth > 0)
            return 1;
    return 0;
}

static int engine_close_m(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "close");
    if (in_callback(eng))
        return luaL_error(L, "fixlua: engine:close() inside a callback; use engine:stop()");
    eng->host_L = L;
    engine_close(eng);
    return 0;
}

static int engine_add_session(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "add_session");
    luaL_checktype(L, 2, LUA_TTABLE);
    char err[1024] = "";
    struct fl_lua_sess *s = add_session(L, eng, 2, err, sizeof err);
    if (!s)
        return fl_lua_push_fail(L, FL_EINVAL, err);
    fl_lua_session_push(L, s);
    return 1;
}

static int engine_start(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "start");
    eng->host_L = L;
    char err[1024] = "";
    int rc = fl_engine_start(eng->e, err, sizeof err);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int engine_run(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "run");
    eng->host_L = L;
    eng->running++;
    int rc = fl_engine_run(eng->e);
    eng->running--;
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, "event loop failed");
    lua_pushboolean(L, 1);
    return 1;
}

/* engine:run_once([block]) -> true, or false once the engine has stopped */
static int engine_run_once(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "run_once");
    eng->host_L = L;
    eng->running++;
    int rc = fl_engine_run_once(eng->e, lua_toboolean(L, 2));
    eng->running--;
    if (rc == FL_ECLOSED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, "event loop failed");
    lua_pushboolean(L, 1);
    return 1;
}

/* engine:advance(seconds): manual clock only */
static int engine_advance(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "advance");
    lua_Number sec = luaL_checknumber(L, 2);
    eng->host_L = L;
    eng->running++;
    int rc = fl_engine_advance(eng->e, (int64_t)(sec * 1e9));
    eng->running--;
    if (rc != FL_OK)
        return luaL_error(L, "fixlua: engine:advance() needs manual_clock = true");
    lua_pushboolean(L, 1);
    return 1;
}

static int engine_now(lua_State *L)
{
    struct fl_lua_engine *eng = check_engine(L, 1);
    lua_pushnumber(L, (lua_Number)fl_engine_now(eng->e) / 1e9);
    return 1;
}

static int engine_shutdown(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "shutdown");
    lua_Number grace = luaL_optnumber(L, 2, 5);
    eng->host_L = L;
    fl_engine_shutdown(eng->e, (int)(grace * 1000));
    return 0;
}

static int engine_stop(lua_State *L)
{
    struct fl_lua_engine *eng = check_engine(L, 1);
    fl_engine_stop(eng->e);
    return 0;
}

static int engine_stopped(lua_State *L)
{
    struct engine_box *b = check_engine_box(L, 1);
    lua_pushboolean(L, !b->eng || !b->eng->e || fl_engine_stopped(b->eng->e));
    return 1;
}

static int engine_handle_signals(lua_State *L)
{
    struct fl_lua_engine *eng = check_owner(L, 1, "handle_signals");
    lua_Number grace = luaL_optnumber(L, 2, 5);
    int rc = fl_engine_handle_signals(eng->e, (int)(grace * 1000));
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, "cannot install signal handlers");
    lua_pushboolean(L, 1);
    return 1;
}

static struct fl_lua_sess *find_arg(lua_State *L, struct fl_lua_engine *eng, int idx)
{
    const char *name = luaL_checkstring(L, idx);
    return fl_lua_engine_find(eng, name);
}

/* engine:session(name) -> session | nil */
static int engine_session(lua_State *L)
{
    struct fl_lua_engine *eng = check_engine(L, 1);
    fl_lua_engine_note_caller(eng, L);
    struct fl_lua_sess *s = find_arg(L, eng, 2);
    if (!s)
        return 0;
    fl_lua_session_push(L, s);
    return 1;
}

/* engine:sessions() -> { name, ... } in creation order */
static int engine_sessions(lua_State *L)
{
    struct fl_lua_engine *eng = check_engine(L, 1);
    size_t n = fl_engine_session_count(eng->e);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, fl_engine_session_name(fl_engine_session_at(eng->e, i)));
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* engine:port(name) -> the bound port of an acceptor (listen on port 0 picks one) */
static int engine_port(lua_State *L)
{
    struct fl_lua_engine *eng = check_engine(L, 1);
    struct fl_engine_session *es = fl_engine_find_session(eng->e, luaL_checkstring(L, 2));
    if (!es)
        return 0;
    lua_pushinteger(L, fl_engine_session_port(es));
    return 1;
}

static int engine_tostring(lua_State *L)
{
    struct engine_box *b = check_engine_box(L, 1);
    if (!b->eng || !b->eng->e)
        lua_pushliteral(L, "fixlua.engine (closed)");
    else
        lua_pushfstring(L, "fixlua.engine (%d sessions)",
                        (int)fl_engine_session_count(b->eng->e));
    return 1;
}

static const luaL_Reg engine_methods[] = {
    {"add_session", engine_add_session},
    {"start", engine_start},
    {"run", engine_run},
    {"run_once", engine_run_once},
    {"advance", engine_advance},
    {"now", engine_now},
    {"shutdown", engine_shutdown},
    {"stop", engine_stop},
    {"stopped", engine_stopped},
    {"close", engine_close_m},
    {"handle_signals", engine_handle_signals},
    {"session", engine_session},
    {"sessions", engine_sessions},
    {"port", engine_port},
    {NULL, NULL},
};

/* fixlua.sleep(seconds): for tools and tests that poll the loop without a busy wait. */
static int mod_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* fixlua.clock(): monotonic seconds (for rates and progress lines) */
static int mod_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* fixlua._check_script(path [, begin_string]) -> true, warnings, callbacks | nil, err */
struct check_log {
    char text[8192];
    size_t len;
};

static void check_log_fn(void *ctx, const char *level, const char *text)
{
    struct check_log *cl = ctx;
    (void)level;
    int n = snprintf(cl->text + cl->len, sizeof cl->text - cl->len, "%s\n", text);
    if (n > 0 && cl->len + (size_t)n < sizeof cl->text)
        cl->len += (size_t)n;
}

static int mod_check_script(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *bs = luaL_optstring(L, 2, "FIX.4.4");
    struct fl_dict *d = NULL;
    if (fl_dict_builtin(bs, &d) != FL_OK)
        return fl_lua_push_fail(L, FL_EINVAL, "unknown begin_string");
    struct check_log cl;
    cl.len = 0;
    cl.text[0] = 0;
    struct fl_lua_vm *vm = NULL;
    char err[4096] = "";
    uint64_t present = 0;
    int rc = fl_lua_vm_new_file(path, d, check_log_fn, &cl, &vm, err, sizeof err);
    if (rc == FL_OK) {
        present = vm->present;
        fl_lua_vm_free(vm);
    }
    fl_dict_free(d);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, err);
    lua_pushboolean(L, 1);
    lua_pushlstring(L, cl.text, cl.len);
    lua_newtable(L);
    int k = 0;
    for (int i = 0; i < FL_CB__COUNT; i++)
        if ((present >> i) & 1u) {
            lua_pushstring(L, fl_lua_cb_name(i));
            lua_rawseti(L, -2, ++k);
        }
    return 3;
}

/* fixlua.callbacks() -> the list of callback names */
static int mod_callbacks(lua_State *L)
{
    lua_createtable(L, FL_CB__COUNT, 0);
    for (int i = 0; i < FL_CB__COUNT; i++) {
        lua_pushstring(L, fl_lua_cb_name(i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* fixlua._tz_check(name) -> true, or nil and why the zone cannot be used */
static int mod_tz_check(lua_State *L)
{
    struct fl_tz *tz = NULL;
    char why[512];
    if (fl_tz_load(luaL_checkstring(L, 1), NULL, &tz, why, sizeof why) != FL_OK) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    fl_tz_free(tz);
    lua_pushboolean(L, 1);
    return 1;
}

/* fixlua._schedule(weekly, start_s, stop_s, tz, t) -> inside, next boundary, whether it opens:
 * the engine's own window arithmetic, for fixlua.schedule and its specs. */
static int mod_schedule(lua_State *L)
{
    struct fl_schedule w = {.weekly = lua_toboolean(L, 1),
                            .start_s = (int64_t)luaL_checknumber(L, 2),
                            .stop_s = (int64_t)luaL_checknumber(L, 3)};
    const char *name = luaL_checkstring(L, 4);
    lua_Number tn = luaL_checknumber(L, 5);
    if (!(tn > -1e13 && tn < 1e13)) /* NaN too; about 300,000 years either way */
        return luaL_argerror(L, 5, "a time in seconds since the epoch");
    int64_t t = (int64_t)floor(tn);
    struct fl_tz *tz = NULL;
    char why[512];
    if (fl_tz_load(name, NULL, &tz, why, sizeof why) != FL_OK)
        return luaL_error(L, "fixlua: %s", why);
    w.tz = tz;
    int opens;
    int inside = fl_schedule_inside(&w, t);
    int64_t next = fl_schedule_next(&w, t, &opens);
    fl_tz_free(tz);
    lua_pushboolean(L, inside);
    lua_pushnumber(L, (lua_Number)next);
    lua_pushboolean(L, opens);
    return 3;
}

void fl_lua_engine_open(lua_State *L)
{
    /* stack: M */
    luaL_newmetatable(L, FL_LUA_MT_ENGINE);
    lua_createtable(L, 0, 16);
    luaL_register(L, NULL, engine_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "_engine_methods"); /* the Lua half wraps some of them */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, engine_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, engine_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_newmetatable(L, FL_LUA_MT_CLOSER);
    lua_pushcfunction(L, closer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_pushcfunction(L, engine_new);
    lua_setfield(L, -2, "_engine");
    lua_pushcfunction(L, mod_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, mod_clock);
    lua_setfield(L, -2, "clock");
    lua_pushcfunction(L, mod_check_script);
    lua_setfield(L, -2, "_check_script");
    lua_pushcfunction(L, mod_callbacks);
    lua_setfield(L, -2, "callbacks");
    lua_pushcfunction(L, mod_tz_check);
    lua_setfield(L, -2, "_tz_check");
    lua_pushcfunction(L, mod_schedule);
    lua_setfield(L, -2, "_schedule");
}
