-- fixlua.fast — the paths every message takes, written in Lua so that LuaJIT compiles them
-- into the script's own traces: reading a field (msg.Price, msg[44], msg:get(), msg:type(),
-- msg:int(), msg:decimal(), msg:seq()) and session:send{...} of a flat table. They reach C
-- through the FFI, with raw pointers that fl_lua_msg.c and fl_lua_session.c hand over; the
-- FFI'd C functions never touch the Lua state.
-- Whatever is unusual (an expired view, a message of another dictionary, groups, timestamps
-- given as numbers, empty values, session handles) goes to the C API functions these replace,
-- which are the reference behaviour and raise the errors, so both paths give the same result.
local ffi = require "ffi"
local shape = require "fixlua.shape"

local type, pairs, tonumber = type, pairs, tonumber
local setmetatable, getmetatable, pcall = setmetatable, getmetatable, pcall
local raw_metatable = require("debug").getmetatable
local ffi_string, ffi_copy, ffi_cast = ffi.string, ffi.copy, ffi.cast

local field_fn = ffi.typeof("int32_t (*)(const void *, uint32_t, const void *, const char **)")
local field_again_fn = ffi.typeof(
  "int32_t (*)(const void *, uint32_t, const void *, const char **, const char *, size_t)")
local reserve_fn = ffi.typeof("char *(*)(void *, size_t)")
local number_fn = ffi.typeof("size_t (*)(char *, double)")
local send_fn = ffi.typeof(
  "int32_t (*)(void *, void *, const char *, size_t, uint32_t, uint32_t, uint32_t)")
local parse_fn = ffi.typeof(
  "int32_t (*)(const void *, uint32_t, const void *, int32_t, double *, const char **)")
local enum_name_fn = ffi.typeof("const char *(*)(const void *, uint32_t, const char *, size_t)")

local function is_tag(k)
  return type(k) == "number" and k >= 1 and k <= 999999999 and k % 1 == 0
end

