-- fixlua.config — checks an engine configuration (DESIGN.md §3) and normalises it for the C
-- binding. Every problem is reported with the file, the session, the key and what was
-- expected; unknown keys are errors; nothing is guessed. Pure Lua: unit-tested in
-- spec/unit/config_spec.lua.
--
--   local cfg, errs = config.normalize(tbl, { source = "CONFIG.lua", base_dir = "dir",
--                                             default_store = "var/store" })
--   -- cfg: normalised table, or nil and a list of messages such as
--   -- "CONFIG.lua: session 'exch': key 'heartbeat': expected a number 1..3600, got 'abc'"

local schedule = require "fixlua.schedule"

local config = {}

local BEGIN_STRINGS = {
  ["FIX.4.0"] = true, ["FIX.4.1"] = true, ["FIX.4.2"] = true, ["FIX.4.3"] = true,
  ["FIX.4.4"] = true, ["FIXT.1.1"] = true,
}

-- ApplVerID(1128) values by name, for default_appl_ver_id.
local APPL_VER_IDS = {
  ["FIX.2.7"] = "0", ["FIX.3.0"] = "1", ["FIX.4.0"] = "2", ["FIX.4.1"] = "3", ["FIX.4.2"] = "4",
  ["FIX.4.3"] = "5", ["FIX.4.4"] = "6", ["FIX.5.0"] = "7", ["FIX.5.0SP1"] = "8",
  ["FIX.5.0SP2"] = "9",
}

