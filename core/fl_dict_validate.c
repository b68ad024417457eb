/* fixlua — validating a parsed message against a dictionary.
 *
 * One pass over the field index in wire order. Each tag is looked up in the member index of the
 * section it is in (header, body or trailer; a group entry inside a group) — a multiply and
 * usually one probe — and stamped in the caller's fl_validator scratch array with the current
 * generation, which finds repeated tags without clearing anything between messages: every
 * message and every group entry takes a fresh generation, and each active member list owns its
 * own slice of the array (header, trailer and body side by side, nested entries stacked above).
 * Required members are checked when their section or entry ends. Values are checked by type with
 * the fl_msg.h parsers, and against the enum list (a 256-bit set for one-character values,
 * binary search otherwise).
 *
 * Reject reasons follow the FIX session test cases (14a-14i, 2q, 2r): tag unknown to the
 * dictionary 0, known but not for this message 2, missing 1, empty 4, not an enum value 5, bad
 * format 6, repeated 13, header field after the body or anything after the trailer began 14,
 * group entry not starting with its delimiter (or, with strict_group_order, members out of order)
 * 15, NumInGroup different from the entries present 16. Parse problems of the message itself
 * (fl_msg.h) are reported first, except order and repetition, which the dictionary re-checks
 * because it knows header fields the parser's fixed list does not. */
#include <stdlib.h>
#include <string.h>

#include "fl_dict_impl.h"
#include "fl_tags.h"

void fl_validate_opts_init(struct fl_validate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->level = FL_VALIDATE_LEVEL_FULL;
}

void fl_validator_init(struct fl_validator *v)
{
    memset(v, 0, sizeof *v);
}

void fl_validator_release(struct fl_validator *v)
{
    if (!v)
        return;
    free(v->stamp);
    fl_validator_init(v);
}

static int validator_reserve(struct fl_validator *v, uint32_t need)
{
    if (v->cap >= need)
        return FL_OK;
    uint32_t nc = v->cap ? v->cap : 256;
    while (nc < need) {
        if (nc > UINT32_MAX / 2)
            return FL_ENOMEM;
        nc *= 2;
    }
    uint32_t *p = realloc(v->stamp, (size_t)nc * sizeof *p);
    if (!p)
        return FL_ENOMEM;
    memset(p + v->cap, 0, (size_t)(nc - v->cap) * sizeof *p);
    v->stamp = p;
    v->cap = nc;
    return FL_OK;
}

const char *fl_validate_reason_text(enum fl_verdict verdict, int reason)
{
    if (verdict == FL_VERDICT_OK)
        return "";
    if (verdict == FL_VERDICT_BUSINESS_REJECT) {
        switch (reason) {
        case 0: return "Other";
        case 1: return "Unknown ID";
        case 2: return "Unknown Security";
        case 3: return "Unsupported Message Type";
        case 4: return "Application not available";
        case 5: return "Conditionally required field missing";
        case 6: return "Not authorized";
        case 7: return "DeliverTo firm not available at this time";
        case 18: return "Invalid price increment";
        default: return "Business message rejected";
        }
    }
    switch (reason) {
    case FL_REJECT_INVALID_TAG_NUMBER: return "Invalid tag number";
    case FL_REJECT_REQUIRED_TAG_MISSING: return "Required tag missing";
    case FL_REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE: return "Tag not defined for this message type";
    case FL_REJECT_UNDEFINED_TAG: return "Undefined Tag";
    case FL_REJECT_TAG_WITHOUT_VALUE: return "Tag specified without a value";
    case FL_REJECT_VALUE_OUT_OF_RANGE: return "Value is incorrect (out of range) for this tag";
    case FL_REJECT_INCORRECT_DATA_FORMAT: return "Incorrect data format for value";
    case FL_REJECT_DECRYPTION_PROBLEM: return "Decryption problem";
    case FL_REJECT_SIGNATURE_PROBLEM: return "Signature problem";
    case FL_REJECT_COMPID_PROBLEM: return "CompID problem";
    case FL_REJECT_SENDING_TIME_ACCURACY: return "SendingTime accuracy problem";
    case FL_REJECT_INVALID_MSG_TYPE: return "Invalid MsgType";
    case FL_REJECT_XML_VALIDATION_ERROR: return "XML Validation error";
    case FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE: return "Tag appears more than once";
    case FL_REJECT_TAG_OUT_OF_ORDER: return "Tag specified out of required order";
    case FL_REJECT_GROUP_FIELDS_OUT_OF_ORDER: return "Repeating group fields out of order";
    case FL_REJECT_INCORRECT_NUM_IN_GROUP: return "Incorrect NumInGroup count for repeating group";
    case FL_REJECT_NON_DATA_VALUE_INCLUDES_DELIMITER:
        return "Non \"data\" value includes field delimiter (SOH character)";
    case FL_REJECT_INVALID_UNSUPPORTED_APPL_VERSION:
        return "Invalid/Unsupported Application Version";
    default: return "Other";
    }
}

