-- Session schedules under the manual clock: logons refused outside the window, the schedule
-- callbacks at each boundary, and the default at the end (log out, reset sequence numbers).
local H = require "support.helpers"

local MONDAY = 1704672000          -- 2024-01-08 00:00:00 UTC, a Monday
local BEFORE_OPEN = MONDAY + 8 * 3600 - 60

describe("schedule", function()
  local eng
  after_each(function() if eng then eng:close() eng = nil end end)

  it("opens and closes the window, calling the callbacks; the default resets the numbers", function()
    local events = {}
    local rejected
    local acc, ini
    eng, acc, ini = H.pair{
      engine = { start_time = BEFORE_OPEN },
      acceptor = { schedule = { start = "08:00", stop = "17:00", tz = "UTC" },
                   script = {
                     on_schedule_start = function(s) events[#events + 1] = "start@" .. s:now() end,
                     on_schedule_end = function(s) events[#events + 1] = "end@" .. s:now() end,
                   } },
      initiator = { script = { on_logon_rejected = function(_, t) rejected = t end } },
    }
    H.step_until(eng, function() return rejected ~= nil end, "refusal before the window")
    assert.equals("outside the session schedule", rejected)
    eng:advance(61)                  -- 08:00:01: the window opens; the initiator retries
    H.logon(eng, acc, ini)
    assert.same({ "start@" .. (MONDAY + 8 * 3600) }, events)
    local expected = acc:next_target_seq() + 1
    assert(ini:send{ MsgType = "D", ClOrdID = "1", Side = "BUY", Symbol = "X", OrderQty = 1,
                     OrdType = "MARKET", HandlInst = "1", TransactTime = 0 })
    H.step_until(eng, function() return acc:next_target_seq() == expected end, "order")
    H.advance(eng, 9 * 3600, 20)     -- past 17:00, heartbeats answered on the way
    H.step_until(eng, function() return acc:state() == "disconnected" and acc:next_sender_seq() == 1 end,
                 "logout and reset at the end")
    assert.equals("end@" .. (MONDAY + 17 * 3600), events[2])
    assert.equals(1, acc:next_sender_seq())
    assert.equals(1, acc:next_target_seq())
  end)

  it("keeps the session and its numbers when on_schedule_end returns false", function()
    local acc, ini
    eng, acc, ini = H.pair{
      engine = { start_time = MONDAY + 12 * 3600 },
      acceptor = { schedule = { start = "08:00", stop = "17:00" },
                   script = { on_schedule_end = function() return false end } },
    }
    H.logon(eng, acc, ini)
    H.advance(eng, 5 * 3600 + 1, 20)
    assert.equals("active", acc:state())
    assert.is_true(acc:next_sender_seq() > 100)  -- heartbeats went on; nothing was reset
  end)

  it("can be driven by hand with session:schedule_event()", function()
    local ended = 0
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { script = { on_schedule_end = function() ended = ended + 1 end } },
    }
    H.logon(eng, acc, ini)
    acc:schedule_event("end")
    H.step_until(eng, function() return acc:state() == "disconnected" and acc:next_sender_seq() == 1 end,
                 "logout and reset")
    assert.equals(1, ended)
  end)

  it("opens at the local time of a named zone, across a daylight saving change", function()
    -- Saturday 2024-03-09 18:00 in New York (EST, 23:00 UTC); the clocks go forward that night,
    -- so Sunday's 08:00 is EDT: 12:00 UTC, not the 13:00 a fixed -05:00 would give.
    local SAT_EVENING = 1710025200
    local SUNDAY_0800_EDT = 1710072000
    local opened
    eng = H.pair{
      engine = { start_time = SAT_EVENING },
      acceptor = { schedule = { start = "08:00", stop = "17:00", tz = "America/New_York" },
                   script = { on_schedule_start = function(s) opened = s:now() end } },
    }
    H.advance(eng, SUNDAY_0800_EDT - SAT_EVENING - 60, 3600)
    assert.is_nil(opened)
    H.advance(eng, 120, 10)
    assert.equals(SUNDAY_0800_EDT, opened)
  end)
end)
