/* fixlua — the `fixlua` command. A thin C shell in the manner of wrk's main(): it answers
 * `fixlua log` with the C pretty-printer (core/fl_pretty.c) and `fixlua journal` with the
 * journal reader (core/fl_journal_tool.c), and hands every other command to
 * the Lua runner (lua/fixlua/runner.lua, embedded), which runs in a setup state of its own and
 * gives each session a lua_State (fl_lua.h). The exit code is the runner's. */
#include <stdio.h>
#include <string.h>

#include "fl_journal_tool.h"
#include "fl_lua.h"
#include "fl_pretty.h"

struct main_args {
    char **argv;
    int argc;
    int code;
};

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1) ? lua_tostring(L, 1) : "(error object)", 1);
    return 1;
}

/* Runs inside lua_cpcall: require "fixlua.runner" and call main(args) under a traceback. */
static int run_main(lua_State *L)
{
    struct main_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, fl_lua_open);
    lua_setfield(L, -2, "fixlua");
    lua_settop(L, 0);
    lua_pushcfunction(L, traceback);       /* stack: tb */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "fixlua.runner");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "fixlua");
    lua_call(L, 1, 0);                     /* registers the embedded modules first */
    lua_call(L, 1, 1);                     /* stack: tb, runner */
    lua_getfield(L, -1, "main");           /* stack: tb, runner, main */
    lua_createtable(L, a->argc, 0);
    for (int i = 1; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i);
    }
    if (lua_pcall(L, 1, 1, 1) != 0)
        return lua_error(L);
    a->code = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "log") == 0)
        return fl_pretty_main(argc - 2, argv + 2, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "journal") == 0)
        return fl_journal_main(argc - 2, argv + 2, stdout, stderr);
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "fixlua: out of memory\n");
        return 70;
    }
    struct main_args a = {argv, argc, 0};
    if (lua_cpcall(L, run_main, &a) != 0) {
        fprintf(stderr, "fixlua: internal error: %s\n",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        a.code = 70;
    }
    lua_close(L);
    return a.code;
}
