/* The engine wired as app.c should wire it: the real model gateway (curl on the libuv loop)
 * against the real bo1-fake-llm process over HTTP, the local embedder, the shipped prompt
 * templates and persona catalog. Skipped (77) when BO1_TEST_FAKE_LLM is not set.
 * Whole deliberations run: one sub-problem, three with a dependency, a clarification that
 * is answered, and a facilitator-driven research and moderator round. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bo1/buf.h"
#include "bo1/embed.h"
#include "bo1/engine.h"
#include "bo1/llm.h"
#include "bo1/loop.h"
#include "bo1/persona.h"
#include "bo1/prompt.h"
#include "bo1/report.h"

extern char **environ;

static pid_t fake_pid;
static int fake_port;

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int can_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void start_fake(void)
{
    const char *bin = getenv("BO1_TEST_FAKE_LLM");
    char port[16];
    posix_spawn_file_actions_t fa;

    fake_port = free_port();
    snprintf(port, sizeof(port), "%d", fake_port);
    char *argv[] = {(char *)bin, "--port", port, "--seed", "7", "--log-level", "error", NULL};
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    ck_assert_int_eq(posix_spawn(&fake_pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 200 && !can_connect(fake_port); i++)
        usleep(25000);
    ck_assert(can_connect(fake_port));
}

static void stop_fake(void)
{
    int status;
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, &status, 0);
}

/* ---- the app side: effects over the gateway ---- */

struct app {
    struct bo1_loop *loop;
    struct bo1_llm *gw;
    struct bo1_embedder *emb;
    struct bo1_engine *e;
    struct bo1_session *s;
    json_t *events;
    int checkpoints;
    int done;
    const char *answer_q; /* answer clarifying questions with this text */
    int never_answer;     /* leave clarifying questions unanswered */
    uv_timer_t guard;
    uv_timer_t outage_end;
    int outage_set; /* live_outage_ms: the fault went on at round 2 */
};

static void fake_faults(const char *body);
static double live_outage_ms; /* > 0: contributions fail with 529 for this long from round 2 */
static char live_metrics[8192];

static void close_cb(uv_handle_t *h);

static void on_outage_end(uv_timer_t *t)
{
    fake_faults("{\"faults\":[],\"replace\":true}");
    uv_close((uv_handle_t *)t, close_cb);
}

static enum bo1_status app_call_model(void *ctx, const struct bo1_llm_request *rq,
                                      bo1_llm_done_cb *cb, void *arg)
{
    struct app *a = ctx;
    return bo1_llm_call(a->gw, rq, cb, arg, NULL);
}

static enum bo1_status app_embed(void *ctx, const char *sid, const char *const *texts, size_t n,
                                 bo1_embed_done_cb *cb, void *arg)
{
    struct app *a = ctx;
    return bo1_embed_texts(a->emb, sid, texts, n, cb, arg);
}

