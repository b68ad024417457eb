/* fixlua — tests for fl_dict_validate(): one test per reject rule, each with a message that
 * breaks it and one that passes, against the built-in dictionary and (when FL_SHARED_DIR has
 * them) the QuickFIX XML dictionaries. Messages are written with '|' for SOH; fl_msg_parse()
 * does not check BodyLength or CheckSum, so those carry placeholder values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_dict.h"
#include "fl_group.h"
#include "fl_msg.h"
#include "fl_tags.h"
#include "fl_test.h"

#define DICT_DIR FL_SHARED_DIR "/dictionaries/"
#define TS "20240102-10:20:30.123"
#define H44 "8=FIX.4.4|9=100|"
#define HDR "49=CLIENT|56=EXEC|34=2|52=" TS "|"
#define TRL "10=000|"

/* Shared by every test: one validator reused across dictionaries, one message. */
static struct fl_validator validator;
static struct fl_msg msg;
static char msg_buf[4096];
static struct fl_validate_result result;

static struct fl_dict *load(const char *name)
{
    char path[512], err[512];
    struct fl_dict *d = NULL;
    snprintf(path, sizeof path, DICT_DIR "%s.xml", name);
    if (fl_dict_load_file(path, &d, err, sizeof err) != FL_OK)
        return NULL;
    return d;
}

static struct fl_dict *builtin(const char *begin)
{
    struct fl_dict *d = NULL;
    return fl_dict_builtin(begin, &d) == FL_OK ? d : NULL;
}

static int have_shared(void)
{
    static int state = -1;
    if (state < 0) {
        struct fl_dict *d = load("FIX44");
        state = d != NULL;
        fl_dict_free(d);
        if (!state)
            printf("note: %s not usable, XML dictionary cases skipped\n", DICT_DIR);
    }
    return state;
}

static int validate_text(const struct fl_dict *d, const struct fl_validate_opts *o,
                         const char *text, int *rc)
{
    snprintf(msg_buf, sizeof msg_buf, "%s", text);
    fl_test_soh(msg_buf);
    if (fl_msg_parse(&msg, msg_buf, strlen(msg_buf)) != FL_OK)
        return 0;
    *rc = fl_dict_validate(d, &msg, o, &validator, &result);
    return 1;
}

/* Validates `text` and checks the verdict, reason and RefTagID (reason/tag ignored for OK). */
static int expect(const struct fl_dict *d, const struct fl_validate_opts *o, const char *text,
                  enum fl_verdict verdict, int reason, uint32_t ref_tag)
{
    int rc;
    if (!d || !validate_text(d, o, text, &rc)) {
        fprintf(stderr, "  no dictionary or unparsable: %s\n", text);
        return 0;
    }
    int ok = result.verdict == verdict &&
             (verdict == FL_VERDICT_OK ? rc == FL_OK : rc == FL_EPROTO);
    if (ok && verdict != FL_VERDICT_OK)
        ok = result.reason == reason && result.ref_tag == ref_tag;
    if (!ok)
        fprintf(stderr, "  %s [%s]: rc=%d verdict=%d reason=%d ref=%u (%s); wanted %d/%d/%u\n",
                text, fl_dict_info(d)->source, rc, (int)result.verdict, result.reason,
                result.ref_tag, result.text, (int)verdict, reason, ref_tag);
    return ok;
}

#define OK_(d, text) expect((d), NULL, (text), FL_VERDICT_OK, 0, 0)
#define REJ(d, text, reason, tag) expect((d), NULL, (text), FL_VERDICT_REJECT, (reason), (tag))

/* Runs `body` once with the built-in FIX.4.4 dictionary (as `d`) and once with FIX44.xml when
 * it is there. The body uses CHECK_(), which records failures without leaving the loop, so the
 * dictionary is always freed. */
#define BOTH_44(body)                                                                       \
    for (int k_ = 0; k_ < 2; k_++) {                                                        \
        struct fl_dict *d = k_ == 0 ? builtin("FIX.4.4") : have_shared() ? load("FIX44") : NULL; \
        if (!d) {                                                                           \
            if (k_ == 0)                                                                    \
                FL_FAIL_AT_("%s", "no built-in dictionary");                                \
            break;                                                                          \
        }                                                                                   \
        int ok_ = 1;                                                                        \
        body                                                                                \
        fl_dict_free(d);                                                                    \
        if (!ok_)                                                                           \
            FL_FAIL_AT_("%s", k_ ? "with FIX44.xml" : "with the built-in FIX.4.4");         \
    }
#define CHECK_(cond) (ok_ = (cond) && ok_)

static const char nos44[] = H44 "35=D|" HDR
    "11=ORD1|1=ACC|453=2|448=P1|447=D|452=3|802=1|523=SUB|803=2|448=P2|447=D|452=12|"
    "21=1|55=IBM|48=US4592001014|22=4|54=1|60=" TS "|38=100|40=2|44=101.25|59=0|"
    "18=1 G|58=hello|" TRL;

static const char er44[] = H44 "35=8|" HDR
    "37=O1|17=E1|150=F|39=2|55=IBM|54=1|38=100|40=2|44=101.25|32=100|31=101.25|151=0|"
    "14=100|6=101.25|60=" TS "|453=1|448=P1|447=D|452=1|" TRL;

