-- Session schedule parsing and window arithmetic (lua/fixlua/schedule.lua over the engine's
-- core/fl_schedule.c): daily and weekly windows, fixed offsets, and named zones with daylight
-- saving time.
local schedule = require "fixlua.schedule"

local SUN = 1704585600 -- 2024-01-07 00:00:00 UTC, a Sunday
local HOUR, DAY = 3600, 86400

describe("fixlua.schedule", function()
  it("parses daily and weekly windows", function()
    assert.same({ weekly = false, start_s = 8 * HOUR, stop_s = 17 * HOUR, tz = "UTC" },
                schedule.parse{ start = "08:00", stop = "17:00" })
    local w = schedule.parse{ start = "Sun 17:00", stop = "Friday 17:00:30", tz = "UTC-5" }
    assert.same({ weekly = true, start_s = 17 * HOUR, stop_s = 5 * DAY + 17 * HOUR + 30,
                  tz = "UTC-5" }, w)
    assert.equals("America/New_York",
                  schedule.parse{ start = "Sun 17:00", stop = "Fri 17:00", tz = "America/New_York" }.tz)
  end)

  it("refuses what it cannot honour", function()
    assert.is_nil(schedule.parse{ start = "25:00", stop = "17:00" })
    assert.is_nil(schedule.parse{ start = "Sun 17:00", stop = "17:00" })
    assert.is_nil(schedule.parse{ start = "08:00", stop = "08:00" })
    local s, err = schedule.parse{ start = "08:00", stop = "09:00", tz = "Europe/Londn" }
    assert.is_nil(s)
    assert.matches("Europe/Londn", err, 1, true)
    assert.matches("no such zone", err, 1, true)
    s, err = schedule.parse{ start = "08:00", stop = "09:00", tz = "../../etc/passwd" }
    assert.is_nil(s)
    assert.matches("not a time zone", err, 1, true)
    assert.is_nil(schedule.parse{ start = "08:00", stop = "09:00", tz = 5 })
    assert.is_nil(schedule.parse{ start = "08:00", stop = "09:00", days = "x" })
  end)

  it("knows when a daily window is open, also across midnight", function()
    local day = schedule.parse{ start = "08:00", stop = "17:00" }
    assert.is_true(schedule.inside(day, SUN + 9 * HOUR))
    assert.is_false(schedule.inside(day, SUN + 18 * HOUR))
    local night = schedule.parse{ start = "22:00", stop = "06:00" }
    assert.is_true(schedule.inside(night, SUN + 23 * HOUR))
    assert.is_true(schedule.inside(night, SUN + 5 * HOUR))
    assert.is_false(schedule.inside(night, SUN + 12 * HOUR))
  end)

  it("finds the next boundary of a weekly window", function()
    local w = schedule.parse{ start = "Sun 17:00", stop = "Fri 17:00" }
    local kind, at = schedule.next_event(w, SUN + 12 * HOUR)   -- Sunday noon: closed
    assert.equals("start", kind)
    assert.equals(SUN + 17 * HOUR, at)
    kind, at = schedule.next_event(w, SUN + 2 * DAY)            -- Tuesday: open
    assert.equals("end", kind)
    assert.equals(SUN + 5 * DAY + 17 * HOUR, at)
  end)

  it("applies a fixed offset", function()
    local s = schedule.parse{ start = "08:00", stop = "17:00", tz = "+02:00" }
    assert.is_true(schedule.inside(s, SUN + 7 * HOUR))    -- 09:00 local
    assert.is_false(schedule.inside(s, SUN + 16 * HOUR))  -- 18:00 local
  end)

  it("follows daylight saving time in a named zone", function()
    -- The FX week in New York opens at 22:00 UTC in winter and 21:00 UTC in summer.
    local fx = schedule.parse{ start = "Sun 17:00", stop = "Fri 17:00", tz = "America/New_York" }
    local kind, at = schedule.next_event(fx, SUN)
    assert.equals("start", kind)
    assert.equals(SUN + 22 * HOUR, at)
    local summer_sun = 1720310400 -- 2024-07-07 00:00 UTC, a Sunday
    kind, at = schedule.next_event(fx, summer_sun)
    assert.equals("start", kind)
    assert.equals(summer_sun + 21 * HOUR, at)
    -- 2024-03-10, clocks go from 02:00 to 03:00: a window opening at 02:30 opens at the jump
    -- (07:00 UTC), one that opened before stays open across it.
    local jump = 1710054000
    local early = schedule.parse{ start = "02:30", stop = "04:00", tz = "America/New_York" }
    kind, at = schedule.next_event(early, jump - 2 * HOUR)
    assert.equals("start", kind)
    assert.equals(jump, at)
    local night = schedule.parse{ start = "01:00", stop = "05:00", tz = "America/New_York" }
    assert.is_true(schedule.inside(night, jump - 1))
    assert.is_true(schedule.inside(night, jump + 1))
    kind, at = schedule.next_event(night, jump)
    assert.equals("end", kind)
    assert.equals(jump + 2 * HOUR, at)                   -- 05:00 EDT
  end)
end)