static void app_checkpoint(void *ctx, const char *sid, const json_t *state)
{
    struct app *a = ctx;
    (void)sid;
    /* A store would serialise it: make sure it does. */
    char *text = json_dumps(state, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    free(text);
    a->checkpoints++;
}

static void on_answer_later(uv_timer_t *t);

static void app_publish(void *ctx, const char *sid, const char *type, json_t *data)
{
    struct app *a = ctx;
    (void)sid;
    json_array_append_new(a->events, json_pack("{s:s, s:o}", "type", type, "data", data));
    if (!strcmp(type, "clarification.requested") && !a->never_answer) {
        /* Answer from the loop, not from inside the effect. */
        static uv_timer_t t;
        uv_timer_init(bo1_loop_uv(a->loop), &t);
        t.data = a;
        uv_timer_start(&t, on_answer_later, 10, 0);
    }
    if (live_outage_ms > 0 && !a->outage_set && !strcmp(type, "round.started") &&
        json_integer_value(json_object_get(data, "round")) == 2) {
        /* The provider goes down just before round 2's contributions are asked. */
        a->outage_set = 1;
        fake_faults("{\"faults\":[{\"task\":\"contribute\",\"error\":\"529\"}],"
                    "\"replace\":true}");
        uv_timer_init(bo1_loop_uv(a->loop), &a->outage_end);
        a->outage_end.data = a;
        uv_timer_start(&a->outage_end, on_outage_end, (uint64_t)live_outage_ms, 0);
    }
    if (!strcmp(type, "session.status")) {
        const char *st = json_string_value(json_object_get(data, "status"));
        if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled")))
            a->done = 1;
    }
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void on_answer_later(uv_timer_t *t)
{
    struct app *a = t->data;
    const json_t *pending =
        json_object_get(json_object_get(bo1_session_state(a->s), "clarify"), "pending");
    json_t *ans = json_object();
    for (size_t i = 0; i < json_array_size(pending); i++)
        json_object_set_new(ans,
                            json_string_value(json_object_get(json_array_get(pending, i), "id")),
                            json_string(a->answer_q ? a->answer_q : "no idea"));
    ck_assert_int_eq(bo1_engine_answer(a->e, a->s, ans, 0), BO1_OK);
    json_decref(ans);
    uv_close((uv_handle_t *)t, close_cb);
}

static double app_now(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_poll(uv_timer_t *t)
{
    struct app *a = t->data;
    static int ticks;
    if (a->done || ++ticks > 1200) { /* 60 s guard */
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, close_cb);
        bo1_loop_stop(a->loop);
        return;
    }
    bo1_engine_tick(a->e, a->s);
}

static struct bo1_prompts *prompts;
static struct bo1_persona_catalog *catalog;
static const struct bo1_persona **ps;
static size_t n_ps;

static void load_assets(void)
{
    const char *root = getenv("BO1_SOURCE_ROOT");
    char path[1024];
    char *why = NULL;

    snprintf(path, sizeof(path), "%s/zzz_important/prompts", root);
    ck_assert_int_eq(bo1_prompts_load(path, &prompts, &why), BO1_OK);
    snprintf(path, sizeof(path), "%s/zzz_important/personas.json", root);
    ck_assert_int_eq(bo1_persona_catalog_load(path, &catalog, &why), BO1_OK);
    n_ps = bo1_persona_catalog_count(catalog);
    ps = calloc(n_ps, sizeof(*ps));
    for (size_t i = 0; i < n_ps; i++)
        ps[i] = bo1_persona_catalog_at(catalog, i);
}

static void free_assets(void)
{
    free(ps);
    bo1_persona_catalog_free(catalog);
    bo1_prompts_free(prompts);
}

static void fake_faults(const char *body)
{
    char url[128];
    long code = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/_fake/faults", fake_port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, stderr);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_int_eq(code, 200);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static const char *live_options;    /* options JSON for the next deliberation */
static double live_clarify_timeout; /* > 0: nobody answers; the engine waits this long */

/* Run one deliberation to its end; returns the final state (caller decrefs). */
static json_t *deliberate(const char *statement, const char *answer_q, json_t **events_out)
{
    struct app a = {.answer_q = answer_q, .never_answer = live_clarify_timeout > 0};
    char base[64], pricing[1024];
    char *why = NULL;

    snprintf(base, sizeof(base), "http://127.0.0.1:%d", fake_port);
    snprintf(pricing, sizeof(pricing), "%s/zzz_important/pricing.json", getenv("BO1_SOURCE_ROOT"));
    ck_assert_int_eq(bo1_loop_new(&a.loop), BO1_OK);
    struct bo1_llm_options opt = BO1_LLM_OPTIONS_DEFAULTS;
    opt.anthropic_base_url = base;
    opt.anthropic_api_key = "test-key";
    opt.model_fast = "claude-haiku-4-5";
    opt.model_deep = "claude-sonnet-4-5";
    opt.pricing_path = pricing;
    opt.timeout_ms = 10000;
    opt.backoff_base_ms = 10;
    opt.max_attempts = 2;
    if (live_outage_ms > 0) {
        opt.breaker_threshold = 1; /* the first failure opens it: no member fails twice */
        opt.breaker_cooldown_ms = 500;
    }
    ck_assert_msg(bo1_llm_new(a.loop, &opt, &a.gw, &why) == BO1_OK, "%s", why ? why : "");
    ck_assert_int_eq(bo1_embedder_new(a.gw, &a.emb, &why), BO1_OK);

    struct bo1_engine_config cfg = BO1_ENGINE_CONFIG_DEFAULTS;
    cfg.personas = ps;
    cfg.n_personas = n_ps;
    cfg.prompts = prompts;
    cfg.simulated = 1;
    if (live_clarify_timeout > 0)
        cfg.clarify_timeout_s = live_clarify_timeout;
    cfg.model_fast = opt.model_fast;
    cfg.model_deep = opt.model_deep;
    cfg.provider_wait_s = 0.2;
    cfg.provider_wait_max_s = 1.0;
    struct bo1_engine_effects fx = {.call_model = app_call_model,
                                    .embed = app_embed,
                                    .checkpoint = app_checkpoint,
                                    .publish = app_publish,
                                    .now_s = app_now,
                                    .ctx = &a};
    a.events = json_array();
    a.e = bo1_engine_new(&cfg, &fx);
    json_t *req = json_pack("{s:{s:s}}", "problem", "statement", statement);
    if (live_options)
        json_object_set_new(req, "options", json_loads(live_options, 0, NULL));
    json_t *errs = NULL;
    ck_assert_int_eq(bo1_engine_create(a.e, "live-1", req, &a.s, &errs), BO1_OK);
    json_decref(req);
    ck_assert_int_eq(bo1_engine_start(a.e, a.s), BO1_OK);

    uv_timer_init(bo1_loop_uv(a.loop), &a.guard);
    a.guard.data = &a;
    uv_timer_start(&a.guard, on_poll, 50, 50);
    bo1_loop_run(a.loop);

    json_t *st = bo1_session_to_json(a.s);
    struct bo1_buf mb;
    bo1_buf_init(&mb, 0);
    ck_assert_int_eq(bo1_llm_metrics(a.gw, &mb), BO1_OK);
    snprintf(live_metrics, sizeof(live_metrics), "%s", bo1_buf_str(&mb));
    bo1_buf_fini(&mb);
    bo1_session_free(a.s);
    bo1_engine_free(a.e);
    bo1_embedder_free(a.emb);
    bo1_llm_free(a.gw);
    bo1_loop_free(a.loop);
    *events_out = a.events;
    ck_assert_int_gt(a.checkpoints, 5);
    return st;
}

static size_t count(const json_t *events, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(events); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(events, i), "type")), type))
            n++;
    return n;
}

