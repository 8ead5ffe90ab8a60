/* test_engine_fake.h - fake effects for the engine's unit tests: a deterministic model that
 * answers every MODEL_IO task from the prompt alone (so a resumed session gets the same
 * answers), failure injection per task/persona/tier, an optional asynchronous mode that
 * queues answers until the test delivers them, a settable clock, and recorders for
 * checkpoints and events. Header-only: each test program includes it once. */
#pragma once

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/engine_internal.h"
#include "bo1/engine.h"
#include "bo1/report.h"

/* ---- a small persona catalog ---- */
static const char *const t_strat[] = {"strategy", "positioning", "competition"};
static const char *const t_cfo[] = {"finance", "cash flow", "pricing"};
static const char *const t_ops[] = {"operations", "hiring", "process"};
static const char *const t_growth[] = {"growth", "marketing", "acquisition"};
static const char *const t_sales[] = {"sales", "pipeline", "acquisition"};
static const char *const t_cto[] = {"technology", "architecture", "security"};
static const char *const t_legal[] = {"legal", "contracts", "compliance"};
static const char *const t_pm[] = {"product", "roadmap", "discovery"};
static const char *const t_cfo2[] = {"finance", "cash flow", "fundraising"}; /* overlaps cfo */
static const char *const t_data[] = {"data", "analytics", "experiments"};
static const char *const t_hidden[] = {"moderation"};

#define P(c, n, r, cat, sty, id, tg, nt, h)                                                        \
    {                                                                                              \
        .code = c, .name = n, .role = r, .category = cat, .style = sty, .identity = id,            \
        .tags = tg, .n_tags = nt, .hidden = h                                                      \
    }
static const struct bo1_persona fake_personas[] = {
    P("strategist", "Sam Strategist", "Strategy adviser", "strategy", "direct",
      "You see the "
      "whole chessboard.",
      t_strat, 3, 0),
    P("cfo", "Casey CFO", "Chief financial officer", "finance", "numbers first",
      "You guard the cash.", t_cfo, 3, 0),
    P("coo", "Olivia Ops", "Operations lead", "operations", "practical", "You make it run.", t_ops,
      3, 0),
    P("growth", "Gus Growth", "Growth marketer", "marketing", "energetic", "You find users.",
      t_growth, 3, 0),
    P("sales", "Sally Sales", "Head of sales", "sales", "persuasive", "You close deals.", t_sales,
      3, 0),
    P("cto", "Theo CTO", "Chief technology officer", "technology", "precise", "You build systems.",
      t_cto, 3, 0),
    P("counsel", "Lee Counsel", "General counsel", "legal", "careful", "You limit risk.", t_legal,
      3, 0),
    P("pm", "Pat PM", "Product manager", "product", "curious", "You find the need.", t_pm, 3, 0),
    P("treasurer", "Terry Treasurer", "Treasurer", "finance", "cautious", "You fund things.",
      t_cfo2, 3, 0),
    P("analyst", "Dana Data", "Data analyst", "data", "sceptical", "You measure.", t_data, 3, 0),
    P("contrarian", "The Contrarian", "contrarian moderator", "moderation", "provocative",
      "You argue the other side.", t_hidden, 1, 1),
    P("skeptic", "The Skeptic", "skeptic moderator", "moderation", "probing", "You doubt.",
      t_hidden, 1, 1),
    P("optimist", "The Optimist", "optimist moderator", "moderation", "warm", "You hope.", t_hidden,
      1, 1),
    P("facilitator", "The Facilitator", "facilitator", "moderation", "neutral", "You guide.",
      t_hidden, 1, 1),
};
#define N_FAKE_PERSONAS (sizeof(fake_personas) / sizeof(fake_personas[0]))
static const struct bo1_persona *fake_persona_ptrs[N_FAKE_PERSONAS];

/* ---- the fake ---- */
struct queued {
    bo1_llm_done_cb *cb;
    void *arg;
    char *text;
    char *stop_reason;
    enum bo1_status status;
    double cost;
};

