/* fixlua — helpers shared by the store tests: commit a batch of NUL-terminated messages, and
 * check that an iterator yields exactly the expected messages. Header-only (test code). */
#ifndef STORE_HARNESS_H
#define STORE_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fl_store.h"

struct want {
    uint64_t seq;
    const char *data;
};

/* Commits one batch of NUL-terminated messages. */
static int commit_msgs(struct fl_store *s, uint64_t next_target, uint64_t next_sender,
                       const struct want *m, size_t n)
{
    struct fl_store_msg msgs[16];
    struct fl_store_batch b = {next_target, next_sender, n ? msgs : NULL, n};

    for (size_t i = 0; i < n && i < 16; i++)
        msgs[i] = (struct fl_store_msg){m[i].seq, m[i].data, strlen(m[i].data)};
    return fl_store_commit(s, &b);
}

/* True if iterating [begin, end] yields exactly w[0..n), in order, byte for byte, and the
 * iterator then stays at its end. Prints the first difference. */
static int iter_matches(struct fl_store *s, uint64_t begin, uint64_t end, const struct want *w,
                        size_t n)
{
    struct fl_store_iter *it = NULL;
    uint64_t seq;
    const char *d;
    size_t len, i = 0;
    int rc, ok = 0;

    rc = fl_store_iter_open(s, begin, end, &it);
    if (rc != FL_OK) {
        fprintf(stderr, "  iter_open: %d\n", rc);
        return 0;
    }
    while ((rc = fl_store_iter_next(it, &seq, &d, &len)) == FL_OK) {
        if (i >= n || seq != w[i].seq || len != strlen(w[i].data) || memcmp(d, w[i].data, len)) {
            fprintf(stderr, "  [%llu,%llu] item %zu: got seq %llu \"%.*s\"\n",
                    (unsigned long long)begin, (unsigned long long)end, i,
                    (unsigned long long)seq, (int)len, d);
            goto out;
        }
        i++;
    }
    if (rc != FL_ENOENT || i != n) {
        fprintf(stderr, "  [%llu,%llu]: rc %d (%s) after %zu items, want %zu\n",
                (unsigned long long)begin, (unsigned long long)end, rc, s->last_error, i, n);
        goto out;
    }
    ok = fl_store_iter_next(it, &seq, &d, &len) == FL_ENOENT;
out:
    fl_store_iter_close(it);
    return ok;
}


/* Commits seqs 1..3, opens an iterator at 2 and reads one message, commits 4..last (one
 * message a batch), then checks the message read first is still intact and the iterator
 * continues with 3..last and ends. Both stores must keep an iterator's place and the bytes it
 * returned across commits (the file store past its read window, the memory store past arena
 * growth). Returns 1 when all holds; prints the first difference. */
static int iterator_survives_commits(struct fl_store *s, uint64_t last)
{
    struct fl_store_iter *it = NULL;
    char buf[64];
    uint64_t seq;
    const char *d = NULL;
    size_t len = 0;
    int ok = 0;

    if (last < 4)
        return 0;
    for (uint64_t i = 1; i <= last; i++) {
        if (i == 4) {
            if (fl_store_iter_open(s, 2, 0, &it) != FL_OK ||
                fl_store_iter_next(it, &seq, &d, &len) != FL_OK || len != 2 ||
                memcmp(d, "m2", 2) != 0) {
                fprintf(stderr, "  first read from 2 failed\n");
                goto out;
            }
        }
        struct fl_store_msg m = {i, buf, (size_t)snprintf(buf, sizeof buf, "m%llu",
                                                          (unsigned long long)i)};
        struct fl_store_batch b = {0, 0, &m, 1};
        if (fl_store_commit(s, &b) != FL_OK) {
            fprintf(stderr, "  commit %llu failed: %s\n", (unsigned long long)i, s->last_error);
            goto out;
        }
    }
    if (len != 2 || memcmp(d, "m2", 2) != 0) {
        fprintf(stderr, "  bytes returned before the commits changed\n");
        goto out;
    }
    for (uint64_t want = 3; want <= last; want++) {
        snprintf(buf, sizeof buf, "m%llu", (unsigned long long)want);
        if (fl_store_iter_next(it, &seq, &d, &len) != FL_OK || seq != want ||
            len != strlen(buf) || memcmp(d, buf, len) != 0) {
            fprintf(stderr, "  expected seq %llu\n", (unsigned long long)want);
            goto out;
        }
    }
    ok = fl_store_iter_next(it, &seq, &d, &len) == FL_ENOENT;
out:
    fl_store_iter_close(it);
    return ok;
}

#endif
