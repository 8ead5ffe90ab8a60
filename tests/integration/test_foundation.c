/* The real bo1d binary on an ephemeral port with a real Redis: probes, readiness that
 * follows Redis, routing errors as problem+json, keep-alive and SIGTERM. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "harness.h"

static struct h_proc redis;
static struct h_proc bo1d;

static void setup(void)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true", NULL};

    ck_assert_int_eq(h_redis_start(&redis), 0);
    ck_assert_int_eq(h_bo1d_start(&bo1d, redis.port, env), 0);
    /* Listening is not connected: what needs Redis (the session list, the fleet-wide
     * bo1_sessions family of /metrics) waits until /ready says the store is there, which
     * under ASan on a loaded machine comes some time after the port opens. */
    ck_assert_int_eq(h_wait_ready(bo1d.port, 10000), 0);
}

static void teardown(void)
{
    h_proc_stop(&bo1d, SIGKILL, 2000);
    h_proc_stop(&redis, SIGKILL, 2000);
}

static void assert_problem(const struct h_resp *r, long status, const char *code)
{
    char *ct = h_resp_header(r, "Content-Type");
    json_t *j = h_resp_json(r);

    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(ct);
    ck_assert_str_eq(ct, "application/problem+json");
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_string(json_object_get(j, "type")));
    ck_assert(json_is_string(json_object_get(j, "title")));
    ck_assert(json_is_string(json_object_get(j, "detail")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
    free(ct);
    json_decref(j);
}

/* Poll /ready until it answers @want or @within_ms passes; returns the elapsed ms or -1. */
static long long wait_ready(long want, int within_ms)
{
    long long start = h_now_ms();

    while (h_now_ms() - start <= within_ms) {
        struct h_resp r;
        long got = -1;
        if (h_http(&r, "GET", bo1d.port, "/ready", NULL, NULL, 0) == 0)
            got = r.status;
        h_resp_free(&r);
        if (got == want)
            return h_now_ms() - start;
        h_sleep_ms(50);
    }
    return -1;
}

START_TEST(test_health_is_ok_with_version_and_uptime)
{
    struct h_resp r;
    json_t *j;
    char *rid;

    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, "/health", NULL, NULL, 0), 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    ck_assert(json_is_string(json_object_get(j, "version")));
    ck_assert(json_is_integer(json_object_get(j, "uptime_s")));
    rid = h_resp_header(&r, "X-Request-ID");
    ck_assert_ptr_nonnull(rid);
    ck_assert_uint_ge(strlen(rid), 16);
    free(rid);
    rid = h_resp_header(&r, "X-Content-Type-Options");
    ck_assert_str_eq(rid, "nosniff");
    free(rid);
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_request_id_is_echoed_or_replaced_when_hostile)
{
    const char *good[] = {"X-Request-ID: trace-abc.123", NULL};
    const char *bad[] = {"X-Request-ID: <script>alert(1)</script>", NULL};
    struct h_resp r;
    char *rid;

    h_http(&r, "GET", bo1d.port, "/health", good, NULL, 0);
    rid = h_resp_header(&r, "X-Request-ID");
    ck_assert_str_eq(rid, "trace-abc.123");
    free(rid);
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/health", bad, NULL, 0);
    rid = h_resp_header(&r, "X-Request-ID");
    ck_assert_ptr_null(strchr(rid, '<'));
    free(rid);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_ready_follows_redis_down_and_up_within_2s)
{
    int port = redis.port;
    long long t;

    ck_assert_int_ge(wait_ready(200, 3000), 0);
    ck_assert_int_ge(h_proc_stop(&redis, SIGTERM, 5000), 0);
    t = wait_ready(503, 2000);
    ck_assert_msg(t >= 0, "/ready did not turn 503 within 2 s of Redis stopping");
    {
        struct h_resp r;
        char *ra;
        h_http(&r, "GET", bo1d.port, "/ready", NULL, NULL, 0);
        assert_problem(&r, 503, "STORE_DOWN");
        ra = h_resp_header(&r, "Retry-After");
        ck_assert_ptr_nonnull(ra);
        ck_assert_ptr_nonnull(strstr(r.body, "redis"));
        free(ra);
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_redis_start_on(&redis, port), 0);
    t = wait_ready(200, 2000);
    ck_assert_msg(t >= 0, "/ready did not turn 200 within 2 s of Redis returning");
}
END_TEST

