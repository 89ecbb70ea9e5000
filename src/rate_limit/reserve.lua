-- GCRA reservation of one upstream call in a tenant's shared budget.
--
-- KEYS[1]  the theoretical arrival time (TAT): the earliest time, in
--          microseconds of this server's clock, the next call may go
-- KEYS[2]  held until (microseconds), set after a vendor 429 (hold.lua)
-- ARGV[1]  the emission interval in microseconds (1 / rate)
-- ARGV[2]  the longest wait the caller can accept (its deadline), in
--          microseconds
--
-- Returns {1, wait}: a slot is reserved `wait` microseconds from now; or
-- {0, wait}: refused, nothing reserved, the slot would be `wait` away.
--
-- Time is this server's (TIME), never a replica's: the replicas' clocks
-- may disagree, the budget may not. Atomic, as every script is.

-- Before Redis 5, a script that reads TIME may write only under effects
-- replication; from 5 on it is the default (and from 7 the call is a no-op).
if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])

local tat = tonumber(redis.call('GET', KEYS[1])) or 0
local held = tonumber(redis.call('GET', KEYS[2])) or 0
local slot = math.max(now, tat, held)
local wait = slot - now
if wait > max_wait then
  return {0, wait}
end

local next_tat = slot + interval
-- The key is worthless once its time has passed: let it expire then.
local ttl_ms = math.ceil((next_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', string.format('%d', ttl_ms))
return {1, wait}
