/* fixlua — `fixlua journal`: what a session's journal holds, read without touching it. */
#ifndef FL_JOURNAL_TOOL_H
#define FL_JOURNAL_TOOL_H

#include <stdio.h>

/* `fixlua journal [--info] [--from SEQ] [--to SEQ] [--soh] FILE.journal...`: for each journal,
 * its stored messages one a line ("SEQ 8=...|9=...|", which `fixlua log` reads), or with --info
 * a summary: creation time, next sequence numbers, what is stored, and what opening it for
 * writing would repair. Returns the exit code: 0, 1 when a journal could not be read or needs
 * repair, 2 for bad usage. */
int fl_journal_main(int argc, char **argv, FILE *out, FILE *err);

#endif
