/* Unit tests for embeddings: the local embedding (deterministic, normalised, similar texts
 * closer than unrelated ones), cosine, the reply decoder on byte strings, and the embedder
 * in local mode on a real loop. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/embed/embed_internal.h"
#include "bo1/embed.h"
#include "bo1/llm.h"
#include "bo1/loop.h"

#define DIM 256

static double norm(const float *v, size_t n)
{
    double s = 0;

    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

START_TEST(test_embed_local_is_deterministic_and_normalised)
{
    float a[DIM], b[DIM], z[DIM];

    bo1_embed_local("We should raise prices for the enterprise tier next quarter.", a, DIM);
    bo1_embed_local("We should raise prices for the enterprise tier next quarter.", b, DIM);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    ck_assert_double_eq_tol(norm(a, DIM), 1.0, 1e-5);
    ck_assert_double_eq_tol(bo1_embed_cosine(a, b, DIM), 1.0, 1e-6);
    /* Case and punctuation do not matter. */
    bo1_embed_local("WE SHOULD RAISE PRICES -- for the enterprise tier, next quarter!", b, DIM);
    ck_assert_double_eq_tol(bo1_embed_cosine(a, b, DIM), 1.0, 1e-6);
    /* Empty text: the zero vector, similar to nothing. */
    bo1_embed_local("", z, DIM);
    ck_assert_double_eq(norm(z, DIM), 0);
    ck_assert_double_eq(bo1_embed_cosine(a, z, DIM), 0);
    /* A known value pins the hashing so that vectors stay comparable across builds. */
    bo1_embed_local("pricing", z, 8);
    ck_assert_double_eq_tol(norm(z, 8), 1.0, 1e-5);
}
END_TEST

START_TEST(test_embed_local_similar_texts_score_higher)
{
    float q[DIM], near1[DIM], near2[DIM], far1[DIM], far2[DIM];
    double s_near1, s_near2, s_far1, s_far2;

    bo1_embed_local("Raise the subscription price of the enterprise plan by ten percent.", q, DIM);
    bo1_embed_local("Increase the enterprise plan subscription price by 10 percent.", near1, DIM);
    bo1_embed_local("The enterprise subscription pricing should go up.", near2, DIM);
    bo1_embed_local("Hire two backend engineers to rebuild the data pipeline in Rust.", far1, DIM);
    bo1_embed_local("The weather in Lisbon was sunny and warm all week.", far2, DIM);
    s_near1 = bo1_embed_cosine(q, near1, DIM);
    s_near2 = bo1_embed_cosine(q, near2, DIM);
    s_far1 = bo1_embed_cosine(q, far1, DIM);
    s_far2 = bo1_embed_cosine(q, far2, DIM);
    ck_assert_msg(s_near1 > s_far1 + 0.2 && s_near1 > s_far2 + 0.2, "near1 %.3f far %.3f %.3f",
                  s_near1, s_far1, s_far2);
    ck_assert_msg(s_near2 > s_far1 && s_near2 > s_far2, "near2 %.3f far %.3f %.3f", s_near2, s_far1,
                  s_far2);
    ck_assert_double_lt(fabs(s_far2), 0.3);
}
END_TEST

START_TEST(test_embed_cosine_and_normalise)
{
    float a[3] = {3, 4, 0};
    float b[3] = {6, 8, 0};
    float c[3] = {0, 0, 5};
    float z[3] = {0, 0, 0};

    ck_assert_double_eq_tol(bo1_embed_cosine(a, b, 3), 1.0, 1e-9);
    ck_assert_double_eq_tol(bo1_embed_cosine(a, c, 3), 0.0, 1e-9);
    bo1_embed_normalise(a, 3);
    ck_assert_double_eq_tol(a[0], 0.6, 1e-6);
    ck_assert_double_eq_tol(a[1], 0.8, 1e-6);
    bo1_embed_normalise(z, 3);
    ck_assert_double_eq(z[0], 0);
}
END_TEST

START_TEST(test_embed_decode_orders_by_index)
{
    const char *body = "{\"object\":\"list\",\"data\":[{\"embedding\":[0,2],\"index\":1},"
                       "{\"embedding\":[3,4],\"index\":0}],\"model\":\"voyage-3.5\","
                       "\"usage\":{\"total_tokens\":7}}";
    float *v = NULL;
    size_t dim = 0;
    char why[200];

    ck_assert_int_eq(embed_decode(body, strlen(body), 2, &v, &dim, why, sizeof(why)), BO1_OK);
    ck_assert_uint_eq(dim, 2);
    ck_assert_double_eq_tol(v[0], 0.6, 1e-6);
    ck_assert_double_eq_tol(v[1], 0.8, 1e-6);
    ck_assert_double_eq_tol(v[2], 0.0, 1e-6);
    ck_assert_double_eq_tol(v[3], 1.0, 1e-6);
    free(v);
}
END_TEST

