-- ARGV: prefix, entry JSON, journal size. Returns the new entry's id.
local P = ARGV[1]
local id = redis.call('INCR', P .. 'seq:journal')
redis.call('HSET', P .. 'journal', id, ARGV[2])
redis.call('RPUSH', P .. 'journal:ids', id)
while redis.call('LLEN', P .. 'journal:ids') > tonumber(ARGV[3]) do
  local oldest = redis.call('LPOP', P .. 'journal:ids')
  redis.call('HDEL', P .. 'journal', oldest)
  redis.call('HDEL', P .. 'journal:charged', oldest)
end
return id
