/* fixlua — fuzz target for the codec: framing, parsing, typed getters, groups and the builder.
 *
 * The input is a byte stream. It is framed twice, once whole and once delivered in two reads
 * split at an input-derived point, and both passes must find the same frames. Every frame is
 * parsed; the field index, header slots, getters, value parsers and built-in groups are
 * checked against their contracts; and the message is rebuilt with fl_builder, which must give
 * a frame that reparses to the same tags and values (and byte for byte the same frame when
 * rebuilt from the raw body). The raw input also goes through fl_msg_parse() unframed, which
 * must never misbehave. Checks abort, so both libFuzzer and replay_main.c report them; they do
 * not use assert() because release builds define NDEBUG. Depends on fl_core only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_frame.h"
#include "fl_group.h"
#include "fl_msg.h"
#include "fl_tags.h"
#include "fuzz_check.h"

/* Frames beyond this many are not compared between the two passes (the input is bounded by
 * libFuzzer's max_len anyway; replayed files may be larger). */
#define MAX_TRACKED_FRAMES 1024
/* fl_group_entry() is O(i); random access is cross-checked on the first entries only. */
#define MAX_RANDOM_ACCESS_ENTRIES 16

struct span {
    size_t off;
    size_t len;
};

struct frame_list {
    struct span v[MAX_TRACKED_FRAMES];
    size_t n;        /* frames found (may exceed MAX_TRACKED_FRAMES) */
    size_t garbled;  /* GARBLED steps */
};

/* Runs the scan loop over data[0..size) delivered as two reads, the first ending at `split`.
 * Every status must keep its contract; OK frames are recorded in `out`. */
static void scan_stream(const char *p, size_t size, size_t split, size_t max_len,
                        struct frame_list *out)
{
    size_t pos = 0, end = split;
    out->n = 0;
    out->garbled = 0;
    for (;;) {
        struct fl_frame fr;
        size_t avail = end - pos;
        enum fl_frame_status st = fl_frame_scan(p + pos, avail, max_len, &fr);
        if (st == FL_FRAME_OK) {
            CHECK(fr.len > 0 && fr.len <= avail);
            CHECK(fr.len <= (max_len ? max_len : FL_FRAME_DEFAULT_MAX_LEN));
            CHECK(fr.begin_string_off == 2 && fr.begin_string_len >= 3);
            CHECK((size_t)fr.body_off + fr.body_len + 7 == fr.len);
            CHECK(memcmp(p + pos, "8=FIX", 5) == 0);
            if (out->n < MAX_TRACKED_FRAMES)
                out->v[out->n] = (struct span){pos, fr.len};
            out->n++;
            pos += fr.len;
        } else if (st == FL_FRAME_GARBLED) {
            CHECK(fr.skip >= 1 && fr.skip <= avail);
            CHECK(fr.reason > FL_FRAME_REASON_NONE && fr.reason < FL_FRAME_REASON__COUNT);
            CHECK(fl_frame_reason_text(fr.reason) != NULL);
            out->garbled++;
            pos += fr.skip;
        } else {
            CHECK(st == FL_FRAME_NEED_MORE);
            if (end == size)
                break;
            end = size;
        }
    }
}

/* The field index must describe the bytes it was built from. */
static void check_index(const struct fl_msg *m)
{
    CHECK(m->nfields <= m->cap || m->nfields == 0);
    CHECK(m->body_begin <= m->nfields && m->trailer_begin <= m->nfields);
    CHECK((unsigned)m->problem < FL_PARSE__COUNT);
    CHECK(fl_parse_problem_text(m->problem) != NULL);
    (void)fl_parse_problem_reject_reason(m->problem);
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct fl_field *f = &m->fields[i];
        CHECK(f->tag > 0);
        CHECK((size_t)f->off + f->len <= m->len);
        CHECK(f->off > 0 && m->buf[f->off - 1] == '=');
    }
    for (int s = 0; s < FL_HDR__COUNT; s++) {
        int i = fl_msg_hdr(m, (enum fl_hdr_slot)s);
        CHECK(i >= -1 && i < (int)m->nfields);
    }
}

/* An independent reading of a message the parser found no problem in: tags are digits up to
 * '=', values end at the next SOH or, for the data field of a pair, after the announced length.
 * The index, header slots and section bounds must be exactly this. */
