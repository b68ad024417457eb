/* fixlua — loading QuickFIX-format XML dictionaries with expat.
 *
 * The file is parsed as a stream: each start tag is checked against the element it appears in
 * (<fix> holds <header>, <trailer>, <messages>, <components> and <fields>; containers hold
 * <field>, <component> and <group> references; <fields> holds definitions with <value> enums)
 * and handed to the builder in fl_dict.c, which resolves the names once the whole file is read,
 * so components and fields may be referenced before they are defined. The first problem stops
 * the parse and is reported as "FILE:LINE: what is wrong". */
#include "fl_dict_impl.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

enum el {
    EL_NONE = 0,
    EL_FIX,
    EL_HEADER,
    EL_TRAILER,
    EL_MESSAGES,
    EL_MESSAGE,
    EL_COMPONENTS,
    EL_COMPONENT_DEF,
    EL_FIELDS,
    EL_FIELD_DEF,
    EL_VALUE,
    EL_FIELD_REF,
    EL_COMPONENT_REF,
    EL_GROUP,
};

static const char *const el_names[] = {
    [EL_NONE] = "document", [EL_FIX] = "fix", [EL_HEADER] = "header",
    [EL_TRAILER] = "trailer", [EL_MESSAGES] = "messages", [EL_MESSAGE] = "message",
    [EL_COMPONENTS] = "components", [EL_COMPONENT_DEF] = "component", [EL_FIELDS] = "fields",
    [EL_FIELD_DEF] = "field", [EL_VALUE] = "value", [EL_FIELD_REF] = "field",
    [EL_COMPONENT_REF] = "component", [EL_GROUP] = "group",
};

struct frame {
    enum el el;
    int32_t container;   /* container the element's items go to */
    int32_t group;       /* group item the element's items go to, or -1 */
};

struct xml_state {
    XML_Parser parser;
    struct dict_builder *b;
    struct frame stack[DICT_MAX_DEPTH + 8];
    int depth;
    int skip;            /* > 0 inside an element after an error */
    int seen_root;
};

static uint32_t cur_line(const struct xml_state *s)
{
    return (uint32_t)XML_GetCurrentLineNumber(s->parser);
}

static void fail(struct xml_state *s)
{
    XML_StopParser(s->parser, XML_FALSE);
}

static const char *attr(const char **atts, const char *name)
{
    for (int i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

/* Reads a required attribute; reports its absence. */
static const char *need(struct xml_state *s, const char **atts, const char *el, const char *name)
{
    const char *v = attr(atts, name);
    if (!v || !*v) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s), "<%s> needs a '%s' attribute", el,
                           name);
        fail(s);
        return NULL;
    }
    return v;
}

static int parse_uint(const char *v, uint32_t max, uint32_t *out)
{
    uint64_t x = 0;
    if (!*v)
        return 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > max)
            return 0;
    }
    *out = (uint32_t)x;
    return 1;
}

/* required='Y'|'N' (absent means N). Returns 0/1, or -1 after reporting a bad value. */
static int required_attr(struct xml_state *s, const char **atts, const char *el)
{
    const char *v = attr(atts, "required");
    if (!v || strcmp(v, "N") == 0 || strcmp(v, "n") == 0)
        return 0;
    if (strcmp(v, "Y") == 0 || strcmp(v, "y") == 0)
        return 1;
    dict_builder_error(s->b, FL_EFORMAT, cur_line(s), "<%s> required='%s': expected Y or N", el,
                       v);
    fail(s);
    return -1;
}

static int start_fix(struct xml_state *s, const char **atts)
{
    const char *type = attr(atts, "type");
    const char *maj = need(s, atts, "fix", "major");
    const char *min = maj ? need(s, atts, "fix", "minor") : NULL;
    if (!min)
        return -1;
    const char *sp = attr(atts, "servicepack");
    uint32_t major, minor, pack = 0;
    if (!parse_uint(maj, 99, &major) || !parse_uint(min, 99, &minor) ||
        (sp && *sp && !parse_uint(sp, 99, &pack))) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s), "<fix> version numbers are not numbers");
        fail(s);
        return -1;
    }
    int transport = 0;
    if (type && strcmp(type, "FIXT") == 0) {
        transport = 1;
    } else if (type && strcmp(type, "FIX") != 0) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s),
                           "<fix type='%s'>: expected FIX or FIXT", type);
        fail(s);
        return -1;
    }
    if (dict_builder_version(s->b, transport, (int)major, (int)minor, (int)pack) != FL_OK) {
        fail(s);
        return -1;
    }
    return 0;
}

