-- fixlua.runner — the `fixlua` command (lua/fixlua_main.c hands it argv and exits with what
-- main() returns). `fixlua log` is answered in C (core/fl_pretty.c) before we get here.
--
--   fixlua run CONFIG.lua [-q]     run the engine; SIGINT/SIGTERM log every session out
--   fixlua check FILE...           load configs or scripts without running; report problems
--   fixlua log [...] [FILE...]     pretty-print FIX logs (fixlua log --help)
--   fixlua load HOST:PORT [...]    a load generator: scripts/client.lua as one initiator
--   fixlua --version | help

local fixlua = require "fixlua"
local config = require "fixlua.config"

local runner = {}

-- Exit codes: 0 ok, 1 a runtime failure or problems found by check, 2 usage or config errors.
local EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2

local USAGE = [[
usage: fixlua <command> [arguments]

commands:
  run CONFIG.lua [-q] [--grace SECONDS]
                         run the sessions of CONFIG.lua; state changes and errors on stderr
                         (-q: errors only); SIGINT/SIGTERM log every session out, then exit
  check FILE...          load each configuration or session script without running it and
                         report configuration errors and unknown callback names
  log [options] [FILE...]
                         pretty-print FIX message logs with field names (fixlua log --help)
  journal [options] FILE.journal...
                         the messages a session's journal stores, or what it holds (--info);
                         read only, also while the engine runs (fixlua journal --help)
  load HOST:PORT [options]
                         a load generator: orders at a steady rate, every report matched, a
                         progress line each second and a summary (fixlua load --help)
  help                   this text
  --version              the version

exit codes: 0 success, 1 failure or problems found, 2 bad usage or configuration errors
]]

local function eprintf(fmt, ...)
  io.stderr:write(string.format(fmt, ...))
end

