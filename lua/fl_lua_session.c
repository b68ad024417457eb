/* fixlua — "fixlua.session": the object every callback receives, and session handles.
 *
 * A session's own box is created once in its script's state and pinned by a registry ref, so
 * the same object reaches every callback (== and table keys work); it points at the binding
 * (struct fl_lua_sess, fl_lua_int.h) and is cleared when the session is freed, after which any
 * use raises "session is closed". Other states (the host of a busted spec, another session's
 * script) get a handle that names the session and looks it up on each call; values sent through
 * it are copied (encoded to FIX) in the caller's state. Timers (session:after/every) run their
 * function through the session's protected trampoline (fl_lua.c). */
#include "fl_lua_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "fl_tags.h"

#define NS_PER_SEC 1000000000.0

struct session_box {
    struct fl_lua_sess *s;        /* own box: the session, NULL once freed */
    struct fl_lua_engine *eng;    /* handle: the engine (a reference is held) */
    int own;
    char name[];                  /* handle: the session's name */
};

struct timer_box {
    struct fl_lua_timer *t;       /* NULL once the timer is done or cancelled */
};

/* ---- boxes ---- */

static int bind_box(lua_State *L)
{
    struct fl_lua_sess *s = lua_touserdata(L, 1);
    struct session_box *b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, FL_LUA_MT_SESSION);
    lua_setmetatable(L, -2);
    b->own = 1;
    b->s = s;
    fl_lua_vm_set_session(s->vm, L, -1);
    return 0;
}

int fl_lua_session_bind(struct fl_lua_sess *s)
{
    if (!s->vm)
        return FL_OK;
    lua_State *L = fl_lua_vm_state(s->vm);
    return lua_cpcall(L, bind_box, s) == 0 ? FL_OK : FL_ENOMEM;
}

static void timer_release(struct fl_lua_timer *t, lua_State *L)
{
    if (L) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->handle_ref);
        struct timer_box *tb = lua_touserdata(L, -1);
        if (tb)
            tb->t = NULL;
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, t->fn_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, t->handle_ref);
    }
    free(t);
}

static void timer_unlink(struct fl_lua_timer *t)
{
    for (struct fl_lua_timer **p = &t->s->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

void fl_lua_session_stop_timers(struct fl_lua_sess *s)
{
    for (struct fl_lua_timer *t = s->timers; t; t = t->next) {
        if (s->eng->e)
            fl_engine_timer_cancel(s->eng->e, t->id);
        t->cancelled = 1; /* (one firing now releases itself when it returns) */
    }
}

void fl_lua_session_unbind(struct fl_lua_sess *s)
{
    lua_State *L = s->vm ? fl_lua_vm_state(s->vm) : NULL;
    if (L && !lua_checkstack(L, 4))
        L = NULL;
    while (s->timers) {
        struct fl_lua_timer *t = s->timers;
        s->timers = t->next;
        if (s->eng->e)
            fl_engine_timer_cancel(s->eng->e, t->id);
        timer_release(t, L);
    }
    if (L && s->vm->ref_session != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->ref_session);
        struct session_box *b = lua_touserdata(L, -1);
        if (b)
            b->s = NULL;
        lua_pop(L, 1);
    }
}

void fl_lua_session_push(lua_State *L, struct fl_lua_sess *s)
{
    if (s->vm && s->vm->ref_session != LUA_NOREF && fl_lua_ctx_get(L) == s->vm->ctx) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->ref_session);
        return;
    }
    size_t n = strlen(s->name);
    struct session_box *b = lua_newuserdata(L, sizeof *b + n + 1);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, FL_LUA_MT_SESSION);
    lua_setmetatable(L, -2);
    memcpy(b->name, s->name, n + 1);
    b->eng = s->eng;
    s->eng->refs++;
}

static int session_gc(lua_State *L)
{
    struct session_box *b = lua_touserdata(L, 1);
    /* The last of an engine's objects to go closes an engine whose own object was collected
     * inside a callback, if none runs now. */
    if (b->own && b->s)
        fl_lua_engine_close_if_idle(b->s->eng, L);
    if (!b->own && b->eng) {
        fl_lua_engine_close_if_idle(b->eng, L);
        fl_lua_engine_unref(b->eng);
        b->eng = NULL;
    }
    return 0;
}

