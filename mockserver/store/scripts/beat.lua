-- ARGV: prefix, owner, now, gone_after.
-- Runs after prelude.lua (P, int, release, reap).
local me, now = ARGV[2], tonumber(ARGV[3])
redis.call('HSET', P .. 'owners', me, ARGV[3])
local owners = redis.call('HGETALL', P .. 'owners')
for i = 1, #owners, 2 do
  if owners[i] ~= me and tonumber(owners[i + 1]) < now - tonumber(ARGV[4]) then
    reap(owners[i])
  end
end