static void check_clean_index(const struct fl_msg *m)
{
    const char *p = m->buf;
    size_t n = m->len, pos = 0;
    uint32_t i = 0, data_tag = 0;
    size_t data_len = 0;
    uint32_t first_body = UINT32_MAX, first_trailer = UINT32_MAX;
    int first_at[FL_HDR__COUNT];
    for (int s = 0; s < FL_HDR__COUNT; s++)
        first_at[s] = -1;
    static const uint32_t slot_tags[FL_HDR__COUNT] = {8, 9, 35, 49, 56, 34, 52, 43, 97, 122,
                                                      1128, 369, 10};
    while (pos < n) {
        CHECK(i < m->nfields);
        size_t eq = pos;
        uint32_t tag = 0;
        while (p[eq] != '=') {
            CHECK(p[eq] >= '0' && p[eq] <= '9' && eq - pos < 9);
            tag = tag * 10 + (uint32_t)(p[eq] - '0');
            eq++;
        }
        size_t end = eq + 1;
        if (data_tag && tag == data_tag)
            end += data_len;
        else
            while (p[end] != '\001')
                end++;
        CHECK(m->fields[i].tag == tag);
        CHECK(m->fields[i].off == eq + 1 && m->fields[i].len == end - eq - 1);
        data_tag = fl_data_tag_for_length(tag);
        if (data_tag) {
            int64_t v;
            CHECK(fl_parse_int(p + eq + 1, end - eq - 1, &v) == FL_OK && v >= 0);
            data_len = (size_t)v;
        }
        int section = fl_tag_section(tag);
        if (section == 0 && first_body == UINT32_MAX)
            first_body = i;
        if (section == 2 && first_trailer == UINT32_MAX)
            first_trailer = i;
        for (int s = 0; s < FL_HDR__COUNT; s++)
            if (slot_tags[s] == tag && first_at[s] < 0)
                first_at[s] = (int)i;
        pos = end + 1;
        i++;
    }
    CHECK(i == m->nfields);
    CHECK(m->trailer_begin == (first_trailer == UINT32_MAX ? i : first_trailer));
    CHECK(m->body_begin == (first_body == UINT32_MAX ? m->trailer_begin : first_body));
    for (int s = 0; s < FL_HDR__COUNT; s++)
        CHECK(fl_msg_hdr(m, (enum fl_hdr_slot)s) == first_at[s]);
}

static void check_int(const char *p, size_t n)
{
    int64_t v;
    int rc = fl_parse_int(p, n, &v);
    CHECK(rc == FL_OK || rc == FL_EFORMAT || rc == FL_ERANGE);
    if (rc != FL_OK)
        return;
    char buf[24];
    int64_t back;
    size_t k = fl_format_int(buf, v);
    CHECK(k <= 20 && fl_parse_int(buf, k, &back) == FL_OK && back == v);
    struct fl_decimal d;
    if (fl_parse_decimal(p, n, &d) == FL_OK)
        CHECK(d.scale == 0 && d.mantissa == v);
}

static void check_decimal(const char *p, size_t n)
{
    struct fl_decimal d, back;
    int rc = fl_parse_decimal(p, n, &d);
    CHECK(rc == FL_OK || rc == FL_EFORMAT || rc == FL_ERANGE);
    if (rc != FL_OK || d.scale > FL_DECIMAL_MAX_SCALE)
        return;
    CHECK(d.scale >= 0);
    char buf[48];
    size_t k = fl_format_decimal(buf, d);
    CHECK(k <= 41);
    CHECK(fl_parse_decimal(buf, k, &back) == FL_OK);
    CHECK(back.mantissa == d.mantissa && back.scale == d.scale);
}

static void check_times(const char *p, size_t n)
{
    int64_t ns, back;
    int digits, bd;
    int rc = fl_parse_utc_timestamp(p, n, &ns, &digits);
    CHECK(rc == FL_OK || rc == FL_EFORMAT || rc == FL_ERANGE);
    if (rc == FL_OK) {
        CHECK(digits >= 0 && digits <= 12);
        char buf[32];
        /* 9 digits always carry the full value; the value's own precision must too. */
        size_t k = fl_format_utc_timestamp(buf, ns, 9);
        CHECK(k == 27 && fl_parse_utc_timestamp(buf, k, &back, &bd) == FL_OK && back == ns);
        k = fl_format_utc_timestamp(buf, ns, digits > 9 ? 9 : digits);
        CHECK(fl_parse_utc_timestamp(buf, k, &back, &bd) == FL_OK && back == ns);
    }
    rc = fl_parse_utc_time_only(p, n, &ns, &digits);
    CHECK(rc == FL_OK || rc == FL_EFORMAT);
    if (rc == FL_OK) {
        const int64_t day = INT64_C(86400000000000);
        CHECK(ns >= 0 && ns < day + INT64_C(1000000000)); /* 23:59:60.x is past midnight */
        char buf[24];
        size_t k = fl_format_utc_time_only(buf, ns, 9);
        CHECK(k == 18 && fl_parse_utc_time_only(buf, k, &back, &bd) == FL_OK);
        CHECK(back == ns % day);
    }
    struct fl_date d;
    rc = fl_parse_date(p, n, &d);
    CHECK(rc == FL_OK || rc == FL_EFORMAT);
    if (rc == FL_OK) {
        CHECK(d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= 31);
        int y, mo, da;
        fl_civil_from_days(fl_days_from_civil(d.year, d.month, d.day), &y, &mo, &da);
        CHECK(y == d.year && mo == d.month && da == d.day);
    }
    int b;
    rc = fl_parse_bool(p, n, &b);
    CHECK(rc == FL_EFORMAT || (rc == FL_OK && n == 1 && b == (p[0] == 'Y')));
}

