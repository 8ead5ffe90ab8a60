/* The engine's pure rules, one by one: round limits, metrics, every stop rule in order,
 * DAG repair, board diversity and fallbacks, every vote-aggregation rule, the transition
 * tables and intake validation. */
#include <math.h>

#include "test_engine_fake.h"

static struct bo1_engine_config cfg_defaults(void)
{
    return BO1_ENGINE_CONFIG_DEFAULTS;
}

START_TEST(test_rules_max_rounds_follow_complexity)
{
    for (int c = 1; c <= 3; c++)
        ck_assert_int_eq(rules_max_rounds(c, 0, 10), 3);
    for (int c = 4; c <= 6; c++)
        ck_assert_int_eq(rules_max_rounds(c, 0, 10), 5);
    for (int c = 7; c <= 10; c++)
        ck_assert_int_eq(rules_max_rounds(c, 0, 10), 6);
    ck_assert_int_eq(rules_max_rounds(2, 8, 10), 8);   /* the user's choice */
    ck_assert_int_eq(rules_max_rounds(2, 25, 10), 10); /* hard cap */
    ck_assert_str_eq(rules_phase(1), "explore");
    ck_assert_str_eq(rules_phase(2), "explore");
    ck_assert_str_eq(rules_phase(3), "challenge");
    ck_assert_str_eq(rules_phase(4), "challenge");
    ck_assert_str_eq(rules_phase(5), "converge");
}
END_TEST

START_TEST(test_rules_metrics_from_vectors)
{
    float a[2] = {1, 0}, b[2] = {0, 1}, c[2] = {1, 0};
    const float *same[2] = {a, c}, *orth[2] = {a, b}, *prev[1] = {a};

    ck_assert(fabs(rules_convergence(same, 2, 2) - 1.0) < 1e-9);
    ck_assert(fabs(rules_convergence(orth, 2, 2) - 0.0) < 1e-9);
    /* b is new (1 - 0), c repeats a (1 - 1): mean novelty 0.5 */
    const float *cur[2] = {b, c};
    ck_assert(fabs(rules_novelty(cur, 2, prev, 1, 2) - 0.5) < 1e-9);
    ck_assert(fabs(rules_novelty(cur, 2, prev, 0, 2) - 1.0) < 1e-9);
    ck_assert(fabs(rules_conflict(1.0, 0, 0) - 0.0) < 1e-9);
    ck_assert(fabs(rules_conflict(0.2, 1, 3) - (0.5 * 0.8 + 0.5 * 0.75)) < 1e-9);
    /* the local embedding: deterministic, normalised, similar texts closer */
    float x[128], y[128], z[128];
    rules_embed_local("hire a senior sales lead now", x, 128);
    rules_embed_local("hire a senior sales lead soon", y, 128);
    rules_embed_local("migrate the database to postgres", z, 128);
    ck_assert(fabs(rules_cosine(x, x, 128) - 1.0) < 1e-6);
    ck_assert(rules_cosine(x, y, 128) > rules_cosine(x, z, 128));
}
END_TEST

static json_t *stop(struct stop_input in, enum stop_action *act, int *streak)
{
    return rules_stop(&in, act, streak);
}

