-- `fixlua journal`: the messages a session's journal stores and a summary of it, read without
-- touching the file, also while its engine runs, and what opening it would repair.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("fixlua journal", function()
  local dir, eng
  after_each(function()
    if eng then eng:close() eng = nil end
    H.rmdir(dir)
  end)

  -- An acceptor with a file journal that answers three orders; returns its journal's path.
  local function trade()
    local acc, ini
    eng, acc, ini = H.pair{
      engine = { store = { dir = dir .. "/store" } },
      acceptor = { script = { on_message = function(s, m)
        if m:type() == "D" then
          assert(s:send{ MsgType = "8", OrderID = "O" .. m.ClOrdID, ExecID = "E" .. m.ClOrdID,
                         ExecType = "NEW", OrdStatus = "NEW", Side = m.Side, Symbol = m.Symbol,
                         LeavesQty = 1, CumQty = 0, AvgPx = 0 })
        end
      end } },
    }
    H.logon(eng, acc, ini)
    for i = 1, 3 do
      assert(ini:send{ MsgType = "D", ClOrdID = tostring(i), Side = "BUY", Symbol = "IBM",
                       OrderQty = 1, OrdType = "MARKET", HandlInst = "1", TransactTime = 0 })
    end
    H.step_until(eng, function() return acc:next_sender_seq() == 5 end, "three reports")
    return dir .. "/store/exch.journal"
  end

  it("prints the stored messages, and a summary, while the engine runs", function()
    dir = H.tmpdir()
    local journal = trade()
    local size = #assert(H.read(journal))
    local rc, out, err = H.run_fixlua("journal '" .. journal .. "'")
    assert.equals(0, rc, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals(4, #lines, out)                   -- the Logon and three reports
    assert.matches("^1 8=FIX%.4%.4|9=%d+|35=A|", lines[1])
    for i = 2, 4 do
      assert.matches("^" .. i .. " 8=FIX%.4%.4|9=%d+|35=8|34=" .. i .. "|", lines[i])
      assert.matches("|37=O" .. (i - 1) .. "|", lines[i], 1, true)
      assert.matches("|10=%d%d%d|$", lines[i])
    end
    rc, out = H.run_fixlua("journal --from 3 --to 3 '" .. journal .. "'")
    assert.equals(0, rc)
    assert.matches("^3 8=FIX", out)
    assert.is_nil(out:find("\n4 ", 1, true))
    rc, out = H.run_fixlua("journal --info '" .. journal .. "'")
    assert.equals(0, rc)
    assert.matches("next sender 5, next target 5; 4 messages stored %(%d+ bytes%), seq 1 to 4", out)
    assert.equals(size, #assert(H.read(journal)))  -- the running engine's file, untouched
  end)

  it("reports what opening the journal would repair, and leaves it as it is", function()
    dir = H.tmpdir()
    local journal = trade()
    eng:close()
    eng = nil
    local f = assert(io.open(journal, "ab"))
    f:write(("\171"):rep(10))                       -- a crash inside the next record's header
    f:close()
    local size = #assert(H.read(journal))
    local rc, out, err = H.run_fixlua("journal --info '" .. journal .. "'")
    assert.equals(1, rc)
    assert.matches("4 messages stored", out)
    assert.matches("a torn last record, left as it is", err, 1, true)
    assert.equals(size, #assert(H.read(journal)))
    rc, _, err = H.run_fixlua("journal '" .. dir .. "/store/nothing.journal'")
    assert.equals(1, rc)
    assert.matches("nothing.journal", err, 1, true)
    rc, _, err = H.run_fixlua("journal --from x '" .. journal .. "'")
    assert.equals(2, rc)
    assert.matches("--from wants a sequence number", err, 1, true)
    rc = H.run_fixlua("journal '" .. dir .. "/store/exch.txt'")
    assert.equals(1, rc)
  end)
end)
