/* bench/lua_dispatch — cost of one script callback: the protected trampoline (fl_lua_invoke),
 * the session box, a borrowed message view, and field reads in the script.
 *
 * Three scripts run on a parsed NewOrderSingle, each in a lua_State of its own as sessions do:
 *   empty   on_message(session, msg) end
 *   five    reads five fields: msg.ClOrdID, msg[54], msg.Symbol, msg:get(38), msg[44]
 *   typed   five typed reads: msg:decimal("Price"), msg:int(38), msg:enum("Side"), msg:type(),
 *           msg:seq()
 * Prints ns per callback (best and median of 9 runs) and callbacks per second, with the
 * per-callback timing (script_warn_ms) on and off. Target for "five":
 * under 300 ns. Run: build/bench/lua_dispatch [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <luajit.h>

#include "fl_lua.h"

#define RUNS 9

static const char nos[] =
    "8=FIX.4.4\0019=150\00135=D\00134=1234\00149=CLIENT\00152=20240102-03:04:05.678\001"
    "56=EXEC\00111=ORDER-000123\00121=1\00138=100\00140=2\00144=101.25\00154=1\00155=IBM\001"
    "59=0\00160=20240102-03:04:05.678\00110=000\001";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench(const char *name, const char *script, const struct fl_msg *m, struct fl_dict *d,
                 long iters, int timing)
{
    const char *only = getenv("FIXLUA_BENCH_ONLY");
    if (only && strcmp(only, name) != 0)
        return 0;
    char path[] = "/tmp/fixlua_bench_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, script, strlen(script)) != (ssize_t)strlen(script)) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    struct fl_lua_vm *vm = NULL;
    char err[512];
    int rc = fl_lua_vm_new_file(path, d, NULL, NULL, &vm, err, sizeof err);
    unlink(path);
    if (rc != FL_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 1;
    }
    if (getenv("FIXLUA_BENCH_NOJIT"))
        luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    /* The session box is any value here: the callbacks do not use it. */
    lua_pushboolean(vm->L, 1);
    fl_lua_vm_set_session(vm, vm->L, -1);
    lua_pop(vm->L, 1);
    vm->warn_ms = timing ? 100 : 0;
    struct fl_lua_call c = {.cb = FL_CB_ON_MESSAGE, .msg = m};
    for (long i = 0; i < iters / 10; i++) /* warm up (and let the JIT compile) */
        if (fl_lua_invoke(vm, &c) != FL_OK)
            return 1;
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            (void)fl_lua_invoke(vm, &c);
        runs[r] = (now_ns() - t0) / (double)iters;
    }
    qsort(runs, RUNS, sizeof runs[0], cmp_double);
    /* The best run is the least disturbed by other processes; the median shows the spread. */
    printf("%-6s %-8s best %7.1f ns  median %7.1f ns/callback  %6.2f M callbacks/s%s\n", name,
           timing ? "timed" : "untimed", runs[0], runs[RUNS / 2], 1e3 / runs[0],
           vm->stats[FL_CB_ON_MESSAGE].errors ? "  ERRORS" : "");
    fl_lua_vm_free(vm);
    return 0;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    struct fl_dict *d = NULL;
    if (fl_dict_builtin("FIX.4.4", &d) != FL_OK)
        return 1;
    struct fl_msg m;
    fl_msg_init(&m);
    if (fl_msg_parse(&m, nos, sizeof nos - 1) != FL_OK)
        return 1;
    fl_msg_index_low_tags(&m); /* as the session does before handing a message over */
    static const char *const empty = "return { on_message = function(session, msg) end }";
    static const char *const five =
        "local n = 0\n"
        "return { on_message = function(session, msg)\n"
        "  local a, b, c, d, e = msg.ClOrdID, msg[54], msg.Symbol, msg:get(38), msg[44]\n"
        "  if a then n = n + 1 end\n"
        "end }";
    static const char *const typed =
        "return { on_message = function(session, msg)\n"
        "  local a, b, c, d, e = msg:decimal('Price'), msg:int(38), msg:enum('Side'), msg:type(), "
        "msg:seq()\n"
        "end }";
    printf("lua_dispatch: %ld callbacks per run, %d runs, %s\n", iters, RUNS,
           LUAJIT_VERSION);
    int rc = 0;
    for (int timing = 1; timing >= 0; timing--) {
        rc |= bench("empty", empty, &m, d, iters, timing);
        rc |= bench("five", five, &m, d, iters, timing);
        rc |= bench("typed", typed, &m, d, iters, timing);
    }
    fl_msg_release(&m);
    fl_dict_free(d);
    return rc;
}
