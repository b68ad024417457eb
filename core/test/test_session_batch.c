/* fixlua — the frames of one read as one batch: committed together, handed to the transport in
 * one send_many call, and cut every 64 frames; a reset, a ResendRequest or a disconnect in the
 * middle of a read sees what the frames before it staged. The session answers every
 * NewOrderSingle with an ExecutionReport from its deliver callback, as the engine's scripts do. */
#include "fl_test.h"
#include "session_harness.h"

#include "fl_tags.h"

#define TAG_CL_ORD_ID 11

/* A memory store that counts commits. */
struct counting_store {
    struct fl_store base;
    struct fl_store *inner;
    int commits;
    int fail; /* refuse this many commits, as a full disk would */
};

static struct fl_store *inner_of(const struct fl_store *s)
{
    return ((const struct counting_store *)s)->inner;
}
static uint64_t cs_next_sender(const struct fl_store *s)
{
    return fl_store_next_sender(inner_of(s));
}
static uint64_t cs_next_target(const struct fl_store *s)
{
    return fl_store_next_target(inner_of(s));
}
static int64_t cs_creation_time(const struct fl_store *s)
{
    return fl_store_creation_time(inner_of(s));
}
static int cs_commit(struct fl_store *s, const struct fl_store_batch *b)
{
    struct counting_store *c = (struct counting_store *)s;
    c->commits++;
    if (c->fail > 0) {
        c->fail--;
        snprintf(s->last_error, sizeof s->last_error, "disk full (test)");
        return FL_EIO;
    }
    return fl_store_commit(inner_of(s), b);
}
static int cs_reset(struct fl_store *s, int64_t now) { return fl_store_reset(inner_of(s), now); }
static int cs_flush(struct fl_store *s) { return fl_store_flush(inner_of(s)); }
static int cs_iter_open(struct fl_store *s, uint64_t b, uint64_t e, struct fl_store_iter **it)
{
    return fl_store_iter_open(inner_of(s), b, e, it);
}
static void cs_close(struct fl_store *s)
{
    fl_store_close(inner_of(s));
    free(s);
}
static const struct fl_store_ops counting_ops = {
    .name = "counting", .next_sender = cs_next_sender, .next_target = cs_next_target,
    .creation_time = cs_creation_time, .commit = cs_commit, .reset = cs_reset, .flush = cs_flush,
    .iter_open = cs_iter_open, .close = cs_close};

struct batch_test {
    struct harness h; /* first: the harness callbacks take the same pointer */
    struct counting_store *store;
    int send_many_calls;
    size_t last_count;       /* messages in the last send_many call */
    int lens_match;          /* every call's lengths added up to its n */
    char read[65536];        /* the bytes of the next read, frames back to back */
    size_t read_len;
};

static size_t bt_send_many(void *ctx, const char *p, size_t n, const size_t *lens, size_t count)
{
    struct batch_test *t = ctx;
    t->send_many_calls++;
    t->last_count = count;
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        h_send(&t->h, p + off, lens[i]);
        off += lens[i];
    }
    if (off != n)
        t->lens_match = 0;
    return t->h.backlog;
}

/* Counts like the harness, and answers each NewOrderSingle with an ExecutionReport carrying
 * its ClOrdID. */
static void bt_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct batch_test *t = ctx;
    h_deliver(&t->h, m, is_admin);
    const char *id;
    size_t n;
    if (is_admin || !STR_EQ(t->h.last_app_type, "D") ||
        fl_msg_get_str(m, TAG_CL_ORD_ID, &id, &n) != FL_OK)
        return;
    char body[96];
    int bl = snprintf(body, sizeof body, "11=%.*s\00139=2\001", (int)n, id);
    if (fl_session_send(t->h.s, "8", 1, NULL, 0, body, (size_t)bl, t->h.now) != FL_OK)
        t->lens_match = 0; /* shows up as a failed check */
}

/* What the session's events do in a test: besides the harness's record, an order sent from
 * the first error (as a script's on_error may), its result kept in error_send_rc. */
static int send_on_error, error_send_rc;
static void bt_event(void *ctx, const struct fl_session_event *ev)
{
    struct batch_test *t = ctx;
    h_event_cb(ctx, ev);
    if (send_on_error && ev->type == FL_EV_ERROR) {
        send_on_error = 0;
        const char body[] = "11=late\00155=IBM\001";
        error_send_rc = fl_session_send(t->h.s, "D", 1, NULL, 0, body, sizeof body - 1, t->h.now);
    }
}

