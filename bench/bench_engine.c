/* fixlua — engine benchmark over loopback, two processes (fork), C hooks only (no Lua):
 *   1. bare TCP ping-pong of a 200-byte message, the floor any engine adds to;
 *   2. NewOrderSingle -> ExecutionReport round trip through two engines, p50/p99;
 *   3. pipelined orders per second, the acceptor answering each, file journal sync=batch.
 * Pin both processes to one CPU for comparable numbers: `taskset -c 0 build/bench/engine`.
 * Arguments: [round trips] [pipelined orders] [bare: the TCP floor only | engines: no TCP
 * floor]. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_engine.h"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_percentiles(const char *name, int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
    printf("%-44s p50 %6.1f us  p99 %6.1f us  p99.9 %6.1f us  (n=%zu)\n", name,
           v[n / 2] / 1e3, v[n * 99 / 100] / 1e3, v[n * 999 / 1000] / 1e3, n);
}

/* ---- 1. bare TCP ping-pong ---- */

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static int read_full(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void bare_tcp(int rounds)
{
    int port, lfd = listen_any(&port);
    char buf[200];
    memset(buf, 'x', sizeof buf);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(lfd, NULL, NULL);
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char in[200];
        while (read_full(c, in, sizeof in) == 0)
            if (write(c, in, sizeof in) != (ssize_t)sizeof in)
                break;
        _exit(0);
    }
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int64_t *rtt = malloc((size_t)rounds * sizeof *rtt);
    for (int i = 0; i < rounds; i++) {
        int64_t t0 = mono_ns();
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || read_full(fd, buf, sizeof buf))
            break;
        rtt[i] = mono_ns() - t0;
    }
    close(fd);
    waitpid(pid, NULL, 0);
    print_percentiles("bare TCP ping-pong, 200 bytes", rtt, (size_t)rounds);
    free(rtt);
}

/* ---- 2 and 3. two engines ---- */

static const char er_body[] = "37=ORD1\00111=C1\00117=EX1\001150=F\00139=2\00155=IBM\00154=1\001"
                              "38=100\00132=100\00131=143.25\001151=0\00114=100\0016=143.25\001";
static const char nos_body[] = "11=C1\00121=1\00155=IBM\00154=1\00160=20261122-10:00:00.000\001"
                               "38=100\00140=2\00144=143.25\00159=0\001";

struct side {
    struct fl_engine *e;
    struct fl_engine_session *es;
    long received;
    int logged_on;
    /* initiator: orders still to send from the report callback, as a script would */
    long to_send;
    int64_t sent_at;
    int64_t *rtt;
    long nrtt;
};

static void acc_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m, int admin)
{
    struct side *s = ctx;
    (void)m;
    if (admin)
        return;
    s->received++;
    if (fl_engine_session_send(es, "8", 1, NULL, 0, er_body, sizeof er_body - 1) != FL_OK)
        fprintf(stderr, "acceptor: send failed\n");
}

static void ini_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m, int admin)
{
    struct side *s = ctx;
    (void)m;
    if (admin)
        return;
    s->received++;
    if (s->rtt) {
        int64_t now = mono_ns();
        s->rtt[s->nrtt++] = now - s->sent_at;
        s->sent_at = now;
    }
    if (s->to_send > 0) {
        s->to_send--;
        if (fl_engine_session_send(es, "D", 1, NULL, 0, nos_body, sizeof nos_body - 1) != FL_OK)
            fprintf(stderr, "initiator: send failed\n");
    }
}

static void on_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    (void)es;
    if (ev->type == FL_EV_LOGON)
        ((struct side *)ctx)->logged_on = 1;
}

