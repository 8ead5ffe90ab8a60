/* The sessions API over real HTTP with a real Redis: every error status of API.md, access
 * control, idempotency, rate limits, lifecycle transitions and event replay. The
 * deliberation itself is exercised by test_deliberation.c. */
#include <check.h>
#include <curl/curl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../../src/store/scripts.h"
#include "harness.h"

static struct h_proc redis;
static struct h_proc bo1d;

#define KEY_A "Authorization: Bearer key-alpha-0123456789"
#define KEY_B "Authorization: Bearer key-bravo-0123456789"
#define JSON  "Content-Type: application/json"
#define BODY                                                                                       \
    "{\"problem\":{\"statement\":\"Should we expand to a second city this "                        \
    "year?\"},\"options\":{\"start\":false}}"

static void setup(void)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true",
                   "BO1_API_KEYS=key-alpha-0123456789,key-bravo-0123456789",
                   "BO1_RATE_CREATE_PER_MIN=20",
                   "BO1_MAX_BODY_BYTES=4096",
                   "BO1_CORS_ORIGINS=https://app.example",
                   NULL};

    ck_assert_int_eq(h_redis_start(&redis), 0);
    ck_assert_int_eq(h_bo1d_start(&bo1d, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(bo1d.port, 5000), 0);
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

    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
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

static long post(struct h_resp *r, const char *path, const char *key, const char *body)
{
    const char *h[] = {key, JSON, NULL};

    h_http(r, "POST", bo1d.port, path, h, body, body ? strlen(body) : 0);
    return r->status;
}

/* Create a session as @key; returns its id (caller frees). */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *create(const char *key)
{
    struct h_resp r;
    json_t *j;
    char *id;

    ck_assert_int_eq(post(&r, "/api/v1/sessions", key, BODY), 201);
    j = h_resp_json(&r);
    id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    return id;
}

START_TEST(test_create_returns_201_with_location_and_links)
{
    struct h_resp r;
    json_t *j;
    char *loc;

    ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_A, BODY), 201);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "created");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(j, "id"))), 22);
    ck_assert(json_is_object(json_object_get(j, "links")));
    loc = h_resp_header(&r, "Location");
    ck_assert_ptr_nonnull(loc);
    ck_assert_ptr_nonnull(strstr(loc, json_string_value(json_object_get(j, "id"))));
    free(loc);
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_missing_or_bad_key_is_401)
{
    struct h_resp r;
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    const char *basic[] = {"Authorization: Basic a2V5OnZhbHVl", NULL};

    char *www;

    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", NULL, NULL, 0);
    assert_problem(&r, 401, "UNAUTHORIZED");
    www = h_resp_header(&r, "WWW-Authenticate");
    ck_assert_ptr_nonnull(www);
    ck_assert_int_eq(strncmp(www, "Bearer", 6), 0);
    free(www);
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", bad, NULL, 0);
    assert_problem(&r, 401, "UNAUTHORIZED");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/personas", basic, NULL, 0);
    assert_problem(&r, 401, "UNAUTHORIZED");
    h_resp_free(&r);
}
END_TEST

