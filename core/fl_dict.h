/* fixlua — FIX data dictionaries: fields, enums, messages, repeating groups, and validation.
 *
 * A dictionary says which fields exist (tag, name, type, enum values), which fields and groups
 * each message, the header and the trailer hold, and which of them are required. It comes from
 * a QuickFIX-format XML file (fl_dict_load_file(), parsed with expat), or from the built-in
 * table (fl_dict_builtin(), session layer plus common order and market-data fields), and is
 * read-only once built (reference-counted), so one dictionary may serve many sessions, engines
 * and threads; what validation writes lives in the caller's struct fl_validator. Components are
 * flattened at load time: a message is an ordered member list with required flags, and every
 * group it holds, at any depth, has an fl_group_def that fl_group_open() accepts. A FIXT.1.1
 * transport dictionary can carry one application dictionary per ApplVerID (fl_dict_add_app()).
 *
 * fl_dict_validate() checks a parsed fl_msg (fl_msg.h) against a dictionary and returns the
 * SessionRejectReason (fl_tags.h) or BusinessRejectReason the FIX rules call for. It allocates
 * nothing per message: the caller lends a struct fl_validator whose scratch array is reused.
 *
 * Strings handed out (names, enum values) are NUL-terminated and live as long as the dict. */
#ifndef FL_DICT_H
#define FL_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_group.h"
#include "fl_msg.h"

/* Field data types. Legacy names map onto these: UTCDATE -> UTCDATEONLY, DATE -> LOCALMKTDATE,
 * TIME -> UTCTIMESTAMP. A type name the loader does not know is FL_DICT_TYPE_UNKNOWN and is
 * validated as a string; its spelling stays in fl_dict_field.type_name. */
enum fl_dict_type {
    FL_DICT_TYPE_UNKNOWN = 0,
    FL_DICT_TYPE_STRING,
    FL_DICT_TYPE_CHAR,
    FL_DICT_TYPE_BOOLEAN,
    FL_DICT_TYPE_INT,
    FL_DICT_TYPE_LENGTH,
    FL_DICT_TYPE_SEQNUM,
    FL_DICT_TYPE_NUMINGROUP,
    FL_DICT_TYPE_TAGNUM,
    FL_DICT_TYPE_DAYOFMONTH,
    FL_DICT_TYPE_FLOAT,
    FL_DICT_TYPE_PRICE,
    FL_DICT_TYPE_QTY,
    FL_DICT_TYPE_AMT,
    FL_DICT_TYPE_PERCENTAGE,
    FL_DICT_TYPE_PRICEOFFSET,
    FL_DICT_TYPE_CURRENCY,
    FL_DICT_TYPE_EXCHANGE,
    FL_DICT_TYPE_COUNTRY,
    FL_DICT_TYPE_LANGUAGE,
    FL_DICT_TYPE_XID,
    FL_DICT_TYPE_XIDREF,
    FL_DICT_TYPE_MULTIPLEVALUESTRING,
    FL_DICT_TYPE_MULTIPLESTRINGVALUE,
    FL_DICT_TYPE_MULTIPLECHARVALUE,
    FL_DICT_TYPE_UTCTIMESTAMP,
    FL_DICT_TYPE_UTCTIMEONLY,
    FL_DICT_TYPE_UTCDATEONLY,
    FL_DICT_TYPE_LOCALMKTDATE,
    FL_DICT_TYPE_LOCALMKTTIME,
    FL_DICT_TYPE_TZTIMEONLY,
    FL_DICT_TYPE_TZTIMESTAMP,
    FL_DICT_TYPE_MONTHYEAR,
    FL_DICT_TYPE_DATA,
    FL_DICT_TYPE_XMLDATA,
    FL_DICT_TYPE__COUNT
};

/* Canonical name of a type ("PRICE"); "UNKNOWN" out of range. */
const char *fl_dict_type_name(enum fl_dict_type t);
/* Type for a dictionary type name (case-sensitive, legacy names included); UNKNOWN if none. */
enum fl_dict_type fl_dict_type_from_name(const char *name, size_t n);

struct fl_dict_enum {
    const char *value;    /* wire value, e.g. "1" */
    const char *name;     /* symbolic upper-snake name, e.g. "BUY" */
    uint32_t value_len;
    uint32_t name_len;
};

