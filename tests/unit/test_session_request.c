/* Create-request validation: options the engine understands are accepted, and a statement
 * must carry at least 10 characters that are not blank at either end. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/session_request.h"

static const struct bo1_session_defaults defaults = {.budget_usd = 2.0, .max_budget_usd = 50.0};

/* Validate @text; returns the status, and the first error's field in @field (or ""). */
static enum bo1_status validate(const char *text, char *field, size_t size, json_t **out)
{
    json_error_t err;
    json_t *body = json_loads(text, 0, &err);
    json_t *errors = NULL;
    enum bo1_status st;

    ck_assert_msg(body != NULL, "fixture is not JSON: %s", err.text);
    *out = NULL;
    st = bo1_session_request_validate(body, &defaults, NULL, NULL, out, &errors);
    snprintf(field, size, "%s",
             errors ? json_string_value(json_object_get(json_array_get(errors, 0), "field")) : "");
    json_decref(errors);
    json_decref(body);
    return st;
}

START_TEST(test_one_way_door_option_is_accepted)
{
    char field[128];
    json_t *out;

    ck_assert_int_eq(validate("{\"problem\":{\"statement\":\"Should we sell the company now?\"},"
                              "\"options\":{\"one_way_door\":true}}",
                              field, sizeof(field), &out),
                     BO1_OK);
    ck_assert(json_is_true(json_object_get(json_object_get(out, "options"), "one_way_door")));
    json_decref(out);
    ck_assert_int_eq(validate("{\"problem\":{\"statement\":\"Should we sell the company now?\"},"
                              "\"options\":{\"one_way_door\":\"yes\"}}",
                              field, sizeof(field), &out),
                     BO1_BAD_FIELD);
    ck_assert_str_eq(field, "options.one_way_door");
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_statement_needs_ten_characters_that_are_not_blank)
{
    static const char *const refused[] = {
        "{\"problem\":{\"statement\":\"a         \"}}",   /* trailing blanks */
        "{\"problem\":{\"statement\":\"         a\"}}",   /* leading blanks */
        "{\"problem\":{\"statement\":\"    abc     \"}}", /* both */
        "{\"problem\":{\"statement\":\"\\n\\t\\r\\n\\t\\r\\n\\t\\r\\n\"}}", NULL};
    char field[128];
    json_t *out;

    for (size_t i = 0; refused[i]; i++) {
        ck_assert_msg(validate(refused[i], field, sizeof(field), &out) == BO1_BAD_FIELD, "%s",
                      refused[i]);
        ck_assert_str_eq(field, "problem.statement");
    }
    /* Ten characters with blanks inside are a statement; so is one with blanks around. */
    ck_assert_int_eq(
        validate("{\"problem\":{\"statement\":\"  go or no go  \"}}", field, sizeof(field), &out),
        BO1_OK);
    json_decref(out);
    /* Multi-byte characters count once each. */
    ck_assert_int_eq(validate("{\"problem\":{\"statement\":\" \\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                              "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9 \"}}",
                              field, sizeof(field), &out),
                     BO1_OK);
    json_decref(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session_request");
    TCase *tc = tcase_create("validate");

    tcase_add_test(tc, test_one_way_door_option_is_accepted);
    tcase_add_test(tc, test_statement_needs_ten_characters_that_are_not_blank);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