FL_TEST(test_valid_messages)
{
    struct fl_dict *b40 = NULL, *b42 = NULL;
    BOTH_44({
        CHECK_(OK_(d, nos44));
        CHECK_(OK_(d, er44));
        CHECK_(OK_(d, H44 "35=0|" HDR TRL));
        CHECK_(OK_(d, H44 "35=0|" HDR "112=T1|" TRL));
        CHECK_(OK_(d, H44 "35=1|" HDR "112=T1|" TRL));
        CHECK_(OK_(d, H44 "35=A|" HDR "98=0|108=30|141=Y|" TRL));
        CHECK_(OK_(d, H44 "35=2|" HDR "7=1|16=0|" TRL));
        CHECK_(OK_(d, H44 "35=4|" HDR "123=Y|36=10|" TRL));
        CHECK_(OK_(d, H44 "35=5|" HDR "58=bye|" TRL));
        CHECK_(OK_(d, H44 "35=3|" HDR "45=1|371=54|372=D|373=5|58=x|" TRL));
        CHECK_(OK_(d, H44 "35=j|" HDR "45=1|372=Z|380=3|" TRL));
        CHECK_(OK_(d, H44 "35=0|" HDR "43=Y|122=" TS "|627=2|628=H1|629=" TS "|628=H2|" TRL));
        CHECK_(OK_(d, H44 "35=V|" HDR "262=R1|263=1|264=0|267=2|269=0|269=1|146=1|55=IBM|" TRL));
        CHECK_(OK_(d, H44 "35=W|" HDR "262=R1|55=IBM|268=2|269=0|270=1.5|271=100|"
                          "269=1|270=1.6|271=200|" TRL));
        CHECK_(OK_(d, H44 "35=X|" HDR "262=R1|268=1|279=0|269=2|55=IBM|270=1.5|271=5|" TRL));
    });
    /* Older versions, whose session layer and required fields differ. */
    b40 = builtin("FIX.4.0");
    b42 = builtin("FIX.4.2");
    FL_CHECK(OK_(b40, "8=FIX.4.0|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|38=10|40=1|" TRL));
    FL_CHECK(REJ(b40, "8=FIX.4.0|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|40=1|" TRL, 1, 38));
    FL_CHECK(OK_(b42, "8=FIX.4.2|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|60=" TS "|40=1|" TRL));
    FL_CHECK(REJ(b42, "8=FIX.4.2|9=1|35=D|" HDR "11=A|21=1|54=1|60=" TS "|40=1|" TRL, 1, 55));
    fl_dict_free(b40);
    fl_dict_free(b42);
    b40 = b42 = NULL;
    if (have_shared()) {
        /* FIX.4.0 and 4.1 "char" fields are strings; FIX.4.2 needs TransactTime. */
        b40 = load("FIX40");
        b42 = load("FIX42");
        FL_CHECK(OK_(b40, "8=FIX.4.0|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|38=10|40=1|" TRL));
        FL_CHECK(OK_(b40, "8=FIX.4.0|9=1|35=A|" HDR "98=0|108=30|" TRL));
        FL_CHECK(REJ(b40, "8=FIX.4.0|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=X|38=10|40=1|" TRL, 5,
                     54));
        FL_CHECK(OK_(b42, "8=FIX.4.2|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|60=" TS "|40=1|"
                          "386=1|336=X|" TRL));
        FL_CHECK(REJ(b42, "8=FIX.4.2|9=1|35=D|" HDR "11=A|21=1|55=IBM|54=1|40=1|" TRL, 1, 60));
    }
end:
    fl_dict_free(b40);
    fl_dict_free(b42);
}

FL_TEST(test_invalid_tag_number)
{
    struct fl_validate_opts o;
    fl_validate_opts_init(&o);
    BOTH_44({
        /* 14a: undefined tags, in and above the user range, are rejected by default. */
        CHECK_(REJ(d, H44 "35=0|" HDR "999=HI|" TRL, 0, 999));
        CHECK_(REJ(d, H44 "35=0|" HDR "5000=HI|" TRL, 0, 5000));
        CHECK_(REJ(d, H44 "35=0|" HDR "10001=HI|" TRL, 0, 10001));
        o.allow_unknown_fields = 1;
        CHECK_(expect(d, &o, H44 "35=0|" HDR "999=HI|" TRL, FL_VERDICT_OK, 0, 0));
        CHECK_(expect(d, &o, H44 "35=0|" HDR "5000=HI|" TRL, FL_VERDICT_REJECT, 0, 5000));
        o.allow_unknown_fields = 0;
        o.allow_user_fields = 1;
        CHECK_(expect(d, &o, H44 "35=0|" HDR "5000=HI|" TRL, FL_VERDICT_OK, 0, 0));
        CHECK_(expect(d, &o, H44 "35=0|" HDR "10001=HI|" TRL, FL_VERDICT_REJECT, 0, 10001));
        o.allow_user_fields = 0;
        o.allow_internal_fields = 1;
        CHECK_(expect(d, &o, H44 "35=0|" HDR "10001=HI|" TRL, FL_VERDICT_OK, 0, 0));
        /* An allowed unknown tag among the header fields does not end the header. */
        CHECK_(expect(d, &o, H44 "35=0|49=A|20001=x|56=B|34=2|52=" TS "|" TRL, FL_VERDICT_OK, 0,
                      0));
        o.allow_internal_fields = 0;
        /* The parser's verdict on a tag that is not a number. */
        CHECK_(REJ(d, H44 "35=0|" HDR "0=HI|" TRL, 0, 0));
        CHECK_(REJ(d, H44 "35=0|" HDR "x1=HI|" TRL, 0, 0));
    });
    /* The XML NewOrderSingle is closed; the built-in one is open. */
    struct fl_dict *b = builtin("FIX.4.4");
    FL_CHECK(OK_(b, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|9999=x|" TRL));
    fl_dict_free(b);
    if (have_shared()) {
        struct fl_dict *x = load("FIX44");
        int ok = REJ(x, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|9999=x|" TRL, 0, 9999);
        fl_dict_free(x);
        FL_CHECK(ok);
    }
end:;
}

FL_TEST(test_tag_not_defined_for_message)
{
    struct fl_validate_opts o;
    fl_validate_opts_init(&o);
    BOTH_44({
        CHECK_(REJ(d, H44 "35=0|" HDR "55=IBM|" TRL, 2, 55));
        CHECK_(REJ(d, H44 "35=1|" HDR "112=T|108=30|" TRL, 2, 108));
        o.allow_unknown_fields = 1;
        CHECK_(expect(d, &o, H44 "35=0|" HDR "55=IBM|" TRL, FL_VERDICT_OK, 0, 0));
        /* Allowed or not, a known field keeps its format check. */
        CHECK_(expect(d, &o, H44 "35=0|" HDR "38=abc|" TRL, FL_VERDICT_REJECT, 6, 38));
        o.allow_unknown_fields = 0;
    });
end:;
}

FL_TEST(test_required_tag_missing)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=D|" HDR "55=IBM|54=1|60=" TS "|40=1|" TRL, 1, 11));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=IBM|60=" TS "|40=1|" TRL, 1, 54));
        CHECK_(REJ(d, H44 "35=1|" HDR TRL, 1, 112));
        CHECK_(REJ(d, H44 "35=A|" HDR "98=0|" TRL, 1, 108));
        CHECK_(REJ(d, H44 "35=2|" HDR "7=1|" TRL, 1, 16));
        /* Header fields. */
        CHECK_(REJ(d, H44 "35=0|56=EXEC|34=2|52=" TS "|" TRL, 1, 49));
        CHECK_(REJ(d, H44 "35=0|49=C|56=EXEC|52=" TS "|" TRL, 1, 34));
        CHECK_(REJ(d, H44 "35=0|49=C|56=EXEC|34=2|" TRL, 1, 52));
        CHECK_(REJ(d, H44 "35=V|" HDR "262=R1|263=1|264=0|146=1|55=IBM|" TRL, 1, 267));
    });