START_TEST(test_embed_decode_survives_bad_bytes)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"data\":[]}",
        "{\"data\":[{\"embedding\":[1,2]}]}",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[1]}]}",
        "{\"data\":[{\"embedding\":[1,\"2\"]},{\"embedding\":[1,2]}]}",
        "{\"data\":[{\"embedding\":[1,2],\"index\":0},{\"embedding\":[1,2],\"index\":0}]}",
        "{\"data\":[{\"embedding\":[1,2],\"index\":5},{\"embedding\":[1,2]}]}",
        "{\"data\":[{\"embedding\":[1,2],\"index\":-1},{\"embedding\":[1,2]}]}",
        "{\"data\":[{\"embedding\":[]},{\"embedding\":[]}]}",
        "{\"data\":[7,8]}",
        "{\"data\":{\"embedding\":[1]}}",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[1,2]}",
    };
    float *v = NULL;
    size_t dim = 0;
    char why[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(embed_decode(bad[i], strlen(bad[i]), 2, &v, &dim, why, sizeof(why)) ==
                          BO1_UPSTREAM_BAD_REPLY,
                      "accepted case %zu", i);
        ck_assert_ptr_null(v);
        ck_assert_msg(why[0] != '\0', "no reason for case %zu", i);
    }
}
END_TEST

static int n_done;
static enum bo1_status last_st;
static size_t last_n, last_dim;
static double last_sim01, last_sim02;
static float first_vec[64];

static void on_embedded(enum bo1_status st, const float *const *vecs, size_t n, size_t dim,
                        void *arg)
{
    struct bo1_loop *loop = arg;

    n_done++;
    last_st = st;
    last_n = n;
    last_dim = dim;
    if (st == BO1_OK && n >= 3) {
        last_sim01 = bo1_embed_cosine(vecs[0], vecs[1], dim);
        last_sim02 = bo1_embed_cosine(vecs[0], vecs[2], dim);
        memcpy(first_vec, vecs[0], (dim < 64 ? dim : 64) * sizeof(float));
    }
    if (st != BO1_CANCELLED) /* a cancel comes from bo1_embedder_free(), outside uv_run() */
        uv_stop(bo1_loop_uv(loop));
}

START_TEST(test_embed_local_embedder_answers_asynchronously)
{
    struct bo1_loop *loop = NULL;
    struct bo1_llm *gw = NULL;
    struct bo1_embedder *e = NULL;
    struct bo1_llm_options o = BO1_LLM_OPTIONS_DEFAULTS;
    char path[1024];
    char *why = NULL;
    const char *texts[3] = {"cut the marketing budget", "reduce the marketing budget",
                            "open an office in Berlin"};
    float direct[64];

    snprintf(path, sizeof(path), "%s/zzz_important/pricing.json",
             getenv("BO1_SOURCE_ROOT") ? getenv("BO1_SOURCE_ROOT") : ".");
    ck_assert_int_eq(bo1_loop_new(&loop), BO1_OK);
    o.model_fast = "fake-fast";
    o.model_deep = "fake-deep";
    o.pricing_path = path;
    o.embed_dim = 64;
    ck_assert_int_eq(bo1_llm_new(loop, &o, &gw, &why), BO1_OK);
    ck_assert_int_eq(bo1_embedder_new(gw, &e, &why), BO1_OK);
    ck_assert_str_eq(bo1_embedder_provider_name(e), "local");
    ck_assert_int_eq(bo1_embed_texts(e, "s1", texts, 3, on_embedded, loop), BO1_OK);
    ck_assert_int_eq(n_done, 0); /* never from inside the call */
    uv_run(bo1_loop_uv(loop), UV_RUN_DEFAULT);
    ck_assert_int_eq(n_done, 1);
    ck_assert_int_eq(last_st, BO1_OK);
    ck_assert_uint_eq(last_n, 3);
    ck_assert_uint_eq(last_dim, 64);
    ck_assert_double_gt(last_sim01, last_sim02);
    bo1_embed_local(texts[0], direct, 64);
    ck_assert_int_eq(memcmp(direct, first_vec, sizeof(direct)), 0);
    ck_assert_int_eq(bo1_embed_texts(e, "s1", texts, 0, on_embedded, loop), BO1_BAD_REQUEST);
    /* Freeing with a job pending reports it cancelled. */
    ck_assert_int_eq(bo1_embed_texts(e, "s1", texts, 3, on_embedded, loop), BO1_OK);
    bo1_embedder_free(e);
    ck_assert_int_eq(n_done, 2);
    ck_assert_int_eq(last_st, BO1_CANCELLED);
    bo1_llm_free(gw);
    bo1_loop_free(loop);
}
END_TEST

static Suite *embed_suite(void)
{
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("embed");

    tcase_add_test(tc, test_embed_local_is_deterministic_and_normalised);
    tcase_add_test(tc, test_embed_local_similar_texts_score_higher);
    tcase_add_test(tc, test_embed_cosine_and_normalise);
    tcase_add_test(tc, test_embed_decode_orders_by_index);
    tcase_add_test(tc, test_embed_decode_survives_bad_bytes);
    tcase_add_test(tc, test_embed_local_embedder_answers_asynchronously);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(embed_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