/* ---- value checks ---- */

static inline int digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

static int two_digits(const char *p, int lo, int hi)
{
    if (!digit(p[0]) || !digit(p[1]))
        return 0;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    return v >= lo && v <= hi;
}

/* MONTHYEAR: YYYYMM, YYYYMMDD or YYYYMMwN (week 1-5). */
static int check_month_year(const char *p, size_t n)
{
    if (n != 6 && n != 8)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!digit(p[i]))
            return 0;
    if (!two_digits(p + 4, 1, 12))
        return 0;
    if (n == 6)
        return 1;
    if (p[6] == 'w')
        return p[7] >= '1' && p[7] <= '5';
    return two_digits(p + 6, 1, 31);
}

/* Time zone suffix: "Z", or +hh, -hh, +hh:mm, -hh:mm; empty is allowed (local time). */
static int check_zone(const char *p, size_t n)
{
    if (n == 0)
        return 1;
    if (n == 1)
        return p[0] == 'Z';
    if (p[0] != '+' && p[0] != '-')
        return 0;
    if (n == 3)
        return two_digits(p + 1, 0, 14);
    return n == 6 && two_digits(p + 1, 0, 14) && p[3] == ':' && two_digits(p + 4, 0, 59);
}

/* TZTIMEONLY: HH:MM[:SS[.s...]] followed by a zone. */
static int check_tz_time(const char *p, size_t n)
{
    if (n < 5 || !two_digits(p, 0, 23) || p[2] != ':' || !two_digits(p + 3, 0, 59))
        return 0;
    size_t i = 5;
    if (i < n && p[i] == ':') {
        if (i + 3 > n || !two_digits(p + i + 1, 0, 60))
            return 0;
        i += 3;
        if (i < n && p[i] == '.') {
            size_t k = ++i;
            while (i < n && digit(p[i]))
                i++;
            if (i == k)
                return 0;
        }
    }
    return check_zone(p + i, n - i);
}

static int check_format(const struct fl_dict_field *fd, const char *p, size_t n)
{
    int64_t iv;
    struct fl_decimal dv;
    struct fl_date dt;
    int bv, rc;
    switch (fd->type) {
    case FL_DICT_TYPE_INT:
        return fl_parse_int(p, n, &iv) == FL_OK;
    case FL_DICT_TYPE_LENGTH:
    case FL_DICT_TYPE_NUMINGROUP:
    case FL_DICT_TYPE_SEQNUM:
        return fl_parse_int(p, n, &iv) == FL_OK && iv >= 0 && p[0] != '-';
    case FL_DICT_TYPE_TAGNUM:
        return fl_parse_int(p, n, &iv) == FL_OK && iv > 0 && p[0] != '-';
    case FL_DICT_TYPE_DAYOFMONTH:
        return fl_parse_int(p, n, &iv) == FL_OK && iv >= 1 && iv <= 31;
    case FL_DICT_TYPE_FLOAT:
    case FL_DICT_TYPE_PRICE:
    case FL_DICT_TYPE_QTY:
    case FL_DICT_TYPE_AMT:
    case FL_DICT_TYPE_PERCENTAGE:
    case FL_DICT_TYPE_PRICEOFFSET:
        /* Why: a decimal with more digits than int64 holds is still well-formed FIX. */
        rc = fl_parse_decimal(p, n, &dv);
        return rc == FL_OK || rc == FL_ERANGE;
    case FL_DICT_TYPE_CHAR:
        return n == 1;
    case FL_DICT_TYPE_BOOLEAN:
        return fl_parse_bool(p, n, &bv) == FL_OK;
    case FL_DICT_TYPE_UTCTIMESTAMP:
        return fl_parse_utc_timestamp(p, n, &iv, &bv) == FL_OK;
    case FL_DICT_TYPE_UTCTIMEONLY:
    case FL_DICT_TYPE_LOCALMKTTIME:
        return fl_parse_utc_time_only(p, n, &iv, &bv) == FL_OK;
    case FL_DICT_TYPE_UTCDATEONLY:
    case FL_DICT_TYPE_LOCALMKTDATE:
        return fl_parse_date(p, n, &dt) == FL_OK;
    case FL_DICT_TYPE_MONTHYEAR:
        return check_month_year(p, n);
    case FL_DICT_TYPE_TZTIMEONLY:
        return check_tz_time(p, n);
    case FL_DICT_TYPE_TZTIMESTAMP:
        return n > 9 && p[8] == '-' && fl_parse_date(p, 8, &dt) == FL_OK &&
               check_tz_time(p + 9, n - 9);
    default:
        return 1;
    }
}

