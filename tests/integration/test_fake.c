/* Integration tests for bo1-fake-llm: the real program on an ephemeral port, over HTTP. */
#include <check.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct h_proc fake;

/* Start bo1-fake-llm with extra flags (NULL-terminated). */
static void start_fake(struct h_proc *p, const char *const extra[])
{
    const char *bin = h_env_path("BO1_TEST_FAKE_LLM");
    char portbuf[16];
    char *argv[32];
    size_t n = 0;
    int port = h_free_port();

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[n++] = (char *)bin;
    argv[n++] = "--port";
    argv[n++] = portbuf;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    ck_assert_int_eq(h_proc_start(p, argv, NULL, port, 5000), 0);
}

static void setup(void)
{
    start_fake(&fake, (const char *[]){"--seed", "7", NULL});
}

static void teardown(void)
{
    ck_assert_int_eq(h_proc_stop(&fake, SIGTERM, 5000), 0);
}

/* POST @body to @path with task/session headers (either may be NULL). */
static int post(struct h_resp *r, int port, const char *path, const char *task, const char *session,
                const char *body)
{
    char th[128];
    char sh[128];
    const char *hdrs[5];
    size_t n = 0;

    hdrs[n++] = "Content-Type: application/json";
    if (task) {
        snprintf(th, sizeof(th), "X-Bo1-Task: %s", task);
        hdrs[n++] = th;
    }
    if (session) {
        snprintf(sh, sizeof(sh), "X-Bo1-Session: %s", session);
        hdrs[n++] = sh;
    }
    hdrs[n] = NULL;
    return h_http(r, "POST", port, path, hdrs, body, strlen(body));
}

/* A Messages request body with one cached system block and a user message. */
static char *messages_body(const char *system, const char *user, int max_tokens)
{
    json_t *j = json_pack("{s:s, s:i, s:[{s:s, s:s, s:{s:s}}], s:[{s:s, s:s}]}", "model",
                          "claude-test", "max_tokens", max_tokens, "system", "type", "text", "text",
                          system, "cache_control", "type", "ephemeral", "messages", "role", "user",
                          "content", user);
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    return s;
}

/* The answer text of a /v1/messages reply (caller frees), asserting the shape. */
static char *answer_text(int port, const char *task, const char *session, const char *user)
{
    struct h_resp r;
    char *body = messages_body("You are on a board.", user, 4000);
    json_t *j;
    char *text;

    ck_assert_int_eq(post(&r, port, "/v1/messages", task, session, body), 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_ptr_nonnull(j);
    text = strdup(json_string_value(
        json_object_get(json_array_get(json_object_get(j, "content"), 0), "text")));
    json_decref(j);
    h_resp_free(&r);
    free(body);
    return text;
}

static json_t *answer_json(int port, const char *task, const char *user)
{
    char *text = answer_text(port, task, NULL, user);
    json_t *j = json_loads(text, 0, NULL);

    ck_assert_msg(j != NULL, "task %s answer is not JSON: %s", task, text);
    free(text);
    return j;
}

static void admin(int port, const char *method, const char *path, const char *body)
{
    struct h_resp r;

    ck_assert_int_eq(h_http(&r, method, port, path, NULL, body, body ? strlen(body) : 0), 0);
    ck_assert_msg(r.status == 200, "%s %s -> %ld %s", method, path, r.status, r.body);
    h_resp_free(&r);
}

START_TEST(test_fake_health_answers)
{
    struct h_resp r;

    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/health", NULL, NULL, 0), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_messages_has_anthropic_shape)
{
    struct h_resp r;
    char *body = messages_body("sys", "<problem>Open a bakery?</problem>", 1000);
    json_t *j;
    json_t *usage;
    char *rid;

    ck_assert_int_eq(post(&r, fake.port, "/v1/messages", "research", "s1", body), 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(strncmp(json_string_value(json_object_get(j, "id")), "msg_", 4), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "message");
    ck_assert_str_eq(json_string_value(json_object_get(j, "role")), "assistant");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "claude-test");
    ck_assert_str_eq(json_string_value(json_object_get(j, "stop_reason")), "end_turn");
    ck_assert(json_is_null(json_object_get(j, "stop_sequence")));
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(j, "content"), 0), "type")),
                     "text");
    usage = json_object_get(j, "usage");
    ck_assert(json_integer_value(json_object_get(usage, "input_tokens")) > 0);
    ck_assert(json_integer_value(json_object_get(usage, "output_tokens")) > 0);
    ck_assert(json_is_integer(json_object_get(usage, "cache_creation_input_tokens")));
    ck_assert(json_is_integer(json_object_get(usage, "cache_read_input_tokens")));
    rid = h_resp_header(&r, "request-id");
    ck_assert_ptr_nonnull(rid);
    ck_assert_int_eq(strncmp(rid, "req_", 4), 0);
    free(rid);
    json_decref(j);
    h_resp_free(&r);
    free(body);
}
END_TEST

static json_t *usage_of(int port, const char *body)
{
    struct h_resp r;
    json_t *j;
    json_t *u;

    ck_assert_int_eq(post(&r, port, "/v1/messages", "contribute", NULL, body), 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    u = json_incref(json_object_get(j, "usage"));
    json_decref(j);
    h_resp_free(&r);
    return u;
}

START_TEST(test_fake_messages_reads_cache_on_repeated_prefix)
{
    /* 400 chars -> 100 tokens of cacheable prefix. */
    char sys[401];
    char *b1;
    char *b2;
    json_t *u1;
    json_t *u2;

    memset(sys, 'a', 400);
    sys[400] = '\0';
    b1 = messages_body(sys, "<round>1</round> first question", 1000);
    b2 = messages_body(sys, "<round>2</round> a different second question", 1000);
    u1 = usage_of(fake.port, b1);
    u2 = usage_of(fake.port, b2);
    ck_assert_int_eq(json_integer_value(json_object_get(u1, "cache_creation_input_tokens")), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(u1, "cache_read_input_tokens")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(u2, "cache_creation_input_tokens")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(u2, "cache_read_input_tokens")), 100);
    /* input_tokens counts only the uncached rest: ceil(31/4) = 8. */
    ck_assert_int_eq(json_integer_value(json_object_get(u1, "input_tokens")), 8);
    json_decref(u1);
    json_decref(u2);
    free(b1);
    free(b2);
}
END_TEST

