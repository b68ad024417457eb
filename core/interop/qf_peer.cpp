/* fixlua — qf_peer: a QuickFIX C++ counterparty for the interoperability tests.
 *
 * One QuickFIX session, acceptor or initiator, configured entirely from the command line (the
 * SessionSettings are built in memory), with a FileStore and a FileLog in directories the test
 * owns. As an acceptor it answers every NewOrderSingle(D) with a filled ExecutionReport(8) that
 * echoes ClOrdID(11) (once per ClOrdID: the ClOrdIDs seen are kept next to the FileStore, so a
 * replayed order is not filled again by a later run), and exits after a given number of
 * logouts. As an initiator it logs on,
 * sends N orders with ClOrdID first..first+N-1, waits for every report, logs out and exits 0
 * only when each report came exactly once (a repeat is allowed only with PossDupFlag=Y), no
 * Reject(3) or BusinessMessageReject(j) went either way and the Logout exchange completed. Both
 * end with one "qf_peer key=value ..." line that test_interop_quickfix.c parses. The process
 * dies with its parent (PR_SET_PDEATHSIG) and after a hard time limit, so a failed test never
 * leaves it behind. Uses libquickfix (1.15) only. */
#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Message.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

enum exit_code { EXIT_PASS = 0, EXIT_CHECK = 1, EXIT_USAGE = 2, EXIT_TIME = 3 };

struct options {
    std::string role, begin = "FIX.4.4", sender, target, store, log;
    std::string dict, transport_dict, app_dict, appl_ver_id;
    int port = 0;
    int orders = 0;
    long first_id = 1;
    int heartbeat = 30;
    bool reset_on_logon = false;
    int sessions = 1;       /* acceptor: exit after this many logouts */
    int time_limit = 60;    /* seconds, hard */
    int settle_ms = 200;    /* initiator: time allowed for late duplicates after the last report */
    int lower_target = 0;   /* before logon, forget this many inbound messages (a lost store) */
};

volatile sig_atomic_t stop_signal = 0;

void on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

/* "YYYYMMDD-HH:MM:SS.sss" for TransactTime(60). */
std::string utc_now()
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[48];
    size_t n = strftime(buf, sizeof buf, "%Y%m%d-%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03d", (int)(ts.tv_nsec / 1000000));
    return buf;
}

bool flag_set(const FIX::FieldMap &m, int tag)
{
    return m.isSetField(tag) && m.getField(tag) == "Y";
}

/* The QuickFIX side of the test: counts what crosses the session, answers orders. Callbacks
 * run on QuickFIX's socket thread; main() reads the counters under the same mutex. */
class peer_app : public FIX::Application {
public:
    explicit peer_app(const options &o) : opt_(o) {}

    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, long> n;          /* counters by name, printed in the summary */
    std::map<long, int> seen;               /* ClOrdIDs delivered, this run and earlier ones */
    long new_in_range = 0;                  /* first deliveries of first_id..first_id+orders-1 */
    FILE *seen_file = nullptr;              /* appends each new ClOrdID (see load_seen) */
    std::vector<std::string> problems;
    FIX::SessionID session_id;
    bool have_session = false;

    void onCreate(const FIX::SessionID &id) override
    {
        std::lock_guard<std::mutex> l(mu);
        session_id = id;
        have_session = true;
    }
    void onLogon(const FIX::SessionID &) override { bump("logons"); }
    void onLogout(const FIX::SessionID &) override { bump("logouts"); }