static int enum_has(const struct fl_dict_field *fd, const char *p, size_t n)
{
    if (fd->char_enums) {
        unsigned char c = (unsigned char)p[0];
        return n == 1 && (fd->char_enums[c >> 5] >> (c & 31) & 1u);
    }
    return fl_dict_enum_name(fd, p, n) != NULL;
}

static int check_enum(const struct fl_dict_field *fd, const char *p, size_t n)
{
    switch (fd->type) {
    case FL_DICT_TYPE_MULTIPLEVALUESTRING:
    case FL_DICT_TYPE_MULTIPLESTRINGVALUE:
    case FL_DICT_TYPE_MULTIPLECHARVALUE: {
        /* Space-separated items, each an enum value. */
        size_t i = 0;
        for (;;) {
            size_t j = i;
            while (j < n && p[j] != ' ')
                j++;
            if (j == i || !enum_has(fd, p + i, j - i))
                return 0;
            if (j == n)
                return 1;
            i = j + 1;
        }
    }
    default:
        return enum_has(fd, p, n);
    }
}

/* 0 when the value suits the field, else the reject reason. */
static inline int check_value(const struct fl_dict_field *fd, uint32_t tag, const char *p,
                              size_t n)
{
    if (n == 0)
        return FL_REJECT_TAG_WITHOUT_VALUE;
    if (fd->type != FL_DICT_TYPE_STRING && !check_format(fd, p, n))
        return FL_REJECT_INCORRECT_DATA_FORMAT;
    /* Why not 35: MsgType was judged already, and a transport dictionary lists admin types
     * only. */
    if (fd->nenums && !fd->open_enums && tag != FL_TAG_MSG_TYPE && !check_enum(fd, p, n))
        return FL_REJECT_VALUE_OUT_OF_RANGE;
    return 0;
}

/* ---- the walk ---- */

struct vctx {
    const struct fl_msg *m;
    const struct fl_field *f;
    uint32_t n;
    const struct fl_validate_opts *o;
    const struct fl_dict *td;      /* header, trailer, admin messages */
    const struct fl_dict *ad;      /* the dictionary of the body */
    struct fl_validator *v;
    uint32_t *stamp;
    struct fl_validate_result *res;
};

/* A member list being walked: its stamp slice and generation, and the list around it. */
struct level {
    const struct fl_dict_layout *l;
    uint32_t base;
    uint32_t gen;
    const struct level *up;
};

static int verdict(struct vctx *c, enum fl_verdict vd, int reason, uint32_t tag, int64_t idx)
{
    c->res->verdict = vd;
    c->res->reason = reason;
    c->res->ref_tag = tag;
    c->res->field_index = (int32_t)idx;
    c->res->text = fl_validate_reason_text(vd, reason);
    return FL_EPROTO;
}

static int reject(struct vctx *c, int reason, uint32_t tag, int64_t idx)
{
    return verdict(c, FL_VERDICT_REJECT, reason, tag, idx);
}

static inline const char *value_of(const struct vctx *c, uint32_t i)
{
    return c->m->buf + c->f[i].off;
}

static const struct fl_dict_field *any_field(const struct vctx *c, uint32_t tag)
{
    const struct fl_dict_field *fd = dict_own_field(c->ad, tag);
    return fd || c->ad == c->td ? fd : dict_own_field(c->td, tag);
}

