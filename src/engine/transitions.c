/* The engine's two transition tables: the session machine and the per-sub-problem machine.
 * A move not listed here is illegal; the engine refuses it (BO1_WRONG_STATE) rather than
 * improvising. See docs/internals/engine.md for the diagrams. */
#include <string.h>

#include "engine_internal.h"

static const char *const state_names[BO1_STATE_COUNT_] = {
    [BO1_STATE_CREATED] = "created",
    [BO1_STATE_CLARIFYING] = "clarifying",
    [BO1_STATE_AWAITING_INPUT] = "awaiting_input",
    [BO1_STATE_DECOMPOSING] = "decomposing",
    [BO1_STATE_DELIBERATING] = "deliberating",
    [BO1_STATE_SYNTHESIZING] = "synthesizing",
    [BO1_STATE_PAUSED] = "paused",
    [BO1_STATE_COMPLETED] = "completed",
    [BO1_STATE_FAILED] = "failed",
    [BO1_STATE_CANCELLED] = "cancelled",
};

static const char *const event_names[BO1_EV_COUNT_] = {
    [BO1_EV_START] = "start",
    [BO1_EV_QUESTIONS] = "questions",
    [BO1_EV_NO_QUESTIONS] = "no_questions",
    [BO1_EV_INPUT] = "input",
    [BO1_EV_DECOMPOSED] = "decomposed",
    [BO1_EV_BOARDS_DONE] = "boards_done",
    [BO1_EV_SYNTHESIZED] = "synthesized",
    [BO1_EV_PAUSE] = "pause",
    [BO1_EV_RESUME] = "resume",
    [BO1_EV_CANCEL] = "cancel",
    [BO1_EV_FAIL] = "fail",
    [BO1_EV_HALT] = "halt",
};

/* LIVE matches every state that is neither terminal nor CREATED; BACK means "the state
 * saved when the session left for PAUSED or AWAITING_INPUT". */
#define LIVE BO1_STATE_COUNT_
#define BACK BO1_STATE_COUNT_

static const struct transition {
    int from;
    enum bo1_event on;
    int to;
} transitions[] = {
    {BO1_STATE_CREATED, BO1_EV_START, BO1_STATE_CLARIFYING},
    {BO1_STATE_CREATED, BO1_EV_CANCEL, BO1_STATE_CANCELLED},
    {BO1_STATE_CLARIFYING, BO1_EV_QUESTIONS, BO1_STATE_AWAITING_INPUT},
    {BO1_STATE_CLARIFYING, BO1_EV_NO_QUESTIONS, BO1_STATE_DECOMPOSING},
    {BO1_STATE_DELIBERATING, BO1_EV_QUESTIONS, BO1_STATE_AWAITING_INPUT},
    {BO1_STATE_AWAITING_INPUT, BO1_EV_INPUT, BACK},
    {BO1_STATE_DECOMPOSING, BO1_EV_DECOMPOSED, BO1_STATE_DELIBERATING},
    {BO1_STATE_DELIBERATING, BO1_EV_BOARDS_DONE, BO1_STATE_SYNTHESIZING},
    {BO1_STATE_SYNTHESIZING, BO1_EV_SYNTHESIZED, BO1_STATE_COMPLETED},
    {BO1_STATE_CLARIFYING, BO1_EV_PAUSE, BO1_STATE_PAUSED},
    {BO1_STATE_AWAITING_INPUT, BO1_EV_PAUSE, BO1_STATE_PAUSED},
    {BO1_STATE_DECOMPOSING, BO1_EV_PAUSE, BO1_STATE_PAUSED},
    {BO1_STATE_DELIBERATING, BO1_EV_PAUSE, BO1_STATE_PAUSED},
    {BO1_STATE_SYNTHESIZING, BO1_EV_PAUSE, BO1_STATE_PAUSED},
    {BO1_STATE_PAUSED, BO1_EV_RESUME, BACK},
    {LIVE, BO1_EV_CANCEL, BO1_STATE_CANCELLED},
    {LIVE, BO1_EV_FAIL, BO1_STATE_FAILED},
    /* Halting skips whatever is left and goes straight to the (local) final synthesis. */
    {LIVE, BO1_EV_HALT, BO1_STATE_SYNTHESIZING},
};

static int is_live(enum bo1_state st)
{
    return st != BO1_STATE_CREATED && st != BO1_STATE_COMPLETED && st != BO1_STATE_FAILED &&
           st != BO1_STATE_CANCELLED;
}

