"""The Lua scripts the store runs in Redis, and their digests.

Each runs atomically on the server in one round trip (and, for a write, one append to the
append-only file). They are run by digest (``EVALSHA``): a server that does not know a script
yet (new or restarted) answers ``NOSCRIPT``, and the store loads it and asks again.
"""

from __future__ import annotations

import hashlib

__all__ = ["ACCESS", "ADD_FEEDBACK", "REMOVE_FEEDBACK", "SHA"]

# What a request with a user token may do, read in one round trip and writing nothing (so
# nothing reaches the append-only file: a read costs no fsync). The token is checked first; the
# user's likes and dislikes and the paper are read only for the token's own user with a scope the
# route accepts, so that an unknown, expired or foreign token costs the same whichever user the
# path names (no timing tells whether a user exists or how active they are).
# KEYS: the token's record, the likes and dislikes of the user the path names, the papers hash.
# ARGV: that user ('' for none), '1' to read their feedback, the paper to look up ('' for none),
# now (Unix seconds), the scopes the route accepts (separated by spaces).
# Returns {'unknown'} | {'expired', user} | {'ok', user, scope, likes, dislikes, paper known};
# paper known is -1 when not read. A record is the JSON of service.store.TokenRecord, or (tokens
# of older versions) the bare user id.
ACCESS = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'unknown'} end
local user, scope, expires = raw, 'user', nil
if string.sub(raw, 1, 1) == '{' then
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' or type(rec['user']) ~= 'string' then return {'unknown'} end
  user = rec['user']
  if type(rec['scope']) == 'string' then scope = rec['scope'] end
  if type(rec['expires']) == 'number' then expires = rec['expires'] end
end
if expires ~= nil and expires <= tonumber(ARGV[4]) then return {'expired', user} end
local accepted = false
for s in string.gmatch(ARGV[5], '%S+') do
  if s == scope then accepted = true end
end
local likes, dislikes, known = {}, {}, -1
if accepted and user == ARGV[1] then
  if ARGV[2] == '1' then
    likes = redis.call('SMEMBERS', KEYS[2])
    dislikes = redis.call('SMEMBERS', KEYS[3])
  end
  if ARGV[3] ~= '' then known = redis.call('HEXISTS', KEYS[4], ARGV[3]) end
end
return {'ok', user, scope, likes, dislikes, known}
"""


# A feedback change and its events, atomically and in one round trip (one append to the AOF, so
# one fsync): a stored change always has its event. Field names as in Store._event. The stream
# is trimmed in the same script, to its last ARGV[7] events and (ARGV[8] > 0) to those since the
# stream id ARGV[8] (the retention, docs/SECURITY.md), and the count of feedback changes (what
# /health and /metrics compare with the serving model's) goes up by what changed.
# KEYS: users, the set to add to, the other set, events, the feedback change count.
# ARGV: user, paper, add action, remove-from-the-other action, time, source, most events kept,
# oldest event id kept (0: no age limit). Returns 1 if added.
ADD_FEEDBACK = """
redis.call('SADD', KEYS[1], ARGV[1])
local added = redis.call('SADD', KEYS[2], ARGV[2])
local removed = redis.call('SREM', KEYS[3], ARGV[2])
local function event(action)
  redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[7], '*', 'user', ARGV[1], 'paper', ARGV[2],
             'action', action, 'time', ARGV[5], 'source', ARGV[6])
end
if removed == 1 then event(ARGV[4]) end
if added == 1 then event(ARGV[3]) end
if added + removed > 0 then
  if ARGV[8] ~= '0' then redis.call('XTRIM', KEYS[4], 'MINID', ARGV[8]) end
  redis.call('INCRBY', KEYS[5], added + removed)
end
return added
"""
# KEYS: the set, events, the feedback change count. ARGV: user, paper, action, time, source,
# most events kept, oldest event id kept (0: no age limit). Returns 1 if it was there.
REMOVE_FEEDBACK = """
local removed = redis.call('SREM', KEYS[1], ARGV[2])
if removed == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], '*', 'user', ARGV[1], 'paper', ARGV[2],
             'action', ARGV[3], 'time', ARGV[4], 'source', ARGV[5])
  if ARGV[7] ~= '0' then redis.call('XTRIM', KEYS[2], 'MINID', ARGV[7]) end
  redis.call('INCRBY', KEYS[3], 1)
end
return removed
"""
#: Script -> its sha1 digest, the name EVALSHA runs it by.
SHA = {
    script: hashlib.sha1(script.encode()).hexdigest()
    for script in (ACCESS, ADD_FEEDBACK, REMOVE_FEEDBACK)
}
