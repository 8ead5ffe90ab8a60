/* bo1/session.h - one deliberation: its whole state as a JSON document plus the engine's
 * run-time bookkeeping (calls in flight).
 *
 * The JSON state is the checkpoint: it is complete (nothing else is needed to continue),
 * deterministic, and versioned ("version": 1). Its layout is in docs/internals/engine.md.
 * Owned by the loop thread. */
#pragma once

#include <jansson.h>

#include "bo1/status.h"

struct bo1_session;

/** Lifecycle status as the API shows it (spec/API.md). */
enum bo1_session_status {
    BO1_SESSION_CREATED,
    BO1_SESSION_RUNNING,
    BO1_SESSION_PAUSED,
    BO1_SESSION_AWAITING_INPUT,
    BO1_SESSION_COMPLETED,
    BO1_SESSION_FAILED,
    BO1_SESSION_CANCELLED,
};

/** "created", "running", ... Returns: static string. */
const char *bo1_session_status_name(enum bo1_session_status st);

/** Borrowed; valid while @s lives. */
const char *bo1_session_id(const struct bo1_session *s);

enum bo1_session_status bo1_session_status(const struct bo1_session *s);

/** True for completed, failed and cancelled. */
int bo1_session_is_terminal(const struct bo1_session *s);

/**
 * The whole state (the checkpoint document).
 * Returns: borrowed; valid until the engine next runs on @s. Do not modify it.
 */
const json_t *bo1_session_state(const struct bo1_session *s);

/**
 * A deep copy of the state, e.g. for GET /sessions/{id}.
 * Returns: new reference, or NULL when out of memory.
 */
json_t *bo1_session_to_json(const struct bo1_session *s);

/**
 * Free the session. Model calls still in flight are detached: their callbacks still run
 * (the effects contract says exactly once) but touch nothing. NULL-safe.
 */
void bo1_session_free(struct bo1_session *s);
