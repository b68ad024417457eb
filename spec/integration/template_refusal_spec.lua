-- A session made from a "*" template for a Logon its script refuses is removed once the
-- connection ends, with the journal and logs it created: refused CompIDs, however many, leave
-- no session, state or file behind. An accepted one stays.
local fixlua = require "fixlua"
local H = require "support.helpers"

describe("template sessions", function()
  local dir, engines = nil, {}
  after_each(function()
    for _, e in ipairs(engines) do e:close() end
    engines = {}
    H.rmdir(dir)
  end)

  local function files(sub)
    local list = {}
    local p = io.popen("ls '" .. dir .. "/" .. sub .. "' 2>/dev/null")
    for name in p:lines() do list[#list + 1] = name end
    p:close()
    table.sort(list)
    return list
  end

  it("are removed with their files when their Logon is refused", function()
    dir = H.tmpdir()
    local A = assert(fixlua.engine{ manual_clock = true, log_stderr = false,
                                    store = { dir = dir .. "/store" },
                                    log = { dir = dir .. "/log", messages = true, events = true } })
    engines[#engines + 1] = A
    A:add_session{ name = "exch", role = "acceptor", begin_string = "FIX.4.4",
                   sender_comp_id = "EXEC", target_comp_id = "*", listen = "127.0.0.1:0",
                   script = { validate_logon = function(_, m)
                     if m.SenderCompID == "GOOD" then return true end
                     return false, "go away"
                   end } }
    assert(A:start())
    local port = A:port("exch")
    local B = assert(fixlua.engine{ manual_clock = true, log_stderr = false })
    engines[#engines + 1] = B
    local refused, inis = 0, {}
    for k = 1, 20 do
      local comp = k == 20 and "GOOD" or ("ATTACK" .. k)
      inis[k] = B:add_session{ name = "c" .. k, role = "initiator", begin_string = "FIX.4.4",
        sender_comp_id = comp, target_comp_id = "EXEC", connect = "127.0.0.1:" .. port,
        reconnect = { interval = 1000 },
        script = { on_logon_rejected = function() refused = refused + 1 end } }
    end
    assert(B:start())
    H.step_all({ A, B }, function() return refused == 19 and inis[20]:state() == "active" end,
               "19 refusals and one logon")
    H.step_all({ A, B }, function() return #A:sessions() == 2 end, "the refused ones removed")
    local names = A:sessions()
    table.sort(names)
    assert.same({ "exch", "exch.GOOD" }, names)
    -- the files of the refused attempts are gone; the accepted session's stay
    assert.same({ "exch.GOOD.journal", "exch.journal" }, files("store"))
    for _, f in ipairs(files("log")) do
      assert.is_nil(f:find("ATTACK", 1, true), f)
    end
    assert.is_not_nil(H.read(dir .. "/log/exch.GOOD.messages.log"))
  end)
end)
