/* The report as JSON: a pure function of a session state (the engine's checkpoint). The
 * Markdown renderer reads this same object, so both formats always say the same thing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/report.h"
#include "export_internal.h"

static const char disclaimer[] =
    "This report is advisory. It was produced by AI models playing the roles of expert "
    "advisers and may be wrong or incomplete. It is not legal, financial, medical or other "
    "professional advice: for such matters, consult a qualified professional before acting.";

static const char simulated_note[] =
    "SIMULATED RUN: the board's answers came from a simulated model (bo1-fake-llm), not a real "
    "language model. The content below only exercises the system and is not advice.";

const char *rj_str(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

double rj_num(const json_t *o, const char *k, double dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A part of the state for the report: a deep copy, or with @share the state's own value
 * (a reference: the renderers only read the report and free it before they return, so the
 * state is never changed through it and no copy is needed). */
static json_t *part(const json_t *v, int share)
{
    return share ? json_incref((json_t *)v) : json_deep_copy(v);
}

static json_t *copy_or(const json_t *v, json_t *dflt, int share)
{
    if (v) {
        json_decref(dflt);
        return part(v, share);
    }
    return dflt;
}

/* Money with sensible precision: cents for dollars, more digits for fractions of a cent. */
static const char *money(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, v >= 1.0 ? "$%.2f" : "$%.4f", v);
    return buf;
}

/* One sentence with the numbers that made the board stop. */
char *report_stop_text(const json_t *stop)
{
    const char *rule = rj_str(stop, "rule", "");
    const json_t *n = json_object_get(stop, "numbers");
    char buf[512], m1[32], m2[32];

    if (!strcmp(rule, "max_rounds"))
        snprintf(buf, sizeof(buf), "Round limit reached: %d of %d rounds were held.",
                 (int)rj_num(n, "round", 0), (int)rj_num(n, "max_rounds", 0));
    else if (!strcmp(rule, "convergence"))
        snprintf(buf, sizeof(buf),
                 "The board converged in round %d: mean pairwise similarity %.2f (above %.2f) "
                 "and novelty %.2f (below %.2f).",
                 (int)rj_num(n, "round", 0), rj_num(n, "convergence", 0),
                 rj_num(n, "convergence_min", 0.85), rj_num(n, "novelty", 0),
                 rj_num(n, "novelty_max", 0.30));
    else if (!strcmp(rule, "deadlock"))
        snprintf(buf, sizeof(buf),
                 "Deadlock in round %d: conflict %.2f (above %.2f) with novelty %.2f (below "
                 "%.2f) for %d rounds, so the vote was forced.",
                 (int)rj_num(n, "round", 0), rj_num(n, "conflict", 0),
                 rj_num(n, "deadlock_conflict", 0.7), rj_num(n, "novelty", 0),
                 rj_num(n, "deadlock_novelty", 0.4), (int)rj_num(n, "deadlock_rounds", 0));
    else if (!strcmp(rule, "budget"))
        snprintf(buf, sizeof(buf),
                 "Budget threshold: %s of the %s budget spent (%.0f%%, threshold %.0f%%), "
                 "so the vote was forced.",
                 money(m1, sizeof(m1), rj_num(n, "spent_usd", 0)),
                 money(m2, sizeof(m2), rj_num(n, "budget_usd", 0)),
                 100 * rj_num(n, "budget_share", 0), 100 * rj_num(n, "budget_vote_share", 0.8));
    else if (!strcmp(rule, "budget_exhausted"))
        snprintf(buf, sizeof(buf),
                 "Budget exhausted: %s of the %s budget spent (%.0f%%). No further model "
                 "calls were made; the report uses what existed.",
                 money(m1, sizeof(m1), rj_num(n, "spent_usd", 0)),
                 money(m2, sizeof(m2), rj_num(n, "budget_usd", 0)),
                 100 * rj_num(n, "budget_share", 0));
    else if (!strcmp(rule, "wall_clock"))
        snprintf(buf, sizeof(buf),
                 "Wall-clock limit: %.0f s elapsed (limit %.0f s). The report uses what existed.",
                 rj_num(n, "elapsed_s", 0), rj_num(n, "wall_clock_s", 0));
    else if (!strcmp(rule, "no_progress"))
        snprintf(buf, sizeof(buf),
                 "No progress for %.0f s (limit %.0f s). The report uses what existed.",
                 rj_num(n, "idle_s", 0), rj_num(n, "no_progress_s", 0));
    else if (!strcmp(rule, "facilitator_vote"))
        snprintf(buf, sizeof(buf), "The facilitator called the vote after round %d of at most %d.",
                 (int)rj_num(n, "round", 0), (int)rj_num(n, "max_rounds", 0));
    else
        snprintf(buf, sizeof(buf), "Stopped (%s).", *rule ? rule : "unknown");
    return strdup(buf);
}

static const char *persona_name(const json_t *sp, const char *code)
{
    const json_t *m = json_object_get(json_object_get(sp, "board"), "names");
    return rj_str(m, code, code);
}

