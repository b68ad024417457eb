/* fixlua — dictionary validation benchmark: ns to fully validate one parsed message.
 *
 * Usage: dict [FIX44.xml] [iterations]   (default: the shared FIX44.xml next to the source
 * tree, 2000000 iterations; use a small count under callgrind)
 *
 * A NewOrderSingle (31 fields with header and trailer, two parties, one with a party sub-ID)
 * and an ExecutionReport (33 fields, two parties) are parsed once; the timed loop runs
 * fl_dict_validate() at the FULL level on them, against FIX44.xml and against the built-in
 * FIX.4.4 dictionary. Parsing is not included (bench_codec measures it). The validator's scratch
 * capacity is compared before and after the loops: unchanged means no allocation per message.
 * Depends on fl_core only; pin it (taskset -c 0) for stable figures. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_dict.h"
#include "fl_msg.h"

#define NS_PER_S INT64_C(1000000000)
#define TS "20240102-10:20:30.123"

static const char nos[] =
    "8=FIX.4.4|9=300|35=D|49=CLIENT1|56=EXCHANGE|34=12345|52=" TS "|"
    "11=ORD-000123|1=ACCT-7|453=2|448=TRADER-1|447=D|452=11|802=1|523=DESK-4|803=4|"
    "448=FIRM-A|447=D|452=13|21=1|55=IBM|48=US4592001014|22=4|54=1|60=" TS "|38=100|40=2|"
    "44=101.25|15=USD|59=0|10=000|";

static const char er[] =
    "8=FIX.4.4|9=300|35=8|49=EXCHANGE|56=CLIENT1|34=23456|52=" TS "|"
    "37=EX-998877|11=ORD-000123|17=EXEC-55|150=F|39=1|1=ACCT-7|453=2|448=TRADER-1|447=D|"
    "452=11|448=FIRM-A|447=D|452=13|55=IBM|54=1|38=100|40=2|44=101.25|32=40|31=101.25|"
    "151=60|14=40|6=101.25|60=" TS "|58=partial|10=000|";

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Parses a '|'-separated message into m; the copy lives in *buf (caller frees). */
static int parse(struct fl_msg *m, const char *text, char **buf)
{
    size_t n = strlen(text);
    *buf = malloc(n + 1);
    if (!*buf)
        return -1;
    memcpy(*buf, text, n + 1);
    for (size_t i = 0; i < n; i++)
        if ((*buf)[i] == '|')
            (*buf)[i] = '\001';
    return fl_msg_parse(m, *buf, n) == FL_OK && m->problem == FL_PARSE_OK ? 0 : -1;
}

/* Times `iterations` validations; returns ns per message, or -1 if the message is rejected. */
static double run(const struct fl_dict *d, const struct fl_msg *m, struct fl_validator *v,
                  long iterations)
{
    struct fl_validate_opts o;
    struct fl_validate_result r;
    fl_validate_opts_init(&o);
    if (fl_dict_validate(d, m, &o, v, &r) != FL_OK) {
        fprintf(stderr, "rejected: reason %d tag %u (%s)\n", r.reason, r.ref_tag, r.text);
        return -1;
    }
    for (long i = 0; i < iterations / 10; i++) /* warm-up */
        if (fl_dict_validate(d, m, &o, v, &r) != FL_OK)
            return -1;
    int64_t t0 = now_ns();
    int bad = 0;
    for (long i = 0; i < iterations; i++)
        bad |= fl_dict_validate(d, m, &o, v, &r);
    int64_t t1 = now_ns();
    return bad ? -1 : (double)(t1 - t0) / (double)iterations;
}

/* The shared dictionaries sit next to the source tree: <src>/../shared/dictionaries. */
static void default_path(char *out, size_t n)
{
    const char *file = __FILE__;
    const char *cut = strstr(file, "bench/bench_dict.c");
    int len = cut ? (int)(cut - file) : 0;
    snprintf(out, n, "%.*s../shared/dictionaries/FIX44.xml", len, file);
}

int main(int argc, char **argv)
{
    char path[1024], err[512];
    long iterations = 2000000;
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        default_path(path, sizeof path);
    if (argc > 2)
        iterations = strtol(argv[2], NULL, 10);
    if (iterations <= 0)
        iterations = 1;

    struct fl_dict *xml = NULL, *builtin = NULL;
    struct fl_msg m_nos, m_er;
    struct fl_validator v;
    char *b1 = NULL, *b2 = NULL;
    int rc = 1;
    fl_msg_init(&m_nos);
    fl_msg_init(&m_er);
    fl_validator_init(&v);
    if (fl_dict_load_file(path, &xml, err, sizeof err) != FL_OK)
        fprintf(stderr, "note: %s; XML figures skipped\n", err);
    if (fl_dict_builtin("FIX.4.4", &builtin) != FL_OK || parse(&m_nos, nos, &b1) != 0 ||
        parse(&m_er, er, &b2) != 0) {
        fprintf(stderr, "setup failed\n");
        goto out;
    }
    printf("fields: NewOrderSingle %u, ExecutionReport %u; %ld iterations\n", m_nos.nfields,
           m_er.nfields, iterations);

    const struct {
        const struct fl_dict *d;
        const char *dname;
        const struct fl_msg *m;
        const char *mname;
    } cases[] = {
        {xml, "FIX44.xml", &m_nos, "NewOrderSingle"},
        {xml, "FIX44.xml", &m_er, "ExecutionReport"},
        {builtin, "built-in FIX.4.4", &m_nos, "NewOrderSingle"},
        {builtin, "built-in FIX.4.4", &m_er, "ExecutionReport"},
    };
    uint32_t cap = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!cases[i].d)
            continue;
        if (i == 2)
            cap = v.cap;
        double ns = run(cases[i].d, cases[i].m, &v, iterations);
        if (ns < 0) {
            fprintf(stderr, "validate %s (%s) failed\n", cases[i].mname, cases[i].dname);
            goto out;
        }
        printf("validate %s (%s, full): %.0f ns/msg (%.1f ns/field)\n", cases[i].mname,
               cases[i].dname, ns, ns / cases[i].m->nfields);
    }
    printf("validator scratch: %u slots, %s after the first message\n", v.cap,
           !cap || cap == v.cap ? "no growth" : "grew");
    rc = 0;
out:
    fl_validator_release(&v);
    fl_msg_release(&m_nos);
    fl_msg_release(&m_er);
    free(b1);
    free(b2);
    fl_dict_free(xml);
    fl_dict_free(builtin);
    return rc;
}
