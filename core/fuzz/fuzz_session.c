/* fixlua — fuzz target for the session state machine: arbitrary bytes into a logged-on session.
 *
 * Input layout: byte 0 and 1 choose the configuration (FIX version, reset and resend options,
 * a small inbound queue, dictionary validation, checksum repair, and whether the session under
 * test initiates), byte 2 seeds a small PRNG, the rest is the byte stream the counterparty
 * "INI" sends. The session "ACC" (memory store) is first logged on with a valid Logon built
 * here (the answer to its own Logon when it initiates); the stream is then fed in PRNG-sized
 * chunks with ticks of PRNG-sized time steps in between, and occasional application calls
 * (send, logout, test request, deferred logon decisions). With repair on, every
 * "8=...9=...10=..." span of the stream gets a correct BodyLength and CheckSum first, so
 * mutations reach the session checks instead of dying in the framer. After a disconnect the
 * counterparty reconnects (a bounded number of times) and logs on again, sometimes asking for a
 * reset, sometimes ahead of sequence or with NextExpectedMsgSeqNum. The session answers each
 * NewOrderSingle with an ExecutionReport so resends replay real application messages. Setting
 * FZ_TRACE prints every frame the session sends.
 *
 * Invariants, checked after every call into the session and on every io callback: every send is
 * one valid frame (fl_frame_scan OK, fl_msg_parse without problem, our CompIDs and BeginString);
 * new messages (no PossDupFlag) carry consecutive MsgSeqNums, restarting only with a Logon that
 * resets (at 1, or at 2 behind our own Logon when the peer's answer reset) or after a
 * configured reset; PossDup messages and gap fills stay below
 * the next new number; nothing is sent between io->disconnect and the next connect; the state is
 * a valid enum; the inbound queue stays within its limit; every message delivered has a
 * SendingTime within the latency limit; the expected inbound number never goes
 * down except through an accepted reset Logon or a configured reset; and the session's counters
 * equal the store's after every call (every batch committed whole). Checks abort, so libFuzzer
 * and replay_main.c both report them. Depends on fl_core only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_dict.h"
#include "fl_frame.h"
#include "fl_msg.h"
#include "fl_session.h"
#include "fl_store.h"
#include "fl_tags.h"
#include "fuzz_check.h"

/* 2024-01-02 03:04:05 UTC: the clock starts here, and the seed corpus is stamped with it. */
#define T0 INT64_C(1704164645000000000)
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define MAX_RECONNECTS 3
#define SMALL_QUEUE 8

/* Configuration bits of byte 0. */
#define K_REPAIR 0x01
#define K_NEXT_EXPECTED 0x02
#define K_RESET_ON_LOGOUT 0x04
#define K_RESET_ON_DISCONNECT 0x08
#define K_REDUNDANT_RR 0x10
#define K_SMALL_QUEUE 0x20
#define K_VERSION_SHIFT 6 /* two bits: 4.4, 4.2, FIXT.1.1, 4.0 */

/* Configuration bits of byte 1. */
#define K_RR_CHUNK 0x01
#define K_NO_LATENCY 0x02
#define K_LOGON_POLICY 0x04   /* validate_logon: 553=bad rejects, 553=defer defers */
#define K_NO_REPLAY 0x08      /* should_replay says no: everything is gap-filled */
#define K_HEARTBEAT_ZERO 0x10 /* our Logon proposes HeartBtInt 0 */
#define K_DICT 0x20           /* validate against the built-in dictionary of the version */
#define K_INITIATOR 0x40      /* the session under test initiates (it sends the first Logon) */
#define K_LOGON_VARIANTS 0x80 /* initiator: ResetOnLogon; acceptor: Logons too high, with 789 */

struct fz {
    struct fl_session *s;
    struct fl_store *store;
    struct fl_session_config cfg;
    struct fl_dict *dict;
    int64_t now;
    uint64_t rng;
    uint8_t k0, k1;
    int transport_open;      /* between connect and io->disconnect */
    uint64_t last_new;       /* MsgSeqNum of the last new message sent */
    int reset_logon_seen;    /* a Logon with 141=Y was accepted since the last check */
    uint64_t prev_target;
    struct fl_msg out;       /* scratch for checking what is sent */
    struct fl_builder b;     /* builds our Logons and application bodies */
    uint32_t order_id;
};

