/* fixlua — script states: lifecycle, strict globals, traceback, the protected trampoline.
 *
 * Every callback runs as rawgeti(handler) → rawgeti(trampoline) → pushlightuserdata(&call) →
 * lua_pcall(L, 1, 0, base): the trampoline pushes the function, the session box, the message
 * view and the extra arguments, calls, and reads the results, all inside the protected call,
 * so a bad return value or an allocation failure is a script error like any other. Errors are
 * logged once, here, as "<ident> <callback>: <message>\n<traceback>"; the caller applies the
 * fail-closed default (SCRIPTING.md, "Failure policy"). Uses fl_lua_msg.c for the views. */
#include "fl_lua.h"
#include "fl_lua_heap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Registry keys: addresses of these constants. */
static const char ctx_key = 'c';
static const char guard_mt_key = 'g';

static const char *const cb_names[FL_CALL__COUNT] = {
    [FL_CB_ON_CREATE] = "on_create",
    [FL_CB_ON_CONNECT] = "on_connect",
    [FL_CB_ON_DISCONNECT] = "on_disconnect",
    [FL_CB_ON_CONNECT_FAILED] = "on_connect_failed",
    [FL_CB_ON_CONNECT_TIMEOUT] = "on_connect_timeout",
    [FL_CB_PREPARE_LOGON] = "prepare_logon",
    [FL_CB_VALIDATE_LOGON] = "validate_logon",
    [FL_CB_ON_LOGON] = "on_logon",
    [FL_CB_ON_LOGON_REJECTED] = "on_logon_rejected",
    [FL_CB_ON_LOGON_TIMEOUT] = "on_logon_timeout",
    [FL_CB_ON_LOGOUT_TIMEOUT] = "on_logout_timeout",
    [FL_CB_ON_LOGOUT] = "on_logout",
    [FL_CB_ON_STATE_CHANGE] = "on_state_change",
    [FL_CB_ON_MESSAGE] = "on_message",
    [FL_CB_ON_ADMIN] = "on_admin",
    [FL_CB_ON_INBOUND] = "on_inbound",
    [FL_CB_ON_RAW_INBOUND] = "on_raw_inbound",
    [FL_CB_ON_OUTBOUND] = "on_outbound",
    [FL_CB_ON_REJECT] = "on_reject",
    [FL_CB_ON_VALIDATION_FAILED] = "on_validation_failed",
    [FL_CB_ON_GARBLED] = "on_garbled",
    [FL_CB_SHOULD_REPLAY] = "should_replay",
    [FL_CB_ON_REPLAY_SKIPPED] = "on_replay_skipped",
    [FL_CB_ON_RESEND_REQUEST] = "on_resend_request",
    [FL_CB_ON_GAP] = "on_gap",
    [FL_CB_ON_SEQUENCE_RESET] = "on_sequence_reset",
    [FL_CB_ON_TRANSMISSION_FAIL] = "on_transmission_fail",
    [FL_CB_ON_QUEUE_THRESHOLD] = "on_queue_threshold",
    [FL_CB_ON_THROTTLE] = "on_throttle",
    [FL_CB_ON_LATENCY] = "on_latency",
    [FL_CB_ON_SCHEDULE_START] = "on_schedule_start",
    [FL_CB_ON_SCHEDULE_END] = "on_schedule_end",
    [FL_CB_ON_ERROR] = "on_error",
    [FL_CB_ON_BACKPRESSURE] = "on_backpressure",
    [FL_CALL_TIMER] = "timer",
    [FL_CALL_LOAD] = "load",
};

const char *fl_lua_cb_name(int cb)
{
    return cb >= 0 && cb < FL_CALL__COUNT ? cb_names[cb] : "?";
}

int fl_lua_cb_from_name(const char *name, size_t n)
{
    for (int i = 0; i < FL_CB__COUNT; i++)
        if (strlen(cb_names[i]) == n && memcmp(cb_names[i], name, n) == 0)
            return i;
    return -1;
}

/* ---- per-state context ---- */

static int ctx_gc(lua_State *L)
{
    struct fl_lua_ctx *ctx = lua_touserdata(L, 1);
    fl_dict_free(ctx->dict);
    free(ctx->scratch);
    free(ctx->items);
    free(ctx->fast_items);
    free(ctx->fast_prev_tags);
    free(ctx->fast_order);
    free(ctx->fast_scratch);
    free(ctx->fast_out);
    fl_msg_release(&ctx->parse);
    memset(ctx, 0, sizeof *ctx);
    return 0;
}

