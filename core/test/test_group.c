/* fixlua — unit tests for fl_group: repeating groups over a parsed message.
 *
 * Covers nested groups (NoPartyIDs/NoPartySubIDs), a 20-entry NoMDEntries, NumInGroup that
 * disagrees with the entries present, NumInGroup 0, groups at the end of a message, the
 * message-type-dependent NoMDEntries delimiter (W vs X), and the built-in table itself.
 * '|' stands for SOH; the parser does not check BodyLength or CheckSum. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fl_group.h"
#include "fl_msg.h"
#include "fl_test.h"

static int parse_text(struct fl_msg *m, char *buf, size_t cap, const char *text)
{
    size_t n = strlen(text);
    if (n >= cap)
        return FL_EINVAL;
    memcpy(buf, text, n + 1);
    fl_test_soh(buf);
    return fl_msg_parse(m, buf, n);
}

static const char parties_text[] =
    "8=FIX.4.4|9=5|35=D|49=A|56=B|34=1|11=O2|453=2|448=TRADER1|447=D|452=11|802=2|523=DESK|"
    "803=4|523=LDN|803=25|448=FIRM|447=D|452=1|55=MSFT|54=2|38=5|40=1|10=000|";

FL_TEST(test_nested_parties)
{
    struct fl_msg m;
    char buf[512];
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, parties_text), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    const struct fl_group_def *def = fl_group_builtin(453, "D", 1);
    FL_CHECK(def != NULL);
    FL_CHECK_INT(def->count_tag, 453);
    FL_CHECK_INT(def->delim_tag, 448);

    struct fl_group g;
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK(g.msg == &m && g.def == def);
    FL_CHECK_INT(g.count_index, 7);
    FL_CHECK_INT(g.declared, 2);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(g.first, 8);
    FL_CHECK_INT(g.end, fl_msg_find(&m, 55)); /* ends at the first non-member */

    struct fl_group_entry e0, e1, e;
    FL_CHECK_INT(fl_group_next(&g, NULL, &e0), FL_OK);
    FL_CHECK_INT(e0.begin, 8);
    FL_CHECK_INT(e0.end, 16); /* 448 447 452 802 523 803 523 803 */
    FL_CHECK_INT(fl_group_next(&g, &e0, &e1), FL_OK);
    FL_CHECK_INT(e1.begin, 16);
    FL_CHECK_INT(e1.end, 19);
    FL_CHECK_INT(fl_group_next(&g, &e1, &e), FL_ENOENT);

    int i = fl_group_entry_find(&g, &e1, 448);
    FL_CHECK_INT(i, 16);
    FL_CHECK_STRN(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, "FIRM");
    i = fl_group_entry_find(&g, &e1, 452);
    FL_CHECK_STRN(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, "1");
    FL_CHECK_INT(fl_group_entry_find(&g, &e1, 802), -1);
    FL_CHECK_INT(fl_group_entry_find(&g, &e1, 55), -1);

    /* The nested group inside entry 0, and its absence in entry 1. */
    FL_CHECK_INT(def->nsubgroups, 1);
    const struct fl_group_def *sub = def->subgroups[0];
    FL_CHECK_INT(sub->count_tag, 802);
    FL_CHECK(sub == fl_group_builtin(802, NULL, 0) || sub->delim_tag == 523);
    struct fl_group sg;
    FL_CHECK_INT(fl_group_open(&sg, &m, sub, e0.begin, e0.end), FL_OK);
    FL_CHECK_INT(sg.declared, 2);
    FL_CHECK_INT(sg.found, 2);
    FL_CHECK_INT(sg.end, e0.end);
    struct fl_group_entry s0, s1;
    FL_CHECK_INT(fl_group_entry(&sg, 0, &s0), FL_OK);
    FL_CHECK_INT(fl_group_entry(&sg, 1, &s1), FL_OK);
    i = fl_group_entry_find(&sg, &s1, 523);
    FL_CHECK_STRN(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, "LDN");
    i = fl_group_entry_find(&sg, &s0, 803);
    FL_CHECK_STRN(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, "4");
    FL_CHECK_INT(fl_group_open(&sg, &m, sub, e1.begin, e1.end), FL_ENOENT);

    /* Membership includes nested members. */
    FL_CHECK(fl_group_def_has(def, 448));
    FL_CHECK(fl_group_def_has(def, 802));
    FL_CHECK(fl_group_def_has(def, 523));
    FL_CHECK(!fl_group_def_has(def, 55));
    FL_CHECK(!fl_group_def_has(sub, 448));
