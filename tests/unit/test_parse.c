/* Unit tests for parse: every fixture under tests/fixtures/answers/<task>/<kind>/ is one
 * test (adding a fixture adds a test), plus the limits no fixture file can express. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bo1/parse.h"

#define MAX_FIXTURES 1024

struct fixture {
    char task[64];
    char kind[16]; /* clean, tolerated, fatal */
    char path[1024];
};

static struct fixture fixtures[MAX_FIXTURES];
static size_t n_fixtures;
static size_t n_skipped; /* fixtures that did not fit: a test failure, not a silent skip */
static char answers_dir[900];

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf) {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_fixture(const void *a, const void *b)
{
    return strcmp(((const struct fixture *)a)->path, ((const struct fixture *)b)->path);
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Collect <task>/<kind>/<case>.txt under answers_dir. */
static void collect_fixtures(void)
{
    static const char *const kinds[] = {"clean", "tolerated", "fatal"};
    const char *root = getenv("BO1_SOURCE_ROOT");
    DIR *top;
    struct dirent *te;

    snprintf(answers_dir, sizeof(answers_dir), "%s/tests/fixtures/answers", root ? root : ".");
    top = opendir(answers_dir);
    if (!top)
        return;
    for (te = readdir(top); te; te = readdir(top)) {
        if (te->d_name[0] == '.')
            continue;
        for (size_t k = 0; k < 3; k++) {
            char dir[1024];
            DIR *d;
            struct dirent *e;

            if (snprintf(dir, sizeof(dir), "%s/%s/%s", answers_dir, te->d_name, kinds[k]) >=
                    (int)sizeof(dir) ||
                !is_dir(dir))
                continue;
            d = opendir(dir);
            for (e = d ? readdir(d) : NULL; e; e = readdir(d)) {
                struct fixture *fx = &fixtures[n_fixtures];

                if (!ends_with(e->d_name, ".txt"))
                    continue;
                if (n_fixtures >= MAX_FIXTURES) {
                    n_skipped++;
                    continue;
                }
                if (snprintf(fx->task, sizeof(fx->task), "%s", te->d_name) >=
                        (int)sizeof(fx->task) ||
                    snprintf(fx->path, sizeof(fx->path), "%s/%s", dir, e->d_name) >=
                        (int)sizeof(fx->path)) {
                    n_skipped++;
                    continue;
                }
                snprintf(fx->kind, sizeof(fx->kind), "%s", kinds[k]);
                n_fixtures++;
            }
            if (d)
                closedir(d);
        }
    }
    closedir(top);
    qsort(fixtures, n_fixtures, sizeof(fixtures[0]), cmp_fixture);
}

/* "<dir>/<case>.txt" -> "<dir>/<case><suffix>" */
static void sibling(const char *txt, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s%s", (int)(strlen(txt) - 4), txt, suffix);
}

START_TEST(test_parse_fixture_gives_expected_result)
{
    const struct fixture *fx = &fixtures[_i];
    char side[1100];
    size_t len = 0;
    char *text = slurp(fx->path, &len);
    json_t *out = NULL;
    char *why = NULL;
    enum bo1_status st;

    ck_assert_msg(text != NULL, "cannot read %s", fx->path);
    ck_assert_msg(bo1_parse_task_name(0) != NULL, "no tasks");
    st = bo1_parse_answer(fx->task, text, len, &out, &why);
    if (strcmp(fx->kind, "fatal") == 0) {
        size_t wlen = 0;
        char *want;

        ck_assert_msg(st == BO1_PARSE_FAILED, "%s: expected PARSE_FAILED, got %s", fx->path,
                      bo1_status_name(st));
        ck_assert_msg(why != NULL && why[0] != '\0', "%s: no reason given", fx->path);
        ck_assert_ptr_null(out);
        /* An optional <case>.why holds a phrase the reason must contain. */
        sibling(fx->path, ".why", side, sizeof(side));
        want = slurp(side, &wlen);
        if (want) {
            while (wlen > 0 && (want[wlen - 1] == '\n' || want[wlen - 1] == '\r'))
                want[--wlen] = '\0';
            ck_assert_msg(strstr(why, want) != NULL, "%s: reason \"%s\" lacks \"%s\"", fx->path,
                          why, want);
            free(want);
        }
    } else {
        json_error_t err;
        json_t *expect;
        char *got_s;
        char *want_s;

        ck_assert_msg(st == BO1_OK, "%s: expected OK, got %s (%s)", fx->path, bo1_status_name(st),
                      why ? why : "");
        sibling(fx->path, ".expect.json", side, sizeof(side));
        expect = json_load_file(side, 0, &err);
        ck_assert_msg(expect != NULL, "%s: %s line %d", side, err.text, err.line);
        got_s = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
        want_s = json_dumps(expect, JSON_SORT_KEYS | JSON_COMPACT);
        ck_assert_msg(json_equal(out, expect), "%s:\n got  %s\n want %s", fx->path, got_s, want_s);
        free(got_s);
        free(want_s);
        json_decref(expect);
    }
    json_decref(out);
    free(why);
    free(text);
}
END_TEST

START_TEST(test_parse_fixtures_cover_every_task_and_kind)
{
    ck_assert_msg(n_skipped == 0, "%zu fixtures were not loaded", n_skipped);
    for (size_t t = 0; bo1_parse_task_name(t); t++) {
        const char *task = bo1_parse_task_name(t);
        size_t count[3] = {0, 0, 0};

        for (size_t i = 0; i < n_fixtures; i++) {
            if (strcmp(fixtures[i].task, task) != 0)
                continue;
            count[0] += strcmp(fixtures[i].kind, "clean") == 0;
            count[1] += strcmp(fixtures[i].kind, "tolerated") == 0;
            count[2] += strcmp(fixtures[i].kind, "fatal") == 0;
        }
        ck_assert_msg(count[0] >= 1, "%s has no clean fixture", task);
        ck_assert_msg(count[1] >= 1, "%s has no tolerated fixture", task);
        ck_assert_msg(count[2] >= 1, "%s has no fatal fixture", task);
    }
    for (size_t i = 0; i < n_fixtures; i++) {
        int known = 0;

        for (size_t t = 0; bo1_parse_task_name(t); t++)
            known |= strcmp(fixtures[i].task, bo1_parse_task_name(t)) == 0;
        ck_assert_msg(known, "fixture directory for unknown task: %s", fixtures[i].path);
    }
}
END_TEST

START_TEST(test_parse_task_names_follow_model_io)
{
    static const char *const want[] = {"clarify",  "decompose",  "select",          "contribute",
                                       "moderate", "facilitate", "summarize",       "research",
                                       "vote",     "synthesize", "synthesize_final"};
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_str_eq(bo1_parse_task_name(i), want[i]);
    ck_assert_ptr_null(bo1_parse_task_name(i));
}
END_TEST

START_TEST(test_parse_unknown_task_is_internal_error)
{
    json_t *out = NULL;
    char *why = NULL;

    ck_assert_int_eq(bo1_parse_answer("dance", "{}", 2, &out, &why), BO1_INTERNAL);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(why);
    free(why);
    ck_assert_int_eq(bo1_parse_answer(NULL, "{}", 2, &out, NULL), BO1_INTERNAL);
    ck_assert_int_eq(bo1_parse_answer("vote", "{}", 2, NULL, NULL), BO1_INTERNAL);
}
END_TEST

START_TEST(test_parse_empty_answer_fails_for_every_task)
{
    for (size_t t = 0; bo1_parse_task_name(t); t++) {
        json_t *out = NULL;
        char *why = NULL;

        ck_assert_int_eq(bo1_parse_answer(bo1_parse_task_name(t), NULL, 0, &out, &why),
                         BO1_PARSE_FAILED);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(why);
        ck_assert_msg(strncmp(why, bo1_parse_task_name(t), strlen(bo1_parse_task_name(t))) == 0,
                      "reason should name the task: %s", why);
        free(why);
        /* why is optional */
        ck_assert_int_eq(bo1_parse_answer(bo1_parse_task_name(t), "", 0, &out, NULL),
                         BO1_PARSE_FAILED);
    }
}
END_TEST

START_TEST(test_parse_reads_exactly_len_bytes)
{
    static const char src[] = "{\"recommendation\":\"Ship it\",\"confidence\":0.7}";
    size_t n = strlen(src);
    char *exact = malloc(n); /* no NUL: ASan flags any read past the end */
    json_t *out = NULL;

    ck_assert_ptr_nonnull(exact);
    memcpy(exact, src, n);
    ck_assert_int_eq(bo1_parse_answer("vote", exact, n, &out, NULL), BO1_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "recommendation")), "Ship it");
    json_decref(out);
    out = NULL;
    /* The same bytes cut one short are an unfinished object. */
    ck_assert_int_eq(bo1_parse_answer("vote", exact, n - 1, &out, NULL), BO1_PARSE_FAILED);
    ck_assert_ptr_null(out);
    free(exact);
}
END_TEST