/* A logged-on acceptor over a counting store, with send_many when `many` is set; `connect`
 * 0 leaves it before the connection, configured (NextExpectedMsgSeqNum on for `next_expected`). */
static int bt_open_with(struct batch_test *t, int many, int connect, int next_expected)
{
    memset(t, 0, sizeof *t);
    struct harness *h = &t->h;
    h->now = H_T0;
    h->cfg = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    h->cfg.send_next_expected = next_expected;
    h->begin_string = h->cfg.begin_string;
    h->peer_seq = 1;
    fl_msg_init(&h->parsed);
    t->lens_match = 1;
    t->store = calloc(1, sizeof *t->store);
    if (!t->store)
        return -1;
    t->store->base.ops = &counting_ops;
    if (fl_store_mem_new(h->now, &t->store->inner) != FL_OK) {
        free(t->store);
        return -1;
    }
    h->store = &t->store->base;
    struct fl_session_io io = {.ctx = t, .send = h_send, .send_many = many ? bt_send_many : NULL,
                               .disconnect = h_disconnect, .event = bt_event,
                               .deliver = bt_deliver, .validate_logon = h_validate,
                               .should_replay = h_should_replay, .resend_request = h_resend};
    char err[128];
    if (fl_session_new(&h->cfg, h->store, &io, &h->s, err, sizeof err) != FL_OK) {
        fprintf(stderr, "session: %s\n", err);
        return -1;
    }
    if (!connect)
        return 0;
    fl_session_on_connect(h->s, h->now);
    h_in(h, "35=A|34=1|52=NOW|98=0|108=30");
    return fl_session_state(h->s) == FL_STATE_ACTIVE ? 0 : -1;
}

static int bt_open(struct batch_test *t, int many)
{
    return bt_open_with(t, many, 1, 0);
}

/* Appends the frame of `spec` to the next read. */
static int add_frame(struct batch_test *t, const char *spec)
{
    size_t n = h_frame(&t->h, spec, t->read + t->read_len, sizeof t->read - t->read_len);
    t->read_len += n;
    return n > 0;
}

/* Appends `count` NewOrderSingles numbered from `first` (ClOrdID = their MsgSeqNum). */
static int add_orders(struct batch_test *t, int first, int count)
{
    for (int i = 0; i < count; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "35=D|34=%d|52=NOW|11=%d|55=IBM|54=1|38=100|40=1", first + i,
                 first + i);
        if (!add_frame(t, spec))
            return 0;
    }
    return 1;
}

/* Hands the read to the session in one call: 1 when it took every byte. */
static int feed_read(struct batch_test *t)
{
    size_t n = t->read_len;
    t->read_len = 0;
    return fl_session_on_bytes(t->h.s, t->read, n, t->h.now) == n;
}

FL_TEST(frames_of_one_read_are_one_commit_and_one_write)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int commits = t.store->commits, frames = t.h.nframes;
    FL_CHECK(add_orders(&t, 2, 10));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.delivered_app, 10);
    FL_CHECK_INT(t.store->commits - commits, 1);
    FL_CHECK_INT(t.send_many_calls, 2); /* the Logon answer, then this read */
    FL_CHECK_INT(t.last_count, 10);
    FL_CHECK(t.lens_match);
    FL_CHECK_INT(t.h.nframes - frames, 10);
    for (int i = 0; i < 10; i++) { /* each report in order, stored as sent */
        char want[16];
        snprintf(want, sizeof want, "%d", 2 + i);
        FL_CHECK(STR_EQ(h_get(&t.h, frames + i, FL_TAG_MSG_SEQ_NUM), want));
        FL_CHECK(STR_EQ(h_get(&t.h, frames + i, TAG_CL_ORD_ID), want));
    }
    FL_CHECK_INT(fl_store_next_sender(t.h.store), 12);
    FL_CHECK_INT(fl_store_next_target(t.h.store), 12);
end:
    h_close(&t.h);
}

FL_TEST(a_long_burst_is_cut_every_64_frames)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int commits = t.store->commits;
    FL_CHECK(add_orders(&t, 2, 150));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.delivered_app, 150);
    FL_CHECK_INT(t.store->commits - commits, 3); /* 64, 64, 22 */
    FL_CHECK_INT(t.send_many_calls, 4);
    FL_CHECK_INT(t.last_count, 22);
    FL_CHECK(t.lens_match);
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 152);
end:
    h_close(&t.h);
}