static json_t *transcript_of(const json_t *st, int share)
{
    json_t *out = json_array();
    const json_t *sps = json_object_get(st, "sub_problems");

    for (size_t i = 0; i < json_array_size(sps); i++) {
        const json_t *sp = json_array_get(sps, i);
        const json_t *rounds = json_object_get(sp, "rounds");
        for (size_t r = 0; r < json_array_size(rounds); r++) {
            const json_t *ro = json_array_get(rounds, r);
            json_t *cs = json_array();
            const json_t *in = json_object_get(ro, "contributions");
            for (size_t k = 0; k < json_array_size(in); k++) {
                const json_t *c = json_array_get(in, k);
                json_array_append_new(cs, json_pack("{s:s, s:s, s:s, s:s, s:b}", "persona",
                                                    rj_str(c, "persona", ""), "name",
                                                    persona_name(sp, rj_str(c, "persona", "")),
                                                    "contribution", rj_str(c, "contribution", ""),
                                                    "summary", rj_str(c, "summary", ""), "retried",
                                                    json_is_true(json_object_get(c, "retried"))));
            }
            json_t *t = json_pack("{s:s, s:i, s:s, s:o}", "sub_problem", rj_str(sp, "id", ""),
                                  "round", (int)rj_num(ro, "round", 0), "phase",
                                  rj_str(ro, "phase", ""), "contributions", cs);
            static const char *const keys[] = {
                "facilitator", "intervention", "research", "interjections",
                "sat_out",     "summary",      "metrics",  NULL};
            for (size_t k = 0; keys[k]; k++)
                if (json_object_get(ro, keys[k]))
                    json_object_set_new(t, keys[k], part(json_object_get(ro, keys[k]), share));
            json_array_append_new(out, t);
        }
    }
    return out;
}

