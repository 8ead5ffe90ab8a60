/* Integration tests for the model gateway and the embedder against the real bo1-fake-llm
 * over loopback: exact usage and cost per provider, every fault kind, retry-after,
 * timeouts, the circuit breaker, 500 concurrent calls on one loop, embeddings. The loop runs
 * on the test thread (uv_run until every callback has fired). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bo1/embed.h"
#include "bo1/llm.h"
#include "bo1/loop.h"
#include "bo1/pricing.h"
#include "harness.h"

#define MAX_DONE 1024

static struct h_proc fake;
static char base_url[64];
static char pricing_path[1024];

static struct {
    struct bo1_loop *loop;
    struct bo1_llm *gw;
    int pending;
    int n_done;
    struct bo1_llm_response last;
    char text[8192], error[640], model[64], rid[96], stop[32];
    enum bo1_status st[MAX_DONE];
    unsigned attempts[MAX_DONE];
    long long at[MAX_DONE];
} T;

static void start_fake(const char *const extra[])
{
    const char *bin = h_env_path("BO1_TEST_FAKE_LLM");
    char portbuf[16];
    char *argv[32];
    size_t n = 0;
    int port = h_free_port();

    ck_assert_msg(bin != NULL, "BO1_TEST_FAKE_LLM is not set");
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[n++] = (char *)bin;
    argv[n++] = "--port";
    argv[n++] = portbuf;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    ck_assert_int_eq(h_proc_start(&fake, argv, NULL, port, 5000), 0);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", fake.port);
}

static void default_options(struct bo1_llm_options *o)
{
    *o = BO1_LLM_OPTIONS_DEFAULTS;
    o->anthropic_base_url = base_url;
    o->anthropic_api_key = "sk-ant-test";
    o->openai_base_url = base_url;
    o->openai_api_key = "sk-oai-test";
    o->voyage_base_url = base_url;
    o->voyage_api_key = "pa-test";
    o->model_fast = "fake-fast";
    o->model_deep = "fake-deep";
    o->pricing_path = pricing_path;
    o->backoff_base_ms = 20;
    o->backoff_cap_ms = 100;
    o->timeout_ms = 5000;
    o->rng_seed = 3;
}

static void gw_start(const struct bo1_llm_options *o)
{
    char *why = NULL;

    memset(&T, 0, sizeof(T));
    ck_assert_int_eq(bo1_loop_new(&T.loop), BO1_OK);
    ck_assert_msg(bo1_llm_new(T.loop, o, &T.gw, &why) == BO1_OK, "bo1_llm_new: %s",
                  why ? why : "?");
}

static void gw_stop(void)
{
    bo1_llm_free(T.gw);
    T.gw = NULL;
    bo1_loop_free(T.loop);
    T.loop = NULL;
}

static void setup(void)
{
    const char *root = getenv("BO1_SOURCE_ROOT");

    snprintf(pricing_path, sizeof(pricing_path), "%s/zzz_important/pricing.json",
             root ? root : ".");
    start_fake((const char *[]){"--seed", "5", "--api-key", "sk-ant-test", NULL});
}

static void teardown(void)
{
    h_proc_stop(&fake, SIGTERM, 5000);
}

/* ---- fake admin ------------------------------------------------------------------- */

static void fake_admin(const char *method, const char *path, const char *body)
{
    struct h_resp r;
    const char *hdrs[] = {"Content-Type: application/json", NULL};

    ck_assert_int_eq(h_http(&r, method, fake.port, path, hdrs, body, body ? strlen(body) : 0), 0);
    ck_assert_msg(r.status == 200, "%s %s -> %ld %s", method, path, r.status, r.body ? r.body : "");
    h_resp_free(&r);
}

static void set_faults(const char *json)
{
    char body[2048];

    snprintf(body, sizeof(body), "{\"faults\":%s,\"replace\":true}", json);
    fake_admin("POST", "/_fake/faults", body);
    fake_admin("DELETE", "/_fake/requests", NULL);
}

