/* fixlua — "fixlua.message": borrowed views of inbound messages and owned messages.
 *
 * A view points at a parsed message (fl_msg.h) for the duration of one callback; fl_lua.c
 * clears it when the callback returns, and every method then raises "message used outside its
 * callback; use msg:copy()". An owned message (msg:copy(), fixlua.message.new("D"),
 * fixlua.message{...}, fixlua.message.parse(bytes)) holds its bytes as "tag=value<SOH>..." with
 * an fl_msg index over them, and may be edited (msg.Side = "BUY", msg:add_group(...)).
 *
 * Fields are named by tag number or by dictionary name (fl_lua_dict.c); enum values may be
 * written by name ({Side = "BUY"}). The encoder here turns a Lua table or a message into the
 * MsgType, extra header and body that fl_engine_session_send() takes; its scratch space is the
 * state's context (fl_lua.h), so nothing malloc'd is held across a raise. */
#include "fl_lua.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_group.h"
#include "fl_tags.h"

/* lua/fixlua/fast.lua reads these two through the FFI, as
 * struct { const void *m; double serial; }. */
_Static_assert(offsetof(struct fl_lua_msg, m) == 0, "fast.lua reads m first");
_Static_assert(offsetof(struct fl_lua_msg, serial) == sizeof(void *), "and serial after it");

#define SOH '\001'

/* Registry key of the group-entry metatable. */
static const char entry_mt_key = 'e';
/* Registry key of the metatable of views: the message metatable without __gc. Each callback
 * gets a view of its own (a kept view must not come back to life in a later callback), and a
 * __gc would make every one of them a finalizer for the collector to run. */
static const char view_mt_key = 'v';

/* ---- checking ---- */

static const char expired_text[] = "message used outside its callback; use msg:copy()";

/* Whether the metatable on top of the stack is one of the two message metatables; pops it.
 * `mt` is the index of the owned-message metatable, or 0 to fetch it. */
static int pop_is_message_mt(lua_State *L, int mt)
{
    if (mt)
        lua_pushvalue(L, mt);
    else
        luaL_getmetatable(L, FL_LUA_MT_MESSAGE);
    int is = lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
    if (!is) {
        lua_pushlightuserdata(L, (void *)&view_mt_key);
        lua_rawget(L, LUA_REGISTRYINDEX);
        is = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return is;
}

/* The message box at idx, expired or not, or NULL. */
static struct fl_lua_msg *box_at(lua_State *L, int idx, int mt)
{
    struct fl_lua_msg *o = lua_touserdata(L, idx);
    if (o && lua_getmetatable(L, idx) && pop_is_message_mt(L, mt))
        return o;
    return NULL;
}

struct fl_lua_msg *fl_lua_msg_check(lua_State *L, int idx)
{
    struct fl_lua_msg *o = box_at(L, idx, 0);
    if (!o)
        luaL_typerror(L, idx, FL_LUA_MT_MESSAGE);
    if (!o->m)
        luaL_error(L, "fixlua: %s", expired_text);
    return o;
}

/* Check for methods and metamethods: upvalue 1 is the owned-message metatable. */
static struct fl_lua_msg *to_msg(lua_State *L, int idx)
{
    struct fl_lua_msg *o = box_at(L, idx, lua_upvalueindex(1));
    if (!o)
        luaL_typerror(L, idx, FL_LUA_MT_MESSAGE);
    if (!o->m)
        luaL_error(L, "fixlua: %s", expired_text);
    return o;
}

static struct fl_lua_msg *to_owned(lua_State *L, int idx, const char *what)
{
    struct fl_lua_msg *o = to_msg(L, idx);
    if (!o->owned)
        luaL_error(L, "fixlua: %s: a received message is read-only; edit msg:copy()", what);
    return o;
}

/* ---- boxes ---- */

/* Pushes a new owned message box (empty; takes a ref on dict). */
static struct fl_lua_msg *push_owned(lua_State *L, struct fl_dict *dict)
{
    struct fl_lua_msg *o = lua_newuserdata(L, sizeof *o);
    memset(o, 0, sizeof *o);
    fl_msg_init(&o->own);
    luaL_getmetatable(L, FL_LUA_MT_MESSAGE);
    lua_setmetatable(L, -2);
    o->owned = 1;
    o->dict = fl_dict_ref(dict);
    return o;
}

struct fl_lua_msg *fl_lua_msg_push_view(lua_State *L, struct fl_dict *dict, int mt_index,
                                        const struct fl_msg *m)
{
    /* A view never touches `own` (only owned messages do: msg_gc, owned_set_bytes, parse),
     * so it is allocated without it: one of these is made per callback. */
    struct fl_lua_msg *o = lua_newuserdata(L, offsetof(struct fl_lua_msg, own));
    memset(o, 0, offsetof(struct fl_lua_msg, own));
    o->m = m;
    o->dict = dict;
    lua_pushvalue(L, mt_index);
    lua_setmetatable(L, -2);
    return o;
}

int fl_lua_msg_view_mt_ref(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&view_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1))
        luaL_error(L, "fixlua: the message module is not open in this state");
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

struct fl_lua_msg *fl_lua_msg_push_copy(lua_State *L, const struct fl_msg *m, struct fl_dict *dict)
{
    struct fl_lua_msg *o = push_owned(L, dict);
    if (fl_msg_clone(&o->own, m) != FL_OK)
        luaL_error(L, "fixlua: out of memory copying a message");
    o->m = &o->own;
    return o;
}

/* Replaces an owned message's bytes with p[0..n) (copied) and re-indexes. Does not raise;
 * returns FL_OK or FL_ENOMEM (the message is then unchanged). */
static int owned_set_bytes(struct fl_lua_msg *o, const char *p, size_t n)
{
    char *nb = malloc(n ? n : 1);
    if (!nb)
        return FL_ENOMEM;
    memcpy(nb, p, n);
    struct fl_msg nm;
    fl_msg_init(&nm);
    int rc = fl_msg_parse(&nm, nb, n);
    if (rc != FL_OK) {
        fl_msg_release(&nm);
        free(nb);
        return rc;
    }
    nm.owned = nb;
    fl_msg_release(&o->own);
    o->own = nm;
    o->m = &o->own;
    return FL_OK;
}

static int msg_gc(lua_State *L)
{
    struct fl_lua_msg *o = lua_touserdata(L, 1);
    if (o->owned) {
        fl_msg_release(&o->own);
        fl_dict_free(o->dict);
        o->dict = NULL;
        o->m = NULL;
    }
    return 0;
}

/* ---- scratch arena ---- */

static size_t arena_put(lua_State *L, struct fl_lua_ctx *ctx, size_t *used, const char *p, size_t n)
{
    if (fl_lua_ctx_reserve(ctx, *used + n) != 0)
        luaL_error(L, "fixlua: out of memory encoding a message");
    size_t off = *used;
    memcpy(ctx->scratch + off, p, n);
    *used += n;
    return off;
}

