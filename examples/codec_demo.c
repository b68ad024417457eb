/* fixlua — codec demo: builds a few real FIX messages, frames and parses them back, and prints
 * each with field and enum names from the built-in dictionary. Shows the core codec API end to
 * end without sockets or Lua. */
#include <stdio.h>
#include <string.h>

#include "fl_builder.h"
#include "fl_dict.h"
#include "fl_frame.h"
#include "fl_msg.h"

static void print_message(const struct fl_dict *d, const char *frame, size_t n)
{
    struct fl_frame f;
    if (fl_frame_scan(frame, n, 0, &f) != FL_FRAME_OK) {
        printf("  (not a valid frame: %s)\n", fl_frame_reason_text(f.reason));
        return;
    }
    struct fl_msg m;
    fl_msg_init(&m);
    if (fl_msg_parse(&m, frame, f.len) != FL_OK) {
        printf("  (cannot parse)\n");
        return;
    }
    printf("  wire: ");
    for (size_t i = 0; i < f.len; i++)
        putchar(frame[i] == '\001' ? '|' : frame[i]);
    printf("\n");
    for (uint32_t i = 0; i < m.nfields; i++) {
        const struct fl_field *fld = &m.fields[i];
        const char *v = fl_msg_value(&m, i);
        const struct fl_dict_field *df = fl_dict_field_by_tag(d, fld->tag);
        const char *ename = fl_dict_enum_name(df, v, fld->len);
        printf("    %5u %-22s = %.*s%s%s%s\n", fld->tag, df ? df->name : "?", (int)fld->len, v,
               ename ? "  (" : "", ename ? ename : "", ename ? ")" : "");
    }
    fl_msg_release(&m);
}

int main(void)
{
    struct fl_dict *dict = NULL;
    if (fl_dict_builtin("FIX.4.4", &dict) != FL_OK) {
        fprintf(stderr, "cannot build the built-in dictionary\n");
        return 1;
    }
    struct fl_builder b;
    fl_builder_init(&b);
    const int64_t now = INT64_C(1795341600123000000); /* 2026-11-22 10:00:00.123 UTC */
    const char *frame;
    size_t n;
    int rc = 0;

    printf("NewOrderSingle (D):\n");
    rc |= fl_builder_begin(&b, "FIX.4.4", "D", 1);
    fl_builder_add_cstr(&b, 49, "CLIENT");
    fl_builder_add_cstr(&b, 56, "EXEC");
    fl_builder_add_int(&b, 34, 2);
    fl_builder_add_utc_timestamp(&b, 52, now, 3);
    fl_builder_add_cstr(&b, 11, "ORD-0001");
    fl_builder_add_char(&b, 21, '1');
    fl_builder_add_cstr(&b, 55, "IBM");
    fl_builder_add_char(&b, 54, '1');
    fl_builder_add_utc_timestamp(&b, 60, now, 3);
    fl_builder_add_decimal(&b, 38, (struct fl_decimal){100, 0});
    fl_builder_add_char(&b, 40, '2');
    fl_builder_add_decimal(&b, 44, (struct fl_decimal){14325, 2});
    fl_builder_add_char(&b, 59, '0');
    rc |= fl_builder_finish(&b, &frame, &n);
    if (rc == FL_OK)
        print_message(dict, frame, n);

    printf("ExecutionReport (8), partial fill:\n");
    rc |= fl_builder_begin(&b, "FIX.4.4", "8", 1);
    fl_builder_add_cstr(&b, 49, "EXEC");
    fl_builder_add_cstr(&b, 56, "CLIENT");
    fl_builder_add_int(&b, 34, 7);
    fl_builder_add_utc_timestamp(&b, 52, now + 1000000, 3);
    fl_builder_add_cstr(&b, 37, "X-77");
    fl_builder_add_cstr(&b, 11, "ORD-0001");
    fl_builder_add_cstr(&b, 17, "E-1");
    fl_builder_add_char(&b, 150, 'F');
    fl_builder_add_char(&b, 39, '1');
    fl_builder_add_cstr(&b, 55, "IBM");
    fl_builder_add_char(&b, 54, '1');
    fl_builder_add_decimal(&b, 32, (struct fl_decimal){40, 0});
    fl_builder_add_decimal(&b, 31, (struct fl_decimal){14320, 2});
    fl_builder_add_decimal(&b, 151, (struct fl_decimal){60, 0});
    fl_builder_add_decimal(&b, 14, (struct fl_decimal){40, 0});
    fl_builder_add_decimal(&b, 6, (struct fl_decimal){14320, 2});
    rc |= fl_builder_finish(&b, &frame, &n);
    if (rc == FL_OK)
        print_message(dict, frame, n);

    printf("A frame with a broken checksum is refused by the framer:\n");
    char broken[512];
    memcpy(broken, frame, n);
    broken[n - 2] = broken[n - 2] == '0' ? '1' : '0';
    print_message(dict, broken, n);

    fl_builder_release(&b);
    fl_dict_free(dict);
    return rc == FL_OK ? 0 : 1;
}
