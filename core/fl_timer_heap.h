/* fixlua — the engine's timers: a binary min-heap ordered by (deadline, id), with an index from
 * id to heap position, so adding, cancelling and rescheduling a timer cost O(log n) and the
 * next one due is at the top. A linear list made a burst of n due timers cost O(n^2): 16,000
 * script timers took over a second per tick. Ties go to the older timer (the lower id), so
 * timers due at the same instant run in the order they were made. */
#ifndef FL_TIMER_HEAP_H
#define FL_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct fl_timer {
    uint64_t id;       /* nonzero, unique in the heap */
    int64_t deadline;  /* ns on the engine's clock */
    int64_t every;     /* > 0: periodic, in ns */
    void (*fn)(void *ctx, uint64_t id);
    void *ctx;
};

struct fl_timer_slot {
    uint64_t id; /* 0: empty */
    size_t pos;
};

struct fl_timer_heap {
    struct fl_timer *v;
    size_t n, cap;
    struct fl_timer_slot *index; /* open addressing by id, at most half full */
    size_t index_cap;            /* a power of two, or 0 */
};

void fl_timer_heap_init(struct fl_timer_heap *h);
void fl_timer_heap_release(struct fl_timer_heap *h);
/* Adds a copy of *t (whose id is not in the heap). Returns FL_OK or FL_ENOMEM. */
int fl_timer_heap_push(struct fl_timer_heap *h, const struct fl_timer *t);
/* The timer due first, or NULL when there is none; valid until the heap changes. */
const struct fl_timer *fl_timer_heap_top(const struct fl_timer_heap *h);
/* Removes timer `id`, copying it to *out when out is not NULL. Returns 1, or 0 when absent. */
int fl_timer_heap_remove(struct fl_timer_heap *h, uint64_t id, struct fl_timer *out);
/* Moves timer `id` to `deadline`. Returns 1, or 0 when absent. */
int fl_timer_heap_reschedule(struct fl_timer_heap *h, uint64_t id, int64_t deadline);

#endif