START_TEST(test_other_keys_sessions_are_404)
{
    char *id = create(KEY_A);
    char path[128];
    struct h_resp r;
    const char *hb[] = {KEY_B, NULL};
    const char *ha[] = {KEY_A, NULL};

    snprintf(path, sizeof(path), "/api/v1/sessions/%s", id);
    h_http(&r, "GET", bo1d.port, path, hb, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    h_http(&r, "DELETE", bo1d.port, path, hb, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/events", id);
    h_http(&r, "GET", bo1d.port, path, hb, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    /* B's list does not show it; A's does. */
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", hb, NULL, 0);
    ck_assert_ptr_null(strstr(r.body, id));
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", ha, NULL, 0);
    ck_assert_ptr_nonnull(strstr(r.body, id));
    h_resp_free(&r);
    /* A deletes it: 204 without content (and so without a Content-Type); then it is gone. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", id);
    h_http(&r, "DELETE", bo1d.port, path, ha, NULL, 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_ptr_null(h_resp_header(&r, "Content-Type"));
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    free(id);
}
END_TEST

START_TEST(test_body_errors_are_problems_and_change_nothing)
{
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    const char *text[] = {KEY_A, "Content-Type: text/plain", NULL};
    char big[5000];
    json_t *list;

    /* 415 */
    h_http(&r, "POST", bo1d.port, "/api/v1/sessions", text, BODY, strlen(BODY));
    assert_problem(&r, 415, "UNSUPPORTED_MEDIA");
    h_resp_free(&r);
    /* 413 */
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    post(&r, "/api/v1/sessions", KEY_A, big);
    assert_problem(&r, 413, "TOO_LARGE");
    h_resp_free(&r);
    /* 400: broken, truncated, not an object, empty, duplicate keys */
    post(&r, "/api/v1/sessions", KEY_A, "{\"problem\": {");
    assert_problem(&r, 400, "BAD_JSON");
    ck_assert_ptr_nonnull(strstr(r.body, "line 1"));
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A, "{\"problem\": {\"statement\": \"abcdefghijk");
    assert_problem(&r, 400, "BAD_JSON");
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A, "[1,2,3]");
    assert_problem(&r, 400, "BAD_JSON");
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A, "");
    assert_problem(&r, 400, "BAD_JSON");
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A, "{\"a\":1,\"a\":2}");
    assert_problem(&r, 400, "BAD_JSON");
    h_resp_free(&r);
    /* 400 with the field named */
    post(&r, "/api/v1/sessions", KEY_A,
         "{\"problem\":{\"statement\":42},\"options\":{\"budget_usd\":\"lots\",\"evil\":true}}");
    assert_problem(&r, 400, "BAD_FIELD");
    ck_assert_ptr_nonnull(strstr(r.body, "problem.statement"));
    ck_assert_ptr_nonnull(strstr(r.body, "options.budget_usd"));
    ck_assert_ptr_nonnull(strstr(r.body, "options.evil"));
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A,
         "{\"problem\":{\"statement\":\"nul \\u0000 inside text\"}}");
    ck_assert_int_eq(r.status, 400);
    h_resp_free(&r);
    post(&r, "/api/v1/sessions", KEY_A,
         "{\"problem\":{\"statement\":\"bad utf8 \xff\xfe here ok\"}}");
    ck_assert_int_eq(r.status, 400);
    h_resp_free(&r);
    /* nothing was written */
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", ha, NULL, 0);
    list = h_resp_json(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_illegal_transition_is_409_with_status)
{
    char *id = create(KEY_A);
    char path[160];
    struct h_resp r;

    snprintf(path, sizeof(path), "/api/v1/sessions/%s/resume", id);
    post(&r, path, KEY_A, NULL);
    assert_problem(&r, 409, "WRONG_STATE");
    ck_assert_ptr_nonnull(strstr(r.body, "created"));
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"cancelled\""));
    h_resp_free(&r);
    post(&r, path, KEY_A, NULL);
    assert_problem(&r, 409, "WRONG_STATE");
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/answers", id);
    post(&r, path, KEY_A, "{\"answers\":{\"q1\":\"yes\"}}");
    assert_problem(&r, 409, "WRONG_STATE");
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/report", id);
    {
        const char *ha[] = {KEY_A, NULL};
        h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
        assert_problem(&r, 409, "WRONG_STATE");
        h_resp_free(&r);
    }
    free(id);
}
END_TEST

/* API.md: unknown JSON fields are rejected with their name, and a failed request changes
 * nothing. The lifecycle actions take no fields: an empty body or {} is fine, any field
 * is a 400 naming it, and a non-JSON body is a 415. */
START_TEST(test_lifecycle_body_fields_are_rejected_by_name)
{
    char *id = create(KEY_A);
    char path[160];
    struct h_resp r;
    json_t *j;
    const char *text[] = {KEY_A, "Content-Type: text/plain", NULL};

    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", id);
    post(&r, path, KEY_A, "{\"force\":true}");
    assert_problem(&r, 400, "BAD_FIELD");
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field")),
                     "force");
    json_decref(j);
    h_resp_free(&r);
    h_http(&r, "POST", bo1d.port, path, text, "go", 2);
    assert_problem(&r, 415, "UNSUPPORTED_MEDIA");
    h_resp_free(&r);
    post(&r, path, KEY_A, "[1]");
    assert_problem(&r, 400, "BAD_JSON");
    h_resp_free(&r);
    /* Nothing changed: the session is still created. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/pause", id);
    post(&r, path, KEY_A, "{}");
    assert_problem(&r, 409, "WRONG_STATE");
    ck_assert_ptr_nonnull(strstr(r.body, "created"));
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", id);
    ck_assert_int_eq(post(&r, path, KEY_A, "{}"), 200);
    h_resp_free(&r);
    free(id);
}
END_TEST

/* API.md: a cap on concurrently running sessions per key, enforced in Redis (so it holds
 * across instances): at the cap (default 10) a create with start and a start are 429 with
 * Retry-After and change nothing. The active set is filled directly, as other instances'
 * sessions would fill it. */
