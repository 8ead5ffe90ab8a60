/* Lua scripts run by Redis. Every script touches the keys of ONE hash slot only, and only
 * keys it is given in KEYS (tests/unit/test_store.c checks the text), so the model runs on
 * Redis Cluster: a session's keys share the tag {<id>}, an owner's keys the tag {o:<owner>},
 * the fleet's status counts the tag {stats}, and the job stream is one key. A change that
 * spans slots is several steps, ordered in sessions.c and runner.c so that a crash between
 * two of them loses no session and blocks nobody (docs/internals/store.md). */
#include "scripts.h"

#include <stddef.h>

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

/* The owner's cap on active sessions, on the sorted set KEYS[k] (member id, score = ms the
 * slot was taken). A member already there takes no new slot. At the cap the answer lists
 * every member with its score, so the caller can check their sessions and free the stale
 * ones (active_prune) before trying again. */
#define LUA_ACTIVE_TAKE(k, id, now, max)                                                           \
    "if not redis.call('ZSCORE', KEYS[" #k "], " id ") then\n"                                     \
    "  if redis.call('ZCARD', KEYS[" #k "]) >= tonumber(" max ") then\n"                           \
    "    local out = {'TOO_MANY_ACTIVE'}\n"                                                        \
    "    local m = redis.call('ZRANGE', KEYS[" #k "], 0, -1, 'WITHSCORES')\n"                      \
    "    for i = 1, #m do out[#out + 1] = m[i] end\n"                                              \
    "    return out\n"                                                                             \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "redis.call('ZADD', KEYS[" #k "], " now ", " id ")\n"

/* Step 1 of create, on the owner's slot: every check that can refuse the request, then the
 * owner's share of the new session (index entry, active slot, idempotency record), so that
 * a refused request changes nothing but the rate counter.
 * KEYS: 1 idempotency record, 2 rate counter (create), 3 active set, 4 owner index.
 * ARGV: 1 id, 2 body hash, 3 now ms, 4 start, 5 rate limit, 6 window ms, 7 max active,
 *       8 idempotency ttl s, 9 has idempotency key, 10 a record the caller found stale
 *       ('' = none), 11 count the rate ('0' on the retry after a prune).
 * The record is "<body hash> <id> <ms>". An existing record (other than the stale one)
 * answers IDEMPOTENCY_MISMATCH or {'CHECK', record}: the caller looks for that session. */
const char bo1_lua_create_owner[] =
    "if ARGV[9] == '1' then\n"
    "  local prev = redis.call('GET', KEYS[1])\n"
    "  if prev and prev ~= ARGV[10] then\n"
    "    local sep = string.find(prev, ' ', 1, true)\n"
    "    if not sep or string.sub(prev, 1, sep - 1) ~= ARGV[2] then\n"
    "      return {'IDEMPOTENCY_MISMATCH'}\n"
    "    end\n"
    "    return {'CHECK', prev}\n"
    "  end\n"
    "end\n"
    "if ARGV[11] == '1' then\n" LUA_RATE(2, "ARGV[5]", "ARGV[6]") "end\n"
    "if ARGV[4] == '1' then\n" LUA_ACTIVE_TAKE(3, "ARGV[1]", "ARGV[3]", "ARGV[7]") "end\n"
    "redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])\n"
    "if ARGV[9] == '1' then\n"
    "  redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[1] .. ' ' .. ARGV[3], 'EX', ARGV[8])\n"
    "end\n"
    "return {'OK'}\n";

/* Step 3 of create, on the session's slot: the session itself. KEYS: 1 session, 2 events.
 * ARGV: 1 id, 2 owner, 3 doc, 4 now ms, 5 status (created or queued), 6 statement for
 *       summaries (truncated), 7 events max, 8 created event, 9 queued event, 10 TTL s of
 *       an unstarted session (it expires unless started: the start PERSISTs).
 * Returns {'OK', doc, status, now}. */
const char bo1_lua_create_session[] =
    "redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'owner', ARGV[2], 'status', ARGV[5],\n"
    "           'created', ARGV[4], 'updated', ARGV[4], 'stmt', ARGV[6], 'phase', 'intake')\n"
    "local last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[8])\n"
    "if ARGV[5] == 'queued' then\n"
    "  last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[9])\n"
    "else\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[10])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[10])\n"
    "end\n"
    "redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', last)\n"
    "return {'OK', ARGV[3], ARGV[5], ARGV[4]}\n";

/* Undo create's step 1 when a later step failed. KEYS: 1 owner index, 2 active set,
 * 3 idempotency record. ARGV: 1 id, 2 the record step 1 wrote ('' = none): deleted only
 * while it is still that one. */
const char bo1_lua_create_undo[] =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "end\n"
    "return {'OK'}\n";

