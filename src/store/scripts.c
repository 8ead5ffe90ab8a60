/* Lua scripts run by Redis. Keeping every multi-key change in one script makes it atomic:
 * a request that fails changes nothing, and concurrent instances never interleave. */
#include "scripts.h"

// clang-format off

/* Fixed-window rate limit shared by several scripts: KEYS[k] counter, limit, window. */
#define LUA_RATE(k, limit, window)                                                                 \
    "local rl = redis.call('INCR', KEYS[" #k "])\n"                                                \
    "if rl == 1 then redis.call('PEXPIRE', KEYS[" #k "], " window ") end\n"                        \
    "if rl > tonumber(" limit ") then\n"                                                           \
    "  local ttl = redis.call('PTTL', KEYS[" #k "])\n"                                             \
    "  if ttl < 0 then redis.call('PEXPIRE', KEYS[" #k "], " window "); ttl = tonumber(" window    \
    ") end\n"                                                                                      \
    "  return {'RATE_LIMITED', tostring(ttl)}\n"                                                   \
    "end\n"

/* Fleet-wide sessions by status (read by bo1_lua_stats for /metrics). Statuses whose keys
 * never expire (queued, running, awaiting_input, paused) are counters in the hash
 * bo1:stats:sessions; statuses whose session hash has a TTL (created: unstarted TTL;
 * completed, failed, cancelled: session TTL) are ZSETs bo1:stats:sessions:<status> of ids
 * scored by the ms at which the session hash expires (Redis TIME + the same TTL the script
 * gives the hash), so a session that expires leaves the count at its expiry: the reader
 * counts only scores in the future, and each insert prunes the past. Every script that
 * changes a status calls stat_move(id, old, new, ttl s) once, in the same script as the
 * change, and only when the status really changes (delete: new = nil). */
#define LUA_STATS                                                                                  \
    "local function stat_timed(s)\n"                                                              \
    "  return s == 'created' or s == 'completed' or s == 'failed' or s == 'cancelled'\n"          \
    "end\n"                                                                                       \
    "local function stat_move(id, old, new, ttl)\n"                                               \
    "  if old then\n"                                                                             \
    "    if stat_timed(old) then redis.call('ZREM', 'bo1:stats:sessions:' .. old, id)\n"          \
    "    else redis.call('HINCRBY', 'bo1:stats:sessions', old, -1) end\n"                         \
    "  end\n"                                                                                     \
    "  if new then\n"                                                                             \
    "    if stat_timed(new) then\n"                                                               \
    "      local t = redis.call('TIME')\n"                                                        \
    "      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"              \
    "      local z = 'bo1:stats:sessions:' .. new\n"                                              \
    "      redis.call('ZREMRANGEBYSCORE', z, '-inf', string.format('%d', now))\n"                 \
    "      redis.call('ZADD', z, string.format('%d', now + tonumber(ttl) * 1000), id)\n"          \
    "    else redis.call('HINCRBY', 'bo1:stats:sessions', new, 1) end\n"                          \
    "  end\n"                                                                                     \
    "end\n"

/* KEYS: 1 session, 2 events, 3 owner index, 4 jobs, 5 idempotency, 6 rate counter,
 *       7 owner's active set.
 * ARGV: 1 id, 2 owner, 3 doc, 4 body hash, 5 now ms, 6 start, 7 rate limit, 8 window ms,
 *       9 max active, 10 statement for summaries (truncated), 11 idempotency ttl s,
 *       12 has idempotency key,
 *       13 events max, 14 created event, 15 queued event, 16 TTL s of an unstarted session.
 * A session created without start expires unless it is started (the start PERSISTs). */
