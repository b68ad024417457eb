-- Configuration checking (lua/fixlua/config.lua): every error names the file, the session,
-- the key and what was expected; unknown keys are errors; defaults are filled in.
local config = require "fixlua.config"

local function session(over)
  local s = { name = "exch", role = "acceptor", begin_string = "FIX.4.4",
              sender_comp_id = "EXEC", target_comp_id = "CLIENT", listen = "127.0.0.1:9878" }
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

local function errors_of(cfg, opts)
  local n, errs = config.normalize(cfg, opts or { source = "CONFIG.lua" })
  assert.is_nil(n)
  return table.concat(errs, "\n"), errs
end

describe("fixlua.config", function()
  it("accepts a minimal config and fills defaults", function()
    local n = assert(config.normalize({ sessions = { session() } }, { source = "c.lua" }))
    assert.equals(1, #n.sessions)
    local s = n.sessions[1]
    assert.equals(30, s.heartbeat)
    assert.equals("acceptor", s.role)
    assert.is_nil(s.store_dir) -- memory store without a default
  end)

  it("reports a bad value with file, session, key and expectation", function()
    local text = errors_of({ sessions = { session{ heartbeat = "abc" } } })
    assert.equals("CONFIG.lua: session 'exch': key 'heartbeat': expected a number 1..3600, got 'abc'", text)
  end)

  it("refuses unknown keys at every level", function()
    local text = errors_of({ sesions = {}, sessions = { session{ hearbeat = 30, store = { dri = "x" } } } })
    assert.matches("CONFIG.lua: unknown key 'sesions'", text, 1, true)
    assert.matches("CONFIG.lua: session 'exch': unknown key 'hearbeat'", text, 1, true)
    assert.matches("store: unknown key 'dri'", text, 1, true)
  end)

  it("checks roles, transports and CompIDs", function()
    local no_listen = session()
    no_listen.listen = nil
    local text = errors_of({ sessions = {
      no_listen,
      { name = "c", role = "initiator", begin_string = "FIX.4.4", sender_comp_id = "C",
        target_comp_id = "*", listen = "x:1" },
      session{ name = "bad name", role = "router" },
    } })
    assert.matches("session 'exch': key 'listen': expected \"host:port\"", text, 1, true)
    assert.matches("session 'c': key 'connect': expected", text, 1, true)
    assert.matches("session 'c': key 'listen' is for acceptors", text, 1, true)
    assert.matches("session 'c': key 'target_comp_id': expected a CompID", text, 1, true)
    assert.matches("session 'bad name': key 'role'", text, 1, true)
    assert.matches("session 'bad name': key 'name'", text, 1, true)
  end)

  it("refuses duplicate names and duplicate routes", function()
    local text = errors_of({ sessions = { session(), session() } })
    assert.matches("two sessions are named 'exch'", text, 1, true)
    assert.matches("listen on 127.0.0.1:9878 with the same CompIDs", text, 1, true)
  end)

  it("needs default_appl_ver_id for FIXT.1.1 and maps names", function()
    local text = errors_of({ sessions = { session{ begin_string = "FIXT.1.1" } } })
    assert.matches("key 'default_appl_ver_id'", text, 1, true)
    local n = assert(config.normalize({ sessions = { session{ begin_string = "FIXT.1.1",
                                                              default_appl_ver_id = "FIX.5.0SP2" } } }))
    assert.equals("9", n.sessions[1].default_appl_ver_id)
  end)

  it("checks the tls table: cert and key together, known keys only, paths resolved", function()
    local text = errors_of({ sessions = { session{ tls = { cert = "c" } } } })
    assert.matches("tls: key 'key': expected 'cert' and 'key' together", text, 1, true)
    text = errors_of({ sessions = { session{ tls = { cert = "c", key = "k", pin = 1 } } } })
    assert.matches("unknown key 'pin'", text, 1, true)
    local n = assert(config.normalize({ sessions = { session{
      tls = { cert = "c.pem", key = "k.pem", ca = "/etc/ca.pem", verify_peer = true } } } },
      { source = "x/c.lua", base_dir = "x" }))
    local tls = n.sessions[1].tls
    assert.equals("x/c.pem", tls.cert)
    assert.equals("x/k.pem", tls.key)
    assert.equals("/etc/ca.pem", tls.ca)
    assert.is_true(tls.verify_peer)
  end)

  it("resolves relative paths against the config's directory", function()
    local n = assert(config.normalize({
      store = { dir = "var/store" }, log = { dir = "/abs/log" },
      sessions = { session{ script = "s.lua", dictionary = "d/FIX44.xml" } },
    }, { source = "x/c.lua", base_dir = "x" }))
    local s = n.sessions[1]
    assert.equals("x/s.lua", s.script)
    assert.equals("x/d/FIX44.xml", s.dictionary)
    assert.equals("x/var/store", s.store_dir)
    assert.equals("/abs/log", s.log_dir)
  end)

  it("merges defaults into every session; a session's keys win", function()
    local n = assert(config.normalize({
      defaults = { heartbeat = 10, begin_string = "FIX.4.2" },
      sessions = { { name = "exch", role = "acceptor", sender_comp_id = "EXEC",
                     target_comp_id = "CLIENT", listen = "127.0.0.1:9878" },
                   session{ name = "b", heartbeat = 5,
                                                           target_comp_id = "B" } },
    }))
    assert.equals(10, n.sessions[1].heartbeat)
    assert.equals("FIX.4.2", n.sessions[1].begin_string)
    assert.equals(5, n.sessions[2].heartbeat)
  end)

  it("refuses numbers the engine's fields cannot hold, and NaN", function()
    local text = errors_of({ sessions = { session{ max_inbound_rate = 2 ^ 32 + 5,
                                                   max_latency = 0 / 0 } } })
    assert.matches("key 'max_inbound_rate': expected a number 0..2147483647", text, 1, true)
    assert.matches("key 'max_latency'", text, 1, true)
    local n = assert(config.normalize({ sessions = { session{ max_inbound_queue_bytes = 4096 } } }))
    assert.equals(4096, n.sessions[1].max_inbound_queue_bytes)
  end)

  it("checks schedules and validation", function()
    local text = errors_of({ sessions = { session{
      schedule = { start = "Sun 17:00", stop = "17:00", tz = "America/New_York" },
      validation = "strict" } } })
    assert.matches("key 'schedule'", text, 1, true)
    assert.matches("key 'validation'", text, 1, true)
    local n = assert(config.normalize({ sessions = { session{
      schedule = { start = "08:00", stop = "17:30", tz = "+01:00" }, validation = "full" } } }))
    assert.same({ weekly = false, start_s = 8 * 3600, stop_s = 17 * 3600 + 1800, tz = "+01:00" },
                n.sessions[1].schedule)
    text = errors_of({ sessions = { session{
      schedule = { start = "Sun 17:00", stop = "Fri 17:00", tz = "America/New_Yrok" } } } })
    assert.matches("key 'schedule'", text, 1, true)
    assert.matches("America/New_Yrok", text, 1, true)
    assert.matches("no such zone", text, 1, true)
    assert.equals("full", n.sessions[1].validation.level)
  end)

  it("allows tables as scripts only where asked (specs), never in files", function()
    local text = errors_of({ sessions = { session{ script = {} } } })
    assert.matches("key 'script': expected a file name", text, 1, true)
    assert(config.normalize({ sessions = { session{ script = {} } } }, { allow_tables = true }))
  end)

  it("says what a non-table config is", function()
    local _, errs = config.normalize(42, { source = "c.lua" })
    assert.equals("c.lua: the configuration must return a table, got 42", errs[1])
  end)
end)