/* The recorded requests (new reference). */
static json_t *fake_requests(void)
{
    struct h_resp r;
    json_t *j;

    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/requests", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

static size_t fake_request_count(void)
{
    json_t *j = fake_requests();
    size_t n = json_array_size(j);

    json_decref(j);
    return n;
}

/* ---- calls -------------------------------------------------------------------------- */

static void on_done(const struct bo1_llm_response *r, void *arg)
{
    int i = T.n_done++;

    (void)arg;
    T.last = *r;
    snprintf(T.text, sizeof(T.text), "%s", r->text);
    snprintf(T.error, sizeof(T.error), "%s", r->error_message);
    snprintf(T.model, sizeof(T.model), "%s", r->model);
    snprintf(T.rid, sizeof(T.rid), "%s", r->request_id);
    snprintf(T.stop, sizeof(T.stop), "%s", r->stop_reason);
    if (i < MAX_DONE) {
        T.st[i] = r->status;
        T.attempts[i] = r->attempts;
        T.at[i] = h_now_ms();
    }
    if (--T.pending == 0)
        uv_stop(bo1_loop_uv(T.loop));
}

static void spin(void)
{
    while (T.pending > 0)
        uv_run(bo1_loop_uv(T.loop), UV_RUN_DEFAULT);
}

static const struct bo1_llm_block sys_blocks[] = {
    {.text = "You are a member of a deliberation board. Answer in the tagged format.", .cache = 1},
    {.text = "<persona_identity code=\"cfo\">A careful finance chief.</persona_identity>",
     .cache = 1},
    {.text = "This block changes every round.", .cache = 0},
};

static const struct bo1_llm_message user_msg[] = {
    {.role = "user",
     .content = "<problem>Should we raise enterprise prices?</problem> <round>1</round> "
                "<speaker code=\"cfo\">"},
};

static struct bo1_llm_request contribute_request(void)
{
    struct bo1_llm_request rq = {
        .task = "contribute",
        .session_id = "sess-42",
        .tier = BO1_LLM_TIER_DEEP,
        .system = sys_blocks,
        .n_system = 3,
        .messages = user_msg,
        .n_messages = 1,
        .max_tokens = 800,
        .temperature = 0.7,
    };
    return rq;
}

static void call_n(int n, const struct bo1_llm_request *rq)
{
    for (int i = 0; i < n; i++) {
        T.pending++;
        ck_assert_int_eq(bo1_llm_call(T.gw, rq, on_done, NULL, NULL), BO1_OK);
    }
    spin();
}

static long tok(const char *s)
{
    return (long)((strlen(s) + 3) / 4);
}

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(test_llm_anthropic_call_has_exact_usage_and_cost)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    long cached_prefix = tok(sys_blocks[0].text) + tok(sys_blocks[1].text);
    long tail = tok(sys_blocks[2].text) + tok(user_msg[0].content);
    json_t *reqs;
    json_t *first;
    json_t *hdrs;
    json_t *body;

    default_options(&o);
    gw_start(&o);
    fake_admin("DELETE", "/_fake/requests", NULL);
    call_n(1, &rq);
    ck_assert_msg(T.last.status == BO1_OK, "%s", T.error);
    ck_assert_ptr_nonnull(strstr(T.text, "<contribution>"));
    ck_assert_str_eq(T.stop, "end_turn");
    ck_assert_str_eq(T.model, "fake-deep");
    ck_assert_int_eq(T.last.usage.cache_write, cached_prefix);
    ck_assert_int_eq(T.last.usage.cache_read, 0);
    ck_assert_int_eq(T.last.usage.input, tail);
    ck_assert_int_eq(T.last.usage.output, tok(T.text));
    ck_assert_int_eq(T.last.cost_known, 1);
    ck_assert_double_eq_tol(T.last.cost_usd,
                            (tail * 3.0 + tok(T.text) * 15.0 + cached_prefix * 3.75) / 1e6, 1e-12);
    ck_assert_uint_eq(T.last.attempts, 1);
    ck_assert_int_eq(T.last.http_status, 200);
    ck_assert_msg(T.rid[0] != '\0', "no request id");

    /* The same prefix again is read from the cache. */
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_OK);
    ck_assert_int_eq(T.last.usage.cache_read, cached_prefix);
    ck_assert_int_eq(T.last.usage.cache_write, 0);
    ck_assert_int_eq(T.last.usage.input, tail);
    ck_assert_double_eq_tol(T.last.cost_usd,
                            (tail * 3.0 + tok(T.text) * 15.0 + cached_prefix * 0.30) / 1e6, 1e-12);

    /* Keep-alive: the second call reused the first call's connection. */
    {
        struct bo1_buf m;

        bo1_buf_init(&m, 0);
        ck_assert_int_eq(bo1_llm_metrics(T.gw, &m), BO1_OK);
        ck_assert_msg(strstr(bo1_buf_str(&m), "bo1_llm_connections_opened_total 1\n") != NULL, "%s",
                      bo1_buf_str(&m));
        bo1_buf_fini(&m);
    }

    /* What went over the wire. */
    reqs = fake_requests();
    ck_assert_uint_eq(json_array_size(reqs), 2);
    first = json_array_get(reqs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "path")), "/v1/messages");
    ck_assert_str_eq(json_string_value(json_object_get(first, "task")), "contribute");
    ck_assert_str_eq(json_string_value(json_object_get(first, "session")), "sess-42");
    hdrs = json_object_get(first, "headers");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "x-api-key")), "sk-ant-test");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "anthropic-version")), "2023-06-01");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "x-bo1-task")), "contribute");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "x-bo1-session")), "sess-42");
    body = json_object_get(first, "body");
    ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "fake-deep");
    ck_assert_int_eq(json_integer_value(json_object_get(body, "max_tokens")), 800);
    ck_assert_ptr_nonnull(
        json_object_get(json_array_get(json_object_get(body, "system"), 1), "cache_control"));
    ck_assert_ptr_null(
        json_object_get(json_array_get(json_object_get(body, "system"), 2), "cache_control"));
    json_decref(reqs);
    gw_stop();
}
END_TEST

