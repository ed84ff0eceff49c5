-- Shared by the scripts that give credits back. ARGV[1] is always the prefix. Amounts are
-- whole micro-dollars, exact in Lua's doubles; int() writes one without an exponent.
local P = ARGV[1]
local function int(n) return string.format('%d', n) end
local function release(hid)
  local hk = P .. 'hold:' .. hid
  local h = redis.call('HMGET', hk, 'key', 'amount', 'owner')
  if not h[1] then return false end
  redis.call('DEL', hk)
  redis.call('SREM', P .. 'owned:' .. h[3], hid)
  local ak = P .. 'account:' .. h[1]
  if redis.call('EXISTS', ak) == 1 and redis.call('HINCRBY', ak, 'held', int(-h[2])) < 0 then
    redis.call('HSET', ak, 'held', 0)
  end
  return h
end
local function reap(owner)
  for _, hid in ipairs(redis.call('SMEMBERS', P .. 'owned:' .. owner)) do release(hid) end
  local jobs = redis.call('ZRANGE', P .. 'jobs', 0, -1, 'WITHSCORES')
  for i = 1, #jobs, 2 do
    local jk = P .. 'job:' .. jobs[i]
    local f = redis.call('HMGET', jk, 'state', 'worker')
    if f[1] == 'PROCESSING' and f[2] == owner then
      redis.call('HSET', jk, 'worker', '')
      redis.call('ZADD', P .. 'jobs:waiting', jobs[i + 1], jobs[i])
    end
  end
  redis.call('HDEL', P .. 'owners', owner)
end
