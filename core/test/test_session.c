/* fixlua — the FIX session rules, one test per FIX session-level test case (the numbering of
 * the FIX test case list that QuickFIX's acceptance tests also use), both roles, driven through
 * a memory store, a captured transport and a fake clock (session_harness.h). */
#include "fl_test.h"
#include "session_harness.h"

#include "fl_tags.h"

/* 1a: a valid Logon is answered with a Logon echoing HeartBtInt; both sides at 2. */
FL_TEST(t1a_valid_logon_correct_seq)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    FL_CHECK_INT(h.nframes, 1);
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 108), "30"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 98), "0"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 49), "SND"));
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(fl_store_next_target(h.store), 2);
    FL_CHECK_INT(fl_store_next_sender(h.store), 2);
    FL_CHECK(h_has_event(&h, FL_EV_LOGON));
end:
    h_close(&h);
}

/* 1a (too high): Logon answered first, then a ResendRequest from the expected number. */
FL_TEST(t1a_logon_seq_too_high)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.2") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=5|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 7), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 16), "0"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_RESENDING);
    /* The peer gap-fills 1..4, then the Logon's own number 5 counts via a gap fill too. */
    h_in(&h, "35=4|34=1|43=Y|122=NOW|52=NOW|123=Y|36=6");
    FL_CHECK_INT(fl_session_next_target(h.s), 6);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
end:
    h_close(&h);
}

/* FIX.4.0/4.1 say infinity with 999999. */
FL_TEST(t1a_logon_too_high_fix41_uses_999999)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.1") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=3|52=NOW|98=0|108=30");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 16), "999999"));
    /* FIX.4.1 timestamps carry no milliseconds. */
    FL_CHECK_INT(strlen(h_get(&h, 1, 52)), 17);
end:
    h_close(&h);
}

/* 1c: a Logon with the wrong CompIDs: nothing sent, connection dropped. */
FL_TEST(t1c_logon_invalid_comp_id)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|49=WRONG|56=SND|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 0);
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_DISCONNECTED);
    FL_CHECK_INT(fl_store_next_target(h.store), 1);
end:
    h_close(&h);
}

/* 1d: a Logon with an inaccurate SendingTime or another BeginString: dropped, nothing sent. */
FL_TEST(t1d_invalid_logon_sending_time_and_begin_string)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW-500|98=0|108=30");
    FL_CHECK_INT(h.nframes, 0);
    FL_CHECK_INT(h.disconnected, 1);
    h_close(&h);
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h.begin_string = "FIX.4.2";
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 0);
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* 1e: first message not a Logon: dropped without a word. */
FL_TEST(t1e_first_message_not_logon)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=0|34=1|52=NOW");
    FL_CHECK_INT(h.nframes, 0);
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* Logon with MsgSeqNum too low: Logout with the reason, then disconnect. */
FL_TEST(logon_seq_too_low)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    FL_CHECK(fl_session_set_next_target(h.s, 10) == FL_OK);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=3|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 1);
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "5"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 58), "MsgSeqNum too low, expecting 10 but received 3"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* HeartBtInt outside the configured range is refused (a peer asking for 0 < 1 s or huge). */
FL_TEST(logon_heartbeat_out_of_range)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.heartbeat_min = 5;
    c.heartbeat_max = 60;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=1");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "5"));
    FL_CHECK(strstr(h_get(&h, 0, 58), "HeartBtInt") != NULL);
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

FL_TEST(logon_encrypt_method_must_be_none)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=2|108=30");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "5"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* FIXT.1.1 requires DefaultApplVerID on Logon, and sends ours. */
FL_TEST(logon_fixt_default_appl_ver_id)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIXT.1.1") == 0);
    FL_CHECK(STR_EQ(h_get(&h, 0, 1137), "9"));
    h_close(&h);
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIXT.1.1") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "5"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* The script refuses: Logout with its reason, nothing of the session state changes. */
FL_TEST(logon_rejected_by_policy)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    h.logon_decision = FL_LOGON_REJECT;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "5"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 58), "bad password"));
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK(h_has_event(&h, FL_EV_LOGON_REJECTED));
    FL_CHECK_INT(fl_store_next_target(h.store), 1);
end:
    h_close(&h);
}

/* ResetSeqNumFlag=Y from an unauthenticated peer must not reset anything (the reset happens
 * only after the logon is accepted). */
FL_TEST(logon_reset_only_after_acceptance)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    FL_CHECK(fl_session_set_next_target(h.s, 50) == FL_OK);
    FL_CHECK(fl_session_set_next_sender(h.s, 70) == FL_OK);
    h.logon_decision = FL_LOGON_REJECT;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK_INT(fl_store_next_target(h.store), 50);
    FL_CHECK_INT(fl_store_next_sender(h.store), 71); /* only the Logout went out */
    h_close(&h);
    /* Accepted: both sequences restart, the answer carries 141=Y and MsgSeqNum 1. */
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    FL_CHECK(fl_session_set_next_target(h.s, 50) == FL_OK);
    FL_CHECK(fl_session_set_next_sender(h.s, 70) == FL_OK);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 141), "Y"));
    FL_CHECK_INT(fl_store_next_target(h.store), 2);
    FL_CHECK_INT(fl_store_next_sender(h.store), 2);
end:
    h_close(&h);
}

/* A deferred decision leaves the session pending; messages that follow wait for it. */
FL_TEST(logon_deferred_then_accepted)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    h.logon_decision = FL_LOGON_DEFER;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGON_PENDING);
    FL_CHECK_INT(h.nframes, 0);
    h_in(&h, "35=D|34=2|52=NOW|11=A");
    FL_CHECK_INT(h.delivered_app, 0);
    FL_CHECK(fl_session_accept_logon(h.s, h.now) == FL_OK);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK_INT(h.delivered_app, 1);
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
    FL_CHECK(fl_session_accept_logon(h.s, h.now) == FL_ESTATE);
end:
    h_close(&h);
}

FL_TEST(logon_deferred_then_rejected_and_timeout)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    h.logon_decision = FL_LOGON_DEFER;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK(fl_session_reject_logon(h.s, "account locked", h.now) == FL_OK);
    FL_CHECK(STR_EQ(h_get(&h, 0, 58), "account locked"));
    FL_CHECK_INT(h.disconnected, 1);
    h_close(&h);
    FL_CHECK(h_open(&h, FL_ROLE_ACCEPTOR, "FIX.4.4") == 0);
    h.logon_decision = FL_LOGON_DEFER;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    h_advance(&h, 11);
    FL_CHECK(h_has_event(&h, FL_EV_LOGON_TIMEOUT));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* Initiator: Logon goes out on connect; the answer completes it; no answer times out. */
FL_TEST(initiator_logon_and_timeout)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGON_SENT);
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 108), "30"));
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    h_close(&h);
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_advance(&h, 9);
    FL_CHECK_INT(h.disconnected, 0);
    h_advance(&h, 2);
    FL_CHECK(h_has_event(&h, FL_EV_LOGON_TIMEOUT));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* Initiator: the peer answers our Logon with a Logout. */
/* Initiator: an answer with an absurd HeartBtInt is refused, not cast into the timers. */
FL_TEST(initiator_logon_answer_heartbeat_out_of_range)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=99999999999");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

FL_TEST(initiator_logon_refused_by_peer)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=5|34=1|52=NOW|58=unknown user");
    FL_CHECK(h_has_event(&h, FL_EV_LOGON_REJECTED));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* ResetOnLogon: our Logon carries 141=Y and MsgSeqNum 1; the answer must agree. */
FL_TEST(initiator_reset_on_logon)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_INITIATOR, "FIX.4.4");
    c.reset_on_logon = 1;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    FL_CHECK(fl_session_set_next_sender(h.s, 40) == FL_OK);
    fl_session_on_connect(h.s, h.now);
    FL_CHECK(STR_EQ(h_get(&h, 0, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 141), "Y"));
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_sender(h.s), 2);
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
end:
    h_close(&h);
}

/* 2b: too high: one ResendRequest, queued messages processed in order once the gap is filled,
 * and no redundant ResendRequest for a range already asked. */
