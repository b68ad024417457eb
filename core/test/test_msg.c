/* fixlua — unit tests for fl_msg: parsing into a field index, problems, typed getters and the
 * value parsers.
 *
 * Messages are written with '|' for SOH. The parser does not check BodyLength or CheckSum
 * (fl_frame does), so most messages here carry placeholder values for them. Expected times
 * were computed independently (Python calendar.timegm). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_msg.h"
#include "fl_tags.h"
#include "fl_test.h"

#define SOH '\001'
#define NS INT64_C(1000000000)

/* Copies `text` into buf with '|' turned into SOH and parses it into m. */
static int parse_text(struct fl_msg *m, char *buf, size_t cap, const char *text, size_t *len)
{
    size_t n = strlen(text);
    if (n >= cap)
        return FL_EINVAL;
    memcpy(buf, text, n + 1);
    fl_test_soh(buf);
    if (len)
        *len = n;
    return fl_msg_parse(m, buf, n);
}

static const char nos_text[] =
    "8=FIX.4.4|9=178|35=D|49=CLIENT|56=EXEC|34=8|52=20240315-13:45:07.123|1=ACC1|11=ORD-0001|"
    "21=1|38=100|40=2|44=101.25|54=1|55=IBM|59=0|60=20240315-13:45:07.123456|100=XNYS|"
    "207=XNYS|10=123|";

FL_TEST(test_parse_index)
{
    struct fl_msg m;
    char buf[512];
    size_t n;
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, nos_text, &n), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(m.problem_tag, 0);
    FL_CHECK(m.buf == buf && m.len == n);
    static const uint32_t tags[] = {8, 9, 35, 49, 56, 34, 52, 1, 11, 21, 38, 40,
                                    44, 54, 55, 59, 60, 100, 207, 10};
    FL_CHECK_INT(m.nfields, sizeof tags / sizeof tags[0]);
    for (uint32_t i = 0; i < m.nfields; i++)
        FL_CHECK_INT(m.fields[i].tag, tags[i]);
    FL_CHECK_STRN(fl_msg_value(&m, 0), m.fields[0].len, "FIX.4.4");
    FL_CHECK_STRN(fl_msg_value(&m, 8), m.fields[8].len, "ORD-0001");
    FL_CHECK_STRN(fl_msg_value(&m, 19), m.fields[19].len, "123");
    FL_CHECK_INT(m.body_begin, 7);     /* 1=ACC1 */
    FL_CHECK_INT(m.trailer_begin, 19); /* 10= */
    /* Header slots. */
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_BEGIN_STRING), 0);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_BODY_LENGTH), 1);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_MSG_TYPE), 2);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_SENDER_COMP_ID), 3);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_TARGET_COMP_ID), 4);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_MSG_SEQ_NUM), 5);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_SENDING_TIME), 6);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_CHECKSUM), 19);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_POSS_DUP_FLAG), -1);
    FL_CHECK_INT(fl_msg_hdr(&m, FL_HDR_APPL_VER_ID), -1);
    /* Lookups. */
    FL_CHECK_INT(fl_msg_find(&m, 55), 14);
    FL_CHECK_INT(fl_msg_find(&m, 34), 5);
    FL_CHECK_INT(fl_msg_find(&m, 43), -1);
    FL_CHECK_INT(fl_msg_find(&m, 9999), -1);
    FL_CHECK_INT(fl_msg_find_from(&m, 55, 14), 14);
    FL_CHECK_INT(fl_msg_find_from(&m, 55, 15), -1);
    FL_CHECK_INT(fl_msg_find_from(&m, 55, 500), -1);
    FL_CHECK_INT(fl_msg_count(&m, 55), 1);
    FL_CHECK_INT(fl_msg_count(&m, 58), 0);
end:
    fl_msg_release(&m);
}

FL_TEST(test_parse_repeated_and_empty)
{
    struct fl_msg m;
    char buf[512];
    fl_msg_init(&m);
    /* Repeated body tags are kept in order (groups need them). */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=8|58=a|58=b|58=c|10=000|", NULL), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(fl_msg_count(&m, 58), 3);
    FL_CHECK_INT(fl_msg_find(&m, 58), 3);
    FL_CHECK_INT(fl_msg_find_from(&m, 58, 4), 4);
    FL_CHECK_INT(fl_msg_find_from(&m, 58, 5), 5);
    FL_CHECK_STRN(fl_msg_value(&m, 5), m.fields[5].len, "c");
    /* Empty message. */
    FL_CHECK_INT(fl_msg_parse(&m, buf, 0), FL_OK);
    FL_CHECK_INT(m.nfields, 0);
    FL_CHECK_INT(m.problem, FL_PARSE_NOT_FRAMED);
    FL_CHECK_INT(fl_msg_find(&m, 8), -1);
end:
    fl_msg_release(&m);
}

struct problem_case {
    const char *text;
    enum fl_parse_problem problem;
    uint32_t tag;
};