START_TEST(test_rules_stop_rules_in_order_with_numbers)
{
    struct bo1_engine_config cfg = cfg_defaults();
    enum stop_action act;
    int streak;
    json_t *d;
    struct stop_input base = {.round = 2,
                              .max_rounds = 5,
                              .have_metrics = 1,
                              .n_contributions = 3,
                              .convergence = 0.5,
                              .novelty = 0.6,
                              .conflict = 0.3,
                              .budget = 1.0,
                              .cfg = &cfg};
    struct stop_input in;

    d = stop(base, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    ck_assert_int_eq(act, STOP_NONE);
    json_decref(d);

    /* max rounds wins over convergence */
    in = base;
    in.round = 5;
    in.convergence = 0.95;
    in.novelty = 0.1;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "max_rounds");
    ck_assert_int_eq(act, STOP_VOTE);
    ck_assert_int_eq(jint(json_object_get(d, "numbers"), "max_rounds", 0), 5);
    json_decref(d);

    /* convergence needs both numbers and round >= 2 */
    in = base;
    in.convergence = 0.86;
    in.novelty = 0.29;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "convergence");
    ck_assert(fabs(jnum(json_object_get(d, "numbers"), "convergence", 0) - 0.86) < 1e-9);
    json_decref(d);
    in.novelty = 0.31;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    json_decref(d);
    in.novelty = 0.1;
    in.round = 1;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    json_decref(d);
    /* one contribution (the others sat out) has no pair: its 1.0 is not agreement */
    in.round = 2;
    in.convergence = 1.0;
    in.n_contributions = 1;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    json_decref(d);

    /* deadlock: two rounds in a row */
    in = base;
    in.conflict = 0.75;
    in.novelty = 0.35;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    ck_assert_int_eq(streak, 1);
    json_decref(d);
    in.deadlock_streak = streak;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "deadlock");
    ck_assert_int_eq(act, STOP_VOTE);
    ck_assert_int_eq(jint(json_object_get(d, "numbers"), "deadlock_rounds", 0), 2);
    json_decref(d);
    in.novelty = 0.5; /* the streak breaks */
    d = stop(in, &act, &streak);
    ck_assert_int_eq(streak, 0);
    json_decref(d);

    /* budget: 80 % votes, 100 % halts */
    in = base;
    in.spent = 0.79;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "none");
    json_decref(d);
    in.spent = 0.80;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "budget");
    ck_assert_int_eq(act, STOP_VOTE);
    json_decref(d);
    in.spent = 1.0;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "budget_exhausted");
    ck_assert_int_eq(act, STOP_HALT);
    ck_assert(fabs(jnum(json_object_get(d, "numbers"), "budget_share", 0) - 1.0) < 1e-9);
    json_decref(d);

    /* clocks */
    in = base;
    in.elapsed_s = 1800;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "wall_clock");
    ck_assert_int_eq(act, STOP_HALT);
    json_decref(d);
    in = base;
    in.idle_s = 600;
    d = stop(in, &act, &streak);
    ck_assert_str_eq(jstr(d, "rule", ""), "no_progress");
    json_decref(d);
}
END_TEST

START_TEST(test_rules_dag_repair_records_each_fix)
{
    json_t *sps = json_loads("[{\"id\":\"a\",\"dependencies\":[\"b\",\"zz\",\"a\"]},"
                             "{\"id\":\"b\",\"dependencies\":[\"c\",\"c\"]},"
                             "{\"id\":\"c\",\"dependencies\":[\"a\"]},"
                             "{\"id\":\"a\",\"dependencies\":[]},{\"dependencies\":[]}]",
                             0, NULL);
    json_t *rep = json_array();
    size_t order[8];

    size_t n = rules_dag_repair(sps, rep);
    const char *kinds[] = {"duplicate_id_renamed",         "missing_id_named",
                           "unknown_dependency_dropped",   "self_dependency_dropped",
                           "duplicate_dependency_dropped", "cycle_broken"};
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(jstr(json_array_get(rep, i), "kind", ""), kinds[i]);
    /* the cycle a -> b -> c -> a loses its closing edge c -> a */
    ck_assert_str_eq(jstr(json_array_get(rep, 5), "sub_problem", ""), "c");
    ck_assert_str_eq(jstr(json_array_get(rep, 5), "dependency", ""), "a");
    ck_assert_str_eq(jstr(json_array_get(sps, 3), "id", ""), "sp4");
    ck_assert_int_eq(rules_topo_order(sps, order), 0);
    /* dependencies come first: c before b before a */
    size_t pos[8];
    for (size_t i = 0; i < 5; i++)
        pos[order[i]] = i;
    ck_assert_uint_lt(pos[2], pos[1]);
    ck_assert_uint_lt(pos[1], pos[0]);
    json_decref(sps);
    json_decref(rep);
}
END_TEST

static json_t *board_of(const char *codes_json, int user)
{
    struct fake f;
    fake_init(&f); /* fills fake_persona_ptrs */
    json_t *codes = codes_json ? json_loads(codes_json, 0, NULL) : NULL;
    json_t *b = rules_board(fake_persona_ptrs, N_FAKE_PERSONAS, codes, user);
    json_decref(codes);
    fake_fini(&f);
    return b;
}