START_TEST(test_ready_turns_503_when_redis_hangs)
{
    long long t;

    ck_assert_int_ge(wait_ready(200, 3000), 0);
    kill(redis.pid, SIGSTOP);
    t = wait_ready(503, 2000);
    kill(redis.pid, SIGCONT);
    ck_assert_msg(t >= 0, "/ready did not notice a hung Redis within 2 s");
    ck_assert_int_ge(wait_ready(200, 2500), 0);
}
END_TEST

START_TEST(test_unknown_path_is_404_problem)
{
    struct h_resp r;

    h_http(&r, "GET", bo1d.port, "/no/such/thing", NULL, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow)
{
    struct h_resp r;
    char *allow;

    h_http(&r, "DELETE", bo1d.port, "/health", NULL, NULL, 0);
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    allow = h_resp_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_ptr_nonnull(strstr(allow, "GET"));
    free(allow);
    h_resp_free(&r);
}
END_TEST

#define HEALTH_200    "bo1_http_requests_total{route=\"GET /health\",status=\"200\"}"
#define UNMATCHED_404 "bo1_http_requests_total{route=\"unmatched\",status=\"404\"}"

START_TEST(test_metrics_counts_requests_by_route_and_status)
{
    struct h_resp r;

    for (int i = 0; i < 3; i++) {
        h_http(&r, "GET", bo1d.port, "/health", NULL, NULL, 0);
        h_resp_free(&r);
    }
    h_http(&r, "GET", bo1d.port, "/nope", NULL, NULL, 0);
    h_resp_free(&r);
    /* A request is counted when MHD reports it completed, which can come a moment after
     * the client has the whole answer (another pool thread may serve the scrape first):
     * scrape until the counts are there (a wrong count never is). */
    for (long long deadline = h_now_ms() + 5000;;) {
        h_http(&r, "GET", bo1d.port, "/metrics", NULL, NULL, 0);
        ck_assert_int_eq(r.status, 200);
        if ((strstr(r.body, HEALTH_200 " 3\n") && strstr(r.body, UNMATCHED_404 " 1\n")) ||
            h_now_ms() > deadline)
            break;
        h_resp_free(&r);
        h_sleep_ms(20);
    }
    ck_assert_msg(strstr(r.body, HEALTH_200 " 3\n") != NULL, "%s", r.body);
    ck_assert_msg(strstr(r.body, UNMATCHED_404 " 1\n") != NULL, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "bo1_http_request_duration_seconds_bucket"));
    ck_assert_ptr_nonnull(strstr(r.body, "bo1_redis_up"));
    h_resp_free(&r);
}
END_TEST

/* API.md, /metrics: requests by route/status, latency histogram, sessions by status, model
 * calls/tokens/cost by model and outcome, SSE clients, Redis errors: every family is there
 * (with its TYPE line) from the first scrape. */
START_TEST(test_metrics_has_every_family_api_md_lists)
{
    static const char *const families[] = {"bo1_http_requests_total",
                                           "bo1_http_request_duration_seconds",
                                           "bo1_sessions_running",
                                           "bo1_sessions_finished_total",
                                           "bo1_llm_calls_total",
                                           "bo1_llm_tokens_total",
                                           "bo1_llm_cost_usd_total",
                                           "bo1_sse_clients",
                                           "bo1_redis_errors_total",
                                           "bo1_sessions",
                                           NULL};
    struct h_resp r;
    char *ct;

    h_http(&r, "GET", bo1d.port, "/health", NULL, NULL, 0);
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ct = h_resp_header(&r, "Content-Type");
    ck_assert_ptr_nonnull(ct);
    ck_assert_int_eq(strncmp(ct, "text/plain", 10), 0);
    free(ct);
    for (size_t i = 0; families[i]; i++) {
        char line[160];
        snprintf(line, sizeof(line), "# TYPE %s ", families[i]);
        ck_assert_msg(strstr(r.body, line) != NULL, "no family %s in /metrics", families[i]);
    }
    h_resp_free(&r);
}
END_TEST

/* API.md, Access: with no keys in development the API is open and says so in the log;
 * every answer carries the security headers. */
