-- What recovery repairs in a session's journal when its engine opens it is reported, in the
-- session's event log and to the engine's log, before the session does anything else.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("journal recovery", function()
  local dir, eng
  after_each(function()
    if eng then eng:close() eng = nil end
    H.rmdir(dir)
  end)

  local function engine()
    eng = assert(fixlua.engine{ manual_clock = true, store = { dir = dir .. "/store" },
                                log = { dir = dir .. "/log", events = true }, log_stderr = false })
    eng:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                     sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                     listen = "127.0.0.1:0", script = {} }
    assert(eng:start())
  end

  it("reports a torn record it cut off in the session's event log", function()
    dir = H.tmpdir()
    engine()
    eng:close()
    eng = nil
    local journal = dir .. "/store/exch.journal"
    local clean = assert(H.read(journal))
    -- a crash in the middle of the next record's header: ten bytes of it
    local f = assert(io.open(journal, "ab"))
    f:write(("\171"):rep(10))
    f:close()
    engine()
    eng:close()
    eng = nil
    local events = assert(H.read(dir .. "/log/exch.events.log"))
    assert.is_truthy(events:find("WARN  " .. journal .. ": cut off a torn last record at offset " ..
                                 #clean, 1, true), events)
    assert.equals(#clean, #assert(H.read(journal)))
  end)
end)