START_TEST(test_fake_messages_reads_longest_cached_prefix_of_two_blocks)
{
    const char *one = "{\"model\":\"m\",\"max_tokens\":100,\"system\":[{\"type\":\"text\",\"text\":"
                      "\"12345678\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    const char *two = "{\"model\":\"m\",\"max_tokens\":100,\"system\":[{\"type\":\"text\",\"text\":"
                      "\"12345678\",\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\","
                      "\"text\":\"abcdefghijkl\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    json_t *u1 = usage_of(fake.port, one);
    json_t *u2 = usage_of(fake.port, two);
    json_t *u3 = usage_of(fake.port, two);

    ck_assert_int_eq(json_integer_value(json_object_get(u1, "cache_creation_input_tokens")), 2);
    /* The first block (2 tokens) is cached; the second block (3 tokens) is written. */
    ck_assert_int_eq(json_integer_value(json_object_get(u2, "cache_read_input_tokens")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(u2, "cache_creation_input_tokens")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(u3, "cache_read_input_tokens")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(u3, "cache_creation_input_tokens")), 0);
    json_decref(u1);
    json_decref(u2);
    json_decref(u3);
}
END_TEST

START_TEST(test_fake_messages_truncates_at_max_tokens)
{
    struct h_resp r;
    char *body = messages_body("sys", "<round>1</round><speaker code=\"cfo\">", 5);
    json_t *j;
    const char *text;

    ck_assert_int_eq(post(&r, fake.port, "/v1/messages", "contribute", NULL, body), 0);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "stop_reason")), "max_tokens");
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "content"), 0), "text"));
    ck_assert_uint_le(strlen(text), 20);
    ck_assert_int_le(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "output_tokens")), 5);
    json_decref(j);
    h_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(test_fake_messages_stops_at_stop_sequence)
{
    struct h_resp r;
    const char *body = "{\"model\":\"m\",\"max_tokens\":2000,\"stop_sequences\":[\"</thinking>\"],"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"<round>1</round>\"}]}";
    json_t *j;
    const char *text;

    ck_assert_int_eq(post(&r, fake.port, "/v1/messages", "contribute", NULL, body), 0);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "stop_reason")), "stop_sequence");
    ck_assert_str_eq(json_string_value(json_object_get(j, "stop_sequence")), "</thinking>");
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "content"), 0), "text"));
    ck_assert_ptr_null(strstr(text, "</thinking>"));
    ck_assert_ptr_nonnull(strstr(text, "<thinking>"));
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_messages_rejects_missing_max_tokens)
{
    struct h_resp r;
    json_t *j;

    ck_assert_int_eq(
        post(&r, fake.port, "/v1/messages", NULL, NULL, "{\"model\":\"m\",\"messages\":[]}"), 0);
    ck_assert_int_eq(r.status, 400);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "invalid_request_error");
    ck_assert(json_is_string(json_object_get(j, "request_id")));
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_api_key_is_enforced)
{
    struct h_proc p;
    struct h_resp r;
    const char *body = "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[]}";
    json_t *j;

    start_fake(&p, (const char *[]){"--api-key", "sekrit", NULL});
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/v1/messages", NULL, body, strlen(body)), 0);
    ck_assert_int_eq(r.status, 401);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "authentication_error");
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/v1/messages",
                            (const char *[]){"x-api-key: wrong", NULL}, body, strlen(body)),
                     0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/v1/messages",
                            (const char *[]){"x-api-key: sekrit", NULL}, body, strlen(body)),
                     0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/v1/chat/completions",
                            (const char *[]){"Authorization: Bearer sekrit", NULL},
                            "{\"model\":\"m\",\"messages\":[]}", 27),
                     0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/v1/chat/completions", NULL,
                            "{\"model\":\"m\",\"messages\":[]}", 27),
                     0);
    ck_assert_int_eq(r.status, 401);
    j = h_resp_json(&r);
    ck_assert(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_proc_stop(&p, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_fake_chat_has_openai_shape_and_cached_tokens)
{
    const char *body = "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"system\",\"content\":"
                       "\"0123456789abcdef\"},{\"role\":\"user\",\"content\":\"hello\"}]}";
    long cached[2];

    for (int i = 0; i < 2; i++) {
        struct h_resp r;
        json_t *j;
        json_t *choice;
        json_t *usage;
        ck_assert_int_eq(post(&r, fake.port, "/v1/chat/completions", "summarize", NULL, body), 0);
        ck_assert_int_eq(r.status, 200);
        j = h_resp_json(&r);
        ck_assert_int_eq(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "chat.completion");
        ck_assert(json_is_integer(json_object_get(j, "created")));
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "gpt-test");
        choice = json_array_get(json_object_get(j, "choices"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(choice, "index")), 0);
        ck_assert_str_eq(json_string_value(json_object_get(choice, "finish_reason")), "stop");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(choice, "message"), "role")),
            "assistant");
        ck_assert(json_is_string(json_object_get(json_object_get(choice, "message"), "content")));
        usage = json_object_get(j, "usage");
        ck_assert_int_eq(json_integer_value(json_object_get(usage, "prompt_tokens")), 6);
        ck_assert_int_eq(json_integer_value(json_object_get(usage, "total_tokens")),
                         6 + json_integer_value(json_object_get(usage, "completion_tokens")));
        cached[i] = (long)json_integer_value(
            json_object_get(json_object_get(usage, "prompt_tokens_details"), "cached_tokens"));
        json_decref(j);
        h_resp_free(&r);
    }
    ck_assert_int_eq(cached[0], 0);
    ck_assert_int_eq(cached[1], 4);
}
END_TEST