START_TEST(test_llm_openai_call_has_exact_usage_and_cost)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    char joined[1024];
    long prefix;
    long prompt;
    json_t *reqs;
    json_t *hdrs;

    snprintf(joined, sizeof(joined), "%s\n\n%s\n\n%s", sys_blocks[0].text, sys_blocks[1].text,
             sys_blocks[2].text);
    prefix = tok(joined);
    prompt = prefix + tok(user_msg[0].content);
    default_options(&o);
    o.provider = BO1_LLM_PROVIDER_OPENAI;
    o.openai_api_key = "sk-ant-test"; /* the fake accepts its one key either way */
    rq.tier = BO1_LLM_TIER_FAST;
    gw_start(&o);
    fake_admin("DELETE", "/_fake/requests", NULL);
    call_n(1, &rq);
    ck_assert_msg(T.last.status == BO1_OK, "%s", T.error);
    ck_assert_str_eq(T.model, "fake-fast");
    ck_assert_str_eq(T.last.provider, "openai");
    ck_assert_int_eq(T.last.usage.input, prompt);
    ck_assert_int_eq(T.last.usage.cache_read, 0);
    ck_assert_int_eq(T.last.usage.output, tok(T.text));
    ck_assert_double_eq_tol(T.last.cost_usd, (prompt * 1.0 + tok(T.text) * 5.0) / 1e6, 1e-12);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_OK);
    ck_assert_int_eq(T.last.usage.cache_read, prefix);
    ck_assert_int_eq(T.last.usage.input, prompt - prefix);
    ck_assert_double_eq_tol(T.last.cost_usd,
                            ((prompt - prefix) * 1.0 + tok(T.text) * 5.0 + prefix * 0.10) / 1e6,
                            1e-12);
    reqs = fake_requests();
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
                     "/v1/chat/completions");
    hdrs = json_object_get(json_array_get(reqs, 0), "headers");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "authorization")),
                     "Bearer sk-ant-test");
    ck_assert_str_eq(json_string_value(json_object_get(hdrs, "x-bo1-task")), "contribute");
    json_decref(reqs);
    gw_stop();
}
END_TEST

