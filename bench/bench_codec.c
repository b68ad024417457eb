/* fixlua — codec benchmark: framing + parsing, serialising, and a 20-entry repeating group.
 *
 * Usage: codec [iterations]   (default 3000000; use a small count under callgrind)
 *
 * Each figure is the mean over `iterations` messages after a warm-up: frame+parse runs
 * fl_frame_scan() (CheckSum included), fl_msg_parse() and reads five fields of a realistic
 * NewOrderSingle and ExecutionReport; serialize builds a NewOrderSingle with fl_builder (header
 * 49, 56, 34, 52 with a timestamp, body, finish); the group case frames, parses and walks a
 * MarketDataSnapshot (W) with 20 NoMDEntries. Results feed a checksum that is printed so the
 * compiler cannot drop the work. Capacities of the reused message and builder are compared
 * before and after the timed loops: unchanged capacity means no allocation in steady state.
 * Depends on fl_core only; pin it (taskset -c 0) for stable figures. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_builder.h"
#include "fl_frame.h"
#include "fl_group.h"
#include "fl_msg.h"

#define NS_PER_S INT64_C(1000000000)

/* Keeps each measured loop a function of its own, so callgrind can count its instructions
 * (callgrind_annotate --inclusive=yes). */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

struct bench {
    struct fl_msg msg;
    struct fl_builder builder;
    uint64_t check;  /* folded results, printed at the end */
    int failed;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void report(const char *name, int64_t elapsed, long iterations)
{
    double ns = (double)elapsed / (double)iterations;
    printf("%s: %.1f ns/msg (%.2f M msg/s)\n", name, ns, 1e3 / ns);
}

/* Builds a frame (BodyLength, CheckSum) from a '|'-separated body with the builder's raw path,
 * into a heap copy the caller frees. */
static char *make_frame(struct fl_builder *b, const char *msg_type, const char *body, size_t *n)
{
    size_t len = strlen(body);
    char *tmp = malloc(len + 1), *copy = NULL;
    const char *out;
    if (!tmp)
        return NULL;
    for (size_t i = 0; i <= len; i++)
        tmp[i] = body[i] == '|' ? '\001' : body[i];
    if (fl_builder_begin(b, "FIX.4.4", msg_type, strlen(msg_type)) == FL_OK) {
        fl_builder_add_raw(b, tmp, len);
        if (fl_builder_finish(b, &out, n) == FL_OK && (copy = malloc(*n)) != NULL)
            memcpy(copy, out, *n);
    }
    free(tmp);
    return copy;
}

/* Frame + parse + read five fields; returns a value derived from all of them. */
static uint64_t frame_parse_one(struct bench *bn, const char *p, size_t n)
{
    struct fl_frame fr;
    if (fl_frame_scan(p, n, 0, &fr) != FL_FRAME_OK || fl_msg_parse(&bn->msg, p, fr.len) != FL_OK ||
        bn->msg.problem != FL_PARSE_OK) {
        bn->failed = 1;
        return 0;
    }
    int64_t seq = 0, qty = 0;
    struct fl_decimal px = {0, 0};
    const char *id = NULL;
    size_t id_len = 0;
    char side = 0;
    int rc = fl_msg_get_int(&bn->msg, 34, &seq);
    rc |= fl_msg_get_str(&bn->msg, 11, &id, &id_len);
    rc |= fl_msg_get_int(&bn->msg, 38, &qty);
    rc |= fl_msg_get_decimal(&bn->msg, 44, &px);
    rc |= fl_msg_get_char(&bn->msg, 54, &side);
    if (rc != FL_OK)
        bn->failed = 1;
    return (uint64_t)seq + (uint64_t)qty + (uint64_t)px.mantissa + id_len + (unsigned char)side +
           (unsigned char)(id ? id[id_len - 1] : 0);
}

NOINLINE static void bench_frame_parse(struct bench *bn, const char *name, const char *p, size_t n,
                              long iterations)
{
    for (long i = 0; i < iterations / 10 + 1; i++)
        bn->check += frame_parse_one(bn, p, n);
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++)
        bn->check += frame_parse_one(bn, p, n);
    report(name, now_ns() - t0, iterations);
}