FL_TEST(t2b_seq_too_high_queue_and_resend)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=5|52=NOW|11=five");
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 7), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 16), "0"));
    FL_CHECK_INT(h.delivered_app, 0);
    h_in(&h, "35=D|34=6|52=NOW|11=six");
    FL_CHECK_INT(h.nframes, 2); /* no second ResendRequest */
    FL_CHECK_INT(fl_session_inbound_queued(h.s), 2);
    h_in(&h, "35=D|34=2|43=Y|122=NOW|52=NOW|11=two");
    h_in(&h, "35=4|34=3|43=Y|122=NOW|52=NOW|123=Y|36=5");
    FL_CHECK_INT(h.delivered_app, 3);
    FL_CHECK_INT(fl_session_next_target(h.s), 7);
    FL_CHECK_INT(fl_session_inbound_queued(h.s), 0);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_store_next_target(h.store), 7);
end:
    h_close(&h);
}

/* A chunked ResendRequest asks for the next chunk once the first is filled. */
FL_TEST(t2b_resend_request_in_chunks)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.resend_request_chunk = 3;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    h_in(&h, "35=0|34=10|52=NOW");
    FL_CHECK(STR_EQ(h_get(&h, 1, 7), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 16), "4"));
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=5");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 7), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 16), "7"));
    h_in(&h, "35=4|34=5|43=Y|122=NOW|52=NOW|123=Y|36=10");
    FL_CHECK_INT(fl_session_next_target(h.s), 11);
end:
    h_close(&h);
}

/* 2c: too low without PossDup: Logout with the standard text and disconnect at once. */
FL_TEST(t2c_seq_too_low)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=0|34=2|52=NOW");
    h_in(&h, "35=0|34=2|52=NOW");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "MsgSeqNum too low, expecting 3 but received 2"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* 2d / 3b: garbled or bad checksum: ignored, the expected number stays; a later gap is asked for. */
FL_TEST(t2d_garbled_message_ignored)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    char frame[512];
    size_t n = h_frame(&h, "35=0|34=2|52=NOW", frame, sizeof frame);
    frame[n - 2] = frame[n - 2] == '9' ? '8' : '9'; /* break the checksum */
    fl_session_on_bytes(h.s, frame, n, h.now);
    FL_CHECK(h_has_event(&h, FL_EV_GARBLED));
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(h.nframes, 1);
    h_in(&h, "35=0|34=3|52=NOW");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 7), "2"));
end:
    h_close(&h);
}

/* 2e: PossDup at a number already seen: silently ignored. PossDup at the expected number:
 * processed. */
FL_TEST(t2e_poss_dup_already_received)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=2|52=NOW|11=a");
    h_in(&h, "35=D|34=2|43=Y|122=NOW-1|52=NOW|11=a");
    FL_CHECK_INT(h.delivered_app, 1);
    FL_CHECK_INT(h.disconnected, 0);
    FL_CHECK_INT(h.nframes, 1);
    h_in(&h, "35=D|34=3|43=Y|122=NOW-1|52=NOW|11=b");
    FL_CHECK_INT(h.delivered_app, 2);
end:
    h_close(&h);
}

/* 2f: OrigSendingTime later than SendingTime: Reject(10) then Logout. */
FL_TEST(t2f_poss_dup_orig_sending_time_after_sending_time)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=2|43=Y|122=NOW+10|52=NOW|11=a");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 373), "10"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 45), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 2, 35), "5"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGOUT_SENT);
    FL_CHECK_INT(h.delivered_app, 0);
end:
    h_close(&h);
}

/* 2g: PossDup without OrigSendingTime: Reject(1, 122); consumed only at the expected number. */
FL_TEST(t2g_poss_dup_without_orig_sending_time)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=2|43=Y|52=NOW|11=a");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 373), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 371), "122"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 372), "D"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 58), "Required tag missing"));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
    /* Too low with PossDup and no 122: rejected, number unchanged. */
    h_in(&h, "35=D|34=2|43=Y|52=NOW|11=a");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
    FL_CHECK_INT(h.delivered_app, 0);
end:
    h_close(&h);
}

/* 2i: another BeginString in session: Logout "Incorrect BeginString", wait for the answer. */
FL_TEST(t2i_begin_string_unexpected)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h.begin_string = "FIX.4.2";
    h_in(&h, "35=1|34=2|52=NOW|112=x");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "Incorrect BeginString"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGOUT_SENT);
    h_advance(&h, 3);
    FL_CHECK(h_has_event(&h, FL_EV_LOGOUT_TIMEOUT));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* 2k: wrong CompID in session: Reject(9), Logout, disconnect after the peer's Logout. */
FL_TEST(t2k_comp_id_problem)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|49=OTHER|56=SND|34=2|52=NOW|11=a");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 373), "9"));
    FL_CHECK(STR_EQ(h_get(&h, 2, 35), "5"));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
    FL_CHECK_INT(h.disconnected, 0);
    h_in(&h, "35=5|34=3|52=NOW");
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK_INT(h.nframes, 3); /* no second Logout */
end:
    h_close(&h);
}

/* CompIDs of every length up to 40 bytes are compared in full: one byte off anywhere, or one
 * byte more, is a CompID problem; the exact IDs pass. */
static int comp_id_case(const char *ours, const char *theirs, const char *sent_sender,
                        const char *sent_target)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    char spec[256];
    int verdict = -1;
    c.sender_comp_id = ours;
    c.target_comp_id = theirs;
    if (h_open_with(&h, &c, NULL) != 0)
        return -1;
    fl_session_on_connect(h.s, h.now);
    snprintf(spec, sizeof spec, "35=A|49=%s|56=%s|34=1|52=NOW|98=0|108=30", theirs, ours);
    h_in(&h, spec);
    if (fl_session_state(h.s) == FL_STATE_ACTIVE) {
        snprintf(spec, sizeof spec, "35=D|49=%s|56=%s|34=2|52=NOW|11=a", sent_sender, sent_target);
        h_in(&h, spec);
        if (h.delivered_app == 1 && h.nframes == 1)
            verdict = 1;
        else if (h.delivered_app == 0 && STR_EQ(h_get(&h, 1, 35), "3") &&
                 STR_EQ(h_get(&h, 1, 373), "9"))
            verdict = 0;
    }
    h_close(&h);
    return verdict;
}

FL_TEST(t2k_comp_id_every_length)
{
    for (size_t len = 1; len <= 40; len++) {
        char ours[48], theirs[48], off[48], longer[sizeof theirs + 1];
        for (size_t i = 0; i < len; i++) {
            ours[i] = (char)('a' + i % 26);
            theirs[i] = (char)('A' + (i * 7) % 26);
        }
        ours[len] = theirs[len] = '\0';
        FL_CHECK_INT(comp_id_case(ours, theirs, theirs, ours), 1);
        snprintf(longer, sizeof longer, "%sX", theirs);
        FL_CHECK_INT(comp_id_case(ours, theirs, longer, ours), 0);
        for (size_t at = 0; at < len; at++) {
            memcpy(off, theirs, len + 1);
            off[at] ^= 0x20;
            FL_CHECK_INT(comp_id_case(ours, theirs, off, ours), 0);
            memcpy(off, ours, len + 1);
            off[at] = '0';
            FL_CHECK_INT(comp_id_case(ours, theirs, theirs, off), 0);
        }
    }
end:;
}

/* 2o: SendingTime outside max latency: Reject(10), Logout. */
FL_TEST(t2o_sending_time_accuracy)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=0|34=2|52=NOW-121");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 373), "10"));
    FL_CHECK(STR_EQ(h_get(&h, 2, 35), "5"));
    FL_CHECK(h_has_event(&h, FL_EV_LATENCY));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
end:
    h_close(&h);
}

/* 2t: the first three fields out of order: garbled, ignored. */
FL_TEST(t2t_first_three_fields_out_of_order)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_raw(&h, "8=FIX.4.4|9=40|34=2|35=0|49=TGT|56=SND|52=20261122-10:00:00|10=000|");
    FL_CHECK(h_has_event(&h, FL_EV_GARBLED));
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(h.nframes, 1);
end:
    h_close(&h);
}

