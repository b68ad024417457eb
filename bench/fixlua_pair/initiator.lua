-- The initiator of bench/fixlua_pair.sh (FLB_PORT, FLB_DIR from the environment).
return {
  store = { dir = (os.getenv("FLB_DIR") or "/tmp/flb") .. "/initiator", sync = "batch" },
  sessions = {
    { name = "client", role = "initiator", begin_string = "FIX.4.4",
      sender_comp_id = "CLIENT", target_comp_id = "EXEC",
      connect = { "127.0.0.1:" .. (os.getenv("FLB_PORT") or "29878") }, heartbeat = 30,
      reconnect = { interval = 1 }, script = "driver.lua" },
  },
}