START_TEST(test_llm_wrong_key_is_rejected_once)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();

    default_options(&o);
    o.anthropic_api_key = "sk-wrong";
    gw_start(&o);
    fake_admin("DELETE", "/_fake/requests", NULL);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_UPSTREAM_REJECTED);
    ck_assert_int_eq(T.last.http_status, 401);
    ck_assert_uint_eq(T.last.attempts, 1);
    ck_assert_uint_eq(fake_request_count(), 1);
    gw_stop();
}
END_TEST

struct fault_case {
    const char *rule;
    enum bo1_status want;
    unsigned attempts;
    long http;
    const char *needle; /* in the error message, or NULL */
};

static const struct fault_case fault_cases[] = {
    {"[{\"error\":\"429\",\"count\":2,\"retry_after_ms\":30}]", BO1_OK, 3, 200, NULL},
    {"[{\"error\":\"429\",\"retry_after_ms\":10}]", BO1_UPSTREAM_RATE_LIMITED, 5, 429, "429"},
    {"[{\"error\":\"500\",\"count\":1}]", BO1_OK, 2, 200, NULL},
    {"[{\"error\":\"500\"}]", BO1_UPSTREAM_FAILED, 5, 500, "api_error"},
    {"[{\"error\":\"529\",\"count\":4}]", BO1_OK, 5, 200, NULL},
    {"[{\"error\":\"529\"}]", BO1_UPSTREAM_OVERLOADED, 5, 529, "overloaded_error"},
    {"[{\"error\":\"spend_limit\",\"retry_after\":1}]", BO1_SPEND_LIMIT, 1, 429, "spend limit"},
    {"[{\"error\":\"malformed\"}]", BO1_UPSTREAM_BAD_REPLY, 1, 200, "unreadable"},
    {"[{\"error\":\"truncated\",\"count\":1}]", BO1_OK, 2, 200, NULL},
    {"[{\"error\":\"truncated\"}]", BO1_UPSTREAM_FAILED, 5, 0, "could not reach"},
    {"[{\"error\":\"reset\",\"count\":2}]", BO1_OK, 3, 200, NULL},
    {"[{\"error\":\"reset\"}]", BO1_UPSTREAM_FAILED, 5, 0, "could not reach"},
    {"[{\"error\":\"500\",\"should_retry\":false}]", BO1_UPSTREAM_FAILED, 1, 500, NULL},
    {"[{\"error\":\"hang\",\"hang_ms\":5000,\"count\":1}]", BO1_OK, 2, 200, NULL},
    {"[{\"error\":\"hang\",\"hang_ms\":5000}]", BO1_UPSTREAM_TIMEOUT, 5, 0, "in time"},
};

START_TEST(test_llm_fault_kinds_are_classified_and_retried)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    const struct fault_case *fc = &fault_cases[_i];

    default_options(&o);
    o.timeout_ms = 250; /* bounds the hang cases */
    o.breaker_threshold = 100;
    gw_start(&o);
    set_faults(fc->rule);
    call_n(1, &rq);
    ck_assert_msg(T.last.status == fc->want, "case %d %s: got %s (%s)", _i, fc->rule,
                  bo1_status_name(T.last.status), T.error);
    ck_assert_msg(T.last.attempts == fc->attempts, "case %d: %u attempts", _i, T.last.attempts);
    ck_assert_msg(T.last.http_status == fc->http, "case %d: http %ld", _i, T.last.http_status);
    ck_assert_uint_eq(fake_request_count(), fc->attempts);
    if (fc->needle)
        ck_assert_msg(strstr(T.error, fc->needle) != NULL, "case %d: message '%s'", _i, T.error);
    if (fc->want == BO1_OK)
        ck_assert_ptr_nonnull(strstr(T.text, "<contribution>"));
    else
        ck_assert_str_eq(T.text, "");
    gw_stop();
}
END_TEST

