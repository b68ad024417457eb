-- bench/fixlua_pair/driver.lua — the initiator's script. FLB_MODE=pingpong sends one order,
-- and the next from each report; FLB_MODE=pipeline keeps FLB_WINDOW orders in flight. After
-- FLB_COUNT reports it prints one result line, logs out and stops the engine.
local fixlua = require "fixlua"
local M = {}

local mode = os.getenv("FLB_MODE") or "pingpong"
local count = tonumber(os.getenv("FLB_COUNT") or "") or 20000
local window = mode == "pipeline" and (tonumber(os.getenv("FLB_WINDOW") or "") or 1000) or 1
local sent, got, t0, last = 0, 0, 0, 0
local rtt = {}

local function send(session)
  sent = sent + 1
  last = fixlua.clock()
  assert(session:send{ MsgType = "D", ClOrdID = tostring(sent), HandlInst = "1",
                       Symbol = "IBM", Side = "BUY", TransactTime = "20261122-10:00:00.000",
                       OrderQty = 100, OrdType = "LIMIT", Price = 143.25, TimeInForce = "DAY" })
end

function M.on_logon(session)
  t0 = fixlua.clock()
  for _ = 1, math.min(window, count) do send(session) end
end

local function pct(p)
  table.sort(rtt)
  return rtt[math.max(1, math.floor(#rtt * p))] * 1e6
end

function M.on_message(session, msg)
  if msg:type() ~= "8" then return end
  got = got + 1
  if mode == "pingpong" then rtt[#rtt + 1] = fixlua.clock() - last end
  if sent < count then send(session) end
  if got == count then
    local secs = fixlua.clock() - t0
    if mode == "pingpong" then
      io.stdout:write(string.format("fixlua round trip NOS -> ER (Lua both ends)   p50 %6.1f us  p99 %6.1f us  (n=%d)\n",
                                    pct(0.5), pct(0.99), count))
    else
      io.stdout:write(string.format("fixlua pipelined NOS -> ER (Lua both ends)    %8.0f orders/s  (%d orders, window %d, file journal sync=batch)\n",
                                    count / secs, count, window))
    end
    io.stdout:flush()
    session:logout("bench done")
    session:engine():stop()
  end
end

return M