struct fake {
    /* behaviour */
    int async;                     /* queue answers until fake_deliver */
    double cost_per_call;          /* USD */
    double clock;                  /* now_s */
    int converge;                  /* every contribution identical */
    int deadlock;                  /* each member repeats its own, disjoint, text */
    int complexity;                /* decompose complexity (default 2) */
    const char *fail_persona;      /* its contribute/vote calls always fail */
    const char *fail_persona2;     /* a second one */
    const char *bad_always;        /* task whose answers are always off-format */
    const char *bad_once;          /* task whose first attempt is off-format */
    const char *truncate_once;     /* task whose first attempt stops at max_tokens */
    int deep_fail_synthesis;       /* synthesize* on the deep tier fails */
    int all_synthesis_fail;        /* synthesize* fails on every tier */
    const char *decompose_json;    /* answer for decompose, if set */
    const char *select_json;       /* answer for select, if set */
    const char *facilitate[12];    /* action script by round (index = round), else continue */
    const char *vote_for[16][2];   /* persona -> recommendation */
    double vote_conf;              /* default confidence */
    int refuse_calls;              /* call_model returns an error synchronously */
    int use_embed;                 /* provide an embed effect (local vectors, dim 64) */
    int cost_contribute_only;      /* only contribute calls cost money */
    int spend_limit;               /* every call fails with SPEND_LIMIT */
    int outage_from;               /* provider outage from this call (1-based; 0 = never) ... */
    double outage_until;           /* ... while clock < this: the call fails at once (sync) */
    enum bo1_status outage_status; /* with this status (BO1_OK = CIRCUIT_OPEN) */
    double no_progress_s;          /* engine limit (0 = the default) */
    /* records */
    int attempted; /* calls made, outage refusals included */
    int refused;   /* calls failed by the outage (not in calls) */
    int calls;
    int calls_by_task[16];
    json_t *prompts;     /* array of {task, tier, user, system} */
    json_t *events;      /* array of {type, data} */
    json_t *checkpoints; /* array of states */
    struct queued q[256];
    size_t nq;
};

static const char *const fake_tasks[] = {"clarify",  "decompose",  "select",           "contribute",
                                         "moderate", "facilitate", "summarize",        "research",
                                         "vote",     "synthesize", "synthesize_final", NULL};

__attribute__((unused)) static int task_index(const char *t)
{
    for (int i = 0; fake_tasks[i]; i++)
        if (!strcmp(fake_tasks[i], t))
            return i;
    return 15;
}

static int marker(const char *text, const char *name, int dflt)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "[fake:%s=", name);
    p = text ? strstr(text, pat) : NULL;
    return p ? atoi(p + strlen(pat)) : dflt;
}

__attribute__((unused)) static int prompt_round(const char *user)
{
    const char *p = strstr(user, "<round>");
    return p ? atoi(p + 7) : 0;
}

static void prompt_attr(const char *text, const char *prefix, char *out, size_t cap)
{
    const char *p = strstr(text, prefix);
    size_t k = 0;

    out[0] = 0;
    if (!p)
        return;
    p += strlen(prefix);
    while (*p && *p != '"' && k + 1 < cap)
        out[k++] = *p++;
    out[k] = 0;
}

