/* fixlua — interoperability with QuickFIX C++ as a real counterparty.
 *
 * Each scenario runs our engine in this process and QuickFIX in a child process (qf_peer, built
 * from qf_peer.cpp) over 127.0.0.1: 2000 orders and fills each way, sequence recovery with
 * persistent stores on both sides (ResendRequests answered with PossDupFlag replays and gap
 * fills, in both directions and in both roles, and a ResetSeqNumFlag logon), and FIX.4.2 and
 * FIXT.1.1 sessions. With the shared QuickFIX dictionaries both sides validate every message
 * against the same XML. Every wait is bounded; a failed check kills the child, prints what
 * QuickFIX logged (its FileLog) next to our own logs, and keeps the temporary directory.
 *
 * Usage: test_interop_quickfix QF_PEER [DICT_DIR [TEST]] (DICT_DIR holds FIX44.xml...; without
 * it neither side validates against a dictionary). FL_INTEROP_KEEP=1 keeps the files of passing
 * scenarios too. */
#include "fl_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_builder.h"
#include "fl_dict.h"
#include "fl_engine.h"

#define OUR_ID "FIXLUA"
#define QF_ID "QFPEER"
#define MAX_CLORDID 8192
#define MAX_PEERS 8
#define PATH_CAP 512
/* QuickFIX loads FIX50SP2.xml in about 4 s of CPU before it listens; more on a loaded machine. */
#define READY_MS 45000

static const char *qf_peer_path;
static char dict_dir[256];        /* shorter than PATH_CAP, so file paths under it fit */

/* ---- small utilities ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[PATH_CAP];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            remove_tree(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Prints the last `max` lines of a log file to stderr, SOH shown as '|'. With `session_only`,
 * only the lines of session-level messages that tell a failure's story (Logon, ResendRequest,
 * Reject, SequenceReset, Logout, BusinessMessageReject) and the file's last 4 lines count. */
static void dump_log(const char *path, int session_only, int max)
{
    static const char *const kinds[] = {"|35=A|", "|35=2|", "|35=3|", "|35=4|", "|35=5|",
                                        "|35=j|"};
    char *text = slurp(path);
    if (!text)
        return;
    fprintf(stderr, "  ---- %s\n", path);
    int total = 0;
    for (char *c = text; *c; c++) {
        total += *c == '\n';
        if (*c == '\001')
            *c = '|';
    }
    char **keep = calloc((size_t)total + 1, sizeof *keep);
    int nkeep = 0, line = 0;
    for (char *p = text; keep && *p; line++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        int k = !session_only || line >= total - 4;
        for (size_t i = 0; !k && i < sizeof kinds / sizeof kinds[0]; i++)
            k = strstr(p, kinds[i]) != NULL;
        if (k)
            keep[nkeep++] = p;
        p = nl ? nl + 1 : p + strlen(p);
    }
    for (int i = nkeep > max ? nkeep - max : 0; i < nkeep; i++)
        fprintf(stderr, "  %.300s\n", keep[i]);
    free(keep);
    free(text);
}

/* Every file of `dir` whose name contains `part` (skipping QuickFIX's GLOBAL log). */
static void dump_logs_in(const char *dir, const char *part, int session_only, int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, part) || strncmp(de->d_name, "GLOBAL", 6) == 0)
            continue;
        char path[PATH_CAP];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        dump_log(path, session_only, max);
    }
    if (d)
        closedir(d);
}

/* QuickFIX's acceptor listens only on a fixed SocketAcceptPort: it takes no port 0 and has no
 * way to tell another process which port it bound. So borrow a free port from the kernel (bind
 * 127.0.0.1:0, read it, close) and hand it to qf_peer. Someone else may take it in between; on
 * a test machine that is unlikely and loud (qf_peer cannot bind and the test fails). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- the QuickFIX child ---- */

struct peer {
    pid_t pid;
    int running;
    int status;               /* waitpid status once it exited */
    char out[PATH_CAP];       /* its stdout and stderr */
    char log_dir[PATH_CAP];   /* QuickFIX FileLog */
};

static void peer_poll(struct peer *p)
{
    if (!p->running)
        return;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->running = 0;
        p->status = st;
    }
}

static void peer_kill(struct peer *p)
{
    if (!p->running)
        return;
    kill(p->pid, SIGKILL);
    int st;
    while (waitpid(p->pid, &st, 0) == -1 && errno == EINTR)
        ;
    p->running = 0;
    p->status = st;
}

static int peer_ok(const struct peer *p)
{
    return !p->running && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0;
}

/* A number from qf_peer's summary line ("qf_peer role=... key=value ..."), or -1. */
static long peer_stat(const struct peer *p, const char *key)
{
    char *text = slurp(p->out);
    long v = -1;
    char *line = text ? strstr(text, "qf_peer role=") : NULL;
    if (line) {
        char pat[64];
        snprintf(pat, sizeof pat, " %s=", key);
        char *nl = strchr(line, '\n');
        char *hit = strstr(line, pat);
        if (hit && (!nl || hit < nl))
            v = strtol(hit + strlen(pat), NULL, 10);
    }
    free(text);
    return v;
}