/* Builds a NewOrderSingle as a session would: header with a fresh sequence number and
 * SendingTime, then the order. */
static uint64_t serialize_one(struct bench *bn, long i, int64_t t)
{
    struct fl_builder *b = &bn->builder;
    if (fl_builder_begin(b, "FIX.4.4", "D", 1) != FL_OK) {
        bn->failed = 1;
        return 0;
    }
    fl_builder_add_str(b, 49, "CLIENT01", 8);
    fl_builder_add_str(b, 56, "EXCHANGE", 8);
    fl_builder_add_int(b, 34, 1000 + i);
    fl_builder_add_utc_timestamp(b, 52, t, 3);
    fl_builder_add_str(b, 1, "ACCT-7781", 9);
    fl_builder_add_int(b, 11, 7000000 + i);
    fl_builder_add_char(b, 21, '1');
    fl_builder_add_int(b, 38, 100 + (i & 1023));
    fl_builder_add_char(b, 40, '2');
    fl_builder_add_decimal(b, 44, (struct fl_decimal){1012500 + (i & 255), 4});
    fl_builder_add_char(b, 54, '1');
    fl_builder_add_str(b, 55, "AAPL", 4);
    fl_builder_add_char(b, 59, '0');
    fl_builder_add_utc_timestamp(b, 60, t, 3);
    fl_builder_add_str(b, 100, "XNAS", 4);
    fl_builder_add_str(b, 207, "XNAS", 4);
    const char *out;
    size_t n;
    if (fl_builder_finish(b, &out, &n) != FL_OK) {
        bn->failed = 1;
        return 0;
    }
    return n + (unsigned char)out[n - 2];
}

NOINLINE static void bench_serialize(struct bench *bn, long iterations)
{
    const int64_t t = INT64_C(1710510307) * NS_PER_S + 123000000;
    for (long i = 0; i < iterations / 10 + 1; i++)
        bn->check += serialize_one(bn, i, t + i);
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++)
        bn->check += serialize_one(bn, i, t + i * 1000);
    report("serialize NewOrderSingle", now_ns() - t0, iterations);
}

/* Frame + parse a W and read price and size of every NoMDEntries entry. */
static uint64_t group_one(struct bench *bn, const struct fl_group_def *def, const char *p,
                          size_t n)
{
    struct fl_frame fr;
    struct fl_group g;
    if (fl_frame_scan(p, n, 0, &fr) != FL_FRAME_OK || fl_msg_parse(&bn->msg, p, fr.len) != FL_OK ||
        fl_group_open(&g, &bn->msg, def, bn->msg.body_begin, bn->msg.nfields) != FL_OK) {
        bn->failed = 1;
        return 0;
    }
    uint64_t sum = g.found;
    struct fl_group_entry e;
    const struct fl_group_entry *prev = NULL;
    while (fl_group_next(&g, prev, &e) == FL_OK) {
        int ip = fl_group_entry_find(&g, &e, 270), is = fl_group_entry_find(&g, &e, 271);
        struct fl_decimal px;
        int64_t size;
        if (ip < 0 || is < 0 ||
            fl_parse_decimal(fl_msg_value(&bn->msg, (uint32_t)ip), bn->msg.fields[ip].len,
                             &px) != FL_OK ||
            fl_parse_int(fl_msg_value(&bn->msg, (uint32_t)is), bn->msg.fields[is].len,
                         &size) != FL_OK) {
            bn->failed = 1;
            return 0;
        }
        sum += (uint64_t)px.mantissa + (uint64_t)size;
        prev = &e;
    }
    return sum;
}