static void assert_full_report(const json_t *st)
{
    struct bo1_buf b;
    static const char *const sections[] = {"## Recommendation",
                                           "## Executive summary",
                                           "## How the board voted",
                                           "## Dissent",
                                           "## Risks",
                                           "## Implementation steps",
                                           "## Why the board stopped",
                                           "## Disclaimer",
                                           "## Transcript",
                                           "## Costs",
                                           "## Timings",
                                           NULL};
    bo1_buf_init(&b, 0);
    ck_assert_int_eq(bo1_report_render_md(st, &b), BO1_OK);
    for (size_t i = 0; sections[i]; i++)
        ck_assert_msg(strstr(bo1_buf_str(&b), sections[i]) != NULL, "no %s", sections[i]);
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&b), "SIMULATED RUN"));
    if (getenv("BO1_LIVE_DUMP")) {
        FILE *f = fopen(getenv("BO1_LIVE_DUMP"), "a");
        fputs(bo1_buf_str(&b), f);
        fclose(f);
    }
    bo1_buf_fini(&b);
}

START_TEST(test_engine_live_single_sub_problem)
{
    json_t *ev = NULL;
    json_t *st = deliberate("Should we move our SaaS from $8K MRR to $20K with a sales hire, "
                            "a co-founder or product-led growth?",
                            NULL, &ev);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    const json_t *sp = json_array_get(json_object_get(st, "sub_problems"), 0);
    size_t members = json_array_size(json_object_get(json_object_get(sp, "board"), "members"));
    ck_assert_uint_ge(members, 3);
    ck_assert_uint_le(members, 5);
    ck_assert_uint_ge(json_array_size(json_object_get(sp, "votes")), 3);
    ck_assert_uint_gt(count(ev, "contribution"), 3);
    ck_assert_uint_eq(count(ev, "session.completed"), 1);
    /* prompt caching shows in the ledger: later calls read the cached prefix */
    ck_assert_int_gt(
        json_integer_value(json_object_get(json_object_get(st, "costs"), "cache_read")), 0);
    ck_assert(json_number_value(json_object_get(json_object_get(st, "costs"), "total_usd")) > 0);
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_three_sub_problems_with_dependency)
{
    json_t *ev = NULL;
    json_t *st = deliberate("Plan our European expansion [fake:subproblems=3] for the next "
                            "year, hiring and pricing included.",
                            NULL, &ev);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    const json_t *sps = json_object_get(st, "sub_problems");
    ck_assert_uint_eq(json_array_size(sps), 3);
    const json_t *deps = json_object_get(json_array_get(sps, 2), "dependencies");
    ck_assert_uint_eq(json_array_size(deps), 1);
    ck_assert_uint_eq(count(ev, "synthesis.completed"), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "final"), "source")),
                     "model");
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_clarification_and_facilitator_actions)
{
    json_t *ev = NULL;
    json_t *st = deliberate("Should we open an office in Lisbon [fake:clarify=2] "
                            "[fake:research=2] [fake:moderator=3] [fake:rounds=4] this year?",
                            "We have 14 months of runway", &ev);
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    ck_assert_uint_eq(count(ev, "clarification.requested"), 1);
    const json_t *hist = json_object_get(json_object_get(st, "clarify"), "history");
    ck_assert_uint_eq(json_array_size(hist), 2);
    const json_t *rounds =
        json_object_get(json_array_get(json_object_get(st, "sub_problems"), 0), "rounds");
    ck_assert_uint_ge(json_array_size(rounds), 3);
    ck_assert_ptr_nonnull(json_object_get(json_array_get(rounds, 1), "research"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(rounds, 2), "intervention"));
    ck_assert_uint_eq(count(ev, "moderator.intervention"), 1);
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_synthesis_falls_back_to_fast_tier)
{
    json_t *ev = NULL;
    /* Two engine attempts x two HTTP attempts on the deep tier fail; the fast tier works. */
    fake_faults("{\"faults\":[{\"task\":\"synthesize\",\"error\":\"500\",\"count\":4}],"
                "\"replace\":true}");
    json_t *st = deliberate("Should we raise prices by 15 percent for new customers this "
                            "quarter?",
                            NULL, &ev);
    fake_faults("{\"faults\":[],\"replace\":true}");
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    const json_t *sp = json_array_get(json_object_get(st, "sub_problems"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(sp, "synthesis_source")),
                     "model_fast_fallback");
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_small_budget_forces_the_vote)
{
    json_t *ev = NULL;
    live_options = "{\"budget_usd\": 0.06}";
    json_t *st = deliberate("Should we move our SaaS from $8K MRR to $20K with a sales hire, "
                            "a co-founder or product-led growth? [fake:rounds=9]",
                            NULL, &ev);
    live_options = NULL;
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    const json_t *sp = json_array_get(json_object_get(st, "sub_problems"), 0);
    const char *rule = json_string_value(json_object_get(json_object_get(sp, "stop"), "rule"));
    ck_assert_msg(rule && !strncmp(rule, "budget", 6), "stopped by %s", rule ? rule : "?");
    if (getenv("BO1_LIVE_DEBUG")) {
        json_dumpf(json_object_get(sp, "stop"), stderr, JSON_INDENT(1));
        json_dumpf(json_object_get(st, "costs"), stderr, JSON_INDENT(1));
        fprintf(stderr, "rounds %zu stage %s\n", json_array_size(json_object_get(sp, "rounds")),
                json_string_value(json_object_get(sp, "stage")));
    }
    ck_assert(json_is_object(json_object_get(sp, "vote_result")));
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_clarification_times_out)
{
    json_t *ev = NULL;
    live_clarify_timeout = 1.0;
    json_t *st =
        deliberate("Should we open an office in Lisbon [fake:clarify=2] this year?", NULL, &ev);
    live_clarify_timeout = 0;
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    ck_assert_uint_eq(count(ev, "clarification.requested"), 1);
    /* Nobody answered: the questions were closed by the timeout and the board went on with
     * stated assumptions instead of answers. */
    const json_t *hist = json_object_get(json_object_get(st, "clarify"), "history");
    ck_assert_uint_eq(json_array_size(hist), 2);
    for (size_t i = 0; i < json_array_size(hist); i++) {
        const json_t *h = json_array_get(hist, i);
        ck_assert_ptr_null(json_object_get(h, "answer"));
        ck_assert_str_eq(json_string_value(json_object_get(h, "outcome")), "timed_out");
    }
    const json_t *assumptions = json_object_get(st, "assumptions");
    ck_assert_uint_eq(json_array_size(assumptions), 2);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_array_get(assumptions, 0)), "no answer in time"));
    ck_assert_uint_ge(json_array_size(json_object_get(st, "sub_problems")), 1);
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