static uint64_t next_rand(struct fz *z)
{
    z->rng ^= z->rng << 13;
    z->rng ^= z->rng >> 7;
    z->rng ^= z->rng << 17;
    return z->rng;
}

static int has_value(const struct fl_msg *m, uint32_t tag, const char *v)
{
    const char *p;
    size_t n;
    return fl_msg_get_str(m, tag, &p, &n) == FL_OK && n == strlen(v) && memcmp(p, v, n) == 0;
}

static int64_t int_of(const struct fl_msg *m, uint32_t tag)
{
    int64_t v = -1;
    if (fl_msg_get_int(m, tag, &v) != FL_OK)
        return -1;
    return v;
}

/* ---- io callbacks ---- */

static size_t on_send(void *ctx, const char *p, size_t n)
{
    struct fz *z = ctx;
    struct fl_frame f;
    if (getenv("FZ_TRACE"))
        fprintf(stderr, "OUT %.*s\n", (int)n, p);
    CHECK(z->transport_open);
    CHECK(fl_frame_scan(p, n, 0, &f) == FL_FRAME_OK && f.len == n);
    CHECK(fl_msg_parse(&z->out, p, n) == FL_OK);
    CHECK(z->out.problem == FL_PARSE_OK);
    CHECK(has_value(&z->out, FL_TAG_BEGIN_STRING, z->cfg.begin_string));
    CHECK(has_value(&z->out, FL_TAG_SENDER_COMP_ID, "ACC"));
    CHECK(has_value(&z->out, FL_TAG_TARGET_COMP_ID, "INI"));
    CHECK(fl_msg_find(&z->out, FL_TAG_SENDING_TIME) >= 0);
    int64_t seq = int_of(&z->out, FL_TAG_MSG_SEQ_NUM);
    CHECK(seq >= 1);
    int poss_dup = has_value(&z->out, FL_TAG_POSS_DUP_FLAG, "Y");
    if (!poss_dup) {
        if (has_value(&z->out, FL_TAG_MSG_TYPE, "A") &&
            has_value(&z->out, FL_TAG_RESET_SEQ_NUM_FLAG, "Y")) {
            CHECK(seq == 1);
            z->reset_logon_seen = 1; /* both numbers restart: the expected one may go down */
        } else {
            CHECK((uint64_t)seq == z->last_new + 1);
        }
        z->last_new = (uint64_t)seq;
        return 0;
    }
    /* A possible duplicate repeats a number already used. */
    CHECK((uint64_t)seq <= z->last_new);
    CHECK(fl_msg_find(&z->out, FL_TAG_ORIG_SENDING_TIME) >= 0);
    if (has_value(&z->out, FL_TAG_MSG_TYPE, "4")) {
        int64_t new_seq = int_of(&z->out, FL_TAG_NEW_SEQ_NO);
        CHECK(has_value(&z->out, FL_TAG_GAP_FILL_FLAG, "Y"));
        CHECK(new_seq > seq && (uint64_t)new_seq <= z->last_new + 1);
    }
    return 0;
}

static void on_disconnect_cb(void *ctx, const char *why)
{
    struct fz *z = ctx;
    (void)why;
    CHECK(z->transport_open);
    z->transport_open = 0;
}

static void on_event(void *ctx, const struct fl_session_event *ev)
{
    (void)ctx;
    CHECK((unsigned)ev->type < FL_EV__COUNT);
    CHECK(ev->text != NULL);
    CHECK((unsigned)ev->from < FL_STATE__COUNT && (unsigned)ev->to < FL_STATE__COUNT);
}

