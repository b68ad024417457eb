-- `fixlua run` as a process: it logs on to an acceptor hosted by this spec, and SIGINT makes
-- it log out cleanly and exit 0. Bounded in time; temp files removed.
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
end)
