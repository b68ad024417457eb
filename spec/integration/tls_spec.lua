-- TLS from the configuration: an acceptor with a certificate, an initiator that verifies it
-- (and sends its own), and clear refusals of incomplete tls tables. Certificates are the
-- test-only files in core/test/data/tls.
local H = require "support.helpers"
local fixlua = require "fixlua"

local dir = "core/test/data/tls/"

describe("tls", function()
  local eng
  after_each(function() if eng then eng:close() eng = nil end end)

  it("logs on and trades over mutual TLS", function()
    local got = 0
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = {
        tls = { cert = dir .. "server.pem", key = dir .. "server.key", ca = dir .. "ca.pem",
                verify_peer = true },
        script = { on_message = function() got = got + 1 end },
      },
      initiator = {
        tls = { ca = dir .. "ca.pem", cert = dir .. "client.pem", key = dir .. "client.key" },
      },
    }
    H.logon(eng, acc, ini)
    for i = 1, 10 do
      assert(ini:send{ MsgType = "D", ClOrdID = tostring(i), Symbol = "IBM", Side = "BUY" })
    end
    H.step_until(eng, function() return got == 10 end, "10 orders over TLS")
  end)

  it("refuses a server whose certificate it cannot verify", function()
    local failures = 0
    local acc, ini
    eng, acc, ini = H.pair{
      acceptor = { tls = { cert = dir .. "server.pem", key = dir .. "server.key" } },
      initiator = {
        tls = { ca = dir .. "other.pem" },
        script = { on_connect_failed = function() failures = failures + 1 end },
        reconnect = { interval = 60 },
      },
    }
    H.step_until(eng, function() return failures > 0 end, "connect failure")
    assert.are_not.equals("active", ini:state())
    assert.are_not.equals("active", acc:state())
  end)

  it("refuses an acceptor without a certificate at configuration time", function()
    local e = assert(fixlua.engine{ manual_clock = true })
    local ok, err = pcall(e.add_session, e, {
      name = "exch", role = "acceptor", begin_string = "FIX.4.4", sender_comp_id = "EXEC",
      target_comp_id = "CLIENT", listen = "127.0.0.1:0", tls = { ca = dir .. "ca.pem" },
    })
    e:close()
    assert.is_false(ok and err ~= nil and err ~= false)
    assert.matches("tls", tostring(err))
  end)

  it("refuses acceptors on one address with different tls settings", function()
    -- One listener has one TLS context: the second's demand for client certificates would
    -- have been ignored without a word.
    local e = assert(fixlua.engine{ manual_clock = true })
    assert(e:add_session{ name = "open", role = "acceptor", begin_string = "FIX.4.4",
      sender_comp_id = "EXEC", target_comp_id = "ANY", listen = "127.0.0.1:0",
      tls = { cert = dir .. "server.pem", key = dir .. "server.key" } })
    local s, err = e:add_session{ name = "strict", role = "acceptor", begin_string = "FIX.4.4",
      sender_comp_id = "EXEC", target_comp_id = "CLIENT", listen = "127.0.0.1:0",
      tls = { cert = dir .. "server.pem", key = dir .. "server.key", ca = dir .. "ca.pem",
              verify_peer = true } }
    e:close()
    assert.is_nil(s)
    assert.matches("must have the same tls settings", tostring(err))
  end)
end)