const char bo1_lua_create[] = LUA_STATS
    "if ARGV[12] == '1' then\n"
    "  local prev = redis.call('GET', KEYS[5])\n"
    "  if prev then\n"
    "    local sep = string.find(prev, ' ', 1, true)\n"
    "    local h = string.sub(prev, 1, sep - 1)\n"
    "    local pid = string.sub(prev, sep + 1)\n"
    "    if h ~= ARGV[4] then return {'IDEMPOTENCY_MISMATCH'} end\n"
    "    local v = redis.call('HMGET', 'bo1:{' .. pid .. '}:session', 'doc', 'status', 'updated')\n"
    "    if v[1] then return {'REPLAY', v[1], v[2], v[3]} end\n"
    "  end\n"
    "end\n" LUA_RATE(6, "ARGV[7]", "ARGV[8]") "local status = 'created'\n"
    "if ARGV[6] == '1' then\n"
    "  if redis.call('SCARD', KEYS[7]) >= tonumber(ARGV[9]) then return {'TOO_MANY_ACTIVE'} end\n"
    "  status = 'queued'\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'owner', ARGV[2], 'status', status,\n"
    "           'created', ARGV[5], 'updated', ARGV[5], 'stmt', ARGV[10], 'phase', 'intake')\n"
    "stat_move(ARGV[1], nil, status, ARGV[16])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])\n"
    "local last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[13], '*', 'e', ARGV[14])\n"
    "if status == 'queued' then\n"
    "  last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[13], '*', 'e', ARGV[15])\n"
    "  redis.call('SADD', KEYS[7], ARGV[1])\n"
    "  redis.call('XADD', KEYS[4], '*', 'session', ARGV[1])\n"
    "else\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[16])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[16])\n"
    "end\n"
    "redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', last)\n"
    "if ARGV[12] == '1' then\n"
    "  redis.call('SET', KEYS[5], ARGV[4] .. ' ' .. ARGV[1], 'EX', ARGV[11])\n"
    "end\n"
    "return {'OK', ARGV[3], status, ARGV[5]}\n";

/* KEYS: 1 rate counter. ARGV: 1 limit, 2 window ms. */
const char bo1_lua_rate[] = LUA_RATE(1, "ARGV[1]", "ARGV[2]") "return {'OK'}\n";

/* KEYS: 1 session, 2 events, 3 jobs, 4 owner's active set, 5 rate counter, 6 lease,
 *       7 inbox, 8 owner index, 9 report.
 * ARGV: 1 id, 2 owner, 3 action, 4 now ms, 5 rate limit, 6 window ms, 7 max active,
 *       8 events max, 9 ttl s, 10 timestamp (ISO 8601). */
const char bo1_lua_control[] = LUA_STATS
    "local v = redis.call('HMGET', KEYS[1], 'owner', 'status', 'doc')\n"
    "if not v[1] or v[1] ~= ARGV[2] then return {'NOT_FOUND'} end\n"
    LUA_RATE(5, "ARGV[5]", "ARGV[6]")
    "local st = v[2]\n"
    "local a = ARGV[3]\n"
    "local terminal = (st == 'completed' or st == 'failed' or st == 'cancelled')\n"
    "local new\n"
    "if a == 'delete' then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[6], KEYS[7], KEYS[9])\n"
    "  redis.call('SREM', KEYS[4], ARGV[1])\n"
    "  redis.call('ZREM', KEYS[8], ARGV[1])\n"
    "  stat_move(ARGV[1], st, nil, nil)\n"
    "  redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', 'deleted')\n"
    "  return {'DELETED', '', st}\n"
    "elseif a == 'start' then\n"
    "  if st ~= 'created' then return {'WRONG_STATE', st} end\n"
    "  new = 'queued'\n"
    "elseif a == 'pause' then\n"
    "  if st ~= 'queued' and st ~= 'running' and st ~= 'awaiting_input' then\n"
    "    return {'WRONG_STATE', st}\n"
    "  end\n"
    "  new = 'paused'\n"
    "elseif a == 'resume' then\n"
    "  if st ~= 'paused' then return {'WRONG_STATE', st} end\n"
    "  new = 'queued'\n"
    "elseif a == 'cancel' then\n"
    "  if terminal then return {'WRONG_STATE', st} end\n"
    "  new = 'cancelled'\n"
    "else\n"
    "  return {'WRONG_STATE', st}\n"
    "end\n"
    "if new == 'queued' and redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[7]) then\n"
    "  return {'TOO_MANY_ACTIVE'}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'status', new, 'updated', ARGV[4])\n"
    "stat_move(ARGV[1], st, new, ARGV[9])\n"
    "if a == 'start' then\n"
    "  for _, k in ipairs({KEYS[1], KEYS[2], KEYS[7]}) do redis.call('PERSIST', k) end\n"
    "end\n"
    "if new == 'queued' then\n"
    "  redis.call('SADD', KEYS[4], ARGV[1])\n"
    "  redis.call('XADD', KEYS[3], '*', 'session', ARGV[1])\n"
    "else\n"
    "  redis.call('SREM', KEYS[4], ARGV[1])\n"
    "end\n"
    "local ev = cjson.encode({type = 'session.status', session_id = ARGV[1], ts = ARGV[10],\n"
    "  data = {status = new, previous = st, by = 'user'}})\n"
    "local last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'e', ev)\n"
    "if new == 'cancelled' then\n"
    "  redis.call('HSET', KEYS[1], 'finished', ARGV[4])\n"
    "  local fin = cjson.encode({type = 'session.completed', session_id = ARGV[1],\n"
    "    ts = ARGV[10], data = {status = 'cancelled'}})\n"
    "  last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'e', fin)\n"
    "  for i = 1, 2 do redis.call('EXPIRE', KEYS[i], ARGV[9]) end\n"
    "  redis.call('EXPIRE', KEYS[7], ARGV[9])\n"
    "end\n"
    "redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', last)\n"
    "return {'OK', v[3], new, ARGV[4]}\n";