START_TEST(test_engine_live_waits_out_provider_outage)
{
    json_t *ev = NULL;
    live_outage_ms = 2500;
    json_t *st = deliberate("Should we move our SaaS from $8K MRR to $20K with a sales hire, "
                            "a co-founder or product-led growth? [fake:rounds=3]",
                            NULL, &ev);
    live_outage_ms = 0;
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "completed");
    /* The real breaker opened (and closed again: the session completed through it). */
    ck_assert_msg(strstr(live_metrics, "bo1_llm_breaker_opened_total{provider=\"anthropic\"} 0") ==
                      NULL,
                  "%s", live_metrics);
    ck_assert_uint_ge(count(ev, "provider.unavailable"), 1);
    ck_assert_uint_eq(count(ev, "provider.recovered"), count(ev, "provider.unavailable"));
    ck_assert_uint_eq(count(ev, "error"), 0); /* nobody sat out, nothing failed */
    const json_t *sp = json_array_get(json_object_get(st, "sub_problems"), 0);
    const json_t *rounds = json_object_get(sp, "rounds");
    size_t members = json_array_size(json_object_get(json_object_get(sp, "board"), "members"));
    ck_assert_uint_ge(json_array_size(rounds), 2);
    for (size_t i = 0; i < json_array_size(rounds); i++) {
        const json_t *ro = json_array_get(rounds, i);
        ck_assert_uint_eq(json_array_size(json_object_get(ro, "contributions")), members);
        ck_assert_uint_eq(json_array_size(json_object_get(ro, "sat_out")), 0);
    }
    ck_assert_uint_eq(json_array_size(json_object_get(sp, "votes")), members);
    ck_assert_str_eq(json_string_value(json_object_get(sp, "synthesis_source")), "model");
    /* The provider really refused: calls that reached it and failed are in the ledger. */
    size_t refused = 0;
    const json_t *ledger = json_object_get(st, "ledger");
    for (size_t i = 0; i < json_array_size(ledger); i++) {
        const json_t *le = json_array_get(ledger, i);
        const char *status = json_string_value(json_object_get(le, "status"));
        if (getenv("BO1_LIVE_DEBUG"))
            fprintf(stderr, "%s %s %lld\n", json_string_value(json_object_get(le, "task")), status,
                    json_integer_value(json_object_get(le, "attempts")));
        if (strcmp(status, "OK") != 0)
            refused++;
    }
    ck_assert_uint_ge(refused, 1);
    assert_full_report(st);
    json_decref(ev);
    json_decref(st);
}
END_TEST

int main(void)
{
    const char *bin = getenv("BO1_TEST_FAKE_LLM");
    if (!bin || access(bin, X_OK) != 0 || !getenv("BO1_SOURCE_ROOT")) {
        fprintf(stderr, "BO1_TEST_FAKE_LLM not set: skipping\n");
        return 77;
    }
    Suite *s = suite_create("engine_live");
    TCase *tc = tcase_create("live");
    tcase_set_timeout(tc, 90);
    tcase_add_unchecked_fixture(tc, start_fake, stop_fake);
    tcase_add_unchecked_fixture(tc, load_assets, free_assets);
    tcase_add_test(tc, test_engine_live_single_sub_problem);
    tcase_add_test(tc, test_engine_live_three_sub_problems_with_dependency);
    tcase_add_test(tc, test_engine_live_clarification_and_facilitator_actions);
    tcase_add_test(tc, test_engine_live_synthesis_falls_back_to_fast_tier);
    tcase_add_test(tc, test_engine_live_small_budget_forces_the_vote);
    tcase_add_test(tc, test_engine_live_clarification_times_out);
    tcase_add_test(tc, test_engine_live_waits_out_provider_outage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