/* 4a/4b/6: heartbeat after an idle interval, TestRequest answered with its id, TestRequest
 * after silence and a disconnect when it goes unanswered. */
FL_TEST(t4a_heartbeat_when_idle)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=0|34=2|52=NOW");
    h.now += 29 * H_SEC;
    h_in(&h, "35=0|34=3|52=NOW");
    FL_CHECK_INT(h.nframes, 1);
    h.now += 1 * H_SEC;
    fl_session_tick(h.s, h.now);
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "0"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 112), ""));
end:
    h_close(&h);
}

FL_TEST(t4b_test_request_answered)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=1|34=2|52=NOW|112=HELLO");
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "0"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 112), "HELLO"));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
    h_in(&h, "35=1|34=3|52=NOW");
    FL_CHECK(STR_EQ(h_get(&h, 2, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 2, 371), "112"));
end:
    h_close(&h);
}

FL_TEST(t6_test_request_then_transmission_failure)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    int64_t start = h.now;
    for (int i = 1; i <= 35; i++) {
        h.now = start + i * H_SEC;
        fl_session_tick(h.s, h.now);
    }
    for (int i = 1; i < h.nframes; i++)
        FL_CHECK(!STR_EQ(h_get(&h, i, 35), "1")); /* not before 1.2 x HeartBtInt */
    h.now = start + 36 * H_SEC;
    fl_session_tick(h.s, h.now);
    /* 1.2 x 30 s of silence: TestRequest (heartbeats went out at 30 s too). */
    int saw_test_request = 0;
    for (int i = 1; i < h.nframes; i++)
        saw_test_request |= STR_EQ(h_get(&h, i, 35), "1");
    FL_CHECK(saw_test_request);
    FL_CHECK_INT(h.disconnected, 0);
    for (int i = 36; i <= 72; i++) {
        h.now = start + i * H_SEC;
        fl_session_tick(h.s, h.now);
    }
    FL_CHECK(h_has_event(&h, FL_EV_TRANSMISSION_FAIL));
    FL_CHECK_INT(h.disconnected, 1);
    /* Any message proves the peer alive: a new run where traffic arrives does not drop. */
    h_close(&h);
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    start = h.now;
    uint64_t seq = 2;
    for (int i = 1; i <= 200; i++) {
        h.now = start + i * H_SEC;
        if (i % 20 == 0) {
            char spec[64];
            snprintf(spec, sizeof spec, "35=0|34=%llu|52=NOW", (unsigned long long)seq++);
            h_in(&h, spec);
        }
        fl_session_tick(h.s, h.now);
    }
    FL_CHECK_INT(h.disconnected, 0);
end:
    h_close(&h);
}

/* 7: Reject(3) received is reported and consumed. */
FL_TEST(t7_reject_received)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=3|34=2|52=NOW|45=1|373=5|58=nope");
    FL_CHECK(h_has_event(&h, FL_EV_REJECT_RECEIVED));
    FL_CHECK_INT(fl_session_next_target(h.s), 3);
end:
    h_close(&h);
}

/* Sends three application messages and a heartbeat from our side. */
static void send_some(struct harness *h)
{
    const char body[] = "11=A\00155=X\001";
    for (int i = 0; i < 3; i++) {
        int rc = fl_session_send(h->s, "D", 1, NULL, 0, body, sizeof body - 1, h->now);
        (void)rc;
    }
    h->now += 31 * H_SEC;
    fl_session_tick(h->s, h->now); /* heartbeat: seq 5 */
    int rc = fl_session_send(h->s, "D", 1, NULL, 0, body, sizeof body - 1, h->now); /* seq 6 */
    (void)rc;
}

/* 8: ResendRequest: application messages replayed with PossDupFlag=Y and OrigSendingTime,
 * admin messages gap-filled, runs coalesced, EndSeqNo 0 meaning "to the last". */
FL_TEST(t8_resend_request_served)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    send_some(&h); /* ours: 1=A 2,3,4=D 5=0 6=D */
    FL_CHECK_INT(fl_session_next_sender(h.s), 7);
    int before = h.nframes;
    h.now += 1 * H_SEC;
    h_in(&h, "35=2|34=2|52=NOW|7=1|16=0");
    /* GF(1->2), D2, D3, D4, GF(5->6), D6 */
    FL_CHECK_INT(h.nframes - before, 6);
    FL_CHECK(STR_EQ(h_get(&h, before, 35), "4"));
    FL_CHECK(STR_EQ(h_get(&h, before, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, before, 36), "2"));
    FL_CHECK(STR_EQ(h_get(&h, before, 123), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, before, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 35), "D"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 34), "2"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 11), "A"));
    FL_CHECK(strlen(h_get(&h, before + 1, 122)) == 21);
    char orig[32];
    snprintf(orig, sizeof orig, "%s", h_get(&h, before + 1, 122));
    FL_CHECK(!STR_EQ(orig, h_get(&h, before + 1, 52))); /* fresh SendingTime, original kept */
    FL_CHECK(STR_EQ(h_get(&h, before + 4, 35), "4"));
    FL_CHECK(STR_EQ(h_get(&h, before + 4, 34), "5"));
    FL_CHECK(STR_EQ(h_get(&h, before + 4, 36), "6"));
    FL_CHECK(STR_EQ(h_get(&h, before + 5, 34), "6"));
    /* Resends take no new number. */
    FL_CHECK_INT(fl_session_next_sender(h.s), 7);
    /* A range ending in admin messages ends with a gap fill to the next number. */
    before = h.nframes;
    h_in(&h, "35=2|34=3|52=NOW|7=4|16=5");
    FL_CHECK_INT(h.nframes - before, 2);
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 35), "4"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 36), "6"));
end:
    h_close(&h);
}

/* should_replay false: stale orders are gap-filled, one SequenceReset for the run. */
FL_TEST(t8_should_replay_false_gap_fills)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    send_some(&h);
    h.replay_none = 1;
    int before = h.nframes;
    h_in(&h, "35=2|34=2|52=NOW|7=1|16=0");
    FL_CHECK_INT(h.nframes - before, 1);
    FL_CHECK(STR_EQ(h_get(&h, before, 35), "4"));
    FL_CHECK(STR_EQ(h_get(&h, before, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, before, 36), "7"));
    FL_CHECK(h_has_event(&h, FL_EV_RESEND_SKIPPED));
end:
    h_close(&h);
}

/* The ResendRequest policy: gap-fill the range, ignore it, or log out. */
FL_TEST(t8_resend_request_policy)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    send_some(&h);
    h.resend_decision = FL_RESEND_GAP_FILL;
    int before = h.nframes;
    h_in(&h, "35=2|34=2|52=NOW|7=2|16=4");
    FL_CHECK_INT(h.nframes - before, 1);
    FL_CHECK(STR_EQ(h_get(&h, before, 36), "5"));
    h.resend_decision = FL_RESEND_IGNORE;
    before = h.nframes;
    h_in(&h, "35=2|34=3|52=NOW|7=2|16=4");
    FL_CHECK_INT(h.nframes - before, 0);
    h.resend_decision = FL_RESEND_LOGOUT;
    h_in(&h, "35=2|34=4|52=NOW|7=2|16=4");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* FIX.4.0/4.1: EndSeqNo 999999 means infinity. */
FL_TEST(t8_resend_infinity_999999)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.0") == 0);
    send_some(&h);
    int before = h.nframes;
    h_in(&h, "35=2|34=2|52=NOW|7=2|16=999999");
    FL_CHECK_INT(h.nframes - before, 5); /* D2 D3 D4 GF(5->6) D6 */
    FL_CHECK(STR_EQ(h_get(&h, -1, 34), "6"));
end:
    h_close(&h);
}

/* 8: a ResendRequest that begins past our last number, ahead of sequence, is served at once
 * (nothing to serve) and rejected once the gap before it closes, as it is in sequence. */
