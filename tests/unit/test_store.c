/* The session data model's pure helpers: ids and notify channels. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/sessions.h"

#define ID "AbCdEfGhIjKlMnOpQrSt_-"

START_TEST(test_notify_channel_gives_the_session_id)
{
    char id[32];

    ck_assert_int_eq(bo1_sessions_notify_parse("bo1:{" ID "}:notify", id), BO1_OK);
    ck_assert_str_eq(id, ID);
}
END_TEST

START_TEST(test_other_channels_are_refused)
{
    static const char *const bad[] = {
        "",
        "bo1:{}:notify",
        "bo1:{" ID "}:events",
        "bo1:{" ID "}:notifyx",
        "bo2:{" ID "}:notify",
        "bo1:{" ID "x}:notify",                /* 23 characters */
        "bo1:{AbCdEfGhIjKlMnOpQrSt.-}:notify", /* not base64url */
        "bo1:{" ID ID "}:notify",
        "bo1:{*}:notify",
    };
    char id[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bo1_sessions_notify_parse(bad[i], id) != BO1_OK, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_new_ids_are_valid_and_differ)
{
    char a[32], b[32];

    bo1_sessions_new_id(a);
    bo1_sessions_new_id(b);
    ck_assert(bo1_sessions_id_valid(a));
    ck_assert(bo1_sessions_id_valid(b));
    ck_assert_str_ne(a, b);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_test(tc, test_notify_channel_gives_the_session_id);
    tcase_add_test(tc, test_other_channels_are_refused);
    tcase_add_test(tc, test_new_ids_are_valid_and_differ);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