struct fl_lua_ctx *fl_lua_ctx_get(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&ctx_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    struct fl_lua_ctx *ctx = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (ctx)
        return ctx;
    lua_pushlightuserdata(L, (void *)&ctx_key);
    ctx = lua_newuserdata(L, sizeof *ctx); /* stack: key, ctx */
    memset(ctx, 0, sizeof *ctx);
    fl_msg_init(&ctx->parse);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    return ctx;
}

struct fl_dict *fl_lua_ctx_dict(lua_State *L, struct fl_lua_ctx *ctx)
{
    if (!ctx->dict) {
        int rc = fl_dict_builtin("FIX.4.4", &ctx->dict);
        if (rc != FL_OK)
            luaL_error(L, "fixlua: cannot build the built-in dictionary: %s", fl_strerror(rc));
    }
    return ctx->dict;
}

int fl_lua_ctx_reserve(struct fl_lua_ctx *ctx, size_t n)
{
    if (n <= ctx->scratch_cap)
        return 0;
    size_t cap = ctx->scratch_cap ? ctx->scratch_cap : 1024;
    while (cap < n)
        cap *= 2;
    char *p = realloc(ctx->scratch, cap);
    if (!p)
        return -1;
    ctx->scratch = p;
    ctx->scratch_cap = cap;
    return 0;
}

int fl_lua_push_fail(lua_State *L, int rc, const char *detail)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", fl_err_name(rc), detail && *detail ? detail : fl_strerror(rc));
    lua_pushstring(L, fl_err_name(rc));
    return 3;
}

/* ---- guard: malloc'd memory anchored in a userdata while raising calls run ---- */

static int guard_gc(lua_State *L)
{
    void **p = lua_touserdata(L, 1);
    free(*p);
    *p = NULL;
    return 0;
}

void **fl_lua_guard_push(lua_State *L)
{
    void **p = lua_newuserdata(L, sizeof *p);
    *p = NULL;
    lua_pushlightuserdata(L, (void *)&guard_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushlightuserdata(L, (void *)&guard_mt_key);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    lua_setmetatable(L, -2);
    return p;
}

/* ---- logging ---- */

static void vm_logv(struct fl_lua_vm *vm, const char *level, const char *fmt, va_list ap)
{
    char buf[8192];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (vm->log)
        vm->log(vm->log_ctx, level, buf);
    if (vm->log_stderr && (strcmp(level, "error") == 0 || strcmp(level, "warn") == 0))
        fprintf(stderr, "%s\n", buf);
}

void fl_lua_vm_log(struct fl_lua_vm *vm, const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_logv(vm, level, fmt, ap);
    va_end(ap);
}

/* ---- traceback handler and trampoline ---- */

/* 1 when msg already starts with "chunk:line:" (Lua's error() position). */
static int has_position(const char *msg)
{
    const char *c = strchr(msg, ':');
    if (!c || c == msg)
        return 0;
    const char *d = c + 1;
    if (*d < '0' || *d > '9')
        return 0;
    while (*d >= '0' && *d <= '9')
        d++;
    return *d == ':';
}

/* Message handler: adds the script position when the error was raised from C (luaL_error in a
 * binding reports no Lua line), then a traceback. */
static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (!has_position(msg)) {
        lua_Debug ar;
        for (int lv = 1; lua_getstack(L, lv, &ar); lv++) {
            if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
                msg = lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
                break;
            }
        }
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int trampoline(lua_State *L)
{
    struct fl_lua_call *call = lua_touserdata(L, 1);
    struct fl_lua_vm *vm = call->vm;
    lua_settop(L, 0);
    int ref = call->cb < FL_CB__COUNT ? vm->refs[call->cb] : call->fn_ref;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);            /* stack: fn */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_session); /* stack: fn, session */
    int nargs = 1;
    if (call->msg) {
        /* stack: fn, session, msg (from its pool slot: nothing refilled the pool yet) */
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_pool[vm->view_slot[vm->depth - 1]]);
        nargs++;
    }
    if (call->push)
        nargs += call->push(L, call->arg);             /* stack: fn, session, [msg], args... */
    lua_call(L, nargs, call->nret);                    /* stack: results */
    if (call->result)
        call->result(L, call->arg);
    return 0;
}

