/* fixlua — dictionary model: the arena, the builder that turns a described dictionary into
 * indexed read-only structures, and the lookups.
 *
 * Loaders (fl_dict_xml.c, fl_dict_builtin.c) describe fields, enum values and containers
 * (header, trailer, messages, components) whose items reference fields, components and groups
 * by name, in any order. dict_builder_finish() then resolves every name, flattens components
 * into ordered member lists (a field is required when it and every component around it up to
 * the enclosing message or group entry are required, the QuickFIX rule), builds one
 * fl_dict_group per group definition (shared by every message that reaches it through the same
 * component), and indexes fields by tag (dense array) and name (hash), messages by MsgType, and
 * each member list by tag (open addressing) for the validator. Everything a finished dictionary
 * holds lives in one arena, so freeing or failing half-way is one walk over the chunk list. */
#include "fl_dict_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct dict_chunk {
    struct dict_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_CHUNK (64u * 1024u)

void *dict_arena_alloc(struct dict_arena *a, size_t size)
{
    size = (size + 15u) & ~(size_t)15u;
    if (size == 0)
        size = 16;
    struct dict_chunk *c = a->head;
    if (c && c->cap - c->used >= size) {
        void *p = (char *)c->data + c->used;
        c->used += size;
        return p;
    }
    size_t cap = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
    struct dict_chunk *n = calloc(1, sizeof *n + cap);
    if (!n)
        return NULL;
    n->cap = cap;
    n->used = size;
    /* Why: a big block gets a chunk of its own behind the head, so the head's free space is
     * not thrown away. */
    if (c && cap == size) {
        n->next = c->next;
        c->next = n;
    } else {
        n->next = c;
        a->head = n;
    }
    return n->data;
}

char *dict_arena_strdup(struct dict_arena *a, const char *s, size_t n)
{
    char *p = dict_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void arena_release(struct dict_arena *a)
{
    struct dict_chunk *c = a->head;
    while (c) {
        struct dict_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

uint32_t dict_hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t c = 4;
    while (c < n)
        c <<= 1;
    return c;
}

/* Grows a vector to hold `need` elements; returns the (maybe moved) array or NULL. */
static void *vec_grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    uint32_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > UINT32_MAX / 2)
            return NULL;
        nc *= 2;
    }
    void *np = realloc(p, (size_t)nc * elem);
    if (np)
        *cap = nc;
    return np;
}

/* ---- types ---- */

static const char *const type_names[FL_DICT_TYPE__COUNT] = {
    [FL_DICT_TYPE_UNKNOWN] = "UNKNOWN",
    [FL_DICT_TYPE_STRING] = "STRING",
    [FL_DICT_TYPE_CHAR] = "CHAR",
    [FL_DICT_TYPE_BOOLEAN] = "BOOLEAN",
    [FL_DICT_TYPE_INT] = "INT",
    [FL_DICT_TYPE_LENGTH] = "LENGTH",
    [FL_DICT_TYPE_SEQNUM] = "SEQNUM",
    [FL_DICT_TYPE_NUMINGROUP] = "NUMINGROUP",
    [FL_DICT_TYPE_TAGNUM] = "TAGNUM",
    [FL_DICT_TYPE_DAYOFMONTH] = "DAYOFMONTH",
    [FL_DICT_TYPE_FLOAT] = "FLOAT",
    [FL_DICT_TYPE_PRICE] = "PRICE",
    [FL_DICT_TYPE_QTY] = "QTY",
    [FL_DICT_TYPE_AMT] = "AMT",
    [FL_DICT_TYPE_PERCENTAGE] = "PERCENTAGE",
    [FL_DICT_TYPE_PRICEOFFSET] = "PRICEOFFSET",
    [FL_DICT_TYPE_CURRENCY] = "CURRENCY",
    [FL_DICT_TYPE_EXCHANGE] = "EXCHANGE",
    [FL_DICT_TYPE_COUNTRY] = "COUNTRY",
    [FL_DICT_TYPE_LANGUAGE] = "LANGUAGE",
    [FL_DICT_TYPE_XID] = "XID",
    [FL_DICT_TYPE_XIDREF] = "XIDREF",
    [FL_DICT_TYPE_MULTIPLEVALUESTRING] = "MULTIPLEVALUESTRING",
    [FL_DICT_TYPE_MULTIPLESTRINGVALUE] = "MULTIPLESTRINGVALUE",
    [FL_DICT_TYPE_MULTIPLECHARVALUE] = "MULTIPLECHARVALUE",
    [FL_DICT_TYPE_UTCTIMESTAMP] = "UTCTIMESTAMP",
    [FL_DICT_TYPE_UTCTIMEONLY] = "UTCTIMEONLY",
    [FL_DICT_TYPE_UTCDATEONLY] = "UTCDATEONLY",
    [FL_DICT_TYPE_LOCALMKTDATE] = "LOCALMKTDATE",
    [FL_DICT_TYPE_LOCALMKTTIME] = "LOCALMKTTIME",
    [FL_DICT_TYPE_TZTIMEONLY] = "TZTIMEONLY",
    [FL_DICT_TYPE_TZTIMESTAMP] = "TZTIMESTAMP",
    [FL_DICT_TYPE_MONTHYEAR] = "MONTHYEAR",
    [FL_DICT_TYPE_DATA] = "DATA",
    [FL_DICT_TYPE_XMLDATA] = "XMLDATA",
};

const char *fl_dict_type_name(enum fl_dict_type t)
{
    return (unsigned)t < FL_DICT_TYPE__COUNT ? type_names[t] : "UNKNOWN";
}