/* The report object; @share: see part(). */
static json_t *report_build(const json_t *st, int share)
{
    const json_t *fin, *problem, *sps;
    json_t *r, *subs, *stops, *title_j;
    char title[128];
    const char *stmt;
    size_t k = 0;

    if (!json_is_object(st) || !json_is_object(json_object_get(st, "problem")))
        return NULL;
    fin = json_object_get(st, "final");
    problem = json_object_get(st, "problem");
    sps = json_object_get(st, "sub_problems");
    stmt = rj_str(problem, "statement", "");
    /* Title: the statement's first line, cut at a word boundary near 90 characters. */
    for (; stmt[k] && stmt[k] != '\n' && k < 90; k++)
        title[k] = stmt[k];
    if (stmt[k] && stmt[k] != '\n') {
        while (k > 40 && title[k - 1] != ' ')
            k--;
        title[k] = 0;
        strcat(title, "…");
    } else {
        title[k] = 0;
    }
    title_j = json_string(title);
    if (!title_j)
        title_j = json_string("Board of One report");

    subs = json_array();
    stops = json_array();
    for (size_t i = 0; i < json_array_size(sps); i++) {
        const json_t *sp = json_array_get(sps, i);
        const json_t *stop = json_object_get(sp, "stop");
        json_t *sat_out = json_array();
        const json_t *rounds = json_object_get(sp, "rounds");
        for (size_t r2 = 0; r2 < json_array_size(rounds); r2++) {
            const json_t *so = json_object_get(json_array_get(rounds, r2), "sat_out");
            for (size_t q = 0; q < json_array_size(so); q++) {
                json_t *e = json_deep_copy(json_array_get(so, q));
                json_object_set_new(
                    e, "round",
                    json_integer((json_int_t)rj_num(json_array_get(rounds, r2), "round", 0)));
                json_array_append_new(sat_out, e);
            }
        }
        json_t *members = json_array();
        const json_t *codes = json_object_get(json_object_get(sp, "board"), "members");
        for (size_t m = 0; m < json_array_size(codes); m++) {
            const char *code = json_string_value(json_array_get(codes, m));
            json_array_append_new(members, json_pack("{s:s, s:s}", "code", code ? code : "", "name",
                                                     persona_name(sp, code ? code : "")));
        }
        if (stop) {
            char *text = report_stop_text(stop);
            json_array_append_new(
                stops,
                json_pack("{s:s, s:s, s:s, s:O}", "sub_problem", rj_str(sp, "id", ""), "rule",
                          rj_str(stop, "rule", ""), "explanation", text ? text : "", "numbers",
                          json_object_get(stop, "numbers") ? json_object_get(stop, "numbers")
                                                           : json_null()));
            free(text);
        }
        json_array_append_new(
            subs,
            json_pack(
                "{s:s, s:s, s:i, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:s, s:b}", "id",
                rj_str(sp, "id", ""), "goal", rj_str(sp, "goal", ""), "complexity",
                (int)rj_num(sp, "complexity", 0), "dependencies",
                copy_or(json_object_get(sp, "dependencies"), json_array(), share), "board", members,
                "rounds", (int)json_array_size(rounds), "stop", copy_or(stop, json_null(), share),
                "votes", copy_or(json_object_get(sp, "votes"), json_array(), share), "vote_result",
                copy_or(json_object_get(sp, "vote_result"), json_null(), share), "synthesis",
                copy_or(json_object_get(sp, "synthesis"), json_null(), share), "sat_out", sat_out,
                "synthesis_source", rj_str(sp, "synthesis_source", ""), "board_fallback",
                json_is_true(json_object_get(json_object_get(sp, "board"), "fallback"))));
    }
    if (json_object_get(st, "halt")) {
        char *text = report_stop_text(json_object_get(st, "halt"));
        json_array_append_new(
            stops, json_pack("{s:s, s:s, s:s, s:O}", "sub_problem", "(session)", "rule",
                             rj_str(json_object_get(st, "halt"), "rule", ""), "explanation",
                             text ? text : "", "numbers",
                             json_object_get(json_object_get(st, "halt"), "numbers")
                                 ? json_object_get(json_object_get(st, "halt"), "numbers")
                                 : json_null()));
        free(text);
    }
    double created = rj_num(st, "created_at", 0), started = rj_num(st, "started_at", 0);
    double finished = rj_num(st, "finished_at", 0);
    json_t *timings = json_pack("{s:f, s:f, s:f, s:f, s:f}", "created_at", created, "started_at",
                                started, "finished_at", finished, "duration_s",
                                finished > 0 && started > 0 ? finished - started : 0.0, "waited_s",
                                rj_num(st, "waited_s", 0));
    /* Keys are added to the costs: with @share a shallow copy of the state's. */
    const json_t *costs_st = json_object_get(st, "costs");
    json_t *costs = !costs_st ? json_object()
                    : share   ? json_copy((json_t *)costs_st)
                              : json_deep_copy(costs_st);
    json_object_set_new(costs, "ledger",
                        copy_or(json_object_get(st, "ledger"), json_array(), share));
    json_object_set_new(costs, "budget_usd",
                        json_real(rj_num(json_object_get(st, "options"), "budget_usd", 0)));

    const char *status = rj_str(st, "state", "");
    r = json_pack("{s:s, s:o, s:s, s:b, s:s, s:s, s:s, s:s, s:s}", "session_id",
                  rj_str(st, "id", ""), "title", title_j, "status", status, "simulated",
                  json_is_true(json_object_get(st, "simulated")), "recommendation",
                  rj_str(fin, "recommendation", "No recommendation was reached."),
                  "executive_summary", rj_str(fin, "executive_summary", ""), "confidence",
                  rj_str(fin, "confidence", "low"), "rationale", rj_str(fin, "rationale", ""),
                  "disclaimer", disclaimer);
    if (!r) {
        json_decref(subs);
        json_decref(stops);
        json_decref(timings);
        json_decref(costs);
        return NULL;
    }
    if (json_is_true(json_object_get(st, "simulated")))
        json_object_set_new(r, "simulated_note", json_string(simulated_note));
    json_object_set_new(r, "problem", part(problem, share));
    json_object_set_new(r, "final_synthesis", copy_or(fin, json_null(), share));
    static const char *const lists[] = {
        "dissent",        "risks",     "conditions", "implementation_steps",
        "open_questions", "conflicts", "roadmap",    NULL};
    for (size_t i = 0; lists[i]; i++) {
        const json_t *v = json_object_get(fin, lists[i]);
        json_object_set_new(r, lists[i], json_is_array(v) ? part(v, share) : json_array());
    }
    json_object_set_new(r, "sub_problems", subs);
    json_object_set_new(r, "why_stopped", stops);
    json_object_set_new(r, "halted", json_boolean(json_object_get(st, "halt") != NULL));
    json_object_set_new(r, "assumptions",
                        copy_or(json_object_get(st, "assumptions"), json_array(), share));
    json_object_set_new(
        r, "clarifications",
        copy_or(json_object_get(json_object_get(st, "clarify"), "history"), json_array(), share));
    json_object_set_new(r, "decomposition",
                        copy_or(json_object_get(st, "decomposition"), json_object(), share));
    json_object_set_new(r, "notes", copy_or(json_object_get(st, "notes"), json_array(), share));
    json_object_set_new(r, "interjections",
                        copy_or(json_object_get(st, "interjections"), json_array(), share));
    json_object_set_new(r, "error", copy_or(json_object_get(st, "error"), json_null(), share));
    json_object_set_new(r, "transcript", transcript_of(st, share));
    json_object_set_new(r, "costs", costs);
    json_object_set_new(r, "timings", timings);
    json_object_set_new(r, "models",
                        json_pack("{s:s, s:s}", "fast", rj_str(st, "model_fast", ""), "deep",
                                  rj_str(st, "model_deep", "")));
    return r;
}

json_t *bo1_report_json(const json_t *st)
{
    return report_build(st, 0);
}

json_t *report_json_shared(const json_t *st)
{
    return report_build(st, 1);
}

enum bo1_status bo1_report_render_json(const json_t *state, struct bo1_buf *out)
{
    json_t *r = report_json_shared(state);
    char *text;
    enum bo1_status st;

    if (!r)
        return json_is_object(state) ? BO1_NO_MEMORY : BO1_BAD_FIELD;
    text = json_dumps(r, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(r);
    if (!text)
        return BO1_NO_MEMORY;
    st = bo1_buf_puts(out, text);
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "\n");
    free(text);
    return st;
}