    void toAdmin(FIX::Message &m, const FIX::SessionID &) override
    {
        count_admin(m, "out");
    }
    void toApp(FIX::Message &m, const FIX::SessionID &) throw(FIX::DoNotSend) override
    {
        /* Replays go out as they are (PossDupFlag=Y): that is what the resend tests exercise. */
        if (flag_set(m.getHeader(), 43))
            bump("replayed_out");
    }
    void fromAdmin(const FIX::Message &m, const FIX::SessionID &)
        throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
              FIX::RejectLogon) override
    {
        count_admin(m, "in");
    }
    void fromApp(const FIX::Message &m, const FIX::SessionID &id)
        throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
              FIX::UnsupportedMessageType) override
    {
        const std::string &type = m.getHeader().getField(35);
        bool poss_dup = flag_set(m.getHeader(), 43);
        if (type == "j") {
            problem("BusinessMessageReject received: " + text_of(m));
            bump("bizrejects_in");
            return;
        }
        if (type != "D" && type != "8") {
            problem("unexpected application message 35=" + type);
            return;
        }
        long id_num = std::strtol(m.getField(11).c_str(), nullptr, 10);
        bool first_time = false;
        {
            std::lock_guard<std::mutex> l(mu);
            const char *what = type == "D" ? "orders_in" : "reports_in";
            if (poss_dup)
                n[std::string(what) + "_possdup"]++;
            if (seen[id_num] == 0) {
                seen[id_num] = 1;
                n[what]++;
                first_time = true;
                if (id_num >= opt_.first_id && id_num < opt_.first_id + opt_.orders)
                    new_in_range++;
                if (seen_file) {
                    std::fprintf(seen_file, "%ld\n", id_num);
                    std::fflush(seen_file);
                }
            } else if (!poss_dup) {
                n["dups_in"]++;
                problems.push_back("35=" + type + " for ClOrdID " + std::to_string(id_num) +
                                   " delivered again without PossDupFlag=Y");
            }
        }
        cv.notify_all();
        /* A venue answers an order once: a replayed order already answered is ignored. */
        if (type == "D" && first_time)
            answer(m, id);
    }

    /* The ClOrdIDs earlier runs on the same store saw, so an order or report replayed with
     * PossDupFlag=Y after a restart is known, as a venue's order book would know it. */
    bool load_seen(const std::string &path)
    {
        if (FILE *f = std::fopen(path.c_str(), "r")) {
            long id;
            while (std::fscanf(f, "%ld", &id) == 1)
                seen[id] = 1;
            std::fclose(f);
        }
        seen_file = std::fopen(path.c_str(), "a");
        return seen_file != nullptr;
    }
    ~peer_app() override
    {
        if (seen_file)
            std::fclose(seen_file);
    }

    void problem(const std::string &p)
    {
        std::lock_guard<std::mutex> l(mu);
        problems.push_back(p);
    }
    long get(const char *k)
    {
        std::lock_guard<std::mutex> l(mu);
        auto it = n.find(k);
        return it == n.end() ? 0 : it->second;
    }

private:
    const options &opt_;

    void bump(const std::string &k)
    {
        {
            std::lock_guard<std::mutex> l(mu);
            n[k]++;
        }
        cv.notify_all();
    }

    static std::string text_of(const FIX::Message &m)
    {
        return m.isSetField(58) ? m.getField(58) : std::string();
    }

    void count_admin(const FIX::Message &m, const char *dir)
    {
        const std::string &type = m.getHeader().getField(35);
        std::string d(dir);
        if (type == "A" && flag_set(m, 141))
            bump("reset_" + d);
        else if (type == "2")
            bump("resend_" + d);
        else if (type == "4")
            bump(flag_set(m, 123) ? "gapfill_" + d : "seqreset_" + d);
        else if (type == "5")
            bump("logout_" + d);
        else if (type == "3") {
            bump("rejects_" + d);
            problem(std::string("Reject(3) ") + dir + ": 45=" +
                    (m.isSetField(45) ? m.getField(45) : "?") + " 373=" +
                    (m.isSetField(373) ? m.getField(373) : "?") + " 58=" + text_of(m));
        }
    }

    /* A filled ExecutionReport for the order, in the layout of the session's FIX version. */
    void answer(const FIX::Message &order, const FIX::SessionID &id)
    {
        const std::string cl = order.getField(11);
        bool fix42 = opt_.begin == "FIX.4.2";
        FIX::Message r;
        r.getHeader().setField(35, "8");
        r.setField(37, "O" + cl);
        r.setField(17, "E" + cl);
        if (fix42)
            r.setField(20, "0");           /* ExecTransType exists up to FIX.4.2 */
        r.setField(150, fix42 ? "2" : "F"); /* Fill (4.2) / Trade (4.3+) */
        r.setField(39, "2");
        r.setField(11, cl);
        r.setField(55, order.isSetField(55) ? order.getField(55) : "IBM");
        r.setField(54, order.isSetField(54) ? order.getField(54) : "1");
        r.setField(38, "100");
        r.setField(151, "0");
        r.setField(14, "100");
        r.setField(6, "10");
        r.setField(32, "100");
        r.setField(31, "10");
        if (FIX::Session::sendToTarget(r, id))
            bump("reports_out");
        else
            problem("could not send the ExecutionReport for " + cl);
    }
};

