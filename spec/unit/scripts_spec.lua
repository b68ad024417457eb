-- The ready-made scripts under scripts/, driven through fixlua.testing fake sessions.
local testing = require "fixlua.testing"

local function order(over)
  local t = { MsgType = "D", ClOrdID = "C1", Symbol = "IBM", Side = "BUY", OrderQty = 100,
              OrdType = "LIMIT", Price = 10, HandlInst = "1" }
  for k, v in pairs(over or {}) do t[k] = v end
  return testing.message(t)
end

describe("scripts/exchange.lua", function()
  local ex, s
  before_each(function()
    ex = testing.load("scripts/exchange.lua")
    s = testing.session{ role = "acceptor", sender_comp_id = "EXEC", target_comp_id = "CLIENT" }
  end)

  it("acknowledges and fills a small order", function()
    ex.on_message(s, order())
    assert.equals(2, #s.sent)
    assert.equals("NEW", (s.sent[1]:enum("ExecType")))
    assert.equals("TRADE", (s.sent[2]:enum("ExecType")))
    assert.equals("FILLED", (s.sent[2]:enum("OrdStatus")))
    assert.equals(100, s.sent[2]:decimal("CumQty"))
    assert.equals(0, s.sent[2]:decimal("LeavesQty"))
    assert.equals("C1", s.sent[2].ClOrdID)
  end)

  it("part-fills a large order and leaves the rest open for a cancel", function()
    ex.on_message(s, order{ OrderQty = 3000 })
    local last = s:last_sent()
    assert.equals("PARTIALLY_FILLED", (last:enum("OrdStatus")))
    assert.equals(1500, last:decimal("LeavesQty"))
    s:clear()
    ex.on_message(s, testing.message{ MsgType = "F", ClOrdID = "X1", OrigClOrdID = "C1",
                                      Side = "BUY", Symbol = "IBM" })
    assert.equals("CANCELED", (s:last_sent():enum("ExecType")))
    assert.equals("C1", s:last_sent().OrigClOrdID)
  end)

  it("rejects unknown symbols, bad quantities and limit orders without a price", function()
    ex.on_message(s, order{ Symbol = "REJECT" })
    ex.on_message(s, order{ ClOrdID = "C2", OrderQty = 0 })
    ex.on_message(s, testing.message{ MsgType = "D", ClOrdID = "C3", Symbol = "IBM", Side = "BUY",
                                      OrderQty = 5, OrdType = "LIMIT" })
    assert.equals(3, #s.sent)
    for _, m in ipairs(s.sent) do assert.equals("REJECTED", (m:enum("OrdStatus"))) end
    assert.equals("1", s.sent[1].OrdRejReason)
  end)

  it("answers a cancel for an unknown order with OrderCancelReject", function()
    ex.on_message(s, testing.message{ MsgType = "F", ClOrdID = "X", OrigClOrdID = "nope" })
    local r = s:last_sent()
    assert.equals("9", r:type())
    assert.equals("UNKNOWN_ORDER", (r:enum("CxlRejReason")))
  end)

  it("speaks FIX.4.2 exec types", function()
    local s42 = testing.session{ begin_string = "FIX.4.2" }
    ex.on_message(s42, order())
    assert.equals("0", s42.sent[1].ExecTransType)
    assert.equals("FILL", (s42.sent[2]:enum("ExecType")))
  end)

  it("rejects message types it does not trade", function()
    ex.on_message(s, testing.message{ MsgType = "V", MDReqID = "1" })
    assert.equals("j", s:last_sent():type())
  end)
end)

describe("scripts/client.lua", function()
  it("sends orders at the configured rate, counts answers and logs out when done", function()
    local cl = testing.load("scripts/client.lua")
    local out = { text = "" }
    function out:write(...) for _, x in ipairs({ ... }) do self.text = self.text .. x end end
    cl.configure{ rate = 100, count = 10, tick = 0.01, out = out, exit = true, symbols = "IBM" }
    local s = testing.session{ role = "initiator" }
    cl.on_logon(s)
    s:advance(0.2)
    assert.equals(10, #s.sent)
    assert.equals("D", s.sent[1]:type())
    local ex = testing.load("scripts/exchange.lua")
    local exs = testing.session{ role = "acceptor" }
    for _, o in ipairs(s.sent) do ex.on_message(exs, o) end
    for _, er in ipairs(exs.sent) do cl.on_message(s, er) end
    assert.equals(10, cl.stats().acked)
    assert.truthy(s.logged_out)
    assert.matches("client summary: 10 orders", out.text)
    cl.on_disconnect(s)
    assert.is_true(s.engine_stopped)
  end)

  it("prints a summary when it is stopped before the end (--count 0 runs until Ctrl-C)", function()
    local cl = testing.load("scripts/client.lua")
    local out = { text = "" }
    function out:write(...) for _, x in ipairs({ ... }) do self.text = self.text .. x end end
    cl.configure{ rate = 100, count = 0, tick = 0.01, out = out, exit = true, progress = false }
    local s = testing.session{ role = "initiator" }
    cl.on_logon(s)
    s:advance(0.1)
    assert.is_true(#s.sent > 0)
    cl.on_disconnect(s)                              -- the engine logged it out (Ctrl-C)
    assert.matches("client summary: " .. #s.sent .. " orders", out.text)
    assert.is_false(s.engine_stopped)              -- a reconnect may go on trading
  end)

  it("backs off when the output queue is full", function()
    local cl = testing.load("scripts/client.lua")
    cl.configure{ rate = 100, count = 0, tick = 0.01, progress = false }
    local s = testing.session{ role = "initiator" }
    s.fail_sends = "EAGAIN"
    cl.on_logon(s)
    s:advance(0.1)
    assert.equals(0, cl.stats().sent)
    assert.equals("", s:log_text("warn"))
    s.fail_sends = nil
    s:advance(0.1)
    assert.is_true(cl.stats().sent > 0)
  end)
end)

describe("scripts/echo.lua", function()
  it("sends each application message back", function()
    local echo = testing.load("scripts/echo.lua")
    local s = testing.session()
    echo.on_message(s, order{ ClOrdID = "E1" })
    assert.equals("E1", s:last_sent().ClOrdID)
    assert.equals("D", s:last_sent():type())
  end)
end)

describe("fixlua.testing", function()
  it("runs timers in order on a fake clock and lets them be cancelled", function()
    local s = testing.session{ now = 100 }
    local fired = {}
    s:after(2, function() fired[#fired + 1] = "a" end)
    local t = s:every(1, function(_, tm) fired[#fired + 1] = "e" .. s:now() end)
    s:advance(1.5)
    assert.same({ "e101" }, fired)
    t:cancel()
    s:advance(5)
    assert.same({ "e101", "a" }, fired)
    assert.equals(106.5, s:now())
  end)

  it("fakes deferred logons", function()
    local s = testing.session{ state = "logon_pending" }
    s:accept_logon()
    assert.equals("active", s:state())
    assert.has_error(function() s:accept_logon() end)
  end)
end)