START_TEST(test_llm_retry_after_is_honoured)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    long long t0;
    long long took;

    default_options(&o);
    gw_start(&o);
    /* Seconds form: the backoff alone would wait at most 100 ms. */
    set_faults("[{\"error\":\"429\",\"count\":1,\"retry_after\":1}]");
    t0 = h_now_ms();
    call_n(1, &rq);
    took = h_now_ms() - t0;
    ck_assert_int_eq(T.last.status, BO1_OK);
    ck_assert_uint_eq(T.last.attempts, 2);
    ck_assert_int_ge(took, 1000);
    ck_assert_int_lt(took, 3000);
    /* Milliseconds form wins over seconds. */
    set_faults("[{\"error\":\"429\",\"count\":1,\"retry_after_ms\":400,\"retry_after\":5}]");
    t0 = h_now_ms();
    call_n(1, &rq);
    took = h_now_ms() - t0;
    ck_assert_int_eq(T.last.status, BO1_OK);
    ck_assert_int_ge(took, 400);
    ck_assert_int_lt(took, 3000); /* not the 5 s of retry-after */
    /* A wait beyond the call's deadline is not waited for. */
    set_faults("[{\"error\":\"429\",\"retry_after\":30}]");
    rq.deadline_ms = 2000;
    t0 = h_now_ms();
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_UPSTREAM_RATE_LIMITED);
    ck_assert_uint_eq(T.last.attempts, 1);
    ck_assert_int_lt(h_now_ms() - t0, 1500);
    ck_assert_ptr_nonnull(strstr(T.error, "deadline"));
    gw_stop();
}
END_TEST

START_TEST(test_llm_timeouts_are_enforced)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    long long t0;
    long long took;

    default_options(&o);
    o.timeout_ms = 300;
    o.max_attempts = 1;
    gw_start(&o);
    set_faults("[{\"error\":\"hang\",\"hang_ms\":10000}]");
    t0 = h_now_ms();
    call_n(1, &rq);
    took = h_now_ms() - t0;
    ck_assert_int_eq(T.last.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_int_ge(took, 290);
    ck_assert_int_lt(took, 2500);
    /* The overall deadline cuts retries short even when each attempt could go on. */
    gw_stop();
    default_options(&o);
    o.timeout_ms = 10000;
    gw_start(&o);
    set_faults("[{\"latency_ms\":3000}]");
    rq.deadline_ms = 400;
    t0 = h_now_ms();
    call_n(1, &rq);
    took = h_now_ms() - t0;
    ck_assert_int_eq(T.last.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_uint_eq(T.last.attempts, 1);
    ck_assert_int_ge(took, 390);
    ck_assert_int_lt(took, 2000); /* the fake would answer after 3000 ms */
    gw_stop();
}
END_TEST

/* Calls that arrive while the half-open probe is out wait for its verdict: when the
 * provider is back they are served, not failed with CIRCUIT_OPEN (found by
 * tests/chaos/provider_hang.py: sessions started right after recovery failed). */
START_TEST(test_llm_calls_racing_the_probe_wait_for_it)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();

    default_options(&o);
    o.breaker_threshold = 2;
    /* Long enough that no stall of this process between two calls outlasts it (a call
     * meant to see the breaker open would otherwise be taken as the next probe). */
    o.breaker_cooldown_ms = 1000;
    o.max_attempts = 1;
    gw_start(&o);
    set_faults("[{\"error\":\"529\"}]");
    call_n(2, &rq);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_CIRCUIT_OPEN);
    set_faults("[{\"latency_ms\":200}]"); /* the provider is back, a little slow */
    h_sleep_ms(1050);
    call_n(6, &rq); /* the first is the probe; five arrive while it is out */
    for (int i = T.n_done - 6; i < T.n_done; i++)
        ck_assert_int_eq(T.st[i], BO1_OK);
    /* A failing probe still fails the waiting calls fast (they see the breaker open). */
    set_faults("[{\"error\":\"529\"}]");
    call_n(2, &rq);
    call_n(1, &rq);
    h_sleep_ms(1050);
    call_n(4, &rq);
    ck_assert_int_eq(T.st[T.n_done - 4], BO1_UPSTREAM_OVERLOADED);
    for (int i = T.n_done - 3; i < T.n_done; i++)
        ck_assert_int_eq(T.st[i], BO1_CIRCUIT_OPEN);
    gw_stop();
}
END_TEST

