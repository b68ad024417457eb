/* fixlua — the FIX log pretty-printer behind `fixlua log`: reads message logs (fixlua's own,
 * QuickFIX's, or anything with one FIX message per line, SOH or '|' separated) and raw
 * captures, and prints each message with field and enum names, repeating groups indented,
 * filtered by MsgType, CompID or a tag's value. Names come from a QuickFIX XML dictionary when
 * one is given, else from the built-in dictionary of each message's BeginString. */
#ifndef FL_PRETTY_H
#define FL_PRETTY_H

#include <stdio.h>

#include "fl_dict.h"
#include "fl_msg.h"

struct fl_pretty_filter {
    const char *msg_type;   /* MsgType value ("D") or message name ("NewOrderSingle"); NULL: any */
    const char *comp_id;    /* SenderCompID or TargetCompID equal to this; NULL: any */
    uint32_t tag;           /* with tag_value: that field must equal it; 0: none */
    const char *tag_value;
    int one_line;           /* print "prefix 8=...|9=...|" instead of the field list */
};

/* Prints one parsed message: `prefix` (timestamp and direction from the log line, may be NULL)
 * on a title line, then one line per field, groups indented. */
void fl_pretty_print(FILE *out, const struct fl_dict *d, const struct fl_msg *m, const char *prefix,
                     int one_line);

/* Writes p[0..n) with every SOH shown as '|', as fixlua's message logs are written. */
void fl_pretty_write_bars(FILE *out, const char *p, size_t n);

/* 1 when m passes the filter (names resolved with d, which may be NULL). */
int fl_pretty_match(const struct fl_dict *d, const struct fl_msg *m, const struct fl_pretty_filter *f);

/* `fixlua log [--type T] [--comp ID] [--tag N=V] [--dict FILE.xml] [--one-line] [FILE...]`
 * (standard input when no FILE). Returns the process exit code: 0, 1 when a file could not be
 * read, 2 for bad usage. */
int fl_pretty_main(int argc, char **argv, FILE *out, FILE *err);

#endif