end:;
}

FL_TEST(test_required_in_group_entry)
{
    struct fl_dict *b = builtin("FIX.4.2"), *x = have_shared() ? load("FIX42") : NULL;
    /* FIX.4.2 market data entries need MDEntryPx. */
    static const char bad[] = "8=FIX.4.2|9=1|35=W|" HDR
                              "55=IBM|268=2|269=0|270=1.5|271=100|269=1|271=100|" TRL;
    static const char good[] = "8=FIX.4.2|9=1|35=W|" HDR
                               "55=IBM|268=2|269=0|270=1.5|271=100|269=1|270=2|271=100|" TRL;
    FL_CHECK(REJ(b, bad, 1, 270));
    FL_CHECK(result.field_index == 12); /* the entry's delimiter */
    FL_CHECK(OK_(b, good));
    if (x) {
        FL_CHECK(REJ(x, bad, 1, 270));
        FL_CHECK(OK_(x, good));
        /* An entry must begin with its delimiter (Symbol in the 4.2 NoRelatedSym). */
        FL_CHECK(REJ(x, "8=FIX.4.2|9=1|35=V|" HDR "262=R|263=0|264=1|267=1|269=0|146=1|65=x|"
                        TRL, 15, 65));
    }
end:
    fl_dict_free(b);
    fl_dict_free(x);
}

FL_TEST(test_tag_without_value)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=0|" HDR "112=|" TRL, 4, 112));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=|54=1|60=" TS "|40=1|" TRL, 4, 55));
    });
end:;
}

FL_TEST(test_value_out_of_range)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=A|" HDR "98=9|108=30|" TRL, 5, 98));
        CHECK_(REJ(d, H44 "35=V|" HDR "262=R|263=7|264=0|267=1|269=0|146=1|55=I|" TRL, 5, 263));
        CHECK_(REJ(d, H44 "35=3|" HDR "45=1|385=X|" TRL, 2, 385));
    });
    if (have_shared()) {
        struct fl_dict *x = load("FIX44");
        int ok = REJ(x, H44 "35=D|" HDR "11=A|55=IBM|54=Z|60=" TS "|40=1|" TRL, 5, 54) &&
                 REJ(x, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|18=1 *|" TRL, 5, 18) &&
                 REJ(x, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|18=1  G|" TRL, 5, 18) &&
                 REJ(x, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|18=G |" TRL, 5, 18) &&
                 OK_(x, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|18=G|" TRL) &&
                 /* An enum inside a group entry. */
                 REJ(x, H44 "35=D|" HDR "11=A|453=1|448=P|447=D|452=999|55=IBM|54=1|60=" TS
                            "|40=1|" TRL, 5, 452);
        fl_dict_free(x);
        FL_CHECK(ok);
    }
    /* The built-in application enums name common values only: others pass. */
    struct fl_dict *b = builtin("FIX.4.4");
    FL_CHECK(OK_(b, H44 "35=D|" HDR "11=A|55=IBM|54=Z|60=" TS "|40=1|" TRL));
    fl_dict_free(b);
end:;
}

FL_TEST(test_incorrect_data_format)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|38=abc|" TRL, 6, 38));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=2024|40=1|" TRL, 6, 60));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=IBM|54=12|60=" TS "|40=1|" TRL, 6, 54));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|44=1,5|" TRL, 6, 44));
        CHECK_(REJ(d, H44 "35=A|" HDR "98=0|108=x|" TRL, 6, 108));
        CHECK_(REJ(d, H44 "35=0|49=C|56=E|34=-2|52=" TS "|" TRL, 6, 34));
        CHECK_(REJ(d, H44 "35=0|" HDR "43=X|" TRL, 6, 43));
        CHECK_(REJ(d, H44 "35=0|49=C|56=E|34=2|52=20241301-00:00:00|" TRL, 6, 52));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=x|55=IBM|54=1|60=" TS "|40=1|" TRL, 6, 453));
    });
end:;
}