FL_TEST(t8_resend_request_beyond_last_sent_ahead_of_sequence)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    int before = h.nframes;
    h_in(&h, "35=2|34=3|52=NOW|7=5|16=0"); /* ahead of 2; we have sent only 1 */
    FL_CHECK_INT(h.nframes - before, 1);   /* our ResendRequest for 2 (our number 2) */
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    h_in(&h, "35=0|34=2|52=NOW");
    FL_CHECK_INT(h.nframes - before, 2);
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 45), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "7"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "BeginSeqNo(7) 5 is beyond the last MsgSeqNum sent (2)"));
    FL_CHECK_INT(fl_session_next_target(h.s), 4);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
end:
    h_close(&h);
}

/* 10: SequenceReset-GapFill with NewSeqNo greater, equal and lower. */
FL_TEST(t10_gap_fill_new_seq_no_greater_equal_lower)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=20");
    FL_CHECK_INT(fl_session_next_target(h.s), 20);
    h_in(&h, "35=4|34=20|43=Y|122=NOW|52=NOW|123=Y|36=20");
    FL_CHECK_INT(fl_session_next_target(h.s), 20); /* equal: nothing changes */
    h_in(&h, "35=4|34=20|43=Y|122=NOW|52=NOW|123=Y|36=10");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "5"));
    FL_CHECK_INT(fl_session_next_target(h.s), 20);
    /* too low with PossDup: ignored */
    int before = h.nframes;
    h_in(&h, "35=4|34=5|43=Y|122=NOW|52=NOW|123=Y|36=30");
    FL_CHECK_INT(h.nframes, before);
    FL_CHECK_INT(fl_session_next_target(h.s), 20);
    /* too high: queued and a ResendRequest */
    h_in(&h, "35=4|34=25|43=Y|122=NOW|52=NOW|123=Y|36=30");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 7), "20"));
end:
    h_close(&h);
}

/* 11: SequenceReset-Reset ignores MsgSeqNum: greater sets, equal nothing, lower Reject(5). */
FL_TEST(t11_sequence_reset_reset_mode)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=4|34=99|52=NOW|36=25");
    FL_CHECK_INT(fl_session_next_target(h.s), 25);
    FL_CHECK(h_has_event(&h, FL_EV_SEQUENCE_RESET));
    h_in(&h, "35=4|34=1|52=NOW|36=25|123=N");
    FL_CHECK_INT(fl_session_next_target(h.s), 25);
    int before = h.nframes;
    h_in(&h, "35=4|34=1|52=NOW|36=3");
    FL_CHECK_INT(h.nframes, before + 1);
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 372), "4"));
    FL_CHECK_INT(fl_session_next_target(h.s), 25);
end:
    h_close(&h);
}

/* 13a/13b: Logout initiated by us (answered, or timed out) and received unsolicited. */
FL_TEST(t13_logout_initiated_and_received)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    fl_session_logout(h.s, "end of day", h.now);
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "end of day"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGOUT_SENT);
    h_in(&h, "35=5|34=2|52=NOW");
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK(h_has_event(&h, FL_EV_LOGOUT));
    FL_CHECK_INT(fl_store_next_target(h.store), 3);
    h_close(&h);
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=5|34=2|52=NOW|58=bye");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK_INT(h.disconnected, 1);
    h_close(&h);
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    fl_session_logout(h.s, NULL, h.now);
    h_advance(&h, 1);
    FL_CHECK_INT(h.disconnected, 0);
    h_advance(&h, 2);
    FL_CHECK(h_has_event(&h, FL_EV_LOGOUT_TIMEOUT));
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* 14a/14d/14g/14h and data fields: syntax problems answered with the matching Reject(3). */
FL_TEST(t14_malformed_messages_rejected)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=2|52=NOW|0=X|11=a");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "0"));
    h_in(&h, "35=D|34=3|52=NOW|11=");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "4"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "11"));
    h_in(&h, "35=D|34=4|11=a|52=NOW");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "14"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "52"));
    h_in(&h, "35=D|34=5|52=NOW|34=5|11=a");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "13"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "34"));
    h_in(&h, "35=D|34=6|52=NOW|95=5|96=ab");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "6"));
    FL_CHECK_INT(h.delivered_app, 0);
    FL_CHECK_INT(fl_session_next_target(h.s), 7);
    /* A good data field with SOH inside is delivered. */
    h_in(&h, "35=D|34=7|52=NOW|95=3|96=a|b");
    FL_CHECK_INT(h.delivered_app, 1);
end:
    h_close(&h);
}

/* FIX.4.2 Reject carries reasons up to 11 only; FIX.4.0 puts the tag in Text. */
FL_TEST(t14_reject_format_by_version)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.2") == 0);
    h_in(&h, "35=D|34=2|52=NOW|34=2|11=a");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), ""));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "34"));
    h_close(&h);
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.0") == 0);
    h_in(&h, "35=D|34=2|52=NOW|11=");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), ""));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "Tag specified without a value (11)"));
end:
    h_close(&h);
}

/* 20: the peer's ResendRequest arrives ahead of sequence while ours is outstanding: served at
 * once, no second ResendRequest of ours, its number consumed when the gap closes. */
FL_TEST(t20_simultaneous_resend_request)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.2") == 0);
    const char body[] = "11=A\001";
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, sizeof body - 1, h.now) == FL_OK);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, sizeof body - 1, h.now) == FL_OK);
    h_in(&h, "35=0|34=7|52=NOW"); /* we expect 2: ResendRequest 2..0 */
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    int before = h.nframes;
    h_in(&h, "35=2|34=8|52=NOW|7=2|16=3");
    FL_CHECK_INT(h.nframes - before, 2);
    FL_CHECK(STR_EQ(h_get(&h, before, 34), "2"));
    FL_CHECK(STR_EQ(h_get(&h, before, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, before + 1, 34), "3"));
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=7");
    FL_CHECK_INT(fl_session_next_target(h.s), 9);
    FL_CHECK_INT(h.nframes - before, 2); /* the queued request was not served twice */
end:
    h_close(&h);
}

/* 789: the peer says it expects less than we sent: we resend without a round trip. */
FL_TEST(next_expected_msg_seq_num_resends)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.send_next_expected = 1;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|789=1");
    send_some(&h); /* ours: 1=A 2,3,4=D 5=0 6=D */
    fl_session_on_disconnect(h.s, h.now);
    h.nframes = 0;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=2|52=NOW|98=0|108=30|789=3");
    FL_CHECK(STR_EQ(h_get(&h, 0, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 34), "7"));
    FL_CHECK(STR_EQ(h_get(&h, 0, 789), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 34), "3"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, 3, 35), "4")); /* heartbeat 5 gap-filled */
    FL_CHECK(STR_EQ(h_get(&h, 4, 34), "6"));
    /* and our Logon's own number, which the peer did not count: gap-filled to 8 */
    FL_CHECK(STR_EQ(h_get(&h, 5, 35), "4") && STR_EQ(h_get(&h, 5, 34), "7"));
    FL_CHECK(STR_EQ(h_get(&h, 5, 36), "8"));
    fl_session_on_disconnect(h.s, h.now);
    h.nframes = 0;
    h.disconnected = 0;
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=3|52=NOW|98=0|108=30|789=20");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
    FL_CHECK(strstr(h_get(&h, -1, 58), "789") != NULL);
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* Messages sent before logon wait and go out, in order, right after it. */
FL_TEST(queued_before_logon_delivered_after)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    const char b1[] = "11=first\001", b2[] = "11=second\001";
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b1, sizeof b1 - 1, h.now) == FL_OK);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b2, sizeof b2 - 1, h.now) == FL_OK);
    FL_CHECK_INT(fl_session_outbound_queued(h.s), 2);
    FL_CHECK_INT(h.nframes, 0);
    fl_session_on_connect(h.s, h.now);
    FL_CHECK_INT(h.nframes, 1);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 3);
    FL_CHECK(STR_EQ(h_get(&h, 1, 11), "first"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 34), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 2, 11), "second"));
    FL_CHECK_INT(fl_session_outbound_queued(h.s), 0);
end:
    h_close(&h);
}

