/* fixlua — field names for scripts: "fixlua.dictionary" objects over fl_dict (fl_dict.h), and
 * the tag/name resolution every message method uses (msg.ClOrdID, msg[11], {Side = "BUY"}).
 *
 * A session's names come from its dictionary: the built-in one for its BeginString unless the
 * configuration names a QuickFIX XML file. Outside a session (the host state of a busted spec)
 * the default is the built-in FIX.4.4 dictionary. */
#include "fl_lua.h"

#include <stdlib.h>
#include <string.h>

struct dict_box {
    struct fl_dict *d; /* ref held; NULL once closed */
};

const char *fl_lua_tag_name(const struct fl_dict *d, uint32_t tag)
{
    const struct fl_dict_field *f = d ? fl_dict_field_by_tag(d, tag) : NULL;
    return f ? f->name : NULL;
}

/* Parses a decimal tag in a string ("44"), 0 when it is not one. */
static uint32_t tag_of_digits(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return 0;
    uint32_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        t = t * 10 + (uint32_t)(s[i] - '0');
    }
    return t;
}

const struct fl_dict_field *fl_lua_field_at(lua_State *L, int idx, const struct fl_dict *d,
                                            uint32_t *tag, int strict)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v >= 1 && v <= 999999999) || v != (lua_Number)(uint32_t)v)
            luaL_error(L, "fixlua: invalid tag number %f", (double)v);
        *tag = (uint32_t)v;
        return d ? fl_dict_field_by_tag(d, *tag) : NULL;
    }
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        const struct fl_dict_field *f = d ? fl_dict_field_by_name(d, s, n) : NULL;
        if (f) {
            *tag = f->tag;
            return f;
        }
        uint32_t tg = tag_of_digits(s, n);
        if (tg) {
            *tag = tg;
            return d ? fl_dict_field_by_tag(d, tg) : NULL;
        }
        if (strict)
            luaL_error(L, "fixlua: unknown FIX field '%s' (not in dictionary %s)", s,
                       d ? fl_dict_info(d)->source : "?");
        *tag = 0;
        return NULL;
    }
    luaL_error(L, "fixlua: a field is a tag number or a field name, got %s",
               luaL_typename(L, idx));
    return NULL;
}

/* ---- dictionary objects ---- */

struct fl_dict *fl_lua_opt_dict(lua_State *L, int idx, struct fl_dict *dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    struct dict_box *b = luaL_checkudata(L, idx, FL_LUA_MT_DICT);
    if (!b->d)
        luaL_error(L, "fixlua: dictionary is closed");
    return b->d;
}

static struct fl_dict *check_dict(lua_State *L, int idx)
{
    struct dict_box *b = luaL_checkudata(L, idx, FL_LUA_MT_DICT);
    if (!b->d)
        luaL_error(L, "fixlua: dictionary is closed");
    return b->d;
}

void fl_lua_dict_push(lua_State *L, struct fl_dict *d)
{
    struct dict_box *b = lua_newuserdata(L, sizeof *b);
    b->d = NULL;
    luaL_getmetatable(L, FL_LUA_MT_DICT);
    lua_setmetatable(L, -2);
    b->d = fl_dict_ref(d);
}

static int dict_gc(lua_State *L)
{
    struct dict_box *b = lua_touserdata(L, 1);
    fl_dict_free(b->d);
    b->d = NULL;
    return 0;
}

/* fixlua.dictionary(begin_string | path.xml) -> dict | nil, err, code */
static int dict_new(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    /* The box exists before the dictionary, so nothing is held across a raise. */
    struct dict_box *b = lua_newuserdata(L, sizeof *b);
    b->d = NULL;
    luaL_getmetatable(L, FL_LUA_MT_DICT);
    lua_setmetatable(L, -2);
    char err[512] = "";
    int rc;
    if (n > 4 && strcmp(s + n - 4, ".xml") == 0)
        rc = fl_dict_load_file(s, &b->d, err, sizeof err);
    else
        rc = fl_dict_builtin(s, &b->d);
    if (rc != FL_OK)
        return fl_lua_push_fail(L, rc, err[0] ? err : s);
    return 1;
}

/* d:tag(name) -> number | nil */
static int dict_tag(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, d, &tag, 0);
    if (!f && lua_type(L, 2) == LUA_TSTRING && !tag)
        return 0;
    lua_pushinteger(L, tag);
    return 1;
}

/* d:name(tag) -> string | nil */
static int dict_name(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, d, &tag, 0);
    if (!f)
        return 0;
    lua_pushstring(L, f->name);
    return 1;
}