struct fl_dict_field {
    uint32_t tag;
    enum fl_dict_type type;
    const char *name;                  /* e.g. "Side" */
    const char *type_name;             /* as the dictionary wrote it, e.g. "CHAR" */
    const struct fl_dict_enum *enums;  /* sorted by value (length first, then bytes) */
    const uint32_t *char_enums;        /* internal: 256-bit set of the values when all are
                                        * one byte */
    const uint64_t *enum_keys;         /* internal: values packed in 8 bytes, sorted, when all
                                        * fit; NULL otherwise */
    const uint64_t *enum_table;        /* internal: enum_keys as a collision-free hash table
                                        * (slot (key * enum_mul) >> enum_shift); NULL: none */
    uint64_t enum_mul;                 /* internal */
    uint32_t enum_shift;               /* internal */
    uint32_t enum_ints;                /* internal: 1 when every value is an INT, so a value
                                        * found needs no format check */
    uint32_t name_len;
    uint32_t nenums;
    uint32_t open_enums;               /* 1: the list names common values only (built-in
                                        * table); other values pass validation */
};

struct fl_dict_group;

/* One member of a message body, header, trailer or group entry, components flattened. */
struct fl_dict_member {
    uint32_t tag;
    uint8_t required;                  /* 1: must be present (in every entry, in a group) */
    uint8_t checks;                    /* internal: how the validator checks the value */
    uint8_t reserved[2];
    const struct fl_dict_field *field;
    const struct fl_dict_group *group; /* the group this NumInGroup member opens, else NULL */
};

/* Internal index slot: tag -> member index (open addressing, tag 0 marks an empty slot). */
struct fl_dict_slot {
    uint32_t tag;
    uint32_t member;                   /* index << 8 | what the validator does beyond
                                        * "not empty" (0: nothing) */
};

/* An ordered member list with a tag index. */
struct fl_dict_layout {
    const struct fl_dict_member *members;
    const uint32_t *required;          /* indexes into members of the required ones */
    const struct fl_dict_slot *index;  /* internal */
    uint32_t nmembers;
    uint32_t nrequired;
    uint32_t index_mask;               /* internal: index has index_mask + 1 slots */
    uint32_t scratch;                  /* internal: validator slots, nested groups included */
};

/* A repeating group. `def` comes first: &g->def is what fl_group_open() takes, and
 * fl_dict_group_of() gets back from a def this dictionary handed out. */
struct fl_dict_group {
    struct fl_group_def def;
    const char *name;                  /* name of the NumInGroup field, e.g. "NoPartyIDs" */
    struct fl_dict_layout entry;       /* layout of one entry; members[0] is the delimiter */
    uint32_t open;                     /* 1: entries also hold fields the group does not list
                                        * (built-in table) */
};

struct fl_dict_message {
    const char *name;                  /* e.g. "NewOrderSingle"; "Header" / "Trailer" */
    const char *msg_type;              /* e.g. "D"; "" for the header and trailer */
    uint32_t msg_type_len;
    uint8_t admin;                     /* msgcat="admin" */
    uint8_t open;                      /* body also accepts fields it does not list */
    struct fl_dict_layout body;
    const struct fl_dict_group *const *groups; /* every group of the message, any depth */
    uint32_t ngroups;
};

/* Version of a dictionary, from <fix type major minor servicepack>. */
struct fl_dict_info {
    const char *begin_string;  /* BeginString(8) on the wire: "FIX.4.4"; "FIXT.1.1" for FIXT
                                * and FIX 5.x */
    const char *version;       /* "FIX.4.4", "FIXT.1.1", "FIX.5.0SP2" */
    const char *appl_ver_id;   /* ApplVerID(1128) of the application version: "6" for FIX.4.4,
                                * "9" for FIX.5.0SP2; NULL for FIXT and unknown versions */
    const char *source;        /* file name given to the loader, or "builtin" */
    int major, minor, servicepack;
    int transport;             /* 1 for type="FIXT" */
};

struct fl_dict;

/* Loads a QuickFIX-format XML dictionary. On failure *out is NULL, nothing leaks, and errbuf
 * (when given) holds "FILE:LINE: what is wrong". Returns FL_OK, FL_EIO (cannot read the file),
 * FL_EFORMAT (malformed XML or an inconsistent dictionary) or FL_ENOMEM. */
FL_MUST_CHECK int fl_dict_load_file(const char *path, struct fl_dict **out, char *errbuf,
                                    size_t errlen);
/* The same from memory; `name` is used in error messages (may be NULL: "<buffer>"). Borrows
 * xml until return. */
FL_MUST_CHECK int fl_dict_load_buffer(const char *xml, size_t n, const char *name,
                                      struct fl_dict **out, char *errbuf, size_t errlen);