void usage()
{
    std::cerr << "usage: qf_peer --role acceptor|initiator --port N --sender ID --target ID\n"
                 "               --store DIR --log DIR [--begin FIX.4.4] [--orders N]\n"
                 "               [--first-id K] [--hb SECONDS] [--reset-on-logon Y|N]\n"
                 "               [--dict FILE | --transport-dict FILE --app-dict FILE]\n"
                 "               [--appl-ver-id ID] [--sessions N] [--time-limit SECONDS]\n"
                 "               [--settle-ms MS] [--lower-target K]\n";
}

bool parse_args(int argc, char **argv, options &o)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            std::cerr << "qf_peer: " << argv[i] << " needs a value\n";
            return false;
        }
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--role") o.role = v;
        else if (k == "--port") o.port = std::atoi(v.c_str());
        else if (k == "--begin") o.begin = v;
        else if (k == "--sender") o.sender = v;
        else if (k == "--target") o.target = v;
        else if (k == "--store") o.store = v;
        else if (k == "--log") o.log = v;
        else if (k == "--orders") o.orders = std::atoi(v.c_str());
        else if (k == "--first-id") o.first_id = std::atol(v.c_str());
        else if (k == "--hb") o.heartbeat = std::atoi(v.c_str());
        else if (k == "--reset-on-logon") o.reset_on_logon = v == "Y";
        else if (k == "--dict") o.dict = v;
        else if (k == "--transport-dict") o.transport_dict = v;
        else if (k == "--app-dict") o.app_dict = v;
        else if (k == "--appl-ver-id") o.appl_ver_id = v;
        else if (k == "--sessions") o.sessions = std::atoi(v.c_str());
        else if (k == "--time-limit") o.time_limit = std::atoi(v.c_str());
        else if (k == "--settle-ms") o.settle_ms = std::atoi(v.c_str());
        else if (k == "--lower-target") o.lower_target = std::atoi(v.c_str());
        else {
            std::cerr << "qf_peer: unknown option " << k << "\n";
            return false;
        }
    }
    if ((o.role != "acceptor" && o.role != "initiator") || o.port <= 0 || o.sender.empty() ||
        o.target.empty() || o.store.empty() || o.log.empty() || o.orders < 0) {
        usage();
        return false;
    }
    return true;
}

/* The whole configuration in QuickFIX's own file format, kept in memory. StartTime = EndTime
 * makes the session always on (QuickFIX still resets a store created before the last
 * 00:00:00 UTC, which only matters for a test running across midnight). */
std::string settings_text(const options &o)
{
    std::ostringstream s;
    s << "[DEFAULT]\n"
      << "ConnectionType=" << o.role << "\n"
      << "FileStorePath=" << o.store << "\n"
      << "FileLogPath=" << o.log << "\n"
      << "StartTime=00:00:00\nEndTime=00:00:00\n"
      << "HeartBtInt=" << o.heartbeat << "\n"
      << "ReconnectInterval=1\nLogonTimeout=10\nLogoutTimeout=5\nSocketNodelay=Y\n"
      << "ResetOnLogon=" << (o.reset_on_logon ? "Y" : "N") << "\n";
    if (o.role == "acceptor")
        s << "SocketAcceptPort=" << o.port << "\nSocketReuseAddress=Y\n";
    else
        s << "SocketConnectHost=127.0.0.1\nSocketConnectPort=" << o.port << "\n";
    if (!o.transport_dict.empty() && !o.app_dict.empty())
        s << "UseDataDictionary=Y\nTransportDataDictionary=" << o.transport_dict
          << "\nAppDataDictionary=" << o.app_dict << "\n";
    else if (!o.dict.empty())
        s << "UseDataDictionary=Y\nDataDictionary=" << o.dict << "\n";
    else
        s << "UseDataDictionary=N\n";
    s << "[SESSION]\n"
      << "BeginString=" << o.begin << "\n"
      << "SenderCompID=" << o.sender << "\n"
      << "TargetCompID=" << o.target << "\n";
    if (!o.appl_ver_id.empty())
        s << "DefaultApplVerID=" << o.appl_ver_id << "\n";
    return s.str();
}

