/* The report as Markdown, for a person: the recommendation first, then why, then the vote
 * and dissent, risks and steps, why the board stopped, assumptions and the disclaimer; the
 * transcript, costs and timings come last. Built from bo1_report_json() so both formats
 * agree. Model and user text is escaped (no raw HTML, no broken tables). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bo1/report.h"
#include "export_internal.h"

/* Text in running prose: HTML-significant characters escaped. */
static void text(struct bo1_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            bo1_buf_puts(b, "&lt;");
            break;
        case '>':
            bo1_buf_puts(b, "&gt;");
            break;
        case '&':
            bo1_buf_puts(b, "&amp;");
            break;
        default:
            bo1_buf_append(b, s, 1);
        }
    }
}

/* Text inside a table cell: also no pipes or line breaks. */
static void cell(struct bo1_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            bo1_buf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            bo1_buf_puts(b, " ");
        else if (*s == '<')
            bo1_buf_puts(b, "&lt;");
        else if (*s == '>')
            bo1_buf_puts(b, "&gt;");
        else if (*s == '&')
            bo1_buf_puts(b, "&amp;");
        else
            bo1_buf_append(b, s, 1);
    }
}

static void bullets(struct bo1_buf *b, const json_t *arr, const char *none)
{
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        if (!s && json_is_object(v))
            s = rj_str(v, "text", rj_str(v, "description", NULL));
        if (!s || !*s)
            continue;
        bo1_buf_puts(b, "- ");
        text(b, s);
        bo1_buf_puts(b, "\n");
        n++;
    }
    if (n == 0 && none)
        bo1_buf_printf(b, "_%s_\n", none);
    bo1_buf_puts(b, "\n");
}

static void numbered(struct bo1_buf *b, const json_t *arr, const char *none)
{
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !*s)
            continue;
        bo1_buf_printf(b, "%zu. ", ++n);
        text(b, s);
        bo1_buf_puts(b, "\n");
    }
    if (n == 0 && none)
        bo1_buf_printf(b, "_%s_\n", none);
    bo1_buf_puts(b, "\n");
}

static void timestamp(struct bo1_buf *b, double t)
{
    char out[40];
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0) {
        bo1_buf_puts(b, "—");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(out, sizeof(out), "%Y-%m-%d %H:%M:%S UTC", &tm);
    bo1_buf_puts(b, out);
}

static const char *name_in(const json_t *sub, const char *code)
{
    const json_t *board = json_object_get(sub, "board");
    for (size_t i = 0; i < json_array_size(board); i++)
        if (!strcmp(rj_str(json_array_get(board, i), "code", ""), code))
            return rj_str(json_array_get(board, i), "name", code);
    return code;
}

static void vote_section(struct bo1_buf *b, const json_t *r)
{
    const json_t *subs = json_object_get(r, "sub_problems");
    size_t n = json_array_size(subs);

    bo1_buf_puts(b, "## How the board voted\n\n");
    for (size_t i = 0; i < n; i++) {
        const json_t *sp = json_array_get(subs, i);
        const json_t *vr = json_object_get(sp, "vote_result");
        const json_t *votes = json_object_get(sp, "votes");
        if (n > 1) {
            bo1_buf_printf(b, "### %s: ", rj_str(sp, "id", ""));
            text(b, rj_str(sp, "goal", ""));
            bo1_buf_puts(b, "\n\n");
        }
        if (!json_is_object(vr)) {
            bo1_buf_puts(b, "_No vote was held._\n\n");
            continue;
        }
        bo1_buf_puts(b, "| Member | Recommendation | Confidence | Conditions |\n");
        bo1_buf_puts(b, "|---|---|---|---|\n");
        for (size_t k = 0; k < json_array_size(votes); k++) {
            const json_t *v = json_array_get(votes, k);
            const char *code = rj_str(v, "persona", "");
            bo1_buf_puts(b, "| ");
            cell(b, name_in(sp, code));
            bo1_buf_puts(b, " | ");
            if (json_is_true(json_object_get(v, "failed"))) {
                bo1_buf_puts(b, "_abstained (no usable vote)_ | — | — |\n");
                continue;
            }
            cell(b, rj_str(v, "recommendation", ""));
            bo1_buf_printf(b, " | %.2f | ", rj_num(v, "confidence", 0));
            const json_t *c = json_object_get(v, "conditions");
            for (size_t q = 0; q < json_array_size(c); q++) {
                if (q)
                    bo1_buf_puts(b, "; ");
                cell(b, json_string_value(json_array_get(c, q)));
            }
            bo1_buf_puts(b, " |\n");
        }
        bo1_buf_puts(b, "\n**Outcome:** ");
        text(b, rj_str(vr, "outcome", ""));
        char door[80] = "";
        if (json_is_true(json_object_get(vr, "one_way_door")))
            snprintf(door, sizeof(door), "; treated as a one-way-door decision (needs %.0f%%)",
                     100 * rj_num(vr, "one_way_door_share", 0.75));
        bo1_buf_printf(b,
                       " — method: %s; winning share %.0f%%; dissent %.0f%%; mean confidence "
                       "%.2f (range %.2f–%.2f)%s.\n\n",
                       rj_str(vr, "method", ""), 100 * rj_num(vr, "winning_share", 0),
                       100 * rj_num(vr, "dissent_share", 0), rj_num(vr, "mean_confidence", 0),
                       rj_num(vr, "confidence_min", 0), rj_num(vr, "confidence_max", 0), door);
        const json_t *split = json_object_get(vr, "split");
        if (json_array_size(split) > 1) {
            bo1_buf_puts(b, "Split: ");
            for (size_t q = 0; q < json_array_size(split); q++) {
                const json_t *o = json_array_get(split, q);
                bo1_buf_puts(b, q ? "; " : "");
                text(b, rj_str(o, "recommendation", ""));
                bo1_buf_printf(b, " (%d)", (int)rj_num(o, "votes", 0));
            }
            bo1_buf_puts(b, ".\n\n");
        }
    }
}

