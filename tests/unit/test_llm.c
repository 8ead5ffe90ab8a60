/* Unit tests for the model gateway: the price table, backoff and retry-after, the retry
 * classification, the circuit breaker, the provider encoders and decoders (on byte
 * strings), and the gateway itself against an in-process scripted HTTP server (MHD on its
 * own thread) with the loop on the test thread. */
#include <check.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../src/llm/llm_internal.h"
#include "bo1/llm.h"
#include "bo1/loop.h"
#include "bo1/pricing.h"

static char pricing_path[1024];

static void set_paths(void)
{
    const char *root = getenv("BO1_SOURCE_ROOT");

    snprintf(pricing_path, sizeof(pricing_path), "%s/zzz_important/pricing.json",
             root ? root : ".");
}

/* ---- price table ------------------------------------------------------------------- */

START_TEST(test_llm_pricing_loads_repo_table)
{
    struct bo1_pricing *p = NULL;
    char *why = NULL;
    const struct bo1_price *pr;
    double usd;

    ck_assert_int_eq(bo1_pricing_load(pricing_path, &p, &why), BO1_OK);
    ck_assert_ptr_null(why);
    ck_assert_uint_ge(bo1_pricing_count(p), 8);
    pr = bo1_pricing_get(p, "claude-sonnet-4-5");
    ck_assert_ptr_nonnull(pr);
    ck_assert_double_eq_tol(pr->input, 3.0, 1e-12);
    ck_assert_double_eq_tol(pr->output, 15.0, 1e-12);
    ck_assert_ptr_nonnull(bo1_pricing_get(p, "claude-haiku-4-5"));
    ck_assert_ptr_nonnull(bo1_pricing_get(p, "claude-opus-4-1"));
    ck_assert_ptr_nonnull(bo1_pricing_get(p, "fake-deep"));
    ck_assert_ptr_nonnull(bo1_pricing_get(p, "fake-fast"));
    ck_assert_ptr_nonnull(bo1_pricing_get(p, "gpt-4o-mini"));
    /* 1000 in, 500 out, 2000 cache write, 4000 cache read at sonnet prices. */
    ck_assert_int_eq(bo1_pricing_cost(p, "claude-sonnet-4-5", 1000, 500, 2000, 4000, &usd), 1);
    ck_assert_double_eq_tol(usd, (1000 * 3.0 + 500 * 15.0 + 2000 * 3.75 + 4000 * 0.30) / 1e6,
                            1e-12);
    ck_assert_int_eq(bo1_pricing_cost(p, "no-such-model", 1000, 500, 0, 0, &usd), 0);
    ck_assert_double_eq(usd, 0);
    bo1_pricing_free(p);
}
END_TEST

static void expect_pricing_error(const char *json, const char *needle1, const char *needle2)
{
    struct bo1_pricing *p = NULL;
    char *why = NULL;

    ck_assert_int_eq(bo1_pricing_parse(json, strlen(json), "prices.json", &p, &why),
                     BO1_CONFIG_INVALID);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "prices.json") != NULL, "no file name in: %s", why);
    ck_assert_msg(strstr(why, needle1) != NULL, "no '%s' in: %s", needle1, why);
    if (needle2)
        ck_assert_msg(strstr(why, needle2) != NULL, "no '%s' in: %s", needle2, why);
    free(why);
}

START_TEST(test_llm_pricing_errors_name_file_model_and_field)
{
    expect_pricing_error("{\"models\":{\"m1\":{\"input\":1,\"output\":2,\"cache_write\":3}}}", "m1",
                         "cache_read");
    expect_pricing_error(
        "{\"models\":{\"m2\":{\"input\":-1,\"output\":2,\"cache_write\":3,\"cache_read\":1}}}",
        "m2", "input");
    expect_pricing_error(
        "{\"models\":{\"m3\":{\"input\":\"1\",\"output\":2,\"cache_write\":3,\"cache_read\":1}}}",
        "m3", "input");
    expect_pricing_error("{\"models\":{\"m4\":{\"input\":1,\"output\":2,\"cache_write\":3,"
                         "\"cache_read\":1,\"ouput\":2}}}",
                         "m4", "ouput");
    expect_pricing_error("{\"models\":{\"m5\":[1,2,3,4]}}", "m5", NULL);
    expect_pricing_error("{\"models\":{}}", "models", NULL);
    expect_pricing_error("{\"models\":{\"m6\":{\"input\":1,", "JSON", NULL);
}
END_TEST

START_TEST(test_llm_pricing_missing_file_stops_gateway_start)
{
    struct bo1_loop *loop = NULL;
    struct bo1_llm *gw = NULL;
    struct bo1_llm_options o = BO1_LLM_OPTIONS_DEFAULTS;
    char *why = NULL;

    ck_assert_int_eq(bo1_loop_new(&loop), BO1_OK);
    o.model_fast = "fake-fast";
    o.model_deep = "fake-deep";
    o.pricing_path = "/nonexistent/pricing.json";
    ck_assert_int_eq(bo1_llm_new(loop, &o, &gw, &why), BO1_CONFIG_INVALID);
    ck_assert_ptr_null(gw);
    ck_assert_ptr_nonnull(strstr(why, "/nonexistent/pricing.json"));
    free(why);
    why = NULL;
    o.pricing_path = pricing_path;
    o.max_attempts = 6;
    ck_assert_int_eq(bo1_llm_new(loop, &o, &gw, &why), BO1_CONFIG_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "max_attempts"));
    free(why);
    bo1_loop_free(loop);
}
END_TEST

/* ---- backoff and retry-after ---------------------------------------------------------- */

