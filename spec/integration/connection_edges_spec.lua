-- Connections at their edges: a script that closes one from on_connect, a disconnect while the
-- TCP connect is still in progress, failover past a host that refuses or ignores the Logon,
-- max_tries counting attempts that never logged on, and backpressure that ends with the
-- connection. Each of these crashed, stuck or looped before.
local fixlua = require "fixlua"
local H = require "support.helpers"

local function order(id)
  return { MsgType = "D", ClOrdID = id, Side = "BUY", Symbol = "X", OrderQty = 1,
           OrdType = "MARKET", HandlInst = "1", TransactTime = 0 }
end

describe("connection edges", function()
  local engines = {}
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
  end)
  local function engine()
    local e = assert(fixlua.engine{ manual_clock = true, log_stderr = false })
    engines[#engines + 1] = e
    return e
  end
  -- Runs every engine until cond() holds, moving the clock a step when nothing is pending.
  local function until_(cond, what, secs)
    for _ = 1, (secs or 30) * 10 do
      if cond() then return end
      for _, e in ipairs(engines) do
        for _ = 1, 20 do e:run_once(false) end
      end
      if cond() then return end
      for _, e in ipairs(engines) do e:advance(0.1) end
    end
    assert(cond(), "timed out waiting for " .. what)
  end

  it("lets an acceptor's on_connect disconnect or log out", function()
    for _, how in ipairs({ "disconnect", "logout" }) do
      local connects = 0
      local eng, acc, ini = H.pair{
        engine = { log_stderr = false },
        acceptor = { script = { on_connect = function(s)
          connects = connects + 1
          if connects == 1 then s[how](s, "not now") end
        end } },
      }
      engines[#engines + 1] = eng
      -- the first connection is closed from on_connect; the initiator's next one logs on
      until_(function() return acc:state() == "active" and ini:state() == "active" end,
             how .. " then a logon")
      assert.equals(2, connects)
    end
  end)

  it("lets an initiator's on_connect disconnect, and logs on at the next connection", function()
    local connects = 0
    local eng, acc, ini = H.pair{
      engine = { log_stderr = false },
      initiator = { script = { on_connect = function(s)
        connects = connects + 1
        if connects == 1 then s:disconnect("not now") end
      end } },
    }
    engines[#engines + 1] = eng
    until_(function() return ini:state() == "active" and acc:state() == "active" end, "logon")
    assert.equals(2, connects)                   -- not stuck in logon_sent on a dead connection
  end)

  it("gives up a connect in progress on disconnect(), and connects again later", function()
    local eng, acc, ini = H.pair{ engine = { log_stderr = false } }
    engines[#engines + 1] = eng
    ini:disconnect("changed my mind")          -- the TCP connect was just started
    assert.equals("disconnected", ini:state())
    until_(function() return ini:state() == "active" and acc:state() == "active" end, "logon")
  end)

  -- Two acceptor engines: A refuses (or ignores) every Logon, B accepts.
  local function hosts(a_script)
    local ea, eb = engine(), engine()
    local function acceptor(e, script)
      e:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                     sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                     listen = "127.0.0.1:0", script = script }
      assert(e:start())
      return "127.0.0.1:" .. e:port("exch")
    end
    return acceptor(ea, a_script), acceptor(eb, {})
  end
  local function initiator(list, max_tries, seen)
    local e = engine()
    local s = e:add_session{
      name = "client", role = "initiator", begin_string = "FIX.4.4", sender_comp_id = "CLIENT",
      target_comp_id = "EXEC", connect = list, logon_timeout = 2,
      reconnect = { interval = 1, max_tries = max_tries },
      script = { on_connect = function(_, peer) seen[#seen + 1] = peer end } }
    assert(e:start())
    return s
  end

  it("fails over to the next host when the first refuses the Logon", function()
    local a, b = hosts{ validate_logon = function() return false, "go away" end }
    local seen = {}
    local ini = initiator({ a, b }, 0, seen)
    until_(function() return ini:state() == "active" end, "logon at B")
    assert.same({ a, b }, seen)
  end)

  it("fails over when the first host never answers the Logon", function()
    local a, b = hosts{ validate_logon = function() return "defer" end }
    local seen = {}
    local ini = initiator({ a, b }, 0, seen)
    until_(function() return ini:state() == "active" end, "logon at B")
    assert.same({ a, b }, seen)
  end)

  it("counts attempts that never logged on towards max_tries, and stops", function()
    local a = hosts{ validate_logon = function() return false, "go away" end }
    local seen = {}
    local ini = initiator({ a }, 3, seen)
    until_(function() return #seen == 3 and ini:state() == "disconnected" end, "three tries")
    for _ = 1, 5 do
      for _, e in ipairs(engines) do e:advance(1) e:run_once(false) end
    end
    assert.equals(3, #seen)                        -- and no fourth
  end)

  it("refuses engine:close() from a callback a host call runs", function()
    local err
    local eng, acc, ini
    eng, acc, ini = H.pair{
      engine = { log_stderr = false },
      initiator = { script = { on_disconnect = function()
        local ok, e = pcall(eng.close, eng)
        err = ok and "closed" or e
      end } },
    }
    engines[#engines + 1] = eng
    H.logon(eng, acc, ini)
    ini:disconnect("bye")                          -- runs on_disconnect outside engine:run()
    assert.matches("engine:close%(%) inside a callback", err)
    assert.equals("disconnected", ini:state())     -- and the engine is still there
  end)

  it("closes an engine collected inside a callback only once the callback is over", function()
    -- The engine object is dropped while its sessions are kept; a collection inside the
    -- on_outbound that a send runs used to free the engine under that send.
    local acc, ini
    local collected = false
    do
      local eng
      eng, acc, ini = H.pair{ engine = { log_stderr = false }, initiator = { script = {
        on_outbound = function(_, m)
          if m:type() == "D" then
            collectgarbage()
            collectgarbage()
            collected = true
          end
        end } } }
      H.logon(eng, acc, ini)
    end
    assert(ini:send(order("GC1")))          -- the engine object is collected in there
    assert.is_true(collected)
    assert.has_error(function() ini:state() end, "fixlua: session is closed")
  end)

  it("closes an engine collected inside a callback when its last session object goes", function()
    local acc, ini, port
    do
      local eng
      eng, acc, ini = H.pair{ engine = { log_stderr = false }, initiator = { script = {
        on_outbound = function(_, m)
          if m:type() == "D" then collectgarbage() collectgarbage() end
        end } } }
      H.logon(eng, acc, ini)
      port = eng:port("exch")
    end
    assert(ini:send(order("GC2")))
    acc, ini = nil, nil                      -- no method is called again
    collectgarbage()
    collectgarbage()
    -- closed: its listening port is free again
    local e2 = engine()
    e2:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                    sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                    listen = "127.0.0.1:" .. port, script = {} }
    assert(e2:start())
  end)

  it("refuses timer delays and periods the engine cannot keep", function()
    local errors = {}
    local eng, acc, ini = H.pair{ engine = { log_stderr = false }, initiator = { script = {
      on_logon = function(s)
        for _, case in ipairs({ { "after", 1e10 }, { "after", math.huge }, { "after", -1 },
                                { "every", 1e-12 }, { "every", 0 }, { "every", 0 / 0 } }) do
          local ok, err = pcall(s[case[1]], s, case[2], function() end)
          errors[#errors + 1] = ok and "accepted" or
                                tostring(err):match("%((a [^()]*)%)$") or tostring(err)
        end
        assert(s:after(1e9, function() end)) -- the bounds themselves are fine
        assert(s:every(0.001, function() end)):cancel()
      end } } }
    engines[#engines + 1] = eng
    H.logon(eng, acc, ini)
    assert.same({ "a delay of 0 to 1e9 seconds", "a delay of 0 to 1e9 seconds",
                  "a delay of 0 to 1e9 seconds", "a period of 0.001 to 1e9 seconds",
                  "a period of 0.001 to 1e9 seconds", "a period of 0.001 to 1e9 seconds" }, errors)
  end)

  it("runs timers due at the same instant in the order they were made", function()
    local ran = {}
    local eng, acc, ini = H.pair{ engine = { log_stderr = false }, initiator = { script = {
      on_logon = function(s)
        for i = 1, 6 do
          s:after(i % 2 == 0 and 1 or 2, function() ran[#ran + 1] = i end)
        end
      end } } }
    engines[#engines + 1] = eng
    H.logon(eng, acc, ini)
    eng:advance(2)
    assert.same({ 2, 4, 6, 1, 3, 5 }, ran)
  end)

  it("raises for a TestRequest asked for before logon", function()
    local err
    local eng, acc, ini = H.pair{ engine = { log_stderr = false }, initiator = { script = {
      on_connect = function(s)
        local ok, e = pcall(s.send_test_request, s)
        err = ok and "sent" or e
      end } } }
    engines[#engines + 1] = eng
    H.logon(eng, acc, ini)
    assert.matches("send_test_request%(%) needs a logged%-on session", err)
    assert.matches("^TEST%-", ini:send_test_request())
  end)

  it("says the backpressure is over when the connection that had it ends", function()
    local events = {}
    local eng, acc, ini = H.pair{
      engine = { log_stderr = false },
      initiator = { output_high_watermark = 100, script = {
        on_backpressure = function(_, above) events[#events + 1] = above end } },
    }
    engines[#engines + 1] = eng
    H.logon(eng, acc, ini)
    for i = 1, 5 do assert(ini:send(order("B" .. i))) end
    assert.same({ true }, events)                  -- queued, not written yet
    ini:disconnect("drop")
    assert.same({ true, false }, events)
  end)

  it("writes the Logout of a shutdown without grace before the engine stops", function()
    local got = {}
    local ea, eb = engine(), engine()
    local acc = ea:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
      sender_comp_id = "EXEC", target_comp_id = "CLIENT", listen = "127.0.0.1:0",
      heartbeat = 30, script = { on_logout = function(_, text) got.logout = text end } }
    assert(ea:start())
    local ini = eb:add_session{ name = "client", role = "initiator", begin_string = "FIX.4.4",
      sender_comp_id = "CLIENT", target_comp_id = "EXEC",
      connect = "127.0.0.1:" .. ea:port("exch"), heartbeat = 30 }
    assert(eb:start())
    until_(function() return acc:state() == "active" and ini:state() == "active" end, "logon")
    eb:shutdown(0)
    until_(function() return acc:state() == "disconnected" end, "the acceptor to disconnect")
    assert.is_true(eb:stopped())
    assert.equals("shutting down", got.logout)
  end)
end)