static int peer_said(const struct peer *p, const char *what)
{
    char *text = slurp(p->out);
    int r = text && strstr(text, what) != NULL;
    free(text);
    return r;
}

/* ---- our side ---- */

/* What our session saw in one phase. */
struct counts {
    int logons, logouts_in, reset_logons_in;
    int orders_in, reports_in, possdup_in, dup_in, answered, send_failed;
    int gaps, resend_requests_in, seq_resets_in;
    int problems;
    int disconnects;
    char disconnect_text[160];               /* why the first disconnect happened */
};

struct ours {
    const char *begin;
    int answer_orders;                      /* acceptor: answer each new order with a fill */
    unsigned char seen[MAX_CLORDID + 1];    /* ClOrdIDs delivered once, across phases */
    struct counts c;
    char problem_text[2048];
};

struct scen {
    const char *name;
    int64_t started_ms;
    char tmp[64];
    struct peer peers[MAX_PEERS];
    int npeers;
    struct fl_engine *e;
    struct fl_engine_session *es;
    struct fl_dict *dict;
    struct ours o;
};

static void note_problem(struct ours *o, const char *what, const char *text)
{
    o->c.problems++;
    size_t len = strlen(o->problem_text);
    snprintf(o->problem_text + len, sizeof o->problem_text - len, "    %s: %s\n", what, text);
}

static int is_fix42(const char *begin)
{
    return strcmp(begin, "FIX.4.2") == 0;
}

/* A filled ExecutionReport(8) echoing the order's ClOrdID, in the version's layout. */
static int report_body(const char *begin, long long id, char *buf, size_t cap)
{
    int fix42 = is_fix42(begin);
    return snprintf(buf, cap,
                    "37=O%lld\00117=E%lld\001%s150=%s\00139=2\00111=%lld\00155=IBM\00154=1\001"
                    "38=100\001151=0\00114=100\0016=10\00132=100\00131=10\001",
                    id, id, fix42 ? "20=0\001" : "", fix42 ? "2" : "F", id);
}

static int order_body(const char *begin, long long id, int64_t now, char *buf, size_t cap)
{
    char ts[32];
    size_t n = fl_format_utc_timestamp(ts, now, 3);
    ts[n] = '\0';
    return snprintf(buf, cap, "11=%lld\001%s55=IBM\00154=1\00160=%s\00138=100\00140=1\001", id,
                    is_fix42(begin) ? "21=1\001" : "", ts);
}

static void on_message(void *ctx, struct fl_engine_session *es, const struct fl_msg *m,
                       int is_admin)
{
    struct ours *o = ctx;
    int ti = fl_msg_hdr(m, FL_HDR_MSG_TYPE);
    if (ti < 0)
        return;
    const char *type = fl_msg_value(m, (uint32_t)ti);
    size_t tl = m->fields[ti].len;
    if (is_admin) {
        int reset = 0;
        if (tl == 1 && type[0] == 'A' && fl_msg_get_bool(m, 141, &reset) == FL_OK && reset)
            o->c.reset_logons_in++;
        return;
    }
    int poss_dup = 0;
    if (fl_msg_get_bool(m, 43, &poss_dup) != FL_OK)
        poss_dup = 0;
    int64_t id;
    char what[96];
    if (tl != 1 || (type[0] != 'D' && type[0] != '8')) {
        snprintf(what, sizeof what, "35=%.*s", (int)tl, type);
        note_problem(o, "unexpected application message", what);
        return;
    }
    if (fl_msg_get_int(m, 11, &id) != FL_OK || id < 1 || id > MAX_CLORDID) {
        note_problem(o, "ClOrdID(11) missing or out of range", type[0] == 'D' ? "D" : "8");
        return;
    }
    if (poss_dup)
        o->c.possdup_in++;
    if (o->seen[id]) {
        if (!poss_dup) {
            o->c.dup_in++;
            snprintf(what, sizeof what, "35=%c ClOrdID %lld", type[0], (long long)id);
            note_problem(o, "delivered twice without PossDupFlag=Y", what);
        }
        return;
    }
    o->seen[id] = 1;
    if (type[0] == '8') {
        o->c.reports_in++;
        return;
    }
    o->c.orders_in++;
    if (!o->answer_orders)
        return;
    char body[256];
    int n = report_body(o->begin, (long long)id, body, sizeof body);
    if (fl_engine_session_send(es, "8", 1, NULL, 0, body, (size_t)n) == FL_OK)
        o->c.answered++;
    else
        o->c.send_failed++;
}

