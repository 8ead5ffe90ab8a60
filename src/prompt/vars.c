/* prompt/vars.c - the one table of placeholders each task's template may use.
 *
 * A template that names a placeholder not listed for its task fails at load; a listed
 * placeholder marked required must appear in the template. FENCE placeholders hold user (or
 * model) text and are escaped and wrapped by render itself, so the engine cannot forget. */
#include <stddef.h>
#include <string.h>

#include "bo1/prompt.h"

#define FENCE(name, tag, req, doc)                                                                 \
    {                                                                                              \
        name, BO1_PROMPT_VAR_FENCE, tag, req, doc                                                  \
    }
#define PLAIN(name, req, doc)                                                                      \
    {                                                                                              \
        name, BO1_PROMPT_VAR_PLAIN, NULL, req, doc                                                 \
    }
#define XML(name, req, doc)                                                                        \
    {                                                                                              \
        name, BO1_PROMPT_VAR_XML, NULL, req, doc                                                   \
    }

/* Every task sees the session: the user's problem and what they told us about it. */
#define SESSION_VARS                                                                               \
    FENCE("problem", "problem", 1, "the user's problem statement"),                                \
        FENCE("context", "context", 0, "the user's context object as JSON text, or \"\""),         \
        FENCE("constraints", "constraints", 0, "the user's constraints, one per line, or \"\""),   \
        FENCE("answers", "clarifications", 0,                                                      \
              "the user's answers to clarifying questions, or a note that none were given"),       \
        PLAIN("retry_note", 0,                                                                     \
              "on the one retry after an unusable answer, what was wrong with it; else \"\"")

/* Tasks that work on one sub-problem. Goal and context come from the decompose answer, which
 * may echo user text, so they are fenced too. */
#define SUB_PROBLEM_VARS                                                                           \
    PLAIN("sub_problem_id", 0, "id of the sub-problem, e.g. \"sp1\""),                             \
        FENCE("sub_problem_goal", "goal", 0, "goal of the sub-problem"),                           \
        FENCE("sub_problem_context", "sub_problem_context", 0, "context of the sub-problem"),      \
        PLAIN("complexity", 0, "complexity 1-10 of the sub-problem"),                              \
        XML("dependency_conclusions", 0,                                                           \
            "<conclusion sub_problem=\"ID\">...</conclusion> elements of the sub-problems this "   \
            "one depends on, or \"\"")

/* Tasks spoken by one persona (a board member or a hidden role). */
#define PERSONA_VARS(req)                                                                          \
    PLAIN("persona_code", req, "code of the speaking persona"),                                    \
        PLAIN("persona_name", 0, "display name of the persona"),                                   \
        PLAIN("persona_role", 0, "role label of the persona"),                                     \
        PLAIN("persona_identity", req, "identity prompt of the persona (catalog text)"),           \
        PLAIN("persona_style", 0, "response style of the persona")

/* The running discussion of a sub-problem. */
#define ROUND_VARS(req)                                                                            \
    PLAIN("round", req, "current round number, 1-based"),                                          \
        PLAIN("max_rounds", 0, "round limit of this sub-problem"),                                 \
        PLAIN("phase", req, "bo1_prompt_phase(round): explore, challenge or converge"),            \
        XML("round_summaries", 0,                                                                  \
            "<round_summary round=\"N\">...</round_summary> elements of earlier rounds, or \"\""), \
        XML("recent_contributions", 0,                                                             \
            "<contribution round=\"N\" speaker=\"CODE\">...</contribution> elements of the most "  \
            "recent round, or \"\""),                                                              \
        FENCE("interjections", "interjections", 0,                                                 \
              "what the user said to the board since the last round, or \"\""),                    \
        FENCE("research", "research_findings", 0,                                                  \
              "findings of research requested last round, or \"\""),                               \
        FENCE("focus", "focus", 0, "the facilitator's focus for this round, or \"\"")

static const struct bo1_prompt_var clarify_vars[] = {SESSION_VARS};

static const struct bo1_prompt_var decompose_vars[] = {SESSION_VARS};