START_TEST(test_rules_board_diversity_and_fallbacks)
{
    json_t *b, *m;

    /* treasurer overlaps cfo (2 of 3 tags), contrarian is hidden, xyz unknown, 6th too many */
    b = board_of("[\"cfo\",\"treasurer\",\"xyz\",\"contrarian\",\"strategist\",\"coo\","
                 "\"cto\",\"pm\",\"counsel\"]",
                 0);
    m = json_object_get(b, "members");
    ck_assert_uint_eq(json_array_size(m), 5);
    ck_assert_str_eq(json_string_value(json_array_get(m, 0)), "cfo");
    ck_assert_str_eq(json_string_value(json_array_get(m, 4)), "pm");
    const json_t *dr = json_object_get(b, "dropped");
    ck_assert_str_eq(jstr(json_array_get(dr, 0), "reason", ""), "expertise_overlap");
    ck_assert_str_eq(jstr(json_array_get(dr, 1), "reason", ""), "unknown_code");
    ck_assert_str_eq(jstr(json_array_get(dr, 2), "reason", ""), "unknown_code");
    ck_assert_str_eq(jstr(json_array_get(dr, 3), "reason", ""), "board_full");
    ck_assert(!jbool(b, "fallback", 1));
    json_decref(b);

    /* fewer than three usable: the balanced trio replaces the choice */
    b = board_of("[\"growth\",\"nobody\"]", 0);
    m = json_object_get(b, "members");
    ck_assert(jbool(b, "fallback", 0));
    ck_assert_uint_eq(json_array_size(m), 3);
    ck_assert_str_eq(json_string_value(json_array_get(m, 0)), "strategist");
    ck_assert_str_eq(json_string_value(json_array_get(m, 1)), "cfo");
    ck_assert_str_eq(json_string_value(json_array_get(m, 2)), "coo");
    json_decref(b);
    b = board_of(NULL, 0);
    ck_assert(jbool(b, "fallback", 0));
    ck_assert_uint_eq(json_array_size(json_object_get(b, "members")), 3);
    json_decref(b);

    /* a user's list is kept (unknown codes dropped) and topped up to three */
    b = board_of("[\"growth\",\"sales\",\"bogus\"]", 1);
    m = json_object_get(b, "members");
    ck_assert(!jbool(b, "fallback", 1));
    ck_assert_uint_eq(json_array_size(m), 3);
    ck_assert_str_eq(json_string_value(json_array_get(m, 0)), "growth");
    /* growth and sales share one tag of three: allowed (not more than half) */
    ck_assert_str_eq(json_string_value(json_array_get(m, 1)), "sales");
    json_decref(b);
}
END_TEST

static json_t *agg(const char *votes_json, int one_way)
{
    struct bo1_engine_config cfg = cfg_defaults();
    json_t *v = json_loads(votes_json, 0, NULL);
    ck_assert_ptr_nonnull(v);
    json_t *r = rules_aggregate(v, one_way, &cfg);
    json_decref(v);
    return r;
}

START_TEST(test_rules_vote_simple_majority)
{
    json_t *r =
        agg("[{\"persona\":\"a\",\"recommendation\":\"Hire a sales lead\",\"confidence\":0.8},"
            "{\"persona\":\"b\",\"recommendation\":\"hire a Sales Lead.\",\"confidence\":0.7},"
            "{\"persona\":\"c\",\"recommendation\":\"Build PLG first\",\"confidence\":0.8},"
            "{\"persona\":\"d\",\"recommendation\":\"Hire a sales lead now\",\"confidence\":0.9}]",
            0);
    ck_assert_str_eq(jstr(r, "outcome", ""), "Hire a sales lead");
    ck_assert_str_eq(jstr(r, "method", ""), "majority");
    ck_assert(fabs(jnum(r, "winning_share", 0) - 0.75) < 1e-9);
    ck_assert(fabs(jnum(r, "dissent_share", 0) - 0.25) < 1e-9);
    ck_assert_uint_eq(json_array_size(json_object_get(r, "dissenters")), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "dissenters"), 0)), "c");
    ck_assert_uint_eq(json_array_size(json_object_get(r, "split")), 2);
    /* dissent 25 % and mean confidence 0.80: no disagree-and-commit */
    ck_assert(!jbool(r, "disagree_and_commit", 1));
    json_decref(r);
}
END_TEST

