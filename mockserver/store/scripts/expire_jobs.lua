-- ARGV: prefix, submitted_before (inclusive, as the memory backend). Returns ids, oldest first.
-- Runs after prelude.lua (P, int, release, reap).
local order = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'jobs:at', '-inf', ARGV[2])) do
  order[#order + 1] = {tonumber(redis.call('ZSCORE', P .. 'jobs', id)), id}
end
table.sort(order, function(a, b) return a[1] < b[1] end)
local dropped = {}
for i, o in ipairs(order) do
  local jk = P .. 'job:' .. o[2]
  local hid = redis.call('HGET', jk, 'hold')
  if hid then release(hid) end
  redis.call('DEL', jk)
  redis.call('ZREM', P .. 'jobs', o[2])
  redis.call('ZREM', P .. 'jobs:at', o[2])
  redis.call('ZREM', P .. 'jobs:waiting', o[2])
  dropped[i] = o[2]
end
return dropped