/* The inbox expires with the session when the session already has a TTL (unstarted).
 * KEYS: 1 session, 2 events, 3 inbox.
 * ARGV: 1 owner, 2 kind, 3 payload, 4 now ms, 5 event, 6 events max, 7 id. */
const char bo1_lua_input[] =
    "local v = redis.call('HMGET', KEYS[1], 'owner', 'status')\n"
    "if not v[1] or v[1] ~= ARGV[1] then return {'NOT_FOUND'} end\n"
    "local st = v[2]\n"
    "if ARGV[2] == 'answers' then\n"
    "  if st ~= 'awaiting_input' then return {'WRONG_STATE', st} end\n"
    "else\n"
    "  if st == 'completed' or st == 'failed' or st == 'cancelled' then\n"
    "    return {'WRONG_STATE', st}\n"
    "  end\n"
    "end\n"
    "redis.call('RPUSH', KEYS[3], ARGV[3])\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end\n"
    "local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])\n"
    "redis.call('HSET', KEYS[1], 'updated', ARGV[4])\n"
    "redis.call('PUBLISH', 'bo1:{' .. ARGV[7] .. '}:notify', id)\n"
    "return {'OK', id, st}\n";

/* KEYS: 1 session, 2 events. ARGV: 1 owner, 2 after (exclusive; '0' = start), 3 count. */
const char bo1_lua_events[] =
    "local o = redis.call('HGET', KEYS[1], 'owner')\n"
    "if not o or o ~= ARGV[1] then return {'NOT_FOUND'} end\n"
    "local start = '-'\n"
    "if ARGV[2] ~= '0' and ARGV[2] ~= '' then start = '(' .. ARGV[2] end\n"
    "local r = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', ARGV[3])\n"
    "local out = {'OK'}\n"
    "for i, e in ipairs(r) do\n"
    "  out[#out + 1] = e[1]\n"
    "  out[#out + 1] = e[2][2]\n"
    "end\n"
    "return out\n";

/* KEYS: 1 owner index. ARGV: 1 max score ('+inf' or ms), 2 skip members >= this at that
 * score ('' = none), 3 limit, 4 status filter ('' = any).
 * Returns {'OK', next score, next id, items...}: the next page starts after (next score,
 * next id), both '' when the index has nothing more that could match. Each item is nine
 * values: id, status, updated, created, finished, phase, stmt, cost, doc; doc is '' unless
 * the session predates the summary fields (no stmt), and absent fields are ''. Looks one
 * match past the page to know whether another page exists; scans at most 2000 members per
 * call (then the cursor is the last member scanned, and the page may be short or empty).
 * Expired ids are removed from the index on the way. */
const char bo1_lua_list[] =
    "local out = {'OK', '', ''}\n"
    "local want = tonumber(ARGV[3])\n"
    "local max = ARGV[1]\n"
    "local skip = ARGV[2]\n"
    "local scanned = 0\n"
    "local found = 0\n"
    "local last_score, last_id\n"
    "local scan_score, scan_id\n"
    "while true do\n"
    "  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES',\n"
    "                           'LIMIT', 0, 100)\n"
    "  for i = 1, #batch, 2 do\n"
    "    local id, score = batch[i], batch[i + 1]\n"
    "    if not (skip ~= '' and score == max and id >= skip) then\n"
    "      local key = 'bo1:{' .. id .. '}:session'\n"
    "      local v = redis.call('HMGET', key, 'status', 'updated', 'created', 'finished',\n"
    "                           'phase', 'stmt', 'cost')\n"
    "      if not v[1] then\n"
    "        redis.call('ZREM', KEYS[1], id)\n"
    "      elseif ARGV[4] == '' or ARGV[4] == v[1] then\n"
    "        if found == want then\n"
    "          out[2], out[3] = last_score, last_id\n"
    "          return out\n"
    "        end\n"
    "        local doc = ''\n"
    "        if not v[6] then doc = redis.call('HGET', key, 'doc') or '' end\n"
    "        out[#out + 1] = id\n"
    "        for k = 1, 7 do out[#out + 1] = v[k] or '' end\n"
    "        out[#out + 1] = doc\n"
    "        found = found + 1\n"
    "        last_score, last_id = score, id\n"
    "      end\n"
    "    end\n"
    "    scanned = scanned + 1\n"
    "    scan_score, scan_id = score, id\n"
    "  end\n"
    "  if #batch < 200 then return out end\n"
    "  if scanned >= 2000 then\n"
    "    out[2], out[3] = scan_score, scan_id\n"
    "    return out\n"
    "  end\n"
    "  max = scan_score\n"
    "  skip = scan_id\n"
    "end\n";