START_TEST(test_fake_chat_reports_length_when_cut)
{
    struct h_resp r;
    json_t *j;

    ck_assert_int_eq(post(&r, fake.port, "/v1/chat/completions", "contribute", NULL,
                          "{\"model\":\"g\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\","
                          "\"content\":\"<round>1</round>\"}]}"),
                     0);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                     "length");
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

static double cosine(json_t *a, json_t *b)
{
    double dot = 0, na = 0, nb = 0;

    for (size_t i = 0; i < json_array_size(a); i++) {
        double x = json_real_value(json_array_get(a, i));
        double y = json_real_value(json_array_get(b, i));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    return dot / (sqrt(na) * sqrt(nb));
}

START_TEST(test_fake_embeddings_are_deterministic_and_similar_texts_score_higher)
{
    struct h_resp r;
    json_t *j;
    json_t *data;
    json_t *v0;
    json_t *v1;
    json_t *v2;
    const char *body = "{\"model\":\"voyage-3\",\"input\":[\"open a second bakery in Lyon\","
                       "\"opening a second bakery in Lyon next year\",\"quantum chromodynamics "
                       "lattice simulation\"],\"input_type\":\"document\"}";

    ck_assert_int_eq(post(&r, fake.port, "/v1/embeddings", NULL, NULL, body), 0);
    ck_assert_int_eq(r.status, 200);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "list");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "voyage-3");
    ck_assert(json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")) > 0);
    data = json_object_get(j, "data");
    ck_assert_int_eq(json_array_size(data), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, i), "object")),
                         "embedding");
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(data, i), "index")),
                         (json_int_t)i);
    }
    v0 = json_object_get(json_array_get(data, 0), "embedding");
    v1 = json_object_get(json_array_get(data, 1), "embedding");
    v2 = json_object_get(json_array_get(data, 2), "embedding");
    ck_assert_int_eq(json_array_size(v0), 256);
    ck_assert_double_eq_tol(cosine(v0, v0), 1.0, 1e-6);
    ck_assert_msg(cosine(v0, v1) > cosine(v0, v2) + 0.3, "similar %f unrelated %f", cosine(v0, v1),
                  cosine(v0, v2));
    h_resp_free(&r);

    /* Same text, same vector; a single string input works; dimensions is honoured. */
    ck_assert_int_eq(post(&r, fake.port, "/v1/embeddings", NULL, NULL,
                          "{\"model\":\"e\",\"input\":\"open a second bakery in Lyon\"}"),
                     0);
    {
        json_t *k = h_resp_json(&r);
        json_t *w = json_object_get(json_array_get(json_object_get(k, "data"), 0), "embedding");
        ck_assert(json_equal(w, v0));
        json_decref(k);
    }
    h_resp_free(&r);
    ck_assert_int_eq(post(&r, fake.port, "/v1/embeddings", NULL, NULL,
                          "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":8}"),
                     0);
    {
        json_t *k = h_resp_json(&r);
        ck_assert_int_eq(json_array_size(json_object_get(
                             json_array_get(json_object_get(k, "data"), 0), "embedding")),
                         8);
        json_decref(k);
    }
    h_resp_free(&r);
    json_decref(j);
}
END_TEST

static size_t count_words(const char *s, size_t n)
{
    size_t words = 0;
    int in = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
            in = 0;
        } else if (!in) {
            in = 1;
            words++;
        }
    }
    return words;
}

static char *between(const char *s, const char *open, const char *close)
{
    const char *a = strstr(s, open);
    const char *b = a ? strstr(a, close) : NULL;

    if (!a || !b)
        return NULL;
    a += strlen(open);
    return strndup(a, (size_t)(b - a));
}

START_TEST(test_fake_contribution_has_three_tags_and_100_to_200_words)
{
    for (int round = 1; round <= 5; round++) {
        char user[256];
        char *text;
        char *contrib;
        size_t words;
        snprintf(user, sizeof(user),
                 "<round>%d</round><speaker code=\"cmo\"><problem>Should we launch a premium "
                 "subscription tier?</problem>",
                 round);
        text = answer_text(fake.port, round % 2 ? "contribute" : "moderate", NULL, user);
        ck_assert_ptr_nonnull(strstr(text, "<thinking>"));
        ck_assert_ptr_nonnull(strstr(text, "</summary>"));
        contrib = between(text, "<contribution>", "</contribution>");
        ck_assert_ptr_nonnull(contrib);
        words = count_words(contrib, strlen(contrib));
        ck_assert_msg(words >= 100 && words <= 200, "round %d: %zu words", round, words);
        free(contrib);
        contrib = between(text, "<summary>", "</summary>");
        ck_assert_ptr_nonnull(contrib);
        ck_assert_ptr_null(strchr(contrib, '\n'));
        free(contrib);
        free(text);
    }
}
END_TEST

