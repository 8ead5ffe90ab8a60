/* Report rendering against fixture sessions (tests/fixtures/sessions, one JSON file each,
 * engine with fake effects) and against sessions run here. Set BO1_WRITE_FIXTURES=1 to
 * regenerate the fixture files from the current engine. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_engine_fake.h"

static json_t *run_session(const char *stmt, const char *opts, void (*setup)(struct fake *))
{
    struct fake f;
    fake_init(&f);
    if (setup)
        setup(&f);
    struct bo1_engine *e = fake_engine(&f, NULL);
    struct bo1_session *s = fake_session(e, stmt, opts);
    bo1_engine_start(e, s);
    fake_drain(&f);
    json_t *st = bo1_session_to_json(s);
    bo1_session_free(s);
    bo1_engine_free(e);
    fake_fini(&f);
    return st;
}

static void setup_failing_member(struct fake *f)
{
    f->fail_persona = "cfo";
}

static void setup_split_vote(struct fake *f)
{
    f->vote_for[0][0] = "cfo";
    f->vote_for[0][1] = "Wait | see <b>first</b>";
    f->vote_conf = 0.6;
}

static const struct {
    const char *name, *stmt, *opts;
    void (*setup)(struct fake *);
} fixtures[] = {
    {"single", "Should we grow our SaaS from $8K to $20K MRR with a sales hire or PLG?", NULL,
     NULL},
    {"three", "Plan our expansion [fake:subproblems=3] across markets and hiring.", NULL, NULL},
    {"budget_halt", "Should we grow our SaaS from $8K to $20K MRR with a sales hire?",
     "{\"budget_usd\": 0.004}", NULL},
    {"member_fails", "Should we grow our SaaS from $8K to $20K MRR with a sales hire?", NULL,
     setup_failing_member},
    {"split_vote", "Should we <script>alert(1)</script> grow with a sales hire or wait?", NULL,
     setup_split_vote},
};

static json_t *fixture(const char *name)
{
    char path[1024];
    const char *root = getenv("BO1_SOURCE_ROOT");
    json_error_t err;

    snprintf(path, sizeof(path), "%s/tests/fixtures/sessions/%s.json", root ? root : "..", name);
    json_t *j = json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "cannot load %s: %s", path, err.text);
    return j;
}

static char *md_of(const json_t *st)
{
    struct bo1_buf b;
    bo1_buf_init(&b, 0);
    ck_assert_int_eq(bo1_report_render_md(st, &b), BO1_OK);
    return bo1_buf_take(&b);
}

static const char *const sections[] = {"## Recommendation",
                                       "## Executive summary",
                                       "## How the board voted",
                                       "## Dissent",
                                       "## Risks",
                                       "## Conditions",
                                       "## Implementation steps",
                                       "## Open questions",
                                       "## Why the board stopped",
                                       "## Assumptions and clarifications",
                                       "## Disclaimer",
                                       "## Sub-problems and boards",
                                       "## Transcript",
                                       "## Costs",
                                       "## Timings",
                                       NULL};

static void assert_sections_in_order(const char *md)
{
    const char *at = md;
    ck_assert(md[0] == '#' && md[1] == ' ');
    for (size_t i = 0; sections[i]; i++) {
        const char *p = strstr(at, sections[i]);
        ck_assert_msg(p != NULL, "section %s missing or out of order", sections[i]);
        at = p;
    }
}

START_TEST(test_report_fixture_single_reads_in_order)
{
    json_t *st = fixture("single");
    char *md = md_of(st);

    assert_sections_in_order(md);
    ck_assert_ptr_nonnull(strstr(md, "SIMULATED RUN"));
    ck_assert_ptr_nonnull(strstr(md, "**Hire a senior sales lead**"));
    ck_assert_ptr_nonnull(strstr(md, "Round limit reached: 3 of 3 rounds were held."));
    ck_assert_ptr_nonnull(strstr(md, "| Member | Recommendation | Confidence | Conditions |"));
    ck_assert_ptr_nonnull(strstr(md, "| Sam Strategist | Hire a senior sales lead | 0.80 |"));
    ck_assert_ptr_nonnull(strstr(md, "#### Round 3 (challenge)"));
    ck_assert_ptr_nonnull(strstr(md, "consult a qualified professional"));
    /* the recommendation comes before the transcript */
    ck_assert(strstr(md, "## Recommendation") < strstr(md, "#### Round 1"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_one_way_door_names_the_threshold_applied)
{
    json_t *st = fixture("single");
    json_t *vr =
        json_object_get(json_array_get(json_object_get(st, "sub_problems"), 0), "vote_result");
    json_object_set_new(vr, "one_way_door", json_true());
    json_object_set_new(vr, "one_way_door_share", json_real(0.9));
    char *md = md_of(st);
    ck_assert_ptr_nonnull(strstr(md, "treated as a one-way-door decision (needs 90%)"));
    free(md);
    /* a state from before the threshold was recorded: the design default */
    json_object_del(vr, "one_way_door_share");
    md = md_of(st);
    ck_assert_ptr_nonnull(strstr(md, "treated as a one-way-door decision (needs 75%)"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_fixture_three_lists_each_sub_problem)
{
    json_t *st = fixture("three");
    char *md = md_of(st);

    assert_sections_in_order(md);
    ck_assert_ptr_nonnull(strstr(md, "- **sp1** — Goal number 1"));
    ck_assert_ptr_nonnull(strstr(md, "- **sp3** — Goal number 3"));
    ck_assert_ptr_nonnull(strstr(md, "depends on sp1"));
    ck_assert_ptr_nonnull(strstr(md, "### Sub-problem sp2: Goal number 2"));
    ck_assert_ptr_nonnull(strstr(md, "### Roadmap"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_fixture_budget_halt_says_so)
{
    json_t *st = fixture("budget_halt");
    char *md = md_of(st);
    json_t *r = bo1_report_json(st);

    assert_sections_in_order(md);
    ck_assert_ptr_nonnull(strstr(md, "stopped early: this report uses what existed"));
    ck_assert_ptr_nonnull(
        strstr(md, "Budget exhausted: $0.0040 of the $0.0040 budget spent (100%)"));
    ck_assert(json_is_true(json_object_get(r, "halted")));
    ck_assert_str_eq(jstr(json_object_get(r, "final_synthesis"), "source", ""), "local");
    json_decref(r);
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_fixture_member_failure_is_reported)
{
    json_t *st = fixture("member_fails");
    char *md = md_of(st);

    ck_assert_ptr_nonnull(strstr(md, "Casey CFO sat this round out"));
    ck_assert_ptr_nonnull(strstr(md, "cfo gave no usable answer after a retry"));
    ck_assert_ptr_nonnull(strstr(md, "_abstained (no usable vote)_"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_escapes_model_and_user_text)
{
    json_t *st = fixture("split_vote");
    char *md = md_of(st);

    ck_assert_ptr_null(strstr(md, "<script>"));
    ck_assert_ptr_null(strstr(md, "<b>"));
    ck_assert_ptr_nonnull(strstr(md, "&lt;script&gt;"));
    ck_assert_ptr_nonnull(strstr(md, "Wait \\| see &lt;b&gt;first&lt;/b&gt;"));
    /* 3 of 4 agree: dissent 25 %, mean confidence 0.6 < 0.65: disagree and commit */
    ck_assert_ptr_nonnull(strstr(md, "Disagree and commit"));
    ck_assert_ptr_nonnull(strstr(md, "dissenting members: Casey CFO"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_json_has_every_section)
{
    json_t *st = fixture("single");
    struct bo1_buf b;
    static const char *const keys[] = {"session_id",
                                       "title",
                                       "recommendation",
                                       "executive_summary",
                                       "sub_problems",
                                       "dissent",
                                       "risks",
                                       "conditions",
                                       "implementation_steps",
                                       "open_questions",
                                       "why_stopped",
                                       "assumptions",
                                       "disclaimer",
                                       "transcript",
                                       "costs",
                                       "timings",
                                       "simulated",
                                       NULL};

    bo1_buf_init(&b, 0);
    ck_assert_int_eq(bo1_report_render_json(st, &b), BO1_OK);
    json_t *r = json_loads(bo1_buf_str(&b), 0, NULL);
    ck_assert_ptr_nonnull(r);
    for (size_t i = 0; keys[i]; i++)
        ck_assert_msg(json_object_get(r, keys[i]) != NULL, "missing %s", keys[i]);
    ck_assert_uint_eq(json_array_size(json_object_get(r, "transcript")), 3);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r, "costs"), "ledger")),
                      (size_t)jint(json_object_get(r, "costs"), "calls", -1));
    json_decref(r);
    bo1_buf_fini(&b);
    json_decref(st);
}
END_TEST

START_TEST(test_report_without_simulation_has_no_banner)
{
    json_t *st = fixture("single");
    json_object_set_new(st, "simulated", json_false());
    char *md = md_of(st);
    ck_assert_ptr_null(strstr(md, "SIMULATED"));
    free(md);
    json_decref(st);
}
END_TEST

START_TEST(test_report_rejects_non_state_and_respects_limit)
{
    struct bo1_buf b;
    json_t *st = fixture("single");

    bo1_buf_init(&b, 100);
    ck_assert_int_eq(bo1_report_render_md(json_null(), &b), BO1_BAD_FIELD);
    ck_assert_int_eq(bo1_report_render_md(st, &b), BO1_TOO_LARGE);
    ck_assert_uint_eq(b.len, 0);
    bo1_buf_fini(&b);
    json_decref(st);
}
END_TEST

START_TEST(test_report_export_writes_both_files)
{
    char dir[] = "/tmp/bo1_export_XXXXXX";
    json_t *paths = NULL;
    json_t *st = fixture("single");

    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/exports/nested", dir);
    /* 2023-11-14 22:13:20 UTC */
    ck_assert_int_eq(bo1_report_export_state(st, sub, 1700000000.0, &paths), BO1_OK);
    ck_assert_uint_eq(json_array_size(paths), 2);
    char want[512];
    snprintf(want, sizeof(want), "%s/sess-1_20231114_221320.md", sub);
    ck_assert_str_eq(json_string_value(json_array_get(paths, 0)), want);
    for (size_t i = 0; i < 2; i++) {
        struct stat sb;
        ck_assert_int_eq(stat(json_string_value(json_array_get(paths, i)), &sb), 0);
        ck_assert_int_gt(sb.st_size, 500);
        unlink(json_string_value(json_array_get(paths, i)));
    }
    rmdir(sub);
    snprintf(want, sizeof(want), "%s/exports", dir);
    rmdir(want);
    rmdir(dir);
    /* an id that could escape the directory is refused */
    json_object_set_new(st, "id", json_string("../evil"));
    ck_assert_int_eq(bo1_report_export_state(st, "/tmp", 1700000000.0, NULL), BO1_BAD_FIELD);
    json_decref(paths);
    json_decref(st);
}
END_TEST

START_TEST(test_report_fixtures_match_current_engine)
{
    /* The fixtures are engine output; a fresh run must give the same decisions. */
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        json_t *now = run_session(fixtures[i].stmt, fixtures[i].opts, fixtures[i].setup);
        if (getenv("BO1_WRITE_FIXTURES")) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/tests/fixtures/sessions/%s.json",
                     getenv("BO1_SOURCE_ROOT"), fixtures[i].name);
            json_dump_file(now, path, JSON_INDENT(1) | JSON_SORT_KEYS);
        }
        json_t *fx = fixture(fixtures[i].name);
        ck_assert_str_eq(jstr(now, "state", ""), jstr(fx, "state", ""));
        ck_assert_str_eq(jstr(json_object_get(now, "final"), "recommendation", "-"),
                         jstr(json_object_get(fx, "final"), "recommendation", "-"));
        ck_assert_uint_eq(json_array_size(json_object_get(now, "ledger")),
                          json_array_size(json_object_get(fx, "ledger")));
        json_decref(fx);
        json_decref(now);
    }
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("render");

    tcase_add_test(tc, test_report_fixtures_match_current_engine);
    tcase_add_test(tc, test_report_fixture_single_reads_in_order);
    tcase_add_test(tc, test_report_fixture_three_lists_each_sub_problem);
    tcase_add_test(tc, test_report_one_way_door_names_the_threshold_applied);
    tcase_add_test(tc, test_report_fixture_budget_halt_says_so);
    tcase_add_test(tc, test_report_fixture_member_failure_is_reported);
    tcase_add_test(tc, test_report_escapes_model_and_user_text);
    tcase_add_test(tc, test_report_json_has_every_section);
    tcase_add_test(tc, test_report_without_simulation_has_no_banner);
    tcase_add_test(tc, test_report_rejects_non_state_and_respects_limit);
    tcase_add_test(tc, test_report_export_writes_both_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