static struct fl_lua_item *item_add(lua_State *L, struct fl_lua_ctx *ctx, size_t *nitems)
{
    if (*nitems == ctx->items_cap) {
        size_t cap = ctx->items_cap ? ctx->items_cap * 2 : 64;
        struct fl_lua_item *ni = realloc(ctx->items, cap * sizeof *ni);
        if (!ni)
            luaL_error(L, "fixlua: out of memory encoding a message");
        ctx->items = ni;
        ctx->items_cap = cap;
    }
    struct fl_lua_item *it = &ctx->items[(*nitems)++];
    memset(it, 0, sizeof *it);
    return it;
}

/* ---- values ---- */

/* Formats a number for a FIX field: integers as integers, other values as the shortest decimal
 * that reads back the same, never with an exponent. Returns the length written to dst (64).
 *
 * The fast path finds it with one multiply per digit count: below 2^23 a double's half-spacing
 * is under 1e-9, so a p-digit decimal (p <= 8) near a rounding midpoint never reads back, and
 * the first p for which round(v * 10^p) / 10^p == v is the decimal the printf search finds. */
size_t fl_lua_format_number(char *dst, double v)
{
    if (v == floor(v) && fabs(v) < 9.2e18)
        return fl_format_int(dst, (int64_t)v);
    if (fabs(v) < 8388608.0) {
        double scale = 1;
        for (int32_t p = 1; p <= 8; p++) {
            scale *= 10;
            double r = nearbyint(v * scale);
            if (r / scale == v)
                return fl_format_decimal(dst, (struct fl_decimal){(int64_t)r, p});
        }
    }
    /* Up to 58 places: 1e-40 with its 17 significant digits (and "-0." before) fits 64. */
    for (int prec = 1; prec <= 58; prec++) {
        int n = snprintf(dst, 64, "%.*f", prec, v);
        if (n > 0 && n < 64 && strtod(dst, NULL) == v) {
            while (n > 1 && dst[n - 1] == '0')
                n--;
            return (size_t)n;
        }
    }
    /* Not reached for the values the encoders pass; still positional, never an exponent, and
     * never more than was written. */
    int n = snprintf(dst, 64, "%.58f", v);
    return n < 0 ? 0 : n > 63 ? 63 : (size_t)n;
}

static int is_timestamp_type(const struct fl_dict_field *f)
{
    return f && (f->type == FL_DICT_TYPE_UTCTIMESTAMP || f->type == FL_DICT_TYPE_TZTIMESTAMP);
}

/* Formats the Lua value at idx as the value of field `tag` into the arena; returns its offset
 * and length. Enum names become their wire values. Raises on values FIX cannot carry. */
static size_t put_value(lua_State *L, struct fl_lua_ctx *ctx, size_t *used, int idx, uint32_t tag,
                        const struct fl_dict_field *f, size_t *len)
{
    char buf[64];
    const char *p;
    size_t n;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        p = lua_tolstring(L, idx, &n);
        if (f && f->nenums) {
            const char *v;
            size_t vn;
            if (fl_dict_enum_value(f, p, n, &v, &vn) == FL_OK) {
                p = v;
                n = vn;
            }
        }
        if (n == 0)
            luaL_error(L, "fixlua: empty value for field %d (%s): FIX has no empty values", tag,
                       f ? f->name : "?");
        if (memchr(p, SOH, n))
            luaL_error(L, "fixlua: value of field %d (%s) contains SOH", tag, f ? f->name : "?");
        break;
    case LUA_TNUMBER: {
        lua_Number v = lua_tonumber(L, idx);
        if (!isfinite(v))
            luaL_error(L, "fixlua: field %d (%s): %s is not a value FIX can carry", tag,
                       f ? f->name : "?", v != v ? "NaN" : "an infinite number");
        if (!(fabs(v) < FL_LUA_MAX_NUMBER))
            luaL_error(L, "fixlua: field %d (%s): %g is beyond what FIX numbers carry (2^63)",
                       tag, f ? f->name : "?", (double)v);
        if (v != 0 && fabs(v) < FL_LUA_MIN_NUMBER && !is_timestamp_type(f))
            luaL_error(L, "fixlua: field %d (%s): %g is below what fixlua writes as a decimal "
                       "(1e-40); send the digits as a string", tag, f ? f->name : "?", (double)v);
        if (is_timestamp_type(f)) {
            /* Nanoseconds in a double are off by up to 128 ns at today's dates: rounded to the
             * millisecond written, or msg:time() sent back would lose one. */
            char tb[32];
            n = fl_format_utc_timestamp(tb, (int64_t)llround(v / 1e6) * 1000000, 3);
            memcpy(buf, tb, n);
        } else {
            n = fl_lua_format_number(buf, v);
        }
        p = buf;
        break;
    }
    case LUA_TBOOLEAN:
        buf[0] = lua_toboolean(L, idx) ? 'Y' : 'N';
        n = 1;
        p = buf;
        break;
    default:
        luaL_error(L, "fixlua: field %d (%s): a value is a string, number or boolean, got %s", tag,
                   f ? f->name : "?", luaL_typename(L, idx));
        return 0;
    }
    *len = n;
    return arena_put(L, ctx, used, p, n);
}

/* Writes "tag=" value SOH into the arena; the value is outside the arena (v) or inside it at
 * offset voff (v NULL), which survives the arena growing. */
static void put_field_at(lua_State *L, struct fl_lua_ctx *ctx, size_t *used, uint32_t tag,
                         const char *v, size_t voff, size_t n)
{
    char tb[24];
    size_t tn = fl_format_int(tb, tag);
    tb[tn++] = '=';
    if (fl_lua_ctx_reserve(ctx, *used + tn + n + 1) != 0)
        luaL_error(L, "fixlua: out of memory encoding a message");
    char *w = ctx->scratch + *used;
    memcpy(w, tb, tn);
    memmove(w + tn, v ? v : ctx->scratch + voff, n);
    w[tn + n] = SOH;
    *used += tn + n + 1;
}

static void put_field(lua_State *L, struct fl_lua_ctx *ctx, size_t *used, uint32_t tag,
                      const char *v, size_t n)
{
    put_field_at(L, ctx, used, tag, v, 0, n);
}

int fl_lua_engine_owned(uint32_t tag)
{
    switch (tag) {
    case 8: case 9: case 10: case 34: case 35: case 43: case 49: case 52: case 56: case 89:
    case 93: case 97: case 122:
        return 1;
    default:
        return 0;
    }
}

static const struct fl_group_def *find_group(const struct fl_dict *d, const char *mt, size_t mtn,
                                             uint32_t count_tag)
{
    const struct fl_group_def *g = d ? fl_dict_group(d, mt, mtn, count_tag) : NULL;
    if (!g && d)
        g = fl_dict_group(d, NULL, 0, count_tag);
    if (!g)
        g = fl_group_builtin(count_tag, mt, mtn);
    return g;
}

