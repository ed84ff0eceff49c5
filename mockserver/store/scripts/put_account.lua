-- ARGV: prefix, key, settings, credits, free, rpm. Returns the account's fields, flat.
local ak = ARGV[1] .. 'account:' .. ARGV[2]
if redis.call('EXISTS', ak) == 0 then
  redis.call('HSET', ak, 'held', 0, 'wstart', '0', 'wcount', 0)
end
redis.call('HSET', ak, 'settings', ARGV[3], 'credits', ARGV[4], 'free', ARGV[5], 'rpm', ARGV[6])
redis.call('SADD', ARGV[1] .. 'accounts', ARGV[2])
return redis.call('HGETALL', ak)
