/* fixlua — internals shared by the dictionary units (not a public header).
 *
 * fl_dict.c owns struct fl_dict, its arena, the lookups and the builder: the XML loader
 * (fl_dict_xml.c) and the built-in table (fl_dict_builtin.c) both describe a dictionary through
 * the builder calls below (fields, enum values, containers holding field, component and group
 * references), and dict_builder_finish() resolves names, flattens components, builds groups and
 * indexes. fl_dict_validate.c reads the finished structures. */
#ifndef FL_DICT_IMPL_H
#define FL_DICT_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_dict.h"

/* Tags below this are found through a dense array; larger ones by binary search. */
#define DICT_DENSE_TAGS 131072u
/* Components and groups nest at most this deep (guards the recursion). */
#define DICT_MAX_DEPTH 64
/* A member list holds at most this many entries while components are flattened, and a message
 * at most this many groups: a dictionary whose components multiply out beyond that is refused
 * rather than allowed to eat the memory. */
#define DICT_MAX_MEMBERS (1u << 20)

struct dict_chunk;

struct dict_arena {
    struct dict_chunk *head;
};

struct dict_app {
    char *appl_ver_id;
    struct fl_dict *dict;
};

struct fl_dict {
    atomic_uint refs;
    struct dict_arena arena;
    struct fl_dict_info info;
    struct fl_dict_field *fields;       /* sorted by tag */
    uint32_t nfields;
    uint32_t ndense;                    /* length of by_tag */
    uint32_t *by_tag;                   /* tag -> field index + 1, 0 when undefined */
    uint32_t *name_index;               /* open addressing: field index + 1 */
    uint32_t name_mask;
    struct fl_dict_message *messages;   /* in file order */
    uint32_t nmessages;
    uint32_t type_mask;
    uint32_t *type_index;               /* open addressing by MsgType: message index + 1 */
    uint32_t type_one[128];             /* one-character MsgTypes: message index + 1 (the
                                         * common case, without hashing) */
    uint32_t has_business_reject;       /* the version defines BusinessMessageReject(j) */
    struct fl_dict_message header;
    struct fl_dict_message trailer;
    struct dict_app *apps;
    uint32_t napps;
};

void *dict_arena_alloc(struct dict_arena *a, size_t size);
char *dict_arena_strdup(struct dict_arena *a, const char *s, size_t n);

/* Hash of a byte string (FNV-1a). */
uint32_t dict_hash_bytes(const char *p, size_t n);

/* A slot's `member` word: the member index above; in the low byte, bit 0 set when the member
 * is required (the validator counts them instead of looking each one up at the end), bits 1-4
 * its dict_check, bit 7 set when it opens a group. DICT_SLOT_CHECKED clear means a plain string
 * member that opens no group, so the common case needs no look at the member itself. */
#define DICT_SLOT_MEMBER(w) ((w) >> 8)
#define DICT_SLOT_REQUIRED 0x01u
#define DICT_SLOT_CHECK(w) (((w) >> 1) & 0x0Fu)
#define DICT_SLOT_GROUP 0x80u
#define DICT_SLOT_CHECKED 0xFEu
/* A slot probe that found nothing (member words stay below 2^28, DICT_MAX_MEMBERS << 8). */
#define DICT_SLOT_NONE UINT32_MAX

/* Slot word of `tag` in an index, or DICT_SLOT_NONE. */
static inline uint32_t dict_layout_probe(const struct fl_dict_slot *index, uint32_t mask,
                                         uint32_t tag)
{
    uint32_t h = ((tag * 0x9E3779B1u) >> 16) & mask;
    for (;;) {
        if (index[h].tag == tag)
            return index[h].member;
        if (index[h].tag == 0)
            return DICT_SLOT_NONE;
        h = (h + 1) & mask;
    }
}

/* Index lookup used by the validator and the lookups. */
static inline const struct fl_dict_member *dict_layout_find(const struct fl_dict_layout *l,
                                                            uint32_t tag)
{
    uint32_t w = dict_layout_probe(l->index, l->index_mask, tag);
    return w == DICT_SLOT_NONE ? NULL : &l->members[DICT_SLOT_MEMBER(w)];
}

/* Index of `tag` in a layout's member list, or -1. */
static inline int32_t dict_layout_index(const struct fl_dict_slot *index, uint32_t mask,
                                        uint32_t tag)
{
    uint32_t w = dict_layout_probe(index, mask, tag);
    return w == DICT_SLOT_NONE ? -1 : (int32_t)DICT_SLOT_MEMBER(w);
}

/* An enum value of at most 8 bytes as one integer (values never hold NUL bytes). */
static inline uint64_t dict_enum_key(const char *p, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return k;
}

/* How the validator checks a member's value (fl_dict_member.checks), picked at load time so
 * the common types take an inline path. */