START_TEST(test_rules_vote_confidence_weighted_when_spread)
{
    /* Two unsure votes for X, one very sure for Y: by count X wins, weighted Y wins. */
    json_t *r = agg("[{\"persona\":\"a\",\"recommendation\":\"X\",\"confidence\":0.3},"
                    "{\"persona\":\"b\",\"recommendation\":\"X\",\"confidence\":0.35},"
                    "{\"persona\":\"c\",\"recommendation\":\"Y\",\"confidence\":0.95}]",
                    0);
    ck_assert_str_eq(jstr(r, "method", ""), "confidence_weighted");
    ck_assert_str_eq(jstr(r, "outcome", ""), "Y");
    ck_assert(jbool(r, "disagree_and_commit", 0)); /* dissent 67 % */
    json_decref(r);
    /* Same split with close confidences: plain majority */
    r = agg("[{\"persona\":\"a\",\"recommendation\":\"X\",\"confidence\":0.7},"
            "{\"persona\":\"b\",\"recommendation\":\"X\",\"confidence\":0.75},"
            "{\"persona\":\"c\",\"recommendation\":\"Y\",\"confidence\":0.9}]",
            0);
    ck_assert_str_eq(jstr(r, "method", ""), "majority");
    ck_assert_str_eq(jstr(r, "outcome", ""), "X");
    json_decref(r);
}
END_TEST

START_TEST(test_rules_vote_one_way_door_needs_supermajority)
{
    const char *three_of_four =
        "[{\"persona\":\"a\",\"recommendation\":\"Sell\",\"confidence\":0.8,\"reversible\":false},"
        "{\"persona\":\"b\",\"recommendation\":\"Sell\",\"confidence\":0.8,\"reversible\":false},"
        "{\"persona\":\"c\",\"recommendation\":\"Sell\",\"confidence\":0.8,\"reversible\":false},"
        "{\"persona\":\"d\",\"recommendation\":\"Keep\",\"confidence\":0.8,\"reversible\":true}]";
    const char *two_of_three =
        "[{\"persona\":\"a\",\"recommendation\":\"Sell\",\"confidence\":0.8},"
        "{\"persona\":\"b\",\"recommendation\":\"Sell\",\"confidence\":0.8},"
        "{\"persona\":\"c\",\"recommendation\":\"Keep\",\"confidence\":0.8}]";
    json_t *r = agg(three_of_four, 0); /* members say irreversible: 75 % passes */
    ck_assert(jbool(r, "one_way_door", 0));
    ck_assert_str_eq(jstr(r, "outcome", ""), "Sell");
    json_decref(r);
    r = agg(two_of_three, 1); /* the user flagged it: 67 % is not enough */
    ck_assert(jbool(r, "one_way_door", 0));
    ck_assert(jbool(r, "deferred", 0));
    ck_assert_str_eq(jstr(r, "outcome", ""), "defer / gather more information");
    ck_assert_str_eq(jstr(r, "method", ""), "one_way_door_supermajority_not_reached");
    json_decref(r);
    r = agg(two_of_three, 0); /* reversible: a simple majority decides */
    ck_assert_str_eq(jstr(r, "outcome", ""), "Sell");
    json_decref(r);
    /* the threshold is configurable, and the result says which one applied */
    struct bo1_engine_config cfg = cfg_defaults();
    cfg.one_way_door_share = 0.8;
    json_t *v = json_loads(three_of_four, 0, NULL);
    r = rules_aggregate(v, 0, &cfg);
    json_decref(v);
    ck_assert(jbool(r, "deferred", 0));
    ck_assert(fabs(jnum(r, "one_way_door_share", 0) - 0.8) < 1e-9);
    json_decref(r);
}
END_TEST

