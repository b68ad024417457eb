-- `fixlua run` and `fixlua load` as processes: they log on to an acceptor hosted by this spec;
-- SIGINT makes `run` log out cleanly and exit 0, `load` trades and exits 0 by itself. Bounded
-- in time; temp files removed.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("fixlua run", function()
  local dir, eng, pid
  after_each(function()
    if pid then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    if eng then eng:close() end
    H.rmdir(dir)
    dir, eng, pid = nil, nil, nil
  end)

  it("logs every session out on SIGINT and exits 0", function()
    dir = H.tmpdir()
    local logout_text
    eng = assert(fixlua.engine{ manual_clock = true })
    local acc = eng:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                                 sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                                 listen = "127.0.0.1:0",
                                 script = { on_logout = function(_, text) logout_text = text end } }
    assert(eng:start())
    H.write(dir .. "/client.lua", "return { on_logon = function(s) s:log('info', 'hello from the script') end }")
    H.write(dir .. "/config.lua", string.format([[
      return {
        store = { dir = "var/store" },
        sessions = { { name = "client", role = "initiator", begin_string = "FIX.4.4",
                       sender_comp_id = "CLIENT", target_comp_id = "EXEC",
                       connect = "127.0.0.1:%d", script = "client.lua" } },
      }]], eng:port("exch")))
    os.execute(string.format("(timeout 30 %s run '%s/config.lua' >'%s/out' 2>'%s/err' & echo $! >'%s/pid'; "
                             .. "wait $!; echo $? >'%s/rc') &", H.fixlua_bin, dir, dir, dir, dir, dir))
    for _ = 1, 2000 do
      pid = tonumber(H.read(dir .. "/pid") or "")
      if pid then break end
      fixlua.sleep(0.001)
    end
    assert.is_not_nil(pid, "fixlua did not start")
    H.step_until(eng, function() return acc:state() == "active" end, "runner logged on", 10000)
    assert.equals(0, os.execute("kill -INT " .. pid))
    H.step_until(eng, function() return logout_text ~= nil end, "Logout from the runner", 10000)
    assert.equals("shutting down", logout_text)
    H.step_until(eng, function() return acc:state() == "disconnected" end, "disconnect", 10000)
    local rc
    for _ = 1, 5000 do
      rc = tonumber(H.read(dir .. "/rc") or "")
      if rc then break end
      eng:run_once(false)
      fixlua.sleep(0.001)
    end
    pid = nil
    assert.equals(0, rc)
    local err = H.read(dir .. "/err")
    assert.matches("[client] state logon_sent -> active", err, 1, true)
    assert.matches("hello from the script", err, 1, true)
    assert.matches("fixlua: stopped", err, 1, true)
    -- the journal is where the config said, relative to the config file
    assert.is_not_nil(H.read(dir .. "/var/store/client.journal"))
  end)

  -- Runs `fixlua <args>` in the background against this spec's engine until it exits.
  local function run_bg(args, engine)
    os.remove(dir .. "/rc")
    os.remove(dir .. "/pid")
    os.execute(string.format("(timeout 30 %s %s >'%s/out' 2>'%s/err' & echo $! >'%s/pid'; "
                             .. "wait $!; echo $? >'%s/rc') &", H.fixlua_bin, args, dir, dir,
                             dir, dir))
    local rc
    for _ = 1, 30000 do
      pid = pid or tonumber(H.read(dir .. "/pid") or "")
      rc = tonumber(H.read(dir .. "/rc") or "")
      if rc then break end
      engine:run_once(false)
      fixlua.sleep(0.001)
    end
    pid = nil
    return rc, H.read(dir .. "/out") or "", H.read(dir .. "/err") or ""
  end

  it("fixlua load trades with an exchange, prints a summary and exits 0, twice", function()
    dir = H.tmpdir()
    local exchange = dofile("scripts/exchange.lua")
    local orders = 0
    local on_message = exchange.on_message
    exchange.on_message = function(s, m)
      if m:type() == "D" then orders = orders + 1 end
      return on_message(s, m)
    end
    eng = assert(fixlua.engine{})
    assert(eng:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                            sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                            listen = "127.0.0.1:0", script = exchange })
    assert(eng:start())
    local args = string.format("load 127.0.0.1:%d --count 40 --rate 2000 --symbols IBM,REJECT",
                               eng:port("exch"))
    for run = 1, 2 do -- the second Logon asks for a reset, so the sequence numbers start again
      local rc, _, err = run_bg(args, eng)
      assert.equals(0, rc, err)
      assert.matches("client summary: 40 orders", err, 1, true)
      assert.matches("unanswered 0", err, 1, true)
      assert.matches("[load] state logout_sent -> disconnected", err, 1, true)
      assert.equals(40 * run, orders)
    end
  end)

  it("fixlua load refuses bad usage with exit code 2", function()
    local rc, _, err = H.run_fixlua("load")
    assert.equals(2, rc)
    assert.matches("fixlua load HOST:PORT", err, 1, true)
    rc, _, err = H.run_fixlua("load 127.0.0.1:1 --rate fast")
    assert.equals(2, rc)
    assert.matches("--rate wants a number", err, 1, true)
    rc, _, err = H.run_fixlua("load 127.0.0.1:1 --frobnicate 1")
    assert.equals(2, rc)
    assert.matches("unknown option '--frobnicate'", err, 1, true)
    local out
    rc, out = H.run_fixlua("load --help")
    assert.equals(0, rc)
    assert.matches("--count N", out, 1, true)
  end)
end)