/* Stable insertion sort by order: a message has tens of fields, and glibc's qsort (a merge
 * sort with a temporary buffer) cost more than the rest of encoding. */
static void sort_items(struct fl_lua_item *items, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct fl_lua_item x = items[i];
        size_t j = i;
        while (j > 0 && items[j - 1].order > x.order) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = x;
    }
}

static uint32_t member_order(const struct fl_group_def *def, uint32_t tag)
{
    for (uint32_t i = 0; i < def->nmembers; i++)
        if (def->members[i] == tag)
            return i;
    return 1000000u + tag;
}

struct enc {
    struct fl_lua_ctx *ctx;
    const struct fl_dict *dict;
    const char *mt;
    size_t mtn;
    size_t used;           /* arena bytes in use */
    size_t nitems;         /* items in use */
    int top;               /* 1 at message level (MsgType and header fields handled) */
};

static void encode_group(lua_State *L, struct enc *e, int vidx, uint32_t count_tag,
                         const struct fl_dict_field *f, size_t *off, size_t *len, int depth);

/* Collects the fields of the table at idx into items [first, e->nitems). */
static void collect(lua_State *L, struct enc *e, int idx, const struct fl_group_def *def, int depth)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    luaL_checkstack(L, 6, "fixlua: message too deep");
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* stack: key, value */
        uint32_t tag;
        const struct fl_dict_field *f = fl_lua_field_at(L, -2, e->dict, &tag, 1);
        if (e->top && tag == FL_TAG_MSG_TYPE) {
            lua_pop(L, 1);
            continue;
        }
        if (e->top && (fl_lua_engine_owned(tag) || fl_tag_section(tag) == 2))
            luaL_error(L, "fixlua: field %d (%s) is written by the engine", tag,
                       f ? f->name : "?");
        size_t off, len;
        int is_group = 0;
        if (lua_istable(L, -1)) {
            encode_group(L, e, lua_gettop(L), tag, f, &off, &len, depth + 1);
            is_group = 1;
        } else {
            off = put_value(L, e->ctx, &e->used, lua_gettop(L), tag, f, &len);
        }
        struct fl_lua_item *it = item_add(L, e->ctx, &e->nitems);
        it->tag = tag;
        it->off = off;
        it->len = len;
        it->is_group = is_group;
        it->order = def ? member_order(def, tag) : tag;
        lua_pop(L, 1);
    }
}

/* Writes items [first, e->nitems) sorted, into the arena; returns the range. Header fields go
 * first when hdr_len is given (top level). */
static void emit(lua_State *L, struct enc *e, size_t first, size_t *off, size_t *len)
{
    struct fl_lua_item *items = e->ctx->items + first;
    size_t n = e->nitems - first;
    sort_items(items, n);
    size_t start = e->used;
    for (size_t i = 0; i < n; i++) {
        struct fl_lua_item *it = &e->ctx->items[first + i];
        if (it->is_group) {
            /* Already "count=N<SOH>entries..." */
            if (fl_lua_ctx_reserve(e->ctx, e->used + it->len) != 0)
                luaL_error(L, "fixlua: out of memory encoding a message");
            memmove(e->ctx->scratch + e->used, e->ctx->scratch + it->off, it->len);
            e->used += it->len;
        } else {
            put_field_at(L, e->ctx, &e->used, it->tag, NULL, it->off, it->len);
        }
    }
    *off = start;
    *len = e->used - start;
}

static void encode_group(lua_State *L, struct enc *e, int vidx, uint32_t count_tag,
                         const struct fl_dict_field *f, size_t *off, size_t *len, int depth)
{
    if (depth > 16)
        luaL_error(L, "fixlua: repeating groups nested too deep");
    const struct fl_group_def *def = find_group(e->dict, e->mt, e->mtn, count_tag);
    if (!def)
        luaL_error(L, "fixlua: field %d (%s) is not a repeating group in message type %s "
                      "(no group definition in the dictionary)",
                   count_tag, f ? f->name : "?", e->mt ? e->mt : "?");
    size_t n = lua_objlen(L, vidx);
    int top = e->top;
    e->top = 0;
    /* Each entry is encoded to a Lua string (the arena is reused between entries); the group's
     * bytes are their concatenation behind the count field. */
    char cb[32];
    size_t cn = fl_format_int(cb, count_tag);
    cb[cn++] = '=';
    cn += fl_format_int(cb + cn, (int64_t)n);
    cb[cn++] = SOH;
    lua_pushlstring(L, cb, cn); /* stack: acc */
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, vidx, (int)i); /* stack: acc, entry */
        if (!lua_istable(L, -1))
            luaL_error(L, "fixlua: entry %d of group %d (%s) must be a table, got %s", (int)i,
                       count_tag, f ? f->name : "?", luaL_typename(L, -1));
        size_t mark_items = e->nitems, mark_used = e->used;
        collect(L, e, lua_gettop(L), def, depth);
        size_t eo, el;
        emit(L, e, mark_items, &eo, &el);
        if (e->nitems == mark_items || e->ctx->items[mark_items].tag != def->delim_tag) {
            /* after sorting, the delimiter (order 0) comes first when present */
            luaL_error(L, "fixlua: entry %d of group %d (%s) lacks its first field %d", (int)i,
                       count_tag, f ? f->name : "?", def->delim_tag);
        }
        lua_pushlstring(L, e->ctx->scratch + eo, el); /* stack: acc, entry, bytes */
        e->nitems = mark_items;
        e->used = mark_used;
        lua_remove(L, -2);                            /* stack: acc, bytes */
        lua_concat(L, 2);                             /* stack: acc */
    }
    e->top = top;
    size_t gl;
    const char *g = lua_tolstring(L, -1, &gl);
    *off = arena_put(L, e->ctx, &e->used, g, gl);
    *len = gl;
    lua_pop(L, 1);
}

static void encode_table(lua_State *L, int idx, struct fl_dict *dict, const char *mt, size_t mtn,
                         struct fl_lua_encoded *out)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    struct enc e = {ctx, dict, mt, mtn, 0, 0, 1};
    collect(L, &e, idx, NULL, 0);
    /* Split header and body items: header fields go to extra_header. */
    size_t nh = 0;
    for (size_t i = 0; i < e.nitems; i++)
        if (fl_tag_section(ctx->items[i].tag) == 1) {
            struct fl_lua_item t = ctx->items[i];
            ctx->items[i] = ctx->items[nh];
            ctx->items[nh++] = t;
        }
    size_t body_items = e.nitems;
    size_t hoff = 0, hlen = 0, boff, blen;
    if (nh) {
        e.nitems = nh;
        emit(L, &e, 0, &hoff, &hlen);
        e.nitems = body_items;
    }
    emit(L, &e, nh, &boff, &blen);
    out->hdr = ctx->scratch + hoff;
    out->hdr_len = hlen;
    out->body = ctx->scratch + boff;
    out->body_len = blen;
}