static double round_similarity(int round)
{
    static const char *const speakers[] = {"cfo", "cto", "coo", "cmo"};
    char *texts[4];
    double sum = 0;
    int pairs = 0;

    for (int i = 0; i < 4; i++) {
        char user[256];
        char *t;
        snprintf(user, sizeof(user),
                 "<round>%d</round><speaker code=\"%s\"><problem>Should we open a warehouse in "
                 "Porto?</problem>",
                 round, speakers[i]);
        t = answer_text(fake.port, "contribute", NULL, user);
        texts[i] = between(t, "<contribution>", "</contribution>");
        free(t);
    }
    /* Whole sentences matter more than words: count sentences two speakers share. */
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++) {
            char *copy = strdup(texts[i]);
            char *save = NULL;
            int total = 0, same = 0;
            for (char *s = strtok_r(copy, ".", &save); s; s = strtok_r(NULL, ".", &save)) {
                total++;
                same += strstr(texts[j], s) != NULL;
            }
            sum += total ? (double)same / total : 0;
            pairs++;
            free(copy);
        }
    }
    for (int i = 0; i < 4; i++)
        free(texts[i]);
    return sum / pairs;
}

START_TEST(test_fake_contributions_converge_over_rounds)
{
    double r1 = round_similarity(1);
    double r4 = round_similarity(4);

    ck_assert_msg(r4 > r1 + 0.2, "round 1 %f round 4 %f", r1, r4);
}
END_TEST

START_TEST(test_fake_facilitator_continues_early_and_votes_later)
{
    json_t *j = answer_json(fake.port, "facilitate", "<round>1</round><problem>Hire?</problem>");

    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "continue");
    ck_assert(json_is_string(json_object_get(j, "reason")));
    json_decref(j);
    j = answer_json(fake.port, "facilitate", "<round>3</round><problem>Hire?</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "vote");
    json_decref(j);
    j = answer_json(fake.port, "facilitate",
                    "<round>3</round><problem>Hire? [fake:rounds=5]</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "continue");
    json_decref(j);
}
END_TEST

START_TEST(test_fake_votes_mostly_agree_with_some_dissent)
{
    static const char *const who[] = {"a1", "b2",  "c3",  "d4",  "e5",  "f6",  "g7",  "h8",
                                      "i9", "j10", "k11", "l12", "m13", "n14", "o15", "p16"};
    char first[256] = "";
    int same = 0;

    for (size_t i = 0; i < 16; i++) {
        char user[256];
        json_t *j;
        const char *rec;
        double conf;
        snprintf(user, sizeof(user),
                 "<round>4</round><speaker code=\"%s\"><problem>Move the HQ to Berlin?</problem>",
                 who[i]);
        j = answer_json(fake.port, "vote", user);
        rec = json_string_value(json_object_get(j, "recommendation"));
        ck_assert_ptr_nonnull(rec);
        ck_assert(json_is_string(json_object_get(j, "reasoning")));
        ck_assert(json_is_array(json_object_get(j, "conditions")));
        ck_assert(json_is_boolean(json_object_get(j, "reversible")));
        conf = json_number_value(json_object_get(j, "confidence"));
        ck_assert(conf > 0 && conf <= 1);
        if (!first[0])
            snprintf(first, sizeof(first), "%s", rec);
        same += strcmp(first, rec) == 0;
        json_decref(j);
    }
    /* Either the first voter is in the majority (most agree) or is a dissenter. */
    ck_assert_msg((same >= 9 && same < 16) || (same >= 1 && same <= 5), "same=%d", same);
}
END_TEST

START_TEST(test_fake_select_picks_from_candidates)
{
    json_t *j = answer_json(fake.port, "select",
                            "<problem>Enter Japan?</problem><persona code=\"p_a\">A</persona>"
                            "<persona code=\"p_b\">B</persona><persona code=\"p_c\">C</persona>"
                            "<persona code=\"p_d\">D</persona><persona code=\"p_e\">E</persona>"
                            "<persona code=\"p_f\">F</persona>");
    json_t *list = json_object_get(j, "personas");
    size_t i;
    json_t *p;

    ck_assert(json_array_size(list) >= 3 && json_array_size(list) <= 5);
    json_array_foreach(list, i, p)
    {
        const char *code = json_string_value(json_object_get(p, "code"));
        ck_assert_ptr_nonnull(code);
        ck_assert_msg(strncmp(code, "p_", 2) == 0 && strlen(code) == 3, "code %s", code);
        ck_assert(json_is_string(json_object_get(p, "rationale")));
        for (size_t k = 0; k < i; k++)
            ck_assert_str_ne(code,
                             json_string_value(json_object_get(json_array_get(list, k), "code")));
    }
    ck_assert(json_is_string(json_object_get(j, "coverage")));
    json_decref(j);
}
END_TEST

START_TEST(test_fake_decompose_and_clarify_follow_markers)
{
    json_t *j = answer_json(fake.port, "decompose",
                            "<problem>Restructure sales [fake:subproblems=3]</problem>");
    json_t *sps = json_object_get(j, "sub_problems");
    json_t *last;

    ck_assert_int_eq(json_array_size(sps), 3);
    ck_assert(json_is_false(json_object_get(j, "is_atomic")));
    last = json_array_get(sps, 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(last, "dependencies"), 0)),
                     json_string_value(json_object_get(json_array_get(sps, 0), "id")));
    for (size_t i = 0; i < 3; i++) {
        json_int_t c = json_integer_value(json_object_get(json_array_get(sps, i), "complexity"));
        ck_assert(c >= 1 && c <= 10);
    }
    json_decref(j);
    j = answer_json(fake.port, "decompose", "<problem>Restructure sales</problem>");
    ck_assert_int_eq(json_array_size(json_object_get(j, "sub_problems")), 1);
    ck_assert(json_is_true(json_object_get(j, "is_atomic")));
    json_decref(j);
    j = answer_json(fake.port, "clarify", "<problem>Pricing [fake:clarify=2]</problem>");
    ck_assert_int_eq(json_array_size(json_object_get(j, "questions")), 2);
    ck_assert(json_is_string(
        json_object_get(json_array_get(json_object_get(j, "questions"), 1), "question")));
    json_decref(j);
    j = answer_json(fake.port, "clarify", "<problem>Pricing</problem>");
    ck_assert_int_eq(json_array_size(json_object_get(j, "questions")), 0);
    json_decref(j);
}
END_TEST

