-- Runs after prelude.lua (P, int, release, reap).
reap(ARGV[2])