-- Message reads. `keys` is the table the C __index shares: method names to functions, and
-- field names of the state's dictionary to tags, filled by the C __index as names are used.
local function install_readers(fm)
  local mt, keys, c_index = fm.mt, fm.methods, fm.index
  local field = ffi_cast(field_fn, fm.field)
  -- Tags in `keys` hold for messages of this context's dictionary only. (Pointers are made
  -- cdata here: LuaJIT does not compile the conversion of a light userdata.)
  local ctx = ffi_cast("const void *", fm.ctx)
  local out = ffi.new("const char *[1]")
  local c_get, c_type = keys.get, keys.type
  -- One-character values (MsgType, Side, OrdType, flags: most FIX enums) come from this table
  -- instead of being hashed and interned each time. (Written out at each use below: see the
  -- note on helper functions.)
  local chars = {}
  for c = -128, 255 do chars[c] = string.char(c % 256) end -- a C char may be signed or not
  -- A callback's view reads each field once: a value read by name or tag is kept here with the
  -- view's serial (unique in the state; 0 for owned messages, whose fields can change), and
  -- read again only by a later view. An expired view never gets here (its m is NULL).
  local box_t = ffi.typeof("struct { const void *m; double serial; } *")
  local memo_serial, memo_value = {}, {}
  -- The last string of up to LAST_MAX bytes made for each key, whatever the message: when the
  -- next value has the same bytes, field_again says so and that string is returned instead of
  -- being hashed and looked up again (LuaJIT would find the very same string object).
  local field_again = ffi_cast(field_again_fn, fm.field_again)
  local last_value, LAST_MAX = {}, 64

  -- (No helper function here: a Lua function called from a metamethod cannot start a trace of
  -- its own, LuaJIT blacklists it, and then every trace through it aborts.)
  local function index(msg, k)
    local tag, names = keys[k], ctx
    if type(tag) ~= "number" then
      if tag ~= nil then return tag end -- a method
      if not is_tag(k) then return c_index(msg, k) end
      tag, names = k, nil
    end
    local box = ffi_cast(box_t, msg)
    local serial = box.serial
    if memo_serial[k] == serial and box.m ~= nil then return memo_value[k] end
    local last = last_value[k]
    local n = field_again(msg, tag, names, out, last, last and #last or 0)
    if n >= 0 then
      local v, p = last, out[0]
      if p == nil then -- the bytes of `last`
      elseif n == 1 then v = chars[p[0]]
      else
        v = ffi_string(p, n)
        if n <= LAST_MAX then last_value[k] = v end
      end
      if serial ~= 0 then memo_serial[k], memo_value[k] = serial, v end
      return v
    end
    if n == -1 then return nil end
    return c_index(msg, k) -- expired (raises), or a name to resolve in the message's dictionary
  end
  mt.__index, fm.view_mt.__index = index, index

  local resolve = fm.resolve
  -- The methods take the FFI path for a userdata whose metatable is one of the two message
  -- metatables (owned messages, views), as the C methods check: getmetatable() would only give
  -- the __metatable name, which any userdata can claim.
  local owned_mt, view_mt = mt, fm.view_mt
  local function is_box(msg)
    local m = type(msg) == "userdata" and raw_metatable(msg)
    return m == view_mt or m == owned_mt
  end

  -- The tag of k for the FFI readers and the name context it holds for, or nil: then the C
  -- method is tail-called, so that its errors point at the script's line.
  local function tag_of(msg, k)
    local tag = keys[k]
    if type(tag) == "number" then return tag, ctx end
    if tag == nil then
      if is_tag(k) then return k, nil end
      tag = resolve(msg, k) -- a name not read yet: cached when it can be
      if tag then return tag, ctx end
    end
    return nil
  end

  keys.get = function(msg, k, default)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = field(msg, tag, names, out)
        if n == 1 then return chars[out[0][0]] end
        if n >= 0 then return ffi_string(out[0], n) end
        if n == -1 then return default end
      end
    end
    return c_get(msg, k, default)
  end

  keys.type = function(msg)
    if is_box(msg) then
      local n = field(msg, 35, nil, out)
      if n == 1 then return chars[out[0][0]] end
      if n >= 0 then return ffi_string(out[0], n) end
      if n == -1 then return nil end
    end
    return c_type(msg)
  end

  -- msg:int(f), msg:decimal(f) and msg:seq(): the number parsed in C, no string made (but
  -- decimal's second result, the exact text). Bad syntax, absent names and other dictionaries
  -- take the C methods, which build the error tuples. (These methods and the ones below are
  -- written out one by one: made by one generator, each call paid about 70 instructions more
  -- for its upvalues.)
  local number = ffi_cast(parse_fn, fm.number)
  local num = ffi.new("double[1]")
  local c_int, c_decimal, c_seq = keys.int, keys.decimal, keys.seq

  keys.int = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = number(msg, tag, names, 0, num, out)
        if n >= 0 then return num[0] end
        if n == -1 then return end -- nothing, as the C method
      end
    end
    return c_int(msg, k)
  end

  keys.decimal = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = number(msg, tag, names, 1, num, out)
        if n >= 0 then return num[0], ffi_string(out[0], n) end
        if n == -1 then return end
      end
    end
    return c_decimal(msg, k)
  end

  keys.seq = function(msg)
    if is_box(msg) then
      local n = number(msg, 34, nil, 0, num, out)
      if n >= 0 then return num[0] end
    end
    return c_seq(msg)
  end

  -- msg:time(f): nanoseconds since the epoch and the text; msg:bool(f); msg:char(f); msg:has(f);
  -- msg:poss_dup(). Bad values, absent names, expired views and other dictionaries take the C
  -- methods, which build the error tuples or raise.
  local c_time, c_bool, c_char, c_has, c_poss_dup = keys.time, keys.bool, keys.char, keys.has,
                                                    keys.poss_dup

  keys.time = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = number(msg, tag, names, 2, num, out)
        if n >= 0 then return num[0], ffi_string(out[0], n) end
        if n == -1 then return end
      end
    end
    return c_time(msg, k)
  end

  keys.bool = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = number(msg, tag, names, 3, num, out)
        if n >= 0 then return num[0] ~= 0 end
        if n == -1 then return end
      end
    end
    return c_bool(msg, k)
  end

  keys.char = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = field(msg, tag, names, out)
        if n == 1 then return chars[out[0][0]] end
        if n == -1 then return end
      end
    end
    return c_char(msg, k)
  end

  keys.has = function(msg, k)
    if is_box(msg) then
      local tag, names = tag_of(msg, k)
      if tag then
        local n = field(msg, tag, names, out)
        if n >= 0 then return true end
        if n == -1 then return false end
      end
    end
    return c_has(msg, k)
  end

  keys.poss_dup = function(msg)
    if is_box(msg) then
      local n = field(msg, 43, nil, out)
      if n >= 0 then return n == 1 and out[0][0] == 89 end -- "Y"
      if n == -1 then return false end
    end
    return c_poss_dup(msg)
  end

  -- msg:enum(f): the dictionary's name of the value and the value. Names come from the state's
  -- dictionary (a message of another one takes the C method) and are kept per tag once found;
  -- only the dictionary's own values are kept, so whatever a peer sends cannot grow the table.
  local enum_name = ffi_cast(enum_name_fn, fm.enum_name)
  local enum_names, c_enum = {}, keys.enum
  keys.enum = function(msg, k)
    if is_box(msg) then
      local tag = tag_of(msg, k)
      if tag then
        local n = field(msg, tag, ctx, out)
        if n >= 0 then
          local p = out[0]
          local v = n == 1 and chars[p[0]] or ffi_string(p, n)
          local known = enum_names[tag]
          local name = known and known[v]
          if name == nil then
            local np = enum_name(ctx, tag, p, n)
            if np == nil then return v, v end
            name = ffi_string(np)
            if known == nil then
              known = {}
              enum_names[tag] = known
            end
            known[v] = name
          end
          return name, v
        end
        if n == -1 then return end
      end
    end
    return c_enum(msg, k)
  end
end

-- session:send of a flat table: each field is written as "tag=value<SOH>" into an arena of the
-- state's context in table order, with an item (tag, kind, offset, length) in an array the context
-- owns; the C session:send then puts them in tag order (header fields first), as the C encoder
-- does, and sends. One loop and FFI stores, nothing allocated per message.
local function install_send(fs)
  local methods = fs.methods
  local field_info, message_type = fs.field_info, fs.message_type
  local reserve = ffi_cast(reserve_fn, fs.reserve)
  local format_number = ffi_cast(number_fn, fs.format_number)
  local ctx = ffi_cast("void *", fs.ctx)
  local items = ffi_cast(ffi.typeof("struct { uint32_t tag, kind, off, len; } *"), fs.items)
  local max_items, slack, max_number, min_number = fs.max_items, fs.slack, fs.max_number,
                                                  fs.min_number
  -- session box -> {fields = {[key] = info_t}, types = {[MsgType] = wire value},
  --                 enums = {[key] = {[name] = value}}, prefixes = {[key] = "tag="}}
  local caches = setmetatable({}, { __mode = "k" })
  -- The arena: only reserve() below moves it, so the pointer is kept between sends.
  local arena_cap = 4096
  local arena = reserve(ctx, arena_cap)
  assert(arena ~= nil, "fixlua: out of memory")
  local u64p = ffi.typeof("uint64_t *")
  local u64 = ffi.typeof("uint64_t")
  local little = ffi.abi("le")
  -- What send needs of a field, as a C struct: reading it in the loop costs plain loads where
  -- a table would cost a guarded hash lookup per key. prefix8 is "tag=" as one little-endian
  -- word; wide prefixes (tags of 8+ digits) and enum maps stay in Lua tables of the cache.
  local info_t = ffi.typeof([[struct {
    uint64_t prefix8; uint32_t tag, plen; uint8_t kind, timestamp, has_enums, wide; }]])

  local function describe(session, k, cache)
    local d = field_info(session, k)
    if d == nil then return nil end
    local prefix = d.prefix
    local info = info_t()
    info.tag, info.plen, info.kind = d.tag, #prefix, d.kind
    info.timestamp = d.timestamp and 1 or 0
    if d.enums then
      info.has_enums = 1
      cache.enums[k] = d.enums
    end
    if little and #prefix <= 8 then
      local w = u64(0)
      for i = #prefix, 1, -1 do w = w * 256 + prefix:byte(i) end
      info.prefix8 = w
    else
      info.wide = 1
      cache.prefixes[k] = prefix
    end
    return info
  end

  -- Shapes. The general loop below notes the keys of each table it writes, in pairs order;
  -- a table of the same MsgType with the same keys in the same order, twice running, has its
  -- shape compiled. A session compiles at most max_compiled shapes, so a script whose tables
  -- keep changing costs a bounded amount of code generation.
  local seen, max_compiled, shape_stats = {}, 64, shape.stats
  local shape_env = { ffi_cast = ffi_cast, ffi_copy = ffi_copy, u64p = u64p,
                      format_number = format_number, max_number = max_number,
                      min_number = min_number, slack = slack }
  local function learn(cache, wire, nk)
    if nk > shape.max_fields then return end
    local cand = cache.candidates[wire]
    if cand ~= nil and cand.n == nk then
      local same = true
      for i = 1, nk do
        if cand[i] ~= seen[i] then
          same = false
          break
        end
      end
      if same then
        -- A shape is compiled once, or found not to compile once (a tag named twice, no
        -- field of its own...): either way the candidate is done with until other keys come.
        if cand.done then return end
        cand.done = true
        cache.compiled = cache.compiled + 1
        -- (protected: a shape that cannot be compiled is only sent the general way)
        local ok, write, nfields = pcall(shape.compile, seen, nk, cache.fields, cache.enums,
                                         cache.prefixes, shape_env)
        if ok and write ~= nil then
          cache.shapes[wire] = { n = nk, write = write, fields = nfields }
        end
        return
      end
    end
    if cand == nil then
      cand = {}
      cache.candidates[wire] = cand
    end
    cand.n, cand.done = nk, false
    for i = 1, nk do cand[i] = seen[i] end
  end

  -- The cache of a session and the wire MsgType of table t, or nil when either is not known
  -- yet or t has a metatable (the encoder then finds them, and writes t with the general loop).
  local function known(session, t)
    local cache = caches[session]
    if cache == nil or getmetatable(t) ~= nil then return nil end
    local msg_type = t.MsgType
    if msg_type == nil then msg_type = t[35] end
    return cache, cache.types[msg_type]
  end

  -- Called by the C session:send for a table, with the session's cache and the wire MsgType
  -- when session:send below knew them; returns the wire MsgType and the field count, or nothing
  -- to have the C encoder do it. (A C function in between is what lets LuaJIT compile both the
  -- script's callback and this loop: a trace started in a callback cannot link to a loop
  -- compiled in a function it calls. The loop's own prologue runs in the interpreter, since
  -- it is entered from C, so what can be done before it is done by session:send, compiled.)
  local function encode(session, t, cache, wire)
    -- (known() above passes no wire for a table with a metatable; getmetatable() is nil
    -- exactly when there is none)
    local plain = true
    if wire == nil then
      plain = getmetatable(t) == nil
      cache = caches[session]
      if cache == nil then
        cache = { fields = {}, types = {}, enums = {}, prefixes = {}, shapes = {},
                  candidates = {}, compiled = 0 }
        caches[session] = cache
      end
      local msg_type = t.MsgType
      if msg_type == nil then msg_type = t[35] end
      if type(msg_type) ~= "string" then return end
      wire = cache.types[msg_type]
      if wire == nil then
        wire = message_type(session, msg_type)
        cache.types[msg_type] = wire
      end
    end
    -- The shape of this MsgType that this session sends: its compiled writer (shape.lua),
    -- which checks that t has exactly its keys, and whose output C sends as it is. Only for
    -- tables without a metatable: the writer's reads are then raw, as pairs() is, and run no
    -- code of the script's (which could send, and move the arena, in the middle).
    local shape = cache.shapes[wire]
    if shape ~= nil and plain then
      local len, hl = shape.write(t, arena, arena_cap)
      if len ~= nil then
        shape_stats.written = shape_stats.written + 1
        return wire, shape.fields, len, hl
      end
    end
    local fields = cache.fields
    local p = arena
    local pos, n, nk = 0, 0, 0
    for k, v in pairs(t) do
      nk = nk + 1
      seen[nk] = k
      local info = fields[k]
      if info == nil then
        info = describe(session, k, cache)
        if info == nil then return end -- not a field: sess_send() raises
        fields[k] = info
      end
      local kind = info.kind
      if kind ~= 3 then -- 3: MsgType, written by the engine
        if kind == 2 or n == max_items then return end
        local tv = type(v)
        if tv == "boolean" then
          v, tv = v and "Y" or "N", "string"
        elseif tv == "string" and info.has_enums ~= 0 then
          v = cache.enums[k][v] or v
        end
        local start, plen = pos, info.plen
        -- Room for the field, a number's 64 bytes at most, and the slack send_items copies over
        -- (which also covers the 8-byte store of the prefix).
        local need = pos + plen + (tv == "string" and #v or 64) + 1 + slack
        if need > arena_cap then
          p = reserve(ctx, need * 2)
          if p == nil then return end
          arena, arena_cap = p, need * 2
        end
        if info.wide == 0 then -- "tag=" in one unaligned 8-byte store
          ffi_cast(u64p, p + pos)[0] = info.prefix8
        else
          ffi_copy(p + pos, cache.prefixes[k], plen)
        end
        pos = pos + plen
        if tv == "string" then
          -- (An SOH inside a value is caught in C, by counting them over the whole message.)
          if v == "" then return end
          ffi_copy(p + pos, v, #v)
          pos = pos + #v
        elseif tv == "number" and info.timestamp == 0 and v < max_number and v > -max_number and
               (v >= min_number or v <= -min_number or v == 0) then
          pos = pos + tonumber(format_number(p + pos, v))
        else -- groups, timestamps as numbers, NaN, huge numbers: the C encoder (which raises
          -- for what FIX cannot carry)
          return
        end
        p[pos] = 1
        pos = pos + 1
        local it = items[n]
        it.tag, it.kind, it.off, it.len = info.tag, kind, start, pos - start
        n = n + 1
      end
    end
    if plain and cache.compiled < max_compiled then learn(cache, wire, nk) end
    return wire, n
  end
  local c_send = fs.make_send(encode)
  local fast_send = ffi_cast(send_fn, fs.send)
  local session_mt, owned = fs.mt, fs.owned
  -- session:send. In a session's own state, a table of a compiled shape is written and sent
  -- from here, all of it compiled into the script's callback. Anything else, and anything that
  -- path declines, goes to the C function, in tail calls, so that errors raised in C name the
  -- script's line.
  methods.send = function(session, t)
    if type(t) == "table" then
      local cache, wire = known(session, t)
      if wire ~= nil then
        local shape = cache.shapes[wire]
        if shape ~= nil and owned and raw_metatable(session) == session_mt then
          local len, hl = shape.write(t, arena, arena_cap)
          if len ~= nil and fast_send(ctx, session, wire, #wire, shape.fields, len, hl) == 0 then
            shape_stats.direct = shape_stats.direct + 1
            return true
          end
        end
        return c_send(session, t, cache, wire)
      end
    end
    return c_send(session, t)
  end
end

return function(fast_message, fast_session)
  install_readers(fast_message)
  install_send(fast_session)
end