int session_transition(enum bo1_state from, enum bo1_event ev, enum bo1_state *to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        const struct transition *t = &transitions[i];
        if (t->on != ev)
            continue;
        if (t->from == (int)from || (t->from == LIVE && is_live(from))) {
            *to = (enum bo1_state)t->to;
            return 0;
        }
    }
    return -1;
}

const char *bo1_state_name(enum bo1_state st)
{
    return (unsigned)st < BO1_STATE_COUNT_ ? state_names[st] : "unknown";
}

const char *bo1_event_name(enum bo1_event ev)
{
    return (unsigned)ev < BO1_EV_COUNT_ ? event_names[ev] : "unknown";
}

int bo1_state_parse(const char *name)
{
    for (int i = 0; name && i < BO1_STATE_COUNT_; i++)
        if (strcmp(state_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- sub-problems ---- */

static const char *const stage_names[SP_STAGE_COUNT_] = {
    [SP_WAITING] = "waiting",
    [SP_SELECTING] = "selecting",
    [SP_FACILITATING] = "facilitating",
    [SP_INTERVENING] = "intervening",
    [SP_ASKING] = "asking",
    [SP_CONTRIBUTING] = "contributing",
    [SP_SUMMARIZING] = "summarizing",
    [SP_MEASURING] = "measuring",
    [SP_VOTING] = "voting",
    [SP_SYNTHESIZING] = "synthesizing",
    [SP_DONE] = "done",
};

static const char *const sp_event_names[SPE_COUNT_] = {
    [SPE_DEPS_READY] = "deps_ready",
    [SPE_BOARD_READY] = "board_ready",
    [SPE_CONTINUE] = "continue",
    [SPE_INTERVENE] = "intervene",
    [SPE_ASK] = "ask",
    [SPE_ANSWERED] = "answered",
    [SPE_INTERVENED] = "intervened",
    [SPE_CONTRIBUTED] = "contributed",
    [SPE_SUMMARIZED] = "summarized",
    [SPE_NEXT_ROUND] = "next_round",
    [SPE_STOP] = "stop",
    [SPE_VOTED] = "voted",
    [SPE_SYNTHESIZED] = "synthesized",
    [SPE_HALT] = "halt",
};

#define SP_ANY SP_STAGE_COUNT_

static const struct sp_transition {
    int from;
    enum sp_event on;
    enum sp_stage to;
} sp_transitions[] = {
    {SP_WAITING, SPE_DEPS_READY, SP_SELECTING},
    /* Round 1 has no facilitator: the board's openings come straight away. */
    {SP_SELECTING, SPE_BOARD_READY, SP_CONTRIBUTING},
    {SP_FACILITATING, SPE_CONTINUE, SP_CONTRIBUTING},
    {SP_FACILITATING, SPE_INTERVENE, SP_INTERVENING},
    {SP_FACILITATING, SPE_ASK, SP_ASKING},
    {SP_FACILITATING, SPE_STOP, SP_VOTING},
    {SP_ASKING, SPE_ANSWERED, SP_CONTRIBUTING},
    {SP_INTERVENING, SPE_INTERVENED, SP_CONTRIBUTING},
    {SP_CONTRIBUTING, SPE_CONTRIBUTED, SP_SUMMARIZING},
    {SP_SUMMARIZING, SPE_SUMMARIZED, SP_MEASURING},
    {SP_MEASURING, SPE_NEXT_ROUND, SP_FACILITATING},
    {SP_MEASURING, SPE_STOP, SP_VOTING},
    {SP_VOTING, SPE_VOTED, SP_SYNTHESIZING},
    {SP_SYNTHESIZING, SPE_SYNTHESIZED, SP_DONE},
    {SP_ANY, SPE_HALT, SP_DONE},
};

int sp_transition(enum sp_stage from, enum sp_event ev)
{
    for (size_t i = 0; i < sizeof(sp_transitions) / sizeof(sp_transitions[0]); i++) {
        const struct sp_transition *t = &sp_transitions[i];
        if (t->on == ev && (t->from == (int)from || (t->from == SP_ANY && from != SP_DONE)))
            return (int)t->to;
    }
    return -1;
}

const char *sp_stage_name(enum sp_stage st)
{
    return (unsigned)st < SP_STAGE_COUNT_ ? stage_names[st] : "unknown";
}

const char *sp_event_name(enum sp_event ev)
{
    return (unsigned)ev < SPE_COUNT_ ? sp_event_names[ev] : "unknown";
}

int sp_stage_parse(const char *name)
{
    for (int i = 0; name && i < SP_STAGE_COUNT_; i++)
        if (strcmp(stage_names[i], name) == 0)
            return i;
    return -1;
}