START_TEST(test_llm_circuit_breaker_opens_and_recovers)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    long long t0;
    struct bo1_buf m;

    default_options(&o);
    o.breaker_threshold = 3;
    o.breaker_cooldown_ms = 1000; /* see test_llm_calls_racing_the_probe_wait_for_it */
    o.max_attempts = 1;
    gw_start(&o);
    set_faults("[{\"error\":\"529\"}]");
    for (int i = 0; i < 3; i++) {
        call_n(1, &rq);
        ck_assert_int_eq(T.last.status, BO1_UPSTREAM_OVERLOADED);
    }
    /* Open: ten calls fail fast and none reaches the provider. */
    t0 = h_now_ms();
    call_n(10, &rq);
    ck_assert_int_lt(h_now_ms() - t0, 500);
    for (int i = 3; i < 13; i++)
        ck_assert_int_eq(T.st[i], BO1_CIRCUIT_OPEN);
    ck_assert_uint_eq(fake_request_count(), 3);
    ck_assert_ptr_nonnull(strstr(T.error, "overloaded_error"));
    /* Half-open: a failing probe opens it again. */
    h_sleep_ms(1050);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_UPSTREAM_OVERLOADED);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_CIRCUIT_OPEN);
    ck_assert_uint_eq(fake_request_count(), 4);
    /* The provider recovers: the next probe closes the breaker. */
    set_faults("[]");
    h_sleep_ms(1050);
    call_n(1, &rq);
    ck_assert_int_eq(T.last.status, BO1_OK);
    call_n(5, &rq);
    for (int i = T.n_done - 5; i < T.n_done; i++)
        ck_assert_int_eq(T.st[i], BO1_OK);
    bo1_buf_init(&m, 0);
    ck_assert_int_eq(bo1_llm_metrics(T.gw, &m), BO1_OK);
    ck_assert_ptr_nonnull(
        strstr(bo1_buf_str(&m), "bo1_llm_breaker_state{provider=\"anthropic\"} 0"));
    ck_assert_ptr_nonnull(
        strstr(bo1_buf_str(&m), "bo1_llm_breaker_opened_total{provider=\"anthropic\"} 2"));
    bo1_buf_fini(&m);
    gw_stop();
}
END_TEST