START_TEST(test_rules_vote_disagree_and_commit_and_abstentions)
{
    /* unanimous but unsure: mean confidence 0.6 < 0.65 */
    json_t *r = agg("[{\"persona\":\"a\",\"recommendation\":\"Go\",\"confidence\":0.6},"
                    "{\"persona\":\"b\",\"recommendation\":\"Go\",\"confidence\":0.6},"
                    "{\"persona\":\"x\",\"failed\":true}]",
                    0);
    ck_assert(jbool(r, "disagree_and_commit", 0));
    ck_assert_int_eq(jint(r, "valid_votes", 0), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "abstained"), 0)), "x");
    ck_assert(fabs(jnum(r, "dissent_share", 1) - 0.0) < 1e-9);
    json_decref(r);
    /* dissent exactly 30 %: 7 vs 3 */
    r = agg("[{\"persona\":\"1\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"2\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"3\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"4\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"5\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"6\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"7\",\"recommendation\":\"Go\",\"confidence\":0.9},"
            "{\"persona\":\"8\",\"recommendation\":\"Stop\",\"confidence\":0.9},"
            "{\"persona\":\"9\",\"recommendation\":\"Stop\",\"confidence\":0.9},"
            "{\"persona\":\"10\",\"recommendation\":\"Stop\",\"confidence\":0.9}]",
            0);
    ck_assert(jbool(r, "disagree_and_commit", 0));
    ck_assert_uint_eq(json_array_size(json_object_get(r, "dissenters")), 3);
    json_decref(r);
    /* nobody voted */
    r = agg("[{\"persona\":\"a\",\"failed\":true}]", 0);
    ck_assert(jbool(r, "deferred", 0));
    ck_assert_str_eq(jstr(r, "method", ""), "no_valid_votes");
    json_decref(r);
    /* a three-way split: plurality, said so */
    r = agg("[{\"persona\":\"a\",\"recommendation\":\"A\",\"confidence\":0.8},"
            "{\"persona\":\"b\",\"recommendation\":\"A\",\"confidence\":0.8},"
            "{\"persona\":\"c\",\"recommendation\":\"B\",\"confidence\":0.8},"
            "{\"persona\":\"d\",\"recommendation\":\"C\",\"confidence\":0.8}]",
            0);
    ck_assert_str_eq(jstr(r, "method", ""), "plurality");
    ck_assert_str_eq(jstr(r, "outcome", ""), "A");
    json_decref(r);
}
END_TEST

START_TEST(test_rules_transition_tables_refuse_illegal_moves)
{
    enum bo1_state to;

    ck_assert_int_eq(session_transition(BO1_STATE_CREATED, BO1_EV_START, &to), 0);
    ck_assert_int_eq(to, BO1_STATE_CLARIFYING);
    ck_assert_int_eq(session_transition(BO1_STATE_COMPLETED, BO1_EV_CANCEL, &to), -1);
    ck_assert_int_eq(session_transition(BO1_STATE_CREATED, BO1_EV_PAUSE, &to), -1);
    ck_assert_int_eq(session_transition(BO1_STATE_DELIBERATING, BO1_EV_START, &to), -1);
    ck_assert_int_eq(session_transition(BO1_STATE_PAUSED, BO1_EV_PAUSE, &to), -1);
    ck_assert_int_eq(session_transition(BO1_STATE_DECOMPOSING, BO1_EV_FAIL, &to), 0);
    ck_assert_int_eq(to, BO1_STATE_FAILED);
    ck_assert_int_eq(sp_transition(SP_WAITING, SPE_VOTED), -1);
    ck_assert_int_eq(sp_transition(SP_MEASURING, SPE_STOP), SP_VOTING);
    ck_assert_int_eq(sp_transition(SP_DONE, SPE_HALT), -1);
    ck_assert_int_eq(sp_transition(SP_CONTRIBUTING, SPE_HALT), SP_DONE);
    for (int s = 0; s < BO1_STATE_COUNT_; s++)
        ck_assert_int_eq(bo1_state_parse(bo1_state_name((enum bo1_state)s)), s);
    for (int s = 0; s < SP_STAGE_COUNT_; s++)
        ck_assert_int_eq(sp_stage_parse(sp_stage_name((enum sp_stage)s)), s);
}
END_TEST

