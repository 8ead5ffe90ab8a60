/* bo1/engine.h - the deliberation engine (spec/ENGINE.md) as an explicit state machine.
 *
 * The engine knows nothing of HTTP, Redis or curl. It runs on the loop thread and asks for
 * every effect (a model call, embeddings, a checkpoint, an event) through struct
 * bo1_engine_effects, which the app fills in and unit tests fake. States, events, the table
 * of legal moves and the checkpoint format are in docs/internals/engine.md. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "bo1/engine_deps.h"
#include "bo1/session.h"
#include "bo1/status.h"

struct bo1_engine;
struct bo1_prompts;

/** Session-level states (the table in src/engine/transitions.c). */
enum bo1_state {
    BO1_STATE_CREATED,
    BO1_STATE_CLARIFYING,
    BO1_STATE_AWAITING_INPUT,
    BO1_STATE_DECOMPOSING,
    BO1_STATE_DELIBERATING,
    BO1_STATE_SYNTHESIZING,
    BO1_STATE_PAUSED,
    BO1_STATE_COMPLETED,
    BO1_STATE_FAILED,
    BO1_STATE_CANCELLED,
    BO1_STATE_COUNT_
};

/** Session-level events. */
enum bo1_event {
    BO1_EV_START,
    BO1_EV_QUESTIONS, /* blocking questions asked: wait for the user */
    BO1_EV_NO_QUESTIONS,
    BO1_EV_INPUT, /* answered, skipped or timed out */
    BO1_EV_DECOMPOSED,
    BO1_EV_BOARDS_DONE, /* every sub-problem has its conclusion */
    BO1_EV_SYNTHESIZED,
    BO1_EV_PAUSE,
    BO1_EV_RESUME,
    BO1_EV_CANCEL,
    BO1_EV_FAIL,
    BO1_EV_HALT, /* budget spent or a clock ran out: finish with what exists */
    BO1_EV_COUNT_
};

/** Effects the engine asks for. Every function runs on the loop thread. */
struct bo1_engine_effects {
    /* Start a model call. If it returns BO1_OK, @cb runs exactly once later (it may run
     * before call_model returns, as fakes do); otherwise @cb never runs. The request and
     * its strings are valid only during the call (copy them). */
    enum bo1_status (*call_model)(void *ctx, const struct bo1_llm_request *rq, bo1_llm_done_cb *cb,
                                  void *arg);
    /* Embed @n texts. Same callback contract as call_model. May be NULL: the engine then
     * uses its local hashed bag-of-words embedding. */
    enum bo1_status (*embed)(void *ctx, const char *session_id, const char *const *texts, size_t n,
                             bo1_embed_done_cb *cb, void *arg);
    /* Save the checkpoint. @state is the session's own state, borrowed for the call only
     * (serialise or copy what is kept; the engine changes it once the call returns). The
     * engine is between steps here and after any of its calls returns, so the state may
     * also be taken later, from bo1_session_state(), at such a moment. May be NULL. */
    void (*checkpoint)(void *ctx, const char *session_id, const json_t *state);
    /* Publish one event (spec/API.md types). The app adds session_id, ts and an id.
     * Takes @data. May be NULL. */
    void (*publish)(void *ctx, const char *session_id, const char *type, json_t *data);
    /* Wall clock in seconds (Unix epoch, fractional). May be NULL (time(2) is used). */
    double (*now_s)(void *ctx);
    void *ctx;
};

/** Engine parameters; every number of ENGINE.md is here. Use BO1_ENGINE_CONFIG_DEFAULTS. */
struct bo1_engine_config {
    /* The persona catalog, hidden roles included. Borrowed for the engine's lifetime. */
    const struct bo1_persona *const *personas;
    size_t n_personas;
    /* Loaded prompt templates (bo1/prompt.h). NULL: the built-in prompt texts are used. */
    const struct bo1_prompts *prompts;
    const char *model_fast; /* NULL = the gateway's tier default */
    const char *model_deep;
    int simulated;             /* the model is bo1-fake-llm: reports say so */
    double budget_usd;         /* default per session when the request gives none */
    double budget_vote_share;  /* 0.80 */
    double wall_clock_s;       /* 1800 */
    double no_progress_s;      /* 600 */
    double clarify_timeout_s;  /* 600 */
    int hard_max_rounds;       /* 10 */
    int max_research;          /* per sub-problem, 2 */
    int max_clarify;           /* facilitator questions per session, 2 */
    double convergence_min;    /* 0.85 */
    double novelty_max;        /* 0.30 */
    double deadlock_conflict;  /* 0.70 */
    double deadlock_novelty;   /* 0.40 */
    int deadlock_rounds;       /* 2 */
    double one_way_door_share; /* 0.75 */
    double dissent_commit;     /* 0.30 */
    double confidence_commit;  /* 0.65 */
    double confidence_spread;  /* 0.40: max-min confidence that switches to weighting */
    unsigned max_tokens_contribution;
    unsigned max_tokens_structured;
    unsigned max_tokens_synthesis;
    /* Provider outage (circuit open, rate limit past its retries): the slot waits this long
     * before it is asked again, doubling per failed try up to the maximum. */
    double provider_wait_s;     /* 5 */
    double provider_wait_max_s; /* 30 (the gateway breaker's cool-down) */
};

