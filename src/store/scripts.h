/* The Lua scripts of the session data model (docs/internals/store.md). Each returns an
 * array whose first element is a code: OK, NOT_FOUND, WRONG_STATE, RATE_LIMITED,
 * TOO_MANY_ACTIVE, IDEMPOTENCY_MISMATCH, REPLAY, DELETED or LOST_LEASE. */
#pragma once

extern const char bo1_lua_create[];
extern const char bo1_lua_rate[];
extern const char bo1_lua_control[];
extern const char bo1_lua_input[];
extern const char bo1_lua_events[];
extern const char bo1_lua_list[];
extern const char bo1_lua_append[];
extern const char bo1_lua_claim[];
extern const char bo1_lua_stats[];
extern const char bo1_lua_renew[];
extern const char bo1_lua_release[];
extern const char bo1_lua_ack[];
extern const char bo1_lua_artifacts[];
extern const char bo1_lua_poll[];
extern const char bo1_lua_report[];