static char *fake_answer(struct fake *f, const struct bo1_llm_request *rq, const char *all,
                         const char *user)
{
    const char *t = rq->task;
    char buf[4096];
    char who[64];
    int round = prompt_round(user);
    int retry = strstr(user, "could not be used") != NULL;

    prompt_attr(user, "<speaker code=\"", who, sizeof(who));
    if (!who[0])
        prompt_attr(user, "<voter code=\"", who, sizeof(who));
    if (f->bad_always && !strcmp(f->bad_always, t))
        return strdup("I would rather not answer in that format.");
    if (f->bad_once && !strcmp(f->bad_once, t) && !retry)
        return strdup("Sure! Here are my thoughts, in prose only.");
    if (!strcmp(t, "clarify")) {
        int n = marker(all, "clarify", 0);
        strcpy(buf, "```json\n{\"questions\":[");
        for (int i = 0; i < n; i++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
                     "%s{\"id\":\"q%d\",\"question\":\"What is constraint %d?\",\"why\":\"it "
                     "matters\"}",
                     i ? "," : "", i + 1, i + 1);
        strcat(buf, "]}\n```");
        return strdup(buf);
    }
    if (!strcmp(t, "decompose")) {
        int n = marker(all, "subproblems", 1);
        if (f->decompose_json)
            return strdup(f->decompose_json);
        strcpy(buf, "{\"analysis\":\"fake analysis\",\"is_atomic\":false,\"sub_problems\":[");
        for (int i = 0; i < n; i++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
                     "%s{\"id\":\"sp%d\",\"goal\":\"Goal number %d\",\"context\":\"ctx\","
                     "\"complexity\":%d,\"dependencies\":[%s]}",
                     i ? "," : "", i + 1, i + 1, f->complexity ? f->complexity : 2,
                     (n > 1 && i == n - 1) ? "\"sp1\"" : "");
        strcat(buf, "]}");
        return strdup(buf);
    }
    if (!strcmp(t, "select")) {
        if (f->select_json)
            return strdup(f->select_json);
        return strdup("{\"personas\":[{\"code\":\"strategist\",\"rationale\":\"s\"},"
                      "{\"code\":\"cfo\",\"rationale\":\"f\"},{\"code\":\"coo\","
                      "\"rationale\":\"o\"},{\"code\":\"growth\",\"rationale\":\"g\"}],"
                      "\"coverage\":\"strategy, finance, operations, growth\"}");
    }
    if (!strcmp(t, "contribute") || !strcmp(t, "moderate")) {
        if (f->converge)
            snprintf(buf, sizeof(buf),
                     "<thinking>t</thinking><contribution>We all agree the company should "
                     "hire a senior sales lead and keep pricing steady.</contribution>"
                     "<summary>agree</summary>");
        else if (f->deadlock)
            snprintf(buf, sizeof(buf),
                     "<thinking>t</thinking><contribution>%s %s %s %s insists "
                     "alone</contribution><summary>%s view</summary>",
                     who, who, who, who, who);
        else
            snprintf(buf, sizeof(buf),
                     "<THINKING>private %s</THINKING>\n<contribution>As %s in round %d I "
                     "weigh option%d carefully: topic%d%s evidence%d%s risk%d%s.</contribution>"
                     "<summary>%s round %d</summary>",
                     who, who, round, round, round, who, round * 7, who, round * 3, who, who,
                     round);
        return strdup(buf);
    }
    if (!strcmp(t, "facilitate")) {
        const char *a = round < 12 && f->facilitate[round] ? f->facilitate[round] : "continue";
        snprintf(buf, sizeof(buf),
                 "{\"action\":\"%s\",\"reason\":\"scripted\",\"moderator\":\"skeptic\","
                 "\"research_query\":\"market size\",\"question\":\"What is your runway?\","
                 "\"focus\":\"costs\"}",
                 a);
        return strdup(buf);
    }
    if (!strcmp(t, "summarize") && f->deadlock)
        return strdup("{\"summary\":\"Nobody moved.\",\"agreements\":[],"
                      "\"disagreements\":[\"everything\",\"still\"],\"open_questions\":[]}");
    if (!strcmp(t, "summarize"))
        return strdup("{\"summary\":\"The board discussed.\",\"agreements\":[\"a\"],"
                      "\"disagreements\":[],\"open_questions\":[\"q?\"],}");
    if (!strcmp(t, "research"))
        return strdup("{\"findings\":\"The market is large.\",\"confidence\":\"medium\","
                      "\"caveats\":\"from memory\"}");
    if (!strcmp(t, "vote")) {
        const char *rec = "Hire a senior sales lead";
        for (int i = 0; i < 16 && f->vote_for[i][0]; i++)
            if (!strcmp(f->vote_for[i][0], who))
                rec = f->vote_for[i][1];
        snprintf(buf, sizeof(buf),
                 "{\"recommendation\":\"%s\",\"reasoning\":\"because\",\"confidence\":\"%.2f\","
                 "\"conditions\":[\"cash above 6 months\"],\"reversible\":true}",
                 rec, f->vote_conf > 0 ? f->vote_conf : 0.8);
        return strdup(buf);
    }
    if (!strcmp(t, "synthesize") || !strcmp(t, "synthesize_final"))
        return strdup("{\"executive_summary\":\"The board recommends hiring.\","
                      "\"recommendation\":\"Hire a senior sales lead\",\"rationale\":\"r\","
                      "\"vote_breakdown\":\"most\",\"dissent\":[\"one\"],\"risks\":[\"burn\"],"
                      "\"conditions\":[\"c\"],\"implementation_steps\":[\"step 1\",\"step 2\"],"
                      "\"confidence\":\"high\",\"open_questions\":[\"oq\"],\"conflicts\":[],"
                      "\"roadmap\":[\"r1\"]}");
    return strdup("{}");
}