static void on_deliver(void *ctx, const struct fl_msg *m, int is_admin)
{
    struct fz *z = ctx;
    CHECK(m->problem == FL_PARSE_OK);
    /* Whatever it is, it passed the SendingTime accuracy check against the same clock. */
    int64_t t;
    if (z->cfg.max_latency_ns >= 0 &&
        fl_msg_get_utc_timestamp(m, FL_TAG_SENDING_TIME, &t, NULL) == FL_OK) {
        uint64_t diff = z->now > t ? (uint64_t)z->now - (uint64_t)t
                                   : (uint64_t)t - (uint64_t)z->now;
        CHECK(diff <= (uint64_t)(z->cfg.max_latency_ns ? z->cfg.max_latency_ns : 120 * SEC));
    }
    if (is_admin) {
        if (has_value(m, FL_TAG_MSG_TYPE, "A") && has_value(m, FL_TAG_RESET_SEQ_NUM_FLAG, "Y")) {
            z->reset_logon_seen = 1;
            /* Both numbers restarted with the Logons (an initiator whose own Logon did not ask
             * counts it as 1 of the new sequence): new messages go on from here. */
            z->last_new = fl_session_next_sender(z->s) - 1;
        }
        return;
    }
    if (!has_value(m, FL_TAG_MSG_TYPE, "D"))
        return;
    /* Answer with an ExecutionReport, as an application would, from inside the callback. */
    const char *cl = "none";
    size_t cn = 4;
    if (fl_msg_get_str(m, 11, &cl, &cn) != FL_OK || cn > 64) {
        cl = "none";
        cn = 4;
    }
    /* ClOrdID is echoed byte for byte (it may hold any byte but SOH, NUL included). */
    char body[200];
    int len = snprintf(body, sizeof body, "37=O%u\00111=", z->order_id);
    memcpy(body + len, cl, cn);
    len += (int)cn;
    len += snprintf(body + len, sizeof body - (size_t)len, "\00117=E%u\001150=0\00139=0\00155=X\001"
                    "54=1\00138=100\00114=0\0016=0\001151=100\001", z->order_id);
    z->order_id++;
    int rc = fl_session_send(z->s, "8", 1, NULL, 0, body, (size_t)len, z->now);
    CHECK(rc == FL_OK || rc == FL_EAGAIN);
}

static enum fl_logon_decision on_validate_logon(void *ctx, const struct fl_msg *logon,
                                                char *reason, size_t cap)
{
    struct fz *z = ctx;
    if (!(z->k1 & K_LOGON_POLICY))
        return FL_LOGON_ACCEPT;
    if (has_value(logon, FL_TAG_USERNAME, "bad")) {
        snprintf(reason, cap, "bad user");
        return FL_LOGON_REJECT;
    }
    if (has_value(logon, FL_TAG_USERNAME, "defer"))
        return FL_LOGON_DEFER;
    return FL_LOGON_ACCEPT;
}

static int on_should_replay(void *ctx, const struct fl_msg *stored)
{
    struct fz *z = ctx;
    CHECK(stored->problem == FL_PARSE_OK);
    return !(z->k1 & K_NO_REPLAY);
}

/* ---- invariants between calls ---- */

static void check_invariants(struct fz *z)
{
    struct fl_session *s = z->s;
    enum fl_session_state st = fl_session_state(s);
    CHECK((unsigned)st < FL_STATE__COUNT);
    CHECK(fl_session_state_name(st) != NULL);
    CHECK(fl_session_inbound_queued(s) <= z->cfg.max_inbound_queue);
    CHECK((st == FL_STATE_DISCONNECTED) == !z->transport_open);
    /* Every batch is committed whole: the session's counters are the store's. */
    CHECK(fl_session_next_sender(s) == fl_store_next_sender(z->store));
    CHECK(fl_session_next_target(s) == fl_store_next_target(z->store));
    int configured_reset = st == FL_STATE_DISCONNECTED &&
                           (z->cfg.reset_on_disconnect || z->cfg.reset_on_logout);
    if (configured_reset)
        z->last_new = fl_session_next_sender(s) - 1;
    CHECK(fl_session_next_sender(s) == z->last_new + 1);
    uint64_t target = fl_session_next_target(s);
    if (!z->reset_logon_seen && !configured_reset)
        CHECK(target >= z->prev_target);
    z->reset_logon_seen = 0;
    z->prev_target = target;
}