FL_TEST(test_parse_problems)
{
    static const struct problem_case cases[] = {
        /* tag without '=' */
        {"8=FIX.4.4|9=5|35=0|49A|56=B|10=000|", FL_PARSE_NO_EQUALS, 0},
        /* non-numeric tag, tag 0, negative tag, leading '+', 10-digit tag, empty tag */
        {"8=FIX.4.4|9=5|35=0|4x9=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|0=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|000=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|-49=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|+49=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|1234567890=A|10=000|", FL_PARSE_BAD_TAG, 0},
        {"8=FIX.4.4|9=5|35=0|=A|56=B|10=000|", FL_PARSE_BAD_TAG, 0},
        /* empty value */
        {"8=FIX.4.4|9=5|35=0|49=|56=B|10=000|", FL_PARSE_EMPTY_VALUE, 49},
        {"8=FIX.4.4|9=5|35=D|49=A|56=B|58=|10=000|", FL_PARSE_EMPTY_VALUE, 58},
        /* duplicated header tags */
        {"8=FIX.4.4|9=5|35=0|49=A|56=B|34=1|34=2|10=000|", FL_PARSE_REPEATED_TAG, 34},
        {"8=FIX.4.4|9=5|35=0|49=A|49=A|56=B|10=000|", FL_PARSE_REPEATED_TAG, 49},
        {"8=FIX.4.4|9=5|35=0|35=0|49=A|10=000|", FL_PARSE_REPEATED_TAG, 35},
        {"8=FIX.4.4|9=5|35=0|49=A|52=20240101-00:00:00|52=20240101-00:00:00|10=000|",
         FL_PARSE_REPEATED_TAG, 52},
        /* header field after a body field */
        {"8=FIX.4.4|9=5|35=D|49=A|55=IBM|56=B|10=000|", FL_PARSE_HEADER_ORDER, 56},
        {"8=FIX.4.4|9=5|35=D|49=A|56=B|55=IBM|43=Y|10=000|", FL_PARSE_HEADER_ORDER, 43},
        {"8=FIX.4.4|9=5|35=D|55=IBM|1128=9|10=000|", FL_PARSE_HEADER_ORDER, 1128},
        /* trailer field not last */
        {"8=FIX.4.4|9=5|35=D|49=A|10=000|55=IBM|", FL_PARSE_HEADER_ORDER, 55},
        {"8=FIX.4.4|9=5|35=D|49=A|93=3|89=abc|58=x|10=000|", FL_PARSE_HEADER_ORDER, 58},
        {"8=FIX.4.4|9=5|35=D|49=A|10=000|49=B|10=000|", FL_PARSE_HEADER_ORDER, 49},
        /* CheckSum repeated */
        {"8=FIX.4.4|9=5|35=D|49=A|10=000|10=000|", FL_PARSE_REPEATED_TAG, 10},
        /* not framed: 8/9/35 not first, 10 missing, SOH missing at the end */
        {"9=5|8=FIX.4.4|35=D|10=000|", FL_PARSE_NOT_FRAMED, 0},
        {"8=FIX.4.4|35=D|9=5|49=A|10=000|", FL_PARSE_NOT_FRAMED, 0},
        {"8=FIX.4.4|9=5|35=D|49=A|", FL_PARSE_NOT_FRAMED, 0},
        {"8=FIX.4.4|9=5|35=D|49=A|10=000", FL_PARSE_NOT_FRAMED, 0},
        {"8=FIX.4.4|9=5|35=D|", FL_PARSE_NOT_FRAMED, 0},
        /* the first problem wins */
        {"8=FIX.4.4|9=5|35=D|49=|34=1|34=1|x=1|10=000|", FL_PARSE_EMPTY_VALUE, 49},
        {"8=FIX.4.4|9=5|35=D|34=1|34=1|49=|10=000|", FL_PARSE_REPEATED_TAG, 34},
    };
    struct fl_msg m;
    char buf[512];
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FL_CHECK_INT(parse_text(&m, buf, sizeof buf, cases[i].text, NULL), FL_OK);
        if (m.problem != cases[i].problem || m.problem_tag != cases[i].tag)
            fprintf(stderr, "  case %zu \"%s\": problem %d tag %u\n", i, cases[i].text,
                    (int)m.problem, (unsigned)m.problem_tag);
        FL_CHECK_INT(m.problem, cases[i].problem);
        FL_CHECK_INT(m.problem_tag, cases[i].tag);
        FL_CHECK(m.body_begin <= m.nfields && m.trailer_begin <= m.nfields);
    }
    /* A bad field is skipped; the rest is still indexed for the Reject. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=0|49A|56=B|34=7|10=000|",
                            NULL), FL_OK);
    FL_CHECK_INT(m.nfields, 6);
    FL_CHECK_INT(fl_msg_find(&m, 56), 3);
    int64_t seq;
    FL_CHECK_INT(fl_msg_get_int(&m, 34, &seq), FL_OK);
    FL_CHECK_INT(seq, 7);
    /* Leading zeros in a tag are the same tag. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=0|049=A|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(m.fields[3].tag, 49);
end:
    fl_msg_release(&m);
}

/* The parser reads most fields through a 16-byte window and the last ones byte by byte: the
 * same field must read the same wherever it sits. Each case is placed 0..20 short fields
 * before the end of the message. */
FL_TEST(test_fields_near_and_far_from_the_end)
{
    static const struct {
        const char *field;
        uint32_t tag;
        const char *value;
        enum fl_parse_problem problem;
    } cases[] = {
        {"58=x", 58, "x", FL_PARSE_OK},
        {"12345678=a", 12345678, "a", FL_PARSE_OK},
        {"123456789=b", 123456789, "b", FL_PARSE_OK},
        {"0049=c", 49, "c", FL_PARSE_HEADER_ORDER}, /* 49 is a header tag, after the body */
        {"0058=c", 58, "c", FL_PARSE_OK},
        {"58=x=y=z", 58, "x=y=z", FL_PARSE_OK},
        {"58=0123456789abcd", 58, "0123456789abcd", FL_PARSE_OK},
        {"58=0123456789abcdefghijklmnopqrstuvwxyz", 58, "0123456789abcdefghijklmnopqrstuvwxyz",
         FL_PARSE_OK},
        {"1234567890=d", 0, NULL, FL_PARSE_BAD_TAG},
        {"0=e", 0, NULL, FL_PARSE_BAD_TAG},
        {"5a8=f", 0, NULL, FL_PARSE_BAD_TAG},
        {"=g", 0, NULL, FL_PARSE_BAD_TAG},
        {"58h", 0, NULL, FL_PARSE_NO_EQUALS},
        {"58=", 58, "", FL_PARSE_EMPTY_VALUE},
    };
    struct fl_msg m;
    char text[512], buf[512];
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k <= 20; k++) {
            int n = snprintf(text, sizeof text, "8=FIX.4.4|9=5|35=0|55=IBM|%s|", cases[i].field);
            for (int j = 0; j < k; j++)
                n += snprintf(text + n, sizeof text - (size_t)n, "1=a|");
            snprintf(text + n, sizeof text - (size_t)n, "10=000|");
            FL_CHECK_INT(parse_text(&m, buf, sizeof buf, text, NULL), FL_OK);
            if (m.problem != cases[i].problem)
                fprintf(stderr, "  \"%s\" with %d after: problem %d\n", cases[i].field, k,
                        (int)m.problem);
            FL_CHECK_INT(m.problem, cases[i].problem);
            if (cases[i].value) {
                FL_CHECK_INT(m.nfields, 6 + k);
                FL_CHECK_INT(m.fields[4].tag, cases[i].tag);
                FL_CHECK_STRN(fl_msg_value(&m, 4), m.fields[4].len, cases[i].value);
            } else {
                FL_CHECK_INT(m.nfields, 5 + k); /* the bad field is left out */
            }
            FL_CHECK_INT(m.fields[m.nfields - 1].tag, 10);
            FL_CHECK_INT(m.body_begin, 3);
            FL_CHECK_INT(m.trailer_begin, m.nfields - 1);
        }
    }
end:
    fl_msg_release(&m);
}

