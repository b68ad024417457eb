/* fixlua — the allocator of a session's Lua state (see fl_lua_heap.h). */
#include "fl_lua_heap.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GRAIN 16u
#define NCLASSES (FL_LUA_HEAP_SMALL / GRAIN)

struct free_block {
    struct free_block *next;
};

struct fl_lua_heap {
    struct free_block *free[NCLASSES + 1]; /* by class: blocks of class * GRAIN bytes */
    size_t cached;                         /* bytes in the lists */
    size_t held;                           /* bytes malloc'd: the state's and the lists' */
    size_t trim_class;                     /* the class trim() takes from first */
};

size_t fl_lua_heap_cached(const struct fl_lua_heap *h)
{
    return h ? h->cached : 0;
}

size_t fl_lua_heap_in_use(const struct fl_lua_heap *h)
{
    return h ? h->held - h->cached : 0;
}

static inline size_t class_of(size_t n)
{
    return (n + GRAIN - 1) / GRAIN;
}

/* The lists may hold as much as the state holds, and FL_LUA_HEAP_CACHE_MIN at least: whether
 * they may take `size` more bytes (given back by the state). Only the lists' count changes on
 * the way of every message; `held` moves with malloc and free. */
static inline int may_list(const struct fl_lua_heap *h, size_t size)
{
    size_t listed = h->cached + size;
    return listed <= FL_LUA_HEAP_CACHE_MIN || 2 * listed <= h->held;
}

static inline int over_limit(const struct fl_lua_heap *h)
{
    return h->cached > FL_LUA_HEAP_CACHE_MIN && 2 * h->cached > h->held;
}

#if FL_LUA_HEAP_POOLED
/* Gives listed blocks back to malloc, from class to class, until the lists are within their
 * limit again. Each block is given back at most once for each time it was listed, so this
 * costs nothing extra over time. */
static void trim(struct fl_lua_heap *h)
{
    while (over_limit(h)) {
        size_t c = 1 + h->trim_class % NCLASSES;
        struct free_block *b = h->free[c];
        if (!b) {
            h->trim_class = c; /* the next class */
            continue;
        }
        h->free[c] = b->next;
        h->cached -= c * GRAIN;
        h->held -= c * GRAIN;
        free(b);
    }
}

static void *take(struct fl_lua_heap *h, size_t n)
{
    size_t c = class_of(n);
    struct free_block *b = h->free[c];
    void *p;
    if (b) {
        h->free[c] = b->next;
        h->cached -= c * GRAIN;
        p = b;
    } else {
        p = malloc(c * GRAIN);
        if (!p)
            return NULL;
        h->held += c * GRAIN;
    }
    return p;
}

static inline void list_block(struct fl_lua_heap *h, void *p, size_t c)
{
    struct free_block *b = p;
    b->next = h->free[c];
    h->free[c] = b;
    h->cached += c * GRAIN;
}

static void give(struct fl_lua_heap *h, void *p, size_t n)
{
    size_t c = class_of(n), size = c * GRAIN;
    if (may_list(h, size)) {
        list_block(h, p, c);
        return;
    }
    /* Over the limit (the state has shrunk, or garbage of other sizes fills the lists): this
     * block goes back to malloc, and so do listed ones, so the lists follow the state down
     * instead of keeping every size's peak. */
    free(p);
    h->held -= size;
    trim(h);
}

static void *take_large(struct fl_lua_heap *h, size_t n)
{
    void *p = malloc(n);
    if (p)
        h->held += n;
    return p;
}

static void give_large(struct fl_lua_heap *h, void *p, size_t n)
{
    h->held -= n;
    free(p);
    trim(h);
}