/* Without send_many every message goes through send, still after one commit. */
FL_TEST(without_send_many_each_message_is_sent_alone)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 0) == 0);
    int commits = t.store->commits, frames = t.h.nframes;
    FL_CHECK(add_orders(&t, 2, 5));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.store->commits - commits, 1);
    FL_CHECK_INT(t.send_many_calls, 0);
    FL_CHECK_INT(t.h.nframes - frames, 5);
    FL_CHECK(STR_EQ(h_get(&t.h, -1, FL_TAG_MSG_SEQ_NUM), "6"));
end:
    h_close(&t.h);
}

/* A ResendRequest "to the last" behind an order in the same read: the report the order got is
 * one of the numbers sent, and is replayed. */
FL_TEST(resend_request_in_a_read_covers_what_the_read_staged)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int frames = t.h.nframes;
    FL_CHECK(add_orders(&t, 2, 1));
    FL_CHECK(add_frame(&t, "35=2|34=3|52=NOW|7=2|16=0"));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.nframes - frames, 2);
    FL_CHECK(STR_EQ(h_get(&t.h, frames, FL_TAG_MSG_TYPE), "8"));
    FL_CHECK(STR_EQ(h_get(&t.h, frames, FL_TAG_POSS_DUP_FLAG), ""));
    FL_CHECK(STR_EQ(h_get(&t.h, frames + 1, FL_TAG_MSG_TYPE), "8"));
    FL_CHECK(STR_EQ(h_get(&t.h, frames + 1, FL_TAG_MSG_SEQ_NUM), "2"));
    FL_CHECK(STR_EQ(h_get(&t.h, frames + 1, FL_TAG_POSS_DUP_FLAG), "Y"));
    FL_CHECK(STR_EQ(h_get(&t.h, frames + 1, TAG_CL_ORD_ID), "2"));
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 3);
end:
    h_close(&t.h);
}

/* A Logon with ResetSeqNumFlag behind orders in the same read: their reports keep the old
 * numbers and go first; the reset then starts both sequences again. Twice in one read. */
FL_TEST(reset_logon_in_a_read_commits_what_came_before)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int frames = t.h.nframes;
    FL_CHECK(add_orders(&t, 2, 2));
    FL_CHECK(add_frame(&t, "35=A|34=1|52=NOW|98=0|108=30|141=Y"));
    FL_CHECK(add_orders(&t, 2, 1));
    FL_CHECK(add_frame(&t, "35=A|34=1|52=NOW|98=0|108=30|141=Y"));
    FL_CHECK(feed_read(&t));
    FL_CHECK(!h_has_event(&t.h, FL_EV_ERROR));
    FL_CHECK_INT(t.h.disconnected, 0);
    FL_CHECK_INT(t.h.nframes - frames, 5);
    const char *want[][2] = {{"8", "2"}, {"8", "3"}, {"A", "1"}, {"8", "2"}, {"A", "1"}};
    for (int i = 0; i < 5; i++) {
        FL_CHECK(STR_EQ(h_get(&t.h, frames + i, FL_TAG_MSG_TYPE), want[i][0]));
        FL_CHECK(STR_EQ(h_get(&t.h, frames + i, FL_TAG_MSG_SEQ_NUM), want[i][1]));
    }
    FL_CHECK_INT(fl_session_state(t.h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 2);
    FL_CHECK_INT(fl_session_next_target(t.h.s), 2);
    FL_CHECK_INT(fl_store_next_sender(t.h.store), 2);
end:
    h_close(&t.h);
}

/* A frame that ends the connection ends the read: what follows it is not processed. */
FL_TEST(frames_after_a_disconnect_in_the_same_read_are_dropped)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    FL_CHECK(add_orders(&t, 2, 1));
    FL_CHECK(add_frame(&t, "35=0|34=1|52=NOW")); /* too low */
    FL_CHECK(add_orders(&t, 4, 1));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.disconnected, 1);
    FL_CHECK_INT(t.h.delivered_app, 1);
    FL_CHECK(STR_EQ(h_get(&t.h, -2, FL_TAG_MSG_TYPE), "8"));
    FL_CHECK(STR_EQ(h_get(&t.h, -1, FL_TAG_MSG_TYPE), "5"));
    FL_CHECK_INT(fl_session_state(t.h.s), FL_STATE_DISCONNECTED);
    FL_CHECK_INT(fl_store_next_sender(t.h.store), 4);
