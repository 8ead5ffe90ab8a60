/* The fleet-wide bo1_sessions{status} gauge of GET /metrics: real redis-server, two bo1d
 * sharing it, bo1-fake-llm as the provider. After each step both instances must report
 * exactly the expected count for every status (the gauge is cached up to 1 s, so each
 * check polls until the values match or 4 s pass). */
#include <check.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct h_proc redis;
static struct h_proc fake;
static struct h_proc bo1d_a;
static struct h_proc bo1d_b;

#define KEY  "Authorization: Bearer key-metrics-0123456789"
#define JSON "Content-Type: application/json"
#define STEP "Should we open a second bakery in the next town this year?"

static const char *const statuses[8] = {"created", "queued",    "running", "awaiting_input",
                                        "paused",  "completed", "failed",  "cancelled"};

/* ---- processes ------------------------------------------------------------------- */

static void start_fake(void)
{
    ck_assert_int_eq(h_fake_start(&fake, 5), 0);
}

static void start_bo1d(struct h_proc *p, const char *extra)
{
    const char *const more[] = {extra, NULL};

    ck_assert_int_eq(h_bo1d_start_fake(p, redis.port, fake.port, "key-metrics-0123456789", more),
                     0);
}

static void setup(void)
{
    memset(&bo1d_a, 0, sizeof(bo1d_a));
    memset(&bo1d_b, 0, sizeof(bo1d_b));
    ck_assert_int_eq(h_redis_start(&redis), 0);
    start_fake();
}

static void teardown(void)
{
    if (bo1d_a.pid > 0)
        ck_assert_int_eq(h_proc_stop(&bo1d_a, SIGTERM, 20000), 0);
    if (bo1d_b.pid > 0)
        ck_assert_int_eq(h_proc_stop(&bo1d_b, SIGTERM, 20000), 0);
    h_proc_stop(&fake, SIGKILL, 2000);
    h_proc_stop(&redis, SIGKILL, 2000);
}

/* ---- HTTP ------------------------------------------------------------------------ */

static json_t *call(int port, long want, const char *method, const char *body, const char *fmt, ...)
{
    char path[256];
    va_list ap;
    struct h_resp r;
    const char *h[] = {KEY, JSON, NULL};
    json_t *j;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    ck_assert_int_eq(h_http(&r, method, port, path, h, body, body ? strlen(body) : 0), 0);
    ck_assert_msg(r.status == want, "%s %s: %ld, want %ld: %s", method, path, r.status, want,
                  r.body);
    j = r.body_len ? h_resp_json(&r) : json_object();
    h_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

static char *create(int port, const char *statement, int start)
{
    char body[512];
    json_t *j;
    char *id;

    snprintf(body, sizeof(body), "{\"problem\":{\"statement\":\"%s\"},\"options\":{\"start\":%s}}",
             statement, start ? "true" : "false");
    j = call(port, 201, "POST", body, "/api/v1/sessions");
    id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return id;
}

static void control(int port, const char *id, const char *action)
{
    json_decref(call(port, 200, "POST", "{}", "/api/v1/sessions/%s/%s", id, action));
}

static void wait_status(const char *id, const char *want, int ms)
{
    long long deadline = h_now_ms() + ms;
    char last[32] = "";

    do {
        json_t *j = call(bo1d_a.port, 200, "GET", NULL, "/api/v1/sessions/%s", id);
        snprintf(last, sizeof(last), "%s", json_string_value(json_object_get(j, "status")));
        json_decref(j);
        if (strcmp(last, want) == 0)
            return;
        h_sleep_ms(25);
    } while (h_now_ms() < deadline);
    ck_abort_msg("session %s: status %s, waited %d ms for %s", id, last, ms, want);
}

/* The bo1_sessions family from /metrics on @port into @n (in statuses order). Returns the
 * number of statuses found. */
static int gauge(int port, long long n[8])
{
    struct h_resp r;
    int found = 0;

    ck_assert_int_eq(h_http(&r, "GET", port, "/metrics", NULL, NULL, 0), 0);
    ck_assert_int_eq(r.status, 200);
    for (int i = 0; i < 8; i++) {
        char pat[64];
        const char *at;

        snprintf(pat, sizeof(pat), "\nbo1_sessions{status=\"%s\"} ", statuses[i]);
        at = strstr(r.body, pat);
        n[i] = -1;
        if (at) {
            n[i] = strtoll(at + strlen(pat), NULL, 10);
            found++;
        }
    }
    h_resp_free(&r);
    return found;
}

/* Every instance running reports exactly @want (created, queued, running, awaiting_input,
 * paused, completed, failed, cancelled) within 4 s. */
static void expect_at(int line, long long c, long long q, long long ru, long long aw, long long p,
                      long long co, long long f, long long ca)
{
    const long long want[8] = {c, q, ru, aw, p, co, f, ca};
    struct h_proc *procs[2] = {&bo1d_a, &bo1d_b};

    for (int k = 0; k < 2; k++) {
        long long deadline = h_now_ms() + 4000;
        long long got[8];
        int ok = 0;

        if (procs[k]->pid <= 0)
            continue;
        do {
            ck_assert_int_eq(gauge(procs[k]->port, got), 8);
            ok = memcmp(got, want, sizeof(want)) == 0;
            if (!ok)
                h_sleep_ms(100);
        } while (!ok && h_now_ms() < deadline);
        ck_assert_msg(ok,
                      "line %d, instance %d: got %lld %lld %lld %lld %lld %lld %lld %lld, "
                      "want %lld %lld %lld %lld %lld %lld %lld %lld",
                      line, k, got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7],
                      want[0], want[1], want[2], want[3], want[4], want[5], want[6], want[7]);
    }
}
#define expect(...) expect_at(__LINE__, __VA_ARGS__)