START_TEST(test_llm_backoff_is_full_jitter_exponential_and_capped)
{
    ck_assert_uint_eq(llm_backoff_ms(1, 500, 8000, 0.0), 0);
    ck_assert_uint_eq(llm_backoff_ms(1, 500, 8000, 0.5), 250);
    ck_assert_uint_eq(llm_backoff_ms(2, 500, 8000, 0.5), 500);
    ck_assert_uint_eq(llm_backoff_ms(3, 500, 8000, 0.5), 1000);
    ck_assert_uint_eq(llm_backoff_ms(5, 500, 8000, 0.5), 4000);
    ck_assert_uint_eq(llm_backoff_ms(6, 500, 8000, 0.5), 4000); /* capped at 8000 */
    ck_assert_uint_eq(llm_backoff_ms(60, 500, 8000, 0.5), 4000);
    ck_assert_uint_lt(llm_backoff_ms(4, 500, 8000, 0.9999999), 4000);
    /* Many draws stay in [0, ceiling) and are not all the same. */
    uint64_t rng = 42;
    unsigned lo = 1u << 30, hi = 0;
    for (int i = 0; i < 1000; i++) {
        unsigned w = llm_backoff_ms(3, 500, 8000, llm_rand01(&rng));
        ck_assert_uint_lt(w, 2000);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
    }
    ck_assert_uint_lt(lo, 200);
    ck_assert_uint_gt(hi, 1800);
}
END_TEST

START_TEST(test_llm_utf8_sanitize_keeps_valid_text_and_masks_the_rest)
{
    char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    char cut[] = "abc\xc3";
    char bad[] = "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82";

    llm_utf8_sanitize(ok);
    ck_assert_str_eq(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    llm_utf8_sanitize(cut);
    ck_assert_str_eq(cut, "abc?");
    llm_utf8_sanitize(bad); /* overlong, surrogate, past U+10FFFF, truncated */
    ck_assert_str_eq(bad, "?? ??? ???? ??");
}
END_TEST

START_TEST(test_llm_retry_after_forms)
{
    time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

    ck_assert_int_eq(llm_retry_after_ms("1500", "9", now), 1500);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "2", now), 2000);
    ck_assert_int_eq(llm_retry_after_ms(NULL, " 0.25 ", now), 250);
    ck_assert_int_eq(llm_retry_after_ms("junk", "3", now), 3000);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "Tue, 14 Nov 2023 22:13:25 GMT", now), 5000);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "Tue, 14 Nov 2023 22:13:00 GMT", now), 0);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "soon", now), -1);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "-5", now), -1);
    ck_assert_int_eq(llm_retry_after_ms(NULL, NULL, now), -1);
    ck_assert_int_eq(llm_retry_after_ms(NULL, "99999999", now), -1);
}
END_TEST

/* ---- classification ------------------------------------------------------------------- */

static void classify(long status, const char *should, const char *ra_ms, const char *ra,
                     const char *body, struct llm_verdict *v)
{
    struct llm_attempt a = {
        .http_status = status,
        .should_retry = should,
        .retry_after_ms = ra_ms,
        .retry_after = ra,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .provider = "anthropic",
    };

    llm_classify(&a, time(NULL), v);
}

#define ERR_BODY(type, msg)                                                                        \
    "{\"type\":\"error\",\"error\":{\"type\":\"" type "\",\"message\":\"" msg                      \
    "\"},\"request_id\":\"req_1\"}"

START_TEST(test_llm_classify_follows_model_io_rules)
{
    struct llm_verdict v;

    classify(200, NULL, NULL, NULL, "{}", &v);
    ck_assert_int_eq(v.status, BO1_OK);
    ck_assert_int_eq(v.breaker, LLM_BREAKER_SUCCESS);

    classify(429, NULL, NULL, "2", ERR_BODY("rate_limit_error", "slow down"), &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_RATE_LIMITED);
    ck_assert_int_eq(v.retry, 1);
    ck_assert_int_eq(v.wait_ms, 2000);
    ck_assert_ptr_nonnull(strstr(v.message, "slow down"));

    classify(529, NULL, NULL, NULL, ERR_BODY("overloaded_error", "Overloaded"), &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_OVERLOADED);
    ck_assert_int_eq(v.retry, 1);
    ck_assert_int_eq(v.wait_ms, -1);
    ck_assert_int_eq(v.breaker, LLM_BREAKER_FAILURE);

    classify(500, NULL, NULL, NULL, ERR_BODY("api_error", "boom"), &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_FAILED);
    ck_assert_int_eq(v.retry, 1);

    classify(503, NULL, "750", NULL, "<html>", &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_FAILED);
    ck_assert_int_eq(v.wait_ms, 750);

    classify(408, NULL, NULL, NULL, NULL, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_int_eq(v.retry, 1);

    classify(409, NULL, NULL, NULL, NULL, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_REJECTED);
    ck_assert_int_eq(v.retry, 1);

    classify(400, NULL, NULL, NULL, ERR_BODY("invalid_request_error", "bad"), &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_REJECTED);
    ck_assert_int_eq(v.retry, 0);
    ck_assert_int_eq(v.breaker, LLM_BREAKER_SUCCESS);

    classify(401, NULL, NULL, NULL, ERR_BODY("authentication_error", "invalid x-api-key"), &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_REJECTED);
    ck_assert_int_eq(v.retry, 0);

    /* x-should-retry decides first. */
    classify(500, "false", NULL, NULL, NULL, &v);
    ck_assert_int_eq(v.retry, 0);
    classify(400, "true", NULL, "1", NULL, &v);
    ck_assert_int_eq(v.retry, 1);
    ck_assert_int_eq(v.wait_ms, 1000);
    classify(429, " TRUE ", NULL, NULL, NULL, &v);
    ck_assert_int_eq(v.retry, 1);
    classify(429, "maybe", NULL, NULL, NULL, &v); /* not a boolean: the status decides */
    ck_assert_int_eq(v.retry, 1);
}
END_TEST

START_TEST(test_llm_classify_spend_limit_is_never_retried)
{
    struct llm_verdict v;
    const char *body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                       "\"message\":\"You have reached your spend limit\","
                       "\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}}}";

    classify(429, "true", NULL, "1", body, &v);
    ck_assert_int_eq(v.status, BO1_SPEND_LIMIT);
    ck_assert_int_eq(v.retry, 0);
    ck_assert_ptr_nonnull(strstr(v.message, "spend limit"));
    body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"x\","
           "\"details\":{\"error_code\":\"contract_spend_limit_reached\"}}}";
    classify(429, NULL, NULL, NULL, body, &v);
    ck_assert_int_eq(v.status, BO1_SPEND_LIMIT);
    ck_assert_int_eq(v.retry, 0);
    body = "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
           "\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}";
    classify(429, NULL, NULL, NULL, body, &v);
    ck_assert_int_eq(v.status, BO1_SPEND_LIMIT);
    ck_assert_int_eq(v.retry, 0);
    /* An ordinary OpenAI rate limit is retried. */
    body = "{\"error\":{\"message\":\"slow\",\"type\":\"requests\",\"code\":"
           "\"rate_limit_exceeded\"}}";
    classify(429, NULL, NULL, NULL, body, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_RATE_LIMITED);
    ck_assert_int_eq(v.retry, 1);
}
END_TEST

START_TEST(test_llm_classify_network_errors)
{
    struct llm_verdict v;
    struct llm_attempt a = {.provider = "openai"};

    a.curl_code = CURLE_COULDNT_CONNECT;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_FAILED);
    ck_assert_int_eq(v.retry, 1);
    ck_assert_int_eq(v.breaker, LLM_BREAKER_FAILURE);

    a.curl_code = CURLE_RECV_ERROR;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_FAILED);
    ck_assert_int_eq(v.retry, 1);

    a.curl_code = CURLE_PARTIAL_FILE;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_FAILED);
    ck_assert_int_eq(v.retry, 1);

    a.curl_code = CURLE_OPERATION_TIMEDOUT;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_int_eq(v.retry, 1);

    a.deadline_hit = 1;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_int_eq(v.retry, 0);

    a.deadline_hit = 0;
    a.curl_code = CURLE_WRITE_ERROR;
    llm_classify(&a, 0, &v);
    ck_assert_int_eq(v.status, BO1_UPSTREAM_BAD_REPLY);
    ck_assert_int_eq(v.retry, 0);
}
END_TEST