START_TEST(test_active_session_cap_is_429_and_held_in_redis)
{
    char *id = create(KEY_A);
    char path[160];
    char active[128];
    struct h_resp r;
    struct redisReply *rep;
    char *ra;
    const char *started =
        "{\"problem\":{\"statement\":\"Should we open a third office next year?\"}}";

    rep = h_redis(redis.port, "KEYS bo1:{o:*}:sessions");
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(rep->elements, 1);
    snprintf(active, sizeof(active), "%.*s:active",
             (int)(strlen(rep->element[0]->str) - strlen(":sessions")), rep->element[0]->str);
    freeReplyObject(rep);
    /* Slots taken just now (score = ms) by sessions of other instances' creates. */
    for (int i = 0; i < 10; i++) {
        rep = h_redis(redis.port, "ZADD %s %lld elsewhere-%d", active, now_ms(), i);
        ck_assert_ptr_nonnull(rep);
        freeReplyObject(rep);
    }
    post(&r, "/api/v1/sessions", KEY_A, started);
    assert_problem(&r, 429, "RATE_LIMITED");
    ra = h_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_ge(atoi(ra), 1);
    free(ra);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", id);
    post(&r, path, KEY_A, NULL);
    assert_problem(&r, 429, "RATE_LIMITED");
    h_resp_free(&r);
    /* Nothing changed: one session, still created; another key is not capped. */
    snprintf(path, sizeof(path), "%.*s:sessions", (int)(strlen(active) - strlen(":active")),
             active);
    ck_assert_int_eq(h_redis_int(redis.port, "ZCARD %s", path), 1);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", id);
    {
        const char *ha[] = {KEY_A, NULL};
        h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"created\""));
        h_resp_free(&r);
    }
    ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_B, BODY), 201);
    h_resp_free(&r);
    free(id);
}
END_TEST

/* The cap's set is repaired lazily (docs/internals/store.md): a slot whose session is not
 * queued, running or awaiting input any more (a step that frees slots never ran, e.g. an
 * instance died between its writes), or whose session does not exist and was taken longer
 * ago than the step grace, is freed when the cap is reached, so it never blocks the key
 * for ever. A young slot without a session (a create between its steps) still counts. */
START_TEST(test_active_cap_repairs_stale_slots)
{
    char *created = create(KEY_A);
    char active[128];
    struct h_resp r;
    struct redisReply *rep;
    const char *started =
        "{\"problem\":{\"statement\":\"Should we open a third office next year?\"}}";

    rep = h_redis(redis.port, "KEYS bo1:{o:*}:sessions");
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(rep->elements, 1);
    snprintf(active, sizeof(active), "%.*s:active",
             (int)(strlen(rep->element[0]->str) - strlen(":sessions")), rep->element[0]->str);
    freeReplyObject(rep);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(h_redis_int(redis.port, "ZADD %s 1000 crashed-%d", active, i), 1);
    ck_assert_int_eq(h_redis_int(redis.port, "ZADD %s %lld young", active, now_ms()), 1);
    /* A real session left in the set although it is only created (never started). */
    ck_assert_int_eq(h_redis_int(redis.port, "ZADD %s %lld %s", active, now_ms(), created), 1);
    ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_A, started), 201);
    h_resp_free(&r);
    ck_assert_int_eq(h_redis_int(redis.port, "ZCARD %s", active), 2);
    rep = h_redis(redis.port, "ZSCORE %s young", active);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    ck_assert_int_eq(h_redis_int(redis.port, "ZRANK %s %s", active, created), LLONG_MIN);
    /* Now the set is exact and full: young + 8 more real ones reach the cap of 10. */
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_A, started), 201);
        h_resp_free(&r);
    }
    post(&r, "/api/v1/sessions", KEY_A, started);
    assert_problem(&r, 429, "RATE_LIMITED");
    h_resp_free(&r);
    free(created);
}
END_TEST

/* Under BO1_TEST_REDIS_CLUSTER=1 (the *_cluster tests) the Redis really is a cluster node
 * that refuses keys of two slots in one command or script, and only has database 0: what
 * the other tests of this run did passed that check. Without it, a plain Redis accepts. */
START_TEST(test_cluster_mode_refuses_keys_of_two_slots)
{
    const char *mode = getenv("BO1_TEST_REDIS_CLUSTER");
    int cluster = mode && strcmp(mode, "1") == 0;
    redisReply *rep = h_redis(redis.port, "EVAL %s 2 %s %s", "return 1", "bo1:{a}:x", "bo1:{b}:x");

    ck_assert_ptr_nonnull(rep);
    if (cluster) {
        ck_assert_int_eq(rep->type, REDIS_REPLY_ERROR);
        ck_assert_ptr_nonnull(strstr(rep->str, "CROSSSLOT"));
        freeReplyObject(rep);
        rep = h_redis(redis.port, "SELECT 1");
        ck_assert_ptr_nonnull(rep);
        ck_assert_int_eq(rep->type, REDIS_REPLY_ERROR);
    } else {
        ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
    }
    freeReplyObject(rep);
    /* One slot is fine either way. */
    ck_assert_int_eq(
        h_redis_int(redis.port, "EVAL %s 2 %s %s", "return 1", "bo1:{a}:x", "bo1:{a}:y"), 1);
}
END_TEST