end:
    fl_msg_release(&m);
}

FL_TEST(test_twenty_entries_at_end)
{
    struct fl_msg m;
    char text[2048], buf[2048];
    fl_msg_init(&m);
    size_t n = (size_t)snprintf(text, sizeof text,
                                "8=FIX.4.4|9=5|35=W|49=A|56=B|34=1|262=R1|55=EUR/USD|268=20|");
    for (int k = 0; k < 20; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "269=%d|270=1.%04d|271=%d|", k % 2,
                              1000 + k, (k + 1) * 100);
    snprintf(text + n, sizeof text - n, "10=000|");
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, text), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);

    const struct fl_group_def *def = fl_group_builtin(268, "W", 1);
    FL_CHECK(def != NULL && def->delim_tag == 269);
    struct fl_group g;
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, 20);
    FL_CHECK_INT(g.found, 20);
    FL_CHECK_INT(g.end, m.nfields - 1); /* the group runs up to CheckSum(10) */

    struct fl_group_entry e, r;
    const struct fl_group_entry *prev = NULL;
    uint32_t k = 0;
    while (fl_group_next(&g, prev, &e) == FL_OK) {
        FL_CHECK_INT(e.end - e.begin, 3);
        FL_CHECK_INT(fl_group_entry(&g, k, &r), FL_OK);
        FL_CHECK(r.begin == e.begin && r.end == e.end);
        int i = fl_group_entry_find(&g, &e, 271);
        FL_CHECK(i >= 0);
        int64_t size;
        FL_CHECK_INT(fl_parse_int(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, &size), FL_OK);
        FL_CHECK_INT(size, (k + 1) * 100);
        i = fl_group_entry_find(&g, &e, 270);
        struct fl_decimal px;
        FL_CHECK_INT(fl_parse_decimal(fl_msg_value(&m, (uint32_t)i), m.fields[i].len, &px),
                     FL_OK);
        FL_CHECK_INT(px.mantissa, 11000 + k);
        k++;
        prev = &e;
    }
    FL_CHECK_INT(k, 20);
    /* Out of range. */
    FL_CHECK_INT(fl_group_entry(&g, 20, &r), FL_ERANGE);
    FL_CHECK_INT(fl_group_entry(&g, UINT32_MAX, &r), FL_ERANGE);
end:
    fl_msg_release(&m);
}

