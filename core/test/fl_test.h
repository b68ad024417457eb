/* fixlua — a small in-tree test harness (tinytest style).
 *
 * A test is `FL_TEST(name) { ... FL_CHECK(cond); ... end: cleanup; }`; a failed check reports
 * file:line and jumps to `end`, so cleanup always runs. main() lists the tests with FL_RUN and
 * returns FL_TEST_SUMMARY(), which prints "N passed, N failed" (the line CI reads) and gives the
 * exit status. Each test_<module>.c is one CTest test. */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct fl_test_ctx {
    int passed;
    int failed;
    int current_failed;
    const char *only; /* run only this test when set (argv[1]) */
};

static struct fl_test_ctx fl_test_ctx_;

#define FL_TEST(name) static void name(void)

#define FL_FAIL_AT_(fmt, ...)                                                           \
    do {                                                                                \
        fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);         \
        fl_test_ctx_.current_failed = 1;                                                \
        goto end;                                                                       \
    } while (0)

#define FL_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond))                                                                    \
            FL_FAIL_AT_("check failed: %s", #cond);                                     \
    } while (0)

#define FL_CHECK_INT(a, b)                                                              \
    do {                                                                                \
        long long fl_a_ = (long long)(a), fl_b_ = (long long)(b);                      \
        if (fl_a_ != fl_b_)                                                             \
            FL_FAIL_AT_("%s == %s: %lld != %lld", #a, #b, fl_a_, fl_b_);                \
    } while (0)

#define FL_CHECK_STRN(p, n, s)                                                          \
    do {                                                                                \
        const char *fl_p_ = (p), *fl_s_ = (s);                                          \
        size_t fl_n_ = (n);                                                             \
        if (fl_n_ != strlen(fl_s_) || memcmp(fl_p_, fl_s_, fl_n_) != 0)                 \
            FL_FAIL_AT_("%s == \"%s\": got \"%.*s\"", #p, fl_s_, (int)fl_n_, fl_p_);    \
    } while (0)

#define FL_RUN(name)                                                                    \
    do {                                                                                \
        if (fl_test_ctx_.only && strcmp(fl_test_ctx_.only, #name) != 0)                 \
            break;                                                                      \
        fl_test_ctx_.current_failed = 0;                                                \
        name();                                                                         \
        if (fl_test_ctx_.current_failed) {                                              \
            fl_test_ctx_.failed++;                                                      \
            fprintf(stderr, "FAIL %s\n", #name);                                        \
        } else {                                                                        \
            fl_test_ctx_.passed++;                                                      \
        }                                                                               \
    } while (0)

#define FL_TEST_MAIN_BEGIN(argc, argv)                                                  \
    fl_test_ctx_.only = (argc) > 1 ? (argv)[1] : NULL

#define FL_TEST_SUMMARY()                                                               \
    (printf("%d passed, %d failed\n", fl_test_ctx_.passed, fl_test_ctx_.failed),        \
     fl_test_ctx_.failed ? 1 : 0)

/* Test-only helper: converts a '|'-separated message literal to SOH in place. */
static inline char *fl_test_soh(char *s)
{
    for (char *c = s; *c; c++)
        if (*c == '|')
            *c = '\001';
    return s;
}

#endif
