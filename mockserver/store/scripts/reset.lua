-- ARGV: prefix, MATCH pattern for the prefix, then (key, settings, credits, free, rpm)...
-- Deletes the keys this store writes (the module's docstring), not whatever else starts with
-- the prefix: another emulator's prefix may start with this one. `owners` and the `seq:`
-- counters are kept.
local P = ARGV[1]
local cleared = {accounts = 1, jobs = 1, ['jobs:at'] = 1, ['jobs:waiting'] = 1, scenarios = 1,
  chaos = 1, journal = 1, ['journal:ids'] = 1, ['journal:charged'] = 1}
local families = {account = 1, hold = 1, owned = 1, cancelled = 1, job = 1, scenario = 1,
  output = 1}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do
    local rest = string.sub(k, #P + 1)
    if cleared[rest] or families[string.match(rest, '^(%a+):') or ''] then
      redis.call('DEL', k)
    end
  end
until cursor == '0'
for i = 3, #ARGV, 5 do
  redis.call('HSET', P .. 'account:' .. ARGV[i], 'settings', ARGV[i + 1], 'credits', ARGV[i + 2],
    'free', ARGV[i + 3], 'rpm', ARGV[i + 4], 'held', 0, 'wstart', '0', 'wcount', 0)
  redis.call('SADD', P .. 'accounts', ARGV[i])
end
