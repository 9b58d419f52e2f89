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
// the budgets it touches. Amounts pass as decimal strings so HINCRBY stays
// exact; comparisons use Lua numbers, exact below 2^53 (see maxAmount).

// Reply codes of the scripts.
const (
	codeOK         = 1
	codeDenied     = 2
	codeMissing    = 3
	codeRecovering = 4
	codeDuplicate  = 5
)

// reclaimLua is shared by the scripts: it drops the expired holds of K
// (counting them) and forgets old tombstones.
const reclaimLua = `
local function reclaim(k, z, now, tomb)
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
    else
      redis.call('HDEL', k, f)
      redis.call('ZREM', z, id)
    end
  end
  return n, amt
end
`

// reserveScript: KEYS = K1..Kn, Z1..Zn; ARGV = now, id, amount, expiry,
// key ttl (s), tombstone life (ms), limit1..limitn.
// Replies {1, reclaimed, reclaimed amount, gen1..genn} | {2, i, spent, held,
// reclaimed, reclaimed amount} | {3, i} | {4, i, until} | {5}.
var reserveScript = redis.NewScript(reclaimLua + `
local n = #KEYS / 2
local now, id, amount, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6])
for i = 1, n do
  local st = redis.call('HGET', KEYS[i], 'st')
  if not st then return {3, i} end
  if st == 'rec' then return {4, i, tonumber(redis.call('HGET', KEYS[i], 'until'))} end
end
local rn, ra = 0, 0
for i = 1, n do
  local a, b = reclaim(KEYS[i], KEYS[n + i], now, tomb)
  rn, ra = rn + a, ra + b
end
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'base', 'spent', 'held', 'h:' .. id)
  if v[4] then return {5} end
  local spent = tonumber(v[1] or '0') + tonumber(v[2] or '0')
  local held = tonumber(v[3] or '0')
  if spent + held + amount > tonumber(ARGV[6 + i]) then return {2, i, spent, held, rn, ra} end
end
local out = {1, rn, ra}
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'held', ARGV[3])
  redis.call('HSET', KEYS[i], 'h:' .. id, ARGV[3])
  redis.call('ZADD', KEYS[n + i], ARGV[4], id)
  redis.call('EXPIRE', KEYS[i], ARGV[5])
  redis.call('EXPIRE', KEYS[n + i], ARGV[5])
  out[#out + 1] = redis.call('HGET', KEYS[i], 'gen')
end
return out
`)

// settleScript: KEYS = K1..Kn, Z1..Zn, RS1..RSn; ARGV = now, id, actual,
// tombstone life (ms), key ttl (s). Adds actual to spent once per id (a retry
// is a no-op), drops the hold if still open. While a counter is rebuilt the
// settle is also noted in RS. Replies {1, reclaimed, amount, gen1..genn} | {3, i}.
var settleScript = redis.NewScript(reclaimLua + `
local n = #KEYS / 3
local now, id, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])
for i = 1, n do
  if not redis.call('HGET', KEYS[i], 'st') then return {3, i} end
end
local rn, ra = 0, 0
for i = 1, n do
  local a, b = reclaim(KEYS[i], KEYS[n + i], now, tomb)
  rn, ra = rn + a, ra + b
end
local out = {1, rn, ra}
local f = 'h:' .. id
for i = 1, n do
  local k = KEYS[i]
  local v = redis.call('HGET', k, f)
  if v ~= 's' then
    if v and v ~= 'r' and v ~= 'x' and v ~= '0' then redis.call('HINCRBY', k, 'held', '-' .. v) end
    if ARGV[3] ~= '0' then redis.call('HINCRBY', k, 'spent', ARGV[3]) end
    redis.call('HSET', k, f, 's')
    redis.call('ZADD', KEYS[n + i], now + tomb, id)
    if redis.call('HGET', k, 'st') == 'rec' then
      redis.call('HSET', KEYS[2 * n + i], id, ARGV[3])
      redis.call('EXPIRE', KEYS[2 * n + i], ARGV[5])
    end
    redis.call('EXPIRE', k, ARGV[5])
    redis.call('EXPIRE', KEYS[n + i], ARGV[5])
  end
  out[#out + 1] = redis.call('HGET', k, 'gen')
end
return out
`)

// releaseScript: KEYS = K1..Kn, Z1..Zn; ARGV = now, id, tombstone life (ms).
// Drops an open hold, leaving a tombstone; a no-op for missing counters.
var releaseScript = redis.NewScript(reclaimLua + `
local n = #KEYS / 2
local now, id, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local rn, ra = 0, 0
local f = 'h:' .. id
for i = 1, n do
  if redis.call('HGET', KEYS[i], 'st') then
    local a, b = reclaim(KEYS[i], KEYS[n + i], now, tomb)
    rn, ra = rn + a, ra + b
    local v = redis.call('HGET', KEYS[i], f)
    if v ~= 's' and v ~= 'r' and v ~= 'x' then
      if v and v ~= '0' then redis.call('HINCRBY', KEYS[i], 'held', '-' .. v) end
      redis.call('HSET', KEYS[i], f, 'x')
      redis.call('ZADD', KEYS[n + i], now + tomb, id)
    end
  end
end
return {1, rn, ra}
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
