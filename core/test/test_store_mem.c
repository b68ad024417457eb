/* fixlua — tests of the memory store (fl_store_mem.c) through the fl_store.h interface.
 *
 * Each test names the behaviour it proves: sequence numbers after a commit, explicit overrides,
 * iteration over ranges with gaps, the newest copy of a seq stored twice, atomic refusal of bad
 * batches, and reset. Depends on fl_store.h and fl_test.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fl_store.h"
#include "fl_test.h"
#include "store_harness.h"

#define T0 1700000000000000000LL    /* 2023-11-14 22:13:20 UTC, in ns */

FL_TEST(new_store_starts_at_one_one_with_its_creation_time)
{
    struct fl_store *s = NULL;

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 1);
    FL_CHECK_INT(fl_store_next_target(s), 1);
    FL_CHECK(fl_store_creation_time(s) == T0);
    FL_CHECK(strcmp(s->ops->name, "memory") == 0);
    FL_CHECK(iter_matches(s, 1, 0, NULL, 0));
    FL_CHECK_INT(fl_store_flush(s), FL_OK);
end:
    fl_store_close(s);
}

FL_TEST(commit_derives_next_sender_from_last_message_and_sets_next_target)
{
    struct fl_store *s = NULL;
    const struct want m[] = {{1, "one"}, {2, "two"}, {3, "three"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, m, 3), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    /* A batch with only next_target leaves next_sender alone, and the reverse. */
    FL_CHECK_INT(commit_msgs(s, 7, 0, NULL, 0), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 7);
    FL_CHECK_INT(commit_msgs(s, 0, 0, NULL, 0), FL_OK);   // all zero: nothing changes
    FL_CHECK_INT(fl_store_next_sender(s), 4);
    FL_CHECK_INT(fl_store_next_target(s), 7);
    FL_CHECK(iter_matches(s, 1, 0, m, 3));
end:
    fl_store_close(s);
}

FL_TEST(explicit_next_sender_wins_over_derived_and_makes_a_gap)
{
    struct fl_store *s = NULL;
    const struct want a[] = {{1, "a1"}, {2, "a2"}};
    const struct want b[] = {{10, "b10"}, {11, "b11"}};
    const struct want all[] = {{1, "a1"}, {2, "a2"}, {10, "b10"}, {11, "b11"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 10, a, 2), FL_OK);  // e.g. a SequenceReset sent after them
    FL_CHECK_INT(fl_store_next_sender(s), 10);
    FL_CHECK_INT(fl_store_next_target(s), 1);
    FL_CHECK_INT(commit_msgs(s, 5, 0, b, 2), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 12);
    FL_CHECK_INT(fl_store_next_target(s), 5);
    FL_CHECK(iter_matches(s, 1, 0, all, 4));            // gap 3..9 skipped
    FL_CHECK(iter_matches(s, 3, 9, NULL, 0));           // only the gap: nothing
    FL_CHECK(iter_matches(s, 2, 10, all + 1, 2));       // inclusive bounds
    FL_CHECK(iter_matches(s, 11, 0, all + 3, 1));       // end 0: to the last
    FL_CHECK(iter_matches(s, 0, 1, all, 1));            // begin 0 behaves as 1
    FL_CHECK(iter_matches(s, 12, 0, NULL, 0));          // past the last
    FL_CHECK(iter_matches(s, 5, 3, NULL, 0));           // empty range
end:
    fl_store_close(s);
}

FL_TEST(seq_stored_again_returns_the_newest_copy)
{
    struct fl_store *s = NULL;
    const struct want a[] = {{1, "old1"}, {2, "old2"}, {3, "old3"}};
    const struct want b[] = {{2, "new2"}};
    const struct want c[] = {{1, "new1"}, {3, "new3"}, {4, "new4"}};
    const struct want after_b[] = {{1, "old1"}, {2, "new2"}, {3, "old3"}};
    const struct want after_c[] = {{1, "new1"}, {2, "new2"}, {3, "new3"}, {4, "new4"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, a, 3), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, b, 1), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 3);   // derived from the batch, even when lower
    FL_CHECK(iter_matches(s, 1, 0, after_b, 3));
    FL_CHECK_INT(commit_msgs(s, 0, 0, c, 3), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 5);
    FL_CHECK(iter_matches(s, 1, 0, after_c, 4));
end:
    fl_store_close(s);
}