START_TEST(test_fake_other_tasks_have_their_fields)
{
    static const struct {
        const char *task;
        const char *fields[12];
    } cases[] = {
        {"summarize", {"summary", "agreements", "disagreements", "open_questions"}},
        {"research", {"findings", "confidence", "caveats"}},
        {"synthesize",
         {"executive_summary", "recommendation", "rationale", "vote_breakdown", "dissent", "risks",
          "conditions", "implementation_steps", "confidence", "open_questions"}},
        {"synthesize_final", {"executive_summary", "conflicts", "roadmap", "recommendation"}},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = answer_json(fake.port, cases[i].task, "<round>2</round><problem>X</problem>");
        for (size_t f = 0; cases[i].fields[f]; f++)
            ck_assert_msg(json_object_get(j, cases[i].fields[f]) != NULL, "%s lacks %s",
                          cases[i].task, cases[i].fields[f]);
        json_decref(j);
    }
    {
        char *t = answer_text(fake.port, NULL, NULL, "hello there");
        ck_assert(strlen(t) > 0 && strlen(t) < 200);
        free(t);
    }
}
END_TEST

START_TEST(test_fake_same_seed_same_answer_other_seed_differs)
{
    struct h_proc other;
    const char *user = "<round>1</round><speaker code=\"cfo\"><problem>Buy a competitor in "
                       "Spain?</problem>";
    char *a = answer_text(fake.port, "contribute", NULL, user);
    char *b = answer_text(fake.port, "contribute", NULL, user);
    char *c;
    char *d;

    ck_assert_str_eq(a, b);
    start_fake(&other, (const char *[]){"--seed", "8", NULL});
    c = answer_text(other.port, "contribute", NULL, user);
    ck_assert_str_ne(a, c);
    /* JSON tasks vary by seed too. */
    d = answer_text(other.port, "research", NULL, user);
    free(b);
    b = answer_text(fake.port, "research", NULL, user);
    ck_assert_str_ne(b, d);
    ck_assert_int_eq(h_proc_stop(&other, SIGTERM, 5000), 0);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(test_fake_scripted_answers_come_first_in_order)
{
    char *t;

    admin(
        fake.port, "POST", "/_fake/script",
        "{\"task\":\"vote\",\"session\":\"s1\",\"texts\":[\"not json at all\",\"{\\\"x\\\":1}\"]}");
    t = answer_text(fake.port, "vote", "s2", "<round>1</round>");
    ck_assert_ptr_nonnull(strstr(t, "recommendation")); /* other session: generated */
    free(t);
    t = answer_text(fake.port, "contribute", "s1", "<round>1</round>");
    ck_assert_ptr_nonnull(strstr(t, "<contribution>")); /* other task: generated */
    free(t);
    t = answer_text(fake.port, "vote", "s1", "<round>1</round>");
    ck_assert_str_eq(t, "not json at all");
    free(t);
    t = answer_text(fake.port, "vote", "s1", "<round>1</round>");
    ck_assert_str_eq(t, "{\"x\":1}");
    free(t);
    t = answer_text(fake.port, "vote", "s1", "<round>1</round>");
    ck_assert_ptr_nonnull(strstr(t, "recommendation"));
    free(t);
    /* Without a session, a script matches any session. */
    admin(fake.port, "POST", "/_fake/script", "{\"task\":\"research\",\"texts\":[\"R\"]}");
    t = answer_text(fake.port, "research", "zzz", "x");
    ck_assert_str_eq(t, "R");
    free(t);
}
END_TEST

START_TEST(test_fake_request_log_records_and_filters)
{
    struct h_resp r;
    json_t *j;
    json_t *rec;
    char *t;

    admin(fake.port, "DELETE", "/_fake/requests", NULL);
    t = answer_text(fake.port, "vote", "sess-9", "<round>1</round>");
    free(t);
    t = answer_text(fake.port, "contribute", "sess-9", "<round>1</round>");
    free(t);
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/requests", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(j), 2);
    rec = json_array_get(j, 0);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "method")), "POST");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "path")), "/v1/messages");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "task")), "vote");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "session")), "sess-9");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(rec, "headers"), "x-bo1-task")), "vote");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "body"), "model")),
                     "claude-test");
    ck_assert(json_integer_value(json_object_get(json_array_get(j, 1), "seq")) >
              json_integer_value(json_object_get(rec, "seq")));
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/requests?task=contribute", NULL, NULL, 0),
                     0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(j), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "task")),
                     "contribute");
    json_decref(j);
    h_resp_free(&r);
    admin(fake.port, "DELETE", "/_fake/requests", NULL);
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/requests", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_request_log_is_bounded)
{
    struct h_proc p;
    struct h_resp r;
    json_t *j;

    start_fake(&p, (const char *[]){"--max-requests", "3", NULL});
    for (int i = 0; i < 5; i++)
        free(answer_text(p.port, "vote", NULL, "x"));
    ck_assert_int_eq(h_http(&r, "GET", p.port, "/_fake/requests", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(j), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "seq")), 3);
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_proc_stop(&p, SIGINT, 5000), 0); /* SIGINT is a clean stop too */
}
END_TEST

/* One /v1/messages call; returns its status, or -1 on a transport error. */
static long call_status(int port, const char *task, struct h_resp *keep)
{
    struct h_resp r;
    char *body = messages_body("s", "<round>1</round>", 100);
    long st;

    st = post(&r, port, "/v1/messages", task, NULL, body) == 0 ? r.status : -1;
    free(body);
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
    return st;
}