void fl_lua_encode_fields(lua_State *L, int idx, struct fl_dict *dict, const char *msg_type,
                          struct fl_lua_encoded *out)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(out, 0, sizeof *out);
    encode_table(L, idx, dict, msg_type, msg_type ? strlen(msg_type) : 0, out);
    out->type = msg_type;
    out->type_len = msg_type ? strlen(msg_type) : 0;
}

void fl_lua_encode(lua_State *L, int idx, struct fl_dict *dict, struct fl_lua_encoded *out)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    memset(out, 0, sizeof *out);
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "MsgType");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_rawgeti(L, idx, FL_TAG_MSG_TYPE);
        }
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "fixlua: a message table needs MsgType (or [35]), e.g. "
                          "{MsgType = \"D\", ...}");
        size_t tn;
        const char *t = lua_tolstring(L, -1, &tn);
        /* Message type by name: "NewOrderSingle" -> "D". */
        const struct fl_dict_message *dm = dict ? fl_dict_message_by_name(dict, t, tn) : NULL;
        if (dm) {
            t = dm->msg_type;
            tn = dm->msg_type_len;
        }
        /* t stays valid: it is the string at -1 (kept on the stack) or dictionary memory. */
        encode_table(L, idx, dict, t, tn, out);
        out->type = t;
        out->type_len = tn;
        lua_pop(L, 1);
        return;
    }
    struct fl_lua_msg *o = fl_lua_msg_check(L, idx);
    const struct fl_msg *m = o->m;
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    int ti = fl_msg_find(m, FL_TAG_MSG_TYPE);
    if (ti < 0)
        luaL_error(L, "fixlua: the message has no MsgType(35)");
    /* Header fields first, then the body, each in wire order; engine fields and the trailer are
     * dropped (a copy of a received message keeps its application content only). */
    size_t need = m->len + 64;
    if (fl_lua_ctx_reserve(ctx, need * 2) != 0)
        luaL_error(L, "fixlua: out of memory encoding a message");
    size_t used = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t start = used;
        for (uint32_t i = 0; i < m->nfields; i++) {
            const struct fl_field *fd = &m->fields[i];
            int sec = fl_tag_section(fd->tag);
            if (fl_lua_engine_owned(fd->tag) || sec == 2 || (pass == 0) != (sec == 1))
                continue;
            put_field(L, ctx, &used, fd->tag, m->buf + fd->off, fd->len);
        }
        if (pass == 0) {
            out->hdr_len = used - start;
        } else {
            out->body_len = used - start;
            out->hdr = ctx->scratch;
            out->body = ctx->scratch + out->hdr_len;
        }
    }
    out->type = m->buf + m->fields[ti].off;
    out->type_len = m->fields[ti].len;
}

/* ---- reading ---- */

static int push_field(lua_State *L, const struct fl_msg *m, uint32_t tag)
{
    int i = fl_msg_find(m, tag);
    if (i < 0)
        return 0;
    lua_pushlstring(L, fl_msg_value(m, (uint32_t)i), m->fields[i].len);
    return 1;
}

/* __index: methods first, then fields by tag number or name. upvalues: mt, keys, ctx.
 *
 * `keys` maps method names to functions and, filled as they are used, field names of the
 * state's default dictionary to tag numbers, so msg.ClOrdID costs one table lookup after the
 * first time. The metatable is protected (__metatable), so this function is only ever reached
 * as the metamethod of a message: no type check is needed here. */
static int msg_index(lua_State *L)
{
    struct fl_lua_msg *o = lua_touserdata(L, 1);
    if (!o->m)
        return luaL_error(L, "fixlua: %s", expired_text);
    uint32_t tag;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, 2);
        if (!(v >= 1 && v <= 999999999 && v == (lua_Number)(uint32_t)v))
            return luaL_error(L, "fixlua: invalid tag number");
        tag = (uint32_t)v;
    } else {
        struct fl_lua_ctx *ctx = lua_touserdata(L, lua_upvalueindex(3));
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(2)); /* stack: msg, key, method | tag | nil */
        int t = lua_type(L, -1);
        if (t == LUA_TFUNCTION)
            return 1;
        if (t == LUA_TNUMBER && o->dict == ctx->dict) {
            tag = (uint32_t)lua_tonumber(L, -1);
        } else {
            lua_pop(L, 1);
            fl_lua_field_at(L, 2, o->dict, &tag, 1);
            if (o->dict == ctx->dict && lua_type(L, 2) == LUA_TSTRING) {
                lua_pushvalue(L, 2);
                lua_pushinteger(L, tag);
                lua_rawset(L, lua_upvalueindex(2));
            }
        }
    }
    const struct fl_msg *m = o->m;
    int i = fl_msg_find(m, tag);
    if (i < 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, m->buf + m->fields[i].off, m->fields[i].len);
    return 1;
}

/* A decimal as the nearest Lua number: the mantissa divided by 10^scale (one rounding for
 * scales up to 22, where 10^scale is exact). */
static lua_Number decimal_to_number(struct fl_decimal d)
{
    lua_Number v = (lua_Number)d.mantissa;
    lua_Number scale = 1;
    for (int32_t s = d.scale; s > 0; s--)
        scale *= 10;
    for (int32_t s = d.scale; s < 0; s++)
        v *= 10;
    return v / scale;
}

/* Called through the FFI by lua/fixlua/fast.lua (it must not touch a lua_State): the value of
 * the first field `tag` of message box o. Returns its length with *p set, -1 when the field is
 * absent, -2 when the view has expired, -3 when `names` (a tag taken from the name cache of
 * that context's dictionary) is given and the message has another dictionary. On -2 and -3 the
 * Lua side calls msg_index(), which raises or resolves the name in the right dictionary. */
int32_t fl_lua_fast_field(const struct fl_lua_msg *o, uint32_t tag, const struct fl_lua_ctx *names,
                          const char **p)
{
    const struct fl_msg *m = o->m;
    if (!m)
        return -2;
    if (names && o->dict != names->dict)
        return -3;
    int i = fl_msg_find(m, tag);
    if (i < 0)
        return -1;
    *p = fl_msg_value(m, (uint32_t)i);
    return (int32_t)m->fields[i].len;
}

/* fl_lua_fast_field() for a reader that kept the string it made last time for the same key
 * (prev, prev_len bytes; NULL for none): *p is set to NULL when the value has exactly those
 * bytes, so the reader returns that string instead of making (hashing, looking up) it again.
 * Symbols, accounts, prices and quantities repeat from message to message. */
