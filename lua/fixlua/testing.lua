-- fixlua.testing — fake sessions for unit-testing session scripts without an engine, sockets
-- or a clock (busted, under luajit):
--
--   local testing = require "fixlua.testing"
--   local script  = dofile "scripts/exchange.lua"
--   local s = testing.session{ role = "acceptor", sender_comp_id = "EXEC", target_comp_id = "CLIENT" }
--   testing.call(script, "on_message", s, testing.message{ MsgType = "D", ClOrdID = "1", ... })
--   assert.equal("NEW", s.sent[1]:enum("ExecType"))
--
-- A fake session has the methods of a real one (SCRIPTING.md) and records what the script did:
--   s.sent            list of messages sent (owned fixlua.message objects, header not added)
--   s:last_sent()     the last of them
--   s.logs            list of {level = ..., text = ...}
--   s.logged_out      the logout reason (true when none), s.disconnected likewise
--   s:advance(secs)   moves the fake clock and runs the timers that come due
--   s.fail_sends      set to an error code ("EAGAIN") to make send() fail like a full queue
-- Messages are the real objects (fixlua.message), so msg.Side, msg:enum(), groups, all work.

local fixlua = require "fixlua"

local testing = {}

local Session = {}
Session.__index = Session

local Timer = {}
Timer.__index = Timer

function Timer:cancel() self.cancelled = true end
function Timer:active() return not self.cancelled and not self.done end

-- testing.message{...} | testing.message("8=FIX.4.4|...") -> owned message
function testing.message(x)
  if type(x) == "string" then
    local m, err = fixlua.message.parse(x)
    if not m then error(err, 2) end
    return m
  end
  return fixlua.message(x)
end

-- testing.session{ name=, role=, begin_string=, sender_comp_id=, target_comp_id=, state=,
--                  heartbeat=, now= (seconds), sessions = {name = fake, ...} }
function testing.session(opts)
  opts = opts or {}
  local s = setmetatable({
    _name = opts.name or "test",
    _role = opts.role or "acceptor",
    _begin_string = opts.begin_string or "FIX.4.4",
    _sender = opts.sender_comp_id or "SENDER",
    _target = opts.target_comp_id or "TARGET",
    _state = opts.state or "active",
    _heartbeat = opts.heartbeat or 30,
    _now = opts.now or 1700000000,
    _next_sender = 1,
    _next_target = 1,
    _timers = {},
    _sessions = opts.sessions or {},
    sent = {}, logs = {}, logged_out = nil, disconnected = nil, fail_sends = nil,
    engine_stopped = false, pending_logon = nil,
  }, Session)
  s._dict = assert(fixlua.dictionary(s._begin_string))
  return s
end