static struct fl_lua_sess *check_sess(lua_State *L, int idx)
{
    struct session_box *b = luaL_checkudata(L, idx, FL_LUA_MT_SESSION);
    struct fl_lua_sess *s;
    if (b->own) {
        if (b->s)
            fl_lua_engine_close_if_idle(b->s->eng, L); /* (may free the session) */
        s = b->s;
        if (!s)
            luaL_error(L, "fixlua: session is closed");
    } else {
        fl_lua_engine_close_if_idle(b->eng, L);
        if (!b->eng || !b->eng->e)
            luaL_error(L, "fixlua: engine is closed");
        s = fl_lua_engine_find(b->eng, b->name);
        if (!s)
            luaL_error(L, "fixlua: session '%s' is closed", b->name);
    }
    if (!s->es)
        luaL_error(L, "fixlua: session '%s' is closed", s->name);
    fl_lua_engine_note_caller(s->eng, L);
    return s;
}

static struct fl_session *fsm_of(lua_State *L, struct fl_lua_sess *s)
{
    struct fl_session *f = fl_engine_session_fsm(s->es);
    if (!f)
        luaL_error(L, "fixlua: session '%s' has no state machine (a \"*\" template)", s->name);
    return f;
}

static int64_t now_of(struct fl_lua_sess *s)
{
    return fl_engine_now(fl_engine_session_engine(s->es));
}

/* ---- methods ---- */

/* session:send(msg | table) -> true | nil, err, code */
static int sess_send(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    if (lua_isnoneornil(L, 2))
        return luaL_argerror(L, 2, "a message or a table with MsgType");
    struct fl_lua_encoded enc;
    fl_lua_encode(L, 2, s->dict, &enc);
    int rc = fl_engine_session_send(s->es, enc.type, enc.type_len, enc.hdr_len ? enc.hdr : NULL,
                                    enc.hdr_len, enc.body, enc.body_len);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, rc == FL_EAGAIN ? "output queue full" : NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the compiled send path (lua/fixlua/fast.lua) ----
 * fast.lua encodes a flat message table in Lua, which LuaJIT compiles, into an arena of the
 * state's context: a table of a shape it has compiled (lua/fixlua/shape.lua) from session:send
 * itself, sent through fl_lua_fast_send() in a session's own state; anything else from
 * sess_send_fast(). Anything unusual (groups, timestamps given as numbers, empty values,
 * handles of other states) goes to sess_send(), which also raises the errors. */

/* FFI: fast.lua's arena grown to at least n bytes (contents kept), or NULL when out of memory. */
char *fl_lua_fast_reserve(struct fl_lua_ctx *ctx, size_t n)
{
    if (n > ctx->fast_scratch_cap) {
        char *p = realloc(ctx->fast_scratch, n);
        if (!p)
            return NULL;
        ctx->fast_scratch = p;
        ctx->fast_scratch_cap = n;
    }
    return ctx->fast_scratch;
}

/* send_items() and send_written(): let the C encoder send the table. Positive, so that no
 * fl_err code (FL_ENOMEM is -1) reads as it. */
#define FAST_DECLINED 1

static size_t count_soh(const char *p, size_t n)
{
    size_t c = 0, i = 0;
#ifdef __SSE2__
    /* Matches count down a byte lane each (-1 per SOH); lanes are summed every 255 blocks. */
    const __m128i soh = _mm_set1_epi8(1), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i acc = zero;
        for (int b = 0; b < 255 && i + 16 <= n; b++, i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, soh));
        }
        __m128i sums = _mm_sad_epu8(acc, zero);
        c += (size_t)_mm_cvtsi128_si32(sums) + (size_t)_mm_extract_epi16(sums, 4);
    }
#endif
    for (; i < n; i++)
        c += p[i] == 1;
    return c;
}

/* Copies the items in `order` from the arena to ctx->fast_out, checking each against the arena
 * (with the FL_LUA_FAST_SLACK bytes fast.lua reserved behind it: the copies move 16 bytes at a
 * time), the output's room, and, given prev_tags, against the tags of the last send. Returns
 * the bytes written, with *hl the header's length, or (size_t)-1 when a check fails. */
static size_t copy_items(struct fl_lua_ctx *ctx, const uint16_t *order, size_t n,
                         const uint32_t *prev_tags, size_t *hl)
{
    /* Locals: the copies could alias ctx's fields as far as the compiler knows. */
    const struct fl_lua_fast_item *it = ctx->fast_items;
    const char *arena = ctx->fast_scratch;
    char *out = ctx->fast_out;
    size_t arena_cap = ctx->fast_scratch_cap, out_cap = ctx->fast_out_cap, w = 0, h = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fl_lua_fast_item *f = &it[order[i]];
        size_t off = f->off, len = f->len;
        if (off > arena_cap || len + FL_LUA_FAST_SLACK > arena_cap - off ||
            len + FL_LUA_FAST_SLACK > out_cap - w || (prev_tags && f->tag != prev_tags[order[i]]))
            return (size_t)-1;
        for (size_t k = 0; k < len; k += 16)
            memcpy(out + w + k, arena + off + k, 16);
        w += len;
        if (f->kind == 1)
            h = w;
    }
    *hl = h;
    return w;
}