/* KEYS: 1 rate counter. ARGV: 1 limit, 2 window ms. */
const char bo1_lua_rate[] = LUA_RATE(1, "ARGV[1]", "ARGV[2]") "return {'OK'}\n";

/* The owner's gate of a control action: the control rate limit, and for an action that
 * makes the session queued (start, resume) its active slot.
 * KEYS: 1 rate counter (control), 2 active set.
 * ARGV: 1 id, 2 now ms, 3 rate limit, 4 window ms, 5 max active, 6 take a slot ('1'/'0'),
 *       7 count the rate ('0' on the retry after a prune). */
const char bo1_lua_control_owner[] =
    "if ARGV[7] == '1' then\n" LUA_RATE(1, "ARGV[3]", "ARGV[4]") "end\n"
    "if ARGV[6] == '1' then\n" LUA_ACTIVE_TAKE(2, "ARGV[1]", "ARGV[2]", "ARGV[5]") "end\n"
    "return {'OK'}\n";

/* Free active slots the caller found stale: each (member, score) pair is removed only if
 * its score is still the one seen (a slot taken again since has a new score).
 * KEYS: 1 active set. ARGV: member, score, member, score, ... Returns {'OK', removed}. */
const char bo1_lua_active_prune[] =
    "local n = 0\n"
    "for i = 1, #ARGV - 1, 2 do\n"
    "  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then\n"
    "    n = n + redis.call('ZREM', KEYS[1], ARGV[i])\n"
    "  end\n"
    "end\n"
    "return {'OK', tostring(n)}\n";

/* A session left the active statuses (pause, cancel, delete, or the runner's terminal
 * write). KEYS: 1 active set, 2 owner index. ARGV: 1 id, 2 only a slot taken before this ms
 * ('' = any), 3 also leave the index ('1': delete). */
const char bo1_lua_active_leave[] =
    "local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if s and (ARGV[2] == '' or tonumber(s) < tonumber(ARGV[2])) then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "end\n"
    "if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end\n"
    "return {'OK'}\n";

/* A control action on the session's slot (the owner's gate ran before).
 * KEYS: 1 session, 2 events, 3 lease, 4 inbox, 5 report.
 * ARGV: 1 id, 2 owner, 3 action, 4 now ms, 5 events max, 6 ttl s, 7 timestamp (ISO 8601).
 * Returns {'OK', doc, new status, now, previous status, checkpoint ('' = none)},
 * {'DELETED', '', status} or an error code. */
const char bo1_lua_control[] =
    "local v = redis.call('HMGET', KEYS[1], 'owner', 'status', 'doc', 'ckpt')\n"
    "if not v[1] or v[1] ~= ARGV[2] then return {'NOT_FOUND'} end\n"
    "local st = v[2]\n"
    "local a = ARGV[3]\n"
    "local terminal = (st == 'completed' or st == 'failed' or st == 'cancelled')\n"
    "local new\n"
    "if a == 'delete' then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])\n"
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
    "redis.call('HSET', KEYS[1], 'status', new, 'updated', ARGV[4])\n"
    "if a == 'start' then\n"
    "  redis.call('PERSIST', KEYS[1])\n"
    "  redis.call('PERSIST', KEYS[2])\n"
    "  redis.call('PERSIST', KEYS[4])\n"
    "end\n"
    "local ev = cjson.encode({type = 'session.status', session_id = ARGV[1], ts = ARGV[7],\n"
    "  data = {status = new, previous = st, by = 'user'}})\n"
    "local last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ev)\n"
    "if new == 'cancelled' then\n"
    "  redis.call('HSET', KEYS[1], 'finished', ARGV[4])\n"
    "  local fin = cjson.encode({type = 'session.completed', session_id = ARGV[1],\n"
    "    ts = ARGV[7], data = {status = 'cancelled'}})\n"
    "  last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', fin)\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[6])\n"
    "  redis.call('EXPIRE', KEYS[4], ARGV[6])\n"
    "end\n"
    "redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', last)\n"
    "return {'OK', v[3], new, ARGV[4], st, v[4] or ''}\n";

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

/* One list item, on the session's slot: the summary fields of the session hash, and the
 * document only for a session stored before those fields existed (no stmt).
 * KEYS: 1 session. Returns {status, updated, created, finished, phase, stmt, cost, doc}
 * with '' for absent fields; status '' = no such session. */
