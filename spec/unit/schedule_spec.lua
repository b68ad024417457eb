-- Session schedule parsing and window arithmetic (lua/fixlua/schedule.lua).
local schedule = require "fixlua.schedule"

-- 2024-01-07 was a Sunday.
local SUN = os.time{ year = 2024, month = 1, day = 7, hour = 0 } - (os.time() - os.time(os.date("!*t")))

describe("fixlua.schedule", function()
  it("parses daily and weekly windows", function()
    assert.same({ weekly = false, start_s = 8 * 3600, stop_s = 17 * 3600, offset_s = 0 },
                schedule.parse{ start = "08:00", stop = "17:00" })
    local w = schedule.parse{ start = "Sun 17:00", stop = "Friday 17:00:30", tz = "UTC-5" }
    assert.same({ weekly = true, start_s = 17 * 3600, stop_s = 5 * 86400 + 17 * 3600 + 30,
                  offset_s = -5 * 3600 }, w)
  end)

  it("refuses what it cannot honour", function()
    assert.is_nil(schedule.parse{ start = "25:00", stop = "17:00" })
    assert.is_nil(schedule.parse{ start = "Sun 17:00", stop = "17:00" })
    assert.is_nil(schedule.parse{ start = "08:00", stop = "08:00" })
    local s, err = schedule.parse{ start = "08:00", stop = "09:00", tz = "Europe/London" }
    assert.is_nil(s)
    assert.matches("not supported yet", err)
    assert.is_nil(schedule.parse{ start = "08:00", stop = "09:00", days = "x" })
  end)

  it("knows when a daily window is open, also across midnight", function()
    local day = schedule.parse{ start = "08:00", stop = "17:00" }
    assert.is_true(schedule.inside(day, SUN + 9 * 3600))
    assert.is_false(schedule.inside(day, SUN + 18 * 3600))
    local night = schedule.parse{ start = "22:00", stop = "06:00" }
    assert.is_true(schedule.inside(night, SUN + 23 * 3600))
    assert.is_true(schedule.inside(night, SUN + 5 * 3600))
    assert.is_false(schedule.inside(night, SUN + 12 * 3600))
  end)

  it("finds the next boundary of a weekly window", function()
    local w = schedule.parse{ start = "Sun 17:00", stop = "Fri 17:00" }
    local kind, at = schedule.next_event(w, SUN + 12 * 3600)   -- Sunday noon: closed
    assert.equals("start", kind)
    assert.equals(SUN + 17 * 3600, at)
    kind, at = schedule.next_event(w, SUN + 2 * 86400)          -- Tuesday: open
    assert.equals("end", kind)
    assert.equals(SUN + 5 * 86400 + 17 * 3600, at)
  end)

  it("applies a fixed offset", function()
    local s = schedule.parse{ start = "08:00", stop = "17:00", tz = "+02:00" }
    assert.is_true(schedule.inside(s, SUN + 7 * 3600))    -- 09:00 local
    assert.is_false(schedule.inside(s, SUN + 16 * 3600))  -- 18:00 local
  end)
end)
