-- The message API (fixlua.message): building from tables, names and enums, typed getters,
-- repeating groups, editing owned messages, and the errors a script gets for mistakes.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("fixlua.message", function()
  it("builds from a table by name and by tag, enums by name, sorted by tag", function()
    local m = fixlua.message{ MsgType = "D", ClOrdID = "1", Side = "BUY", [44] = 10.5, OrderQty = 100 }
    assert.equals("35=D|11=1|38=100|44=10.5|54=1|", tostring(m))
    assert.equals("D", m:type())
    assert.equals("1", m.Side)
    assert.equals("1", m[54])
    assert.equals("BUY", (m:enum("Side")))
    assert.equals("10.5", m.Price)
  end)

  it("accepts a message name for the type", function()
    local m = fixlua.message.new("NewOrderSingle", { ClOrdID = "X" })
    assert.equals("D", m:type())
    assert.equals("X", m.ClOrdID)
  end)

  it("formats numbers without exponents and booleans as Y/N", function()
    local m = fixlua.message{ MsgType = "D", Price = 0.00001, OrderQty = 1e6, PossResend = nil,
                              [5001] = true, [5002] = false, [5003] = -2.5 }
    assert.equals("0.00001", m.Price)
    assert.equals("1000000", m.OrderQty)
    assert.equals("Y", m[5001])
    assert.equals("N", m[5002])
    assert.equals("-2.5", m[5003])
  end)

  it("has typed getters", function()
    local m = fixlua.message.parse("8=FIX.4.4|9=5|35=8|34=12|43=Y|44=101.25|38=300|54=2|"
                                   .. "60=20240102-03:04:05.678|75=20240102|10=000|")
    assert.equals(12, m:seq())
    assert.equals(300, m:int("OrderQty"))
    local v, s = m:decimal("Price")
    assert.equals(101.25, v)
    assert.equals("101.25", s)
    assert.is_true(m:bool(43))
    assert.is_true(m:poss_dup())
    assert.equals("2", m:char("Side"))
    assert.equals("SELL", (m:enum("Side")))
    local ns, ts = m:time("TransactTime")
    assert.equals("20240102-03:04:05.678", ts)
    assert.equals(1704164645678, math.floor(ns / 1e6 + 0.5))
    assert.same({ 2024, 1, 2 }, { m:date(75) })
    assert.is_nil(m:int(9999))
  end)

  it("returns nil, err, code for a value of the wrong type", function()
    local m = fixlua.message{ MsgType = "D", OrderQty = "abc" }
    local v, err, code = m:int("OrderQty")
    assert.is_nil(v)
    assert.equals("EFORMAT", code)
    assert.matches("OrderQty", err)
  end)

  it("raises on an unknown field name (a typo is not a missing field)", function()
    local m = fixlua.message{ MsgType = "D" }
    assert.has_error(function() return m.ClOrdId end, "fixlua: unknown FIX field 'ClOrdId' (not in dictionary builtin)")
    assert.has_error(function() fixlua.message{ MsgType = "D", Sid = "1" } end)
  end)

  it("refuses engine-owned header fields in tables, empty values and SOH", function()
    assert.has_error(function() fixlua.message{ MsgType = "D", MsgSeqNum = 3 } end)
    assert.has_error(function() fixlua.message{ MsgType = "D", ClOrdID = "" } end)
    assert.has_error(function() fixlua.message{ MsgType = "D", ClOrdID = "a\1b" } end)
  end)

  it("reads and builds nested repeating groups", function()
    local m = fixlua.message.new("D", { ClOrdID = "1" })
    m:add_group("NoPartyIDs", {
      { PartyID = "X", PartyRole = 3 },
      { PartyID = "Y", PartyIDSource = "D", PartyRole = 1 },
    })
    assert.equals("35=D|11=1|453=2|448=X|452=3|448=Y|447=D|452=1|", tostring(m))
    local g = m:group("NoPartyIDs")
    assert.equals(2, #g)
    assert.equals("X", g[1].PartyID)
    assert.equals("Y", g[2][448])   -- by tag too
    assert.equals("D", g[2].PartyIDSource)
    -- round trip: a group read can be written again
    local m2 = fixlua.message.new("D")
    m2:add_group("NoPartyIDs", g)
    assert.equals(tostring(m):sub(#"35=D|11=1|" + 1), tostring(m2):sub(#"35=D|" + 1))
  end)

  it("reads a nested group (NoPartySubIDs inside NoPartyIDs)", function()
    local m = fixlua.message.parse("35=D|453=1|448=P1|447=D|452=1|802=2|523=S1|803=1|523=S2|803=2|")
    local g = m:group(453)
    assert.equals(1, #g)
    local subs = g[1].NoPartySubIDs
    assert.equals(2, #subs)
    assert.equals("S2", subs[2].PartySubID)
  end)

  it("refuses a group entry without its first field", function()
    local m = fixlua.message.new("D")
    assert.has_error(function() m:add_group("NoPartyIDs", { { PartyRole = 3 } }) end)
  end)

  it("iterates fields in wire order with names", function()
    local m = fixlua.message.parse("35=D|11=A|5001=x|11=B|")
    local seen = {}
    for tag, value, name in m:fields() do seen[#seen + 1] = { tag, value, name } end
    assert.same({ { 35, "D", "MsgType" }, { 11, "A", "ClOrdID" }, { 5001, "x", nil },
                  { 11, "B", "ClOrdID" } }, seen)
    assert.equals(2, m:count("ClOrdID"))
    assert.equals(4, #m)
  end)

  it("edits owned messages: set, replace, remove", function()
    local m = fixlua.message.new("D")
    m.ClOrdID = "1"
    m:set("Side", "SELL"):set(44, 7)
    m.ClOrdID = "2"
    assert.equals("35=D|11=2|54=2|44=7|", tostring(m))
    m.Side = nil
    assert.equals("35=D|11=2|44=7|", tostring(m))
    assert.is_false(m:has("Side"))
    assert.equals("dflt", m:get("Side", "dflt"))
  end)

  it("copies are independent", function()
    local a = fixlua.message{ MsgType = "D", ClOrdID = "1" }
    local b = a:copy()
    b.ClOrdID = "2"
    assert.equals("1", a.ClOrdID)
    assert.equals("2", b.ClOrdID)
    assert.is_false(b:is_view())
  end)

  it("parses SOH or '|' and refuses malformed input", function()
    local m = assert(fixlua.message.parse(H.soh("8=FIX.4.4|9=5|35=0|10=000|")))
    assert.equals("0", m:type())
    assert.is_true(m:is_admin())
    local bad, err, code = fixlua.message.parse("35=D|abc|")
    assert.is_nil(bad)
    assert.equals("EPROTO", code)
    assert.matches("tag", err)
    assert.is_true(fixlua.message.is_message(m))
    assert.is_false(fixlua.message.is_message({}))
  end)

  it("sets timestamps from ns numbers", function()
    local m = fixlua.message{ MsgType = "D", TransactTime = 1704164645678 * 1e6 }
    assert.equals("20240102-03:04:05.678", m.TransactTime)
  end)
end)

describe("names", function()
  it("maps tags and names through the default dictionary", function()
    assert.equals(11, fixlua.tag("ClOrdID"))
    assert.equals("ClOrdID", fixlua.name(11))
    assert.is_nil(fixlua.name(987654))
    assert.is_nil(fixlua.tag("NoSuchField"))
  end)

  it("has dictionary objects, built-in and from QuickFIX XML", function()
    local d = assert(fixlua.dictionary("FIX.4.2"))
    assert.equals("FIX.4.2", d:info().begin_string)
    assert.equals("1", d:enum_value("Side", "BUY"))
    assert.equals("BUY", d:enum_name(54, "1"))
    assert.equals("D", d:message("NewOrderSingle").msg_type)
    local f = d:field("Side")
    assert.equals(54, f.tag)
    assert.equals("BUY", f.enums["1"])
    local nd, err, code = fixlua.dictionary("FIX.9.9")
    assert.is_nil(nd)
    assert.equals("EINVAL", code)
    local xml = H.shared_dir .. "/dictionaries/FIX44.xml"
    if H.read(xml) then
      local x = assert(fixlua.dictionary(xml))
      assert.equals(44, x:tag("Price"))
      assert.equals("FIX.4.4", x:info().begin_string)
    end
    local missing, merr = fixlua.dictionary("/nonexistent/x.xml")
    assert.is_nil(missing)
    assert.matches("EIO", merr)
  end)

  it("lists every callback name", function()
    local names = fixlua.callbacks()
    local set = {}
    for _, n in ipairs(names) do set[n] = true end
    for _, n in ipairs({ "on_create", "on_connect", "on_disconnect", "on_connect_failed",
                         "on_connect_timeout", "prepare_logon", "validate_logon", "on_logon",
                         "on_logon_rejected", "on_logon_timeout", "on_logout_timeout", "on_logout",
                         "on_state_change", "on_message", "on_admin", "on_inbound",
                         "on_raw_inbound", "on_outbound", "on_reject", "on_validation_failed",
                         "on_garbled", "should_replay", "on_replay_skipped", "on_resend_request",
                         "on_transmission_fail", "on_queue_threshold", "on_throttle", "on_latency",
                         "on_schedule_start", "on_schedule_end", "on_error", "on_backpressure" }) do
      assert.is_true(set[n], n)
    end
  end)
end)