int32_t fl_lua_fast_field_again(const struct fl_lua_msg *o, uint32_t tag,
                                const struct fl_lua_ctx *names, const char **p, const char *prev,
                                size_t prev_len)
{
    int32_t n = fl_lua_fast_field(o, tag, names, p);
    if (n >= 0 && prev && (size_t)n == prev_len && memcmp(*p, prev, prev_len) == 0)
        *p = NULL;
    return n;
}

/* FFI, for msg:enum() in lua/fixlua/fast.lua: the name the state's dictionary gives value
 * p[0..n) of field `tag`, or NULL when it lists none. The name lives as long as the dictionary,
 * which the state holds. */
const char *fl_lua_fast_enum_name(const struct fl_lua_ctx *names, uint32_t tag, const char *p,
                                  size_t n)
{
    return names->dict ? fl_dict_enum_name(fl_dict_field_by_tag(names->dict, tag), p, n) : NULL;
}

/* What msg:time() reads: a UTCTimestamp as ns since the epoch, or a UTCTimeOnly as ns since
 * midnight; the time-only parser's error when it is neither. */
static int parse_time_value(const char *p, size_t n, int64_t *ns)
{
    int rc = fl_parse_utc_timestamp(p, n, ns, NULL);
    if (rc != FL_OK)
        rc = fl_parse_utc_time_only(p, n, ns, NULL);
    return rc;
}

/* FFI, for msg:int() (kind 0), msg:decimal() (1), msg:time() (2) and msg:bool() (3) in
 * lua/fixlua/fast.lua: the value of field `tag` parsed into *out, its bytes in *p, their length
 * returned; -1 to -3 as fl_lua_fast_field(), -4 when the value is not valid for the kind (the C
 * method reports it). The conversions are the ones msg_int(), msg_decimal(), msg_time() and
 * msg_bool() make (a boolean as 1 or 0). */
int32_t fl_lua_fast_number(const struct fl_lua_msg *o, uint32_t tag, const struct fl_lua_ctx *names,
                           int32_t kind, double *out, const char **p)
{
    int32_t n = fl_lua_fast_field(o, tag, names, p);
    if (n < 0)
        return n;
    if (kind == 0) {
        int64_t v;
        if (fl_parse_int(*p, (size_t)n, &v) != FL_OK)
            return -4;
        *out = (double)v;
        return n;
    }
    if (kind == 2) {
        int64_t ns;
        if (parse_time_value(*p, (size_t)n, &ns) != FL_OK)
            return -4;
        *out = (double)ns;
        return n;
    }
    if (kind == 3) {
        int v;
        if (fl_parse_bool(*p, (size_t)n, &v) != FL_OK)
            return -4;
        *out = v;
        return n;
    }
    struct fl_decimal d;
    if (fl_parse_decimal(*p, (size_t)n, &d) != FL_OK)
        return -4;
    *out = decimal_to_number(d);
    return n;
}

/* resolve(msg, name) -> tag | nil, for fast.lua: the tag of a field name in the state's
 * dictionary, cached in the name table (upvalue 1) when msg uses that dictionary; nil for
 * anything else (an unknown name, a message of another dictionary, an expired view), never
 * raising, so that fast.lua can tail-call the C method, whose errors then name the script's
 * line. */
static int msg_resolve(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    const struct fl_lua_msg *o = lua_touserdata(L, 1);
    if (!o || !o->m || o->dict != ctx->dict || lua_type(L, 2) != LUA_TSTRING)
        return 0;
    uint32_t tag = 0;
    fl_lua_field_at(L, 2, ctx->dict, &tag, 0);
    if (!tag)
        return 0;
    lua_pushvalue(L, 2);
    lua_pushinteger(L, tag);
    lua_rawset(L, lua_upvalueindex(1));
    lua_pushinteger(L, tag);
    return 1;
}

/* Field for argument idx: returns its first index, or -1. */
static int arg_field(lua_State *L, struct fl_lua_msg *o, int idx, uint32_t *tag,
                     const struct fl_dict_field **f)
{
    const struct fl_dict_field *fd = fl_lua_field_at(L, idx, o->dict, tag, 1);
    if (f)
        *f = fd;
    return fl_msg_find(o->m, *tag);
}

static int msg_get(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    int i = arg_field(L, o, 2, &tag, NULL);
    if (i < 0) {
        lua_settop(L, 3);
        return 1; /* the default, or nil */
    }
    lua_pushlstring(L, fl_msg_value(o->m, (uint32_t)i), o->m->fields[i].len);
    return 1;
}

static int msg_has(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    lua_pushboolean(L, arg_field(L, o, 2, &tag, NULL) >= 0);
    return 1;
}

static int msg_count(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    arg_field(L, o, 2, &tag, NULL);
    lua_pushinteger(L, (lua_Integer)fl_msg_count(o->m, tag));
    return 1;
}

/* The typed getters share this: absent → nil; bad syntax → nil, "EFORMAT: ...", "EFORMAT". */
static int typed_fail(lua_State *L, int rc, uint32_t tag, const struct fl_dict_field *f,
                      const char *type)
{
    char d[160];
    snprintf(d, sizeof d, "field %u (%s) is not a valid %s", tag, f ? f->name : "?", type);
    return fl_lua_push_fail(L, rc, d);
}

static int msg_int(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    int64_t v;
    int rc = fl_parse_int(fl_msg_value(o->m, (uint32_t)i), o->m->fields[i].len, &v);
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "integer");
    lua_pushnumber(L, (lua_Number)v);
    return 1;
}

static int msg_decimal(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    const char *p = fl_msg_value(o->m, (uint32_t)i);
    size_t n = o->m->fields[i].len;
    struct fl_decimal d;
    int rc = fl_parse_decimal(p, n, &d);
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "decimal");
    lua_pushnumber(L, decimal_to_number(d));
    lua_pushlstring(L, p, n);
    return 2;
}

static int msg_bool(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    int v;
    int rc = fl_parse_bool(fl_msg_value(o->m, (uint32_t)i), o->m->fields[i].len, &v);
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "boolean (Y/N)");
    lua_pushboolean(L, v);
    return 1;
}

static int msg_char(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    if (o->m->fields[i].len != 1)
        return typed_fail(L, FL_EFORMAT, tag, f, "char");
    lua_pushlstring(L, fl_msg_value(o->m, (uint32_t)i), 1);
    return 1;
}

/* msg:time(f) -> ns since the epoch (a number: exact to the microsecond), the string */
static int msg_time(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    const char *p = fl_msg_value(o->m, (uint32_t)i);
    size_t n = o->m->fields[i].len;
    int64_t ns;
    int rc = parse_time_value(p, n, &ns);
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "UTC timestamp");
    lua_pushnumber(L, (lua_Number)ns);
    lua_pushlstring(L, p, n);
    return 2;
}

/* msg:date(f) -> year, month, day */
static int msg_date(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    struct fl_date d;
    int rc = fl_parse_date(fl_msg_value(o->m, (uint32_t)i), o->m->fields[i].len, &d);
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "date (YYYYMMDD)");
    lua_pushinteger(L, d.year);
    lua_pushinteger(L, d.month);
    lua_pushinteger(L, d.day);
    return 3;
}

