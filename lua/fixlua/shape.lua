-- fixlua.shape — a writer compiled for one shape of table that session:send keeps seeing.
--
-- A table built by the same constructor has the same keys, and pairs() yields them in the same
-- order. For such a shape this module generates straight-line Lua: one block per field, in the
-- order the fields go on the wire (extra header fields first, then by tag, ties in pairs order,
-- as the C encoder and send_items sort them), each reading its key as a constant. LuaJIT then
-- compiles every field's own path, where the general loop of fast.lua takes a side exit each
-- time the kind of value changes from one field to the next; and the fields come out already
-- in order, so C sends the arena as it is instead of sorting and copying it.
--
-- The writer declines (returns nothing) for whatever the general path must see: a table whose
-- keys are not the shape's in the shape's order, a value of another type than the ones it
-- writes, an empty string, a number FIX cannot carry, or too little room. fast.lua then runs
-- the general loop, which grows the arena or leaves the table to the C encoder, which raises.
local ffi = require "ffi"

local format, concat, tostring = string.format, table.concat, tostring
-- What this module and the code it generates call, taken now: a script that later assigns a
-- global of the same name does not change how its messages are written.
local load, type, tonumber, next = load, type, tonumber, next
local ipairs, assert, sort = ipairs, assert, table.sort

local M = {}

-- Bigger tables stay with the general loop: the writer of a very wide shape would no longer
-- fit in one trace.
M.max_fields = 40

-- Writers compiled, and messages they wrote for the C session:send and for fast.lua's own
-- (`direct`), in this Lua state: one table per state however often this module is
-- loaded (busted reloads modules per spec file; the encoder that compiles is the first one).
local registry = debug.getregistry()
registry["fixlua.shape.stats"] = registry["fixlua.shape.stats"] or
  { compiled = 0, written = 0, direct = 0 }
M.stats = registry["fixlua.shape.stats"]

local function key_literal(k)
  if type(k) == "string" then return format("%q", k) end
  return format("%d", k)
end

-- The code of one field: v is its value, the prefix ("tag=") is P<i> or a constant word.
local function field_code(out, i, k, info, slack)
  local plen = info.plen
  local prefix
  if info.wide == 0 then
    prefix = format("ffi_cast(u64p, p + pos)[0] = %s", tostring(info.prefix8))
  else
    prefix = format("ffi_copy(p + pos, P%d, %d)", i, plen)
  end
  out[#out + 1] = format("v = t[%s]; tv = type(v)", key_literal(k))
  if info.has_enums ~= 0 then -- names of values; a boolean is Y or N as it is
    out[#out + 1] = format("if tv == 'string' then v = E%d[v] or v end", i)
  end
  out[#out + 1] = "if tv == 'boolean' then v, tv = v and 'Y' or 'N', 'string' end"
  out[#out + 1] = "if tv == 'string' then"
  out[#out + 1] = format("  n = #v; if n == 0 or pos + n > cap - %d then return end",
                         plen + 1 + slack)
  out[#out + 1] = "  " .. prefix
  out[#out + 1] = format("  ffi_copy(p + pos + %d, v, n); pos = pos + %d + n", plen, plen)
  if info.timestamp == 0 then
    out[#out + 1] = "elseif tv == 'number' and v < max_number and v > -max_number and " ..
                    "(v >= min_number or v <= -min_number or v == 0) then"
    out[#out + 1] = format("  if pos > cap - %d then return end", plen + 65 + slack)
    out[#out + 1] = "  " .. prefix
    out[#out + 1] = format("  pos = pos + %d; pos = pos + tonumber(format_number(p + pos, v))",
                           plen)
  end
  out[#out + 1] = "else return end"
  out[#out + 1] = "p[pos] = 1; pos = pos + 1"
end

-- The writer of the keys keys[1..n] (pairs order) whose field descriptions are fields[key]
-- (fast.lua's info_t), enums[key] and prefixes[key]; nil when the shape is not one to compile.
-- It is called as write(t, p, cap) with the arena and its size and returns the bytes written and
-- the length of the extra header fields, or nothing to decline. env holds what the code uses:
-- ffi_cast, ffi_copy, u64p, format_number, max_number, min_number, slack.
function M.compile(keys, n, fields, enums, prefixes, env)
  if n > M.max_fields then return nil end
  -- A table that names one tag twice (Symbol and [55], MsgType and [35]) stays with the
  -- general loop: which of the two comes first depends on that table's own iteration order, and
  -- a key the writer does not read would make counting keys no proof of the key set.
  local order, tags = {}, {}
  for i = 1, n do
    local info = fields[keys[i]]
    if info == nil or info.kind == 2 or tags[info.tag] then return nil end
    tags[info.tag] = true
    if info.kind ~= 3 then -- MsgType is the engine's to write
      order[#order + 1] = { k = keys[i], info = info, header = info.kind == 1 and 0 or 1,
                            tag = info.tag, index = i }
    end
  end
  if #order == 0 then return nil end
  sort(order, function(a, b)
    if a.header ~= b.header then return a.header < b.header end
    if a.tag ~= b.tag then return a.tag < b.tag end
    return a.index < b.index
  end)
  local up = { E = {}, P = {} }
  local out = {
    "local ffi_cast, ffi_copy, u64p, format_number, max_number, min_number, up, type, tonumber," ..
      " next = ...",
  }
  for i, f in ipairs(order) do
    if f.info.has_enums ~= 0 then
      up.E[i] = enums[f.k]
      out[#out + 1] = format("local E%d = up.E[%d]", i, i)
    end
    if f.info.wide ~= 0 then
      up.P[i] = prefixes[f.k]
      out[#out + 1] = format("local P%d = up.P[%d]", i, i)
    end
  end
  out[#out + 1] = "return function(t, p, cap)"
  -- t has exactly the shape's keys, in the same order: next() from each key gives the next one.
  -- (Compiled: a key lookup and a step each. A loop counting the keys would end the trace of
  -- the script's callback here.)
  out[#out + 1] = format("if next(t) ~= %s then return end", key_literal(keys[1]))
  for i = 1, n do
    out[#out + 1] = format("if next(t, %s) ~= %s then return end", key_literal(keys[i]),
                           i < n and key_literal(keys[i + 1]) or "nil")
  end
  out[#out + 1] = "local pos, hl, v, tv, n = 0, 0"
  for i, f in ipairs(order) do
    field_code(out, i, f.k, f.info, env.slack)
    if f.header == 0 then out[#out + 1] = "hl = pos" end
  end
  out[#out + 1] = "return pos, hl"
  out[#out + 1] = "end"
  local chunk = assert(load(concat(out, "\n"), "=fixlua.shape"))
  M.stats.compiled = M.stats.compiled + 1
  return chunk(env.ffi_cast, env.ffi_copy, env.u64p, env.format_number, env.max_number,
               env.min_number, up,
               type, tonumber, next), #order
end

return M
