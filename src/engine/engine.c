/* The deliberation engine: drives a session's JSON state through the session machine and,
 * per sub-problem, the sub-problem machine (transitions.c), asking for every effect through
 * struct bo1_engine_effects. Owned by the loop thread.
 *
 * Work is organised in batches: a step of one owner (the session or one sub-problem) that
 * needs model calls creates a batch of slots in the state; slots are issued, their answers
 * are written into the slots as they arrive, and when every slot is done the batch is
 * applied in one go, the machine moves, and a checkpoint is taken. Callbacks only fill slots
 * and flag the pump; only the pump changes structure, so fakes that answer synchronously
 * are safe. A checkpoint holds unfinished batches; resuming issues what is missing. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bo1/buf.h"
#include "bo1/log.h"
#include "engine_internal.h"

#define LOCAL_DIM 256

struct call {
    struct call *next;
    struct bo1_session *s; /* NULL once the session is gone: the answer is dropped */
    char *owner;           /* "" for the session, else the sub-problem id */
    json_int_t batch_id;
    size_t slot;
};

static void kick(struct bo1_session *s);
static void halt_session(struct bo1_session *s, json_t *why);
static void collect_votes(struct bo1_session *s, json_t *sp);

/* ------------------------------------------------------------------ small helpers */

static double now_s(const struct bo1_engine *e)
{
    if (e->fx.now_s)
        return e->fx.now_s(e->fx.ctx);
    return (double)time(NULL);
}

static void publish(struct bo1_session *s, const char *type, json_t *data)
{
    if (!data)
        return;
    if (s->e->fx.publish)
        s->e->fx.publish(s->e->fx.ctx, bo1_session_id(s), type, data);
    else
        json_decref(data);
}

static void checkpoint(struct bo1_session *s)
{
    /* No copy: the effect serialises (or copies) what it keeps during the call. */
    if (s->e->fx.checkpoint)
        s->e->fx.checkpoint(s->e->fx.ctx, bo1_session_id(s), s->st);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v ? v : ""));
}

static void set_num(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, json_real(v));
}

static void set_int(json_t *o, const char *k, json_int_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

static void note(struct bo1_session *s, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(struct bo1_session *s, const char *kind, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(json_object_get(s->st, "notes"),
                          json_pack("{s:s, s:s}", "kind", kind, "text", text));
}

static const struct bo1_persona *persona_get(const struct bo1_engine *e, const char *code)
{
    for (size_t i = 0; code && i < e->cfg.n_personas; i++)
        if (e->cfg.personas[i] && !strcmp(e->cfg.personas[i]->code, code))
            return e->cfg.personas[i];
    return NULL;
}

static json_t *sps(struct bo1_session *s)
{
    return json_object_get(s->st, "sub_problems");
}

static json_t *sp_by_id(struct bo1_session *s, const char *id)
{
    for (size_t i = 0; i < json_array_size(sps(s)); i++)
        if (!strcmp(jstr(json_array_get(sps(s), i), "id", ""), id))
            return json_array_get(sps(s), i);
    return NULL;
}

static json_t *cur_round(json_t *sp)
{
    json_t *r = json_object_get(sp, "rounds");
    size_t n = json_array_size(r);
    return n ? json_array_get(r, n - 1) : NULL;
}

static enum bo1_state state_of(struct bo1_session *s)
{
    int st = bo1_state_parse(jstr(s->st, "state", ""));
    return st < 0 ? BO1_STATE_FAILED : (enum bo1_state)st;
}

static double budget_of(struct bo1_session *s)
{
    return jnum(json_object_get(s->st, "options"), "budget_usd", s->e->cfg.budget_usd);
}

static double spent_of(struct bo1_session *s)
{
    return jnum(json_object_get(s->st, "costs"), "total_usd", 0.0);
}

/* Seconds the session has been running, not counting time paused or awaiting input. */
static double elapsed_of(struct bo1_session *s)
{
    double started = jnum(s->st, "started_at", 0);
    double waited = jnum(s->st, "waited_s", 0);
    return started > 0 ? now_s(s->e) - started - waited : 0.0;
}

/* ------------------------------------------------------------------ machines */

static void emit_status(struct bo1_session *s, enum bo1_state from, enum bo1_event ev)
{
    enum bo1_session_status status = session_status_of(s->st);

    publish(s, "session.status",
            json_pack("{s:s, s:s, s:s, s:s}", "status", bo1_session_status_name(status), "state",
                      jstr(s->st, "state", ""), "previous", bo1_state_name(from), "event",
                      bo1_event_name(ev)));
    /* Every log ends with session.completed, whatever the outcome: a failure ends it here
     * (a completed session ends it after its final checkpoint; a user's cancel is ended by
     * the store, which appends nothing after it). */
    if (status == BO1_SESSION_FAILED)
        publish(s, "session.completed", json_pack("{s:s}", "status", "failed"));
}

/* Apply a session event. The only place the session state changes. */
static enum bo1_status fire(struct bo1_session *s, enum bo1_event ev)
{
    enum bo1_state from = state_of(s), to;
    double now = now_s(s->e);

    if (session_transition(from, ev, &to) != 0) {
        bo1_log_debug(NULL,
                      json_pack("{s:s, s:s, s:s}", "session", bo1_session_id(s), "state",
                                bo1_state_name(from), "event", bo1_event_name(ev)),
                      "engine: illegal transition refused");
        return BO1_WRONG_STATE;
    }
    if ((int)to == BO1_STATE_COUNT_) {
        const char *key = ev == BO1_EV_RESUME ? "paused_from" : "after_input";
        int back = bo1_state_parse(jstr(s->st, key, ""));
        to = back < 0 ? BO1_STATE_DELIBERATING : (enum bo1_state)back;
        set_num(s->st, "waited_s",
                jnum(s->st, "waited_s", 0) + now - jnum(s->st, "waiting_since", now));
        json_object_del(s->st, "waiting_since");
        set_num(s->st, "last_progress_at", now);
    }
    if (to == BO1_STATE_PAUSED || to == BO1_STATE_AWAITING_INPUT) {
        if (from != BO1_STATE_PAUSED && from != BO1_STATE_AWAITING_INPUT)
            set_num(s->st, "waiting_since", now);
        if (to == BO1_STATE_PAUSED)
            set_str(s->st, "paused_from", bo1_state_name(from));
    }
    set_num(s->st, "last_progress_at", now);
    set_str(s->st, "state", bo1_state_name(to));
    if (to == BO1_STATE_COMPLETED || to == BO1_STATE_FAILED || to == BO1_STATE_CANCELLED)
        set_num(s->st, "finished_at", now);
    bo1_log_debug(NULL,
                  json_pack("{s:s, s:s, s:s, s:s}", "session", bo1_session_id(s), "from",
                            bo1_state_name(from), "event", bo1_event_name(ev), "to",
                            bo1_state_name(to)),
                  "engine: transition");
    emit_status(s, from, ev);
    if (to == BO1_STATE_DECOMPOSING || to == BO1_STATE_DELIBERATING ||
        to == BO1_STATE_SYNTHESIZING || to == BO1_STATE_CLARIFYING)
        if (from != BO1_STATE_PAUSED && from != BO1_STATE_AWAITING_INPUT)
            publish(s, "phase.started", json_pack("{s:s}", "phase", bo1_state_name(to)));
    return BO1_OK;
}

static int sp_stage(json_t *sp)
{
    return sp_stage_parse(jstr(sp, "stage", ""));
}

/* Apply a sub-problem event. The only place a stage changes. */
static int sp_fire(struct bo1_session *s, json_t *sp, enum sp_event ev)
{
    int from = sp_stage(sp);
    int to = from < 0 ? -1 : sp_transition((enum sp_stage)from, ev);

    if (to < 0) {
        bo1_log_warn(NULL,
                     json_pack("{s:s, s:s, s:s, s:s}", "session", bo1_session_id(s), "sub_problem",
                               jstr(sp, "id", ""), "stage", jstr(sp, "stage", ""), "event",
                               sp_event_name(ev)),
                     "engine: illegal sub-problem transition refused");
        return -1;
    }
    set_str(sp, "stage", sp_stage_name((enum sp_stage)to));
    set_num(s->st, "last_progress_at", now_s(s->e));
    if (to == SP_SELECTING || to == SP_VOTING || to == SP_SYNTHESIZING)
        publish(s, "phase.started",
                json_pack("{s:s, s:s}", "phase",
                          to == SP_SELECTING ? "selection"
                          : to == SP_VOTING  ? "vote"
                                             : "synthesis",
                          "sub_problem", jstr(sp, "id", "")));
    return 0;
}

/* ------------------------------------------------------------------ batches */

static json_t *batch_new(struct bo1_session *s, json_t *owner_obj, const char *kind, int round)
{
    json_int_t id = json_integer_value(json_object_get(s->st, "batch_seq")) + 1;
    json_t *b = json_pack("{s:I, s:s, s:i, s:[]}", "id", id, "kind", kind, "round", round, "slots");

    set_int(s->st, "batch_seq", id);
    json_object_set_new(owner_obj, "batch", b);
    return b;
}

static json_t *slot_add(json_t *batch, const char *task, const char *persona, const char *tier,
                        unsigned max_tokens)
{
    json_t *slot = json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b, s:n, s:n}", "task", task,
                             "persona", persona ? persona : "", "tier", tier, "attempt", 0,
                             "max_tokens", (int)max_tokens, "done", 0, "ok", 0, "result", "error");
    json_array_append_new(json_object_get(batch, "slots"), slot);
    return slot;
}

static int batch_complete(const json_t *b)
{
    const json_t *slots = json_object_get(b, "slots");
    for (size_t i = 0; i < json_array_size(slots); i++)
        if (!jbool(json_array_get(slots, i), "done", 0))
            return 0;
    return 1;
}

static int in_flight(struct bo1_session *s, const char *owner, json_int_t batch_id, size_t slot)
{
    for (struct call *c = s->calls; c; c = c->next)
        if (c->batch_id == batch_id && c->slot == slot && !strcmp(c->owner, owner))
            return 1;
    return 0;
}