/* API.md: CORS for configured origins only, on answers and on preflights. */
START_TEST(test_cors_only_for_configured_origins)
{
    const char *good[] = {KEY_A, "Origin: https://app.example", NULL};
    const char *other[] = {KEY_A, "Origin: https://evil.example", NULL};
    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: authorization, content-type", NULL};
    struct h_resp r;
    char *v;

    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", good, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    v = h_resp_header(&r, "Access-Control-Allow-Origin");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "https://app.example");
    free(v);
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", other, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(h_resp_header(&r, "Access-Control-Allow-Origin"));
    h_resp_free(&r);
    h_http(&r, "OPTIONS", bo1d.port, "/api/v1/sessions", pre, NULL, 0);
    ck_assert_int_eq(r.status, 204);
    v = h_resp_header(&r, "Access-Control-Allow-Methods");
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(strstr(v, "POST"));
    free(v);
    v = h_resp_header(&r, "Access-Control-Allow-Headers");
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(strstr(v, "Authorization"));
    free(v);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_idempotent_create_replays_and_mismatch_is_422)
{
    const char *h1[] = {KEY_A, JSON, "Idempotency-Key: order-7", NULL};
    const char *other = "{\"problem\":{\"statement\":\"A completely different question here\"}}";
    struct h_resp r1, r2, r3;
    json_t *a, *b;
    char *replayed;

    h_http(&r1, "POST", bo1d.port, "/api/v1/sessions", h1, BODY, strlen(BODY));
    h_http(&r2, "POST", bo1d.port, "/api/v1/sessions", h1, BODY, strlen(BODY));
    ck_assert_int_eq(r1.status, 201);
    ck_assert_int_eq(r2.status, 201);
    a = h_resp_json(&r1);
    b = h_resp_json(&r2);
    ck_assert_str_eq(json_string_value(json_object_get(a, "id")),
                     json_string_value(json_object_get(b, "id")));
    replayed = h_resp_header(&r2, "Idempotent-Replayed");
    ck_assert_str_eq(replayed, "true");
    free(replayed);
    h_http(&r3, "POST", bo1d.port, "/api/v1/sessions", h1, other, strlen(other));
    assert_problem(&r3, 422, "IDEMPOTENCY_MISMATCH");
    json_decref(a);
    json_decref(b);
    h_resp_free(&r1);
    h_resp_free(&r2);
    h_resp_free(&r3);
}
END_TEST

START_TEST(test_rate_limit_is_429_with_retry_after)
{
    struct h_resp r;
    int created = 0;
    long last = 0;
    char *ra;

    for (int i = 0; i < 25; i++) {
        last = post(&r, "/api/v1/sessions", KEY_B, BODY);
        created += last == 201;
        if (last == 429)
            break;
        h_resp_free(&r);
    }
    ck_assert_int_eq(created, 20);
    assert_problem(&r, 429, "RATE_LIMITED");
    ra = h_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_ge(atoi(ra), 1);
    ck_assert_int_le(atoi(ra), 60);
    free(ra);
    h_resp_free(&r);
    /* another key is not affected */
    ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_A, BODY), 201);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_events_page_and_sse_replay_from_the_middle)
{
    char *id = create(KEY_A);
    char path[160];
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    json_t *page, *events;
    const char *mid;
    char hdr[128];
    const char *hs[] = {KEY_A, "Accept: text/event-stream", hdr, NULL};
    redisReply *rep;

    /* created -> queued -> paused -> queued -> cancelled: five events. The lease is held
     * by a runner that does nothing, so bo1d's own runner cannot claim the started session
     * and add its events between the start and the pause (it would whenever this test is
     * a few ms slower than bo1d's runner). */
    rep = h_redis(redis.port, "SET bo1:{%s}:lease test-runner PX 60000", id);
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/pause", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/resume", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/sessions/%s/events", id);
    h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    page = h_resp_json(&r);
    events = json_object_get(page, "events");
    ck_assert_uint_eq(json_array_size(events), 6);
    for (size_t i = 1; i < json_array_size(events); i++)
        ck_assert_str_lt(json_string_value(json_object_get(json_array_get(events, i - 1), "id")),
                         json_string_value(json_object_get(json_array_get(events, i), "id")));
    mid = json_string_value(json_object_get(json_array_get(events, 2), "id"));
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", mid);
    h_resp_free(&r);

    /* SSE from the middle: exactly the tail, then the stream ends after the terminal event. */
    h_http(&r, "GET", bo1d.port, path, hs, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    {
        char *ct = h_resp_header(&r, "Content-Type");
        ck_assert_str_eq(ct, "text/event-stream");
        free(ct);
    }
    for (size_t i = 0; i < json_array_size(events); i++) {
        char line[96];
        const char *eid = json_string_value(json_object_get(json_array_get(events, i), "id"));
        snprintf(line, sizeof(line), "id: %s\n", eid);
        if (i <= 2)
            ck_assert_ptr_null(strstr(r.body, line));
        else
            ck_assert_ptr_nonnull(strstr(r.body, line));
    }
    ck_assert_ptr_nonnull(strstr(r.body, "event: session.completed"));
    json_decref(page);
    h_resp_free(&r);
    free(id);
}
END_TEST

START_TEST(test_hostile_ids_and_queries_are_rejected)
{
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};

    h_http(&r, "GET", bo1d.port, "/api/v1/sessions/..%2F..%2Fetc", ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA", ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?limit=0", ha, NULL, 0);
    assert_problem(&r, 400, "BAD_FIELD");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?status=exploded", ha, NULL, 0);
    assert_problem(&r, 400, "BAD_FIELD");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?cursor=%27%3BFLUSHALL", ha, NULL, 0);
    assert_problem(&r, 400, "BAD_FIELD");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/personas/does_not_exist", ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/personas/facilitator", ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
}
END_TEST