static int range_allowed(const struct fl_validate_opts *o, uint32_t tag)
{
    if (tag < 5000)
        return o->allow_unknown_fields;
    return tag < 10000 ? o->allow_user_fields : o->allow_internal_fields;
}

/* A tag the current member list does not hold: accepted (value checked when the dictionary
 * knows the field) when the list is open or the options allow its range, else rejected. */
static int unlisted(struct vctx *c, uint32_t i, int open)
{
    uint32_t tag = c->f[i].tag;
    const struct fl_dict_field *fd = any_field(c, tag);
    if (!open && !range_allowed(c->o, tag))
        return reject(c, fd ? FL_REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE : FL_REJECT_INVALID_TAG_NUMBER,
                      tag, i);
    int r = fd ? check_value(fd, tag, value_of(c, i), c->f[i].len)
               : (c->f[i].len ? 0 : FL_REJECT_TAG_WITHOUT_VALUE);
    return r ? reject(c, r, tag, i) : FL_OK;
}

static inline uint32_t next_gen(struct vctx *c)
{
    return ++c->v->gen;
}

static int check_required(struct vctx *c, const struct level *lv, int64_t idx)
{
    const struct fl_dict_layout *l = lv->l;
    for (uint32_t k = 0; k < l->nrequired; k++) {
        uint32_t r = l->required[k];
        if (c->stamp[lv->base + r] != lv->gen)
            return reject(c, FL_REJECT_REQUIRED_TAG_MISSING, l->members[r].tag, idx);
    }
    return FL_OK;
}

/* The parent list still takes `tag` (lists it, not yet seen): a member repeated in a group entry
 * then means the group has ended. */
static int parent_takes(const struct vctx *c, const struct level *parent, uint32_t tag)
{
    const struct fl_dict_member *pm = dict_layout_find(parent->l, tag);
    return pm && c->stamp[parent->base + (uint32_t)(pm - parent->l->members)] != parent->gen;
}

/* Some enclosing list, the header or the trailer lists `tag`: it ends a group. */
static int listed_outside(const struct vctx *c, const struct level *lv, uint32_t tag)
{
    for (; lv; lv = lv->up)
        if (dict_layout_find(lv->l, tag))
            return 1;
    return dict_layout_find(&c->td->trailer.body, tag) || dict_layout_find(&c->td->header.body, tag);
}

/* Walks the group whose NumInGroup field is at *pi (its value already checked); its entries'
 * stamps start at `base`. On FL_OK *pi is the first index after the group. */
static int walk_group(struct vctx *c, const struct fl_dict_group *g, uint32_t *pi,
                      const struct level *parent, uint32_t base)
{
    uint32_t ci = *pi;
    int64_t declared;
    if (fl_parse_int(value_of(c, ci), c->f[ci].len, &declared) != FL_OK || declared < 0)
        return reject(c, FL_REJECT_INCORRECT_DATA_FORMAT, c->f[ci].tag, ci);
    struct level lv = {&g->entry, base, 0, parent};
    const struct fl_dict_layout *l = lv.l;
    uint32_t top = base + l->nmembers;
    uint32_t i = ci + 1, entries = 0, last = 0, entry_start = ci + 1;
    int rc;
    while (i < c->n) {
        uint32_t tag = c->f[i].tag;
        const struct fl_dict_member *mem = dict_layout_find(l, tag);
        if (!mem) {
            /* Not a member: the group ends, unless an open group or an allowed unknown tag keeps
             * it inside the entry (tags an enclosing list knows always end it). */
            if (entries == 0 || (!g->open && (any_field(c, tag) || !range_allowed(c->o, tag))) ||
                listed_outside(c, parent, tag))
                break;
            if ((rc = unlisted(c, i, 1)) != FL_OK)
                return rc;
            i++;
            continue;
        }
        uint32_t pos = (uint32_t)(mem - l->members);
        if (pos == 0) {
            if (entries && (rc = check_required(c, &lv, entry_start)) != FL_OK)
                return rc;
            entries++;
            lv.gen = next_gen(c);
            entry_start = i;
            last = 0;
        } else {
            uint32_t seen = c->stamp[base + pos] == lv.gen;
            if (entries == 0 || seen || (c->o->strict_group_order && pos < last)) {
                if (parent_takes(c, parent, tag))
                    break;
                return reject(c, seen ? FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE
                                      : FL_REJECT_GROUP_FIELDS_OUT_OF_ORDER, tag, i);
            }
            last = pos;
        }
        c->stamp[base + pos] = lv.gen;
        int r = check_value(mem->field, tag, value_of(c, i), c->f[i].len);
        if (r)
            return reject(c, r, tag, i);
        if (mem->group) {
            if ((rc = walk_group(c, mem->group, &i, &lv, top)) != FL_OK)
                return rc;
            continue;
        }
        i++;
    }
    if (entries && (rc = check_required(c, &lv, entry_start)) != FL_OK)
        return rc;
    if ((int64_t)entries != declared)
        return reject(c, FL_REJECT_INCORRECT_NUM_IN_GROUP, g->def.count_tag, ci);
    *pi = i;
    return FL_OK;
}