/* The ZSET entry that counts a session with a TTL expires with the session hash itself. */
static void assert_counted_until_expiry(const char *id, const char *status)
{
    long long expiry = h_redis_int(redis.port, "PEXPIRETIME bo1:{%s}:session", id);
    redisReply *score = h_redis(redis.port, "ZSCORE bo1:{stats}:sessions:%s %s", status, id);

    ck_assert_ptr_nonnull(score);
    ck_assert_int_eq(score->type, REDIS_REPLY_STRING);
    ck_assert_int_gt(expiry, 0);
    ck_assert_msg(llabs(strtoll(score->str, NULL, 10) - expiry) < 1000,
                  "%s: counted until %s, key expires at %lld", id, score->str, expiry);
    freeReplyObject(score);
}

static void fake_faults(const char *rules)
{
    struct h_resp r;
    const char *h[] = {JSON, NULL};

    ck_assert_int_eq(h_http(&r, "POST", fake.port, "/_fake/faults", h, rules, strlen(rules)), 0);
    ck_assert_int_lt(r.status, 300);
    h_resp_free(&r);
}

/* ---- tests ----------------------------------------------------------------------- */

/* create, start, clarification, pause, resume, cancel, delete, a completed and a failed
 * deliberation; two instances, each request sent to either. */