NOINLINE static void bench_group(struct bench *bn, const char *p, size_t n, long iterations)
{
    const struct fl_group_def *def = fl_group_builtin(268, "W", 1);
    for (long i = 0; i < iterations / 10 + 1; i++)
        bn->check += group_one(bn, def, p, n);
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++)
        bn->check += group_one(bn, def, p, n);
    report("frame+parse+walk W with 20 NoMDEntries", now_ns() - t0, iterations);
}

static const char nos_body[] =
    "49=CLIENT01|56=EXCHANGE|34=1042|52=20240315-13:45:07.123|1=ACCT-7781|11=ORD-20240315-0001042|"
    "21=1|38=500|40=2|44=101.2500|54=1|55=AAPL|59=0|60=20240315-13:45:07.122|100=XNAS|207=XNAS|"
    "18=P|528=A|";
static const char exec_body[] =
    "49=EXCHANGE|56=CLIENT01|34=2077|52=20240315-13:45:07.125|1=ACCT-7781|6=101.2500|"
    "11=ORD-20240315-0001042|14=200|17=EXEC-20240315-000077|31=101.2500|32=200|37=OID-88123412|"
    "38=500|39=1|40=2|44=101.2500|54=1|55=AAPL|59=0|60=20240315-13:45:07.124|150=F|151=300|"
    "207=XNAS|30=XNAS|58=partial fill|";

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 3000000;
    if (iterations <= 0) {
        fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
        return 2;
    }
    struct bench bn;
    memset(&bn, 0, sizeof bn);
    fl_msg_init(&bn.msg);
    fl_builder_init(&bn.builder);

    char md_body[2048];
    size_t k = (size_t)snprintf(md_body, sizeof md_body,
                                "49=EXCHANGE|56=CLIENT01|34=3001|52=20240315-13:45:07.200|262=MD-1|"
                                "55=EUR/USD|268=20|");
    for (int i = 0; i < 20; i++)
        k += (size_t)snprintf(md_body + k, sizeof md_body - k, "269=%d|270=1.08%02d%d|271=%d|",
                              i % 2, 40 + i, i % 10, (i + 1) * 250000);
    size_t nos_n, exec_n, md_n;
    char *nos = make_frame(&bn.builder, "D", nos_body, &nos_n);
    char *exec = make_frame(&bn.builder, "8", exec_body, &exec_n);
    char *md = make_frame(&bn.builder, "W", md_body, &md_n);
    if (!nos || !exec || !md) {
        fprintf(stderr, "could not build the sample messages\n");
        return 1;
    }
    printf("messages: NewOrderSingle %zu bytes, ExecutionReport %zu bytes, W %zu bytes; "
           "%ld iterations\n", nos_n, exec_n, md_n, iterations);

    /* Size the reused structures once; the timed loops must not change them. */
    bn.check += frame_parse_one(&bn, exec, exec_n) + serialize_one(&bn, 0, 0);
    bn.check += group_one(&bn, fl_group_builtin(268, "W", 1), md, md_n);
    uint32_t msg_cap = bn.msg.cap;
    size_t builder_cap = bn.builder.cap;
    const struct fl_field *fields = bn.msg.fields;
    const char *bbuf = bn.builder.buf;

    bench_frame_parse(&bn, "frame+parse NewOrderSingle", nos, nos_n, iterations);
    bench_frame_parse(&bn, "frame+parse ExecutionReport", exec, exec_n, iterations);
    bench_serialize(&bn, iterations);
    bench_group(&bn, md, md_n, iterations / 4 + 1);

    int steady = bn.msg.cap == msg_cap && bn.msg.fields == fields &&
                 bn.builder.cap == builder_cap && bn.builder.buf == bbuf;
    if (steady)
        printf("allocations in steady state: 0\n");
    else
        printf("allocations in steady state: capacity changed during the timed loops\n");
    printf("checksum: %llu\n", (unsigned long long)bn.check);

    free(nos);
    free(exec);
    free(md);
    fl_msg_release(&bn.msg);
    fl_builder_release(&bn.builder);
    if (bn.failed) {
        fprintf(stderr, "a benchmark step failed\n");
        return 1;
    }
    return steady ? 0 : 1;
}