static void dissent_section(struct bo1_buf *b, const json_t *r)
{
    const json_t *subs = json_object_get(r, "sub_problems");
    int any = 0;

    bo1_buf_puts(b, "## Dissent\n\n");
    for (size_t i = 0; i < json_array_size(subs); i++) {
        const json_t *sp = json_array_get(subs, i);
        const json_t *vr = json_object_get(sp, "vote_result");
        const json_t *dis = json_object_get(vr, "dissenters");
        const json_t *syn = json_object_get(sp, "synthesis");
        const char *dc = rj_str(syn, "disagree_and_commit", "");
        if (json_array_size(dis) > 0) {
            any = 1;
            bo1_buf_puts(b, "- ");
            if (json_array_size(subs) > 1)
                bo1_buf_printf(b, "%s: ", rj_str(sp, "id", ""));
            bo1_buf_puts(b, "dissenting members: ");
            for (size_t k = 0; k < json_array_size(dis); k++) {
                const char *code = json_string_value(json_array_get(dis, k));
                const json_t *votes = json_object_get(sp, "votes");
                bo1_buf_puts(b, k ? "; " : "");
                text(b, name_in(sp, code ? code : ""));
                for (size_t v = 0; v < json_array_size(votes); v++)
                    if (!strcmp(rj_str(json_array_get(votes, v), "persona", ""),
                                code ? code : "")) {
                        bo1_buf_puts(b, " (\"");
                        text(b, rj_str(json_array_get(votes, v), "recommendation", ""));
                        bo1_buf_puts(b, "\")");
                    }
            }
            bo1_buf_puts(b, "\n");
        }
        if (*dc) {
            any = 1;
            bo1_buf_puts(b, "\n> **");
            text(b, dc);
            bo1_buf_puts(b, "**\n\n");
        }
    }
    const json_t *d = json_object_get(r, "dissent");
    if (json_array_size(d) > 0) {
        any = 1;
        bullets(b, d, NULL);
    }
    if (!any)
        bo1_buf_puts(b, "_No member dissented._\n\n");
    else
        bo1_buf_puts(b, "\n");
}

static void stop_section(struct bo1_buf *b, const json_t *r)
{
    const json_t *stops = json_object_get(r, "why_stopped");

    bo1_buf_puts(b, "## Why the board stopped\n\n");
    if (json_array_size(stops) == 0)
        bo1_buf_puts(b, "_The board did not reach a stopping point._\n");
    for (size_t i = 0; i < json_array_size(stops); i++) {
        const json_t *s = json_array_get(stops, i);
        bo1_buf_printf(b, "- **%s** (%s): ", rj_str(s, "sub_problem", ""), rj_str(s, "rule", ""));
        text(b, rj_str(s, "explanation", ""));
        bo1_buf_puts(b, "\n");
    }
    bo1_buf_puts(b, "\n");
}

