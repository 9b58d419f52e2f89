package budget

import "github.com/redis/go-redis/v9"

// Redis layout of one budget's month (K = <prefix><scope>:<target>:<YYYY-MM>):
//
//	K        hash: st ("ok", or "rec" while rebuilt from the database), until (ms,
//	         end of the recovery window), gen (changes at every rebuild), base
//	         (database total at the rebuild), spent (settled since), held (sum of
//	         open holds), h:<reservation id> (the hold's amount; "s" settled,
//	         "r" reclaimed, "x" released: tombstones that keep scripts idempotent)
//	K:z      zset: reservation id -> expiry (ms); tombstones -> when to forget them
//	K:rs     hash: request id -> cost, of the settles made or re-asserted while
//	         the counter was being rebuilt (left out of the database total)
//	K:lock   string: the lock of the replica finishing a rebuild
//
// Spent this month is base + spent. Every script reclaims the expired holds of
// the budgets it touches. Amounts are Lua numbers (doubles), exact below 2^53
// nano-USD (see maxAmount), and are written back with %d. K and K:z get their
// expiry once, when the counter is created (K:z holds a sentinel member "~" at
// +inf so it never disappears), so the hot scripts need no EXPIRE.

// Reply codes of the scripts.
const (
	codeOK         = 1
	codeDenied     = 2
	codeMissing    = 3
	codeRecovering = 4
	codeDuplicate  = 5
)

// reclaimLua is shared by the scripts: it drops the expired holds of K
// (counting them) and forgets old tombstones. In a batch it runs once per
// counter: the ops after the first see its result in their own reads.
const reclaimLua = `
local reclaimed = {}
local function reclaim(k, z, now, tomb)
  if reclaimed[k] then return 0, 0 end
  reclaimed[k] = true
  local n, amt = 0, 0
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(ids) do
    local f = 'h:' .. id
    local v = redis.call('HGET', k, f)
    if v and v ~= 's' and v ~= 'r' and v ~= 'x' then
      if v ~= '0' then redis.call('HINCRBY', k, 'held', '-' .. v) end
      redis.call('HSET', k, f, 'r')
      redis.call('ZADD', z, now + tomb, id)
      n = n + 1
      amt = amt + tonumber(v)
      if string.sub(id, 1, 2) == 'L:' then
        local sl = redis.call('HGET', k, 'lk:' .. id)
        if sl then
          redis.call('HINCRBY', k, 'lslack', '-' .. sl)
          redis.call('HDEL', k, 'lk:' .. id)
        end
        if redis.call('HGET', k, 'lo:' .. id) then
          redis.call('HINCRBY', k, 'lopen', -1)
          redis.call('HDEL', k, 'lo:' .. id)
        end
      end
    else
      redis.call('HDEL', k, f)
      redis.call('ZREM', z, id)
      if string.sub(id, 1, 2) == 'L:' then redis.call('HDEL', k, 'ls:' .. id) end
    end
  end
  return n, amt
end
`

// reserveScript: KEYS = K1..Kn, Z1..Zn; ARGV = now, id, amount, expiry,
// (unused), tombstone life (ms), limit1..limitn.
// Replies {1, reclaimed, reclaimed amount, gen1..genn} | {2, i, spent, held,
// reclaimed, reclaimed amount, lease slack of budget i, its leases still
// open to reserves} | {3, i} | {4, i, until} | {5}.
// Four commands per budget: HMGET, ZRANGEBYSCORE, HSET, ZADD.
const reserveBody = `
local n = #KEYS / 2
local now, id, amount, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6])
local f = 'h:' .. id
local vals = {}
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'st', 'until', 'base', 'spent', 'held', f, 'gen')
  if not v[1] then return {3, i} end
  if v[1] == 'rec' then return {4, i, tonumber(v[2])} end
  if v[6] then return {5} end
  vals[i] = v
end
local rn, ra = 0, 0
local held = {}
for i = 1, n do
  local a, b = reclaim(KEYS[i], KEYS[n + i], now, tomb)
  rn, ra = rn + a, ra + b
  local v = vals[i]
  local spent = tonumber(v[3] or '0') + tonumber(v[4] or '0')
  held[i] = tonumber(v[5] or '0') - b
  if spent + held[i] + amount > tonumber(ARGV[6 + i]) then
    local ls = redis.call('HMGET', KEYS[i], 'lslack', 'lopen')
    return {2, i, spent, held[i], rn, ra, tonumber(ls[1] or '0'), tonumber(ls[2] or '0')}
  end
end
local out = {1, rn, ra}
for i = 1, n do
  redis.call('HSET', KEYS[i], 'held', string.format('%d', held[i] + amount), f, ARGV[3])
  redis.call('ZADD', KEYS[n + i], ARGV[4], id)
  out[#out + 1] = vals[i][7]
end
return out
`

var reserveScript = redis.NewScript(reclaimLua + reserveBody)