START_TEST(test_open_api_is_logged_and_security_headers_are_set)
{
    static const char *const want[][2] = {{"X-Content-Type-Options", "nosniff"},
                                          {"X-Frame-Options", "DENY"},
                                          {"Referrer-Policy", "no-referrer"}};
    struct h_resp r;
    FILE *f;
    char line[8192];
    int warned = 0;

    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *v = h_resp_header(&r, want[i][0]);
        ck_assert_msg(v != NULL, "no %s", want[i][0]);
        ck_assert_str_eq(v, want[i][1]);
        free(v);
    }
    h_resp_free(&r);
    f = fopen(bo1d.log_path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *lvl = json_string_value(json_object_get(j, "level"));
        if (msg && lvl && strcmp(lvl, "warn") == 0 && strstr(msg, "API is open"))
            warned = 1;
        json_decref(j);
    }
    fclose(f);
    ck_assert_msg(warned, "no warn line saying the API is open in %s", bo1d.log_path);
}
END_TEST

static int log_has_warn(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int found = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *lvl = json_string_value(json_object_get(j, "level"));
        if (msg && lvl && strcmp(lvl, "warn") == 0 && strstr(msg, needle))
            found = 1;
        json_decref(j);
    }
    fclose(f);
    return found;
}

/* API.md, Running: Redis with maxmemory-policy noeviction (session state must never be
 * evicted). bo1d checks the policy when it connects and warns about any other. */
START_TEST(test_evicting_redis_is_warned_about)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true", NULL};
    struct redisReply *rep;

    ck_assert_int_eq(h_wait_ready(bo1d.port, 5000), 0);
    h_sleep_ms(200);
    ck_assert_int_eq(log_has_warn(bo1d.log_path, "may evict"), 0);
    rep = h_redis(redis.port, "CONFIG SET maxmemory-policy allkeys-lru");
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    h_proc_stop(&bo1d, SIGKILL, 2000);
    ck_assert_int_eq(h_bo1d_start(&bo1d, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(bo1d.port, 5000), 0);
    for (int i = 0; i < 40 && log_has_warn(bo1d.log_path, "may evict") != 1; i++)
        h_sleep_ms(50);
    ck_assert_int_eq(log_has_warn(bo1d.log_path, "may evict"), 1);
}
END_TEST

static size_t discard(char *p, size_t s, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return s * n;
}

START_TEST(test_keepalive_reuses_one_connection_for_1000_requests)
{
    CURL *c = curl_easy_init();
    char url[64];
    long connects_total = 0;
    int ok = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", bo1d.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    for (int i = 0; i < 1000; i++) {
        long code = 0;
        long connects = 0;
        if (curl_easy_perform(c) != CURLE_OK)
            break;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        connects_total += connects;
        ok += code == 200;
    }
    curl_easy_cleanup(c);
    ck_assert_int_eq(ok, 1000);
    ck_assert_int_eq(connects_total, 1);
}
END_TEST

START_TEST(test_sigterm_exits_zero_and_readiness_drains)
{
    ck_assert_int_eq(h_proc_stop(&bo1d, SIGTERM, 10000), 0);
}
END_TEST

static Suite *foundation_suite(void)
{
    Suite *s = suite_create("foundation");
    TCase *tc = tcase_create("foundation");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_health_is_ok_with_version_and_uptime);
    tcase_add_test(tc, test_request_id_is_echoed_or_replaced_when_hostile);
    tcase_add_test(tc, test_ready_follows_redis_down_and_up_within_2s);
    tcase_add_test(tc, test_ready_turns_503_when_redis_hangs);
    tcase_add_test(tc, test_unknown_path_is_404_problem);
    tcase_add_test(tc, test_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_metrics_counts_requests_by_route_and_status);
    tcase_add_test(tc, test_metrics_has_every_family_api_md_lists);
    tcase_add_test(tc, test_open_api_is_logged_and_security_headers_are_set);
    tcase_add_test(tc, test_evicting_redis_is_warned_about);
    tcase_add_test(tc, test_keepalive_reuses_one_connection_for_1000_requests);
    tcase_add_test(tc, test_sigterm_exits_zero_and_readiness_drains);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(foundation_suite());
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