end:
    h_close(&t.h);
}

/* A read's batch that cannot be committed is rolled back whole: nothing leaves, the connection
 * ends, and the error says which inbound numbers the peer will resend and how many answers were
 * lost, since the application saw those messages once already. */
FL_TEST(a_failed_commit_names_what_the_read_rolled_back)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int frames = t.h.nframes, events = t.h.nevents;
    FL_CHECK(add_orders(&t, 2, 10));
    t.store->fail = 1;
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.delivered_app, 10);
    FL_CHECK_INT(t.h.nframes - frames, 0);
    FL_CHECK_INT(t.h.disconnected, 1);
    const struct h_event *err = NULL;
    for (int i = events; i < t.h.nevents; i++)
        if (t.h.events[i].type == FL_EV_ERROR && !err)
            err = &t.h.events[i];
    FL_CHECK(err != NULL);
    FL_CHECK_INT(err->begin, 2);
    FL_CHECK_INT(err->end, 11);
    FL_CHECK_INT(err->value, FL_EIO);
    FL_CHECK(strstr(err->text, "disk full (test)") != NULL);
    FL_CHECK(strstr(err->text, "inbound 2..11 rolled back") != NULL);
    FL_CHECK(strstr(err->text, "10 messages not sent") != NULL);
    FL_CHECK_INT(fl_session_next_target(t.h.s), 2);
    FL_CHECK_INT(fl_store_next_target(t.h.store), 2);
    FL_CHECK_INT(fl_session_next_sender(t.h.s), fl_store_next_sender(t.h.store));
end:
    h_close(&t.h);
}

/* Garbled bytes between the frames of a read are skipped and reported; the frames around them
 * are still one batch. */
FL_TEST(garbled_bytes_inside_a_read_leave_the_frames_around_them_one_batch)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int commits = t.store->commits, frames = t.h.nframes, events = t.h.nevents;
    FL_CHECK(add_orders(&t, 2, 1));
    const char junk[] = "garbage\00158=IBM\001";
    memcpy(t.read + t.read_len, junk, sizeof junk - 1);
    t.read_len += sizeof junk - 1;
    FL_CHECK(add_orders(&t, 3, 1));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.delivered_app, 2);
    FL_CHECK_INT(t.store->commits - commits, 1);
    FL_CHECK_INT(t.send_many_calls, 2);
    FL_CHECK_INT(t.last_count, 2);
    FL_CHECK_INT(t.h.nframes - frames, 2);
    int garbled = 0;
    for (int i = events; i < t.h.nevents; i++)
        garbled += t.h.events[i].type == FL_EV_GARBLED;
    FL_CHECK(garbled >= 1);
    FL_CHECK_INT(t.h.disconnected, 0);
    FL_CHECK_INT(fl_session_next_target(t.h.s), 4);
end:
    h_close(&t.h);
}

/* One read whose commit fails part-way: an order, then a ResendRequest ahead of sequence (3 is
 * missing), whose replay commits the order's report first, and that commit is refused. */
static int feed_read_failing_mid_batch(struct batch_test *t)
{
    if (!add_orders(t, 2, 1) || !add_frame(t, "35=2|34=4|52=NOW|7=1|16=0"))
        return 0;
    t->store->fail = 1;
    return feed_read(t);
}

/* A commit refused in the middle of a read (the one serve_resend makes before it reads the
 * journal) drops the read's batch whole: the ResendRequest the gap behind it would have sent,
 * staged after the failure, does not leave either. */
FL_TEST(after_a_failed_commit_inside_a_read_nothing_of_the_read_leaves)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int frames = t.h.nframes;
    FL_CHECK(feed_read_failing_mid_batch(&t));
    FL_CHECK_INT(t.h.disconnected, 1);
    FL_CHECK_INT(t.h.nframes - frames, 0);
    FL_CHECK(h_has_event(&t.h, FL_EV_ERROR));
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 2);
    FL_CHECK_INT(fl_session_next_target(t.h.s), 2);
end:
    h_close(&t.h);
}

/* The peer's Logon asks (789) for what we sent before, which makes us commit our Logon answer
 * before replaying; that commit fails. A message the application queued while disconnected
 * does not leave on this connection, which never got our Logon: it stays queued for the next. */