/* d:field(tag | name) -> {tag=, name=, type=, enums={[value]=name}} | nil */
static int dict_field(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, d, &tag, 0);
    if (!f)
        return 0;
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, f->tag);
    lua_setfield(L, -2, "tag");
    lua_pushstring(L, f->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, fl_dict_type_name(f->type));
    lua_setfield(L, -2, "type");
    lua_createtable(L, 0, (int)f->nenums);
    for (uint32_t i = 0; i < f->nenums; i++) {
        lua_pushlstring(L, f->enums[i].value, f->enums[i].value_len);
        lua_pushlstring(L, f->enums[i].name, f->enums[i].name_len);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "enums");
    return 1;
}

/* d:enum_name(field, value) -> name | nil */
static int dict_enum_name(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, d, &tag, 1);
    size_t n;
    const char *v = luaL_checklstring(L, 3, &n);
    const char *name = fl_dict_enum_name(f, v, n);
    if (!name)
        return 0;
    lua_pushstring(L, name);
    return 1;
}

/* d:enum_value(field, name) -> value | nil */
static int dict_enum_value(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 2, d, &tag, 1);
    size_t n, vn;
    const char *name = luaL_checklstring(L, 3, &n);
    const char *v;
    if (!f || fl_dict_enum_value(f, name, n, &v, &vn) != FL_OK)
        return 0;
    lua_pushlstring(L, v, vn);
    return 1;
}

/* d:message(type | name) -> {name=, msg_type=, admin=} | nil */
static int dict_message(lua_State *L)
{
    struct fl_dict *d = check_dict(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    const struct fl_dict_message *m = fl_dict_message(d, s, n);
    if (!m)
        m = fl_dict_message_by_name(d, s, n);
    if (!m)
        return 0;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, m->name);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, m->msg_type, m->msg_type_len);
    lua_setfield(L, -2, "msg_type");
    lua_pushboolean(L, m->admin);
    lua_setfield(L, -2, "admin");
    return 1;
}

/* d:info() -> {begin_string=, version=, source=} */
static int dict_info(lua_State *L)
{
    const struct fl_dict_info *i = fl_dict_info(check_dict(L, 1));
    lua_createtable(L, 0, 3);
    lua_pushstring(L, i->begin_string);
    lua_setfield(L, -2, "begin_string");
    lua_pushstring(L, i->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, i->source);
    lua_setfield(L, -2, "source");
    return 1;
}

static int dict_tostring(lua_State *L)
{
    struct dict_box *b = luaL_checkudata(L, 1, FL_LUA_MT_DICT);
    if (!b->d)
        lua_pushliteral(L, "fixlua.dictionary (closed)");
    else
        lua_pushfstring(L, "fixlua.dictionary %s (%s)", fl_dict_info(b->d)->version,
                        fl_dict_info(b->d)->source);
    return 1;
}

/* fixlua.tag(name) / fixlua.name(tag) on the state's default dictionary. */
static int mod_tag(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 1, fl_lua_ctx_dict(L, ctx), &tag, 0);
    if (!f && !tag)
        return 0;
    lua_pushinteger(L, tag);
    return 1;
}

static int mod_name(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    uint32_t tag;
    const struct fl_dict_field *f = fl_lua_field_at(L, 1, fl_lua_ctx_dict(L, ctx), &tag, 0);
    if (!f)
        return 0;
    lua_pushstring(L, f->name);
    return 1;
}

/* The default dictionary of this state as an object. */
static int mod_default_dictionary(lua_State *L)
{
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    fl_lua_dict_push(L, fl_lua_ctx_dict(L, ctx));
    return 1;
}

static const luaL_Reg dict_methods[] = {
    {"tag", dict_tag},
    {"name", dict_name},
    {"field", dict_field},
    {"enum_name", dict_enum_name},
    {"enum_value", dict_enum_value},
    {"message", dict_message},
    {"info", dict_info},
    {NULL, NULL},
};

void fl_lua_dict_open(lua_State *L)
{
    /* stack: M */
    luaL_newmetatable(L, FL_LUA_MT_DICT); /* stack: M, mt */
    lua_createtable(L, 0, 8);
    luaL_register(L, NULL, dict_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, dict_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, dict_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, dict_new);
    lua_setfield(L, -2, "dictionary");
    lua_pushcfunction(L, mod_tag);
    lua_setfield(L, -2, "tag");
    lua_pushcfunction(L, mod_name);
    lua_setfield(L, -2, "name");
    lua_pushcfunction(L, mod_default_dictionary);
    lua_setfield(L, -2, "default_dictionary");
}