/* ---- the counterparty's Logon ---- */

static void feed_logon(struct fz *z, int reset, const char *user)
{
    int variants = (z->k1 & K_LOGON_VARIANTS) && z->cfg.role == FL_ROLE_ACCEPTOR;
    uint64_t seq = reset ? 1 : fl_session_next_target(z->s) + (variants ? next_rand(z) % 3 : 0);
    struct fl_builder *b = &z->b;
    CHECK(fl_builder_begin(b, z->cfg.begin_string, "A", 1) == FL_OK);
    fl_builder_add_cstr(b, FL_TAG_SENDER_COMP_ID, "INI");
    fl_builder_add_cstr(b, FL_TAG_TARGET_COMP_ID, "ACC");
    fl_builder_add_int(b, FL_TAG_MSG_SEQ_NUM, (int64_t)seq);
    fl_builder_add_utc_timestamp(b, FL_TAG_SENDING_TIME, z->now, 3);
    fl_builder_add_int(b, FL_TAG_ENCRYPT_METHOD, 0);
    fl_builder_add_int(b, FL_TAG_HEART_BT_INT, (z->k1 & K_HEARTBEAT_ZERO) ? 0 : 30);
    if (reset)
        fl_builder_add_bool(b, FL_TAG_RESET_SEQ_NUM_FLAG, 1);
    if (z->cfg.default_appl_ver_id)
        fl_builder_add_cstr(b, FL_TAG_DEFAULT_APPL_VER_ID, z->cfg.default_appl_ver_id);
    if (user)
        fl_builder_add_cstr(b, FL_TAG_USERNAME, user);
    if (variants && next_rand(z) % 2 && fl_session_version(z->s) >= FL_FIX_44) {
        /* NextExpectedMsgSeqNum at or below what the session sent: it resends the rest. */
        uint64_t back = next_rand(z) % 3;
        fl_builder_add_int(b, FL_TAG_NEXT_EXPECTED_MSG_SEQ_NUM,
                           (int64_t)(z->last_new + 1 > back + 1 ? z->last_new + 1 - back : 1));
    }
    const char *p;
    size_t n;
    CHECK(fl_builder_finish(b, &p, &n) == FL_OK);
    size_t used = fl_session_on_bytes(z->s, p, n, z->now);
    CHECK(used == n);
    check_invariants(z);
}

static void connect_and_logon(struct fz *z, int reset)
{
    CHECK(!z->transport_open);
    z->transport_open = 1;
    fl_session_on_connect(z->s, z->now);
    check_invariants(z);
    if (z->cfg.role == FL_ROLE_INITIATOR) {
        /* Its Logon is out; the answer resets too when the Logon asked for it. */
        CHECK(fl_session_state(z->s) == FL_STATE_LOGON_SENT);
        reset = z->cfg.reset_on_logon || reset;
    }
    feed_logon(z, reset, NULL);
}

/* ---- checksum repair ---- */

/* Copies in[0..n) to out, rewriting BodyLength and CheckSum of every span that looks like a
 * frame ("8=" value SOH "9=" digits SOH ... SOH "10=" up to 3 chars and SOH). out must hold
 * 2 * n + 64 bytes: a repaired frame grows by at most 12 bytes and is at least 12 long. */