/* ---- breaker -------------------------------------------------------------------------- */

START_TEST(test_llm_breaker_opens_probes_and_closes)
{
    struct llm_breaker b;
    int probe;

    llm_breaker_init(&b, "anthropic", 3, 1000);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(llm_breaker_allow(&b, 0, &probe), 1);
        llm_breaker_record(&b, LLM_BREAKER_FAILURE, probe, 0);
    }
    ck_assert_int_eq(b.state, LLM_BREAKER_CLOSED);
    llm_breaker_record(&b, LLM_BREAKER_SUCCESS, 0, 0); /* a success resets the count */
    for (int i = 0; i < 3; i++)
        llm_breaker_record(&b, LLM_BREAKER_FAILURE, 0, 100);
    ck_assert_int_eq(b.state, LLM_BREAKER_OPEN);
    ck_assert_int_eq(llm_breaker_allow(&b, 500, &probe), 0);
    ck_assert_uint_eq(llm_breaker_retry_in(&b, 500), 600);
    /* After the cool-down, exactly one probe. */
    ck_assert_int_eq(llm_breaker_allow(&b, 1100, &probe), 1);
    ck_assert_int_eq(probe, 1);
    ck_assert_int_eq(llm_breaker_allow(&b, 1100, &probe), 0);
    /* Probe fails: open again for a full cool-down. */
    llm_breaker_record(&b, LLM_BREAKER_FAILURE, 1, 1200);
    ck_assert_int_eq(b.state, LLM_BREAKER_OPEN);
    ck_assert_int_eq(llm_breaker_allow(&b, 2100, &probe), 0);
    ck_assert_int_eq(llm_breaker_allow(&b, 2200, &probe), 1);
    /* A neutral probe outcome lets another probe go. */
    llm_breaker_record(&b, LLM_BREAKER_NEUTRAL, 1, 2200);
    ck_assert_int_eq(llm_breaker_allow(&b, 2200, &probe), 1);
    ck_assert_int_eq(probe, 1);
    llm_breaker_record(&b, LLM_BREAKER_SUCCESS, 1, 2300);
    ck_assert_int_eq(b.state, LLM_BREAKER_CLOSED);
    ck_assert_int_eq(llm_breaker_allow(&b, 2300, &probe), 1);
    ck_assert_int_eq(probe, 0);
    ck_assert_uint_eq(b.opened_count, 2);
}
END_TEST

/* ---- encoders and decoders ------------------------------------------------------------ */

static const char *anthropic_ok =
    "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"fake-deep\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Hello "
    "\"},{\"type\":\"thinking\",\"thinking\":\"x\"},"
    "{\"type\":\"text\",\"text\":\"world\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":12,\"output_tokens\":34,\"cache_creation_input_tokens\":56,"
    "\"cache_read_input_tokens\":78,\"service_tier\":\"standard\"}}";

static const char *openai_ok =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi there\"},"
    "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,"
    "\"total_tokens\":120,\"prompt_tokens_details\":{\"cached_tokens\":64}}}";

START_TEST(test_llm_anthropic_decode_reads_text_and_usage)
{
    struct llm_answer a;
    char why[200];

    ck_assert_int_eq(llm_anthropic_decode(anthropic_ok, strlen(anthropic_ok), &a, why, sizeof(why)),
                     BO1_OK);
    ck_assert_str_eq(a.text, "Hello world");
    ck_assert_str_eq(a.stop_reason, "end_turn");
    ck_assert_str_eq(a.model, "fake-deep");
    ck_assert_str_eq(a.id, "msg_01");
    ck_assert_int_eq(a.usage.input, 12);
    ck_assert_int_eq(a.usage.output, 34);
    ck_assert_int_eq(a.usage.cache_write, 56);
    ck_assert_int_eq(a.usage.cache_read, 78);
    llm_answer_fini(&a);
}
END_TEST

START_TEST(test_llm_openai_decode_normalises_cached_tokens)
{
    struct llm_answer a;
    char why[200];

    ck_assert_int_eq(llm_openai_decode(openai_ok, strlen(openai_ok), &a, why, sizeof(why)), BO1_OK);
    ck_assert_str_eq(a.text, "Hi there");
    ck_assert_str_eq(a.stop_reason, "max_tokens");
    ck_assert_int_eq(a.usage.input, 36);
    ck_assert_int_eq(a.usage.cache_read, 64);
    ck_assert_int_eq(a.usage.output, 20);
    ck_assert_int_eq(a.usage.cache_write, 0);
    llm_answer_fini(&a);
}
END_TEST