enum dict_check {
    DICT_CHECK_NONE = 0,    /* any non-empty value */
    DICT_CHECK_UINT,        /* LENGTH, NUMINGROUP, SEQNUM */
    DICT_CHECK_INT,         /* INT */
    DICT_CHECK_DECIMAL,     /* FLOAT, PRICE, QTY, AMT, PERCENTAGE, PRICEOFFSET */
    DICT_CHECK_CHAR,        /* one character, any */
    DICT_CHECK_CHAR_ENUM,   /* one character of the field's char_enums set */
    DICT_CHECK_BOOLEAN,
    DICT_CHECK_TIMESTAMP,   /* UTCTIMESTAMP */
    DICT_CHECK_ENUM,        /* a string whose value is one of enum_keys */
    DICT_CHECK_INT_ENUM,    /* an INT whose value is one of enum_keys */
    DICT_CHECK_FULL,        /* everything else: format and enum rules in full */
};

static inline enum dict_check dict_field_check(const struct fl_dict_field *f)
{
    /* MsgType's enum list is no rule: the message lookup judges the value. */
    int enums = f->nenums && !f->open_enums && f->tag != 35;
    switch (f->type) {
    case FL_DICT_TYPE_UNKNOWN:
    case FL_DICT_TYPE_STRING:
    case FL_DICT_TYPE_CURRENCY:
    case FL_DICT_TYPE_EXCHANGE:
    case FL_DICT_TYPE_COUNTRY:
    case FL_DICT_TYPE_LANGUAGE:
    case FL_DICT_TYPE_XID:
    case FL_DICT_TYPE_XIDREF:
    case FL_DICT_TYPE_DATA:
    case FL_DICT_TYPE_XMLDATA:
        return !enums ? DICT_CHECK_NONE : f->enum_keys ? DICT_CHECK_ENUM : DICT_CHECK_FULL;
    case FL_DICT_TYPE_LENGTH:
    case FL_DICT_TYPE_NUMINGROUP:
    case FL_DICT_TYPE_SEQNUM:
        return enums ? DICT_CHECK_FULL : DICT_CHECK_UINT;
    case FL_DICT_TYPE_INT:
        return !enums ? DICT_CHECK_INT : f->enum_keys ? DICT_CHECK_INT_ENUM : DICT_CHECK_FULL;
    case FL_DICT_TYPE_FLOAT:
    case FL_DICT_TYPE_PRICE:
    case FL_DICT_TYPE_QTY:
    case FL_DICT_TYPE_AMT:
    case FL_DICT_TYPE_PERCENTAGE:
    case FL_DICT_TYPE_PRICEOFFSET:
        return enums ? DICT_CHECK_FULL : DICT_CHECK_DECIMAL;
    case FL_DICT_TYPE_CHAR:
        return !enums ? DICT_CHECK_CHAR : f->char_enums ? DICT_CHECK_CHAR_ENUM : DICT_CHECK_FULL;
    case FL_DICT_TYPE_BOOLEAN:
        return enums ? DICT_CHECK_FULL : DICT_CHECK_BOOLEAN;
    case FL_DICT_TYPE_UTCTIMESTAMP:
        return enums ? DICT_CHECK_FULL : DICT_CHECK_TIMESTAMP;
    case FL_DICT_TYPE_MULTIPLEVALUESTRING:
    case FL_DICT_TYPE_MULTIPLESTRINGVALUE:
    case FL_DICT_TYPE_MULTIPLECHARVALUE:
        return enums ? DICT_CHECK_FULL : DICT_CHECK_NONE;
    default:
        return DICT_CHECK_FULL;
    }
}

/* Low byte of a member's slot word (see DICT_SLOT_MEMBER). */
static inline uint32_t dict_slot_kind(const struct fl_dict_member *m)
{
    return (m->required ? DICT_SLOT_REQUIRED : 0u) | (uint32_t)m->checks << 1 |
           (m->group ? DICT_SLOT_GROUP : 0u);
}

/* 1 when the field's enum_keys hold the value (values of more than 8 bytes never do): one
 * probe of the collision-free table, or a binary search when the loader found no table. */
static inline int dict_enum_keys_have_key(const struct fl_dict_field *f, uint64_t k)
{
    if (f->enum_table)
        return f->enum_table[(k * f->enum_mul) >> f->enum_shift] == k;
    const uint64_t *keys = f->enum_keys;
    uint32_t lo = 0, hi = f->nenums;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nenums && keys[lo] == k;
}

static inline int dict_enum_keys_have(const struct fl_dict_field *f, const char *p, size_t n)
{
    return n <= 8 && dict_enum_keys_have_key(f, dict_enum_key(p, n));
}