static void call_unlink(struct bo1_session *s, struct call *c)
{
    for (struct call **pp = &s->calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static void call_free(struct call *c)
{
    if (c) {
        free(c->owner);
        free(c);
    }
}

static json_t *owner_obj(struct bo1_session *s, const char *owner)
{
    return *owner ? sp_by_id(s, owner) : s->st;
}

/* ------------------------------------------------------------------ calls */

static const char *phase_of_task(const char *task)
{
    if (!strcmp(task, "clarify"))
        return "clarify";
    if (!strcmp(task, "decompose"))
        return "decompose";
    if (!strcmp(task, "select"))
        return "selection";
    if (!strcmp(task, "vote"))
        return "vote";
    if (!strncmp(task, "synthesize", 10))
        return "synthesis";
    return "deliberation";
}

static void ledger_add(struct bo1_session *s, const char *owner, const json_t *batch,
                       const json_t *slot, const struct bo1_llm_response *r)
{
    json_t *ledger = json_object_get(s->st, "ledger");
    json_t *costs = json_object_get(s->st, "costs");
    const char *task = jstr(slot, "task", "");
    const char *model = r->model ? r->model : jstr(slot, "tier", "");
    const char *persona = jstr(slot, "persona", "");
    double cost = r->cost_usd > 0 ? r->cost_usd : 0.0;
    json_t *entry = json_object();

    set_int(entry, "seq", (json_int_t)json_array_size(ledger) + 1);
    set_str(entry, "task", task);
    set_str(entry, "phase", phase_of_task(task));
    set_str(entry, "sub_problem", owner);
    set_int(entry, "round", jint(batch, "round", 0));
    set_str(entry, "persona", persona);
    set_str(entry, "tier", jstr(slot, "tier", ""));
    set_str(entry, "model", model);
    set_str(entry, "provider", r->provider);
    set_int(entry, "input", r->usage.input);
    set_int(entry, "output", r->usage.output);
    set_int(entry, "cache_write", r->usage.cache_write);
    set_int(entry, "cache_read", r->usage.cache_read);
    set_num(entry, "cost_usd", cost);
    json_object_set_new(entry, "cost_known", json_boolean(r->cost_known));
    set_int(entry, "latency_ms", r->latency_ms);
    set_int(entry, "attempts", r->attempts);
    set_int(entry, "attempt", jint(slot, "attempt", 0));
    set_str(entry, "status", bo1_status_name(r->status));
    set_num(entry, "at", now_s(s->e));
    json_array_append_new(ledger, entry); /* never changed again: the runner caches its text */

    set_num(costs, "total_usd", jnum(costs, "total_usd", 0) + cost);
    static const char *const groups[][2] = {
        {"by_phase", NULL}, {"by_sub_problem", NULL}, {"by_persona", NULL}, {"by_model", NULL}};
    const char *keys[4] = {phase_of_task(task), *owner ? owner : "(session)",
                           *persona ? persona : "(none)", model};
    for (size_t g = 0; g < 4; g++) {
        json_t *grp = json_object_get(costs, groups[g][0]);
        json_t *row = json_object_get(grp, keys[g]);
        if (!row) {
            row = json_pack("{s:i, s:f, s:I, s:I, s:I, s:I}", "calls", 0, "cost_usd", 0.0, "input",
                            (json_int_t)0, "output", (json_int_t)0, "cache_write", (json_int_t)0,
                            "cache_read", (json_int_t)0);
            json_object_set_new(grp, keys[g], row);
        }
        set_int(row, "calls", jint(row, "calls", 0) + 1);
        set_num(row, "cost_usd", jnum(row, "cost_usd", 0) + cost);
        set_int(row, "input", (json_int_t)jnum(row, "input", 0) + r->usage.input);
        set_int(row, "output", (json_int_t)jnum(row, "output", 0) + r->usage.output);
        set_int(row, "cache_write", (json_int_t)jnum(row, "cache_write", 0) + r->usage.cache_write);
        set_int(row, "cache_read", (json_int_t)jnum(row, "cache_read", 0) + r->usage.cache_read);
    }
    set_int(costs, "calls", jint(costs, "calls", 0) + 1);
    set_int(costs, "input", (json_int_t)jnum(costs, "input", 0) + r->usage.input);
    set_int(costs, "output", (json_int_t)jnum(costs, "output", 0) + r->usage.output);
    set_int(costs, "cache_write", (json_int_t)jnum(costs, "cache_write", 0) + r->usage.cache_write);
    set_int(costs, "cache_read", (json_int_t)jnum(costs, "cache_read", 0) + r->usage.cache_read);
    publish(s, "cost.updated",
            json_pack("{s:f, s:f, s:s, s:s, s:s, s:f}", "total_usd", jnum(costs, "total_usd", 0),
                      "budget_usd", budget_of(s), "task", task, "sub_problem", owner, "persona",
                      persona, "call_cost_usd", cost));
}

/* ------------------------------------------------------------------ provider outages */

/* Whether a failed call failed because the provider as a whole is unavailable rather than
 * because of this call: the gateway's breaker is open, or the account is still rate limited
 * after the gateway's retries (429 never opens the breaker, and it is about the account, not
 * the request). Other upstream errors count against the call (the breaker turns persistent
 * ones into CIRCUIT_OPEN) unless an outage is already known: then they are part of it, e.g.
 * the breaker's half-open probe failing. */
static int provider_down(const struct bo1_session *s, enum bo1_status st)
{
    if (st == BO1_CIRCUIT_OPEN || st == BO1_UPSTREAM_RATE_LIMITED)
        return 1;
    if (!json_object_get(s->st, "provider_outage"))
        return 0;
    return st == BO1_UPSTREAM_FAILED || st == BO1_UPSTREAM_OVERLOADED || st == BO1_UPSTREAM_TIMEOUT;
}

/* The slot waits for the provider: no attempt is used, nothing falls back, the idle clock
 * keeps running. The first wait of an outage is published and checkpointed. */
static void outage_wait(struct bo1_session *s, const char *owner, json_t *slot,
                        const struct bo1_llm_response *r)
{
    json_t *o = json_object_get(s->st, "provider_outage");
    double now = now_s(s->e);
    const char *msg =
        r->error_message && *r->error_message ? r->error_message : bo1_status_hint(r->status);
    int fresh = o == NULL;

    if (fresh) {
        o = json_pack("{s:f, s:i, s:i}", "since", now, "tries", 0, "waits", 0);
        json_object_set_new(s->st, "provider_outage", o);
    }
    /* Slots failing together share one wait; only a try after the wait lengthens it. */
    if (now >= jnum(o, "retry_at", 0)) {
        int tries = jint(o, "tries", 0);
        double wait = s->e->cfg.provider_wait_s;
        for (int i = 0; i < tries && wait < s->e->cfg.provider_wait_max_s; i++)
            wait *= 2;
        if (wait > s->e->cfg.provider_wait_max_s)
            wait = s->e->cfg.provider_wait_max_s;
        set_int(o, "tries", tries + 1);
        set_num(o, "retry_at", now + wait);
    }
    set_int(o, "waits", jint(o, "waits", 0) + 1);
    set_str(o, "status", bo1_status_name(r->status));
    set_str(o, "message", msg);
    json_object_set_new(slot, "waiting", json_true());
    if (!fresh)
        return;
    publish(s, "provider.unavailable",
            json_pack("{s:s, s:s, s:f, s:s, s:s, s:s}", "code", bo1_status_name(r->status),
                      "message", msg, "retry_in_s", jnum(o, "retry_at", now) - now, "task",
                      jstr(slot, "task", ""), "sub_problem", owner, "persona",
                      jstr(slot, "persona", "")));
    s->checkpoint_due = 1; /* once every slot of this pass has had its answer */
}

/* An answer came back: an outage the session was waiting out is over. */
static void outage_over(struct bo1_session *s)
{
    json_t *o = json_object_get(s->st, "provider_outage");
    double down;

    if (!o)
        return;
    down = now_s(s->e) - jnum(o, "since", 0);
    note(s, "provider_outage",
         "The model provider was unavailable for %.0f s (%s); the calls that waited for it "
         "were asked again.",
         down, jstr(o, "status", ""));
    publish(s, "provider.recovered",
            json_pack("{s:f, s:s, s:i}", "down_s", down, "code", jstr(o, "status", ""), "waits",
                      jint(o, "waits", 0)));
    json_object_del(s->st, "provider_outage");
}

static int batch_waiting(const json_t *owner)
{
    const json_t *slots = json_object_get(json_object_get(owner, "batch"), "slots");
    for (size_t i = 0; i < json_array_size(slots); i++)
        if (jbool(json_array_get(slots, i), "waiting", 0))
            return 1;
    return 0;
}

static int any_waiting(struct bo1_session *s)
{
    if (batch_waiting(s->st))
        return 1;
    for (size_t i = 0; i < json_array_size(sps(s)); i++)
        if (batch_waiting(json_array_get(sps(s), i)))
            return 1;
    return 0;
}

/* Record one answer into its slot. Never changes structure: the pump applies batches. */
static void slot_answer(struct bo1_session *s, const char *owner, json_t *batch, json_t *slot,
                        const struct bo1_llm_response *r)
{
    const char *task = jstr(slot, "task", "");
    json_t *parsed = NULL;
    char *why = NULL;
    enum bo1_status st = r->status;

    if (st != BO1_OK && provider_down(s, st)) {
        if (r->attempts > 0) /* the provider was asked (a rate limit): it is a call */
            ledger_add(s, owner, batch, slot, r);
        outage_wait(s, owner, slot, r);
        return;
    }
    ledger_add(s, owner, batch, slot, r);
    set_num(s->st, "last_progress_at", now_s(s->e)); /* an answer is progress */
    if (st == BO1_OK)
        outage_over(s);
    if (st == BO1_SPEND_LIMIT) {
        json_object_set_new(s->st, "pending_failure",
                            json_pack("{s:s, s:s}", "code", "SPEND_LIMIT", "message",
                                      "The model provider's spend limit is reached; the "
                                      "session cannot continue until it is raised."));
        set_str(slot, "error", "spend limit");
        json_object_set_new(slot, "done", json_true());
        return;
    }
    if (st == BO1_OK && r->stop_reason && !strcmp(r->stop_reason, "max_tokens")) {
        st = BO1_PARSE_FAILED;
        why = strdup("the answer was cut off by the token limit");
        set_int(slot, "max_tokens", jint(slot, "max_tokens", 1000) * 2);
    } else if (st == BO1_OK) {
        st = answer_parse(task, r->text, &parsed, &why);
    } else {
        char m[300];
        snprintf(m, sizeof(m), "%s: %s", bo1_status_name(st),
                 r->error_message ? r->error_message : bo1_status_hint(st));
        why = strdup(m);
    }
    if (st == BO1_OK) {
        json_object_set_new(slot, "result", parsed);
        json_object_set_new(slot, "ok", json_true());
        json_object_set_new(slot, "done", json_true());
        free(why);
        return;
    }
    set_str(slot, "error", why ? why : bo1_status_name(st));
    free(why);
    json_array_append_new(json_object_get(s->st, "retries"),
                          json_pack("{s:s, s:s, s:s, s:i, s:s}", "task", task, "sub_problem", owner,
                                    "persona", jstr(slot, "persona", ""), "attempt",
                                    jint(slot, "attempt", 0), "error", jstr(slot, "error", "")));
    if (jint(slot, "attempt", 0) == 0) {
        set_int(slot, "attempt", 1); /* one retry; the pump issues it */
        return;
    }
    /* A synthesis that failed twice on the deep tier gets two tries on the fast tier. */
    if (!strncmp(task, "synthesize", 10) && !strcmp(jstr(slot, "tier", ""), "deep")) {
        set_str(slot, "tier", "fast");
        set_int(slot, "attempt", 0);
        json_object_set_new(slot, "tier_fallback", json_true());
        return;
    }
    json_object_set_new(slot, "done", json_true());
}

static void on_model_done(const struct bo1_llm_response *r, void *arg)
{
    struct call *c = arg;
    struct bo1_session *s = c->s;
    json_t *owner, *batch, *slot;

    if (!s)
        goto out; /* the session was freed or cancelled */
    call_unlink(s, c);
    owner = owner_obj(s, c->owner);
    batch = json_object_get(owner, "batch");
    slot = json_array_get(json_object_get(batch, "slots"), c->slot);
    if (!batch || json_integer_value(json_object_get(batch, "id")) != c->batch_id || !slot ||
        jbool(slot, "done", 0))
        goto out; /* stale: the step was abandoned (halt) */
    if (r->status == BO1_CANCELLED)
        goto out;
    slot_answer(s, c->owner, batch, slot, r);
    kick(s);
out:
    call_free(c);
}

static enum bo1_status issue_slot(struct bo1_session *s, json_t *owner, const char *owner_id,
                                  json_t *batch, size_t idx)
{
    json_t *slot = json_array_get(json_object_get(batch, "slots"), idx);
    const char *task = jstr(slot, "task", "");
    int deep = !strcmp(jstr(slot, "tier", ""), "deep");
    json_t *vars = slot_vars(s, owner, batch, slot);
    struct built_prompt pr;
    struct bo1_llm_block blocks[4];
    struct bo1_llm_message msg;
    struct bo1_llm_request rq;
    struct call *c = NULL;
    enum bo1_status st;

    st = prompt_build(s->e->cfg.prompts, task, vars, &pr);
    json_decref(vars);
    if (st != BO1_OK) {
        built_prompt_fini(&pr);
        return st;
    }
    for (size_t i = 0; i < pr.n_system; i++) {
        blocks[i].text = pr.system[i];
        blocks[i].cache = pr.cache[i];
    }
    msg.role = "user";
    msg.content = pr.user;
    memset(&rq, 0, sizeof(rq));
    rq.task = task;
    rq.session_id = bo1_session_id(s);
    rq.tier = deep ? BO1_LLM_TIER_DEEP : BO1_LLM_TIER_FAST;
    rq.model = deep ? s->e->cfg.model_deep : s->e->cfg.model_fast;
    rq.system = blocks;
    rq.n_system = pr.n_system;
    rq.messages = &msg;
    rq.n_messages = 1;
    rq.max_tokens = (unsigned)jint(slot, "max_tokens", 1000);
    rq.temperature = (!strcmp(task, "contribute") || !strcmp(task, "moderate")) ? 0.7 : 0.2;

    c = calloc(1, sizeof(*c));
    if (!c || !(c->owner = strdup(owner_id))) {
        call_free(c);
        built_prompt_fini(&pr);
        return BO1_NO_MEMORY;
    }
    c->s = s;
    c->batch_id = json_integer_value(json_object_get(batch, "id"));
    c->slot = idx;
    c->next = s->calls;
    s->calls = c;
    st = s->e->fx.call_model(s->e->fx.ctx, &rq, on_model_done, c);
    built_prompt_fini(&pr);
    if (st != BO1_OK) {
        /* The callback will never run: record the refusal as a failed attempt. */
        struct bo1_llm_response r = {.status = st, .error_message = "the call could not start"};
        call_unlink(s, c);
        call_free(c);
        slot_answer(s, owner_id, batch, slot, &r);
        s->again = 1;
    }
    return BO1_OK;
}

/* Issue every slot that is neither done nor in flight. Returns 1 when the session halted
 * (budget spent) and the caller must stop touching the batch. */
static int issue_pending(struct bo1_session *s, json_t *owner, const char *owner_id)
{
    json_t *batch = json_object_get(owner, "batch");
    json_t *slots = json_object_get(batch, "slots");
    json_int_t id = json_integer_value(json_object_get(batch, "id"));

    json_incref(batch);
    for (size_t i = 0; i < json_array_size(slots); i++) {
        json_t *slot = json_array_get(slots, i);
        if (jbool(slot, "done", 0) || in_flight(s, owner_id, id, i))
            continue;
        if (json_object_get(s->st, "pending_failure"))
            break;
        if (jbool(slot, "waiting", 0)) {
            const json_t *o = json_object_get(s->st, "provider_outage");
            if (o && now_s(s->e) < jnum(o, "retry_at", 0))
                continue; /* bo1_engine_tick asks again when the wait is over */
            json_object_del(slot, "waiting");
        }
        double budget = budget_of(s);
        if (budget > 0 && spent_of(s) >= budget) {
            json_decref(batch);
            halt_session(s, json_pack("{s:s, s:s, s:{s:f, s:f, s:f}}", "rule", "budget_exhausted",
                                      "action", "halt", "numbers", "spent_usd", spent_of(s),
                                      "budget_usd", budget, "budget_share", spent_of(s) / budget));
            return 1;
        }
        if (issue_slot(s, owner, owner_id, batch, i) != BO1_OK) {
            set_str(slot, "error", "the prompt could not be built");
            json_object_set_new(slot, "done", json_true());
        }
        if (json_object_get(owner, "batch") != batch)
            break;
    }
    json_decref(batch);
    return 0;
}

/* ------------------------------------------------------------------ local conclusions */

static json_t *string_array_of(const json_t *a)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)))
            json_array_append(out, json_array_get(a, i));
    return out;
}