/* One field per data type, to check every format rule. */
static const char types_xml[] =
    "<fix type='FIX' major='4' minor='4'>\n"
    " <header><field name='BeginString' required='Y'/><field name='BodyLength' required='Y'/>\n"
    "  <field name='MsgType' required='Y'/></header>\n"
    " <trailer><field name='CheckSum' required='Y'/></trailer>\n"
    " <messages><message name='Types' msgtype='U1' msgcat='app'>\n"
    "  <field name='FInt'/><field name='FLength'/><field name='FSeqNum'/>\n"
    "  <field name='FNumInGroup'/><field name='FTagNum'/><field name='FDay'/>\n"
    "  <field name='FFloat'/><field name='FPrice'/><field name='FQty'/><field name='FAmt'/>\n"
    "  <field name='FPct'/><field name='FPxOff'/><field name='FChar'/><field name='FBool'/>\n"
    "  <field name='FTs'/><field name='FTime'/><field name='FDate'/><field name='FMkt'/>\n"
    "  <field name='FMonthYear'/><field name='FTzTime'/><field name='FTzTs'/>\n"
    "  <field name='FLocalTime'/><field name='FString'/><field name='FMulti'/>\n"
    "  <field name='FMultiChar'/><field name='FEnumInt'/><field name='FOdd'/>\n"
    "  <field name='FOldDate'/><field name='FOldTime'/><field name='FMultiStr'/>\n"
    " </message></messages>\n"
    " <fields>\n"
    "  <field number='8' name='BeginString' type='STRING'/>\n"
    "  <field number='9' name='BodyLength' type='LENGTH'/>\n"
    "  <field number='35' name='MsgType' type='STRING'/>\n"
    "  <field number='10' name='CheckSum' type='STRING'/>\n"
    "  <field number='6001' name='FInt' type='INT'/>\n"
    "  <field number='6002' name='FLength' type='LENGTH'/>\n"
    "  <field number='6003' name='FSeqNum' type='SEQNUM'/>\n"
    "  <field number='6004' name='FNumInGroup' type='NUMINGROUP'/>\n"
    "  <field number='6005' name='FTagNum' type='TAGNUM'/>\n"
    "  <field number='6006' name='FDay' type='DAYOFMONTH'/>\n"
    "  <field number='6007' name='FFloat' type='FLOAT'/>\n"
    "  <field number='6008' name='FPrice' type='PRICE'/>\n"
    "  <field number='6009' name='FQty' type='QTY'/>\n"
    "  <field number='6010' name='FAmt' type='AMT'/>\n"
    "  <field number='6011' name='FPct' type='PERCENTAGE'/>\n"
    "  <field number='6012' name='FPxOff' type='PRICEOFFSET'/>\n"
    "  <field number='6013' name='FChar' type='CHAR'/>\n"
    "  <field number='6014' name='FBool' type='BOOLEAN'/>\n"
    "  <field number='6015' name='FTs' type='UTCTIMESTAMP'/>\n"
    "  <field number='6016' name='FTime' type='UTCTIMEONLY'/>\n"
    "  <field number='6017' name='FDate' type='UTCDATEONLY'/>\n"
    "  <field number='6018' name='FMkt' type='LOCALMKTDATE'/>\n"
    "  <field number='6019' name='FMonthYear' type='MONTHYEAR'/>\n"
    "  <field number='6020' name='FTzTime' type='TZTIMEONLY'/>\n"
    "  <field number='6021' name='FTzTs' type='TZTIMESTAMP'/>\n"
    "  <field number='6022' name='FLocalTime' type='LOCALMKTTIME'/>\n"
    "  <field number='6023' name='FString' type='STRING'/>\n"
    "  <field number='6024' name='FMulti' type='MULTIPLEVALUESTRING'>\n"
    "   <value enum='A' description='AY'/><value enum='B' description='BE'/></field>\n"
    "  <field number='6025' name='FMultiChar' type='MULTIPLECHARVALUE'>\n"
    "   <value enum='X' description='EX'/><value enum='Y' description='WHY'/></field>\n"
    "  <field number='6026' name='FEnumInt' type='INT'>\n"
    "   <value enum='1' description='ONE'/><value enum='10' description='TEN'/>\n"
    "   <value enum='100' description='HUNDRED'/></field>\n"
    "  <field number='6027' name='FOdd' type='SOMETHINGNEW'/>\n"
    "  <field number='6028' name='FOldDate' type='UTCDATE'/>\n"
    "  <field number='6029' name='FOldTime' type='TIME'/>\n"
    "  <field number='6030' name='FMultiStr' type='MULTIPLESTRINGVALUE'>\n"
    "   <value enum='AB' description='AB'/><value enum='CDE' description='CDE'/></field>\n"
    " </fields>\n"
    "</fix>\n";

