/* fixlua — the allocator of a session's Lua state (see fl_lua_heap.h). */
#include "fl_lua_heap.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GRAIN 16u
#define NCLASSES (FL_LUA_HEAP_SMALL / GRAIN)
#define CHUNK_BYTES (64u * 1024u)

struct free_block {
    struct free_block *next;
};

struct chunk {
    struct chunk *next;
    /* the blocks follow, from the first GRAIN-aligned offset */
};

struct fl_lua_heap {
    struct free_block *free[NCLASSES + 1]; /* by class: blocks of class * GRAIN bytes */
    char *bump, *bump_end;                 /* the unused rest of the newest chunk */
    struct chunk *chunks;
};

#if FL_LUA_HEAP_POOLED
static inline size_t class_of(size_t n)
{
    return (n + GRAIN - 1) / GRAIN;
}

static void *take(struct fl_lua_heap *h, size_t n)
{
    size_t c = class_of(n);
    struct free_block *b = h->free[c];
    if (b) {
        h->free[c] = b->next;
        return b;
    }
    size_t size = c * GRAIN;
    if ((size_t)(h->bump_end - h->bump) < size) {
        /* What is left of the old chunk (less than a block of this size) is not used. */
        struct chunk *k = malloc(CHUNK_BYTES);
        if (!k)
            return NULL;
        k->next = h->chunks;
        h->chunks = k;
        uintptr_t first = ((uintptr_t)(k + 1) + GRAIN - 1) & ~(uintptr_t)(GRAIN - 1);
        h->bump = (char *)first;
        h->bump_end = (char *)k + CHUNK_BYTES;
    }
    void *p = h->bump;
    h->bump += size;
    return p;
}

static inline void give(struct fl_lua_heap *h, void *p, size_t n)
{
    struct free_block *b = p;
    size_t c = class_of(n);
    b->next = h->free[c];
    h->free[c] = b;
}

/* Everything but taking a listed block and giving one back. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void *
alloc_slow(struct fl_lua_heap *h, void *ptr, size_t osize, size_t nsize)
{
    if (!ptr)
        return nsize == 0 ? NULL : nsize <= FL_LUA_HEAP_SMALL ? take(h, nsize) : malloc(nsize);
    if (nsize == 0) {
        if (osize <= FL_LUA_HEAP_SMALL)
            give(h, ptr, osize);
        else
            free(ptr);
        return NULL;
    }
    if (osize > FL_LUA_HEAP_SMALL && nsize > FL_LUA_HEAP_SMALL)
        return realloc(ptr, nsize);
    if (osize <= FL_LUA_HEAP_SMALL && nsize <= FL_LUA_HEAP_SMALL &&
        class_of(osize) == class_of(nsize))
        return ptr;
    void *q = nsize <= FL_LUA_HEAP_SMALL ? take(h, nsize) : malloc(nsize);
    if (!q) {
        /* Lua counts on shrinking never failing: the block stays where it is, big enough, and
         * is given back later as a block of the smaller size (a malloc'd one then stays in the
         * lists until the heap is freed, which does not free it: out of memory, a small leak
         * beats a failed shrink). */
        return nsize < osize ? ptr : NULL;
    }
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osize <= FL_LUA_HEAP_SMALL)
        give(h, ptr, osize);
    else
        free(ptr);
    return q;
}

#endif

void *fl_lua_heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct fl_lua_heap *h = ud;
#if !FL_LUA_HEAP_POOLED
    (void)h;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
#else
    /* The two calls of every message, kept free of calls so that they need no stack frame. */
    if (!ptr) {
        if (nsize - 1 < FL_LUA_HEAP_SMALL) { /* 1..FL_LUA_HEAP_SMALL */
            size_t c = class_of(nsize);
            struct free_block *b = h->free[c];
            if (b) {
                h->free[c] = b->next;
                return b;
            }
        }
    } else if (nsize == 0 && osize <= FL_LUA_HEAP_SMALL) {
        give(h, ptr, osize);
        return NULL;
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
    struct chunk *k = h->chunks;
    while (k) {
        struct chunk *next = k->next;
        free(k);
        k = next;
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
