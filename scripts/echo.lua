-- scripts/echo.lua — sends every application message back to where it came from.
--
-- The copy keeps the message's application fields; the engine writes a new header (CompIDs,
-- MsgSeqNum, SendingTime), so the peer sees its own message coming back. Useful as the far end
-- of a latency test or to check what a counterparty actually sent.

local M = {}

function M.on_message(session, msg)
  local ok, err = session:send(msg)
  if not ok then session:log("warn", "echo failed:", err) end
end

return M
