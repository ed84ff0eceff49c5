-- ARGV: prefix, hold id. Returns the balance after, or nil when the hold or account is gone.
-- Runs after prelude.lua (P, int, release, reap).
local h = release(ARGV[2])
if not h then return false end
local ak = P .. 'account:' .. h[1]
local v = redis.call('HMGET', ak, 'credits', 'free')
if not v[1] then return false end
local amount, credits, free = tonumber(h[2]), tonumber(v[1]), tonumber(v[2])
local from_free = math.min(free, amount)
free, credits = free - from_free, credits - (amount - from_free)
redis.call('HSET', ak, 'credits', int(credits), 'free', int(free))
return credits + free
