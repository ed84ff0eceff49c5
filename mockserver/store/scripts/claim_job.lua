-- ARGV: prefix, now, owner. A job that was started before keeps its start time.
local P = ARGV[1]
local first = redis.call('ZRANGE', P .. 'jobs:waiting', 0, 0)
if #first == 0 then return false end
redis.call('ZREM', P .. 'jobs:waiting', first[1])
local jk = P .. 'job:' .. first[1]
redis.call('HSET', jk, 'state', 'PROCESSING', 'worker', ARGV[3])
local started = redis.call('HGET', jk, 'started')
if not started or started == '' then redis.call('HSET', jk, 'started', ARGV[2]) end
return redis.call('HMGET', jk, 'data', 'state', 'worker', 'started')
