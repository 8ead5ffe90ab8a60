/* Unit tests for core: the status table and the byte buffer. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/buf.h"
#include "bo1/status.h"

START_TEST(test_status_maps_names_and_http_codes)
{
    ck_assert_str_eq(bo1_status_name(BO1_BAD_JSON), "BAD_JSON");
    ck_assert_uint_eq(bo1_status_http(BO1_BAD_JSON), 400);
    ck_assert_uint_eq(bo1_status_http(BO1_NOT_FOUND), 404);
    ck_assert_uint_eq(bo1_status_http(BO1_METHOD_NOT_ALLOWED), 405);
    ck_assert_uint_eq(bo1_status_http(BO1_WRONG_STATE), 409);
    ck_assert_uint_eq(bo1_status_http(BO1_TOO_LARGE), 413);
    ck_assert_uint_eq(bo1_status_http(BO1_UNSUPPORTED_MEDIA), 415);
    ck_assert_uint_eq(bo1_status_http(BO1_IDEMPOTENCY_MISMATCH), 422);
    ck_assert_uint_eq(bo1_status_http(BO1_RATE_LIMITED), 429);
    ck_assert_uint_eq(bo1_status_http(BO1_STORE_DOWN), 503);
    ck_assert_uint_eq(bo1_status_http(BO1_PENDING), 0);
}
END_TEST

START_TEST(test_status_out_of_range_is_internal)
{
    ck_assert_str_eq(bo1_status_name((enum bo1_status)9999), "UNKNOWN");
    ck_assert_uint_eq(bo1_status_http((enum bo1_status)9999), 500);
}
END_TEST

START_TEST(test_buf_grows_and_respects_limit)
{
    struct bo1_buf b;

    bo1_buf_init(&b, 10);
    ck_assert_str_eq(bo1_buf_str(&b), "");
    ck_assert_int_eq(bo1_buf_puts(&b, "hello"), BO1_OK);
    ck_assert_int_eq(bo1_buf_printf(&b, "%d", 12345), BO1_OK);
    ck_assert_str_eq(bo1_buf_str(&b), "hello12345");
    ck_assert_int_eq(bo1_buf_puts(&b, "x"), BO1_TOO_LARGE);
    ck_assert_str_eq(bo1_buf_str(&b), "hello12345");
    bo1_buf_fini(&b);
}
END_TEST

START_TEST(test_buf_take_hands_over_content)
{
    struct bo1_buf b;
    char *s;

    bo1_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(bo1_buf_puts(&b, "abcdefghij"), BO1_OK);
    ck_assert_uint_eq(b.len, 10000);
    s = bo1_buf_take(&b);
    ck_assert_uint_eq(strlen(s), 10000);
    ck_assert_ptr_null(b.data);
    free(s);
    s = bo1_buf_take(&b);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_status_maps_names_and_http_codes);
    tcase_add_test(tc, test_status_out_of_range_is_internal);
    tcase_add_test(tc, test_buf_grows_and_respects_limit);
    tcase_add_test(tc, test_buf_take_hands_over_content);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