START_TEST(test_sessions_by_status_two_instances)
{
    char *a;
    char *b;
    char *c;
    char *d;

    start_bo1d(&bo1d_a, NULL);
    start_bo1d(&bo1d_b, NULL);
    expect(0, 0, 0, 0, 0, 0, 0, 0);

    a = create(bo1d_a.port, STEP " [fake:clarify=1] [fake:rounds=1]", 0);
    expect(1, 0, 0, 0, 0, 0, 0, 0);
    assert_counted_until_expiry(a, "created");
    control(bo1d_b.port, a, "start");
    wait_status(a, "awaiting_input", 20000);
    expect(0, 0, 0, 1, 0, 0, 0, 0);

    control(bo1d_a.port, a, "pause");
    expect(0, 0, 0, 0, 1, 0, 0, 0);
    control(bo1d_b.port, a, "resume");
    wait_status(a, "awaiting_input", 20000);
    expect(0, 0, 0, 1, 0, 0, 0, 0);

    b = create(bo1d_b.port, STEP, 0);
    expect(1, 0, 0, 1, 0, 0, 0, 0);
    control(bo1d_a.port, b, "cancel");
    expect(0, 0, 0, 1, 0, 0, 0, 1);
    assert_counted_until_expiry(b, "cancelled");
    json_decref(call(bo1d_b.port, 204, "DELETE", NULL, "/api/v1/sessions/%s", b));
    expect(0, 0, 0, 1, 0, 0, 0, 0);

    c = create(bo1d_b.port, STEP " [fake:rounds=1]", 1);
    wait_status(c, "completed", 60000);
    expect(0, 0, 0, 1, 0, 1, 0, 0);
    assert_counted_until_expiry(c, "completed");

    fake_faults("[{\"contains\":\"METRICSFAIL\",\"error\":\"spend_limit\"}]");
    d = create(bo1d_a.port, STEP " METRICSFAIL", 1);
    wait_status(d, "failed", 60000);
    expect(0, 0, 0, 1, 0, 1, 1, 0);
    assert_counted_until_expiry(d, "failed");

    control(bo1d_a.port, a, "cancel");
    expect(0, 0, 0, 0, 0, 1, 1, 1);

    /* An instance restarting changes nothing: the counts live in Redis. */
    ck_assert_int_eq(h_proc_stop(&bo1d_b, SIGTERM, 20000), 0);
    start_bo1d(&bo1d_b, NULL);
    expect(0, 0, 0, 0, 0, 1, 1, 1);

    json_decref(call(bo1d_a.port, 204, "DELETE", NULL, "/api/v1/sessions/%s", a));
    json_decref(call(bo1d_b.port, 204, "DELETE", NULL, "/api/v1/sessions/%s", c));
    json_decref(call(bo1d_a.port, 204, "DELETE", NULL, "/api/v1/sessions/%s", d));
    expect(0, 0, 0, 0, 0, 0, 0, 0);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

/* A session created without start leaves the count when its key expires by TTL. */
START_TEST(test_unstarted_session_expires_from_the_count)
{
    char *a;

    start_bo1d(&bo1d_a, "BO1_UNSTARTED_TTL_S=2");
    a = create(bo1d_a.port, STEP, 0);
    expect(1, 0, 0, 0, 0, 0, 0, 0);
    h_sleep_ms(2300);
    ck_assert_int_eq(h_redis_int(redis.port, "EXISTS bo1:{%s}:session", a), 0);
    expect(0, 0, 0, 0, 0, 0, 0, 0);
    free(a);
}
END_TEST

/* A session waiting in the job stream counts as queued until a runner takes it. */
START_TEST(test_queued_until_a_runner_is_free)
{
    char *a;
    char *b;

    start_bo1d(&bo1d_a, "BO1_MAX_RUNNING=1");
    a = create(bo1d_a.port, STEP " [fake:clarify=1] [fake:rounds=1]", 1);
    wait_status(a, "awaiting_input", 20000);
    b = create(bo1d_a.port, STEP " [fake:rounds=1]", 1);
    expect(0, 1, 0, 1, 0, 0, 0, 0);
    h_sleep_ms(1500);
    expect(0, 1, 0, 1, 0, 0, 0, 0);
    control(bo1d_a.port, a, "cancel");
    wait_status(b, "completed", 60000);
    expect(0, 0, 0, 0, 0, 1, 0, 1);
    free(a);
    free(b);
}
END_TEST

/* A burst of scrapes within the cache second costs at most a couple of Redis queries. */
START_TEST(test_scrapes_are_cached)
{
    long long n[8];
    long long after;
    long long t0;

    start_bo1d(&bo1d_a, NULL);
    ck_assert_int_eq(gauge(bo1d_a.port, n), 8);
    {
        redisReply *r = h_redis(redis.port, "CONFIG RESETSTAT");
        freeReplyObject(r);
    }
    t0 = h_now_ms();
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(gauge(bo1d_a.port, n), 8);
    {
        redisReply *r = h_redis(redis.port, "INFO commandstats");
        const char *at;

        ck_assert_ptr_nonnull(r);
        at = strstr(r->str, "cmdstat_eval:calls=");
        after = at ? strtoll(at + strlen("cmdstat_eval:calls="), NULL, 10) : 0;
        freeReplyObject(r);
    }
    /* One query per elapsed second at most (plus the one in flight at each boundary). */
    ck_assert_int_le(after, (h_now_ms() - t0) / 1000 + 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("sessions_by_status");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sessions_by_status_two_instances);
    tcase_add_test(tc, test_unstarted_session_expires_from_the_count);
    tcase_add_test(tc, test_queued_until_a_runner_is_free);
    tcase_add_test(tc, test_scrapes_are_cached);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