FL_TEST(test_type_formats)
{
    static const struct {
        uint32_t tag;
        const char *value;
        int reason; /* 0: valid */
    } cases[] = {
        {6001, "-12", 0}, {6001, "0", 0}, {6001, "1.5", 6}, {6001, "12a", 6},
        {6001, "-", 6}, {6001, "99999999999999999999", 6},
        {6002, "0", 0}, {6002, "-1", 6}, {6003, "7", 0}, {6003, "x", 6},
        {6004, "3", 0}, {6004, "-3", 6}, {6005, "35", 0}, {6005, "0", 6},
        {6006, "31", 0}, {6006, "1", 0}, {6006, "32", 6}, {6006, "0", 6},
        {6007, "-1.25", 0}, {6007, "1.2.3", 6}, {6008, "100", 0}, {6008, ".5", 0},
        {6008, "1e5", 6}, {6009, "10.", 0}, {6009, "abc", 6}, {6010, "-0.01", 0},
        {6011, "12.5", 0}, {6012, "-", 6}, {6012, "-3", 0},
        {6008, "123456789012345678901234.5", 0},
        {6013, "A", 0}, {6013, "AB", 6}, {6014, "Y", 0}, {6014, "N", 0}, {6014, "y", 6},
        {6015, "20240229-23:59:60.123456", 0}, {6015, "20240102-10:20:30", 0},
        {6015, "20230229-10:00:00", 6}, {6015, "20240102 10:20:30", 6},
        {6015, "20240102-10:20:30.", 6},
        {6016, "23:59:59.999", 0}, {6016, "24:00:00", 6}, {6016, "10:20", 6},
        {6017, "20241231", 0}, {6017, "20241301", 6}, {6018, "19991231", 0},
        {6018, "1999123", 6}, {6019, "202401", 0}, {6019, "20240115", 0},
        {6019, "202401w2", 0}, {6019, "202413", 6}, {6019, "202401w6", 6},
        {6019, "2024011", 6}, {6020, "07:39Z", 0}, {6020, "02:39-05", 0},
        {6020, "15:39:07.123+05:30", 0}, {6020, "15:39", 0}, {6020, "15:39+5", 6},
        {6020, "25:00Z", 6}, {6020, "15:39:07.Z", 6}, {6021, "20060901-07:39Z", 0},
        {6021, "20060901-07:39+25", 6}, {6021, "20060931-07:39Z", 6},
        {6022, "10:20:30", 0}, {6022, "10:20", 6}, {6023, "any thing", 0},
        {6024, "A B", 0}, {6024, "B", 0}, {6024, "A C", 5}, {6024, "A  B", 5},
        {6024, " A", 5}, {6025, "X Y", 0}, {6025, "Z", 5}, {6026, "10", 0},
        {6026, "100", 0}, {6026, "2", 5}, {6026, "x", 6}, {6027, "whatever", 0},
        {6028, "20240101", 0}, {6028, "2024-01-01", 6}, {6029, "20240101-00:00:00", 0},
        {6029, "00:00:00", 6}, {6030, "AB CDE", 0}, {6030, "AB CD", 5},
        /* values of up to 8 bytes, checked a word at a time */
        {6001, "-1234567", 0}, {6001, "12345678", 0}, {6001, "--1", 6}, {6001, "12-", 6},
        {6001, "+1", 6}, {6001, "1 ", 6}, {6002, "12345678", 0}, {6002, "1234567-", 6},
        {6002, "1/", 6}, {6002, ":", 6}, {6008, ".", 6}, {6008, "-.", 6}, {6008, "-.5", 0},
        {6008, "1-2", 6}, {6008, "1234.678", 0}, {6008, "1234567.", 0},
        {6008, "12.4.678", 6}, {6008, "0.-1", 6}, {6008, "-", 6}, {6008, "--1", 6},
        {6008, "1/2", 6}, {6008, "1:2", 6}, {6008, "\x7f", 6}, {6026, "-10", 5},
        {6026, "10 ", 6}, {6026, "1000", 5}, {6026, "010", 5},
    };
    struct fl_dict *d = NULL;
    char err[256], text[256];
    int bad = 0;
    FL_CHECK(fl_dict_load_buffer(types_xml, sizeof types_xml - 1, "types.xml", &d, err,
                                 sizeof err) == FL_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "8=FIX.4.4|9=1|35=U1|%u=%s|10=000|", cases[i].tag,
                 cases[i].value);
        bad += !expect(d, NULL, text, cases[i].reason ? FL_VERDICT_REJECT : FL_VERDICT_OK,
                       cases[i].reason, cases[i].tag);
    }
    FL_CHECK_INT(bad, 0);
end:
    fl_dict_free(d);
}

FL_TEST(test_tag_appears_more_than_once)
{
    BOTH_44({
        /* 14h: a body tag outside any group. */
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|21=1|40=1|40=2|54=1|38=200|55=INTC|60=" TS "|" TRL,
                   13, 40));
        CHECK_(REJ(d, H44 "35=0|49=C|49=D|56=E|34=2|52=" TS "|" TRL, 13, 49));
        /* A member twice in one group entry. */
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=1|448=P|447=D|447=D|55=IBM|54=1|60=" TS
                          "|40=1|" TRL, 13, 447));
    });
end:;
}

FL_TEST(test_incorrect_num_in_group)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=3|448=P1|448=P2|55=IBM|54=1|60=" TS "|40=1|" TRL,
                   16, 453));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=1|448=P1|448=P2|55=IBM|54=1|60=" TS "|40=1|" TRL,
                   16, 453));
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=2|55=IBM|54=1|60=" TS "|40=1|" TRL, 16, 453));
        CHECK_(OK_(d, H44 "35=D|" HDR "11=A|453=0|55=IBM|54=1|60=" TS "|40=1|" TRL));
        /* Nested: one sub-entry announced, two present. */
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=1|448=P1|802=1|523=S1|523=S2|55=IBM|54=1|60=" TS
                          "|40=1|" TRL, 16, 802));
        CHECK_(OK_(d, H44 "35=D|" HDR "11=A|453=1|448=P1|802=2|523=S1|523=S2|55=IBM|54=1|60=" TS
                          "|40=1|" TRL));
    });
    if (have_shared()) {
        /* 14i: FIX.4.2 NoTradingSessions announced 3, two present. */
        struct fl_dict *x = load("FIX42");
        int ok = REJ(x, "8=FIX.4.2|9=1|35=D|" HDR "11=ID|21=1|40=1|54=1|38=200.00|55=INTC|386=3|"
                        "336=PRE-OPEN|336=AFTER-HOURS|60=" TS "|" TRL, 16, 386);
        fl_dict_free(x);
        FL_CHECK(ok);
    }