/* Sends the n fields fast.lua wrote (ctx->fast_items over ctx->fast_scratch), header fields
 * first, each part in tag order (a stable sort, as the C encoder's). Returns FL_OK or an error
 * code, or FAST_DECLINED; raises only on a corrupt item list. */
static int send_items(lua_State *L, struct fl_lua_ctx *ctx, struct fl_lua_sess *s, const char *t,
                      size_t tn, size_t n)
{
    if (n > FL_LUA_FAST_ITEMS || (n > 0 && !ctx->fast_items))
        luaL_error(L, "fixlua: bad encoded field count");
    const struct fl_lua_fast_item *it = ctx->fast_items;
    uint16_t *order = ctx->fast_order;
    size_t hl = 0, w = (size_t)-1;
    /* A script sends the same shapes again and again, and a table built by the same
     * constructor yields its fields in the same order: then the last sort still holds, and
     * one pass checks and copies. */
    if (n == ctx->fast_prev_n)
        w = copy_items(ctx, order, n, ctx->fast_prev_tags, &hl);
    if (w == (size_t)-1) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            const struct fl_lua_fast_item *f = &it[i];
            if (f->off > ctx->fast_scratch_cap ||
                f->len + FL_LUA_FAST_SLACK > ctx->fast_scratch_cap - f->off || f->tag >= 1u << 30)
                luaL_error(L, "fixlua: encoded field outside the scratch arena");
            total += f->len;
        }
        /* Sort keys: header before body, then tag (< 2^30), then the item's index (stability). */
        uint64_t keys[FL_LUA_FAST_ITEMS];
        for (size_t i = 0; i < n; i++) {
            uint64_t k = ((uint64_t)(it[i].kind != 1) << 46) | ((uint64_t)it[i].tag << 16) | i;
            size_t j = i;
            while (j > 0 && keys[j - 1] > k) {
                keys[j] = keys[j - 1];
                j--;
            }
            keys[j] = k;
        }
        for (size_t i = 0; i < n; i++) {
            order[i] = (uint16_t)(keys[i] & 0xffff);
            ctx->fast_prev_tags[i] = it[i].tag;
        }
        ctx->fast_prev_n = n;
        if (total + FL_LUA_FAST_SLACK > ctx->fast_out_cap) {
            size_t cap = total < 1024 ? 2048 : total * 2;
            char *p = realloc(ctx->fast_out, cap);
            if (!p)
                return FL_ENOMEM;
            ctx->fast_out = p;
            ctx->fast_out_cap = cap;
        }
        w = copy_items(ctx, order, n, NULL, &hl);
        if (w == (size_t)-1) /* cannot be: checked above, with room for the total */
            luaL_error(L, "fixlua: bad encoded field list");
    }
    /* Each field ends in the SOH fast.lua wrote: any other SOH is inside a value, which the C
     * encoder then reports. */
    if (count_soh(ctx->fast_out, w) != n)
        return FAST_DECLINED;
    return fl_engine_session_send(s->es, t, tn, hl ? ctx->fast_out : NULL, hl,
                                  ctx->fast_out + hl, w - hl);
}

/* Sends the n fields a compiled shape (lua/fixlua/shape.lua) wrote to the arena, already in
 * order: the extra header fields in its first hl bytes, the body in the rest of len. Declines
 * what is not that (a value holding an SOH shows as one SOH too many). */
static int send_written(struct fl_lua_ctx *ctx, struct fl_engine_session *es, const char *t,
                        size_t tn, size_t n, size_t len, size_t hl)
{
    const char *arena = ctx->fast_scratch;
    if (!arena || hl > len || len > ctx->fast_scratch_cap || count_soh(arena, len) != n)
        return FAST_DECLINED;
    return fl_engine_session_send(es, t, tn, hl ? arena : NULL, hl, arena + hl, len - hl);
}

/* For fast.lua's session:send, through the FFI, in a state that owns its session (the common
 * case compiles into the script's callback with no C API call): sends what a compiled shape
 * wrote, as send_written(). `b` is a session box (fast.lua checked its metatable). Returns FL_OK,
 * or anything else for session:send to take the C path, which does it again and says what is
 * wrong. Never raises.
 * Only while the session is batching (in a callback of its input, or of a send): then the send
 * is staged and nothing calls back into the state before this returns. A send from a timer
 * would flush at once, through hooks that run the script's on_outbound or on_backpressure, and
 * Lua must not be entered from inside an FFI call; the C path is made for that. */
int32_t fl_lua_fast_send(struct fl_lua_ctx *ctx, const void *box, const char *t, size_t tn,
                         uint32_t n, uint32_t len, uint32_t hl);