static const char *const bad_replies[] = {
    "",
    "null",
    "[]",
    "\"text\"",
    "{",
    "{\"content\":\"hi\",\"usage\":{}}",
    "{\"content\":[{\"type\":\"text\",\"text\":5}],\"usage\":{}}",
    "{\"content\":[{\"type\":\"text\"}],\"usage\":{}}",
    "{\"content\":[7],\"usage\":{}}",
    "{\"content\":[{\"text\":\"a\"}],\"usage\":{}}",
    "{\"content\":[],\"usage\":{\"input_tokens\":\"12\"}}",
    "{\"content\":[],\"usage\":{\"input_tokens\":-3}}",
    "{\"content\":[],\"usage\":{\"input_tokens\":1.5}}",
    "{\"content\":[],\"usage\":[]}",
    "{\"content\":[]}",
    "{\"type\":\"error\",\"content\":[],\"usage\":{}}",
    "{\"content\":[],\"usage\":{},\"stop_reason\":{}}",
    "{\"choices\":[],\"usage\":{}}",
    "{\"choices\":[{\"message\":{\"content\":[1]}}]}",
    "{\"choices\":[{\"message\":\"hi\"}]}",
    "{\"choices\":[\"x\"]}",
    "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":true}}",
    "{\"choices\":[{\"message\":{\"content\":\"a\"},\"finish_reason\":3}]}",
    "{\"choices\":{\"0\":1}}",
    "\xff\xfe\x00\x01garbage",
    "{\"content\":[{\"type\":\"text\",\"text\":\"\\u0000\"}],\"usage\":{}}",
};

START_TEST(test_llm_decoders_survive_bad_bytes)
{
    struct llm_answer a;
    char why[200];

    for (size_t i = 0; i < sizeof(bad_replies) / sizeof(bad_replies[0]); i++) {
        const char *b = bad_replies[i];
        size_t n = i == 24 ? 16 : strlen(b);

        why[0] = '\0';
        ck_assert_msg(llm_anthropic_decode(b, n, &a, why, sizeof(why)) == BO1_UPSTREAM_BAD_REPLY,
                      "anthropic accepted case %zu", i);
        ck_assert_msg(why[0] != '\0', "no reason for case %zu", i);
        ck_assert_msg(llm_openai_decode(b, n, &a, why, sizeof(why)) == BO1_UPSTREAM_BAD_REPLY,
                      "openai accepted case %zu", i);
    }
    /* Every truncation of a valid reply is rejected, never a crash. */
    for (size_t n = 0; n < strlen(anthropic_ok); n++)
        ck_assert_int_eq(llm_anthropic_decode(anthropic_ok, n, &a, why, sizeof(why)),
                         BO1_UPSTREAM_BAD_REPLY);
    for (size_t n = 0; n < strlen(openai_ok); n++)
        ck_assert_int_eq(llm_openai_decode(openai_ok, n, &a, why, sizeof(why)),
                         BO1_UPSTREAM_BAD_REPLY);
    /* Random bytes. */
    uint64_t rng = 7;
    char junk[256];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(llm_rand01(&rng) * sizeof(junk));
        for (size_t i = 0; i < n; i++)
            junk[i] = (char)(llm_rand01(&rng) * 256);
        if (llm_anthropic_decode(junk, n, &a, why, sizeof(why)) == BO1_OK)
            llm_answer_fini(&a);
        if (llm_openai_decode(junk, n, &a, why, sizeof(why)) == BO1_OK)
            llm_answer_fini(&a);
    }
}
END_TEST

static const struct bo1_llm_block sys_blocks[] = {
    {.text = "You are on a board.", .cache = 1},
    {.text = "Round-specific note", .cache = 0},
};
static const struct bo1_llm_message msgs[] = {
    {.role = "user", .content = "Should we ship? <problem>x</problem>"},
};
static const char *const stops[] = {"</contribution>"};

static struct bo1_llm_request sample_request(void)
{
    struct bo1_llm_request rq = {
        .task = "contribute",
        .session_id = "s-123",
        .tier = BO1_LLM_TIER_DEEP,
        .system = sys_blocks,
        .n_system = 2,
        .messages = msgs,
        .n_messages = 1,
        .max_tokens = 300,
        .temperature = 0.5,
        .stop = stops,
        .n_stop = 1,
    };
    return rq;
}

START_TEST(test_llm_anthropic_encode_marks_cached_blocks)
{
    struct bo1_llm_request rq = sample_request();
    struct bo1_buf b;
    json_t *root;
    json_t *sys;

    bo1_buf_init(&b, 0);
    ck_assert_int_eq(llm_anthropic_encode(&rq, "claude-sonnet-4-5", &b), BO1_OK);
    root = json_loads(bo1_buf_str(&b), 0, NULL);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "model")), "claude-sonnet-4-5");
    ck_assert_int_eq(json_integer_value(json_object_get(root, "max_tokens")), 300);
    sys = json_object_get(root, "system");
    ck_assert_uint_eq(json_array_size(sys), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(sys, 0), "cache_control"), "type")),
                     "ephemeral");
    ck_assert_ptr_null(json_object_get(json_array_get(sys, 1), "cache_control"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(root, "messages"), 0), "role")),
                     "user");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(root, "stop_sequences"), 0)),
                     "</contribution>");
    json_decref(root);
    bo1_buf_fini(&b);
}
END_TEST

START_TEST(test_llm_openai_encode_joins_system_blocks)
{
    struct bo1_llm_request rq = sample_request();
    struct bo1_buf b;
    json_t *root;
    json_t *m;

    bo1_buf_init(&b, 0);
    ck_assert_int_eq(llm_openai_encode(&rq, "gpt-4o-mini", &b), BO1_OK);
    root = json_loads(bo1_buf_str(&b), 0, NULL);
    ck_assert_ptr_nonnull(root);
    m = json_object_get(root, "messages");
    ck_assert_uint_eq(json_array_size(m), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                     "You are on a board.\n\nRound-specific note");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(root, "stop"), 0)),
                     "</contribution>");
    json_decref(root);
    bo1_buf_fini(&b);
}
END_TEST

/* ---- the gateway against a scripted in-process server ---------------------------------- */