static void transcript_section(struct bo1_buf *b, const json_t *r)
{
    const json_t *t = json_object_get(r, "transcript");
    const json_t *subs = json_object_get(r, "sub_problems");
    const char *last_sp = "";

    bo1_buf_puts(b, "## Transcript\n\n");
    for (size_t i = 0; i < json_array_size(t); i++) {
        const json_t *ro = json_array_get(t, i);
        const char *spid = rj_str(ro, "sub_problem", "");
        const json_t *sp = NULL;
        for (size_t k = 0; k < json_array_size(subs); k++)
            if (!strcmp(rj_str(json_array_get(subs, k), "id", ""), spid))
                sp = json_array_get(subs, k);
        if (strcmp(last_sp, spid)) {
            bo1_buf_printf(b, "### Sub-problem %s: ", spid);
            text(b, rj_str(sp, "goal", ""));
            bo1_buf_puts(b, "\n\n");
            last_sp = spid;
        }
        bo1_buf_printf(b, "#### Round %d (%s)\n\n", (int)rj_num(ro, "round", 0),
                       rj_str(ro, "phase", ""));
        const json_t *fac = json_object_get(ro, "facilitator");
        if (fac) {
            bo1_buf_printf(b, "_Facilitator: %s", rj_str(fac, "action", ""));
            if (*rj_str(fac, "reason", "")) {
                bo1_buf_puts(b, " — ");
                text(b, rj_str(fac, "reason", ""));
            }
            if (*rj_str(fac, "overridden", ""))
                bo1_buf_printf(b, " (asked for %s; overridden: %s)", rj_str(fac, "requested", ""),
                               rj_str(fac, "overridden", ""));
            bo1_buf_puts(b, "_\n\n");
        }
        const json_t *ij = json_object_get(ro, "interjections");
        for (size_t k = 0; k < json_array_size(ij); k++) {
            bo1_buf_puts(b, "> **You:** ");
            text(b, json_string_value(json_array_get(ij, k)));
            bo1_buf_puts(b, "\n\n");
        }
        const json_t *res = json_object_get(ro, "research");
        if (res) {
            bo1_buf_puts(b, "**Research** (");
            text(b, rj_str(res, "query", ""));
            bo1_buf_printf(b, ", confidence %s): ", rj_str(res, "confidence", ""));
            text(b, rj_str(res, "findings", "no findings"));
            bo1_buf_puts(b, "\n\n");
        }
        const json_t *mod = json_object_get(ro, "intervention");
        if (mod) {
            bo1_buf_printf(b, "**Moderator (%s):** ", rj_str(mod, "persona", ""));
            text(b, rj_str(mod, "contribution", ""));
            bo1_buf_puts(b, "\n\n");
        }
        const json_t *cs = json_object_get(ro, "contributions");
        for (size_t k = 0; k < json_array_size(cs); k++) {
            const json_t *c = json_array_get(cs, k);
            bo1_buf_puts(b, "**");
            text(b, rj_str(c, "name", ""));
            bo1_buf_puts(b, ":** ");
            text(b, rj_str(c, "contribution", ""));
            bo1_buf_puts(b, "\n\n");
        }
        const json_t *so = json_object_get(ro, "sat_out");
        for (size_t k = 0; k < json_array_size(so); k++) {
            const char *code = rj_str(json_array_get(so, k), "persona", "");
            bo1_buf_puts(b, "_");
            text(b, name_in(sp, code));
            bo1_buf_puts(b, " sat this round out: no usable answer after a retry._\n\n");
        }
        const json_t *sum = json_object_get(ro, "summary");
        if (sum) {
            bo1_buf_puts(b, "_Round summary:_ ");
            text(b, rj_str(sum, "summary", ""));
            bo1_buf_puts(b, "\n\n");
        }
        const json_t *m = json_object_get(ro, "metrics");
        if (m)
            bo1_buf_printf(b, "_Metrics: convergence %.2f, novelty %.2f, conflict %.2f._\n\n",
                           rj_num(m, "convergence", 0), rj_num(m, "novelty", 0),
                           rj_num(m, "conflict", 0));
    }
}

static void cost_rows(struct bo1_buf *b, const char *title, const json_t *grp)
{
    const char *key;
    json_t *row;

    if (json_object_size(grp) == 0)
        return;
    bo1_buf_printf(b, "| %s | Calls | Cost (USD) | Input | Output | Cache write | Cache read |\n",
                   title);
    bo1_buf_puts(b, "|---|---|---|---|---|---|---|\n");
    json_object_foreach((json_t *)grp, key, row)
    {
        bo1_buf_puts(b, "| ");
        cell(b, key);
        bo1_buf_printf(b, " | %d | %.4f | %.0f | %.0f | %.0f | %.0f |\n",
                       (int)rj_num(row, "calls", 0), rj_num(row, "cost_usd", 0),
                       rj_num(row, "input", 0), rj_num(row, "output", 0),
                       rj_num(row, "cache_write", 0), rj_num(row, "cache_read", 0));
    }
    bo1_buf_puts(b, "\n");
}