int32_t fl_lua_fast_send(struct fl_lua_ctx *ctx, const void *box, const char *t, size_t tn,
                         uint32_t n, uint32_t len, uint32_t hl)
{
    const struct session_box *b = box;
    if (!ctx->vm || !b->own || !b->s || !b->s->es || !b->s->dict ||
        !fl_engine_session_batching(b->s->es))
        return FAST_DECLINED;
    return send_written(ctx, b->s->es, t, tn, n, len, hl);
}

/* session:send with fast.lua's encoder (upvalue 1): a flat table sent on the session's own box
 * is encoded by it (compiled Lua), anything else by sess_send() and fl_lua_encode(). Upvalue 2
 * is the session metatable, 3 the state's context. Arguments 3 and 4, from fast.lua's
 * session:send, are passed on to the encoder (the session's cache and the wire MsgType). */
static int sess_send_fast(lua_State *L)
{
    struct session_box *b = lua_touserdata(L, 1);
    int fast = 0;
    if (b && lua_istable(L, 2) && lua_getmetatable(L, 1)) {
        fast = lua_rawequal(L, -1, lua_upvalueindex(2)) && b->own && b->s && b->s->es &&
               b->s->dict;
        lua_pop(L, 1);
    }
    if (!fast)
        return sess_send(L); /* which also raises whatever is wrong */
    struct fl_lua_sess *s = b->s;
    struct fl_lua_ctx *ctx = lua_touserdata(L, lua_upvalueindex(3));
    if (!ctx->vm) /* fl_lua_engine_note_caller() without looking the context up */
        s->eng->host_L = L;
    lua_settop(L, 4); /* session, t, and what fast.lua's session:send knew: cache, wire type */
    lua_pushvalue(L, lua_upvalueindex(1));
    for (int i = 1; i <= 4; i++)
        lua_pushvalue(L, i);
    /* stack: session, t, cache, wire, then: wire type | nil, field count, and for a table
     * its compiled shape wrote, the bytes written and the header's length */
    lua_call(L, 4, 4);
    int rc = FAST_DECLINED;
    if (lua_type(L, 5) == LUA_TSTRING) {
        size_t tn;
        const char *t = lua_tolstring(L, 5, &tn);
        if (lua_type(L, 7) == LUA_TNUMBER)
            rc = send_written(ctx, s->es, t, tn, (size_t)lua_tointeger(L, 6),
                              (size_t)lua_tointeger(L, 7), (size_t)lua_tointeger(L, 8));
        else
            rc = send_items(L, ctx, s, t, tn, (size_t)lua_tointeger(L, 6));
    }
    if (rc == FAST_DECLINED) {
        lua_settop(L, 2);
        return sess_send(L);
    }
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, rc == FL_EAGAIN ? "output queue full" : NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* Registry key of the encoder of the state: one per context, however often the module is
 * opened in the state (busted re-requires it per file), since the arena pointer it keeps is
 * valid only while no other encoder grows the same arena. */
static const char encoder_key = 'E';

/* make_send(encoder) -> the session:send that uses the state's encoder: this one, or the one
 * an earlier opening of the module registered. */
static int sess_make_send(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_pushlightuserdata(L, (void *)&encoder_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isfunction(L, -1)) {
        lua_replace(L, 1);
    } else {
        lua_pop(L, 1);
        lua_pushlightuserdata(L, (void *)&encoder_key);
        lua_pushvalue(L, 1);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    luaL_getmetatable(L, FL_LUA_MT_SESSION);
    lua_pushlightuserdata(L, fl_lua_ctx_get(L));
    lua_pushcclosure(L, sess_send_fast, 3);
    return 1;
}

/* field_info(session, key) -> {tag, kind, prefix, enums, timestamp} | nil: how fast.lua writes
 * a field. kind 0 body, 1 extra header, 2 not the script's to send (sess_send raises), 3
 * MsgType. enums maps enum names to wire values (false without enums). */
static int sess_field_info(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    uint32_t tag = 0;
    /* Nil, not an error, for what is no field: the encoder then leaves the table to
     * sess_send(), which raises with the script's line. */
    int kt = lua_type(L, 2);
    if (kt == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, 2);
        if (!(v >= 1 && v <= 999999999) || v != (lua_Number)(uint32_t)v)
            return 0;
    } else if (kt != LUA_TSTRING) {
        return 0;
    }
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, s->dict, &tag, 0);
    if (!tag)
        return 0;
    int sec = fl_tag_section(tag);
    int kind = tag == FL_TAG_MSG_TYPE ? 3 : fl_lua_engine_owned(tag) || sec == 2 ? 2 : sec == 1;
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, tag);
    lua_setfield(L, -2, "tag");
    lua_pushinteger(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushfstring(L, "%d=", (int)tag);
    lua_setfield(L, -2, "prefix");
    if (f && f->nenums) {
        lua_createtable(L, 0, (int)f->nenums);
        /* The first value of a name wins, as in fl_dict_enum_value() (some dictionaries name
         * two values alike). */
        for (uint32_t i = 0; i < f->nenums; i++) {
            lua_pushlstring(L, f->enums[i].name, f->enums[i].name_len);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (!lua_isnil(L, -1)) {
                lua_pop(L, 2);
                continue;
            }
            lua_pop(L, 1);
            lua_pushlstring(L, f->enums[i].value, f->enums[i].value_len);
            lua_rawset(L, -3);
        }
    } else {
        lua_pushboolean(L, 0);
    }
    lua_setfield(L, -2, "enums");
    lua_pushboolean(L, f && (f->type == FL_DICT_TYPE_UTCTIMESTAMP ||
                             f->type == FL_DICT_TYPE_TZTIMESTAMP));
    lua_setfield(L, -2, "timestamp");
    return 1;
}

