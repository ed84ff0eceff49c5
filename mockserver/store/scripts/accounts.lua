local out = {}
for i, key in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'accounts')) do
  out[i] = redis.call('HGETALL', ARGV[1] .. 'account:' .. key)
end
return out