static enum bo1_status render(const json_t *r, struct bo1_buf *b)
{
    const json_t *subs = json_object_get(r, "sub_problems");

    bo1_buf_puts(b, "# ");
    text(b, rj_str(r, "title", "Board of One report"));
    bo1_buf_puts(b, "\n\n");
    if (json_is_true(json_object_get(r, "simulated"))) {
        bo1_buf_puts(b, "> **");
        text(b, rj_str(r, "simulated_note", ""));
        bo1_buf_puts(b, "**\n\n");
    }
    bo1_buf_printf(b, "Session `%s` · status **%s** · confidence **%s**",
                   rj_str(r, "session_id", ""), rj_str(r, "status", ""),
                   rj_str(r, "confidence", ""));
    if (json_is_true(json_object_get(r, "halted")))
        bo1_buf_puts(b, " · **stopped early: this report uses what existed**");
    bo1_buf_puts(b, "\n\n");
    if (json_is_object(json_object_get(r, "error"))) {
        bo1_buf_puts(b, "> **The session failed:** ");
        text(b, rj_str(json_object_get(r, "error"), "message", ""));
        bo1_buf_puts(b, "\n\n");
    }

    bo1_buf_puts(b, "## Recommendation\n\n**");
    text(b, rj_str(r, "recommendation", ""));
    bo1_buf_puts(b, "**\n\n");
    if (json_array_size(subs) > 1) {
        for (size_t i = 0; i < json_array_size(subs); i++) {
            const json_t *sp = json_array_get(subs, i);
            bo1_buf_printf(b, "- **%s** — ", rj_str(sp, "id", ""));
            text(b, rj_str(sp, "goal", ""));
            bo1_buf_puts(b, ": ");
            text(b, rj_str(json_object_get(sp, "synthesis"), "recommendation", "(none)"));
            bo1_buf_puts(b, "\n");
        }
        bo1_buf_puts(b, "\n");
    }
    bo1_buf_puts(b, "## Executive summary\n\n");
    text(b, rj_str(r, "executive_summary", ""));
    bo1_buf_puts(b, "\n\n");
    if (*rj_str(r, "rationale", "")) {
        bo1_buf_puts(b, "### Rationale\n\n");
        text(b, rj_str(r, "rationale", ""));
        bo1_buf_puts(b, "\n\n");
    }
    vote_section(b, r);
    dissent_section(b, r);
    bo1_buf_puts(b, "## Risks\n\n");
    bullets(b, json_object_get(r, "risks"), "None recorded.");
    bo1_buf_puts(b, "## Conditions\n\n");
    bullets(b, json_object_get(r, "conditions"), "None recorded.");
    bo1_buf_puts(b, "## Implementation steps\n\n");
    numbered(b, json_object_get(r, "implementation_steps"), "None recorded.");
    if (json_array_size(json_object_get(r, "roadmap")) > 0) {
        bo1_buf_puts(b, "### Roadmap\n\n");
        numbered(b, json_object_get(r, "roadmap"), NULL);
    }
    if (json_array_size(json_object_get(r, "conflicts")) > 0) {
        bo1_buf_puts(b, "### Conflicts between sub-problems\n\n");
        bullets(b, json_object_get(r, "conflicts"), NULL);
    }
    bo1_buf_puts(b, "## Open questions\n\n");
    bullets(b, json_object_get(r, "open_questions"), "None recorded.");
    stop_section(b, r);

    bo1_buf_puts(b, "## Assumptions and clarifications\n\n");
    const json_t *cl = json_object_get(r, "clarifications");
    for (size_t i = 0; i < json_array_size(cl); i++) {
        const json_t *q = json_array_get(cl, i);
        bo1_buf_puts(b, "- **Q:** ");
        text(b, rj_str(q, "question", ""));
        bo1_buf_puts(b, " — **A:** ");
        text(b, rj_str(q, "answer", "(not answered)"));
        bo1_buf_puts(b, "\n");
    }
    if (json_array_size(cl))
        bo1_buf_puts(b, "\n");
    bullets(b, json_object_get(r, "assumptions"),
            json_array_size(cl) ? NULL
                                : "The board made no assumptions beyond the problem as stated.");

