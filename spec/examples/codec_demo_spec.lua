-- The codec demo prints real messages with field and enum names and refuses a broken frame.
local build = os.getenv("FIXLUA_BUILD_DIR") or "./build"

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok, _, code = p:close()
  return out, ok, code
end

describe("codec demo", function()
  it("runs under LuaJIT", function()
    assert.is_not_nil(jit, "busted must run under luajit (.busted sets lua = \"luajit\")")
  end)

  it("prints each field with its name and enum name", function()
    local out, ok = run(build .. "/examples/codec_demo")
    assert.is_true(ok)
    assert.matches("35=D|49=CLIENT|56=EXEC|34=2|", out, 1, true)
    assert.matches("54 Side%s+= 1  %(BUY%)", out)
    assert.matches("40 OrdType%s+= 2  %(LIMIT%)", out)
    assert.matches("150 ExecType%s+= F  %(TRADE%)", out)
    assert.matches("44 Price%s+= 143.25", out)
  end)

  it("computes BodyLength and CheckSum that a framer accepts", function()
    local out = run(build .. "/examples/codec_demo")
    local wire = out:match("wire: (8=FIX%.4%.4|[^\n]*)")
    assert.is_not_nil(wire)
    local raw = wire:gsub("|", "\1")
    local body_start = raw:find("35=", 1, true)
    local trailer = raw:find("\00110=%d%d%d\001$")
    local declared = tonumber(raw:match("\0019=(%d+)\001"))
    assert.equals(trailer - body_start + 1, declared)
    local sum = 0
    for i = 1, trailer do sum = sum + raw:byte(i) end
    assert.equals(sum % 256, tonumber(raw:match("10=(%d%d%d)\001$")))
  end)

  it("refuses a frame whose checksum is wrong", function()
    local out = run(build .. "/examples/codec_demo")
    assert.matches("not a valid frame: CheckSum%(10%) mismatch", out)
  end)
end)