/* The synthesis a sub-problem gets when no model may write it (budget, clock): built only
 * from what the board already produced, and saying so. */
static json_t *local_synthesis(struct bo1_session *s, json_t *sp, const char *why)
{
    const json_t *vr = json_object_get(sp, "vote_result");
    const json_t *last = NULL;
    const json_t *rounds = json_object_get(sp, "rounds");
    char exec[2048];
    json_t *conds = json_array();

    for (size_t i = json_array_size(rounds); i > 0 && !last; i--)
        if (json_object_get(json_array_get(rounds, i - 1), "summary"))
            last = json_object_get(json_array_get(rounds, i - 1), "summary");
    snprintf(exec, sizeof(exec),
             "The board stopped early (%s) and this conclusion was assembled from the "
             "discussion so far without a further model call. %s",
             why, jstr(last, "summary", "No round was completed."));
    const json_t *votes = json_object_get(sp, "votes");
    for (size_t i = 0; i < json_array_size(votes); i++) {
        const json_t *c = json_object_get(json_array_get(votes, i), "conditions");
        for (size_t k = 0; k < json_array_size(c); k++)
            json_array_append(conds, json_array_get(c, k));
    }
    (void)s;
    json_t *dissent = vr ? json_incref(json_object_get(vr, "dissenters")) : json_array();
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:[], s:o, s:[], s:s, s:o, s:s}", "executive_summary", exec,
        "recommendation",
        vr ? jstr(vr, "outcome", "") : "No recommendation: the board stopped before it voted.",
        "rationale", jstr(last, "summary", ""), "vote_breakdown",
        vr ? jstr(vr, "method", "") : "no vote", "dissent", dissent, "risks", "conditions", conds,
        "implementation_steps", "confidence", "low", "open_questions",
        string_array_of(json_object_get(last, "open_questions")), "source", "local");
}

static void add_commit_statement(json_t *syn, const json_t *vr)
{
    char text[1024];
    const json_t *dis = json_object_get(vr, "dissenters");

    if (!jbool(vr, "disagree_and_commit", 0)) {
        json_object_set_new(syn, "disagree_and_commit", json_null());
        return;
    }
    if (*jstr(syn, "disagree_and_commit", ""))
        return; /* the model wrote one */
    snprintf(text, sizeof(text),
             "Disagree and commit: %zu of %d voting members dissented (%.0f%%) and mean "
             "confidence was %.2f. The board recommends committing to \"%s\" while the "
             "dissenting views are tracked as risks and revisited if their conditions appear.",
             json_array_size(dis), jint(vr, "valid_votes", 0), 100.0 * jnum(vr, "dissent_share", 0),
             jnum(vr, "mean_confidence", 0), jstr(vr, "outcome", ""));
    set_str(syn, "disagree_and_commit", text);
}

static void halt_session(struct bo1_session *s, json_t *why)
{
    const char *rule = jstr(why, "rule", "halt");
    if (json_object_get(s->st, "halt")) {
        json_decref(why);
        return;
    }
    json_object_set_new(s->st, "halt", why);
    note(s, "halt", "The board stopped early (%s) and finished with what existed.", rule);
    publish(s, "error",
            json_pack("{s:s, s:s, s:b, s:O}", "kind", rule, "message",
                      "the board stopped early and finished with what existed", "fatal", 0,
                      "numbers",
                      json_object_get(why, "numbers") ? json_object_get(why, "numbers")
                                                      : json_object_get(why, "rule")));
    json_object_del(s->st, "batch");
    for (size_t i = 0; i < json_array_size(sps(s)); i++) {
        json_t *sp = json_array_get(sps(s), i);
        if (sp_stage(sp) == SP_DONE)
            continue;
        if (sp_stage(sp) == SP_VOTING && json_object_get(sp, "batch"))
            collect_votes(s, sp);
        json_object_del(sp, "batch");
        if (!json_object_get(sp, "stop"))
            json_object_set(sp, "stop", why);
        json_object_set_new(sp, "synthesis", local_synthesis(s, sp, rule));
        if (json_object_get(sp, "vote_result"))
            add_commit_statement(json_object_get(sp, "synthesis"),
                                 json_object_get(sp, "vote_result"));
        set_str(sp, "synthesis_source", "local");
        json_object_set_new(sp, "halted", json_true());
        sp_fire(s, sp, SPE_HALT);
    }
    if (state_of(s) != BO1_STATE_SYNTHESIZING)
        fire(s, BO1_EV_HALT);
    /* No model call may run now: the final synthesis is assembled locally in the pump. */
    json_object_set_new(s->st, "final_local", json_true());
    s->again = 1;
}

/* ------------------------------------------------------------------ session steps */

static json_t *slot0(json_t *owner)
{
    return json_array_get(json_object_get(json_object_get(owner, "batch"), "slots"), 0);
}

static void apply_clarify(struct bo1_session *s)
{
    json_t *slot = slot0(s->st);
    const json_t *qs = json_object_get(json_object_get(slot, "result"), "questions");
    json_t *cl = json_object_get(s->st, "clarify");
    json_t *pending = json_array();

    for (size_t i = 0; i < json_array_size(qs) && json_array_size(pending) < 3; i++) {
        const json_t *q = json_array_get(qs, i);
        char id[16];
        if (!*jstr(q, "question", ""))
            continue;
        snprintf(id, sizeof(id), "q%zu", json_array_size(pending) + 1);
        json_array_append_new(pending, json_pack("{s:s, s:s, s:s, s:s}", "id",
                                                 *jstr(q, "id", "") ? jstr(q, "id", "") : id,
                                                 "question", jstr(q, "question", ""), "why",
                                                 jstr(q, "why", ""), "source", "intake"));
    }
    if (!jbool(slot, "ok", 0))
        note(s, "fallback",
             "The clarification pass failed twice; the board proceeded without "
             "questions.");
    json_object_del(s->st, "batch");
    if (json_array_size(pending) == 0) {
        json_decref(pending);
        fire(s, BO1_EV_NO_QUESTIONS);
        return;
    }
    json_object_set_new(cl, "pending", pending);
    set_num(cl, "asked_at", now_s(s->e));
    set_str(s->st, "after_input", "decomposing");
    fire(s, BO1_EV_QUESTIONS);
    publish(s, "clarification.requested",
            json_pack("{s:O, s:s, s:f}", "questions", pending, "source", "intake", "timeout_s",
                      s->e->cfg.clarify_timeout_s));
}