START_TEST(test_fake_fault_429_sends_retry_after)
{
    struct h_resp r;
    json_t *j;
    char *h;

    admin(fake.port, "POST", "/_fake/faults",
          "{\"error\":\"429\",\"count\":1,\"retry_after\":2,\"retry_after_ms\":1500,"
          "\"task\":\"vote\"}");
    ck_assert_int_eq(call_status(fake.port, "contribute", NULL), 200); /* other task */
    ck_assert_int_eq(call_status(fake.port, "vote", &r), 429);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "rate_limit_error");
    json_decref(j);
    h = h_resp_header(&r, "retry-after");
    ck_assert_str_eq(h, "2");
    free(h);
    h = h_resp_header(&r, "retry-after-ms");
    ck_assert_str_eq(h, "1500");
    free(h);
    h_resp_free(&r);
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), 200); /* count used up */
}
END_TEST

START_TEST(test_fake_fault_spend_limit_has_error_code)
{
    struct h_resp r;
    json_t *j;

    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"spend_limit\",\"count\":1}");
    ck_assert_int_eq(call_status(fake.port, "vote", &r), 429);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(j, "error"), "details"), "error_code")),
                     "enforced_spend_limit_reached");
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_fault_500_and_529_and_should_retry)
{
    struct h_resp r;
    json_t *j;
    char *h;

    admin(fake.port, "POST", "/_fake/faults",
          "[{\"error\":\"500\",\"count\":1,\"should_retry\":false},"
          "{\"error\":\"529\",\"count\":1}]");
    ck_assert_int_eq(call_status(fake.port, "vote", &r), 500);
    h = h_resp_header(&r, "x-should-retry");
    ck_assert_str_eq(h, "false");
    free(h);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "api_error");
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(call_status(fake.port, "vote", &r), 529);
    j = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                     "overloaded_error");
    json_decref(j);
    h = h_resp_header(&r, "x-should-retry");
    ck_assert_ptr_null(h);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_fault_on_chat_uses_openai_error_shape)
{
    struct h_resp r;
    json_t *j;
    json_t *err;

    admin(fake.port, "POST", "/_fake/faults",
          "{\"error\":\"429\",\"count\":1,\"path\":\"/v1/chat/completions\"}");
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), 200); /* other path */
    ck_assert_int_eq(post(&r, fake.port, "/v1/chat/completions", "vote", NULL,
                          "{\"model\":\"g\",\"messages\":[]}"),
                     0);
    ck_assert_int_eq(r.status, 429);
    j = h_resp_json(&r);
    err = json_object_get(j, "error");
    ck_assert(json_is_string(json_object_get(err, "message")));
    ck_assert(json_is_string(json_object_get(err, "type")));
    ck_assert(json_is_null(json_object_get(err, "param")));
    ck_assert(json_object_get(err, "code") != NULL);
    json_decref(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(test_fake_fault_malformed_truncated_reset)
{
    struct h_resp r;
    json_t *j;

    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"malformed\",\"count\":1}");
    ck_assert_int_eq(call_status(fake.port, "vote", &r), 200);
    j = h_resp_json(&r);
    ck_assert_ptr_null(j);
    ck_assert(r.body_len > 0);
    h_resp_free(&r);

    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"truncated\",\"count\":1}");
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), -1);
    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"reset\",\"count\":1}");
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), -1);
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), 200);
}
END_TEST

static CURLcode call_with_timeout(int port, long timeout_ms, long *status)
{
    char url[128];
    CURL *c = curl_easy_init();
    CURLcode rc;
    const char *body = "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[]}";
    FILE *devnull = fopen("/dev/null", "w");

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/messages", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    fclose(devnull);
    return rc;
}

START_TEST(test_fake_fault_hang_never_answers_and_latency_delays)
{
    long st;
    long long t0;

    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"hang\",\"count\":1}");
    t0 = h_now_ms();
    ck_assert_int_eq(call_with_timeout(fake.port, 400, &st), CURLE_OPERATION_TIMEDOUT);
    ck_assert(h_now_ms() - t0 >= 390);
    admin(fake.port, "POST", "/_fake/faults", "{\"latency_ms\":250,\"task\":\"vote\"}");
    t0 = h_now_ms();
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), 200);
    ck_assert_msg(h_now_ms() - t0 >= 240, "took %lld ms", h_now_ms() - t0);
    t0 = h_now_ms();
    ck_assert_int_eq(call_status(fake.port, "contribute", NULL), 200);
    ck_assert_msg(h_now_ms() - t0 < 240, "took %lld ms", h_now_ms() - t0);
    admin(fake.port, "DELETE", "/_fake/faults", NULL);
    t0 = h_now_ms();
    ck_assert_int_eq(call_status(fake.port, "vote", NULL), 200);
    ck_assert(h_now_ms() - t0 < 240);
}
END_TEST

/* Which of 40 calls fail under a 50% rate, as a bit string. */
static void rate_pattern(int port, char out[41])
{
    admin(port, "POST", "/_fake/faults", "{\"error\":\"500\",\"rate\":0.5}");
    for (int i = 0; i < 40; i++)
        out[i] = call_status(port, "vote", NULL) == 500 ? '1' : '0';
    out[40] = '\0';
    admin(port, "DELETE", "/_fake/faults", NULL);
}