static json_t *create_errors(const char *body)
{
    struct fake f;
    fake_init(&f);
    struct bo1_engine *e = fake_engine(&f, NULL);
    json_t *req = json_loads(body, 0, NULL);
    json_t *errs = NULL;
    struct bo1_session *s = NULL;
    ck_assert_ptr_nonnull(req);
    enum bo1_status st = bo1_engine_create(e, "x", req, &s, &errs);
    if (st == BO1_OK) {
        ck_assert_ptr_nonnull(s);
        bo1_session_free(s);
    } else {
        ck_assert_int_eq(st, BO1_BAD_FIELD);
        ck_assert_ptr_null(s);
    }
    json_decref(req);
    bo1_engine_free(e);
    fake_fini(&f);
    return errs;
}

static int has_field(const json_t *errs, const char *field)
{
    for (size_t i = 0; i < json_array_size(errs); i++)
        if (!strcmp(jstr(json_array_get(errs, i), "field", ""), field))
            return 1;
    return 0;
}

START_TEST(test_rules_intake_validation)
{
    json_t *e;
    char big[12000];

    ck_assert_ptr_null(create_errors("{\"problem\":{\"statement\":\"Ten chars!\"}}"));
    e = create_errors("{\"problem\":{\"statement\":\"too short\"}}");
    ck_assert(has_field(e, "problem.statement"));
    json_decref(e);
    /* 10 characters of 2 bytes each: counted as characters */
    ck_assert_ptr_null(create_errors("{\"problem\":{\"statement\":\"éééééééééé\"}}"));
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"problem\":{\"statement\":\"", 25);
    strcpy(big + 25 + 10001, "\"}}");
    e = create_errors(big);
    ck_assert(has_field(e, "problem.statement"));
    json_decref(e);
    e = create_errors("{\"problem\":{\"statement\":\"A long enough statement\",\"constraints\":"
                      "[{},{},{},{},{},{},{},{},{},{},{}]},\"extra\":1}");
    ck_assert(has_field(e, "problem.constraints"));
    ck_assert(has_field(e, "problem.constraints[0]"));
    ck_assert(has_field(e, "extra"));
    json_decref(e);
    e = create_errors("{\"problem\":{\"statement\":\"A long enough statement\","
                      "\"constraints\":[{\"type\":\"budget\",\"description\":\"under 10k\","
                      "\"value\":10000,\"unit\":\"usd\"}]},"
                      "\"options\":{\"max_rounds\":11,\"budget_usd\":-1,\"clarify\":\"yes\","
                      "\"colour\":\"red\"}}");
    ck_assert(has_field(e, "problem.constraints[0].unit"));
    ck_assert(has_field(e, "options.max_rounds"));
    ck_assert(has_field(e, "options.budget_usd"));
    ck_assert(has_field(e, "options.clarify"));
    ck_assert(has_field(e, "options.colour"));
    json_decref(e);
    /* context over 50 KB */
    char *ctx = malloc(60000);
    strcpy(ctx, "{\"problem\":{\"statement\":\"A long enough statement\",\"context\":{\"k\":\"");
    size_t l = strlen(ctx);
    memset(ctx + l, 'x', 52000);
    strcpy(ctx + l + 52000, "\"}}}");
    e = create_errors(ctx);
    ck_assert(has_field(e, "problem.context"));
    json_decref(e);
    free(ctx);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("engine_rules");
    TCase *tc = tcase_create("rules");

    tcase_add_test(tc, test_rules_max_rounds_follow_complexity);
    tcase_add_test(tc, test_rules_metrics_from_vectors);
    tcase_add_test(tc, test_rules_stop_rules_in_order_with_numbers);
    tcase_add_test(tc, test_rules_dag_repair_records_each_fix);
    tcase_add_test(tc, test_rules_board_diversity_and_fallbacks);
    tcase_add_test(tc, test_rules_vote_simple_majority);
    tcase_add_test(tc, test_rules_vote_confidence_weighted_when_spread);
    tcase_add_test(tc, test_rules_vote_one_way_door_needs_supermajority);
    tcase_add_test(tc, test_rules_vote_disagree_and_commit_and_abstentions);
    tcase_add_test(tc, test_rules_transition_tables_refuse_illegal_moves);
    tcase_add_test(tc, test_rules_intake_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rules_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