/* The coarse clock (a few ms resolution) costs a few ns where the precise one may cost tens
 * (a syscall on some virtual machines); callbacks are timed against a threshold of tens of
 * milliseconds, so the coarse one is precise enough. */
#ifdef CLOCK_MONOTONIC_COARSE
#define CALLBACK_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define CALLBACK_CLOCK CLOCK_MONOTONIC
#endif

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CALLBACK_CLOCK, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* lua_cpcall()ed: makes FL_LUA_VIEW_POOL views into the pool's slots. */
static int refill_views(lua_State *L)
{
    struct fl_lua_vm *vm = lua_touserdata(L, 1);
    /* Views still in use (callbacks further out, when a nested one empties the pool) lose
     * their pool slot: their level's slot holds them from now on. */
    for (int level = 0; level < vm->depth; level++) {
        if (vm->view[level] && vm->view_slot[level] >= 0) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_pool[vm->view_slot[level]]);
            lua_rawseti(L, LUA_REGISTRYINDEX, vm->ref_view[level]);
            vm->view_slot[level] = -1;
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_view_mt);
    int mt = lua_gettop(L);
    for (int i = 0; i < FL_LUA_VIEW_POOL; i++) {
        vm->pool[i] = fl_lua_msg_push_view(L, vm->view_dict, mt, NULL);
        lua_rawseti(L, LUA_REGISTRYINDEX, vm->ref_pool[i]);
    }
    vm->pool_next = 0;
    return 0;
}

int fl_lua_invoke(struct fl_lua_vm *vm, struct fl_lua_call *call)
{
    if (call->cb < FL_CB__COUNT && !fl_lua_vm_has(vm, call->cb))
        return FL_ENOENT;
    const char *name = fl_lua_cb_name(call->cb);
    if (vm->depth >= FL_LUA_MAX_DEPTH) {
        fl_lua_vm_log(vm, "error", "%s %s: callbacks nested more than %d deep; not called",
                      vm->ident, name, FL_LUA_MAX_DEPTH);
        vm->stats[call->cb].errors++;
        return FL_ELIMIT;
    }
    lua_State *L = fl_lua_vm_state(vm);
    if (!lua_checkstack(L, 8)) {
        fl_lua_vm_log(vm, "error", "%s %s: Lua stack exhausted; not called", vm->ident, name);
        vm->stats[call->cb].errors++;
        return FL_ENOMEM;
    }
    call->vm = vm;
    int base = lua_gettop(L);
    int prev_cb = vm->cur_cb;
    /* A new view for every callback: one the script kept from an earlier callback stays
     * expired instead of showing this message. Every call takes a depth level; its view is
     * held by its pool slot (or, once the pool is refilled during the call, by the level's
     * slot), so it outlives the call that clears it. */
    int level = vm->depth;
    if (call->msg) {
        if (vm->pool_next == FL_LUA_VIEW_POOL && lua_cpcall(L, refill_views, vm) != 0) {
            fl_lua_vm_log(vm, "error", "%s %s: out of memory for a message view; not called",
                          vm->ident, name);
            lua_settop(L, base);
            vm->stats[call->cb].errors++;
            return FL_ENOMEM;
        }
        int i = vm->pool_next++;
        vm->view[level] = vm->pool[i];
        vm->view[level]->m = call->msg;
        vm->view[level]->serial = ++vm->ctx->view_serial;
        vm->view_slot[level] = i;
    } else {
        vm->view[level] = NULL;
    }
    vm->depth++;
    vm->cur_cb = call->cb;
    double t0 = vm->warn_ms > 0 ? mono_ms() : 0;
    int st;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_handler);    /* stack: handler */
    if (!call->push && !call->result) {
        /* Fast path: the arguments are values the registry already holds, and rawgeti of an
         * existing value into reserved stack space cannot raise, so they go straight to the
         * protected call without the trampoline's extra C frame. */
        int ref = call->cb < FL_CB__COUNT ? vm->refs[call->cb] : call->fn_ref;
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);            /* stack: handler, fn */
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_session); /* stack: handler, fn, session */
        if (call->msg) /* ..., msg */
            lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_pool[vm->view_slot[level]]);
        st = lua_pcall(L, call->msg ? 2 : 1, 0, base + 1);
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_trampoline); /* stack: handler, trampoline */
        lua_pushlightuserdata(L, call);                        /* stack: ..., call */
        st = lua_pcall(L, 1, 0, base + 1);
    }
    double dt = vm->warn_ms > 0 ? mono_ms() - t0 : 0;
    if (vm->view[level]) {
        vm->view[level]->m = NULL;
        vm->view[level] = NULL;
    }
    vm->depth--;
    vm->cur_cb = prev_cb;
    struct fl_lua_cb_stats *stats = &vm->stats[call->cb];
    stats->calls++;
    if (dt > stats->max_ms)
        stats->max_ms = dt;
    if (vm->warn_ms > 0 && dt > vm->warn_ms) {
        stats->slow++;
        fl_lua_vm_log(vm, "warn", "%s %s: took %.1f ms (script_warn_ms %.0f)", vm->ident, name, dt,
                      vm->warn_ms);
    }
    if (st != 0) {
        const char *msg = lua_tostring(L, -1);
        stats->errors++;
        /* A callback failing on every message must not flood the log: the first ten errors
         * are logged, then every thousandth; all are counted (session:stats()). */
        if (stats->errors <= 10 || stats->errors % 1000 == 0)
            fl_lua_vm_log(vm, "error", "%s %s: %s%s", vm->ident, name,
                          msg ? msg : "(error object is not a string)",
                          stats->errors == 10 ? "\n(10 errors in this callback: from now on "
                                                "every 1000th is logged)"
                                              : "");
        lua_settop(L, base);
        return FL_EINVAL;
    }
    lua_settop(L, base);
    return FL_OK;
}