START_TEST(test_parse_rejects_answer_over_one_mib)
{
    static const char obj[] = "{\"recommendation\":\"Ship it\"}";
    size_t n = BO1_PARSE_MAX_BYTES;
    char *big = malloc(n + 1);
    json_t *out = NULL;
    char *why = NULL;

    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n + 1);
    memcpy(big, obj, strlen(obj));
    ck_assert_int_eq(bo1_parse_answer("vote", big, n, &out, NULL), BO1_OK);
    json_decref(out);
    out = NULL;
    ck_assert_int_eq(bo1_parse_answer("vote", big, n + 1, &out, &why), BO1_PARSE_FAILED);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(why, "bytes"));
    free(why);
    ck_assert_int_eq(bo1_parse_extract_json(big, n + 1, &out, NULL), BO1_PARSE_FAILED);
    ck_assert_int_eq(bo1_parse_answer("contribute", big, n + 1, &out, NULL), BO1_PARSE_FAILED);
    free(big);
}
END_TEST

START_TEST(test_parse_hostile_brace_flood_is_bounded)
{
    size_t n = BO1_PARSE_MAX_BYTES;
    char *flood = malloc(n);
    json_t *out = NULL;
    clock_t t0 = clock();

    ck_assert_ptr_nonnull(flood);
    memset(flood, '{', n);
    ck_assert_int_eq(bo1_parse_answer("vote", flood, n, &out, NULL), BO1_PARSE_FAILED);
    memset(flood, '<', n);
    ck_assert_int_eq(bo1_parse_answer("contribute", flood, n, &out, NULL), BO1_PARSE_FAILED);
    /* "{"+"  " repeated: every candidate runs to the end; the candidate cap bounds the work. */
    for (size_t i = 0; i < n; i += 64)
        flood[i] = '{';
    for (size_t i = 0; i < n; i++)
        if (flood[i] != '{')
            flood[i] = ' ';
    ck_assert_int_eq(bo1_parse_answer("vote", flood, n, &out, NULL), BO1_PARSE_FAILED);
    ck_assert_ptr_null(out);
    ck_assert_msg((double)(clock() - t0) / CLOCKS_PER_SEC < 20.0, "too slow");
    free(flood);
}
END_TEST