end:;
}

FL_TEST(test_group_fields_out_of_order)
{
    struct fl_validate_opts o;
    fl_validate_opts_init(&o);
    BOTH_44({
        /* The entry does not start with its delimiter (PartyID). */
        CHECK_(REJ(d, H44 "35=D|" HDR "11=A|453=1|447=D|448=P|452=3|55=IBM|54=1|60=" TS "|40=1|"
                          TRL, 15, 447));
        /* Members after the delimiter out of definition order: accepted unless strict. */
        CHECK_(OK_(d, H44 "35=D|" HDR "11=A|453=1|448=P|452=3|447=D|55=IBM|54=1|60=" TS "|40=1|"
                          TRL));
        o.strict_group_order = 1;
        CHECK_(expect(d, &o, H44 "35=D|" HDR "11=A|453=1|448=P|452=3|447=D|55=IBM|54=1|60=" TS
                                 "|40=1|" TRL, FL_VERDICT_REJECT, 15, 447));
        CHECK_(expect(d, &o, nos44, FL_VERDICT_OK, 0, 0));
        o.strict_group_order = 0;
    });
end:;
}

FL_TEST(test_tag_out_of_order)
{
    BOTH_44({
        /* 14g: every body tag first, then one body tag first. */
        CHECK_(REJ(d, H44 "35=D|11=id|21=3|40=1|54=1|55=MSFT|60=" TS "|34=2|49=TW|52=" TS
                          "|56=ISLD|" TRL, 14, 34));
        CHECK_(REJ(d, H44 "35=D|55=MSFT|34=3|49=TW|52=" TS "|56=ISLD|11=id|21=3|40=1|54=1|60="
                          TS "|" TRL, 14, 34));
        /* A body field after the trailer began. */
        CHECK_(REJ(d, H44 "35=0|" HDR "93=3|89=abc|58=x|" TRL, 14, 58));
        CHECK_(OK_(d, H44 "35=0|" HDR "93=3|89=a|c|" TRL));
    });
end:;
}

FL_TEST(test_msg_type)
{
    struct fl_validate_opts session;
    fl_validate_opts_init(&session);
    session.level = FL_VALIDATE_LEVEL_SESSION;
    BOTH_44({
        /* 2q: not a MsgType at all. */
        CHECK_(REJ(d, H44 "35=*|" HDR TRL, 11, 35));
        CHECK_(expect(d, &session, H44 "35=*|" HDR TRL, FL_VERDICT_REJECT, 11, 35));
        /* 2r: a well-formed MsgType this dictionary does not define. */
        CHECK_(expect(d, NULL, H44 "35=ZZ|" HDR TRL, FL_VERDICT_BUSINESS_REJECT, 3, 35));
        CHECK_(strcmp(result.text, "Unsupported Message Type") == 0);
        CHECK_(expect(d, NULL, H44 "35=U7|" HDR TRL, FL_VERDICT_BUSINESS_REJECT, 3, 35));
        CHECK_(expect(d, &session, H44 "35=ZZ|" HDR TRL, FL_VERDICT_OK, 0, 0));
        /* The header is still checked first. */
        CHECK_(REJ(d, H44 "35=ZZ|56=E|34=2|52=" TS "|" TRL, 1, 49));
        CHECK_(REJ(d, H44 "35=|" HDR TRL, 4, 35));
    });
    /* FIX.4.0 and 4.1 have no BusinessMessageReject. */
    struct fl_dict *b40 = builtin("FIX.4.0");
    FL_CHECK(REJ(b40, "8=FIX.4.0|9=1|35=ZZ|" HDR TRL, 11, 35));
    FL_CHECK(strcmp(result.text, "Invalid MsgType") == 0);
    fl_dict_free(b40);
    if (have_shared()) {
        struct fl_dict *x = load("FIX40");
        int ok = REJ(x, "8=FIX.4.0|9=1|35=ZZ|" HDR TRL, 11, 35);
        fl_dict_free(x);
        FL_CHECK(ok);
    }
end:;
}

FL_TEST(test_levels)
{
    struct fl_validate_opts o;
    fl_validate_opts_init(&o);
    BOTH_44({
        o.level = FL_VALIDATE_LEVEL_OFF;
        CHECK_(expect(d, &o, H44 "35=*|" TRL, FL_VERDICT_OK, 0, 0));
        o.level = FL_VALIDATE_LEVEL_SESSION;
        /* Application bodies are not checked at the session level ... */
        CHECK_(expect(d, &o, H44 "35=D|" HDR "11=A|54=12|9999=1|" TRL, FL_VERDICT_OK, 0, 0));
        /* ... their header and trailer are, and admin messages entirely. */
        CHECK_(expect(d, &o, H44 "35=D|56=E|34=2|52=" TS "|11=A|" TRL, FL_VERDICT_REJECT, 1, 49));
        CHECK_(expect(d, &o, H44 "35=D|" HDR "11=A|34=3|" TRL, FL_VERDICT_REJECT, 14, 34));
        CHECK_(expect(d, &o, H44 "35=0|" HDR "55=IBM|" TRL, FL_VERDICT_REJECT, 2, 55));
        CHECK_(expect(d, &o, H44 "35=A|" HDR "98=0|" TRL, FL_VERDICT_REJECT, 1, 108));
        o.level = FL_VALIDATE_LEVEL_FULL;
        CHECK_(expect(d, &o, H44 "35=D|" HDR "11=A|54=12|" TRL, FL_VERDICT_REJECT, 6, 54));
    });
end:;
}

