-- A script error inside each kind of callback: the engine keeps running, logs the error with
-- the session id and a traceback, counts it, and resolves it fail-closed (SCRIPTING.md).
local H = require "support.helpers"

local function boom() error("boom") end

-- The errors below are expected: keep them off the test output (they are still logged).
local real_pair = H.pair
local function quiet_pair(opts)
  opts = opts or {}
  opts.engine = { log_stderr = false }
  return real_pair(opts)
end

local function order(id)
  return { MsgType = "D", ClOrdID = id, Symbol = "IBM", Side = "BUY", OrderQty = 1,
           OrdType = "MARKET", HandlInst = "1", TransactTime = 0 }
end

describe("script errors", function()
  local eng, dir
  after_each(function()
    if eng then eng:close() eng = nil end
    H.rmdir(dir)
    dir = nil
  end)

  it("in validate_logon refuse the logon (without leaking the error to the peer)", function()
    local rejected
    local acc
    eng, acc = quiet_pair{
      acceptor = { script = { validate_logon = boom } },
      initiator = { reconnect = { interval = 60 },
                    script = { on_logon_rejected = function(_, t) rejected = t end } },
    }
    H.step_until(eng, function() return rejected ~= nil end, "refusal")
    assert.equals("Logon rejected", rejected)
    assert.equals(1, acc:stats().callbacks.validate_logon.errors)
  end)

  it("in validate_logon's return value (not a decision) refuse the logon", function()
    local rejected
    eng = quiet_pair{
      acceptor = { script = { validate_logon = function() return "maybe" end } },
      initiator = { reconnect = { interval = 60 },
                    script = { on_logon_rejected = function(_, t) rejected = t end } },
    }
    H.step_until(eng, function() return rejected ~= nil end, "refusal")
  end)

  it("in prepare_logon send the Logon without the script's fields", function()
    local user = "unset"
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { script = { validate_logon = function(_, m) user = m.Username return true end } },
      initiator = { script = { prepare_logon = function() return { Username = "u", Bogus = 1 } end } },
    }
    H.logon(eng, acc, ini)
    assert.is_nil(user)
    assert.equals(1, ini:stats().errors)
  end)

  it("in prepare_logon, a field the engine writes in the Logon, send it without the script's",
     function()
    local heartbeats, user = nil, "unset"
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { script = { validate_logon = function(_, m)
        heartbeats, user = m:count("HeartBtInt"), m.Username
        return true
      end } },
      initiator = { script = { prepare_logon = function()
        return { Username = "u", HeartBtInt = 10 }
      end } },
    }
    H.logon(eng, acc, ini)
    assert.equals(1, heartbeats)                   -- not 108=30|108=10
    assert.is_nil(user)
    assert.equals(1, ini:stats().errors)
  end)

  it("in notifications are logged and counted; the session carries on", function()
    local acc, ini
    local s = {}
    for _, n in ipairs({ "on_create", "on_connect", "on_logon", "on_state_change", "on_inbound",
                         "on_admin", "on_outbound", "on_raw_inbound" }) do s[n] = boom end
    local got
    s.on_message = function(_, m) got = m.ClOrdID end
    eng, acc, ini = quiet_pair{ acceptor = { script = s } }
    H.logon(eng, acc, ini)
    assert(ini:send(order("N1")))
    H.step_until(eng, function() return got == "N1" end, "message still delivered")
    local st = acc:stats()
    assert.is_true(st.errors >= 8)
    assert.equals(1, st.callbacks.on_create.errors)
    assert.equals("active", acc:state())
  end)

  it("in on_message answer with BusinessMessageReject when configured", function()
    local bmr
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { business_reject_on_error = true, script = { on_message = boom } },
      initiator = { script = { on_message = function(_, m) bmr = m:copy() end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("B1")))
    H.step_until(eng, function() return bmr ~= nil end, "BusinessMessageReject")
    assert.equals("j", bmr:type())
    assert.equals("D", bmr.RefMsgType)
    assert.equals(2, bmr:int("RefSeqNum"))
  end)

  it("in should_replay gap-fill the message instead of resending it", function()
    local got = {}
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { script = { should_replay = boom } },
      initiator = { script = { on_message = function(_, m) got[#got + 1] = m:poss_dup() end } },
    }
    H.logon(eng, acc, ini)
    assert(acc:send{ MsgType = "j", RefSeqNum = 1, RefMsgType = "D", BusinessRejectReason = 0 })
    H.step_until(eng, function() return #got == 1 end, "first message")
    ini:next_target_seq(2)
    assert(acc:send{ MsgType = "j", RefSeqNum = 1, RefMsgType = "D", BusinessRejectReason = 0 })
    H.step_until(eng, function() return ini:next_target_seq() == 4 end, "gap filled")
    H.settle(eng, 20)
    for _, dup in ipairs(got) do assert.is_false(dup) end -- nothing came back as PossDup
    assert.is_true(acc:stats().callbacks.should_replay.errors >= 1)
  end)

  it("in on_resend_request gap-fill the range", function()
    local got = {}
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { script = { on_resend_request = boom } },
      initiator = { script = { on_message = function(_, m) got[#got + 1] = m:poss_dup() end } },
    }
    H.logon(eng, acc, ini)
    assert(acc:send{ MsgType = "j", RefSeqNum = 1, RefMsgType = "D", BusinessRejectReason = 0 })
    H.step_until(eng, function() return #got == 1 end, "first message")
    ini:next_target_seq(2)
    assert(acc:send{ MsgType = "j", RefSeqNum = 1, RefMsgType = "D", BusinessRejectReason = 0 })
    H.step_until(eng, function() return ini:next_target_seq() == 4 end, "gap filled")
    for _, dup in ipairs(got) do assert.is_false(dup) end
    assert.equals("active", ini:state())
  end)

  it("in a timer keep the timer running", function()
    local n = 0
    local acc, ini
    eng, acc, ini = quiet_pair{
      acceptor = { script = { on_logon = function(s)
        s:every(1, function() n = n + 1 error("tick failed") end)
      end } },
    }
    H.logon(eng, acc, ini)
    eng:advance(3.5)
    assert.equals(3, n)
    assert.equals(3, acc:stats().callbacks.timer.errors)
  end)

  it("are logged with the session id, the callback, the script line and a traceback", function()
    dir = H.tmpdir()
    H.write(dir .. "/bad.lua", table.concat({
      "local M = {}",
      "function M.on_message(session, msg)",
      "  local x = msg.NoSuchField",        -- raised in C: the script line is added
      "end",
      "function M.on_logon(session)",
      "  error('logon hook failed')",
      "end",
      "return M",
    }, "\n"))
    local acc, ini
    eng, acc, ini = quiet_pair{ acceptor = { script = dir .. "/bad.lua", log = { dir = dir .. "/log" } } }
    H.logon(eng, acc, ini)
    assert(ini:send(order("L1")))
    H.step_until(eng, function() return acc:stats().errors >= 2 end, "errors")
    eng:close()
    eng = nil
    local log = H.read(dir .. "/log/exch.events.log")
    assert.matches("[FIX.4.4:EXEC->CLIENT] on_logon: " .. dir .. "/bad.lua:6: logon hook failed", log, 1, true)
    assert.matches("[FIX.4.4:EXEC->CLIENT] on_message: " .. dir .. "/bad.lua:3: fixlua: unknown FIX field 'NoSuchField'", log, 1, true)
    assert.matches("stack traceback:", log, 1, true)
  end)
end)
