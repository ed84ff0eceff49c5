-- ARGV: prefix, id, data, state, worker, started, claimable, hold id, submitted_at.
-- A job added again keeps its place, as in an ordered dict.
local P, id = ARGV[1], ARGV[2]
local seq = redis.call('ZSCORE', P .. 'jobs', id) or redis.call('INCR', P .. 'seq:job')
redis.call('HSET', P .. 'job:' .. id, 'data', ARGV[3], 'state', ARGV[4], 'worker', ARGV[5],
  'started', ARGV[6], 'hold', ARGV[8])
redis.call('ZADD', P .. 'jobs', seq, id)
redis.call('ZADD', P .. 'jobs:at', ARGV[9], id)
if ARGV[7] == '1' then
  redis.call('ZADD', P .. 'jobs:waiting', seq, id)
else
  redis.call('ZREM', P .. 'jobs:waiting', id)
end
