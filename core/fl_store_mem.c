/* fixlua — the memory store: struct fl_store_ops kept entirely in RAM.
 *
 * For tests and for users who ask for no persistence. All message bytes live in one growing
 * arena and an index of {seq, offset, length} sorted by seq points into it, so a commit costs
 * amortised copies and no malloc per message. A seq stored again (after an explicit lower
 * next_sender) replaces the index entry and its old bytes stay in the arena, unreachable, until
 * reset() frees everything. Iterators hold a cursor (the next seq to look at) and find it by
 * binary search on every step, so commits made while an iterator is open are safe; they copy
 * each message into a buffer the iterator owns, so the returned bytes stay valid until the next
 * iter_next() even if a commit moves the arena. Ownership: the store owns its arena, index and
 * nothing else; an iterator owns its copy buffer and must be closed before the store. Depends on
 * fl_store.h and libc only. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_store.h"

struct mem_entry {
    uint64_t seq;
    size_t off;     /* into the arena */
    size_t len;
};

struct mem_store {
    struct fl_store base;       /* first: the vtable user sees only this */
    uint64_t next_sender;
    uint64_t next_target;
    int64_t creation_time;
    char *arena;                /* all message bytes, appended */
    size_t arena_len;
    size_t arena_cap;
    struct mem_entry *ents;     /* sorted by seq, one per stored seq */
    size_t nents;
    size_t ents_cap;
};

struct mem_iter {
    struct fl_store_iter base;  /* first */
    struct mem_store *s;
    uint64_t pos;               /* next seq to return, if stored */
    uint64_t end;               /* last seq wanted (inclusive) */
    bool done;                  /* no more messages in range */
    size_t hint;                /* where pos was found last time, to skip the binary search */
    char *buf;                  /* copy of the current message */
    size_t cap;
};

static const struct fl_store_ops mem_ops;

static uint64_t mem_next_sender(const struct fl_store *base)
{
    return ((const struct mem_store *)base)->next_sender;
}

static uint64_t mem_next_target(const struct fl_store *base)
{
    return ((const struct mem_store *)base)->next_target;
}

static int64_t mem_creation_time(const struct fl_store *base)
{
    return ((const struct mem_store *)base)->creation_time;
}

/* Index of the first entry with seq >= key (nents if none). */
static size_t lower_bound(const struct mem_store *s, uint64_t key)
{
    size_t lo = 0, hi = s->nents;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ents[mid].seq < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Grows *p (element size `size`, capacity *cap) to hold at least `need` elements, doubling so
 * steady-state appends do not allocate. Returns false on overflow or allocation failure, leaving
 * *p untouched. */
static bool reserve(void **p, size_t *cap, size_t need, size_t size)
{
    size_t ncap;
    void *np;

    if (need <= *cap)
        return true;
    ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return false;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / size)
        return false;
    np = realloc(*p, ncap * size);
    if (!np)
        return false;
    *p = np;
    *cap = ncap;
    return true;
}

/* Checks the batch against the fl_store_batch contract; the detail goes to last_error. */
static int check_batch(struct mem_store *s, const struct fl_store_batch *b, size_t *total)
{
    size_t sum = 0;

    if (!b) {
        snprintf(s->base.last_error, sizeof(s->base.last_error), "commit: NULL batch");
        return FL_EINVAL;
    }
    if (b->nmsgs && !b->msgs) {
        snprintf(s->base.last_error, sizeof(s->base.last_error), "commit: %zu messages, NULL msgs",
                 b->nmsgs);
        return FL_EINVAL;
    }
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct fl_store_msg *m = &b->msgs[i];
        /* UINT64_MAX is refused so that the derived next_sender (seq + 1) never wraps to 0. */
        if (m->seq == 0 || m->seq == UINT64_MAX || (i > 0 && m->seq <= b->msgs[i - 1].seq) ||
            (m->len && !m->data)) {
            snprintf(s->base.last_error, sizeof(s->base.last_error),
                     "commit: message %zu (seq %llu) has a zero, non-ascending or unusable seq, or "
                     "NULL data", i, (unsigned long long)m->seq);
            return FL_EINVAL;
        }
        if (m->len > SIZE_MAX - sum) {
            snprintf(s->base.last_error, sizeof(s->base.last_error), "commit: batch too large");
            return FL_ELIMIT;
        }
        sum += m->len;
    }
    *total = sum;
    return FL_OK;
}

