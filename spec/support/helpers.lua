-- spec/support/helpers.lua — shared by the specs: an acceptor/initiator pair on 127.0.0.1
-- port 0 under a manual clock, bounded stepping, SOH <-> '|' helpers, temp directories and
-- running the fixlua binary. Nothing here sleeps more than a millisecond at a time and every
-- wait is bounded.

local fixlua = require "fixlua"

local H = {}

H.build_dir = os.getenv("FIXLUA_BUILD_DIR") or "./build"
H.fixlua_bin = H.build_dir .. "/fixlua"
H.shared_dir = "../shared"

function H.soh(s) return (s:gsub("|", "\1")) end
function H.bars(s) return (s:gsub("\1", "|")) end

-- A complete frame from "35=D|...|" body text (BodyLength and CheckSum computed).
function H.frame(begin_string, body)
  body = H.soh(body)
  local head = "8=" .. begin_string .. "\1" .. "9=" .. #body .. "\1"
  local sum = 0
  local all = head .. body
  for i = 1, #all do sum = sum + all:byte(i) end
  return all .. string.format("10=%03d\1", sum % 256)
end

-- Steps eng until cond() holds; fails the test after max iterations (default 4000, with a
-- 0.5 ms pause each: at most about 2 s of wall time).
-- Timers already due run too (eng:advance(0)), as they would on a real clock.
function H.step_until(eng, cond, what, max)
  for _ = 1, max or 4000 do
    if cond() then return end
    eng:run_once(false)
    eng:advance(0)
    fixlua.sleep(0.0005)
  end
  assert(cond(), "timed out waiting for " .. (what or "a condition"))
end

-- Steps several engines together.
function H.step_all(engines, cond, what, max)
  for _ = 1, max or 4000 do
    if cond() then return end
    for _, e in ipairs(engines) do
      e:run_once(false)
      e:advance(0)
    end
    fixlua.sleep(0.0005)
  end
  assert(cond(), "timed out waiting for " .. (what or "a condition"))
end

-- Moves the manual clock forward by secs in steps (default 5 s), letting I/O run between
-- steps so heartbeats and TestRequests get their answers.
function H.advance(eng, secs, step)
  step = step or 5
  local done = 0
  while done < secs do
    local d = math.min(step, secs - done)
    eng:advance(d)
    done = done + d
    for _ = 1, 20 do eng:run_once(false) end
  end
end

-- Runs the loop a few times without a condition (lets pending I/O settle).
function H.settle(eng, n)
  for _ = 1, n or 50 do eng:run_once(false) end
end

local function merge(base, over)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end
H.merge = merge

-- H.pair{ acceptor = {script = {...}, ...}, initiator = {script = {...}, ...},
--         begin_string = "FIX.4.4", engine = {...}, connect = true }
-- Returns the engine and the two session objects (as the host sees them). The acceptor is
-- "exch" (EXEC), the initiator "client" (CLIENT); the initiator connects at once unless
-- connect = false (then call H.connect(eng, p) later).
function H.pair(opts)
  opts = opts or {}
  local bs = opts.begin_string or "FIX.4.4"
  local eng = assert(fixlua.engine(merge({ manual_clock = true }, opts.engine)))
  local acc = eng:add_session(merge({
    name = "exch", role = "acceptor", begin_string = bs, sender_comp_id = "EXEC",
    target_comp_id = "CLIENT", listen = "127.0.0.1:0", heartbeat = 30,
  }, opts.acceptor))
  assert(eng:start())
  local port = eng:port("exch")
  assert(port and port > 0, "acceptor has no port")
  local ini = eng:add_session(merge({
    name = "client", role = "initiator", begin_string = bs, sender_comp_id = "CLIENT",
    target_comp_id = "EXEC", connect = "127.0.0.1:" .. port, heartbeat = 30,
    reconnect = { interval = 1 },
  }, opts.initiator))
  return eng, acc, ini, port
end

-- Both sides logged on.
function H.logon(eng, acc, ini)
  H.step_until(eng, function() return acc:state() == "active" and ini:state() == "active" end,
               "both sessions active")
end

-- A recorder: a table of callbacks that append {name, args...} to rec.calls.
function H.recorder(extra)
  local rec = { calls = {} }
  local names = fixlua.callbacks()
  local script = {}
  for _, n in ipairs(names) do
    if not (n == "validate_logon" or n == "should_replay" or n == "on_resend_request"
            or n == "prepare_logon" or n == "on_schedule_start" or n == "on_schedule_end") then
      script[n] = function(_, ...)
        local args = { ... }
        for i, a in ipairs(args) do
          if fixlua.message.is_message(a) then args[i] = a:copy() end
        end
        rec.calls[#rec.calls + 1] = { name = n, args = args }
      end
    end
  end
  for k, v in pairs(extra or {}) do script[k] = v end
  rec.script = script
  function rec.count(name)
    local c = 0
    for _, x in ipairs(rec.calls) do if x.name == name then c = c + 1 end end
    return c
  end
  function rec.find(name, i)
    local c = 0
    for _, x in ipairs(rec.calls) do
      if x.name == name then
        c = c + 1
        if c == (i or 1) then return x end
      end
    end
  end
  function rec.all(name)
    local out = {}
    for _, x in ipairs(rec.calls) do if x.name == name then out[#out + 1] = x end end
    return out
  end
  return rec
end

function H.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'") == 0)
  return p
end

function H.rmdir(p)
  if p and p:match("^/tmp/") then os.execute("rm -rf '" .. p .. "'") end
end

function H.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function H.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs the fixlua binary; returns exit code, stdout, stderr.
function H.run_fixlua(args, env)
  local dir = H.tmpdir()
  local cmd = string.format("%s timeout 30 %s %s >'%s/out' 2>'%s/err'; echo $? >'%s/rc'",
                            env or "", H.fixlua_bin, args, dir, dir, dir)
  os.execute(cmd)
  local rc = tonumber(H.read(dir .. "/rc") or "")
  local out, err = H.read(dir .. "/out") or "", H.read(dir .. "/err") or ""
  H.rmdir(dir)
  return rc, out, err
end

return H