FL_TEST(test_parse_problems)
{
    BOTH_44({
        CHECK_(REJ(d, H44 "35=0|" HDR "95=x|96=abc|" TRL, 6, 95));
        CHECK_(REJ(d, H44 "35=0|" HDR "95=5|96=abc|" TRL, 6, 96));
        CHECK_(REJ(d, H44 "35=0|" HDR, FL_REJECT_OTHER, 0));
        CHECK_(REJ(d, H44 "35=0|" HDR "58|" TRL, 0, 0));
    });
end:;
}

FL_TEST(test_fixt_application_versions)
{
    struct fl_dict *t = NULL, *app = NULL, *a44 = NULL, *bt = NULL;
    struct fl_validate_opts o;
    int rc;
    fl_validate_opts_init(&o);
#define HT "8=FIXT.1.1|9=1|"
    static const char nos[] = HT "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|38=1|40=1|1028=Y|" TRL;
    /* The built-in FIXT.1.1 dictionary alone: session layer plus open application messages. */
    bt = builtin("FIXT.1.1");
    FL_CHECK(OK_(bt, nos));
    FL_CHECK(OK_(bt, HT "35=A|" HDR "98=0|108=30|1137=9|" TRL));
    FL_CHECK(REJ(bt, HT "35=A|" HDR "98=0|108=30|" TRL, 1, 1137));
    FL_CHECK(OK_(bt, HT "35=8|1128=9|" HDR "37=O|17=E|150=0|39=0|54=1|151=1|14=0|" TRL));
    if (!have_shared())
        goto end;
    t = load("FIXT11");
    app = load("FIX50SP2");
    a44 = load("FIX44");
    FL_CHECK(t && app && a44);
    /* A FIX 5.x dictionary has no header: validate through a FIXT one. */
    FL_CHECK(validate_text(app, NULL, nos, &rc) && rc == FL_EINVAL);
    FL_CHECK(fl_dict_add_app(t, NULL, app) == FL_OK);
    FL_CHECK(fl_dict_add_app(t, NULL, a44) == FL_OK);
    FL_CHECK(OK_(t, HT "35=A|" HDR "98=0|108=30|1137=9|" TRL));
    FL_CHECK(REJ(t, HT "35=A|" HDR "98=0|108=30|" TRL, 1, 1137));
    FL_CHECK(OK_(t, HT "35=0|" HDR TRL));
    /* ManualOrderIndicator(1028) exists in FIX.5.0SP2, not in FIX.4.4. */
    FL_CHECK(OK_(t, nos)); /* no ApplVerID, no default: the first attached (5.0SP2) */
    FL_CHECK(OK_(t, HT "35=D|1128=9|" HDR "11=A|55=IBM|54=1|60=" TS "|38=1|40=1|1028=Y|" TRL));
    FL_CHECK(REJ(t, HT "35=D|1128=6|" HDR "11=A|55=IBM|54=1|60=" TS "|38=1|40=1|1028=Y|" TRL,
                 0, 1028));
    FL_CHECK(REJ(t, HT "35=D|1128=5|" HDR "11=A|55=IBM|54=1|60=" TS "|40=1|" TRL, 18, 1128));
    o.default_appl_ver_id = "6";
    FL_CHECK(expect(t, &o, nos, FL_VERDICT_REJECT, 0, 1028));
    o.default_appl_ver_id = "9";
    FL_CHECK(expect(t, &o, nos, FL_VERDICT_OK, 0, 0));
    /* With an application attached, the built-in transport's open NewOrderSingle gives way to
     * the application's closed one. */
    FL_CHECK(fl_dict_add_app(bt, "9", app) == FL_OK);
    FL_CHECK(REJ(bt, HT "35=D|" HDR "11=A|55=IBM|54=1|60=" TS "|38=1|40=1|9999=x|" TRL, 0, 9999));
    FL_CHECK(OK_(bt, nos));
end:
    fl_dict_free(t);
    fl_dict_free(app);
    fl_dict_free(a44);
    fl_dict_free(bt);
#undef HT
}

FL_TEST(test_group_open_with_dict_defs)
{
    struct fl_dict *d = builtin("FIX.4.4"), *x = have_shared() ? load("FIX44") : NULL;
    struct fl_group g, sub;
    struct fl_group_entry e;
    for (int k = 0; k < 2; k++) {
        struct fl_dict *dd = k ? x : d;
        if (!dd)
            continue;
        FL_CHECK(OK_(dd, nos44));
        const struct fl_group_def *def = fl_dict_group(dd, "D", 1, 453);
        FL_CHECK(def != NULL);
        FL_CHECK(fl_group_open(&g, &msg, def, 0, msg.nfields) == FL_OK);
        FL_CHECK_INT(g.declared, 2);
        FL_CHECK_INT(g.found, 2);
        FL_CHECK(fl_group_entry(&g, 0, &e) == FL_OK);
        FL_CHECK(fl_group_open(&sub, &msg, def->subgroups[0], e.begin, e.end) == FL_OK);
        FL_CHECK_INT(sub.found, 1);
        FL_CHECK(fl_group_entry(&g, 1, &e) == FL_OK);
        FL_CHECK(fl_group_entry_find(&g, &e, 452) >= 0);
        FL_CHECK_STRN(fl_msg_value(&msg, (uint32_t)fl_group_entry_find(&g, &e, 452)),
                      msg.fields[fl_group_entry_find(&g, &e, 452)].len, "12");
    }
end:
    fl_dict_free(d);
    fl_dict_free(x);
}