/* msg:enum(f) -> name (or the raw value when the dictionary has no name for it), raw value */
static int msg_enum(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    int i = arg_field(L, o, 2, &tag, &f);
    if (i < 0)
        return 0;
    const char *p = fl_msg_value(o->m, (uint32_t)i);
    size_t n = o->m->fields[i].len;
    const char *name = fl_dict_enum_name(f, p, n);
    if (name)
        lua_pushstring(L, name);
    else
        lua_pushlstring(L, p, n);
    lua_pushlstring(L, p, n);
    return 2;
}

static int msg_type(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    if (!push_field(L, o->m, FL_TAG_MSG_TYPE))
        lua_pushnil(L);
    return 1;
}

static int msg_seq(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    int64_t v;
    if (fl_msg_get_int(o->m, FL_TAG_MSG_SEQ_NUM, &v) != FL_OK)
        return 0;
    lua_pushnumber(L, (lua_Number)v);
    return 1;
}

static int is_admin_type(const char *t, size_t n)
{
    return n == 1 && strchr("0A12345", t[0]) != NULL;
}

static int msg_is_admin(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    const char *t;
    size_t n;
    lua_pushboolean(L, fl_msg_get_str(o->m, FL_TAG_MSG_TYPE, &t, &n) == FL_OK &&
                           is_admin_type(t, n));
    return 1;
}

static int msg_poss_dup(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    int v = 0;
    lua_pushboolean(L, fl_msg_get_bool(o->m, FL_TAG_POSS_DUP_FLAG, &v) == FL_OK && v);
    return 1;
}

static int msg_is_view(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    lua_pushboolean(L, !o->owned);
    return 1;
}

static int msg_copy(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    fl_lua_msg_push_copy(L, o->m, o->dict);
    return 1;
}

static int msg_raw(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    lua_pushlstring(L, o->m->buf, o->m->len);
    return 1;
}

static void push_bars(lua_State *L, const char *p, size_t n)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++)
        luaL_addchar(&b, p[i] == SOH ? '|' : p[i]);
    luaL_pushresult(&b);
}

static int msg_tostring(lua_State *L)
{
    struct fl_lua_msg *o = box_at(L, 1, 0);
    if (!o)
        return luaL_typerror(L, 1, FL_LUA_MT_MESSAGE);
    if (!o->m) {
        lua_pushliteral(L, "fixlua.message (expired: used outside its callback)");
        return 1;
    }
    push_bars(L, o->m->buf, o->m->len);
    return 1;
}

static int msg_len(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    lua_pushinteger(L, (lua_Integer)o->m->nfields);
    return 1;
}

/* Iterator state: upvalue 1 the message, 2 the next index. */
static int fields_iter(lua_State *L)
{
    struct fl_lua_msg *o = lua_touserdata(L, lua_upvalueindex(1));
    if (!o->m)
        return luaL_error(L, "fixlua: %s", expired_text);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2));
    if (i < 0 || (uint32_t)i >= o->m->nfields)
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(2));
    const struct fl_field *f = &o->m->fields[i];
    lua_pushinteger(L, f->tag);
    lua_pushlstring(L, o->m->buf + f->off, f->len);
    const char *name = fl_lua_tag_name(o->dict, f->tag);
    if (name)
        lua_pushstring(L, name);
    else
        lua_pushnil(L);
    return 3;
}

/* for tag, value, name in msg:fields() do ... end (wire order, repeated tags included) */
static int msg_fields(lua_State *L)
{
    to_msg(L, 1);
    lua_settop(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, fields_iter, 2);
    return 1;
}

/* ---- groups ---- */

/* Entry tables: keyed by field name (or tag number when the dictionary has no name); the
 * metatable makes entry[448] and entry.PartyID the same. */
static int entry_index(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    const struct fl_dict *d = fl_lua_ctx_dict(L, ctx);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        const char *name = fl_lua_tag_name(d, (uint32_t)lua_tonumber(L, 2));
        if (!name)
            return 0;
        lua_pushstring(L, name);
        lua_rawget(L, 1);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 2, &n);
        const struct fl_dict_field *f = fl_dict_field_by_name(d, s, n);
        if (!f)
            return 0;
        lua_pushinteger(L, f->tag);
        lua_rawget(L, 1);
        return 1;
    }
    return 0;
}

static void push_entry_mt(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&entry_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, entry_index);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, (void *)&entry_mt_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static void push_key(lua_State *L, const struct fl_dict *d, uint32_t tag)
{
    const char *name = fl_lua_tag_name(d, tag);
    if (name)
        lua_pushstring(L, name);
    else
        lua_pushinteger(L, tag);
}

/* Pushes the array of entries of group g (fields [from, to) of m). */
static void push_group(lua_State *L, const struct fl_msg *m, const struct fl_dict *d,
                       const struct fl_group *g, int depth)
{
    luaL_checkstack(L, 8, "fixlua: groups nested too deep");
    lua_createtable(L, (int)g->found, 0); /* stack: arr */
    struct fl_group_entry e, *prev = NULL;
    int k = 0;
    while (fl_group_next(g, prev, &e) == FL_OK) {
        lua_createtable(L, 0, (int)(e.end - e.begin)); /* stack: arr, entry */
        for (uint32_t j = e.begin; j < e.end; j++) {
            uint32_t tag = m->fields[j].tag;
            const struct fl_group_def *sub = NULL;
            for (uint32_t s = 0; s < g->def->nsubgroups; s++)
                if (g->def->subgroups[s]->count_tag == tag)
                    sub = g->def->subgroups[s];
            if (sub && depth < 16) {
                struct fl_group ng;
                if (fl_group_open(&ng, m, sub, j, e.end) == FL_OK) {
                    push_key(L, d, tag);
                    push_group(L, m, d, &ng, depth + 1);
                    lua_rawset(L, -3);
                    j = ng.end - 1;
                    continue;
                }
            }
            push_key(L, d, tag);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            int seen = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (seen) {
                lua_pop(L, 1);
                continue;
            }
            lua_pushlstring(L, m->buf + m->fields[j].off, m->fields[j].len);
            lua_rawset(L, -3);
        }
        push_entry_mt(L);
        lua_setmetatable(L, -2);
        lua_rawseti(L, -2, ++k); /* stack: arr */
        prev = &e;
    }
}

/* msg:group("NoPartyIDs") -> { {PartyID=..., PartyRole=...}, ... } (nested groups as arrays);
 * nil when the group is absent. */
