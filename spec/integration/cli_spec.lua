-- The fixlua command: --version, help, check (scripts and configs), run refusing bad configs.
local H = require "support.helpers"

describe("fixlua command", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  it("prints its version and help", function()
    local rc, out = H.run_fixlua("--version")
    assert.equals(0, rc)
    assert.matches("^fixlua %d+%.%d+%.%d+", out)
    rc, out = H.run_fixlua("help")
    assert.equals(0, rc)
    assert.matches("run CONFIG.lua", out, 1, true)
    assert.matches("check FILE", out, 1, true)
    rc = H.run_fixlua("frobnicate")
    assert.equals(2, rc)
  end)

  it("checks a good script and lists its callbacks", function()
    local rc, _, err = H.run_fixlua("check scripts/exchange.lua")
    assert.equals(0, rc)
    assert.matches("scripts/exchange.lua: ok %(on_logon, on_message%)", err)
  end)

  it("reports unknown callback names with a suggestion", function()
    H.write(dir .. "/typo.lua", "return { on_mesage = function() end, on_logon = function() end }")
    local rc, _, err = H.run_fixlua("check " .. dir .. "/typo.lua")
    assert.equals(1, rc)
    assert.matches("unknown callback 'on_mesage' %(did you mean 'on_message'%?%)", err)
  end)

  it("reports a script that does not load, with its line", function()
    H.write(dir .. "/bad.lua", "local x = \nreturn {")
    local rc, _, err = H.run_fixlua("check " .. dir .. "/bad.lua")
    assert.equals(1, rc)
    assert.matches("bad.lua:2:", err)
    H.write(dir .. "/boom.lua", "error('boom at load')\nreturn {}")
    rc, _, err = H.run_fixlua("check " .. dir .. "/boom.lua")
    assert.equals(1, rc)
    assert.matches("boom.lua:1: boom at load", err)
    H.write(dir .. "/nofn.lua", "return { on_logon = 42 }")
    rc, _, err = H.run_fixlua("check " .. dir .. "/nofn.lua")
    assert.equals(1, rc)
    assert.matches("callback 'on_logon' must be a function, got number", err)
  end)

  it("checks a config and the scripts it names", function()
    H.write(dir .. "/s.lua", "return { on_logn = function() end }")
    H.write(dir .. "/c.lua", [[return { sessions = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0", script = "s.lua" } } }]])
    local rc, _, err = H.run_fixlua("check " .. dir .. "/c.lua")
    assert.equals(1, rc)
    assert.matches("unknown callback 'on_logn' %(did you mean 'on_logon'%?%)", err)
    rc, _, err = H.run_fixlua("check examples/trading/config.lua")
    assert.equals(0, rc, err)
    assert.matches("examples/trading/config.lua: ok %(2 sessions%)", err)
  end)

  it("checks a config with a misspelt key as run does, and names the session of a bad script",
     function()
    H.write(dir .. "/typo.lua", [[return { session = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0" } } }]])
    local rc, _, err = H.run_fixlua("check " .. dir .. "/typo.lua")
    assert.equals(2, rc, err)
    assert.matches("unknown key 'session'", err, 1, true)
    H.write(dir .. "/c.lua", [[return { sessions = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0", script = "missing.lua" } } }]])
    rc, _, err = H.run_fixlua("check " .. dir .. "/c.lua")
    assert.equals(1, rc)
    assert.matches(dir .. "/c.lua: session 'exch': ", err, 1, true)
    assert.matches("cannot open", err, 1, true)
  end)

  it("refuses option values that would misbehave", function()
    H.write(dir .. "/c.lua", [[return { sessions = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0" } } }]])
    for _, g in ipairs({ "inf", "nan", "3000000", "-1" }) do
      local rc, _, err = H.run_fixlua("run " .. dir .. "/c.lua --grace " .. g)
      assert.equals(2, rc, g)
      assert.matches("--grace wants seconds, 0 to 86400", err, 1, true)
    end
    for _, o in ipairs({ "--rate 0", "--max-qty 0", "--count -1", "--rate 1e12" }) do
      local rc, _, err = H.run_fixlua("load 127.0.0.1:1 " .. o)
      assert.equals(2, rc, o)
      assert.matches("wants a number", err, 1, true)
    end
  end)

  it("refuses to run a bad config with exit code 2 and says why", function()
    H.write(dir .. "/c.lua", [[return { sessions = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0", heartbeat = "abc" } } }]])
    local rc, _, err = H.run_fixlua("run " .. dir .. "/c.lua")
    assert.equals(2, rc)
    assert.matches(dir .. "/c.lua: session 'exch': key 'heartbeat': expected a number 1..3600, got 'abc'",
                   err, 1, true)
    assert.matches("not starting", err)
    rc, _, err = H.run_fixlua("check " .. dir .. "/c.lua")
    assert.equals(2, rc)
    H.write(dir .. "/e.lua", "return { sessions = {} }")
    rc, _, err = H.run_fixlua("run " .. dir .. "/e.lua")
    assert.equals(2, rc)
    assert.matches("no sessions", err)
    rc, _, err = H.run_fixlua("run " .. dir .. "/missing.lua")
    assert.equals(2, rc)
  end)

  it("refuses a session whose script fails to load", function()
    H.write(dir .. "/s.lua", "return 42")
    H.write(dir .. "/c.lua", [[return { sessions = { { name = "exch", role = "acceptor",
      begin_string = "FIX.4.4", sender_comp_id = "EXEC", target_comp_id = "CLIENT",
      listen = "127.0.0.1:0", script = "s.lua" } } }]])
    local rc, _, err = H.run_fixlua("run " .. dir .. "/c.lua")
    assert.equals(2, rc)
    assert.matches("session 'exch'", err)
    assert.matches("must return a table of callbacks", err)
  end)

  it("pretty-prints logs (fixlua log)", function()
    H.write(dir .. "/m.log", "8=FIX.4.4|9=5|35=D|54=1|10=000|\n")
    local rc, out = H.run_fixlua("log " .. dir .. "/m.log")
    assert.equals(0, rc)
    assert.matches("Side", out)
  end)
end)
