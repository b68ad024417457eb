-- Resends decided by scripts: should_replay picks what is resent after a forced gap, the rest
-- is gap-filled (and on_replay_skipped says so); on_resend_request can refuse the whole range.
local H = require "support.helpers"

local function er(id)
  return { MsgType = "8", OrderID = id, ExecID = "E" .. id, ExecType = "NEW", OrdStatus = "NEW",
           Side = "BUY", Symbol = "IBM", LeavesQty = 1, CumQty = 0, AvgPx = 0 }
end

-- Sends A, B, C from the acceptor, then makes the initiator forget them and sends D: the
-- initiator sees a gap and asks for a resend from 2.
local function forced_gap(acc_script, ini_script)
  local got = {}
  ini_script = ini_script or {}
  ini_script.on_message = function(_, m)
    got[#got + 1] = { id = m.OrderID, dup = m:poss_dup(), seq = m:seq() }
  end
  local eng, acc, ini = H.pair{ acceptor = { script = acc_script }, initiator = { script = ini_script } }
  H.logon(eng, acc, ini)
  for _, id in ipairs({ "A", "B", "C" }) do assert(acc:send(er(id))) end
  H.step_until(eng, function() return #got == 3 end, "A, B, C")
  assert.equals(5, ini:next_target_seq())
  ini:next_target_seq(2)                     -- forget 2..4
  for i = #got, 1, -1 do got[i] = nil end
  assert(acc:send(er("D")))                  -- seq 5: too high for the initiator
  return eng, acc, ini, got
end

local function ids(got, dup)
  local out = {}
  for _, g in ipairs(got) do
    if dup == nil or g.dup == dup then out[#out + 1] = g.id end
  end
  return table.concat(out, ",")
end

describe("resend", function()
  local eng
  after_each(function() if eng then eng:close() eng = nil end end)

  it("replays what should_replay accepts and gap-fills the rest", function()
    local asked, skipped = {}, {}
    local acc, ini, got
    eng, acc, ini, got = forced_gap({
      should_replay = function(_, m)
        asked[#asked + 1] = m.OrderID
        assert.is_true(m:is_view())
        return m.OrderID ~= "B"              -- never resend B
      end,
      on_replay_skipped = function(_, seq) skipped[#skipped + 1] = seq end,
    })
    H.step_until(eng, function() return ini:next_target_seq() == 6 end, "gap filled")
    H.settle(eng, 20)
    assert.equals("A,C", ids(got, true))
    assert.matches("D", ids(got))
    assert.is_nil(ids(got):match("B"))
    assert.same({ 3 }, skipped)
    assert.matches("A,B,C", table.concat(asked, ","))
    assert.equals("active", acc:state())
  end)

  it("gap-fills everything when on_resend_request says so", function()
    local range
    local acc, ini, got
    eng, acc, ini, got = forced_gap({
      on_resend_request = function(_, b, e) range = { b, e } return "gap_fill" end,
    })
    H.step_until(eng, function() return ini:next_target_seq() == 6 end, "gap filled")
    H.settle(eng, 20)
    assert.equals(2, range[1])
    assert.equals("", ids(got, true))         -- nothing replayed
    assert.equals("active", ini:state())
  end)

  it("paces a long resend by the transport and finishes it on plain TCP", function()
    -- A 100-byte watermark makes each resent message a chunk that waits for the write of the
    -- one before. On plain TCP the end-of-loop write takes everything and no write callback
    -- comes: the resend used to stop after its first chunk, holding every later send back.
    local got = {}
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { output_high_watermark = 100, script = {} },
      initiator = { script = { on_message = function(_, m)
        got[#got + 1] = { id = m.OrderID, dup = m:poss_dup(), seq = m:seq() }
      end } },
    }
    H.logon(eng, acc, ini)
    for _, id in ipairs({ "A", "B", "C", "D", "E" }) do assert(acc:send(er(id))) end
    H.step_until(eng, function() return #got == 5 end, "A..E")
    ini:next_target_seq(2)                     -- forget 2..6
    for i = #got, 1, -1 do got[i] = nil end
    assert(acc:send(er("F")))                  -- seq 7: the resend of 2..6 comes first
    H.step_until(eng, function() return ini:next_target_seq() == 8 end, "the resend and F")
    assert(acc:send(er("G")))
    H.step_until(eng, function() return ids(got):match("G") ~= nil end, "G after the resend")
    assert.equals("A,B,C,D,E", ids(got, true))
    assert.equals("A,B,C,D,E,F,G", ids(got))
  end)

  it("reports the gap to the initiator", function()
    local gap
    local _, _, ini
    eng, _, ini = forced_gap({}, {
      on_gap = function(_, b, e) gap = { b, e } end,
    })
    H.step_until(eng, function() return ini:next_target_seq() == 6 and gap ~= nil end, "gap")
    assert.equals(2, gap[1])
  end)
end)
