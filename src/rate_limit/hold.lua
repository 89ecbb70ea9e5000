-- A vendor 429: no replica of the tenant sends before now + ARGV[1].
--
-- KEYS[1]  held until (microseconds of this server's clock), read by
--          reserve.lua
-- ARGV[1]  how long to hold back, in microseconds (the vendor's
--          Retry-After, or the facade's default)
--
-- Only ever extends the hold: a shorter Retry-After seen later by another
-- replica does not shorten a longer one. Returns the hold's end.

if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local hold = tonumber(ARGV[1])
local until_us = now + hold

local current = tonumber(redis.call('GET', KEYS[1])) or 0
if until_us > current then
  local ttl_ms = math.ceil(hold / 1000) + 1
  redis.call('SET', KEYS[1], string.format('%d', until_us), 'PX', string.format('%d', ttl_ms))
  return until_us
end
return current