FL_TEST(seq_lower_than_every_stored_one_is_inserted_in_order)
{
    struct fl_store *s = NULL;
    const struct want a[] = {{100, "c"}, {200, "d"}};
    const struct want b[] = {{5, "a"}, {50, "b"}, {150, "x"}};
    const struct want all[] = {{5, "a"}, {50, "b"}, {100, "c"}, {150, "x"}, {200, "d"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, a, 2), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, b, 3), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, all, 5));
    FL_CHECK(iter_matches(s, 50, 150, all + 1, 3));
end:
    fl_store_close(s);
}

FL_TEST(bad_batch_is_refused_whole_and_changes_nothing)
{
    struct fl_store *s = NULL;
    const struct want ok[] = {{1, "one"}};
    const struct want zero[] = {{2, "two"}, {0, "zero"}};
    const struct want desc[] = {{3, "three"}, {2, "two"}};
    const struct want dup[] = {{4, "four"}, {4, "four"}};
    struct fl_store_msg nodata = {5, NULL, 3};
    struct fl_store_batch b = {9, 0, &nodata, 1};
    struct fl_store_batch nomsgs = {9, 0, NULL, 2};
    struct fl_store_msg top = {UINT64_MAX, "x", 1};
    struct fl_store_batch btop = {9, 0, &top, 1};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 2, 0, ok, 1), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 9, 0, zero, 2), FL_EINVAL);
    FL_CHECK(s->last_error[0] != '\0');
    FL_CHECK_INT(commit_msgs(s, 9, 0, desc, 2), FL_EINVAL);
    FL_CHECK_INT(commit_msgs(s, 9, 0, dup, 2), FL_EINVAL);
    FL_CHECK_INT(fl_store_commit(s, &b), FL_EINVAL);
    FL_CHECK_INT(fl_store_commit(s, &nomsgs), FL_EINVAL);
    FL_CHECK_INT(fl_store_commit(s, &btop), FL_EINVAL);
    FL_CHECK_INT(fl_store_commit(s, NULL), FL_EINVAL);
    FL_CHECK_INT(fl_store_next_sender(s), 2);
    FL_CHECK_INT(fl_store_next_target(s), 2);
    FL_CHECK(iter_matches(s, 1, 0, ok, 1));
end:
    fl_store_close(s);
}

FL_TEST(messages_are_byte_exact_including_nul_and_soh)
{
    struct fl_store *s = NULL;
    struct fl_store_iter *it = NULL;
    static char big[70000];
    char bin[256];
    struct fl_store_msg m[3];
    struct fl_store_batch b = {0, 0, m, 3};
    uint64_t seq;
    const char *d;
    size_t len;

    for (int i = 0; i < 256; i++)
        bin[i] = (char)i;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 31 + 7);
    m[0] = (struct fl_store_msg){1, bin, sizeof(bin)};
    m[1] = (struct fl_store_msg){2, NULL, 0};   // an empty message is stored and returned
    m[2] = (struct fl_store_msg){3, big, sizeof(big)};
    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(fl_store_commit(s, &b), FL_OK);
    FL_CHECK_INT(fl_store_iter_open(s, 1, 0, &it), FL_OK);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK(seq == 1 && len == sizeof(bin) && memcmp(d, bin, len) == 0);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK(seq == 2 && len == 0);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK(seq == 3 && len == sizeof(big) && memcmp(d, big, len) == 0);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_ENOENT);
    FL_CHECK_INT(fl_store_mem_new(T0, NULL), FL_EINVAL);
end:
    fl_store_iter_close(it);
    fl_store_close(s);
}

