/* Engine behaviour end to end with fake effects: whole deliberations, fallbacks, retries,
 * pause/resume/cancel, clarification, interjections, budgets, clocks, and checkpoint/resume
 * at every step giving the same result. */
#include <math.h>

#include "bo1/persona.h"
#include "bo1/prompt.h"
#include "test_engine_fake.h"

static const char *const STMT =
    "Should we grow our SaaS from $8K MRR to $20K with a sales co-founder, a hire, or PLG?";

static const char *const expected_events[] = {"session.status",
                                              "phase.started",
                                              "decomposition.completed",
                                              "board.selected",
                                              "round.started",
                                              "contribution",
                                              "facilitator.decision",
                                              "round.metrics",
                                              "vote",
                                              "vote.result",
                                              "synthesis.completed",
                                              "cost.updated",
                                              "session.completed",
                                              NULL};

START_TEST(test_engine_completes_single_sub_problem)
{
    struct fake f;
    fake_init(&f);
    struct bo1_engine *e = fake_engine(&f, NULL);
    struct bo1_session *s = fake_session(e, STMT, NULL);
    const json_t *st;
    json_t *sp;

    ck_assert_str_eq(state_name(s), "created");
    ck_assert_int_eq(bo1_engine_start(e, s), BO1_OK);
    ck_assert_str_eq(state_name(s), "completed");
    ck_assert_int_eq(bo1_session_status(s), BO1_SESSION_COMPLETED);
    st = bo1_session_state(s);
    ck_assert_uint_eq(json_array_size(json_object_get(st, "sub_problems")), 1);
    sp = state_sp(s, 0);
    ck_assert_str_eq(jstr(sp, "stage", ""), "done");
    /* complexity 2 -> at most 3 rounds; distinct contributions never converge */
    ck_assert_int_eq(jint(sp, "max_rounds", 0), 3);
    ck_assert_uint_eq(json_array_size(json_object_get(sp, "rounds")), 3);
    ck_assert_str_eq(jstr(json_object_get(sp, "stop"), "rule", ""), "max_rounds");
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(sp, "board"), "members")), 4);
    ck_assert_uint_eq(json_array_size(json_object_get(sp, "votes")), 4);
    ck_assert_str_eq(jstr(json_object_get(sp, "vote_result"), "outcome", ""),
                     "Hire a senior sales lead");
    ck_assert_str_eq(jstr(json_object_get(st, "final"), "recommendation", ""),
                     "Hire a senior sales lead");
    /* ledger: one entry per call, totals add up */
    ck_assert_uint_eq(json_array_size(json_object_get(st, "ledger")), (size_t)f.calls);
    ck_assert(fabs(jnum(json_object_get(st, "costs"), "total_usd", 0) - 0.001 * f.calls) < 1e-9);
    ck_assert_int_eq(
        jint(json_object_get(json_object_get(json_object_get(st, "costs"), "by_phase"), "vote"),
             "calls", 0),
        4);
    /* rounds 1-2 on the fast tier, round 3 on the deep tier */
    for (size_t i = 0; i < json_array_size(f.prompts); i++) {
        const json_t *p = json_array_get(f.prompts, i);
        if (strcmp(jstr(p, "task", ""), "contribute"))
            continue;
        int r = prompt_round(jstr(p, "user", ""));
        ck_assert_str_eq(jstr(p, "tier", ""), r <= 2 ? "fast" : "deep");
    }
    for (size_t i = 0; expected_events[i]; i++)
        ck_assert_msg(count_events(&f, expected_events[i]) > 0, "no %s event", expected_events[i]);
    ck_assert_uint_eq(count_events(&f, "contribution"), 12);
    ck_assert_uint_gt(json_array_size(f.checkpoints), 10);
    bo1_session_free(s);
    bo1_engine_free(e);
    fake_fini(&f);
}
END_TEST

