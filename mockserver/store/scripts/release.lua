-- Runs after prelude.lua (P, int, release, reap).
release(ARGV[2])