/* Typed getters by tag answer for the first occurrence, as fl_msg_find() does. */
static void check_getters(const struct fl_msg *m)
{
    static const uint32_t tags[] = {8, 9, 34, 35, 43, 49, 52, 56, 10, 95, 96, 38, 44, 60, 75};
    for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
        uint32_t tag = tags[k];
        int i = fl_msg_find(m, tag);
        CHECK(i == fl_msg_find_from(m, tag, 0));
        CHECK((i < 0) == (fl_msg_count(m, tag) == 0));
        const char *p;
        size_t n;
        int rc = fl_msg_get_str(m, tag, &p, &n);
        CHECK(rc == (i < 0 ? FL_ENOENT : FL_OK));
        rc = fl_msg_get_data(m, tag, &p, &n);
        CHECK(rc == (i < 0 ? FL_ENOENT : FL_OK));
        int64_t v;
        struct fl_decimal d;
        char c;
        int b, digits;
        struct fl_date date;
        rc = fl_msg_get_int(m, tag, &v);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_decimal(m, tag, &d);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_char(m, tag, &c);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_bool(m, tag, &b);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_utc_timestamp(m, tag, &v, &digits);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_utc_time_only(m, tag, &v, NULL);
        CHECK(i >= 0 || rc == FL_ENOENT);
        rc = fl_msg_get_date(m, tag, &date);
        CHECK(i >= 0 || rc == FL_ENOENT);
    }
}

static void check_group(const struct fl_msg *m, const struct fl_group_def *def, uint32_t from,
                        uint32_t to, int depth)
{
    struct fl_group g;
    int rc = fl_group_open(&g, m, def, from, to);
    CHECK(rc == FL_OK || rc == FL_ENOENT || rc == FL_EFORMAT);
    if (rc != FL_OK)
        return;
    CHECK(g.count_index >= from && g.count_index < to);
    CHECK(m->fields[g.count_index].tag == def->count_tag);
    CHECK(g.first == g.count_index + 1 && g.first <= g.end && g.end <= to);
    struct fl_group_entry e, r;
    uint32_t count = 0, expect_begin = g.first;
    const struct fl_group_entry *prev = NULL;
    while (fl_group_next(&g, prev, &e) == FL_OK) {
        CHECK(e.begin == expect_begin && e.begin < e.end && e.end <= g.end);
        CHECK(m->fields[e.begin].tag == def->delim_tag);
        CHECK(fl_group_entry_find(&g, &e, def->delim_tag) == (int)e.begin);
        if (count < MAX_RANDOM_ACCESS_ENTRIES) {
            CHECK(fl_group_entry(&g, count, &r) == FL_OK);
            CHECK(r.begin == e.begin && r.end == e.end);
        }
        for (uint32_t k = e.begin; k < e.end; k++)
            CHECK(k == e.begin || fl_group_def_has(def, m->fields[k].tag));
        if (depth < 4)
            for (uint32_t s = 0; s < def->nsubgroups; s++)
                check_group(m, def->subgroups[s], e.begin, e.end, depth + 1);
        expect_begin = e.end;
        count++;
        prev = &e;
    }
    CHECK(count == g.found);
    CHECK(expect_begin == g.end);
    CHECK(fl_group_entry(&g, g.found, &r) == FL_ERANGE);
}

static void check_groups(const struct fl_msg *m)
{
    int mt = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    const char *type = mt >= 0 ? fl_msg_value(m, (uint32_t)mt) : NULL;
    size_t type_len = mt >= 0 ? m->fields[mt].len : 0;
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct fl_group_def *def = fl_group_builtin(m->fields[i].tag, type, type_len);
        if (def)
            check_group(m, def, i, m->nfields, 0);
    }
}

