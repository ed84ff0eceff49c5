local out = {}
for i, id in ipairs(redis.call('ZRANGE', ARGV[1] .. 'jobs', 0, -1)) do
  out[i] = redis.call('HMGET', ARGV[1] .. 'job:' .. id, 'data', 'state', 'worker', 'started')
end
return out