struct step {
    unsigned status;
    unsigned delay_ms;
    const char *headers; /* "Name: value\n" lines */
    const char *body;
};

#define MAX_STEPS 64
#define MAX_SEEN  1024

static struct {
    pthread_mutex_t lock;
    struct step steps[MAX_STEPS];
    size_t n_steps, next;
    struct step fallback;
    unsigned seen;
    char *last_body;
    char last_task[64], last_session[64], last_key[64], last_version[64], last_auth[128];
    char last_path[64];
    long long seen_at[MAX_SEEN];
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void srv_reset(const struct step *steps, size_t n, struct step fallback)
{
    pthread_mutex_lock(&srv.lock);
    if (n)
        memcpy(srv.steps, steps, n * sizeof(*steps));
    srv.n_steps = n;
    srv.next = 0;
    srv.fallback = fallback;
    srv.seen = 0;
    free(srv.last_body);
    srv.last_body = NULL;
    pthread_mutex_unlock(&srv.lock);
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t n)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    snprintf(dst, n, "%s", v ? v : "");
}

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct upload *up = *con_cls;
    struct step s;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)cls;
    (void)method;
    (void)version;
    if (!up) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_size) {
        up->data = realloc(up->data, up->len + *upload_size + 1);
        memcpy(up->data + up->len, upload_data, *upload_size);
        up->len += *upload_size;
        up->data[up->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.lock);
    s = srv.next < srv.n_steps ? srv.steps[srv.next++] : srv.fallback;
    if (srv.seen < MAX_SEEN)
        srv.seen_at[srv.seen] = now_ms();
    srv.seen++;
    free(srv.last_body);
    srv.last_body = up->data ? strdup(up->data) : NULL;
    copy_header(conn, "X-Bo1-Task", srv.last_task, sizeof(srv.last_task));
    copy_header(conn, "X-Bo1-Session", srv.last_session, sizeof(srv.last_session));
    copy_header(conn, "x-api-key", srv.last_key, sizeof(srv.last_key));
    copy_header(conn, "anthropic-version", srv.last_version, sizeof(srv.last_version));
    copy_header(conn, "Authorization", srv.last_auth, sizeof(srv.last_auth));
    snprintf(srv.last_path, sizeof(srv.last_path), "%s", url);
    pthread_mutex_unlock(&srv.lock);
    if (s.delay_ms)
        usleep(s.delay_ms * 1000);
    resp = MHD_create_response_from_buffer(strlen(s.body), (void *)s.body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "request-id", "req_test_1");
    if (s.headers) {
        char *copy = strdup(s.headers);
        char *save = NULL;

        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = '\0';
            MHD_add_response_header(resp, line, colon + 2);
        }
        free(copy);
    }
    ret = MHD_queue_response(conn, s.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (up) {
        free(up->data);
        free(up);
    }
    *con_cls = NULL;
}

static struct MHD_Daemon *srv_start(int *port)
{
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    const union MHD_DaemonInfo *info;

    ck_assert_ptr_nonnull(d);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info->port;
    return d;
}

/* One test fixture: loop, gateway, server. */
struct fx {
    struct bo1_loop *loop;
    struct bo1_llm *gw;
    struct MHD_Daemon *d;
    int port;
    char base[64];
    int pending;
    struct bo1_llm_response last;
    char last_text[256], last_error[512], last_model[64], last_rid[64];
    long long done_at[MAX_SEEN];
    enum bo1_status statuses[MAX_SEEN];
    unsigned attempts[MAX_SEEN];
    int n_done;
};

static struct fx F;

static void fx_start(enum bo1_llm_provider prov, void (*tweak)(struct bo1_llm_options *))
{
    struct bo1_llm_options o = BO1_LLM_OPTIONS_DEFAULTS;
    char *why = NULL;

    memset(&F, 0, sizeof(F));
    F.d = srv_start(&F.port);
    snprintf(F.base, sizeof(F.base), "http://127.0.0.1:%d", F.port);
    ck_assert_int_eq(bo1_loop_new(&F.loop), BO1_OK);
    o.provider = prov;
    o.anthropic_base_url = F.base;
    o.anthropic_api_key = "sk-test";
    o.openai_base_url = F.base;
    o.openai_api_key = "sk-oai";
    o.model_fast = "fake-fast";
    o.model_deep = "fake-deep";
    o.pricing_path = pricing_path;
    o.backoff_base_ms = 20;
    o.backoff_cap_ms = 80;
    o.timeout_ms = 2000;
    o.rng_seed = 1;
    if (tweak)
        tweak(&o);
    ck_assert_int_eq(bo1_llm_new(F.loop, &o, &F.gw, &why), BO1_OK);
}

static void fx_stop(void)
{
    bo1_llm_free(F.gw);
    bo1_loop_free(F.loop);
    MHD_stop_daemon(F.d);
}

static void on_done(const struct bo1_llm_response *r, void *arg)
{
    int idx = F.n_done++;

    (void)arg;
    F.last = *r;
    snprintf(F.last_text, sizeof(F.last_text), "%s", r->text);
    snprintf(F.last_error, sizeof(F.last_error), "%s", r->error_message);
    snprintf(F.last_model, sizeof(F.last_model), "%s", r->model);
    snprintf(F.last_rid, sizeof(F.last_rid), "%s", r->request_id);
    if (idx < MAX_SEEN) {
        F.done_at[idx] = now_ms();
        F.statuses[idx] = r->status;
        F.attempts[idx] = r->attempts;
    }
    if (--F.pending == 0)
        uv_stop(bo1_loop_uv(F.loop)); /* makes spin()'s uv_run() return */
}

/* Drive the loop on this thread until every call has answered (bo1_loop_stop() would
 * close the gateway's handles, and a test runs several rounds on one gateway). */
static void spin(void)
{
    while (F.pending > 0)
        uv_run(bo1_loop_uv(F.loop), UV_RUN_DEFAULT);
}

static void run_calls(int n, const struct bo1_llm_request *rq)
{
    for (int i = 0; i < n; i++) {
        F.pending++;
        ck_assert_int_eq(bo1_llm_call(F.gw, rq, on_done, NULL, NULL), BO1_OK);
    }
    spin();
}

