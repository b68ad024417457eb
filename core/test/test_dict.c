/* fixlua — tests for the dictionary loader, the built-in dictionary and the lookups.
 *
 * The nine QuickFIX dictionaries under FL_SHARED_DIR/dictionaries are loaded and spot-checked
 * (skipped with a note when that folder is absent); broken dictionaries written to /tmp must
 * fail with the right "FILE:LINE: message"; the built-in table is cross-checked against the
 * XML files so its tag numbers, names, enum values and required fields stay right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl_dict.h"
#include "fl_dict_impl.h"
#include "fl_tags.h"
#include "fl_test.h"

#define DICT_DIR FL_SHARED_DIR "/dictionaries/"

static const char *const shared_names[] = {
    "FIX40", "FIX41", "FIX42", "FIX43", "FIX44", "FIX50", "FIX50SP1", "FIX50SP2", "FIXT11",
};

static int have_shared(void)
{
    static int state = -1;
    if (state < 0) {
        FILE *fp = fopen(DICT_DIR "FIX44.xml", "rb");
        state = fp != NULL;
        if (fp)
            fclose(fp);
        else
            printf("note: %s not found, shared dictionary tests skipped\n", DICT_DIR);
    }
    return state;
}

/* Loads FL_SHARED_DIR/dictionaries/NAME.xml; NULL (and a message) on failure. */
static struct fl_dict *load_shared(const char *name)
{
    char path[512], err[512];
    struct fl_dict *d = NULL;
    snprintf(path, sizeof path, DICT_DIR "%s.xml", name);
    if (fl_dict_load_file(path, &d, err, sizeof err) != FL_OK)
        fprintf(stderr, "  load %s: %s\n", path, err);
    return d;
}

static int member_required(const struct fl_dict_layout *l, uint32_t tag)
{
    const struct fl_dict_member *m = dict_layout_find(l, tag);
    return m ? (int)m->required : -1;
}

FL_TEST(test_load_all_shared)
{
    struct fl_dict *d = NULL;
    if (!have_shared())
        return;
    for (size_t i = 0; i < sizeof shared_names / sizeof shared_names[0]; i++) {
        d = load_shared(shared_names[i]);
        FL_CHECK(d != NULL);
        FL_CHECK(fl_dict_field_count(d) > 50);
        FL_CHECK(fl_dict_message_count(d) >= 8);
        /* Every group of every message resolves through fl_dict_group() by its count tag. */
        for (uint32_t k = 0; k < fl_dict_message_count(d); k++) {
            const struct fl_dict_message *m = fl_dict_message_at(d, k);
            FL_CHECK(fl_dict_message(d, m->msg_type, m->msg_type_len) == m);
            for (uint32_t g = 0; g < m->ngroups; g++) {
                const struct fl_group_def *def =
                    fl_dict_group(d, m->msg_type, m->msg_type_len, m->groups[g]->def.count_tag);
                FL_CHECK(def != NULL);
                FL_CHECK(def->count_tag == m->groups[g]->def.count_tag);
                FL_CHECK(def->delim_tag == def->members[0]);
            }
        }
        fl_dict_free(d);
        d = NULL;
    }
end:
    fl_dict_free(d);
}