static int msg_group(lua_State *L)
{
    struct fl_lua_msg *o = to_msg(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f;
    arg_field(L, o, 2, &tag, &f);
    const char *mt = NULL;
    size_t mtn = 0;
    if (fl_msg_get_str(o->m, FL_TAG_MSG_TYPE, &mt, &mtn) != FL_OK)
        mt = NULL;
    const struct fl_group_def *def = find_group(o->dict, mt, mtn, tag);
    if (!def)
        return luaL_error(L, "fixlua: field %d (%s) is not a repeating group (no definition in "
                             "the dictionary)", tag, f ? f->name : "?");
    struct fl_group g;
    int rc = fl_group_open(&g, o->m, def, 0, o->m->nfields);
    if (rc == FL_ENOENT)
        return 0;
    if (rc != FL_OK)
        return typed_fail(L, rc, tag, f, "NumInGroup");
    push_group(L, o->m, o->dict, &g, 0);
    return 1;
}

/* ---- editing owned messages ---- */

/* Start offset of field i ("tag=" included). */
static size_t field_start(const struct fl_msg *m, uint32_t i)
{
    size_t s = m->fields[i].off - 1; /* '=' */
    while (s > 0 && m->buf[s - 1] >= '0' && m->buf[s - 1] <= '9')
        s--;
    return s;
}

/* Replaces bytes [from, to) of the owned message with ins[0..n). Raises on out of memory. */
static void splice(lua_State *L, struct fl_lua_msg *o, size_t from, size_t to, const char *ins,
                   size_t n)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    const struct fl_msg *m = o->m;
    size_t total = m->len - (to - from) + n;
    /* Assemble in a Lua buffer-free way: the arena after `ins` (which may live in the arena). */
    size_t base = (ins >= ctx->scratch && ins < ctx->scratch + ctx->scratch_cap)
                      ? (size_t)(ins - ctx->scratch) + n
                      : 0;
    size_t ins_off = base ? (size_t)(ins - ctx->scratch) : 0;
    if (fl_lua_ctx_reserve(ctx, base + total) != 0)
        luaL_error(L, "fixlua: out of memory editing a message");
    if (base)
        ins = ctx->scratch + ins_off;
    char *w = ctx->scratch + base;
    memcpy(w, m->buf, from);
    memcpy(w + from, ins, n);
    memcpy(w + from + n, m->buf + to, m->len - to);
    if (owned_set_bytes(o, w, total) != FL_OK)
        luaL_error(L, "fixlua: out of memory editing a message");
}

/* Where new fields go: before the trailer, if any. */
static size_t append_point(const struct fl_msg *m)
{
    if (m->trailer_begin < m->nfields)
        return field_start(m, m->trailer_begin);
    return m->len;
}

/* msg:set(f, value) / msg[f] = value / msg.Name = value; nil removes. */
static int set_field(lua_State *L, struct fl_lua_msg *o, int kidx, int vidx)
{
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, kidx, o->dict, &tag, 1);
    int i = fl_msg_find(o->m, tag);
    if (lua_isnil(L, vidx)) {
        if (i >= 0)
            splice(L, o, field_start(o->m, (uint32_t)i),
                   o->m->fields[i].off + o->m->fields[i].len + 1, "", 0);
        return 0;
    }
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    size_t used = 0, len;
    size_t off = put_value(L, ctx, &used, vidx, tag, f, &len);
    if (i >= 0) {
        splice(L, o, o->m->fields[i].off, o->m->fields[i].off + o->m->fields[i].len,
               ctx->scratch + off, len);
    } else {
        size_t at = used;
        put_field_at(L, ctx, &used, tag, NULL, off, len);
        size_t p = append_point(o->m);
        splice(L, o, p, p, ctx->scratch + at, used - at);
    }
    return 0;
}

static int msg_newindex(lua_State *L)
{
    struct fl_lua_msg *o = to_owned(L, 1, "setting a field");
    return set_field(L, o, 2, 3);
}

static int msg_set(lua_State *L)
{
    struct fl_lua_msg *o = to_owned(L, 1, "msg:set");
    lua_settop(L, 3);
    set_field(L, o, 2, 3);
    lua_settop(L, 1);
    return 1; /* chaining: msg:set(...):set(...) */
}

/* msg:add_group("NoPartyIDs", { {PartyID = "X", PartyRole = 3}, ... }) appends a group. */
static int msg_add_group(lua_State *L)
{
    struct fl_lua_msg *o = to_owned(L, 1, "msg:add_group");
    luaL_checktype(L, 3, LUA_TTABLE);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, o->dict, &tag, 1);
    if (fl_msg_find(o->m, tag) >= 0)
        return luaL_error(L, "fixlua: msg:add_group: group %d (%s) is already present", tag,
                          f ? f->name : "?");
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    const char *mt = NULL;
    size_t mtn = 0;
    if (fl_msg_get_str(o->m, FL_TAG_MSG_TYPE, &mt, &mtn) != FL_OK)
        mt = NULL;
    /* mt points into the message, which the encoder does not touch. */
    struct enc e = {ctx, o->dict, mt, mtn, 0, 0, 0};
    size_t off, len;
    encode_group(L, &e, 3, tag, f, &off, &len, 1);
    size_t p = append_point(o->m);
    splice(L, o, p, p, ctx->scratch + off, len);
    lua_settop(L, 1);
    return 1;
}

/* ---- constructors ---- */

/* fixlua.message.new(type [, fields [, dictionary]]) -> owned message. `type` is a MsgType
 * ("D") or a message name ("NewOrderSingle"). Names resolve in `dictionary` (default: the
 * state's: the session's in a script, built-in FIX.4.4 elsewhere). */
static int mod_new(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    struct fl_dict *d = fl_lua_opt_dict(L, 3, NULL);
    if (!d)
        d = fl_lua_ctx_dict(L, ctx);
    size_t tn;
    const char *t = luaL_checklstring(L, 1, &tn);
    const struct fl_dict_message *dm = fl_dict_message_by_name(d, t, tn);
    if (dm) {
        t = dm->msg_type;
        tn = dm->msg_type_len;
    }
    if (tn == 0 || memchr(t, SOH, tn) || memchr(t, '=', tn))
        return luaL_error(L, "fixlua: invalid MsgType");
    int has_fields = lua_istable(L, 2);
    size_t hoff = 0, hlen = 0, boff = 0, blen = 0, used = 0;
    if (has_fields) {
        struct fl_lua_encoded enc;
        encode_table(L, 2, d, t, tn, &enc);
        /* Offsets, not pointers: the arena may move below. */
        hoff = enc.hdr_len ? (size_t)(enc.hdr - ctx->scratch) : 0;
        hlen = enc.hdr_len;
        boff = (size_t)(enc.body - ctx->scratch);
        blen = enc.body_len;
        used = boff + blen;
    }
    /* "35=<type>" then header fields then body, assembled after the encoder's bytes. */
    size_t start = used;
    put_field(L, ctx, &used, FL_TAG_MSG_TYPE, t, tn);
    if (fl_lua_ctx_reserve(ctx, used + hlen + blen) != 0)
        return luaL_error(L, "fixlua: out of memory");
    memmove(ctx->scratch + used, ctx->scratch + hoff, hlen);
    used += hlen;
    memmove(ctx->scratch + used, ctx->scratch + boff, blen);
    used += blen;
    struct fl_lua_msg *o = push_owned(L, d);
    if (owned_set_bytes(o, ctx->scratch + start, used - start) != FL_OK)
        return luaL_error(L, "fixlua: out of memory");
    return 1;
}

