// The Redis store's merge script (Lua), and SHA-1 for the name EVALSHA runs it by: a module
// of its own, which redisStore imports at its first write. It is 13 KB of source that a pool
// without Redis never runs, and parsing it was ~0.6 ms of a Node cold start (a pool's
// import and first `new Pool`); Node's ES module build keeps it in a file of its own
// (redis-script.mjs), the other builds in a chunk or inline.
//
// The script implements the merge rule of src/snapshot.rs exactly (see redis.js);
// tests/node/redis.test.mjs runs it against mergeSnapshots on random states. Its table of
// reasons (@RANKS@) is filled in by redis.js, from reasons.js, which this module does not
// import: the other runtimes' build would then load reasons.js as a chunk of its own.

/** The merge script, with its table of reasons (`@RANKS@`) to fill in: see redis.js. */
export const LUA_MERGE = String.raw`-- key-carousel: merges a pool's state into the state stored at KEYS[1], atomically.
-- KEYS[1]: the state (a JSON string); KEYS[2]: where a bad stored value is kept.
-- ARGV[1]: the pool's state, JSON: { "version": 1, "profiles": { id: record } }.
-- ARGV[2] (optional): the pool's clock, ms. A stored record of an id the pool did not send
-- is forgotten when every time in it is over 30 days before that, as the pool forgets the
-- records of ids it does not have (src/snapshot.rs, Record::stale).
-- Returns { merged } or, when the stored value was unusable in whole or in part,
-- { merged, the stored value, the key its copy is kept under }.
local RANK = { @RANKS@ }
local LONG = { billing = true, auth_permanent = true }
local MAX_TIME, MAX_COUNT = 9007199254740992, 4294967295
local byte, sub, find, char, format, floor = string.byte, string.sub, string.find, string.char, string.format, math.floor
local NULL, ARRAY = {}, {}

-- JSON, as strict as JavaScript's JSON.parse. Objects are tables, arrays the ARRAY marker
-- (their content is never needed), null the NULL marker; a string with a lone surrogate is
-- marked with a leading NUL (the pool drops ids with lone surrogates).
local function fail() error("invalid JSON", 0) end
local ESC = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t" }
local function utf8(c)
  if c < 0x80 then return char(c) end
  if c < 0x800 then return char(0xC0 + floor(c / 0x40), 0x80 + c % 0x40) end
  if c < 0x10000 then return char(0xE0 + floor(c / 0x1000), 0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40) end
  return char(0xF0 + floor(c / 0x40000), 0x80 + floor(c / 0x1000) % 0x40, 0x80 + floor(c / 0x40) % 0x40, 0x80 + c % 0x40)
end
local function hex4(s, i)
  local h = sub(s, i, i + 3)
  if not find(h, "^%x%x%x%x$") then fail() end
  return tonumber(h, 16)
end
local function skip(s, i)
  return find(s, "[^ \t\r\n]", i) or #s + 1
end
local function str(s, i)
  local parts, n, j, lone = {}, 0, i + 1, false
  while true do
    local a, b = find(s, '^[^"\\%z\1-\31]+', j)
    if a then n = n + 1; parts[n] = sub(s, a, b); j = b + 1 end
    local c = byte(s, j)
    -- A string with a lone surrogate starts with NUL, which no usable id or reason has:
    -- the pool drops such ids (they would merge with others in the core).
    if c == 34 then return (lone and "\0" or "") .. table.concat(parts), j + 1 end
    if c ~= 92 then fail() end
    local e = byte(s, j + 1)
    if e == 117 then
      local cp = hex4(s, j + 2)
      j = j + 6
      if cp >= 0xD800 and cp < 0xDC00 and sub(s, j, j + 1) == "\\u" then
        local lo = hex4(s, j + 2)
        if lo >= 0xDC00 and lo < 0xE000 then cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00); j = j + 6 end
      end
      if cp >= 0xD800 and cp < 0xE000 then cp = 0xFFFD; lone = true end
      n = n + 1; parts[n] = utf8(cp)
    else
      local m = ESC[e]
      if m == nil then fail() end
      n = n + 1; parts[n] = m; j = j + 2
    end
  end
end
local function num(s, i)
  local a, e = find(s, "^-?0", i)
  if a == nil then a, e = find(s, "^-?[1-9]%d*", i) end
  if a == nil then fail() end
  local _, f = find(s, "^%.%d+", e + 1)
  if f then e = f end
  _, f = find(s, "^[eE][-+]?%d+", e + 1)
  if f then e = f end
  return tonumber(sub(s, i, e)), e + 1
end
local value
value = function(s, i)
  local c = byte(s, i)
  if c == 123 then
    local obj = {}
    i = skip(s, i + 1)
    if byte(s, i) == 125 then return obj, i + 1 end
    while true do
      if byte(s, i) ~= 34 then fail() end
      local k, v
      k, i = str(s, i)
      i = skip(s, i)
      if byte(s, i) ~= 58 then fail() end
      v, i = value(s, skip(s, i + 1))
      obj[k] = v
      i = skip(s, i)
      c = byte(s, i)
      if c == 125 then return obj, i + 1 end
      if c ~= 44 then fail() end
      i = skip(s, i + 1)
    end
  elseif c == 91 then
    i = skip(s, i + 1)
    if byte(s, i) == 93 then return ARRAY, i + 1 end
    while true do
      local _
      _, i = value(s, i)
      i = skip(s, i)
      c = byte(s, i)
      if c == 93 then return ARRAY, i + 1 end
      if c ~= 44 then fail() end
      i = skip(s, i + 1)
    end
  elseif c == 34 then return str(s, i)
  elseif c == 116 and sub(s, i, i + 3) == "true" then return true, i + 4
  elseif c == 102 and sub(s, i, i + 4) == "false" then return false, i + 5
  elseif c == 110 and sub(s, i, i + 3) == "null" then return NULL, i + 4
  end
  return num(s, i)
end
local function decode(s)
  -- a byte order mark before the text (an editor's) is not part of it, as in parseState
  local v, i = value(s, skip(s, sub(s, 1, 3) == "\239\187\191" and 4 or 1))
  if skip(s, i) <= #s then fail() end
  return v
end

-- The stored form -> records, as src/snapshot.js's parseState reads it: unusable fields,
-- records and ids are dropped (and counted); nil and the problem when the whole is unusable.
local TIMES = { { "lastUsed", "lu" }, { "lastFailure", "lf" }, { "lastSuccess", "ls" },
  { "cooldownUntil", "cu" }, { "updatedAt", "ua" }, { "cooldownStartedAt", "cs" } }
local function isobj(v) return type(v) == "table" and v ~= NULL and v ~= ARRAY end
local function u16len(s) -- the length of a string in JavaScript (UTF-16 code units)
  local _, cont = string.gsub(s, "[\128-\191]", "")
  local _, four = string.gsub(s, "[\240-\247]", "")
  return #s - cont + four
end
-- One stored record -> its fields, and how many of its values were unusable.
local function rec_of(rec)
  local dropped = 0
  local r = { ec = 0, cl = false }
  local count = rec.errorCount
  if type(count) == "number" and count >= 0 and count <= MAX_COUNT and count == floor(count) then
    r.ec = count
  elseif count ~= nil then
    dropped = dropped + 1
  end
  for _, f in ipairs(TIMES) do
    local v = rec[f[1]]
    if type(v) == "number" and v >= 0 and v <= MAX_TIME then
      r[f[2]] = v
    elseif v ~= nil and v ~= NULL then
      dropped = dropped + 1
    end
  end
  local reason = rec.lastFailureReason
  if type(reason) == "string" then
    -- one this version does not know (key-carousel 1 stores any string) reads as unknown
    r.rs = RANK[reason] and reason or "unknown"
  elseif reason ~= nil and reason ~= NULL then
    dropped = dropped + 1
  end
  local long = rec.cooldownLong
  if long == nil and rec.updatedAt == nil then
    -- written by key-carousel 1: billing and auth_permanent are the long schedule
    r.cl = r.rs ~= nil and LONG[r.rs] == true
  else
    r.cl = long == true
    if long ~= nil and type(long) ~= "boolean" then dropped = dropped + 1 end
  end
  return r, dropped
end
local function usable(id)
  return id ~= "" and not find(id, "%z") and not find(id, "\1", 1, true) and u16len(id) <= 1024
end
local function parse(raw)
  local ok, data = pcall(decode, raw)
  if not ok then return nil, "not valid JSON" end
  if not isobj(data) then return nil, "not an object" end
  if data.version ~= 1 then return nil, "unsupported version" end
  local profiles = data.profiles
  if not isobj(profiles) then return nil, "profiles is not an object" end
  local out, dropped = {}, 0
  for id, rec in pairs(profiles) do
    if not usable(id) or not isobj(rec) then
      dropped = dropped + 1
    else
      local r, d = rec_of(rec)
      out[id] = r
      dropped = dropped + d
      -- Model-scoped records (per-model cooldowns) sit under "models"; they merge as the ids
      -- "<id>\1<model>", as the pool's own merge does.
      local models = rec.models
      if models ~= nil then
        if not isobj(models) then
          dropped = dropped + 1
        else
          for model, mrec in pairs(models) do
            if not usable(model) or not isobj(mrec) then
              dropped = dropped + 1
            else
              local mr, md = rec_of(mrec)
              -- A model's record keeps its rest alone (src/snapshot.rs, pair_form).
              mr.lu = nil
              mr.ls = nil
              out[id .. "\1" .. model] = mr
              dropped = dropped + md
            end
          end
        end
      end
    end
  end
  return out, dropped
end

-- The merge of src/snapshot.rs: timestamps take the maximum; the cooldown group comes whole
-- from the record with the greater key (event time, cooldownUntil, errorCount, reason,
-- cooldownLong, cooldownStartedAt; absent times are -1 but an absent cooldownUntil is
-- +inf (no rest wins a tie), an absent reason ranks first), and the winner's event time
-- becomes updatedAt.
local function maxo(x, y)
  if x == nil then return y end
  if y == nil or x >= y then return x end
  return y
end
local function event(r)
  if r.ua ~= nil then return r.ua end
  return maxo(r.lf, r.ls)
end
local function t(x)
  if x == nil then return -1 end
  return x
end
local function less(a, b)
  local keys = {
    { t(event(a)), t(event(b)) }, { a.cu or math.huge, b.cu or math.huge }, { a.ec, b.ec },
    { RANK[a.rs] or 0, RANK[b.rs] or 0 }, { a.cl and 1 or 0, b.cl and 1 or 0 }, { t(a.cs), t(b.cs) } }
  for _, k in ipairs(keys) do
    if k[1] ~= k[2] then return k[1] < k[2] end
  end
  return false
end
local function merge(a, b)
  local w = a
  if less(a, b) then w = b end
  return { ec = w.ec, lu = maxo(a.lu, b.lu), lf = maxo(a.lf, b.lf), ls = maxo(a.ls, b.ls),
    cu = w.cu, rs = w.rs, ua = event(w), cl = w.cl, cs = w.cs }
end

-- The stored form, as src/snapshot.js writes it.
local function enc_num(x)
  if x == floor(x) then return format("%d", x) end
  return format("%.17g", x)
end
local function enc_str(s)
  return '"' .. (string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return format("\\u%04x", byte(c))
  end)) .. '"'
end
local function enc_rec(r, models, scoped)
  local o = { '{"errorCount":', enc_num(r.ec) }
  local function add(name, v) if v ~= nil then o[#o + 1] = ',"' .. name .. '":' .. enc_num(v) end end
  if not scoped then add("lastUsed", r.lu) end
  add("lastFailure", r.lf)
  if not scoped then add("lastSuccess", r.ls) end
  add("cooldownUntil", r.cu)
  if r.rs ~= nil then o[#o + 1] = ',"lastFailureReason":' .. enc_str(r.rs) end
  add("updatedAt", r.ua)
  if r.cl then o[#o + 1] = ',"cooldownLong":true'
  -- without updatedAt a record reads as key-carousel 1 wrote it (the reason decides): a short
  -- rest after a long reason says so, or it would read back as long
  elseif r.ua == nil and r.rs ~= nil and LONG[r.rs] then o[#o + 1] = ',"cooldownLong":false' end
  add("cooldownStartedAt", r.cs)
  if models ~= nil then o[#o + 1] = ',"models":{' .. table.concat(models, ",") .. "}" end
  o[#o + 1] = "}"
  return table.concat(o)
end

local mine, problem = parse(ARGV[1])
if mine == nil then return redis.error_reply("key-carousel: the state sent is unusable: " .. problem) end
local key = KEYS[1]
local kind = redis.call("TYPE", key).ok
local raw, bad, stored = false, false, {}
if kind == "string" then
  raw = redis.call("GET", key)
  local p, dropped = parse(raw)
  if p == nil then bad = true else stored = p; bad = dropped > 0 end
elseif kind ~= "none" then
  raw = "(a Redis " .. kind .. ", not a string)"
  bad = true
end
local side = KEYS[2]
if bad then
  local n = 0
  while redis.call("EXISTS", side) == 1 do n = n + 1; side = KEYS[2] .. "-" .. n end
  if kind == "string" then redis.call("SET", side, raw) else redis.call("RENAME", key, side) end
end
local now, FORGET_AFTER_MS = tonumber(ARGV[2]), 2592000000
-- The times a record holds, and the time before which all of them make it stale (only
-- with the pool's clock).
local TIMES = { "lu", "lf", "ls", "cu", "ua", "cs" }
local cut = now and now - FORGET_AFTER_MS
-- A record without times counts as of time 0.
local function stale(r)
  if cut <= 0 then return false end
  for _, f in ipairs(TIMES) do
    if r[f] ~= nil and r[f] >= cut then return false end
  end
  return true
end
local merged = {}
for id, r in pairs(stored) do
  if mine[id] ~= nil or now == nil or not stale(r) then merged[id] = merge(r, r) end
end
for id, r in pairs(mine) do
  local m = merged[id]
  if m == nil then merged[id] = merge(r, r) else merged[id] = merge(m, r) end
end
-- A model's record goes under its profile's "models" (a profile with none gets an empty
-- record to hold it), with the model-scoped fields only, as src/snapshot.js writes it; one
-- that says nothing (no count, failure, rest or reason: its profile's times only) is not
-- written (snapshot.js, saysNothing).
local function says_nothing(r)
  return r.ec == 0 and (r.ua == nil or r.ua == 0) and r.lf == nil and r.cu == nil and r.cs == nil and r.rs == nil and not r.cl
end
local models = {}
for id, r in pairs(merged) do
  local cut = find(id, "\1", 1, true)
  if cut and not says_nothing(r) then
    local parent = sub(id, 1, cut - 1)
    local list = models[parent]
    if list == nil then list = {}; models[parent] = list end
    list[#list + 1] = enc_str(sub(id, cut + 1)) .. ":" .. enc_rec(r, nil, true)
  end
end
local parts, n = {}, 0
for id, r in pairs(merged) do
  if not find(id, "\1", 1, true) then n = n + 1; parts[n] = enc_str(id) .. ":" .. enc_rec(r, models[id]) end
end
for parent, list in pairs(models) do
  if merged[parent] == nil then n = n + 1; parts[n] = enc_str(parent) .. ':{"errorCount":0,"models":{' .. table.concat(list, ",") .. "}}" end
end
local text = '{"version":1,"profiles":{' .. table.concat(parts, ",") .. "}}"
if text ~= raw then redis.call("SET", key, text) end
if bad then return { text, raw, side } end
return { text }
`;