/* message_type(session, MsgType) -> the wire value: "NewOrderSingle" -> "D". */
static int sess_message_type(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    size_t tn;
    const char *t = luaL_checklstring(L, 2, &tn);
    const struct fl_dict_message *dm = s->dict ? fl_dict_message_by_name(s->dict, t, tn) : NULL;
    if (dm)
        lua_pushlstring(L, dm->msg_type, dm->msg_type_len);
    else
        lua_pushvalue(L, 2);
    return 1;
}

static int sess_logout(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    fl_engine_session_logout(s->es, luaL_optstring(L, 2, NULL));
    return 0;
}

static int sess_disconnect(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    fl_engine_session_disconnect(s->es, luaL_optstring(L, 2, "disconnected by the script"));
    return 0;
}

static int sess_connect(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    int rc = fl_engine_session_connect(s->es);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, rc == FL_ESTATE ? "only an initiator connects" : NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int sess_send_test_request(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    enum fl_session_state st = fl_session_state(fsm_of(L, s));
    if (st != FL_STATE_ACTIVE && st != FL_STATE_RESENDING && st != FL_STATE_LOGOUT_SENT)
        return luaL_error(L, "fixlua: send_test_request() needs a logged-on session (it is %s)",
                          fl_session_state_name(st));
    char id[32];
    const char *tid = luaL_optstring(L, 2, NULL);
    if (!tid) {
        snprintf(id, sizeof id, "TEST-%lld", (long long)(now_of(s) / 1000000));
        tid = id;
    }
    fl_session_send_test_request(fsm_of(L, s), tid, now_of(s));
    lua_pushstring(L, tid);
    return 1;
}

static int sess_reset_seq_num(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    int rc = fl_session_reset(fsm_of(L, s), now_of(s));
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static uint64_t check_seq(lua_State *L, int idx)
{
    lua_Number v = luaL_checknumber(L, idx);
    if (!(v >= 1 && v < 9007199254740992.0) || v != (lua_Number)(uint64_t)v)
        luaL_argerror(L, idx, "a sequence number is an integer >= 1");
    return (uint64_t)v;
}

/* session:next_sender_seq() -> n; session:next_sender_seq(n) sets it */
static int sess_next_sender_seq(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fsm_of(L, s);
    if (!lua_isnoneornil(L, 2)) {
        int rc = fl_session_set_next_sender(f, check_seq(L, 2));
        if (rc != FL_OK)
            return fl_lua_push_fail(L, rc, NULL);
    }
    lua_pushnumber(L, (lua_Number)fl_session_next_sender(f));
    return 1;
}

static int sess_next_target_seq(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fsm_of(L, s);
    if (!lua_isnoneornil(L, 2)) {
        int rc = fl_session_set_next_target(f, check_seq(L, 2));
        if (rc != FL_OK)
            return fl_lua_push_fail(L, rc, NULL);
    }
    lua_pushnumber(L, (lua_Number)fl_session_next_target(f));
    return 1;
}

static int sess_state(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fl_engine_session_fsm(s->es);
    lua_pushstring(L, fl_session_state_name(f ? fl_session_state(f) : FL_STATE_DISCONNECTED));
    return 1;
}

static int sess_logged_on(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fl_engine_session_fsm(s->es);
    enum fl_session_state st = f ? fl_session_state(f) : FL_STATE_DISCONNECTED;
    lua_pushboolean(L, st == FL_STATE_ACTIVE || st == FL_STATE_RESENDING);
    return 1;
}

static const struct fl_session_config *scfg(struct fl_lua_sess *s)
{
    return &fl_engine_session_config(s->es)->session;
}

static int sess_role(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    lua_pushstring(L, scfg(s)->role == FL_ROLE_ACCEPTOR ? "acceptor" : "initiator");
    return 1;
}

static int sess_id(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    const struct fl_session_config *c = scfg(s);
    lua_pushfstring(L, "%s:%s->%s", c->begin_string, c->sender_comp_id, c->target_comp_id);
    return 1;
}

static int sess_name(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    lua_pushstring(L, s->name);
    return 1;
}

static int sess_begin_string(lua_State *L)
{
    lua_pushstring(L, scfg(check_sess(L, 1))->begin_string);
    return 1;
}

static int sess_sender_comp_id(lua_State *L)
{
    lua_pushstring(L, scfg(check_sess(L, 1))->sender_comp_id);
    return 1;
}

static int sess_target_comp_id(lua_State *L)
{
    lua_pushstring(L, scfg(check_sess(L, 1))->target_comp_id);
    return 1;
}

static int sess_heartbeat_interval(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fl_engine_session_fsm(s->es);
    lua_pushinteger(L, f ? fl_session_heartbeat_interval(f) : scfg(s)->heartbeat_interval);
    return 1;
}

static int sess_connected(lua_State *L)
{
    lua_pushboolean(L, fl_engine_session_connected(check_sess(L, 1)->es));
    return 1;
}

/* session:queued() -> output bytes, outbound messages held before logon, inbound out of order */
static int sess_queued(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fl_engine_session_fsm(s->es);
    lua_pushnumber(L, (lua_Number)fl_engine_session_output_queued(s->es));
    lua_pushnumber(L, f ? (lua_Number)fl_session_outbound_queued(f) : 0);
    lua_pushnumber(L, f ? (lua_Number)fl_session_inbound_queued(f) : 0);
    return 3;
}

/* session:now() -> seconds since the epoch on the engine's clock (manual in tests) */
static int sess_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)now_of(check_sess(L, 1)) / NS_PER_SEC);
    return 1;
}

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