function Session:send(x)
  if self.fail_sends then
    return nil, self.fail_sends .. ": send failed (fake)", self.fail_sends
  end
  local m
  if fixlua.message.is_message(x) then
    m = x:copy()
  elseif type(x) == "table" then
    local t = x.MsgType or x[35]
    if type(t) ~= "string" then error("fixlua: a message table needs MsgType", 2) end
    m = fixlua.message.new(t, x, self._dict)
  else
    error("fixlua: session:send() takes a message or a table with MsgType", 2)
  end
  self.sent[#self.sent + 1] = m
  self._next_sender = self._next_sender + 1
  return true
end

function Session:last_sent() return self.sent[#self.sent] end

-- Sent messages of one MsgType (or all), for assertions.
function Session:sent_of(msg_type)
  local out = {}
  for _, m in ipairs(self.sent) do
    if m:type() == msg_type then out[#out + 1] = m end
  end
  return out
end

function Session:clear() self.sent, self.logs = {}, {} end

function Session:logout(reason)
  self.logged_out = reason or true
  self._state = "logout_sent"
end

function Session:disconnect(reason)
  self.disconnected = reason or true
  self._state = "disconnected"
end

function Session:connect() return true end
function Session:send_test_request(id) self.test_request = id or "TEST" return self.test_request end
function Session:reset_seq_num() self._next_sender, self._next_target = 1, 1 return true end

function Session:next_sender_seq(n)
  if n then self._next_sender = n end
  return self._next_sender
end

function Session:next_target_seq(n)
  if n then self._next_target = n end
  return self._next_target
end

function Session:state() return self._state end
function Session:set_state(st) self._state = st end
function Session:logged_on() return self._state == "active" or self._state == "resending" end
function Session:role() return self._role end
function Session:name() return self._name end
function Session:begin_string() return self._begin_string end
function Session:sender_comp_id() return self._sender end
function Session:target_comp_id() return self._target end
function Session:id() return string.format("%s:%s->%s", self._begin_string, self._sender, self._target) end
function Session:heartbeat_interval() return self._heartbeat end
function Session:connected() return self._state ~= "disconnected" end
function Session:queued() return 0, 0, 0 end
function Session:now() return self._now end
function Session:dictionary() return self._dict end
function Session:stats() return { calls = 0, errors = 0, slow = 0, callbacks = {} } end

-- The levels the engine's session:log() takes; anything else raises there, so here too.
local LOG_LEVELS = { debug = true, info = true, warn = true, error = true }

function Session:log(level, ...)
  if not LOG_LEVELS[level] then
    error(string.format("bad argument #1 to 'log' (invalid option '%s')", tostring(level)), 2)
  end
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  self.logs[#self.logs + 1] = { level = level, text = table.concat(parts, " ") }
end

-- Logged lines of a level (or all) joined, for assert.matches.
function Session:log_text(level)
  local out = {}
  for _, l in ipairs(self.logs) do
    if not level or l.level == level then out[#out + 1] = l.text end
  end
  return table.concat(out, "\n")
end

local function add_timer(self, secs, fn, every)
  assert(type(secs) == "number" and secs >= 0, "timer delay must be >= 0 seconds")
  assert(type(fn) == "function", "timer function expected")
  local t = setmetatable({ at = self._now + secs, every = every and secs or nil, fn = fn }, Timer)
  self._timers[#self._timers + 1] = t
  return t
end

function Session:after(secs, fn) return add_timer(self, secs, fn, false) end
function Session:every(secs, fn)
  assert(secs > 0, "a period > 0 seconds")
  return add_timer(self, secs, fn, true)
end

-- Moves the fake clock forward by secs, running due timers in time order.
function Session:advance(secs)
  local target = self._now + secs
  while true do
    local next_t
    for _, t in ipairs(self._timers) do
      if not t.cancelled and not t.done and t.at <= target and (not next_t or t.at < next_t.at) then
        next_t = t
      end
    end
    if not next_t then break end
    self._now = math.max(self._now, next_t.at)
    if next_t.every then next_t.at = next_t.at + next_t.every else next_t.done = true end
    next_t.fn(self, next_t)
  end
  self._now = target
end

function Session:accept_logon()
  assert(self._state == "logon_pending", "fixlua: session:accept_logon(): no logon is pending")
  self._state = "active"
  self.pending_logon = "accepted"
  return true
end

function Session:reject_logon(reason)
  assert(self._state == "logon_pending", "fixlua: session:reject_logon(): no logon is pending")
  self._state = "disconnected"
  self.pending_logon = reason or "Logon rejected"
  return true
end

function Session:schedule_event(kind) self.schedule = kind end

-- session:engine(): a fake engine that knows the sessions given in opts.sessions.
function Session:engine()
  local me = self
  return {
    session = function(_, name) return me._sessions[name] end,
    sessions = function()
      local names = {}
      for n in pairs(me._sessions) do names[#names + 1] = n end
      table.sort(names)
      return names
    end,
    stop = function() me.engine_stopped = true end,
    now = function() return me._now end,
  }
end

-- testing.call(script, "on_message", session, ...) calls a callback the way the engine does
-- (nothing happens when the script lacks it) and returns its results; errors propagate so a
-- test sees them.
function testing.call(script, name, ...)
  local fn = script[name]
  if fn == nil then return nil end
  return fn(...)
end

-- testing.load(path) loads a script file as the engine does and returns its table of
-- callbacks: in a fresh environment per call, with modules next to the script found first by
-- require, and globals strict once the script has loaded (reading or assigning an undefined
-- one raises, as in the engine).
function testing.load(path)
  local chunk = assert(loadfile(path))
  local env = setmetatable({}, { __index = _G })
  env._G = env
  setfenv(chunk, env)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local saved = package.path
  package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. saved
  local ok, t = pcall(chunk)
  package.path = saved
  if not ok then error(t, 2) end
  assert(type(t) == "table", path .. ": a script returns a table of callbacks")
  local function strict(what, k)
    error(string.format("%sundefined global '%s' (globals are strict in fixlua scripts; use "
                        .. "local, or rawset(_G, name, value))", what, tostring(k)), 3)
  end
  setmetatable(env, {
    __index = function(_, k)
      local v = _G[k]
      if v == nil then strict("", k) end
      return v
    end,
    __newindex = function(_, k) strict("assignment to ", k) end,
  })
  return t
end

return testing