/* Length fields of data pairs are compared as numbers: "95=03" rebuilds as "95=3". */
static int same_value(const struct fl_msg *a, uint32_t i, const struct fl_msg *b, uint32_t j)
{
    const struct fl_field *fa = &a->fields[i], *fb = &b->fields[j];
    if (fl_data_tag_for_length(fa->tag)) {
        int64_t va, vb;
        return fl_parse_int(a->buf + fa->off, fa->len, &va) == FL_OK &&
               fl_parse_int(b->buf + fb->off, fb->len, &vb) == FL_OK && va == vb;
    }
    return fa->len == fb->len && memcmp(a->buf + fa->off, b->buf + fb->off, fa->len) == 0;
}

/* Rebuilds a clean message field by field and checks that it reparses to the same fields. */
static void check_rebuild_fields(const struct fl_msg *m, struct fl_builder *b, struct fl_msg *re,
                                 const char *begin_string)
{
    const struct fl_field *mt = &m->fields[2];
    CHECK(fl_builder_begin(b, begin_string, fl_msg_value(m, 2), mt->len) == FL_OK);
    uint32_t last = m->nfields - 1; /* CheckSum(10) */
    for (uint32_t i = 3; i < last; i++) {
        const struct fl_field *f = &m->fields[i];
        uint32_t data_tag = fl_data_tag_for_length(f->tag);
        if (data_tag && i + 1 < last && m->fields[i + 1].tag == data_tag) {
            const struct fl_field *d = &m->fields[i + 1];
            fl_builder_add_data(b, f->tag, data_tag, m->buf + d->off, d->len);
            i++;
        } else {
            fl_builder_add_str(b, f->tag, m->buf + f->off, f->len);
        }
    }
    const char *out;
    size_t n;
    CHECK(fl_builder_finish(b, &out, &n) == FL_OK);
    struct fl_frame fr;
    CHECK(fl_frame_scan(out, n, 0, &fr) == FL_FRAME_OK && fr.len == n);
    CHECK(fl_msg_parse(re, out, n) == FL_OK);
    CHECK(re->problem == FL_PARSE_OK);
    CHECK(re->nfields == m->nfields);
    for (uint32_t i = 0; i < m->nfields; i++) {
        CHECK(re->fields[i].tag == m->fields[i].tag);
        if (i != 1 && i != last) /* BodyLength and CheckSum are the builder's */
            CHECK(same_value(m, i, re, i));
    }
}

/* Rebuilds any OK frame from its raw body: without leading zeros in BodyLength the result must
 * be the same bytes, since the builder writes 8, 9, 35 and 10 exactly as the scanner checks. */
static void check_rebuild_raw(const char *p, const struct fl_frame *fr, struct fl_builder *b,
                              const char *begin_string)
{
    const char *mt = p + fr->body_off + 3;
    const char *mt_end = memchr(mt, '\001', fr->body_len - 3);
    CHECK(mt_end != NULL);
    if (mt_end == mt)
        return; /* empty MsgType: the builder rightly refuses it */
    CHECK(fl_builder_begin(b, begin_string, mt, (size_t)(mt_end - mt)) == FL_OK);
    const char *body_end = p + fr->body_off + fr->body_len;
    fl_builder_add_raw(b, mt_end + 1, (size_t)(body_end - (mt_end + 1)));
    const char *out;
    size_t n;
    CHECK(fl_builder_finish(b, &out, &n) == FL_OK);
    /* The body always comes back unchanged; the frame too unless BodyLength had leading
     * zeros, which the builder does not write (so the CheckSum differs as well). */
    CHECK(n >= (size_t)fr->body_len + 7);
    CHECK(memcmp(out + n - 7 - fr->body_len, p + fr->body_off, fr->body_len) == 0);
    if (p[fr->begin_string_off + fr->begin_string_len + 3] != '0')
        CHECK(n == fr->len && memcmp(out, p, n) == 0);
    else
        CHECK(n < fr->len);
}

static void check_frame(const char *p, const struct span *s, struct fl_msg *m,
                        struct fl_builder *b)
{
    struct fl_frame fr;
    CHECK(fl_frame_scan(p, s->len, 0, &fr) == FL_FRAME_OK && fr.len == s->len);
    CHECK(fl_checksum(p, fr.body_off + fr.body_len) ==
          (unsigned)((p[s->len - 4] - '0') * 100 + (p[s->len - 3] - '0') * 10 +
                     (p[s->len - 2] - '0')));

