/* fixlua — reading repeating groups from a parsed message, and the built-in group table.
 *
 * An entry starts at the delimiter tag and runs while fields are members of the group (nested
 * members included); the group ends at the first field that is neither. That is how the FIX
 * standard delimits groups on the wire, and it needs nothing but the field index. The built-in
 * table covers the session layer and the common application groups; dictionaries loaded from
 * XML hand out their own fl_group_def structures. */
#include "fl_group.h"

#include <string.h>

int fl_group_def_has(const struct fl_group_def *def, uint32_t tag)
{
    for (uint32_t i = 0; i < def->nmembers; i++)
        if (def->members[i] == tag)
            return 1;
    for (uint32_t i = 0; i < def->nsubgroups; i++)
        if (fl_group_def_has(def->subgroups[i], tag))
            return 1;
    return 0;
}

int fl_group_open(struct fl_group *g, const struct fl_msg *m, const struct fl_group_def *def,
                  uint32_t from, uint32_t to)
{
    memset(g, 0, sizeof *g);
    g->msg = m;
    g->def = def;
    if (to > m->nfields)
        to = m->nfields;
    uint32_t i = from;
    while (i < to && m->fields[i].tag != def->count_tag)
        i++;
    if (i >= to)
        return FL_ENOENT;
    int64_t declared;
    const struct fl_field *cf = &m->fields[i];
    if (fl_parse_int(m->buf + cf->off, cf->len, &declared) != FL_OK || declared < 0 ||
        declared > UINT32_MAX)
        return FL_EFORMAT;
    g->count_index = i;
    g->declared = (uint32_t)declared;
    g->first = i + 1;
    uint32_t j = i + 1;
    uint32_t found = 0;
    if (j < to && m->fields[j].tag == def->delim_tag) {
        while (j < to) {
            uint32_t tag = m->fields[j].tag;
            if (tag == def->delim_tag)
                found++;
            else if (!fl_group_def_has(def, tag))
                break;
            j++;
        }
    }
    g->end = j;
    g->found = found;
    return FL_OK;
}

int fl_group_next(const struct fl_group *g, const struct fl_group_entry *prev,
                  struct fl_group_entry *e)
{
    const struct fl_msg *m = g->msg;
    uint32_t begin = prev ? prev->end : g->first;
    if (begin >= g->end || m->fields[begin].tag != g->def->delim_tag)
        return FL_ENOENT;
    uint32_t j = begin + 1;
    while (j < g->end && m->fields[j].tag != g->def->delim_tag)
        j++;
    e->begin = begin;
    e->end = j;
    return FL_OK;
}

int fl_group_entry(const struct fl_group *g, uint32_t i, struct fl_group_entry *e)
{
    if (i >= g->found)
        return FL_ERANGE;
    struct fl_group_entry cur;
    if (fl_group_next(g, NULL, &cur) != FL_OK)
        return FL_ERANGE;
    for (uint32_t k = 0; k < i; k++)
        if (fl_group_next(g, &cur, &cur) != FL_OK)
            return FL_ERANGE;
    *e = cur;
    return FL_OK;
}

int fl_group_entry_find(const struct fl_group *g, const struct fl_group_entry *e, uint32_t tag)
{
    for (uint32_t i = e->begin; i < e->end; i++)
        if (g->msg->fields[i].tag == tag)
            return (int)i;
    return -1;
}

/* ---- built-in definitions ---- */

#define COUNT_OF(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))
/* The delimiter is spelled out although it is always the first member: `arr[0]` is not a
 * constant expression in C11 (gcc accepts it as an extension, clang rejects it). */
#define GROUP(count, delim, arr) {count, delim, arr, COUNT_OF(arr), NULL, 0}
#define GROUP_NESTED(count, delim, arr, subs) \
    {count, delim, arr, COUNT_OF(arr), subs, COUNT_OF(subs)}

/* Session layer */
/* NoMsgTypes 384 */
static const uint32_t msg_types_members[] = {372, 385, 1130, 1131};
/* NoHops 627 */
static const uint32_t hops_members[] = {628, 629, 630};
/* Parties */
/* NoPartySubIDs 802 */
static const uint32_t party_sub_members[] = {523, 803};
/* NoNestedPartySubIDs 804 */
static const uint32_t nested_party_sub_members[] = {545, 805};
static const struct fl_group_def party_sub_group = GROUP(802, 523, party_sub_members);
static const struct fl_group_def nested_party_sub_group =
    GROUP(804, 545, nested_party_sub_members);
static const struct fl_group_def *const party_subs[] = {&party_sub_group};
static const struct fl_group_def *const nested_party_subs[] = {&nested_party_sub_group};
/* NoPartyIDs 453 */
static const uint32_t party_members[] = {448, 447, 452, 802};
/* NoNestedPartyIDs 539 */
static const uint32_t nested_party_members[] = {524, 525, 538, 804};
/* Instruments */
/* NoSecurityAltID 454 */
static const uint32_t security_alt_members[] = {455, 456};
/* NoLegs 555 */
static const uint32_t legs_members[] = {600, 601, 602, 603, 604, 607, 608, 609, 610, 611, 612,
                                        613, 614, 615, 616, 617, 618, 619, 620, 621, 622, 623,
                                        624, 556, 654, 564, 565, 566, 587, 588, 637, 675, 685,
                                        690, 683, 539};