static enum bo1_status fake_call(void *ctx, const struct bo1_llm_request *rq, bo1_llm_done_cb *cb,
                                 void *arg)
{
    struct fake *f = ctx;
    char all[65536] = "";
    const char *user = rq->messages[0].content;
    char who[64];
    struct queued qd = {.cb = cb, .arg = arg, .status = BO1_OK, .cost = f->cost_per_call};

    if (f->refuse_calls)
        return BO1_UNAVAILABLE;
    f->attempted++;
    if (f->outage_from && f->attempted >= f->outage_from && f->clock < f->outage_until) {
        enum bo1_status os = f->outage_status != BO1_OK ? f->outage_status : BO1_CIRCUIT_OPEN;
        struct bo1_llm_response r = {.status = os,
                                     .text = "",
                                     .stop_reason = "",
                                     .model = "fake-model",
                                     .provider = "fake",
                                     .attempts = os == BO1_CIRCUIT_OPEN ? 0 : 3,
                                     .error_message = "fake provider is down"};
        ck_assert(!f->async);
        f->refused++;
        cb(&r, arg);
        return BO1_OK;
    }
    for (size_t i = 0; i < rq->n_system; i++)
        strncat(all, rq->system[i].text, sizeof(all) - strlen(all) - 1);
    strncat(all, user, sizeof(all) - strlen(all) - 1);
    f->calls++;
    f->calls_by_task[task_index(rq->task)]++;
    json_array_append_new(f->prompts, json_pack("{s:s, s:s, s:s, s:s}", "task", rq->task, "tier",
                                                rq->tier == BO1_LLM_TIER_DEEP ? "deep" : "fast",
                                                "user", user, "all", all));
    prompt_attr(user, "<speaker code=\"", who, sizeof(who));
    if (!who[0])
        prompt_attr(user, "<voter code=\"", who, sizeof(who));
    int retry = strstr(user, "could not be used") != NULL;
    int is_synth = !strncmp(rq->task, "synthesize", 10);
    if (f->cost_contribute_only && strcmp(rq->task, "contribute"))
        qd.cost = 0;
    if (f->spend_limit) {
        qd.status = BO1_SPEND_LIMIT;
    } else if (((f->fail_persona && !strcmp(who, f->fail_persona)) ||
                (f->fail_persona2 && !strcmp(who, f->fail_persona2))) &&
               (!strcmp(rq->task, "contribute") || !strcmp(rq->task, "vote"))) {
        qd.status = BO1_UPSTREAM_FAILED;
    } else if (is_synth && (f->all_synthesis_fail ||
                            (f->deep_fail_synthesis && rq->tier == BO1_LLM_TIER_DEEP))) {
        qd.status = BO1_UPSTREAM_OVERLOADED;
    } else {
        qd.text = fake_answer(f, rq, all, user);
        if (f->truncate_once && !strcmp(f->truncate_once, rq->task) && !retry) {
            qd.stop_reason = strdup("max_tokens");
            qd.text[strlen(qd.text) / 2] = 0;
        }
    }
    if (!f->async) {
        struct bo1_llm_response r = {.status = qd.status,
                                     .text = qd.text,
                                     .stop_reason = qd.stop_reason ? qd.stop_reason : "end_turn",
                                     .usage = {100, 50, 10, 20},
                                     .cost_usd = qd.cost,
                                     .cost_known = 1,
                                     .model = "fake-model",
                                     .provider = "fake",
                                     .latency_ms = 5,
                                     .attempts = 1};
        cb(&r, arg);
        free(qd.text);
        free(qd.stop_reason);
        return BO1_OK;
    }
    ck_assert_uint_lt(f->nq, 256);
    f->q[f->nq++] = qd;
    return BO1_OK;
}

/* Deliver the oldest queued answer. Returns 0 when the queue was empty. */
__attribute__((unused)) static int fake_deliver_one(struct fake *f)
{
    struct queued qd;
    struct bo1_llm_response r;

    if (f->nq == 0)
        return 0;
    qd = f->q[0];
    memmove(f->q, f->q + 1, (f->nq - 1) * sizeof(f->q[0]));
    f->nq--;
    r = (struct bo1_llm_response){.status = qd.status,
                                  .text = qd.text,
                                  .stop_reason = qd.stop_reason ? qd.stop_reason : "end_turn",
                                  .usage = {100, 50, 10, 20},
                                  .cost_usd = qd.cost,
                                  .cost_known = 1,
                                  .model = "fake-model",
                                  .provider = "fake",
                                  .latency_ms = 5,
                                  .attempts = 1};
    qd.cb(&r, qd.arg);
    free(qd.text);
    free(qd.stop_reason);
    return 1;
}