/* A bounded queue: sending beyond it fails with FL_EAGAIN instead of growing. */
FL_TEST(outbound_queue_is_bounded)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_INITIATOR, "FIX.4.4");
    c.max_outbound_queue = 3;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    const char b[] = "11=x\001";
    for (int i = 0; i < 3; i++)
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b, sizeof b - 1, h.now) == FL_OK);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b, sizeof b - 1, h.now) == FL_EAGAIN);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, "11=x", 4, h.now) == FL_EINVAL);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, "11=\00155=X\001", 9, h.now) == FL_EINVAL);
    /* A value may end in '=' (base64 IDs do); a tag with nothing after its '=' may not. */
    const char b64[] = "11=QUJD=\00155=X\001", empty_after[] = "11=a==\00158=\001";
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b64, sizeof b64 - 1, h.now) == FL_EAGAIN);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, empty_after, sizeof empty_after - 1, h.now) ==
             FL_EINVAL);
    /* An empty value at every offset, across the 16-byte steps of the check, is refused; the
     * same body with a value is not (it meets the full queue instead). */
    for (int k = 1; k < 48; k++) {
        char body[128];
        int n = snprintf(body, sizeof body, "58=%.*s\00111=\00155=IBM\001", k,
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, (size_t)n, h.now) == FL_EINVAL);
        n = snprintf(body, sizeof body, "58=%.*s\00111=z\00155=IBM\001", k,
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, (size_t)n, h.now) == FL_EAGAIN);
        n = snprintf(body, sizeof body, "58=%.*s=\00111=z=\00155=IBM\001", k,
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, (size_t)n, h.now) == FL_EAGAIN);
    }
end:
    h_close(&h);
}

/* Too many garbled frames in a row end the session. */
FL_TEST(garbled_flood_disconnects)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.max_garbled = 5;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    for (int i = 0; i < 5 && !h.disconnected; i++)
        h_raw(&h, "8=FIX.4.4|9=5|35=0|10=000|");
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* Store-before-send: a store that refuses to commit lets nothing out. */
struct failing_store {
    struct fl_store base;
    struct fl_store *inner;
    int fail;
};
static uint64_t fs_ns(const struct fl_store *s) { return fl_store_next_sender(((const struct failing_store *)s)->inner); }
static uint64_t fs_nt(const struct fl_store *s) { return fl_store_next_target(((const struct failing_store *)s)->inner); }
static int64_t fs_ct(const struct fl_store *s) { return fl_store_creation_time(((const struct failing_store *)s)->inner); }
static int fs_commit(struct fl_store *s, const struct fl_store_batch *b)
{
    struct failing_store *f = (struct failing_store *)s;
    if (f->fail) {
        snprintf(s->last_error, sizeof s->last_error, "disk full (test)");
        return FL_EIO;
    }
    return fl_store_commit(f->inner, b);
}
static int fs_reset(struct fl_store *s, int64_t now) { return fl_store_reset(((struct failing_store *)s)->inner, now); }
static int fs_flush(struct fl_store *s) { return fl_store_flush(((struct failing_store *)s)->inner); }
static int fs_iter_open(struct fl_store *s, uint64_t b, uint64_t e, struct fl_store_iter **it)
{
    return fl_store_iter_open(((struct failing_store *)s)->inner, b, e, it);
}
static void fs_close(struct fl_store *s)
{
    fl_store_close(((struct failing_store *)s)->inner);
    free(s);
}
static const struct fl_store_ops failing_ops = {
    .name = "failing", .next_sender = fs_ns, .next_target = fs_nt, .creation_time = fs_ct,
    .commit = fs_commit, .reset = fs_reset, .flush = fs_flush, .iter_open = fs_iter_open,
    .close = fs_close};

/* An acceptor harness over a failing_store (passing commits until f->fail is set); NULL when
 * it cannot be made. */
static struct failing_store *failing_acceptor(struct harness *h)
{
    struct failing_store *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base.ops = &failing_ops;
    if (fl_store_mem_new(H_T0, &f->inner) != FL_OK) {
        free(f);
        return NULL;
    }
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    if (h_open_with(h, &c, &f->base) != 0)
        return NULL;
    return f;
}

FL_TEST(store_before_send_nothing_leaves_on_commit_failure)
{
    struct harness h;
    struct failing_store *f = failing_acceptor(&h);
    FL_CHECK(f != NULL);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 1);
    f->fail = 1;
    h_in(&h, "35=1|34=2|52=NOW|112=X");
    FL_CHECK_INT(h.nframes, 1); /* the Heartbeat answer never left */
    FL_CHECK(h_has_event(&h, FL_EV_ERROR));
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK_INT(fl_store_next_target(h.store), 2); /* the TestRequest is still to be handled */
    FL_CHECK_INT(fl_session_next_sender(h.s), 2);
end:
    h_close(&h);
}

/* A send whose own commit fails says so: FL_EIO, not FL_OK for a message that never left. */
FL_TEST(send_reports_eio_when_its_commit_fails)
{
    struct harness h;
    struct failing_store *f = failing_acceptor(&h);
    FL_CHECK(f != NULL);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    f->fail = 1;
    FL_CHECK_INT(fl_session_send(h.s, "D", 1, NULL, 0, "11=x\001", 5, h.now), FL_EIO);
    FL_CHECK_INT(h.nframes, 1); /* nothing but the Logon answer left */
end:
    h_close(&h);
}

/* The send hook of a send stages one more message, and then the disk fills: that second
 * round's commit fails, but the first send was stored and written, so it reports FL_OK (an
 * FL_EIO would invite the caller to send it twice). */
static void send_more_then_fail(struct harness *h)
{
    struct failing_store *f = h->user;
    if (fl_session_send(h->s, "D", 1, NULL, 0, "11=from-hook\001", 13, h->now) != FL_OK)
        fprintf(stderr, "  the hook's send was refused\n"); /* (staged for the next round) */
    f->fail = 1;
}

FL_TEST(send_is_ok_when_only_a_later_round_of_its_batch_fails)
{
    struct harness h;
    struct failing_store *f = failing_acceptor(&h);
    FL_CHECK(f != NULL);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    h.user = f;
    h.after_send = send_more_then_fail;
    FL_CHECK_INT(fl_session_send(h.s, "D", 1, NULL, 0, "11=timer\001", 9, h.now), FL_OK);
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 1, 11), "timer"));
    FL_CHECK_INT(fl_store_next_sender(h.store), 3); /* it is stored */
end:
    h_close(&h);
}

/* A message queued before logon survives a logon whose commit fails: it goes out after the
 * next logon that holds, not never. */
FL_TEST(queued_message_survives_a_failed_logon_commit)
{
    struct harness h;
    struct failing_store *f = failing_acceptor(&h);
    FL_CHECK(f != NULL);
    FL_CHECK_INT(fl_session_send(h.s, "D", 1, NULL, 0, "11=queued\001", 10, h.now), FL_OK);
    fl_session_on_connect(h.s, h.now);
    f->fail = 1;
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 0);
    FL_CHECK_INT(h.disconnected, 1);
    FL_CHECK_INT(fl_session_outbound_queued(h.s), 1);
    f->fail = 0;
    fl_session_on_disconnect(h.s, h.now);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "D") && STR_EQ(h_get(&h, 1, 11), "queued"));
    FL_CHECK_INT(fl_session_outbound_queued(h.s), 0);
end:
    h_close(&h);
}

/* A message larger than max_message_size is refused when it is queued before logon, as it is
 * when sent logged on, not dropped at logon. */
FL_TEST(oversized_message_is_refused_before_logon_too)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.max_message_size = 4096;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    char body[6000];
    memset(body, 'x', sizeof body);
    memcpy(body, "58=", 3);
    body[sizeof body - 1] = '\001';
    FL_CHECK_INT(fl_session_send(h.s, "D", 1, NULL, 0, body, sizeof body, h.now), FL_ELIMIT);
    FL_CHECK_INT(fl_session_send(h.s, "D", 1, NULL, 0, "11=x\001", 5, h.now), FL_OK);
end:
    h_close(&h);
}

/* Messages held past a gap are bounded in bytes as well as in number (default 64 MiB): past
 * the limit they are dropped (the ResendRequest brings them again), not held. */