static const char nested_xml[] =
    "<fix type='FIX' major='4' minor='4'>\n"
    " <header><field name='BeginString' required='Y'/><field name='BodyLength' required='Y'/>\n"
    "  <field name='MsgType' required='Y'/></header>\n"
    " <trailer><field name='CheckSum' required='Y'/></trailer>\n"
    " <messages><message name='Deep' msgtype='U1' msgcat='app'>\n"
    "  <group name='NoA' required='Y'><field name='A1' required='Y'/>\n"
    "   <field name='A2' required='Y'/><component name='BComp' required='N'/></group>\n"
    "  <field name='Last' required='N'/>\n"
    " </message></messages>\n"
    " <components><component name='BComp'>\n"
    "  <group name='NoB' required='N'><field name='B1' required='Y'/>\n"
    "   <group name='NoC' required='Y'><field name='C1' required='Y'/>\n"
    "    <field name='C2' required='Y'/></group></group>\n"
    " </component></components>\n"
    " <fields>\n"
    "  <field number='8' name='BeginString' type='STRING'/>\n"
    "  <field number='9' name='BodyLength' type='LENGTH'/>\n"
    "  <field number='35' name='MsgType' type='STRING'/>\n"
    "  <field number='10' name='CheckSum' type='STRING'/>\n"
    "  <field number='5001' name='NoA' type='NUMINGROUP'/>\n"
    "  <field number='5002' name='A1' type='STRING'/>\n"
    "  <field number='5003' name='A2' type='STRING'/>\n"
    "  <field number='5004' name='NoB' type='NUMINGROUP'/>\n"
    "  <field number='5005' name='B1' type='STRING'/>\n"
    "  <field number='5006' name='NoC' type='NUMINGROUP'/>\n"
    "  <field number='5007' name='C1' type='STRING'/>\n"
    "  <field number='5008' name='C2' type='INT'/>\n"
    "  <field number='5009' name='Last' type='STRING'/>\n"
    " </fields>\n"
    "</fix>\n";

FL_TEST(test_nested_group_rules)
{
    struct fl_dict *d = NULL;
    char err[256];
    FL_CHECK(fl_dict_load_buffer(nested_xml, sizeof nested_xml - 1, "nested.xml", &d, err,
                                 sizeof err) == FL_OK);
#define N "8=FIX.4.4|9=1|35=U1|"
    FL_CHECK(OK_(d, N "5001=2|5002=a|5003=b|5004=1|5005=c|5006=2|5007=d|5008=1|5007=e|5008=2|"
                      "5002=f|5003=g|5009=z|" TRL));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5004=1|5005=c|5006=1|5007=d|5008=1|" TRL, 1, 5003));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5003=b|5004=1|5005=c|" TRL, 1, 5006));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5003=b|5004=1|5005=c|5006=1|5007=d|" TRL, 1, 5008));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5003=b|5004=1|5005=c|5006=1|5007=d|5008=x|" TRL, 6, 5008));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5003=b|5004=1|5005=c|5006=1|5007=d|5008=1|5007=e|5008=2|"
                      TRL, 16, 5006));
    FL_CHECK(REJ(d, N "5001=1|5002=a|5003=b|5004=1|5005=c|5006=1|5008=1|5007=d|" TRL, 15, 5008));
    FL_CHECK(REJ(d, N "5009=z|" TRL, 1, 5001));
    /* A field of an outer entry after a nested group ends the nested group. */
    FL_CHECK(OK_(d, N "5001=1|5002=a|5004=1|5005=c|5006=1|5007=d|5008=1|5003=b|" TRL));
#undef N
end:
    fl_dict_free(d);
}

FL_TEST(test_validator_reuse_and_wrap)
{
    struct fl_dict *d = builtin("FIX.4.4");
    struct fl_validator v2;
    int rc;
    fl_validator_init(&v2);
    FL_CHECK(OK_(d, nos44));
    /* Near the end of the generation counter: the scratch restarts and stays correct. */
    validator.gen = UINT32_MAX - 3;
    FL_CHECK(OK_(d, nos44));
    FL_CHECK(validator.gen < 100);
    validator.gen = UINT32_MAX - 40;
    for (int i = 0; i < 20; i++) {
        FL_CHECK(OK_(d, nos44));
        FL_CHECK(REJ(d, H44 "35=D|" HDR "11=A|21=1|40=1|40=2|54=1|55=I|60=" TS "|" TRL, 13, 40));
    }
    /* A fresh validator grows on first use; bad arguments are refused. */
    FL_CHECK(validate_text(d, NULL, nos44, &rc) && rc == FL_OK);
    FL_CHECK(fl_dict_validate(d, &msg, NULL, &v2, &result) == FL_OK);
    FL_CHECK(v2.cap > 0);
    FL_CHECK(fl_dict_validate(NULL, &msg, NULL, &v2, &result) == FL_EINVAL);
    FL_CHECK(fl_dict_validate(d, &msg, NULL, NULL, &result) == FL_EINVAL);
end:
    fl_validator_release(&v2);
    fl_dict_free(d);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    fl_validator_init(&validator);
    fl_msg_init(&msg);
    FL_RUN(test_valid_messages);
    FL_RUN(test_invalid_tag_number);
    FL_RUN(test_tag_not_defined_for_message);
    FL_RUN(test_required_tag_missing);
    FL_RUN(test_required_in_group_entry);
    FL_RUN(test_tag_without_value);
    FL_RUN(test_value_out_of_range);
    FL_RUN(test_incorrect_data_format);
    FL_RUN(test_type_formats);
    FL_RUN(test_tag_appears_more_than_once);
    FL_RUN(test_incorrect_num_in_group);
    FL_RUN(test_group_fields_out_of_order);
    FL_RUN(test_tag_out_of_order);
    FL_RUN(test_msg_type);
    FL_RUN(test_levels);
    FL_RUN(test_parse_problems);
    FL_RUN(test_fixt_application_versions);
    FL_RUN(test_group_open_with_dict_defs);
    FL_RUN(test_nested_group_rules);
    FL_RUN(test_validator_reuse_and_wrap);
    fl_validator_release(&validator);
    fl_msg_release(&msg);
    return FL_TEST_SUMMARY();
}