local function show(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  if v == nil then return "nothing" end
  if type(v) == "table" or type(v) == "function" or type(v) == "userdata" then return "a " .. type(v) end
  return tostring(v)
end
config.show = show

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- A checker accumulates errors for one scope ("" or "session 'x': ").
local function scope(errs, source, where)
  local c = {}
  function c.fail(key, expected, got)
    errs[#errs + 1] = string.format("%s: %skey '%s': expected %s, got %s", source, where, key,
                                    expected, show(got))
  end
  function c.say(msg)
    errs[#errs + 1] = string.format("%s: %s%s", source, where, msg)
  end
  return c
end

local function is_int(v) return type(v) == "number" and v == math.floor(v) end

-- The largest values the engine's C fields hold: counts are 32-bit, byte sizes far larger.
local INT32, BYTES = 2147483647, 2 ^ 50

local function int_in(c, t, key, lo, hi, default)
  local v = t[key]
  if v == nil then return default end
  if not is_int(v) or v < lo or (hi and v > hi) then
    c.fail(key, hi and string.format("a number %.0f..%.0f", lo, hi)
                or string.format("a whole number >= %d", lo), v)
    return default
  end
  return v
end

local function num_in(c, t, key, lo, default)
  local v = t[key]
  if v == nil then return default end
  if type(v) ~= "number" or not (v >= lo) then -- (NaN fails the >=)
    c.fail(key, string.format("a number >= %s", tostring(lo)), v)
    return default
  end
  return v
end

local function bool(c, t, key)
  local v = t[key]
  if v == nil then return nil end
  if type(v) ~= "boolean" then c.fail(key, "true or false", v) return nil end
  return v
end

local function str(c, t, key, required)
  local v = t[key]
  if v == nil then
    if required then c.fail(key, "a string", v) end
    return nil
  end
  if type(v) ~= "string" or v == "" then c.fail(key, "a non-empty string", v) return nil end
  return v
end

local function one_of(c, t, key, set, default)
  local v = t[key]
  if v == nil then return default end
  if set[v] == nil then
    local names = {}
    for k in pairs(set) do names[#names + 1] = string.format("%q", k) end
    table.sort(names)
    c.fail(key, "one of " .. table.concat(names, ", "), v)
    return default
  end
  return v
end

local function unknown_keys(c, t, allowed, what)
  for _, k in ipairs(sorted_keys(t)) do
    if not allowed[k] then
      if type(k) == "string" then
        c.say(string.format("unknown key '%s'%s", k, what or ""))
      else
        c.say(string.format("unknown key %s%s", show(k), what or ""))
      end
    end
  end
end

local function is_abs(p) return p:sub(1, 1) == "/" end

local function resolve(base, p)
  if not p or is_abs(p) or not base or base == "" or base == "." then return p end
  return base .. "/" .. p
end

local function host_port(c, key, v)
  if type(v) ~= "string" then c.fail(key, "\"host:port\"", v) return nil end
  local host, port = v:match("^(.+):(%d+)$")
  port = tonumber(port)
  if not host or not port or port > 65535 then c.fail(key, "\"host:port\" (port 0..65535)", v) return nil end
  return v
end

local SESSION_KEYS = {
  name = true, role = true, begin_string = true, sender_comp_id = true, target_comp_id = true,
  default_appl_ver_id = true, listen = true, connect = true, heartbeat = true,
  heartbeat_min = true, heartbeat_max = true, logon_timeout = true, logout_timeout = true,
  max_latency = true, latency_warn = true, check_comp_id = true, reset_on_logon = true,
  reset_on_logout = true, reset_on_disconnect = true, send_next_expected = true,
  send_redundant_resend_requests = true, require_orig_sending_time = true,
  timestamp_digits = true, resend_request_chunk = true, max_inbound_queue = true,
  max_inbound_queue_bytes = true,
  inbound_queue_warn = true, max_inbound_rate = true, max_outbound_queue = true,
  max_garbled = true, max_message_size = true, reconnect = true, store = true, log = true,
  script = true, dictionary = true, validation = true, schedule = true, tls = true,
  business_reject_on_error = true, script_warn_ms = true, max_output_bytes = true,
  output_high_watermark = true,
}
config.SESSION_KEYS = SESSION_KEYS

local ENGINE_KEYS = {
  sessions = true, store = true, log = true, defaults = true, manual_clock = true,
  start_time = true, tick_ms = true, script_warn_ms = true, log_stderr = true,
}

local function check_store(c, v, base, out)
  if v == nil then return end
  if v == "memory" then out.store_dir = false return end
  if type(v) ~= "table" then c.fail("store", "a table {dir = ..., sync = ...} or \"memory\"", v) return end
  local sc = {
    fail = function(k, e, g) c.fail("store." .. k, e, g) end,
    say = function(m) c.say("store: " .. m) end,
  }
  unknown_keys(sc, v, { dir = true, sync = true, type = true })
  local ty = one_of(sc, v, "type", { file = true, memory = true }, "file")
  if ty == "memory" then out.store_dir = false return end
  local dir = str(sc, v, "dir")
  if dir then out.store_dir = resolve(base, dir) end
  out.store_sync = one_of(sc, v, "sync", { none = true, every = true, batch = true }, out.store_sync)
end

local function check_log(c, v, base, out)
  if v == nil then return end
  if v == false then out.log_dir = false return end
  if type(v) ~= "table" then c.fail("log", "a table {dir = ..., messages = ..., events = ...}", v) return end
  local sc = {
    fail = function(k, e, g) c.fail("log." .. k, e, g) end,
    say = function(m) c.say("log: " .. m) end,
  }
  unknown_keys(sc, v, { dir = true, messages = true, events = true })
  local dir = str(sc, v, "dir")
  if dir then out.log_dir = resolve(base, dir) end
  local m, e = bool(sc, v, "messages"), bool(sc, v, "events")
  if m ~= nil then out.log_messages = m end
  if e ~= nil then out.log_events = e end
end

local function check_session(s, i, opts, errs, engine_defaults)
  local label = type(s) == "table" and type(s.name) == "string" and s.name or ("#" .. i)
  local c = scope(errs, opts.source, string.format("session '%s': ", label))
  if type(s) ~= "table" then
    c.say("a session is a table, got " .. show(s))
    return nil
  end
  local base = opts.base_dir
  unknown_keys(c, s, SESSION_KEYS)
  local out = {}
  out.name = str(c, s, "name", true)
  if out.name and not out.name:match("^[%w_.%-]+$") then
    c.fail("name", "letters, digits, '_', '.', '-' (it names files)", out.name)
  end
  out.role = one_of(c, s, "role", { initiator = true, acceptor = true })
  if s.role == nil then c.fail("role", "\"initiator\" or \"acceptor\"", nil) end
  out.begin_string = one_of(c, s, "begin_string", BEGIN_STRINGS)
  if s.begin_string == nil then c.fail("begin_string", "\"FIX.4.0\" .. \"FIX.4.4\" or \"FIXT.1.1\"", nil) end
  out.sender_comp_id = str(c, s, "sender_comp_id", true)
  out.target_comp_id = str(c, s, "target_comp_id", true)
  if out.target_comp_id == "*" and out.role == "initiator" then
    c.fail("target_comp_id", "a CompID (\"*\" is for acceptors)", "*")
  end
  if s.default_appl_ver_id ~= nil then
    local v = s.default_appl_ver_id
    if type(v) == "string" and APPL_VER_IDS[v] then v = APPL_VER_IDS[v] end
    if type(v) ~= "string" or not v:match("^%d+$") then
      c.fail("default_appl_ver_id", "an ApplVerID such as \"9\" or \"FIX.5.0SP2\"", s.default_appl_ver_id)
    elseif out.begin_string and out.begin_string ~= "FIXT.1.1" then
      c.say("key 'default_appl_ver_id' is only for begin_string \"FIXT.1.1\"")
    else
      out.default_appl_ver_id = v
    end
  elseif out.begin_string == "FIXT.1.1" then
    c.fail("default_appl_ver_id", "an ApplVerID for FIXT.1.1, e.g. \"FIX.5.0SP2\"", nil)
  end

  -- transport
  if out.role == "acceptor" then
    if s.connect ~= nil then c.say("key 'connect' is for initiators; an acceptor has 'listen'") end
    if s.reconnect ~= nil then c.say("key 'reconnect' is for initiators") end
    out.listen = host_port(c, "listen", s.listen)
  elseif out.role == "initiator" then
    if s.listen ~= nil then c.say("key 'listen' is for acceptors; an initiator has 'connect'") end
    local conn = s.connect
    if type(conn) == "string" then conn = { conn } end
    if type(conn) ~= "table" or #conn == 0 then
      c.fail("connect", "\"host:port\" or a list of them", s.connect)
    else
      if #conn > 16 then c.fail("connect", "at most 16 addresses", #conn .. " addresses") end
      out.connect = {}
      for j, a in ipairs(conn) do
        out.connect[j] = host_port(c, "connect", a)
      end
    end
    local r = s.reconnect
    if r ~= nil then
      if type(r) ~= "table" then
        c.fail("reconnect", "a table {interval = ..., max_tries = ..., timeout = ...}", r)
      else
        local rc = {
          fail = function(k, e, g) c.fail("reconnect." .. k, e, g) end,
          say = function(m) c.say("reconnect: " .. m) end,
        }
        unknown_keys(rc, r, { interval = true, max_tries = true, timeout = true })
        out.reconnect_interval = int_in(rc, r, "interval", 1, 86400)
        out.max_connect_tries = int_in(rc, r, "max_tries", 0, INT32)
        out.connect_timeout = int_in(rc, r, "timeout", 1, 3600)
      end
    end
  end

  -- protocol
  out.heartbeat = int_in(c, s, "heartbeat", 1, 3600, 30)
  out.heartbeat_min = int_in(c, s, "heartbeat_min", 1, 3600)
  out.heartbeat_max = int_in(c, s, "heartbeat_max", 1, 3600)
  out.logon_timeout = int_in(c, s, "logon_timeout", 1, 3600)
  out.logout_timeout = int_in(c, s, "logout_timeout", 1, 3600)
  if s.max_latency == false then
    out.max_latency = -1
  else
    out.max_latency = num_in(c, s, "max_latency", 0)
    if s.max_latency ~= nil and type(s.max_latency) ~= "number" then
      c.fail("max_latency", "seconds, or false to turn the check off", s.max_latency)
    end
  end
  out.latency_warn = num_in(c, s, "latency_warn", 0)
  for _, k in ipairs({ "check_comp_id", "reset_on_logon", "reset_on_logout", "reset_on_disconnect",
                       "send_next_expected", "send_redundant_resend_requests",
                       "require_orig_sending_time", "business_reject_on_error" }) do
    out[k] = bool(c, s, k)
  end
  if s.timestamp_digits ~= nil then
    out.timestamp_digits = one_of(c, s, "timestamp_digits", { [0] = true, [3] = true, [6] = true, [9] = true })
  end
  out.resend_request_chunk = int_in(c, s, "resend_request_chunk", 0, INT32)
  out.max_inbound_queue = int_in(c, s, "max_inbound_queue", 1, INT32)
  out.max_inbound_queue_bytes = int_in(c, s, "max_inbound_queue_bytes", 1024, BYTES)
  out.inbound_queue_warn = int_in(c, s, "inbound_queue_warn", 1, INT32)
  out.max_inbound_rate = int_in(c, s, "max_inbound_rate", 0, INT32)
  out.max_outbound_queue = int_in(c, s, "max_outbound_queue", 1, INT32)
  out.max_garbled = int_in(c, s, "max_garbled", 1, INT32)
  out.max_message_size = int_in(c, s, "max_message_size", 64, INT32)
  out.max_output_bytes = int_in(c, s, "max_output_bytes", 1024, BYTES)
  out.output_high_watermark = int_in(c, s, "output_high_watermark", 1, BYTES)
  out.script_warn_ms = num_in(c, s, "script_warn_ms", 0)

  -- store and logs: the engine's, overridden per session
  out.store_dir, out.store_sync = engine_defaults.store_dir, engine_defaults.store_sync
  out.log_dir, out.log_messages, out.log_events =
    engine_defaults.log_dir, engine_defaults.log_messages, engine_defaults.log_events
  check_store(c, s.store, base, out)
  check_log(c, s.log, base, out)
  if out.store_dir == false then out.store_dir = nil end
  if out.log_dir == false then out.log_dir = nil end

  -- script
  local sc = s.script
  if sc ~= nil then
    if type(sc) == "string" then
      out.script = resolve(base, sc)
    elseif type(sc) == "table" and opts.allow_tables then
      out.script = sc
    else
      c.fail("script", opts.allow_tables and "a file name or a table of callbacks" or "a file name", sc)
    end
  end
  if s.dictionary ~= nil then
    local d = str(c, s, "dictionary")
    if d and not d:match("%.xml$") then
      c.fail("dictionary", "a QuickFIX XML file (*.xml)", d)
    elseif d then
      out.dictionary = resolve(base, d)
    end
  end
  local v = s.validation
  if v ~= nil then
    local levels = { off = true, session = true, full = true }
    if type(v) == "string" then
      out.validation = { level = one_of(c, s, "validation", levels) }
    elseif type(v) == "table" then
      local vc = {
        fail = function(k, e, g) c.fail("validation." .. k, e, g) end,
        say = function(m) c.say("validation: " .. m) end,
      }
      unknown_keys(vc, v, { level = true, allow_unknown_fields = true, allow_user_fields = true,
                            allow_internal_fields = true, strict_group_order = true })
      out.validation = {
        level = one_of(vc, v, "level", levels, "full"),
        allow_unknown_fields = bool(vc, v, "allow_unknown_fields"),
        allow_user_fields = bool(vc, v, "allow_user_fields"),
        allow_internal_fields = bool(vc, v, "allow_internal_fields"),
        strict_group_order = bool(vc, v, "strict_group_order"),
      }
    else
      c.fail("validation", "\"off\", \"session\", \"full\" or a table {level = ...}", v)
    end
  end
  if s.schedule ~= nil then
    local sched, err = schedule.parse(s.schedule)
    if not sched then
      c.say("key 'schedule': " .. err)
    else
      out.schedule = sched
    end
  end
  if s.tls ~= nil then
    local t = s.tls
    if type(t) ~= "table" then
      c.fail("tls", "a table {cert = ..., key = ..., ca = ..., verify_peer = ...}", t)
    else
      local tc = scope(errs, opts.source, string.format("session '%s': tls: ", label))
      unknown_keys(tc, t, { cert = true, key = true, ca = true, verify_peer = true,
                            server_name = true, ciphers = true })
      local tls = { enabled = true }
      for _, k in ipairs({ "cert", "key", "ca" }) do
        local v = str(tc, t, k)
        if v then tls[k] = resolve(base, v) end
      end
      tls.server_name = str(tc, t, "server_name")
      tls.ciphers = str(tc, t, "ciphers")
      tls.verify_peer = bool(tc, t, "verify_peer")
      if out.role == "acceptor" and not (tls.cert and tls.key) then
        tc.fail("cert", "a certificate and its 'key' for a TLS acceptor", t.cert)
      end
      if (tls.cert == nil) ~= (tls.key == nil) then
        tc.fail("key", "'cert' and 'key' together", t.key)
      end
      out.tls = tls
    end
  end
  return out
end

-- Checks and normalises the engine configuration `t`. opts: source (file name for messages),
-- base_dir (relative paths are resolved against it), default_store (a directory, or nil for
-- the memory store), allow_tables (script may be a table of functions: specs).
function config.normalize(t, opts)
  opts = opts or {}
  opts.source = opts.source or "config"
  local errs = {}
  local c = scope(errs, opts.source, "")
  if type(t) ~= "table" then
    c.say("the configuration must return a table, got " .. show(t))
    return nil, errs
  end
  unknown_keys(c, t, ENGINE_KEYS)
  local out = {
    manual_clock = bool(c, t, "manual_clock"),
    start_time = num_in(c, t, "start_time", 0),
    tick_ms = int_in(c, t, "tick_ms", 1, 1000),
    script_warn_ms = num_in(c, t, "script_warn_ms", 0),
    log_stderr = bool(c, t, "log_stderr"),
  }
  local defaults = {}
  if opts.default_store then defaults.store_dir = resolve(opts.base_dir, opts.default_store) end
  check_store(c, t.store, opts.base_dir, defaults)
  check_log(c, t.log, opts.base_dir, defaults)
  if t.defaults ~= nil and type(t.defaults) ~= "table" then
    c.fail("defaults", "a table of session keys", t.defaults)
  end
  local sessions = t.sessions
  if sessions == nil then sessions = {} end
  if type(sessions) ~= "table" then
    c.fail("sessions", "a list of session tables", sessions)
    sessions = {}
  end
  out.sessions = {}
  local names, routes = {}, {}
  for i, s in ipairs(sessions) do
    if type(s) == "table" and type(t.defaults) == "table" then
      local merged = {}
      for k, v in pairs(t.defaults) do merged[k] = v end
      for k, v in pairs(s) do merged[k] = v end
      s = merged
    end
    local n = check_session(s, i, opts, errs, defaults)
    if n then
      if n.name then
        if names[n.name] then
          scope(errs, opts.source, "").say(string.format("two sessions are named '%s'", n.name))
        end
        names[n.name] = true
      end
      if n.role == "acceptor" and n.listen and n.sender_comp_id and n.target_comp_id then
        local key = n.listen .. "|" .. n.sender_comp_id .. "|" .. n.target_comp_id
        if routes[key] then
          scope(errs, opts.source, "").say(string.format(
            "sessions '%s' and '%s' listen on %s with the same CompIDs", routes[key], n.name, n.listen))
        end
        routes[key] = n.name
      end
      out.sessions[#out.sessions + 1] = n
    end
  end
  for k in pairs(sessions) do
    if type(k) ~= "number" or k < 1 or k > #sessions or k ~= math.floor(k) then
      c.fail("sessions", "a list (array) of sessions", "a key " .. show(k))
    end
  end
  if #errs > 0 then return nil, errs end
  out.defaults = defaults -- store and log settings sessions added later inherit
  return out
end

-- One session table, checked against an engine's defaults (engine:add_session()).
function config.normalize_session(s, opts)
  opts = opts or {}
  opts.source = opts.source or "add_session"
  local errs = {}
  local n = check_session(s, 1, opts, errs, opts.defaults or {})
  if #errs > 0 then return nil, errs end
  return n
end

return config
