/* fixlua — the FIX log pretty-printer (see fl_pretty.h).
 *
 * Input is read line by line; each line may hold text before the first "8=FIX" (a timestamp,
 * a direction) and one or more messages. '|'-separated messages are turned back into SOH ones
 * first. A file without newlines (a raw capture) is one long line, cut at each "8=FIX". Lines
 * without a message are skipped silently: logs mix in other text. */
#include "fl_pretty.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fl_frame.h"
#include "fl_group.h"

#define MAX_DICTS 8

struct dict_cache {
    struct fl_dict *given;          /* --dict */
    char begin[MAX_DICTS][16];
    struct fl_dict *builtin[MAX_DICTS];
    int n;
};

static const struct fl_dict *dict_for(struct dict_cache *c, const struct fl_msg *m)
{
    if (c->given)
        return c->given;
    int i = fl_msg_hdr(m, FL_HDR_BEGIN_STRING);
    if (i < 0)
        return NULL;
    char bs[16];
    snprintf(bs, sizeof bs, "%.*s", (int)m->fields[i].len, fl_msg_value(m, (uint32_t)i));
    for (int k = 0; k < c->n; k++)
        if (strcmp(c->begin[k], bs) == 0)
            return c->builtin[k];
    if (c->n == MAX_DICTS)
        return NULL;
    struct fl_dict *d = NULL;
    if (fl_dict_builtin(bs, &d) != FL_OK)
        d = NULL;
    snprintf(c->begin[c->n], sizeof c->begin[c->n], "%s", bs);
    c->builtin[c->n++] = d;
    return d;
}

static void print_field(FILE *out, const struct fl_dict *d, const struct fl_msg *m, uint32_t i,
                        int depth)
{
    const struct fl_field *f = &m->fields[i];
    const char *v = fl_msg_value(m, i);
    const struct fl_dict_field *df = d ? fl_dict_field_by_tag(d, f->tag) : NULL;
    const char *ename = fl_dict_enum_name(df, v, f->len);
    fprintf(out, "%*s%6u %-24s = ", 2 + depth * 4, "", f->tag, df ? df->name : "");
    for (uint32_t k = 0; k < f->len; k++)
        fputc(v[k] == '\001' ? '|' : v[k], out);
    if (ename)
        fprintf(out, "  (%s)", ename);
    fputc('\n', out);
}

/* Prints fields [from, to); a NumInGroup the dictionary knows opens an indented group. */
static void print_range(FILE *out, const struct fl_dict *d, const struct fl_msg *m, const char *type,
                        size_t type_len, uint32_t from, uint32_t to, int depth)
{
    uint32_t i = from;
    while (i < to) {
        print_field(out, d, m, i, depth);
        const struct fl_group_def *def =
            d && depth < 8 ? fl_dict_group(d, type, type_len, m->fields[i].tag) : NULL;
        struct fl_group g;
        if (!def || fl_group_open(&g, m, def, i, to) != FL_OK || g.count_index != i) {
            i++;
            continue;
        }
        struct fl_group_entry e;
        int k = 1;
        for (int rc = fl_group_next(&g, NULL, &e); rc == FL_OK; rc = fl_group_next(&g, &e, &e), k++) {
            fprintf(out, "%*s-- %d\n", 4 + depth * 4, "", k);
            print_range(out, d, m, type, type_len, e.begin, e.end, depth + 1);
        }
        i = g.end > i ? g.end : i + 1;
    }
}

void fl_pretty_print(FILE *out, const struct fl_dict *d, const struct fl_msg *m, const char *prefix,
                     int one_line)
{
    if (one_line) {
        if (prefix && *prefix)
            fprintf(out, "%s ", prefix);
        for (size_t k = 0; k < m->len; k++)
            fputc(m->buf[k] == '\001' ? '|' : m->buf[k], out);
        fputc('\n', out);
        return;
    }
    int ti = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    const char *type = ti >= 0 ? fl_msg_value(m, (uint32_t)ti) : "";
    size_t tl = ti >= 0 ? m->fields[ti].len : 0;
    const struct fl_dict_message *dm = d ? fl_dict_message(d, type, tl) : NULL;
    const char *s, *t, *q;
    size_t sn = 0, tn = 0, qn = 0;
    if (fl_msg_get_str(m, 49, &s, &sn) != FL_OK)
        s = "";
    if (fl_msg_get_str(m, 56, &t, &tn) != FL_OK)
        t = "";
    if (fl_msg_get_str(m, 34, &q, &qn) != FL_OK)
        q = "";
    fprintf(out, "%s%s%s (%.*s)  %.*s -> %.*s  seq %.*s\n", prefix && *prefix ? prefix : "",
            prefix && *prefix ? " " : "", dm ? dm->name : "?", (int)tl, type, (int)sn, s, (int)tn,
            t, (int)qn, q);
    print_range(out, d, m, type, tl, 0, m->nfields, 0);
}

static int field_is(const struct fl_msg *m, uint32_t tag, const char *v)
{
    const char *p;
    size_t n;
    return fl_msg_get_str(m, tag, &p, &n) == FL_OK && strlen(v) == n && memcmp(p, v, n) == 0;
}