// settleScript: KEYS = K1..Kn, Z1..Zn, RS1..RSn; ARGV = now, id, actual,
// tombstone life (ms), key ttl (s). Adds actual to spent once per id (a retry
// is a no-op), drops the hold if still open. While a counter is rebuilt the
// settle is also noted in RS. Replies {1, reclaimed, amount, gen1..genn} | {3, i}.
const settleBody = `
local n = #KEYS / 3
local now, id, tomb, actual = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[3])
local f = 'h:' .. id
local vals = {}
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'st', f, 'gen', 'held', 'spent')
  if not v[1] then return {3, i} end
  vals[i] = v
end
local out = {1, 0, 0}
for i = 1, n do
  local k, v = KEYS[i], vals[i]
  local a, b = reclaim(k, KEYS[n + i], now, tomb)
  out[2], out[3] = out[2] + a, out[3] + b
  local hv = v[2]
  if a > 0 then hv = redis.call('HGET', k, f) end
  if hv ~= 's' then
    local held = tonumber(v[4] or '0') - b
    if hv and hv ~= 'r' and hv ~= 'x' then held = held - tonumber(hv) end
    local spent = tonumber(v[5] or '0') + actual
    redis.call('HSET', k, 'held', string.format('%d', held), 'spent', string.format('%d', spent), f, 's')
    redis.call('ZADD', KEYS[n + i], now + tomb, id)
    if v[1] == 'rec' then
      redis.call('HSET', KEYS[2 * n + i], id, ARGV[3])
      redis.call('EXPIRE', KEYS[2 * n + i], ARGV[5])
    end
  end
  out[#out + 1] = v[3]
end
return out
`

var settleScript = redis.NewScript(reclaimLua + settleBody)

// releaseScript: KEYS = K1..Kn, Z1..Zn; ARGV = now, id, tombstone life (ms).
// Drops an open hold, leaving a tombstone; a no-op for missing counters.
const releaseBody = `
local n = #KEYS / 2
local now, id, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local rn, ra = 0, 0
local f = 'h:' .. id
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'st', f, 'held')
  if v[1] then
    local a, b = reclaim(KEYS[i], KEYS[n + i], now, tomb)
    rn, ra = rn + a, ra + b
    local hv = v[2]
    if a > 0 then hv = redis.call('HGET', KEYS[i], f) end
    if hv ~= 's' and hv ~= 'r' and hv ~= 'x' then
      local held = tonumber(v[3] or '0') - b
      if hv then held = held - tonumber(hv) end
      redis.call('HSET', KEYS[i], 'held', string.format('%d', held), f, 'x')
      redis.call('ZADD', KEYS[n + i], now + tomb, id)
    end
  end
end
return {1, rn, ra}
`

var releaseScript = redis.NewScript(reclaimLua + releaseBody)

// batchScript runs several reserves, settles and releases (of concurrent
// requests) in one script: KEYS = the ops' keys one after the other; ARGV =
// number of ops, then per op: its name (reserve|settle|release), its number of
// keys, its number of arguments, its arguments. Each op is the body of its own
// script above, run with its slice of KEYS and ARGV (the function parameters
// shadow the globals), so it behaves exactly as the single script. Replies one
// reply per op; an op that raised an error replies {-1, message} and the others
// still run.
var batchScript = redis.NewScript(reclaimLua +
	"local ops = {}\nops.reserve = function(KEYS, ARGV)" + reserveBody + "end\n" +
	"ops.settle = function(KEYS, ARGV)" + settleBody + "end\n" +
	"ops.release = function(KEYS, ARGV)" + releaseBody + "end\n" + `
local out = {}
local ki, ai = 1, 2
for j = 1, tonumber(ARGV[1]) do
  local op, nk, na = ARGV[ai], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  local K, A = {}, {}
  for x = 1, nk do K[x] = KEYS[ki + x - 1] end
  for x = 1, na do A[x] = ARGV[ai + x - 1] end
  ki, ai = ki + nk, ai + na
  local ok, res = pcall(ops[op], K, A)
  if ok then out[j] = res
  elseif type(res) == 'table' and res.err then out[j] = {-1, res.err}
  else out[j] = {-1, tostring(res)} end
end
return out
`)