FL_TEST(test_fix44_contents)
{
    struct fl_dict *d = NULL;
    const char *v;
    size_t vn;
    if (!have_shared())
        return;
    d = load_shared("FIX44");
    FL_CHECK(d != NULL);
    const struct fl_dict_info *in = fl_dict_info(d);
    FL_CHECK(strcmp(in->begin_string, "FIX.4.4") == 0);
    FL_CHECK(strcmp(in->version, "FIX.4.4") == 0);
    FL_CHECK(strcmp(in->appl_ver_id, "6") == 0);
    FL_CHECK(in->transport == 0 && in->major == 4 && in->minor == 4);

    const struct fl_dict_field *side = fl_dict_field_by_tag(d, 54);
    FL_CHECK(side != NULL);
    FL_CHECK(strcmp(side->name, "Side") == 0);
    FL_CHECK(side->type == FL_DICT_TYPE_CHAR);
    FL_CHECK(fl_dict_field_by_name(d, "Side", 4) == side);
    FL_CHECK(strcmp(fl_dict_enum_name(side, "1", 1), "BUY") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(side, "2", 1), "SELL") == 0);
    FL_CHECK(fl_dict_enum_name(side, "Z", 1) == NULL);
    FL_CHECK(fl_dict_enum_value(side, "SELL", 4, &v, &vn) == FL_OK);
    FL_CHECK_STRN(v, vn, "2");
    FL_CHECK(fl_dict_enum_value(side, "NOPE", 4, &v, &vn) == FL_ENOENT);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 40), "2", 1), "LIMIT") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 150), "F", 1), "TRADE") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 452), "12", 2), "EXECUTING_TRADER")
             == 0);
    FL_CHECK(fl_dict_field_by_tag(d, 38)->type == FL_DICT_TYPE_QTY);
    FL_CHECK(fl_dict_field_by_tag(d, 60)->type == FL_DICT_TYPE_UTCTIMESTAMP);
    FL_CHECK(fl_dict_field_by_tag(d, 18)->type == FL_DICT_TYPE_MULTIPLEVALUESTRING);
    FL_CHECK(fl_dict_field_by_tag(d, 5000) == NULL);
    FL_CHECK(fl_dict_field_by_name(d, "Sid", 3) == NULL);

    const struct fl_dict_message *nos = fl_dict_message(d, "D", 1);
    FL_CHECK(nos != NULL);
    FL_CHECK(strcmp(nos->name, "NewOrderSingle") == 0);
    FL_CHECK(!nos->admin && !nos->open);
    FL_CHECK(fl_dict_message_by_name(d, "NewOrderSingle", 14) == nos);
    /* Required: ClOrdID, Side, TransactTime, OrdType; Symbol (in the required Instrument
     * component) is not, nor is OrderQty (in the required OrderQtyData component). */
    FL_CHECK_INT(nos->body.nrequired, 4);
    FL_CHECK(member_required(&nos->body, 11) == 1);
    FL_CHECK(member_required(&nos->body, 54) == 1);
    FL_CHECK(member_required(&nos->body, 60) == 1);
    FL_CHECK(member_required(&nos->body, 40) == 1);
    FL_CHECK(member_required(&nos->body, 55) == 0);
    FL_CHECK(member_required(&nos->body, 38) == 0);
    FL_CHECK(member_required(&nos->body, 21) == 0);
    FL_CHECK(member_required(&nos->body, 448) == -1); /* in a group, not at the top */
    FL_CHECK(nos->body.members[0].tag == 11);

    /* Parties: NoPartyIDs(453) { PartyID PartyIDSource PartyRole NoPartySubIDs(802) { ... } } */
    const struct fl_group_def *parties = fl_dict_group(d, "D", 1, 453);
    FL_CHECK(parties != NULL);
    FL_CHECK_INT(parties->delim_tag, 448);
    FL_CHECK_INT(parties->nmembers, 4);
    FL_CHECK_INT(parties->members[3], 802);
    FL_CHECK_INT(parties->nsubgroups, 1);
    FL_CHECK_INT(parties->subgroups[0]->count_tag, 802);
    FL_CHECK_INT(parties->subgroups[0]->delim_tag, 523);
    FL_CHECK(fl_group_def_has(parties, 803));
    FL_CHECK(fl_dict_group(d, "D", 1, 802) == parties->subgroups[0]);
    FL_CHECK(strcmp(fl_dict_group_of(parties)->name, "NoPartyIDs") == 0);
    /* The same component reached from another message shares its group definition. */
    FL_CHECK(fl_dict_group(d, "8", 1, 453) == parties);
    FL_CHECK(fl_dict_group(d, NULL, 0, 453) != NULL);
    FL_CHECK(fl_dict_group(d, "D", 1, 9999) == NULL);
    /* NoRelatedSym is delimited by Symbol (first field of the Instrument component). */
    FL_CHECK_INT(fl_dict_group(d, "V", 1, 146)->delim_tag, 55);
    /* Groups with one count tag differ by message: NoMDEntries in W and in X. */
    FL_CHECK(fl_dict_group(d, "W", 1, 268)->delim_tag == 269);
    FL_CHECK(fl_dict_group(d, "X", 1, 268)->delim_tag == 279);

    const struct fl_dict_message *hdr = fl_dict_header(d);
    FL_CHECK(member_required(&hdr->body, 8) == 1);
    FL_CHECK(member_required(&hdr->body, 49) == 1);
    FL_CHECK(member_required(&hdr->body, 43) == 0);
    FL_CHECK(fl_dict_group(d, "0", 1, 627) != NULL); /* NoHops: header group */
    FL_CHECK(member_required(&fl_dict_trailer(d)->body, 10) == 1);
    FL_CHECK(fl_dict_message(d, "A", 1)->admin);
end:
    fl_dict_free(d);
}

FL_TEST(test_fixt_and_fix50)
{
    struct fl_dict *t = NULL, *app = NULL, *a44 = NULL, *f44 = NULL;
    if (!have_shared())
        return;
    t = load_shared("FIXT11");
    app = load_shared("FIX50SP2");
    a44 = load_shared("FIX44");
    FL_CHECK(t && app && a44);
    FL_CHECK(strcmp(fl_dict_info(t)->begin_string, "FIXT.1.1") == 0);
    FL_CHECK(fl_dict_info(t)->transport == 1);
    FL_CHECK(fl_dict_info(t)->appl_ver_id == NULL);
    FL_CHECK(member_required(&fl_dict_header(t)->body, 1128) == 0);
    FL_CHECK(member_required(&fl_dict_message(t, "A", 1)->body, 1137) == 1);
    FL_CHECK(fl_dict_group(t, "A", 1, 627) != NULL);

    FL_CHECK(strcmp(fl_dict_info(app)->version, "FIX.5.0SP2") == 0);
    FL_CHECK(strcmp(fl_dict_info(app)->appl_ver_id, "9") == 0);
    FL_CHECK(strcmp(fl_dict_info(app)->begin_string, "FIXT.1.1") == 0);
    FL_CHECK_INT(fl_dict_header(app)->body.nmembers, 0);
    FL_CHECK(fl_dict_field_by_tag(app, 50002) != NULL);

    /* A transport with two application versions. */
    FL_CHECK(fl_dict_message(t, "D", 1) == NULL);
    FL_CHECK(fl_dict_add_app(t, NULL, app) == FL_OK);
    FL_CHECK(fl_dict_add_app(t, "6", a44) == FL_OK);
    FL_CHECK(fl_dict_add_app(t, "9", a44) == FL_EINVAL);  /* taken */
    FL_CHECK(fl_dict_add_app(a44, "9", app) == FL_EINVAL); /* not a transport */
    FL_CHECK(fl_dict_add_app(t, "7", t) == FL_EINVAL);
    {
        struct fl_dict *bt = NULL;
        FL_CHECK(fl_dict_builtin("FIXT.1.1", &bt) == FL_OK);
        int rc = fl_dict_add_app(t, "7", bt); /* a transport is no application */
        fl_dict_free(bt);
        FL_CHECK(rc == FL_EINVAL);
    }
    FL_CHECK(fl_dict_app(t, "9", 1) == app);
    FL_CHECK(fl_dict_app(t, "6", 1) == a44);
    FL_CHECK(fl_dict_app(t, "8", 1) == NULL);
    FL_CHECK(fl_dict_message(t, "D", 1) == fl_dict_message(app, "D", 1));
    FL_CHECK(fl_dict_message(t, "A", 1) != fl_dict_message(app, "A", 1));
    FL_CHECK(fl_dict_field_by_name(t, "Side", 4) == fl_dict_field_by_name(app, "Side", 4));
    FL_CHECK(fl_dict_group(t, "D", 1, 453) == fl_dict_group(app, "D", 1, 453));
    /* The transport holds references: the application dictionaries outlive their owners. */
    f44 = a44;
    a44 = NULL;
    fl_dict_free(f44);
    fl_dict_free(app);
    app = NULL;
    FL_CHECK(strcmp(fl_dict_message(t, "D", 1)->name, "NewOrderSingle") == 0);
    FL_CHECK(fl_dict_ref(t) == t);
    fl_dict_free(t); /* drops the extra reference only */
    FL_CHECK(fl_dict_app(t, "6", 1) != NULL);
end:
    fl_dict_free(t);
    fl_dict_free(app);
    fl_dict_free(a44);
}