/* Field of this dictionary alone (no application fallback). */
static inline const struct fl_dict_field *dict_own_field(const struct fl_dict *d, uint32_t tag)
{
    if (tag < d->ndense) {
        uint32_t i = d->by_tag[tag];
        return i ? &d->fields[i - 1] : NULL;
    }
    uint32_t lo = 0, hi = d->nfields;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->fields[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nfields && d->fields[lo].tag == tag ? &d->fields[lo] : NULL;
}

/* Message of this dictionary alone: one-character MsgTypes from the direct table, the others
 * through the hash index (dict_own_message_hashed, any length). */
const struct fl_dict_message *dict_own_message_hashed(const struct fl_dict *d,
                                                      const char *msg_type, size_t n);

static inline const struct fl_dict_message *dict_own_message(const struct fl_dict *d,
                                                             const char *msg_type, size_t n)
{
    if (n == 1 && (unsigned char)msg_type[0] < 128) {
        uint32_t i = d->type_one[(unsigned char)msg_type[0]];
        return i ? &d->messages[i - 1] : NULL;
    }
    return dict_own_message_hashed(d, msg_type, n);
}

/* ---- builder ---- */

enum dict_item_kind { DICT_ITEM_FIELD = 0, DICT_ITEM_COMPONENT, DICT_ITEM_GROUP };
enum dict_container_kind {
    DICT_CONT_HEADER = 0,
    DICT_CONT_TRAILER,
    DICT_CONT_MESSAGE,
    DICT_CONT_COMPONENT
};

/* Container indexes of the header and trailer, created by dict_builder_init(). */
#define DICT_HEADER 0
#define DICT_TRAILER 1

struct dict_list {
    int32_t first, last;               /* item indexes, -1 when empty */
};

struct ir_field {
    uint32_t tag;
    uint32_t line;
    const char *name;                  /* arena */
    const char *type;                  /* arena */
    uint32_t name_len;
    uint32_t first_enum, nenums;
    uint8_t open_enums;
};

struct ir_enum {
    const char *value, *name;          /* arena */
    uint32_t value_len, name_len;
};

struct ir_item {
    uint8_t kind;
    uint8_t required;
    uint32_t line;
    const char *name;                  /* arena */
    uint32_t name_len;
    int32_t next;                      /* next sibling, -1 at the end */
    struct dict_list children;         /* groups only */
};

struct ir_container {
    uint8_t kind;
    uint8_t admin;
    uint8_t open;
    uint8_t visiting;                  /* components: being flattened (cycle check) */
    uint32_t line;
    const char *name, *msg_type;       /* arena */
    uint32_t name_len, msg_type_len;
    struct dict_list children;
};

struct dict_builder {
    struct fl_dict *d;                 /* being built; owns the arena strings */
    const char *source;
    char *errbuf;
    size_t errlen;
    int rc;                            /* first error, FL_OK while none */
    int open_groups;                   /* groups built are open (built-in table) */
    int legacy_char;                   /* CHAR means string before FIX 4.2 (XML files) */
    struct ir_field *fields;
    uint32_t nfields, cfields;
    struct ir_enum *enums;
    uint32_t nenums, cenums;
    struct ir_item *items;
    uint32_t nitems, citems;
    struct ir_container *conts;
    uint32_t nconts, cconts;
    /* finish-time state */
    struct fl_dict_group **group_memo; /* per item */
    uint32_t *comp_index;              /* open addressing over components: container index + 1 */
    uint32_t comp_mask;
};

/* Starts a dictionary; source names it in error messages. Returns FL_OK or FL_ENOMEM. */
int dict_builder_init(struct dict_builder *b, const char *source, char *errbuf, size_t errlen);
/* Frees everything the builder holds (the half-built dictionary included). */
void dict_builder_discard(struct dict_builder *b);
/* Records the first error as "SOURCE:LINE: message" (LINE omitted when 0) and returns rc. */
int dict_builder_error(struct dict_builder *b, int rc, uint32_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Version from <fix>: transport 1 for FIXT. */
int dict_builder_version(struct dict_builder *b, int transport, int major, int minor, int sp);
/* Adds a field definition; returns its index (>= 0) or a negative fl_err. */
int dict_builder_field(struct dict_builder *b, uint32_t tag, const char *name, size_t nlen,
                       const char *type, size_t tlen, uint32_t line);
/* Adds an enum value to the field added last. */
int dict_builder_enum(struct dict_builder *b, const char *value, size_t vlen, const char *name,
                      size_t nlen, uint32_t line);
/* Adds a message or component container; returns its index or a negative fl_err. */
int dict_builder_container(struct dict_builder *b, enum dict_container_kind kind,
                           const char *name, size_t nlen, const char *msg_type, size_t mlen,
                           int admin, uint32_t line);
/* Adds a reference to the end of a container's list (group < 0) or of a group item's list
 * (group = item index). Returns the item index or a negative fl_err. */
int dict_builder_item(struct dict_builder *b, int32_t container, int32_t group,
                      enum dict_item_kind kind, const char *name, size_t nlen, int required,
                      uint32_t line);
/* Resolves and indexes everything. On FL_OK *out owns the dictionary and the builder is spent
 * (discard it all the same); on failure the error is in errbuf. */
int dict_builder_finish(struct dict_builder *b, struct fl_dict **out);

/* fl_dict_builtin() with the table error reported (for the self-test). */
int dict_builtin_build(const char *begin_string, struct fl_dict **out, char *errbuf,
                       size_t errlen);

#endif