FL_TEST(test_num_in_group_disagrees)
{
    struct fl_msg m;
    char buf[512];
    struct fl_group g;
    struct fl_group_entry e;
    const struct fl_group_def *def = fl_group_builtin(453, NULL, 0);
    fl_msg_init(&m);
    FL_CHECK(def != NULL);

    /* Declares 3, carries 2. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|453=3|448=A|452=1|448=B|452=3|55=X|10=000|"),
                 FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, 3);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(fl_group_entry(&g, 2, &e), FL_ERANGE);

    /* Declares 1, carries 2. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|453=1|448=A|452=1|448=B|452=3|55=X|10=000|"),
                 FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, 1);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(fl_group_entry(&g, 1, &e), FL_OK);
    FL_CHECK_INT(e.begin, 6);

    /* NumInGroup 0: no entries, even if the next field is a member. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=D|453=0|55=X|10=000|"),
                 FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, 0);
    FL_CHECK_INT(g.found, 0);
    FL_CHECK_INT(g.first, g.end);
    FL_CHECK_INT(fl_group_next(&g, NULL, &e), FL_ENOENT);
    FL_CHECK_INT(fl_group_entry(&g, 0, &e), FL_ERANGE);

    /* Entries that do not start with the delimiter are not entries. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|453=1|447=D|448=A|55=X|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, 1);
    FL_CHECK_INT(g.found, 0);

    /* NumInGroup at the very end, with nothing after it but the trailer. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=D|453=2|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 0);
    FL_CHECK_INT(g.end, 4);
end:
    fl_msg_release(&m);
}

FL_TEST(test_open_errors_and_ranges)
{
    struct fl_msg m;
    char buf[512];
    struct fl_group g;
    const struct fl_group_def *def = fl_group_builtin(453, NULL, 0);
    fl_msg_init(&m);

    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=D|55=X|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_ENOENT);

    static const char *const bad[] = {
        "8=FIX.4.4|9=5|35=D|453=x|448=A|10=000|",
        "8=FIX.4.4|9=5|35=D|453=-1|448=A|10=000|",
        "8=FIX.4.4|9=5|35=D|453=1.0|448=A|10=000|",
        "8=FIX.4.4|9=5|35=D|453=4294967296|448=A|10=000|",
        "8=FIX.4.4|9=5|35=D|453=99999999999999999999|448=A|10=000|",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FL_CHECK_INT(parse_text(&m, buf, sizeof buf, bad[i]), FL_OK);
        FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_EFORMAT);
    }
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|453=4294967295|448=A|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.declared, UINT32_MAX);
    FL_CHECK_INT(g.found, 1);

    /* The search range: [from, to) is honoured, and `to` is clamped to the message. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, parties_text), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 8, m.nfields), FL_ENOENT);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, 7), FL_ENOENT);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 7, 8), FL_OK);
    FL_CHECK_INT(g.found, 0); /* the entries lie outside the range */
    FL_CHECK_INT(g.end, 8);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 7, 12), FL_OK);
    FL_CHECK_INT(g.found, 1);
    FL_CHECK_INT(g.end, 12);
    FL_CHECK_INT(fl_group_open(&g, &m, def, 0, UINT32_MAX), FL_OK);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(fl_group_open(&g, &m, def, UINT32_MAX, UINT32_MAX), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_md_entries_w_vs_x)
{
    struct fl_msg m;
    char buf[512];
    struct fl_group g;
    struct fl_group_entry e;
    fl_msg_init(&m);
    const struct fl_group_def *w = fl_group_builtin(268, "W", 1);
    const struct fl_group_def *x = fl_group_builtin(268, "X", 1);
    FL_CHECK(w != NULL && x != NULL && w != x);
    FL_CHECK_INT(w->delim_tag, 269);
    FL_CHECK_INT(x->delim_tag, 279);
    FL_CHECK(fl_group_builtin(268, NULL, 0) == w);
    FL_CHECK(fl_group_builtin(268, "XX", 2) == w);
    FL_CHECK(fl_group_builtin(268, "X", 0) == w);

    /* Incremental refresh: entries start with MDUpdateAction(279). */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=X|49=A|56=B|34=1|268=3|279=0|269=0|55=EUR/USD|"
                            "270=1.0850|271=1000000|279=1|269=1|55=EUR/USD|270=1.0854|271=5|"
                            "279=2|269=0|278=ID7|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, x, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 3);
    FL_CHECK_INT(g.end, m.nfields - 1);
    FL_CHECK_INT(fl_group_entry(&g, 2, &e), FL_OK);
    FL_CHECK_INT(e.end - e.begin, 3);
    FL_CHECK(fl_group_entry_find(&g, &e, 278) >= 0);
    /* Read with the snapshot's definition, the same fields are no group at all. */
    FL_CHECK_INT(fl_group_open(&g, &m, w, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 0);

    /* Snapshot: entries start with MDEntryType(269); 279 is not a member. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=W|49=A|56=B|34=1|55=EUR/USD|268=2|269=0|"
                            "270=1.0850|271=1000000|269=1|270=1.0854|271=5|10=000|"), FL_OK);
    FL_CHECK_INT(fl_group_open(&g, &m, w, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(fl_group_open(&g, &m, x, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 0);
end:
    fl_msg_release(&m);
}

FL_TEST(test_builtin_table)
{
    static const uint32_t counts[] = {384, 627, 453, 802, 539, 804, 454, 555, 711,
                                      78,  136, 382, 1362, 768, 957, 232, 864, 267, 146, 268};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        for (int x = 0; x < 2; x++) {
            const struct fl_group_def *d = fl_group_builtin(counts[i], x ? "X" : "D", 1);
            FL_CHECK(d != NULL);
            FL_CHECK_INT(d->count_tag, counts[i]);
            FL_CHECK(d->nmembers > 0 && d->members != NULL);
            /* The delimiter is the first member. */
            FL_CHECK_INT(d->members[0], d->delim_tag);
            FL_CHECK(!fl_group_def_has(d, d->count_tag));
            /* Nested groups hang off a member count tag. */
            for (uint32_t s = 0; s < d->nsubgroups; s++) {
                FL_CHECK(d->subgroups[s] != NULL);
                int listed = 0;
                for (uint32_t k = 0; k < d->nmembers; k++)
                    listed |= d->members[k] == d->subgroups[s]->count_tag;
                FL_CHECK(listed);
                FL_CHECK_INT(d->subgroups[s]->members[0], d->subgroups[s]->delim_tag);
            }
        }
    }
    FL_CHECK(fl_group_builtin(0, NULL, 0) == NULL);
    FL_CHECK(fl_group_builtin(55, "D", 1) == NULL);
    FL_CHECK(fl_group_builtin(99999, NULL, 0) == NULL);