static json_t *fallback_decomposition(struct bo1_session *s)
{
    return json_pack("[{s:s, s:s, s:s, s:i, s:[]}]", "id", "sp1", "goal",
                     jstr(json_object_get(s->st, "problem"), "statement", ""), "context", "",
                     "complexity", 5, "dependencies");
}

static void apply_decompose(struct bo1_session *s)
{
    json_t *slot = slot0(s->st);
    const json_t *res = json_object_get(slot, "result");
    const json_t *in = json_object_get(res, "sub_problems");
    json_t *list = json_array();
    json_t *dec = json_object_get(s->st, "decomposition");
    json_t *repairs = json_object_get(dec, "repairs");
    size_t order[32];

    for (size_t i = 0; jbool(slot, "ok", 0) && i < json_array_size(in); i++) {
        const json_t *sp = json_array_get(in, i);
        int cx = jint(sp, "complexity", 5);
        if (!*jstr(sp, "goal", ""))
            continue;
        if (json_array_size(list) == 5) {
            json_array_append_new(repairs,
                                  json_pack("{s:s, s:s, s:s}", "kind", "extra_sub_problem_dropped",
                                            "sub_problem", jstr(sp, "id", ""), "dependency", ""));
            continue;
        }
        cx = cx < 1 ? 1 : cx > 10 ? 10 : cx;
        json_t *deps = json_object_get(sp, "dependencies");
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", jstr(sp, "id", ""),
                                        "goal", jstr(sp, "goal", ""), "context",
                                        jstr(sp, "context", ""), "complexity", cx, "dependencies",
                                        json_is_array(deps) ? json_deep_copy(deps) : json_array()));
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        list = fallback_decomposition(s);
        json_object_set_new(dec, "fallback", json_true());
        note(s, "fallback",
             "The decomposition could not be read after a retry; the problem was treated as "
             "one sub-problem.");
    } else {
        rules_dag_repair(list, repairs);
    }
    if (rules_topo_order(list, order) != 0) { /* cannot happen after repair; be safe */
        json_decref(list);
        list = fallback_decomposition(s);
        json_object_set_new(dec, "fallback", json_true());
    }
    set_str(dec, "analysis", jstr(res, "analysis", ""));
    json_object_set_new(dec, "is_atomic", json_boolean(json_array_size(list) == 1));
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *sp = json_array_get(list, i);
        int maxr = rules_max_rounds(jint(sp, "complexity", 5),
                                    jint(json_object_get(s->st, "options"), "max_rounds", 0),
                                    s->e->cfg.hard_max_rounds);
        set_str(sp, "stage", "waiting");
        set_int(sp, "max_rounds", maxr);
        json_object_set_new(sp, "rounds", json_array());
        set_int(sp, "research_count", 0);
        set_int(sp, "deadlock_streak", 0);
        set_int(sp, "interjections_seen", 0);
    }
    json_object_set_new(s->st, "sub_problems", list);
    json_object_del(s->st, "batch");
    publish(s, "decomposition.completed",
            json_pack("{s:O, s:O, s:b}", "sub_problems", list, "repairs", repairs, "fallback",
                      jbool(dec, "fallback", 0)));
    fire(s, BO1_EV_DECOMPOSED);
}

static void apply_final(struct bo1_session *s)
{
    json_t *slot = slot0(s->st);
    json_t *res = json_object_get(slot, "result");

    if (!jbool(slot, "ok", 0)) {
        json_object_set_new(s->st, "pending_failure",
                            json_pack("{s:s, s:s}", "code", "SYNTHESIS_FAILED", "message",
                                      "the final synthesis failed on both model tiers"));
        return;
    }
    json_t *fin = json_deep_copy(res);
    set_str(fin, "source", jbool(slot, "tier_fallback", 0) ? "model_fast_fallback" : "model");
    json_object_set_new(s->st, "final", fin);
    if (jbool(slot, "tier_fallback", 0))
        note(s, "fallback",
             "The final synthesis failed on the deep tier and was written by the "
             "fast tier.");
    json_object_del(s->st, "batch");
    publish(s, "synthesis.completed", json_pack("{s:b, s:O}", "final", 1, "synthesis", fin));
    fire(s, BO1_EV_SYNTHESIZED);
}

static void finish_final_without_model(struct bo1_session *s, const char *source)
{
    json_t *fin;
    size_t n = json_array_size(sps(s));

    if (n == 1) {
        fin = json_deep_copy(json_object_get(json_array_get(sps(s), 0), "synthesis"));
    } else {
        struct bo1_buf rec, ex;
        bo1_buf_init(&rec, 0);
        bo1_buf_init(&ex, 0);
        for (size_t i = 0; i < n; i++) {
            const json_t *sp = json_array_get(sps(s), i);
            const json_t *syn = json_object_get(sp, "synthesis");
            bo1_buf_printf(&rec, "%s%s: %s", i ? " " : "", jstr(sp, "goal", ""),
                           jstr(syn, "recommendation", ""));
            bo1_buf_printf(&ex, "%s%s", i ? " " : "", jstr(syn, "executive_summary", ""));
        }
        fin = json_pack(
            "{s:s, s:s, s:s, s:s, s:[], s:[], s:[], s:[], s:s, s:[], s:[], s:[]}",
            "executive_summary", bo1_buf_str(&ex), "recommendation", bo1_buf_str(&rec), "rationale",
            "Assembled from the sub-problem conclusions without a final model call.",
            "vote_breakdown", "see each sub-problem", "dissent", "risks", "conditions",
            "implementation_steps", "confidence", "low", "open_questions", "conflicts", "roadmap");
        bo1_buf_fini(&rec);
        bo1_buf_fini(&ex);
    }
    if (!fin)
        fin = json_object();
    if (!json_object_get(fin, "conflicts"))
        json_object_set_new(fin, "conflicts", json_array());
    if (!json_object_get(fin, "roadmap"))
        json_object_set_new(fin, "roadmap", json_array());
    set_str(fin, "source", source);
    json_object_set_new(s->st, "final", fin);
    json_object_del(s->st, "final_local");
    publish(s, "synthesis.completed", json_pack("{s:b, s:O}", "final", 1, "synthesis", fin));
    fire(s, BO1_EV_SYNTHESIZED);
}

/* ------------------------------------------------------------------ sub-problem steps */

static const char *contribution_tier(int round)
{
    return round <= 2 ? "fast" : "deep";
}

static void start_round(struct bo1_session *s, json_t *sp, int round)
{
    json_t *all = json_object_get(s->st, "interjections");
    int seen = jint(sp, "interjections_seen", 0);
    json_t *ij = json_array();

    for (size_t i = (size_t)seen; i < json_array_size(all); i++)
        json_array_append_new(ij, json_string(jstr(json_array_get(all, i), "text", "")));
    set_int(sp, "interjections_seen", (json_int_t)json_array_size(all));
    json_array_append_new(json_object_get(sp, "rounds"),
                          json_pack("{s:i, s:s, s:o, s:[], s:[], s:f}", "round", round, "phase",
                                    rules_phase(round), "interjections", ij, "contributions",
                                    "sat_out", "started_at", now_s(s->e)));
    set_int(sp, "round", round);
    publish(s, "round.started",
            json_pack("{s:s, s:i, s:s, s:i}", "sub_problem", jstr(sp, "id", ""), "round", round,
                      "phase", rules_phase(round), "max_rounds", jint(sp, "max_rounds", 0)));
}

static void apply_board(struct bo1_session *s, json_t *sp, json_t *board)
{
    json_object_set_new(sp, "board", board);
    if (jbool(board, "fallback", 0))
        note(s, "fallback",
             "Sub-problem %s: board selection was unusable; the fixed balanced "
             "trio sat instead.",
             jstr(sp, "id", ""));
    json_t *members = json_array();
    json_t *names = json_object();
    json_object_set_new(board, "names", names);
    for (size_t i = 0; i < json_array_size(json_object_get(board, "members")); i++) {
        const char *code = json_string_value(json_array_get(json_object_get(board, "members"), i));
        const struct bo1_persona *p = persona_get(s->e, code);
        set_str(names, code, p && p->name ? p->name : code);
        json_array_append_new(members, json_pack("{s:s, s:s, s:s, s:s}", "code", code, "name",
                                                 p && p->name ? p->name : code, "role",
                                                 p && p->role ? p->role : "", "category",
                                                 p && p->category ? p->category : ""));
    }
    publish(s, "board.selected",
            json_pack("{s:s, s:o, s:O, s:b, s:b}", "sub_problem", jstr(sp, "id", ""), "members",
                      members, "dropped", json_object_get(board, "dropped"), "fallback",
                      jbool(board, "fallback", 0), "user_list", jbool(board, "user_list", 0)));
    sp_fire(s, sp, SPE_BOARD_READY);
    start_round(s, sp, 1);
}

static void apply_select(struct bo1_session *s, json_t *sp)
{
    json_t *slot = slot0(sp);
    const json_t *ps = json_object_get(json_object_get(slot, "result"), "personas");
    json_t *codes = json_array();
    json_t *rationale = json_object();

    for (size_t i = 0; jbool(slot, "ok", 0) && i < json_array_size(ps); i++) {
        const json_t *p = json_array_get(ps, i);
        const char *code = json_is_string(p) ? json_string_value(p) : jstr(p, "code", "");
        json_array_append_new(codes, json_string(code));
        if (json_is_object(p))
            set_str(rationale, code, jstr(p, "rationale", ""));
    }
    json_t *board = rules_board(s->e->cfg.personas, s->e->cfg.n_personas, codes, 0);
    json_decref(codes);
    json_object_set_new(board, "rationale", rationale);
    set_str(board, "coverage", jstr(json_object_get(slot, "result"), "coverage", ""));
    json_object_del(sp, "batch");
    apply_board(s, sp, board);
}

