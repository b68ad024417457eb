-- scripts/exchange.lua — a simulated exchange for an acceptor session.
--
-- Rules, per NewOrderSingle (D):
--   * Symbol "REJECT", OrderQty <= 0, or a LIMIT order without Price: ExecutionReport
--     Rejected (OrdRejReason, Text).
--   * OrderQty <= M.fill_max (default 1000): acknowledged (ExecType NEW), then filled in full.
--   * larger orders: acknowledged, half is filled, the rest stays open (a resting order).
-- OrderCancelRequest (F): an open order is canceled (ExecType CANCELED); anything else gets an
-- OrderCancelReject (9) with CxlRejReason UNKNOWN_ORDER or TOO_LATE_TO_CANCEL.
-- Market orders fill at M.market_price (default 100). Works for FIX.4.2 to FIX.4.4 (FIX.4.2
-- gets ExecTransType and PARTIAL_FILL/FILL exec types).
--
-- Run it:  fixlua run examples/trading/config.lua   (with scripts/client.lua as the other side)
-- Test it: spec/unit/scripts_spec.lua drives it with fixlua.testing fake sessions.

local M = {
  fill_max = 1000,
  market_price = 100,
}

local orders = {}        -- ClOrdID -> order
local seq = 0

local function next_id(prefix)
  seq = seq + 1
  return prefix .. seq
end

local function legacy(session)
  return session:begin_string() < "FIX.4.3" -- FIX.4.0 .. FIX.4.2 ("FIXT.1.1" sorts after)
end

local function report(session, o, exec_type, status, last_qty, last_px, text)
  local er = {
    MsgType = "8", OrderID = o.order_id, ExecID = next_id("E"), ClOrdID = o.cl_ord_id,
    Symbol = o.symbol, Side = o.side, OrderQty = o.qty, OrdType = o.ord_type,
    ExecType = exec_type, OrdStatus = status,
    LeavesQty = o.open and (o.qty - o.cum) or 0, CumQty = o.cum, AvgPx = o.avg_px,
    TransactTime = session:now() * 1e9,
  }
  if o.price then er.Price = o.price end
  if last_qty then er[32], er.LastPx = last_qty, last_px end -- LastQty (LastShares before 4.3)
  if text then er.Text = text end
  if o.orig_cl_ord_id then er.OrigClOrdID = o.orig_cl_ord_id end
  if o.rej_reason then er.OrdRejReason = o.rej_reason end
  if legacy(session) then
    er.ExecTransType = "0"
    if exec_type == "TRADE" then er.ExecType = status == "FILLED" and "FILL" or "PARTIAL_FILL" end
  end
  local ok, err = session:send(er)
  if not ok then session:log("warn", "ExecutionReport not sent:", err) end
end

local function fill(session, o, qty)
  local px = o.price or M.market_price
  o.avg_px = (o.avg_px * o.cum + px * qty) / (o.cum + qty)
  o.cum = o.cum + qty
  o.open = o.cum < o.qty
  report(session, o, "TRADE", o.open and "PARTIALLY_FILLED" or "FILLED", qty, px)
end

local function reject(session, m, reason, text)
  local o = {
    order_id = "NONE", cl_ord_id = m.ClOrdID or "?", symbol = m.Symbol or "?",
    side = m.Side or "1", qty = m:decimal("OrderQty") or 0, ord_type = m.OrdType,
    cum = 0, avg_px = 0, open = false, rej_reason = reason,
  }
  report(session, o, "REJECTED", "REJECTED", nil, nil, text)
end

local function new_order(session, m)
  local qty = m:decimal("OrderQty") or 0
  local price = m:decimal("Price")
  if m.Symbol == "REJECT" then return reject(session, m, 1, "unknown symbol") end
  if qty <= 0 then return reject(session, m, 99, "OrderQty must be positive") end
  if m:enum("OrdType") == "LIMIT" and not price then
    return reject(session, m, 99, "a LIMIT order needs a Price")
  end
  local o = {
    order_id = next_id("O"), cl_ord_id = m.ClOrdID, symbol = m.Symbol, side = m.Side,
    qty = qty, price = price, ord_type = m.OrdType, cum = 0, avg_px = 0, open = true,
  }
  orders[o.cl_ord_id] = o
  report(session, o, "NEW", "NEW")
  if qty <= M.fill_max then
    fill(session, o, qty)
  else
    fill(session, o, math.floor(qty / 2))
  end
end

local function cancel(session, m)
  local o = orders[m.OrigClOrdID or ""]
  if not o or not o.open then
    local ok, err = session:send{
      MsgType = "9", OrderID = o and o.order_id or "NONE", ClOrdID = m.ClOrdID,
      OrigClOrdID = m.OrigClOrdID or "NONE", OrdStatus = o and "FILLED" or "REJECTED",
      CxlRejResponseTo = "ORDER_CANCEL_REQUEST",
      CxlRejReason = o and "TOO_LATE_TO_CANCEL" or "UNKNOWN_ORDER",
    }
    if not ok then session:log("warn", "OrderCancelReject not sent:", err) end
    return
  end
  o.open = false
  o.orig_cl_ord_id, o.cl_ord_id = o.cl_ord_id, m.ClOrdID
  report(session, o, "CANCELED", "CANCELED")
end

function M.on_logon(session)
  session:log("info", "exchange open for", session:target_comp_id())
end

function M.on_message(session, msg)
  local t = msg:type()
  if t == "D" then
    new_order(session, msg)
  elseif t == "F" then
    cancel(session, msg)
  else
    session:send{ MsgType = "j", RefSeqNum = msg:seq(), RefMsgType = t,
                  BusinessRejectReason = 3, Text = "unsupported message type" }
  end
end

-- For tests: forget every order.
function M.reset()
  orders, seq = {}, 0
end

return M