FL_TEST(test_problem_texts_and_reasons)
{
    for (int p = 0; p < FL_PARSE__COUNT; p++) {
        const char *t = fl_parse_problem_text((enum fl_parse_problem)p);
        FL_CHECK(t != NULL && t[0] != '\0');
    }
    FL_CHECK(strcmp(fl_parse_problem_text(FL_PARSE__COUNT), "unknown") == 0);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_BAD_TAG), FL_REJECT_INVALID_TAG_NUMBER);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_NO_EQUALS),
                 FL_REJECT_INVALID_TAG_NUMBER);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_EMPTY_VALUE),
                 FL_REJECT_TAG_WITHOUT_VALUE);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_REPEATED_TAG),
                 FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_HEADER_ORDER),
                 FL_REJECT_TAG_OUT_OF_ORDER);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_BAD_DATA_LENGTH),
                 FL_REJECT_INCORRECT_DATA_FORMAT);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_TOO_MANY_FIELDS), FL_REJECT_OTHER);
    FL_CHECK_INT(fl_parse_problem_reject_reason(FL_PARSE_NOT_FRAMED), FL_REJECT_OTHER);
end:;
}

FL_TEST(test_data_fields)
{
    struct fl_msg m;
    char buf[512];
    const char *p;
    size_t n;
    fl_msg_init(&m);

    /* RawData with SOH, '=' and a fake trailer inside. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=A|49=A|56=B|98=0|108=30|95=13|96=a|b=c|10=000|"
                            "|141=Y|10=000|", NULL), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(m.nfields, 11);
    FL_CHECK_INT(fl_msg_get_data(&m, 96, &p, &n), FL_OK);
    FL_CHECK_INT(n, 13);
    FL_CHECK(memcmp(p, "a\001b=c\00110=000\001", 13) == 0);
    FL_CHECK_INT(m.fields[9].tag, 141);
    FL_CHECK_INT(fl_msg_count(&m, 10), 1);

    /* XmlData in the header, before the body. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=0|49=A|56=B|212=8|213=<a>|</a>|34=1|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(fl_msg_get_data(&m, 213, &p, &n), FL_OK);
    FL_CHECK_INT(n, 8);
    FL_CHECK(memcmp(p, "<a>\001</a>\001", 8) == 0);
    FL_CHECK_INT(m.body_begin, m.trailer_begin); /* no body fields */

    /* Empty data announced as empty. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=0|95=0|96=|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_EMPTY_VALUE);
    FL_CHECK_INT(m.problem_tag, 96);

    /* Wrong data lengths. */
    static const struct problem_case bad[] = {
        /* too short: the data field does not end where announced */
        {"8=FIX.4.4|9=5|35=A|95=3|96=a|bcd|10=000|", FL_PARSE_BAD_DATA_LENGTH, 96},
        /* too long: runs past the message */
        {"8=FIX.4.4|9=5|35=A|95=40|96=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 96},
        /* too long by one: lands on a non-SOH */
        {"8=FIX.4.4|9=5|35=A|95=4|96=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 96},
        /* not a number, negative, too long a number, empty */
        {"8=FIX.4.4|9=5|35=A|95=x|96=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 95},
        {"8=FIX.4.4|9=5|35=A|95=-3|96=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 95},
        {"8=FIX.4.4|9=5|35=A|95=0000000003|96=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 95},
        /* length not followed by its data field */
        {"8=FIX.4.4|9=5|35=A|95=3|58=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 96},
        {"8=FIX.4.4|9=5|35=0|212=3|34=1|213=abc|10=000|", FL_PARSE_BAD_DATA_LENGTH, 213},
        /* length field last */
        {"8=FIX.4.4|9=5|35=A|10=000|95=3|", FL_PARSE_HEADER_ORDER, 95},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FL_CHECK_INT(parse_text(&m, buf, sizeof buf, bad[i].text, NULL), FL_OK);
        if (m.problem != bad[i].problem || m.problem_tag != bad[i].tag)
            fprintf(stderr, "  case %zu: problem %d tag %u\n", i, (int)m.problem,
                    (unsigned)m.problem_tag);
        FL_CHECK_INT(m.problem, bad[i].problem);
        FL_CHECK_INT(m.problem_tag, bad[i].tag);
    }
    /* The announced length wins over a SOH it covers; leading zeros in the length are fine. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=A|95=003|96=||||10=000|",
                            NULL), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(fl_msg_get_data(&m, 96, &p, &n), FL_OK);
    FL_CHECK_INT(n, 3);
    /* Length field at the very end of the bytes. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=A|95=3|", NULL), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_BAD_DATA_LENGTH);
    /* Data pairs beyond 95/96 and 212/213. */
    FL_CHECK_INT(fl_data_tag_for_length(95), 96);
    FL_CHECK_INT(fl_data_tag_for_length(212), 213);
    FL_CHECK_INT(fl_data_tag_for_length(93), 89);
    FL_CHECK_INT(fl_data_tag_for_length(90), 91);
    FL_CHECK_INT(fl_data_tag_for_length(354), 355);
    FL_CHECK_INT(fl_data_tag_for_length(1525), 1527); /* EncodedDocumentationText */
    FL_CHECK_INT(fl_data_tag_for_length(1578), 1579); /* EncodedEventText */
    FL_CHECK_INT(fl_data_tag_for_length(1401), 1402); /* EncryptedPassword (FIXT Logon) */
    FL_CHECK_INT(fl_data_tag_for_length(2372), 2371); /* a data field numbered below its length */
    FL_CHECK_INT(fl_data_tag_for_length(41873), 41874);
    FL_CHECK_INT(fl_data_tag_for_length(43111), 42982);
    FL_CHECK_INT(fl_data_tag_for_length(96), 0);
    FL_CHECK_INT(fl_data_tag_for_length(0), 0);
    FL_CHECK_INT(fl_data_tag_for_length(58), 0);
    FL_CHECK_INT(fl_data_tag_for_length(99999), 0);
    /* The FIXT.1.1 Logon's encrypted password may hold a SOH; so may a data field of FIX 5.0
     * SP2 with a five-digit tag; and 1525 announces 1527, not 1526. */
    static const struct {
        const char *text;
        uint32_t tag;
        const char *data;
        size_t n;
    } pairs[] = {
        {"8=FIXT.1.1|9=5|35=A|34=1|98=0|108=30|1137=9|1401=5|1402=ab|cd|10=000|", 1402, "ab\001cd", 5},
        {"8=FIXT.1.1|9=5|35=8|34=2|40004=3|40005=a|b|55=X|10=000|", 40005, "a\001b", 3},
        {"8=FIXT.1.1|9=5|35=8|34=2|1525=3|1527=a|b|55=X|10=000|", 1527, "a\001b", 3},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        FL_CHECK_INT(parse_text(&m, buf, sizeof buf, pairs[i].text, NULL), FL_OK);
        FL_CHECK_INT(m.problem, FL_PARSE_OK);
        FL_CHECK_INT(fl_msg_get_data(&m, pairs[i].tag, &p, &n), FL_OK);
        FL_CHECK(n == pairs[i].n && memcmp(p, pairs[i].data, n) == 0);
    }
    /* A five-digit length field without its data field is noted like any other. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIXT.1.1|9=5|35=8|40004=3|58=abc|10=000|",
                            NULL), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_BAD_DATA_LENGTH);
    FL_CHECK_INT(m.problem_tag, 40005);
end:
    fl_msg_release(&m);
}

FL_TEST(test_tag_section)
{
    static const uint32_t header[] = {8, 9, 35, 34, 43, 49, 50, 52, 56, 57, 90, 91, 97, 115, 116,
                                      122, 128, 129, 142, 143, 144, 145, 212, 213, 347, 369, 370,
                                      627, 628, 629, 630, 1128, 1129, 1156};
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++)
        FL_CHECK_INT(fl_tag_section(header[i]), 1);
    FL_CHECK_INT(fl_tag_section(10), 2);
    FL_CHECK_INT(fl_tag_section(89), 2);
    FL_CHECK_INT(fl_tag_section(93), 2);
    static const uint32_t body[] = {0, 1, 11, 55, 58, 63, 64, 95, 96, 98, 108, 1137, 99999};
    for (size_t i = 0; i < sizeof body / sizeof body[0]; i++)
        FL_CHECK_INT(fl_tag_section(body[i]), 0);
end:;
}

FL_TEST(test_max_fields_and_reuse)
{
    struct fl_msg m, small;
    char buf[4096];
    fl_msg_init(&m);
    fl_msg_init(&small);
    /* 200 body fields: grows past the initial capacity. */
    size_t n = (size_t)snprintf(buf, sizeof buf, "8=FIX.4.4|9=5|35=8|");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "58=%d|", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "10=000|");
    fl_test_soh(buf);
    FL_CHECK_INT(fl_msg_parse(&m, buf, n), FL_OK);
    FL_CHECK_INT(m.nfields, 204);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    uint32_t cap = m.cap;
    FL_CHECK(cap >= 204);

    /* A limit below the capacity already held is still enforced. */
    m.max_fields = 50;
    FL_CHECK_INT(fl_msg_parse(&m, buf, n), FL_ELIMIT);
    FL_CHECK_INT(m.problem, FL_PARSE_TOO_MANY_FIELDS);
    FL_CHECK_INT(m.nfields, 50);
    FL_CHECK(m.body_begin <= m.nfields && m.trailer_begin <= m.nfields);
    /* And on a fresh message, at growth. */
    small.max_fields = 100;
    FL_CHECK_INT(fl_msg_parse(&small, buf, n), FL_ELIMIT);
    FL_CHECK_INT(small.nfields, 100);
    FL_CHECK(small.cap <= 100);
    small.max_fields = 204;
    FL_CHECK_INT(fl_msg_parse(&small, buf, n), FL_OK);

    /* Reusing one message for 10 000 parses does not grow it. */
    m.max_fields = 0;
    char one[512];
    size_t on = strlen(nos_text);
    memcpy(one, nos_text, on + 1);
    fl_test_soh(one);
    FL_CHECK_INT(fl_msg_parse(&m, one, on), FL_OK);
    cap = m.cap;
    struct fl_field *fields = m.fields;
    for (int i = 0; i < 10000; i++) {
        FL_CHECK_INT(fl_msg_parse(&m, one, on), FL_OK);
        FL_CHECK_INT(m.problem, FL_PARSE_OK);
    }
    FL_CHECK_INT(m.cap, cap);
    FL_CHECK(m.fields == fields);
end:
    fl_msg_release(&m);
    fl_msg_release(&small);
}

/* fl_msg_find() answers tags below FL_MSG_LOW_TAGS from the table fl_msg_index_low_tags()
 * fills: before and after, it must agree with a scan for the first occurrence, whatever path
 * parsed the message, after reuse, and past the fields the table can count. Indexes m. */
static void check_find_agrees(struct fl_msg *m)
{
    for (int indexed = 0; indexed < 2; indexed++) {
        if (indexed)
            fl_msg_index_low_tags(m);
        for (uint32_t tag = 0; tag <= 2 * FL_MSG_LOW_TAGS; tag++)
            FL_CHECK_INT(fl_msg_find(m, tag), fl_msg_find_from(m, tag, 0));
    }
end:;
}

FL_TEST(test_find_low_tags)
{
    struct fl_msg m, copy;
    char buf[8192];
    fl_msg_init(&m);
    fl_msg_init(&copy);
    FL_CHECK_INT(fl_msg_find(&m, 55), -1); /* nothing parsed yet */
    FL_CHECK_INT(fl_msg_find(&m, 0), -1);

    /* Clean: repeated body tags give their first field. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=8|49=A|56=B|34=2|52=20240315-13:45:07|"
                            "55=IBM|63=x|55=MSFT|1=a|64=y|1=b|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    check_find_agrees(&m);
    FL_CHECK_INT(fl_msg_find(&m, 55), 7);
    FL_CHECK_INT(fl_msg_find(&m, 1), 10);
    FL_CHECK_INT(fl_msg_find(&m, 63), 8);
    FL_CHECK_INT(fl_msg_find(&m, 64), 11);
    FL_CHECK_INT(fl_msg_find(&m, 35), 2);
    FL_CHECK_INT(fl_msg_find(&m, 10), 13);
    FL_CHECK_INT(fl_msg_find(&m, 11), -1);
    FL_CHECK_INT(fl_msg_find(&m, 0), -1);
    FL_CHECK_INT(fl_msg_clone(&copy, &m), FL_OK);
    FL_CHECK_INT(fl_msg_find(&copy, 1), 10);
    check_find_agrees(&copy);

    /* Reused for a message without those tags: nothing left over. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=0|49=A|56=B|34=3|52=20240315-13:45:07|10=000|", NULL),
                 FL_OK);
    check_find_agrees(&m);
    FL_CHECK_INT(fl_msg_find(&m, 55), -1);
    FL_CHECK_INT(fl_msg_find(&m, 1), -1);

    /* With problems (the byte-by-byte path): header tags repeated and out of place. */
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|49=A|55=X|49=C|34=4|11=|0=z|55=Y|10=000|", NULL),
                 FL_OK);
    FL_CHECK(m.problem != FL_PARSE_OK);
    check_find_agrees(&m);
    FL_CHECK_INT(fl_msg_find(&m, 49), 3);
    FL_CHECK_INT(fl_msg_find(&m, 55), 4);

    /* Fields beyond what the table counts: first occurrences past index 254 are scanned for,
     * also when the message is parsed again with a limit. */
    size_t n = (size_t)snprintf(buf, sizeof buf, "8=FIX.4.4|9=5|35=8|");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%d=%d|",
                              i < 250 ? 100 + i % 5 : 11 + (i - 250) % 20, i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "10=000|");
    fl_test_soh(buf);
    FL_CHECK_INT(fl_msg_parse(&m, buf, n), FL_OK);
    FL_CHECK_INT(m.problem, FL_PARSE_OK);
    FL_CHECK_INT(m.nfields, 304);
    check_find_agrees(&m);
    FL_CHECK_INT(fl_msg_find(&m, 11), 253);
    FL_CHECK_INT(fl_msg_find(&m, 12), 254);
    FL_CHECK_INT(fl_msg_find(&m, 21), 263);
    FL_CHECK_INT(fl_msg_find(&m, 10), 303);
    m.max_fields = 260;
    FL_CHECK_INT(fl_msg_parse(&m, buf, n), FL_ELIMIT);
    check_find_agrees(&m);
    FL_CHECK_INT(fl_msg_find(&m, 10), -1);
end:
    fl_msg_release(&m);
    fl_msg_release(&copy);
}

FL_TEST(test_clone)
{
    struct fl_msg m, c, c2;
    char buf[512];
    fl_msg_init(&m);
    fl_msg_init(&c);
    fl_msg_init(&c2);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, nos_text, NULL), FL_OK);
    FL_CHECK_INT(fl_msg_clone(&c, &m), FL_OK);
    FL_CHECK(c.owned != NULL && c.buf == c.owned && c.buf != m.buf);
    memset(buf, 'x', sizeof buf); /* the clone does not borrow */
    FL_CHECK_INT(c.nfields, m.nfields);
    FL_CHECK_INT(c.problem, FL_PARSE_OK);
    const char *p;
    size_t n;
    FL_CHECK_INT(fl_msg_get_str(&c, 11, &p, &n), FL_OK);
    FL_CHECK_STRN(p, n, "ORD-0001");
    FL_CHECK_INT(fl_msg_find(&c, 52), 6);
    /* Cloning over a message that already owns something frees what it held. */
    FL_CHECK_INT(fl_msg_clone(&c2, &c), FL_OK);
    FL_CHECK_INT(fl_msg_clone(&c2, &c), FL_OK);
    FL_CHECK(c2.buf != c.buf && c2.nfields == c.nfields);
    FL_CHECK_INT(fl_msg_get_str(&c2, 11, &p, &n), FL_OK);
    FL_CHECK_STRN(p, n, "ORD-0001");
    /* Parsing into a clone drops its copy and borrows again. */
    char other[128];
    FL_CHECK_INT(parse_text(&c, other, sizeof other, "8=FIX.4.4|9=5|35=0|10=000|", NULL),
                 FL_OK);
    FL_CHECK(c.owned == NULL);
    FL_CHECK_INT(c.nfields, 4);
    fl_msg_release(NULL);
end:
    fl_msg_release(&m);
    fl_msg_release(&c);
    fl_msg_release(&c2);
}

FL_TEST(test_get_int)
{
    struct {
        const char *s;
        int rc;
        int64_t v;
    } cases[] = {
        {"0", FL_OK, 0},
        {"7", FL_OK, 7},
        {"007", FL_OK, 7},
        {"-5", FL_OK, -5},
        {"-0", FL_OK, 0},
        {"-007", FL_OK, -7},
        {"9223372036854775807", FL_OK, INT64_MAX},
        {"-9223372036854775808", FL_OK, INT64_MIN},
        {"00000000000000000000009223372036854775807", FL_OK, INT64_MAX},
        {"9223372036854775808", FL_ERANGE, 0},
        {"-9223372036854775809", FL_ERANGE, 0},
        {"99999999999999999999", FL_ERANGE, 0},
        {"18446744073709551616", FL_ERANGE, 0},
        {"", FL_EFORMAT, 0},
        {"-", FL_EFORMAT, 0},
        {"+1", FL_EFORMAT, 0},
        {" 1", FL_EFORMAT, 0},
        {"1 ", FL_EFORMAT, 0},
        {"12a", FL_EFORMAT, 0},
        {"1.0", FL_EFORMAT, 0},
        {"--1", FL_EFORMAT, 0},
        {"0x10", FL_EFORMAT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        int rc = fl_parse_int(cases[i].s, strlen(cases[i].s), &v);
        if (rc != cases[i].rc)
            fprintf(stderr, "  \"%s\": rc %d\n", cases[i].s, rc);
        FL_CHECK_INT(rc, cases[i].rc);
        if (rc == FL_OK)
            FL_CHECK(v == cases[i].v);
        else
            FL_CHECK_INT(v, 12345); /* untouched on failure */
    }
    /* Through the message. */
    struct fl_msg m;
    char buf[256];
    int64_t v;
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=8|34=0042|38=-100|58=abc|10=000|", NULL), FL_OK);
    FL_CHECK_INT(fl_msg_get_int(&m, 34, &v), FL_OK);
    FL_CHECK_INT(v, 42);
    FL_CHECK_INT(fl_msg_get_int(&m, 38, &v), FL_OK);
    FL_CHECK_INT(v, -100);
    FL_CHECK_INT(fl_msg_get_int(&m, 58, &v), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_int(&m, 44, &v), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_get_decimal)
{
    struct {
        const char *s;
        int rc;
        int64_t mantissa;
        int32_t scale;
    } cases[] = {
        {"0.1", FL_OK, 1, 1},
        {"-0.000001", FL_OK, -1, 6},
        {"12345678901234.5678", FL_OK, INT64_C(123456789012345678), 4},
        {".5", FL_OK, 5, 1},
        {"5.", FL_OK, 5, 0},
        {"-.5", FL_OK, -5, 1},
        {"101.25", FL_OK, 10125, 2},
        {"-12.50", FL_OK, -1250, 2},
        {"007.50", FL_OK, 750, 2},
        {"0", FL_OK, 0, 0},
        {"-0.0", FL_OK, 0, 1},
        {"1000000", FL_OK, 1000000, 0},
        {"999999999999999999", FL_OK, INT64_C(999999999999999999), 0},
        {"0.000000000000000000000000000001", FL_OK, 1, 30},
        {"1000000000000000000", FL_OK, INT64_C(1000000000000000000), 0},
        {"12345678901234.56789", FL_OK, INT64_C(1234567890123456789), 5},
        /* what fits the int64 mantissa, both ends */
        {"9223372036854775807", FL_OK, INT64_MAX, 0},
        {"-922337203685477580.8", FL_OK, INT64_MIN, 1},
        {"9223372036854775808", FL_ERANGE, 0, 0},
        {"-9223372036854775809", FL_ERANGE, 0, 0},
        {"12345678901234567890.5", FL_ERANGE, 0, 0},
        /* trailing zeros of a fraction are no significant digits */
        {"0.10000000000000000000", FL_OK, 1, 1},
        {"-250.00000000000000000000", FL_OK, -250, 0},
        {"-", FL_EFORMAT, 0, 0},
        {"", FL_EFORMAT, 0, 0},
        {".", FL_EFORMAT, 0, 0},
        {"-.", FL_EFORMAT, 0, 0},
        {"1.2.3", FL_EFORMAT, 0, 0},
        {"1e5", FL_EFORMAT, 0, 0},
        {"+1.5", FL_EFORMAT, 0, 0},
        {"1,5", FL_EFORMAT, 0, 0},
        {" 1.5", FL_EFORMAT, 0, 0},
        {"1.5-", FL_EFORMAT, 0, 0},
        {"NaN", FL_EFORMAT, 0, 0},
    };
    struct fl_msg m;
    fl_msg_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fl_decimal d = {77, 77};
        int rc = fl_parse_decimal(cases[i].s, strlen(cases[i].s), &d);
        if (rc != cases[i].rc || (rc == FL_OK && (d.mantissa != cases[i].mantissa ||
                                                  d.scale != cases[i].scale)))
            fprintf(stderr, "  \"%s\": rc %d {%lld, %d}\n", cases[i].s, rc,
                    (long long)d.mantissa, (int)d.scale);
        FL_CHECK_INT(rc, cases[i].rc);
        if (rc == FL_OK) {
            FL_CHECK(d.mantissa == cases[i].mantissa);
            FL_CHECK_INT(d.scale, cases[i].scale);
        }
    }
    char buf[256];
    struct fl_decimal d;
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf, "8=FIX.4.4|9=5|35=D|44=101.25|58=x|10=000|",
                            NULL), FL_OK);
    FL_CHECK_INT(fl_msg_get_decimal(&m, 44, &d), FL_OK);
    FL_CHECK_INT(d.mantissa, 10125);
    FL_CHECK_INT(d.scale, 2);
    FL_CHECK_INT(fl_msg_get_decimal(&m, 58, &d), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_decimal(&m, 38, &d), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_get_bool_char_str)
{
    int b = 5;
    FL_CHECK_INT(fl_parse_bool("Y", 1, &b), FL_OK);
    FL_CHECK_INT(b, 1);
    FL_CHECK_INT(fl_parse_bool("N", 1, &b), FL_OK);
    FL_CHECK_INT(b, 0);
    static const char *const bad[] = {"y", "n", "1", "0", "YES", "", "YN", "T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        FL_CHECK_INT(fl_parse_bool(bad[i], strlen(bad[i]), &b), FL_EFORMAT);

    struct fl_msg m;
    char buf[256];
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=D|43=Y|97=N|54=1|40=2|58=AB|141=x|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(fl_msg_get_bool(&m, 43, &b), FL_OK);
    FL_CHECK_INT(b, 1);
    FL_CHECK_INT(fl_msg_get_bool(&m, 97, &b), FL_OK);
    FL_CHECK_INT(b, 0);
    FL_CHECK_INT(fl_msg_get_bool(&m, 141, &b), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_bool(&m, 123, &b), FL_ENOENT);
    char c = 0;
    FL_CHECK_INT(fl_msg_get_char(&m, 54, &c), FL_OK);
    FL_CHECK_INT(c, '1');
    FL_CHECK_INT(fl_msg_get_char(&m, 35, &c), FL_OK);
    FL_CHECK_INT(c, 'D');
    FL_CHECK_INT(fl_msg_get_char(&m, 58, &c), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_char(&m, 59, &c), FL_ENOENT);
    const char *p;
    size_t n;
    FL_CHECK_INT(fl_msg_get_str(&m, 58, &p, &n), FL_OK);
    FL_CHECK_STRN(p, n, "AB");
    FL_CHECK_INT(fl_msg_get_str(&m, 8, &p, &n), FL_OK);
    FL_CHECK_STRN(p, n, "FIX.4.4");
    FL_CHECK_INT(fl_msg_get_str(&m, 11, &p, &n), FL_ENOENT);
    FL_CHECK_INT(fl_msg_get_data(&m, 96, &p, &n), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_utc_timestamp)
{
    const int64_t t2024 = INT64_C(1710510307) * NS; /* 2024-03-15 13:45:07 */
    struct {
        const char *s;
        int rc;
        int64_t ns;
        int digits;
    } cases[] = {
        {"20240315-13:45:07", FL_OK, t2024, 0},
        {"20240315-13:45:07.123", FL_OK, t2024 + 123000000, 3},
        {"20240315-13:45:07.123456", FL_OK, t2024 + 123456000, 6},
        {"20240315-13:45:07.123456789", FL_OK, t2024 + 123456789, 9},
        {"20240315-13:45:07.123456789012", FL_OK, t2024 + 123456789, 12},
        {"20240315-13:45:07.000", FL_OK, t2024, 3},
        {"19700101-00:00:00", FL_OK, 0, 0},
        {"19691231-23:59:59.999", FL_OK, -1000000, 3},
        {"20380119-03:14:08", FL_OK, INT64_C(2147483648) * NS, 0},
        {"21000101-00:00:00", FL_OK, INT64_C(4102444800) * NS, 0},
        /* a leap second is the next day's midnight */
        {"20161231-23:59:60", FL_OK, INT64_C(1483228800) * NS, 0},
        {"20161231-23:59:60.500", FL_OK, INT64_C(1483228800) * NS + 500000000, 3},
        /* Feb 29 only in leap years */
        {"20240229-00:00:00", FL_OK, INT64_C(1709164800) * NS, 0},
        {"20000229-00:00:00", FL_OK, INT64_C(951782400) * NS, 0},
        {"20230229-00:00:00", FL_EFORMAT, 0, 0},
        {"19000229-00:00:00", FL_EFORMAT, 0, 0},
        {"21000229-00:00:00", FL_EFORMAT, 0, 0},
        /* bad month, day, hour, minute, second */
        {"20241301-00:00:00", FL_EFORMAT, 0, 0},
        {"20240001-00:00:00", FL_EFORMAT, 0, 0},
        {"20240100-00:00:00", FL_EFORMAT, 0, 0},
        {"20240132-00:00:00", FL_EFORMAT, 0, 0},
        {"20240431-00:00:00", FL_EFORMAT, 0, 0},
        {"20240101-24:00:00", FL_EFORMAT, 0, 0},
        {"20240101-00:60:00", FL_EFORMAT, 0, 0},
        {"20240101-00:00:61", FL_EFORMAT, 0, 0},
        /* syntax */
        {"20240101-00:00", FL_EFORMAT, 0, 0},
        {"20240101 00:00:00", FL_EFORMAT, 0, 0},
        {"2024-01-01T00:00:00", FL_EFORMAT, 0, 0},
        {"20240101-00:00:00.", FL_EFORMAT, 0, 0},
        {"20240101-00:00:00,123", FL_EFORMAT, 0, 0},
        {"20240101-00:00:00.12a", FL_EFORMAT, 0, 0},
        {"20240101-00:00:00.1234567890123", FL_EFORMAT, 0, 0},
        {"20240101-00:00:00Z", FL_EFORMAT, 0, 0},
        {"2024010-00:00:00", FL_EFORMAT, 0, 0},
        {"", FL_EFORMAT, 0, 0},
        {"-0240101-00:00:00", FL_EFORMAT, 0, 0},
        /* the int64 nanosecond range: 1677-09-22 .. 2262-04-11 23:47:16.854775807 */
        {"22620411-23:47:16.854775807", FL_OK, INT64_MAX, 9},
        {"22620411-23:47:16.854775808", FL_ERANGE, 0, 0},
        {"22620412-00:00:00", FL_ERANGE, 0, 0},
        {"99991231-23:59:59", FL_ERANGE, 0, 0},
        {"16770922-00:00:00", FL_OK, INT64_C(-9223286400) * NS, 0},
        {"16770921-23:59:59", FL_ERANGE, 0, 0},
        {"00000101-00:00:00", FL_ERANGE, 0, 0},
        /* The fast path's bounds (years 1901..2099, up to eight fraction digits) and what
         * lies just beyond them, decided by the general path. */
        {"19010101-00:00:00", FL_OK, INT64_C(-2177452800) * NS, 0},
        {"19001231-23:59:59", FL_OK, INT64_C(-2177452801) * NS, 0},
        {"19001231-23:59:60", FL_OK, INT64_C(-2177452800) * NS, 0},
        {"20991231-23:59:59.9", FL_OK, INT64_C(4102444799) * NS + 900000000, 1},
        {"20991231-23:59:60", FL_OK, INT64_C(4102444800) * NS, 0},
        {"21000101-00:00:00.5", FL_OK, INT64_C(4102444800) * NS + 500000000, 1},
        {"19040229-00:00:00", FL_OK, INT64_C(-2077747200) * NS, 0},
        {"20960229-12:00:00", FL_OK, INT64_C(3981355200) * NS, 0},
        {"20240315-13:45:07.12", FL_OK, t2024 + 120000000, 2},
        {"20240315-13:45:07.1234", FL_OK, t2024 + 123400000, 4},
        {"20240315-13:45:07.12345", FL_OK, t2024 + 123450000, 5},
        {"20240315-13:45:07.1234567", FL_OK, t2024 + 123456700, 7},
        {"20240315-13:45:07.12345678", FL_OK, t2024 + 123456780, 8},
        {"20240315-13:45:07.0000000001", FL_OK, t2024, 10},
        {"20240315-13:45:07.99999999", FL_OK, t2024 + 999999990, 8},
        /* one bad byte in each place the fast path reads */
        {"2024031A-13:45:07.123", FL_EFORMAT, 0, 0},
        {"/0240315-13:45:07.123", FL_EFORMAT, 0, 0},
        {"20240315:13:45:07.123", FL_EFORMAT, 0, 0},
        {"20240315-1:345:07.123", FL_EFORMAT, 0, 0},
        {"20240315-13-45:07.123", FL_EFORMAT, 0, 0},
        {"20240315-13:45;07.123", FL_EFORMAT, 0, 0},
        {"20240315-13:4/:07.123", FL_EFORMAT, 0, 0},
        {"20240315-13:45:0:.123", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07:123", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07.1/3", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07.12:", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07.12345:78", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07\x01", FL_EFORMAT, 0, 0},
        {"20240315-13:45:07.123 ", FL_EFORMAT, 0, 0},
        {"20240315-23:59:61.000", FL_EFORMAT, 0, 0},
        {"20241231-23:60:00.000", FL_EFORMAT, 0, 0},
        {"20240631-00:00:00.000", FL_EFORMAT, 0, 0},
        {"20250229-00:00:00.000", FL_EFORMAT, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ns = 0;
        int digits = -1;
        int rc = fl_parse_utc_timestamp(cases[i].s, strlen(cases[i].s), &ns, &digits);
        if (rc != cases[i].rc || (rc == FL_OK && (ns != cases[i].ns ||
                                                  digits != cases[i].digits)))
            fprintf(stderr, "  \"%s\": rc %d ns %lld digits %d\n", cases[i].s, rc,
                    (long long)ns, digits);
        FL_CHECK_INT(rc, cases[i].rc);
        if (rc == FL_OK) {
            FL_CHECK(ns == cases[i].ns);
            FL_CHECK_INT(digits, cases[i].digits);
        }
    }
    int64_t ns;
    FL_CHECK_INT(fl_parse_utc_timestamp("20240315-13:45:07", 17, &ns, NULL), FL_OK);

    struct fl_msg m;
    char buf[256];
    int digits;
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=0|52=20240315-13:45:07.123|122=x|10=000|", NULL),
                 FL_OK);
    FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 52, &ns, &digits), FL_OK);
    FL_CHECK(ns == t2024 + 123000000);
    FL_CHECK_INT(digits, 3);
    FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 122, &ns, &digits), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_utc_timestamp(&m, 60, &ns, &digits), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_utc_time_only_and_date)
{
    struct {
        const char *s;
        int rc;
        int64_t ns;
        int digits;
    } times[] = {
        {"00:00:00", FL_OK, 0, 0},
        {"13:45:07", FL_OK, (13 * 3600 + 45 * 60 + 7) * NS, 0},
        {"23:59:59.999", FL_OK, 86399 * NS + 999000000, 3},
        {"23:59:59.999999", FL_OK, 86399 * NS + 999999000, 6},
        {"00:00:00.000000001", FL_OK, 1, 9},
        {"23:59:60", FL_OK, 86400 * NS, 0},
        {"24:00:00", FL_EFORMAT, 0, 0},
        {"12:60:00", FL_EFORMAT, 0, 0},
        {"12:00:61", FL_EFORMAT, 0, 0},
        {"12:00", FL_EFORMAT, 0, 0},
        {"12-00-00", FL_EFORMAT, 0, 0},
        {"1:00:00", FL_EFORMAT, 0, 0},
        {"12:00:00.", FL_EFORMAT, 0, 0},
        {"12:00:00:000", FL_EFORMAT, 0, 0},
        {"", FL_EFORMAT, 0, 0},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        int64_t ns = 0;
        int digits = -1;
        int rc = fl_parse_utc_time_only(times[i].s, strlen(times[i].s), &ns, &digits);
        if (rc != times[i].rc)
            fprintf(stderr, "  \"%s\": rc %d\n", times[i].s, rc);
        FL_CHECK_INT(rc, times[i].rc);
        if (rc == FL_OK) {
            FL_CHECK(ns == times[i].ns);
            FL_CHECK_INT(digits, times[i].digits);
        }
    }
    struct {
        const char *s;
        int rc;
        int y, m, d;
    } dates[] = {
        {"20240229", FL_OK, 2024, 2, 29},
        {"20000229", FL_OK, 2000, 2, 29},
        {"19700101", FL_OK, 1970, 1, 1},
        {"99991231", FL_OK, 9999, 12, 31},
        {"20230229", FL_EFORMAT, 0, 0, 0},
        {"21000229", FL_EFORMAT, 0, 0, 0},
        {"20241301", FL_EFORMAT, 0, 0, 0},
        {"20240001", FL_EFORMAT, 0, 0, 0},
        {"20240100", FL_EFORMAT, 0, 0, 0},
        {"20240631", FL_EFORMAT, 0, 0, 0},
        {"2024022", FL_EFORMAT, 0, 0, 0},
        {"202402290", FL_EFORMAT, 0, 0, 0},
        {"2024-02-", FL_EFORMAT, 0, 0, 0},
        {"", FL_EFORMAT, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        struct fl_date d = {0, 0, 0};
        int rc = fl_parse_date(dates[i].s, strlen(dates[i].s), &d);
        if (rc != dates[i].rc)
            fprintf(stderr, "  \"%s\": rc %d\n", dates[i].s, rc);
        FL_CHECK_INT(rc, dates[i].rc);
        if (rc == FL_OK) {
            FL_CHECK_INT(d.year, dates[i].y);
            FL_CHECK_INT(d.month, dates[i].m);
            FL_CHECK_INT(d.day, dates[i].d);
        }
    }
    struct fl_msg m;
    char buf[256];
    fl_msg_init(&m);
    FL_CHECK_INT(parse_text(&m, buf, sizeof buf,
                            "8=FIX.4.4|9=5|35=8|75=20240315|273=13:45:07.5|432=2024031|10=000|",
                            NULL), FL_OK);
    struct fl_date d;
    FL_CHECK_INT(fl_msg_get_date(&m, 75, &d), FL_OK);
    FL_CHECK(d.year == 2024 && d.month == 3 && d.day == 15);
    FL_CHECK_INT(fl_msg_get_date(&m, 432, &d), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_date(&m, 64, &d), FL_ENOENT);
    int64_t ns;
    int digits;
    FL_CHECK_INT(fl_msg_get_utc_time_only(&m, 273, &ns, &digits), FL_OK);
    FL_CHECK(ns == (13 * 3600 + 45 * 60 + 7) * NS + 500000000);
    FL_CHECK_INT(digits, 1);
    FL_CHECK_INT(fl_msg_get_utc_time_only(&m, 75, &ns, NULL), FL_EFORMAT);
    FL_CHECK_INT(fl_msg_get_utc_time_only(&m, 1, &ns, NULL), FL_ENOENT);
end:
    fl_msg_release(&m);
}

FL_TEST(test_civil_days)
{
    FL_CHECK_INT(fl_days_from_civil(1970, 1, 1), 0);
    FL_CHECK_INT(fl_days_from_civil(2024, 3, 15), 19797);
    FL_CHECK_INT(fl_days_from_civil(1, 1, 1), -719162);
    FL_CHECK_INT(fl_days_from_civil(9999, 12, 31), 2932896);
    FL_CHECK_INT(fl_days_from_civil(1969, 12, 31), -1);
    /* Round trip over years 0000..9999, and consecutive days. */
    int py = 0, pm = 0, pd = 0;
    for (int64_t z = fl_days_from_civil(0, 1, 1); z <= 2932896; z++) {
        int y, mo, d;
        fl_civil_from_days(z, &y, &mo, &d);
        if (fl_days_from_civil(y, mo, d) != z) {
            fprintf(stderr, "  day %lld -> %04d-%02d-%02d\n", (long long)z, y, mo, d);
            FL_CHECK(0);
        }
        if (z > fl_days_from_civil(0, 1, 1))
            FL_CHECK((y == py && mo == pm && d == pd + 1) ||
                     (y == py && mo == pm + 1 && d == 1) ||
                     (y == py + 1 && mo == 1 && d == 1 && pm == 12 && pd == 31));
        py = y;
        pm = mo;
        pd = d;
    }
end:;
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(test_parse_index);
    FL_RUN(test_parse_repeated_and_empty);
    FL_RUN(test_parse_problems);
    FL_RUN(test_fields_near_and_far_from_the_end);
    FL_RUN(test_problem_texts_and_reasons);
    FL_RUN(test_data_fields);
    FL_RUN(test_tag_section);
    FL_RUN(test_max_fields_and_reuse);
    FL_RUN(test_find_low_tags);
    FL_RUN(test_clone);
    FL_RUN(test_get_int);
    FL_RUN(test_get_decimal);
    FL_RUN(test_get_bool_char_str);
    FL_RUN(test_utc_timestamp);
    FL_RUN(test_utc_time_only_and_date);
    FL_RUN(test_civil_days);
    return FL_TEST_SUMMARY();
}
