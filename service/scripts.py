"""The Lua scripts the store runs in Redis, and their digests.

Each runs atomically on the server in one round trip (and, for a write, one append to the
append-only file). They are run by digest (``EVALSHA``): a server that does not know a script
yet (new or restarted) answers ``NOSCRIPT``, and the store loads it and asks again.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "ACCESS",
    "ADD_FEEDBACK",
    "CREATE_COLLECTION",
    "REMOVE_FEEDBACK",
    "SET_RULES",
    "SHA",
]

# What a request with a user token may do, read in one round trip and writing nothing (so
# nothing reaches the append-only file: a read costs no fsync). The token is checked first; the
# user's likes and dislikes and the paper are read only for the token's own user with a scope the
# route accepts, so that an unknown, expired or foreign token costs the same whichever user the
# path names (no timing tells whether a user exists or how active they are).
# KEYS: the token's record, the likes and dislikes of the user the path names, the papers hash;
# optionally (collections and rules) the user's rules hash, collections hash and the collection's
# set. ARGV: that user ('' for none), '1' to read their feedback, the paper to look up ('' for
# none), now (Unix seconds), the scopes the route accepts (separated by spaces); optionally the
# collection to read ('' for none) and '1' to read the rules.
# Returns {'unknown'} | {'expired', user} | {'ok', user, scope, likes, dislikes, paper known,
# feed, user rules, collection, members, collection rules}; paper known is -1 when not read;
# feed is '=' and the feed a feed token is bound to ('' when the record names none); rules are
# their JSON ('' for none); collection is its JSON record ('' when there is no such collection).
# A record is the JSON of service.store.TokenRecord, or (tokens of older versions) the bare user
# id.
ACCESS = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'unknown'} end
local user, scope, expires, feed = raw, 'user', nil, ''
if string.sub(raw, 1, 1) == '{' then
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' or type(rec['user']) ~= 'string' then return {'unknown'} end
  user = rec['user']
  if type(rec['scope']) == 'string' then scope = rec['scope'] end
  if type(rec['expires']) == 'number' then expires = rec['expires'] end
  if type(rec['feed']) == 'string' then feed = '=' .. rec['feed'] end
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
local rules, coll, members, coll_rules = '', '', {}, ''
if accepted and user == ARGV[1] and #KEYS >= 7 then
  if ARGV[7] == '1' then rules = redis.call('HGET', KEYS[5], '') or '' end
  if ARGV[6] ~= '' then
    coll = redis.call('HGET', KEYS[6], ARGV[6]) or ''
    if coll ~= '' then
      members = redis.call('SMEMBERS', KEYS[7])
      if ARGV[7] == '1' then coll_rules = redis.call('HGET', KEYS[5], ARGV[6]) or '' end
    end
  end
end
return {'ok', user, scope, likes, dislikes, known, feed, rules, coll, members, coll_rules}
"""


# A feedback change and its events, atomically and in one round trip (one append to the AOF, so
# one fsync): a stored change always has its event. Field names as in Store._event. The stream
# is trimmed in the same script, to its last ARGV[7] events and (ARGV[8] > 0) to those since the
# stream id ARGV[8] (the retention, docs/SECURITY.md), and the count of feedback changes (what
# /health and /metrics compare with the serving model's) goes up by what changed.
# The user's collections stay consistent in the same script: a like that leaves (a dislike
# removing it) leaves every collection, and a like may be put in a collection as it is made.
# KEYS: users, the set to add to, the other set, events, the feedback change count, the user's
# collections hash. ARGV: user, paper, add action, remove-from-the-other action, time, source,
# most events kept, oldest event id kept (0: no age limit), the user's collection key prefix,
# the collection to put the paper in ('' none: only a like may be), '1' when the other set is
# the likes. Returns -1 (and changes nothing) when that collection does not exist; else 1 if
# added to the set, plus 2 if newly put in the collection.
ADD_FEEDBACK = """
if ARGV[10] ~= '' and redis.call('HEXISTS', KEYS[6], ARGV[10]) == 0 then return -1 end
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
if removed == 1 and ARGV[11] == '1' then
  for _, name in ipairs(redis.call('HKEYS', KEYS[6])) do
    redis.call('SREM', ARGV[9] .. name, ARGV[2])
  end
end
local put = 0
if ARGV[10] ~= '' then put = redis.call('SADD', ARGV[9] .. ARGV[10], ARGV[2]) end
return added + 2 * put
"""
# KEYS: the set, events, the feedback change count, the user's collections hash. ARGV: user,
# paper, action, time, source, most events kept, oldest event id kept (0: no age limit), the
# user's collection key prefix, '1' when the set is the likes (an unlike leaves every collection).
# Returns 1 if it was there.
REMOVE_FEEDBACK = """
local removed = redis.call('SREM', KEYS[1], ARGV[2])
if removed == 1 and ARGV[9] == '1' then
  for _, name in ipairs(redis.call('HKEYS', KEYS[4])) do
    redis.call('SREM', ARGV[8] .. name, ARGV[2])
  end
end
if removed == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], '*', 'user', ARGV[1], 'paper', ARGV[2],
             'action', ARGV[3], 'time', ARGV[4], 'source', ARGV[5])
  if ARGV[7] ~= '0' then redis.call('XTRIM', KEYS[2], 'MINID', ARGV[7]) end
  redis.call('INCRBY', KEYS[3], 1)
end
return removed
"""
# A collection's rules are set only while the collection exists (a DELETE of the collection
# between a check and the write would leave its rules behind).
# KEYS: the user's rules hash, collections hash. ARGV: the collection ('' the user's own rules),
# the rules' JSON ('' removes them). Returns 0 when there is no such collection, else 1.
SET_RULES = """
if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""
# A collection is created only while the user has fewer than ARGV[3].
# KEYS: the user's collections hash. ARGV: name, its record (JSON), most collections.
# Returns 1 created, 0 it existed, -1 too many.
CREATE_COLLECTION = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
#: Script -> its sha1 digest, the name EVALSHA runs it by.
SHA = {
    script: hashlib.sha1(script.encode()).hexdigest()
    for script in (ACCESS, ADD_FEEDBACK, REMOVE_FEEDBACK, SET_RULES, CREATE_COLLECTION)
}