/* A field, component or group reference inside a container or group. */
static int start_ref(struct xml_state *s, const struct frame *parent, const char *name,
                     const char **atts, struct frame *fr)
{
    enum dict_item_kind kind = strcmp(name, "field") == 0       ? DICT_ITEM_FIELD
                               : strcmp(name, "component") == 0 ? DICT_ITEM_COMPONENT
                                                                : DICT_ITEM_GROUP;
    const char *ref = need(s, atts, name, "name");
    if (!ref)
        return -1;
    int req = required_attr(s, atts, name);
    if (req < 0)
        return -1;
    int idx = dict_builder_item(s->b, parent->container, parent->group, kind, ref, strlen(ref),
                                req, cur_line(s));
    if (idx < 0) {
        fail(s);
        return -1;
    }
    fr->container = parent->container;
    fr->group = kind == DICT_ITEM_GROUP ? idx : -1;
    fr->el = kind == DICT_ITEM_FIELD       ? EL_FIELD_REF
             : kind == DICT_ITEM_COMPONENT ? EL_COMPONENT_REF
                                           : EL_GROUP;
    return 0;
}

static int start_message(struct xml_state *s, const char **atts, struct frame *fr)
{
    const char *name = need(s, atts, "message", "name");
    const char *type = name ? need(s, atts, "message", "msgtype") : NULL;
    if (!type)
        return -1;
    const char *cat = attr(atts, "msgcat");
    int admin = cat && strcmp(cat, "admin") == 0;
    int c = dict_builder_container(s->b, DICT_CONT_MESSAGE, name, strlen(name), type,
                                   strlen(type), admin, cur_line(s));
    if (c < 0) {
        fail(s);
        return -1;
    }
    fr->el = EL_MESSAGE;
    fr->container = c;
    return 0;
}

static int start_component_def(struct xml_state *s, const char **atts, struct frame *fr)
{
    const char *name = need(s, atts, "component", "name");
    if (!name)
        return -1;
    int c = dict_builder_container(s->b, DICT_CONT_COMPONENT, name, strlen(name), NULL, 0, 0,
                                   cur_line(s));
    if (c < 0) {
        fail(s);
        return -1;
    }
    fr->el = EL_COMPONENT_DEF;
    fr->container = c;
    return 0;
}

static int start_field_def(struct xml_state *s, const char **atts, struct frame *fr)
{
    const char *num = need(s, atts, "field", "number");
    const char *name = num ? need(s, atts, "field", "name") : NULL;
    const char *type = name ? need(s, atts, "field", "type") : NULL;
    if (!type)
        return -1;
    uint32_t tag;
    if (!parse_uint(num, INT32_MAX, &tag) || tag == 0) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s),
                           "field '%s': number '%s' is not a positive integer", name, num);
        fail(s);
        return -1;
    }
    if (dict_builder_field(s->b, tag, name, strlen(name), type, strlen(type), cur_line(s)) < 0) {
        fail(s);
        return -1;
    }
    fr->el = EL_FIELD_DEF;
    return 0;
}

static int start_value(struct xml_state *s, const char **atts, struct frame *fr)
{
    const char *v = need(s, atts, "value", "enum");
    const char *d = v ? need(s, atts, "value", "description") : NULL;
    if (!d)
        return -1;
    if (dict_builder_enum(s->b, v, strlen(v), d, strlen(d), cur_line(s)) != FL_OK) {
        fail(s);
        return -1;
    }
    fr->el = EL_VALUE;
    return 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_state *s = ud;
    if (s->skip) {
        s->skip++;
        return;
    }
    if (s->depth >= (int)(sizeof s->stack / sizeof s->stack[0]) - 1) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s), "elements nest too deeply");
        fail(s);
        s->skip = 1;
        return;
    }
    const struct frame *parent = &s->stack[s->depth];
    struct frame fr = {EL_NONE, parent->container, parent->group};
    int rc = -2;
    switch (parent->el) {
    case EL_NONE:
        if (strcmp(name, "fix") == 0 && !s->seen_root) {
            s->seen_root = 1;
            rc = start_fix(s, atts);
            fr.el = EL_FIX;
        }
        break;
    case EL_FIX:
        rc = 0;
        if (strcmp(name, "header") == 0) {
            fr.el = EL_HEADER;
            fr.container = DICT_HEADER;
            fr.group = -1;
        } else if (strcmp(name, "trailer") == 0) {
            fr.el = EL_TRAILER;
            fr.container = DICT_TRAILER;
            fr.group = -1;
        } else if (strcmp(name, "messages") == 0) {
            fr.el = EL_MESSAGES;
        } else if (strcmp(name, "components") == 0) {
            fr.el = EL_COMPONENTS;
        } else if (strcmp(name, "fields") == 0) {
            fr.el = EL_FIELDS;
        } else {
            rc = -2;
        }
        break;
    case EL_HEADER:
    case EL_TRAILER:
    case EL_MESSAGE:
    case EL_COMPONENT_DEF:
    case EL_GROUP:
        if (strcmp(name, "field") == 0 || strcmp(name, "component") == 0 ||
            strcmp(name, "group") == 0)
            rc = start_ref(s, parent, name, atts, &fr);
        break;
    case EL_MESSAGES:
        if (strcmp(name, "message") == 0) {
            fr.group = -1;
            rc = start_message(s, atts, &fr);
        }
        break;
    case EL_COMPONENTS:
        if (strcmp(name, "component") == 0) {
            fr.group = -1;
            rc = start_component_def(s, atts, &fr);
        }
        break;
    case EL_FIELDS:
        if (strcmp(name, "field") == 0)
            rc = start_field_def(s, atts, &fr);
        break;
    case EL_FIELD_DEF:
        if (strcmp(name, "value") == 0)
            rc = start_value(s, atts, &fr);
        break;
    default:
        break;
    }
    if (rc == -2) {
        dict_builder_error(s->b, FL_EFORMAT, cur_line(s), "unexpected <%s> inside <%s>", name,
                           el_names[parent->el]);
        fail(s);
    }
    if (rc != 0) {
        s->skip = 1;
        return;
    }
    s->stack[++s->depth] = fr;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_state *s = ud;
    (void)name;
    if (s->skip) {
        s->skip--;
        return;
    }
    if (s->depth > 0)
        s->depth--;
}