static const char *ok_body =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"fake-deep\","
    "\"content\":[{\"type\":\"text\",\"text\":\"<contribution>yes</contribution>\"}],"
    "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":200,"
    "\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":5000}}";

static const struct step OK = {.status = 200, .body = NULL};

static struct step ok_step(void)
{
    struct step s = OK;
    s.body = ok_body;
    return s;
}

START_TEST(test_llm_call_anthropic_sends_headers_and_prices_usage)
{
    struct bo1_llm_request rq = sample_request();
    json_t *sent;

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, ok_step());
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_str_eq(F.last_text, "<contribution>yes</contribution>");
    ck_assert_int_eq(F.last.usage.input, 1000);
    ck_assert_int_eq(F.last.usage.output, 200);
    ck_assert_int_eq(F.last.usage.cache_write, 3000);
    ck_assert_int_eq(F.last.usage.cache_read, 5000);
    ck_assert_int_eq(F.last.cost_known, 1);
    ck_assert_double_eq_tol(F.last.cost_usd,
                            (1000 * 3.0 + 200 * 15.0 + 3000 * 3.75 + 5000 * 0.30) / 1e6, 1e-12);
    ck_assert_uint_eq(F.last.attempts, 1);
    ck_assert_int_eq(F.last.http_status, 200);
    ck_assert_str_eq(F.last_rid, "req_test_1");
    ck_assert_str_eq(F.last_model, "fake-deep");
    ck_assert_str_eq(srv.last_path, "/v1/messages");
    ck_assert_str_eq(srv.last_task, "contribute");
    ck_assert_str_eq(srv.last_session, "s-123");
    ck_assert_str_eq(srv.last_key, "sk-test");
    ck_assert_str_eq(srv.last_version, "2023-06-01");
    sent = json_loads(srv.last_body, 0, NULL);
    ck_assert_ptr_nonnull(sent);
    ck_assert_str_eq(json_string_value(json_object_get(sent, "model")), "fake-deep");
    json_decref(sent);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_unknown_model_has_unknown_cost)
{
    struct bo1_llm_request rq = sample_request();
    static const char *body =
        "{\"type\":\"message\",\"model\":\"mystery-1\",\"content\":[{\"type\":\"text\","
        "\"text\":\"ok\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":5,"
        "\"output_tokens\":5}}";
    struct step s = {.status = 200, .body = body};

    rq.model = "mystery-1";
    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, s);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_int_eq(F.last.cost_known, 0);
    ck_assert_str_eq(F.last_model, "mystery-1");
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_openai_uses_bearer_and_cached_tokens)
{
    struct bo1_llm_request rq = sample_request();
    struct step s = {.status = 200, .body = openai_ok};

    rq.tier = BO1_LLM_TIER_FAST;
    fx_start(BO1_LLM_PROVIDER_OPENAI, NULL);
    srv_reset(NULL, 0, s);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_str_eq(F.last_text, "Hi there");
    ck_assert_str_eq(srv.last_path, "/v1/chat/completions");
    ck_assert_str_eq(srv.last_auth, "Bearer sk-oai");
    ck_assert_str_eq(srv.last_task, "contribute");
    ck_assert_str_eq(F.last_model, "gpt-4o-mini"); /* priced by the model that answered */
    ck_assert_int_eq(F.last.cost_known, 1);
    ck_assert_double_eq_tol(F.last.cost_usd, (36 * 0.15 + 20 * 0.60 + 64 * 0.075) / 1e6, 1e-12);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_retries_overloaded_then_succeeds)
{
    struct bo1_llm_request rq = sample_request();
    struct step steps[2] = {
        {.status = 529, .body = ERR_BODY("overloaded_error", "Overloaded")},
        {.status = 500, .body = ERR_BODY("api_error", "Internal")},
    };

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(steps, 2, ok_step());
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_uint_eq(F.last.attempts, 3);
    ck_assert_uint_eq(srv.seen, 3);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_gives_up_after_max_attempts)
{
    struct bo1_llm_request rq = sample_request();
    struct step s = {.status = 529, .body = ERR_BODY("overloaded_error", "Overloaded")};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, s);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_OVERLOADED);
    ck_assert_uint_eq(F.last.attempts, 5);
    ck_assert_uint_eq(srv.seen, 5);
    ck_assert_int_eq(F.last.http_status, 529);
    ck_assert_ptr_nonnull(strstr(F.last_error, "Overloaded"));
    ck_assert_ptr_nonnull(strstr(F.last_error, "5 attempts"));
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_honours_retry_after_ms)
{
    struct bo1_llm_request rq = sample_request();
    struct step steps[1] = {
        {.status = 429,
         .headers = "retry-after-ms: 400\n",
         .body = ERR_BODY("rate_limit_error", "slow")},
    };

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(steps, 1, ok_step());
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_uint_eq(srv.seen, 2);
    ck_assert_int_ge(srv.seen_at[1] - srv.seen_at[0], 390);
    ck_assert_int_lt(srv.seen_at[1] - srv.seen_at[0], 1500);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_does_not_retry_rejections_or_spend_limit)
{
    struct bo1_llm_request rq = sample_request();
    struct step bad = {.status = 400, .body = ERR_BODY("invalid_request_error", "max_tokens")};
    struct step spend = {
        .status = 429,
        .headers = "retry-after: 1\nx-should-retry: true\n",
        .body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"spend "
                "cap\",\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}}}"};
    struct step noretry = {.status = 503, .headers = "x-should-retry: false\n", .body = "{}"};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, bad);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_REJECTED);
    ck_assert_uint_eq(F.last.attempts, 1);
    ck_assert_int_eq(F.last.http_status, 400);

    srv_reset(NULL, 0, spend);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_SPEND_LIMIT);
    ck_assert_uint_eq(F.last.attempts, 1);
    ck_assert_ptr_nonnull(strstr(F.last_error, "spend limit"));

    srv_reset(NULL, 0, noretry);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_FAILED);
    ck_assert_uint_eq(F.last.attempts, 1);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_bad_reply_is_typed)
{
    struct bo1_llm_request rq = sample_request();
    struct step s = {.status = 200, .body = "{\"content\":[{\"type\":\"text\",\"text\":\"cut"};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, s);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_BAD_REPLY);
    ck_assert_str_eq(F.last_text, "");
    ck_assert_ptr_nonnull(strstr(F.last_error, "unreadable"));
    fx_stop();
}
END_TEST

