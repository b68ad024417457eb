/* fixlua — small predicates on parsed messages shared by the session stress tests. */
#ifndef MSG_CHECK_H
#define MSG_CHECK_H

#include <string.h>

#include "fl_msg.h"

/* The integer value of tag, or -1 when absent or malformed. */
static inline int64_t int_field(const struct fl_msg *m, uint32_t tag)
{
    int64_t v = -1;
    if (fl_msg_get_int(m, tag, &v) != FL_OK)
        return -1;
    return v;
}

static inline int is_type(const struct fl_msg *m, const char *t)
{
    const char *p;
    size_t n;
    return fl_msg_get_str(m, 35, &p, &n) == FL_OK && n == strlen(t) && memcmp(p, t, n) == 0;
}

static inline int poss_dup(const struct fl_msg *m)
{
    int v = 0;
    return fl_msg_get_bool(m, 43, &v) == FL_OK && v;
}

#endif