static const struct bo1_prompt_var select_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    XML("candidates", 1,
        "bo1_persona_candidates_xml(): one <persona code=\"CODE\">...</persona> per candidate"),
};

static const struct bo1_prompt_var contribute_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PERSONA_VARS(1),
    ROUND_VARS(1),
};

static const struct bo1_prompt_var moderate_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PERSONA_VARS(1),
    ROUND_VARS(1),
    FENCE("intervention", "intervention_reason", 0,
          "why the facilitator called this moderator (model text)"),
};

static const struct bo1_prompt_var facilitate_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PERSONA_VARS(1),
    ROUND_VARS(1),
    XML("board", 0, "bo1_persona_list_xml() of the board members"),
    PLAIN("metrics", 0, "last round's convergence, novelty and conflict, as text"),
    PLAIN("research_left", 0, "research requests still allowed for this sub-problem"),
    PLAIN("clarify_left", 0, "clarifying questions still allowed for this session"),
    PLAIN("vote_allowed", 0, "\"true\" or \"false\": whether calling the vote is allowed now"),
};

static const struct bo1_prompt_var summarize_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PLAIN("round", 0, "the round being summarised"),
    XML("contributions", 1,
        "<contribution round=\"N\" speaker=\"CODE\">...</contribution> elements of the round"),
    FENCE("previous_summary", "previous_summary", 0, "summary of the round before, or \"\""),
};

static const struct bo1_prompt_var research_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PERSONA_VARS(1),
    FENCE("research_query", "research_query", 1, "the question to research (model text)"),
};

static const struct bo1_prompt_var vote_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    PERSONA_VARS(1),
    ROUND_VARS(1),
};

static const struct bo1_prompt_var synthesize_vars[] = {
    SESSION_VARS,
    SUB_PROBLEM_VARS,
    XML("board", 0, "bo1_persona_list_xml() of the board members"),
    XML("round_summaries", 0, "<round_summary round=\"N\">...</round_summary> elements"),
    XML("votes", 1,
        "<vote speaker=\"CODE\" confidence=\"0.8\" reversible=\"yes\">recommendation; "
        "reasoning; conditions</vote> elements"),
    PLAIN("aggregate", 1, "the engine's tally: rule used, split, outcome, dissenters"),
    PLAIN("disagree_and_commit", 0,
          "\"yes\" when dissent >= 30% or mean confidence < 0.65, else \"no\""),
    PLAIN("notes", 0, "engine notes for the report: members who sat out, stop reason, budget"),
};

static const struct bo1_prompt_var synthesize_final_vars[] = {
    SESSION_VARS,
    XML("sub_syntheses", 1,
        "<sub_problem_synthesis id=\"ID\" goal=\"...\">JSON of its "
        "synthesis</sub_problem_synthesis> "
        "elements"),
    PLAIN("notes", 0, "engine notes for the report: assumptions, stop reasons, budget"),
};

#define TASK(name)                                                                                 \
    {                                                                                              \
#name, name##_vars, sizeof(name##_vars) / sizeof(name##_vars[0])                           \
    }

static const struct task_table {
    const char *task;
    const struct bo1_prompt_var *vars;
    size_t n;
} tables[] = {
    TASK(clarify),  TASK(decompose),  TASK(select),           TASK(contribute),
    TASK(moderate), TASK(facilitate), TASK(summarize),        TASK(research),
    TASK(vote),     TASK(synthesize), TASK(synthesize_final),
};

static const char *const task_names[] = {
    "clarify",   "decompose", "select", "contribute", "moderate",         "facilitate",
    "summarize", "research",  "vote",   "synthesize", "synthesize_final", NULL,
};

const char *const *bo1_prompt_tasks(void)
{
    return task_names;
}

const struct bo1_prompt_var *bo1_prompt_task_vars(const char *task, size_t *n)
{
    for (size_t i = 0; task && i < sizeof(tables) / sizeof(tables[0]); i++) {
        if (strcmp(tables[i].task, task) == 0) {
            *n = tables[i].n;
            return tables[i].vars;
        }
    }
    *n = 0;
    return NULL;
}