static int parse_start(struct xml_state *s, struct dict_builder *b)
{
    memset(s, 0, sizeof *s);
    s->b = b;
    b->legacy_char = 1;
    s->stack[0].container = -1;
    s->stack[0].group = -1;
    s->parser = XML_ParserCreate(NULL);
    if (!s->parser)
        return dict_builder_error(b, FL_ENOMEM, 0, "out of memory");
    XML_SetUserData(s->parser, s);
    XML_SetElementHandler(s->parser, on_start, on_end);
    return FL_OK;
}

/* Feeds one piece; returns FL_OK or the (already reported) error. */
static int parse_feed(struct xml_state *s, const char *p, size_t n, int last)
{
    do {
        int k = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        int fin = last && (size_t)k == n;
        if (XML_Parse(s->parser, p, k, fin) != XML_STATUS_OK) {
            if (s->b->rc == FL_OK)
                dict_builder_error(s->b, FL_EFORMAT,
                                   (uint32_t)XML_GetCurrentLineNumber(s->parser),
                                   "malformed XML: %s",
                                   XML_ErrorString(XML_GetErrorCode(s->parser)));
            return s->b->rc;
        }
        p += k;
        n -= (size_t)k;
    } while (n > 0);
    return FL_OK;
}

static int parse_end(struct xml_state *s, struct fl_dict **out)
{
    struct dict_builder *b = s->b;
    XML_ParserFree(s->parser);
    s->parser = NULL;
    if (b->rc == FL_OK && !s->seen_root)
        dict_builder_error(b, FL_EFORMAT, 0, "no <fix> element");
    return dict_builder_finish(b, out);
}

int fl_dict_load_buffer(const char *xml, size_t n, const char *name, struct fl_dict **out,
                        char *errbuf, size_t errlen)
{
    struct dict_builder b;
    struct xml_state s;
    *out = NULL;
    int rc = dict_builder_init(&b, name, errbuf, errlen);
    if (rc == FL_OK)
        rc = parse_start(&s, &b);
    if (rc == FL_OK) {
        parse_feed(&s, xml, n, 1);
        rc = parse_end(&s, out);
    }
    dict_builder_discard(&b);
    return rc;
}

int fl_dict_load_file(const char *path, struct fl_dict **out, char *errbuf, size_t errlen)
{
    struct dict_builder b;
    struct xml_state s;
    *out = NULL;
    int rc = dict_builder_init(&b, path, errbuf, errlen);
    if (rc != FL_OK) {
        dict_builder_discard(&b);
        return rc;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rc = dict_builder_error(&b, FL_EIO, 0, "cannot open: %s", strerror(errno));
        dict_builder_discard(&b);
        return rc;
    }
    rc = parse_start(&s, &b);
    if (rc == FL_OK) {
        char buf[64 * 1024];
        for (;;) {
            size_t k = fread(buf, 1, sizeof buf, fp);
            if (k < sizeof buf && ferror(fp)) {
                dict_builder_error(&b, FL_EIO, 0, "read error");
                break;
            }
            int last = k < sizeof buf && feof(fp);
            if (parse_feed(&s, buf, k, last) != FL_OK || last)
                break;
        }
        rc = parse_end(&s, out);
    }
    fclose(fp);
    dict_builder_discard(&b);
    return rc;
}
