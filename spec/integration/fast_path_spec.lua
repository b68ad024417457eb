-- The compiled paths of lua/fixlua/fast.lua: field reads of message views and session:send of
-- flat tables. They must write and read exactly what the C paths they stand in front of do, and
-- hand everything unusual (groups, timestamps as numbers, bad values, expired views, other
-- dictionaries) to those C paths, errors included.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("compiled send and read paths", function()
  local eng
  after_each(function()
    if eng then eng:close() eng = nil end
  end)

  local function pair_recording()
    local got = { raw = {}, msgs = {} }
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = {
        on_raw_inbound = function(_, raw) got.raw[#got.raw + 1] = raw end,
        on_message = function(_, m) got.msgs[#got.msgs + 1] = m:copy() end,
      } },
    }
    H.logon(eng, acc, ini)
    return got, acc, ini
  end

  it("writes header fields, then the body in tag order, with enums, booleans and numbers", function()
    local got, _, ini = pair_recording()
    assert(ini:send{ MsgType = "NewOrderSingle", ClOrdID = "F1", Symbol = "IBM", Side = "BUY",
                     OrderQty = 100, OrdType = "LIMIT", Price = 143.25, HandlInst = "1",
                     TransactTime = "20261206-10:00:00.000", [58] = "text", ["18"] = "1",
                     OnBehalfOfCompID = "DESK", [114] = true, StopPx = 12345678.5,
                     MinQty = 0.000001, MaxFloor = -2.5 })
    H.step_until(eng, function() return #got.msgs == 1 end, "the order")
    local raw = got.raw[#got.raw]
    assert.matches("\00135=D\001", raw)
    local hdr = raw:find("\001115=DESK\001", 1, true)
    local body = raw:find("\00111=F1\001", 1, true)
    assert.is_truthy(hdr and body and hdr < body)
    local expect = "\00111=F1\00118=1\00121=1\00138=100\00140=2\00144=143.25\00154=1\00155=IBM" ..
                   "\00158=text\00160=20261206-10:00:00.000\00199=12345678.5\001110=0.000001" ..
                   "\001111=-2.5\001114=Y\00110="
    assert.equals(expect, raw:sub(body, body + #expect - 1))
  end)

  it("keeps tag order when tables of the same size but other fields alternate", function()
    local got, _, ini = pair_recording()
    local function a(id) return { MsgType = "D", ClOrdID = id, Symbol = "IBM", Side = "BUY" } end
    local function b(id) return { MsgType = "D", Text = "t", ClOrdID = id, Account = "AC1" } end
    for i = 1, 3 do
      assert(ini:send(a("A" .. i)))
      assert(ini:send(b("B" .. i)))
    end
    H.step_until(eng, function() return #got.msgs == 6 end, "the orders")
    for i = 1, 6 do
      local raw = got.msgs[i]:raw()
      local n = math.floor((i + 1) / 2)
      if i % 2 == 1 then
        assert.matches("\00111=A" .. n .. "\00154=1\00155=IBM\00110=", raw)
      else
        assert.matches("\0011=AC1\00111=B" .. n .. "\00158=t\00110=", raw)
      end
    end
  end)

  it("leaves groups and numeric timestamps to the C encoder", function()
    local got, _, ini = pair_recording()
    assert(ini:send{ MsgType = "D", ClOrdID = "G1", Symbol = "IBM", Side = "BUY", OrderQty = 1,
                     OrdType = "MARKET", HandlInst = "1", TransactTime = 0,
                     NoPartyIDs = { { PartyID = "P1", PartyIDSource = "D", PartyRole = 1 } } })
    H.step_until(eng, function() return #got.msgs == 1 end, "the order")
    local m = got.msgs[1]
    assert.equals("G1", m.ClOrdID)
    assert.equals("19700101-00:00:00.000", m.TransactTime)
    assert.equals("P1", m:group("NoPartyIDs")[1].PartyID)
  end)

  it("raises the C encoder's errors for values FIX cannot carry", function()
    local _, _, ini = pair_recording()
    assert.has_error(function() ini:send{ MsgType = "D", ClOrdID = "a\1b" } end,
                     "fixlua: value of field 11 (ClOrdID) contains SOH")
    assert.has_error(function() ini:send{ MsgType = "D", ClOrdID = "" } end,
                     "fixlua: empty value for field 11 (ClOrdID): FIX has no empty values")
    assert.has_error(function() ini:send{ MsgType = "D", MsgSeqNum = 7 } end,
                     "fixlua: field 34 (MsgSeqNum) is written by the engine")
    local ok, err = pcall(function() local r = ini:send{ MsgType = "D", ClOrdId = "x" }; return r end)
    assert.is_false(ok)
    assert.matches("fast_path_spec%.lua:%d+: fixlua: unknown FIX field 'ClOrdId'", err)
    assert.has_error(function() ini:send{ MsgType = "D", ClOrdID = {} } end)
    assert.has_error(function() ini:send{ MsgType = "D", Price = 0 / 0 } end,
                     "fixlua: field 44 (Price): NaN is not a value FIX can carry")
    assert.has_error(function() ini:send{ MsgType = "D", Price = -math.huge } end,
                     "fixlua: field 44 (Price): an infinite number is not a value FIX can carry")
    assert.has_error(function() ini:send{ MsgType = "D", TransactTime = 1e300 } end)
    assert.has_error(function() ini:send{ MsgType = "D", Price = 1e300 } end,
                     "fixlua: field 44 (Price): 1e+300 is beyond what FIX numbers carry (2^63)")
    assert.has_error(function() ini:send{ MsgType = "D", ClOrdID = ("x"):rep(4000), Price = -1e19 } end)
    -- Nothing of the refused messages went out: the next one has the next number.
    local seq = ini:next_sender_seq()
    assert(ini:send{ MsgType = "D", ClOrdID = "ok" })
    assert.equals(seq + 1, ini:next_sender_seq())
  end)

  it("writes tiny numbers as decimals, never with an exponent", function()
    local got, _, ini = pair_recording()
    local prices = { 1e-18, 1e-20, 1.5e-30, 2.5e-7, -3e-12 }
    local want = { "0.000000000000000001", "0.00000000000000000001",
                   "0.0000000000000000000000000000015", "0.00000025", "-0.000000000003" }
    for i, v in ipairs(prices) do
      local t = { MsgType = "D", ClOrdID = "N" .. i, Symbol = "X", Side = "BUY", OrderQty = 1,
                  OrdType = "LIMIT", Price = v, HandlInst = "1", TransactTime = 0 }
      assert.equals(want[i], fixlua.message(t):get(44))
      for _ = 1, 3 do assert(ini:send(t)) end -- the third through a compiled shape
    end
    H.step_until(eng, function() return #got.msgs == 3 * #prices end, "the orders")
    for i = 1, #got.msgs do
      assert.equals(want[math.floor((i - 1) / 3) + 1], got.msgs[i]:get(44))
    end
    local t = { MsgType = "D", ClOrdID = "Z", Symbol = "X", Side = "BUY", OrderQty = 1,
                OrdType = "LIMIT", Price = 1e-45, HandlInst = "1", TransactTime = 0 }
    assert.has_error(function() ini:send(t) end,
      "fixlua: field 44 (Price): 1e-45 is below what fixlua writes as a decimal (1e-40); " ..
      "send the digits as a string")
  end)

  it("reads fields by name, tag and get(), and refuses what the C reader refuses", function()
    local seen
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        seen = {
          name = m.Symbol, tag = m[55], get = m:get("Symbol"), get_tag = m:get(44),
          default = m:get(9999, "none"), absent = m.Price == nil and m[58], kind = m:type(),
          zero = pcall(function() return m[0] end),
          frac = pcall(function() return m[1.5] end),
          unknown = select(2, pcall(function() return m.NoSuchField end)),
          wrong_self = pcall(m.get, {}, 55),
          qty = m:int("OrderQty"), qty_tag = m:int(38), px = { m:decimal("Price") },
          seq = m:seq(), no_int = m:int("MinQty"), bad_int = { m:int("Symbol") },
          int_unknown = pcall(m.int, m, "NoSuchField"),
          get_where = select(2, pcall(function() local v = m:get("NoSuchField"); return v end)),
          spoofed = pcall(function()
            local u = newproxy(true)
            getmetatable(u).__metatable = "fixlua.message"
            return m.get(u, 11), m.int(u, 38), m.type(u)
          end),
          wrong_type = pcall(m.type, "D"),
        }
      end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send{ MsgType = "D", ClOrdID = "R1", Symbol = "IBM", Side = "BUY", OrderQty = 5,
                     OrdType = "LIMIT", Price = 7.5, HandlInst = "1",
                     TransactTime = "20261206-10:00:00.000" })
    H.step_until(eng, function() return seen ~= nil end, "the order")
    assert.equals("IBM", seen.name)
    assert.equals("IBM", seen.tag)
    assert.equals("IBM", seen.get)
    assert.equals("7.5", seen.get_tag)
    assert.equals("none", seen.default)
    assert.is_false(seen.absent)
    assert.equals("D", seen.kind)
    assert.is_false(seen.zero)
    assert.is_false(seen.frac)
    assert.matches("unknown FIX field 'NoSuchField'", seen.unknown)
    assert.is_false(seen.wrong_self)
    assert.equals(5, seen.qty)
    assert.equals(5, seen.qty_tag)
    assert.same({ 7.5, "7.5" }, seen.px)
    assert.equals(2, seen.seq) -- after the Logon
    assert.is_nil(seen.no_int)
    assert.is_nil(seen.bad_int[1])
    assert.equals("EFORMAT", seen.bad_int[3])
    assert.matches("field 55 %(Symbol%) is not a valid integer", seen.bad_int[2])
    assert.is_false(seen.int_unknown)
    -- errors name the script's line, not the library's
    assert.matches("fast_path_spec%.lua:%d+: fixlua: unknown FIX field 'NoSuchField'",
                   seen.get_where)
    assert.is_false(seen.spoofed) -- a type error, not a crash
    assert.is_false(seen.wrong_type)
  end)

  it("reads one-byte values of every byte, and sends a first table without fields", function()
    local seen = {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        if m[11] then seen[#seen + 1] = { m[58], m:get(58), m[58], m:type() } end
      end } },
    }
    H.logon(eng, acc, ini)
    -- The initiator's first compiled send has no field of its own (the acceptor's checks reject
    -- the order; sending it is what is tested).
    assert(ini:send{ MsgType = "D" })
    for _, c in ipairs{ 65, 127, 128, 233, 255 } do
      assert(ini:send{ MsgType = "D", ClOrdID = "B" .. c, Symbol = "IBM", Side = "BUY",
                       OrderQty = 1, OrdType = "MARKET", HandlInst = "1", TransactTime = 0,
                       Text = string.char(c) })
    end
    H.step_until(eng, function() return #seen == 5 end, "five orders")
    for i, c in ipairs{ 65, 127, 128, 233, 255 } do
      assert.same({ string.char(c), string.char(c), string.char(c), "D" }, seen[i])
    end
  end)

  it("reads the right value when a field repeats, changes or keeps its length", function()
    -- The reader returns the string it made last for a key when the bytes are the same; the
    -- texts below repeat, change at one byte, change length, cross the 64 bytes it keeps, and
    -- share their bytes with another key's last value.
    local long = string.rep("x", 64)
    local texts = { "AB", "AB", "AC", "AC", "A", "AB", long, long, long .. "y", long .. "y",
                    long, "IBM", "AB" }
    local seen = {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, m)
        if m[11] then seen[#seen + 1] = { m.Text, m[58], m:get("Text"), m.Symbol, m.ClOrdID } end
      end } },
    }
    H.logon(eng, acc, ini)
    for i, text in ipairs(texts) do
      assert(ini:send{ MsgType = "D", ClOrdID = "C" .. (i % 3), Symbol = i == 12 and "AB" or "IBM",
                       Side = "BUY", OrderQty = 1, OrdType = "MARKET", HandlInst = "1",
                       TransactTime = 0, Text = text })
    end
    H.step_until(eng, function() return #seen == #texts end, "the orders")
    for i, text in ipairs(texts) do
      assert.same({ text, text, text, i == 12 and "AB" or "IBM", "C" .. (i % 3) }, seen[i])
    end
  end)

  it("writes a name two enum values share as the C encoder does", function()
    local path = H.shared_dir .. "/dictionaries/FIX50.xml"
    local f = io.open(path)
    if not f then return pending("no ../shared/dictionaries") end
    f:close()
    local got = {}
    local acc, ini
    eng, acc, ini = H.pair{ begin_string = "FIXT.1.1",
      acceptor = { default_appl_ver_id = "7", dictionary = path,
                   script = { on_message = function(_, m) got[#got + 1] = m:copy() end } },
      initiator = { default_appl_ver_id = "7", dictionary = path } }
    H.logon(eng, acc, ini)
    -- FIX50.xml names both 5 and 63 of MatchType(574) CROSS_AUCTION
    assert(ini:send{ MsgType = "8", OrderID = "1", ExecID = "1", ExecType = "TRADE",
                     OrdStatus = "FILLED", Side = "BUY", LeavesQty = 0, CumQty = 1,
                     MatchType = "CROSS_AUCTION" })
    H.step_until(eng, function() return #got == 1 end, "the report")
    local by_c = fixlua.message.new("8", { MatchType = "CROSS_AUCTION" },
                                    assert(fixlua.dictionary(path)))
    assert.equals(by_c.MatchType, got[1].MatchType)
  end)

  it("reads enums as the C method does: the name and the value, or the value twice", function()
    local m = assert(fixlua.message.parse("35=D|11=E1|54=1|40=Z|5001=v|59=0|"))
    local function both(k) return { m:enum(k) } end
    for _ = 1, 3 do -- the names are kept after the first read: the same answers again
      assert.same({ "BUY", "1" }, both("Side"))
      assert.same({ "BUY", "1" }, both(54))
      assert.same({ "Z", "Z" }, both("OrdType")) -- not a value the dictionary lists
      assert.same({ "v", "v" }, both(5001))      -- not a field the dictionary knows
      assert.same({ "DAY", "0" }, both("TimeInForce"))
      assert.same({}, both("Price"))             -- absent: nothing
    end
    assert.is_false(pcall(m.enum, m, "NoSuchField"))
    assert.is_false(pcall(m.enum, {}, "Side"))
    -- a view in a callback, and the same view once the callback is over
    local seen, kept
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, msg)
        seen, kept = { msg:enum("Side") }, msg
      end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send{ MsgType = "D", ClOrdID = "E2", Symbol = "IBM", Side = "SELL", OrderQty = 5,
                     OrdType = "LIMIT", Price = 7.5, HandlInst = "1",
                     TransactTime = "20261206-10:00:00.000" })
    H.step_until(eng, function() return seen ~= nil end, "the order")
    assert.same({ "SELL", "2" }, seen)
    local ok, err = pcall(kept.enum, kept, "Side")
    assert.is_false(ok)
    assert.matches("message used outside its callback", err)
  end)

  it("reads times, booleans, chars, presence and PossDupFlag as the C methods do", function()
    local m = assert(fixlua.message.parse(
      "35=D|43=N|52=20240102-03:04:05.678|11=AB|54=1|114=Y|121=X|60=bad|108=03:04:05.5|"))
    local ns, text = m:time(52)
    assert.equals("20240102-03:04:05.678", text)
    assert.equals(1704164645678, math.floor(ns / 1e6 + 0.5))
    local tod = m:time(108) -- a UTCTimeOnly value reads as the time of day
    assert.equals(3 * 3600 + 4 * 60 + 5.5, tod / 1e9)
    local bad = { m:time("TransactTime") }
    assert.is_nil(bad[1])
    assert.equals("EFORMAT", bad[3])
    assert.same({}, { m:time("ExpireTime") })
    assert.is_true(m:bool(114))
    local nb = { m:bool(121) }
    assert.is_nil(nb[1])
    assert.equals("EFORMAT", nb[3])
    assert.matches("not a valid boolean", nb[2])
    assert.same({}, { m:bool(9999) })
    assert.equals("1", m:char("Side"))
    local nc = { m:char("ClOrdID") }
    assert.is_nil(nc[1])
    assert.equals("EFORMAT", nc[3])
    assert.same({}, { m:char("Price") })
    assert.is_true(m:has("ClOrdID"))
    assert.is_true(m:has(52))
    assert.is_false(m:has("Price"))
    assert.is_false(pcall(m.has, m, "NoSuchField"))
    assert.is_false(m:poss_dup()) -- 43=N
    assert.is_false(assert(fixlua.message.parse("35=D|11=A|")):poss_dup())
    assert.is_true(assert(fixlua.message.parse("35=D|43=Y|")):poss_dup())
    -- a view kept past its callback raises in each of them
    local kept
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_message = function(_, msg) kept = msg end } },
    }
    H.logon(eng, acc, ini)
    assert(ini:send{ MsgType = "D", ClOrdID = "T1", Symbol = "IBM", Side = "BUY", OrderQty = 5,
                     OrdType = "LIMIT", Price = 7.5, HandlInst = "1",
                     TransactTime = "20261206-10:00:00.000" })
    H.step_until(eng, function() return kept ~= nil end, "the order")
    for _, method in ipairs{ "time", "bool", "char", "has" } do
      local ok, err = pcall(kept[method], kept, 60)
      assert.is_false(ok)
      assert.matches("message used outside its callback", err)
    end
    assert.is_false(pcall(kept.poss_dup, kept))
  end)

  it("reads names in the message's own dictionary when it is not the state's", function()
    local dir = H.shared_dir .. "/dictionaries"
    local f = io.open(dir .. "/FIX42.xml")
    if not f then return pending("no ../shared/dictionaries") end
    f:close()
    local d42 = assert(fixlua.dictionary(dir .. "/FIX42.xml"))
    local m = assert(fixlua.message.parse(
      "8=FIX.4.2|9=5|35=D|11=X1|55=IBM|21=1|10=000|", d42))
    assert.equals("X1", m.ClOrdID)
    assert.equals("IBM", m:get("Symbol"))
    assert.equals("D", m:type())
    -- ExecType 2 is FILL in FIX.4.2 and no value at all in the state's FIX.4.4
    local r = assert(fixlua.message.parse("8=FIX.4.2|9=5|35=8|150=2|10=000|", d42))
    assert.same({ "FILL", "2" }, { r:enum("ExecType") })
    assert.same({ "FILL", "2" }, { r:enum(150) })
    local r44 = assert(fixlua.message.parse("35=8|150=2|"))
    assert.same({ "2", "2" }, { r44:enum("ExecType") })
  end)

  describe("compiled table shapes", function()
    -- The fields of a message after its standard header, without CheckSum, as "tag=value":
    -- what the script's table decided, in wire order.
    local standard = { ["8"] = true, ["9"] = true, ["35"] = true, ["49"] = true, ["56"] = true,
                       ["34"] = true, ["52"] = true, ["10"] = true }
    local function fields_of(raw)
      local out = {}
      for tag, value in raw:gsub("\1", "|"):gmatch("(%d+)=([^|]*)|") do
        if not standard[tag] then out[#out + 1] = tag .. "=" .. value end
      end
      return out
    end
    -- The same table as the C encoder (fixlua.message) writes it.
    local function as_c_writes(t) return fields_of(tostring(fixlua.message(t))) end

    -- One constructor, so one shape (also loaded in a script's state below).
    local report_source = [[
      return function(i, v)
        return { MsgType = "8", OrderID = "O" .. i, ExecID = "E" .. i, ExecType = "TRADE",
                 OrdStatus = "FILLED", Side = "1", Symbol = "IBM", OrderQty = v, LastQty = 5,
                 LastPx = 143.25, LeavesQty = 0, CumQty = v, AvgPx = -0.5, ClOrdID = "C" .. i,
                 OnBehalfOfCompID = "DESK", [20000001] = "wide", [58] = i % 2 == 0 }
      end
    ]]
    local report = assert(load(report_source))()
    local load_report = "local report = assert(load(" .. string.format("%q", report_source) ..
                        "))()\n" -- the same, as the first line of a script file

    -- An engine whose acceptor runs the script file at path, and an order that starts it;
    -- returns the list the initiator's messages are copied to.
    local function run_script_acceptor(path)
      local got = {}
      local acc, ini
      eng, acc, ini = H.pair{
        acceptor = { script = path },
        initiator = { script = { on_message = function(_, m) got[#got + 1] = m:copy() end } },
      }
      H.logon(eng, acc, ini)
      assert(ini:send{ MsgType = "D", ClOrdID = "GO", Symbol = "IBM", Side = "BUY", OrderQty = 1,
                       OrdType = "MARKET", HandlInst = "1", TransactTime = 0 })
      return got
    end

    it("writes what the C encoder writes, once compiled and for every fallback", function()
      local got, _, ini = pair_recording()
      local stats = require("fixlua.shape").stats
      local compiled = stats.compiled
      local sent = {}
      local function send(t)
        sent[#sent + 1] = as_c_writes(t)
        assert(ini:send(t))
      end
      local written = stats.written
      for i = 1, 6 do send(report(i, i * 100)) end
      assert.is_true(stats.compiled > compiled, "the repeated shape was compiled")
      assert.is_true(stats.written >= written + 4, "the compiled writer wrote the last four")
      -- The same shape with other kinds of values, an added key, a key left out, the keys set in
      -- another order: each must still be written as the C encoder writes it.
      local t = report(7, "700")
      t.LastQty = "6"
      send(t)
      t = report(8, 800)
      t.AvgPx = nil
      send(t)
      t = report(9, 900)
      t.Account = "AC9"
      send(t)
      t = report(9, 950)
      t.Symbol = nil
      t.Account = "AC9"
      send(t)
      t = report(10, 1000)
      t.ExecType = "F"
      t.OrdStatus = "2"
      send(t)
      t = report(11, 1100)
      t[58] = "a text"
      send(t)
      t = {}
      for k, v in pairs(report(12, 1200)) do t[k] = v end
      send(t)
      t = report(13, 1.5e15)
      send(t)
      send(report(14, 1400))
      H.step_until(eng, function() return #got.msgs == #sent end, "the reports")
      for i = 1, #sent do
        assert.same(sent[i], fields_of(got.msgs[i]:raw()))
      end
      assert.equals("115=DESK", fields_of(got.msgs[1]:raw())[1])
    end)

    it("writes tables with a metatable, or naming a tag twice, as the C encoder does", function()
      local got, _, ini = pair_recording()
      local sent = {}
      local function send(t)
        sent[#sent + 1] = as_c_writes(t)
        assert(ini:send(t))
      end
      for i = 1, 3 do send{ MsgType = "D", ClOrdID = "C" .. i, Symbol = "IBM", Side = "1" } end
      -- As many keys as the shape, one of them missing but supplied by __index: the table's own
      -- keys are what is sent.
      send(setmetatable({ MsgType = "D", ClOrdID = "M1", Symbol = "IBM", Price = 5 },
                        { __index = { Side = "2" } }))
      -- An __index function that sends in the middle of a send.
      send(setmetatable({ MsgType = "D", ClOrdID = "M2", Symbol = "IBM", Text = "t" },
                        { __index = function()
                            assert(ini:send{ MsgType = "D", ClOrdID = "INNER",
                                             Text = ("q"):rep(20000) })
                            return "1"
                          end }))
      send{ MsgType = "D", ClOrdID = "C4", Symbol = "IBM", Side = "1" }
      -- MsgType given twice, then a table of as many keys with another one.
      for i = 1, 3 do send{ MsgType = "D", [35] = "D", ClOrdID = "T" .. i, Symbol = "IBM" } end
      send{ MsgType = "D", ClOrdID = "T4", Symbol = "IBM", Side = "1" }
      -- A tag named twice, by name and by number, in another order from one table to the next.
      local function account(i, first)
        local t = { MsgType = "D", ClOrdID = "A" .. i }
        if first then t[1] = "NUM" t.Account = "NAME" else t.Account = "NAME" t[1] = "NUM" end
        return t
      end
      for i = 1, 3 do send(account(i, false)) end
      send(account(4, true))
      H.step_until(eng, function() return #got.msgs == #sent end, "the orders")
      for i = 1, #sent do assert.same(sent[i], fields_of(got.msgs[i]:raw())) end
    end)

    it("sends from a session's own state as the C encoder writes, compiled or not", function()
      -- In a script file's state, a compiled shape is written and sent from session:send itself
      -- (fl_lua_fast_send through the FFI). The tables come from one file both states load.
      local dir = H.tmpdir()
      H.write(dir .. "/cases.lua", load_report .. [[
        local good, bad = {}, {}
        for i = 1, 80 do good[#good + 1] = report(i, i * 100) end
        local t = report(81, "8100") t.LastQty = "6" good[#good + 1] = t
        t = report(82, 8200) t.AvgPx = nil good[#good + 1] = t
        t = report(83, 8300) t.Account = "AC" good[#good + 1] = t
        t = report(84, 8400) t.Symbol = nil t.Account = "AC" good[#good + 1] = t
        t = report(85, 8500) t.ExecType = "F" good[#good + 1] = t
        good[#good + 1] = setmetatable(report(86, 8600), { __index = { Text = "x" } })
        t = {} for k, v in pairs(report(87, 8700)) do t[k] = v end good[#good + 1] = t
        good[#good + 1] = report(88, 1.5e15)
        for i = 89, 120 do good[#good + 1] = report(i, i) end
        t = report(121, 1) t.ClOrdID = "ab" bad[#bad + 1] = t
        t = report(122, 1) t.ClOrdID = "" bad[#bad + 1] = t
        t = report(123, 1) t.OrderQty = 0 / 0 bad[#bad + 1] = t
        return { good = good, bad = bad }
      ]])
      H.write(dir .. "/sender.lua", [[
        -- globals the generated writers also use: theirs were taken before the script ran
        rawset(_G, "next", function() error("the script's own next") end)
        rawset(_G, "type", function() return "nil" end)
        local cases = dofile("]] .. dir .. [[/cases.lua")
        local stats = require("fixlua.shape").stats
        return { on_message = function(session, msg)
          if msg:type() ~= "D" then return end
          local written = stats.direct
          for _, t in ipairs(cases.good) do assert(session:send(t)) end
          local errors = {}
          for _, t in ipairs(cases.bad) do
            local ok, err = pcall(session.send, session, t)
            errors[#errors + 1] = ok and "sent" or tostring(err):match("fixlua: .*")
          end
          written = stats.direct - written
          session:send{ MsgType = "8", OrderID = "END", ExecID = "END", ExecType = "TRADE",
                        OrdStatus = "FILLED", Side = "1", Symbol = "END", LeavesQty = 0,
                        CumQty = 0, AvgPx = 0, Text = written .. ";" .. table.concat(errors, ";") }
        end }
      ]])
      local cases = dofile(dir .. "/cases.lua")
      local got = run_script_acceptor(dir .. "/sender.lua")
      H.step_until(eng, function() return #got == #cases.good + 1 end, "the reports")
      for i, t in ipairs(cases.good) do
        assert.same(as_c_writes(t), fields_of(got[i]:raw()))
      end
      local summary = got[#got].Text
      local written = tonumber(summary:match("^(%d+);"))
      assert.is_true(written >= 100, "session:send sent " .. written .. " of 120 itself")
      assert.equals("fixlua: value of field 11 (ClOrdID) contains SOH;" ..
                    "fixlua: empty value for field 11 (ClOrdID): FIX has no empty values;" ..
                    "fixlua: field 38 (OrderQty): NaN is not a value FIX can carry",
                    summary:match("^%d+;(.*)$"))
      H.rmdir(dir)
    end)

    it("writes random variations of a compiled shape as the C encoder does, or fails as it does",
       function()
      -- Values of every kind, keys removed and added, groups and duplicate tags, sent from a
      -- script file's own state (the direct path) and compared one by one with what the C
      -- encoder makes of the same table: the same fields, or the same error. Half of the tables
      -- are left as built, so the shape is compiled and kept in use between the variations.
      local dir = H.tmpdir()
      H.write(dir .. "/cases.lua", load_report .. [[
        local seed = 20261206
        local function pick(list)
          seed = (seed * 1103515245 + 12345) % 2147483648
          return list[seed % #list + 1]
        end
        local strings = { "A", "abc", "TRADE", "FILLED", "F", "1", "2", "x\1y", "", "Y", "N",
                          "-1.5", ("L"):rep(300) }
        local numbers = { 0, 7, -3, 1.5, 143.25, 1e15, 1.5e15, 0 / 0, math.huge, -math.huge,
                          -0.0, 2 ^ 53, 1e-7, 123456789012, 1e300 }
        local keys = { "OrderID", "ExecID", "ExecType", "OrdStatus", "Side", "Symbol", "OrderQty",
                       "LastQty", "LastPx", "LeavesQty", "CumQty", "AvgPx", "ClOrdID",
                       "OnBehalfOfCompID", 20000001, 58 }
        -- (no second name of a tag the table has: the order of the two depends on the state)
        local extras = { "Account", 20000002, "Price", "DeliverToCompID", "SecurityID" }
        local kinds = { "keep", "keep", "keep", "keep", "keep", "string", "number", "boolean",
                        "remove", "add", "group" }
        local cases = {}
        for i = 1, 300 do
          local t = report(i, i)
          for _ = 1, 3 do
            local kind, k = pick(kinds), pick(keys)
            if kind == "string" then t[k] = pick(strings)
            elseif kind == "number" then t[k] = pick(numbers)
            elseif kind == "boolean" then t[k] = pick({ true, false })
            elseif kind == "remove" then t[k] = nil
            elseif kind == "add" then t[pick(extras)] = pick(strings)
            elseif kind == "group" then t[k] = { { Text = "g" } }
            end
          end
          cases[i] = t
        end
        return cases
      ]])
      H.write(dir .. "/sender.lua", [[
        local cases = dofile("]] .. dir .. [[/cases.lua")
        return { on_message = function(session, msg)
          if msg:type() ~= "D" then return end
          local out = assert(io.open("]] .. dir .. [[/results.txt", "w"))
          local stats = require("fixlua.shape").stats
          local direct = stats.direct
          for i, t in ipairs(cases) do
            local ok, err = pcall(session.send, session, t)
            out:write(i, " ", ok and "sent" or tostring(err):match("fixlua: [^\n]*"), "\n")
          end
          out:write("0 ", stats.direct - direct, "\n")
          out:close()
          session:send{ MsgType = "8", OrderID = "END", ExecID = "END", ExecType = "TRADE",
                        OrdStatus = "FILLED", Side = "1", Symbol = "END", LeavesQty = 0,
                        CumQty = 0, AvgPx = 0 }
        end }
      ]])
      local cases = dofile(dir .. "/cases.lua")
      local want, nsent, nfailed = {}, 0, 0
      for i, t in ipairs(cases) do
        local ok, fields = pcall(as_c_writes, t)
        if ok then
          nsent = nsent + 1
          want[i] = { sent = nsent, fields = fields }
        else
          nfailed = nfailed + 1
          want[i] = { err = tostring(fields):match("fixlua: [^\n]*") }
        end
      end
      assert.is_true(nsent >= 150 and nfailed >= 20, nsent .. " sent, " .. nfailed .. " refused")
      local got = run_script_acceptor(dir .. "/sender.lua")
      H.step_until(eng, function() return #got == nsent + 1 end, "the reports")
      assert.equals("END", got[nsent + 1].OrderID)
      local results = {}
      for line in io.lines(dir .. "/results.txt") do
        local i, what = line:match("^(%d+) (.*)$")
        results[tonumber(i)] = what
      end
      assert.is_true(tonumber(results[0]) >= 100, results[0] .. " sent by the compiled shape")
      for i = 1, #cases do
        local w = want[i]
        if w.sent then
          assert.equals("sent", results[i], "case " .. i)
          assert.same(w.fields, fields_of(got[w.sent]:raw()), "case " .. i)
        else -- refused too (with two bad fields, either may be named)
          assert.is_truthy(results[i] ~= "sent" and results[i]:match("^fixlua: "),
                           "case " .. i .. ": " .. w.err .. " / " .. tostring(results[i]))
        end
      end
      H.rmdir(dir)
    end)

    it("sends from a timer while on_outbound runs the script for every message", function()
      -- Outside a batch a send flushes at once, through the hooks: the script's on_outbound
      -- runs inside that send. (Entering Lua from inside a compiled FFI call crashed.)
      local dir = H.tmpdir()
      H.write(dir .. "/timer.lua", load_report .. [[
        local outs = 0
        return {
          on_outbound = function() outs = outs + 1 end,
          on_message = function(session, msg)
            if msg:type() ~= "D" then return end
            session:after(0, function(s)
              for i = 1, 400 do assert(s:send(report(i, i))) end
              assert(s:send{ MsgType = "8", OrderID = "END", ExecID = "END", ExecType = "TRADE",
                             OrdStatus = "FILLED", Side = "1", Symbol = "END", LeavesQty = 0,
                             CumQty = 0, AvgPx = 0, Text = tostring(outs) })
            end)
          end,
        }
      ]])
      local got = run_script_acceptor(dir .. "/timer.lua")
      H.step_until(eng, function() return #got == 401 end, "the reports")
      for i = 1, 400 do assert.same(as_c_writes(report(i, i)), fields_of(got[i]:raw())) end
      -- on_outbound saw the logon and every report before the last
      assert.is_true(tonumber(got[401].Text) >= 401)
      H.rmdir(dir)
    end)

    it("leaves to the C encoder, with its errors, what a compiled shape cannot write", function()
      local got, _, ini = pair_recording()
      for i = 1, 4 do assert(ini:send(report(i, 1))) end
      local t = report(5, 1)
      t.ClOrdID = "a\1b"
      assert.has_error(function() ini:send(t) end,
                       "fixlua: value of field 11 (ClOrdID) contains SOH")
      t = report(6, 1)
      t.ClOrdID = ""
      assert.has_error(function() ini:send(t) end,
                       "fixlua: empty value for field 11 (ClOrdID): FIX has no empty values")
      t = report(7, 1)
      t.OrderQty = 0 / 0
      assert.has_error(function() ini:send(t) end,
                       "fixlua: field 38 (OrderQty): NaN is not a value FIX can carry")
      t = report(8, 1)
      t.Symbol = { "IBM" }
      assert.has_error(function() ini:send(t) end)
      -- Nothing of the refused reports went out, and the shape still sends.
      assert(ini:send(report(9, 2)))
      H.step_until(eng, function() return #got.msgs == 5 end, "the reports")
      assert.equals("C9", got.msgs[5].ClOrdID)
      assert.equals(got.msgs[4]:seq() + 1, got.msgs[5]:seq())
    end)

    it("writes a long value past the arena's first room", function()
      local got, _, ini = pair_recording()
      for i = 1, 3 do assert(ini:send(report(i, 1))) end
      local t = report(4, 1)
      t.ClOrdID = ("x"):rep(9000)
      assert(ini:send(t))
      assert(ini:send(report(5, 1)))
      H.step_until(eng, function() return #got.msgs == 5 end, "the reports")
      assert.equals(9000, #got.msgs[4].ClOrdID)
      assert.same(as_c_writes(report(5, 1)), fields_of(got.msgs[5]:raw()))
    end)

    it("does not spend its compile budget on a shape that cannot be compiled", function()
      local got, _, ini = pair_recording()
      local stats = require("fixlua.shape").stats
      -- MsgType named twice: never compiled, however often it comes
      for i = 1, 100 do
        assert(ini:send{ MsgType = "D", [35] = "D", ClOrdID = "T" .. i, Symbol = "IBM" })
      end
      local compiled = stats.compiled
      for i = 1, 3 do
        assert(ini:send{ MsgType = "D", ClOrdID = "G" .. i, Symbol = "IBM", Side = "1" })
      end
      assert.equals(compiled + 1, stats.compiled)
      H.step_until(eng, function() return #got.msgs == 103 end, "the orders")
    end)

    it("stops compiling after a bounded number of shapes, and still sends each right", function()
      local got, _, ini = pair_recording()
      local stats = require("fixlua.shape").stats
      local compiled, sent = stats.compiled, {}
      -- Tables whose keys differ from one pair of sends to the next: each pair compiles.
      for i = 1, 100 do
        local t = { MsgType = "D", ClOrdID = "C" .. i, Symbol = "IBM", [20000000 + i] = "x" }
        for _ = 1, 2 do
          sent[#sent + 1] = as_c_writes(t)
          assert(ini:send(t))
        end
      end
      assert.is_true(stats.compiled - compiled <= 64,
                     "at most 64 shapes a session, got " .. stats.compiled - compiled)
      assert.is_true(stats.compiled - compiled >= 32, "shapes were compiled")
      H.step_until(eng, function() return #got.msgs == #sent end, "the orders")
      for i = 1, #sent do assert.same(sent[i], fields_of(got.msgs[i]:raw())) end
    end)
  end)
end)