/* session:log(level, ...) — values joined with spaces (tostring) */
static int sess_log(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    const char *level = levels[luaL_checkoption(L, 2, "info", levels)];
    int n = lua_gettop(L);
    luaL_Buffer b;
    lua_getglobal(L, "tostring");
    int ts = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = 3; i <= n; i++) {
        lua_pushvalue(L, ts);
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        if (i > 3)
            luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    fl_lua_sess_log(s, level, lua_tostring(L, -1));
    return 0;
}

static int sess_accept_logon(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fsm_of(L, s);
    if (fl_session_state(f) != FL_STATE_LOGON_PENDING)
        return luaL_error(L, "fixlua: session:accept_logon(): no logon is pending (state %s)",
                          fl_session_state_name(fl_session_state(f)));
    int rc = fl_session_accept_logon(f, now_of(s));
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int sess_reject_logon(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    struct fl_session *f = fsm_of(L, s);
    const char *reason = luaL_optstring(L, 2, "Logon rejected");
    if (fl_session_state(f) != FL_STATE_LOGON_PENDING)
        return luaL_error(L, "fixlua: session:reject_logon(): no logon is pending (state %s)",
                          fl_session_state_name(fl_session_state(f)));
    int rc = fl_session_reject_logon(f, reason, now_of(s));
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int sess_engine(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    fl_lua_engine_push_handle(L, s->eng);
    return 1;
}

static int sess_dictionary(lua_State *L)
{
    fl_lua_dict_push(L, check_sess(L, 1)->dict);
    return 1;
}

/* session:schedule_event("start" | "end"): what the schedule does at a window boundary */
static int sess_schedule_event(lua_State *L)
{
    static const char *const kinds[] = {"end", "start", NULL};
    struct fl_lua_sess *s = check_sess(L, 1);
    int start = luaL_checkoption(L, 2, NULL, kinds);
    s->sched.in_window = start;
    fl_engine_session_schedule_event(s->es, start);
    return 0;
}

/* session:stats() -> {calls=, errors=, slow=, callbacks = {name = {calls, errors, slow, max_ms}}} */
static int sess_stats(lua_State *L)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    uint64_t calls = 0, errors = 0, slow = 0;
    lua_createtable(L, 0, 4);
    lua_createtable(L, 0, 8);
    if (s->vm) {
        for (int i = 0; i < FL_CALL__COUNT; i++) {
            const struct fl_lua_cb_stats *st = &s->vm->stats[i];
            calls += st->calls;
            errors += st->errors;
            slow += st->slow;
            if (!st->calls && !st->errors)
                continue;
            lua_createtable(L, 0, 4);
            lua_pushnumber(L, (lua_Number)st->calls);
            lua_setfield(L, -2, "calls");
            lua_pushnumber(L, (lua_Number)st->errors);
            lua_setfield(L, -2, "errors");
            lua_pushnumber(L, (lua_Number)st->slow);
            lua_setfield(L, -2, "slow");
            lua_pushnumber(L, st->max_ms);
            lua_setfield(L, -2, "max_ms");
            lua_setfield(L, -2, fl_lua_cb_name(i));
        }
    }
    lua_setfield(L, -2, "callbacks");
    lua_pushnumber(L, (lua_Number)calls);
    lua_setfield(L, -2, "calls");
    lua_pushnumber(L, (lua_Number)errors);
    lua_setfield(L, -2, "errors");
    lua_pushnumber(L, (lua_Number)slow);
    lua_setfield(L, -2, "slow");
    return 1;
}

/* ---- timers ---- */

static int push_timer_handle(lua_State *L, void *arg)
{
    struct fl_lua_timer *t = arg;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->handle_ref);
    return 1;
}

