-- scripts/client.lua — order flow for an initiator session: a load generator with a live
-- progress line and a summary.
--
-- After logon it sends NewOrderSingle messages at a steady rate, matches every
-- ExecutionReport to its order, and prints once a second (stderr)
--   client: sent 500/1000  acked 500  filled 420  partial 40  rejected 40  open 40  200/s  rtt p50 0.3ms p99 1.1ms
-- When `count` orders are answered (or `linger` seconds after the last one went out) it prints
-- a summary, logs out and, with exit = true, stops the engine so `fixlua run` returns.
--
-- Settings (environment, or M.configure{...} from a test):
--   FIXLUA_RATE    orders per second (default 200)
--   FIXLUA_COUNT   orders to send, 0 for no end (default 1000)
--   FIXLUA_SYMBOLS comma-separated symbols (default "IBM,MSFT,AAPL,REJECT": "REJECT" is refused
--                  by scripts/exchange.lua, so every path is exercised)
--   FIXLUA_MAX_QTY largest order size (default 2000: above 1000 the exchange part-fills)
--   FIXLUA_EXIT    "0" keeps the engine running when done (default: stop it)

local fixlua = require "fixlua"

local M = {}

local function env_num(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v or default
end

local cfg = {
  rate = env_num("FIXLUA_RATE", 200),
  count = env_num("FIXLUA_COUNT", 1000),
  symbols = os.getenv("FIXLUA_SYMBOLS") or "IBM,MSFT,AAPL,REJECT",
  max_qty = env_num("FIXLUA_MAX_QTY", 2000),
  exit = os.getenv("FIXLUA_EXIT") ~= "0",
  linger = 5,          -- seconds to wait for answers after the last order
  tick = 0.02,         -- sending granularity (seconds)
  progress = true,     -- print the progress line
  out = io.stderr,
}

local st                 -- run state, see reset()

local function reset()
  st = {
    sent = 0, acked = 0, filled = 0, partial = 0, rejected = 0, canceled = 0, other = 0,
    answered = 0, pending = {}, rtts = {}, started = nil, last_sent_at = nil,
    credit = 0, done = false, seq = 0, symbols = {},
  }
  for s in cfg.symbols:gmatch("[^,%s]+") do st.symbols[#st.symbols + 1] = s end
end

function M.configure(t)
  for k, v in pairs(t) do
    if cfg[k] == nil and k ~= "out" then error("client.lua: unknown setting '" .. k .. "'", 2) end
    cfg[k] = v
  end
  reset()
end

function M.stats() return st end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.ceil(#sorted * p))
  return sorted[i]
end

local function line()
  local elapsed = st.started and (fixlua.clock() - st.started) or 0
  local sorted = {}
  for i, v in ipairs(st.rtts) do sorted[i] = v end
  table.sort(sorted)
  local open = 0
  for _ in pairs(st.pending) do open = open + 1 end
  return string.format(
    "client: sent %d%s  acked %d  filled %d  partial %d  rejected %d  unanswered %d  %.0f/s  rtt p50 %.2fms p99 %.2fms",
    st.sent, cfg.count > 0 and ("/" .. cfg.count) or "", st.acked, st.filled, st.partial,
    st.rejected, open, elapsed > 0 and st.sent / elapsed or 0,
    percentile(sorted, 0.5) * 1e3, percentile(sorted, 0.99) * 1e3)
end

local function progress()
  if cfg.progress and cfg.out then cfg.out:write(line(), "\n") end
end

local function summary(session)
  local elapsed = st.started and (fixlua.clock() - st.started) or 0
  local sorted = {}
  for i, v in ipairs(st.rtts) do sorted[i] = v end
  table.sort(sorted)
  local text = string.format(
    "client summary: %d orders in %.2fs (%.0f/s); answers: %d acked, %d filled, %d partially "
    .. "filled, %d rejected, %d other; unanswered %d; round trip min %.2fms p50 %.2fms "
    .. "p90 %.2fms p99 %.2fms max %.2fms",
    st.sent, elapsed, elapsed > 0 and st.sent / elapsed or 0, st.acked, st.filled, st.partial,
    st.rejected, st.other, st.sent - st.answered,
    (sorted[1] or 0) * 1e3, percentile(sorted, 0.5) * 1e3, percentile(sorted, 0.9) * 1e3,
    percentile(sorted, 0.99) * 1e3, (sorted[#sorted] or 0) * 1e3)
  if cfg.out then cfg.out:write(text, "\n") end
  return text
end

local function finish(session)
  if st.done then return end
  st.done = true
  if st.timer then st.timer:cancel() end
  if st.progress_timer then st.progress_timer:cancel() end
  summary(session)
  session:logout("load test done")
end

local function send_one(session)
  st.seq = st.seq + 1
  local id = string.format("C%d-%d", math.floor(session:now()), st.seq)
  local qty = 1 + (st.seq * 7919) % cfg.max_qty
  local sym = st.symbols[1 + st.seq % #st.symbols]
  local ok, err = session:send{
    MsgType = "D", ClOrdID = id, Symbol = sym, Side = (st.seq % 2 == 0) and "BUY" or "SELL",
    OrderQty = qty, OrdType = "LIMIT", Price = 100 + (st.seq % 50) / 10, HandlInst = "1",
    TimeInForce = "DAY", TransactTime = session:now() * 1e9,
  }
  if not ok then return false, err end
  st.sent = st.sent + 1
  st.pending[id] = fixlua.clock()
  st.last_sent_at = fixlua.clock()
  return true
end

local function tick(session)
  if st.done then return end
  if cfg.count > 0 and st.sent >= cfg.count then
    if st.answered >= cfg.count or fixlua.clock() - (st.last_sent_at or 0) > cfg.linger then
      finish(session)
    end
    return
  end
  st.credit = st.credit + cfg.rate * cfg.tick
  while st.credit >= 1 and (cfg.count == 0 or st.sent < cfg.count) do
    local ok, err = send_one(session)
    if not ok then
      if err and err:match("^EAGAIN") then break end -- backpressure: try next tick
      session:log("warn", "order not sent:", err)
      break
    end
    st.credit = st.credit - 1
  end
end

function M.on_logon(session)
  if st.done then return end
  st.started = st.started or fixlua.clock()
  st.timer = session:every(cfg.tick, tick)
  if cfg.progress then st.progress_timer = session:every(1, progress) end
end

function M.on_message(session, msg)
  if msg:type() ~= "8" then
    if msg:type() == "9" or msg:type() == "j" then st.other = st.other + 1 end
    return
  end
  local id = msg.ClOrdID
  local t0 = st.pending[id]
  if t0 then
    st.pending[id] = nil
    st.answered = st.answered + 1
    st.rtts[#st.rtts + 1] = fixlua.clock() - t0
  end
  local et = msg:enum("ExecType")
  if et == "NEW" then
    st.acked = st.acked + 1
  elseif et == "TRADE" or et == "FILL" or et == "PARTIAL_FILL" then
    if msg:enum("OrdStatus") == "FILLED" then st.filled = st.filled + 1 else st.partial = st.partial + 1 end
  elseif et == "REJECTED" then
    st.rejected = st.rejected + 1
  elseif et == "CANCELED" then
    st.canceled = st.canceled + 1
  end
  if cfg.count > 0 and st.sent >= cfg.count and st.answered >= cfg.count then finish(session) end
end

function M.on_disconnect(session)
  -- Interrupted (Ctrl-C, or --count 0 which runs until then, or the peer): what was done so far.
  if not st.done and st.started then summary(session) end
  if st.done and cfg.exit then session:engine():stop() end
end

reset()
return M
