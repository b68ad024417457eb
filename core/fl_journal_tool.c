/* fixlua — `fixlua journal` (see fl_journal_tool.h). The journal is opened with
 * fl_store_file_open_read(): no lock, no repair, so it works on the journal of a running engine
 * and on archives, and the recovery rules are the store's own. */
#include "fl_journal_tool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_err.h"
#include "fl_pretty.h"
#include "fl_store.h"

static int usage(FILE *f)
{
    fputs("usage: fixlua journal [--info] [--from SEQ] [--to SEQ] [--soh] FILE.journal...\n"
          "  prints the messages a session's journal stores, one a line: SEQ 8=...|9=...|\n"
          "  (pipe into `fixlua log` for names), or with --info what the journal holds.\n"
          "  Read only: a running engine's journal and archives are left as they are.\n",
          f);
    return 2;
}

static int parse_seq(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || s[0] == '-')
        return 0;
    *out = v;
    return 1;
}

static void print_message(FILE *out, uint64_t seq, const char *p, size_t n, int soh)
{
    fprintf(out, "%llu ", (unsigned long long)seq);
    if (soh)
        fwrite(p, 1, n, out);
    else
        fl_pretty_write_bars(out, p, n);
    fputc('\n', out);
}

/* One journal: 0, or 1 when it could not be read or would be repaired. */
static int show(FILE *out, FILE *err, const char *path, int info, uint64_t from, uint64_t to,
                int soh)
{
    struct fl_store *s = NULL;
    char note[512];
    int rc = fl_store_file_open_read(path, &s, note, sizeof note);
    if (rc != FL_OK) {
        fprintf(err, "fixlua journal: %s\n", note);
        return 1;
    }
    struct fl_store_iter *it = NULL;
    rc = fl_store_iter_open(s, from, to, &it);
    uint64_t count = 0, first = 0, last = 0, bytes = 0, seq;
    const char *data;
    size_t len;
    while (rc == FL_OK && (rc = fl_store_iter_next(it, &seq, &data, &len)) == FL_OK) {
        if (!count)
            first = seq;
        last = seq;
        count++;
        bytes += len;
        if (!info)
            print_message(out, seq, data, len, soh);
    }
    fl_store_iter_close(it);
    int status = 0;
    if (rc != FL_ENOENT) {
        fprintf(err, "fixlua journal: %s: reading the stored messages: %s\n", path,
                s->last_error[0] ? s->last_error : fl_strerror(rc));
        status = 1;
    }
    if (info) {
        char created[32];
        created[fl_format_utc_timestamp(created, fl_store_creation_time(s), 3)] = '\0';
        fprintf(out, "%s: created %s UTC; next sender %llu, next target %llu; ", path, created,
                (unsigned long long)fl_store_next_sender(s),
                (unsigned long long)fl_store_next_target(s));
        if (count)
            fprintf(out, "%llu messages stored (%llu bytes), seq %llu to %llu\n",
                    (unsigned long long)count, (unsigned long long)bytes,
                    (unsigned long long)first, (unsigned long long)last);
        else
            fprintf(out, "no messages stored\n");
    }
    if (note[0]) {
        /* What opening it for writing would repair: the operator should hear of it here too. */
        fprintf(err, "fixlua journal: %s\n", note);
        status = 1;
    }
    fl_store_close(s);
    return status;
}

int fl_journal_main(int argc, char **argv, FILE *out, FILE *err)
{
    int info = 0, soh = 0, first_file = argc, status = 0;
    uint64_t from = 1, to = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--info")) {
            info = 1;
        } else if (!strcmp(a, "--soh")) {
            soh = 1;
        } else if ((!strcmp(a, "--from") || !strcmp(a, "--to")) && i + 1 < argc) {
            if (!parse_seq(argv[i + 1], a[2] == 'f' ? &from : &to)) {
                fprintf(err, "fixlua journal: %s wants a sequence number, got '%s'\n", a,
                        argv[i + 1]);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(out);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(err, "fixlua journal: unknown option '%s'\n", a);
            return usage(err);
        } else {
            first_file = i;
            break;
        }
    }
    if (first_file == argc)
        return usage(err);
    if (to && to < from) {
        fprintf(err, "fixlua journal: --to %llu is before --from %llu\n",
                (unsigned long long)to, (unsigned long long)from);
        return 2;
    }
    for (int i = first_file; i < argc; i++)
        if (show(out, err, argv[i], info, from, to, soh) != 0)
            status = 1;
    return status;
}