/* NoUnderlyings 711 */
static const uint32_t underlyings_members[] = {311, 312, 309, 305, 457, 462, 463, 310, 763, 313,
                                               542, 315, 241, 242, 243, 244, 245, 246, 256, 595,
                                               592, 593, 594, 247, 316, 941, 317, 436, 435, 308,
                                               306, 362, 363, 307, 364, 365, 877, 878, 318, 879,
                                               810, 882, 883, 884, 885, 886};
/* Orders and executions */
/* NoAllocs 78 */
static const uint32_t allocs_members[] = {79, 661, 736, 467, 80, 539};
/* NoMiscFees 136 */
static const uint32_t misc_fees_members[] = {137, 138, 139, 891};
/* NoContraBrokers 382 */
static const uint32_t contra_members[] = {375, 337, 437, 438, 655};
/* NoFills 1362 */
static const uint32_t fills_members[] = {1363, 1364, 1365, 1414};
/* NoTrdRegTimestamps 768 */
static const uint32_t trd_reg_ts_members[] = {769, 770, 771};
/* NoStrategyParameters 957 */
static const uint32_t strategy_members[] = {958, 959, 960};
/* NoStipulations 232 */
static const uint32_t stip_members[] = {233, 234};
/* NoEvents 864 */
static const uint32_t events_members[] = {865, 866, 867, 868};
/* Market data */
/* NoMDEntryTypes 267 */
static const uint32_t md_entry_types_members[] = {269};
/* NoRelatedSym 146 */
static const uint32_t related_sym_members[] = {55, 65, 48, 22, 454, 460, 461, 167, 762, 200, 541,
                                               201, 224, 225, 239, 226, 227, 228, 255, 543, 470,
                                               471, 472, 240, 202, 947, 206, 231, 223, 207, 106,
                                               348, 349, 107, 350, 351, 691, 667, 875, 876, 873,
                                               874, 15, 555, 711, 263, 264, 265, 266, 286, 336,
                                               625, 1070};
/* NoMDEntries 268 in W */
static const uint32_t md_full_members[] = {269, 270, 15, 271, 272, 273, 274, 275, 336, 625, 276,
                                           277, 282, 283, 284, 286, 59, 432, 126, 110, 18, 287,
                                           37, 299, 288, 289, 346, 290, 546, 811, 451, 58, 354,
                                           355, 1023, 1024, 453, 1070, 83, 1048, 1026, 1027,
                                           528, 1025, 31, 1020};
/* NoMDEntries 268 in X */
static const uint32_t md_inc_members[] = {279, 285, 269, 278, 280, 55, 65, 48, 22, 454, 460, 461,
                                          167, 200, 541, 207, 711, 555, 291, 292, 270, 15, 271,
                                          272, 273, 274, 275, 336, 625, 276, 277, 282, 283, 284,
                                          286, 59, 432, 126, 110, 18, 287, 37, 299, 288, 289,
                                          346, 290, 546, 811, 451, 58, 354, 355, 1023, 1024,
                                          453, 1070, 83, 1048, 1026, 1027, 528, 1025, 31,
                                          1020};

static const struct fl_group_def party_group = GROUP_NESTED(453, 448, party_members, party_subs);
static const struct fl_group_def nested_party_group =
    GROUP_NESTED(539, 524, nested_party_members, nested_party_subs);
static const struct fl_group_def security_alt_group = GROUP(454, 455, security_alt_members);
static const struct fl_group_def *const with_nested_parties[] = {&nested_party_group};
static const struct fl_group_def *const with_parties[] = {&party_group};
static const struct fl_group_def *const with_security_alt[] = {&security_alt_group};

static const struct fl_group_def builtin_groups[] = {
    GROUP(384, 372, msg_types_members),
    GROUP(627, 628, hops_members),
    GROUP_NESTED(453, 448, party_members, party_subs),
    GROUP(802, 523, party_sub_members),
    GROUP_NESTED(539, 524, nested_party_members, nested_party_subs),
    GROUP(804, 545, nested_party_sub_members),
    GROUP(454, 455, security_alt_members),
    GROUP_NESTED(555, 600, legs_members, with_nested_parties),
    GROUP(711, 311, underlyings_members),
    GROUP_NESTED(78, 79, allocs_members, with_nested_parties),
    GROUP(136, 137, misc_fees_members),
    GROUP(382, 375, contra_members),
    GROUP(1362, 1363, fills_members),
    GROUP(768, 769, trd_reg_ts_members),
    GROUP(957, 958, strategy_members),
    GROUP(232, 233, stip_members),
    GROUP(864, 865, events_members),
    GROUP(267, 269, md_entry_types_members),
    GROUP_NESTED(146, 55, related_sym_members, with_security_alt),
    GROUP_NESTED(268, 269, md_full_members, with_parties),
};

static const struct fl_group_def md_incremental_group =
    GROUP_NESTED(268, 279, md_inc_members, with_parties);

const struct fl_group_def *fl_group_builtin(uint32_t count_tag, const char *msg_type,
                                            size_t msg_type_len)
{
    if (count_tag == 268 && msg_type && msg_type_len == 1 && msg_type[0] == 'X')
        return &md_incremental_group;
    for (uint32_t i = 0; i < COUNT_OF(builtin_groups); i++)
        if (builtin_groups[i].count_tag == count_tag)
            return &builtin_groups[i];
    return NULL;
}
