/* 200 deliberations at once on one bo1d (model latency 300 ms, as in the issue 5 figure) (real
 * Redis, real bo1-fake-llm): every one completes, bo1d survives, and every event log is whole
 * (starts with the creation, ids strictly increase, one contribution event per contribution in the
 * state, ends with session.completed). Guards the runner against freeing a run while a Redis reply
 * is outstanding and against dropping events from a large write. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_SESSIONS 200

static struct h_proc redis;
static struct h_proc fake;
static struct h_proc bo1d;
static char exports_dir[] = "/tmp/bo1-load.XXXXXX";
static char exports_env[64];

static void setup(void)
{
    char port[16];
    char base[96];
    const char *bin = h_env_path("BO1_TEST_FAKE_LLM");

    ck_assert_ptr_nonnull(bin);
    ck_assert_ptr_nonnull(mkdtemp(exports_dir));
    snprintf(exports_env, sizeof(exports_env), "BO1_EXPORTS_DIR=%s", exports_dir);
    ck_assert_int_eq(h_redis_start(&redis), 0);
    fake.port = h_free_port();
    snprintf(port, sizeof(port), "%d", fake.port);
    char *fargv[] = {(char *)bin, "--port",      port,    "--latency-ms",
                     "300",       "--log-level", "error", NULL};
    ck_assert_int_eq(h_proc_start(&fake, fargv, NULL, fake.port, 5000), 0);
    snprintf(base, sizeof(base), "ANTHROPIC_BASE_URL=http://127.0.0.1:%d", fake.port);
    char *env[] = {"BO1_MODEL_SIMULATED=true",
                   "ANTHROPIC_API_KEY=test",
                   base,
                   "BO1_LOG_LEVEL=warn",
                   "BO1_RATE_CREATE_PER_MIN=100000",
                   "BO1_RATE_READS_PER_MIN=1000000",
                   "BO1_MAX_ACTIVE_SESSIONS=100000",
                   "BO1_LLM_MAX_INFLIGHT=1000",
                   exports_env,
                   NULL};
    ck_assert_int_eq(h_bo1d_start(&bo1d, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(bo1d.port, 5000), 0);
}

static void teardown(void)
{
    h_proc_stop(&bo1d, SIGKILL, 2000);
    h_proc_stop(&fake, SIGKILL, 2000);
    h_proc_stop(&redis, SIGKILL, 2000);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", exports_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", exports_dir);
    }
}

static json_t *get_json(const char *path)
{
    struct h_resp r;
    json_t *j;

    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, path, NULL, NULL, 0), 0);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    j = h_resp_json(&r);
    h_resp_free(&r);
    return j;
}

/* Every event of session @id, oldest first. */
static json_t *event_log(const char *id)
{
    json_t *all = json_array();
    char after[48] = "0";
    char path[192];

    for (;;) {
        snprintf(path, sizeof(path), "/api/v1/sessions/%s/events?after=%s&limit=1000", id, after);
        json_t *page = get_json(path);
        json_array_extend(all, json_object_get(page, "events"));
        const char *last = json_string_value(json_object_get(page, "last_id"));
        int more = json_is_true(json_object_get(page, "has_more"));
        if (last)
            snprintf(after, sizeof(after), "%s", last);
        json_decref(page);
        if (!more || !last)
            return all;
    }
}

static size_t count_type(const json_t *events, const char *type)
{
    size_t i, n = 0;
    json_t *ev;

    json_array_foreach(events, i, ev) n +=
        strcmp(json_string_value(json_object_get(ev, "type")), type) == 0;
    return n;
}

static size_t count_contributions(const json_t *doc)
{
    size_t i, k, n = 0;
    json_t *sp, *round;

    json_array_foreach(json_object_get(doc, "sub_problems"), i, sp)
        json_array_foreach(json_object_get(sp, "rounds"), k, round) n +=
        json_array_size(json_object_get(round, "contributions"));
    return n;
}

START_TEST(test_many_concurrent_deliberations_complete_with_whole_event_logs)
{
    char *ids[N_SESSIONS];
    int done[N_SESSIONS] = {0};
    int left = N_SESSIONS;
    long long deadline;
    const char *h[] = {"Content-Type: application/json", NULL};
    char body[256];
    char path[128];

    for (int i = 0; i < N_SESSIONS; i++) {
        struct h_resp r;
        snprintf(body, sizeof(body),
                 "{\"problem\":{\"statement\":\"Load test %d: should we hire a second sales "
                 "person this quarter?\"}}",
                 i);
        h_http(&r, "POST", bo1d.port, "/api/v1/sessions", h, body, strlen(body));
        ck_assert_msg(r.status == 201, "create %d: %ld %s", i, r.status, r.body);
        json_t *j = h_resp_json(&r);
        ids[i] = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        h_resp_free(&r);
    }
    deadline = h_now_ms() + 120000;
    while (left > 0 && h_now_ms() < deadline) {
        h_sleep_ms(500);
        for (int i = 0; i < N_SESSIONS; i++) {
            if (done[i])
                continue;
            snprintf(path, sizeof(path), "/api/v1/sessions/%s", ids[i]);
            json_t *doc = get_json(path);
            const char *status = json_string_value(json_object_get(doc, "status"));
            ck_assert_ptr_nonnull(status);
            ck_assert_msg(strcmp(status, "failed") != 0 && strcmp(status, "cancelled") != 0,
                          "session %s ended %s", ids[i], status);
            if (strcmp(status, "completed") == 0) {
                done[i] = 1;
                left--;
            }
            json_decref(doc);
        }
    }
    ck_assert_msg(left == 0, "%d of %d deliberations did not complete", left, N_SESSIONS);

    for (int i = 0; i < N_SESSIONS; i++) {
        snprintf(path, sizeof(path), "/api/v1/sessions/%s", ids[i]);
        json_t *doc = get_json(path);
        json_t *events = event_log(ids[i]);
        size_t n = json_array_size(events);

        ck_assert_uint_gt(n, 10);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_object_get(json_array_get(events, 0), "data"), "status")),
                         "created");
        for (size_t k = 1; k < n; k++) {
            const char *a = json_string_value(json_object_get(json_array_get(events, k - 1), "id"));
            const char *b = json_string_value(json_object_get(json_array_get(events, k), "id"));
            unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
            unsigned long long as = strtoull(strchr(a, '-') + 1, NULL, 10);
            unsigned long long bs = strtoull(strchr(b, '-') + 1, NULL, 10);
            ck_assert_msg(am < bm || (am == bm && as < bs), "ids %s then %s", a, b);
        }
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(events, n - 1), "type")),
                         "session.completed");
        ck_assert_uint_eq(count_type(events, "session.completed"), 1);
        ck_assert_uint_eq(count_type(events, "contribution"), count_contributions(doc));
        ck_assert_uint_gt(count_contributions(doc), 2);
        json_decref(events);
        json_decref(doc);
        free(ids[i]);
    }
    /* bo1d is still there and healthy after the load. */
    json_decref(get_json("/health"));
}
END_TEST

static Suite *load_suite(void)
{
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("many");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_many_concurrent_deliberations_complete_with_whole_event_logs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (!getenv("BO1_TEST_FAKE_LLM")) {
        fprintf(stderr, "BO1_TEST_FAKE_LLM not set: skipping\n");
        return 77;
    }
    sr = srunner_create(load_suite());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