/* Walks the whole message. body NULL: the body is not checked (session level, application
 * message or unknown MsgType), only header and trailer. */
static int walk_message(struct vctx *c, const struct fl_dict_message *msg)
{
    static const struct fl_dict_slot empty_slot[1];
    static const struct fl_dict_layout none = {NULL, NULL, empty_slot, 0, 0, 0, 0};
    const struct fl_dict_layout *hl = &c->td->header.body, *tl = &c->td->trailer.body;
    const struct fl_dict_layout *bl = msg ? &msg->body : &none;
    uint32_t g = next_gen(c);
    struct level tlv = {tl, 0, g, NULL};
    struct level hlv = {hl, tl->nmembers, g, NULL};
    struct level blv = {bl, tl->nmembers + hl->nmembers, g, NULL};
    uint32_t top = blv.base + bl->nmembers;
    int section = 0, rc;
    for (uint32_t i = 0; i < c->n;) {
        uint32_t tag = c->f[i].tag;
        const struct fl_dict_member *mem = NULL;
        const struct level *lv = NULL;
        if (section == 0) {
            mem = dict_layout_find(hl, tag);
            if (mem) {
                lv = &hlv;
            } else if (!dict_layout_find(bl, tag) && !dict_layout_find(tl, tag) &&
                       range_allowed(c->o, tag) && !any_field(c, tag)) {
                /* An allowed unknown tag among the header fields keeps the header open. */
                if ((rc = unlisted(c, i, 1)) != FL_OK)
                    return rc;
                i++;
                continue;
            } else {
                section = 1;
            }
        }
        if (section == 1) {
            mem = dict_layout_find(bl, tag);
            if (mem) {
                lv = &blv;
            } else if (dict_layout_find(tl, tag)) {
                section = 2;
            } else if (dict_layout_find(hl, tag)) {
                return reject(c, FL_REJECT_TAG_OUT_OF_ORDER, tag, i);
            } else {
                if (msg && (rc = unlisted(c, i, msg->open)) != FL_OK)
                    return rc;
                i++;
                continue;
            }
        }
        if (section == 2) {
            mem = dict_layout_find(tl, tag);
            if (!mem)
                return reject(c, FL_REJECT_TAG_OUT_OF_ORDER, tag, i);
            lv = &tlv;
        }
        uint32_t *st = &c->stamp[lv->base + (uint32_t)(mem - lv->l->members)];
        if (*st == g)
            return reject(c, FL_REJECT_TAG_APPEARS_MORE_THAN_ONCE, tag, i);
        *st = g;
        int r = check_value(mem->field, tag, value_of(c, i), c->f[i].len);
        if (r)
            return reject(c, r, tag, i);
        if (mem->group) {
            if ((rc = walk_group(c, mem->group, &i, lv, top)) != FL_OK)
                return rc;
            continue;
        }
        i++;
    }
    if ((rc = check_required(c, &hlv, -1)) != FL_OK || (rc = check_required(c, &blv, -1)) != FL_OK ||
        (rc = check_required(c, &tlv, -1)) != FL_OK)
        return rc;
    return FL_OK;
}

/* One or two letters or digits (every standard MsgType), or "U..." (user-defined). */
static int msg_type_well_formed(const char *p, size_t n)
{
    size_t max = n && p[0] == 'U' ? 16 : 2;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!digit((char)ch) && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
            return 0;
    }
    return 1;
}

/* Picks the application dictionary of a FIXT message; NULL with a reject when its ApplVerID
 * names none. */