START_TEST(test_list_is_newest_first_with_cursor_pagination)
{
    char *ids[5];
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    json_t *p1, *p2;
    char path[256];

    for (int i = 0; i < 5; i++) {
        ids[i] = create(KEY_A);
        h_sleep_ms(3);
    }
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?limit=3", ha, NULL, 0);
    p1 = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(p1, "items")), 3);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(p1, "items"), 0), "id")),
        ids[4]);
    snprintf(path, sizeof(path), "/api/v1/sessions?limit=3&cursor=%s",
             json_string_value(json_object_get(p1, "next_cursor")));
    h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
    p2 = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(p2, "items")), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(p2, "items"), 1), "id")),
        ids[0]);
    /* The last page says so: no cursor to an empty page. */
    ck_assert(json_is_null(json_object_get(p2, "next_cursor")));
    json_decref(p1);
    json_decref(p2);
    /* A page that ends exactly at the last session is the last page too. */
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?limit=5", ha, NULL, 0);
    p1 = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(p1, "items")), 5);
    ck_assert(json_is_null(json_object_get(p1, "next_cursor")));
    json_decref(p1);
    /* With a status filter the look-ahead skips what does not match. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", ids[2]);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?limit=1&status=cancelled", ha, NULL, 0);
    p1 = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(p1, "items")), 1);
    ck_assert(json_is_null(json_object_get(p1, "next_cursor")));
    json_decref(p1);
    for (int i = 0; i < 5; i++)
        free(ids[i]);
}
END_TEST

/* An index entry whose session is gone (a create that died between its steps, an expired
 * session) is never listed, and is dropped once older than the step grace (60 s); a young
 * one may be a create still between its steps and is kept. */
START_TEST(test_list_drops_stale_index_entries_only)
{
    char *id = create(KEY_A);
    const char *ha[] = {KEY_A, NULL};
    char index[128];
    struct h_resp r;
    struct redisReply *rep;
    json_t *j;

    rep = h_redis(redis.port, "KEYS bo1:{o:*}:sessions");
    ck_assert_ptr_nonnull(rep);
    ck_assert_uint_eq(rep->elements, 1);
    snprintf(index, sizeof(index), "%s", rep->element[0]->str);
    freeReplyObject(rep);
    ck_assert_int_eq(
        h_redis_int(redis.port, "ZADD %s %lld OldOrphanOldOrphanOld1", index, now_ms() - 120000),
        1);
    ck_assert_int_eq(
        h_redis_int(redis.port, "ZADD %s %lld YoungOrphanYoungOrpha", index, now_ms() + 1000), 1);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "items")), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "id")),
        id);
    json_decref(j);
    h_resp_free(&r);
    /* The stale entry is dropped by a command sent alongside the answer, not before it:
     * give it up to 2 s to reach Redis. */
    for (int tries = 0; tries < 40 && h_redis_int(redis.port, "ZCARD %s", index) != 2; tries++)
        h_sleep_ms(50);
    ck_assert_int_eq(h_redis_int(redis.port, "ZCARD %s", index), 2);
    ck_assert_int_eq(h_redis_int(redis.port, "ZRANK %s OldOrphanOldOrphanOld1", index), LLONG_MIN);
    ck_assert_int_ge(h_redis_int(redis.port, "ZRANK %s YoungOrphanYoungOrpha", index), 0);
    free(id);
}
END_TEST

