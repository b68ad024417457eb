/* fixlua — the timer heap against a plain list: random pushes, cancels, reschedules and pops,
 * checking after each step that the top is the list's earliest (deadline, then id) and that
 * every timer is found where the list says it is. */
#include <stdlib.h>
#include <string.h>

#include "fl_err.h"
#include "fl_test.h"
#include "fl_timer_heap.h"

#define MODEL_MAX 4096

struct model {
    struct fl_timer v[MODEL_MAX];
    size_t n;
};

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const struct fl_timer *model_first(const struct model *m)
{
    const struct fl_timer *best = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (!best || m->v[i].deadline < best->deadline ||
            (m->v[i].deadline == best->deadline && m->v[i].id < best->id))
            best = &m->v[i];
    return best;
}

static struct fl_timer *model_find(struct model *m, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].id == id)
            return &m->v[i];
    return NULL;
}

static void model_remove(struct model *m, uint64_t id)
{
    struct fl_timer *t = model_find(m, id);
    if (t)
        *t = m->v[--m->n];
}

/* The heap's top agrees with the model, and so does the heap's shape. */
static int consistent(const struct fl_timer_heap *h, const struct model *m)
{
    if (h->n != m->n)
        return 0;
    const struct fl_timer *a = fl_timer_heap_top(h), *b = model_first(m);
    if (!a || !b)
        return !a && !b;
    if (a->id != b->id || a->deadline != b->deadline)
        return 0;
    for (size_t i = 1; i < h->n; i++) { /* no child before its parent */
        const struct fl_timer *c = &h->v[i], *p = &h->v[(i - 1) / 2];
        if (c->deadline < p->deadline || (c->deadline == p->deadline && c->id < p->id))
            return 0;
    }
    return 1;
}

FL_TEST(random_operations_match_a_plain_list)
{
    static struct model m;
    struct fl_timer_heap h;
    fl_timer_heap_init(&h);
    m.n = 0;
    uint64_t next_id = 1;
    for (int step = 0; step < 200000; step++) {
        uint64_t r = next_rand() % 100;
        /* Few distinct deadlines, so ties (ordered by id) are common. */
        int64_t deadline = (int64_t)(next_rand() % 64);
        if (r < 45 && m.n < MODEL_MAX) {
            struct fl_timer t = {.id = next_id++, .deadline = deadline};
            FL_CHECK(fl_timer_heap_push(&h, &t) == FL_OK);
            m.v[m.n++] = t;
        } else if (r < 65 && m.n) { /* cancel one, sometimes one that is gone */
            uint64_t id = m.v[next_rand() % m.n].id + (next_rand() % 8 == 0 ? next_id : 0);
            struct fl_timer out;
            int found = model_find(&m, id) != NULL;
            FL_CHECK_INT(fl_timer_heap_remove(&h, id, &out), found);
            if (found)
                FL_CHECK(out.id == id);
            model_remove(&m, id);
        } else if (r < 80 && m.n) {
            uint64_t id = m.v[next_rand() % m.n].id;
            FL_CHECK_INT(fl_timer_heap_reschedule(&h, id, deadline), 1);
            model_find(&m, id)->deadline = deadline;
        } else if (m.n) { /* run the first */
            const struct fl_timer *top = fl_timer_heap_top(&h);
            FL_CHECK(top != NULL);
            uint64_t id = top->id;
            FL_CHECK_INT(fl_timer_heap_remove(&h, id, NULL), 1);
            model_remove(&m, id);
        }
        FL_CHECK(consistent(&h, &m));
    }
    /* Every timer left is found by its id, and nothing else is. */
    for (size_t i = 0; i < m.n; i++)
        FL_CHECK_INT(fl_timer_heap_reschedule(&h, m.v[i].id, m.v[i].deadline), 1);
    FL_CHECK_INT(fl_timer_heap_reschedule(&h, next_id, 0), 0);
    FL_CHECK_INT(fl_timer_heap_remove(&h, 0, NULL), 0);
    /* Draining gives (deadline, id) order. */
    int64_t last_deadline = INT64_MIN;
    uint64_t last_id = 0;
    while (fl_timer_heap_top(&h)) {
        struct fl_timer t = *fl_timer_heap_top(&h);
        FL_CHECK(t.deadline > last_deadline || (t.deadline == last_deadline && t.id > last_id));
        last_deadline = t.deadline;
        last_id = t.id;
        FL_CHECK_INT(fl_timer_heap_remove(&h, t.id, NULL), 1);
    }
end:
    fl_timer_heap_release(&h);
}

/* Many timers due at once: popping them all is n log n, not n^2 (16,000 here, which took over
 * a second with the old list under ASan), and they come out oldest first. */
FL_TEST(a_burst_of_due_timers_runs_oldest_first)
{
    struct fl_timer_heap h;
    fl_timer_heap_init(&h);
    const uint64_t n = 16000;
    for (uint64_t id = 1; id <= n; id++) {
        struct fl_timer t = {.id = id, .deadline = 5};
        FL_CHECK(fl_timer_heap_push(&h, &t) == FL_OK);
    }
    for (uint64_t id = 1; id <= n; id++) {
        const struct fl_timer *top = fl_timer_heap_top(&h);
        FL_CHECK(top != NULL && top->id == id);
        FL_CHECK_INT(fl_timer_heap_remove(&h, id, NULL), 1);
    }
    FL_CHECK(fl_timer_heap_top(&h) == NULL);
end:
    fl_timer_heap_release(&h);
}

int main(void)
{
    FL_RUN(random_operations_match_a_plain_list);
    FL_RUN(a_burst_of_due_timers_runs_oldest_first);
    return FL_TEST_SUMMARY();
}