/* ---- strict globals ---- */

static int strict_index(lua_State *L)
{
    return luaL_error(L, "undefined global '%s' (globals are strict in fixlua scripts; "
                         "use local, or rawset(_G, name, value))",
                      luaL_optstring(L, 2, "?"));
}

static int strict_newindex(lua_State *L)
{
    return luaL_error(L, "assignment to undefined global '%s' (globals are strict in fixlua "
                         "scripts; use local, or rawset(_G, name, value))",
                      luaL_optstring(L, 2, "?"));
}

static void make_globals_strict(lua_State *L)
{
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

/* ---- loading ---- */

/* Levenshtein distance, bounded to short names. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t row[64];
    if (na >= 63 || nb >= 63)
        return 99;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[nb];
}

static int is_callback_like(const char *k, size_t n)
{
    return (n > 3 && memcmp(k, "on_", 3) == 0) || (n > 7 && memcmp(k, "should_", 7) == 0) ||
           (n > 9 && memcmp(k, "validate_", 9) == 0) || (n > 8 && memcmp(k, "prepare_", 8) == 0);
}

/* Takes refs to the callbacks of the table at idx. Raises on a known callback that is not a
 * function; warns (through the vm log) about unknown callback-like names. */
static void take_callback_refs(lua_State *L, int idx, struct fl_lua_vm *vm)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* stack: key, value */
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 1);
            continue;
        }
        size_t n;
        const char *k = lua_tolstring(L, -2, &n);
        int cb = fl_lua_cb_from_name(k, n);
        if (cb >= 0) {
            if (!lua_isfunction(L, -1))
                luaL_error(L, "%s: callback '%s' must be a function, got %s", vm->source, k,
                           luaL_typename(L, -1));
            if (vm->refs[cb] != LUA_NOREF) {
                luaL_unref(L, LUA_REGISTRYINDEX, vm->refs[cb]);
                vm->nrefs--;
            }
            lua_pushvalue(L, -1);
            vm->refs[cb] = luaL_ref(L, LUA_REGISTRYINDEX);
            vm->nrefs++;
            vm->present |= (uint64_t)1 << cb;
        } else if (is_callback_like(k, n)) {
            const char *best = NULL;
            size_t bestd = 4;
            for (int i = 0; i < FL_CB__COUNT; i++) {
                size_t d = edit_distance(k, n, cb_names[i], strlen(cb_names[i]));
                if (d < bestd) {
                    bestd = d;
                    best = cb_names[i];
                }
            }
            if (best)
                fl_lua_vm_log(vm, "warn", "%s: unknown callback '%s' (did you mean '%s'?)",
                              vm->source, k, best);
            else
                fl_lua_vm_log(vm, "warn", "%s: unknown callback '%s'", vm->source, k);
        }
        lua_pop(L, 1);
    }
}