/** SHA-1 of an ASCII string, hex: the script's name for EVALSHA (no crypto module needed). */
export function sha1Hex(text) {
  const bytes = new TextEncoder().encode(text);
  const words = new Uint32Array((((bytes.length + 8) >> 6) + 1) * 16);
  for (let i = 0; i < bytes.length; i++) words[i >> 2] |= bytes[i] << (24 - (i % 4) * 8);
  words[bytes.length >> 2] |= 0x80 << (24 - (bytes.length % 4) * 8);
  words[words.length - 1] = bytes.length * 8;
  const w = new Uint32Array(80);
  let [a0, b0, c0, d0, e0] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
  const rol = (x, n) => (x << n) | (x >>> (32 - n));
  for (let off = 0; off < words.length; off += 16) {
    for (let i = 0; i < 80; i++) w[i] = i < 16 ? words[off + i] : rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    let [a, b, c, d, e] = [a0, b0, c0, d0, e0];
    for (let i = 0; i < 80; i++) {
      const f = i < 20 ? (b & c) | (~b & d) : i < 40 ? b ^ c ^ d : i < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
      const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
      const tmp = (rol(a, 5) + f + e + k + w[i]) >>> 0;
      [e, d, c, b, a] = [d, c, rol(b, 30) >>> 0, a, tmp];
    }
    [a0, b0, c0, d0, e0] = [(a0 + a) >>> 0, (b0 + b) >>> 0, (c0 + c) >>> 0, (d0 + d) >>> 0, (e0 + e) >>> 0];
  }
  return [a0, b0, c0, d0, e0].map((x) => x.toString(16).padStart(8, "0")).join("");
}