enum fl_dict_type fl_dict_type_from_name(const char *name, size_t n)
{
    static const struct {
        const char *name;
        enum fl_dict_type type;
    } aliases[] = {
        /* Older spellings found in FIX 4.0-4.2 dictionaries. */
        {"UTCDATE", FL_DICT_TYPE_UTCDATEONLY},
        {"DATE", FL_DICT_TYPE_LOCALMKTDATE},
        {"TIME", FL_DICT_TYPE_UTCTIMESTAMP},
    };
    for (int t = 1; t < FL_DICT_TYPE__COUNT; t++)
        if (strlen(type_names[t]) == n && memcmp(type_names[t], name, n) == 0)
            return (enum fl_dict_type)t;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strlen(aliases[i].name) == n && memcmp(aliases[i].name, name, n) == 0)
            return aliases[i].type;
    return FL_DICT_TYPE_UNKNOWN;
}

/* ---- builder: description ---- */

int dict_builder_error(struct dict_builder *b, int rc, uint32_t line, const char *fmt, ...)
{
    if (b->rc != FL_OK)
        return b->rc;
    b->rc = rc;
    if (b->errbuf && b->errlen) {
        int k = line ? snprintf(b->errbuf, b->errlen, "%s:%u: ", b->source, line)
                     : snprintf(b->errbuf, b->errlen, "%s: ", b->source);
        if (k >= 0 && (size_t)k < b->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(b->errbuf + k, b->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static int oom(struct dict_builder *b)
{
    return dict_builder_error(b, FL_ENOMEM, 0, "out of memory");
}

int dict_builder_init(struct dict_builder *b, const char *source, char *errbuf, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->source = source ? source : "<buffer>";
    b->errbuf = errbuf;
    b->errlen = errlen;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    b->d = calloc(1, sizeof *b->d);
    if (!b->d)
        return oom(b);
    atomic_init(&b->d->refs, 1u);
    b->d->info.source = dict_arena_strdup(&b->d->arena, b->source, strlen(b->source));
    if (!b->d->info.source)
        return oom(b);
    if (dict_builder_container(b, DICT_CONT_HEADER, "Header", 6, "", 0, 0, 0) != DICT_HEADER ||
        dict_builder_container(b, DICT_CONT_TRAILER, "Trailer", 7, "", 0, 0, 0) != DICT_TRAILER)
        return b->rc;
    return FL_OK;
}

void dict_builder_discard(struct dict_builder *b)
{
    if (b->d) {
        arena_release(&b->d->arena);
        free(b->d->apps);
        free(b->d);
    }
    free(b->fields);
    free(b->enums);
    free(b->items);
    free(b->conts);
    free(b->group_memo);
    free(b->comp_index);
    memset(b, 0, sizeof *b);
}

int dict_builder_version(struct dict_builder *b, int transport, int major, int minor, int sp)
{
    struct fl_dict_info *in = &b->d->info;
    char begin[32], version[40];
    const char *appl = NULL;
    in->major = major;
    in->minor = minor;
    in->servicepack = sp;
    in->transport = transport;
    if (transport) {
        snprintf(begin, sizeof begin, "FIXT.%d.%d", major, minor);
        snprintf(version, sizeof version, "%s", begin);
    } else if (major >= 5) {
        /* FIX 5.x application messages travel over FIXT.1.1. */
        snprintf(begin, sizeof begin, "FIXT.1.1");
        if (sp > 0)
            snprintf(version, sizeof version, "FIX.%d.%dSP%d", major, minor, sp);
        else
            snprintf(version, sizeof version, "FIX.%d.%d", major, minor);
        if (major == 5 && minor == 0 && sp >= 0 && sp <= 2)
            appl = sp == 0 ? "7" : sp == 1 ? "8" : "9";
    } else {
        snprintf(begin, sizeof begin, "FIX.%d.%d", major, minor);
        snprintf(version, sizeof version, "%s", begin);
        /* ApplVerID(1128): 0 FIX.2.7, 1 FIX.3.0, 2..6 FIX.4.0..FIX.4.4. */
        static const char *const v4[] = {"2", "3", "4", "5", "6"};
        if (major == 4 && minor >= 0 && minor <= 4)
            appl = v4[minor];
        else if (major == 2 && minor == 7)
            appl = "0";
        else if (major == 3 && minor == 0)
            appl = "1";
    }
    in->begin_string = dict_arena_strdup(&b->d->arena, begin, strlen(begin));
    in->version = dict_arena_strdup(&b->d->arena, version, strlen(version));
    in->appl_ver_id = appl ? dict_arena_strdup(&b->d->arena, appl, strlen(appl)) : NULL;
    if (!in->begin_string || !in->version || (appl && !in->appl_ver_id))
        return oom(b);
    return FL_OK;
}

int dict_builder_field(struct dict_builder *b, uint32_t tag, const char *name, size_t nlen,
                       const char *type, size_t tlen, uint32_t line)
{
    void *np = vec_grow(b->fields, &b->cfields, b->nfields + 1, sizeof *b->fields);
    if (!np)
        return oom(b);
    b->fields = np;
    struct ir_field *f = &b->fields[b->nfields];
    memset(f, 0, sizeof *f);
    f->tag = tag;
    f->line = line;
    f->name = dict_arena_strdup(&b->d->arena, name, nlen);
    f->type = dict_arena_strdup(&b->d->arena, type, tlen);
    if (!f->name || !f->type)
        return oom(b);
    f->name_len = (uint32_t)nlen;
    f->first_enum = b->nenums;
    return (int)b->nfields++;
}

int dict_builder_enum(struct dict_builder *b, const char *value, size_t vlen, const char *name,
                      size_t nlen, uint32_t line)
{
    if (b->nfields == 0)
        return dict_builder_error(b, FL_EFORMAT, line, "enum value outside a field");
    void *np = vec_grow(b->enums, &b->cenums, b->nenums + 1, sizeof *b->enums);
    if (!np)
        return oom(b);
    b->enums = np;
    struct ir_enum *e = &b->enums[b->nenums];
    e->value = dict_arena_strdup(&b->d->arena, value, vlen);
    e->name = dict_arena_strdup(&b->d->arena, name, nlen);
    if (!e->value || !e->name)
        return oom(b);
    e->value_len = (uint32_t)vlen;
    e->name_len = (uint32_t)nlen;
    b->nenums++;
    b->fields[b->nfields - 1].nenums++;
    return FL_OK;
}

int dict_builder_container(struct dict_builder *b, enum dict_container_kind kind,
                           const char *name, size_t nlen, const char *msg_type, size_t mlen,
                           int admin, uint32_t line)
{
    void *np = vec_grow(b->conts, &b->cconts, b->nconts + 1, sizeof *b->conts);
    if (!np)
        return oom(b);
    b->conts = np;
    struct ir_container *c = &b->conts[b->nconts];
    memset(c, 0, sizeof *c);
    c->kind = (uint8_t)kind;
    c->admin = (uint8_t)(admin != 0);
    c->line = line;
    c->name = dict_arena_strdup(&b->d->arena, name, nlen);
    c->msg_type = dict_arena_strdup(&b->d->arena, msg_type ? msg_type : "", msg_type ? mlen : 0);
    if (!c->name || !c->msg_type)
        return oom(b);
    c->name_len = (uint32_t)nlen;
    c->msg_type_len = msg_type ? (uint32_t)mlen : 0;
    c->children.first = c->children.last = -1;
    return (int)b->nconts++;
}

int dict_builder_item(struct dict_builder *b, int32_t container, int32_t group,
                      enum dict_item_kind kind, const char *name, size_t nlen, int required,
                      uint32_t line)
{
    void *np = vec_grow(b->items, &b->citems, b->nitems + 1, sizeof *b->items);
    if (!np)
        return oom(b);
    b->items = np;
    int32_t idx = (int32_t)b->nitems;
    struct ir_item *it = &b->items[idx];
    memset(it, 0, sizeof *it);
    it->kind = (uint8_t)kind;
    it->required = (uint8_t)(required != 0);
    it->line = line;
    it->name = dict_arena_strdup(&b->d->arena, name, nlen);
    if (!it->name)
        return oom(b);
    it->name_len = (uint32_t)nlen;
    it->next = -1;
    it->children.first = it->children.last = -1;
    b->nitems++;
    struct dict_list *l = group >= 0 ? &b->items[group].children : &b->conts[container].children;
    if (l->last >= 0)
        b->items[l->last].next = idx;
    else
        l->first = idx;
    l->last = idx;
    return idx;
}

/* ---- builder: finish ---- */

static const struct fl_dict_field *own_field_by_name(const struct fl_dict *d, const char *name,
                                                     size_t n)
{
    if (!d->name_index)
        return NULL;
    uint32_t h = dict_hash_bytes(name, n) & d->name_mask;
    for (;;) {
        uint32_t i = d->name_index[h];
        if (i == 0)
            return NULL;
        const struct fl_dict_field *f = &d->fields[i - 1];
        if (f->name_len == n && memcmp(f->name, name, n) == 0)
            return f;
        h = (h + 1) & d->name_mask;
    }
}

struct tag_order {
    uint32_t tag;
    uint32_t idx;
};

static int cmp_tag_order(const void *a, const void *b)
{
    const struct tag_order *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct enum_order {
    const struct ir_enum *e;
    uint32_t idx;
};

static int cmp_enum_value(const struct fl_dict_enum *e, const char *v, size_t n)
{
    if (e->value_len != n)
        return e->value_len < n ? -1 : 1;
    return memcmp(e->value, v, n);
}

static int cmp_enum_order(const void *a, const void *b)
{
    const struct enum_order *x = a, *y = b;
    if (x->e->value_len != y->e->value_len)
        return x->e->value_len < y->e->value_len ? -1 : 1;
    int c = memcmp(x->e->value, y->e->value, x->e->value_len);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Finds a multiplier that sends every key of a sorted, duplicate-free list to its own slot of a
 * power-of-two table, trying a fixed sequence of odd constants over growing table sizes (so the
 * result does not change between runs). Empty slots hold 0, the key of the empty value, which
 * the validator never looks up. Leaves the field without a table when nothing fits (it then
 * uses a binary search). */
static int build_enum_table(struct dict_builder *b, struct fl_dict_field *f)
{
    const uint64_t *keys = f->enum_keys;
    uint32_t n = f->nenums, bits = 1;
    while ((1u << bits) < 2 * n)
        bits++;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (uint32_t grow = 0; grow < 4 && bits + grow <= 20; grow++) {
        uint32_t size = 1u << (bits + grow), shift = 64 - (bits + grow);
        uint64_t *t = dict_arena_alloc(&b->d->arena, size * sizeof *t);
        if (!t)
            return oom(b);
        for (uint32_t attempt = 0; attempt < 64; attempt++) {
            /* splitmix64 step: well-mixed odd multipliers */
            uint64_t z = (seed += 0x9E3779B97F4A7C15u);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
            uint64_t mul = (z ^ (z >> 31)) | 1u;
            memset(t, 0, size * sizeof *t);
            uint32_t i = 0;
            for (; i < n; i++) {
                uint64_t *slot = &t[(keys[i] * mul) >> shift];
                if (*slot)
                    break;
                *slot = keys[i];
            }
            if (i == n) {
                f->enum_table = t;
                f->enum_mul = mul;
                f->enum_shift = shift;
                return FL_OK;
            }
        }
    }
    return FL_OK;
}

/* 1 when the value passes the validator's INT check (is_int() in fl_dict_validate.c): an
 * optional '-' then digits, longer ones within int64 range. */
static int enum_value_is_int(const char *p, size_t n)
{
    int64_t v;
    size_t i = n > 1 && p[0] == '-';
    if (n - i > 18)
        return fl_parse_int(p, n, &v) == FL_OK;
    if (i >= n)
        return 0;
    for (; i < n; i++)
        if ((unsigned)(p[i] - '0') > 9)
            return 0;
    return 1;
}

static int build_enums(struct dict_builder *b, const struct ir_field *irf, struct fl_dict_field *f)
{
    if (irf->nenums == 0)
        return FL_OK;
    struct enum_order *ord = malloc(irf->nenums * sizeof *ord);
    struct fl_dict_enum *out = dict_arena_alloc(&b->d->arena, irf->nenums * sizeof *out);
    if (!ord || !out) {
        free(ord);
        return oom(b);
    }
    for (uint32_t i = 0; i < irf->nenums; i++) {
        ord[i].e = &b->enums[irf->first_enum + i];
        ord[i].idx = i;
    }
    qsort(ord, irf->nenums, sizeof *ord, cmp_enum_order);
    uint32_t n = 0, one_byte = 1;
    for (uint32_t i = 0; i < irf->nenums; i++) {
        const struct ir_enum *e = ord[i].e;
        /* Why: a value listed twice keeps its first description; lookups need unique keys. */
        if (n && out[n - 1].value_len == e->value_len &&
            memcmp(out[n - 1].value, e->value, e->value_len) == 0)
            continue;
        out[n].value = e->value;
        out[n].name = e->name;
        out[n].value_len = e->value_len;
        out[n].name_len = e->name_len;
        one_byte &= e->value_len == 1;
        n++;
    }
    free(ord);
    f->enums = out;
    f->nenums = n;
    uint32_t short_values = 1;
    for (uint32_t i = 0; i < n; i++)
        short_values &= out[i].value_len <= 8;
    if (short_values) {
        uint64_t *keys = dict_arena_alloc(&b->d->arena, n * sizeof *keys);
        if (!keys)
            return oom(b);
        for (uint32_t i = 0; i < n; i++)
            keys[i] = dict_enum_key(out[i].value, out[i].value_len);
        qsort(keys, n, sizeof *keys, cmp_u64);
        f->enum_keys = keys;
        uint32_t ints = 1;
        for (uint32_t i = 0; i < n; i++)
            ints &= (uint32_t)enum_value_is_int(out[i].value, out[i].value_len);
        f->enum_ints = ints;
        int rc = build_enum_table(b, f);
        if (rc != FL_OK)
            return rc;
    }
    if (one_byte) {
        uint32_t *set = dict_arena_alloc(&b->d->arena, 8 * sizeof *set);
        if (!set)
            return oom(b);
        for (uint32_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i].value[0];
            set[c >> 5] |= 1u << (c & 31);
        }
        f->char_enums = set;
    }
    return FL_OK;
}

static int build_fields(struct dict_builder *b)
{
    struct fl_dict *d = b->d;
    uint32_t n = b->nfields;
    struct tag_order *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord)
        return oom(b);
    for (uint32_t i = 0; i < n; i++) {
        ord[i].tag = b->fields[i].tag;
        ord[i].idx = i;
    }
    qsort(ord, n, sizeof *ord, cmp_tag_order);
    for (uint32_t i = 1; i < n; i++) {
        if (ord[i].tag == ord[i - 1].tag) {
            const struct ir_field *first = &b->fields[ord[i - 1].idx];
            const struct ir_field *dup = &b->fields[ord[i].idx];
            free(ord);
            return dict_builder_error(b, FL_EFORMAT, dup->line,
                                      "duplicate field number %u: '%s' (already '%s' at line %u)",
                                      dup->tag, dup->name, first->name, first->line);
        }
    }
    d->fields = dict_arena_alloc(&d->arena, (n ? n : 1) * sizeof *d->fields);
    if (!d->fields) {
        free(ord);
        return oom(b);
    }
    d->nfields = n;
    uint32_t max_tag = 0;
    const struct fl_dict_info *in = &d->info;
    int old_char = b->legacy_char && !in->transport &&
                   (in->major < 4 || (in->major == 4 && in->minor < 2));
    for (uint32_t i = 0; i < n; i++) {
        const struct ir_field *irf = &b->fields[ord[i].idx];
        struct fl_dict_field *f = &d->fields[i];
        f->tag = irf->tag;
        f->name = irf->name;
        f->name_len = irf->name_len;
        f->type_name = irf->type;
        f->type = fl_dict_type_from_name(irf->type, strlen(irf->type));
        /* Why: FIX 4.0 and 4.1 call their strings "char" (BeginString, MsgType, ClOrdID...);
         * the one-character type came with FIX 4.2. The built-in table means what it says. */
        if (f->type == FL_DICT_TYPE_CHAR && old_char)
            f->type = FL_DICT_TYPE_STRING;
        f->open_enums = irf->open_enums;
        if (build_enums(b, irf, f) != FL_OK) {
            free(ord);
            return b->rc;
        }
        if (irf->tag > max_tag)
            max_tag = irf->tag;
    }
    d->ndense = max_tag + 1 < DICT_DENSE_TAGS ? max_tag + 1 : DICT_DENSE_TAGS;
    d->by_tag = dict_arena_alloc(&d->arena, d->ndense * sizeof *d->by_tag);
    uint32_t cap = pow2_at_least(2 * n + 1);
    d->name_index = dict_arena_alloc(&d->arena, cap * sizeof *d->name_index);
    if (!d->by_tag || !d->name_index) {
        free(ord);
        return oom(b);
    }
    d->name_mask = cap - 1;
    for (uint32_t i = 0; i < n; i++) {
        const struct fl_dict_field *f = &d->fields[i];
        if (f->tag < d->ndense)
            d->by_tag[f->tag] = i + 1;
        uint32_t h = dict_hash_bytes(f->name, f->name_len) & d->name_mask;
        while (d->name_index[h]) {
            const struct fl_dict_field *o = &d->fields[d->name_index[h] - 1];
            if (o->name_len == f->name_len && memcmp(o->name, f->name, f->name_len) == 0) {
                /* Report at the later of the two definitions. */
                const struct ir_field *x = &b->fields[ord[i].idx], *y = NULL;
                for (uint32_t k = 0; k < n; k++)
                    if (b->fields[k].tag == o->tag)
                        y = &b->fields[k];
                if (y && y->line > x->line) {
                    const struct ir_field *t = x;
                    x = y;
                    y = t;
                }
                free(ord);
                return dict_builder_error(b, FL_EFORMAT, x->line,
                                          "duplicate field name '%s' (tags %u and %u)", x->name,
                                          y ? y->tag : 0, x->tag);
            }
            h = (h + 1) & d->name_mask;
        }
        d->name_index[h] = i + 1;
    }
    free(ord);
    return FL_OK;
}

static int build_component_index(struct dict_builder *b)
{
    uint32_t cap = pow2_at_least(2 * b->nconts + 1);
    b->comp_index = calloc(cap, sizeof *b->comp_index);
    if (!b->comp_index)
        return oom(b);
    b->comp_mask = cap - 1;
    for (uint32_t i = 0; i < b->nconts; i++) {
        const struct ir_container *c = &b->conts[i];
        if (c->kind != DICT_CONT_COMPONENT)
            continue;
        uint32_t h = dict_hash_bytes(c->name, c->name_len) & b->comp_mask;
        while (b->comp_index[h]) {
            const struct ir_container *o = &b->conts[b->comp_index[h] - 1];
            if (o->name_len == c->name_len && memcmp(o->name, c->name, c->name_len) == 0)
                return dict_builder_error(b, FL_EFORMAT, c->line,
                                          "duplicate component '%s' (first at line %u)", c->name,
                                          o->line);
            h = (h + 1) & b->comp_mask;
        }
        b->comp_index[h] = i + 1;
    }
    return FL_OK;
}

static int32_t find_component(const struct dict_builder *b, const char *name, size_t n)
{
    uint32_t h = dict_hash_bytes(name, n) & b->comp_mask;
    for (;;) {
        uint32_t i = b->comp_index[h];
        if (i == 0)
            return -1;
        const struct ir_container *c = &b->conts[i - 1];
        if (c->name_len == n && memcmp(c->name, name, n) == 0)
            return (int32_t)(i - 1);
        h = (h + 1) & b->comp_mask;
    }
}

/* A member list being flattened. */
struct flat {
    struct fl_dict_member *v;
    uint32_t n, cap;
};

static int flat_push(struct dict_builder *b, struct flat *fl, const struct fl_dict_field *f,
                     const struct fl_dict_group *g, int required, uint32_t line)
{
    if (fl->n >= DICT_MAX_MEMBERS)
        return dict_builder_error(b, FL_EFORMAT, line, "components expand to more than %u fields",
                                  DICT_MAX_MEMBERS);
    void *np = vec_grow(fl->v, &fl->cap, fl->n + 1, sizeof *fl->v);
    if (!np)
        return oom(b);
    fl->v = np;
    memset(&fl->v[fl->n], 0, sizeof fl->v[fl->n]);
    fl->v[fl->n].tag = f->tag;
    fl->v[fl->n].required = (uint8_t)(required != 0);
    fl->v[fl->n].checks = (uint8_t)dict_field_check(f);
    fl->v[fl->n].field = f;
    fl->v[fl->n].group = g;
    fl->n++;
    return FL_OK;
}

/* Turns a flattened list into a layout: drops repeated tags (a field reached twice through
 * components keeps its first place, required if either place is), indexes by tag, lists the
 * required members and sums up the validator scratch. */
static int make_layout(struct dict_builder *b, const struct flat *fl, struct fl_dict_layout *l)
{
    struct dict_arena *a = &b->d->arena;
    /* Why 4x: at most a quarter full, a lookup (hit or miss) rarely probes a second slot. */
    uint32_t cap = pow2_at_least(4 * fl->n + 1);
    struct fl_dict_slot *index = dict_arena_alloc(a, cap * sizeof *index);
    struct fl_dict_member *members = dict_arena_alloc(a, (fl->n ? fl->n : 1) * sizeof *members);
    if (!index || !members)
        return oom(b);
    uint32_t mask = cap - 1, k = 0, nreq = 0, deepest = 0;
    for (uint32_t i = 0; i < fl->n; i++) {
        const struct fl_dict_member *m = &fl->v[i];
        uint32_t h = ((m->tag * 0x9E3779B1u) >> 16) & mask;
        while (index[h].tag && index[h].tag != m->tag)
            h = (h + 1) & mask;
        if (index[h].tag) {
            members[DICT_SLOT_MEMBER(index[h].member)].required |= m->required;
            continue;
        }
        index[h].tag = m->tag;
        index[h].member = k << 8;
        members[k++] = *m;
    }
    /* Kinds last: a member listed twice is required if either place says so. */
    for (uint32_t h = 0; h <= mask; h++)
        if (index[h].tag)
            index[h].member |= dict_slot_kind(&members[DICT_SLOT_MEMBER(index[h].member)]);
    for (uint32_t i = 0; i < k; i++) {
        nreq += members[i].required;
        if (members[i].group && members[i].group->entry.scratch > deepest)
            deepest = members[i].group->entry.scratch;
    }
    uint32_t *req = dict_arena_alloc(a, (nreq ? nreq : 1) * sizeof *req);
    if (!req)
        return oom(b);
    for (uint32_t i = 0, j = 0; i < k; i++)
        if (members[i].required)
            req[j++] = i;
    l->members = members;
    l->nmembers = k;
    l->required = req;
    l->nrequired = nreq;
    l->index = index;
    l->index_mask = mask;
    l->scratch = k + deepest;
    return FL_OK;
}

static int flatten(struct dict_builder *b, struct dict_list list, int required, struct flat *out,
                   int depth);

/* Builds (once per group definition) the group whose item is `item`. */
static int build_group(struct dict_builder *b, int32_t item, const struct fl_dict_group **out,
                       int depth)
{
    if (b->group_memo[item]) {
        *out = b->group_memo[item];
        return FL_OK;
    }
    const struct ir_item *it = &b->items[item];
    const struct fl_dict_field *count = own_field_by_name(b->d, it->name, it->name_len);
    if (!count)
        return dict_builder_error(b, FL_EFORMAT, it->line,
                                  "group '%s' is not a defined field", it->name);
    struct flat entry = {0};
    int rc = flatten(b, it->children, 1, &entry, depth + 1);
    if (rc == FL_OK && entry.n == 0)
        rc = dict_builder_error(b, FL_EFORMAT, it->line, "group '%s' has no fields", it->name);
    struct fl_dict_group *g = NULL;
    if (rc == FL_OK) {
        g = dict_arena_alloc(&b->d->arena, sizeof *g);
        rc = g ? make_layout(b, &entry, &g->entry) : oom(b);
    }
    free(entry.v);
    if (rc != FL_OK)
        return rc;
    const struct fl_dict_layout *l = &g->entry;
    uint32_t *tags = dict_arena_alloc(&b->d->arena, l->nmembers * sizeof *tags);
    uint32_t nsub = 0;
    for (uint32_t i = 0; i < l->nmembers; i++)
        nsub += l->members[i].group != NULL;
    const struct fl_group_def **subs =
        dict_arena_alloc(&b->d->arena, (nsub ? nsub : 1) * sizeof *subs);
    if (!tags || !subs)
        return oom(b);
    for (uint32_t i = 0, j = 0; i < l->nmembers; i++) {
        tags[i] = l->members[i].tag;
        if (l->members[i].group)
            subs[j++] = &l->members[i].group->def;
    }
    g->def.count_tag = count->tag;
    g->def.delim_tag = tags[0];
    g->def.members = tags;
    g->def.nmembers = l->nmembers;
    g->def.subgroups = nsub ? subs : NULL;
    g->def.nsubgroups = nsub;
    g->name = count->name;
    g->open = (uint32_t)(b->open_groups != 0);
    b->group_memo[item] = g;
    *out = g;
    return FL_OK;
}

static int flatten(struct dict_builder *b, struct dict_list list, int required, struct flat *out,
                   int depth)
{
    for (int32_t i = list.first; i >= 0; i = b->items[i].next) {
        const struct ir_item *it = &b->items[i];
        if (depth > DICT_MAX_DEPTH)
            return dict_builder_error(b, FL_EFORMAT, it->line,
                                      "components and groups nest deeper than %d levels",
                                      DICT_MAX_DEPTH);
        int req = required && it->required;
        int rc;
        if (it->kind == DICT_ITEM_FIELD) {
            const struct fl_dict_field *f = own_field_by_name(b->d, it->name, it->name_len);
            if (!f)
                return dict_builder_error(b, FL_EFORMAT, it->line, "unknown field '%s'",
                                          it->name);
            rc = flat_push(b, out, f, NULL, req, it->line);
        } else if (it->kind == DICT_ITEM_COMPONENT) {
            int32_t c = find_component(b, it->name, it->name_len);
            if (c < 0)
                return dict_builder_error(b, FL_EFORMAT, it->line,
                                          "component '%s' is not defined", it->name);
            if (b->conts[c].visiting)
                return dict_builder_error(b, FL_EFORMAT, it->line,
                                          "component '%s' includes itself", it->name);
            b->conts[c].visiting = 1;
            rc = flatten(b, b->conts[c].children, req, out, depth + 1);
            b->conts[c].visiting = 0;
        } else {
            const struct fl_dict_group *g = NULL;
            rc = build_group(b, i, &g, depth);
            if (rc == FL_OK)
                rc = flat_push(b, out, own_field_by_name(b->d, it->name, it->name_len), g, req,
                               it->line);
        }
        if (rc != FL_OK)
            return rc;
    }
    return FL_OK;
}

/* Lists every group of a layout, outer first then nested (preorder). */
static uint32_t collect_groups(const struct fl_dict_layout *l, const struct fl_dict_group **out,
                               uint32_t n)
{
    for (uint32_t i = 0; i < l->nmembers && n <= DICT_MAX_MEMBERS; i++) {
        const struct fl_dict_group *g = l->members[i].group;
        if (!g)
            continue;
        if (out)
            out[n] = g;
        n = collect_groups(&g->entry, out, n + 1);
    }
    return n;
}

static int build_message(struct dict_builder *b, const struct ir_container *c,
                         struct fl_dict_message *msg)
{
    struct flat body = {0};
    int rc = flatten(b, c->children, 1, &body, 0);
    if (rc == FL_OK)
        rc = make_layout(b, &body, &msg->body);
    free(body.v);
    if (rc != FL_OK)
        return rc;
    msg->name = c->name;
    msg->msg_type = c->msg_type;
    msg->msg_type_len = c->msg_type_len;
    msg->admin = c->admin;
    msg->open = c->open;
    uint32_t ng = collect_groups(&msg->body, NULL, 0);
    if (ng > DICT_MAX_MEMBERS)
        return dict_builder_error(b, FL_EFORMAT, c->line, "message '%s' holds more than %u groups",
                                  c->name, DICT_MAX_MEMBERS);
    if (ng) {
        const struct fl_dict_group **gs = dict_arena_alloc(&b->d->arena, ng * sizeof *gs);
        if (!gs)
            return oom(b);
        collect_groups(&msg->body, gs, 0);
        msg->groups = gs;
        msg->ngroups = ng;
    }
    return FL_OK;
}

static int build_messages(struct dict_builder *b)
{
    struct fl_dict *d = b->d;
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->nconts; i++)
        n += b->conts[i].kind == DICT_CONT_MESSAGE;
    d->messages = dict_arena_alloc(&d->arena, (n ? n : 1) * sizeof *d->messages);
    uint32_t cap = pow2_at_least(2 * n + 1);
    d->type_index = dict_arena_alloc(&d->arena, cap * sizeof *d->type_index);
    if (!d->messages || !d->type_index)
        return oom(b);
    d->type_mask = cap - 1;
    for (uint32_t i = 0; i < b->nconts; i++) {
        const struct ir_container *c = &b->conts[i];
        if (c->kind != DICT_CONT_MESSAGE)
            continue;
        uint32_t h = dict_hash_bytes(c->msg_type, c->msg_type_len) & d->type_mask;
        while (d->type_index[h]) {
            const struct fl_dict_message *o = &d->messages[d->type_index[h] - 1];
            if (o->msg_type_len == c->msg_type_len &&
                memcmp(o->msg_type, c->msg_type, c->msg_type_len) == 0)
                return dict_builder_error(b, FL_EFORMAT, c->line,
                                          "duplicate message type '%s' ('%s' and '%s')",
                                          c->msg_type, o->name, c->name);
            h = (h + 1) & d->type_mask;
        }
        struct fl_dict_message *msg = &d->messages[d->nmessages];
        int rc = build_message(b, c, msg);
        if (rc != FL_OK)
            return rc;
        d->type_index[h] = ++d->nmessages;
        if (c->msg_type_len == 1 && (unsigned char)c->msg_type[0] < 128)
            d->type_one[(unsigned char)c->msg_type[0]] = d->nmessages;
        if (c->msg_type_len == 1 && c->msg_type[0] == 'j')
            d->has_business_reject = 1;
    }
    return FL_OK;
}

int dict_builder_finish(struct dict_builder *b, struct fl_dict **out)
{
    *out = NULL;
    if (b->rc != FL_OK)
        return b->rc;
    if (!b->d->info.version)
        return dict_builder_error(b, FL_EFORMAT, 0, "no FIX version given");
    b->group_memo = calloc(b->nitems ? b->nitems : 1, sizeof *b->group_memo);
    if (!b->group_memo)
        return oom(b);
    if (build_fields(b) != FL_OK || build_component_index(b) != FL_OK ||
        build_message(b, &b->conts[DICT_HEADER], &b->d->header) != FL_OK ||
        build_message(b, &b->conts[DICT_TRAILER], &b->d->trailer) != FL_OK ||
        build_messages(b) != FL_OK)
        return b->rc;
    /* Why: a component nobody references still gets resolved, so a typo in it is reported
     * instead of lying in wait for the day a message starts using it. */
    for (uint32_t i = 0; i < b->nconts; i++) {
        if (b->conts[i].kind != DICT_CONT_COMPONENT)
            continue;
        struct flat tmp = {0};
        b->conts[i].visiting = 1;
        int rc = flatten(b, b->conts[i].children, 1, &tmp, 1);
        b->conts[i].visiting = 0;
        free(tmp.v);
        if (rc != FL_OK)
            return rc;
    }
    *out = b->d;
    b->d = NULL;
    return FL_OK;
}

/* ---- lifetime ---- */

struct fl_dict *fl_dict_ref(struct fl_dict *d)
{
    if (d)
        atomic_fetch_add_explicit(&d->refs, 1u, memory_order_relaxed);
    return d;
}

void fl_dict_free(struct fl_dict *d)
{
    if (!d)
        return;
    if (atomic_fetch_sub_explicit(&d->refs, 1u, memory_order_acq_rel) != 1u)
        return;
    for (uint32_t i = 0; i < d->napps; i++) {
        free(d->apps[i].appl_ver_id);
        fl_dict_free(d->apps[i].dict);
    }
    free(d->apps);
    arena_release(&d->arena);
    free(d);
}

const struct fl_dict_info *fl_dict_info(const struct fl_dict *d)
{
    return &d->info;
}

int fl_dict_add_app(struct fl_dict *transport, const char *appl_ver_id, struct fl_dict *app)
{
    /* Why refuse a transport as the application: it could close a reference cycle. */
    if (!transport || !app || app == transport || !transport->info.transport ||
        app->info.transport)
        return FL_EINVAL;
    if (!appl_ver_id)
        appl_ver_id = app->info.appl_ver_id;
    if (!appl_ver_id || !*appl_ver_id)
        return FL_EINVAL;
    size_t n = strlen(appl_ver_id);
    if (fl_dict_app(transport, appl_ver_id, n))
        return FL_EINVAL;
    struct dict_app *apps = realloc(transport->apps, (transport->napps + 1) * sizeof *apps);
    if (!apps)
        return FL_ENOMEM;
    transport->apps = apps;
    char *id = malloc(n + 1);
    if (!id)
        return FL_ENOMEM;
    memcpy(id, appl_ver_id, n + 1);
    apps[transport->napps].appl_ver_id = id;
    apps[transport->napps].dict = fl_dict_ref(app);
    transport->napps++;
    return FL_OK;
}

const struct fl_dict *fl_dict_app(const struct fl_dict *d, const char *appl_ver_id, size_t n)
{
    for (uint32_t i = 0; i < d->napps; i++)
        if (strlen(d->apps[i].appl_ver_id) == n && memcmp(d->apps[i].appl_ver_id, appl_ver_id,
                                                          n) == 0)
            return d->apps[i].dict;
    return NULL;
}

/* ---- lookups ---- */

const struct fl_dict_field *fl_dict_field_by_tag(const struct fl_dict *d, uint32_t tag)
{
    const struct fl_dict_field *f = dict_own_field(d, tag);
    for (uint32_t i = 0; !f && i < d->napps; i++)
        f = dict_own_field(d->apps[i].dict, tag);
    return f;
}

const struct fl_dict_field *fl_dict_field_by_name(const struct fl_dict *d, const char *name,
                                                  size_t n)
{
    const struct fl_dict_field *f = own_field_by_name(d, name, n);
    for (uint32_t i = 0; !f && i < d->napps; i++)
        f = own_field_by_name(d->apps[i].dict, name, n);
    return f;
}

uint32_t fl_dict_field_count(const struct fl_dict *d)
{
    return d->nfields;
}

const struct fl_dict_field *fl_dict_field_at(const struct fl_dict *d, uint32_t i)
{
    return i < d->nfields ? &d->fields[i] : NULL;
}

const char *fl_dict_enum_name(const struct fl_dict_field *f, const char *value, size_t n)
{
    if (!f)
        return NULL;
    uint32_t lo = 0, hi = f->nenums;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = cmp_enum_value(&f->enums[mid], value, n);
        if (c == 0)
            return f->enums[mid].name;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int fl_dict_enum_value(const struct fl_dict_field *f, const char *name, size_t n,
                       const char **value, size_t *vn)
{
    if (!f)
        return FL_ENOENT;
    for (uint32_t i = 0; i < f->nenums; i++) {
        const struct fl_dict_enum *e = &f->enums[i];
        if (e->name_len == n && memcmp(e->name, name, n) == 0) {
            *value = e->value;
            *vn = e->value_len;
            return FL_OK;
        }
    }
    return FL_ENOENT;
}

const struct fl_dict_message *dict_own_message_hashed(const struct fl_dict *d,
                                                      const char *msg_type, size_t n)
{
    uint32_t h = dict_hash_bytes(msg_type, n) & d->type_mask;
    for (;;) {
        uint32_t i = d->type_index[h];
        if (i == 0)
            return NULL;
        const struct fl_dict_message *m = &d->messages[i - 1];
        if (m->msg_type_len == n && memcmp(m->msg_type, msg_type, n) == 0)
            return m;
        h = (h + 1) & d->type_mask;
    }
}

const struct fl_dict_message *fl_dict_message(const struct fl_dict *d, const char *msg_type,
                                              size_t n)
{
    const struct fl_dict_message *own = dict_own_message(d, msg_type, n);
    /* Why: once application dictionaries are attached they define the application messages,
     * even when the transport dictionary (the built-in one) has its own copy. */
    if (own && (own->admin || d->napps == 0))
        return own;
    for (uint32_t i = 0; i < d->napps; i++) {
        const struct fl_dict_message *m = dict_own_message(d->apps[i].dict, msg_type, n);
        if (m)
            return m;
    }
    return own;
}

static const struct fl_dict_message *own_message_by_name(const struct fl_dict *d,
                                                         const char *name, size_t n)
{
    for (uint32_t i = 0; i < d->nmessages; i++)
        if (strlen(d->messages[i].name) == n && memcmp(d->messages[i].name, name, n) == 0)
            return &d->messages[i];
    return NULL;
}

const struct fl_dict_message *fl_dict_message_by_name(const struct fl_dict *d, const char *name,
                                                      size_t n)
{
    const struct fl_dict_message *m = own_message_by_name(d, name, n);
    for (uint32_t i = 0; !m && i < d->napps; i++)
        m = own_message_by_name(d->apps[i].dict, name, n);
    return m;
}

uint32_t fl_dict_message_count(const struct fl_dict *d)
{
    return d->nmessages;
}

const struct fl_dict_message *fl_dict_message_at(const struct fl_dict *d, uint32_t i)
{
    return i < d->nmessages ? &d->messages[i] : NULL;
}

const struct fl_dict_message *fl_dict_header(const struct fl_dict *d)
{
    return &d->header;
}

const struct fl_dict_message *fl_dict_trailer(const struct fl_dict *d)
{
    return &d->trailer;
}

static const struct fl_dict_group *groups_find(const struct fl_dict_message *msg, uint32_t tag)
{
    for (uint32_t i = 0; i < msg->ngroups; i++)
        if (msg->groups[i]->def.count_tag == tag)
            return msg->groups[i];
    return NULL;
}

const struct fl_dict_group *fl_dict_message_group(const struct fl_dict *d,
                                                  const struct fl_dict_message *msg,
                                                  uint32_t count_tag)
{
    const struct fl_dict_group *g = msg ? groups_find(msg, count_tag) : NULL;
    if (!g)
        g = groups_find(&d->header, count_tag);
    return g;
}

static const struct fl_dict_group *any_group(const struct fl_dict *d, uint32_t count_tag)
{
    const struct fl_dict_group *g = groups_find(&d->header, count_tag);
    for (uint32_t i = 0; !g && i < d->nmessages; i++)
        g = groups_find(&d->messages[i], count_tag);
    return g;
}

const struct fl_group_def *fl_dict_group(const struct fl_dict *d, const char *msg_type, size_t n,
                                         uint32_t count_tag)
{
    const struct fl_dict_group *g = NULL;
    if (msg_type) {
        const struct fl_dict_message *msg = fl_dict_message(d, msg_type, n);
        if (msg)
            g = fl_dict_message_group(d, msg, count_tag);
    } else {
        g = any_group(d, count_tag);
        for (uint32_t i = 0; !g && i < d->napps; i++)
            g = any_group(d->apps[i].dict, count_tag);
    }
    return g ? &g->def : NULL;
}