__attribute__((unused)) static void fake_drain(struct fake *f)
{
    while (fake_deliver_one(f))
        ;
}

__attribute__((unused)) static enum bo1_status fake_embed(void *ctx, const char *sid,
                                                          const char *const *texts, size_t n,
                                                          bo1_embed_done_cb *cb, void *arg)
{
    float *store = calloc(n ? n : 1, 64 * sizeof(float));
    const float **v = calloc(n ? n : 1, sizeof(*v));

    (void)ctx;
    (void)sid;
    for (size_t i = 0; i < n; i++) {
        rules_embed_local(texts[i], store + i * 64, 64);
        v[i] = store + i * 64;
    }
    cb(BO1_OK, v, n, 64, arg);
    free(store);
    free(v);
    return BO1_OK;
}

static void fake_checkpoint(void *ctx, const char *sid, const json_t *state)
{
    struct fake *f = ctx;
    (void)sid;
    json_array_append_new(f->checkpoints, json_deep_copy(state));
}

static void fake_publish(void *ctx, const char *sid, const char *type, json_t *data)
{
    struct fake *f = ctx;
    (void)sid;
    json_array_append_new(f->events, json_pack("{s:s, s:o}", "type", type, "data", data));
}

static double fake_now(void *ctx)
{
    return ((struct fake *)ctx)->clock;
}

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->clock = 1700000000.0;
    f->cost_per_call = 0.001;
    f->prompts = json_array();
    f->events = json_array();
    f->checkpoints = json_array();
    for (size_t i = 0; i < N_FAKE_PERSONAS; i++)
        fake_persona_ptrs[i] = &fake_personas[i];
}

static void fake_fini(struct fake *f)
{
    while (f->nq) {
        f->nq--;
        free(f->q[f->nq].text);
        free(f->q[f->nq].stop_reason);
        /* The engine's call records are freed by their callbacks; deliver cancellations. */
    }
    json_decref(f->prompts);
    json_decref(f->events);
    json_decref(f->checkpoints);
}

static struct bo1_engine *fake_engine(struct fake *f, struct bo1_engine_config *cfg_out)
{
    struct bo1_engine_config cfg = BO1_ENGINE_CONFIG_DEFAULTS;
    struct bo1_engine_effects fx = {
        .call_model = fake_call,
        .embed = f->use_embed ? fake_embed : NULL,
        .checkpoint = fake_checkpoint,
        .publish = fake_publish,
        .now_s = fake_now,
        .ctx = f,
    };

    cfg.personas = fake_persona_ptrs;
    cfg.n_personas = N_FAKE_PERSONAS;
    cfg.simulated = 1;
    cfg.model_fast = "fake-fast";
    cfg.model_deep = "fake-deep";
    if (f->no_progress_s > 0)
        cfg.no_progress_s = f->no_progress_s;
    if (cfg_out)
        *cfg_out = cfg;
    return bo1_engine_new(&cfg, &fx);
}

__attribute__((unused)) static struct bo1_session *
fake_session(struct bo1_engine *e, const char *statement, const char *options_json)
{
    json_t *req = json_pack("{s:{s:s}}", "problem", "statement", statement);
    json_t *errs = NULL;
    struct bo1_session *s = NULL;

    if (options_json)
        json_object_set_new(req, "options", json_loads(options_json, 0, NULL));
    ck_assert_int_eq(bo1_engine_create(e, "sess-1", req, &s, &errs), BO1_OK);
    json_decref(req);
    json_decref(errs);
    return s;
}

__attribute__((unused)) static size_t count_events(const struct fake *f, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(f->events); i++)
        if (!strcmp(jstr(json_array_get(f->events, i), "type", ""), type))
            n++;
    return n;
}

__attribute__((unused)) static json_t *state_sp(const struct bo1_session *s, size_t i)
{
    return json_array_get(json_object_get(bo1_session_state(s), "sub_problems"), i);
}

__attribute__((unused)) static const char *state_name(const struct bo1_session *s)
{
    return jstr(bo1_session_state(s), "state", "");
}