FIX::Message new_order(const options &o, long id)
{
    FIX::Message m;
    m.getHeader().setField(35, "D");
    m.setField(11, std::to_string(id));
    if (o.begin == "FIX.4.2")
        m.setField(21, "1"); /* HandlInst is required up to FIX.4.2 */
    m.setField(55, "IBM");
    m.setField(54, "1");
    m.setField(60, utc_now());
    m.setField(38, "100");
    m.setField(40, "1");
    return m;
}

using clock_type = std::chrono::steady_clock;

/* Waits on the app's condition until pred() holds, the deadline passes or a stop signal came. */
template <class Pred> bool wait_for(peer_app &app, clock_type::time_point deadline, Pred pred)
{
    std::unique_lock<std::mutex> l(app.mu);
    while (!pred()) {
        if (stop_signal || clock_type::now() >= deadline)
            return false;
        app.cv.wait_for(l, std::chrono::milliseconds(20));
    }
    return true;
}

long count_locked(peer_app &app, const char *k)
{
    auto it = app.n.find(k);
    return it == app.n.end() ? 0 : it->second;
}

void print_summary(peer_app &app, const options &o, bool ok, long next_sender, long next_target)
{
    std::lock_guard<std::mutex> l(app.mu);
    for (const auto &p : app.problems)
        std::printf("qf_peer problem: %s\n", p.c_str());
    std::printf("qf_peer role=%s begin=%s orders_out=%d", o.role.c_str(), o.begin.c_str(),
                o.role == "initiator" ? o.orders : 0);
    static const char *const keys[] = {
        "logons", "logouts", "logout_in", "logout_out", "orders_in", "orders_in_possdup",
        "reports_in", "reports_in_possdup", "reports_out", "dups_in", "replayed_out",
        "resend_in", "resend_out", "gapfill_in", "gapfill_out", "seqreset_in", "seqreset_out",
        "reset_in", "reset_out", "rejects_in", "rejects_out", "bizrejects_in"};
    for (const char *k : keys)
        std::printf(" %s=%ld", k, count_locked(app, k));
    std::printf(" next_sender=%ld next_target=%ld result=%s\n", next_sender, next_target,
                ok ? "OK" : "FAIL");
    std::fflush(stdout);
}

/* Final checks shared by both roles: nothing rejected, nothing duplicated, and every session
 * that logged on ended with a Logout exchange. */
bool clean(peer_app &app)
{
    std::lock_guard<std::mutex> l(app.mu);
    long logons = count_locked(app, "logons");
    bool ok = logons >= 1 && app.problems.empty() && count_locked(app, "dups_in") == 0 &&
              count_locked(app, "rejects_in") == 0 && count_locked(app, "rejects_out") == 0 &&
              count_locked(app, "logout_in") >= logons && count_locked(app, "logout_out") >= logons;
    if (logons < 1)
        app.problems.push_back("never logged on");
    else if (count_locked(app, "logout_in") < logons || count_locked(app, "logout_out") < logons)
        app.problems.push_back("a session ended without a complete Logout exchange");
    return ok;
}

/* Simulated loss on QuickFIX's side: the session (created with the acceptor or initiator, before
 * start()) expects an older inbound number, so it asks for a resend at logon. */
bool apply_loss(peer_app &app, const options &o)
{
    if (!o.lower_target)
        return true;
    FIX::Session *s = FIX::Session::lookupSession(FIX::SessionID(o.begin, o.sender, o.target));
    if (!s || s->getExpectedTargetNum() <= o.lower_target) {
        app.problem("--lower-target: no session, or not that many messages received");
        return false;
    }
    s->setNextTargetMsgSeqNum(s->getExpectedTargetNum() - o.lower_target);
    return true;
}

int run_acceptor(peer_app &app, const options &o, FIX::SessionSettings &settings)
{
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory log(settings);
    FIX::SocketAcceptor acceptor(app, store, settings, log);
    if (!apply_loss(app, o)) {
        print_summary(app, o, false, 0, 0);
        return EXIT_USAGE;
    }
    acceptor.start();
    /* The port is bound once start() returns: the test waits for this line before connecting. */
    std::printf("qf_peer ready port=%d\n", o.port);
    std::fflush(stdout);
    auto deadline = clock_type::now() + std::chrono::seconds(o.time_limit);
    bool done = wait_for(app, deadline, [&] { return count_locked(app, "logouts") >= o.sessions; });
    long ns = 0, nt = 0;
    if (app.have_session) {
        FIX::Session *s = FIX::Session::lookupSession(app.session_id);
        if (s) {
            ns = s->getExpectedSenderNum();
            nt = s->getExpectedTargetNum();
        }
    }
    acceptor.stop(true);
    if (!done)
        app.problem(stop_signal ? "stopped by a signal" : "time limit reached");
    bool ok = clean(app) && done;
    print_summary(app, o, ok, ns, nt);
    return ok ? EXIT_PASS : done ? EXIT_CHECK : EXIT_TIME;
}

