-- ARGV: prefix, key, now, window. Returns the window's start when over the plan, else nil.
local ak = ARGV[1] .. 'account:' .. ARGV[2]
local f = redis.call('HMGET', ak, 'rpm', 'wstart', 'wcount')
if not f[1] or f[1] == '' then return false end
local start, count = f[2] or '0', tonumber(f[3] or 0)
if tonumber(ARGV[3]) - tonumber(start) >= tonumber(ARGV[4]) then
  start, count = ARGV[3], 0
  redis.call('HSET', ak, 'wstart', start, 'wcount', 0)
end
if count >= tonumber(f[1]) then return start end
redis.call('HINCRBY', ak, 'wcount', 1)
return false