end:;
}

FL_TEST(test_legs_with_nested_parties)
{
    struct fl_msg m;
    char buf[512];
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=AB|11=ML1|555=2|600=IBM|624=1|539=2|524=P1|525=D|"
                            "538=1|524=P2|525=D|538=3|600=MSFT|624=2|54=1|38=1|10=000|"), FL_OK);
    const struct fl_group_def *legs = fl_group_builtin(555, "AB", 2);
    struct fl_group g, ng;
    struct fl_group_entry e0, e1;
    FL_CHECK_INT(fl_group_open(&g, &m, legs, 0, m.nfields), FL_OK);
    FL_CHECK_INT(g.found, 2);
    FL_CHECK_INT(fl_group_entry(&g, 0, &e0), FL_OK);
    FL_CHECK_INT(fl_group_entry(&g, 1, &e1), FL_OK);
    FL_CHECK_INT(e0.end - e0.begin, 9);
    FL_CHECK_INT(e1.end - e1.begin, 2);
    FL_CHECK_INT(legs->nsubgroups, 1);
    FL_CHECK_INT(fl_group_open(&ng, &m, legs->subgroups[0], e0.begin, e0.end), FL_OK);
    FL_CHECK_INT(ng.found, 2);
    FL_CHECK_INT(ng.declared, 2);
    /* 54 is not a leg member: the group stops there. */
    FL_CHECK_INT(g.end, fl_msg_find(&m, 54));
end:
    fl_msg_release(&m);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(test_nested_parties);
    FL_RUN(test_twenty_entries_at_end);
    FL_RUN(test_num_in_group_disagrees);
    FL_RUN(test_open_errors_and_ranges);
    FL_RUN(test_md_entries_w_vs_x);
    FL_RUN(test_builtin_table);
    FL_RUN(test_legs_with_nested_parties);
    return FL_TEST_SUMMARY();
}
