-- ARGV: prefix, method (upper case), path, key, whether there is a key.
-- Returns {scenario JSON or nil, chaos JSON or nil}.
local P = ARGV[1]
local chaos = redis.call('GET', P .. 'chaos')
for _, id in ipairs(redis.call('LRANGE', P .. 'scenarios', 0, -1)) do
  local sk = P .. 'scenario:' .. id
  local f = redis.call('HMGET', sk, 'key', 'path', 'method')
  if (not f[1] or (ARGV[5] == '1' and f[1] == ARGV[4]))
    and (not f[2] or string.sub(ARGV[3], 1, #f[2]) == f[2])
    and (not f[3] or f[3] == ARGV[2]) then
    local data = redis.call('HGET', sk, 'data')
    if redis.call('HINCRBY', sk, 'remaining', -1) <= 0 then
      redis.call('LREM', P .. 'scenarios', 1, id)
      redis.call('DEL', sk)
    end
    return {data, chaos}
  end
end
return {false, chaos}
