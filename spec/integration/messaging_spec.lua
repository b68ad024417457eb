-- Messages between two sessions: queued-before-logon delivery, inbound views that expire,
-- the inbound/outbound/raw/admin callbacks, Reject(3) and validation, cross-session sends from
-- script files running in their own lua_State, send()'s failure tuple, and backpressure.
local fixlua = require "fixlua"
local H = require "support.helpers"

local function order(id)
  return { MsgType = "D", ClOrdID = id, Symbol = "IBM", Side = "BUY", OrderQty = 100,
           OrdType = "LIMIT", Price = 10.5, HandlInst = "1", TransactTime = 0 }
end

describe("messaging", function()
  local eng, dir
  after_each(function()
    if eng then eng:close() eng = nil end
    H.rmdir(dir)
    dir = nil
  end)

  it("delivers messages sent before logon once logged on, in order", function()
    local got = {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m) got[#got + 1] = m.ClOrdID end } },
      initiator = { script = {} },
    }
    assert(ini:send(order("Q1")))
    assert(ini:send(fixlua.message(order("Q2"))))
    assert.equals("disconnected", ini:state() == "active" and "active" or "disconnected")
    H.step_until(eng, function() return #got == 2 end, "queued messages")
    assert.same({ "Q1", "Q2" }, got)
    assert.equals(4, ini:next_sender_seq()) -- Logon + 2
  end)

  it("gives views that expire after the callback, and copies that do not", function()
    local view, copy
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        view, copy = m, m:copy()
        assert(m:is_view())
        assert.has_error(function() m.ClOrdID = "x" end)
      end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("V1")))
    H.step_until(eng, function() return copy ~= nil end, "message")
    assert.has_error(function() return view.ClOrdID end,
                     "fixlua: message used outside its callback; use msg:copy()")
    assert.matches("expired", tostring(view))
    assert.equals("V1", copy.ClOrdID)
    assert.equals("CLIENT", copy.SenderCompID)
  end)

  it("runs a script file's state with collector pause 400, which the script may change",
     function()
    dir = H.tmpdir()
    -- The answer goes back in the order's Text: the script's state is not the spec's.
    H.write(dir .. "/gc.lua", [[
      return { on_message = function(session, msg)
        local was = collectgarbage("setpause", 250)
        local now = collectgarbage("setpause", 250)
        session:send{ MsgType = "8", OrderID = "1", ExecID = "1", ExecType = "NEW",
                      OrdStatus = "NEW", ClOrdID = msg.ClOrdID, Symbol = "IBM", Side = "BUY",
                      LeavesQty = 0, CumQty = 0, AvgPx = 0, Text = was .. "," .. now }
      end }
    ]])
    local er
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = dir .. "/gc.lua" },
      initiator = { script = { on_message = function(_, m) er = m:copy() end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("G1")))
    H.step_until(eng, function() return er ~= nil end, "execution report")
    assert.equals("400,250", er.Text)
  end)

  it("gives each callback a view of its own: one kept from an earlier callback stays expired",
     function()
    local kept, later = nil, nil
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        if kept == nil then
          assert(m.ClOrdID == "K1" and m.ClOrdID == "K1" and m[11] == "K1") -- read, and again
          local c = m:copy()
          assert(c.ClOrdID == "K1" and c[11] == "K1")
          c.ClOrdID = "C1" -- an owned message reads what was set, not an earlier read
          assert(c.ClOrdID == "C1" and c[11] == "C1")
          kept = m
          return
        end
        -- (by tag too: names in a host state's callbacks take the C path, tags the compiled one,
        -- whose cache of this field from the first callback must not answer for the kept view)
        local ok, err = pcall(function() return kept.ClOrdID end)
        local ok_tag = pcall(function() return kept[11] end)
        local ok_get = pcall(kept.get, kept, "ClOrdID")
        local ok_type = pcall(kept.type, kept)
        later = { same = rawequal(kept, m), ok = ok, err = err, ok_get = ok_get, ok_tag = ok_tag,
                  ok_type = ok_type, now = m.ClOrdID, now_tag = m[11], now_get = m:get("ClOrdID") }
      end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("K1")))
    assert(ini:send(order("K2")))
    H.step_until(eng, function() return later ~= nil end, "second message")
    assert.is_false(later.same)
    assert.is_false(later.ok)
    assert.matches("message used outside its callback", later.err)
    assert.is_false(later.ok_get)
    assert.is_false(later.ok_tag)
    assert.is_false(later.ok_type)
    assert.equals("K2", later.now)
    assert.equals("K2", later.now_tag)
    assert.equals("K2", later.now_get)
  end)

  it("calls on_inbound, on_admin, on_message, on_outbound and on_raw_inbound", function()
    local rec = H.recorder()
    local acc, ini
    eng, acc, ini = H.pair{ acceptor = { script = rec.script } }
    H.logon(eng, acc, ini)
    assert(ini:send(order("O1")))
    H.step_until(eng, function() return rec.count("on_message") == 1 end, "app message")
    assert.equals("A", rec.find("on_admin").args[1]:type())
    assert.equals(2, rec.count("on_inbound")) -- Logon and the order
    assert.equals("O1", rec.find("on_message").args[1].ClOrdID)
    assert.equals("A", rec.find("on_outbound").args[1]:type()) -- our Logon answer
    assert.is_true(#rec.find("on_raw_inbound").args[1] > 0)
    assert.matches("^8=FIX%.4%.4\1", rec.find("on_raw_inbound").args[1])
  end)

  it("reports Reject(3) to the sender and validation failures to the receiver", function()
    local rejected, failed
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { validation = "full",
                   script = { on_validation_failed = function(_, info) failed = info end } },
      initiator = { script = { on_reject = function(_, m) rejected = m:copy() end } },
    }
    H.logon(eng, acc, ini)
    local o = order("R1")
    o.Side = nil   -- a required field missing
    assert(ini:send(o))
    H.step_until(eng, function() return rejected ~= nil and failed ~= nil end, "reject")
    assert.equals("3", rejected:type())
    assert.equals(2, rejected:int("RefSeqNum"))
    assert.equals(2, failed.seq)
    assert.equals(54, failed.ref_tag)
    assert.equals(1, failed.reason)   -- SessionRejectReason: required tag missing
    assert.equals("dictionary", failed.kind)
    assert.equals("R1", failed.message.ClOrdID) -- an owned copy of the refused order
    assert.equals("D", failed.message:type())
  end)

  it("reads the refused message of on_validation_failed in the session's own dictionary",
     function()
    local dir = H.tmpdir()
    local xml = assert(H.read(H.shared_dir .. "/dictionaries/FIX44.xml"))
    xml = xml:gsub("<fields>", "<fields>\n  <field number='5001' name='MyTag' type='STRING' />", 1)
    xml = xml:gsub("(<message name='NewOrderSingle'[^>]*>)",
                   "%1\n   <field name='MyTag' required='N' />", 1)
    H.write(dir .. "/custom.xml", xml)
    local failed
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { dictionary = dir .. "/custom.xml",
                   script = { on_validation_failed = function(_, info) failed = info end } },
      initiator = { dictionary = dir .. "/custom.xml" },
    }
    H.logon(eng, acc, ini)
    local o = order("V1")
    o.MyTag = "mine"
    o.Side = nil -- refused: a required field missing
    assert(ini:send(o))
    H.step_until(eng, function() return failed ~= nil end, "the refusal")
    assert.equals("mine", failed.message.MyTag)
    H.rmdir(dir)
  end)

  it("sends what on_outbound sends after the message it saw, in sequence", function()
    local got, extra, gap = {}, false, false
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = {
        on_message = function(_, m) got[#got + 1] = m.ClOrdID .. "@" .. m:seq() end,
        on_gap = function() gap = true end,
      } },
      initiator = { script = {
        on_outbound = function(s, m)
          if m:type() == "D" and m.ClOrdID == "A" and not extra then
            extra = true
            assert(s:send(order("B")))
            -- the view still reads the message it was given
            assert.equals("A", m.ClOrdID)
          end
        end,
      } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("A")))
    H.step_until(eng, function() return #got == 2 end, "both orders")
    H.settle(eng)
    assert.same({ "A@2", "B@3" }, got) -- each once, in sequence
    assert.is_false(gap)
    assert.equals("active", acc:state())
    assert.equals(4, ini:next_sender_seq())
  end)

  it("reports backpressure above the watermark and again once the output drained", function()
    -- A burst of five orders queues more than 100 bytes before the end-of-loop write; that
    -- write takes all of it, and the script hears so and sends one more from the callback.
    -- (Plain TCP writes whole without a write callback, which used to be the only place the
    -- drain was noticed: the script never heard "false".)
    local events, got = {}, {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m) got[#got + 1] = m.ClOrdID end } },
      initiator = { output_high_watermark = 100, script = {
        on_backpressure = function(session, above, queued)
          events[#events + 1] = { above, queued }
          if not above and #events == 2 then assert(session:send(order("RESUMED"))) end
        end } },
    }
    H.logon(eng, acc, ini)
    for i = 1, 5 do assert(ini:send(order("B" .. i))) end
    H.step_until(eng, function() return #got == 6 end, "the burst and the resumed order")
    assert.same({ "B1", "B2", "B3", "B4", "B5", "RESUMED" }, got)
    assert.is_true(events[1][1])
    assert.is_true(events[1][2] > 100)
    assert.is_false(events[2][1])
    assert.is_true(events[2][2] < 50)
    -- the resumed order went above the watermark too, and drained again
    H.step_until(eng, function() return #events == 4 end, "the resumed order's round")
    assert.same({ true, false }, { events[3][1], events[4][1] })
  end)

  it("reports the drain of a watermark of one byte", function()
    local events = {}
    local acc, ini
    eng, acc, ini = H.pair{
      initiator = { output_high_watermark = 1, script = {
        on_backpressure = function(_, above) events[#events + 1] = above end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send(order("W1")))
    -- the Logon's round, then the order's
    H.step_until(eng, function() return #events >= 4 end, "above, then drained, twice")
    assert.same({ true, false, true, false }, events)
  end)

  it("delivers a callback's burst, written at once as one batch, each once and in order", function()
    -- (test_engine.c forces the kernel to take only part of such a write.)
    local got, bad = 0, 0
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        got = got + 1
        if m.ClOrdID ~= "P" .. got then bad = bad + 1 end
      end } },
      initiator = { script = { on_message = function(s, m)
        if m:type() ~= "B" then return end
        for i = 1, 20000 do assert(s:send(order("P" .. i))) end
      end } },
    }
    H.logon(eng, acc, ini)
    assert(acc:send{ MsgType = "B", [148] = "go" })
    H.step_until(eng, function() return got == 20000 end, "the burst")
    assert.equals(0, bad)
    H.settle(eng)
    assert.equals(20000, got)
    assert.equals(ini:next_sender_seq(), acc:next_target_seq()) -- all it sent, nothing twice
  end)

  it("returns EAGAIN past max_output_bytes for sends a callback makes in a loop", function()
    -- A callback's sends are staged and leave together when it returns: the limit counts
    -- what is staged too, or one callback could queue without bound.
    local sent, refused = 0, 0
    local acc, ini
    eng, acc, ini = H.pair{
      initiator = { max_output_bytes = 20000, script = { on_message = function(s, m)
        if m:type() ~= "B" then return end
        for i = 1, 500 do
          local ok, _, code = s:send(order("L" .. i))
          if ok then sent = sent + 1 else assert.equals("EAGAIN", code) refused = refused + 1 end
        end
      end } },
    }
    H.logon(eng, acc, ini)
    assert(acc:send{ MsgType = "B", [148] = "go" })
    H.step_until(eng, function() return sent + refused == 500 end, "the loop")
    assert.is_true(refused > 0, sent .. " sent, none refused")
    assert.is_true(sent * 150 < 20000 + 1000, sent .. " sent")
  end)

  it("writes a timestamp given as nanoseconds to the nearest millisecond", function()
    -- 1717171717789000000 is 1717171717788999936 as a double: truncated, it went out as .788
    local got = {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m) got[#got + 1] = m:copy() end } },
    }
    H.logon(eng, acc, ini)
    local o = order("T1")
    o.TransactTime = 1717171717789000000
    assert(ini:send(o))
    H.step_until(eng, function() return #got == 1 end, "the order")
    assert.equals("20240531-16:08:37.789", got[1]:get(60))
    -- and what msg:time() reads goes back out as it came
    o = order("T2")
    o.TransactTime = got[1]:time(60)
    assert(ini:send(o))
    H.step_until(eng, function() return #got == 2 end, "the second order")
    assert.equals("20240531-16:08:37.789", got[2]:get(60))
  end)

  it("returns nil, err, code when the pre-logon queue is full", function()
    local ini
    eng, _, ini = H.pair{ initiator = { max_outbound_queue = 1 } }
    assert(ini:send(order("F1")))
    local ok, err, code = ini:send(order("F2"))
    assert.is_nil(ok)
    assert.equals("EAGAIN", code)
    assert.matches("^EAGAIN: ", err)
  end)

  it("raises for programmer errors in send()", function()
    local ini
    eng, _, ini = H.pair{}
    assert.has_error(function() ini:send{ ClOrdID = "x" } end)
    assert.has_error(function() ini:send{ MsgType = "D", NoSuchField = 1 } end)
    assert.has_error(function() ini:send() end)
  end)

  it("runs script files in their own states and sends across sessions by copy", function()
    dir = H.tmpdir()
    -- The acceptor forwards every order to the session named "audit" (another acceptor of
    -- the same engine, never connected: the message is queued there) and answers.
    H.write(dir .. "/router.lua", [[
      local fixlua = require "fixlua"
      local M = {}
      function M.on_message(session, msg)
        local audit = session:engine():session("audit")
        assert(audit:send(msg))                 -- copied: encoded in this state
        assert(session:send{ MsgType = "8", OrderID = "O-" .. msg.ClOrdID, ExecID = "E1",
                             ExecType = "NEW", OrdStatus = "NEW", Side = msg.Side,
                             Symbol = msg.Symbol, LeavesQty = 100, CumQty = 0, AvgPx = 0,
                             ClOrdID = msg.ClOrdID })
        rawset(_G, "seen", (rawget(_G, "seen") or 0) + 1)
      end
      function M.on_logon(session)
        -- globals are strict in script states
        local ok, err = pcall(function() return undefined_thing end)
        assert(not ok and err:match("undefined global"))
      end
      return M
    ]])
    local er
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = dir .. "/router.lua" },
      initiator = { script = { on_message = function(_, m) er = m:copy() end } },
    }
    eng:add_session{ name = "audit", role = "acceptor", begin_string = "FIX.4.4",
                     sender_comp_id = "EXEC", target_comp_id = "AUDIT", listen = "127.0.0.1:0" }
    H.logon(eng, acc, ini)
    assert(ini:send(order("X1")))
    H.step_until(eng, function() return er ~= nil end, "execution report")
    assert.equals("O-X1", er.OrderID)
    local audit = eng:session("audit")
    assert.equals(1, select(2, audit:queued()))   -- held until AUDIT logs on
    assert.equals(0, acc:stats().errors)
  end)
end)