static void short_timeout(struct bo1_llm_options *o)
{
    o->timeout_ms = 150;
    o->max_attempts = 2;
}

START_TEST(test_llm_call_timeout_is_enforced_and_retried)
{
    struct bo1_llm_request rq = sample_request();
    struct step slow = {.status = 200, .delay_ms = 1500, .body = ok_body};
    long long t0;

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, short_timeout);
    srv_reset(NULL, 0, slow);
    t0 = now_ms();
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_uint_eq(F.last.attempts, 2);
    ck_assert_int_lt(now_ms() - t0, 1200); /* the server would take 1500 ms */
    ck_assert_int_ge(now_ms() - t0, 300);
    fx_stop();
}
END_TEST

START_TEST(test_llm_call_deadline_bounds_all_attempts)
{
    struct bo1_llm_request rq = sample_request();
    struct step slow = {.status = 200, .delay_ms = 1500, .body = ok_body};
    long long t0;

    rq.deadline_ms = 250;
    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(NULL, 0, slow);
    t0 = now_ms();
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_TIMEOUT);
    ck_assert_uint_eq(F.last.attempts, 1);
    ck_assert_int_lt(now_ms() - t0, 1200);
    ck_assert_ptr_nonnull(strstr(F.last_error, "deadline"));
    fx_stop();
}
END_TEST

static void breaker_opts(struct bo1_llm_options *o)
{
    o->breaker_threshold = 3;
    o->breaker_cooldown_ms = 300;
    o->max_attempts = 1;
}

START_TEST(test_llm_breaker_fails_fast_then_recovers)
{
    struct bo1_llm_request rq = sample_request();
    struct step s500 = {.status = 500, .body = ERR_BODY("api_error", "down")};
    struct bo1_buf m;

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, breaker_opts);
    srv_reset(NULL, 0, s500);
    for (int i = 0; i < 3; i++) {
        run_calls(1, &rq);
        ck_assert_int_eq(F.last.status, BO1_UPSTREAM_FAILED);
    }
    /* Open: fails fast, nothing reaches the server. */
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_CIRCUIT_OPEN);
    ck_assert_uint_eq(F.last.attempts, 0);
    ck_assert_uint_eq(srv.seen, 3);
    ck_assert_ptr_nonnull(strstr(F.last_error, "circuit breaker open"));
    bo1_buf_init(&m, 0);
    ck_assert_int_eq(bo1_llm_metrics(F.gw, &m), BO1_OK);
    ck_assert_ptr_nonnull(
        strstr(bo1_buf_str(&m), "bo1_llm_breaker_state{provider=\"anthropic\"} 1"));
    bo1_buf_fini(&m);
    /* After the cool-down the probe goes through and closes it. */
    usleep(350 * 1000);
    srv_reset(NULL, 0, ok_step());
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    run_calls(3, &rq);
    ck_assert_int_eq(F.last.status, BO1_OK);
    ck_assert_uint_eq(srv.seen, 4);
    bo1_buf_init(&m, 0);
    ck_assert_int_eq(bo1_llm_metrics(F.gw, &m), BO1_OK);
    ck_assert_ptr_nonnull(
        strstr(bo1_buf_str(&m), "bo1_llm_breaker_state{provider=\"anthropic\"} 0"));
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&m), "outcome=\"CIRCUIT_OPEN\"} 1"));
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&m),
                                 "bo1_llm_calls_total{provider=\"anthropic\",model=\"fake-deep\","
                                 "task=\"contribute\",outcome=\"OK\"} 4"));
    bo1_buf_fini(&m);
    fx_stop();
}
END_TEST

static void cap_two(struct bo1_llm_options *o)
{
    o->max_inflight = 2;
}

START_TEST(test_llm_inflight_cap_queues_fifo)
{
    struct bo1_llm_request rq = sample_request();
    struct step slow = {.status = 200, .delay_ms = 100, .body = ok_body};
    long long t0;

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, cap_two);
    srv_reset(NULL, 0, slow);
    t0 = now_ms();
    run_calls(6, &rq);
    ck_assert_int_eq(F.n_done, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(F.statuses[i], BO1_OK);
    /* Two at a time: three waves of ~100 ms. */
    ck_assert_int_ge(now_ms() - t0, 290);
    ck_assert_int_ge(srv.seen_at[2] - srv.seen_at[0], 90);
    ck_assert_int_ge(srv.seen_at[4] - srv.seen_at[2], 90);
    fx_stop();
}
END_TEST

static struct bo1_llm_call *to_cancel;

static void on_done_cancel_other(const struct bo1_llm_response *r, void *arg)
{
    (void)arg;
    on_done(r, NULL);
    if (to_cancel) {
        struct bo1_llm_call *c = to_cancel;
        to_cancel = NULL;
        bo1_llm_cancel(c);
    }
}

START_TEST(test_llm_cancel_and_free_report_cancelled)
{
    struct bo1_llm_request rq = sample_request();
    struct step fast = {.status = 200, .delay_ms = 10, .body = ok_body};
    struct step slow = {.status = 200, .delay_ms = 3000, .body = ok_body};
    struct step steps[2] = {fast, slow};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(steps, 2, slow);
    F.pending = 2;
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done_cancel_other, NULL, NULL), BO1_OK);
    usleep(50 * 1000); /* make the order of arrival at the server certain */
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, &to_cancel), BO1_OK);
    spin();
    ck_assert_int_eq(F.n_done, 2);
    ck_assert_int_eq(F.statuses[0], BO1_OK);
    ck_assert_int_eq(F.statuses[1], BO1_CANCELLED);
    /* Free with a call in flight: the callback runs with CANCELLED. */
    F.pending = 5;
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, NULL), BO1_OK);
    bo1_llm_free(F.gw);
    F.gw = NULL;
    ck_assert_int_eq(F.n_done, 3);
    ck_assert_int_eq(F.statuses[2], BO1_CANCELLED);
    fx_stop();
}
END_TEST

