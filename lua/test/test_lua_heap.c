/* Tests of the session states' allocator (lua/fl_lua_heap.c): blocks come back by size class,
 * reallocation keeps the contents across classes and into and out of malloc, and, what the
 * heap relies on, LuaJIT hands every block back with the size it was allocated with. That is
 * checked over a workload of the collector, the compiler, the FFI, coroutines, errors and the
 * fixlua module itself. */
#include "fl_lua.h"
#include "fl_lua_heap.h"
#include "fl_test.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- a size-checking allocator in front of the heap ---- */

#define SLOTS (1u << 20) /* open addressing, linear probing; far more than the workload keeps */

struct checked {
    struct fl_lua_heap *heap;
    void **keys;
    size_t *sizes;
    long mismatches, unknown, live;
};

static size_t slot_of(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x & (SLOTS - 1);
}

static size_t *find(struct checked *c, const void *p)
{
    for (size_t i = slot_of(p);; i = (i + 1) & (SLOTS - 1)) {
        if (c->keys[i] == p)
            return &c->sizes[i];
        if (!c->keys[i])
            return NULL;
    }
}

static void insert(struct checked *c, void *p, size_t n)
{
    size_t i = slot_of(p);
    while (c->keys[i])
        i = (i + 1) & (SLOTS - 1);
    c->keys[i] = p;
    c->sizes[i] = n;
    c->live++;
}