const char bo1_lua_list_item[] =
    "local v = redis.call('HMGET', KEYS[1], 'status', 'updated', 'created', 'finished',\n"
    "                     'phase', 'stmt', 'cost')\n"
    "local out = {}\n"
    "for k = 1, 7 do out[k] = v[k] or '' end\n"
    "out[8] = ''\n"
    "if v[1] and not v[6] then out[8] = redis.call('HGET', KEYS[1], 'doc') or '' end\n"
    "return out\n";

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
 * inbox too: input that came after the last poll is never read). The owner's active set
 * and the status counts are on other slots: the runner updates them after this write,
 * from the previous status and the owner returned here.
 * KEYS: 1 session, 2 events, 3 lease, 4 inbox.
 * ARGV: 1 instance, 2 events max, 3 status ('' = unchanged), 4 now ms, 5 ttl s (applied
 *       on a terminal status), 6 id, 7 checkpoint ('' = none), 8 write token ('' = none),
 *       9 phase ('' = unchanged), 10 cost total in USD ('' = unchanged), 11.. events.
 * The checkpoint is the session's whole engine state; the `doc` field keeps the create
 * document, and a read builds the session document from the two (store.md).
 * Returns {'OK', status, previous status if this write changed it else '', owner,
 * event ids...}. */
