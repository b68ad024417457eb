/* fixlua — the module table: what `require "fixlua"` returns, in the fixlua.so module (busted,
 * luajit) and in every state of the runner (package.preload).
 *
 * fl_lua_open() registers the embedded Lua modules (LuaJIT bytecode, see
 * cmake/FixluaEmbedLua.cmake) in package.preload, builds the C part of the table (messages,
 * dictionaries, sessions, engines) and hands it to the Lua half (lua/fixlua/init.lua), which
 * adds configuration checking and the engine constructor. With FIXLUA_LUA_PATH set to the
 * source tree's lua/ directory, the Lua half is loaded from source instead (development). */
#include "fl_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIXLUA_VERSION
#define FIXLUA_VERSION "0.0.0"
#endif

/* LuaJIT reads a bytecode dump up to its end marker; this bound is what its own loader uses. */
#define BC_MAX_LEN (~(size_t)0)

static int embedded_loader(lua_State *L)
{
    const struct fl_lua_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
    const char *dev = getenv("FIXLUA_LUA_PATH");
    int rc;
    if (dev && *dev) {
        char path[1024];
        size_t n = (size_t)snprintf(path, sizeof path, "%s/%s.lua", dev, m->name);
        for (size_t i = strlen(dev) + 1; i < n && i < sizeof path; i++)
            if (path[i] == '.' && i + 4 != n)
                path[i] = '/';
        /* fixlua.init lives in fixlua/init.lua */
        rc = luaL_loadfile(L, path);
    } else {
        rc = luaL_loadbuffer(L, m->bc, BC_MAX_LEN, m->name);
    }
    if (rc != 0)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
}

static void register_embedded(lua_State *L)
{
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "preload"); /* stack: package, preload */
    for (const struct fl_lua_embedded *m = fl_lua_embedded_modules; m->name; m++) {
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, embedded_loader, 1);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 2);
}

int fl_lua_open(lua_State *L)
{
    fl_lua_ctx_get(L);
    register_embedded(L);
    lua_createtable(L, 0, 32); /* stack: M */
    int M = lua_gettop(L);
    lua_pushliteral(L, FIXLUA_VERSION);
    lua_setfield(L, M, "version");
    fl_lua_msg_open(L);
    fl_lua_dict_open(L);
    fl_lua_session_open(L);
    fl_lua_engine_open(L);
    /* The Lua half extends M and returns it. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "fixlua.init");
    lua_call(L, 1, 1);         /* stack: M, init */
    lua_pushvalue(L, M);
    lua_call(L, 1, 1);         /* stack: M, M' */
    return 1;
}