START_TEST(test_llm_500_concurrent_calls_complete_on_one_loop)
{
    struct bo1_llm_options o;
    struct bo1_llm_request rq = contribute_request();
    long long t0;
    long long took;
    struct bo1_buf m;
    int ok = 0;

    h_proc_stop(&fake, SIGTERM, 5000);
    start_fake((const char *[]){"--seed", "5", "--latency-ms", "100", NULL});
    default_options(&o);
    o.max_inflight = 500;
    o.anthropic_api_key = NULL;
    gw_start(&o);
    t0 = h_now_ms();
    call_n(500, &rq);
    took = h_now_ms() - t0;
    ck_assert_int_eq(T.n_done, 500);
    for (int i = 0; i < 500; i++)
        ok += T.st[i] == BO1_OK;
    ck_assert_int_eq(ok, 500);
    /* 500 calls of 100 ms each overlap: far less than 500 x 100 ms. */
    ck_assert_msg(took < 5000, "500 calls took %lld ms", took);
    fprintf(stderr, "500 concurrent calls at 100 ms latency: %lld ms\n", took);
    bo1_buf_init(&m, 0);
    ck_assert_int_eq(bo1_llm_metrics(T.gw, &m), BO1_OK);
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&m), "task=\"contribute\",outcome=\"OK\"} 500"));
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&m), "bo1_llm_in_flight 0"));
    bo1_buf_fini(&m);
    gw_stop();
}
END_TEST

/* ---- embeddings ---------------------------------------------------------------------- */

static struct {
    int done;
    enum bo1_status st;
    size_t n, dim;
    double sim_near, sim_far;
    struct bo1_loop *loop;
} E;

static void on_embedded(enum bo1_status st, const float *const *v, size_t n, size_t dim, void *arg)
{
    (void)arg;
    E.done++;
    E.st = st;
    E.n = n;
    E.dim = dim;
    if (st == BO1_OK && n >= 3) {
        E.sim_near = bo1_embed_cosine(v[0], v[1], dim);
        E.sim_far = bo1_embed_cosine(v[0], v[2], dim);
    }
    uv_stop(bo1_loop_uv(E.loop));
}

static const char *const texts5[5] = {
    "Raise the enterprise subscription price by ten percent",
    "Increase the enterprise subscription price by 10 percent",
    "The weather in Lisbon was sunny all week",
    "Hire two backend engineers",
    "Open a sales office in Berlin",
};

static void embed_with(enum bo1_embed_provider prov, const char *path_expect, size_t batches)
{
    struct bo1_llm_options o;
    struct bo1_embedder *e = NULL;
    char *why = NULL;
    json_t *reqs;
    json_t *r0;

    default_options(&o);
    o.embed_provider = prov;
    o.embed_batch = 2;
    o.embed_model = "fake-embed";
    o.voyage_api_key = "sk-ant-test";
    o.openai_api_key = "sk-ant-test";
    gw_start(&o);
    memset(&E, 0, sizeof(E));
    E.loop = T.loop;
    ck_assert_int_eq(bo1_embedder_new(T.gw, &e, &why), BO1_OK);
    fake_admin("DELETE", "/_fake/requests", NULL);
    ck_assert_int_eq(bo1_embed_texts(e, "sess-e", texts5, 5, on_embedded, NULL), BO1_OK);
    while (!E.done)
        uv_run(bo1_loop_uv(T.loop), UV_RUN_DEFAULT);
    ck_assert_int_eq(E.st, BO1_OK);
    ck_assert_uint_eq(E.n, 5);
    ck_assert_uint_eq(E.dim, 256);
    ck_assert_double_gt(E.sim_near, E.sim_far + 0.2);
    reqs = fake_requests();
    ck_assert_uint_eq(json_array_size(reqs), batches);
    r0 = json_array_get(reqs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "path")), path_expect);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "task")), "embed");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "session")), "sess-e");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r0, "headers"), "authorization")),
        "Bearer sk-ant-test");
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r0, "body"), "input")), 2);
    json_decref(reqs);
    bo1_embedder_free(e);
    gw_stop();
}

START_TEST(test_llm_embeddings_voyage_and_openai_batched)
{
    embed_with(BO1_EMBED_PROVIDER_VOYAGE, "/v1/embeddings", 3);
    embed_with(BO1_EMBED_PROVIDER_OPENAI, "/v1/embeddings", 3);
}
END_TEST

