/* fixlua — the log pretty-printer: fixlua's own message log, '|' and SOH lines, raw captures
 * without newlines, groups indented, filters by MsgType (value or name), CompID and tag. */
#include "fl_test.h"

#include <stdlib.h>
#include <unistd.h>

#include "fl_builder.h"
#include "fl_pretty.h"

/* Runs `fixlua log ARGS... FILE` over `content` and returns what it printed (static). */
static const char *run_log(const char *content, size_t n, const char *a1, const char *a2,
                           int *status)
{
    static char out_buf[65536];
    char path[] = "/tmp/fl_pretty_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return "";
    if (write(fd, content, n) != (ssize_t)n) {
        close(fd);
        return "";
    }
    close(fd);
    char *argv[4];
    int argc = 0;
    if (a1)
        argv[argc++] = (char *)a1;
    if (a2)
        argv[argc++] = (char *)a2;
    argv[argc++] = path;
    FILE *out = fmemopen(out_buf, sizeof out_buf - 1, "w");
    FILE *err = fopen("/dev/null", "w");
    *status = fl_pretty_main(argc, argv, out, err);
    long len = ftell(out);
    fclose(out);
    fclose(err);
    out_buf[len > 0 ? len : 0] = '\0';
    unlink(path);
    return out_buf;
}

static size_t build(char *dst, const char *type, const char *body_bars)
{
    struct fl_builder b;
    fl_builder_init(&b);
    char body[1024];
    size_t n = strlen(body_bars);
    memcpy(body, body_bars, n);
    for (size_t i = 0; i < n; i++)
        if (body[i] == '|')
            body[i] = '\001';
    const char *f;
    size_t fl = 0;
    if (fl_builder_begin(&b, "FIX.4.4", type, strlen(type)) == FL_OK) {
        fl_builder_add_raw(&b, body, n);
        if (fl_builder_finish(&b, &f, &fl) == FL_OK)
            memcpy(dst, f, fl);
    }
    fl_builder_release(&b);
    return fl;
}

FL_TEST(pretty_prints_own_log_with_names_and_groups)
{
    char log[4096], m1[1024], m2[1024];
    size_t n1 = build(m1, "D", "49=CLI|56=EXE|34=2|52=20261122-10:00:00|11=A1|55=IBM|54=1|"
                               "453=2|448=P1|447=D|452=3|448=P2|447=D|452=11|38=10|40=1|");
    size_t n2 = build(m2, "8", "49=EXE|56=CLI|34=3|52=20261122-10:00:01|37=O|17=E|150=0|39=0|55=IBM|"
                               "54=2|151=10|14=0|6=0|");
    size_t len = 0;
    len += (size_t)snprintf(log + len, sizeof log - len, "20261122-10:00:00.000001 OUT ");
    for (size_t i = 0; i < n1; i++)
        log[len++] = m1[i] == '\001' ? '|' : m1[i];
    log[len++] = '\n';
    len += (size_t)snprintf(log + len, sizeof log - len, "20261122-10:00:01.000001 IN  ");
    for (size_t i = 0; i < n2; i++)
        log[len++] = m2[i] == '\001' ? '|' : m2[i];
    log[len++] = '\n';
    int st = -1;
    const char *out = run_log(log, len, NULL, NULL, &st);
    FL_CHECK_INT(st, 0);
    FL_CHECK(strstr(out, "20261122-10:00:00.000001 OUT NewOrderSingle (D)  CLI -> EXE  seq 2") != NULL);
    FL_CHECK(strstr(out, "ExecutionReport (8)") != NULL);
    FL_CHECK(strstr(out, "Side                     = 1  (BUY)") != NULL);
    FL_CHECK(strstr(out, "Side                     = 2  (SELL)") != NULL);
    FL_CHECK(strstr(out, "    -- 2\n") != NULL);
    FL_CHECK(strstr(out, "         448 PartyID                  = P2") != NULL);
    /* filters */
    out = run_log(log, len, "--type", "ExecutionReport", &st);
    FL_CHECK(strstr(out, "ExecutionReport") != NULL);
    FL_CHECK(strstr(out, "NewOrderSingle") == NULL);
    out = run_log(log, len, "--type", "D", &st);
    FL_CHECK(strstr(out, "NewOrderSingle") != NULL && strstr(out, "ExecutionReport") == NULL);
    out = run_log(log, len, "--tag", "448=P2", &st);
    FL_CHECK(strstr(out, "NewOrderSingle") != NULL && strstr(out, "ExecutionReport") == NULL);
    out = run_log(log, len, "--comp", "NOBODY", &st);
    FL_CHECK_INT(strlen(out), 0);
end:;
}

FL_TEST(pretty_reads_raw_capture_without_newlines)
{
    char cap[4096], m[1024];
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "49=A|56=B|34=%d|52=20261122-10:00:00|112=T%d|", i + 1, i);
        size_t n = build(m, "1", body);
        memcpy(cap + len, m, n);
        len += n;
    }
    int st = -1;
    const char *out = run_log(cap, len, "--one-line", NULL, &st);
    FL_CHECK_INT(st, 0);
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    FL_CHECK_INT(lines, 3);
    FL_CHECK(strstr(out, "|112=T2|") != NULL);
end:;
}

FL_TEST(pretty_bad_usage_and_missing_file)
{
    char *argv1[] = {(char *)"--tag", (char *)"x"};
    FILE *null = fopen("/dev/null", "w");
    FL_CHECK_INT(fl_pretty_main(2, argv1, null, null), 2);
    char *argv2[] = {(char *)"/nonexistent/file.log"};
    FL_CHECK_INT(fl_pretty_main(1, argv2, null, null), 1);
    char *argv3[] = {(char *)"--bogus"};
    FL_CHECK_INT(fl_pretty_main(1, argv3, null, null), 2);
end:
    fclose(null);
}

int main(int argc, char **argv)
{
    FL_TEST_MAIN_BEGIN(argc, argv);
    FL_RUN(pretty_prints_own_log_with_names_and_groups);
    FL_RUN(pretty_reads_raw_capture_without_newlines);
    FL_RUN(pretty_bad_usage_and_missing_file);
    return FL_TEST_SUMMARY();
}