/* ---- hand-written dictionaries ---- */

static const char nested_xml[] =
    "<fix type='FIX' major='4' minor='4'>\n"                                     /* 1 */
    " <header><field name='BeginString' required='Y'/></header>\n"               /* 2 */
    " <trailer><field name='CheckSum' required='Y'/></trailer>\n"                /* 3 */
    " <messages>\n"                                                              /* 4 */
    "  <message name='Deep' msgtype='U1' msgcat='app'>\n"                        /* 5 */
    "   <group name='NoA' required='Y'>\n"                                       /* 6 */
    "    <component name='Lead' required='N'/>\n"                                /* 7 */
    "    <field name='A2' required='Y'/>\n"                                      /* 8 */
    "    <component name='BComp' required='N'/>\n"                               /* 9 */
    "   </group>\n"
    "   <component name='ReqComp' required='Y'/>\n"
    "   <component name='OptComp' required='N'/>\n"
    "  </message>\n"
    " </messages>\n"
    " <components>\n"
    "  <component name='BComp'>\n"
    "   <group name='NoB' required='N'>\n"
    "    <field name='B1' required='Y'/>\n"
    "    <component name='CComp' required='Y'/>\n"
    "   </group>\n"
    "  </component>\n"
    "  <component name='CComp'>\n"
    "   <group name='NoC' required='Y'><field name='C1' required='Y'/></group>\n"
    "  </component>\n"
    "  <component name='Lead'><field name='A1' required='Y'/></component>\n"
    "  <component name='ReqComp'><field name='R1' required='Y'/>"
    "<field name='R2' required='N'/></component>\n"
    "  <component name='OptComp'><field name='O1' required='Y'/></component>\n"
    " </components>\n"
    " <fields>\n"
    "  <field number='8' name='BeginString' type='STRING'/>\n"
    "  <field number='10' name='CheckSum' type='STRING'/>\n"
    "  <field number='5001' name='NoA' type='NUMINGROUP'/>\n"
    "  <field number='5002' name='A1' type='STRING'/>\n"
    "  <field number='5003' name='A2' type='STRING'/>\n"
    "  <field number='5004' name='NoB' type='NUMINGROUP'/>\n"
    "  <field number='5005' name='B1' type='STRING'/>\n"
    "  <field number='5006' name='NoC' type='NUMINGROUP'/>\n"
    "  <field number='5007' name='C1' type='STRING'/>\n"
    "  <field number='5008' name='R1' type='STRING'/>\n"
    "  <field number='5009' name='R2' type='STRING'/>\n"
    "  <field number='5010' name='O1' type='STRING'/>\n"
    "  <field number='250000' name='FarAway' type='WEIRDTYPE'>\n"
    "   <value enum='X' description='EX'/><value enum='A' description='AY'/>\n"
    "   <value enum='X' description='DUPLICATE'/><value enum='AB' description='LONG'/>\n"
    "  </field>\n"
    " </fields>\n"
    "</fix>\n";

