for _, id in ipairs(redis.call('LRANGE', ARGV[1] .. 'scenarios', 0, -1)) do
  redis.call('DEL', ARGV[1] .. 'scenario:' .. id)
end
redis.call('DEL', ARGV[1] .. 'scenarios', ARGV[1] .. 'chaos')