local function dirname(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

-- Loads a Lua file that returns a table, in an environment of its own (a config may read
-- os.getenv; nothing it defines leaks). Returns the value or nil, message.
local function load_table_file(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local env = setmetatable({}, { __index = _G })
  setfenv(chunk, env)
  local ok, v = pcall(chunk)
  if not ok then return nil, string.format("%s: %s", path, tostring(v)) end
  return v
end

-- A configuration names sessions, a store, logs or defaults; a script is a table of callbacks.
-- A table with neither a known configuration key nor a function nor a callback-like name is
-- taken for a configuration too, so that a misspelt key ("session") is reported, not passed as
-- an empty script.
local function is_config(v)
  if type(v) ~= "table" then return false end
  if v.sessions ~= nil or v.store ~= nil or v.log ~= nil or v.defaults ~= nil then return true end
  for k, x in pairs(v) do
    if type(x) == "function" then return false end
    if type(k) == "string" and (k:match("^on_") or k:match("^validate_") or
                                k:match("^should_") or k:match("^prepare_")) then
      return false
    end
  end
  return next(v) ~= nil
end

-- ---- run ----

-- Runs the engine of a normalized configuration until it stops (or SIGINT/SIGTERM and the
-- grace period); `label` names the configuration in messages. Returns an exit code.
local function run_engine(norm, label, quiet, grace)
  norm.log_stderr = (not quiet) or nil -- -q: errors and warnings only
  local eng, e2 = fixlua._engine(norm)
  if not eng then
    eprintf("%s: %s\n", label, tostring(e2))
    return EXIT_CONFIG
  end
  local ok, e3 = eng:handle_signals(grace)
  if not ok then
    eprintf("fixlua: %s\n", tostring(e3))
    return EXIT_FAIL
  end
  ok, e3 = eng:start()
  if not ok then
    eprintf("%s: %s\n", label, tostring(e3))
    eng:close()
    return EXIT_FAIL
  end
  if not quiet then
    for _, name in ipairs(eng:sessions()) do
      local s = eng:session(name)
      local port = eng:port(name)
      eprintf("fixlua: session %s (%s %s)%s\n", name, s:role(), s:id(),
              (port and port > 0) and (" listening on port " .. port) or "")
    end
  end
  ok, e3 = eng:run()
  eng:close()
  if not ok then
    eprintf("fixlua: %s\n", tostring(e3))
    return EXIT_FAIL
  end
  if not quiet then eprintf("fixlua: stopped\n") end
  return EXIT_OK
end

local function cmd_run(args)
  local path, quiet, grace = nil, false, 5
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-q" or a == "--quiet" then
      quiet = true
    elseif a == "--grace" then
      grace = tonumber(args[i + 1])
      if not grace or not (grace >= 0 and grace <= 86400) then -- (NaN fails both)
        eprintf("fixlua run: --grace wants seconds, 0 to 86400\n")
        return EXIT_CONFIG
      end
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      eprintf("fixlua run: unknown option '%s'\n%s", a, USAGE)
      return EXIT_CONFIG
    elseif path then
      eprintf("fixlua run: one configuration file, got '%s' and '%s'\n", path, a)
      return EXIT_CONFIG
    else
      path = a
    end
    i = i + 1
  end
  if not path then
    eprintf("fixlua run: which configuration? fixlua run CONFIG.lua\n")
    return EXIT_CONFIG
  end
  local t, err = load_table_file(path)
  if t == nil then
    eprintf("%s\n", err)
    return EXIT_CONFIG
  end
  local norm, errs = config.normalize(t, { source = path, base_dir = dirname(path),
                                           default_store = "var/store" })
  if not norm then
    for _, e in ipairs(errs) do eprintf("%s\n", e) end
    eprintf("fixlua: %d configuration error%s; not starting\n", #errs, #errs == 1 and "" or "s")
    return EXIT_CONFIG
  end
  if #norm.sessions == 0 then
    eprintf("%s: no sessions configured; not starting\n", path)
    return EXIT_CONFIG
  end
  return run_engine(norm, path, quiet, grace)
end

-- ---- load ----

local LOAD_USAGE = [[
usage: fixlua load HOST:PORT [options]

One initiator session running scripts/client.lua: NewOrderSingle at a steady rate, every
ExecutionReport matched to its order, a progress line each second and a summary on stderr;
it logs out and exits 0 when every order is answered. It keeps trying to connect until then
(Ctrl-C logs out and stops).

options:
  --sender ID         our SenderCompID (default CLIENT)
  --target ID         the peer's CompID (default EXEC)
  --begin-string V    BeginString (default FIX.4.4)
  --rate N            orders per second (default 200)
  --count N           orders to send; 0: until Ctrl-C (default 1000)
  --symbols A,B,...   symbols to trade (default IBM,MSFT,AAPL,REJECT)
  --max-qty N         largest order size (default 2000)
  --heartbeat S       HeartBtInt in seconds (default 30)
  --store DIR         keep sequence numbers in a journal in DIR; without it they live in
                      memory and the Logon asks for a reset (ResetSeqNumFlag=Y)
  --log DIR           write the message and event logs to DIR
  -q                  errors only
]]

local ffi = require "ffi"
pcall(ffi.cdef, [[
  long readlink(const char *path, char *buf, size_t size);
  int setenv(const char *name, const char *value, int overwrite);
]])

local function readable(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- scripts/client.lua: $FIXLUA_SCRIPTS, next to the executable's directory (the build tree or
-- an installed share/fixlua), or ./scripts.
local function client_script()
  local dirs = {}
  local env = os.getenv("FIXLUA_SCRIPTS")
  if env and env ~= "" then dirs[#dirs + 1] = env end
  local buf = ffi.new("char[4096]")
  local n = tonumber(ffi.C.readlink("/proc/self/exe", buf, 4095))
  if n and n > 0 then
    local bin = dirname(ffi.string(buf, n))
    dirs[#dirs + 1] = bin .. "/../scripts"
    dirs[#dirs + 1] = bin .. "/../share/fixlua/scripts"
  end
  dirs[#dirs + 1] = "scripts"
  for _, d in ipairs(dirs) do
    if readable(d .. "/client.lua") then return d .. "/client.lua" end
  end
  return nil, "cannot find scripts/client.lua (looked in " .. table.concat(dirs, ", ")
              .. "); set FIXLUA_SCRIPTS to its directory"
end

local function cmd_load(args)
  local o = { sender = "CLIENT", target = "EXEC", ["begin-string"] = "FIX.4.4", heartbeat = "30" }
  -- option -> environment variable of scripts/client.lua, for the ones the script reads
  local script_env = { rate = "FIXLUA_RATE", count = "FIXLUA_COUNT", symbols = "FIXLUA_SYMBOLS",
                       ["max-qty"] = "FIXLUA_MAX_QTY" }
  local numeric = { rate = true, count = true, ["max-qty"] = true, heartbeat = true }
  local known = { sender = true, target = true, ["begin-string"] = true, symbols = true,
                  store = true, log = true }
  local target, quiet
  local i = 1
  while i <= #args do
    local a = args[i]
    local name = a:match("^%-%-(.+)$")
    if a == "-h" or a == "--help" then
      io.stdout:write(LOAD_USAGE)
      return EXIT_OK
    elseif a == "-q" or a == "--quiet" then
      quiet = true
    elseif name and (known[name] or numeric[name]) then
      local v = args[i + 1]
      if v == nil then
        eprintf("fixlua load: --%s wants a value\n", name)
        return EXIT_CONFIG
      end
      -- --count 0 means until Ctrl-C; a rate or a quantity of 0 would never trade
      local least = name == "count" and 0 or 1
      local n = tonumber(v)
      if numeric[name] and not (n and n >= least and n < 1e9) then
        eprintf("fixlua load: --%s wants a number %d to 1e9, got '%s'\n", name, least, v)
        return EXIT_CONFIG
      end
      o[name] = v
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      eprintf("fixlua load: unknown option '%s'\n%s", a, LOAD_USAGE)
      return EXIT_CONFIG
    elseif target then
      eprintf("fixlua load: one HOST:PORT, got '%s' and '%s'\n", target, a)
      return EXIT_CONFIG
    else
      target = a
    end
    i = i + 1
  end
  if not target then
    eprintf("fixlua load: where to? fixlua load HOST:PORT (fixlua load --help)\n")
    return EXIT_CONFIG
  end
  local script, err = client_script()
  if not script then
    eprintf("fixlua load: %s\n", err)
    return EXIT_CONFIG
  end
  -- The script reads its settings from the environment of the process it runs in: this one.
  for opt, var in pairs(script_env) do
    if o[opt] then ffi.C.setenv(var, o[opt], 1) end
  end
  ffi.C.setenv("FIXLUA_EXIT", "1", 1)
  local t = {
    store = o.store and { dir = o.store, sync = "batch" } or "memory",
    log = o.log and { dir = o.log, messages = true } or nil,
    sessions = { {
      name = "load", role = "initiator", begin_string = o["begin-string"],
      sender_comp_id = o.sender, target_comp_id = o.target, connect = { target },
      heartbeat = tonumber(o.heartbeat), reconnect = { interval = 1, max_tries = 0 },
      reset_on_logon = o.store == nil or nil, script = script,
    } },
  }
  local norm, errs = config.normalize(t, { source = "fixlua load", base_dir = "." })
  if not norm then
    for _, e in ipairs(errs) do eprintf("%s\n", e) end
    return EXIT_CONFIG
  end
  return run_engine(norm, "fixlua load", quiet, 5)
end

-- ---- check ----

local function check_script(path, begin_string, label)
  local ok, warnings, cbs = fixlua.check_script(path, begin_string)
  if not ok then
    -- (in a configuration, say which session's script it is)
    eprintf("%s%s\n", label and label .. ": " or "", warnings)
    return false
  end
  for _, w in ipairs(warnings) do eprintf("%s\n", w) end
  if #warnings == 0 then
    eprintf("%s: ok (%s)\n", label or path,
            #cbs > 0 and table.concat(cbs, ", ") or "no callbacks: the engine's defaults apply")
  end
  return #warnings == 0
end

local function check_one(path)
  local v, err = load_table_file(path)
  if v == nil then
    eprintf("%s\n", err)
    return EXIT_FAIL
  end
  if not is_config(v) then
    if type(v) ~= "table" then
      eprintf("%s: returns %s, not a table (a script returns a table of callbacks, a "
              .. "configuration a table with sessions)\n", path, config.show(v))
      return EXIT_FAIL
    end
    return check_script(path) and EXIT_OK or EXIT_FAIL
  end
  local norm, errs = config.normalize(v, { source = path, base_dir = dirname(path),
                                           default_store = "var/store" })
  if not norm then
    for _, e in ipairs(errs) do eprintf("%s\n", e) end
    return EXIT_CONFIG
  end
  local status = EXIT_OK
  for _, s in ipairs(norm.sessions) do
    if type(s.script) == "string" then
      if not check_script(s.script, s.begin_string,
                          string.format("%s: session '%s': %s", path, s.name, s.script)) then
        status = EXIT_FAIL
      end
    end
    if s.dictionary then
      local d, derr = fixlua.dictionary(s.dictionary)
      if not d then
        eprintf("%s: session '%s': key 'dictionary': %s\n", path, s.name, derr)
        status = EXIT_CONFIG
      end
    end
  end
  if status == EXIT_OK then
    eprintf("%s: ok (%d session%s)\n", path, #norm.sessions, #norm.sessions == 1 and "" or "s")
  end
  return status
end

local function cmd_check(args)
  if #args == 0 then
    eprintf("fixlua check: which file? fixlua check SCRIPT.lua|CONFIG.lua...\n")
    return EXIT_CONFIG
  end
  local worst = EXIT_OK
  for _, p in ipairs(args) do
    local rc = check_one(p)
    if rc > worst then worst = rc end
  end
  return worst
end

-- ---- main ----

function runner.main(args)
  local cmd = args[1]
  local rest = { select(2, unpack(args)) }
  if cmd == nil or cmd == "help" or cmd == "--help" or cmd == "-h" then
    io.stdout:write(USAGE)
    return cmd == nil and EXIT_CONFIG or EXIT_OK
  elseif cmd == "--version" or cmd == "version" then
    io.stdout:write(string.format("fixlua %s (%s)\n", fixlua.version, jit and jit.version or _VERSION))
    return EXIT_OK
  elseif cmd == "run" then
    return cmd_run(rest)
  elseif cmd == "check" or cmd == "--check" then
    return cmd_check(rest)
  elseif cmd == "load" then
    return cmd_load(rest)
  end
  eprintf("fixlua: unknown command '%s'\n%s", tostring(cmd), USAGE)
  return EXIT_CONFIG
end

return runner