int run_initiator(peer_app &app, const options &o, FIX::SessionSettings &settings)
{
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory log(settings);
    FIX::SocketInitiator initiator(app, store, settings, log);
    if (!apply_loss(app, o)) {
        print_summary(app, o, false, 0, 0);
        return EXIT_USAGE;
    }
    auto deadline = clock_type::now() + std::chrono::seconds(o.time_limit);
    initiator.start();
    bool ok = wait_for(app, deadline, [&] { return count_locked(app, "logons") >= 1; });
    if (!ok)
        app.problem("no logon");
    FIX::Session *s = app.have_session ? FIX::Session::lookupSession(app.session_id) : nullptr;
    if (ok && !s) {
        app.problem("no session object");
        ok = false;
    }
    for (long k = 0; ok && k < o.orders; k++) {
        FIX::Message m = new_order(o, o.first_id + k);
        if (!FIX::Session::sendToTarget(m, app.session_id)) {
            app.problem("sendToTarget failed for order " + std::to_string(o.first_id + k));
            ok = false;
        }
    }
    if (ok) {
        ok = wait_for(app, deadline, [&] { return app.new_in_range >= o.orders; });
        if (!ok) {
            long missing;
            {
                std::lock_guard<std::mutex> l(app.mu);
                missing = o.orders - app.new_in_range;
            }
            app.problem("missing reports: " + std::to_string(missing));
        }
    }
    if (ok) {
        /* A little longer, so a duplicate sent right after the last report is seen too. */
        auto settle = clock_type::now() + std::chrono::milliseconds(o.settle_ms);
        wait_for(app, settle, [] { return false; });
    }
    long logouts_before = app.get("logouts");
    long ns = 0, nt = 0;
    if (s) {
        /* The Logout gets its own time even when the wait above used everything up. */
        auto logout_deadline = clock_type::now() + std::chrono::seconds(5);
        s->logout("done");
        if (!wait_for(app, logout_deadline,
                      [&] { return count_locked(app, "logouts") > logouts_before; })) {
            app.problem("no Logout answer");
            ok = false;
        }
        ns = s->getExpectedSenderNum();
        nt = s->getExpectedTargetNum();
    }
    initiator.stop(true);
    ok = clean(app) && ok;
    print_summary(app, o, ok, ns, nt);
    if (!ok && (stop_signal || clock_type::now() >= deadline))
        return EXIT_TIME;
    return ok ? EXIT_PASS : EXIT_CHECK;
}

} // namespace

int main(int argc, char **argv)
{
    options o;
    if (!parse_args(argc, argv, o))
        return EXIT_USAGE;
    /* Never outlive the test: die with the parent, and at the latest a little after the time
     * limit even if QuickFIX hangs (SIGALRM's default action ends the process). */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        return EXIT_TIME;
    alarm((unsigned)o.time_limit + 10);
    signal(SIGTERM, on_stop_signal);
    signal(SIGINT, on_stop_signal);
    signal(SIGPIPE, SIG_IGN);
    peer_app app(o);
    mkdir(o.store.c_str(), 0755); /* FileStore would create it too, but only later */
    if (!app.load_seen(o.store + "/qf_peer_seen.txt")) {
        std::printf("qf_peer problem: cannot open %s/qf_peer_seen.txt\n"
                    "qf_peer role=%s result=FAIL\n", o.store.c_str(), o.role.c_str());
        return EXIT_USAGE;
    }
    try {
        std::istringstream in(settings_text(o));
        FIX::SessionSettings settings(in);
        return o.role == "acceptor" ? run_acceptor(app, o, settings)
                                    : run_initiator(app, o, settings);
    } catch (const std::exception &e) {
        std::printf("qf_peer problem: %s\nqf_peer role=%s result=FAIL\n", e.what(), o.role.c_str());
        return EXIT_USAGE;
    }
}