#define BO1_ENGINE_CONFIG_DEFAULTS                                                                 \
    (struct bo1_engine_config)                                                                     \
    {                                                                                              \
        .budget_usd = 2.0, .budget_vote_share = 0.80, .wall_clock_s = 1800.0,                      \
        .no_progress_s = 600.0, .clarify_timeout_s = 600.0, .hard_max_rounds = 10,                 \
        .max_research = 2, .max_clarify = 2, .convergence_min = 0.85, .novelty_max = 0.30,         \
        .deadlock_conflict = 0.70, .deadlock_novelty = 0.40, .deadlock_rounds = 2,                 \
        .one_way_door_share = 0.75, .dissent_commit = 0.30, .confidence_commit = 0.65,             \
        .confidence_spread = 0.40, .max_tokens_contribution = 700, .max_tokens_structured = 1200,  \
        .max_tokens_synthesis = 2500, .provider_wait_s = 5.0, .provider_wait_max_s = 30.0,         \
    }

/**
 * Create an engine. @cfg and @fx are copied; what they point to is borrowed for the
 * engine's lifetime. Returns: NULL when out of memory.
 */
struct bo1_engine *bo1_engine_new(const struct bo1_engine_config *cfg,
                                  const struct bo1_engine_effects *fx);

/** Free the engine. Free its sessions first. NULL-safe. */
void bo1_engine_free(struct bo1_engine *e);

/**
 * Validate a create request (the API body: {problem:{statement, context?, constraints?},
 * options?:{personas?, max_rounds?, budget_usd?, clarify?, one_way_door?, start?}}) and
 * make a session in status "created". @id: the session id (copied).
 * @errors_out (may be NULL): on BO1_BAD_FIELD a new array of {field, message}.
 * Returns BO1_BAD_FIELD (invalid input) or BO1_NO_MEMORY. Nothing is published.
 */
enum bo1_status bo1_engine_create(struct bo1_engine *e, const char *id, const json_t *request,
                                  struct bo1_session **out, json_t **errors_out);

/** Start a created session. BO1_WRONG_STATE unless it is "created". */
enum bo1_status bo1_engine_start(struct bo1_engine *e, struct bo1_session *s);

/**
 * Rebuild a session from a checkpoint (bo1_session_to_json() or the checkpoint effect) and,
 * if it was live, continue it: work in flight at checkpoint time is asked again; the result
 * is the same as if the session had never stopped. Does not take @checkpoint.
 * Returns BO1_BAD_FIELD when @checkpoint is not an engine checkpoint of version 1.
 */
enum bo1_status bo1_engine_resume(struct bo1_engine *e, const json_t *checkpoint,
                                  struct bo1_session **out);

/** Pause: no new model call starts; answers in flight are still recorded. */
enum bo1_status bo1_engine_pause(struct bo1_engine *e, struct bo1_session *s);

/** Undo a pause (the API's POST /resume). BO1_WRONG_STATE unless paused. */
enum bo1_status bo1_engine_unpause(struct bo1_engine *e, struct bo1_session *s);

/** Cancel. Calls in flight are ignored when they return. BO1_WRONG_STATE if terminal. */
enum bo1_status bo1_engine_cancel(struct bo1_engine *e, struct bo1_session *s);

/**
 * The user speaks to the board; @text (1..4000 chars, copied) enters the next round's
 * prompts of every sub-problem still deliberating. BO1_BAD_FIELD for empty/long text,
 * BO1_WRONG_STATE when terminal.
 */
enum bo1_status bo1_engine_interject(struct bo1_engine *e, struct bo1_session *s, const char *text);

/**
 * Answer pending clarifying questions. @answers: object question_id → text (borrowed; may
 * be NULL when @skip). Unknown question ids are BO1_BAD_FIELD. BO1_WRONG_STATE unless the
 * session is awaiting input.
 */
enum bo1_status bo1_engine_answer(struct bo1_engine *e, struct bo1_session *s,
                                  const json_t *answers, int skip);

/**
 * Check the clocks: clarification timeout, wall-clock limit, no-progress limit. Call it
 * periodically (e.g. every second) for every live session.
 */
void bo1_engine_tick(struct bo1_engine *e, struct bo1_session *s);

/** Names for logs and docs. Static strings. */
const char *bo1_state_name(enum bo1_state st);
const char *bo1_event_name(enum bo1_event ev);