/* List items are summaries: no options, no ledger; the statement cut to 200 characters. */
START_TEST(test_list_items_are_summaries)
{
    char stmt[1200];
    char body[1400];
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    json_t *page, *item, *links;
    const char *s;
    size_t n = 0;
    char *id;

    /* 250 two-byte characters: the cut must fall on a character boundary. */
    for (int i = 0; i < 250; i++)
        n += (size_t)snprintf(stmt + n, sizeof(stmt) - n, "\xc3\xa9");
    snprintf(body, sizeof(body),
             "{\"problem\":{\"statement\":\"Should we %s?\"},\"options\":{\"start\":false}}", stmt);
    ck_assert_int_eq(post(&r, "/api/v1/sessions", KEY_A, body), 201);
    h_resp_free(&r);
    h_sleep_ms(3); /* newest first: a later millisecond */
    id = create(KEY_A);
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions", ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    page = h_resp_json(&r);
    h_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 2);
    item = json_array_get(json_object_get(page, "items"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(item, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(item, "status")), "created");
    ck_assert_str_eq(json_string_value(json_object_get(item, "phase")), "intake");
    ck_assert_str_eq(json_string_value(json_object_get(item, "statement")),
                     "Should we expand to a second city this year?");
    ck_assert(json_is_string(json_object_get(item, "created_at")));
    ck_assert(json_is_string(json_object_get(item, "updated_at")));
    ck_assert(json_is_null(json_object_get(item, "finished_at")));
    ck_assert(json_is_number(json_object_get(item, "cost_usd")));
    ck_assert_ptr_null(json_object_get(item, "options"));
    ck_assert_ptr_null(json_object_get(item, "problem"));
    ck_assert_ptr_null(json_object_get(item, "ledger"));
    links = json_object_get(item, "links");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(links, "self")), id));
    /* The long one: 200 characters, then an ellipsis, valid UTF-8. */
    item = json_array_get(json_object_get(page, "items"), 1);
    s = json_string_value(json_object_get(item, "statement"));
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), strlen("Should we ") + 2 * 190 + 3);
    ck_assert_str_eq(s + strlen(s) - 3, "\xe2\x80\xa6");
    ck_assert(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);
    /* Cancelled: it has finished. */
    {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", id);
        ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
        h_resp_free(&r);
    }
    h_http(&r, "GET", bo1d.port, "/api/v1/sessions?limit=1", ha, NULL, 0);
    page = h_resp_json(&r);
    h_resp_free(&r);
    item = json_array_get(json_object_get(page, "items"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(item, "status")), "cancelled");
    ck_assert(json_is_string(json_object_get(item, "finished_at")));
    ck_assert(json_is_string(json_object_get(page, "next_cursor")));
    json_decref(page);
    free(id);
}
END_TEST

/* SSE connects count as reads: past the per-key read limit they are 429 with Retry-After,
 * like the JSON pages they share the counter with. */
