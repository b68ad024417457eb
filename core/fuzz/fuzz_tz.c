/* fixlua — fuzz target for time zone files (fl_tz.c) and schedule windows (fl_schedule.c).
 *
 * The input is a zone file. Whatever fl_tz_parse() makes of it, a loaded zone must answer every
 * question without misbehaving: offsets within ±26 h, fl_tz_to_utc() keeping its promise (local
 * time reaches the asked time at the instant returned, and not a second before), and a window in
 * that zone agreeing with itself (the next boundary flips inside(), nothing before it does).
 * Checks abort (fuzz_check.h). Depends on fl_core only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fl_err.h"
#include "fl_schedule.h"
#include "fl_tz.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_tz *tz = NULL;
    char err[256];
    if (fl_tz_parse(data, size, "fuzz", &tz, err, sizeof err) != FL_OK) {
        CHECK(tz == NULL && err[0]);
        return 0;
    }
    /* Instants from 1800 to 2300, some taken from the input's own bytes (transition times). */
    static const int64_t fixed[] = {-5364662400LL, -1, 0, 1700000000, 2147483647LL,
                                    4102444800LL, 10413792000LL};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + size / 8 && i < 64; i++) {
        int64_t t = i < sizeof fixed / sizeof fixed[0] ? fixed[i] : 0;
        if (i >= sizeof fixed / sizeof fixed[0]) {
            size_t at = (i - sizeof fixed / sizeof fixed[0]) * 8;
            for (int k = 0; k < 8; k++)
                t = (int64_t)((uint64_t)t << 8 | data[at + k]);
            t %= 20000000000LL; /* within about 630 years of 1970 */
        }
        int32_t off = fl_tz_offset(tz, t);
        CHECK(off >= -26 * 3600 && off <= 26 * 3600);
        int64_t local = t + off, u = fl_tz_to_utc(tz, local);
        CHECK(u + fl_tz_offset(tz, u) >= local);
        CHECK(u - 1 + fl_tz_offset(tz, u - 1) < local);
        struct fl_schedule w = {.weekly = (int)(i & 1), .start_s = 8 * 3600 + (int64_t)i * 60,
                                .stop_s = 17 * 3600, .tz = tz};
        int opens, in = fl_schedule_inside(&w, t);
        int64_t next = fl_schedule_next(&w, t, &opens);
        CHECK(next > t);
        CHECK(fl_schedule_inside(&w, next) == opens);
        CHECK(fl_schedule_inside(&w, next - 1) == in);
    }
    fl_tz_free(tz);
    return 0;
}