FL_TEST(test_nested_components_and_groups)
{
    struct fl_dict *d = NULL;
    char err[256];
    FL_CHECK(fl_dict_load_buffer(nested_xml, sizeof nested_xml - 1, "nested.xml", &d, err,
                                 sizeof err) == FL_OK);
    const struct fl_dict_message *m = fl_dict_message(d, "U1", 2);
    FL_CHECK(m != NULL);
    /* Top level: NoA (required), R1 required (required component), R2 not, O1 not (its
     * component is optional). */
    FL_CHECK(member_required(&m->body, 5001) == 1);
    FL_CHECK(member_required(&m->body, 5008) == 1);
    FL_CHECK(member_required(&m->body, 5009) == 0);
    FL_CHECK(member_required(&m->body, 5010) == 0);
    /* NoA's first item is a component: its first field A1 delimits entries. A1 is not
     * required (optional component), A2 is. */
    const struct fl_group_def *a = fl_dict_group(d, "U1", 2, 5001);
    FL_CHECK(a != NULL);
    FL_CHECK_INT(a->delim_tag, 5002);
    FL_CHECK_INT(a->nmembers, 3);
    const struct fl_dict_group *ga = fl_dict_group_of(a);
    FL_CHECK(member_required(&ga->entry, 5002) == 0);
    FL_CHECK(member_required(&ga->entry, 5003) == 1);
    FL_CHECK(member_required(&ga->entry, 5004) == 0);
    /* Group in a component in a group, and again: three levels. */
    FL_CHECK_INT(a->nsubgroups, 1);
    const struct fl_group_def *b = a->subgroups[0];
    FL_CHECK_INT(b->count_tag, 5004);
    FL_CHECK_INT(b->nsubgroups, 1);
    const struct fl_group_def *c = b->subgroups[0];
    FL_CHECK_INT(c->count_tag, 5006);
    FL_CHECK_INT(c->delim_tag, 5007);
    FL_CHECK(fl_dict_group(d, "U1", 2, 5006) == c);
    FL_CHECK(member_required(&fl_dict_group_of(b)->entry, 5006) == 1);
    FL_CHECK(fl_group_def_has(a, 5007));
    FL_CHECK_INT(m->ngroups, 3);
    FL_CHECK(m->groups[0] == ga);
    /* A tag beyond the dense index, an unknown type name, a duplicated enum value. */
    const struct fl_dict_field *far = fl_dict_field_by_tag(d, 250000);
    FL_CHECK(far != NULL);
    FL_CHECK(far->type == FL_DICT_TYPE_UNKNOWN);
    FL_CHECK(strcmp(far->type_name, "WEIRDTYPE") == 0);
    FL_CHECK_INT(far->nenums, 3);
    FL_CHECK(strcmp(fl_dict_enum_name(far, "X", 1), "EX") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(far, "AB", 2), "LONG") == 0);
    FL_CHECK(far->char_enums == NULL);
    FL_CHECK(fl_dict_field_by_tag(d, 249999) == NULL);
    FL_CHECK(fl_dict_field_by_tag(d, 300000) == NULL);
    FL_CHECK(fl_dict_field_by_name(d, "FarAway", 7) == far);
end:
    fl_dict_free(d);
}

FL_TEST(test_type_names)
{
    FL_CHECK(fl_dict_type_from_name("PRICE", 5) == FL_DICT_TYPE_PRICE);
    FL_CHECK(fl_dict_type_from_name("UTCDATE", 7) == FL_DICT_TYPE_UTCDATEONLY);
    FL_CHECK(fl_dict_type_from_name("TIME", 4) == FL_DICT_TYPE_UTCTIMESTAMP);
    FL_CHECK(fl_dict_type_from_name("DATE", 4) == FL_DICT_TYPE_LOCALMKTDATE);
    FL_CHECK(fl_dict_type_from_name("PRIC", 4) == FL_DICT_TYPE_UNKNOWN);
    for (int t = 1; t < FL_DICT_TYPE__COUNT; t++) {
        const char *n = fl_dict_type_name((enum fl_dict_type)t);
        FL_CHECK(fl_dict_type_from_name(n, strlen(n)) == (enum fl_dict_type)t);
    }
    FL_CHECK(strcmp(fl_dict_type_name(FL_DICT_TYPE__COUNT), "UNKNOWN") == 0);
end:;
}

/* ---- broken dictionaries ---- */

/* Writes `xml` to a file in /tmp, loads it, and checks that loading fails with rc and an error
 * "PATH:LINE: ...what...". line 0 means no line in the message. */
static int expect_broken(const char *xml, int rc_expected, unsigned line, const char *what)
{
    char path[128], err[512], want[256];
    static int serial;
    snprintf(path, sizeof path, "/tmp/fl_test_dict_%d_%d.xml", (int)getpid(), ++serial);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    fputs(xml, fp);
    fclose(fp);
    struct fl_dict *d = (struct fl_dict *)path; /* must be overwritten with NULL */
    int rc = fl_dict_load_file(path, &d, err, sizeof err);
    remove(path);
    if (line)
        snprintf(want, sizeof want, "%s:%u: ", path, line);
    else
        snprintf(want, sizeof want, "%s: ", path);
    int ok = rc == rc_expected && d == NULL && strncmp(err, want, strlen(want)) == 0 &&
             strstr(err, what) != NULL;
    if (!ok)
        fprintf(stderr, "  rc=%d, error \"%s\", wanted \"%s...%s\"\n", rc, err, want, what);
    return ok;
}

#define HEAD "<fix type='FIX' major='4' minor='2'>\n"
#define FIELDS_OK                                                                           \
    " <fields>\n"                                                                           \
    "  <field number='8' name='BeginString' type='STRING'/>\n"                              \
    "  <field number='58' name='Text' type='STRING'/>\n"                                    \
    " </fields>\n"