/* Everything but taking a listed block and giving one back. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void *
alloc_slow(struct fl_lua_heap *h, void *ptr, size_t osize, size_t nsize)
{
    if (!ptr)
        return nsize == 0                   ? NULL
               : nsize <= FL_LUA_HEAP_SMALL ? take(h, nsize)
                                            : take_large(h, nsize);
    if (nsize == 0) {
        if (osize <= FL_LUA_HEAP_SMALL)
            give(h, ptr, osize);
        else
            give_large(h, ptr, osize);
        return NULL;
    }
    if (osize > FL_LUA_HEAP_SMALL && nsize > FL_LUA_HEAP_SMALL) {
        void *q = realloc(ptr, nsize);
        if (!q) {
            /* Lua counts on shrinking never failing: the block stays, big enough, and is
             * counted, and later freed, as nsize bytes (as in the small case below). */
            if (nsize >= osize)
                return NULL;
            h->held = h->held - osize + nsize;
            return ptr;
        }
        h->held = h->held - osize + nsize;
        trim(h);
        return q;
    }
    if (osize <= FL_LUA_HEAP_SMALL && nsize <= FL_LUA_HEAP_SMALL &&
        class_of(osize) == class_of(nsize))
        return ptr;
    void *q = nsize <= FL_LUA_HEAP_SMALL ? take(h, nsize) : take_large(h, nsize);
    if (!q) {
        /* Lua counts on shrinking never failing: the block stays where it is, big enough. It
         * is then accounted, and given back, as a block of the smaller size: malloc'd either
         * way, so the lists may hold it. (The bytes it has beyond that size stay unused and
         * uncounted until it is freed: out of memory, that beats a failed shrink.) */
        if (nsize >= osize)
            return NULL;
        h->held -= osize <= FL_LUA_HEAP_SMALL ? class_of(osize) * GRAIN : osize;
        h->held += class_of(nsize) * GRAIN;
        return ptr;
    }
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osize <= FL_LUA_HEAP_SMALL)
        give(h, ptr, osize);
    else
        give_large(h, ptr, osize);
    return q;
}
#endif

void *fl_lua_heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct fl_lua_heap *h = ud;
#if !FL_LUA_HEAP_POOLED
    if (nsize == 0) {
        free(ptr);
        h->held -= osize;
        return NULL;
    }
    void *q = realloc(ptr, nsize);
    if (!q) {
        if (nsize >= osize)
            return NULL;
        q = ptr; /* a shrink: the block stays, counted as nsize bytes */
    }
    h->held = h->held - osize + nsize;
    return q;
#else
    /* The two calls of every message, kept free of calls so that they need no stack frame. */
    if (!ptr) {
        if (nsize - 1 < FL_LUA_HEAP_SMALL) { /* 1..FL_LUA_HEAP_SMALL */
            size_t c = class_of(nsize);
            struct free_block *b = h->free[c];
            if (b) {
                h->free[c] = b->next;
                h->cached -= c * GRAIN;
                return b;
            }
        }
    } else if (nsize == 0 && osize <= FL_LUA_HEAP_SMALL) {
        size_t c = class_of(osize);
        if (may_list(h, c * GRAIN)) {
            list_block(h, ptr, c);
            return NULL;
        }
    }
    return alloc_slow(h, ptr, osize, nsize);
#endif
}

struct fl_lua_heap *fl_lua_heap_new(void)
{
    return calloc(1, sizeof(struct fl_lua_heap));
}

void fl_lua_heap_free(struct fl_lua_heap *h)
{
    if (!h)
        return;
    for (size_t c = 1; c <= NCLASSES; c++) {
        struct free_block *b = h->free[c];
        while (b) {
            struct free_block *next = b->next;
            free(b);
            b = next;
        }
    }
    free(h);
}

lua_State *fl_lua_heap_newstate(struct fl_lua_heap **heap)
{
    *heap = fl_lua_heap_new();
    if (*heap) {
        lua_State *L = lua_newstate(fl_lua_heap_alloc, *heap);
        if (L)
            return L;
        fl_lua_heap_free(*heap);
        *heap = NULL;
    }
    return luaL_newstate();
}
