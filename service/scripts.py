"""The Lua scripts the store runs in Redis, and their digests.

Each runs atomically on the server in one round trip (and, for a write, one append to the
append-only file). They are run by digest (``EVALSHA``): a server that does not know a script
yet (new or restarted) answers ``NOSCRIPT``, and the store loads it and asks again.
"""

from __future__ import annotations

import hashlib

__all__ = ["ADD_FEEDBACK", "REMOVE_FEEDBACK", "SHA", "TOKEN_BUCKET"]

# A token bucket, atomically in Redis, timed by the Redis clock (every API process shares it).
# KEYS[1]: the bucket; ARGV: refill per second, capacity. Returns {allowed, seconds to wait}.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


# A feedback change and its events, atomically and in one round trip (one append to the AOF, so
# one fsync): a stored change always has its event. Field names as in Store._event.
# KEYS: users, the set to add to, the other set, events.
# ARGV: user, paper, add action, remove-from-the-other action, time, source. Returns 1 if added.
ADD_FEEDBACK = """
redis.call('SADD', KEYS[1], ARGV[1])
local added = redis.call('SADD', KEYS[2], ARGV[2])
local removed = redis.call('SREM', KEYS[3], ARGV[2])
local function event(action)
  redis.call('XADD', KEYS[4], '*', 'user', ARGV[1], 'paper', ARGV[2], 'action', action,
             'time', ARGV[5], 'source', ARGV[6])
end
if removed == 1 then event(ARGV[4]) end
if added == 1 then event(ARGV[3]) end
return added
"""
# KEYS: the set, events. ARGV: user, paper, action, time, source. Returns 1 if it was there.
REMOVE_FEEDBACK = """
local removed = redis.call('SREM', KEYS[1], ARGV[2])
if removed == 1 then
  redis.call('XADD', KEYS[2], '*', 'user', ARGV[1], 'paper', ARGV[2], 'action', ARGV[3],
             'time', ARGV[4], 'source', ARGV[5])
end
return removed
"""
#: Script -> its sha1 digest, the name EVALSHA runs it by.
SHA = {
    script: hashlib.sha1(script.encode()).hexdigest()
    for script in (TOKEN_BUCKET, ADD_FEEDBACK, REMOVE_FEEDBACK)
}