START_TEST(test_sse_connects_are_rate_limited)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true",
                   "BO1_API_KEYS=key-alpha-0123456789,key-bravo-0123456789",
                   "BO1_RATE_READS_PER_MIN=3", NULL};
    struct h_proc other;
    struct h_resp r;
    const char *hs[] = {KEY_A, "Accept: text/event-stream", NULL};
    const char *ha[] = {KEY_A, NULL};
    const char *hb[] = {KEY_B, "Accept: text/event-stream", NULL};
    char path[160];
    char *id = create(KEY_A);
    char *ra;

    ck_assert_int_eq(h_bo1d_start(&other, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(other.port, 5000), 0);
    /* A cancelled session: each stream replays the log and ends at once. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/events", id);
    for (int i = 0; i < 3; i++) {
        h_http(&r, "GET", other.port, path, hs, NULL, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, "event: session.completed"));
        h_resp_free(&r);
    }
    h_http(&r, "GET", other.port, path, hs, NULL, 0);
    assert_problem(&r, 429, "RATE_LIMITED");
    ra = h_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_ge(atoi(ra), 1);
    ck_assert_int_le(atoi(ra), 60);
    free(ra);
    h_resp_free(&r);
    /* The JSON page shares the counter; another key has its own. */
    h_http(&r, "GET", other.port, path, ha, NULL, 0);
    assert_problem(&r, 429, "RATE_LIMITED");
    h_resp_free(&r);
    h_http(&r, "GET", other.port, path, hb, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    h_proc_stop(&other, SIGKILL, 2000);
    free(id);
}
END_TEST

/* The race of a pause write and a resume, made deterministic by playing the runner here:
 * the "runner" (this test, holding the session's lease) saw the user's pause and paused its
 * engine; before its write of "paused" lands, the user resumes. The write must not undo
 * the resume. */
START_TEST(test_runner_pause_write_does_not_undo_a_later_resume)
{
    char *id = create(KEY_A);
    char path[160];
    char keys[4][64];
    char now[24];
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    redisReply *rep;
    json_t *j;

    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:session", id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:events", id);
    snprintf(keys[2], sizeof(keys[2]), "bo1:{%s}:lease", id);
    snprintf(keys[3], sizeof(keys[3]), "bo1:{%s}:inbox", id);
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL) * 1000);
    /* The lease is ours: bo1d's own runner cannot claim the session (LOST_LEASE). */
    rep = h_redis(redis.port, "SET %s test-runner PX 60000", keys[2]);
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/pause", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    /* ... the runner pauses its engine and sends "paused"; meanwhile: */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/resume", id);
    ck_assert_int_eq(post(&r, path, KEY_A, NULL), 200);
    h_resp_free(&r);
    /* The runner's write lands (append: no checkpoint or events, status paused). */
    {
        const char *argv[] = {
            "EVAL",  bo1_lua_append, "4", keys[0], keys[1], keys[2], keys[3], "test-runner",
            "20000", "paused",       now, "3600",  id,      "",      "",      "",
            ""};
        redisContext *c = redisConnect("127.0.0.1", redis.port);
        ck_assert(c && !c->err);
        rep = redisCommandArgv(c, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
        ck_assert_ptr_nonnull(rep);
        ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
        ck_assert_str_eq(rep->element[0]->str, "OK");
        /* The status that holds is the user's, so the runner undoes its own pause. */
        ck_assert_str_eq(rep->element[1]->str, "queued");
        freeReplyObject(rep);
        redisFree(c);
    }
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", id);
    h_http(&r, "GET", bo1d.port, path, ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "queued");
    json_decref(j);
    h_resp_free(&r);
    free(id);
}
END_TEST

/* Interjections trim the event log at BO1_EVENTS_MAX like every other writer (they used a
 * fixed 10000). Trimming is approximate (whole stream nodes of 100 entries), hence 250
 * events against a bound of 100. */
START_TEST(test_input_trims_the_log_at_events_max)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true",
                   "BO1_API_KEYS=key-alpha-0123456789,key-bravo-0123456789", "BO1_EVENTS_MAX=100",
                   "BO1_RATE_CONTROL_PER_MIN=10000", NULL};
    struct h_proc other;
    struct h_resp r;
    const char *hj[] = {KEY_A, JSON, NULL};
    char path[160];
    char *id = create(KEY_A);
    long long n;

    ck_assert_int_eq(h_bo1d_start(&other, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(other.port, 5000), 0);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/interjections", id);
    for (int i = 0; i < 250; i++) {
        h_http(&r, "POST", other.port, path, hj, "{\"text\":\"hello\"}", 16);
        ck_assert_int_eq(r.status, 202);
        h_resp_free(&r);
    }
    n = h_redis_int(redis.port, "XLEN bo1:{%s}:events", id);
    ck_assert_msg(n >= 100 && n <= 200, "event log length %lld, bound 100 (approximate)", n);
    h_proc_stop(&other, SIGKILL, 2000);
    free(id);
}
END_TEST

static long long key_ttl(const char *id, const char *part)
{
    return h_redis_int(redis.port, "TTL bo1:{%s}:%s", id, part);
}

/* A session created with start=false expires after BO1_UNSTARTED_TTL_S unless started;
 * its inbox (an interjection before the start) expires with it. A cancelled session's
 * keys all get the finished-session TTL. */
