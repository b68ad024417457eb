-- fixlua.schedule — session schedules: parsing the configuration's
--   schedule = { start = "Sun 17:00", stop = "Fri 17:00", tz = "UTC" }
-- into the numbers the engine binding arms its timers with, and the same window arithmetic in
-- Lua for tests and tools. A window is daily ("08:00" .. "17:30") or weekly ("Sun 17:00" ..
-- "Fri 17:00"); it may wrap midnight or the week end. Time zones: "UTC" or a fixed offset
-- ("+02:00", "UTC-5"); named zones are refused until the engine's own schedule handles them.

local schedule = {}

local DAYS = { sun = 0, mon = 1, tue = 2, wed = 3, thu = 4, fri = 5, sat = 6 }

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

local function parse_tz(tz)
  if tz == nil then return 0 end
  if type(tz) ~= "string" then return nil, "tz must be a string" end
  local u = tz:upper()
  if u == "UTC" or u == "GMT" or u == "Z" then return 0 end
  local sign, hh, mm = u:match("^U?T?C?([%+%-])(%d%d?):?(%d?%d?)$")
  if sign then
    local off = tonumber(hh) * 3600 + (tonumber(mm) or 0) * 60
    if tonumber(hh) > 14 then return nil, "offset out of range: " .. tz end
    return sign == "-" and -off or off
  end
  return nil, string.format("tz '%s' is not supported yet: use \"UTC\" or a fixed offset such as \"-05:00\"", tz)
end

-- Returns {weekly=, start_s=, stop_s=, offset_s=} or nil, message.
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
  local off, err = parse_tz(t.tz)
  if not off then return nil, err end
  local weekly = sd ~= nil
  local start_s = weekly and sd * 86400 + ss or ss
  local stop_s = weekly and ed * 86400 + es or es
  if start_s == stop_s then return nil, "start and stop are the same time" end
  return { weekly = weekly, start_s = start_s, stop_s = stop_s, offset_s = off }
end

local function period(s) return s.weekly and 7 * 86400 or 86400 end

local function pos(s, t)
  local lt = math.floor(t) + s.offset_s
  if s.weekly then lt = lt + 4 * 86400 end -- 1970-01-01 was a Thursday
  return lt % period(s)
end

-- Is time t (seconds since the epoch, UTC) inside the window?
function schedule.inside(s, t)
  local x = pos(s, t)
  if s.start_s <= s.stop_s then return x >= s.start_s and x < s.stop_s end
  return x >= s.start_s or x < s.stop_s
end

-- The next boundary after t: "start" or "end", and its time.
function schedule.next_event(s, t)
  local p = period(s)
  local function untl(point)
    local d = (point - pos(s, t)) % p
    if d == 0 then d = p end
    return d
  end
  if schedule.inside(s, t) then return "end", math.floor(t) + untl(s.stop_s) end
  return "start", math.floor(t) + untl(s.start_s)
end

return schedule
