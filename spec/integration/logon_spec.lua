-- Logon decided by scripts: accepted, refused with a reason, deferred, prepared (extra fields),
-- and unknown CompIDs on a "*" template acceptor. Acceptor and initiator run in one engine on
-- 127.0.0.1 port 0 under a manual clock.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("logon", function()
  local eng
  after_each(function() if eng then eng:close() eng = nil end end)

  it("is accepted by validate_logon, and both sides hear about it", function()
    local seen = {}
    local acc_rec = H.recorder{
      validate_logon = function(s, m)
        seen.sender = m.SenderCompID
        seen.heartbeat = m:int("HeartBtInt")
        seen.same_session = s
        return true
      end,
    }
    local ini_rec = H.recorder()
    local acc, ini
    eng, acc, ini = H.pair{ acceptor = { script = acc_rec.script }, initiator = { script = ini_rec.script } }
    H.logon(eng, acc, ini)
    assert.equals("CLIENT", seen.sender)
    assert.equals(30, seen.heartbeat)
    assert.is_true(seen.same_session == acc) -- the same object reaches every callback
    assert.equals(1, acc_rec.count("on_logon"))
    assert.equals(1, ini_rec.count("on_logon"))
    assert.equals(1, acc_rec.count("on_create"))
    assert.equals(1, ini_rec.count("on_connect"))
    local states = {}
    for _, c in ipairs(ini_rec.all("on_state_change")) do states[#states + 1] = c.args[2] end
    assert.same({ "connected", "logon_sent", "active" }, states)
    assert.equals("FIX.4.4:EXEC->CLIENT", acc:id())
    assert.equals("acceptor", acc:role())
    assert.equals("initiator", ini:role())
    assert.equals(30, ini:heartbeat_interval())
  end)

  it("is refused by validate_logon with the script's reason", function()
    local rejected
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { validate_logon = function() return false, "bad password" end } },
      initiator = { script = { on_logon_rejected = function(_, text) rejected = text end },
                    reconnect = { interval = 60 } },
    }
    H.step_until(eng, function() return rejected ~= nil end, "logon rejected")
    assert.equals("bad password", rejected)
    assert.are_not.equals("active", acc:state())
  end)

  it("can be deferred and accepted later from a timer", function()
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = {
        validate_logon = function(s)
          s:after(2, function(sess) assert(sess:accept_logon()) end)
          return "defer"
        end,
      } },
    }
    H.step_until(eng, function() return acc:state() == "logon_pending" end, "logon pending")
    H.settle(eng, 20)
    assert.equals("logon_pending", acc:state())
    assert.has_error(function() ini:accept_logon() end)
    eng:advance(2)
    H.logon(eng, acc, ini)
  end)

  it("can be deferred and refused later", function()
    local rejected
    local acc
    eng, acc = H.pair{
      acceptor = { script = { validate_logon = function() return "defer" end } },
      initiator = { script = { on_logon_rejected = function(_, t) rejected = t end },
                    reconnect = { interval = 60 } },
    }
    H.step_until(eng, function() return acc:state() == "logon_pending" end, "logon pending")
    assert(acc:reject_logon("try later"))
    H.step_until(eng, function() return rejected ~= nil end, "rejection")
    assert.equals("try later", rejected)
  end)

  it("carries the fields prepare_logon returns", function()
    local user
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { validate_logon = function(_, m)
        user = m.Username
        return m.Password == "secret", "wrong password"
      end } },
      initiator = { script = { prepare_logon = function() return { Username = "alice", [554] = "secret" } end } },
    }
    H.logon(eng, acc, ini)
    assert.equals("alice", user)
  end)

  it("lets a \"*\" template acceptor take a CompID it was not configured for", function()
    local created, decided
    eng = assert(fixlua.engine{ manual_clock = true })
    eng:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                     sender_comp_id = "EXEC", target_comp_id = "*", listen = "127.0.0.1:0",
                     script = {
                       on_create = function(s) created = s:name() end,
                       validate_logon = function(s, m)
                         decided = m.SenderCompID
                         return m.SenderCompID:match("^NEW") ~= nil, "unknown firm"
                       end,
                     } }
    assert(eng:start())
    local port = eng:port("exch")
    local ini = eng:add_session{ name = "newco", role = "initiator", begin_string = "FIX.4.4",
                                 sender_comp_id = "NEWCO", target_comp_id = "EXEC",
                                 connect = "127.0.0.1:" .. port }
    H.step_until(eng, function() return ini:state() == "active" end, "NEWCO logged on")
    assert.equals("NEWCO", decided)
    assert.equals("exch.NEWCO", created)
    local dyn = eng:session("exch.NEWCO")
    assert.equals("active", dyn:state())
    assert.equals("FIX.4.4:EXEC->NEWCO", dyn:id())

    local rejected
    local bad = eng:add_session{ name = "other", role = "initiator", begin_string = "FIX.4.4",
                                 sender_comp_id = "OTHER", target_comp_id = "EXEC",
                                 connect = "127.0.0.1:" .. port, reconnect = { interval = 60 },
                                 script = { on_logon_rejected = function(_, t) rejected = t end } }
    H.step_until(eng, function() return rejected ~= nil end, "OTHER refused")
    assert.equals("unknown firm", rejected)
    assert.are_not.equals("active", bad:state())
  end)

  it("refuses an unknown CompID when the template's script has no validate_logon", function()
    eng = assert(fixlua.engine{ manual_clock = true })
    eng:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                     sender_comp_id = "EXEC", target_comp_id = "*", listen = "127.0.0.1:0",
                     script = {} }
    assert(eng:start())
    local rejected
    local ini = eng:add_session{ name = "x", role = "initiator", begin_string = "FIX.4.4",
                                 sender_comp_id = "X", target_comp_id = "EXEC",
                                 connect = "127.0.0.1:" .. eng:port("exch"),
                                 reconnect = { interval = 60 },
                                 script = { on_logon_rejected = function(_, t) rejected = t end } }
    H.step_until(eng, function() return rejected ~= nil end, "refused")
    assert.equals("unknown CompID", rejected)
    assert.are_not.equals("active", ini:state())
  end)

  it("times out a logon nobody answers", function()
    local timed_out = false
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { validate_logon = function() return "defer" end } },
      initiator = { logon_timeout = 5, reconnect = { interval = 60 },
                    script = { on_logon_timeout = function() timed_out = true end } },
    }
    H.step_until(eng, function() return acc:state() == "logon_pending" end, "pending")
    eng:advance(6)
    H.step_until(eng, function() return timed_out end, "logon timeout")
    assert.are_not.equals("active", ini:state())
  end)
end)
