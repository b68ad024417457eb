/* fixlua — repeating groups over a parsed message's field index.
 *
 * A group is described by its NumInGroup tag, its delimiter (first) tag and its member tags,
 * nested groups included. Definitions come from the built-in table (fl_group_builtin()) or from
 * a loaded dictionary. Reading a group walks the field index from its NumInGroup field; entries
 * are index ranges, so nested groups are read the same way inside an entry's range. Nothing here
 * allocates. */
#ifndef FL_GROUP_H
#define FL_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_msg.h"

struct fl_group_def {
    uint32_t count_tag;                     /* NumInGroup tag, e.g. 453 NoPartyIDs */
    uint32_t delim_tag;                     /* first field of every entry, e.g. 448 PartyID */
    const uint32_t *members;                /* every tag an entry may hold, delimiter first */
    uint32_t nmembers;
    /* groups nested in an entry (their count tags are members) */
    const struct fl_group_def *const *subgroups;
    uint32_t nsubgroups;
};

/* A group instance in a message: fields [first, end) of m, `declared` the NumInGroup value. */
struct fl_group {
    const struct fl_msg *msg;
    const struct fl_group_def *def;
    uint32_t count_index;  /* field index of the NumInGroup field */
    uint32_t first;        /* first field index of entry 0 */
    uint32_t end;          /* one past the last field of the last entry */
    uint32_t declared;     /* NumInGroup value */
    uint32_t found;        /* entries actually present */
};

/* One entry: fields [begin, end) of the message. */
struct fl_group_entry {
    uint32_t begin;
    uint32_t end;
};

/* Opens the group `def` whose NumInGroup field is searched in m's fields [from, to).
 * Returns FL_OK, FL_ENOENT when the count tag is absent, FL_EFORMAT when its value is not a
 * non-negative integer. g->found counts the entries present; a NumInGroup that disagrees with
 * it is the caller's to reject (SessionRejectReason 16). */
FL_MUST_CHECK int fl_group_open(struct fl_group *g, const struct fl_msg *m,
                                const struct fl_group_def *def, uint32_t from, uint32_t to);
/* Field range of entry i (< g->found). Returns FL_OK or FL_ERANGE. */
FL_MUST_CHECK int fl_group_entry(const struct fl_group *g, uint32_t i, struct fl_group_entry *e);
/* Iterates entries in order: prev NULL gives entry 0, otherwise the entry after *prev.
 * Returns FL_OK or FL_ENOENT after the last. Linear overall, unlike repeated fl_group_entry(). */
FL_MUST_CHECK int fl_group_next(const struct fl_group *g, const struct fl_group_entry *prev,
                                struct fl_group_entry *e);
/* Index of `tag` within an entry, or -1. */
int fl_group_entry_find(const struct fl_group *g, const struct fl_group_entry *e, uint32_t tag);
/* 1 when `tag` is a member of def (nested members included). */
int fl_group_def_has(const struct fl_group_def *def, uint32_t tag);

/* Built-in definition for a NumInGroup tag (session layer and common application groups),
 * or NULL. `msg_type` disambiguates tags whose group differs by message (NoMDEntries(268) is
 * delimited by MDUpdateAction(279) in MarketDataIncrementalRefresh "X", by MDEntryType(269)
 * elsewhere); it may be NULL. */
const struct fl_group_def *fl_group_builtin(uint32_t count_tag, const char *msg_type,
                                            size_t msg_type_len);

#endif
