-- fixlua — the Lua half of the module (embedded as LuaJIT bytecode, see lua/CMakeLists.txt).
-- fl_lua_open() builds the C part of the table (messages, dictionaries, sessions, engines) and
-- calls the function this chunk returns with it; we add what is easier said in Lua: checking
-- configurations before they reach C, and a few conveniences. See SCRIPTING.md.

return function(M)
  -- Compiled field reads and table sends in front of their C versions (fixlua/fast.lua).
  require("fixlua.fast")(M._fast_message, M._fast_session)
  M._fast_message, M._fast_session = nil, nil
  local config = require "fixlua.config"
  local raw_engine = M._engine
  local methods = M._engine_methods
  -- engine -> the store/log defaults of its configuration, for add_session()
  local defaults_of = setmetatable({}, { __mode = "k" })

  -- fixlua.engine{ sessions = {...}, manual_clock = true, ... } -> engine | nil, err, code
  -- Configuration errors raise (they are the caller's bug); failures to set a session up
  -- (a script that does not load, a store that cannot open) return nil, err, code.
  function M.engine(cfg, opts)
    opts = opts or {}
    local norm, errs = config.normalize(cfg, {
      source = opts.source or "fixlua.engine{}",
      base_dir = opts.base_dir,
      default_store = opts.default_store,
      allow_tables = true,
    })
    if not norm then error(table.concat(errs, "\n"), 2) end
    if opts.log_stderr ~= nil then norm.log_stderr = opts.log_stderr end
    local eng, err, code = raw_engine(norm)
    if eng then defaults_of[eng] = norm.defaults end
    return eng, err, code
  end

  -- engine:add_session(cfg) checks the session table the same way.
  local raw_add = methods.add_session
  function methods.add_session(self, s)
    local n, errs = config.normalize_session(s, { source = "engine:add_session", allow_tables = true,
                                                  defaults = defaults_of[self] })
    if not n then error(table.concat(errs, "\n"), 2) end
    return raw_add(self, n)
  end

  -- engine:run_until(cond [, max_iterations [, sleep]]) steps the loop until cond() is true.
  -- Returns true, or false after max_iterations (default 10000) — never hangs.
  function methods.run_until(self, cond, max, pause)
    max = max or 10000
    for _ = 1, max do
      if cond() then return true end
      if not self:run_once(false) then return cond() and true or false end
      if pause and pause > 0 then M.sleep(pause) end
    end
    return cond() and true or false
  end

  M.states = { "disconnected", "connected", "logon_sent", "logon_pending", "active", "resending",
               "logout_sent" }

  -- fixlua.check_script(path [, begin_string]) -> true, warnings (list), callbacks (list) | nil, err
  function M.check_script(path, begin_string)
    local ok, warnings, cbs = M._check_script(path, begin_string)
    if not ok then return nil, warnings end
    local list = {}
    for line in warnings:gmatch("[^\n]+") do list[#list + 1] = line end
    return true, list, cbs
  end

  return M
end