FL_TEST(test_broken_files)
{
    FL_CHECK(expect_broken(HEAD " <header>\n  <field name='BeginString' required='Y'>\n"
                                " </header>\n</fix>\n",
                           FL_EFORMAT, 4, "malformed XML: mismatched tag"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message name='M' msgtype='U1'>\n"
                                "   <field name='Txet' required='Y'/>\n"
                                "  </message>\n </messages>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 4, "unknown field 'Txet'"));
    FL_CHECK(expect_broken(HEAD " <fields>\n"
                                "  <field number='58' name='Text' type='STRING'/>\n"
                                "  <field number='8' name='BeginString' type='STRING'/>\n"
                                "  <field number='58' name='Other' type='STRING'/>\n"
                                " </fields>\n</fix>\n",
                           FL_EFORMAT, 5, "duplicate field number 58: 'Other' (already 'Text'"));
    FL_CHECK(expect_broken(HEAD " <fields>\n"
                                "  <field number='58' name='Text' type='STRING'/>\n"
                                "  <field number='59' name='Text' type='STRING'/>\n"
                                " </fields>\n</fix>\n",
                           FL_EFORMAT, 4, "duplicate field name 'Text'"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message name='M' msgtype='U1'>\n"
                                "   <component name='Nowhere' required='N'/>\n"
                                "  </message>\n </messages>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 4, "component 'Nowhere' is not defined"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message name='M' msgtype='U1'>\n"
                                "   <component name='Loop' required='N'/>\n"
                                "  </message>\n </messages>\n"
                                " <components>\n  <component name='Loop'>\n"
                                "   <field name='Text'/>\n"
                                "   <component name='Loop'/>\n"
                                "  </component>\n </components>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 10, "component 'Loop' includes itself"));
    FL_CHECK(expect_broken(HEAD " <fields>\n"
                                "  <field name='Text' type='STRING'/>\n"
                                " </fields>\n</fix>\n",
                           FL_EFORMAT, 3, "<field> needs a 'number' attribute"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message msgtype='U1'/>\n </messages>\n</fix>\n",
                           FL_EFORMAT, 3, "<message> needs a 'name' attribute"));
    FL_CHECK(expect_broken(HEAD " <fields>\n"
                                "  <field number='5x' name='Text' type='STRING'/>\n"
                                " </fields>\n</fix>\n",
                           FL_EFORMAT, 3, "number '5x' is not a positive integer"));
    FL_CHECK(expect_broken(HEAD " <header>\n  <field name='Text' required='maybe'/>\n"
                                " </header>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 3, "required='maybe': expected Y or N"));
    FL_CHECK(expect_broken(HEAD " <header>\n  <feild name='Text'/>\n </header>\n</fix>\n",
                           FL_EFORMAT, 3, "unexpected <feild> inside <header>"));
    FL_CHECK(expect_broken(HEAD " <messages>\n"
                                "  <message name='A' msgtype='U1'/>\n"
                                "  <message name='B' msgtype='U1'/>\n"
                                " </messages>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 4, "duplicate message type 'U1' ('A' and 'B')"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message name='M' msgtype='U1'>\n"
                                "   <group name='Text' required='N'/>\n"
                                "  </message>\n </messages>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 4, "group 'Text' has no fields"));
    FL_CHECK(expect_broken(HEAD " <messages>\n  <message name='M' msgtype='U1'>\n"
                                "   <group name='NoSuch' required='N'>"
                                "<field name='Text'/></group>\n"
                                "  </message>\n </messages>\n" FIELDS_OK "</fix>\n",
                           FL_EFORMAT, 4, "group 'NoSuch' is not a defined field"));
    FL_CHECK(expect_broken(HEAD " <components>\n  <component name='C'/>\n"
                                "  <component name='C'/>\n </components>\n</fix>\n",
                           FL_EFORMAT, 4, "duplicate component 'C' (first at line 3)"));
    FL_CHECK(expect_broken(HEAD " <components>\n  <component name='Unused'>\n"
                                "   <field name='Nope'/>\n  </component>\n"
                                " </components>\n</fix>\n",
                           FL_EFORMAT, 4, "unknown field 'Nope'"));
    FL_CHECK(expect_broken("<fix type='FIXX' major='4' minor='2'/>\n", FL_EFORMAT, 1,
                           "<fix type='FIXX'>: expected FIX or FIXT"));
    FL_CHECK(expect_broken("<fix type='FIX' minor='2'/>\n", FL_EFORMAT, 1,
                           "<fix> needs a 'major' attribute"));
    FL_CHECK(expect_broken("<dictionary/>\n", FL_EFORMAT, 1,
                           "unexpected <dictionary> inside <document>"));
    FL_CHECK(expect_broken("", FL_EFORMAT, 1, "malformed XML: no element found"));
    FL_CHECK(expect_broken(HEAD " <fields>\n  <field number='58' name='Text' type='STRING'>\n"
                                "   <value enum='A'/>\n  </field>\n </fields>\n</fix>\n",
                           FL_EFORMAT, 4, "<value> needs a 'description' attribute"));
end:;
}

/* Components that each include the previous one twice multiply out: refused, not expanded. */
FL_TEST(test_component_blowup_refused)
{
    char *xml = malloc(16384), err[256];
    struct fl_dict *d = NULL;
    FL_CHECK(xml != NULL);
    size_t pos = (size_t)snprintf(xml, 16384, HEAD " <messages><message name='M' msgtype='U1'>"
                                              "<component name='C24'/></message></messages>\n"
                                              " <components>\n"
                                              "  <component name='C0'><field name='Text'/>"
                                              "</component>\n");
    for (int k = 1; k <= 24; k++)
        pos += (size_t)snprintf(xml + pos, 16384 - pos,
                                "  <component name='C%d'><component name='C%d'/>"
                                "<component name='C%d'/></component>\n", k, k - 1, k - 1);
    snprintf(xml + pos, 16384 - pos, " </components>\n" FIELDS_OK "</fix>\n");
    FL_CHECK(fl_dict_load_buffer(xml, strlen(xml), "blowup.xml", &d, err, sizeof err) ==
             FL_EFORMAT);
    FL_CHECK(d == NULL);
    FL_CHECK(strstr(err, "blowup.xml:") == err && strstr(err, "components expand to more than"));
end:
    free(xml);
    fl_dict_free(d);
}

FL_TEST(test_missing_file_and_buffer_name)
{
    char err[256];
    struct fl_dict *d = NULL;
    FL_CHECK(fl_dict_load_file("/nonexistent/dir/FIX44.xml", &d, err, sizeof err) == FL_EIO);
    FL_CHECK(d == NULL);
    FL_CHECK(strstr(err, "/nonexistent/dir/FIX44.xml: cannot open: ") == err);
    FL_CHECK(fl_dict_load_buffer("<fix", 4, NULL, &d, err, sizeof err) == FL_EFORMAT);
    FL_CHECK(strncmp(err, "<buffer>:1: malformed XML", 25) == 0);
    /* A tiny error buffer truncates, never overflows; NULL is allowed too. */
    char small[8];
    FL_CHECK(fl_dict_load_buffer("<fix", 4, "x.xml", &d, small, sizeof small) == FL_EFORMAT);
    FL_CHECK(strlen(small) == 7);
    FL_CHECK(fl_dict_load_buffer("<fix", 4, "x.xml", &d, NULL, 0) == FL_EFORMAT);
    FL_CHECK(d == NULL);
end:
    fl_dict_free(d);
}

/* ---- built-in dictionary ---- */

static const char *const builtin_versions[] = {"FIX.4.0", "FIX.4.1", "FIX.4.2",
                                               "FIX.4.3", "FIX.4.4", "FIXT.1.1"};

FL_TEST(test_builtin_builds)
{
    struct fl_dict *d = NULL;
    char err[256];
    for (size_t i = 0; i < 6; i++) {
        err[0] = '\0';
        int rc = dict_builtin_build(builtin_versions[i], &d, err, sizeof err);
        if (rc != FL_OK)
            fprintf(stderr, "  %s: %s\n", builtin_versions[i], err);
        FL_CHECK(rc == FL_OK);
        FL_CHECK(strcmp(fl_dict_info(d)->begin_string, builtin_versions[i]) == 0);
        FL_CHECK(strcmp(fl_dict_info(d)->source, "builtin") == 0);
        static const char *const session[] = {"0", "1", "2", "3", "4", "5", "A"};
        for (size_t k = 0; k < 7; k++) {
            const struct fl_dict_message *m = fl_dict_message(d, session[k], 1);
            FL_CHECK(m && m->admin && !m->open);
        }
        FL_CHECK((fl_dict_message(d, "j", 1) != NULL) == (i >= 2));
        FL_CHECK((fl_dict_message(d, "W", 1) != NULL) == (i >= 2));
        FL_CHECK(fl_dict_message(d, "D", 1)->open);
        fl_dict_free(d);
        d = NULL;
    }
    FL_CHECK(fl_dict_builtin("FIX.9.9", &d) == FL_EINVAL);
    FL_CHECK(fl_dict_builtin(NULL, &d) == FL_EINVAL);
    FL_CHECK(d == NULL);
end:
    fl_dict_free(d);
}

FL_TEST(test_builtin_lookups)
{
    struct fl_dict *d = NULL, *old = NULL, *t = NULL;
    const char *v;
    size_t vn;
    FL_CHECK(fl_dict_builtin("FIX.4.4", &d) == FL_OK);
    static const struct {
        const char *name;
        uint32_t tag;
        enum fl_dict_type type;
    } expect[] = {
        {"ClOrdID", 11, FL_DICT_TYPE_STRING}, {"OrigClOrdID", 41, FL_DICT_TYPE_STRING},
        {"OrderID", 37, FL_DICT_TYPE_STRING}, {"ExecID", 17, FL_DICT_TYPE_STRING},
        {"ExecType", 150, FL_DICT_TYPE_CHAR}, {"OrdStatus", 39, FL_DICT_TYPE_CHAR},
        {"Side", 54, FL_DICT_TYPE_CHAR}, {"Symbol", 55, FL_DICT_TYPE_STRING},
        {"OrderQty", 38, FL_DICT_TYPE_QTY}, {"Price", 44, FL_DICT_TYPE_PRICE},
        {"StopPx", 99, FL_DICT_TYPE_PRICE}, {"OrdType", 40, FL_DICT_TYPE_CHAR},
        {"TimeInForce", 59, FL_DICT_TYPE_CHAR}, {"TransactTime", 60, FL_DICT_TYPE_UTCTIMESTAMP},
        {"LastPx", 31, FL_DICT_TYPE_PRICE}, {"LastQty", 32, FL_DICT_TYPE_QTY},
        {"CumQty", 14, FL_DICT_TYPE_QTY}, {"LeavesQty", 151, FL_DICT_TYPE_QTY},
        {"AvgPx", 6, FL_DICT_TYPE_PRICE}, {"Account", 1, FL_DICT_TYPE_STRING},
        {"Currency", 15, FL_DICT_TYPE_CURRENCY}, {"SecurityID", 48, FL_DICT_TYPE_STRING},
        {"SecurityIDSource", 22, FL_DICT_TYPE_STRING},
        {"ExDestination", 100, FL_DICT_TYPE_EXCHANGE}, {"HandlInst", 21, FL_DICT_TYPE_CHAR},
        {"Text", 58, FL_DICT_TYPE_STRING}, {"MDReqID", 262, FL_DICT_TYPE_STRING},
        {"SubscriptionRequestType", 263, FL_DICT_TYPE_CHAR},
        {"MarketDepth", 264, FL_DICT_TYPE_INT}, {"NoMDEntries", 268, FL_DICT_TYPE_NUMINGROUP},
        {"MDEntryType", 269, FL_DICT_TYPE_CHAR}, {"MDEntryPx", 270, FL_DICT_TYPE_PRICE},
        {"MDEntrySize", 271, FL_DICT_TYPE_QTY}, {"NoRelatedSym", 146, FL_DICT_TYPE_NUMINGROUP},
        {"NoPartyIDs", 453, FL_DICT_TYPE_NUMINGROUP}, {"PartyID", 448, FL_DICT_TYPE_STRING},
        {"PartyIDSource", 447, FL_DICT_TYPE_CHAR}, {"PartyRole", 452, FL_DICT_TYPE_INT},
        {"HeartBtInt", 108, FL_DICT_TYPE_INT}, {"MsgSeqNum", 34, FL_DICT_TYPE_SEQNUM},
        {"SendingTime", 52, FL_DICT_TYPE_UTCTIMESTAMP},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const struct fl_dict_field *f = fl_dict_field_by_name(d, expect[i].name,
                                                              strlen(expect[i].name));
        if (!f || f->tag != expect[i].tag || f->type != expect[i].type)
            fprintf(stderr, "  builtin field %s\n", expect[i].name);
        FL_CHECK(f && f->tag == expect[i].tag && f->type == expect[i].type);
        FL_CHECK(fl_dict_field_by_tag(d, expect[i].tag) == f);
    }
    const struct fl_dict_field *side = fl_dict_field_by_tag(d, 54);
    FL_CHECK(strcmp(fl_dict_enum_name(side, "1", 1), "BUY") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(side, "2", 1), "SELL") == 0);
    FL_CHECK(fl_dict_enum_value(side, "SELL_SHORT", 10, &v, &vn) == FL_OK);
    FL_CHECK_STRN(v, vn, "5");
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 40), "2", 1), "LIMIT") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 150), "F", 1), "TRADE") == 0);
    FL_CHECK(fl_dict_enum_name(fl_dict_field_by_tag(d, 150), "1", 1) == NULL); /* gone in 4.4 */
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 59), "3", 1),
                    "IMMEDIATE_OR_CANCEL") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 269), "1", 1), "OFFER") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(d, 373), "11", 2),
                    "INVALID_MSGTYPE") == 0);
    FL_CHECK(side->open_enums && !fl_dict_field_by_tag(d, 98)->open_enums);
    const struct fl_group_def *parties = fl_dict_group(d, "D", 1, 453);
    FL_CHECK(parties && parties->delim_tag == 448 && parties->nsubgroups == 1);
    FL_CHECK_INT(parties->subgroups[0]->count_tag, 802);
    FL_CHECK(fl_dict_group_of(parties)->open);
    FL_CHECK_INT(fl_dict_group(d, "V", 1, 146)->delim_tag, 55);
    FL_CHECK(fl_dict_group(d, "A", 1, 627) != NULL);
    FL_CHECK(strcmp(fl_dict_info(d)->appl_ver_id, "6") == 0);

    /* Version differences: names and enum values. */
    FL_CHECK(fl_dict_builtin("FIX.4.2", &old) == FL_OK);
    FL_CHECK(strcmp(fl_dict_field_by_tag(old, 22)->name, "IDSource") == 0);
    FL_CHECK(strcmp(fl_dict_field_by_tag(old, 32)->name, "LastShares") == 0);
    FL_CHECK(strcmp(fl_dict_enum_name(fl_dict_field_by_tag(old, 150), "2", 1), "FILL") == 0);
    FL_CHECK(fl_dict_group(old, "D", 1, 453) == NULL);
    FL_CHECK(member_required(&fl_dict_message(old, "D", 1)->body, 55) == 1);
    FL_CHECK(member_required(&fl_dict_message(d, "D", 1)->body, 55) == 0);

    FL_CHECK(fl_dict_builtin("FIXT.1.1", &t) == FL_OK);
    FL_CHECK(fl_dict_info(t)->transport);
    FL_CHECK(member_required(&fl_dict_header(t)->body, 1128) == 0);
    FL_CHECK(member_required(&fl_dict_message(t, "A", 1)->body, 1137) == 1);
    FL_CHECK(member_required(&fl_dict_header(d)->body, 1128) == -1);