FL_TEST(inbound_queue_is_bounded_in_bytes)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.max_inbound_queue_bytes = 2000;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    char text[400];
    char pad[201];
    memset(pad, 'y', 200);
    pad[200] = '\0';
    for (int seq = 3; seq < 3 + 20; seq++) { /* 2 never comes: each of these is held */
        snprintf(text, sizeof text, "35=D|34=%d|52=NOW|11=c|58=%s", seq, pad);
        h_in(&h, text);
    }
    int dropped = 0;
    for (int i = 0; i < h.nevents; i++)
        dropped += h.events[i].type == FL_EV_QUEUE_THRESHOLD &&
                   strstr(h.events[i].text, "dropped") != NULL;
    FL_CHECK(dropped >= 10 && dropped < 20); /* about 300 bytes each: 2000 hold six */
    FL_CHECK_INT(h.disconnected, 0);
    /* the gap filled, the held ones are processed and the rest asked for again */
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=3");
    FL_CHECK(fl_session_next_target(h.s) > 3);
end:
    h_close(&h);
}

/* Sending-side numbering: every new message takes the next number, stored before it leaves. */
FL_TEST(outbound_messages_are_stored_before_sent)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    const char b[] = "11=x\00155=IBM\001";
    FL_CHECK(fl_session_send(h.s, "D", 1, "115=ONBEHALF\001", 13, b, sizeof b - 1, h.now) == FL_OK);
    FL_CHECK(STR_EQ(h_get(&h, 1, 34), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 115), "ONBEHALF"));
    FL_CHECK_INT(fl_store_next_sender(h.store), 3);
    struct fl_store_iter *it = NULL;
    uint64_t seq;
    const char *data;
    size_t len;
    FL_CHECK(fl_store_iter_open(h.store, 2, 2, &it) == FL_OK);
    FL_CHECK(fl_store_iter_next(it, &seq, &data, &len) == FL_OK);
    FL_CHECK_INT(seq, 2);
    FL_CHECK(len == h.frame_len[1] && memcmp(data, h.out + h.frame_off[1], len) == 0);
    fl_store_iter_close(it);
    it = NULL;
end:
    fl_store_iter_close(it);
    h_close(&h);
}

/* In-session reset through a Logon with 141=Y, by either side. */
FL_TEST(reset_seq_num_in_session)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=0|34=2|52=NOW");
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "A"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 141), "Y"));
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(fl_session_next_sender(h.s), 2);
    FL_CHECK(fl_session_reset(h.s, h.now) == FL_OK);
    FL_CHECK(STR_EQ(h_get(&h, -1, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 141), "Y"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGON_SENT);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
end:
    h_close(&h);
}

/* Logon while logged on without a reset: the connection is dropped. */
FL_TEST(second_logon_in_session_disconnects)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=A|34=2|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.disconnected, 1);
end:
    h_close(&h);
}

/* A long resend is paced by the transport backlog and bounded in memory. */
static size_t backlog_value;
static size_t h_send_backlogged(void *ctx, const char *p, size_t n)
{
    h_send(ctx, p, n);
    return backlog_value;
}

FL_TEST(resend_is_paced_by_transport)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    const char b[] = "11=x\001";
    for (int i = 0; i < 2000; i++)
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b, sizeof b - 1, h.now) == FL_OK);
    /* swap the transport for one that reports a full backlog */
    fl_session_free(h.s);
    struct fl_session_io io = {.ctx = &h, .send = h_send_backlogged, .disconnect = h_disconnect,
                               .event = h_event_cb, .deliver = h_deliver};
    char err[64];
    FL_CHECK(fl_session_new(&h.cfg, h.store, &io, &h.s, err, sizeof err) == FL_OK);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=2|52=NOW|98=0|108=30");
    backlog_value = 1u << 30;
    int before = h.nframes;
    h_in(&h, "35=2|34=3|52=NOW|7=2|16=0");
    int first_chunk = h.nframes - before;
    FL_CHECK(first_chunk > 0 && first_chunk < 2000);
    backlog_value = 0;
    for (int i = 0; i < 100 && h.nframes - before < 2001; i++)
        fl_session_on_writable(h.s, h.now);
    /* D 2..2001, then our second Logon (2002) gap-filled */
    FL_CHECK_INT(h.nframes - before, 2001);
    FL_CHECK(STR_EQ(h_get(&h, -2, 34), "2001"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "4"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 36), "2003"));
end:
    h_close(&h);
}


/* Validation as a session setting: with a dictionary, a NewOrderSingle without a required field
 * gets Reject(3) reason 1 and the event; an unsupported MsgType gets BusinessMessageReject. */
FL_TEST(validation_with_dictionary)
{
    struct harness h;
    struct fl_dict *d = NULL;
    FL_CHECK(fl_dict_builtin("FIX.4.4", &d) == FL_OK);
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.dict = d;
    fl_validate_opts_init(&c.validate);
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    h_in(&h, "35=D|34=2|52=NOW|11=A|21=1|55=IBM|60=20261122-10:00:00|40=1|38=10");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "1"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "54"));
    FL_CHECK(h_has_event(&h, FL_EV_VALIDATION_FAILED));
    FL_CHECK_INT(h.delivered_app, 0);
    h_in(&h, "35=D|34=3|52=NOW|11=A|21=1|55=IBM|54=1|60=2026-11-22|40=1|38=10");
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "6"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "60"));
    h_in(&h, "35=D|34=4|52=NOW|11=A|21=1|55=IBM|54=1|60=20261122-10:00:00|40=1|38=10");
    FL_CHECK_INT(h.delivered_app, 1);
    /* a repeating group whose NumInGroup disagrees with its entries: reason 16 */
    h_in(&h, "35=D|34=5|52=NOW|11=A|453=2|448=P1|447=D|452=3|21=1|55=IBM|54=1|"
             "60=20261122-10:00:00|40=1|38=10");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 373), "16"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 371), "453"));
    FL_CHECK_INT(h.delivered_app, 1);
    h_in(&h, "35=ZZ|34=6|52=NOW|58=hi");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "j"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 380), "3"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 372), "ZZ"));
    FL_CHECK_INT(fl_session_next_target(h.s), 7);
end:
    h_close(&h);
    fl_dict_free(d);
}

/* Throttle, latency warning and queue threshold are reported, not enforced. */
FL_TEST(throttle_latency_and_queue_threshold_events)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.max_inbound_rate = 3;
    c.latency_warn_ns = 2 * H_SEC;
    c.inbound_queue_warn = 2;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    h_in(&h, "35=0|34=2|52=NOW");
    h_in(&h, "35=0|34=3|52=NOW");
    FL_CHECK(!h_has_event(&h, FL_EV_THROTTLE));
    h_in(&h, "35=0|34=4|52=NOW-5");
    FL_CHECK(h_has_event(&h, FL_EV_THROTTLE));
    FL_CHECK(h_has_event(&h, FL_EV_LATENCY));
    FL_CHECK_INT(h.disconnected, 0);
    FL_CHECK_INT(fl_session_next_target(h.s), 5);
    h_in(&h, "35=0|34=9|52=NOW");
    FL_CHECK(!h_has_event(&h, FL_EV_QUEUE_THRESHOLD));
    h_in(&h, "35=0|34=10|52=NOW");
    FL_CHECK(h_has_event(&h, FL_EV_QUEUE_THRESHOLD));
end:
    h_close(&h);
}


/* Tags of sent frame i as "8,9,35,...". */
static const char *tags_of(struct harness *h, int i)
{
    static char buf[512];
    struct fl_msg *m = h_sent(h, i);
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t k = 0; m && k < m->nfields && n + 12 < sizeof buf; k++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%u", k ? "," : "", m->fields[k].tag);
    return buf;
}

/* The field order of what the session writes: header fields after 35 in ascending order, body
 * fields of session messages too, as QuickFIX writes them and the FIX acceptance tests compare
 * them (field by field, in order). Reject for a SequenceReset going backwards (sent with
 * MsgSeqNum 0 in Reset mode) carries no RefTagID. */
