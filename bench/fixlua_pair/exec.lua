-- bench/fixlua_pair/exec.lua — the acceptor's script: every NewOrderSingle is answered with an
-- ExecutionReport built in Lua from the order's fields.
local M = {}
local n = 0

function M.on_message(session, msg)
  if msg:type() ~= "D" then return end
  n = n + 1
  local id = tostring(n)
  session:send{ MsgType = "8", OrderID = id, ExecID = id, ExecType = "TRADE",
                OrdStatus = "FILLED", ClOrdID = msg.ClOrdID, Symbol = msg.Symbol,
                Side = msg.Side, OrderQty = msg.OrderQty, LastQty = msg.OrderQty,
                LastPx = msg.Price, LeavesQty = 0, CumQty = msg.OrderQty, AvgPx = msg.Price }
end

return M