static size_t repair(const char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t bs = i + 2, bs_end = bs;
        if (n - i < 12 || in[i] != '8' || in[i + 1] != '=')
            goto copy_one;
        while (bs_end < n && bs_end - bs <= 16 && in[bs_end] != '\001')
            bs_end++;
        if (bs_end >= n || in[bs_end] != '\001' || bs_end + 3 > n || in[bs_end + 1] != '9' ||
            in[bs_end + 2] != '=')
            goto copy_one;
        size_t body = bs_end + 3;
        while (body < n && in[body] >= '0' && in[body] <= '9' && body - bs_end < 12)
            body++;
        if (body >= n || in[body] != '\001')
            goto copy_one;
        body++;
        size_t end = body;
        while (end + 4 <= n && !(in[end] == '\001' && in[end + 1] == '1' && in[end + 2] == '0' &&
                                 in[end + 3] == '='))
            end++;
        if (end + 4 > n)
            goto copy_one;
        end++; /* the body keeps the SOH before "10=" */
        size_t ck = end + 3, ck_end = ck;
        while (ck_end < n && ck_end - ck < 3 && in[ck_end] != '\001')
            ck_end++;
        if (ck_end < n && in[ck_end] == '\001')
            ck_end++;
        size_t start = o;
        memcpy(out + o, in + i, bs_end + 1 - i);
        o += bs_end + 1 - i;
        o += (size_t)sprintf(out + o, "9=%zu\001", end - body);
        memcpy(out + o, in + body, end - body);
        o += end - body;
        o += (size_t)sprintf(out + o, "10=%03u\001", fl_checksum(out + start, o - start));
        i = ck_end;
        continue;
    copy_one:
        out[o++] = in[i++];
    }
    return o;
}

/* ---- driving ---- */

static const char *const versions[4] = {"FIX.4.4", "FIX.4.2", "FIXT.1.1", "FIX.4.0"};

static int64_t time_step(struct fz *z)
{
    switch (next_rand(z) % 8) {
    case 0: return 0;
    case 1: return 1 * MS;
    case 2: return 250 * MS;
    case 3: return 1 * SEC;
    case 4: return 5 * SEC;
    case 5: return 31 * SEC;  /* past HeartBtInt */
    case 6: return 37 * SEC;  /* past 1.2 x HeartBtInt */
    default: return (int64_t)(next_rand(z) % 100) * 100 * MS;
    }
}