static void apply_contributions(struct bo1_session *s, json_t *sp)
{
    json_t *batch = json_object_get(sp, "batch");
    json_t *slots = json_object_get(batch, "slots");
    json_t *r = cur_round(sp);
    int round = jint(batch, "round", 0);

    for (size_t i = 0; i < json_array_size(slots); i++) {
        json_t *slot = json_array_get(slots, i);
        const json_t *res = json_object_get(slot, "result");
        const char *code = jstr(slot, "persona", "");
        if (!jbool(slot, "ok", 0)) {
            json_array_append_new(json_object_get(r, "sat_out"),
                                  json_pack("{s:s, s:s}", "persona", code, "reason",
                                            jstr(slot, "error", "no usable answer")));
            note(s, "member_sat_out",
                 "Sub-problem %s, round %d: %s gave no usable answer after a retry and sat "
                 "the round out.",
                 jstr(sp, "id", ""), round, code);
            publish(s, "error",
                    json_pack("{s:s, s:s, s:s, s:i, s:s, s:b}", "kind", "member_sat_out",
                              "sub_problem", jstr(sp, "id", ""), "persona", code, "round", round,
                              "message", jstr(slot, "error", ""), "fatal", 0));
            continue;
        }
        json_t *c = json_pack("{s:s, s:i, s:s, s:s, s:s, s:b}", "persona", code, "round", round,
                              "contribution", jstr(res, "contribution", ""), "summary",
                              jstr(res, "summary", ""), "thinking", jstr(res, "thinking", ""),
                              "retried", jint(slot, "attempt", 0) > 0);
        json_array_append_new(json_object_get(r, "contributions"), c);
        const struct bo1_persona *p = persona_get(s->e, code);
        publish(s, "contribution",
                json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "sub_problem", jstr(sp, "id", ""),
                          "round", round, "persona", code, "name", p && p->name ? p->name : code,
                          "contribution", jstr(res, "contribution", ""), "summary",
                          jstr(res, "summary", "")));
    }
    json_object_del(sp, "batch");
    sp_fire(s, sp, SPE_CONTRIBUTED);
}

static void apply_summary(struct bo1_session *s, json_t *sp)
{
    json_t *slot = slot0(sp);
    json_t *r = cur_round(sp);
    json_t *sum;

    if (jbool(slot, "ok", 0)) {
        const json_t *res = json_object_get(slot, "result");
        sum = json_pack("{s:s, s:o, s:o, s:o, s:s}", "summary", jstr(res, "summary", ""),
                        "agreements", string_array_of(json_object_get(res, "agreements")),
                        "disagreements", string_array_of(json_object_get(res, "disagreements")),
                        "open_questions", string_array_of(json_object_get(res, "open_questions")),
                        "source", "model");
    } else {
        /* Fallback: the members' own one-line summaries. */
        struct bo1_buf b;
        const json_t *cs = json_object_get(r, "contributions");
        bo1_buf_init(&b, 0);
        for (size_t i = 0; i < json_array_size(cs); i++)
            bo1_buf_printf(&b, "%s%s: %s", i ? " " : "", jstr(json_array_get(cs, i), "persona", ""),
                           jstr(json_array_get(cs, i), "summary", ""));
        sum = json_pack("{s:s, s:[], s:[], s:[], s:s}", "summary", bo1_buf_str(&b), "agreements",
                        "disagreements", "open_questions", "source", "member_summaries");
        bo1_buf_fini(&b);
    }
    json_object_set_new(r, "summary", sum);
    json_object_del(sp, "batch");
    sp_fire(s, sp, SPE_SUMMARIZED);
}

static int allowed_moderator(const char *m)
{
    return !strcmp(m, "contrarian") || !strcmp(m, "skeptic") || !strcmp(m, "optimist");
}

/* Facilitator: the hard rules first, then the model's choice checked against the limits. */
static void decide(struct bo1_session *s, json_t *sp, const json_t *model, int model_ok)
{
    json_t *r = cur_round(sp);
    int round = jint(r, "round", 0);
    const struct bo1_engine_config *cfg = &s->e->cfg;
    const char *action = model_ok ? jstr(model, "action", "continue") : "continue";
    const char *source = model_ok ? "model" : "fallback";
    const char *override = NULL;
    json_t *d;
    /* @model may live in the batch, which goes away below: hold it until the end. */
    json_t *hold = json_incref(json_object_get(sp, "batch"));

    if (strcmp(action, "continue") && strcmp(action, "moderator") && strcmp(action, "research") &&
        strcmp(action, "clarify") && strcmp(action, "vote")) {
        override = "unknown_action";
        action = "continue";
    }
    if (!strcmp(action, "vote") && round <= 2) {
        override = "vote_not_before_round_2";
        action = "continue";
    } else if (!strcmp(action, "research") && (jint(sp, "research_count", 0) >= cfg->max_research ||
                                               !*jstr(model, "research_query", ""))) {
        override = "research_limit";
        action = "continue";
    } else if (!strcmp(action, "clarify") &&
               !jbool(json_object_get(s->st, "options"), "clarify", 1)) {
        /* options.clarify false: the session does not allow questions, whoever asks. */
        override = "clarify_disabled";
        action = "continue";
    } else if (!strcmp(action, "clarify") &&
               (jint(s->st, "facilitator_questions", 0) >= cfg->max_clarify ||
                !*jstr(model, "question", "") || state_of(s) != BO1_STATE_DELIBERATING)) {
        override = "clarify_limit";
        action = "continue";
    }
    d = json_pack("{s:s, s:s, s:s, s:i}", "action", action, "reason",
                  model_ok ? jstr(model, "reason", "") : "the facilitator's answer was unusable",
                  "source", source, "round", round);
    if (override) {
        set_str(d, "overridden", override);
        set_str(d, "requested", model_ok ? jstr(model, "action", "") : "");
    }
    set_str(d, "focus", jstr(model, "focus", ""));
    if (!strcmp(action, "moderator")) {
        const char *m = jstr(model, "moderator", "contrarian");
        set_str(d, "moderator", allowed_moderator(m) ? m : "contrarian");
    } else if (!strcmp(action, "research")) {
        set_str(d, "research_query", jstr(model, "research_query", ""));
    } else if (!strcmp(action, "clarify")) {
        set_str(d, "question", jstr(model, "question", ""));
    }
    json_object_set_new(r, "facilitator", d);
    publish(s, "facilitator.decision",
            json_pack("{s:s, s:i, s:O}", "sub_problem", jstr(sp, "id", ""), "round", round,
                      "decision", d));
    json_object_del(sp, "batch");
    if (!strcmp(action, "vote")) {
        json_object_set_new(sp, "stop",
                            json_pack("{s:s, s:s, s:i, s:{s:i, s:i}}", "rule", "facilitator_vote",
                                      "action", "vote", "round", round - 1, "numbers", "round",
                                      round - 1, "max_rounds", jint(sp, "max_rounds", 0)));
        /* The round that was about to start never happened; its interjections wait for
         * the next one (there is none, but the report still lists them). */
        set_int(sp, "interjections_seen",
                jint(sp, "interjections_seen", 0) -
                    (json_int_t)json_array_size(json_object_get(r, "interjections")));
        json_array_remove(json_object_get(sp, "rounds"),
                          json_array_size(json_object_get(sp, "rounds")) - 1);
        set_int(sp, "round", round - 1);
        sp_fire(s, sp, SPE_STOP);
    } else if (!strcmp(action, "moderator") || !strcmp(action, "research")) {
        sp_fire(s, sp, SPE_INTERVENE);
    } else if (!strcmp(action, "clarify")) {
        json_t *cl = json_object_get(s->st, "clarify");
        char id[32];
        set_int(s->st, "facilitator_questions", jint(s->st, "facilitator_questions", 0) + 1);
        snprintf(id, sizeof(id), "f%d", jint(s->st, "facilitator_questions", 0));
        json_t *pending = json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "id", id, "question",
                                    jstr(d, "question", ""), "why", jstr(d, "reason", ""), "source",
                                    "facilitator", "sub_problem", jstr(sp, "id", ""));
        json_object_set_new(cl, "pending", pending);
        set_num(cl, "asked_at", now_s(s->e));
        sp_fire(s, sp, SPE_ASK);
        set_str(s->st, "after_input", "deliberating");
        fire(s, BO1_EV_QUESTIONS);
        publish(s, "clarification.requested",
                json_pack("{s:O, s:s, s:s, s:f}", "questions", pending, "source", "facilitator",
                          "sub_problem", jstr(sp, "id", ""), "timeout_s", cfg->clarify_timeout_s));
    } else {
        sp_fire(s, sp, SPE_CONTINUE);
    }
    json_decref(hold);
}

static void apply_intervention(struct bo1_session *s, json_t *sp)
{
    json_t *slot = slot0(sp);
    const json_t *res = json_object_get(slot, "result");
    json_t *r = cur_round(sp);
    const char *task = jstr(slot, "task", "");

    if (!strcmp(task, "moderate")) {
        if (jbool(slot, "ok", 0)) {
            json_t *m =
                json_pack("{s:s, s:s, s:s}", "persona", jstr(slot, "persona", ""), "contribution",
                          jstr(res, "contribution", ""), "summary", jstr(res, "summary", ""));
            json_object_set_new(r, "intervention", m);
            publish(s, "moderator.intervention",
                    json_pack("{s:s, s:i, s:s, s:s, s:s}", "sub_problem", jstr(sp, "id", ""),
                              "round", jint(r, "round", 0), "moderator", jstr(slot, "persona", ""),
                              "contribution", jstr(res, "contribution", ""), "summary",
                              jstr(res, "summary", "")));
        } else {
            note(s, "fallback",
                 "Sub-problem %s, round %d: the moderator's intervention failed "
                 "and was skipped.",
                 jstr(sp, "id", ""), jint(r, "round", 0));
        }
    } else {
        set_int(sp, "research_count", jint(sp, "research_count", 0) + 1);
        json_object_set_new(
            r, "research",
            json_pack("{s:s, s:s, s:s, s:s, s:b}", "query",
                      jstr(json_object_get(r, "facilitator"), "research_query", ""), "findings",
                      jbool(slot, "ok", 0) ? jstr(res, "findings", "") : "", "confidence",
                      jbool(slot, "ok", 0) ? jstr(res, "confidence", "low") : "low", "caveats",
                      jstr(res, "caveats", ""), "failed", !jbool(slot, "ok", 0)));
    }
    json_object_del(sp, "batch");
    sp_fire(s, sp, SPE_INTERVENED);
}

/* Turn the vote batch into votes and a result. Slots never answered (a halt during the
 * vote) count as abstentions, so a halted board still reports the votes it cast. */
static void collect_votes(struct bo1_session *s, json_t *sp)
{
    json_t *slots = json_object_get(json_object_get(sp, "batch"), "slots");
    json_t *votes = json_array();
    const json_t *opts = json_object_get(s->st, "options");

    for (size_t i = 0; i < json_array_size(slots); i++) {
        json_t *slot = json_array_get(slots, i);
        const json_t *res = json_object_get(slot, "result");
        const char *code = jstr(slot, "persona", "");
        json_t *v;
        if (!jbool(slot, "ok", 0) && !jbool(slot, "done", 0)) {
            v = json_pack("{s:s, s:b, s:s}", "persona", code, "failed", 1, "error",
                          "not asked: the board stopped early");
            note(s, "member_abstained",
                 "Sub-problem %s: %s was not asked to vote because the board stopped early.",
                 jstr(sp, "id", ""), code);
        } else if (!jbool(slot, "ok", 0)) {
            v = json_pack("{s:s, s:b, s:s}", "persona", code, "failed", 1, "error",
                          jstr(slot, "error", ""));
            note(s, "member_abstained",
                 "Sub-problem %s: %s gave no usable vote after a retry and abstained.",
                 jstr(sp, "id", ""), code);
        } else {
            double c = jnum(res, "confidence", 0.5);
            c = c < 0 ? 0 : c > 1 ? 1 : c;
            v = json_pack("{s:s, s:s, s:s, s:f, s:o, s:b}", "persona", code, "recommendation",
                          jstr(res, "recommendation", ""), "reasoning", jstr(res, "reasoning", ""),
                          "confidence", c, "conditions",
                          string_array_of(json_object_get(res, "conditions")), "reversible",
                          jbool(res, "reversible", 1));
        }
        json_array_append_new(votes, v);
        publish(s, "vote", json_pack("{s:s, s:O}", "sub_problem", jstr(sp, "id", ""), "vote", v));
    }
    json_t *vr = rules_aggregate(votes, jbool(opts, "one_way_door", 0), &s->e->cfg);
    json_object_set_new(sp, "votes", votes);
    json_object_set_new(sp, "vote_result", vr);
    publish(s, "vote.result",
            json_pack("{s:s, s:O}", "sub_problem", jstr(sp, "id", ""), "result", vr));
}