/* Builds the built-in dictionary for "FIX.4.0" .. "FIX.4.4" or "FIXT.1.1": the session layer
 * of that version plus common order and market-data messages and fields. Its application
 * messages are open (fields they do not list are accepted; listed groups and required fields are
 * checked). Each call builds a new dictionary. Returns FL_OK, FL_EINVAL (unknown begin string)
 * or FL_ENOMEM. */
FL_MUST_CHECK int fl_dict_builtin(const char *begin_string, struct fl_dict **out);

/* Takes one more reference; returns d. Dictionaries are reference-counted (atomically), so one
 * may be shared between sessions and threads. */
struct fl_dict *fl_dict_ref(struct fl_dict *d);
/* Drops a reference; the last one frees the dictionary and its application dictionaries.
 * Accepts NULL. */
void fl_dict_free(struct fl_dict *d);

const struct fl_dict_info *fl_dict_info(const struct fl_dict *d);

/* Field lookups. A transport dictionary falls back to its application dictionaries (in the
 * order they were added) for fields it does not define. NULL when unknown. */
const struct fl_dict_field *fl_dict_field_by_tag(const struct fl_dict *d, uint32_t tag);
const struct fl_dict_field *fl_dict_field_by_name(const struct fl_dict *d, const char *name,
                                                  size_t n);
/* Fields of this dictionary alone, sorted by tag: index 0 .. fl_dict_field_count() - 1. */
uint32_t fl_dict_field_count(const struct fl_dict *d);
const struct fl_dict_field *fl_dict_field_at(const struct fl_dict *d, uint32_t i);

/* Enum value -> name ("1" -> "BUY"); NULL when f is NULL or the value is not listed. */
const char *fl_dict_enum_name(const struct fl_dict_field *f, const char *value, size_t n);
/* Enum name -> value ("BUY" -> "1"). Returns FL_OK or FL_ENOENT. */
FL_MUST_CHECK int fl_dict_enum_value(const struct fl_dict_field *f, const char *name, size_t n,
                                     const char **value, size_t *vn);

/* Message by MsgType or by name, falling back to application dictionaries; NULL if unknown. */
const struct fl_dict_message *fl_dict_message(const struct fl_dict *d, const char *msg_type,
                                              size_t n);
const struct fl_dict_message *fl_dict_message_by_name(const struct fl_dict *d, const char *name,
                                                      size_t n);
uint32_t fl_dict_message_count(const struct fl_dict *d);
const struct fl_dict_message *fl_dict_message_at(const struct fl_dict *d, uint32_t i);
/* Header and trailer as pseudo-messages (empty for FIX 5.x application dictionaries). */
const struct fl_dict_message *fl_dict_header(const struct fl_dict *d);
const struct fl_dict_message *fl_dict_trailer(const struct fl_dict *d);

/* Definition of the group opened by count_tag in message msg_type, at any depth (outermost
 * first); header groups (NoHops) are found for every message. msg_type NULL: the first group
 * with that count tag in any message. NULL when there is none. Groups with the same count tag
 * can differ between messages, hence the message type. */
const struct fl_group_def *fl_dict_group(const struct fl_dict *d, const char *msg_type, size_t n,
                                         uint32_t count_tag);
/* The same, as the full group (layout with required flags). */
const struct fl_dict_group *fl_dict_message_group(const struct fl_dict *d,
                                                  const struct fl_dict_message *msg,
                                                  uint32_t count_tag);
/* The fl_dict_group around a def that a dictionary handed out (not for other defs). */
static inline const struct fl_dict_group *fl_dict_group_of(const struct fl_group_def *def)
{
    return (const struct fl_dict_group *)(const void *)def;
}

/* Attaches an application dictionary to a FIXT transport dictionary for one ApplVerID(1128)
 * value ("9" for FIX.5.0SP2). appl_ver_id NULL uses app's own (fl_dict_info(app)->appl_ver_id).
 * Takes a reference on app. Call during setup, before the dictionary is shared. Returns FL_OK,
 * FL_EINVAL (transport not type FIXT, app itself type FIXT, no ApplVerID, or one already
 * attached for it) or FL_ENOMEM. */
FL_MUST_CHECK int fl_dict_add_app(struct fl_dict *transport, const char *appl_ver_id,
                                  struct fl_dict *app);
/* Application dictionary attached for appl_ver_id, or NULL. */
const struct fl_dict *fl_dict_app(const struct fl_dict *d, const char *appl_ver_id, size_t n);

