/* engine_internal.h - private contract between the files of the engine module and its unit
 * tests: the pure rules (stop rules, metrics, DAG repair, board choice, vote aggregation),
 * the transition tables, answer reading and prompt building. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "bo1/engine.h"

/* ---- sub-problem stages (table in transitions.c) ---- */
enum sp_stage {
    SP_WAITING,      /* dependencies not yet concluded */
    SP_SELECTING,    /* board selection call */
    SP_FACILITATING, /* facilitator decision for the round about to start */
    SP_INTERVENING,  /* moderator or research call before the members speak */
    SP_ASKING,       /* facilitator asked the user: waiting for the answer */
    SP_CONTRIBUTING, /* members speak in parallel */
    SP_SUMMARIZING,  /* round summary */
    SP_MEASURING,    /* embeddings and stop rules */
    SP_VOTING,
    SP_SYNTHESIZING,
    SP_DONE,
    SP_STAGE_COUNT_
};

enum sp_event {
    SPE_DEPS_READY,
    SPE_BOARD_READY,
    SPE_CONTINUE,  /* facilitator: members speak now */
    SPE_INTERVENE, /* facilitator: moderator or research first */
    SPE_ASK,       /* facilitator: ask the user */
    SPE_ANSWERED,
    SPE_INTERVENED,
    SPE_CONTRIBUTED,
    SPE_SUMMARIZED,
    SPE_NEXT_ROUND,
    SPE_STOP, /* stop rule or facilitator: vote */
    SPE_VOTED,
    SPE_SYNTHESIZED,
    SPE_HALT, /* budget spent / clock: finish with what exists */
    SPE_COUNT_
};

const char *sp_stage_name(enum sp_stage st);
const char *sp_event_name(enum sp_event ev);
int sp_stage_parse(const char *name);
/* The target of (@from, @ev), or -1 when the move is not in the table. */
int sp_transition(enum sp_stage from, enum sp_event ev);
/* For the session table; BO1_STATE_COUNT_ means "back to the state before" (pause/input). */
int session_transition(enum bo1_state from, enum bo1_event ev, enum bo1_state *to);
int bo1_state_parse(const char *name);

/* ---- rules.c: pure functions ---- */
int rules_max_rounds(int complexity, int requested, int hard_cap);
const char *rules_phase(int round);

/* Mean pairwise cosine of @n vectors (1.0 when n < 2). */
double rules_convergence(const float *const *v, size_t n, size_t dim);
/* Mean over @cur of (1 - max cosine to any of @prev). 1.0 when n_prev == 0. */
double rules_novelty(const float *const *cur, size_t n_cur, const float *const *prev, size_t n_prev,
                     size_t dim);
/* Conflict 0..1 from convergence and the summary's agreement/disagreement counts. */
double rules_conflict(double convergence, size_t agreements, size_t disagreements);

struct stop_input {
    int round, max_rounds;
    int have_metrics;    /* round >= 2 and metrics computed */
    int n_contributions; /* this round's; convergence needs a pair to compare (>= 2) */
    double convergence, novelty, conflict;
    int deadlock_streak; /* consecutive earlier rounds meeting the deadlock condition */
    double spent, budget;
    double elapsed_s, idle_s;
    const struct bo1_engine_config *cfg;
};
enum stop_action { STOP_NONE, STOP_VOTE, STOP_HALT };
/* Returns a new object {rule, action, round, numbers...}; sets *action and *streak_out. */
json_t *rules_stop(const struct stop_input *in, enum stop_action *action, int *streak_out);

/* Repair the dependency graph of @sps (array of sub-problem objects, modified in place):
 * unknown and self ids dropped, duplicates removed, cycles broken by dropping the edge that
 * closes them (in id order). Appends one {kind, sub_problem, dependency} per repair to
 * @repairs. Returns the number of repairs. */
size_t rules_dag_repair(json_t *sps, json_t *repairs);
/* Topological levels: writes order[] (indices) such that dependencies come first. */
int rules_topo_order(const json_t *sps, size_t *order);

/* Board choice. @proposed: array of codes (the model's or the user's list, may be NULL).
 * Returns a new object {members:[codes], dropped:[{code, reason}], fallback: bool}. */
json_t *rules_board(const struct bo1_persona *const *personas, size_t n, const json_t *proposed,
                    int user_list);
double rules_tag_overlap(const struct bo1_persona *a, const struct bo1_persona *b);

/* Aggregate member votes (array of {persona, recommendation, confidence, reversible,
 * conditions, failed?}). Returns a new vote.result object. */
json_t *rules_aggregate(const json_t *votes, int one_way_door_option,
                        const struct bo1_engine_config *cfg);

/* Local embedding: hashed bag of words and character trigrams, L2-normalised. */
void rules_embed_local(const char *text, float *out, size_t dim);
double rules_cosine(const float *a, const float *b, size_t dim);

/* ---- answer.c ---- */
/* Parse model text for @task into a normalised object. BO1_PARSE_FAILED with *why. */
enum bo1_status answer_parse(const char *task, const char *text, json_t **out, char **why);
const char *jstr(const json_t *o, const char *key, const char *dflt);
double jnum(const json_t *o, const char *key, double dflt);
int jint(const json_t *o, const char *key, int dflt);
int jbool(const json_t *o, const char *key, int dflt);

/* ---- prompt_build.c ---- */
struct built_prompt {
    char *system[4];
    int cache[4];
    size_t n_system;
    char *user;
};
/* Build the prompt of @task from @vars (object of strings). Uses the loaded templates when
 * @prompts is non-NULL and the prompt module is linked, else the built-in texts. */
enum bo1_status prompt_build(const struct bo1_prompts *prompts, const char *task,
                             const json_t *vars, struct built_prompt *out);
void built_prompt_fini(struct built_prompt *p);

/* ---- vars.c ---- */
struct bo1_session;
/* The prompt variables of one slot (names of the bo1/prompt.h placeholder table). */
json_t *slot_vars(const struct bo1_session *s, const json_t *owner, const json_t *batch,
                  const json_t *slot);

/* ---- run-time objects (engine.c, session.c) ---- */
struct call; /* a model or embedding call in flight */

struct bo1_engine {
    struct bo1_engine_config cfg;
    struct bo1_engine_effects fx;
};

struct bo1_session {
    struct bo1_engine *e;
    json_t *st;         /* the whole state: the checkpoint */
    struct call *calls; /* in flight; detached when the session goes */
    int pumping, again; /* trampoline: callbacks that run inside the pump only flag */
    int checkpoint_due; /* checkpoint when the pump stops (a provider outage began) */
};

/* session.c */
enum bo1_status session_validate(const json_t *request, json_t *errors, json_t **problem,
                                 json_t **options);
enum bo1_session_status session_status_of(const json_t *st);