START_TEST(test_parse_skips_too_deep_object_and_finds_next)
{
    char text[512];
    size_t o = 0;
    size_t deep_len;
    json_t *out = NULL;
    char *why = NULL;

    o += (size_t)snprintf(text + o, sizeof(text) - o, "{\"a\":");
    for (int i = 0; i < BO1_PARSE_MAX_DEPTH + 5; i++)
        text[o++] = '[';
    for (int i = 0; i < BO1_PARSE_MAX_DEPTH + 5; i++)
        text[o++] = ']';
    text[o++] = '}';
    deep_len = o;
    o += (size_t)snprintf(text + o, sizeof(text) - o, "\nthen {\"recommendation\":\"B\"}");
    ck_assert_int_eq(bo1_parse_answer("vote", text, o, &out, &why), BO1_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "recommendation")), "B");
    json_decref(out);
    free(why);
    why = NULL;
    /* Only the too-deep object: a clear failure. */
    ck_assert_int_eq(bo1_parse_extract_json(text, deep_len, &out, &why), BO1_PARSE_FAILED);
    ck_assert_ptr_nonnull(strstr(why, "deeper"));
    free(why);
}
END_TEST

/* Every string in @v is valid for jansson's encoder (UTF-8, no NUL). */
static int strings_clean(const json_t *v)
{
    const char *k;
    json_t *iv;
    size_t i;

    if (json_is_string(v))
        return strlen(json_string_value(v)) == json_string_length(v);
    json_array_foreach(v, i, iv)
    {
        if (!strings_clean(iv))
            return 0;
    }
    json_object_foreach((json_t *)v, k, iv)
    {
        if (!strings_clean(iv))
            return 0;
    }
    return 1;
}