/* fixlua.message{MsgType = "D", ...} */
static int mod_call(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "MsgType");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, 2, FL_TAG_MSG_TYPE);
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "fixlua: fixlua.message{...} needs MsgType");
    lua_pushcfunction(L, mod_new);
    lua_insert(L, -2);   /* stack: mod, tbl, new, type */
    lua_pushvalue(L, 2); /* stack: mod, tbl, new, type, tbl */
    lua_call(L, 2, 1);
    return 1;
}

/* fixlua.message.parse(bytes [, dictionary]) -> owned message. Accepts SOH or '|' as the
 * delimiter. */
static int mod_parse(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    struct fl_dict *d = fl_lua_opt_dict(L, 2, NULL);
    if (!d)
        d = fl_lua_ctx_dict(L, ctx);
    if (fl_lua_ctx_reserve(ctx, n + 1) != 0)
        return luaL_error(L, "fixlua: out of memory");
    int bars = memchr(s, SOH, n) == NULL;
    for (size_t i = 0; i < n; i++)
        ctx->scratch[i] = bars && s[i] == '|' ? SOH : s[i];
    if (n && ctx->scratch[n - 1] != SOH)
        ctx->scratch[n++] = SOH;
    struct fl_lua_msg *o = push_owned(L, d);
    int rc = owned_set_bytes(o, ctx->scratch, n);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, "cannot parse the message");
    /* Lenient about order, repeats and framing (logs, fragments); not about tokens. */
    if (o->own.problem == FL_PARSE_BAD_TAG || o->own.problem == FL_PARSE_NO_EQUALS ||
        o->own.problem == FL_PARSE_BAD_DATA_LENGTH) {
        lua_pushnil(L);
        lua_pushfstring(L, "EPROTO: %s (tag %d)", fl_parse_problem_text(o->own.problem),
                        (int)o->own.problem_tag);
        lua_pushliteral(L, "EPROTO");
        return 3;
    }
    return 1;
}

static int mod_is_message(lua_State *L)
{
    lua_pushboolean(L, box_at(L, 1, 0) != NULL);
    return 1;
}

static const luaL_Reg msg_methods[] = {
    {"get", msg_get},
    {"has", msg_has},
    {"count", msg_count},
    {"int", msg_int},
    {"decimal", msg_decimal},
    {"bool", msg_bool},
    {"char", msg_char},
    {"time", msg_time},
    {"date", msg_date},
    {"enum", msg_enum},
    {"type", msg_type},
    {"seq", msg_seq},
    {"is_admin", msg_is_admin},
    {"poss_dup", msg_poss_dup},
    {"is_view", msg_is_view},
    {"copy", msg_copy},
    {"raw", msg_raw},
    {"tostring", msg_tostring},
    {"fields", msg_fields},
    {"group", msg_group},
    {"set", msg_set},
    {"add_group", msg_add_group},
    {NULL, NULL},
};

void fl_lua_msg_open(lua_State *L)
{
    /* stack: M */
    luaL_newmetatable(L, FL_LUA_MT_MESSAGE); /* stack: M, mt */
    int mt = lua_gettop(L);
    lua_createtable(L, 0, 24);               /* stack: M, mt, methods */
    int methods = lua_gettop(L);
    lua_pushvalue(L, mt);
    luaL_openlib(L, NULL, msg_methods, 1);   /* each method gets upvalue 1 = mt */
    /* The name cache belongs to the state's default dictionary (ctx->dict). */
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    fl_lua_ctx_dict(L, ctx);
    lua_pushvalue(L, mt);
    lua_pushvalue(L, methods);
    lua_pushlightuserdata(L, ctx);
    lua_pushcclosure(L, msg_index, 3);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__index");
    /* What lua/fixlua/fast.lua needs to put its compiled readers in front (init.lua takes it
     * out of the module table): M._fast_message = {mt, methods, index, field, field_again,
     * number, enum_name, ctx, resolve, view_mt}. */
    lua_createtable(L, 0, 5);                /* stack: M, mt, methods, index, fast */
    lua_insert(L, -2);
    lua_setfield(L, -2, "index");
    lua_pushvalue(L, mt);
    lua_setfield(L, -2, "mt");
    lua_pushvalue(L, methods);
    lua_setfield(L, -2, "methods");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_field);
    lua_setfield(L, -2, "field");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_field_again);
    lua_setfield(L, -2, "field_again");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_number);
    lua_setfield(L, -2, "number");
    lua_pushlightuserdata(L, (void *)fl_lua_fast_enum_name);
    lua_setfield(L, -2, "enum_name");
    lua_pushlightuserdata(L, ctx);
    lua_setfield(L, -2, "ctx");
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, msg_resolve, 1);
    lua_setfield(L, -2, "resolve");

    lua_setfield(L, mt - 1, "_fast_message");
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, msg_newindex, 1);
    lua_setfield(L, mt, "__newindex");
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, msg_len, 1);
    lua_setfield(L, mt, "__len");
    lua_pushcfunction(L, msg_tostring);
    lua_setfield(L, mt, "__tostring");
    lua_pushcfunction(L, msg_gc);
    lua_setfield(L, mt, "__gc");
    lua_pushliteral(L, FL_LUA_MT_MESSAGE);
    lua_setfield(L, mt, "__name");
    /* getmetatable(msg) gives this string, so __index cannot be called on other values. */
    lua_pushliteral(L, FL_LUA_MT_MESSAGE);
    lua_setfield(L, mt, "__metatable");
    /* The views' metatable: the same entries but __gc (fast.lua sets __index on both). Kept
     * when the module is opened again in the state, as luaL_newmetatable() keeps mt. */
    lua_pushlightuserdata(L, (void *)&view_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 8);            /* stack: M, mt, methods, vmt */
    }
    lua_pushnil(L);
    while (lua_next(L, mt)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushnil(L);
    lua_setfield(L, -2, "__gc");
    lua_getfield(L, mt - 1, "_fast_message"); /* stack: M, mt, methods, vmt, fast */
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "view_mt");
    lua_pop(L, 1);
    lua_pushlightuserdata(L, (void *)&view_mt_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_settop(L, mt - 1);                   /* stack: M */

    /* fixlua.message: new, parse, is_message; callable as fixlua.message{...}. */
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, mod_new);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, mod_parse);
    lua_setfield(L, -2, "parse");
    lua_pushcfunction(L, mod_is_message);
    lua_setfield(L, -2, "is_message");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, mod_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "message");
}
