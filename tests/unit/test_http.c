/* Unit tests for the http module: route matching, problem+json bodies, CORS, metrics. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/http.h"
#include "bo1/metrics.h"

static enum bo1_status h_dummy(struct bo1_http_req *req)
{
    (void)req;
    return BO1_OK;
}

static const struct bo1_route routes[] = {
    {.method = "GET", .path = "/health", .fn = h_dummy},
    {.method = "POST", .path = "/api/v1/sessions", .fn = h_dummy, .body = BO1_BODY_JSON},
    {.method = "GET", .path = "/api/v1/sessions", .fn = h_dummy},
    {.method = "GET", .path = "/api/v1/sessions/{id}", .fn = h_dummy},
    {.method = "DELETE", .path = "/api/v1/sessions/{id}", .fn = h_dummy},
    {.method = "POST", .path = "/api/v1/sessions/{id}/start", .fn = h_dummy},
    {.method = "GET", .path = "/api/v1/personas/{code}", .fn = h_dummy},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

START_TEST(test_router_matches_literal_path)
{
    struct bo1_route_params p;
    enum bo1_status st;
    const struct bo1_route *r =
        bo1_router_match(routes, N_ROUTES, "GET", "/health", &p, &st, NULL, 0);

    ck_assert_ptr_eq(r, &routes[0]);
    ck_assert_int_eq(st, BO1_OK);
    ck_assert_uint_eq(p.n, 0);
}
END_TEST

START_TEST(test_router_extracts_params)
{
    struct bo1_route_params p;
    enum bo1_status st;
    const struct bo1_route *r = bo1_router_match(
        routes, N_ROUTES, "POST", "/api/v1/sessions/abc_123/start", &p, &st, NULL, 0);

    ck_assert_ptr_eq(r, &routes[5]);
    ck_assert_str_eq(bo1_route_param(&p, "id"), "abc_123");
    ck_assert_ptr_null(bo1_route_param(&p, "code"));
}
END_TEST

START_TEST(test_router_head_uses_get_route)
{
    struct bo1_route_params p;
    enum bo1_status st;

    ck_assert_ptr_eq(bo1_router_match(routes, N_ROUTES, "HEAD", "/health", &p, &st, NULL, 0),
                     &routes[0]);
}
END_TEST

START_TEST(test_router_unknown_path_is_404)
{
    struct bo1_route_params p;
    enum bo1_status st;
    static const char *paths[] = {
        "/nope", "/health/", "/api/v1/sessions/x/y", "/api/v1/sessions//start",
        "",      "/HEALTH",  "/api/v1/personas/"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ck_assert_ptr_null(bo1_router_match(routes, N_ROUTES, "GET", paths[i], &p, &st, NULL, 0));
        ck_assert_msg(st == BO1_NOT_FOUND, "%s", paths[i]);
    }
}
END_TEST

START_TEST(test_router_wrong_method_is_405_with_allow)
{
    struct bo1_route_params p;
    enum bo1_status st;
    char allow[64];

    ck_assert_ptr_null(bo1_router_match(routes, N_ROUTES, "PUT", "/api/v1/sessions/s1", &p, &st,
                                        allow, sizeof(allow)));
    ck_assert_int_eq(st, BO1_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(allow, "GET, HEAD, DELETE, OPTIONS");
    ck_assert_ptr_null(
        bo1_router_match(routes, N_ROUTES, "DELETE", "/health", &p, &st, allow, sizeof(allow)));
    ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
}
END_TEST

START_TEST(test_router_rejects_overlong_param)
{
    struct bo1_route_params p;
    enum bo1_status st;
    char path[600] = "/api/v1/sessions/";

    memset(path + strlen(path), 'a', 400);
    path[17 + 400] = '\0';
    ck_assert_ptr_null(bo1_router_match(routes, N_ROUTES, "GET", path, &p, &st, NULL, 0));
    ck_assert_int_eq(st, BO1_NOT_FOUND);
}
END_TEST

START_TEST(test_problem_body_has_rfc9457_shape)
{
    json_t *errors =
        json_pack("[{s:s, s:s}]", "field", "problem.statement", "message", "too short");
    json_t *p = bo1_problem_new(BO1_BAD_FIELD, "statement too short", "rid-1", errors);

    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "/problems/bad-field");
    ck_assert_str_eq(json_string_value(json_object_get(p, "title")),
                     bo1_status_hint(BO1_BAD_FIELD));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "status")), 400);
    ck_assert_str_eq(json_string_value(json_object_get(p, "detail")), "statement too short");
    ck_assert_str_eq(json_string_value(json_object_get(p, "code")), "BAD_FIELD");
    ck_assert_str_eq(json_string_value(json_object_get(p, "request_id")), "rid-1");
    ck_assert_uint_eq(json_array_size(json_object_get(p, "errors")), 1);
    json_decref(p);
}
END_TEST

START_TEST(test_problem_body_survives_invalid_utf8_detail)
{
    json_t *p = bo1_problem_new(BO1_BAD_JSON, "bad \xff\xfe bytes", NULL, NULL);

    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "detail")),
                     bo1_status_hint(BO1_BAD_JSON));
    ck_assert_ptr_null(json_object_get(p, "request_id"));
    ck_assert_ptr_null(json_object_get(p, "errors"));
    json_decref(p);
}
END_TEST

START_TEST(test_problem_status_follows_table)
{
    static const enum bo1_status all[] = {BO1_NOT_FOUND,  BO1_METHOD_NOT_ALLOWED,
                                          BO1_TOO_LARGE,  BO1_UNSUPPORTED_MEDIA,
                                          BO1_STORE_DOWN, BO1_WRONG_STATE};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        json_t *p = bo1_problem_new(all[i], NULL, NULL, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "status")),
                         (int)bo1_status_http(all[i]));
        ck_assert_str_eq(json_string_value(json_object_get(p, "detail")), bo1_status_hint(all[i]));
        json_decref(p);
    }
}
END_TEST

START_TEST(test_cors_matches_listed_origins_only)
{
    const char *list = "https://a.example, https://b.example";

    ck_assert(bo1_cors_origin_allowed(list, "https://a.example"));
    ck_assert(bo1_cors_origin_allowed(list, "https://b.example"));
    ck_assert(!bo1_cors_origin_allowed(list, "https://a.example.evil"));
    ck_assert(!bo1_cors_origin_allowed(list, "https://a.exampl"));
    ck_assert(!bo1_cors_origin_allowed(list, NULL));
    ck_assert(!bo1_cors_origin_allowed("", "https://a.example"));
    ck_assert(bo1_cors_origin_allowed("*", "https://any.example"));
}
END_TEST

START_TEST(test_metrics_render_counts_and_histogram)
{
    struct bo1_metrics *m = NULL;
    struct bo1_buf out;

    ck_assert_int_eq(bo1_metrics_new(routes, N_ROUTES, &m), BO1_OK);
    bo1_metrics_observe(m, 0, 200, 0.0004);
    bo1_metrics_observe(m, 0, 200, 0.02);
    bo1_metrics_observe(m, N_ROUTES, 404, 0.001);
    bo1_metrics_observe(m, 3, 418, 0.001);
    bo1_buf_init(&out, 0);
    ck_assert_int_eq(bo1_metrics_render(m, &out), BO1_OK);
    ck_assert_ptr_nonnull(strstr(
        bo1_buf_str(&out), "bo1_http_requests_total{route=\"GET /health\",status=\"200\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        bo1_buf_str(&out), "bo1_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(bo1_buf_str(&out), "status=\"418\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        bo1_buf_str(&out),
        "bo1_http_request_duration_seconds_bucket{route=\"GET /health\",le=\"0.0005\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(bo1_buf_str(&out),
               "bo1_http_request_duration_seconds_bucket{route=\"GET /health\",le=\"0.025\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        bo1_buf_str(&out), "bo1_http_request_duration_seconds_count{route=\"GET /health\"} 2\n"));
    bo1_buf_fini(&out);
    bo1_metrics_free(m);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");

    tcase_add_test(tc, test_router_matches_literal_path);
    tcase_add_test(tc, test_router_extracts_params);
    tcase_add_test(tc, test_router_head_uses_get_route);
    tcase_add_test(tc, test_router_unknown_path_is_404);
    tcase_add_test(tc, test_router_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_router_rejects_overlong_param);
    tcase_add_test(tc, test_problem_body_has_rfc9457_shape);
    tcase_add_test(tc, test_problem_body_survives_invalid_utf8_detail);
    tcase_add_test(tc, test_problem_status_follows_table);
    tcase_add_test(tc, test_cors_matches_listed_origins_only);
    tcase_add_test(tc, test_metrics_render_counts_and_histogram);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