static void apply_votes(struct bo1_session *s, json_t *sp)
{
    collect_votes(s, sp);
    json_object_del(sp, "batch");
    sp_fire(s, sp, SPE_VOTED);
}

static void apply_synthesis(struct bo1_session *s, json_t *sp)
{
    json_t *slot = slot0(sp);

    if (!jbool(slot, "ok", 0)) {
        json_object_set_new(s->st, "pending_failure",
                            json_pack("{s:s, s:s, s:s}", "code", "SYNTHESIS_FAILED", "message",
                                      "the synthesis failed on both model tiers", "sub_problem",
                                      jstr(sp, "id", "")));
        return;
    }
    json_t *syn = json_deep_copy(json_object_get(slot, "result"));
    add_commit_statement(syn, json_object_get(sp, "vote_result"));
    json_object_set_new(sp, "synthesis", syn);
    set_str(sp, "synthesis_source",
            jbool(slot, "tier_fallback", 0) ? "model_fast_fallback" : "model");
    if (jbool(slot, "tier_fallback", 0))
        note(s, "fallback",
             "Sub-problem %s: the synthesis failed on the deep tier and was written by the fast "
             "tier.",
             jstr(sp, "id", ""));
    json_object_del(sp, "batch");
    publish(s, "synthesis.completed",
            json_pack("{s:b, s:s, s:O}", "final", 0, "sub_problem", jstr(sp, "id", ""), "synthesis",
                      syn));
    sp_fire(s, sp, SPE_SYNTHESIZED);
}

/* ---- measuring: embeddings, metrics, stop rules ---- */

struct measure {
    struct bo1_session *s; /* NULL once detached */
    struct call *call;     /* the call record that keeps the slot "in flight" */
    size_t n_cur;          /* the first n_cur texts are this round's */
};

static void apply_metrics(struct bo1_session *s, json_t *sp, const float *const *vecs, size_t n_cur,
                          size_t n, size_t dim, const char *source)
{
    json_t *r = cur_round(sp);
    int round = jint(r, "round", 0);
    const json_t *sum = json_object_get(r, "summary");
    double conv = n_cur ? rules_convergence(vecs, n_cur, dim) : 0.0;
    double nov = n_cur ? rules_novelty(vecs, n_cur, vecs + n_cur, n - n_cur, dim) : 0.0;
    double conf = n_cur ? rules_conflict(conv, json_array_size(json_object_get(sum, "agreements")),
                                         json_array_size(json_object_get(sum, "disagreements")))
                        : 0.0;
    struct stop_input in = {
        .round = round,
        .max_rounds = jint(sp, "max_rounds", 3),
        .have_metrics = n_cur > 0,
        .n_contributions = (int)n_cur,
        .convergence = conv,
        .novelty = nov,
        .conflict = conf,
        .deadlock_streak = jint(sp, "deadlock_streak", 0),
        .spent = spent_of(s),
        .budget = budget_of(s),
        .elapsed_s = elapsed_of(s),
        .idle_s = 0, /* this very step is progress; the idle clock is checked by tick */
        .cfg = &s->e->cfg,
    };
    enum stop_action act;
    int streak;
    json_t *dec = rules_stop(&in, &act, &streak);

    set_int(sp, "deadlock_streak", streak);
    json_object_set_new(r, "metrics",
                        json_pack("{s:f, s:f, s:f, s:i, s:s}", "convergence", conv, "novelty", nov,
                                  "conflict", conf, "contributions", (int)n_cur, "embedding",
                                  source));
    json_object_set(r, "stop_check", dec);
    publish(s, "round.metrics",
            json_pack("{s:s, s:i, s:f, s:f, s:f, s:O}", "sub_problem", jstr(sp, "id", ""), "round",
                      round, "convergence", conv, "novelty", nov, "conflict", conf, "decision",
                      dec));
    json_object_del(sp, "batch");
    if (act == STOP_HALT) {
        json_object_set(sp, "stop", dec);
        halt_session(s, dec);
        return;
    }
    if (act == STOP_VOTE) {
        json_object_set_new(sp, "stop", dec);
        sp_fire(s, sp, SPE_STOP);
        return;
    }
    json_decref(dec);
    sp_fire(s, sp, SPE_NEXT_ROUND);
    start_round(s, sp, round + 1);
}

/* Texts to embed: this round's contributions first, then every earlier one. */
static json_t *measure_texts(json_t *sp, size_t *n_cur)
{
    json_t *texts = json_array();
    const json_t *rounds = json_object_get(sp, "rounds");
    const json_t *r = cur_round(sp);
    const json_t *cs = json_object_get(r, "contributions");

    for (size_t i = 0; i < json_array_size(cs); i++)
        json_array_append_new(texts, json_string(jstr(json_array_get(cs, i), "contribution", "")));
    *n_cur = json_array_size(texts);
    for (size_t k = 0; k + 1 < json_array_size(rounds); k++) {
        cs = json_object_get(json_array_get(rounds, k), "contributions");
        for (size_t i = 0; i < json_array_size(cs); i++)
            json_array_append_new(texts,
                                  json_string(jstr(json_array_get(cs, i), "contribution", "")));
    }
    return texts;
}

static void measure_local(struct bo1_session *s, json_t *sp, const char *source)
{
    size_t n_cur;
    json_t *texts = measure_texts(sp, &n_cur);
    size_t n = json_array_size(texts);
    float *store = calloc(n ? n : 1, LOCAL_DIM * sizeof(float));
    const float **vecs = calloc(n ? n : 1, sizeof(*vecs));

    if (store && vecs) {
        for (size_t i = 0; i < n; i++) {
            rules_embed_local(json_string_value(json_array_get(texts, i)), store + i * LOCAL_DIM,
                              LOCAL_DIM);
            vecs[i] = store + i * LOCAL_DIM;
        }
        apply_metrics(s, sp, vecs, n_cur, n, LOCAL_DIM, source);
    }
    free(store);
    free(vecs);
    json_decref(texts);
}

static void on_embedded(enum bo1_status st, const float *const *vecs, size_t n, size_t dim,
                        void *arg)
{
    struct call *c = arg;
    struct bo1_session *s = c->s;
    json_t *sp, *batch;

    if (!s)
        goto out;
    call_unlink(s, c);
    sp = sp_by_id(s, c->owner);
    batch = json_object_get(sp, "batch");
    if (!batch || json_integer_value(json_object_get(batch, "id")) != c->batch_id)
        goto out;
    size_t n_cur;
    json_t *texts = measure_texts(sp, &n_cur);
    size_t want = json_array_size(texts);
    json_decref(texts);
    /* The result is applied later by the pump when we are inside it; to keep callbacks
     * structure-free, park the verdict in the slot and let the pump compute metrics. */
    json_t *slot = json_array_get(json_object_get(batch, "slots"), 0);
    if (st != BO1_OK || n != want || dim == 0) {
        set_str(slot, "error", st != BO1_OK ? bo1_status_name(st) : "wrong vector count");
        json_object_set_new(slot, "done", json_true());
    } else {
        /* Vectors are borrowed only during this callback: keep a copy in the run-time. */
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array();
            for (size_t k = 0; k < dim; k++)
                json_array_append_new(v, json_real(vecs[i][k]));
            json_array_append_new(arr, v);
        }
        json_object_set_new(slot, "vectors", arr);
        json_object_set_new(slot, "ok", json_true());
        json_object_set_new(slot, "done", json_true());
    }
    kick(s);
out:
    call_free(c);
}

static void apply_measure(struct bo1_session *s, json_t *sp)
{
    json_t *slot = slot0(sp);
    const json_t *arr = json_object_get(slot, "vectors");

    if (!jbool(slot, "ok", 0) || !json_array_size(arr)) {
        if (jbool(slot, "done", 0) && *jstr(slot, "error", ""))
            note(s, "fallback", "Embeddings failed (%s); the local embedding measured the round.",
                 jstr(slot, "error", ""));
        measure_local(s, sp, "local");
        return;
    }
    size_t n = json_array_size(arr), dim = json_array_size(json_array_get(arr, 0));
    size_t n_cur;
    json_t *texts = measure_texts(sp, &n_cur);
    json_decref(texts);
    float *store = calloc(n * dim, sizeof(float));
    const float **vecs = calloc(n, sizeof(*vecs));
    if (store && vecs) {
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(arr, i);
            for (size_t k = 0; k < dim; k++)
                store[i * dim + k] = (float)json_number_value(json_array_get(v, k));
            vecs[i] = store + i * dim;
        }
        apply_metrics(s, sp, vecs, n_cur, n, dim, "provider");
    }
    free(store);
    free(vecs);
}

static void issue_measure(struct bo1_session *s, json_t *sp)
{
    json_t *batch = json_object_get(sp, "batch");
    json_int_t id = json_integer_value(json_object_get(batch, "id"));
    const char *sp_id = jstr(sp, "id", "");
    size_t n_cur;
    json_t *texts;
    const char **list;
    struct call *c;
    enum bo1_status st;

    if (in_flight(s, sp_id, id, 0) || jbool(slot0(sp), "done", 0))
        return;
    if (!s->e->fx.embed) {
        json_object_set_new(slot0(sp), "done", json_true());
        s->again = 1;
        return;
    }
    texts = measure_texts(sp, &n_cur);
    list = calloc(json_array_size(texts) + 1, sizeof(*list));
    c = calloc(1, sizeof(*c));
    if (!list || !c || !(c->owner = strdup(sp_id))) {
        free(list);
        call_free(c);
        json_decref(texts);
        json_object_set_new(slot0(sp), "done", json_true());
        s->again = 1;
        return;
    }
    for (size_t i = 0; i < json_array_size(texts); i++)
        list[i] = json_string_value(json_array_get(texts, i));
    c->s = s;
    c->batch_id = id;
    c->slot = 0;
    c->next = s->calls;
    s->calls = c;
    st = s->e->fx.embed(s->e->fx.ctx, bo1_session_id(s), list, json_array_size(texts), on_embedded,
                        c);
    if (st != BO1_OK) {
        call_unlink(s, c);
        call_free(c);
        set_str(slot0(sp), "error", bo1_status_name(st));
        json_object_set_new(slot0(sp), "done", json_true());
        s->again = 1;
    }
    free(list);
    json_decref(texts);
}