/* Common part of both modes, on state L with ctx: handler, trampoline, views. May raise. */
static void vm_prepare(lua_State *L, struct fl_lua_vm *vm, struct fl_dict *dict)
{
    lua_pushcfunction(L, traceback_handler);
    vm->ref_handler = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, trampoline);
    vm->ref_trampoline = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->nrefs += 2;
    vm->view_dict = dict;
    vm->ref_view_mt = fl_lua_msg_view_mt_ref(L);
    vm->nrefs++;
    for (int i = 0; i < FL_LUA_VIEW_POOL; i++) {
        lua_pushboolean(L, 0);
        vm->ref_pool[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        vm->nrefs++;
    }
    vm->pool_next = FL_LUA_VIEW_POOL;
    for (int i = 0; i < FL_LUA_MAX_DEPTH; i++) {
        lua_pushboolean(L, 0); /* a registry slot per level for its current view */
        vm->ref_view[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        vm->nrefs++;
    }
}

static struct fl_lua_vm *vm_alloc(struct fl_dict *dict, fl_lua_log_fn log, void *log_ctx)
{
    struct fl_lua_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return NULL;
    for (int i = 0; i < FL_CB__COUNT; i++)
        vm->refs[i] = LUA_NOREF;
    vm->ref_handler = vm->ref_trampoline = vm->ref_session = vm->ref_script = LUA_NOREF;
    vm->ref_view_mt = LUA_NOREF;
    for (int i = 0; i < FL_LUA_VIEW_POOL; i++)
        vm->ref_pool[i] = LUA_NOREF;
    vm->pool_next = FL_LUA_VIEW_POOL;
    for (int i = 0; i < FL_LUA_MAX_DEPTH; i++)
        vm->ref_view[i] = LUA_NOREF;
    vm->cur_cb = -1;
    vm->warn_ms = 100;
    vm->log = log;
    vm->log_ctx = log_ctx;
    vm->log_stderr = log == NULL; /* a log function decides where lines go */
    snprintf(vm->ident, sizeof vm->ident, "[session]");
    (void)dict;
    return vm;
}

struct file_setup {
    struct fl_lua_vm *vm;
    const char *path;
    struct fl_dict *dict;
};

static int panic_handler(lua_State *L)
{
    fprintf(stderr, "fixlua: PANIC: unprotected Lua error: %s\n",
            lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    abort();
}

/* Runs inside lua_cpcall on the new state. */
static int setup_file(lua_State *L)
{
    struct file_setup *fs = lua_touserdata(L, 1);
    struct fl_lua_vm *vm = fs->vm;
    lua_settop(L, 0);
    luaL_openlibs(L);
    struct fl_lua_ctx *ctx = fl_lua_ctx_get(L);
    ctx->vm = vm;
    ctx->dict = fl_dict_ref(fs->dict);
    vm->ctx = ctx;

    /* require "fixlua" in the session state: the same bindings. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, fl_lua_open);
    lua_setfield(L, -2, "fixlua");
    lua_pop(L, 1);
    /* Open the module now: its metatables (sessions, messages) must exist for the callbacks
     * even when the script never requires it. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "fixlua");
    lua_call(L, 1, 0);
    /* Modules next to the script come first. */
    const char *slash = strrchr(fs->path, '/');
    if (slash) {
        lua_pushlstring(L, fs->path, (size_t)(slash - fs->path)); /* stack: package, dir */
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", lua_tostring(L, -1), lua_tostring(L, -1));
    } else {
        lua_pushliteral(L, "");
        lua_pushliteral(L, "./?.lua;./?/init.lua;");
    }
    lua_getfield(L, -3, "path");
    lua_concat(L, 2);
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);

    vm_prepare(L, vm, fs->dict);

    /* Run the chunk with the traceback handler. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_handler); /* stack: handler */
    if (luaL_loadfile(L, fs->path) != 0)
        return lua_error(L);
    if (lua_pcall(L, 0, 1, 1) != 0)
        return lua_error(L);
    if (!lua_istable(L, -1))
        return luaL_error(L, "%s: the script must return a table of callbacks, got %s",
                          fs->path, luaL_typename(L, -1));
    take_callback_refs(L, -1, vm);
    lua_pushvalue(L, -1);
    vm->ref_script = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->nrefs++;
    make_globals_strict(L);
    return 0;
}

int fl_lua_vm_new_file(const char *path, struct fl_dict *dict, fl_lua_log_fn log, void *log_ctx,
                       struct fl_lua_vm **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    struct fl_lua_vm *vm = vm_alloc(dict, log, log_ctx);
    if (!vm)
        return FL_ENOMEM;
    snprintf(vm->source, sizeof vm->source, "%s", path);
    lua_State *L = fl_lua_heap_newstate(&vm->heap);
    if (!L) {
        fl_lua_heap_free(vm->heap);
        free(vm);
        return FL_ENOMEM;
    }
    lua_atpanic(L, panic_handler);
    /* A session's heap is small (about 160 KB live with the module loaded) and most of what a
     * script allocates per message dies at once: letting the heap reach 4x live before each
     * cycle instead of LuaJIT's 2x halves the cycles that mark and sweep the live part again,
     * for a few hundred KB. A script may choose otherwise: collectgarbage("setpause", n). */
    lua_gc(L, LUA_GCSETPAUSE, 400);
    vm->L = vm->own = L;
    struct file_setup fs = {vm, path, dict};
    if (lua_cpcall(L, setup_file, &fs) != 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s",
                     lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load the script");
        lua_close(L);
        fl_lua_heap_free(vm->heap);
        free(vm);
        return FL_EINVAL;
    }
    *out = vm;
    return FL_OK;
}

struct table_setup {
    struct fl_lua_vm *vm;
    struct fl_dict *dict;
};

/* Runs protected on the host; the script table is at index 2. */
static int setup_table(lua_State *L)
{
    struct table_setup *ts = lua_touserdata(L, 1);
    struct fl_lua_vm *vm = ts->vm;
    vm->ctx = fl_lua_ctx_get(L);
    vm_prepare(L, vm, ts->dict);
    take_callback_refs(L, 2, vm);
    lua_pushvalue(L, 2);
    vm->ref_script = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->nrefs++;
    return 0;
}

int fl_lua_vm_new_table(lua_State *H, int idx, lua_State **host_L, struct fl_dict *dict,
                        fl_lua_log_fn log, void *log_ctx, struct fl_lua_vm **out, char *errbuf,
                        size_t errlen)
{
    *out = NULL;
    if (!lua_checkstack(H, 8))
        return FL_ENOMEM;
    idx = idx < 0 ? lua_gettop(H) + idx + 1 : idx;
    int base = lua_gettop(H);
    struct table_setup ts = {NULL, dict};
    /* Pushed before anything is allocated: these may raise (out of memory) into our caller. */
    lua_pushcfunction(H, setup_table);
    lua_pushlightuserdata(H, &ts);
    lua_pushvalue(H, idx);
    struct fl_lua_vm *vm = vm_alloc(dict, log, log_ctx);
    if (!vm) {
        lua_settop(H, base);
        return FL_ENOMEM;
    }
    snprintf(vm->source, sizeof vm->source, "<script table>");
    vm->L = H;
    vm->host_L = host_L;
    ts.vm = vm;
    if (lua_pcall(H, 2, 0, 0) != 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s",
                     lua_tostring(H, -1) ? lua_tostring(H, -1) : "bad script table");
        lua_settop(H, base);
        fl_lua_vm_free(vm);
        return FL_EINVAL;
    }
    lua_settop(H, base);
    *out = vm;
    return FL_OK;
}

void fl_lua_vm_set_session(struct fl_lua_vm *vm, lua_State *L, int idx)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    if (vm->ref_session == LUA_NOREF)
        vm->nrefs++;
    else
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_session);
    lua_pushvalue(L, idx);
    vm->ref_session = luaL_ref(L, LUA_REGISTRYINDEX);
}

void fl_lua_vm_free(struct fl_lua_vm *vm)
{
    if (!vm)
        return;
    if (vm->own) {
        lua_close(vm->own);
        fl_lua_heap_free(vm->heap);
    } else if (vm->L) {
        lua_State *L = fl_lua_vm_state(vm);
        for (int i = 0; i < FL_LUA_MAX_DEPTH; i++) {
            if (vm->view[i])
                vm->view[i]->m = NULL;
            luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_view[i]);
        }
        for (int i = 0; i < FL_CB__COUNT; i++)
            luaL_unref(L, LUA_REGISTRYINDEX, vm->refs[i]);
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_handler);
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_view_mt);
        for (int i = 0; i < FL_LUA_VIEW_POOL; i++)
            luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_pool[i]);
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_trampoline);
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_session);
        luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_script);
    }
    free(vm);
}
