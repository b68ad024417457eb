-- fixlua.schedule — session schedules: checking the configuration's
--   schedule = { start = "Sun 17:00", stop = "Fri 17:00", tz = "America/New_York" }
-- into the numbers the engine arms its timers with. A window is daily ("08:00" .. "17:30") or
-- weekly ("Sun 17:00" .. "Fri 17:00"); it may wrap midnight or the week's end. Time zones:
-- "UTC", a fixed offset ("+02:00", "UTC-5"), or a zone of the system's zoneinfo files
-- ("America/New_York"), daylight saving time included. The window arithmetic is the engine's
-- own (core/fl_schedule.c), reached here for tests and tools.

local schedule = {}

local DAYS = { sun = 0, mon = 1, tue = 2, wed = 3, thu = 4, fri = 5, sat = 6 }

-- The C half of the module, loaded when first needed (this file is part of the module).
local function engine_half() return require "fixlua" end

-- Returns true, weekday (or nil), seconds into the day; or nil, message.
local function parse_point(s)
  if type(s) ~= "string" then return nil, "expected a time such as \"17:00\" or \"Sun 17:00\"" end
  local day, rest = s:match("^%s*(%a+)%s+(.-)%s*$")
  local d
  if day then
    d = DAYS[day:sub(1, 3):lower()]
    if not d then return nil, string.format("unknown weekday in '%s'", s) end
  else
    rest = s:match("^%s*(.-)%s*$")
  end
  local h, m, sec = rest:match("^(%d%d?):(%d%d):?(%d*)$")
  h, m, sec = tonumber(h), tonumber(m), tonumber(sec) or 0
  if not h or h > 23 or m > 59 or sec > 59 then
    return nil, string.format("expected HH:MM[:SS] in '%s'", s)
  end
  return true, d, h * 3600 + m * 60 + sec
end

local function check_tz(tz)
  if tz == nil then return "UTC" end
  if type(tz) ~= "string" then return nil, "tz must be a string" end
  local ok, err = engine_half()._tz_check(tz)
  if not ok then return nil, err end
  return tz
end

-- Returns {weekly=, start_s=, stop_s=, tz=} or nil, message.
function schedule.parse(t)
  if type(t) ~= "table" then return nil, "expected a table {start = ..., stop = ..., tz = ...}" end
  for k in pairs(t) do
    if k ~= "start" and k ~= "stop" and k ~= "tz" then
      return nil, string.format("unknown key '%s' (start, stop, tz)", tostring(k))
    end
  end
  local ok, sd, ss = parse_point(t.start)
  if not ok then return nil, "start: " .. tostring(sd) end
  local ok2, ed, es = parse_point(t.stop)
  if not ok2 then return nil, "stop: " .. tostring(ed) end
  if (sd == nil) ~= (ed == nil) then
    return nil, "start and stop must both name a weekday (weekly) or neither (daily)"
  end
  local tz, err = check_tz(t.tz)
  if not tz then return nil, err end
  local weekly = sd ~= nil
  local start_s = weekly and sd * 86400 + ss or ss
  local stop_s = weekly and ed * 86400 + es or es
  if start_s == stop_s then return nil, "start and stop are the same time" end
  return { weekly = weekly, start_s = start_s, stop_s = stop_s, tz = tz }
end

-- Is time t (seconds since the epoch, UTC) inside the window?
function schedule.inside(s, t)
  return (engine_half()._schedule(s.weekly, s.start_s, s.stop_s, s.tz, t))
end

-- The next boundary after t: "start" or "end", and its time.
function schedule.next_event(s, t)
  local _, at, opens = engine_half()._schedule(s.weekly, s.start_s, s.stop_s, s.tz, t)
  return opens and "start" or "end", at
end

return schedule
