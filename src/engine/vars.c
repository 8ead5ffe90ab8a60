/* Prompt variables: what the engine tells each model call, named as in the placeholder
 * table of bo1/prompt.h (docs/internals/prompts.md). Values follow that table's kinds:
 * fence values are the raw text (the renderer escapes and fences them), plain values are
 * short engine strings or numbers, xml values are built here with
 * bo1_prompt_append_element() so everything inside them is escaped. The context stays
 * bounded: summaries of earlier rounds plus only the latest round's full contributions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bo1/buf.h"
#include "bo1/prompt.h"
#include "engine_internal.h"

static void put(json_t *v, const char *k, const char *s)
{
    json_object_set_new(v, k, json_string(s ? s : ""));
}

static void put_int(json_t *v, const char *k, json_int_t n)
{
    json_object_set_new(v, k, json_integer(n));
}

static void element(struct bo1_buf *b, const char *tag, const char *a1, const char *v1,
                    const char *a2, const char *v2, const char *text)
{
    const char *attrs[5] = {a1, v1, a2, v2, NULL};

    if (!a1)
        attrs[0] = NULL;
    else if (!a2)
        attrs[2] = NULL;
    bo1_prompt_append_element(b, tag, attrs[0] ? attrs : NULL, text ? text : "");
}

static json_t *find_sp(const json_t *st, const char *id)
{
    const json_t *sps = json_object_get(st, "sub_problems");
    for (size_t i = 0; id && i < json_array_size(sps); i++)
        if (!strcmp(jstr(json_array_get(sps, i), "id", ""), id))
            return json_array_get(sps, i);
    return NULL;
}

static const struct bo1_persona *persona_by(const struct bo1_engine *e, const char *code,
                                            int hidden_role)
{
    size_t n = code ? strlen(code) : 0;

    for (size_t i = 0; code && i < e->cfg.n_personas; i++) {
        const struct bo1_persona *p = e->cfg.personas[i];
        if (p && p->code && !strcmp(p->code, code))
            return p;
    }
    /* A hidden role may be found by its role label when its code differs. */
    for (size_t i = 0; hidden_role && code && i < e->cfg.n_personas; i++) {
        const struct bo1_persona *p = e->cfg.personas[i];
        if (p && p->hidden && p->role)
            for (const char *r = p->role; *r; r++)
                if (!strncasecmp(r, code, n))
                    return p;
    }
    return NULL;
}

