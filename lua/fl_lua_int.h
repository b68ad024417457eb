/* fixlua — internals shared by fl_lua_engine.c and fl_lua_session.c (not a public header).
 *
 * struct fl_lua_engine lives inside the host's "fixlua.engine" userdata and owns the C engine;
 * struct fl_lua_sess binds one engine session to its script vm (fl_lua.h), its dictionary, its
 * timers and its schedule. Session boxes ("fixlua.session") point at a fl_lua_sess (their own
 * session, cleared when it is freed) or name one (handles from engine:session(name), looked up
 * on each call, so they never dangle). */
#ifndef FL_LUA_INT_H
#define FL_LUA_INT_H

#include "fl_engine.h"
#include "fl_lua.h"
#include "fl_schedule.h"
#include "fl_tz.h"

struct fl_lua_sess;

struct fl_lua_engine {
    int refs;                     /* the owning engine object + every handle */
    struct fl_engine *e;          /* NULL once closed */
    lua_State *host_L;            /* host thread inside the engine now (shared-mode callbacks) */
    struct fl_lua_sess *sessions; /* every bound session */
    int log_stderr;               /* 1 every line (runner), 0 errors and warnings, -1 none */
    double script_warn_ms;
    int running;                  /* inside run/run_once/advance: close() refused */
    int close_when_idle;          /* the engine object was collected inside a callback */
    int nsessions_created;
};

struct fl_lua_timer {
    struct fl_lua_sess *s;
    uint64_t id;
    int fn_ref;                   /* in the vm's state */
    int handle_ref;
    int every;
    int firing;
    int cancelled;
    struct fl_lua_timer *next;
};

/* A daily or weekly window in a time zone (fixlua/schedule.lua checks the config). */
struct fl_lua_sched {
    int active;                   /* a schedule is configured */
    struct fl_schedule window;    /* window.tz is tz */
    struct fl_tz *tz;             /* owned (a reference: sessions of a template share it) */
    int in_window;
    uint64_t timer;
};

struct fl_lua_sess {
    struct fl_lua_engine *eng;
    struct fl_engine_session *es;
    struct fl_lua_vm *vm;         /* NULL: no script (runner) */
    struct fl_dict *dict;         /* ref held; names and validation */
    char *name;
    char *script_path;            /* template clones load it again (NULL: table or none) */
    int script_table_ref;         /* shared mode: the table in the host, for clones */
    lua_State *host;              /* shared mode: host state of script_table_ref */
    int dynamic;                  /* created from a "*" template */
    int business_reject_on_error; /* BusinessMessageReject when on_message raises */
    uint64_t last_validation_seq; /* VALIDATION_FAILED seen for it: skip its REJECT_SENT */
    struct fl_lua_timer *timers;
    struct fl_lua_sched sched;
    struct fl_msg parse[FL_LUA_MAX_DEPTH]; /* on_outbound views, one per nesting level */
    struct fl_lua_sess *next;
};

struct fl_lua_sess *fl_lua_engine_find(struct fl_lua_engine *eng, const char *name);
/* Closes an engine whose object was collected inside a callback, once none runs. */
void fl_lua_engine_close_if_idle(struct fl_lua_engine *eng, lua_State *L);
/* Pushes a non-owning engine handle (session scripts: engine:session(name)...). May raise. */
FL_LUA_MAY_RAISE void fl_lua_engine_push_handle(lua_State *L, struct fl_lua_engine *eng);
/* The FFI half of session:send for lua/fixlua/fast.lua (fl_lua_session.c). */
char *fl_lua_fast_reserve(struct fl_lua_ctx *ctx, size_t n);
/* Drops a reference; the last one frees the binding struct. */
void fl_lua_engine_unref(struct fl_lua_engine *eng);
/* Records L as the host thread when it is not a session's own state. */
void fl_lua_engine_note_caller(struct fl_lua_engine *eng, lua_State *L);
void fl_lua_sess_log(void *ctx, const char *level, const char *text);
/* Pushes the session object for s in L: its own box when its vm lives in L's state, else a
 * handle that names it. May raise. */
FL_LUA_MAY_RAISE void fl_lua_session_push(lua_State *L, struct fl_lua_sess *s);
/* Creates the own box of s in its vm's state and hands it to the vm. Does not raise. */
FL_MUST_CHECK int fl_lua_session_bind(struct fl_lua_sess *s);
/* Clears the own box and cancels the timers of s (before its vm is freed). */
void fl_lua_session_unbind(struct fl_lua_sess *s);
/* Cancels the session's timers without freeing them (a session freed inside its own callback). */
void fl_lua_session_stop_timers(struct fl_lua_sess *s);
/* Records the host thread before an engine call from L (shared-mode callbacks run on it). */
static inline void fl_lua_engine_enter(struct fl_lua_engine *eng, lua_State *L)
{
    eng->host_L = L;
}

#endif