/* One step of one sub-problem. Returns 1 if the session halted. */
static int sp_step(struct bo1_session *s, json_t *sp)
{
    const char *id = jstr(sp, "id", "");
    json_t *batch = json_object_get(sp, "batch");
    int round = jint(sp, "round", 0);

    if (batch) {
        const char *kind = jstr(batch, "kind", "");
        if (!batch_complete(batch)) {
            if (!strcmp(kind, "measure")) {
                issue_measure(s, sp);
                return 0;
            }
            return issue_pending(s, sp, id);
        }
        if (!strcmp(kind, "select"))
            apply_select(s, sp);
        else if (!strcmp(kind, "contribute"))
            apply_contributions(s, sp);
        else if (!strcmp(kind, "summarize"))
            apply_summary(s, sp);
        else if (!strcmp(kind, "measure"))
            apply_measure(s, sp);
        else if (!strcmp(kind, "facilitate"))
            decide(s, sp, json_object_get(slot0(sp), "result"), jbool(slot0(sp), "ok", 0));
        else if (!strcmp(kind, "intervene"))
            apply_intervention(s, sp);
        else if (!strcmp(kind, "vote"))
            apply_votes(s, sp);
        else if (!strcmp(kind, "synthesize"))
            apply_synthesis(s, sp);
        s->again = 1;
        if (json_object_get(s->st, "pending_failure"))
            return 1;
        checkpoint(s);
        return json_object_get(s->st, "halt") != NULL;
    }

    switch (sp_stage(sp)) {
    case SP_WAITING: {
        const json_t *deps = json_object_get(sp, "dependencies");
        for (size_t i = 0; i < json_array_size(deps); i++) {
            json_t *d = sp_by_id(s, json_string_value(json_array_get(deps, i)));
            if (d && sp_stage(d) != SP_DONE)
                return 0;
        }
        sp_fire(s, sp, SPE_DEPS_READY);
        s->again = 1;
        return 0;
    }
    case SP_SELECTING: {
        const json_t *user = json_object_get(json_object_get(s->st, "options"), "personas");
        if (user) {
            json_t *board = rules_board(s->e->cfg.personas, s->e->cfg.n_personas, user, 1);
            apply_board(s, sp, board);
            s->again = 1;
            checkpoint(s);
            return 0;
        }
        batch = batch_new(s, sp, "select", 0);
        slot_add(batch, "select", NULL, "deep", s->e->cfg.max_tokens_structured);
        break;
    }
    case SP_FACILITATING: {
        /* Hard rule: a board that agreed at once in its openings hears the contrarian
         * before anything else (early groupthink), without asking the model. Agreement
         * needs at least two openings: one voice has no pair to compare. */
        const json_t *r1 = json_array_get(json_object_get(sp, "rounds"), 0);
        const json_t *m1 = json_object_get(r1, "metrics");
        if (round == 2 && m1 && jint(m1, "contributions", 0) >= 2 &&
            jnum(m1, "convergence", 0) > s->e->cfg.convergence_min) {
            json_t *hard =
                json_pack("{s:s, s:s, s:s}", "action", "moderator", "moderator", "contrarian",
                          "reason", "early groupthink: the openings already agree");
            decide(s, sp, hard, 1);
            json_decref(hard);
            set_str(json_object_get(cur_round(sp), "facilitator"), "source", "rule");
            s->again = 1;
            checkpoint(s);
            return 0;
        }
        batch = batch_new(s, sp, "facilitate", round);
        slot_add(batch, "facilitate", NULL, "fast", s->e->cfg.max_tokens_structured);
        break;
    }
    case SP_INTERVENING: {
        const json_t *d = json_object_get(cur_round(sp), "facilitator");
        batch = batch_new(s, sp, "intervene", round);
        if (!strcmp(jstr(d, "action", ""), "research"))
            slot_add(batch, "research", NULL, "fast", s->e->cfg.max_tokens_structured);
        else
            slot_add(batch, "moderate", jstr(d, "moderator", "contrarian"),
                     contribution_tier(round), s->e->cfg.max_tokens_contribution);
        break;
    }
    case SP_CONTRIBUTING: {
        const json_t *m = json_object_get(json_object_get(sp, "board"), "members");
        batch = batch_new(s, sp, "contribute", round);
        for (size_t i = 0; i < json_array_size(m); i++)
            slot_add(batch, "contribute", json_string_value(json_array_get(m, i)),
                     contribution_tier(round), s->e->cfg.max_tokens_contribution);
        break;
    }
    case SP_SUMMARIZING:
        batch = batch_new(s, sp, "summarize", round);
        slot_add(batch, "summarize", NULL, "fast", s->e->cfg.max_tokens_structured);
        break;
    case SP_MEASURING:
        batch = batch_new(s, sp, "measure", round);
        slot_add(batch, "embed", NULL, "embed", 0);
        s->again = 1;
        return 0;
    case SP_VOTING: {
        const json_t *m = json_object_get(json_object_get(sp, "board"), "members");
        batch = batch_new(s, sp, "vote", round);
        for (size_t i = 0; i < json_array_size(m); i++)
            slot_add(batch, "vote", json_string_value(json_array_get(m, i)), "fast",
                     s->e->cfg.max_tokens_structured);
        break;
    }
    case SP_SYNTHESIZING:
        batch = batch_new(s, sp, "synthesize", round);
        slot_add(batch, "synthesize", NULL, "deep", s->e->cfg.max_tokens_synthesis);
        break;
    case SP_ASKING:
    case SP_DONE:
    default:
        return 0;
    }
    return issue_pending(s, sp, id);
}

/* ------------------------------------------------------------------ the pump */

static void fail_session(struct bo1_session *s)
{
    json_t *pf = json_object_get(s->st, "pending_failure");

    json_object_set(s->st, "error", pf);
    publish(s, "error",
            json_pack("{s:s, s:s, s:b}", "kind", jstr(pf, "code", "FAILED"), "message",
                      jstr(pf, "message", ""), "fatal", 1));
    json_object_del(s->st, "pending_failure");
    for (struct call *c = s->calls; c; c = c->next)
        c->s = NULL;
    s->calls = NULL;
    fire(s, BO1_EV_FAIL);
    checkpoint(s);
}

static void step(struct bo1_session *s)
{
    json_t *batch = json_object_get(s->st, "batch");
    enum bo1_state st = state_of(s);

    if (json_object_get(s->st, "pending_failure") && st != BO1_STATE_FAILED &&
        st != BO1_STATE_CANCELLED && st != BO1_STATE_COMPLETED) {
        fail_session(s);
        return;
    }
    switch (st) {
    case BO1_STATE_CLARIFYING:
        if (batch && batch_complete(batch)) {
            apply_clarify(s);
            break;
        }
        if (!batch) {
            if (!jbool(json_object_get(s->st, "options"), "clarify", 1)) {
                fire(s, BO1_EV_NO_QUESTIONS);
                break;
            }
            batch = batch_new(s, s->st, "clarify", 0);
            slot_add(batch, "clarify", NULL, "fast", s->e->cfg.max_tokens_structured);
        }
        issue_pending(s, s->st, "");
        return;
    case BO1_STATE_DECOMPOSING:
        if (batch && batch_complete(batch)) {
            apply_decompose(s);
            break;
        }
        if (!batch) {
            batch = batch_new(s, s->st, "decompose", 0);
            slot_add(batch, "decompose", NULL, "deep", s->e->cfg.max_tokens_structured);
        }
        issue_pending(s, s->st, "");
        return;
    case BO1_STATE_DELIBERATING: {
        size_t done = 0, n = json_array_size(sps(s));
        /* Every sub-problem whose dependencies are concluded moves on its own, so
         * independent ones run concurrently. */
        for (size_t i = 0; i < n; i++) {
            json_t *sp = json_array_get(sps(s), i);
            if (sp_step(s, sp))
                return;
            if (state_of(s) != BO1_STATE_DELIBERATING)
                return;
        }
        for (size_t i = 0; i < n; i++)
            if (sp_stage(json_array_get(sps(s), i)) == SP_DONE)
                done++;
        if (n > 0 && done == n) {
            fire(s, BO1_EV_BOARDS_DONE);
            break;
        }
        return;
    }
    case BO1_STATE_SYNTHESIZING:
        if (jbool(s->st, "final_local", 0)) {
            finish_final_without_model(s, "local");
            break;
        }
        if (!batch && json_array_size(sps(s)) == 1) {
            /* One sub-problem: its synthesis is the final one; no second call. */
            finish_final_without_model(s, "sub_problem");
            break;
        }
        if (batch && batch_complete(batch)) {
            apply_final(s);
            if (json_object_get(s->st, "pending_failure"))
                s->again = 1;
            break;
        }
        if (!batch) {
            batch = batch_new(s, s->st, "final", 0);
            slot_add(batch, "synthesize_final", NULL, "deep", s->e->cfg.max_tokens_synthesis);
        }
        issue_pending(s, s->st, "");
        return;
    default:
        return; /* created, paused, awaiting input, terminal: nothing to do */
    }
    s->again = 1;
    checkpoint(s);
    if (state_of(s) == BO1_STATE_COMPLETED)
        publish(s, "session.completed",
                json_pack("{s:s, s:s, s:f, s:b}", "status", "completed", "recommendation",
                          jstr(json_object_get(s->st, "final"), "recommendation", ""),
                          "total_cost_usd", spent_of(s), "halted",
                          json_object_get(s->st, "halt") != NULL));
}

static void kick(struct bo1_session *s)
{
    if (s->pumping) {
        s->again = 1;
        return;
    }
    s->pumping = 1;
    do {
        s->again = 0;
        step(s);
    } while (s->again);
    s->pumping = 0;
    if (s->checkpoint_due) {
        s->checkpoint_due = 0;
        checkpoint(s);
    }
}

/* ------------------------------------------------------------------ public API */

struct bo1_engine *bo1_engine_new(const struct bo1_engine_config *cfg,
                                  const struct bo1_engine_effects *fx)
{
    struct bo1_engine *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->cfg = *cfg;
    e->fx = *fx;
    return e;
}

void bo1_engine_free(struct bo1_engine *e)
{
    free(e);
}

static struct bo1_session *session_alloc(struct bo1_engine *e, json_t *st)
{
    struct bo1_session *s = calloc(1, sizeof(*s));

    if (!s) {
        json_decref(st);
        return NULL;
    }
    s->e = e;
    s->st = st;
    return s;
}

void bo1_session_free(struct bo1_session *s)
{
    if (!s)
        return;
    for (struct call *c = s->calls; c; c = c->next)
        c->s = NULL; /* the callback frees the record */
    json_decref(s->st);
    free(s);
}

enum bo1_status bo1_engine_create(struct bo1_engine *e, const char *id, const json_t *request,
                                  struct bo1_session **out, json_t **errors_out)
{
    json_t *errors = json_array();
    json_t *problem = NULL, *options = NULL, *st = NULL;
    enum bo1_status rc;
    double now = now_s(e);