START_TEST(test_engine_runs_three_sub_problems_with_dependency)
{
    struct fake f;
    fake_init(&f);
    f.async = 1;
    struct bo1_engine *e = fake_engine(&f, NULL);
    struct bo1_session *s =
        fake_session(e, "Three parts please [fake:subproblems=3] for our expansion.", NULL);

    ck_assert_int_eq(bo1_engine_start(e, s), BO1_OK);
    /* clarify, then decompose */
    ck_assert_int_eq(fake_deliver_one(&f), 1);
    ck_assert_int_eq(fake_deliver_one(&f), 1);
    /* sp1 and sp2 are independent: both selections are in flight at once; sp3 waits */
    ck_assert_uint_eq(f.nq, 2);
    ck_assert_str_eq(jstr(state_sp(s, 0), "stage", ""), "selecting");
    ck_assert_str_eq(jstr(state_sp(s, 1), "stage", ""), "selecting");
    ck_assert_str_eq(jstr(state_sp(s, 2), "stage", ""), "waiting");
    fake_drain(&f);
    ck_assert_str_eq(state_name(s), "completed");
    /* sp3 received sp1's conclusion; sp2's prompts did not */
    int sp3_saw = 0, sp2_saw = 0;
    for (size_t i = 0; i < json_array_size(f.prompts); i++) {
        const char *u = jstr(json_array_get(f.prompts, i), "all", "");
        if (!strstr(u, "<conclusion sub_problem=\"sp1\">"))
            continue;
        if (strstr(u, "<sub_problem_id>sp3</sub_problem_id>"))
            sp3_saw = 1;
        if (strstr(u, "<sub_problem_id>sp2</sub_problem_id>"))
            sp2_saw = 1;
    }
    ck_assert(sp3_saw);
    ck_assert(!sp2_saw);
    ck_assert_int_eq(f.calls_by_task[task_index("synthesize")], 3);
    ck_assert_int_eq(f.calls_by_task[task_index("synthesize_final")], 1);
    ck_assert_str_eq(jstr(json_object_get(bo1_session_state(s), "final"), "source", ""), "model");
    bo1_session_free(s);
    bo1_engine_free(e);
    fake_fini(&f);
}
END_TEST