START_TEST(test_parse_repairs_invalid_utf8_and_nul)
{
    static const char contrib[] = "<contribution>Caf\xc3 au \xff lait\0 ok.</contribution>";
    static const char vote[] = "{\"recommendation\":\"A\\u0000B \xe2\x82\",\"confidence\":1}";
    json_t *out = NULL;
    char *dump;

    ck_assert_int_eq(bo1_parse_answer("contribute", contrib, sizeof(contrib) - 1, &out, NULL),
                     BO1_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "contribution")),
                     "Caf\xef\xbf\xbd au \xef\xbf\xbd lait\xef\xbf\xbd ok.");
    ck_assert(strings_clean(out));
    dump = json_dumps(out, 0);
    ck_assert_ptr_nonnull(dump); /* jansson refuses to encode invalid UTF-8 */
    free(dump);
    json_decref(out);
    ck_assert_int_eq(bo1_parse_answer("vote", vote, sizeof(vote) - 1, &out, NULL), BO1_OK);
    /* \u0000 -> U+FFFD; the truncated 3-byte sequence: one U+FFFD per bad byte */
    ck_assert_str_eq(json_string_value(json_object_get(out, "recommendation")),
                     "A\xef\xbf\xbd"
                     "B \xef\xbf\xbd\xef\xbf\xbd");
    ck_assert(strings_clean(out));
    json_decref(out);
}
END_TEST

START_TEST(test_parse_extract_prefers_fenced_block)
{
    static const char text[] = "The schema is {\"recommendation\": \"string\"}.\n\n"
                               "```json\n{\"recommendation\": \"Expand to Berlin\"}\n```\n";
    json_t *out = NULL;

    ck_assert_int_eq(bo1_parse_extract_json(text, sizeof(text) - 1, &out, NULL), BO1_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "recommendation")), "Expand to Berlin");
    json_decref(out);
}
END_TEST

START_TEST(test_parse_extract_skips_braces_in_prose)
{
    static const char text[] = "Weighing {cost, speed} and {risk}: {\"a\": \"}{\", \"b\": [1,2,],}";
    json_t *out = NULL;
    char *why = NULL;

    ck_assert_int_eq(bo1_parse_extract_json(text, sizeof(text) - 1, &out, &why), BO1_OK);
    ck_assert_ptr_null(why);
    ck_assert_str_eq(json_string_value(json_object_get(out, "a")), "}{");
    ck_assert_uint_eq(json_array_size(json_object_get(out, "b")), 2);
    json_decref(out);
    ck_assert_int_eq(bo1_parse_extract_json("just words", 10, &out, &why), BO1_PARSE_FAILED);
    ck_assert_str_eq(why, "no JSON object in the answer");
    free(why);
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("api");
    TCase *fx = tcase_create("fixtures");

    tcase_add_test(tc, test_parse_task_names_follow_model_io);
    tcase_add_test(tc, test_parse_unknown_task_is_internal_error);
    tcase_add_test(tc, test_parse_empty_answer_fails_for_every_task);
    tcase_add_test(tc, test_parse_reads_exactly_len_bytes);
    tcase_add_test(tc, test_parse_rejects_answer_over_one_mib);
    tcase_add_test(tc, test_parse_hostile_brace_flood_is_bounded);
    tcase_add_test(tc, test_parse_skips_too_deep_object_and_finds_next);
    tcase_add_test(tc, test_parse_repairs_invalid_utf8_and_nul);
    tcase_add_test(tc, test_parse_extract_prefers_fenced_block);
    tcase_add_test(tc, test_parse_extract_skips_braces_in_prose);
    tcase_add_test(tc, test_parse_fixtures_cover_every_task_and_kind);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    if (n_fixtures > 0)
        tcase_add_loop_test(fx, test_parse_fixture_gives_expected_result, 0, (int)n_fixtures);
    suite_add_tcase(s, fx);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    collect_fixtures();
    fprintf(stderr, "parse: %zu fixtures under %s\n", n_fixtures, answers_dir);
    sr = srunner_create(parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