FL_TEST(wire_field_order_of_session_messages)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.2") == 0);
    FL_CHECK(STR_EQ(tags_of(&h, 0), "8,9,35,34,49,52,56,98,108,10"));
    const char body[] = "11=ID\00121=3\00140=1\00154=1\00155=INTC\001";
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, body, sizeof body - 1, h.now) == FL_OK);
    FL_CHECK(STR_EQ(tags_of(&h, 1), "8,9,35,34,49,52,56,11,21,40,54,55,10"));
    h_in(&h, "35=1|34=2|52=NOW|112=HELLO");
    FL_CHECK(STR_EQ(tags_of(&h, 2), "8,9,35,34,49,52,56,112,10"));
    h_in(&h, "35=2|34=3|52=NOW|7=1|16=0");
    FL_CHECK(STR_EQ(tags_of(&h, 3), "8,9,35,34,43,49,52,56,122,36,123,10"));
    FL_CHECK(STR_EQ(tags_of(&h, 4), "8,9,35,34,43,49,52,56,122,11,21,40,54,55,10"));
    FL_CHECK(STR_EQ(tags_of(&h, 5), "8,9,35,34,43,49,52,56,122,36,123,10"));
    h_in(&h, "35=4|34=0|52=NOW|36=1");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "3"));
    FL_CHECK(STR_EQ(tags_of(&h, -1), "8,9,35,34,49,52,56,45,58,372,373,10"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 45), "0"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 58), "Value is incorrect (out of range) for this tag"));
    h_in(&h, "35=D|49=WRONG|34=4|52=NOW|11=a");
    FL_CHECK(STR_EQ(tags_of(&h, -2), "8,9,35,34,49,52,56,45,58,372,373,10"));
    FL_CHECK(STR_EQ(tags_of(&h, -1), "8,9,35,34,49,52,56,10"));
end:
    h_close(&h);
}

/* Our Logon carried 789 and the peer's answer is ahead of it. A peer whose Logon carries 789
 * too resends from our 789 on its own; one without 789 (QuickFIX C++ 1.15, seen in
 * core/interop) never does, so it must get a ResendRequest or the gap stays open forever. */
FL_TEST(next_expected_too_high_logon_without_789_gets_resend_request)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_INITIATOR, "FIX.4.4");
    c.send_next_expected = 1;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    FL_CHECK(STR_EQ(h_get(&h, 0, 789), "1"));
    h_in(&h, "35=A|34=5|52=NOW|98=0|108=30");
    FL_CHECK_INT(h.nframes, 2);
    FL_CHECK(STR_EQ(h_get(&h, 1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 7), "1"));
    FL_CHECK(STR_EQ(h_get(&h, 1, 16), "0"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_RESENDING);
    h_in(&h, "35=4|34=1|43=Y|122=NOW|52=NOW|123=Y|36=6");
    FL_CHECK_INT(fl_session_next_target(h.s), 6);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    /* The same gap with a peer that speaks 789: our Logon was the request, nothing more. */
    fl_session_on_disconnect(h.s, h.now);
    h.nframes = 0;
    fl_session_on_connect(h.s, h.now);
    FL_CHECK(STR_EQ(h_get(&h, 0, 789), "6"));
    h_in(&h, "35=A|34=9|52=NOW|98=0|108=30|789=3");
    FL_CHECK_INT(h.nframes, 1);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_RESENDING);
end:
    h_close(&h);
}

/* A second ResendRequest while a resend is paused by the transport: both are served in
 * full, nothing of the first is dropped. */
FL_TEST(overlapping_resend_requests_are_both_served)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.output_high_watermark = 400;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    for (int i = 0; i < 10; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "11=ORD%d\001", i);
        FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, b, (size_t)n, h.now) == FL_OK);
    }
    int mark = h.nframes;
    h.backlog = 100000; /* the transport is full from now on */
    h_in(&h, "35=2|34=2|52=NOW|7=2|16=0");
    h_in(&h, "35=2|34=3|52=NOW|7=2|16=3");
    h.backlog = 0;
    fl_session_on_writable(h.s, h.now);
    /* Every number from 2 to 11 went out again, as a PossDup order. */
    int seen[12] = {0};
    for (int i = mark; i < h.nframes; i++) {
        if (!STR_EQ(h_get(&h, i, 35), "D"))
            continue;
        FL_CHECK(STR_EQ(h_get(&h, i, 43), "Y"));
        int seq = atoi(h_get(&h, i, 34));
        if (seq >= 2 && seq <= 11)
            seen[seq] = 1;
    }
    for (int q = 2; q <= 11; q++)
        FL_CHECK_INT(seen[q], 1);
end:
    h_close(&h);
}

/* The acceptor reset the sequence in its answer to our Logon (ResetOnLogon on its side):
 * both sides start again, its Logon and ours being number 1, so our next message is 2. */
FL_TEST(initiator_follows_a_reset_in_the_logon_answer_on_both_numbers)
{
    struct harness h;
    FL_CHECK(h_open(&h, FL_ROLE_INITIATOR, "FIX.4.4") == 0);
    FL_CHECK(fl_session_set_next_sender(h.s, 10) == FL_OK);
    FL_CHECK(fl_session_set_next_target(h.s, 10) == FL_OK);
    fl_session_on_connect(h.s, h.now);
    FL_CHECK(STR_EQ(h_get(&h, 0, 34), "10"));
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(fl_session_next_sender(h.s), 2);
    FL_CHECK(fl_session_send(h.s, "D", 1, NULL, 0, "11=A\001", 5, h.now) == FL_OK);
    FL_CHECK(STR_EQ(h_get(&h, -1, 34), "2"));
    /* and a resend of the new sequence reaches nothing of the old one: our Logon (1) is
     * gap-filled, the order (2) replayed */
    h_in(&h, "35=2|34=2|52=NOW|7=1|16=0");
    FL_CHECK(STR_EQ(h_get(&h, -2, 35), "4") && STR_EQ(h_get(&h, -2, 34), "1"));
    FL_CHECK(STR_EQ(h_get(&h, -2, 36), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 34), "2") && STR_EQ(h_get(&h, -1, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 11), "A"));
    /* A reset answer not numbered 1 is refused. */
    fl_session_on_disconnect(h.s, h.now);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=7|52=NOW|98=0|108=30|141=Y");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "5"));
end:
    h_close(&h);
}

/* Our Logon's 789 asked for the gap: the wait for the peer's resend starts at the logon, so
 * no ResendRequest follows a tick later. */
FL_TEST(next_expected_logon_gap_waits_before_asking_again)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.send_next_expected = 1;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=5|52=NOW|98=0|108=30|789=1");
    int mark = h.nframes;
    h_advance(&h, 1);
    for (int i = mark; i < h.nframes; i++)
        FL_CHECK(!STR_EQ(h_get(&h, i, 35), "2"));
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_RESENDING);
end:
    h_close(&h);
}

/* After we reset in session, what the peer sent before it saw our Logon is dropped, not a
 * reason to drop the connection; its reset answer completes the reset. */
FL_TEST(in_session_reset_ignores_messages_of_the_old_sequence)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=0|34=2|52=NOW");
    FL_CHECK(fl_session_reset(h.s, h.now) == FL_OK);
    FL_CHECK(STR_EQ(h_get(&h, -1, 141), "Y"));
    h_in(&h, "35=0|34=3|52=NOW");
    FL_CHECK_INT(h.disconnected, 0);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_LOGON_SENT);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_target(h.s), 2);
    FL_CHECK_INT(h.disconnected, 0);
end:
    h_close(&h);
}

/* An old-sequence message ignored during an in-session reset leaves no trace: a later gap is
 * asked for once, not again up to the ignored message's number. */
FL_TEST(in_session_reset_forgets_the_numbers_it_ignored)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    FL_CHECK(fl_session_reset(h.s, h.now) == FL_OK);
    h_in(&h, "35=0|34=5000|52=NOW");
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30|141=Y");
    int mark = h.nframes;
    h_in(&h, "35=0|34=3|52=NOW");                       /* 2 is missing */
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=3"); /* and filled */
    FL_CHECK_INT(fl_session_next_target(h.s), 4);
    int requests = 0;
    for (int i = mark; i < h.nframes; i++)
        requests += STR_EQ(h_get(&h, i, 35), "2");
    FL_CHECK_INT(requests, 1);
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
end:
    h_close(&h);
}