static void on_done_free_gateway(const struct bo1_llm_response *r, void *arg)
{
    (void)arg;
    on_done(r, NULL);
    bo1_llm_free(F.gw); /* the other calls' callbacks run from here, with CANCELLED */
    F.gw = NULL;
    uv_stop(bo1_loop_uv(F.loop));
}

START_TEST(test_llm_free_from_inside_a_callback_cancels_the_rest)
{
    struct bo1_llm_request rq = sample_request();
    struct step fast = {.status = 200, .delay_ms = 0, .body = ok_body};
    struct step slow = {.status = 200, .delay_ms = 2000, .body = ok_body};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    srv_reset(&fast, 1, slow);
    F.pending = 3;
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done_free_gateway, NULL, NULL), BO1_OK);
    usleep(30 * 1000);
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, NULL), BO1_OK);
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, NULL), BO1_OK);
    uv_run(bo1_loop_uv(F.loop), UV_RUN_DEFAULT);
    ck_assert_ptr_null(F.gw);
    ck_assert_int_eq(F.n_done, 3);
    ck_assert_int_eq(F.statuses[0], BO1_OK);
    ck_assert_int_eq(F.statuses[1], BO1_CANCELLED);
    ck_assert_int_eq(F.statuses[2], BO1_CANCELLED);
    fx_stop();
}
END_TEST

START_TEST(test_llm_rejects_bad_requests_without_callback)
{
    struct bo1_llm_request rq = sample_request();
    struct bo1_llm_message bad[1] = {{.role = "system", .content = "x"}};

    fx_start(BO1_LLM_PROVIDER_ANTHROPIC, NULL);
    rq.n_messages = 0;
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, NULL), BO1_BAD_REQUEST);
    rq.messages = bad;
    rq.n_messages = 1;
    ck_assert_int_eq(bo1_llm_call(F.gw, &rq, on_done, NULL, NULL), BO1_BAD_REQUEST);
    ck_assert_int_eq(F.n_done, 0);
    fx_stop();
}
END_TEST

START_TEST(test_llm_connection_refused_is_retried_then_failed)
{
    struct bo1_llm_request rq = sample_request();
    struct bo1_llm_options o = BO1_LLM_OPTIONS_DEFAULTS;
    char *why = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    char base[64];

    /* A port that was free a moment ago and is closed now. */
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(bo1_loop_new(&F.loop), BO1_OK);
    o.anthropic_base_url = base;
    o.model_fast = "fake-fast";
    o.model_deep = "fake-deep";
    o.pricing_path = pricing_path;
    o.backoff_base_ms = 5;
    o.backoff_cap_ms = 20;
    o.max_attempts = 3;
    ck_assert_int_eq(bo1_llm_new(F.loop, &o, &F.gw, &why), BO1_OK);
    run_calls(1, &rq);
    ck_assert_int_eq(F.last.status, BO1_UPSTREAM_FAILED);
    ck_assert_uint_eq(F.last.attempts, 3);
    ck_assert_int_eq(F.last.http_status, 0);
    ck_assert_ptr_nonnull(strstr(F.last_error, "could not reach anthropic"));
    bo1_llm_free(F.gw);
    bo1_loop_free(F.loop);
}
END_TEST

static Suite *llm_suite(void)
{
    Suite *s = suite_create("llm");
    TCase *pure = tcase_create("pure");
    TCase *gw = tcase_create("gateway");

    tcase_add_test(pure, test_llm_pricing_loads_repo_table);
    tcase_add_test(pure, test_llm_pricing_errors_name_file_model_and_field);
    tcase_add_test(pure, test_llm_pricing_missing_file_stops_gateway_start);
    tcase_add_test(pure, test_llm_backoff_is_full_jitter_exponential_and_capped);
    tcase_add_test(pure, test_llm_retry_after_forms);
    tcase_add_test(pure, test_llm_utf8_sanitize_keeps_valid_text_and_masks_the_rest);
    tcase_add_test(pure, test_llm_classify_follows_model_io_rules);
    tcase_add_test(pure, test_llm_classify_spend_limit_is_never_retried);
    tcase_add_test(pure, test_llm_classify_network_errors);
    tcase_add_test(pure, test_llm_breaker_opens_probes_and_closes);
    tcase_add_test(pure, test_llm_anthropic_decode_reads_text_and_usage);
    tcase_add_test(pure, test_llm_openai_decode_normalises_cached_tokens);
    tcase_add_test(pure, test_llm_decoders_survive_bad_bytes);
    tcase_add_test(pure, test_llm_anthropic_encode_marks_cached_blocks);
    tcase_add_test(pure, test_llm_openai_encode_joins_system_blocks);
    tcase_add_test(gw, test_llm_call_anthropic_sends_headers_and_prices_usage);
    tcase_add_test(gw, test_llm_call_unknown_model_has_unknown_cost);
    tcase_add_test(gw, test_llm_call_openai_uses_bearer_and_cached_tokens);
    tcase_add_test(gw, test_llm_call_retries_overloaded_then_succeeds);
    tcase_add_test(gw, test_llm_call_gives_up_after_max_attempts);
    tcase_add_test(gw, test_llm_call_honours_retry_after_ms);
    tcase_add_test(gw, test_llm_call_does_not_retry_rejections_or_spend_limit);
    tcase_add_test(gw, test_llm_call_bad_reply_is_typed);
    tcase_add_test(gw, test_llm_call_timeout_is_enforced_and_retried);
    tcase_add_test(gw, test_llm_call_deadline_bounds_all_attempts);
    tcase_add_test(gw, test_llm_breaker_fails_fast_then_recovers);
    tcase_add_test(gw, test_llm_inflight_cap_queues_fifo);
    tcase_add_test(gw, test_llm_cancel_and_free_report_cancelled);
    tcase_add_test(gw, test_llm_free_from_inside_a_callback_cancels_the_rest);
    tcase_add_test(gw, test_llm_rejects_bad_requests_without_callback);
    tcase_add_test(gw, test_llm_connection_refused_is_retried_then_failed);
    tcase_set_timeout(gw, 30);
    suite_add_tcase(s, pure);
    suite_add_tcase(s, gw);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(llm_suite());
    int failed;

    set_paths();
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
