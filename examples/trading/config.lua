-- examples/trading/config.lua — an exchange and a client in one process.
--
--   fixlua run examples/trading/config.lua
--
-- The acceptor "exch" runs scripts/exchange.lua (fills, partially fills or rejects orders);
-- the initiator "client" runs scripts/client.lua, which sends 1000 orders at 200/s, prints a
-- progress line every second and a summary, logs out and stops the engine. Try
--   FIXLUA_RATE=2000 FIXLUA_COUNT=20000 fixlua run examples/trading/config.lua
-- and Ctrl-C at any time: both sessions log out cleanly before the process exits.
--
-- Paths (scripts, store, logs) are relative to this file. The journal and the logs go to
-- examples/trading/var/: run it twice and the sequence numbers carry on where they stopped;
-- `fixlua log examples/trading/var/log/client.messages.log` shows the traffic with names.

return {
  store = { dir = "var/store", sync = "batch" },   -- file journal, fdatasync per batch
  log   = { dir = "var/log", messages = true },

  sessions = {
    {
      name = "exch", role = "acceptor", begin_string = "FIX.4.4",
      sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:9878",
      heartbeat = 30,
      script = "../../scripts/exchange.lua",
    },
    {
      name = "client", role = "initiator", begin_string = "FIX.4.4",
      sender_comp_id = "CLIENT", target_comp_id = "EXEC",
      connect = { "127.0.0.1:9878" },                 -- a list is a failover list
      heartbeat = 30,
      reconnect = { interval = 1, max_tries = 0 },    -- 0: keep trying
      script = "../../scripts/client.lua",
    },
  },
}