/* Something the application or the engine may do between reads. */
static void poke(struct fz *z)
{
    uint64_t r = next_rand(z) % 64;
    struct fl_session *s = z->s;
    if (r < 4) {
        char body[64];
        int len = snprintf(body, sizeof body, "58=news %u\001", z->order_id++);
        int rc = fl_session_send(s, "B", 1, NULL, 0, body, (size_t)len, z->now);
        CHECK(rc == FL_OK || rc == FL_EAGAIN);
    } else if (r == 4) {
        fl_session_logout(s, "fuzz logout", z->now);
    } else if (r == 5) {
        fl_session_send_test_request(s, "FZ", z->now);
    } else if (r == 6) {
        fl_session_on_writable(s, z->now);
    } else if (r == 7 && fl_session_state(s) == FL_STATE_LOGON_PENDING) {
        int rc = (next_rand(z) & 1) ? fl_session_accept_logon(s, z->now)
                                     : fl_session_reject_logon(s, "no", z->now);
        CHECK(rc == FL_OK);
    } else if (r == 8) {
        CHECK(fl_session_next_deadline(s) > 0);
    }
    check_invariants(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz z;
    memset(&z, 0, sizeof z);
    z.k0 = size > 0 ? data[0] : 0;
    z.k1 = size > 1 ? data[1] : 0;
    z.rng = 0x9e3779b97f4a7c15ull ^ (size > 2 ? data[2] : 0);
    size_t hdr = size < 3 ? size : 3;
    z.now = T0;
    fl_msg_init(&z.out);
    fl_builder_init(&z.b);

    int version = z.k0 >> K_VERSION_SHIFT;
    z.cfg.role = FL_ROLE_ACCEPTOR;
    z.cfg.begin_string = versions[version];
    z.cfg.sender_comp_id = "ACC";
    z.cfg.target_comp_id = "INI";
    z.cfg.default_appl_ver_id = version == 2 ? "9" : NULL;
    z.cfg.heartbeat_interval = 30;
    z.cfg.send_next_expected = (z.k0 & K_NEXT_EXPECTED) != 0;
    z.cfg.reset_on_logout = (z.k0 & K_RESET_ON_LOGOUT) != 0;
    z.cfg.reset_on_disconnect = (z.k0 & K_RESET_ON_DISCONNECT) != 0;
    z.cfg.send_redundant_resend_requests = (z.k0 & K_REDUNDANT_RR) != 0;
    z.cfg.max_inbound_queue = (z.k0 & K_SMALL_QUEUE) ? SMALL_QUEUE : 10000;
    z.cfg.resend_request_chunk = (z.k1 & K_RR_CHUNK) ? 3 : 0;
    z.cfg.max_latency_ns = (z.k1 & K_NO_LATENCY) ? -1 : 0;
    z.cfg.max_message_size = 8192;
    z.cfg.max_garbled = 20;
    if (z.k1 & K_INITIATOR) {
        z.cfg.role = FL_ROLE_INITIATOR;
        z.cfg.reset_on_logon = (z.k1 & K_LOGON_VARIANTS) != 0;
    }
    if (z.k1 & K_DICT) {
        CHECK(fl_dict_builtin(z.cfg.begin_string, &z.dict) == FL_OK);
        z.cfg.dict = z.dict;
        fl_validate_opts_init(&z.cfg.validate);
        z.cfg.validate.default_appl_ver_id = z.cfg.default_appl_ver_id;
    }

    struct fl_session_io io = {
        .ctx = &z,
        .send = on_send,
        .disconnect = on_disconnect_cb,
        .event = on_event,
        .deliver = on_deliver,
        .validate_logon = on_validate_logon,
        .should_replay = on_should_replay,
    };
    char err[128];
    CHECK(fl_store_mem_new(z.now, &z.store) == FL_OK);
    CHECK(fl_session_new(&z.cfg, z.store, &io, &z.s, err, sizeof err) == FL_OK);
    z.prev_target = fl_session_next_target(z.s);

    connect_and_logon(&z, 0);
    CHECK(fl_session_state(z.s) == FL_STATE_ACTIVE || fl_session_state(z.s) == FL_STATE_RESENDING);

    /* The stream, repaired if asked, plus room for what a chunk leaves incomplete. */
    const char *in = (const char *)data + hdr;
    size_t n = size - hdr;
    char *buf = malloc(2 * n + 64);
    CHECK(buf != NULL);
    if (z.k0 & K_REPAIR) {
        n = repair(in, n, buf);
    } else if (n) {
        memcpy(buf, in, n);
    }

    /* rx holds bytes handed to the session but not yet consumed (an incomplete frame). */
    char *rx = malloc(n + 1);
    CHECK(rx != NULL);
    size_t rx_len = 0, pos = 0;
    int reconnects = 0;
    while (pos < n) {
        size_t chunk = 1 + (size_t)(next_rand(&z) % 4 == 0 ? next_rand(&z) % 8
                                                             : next_rand(&z) % 512);
        if (chunk > n - pos)
            chunk = n - pos;
        memcpy(rx + rx_len, buf + pos, chunk);
        rx_len += chunk;
        pos += chunk;
        size_t used = fl_session_on_bytes(z.s, rx, rx_len, z.now);
        CHECK(used <= rx_len);
        memmove(rx, rx + used, rx_len - used);
        rx_len -= used;
        check_invariants(&z);

        z.now += time_step(&z);
        fl_session_tick(z.s, z.now);
        check_invariants(&z);
        CHECK(fl_session_next_deadline(z.s) >= 0);
        poke(&z);

        if (fl_session_state(z.s) == FL_STATE_DISCONNECTED) {
            if (reconnects++ == MAX_RECONNECTS)
                break;
            rx_len = 0;
            z.now += 1 * SEC;
            connect_and_logon(&z, (int)(next_rand(&z) % 4 == 0));
        }
    }
    /* Let every timer fire once more. */
    for (int i = 0; i < 4 && fl_session_state(z.s) != FL_STATE_DISCONNECTED; i++) {
        z.now += 40 * SEC;
        fl_session_tick(z.s, z.now);
        check_invariants(&z);
    }
    if (fl_session_state(z.s) != FL_STATE_DISCONNECTED) {
        fl_session_on_disconnect(z.s, z.now);
        z.transport_open = 0;
        check_invariants(&z);
    }

    free(rx);
    free(buf);
    fl_session_free(z.s);
    fl_store_close(z.store);
    fl_dict_free(z.dict);
    fl_builder_release(&z.b);
    fl_msg_release(&z.out);
    return 0;
}
