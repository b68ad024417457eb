/* fixlua — the allocator of a session's Lua state.
 *
 * Most of what a script allocates per message is small and dies within the callback (the
 * table it sends, a string or two, the message view), and the collector frees it in bulk.
 * A heap per state keeps a free list per 16-byte size class up to FL_LUA_HEAP_SMALL bytes,
 * carved from 64 KB chunks: taking and giving back a block is a pop and a push, with no
 * coalescing or bin search. Larger blocks go to malloc. Freed blocks stay in their lists until
 * the state closes, so a state's footprint is its peak; the chunks go with the heap.
 */
#ifndef FL_LUA_HEAP_H
#define FL_LUA_HEAP_H

#include <lua.h>
#include <stddef.h>

#define FL_LUA_HEAP_SMALL 1024

/* 0 under AddressSanitizer: every block is malloc'd, so the sanitizer sees the Lua heap. */
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

/* The lua_Alloc function, for tests. */
void *fl_lua_heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
struct fl_lua_heap *fl_lua_heap_new(void);

#endif