const char bo1_lua_append[] =
    "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "local v = redis.call('HMGET', KEYS[1], 'status', 'owner', 'wtok')\n"
    "local cur = v[1]\n"
    "if not cur then return {'NOT_FOUND'} end\n"
    "local out = {'OK', cur, '', v[2] or ''}\n"
    "if ARGV[8] ~= '' then\n"
    "  if v[3] == ARGV[8] then return out end\n"
    "  redis.call('HSET', KEYS[1], 'wtok', ARGV[8])\n"
    "end\n"
    "if cur ~= 'cancelled' then\n"
    "  for i = 11, #ARGV do\n"
    "    out[#out + 1] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])\n"
    "  end\n"
    "end\n"
    "if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'ckpt', ARGV[7]) end\n"
    "if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'phase', ARGV[9]) end\n"
    "if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'cost', ARGV[10]) end\n"
    "local new = ARGV[3]\n"
    "local write\n"
    "if new == '' or new == cur or cur == 'cancelled' then write = false\n"
    "elseif new == 'paused' then write = false\n"
    "elseif cur == 'paused' then\n"
    "  write = (new == 'completed' or new == 'failed' or new == 'cancelled')\n"
    "else write = true end\n"
    "if write then\n"
    "  redis.call('HSET', KEYS[1], 'status', new)\n"
    "  out[2] = new\n"
    "  out[3] = cur\n"
    "  if new == 'completed' or new == 'failed' or new == 'cancelled' then\n"
    "    redis.call('HSET', KEYS[1], 'finished', ARGV[4])\n"
    "    redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "    redis.call('EXPIRE', KEYS[2], ARGV[5])\n"
    "    redis.call('EXPIRE', KEYS[4], ARGV[5])\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'updated', ARGV[4])\n"
    "if #out > 4 then redis.call('PUBLISH', 'bo1:{' .. ARGV[6] .. '}:notify', out[#out]) end\n"
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
 * 3 job entry id ('' = none), 4 grace ms.
 * The job is added before the session is written (create) or made queued (start, resume),
 * so a job younger than the grace (by the entry id's time against Redis TIME) whose
 * session is missing, created or paused may belong to a request still between those steps:
 * NOT_YET, and the entry stays pending (taken over by XAUTOCLAIM later, when it is old).
 * Returns {'OK', doc, status, owner, checkpoint}; the caller moves the status count when
 * the status was queued (it is running now). Or WRONG_STATE / NOT_FOUND / LOST_LEASE /
 * NOT_YET. */
const char bo1_lua_claim[] =
    "local v = redis.call('HMGET', KEYS[1], 'doc', 'status', 'owner', 'ckpt')\n"
    "local live = v[2] == 'queued' or v[2] == 'running' or v[2] == 'awaiting_input'\n"
    "if not live then\n"
    "  local ms = tonumber(string.match(ARGV[3], '^(%d+)') or '0')\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  local young = ms > 0 and now - ms < tonumber(ARGV[4])\n"
    "  if young and (not v[1] or v[2] == 'created' or v[2] == 'paused') then\n"
    "    return {'NOT_YET'}\n"
    "  end\n"
    "  if not v[1] then return {'NOT_FOUND'} end\n"
    "  return {'WRONG_STATE', v[2]}\n"
    "end\n"
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder and holder ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "if v[2] == 'queued' then redis.call('HSET', KEYS[1], 'status', 'running') end\n"
    "return {'OK', v[1], v[2], v[3], v[4] or ''}\n";

/* KEYS: 1 lease. ARGV: 1 instance, 2 lease ms. */
const char bo1_lua_renew[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'LOST_LEASE'} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {'OK'}\n";

/* Acknowledging a job also deletes its entry: the job stream holds only work not yet done
 * (a MAXLEN cap could drop an entry that is still pending or not yet delivered, and with it
 * a session). XACK first, in one script, so no pending entry ever points at a deleted one.
 * With requeue, a new job for the session is added first (SIGTERM hands sessions back).
 * KEYS: 1 jobs. ARGV: 1 job entry ('' = none), 2 requeue ('1'), 3 id (for the requeue). */
const char bo1_lua_ack[] =
    "if ARGV[2] == '1' then redis.call('XADD', KEYS[1], '*', 'session', ARGV[3]) end\n"
    "if ARGV[1] ~= '' then\n"
    "  redis.call('XACK', KEYS[1], 'bo1', ARGV[1])\n"
    "  redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "end\n"
    "return {'OK'}\n";

/* Give the lease up if it is still ours (the job is acknowledged next, by bo1_lua_ack).
 * KEYS: 1 lease. ARGV: 1 instance. */
const char bo1_lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return {'OK'}\n";

/* The fleet's sessions by status (read by bo1_lua_stats for /metrics), all in the slot of
 * the tag {stats}. Statuses whose keys never expire (queued, running, awaiting_input,
 * paused) are counters in the hash KEYS[1]; statuses whose session hash has a TTL (created:
 * unstarted TTL; completed, failed, cancelled: session TTL) are ZSETs (KEYS[2..5]) of ids
 * scored by the ms at which the session hash expires (Redis TIME + the same TTL the
 * session got), so a session that expires leaves the count at its expiry: the reader
 * counts only scores in the future, and each insert prunes the past. Called once after
 * each real status change (delete: new = ''), as its own step.
 * KEYS: 1 counters, 2 created, 3 completed, 4 failed, 5 cancelled.
 * ARGV: 1 id, 2 old status ('' = none), 3 new status ('' = none), 4 ttl s of the new one. */
const char bo1_lua_stat_move[] =
    "local timed = {created = 2, completed = 3, failed = 4, cancelled = 5}\n"
    "local old, new = ARGV[2], ARGV[3]\n"
    "if old ~= '' then\n"
    "  local k = timed[old]\n"
    "  if k then redis.call('ZREM', KEYS[k], ARGV[1])\n"
    "  else redis.call('HINCRBY', KEYS[1], old, -1) end\n"
    "end\n"
    "if new ~= '' then\n"
    "  local k = timed[new]\n"
    "  if k then\n"
    "    local t = redis.call('TIME')\n"
    "    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', string.format('%d', now))\n"
    "    redis.call('ZADD', KEYS[k], string.format('%d', now + tonumber(ARGV[4]) * 1000),\n"
    "               ARGV[1])\n"
    "  else redis.call('HINCRBY', KEYS[1], new, 1) end\n"
    "end\n"
    "return {'OK'}\n";

/* Sessions by status across the fleet (see bo1_lua_stat_move; same KEYS).
 * Returns the counts of created, queued, running, awaiting_input, paused, completed,
 * failed, cancelled, in that order. Read-only: expired ids are skipped, not removed. */
const char bo1_lua_stats[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local after = '(' .. string.format('%d', now)\n"
    "local h = redis.call('HMGET', KEYS[1], 'queued', 'running', 'awaiting_input', 'paused')\n"
    "local out = {redis.call('ZCOUNT', KEYS[2], after, '+inf')}\n"
    "for i = 1, 4 do out[#out + 1] = tonumber(h[i] or '0') end\n"
    "for k = 3, 5 do out[#out + 1] = redis.call('ZCOUNT', KEYS[k], after, '+inf') end\n"
    "return out\n";

/* KEYS: 1 session, 2 report. ARGV: 1 owner.
 * Returns {'OK', status, doc, report json, report markdown, checkpoint} ('' = absent). */
const char bo1_lua_artifacts[] =
    "local v = redis.call('HMGET', KEYS[1], 'owner', 'status', 'doc', 'ckpt')\n"
    "if not v[1] or v[1] ~= ARGV[1] then return {'NOT_FOUND'} end\n"
    "local r = redis.call('HMGET', KEYS[2], 'json', 'md')\n"
    "return {'OK', v[2], v[3], r[1] or '', r[2] or '', v[4] or ''}\n";
// clang-format on

#define S(name)                                                                                    \
    {                                                                                              \
#name, bo1_lua_##name                                                                      \
    }
const struct bo1_lua_script bo1_lua_all[] = {
    S(create_owner),  S(create_session), S(create_undo),  S(rate),
    S(control_owner), S(active_prune),   S(active_leave), S(control),
    S(input),         S(events),         S(list_item),    S(append),
    S(poll),          S(report),         S(claim),        S(renew),
    S(ack),           S(release),        S(stat_move),    S(stats),
    S(artifacts),     {NULL, NULL},
};