static void on_event(void *ctx, struct fl_engine_session *es, const struct fl_session_event *ev)
{
    struct ours *o = ctx;
    char what[300];
    (void)es;
    switch (ev->type) {
    case FL_EV_LOGON:
        o->c.logons++;
        break;
    case FL_EV_LOGOUT:
        o->c.logouts_in++;
        break;
    case FL_EV_GAP:
        o->c.gaps++;
        break;
    case FL_EV_RESEND_REQUEST:
        o->c.resend_requests_in++;
        break;
    case FL_EV_SEQUENCE_RESET:
        o->c.seq_resets_in++;
        break;
    case FL_EV_DISCONNECT:
        if (o->c.disconnects++ == 0)
            snprintf(o->c.disconnect_text, sizeof o->c.disconnect_text, "%s", ev->text);
        break;
    case FL_EV_REJECT_SENT:
    case FL_EV_REJECT_RECEIVED:
    case FL_EV_GARBLED:
    case FL_EV_ERROR:
    case FL_EV_VALIDATION_FAILED:
    case FL_EV_LOGON_REJECTED:
    case FL_EV_LOGON_TIMEOUT:
    case FL_EV_LOGOUT_TIMEOUT:
    case FL_EV_TRANSMISSION_FAIL:
    case FL_EV_QUEUE_THRESHOLD:
        snprintf(what, sizeof what, "seq %llu..%llu value %lld: %s",
                 (unsigned long long)ev->begin, (unsigned long long)ev->end,
                 (long long)ev->value, ev->text);
        note_problem(o, fl_event_name(ev->type), what);
        break;
    default:
        break;
    }
}

/* ---- scenario plumbing ---- */

static int scen_begin(struct scen *sc, const char *name, const char *begin)
{
    memset(sc, 0, sizeof *sc);
    sc->name = name;
    sc->started_ms = mono_ms();
    sc->o.begin = begin;
    snprintf(sc->tmp, sizeof sc->tmp, "/tmp/fl_interop_XXXXXX");
    if (!mkdtemp(sc->tmp))
        return -1;
    char store[PATH_CAP];
    snprintf(store, sizeof store, "%s/fl_store", sc->tmp);
    if (mkdir(store, 0755) != 0)
        return -1;
    if (!dict_dir[0])
        return 0;
    char path[PATH_CAP], err[256];
    int fixt = strcmp(begin, "FIXT.1.1") == 0;
    snprintf(path, sizeof path, "%s/%s", dict_dir,
             fixt ? "FIXT11.xml" : is_fix42(begin) ? "FIX42.xml" : "FIX44.xml");
    if (fl_dict_load_file(path, &sc->dict, err, sizeof err) != FL_OK) {
        fprintf(stderr, "  %s: %s\n", path, err);
        return -1;
    }
    if (fixt) {
        struct fl_dict *app = NULL;
        snprintf(path, sizeof path, "%s/FIX50SP2.xml", dict_dir);
        int rc = fl_dict_load_file(path, &app, err, sizeof err);
        if (rc == FL_OK)
            rc = fl_dict_add_app(sc->dict, "9", app);
        fl_dict_free(app); /* the transport dictionary holds its own reference */
        if (rc != FL_OK) {
            fprintf(stderr, "  %s: %s\n", path, err);
            return -1;
        }
    }
    return 0;
}

static void ours_close(struct scen *sc)
{
    fl_engine_free(sc->e); /* closes our store and flushes our logs */
    sc->e = NULL;
    sc->es = NULL;
}

/* After a failure: the children's own words, what QuickFIX logged, what we logged. */
static void scen_dump(struct scen *sc)
{
    fprintf(stderr, "  scenario %s failed; files kept in %s\n", sc->name, sc->tmp);
    if (sc->o.problem_text[0])
        fprintf(stderr, "  our unexpected events:\n%s", sc->o.problem_text);
    /* Earlier phases passed: their summaries are enough. The failing (last) one in full. */
    for (int i = 0; i < sc->npeers; i++) {
        struct peer *p = &sc->peers[i];
        if (WIFEXITED(p->status))
            fprintf(stderr, "  qf_peer #%d exit status %d\n", i, WEXITSTATUS(p->status));
        else if (WIFSIGNALED(p->status))
            fprintf(stderr, "  qf_peer #%d killed by signal %d\n", i, WTERMSIG(p->status));
        dump_log(p->out, 0, i + 1 == sc->npeers ? 40 : 2);
        if (i + 1 < sc->npeers)
            continue;
        dump_logs_in(p->log_dir, "event", 0, 50);
        dump_logs_in(p->log_dir, "messages", 1, 40);
    }
    char dir[PATH_CAP];
    snprintf(dir, sizeof dir, "%s/fl_log", sc->tmp);
    dump_logs_in(dir, "events", 0, 30);
    dump_logs_in(dir, "messages", 1, 30);
}

static void scen_end(struct scen *sc)
{
    ours_close(sc);
    for (int i = 0; i < sc->npeers; i++)
        peer_kill(&sc->peers[i]);
    if (fl_test_ctx_.current_failed)
        scen_dump(sc);
    else if (getenv("FL_INTEROP_KEEP"))
        printf("  %s: files kept in %s\n", sc->name, sc->tmp);
    else if (sc->tmp[0])
        remove_tree(sc->tmp);
    fl_dict_free(sc->dict);
    sc->dict = NULL;
    printf("  %-56s %s %6lld ms\n", sc->name, fl_test_ctx_.current_failed ? "FAIL" : "ok  ",
           (long long)(mono_ms() - sc->started_ms));
}