/* Deletion with backward shift, so that probing needs no tombstones. */
static void erase(struct checked *c, const void *p)
{
    size_t i = slot_of(p);
    while (c->keys[i] != p)
        i = (i + 1) & (SLOTS - 1);
    c->keys[i] = NULL;
    c->live--;
    for (size_t j = (i + 1) & (SLOTS - 1); c->keys[j]; j = (j + 1) & (SLOTS - 1)) {
        size_t home = slot_of(c->keys[j]);
        /* keys[j] may move to the hole at i when its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            c->keys[i] = c->keys[j];
            c->sizes[i] = c->sizes[j];
            c->keys[j] = NULL;
            i = j;
        }
    }
}

static void *checked_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct checked *c = ud;
    if (ptr) {
        size_t *known = find(c, ptr);
        if (!known)
            c->unknown++;
        else if (*known != osize)
            c->mismatches++;
        if (known)
            erase(c, ptr);
    }
    void *q = fl_lua_heap_alloc(c->heap, ptr, osize, nsize);
    if (q)
        insert(c, q, nsize);
    return q;
}

static const char workload[] =
    "local ffi = require 'ffi'\n"
    "local fixlua = ...\n"
    "local keep = {}\n"
    "for i = 1, 30000 do\n"
    "  local r = { i, tostring(i), x = i * 1.5, [i % 7] = string.rep('a', i % 300) }\n"
    "  keep[i % 500 + 1] = r\n"
    "end\n"
    "local big = {}\n"
    "for i = 1, 50000 do big[i] = i; big['k' .. i] = i end\n"
    "for i = 1, 50000 do big[i] = nil; big['k' .. i] = nil end\n"
    "for i = 1, 10 do big['again' .. i] = i end\n"
    "big = nil\n"
    "local parts = {}\n"
    "for i = 1, 2000 do\n"
    "  parts[#parts + 1] = string.format('%d:%s', i, string.rep('x', i % 2000))\n"
    "end\n"
    "local joined = table.concat(parts, ',')\n"
    "assert(#joined > 1000000)\n"
    "local co = coroutine.wrap(function()\n"
    "  for i = 1, 1000 do coroutine.yield(function() return i end) end\n"
    "end)\n"
    "for i = 1, 1000 do assert(co()() == i) end\n"
    "for i = 1, 5000 do\n"
    "  local a = ffi.new('char[?]', i % 3000 + 1)\n"
    "  local b = ffi.new('struct { int x; double y; }', i, i)\n"
    "  a[0] = b.x % 128\n"
    "end\n"
    "local finalized = 0\n"
    "for i = 1, 100 do ffi.gc(ffi.new('int[4]'), function() finalized = finalized + 1 end) end\n"
    "for i = 1, 200 do\n"
    "  local ok, e = pcall(error, { code = i })\n"
    "  assert(not ok and e.code == i)\n"
    "end\n"
    "for i = 1, 3000 do\n"
    "  local m = fixlua.message{ MsgType = 'D', ClOrdID = 'C' .. i, Symbol = 'IBM', Side = 'BUY',\n"
    "                            OrderQty = i, Price = i / 4 }\n"
    "  local copy = fixlua.message.parse(tostring(m):gsub('|', '\\1') .. '')\n"
    "  assert(m.ClOrdID == 'C' .. i)\n"
    "end\n"
    "collectgarbage('collect')\n"
    "assert(finalized == 100)\n"
    "return #keep\n";

FL_TEST(luajit_returns_every_block_with_its_size)
{
    struct checked c = {0};
    lua_State *L = NULL;
    c.heap = fl_lua_heap_new();
    c.keys = calloc(SLOTS, sizeof *c.keys);
    c.sizes = calloc(SLOTS, sizeof *c.sizes);
    FL_CHECK(c.heap && c.keys && c.sizes);
    L = lua_newstate(checked_alloc, &c);
    FL_CHECK(L != NULL);
    luaL_openlibs(L);
    lua_gc(L, LUA_GCSETPAUSE, 400);
    FL_CHECK(luaL_loadbuffer(L, workload, sizeof workload - 1, "=workload") == 0);
    lua_pushcfunction(L, fl_lua_open);
    FL_CHECK(lua_pcall(L, 0, 1, 0) == 0);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "  workload: %s\n", lua_tostring(L, -1));
        FL_CHECK(0);
    }
    FL_CHECK_INT(lua_tointeger(L, -1), 500);
    lua_close(L);
    L = NULL;
    FL_CHECK_INT(c.mismatches, 0);
    FL_CHECK_INT(c.unknown, 0);
    FL_CHECK_INT(c.live, 0);
end:
    if (L)
        lua_close(L);
    fl_lua_heap_free(c.heap);
    free(c.keys);
    free(c.sizes);
}

FL_TEST(blocks_come_back_by_class_and_reallocation_keeps_contents)
{
    static char *many[(FL_LUA_HEAP_SMALL / 7 + 1) * 100];
    static size_t sizes[(FL_LUA_HEAP_SMALL / 7 + 1) * 100];
    size_t nmany = 0;
    struct fl_lua_heap *h = fl_lua_heap_new();
    FL_CHECK(h != NULL);
    /* A freed block is the next one of its class, whatever size in the class asks. */
    char *a = fl_lua_heap_alloc(h, NULL, 0, 40);
    FL_CHECK(a != NULL);
    FL_CHECK(((uintptr_t)a & 15) == 0);
    memset(a, 'a', 40);
    FL_CHECK(fl_lua_heap_alloc(h, a, 40, 0) == NULL);
    char *b = fl_lua_heap_alloc(h, NULL, 0, 48);
    FL_CHECK(b != NULL);
    FL_CHECK(!FL_LUA_HEAP_POOLED || b == a);
    /* Within the class: the same block. Across classes and into malloc: the contents move. */
    memset(b, 'b', 48);
    char *b2 = fl_lua_heap_alloc(h, b, 48, 33);
    FL_CHECK(b2 != NULL && memcmp(b2, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 33) == 0);
    FL_CHECK(!FL_LUA_HEAP_POOLED || b2 == b);
    b = b2;
    char *c = fl_lua_heap_alloc(h, b, 33, 200);
    FL_CHECK(c != NULL);
    FL_CHECK(memcmp(c, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 33) == 0);
    memset(c, 'c', 200);
    char *d = fl_lua_heap_alloc(h, c, 200, FL_LUA_HEAP_SMALL + 5000);
    FL_CHECK(d != NULL);
    FL_CHECK(d[0] == 'c' && d[199] == 'c');
    d[FL_LUA_HEAP_SMALL + 4999] = 'd';
    char *e = fl_lua_heap_alloc(h, d, FL_LUA_HEAP_SMALL + 5000, FL_LUA_HEAP_SMALL + 90000);
    FL_CHECK(e != NULL && e[0] == 'c' && e[FL_LUA_HEAP_SMALL + 4999] == 'd');
    char *f = fl_lua_heap_alloc(h, e, FL_LUA_HEAP_SMALL + 90000, 16);
    FL_CHECK(f != NULL && f[0] == 'c' && f[15] == 'c');
    /* The block c left is the next of its class. */
    char *g = fl_lua_heap_alloc(h, NULL, 0, 200);
    FL_CHECK(g != NULL);
    FL_CHECK(!FL_LUA_HEAP_POOLED || g == c);
    fl_lua_heap_alloc(h, g, 200, 0);
    /* Many blocks of every class: distinct, aligned, each keeping what was written to it. */
    for (size_t n = 1; n <= FL_LUA_HEAP_SMALL; n += 7) {
        for (int k = 0; k < 100; k++) {
            char *p = fl_lua_heap_alloc(h, NULL, 0, n);
            FL_CHECK(p != NULL && ((uintptr_t)p & 15) == 0);
            memset(p, k, n);
            FL_CHECK(nmany == 0 || p != many[nmany - 1]);
            many[nmany] = p;
            sizes[nmany++] = n;
        }
    }
    FL_CHECK(fl_lua_heap_alloc(h, f, 16, 0) == NULL);
    /* Every block kept what was written to it: none overlaps another. */
    for (size_t i = 0; i < nmany; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            FL_CHECK(many[i][j] == (char)(i % 100));
end:
    while (nmany > 0) {
        nmany--;
        fl_lua_heap_alloc(h, many[nmany], sizes[nmany], 0);
    }
    fl_lua_heap_free(h);
}

/* A state whose garbage changes size from phase to phase: the lists must follow the state down
 * after each phase, not keep every size's peak. */
FL_TEST(the_lists_shrink_with_the_state)
{
    struct fl_lua_heap *h = NULL;
    lua_State *L = fl_lua_heap_newstate(&h);
    FL_CHECK(L != NULL && h != NULL);
    luaL_openlibs(L);
    static const int lengths[] = {8, 40, 150, 700, 24};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        /* about 6 MB of strings of this length, then none */
        lua_pushfstring(L, "local t = {} for i = 1, %d do t[i] = ('%%d'):format(i) .. "
                           "('x'):rep(%d) end local peak = collectgarbage('count') t = nil "
                           "collectgarbage() collectgarbage() return peak",
                        6000000 / (lengths[i] + 40), lengths[i]);
        FL_CHECK(luaL_dostring(L, lua_tostring(L, -1)) == 0);
        double peak_kb = lua_tonumber(L, -1);
        lua_pop(L, 2);
        size_t in_use = fl_lua_heap_in_use(h), cached = fl_lua_heap_cached(h);
        if (FL_LUA_HEAP_POOLED) {
            /* each phase peaks at megabytes; what is kept afterwards is bounded */
            FL_CHECK(peak_kb * 1024 > 2.0 * FL_LUA_HEAP_CACHE_MIN);
            if (cached > (in_use > FL_LUA_HEAP_CACHE_MIN ? in_use : FL_LUA_HEAP_CACHE_MIN)) {
                fprintf(stderr, "  length %d: %zu bytes listed for %zu in use\n", lengths[i],
                        cached, in_use);
                FL_CHECK(0);
            }
        } else {
            FL_CHECK_INT(cached, 0);
        }
        FL_CHECK(in_use < FL_LUA_HEAP_CACHE_MIN);
    }
end:
    if (L)
        lua_close(L);
    if (h)
        FL_CHECK_INT(fl_lua_heap_in_use(h), 0);
    fl_lua_heap_free(h);
}

FL_TEST(a_state_on_the_heap_runs_and_closes)
{
    struct fl_lua_heap *h = NULL;
    lua_State *L = fl_lua_heap_newstate(&h);
    FL_CHECK(L != NULL);
    FL_CHECK(h != NULL); /* this LuaJIT (GC64) takes an allocator */
    luaL_openlibs(L);
    FL_CHECK(luaL_dostring(L, "local t = {} for i = 1, 1e5 do t[i] = tostring(i) end "
                              "collectgarbage() return #t") == 0);
    FL_CHECK_INT(lua_tointeger(L, -1), 100000);
end:
    if (L)
        lua_close(L);
    fl_lua_heap_free(h);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(luajit_returns_every_block_with_its_size);
    FL_RUN(blocks_come_back_by_class_and_reallocation_keeps_contents);
    FL_RUN(the_lists_shrink_with_the_state);
    FL_RUN(a_state_on_the_heap_runs_and_closes);
    return FL_TEST_SUMMARY();
}
