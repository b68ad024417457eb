/* fixlua — the allocator of a session's Lua state.
 *
 * Most of what a script allocates per message is small and dies within the callback (the
 * table it sends, a string or two, the message view), and the collector frees it in bulk.
 * A heap per state keeps the small blocks it is given back (up to FL_LUA_HEAP_SMALL bytes) in a
 * list per 16-byte size class, and hands them out again: the garbage of one message is memory
 * for the next with a pop and a push, where malloc or LuaJIT's own allocator search bins and
 * coalesce. The lists hold at most as many bytes as the state itself holds, and
 * FL_LUA_HEAP_CACHE_MIN at least; past that, blocks go back to malloc, and the lists shrink as
 * the state does. Larger blocks are malloc's. */
#ifndef FL_LUA_HEAP_H
#define FL_LUA_HEAP_H

#include <lua.h>
#include <stddef.h>

#define FL_LUA_HEAP_SMALL 1024
#define FL_LUA_HEAP_CACHE_MIN (1024u * 1024u)

/* 0 under AddressSanitizer: every block is malloc'd and freed at once, so the sanitizer sees
 * the Lua heap as it is. */
#if defined(__SANITIZE_ADDRESS__)
#define FL_LUA_HEAP_POOLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_LUA_HEAP_POOLED 0
#endif
#endif
#ifndef FL_LUA_HEAP_POOLED
#define FL_LUA_HEAP_POOLED 1
#endif

struct fl_lua_heap;

/* A new state on its own heap (*heap, to free with fl_lua_heap_free() after lua_close()), or,
 * where this LuaJIT cannot take an allocator (x64 without GC64), on LuaJIT's own with *heap
 * NULL. NULL when out of memory. */
lua_State *fl_lua_heap_newstate(struct fl_lua_heap **heap);

void fl_lua_heap_free(struct fl_lua_heap *h);

/* Bytes the state holds (small blocks counted by their class), and bytes kept in the lists. */
size_t fl_lua_heap_in_use(const struct fl_lua_heap *h);
size_t fl_lua_heap_cached(const struct fl_lua_heap *h);

/* The lua_Alloc function, for tests. */
void *fl_lua_heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
struct fl_lua_heap *fl_lua_heap_new(void);

#endif