static void session_vars(const struct bo1_session *s, json_t *v)
{
    const json_t *p = json_object_get(s->st, "problem");
    const json_t *ctx = json_object_get(p, "context");
    const json_t *cs = json_object_get(p, "constraints");
    const json_t *hist = json_object_get(json_object_get(s->st, "clarify"), "history");
    struct bo1_buf b;

    put(v, "problem", jstr(p, "statement", ""));
    if (json_object_size(ctx)) {
        char *d = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS);
        put(v, "context", d);
        free(d);
    } else {
        put(v, "context", "");
    }
    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < json_array_size(cs); i++) {
        const json_t *c = json_array_get(cs, i);
        bo1_buf_printf(&b, "- %s: %s", jstr(c, "type", ""), jstr(c, "description", ""));
        if (json_object_get(c, "value")) {
            char *d = json_dumps(json_object_get(c, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
            bo1_buf_printf(&b, " (%s)", d ? d : "");
            free(d);
        }
        bo1_buf_puts(&b, "\n");
    }
    put(v, "constraints", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    for (size_t i = 0; i < json_array_size(hist); i++) {
        const json_t *q = json_array_get(hist, i);
        bo1_buf_printf(&b, "Q: %s\nA: %s\n", jstr(q, "question", ""),
                       jstr(q, "answer",
                            !strcmp(jstr(q, "outcome", ""), "timed_out")
                                ? "(no answer in time: proceed on stated assumptions)"
                                : "(skipped: proceed on stated assumptions)"));
    }
    put(v, "answers", bo1_buf_str(&b));
    bo1_buf_fini(&b);
    put(v, "retry_note", "");
}

static void sub_problem_vars(const struct bo1_session *s, const json_t *sp, json_t *v)
{
    const json_t *deps = json_object_get(sp, "dependencies");
    struct bo1_buf b;

    put(v, "sub_problem_id", jstr(sp, "id", ""));
    put(v, "sub_problem_goal", jstr(sp, "goal", ""));
    put(v, "sub_problem_context", jstr(sp, "context", ""));
    put_int(v, "complexity", jint(sp, "complexity", 5));
    put_int(v, "max_rounds", jint(sp, "max_rounds", 3));
    bo1_buf_init(&b, 0);
    /* Dependents receive their dependencies' conclusions. */
    for (size_t i = 0; i < json_array_size(deps); i++) {
        const json_t *d = find_sp(s->st, json_string_value(json_array_get(deps, i)));
        const json_t *syn = json_object_get(d, "synthesis");
        char text[4096];
        if (!d)
            continue;
        snprintf(text, sizeof(text), "Goal: %s\nRecommendation: %s\nSummary: %s",
                 jstr(d, "goal", ""), jstr(syn, "recommendation", "(none)"),
                 jstr(syn, "executive_summary", ""));
        element(&b, "conclusion", "sub_problem", jstr(d, "id", ""), NULL, NULL, text);
    }
    put(v, "dependency_conclusions", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    const json_t *members = json_object_get(json_object_get(sp, "board"), "members");
    const struct bo1_persona *ps[8];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(members) && n < 8; i++) {
        const struct bo1_persona *p =
            persona_by(s->e, json_string_value(json_array_get(members, i)), 0);
        if (p)
            ps[n++] = p;
    }
    char *xml = bo1_persona_list_xml(ps, n);
    put(v, "board", xml);
    free(xml);
    bo1_buf_fini(&b);
}

static void persona_vars(json_t *v, const struct bo1_persona *p, const char *code)
{
    put(v, "persona_code", p ? p->code : code);
    put(v, "persona_name", p && p->name ? p->name : code);
    put(v, "persona_role", p && p->role ? p->role : code);
    put(v, "persona_identity",
        p && p->identity ? p->identity : "You are an experienced, independent adviser.");
    put(v, "persona_style", p && p->style ? p->style : "Concise and concrete.");
}

static const json_t *round_obj(const json_t *sp, int round)
{
    const json_t *rounds = json_object_get(sp, "rounds");
    for (size_t i = 0; i < json_array_size(rounds); i++)
        if (jint(json_array_get(rounds, i), "round", 0) == round)
            return json_array_get(rounds, i);
    return NULL;
}

static void contributions_xml(struct bo1_buf *b, const json_t *r)
{
    const json_t *cs = json_object_get(r, "contributions");
    char num[16];

    snprintf(num, sizeof(num), "%d", jint(r, "round", 0));
    for (size_t k = 0; k < json_array_size(cs); k++) {
        const json_t *c = json_array_get(cs, k);
        element(b, "contribution", "round", num, "speaker", jstr(c, "persona", ""),
                jstr(c, "contribution", ""));
    }
}

/* The discussion as of the start of @round. */
static void round_vars(const json_t *sp, int round, json_t *v)
{
    const json_t *rounds = json_object_get(sp, "rounds");
    const json_t *r = round_obj(sp, round);
    struct bo1_buf b;
    char num[16];

    put_int(v, "round", round);
    put(v, "phase", rules_phase(round));
    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < json_array_size(rounds); i++) {
        const json_t *ro = json_array_get(rounds, i);
        if (jint(ro, "round", 0) >= round || !json_object_get(ro, "summary"))
            continue;
        snprintf(num, sizeof(num), "%d", jint(ro, "round", 0));
        element(&b, "round_summary", "round", num, NULL, NULL,
                jstr(json_object_get(ro, "summary"), "summary", ""));
    }
    put(v, "round_summaries", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    const json_t *prev = round_obj(sp, round - 1);
    if (prev)
        contributions_xml(&b, prev);
    put(v, "recent_contributions", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    const json_t *ij = json_object_get(r, "interjections");
    for (size_t i = 0; i < json_array_size(ij); i++)
        bo1_buf_printf(&b, "%s%s", i ? "\n" : "", json_string_value(json_array_get(ij, i)));
    put(v, "interjections", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    const json_t *res = json_object_get(r, "research");
    if (res && *jstr(res, "findings", ""))
        bo1_buf_printf(&b, "Question: %s\nFindings (confidence %s): %s\nCaveats: %s",
                       jstr(res, "query", ""), jstr(res, "confidence", "low"),
                       jstr(res, "findings", ""), jstr(res, "caveats", ""));
    /* A moderator's words this round reach the members with the findings. */
    const json_t *mod = json_object_get(r, "intervention");
    if (mod && *jstr(mod, "contribution", ""))
        bo1_buf_printf(&b, "%sThe %s moderator said: %s", b.len ? "\n" : "",
                       jstr(mod, "persona", ""), jstr(mod, "contribution", ""));
    put(v, "research", bo1_buf_str(&b));
    put(v, "focus", jstr(json_object_get(r, "facilitator"), "focus", ""));
    bo1_buf_fini(&b);
}

static void metrics_text(const json_t *sp, int round, json_t *v)
{
    const json_t *m = json_object_get(round_obj(sp, round - 1), "metrics");
    char text[200] = "";

    if (m)
        snprintf(text, sizeof(text), "round %d: convergence %.2f, novelty %.2f, conflict %.2f",
                 round - 1, jnum(m, "convergence", 0), jnum(m, "novelty", 0),
                 jnum(m, "conflict", 0));
    put(v, "metrics", text);
}

static void votes_vars(const json_t *sp, json_t *v)
{
    const json_t *votes = json_object_get(sp, "votes");
    const json_t *vr = json_object_get(sp, "vote_result");
    struct bo1_buf b;
    char conf[16], text[4096];

    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < json_array_size(votes); i++) {
        const json_t *x = json_array_get(votes, i);
        if (jbool(x, "failed", 0)) {
            element(&b, "vote", "speaker", jstr(x, "persona", ""), "abstained", "yes",
                    "no usable vote");
            continue;
        }
        snprintf(conf, sizeof(conf), "%.2f", jnum(x, "confidence", 0));
        snprintf(text, sizeof(text), "%s — %s", jstr(x, "recommendation", ""),
                 jstr(x, "reasoning", ""));
        const char *attrs[] = {"speaker",    jstr(x, "persona", ""),
                               "confidence", conf,
                               "reversible", jbool(x, "reversible", 1) ? "yes" : "no",
                               NULL};
        bo1_prompt_append_element(&b, "vote", attrs, text);
    }
    put(v, "votes", bo1_buf_str(&b));
    bo1_buf_reset(&b);
    bo1_buf_printf(&b,
                   "outcome: %s; method: %s; winning share %.2f; dissent %.2f; mean "
                   "confidence %.2f; dissenters: ",
                   jstr(vr, "outcome", ""), jstr(vr, "method", ""), jnum(vr, "winning_share", 0),
                   jnum(vr, "dissent_share", 0), jnum(vr, "mean_confidence", 0));
    const json_t *dis = json_object_get(vr, "dissenters");
    for (size_t i = 0; i < json_array_size(dis); i++)
        bo1_buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(json_array_get(dis, i)));
    if (!json_array_size(dis))
        bo1_buf_puts(&b, "none");
    put(v, "aggregate", bo1_buf_str(&b));
    put(v, "disagree_and_commit", jbool(vr, "disagree_and_commit", 0) ? "yes" : "no");
    bo1_buf_fini(&b);
}

/* Engine notes for the synthesis: who sat out, why the board stopped, assumptions. */
static void notes_var(const struct bo1_session *s, const json_t *sp, json_t *v)
{
    struct bo1_buf b;
    const json_t *notes = json_object_get(s->st, "notes");
    const json_t *as = json_object_get(s->st, "assumptions");

    bo1_buf_init(&b, 0);
    if (sp && json_object_get(sp, "stop"))
        bo1_buf_printf(&b, "Stop rule: %s. ", jstr(json_object_get(sp, "stop"), "rule", ""));
    for (size_t i = 0; i < json_array_size(notes); i++)
        bo1_buf_printf(&b, "%s ", jstr(json_array_get(notes, i), "text", ""));
    for (size_t i = 0; i < json_array_size(as); i++)
        bo1_buf_printf(&b, "Assumption: %s ", json_string_value(json_array_get(as, i)));
    put(v, "notes", bo1_buf_str(&b));
    bo1_buf_fini(&b);
}

json_t *slot_vars(const struct bo1_session *s, const json_t *owner, const json_t *batch,
                  const json_t *slot)
{
    const char *task = jstr(slot, "task", "");
    const char *code = jstr(slot, "persona", "");
    int round = jint(batch, "round", 0);
    const struct bo1_engine_config *cfg = &s->e->cfg;
    json_t *v = json_object();
    int is_sp = owner != s->st;

    session_vars(s, v);
    if (is_sp)
        sub_problem_vars(s, owner, v);
    if (!strcmp(task, "select")) {
        const struct bo1_persona **vis = calloc(cfg->n_personas + 1, sizeof(*vis));
        size_t n = 0;
        for (size_t i = 0; vis && i < cfg->n_personas; i++)
            if (cfg->personas[i] && !cfg->personas[i]->hidden)
                vis[n++] = cfg->personas[i];
        char *xml = bo1_persona_list_xml(vis, n);
        put(v, "candidates", xml);
        free(xml);
        free(vis);
    } else if (!strcmp(task, "contribute")) {
        round_vars(owner, round, v);
        persona_vars(v, persona_by(s->e, code, 0), code);
    } else if (!strcmp(task, "vote")) {
        /* The vote comes after the last round: the whole discussion so far. */
        round_vars(owner, round + 1, v);
        put_int(v, "round", round);
        put(v, "phase", rules_phase(round));
        persona_vars(v, persona_by(s->e, code, 0), code);
    } else if (!strcmp(task, "moderate")) {
        const json_t *d = json_object_get(round_obj(owner, round), "facilitator");
        round_vars(owner, round, v);
        /* The moderator does not hear itself in the research slot. */
        const json_t *res = json_object_get(round_obj(owner, round), "research");
        put(v, "research", res ? jstr(res, "findings", "") : "");
        persona_vars(v, persona_by(s->e, code, 1), code);
        put(v, "intervention", jstr(d, "reason", "the facilitator asked for a moderator"));
    } else if (!strcmp(task, "facilitate")) {
        char lim[16];
        round_vars(owner, round, v);
        persona_vars(v, persona_by(s->e, "facilitator", 1), "facilitator");
        metrics_text(owner, round, v);
        put_int(v, "research_left", cfg->max_research - jint(owner, "research_count", 0));
        put_int(v, "clarify_left",
                jbool(json_object_get(s->st, "options"), "clarify", 1)
                    ? cfg->max_clarify - jint(s->st, "facilitator_questions", 0)
                    : 0);
        snprintf(lim, sizeof(lim), "%s", round > 2 ? "true" : "false");
        put(v, "vote_allowed", lim);
    } else if (!strcmp(task, "summarize")) {
        struct bo1_buf b;
        const json_t *r = round_obj(owner, round);
        const json_t *prev = round_obj(owner, round - 1);
        put_int(v, "round", round);
        bo1_buf_init(&b, 0);
        contributions_xml(&b, r);
        put(v, "contributions", bo1_buf_str(&b));
        bo1_buf_fini(&b);
        put(v, "previous_summary", jstr(json_object_get(prev, "summary"), "summary", ""));
    } else if (!strcmp(task, "research")) {
        persona_vars(v, persona_by(s->e, "researcher", 1), "researcher");
        put(v, "research_query",
            jstr(json_object_get(round_obj(owner, round), "facilitator"), "research_query", ""));
    } else if (!strcmp(task, "synthesize")) {
        round_vars(owner, round + 1, v);
        votes_vars(owner, v);
        notes_var(s, owner, v);
    } else if (!strcmp(task, "synthesize_final")) {
        struct bo1_buf b;
        const json_t *sps = json_object_get(s->st, "sub_problems");
        bo1_buf_init(&b, 0);
        for (size_t i = 0; i < json_array_size(sps); i++) {
            const json_t *sp = json_array_get(sps, i);
            const json_t *syn = json_object_get(sp, "synthesis");
            char text[8192];
            snprintf(text, sizeof(text),
                     "Goal: %s\nRecommendation: %s\nSummary: %s\nRationale: %s\nConfidence: %s",
                     jstr(sp, "goal", ""), jstr(syn, "recommendation", ""),
                     jstr(syn, "executive_summary", ""), jstr(syn, "rationale", ""),
                     jstr(syn, "confidence", ""));
            element(&b, "sub_problem_synthesis", "id", jstr(sp, "id", ""), NULL, NULL, text);
        }
        put(v, "sub_syntheses", bo1_buf_str(&b));
        bo1_buf_fini(&b);
        notes_var(s, NULL, v);
    }
    if (jint(slot, "attempt", 0) > 0 || !strcmp(jstr(slot, "tier", ""), "fast_fallback")) {
        char note[700];
        snprintf(note, sizeof(note),
                 "Your previous answer could not be used (%s). Answer again, exactly in the "
                 "requested format.",
                 jstr(slot, "error", "off-format"));
        put(v, "retry_note", note);
    }
    return v;
}