START_TEST(test_llm_embeddings_fail_as_one_job)
{
    struct bo1_llm_options o;
    struct bo1_embedder *e = NULL;
    char *why = NULL;

    default_options(&o);
    o.embed_provider = BO1_EMBED_PROVIDER_VOYAGE;
    o.embed_batch = 2;
    o.voyage_api_key = "sk-ant-test";
    gw_start(&o);
    memset(&E, 0, sizeof(E));
    E.loop = T.loop;
    ck_assert_int_eq(bo1_embedder_new(T.gw, &e, &why), BO1_OK);
    set_faults("[{\"error\":\"malformed\",\"path\":\"/v1/embeddings\"}]");
    ck_assert_int_eq(bo1_embed_texts(e, "sess-e", texts5, 5, on_embedded, NULL), BO1_OK);
    while (!E.done)
        uv_run(bo1_loop_uv(T.loop), UV_RUN_DEFAULT);
    ck_assert_int_eq(E.done, 1);
    ck_assert_int_eq(E.st, BO1_UPSTREAM_BAD_REPLY);
    bo1_embedder_free(e);
    gw_stop();
}
END_TEST

START_TEST(test_llm_local_embedding_is_deterministic_and_discriminates)
{
    float a[256], b[256], near[256], far[256];

    bo1_embed_local(texts5[0], a, 256);
    bo1_embed_local(texts5[0], b, 256);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    bo1_embed_local(texts5[1], near, 256);
    bo1_embed_local(texts5[2], far, 256);
    ck_assert_double_gt(bo1_embed_cosine(a, near, 256), bo1_embed_cosine(a, far, 256) + 0.2);
}
END_TEST

START_TEST(test_llm_bad_price_table_stops_start)
{
    struct bo1_llm_options o;
    struct bo1_loop *loop = NULL;
    struct bo1_llm *gw = NULL;
    char path[] = "/tmp/bo1-prices-XXXXXX";
    int fd = mkstemp(path);
    const char *text =
        "{\"models\":{\"fake-deep\":{\"input\":3,\"output\":15,\"cache_write\":3.75}}}";
    char *why = NULL;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    default_options(&o);
    o.pricing_path = path;
    ck_assert_int_eq(bo1_loop_new(&loop), BO1_OK);
    ck_assert_int_eq(bo1_llm_new(loop, &o, &gw, &why), BO1_CONFIG_INVALID);
    ck_assert_ptr_null(gw);
    ck_assert_ptr_nonnull(strstr(why, path));
    ck_assert_ptr_nonnull(strstr(why, "fake-deep"));
    ck_assert_ptr_nonnull(strstr(why, "cache_read"));
    free(why);
    unlink(path);
    bo1_loop_free(loop);
}
END_TEST

static Suite *llm_suite(void)
{
    Suite *s = suite_create("llm-integration");
    TCase *tc = tcase_create("fake");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_llm_anthropic_call_has_exact_usage_and_cost);
    tcase_add_test(tc, test_llm_openai_call_has_exact_usage_and_cost);
    tcase_add_test(tc, test_llm_wrong_key_is_rejected_once);
    tcase_add_loop_test(tc, test_llm_fault_kinds_are_classified_and_retried, 0,
                        (int)(sizeof(fault_cases) / sizeof(fault_cases[0])));
    tcase_add_test(tc, test_llm_retry_after_is_honoured);
    tcase_add_test(tc, test_llm_timeouts_are_enforced);
    tcase_add_test(tc, test_llm_circuit_breaker_opens_and_recovers);
    tcase_add_test(tc, test_llm_calls_racing_the_probe_wait_for_it);
    tcase_add_test(tc, test_llm_500_concurrent_calls_complete_on_one_loop);
    tcase_add_test(tc, test_llm_embeddings_voyage_and_openai_batched);
    tcase_add_test(tc, test_llm_embeddings_fail_as_one_job);
    tcase_add_test(tc, test_llm_local_embedding_is_deterministic_and_discriminates);
    tcase_add_test(tc, test_llm_bad_price_table_stops_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(llm_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