end:
    fl_dict_free(d);
    fl_dict_free(old);
    fl_dict_free(t);
}

/* Top-level required tags of a message, sorted, as a string like "11,54,60". */
static void required_list(const struct fl_dict_layout *l, char *out, size_t n)
{
    uint32_t tags[256];
    uint32_t k = 0;
    for (uint32_t i = 0; i < l->nrequired && k < 256; i++)
        tags[k++] = l->members[l->required[i]].tag;
    for (uint32_t i = 1; i < k; i++)
        for (uint32_t j = i; j > 0 && tags[j - 1] > tags[j]; j--) {
            uint32_t t = tags[j];
            tags[j] = tags[j - 1];
            tags[j - 1] = t;
        }
    size_t pos = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < k && pos < n; i++)
        pos += (size_t)snprintf(out + pos, n - pos, "%s%u", i ? "," : "", tags[i]);
}

/* The built-in table against the XML files: same tag for the same name, enum values the XML
 * knows under the same name in some version, the same required fields. */
FL_TEST(test_builtin_matches_xml)
{
    static const char *const xml_for[] = {"FIX40", "FIX41", "FIX42", "FIX43", "FIX44", "FIXT11"};
    struct fl_dict *all[9] = {0}, *b = NULL, *x = NULL;
    char want[512], got[512];
    int bad = 0;
    if (!have_shared())
        return;
    for (size_t i = 0; i < 9; i++) {
        all[i] = load_shared(shared_names[i]);
        FL_CHECK(all[i] != NULL);
    }
    for (size_t v = 0; v < 6; v++) {
        FL_CHECK(fl_dict_builtin(builtin_versions[v], &b) == FL_OK);
        x = load_shared(xml_for[v]);
        FL_CHECK(x != NULL);
        for (uint32_t i = 0; i < fl_dict_field_count(b); i++) {
            const struct fl_dict_field *bf = fl_dict_field_at(b, i);
            const struct fl_dict_field *xf = fl_dict_field_by_tag(x, bf->tag);
            if (xf && strcmp(xf->name, bf->name) != 0)
                fprintf(stderr, "  %s: tag %u is %s, builtin says %s\n", xml_for[v], bf->tag,
                        xf->name, bf->name);
            bad += xf && strcmp(xf->name, bf->name) != 0;
            for (uint32_t e = 0; e < bf->nenums; e++) {
                const struct fl_dict_enum *be = &bf->enums[e];
                int known = 0;
                for (size_t k = 0; k < 9 && !known; k++) {
                    const char *n = fl_dict_enum_name(fl_dict_field_by_tag(all[k], bf->tag),
                                                      be->value, be->value_len);
                    known = n && strcmp(n, be->name) == 0;
                }
                if (!known)
                    fprintf(stderr, "  %s: %s %s=%s is in no XML dictionary\n",
                            builtin_versions[v], bf->name, be->value, be->name);
                bad += !known;
            }
        }
        /* Header, trailer and every message both know: the same required fields. */
        required_list(&fl_dict_header(b)->body, got, sizeof got);
        required_list(&fl_dict_header(x)->body, want, sizeof want);
        bad += strcmp(got, want) != 0;
        for (uint32_t i = 0; i < fl_dict_message_count(b); i++) {
            const struct fl_dict_message *bm = fl_dict_message_at(b, i);
            const struct fl_dict_message *xm = fl_dict_message(x, bm->msg_type, bm->msg_type_len);
            if (!xm)
                continue;
            bad += strcmp(bm->name, xm->name) != 0;
            required_list(&bm->body, got, sizeof got);
            required_list(&xm->body, want, sizeof want);
            if (strcmp(got, want) != 0)
                fprintf(stderr, "  %s %s: required %s, XML %s\n", builtin_versions[v], bm->name,
                        got, want);
            bad += strcmp(got, want) != 0;
        }
        fl_dict_free(b);
        fl_dict_free(x);
        b = x = NULL;
    }
    FL_CHECK_INT(bad, 0);
end:
    fl_dict_free(b);
    fl_dict_free(x);
    for (size_t i = 0; i < 9; i++)
        fl_dict_free(all[i]);
}

