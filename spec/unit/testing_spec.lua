-- fixlua.testing behaves as the engine does where a script can tell: modules next to the
-- script are found, globals are strict once it has loaded, and session:log() takes the
-- engine's levels only.
local testing = require "fixlua.testing"
local H = require "support.helpers"

describe("fixlua.testing", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  it("loads a script as the engine does", function()
    H.write(dir .. "/helper_mod.lua", "return { answer = 42 }")
    H.write(dir .. "/s.lua", [[
      local helper = require "helper_mod"
      counter = 0                      -- a global made while loading: allowed, as in the engine
      local M = {}
      function M.on_message(session, msg)
        counter = counter + 1
        session:log("info", "answer", helper.answer)
        if msg.ClOrdID == "typo" then return max_qty + 1 end
        if msg.ClOrdID == "assign" then new_global = 1 end
        if msg.ClOrdID == "level" then session:log("warning", "x") end
      end
      return M
    ]])
    local script = testing.load(dir .. "/s.lua")
    local s = testing.session{}
    script.on_message(s, testing.message{ MsgType = "D", ClOrdID = "1" })
    assert.equals("answer 42", s:log_text("info"))
    assert.has_error(function()
      script.on_message(s, testing.message{ MsgType = "D", ClOrdID = "typo" })
    end)
    local ok, err = pcall(script.on_message, s, testing.message{ MsgType = "D", ClOrdID = "typo" })
    assert.is_false(ok)
    assert.matches("undefined global 'max_qty'", err)
    ok, err = pcall(script.on_message, s, testing.message{ MsgType = "D", ClOrdID = "assign" })
    assert.matches("assignment to undefined global 'new_global'", err)
    ok, err = pcall(script.on_message, s, testing.message{ MsgType = "D", ClOrdID = "level" })
    assert.matches("invalid option 'warning'", err)
    assert.is_nil(rawget(_G, "counter"))       -- the script's globals stay its own
  end)
end)