    *out = NULL;
    rc = session_validate(request, errors, &problem, &options);
    if (rc != BO1_OK)
        goto out;
    rc = BO1_NO_MEMORY;
    if (!json_object_get(options, "budget_usd"))
        json_object_set_new(options, "budget_usd", json_real(e->cfg.budget_usd));
    st = json_object();
    if (!st)
        goto out;
    set_int(st, "version", 1);
    set_str(st, "id", id);
    set_str(st, "state", "created");
    json_object_set_new(st, "problem", problem);
    json_object_set_new(st, "options", options);
    json_object_set_new(st, "simulated", json_boolean(e->cfg.simulated));
    set_str(st, "model_fast", e->cfg.model_fast);
    set_str(st, "model_deep", e->cfg.model_deep);
    set_num(st, "created_at", now);
    set_num(st, "last_progress_at", now);
    set_int(st, "batch_seq", 0);
    json_object_set_new(st, "clarify",
                        json_pack("{s:[], s:[], s:s}", "history", "pending", "outcome", "none"));
    set_int(st, "facilitator_questions", 0);
    json_object_set_new(st, "assumptions", json_array());
    json_object_set_new(st, "decomposition",
                        json_pack("{s:[], s:b, s:s, s:b}", "repairs", "fallback", 0, "analysis", "",
                                  "is_atomic", 0));
    json_object_set_new(st, "sub_problems", json_array());
    json_object_set_new(st, "ledger", json_array());
    json_object_set_new(st, "costs",
                        json_pack("{s:f, s:i, s:i, s:i, s:i, s:i, s:{}, s:{}, s:{}, s:{}}",
                                  "total_usd", 0.0, "calls", 0, "input", 0, "output", 0,
                                  "cache_write", 0, "cache_read", 0, "by_phase", "by_sub_problem",
                                  "by_persona", "by_model"));
    json_object_set_new(st, "notes", json_array());
    json_object_set_new(st, "interjections", json_array());
    json_object_set_new(st, "retries", json_array());
    problem = options = NULL;
    if (!st)
        goto out;
    *out = session_alloc(e, st);
    rc = *out ? BO1_OK : BO1_NO_MEMORY;
out:
    json_decref(problem);
    json_decref(options);
    if (errors_out && rc == BO1_BAD_FIELD) {
        *errors_out = errors;
        errors = NULL;
    }
    json_decref(errors);
    return rc;
}

enum bo1_status bo1_engine_start(struct bo1_engine *e, struct bo1_session *s)
{
    enum bo1_status st;

    (void)e;
    st = fire(s, BO1_EV_START);
    if (st != BO1_OK)
        return st;
    set_num(s->st, "started_at", now_s(s->e));
    set_num(s->st, "last_progress_at", now_s(s->e));
    checkpoint(s);
    kick(s);
    return BO1_OK;
}

enum bo1_status bo1_engine_resume(struct bo1_engine *e, const json_t *checkpoint_doc,
                                  struct bo1_session **out)
{
    json_t *st;

    *out = NULL;
    if (!json_is_object(checkpoint_doc) || jint(checkpoint_doc, "version", 0) != 1 ||
        !json_is_string(json_object_get(checkpoint_doc, "id")) ||
        bo1_state_parse(jstr(checkpoint_doc, "state", "")) < 0)
        return BO1_BAD_FIELD;
    st = json_deep_copy(checkpoint_doc);
    if (!st)
        return BO1_NO_MEMORY;
    *out = session_alloc(e, st);
    if (!*out)
        return BO1_NO_MEMORY;
    /* The time spent down is not the board's idleness. */
    set_num(st, "last_progress_at", now_s(e));
    kick(*out);
    return BO1_OK;
}

enum bo1_status bo1_engine_pause(struct bo1_engine *e, struct bo1_session *s)
{
    enum bo1_status st;

    (void)e;
    st = fire(s, BO1_EV_PAUSE);
    if (st == BO1_OK)
        checkpoint(s);
    return st;
}

enum bo1_status bo1_engine_unpause(struct bo1_engine *e, struct bo1_session *s)
{
    enum bo1_status st;

    (void)e;
    if (state_of(s) != BO1_STATE_PAUSED)
        return BO1_WRONG_STATE;
    st = fire(s, BO1_EV_RESUME);
    if (st != BO1_OK)
        return st;
    checkpoint(s);
    kick(s);
    return BO1_OK;
}

enum bo1_status bo1_engine_cancel(struct bo1_engine *e, struct bo1_session *s)
{
    enum bo1_status st;

    (void)e;
    st = fire(s, BO1_EV_CANCEL);
    if (st != BO1_OK)
        return st;
    for (struct call *c = s->calls; c; c = c->next)
        c->s = NULL;
    s->calls = NULL;
    json_object_del(s->st, "batch");
    for (size_t i = 0; i < json_array_size(sps(s)); i++)
        json_object_del(json_array_get(sps(s), i), "batch");
    checkpoint(s);
    return BO1_OK;
}

enum bo1_status bo1_engine_interject(struct bo1_engine *e, struct bo1_session *s, const char *text)
{
    size_t len = text ? strlen(text) : 0;

    (void)e;
    if (len == 0 || len > 4000)
        return BO1_BAD_FIELD;
    if (bo1_session_is_terminal(s))
        return BO1_WRONG_STATE;
    json_array_append_new(json_object_get(s->st, "interjections"),
                          json_pack("{s:s, s:f}", "text", text, "at", now_s(s->e)));
    publish(s, "contribution",
            json_pack("{s:s, s:s, s:s}", "persona", "user", "name", "You", "contribution", text));
    checkpoint(s);
    return BO1_OK;
}

/* Record the answers (or their absence) and leave awaiting_input. */
static void settle_questions(struct bo1_session *s, const json_t *answers, const char *outcome)
{
    json_t *cl = json_object_get(s->st, "clarify");
    json_t *pending = json_object_get(cl, "pending");
    json_t *hist = json_object_get(cl, "history");
    const char *sp_id = NULL;

    for (size_t i = 0; i < json_array_size(pending); i++) {
        json_t *q = json_deep_copy(json_array_get(pending, i));
        const char *a = json_string_value(json_object_get(answers, jstr(q, "id", "")));
        if (jstr(q, "sub_problem", NULL))
            sp_id = jstr(json_array_get(pending, i), "sub_problem", NULL);
        if (a && *a) {
            set_str(q, "answer", a);
            set_str(q, "outcome", "answered");
        } else {
            char text[1200];
            set_str(q, "outcome", outcome);
            snprintf(text, sizeof(text),
                     "Not answered (%s): \"%s\" — the board proceeded on its own assumptions.",
                     !strcmp(outcome, "timed_out") ? "no answer in time" : "skipped",
                     jstr(q, "question", ""));
            json_array_append_new(json_object_get(s->st, "assumptions"), json_string(text));
        }
        json_array_append_new(hist, q);
    }
    set_str(cl, "outcome", outcome);
    json_object_set_new(cl, "pending", json_array());
    json_object_del(cl, "asked_at");
    fire(s, BO1_EV_INPUT);
    if (sp_id) {
        json_t *sp = sp_by_id(s, sp_id);
        if (sp && sp_stage(sp) == SP_ASKING)
            sp_fire(s, sp, SPE_ANSWERED);
    }
    checkpoint(s);
    kick(s);
}

enum bo1_status bo1_engine_answer(struct bo1_engine *e, struct bo1_session *s,
                                  const json_t *answers, int skip)
{
    const json_t *pending = json_object_get(json_object_get(s->st, "clarify"), "pending");
    const char *key;
    json_t *v;

    (void)e;
    if (state_of(s) != BO1_STATE_AWAITING_INPUT)
        return BO1_WRONG_STATE;
    if (answers && !json_is_object(answers))
        return BO1_BAD_FIELD;
    json_object_foreach((json_t *)answers, key, v)
    {
        int known = 0;
        for (size_t i = 0; i < json_array_size(pending); i++)
            if (!strcmp(jstr(json_array_get(pending, i), "id", ""), key))
                known = 1;
        if (!known || !json_is_string(v) || json_string_length(v) > 5000)
            return BO1_BAD_FIELD;
    }
    if (!skip && json_object_size(answers) == 0)
        return BO1_BAD_FIELD;
    settle_questions(s, skip ? NULL : answers, skip ? "skipped" : "answered");
    return BO1_OK;
}

void bo1_engine_tick(struct bo1_engine *e, struct bo1_session *s)
{
    enum bo1_state st = state_of(s);
    double now = now_s(e);

    if (st == BO1_STATE_AWAITING_INPUT) {
        const json_t *cl = json_object_get(s->st, "clarify");
        if (now - jnum(cl, "asked_at", now) >= e->cfg.clarify_timeout_s)
            settle_questions(s, NULL, "timed_out");
        return;
    }
    if (st != BO1_STATE_CLARIFYING && st != BO1_STATE_DECOMPOSING && st != BO1_STATE_DELIBERATING &&
        st != BO1_STATE_SYNTHESIZING)
        return;
    double elapsed = elapsed_of(s);
    double idle = now - jnum(s->st, "last_progress_at", now);
    const char *rule = NULL;
    const json_t *outage = json_object_get(s->st, "provider_outage");
    if (elapsed >= e->cfg.wall_clock_s)
        rule = "wall_clock";
    else if (idle >= e->cfg.no_progress_s)
        rule = "no_progress";
    if (!rule) {
        if (outage && now >= jnum(outage, "retry_at", 0) && any_waiting(s))
            kick(s); /* the wait is over: ask the provider again */
        return;
    }
    if (outage) {
        /* The clock ran out waiting for the provider: fail and say so, rather than halt
         * and present a conclusion the board never reached, or blame the step it was in. */
        char msg[900];
        snprintf(msg, sizeof(msg),
                 "The model provider has been unavailable for %.0f s (%s: %s); the session "
                 "stopped at its %s limit (%.0f s).",
                 now - jnum(outage, "since", now), jstr(outage, "status", ""),
                 jstr(outage, "message", ""),
                 !strcmp(rule, "wall_clock") ? "wall-clock" : "no-progress",
                 !strcmp(rule, "wall_clock") ? e->cfg.wall_clock_s : e->cfg.no_progress_s);
        json_object_set_new(
            s->st, "pending_failure",
            json_pack("{s:s, s:s}", "code", "PROVIDER_UNAVAILABLE", "message", msg));
        kick(s); /* the pump fails the session, abandons calls and checkpoints */
        return;
    }
    /* Calls in flight are abandoned: their answers will find no batch and be dropped. */
    for (struct call *c = s->calls; c; c = c->next)
        c->s = NULL;
    s->calls = NULL;
    halt_session(s, json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:f}}", "rule", rule, "action", "halt",
                              "numbers", "elapsed_s", elapsed, "idle_s", idle, "wall_clock_s",
                              e->cfg.wall_clock_s, "no_progress_s", e->cfg.no_progress_s));
    checkpoint(s);
    kick(s);
}