// leaseScript: KEYS = K, Z; ARGV = now, lease id, seq, flushed, keep,
// committed, want, expiry, limit, tombstone life (ms), open (1: the replica
// still reserves against the lease; 0: closing, the hold is only its requests
// in flight, counted in lopen). One replica's lease on
// one budget (lease.go): adds flushed (the costs settled against the lease
// since the last run) to spent, then sets the lease's hold to newL = keep plus
// as much of want - keep as fits in 1/16 of what the budget has left (never
// less than keep: what the replica still relies on), with expiry. The slack,
// newL - committed, is kept in lk:<id> and summed in lslack, so Status and a
// refused reserve can tell holds of requests from unused lease slack. A run
// whose seq is the lease's last (a retry after a lost reply) changes nothing.
// newL = 0 ends the lease. Replies {1, newL, gen, 1 if the budget's room
// capped newL below want, reclaimed, reclaimed amount} | {3} | {4, until} |
// {5, current amount, gen, 0, reclaimed, reclaimed amount}.
var leaseScript = redis.NewScript(reclaimLua + `
local k, z = KEYS[1], KEYS[2]
local now, id, seq, tomb = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[10])
local flushed, keep, committed, want = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local limit = tonumber(ARGV[9])
local open = ARGV[11] == '1'
local v = redis.call('HMGET', k, 'st', 'until', 'gen')
if not v[1] then return {3} end
if v[1] == 'rec' then return {4, tonumber(v[2])} end
local rn, ra = reclaim(k, z, now, tomb)
local f = 'h:' .. id
local w = redis.call('HMGET', k, f, 'ls:' .. id, 'lk:' .. id, 'base', 'spent', 'held', 'lslack')
if w[2] == seq then return {5, tonumber(w[1]) or 0, v[3], 0, rn, ra} end
local cur = tonumber(w[1] or '') or 0
local spent = tonumber(w[5] or '0') + flushed
local others = tonumber(w[6] or '0') - cur
local free = limit - tonumber(w[4] or '0') - spent - others - keep
local newL = keep
if want > keep and free > 0 then newL = keep + math.min(want - keep, math.floor(free / 16)) end
local slack = math.max(newL - committed, 0)
local lslack = tonumber(w[7] or '0') - tonumber(w[3] or '0') + slack
local wasOpen = redis.call('HGET', k, 'lo:' .. id) ~= false
if open and newL > 0 then
  if not wasOpen then redis.call('HSET', k, 'lo:' .. id, 1); redis.call('HINCRBY', k, 'lopen', 1) end
elseif wasOpen then
  redis.call('HDEL', k, 'lo:' .. id); redis.call('HINCRBY', k, 'lopen', -1)
end
if newL > 0 then
  redis.call('HSET', k, f, string.format('%d', newL), 'held', string.format('%d', others + newL),
    'spent', string.format('%d', spent), 'ls:' .. id, seq, 'lk:' .. id, string.format('%d', slack),
    'lslack', string.format('%d', lslack))
  redis.call('ZADD', z, ARGV[8], id)
else
  redis.call('HSET', k, f, 'x', 'held', string.format('%d', others), 'spent', string.format('%d', spent),
    'lslack', string.format('%d', lslack), 'ls:' .. id, seq)
  redis.call('HDEL', k, 'lk:' .. id)
  redis.call('ZADD', z, now + tomb, id)
end
local capped = 0
if newL < want then capped = 1 end
return {1, newL, v[3], capped, rn, ra}
`)

// reassertScript: KEYS = K, Z, RS; ARGV = now, tombstone life (ms), key ttl
// (s), number of holds, (id, amount, expiry) per hold, then (id, cost) per
// recent settle. Re-adds the replica's open holds the counter does not know
// (in any state) and, while recovering, its recent settles. Idempotent.
var reassertScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return 0 end
local now, tomb = tonumber(ARGV[1]), tonumber(ARGV[2])
local nh = tonumber(ARGV[4])
local idx = 5
for j = 1, nh do
  local id, amt, exp = ARGV[idx], ARGV[idx + 1], ARGV[idx + 2]
  idx = idx + 3
  if tonumber(exp) > now and redis.call('HEXISTS', KEYS[1], 'h:' .. id) == 0 then
    redis.call('HINCRBY', KEYS[1], 'held', amt)
    redis.call('HSET', KEYS[1], 'h:' .. id, amt)
    redis.call('ZADD', KEYS[2], exp, id)
  end
end
if st == 'rec' then
  while idx < #ARGV do
    local id, cost = ARGV[idx], ARGV[idx + 1]
    idx = idx + 2
    if redis.call('HEXISTS', KEYS[1], 'h:' .. id) == 0 then
      redis.call('HINCRBY', KEYS[1], 'spent', cost)
      redis.call('HSET', KEYS[1], 'h:' .. id, 's')
      redis.call('ZADD', KEYS[2], now + tomb, id)
      redis.call('HSET', KEYS[3], id, cost)
      redis.call('EXPIRE', KEYS[3], ARGV[3])
    end
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
`)

// finishScript: KEYS = K, RS; ARGV = gen, base, number of RS entries read.
// Ends a rebuild: replies 1 done, 0 not recovering (or another rebuild), -1
// when settles were added to RS since it was read (read again).
var finishScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'st') ~= 'rec' then return 0 end
if redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], 'base', ARGV[2], 'st', 'ok')
redis.call('HDEL', KEYS[1], 'until')
redis.call('DEL', KEYS[2])
return 1
`)

// unlockScript deletes a lock only if it still holds our token.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