static void timer_fire(void *ctx, uint64_t id)
{
    struct fl_lua_timer *t = ctx;
    struct fl_lua_sess *s = t->s;
    (void)id;
    t->firing = 1;
    struct fl_lua_call c = {.cb = FL_CALL_TIMER, .fn_ref = t->fn_ref, .push = push_timer_handle,
                            .arg = t};
    fl_lua_invoke(s->vm, &c);
    t->firing = 0;
    if (!t->every || t->cancelled) {
        if (t->every && s->eng->e)
            fl_engine_timer_cancel(s->eng->e, t->id);
        timer_unlink(t);
        timer_release(t, fl_lua_vm_state(s->vm));
    }
}

/* session:after(seconds, fn) / session:every(seconds, fn) -> timer; fn(session, timer) */
static int add_timer(lua_State *L, int every)
{
    struct fl_lua_sess *s = check_sess(L, 1);
    lua_Number sec = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    /* Bounded both ways: a period below a millisecond would spin the loop, and a delay past
     * 1e9 s (31 years) would overflow the nanoseconds the engine counts in. */
    if (!(sec >= (every ? 0.001 : 0)) || !(sec <= 1e9))
        return luaL_argerror(L, 2, every ? "a period of 0.001 to 1e9 seconds"
                                         : "a delay of 0 to 1e9 seconds");
    if (!s->vm || fl_lua_ctx_get(L) != s->vm->ctx)
        return luaL_error(L, "fixlua: timers belong to the session's own script (call "
                             "session:after() on the session object its callbacks receive)");
    struct timer_box *tb = lua_newuserdata(L, sizeof *tb); /* stack: ..., box */
    tb->t = NULL;
    luaL_getmetatable(L, FL_LUA_MT_TIMER);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 3);
    int fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    int handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct fl_lua_timer *t = calloc(1, sizeof *t);
    if (!t) {
        luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, handle_ref);
        return luaL_error(L, "fixlua: out of memory");
    }
    t->s = s;
    t->fn_ref = fn_ref;
    t->handle_ref = handle_ref;
    t->every = every;
    int64_t ns = (int64_t)(sec * NS_PER_SEC);
    t->id = fl_engine_timer_add(fl_engine_session_engine(s->es), ns, every ? ns : 0, timer_fire, t);
    if (!t->id) {
        timer_release(t, L);
        return fl_lua_push_fail(L, FL_ENOMEM, "cannot add a timer");
    }
    t->next = s->timers;
    s->timers = t;
    tb->t = t;
    return 1;
}

static int sess_after(lua_State *L)
{
    return add_timer(L, 0);
}

static int sess_every(lua_State *L)
{
    return add_timer(L, 1);
}

/* timer:cancel() — harmless on a finished timer */
static int timer_cancel(lua_State *L)
{
    struct timer_box *tb = luaL_checkudata(L, 1, FL_LUA_MT_TIMER);
    struct fl_lua_timer *t = tb->t;
    if (!t)
        return 0;
    struct fl_lua_sess *s = t->s;
    if (s->eng->e)
        fl_engine_timer_cancel(s->eng->e, t->id);
    if (t->firing) {
        t->cancelled = 1; /* released when its function returns */
        return 0;
    }
    timer_unlink(t);
    timer_release(t, L);
    return 0;
}

static int timer_active(lua_State *L)
{
    struct timer_box *tb = luaL_checkudata(L, 1, FL_LUA_MT_TIMER);
    lua_pushboolean(L, tb->t && !tb->t->cancelled);
    return 1;
}

static int sess_tostring(lua_State *L)
{
    struct session_box *b = luaL_checkudata(L, 1, FL_LUA_MT_SESSION);
    if (b->own)
        lua_pushfstring(L, "fixlua.session %s", b->s ? b->s->name : "(closed)");
    else
        lua_pushfstring(L, "fixlua.session %s (handle)", b->name);
    return 1;
}

