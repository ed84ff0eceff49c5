-- ARGV: prefix, id, data, state, worker, started, claimable. Returns 1, or 0 when gone.
local P, id = ARGV[1], ARGV[2]
local seq = redis.call('ZSCORE', P .. 'jobs', id)
if not seq then return 0 end
redis.call('HSET', P .. 'job:' .. id, 'data', ARGV[3], 'state', ARGV[4], 'worker', ARGV[5],
  'started', ARGV[6])
if ARGV[7] == '1' then
  redis.call('ZADD', P .. 'jobs:waiting', seq, id)
else
  redis.call('ZREM', P .. 'jobs:waiting', id)
end
return 1
