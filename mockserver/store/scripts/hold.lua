-- ARGV: prefix, key, amount, owner, hold id. Returns {1, 0} or {0, available}.
local P = ARGV[1]
if redis.call('EXISTS', P .. 'cancelled:' .. ARGV[5]) == 1 then return {0, 0} end
local ak = P .. 'account:' .. ARGV[2]
local v = redis.call('HMGET', ak, 'credits', 'free', 'held')
if not v[1] then return {0, 0} end
local available = tonumber(v[1]) + tonumber(v[2]) - tonumber(v[3] or 0)
if available < tonumber(ARGV[3]) then return {0, available} end
redis.call('HINCRBY', ak, 'held', ARGV[3])
redis.call('HSET', P .. 'hold:' .. ARGV[5], 'key', ARGV[2], 'amount', ARGV[3], 'owner', ARGV[4])
redis.call('SADD', P .. 'owned:' .. ARGV[4], ARGV[5])
return {1, 0}