/* The validator's enum tables (collision-free hashing of the packed values) find every listed
 * value and nothing else, and each index slot's word names the member holding its tag. */
static int layout_slots_ok(const struct fl_dict_layout *l)
{
    for (uint32_t h = 0; h <= l->index_mask; h++) {
        const struct fl_dict_slot *s = &l->index[h];
        if (s->tag == 0)
            continue;
        const struct fl_dict_member *m = &l->members[DICT_SLOT_MEMBER(s->member)];
        if (m->tag != s->tag || (s->member & 0xFFu) != dict_slot_kind(m))
            return 0;
    }
    return 1;
}

FL_TEST(test_validator_tables)
{
    struct fl_dict *d = NULL;
    if (!have_shared())
        return;
    for (size_t i = 0; i < sizeof shared_names / sizeof shared_names[0]; i++) {
        d = load_shared(shared_names[i]);
        FL_CHECK(d != NULL);
        for (uint32_t k = 0; k < fl_dict_field_count(d); k++) {
            const struct fl_dict_field *f = fl_dict_field_at(d, k);
            if (!f->enum_keys)
                continue;
            FL_CHECK(f->enum_table != NULL);
            for (uint32_t e = 0; e < f->nenums; e++) {
                const struct fl_dict_enum *v = &f->enums[e];
                FL_CHECK(dict_enum_keys_have(f, v->value, v->value_len));
                char more[16];
                if (v->value_len < 8) {
                    memcpy(more, v->value, v->value_len);
                    more[v->value_len] = '~';
                    FL_CHECK(!dict_enum_keys_have(f, more, v->value_len + 1));
                }
            }
            FL_CHECK(!dict_enum_keys_have(f, "~", 1));
        }
        FL_CHECK(layout_slots_ok(&fl_dict_header(d)->body));
        FL_CHECK(layout_slots_ok(&fl_dict_trailer(d)->body));
        for (uint32_t k = 0; k < fl_dict_message_count(d); k++) {
            const struct fl_dict_message *m = fl_dict_message_at(d, k);
            FL_CHECK(layout_slots_ok(&m->body));
            for (uint32_t g = 0; g < m->ngroups; g++)
                FL_CHECK(layout_slots_ok(&m->groups[g]->entry));
        }
        fl_dict_free(d);
        d = NULL;
    }
end:
    fl_dict_free(d);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(test_load_all_shared);
    FL_RUN(test_fix44_contents);
    FL_RUN(test_fixt_and_fix50);
    FL_RUN(test_nested_components_and_groups);
    FL_RUN(test_type_names);
    FL_RUN(test_broken_files);
    FL_RUN(test_component_blowup_refused);
    FL_RUN(test_missing_file_and_buffer_name);
    FL_RUN(test_builtin_builds);
    FL_RUN(test_builtin_lookups);
    FL_RUN(test_builtin_matches_xml);
    FL_RUN(test_validator_tables);
    return FL_TEST_SUMMARY();
}
