/* Unit tests for core: the status table and the byte buffer. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/buf.h"
#include "bo1/sha256.h"
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

START_TEST(test_sha256_matches_known_vectors)
{
    char hex[65];
    char million[1000];

    bo1_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    bo1_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    bo1_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(million, 'a', sizeof(million));
    bo1_sha256_hex(million, 64, hex);
    ck_assert_str_eq(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    ck_assert(bo1_ct_equal("abc", "abc", 3));
    ck_assert(!bo1_ct_equal("abc", "abd", 3));
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
    tcase_add_test(tc, test_sha256_matches_known_vectors);
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