FL_TEST(iterator_keeps_its_place_across_commits_and_its_bytes_stay_valid)
{
    struct fl_store *s = NULL;

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    /* 2000 messages: enough commits to move the arena under the iterator. */
    FL_CHECK(iterator_survives_commits(s, 2000));
end:
    fl_store_close(s);
}

FL_TEST(iterator_sees_seqs_inserted_ahead_of_it_and_not_those_behind)
{
    struct fl_store *s = NULL;
    struct fl_store_iter *it = NULL;
    const struct want a[] = {{10, "m10"}, {20, "m20"}, {30, "m30"}};
    const struct want b[] = {{5, "m5"}, {15, "m15"}};
    uint64_t seq;
    const char *d;
    size_t len;

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, a, 3), FL_OK);
    FL_CHECK_INT(fl_store_iter_open(s, 1, 0, &it), FL_OK);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK_INT(seq, 10);
    FL_CHECK_INT(commit_msgs(s, 0, 0, b, 2), FL_OK);  // both insert below the iterator's place
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK_INT(seq, 15);
    FL_CHECK_STRN(d, len, "m15");
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK_INT(seq, 20);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_OK);
    FL_CHECK_INT(seq, 30);
    FL_CHECK_INT(fl_store_iter_next(it, &seq, &d, &len), FL_ENOENT);
end:
    fl_store_iter_close(it);
    fl_store_close(s);
}

FL_TEST(reset_empties_the_store_and_starts_at_one_one_with_new_creation_time)
{
    struct fl_store *s = NULL;
    const struct want a[] = {{1, "a"}, {2, "b"}};
    const struct want c[] = {{1, "fresh"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 8, 0, a, 2), FL_OK);
    FL_CHECK_INT(fl_store_reset(s, T0 + 86400000000000LL), FL_OK);
    FL_CHECK_INT(fl_store_next_sender(s), 1);
    FL_CHECK_INT(fl_store_next_target(s), 1);
    FL_CHECK(fl_store_creation_time(s) == T0 + 86400000000000LL);
    FL_CHECK(iter_matches(s, 1, 0, NULL, 0));
    FL_CHECK_INT(commit_msgs(s, 2, 0, c, 1), FL_OK);
    FL_CHECK(iter_matches(s, 1, 0, c, 1));
    FL_CHECK_INT(fl_store_next_sender(s), 2);
end:
    fl_store_close(s);
}

FL_TEST(huge_seq_jump_costs_nothing_per_skipped_number)
{
    struct fl_store *s = NULL;
    const struct want all[] = {{1, "a"}, {(uint64_t)1 << 40, "far"}, {UINT64_MAX - 1, "top"}};

    FL_CHECK_INT(fl_store_mem_new(T0, &s), FL_OK);
    FL_CHECK_INT(commit_msgs(s, 0, 0, all, 3), FL_OK);
    FL_CHECK(fl_store_next_sender(s) == UINT64_MAX);
    FL_CHECK(iter_matches(s, 1, 0, all, 3));
    FL_CHECK(iter_matches(s, 2, 0, all + 1, 2));
end:
    fl_store_close(s);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(new_store_starts_at_one_one_with_its_creation_time);
    FL_RUN(commit_derives_next_sender_from_last_message_and_sets_next_target);
    FL_RUN(explicit_next_sender_wins_over_derived_and_makes_a_gap);
    FL_RUN(seq_stored_again_returns_the_newest_copy);
    FL_RUN(seq_lower_than_every_stored_one_is_inserted_in_order);
    FL_RUN(bad_batch_is_refused_whole_and_changes_nothing);
    FL_RUN(messages_are_byte_exact_including_nul_and_soh);
    FL_RUN(iterator_keeps_its_place_across_commits_and_its_bytes_stay_valid);
    FL_RUN(iterator_sees_seqs_inserted_ahead_of_it_and_not_those_behind);
    FL_RUN(reset_empties_the_store_and_starts_at_one_one_with_new_creation_time);
    FL_RUN(huge_seq_jump_costs_nothing_per_skipped_number);
    return FL_TEST_SUMMARY();
}