/* Handles to the same session compare equal (own boxes are unique anyway). */
static int sess_eq(lua_State *L)
{
    struct session_box *a = luaL_checkudata(L, 1, FL_LUA_MT_SESSION);
    struct session_box *b = luaL_checkudata(L, 2, FL_LUA_MT_SESSION);
    const char *na = a->own ? (a->s ? a->s->name : NULL) : a->name;
    const char *nb = b->own ? (b->s ? b->s->name : NULL) : b->name;
    lua_pushboolean(L, na && nb && strcmp(na, nb) == 0);
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"send", sess_send},
    {"logout", sess_logout},
    {"disconnect", sess_disconnect},
    {"connect", sess_connect},
    {"send_test_request", sess_send_test_request},
    {"reset_seq_num", sess_reset_seq_num},
    {"next_sender_seq", sess_next_sender_seq},
    {"next_target_seq", sess_next_target_seq},
    {"state", sess_state},
    {"logged_on", sess_logged_on},
    {"role", sess_role},
    {"id", sess_id},
    {"name", sess_name},
    {"begin_string", sess_begin_string},
    {"sender_comp_id", sess_sender_comp_id},
    {"target_comp_id", sess_target_comp_id},
    {"heartbeat_interval", sess_heartbeat_interval},
    {"connected", sess_connected},
    {"queued", sess_queued},
    {"now", sess_now},
    {"log", sess_log},
    {"after", sess_after},
    {"every", sess_every},
    {"accept_logon", sess_accept_logon},
    {"reject_logon", sess_reject_logon},
    {"engine", sess_engine},
    {"dictionary", sess_dictionary},
    {"schedule_event", sess_schedule_event},
    {"stats", sess_stats},
    {NULL, NULL},
};

static const luaL_Reg timer_methods[] = {
    {"cancel", timer_cancel},
    {"active", timer_active},
    {NULL, NULL},
};

void fl_lua_session_open(lua_State *L)
{
    /* stack: M */
    luaL_newmetatable(L, FL_LUA_MT_SESSION);
    lua_createtable(L, 0, 32);
    luaL_register(L, NULL, session_methods);
    /* M._fast_session = {mt, methods, make_send, field_info, message_type, reserve,
     * format_number, send, ctx, owned, items, max_items, slack, max_number} for
     * lua/fixlua/fast.lua (init.lua takes it out of M). */
    lua_createtable(L, 0, 8);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "mt");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, sess_make_send);
    lua_setfield(L, -2, "make_send");
    lua_pushcfunction(L, sess_field_info);
    lua_setfield(L, -2, "field_info");
    lua_pushcfunction(L, sess_message_type);
    lua_setfield(L, -2, "message_type");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_reserve);
    lua_setfield(L, -2, "reserve");
    lua_pushlightuserdata(L, (void *)fl_lua_format_number);
    lua_setfield(L, -2, "format_number");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_send);
    lua_setfield(L, -2, "send");
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    if (!ctx->fast_items) {
        ctx->fast_items = malloc(FL_LUA_FAST_ITEMS * sizeof *ctx->fast_items);
        ctx->fast_prev_tags = malloc(FL_LUA_FAST_ITEMS * sizeof *ctx->fast_prev_tags);
        ctx->fast_order = malloc(FL_LUA_FAST_ITEMS * sizeof *ctx->fast_order);
        if (!ctx->fast_items || !ctx->fast_prev_tags || !ctx->fast_order)
            luaL_error(L, "fixlua: out of memory"); /* the context's __gc frees what was had */
        ctx->fast_prev_n = (size_t)-1; /* no shape yet: the first send sorts (and allocates) */
    }
    lua_pushlightuserdata(L, ctx);
    lua_setfield(L, -2, "ctx");
    lua_pushboolean(L, ctx->vm != NULL); /* a session's own state: fl_lua_fast_send() serves */
    lua_setfield(L, -2, "owned");
    lua_pushlightuserdata(L, ctx->fast_items);
    lua_setfield(L, -2, "items");
    lua_pushinteger(L, FL_LUA_FAST_ITEMS);
    lua_setfield(L, -2, "max_items");
    lua_pushinteger(L, FL_LUA_FAST_SLACK);
    lua_setfield(L, -2, "slack");
    lua_pushnumber(L, FL_LUA_MAX_NUMBER);
    lua_setfield(L, -2, "max_number");
    lua_pushnumber(L, FL_LUA_MIN_NUMBER);
    lua_setfield(L, -2, "min_number");
    lua_setfield(L, -4, "_fast_session");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, session_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, sess_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, sess_eq);
    lua_setfield(L, -2, "__eq");
    lua_pop(L, 1);
    luaL_newmetatable(L, FL_LUA_MT_TIMER);
    lua_createtable(L, 0, 2);
    luaL_register(L, NULL, timer_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