FL_TEST(a_failed_logon_commit_keeps_queued_messages_queued)
{
    static struct batch_test t;
    FL_CHECK(bt_open_with(&t, 1, 1, 1) == 0);
    const char body[] = "11=x\00155=IBM\001";
    FL_CHECK(fl_session_send(t.h.s, "D", 1, NULL, 0, body, sizeof body - 1, t.h.now) == FL_OK);
    fl_session_on_disconnect(t.h.s, t.h.now);
    FL_CHECK(fl_session_send(t.h.s, "D", 1, NULL, 0, body, sizeof body - 1, t.h.now) == FL_OK);
    FL_CHECK_INT(fl_session_outbound_queued(t.h.s), 1);
    fl_session_on_connect(t.h.s, t.h.now);
    int frames = t.h.nframes;
    FL_CHECK(add_frame(&t, "35=A|34=2|52=NOW|98=0|108=30|789=2"));
    t.store->fail = 1;
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(t.h.disconnected, 1);
    FL_CHECK_INT(t.h.nframes - frames, 0);
    FL_CHECK_INT(fl_session_outbound_queued(t.h.s), 1);
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 3);
    /* the next connection logs on, replays the first order and then sends the queued one */
    fl_session_on_connect(t.h.s, t.h.now);
    frames = t.h.nframes;
    FL_CHECK(add_frame(&t, "35=A|34=2|52=NOW|98=0|108=30|789=2"));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(fl_session_state(t.h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_outbound_queued(t.h.s), 0);
    FL_CHECK(STR_EQ(h_get(&t.h, frames, FL_TAG_MSG_TYPE), "A"));
    FL_CHECK(STR_EQ(h_get(&t.h, -1, FL_TAG_MSG_TYPE), "D"));
    FL_CHECK(STR_EQ(h_get(&t.h, -1, FL_TAG_POSS_DUP_FLAG), ""));
    FL_CHECK_INT(fl_session_next_sender(t.h.s), 5); /* Logon 3, the queued order 4 */
end:
    h_close(&t.h);
}

/* An order the application sends from the error of a failed commit (the connection is going)
 * is queued for the next logon, not dropped with the batch. */
FL_TEST(a_send_from_the_error_of_a_failed_commit_waits_for_the_next_logon)
{
    static struct batch_test t;
    FL_CHECK(bt_open(&t, 1) == 0);
    int frames = t.h.nframes;
    send_on_error = 1;
    error_send_rc = -100;
    FL_CHECK(feed_read_failing_mid_batch(&t));
    FL_CHECK_INT(error_send_rc, FL_OK);
    FL_CHECK_INT(t.h.disconnected, 1);
    FL_CHECK_INT(t.h.nframes - frames, 0);
    FL_CHECK_INT(fl_session_outbound_queued(t.h.s), 1);
    fl_session_on_connect(t.h.s, t.h.now);
    FL_CHECK(add_frame(&t, "35=A|34=2|52=NOW|98=0|108=30"));
    FL_CHECK(feed_read(&t));
    FL_CHECK_INT(fl_session_state(t.h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_outbound_queued(t.h.s), 0);
    FL_CHECK(STR_EQ(h_get(&t.h, -1, TAG_CL_ORD_ID), "late"));
end:
    send_on_error = 0;
    h_close(&t.h);
}

int main(void)
{
    FL_RUN(frames_of_one_read_are_one_commit_and_one_write);
    FL_RUN(a_long_burst_is_cut_every_64_frames);
    FL_RUN(without_send_many_each_message_is_sent_alone);
    FL_RUN(resend_request_in_a_read_covers_what_the_read_staged);
    FL_RUN(reset_logon_in_a_read_commits_what_came_before);
    FL_RUN(frames_after_a_disconnect_in_the_same_read_are_dropped);
    FL_RUN(a_failed_commit_names_what_the_read_rolled_back);
    FL_RUN(garbled_bytes_inside_a_read_leave_the_frames_around_them_one_batch);
    FL_RUN(after_a_failed_commit_inside_a_read_nothing_of_the_read_leaves);
    FL_RUN(a_failed_logon_commit_keeps_queued_messages_queued);
    FL_RUN(a_send_from_the_error_of_a_failed_commit_waits_for_the_next_logon);
    return FL_TEST_SUMMARY();
}
