/* fixlua — timers as a min-heap with an id index (see fl_timer_heap.h). */
#include "fl_timer_heap.h"

#include <stdlib.h>
#include <string.h>

#include "fl_err.h"

void fl_timer_heap_init(struct fl_timer_heap *h)
{
    memset(h, 0, sizeof *h);
}

void fl_timer_heap_release(struct fl_timer_heap *h)
{
    free(h->v);
    free(h->index);
    fl_timer_heap_init(h);
}

/* ---- the index: linear probing, deletion by backward shift (no tombstones) ---- */

static size_t home(const struct fl_timer_heap *h, uint64_t id)
{
    /* Fibonacci hashing: consecutive ids spread over the table. */
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (h->index_cap - 1);
}

/* The slot holding id, or NULL. */
static struct fl_timer_slot *slot_of(const struct fl_timer_heap *h, uint64_t id)
{
    if (!h->index_cap || id == 0) /* 0 marks an empty slot */
        return NULL;
    for (size_t i = home(h, id);; i = (i + 1) & (h->index_cap - 1)) {
        if (h->index[i].id == id)
            return &h->index[i];
        if (h->index[i].id == 0)
            return NULL;
    }
}

static void slot_insert(struct fl_timer_heap *h, uint64_t id, size_t pos)
{
    size_t i = home(h, id);
    while (h->index[i].id != 0)
        i = (i + 1) & (h->index_cap - 1);
    h->index[i] = (struct fl_timer_slot){.id = id, .pos = pos};
}

static void slot_erase(struct fl_timer_heap *h, struct fl_timer_slot *slot)
{
    size_t mask = h->index_cap - 1;
    size_t i = (size_t)(slot - h->index);
    for (size_t j = (i + 1) & mask; h->index[j].id != 0; j = (j + 1) & mask) {
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        size_t k = home(h, h->index[j].id);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            h->index[i] = h->index[j];
            i = j;
        }
    }
    h->index[i].id = 0;
}

static int index_grow(struct fl_timer_heap *h, size_t need)
{
    if (need * 2 <= h->index_cap)
        return FL_OK;
    size_t cap = h->index_cap ? h->index_cap : 16;
    while (need * 2 > cap)
        cap *= 2;
    struct fl_timer_slot *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return FL_ENOMEM;
    free(h->index);
    h->index = idx;
    h->index_cap = cap;
    for (size_t p = 0; p < h->n; p++)
        slot_insert(h, h->v[p].id, p);
    return FL_OK;
}

/* ---- the heap ---- */

static int before(const struct fl_timer *a, const struct fl_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void place(struct fl_timer_heap *h, size_t pos, const struct fl_timer *t)
{
    h->v[pos] = *t;
    slot_of(h, t->id)->pos = pos;
}

static void sift_up(struct fl_timer_heap *h, size_t pos)
{
    struct fl_timer t = h->v[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!before(&t, &h->v[parent]))
            break;
        place(h, pos, &h->v[parent]);
        pos = parent;
    }
    place(h, pos, &t);
}

static void sift_down(struct fl_timer_heap *h, size_t pos)
{
    struct fl_timer t = h->v[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && before(&h->v[child + 1], &h->v[child]))
            child++;
        if (!before(&h->v[child], &t))
            break;
        place(h, pos, &h->v[child]);
        pos = child;
    }
    place(h, pos, &t);
}

int fl_timer_heap_push(struct fl_timer_heap *h, const struct fl_timer *t)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct fl_timer *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return FL_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    if (index_grow(h, h->n + 1) != FL_OK)
        return FL_ENOMEM;
    h->v[h->n] = *t;
    slot_insert(h, t->id, h->n);
    h->n++;
    sift_up(h, h->n - 1);
    return FL_OK;
}

const struct fl_timer *fl_timer_heap_top(const struct fl_timer_heap *h)
{
    return h->n ? &h->v[0] : NULL;
}

int fl_timer_heap_remove(struct fl_timer_heap *h, uint64_t id, struct fl_timer *out)
{
    struct fl_timer_slot *slot = slot_of(h, id);
    if (!slot)
        return 0;
    size_t pos = slot->pos;
    if (out)
        *out = h->v[pos];
    slot_erase(h, slot);
    h->n--;
    if (pos < h->n) { /* the last timer fills the hole, then finds its place */
        uint64_t moved = h->v[h->n].id;
        place(h, pos, &h->v[h->n]);
        sift_up(h, pos);
        sift_down(h, slot_of(h, moved)->pos);
    }
    return 1;
}

int fl_timer_heap_reschedule(struct fl_timer_heap *h, uint64_t id, int64_t deadline)
{
    struct fl_timer_slot *slot = slot_of(h, id);
    if (!slot)
        return 0;
    size_t pos = slot->pos;
    h->v[pos].deadline = deadline;
    sift_up(h, pos);
    sift_down(h, slot_of(h, id)->pos);
    return 1;
}