/* Runner writes, guarded by the lease so an instance that lost its session never writes.
 * Events are appended unless the user cancelled (the cancel already ended the log with its
 * session.completed). The engine's status never overrides the user's: nothing replaces a
 * cancel; a pause gives way only to a terminal status; and the engine's own "paused" is
 * never written, because the engine pauses only when the runner has read the user's pause
 * from this field: if the field no longer says paused, the user resumed (or cancelled)
 * since, and that newer status is the one to keep (a write sent before a resume used to
 * land after it and undo it). The status that holds is returned so the runner can act on
 * it (cancel, pause, or undo its pause). A write
 * whose token equals the last one applied is a retry of a write that landed: nothing is
 * done again.
 * A terminal status starts the TTL on every key of the session that has none yet (the
 * inbox too: input that came after the last poll is never read).
 * KEYS: 1 session, 2 events, 3 lease, 4 inbox.
 * ARGV: 1 instance, 2 events max, 3 status ('' = unchanged), 4 doc ('' = unchanged),
 *       5 now ms, 6 ttl s (applied on a terminal status), 7 id, 8 checkpoint ('' = none),
 *       9 write token ('' = none), 10 phase ('' = unchanged), 11 cost total in USD
 *       ('' = unchanged), 12.. events. Returns {'OK', status, event ids...}. */
const char bo1_lua_append[] = LUA_STATS
    "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "local v = redis.call('HMGET', KEYS[1], 'status', 'owner', 'wtok')\n"
    "local cur = v[1]\n"
    "if not cur then return {'NOT_FOUND'} end\n"
    "local out = {'OK', cur}\n"
    "if ARGV[9] ~= '' then\n"
    "  if v[3] == ARGV[9] then return out end\n"
    "  redis.call('HSET', KEYS[1], 'wtok', ARGV[9])\n"
    "end\n"
    "if cur ~= 'cancelled' then\n"
    "  for i = 12, #ARGV do\n"
    "    out[#out + 1] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])\n"
    "  end\n"
    "end\n"
    "if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'doc', ARGV[4]) end\n"
    "if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'ckpt', ARGV[8]) end\n"
    "if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'phase', ARGV[10]) end\n"
    "if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'cost', ARGV[11]) end\n"
    "local new = ARGV[3]\n"
    "local write\n"
    "if new == '' or new == cur or cur == 'cancelled' then write = false\n"
    "elseif new == 'paused' then write = false\n"
    "elseif cur == 'paused' then\n"
    "  write = (new == 'completed' or new == 'failed' or new == 'cancelled')\n"
    "else write = true end\n"
    "if write then\n"
    "  redis.call('HSET', KEYS[1], 'status', new)\n"
    "  stat_move(ARGV[7], cur, new, ARGV[6])\n"
    "  out[2] = new\n"
    "  local act = 'bo1:owner:' .. v[2] .. ':active'\n"
    "  if new == 'completed' or new == 'failed' or new == 'cancelled' or new == 'paused' then\n"
    "    redis.call('SREM', act, ARGV[7])\n"
    "  end\n"
    "  if new == 'completed' or new == 'failed' or new == 'cancelled' then\n"
    "    redis.call('HSET', KEYS[1], 'finished', ARGV[5])\n"
    "    redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "    redis.call('EXPIRE', KEYS[2], ARGV[6])\n"
    "    redis.call('EXPIRE', KEYS[4], ARGV[6])\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'updated', ARGV[5])\n"
    "if #out > 2 then redis.call('PUBLISH', 'bo1:{' .. ARGV[7] .. '}:notify', out[#out]) end\n"
    "return out\n";

