-- An initiator reconnects after its acceptor restarts (a second engine in the same process,
-- on the same port, reopening the same file journal), and the session carries on in sequence.
local fixlua = require "fixlua"
local DEBUG = os.getenv("FIXLUA_SPEC_DEBUG") and true or nil
local H = require "support.helpers"

describe("reconnect", function()
  local dir, engines = nil, {}
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
    H.rmdir(dir)
  end)

  local function acceptor(port, got)
    local e = assert(fixlua.engine{ manual_clock = true, store = { dir = dir .. "/store" }, log_stderr = DEBUG })
    engines[#engines + 1] = e
    local s = e:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                             sender_comp_id = "EXEC", target_comp_id = "CLIENT",
                             listen = "127.0.0.1:" .. port,
                             script = { on_message = function(_, m) got[#got + 1] = m.ClOrdID end } }
    assert(e:start())
    return e, s
  end

  it("logs on again after the acceptor comes back, in sequence", function()
    dir = H.tmpdir()
    local got = {}
    local ea, acc = acceptor(0, got)
    local port = ea:port("exch")
    local disconnects, logons = 0, 0
    local eb = assert(fixlua.engine{ manual_clock = true, log_stderr = DEBUG })
    engines[#engines + 1] = eb
    local ini = eb:add_session{
      name = "client", role = "initiator", begin_string = "FIX.4.4", sender_comp_id = "CLIENT",
      target_comp_id = "EXEC", connect = "127.0.0.1:" .. port, reconnect = { interval = 2 },
      script = { on_disconnect = function() disconnects = disconnects + 1 end,
                 on_logon = function() logons = logons + 1 end },
    }
    assert(eb:start())
    H.step_all({ ea, eb }, function() return logons == 1 and acc:state() == "active" end, "first logon")
    assert(ini:send{ MsgType = "D", ClOrdID = "before", Side = "BUY", Symbol = "X", OrderQty = 1,
                     OrdType = "MARKET", HandlInst = "1", TransactTime = 0 })
    H.step_all({ ea, eb }, function() return #got == 1 end, "first order")

    ea:close()                                       -- the acceptor goes away
    table.remove(engines, 1)
    H.step_all({ eb }, function() return disconnects == 1 end, "disconnect seen")
    local ea2 = acceptor(port, got)                  -- and comes back on the same port
    eb:advance(2.5)                                  -- the reconnect interval passes
    H.step_all({ ea2, eb }, function() return logons == 2 end, "second logon")
    assert(ini:send{ MsgType = "D", ClOrdID = "after", Side = "BUY", Symbol = "X", OrderQty = 1,
                     OrdType = "MARKET", HandlInst = "1", TransactTime = 0 })
    H.step_all({ ea2, eb }, function() return #got == 2 end, "second order")
    assert.same({ "before", "after" }, got)
    assert.equals("active", ini:state())
    local acc2 = ea2:session("exch")
    assert.equals(ini:next_sender_seq(), acc2:next_target_seq()) -- numbers carried over
  end)
end)
