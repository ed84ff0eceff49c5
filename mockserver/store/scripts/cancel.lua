-- ARGV: prefix, hold ids owed back: ones whose hold() never answered (released if they
-- landed, refused if they land later: a script sent to a paused server still runs once it
-- resumes) and ones whose release() failed.
-- Runs after prelude.lua (P, int, release, reap).
for i = 2, #ARGV do
  redis.call('SET', P .. 'cancelled:' .. ARGV[i], 1, 'EX', 600)
  release(ARGV[i])
end