static const struct fl_dict *pick_app(struct vctx *c)
{
    const struct fl_dict *td = c->td;
    int ai = fl_msg_hdr(c->m, FL_HDR_APPL_VER_ID);
    if (ai >= 0) {
        const struct fl_dict *app = fl_dict_app(td, value_of(c, (uint32_t)ai), c->f[ai].len);
        if (!app)
            reject(c, FL_REJECT_INVALID_UNSUPPORTED_APPL_VERSION, FL_TAG_APPL_VER_ID, ai);
        return app;
    }
    const char *def = c->o->default_appl_ver_id;
    const struct fl_dict *app = def ? fl_dict_app(td, def, strlen(def)) : NULL;
    return app ? app : td->apps[0].dict;
}

int fl_dict_validate(const struct fl_dict *d, const struct fl_msg *m,
                     const struct fl_validate_opts *opts, struct fl_validator *v,
                     struct fl_validate_result *res)
{
    static const struct fl_validate_opts defaults = {FL_VALIDATE_LEVEL_FULL, 0, 0, 0, 0, NULL};
    if (!d || !m || !v || !res)
        return FL_EINVAL;
    if (!opts)
        opts = &defaults;
    res->verdict = FL_VERDICT_OK;
    res->reason = 0;
    res->ref_tag = 0;
    res->field_index = -1;
    res->text = "";
    if (opts->level == FL_VALIDATE_LEVEL_OFF)
        return FL_OK;
    if (d->header.body.nmembers == 0)
        return FL_EINVAL;

    struct vctx c = {m, m->fields, m->nfields, opts, d, d, v, NULL, res};
    if (m->problem != FL_PARSE_OK && m->problem != FL_PARSE_HEADER_ORDER &&
        m->problem != FL_PARSE_REPEATED_TAG) {
        int idx = -1;
        for (uint32_t i = 0; m->problem_tag && i < m->nfields; i++)
            if (m->fields[i].tag == m->problem_tag) {
                idx = (int)i;
                break;
            }
        return reject(&c, fl_parse_problem_reject_reason(m->problem), m->problem_tag, idx);
    }

    int mi = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    if (mi < 0)
        return reject(&c, FL_REJECT_REQUIRED_TAG_MISSING, FL_TAG_MSG_TYPE, -1);
    const char *mt = value_of(&c, (uint32_t)mi);
    size_t mtn = m->fields[mi].len;

    const struct fl_dict_message *msg = dict_own_message(d, mt, mtn);
    if (d->napps && (!msg || !msg->admin)) {
        const struct fl_dict *app = pick_app(&c);
        if (!app)
            return FL_EPROTO;
        const struct fl_dict_message *am = dict_own_message(app, mt, mtn);
        if (am || !msg) {
            msg = am;
            c.ad = app;
        }
    }

    uint32_t need = d->trailer.body.scratch + d->header.body.scratch +
                    (msg ? msg->body.scratch : 0);
    if (validator_reserve(v, need) != FL_OK)
        return FL_ENOMEM;
    /* Why here: a message takes at most one generation per field plus one, so restarting
     * before the counter could wrap keeps every stamp of this message comparable. */
    if (v->gen > UINT32_MAX - m->nfields - 2) {
        memset(v->stamp, 0, (size_t)v->cap * sizeof *v->stamp);
        v->gen = 0;
    }
    c.stamp = v->stamp;

    int well_formed = msg || msg_type_well_formed(mt, mtn);
    if (!well_formed)
        return reject(&c, FL_REJECT_INVALID_MSG_TYPE, FL_TAG_MSG_TYPE, mi);
    int check_body = msg && (opts->level == FL_VALIDATE_LEVEL_FULL || msg->admin);
    int rc = walk_message(&c, check_body ? msg : NULL);
    if (rc != FL_OK || msg || opts->level != FL_VALIDATE_LEVEL_FULL)
        return rc;
    /* A well-formed MsgType the dictionary does not define: valid FIX this application does
     * not support. FIX.4.0 and 4.1 have no BusinessMessageReject, so they get Reject 11. */
    if (d->info.transport || d->has_business_reject || c.ad->has_business_reject)
        return verdict(&c, FL_VERDICT_BUSINESS_REJECT, 3, FL_TAG_MSG_TYPE, mi);
    return reject(&c, FL_REJECT_INVALID_MSG_TYPE, FL_TAG_MSG_TYPE, mi);
}