/* One step of every wait: runs our engine for at most one tick (20 ms), or sleeps once it has
 * stopped, and reaps a child that exited. */
static void pump(struct scen *sc)
{
    if (sc->e && !fl_engine_stopped(sc->e)) {
        int rc = fl_engine_run_once(sc->e, 1);
        (void)rc; /* FL_ECLOSED once stopped: fl_engine_stopped() says so next time round */
    } else {
        sleep_ms(5);
    }
    for (int i = 0; i < sc->npeers; i++)
        peer_poll(&sc->peers[i]);
}

#define PUMP_UNTIL(sc, cond, ms)                                                             \
    do {                                                                                     \
        int64_t until_ = mono_ms() + (ms);                                                   \
        while (!(cond) && mono_ms() < until_)                                                \
            pump(sc);                                                                        \
    } while (0)

static enum fl_session_state our_state(const struct scen *sc)
{
    return fl_session_state(fl_engine_session_fsm(sc->es));
}

static int logged_on(const struct scen *sc)
{
    enum fl_session_state st = our_state(sc);
    return st == FL_STATE_ACTIVE || st == FL_STATE_RESENDING;
}

/* Starts qf_peer with the common options plus `extra` (NULL-terminated). */
static struct peer *peer_spawn(struct scen *sc, const char *tag, const char *role, int port,
                               const char *const *extra)
{
    if (sc->npeers == MAX_PEERS)
        return NULL;
    struct peer *p = &sc->peers[sc->npeers];
    memset(p, 0, sizeof *p);
    snprintf(p->out, sizeof p->out, "%s/%s.out", sc->tmp, tag);
    snprintf(p->log_dir, sizeof p->log_dir, "%s/%s.qflog", sc->tmp, tag);
    char port_s[16], store[PATH_CAP], d1[PATH_CAP], d2[PATH_CAP];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(store, sizeof store, "%s/qf_store", sc->tmp);
    const char *argv[48];
    int n = 0;
    argv[n++] = qf_peer_path;
    argv[n++] = "--role";
    argv[n++] = role;
    argv[n++] = "--port";
    argv[n++] = port_s;
    argv[n++] = "--begin";
    argv[n++] = sc->o.begin;
    argv[n++] = "--sender";
    argv[n++] = QF_ID;
    argv[n++] = "--target";
    argv[n++] = OUR_ID;
    argv[n++] = "--store";
    argv[n++] = store;
    argv[n++] = "--log";
    argv[n++] = p->log_dir;
    argv[n++] = "--time-limit";
    argv[n++] = "50";
    if (strcmp(sc->o.begin, "FIXT.1.1") == 0) {
        argv[n++] = "--appl-ver-id";
        argv[n++] = "9";
        if (dict_dir[0]) {
            snprintf(d1, sizeof d1, "%s/FIXT11.xml", dict_dir);
            snprintf(d2, sizeof d2, "%s/FIX50SP2.xml", dict_dir);
            argv[n++] = "--transport-dict";
            argv[n++] = d1;
            argv[n++] = "--app-dict";
            argv[n++] = d2;
        }
    } else if (dict_dir[0]) {
        snprintf(d1, sizeof d1, "%s/%s", dict_dir,
                 is_fix42(sc->o.begin) ? "FIX42.xml" : "FIX44.xml");
        argv[n++] = "--dict";
        argv[n++] = d1;
    }
    for (int i = 0; extra && extra[i] && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == -1)
        return NULL;
    if (pid == 0) {
        int fd = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd != -1) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(qf_peer_path, (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    p->running = 1;
    sc->npeers++;
    return p;
}

/* ---- phases ---- */

/* One connection between our engine and a fresh qf_peer process; stores persist across the
 * phases of a scenario, so each phase starts where the last one ended (changed as asked). */
struct phase {
    const char *tag;
    int orders;              /* sent by whichever side initiates */
    long first_id;           /* ClOrdIDs first_id..first_id+orders-1 */
    int lower_target;        /* before logon, our next expected inbound number goes down */
    int raise_sender;        /* before logon, our next outbound number goes up */
    int our_reset;           /* our Logon carries ResetSeqNumFlag=Y (we initiate) */
    int our_next_expected;   /* our Logon carries NextExpectedMsgSeqNum(789) */
    int qf_reset;            /* qf_peer runs with ResetOnLogon=Y */
    int qf_lower_target;     /* before logon, QuickFIX's next expected inbound number goes down */
    /* expectations; -1: not checked */
    int possdup_in;          /* replayed application messages we received */
    int gaps;                /* ResendRequests we sent */
    int resend_requests_in;  /* ResendRequests we served */
    int qf_resend_out;       /* ResendRequests QuickFIX sent */
    int qf_reset_in;         /* Logons with ResetSeqNumFlag=Y QuickFIX received */
    int qf_possdup_in;       /* replayed application messages QuickFIX received */
};

static int ours_open(struct scen *sc, enum fl_session_role role, int qf_port,
                     const struct phase *ph)
{
    char err[512], store[PATH_CAP], logs[PATH_CAP], addr[64];
    struct fl_engine_config ec = {.tick_ms = 20};
    if (fl_engine_new(&ec, &sc->e, err, sizeof err) != FL_OK) {
        fprintf(stderr, "  engine: %s\n", err);
        return -1;
    }
    snprintf(store, sizeof store, "%s/fl_store", sc->tmp);
    snprintf(logs, sizeof logs, "%s/fl_log", sc->tmp);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", qf_port);
    const char *list[] = {addr};
    struct fl_engine_session_config c;
    memset(&c, 0, sizeof c);
    c.name = "fixlua";
    c.session.role = role;
    c.session.begin_string = sc->o.begin;
    c.session.sender_comp_id = OUR_ID;
    c.session.target_comp_id = QF_ID;
    c.session.heartbeat_interval = 30;
    c.session.reset_on_logon = ph->our_reset;
    c.session.send_next_expected = ph->our_next_expected;
    if (strcmp(sc->o.begin, "FIXT.1.1") == 0)
        c.session.default_appl_ver_id = "9";
    if (sc->dict) {
        c.session.dict = sc->dict;
        fl_validate_opts_init(&c.session.validate);
        c.session.validate.level = FL_VALIDATE_LEVEL_FULL;
        c.session.validate.default_appl_ver_id = c.session.default_appl_ver_id;
    }
    if (role == FL_ROLE_ACCEPTOR) {
        c.listen = "127.0.0.1:0";
    } else {
        c.connect = list;
        c.nconnect = 1;
        c.reconnect_interval = 1;
    }
    c.store_dir = store;
    c.store_sync = FL_STORE_SYNC_NONE;
    c.log_dir = logs;
    sc->o.answer_orders = role == FL_ROLE_ACCEPTOR;
    memset(&sc->o.c, 0, sizeof sc->o.c);
    struct fl_engine_hooks h = {.ctx = &sc->o, .on_message = on_message, .on_event = on_event};
    if (fl_engine_add_session(sc->e, &c, &h, &sc->es, err, sizeof err) != FL_OK) {
        fprintf(stderr, "  session: %s\n", err);
        return -1;
    }
    struct fl_session *fsm = fl_engine_session_fsm(sc->es);
    /* Simulated loss: the store "forgot" what came in, or what went out, before this logon. */
    uint64_t target = fl_session_next_target(fsm), sender = fl_session_next_sender(fsm);
    if (ph->lower_target &&
        fl_session_set_next_target(fsm, target - (uint64_t)ph->lower_target) != FL_OK)
        return -1;
    if (ph->raise_sender &&
        fl_session_set_next_sender(fsm, sender + (uint64_t)ph->raise_sender) != FL_OK)
        return -1;
    if (fl_engine_start(sc->e, err, sizeof err) != FL_OK) {
        fprintf(stderr, "  start: %s\n", err);
        return -1;
    }
    return 0;
}

/* What must hold after every phase, on both sides. */
static void check_phase_end(struct scen *sc, struct peer *p, const struct phase *ph)
{
    struct counts *c = &sc->o.c;
    struct fl_session *fsm = fl_engine_session_fsm(sc->es);
    FL_CHECK(peer_ok(p));
    FL_CHECK(peer_said(p, "result=OK"));
    FL_CHECK_INT(c->problems, 0);
    FL_CHECK_INT(c->dup_in, 0);
    FL_CHECK_INT(c->send_failed, 0);
    FL_CHECK_INT(c->logons, 1);
    FL_CHECK_INT(c->logouts_in, 1);
    FL_CHECK_INT(our_state(sc), FL_STATE_DISCONNECTED);
    FL_CHECK_INT(fl_session_inbound_queued(fsm), 0);
    FL_CHECK_INT(fl_session_outbound_queued(fsm), 0);
    /* in sequence: each side expects exactly what the other will send next */
    FL_CHECK_INT(peer_stat(p, "next_target"), fl_session_next_sender(fsm));
    FL_CHECK_INT(peer_stat(p, "next_sender"), fl_session_next_target(fsm));
    FL_CHECK_INT(peer_stat(p, "rejects_in"), 0);
    FL_CHECK_INT(peer_stat(p, "rejects_out"), 0);
    FL_CHECK_INT(peer_stat(p, "bizrejects_in"), 0);
    FL_CHECK_INT(peer_stat(p, "dups_in"), 0);
    FL_CHECK_INT(peer_stat(p, "logout_in"), 1);
    FL_CHECK_INT(peer_stat(p, "logout_out"), 1);
    if (ph->possdup_in >= 0)
        FL_CHECK_INT(c->possdup_in, ph->possdup_in);
    if (ph->gaps >= 0)
        FL_CHECK_INT(c->gaps, ph->gaps);
    if (ph->resend_requests_in >= 0)
        FL_CHECK_INT(c->resend_requests_in, ph->resend_requests_in);
    if (ph->qf_resend_out >= 0)
        FL_CHECK_INT(peer_stat(p, "resend_out"), ph->qf_resend_out);
    if (ph->qf_reset_in >= 0)
        FL_CHECK_INT(peer_stat(p, "reset_in"), ph->qf_reset_in);
    if (ph->qf_possdup_in >= 0)
        FL_CHECK_INT(peer_stat(p, "orders_in_possdup") + peer_stat(p, "reports_in_possdup"),
                     ph->qf_possdup_in);
end:;
}

/* We initiate, QuickFIX accepts: our engine sends the orders and logs out at the end. */
static void phase_we_initiate(struct scen *sc, const struct phase *ph)
{
    char lower[16];
    int port = free_port();
    FL_CHECK(port > 0);
    snprintf(lower, sizeof lower, "%d", ph->qf_lower_target);
    const char *extra[] = {"--sessions", "1", "--reset-on-logon", ph->qf_reset ? "Y" : "N",
                           "--lower-target", lower, NULL};
    struct peer *p = peer_spawn(sc, ph->tag, "acceptor", port, extra);
    FL_CHECK(p != NULL);
    PUMP_UNTIL(sc, peer_said(p, "qf_peer ready") || !p->running, READY_MS);
    FL_CHECK(peer_said(p, "qf_peer ready"));
    FL_CHECK(ours_open(sc, FL_ROLE_INITIATOR, port, ph) == 0);
    PUMP_UNTIL(sc, sc->o.c.logons == 1 || !p->running, 10000);
    FL_CHECK(logged_on(sc));
    int64_t now = fl_engine_now(sc->e);
    for (int k = 0; k < ph->orders; k++) {
        char body[256];
        int n = order_body(sc->o.begin, ph->first_id + k, now, body, sizeof body);
        FL_CHECK(fl_engine_session_send(sc->es, "D", 1, NULL, 0, body, (size_t)n) == FL_OK);
    }
    PUMP_UNTIL(sc, sc->o.c.reports_in == ph->orders || !p->running, 30000);
    FL_CHECK_INT(sc->o.c.reports_in, ph->orders);
    /* Let a recovery in progress finish (replays, gap fills) before logging out. */
    PUMP_UNTIL(sc, our_state(sc) == FL_STATE_ACTIVE &&
                   fl_session_inbound_queued(fl_engine_session_fsm(sc->es)) == 0, 5000);
    PUMP_UNTIL(sc, 0, 100);
    fl_engine_shutdown(sc->e, 5000);
    PUMP_UNTIL(sc, fl_engine_stopped(sc->e), 8000);
    FL_CHECK(fl_engine_stopped(sc->e));
    PUMP_UNTIL(sc, !p->running, 10000);
    check_phase_end(sc, p, ph);
end:
    ours_close(sc);
}

/* QuickFIX initiates and sends the orders, we accept and fill them; QuickFIX logs out. */
static void phase_qf_initiates(struct scen *sc, const struct phase *ph)
{
    char orders[16], first[16], lower[16];
    FL_CHECK(ours_open(sc, FL_ROLE_ACCEPTOR, 0, ph) == 0);
    int port = fl_engine_session_port(sc->es);
    FL_CHECK(port > 0);
    snprintf(orders, sizeof orders, "%d", ph->orders);
    snprintf(first, sizeof first, "%ld", ph->first_id);
    snprintf(lower, sizeof lower, "%d", ph->qf_lower_target);
    const char *extra[] = {"--orders", orders, "--first-id", first, "--reset-on-logon",
                           ph->qf_reset ? "Y" : "N", "--lower-target", lower, NULL};
    struct peer *p = peer_spawn(sc, ph->tag, "initiator", port, extra);
    FL_CHECK(p != NULL);
    PUMP_UNTIL(sc, !p->running, 60000);
    FL_CHECK(!p->running);
    PUMP_UNTIL(sc, our_state(sc) == FL_STATE_DISCONNECTED, 3000);
    FL_CHECK_INT(sc->o.c.orders_in, ph->orders);
    FL_CHECK_INT(sc->o.c.answered, ph->orders);
    check_phase_end(sc, p, ph);
end:
    ours_close(sc);
}

static struct phase plain_phase(const char *tag, int orders)
{
    struct phase ph = {.tag = tag, .orders = orders, .first_id = 1, .possdup_in = 0, .gaps = 0,
                       .resend_requests_in = 0, .qf_resend_out = 0, .qf_reset_in = 0,
                       .qf_possdup_in = 0};
    return ph;
}

static void one_phase(const char *name, const char *begin, int we_initiate, int orders)
{
    static struct scen sc;
    FL_CHECK(scen_begin(&sc, name, begin) == 0);
    struct phase ph = plain_phase("only", orders);
    if (we_initiate)
        phase_we_initiate(&sc, &ph);
    else
        phase_qf_initiates(&sc, &ph);
end:
    scen_end(&sc);
}

/* ---- scenarios ---- */

/* a. QuickFIX initiator -> fixlua acceptor: 2000 orders each answered, clean Logout. */
FL_TEST(quickfix_initiator_fixlua_acceptor_2000)
{
    one_phase("a: QuickFIX initiator -> fixlua acceptor", "FIX.4.4", 0, 2000);
}

/* b. fixlua initiator -> QuickFIX acceptor: 2000 orders each answered, clean Logout. */
FL_TEST(fixlua_initiator_quickfix_acceptor_2000)
{
    one_phase("b: fixlua initiator -> QuickFIX acceptor", "FIX.4.4", 1, 2000);
}

/* QuickFIX's acceptor with ResetOnLogon=Y, facing a Logon without ResetSeqNumFlag, resets its
 * own numbers and answers with MsgSeqNum(34)=1 but no ResetSeqNumFlag(141)=Y, then asks for
 * everything from 1 again. The FIX rules reset sequences only through 141=Y on both Logons, so
 * that answer is a Logon with a MsgSeqNum too low: we log out ("MsgSeqNum too low") and
 * disconnect, as in test case 2c, and keep our numbers. A QuickFIX that answers with 141=Y
 * would be followed instead (we then reset our inbound side to its Logon). */
static void phase_peer_resets_silently(struct scen *sc)
{
    struct phase ph = plain_phase("p8_peer_resets_silently", 0);
    ph.qf_reset = 1;
    int port = free_port();
    FL_CHECK(port > 0);
    const char *extra[] = {"--sessions", "1", "--reset-on-logon", "Y", NULL};
    struct peer *p = peer_spawn(sc, ph.tag, "acceptor", port, extra);
    FL_CHECK(p != NULL);
    PUMP_UNTIL(sc, peer_said(p, "qf_peer ready") || !p->running, READY_MS);
    FL_CHECK(peer_said(p, "qf_peer ready"));
    FL_CHECK(ours_open(sc, FL_ROLE_INITIATOR, port, &ph) == 0);
    struct fl_session *fsm = fl_engine_session_fsm(sc->es);
    uint64_t sender = fl_session_next_sender(fsm), target = fl_session_next_target(fsm);
    PUMP_UNTIL(sc, sc->o.c.disconnects >= 1 || !p->running, 10000);
    fl_engine_shutdown(sc->e, 1000); /* no reconnect */
    PUMP_UNTIL(sc, fl_engine_stopped(sc->e), 3000);
    PUMP_UNTIL(sc, !p->running, 10000);
    FL_CHECK(!p->running && WIFEXITED(p->status));
    FL_CHECK_INT(sc->o.c.problems, 0);
    if (peer_stat(p, "reset_out") > 0) {
        printf("  note: this QuickFIX answers a reset Logon with ResetSeqNumFlag=Y\n");
        FL_CHECK_INT(sc->o.c.logons, 1);
    } else {
        FL_CHECK_INT(sc->o.c.logons, 0);
        FL_CHECK(strstr(sc->o.c.disconnect_text, "MsgSeqNum too low") != NULL);
        FL_CHECK_INT(fl_session_next_target(fsm), target);
        FL_CHECK_INT(fl_session_next_sender(fsm), sender + 2); /* our Logon and Logout */
    }
end:
    ours_close(sc);
}

/* c. Sequence recovery with both stores on disk, in both roles; each phase is a new connection
 * (and a new qf_peer process) on the stores the last one left:
 *   p1 trades 20 orders;
 *   p2 lowers our expected inbound number by 10: our ResendRequest makes QuickFIX replay its
 *      last 9 application messages with PossDupFlag=Y and gap-fill its Logout and Logon;
 *   p3 does it again with NextExpectedMsgSeqNum(789) in our Logon: QuickFIX C++ ignores 789,
 *      so we must still send the ResendRequest;
 *   p4 raises our outbound number by 10: QuickFIX's ResendRequest is answered with a gap fill;
 *   p5 lowers QuickFIX's expected number by 10: we replay our last 5 application messages with
 *      PossDupFlag=Y, gap-filling the numbers we skipped in p4 and our Logout and Logon;
 *   p6 does p2 and p5 at once (both sides send a ResendRequest, test case 20);
 *   p7 resets both sequences with ResetSeqNumFlag=Y on the initiator's Logon;
 *   p8 (we initiate) faces a QuickFIX acceptor that resets without saying so. */
static void recovery(const char *name, int we_initiate)
{
    static struct scen sc;
    FL_CHECK(scen_begin(&sc, name, "FIX.4.4") == 0);
    void (*run)(struct scen *, const struct phase *) =
        we_initiate ? phase_we_initiate : phase_qf_initiates;
    struct phase p1 = plain_phase("p1_trade", 20);
    run(&sc, &p1);
    FL_CHECK(!fl_test_ctx_.current_failed);

    struct phase p2 = plain_phase("p2_we_lost_inbound", 5);
    p2.first_id = 21;
    p2.lower_target = 10;
    p2.possdup_in = 9; /* 10 lost: 9 application messages and QuickFIX's Logout */
    p2.gaps = 1;
    run(&sc, &p2);
    FL_CHECK(!fl_test_ctx_.current_failed);

    struct phase p3 = plain_phase("p3_we_lost_inbound_789", 5);
    p3.first_id = 26;
    p3.lower_target = 10;
    p3.our_next_expected = 1;
    p3.possdup_in = 7; /* 10 lost: 2 + 5 application messages, 2 Logouts and a Logon */
    p3.gaps = 1;
    run(&sc, &p3);
    FL_CHECK(!fl_test_ctx_.current_failed);

    struct phase p4 = plain_phase("p4_we_skipped_numbers", 5);
    p4.first_id = 31;
    p4.raise_sender = 10;
    p4.resend_requests_in = 1;
    p4.qf_resend_out = 1;
    run(&sc, &p4);
    FL_CHECK(!fl_test_ctx_.current_failed);

    struct phase p5 = plain_phase("p5_peer_lost_inbound", 5);
    p5.first_id = 36;
    p5.qf_lower_target = 10;
    p5.resend_requests_in = 1;
    p5.qf_resend_out = 1;
    p5.qf_possdup_in = 5; /* 10 lost: 3 skipped numbers, 2 admin, 5 application messages */
    run(&sc, &p5);
    FL_CHECK(!fl_test_ctx_.current_failed);

    struct phase p6 = plain_phase("p6_both_lost_inbound", 5);
    p6.first_id = 41;
    p6.lower_target = 10;
    p6.qf_lower_target = 10;
    p6.gaps = 1;
    p6.resend_requests_in = 1;
    p6.qf_resend_out = 1;
    p6.possdup_in = -1;
    p6.qf_possdup_in = -1;
    run(&sc, &p6);
    FL_CHECK(!fl_test_ctx_.current_failed);
    FL_CHECK(sc.o.c.possdup_in > 0);

    struct phase p7 = plain_phase("p7_reset_on_logon", 5);
    p7.first_id = 46;
    if (we_initiate)
        p7.our_reset = 1;
    else
        p7.qf_reset = 1;
    p7.qf_reset_in = 1; /* the answer to a reset Logon carries ResetSeqNumFlag=Y too */
    run(&sc, &p7);
    FL_CHECK(!fl_test_ctx_.current_failed);
    if (!we_initiate)
        FL_CHECK_INT(sc.o.c.reset_logons_in, 1);
    if (we_initiate)
        phase_peer_resets_silently(&sc);
end:
    scen_end(&sc);
}

FL_TEST(recovery_fixlua_initiator)
{
    recovery("c1: recovery, fixlua initiator <-> QuickFIX acceptor", 1);
}

FL_TEST(recovery_fixlua_acceptor)
{
    recovery("c2: recovery, QuickFIX initiator <-> fixlua acceptor", 0);
}

/* d. Other versions: FIX.4.2 and FIXT.1.1 (DefaultApplVerID=9, FIX.5.0SP2), both roles. */
FL_TEST(fix42_both_roles)
{
    one_phase("d: FIX.4.2, QuickFIX initiator", "FIX.4.2", 0, 10);
    if (!fl_test_ctx_.current_failed)
        one_phase("d: FIX.4.2, fixlua initiator", "FIX.4.2", 1, 10);
}

FL_TEST(fixt11_both_roles)
{
    one_phase("d: FIXT.1.1, QuickFIX initiator", "FIXT.1.1", 0, 10);
    if (!fl_test_ctx_.current_failed)
        one_phase("d: FIXT.1.1, fixlua initiator", "FIXT.1.1", 1, 10);
}

int main(int argc, char **argv)
{
    if (argc < 2 || access(argv[1], X_OK) != 0) {
        fprintf(stderr, "usage: %s QF_PEER [DICT_DIR [TEST]]\n", argv[0]);
        return 2;
    }
    qf_peer_path = argv[1];
    if (argc > 2 && argv[2][0]) {
        char probe[PATH_CAP];
        snprintf(probe, sizeof probe, "%s/FIX44.xml", argv[2]);
        if (file_exists(probe))
            snprintf(dict_dir, sizeof dict_dir, "%s", argv[2]);
    }
    if (!dict_dir[0])
        printf("no dictionaries: neither side validates message bodies\n");
    /* A peer that resets its connection must not kill us while libevent writes to it: the
     * engine does not ignore SIGPIPE itself (embedders must). */
    signal(SIGPIPE, SIG_IGN);
    FL_TEST_MAIN_BEGIN(argc - 2, argv + 2);
    int64_t t0 = mono_ms();
    FL_RUN(quickfix_initiator_fixlua_acceptor_2000);
    FL_RUN(fixlua_initiator_quickfix_acceptor_2000);
    FL_RUN(recovery_fixlua_initiator);
    FL_RUN(recovery_fixlua_acceptor);
    FL_RUN(fix42_both_roles);
    FL_RUN(fixt11_both_roles);
    printf("interop with QuickFIX took %lld ms\n", (long long)(mono_ms() - t0));
    return FL_TEST_SUMMARY();
}