/* The runner's view of user actions. KEYS: 1 session, 2 inbox, 3 lease. ARGV: 1 instance.
 * Returns {'OK', status, inputs...}; the inputs are taken out of the inbox. */
const char bo1_lua_poll[] =
    "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not st then return {'NOT_FOUND'} end\n"
    "local inbox = redis.call('LRANGE', KEYS[2], 0, -1)\n"
    "if #inbox > 0 then redis.call('DEL', KEYS[2]) end\n"
    "local out = {'OK', st}\n"
    "for i, x in ipairs(inbox) do out[#out + 1] = x end\n"
    "return out\n";

/* KEYS: 1 report, 2 lease. ARGV: 1 instance, 2 json, 3 markdown, 4 ttl s. */
const char bo1_lua_report[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "redis.call('HSET', KEYS[1], 'json', ARGV[2], 'md', ARGV[3])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
    "return {'OK'}\n";

/* Take a session for this instance. KEYS: 1 session, 2 lease. ARGV: 1 instance, 2 lease ms,
 * 3 id.
 * Returns OK with doc, status and owner, or WRONG_STATE / NOT_FOUND / LOST_LEASE. */
const char bo1_lua_claim[] = LUA_STATS
    "local v = redis.call('HMGET', KEYS[1], 'doc', 'status', 'owner', 'ckpt')\n"
    "if not v[1] then return {'NOT_FOUND'} end\n"
    "if v[2] ~= 'queued' and v[2] ~= 'running' and v[2] ~= 'awaiting_input' then\n"
    "  return {'WRONG_STATE', v[2]}\n"
    "end\n"
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder and holder ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "if v[2] == 'queued' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'running')\n"
    "  stat_move(ARGV[3], 'queued', 'running', nil)\n"
    "end\n"
    "return {'OK', v[1], v[2], v[3], v[4] or ''}\n";

/* KEYS: 1 lease. ARGV: 1 instance, 2 lease ms. */
const char bo1_lua_renew[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {'OK'}\n";

/* Acknowledging a job also deletes its entry: the job stream holds only work not yet done
 * (a MAXLEN cap could drop an entry that is still pending or not yet delivered, and with it
 * a session). XACK first, in one script, so no pending entry ever points at a deleted one.
 * KEYS: 1 jobs. ARGV: 1 job entry. */
const char bo1_lua_ack[] =
    "redis.call('XACK', KEYS[1], 'bo1', ARGV[1])\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return {'OK'}\n";

/* KEYS: 1 lease, 2 jobs. ARGV: 1 instance, 2 id, 3 requeue ('1': hand the session to any
 * instance), 4 job entry to acknowledge ('' = none). */
const char bo1_lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "if ARGV[3] == '1' then redis.call('XADD', KEYS[2], '*', 'session', ARGV[2]) end\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call('XACK', KEYS[2], 'bo1', ARGV[4])\n"
    "  redis.call('XDEL', KEYS[2], ARGV[4])\n"
    "end\n"
    "return {'OK'}\n";
/* Sessions by status across the fleet (see LUA_STATS). KEYS: 1 bo1:stats:sessions.
 * Returns the counts of created, queued, running, awaiting_input, paused, completed,
 * failed, cancelled, in that order. Read-only: expired ids are skipped, not removed. */
const char bo1_lua_stats[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local after = '(' .. string.format('%d', now)\n"
    "local h = redis.call('HMGET', KEYS[1], 'queued', 'running', 'awaiting_input', 'paused')\n"
    "local out = {redis.call('ZCOUNT', KEYS[1] .. ':created', after, '+inf')}\n"
    "for i = 1, 4 do out[#out + 1] = tonumber(h[i] or '0') end\n"
    "for _, s in ipairs({'completed', 'failed', 'cancelled'}) do\n"
    "  out[#out + 1] = redis.call('ZCOUNT', KEYS[1] .. ':' .. s, after, '+inf')\n"
    "end\n"
    "return out\n";

/* KEYS: 1 session, 2 report. ARGV: 1 owner. */
const char bo1_lua_artifacts[] =
    "local v = redis.call('HMGET', KEYS[1], 'owner', 'status', 'doc')\n"
    "if not v[1] or v[1] ~= ARGV[1] then return {'NOT_FOUND'} end\n"
    "local r = redis.call('HMGET', KEYS[2], 'json', 'md')\n"
    "return {'OK', v[2], v[3], r[1] or '', r[2] or ''}\n";
// clang-format on