static int open_side(struct side *s, int acceptor, int port, const char *dir)
{
    char err[256], addr[64], name[32];
    memset(s, 0, sizeof *s);
    if (fl_engine_new(NULL, &s->e, err, sizeof err) != FL_OK)
        return -1;
    struct fl_engine_session_config c;
    memset(&c, 0, sizeof c);
    c.session.begin_string = "FIX.4.4";
    c.session.heartbeat_interval = 30;
    c.store_dir = dir;
    c.store_sync = FL_STORE_SYNC_BATCH;
    struct fl_engine_hooks h = {.ctx = s, .on_event = on_event,
                                .on_message = acceptor ? acc_message : ini_message};
    const char *list[1] = {addr};
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(name, sizeof name, acceptor ? "exch" : "client");
    c.name = name;
    if (acceptor) {
        c.session.role = FL_ROLE_ACCEPTOR;
        c.session.sender_comp_id = "EXEC";
        c.session.target_comp_id = "CLIENT";
        c.listen = addr;
    } else {
        c.session.role = FL_ROLE_INITIATOR;
        c.session.sender_comp_id = "CLIENT";
        c.session.target_comp_id = "EXEC";
        c.connect = list;
        c.nconnect = 1;
        c.reconnect_interval = 1;
    }
    if (fl_engine_add_session(s->e, &c, &h, &s->es, err, sizeof err) != FL_OK ||
        fl_engine_start(s->e, err, sizeof err) != FL_OK) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    return 0;
}

static int spin(struct side *s)
{
    return fl_engine_run_once(s->e, 1);
}

static void engines(int rounds, int orders)
{
    char dir_a[] = "/tmp/fl_bench_a_XXXXXX", dir_i[] = "/tmp/fl_bench_i_XXXXXX";
    if (!mkdtemp(dir_a) || !mkdtemp(dir_i))
        return;
    int port, probe = listen_any(&port);
    close(probe); /* the acceptor binds this port right after; a collision only fails the run */
    pid_t pid = fork();
    if (pid == 0) {
        struct side a;
        if (open_side(&a, 1, port, dir_a) != 0)
            _exit(1);
        while (!fl_engine_stopped(a.e) && a.received < rounds + orders)
            if (spin(&a) != FL_OK)
                break;
        /* let the last reports drain, then leave */
        int64_t until = mono_ns() + 500000000;
        while (mono_ns() < until && fl_engine_run_once(a.e, 0) == FL_OK)
            ;
        fl_engine_free(a.e);
        _exit(0);
    }
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
    struct side in;
    if (open_side(&in, 0, port, dir_i) != 0)
        goto done;
    int64_t deadline = mono_ns() + 10 * INT64_C(1000000000);
    while (!in.logged_on && mono_ns() < deadline)
        if (spin(&in) != FL_OK)
            break;
    if (!in.logged_on) {
        fprintf(stderr, "bench: no logon\n");
        goto done;
    }
    /* Ping-pong: each report sends the next order from inside the callback. */
    in.rtt = malloc((size_t)rounds * sizeof *in.rtt);
    in.to_send = rounds - 1;
    in.sent_at = mono_ns();
    if (fl_engine_session_send(in.es, "D", 1, NULL, 0, nos_body, sizeof nos_body - 1) != FL_OK)
        goto done;
    while (in.received < rounds)
        if (spin(&in) != FL_OK)
            goto done;
    print_percentiles("engine round trip NOS -> ER (C hooks)", in.rtt, (size_t)in.nrtt);
    free(in.rtt);
    in.rtt = NULL;
    /* Pipelined: a window of 1000 orders in flight, refilled from the report callback. */
    long base = in.received;
    long window = orders < 1000 ? orders : 1000;
    in.to_send = orders - window;
    int64_t t0 = mono_ns();
    for (long k = 0; k < window; k++)
        if (fl_engine_session_send(in.es, "D", 1, NULL, 0, nos_body, sizeof nos_body - 1) != FL_OK)
            goto done;
    while (in.received - base < orders)
        if (spin(&in) != FL_OK)
            goto done;
    double secs = (mono_ns() - t0) / 1e9;
    printf("%-44s %8.0f orders/s  (%d orders, file journal sync=batch)\n",
           "engine pipelined NOS -> ER (C hooks)", orders / secs, orders);
done:
    if (in.e)
        fl_engine_free(in.e);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir_a, dir_i);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cleanup failed\n");
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    int orders = argc > 2 ? atoi(argv[2]) : 200000;
    const char *only = argc > 3 ? argv[3] : "";
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(only, "engines") != 0)
        bare_tcp(rounds);
    if (strcmp(only, "bare") != 0)
        engines(rounds, orders);
    return 0;
}
