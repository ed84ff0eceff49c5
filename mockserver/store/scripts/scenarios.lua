local out = {}
for i, id in ipairs(redis.call('LRANGE', ARGV[1] .. 'scenarios', 0, -1)) do
  out[i] = redis.call('HMGET', ARGV[1] .. 'scenario:' .. id, 'data', 'remaining')
end
return out