START_TEST(test_fake_fault_rate_is_a_deterministic_fraction)
{
    struct h_proc p;
    char a[41];
    char b[41];
    int fails = 0;

    rate_pattern(fake.port, a);
    for (int i = 0; i < 40; i++)
        fails += a[i] == '1';
    ck_assert_msg(fails >= 10 && fails <= 30, "%d of 40 failed", fails);
    start_fake(&p, (const char *[]){"--seed", "7", NULL});
    rate_pattern(p.port, b);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(h_proc_stop(&p, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_fake_fault_flag_at_start_and_bad_rules_rejected)
{
    struct h_proc p;
    struct h_resp r;

    start_fake(&p, (const char *[]){"--fault", "error=529,count=1,task=vote", NULL});
    ck_assert_int_eq(call_status(p.port, "contribute", NULL), 200);
    ck_assert_int_eq(call_status(p.port, "vote", NULL), 529);
    ck_assert_int_eq(call_status(p.port, "vote", NULL), 200);
    ck_assert_int_eq(h_http(&r, "POST", p.port, "/_fake/faults", NULL, "{\"error\":\"boom\"}", 16),
                     0);
    ck_assert_int_eq(r.status, 400);
    h_resp_free(&r);
    ck_assert_int_eq(h_proc_stop(&p, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_fake_thousand_concurrent_calls_overlap)
{
    struct h_proc p;
    enum { N = 1000 };
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    char url[128];
    const char *body = "{\"model\":\"m\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"}]}";
    FILE *devnull = fopen("/dev/null", "w");
    long long t0;
    long long elapsed;
    int running = 1;
    int ok = 0;
    CURLMsg *msg;
    int left;

    start_fake(&p, (const char *[]){"--latency-ms", "100", NULL});
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/messages", p.port);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (int i = 0; i < N; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, devnull);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(multi, easy[i]);
    }
    t0 = h_now_ms();
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    elapsed = h_now_ms() - t0;
    while ((msg = curl_multi_info_read(multi, &left))) {
        long st = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
        ok += msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK && st == 200;
    }
    for (int i = 0; i < N; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    fclose(devnull);
    fprintf(stderr, "fake: %d concurrent calls at 100 ms latency: %d ok in %lld ms\n", N, ok,
            elapsed);
    ck_assert_int_eq(ok, N);
    ck_assert_msg(elapsed < 2000, "took %lld ms", elapsed);
    ck_assert_int_eq(h_proc_stop(&p, SIGTERM, 5000), 0);
}
END_TEST

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

START_TEST(test_fake_keeps_connections_alive_across_suspended_replies)
{
    char url[128];
    CURL *c = curl_easy_init();
    const char *body = "{\"model\":\"m\",\"max_tokens\":10,\"system\":\"plain string system\","
                       "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                       "\"text\":\"block content\"}]}]}";

    admin(fake.port, "POST", "/_fake/faults", "{\"latency_ms\":30}");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/messages", fake.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (int i = 0; i < 3; i++) {
        long st = 0;
        long connects = -1;
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        ck_assert_int_eq(st, 200);
        /* The first call opens a connection; later calls reuse it. */
        ck_assert_int_eq(connects, i == 0 ? 1 : 0);
    }
    curl_easy_cleanup(c);
}
END_TEST