int fl_pretty_match(const struct fl_dict *d, const struct fl_msg *m, const struct fl_pretty_filter *f)
{
    if (f->msg_type && !field_is(m, 35, f->msg_type)) {
        const struct fl_dict_message *dm = d ? fl_dict_message_by_name(d, f->msg_type, strlen(f->msg_type)) : NULL;
        if (!dm || !field_is(m, 35, dm->msg_type))
            return 0;
    }
    if (f->comp_id && !field_is(m, 49, f->comp_id) && !field_is(m, 56, f->comp_id))
        return 0;
    if (f->tag) {
        int found = 0;
        size_t vl = strlen(f->tag_value);
        for (int i = fl_msg_find(m, f->tag); i >= 0 && !found;
             i = fl_msg_find_from(m, f->tag, (uint32_t)i + 1))
            found = m->fields[i].len == vl && memcmp(fl_msg_value(m, (uint32_t)i), f->tag_value, vl) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* Finds the next "8=FIX" at or after `from` that starts a message (line start or after a
 * delimiter), or NULL. */
static char *next_start(char *line, char *from, char *end)
{
    for (char *p = from; p + 5 <= end; p++) {
        p = memchr(p, '8', (size_t)(end - p));
        if (!p || p + 5 > end)
            return NULL;
        if (memcmp(p, "8=FIX", 5) == 0 &&
            (p == line || p[-1] == '\001' || p[-1] == '|' || p[-1] == ' ' || p[-1] == '\t' ||
             p[-1] == ':'))
            return p;
    }
    return NULL;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == ':'))
        s[--n] = '\0';
}

static void handle_message(FILE *out, struct dict_cache *dc, struct fl_msg *m, char *p, size_t n,
                           const char *prefix, const struct fl_pretty_filter *f)
{
    /* A '|'-separated message becomes SOH-separated again. */
    if (!memchr(p, '\001', n))
        for (size_t k = 0; k < n; k++)
            if (p[k] == '|')
                p[k] = '\001';
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    struct fl_frame fr;
    size_t len = fl_frame_scan(p, n, 0, &fr) == FL_FRAME_OK ? fr.len : n;
    if (fl_msg_parse(m, p, len) != FL_OK || m->nfields == 0)
        return;
    const struct fl_dict *d = dict_for(dc, m);
    if (!fl_pretty_match(d, m, f))
        return;
    fl_pretty_print(out, d, m, prefix, f->one_line);
    if (!f->one_line)
        fputc('\n', out);
}

static void handle_line(FILE *out, struct dict_cache *dc, struct fl_msg *m, char *line, size_t n,
                        const struct fl_pretty_filter *f)
{
    char *end = line + n;
    char *start = next_start(line, line, end);
    if (!start)
        return;
    char prefix[128];
    size_t pl = (size_t)(start - line);
    snprintf(prefix, sizeof prefix, "%.*s", (int)(pl < sizeof prefix ? pl : sizeof prefix - 1), line);
    trim(prefix);
    while (start) {
        char *next = next_start(line, start + 5, end);
        size_t len = (size_t)((next ? next : end) - start);
        handle_message(out, dc, m, start, len, prefix, f);
        start = next;
    }
}

static int handle_stream(FILE *out, FILE *in, struct dict_cache *dc, const struct fl_pretty_filter *f)
{
    struct fl_msg m;
    fl_msg_init(&m);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0)
        handle_line(out, dc, &m, line, (size_t)n, f);
    free(line);
    fl_msg_release(&m);
    return ferror(in) ? -1 : 0;
}

static int usage(FILE *err)
{
    fprintf(err, "usage: fixlua log [--type MSGTYPE|NAME] [--comp COMPID] [--tag N=VALUE]\n"
                 "                  [--dict FILE.xml] [--one-line] [FILE...]\n");
    return 2;
}

int fl_pretty_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct fl_pretty_filter f;
    memset(&f, 0, sizeof f);
    struct dict_cache dc;
    memset(&dc, 0, sizeof dc);
    const char *dict_path = NULL;
    int first_file = argc, status = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--type") && i + 1 < argc) {
            f.msg_type = argv[++i];
        } else if (!strcmp(a, "--comp") && i + 1 < argc) {
            f.comp_id = argv[++i];
        } else if (!strcmp(a, "--tag") && i + 1 < argc) {
            const char *spec = argv[++i];
            char *eq;
            unsigned long t = strtoul(spec, &eq, 10);
            if (*eq != '=' || t == 0 || t > UINT32_MAX) {
                fprintf(err, "fixlua log: --tag wants N=VALUE, got '%s'\n", spec);
                return 2;
            }
            f.tag = (uint32_t)t;
            f.tag_value = eq + 1;
        } else if (!strcmp(a, "--dict") && i + 1 < argc) {
            dict_path = argv[++i];
        } else if (!strcmp(a, "--one-line")) {
            f.one_line = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(out);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(err, "fixlua log: unknown option '%s'\n", a);
            return usage(err);
        } else {
            first_file = i;
            break;
        }
    }
    if (dict_path) {
        char e[512];
        if (fl_dict_load_file(dict_path, &dc.given, e, sizeof e) != FL_OK) {
            fprintf(err, "fixlua log: %s\n", e);
            return 1;
        }
    }
    if (first_file == argc) {
        if (handle_stream(out, stdin, &dc, &f) != 0)
            status = 1;
    }
    for (int i = first_file; i < argc; i++) {
        FILE *in = strcmp(argv[i], "-") ? fopen(argv[i], "r") : stdin;
        if (!in) {
            fprintf(err, "fixlua log: cannot open %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        if (handle_stream(out, in, &dc, &f) != 0) {
            fprintf(err, "fixlua log: error reading %s\n", argv[i]);
            status = 1;
        }
        if (in != stdin)
            fclose(in);
    }
    fl_dict_free(dc.given);
    for (int k = 0; k < dc.n; k++)
        fl_dict_free(dc.builtin[k]);
    return status;
}

void fl_pretty_write_bars(FILE *out, const char *p, size_t n)
{
    /* Runs between SOHs go out in one write each. */
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\001') {
            fwrite(p + start, 1, i - start, out);
            fputc('|', out);
            start = i + 1;
        }
    }
    fwrite(p + start, 1, n - start, out);
}