START_TEST(test_unstarted_sessions_expire_and_finished_keys_get_a_ttl)
{
    char *env[] = {"BO1_MODEL_SIMULATED=true",
                   "BO1_API_KEYS=key-alpha-0123456789,key-bravo-0123456789",
                   "BO1_UNSTARTED_TTL_S=2", "BO1_SESSION_TTL_S=3600", NULL};
    struct h_proc other;
    struct h_resp r;
    const char *ha[] = {KEY_A, NULL};
    const char *hj[] = {KEY_A, JSON, NULL};
    char path[160];
    char *idle, *started, *cancelled;
    json_t *j;
    const char *const parts[] = {"session", "events", "inbox"};
    long long t;

    ck_assert_int_eq(h_bo1d_start(&other, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(other.port, 5000), 0);
    h_http(&r, "POST", other.port, "/api/v1/sessions", hj, BODY, strlen(BODY));
    ck_assert_int_eq(r.status, 201);
    j = h_resp_json(&r);
    idle = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    h_http(&r, "POST", other.port, "/api/v1/sessions", hj, BODY, strlen(BODY));
    j = h_resp_json(&r);
    started = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    h_http(&r, "POST", other.port, "/api/v1/sessions", hj, BODY, strlen(BODY));
    j = h_resp_json(&r);
    cancelled = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);

    /* Input before the start lands in the inbox, which expires with the session. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/interjections", idle);
    h_http(&r, "POST", other.port, path, hj, "{\"text\":\"hello\"}", 16);
    ck_assert_int_eq(r.status, 202);
    h_resp_free(&r);
    for (int i = 0; i < 3; i++) {
        t = key_ttl(idle, parts[i]);
        ck_assert_msg(t >= 1 && t <= 2, "%s TTL %lld", parts[i], t);
    }
    /* Started: no longer expires as unstarted (the runner may already have finished it:
     * then it has the finished-session TTL). */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", started);
    h_http(&r, "POST", other.port, path, hj, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    t = key_ttl(started, "session");
    ck_assert_msg(t == -1 || t > 2, "started session TTL %lld", t);
    /* Cancelled: every key has the finished-session TTL, the inbox included. */
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/interjections", cancelled);
    h_http(&r, "POST", other.port, path, hj, "{\"text\":\"hello\"}", 16);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/cancel", cancelled);
    h_http(&r, "POST", other.port, path, hj, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    for (int i = 0; i < 3; i++) {
        t = key_ttl(cancelled, parts[i]);
        ck_assert_msg(t > 3000 && t <= 3600, "cancelled %s TTL %lld", parts[i], t);
    }

    h_sleep_ms(3200);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", idle);
    h_http(&r, "GET", other.port, path, ha, NULL, 0);
    assert_problem(&r, 404, "NOT_FOUND");
    h_resp_free(&r);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(h_redis_int(redis.port, "EXISTS bo1:{%s}:%s", idle, parts[i]), 0);
    h_http(&r, "GET", other.port, "/api/v1/sessions", ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, idle));
    ck_assert_ptr_nonnull(strstr(r.body, started));
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/sessions/%s", started);
    h_http(&r, "GET", other.port, path, ha, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    h_proc_stop(&other, SIGKILL, 2000);
    free(idle);
    free(started);
    free(cancelled);
}
END_TEST

START_TEST(test_store_down_is_503_with_retry_after)
{
    struct h_resp r;
    char *ra;
    long long deadline;

    h_proc_stop(&redis, SIGKILL, 2000);
    deadline = h_now_ms() + 3000;
    do {
        post(&r, "/api/v1/sessions", KEY_A, BODY);
        if (r.status == 503)
            break;
        h_resp_free(&r);
        h_sleep_ms(50);
    } while (h_now_ms() < deadline);
    assert_problem(&r, 503, "STORE_DOWN");
    ra = h_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    free(ra);
    h_resp_free(&r);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_returns_201_with_location_and_links);
    tcase_add_test(tc, test_missing_or_bad_key_is_401);
    tcase_add_test(tc, test_other_keys_sessions_are_404);
    tcase_add_test(tc, test_body_errors_are_problems_and_change_nothing);
    tcase_add_test(tc, test_illegal_transition_is_409_with_status);
    tcase_add_test(tc, test_lifecycle_body_fields_are_rejected_by_name);
    tcase_add_test(tc, test_cors_only_for_configured_origins);
    tcase_add_test(tc, test_active_session_cap_is_429_and_held_in_redis);
    tcase_add_test(tc, test_active_cap_repairs_stale_slots);
    tcase_add_test(tc, test_cluster_mode_refuses_keys_of_two_slots);
    tcase_add_test(tc, test_idempotent_create_replays_and_mismatch_is_422);
    tcase_add_test(tc, test_rate_limit_is_429_with_retry_after);
    tcase_add_test(tc, test_events_page_and_sse_replay_from_the_middle);
    tcase_add_test(tc, test_hostile_ids_and_queries_are_rejected);
    tcase_add_test(tc, test_list_is_newest_first_with_cursor_pagination);
    tcase_add_test(tc, test_list_items_are_summaries);
    tcase_add_test(tc, test_list_drops_stale_index_entries_only);
    tcase_add_test(tc, test_sse_connects_are_rate_limited);
    tcase_add_test(tc, test_input_trims_the_log_at_events_max);
    tcase_add_test(tc, test_runner_pause_write_does_not_undo_a_later_resume);
    tcase_add_test(tc, test_unstarted_sessions_expire_and_finished_keys_get_a_ttl);
    tcase_add_test(tc, test_store_down_is_503_with_retry_after);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_suite());
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
