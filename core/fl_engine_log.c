/* fixlua — per-session logs: the message log (every frame in and out, one line each, SOH shown
 * as '|', prefixed with a UTC timestamp and the direction) and the event log (state changes,
 * errors, script output). Plain text files under the configured log directory, readable with
 * grep and less; fully buffered and flushed on every engine tick. */
#include "fl_engine_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl_builder.h"
#include "fl_pretty.h"

static int file_exists(const char *dir, const char *name, const char *suffix)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.%s.log", dir, name, suffix);
    return stat(path, &st) == 0;
}

void fl_engine_log_remove_new(struct fl_engine_session *es)
{
    const char *dir = es->cfg.log_dir;
    char path[1024];
    if (!dir || !*dir)
        return;
    if (es->msg_log_new) {
        snprintf(path, sizeof path, "%s/%s.messages.log", dir, es->cfg.name);
        unlink(path);
    }
    if (es->event_log_new) {
        snprintf(path, sizeof path, "%s/%s.events.log", dir, es->cfg.name);
        unlink(path);
    }
}

static FILE *open_log(const char *dir, const char *name, const char *suffix, char *errbuf,
                      size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.log", dir, name, suffix);
    FILE *f = fopen(path, "ae");
    if (!f) {
        snprintf(errbuf, errlen, "cannot open log %s: %s", path, strerror(errno));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    return f;
}

int fl_make_dirs(const char *dir, char *errbuf, size_t errlen)
{
    char path[1024];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        snprintf(errbuf, errlen, "bad log directory '%s'", dir);
        return FL_EINVAL;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) == -1 && errno != EEXIST) {
            snprintf(errbuf, errlen, "cannot create directory %s: %s", path, strerror(errno));
            return FL_EIO;
        }
        path[i] = saved;
    }
    return FL_OK;
}

int fl_engine_log_open(struct fl_engine_session *es, char *errbuf, size_t errlen)
{
    const char *dir = es->cfg.log_dir;
    if (!dir || !*dir)
        return FL_OK;
    int rc = fl_make_dirs(dir, errbuf, errlen);
    if (rc != FL_OK)
        return rc;
    es->msg_log_new = es->cfg.log_messages && !file_exists(dir, es->cfg.name, "messages");
    es->event_log_new = es->cfg.log_events && !file_exists(dir, es->cfg.name, "events");
    if (es->cfg.log_messages && !(es->msg_log = open_log(dir, es->cfg.name, "messages", errbuf, errlen)))
        return FL_EIO;
    if (es->cfg.log_events && !(es->event_log = open_log(dir, es->cfg.name, "events", errbuf, errlen)))
        return FL_EIO;
    return FL_OK;
}

void fl_engine_log_close(struct fl_engine_session *es)
{
    if (es->msg_log)
        fclose(es->msg_log);
    if (es->event_log)
        fclose(es->event_log);
    es->msg_log = es->event_log = NULL;
}

static void stamp(struct fl_engine_session *es, FILE *f)
{
    char ts[32];
    size_t n = fl_format_utc_timestamp(ts, fl_engine_now(es->e), 6);
    fwrite(ts, 1, n, f);
}

void fl_engine_log_message(struct fl_engine_session *es, int inbound, const char *p, size_t n)
{
    FILE *f = es->msg_log;
    if (!f)
        return;
    stamp(es, f);
    fputs(inbound ? " IN  " : " OUT ", f);
    fl_pretty_write_bars(f, p, n); /* SOH as '|': the log reads in any pager */
    fputc('\n', f);
}

void fl_engine_log_event(struct fl_engine_session *es, const char *level, const char *text)
{
    FILE *f = es->event_log;
    if (!f)
        return;
    stamp(es, f);
    fprintf(f, " %-5s %s\n", level, text);
}

void fl_engine_log_flush(struct fl_engine_session *es)
{
    if (es->msg_log)
        fflush(es->msg_log);
    if (es->event_log)
        fflush(es->event_log);
}
