/* The Lua scripts of the session data model (docs/internals/store.md). Each returns an
 * array whose first element is a code: OK, NOT_FOUND, WRONG_STATE, RATE_LIMITED,
 * TOO_MANY_ACTIVE, IDEMPOTENCY_MISMATCH, CHECK, DELETED, LOST_LEASE or NOT_YET (stats
 * and list_item answer plain arrays). Every script touches keys of one hash slot only, all
 * of them passed in KEYS. */
#pragma once

extern const char bo1_lua_create_owner[];
extern const char bo1_lua_create_session[];
extern const char bo1_lua_create_undo[];
extern const char bo1_lua_rate[];
extern const char bo1_lua_control_owner[];
extern const char bo1_lua_active_prune[];
extern const char bo1_lua_active_leave[];
extern const char bo1_lua_control[];
extern const char bo1_lua_input[];
extern const char bo1_lua_events[];
extern const char bo1_lua_list_item[];
extern const char bo1_lua_append[];
extern const char bo1_lua_claim[];
extern const char bo1_lua_stat_move[];
extern const char bo1_lua_stats[];
extern const char bo1_lua_renew[];
extern const char bo1_lua_release[];
extern const char bo1_lua_ack[];
extern const char bo1_lua_artifacts[];
extern const char bo1_lua_poll[];
extern const char bo1_lua_report[];

/* Every script above, by name, ending with {NULL, NULL} (for the static key check). */
struct bo1_lua_script {
    const char *name;
    const char *text;
};
extern const struct bo1_lua_script bo1_lua_all[];