START_TEST(test_fake_uniform_latency_stays_in_range)
{
    struct h_proc p;
    long long lo = 1000000, hi = 0;

    start_fake(&p, (const char *[]){"--latency-min-ms", "60", "--latency-max-ms", "160", NULL});
    for (int i = 0; i < 8; i++) {
        long long t0 = h_now_ms();
        long long dt;
        ck_assert_int_eq(call_status(p.port, "vote", NULL), 200);
        dt = h_now_ms() - t0;
        lo = dt < lo ? dt : lo;
        hi = dt > hi ? dt : hi;
    }
    ck_assert_msg(lo >= 58 && hi < 400, "lo %lld hi %lld", lo, hi);
    ck_assert_msg(hi - lo >= 10, "latencies did not vary: lo %lld hi %lld", lo, hi);
    ck_assert_int_eq(h_proc_stop(&p, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_fake_facilitator_obeys_limits_and_markers)
{
    json_t *j;

    /* Voting not allowed: continue even late. */
    j = answer_json(fake.port, "facilitate",
                    "<round>5</round><limits round=\"5\" max_rounds=\"6\" research_left=\"0\" "
                    "clarify_left=\"0\" vote_allowed=\"false\"/><problem>Hire?</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "continue");
    json_decref(j);
    /* A round limit of 2 brings the vote forward. */
    j = answer_json(fake.port, "facilitate",
                    "<round>2</round><limits round=\"2\" max_rounds=\"2\" vote_allowed=\"true\"/>"
                    "<problem>Hire?</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "vote");
    json_decref(j);
    j = answer_json(fake.port, "facilitate",
                    "<round>2</round><problem>Hire? [fake:moderator=2]</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "moderator");
    ck_assert(json_is_string(json_object_get(j, "moderator")));
    json_decref(j);
    j = answer_json(fake.port, "facilitate",
                    "<round>1</round><limits research_left=\"1\"/>"
                    "<problem>Hire? [fake:research=1]</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "research");
    ck_assert(json_string_length(json_object_get(j, "research_query")) > 0);
    json_decref(j);
    j = answer_json(fake.port, "facilitate",
                    "<round>1</round><limits research_left=\"0\"/>"
                    "<problem>Hire? [fake:research=1]</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "continue");
    json_decref(j);
    j = answer_json(fake.port, "facilitate",
                    "<round>2</round><problem>Hire? [fake:ask=2]</problem>");
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "clarify");
    ck_assert(json_string_length(json_object_get(j, "question")) > 0);
    json_decref(j);
}
END_TEST

START_TEST(test_fake_reset_clears_faults_scripts_log_and_cache)
{
    struct h_resp r;
    json_t *j;
    char sys[41];
    char *body;
    json_t *u;

    memset(sys, 'z', 40);
    sys[40] = '\0';
    body = messages_body(sys, "q", 100);
    json_decref(usage_of(fake.port, body));
    admin(fake.port, "POST", "/_fake/faults", "{\"error\":\"500\"}");
    admin(fake.port, "POST", "/_fake/script", "{\"task\":\"vote\",\"texts\":[\"S\"]}");
    admin(fake.port, "POST", "/_fake/reset", "");
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/requests", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(j), 0);
    json_decref(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/faults", NULL, NULL, 0), 0);
    j = h_resp_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "faults")), 0);
    json_decref(j);
    h_resp_free(&r);
    u = usage_of(fake.port, body); /* no 500, and the prefix is written again */
    ck_assert_int_eq(json_integer_value(json_object_get(u, "cache_creation_input_tokens")), 10);
    json_decref(u);
    {
        char *t = answer_text(fake.port, "vote", NULL, "<round>1</round>");
        ck_assert_str_ne(t, "S");
        free(t);
    }
    free(body);
}
END_TEST

START_TEST(test_fake_vote_reads_voter_code)
{
    int differs = 0;
    char *first =
        answer_text(fake.port, "vote", NULL,
                    "<round>3</round><voter code=\"v0\">V</voter><problem>Sell?</problem>");

    for (int i = 1; i < 12; i++) {
        char user[160];
        char *t;
        snprintf(user, sizeof(user),
                 "<round>3</round><voter code=\"v%d\">V</voter><problem>Sell?</problem>", i);
        t = answer_text(fake.port, "vote", NULL, user);
        differs += strcmp(t, first) != 0;
        free(t);
    }
    ck_assert_int_gt(differs, 0); /* voters are told apart */
    free(first);
}
END_TEST

START_TEST(test_fake_fault_contains_matches_the_raw_body)
{
    struct h_resp r;
    char *a = messages_body("s", "<speaker code=\"cmo\">Ann</speaker>", 100);
    char *b = messages_body("s", "<speaker code=\"cfo\">Bob</speaker>", 100);
    json_t *list;

    /* The rule text is matched against the JSON body as sent, quotes escaped. */
    admin(fake.port, "POST", "/_fake/faults",
          "{\"error\":\"500\",\"contains\":\"speaker code=\\\\\\\"cmo\\\\\\\"\"}");
    ck_assert_int_eq(post(&r, fake.port, "/v1/messages", "contribute", NULL, b), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(post(&r, fake.port, "/v1/messages", "contribute", NULL, a), 0);
    ck_assert_int_eq(r.status, 500);
    h_resp_free(&r);
    ck_assert_int_eq(h_http(&r, "GET", fake.port, "/_fake/faults", NULL, NULL, 0), 0);
    list = h_resp_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(list, "faults"), 0), "contains")),
                     "speaker code=\\\"cmo\\\"");
    json_decref(list);
    h_resp_free(&r);
    free(a);
    free(b);
}
END_TEST

static Suite *fake_suite(void)
{
    Suite *s = suite_create("fake");
    TCase *tc = tcase_create("http");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fake_health_answers);
    tcase_add_test(tc, test_fake_fault_contains_matches_the_raw_body);
    tcase_add_test(tc, test_fake_messages_has_anthropic_shape);
    tcase_add_test(tc, test_fake_messages_reads_cache_on_repeated_prefix);
    tcase_add_test(tc, test_fake_messages_reads_longest_cached_prefix_of_two_blocks);
    tcase_add_test(tc, test_fake_messages_truncates_at_max_tokens);
    tcase_add_test(tc, test_fake_messages_stops_at_stop_sequence);
    tcase_add_test(tc, test_fake_messages_rejects_missing_max_tokens);
    tcase_add_test(tc, test_fake_api_key_is_enforced);
    tcase_add_test(tc, test_fake_chat_has_openai_shape_and_cached_tokens);
    tcase_add_test(tc, test_fake_chat_reports_length_when_cut);
    tcase_add_test(tc, test_fake_embeddings_are_deterministic_and_similar_texts_score_higher);
    tcase_add_test(tc, test_fake_contribution_has_three_tags_and_100_to_200_words);
    tcase_add_test(tc, test_fake_contributions_converge_over_rounds);
    tcase_add_test(tc, test_fake_facilitator_continues_early_and_votes_later);
    tcase_add_test(tc, test_fake_votes_mostly_agree_with_some_dissent);
    tcase_add_test(tc, test_fake_select_picks_from_candidates);
    tcase_add_test(tc, test_fake_decompose_and_clarify_follow_markers);
    tcase_add_test(tc, test_fake_other_tasks_have_their_fields);
    tcase_add_test(tc, test_fake_same_seed_same_answer_other_seed_differs);
    tcase_add_test(tc, test_fake_scripted_answers_come_first_in_order);
    tcase_add_test(tc, test_fake_request_log_records_and_filters);
    tcase_add_test(tc, test_fake_request_log_is_bounded);
    tcase_add_test(tc, test_fake_fault_429_sends_retry_after);
    tcase_add_test(tc, test_fake_fault_spend_limit_has_error_code);
    tcase_add_test(tc, test_fake_fault_500_and_529_and_should_retry);
    tcase_add_test(tc, test_fake_fault_on_chat_uses_openai_error_shape);
    tcase_add_test(tc, test_fake_fault_malformed_truncated_reset);
    tcase_add_test(tc, test_fake_fault_hang_never_answers_and_latency_delays);
    tcase_add_test(tc, test_fake_fault_rate_is_a_deterministic_fraction);
    tcase_add_test(tc, test_fake_fault_flag_at_start_and_bad_rules_rejected);
    tcase_add_test(tc, test_fake_thousand_concurrent_calls_overlap);
    tcase_add_test(tc, test_fake_keeps_connections_alive_across_suspended_replies);
    tcase_add_test(tc, test_fake_uniform_latency_stays_in_range);
    tcase_add_test(tc, test_fake_facilitator_obeys_limits_and_markers);
    tcase_add_test(tc, test_fake_reset_clears_faults_scripts_log_and_cache);
    tcase_add_test(tc, test_fake_vote_reads_voter_code);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fake_suite());
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