static int mem_commit(struct fl_store *base, const struct fl_store_batch *b)
{
    struct mem_store *s = (struct mem_store *)base;
    size_t total;
    int rc;

    rc = check_batch(s, b, &total);
    if (rc != FL_OK)
        return rc;
    /* Reserve everything first so that nothing below can fail halfway: a batch is atomic. */
    if (total > SIZE_MAX - s->arena_len || b->nmsgs > SIZE_MAX - s->nents ||
        !reserve((void **)&s->arena, &s->arena_cap, s->arena_len + total, 1) ||
        !reserve((void **)&s->ents, &s->ents_cap, s->nents + b->nmsgs, sizeof(*s->ents))) {
        snprintf(s->base.last_error, sizeof(s->base.last_error),
                 "commit: out of memory for %zu messages (%zu bytes)", b->nmsgs, total);
        return FL_ENOMEM;
    }
    for (size_t i = 0; i < b->nmsgs; i++) {
        const struct fl_store_msg *m = &b->msgs[i];
        struct mem_entry e = {m->seq, s->arena_len, m->len};
        size_t at;

        if (m->len)
            memcpy(s->arena + s->arena_len, m->data, m->len);
        s->arena_len += m->len;
        if (s->nents == 0 || m->seq > s->ents[s->nents - 1].seq) {
            s->ents[s->nents++] = e;    // the usual case: ascending appends
            continue;
        }
        at = lower_bound(s, m->seq);
        if (s->ents[at].seq == m->seq) {
            s->ents[at] = e;            // stored again: the newest copy wins
        } else {
            memmove(&s->ents[at + 1], &s->ents[at], (s->nents - at) * sizeof(*s->ents));
            s->ents[at] = e;
            s->nents++;
        }
    }
    if (b->next_sender)
        s->next_sender = b->next_sender;
    else if (b->nmsgs)
        s->next_sender = b->msgs[b->nmsgs - 1].seq + 1;
    if (b->next_target)
        s->next_target = b->next_target;
    return FL_OK;
}

static int mem_reset(struct fl_store *base, int64_t now)
{
    struct mem_store *s = (struct mem_store *)base;

    /* Freed rather than kept: a daily reset should give back a day's worth of messages. */
    free(s->arena);
    free(s->ents);
    s->arena = NULL;
    s->ents = NULL;
    s->arena_len = s->arena_cap = s->nents = s->ents_cap = 0;
    s->next_sender = s->next_target = 1;
    s->creation_time = now;
    return FL_OK;
}

static int mem_flush(struct fl_store *base)
{
    return FL_OK;
}

static int mem_iter_open(struct fl_store *base, uint64_t begin, uint64_t end,
                         struct fl_store_iter **out)
{
    struct mem_store *s = (struct mem_store *)base;
    struct mem_iter *it;

    if (!out)
        return FL_EINVAL;
    *out = NULL;
    it = calloc(1, sizeof(*it));
    if (!it) {
        snprintf(s->base.last_error, sizeof(s->base.last_error), "iter_open: out of memory");
        return FL_ENOMEM;
    }
    it->base.ops = &mem_ops;
    it->s = s;
    it->pos = begin ? begin : 1;
    it->end = end ? end : UINT64_MAX;
    *out = &it->base;
    return FL_OK;
}

static int mem_iter_next(struct fl_store_iter *base, uint64_t *seq, const char **data, size_t *len)
{
    struct mem_iter *it = (struct mem_iter *)base;
    const struct mem_store *s = it->s;
    const struct mem_entry *e;
    size_t at;

    if (it->done || it->pos > it->end)
        return FL_ENOENT;
    /* The hint is right unless a commit inserted below it; check before trusting it. */
    at = it->hint;
    if (!(at <= s->nents && (at == s->nents || s->ents[at].seq >= it->pos) &&
          (at == 0 || s->ents[at - 1].seq < it->pos)))
        at = lower_bound(s, it->pos);
    if (at == s->nents || s->ents[at].seq > it->end) {
        it->done = true;
        return FL_ENOENT;
    }
    e = &s->ents[at];
    if (e->len > it->cap) {
        char *nb = realloc(it->buf, e->len);
        if (!nb)
            return FL_ENOMEM;
        it->buf = nb;
        it->cap = e->len;
    }
    if (e->len)
        memcpy(it->buf, s->arena + e->off, e->len);
    *seq = e->seq;
    *data = it->buf;
    *len = e->len;
    it->pos = e->seq + 1;       // e->seq < UINT64_MAX: commit refuses that seq
    it->hint = at + 1;
    return FL_OK;
}

static void mem_iter_close(struct fl_store_iter *base)
{
    struct mem_iter *it = (struct mem_iter *)base;

    free(it->buf);
    free(it);
}

static void mem_close(struct fl_store *base)
{
    struct mem_store *s = (struct mem_store *)base;

    free(s->arena);
    free(s->ents);
    free(s);
}

static const struct fl_store_ops mem_ops = {
    .name = "memory",
    .next_sender = mem_next_sender,
    .next_target = mem_next_target,
    .creation_time = mem_creation_time,
    .commit = mem_commit,
    .reset = mem_reset,
    .flush = mem_flush,
    .iter_open = mem_iter_open,
    .iter_next = mem_iter_next,
    .iter_close = mem_iter_close,
    .close = mem_close,
};

/* Creates an empty memory store at 1/1 with creation time `now`. Returns FL_OK (the caller owns
 * *out and frees it with fl_store_close()), FL_EINVAL for a NULL out, or FL_ENOMEM. */
int fl_store_mem_new(int64_t now, struct fl_store **out)
{
    struct mem_store *s;

    if (!out)
        return FL_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->base.ops = &mem_ops;
    s->next_sender = s->next_target = 1;
    s->creation_time = now;
    *out = &s->base;
    return FL_OK;
}