/* ---- Validation ---- */

enum fl_validate_level {
    FL_VALIDATE_LEVEL_OFF = 0,   /* nothing is checked */
    FL_VALIDATE_LEVEL_SESSION,   /* parse problems, MsgType, header, trailer, admin bodies */
    FL_VALIDATE_LEVEL_FULL,      /* everything, application message bodies included */
    FL_VALIDATE_LEVEL__COUNT
};

struct fl_validate_opts {
    enum fl_validate_level level;
    /* Tags the dictionary does not define, or does not list for the message, pass unchecked
     * when their range is allowed: below 5000, 5000-9999 (user-defined), 10000 and above
     * (internal use). A tag the dictionary defines keeps its format and enum checks. */
    uint8_t allow_unknown_fields;
    uint8_t allow_user_fields;
    uint8_t allow_internal_fields;
    /* Group entry members must follow the definition order (reason 15), not just begin with the
     * delimiter. The FIX rules ask for it; many peers do not honour it. */
    uint8_t strict_group_order;
    /* For FIXT.1.1: the session's DefaultApplVerID(1137) value, used when a message carries no
     * ApplVerID(1128). NULL: the first application dictionary attached. */
    const char *default_appl_ver_id;
};

/* Defaults: FULL, nothing unknown allowed, no strict group order, no default ApplVerID. This
 * matches the FIX session test cases (14a: an undefined tag, even 5000, is rejected). */
void fl_validate_opts_init(struct fl_validate_opts *o);

enum fl_verdict {
    FL_VERDICT_OK = 0,
    FL_VERDICT_REJECT,           /* answer with Reject(3), SessionRejectReason(373) = reason */
    FL_VERDICT_BUSINESS_REJECT,  /* answer with BusinessMessageReject(j), reason in 380 */
    FL_VERDICT__COUNT
};

struct fl_validate_result {
    enum fl_verdict verdict;
    int reason;                  /* SessionRejectReason or BusinessRejectReason */
    uint32_t ref_tag;            /* RefTagID(371); for a business reject the tag involved
                                  * (35); 0 when none applies */
    int32_t field_index;         /* index into m->fields of the culprit, -1 if none */
    const char *text;            /* short static text for Text(58), "" when valid */
};

/* Per-caller scratch for fl_dict_validate(): one per session or per thread, never shared
 * between threads. It grows (once) to the largest dictionary it has seen. */
struct fl_validator {
    uint32_t *stamp;
    uint32_t cap;
    uint32_t gen;
};

void fl_validator_init(struct fl_validator *v);
void fl_validator_release(struct fl_validator *v);

/* Validates m against d. The header, trailer and admin messages come from d; application
 * messages from d or, for a transport dictionary with applications attached, from the one
 * picked by ApplVerID(1128), opts->default_appl_ver_id, or the first attached. opts NULL means
 * the defaults. Returns FL_OK (valid; res->verdict FL_VERDICT_OK), FL_EPROTO (invalid; res
 * says how to answer), FL_EINVAL (d has no header: validate FIX 5.x application messages
 * through a FIXT dictionary), or FL_ENOMEM (the validator could not grow).
 *
 * Problems fl_msg_parse() noted (m->problem) are reported first with their reason, except
 * header order and repeated header tags, which the walk re-checks against the dictionary's own
 * header (it may define fields the parser does not know). An ApplVerID(1128) with no
 * application dictionary attached is Reject reason 18.
 *
 * An unknown MsgType: the FIX rules separate a MsgType that is not valid FIX (Reject 11,
 * "Invalid MsgType"; session test 2q) from a valid one this application does not support
 * (BusinessMessageReject 3, "Unsupported Message Type"; test 2r). A dictionary cannot list
 * every valid MsgType of every version, so validity is judged by form: one or two letters or
 * digits (every standard MsgType), or a user-defined "U..." type, gets BusinessMessageReject 3
 * when the version has BusinessMessageReject (FIX.4.2 and later, FIXT) and Reject 11 before;
 * anything else ("*", "ABC") gets Reject 11. The header is checked first. At the SESSION level
 * an unknown well-formed MsgType passes (the application decides). */
FL_MUST_CHECK int fl_dict_validate(const struct fl_dict *d, const struct fl_msg *m,
                                   const struct fl_validate_opts *opts, struct fl_validator *v,
                                   struct fl_validate_result *res);

/* Standard text of a reject reason, e.g. "Required tag missing". */
const char *fl_validate_reason_text(enum fl_verdict verdict, int reason);

#endif