    const json_t *notes = json_object_get(r, "notes");
    const json_t *rep = json_object_get(json_object_get(r, "decomposition"), "repairs");
    if (json_array_size(notes) || json_array_size(rep)) {
        bo1_buf_puts(b, "## Process notes\n\n");
        bullets(b, notes, NULL);
        for (size_t i = 0; i < json_array_size(rep); i++) {
            const json_t *x = json_array_get(rep, i);
            bo1_buf_printf(b, "- Decomposition repaired: %s (sub-problem ", rj_str(x, "kind", ""));
            text(b, rj_str(x, "sub_problem", ""));
            bo1_buf_puts(b, ", dependency ");
            text(b, rj_str(x, "dependency", ""));
            bo1_buf_puts(b, ")\n");
        }
        bo1_buf_puts(b, "\n");
    }
    bo1_buf_puts(b, "## Disclaimer\n\n_");
    text(b, rj_str(r, "disclaimer", ""));
    bo1_buf_puts(b, "_\n\n");

    bo1_buf_puts(b, "## Sub-problems and boards\n\n");
    for (size_t i = 0; i < json_array_size(subs); i++) {
        const json_t *sp = json_array_get(subs, i);
        const json_t *board = json_object_get(sp, "board");
        const json_t *deps = json_object_get(sp, "dependencies");
        bo1_buf_printf(b, "- **%s** (complexity %d, %d rounds): ", rj_str(sp, "id", ""),
                       (int)rj_num(sp, "complexity", 0), (int)rj_num(sp, "rounds", 0));
        text(b, rj_str(sp, "goal", ""));
        if (json_array_size(deps)) {
            bo1_buf_puts(b, " — depends on ");
            for (size_t k = 0; k < json_array_size(deps); k++)
                bo1_buf_printf(b, "%s%s", k ? ", " : "",
                               json_string_value(json_array_get(deps, k)));
        }
        bo1_buf_puts(b, ". Board: ");
        for (size_t k = 0; k < json_array_size(board); k++) {
            bo1_buf_puts(b, k ? ", " : "");
            text(b, rj_str(json_array_get(board, k), "name", ""));
        }
        if (json_is_true(json_object_get(sp, "board_fallback")))
            bo1_buf_puts(b, " (fallback trio)");
        bo1_buf_puts(b, ".\n");
    }
    bo1_buf_puts(b, "\n");

    transcript_section(b, r);

    const json_t *costs = json_object_get(r, "costs");
    bo1_buf_puts(b, "## Costs\n\n");
    bo1_buf_printf(b,
                   "Total **$%.4f** of a $%.2f budget over %d model calls; tokens: %.0f in, %.0f "
                   "out, %.0f cache write, %.0f cache read.\n\n",
                   rj_num(costs, "total_usd", 0), rj_num(costs, "budget_usd", 0),
                   (int)rj_num(costs, "calls", 0), rj_num(costs, "input", 0),
                   rj_num(costs, "output", 0), rj_num(costs, "cache_write", 0),
                   rj_num(costs, "cache_read", 0));
    cost_rows(b, "Phase", json_object_get(costs, "by_phase"));
    cost_rows(b, "Sub-problem", json_object_get(costs, "by_sub_problem"));
    cost_rows(b, "Persona", json_object_get(costs, "by_persona"));
    cost_rows(b, "Model", json_object_get(costs, "by_model"));

    const json_t *tm = json_object_get(r, "timings");
    bo1_buf_puts(b, "## Timings\n\n- Created: ");
    timestamp(b, rj_num(tm, "created_at", 0));
    bo1_buf_puts(b, "\n- Started: ");
    timestamp(b, rj_num(tm, "started_at", 0));
    bo1_buf_puts(b, "\n- Finished: ");
    timestamp(b, rj_num(tm, "finished_at", 0));
    bo1_buf_printf(b, "\n- Duration: %.1f s (of which %.1f s paused or waiting for input)\n",
                   rj_num(tm, "duration_s", 0), rj_num(tm, "waited_s", 0));
    const json_t *models = json_object_get(r, "models");
    if (*rj_str(models, "fast", "") || *rj_str(models, "deep", ""))
        bo1_buf_printf(b, "- Models: fast `%s`, deep `%s`\n", rj_str(models, "fast", "default"),
                       rj_str(models, "deep", "default"));
    return BO1_OK;
}

enum bo1_status bo1_report_render_md(const json_t *state, struct bo1_buf *out)
{
    json_t *r = report_json_shared(state);
    enum bo1_status st;

    if (!r)
        return json_is_object(state) ? BO1_NO_MEMORY : BO1_BAD_FIELD;
    /* Render into a private buffer and append once, so a size limit on @out either takes
     * the whole report or leaves @out unchanged. */
    struct bo1_buf tmp;
    bo1_buf_init(&tmp, 0);
    st = render(r, &tmp);
    json_decref(r);
    if (st == BO1_OK)
        st = bo1_buf_append(out, bo1_buf_str(&tmp), tmp.len);
    bo1_buf_fini(&tmp);
    return st;
}