    /* BeginString as a C string, when it can be one (the builder takes a C string). */
    char begin_string[FL_BUILDER_MAX_BEGIN_STRING + 1];
    int bs_ok = fr.begin_string_len <= FL_BUILDER_MAX_BEGIN_STRING &&
                !memchr(p + 2, '\0', fr.begin_string_len);
    if (bs_ok) {
        memcpy(begin_string, p + 2, fr.begin_string_len);
        begin_string[fr.begin_string_len] = '\0';
        check_rebuild_raw(p, &fr, b, begin_string);
    }

    int rc = fl_msg_parse(m, p, s->len);
    CHECK(rc == FL_OK || rc == FL_ELIMIT);
    check_index(m);
    if (rc != FL_OK) {
        CHECK(m->problem == FL_PARSE_TOO_MANY_FIELDS);
        return;
    }
    /* The scanner guarantees these; the parser must agree. */
    CHECK(m->nfields >= 4);
    CHECK(m->fields[0].tag == FL_TAG_BEGIN_STRING && m->fields[1].tag == FL_TAG_BODY_LENGTH &&
          m->fields[2].tag == FL_TAG_MSG_TYPE);
    CHECK(fl_msg_hdr(m, FL_HDR_BEGIN_STRING) == 0 && fl_msg_hdr(m, FL_HDR_MSG_TYPE) == 2);
    int64_t body_len;
    CHECK(fl_msg_get_int(m, FL_TAG_BODY_LENGTH, &body_len) == FL_OK && body_len == fr.body_len);

    for (uint32_t i = 0; i < m->nfields; i++) {
        const char *v = fl_msg_value(m, i);
        size_t n = m->fields[i].len;
        check_int(v, n);
        check_decimal(v, n);
        check_times(v, n);
        int first = fl_msg_find(m, m->fields[i].tag);
        CHECK(first >= 0 && first <= (int)i && m->fields[first].tag == m->fields[i].tag);
    }
    check_getters(m);
    check_groups(m);

    struct fl_msg copy;
    fl_msg_init(&copy);
    CHECK(fl_msg_clone(&copy, m) == FL_OK);
    CHECK(copy.nfields == m->nfields && copy.len == m->len && copy.problem == m->problem);
    CHECK(memcmp(copy.buf, m->buf, m->len) == 0);
    CHECK(memcmp(copy.fields, m->fields, m->nfields * sizeof *m->fields) == 0);
    fl_msg_release(&copy);

    if (m->problem == FL_PARSE_OK) {
        check_clean_index(m);
        CHECK(m->fields[m->nfields - 1].tag == FL_TAG_CHECKSUM);
        CHECK(m->trailer_begin < m->nfields && m->body_begin <= m->trailer_begin);
        if (bs_ok) {
            struct fl_msg re;
            fl_msg_init(&re);
            check_rebuild_fields(m, b, &re, begin_string);
            fl_msg_release(&re);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    /* Input-derived knobs: where the stream is split, and whether small limits apply. */
    size_t split = size ? ((size_t)data[0] * 131 + data[size - 1]) % (size + 1) : 0;
    size_t max_len = size && (data[size / 2] & 1) ? 512 : 0;

    struct frame_list *whole = malloc(sizeof *whole), *parts = malloc(sizeof *parts);
    CHECK(whole && parts);
    scan_stream(p, size, size, max_len, whole);
    scan_stream(p, size, split, max_len, parts);
    /* Read boundaries must not change which frames are found. */
    CHECK(whole->n == parts->n);
    for (size_t i = 0; i < whole->n && i < MAX_TRACKED_FRAMES; i++)
        CHECK(whole->v[i].off == parts->v[i].off && whole->v[i].len == parts->v[i].len);

    struct fl_msg m;
    struct fl_builder b;
    fl_msg_init(&m);
    fl_builder_init(&b);
    if (size && (data[0] & 2))
        m.max_fields = 16;
    for (size_t i = 0; i < whole->n && i < MAX_TRACKED_FRAMES; i++)
        check_frame(p + whole->v[i].off, &whole->v[i], &m, &b);

    /* The parser must cope with any bytes, framed or not. */
    int rc = fl_msg_parse(&m, p, size);
    CHECK(rc == FL_OK || rc == FL_ELIMIT);
    check_index(&m);
    if (rc == FL_OK) {
        if (m.problem == FL_PARSE_OK)
            check_clean_index(&m);
        check_getters(&m);
        check_groups(&m);
    }

    fl_builder_release(&b);
    fl_msg_release(&m);
    free(whole);
    free(parts);
    return 0;
}