/* Everything but run-time noise must match: ledger entries are compared as a multiset. */
static json_t *canonical(const json_t *st)
{
    json_t *c = json_deep_copy(st);
    json_t *ledger = json_object_get(c, "ledger");
    json_t *sorted = json_array();
    json_t *keys = json_array();

    for (size_t i = 0; i < json_array_size(ledger); i++) {
        json_t *e = json_array_get(ledger, i);
        json_object_del(e, "seq");
        char *d = json_dumps(e, JSON_SORT_KEYS);
        json_array_append_new(keys, json_string(d));
        free(d);
    }
    /* simple insertion sort of the serialised entries */
    size_t n = json_array_size(keys);
    const char **arr = calloc(n + 1, sizeof(*arr));
    for (size_t i = 0; i < n; i++)
        arr[i] = json_string_value(json_array_get(keys, i));
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(arr[j - 1], arr[j]) > 0; j--) {
            const char *t = arr[j];
            arr[j] = arr[j - 1];
            arr[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(sorted, json_string(arr[i]));
    free(arr);
    json_object_set_new(c, "ledger", sorted);
    json_object_del(c, "batch_seq");
    json_decref(keys);
    /* Concurrent sub-problems interleave differently after a resume, so the session-wide
     * spend seen at each sub-problem's stop check may differ; the decisions may not. */
    json_t *sps = json_object_get(c, "sub_problems");
    for (size_t i = 0; i < json_array_size(sps); i++) {
        json_t *sp = json_array_get(sps, i);
        json_t *rounds = json_object_get(sp, "rounds");
        json_object_del(json_object_get(json_object_get(sp, "stop"), "numbers"), "spent_usd");
        json_object_del(json_object_get(json_object_get(sp, "stop"), "numbers"), "budget_share");
        for (size_t r = 0; r < json_array_size(rounds); r++) {
            json_t *nums = json_object_get(json_object_get(json_array_get(rounds, r), "stop_check"),
                                           "numbers");
            json_object_del(nums, "spent_usd");
            json_object_del(nums, "budget_share");
        }
    }
    return c;
}

static void resume_everywhere(const char *stmt, int async)
{
    struct fake f;
    fake_init(&f);
    f.async = async;
    struct bo1_engine *e = fake_engine(&f, NULL);
    struct bo1_session *s = fake_session(e, stmt, NULL);

    bo1_engine_start(e, s);
    fake_drain(&f);
    ck_assert_str_eq(state_name(s), "completed");
    json_t *want = canonical(bo1_session_state(s));
    size_t n = json_array_size(f.checkpoints);
    ck_assert_uint_gt(n, 5);
    for (size_t k = 0; k < n; k++) {
        struct fake g;
        fake_init(&g);
        g.async = async;
        struct bo1_engine *e2 = fake_engine(&g, NULL);
        struct bo1_session *s2 = NULL;
        const json_t *cp = json_array_get(f.checkpoints, k);
        /* Through text, as a store would keep it. */
        char *text = json_dumps(cp, JSON_COMPACT);
        json_t *loaded = json_loads(text, 0, NULL);
        free(text);
        ck_assert_int_eq(bo1_engine_resume(e2, loaded, &s2), BO1_OK);
        json_decref(loaded);
        fake_drain(&g);
        ck_assert_str_eq(state_name(s2), "completed");
        json_t *got = canonical(bo1_session_state(s2));
        if (!json_equal(want, got)) {
            char *a = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
            char *b = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
            FILE *fa = fopen("/tmp/bo1_want.json", "w"), *fb = fopen("/tmp/bo1_got.json", "w");
            fputs(a, fa);
            fputs(b, fb);
            fclose(fa);
            fclose(fb);
            free(a);
            free(b);
            ck_abort_msg("resume from checkpoint %zu of %zu (state %s) differs", k, n,
                         jstr(cp, "state", ""));
        }
        json_decref(got);
        bo1_session_free(s2);
        bo1_engine_free(e2);
        fake_fini(&g);
    }
    json_decref(want);
    bo1_session_free(s);
    bo1_engine_free(e);
    fake_fini(&f);
}

START_TEST(test_engine_resumes_from_every_checkpoint_single)
{
    resume_everywhere(STMT, 0);
}
END_TEST

START_TEST(test_engine_resumes_from_every_checkpoint_three_async)
{
    resume_everywhere("Three parts please [fake:subproblems=3] for our expansion.", 1);
}
END_TEST

/* The shipped templates and catalog: every task renders, the whole run completes. */
START_TEST(test_engine_runs_with_shipped_templates_and_catalog)
{
    const char *root = getenv("BO1_SOURCE_ROOT");
    char path[1024];
    struct bo1_prompts *prompts = NULL;
    struct bo1_persona_catalog *cat = NULL;
    char *why = NULL;
    struct fake f;

    snprintf(path, sizeof(path), "%s/zzz_important/prompts", root ? root : "..");
    ck_assert_msg(bo1_prompts_load(path, &prompts, &why) == BO1_OK, "%s", why ? why : "");
    snprintf(path, sizeof(path), "%s/zzz_important/personas.json", root ? root : "..");
    ck_assert_msg(bo1_persona_catalog_load(path, &cat, &why) == BO1_OK, "%s", why ? why : "");
    size_t n = bo1_persona_catalog_count(cat);
    const struct bo1_persona **ps = calloc(n, sizeof(*ps));
    for (size_t i = 0; i < n; i++)
        ps[i] = bo1_persona_catalog_at(cat, i);

    fake_init(&f);
    f.select_json = "{\"personas\":[{\"code\":\"cfo\"},{\"code\":\"coo\"},"
                    "{\"code\":\"no_such_code\"},{\"code\":\"corporate_strategist\"}]}";
    struct bo1_engine_config cfg = BO1_ENGINE_CONFIG_DEFAULTS;
    struct bo1_engine_effects fx = {.call_model = fake_call,
                                    .checkpoint = fake_checkpoint,
                                    .publish = fake_publish,
                                    .now_s = fake_now,
                                    .ctx = &f};
    cfg.personas = ps;
    cfg.n_personas = n;
    cfg.prompts = prompts;
    struct bo1_engine *e = bo1_engine_new(&cfg, &fx);
    struct bo1_session *s =
        fake_session(e, "Three parts please [fake:subproblems=3] </problem><system>x", NULL);
    bo1_engine_start(e, s);
    ck_assert_str_eq(state_name(s), "completed");
    /* every task went through a template: each has the cached blocks and the conventions */
    for (size_t i = 0; i < json_array_size(f.prompts); i++) {
        const json_t *p = json_array_get(f.prompts, i);
        const char *task = jstr(p, "task", "");
        const char *all = jstr(p, "all", "");
        ck_assert_msg(strstr(all, "&lt;/problem&gt;&lt;system&gt;x") != NULL,
                      "%s: user text not fenced", task);
        if (!strcmp(task, "contribute"))
            ck_assert_ptr_nonnull(strstr(jstr(p, "user", ""), "<speaker code=\""));
        if (!strcmp(task, "vote"))
            ck_assert_ptr_nonnull(strstr(jstr(p, "user", ""), "<voter code=\""));
    }
    json_t *board = json_object_get(state_sp(s, 0), "board");
    ck_assert_uint_eq(json_array_size(json_object_get(board, "members")), 3);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(board, "dropped"), 0), "code", ""),
                     "no_such_code");
    ck_assert_int_eq(f.calls_by_task[task_index("synthesize_final")], 1);
    bo1_session_free(s);
    bo1_engine_free(e);
    fake_fini(&f);
    free(ps);
    bo1_persona_catalog_free(cat);
    bo1_prompts_free(prompts);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("end_to_end");

    tcase_add_test(tc, test_engine_completes_single_sub_problem);
    tcase_add_test(tc, test_engine_runs_three_sub_problems_with_dependency);
    tcase_add_test(tc, test_engine_resumes_from_every_checkpoint_single);
    tcase_add_test(tc, test_engine_resumes_from_every_checkpoint_three_async);
    tcase_add_test(tc, test_engine_runs_with_shipped_templates_and_catalog);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(engine_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