/* Chunked ResendRequests: one chunk at a time, however many later messages arrive. */
FL_TEST(chunked_resend_request_is_not_repeated_for_each_later_message)
{
    struct harness h;
    struct fl_session_config c = h_config(FL_ROLE_ACCEPTOR, "FIX.4.4");
    c.resend_request_chunk = 5;
    FL_CHECK(h_open_with(&h, &c, NULL) == 0);
    fl_session_on_connect(h.s, h.now);
    h_in(&h, "35=A|34=1|52=NOW|98=0|108=30");
    int mark = h.nframes;
    h_in(&h, "35=D|34=20|52=NOW|11=a");
    h_in(&h, "35=D|34=21|52=NOW|11=b");
    h_in(&h, "35=D|34=22|52=NOW|11=c");
    int requests = 0;
    for (int i = mark; i < h.nframes; i++)
        requests += STR_EQ(h_get(&h, i, 35), "2");
    FL_CHECK_INT(requests, 1);
    FL_CHECK(STR_EQ(h_get(&h, mark, 7), "2") && STR_EQ(h_get(&h, mark, 16), "6"));
end:
    h_close(&h);
}

/* A message sent with PossResend(97)=Y keeps it when it is resent. */
FL_TEST(resend_keeps_poss_resend)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    FL_CHECK(fl_session_send(h.s, "D", 1, "97=Y\001", 5, "11=A\001", 5, h.now) == FL_OK);
    h_in(&h, "35=2|34=2|52=NOW|7=2|16=2");
    FL_CHECK(STR_EQ(h_get(&h, -1, 43), "Y"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 97), "Y"));
end:
    h_close(&h);
}

/* A lost ResendRequest (or a lost replay) must not stall the session: with no progress on
 * the gap for two heartbeat intervals, the request goes out again from the expected number. */
FL_TEST(lost_resend_request_is_asked_again)
{
    struct harness h;
    FL_CHECK(h_logged_on_acceptor(&h, "FIX.4.4") == 0);
    h_in(&h, "35=D|34=4|52=NOW|11=four");
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 7), "2"));
    int before = h.nframes;
    /* the peer never answers, but stays alive */
    for (int i = 1; i <= 59; i++) {
        h.now += H_SEC;
        if (i % 10 == 0) {
            char spec[64];
            snprintf(spec, sizeof spec, "35=0|34=%d|52=NOW", 4 + i / 10);
            h_in(&h, spec);
        }
        fl_session_tick(h.s, h.now);
    }
    for (int i = before; i < h.nframes; i++)
        FL_CHECK(!STR_EQ(h_get(&h, i, 35), "2")); /* not before 2 x HeartBtInt */
    h.now += H_SEC;
    fl_session_tick(h.s, h.now);
    FL_CHECK(STR_EQ(h_get(&h, -1, 35), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 7), "2"));
    FL_CHECK(STR_EQ(h_get(&h, -1, 16), "0"));
    /* now the gap fills and everything held is processed */
    h_in(&h, "35=4|34=2|43=Y|122=NOW|52=NOW|123=Y|36=4");
    FL_CHECK_INT(fl_session_state(h.s), FL_STATE_ACTIVE);
    FL_CHECK_INT(fl_session_next_target(h.s), 10);
    FL_CHECK_INT(h.delivered_app, 1);
end:
    h_close(&h);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(t1a_valid_logon_correct_seq);
    FL_RUN(t1a_logon_seq_too_high);
    FL_RUN(t1a_logon_too_high_fix41_uses_999999);
    FL_RUN(t1c_logon_invalid_comp_id);
    FL_RUN(t1d_invalid_logon_sending_time_and_begin_string);
    FL_RUN(t1e_first_message_not_logon);
    FL_RUN(logon_seq_too_low);
    FL_RUN(logon_heartbeat_out_of_range);
    FL_RUN(logon_encrypt_method_must_be_none);
    FL_RUN(logon_fixt_default_appl_ver_id);
    FL_RUN(logon_rejected_by_policy);
    FL_RUN(logon_reset_only_after_acceptance);
    FL_RUN(logon_deferred_then_accepted);
    FL_RUN(logon_deferred_then_rejected_and_timeout);
    FL_RUN(initiator_logon_and_timeout);
    FL_RUN(initiator_logon_refused_by_peer);
    FL_RUN(initiator_logon_answer_heartbeat_out_of_range);
    FL_RUN(initiator_reset_on_logon);
    FL_RUN(t2b_seq_too_high_queue_and_resend);
    FL_RUN(t2b_resend_request_in_chunks);
    FL_RUN(t2c_seq_too_low);
    FL_RUN(t2d_garbled_message_ignored);
    FL_RUN(t2e_poss_dup_already_received);
    FL_RUN(t2f_poss_dup_orig_sending_time_after_sending_time);
    FL_RUN(t2g_poss_dup_without_orig_sending_time);
    FL_RUN(t2i_begin_string_unexpected);
    FL_RUN(t2k_comp_id_problem);
    FL_RUN(t2k_comp_id_every_length);
    FL_RUN(t2o_sending_time_accuracy);
    FL_RUN(t2t_first_three_fields_out_of_order);
    FL_RUN(t4a_heartbeat_when_idle);
    FL_RUN(t4b_test_request_answered);
    FL_RUN(t6_test_request_then_transmission_failure);
    FL_RUN(t7_reject_received);
    FL_RUN(t8_resend_request_served);
    FL_RUN(t8_should_replay_false_gap_fills);
    FL_RUN(t8_resend_request_policy);
    FL_RUN(t8_resend_infinity_999999);
    FL_RUN(t8_resend_request_beyond_last_sent_ahead_of_sequence);
    FL_RUN(t10_gap_fill_new_seq_no_greater_equal_lower);
    FL_RUN(t11_sequence_reset_reset_mode);
    FL_RUN(t13_logout_initiated_and_received);
    FL_RUN(t14_malformed_messages_rejected);
    FL_RUN(t14_reject_format_by_version);
    FL_RUN(t20_simultaneous_resend_request);
    FL_RUN(next_expected_msg_seq_num_resends);
    FL_RUN(queued_before_logon_delivered_after);
    FL_RUN(outbound_queue_is_bounded);
    FL_RUN(garbled_flood_disconnects);
    FL_RUN(store_before_send_nothing_leaves_on_commit_failure);
    FL_RUN(send_reports_eio_when_its_commit_fails);
    FL_RUN(oversized_message_is_refused_before_logon_too);
    FL_RUN(queued_message_survives_a_failed_logon_commit);
    FL_RUN(send_is_ok_when_only_a_later_round_of_its_batch_fails);
    FL_RUN(inbound_queue_is_bounded_in_bytes);
    FL_RUN(outbound_messages_are_stored_before_sent);
    FL_RUN(reset_seq_num_in_session);
    FL_RUN(second_logon_in_session_disconnects);
    FL_RUN(resend_is_paced_by_transport);
    FL_RUN(validation_with_dictionary);
    FL_RUN(throttle_latency_and_queue_threshold_events);
    FL_RUN(wire_field_order_of_session_messages);
    FL_RUN(lost_resend_request_is_asked_again);
    FL_RUN(next_expected_too_high_logon_without_789_gets_resend_request);
    FL_RUN(overlapping_resend_requests_are_both_served);
    FL_RUN(initiator_follows_a_reset_in_the_logon_answer_on_both_numbers);
    FL_RUN(next_expected_logon_gap_waits_before_asking_again);
    FL_RUN(in_session_reset_ignores_messages_of_the_old_sequence);
    FL_RUN(in_session_reset_forgets_the_numbers_it_ignored);
    FL_RUN(chunked_resend_request_is_not_repeated_for_each_later_message);
    FL_RUN(resend_keeps_poss_resend);
    return FL_TEST_SUMMARY();
}
