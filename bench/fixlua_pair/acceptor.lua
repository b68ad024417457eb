-- The acceptor of bench/fixlua_pair.sh (FLB_PORT, FLB_DIR from the environment).
return {
  store = { dir = (os.getenv("FLB_DIR") or "/tmp/flb") .. "/acceptor", sync = "batch" },
  sessions = {
    { name = "exch", role = "acceptor", begin_string = "FIX.4.4",
      sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:" .. (os.getenv("FLB_PORT") or "29878"), heartbeat = 30,
      script = "exec.lua" },
  },
}
