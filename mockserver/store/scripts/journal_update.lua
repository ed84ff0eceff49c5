-- ARGV: prefix, hash name, entry id, value: set only on an entry the cap has not dropped.
if redis.call('HEXISTS', ARGV[1] .. 'journal', ARGV[3]) == 1 then
  redis.call('HSET', ARGV[1] .. ARGV[2], ARGV[3], ARGV[4])
end
