/* fixlua — entry point of the fixlua.so Lua module (require "fixlua" from luajit/busted). The
 * runner does not need it: its states get the same table through package.preload. */
#include "fl_lua.h"

int luaopen_fixlua(lua_State *L)
{
    return fl_lua_open(L);
}
